
/*
 * Copyright (C) ngx_ai_release authors
 *
 * The streaming JSON scanner (see ai_release_json.h): a state machine fed
 * one chunk at a time, that keeps nothing of the input but the fixed state
 * of ai_release_json_t.  Plain C, no allocation.  The bytes of a string
 * are scanned sixteen or thirty-two at a time while none of them is a
 * quote, a backslash, a control or a non-ASCII byte; a short escape or a
 * UTF-8 character is read where it is, without leaving the string; a
 * string's bytes are only counted once none of them is to be kept or
 * handed on.  Events and kept bytes are only made for the depths the
 * consumer wants (ai_release_json_events()).
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ai_release_json.h"


/* the states of the scanner (js->state) */

enum {
    sw_value = 0,       /* a value: at the top, after ':', after ',' in [] */
    sw_first,           /* after '[': a value or ']' */
    sw_key_first,       /* after '{': a key or '}' */
    sw_key,             /* after ',' in {}: a key */
    sw_colon,           /* after a key */
    sw_after,           /* after a member or element: ',' or the end */
    sw_done,            /* after the top-level value: whitespace only */
    sw_string,          /* in a string, a key when js->in_key */
    sw_escape,          /* after '\' */
    sw_hex,             /* in \uXXXX, js->esc_n digits read */
    sw_low_backslash,   /* after a high surrogate: '\' of the low one */
    sw_low_u,           /* ... its 'u' */
    sw_minus,           /* numbers: after '-' */
    sw_zero,            /* after a leading '0' */
    sw_int,             /* in the integer part */
    sw_dot,             /* after '.' */
    sw_frac,            /* in the fraction */
    sw_e,               /* after 'e' or 'E' */
    sw_esign,           /* after the exponent's sign */
    sw_exp,             /* in the exponent */
    sw_literal,         /* in true, false or null */
    sw_error,
    sw_stop
};


/*
 * The bytes of a string are looked at sixteen at a time with the vectors
 * of GCC and clang (SSE2 on x86-64, NEON on arm64), elsewhere one at a
 * time: a vector marks each byte a string does not hold as it is, and the
 * first mark tells where that byte is (little-endian machines).
 */

#if (defined(__SSE2__))
#include <emmintrin.h>
#define AI_RELEASE_JSON_SSE2    1
#define AI_RELEASE_JSON_VECTOR  0
#elif (defined(__GNUC__) && defined(__BYTE_ORDER__)                          \
       && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
#define AI_RELEASE_JSON_SSE2    0
#define AI_RELEASE_JSON_VECTOR  1
typedef signed char  ai_release_json_vector_t __attribute__((vector_size(16)));
#else
#define AI_RELEASE_JSON_SSE2    0
#define AI_RELEASE_JSON_VECTOR  0
#endif


/* whether the consumer wants the events of depth d (mask: want_*) */
#define ai_release_json_wants(mask, d)                                        \
    (((mask) >> ((d) < 63 ? (d) : 63)) & 1)


static int ai_release_json_token(ai_release_json_t *js, unsigned c,
    uint64_t at);
static int ai_release_json_value(ai_release_json_t *js, unsigned c,
    uint64_t at);
static int ai_release_json_close(ai_release_json_t *js, uint64_t at);
static int ai_release_json_end(ai_release_json_t *js,
    ai_release_json_type_e type, uint64_t start, uint64_t end,
    uint64_t count);
static int ai_release_json_emit(ai_release_json_t *js,
    ai_release_json_event_e event, ai_release_json_type_e type,
    uint64_t start, uint64_t end, uint64_t count);
static int ai_release_json_quote(ai_release_json_t *js, uint64_t at);
static int ai_release_json_bytes(ai_release_json_t *js,
    const unsigned char *p, size_t n, uint64_t chars);
static const unsigned char *ai_release_json_special(const unsigned char *p,
    const unsigned char *end);
static int ai_release_json_escape(ai_release_json_t *js, unsigned c,
    uint64_t at);
static int ai_release_json_hex(ai_release_json_t *js, unsigned c,
    uint64_t at);
static int ai_release_json_number(ai_release_json_t *js, unsigned c,
    uint64_t at);
static void ai_release_json_digits(ai_release_json_t *js,
    const unsigned char *p, size_t n);
static int ai_release_json_fail(ai_release_json_t *js, const char *error,
    uint64_t at);
static int ai_release_json_match(const ai_release_json_t *js,
    const ai_release_json_pointer_t *ptr);


static const char  *ai_release_json_types[] = {
    "object", "array", "string", "number", "true", "false", "null"
};

/* true, false, null: the literals by their type, less AI_RELEASE_JSON_TRUE */
static const char  *ai_release_json_literals[] = { "true", "false", "null" };


/* 1: a byte a string holds as it is (0x20-0x7f but '"' and '\') */

static const unsigned char  ai_release_json_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,     /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,     /* 0x10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,     /* 0x20 '"' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,     /* 0x30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,     /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,     /* 0x50 '\' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,     /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,     /* 0x70 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,     /* 0x80 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
};


/* the byte a short escape stands for, by the byte after '\'; 0: none */

