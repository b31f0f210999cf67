
/*
 * Copyright (C) ngx_ai_release authors
 *
 * The server-sent-events parser (see ai_release_json.h): the WHATWG
 * event-stream format, read as it passes.  Of a line it keeps only the
 * first bytes of the field name; the data goes on to on_data at once, the
 * event name is kept up to AI_RELEASE_SSE_NAME_MAX bytes.  Plain C, no
 * allocation.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <string.h>

#include "ai_release_json.h"


/* the states of the parser (sse->state) */

enum {
    sse_bom = 0,        /* the stream's first bytes: a byte order mark? */
    sse_line,           /* the start of a line */
    sse_field,          /* the field's name */
    sse_space,          /* after "name:": the space to drop */
    sse_value,          /* the field's value */
    sse_comment,        /* a line starting with ':' */
    sse_skip,           /* a field not read */
    sse_stop
};

/* the fields read (sse->field) */

enum {
    sse_other = 0,
    sse_data,
    sse_event
};


#if (defined(__SSE2__))
#include <emmintrin.h>
#define AI_RELEASE_SSE_SSE2    1
#define AI_RELEASE_SSE_VECTOR  0
#elif (defined(__GNUC__) && defined(__BYTE_ORDER__)                          \
       && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
#define AI_RELEASE_SSE_SSE2    0
#define AI_RELEASE_SSE_VECTOR  1
typedef signed char  ai_release_sse_vector_t __attribute__((vector_size(16)));
#else
#define AI_RELEASE_SSE_SSE2    0
#define AI_RELEASE_SSE_VECTOR  0
#endif


static int ai_release_sse_run(ai_release_sse_t *sse, const unsigned char *p,
    size_t len);
static const unsigned char *ai_release_sse_eol(const unsigned char *p,
    const unsigned char *end);
static int ai_release_sse_field(ai_release_sse_t *sse);
static int ai_release_sse_line_end(ai_release_sse_t *sse, unsigned c);
static int ai_release_sse_data(ai_release_sse_t *sse, const unsigned char *p,
    size_t n);
static int ai_release_sse_dispatch(ai_release_sse_t *sse);


static const unsigned char  ai_release_sse_bom_bytes[] = { 0xef, 0xbb, 0xbf };


void
ai_release_sse_init(ai_release_sse_t *sse, ai_release_sse_data_pt on_data,
    ai_release_sse_event_pt on_event, void *data)
{
    memset(sse, 0, offsetof(ai_release_sse_t, field_name));

    sse->on_data = on_data;
    sse->on_event = on_event;
    sse->data = data;
    sse->state = sse_bom;
}


int
ai_release_sse_feed(ai_release_sse_t *sse, const unsigned char *p,
    size_t len)
{
    if (sse->state == sse_stop) {
        return AI_RELEASE_JSON_STOP;
    }

    sse->offset += len;

    /* one leading byte order mark is dropped */

    while (sse->state == sse_bom && len) {

        if (*p == ai_release_sse_bom_bytes[sse->bom_n]) {
            p++;
            len--;

            if (++sse->bom_n == sizeof(ai_release_sse_bom_bytes)) {
                sse->state = sse_line;
            }

            continue;
        }

        /* not one: the bytes taken for it are the first line's */

        sse->state = sse_line;

        if (ai_release_sse_run(sse, ai_release_sse_bom_bytes, sse->bom_n)) {
            return AI_RELEASE_JSON_STOP;
        }
    }

    return ai_release_sse_run(sse, p, len);
}


int
ai_release_sse_finish(ai_release_sse_t *sse)
{
    if (sse->state == sse_bom && sse->bom_n) {
        sse->state = sse_line;

        (void) ai_release_sse_run(sse, ai_release_sse_bom_bytes, sse->bom_n);
    }

    if (sse->state == sse_stop) {
        return 0;
    }

    sse->mid_event = (sse->lines > 0
                      || (sse->state != sse_bom && sse->state != sse_line
                          && sse->state != sse_comment));

    return sse->mid_event;
}


