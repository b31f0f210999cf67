
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Unit tests of the streaming JSON scanner and the server-sent-events
 * parser (ai_release_json.c, ai_release_sse.c): a table of valid and
 * invalid documents with the error and its offset; every document fed
 * whole, a byte at a time and split in two at every offset must give the
 * same events, string bytes and verdict; the events of a document in
 * full; JSON Pointers; decoded string lengths; the number readers; two
 * handlers of the kind the module needs (the spans to splice in a chat
 * request, the decoded length of an answer's content); SSE line ends,
 * fields and the end of a stream, with JSON read per event.  TAP output.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai_release_json.h"
#include "tap.h"


#define MIB  (1024 * 1024)


/* a growing string */

typedef struct {
    char    *p;
    size_t   n;
    size_t   cap;
} buf_t;

/* what the recording handler writes, and how */

typedef struct {
    buf_t                             out;
    const ai_release_json_pointer_t  *ptrs;
    unsigned                          nptrs;
    unsigned                          events;
} rec_t;

/* the pieces a document is fed in */

typedef enum {
    FEED_WHOLE = 0,
    FEED_BYTES,         /* a byte at a time, with empty chunks between */
    FEED_CUT            /* [0, cut) and [cut, len) */
} feed_e;

/* what a way of feeding a document records it with */

typedef struct {
    const ai_release_json_pointer_t  *ptrs;
    unsigned                          nptrs;
    int                               json;    /* SSE: JSON per event */
} run_t;

typedef char *(*run_pt)(const unsigned char *doc, size_t len, feed_e how,
    size_t cut, const run_t *run);

typedef struct {
    const char  *doc;
    size_t       len;       /* 0: strlen(doc) */
    const char  *error;     /* NULL: valid */
    uint64_t     offset;
} json_case_t;


static void buf_add(buf_t *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void buf_raw(buf_t *b, const void *p, size_t n);
static void buf_esc(buf_t *b, const unsigned char *p, size_t n);
static int rec_event(ai_release_json_t *js,
    const ai_release_json_event_t *ev, void *data);
static int rec_chunk(ai_release_json_t *js, const unsigned char *p,
    size_t n, void *data);
static void feed_pieces(const unsigned char *doc, size_t len, feed_e how,
    size_t cut, int (*feed)(void *ctx, const unsigned char *p, size_t n),
    void *ctx);
static int json_feed_cb(void *ctx, const unsigned char *p, size_t n);
static char *json_run(const unsigned char *doc, size_t len, feed_e how,
    size_t cut, const ai_release_json_pointer_t *ptrs, unsigned nptrs);
static int json_splits(const unsigned char *doc, size_t len, size_t step,
    const ai_release_json_pointer_t *ptrs, unsigned nptrs);
static char *json_run_cb(const unsigned char *doc, size_t len, feed_e how,
    size_t cut, const run_t *run);
static int same_splits(const unsigned char *doc, size_t len, size_t step,
    run_pt fn, const run_t *run);
static char *sse_run(const unsigned char *s, size_t len, feed_e how,
    size_t cut, int json);
static int json_check(const unsigned char *doc, size_t len,
    const char **error, uint64_t *offset, ai_release_json_t *out);
static char *nest(unsigned depth);

static void test_table(void);
static void test_events(void);
static void test_huge(void);
static void test_pointers(void);
static void test_strings(void);
static void test_numbers(void);
static void test_splice(void);
static void test_answer(void);
static void test_sse(void);
static void test_sse_json(void);
static void test_stop(void);
static void test_sizes(void);
static void test_wanted(void);
static char *wanted_run(const unsigned char *doc, size_t len, feed_e how,
    size_t cut, const run_t *run);
static char *wanted_filter(const char *all, uint64_t begin, uint64_t end);
static int wanted_noop(ai_release_json_t *js, const unsigned char *p,
    size_t n, void *data);


/* when not 0, the recording handler stops at that event */
static unsigned  rec_stop_at;


static const json_case_t  cases[] = {

    /* valid */
    { "{}", 0, NULL, 0 },
    { "[]", 0, NULL, 0 },
    { "[ ]", 0, NULL, 0 },
    { "0", 0, NULL, 0 },
    { "-0", 0, NULL, 0 },
    { "1e5", 0, NULL, 0 },
    { "-12.5E-3", 0, NULL, 0 },
    { "1E+2", 0, NULL, 0 },
    { "0.0", 0, NULL, 0 },
    { "123456789012345678901234567890123456789", 0, NULL, 0 },
    { "\"a\"", 0, NULL, 0 },
    { "\"\"", 0, NULL, 0 },
    { "true", 0, NULL, 0 },
    { "false", 0, NULL, 0 },
    { "null", 0, NULL, 0 },
    { " \t\r\n{\"a\" : [1, 2.5, \"x\", true, false, null, {}, []]} \n", 0,
      NULL, 0 },
    { "\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"", 0, NULL, 0 },
    { "\"\\u0041\\u00e9\\u20AC\\uFFFF\"", 0, NULL, 0 },
    { "\"\\ud83d\\ude00\"", 0, NULL, 0 },
    { "\"\\uDBFF\\uDFFF\\uD800\\uDC00\"", 0, NULL, 0 },
    { "\"\\u0000\"", 0, NULL, 0 },
    { "\"\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 "
      "\xef\xbf\xbf \xf0\x90\x80\x80 \xf4\x8f\xbf\xbf\"", 0, NULL, 0 },
    { "\"\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \x7f\"", 0,
      NULL, 0 },
    { "{\"a\":1,\"a\":2}", 0, NULL, 0 },
    { "{\"a\":{\"b\":{\"c\":[[],{}]}}}", 0, NULL, 0 },
    { "{\"\\u00e9\\n\":\"k\"}", 0, NULL, 0 },
    { "[1,-1,0.5e-10,1E10,-0.0e+0]", 0, NULL, 0 },
    { "\"/\\/<>'\"", 0, NULL, 0 },
    { "1 ", 0, NULL, 0 },

    /* invalid: empty, truncated */
    { "", 0, "no value", 0 },
    { " \t\r\n ", 0, "no value", 5 },
    { "[", 0, "unterminated array", 1 },
    { "[1,2", 0, "unterminated array", 4 },
    { "{\"a\":1", 0, "unterminated object", 6 },
    { "{\"a\"", 0, "unterminated object", 4 },
    { "{", 0, "unterminated object", 1 },
    { "\"abc", 0, "unterminated string", 4 },
    { "\"\\", 0, "unterminated string", 2 },
    { "\"\\u12", 0, "unterminated string", 5 },
    { "\"\\ud800", 0, "unterminated string", 7 },
    { "\"\xc3", 0, "unterminated string", 2 },
    { "tru", 0, "unterminated literal", 3 },
    { "-", 0, "unterminated number", 1 },
    { "1.", 0, "unterminated number", 2 },
    { "1e", 0, "unterminated number", 2 },
    { "1e+", 0, "unterminated number", 3 },

    /* numbers */
    { "01", 0, "leading zero", 1 },
    { "-01", 0, "leading zero", 2 },
    { "1.e5", 0, "expected a digit after '.'", 2 },
    { "-a", 0, "expected a digit after '-'", 1 },
    { "[-]", 0, "expected a digit after '-'", 2 },
    { "1ex", 0, "expected a digit in the exponent", 2 },
    { "1.5e+-3", 0, "expected a digit in the exponent", 5 },
    { "+1", 0, "expected a value", 0 },
    { ".5", 0, "expected a value", 0 },
    { "0x10", 0, "data after the value", 1 },
    { "Infinity", 0, "expected a value", 0 },
    { "NaN", 0, "expected a value", 0 },
    { "1 2", 0, "data after the value", 2 },

    /* literals */
    { "trux", 0, "invalid literal", 3 },
    { "True", 0, "expected a value", 0 },
    { "nul", 0, "unterminated literal", 3 },
    { "fals", 0, "unterminated literal", 4 },
    { "nulll", 0, "data after the value", 4 },
    { "[true1]", 0, "expected ',' or ']'", 5 },

    /* structure */
    { "[1,]", 0, "expected a value", 3 },
    { "{\"a\":1,}", 0, "expected a key", 7 },
    { "{,}", 0, "expected a key or '}'", 1 },
    { "{\"a\"}", 0, "expected ':'", 4 },
    { "{\"a\" \"b\"}", 0, "expected ':'", 5 },
    { "{\"a\":}", 0, "expected a value", 5 },
    { "{1:2}", 0, "expected a key or '}'", 1 },
    { "[1 2]", 0, "expected ',' or ']'", 3 },
    { "[1}", 0, "expected ',' or ']'", 2 },
    { "{\"a\":1]", 0, "expected ',' or '}'", 6 },
    { "[1]]", 0, "data after the value", 3 },
    { "]", 0, "expected a value", 0 },
    { "{} x", 0, "data after the value", 3 },
    { "'a'", 0, "expected a value", 0 },
    { "\xef\xbb\xbf{}", 0, "expected a value", 0 },
    { "\0", 1, "expected a value", 0 },
    { "[1,\xc3\xa9]", 0, "expected a value", 3 },

    /* strings: controls and escapes */
    { "\"a\x01\"", 0, "control character in a string", 2 },
    { "\"a\0\"", 4, "control character in a string", 2 },
    { "\"a\nb\"", 0, "control character in a string", 2 },
    { "\"\x1f\"", 0, "control character in a string", 1 },
    { "\"\\x\"", 0, "invalid escape", 2 },
    { "\"\\U0041\"", 0, "invalid escape", 2 },
    { "\"\\'\"", 0, "invalid escape", 2 },
    { "\"\\u12G4\"", 0, "invalid \\u escape", 5 },
    { "\"\\u-123\"", 0, "invalid \\u escape", 3 },

    /* surrogates */
    { "\"\\ud800\"", 0, "lone high surrogate", 7 },
    { "\"\\ud800x\"", 0, "lone high surrogate", 7 },
    { "\"\\ud800\\n\"", 0, "lone high surrogate", 8 },
    { "\"\\udc00\"", 0, "lone low surrogate", 6 },
    { "\"\\uDFFF\"", 0, "lone low surrogate", 6 },
    { "\"\\ud800\\u0041\"", 0, "invalid low surrogate", 12 },
    { "\"\\ud800\\ud800\"", 0, "invalid low surrogate", 12 },
    { "\"\\udbff\\ue000\"", 0, "invalid low surrogate", 12 },

    /* UTF-8 */
    { "\"\xc0\x80\"", 0, "invalid UTF-8", 1 },
    { "\"\xc1\xbf\"", 0, "invalid UTF-8", 1 },
    { "\"\xe0\x80\x80\"", 0, "invalid UTF-8", 2 },
    { "\"\xe0\x9f\xbf\"", 0, "invalid UTF-8", 2 },
    { "\"\xf0\x80\x80\x80\"", 0, "invalid UTF-8", 2 },
    { "\"\xf0\x8f\xbf\xbf\"", 0, "invalid UTF-8", 2 },
    { "\"\xed\xa0\x80\"", 0, "invalid UTF-8", 2 },
    { "\"\xed\xbf\xbf\"", 0, "invalid UTF-8", 2 },
    { "\"\xf4\x90\x80\x80\"", 0, "invalid UTF-8", 2 },
    { "\"\xf5\x80\x80\x80\"", 0, "invalid UTF-8", 1 },
    { "\"\xff\"", 0, "invalid UTF-8", 1 },
    { "\"\x80\"", 0, "invalid UTF-8", 1 },
    { "\"\xbf\"", 0, "invalid UTF-8", 1 },
    { "\"\xe2\x82\"", 0, "invalid UTF-8", 3 },
    { "\"\xe2\x82" "a\"", 0, "invalid UTF-8", 3 },
    { "\"\xf0\x9f\x98\"", 0, "invalid UTF-8", 4 },
    { "\"\xc3\xa9\xc3\"", 0, "invalid UTF-8", 4 },
    { "\"abcdefghij\xc3\xa9\xc3(\"", 0, "invalid UTF-8", 14 },
};


int
main(void)
{
    test_table();
    test_events();
    test_huge();
    test_pointers();
    test_strings();
    test_numbers();
    test_splice();
    test_answer();
    test_sse();
    test_sse_json();
    test_stop();
    test_sizes();
    test_wanted();

    return tap_done();
}


static void
buf_add(buf_t *b, const char *fmt, ...)
{
    int      n;
    va_list  args;

    for ( ;; ) {
        va_start(args, fmt);
        n = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0,
                      fmt, args);
        va_end(args);

        if (n < 0) {
            abort();
        }

        if (b->p && (size_t) n < b->cap - b->n) {
            b->n += n;
            return;
        }

        b->cap = (b->cap + n + 1) * 2;
        b->p = realloc(b->p, b->cap);

        if (b->p == NULL) {
            abort();
        }
    }
}


static void
buf_raw(buf_t *b, const void *p, size_t n)
{
    if (b->p == NULL || b->cap - b->n < n + 1) {
        b->cap = (b->cap + n + 1) * 2;
        b->p = realloc(b->p, b->cap);

        if (b->p == NULL) {
            abort();
        }
    }

    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
}


/* printable ASCII as it is, '\' and '"' and everything else escaped */

static void
buf_esc(buf_t *b, const unsigned char *p, size_t n)
{
    char    hex[4] = { '\\', 'x', '0', '0' };
    size_t  i, j;

    for (i = 0; i < n; i = j) {
        for (j = i;
             j < n && p[j] >= 0x20 && p[j] < 0x7f && p[j] != '\\'
             && p[j] != '"';
             j++)
        {
            /* void */
        }

        if (j > i) {
            buf_raw(b, p + i, j - i);
            continue;
        }

        hex[2] = "0123456789abcdef"[p[j] >> 4];
        hex[3] = "0123456789abcdef"[p[j++] & 0xf];
        buf_raw(b, hex, 4);
    }
}


/* an event as a line; the bytes of strings come between their lines */

static int
rec_event(ai_release_json_t *js, const ai_release_json_event_t *ev,
    void *data)
{
    rec_t     *r;
    unsigned   i;

    r = data;

    buf_add(&r->out, "%c %s d%u ", ev->event == AI_RELEASE_JSON_BEGIN
                                   ? 'B' : 'E',
            ai_release_json_type_name(ev->type), ev->depth);

    if (ev->event == AI_RELEASE_JSON_BEGIN) {
        buf_add(&r->out, "@%" PRIu64, ev->start);

    } else {
        buf_add(&r->out, "[%" PRIu64 ",%" PRIu64 ")", ev->start, ev->end);
    }

    if (ev->depth && ev->member) {
        buf_add(&r->out, " k%" PRIu64 ":\"", ev->index);
        buf_esc(&r->out, ev->key, ev->key_n);
        buf_add(&r->out, "\"/%" PRIu64 "[%" PRIu64 ",%" PRIu64 ")",
                ev->key_len, ev->key_start, ev->key_end);

    } else if (ev->depth) {
        buf_add(&r->out, " i%" PRIu64, ev->index);
    }

    if (ev->event == AI_RELEASE_JSON_END) {

        switch (ev->type) {

        case AI_RELEASE_JSON_OBJECT:
        case AI_RELEASE_JSON_ARRAY:
            buf_add(&r->out, " n%" PRIu64, ev->count);
            break;

        case AI_RELEASE_JSON_STRING:
            buf_add(&r->out, " len%" PRIu64 " ch%" PRIu64 " \"", ev->len,
                    ev->chars);
            buf_esc(&r->out, ev->text, ev->text_n);
            buf_add(&r->out, "\"%s", ev->truncated ? "+" : "");
            break;

        case AI_RELEASE_JSON_NUMBER:
            buf_add(&r->out, " \"");
            buf_esc(&r->out, ev->text, ev->text_n);
            buf_add(&r->out, "\"/%" PRIu64 "%s", ev->len,
                    ev->truncated ? "+" : "");
            break;

        default:
            break;
        }
    }

    for (i = 0; i < r->nptrs; i++) {
        if (ai_release_json_at(js, &r->ptrs[i])) {
            buf_add(&r->out, " *%u", i);

        } else if (ai_release_json_under(js, &r->ptrs[i])) {
            buf_add(&r->out, " ^%u", i);
        }
    }

    buf_add(&r->out, "\n");

    if (rec_stop_at && ++r->events == rec_stop_at) {
        buf_add(&r->out, "stop\n");
        return 1;
    }

    return 0;
}


static int
rec_chunk(ai_release_json_t *js, const unsigned char *p, size_t n,
    void *data)
{
    rec_t  *r;

    (void) js;

    r = data;

    buf_esc(&r->out, p, n);

    return 0;
}


/*
 * Feeds doc in pieces, each copied into an allocation of exactly its
 * size (so that a read past a chunk is caught), until feed() is not 0.
 */

static void
feed_pieces(const unsigned char *doc, size_t len, feed_e how, size_t cut,
    int (*feed)(void *ctx, const unsigned char *p, size_t n), void *ctx)
{
    size_t          i;
    unsigned char  *piece;

    if (how == FEED_BYTES) {
        piece = malloc(1);

        if (piece == NULL) {
            abort();
        }

        for (i = 0; i < len; i++) {
            piece[0] = doc[i];

            if (feed(ctx, piece, 1) != 0 || feed(ctx, piece, 0) != 0) {
                break;
            }
        }

        free(piece);
        return;
    }

    if (how == FEED_WHOLE) {
        cut = len;
    }

    piece = malloc(cut ? cut : 1);

    if (piece == NULL) {
        abort();
    }

    memcpy(piece, doc, cut);

    if (feed(ctx, piece, cut) == 0) {
        free(piece);

        piece = malloc(len - cut ? len - cut : 1);

        if (piece == NULL) {
            abort();
        }

        memcpy(piece, doc + cut, len - cut);

        (void) feed(ctx, piece, len - cut);
    }

    free(piece);
}


static int
json_feed_cb(void *ctx, const unsigned char *p, size_t n)
{
    return ai_release_json_feed(ctx, p, n);
}


/* the events, string bytes and verdict of one way of feeding doc */

static char *
json_run(const unsigned char *doc, size_t len, feed_e how, size_t cut,
    const ai_release_json_pointer_t *ptrs, unsigned nptrs)
{
    int                rc;
    rec_t              r;
    ai_release_json_t  js;

    memset(&r, 0, sizeof(rec_t));
    r.ptrs = ptrs;
    r.nptrs = nptrs;

    ai_release_json_init(&js, rec_event, &r);
    js.chunk = rec_chunk;

    feed_pieces(doc, len, how, cut, json_feed_cb, &js);

    rc = ai_release_json_finish(&js);

    buf_add(&r.out, "= %d %s@%" PRIu64 " off%" PRIu64 "\n", rc,
            js.error ? js.error : "-", js.error_offset, js.offset);

    return r.out.p;
}


/*
 * Whether doc gives the same events and verdict whole, a byte at a time
 * and cut in two at every step-th offset (and at the last one).
 */

static int
json_splits(const unsigned char *doc, size_t len, size_t step,
    const ai_release_json_pointer_t *ptrs, unsigned nptrs)
{
    run_t  run;

    run.ptrs = ptrs;
    run.nptrs = nptrs;
    run.json = 1;

    return same_splits(doc, len, step, json_run_cb, &run);
}


static char *
json_run_cb(const unsigned char *doc, size_t len, feed_e how, size_t cut,
    const run_t *run)
{
    return json_run(doc, len, how, cut, run->ptrs, run->nptrs);
}


static int
same_splits(const unsigned char *doc, size_t len, size_t step, run_pt fn,
    const run_t *run)
{
    int     same;
    char   *whole, *other;
    size_t  cut;

    whole = fn(doc, len, FEED_WHOLE, 0, run);
    other = fn(doc, len, FEED_BYTES, 0, run);

    same = (strcmp(whole, other) == 0);

    if (!same) {
        printf("# whole:\n%s\n# a byte at a time:\n%s\n", whole, other);
    }

    free(other);

    for (cut = 0; same && cut <= len; cut += (cut + step > len && cut < len)
                                             ? len - cut : step)
    {
        other = fn(doc, len, FEED_CUT, cut, run);

        same = (strcmp(whole, other) == 0);

        if (!same) {
            printf("# whole:\n%s\n# cut at %zu:\n%s\n", whole, cut, other);
        }

        free(other);
    }

    free(whole);

    return same;
}


/* the verdict of doc fed whole, without a handler */

static int
json_check(const unsigned char *doc, size_t len, const char **error,
    uint64_t *offset, ai_release_json_t *out)
{
    int                 rc;
    ai_release_json_t  *js, local;

    js = out ? out : &local;

    ai_release_json_init(js, NULL, NULL);

    rc = ai_release_json_feed(js, doc, len);

    if (rc == AI_RELEASE_JSON_OK) {
        rc = ai_release_json_finish(js);
    }

    *error = js->error;
    *offset = js->error_offset;

    return rc;
}


/*
 * ai_release_json_events(): the events of the depths wanted are those of
 * a scanner that wants all (with the same keys, lengths and first bytes,
 * whether the strings' bytes are kept, handed on or only counted), at
 * any split, and the verdict is the same; ai_release_json_reset() keeps
 * what is wanted
 */

static const uint64_t  wanted_masks[][2] = {
    { UINT64_MAX, UINT64_MAX },     /* all, counted */
    { 0x7, 0xf },                   /* the apply planner's */
    { 0, 0x12 },                    /* a contract's: /model, /a/b/c/d */
    { 0x1, 0x1 },
    { 0, 0 },
    { (uint64_t) 1 << 63, (uint64_t) 1 << 63 }
};

static void
test_wanted(void)
{
    int                 same, rc;
    char               *all, *want, *got;
    size_t              i, k, len;
    run_t               run;
    uint64_t            masks[3];
    rec_t               r;
    ai_release_json_t   js;
    const char         *d;

    static const char  *docs[] = {
        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"system\","
        "\"content\":\"a \\\"quoted\\\" word, caf\xc3\xa9, \\u00e9 and "
        "\\ud83d\\ude00, a line\\nand a tab\\t and a slash \\/ and so on "
        "until the kept bytes are long gone \xe2\x80\x94 \\\\ end\"},"
        "{\"role\":\"user\",\"content\":\"\\b\\f\\r\",\"x\":[1,-2.5e3,"
        "true,false,null,{\"k\":{\"deep\":[\"\\u0041\\\"\",{}]}}]}],"
        "\"a long key of more than sixty-four bytes, kept only in part, "
        "and more\":0,\"temperature\":0.2}",
        "[{\"a\":{\"b\":{\"c\":{\"d\":\"0123456789012345678901234567890123"
        "456789012345678901234567890123456789\\n\"}}}}, \"x\" , 12 ]",
        "{\"a\":\"\\u00e9\\ud800\"}",
        "{\"a\":[1,2,{\"b\":\"\xff\"}]}",
        "{\"a\":{\"b\":\"\\q\"}}",
        "{\"a\":{\"b\":\"x\"}} x"
    };

    same = 1;

    for (i = 0; i < sizeof(docs) / sizeof(docs[0])
                    + sizeof(cases) / sizeof(cases[0]); i++)
    {
        if (i < sizeof(docs) / sizeof(docs[0])) {
            d = docs[i];
            len = strlen(d);

        } else {
            d = cases[i - sizeof(docs) / sizeof(docs[0])].doc;
            len = cases[i - sizeof(docs) / sizeof(docs[0])].len;
            len = len ? len : strlen(d);
        }

        /* all events, the strings' bytes handed on to a callback */

        memset(masks, 0, sizeof(masks));
        masks[2] = 1;
        run.ptrs = (const ai_release_json_pointer_t *) masks;
        all = wanted_run((const unsigned char *) d, len, FEED_WHOLE, 0, &run);

        for (k = 0; same && k < sizeof(wanted_masks) / sizeof(wanted_masks[0]);
             k++)
        {
            masks[0] = wanted_masks[k][0];
            masks[1] = wanted_masks[k][1];
            masks[2] = 0;

            want = wanted_filter(all, masks[0], masks[1]);
            got = wanted_run((const unsigned char *) d, len, FEED_WHOLE, 0,
                             &run);

            same = (strcmp(want, got) == 0);

            if (!same) {
                printf("# doc %zu, masks %#" PRIx64 " %#" PRIx64 "\n"
                       "# want:\n%s# got:\n%s", i, masks[0], masks[1],
                       want, got);
            }

            free(got);

            same = same && same_splits((const unsigned char *) d, len,
                                       len > 64 ? 7 : 1, wanted_run, &run);

            free(want);
        }

        free(all);
    }

    ok(same, "events at the depths wanted: as when all are, at any split "
             "(%zu documents, %zu masks)",
       sizeof(docs) / sizeof(docs[0]) + sizeof(cases) / sizeof(cases[0]),
       sizeof(wanted_masks) / sizeof(wanted_masks[0]));

    /* reset: the second document as a scanner set up anew sees it */

    memset(&r, 0, sizeof(rec_t));

    ai_release_json_init(&js, rec_event, &r);
    ai_release_json_events(&js, 0, 0x2);
    (void) ai_release_json_feed(&js, (const unsigned char *) "[1,", 3);

    /* what the first document gave is not compared */

    r.out.n = 0;

    ai_release_json_reset(&js);
    (void) ai_release_json_feed(&js, (const unsigned char *) docs[1],
                                strlen(docs[1]));
    rc = ai_release_json_finish(&js);

    masks[0] = 0;
    masks[1] = 0x2;
    masks[2] = 0;
    want = wanted_run((const unsigned char *) docs[1], strlen(docs[1]),
                      FEED_WHOLE, 0, &run);

    /* wanted_run() adds the verdict's line */

    buf_add(&r.out, "= %d %s@%" PRIu64 " off%" PRIu64 "\n", rc,
            js.error ? js.error : "-", js.error_offset, js.offset);

    if (!ok(r.out.p && strcmp(r.out.p, want) == 0,
            "reset: the next document with the events wanted before"))
    {
        printf("# want:\n%s# got:\n%s", want, r.out.p ? r.out.p : "");
    }

    free(r.out.p);
    free(want);
}


/*
 * The events and verdict with the events of run->ptrs' masks (a
 * uint64_t[3]: begin, end, and 1 for all events with a callback taking
 * the strings' bytes); the strings' bytes are not recorded
 */

static char *
wanted_run(const unsigned char *doc, size_t len, feed_e how, size_t cut,
    const run_t *run)
{
    int                rc;
    rec_t              r;
    const uint64_t    *masks;
    ai_release_json_t  js;

    masks = (const uint64_t *) run->ptrs;

    memset(&r, 0, sizeof(rec_t));

    ai_release_json_init(&js, rec_event, &r);

    if (masks[2]) {
        js.chunk = wanted_noop;

    } else {
        ai_release_json_events(&js, masks[0], masks[1]);
    }

    feed_pieces(doc, len, how, cut, json_feed_cb, &js);

    rc = ai_release_json_finish(&js);

    buf_add(&r.out, "= %d %s@%" PRIu64 " off%" PRIu64 "\n", rc,
            js.error ? js.error : "-", js.error_offset, js.offset);

    return r.out.p;
}


/* the lines of all whose events are at depths wanted */

static char *
wanted_filter(const char *all, uint64_t begin, uint64_t end)
{
    char        *out;
    size_t       n;
    unsigned     depth;
    uint64_t     mask;
    const char  *line, *next, *dp;

    out = malloc(strlen(all) + 1);

    if (out == NULL) {
        abort();
    }

    n = 0;

    for (line = all; *line; line = next) {
        next = strchr(line, '\n');
        next = next ? next + 1 : line + strlen(line);

        if (line[0] == 'B' || line[0] == 'E') {
            mask = (line[0] == 'B') ? begin : end;
            dp = strstr(line, " d");
            depth = (unsigned) strtoul(dp + 2, NULL, 10);

            if (!((mask >> (depth < 63 ? depth : 63)) & 1)) {
                continue;
            }
        }

        memcpy(out + n, line, next - line);
        n += next - line;
    }

    out[n] = '\0';

    return out;
}


static int
wanted_noop(ai_release_json_t *js, const unsigned char *p, size_t n,
    void *data)
{
    (void) js;
    (void) p;
    (void) n;
    (void) data;

    return 0;
}


/* depth arrays nested: [[...]] */

static char *
nest(unsigned depth)
{
    char      *s;
    unsigned   i;

    s = malloc(2 * depth + 1);

    if (s == NULL) {
        abort();
    }

    for (i = 0; i < depth; i++) {
        s[i] = '[';
        s[2 * depth - 1 - i] = ']';
    }

    s[2 * depth] = '\0';

    return s;
}


static void
test_table(void)
{
    int           rc, good;
    char         *deep;
    size_t        i, len;
    uint64_t      offset;
    const char   *error;
    json_case_t   c;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        c = cases[i];
        len = c.len ? c.len : strlen(c.doc);

        rc = json_check((const unsigned char *) c.doc, len, &error, &offset,
                        NULL);

        if (c.error == NULL) {
            good = (rc == AI_RELEASE_JSON_OK && error == NULL);

        } else {
            good = (rc == AI_RELEASE_JSON_ERROR && error != NULL
                    && strcmp(error, c.error) == 0 && offset == c.offset);
        }

        ok(good, "case %zu: %s (got %s at %" PRIu64 ")", i,
           c.error ? c.error : "valid", error ? error : "valid", offset);

        ok(json_splits((const unsigned char *) c.doc, len, 1, NULL, 0),
           "case %zu: the same whole, by bytes and cut anywhere", i);
    }

    /* nesting at the limit and one past it */

    deep = nest(AI_RELEASE_JSON_MAX_DEPTH);

    rc = json_check((const unsigned char *) deep, strlen(deep), &error,
                    &offset, NULL);
    ok(rc == AI_RELEASE_JSON_OK, "%d nested arrays are valid",
       AI_RELEASE_JSON_MAX_DEPTH);
    ok(json_splits((const unsigned char *) deep, strlen(deep), 1, NULL, 0),
       "%d nested arrays: the same however split",
       AI_RELEASE_JSON_MAX_DEPTH);
    free(deep);

    deep = nest(AI_RELEASE_JSON_MAX_DEPTH + 1);

    rc = json_check((const unsigned char *) deep, strlen(deep), &error,
                    &offset, NULL);
    ok(rc == AI_RELEASE_JSON_ERROR && error
       && strcmp(error, "nesting too deep") == 0
       && offset == AI_RELEASE_JSON_MAX_DEPTH,
       "%d nested arrays: nesting too deep at %d (got %s at %" PRIu64 ")",
       AI_RELEASE_JSON_MAX_DEPTH + 1, AI_RELEASE_JSON_MAX_DEPTH,
       error ? error : "valid", offset);
    ok(json_splits((const unsigned char *) deep, strlen(deep), 1, NULL, 0),
       "%d nested arrays: the same however split",
       AI_RELEASE_JSON_MAX_DEPTH + 1);
    free(deep);
}


/* the events of a document, in full */

static void
test_events(void)
{
    char                       *got;
    ai_release_json_pointer_t   ptrs[2];

    static const char  doc[] =
        "{\"a\":[1,\"x\"],\"b\":{\"c\":null}}";

    static const char  want[] =
        "B object d0 @0 *1\n"
        "B array d1 @5 k0:\"a\"/1[1,4) ^1\n"
        "B number d2 @6 i0 ^1\n"
        "E number d2 [6,7) i0 \"1\"/1 ^1\n"
        "B string d2 @8 i1 ^1\n"
        "xE string d2 [8,11) i1 len1 ch1 \"x\" ^1\n"
        "E array d1 [5,12) k0:\"a\"/1[1,4) n2 ^1\n"
        "B object d1 @17 k1:\"b\"/1[13,16) ^1\n"
        "B null d2 @22 k0:\"c\"/1[18,21) *0 ^1\n"
        "E null d2 [22,26) k0:\"c\"/1[18,21) *0 ^1\n"
        "E object d1 [17,27) k1:\"b\"/1[13,16) n1 ^1\n"
        "E object d0 [0,28) n2 *1\n"
        "= 0 -@0 off28\n";

    ok(ai_release_json_pointer_parse(&ptrs[0], "/b/c", 4) == 0
       && ai_release_json_pointer_parse(&ptrs[1], "", 0) == 0,
       "pointers /b/c and \"\" parse");

    got = json_run((const unsigned char *) doc, sizeof(doc) - 1, FEED_WHOLE,
                   0, ptrs, 2);

    if (!ok(strcmp(got, want) == 0, "the events of a document in full")) {
        printf("# got:\n%s# want:\n%s", got, want);
    }

    free(got);

    ok(json_splits((const unsigned char *) doc, sizeof(doc) - 1, 1, ptrs, 2),
       "... the same however split, with the pointers' matches");
}


/* a string of 1 MiB and more: counted, never held */

static void
test_huge(void)
{
    int                 rc;
    char               *want;
    size_t              i, len, n;
    uint64_t            offset;
    const char         *error;
    unsigned char      *doc;

    /* 9 bytes of source, 8 decoded bytes, 5 characters */
    static const char   piece[] = "ab\\n\xc3\xa9\xe2\x82\xac";

    n = (MIB + 8) / 9;
    len = 2 + n * 9;

    doc = malloc(len);

    if (doc == NULL) {
        abort();
    }

    doc[0] = '"';

    for (i = 0; i < n; i++) {
        memcpy(doc + 1 + i * 9, piece, 9);
    }

    doc[len - 1] = '"';

    rc = json_check(doc, len, &error, &offset, NULL);
    ok(rc == AI_RELEASE_JSON_OK, "a string of %zu bytes is valid", len);

    want = json_run(doc, len, FEED_WHOLE, 0, NULL, 0);
    ok(strstr(want, "len") && strtoull(strstr(want, "len") + 3, NULL, 10)
       == 8 * (uint64_t) n
       && strtoull(strstr(want, " ch") + 3, NULL, 10) == 5 * (uint64_t) n,
       "... its decoded length %zu and %zu characters", 8 * n, 5 * n);

    free(want);

    /*
     * a byte at a time, and cut in two at 64 places (the smaller documents
     * are cut at every offset)
     */

    ok(json_splits(doc, len, len / 64 + 1, NULL, 0),
       "... the same fed a byte at a time and cut at 64 places");

    free(doc);
}


static void
test_pointers(void)
{
    char                       *got, k64[66], k65[67], doc[512], p64[80];
    char                        deep[600], pdeep[300];
    size_t                      i;
    ai_release_json_pointer_t   ptr, ptrs[9];

    static const struct {
        const char  *text;
        int          rc;
        unsigned     n;
        const char  *last;       /* the last segment, decoded */
        uint32_t     index;      /* of the last segment */
    } parses[] = {
        { "", 0, 0, NULL, 0 },
        { "/", 0, 1, "", UINT32_MAX },
        { "/a~1b/~0c", 0, 2, "~c", UINT32_MAX },
        { "/~01", 0, 1, "~1", UINT32_MAX },
        { "/0", 0, 1, "0", 0 },
        { "/10", 0, 1, "10", 10 },
        { "/01", 0, 1, "01", UINT32_MAX },
        { "/-", 0, 1, "-", UINT32_MAX },
        { "/4294967294", 0, 1, "4294967294", 4294967294U },
        { "/4294967295", 0, 1, "4294967295", UINT32_MAX },
        { "/a//b/", 0, 4, "", UINT32_MAX },
        { "a", -1, 0, NULL, 0 },
        { "/~2", -1, 0, NULL, 0 },
        { "/a~", -1, 0, NULL, 0 },
        { "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16", 0, 16, "16", 16 },
        { "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17", -1, 0, NULL, 0 },
    };

    for (i = 0; i < sizeof(parses) / sizeof(parses[0]); i++) {
        int  rc, good;

        rc = ai_release_json_pointer_parse(&ptr, parses[i].text,
                                           strlen(parses[i].text));
        good = (rc == parses[i].rc);

        if (good && rc == 0) {
            good = (ptr.n == parses[i].n);

            if (good && ptr.n) {
                good = (ptr.len[ptr.n - 1] == strlen(parses[i].last)
                        && memcmp(ptr.buf + ptr.off[ptr.n - 1],
                                  parses[i].last, ptr.len[ptr.n - 1]) == 0
                        && ptr.index[ptr.n - 1] == parses[i].index);
            }
        }

        if (good && rc != 0) {
            good = (ptr.error != NULL);
        }

        ok(good, "pointer \"%s\": %s", parses[i].text,
           rc ? ptr.error : "parsed");
    }

    /* 64 bytes a segment, 256 in all */

    memset(k64, 'k', 64);
    k64[64] = '\0';
    memset(k65, 'k', 65);
    k65[65] = '\0';

    (void) snprintf(p64, sizeof(p64), "/%s", k64);
    ok(ai_release_json_pointer_parse(&ptr, p64, strlen(p64)) == 0,
       "a segment of 64 bytes parses");

    (void) snprintf(p64, sizeof(p64), "/%s", k65);
    ok(ai_release_json_pointer_parse(&ptr, p64, strlen(p64)) == -1
       && strstr(ptr.error, "64 bytes"),
       "a segment of 65 bytes does not: %s", ptr.error);

    (void) snprintf(pdeep, sizeof(pdeep), "/%s/%s/%s/%s/x", k64, k64, k64,
                    k64);
    ok(ai_release_json_pointer_parse(&ptr, pdeep, strlen(pdeep)) == -1
       && strstr(ptr.error, "256 bytes"),
       "segments of 257 bytes in all do not: %s", ptr.error);

    /* matching */

    (void) snprintf(doc, sizeof(doc),
                    "{\"a/b\":{\"~c\":[10,20,{\"\":true}]},\"x\":[{\"y\":1}],"
                    "\"%s\":1,\"%s\":2}", k65, k64);

    {
        static const char  *texts[] = {
            "", "/a~1b", "/a~1b/~0c/1", "/a~1b/~0c/2/", "/x/0/y",
            NULL, "/x/00/y", "/x/-", "/a~1b/~0c/3"
        };

        for (i = 0; i < 9; i++) {
            const char  *t = texts[i] ? texts[i] : p64;

            if (texts[i] == NULL) {
                (void) snprintf(p64, sizeof(p64), "/%s", k64);
            }

            if (ai_release_json_pointer_parse(&ptrs[i], t, strlen(t)) != 0) {
                ok(0, "pointer %s parses", t);
            }
        }
    }

    got = json_run((const unsigned char *) doc, strlen(doc), FEED_WHOLE, 0,
                   ptrs, 9);

    /*
     * *i: the value at pointer i, ^i: inside it; the 65-byte key, cut to
     * the same 64 bytes as the pointer /k{64}, matches nothing
     */

    {
        const char  *want[] = {
            "B object d0 @0 *0\n",
            "B object d1 @7 k0:\"a/b\"/3[1,6) ^0 *1\n",
            "B number d3 @17 i1 ^0 ^1 *2\n",
            "B true d4 @24 k0:\"\"/0[21,23) ^0 ^1 *3\n",
            "B number d3 @42 k0:\"y\"/1[38,41) ^0 *4\n",
            "E number d1 [183,184) k3:\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
            "kkkkkkkkkkkkkkkkkkkkkkkkkkk\"/64[116,182) \"2\"/1 ^0 *5\n",
            "E number d1 [114,115) k2:\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
            "kkkkkkkkkkkkkkkkkkkkkkkkkkk\"/65[46,113) \"1\"/1 ^0\n",
        };

        for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
            if (!ok(strstr(got, want[i]) != NULL, "pointer match: %.*s",
                    (int) strlen(want[i]) - 1, want[i]))
            {
                printf("# in:\n%s", got);
            }
        }

        ok(strstr(got, " *6") == NULL && strstr(got, " *7") == NULL
           && strstr(got, " *8") == NULL && strstr(got, " ^6") == NULL
           && strstr(got, " ^7") == NULL && strstr(got, " ^8") == NULL,
           "/x/00/y, /x/- and /a~1b/~0c/3 match nothing");
    }

    free(got);

    ok(json_splits((const unsigned char *) doc, strlen(doc), 1, ptrs, 9),
       "pointer matches: the same however split");

    /* the keys of a path share 256 bytes: a fifth key of 64 is not kept */

    (void) snprintf(deep, sizeof(deep),
                    "{\"%s\":{\"%s\":{\"%s\":{\"%s\":{\"%s\":[1]}}}}}",
                    k64, k64, k64, k64, k64);
    (void) snprintf(pdeep, sizeof(pdeep), "/%s/%s/%s/%s", k64, k64, k64,
                    k64);

    ok(ai_release_json_pointer_parse(&ptrs[0], pdeep, strlen(pdeep)) == 0,
       "a pointer of 4 segments of 64 bytes parses");

    got = json_run((const unsigned char *) deep, strlen(deep), FEED_WHOLE,
                   0, ptrs, 1);

    ok(strstr(got, "B object d4 @272 k0:\"kkkk") && strstr(got, " *0\n")
       && strstr(got, "B array d5 @340 k0:\"\"/64[273,339) ^0\n"),
       "the fourth level's key is kept and matches, the fifth is not kept");

    if (!ok(strstr(got, "B number d6 @341 i0 ^0\n") != NULL,
            "a value below the fifth level is under the pointer"))
    {
        printf("# in:\n%s", got);
    }

    free(got);
}