static const unsigned char  ai_release_json_short[256] = {
    ['"'] = '"', ['\\'] = '\\', ['/'] = '/', ['b'] = '\b', ['f'] = '\f',
    ['n'] = '\n', ['r'] = '\r', ['t'] = '\t'
};


/*
 * The lead bytes of UTF-8 from 0xc0: how many continuation bytes follow
 * and the range of the first one, narrower after 0xe0 and 0xf0 (no
 * overlong forms), 0xed (no surrogates) and 0xf4 (nothing past U+10FFFF);
 * 0xc0, 0xc1 and 0xf5 on lead nothing.
 */

#define no  { 0, 0, 0 }
#define c2  { 1, 0x80, 0xbf }
#define c3  { 2, 0x80, 0xbf }
#define c4  { 3, 0x80, 0xbf }

static const struct {
    uint8_t   need;
    uint8_t   lo;
    uint8_t   hi;
} ai_release_json_utf8[64] = {
    no, no, c2, c2, c2, c2, c2, c2,  c2, c2, c2, c2, c2, c2, c2, c2,
    c2, c2, c2, c2, c2, c2, c2, c2,  c2, c2, c2, c2, c2, c2, c2, c2,
    { 2, 0xa0, 0xbf }, c3, c3, c3, c3, c3, c3, c3,
    c3, c3, c3, c3, c3, { 2, 0x80, 0x9f }, c3, c3,
    { 3, 0x90, 0xbf }, c4, c4, c4, { 3, 0x80, 0x8f }, no, no, no,
    no, no, no, no, no, no, no, no
};

#undef no
#undef c2
#undef c3
#undef c4


void
ai_release_json_init(ai_release_json_t *js,
    ai_release_json_handler_pt handler, void *data)
{
    js->handler = handler;
    js->data = data;

    /* no handler: no event to make, nothing to keep */

    ai_release_json_events(js, handler ? UINT64_MAX : 0,
                           handler ? UINT64_MAX : 0);

    ai_release_json_reset(js);
}


void
ai_release_json_events(ai_release_json_t *js, uint64_t begin, uint64_t end)
{
    unsigned  d;
    uint64_t  all;

    js->want_begin = begin;
    js->want_end = end;

    /* the keys of the levels above the deepest event wanted */

    all = begin | end;

    if (all >> 63) {
        js->key_depth = AI_RELEASE_JSON_MAX_DEPTH;
        return;
    }

    for (d = 0; (all >> d) > 1; d++) { /* void */ }

    js->key_depth = d;
}


void
ai_release_json_reset(ai_release_json_t *js)
{
    /* not the path and the buffers: each is written before it is read */

    memset(&js->chunk, 0, offsetof(ai_release_json_t, depth)
                          - offsetof(ai_release_json_t, chunk));
    js->depth = 0;
    js->stopped = 0;
    memset(&js->state, 0, offsetof(ai_release_json_t, str)
                          - offsetof(ai_release_json_t, state));

    js->state = sw_value;
}


const char *
ai_release_json_type_name(ai_release_json_type_e type)
{
    return (unsigned) type <= AI_RELEASE_JSON_NULL
           ? ai_release_json_types[type] : "?";
}