static int
ai_release_sse_run(ai_release_sse_t *sse, const unsigned char *p,
    size_t len)
{
    size_t                n;
    unsigned              c;
    const unsigned char  *q, *end;

    end = p + len;

    while (p < end) {

        c = *p;

        switch (sse->state) {

        case sse_line:

            /* the LF of a CR LF, also when they came in two chunks */

            if (sse->cr) {
                sse->cr = 0;

                if (c == '\n') {
                    p++;
                    break;
                }
            }

            if (c == '\n' || c == '\r') {
                p++;

                if (ai_release_sse_line_end(sse, c)) {
                    return AI_RELEASE_JSON_STOP;
                }

                break;
            }

            if (c == ':') {
                sse->state = sse_comment;
                p++;
                break;
            }

            sse->field_n = 0;
            sse->state = sse_field;
            break;

        case sse_field:
            if (c == ':' || c == '\n' || c == '\r') {
                p++;

                if (ai_release_sse_field(sse)) {
                    return AI_RELEASE_JSON_STOP;
                }

                if (c != ':' && ai_release_sse_line_end(sse, c)) {
                    return AI_RELEASE_JSON_STOP;
                }

                break;
            }

            /* the first bytes are enough to tell "data" and "event" */

            if (sse->field_n < sizeof(sse->field_name)) {
                sse->field_name[sse->field_n] = (unsigned char) c;
            }

            if (sse->field_n <= sizeof(sse->field_name)) {
                sse->field_n++;
            }

            p++;
            break;

        case sse_space:
            sse->state = sse_value;

            if (c == ' ') {
                p++;
            }

            break;

        case sse_value:
            q = p;
            p = ai_release_sse_eol(p, end);

            if (p > q) {

                if (sse->field == sse_data) {
                    if (ai_release_sse_data(sse, q, p - q)) {
                        return AI_RELEASE_JSON_STOP;
                    }

                } else if (sse->name_n < AI_RELEASE_SSE_NAME_MAX) {
                    n = AI_RELEASE_SSE_NAME_MAX - sse->name_n;

                    if (n > (size_t) (p - q)) {
                        n = p - q;
                    }

                    memcpy(sse->name + sse->name_n, q, n);
                    sse->name_n += (uint8_t) n;
                }

                if (sse->field == sse_event) {
                    sse->name_len += p - q;
                }
            }

            /* p is at the end of the line, or of the chunk */

            /* fall through */

        default: /* sse_comment, sse_skip */
            p = ai_release_sse_eol(p, end);

            if (p == end) {
                break;
            }

            c = *p++;

            if (ai_release_sse_line_end(sse, c)) {
                return AI_RELEASE_JSON_STOP;
            }

            break;
        }
    }

    return AI_RELEASE_JSON_OK;
}


/* the first CR or LF from p on, or end */

static const unsigned char *
ai_release_sse_eol(const unsigned char *p, const unsigned char *end)
{
#if (AI_RELEASE_SSE_SSE2)
    unsigned                  mask;
    __m128i                   v, lf, cr;
#elif (AI_RELEASE_SSE_VECTOR)
    uint64_t                  mark[2];
    ai_release_sse_vector_t   v;
#endif

#if (AI_RELEASE_SSE_SSE2)

    /* sixteen bytes at a time, as in ai_release_json.c */

    lf = _mm_set1_epi8('\n');
    cr = _mm_set1_epi8('\r');

    while (end - p >= 16) {
        v = _mm_loadu_si128((const __m128i *) p);
        mask = (unsigned) _mm_movemask_epi8(_mm_or_si128(
                                                _mm_cmpeq_epi8(v, lf),
                                                _mm_cmpeq_epi8(v, cr)));
        if (mask) {
            return p + __builtin_ctz(mask);
        }

        p += 16;
    }

#elif (AI_RELEASE_SSE_VECTOR)

    /* sixteen bytes at a time (see ai_release_json.c) */

    while (end - p >= 16) {
        memcpy(&v, p, 16);

        v = (v == '\n') | (v == '\r');

        memcpy(mark, &v, 16);

        if (mark[0] | mark[1]) {
            return p + (mark[0] ? __builtin_ctzll(mark[0]) / 8
                                : 8 + __builtin_ctzll(mark[1]) / 8);
        }

        p += 16;
    }

#endif

    while (p < end && *p != '\n' && *p != '\r') {
        p++;
    }

    return p;
}