/* decoded lengths, characters and first bytes of strings */

static void
test_strings(void)
{
    char    *got, want[512];
    size_t   i;

    static const struct {
        const char  *doc;
        const char  *end;   /* the END event's tail: len, ch, text */
        const char  *bytes; /* the chunks, as rec_chunk writes them */
    } strings[] = {
        { "\"a\\u00e9\\ud83d\\ude00\\n\xe2\x82\xac\"",
          "len11 ch5 \"a\\xc3\\xa9\\xf0\\x9f\\x98\\x80\\x0a\\xe2\\x82\\xac\"",
          "a\\xc3\\xa9\\xf0\\x9f\\x98\\x80\\x0a\\xe2\\x82\\xac" },
        { "\"\\u0000\"", "len1 ch1 \"\\x00\"", "\\x00" },
        { "\"\"", "len0 ch0 \"\"", "" },
        { "\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\"",
          "len9 ch3 \"\\xe6\\x97\\xa5\\xe6\\x9c\\xac\\xe8\\xaa\\x9e\"",
          "\\xe6\\x97\\xa5\\xe6\\x9c\\xac\\xe8\\xaa\\x9e" },
        { "\"\\/\\b\\f\\r\\t\\\"\\\\\"",
          "len7 ch7 \"/\\x08\\x0c\\x0d\\x09\\x22\\x5c\"",
          "/\\x08\\x0c\\x0d\\x09\\x22\\x5c" },
        { "\"\\u0041\\u07FF\\u0800\\uffff\\uDBFF\\uDFFF\"",
          "len13 ch5 \"A\\xdf\\xbf\\xe0\\xa0\\x80\\xef\\xbf\\xbf"
          "\\xf4\\x8f\\xbf\\xbf\"",
          "A\\xdf\\xbf\\xe0\\xa0\\x80\\xef\\xbf\\xbf\\xf4\\x8f\\xbf\\xbf" },
        { "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
          "\\u00e9xxxxxxx\"",
          "len70 ch69 \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
          "xxxxxxxxx\\xc3\\xa9x\"+",
          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
          "\\xc3\\xa9xxxxxxx" },
    };

    for (i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        got = json_run((const unsigned char *) strings[i].doc,
                       strlen(strings[i].doc), FEED_WHOLE, 0, NULL, 0);

        (void) snprintf(want, sizeof(want),
                        "B string d0 @0\n%sE string d0 [0,%zu) %s\n"
                        "= 0 -@0 off%zu\n",
                        strings[i].bytes, strlen(strings[i].doc),
                        strings[i].end, strlen(strings[i].doc));

        if (!ok(strcmp(got, want) == 0, "string %zu: %s", i,
                strings[i].end))
        {
            printf("# got:\n%s# want:\n%s", got, want);
        }

        free(got);

        ok(json_splits((const unsigned char *) strings[i].doc,
                       strlen(strings[i].doc), 1, NULL, 0),
           "string %zu: the same however split", i);
    }
}