int
ai_release_json_feed(ai_release_json_t *js, const unsigned char *p,
    size_t len)
{
    int                   rc, sink;
    size_t                conts, extra, n;
    uint64_t              off;
    unsigned              c, need, lo, hi;
    const char           *lit;
    unsigned char         d;
    const unsigned char  *start, *end, *q;

    if (js->state >= sw_error) {
        return js->state == sw_error ? AI_RELEASE_JSON_ERROR
                                     : AI_RELEASE_JSON_STOP;
    }

    start = p;
    end = p + len;
    off = js->offset;
    rc = AI_RELEASE_JSON_OK;

#define at(p)  (off + (uint64_t) ((p) - start))

    while (p < end) {

        switch (js->state) {

        case sw_string:
            q = p;
            conts = 0;
            extra = 0;

            /* the rest of a character begun in an earlier chunk */

            while (js->u8_need) {
                if (p == end) {
                    goto run;
                }

                if (*p < js->u8_lo || *p > js->u8_hi) {
                    goto bad_utf8;
                }

                js->u8_lo = 0x80;
                js->u8_hi = 0xbf;
                js->u8_need--;
                p++;
                conts++;
            }

            /*
             * sink: the bytes are kept or handed on, and go out in runs
             * of decoded bytes; else they are only counted, an escape
             * being one byte less than it is written (extra)
             */

            sink = (js->str_n < js->str_max || (js->chunk && !js->in_key));

            for ( ;; ) {
                p = ai_release_json_special(p, end);

                if (p == end) {
                    break;
                }

                c = *p;

                if (c == '\\') {

                    /* \" \\ \/ \b \f \n \r \t here; \u, a split or a bad
                     * escape by the states */

                    if (end - p < 2 || ai_release_json_short[p[1]] == 0) {
                        break;
                    }

                    if (sink) {
                        d = ai_release_json_short[p[1]];

                        if ((p > q
                             && ai_release_json_bytes(js, q, p - q,
                                                      (p - q) - conts))
                            || ai_release_json_bytes(js, &d, 1, 1))
                        {
                            rc = AI_RELEASE_JSON_STOP;
                            goto done;
                        }

                        conts = 0;
                        q = p + 2;
                        sink = (js->str_n < js->str_max
                                || (js->chunk && !js->in_key));

                    } else {
                        extra++;
                    }

                    p += 2;
                    continue;
                }

                if (c < 0x80) {
                    break;
                }

                /* a character of two to four bytes */

                if (c < 0xc0 || ai_release_json_utf8[c - 0xc0].need == 0) {
                    goto bad_utf8;
                }

                need = ai_release_json_utf8[c - 0xc0].need;
                lo = ai_release_json_utf8[c - 0xc0].lo;
                hi = ai_release_json_utf8[c - 0xc0].hi;

                p++;

                while (need && p < end) {
                    if (*p < lo || *p > hi) {
                        goto bad_utf8;
                    }

                    lo = 0x80;
                    hi = 0xbf;
                    need--;
                    p++;
                    conts++;
                }

                if (need) {
                    js->u8_need = (uint8_t) need;
                    js->u8_lo = (uint8_t) lo;
                    js->u8_hi = (uint8_t) hi;
                    break;
                }
            }

        run:

            if (p > q) {
                if (js->str_n < js->str_max || (js->chunk && !js->in_key)) {
                    if (ai_release_json_bytes(js, q, p - q, (p - q) - conts))
                    {
                        rc = AI_RELEASE_JSON_STOP;
                        goto done;
                    }

                } else {
                    n = (p - q) - extra;
                    js->str_len += n;
                    js->str_chars += n - conts;
                }
            }

            if (p == end) {
                goto done;
            }

            if (*p == '"') {
                rc = ai_release_json_quote(js, at(p));
                p++;

            } else if (*p == '\\') {
                js->state = sw_escape;
                p++;

            } else {
                rc = ai_release_json_fail(js, "control character in a string",
                                          at(p));
            }

            if (rc) {
                goto done;
            }

            if (js->state <= sw_done && p < end) {
                goto between;
            }

            break;

        bad_utf8:

            /* the bytes before it are handed on as in any other split */

            if (p > q
                && (js->str_n < js->str_max || (js->chunk && !js->in_key))
                && ai_release_json_bytes(js, q, p - q, (p - q) - conts))
            {
                rc = AI_RELEASE_JSON_STOP;
                goto done;
            }

            rc = ai_release_json_fail(js, "invalid UTF-8", at(p));
            goto done;

        case sw_int:
        case sw_frac:
        case sw_exp:
            q = p;

            while (p < end && *p >= '0' && *p <= '9') {
                p++;
            }

            ai_release_json_digits(js, q, p - q);

            if (p == end) {
                goto done;
            }

            /* fall through */

        case sw_minus:
        case sw_zero:
        case sw_dot:
        case sw_e:
        case sw_esign:
            c = *p;
            rc = ai_release_json_number(js, c, at(p));

            if (rc) {
                goto done;
            }

            /* the byte after a number is the next token's */

            if (js->state < sw_minus || js->state > sw_exp) {
                goto between;
            }

            p++;
            break;

        case sw_escape:
        case sw_hex:
            rc = (js->state == sw_escape)
                 ? ai_release_json_escape(js, *p, at(p))
                 : ai_release_json_hex(js, *p, at(p));
            p++;

            if (rc) {
                goto done;
            }

            break;

        case sw_low_backslash:
        case sw_low_u:
            if (*p != (js->state == sw_low_backslash ? '\\' : 'u')) {
                rc = ai_release_json_fail(js, "lone high surrogate", at(p));
                goto done;
            }

            if (js->state == sw_low_backslash) {
                js->state = sw_low_u;

            } else {
                js->esc_n = 0;
                js->esc_cu = 0;
                js->state = sw_hex;
            }

            p++;
            break;

        case sw_literal:
            lit = ai_release_json_literals[js->lit];

            while (p < end) {
                if (*p != (unsigned char) lit[js->lit_pos]) {
                    rc = ai_release_json_fail(js, "invalid literal", at(p));
                    goto done;
                }

                p++;

                if (lit[++js->lit_pos] == '\0') {
                    rc = ai_release_json_end(js,
                                             AI_RELEASE_JSON_TRUE + js->lit,
                                             js->value_start, at(p), 0);
                    if (rc) {
                        goto done;
                    }

                    if (p < end) {
                        goto between;
                    }

                    break;
                }
            }

            break;

        default:
        between:

            /*
             * between tokens, here until a string, a number or a literal
             * begins (p < end)
             */

            do {
                c = *p;

                if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
                    p++;
                    continue;
                }

                rc = ai_release_json_token(js, c, at(p));
                p++;

                if (rc) {
                    goto done;
                }

            } while (p < end && js->state <= sw_done);

            break;
        }
    }

done:

    js->offset = at(p);

#undef at

    return rc;
}