/* the name of the line's field ended (at ':' or the end of the line) */

static int
ai_release_sse_field(ai_release_sse_t *sse)
{
    if (sse->field_n == 4 && memcmp(sse->field_name, "data", 4) == 0) {
        sse->field = sse_data;
        sse->state = sse_space;

        /* data lines are joined by a LF */

        if (sse->lines++ > 0) {
            return ai_release_sse_data(sse, (const unsigned char *) "\n", 1);
        }

        return AI_RELEASE_JSON_OK;
    }

    if (sse->field_n == 5 && memcmp(sse->field_name, "event", 5) == 0) {
        sse->field = sse_event;
        sse->state = sse_space;
        sse->name_len = 0;
        sse->name_n = 0;

        return AI_RELEASE_JSON_OK;
    }

    /* "id", "retry" and anything else: not read */

    sse->field = sse_other;
    sse->state = sse_skip;

    return AI_RELEASE_JSON_OK;
}


/* a CR or LF ended a line; a blank line dispatches the event */

static int
ai_release_sse_line_end(ai_release_sse_t *sse, unsigned c)
{
    int  blank;

    blank = (sse->state == sse_line);

    sse->state = sse_line;
    sse->cr = (c == '\r');

    return blank ? ai_release_sse_dispatch(sse) : AI_RELEASE_JSON_OK;
}


static int
ai_release_sse_data(ai_release_sse_t *sse, const unsigned char *p, size_t n)
{
    size_t  room;

    sse->data_len += n;

    if (sse->prefix_n < AI_RELEASE_SSE_PREFIX_MAX) {
        room = AI_RELEASE_SSE_PREFIX_MAX - sse->prefix_n;

        if (room > n) {
            room = n;
        }

        memcpy(sse->prefix + sse->prefix_n, p, room);
        sse->prefix_n += (uint8_t) room;
    }

    if (sse->on_data && sse->on_data(sse, p, n, sse->data) != 0) {
        sse->stopped = 1;
        sse->state = sse_stop;
        return AI_RELEASE_JSON_STOP;
    }

    return AI_RELEASE_JSON_OK;
}


static int
ai_release_sse_dispatch(ai_release_sse_t *sse)
{
    int                     rc;
    ai_release_sse_event_t  ev;

    /* no data line: nothing to dispatch, the name is forgotten */

    if (sse->lines == 0) {
        sse->name_len = 0;
        sse->name_n = 0;
        return AI_RELEASE_JSON_OK;
    }

    if (sse->name_len) {
        ev.name = sse->name;
        ev.name_n = sse->name_n;
        ev.name_len = sse->name_len;

    } else {
        ev.name = (const unsigned char *) "message";
        ev.name_n = sizeof("message") - 1;
        ev.name_len = sizeof("message") - 1;
    }

    ev.data = sse->prefix;
    ev.data_n = sse->prefix_n;
    ev.data_len = sse->data_len;
    ev.lines = sse->lines;

    sse->events++;

    rc = sse->on_event ? sse->on_event(sse, &ev, sse->data) : 0;

    sse->data_len = 0;
    sse->lines = 0;
    sse->prefix_n = 0;
    sse->name_len = 0;
    sse->name_n = 0;

    if (rc != 0) {
        sse->stopped = 1;
        sse->state = sse_stop;
        return AI_RELEASE_JSON_STOP;
    }

    return AI_RELEASE_JSON_OK;
}