static int
number_event(ai_release_json_t *js, const ai_release_json_event_t *ev,
    void *data)
{
    (void) js;

    if (ev->event == AI_RELEASE_JSON_END) {
        *(ai_release_json_event_t *) data = *ev;
    }

    return 0;
}


static void
test_numbers(void)
{
    int                      irc, urc, drc;
    double                   d;
    size_t                   i;
    int64_t                  s;
    uint64_t                 u;
    ai_release_json_t        js;
    ai_release_json_event_t  ev;

    static const struct {
        const char  *text;
        int          irc;
        int64_t      i;
        int          urc;
        uint64_t     u;
        int          drc;
        double       d;
    } numbers[] = {
        { "0", 0, 0, 0, 0, 0, 0.0 },
        { "-0", 0, 0, 0, 0, 0, -0.0 },
        { "42", 0, 42, 0, 42, 0, 42.0 },
        { "-42", 0, -42, -1, 0, 0, -42.0 },
        { "9223372036854775807", 0, INT64_MAX, 0, INT64_MAX, 0,
          9223372036854775807.0 },
        { "-9223372036854775808", 0, INT64_MIN, -1, 0, 0,
          -9223372036854775808.0 },
        { "9223372036854775808", -1, 0, 0, 9223372036854775808ULL, 0,
          9223372036854775808.0 },
        { "-9223372036854775809", -1, 0, -1, 0, 0, -9223372036854775809.0 },
        { "18446744073709551615", -1, 0, 0, UINT64_MAX, 0,
          18446744073709551615.0 },
        { "18446744073709551616", -1, 0, -1, 0, 0, 18446744073709551616.0 },
        { "1.0", -1, 0, -1, 0, 0, 1.0 },
        { "1e5", -1, 0, -1, 0, 0, 1e5 },
        { "-12.5E-3", -1, 0, -1, 0, 0, -12.5E-3 },
        { "1e999", -1, 0, -1, 0, -1, 0 },
        { "-1e999", -1, 0, -1, 0, -1, 0 },
        { "1e-400", -1, 0, -1, 0, 0, 0.0 },
        { "0.123456789012345678901234567890", -1, 0, -1, 0, 0,
          0.123456789012345678901234567890 },
        { "0.12345678901234567890123456789012", -1, 0, -1, 0, -1, 0 },
        { "1234567890123456789012345678901234567890", -1, 0, -1, 0, -1, 0 },
    };

    for (i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
        memset(&ev, 0, sizeof(ev));

        ai_release_json_init(&js, number_event, &ev);
        (void) ai_release_json_feed(&js,
                                    (const unsigned char *) numbers[i].text,
                                    strlen(numbers[i].text));

        if (ai_release_json_finish(&js) != AI_RELEASE_JSON_OK
            || ev.type != AI_RELEASE_JSON_NUMBER)
        {
            ok(0, "number %s scans", numbers[i].text);
            continue;
        }

        s = 1;
        u = 1;
        d = 1;

        irc = ai_release_json_int(&ev, &s);
        urc = ai_release_json_uint(&ev, &u);
        drc = ai_release_json_double(&ev, &d);

        ok(irc == numbers[i].irc && (irc || s == numbers[i].i)
           && urc == numbers[i].urc && (urc || u == numbers[i].u)
           && drc == numbers[i].drc && (drc || d == numbers[i].d),
           "number %s: int %d %" PRId64 ", uint %d %" PRIu64 ", double %d %g",
           numbers[i].text, irc, s, urc, u, drc, d);
    }

    /* not a number: every reader refuses */

    memset(&ev, 0, sizeof(ev));
    ai_release_json_init(&js, number_event, &ev);
    (void) ai_release_json_feed(&js, (const unsigned char *) "\"1\"", 3);
    (void) ai_release_json_finish(&js);

    ok(ev.type == AI_RELEASE_JSON_STRING
       && ai_release_json_int(&ev, &s) == -1
       && ai_release_json_uint(&ev, &u) == -1
       && ai_release_json_double(&ev, &d) == -1,
       "a string is no number to the readers");
}