int
ai_release_json_finish(ai_release_json_t *js)
{
    int       rc;
    uint64_t  at;

    at = js->offset;

    switch (js->state) {

    case sw_error:
        return AI_RELEASE_JSON_ERROR;

    case sw_stop:
        return AI_RELEASE_JSON_STOP;

    case sw_done:
        return AI_RELEASE_JSON_OK;

    case sw_zero:
    case sw_int:
    case sw_frac:
    case sw_exp:
        rc = ai_release_json_end(js, AI_RELEASE_JSON_NUMBER, js->value_start,
                                 at, 0);
        if (rc || js->state == sw_done) {
            return rc;
        }

        break;

    case sw_value:
        if (js->depth == 0) {
            return ai_release_json_fail(js, "no value", at);
        }

        break;

    case sw_string:
    case sw_escape:
    case sw_hex:
    case sw_low_backslash:
    case sw_low_u:
        return ai_release_json_fail(js, "unterminated string", at);

    case sw_minus:
    case sw_dot:
    case sw_e:
    case sw_esign:
        return ai_release_json_fail(js, "unterminated number", at);

    case sw_literal:
        return ai_release_json_fail(js, "unterminated literal", at);

    default:
        break;
    }

    return ai_release_json_fail(js, js->frame[js->depth - 1].object
                                    ? "unterminated object"
                                    : "unterminated array",
                                at);
}


/* a byte other than whitespace between tokens */

static int
ai_release_json_token(ai_release_json_t *js, unsigned c, uint64_t at)
{
    ai_release_json_frame_t  *f;

    switch (js->state) {

    case sw_value:
        return ai_release_json_value(js, c, at);

    case sw_first:
        if (c == ']') {
            return ai_release_json_close(js, at);
        }

        return ai_release_json_value(js, c, at);

    case sw_key_first:
    case sw_key:
        if (c == '}' && js->state == sw_key_first) {
            return ai_release_json_close(js, at);
        }

        if (c != '"') {
            return ai_release_json_fail(js, js->state == sw_key_first
                                            ? "expected a key or '}'"
                                            : "expected a key",
                                        at);
        }

        f = &js->frame[js->depth - 1];

        f->key_start = at;

        js->in_key = 1;
        js->str_len = 0;
        js->str_chars = 0;
        js->str_n = 0;

        /* kept when an event wanted is at this level's depth or deeper */

        js->key_max = (uint8_t) (js->depth > js->key_depth ? 0
                                 : AI_RELEASE_JSON_KEYS_SIZE - f->key_off
                                   < AI_RELEASE_JSON_KEY_MAX
                                 ? AI_RELEASE_JSON_KEYS_SIZE - f->key_off
                                 : AI_RELEASE_JSON_KEY_MAX);
        js->str_max = js->key_max;
        js->state = sw_string;

        return AI_RELEASE_JSON_OK;

    case sw_colon:
        if (c != ':') {
            return ai_release_json_fail(js, "expected ':'", at);
        }

        js->state = sw_value;

        return AI_RELEASE_JSON_OK;

    case sw_after:
        f = &js->frame[js->depth - 1];

        if (c == ',') {
            js->state = f->object ? sw_key : sw_value;
            return AI_RELEASE_JSON_OK;
        }

        if (c == (f->object ? '}' : ']')) {
            return ai_release_json_close(js, at);
        }

        return ai_release_json_fail(js, f->object ? "expected ',' or '}'"
                                                  : "expected ',' or ']'",
                                    at);

    default: /* sw_done */
        return ai_release_json_fail(js, "data after the value", at);
    }
}


/* the first byte of a value */

