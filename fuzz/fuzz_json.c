
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Fuzz target: the streaming JSON scanner and the SSE parser
 * (ai_release_json.c, ai_release_sse.c).  The first byte of the input
 * picks how the rest is split; the rest is a JSON document and, the same
 * bytes, an event stream whose events' data are JSON documents.
 *
 * Each is fed whole, cut in two where the first byte says, in chunks of
 * 1 to 16 bytes drawn from it, and a byte at a time; the events (with the
 * bytes of every string), the pointer matches, the number readers' results
 * and the verdict must be the same every time.  When the first byte's
 * high bit is set, the handler (JSON) and on_event (SSE) stop the scan at
 * an event it names: where it stops must not depend on the split either.
 * Fed whole, every event is checked against the document: its span starts
 * and ends with the right bytes, a string's or key's decoded length,
 * characters and first bytes are jansson's decoding of its span, a
 * number's text is its span.
 *
 * The verdict is jansson's (json_loadb() with JSON_DECODE_ANY and
 * JSON_ALLOW_NUL, without which it refuses \u0000), except where jansson
 * is not defined the same way:
 * - a key with \u0000 (json_error_null_byte_in_key): valid JSON;
 * - an integer beyond long long or a number beyond double
 *   (json_error_numeric_overflow): valid JSON;
 * - nesting: the scanner stops at AI_RELEASE_JSON_MAX_DEPTH (64), jansson
 *   at 2048 (json_error_stack_overflow);
 * - a raw NUL byte: jansson's reader takes a NUL after a number for the
 *   end of its buffer and reads on, so that it accepts "1\0" and
 *   "[1\0]" (jansson 2.14); a document jansson accepts is not held
 *   against the scanner when it has a NUL byte;
 * - the scanner's limits of 4 GiB for a key and 2^32 - 1 elements, which
 *   no fuzz input reaches.
 *
 * The events of the stream are those of a plain reader that holds the
 * whole stream (sse_reference() below, WHATWG's steps one for one).
 */


#include <jansson.h>

#include "fuzz.h"
#include "ai_release_json.h"


#define FUZZ_JSON_PTRS  4


typedef struct {
    char    *p;
    size_t   n;
    size_t   cap;
} fuzz_buf_t;

typedef struct {
    fuzz_buf_t                        out;
    const uint8_t                    *doc;      /* the whole document */
    size_t                            len;      /* when fed whole */
    const ai_release_json_pointer_t  *ptrs;
    unsigned                          stop_at;  /* 0, or an event */
    unsigned                          events;
} fuzz_rec_t;

typedef struct {
    fuzz_buf_t           out;
    fuzz_rec_t           rec;
    ai_release_json_t    js;
    fuzz_buf_t           data;      /* the event's data, fed whole */
    unsigned             stop_at;   /* 0, or an event */
    unsigned             events;
} fuzz_sse_rec_t;


static void fuzz_buf_add(fuzz_buf_t *b, const void *p, size_t n);
static void fuzz_buf_num(fuzz_buf_t *b, char tag, uint64_t v);
static int fuzz_json_event(ai_release_json_t *js,
    const ai_release_json_event_t *ev, void *data);
static int fuzz_json_chunk(ai_release_json_t *js, const unsigned char *p,
    size_t n, void *data);
static void fuzz_json_check(const fuzz_rec_t *r,
    const ai_release_json_event_t *ev);
static void fuzz_json_decoded(const uint8_t *p, size_t n, uint64_t len,
    uint64_t chars, const unsigned char *text, size_t text_n);
static void fuzz_json_number(fuzz_buf_t *b,
    const ai_release_json_event_t *ev);
static void fuzz_json_run(const uint8_t *doc, size_t len, unsigned how,
    unsigned seed, fuzz_buf_t *out, int *verdict, const char **error);
static void fuzz_json_verdict(const uint8_t *doc, size_t len, int rc,
    const char *error);
static void fuzz_sse_run(const uint8_t *s, size_t len, unsigned how,
    unsigned seed, fuzz_buf_t *out);
static int fuzz_sse_data(ai_release_sse_t *sse, const unsigned char *p,
    size_t n, void *data);
static int fuzz_sse_event(ai_release_sse_t *sse,
    const ai_release_sse_event_t *ev, void *data);
static size_t fuzz_piece(unsigned how, unsigned seed, uint32_t *x,
    unsigned k, size_t pos, size_t len);
static void sse_reference(const uint8_t *s, size_t len, fuzz_buf_t *out);
static void sse_ref_event(fuzz_buf_t *out, const uint8_t *name,
    size_t name_len, uint64_t lines);


static const char  *fuzz_json_ptr_texts[FUZZ_JSON_PTRS] = {
    "/choices/0/message/content", "/a", "/0/a~1b", "/model"
};

static ai_release_json_pointer_t  fuzz_json_ptrs[FUZZ_JSON_PTRS];


/*
 * The ways of feeding: whole, cut in two, in chunks, a byte at a time.
 * A byte at a time stops at 64 KiB (libFuzzer's inputs are far smaller).
 */

enum {
    FUZZ_WHOLE = 0,
    FUZZ_CUT,
    FUZZ_CHUNKS,
    FUZZ_BYTES,
    FUZZ_WAYS
};


int
fuzz_one_json(const uint8_t *data, size_t size)
{
    int            rc[FUZZ_WAYS];
    size_t         len;
    unsigned       i, seed;
    fuzz_buf_t     out[FUZZ_WAYS];
    const char    *error[FUZZ_WAYS];
    const uint8_t *doc;

    if (fuzz_json_ptrs[0].n == 0) {
        for (i = 0; i < FUZZ_JSON_PTRS; i++) {
            FUZZ_CHECK(ai_release_json_pointer_parse(&fuzz_json_ptrs[i],
                                                 fuzz_json_ptr_texts[i],
                                                 strlen(fuzz_json_ptr_texts[i]))
                       == 0);
        }
    }

    seed = size ? data[0] : 0;
    doc = size ? data + 1 : data;
    len = size ? size - 1 : 0;

    /* JSON */

    for (i = 0; i < FUZZ_WAYS; i++) {
        if (i == FUZZ_BYTES && len > 65536) {
            break;
        }

        memset(&out[i], 0, sizeof(fuzz_buf_t));
        fuzz_json_run(doc, len, i, seed, &out[i], &rc[i], &error[i]);

        if (i) {
            if (out[i].n != out[0].n
                || memcmp(out[i].p, out[0].p, out[0].n) != 0)
            {
                fprintf(stderr, "whole:\n%.*s\nway %u:\n%.*s\n",
                        (int) out[0].n, out[0].p, i, (int) out[i].n,
                        out[i].p);
            }

            FUZZ_CHECK(out[i].n == out[0].n
                       && memcmp(out[i].p, out[0].p, out[0].n) == 0);
            FUZZ_CHECK(rc[i] == rc[0]);
            free(out[i].p);
        }
    }

    if (rc[0] != AI_RELEASE_JSON_STOP) {
        fuzz_json_verdict(doc, len, rc[0], error[0]);
    }

    free(out[0].p);

    /* the same bytes as an event stream, JSON in each event */

    for (i = 0; i < FUZZ_WAYS; i++) {
        if (i == FUZZ_BYTES && len > 65536) {
            break;
        }

        memset(&out[i], 0, sizeof(fuzz_buf_t));
        fuzz_sse_run(doc, len, i, seed, &out[i]);

        if (i) {
            FUZZ_CHECK(out[i].n == out[0].n
                       && memcmp(out[i].p, out[0].p, out[0].n) == 0);
            free(out[i].p);
        }
    }

    free(out[0].p);

    return 0;
}


static void
fuzz_buf_add(fuzz_buf_t *b, const void *p, size_t n)
{
    if (b->cap - b->n < n) {
        b->cap = (b->cap + n) * 2;
        b->p = realloc(b->p, b->cap);
        FUZZ_CHECK(b->p != NULL);
    }

    if (n) {
        memcpy(b->p + b->n, p, n);
        b->n += n;
    }
}


static void
fuzz_buf_num(fuzz_buf_t *b, char tag, uint64_t v)
{
    char  s[32];
    int   n;

    n = snprintf(s, sizeof(s), " %c%llu", tag, (unsigned long long) v);
    fuzz_buf_add(b, s, n);
}


/* feeds the document one way; out gets its events and verdict */

static void
fuzz_json_run(const uint8_t *doc, size_t len, unsigned how, unsigned seed,
    fuzz_buf_t *out, int *verdict, const char **error)
{
    int                rc;
    size_t             pos, n;
    uint32_t           x;
    unsigned           k;
    fuzz_rec_t         r;
    unsigned char     *piece;
    ai_release_json_t  js;

    memset(&r, 0, sizeof(fuzz_rec_t));
    r.doc = doc;
    r.len = (how == FUZZ_WHOLE) ? len : 0;
    r.ptrs = fuzz_json_ptrs;
    r.stop_at = (seed & 0x80) ? 1 + (seed & 0x1f) : 0;

    ai_release_json_init(&js, fuzz_json_event, &r);
    js.chunk = fuzz_json_chunk;

    x = seed * 2654435761U + 1;
    pos = 0;
    k = 0;

    do {
        n = fuzz_piece(how, seed, &x, k++, pos, len);

        /* each chunk in an allocation of its size: reading past is caught */

        piece = malloc(n ? n : 1);
        FUZZ_CHECK(piece != NULL);
        memcpy(piece, doc + pos, n);

        rc = ai_release_json_feed(&js, piece, n);

        free(piece);

        pos += n;

    } while (rc == AI_RELEASE_JSON_OK && pos < len);

    if (rc == AI_RELEASE_JSON_OK) {
        rc = ai_release_json_finish(&js);
    }

    FUZZ_CHECK(rc == AI_RELEASE_JSON_OK || rc == AI_RELEASE_JSON_ERROR
               || (rc == AI_RELEASE_JSON_STOP && js.stopped
                   && r.events == r.stop_at));
    FUZZ_CHECK((rc == AI_RELEASE_JSON_ERROR) == (js.error != NULL));
    FUZZ_CHECK(js.error == NULL || js.error_offset <= len);
    FUZZ_CHECK(js.depth <= AI_RELEASE_JSON_MAX_DEPTH);

    fuzz_buf_add(&r.out, "=", 1);

    if (js.error) {
        fuzz_buf_add(&r.out, js.error, strlen(js.error));
        fuzz_buf_num(&r.out, '@', js.error_offset);
    }

    fuzz_buf_num(&r.out, 'o', js.offset);

    *out = r.out;
    *verdict = rc;
    *error = js.error;
}


/* the size of the k-th piece, from pos on */

static size_t
fuzz_piece(unsigned how, unsigned seed, uint32_t *x, unsigned k, size_t pos,
    size_t len)
{
    size_t  n;

    switch (how) {

    case FUZZ_WHOLE:
        n = len;
        break;

    case FUZZ_CUT:
        n = k ? len - pos : len * seed / 255;
        break;

    case FUZZ_CHUNKS:
        *x ^= *x << 13;
        *x ^= *x >> 17;
        *x ^= *x << 5;
        n = 1 + *x % 16;
        break;

    default:
        n = 1;
    }

    return n < len - pos ? n : len - pos;
}


static int
fuzz_json_event(ai_release_json_t *js, const ai_release_json_event_t *ev,
    void *data)
{
    unsigned     i;
    fuzz_rec_t  *r;

    r = data;

    fuzz_buf_add(&r->out, ev->event == AI_RELEASE_JSON_BEGIN ? "\nB" : "\nE",
                 2);
    fuzz_buf_num(&r->out, 't', ev->type);
    fuzz_buf_num(&r->out, 'd', ev->depth);
    fuzz_buf_num(&r->out, 's', ev->start);
    fuzz_buf_num(&r->out, 'e', ev->end);
    fuzz_buf_num(&r->out, 'i', ev->index);
    fuzz_buf_num(&r->out, 'm', ev->member);
    fuzz_buf_num(&r->out, 'k', ev->key_start);
    fuzz_buf_num(&r->out, 'K', ev->key_end);
    fuzz_buf_num(&r->out, 'l', ev->key_len);
    fuzz_buf_add(&r->out, " ", 1);
    fuzz_buf_add(&r->out, ev->key, ev->key_n);
    fuzz_buf_num(&r->out, 'n', ev->count);
    fuzz_buf_num(&r->out, 'L', ev->len);
    fuzz_buf_num(&r->out, 'c', ev->chars);
    fuzz_buf_num(&r->out, 'T', ev->truncated);
    fuzz_buf_add(&r->out, " ", 1);
    fuzz_buf_add(&r->out, ev->text, ev->text_n);

    for (i = 0; i < FUZZ_JSON_PTRS; i++) {
        fuzz_buf_num(&r->out, 'p', ai_release_json_at(js, &r->ptrs[i]) * 2
                                   + ai_release_json_under(js, &r->ptrs[i]));
    }

    if (ev->event == AI_RELEASE_JSON_END && ev->type == AI_RELEASE_JSON_NUMBER)
    {
        fuzz_json_number(&r->out, ev);
    }

    FUZZ_CHECK(ev->depth == js->depth);
    FUZZ_CHECK(ev->key_n <= AI_RELEASE_JSON_KEY_MAX
               && ev->key_n <= ev->key_len);
    FUZZ_CHECK(ev->text_n <= AI_RELEASE_JSON_STRING_MAX
               && ev->text_n <= ev->len && ev->chars <= ev->len);
    FUZZ_CHECK(ev->truncated == (ev->text_n < ev->len));

    if (r->len) {
        fuzz_json_check(r, ev);
    }

    return r->stop_at && ++r->events == r->stop_at;
}


static int
fuzz_json_chunk(ai_release_json_t *js, const unsigned char *p, size_t n,
    void *data)
{
    (void) js;

    FUZZ_CHECK(n > 0);

    fuzz_buf_add(&((fuzz_rec_t *) data)->out, p, n);

    return 0;
}


/* an event against the document it came from (fed whole) */

static void
fuzz_json_check(const fuzz_rec_t *r, const ai_release_json_event_t *ev)
{
    uint8_t   first, last;
    unsigned  type;

    static const char  firsts[] = "{[\"-ttn";
    static const char  lasts[] = "}]\"0eel";

    type = ev->type;

    FUZZ_CHECK(type <= AI_RELEASE_JSON_NULL);
    FUZZ_CHECK(ev->start < r->len);

    first = r->doc[ev->start];

    if (type == AI_RELEASE_JSON_NUMBER) {
        FUZZ_CHECK(first == '-' || (first >= '0' && first <= '9'));

    } else if (type == AI_RELEASE_JSON_FALSE) {
        FUZZ_CHECK(first == 'f');

    } else {
        FUZZ_CHECK(first == (uint8_t) firsts[type]);
    }

    if (ev->member) {
        FUZZ_CHECK(ev->depth > 0);
        FUZZ_CHECK(ev->key_start + 2 <= ev->key_end
                   && ev->key_end <= ev->start);
        FUZZ_CHECK(r->doc[ev->key_start] == '"'
                   && r->doc[ev->key_end - 1] == '"');

        fuzz_json_decoded(r->doc + ev->key_start,
                          ev->key_end - ev->key_start, ev->key_len,
                          (uint64_t) -1, ev->key, ev->key_n);
    }

    if (ev->event == AI_RELEASE_JSON_BEGIN) {
        return;
    }

    FUZZ_CHECK(ev->start < ev->end && ev->end <= r->len);

    last = r->doc[ev->end - 1];

    if (type == AI_RELEASE_JSON_NUMBER) {
        FUZZ_CHECK(last >= '0' && last <= '9');
        FUZZ_CHECK(ev->len == ev->end - ev->start
                   && memcmp(ev->text, r->doc + ev->start, ev->text_n) == 0);

    } else {
        FUZZ_CHECK(last == (uint8_t) lasts[type]);
    }

    if (type == AI_RELEASE_JSON_STRING) {
        fuzz_json_decoded(r->doc + ev->start, ev->end - ev->start, ev->len,
                          ev->chars, ev->text, ev->text_n);
    }
}


/* a string's span, as jansson decodes it, against what the scanner said */

static void
fuzz_json_decoded(const uint8_t *p, size_t n, uint64_t len, uint64_t chars,
    const unsigned char *text, size_t text_n)
{
    size_t        i, k, count;
    json_t       *j;
    const char   *s;
    json_error_t  err;

    j = json_loadb((const char *) p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                   &err);

    FUZZ_CHECK(j != NULL && json_is_string(j));

    s = json_string_value(j);
    k = json_string_length(j);

    /* a key's first bytes are fewer when the path's keys fill their room */

    FUZZ_CHECK(k == len && text_n <= k);
    FUZZ_CHECK(memcmp(s, text, text_n) == 0);

    if (chars != (uint64_t) -1) {
        FUZZ_CHECK(text_n == (k < AI_RELEASE_JSON_STRING_MAX
                              ? k : AI_RELEASE_JSON_STRING_MAX));

        for (i = 0, count = 0; i < k; i++) {
            count += (((unsigned char) s[i] & 0xc0) != 0x80);
        }

        FUZZ_CHECK(count == chars);
    }

    json_decref(j);
}


/* the number readers: what they say is part of the events, and right */

static void
fuzz_json_number(fuzz_buf_t *b, const ai_release_json_event_t *ev)
{
    int       rc;
    char      s[AI_RELEASE_JSON_NUMBER_MAX + 1], *end;
    double    d;
    int64_t   i;
    uint64_t  u;

    memcpy(s, ev->text, ev->text_n);
    s[ev->text_n] = '\0';

    rc = ai_release_json_int(ev, &i);
    fuzz_buf_num(b, 'I', rc ? 0 : (uint64_t) i);

    if (rc == 0) {
        FUZZ_CHECK(strtoll(s, &end, 10) == i && *end == '\0');
    }

    rc = ai_release_json_uint(ev, &u);
    fuzz_buf_num(b, 'U', rc ? 1 : u);

    if (rc == 0 && ev->text[0] != '-') {
        FUZZ_CHECK(strtoull(s, &end, 10) == u && *end == '\0');
    }

    rc = ai_release_json_double(ev, &d);
    fuzz_buf_num(b, 'D', rc ? 1 : (uint64_t) (d != d));

    if (rc == 0) {
        FUZZ_CHECK(d == d && !ev->truncated);
    }
}


/* the verdict against jansson's, where both are defined (see above) */

static void
fuzz_json_verdict(const uint8_t *doc, size_t len, int rc, const char *error)
{
    json_t        *j;
    json_error_t   err;

    j = json_loadb((const char *) doc, len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                   &err);

    if (j != NULL) {
        json_decref(j);

        if (rc != AI_RELEASE_JSON_OK && memchr(doc, '\0', len) == NULL) {
            FUZZ_CHECK(error && strcmp(error, "nesting too deep") == 0);
        }

        return;
    }

    switch (json_error_code(&err)) {
    case json_error_null_byte_in_key:
    case json_error_numeric_overflow:
    case json_error_stack_overflow:
        return;
    default:
        break;
    }

    if (rc == AI_RELEASE_JSON_OK) {
        fprintf(stderr, "jansson: %s\n", err.text);
    }

    FUZZ_CHECK(rc == AI_RELEASE_JSON_ERROR);
}


static void
fuzz_sse_run(const uint8_t *s, size_t len, unsigned how, unsigned seed,
    fuzz_buf_t *out)
{
    int               mid, rc;
    size_t            pos, n;
    uint32_t          x;
    unsigned          k;
    fuzz_buf_t        ref;
    unsigned char    *piece;
    fuzz_sse_rec_t    r;
    ai_release_sse_t  sse;

    memset(&r, 0, sizeof(fuzz_sse_rec_t));
    r.rec.ptrs = fuzz_json_ptrs;
    r.stop_at = (seed & 0x80) ? 1 + (seed & 0x07) : 0;

    ai_release_json_init(&r.js, fuzz_json_event, &r.rec);
    r.js.chunk = fuzz_json_chunk;
    ai_release_sse_init(&sse, fuzz_sse_data, fuzz_sse_event, &r);

    x = seed * 2246822519U + 7;
    pos = 0;
    k = 0;

    do {
        n = fuzz_piece(how, 255 - seed, &x, k++, pos, len);

        piece = malloc(n ? n : 1);
        FUZZ_CHECK(piece != NULL);
        memcpy(piece, s + pos, n);

        rc = ai_release_sse_feed(&sse, piece, n);

        free(piece);

        FUZZ_CHECK(rc == AI_RELEASE_JSON_OK
                   || (rc == AI_RELEASE_JSON_STOP && sse.stopped
                       && r.events == r.stop_at));

        pos += n;

    } while (rc == AI_RELEASE_JSON_OK && pos < len);

    mid = ai_release_sse_finish(&sse);

    FUZZ_CHECK(sse.offset == pos);

    fuzz_buf_num(&r.out, 'M', mid);

    /*
     * fed whole: the same events as the reader that holds everything (up
     * to the event it stopped at)
     */

    if (how == FUZZ_WHOLE) {
        memset(&ref, 0, sizeof(fuzz_buf_t));
        sse_reference(s, len, &ref);

        if (sse.stopped) {
            ref.n = r.data.n < ref.n ? r.data.n : ref.n;
        }

        if (ref.n != r.data.n
            || (ref.n && memcmp(ref.p, r.data.p, ref.n) != 0))
        {
            fprintf(stderr, "reference:\n%.*s\nparser:\n%.*s\n",
                    (int) ref.n, ref.p, (int) r.data.n, r.data.p);
        }

        FUZZ_CHECK(ref.n == r.data.n
                   && (ref.n == 0 || memcmp(ref.p, r.data.p, ref.n) == 0));

        free(ref.p);
    }

    free(r.data.p);
    free(r.rec.out.p);

    *out = r.out;
}


static int
fuzz_sse_data(ai_release_sse_t *sse, const unsigned char *p, size_t n,
    void *data)
{
    fuzz_sse_rec_t  *r;

    (void) sse;

    FUZZ_CHECK(n > 0);

    r = data;

    fuzz_buf_add(&r->out, p, n);
    (void) ai_release_json_feed(&r->js, p, n);

    /* this event's data, compared with the reference's at the end */
    fuzz_buf_add(&r->data, p, n);

    return 0;
}


static int
fuzz_sse_event(ai_release_sse_t *sse, const ai_release_sse_event_t *ev,
    void *data)
{
    int              rc;
    fuzz_sse_rec_t  *r;

    (void) sse;

    r = data;

    FUZZ_CHECK(ev->lines > 0);
    FUZZ_CHECK(ev->name_n <= AI_RELEASE_SSE_NAME_MAX
               && ev->name_n <= ev->name_len);
    FUZZ_CHECK(ev->data_n <= AI_RELEASE_SSE_PREFIX_MAX
               && ev->data_n <= ev->data_len);

    /* the stream reader's record: name, lines, data */

    fuzz_buf_add(&r->out, "\n|", 2);
    fuzz_buf_add(&r->out, ev->name, ev->name_n);
    fuzz_buf_num(&r->out, 'N', ev->name_len);
    fuzz_buf_num(&r->out, 'L', ev->lines);
    fuzz_buf_num(&r->out, 'n', ev->data_len);
    fuzz_buf_add(&r->out, " ", 1);
    fuzz_buf_add(&r->out, ev->data, ev->data_n);

    /* the event's JSON */

    rc = ai_release_json_finish(&r->js);
    fuzz_buf_num(&r->out, 'J', rc == AI_RELEASE_JSON_OK);
    fuzz_buf_add(&r->out, r->rec.out.p, r->rec.out.n);

    r->rec.out.n = 0;
    ai_release_json_init(&r->js, fuzz_json_event, &r->rec);
    r->js.chunk = fuzz_json_chunk;

    /* the event as the reference writes it */

    sse_ref_event(&r->data, ev->name, ev->name_n, ev->lines);
    fuzz_buf_num(&r->data, 'n', ev->data_len);
    fuzz_buf_num(&r->data, 'N', ev->name_len);

    return r->stop_at && ++r->events == r->stop_at;
}


/*
 * The WHATWG steps on a stream held whole: lines ended by CR LF, LF or
 * CR; a blank line dispatches; an event not dispatched at the end is
 * dropped.  Writes what fuzz_sse_data() and fuzz_sse_event() write to
 * r->data: the data, then at dispatch the event's name (cut as the parser
 * cuts it), lines, data length and name length.
 */

static void
sse_reference(const uint8_t *s, size_t len, fuzz_buf_t *out)
{
    int             last;
    size_t          pos, eol, colon, vpos, name_len;
    uint64_t        lines, data_len;
    const uint8_t  *name;

    last = 0;
    pos = 0;
    lines = 0;
    data_len = 0;
    name = NULL;
    name_len = 0;

    if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
        pos = 3;
    }

    while (pos < len) {

        for (eol = pos; eol < len && s[eol] != '\r' && s[eol] != '\n'; eol++)
        {
            /* void */
        }

        /*
         * A last line without its end is not a line to WHATWG, but the
         * data of a "data:" line has been handed on as it came: the
         * reference writes it too (nothing else of the line counts).
         */

        if (eol == len) {
            last = 1;

            if (memchr(s + pos, ':', len - pos) == NULL) {
                break;
            }
        }

        if (eol == pos) {

            if (lines) {
                sse_ref_event(out, name_len ? name
                                            : (const uint8_t *) "message",
                              name_len ? name_len : 7, lines);
                fuzz_buf_num(out, 'n', data_len);
                fuzz_buf_num(out, 'N', name_len ? name_len : 7);
            }

            lines = 0;
            data_len = 0;
            name_len = 0;

        } else if (s[pos] != ':') {

            for (colon = pos; colon < eol && s[colon] != ':'; colon++) {
                /* void */
            }

            vpos = colon < eol ? colon + 1 : eol;

            if (vpos < eol && s[vpos] == ' ') {
                vpos++;
            }

            if (colon - pos == 4 && memcmp(s + pos, "data", 4) == 0) {
                if (lines++) {
                    fuzz_buf_add(out, "\n", 1);
                    data_len++;
                }

                fuzz_buf_add(out, s + vpos, eol - vpos);
                data_len += eol - vpos;

            } else if (colon - pos == 5 && memcmp(s + pos, "event", 5) == 0) {
                name = s + vpos;
                name_len = eol - vpos;
            }
        }

        if (last) {
            break;
        }

        pos = eol + 1;

        if (s[eol] == '\r' && pos < len && s[pos] == '\n') {
            pos++;
        }
    }
}


static void
sse_ref_event(fuzz_buf_t *out, const uint8_t *name, size_t name_len,
    uint64_t lines)
{
    fuzz_buf_add(out, "\n|", 2);
    fuzz_buf_add(out, name, name_len < AI_RELEASE_SSE_NAME_MAX
                            ? name_len : AI_RELEASE_SSE_NAME_MAX);
    fuzz_buf_num(out, 'L', lines);
}


#ifndef AI_RELEASE_NO_LIBFUZZER_MAIN

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_one_json(data, size);
}

#endif