/*
 * The splice use case: the spans of the top-level members "model",
 * "messages" and "tools", of messages[0], its role, and where
 * messages[1] starts.
 */

typedef struct {
    uint64_t                   member[3][2];   /* [key_start, end) */
    uint64_t                   value[3][2];    /* [start, end) */
    uint64_t                   first[2];       /* messages[0] */
    uint64_t                   second;         /* messages[1] start */
    char                       role[AI_RELEASE_JSON_STRING_MAX + 1];
    ai_release_json_pointer_t  msg0;
    ai_release_json_pointer_t  role0;
    ai_release_json_pointer_t  msg1;
} splice_t;


static int
splice_event(ai_release_json_t *js, const ai_release_json_event_t *ev,
    void *data)
{
    int        i;
    splice_t  *sp;

    static const char  *names[] = { "model", "messages", "tools" };

    sp = data;

    if (ev->event == AI_RELEASE_JSON_BEGIN) {
        if (ai_release_json_at(js, &sp->msg1)) {
            sp->second = ev->start;
        }

        return 0;
    }

    if (ev->depth == 1) {
        for (i = 0; i < 3; i++) {
            if (ev->key_len == strlen(names[i])
                && ev->key_n == ev->key_len
                && memcmp(ev->key, names[i], ev->key_n) == 0)
            {
                sp->member[i][0] = ev->key_start;
                sp->member[i][1] = ev->end;
                sp->value[i][0] = ev->start;
                sp->value[i][1] = ev->end;
            }
        }
    }

    if (ai_release_json_at(js, &sp->msg0)) {
        sp->first[0] = ev->start;
        sp->first[1] = ev->end;
    }

    if (ai_release_json_at(js, &sp->role0)
        && ev->type == AI_RELEASE_JSON_STRING && !ev->truncated)
    {
        memcpy(sp->role, ev->text, ev->text_n);
        sp->role[ev->text_n] = '\0';
    }

    return 0;
}