static int
ai_release_json_value(ai_release_json_t *js, unsigned c, uint64_t at)
{
    unsigned                  lit;
    ai_release_json_frame_t  *f, *parent;

    switch (c) {

    case '{':
    case '[':
        if (js->depth == AI_RELEASE_JSON_MAX_DEPTH) {
            return ai_release_json_fail(js, "nesting too deep", at);
        }

        if (ai_release_json_wants(js->want_begin, js->depth)
            && ai_release_json_emit(js, AI_RELEASE_JSON_BEGIN,
                                    c == '{' ? AI_RELEASE_JSON_OBJECT
                                             : AI_RELEASE_JSON_ARRAY,
                                    at, 0, 0))
        {
            return AI_RELEASE_JSON_STOP;
        }

        f = &js->frame[js->depth];

        f->start = at;
        f->key_start = 0;
        f->key_raw = 0;
        f->key_len = 0;
        f->n = 0;
        f->key_n = 0;
        f->object = (c == '{');

        /* its keys go after those of the levels above */

        if (js->depth == 0) {
            f->key_off = 0;

        } else {
            parent = f - 1;
            f->key_off = parent->key_off + (parent->object ? parent->key_n
                                                           : 0);
        }

        js->depth++;
        js->state = f->object ? sw_key_first : sw_first;

        return AI_RELEASE_JSON_OK;

    case '"':
        js->value_start = at;
        js->in_key = 0;
        js->str_len = 0;
        js->str_chars = 0;
        js->str_n = 0;
        js->str_max = ai_release_json_wants(js->want_end, js->depth)
                      ? AI_RELEASE_JSON_STRING_MAX : 0;
        js->state = sw_string;

        return ai_release_json_wants(js->want_begin, js->depth)
               ? ai_release_json_emit(js, AI_RELEASE_JSON_BEGIN,
                                      AI_RELEASE_JSON_STRING, at, 0, 0)
               : AI_RELEASE_JSON_OK;

    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        js->value_start = at;
        js->str[0] = (unsigned char) c;
        js->str_n = 1;
        js->str_len = 1;
        js->str_max = ai_release_json_wants(js->want_end, js->depth)
                      ? AI_RELEASE_JSON_NUMBER_MAX : 0;
        js->state = (c == '-') ? sw_minus : (c == '0') ? sw_zero : sw_int;

        return ai_release_json_wants(js->want_begin, js->depth)
               ? ai_release_json_emit(js, AI_RELEASE_JSON_BEGIN,
                                      AI_RELEASE_JSON_NUMBER, at, 0, 0)
               : AI_RELEASE_JSON_OK;

    case 't':
    case 'f':
    case 'n':
        lit = (c == 't') ? 0 : (c == 'f') ? 1 : 2;

        js->value_start = at;
        js->lit = (uint8_t) lit;
        js->lit_pos = 1;
        js->state = sw_literal;

        return ai_release_json_wants(js->want_begin, js->depth)
               ? ai_release_json_emit(js, AI_RELEASE_JSON_BEGIN,
                                      AI_RELEASE_JSON_TRUE + lit, at, 0, 0)
               : AI_RELEASE_JSON_OK;

    default:
        return ai_release_json_fail(js, "expected a value", at);
    }
}


/* the '}' or ']' at offset at closes the innermost container */

static int
ai_release_json_close(ai_release_json_t *js, uint64_t at)
{
    ai_release_json_frame_t  *f;

    f = &js->frame[--js->depth];

    return ai_release_json_end(js, f->object ? AI_RELEASE_JSON_OBJECT
                                             : AI_RELEASE_JSON_ARRAY,
                               f->start, at + 1, f->n);
}


/* a value ended: its END event, then what may follow it */

static int
ai_release_json_end(ai_release_json_t *js, ai_release_json_type_e type,
    uint64_t start, uint64_t end, uint64_t count)
{
    ai_release_json_frame_t  *f;

    if (ai_release_json_wants(js->want_end, js->depth)
        && ai_release_json_emit(js, AI_RELEASE_JSON_END, type, start, end,
                                count))
    {
        return AI_RELEASE_JSON_STOP;
    }

    if (js->depth == 0) {
        js->state = sw_done;
        return AI_RELEASE_JSON_OK;
    }

    f = &js->frame[js->depth - 1];

    if (++f->n == UINT32_MAX) {
        return ai_release_json_fail(js, "too many elements", end);
    }

    js->state = sw_after;

    return AI_RELEASE_JSON_OK;
}


static int
ai_release_json_emit(ai_release_json_t *js, ai_release_json_event_e event,
    ai_release_json_type_e type, uint64_t start, uint64_t end,
    uint64_t count)
{
    ai_release_json_event_t   ev;
    ai_release_json_frame_t  *f;

    if (js->handler == NULL) {
        return 0;
    }

    ev.event = event;
    ev.type = type;
    ev.depth = js->depth;
    ev.start = start;
    ev.end = end;
    ev.count = count;

    if (js->depth && js->frame[js->depth - 1].object) {
        f = &js->frame[js->depth - 1];

        ev.member = 1;
        ev.index = f->n;
        ev.key_start = f->key_start;
        ev.key_end = f->key_start + f->key_raw;
        ev.key_len = f->key_len;
        ev.key = js->keys + f->key_off;
        ev.key_n = f->key_n;

    } else {
        ev.member = 0;
        ev.index = js->depth ? js->frame[js->depth - 1].n : 0;
        ev.key_start = 0;
        ev.key_end = 0;
        ev.key_len = 0;
        ev.key = NULL;
        ev.key_n = 0;
    }

    if (event == AI_RELEASE_JSON_END
        && (type == AI_RELEASE_JSON_STRING || type == AI_RELEASE_JSON_NUMBER))
    {
        ev.len = js->str_len;
        ev.chars = (type == AI_RELEASE_JSON_STRING) ? js->str_chars
                                                    : js->str_len;
        ev.text = js->str;
        ev.text_n = js->str_n;
        ev.truncated = (js->str_n < js->str_len);

    } else {
        ev.len = 0;
        ev.chars = 0;
        ev.text = NULL;
        ev.text_n = 0;
        ev.truncated = 0;
    }

    if (js->handler(js, &ev, js->data) != 0) {
        js->stopped = 1;
        js->state = sw_stop;
        return 1;
    }

    return 0;
}


/* the closing quote of a string or key at offset at */