static int
splice_feed_cb(void *ctx, const unsigned char *p, size_t n)
{
    return ai_release_json_feed(ctx, p, n);
}


static void
test_splice(void)
{
    int                 good, rc;
    buf_t               out;
    size_t              cut, len;
    splice_t            sp, first;
    uint64_t            offset;
    const char         *error;
    feed_e              how;
    ai_release_json_t   js;

    static const char  body[] =
        "{\"model\":\"gpt-4o\",\n"
        " \"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
        "{\"role\":\"user\",\"content\":\"Hi \\\"there\\\" \xc3\xa9\"}],\n"
        " \"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\","
        "\"parameters\":{\"type\":\"object\"}}}],\"stream\":true}";

    static const char  want[] =
        "{\"model\":\"other\",\n"
        " \"messages\":[{\"role\":\"developer\",\"content\":\"New.\"},"
        "{\"role\":\"user\",\"content\":\"Hi \\\"there\\\" \xc3\xa9\"}],\n"
        " \"stream\":true}";

    len = sizeof(body) - 1;
    good = 1;
    memset(&first, 0, sizeof(splice_t));

    for (cut = 0; cut <= len + 1; cut++) {
        how = (cut == len + 1) ? FEED_BYTES : FEED_CUT;

        memset(&sp, 0, sizeof(splice_t));

        if (ai_release_json_pointer_parse(&sp.msg0, "/messages/0", 11) != 0
            || ai_release_json_pointer_parse(&sp.role0, "/messages/0/role",
                                             16) != 0
            || ai_release_json_pointer_parse(&sp.msg1, "/messages/1", 11)
               != 0)
        {
            good = 0;
            break;
        }

        ai_release_json_init(&js, splice_event, &sp);
        feed_pieces((const unsigned char *) body, len, how, cut,
                    splice_feed_cb, &js);

        if (ai_release_json_finish(&js) != AI_RELEASE_JSON_OK) {
            good = 0;
            break;
        }

        if (cut == 0) {
            first = sp;

        } else if (memcmp(first.member, sp.member, sizeof(sp.member)) != 0
                   || memcmp(first.value, sp.value, sizeof(sp.value)) != 0
                   || memcmp(first.first, sp.first, sizeof(sp.first)) != 0
                   || first.second != sp.second
                   || strcmp(first.role, sp.role) != 0)
        {
            good = 0;
        }
    }

    ok(good, "splice spans: the same however the body is split");

    sp = first;

#define span(s)  (int) ((s)[1] - (s)[0]), body + (s)[0]

    ok(sp.member[0][1] - sp.member[0][0] == 16
       && memcmp(body + sp.member[0][0], "\"model\":\"gpt-4o\"", 16) == 0
       && memcmp(body + sp.value[0][0], "\"gpt-4o\"", 8) == 0
       && sp.value[0][1] - sp.value[0][0] == 8,
       "the member model: %.*s", span(sp.member[0]));

    ok(body[sp.value[1][0]] == '[' && body[sp.value[1][1] - 1] == ']'
       && memcmp(body + sp.member[1][0], "\"messages\":[", 12) == 0
       && body[sp.value[1][1]] == ',',
       "the member messages: %.*s", span(sp.member[1]));

    ok(memcmp(body + sp.member[2][0], "\"tools\":[{", 10) == 0
       && memcmp(body + sp.value[2][1] - 4, "}}}]", 4) == 0
       && memcmp(body + sp.value[2][1], ",\"stream\"", 9) == 0,
       "the member tools: %.*s", span(sp.member[2]));

    ok(strcmp(sp.role, "system") == 0
       && memcmp(body + sp.first[0], "{\"role\":\"system\"", 16) == 0
       && body[sp.first[1] - 1] == '}' && body[sp.first[1]] == ','
       && sp.second == sp.first[1] + 1,
       "messages[0] (role %s): %.*s", sp.role, span(sp.first));

#undef span

    /*
     * The splice: model's value replaced, messages[0] replaced (its role
     * is system), tools dropped.
     */

    memset(&out, 0, sizeof(buf_t));
    buf_raw(&out, body, sp.value[0][0]);
    buf_raw(&out, "\"other\"", 7);
    buf_raw(&out, body + sp.value[0][1], sp.first[0] - sp.value[0][1]);
    buf_raw(&out, "{\"role\":\"developer\",\"content\":\"New.\"}", 37);

    /* the member tools goes with the comma after it */
    buf_raw(&out, body + sp.first[1], sp.member[2][0] - sp.first[1]);
    buf_raw(&out, body + sp.member[2][1] + 1, len - sp.member[2][1] - 1);

    if (!ok(strcmp(out.p, want) == 0, "the spliced body")) {
        printf("# got:\n%s\n# want:\n%s\n", out.p, want);
    }

    rc = json_check((const unsigned char *) out.p, out.n, &error, &offset,
                    NULL);
    ok(rc == AI_RELEASE_JSON_OK, "the spliced body is JSON");

    free(out.p);
}


/*
 * The answer's signals: the decoded length of /choices/0/message/content
 * (counted through the chunk callback, turned on at its BEGIN event), the
 * finish reason, the number of tool calls, usage.completion_tokens.
 */

typedef struct {
    uint64_t                   content;       /* decoded bytes */
    uint64_t                   chunked;       /* the same, from chunks */
    int64_t                    tokens;
    uint64_t                   tool_calls;
    char                       finish[AI_RELEASE_JSON_STRING_MAX + 1];
    ai_release_json_pointer_t  ptr[4];
} answer_t;


static int
answer_chunk(ai_release_json_t *js, const unsigned char *p, size_t n,
    void *data)
{
    (void) js;
    (void) p;

    ((answer_t *) data)->chunked += n;

    return 0;
}


static int
answer_event(ai_release_json_t *js, const ai_release_json_event_t *ev,
    void *data)
{
    answer_t  *a;

    a = data;

    if (ev->event == AI_RELEASE_JSON_BEGIN) {
        js->chunk = (ev->type == AI_RELEASE_JSON_STRING
                     && ai_release_json_at(js, &a->ptr[0]))
                    ? answer_chunk : NULL;
        return 0;
    }

    if (ai_release_json_at(js, &a->ptr[0])
        && ev->type == AI_RELEASE_JSON_STRING)
    {
        a->content = ev->len;

    } else if (ai_release_json_at(js, &a->ptr[1])
               && ev->type == AI_RELEASE_JSON_STRING)
    {
        memcpy(a->finish, ev->text, ev->text_n);
        a->finish[ev->text_n] = '\0';

    } else if (ai_release_json_at(js, &a->ptr[2])
               && ev->type == AI_RELEASE_JSON_ARRAY)
    {
        a->tool_calls = ev->count;

    } else if (ai_release_json_at(js, &a->ptr[3])
               && ai_release_json_int(ev, &a->tokens) != 0)
    {
        a->tokens = -1;
    }

    return 0;
}


static void
answer_init(answer_t *a)
{
    memset(a, 0, sizeof(answer_t));

    (void) ai_release_json_pointer_parse(&a->ptr[0],
                                         "/choices/0/message/content", 26);
    (void) ai_release_json_pointer_parse(&a->ptr[1],
                                         "/choices/0/finish_reason", 24);
    (void) ai_release_json_pointer_parse(&a->ptr[2],
                                         "/choices/0/message/tool_calls", 29);
    (void) ai_release_json_pointer_parse(&a->ptr[3],
                                         "/usage/completion_tokens", 24);
}