static int
ai_release_json_quote(ai_release_json_t *js, uint64_t at)
{
    uint64_t                  raw;
    ai_release_json_frame_t  *f;

    if (!js->in_key) {
        return ai_release_json_end(js, AI_RELEASE_JSON_STRING,
                                   js->value_start, at + 1, 0);
    }

    f = &js->frame[js->depth - 1];

    raw = at + 1 - f->key_start;

    if (raw > UINT32_MAX) {
        return ai_release_json_fail(js, "key too long", at);
    }

    f->key_raw = (uint32_t) raw;
    f->key_len = (uint32_t) js->str_len;
    f->key_n = js->str_n;

    js->in_key = 0;
    js->state = sw_colon;

    return AI_RELEASE_JSON_OK;
}


/* decoded bytes of a string or key: counted, the first ones kept */

static int
ai_release_json_bytes(ai_release_json_t *js, const unsigned char *p,
    size_t n, uint64_t chars)
{
    size_t          room;
    unsigned char  *dst;

    js->str_len += n;
    js->str_chars += chars;

    if (js->str_n < js->str_max) {
        dst = js->in_key ? js->keys + js->frame[js->depth - 1].key_off
                         : js->str;
        room = js->str_max - js->str_n;

        if (room > n) {
            room = n;
        }

        memcpy(dst + js->str_n, p, room);
        js->str_n += (uint8_t) room;
    }

    if (js->chunk && !js->in_key && js->chunk(js, p, n, js->data) != 0) {
        js->stopped = 1;
        js->state = sw_stop;
        return 1;
    }

    return 0;
}


/* the first byte from p on that a string does not hold as it is, or end */

static const unsigned char *
ai_release_json_special(const unsigned char *p, const unsigned char *end)
{
#if (AI_RELEASE_JSON_SSE2)
    unsigned   mask;
    __m128i    a, b, quote, backslash, space;

    /* a byte below 0x20 or above 0x7f (negative), '"' or '\' */

    quote = _mm_set1_epi8('"');
    backslash = _mm_set1_epi8('\\');
    space = _mm_set1_epi8(0x20);

#define ai_release_json_marks(v)                                              \
    _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),                       \
                              _mm_cmpeq_epi8(v, backslash)),                  \
                 _mm_cmplt_epi8(v, space))

    while (end - p >= 32) {
        a = _mm_loadu_si128((const __m128i *) p);
        b = _mm_loadu_si128((const __m128i *) (p + 16));

        a = ai_release_json_marks(a);
        b = ai_release_json_marks(b);

        if (_mm_movemask_epi8(_mm_or_si128(a, b))) {
            mask = (unsigned) _mm_movemask_epi8(a)
                   | (unsigned) _mm_movemask_epi8(b) << 16;
            return p + __builtin_ctz(mask);
        }

        p += 32;
    }

    if (end - p >= 16) {
        a = _mm_loadu_si128((const __m128i *) p);
        mask = (unsigned) _mm_movemask_epi8(ai_release_json_marks(a));

        if (mask) {
            return p + __builtin_ctz(mask);
        }

        p += 16;
    }

#undef ai_release_json_marks

#elif (AI_RELEASE_JSON_VECTOR)
    uint64_t                   mark[2];
    ai_release_json_vector_t   v;

    while (end - p >= 16) {
        memcpy(&v, p, 16);

        v = (v < 0x20) | (v == '"') | (v == '\\');

        memcpy(mark, &v, 16);

        if (mark[0] | mark[1]) {
            return p + (mark[0] ? __builtin_ctzll(mark[0]) / 8
                                : 8 + __builtin_ctzll(mark[1]) / 8);
        }

        p += 16;
    }

#endif

    while (p < end && ai_release_json_plain[*p]) {
        p++;
    }

    return p;
}


/* the byte after a backslash */

static int
ai_release_json_escape(ai_release_json_t *js, unsigned c, uint64_t at)
{
    unsigned char  d;

    switch (c) {
    case '"':
    case '\\':
    case '/':
        d = (unsigned char) c;
        break;
    case 'b':
        d = '\b';
        break;
    case 'f':
        d = '\f';
        break;
    case 'n':
        d = '\n';
        break;
    case 'r':
        d = '\r';
        break;
    case 't':
        d = '\t';
        break;
    case 'u':
        js->esc_n = 0;
        js->esc_cu = 0;
        js->esc_hi = 0;
        js->state = sw_hex;
        return AI_RELEASE_JSON_OK;
    default:
        return ai_release_json_fail(js, "invalid escape", at);
    }

    js->state = sw_string;

    return ai_release_json_bytes(js, &d, 1, 1) ? AI_RELEASE_JSON_STOP
                                                : AI_RELEASE_JSON_OK;
}


/* a digit of \uXXXX; the fourth completes a character or a surrogate */