static void
test_answer(void)
{
    int                good;
    size_t             cut, len;
    answer_t           a;
    ai_release_json_t  js;

    /* content: "Héllo "w" 😀\n" = 1+2+3+1+3+1+4+1 = 16 decoded bytes */

    static const char  answer[] =
        "{\"id\":\"c1\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
        "\"assistant\",\"content\":\"H\\u00e9llo \\\"w\\\" \xf0\x9f\x98\x80"
        "\\n\",\"tool_calls\":[{\"id\":\"t1\"},{\"id\":\"t2\"}]},"
        "\"finish_reason\":\"tool_calls\"},{\"index\":1,\"message\":"
        "{\"content\":\"other\"}}],"
        "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":12}}";

    len = sizeof(answer) - 1;
    good = 1;

    for (cut = 0; cut <= len + 1; cut++) {
        answer_init(&a);

        ai_release_json_init(&js, answer_event, &a);
        feed_pieces((const unsigned char *) answer, len,
                    cut == len + 1 ? FEED_BYTES : FEED_CUT, cut,
                    splice_feed_cb, &js);

        if (ai_release_json_finish(&js) != AI_RELEASE_JSON_OK
            || a.content != 16 || a.chunked != 16 || a.tokens != 12
            || a.tool_calls != 2 || strcmp(a.finish, "tool_calls") != 0)
        {
            good = 0;
            printf("# cut %zu: content %" PRIu64 " chunked %" PRIu64
                   " tokens %" PRId64 " tool_calls %" PRIu64 " finish %s\n",
                   cut, a.content, a.chunked, a.tokens, a.tool_calls,
                   a.finish);
            break;
        }
    }

    ok(good, "the answer's content is 16 decoded bytes, 2 tool calls, "
       "finish_reason tool_calls, 12 completion tokens, however split");
}


/* server-sent events */

typedef struct {
    buf_t              out;
    int                json;       /* read each event's data as JSON */
    ai_release_json_t  js;
    rec_t              rec;
} sse_rec_t;


static int
sse_rec_data(ai_release_sse_t *sse, const unsigned char *p, size_t n,
    void *data)
{
    sse_rec_t  *r;

    (void) sse;

    r = data;

    if (r->json) {
        (void) ai_release_json_feed(&r->js, p, n);

    } else {
        buf_esc(&r->out, p, n);
    }

    return 0;
}


static int
sse_rec_event(ai_release_sse_t *sse, const ai_release_sse_event_t *ev,
    void *data)
{
    int         rc;
    sse_rec_t  *r;

    (void) sse;

    r = data;

    buf_add(&r->out, "|");
    buf_esc(&r->out, ev->name, ev->name_n);
    buf_add(&r->out, "/%" PRIu64 " L%" PRIu64 " n%" PRIu64 " \"",
            ev->name_len, ev->lines, ev->data_len);
    buf_esc(&r->out, ev->data, ev->data_n);
    buf_add(&r->out, "\"|\n");

    if (r->json) {
        rc = ai_release_json_finish(&r->js);

        if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0) {
            buf_add(&r->out, "done\n");

        } else {
            buf_raw(&r->out, r->rec.out.p ? r->rec.out.p : "",
                    r->rec.out.n);
            buf_add(&r->out, "json %d %s@%" PRIu64 "\n", rc,
                    r->js.error ? r->js.error : "-", r->js.error_offset);
        }

        r->rec.out.n = 0;
        ai_release_json_init(&r->js, rec_event, &r->rec);
        r->js.chunk = rec_chunk;
    }

    return 0;
}


static int
sse_feed_cb(void *ctx, const unsigned char *p, size_t n)
{
    return ai_release_sse_feed(ctx, p, n);
}


static char *
sse_run(const unsigned char *s, size_t len, feed_e how, size_t cut, int json)
{
    int               mid;
    sse_rec_t         r;
    ai_release_sse_t  sse;

    memset(&r, 0, sizeof(sse_rec_t));
    r.json = json;

    ai_release_json_init(&r.js, rec_event, &r.rec);
    r.js.chunk = rec_chunk;
    ai_release_sse_init(&sse, sse_rec_data, sse_rec_event, &r);

    feed_pieces(s, len, how, cut, sse_feed_cb, &sse);

    mid = ai_release_sse_finish(&sse);

    buf_add(&r.out, "mid=%d events=%" PRIu64, mid, sse.events);

    free(r.rec.out.p);

    return r.out.p;
}


static char *
sse_run_cb(const unsigned char *s, size_t len, feed_e how, size_t cut,
    const run_t *run)
{
    return sse_run(s, len, how, cut, run->json);
}


static int
sse_splits(const unsigned char *s, size_t len, int json)
{
    run_t  run;

    run.ptrs = NULL;
    run.nptrs = 0;
    run.json = json;

    return same_splits(s, len, 1, sse_run_cb, &run);
}


static void
test_sse(void)
{
    char    *got;
    size_t   i;

    static const struct {
        const char  *name;
        const char  *stream;
        const char  *want;
    } streams[] = {
        { "LF", "data: a\n\n",
          "a|message/7 L1 n1 \"a\"|\nmid=0 events=1" },
        { "CRLF", "event: x\r\ndata: b\r\n\r\n",
          "b|x/1 L1 n1 \"b\"|\nmid=0 events=1" },
        { "CR", "data: c\r\rdata: d\r\r",
          "c|message/7 L1 n1 \"c\"|\nd|message/7 L1 n1 \"d\"|\n"
          "mid=0 events=2" },
        { "CR LF as one line end", "data: a\r\ndata: b\r\n\r\n",
          "a\\x0ab|message/7 L2 n3 \"a\\x0ab\"|\nmid=0 events=1" },
        { "LF CR as two", "data: a\n\rdata: b\n\n",
          "a|message/7 L1 n1 \"a\"|\nb|message/7 L1 n1 \"b\"|\n"
          "mid=0 events=2" },
        { "data lines joined", "data: a\ndata: b\ndata\ndata:c\n\n",
          "a\\x0ab\\x0a\\x0ac|message/7 L4 n6 \"a\\x0ab\\x0a\\x0ac\"|\n"
          "mid=0 events=1" },
        { "one space dropped, not two", "data:x\ndata:  y\n\n",
          "x\\x0a y|message/7 L2 n4 \"x\\x0a y\"|\nmid=0 events=1" },
        { "empty data", "data\n\ndata:\n\n",
          "|message/7 L1 n0 \"\"|\n|message/7 L1 n0 \"\"|\nmid=0 events=2" },
        { "comments", ": ping\n:\n\n: x\ndata: a\n: y\n\n",
          "a|message/7 L1 n1 \"a\"|\nmid=0 events=1" },
        { "no data, no event; the name forgotten",
          "event: e\n\ndata: a\n\n",
          "a|message/7 L1 n1 \"a\"|\nmid=0 events=1" },
        { "event names", "event: message_stop\ndata: {}\n\n"
          "event:ping\nevent: pong\ndata: 1\n\n",
          "{}|message_stop/12 L1 n2 \"{}\"|\n1|pong/4 L1 n1 \"1\"|\n"
          "mid=0 events=2" },
        { "a long name, long data",
          "event: 0123456789abcdef0123456789abcdefXYZ\n"
          "data: 0123456789abcdefXYZ\n\n",
          "0123456789abcdefXYZ|0123456789abcdef0123456789abcdef/35 L1 n19 "
          "\"0123456789abcdef\"|\nmid=0 events=1" },
        { "other fields", "id: 7\nretry: 10\nfoo: bar\ndat: x\ndatas: y\n"
          "Data: z\n\ndata: [DONE]\n\n",
          "[DONE]|message/7 L1 n6 \"[DONE]\"|\nmid=0 events=1" },
        { "a BOM", "\xef\xbb\xbf" "data: a\n\n",
          "a|message/7 L1 n1 \"a\"|\nmid=0 events=1" },
        { "a broken BOM", "\xef\xbb" "data: a\n\ndata: b\n\n",
          "b|message/7 L1 n1 \"b\"|\nmid=0 events=1" },
        { "a second BOM", "\xef\xbb\xbf\xef\xbb\xbf" "data: a\n\n",
          "mid=0 events=0" },
        { "ends mid-event: no blank line", "data: a\n\ndata: b\n",
          "a|message/7 L1 n1 \"a\"|\nbmid=1 events=1" },
        { "ends mid-event: inside a data line", "data: a",
          "amid=1 events=0" },
        { "ends mid-event: inside a name line", "event: message_st",
          "mid=1 events=0" },
        { "ends at a comment", "data: a\n\n: keep-alive",
          "a|message/7 L1 n1 \"a\"|\nmid=0 events=1" },
        { "ends after a name", "data: a\n\nevent: x\n",
          "a|message/7 L1 n1 \"a\"|\nmid=0 events=1" },
        { "ends with CR", "data: a\r\r",
          "a|message/7 L1 n1 \"a\"|\nmid=0 events=1" },
        { "empty", "", "mid=0 events=0" },
        { "a partial BOM only", "\xef\xbb", "mid=1 events=0" },
    };

    for (i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
        got = sse_run((const unsigned char *) streams[i].stream,
                      strlen(streams[i].stream), FEED_WHOLE, 0, 0);

        if (!ok(strcmp(got, streams[i].want) == 0, "sse: %s",
                streams[i].name))
        {
            printf("# got:\n%s\n# want:\n%s\n", got, streams[i].want);
        }

        free(got);

        ok(sse_splits((const unsigned char *) streams[i].stream,
                      strlen(streams[i].stream), 0),
           "sse: %s: the same however split", streams[i].name);
    }
}


/* SSE streams with a JSON scanner per event */

typedef struct {
    int                        done;       /* [DONE] seen */
    int                        stop;       /* message_stop seen */
    int                        bad;        /* events not JSON */
    uint64_t                   events;
    buf_t                      content;    /* choices/0/delta/content */
    ai_release_json_pointer_t  ptr;
    ai_release_json_t          js;
} stream_t;


static int
stream_chunk(ai_release_json_t *js, const unsigned char *p, size_t n,
    void *data)
{
    (void) js;

    buf_raw(&((stream_t *) data)->content, p, n);

    return 0;
}


static int
stream_json(ai_release_json_t *js, const ai_release_json_event_t *ev,
    void *data)
{
    stream_t  *st;

    st = data;

    if (ev->event == AI_RELEASE_JSON_BEGIN) {
        js->chunk = (ev->type == AI_RELEASE_JSON_STRING
                     && ai_release_json_at(js, &st->ptr))
                    ? stream_chunk : NULL;
    }

    return 0;
}