static int
ai_release_json_hex(ai_release_json_t *js, unsigned c, uint64_t at)
{
    size_t         n;
    uint32_t       cp;
    unsigned char  u[4];

    if (c >= '0' && c <= '9') {
        c -= '0';

    } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
        c = (c | 0x20) - 'a' + 10;

    } else {
        return ai_release_json_fail(js, "invalid \\u escape", at);
    }

    js->esc_cu = (uint16_t) (js->esc_cu << 4 | c);

    if (++js->esc_n < 4) {
        return AI_RELEASE_JSON_OK;
    }

    cp = js->esc_cu;

    if (js->esc_hi) {
        if (cp < 0xdc00 || cp > 0xdfff) {
            return ai_release_json_fail(js, "invalid low surrogate", at);
        }

        cp = 0x10000 + ((uint32_t) (js->esc_hi - 0xd800) << 10)
             + (cp - 0xdc00);

    } else if (cp >= 0xd800 && cp <= 0xdbff) {
        js->esc_hi = (uint16_t) cp;
        js->state = sw_low_backslash;
        return AI_RELEASE_JSON_OK;

    } else if (cp >= 0xdc00 && cp <= 0xdfff) {
        return ai_release_json_fail(js, "lone low surrogate", at);
    }

    if (cp < 0x80) {
        u[0] = (unsigned char) cp;
        n = 1;

    } else if (cp < 0x800) {
        u[0] = (unsigned char) (0xc0 | cp >> 6);
        u[1] = (unsigned char) (0x80 | (cp & 0x3f));
        n = 2;

    } else if (cp < 0x10000) {
        u[0] = (unsigned char) (0xe0 | cp >> 12);
        u[1] = (unsigned char) (0x80 | (cp >> 6 & 0x3f));
        u[2] = (unsigned char) (0x80 | (cp & 0x3f));
        n = 3;

    } else {
        u[0] = (unsigned char) (0xf0 | cp >> 18);
        u[1] = (unsigned char) (0x80 | (cp >> 12 & 0x3f));
        u[2] = (unsigned char) (0x80 | (cp >> 6 & 0x3f));
        u[3] = (unsigned char) (0x80 | (cp & 0x3f));
        n = 4;
    }

    js->esc_hi = 0;
    js->state = sw_string;

    return ai_release_json_bytes(js, u, n, 1) ? AI_RELEASE_JSON_STOP
                                               : AI_RELEASE_JSON_OK;
}


/*
 * A byte in a number, other than a digit of its integer part, fraction
 * or exponent: the next state, or the end of the number (the byte is then
 * the next token's, the state no longer a number's).
 */

static int
ai_release_json_number(ai_release_json_t *js, unsigned c, uint64_t at)
{
    int            digit;
    unsigned char  b;

    digit = (c >= '0' && c <= '9');

    switch (js->state) {

    case sw_minus:
        if (!digit) {
            return ai_release_json_fail(js, "expected a digit after '-'", at);
        }

        js->state = (c == '0') ? sw_zero : sw_int;
        break;

    case sw_dot:
        if (!digit) {
            return ai_release_json_fail(js, "expected a digit after '.'", at);
        }

        js->state = sw_frac;
        break;

    case sw_e:
        if (c == '+' || c == '-') {
            js->state = sw_esign;
            break;
        }

        /* fall through */

    case sw_esign:
        if (!digit) {
            return ai_release_json_fail(js, "expected a digit in the exponent",
                                        at);
        }

        js->state = sw_exp;
        break;

    case sw_zero:
        if (digit) {
            return ai_release_json_fail(js, "leading zero", at);
        }

        /* fall through */

    default: /* sw_int, sw_frac, sw_exp, after their digits */
        if (c == '.' && js->state != sw_frac && js->state != sw_exp) {
            js->state = sw_dot;
            break;
        }

        if ((c == 'e' || c == 'E') && js->state != sw_exp) {
            js->state = sw_e;
            break;
        }

        return ai_release_json_end(js, AI_RELEASE_JSON_NUMBER,
                                   js->value_start, at, 0);
    }

    b = (unsigned char) c;
    ai_release_json_digits(js, &b, 1);

    return AI_RELEASE_JSON_OK;
}


/* bytes of a number's text: counted, the first ones kept */

static void
ai_release_json_digits(ai_release_json_t *js, const unsigned char *p,
    size_t n)
{
    size_t  room;

    js->str_len += n;

    if (js->str_n < js->str_max) {
        room = js->str_max - js->str_n;

        if (room > n) {
            room = n;
        }

        memcpy(js->str + js->str_n, p, room);
        js->str_n += (uint8_t) room;
    }
}


static int
ai_release_json_fail(ai_release_json_t *js, const char *error, uint64_t at)
{
    js->error = error;
    js->error_offset = at;
    js->state = sw_error;

    return AI_RELEASE_JSON_ERROR;
}