static int
stream_data(ai_release_sse_t *sse, const unsigned char *p, size_t n,
    void *data)
{
    (void) sse;

    (void) ai_release_json_feed(&((stream_t *) data)->js, p, n);

    return 0;
}


static int
stream_event(ai_release_sse_t *sse, const ai_release_sse_event_t *ev,
    void *data)
{
    stream_t  *st;

    (void) sse;

    st = data;
    st->events++;

    if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0) {
        st->done = 1;

    } else if (ai_release_json_finish(&st->js) != AI_RELEASE_JSON_OK) {
        st->bad++;
    }

    if (ev->name_len == 12 && memcmp(ev->name, "message_stop", 12) == 0) {
        st->stop = 1;
    }

    ai_release_json_init(&st->js, stream_json, st);

    return 0;
}


static void
test_sse_json(void)
{
    int               good, mid;
    char             *got;
    size_t            cut, len, i;
    stream_t          st;
    ai_release_sse_t  sse;

    static const char  openai[] =
        "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\r\n\r\n"
        ": keep-alive\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"lo \\u00e9\"},"
        "\"finish_reason\":null}]}\r\r"
        "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\n"
        "data: \"usage\":{\"completion_tokens\":3}}\n\n"
        "data: [DONE]\n\n";

    static const char  anthropic[] =
        "event: message_start\ndata: {\"type\":\"message_start\"}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
        "\"delta\":{\"text\":\"Hi\"}}\n\n"
        "event: ping\ndata: {\"type\": \"ping\"}\n\n"
        "event: broken\ndata: {\"type\":\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

    len = sizeof(openai) - 1;
    good = 1;

    for (cut = 0; cut <= len + 1; cut++) {
        memset(&st, 0, sizeof(stream_t));
        (void) ai_release_json_pointer_parse(&st.ptr,
                                             "/choices/0/delta/content", 24);
        ai_release_json_init(&st.js, stream_json, &st);
        ai_release_sse_init(&sse, stream_data, stream_event, &st);

        feed_pieces((const unsigned char *) openai, len,
                    cut == len + 1 ? FEED_BYTES : FEED_CUT, cut,
                    sse_feed_cb, &sse);

        mid = ai_release_sse_finish(&sse);

        if (mid != 0 || st.done != 1 || st.bad != 0 || st.events != 5
            || st.content.n != 8 || memcmp(st.content.p, "Hello \xc3\xa9", 8))
        {
            good = 0;
            printf("# cut %zu: mid %d done %d bad %d events %" PRIu64
                   " content %zu\n", cut, mid, st.done, st.bad, st.events,
                   st.content.n);
        }

        free(st.content.p);

        if (!good) {
            break;
        }
    }

    ok(good, "an OpenAI stream: 5 events, JSON each but [DONE], content "
       "\"Hello \xc3\xa9\" across events, however split");

    len = sizeof(anthropic) - 1;
    good = 1;

    for (cut = 0; cut <= len + 1; cut++) {
        memset(&st, 0, sizeof(stream_t));
        ai_release_json_init(&st.js, stream_json, &st);
        ai_release_sse_init(&sse, stream_data, stream_event, &st);

        feed_pieces((const unsigned char *) anthropic, len,
                    cut == len + 1 ? FEED_BYTES : FEED_CUT, cut,
                    sse_feed_cb, &sse);

        mid = ai_release_sse_finish(&sse);

        if (mid != 0 || st.stop != 1 || st.bad != 1 || st.events != 5) {
            good = 0;
            break;
        }
    }

    ok(good, "an Anthropic stream: message_stop, one event not JSON, "
       "however split");

    /* the events and their JSON in full, and cut the same */

    got = sse_run((const unsigned char *) anthropic, 53, FEED_WHOLE, 0, 1);

    if (!ok(strcmp(got, "|message_start/13 L1 n24 "
                   "\"{\\x22type\\x22:\\x22message\"|"
                   "\nB object d0 @0\nB string d1 @8 k0:\"type\"/4[1,7)\n"
                   "message_startE string d1 [8,23) k0:\"type\"/4[1,7) len13 "
                   "ch13 \"message_start\"\nE object d0 [0,24) n1\n"
                   "json 0 -@0\nmid=0 events=1") == 0,
            "the JSON of an event"))
    {
        printf("# got:\n%s\n", got);
    }

    free(got);

    for (i = 0; i < 2; i++) {
        ok(sse_splits((const unsigned char *) (i ? anthropic : openai),
                      i ? sizeof(anthropic) - 1 : sizeof(openai) - 1, 1),
           "the JSON of each event of the %s stream: the same however split",
           i ? "Anthropic" : "OpenAI");
    }
}


static int
stop_chunk(ai_release_json_t *js, const unsigned char *p, size_t n,
    void *data)
{
    (void) js;
    (void) p;

    *(size_t *) data += n;

    return *(size_t *) data >= 3;
}


static int
stop_sse_data(ai_release_sse_t *sse, const unsigned char *p, size_t n,
    void *data)
{
    (void) sse;
    (void) p;
    (void) n;

    return data != NULL;
}


static int
stop_sse_event(ai_release_sse_t *sse, const ai_release_sse_event_t *ev,
    void *data)
{
    (void) sse;
    (void) ev;
    (void) data;

    return 1;
}


/* a callback that returns non-zero stops the scan where it is */

static void
test_stop(void)
{
    int                 rc, good;
    char               *got, *line;
    rec_t               rec;
    size_t              seen;
    unsigned            n, lines;
    ai_release_sse_t    sse;
    ai_release_json_t   js;

    static const char   doc[] = "{\"a\":[1,\"x\"],\"b\":{\"c\":null}}";

    /* at each of the 12 events, and after the last */

    for (n = 1; n <= 13; n++) {
        rec_stop_at = n;

        got = json_run((const unsigned char *) doc, sizeof(doc) - 1,
                       FEED_WHOLE, 0, NULL, 0);

        for (lines = 0, line = got; (line = strchr(line, '\n')); line++) {
            lines++;
        }

        /* the events, "stop" and the verdict */

        good = (n <= 12) ? (lines == n + 2 && strstr(got, "stop\n= 1 -@0"))
                         : (lines == 13 && strstr(got, "= 0 -@0 off28"));

        if (!ok(good, "a handler that stops at event %u", n)) {
            printf("# got:\n%s", got);
        }

        free(got);

        ok(json_splits((const unsigned char *) doc, sizeof(doc) - 1, 1, NULL,
                       0),
           "... the same however split");
    }

    /* a number's END comes at the end of the input */

    rec_stop_at = 2;
    got = json_run((const unsigned char *) "12", 2, FEED_WHOLE, 0, NULL, 0);
    ok(strstr(got, "E number d0 [0,2) \"12\"/2\nstop\n= 1 -@0 off2")
       != NULL, "a handler stops at the END of a number in finish()");
    free(got);
    rec_stop_at = 0;

    /* stopped is stopped */

    memset(&rec, 0, sizeof(rec_t));
    ai_release_json_init(&js, rec_event, &rec);
    rec_stop_at = 1;
    rc = ai_release_json_feed(&js, (const unsigned char *) "[1,2]", 5);
    rec_stop_at = 0;
    free(rec.out.p);

    ok(rc == AI_RELEASE_JSON_STOP && js.stopped && js.offset == 1
       && ai_release_json_feed(&js, (const unsigned char *) "]", 1)
          == AI_RELEASE_JSON_STOP
       && ai_release_json_finish(&js) == AI_RELEASE_JSON_STOP
       && js.error == NULL,
       "stopped at '[': feed() and finish() say so, no error, 1 byte read");

    /* the chunk callback stops too */

    seen = 0;
    ai_release_json_init(&js, NULL, &seen);
    js.chunk = stop_chunk;

    rc = ai_release_json_feed(&js, (const unsigned char *) "[\"ab", 4);
    ok(rc == AI_RELEASE_JSON_OK && seen == 2, "chunks: 2 bytes go on");

    rc = ai_release_json_feed(&js, (const unsigned char *) "cdef\"]", 6);
    ok(rc == AI_RELEASE_JSON_STOP && js.stopped && seen == 6
       && ai_release_json_finish(&js) == AI_RELEASE_JSON_STOP,
       "chunks: the callback stops the scan at 3 bytes or more");

    /* SSE: on_event, on_data */

    ai_release_sse_init(&sse, NULL, stop_sse_event, NULL);
    rc = ai_release_sse_feed(&sse, (const unsigned char *)
                             "data: a\n\ndata: b\n\n", 18);
    ok(rc == AI_RELEASE_JSON_STOP && sse.stopped && sse.events == 1
       && ai_release_sse_feed(&sse, (const unsigned char *) "\n", 1)
          == AI_RELEASE_JSON_STOP
       && ai_release_sse_finish(&sse) == 0,
       "sse: on_event stops the parser after the first event");

    ai_release_sse_init(&sse, stop_sse_data, NULL, &sse);
    rc = ai_release_sse_feed(&sse, (const unsigned char *) "data: a\n\n", 9);
    ok(rc == AI_RELEASE_JSON_STOP && sse.stopped && sse.events == 0,
       "sse: on_data stops the parser");

    ok(strcmp(ai_release_json_type_name(AI_RELEASE_JSON_FALSE), "false") == 0
       && strcmp(ai_release_json_type_name(7), "?") == 0,
       "type names");
}


static void
test_sizes(void)
{
    printf("# sizeof: ai_release_json_t %zu, ai_release_sse_t %zu, "
           "ai_release_json_pointer_t %zu\n", sizeof(ai_release_json_t),
           sizeof(ai_release_sse_t), sizeof(ai_release_json_pointer_t));

    ok(sizeof(ai_release_json_t) <= 2560 && sizeof(ai_release_sse_t) <= 160,
       "the scanner's state is at most 2.5 KiB, the SSE parser's 160 bytes");
}