int
ai_release_json_pointer_parse(ai_release_json_pointer_t *ptr,
    const char *text, size_t len)
{
    size_t    i, used, seg, k;
    uint64_t  index;
    unsigned  c;

    ptr->n = 0;
    ptr->error = NULL;

    used = 0;
    i = 0;

    while (i < len) {

        if (text[i] != '/') {
            ptr->error = "a JSON Pointer starts with \"/\"";
            return -1;
        }

        if (ptr->n == AI_RELEASE_JSON_POINTER_MAX) {
            ptr->error = "a JSON Pointer of more than 16 segments";
            return -1;
        }

        i++;
        seg = used;

        while (i < len && text[i] != '/') {
            c = (unsigned char) text[i++];

            if (c == '~') {
                if (i == len || (text[i] != '0' && text[i] != '1')) {
                    ptr->error = "\"~\" not followed by \"0\" or \"1\"";
                    return -1;
                }

                c = (text[i++] == '0') ? '~' : '/';
            }

            if (used - seg == AI_RELEASE_JSON_KEY_MAX) {
                ptr->error = "a JSON Pointer segment longer than 64 bytes";
                return -1;
            }

            if (used == AI_RELEASE_JSON_KEYS_SIZE) {
                ptr->error = "JSON Pointer segments longer than 256 bytes "
                             "in all";
                return -1;
            }

            ptr->buf[used++] = (unsigned char) c;
        }

        ptr->off[ptr->n] = (uint16_t) seg;
        ptr->len[ptr->n] = (uint8_t) (used - seg);

        /* an array index: "0", or digits without a leading zero */

        index = UINT32_MAX;

        if (used > seg && (ptr->buf[seg] != '0' || used - seg == 1)) {
            index = 0;

            for (k = seg; k < used; k++) {
                if (ptr->buf[k] < '0' || ptr->buf[k] > '9') {
                    index = UINT32_MAX;
                    break;
                }

                index = index * 10 + (ptr->buf[k] - '0');

                if (index >= UINT32_MAX) {
                    index = UINT32_MAX;
                    break;
                }
            }
        }

        ptr->index[ptr->n] = (uint32_t) index;
        ptr->n++;
    }

    return 0;
}


int
ai_release_json_at(const ai_release_json_t *js,
    const ai_release_json_pointer_t *ptr)
{
    return js->depth == ptr->n && ai_release_json_match(js, ptr);
}


int
ai_release_json_under(const ai_release_json_t *js,
    const ai_release_json_pointer_t *ptr)
{
    return js->depth >= ptr->n && ai_release_json_match(js, ptr);
}


/* whether the first ptr->n levels of the path are ptr's segments */

static int
ai_release_json_match(const ai_release_json_t *js,
    const ai_release_json_pointer_t *ptr)
{
    unsigned                        i;
    const ai_release_json_frame_t  *f;

    for (i = 0; i < ptr->n; i++) {
        f = &js->frame[i];

        if (!f->object) {
            if (ptr->index[i] != f->n) {
                return 0;
            }

            continue;
        }

        /* a key cut short matches nothing */

        if (f->key_n != f->key_len
            || f->key_n != ptr->len[i]
            || memcmp(js->keys + f->key_off, ptr->buf + ptr->off[i],
                      f->key_n)
               != 0)
        {
            return 0;
        }
    }

    return 1;
}


int
ai_release_json_int(const ai_release_json_event_t *ev, int64_t *out)
{
    int       neg;
    size_t    i;
    uint64_t  v, max;

    if (ev->type != AI_RELEASE_JSON_NUMBER || ev->truncated
        || ev->text_n == 0)
    {
        return -1;
    }

    neg = (ev->text[0] == '-');
    max = neg ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
    v = 0;

    if (neg && ev->text_n == 1) {
        return -1;
    }

    for (i = neg; i < ev->text_n; i++) {
        if (ev->text[i] < '0' || ev->text[i] > '9') {
            return -1;
        }

        if (v > (max - (ev->text[i] - '0')) / 10) {
            return -1;
        }

        v = v * 10 + (ev->text[i] - '0');
    }

    *out = neg ? (v == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) v)
               : (int64_t) v;

    return 0;
}


int
ai_release_json_uint(const ai_release_json_event_t *ev, uint64_t *out)
{
    int64_t   s;
    size_t    i;
    uint64_t  v;

    if (ev->type != AI_RELEASE_JSON_NUMBER || ev->truncated
        || ev->text_n == 0)
    {
        return -1;
    }

    if (ev->text[0] == '-') {

        /* -0 is 0 */

        if (ai_release_json_int(ev, &s) != 0 || s != 0) {
            return -1;
        }

        *out = 0;
        return 0;
    }

    v = 0;

    for (i = 0; i < ev->text_n; i++) {
        if (ev->text[i] < '0' || ev->text[i] > '9') {
            return -1;
        }

        if (v > (UINT64_MAX - (ev->text[i] - '0')) / 10) {
            return -1;
        }

        v = v * 10 + (ev->text[i] - '0');
    }

    *out = v;

    return 0;
}


int
ai_release_json_double(const ai_release_json_event_t *ev, double *out)
{
    char    buf[AI_RELEASE_JSON_NUMBER_MAX + 1], *last;
    double  d;

    if (ev->type != AI_RELEASE_JSON_NUMBER || ev->truncated
        || ev->text_n == 0 || ev->text_n > AI_RELEASE_JSON_NUMBER_MAX)
    {
        return -1;
    }

    memcpy(buf, ev->text, ev->text_n);
    buf[ev->text_n] = '\0';

    d = strtod(buf, &last);

    /* an underflow is 0 or a subnormal number, an overflow infinite */

    if (last != buf + ev->text_n || isinf(d)) {
        return -1;
    }

    *out = d;

    return 0;
}
