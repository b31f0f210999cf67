
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Unit tests of applying a bundle to request bodies (ai_release_apply.c)
 * and of the manifest key "params" (schema, canonical form, digest, lock):
 * the values of a bundle in each format; the plan of a body, the same
 * however the body is split; the edits, applied to the body here and
 * compared byte for byte with the expected body, then read with jansson.
 * TAP output; run from t/unit.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ai_release_apply.h"
#include "tap.h"


/* a valid bundle in four lines: what is appended starts at line 5 */
#define BASE    "name: a\nversion: \"1\"\nupstream: up\nmodel: m\n"

#define ALL     (AI_RELEASE_APPLY_MODEL | AI_RELEASE_APPLY_SYSTEM           \
                 | AI_RELEASE_APPLY_TOOLS | AI_RELEASE_APPLY_PARAMS)

#define CHAT    AI_RELEASE_FORMAT_OPENAI_CHAT
#define RESP    AI_RELEASE_FORMAT_OPENAI_RESPONSES
#define ANTH    AI_RELEASE_FORMAT_ANTHROPIC_MESSAGES


/* the bundle most tests apply */

#define BUNDLE                                                               \
    "name: chat\n"                                                           \
    "version: \"1\"\n"                                                       \
    "upstream: up\n"                                                         \
    "model: gpt-new\n"                                                       \
    "system_instructions: \"Be \\\"brief\\\".\\nAlways.\"\n"                 \
    "tool_schema: tools.json\n"                                              \
    "params:\n"                                                              \
    "  temperature: 0.2\n"                                                   \
    "  max_tokens: 600\n"                                                    \
    "  top_p: \"0.9\"\n"                                                     \
    "  logprobs: true\n"                                                     \
    "  user: null\n"                                                         \
    "  stop: END\n"

#define TOOLS_FILE                                                           \
    "[\n  {\"type\": \"function\",\n   \"function\": {\"name\": \"f\", "     \
    "\"x\": 0.1, \"s\": \"a \\\"q\\\" \\u00e9 \xc3\xa9\"}}\n]\n"

#define TOOLS                                                                \
    "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"x\":0.1,"        \
    "\"s\":\"a \\\"q\\\" \\u00e9 \xc3\xa9\"}}]"

#define SYSTEXT  "\"Be \\\"brief\\\".\\nAlways.\""
#define SYSMSG   "{\"role\":\"system\",\"content\":" SYSTEXT "}"

#define PARAMS                                                               \
    "\"temperature\":0.2,\"max_tokens\":600,\"top_p\":\"0.9\","              \
    "\"logprobs\":true,\"user\":null,\"stop\":\"END\""


/* how a body is fed */

typedef enum {
    FEED_WHOLE = 0,
    FEED_BYTES,
    FEED_CUT
} feed_e;

/* what a plan found, comparable with memcmp() */

#define SNAP_NAMES  16

typedef struct {
    ai_release_span_t   found[SNAP_NAMES];
    uint64_t            obj_start;
    uint64_t            obj_count;
    uint64_t            body_len;
    uint64_t            messages_start;
    uint64_t            messages_count;
    uint64_t            first_start;
    uint64_t            first_end;
    unsigned            messages_found;
    unsigned            first_is_system;
    unsigned            client_model_found;
    unsigned char       client_model[64];
    size_t              client_model_len;
    int                 rc;
    char                error[AI_RELEASE_APPLY_ERROR_SIZE];
    uint64_t            error_offset;
} snap_t;

/* what applying gave */

typedef struct {
    int                 rc;
    char               *out;        /* malloc()ed, NUL-terminated */
    size_t              len;
    char                error[AI_RELEASE_APPLY_ERROR_SIZE];
    uint64_t            offset;
    snap_t              snap;
} result_t;


static char  dir[64];


static void fixtures(void);
static void cleanup(void);
static char *path(const char *name);
static ai_release_bundle_t *bundle(const char *yaml, ai_release_set_t **set);
static int load_error(const char *yaml, unsigned line, unsigned column,
    const char *substr);
static int values(const char *yaml, int format, unsigned what,
    ai_release_apply_values_t *v, ai_release_set_t **set);
static int values_error(const char *yaml, int format, unsigned what,
    unsigned line, unsigned column, const char *substr);
static void plan_run(const char *body, size_t len, int format,
    const ai_release_member_t *names, size_t nnames, feed_e how, size_t cut,
    ai_release_apply_plan_t *p, snap_t *snap);
static void apply(const char *body, size_t len, int format,
    const ai_release_apply_values_t *v, const ai_release_member_t *names,
    size_t nnames, result_t *r);
static int apply_bundle(const char *body, int format, unsigned what,
    result_t *r);
static int expect(const char *body, int format, unsigned what,
    const char *want, const char *what_text);
static int expect_error(const char *body, int format, unsigned what,
    const char *error, uint64_t offset, const char *what_text);
static int splits(const char *body, size_t len, int format,
    const ai_release_member_t *names, size_t nnames);
static int json_has(const char *out, int format, unsigned what);
static uint64_t nth(const char *body, const char *needle, unsigned n);

static void test_words(void);
static void test_values(void);
static void test_values_errors(void);
static void test_params_schema(void);
static void test_params_digest(void);
static void test_chat(void);
static void test_responses(void);
static void test_anthropic(void);
static void test_bytes_kept(void);
static void test_refused(void);
static void test_client_model(void);
static void test_union(void);
static void test_splits(void);


int
main(void)
{
    fixtures();

    test_words();
    test_values();
    test_values_errors();
    test_params_schema();
    test_params_digest();
    test_chat();
    test_responses();
    test_anthropic();
    test_bytes_kept();
    test_refused();
    test_client_model();
    test_union();
    test_splits();

    cleanup();

    return tap_done();
}


static const char  *fixture_files[][2] = {
    { "tools.json", TOOLS_FILE },
    { "tools-object.json", "{\"tools\": []}" },
    { "tools-scalars.json", "[{\"a\": 1}, 2]" },
    { "tools-dup.json", "[{\"a\": 1, \"a\": 2}]" },
    { "tools-empty.json", " [ ] " },
    { "sys.txt", "From a file: \"q\" \xc3\xa9\t\xf0\x9f\x98\x80\n" },
    { "sys-bad.txt", "ok\xff" },
    { "sys-overlong.txt", "\xc0\x80" },
    { "sys-surrogate.txt", "a\xed\xa0\x80" },
    { "sys-toobig.txt", "ab\xf4\x90\x80\x80" },
    { "sys-cut.txt", "abc\xe2\x82" },
    { "sys-changing.txt", "before\n" },
    { NULL, NULL }
};


static void
fixtures(void)
{
    size_t  i;

    strcpy(dir, "/tmp/ai-release-apply-XXXXXX");

    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        exit(1);
    }

    for (i = 0; fixture_files[i][0]; i++) {
        if (write_file(path(fixture_files[i][0]), fixture_files[i][1]) != 0) {
            perror(fixture_files[i][0]);
            exit(1);
        }
    }
}


static void
cleanup(void)
{
    size_t  i;

    for (i = 0; fixture_files[i][0]; i++) {
        (void) unlink(path(fixture_files[i][0]));
    }

    (void) rmdir(dir);
}


/* dir/name, in a static buffer */

static char *
path(const char *name)
{
    static char  buf[256];

    (void) snprintf(buf, sizeof(buf), "%s/%s", dir, name);

    return buf;
}


/* the first bundle of yaml, loaded as dir/m.yaml; NULL after printing */

static ai_release_bundle_t *
bundle(const char *yaml, ai_release_set_t **set)
{
    char                 buf[1024];
    size_t               i;
    ai_release_errors_t  errs;

    *set = ai_release_set_create();
    ai_release_errors_init(&errs);

    if (ai_release_set_load_buffer(*set, path("m.yaml"), yaml, strlen(yaml),
                                   &errs)
        != 0)
    {
        for (i = 0; i < errs.n; i++) {
            ai_release_error_format(&errs.items[i], buf, sizeof(buf));
            printf("#   %s\n", buf);
        }
    }

    ai_release_errors_free(&errs);

    return ai_release_set_get(*set, 0);
}


static int
load_error(const char *yaml, unsigned line, unsigned column,
    const char *substr)
{
    int                  found;
    char                 buf[1024];
    size_t               i;
    ai_release_set_t    *set;
    ai_release_errors_t  errs;

    set = ai_release_set_create();
    ai_release_errors_init(&errs);

    found = 0;

    if (ai_release_set_load_buffer(set, path("m.yaml"), yaml, strlen(yaml),
                                   &errs)
        != 0)
    {
        for (i = 0; i < errs.n; i++) {
            if (errs.items[i].line == line && errs.items[i].column == column
                && strstr(errs.items[i].message, substr) != NULL)
            {
                found = 1;
            }
        }
    }

    if (!ok(found, "refused at %u:%u: %s", line, column, substr)) {
        for (i = 0; i < errs.n; i++) {
            ai_release_error_format(&errs.items[i], buf, sizeof(buf));
            printf("#   %s\n", buf);
        }
    }

    ai_release_errors_free(&errs);
    ai_release_set_free(set);

    return found;
}


/* the values of the first bundle of yaml; 0, or -1 after printing why */

static int
values(const char *yaml, int format, unsigned what,
    ai_release_apply_values_t *v, ai_release_set_t **set)
{
    char                  err[512];
    unsigned              line, column;
    ai_release_bundle_t  *b;

    memset(v, 0, sizeof(ai_release_apply_values_t));

    b = bundle(yaml, set);

    if (b == NULL) {
        return ok(0, "the bundle loads") - 1;
    }

    if (ai_release_apply_values(b, format, what, v, err, sizeof(err), &line,
                                &column)
        != 0)
    {
        return ok(0, "the values: %u:%u: %s", line, column, err) - 1;
    }

    return 0;
}


static int
values_error(const char *yaml, int format, unsigned what, unsigned line,
    unsigned column, const char *substr)
{
    int                        rc, pass;
    char                       err[512];
    unsigned                   l, c;
    ai_release_set_t          *set;
    ai_release_bundle_t       *b;
    ai_release_apply_values_t  v;

    b = bundle(yaml, &set);

    if (b == NULL) {
        ai_release_set_free(set);
        return ok(0, "bundle loads for: %s", substr);
    }

    rc = ai_release_apply_values(b, format, what, &v, err, sizeof(err), &l,
                                 &c);

    pass = ok(rc == -1 && l == line && c == column
              && strstr(err, substr) != NULL
              && v.members == NULL && v.nmembers == 0
              && v.system_message == NULL,
              "values refused at %u:%u: %s", line, column, substr);

    if (!pass) {
        printf("# rc %d at %u:%u: %s\n", rc, l, c, err);
    }

    if (rc == 0) {
        ai_release_apply_values_free(&v);
    }

    ai_release_set_free(set);

    return pass;
}


static void
snapshot(const ai_release_apply_plan_t *p, int rc, snap_t *s)
{
    memset(s, 0, sizeof(snap_t));

    memcpy(s->found, p->found,
           (p->nnames < SNAP_NAMES ? p->nnames : SNAP_NAMES)
           * sizeof(ai_release_span_t));

    s->obj_start = p->obj_start;
    s->obj_count = p->obj_count;

    /* the bytes fed after an error are not looked at */
    s->body_len = (rc == 0) ? p->body_len : 0;
    s->messages_start = p->messages_start;
    s->messages_count = p->messages_count;
    s->first_start = p->first_start;
    s->first_end = p->first_end;
    s->messages_found = p->messages_found;
    s->first_is_system = p->first_is_system;
    s->client_model_found = p->client_model_found;
    memcpy(s->client_model, p->client_model, p->client_model_len);
    s->client_model_len = p->client_model_len;
    s->rc = rc;

    if (p->error) {
        (void) snprintf(s->error, sizeof(s->error), "%s", p->error);
        s->error_offset = p->error_offset;
    }
}


static void
plan_run(const char *body, size_t len, int format,
    const ai_release_member_t *names, size_t nnames, feed_e how, size_t cut,
    ai_release_apply_plan_t *p, snap_t *snap)
{
    int                   rc;
    size_t                i;
    ai_release_span_t    *found;
    const unsigned char  *b;

    static ai_release_span_t  spans[SNAP_NAMES];

    found = spans;
    b = (const unsigned char *) body;

    ai_release_apply_plan_init(p, format, names, nnames, found);

    rc = 0;

    switch (how) {

    case FEED_WHOLE:
        rc = ai_release_apply_plan_feed(p, b, len);
        break;

    case FEED_BYTES:
        for (i = 0; rc == 0 && i < len; i++) {
            rc = ai_release_apply_plan_feed(p, b + i, 1);

            /* an empty chunk changes nothing */
            if (rc == 0) {
                rc = ai_release_apply_plan_feed(p, b + i, 0);
            }
        }

        break;

    case FEED_CUT:
        rc = ai_release_apply_plan_feed(p, b, cut);

        if (rc == 0) {
            rc = ai_release_apply_plan_feed(p, b + cut, len - cut);
        }

        break;
    }

    if (rc == 0) {
        rc = ai_release_apply_plan_finish(p);
    }

    /* after an error, everything is refused and nothing changes */

    if (rc != 0) {
        rc = (ai_release_apply_plan_feed(p, b, len) == -1
              && ai_release_apply_plan_finish(p) == -1) ? -1 : -2;
    }

    if (snap) {
        snapshot(p, rc, snap);
    }
}


/* plans body, makes the edits and applies them to a copy of body */

static void
apply(const char *body, size_t len, int format,
    const ai_release_apply_values_t *v, const ai_release_member_t *names,
    size_t nnames, result_t *r)
{
    int                       rc;
    char                     *o;
    size_t                    i, j, n;
    uint64_t                  pos, new_len, total;
    ai_release_edit_t         edits[AI_RELEASE_APPLY_MAX_EDITS(16)];
    ai_release_apply_plan_t   p;

    memset(r, 0, sizeof(result_t));

    plan_run(body, len, format, names, nnames, FEED_WHOLE, 0, &p, &r->snap);

    rc = r->snap.rc;

    if (rc == 0) {
        rc = ai_release_apply_edits(&p, v, edits,
                                    AI_RELEASE_APPLY_MAX_EDITS(v->nmembers),
                                    &n, &new_len);
    }

    r->rc = rc;

    if (rc != 0) {
        (void) snprintf(r->error, sizeof(r->error), "%s",
                        p.error ? p.error : "(no error)");
        r->offset = p.error_offset;
        return;
    }

    /* the edits are sorted, do not overlap and stay in the body */

    total = 0;

    for (i = 0; i < n; i++) {
        if (edits[i].start > edits[i].end || edits[i].end > len
            || (i > 0 && edits[i].start < edits[i - 1].end))
        {
            r->rc = -3;
            (void) snprintf(r->error, sizeof(r->error), "bad edit %zu", i);
            return;
        }

        total += edits[i].end - edits[i].start;
    }

    o = malloc(new_len + 1);
    if (o == NULL) {
        r->rc = -3;
        return;
    }

    r->out = o;
    pos = 0;

    for (i = 0; i < n; i++) {
        memcpy(o, body + pos, edits[i].start - pos);
        o += edits[i].start - pos;

        for (j = 0; j < 3 && edits[i].text[j]; j++) {
            memcpy(o, edits[i].text[j], edits[i].len[j]);
            o += edits[i].len[j];
        }

        pos = edits[i].end;
    }

    memcpy(o, body + pos, len - pos);
    o += len - pos;
    *o = '\0';

    r->len = o - r->out;

    if (r->len != new_len) {
        r->rc = -4;
        (void) snprintf(r->error, sizeof(r->error),
                        "new_len %" PRIu64 ", made %zu (replaced %" PRIu64
                        ")", new_len, r->len, total);
    }
}


/* BUNDLE's values in format applied to body; -1 when they fail */

static int
apply_bundle(const char *body, int format, unsigned what, result_t *r)
{
    ai_release_set_t          *set;
    ai_release_apply_values_t  v;

    if (values(BUNDLE, format, what, &v, &set) != 0) {
        ai_release_set_free(set);
        return -1;
    }

    apply(body, strlen(body), format, &v, v.members, v.nmembers, r);

    ai_release_apply_values_free(&v);
    ai_release_set_free(set);

    return 0;
}


/* BUNDLE applied to body in format must give want, which jansson reads */

static int
expect(const char *body, int format, unsigned what, const char *want,
    const char *what_text)
{
    int       pass;
    result_t  r;

    if (apply_bundle(body, format, what, &r) != 0) {
        return 0;
    }

    pass = ok(r.rc == 0 && strcmp(r.out, want) == 0, "%s: %s",
              ai_release_format_name(format), what_text);

    if (!pass) {
        printf("# rc %d: %s at %" PRIu64 "\n# body: %s\n# got:  %s\n"
               "# want: %s\n", r.rc, r.error, r.offset, body,
               r.out ? r.out : "", want);
    }

    if (r.rc == 0) {
        pass &= ok(json_has(r.out, format, what),
                   "%s: %s: jansson reads the bundle's values",
                   ai_release_format_name(format), what_text);
    }

    free(r.out);

    return pass;
}


static int
expect_error(const char *body, int format, unsigned what, const char *error,
    uint64_t offset, const char *what_text)
{
    int       pass;
    result_t  r;

    if (apply_bundle(body, format, what, &r) != 0) {
        return 0;
    }

    pass = ok(r.rc == -1 && strcmp(r.error, error) == 0
              && r.offset == offset,
              "%s: %s refused: %s at %" PRIu64,
              ai_release_format_name(format), what_text, error, offset);

    if (!pass) {
        printf("# rc %d: \"%s\" at %" PRIu64 "\n", r.rc, r.error, r.offset);
    }

    free(r.out);

    return pass;
}


/* the plan is the same fed whole, a byte at a time and cut anywhere */

static int
splits(const char *body, size_t len, int format,
    const ai_release_member_t *names, size_t nnames)
{
    size_t                   cut;
    snap_t                   whole, other;
    ai_release_apply_plan_t  p;

    plan_run(body, len, format, names, nnames, FEED_WHOLE, 0, &p, &whole);
    plan_run(body, len, format, names, nnames, FEED_BYTES, 0, &p, &other);

    if (memcmp(&whole, &other, sizeof(snap_t)) != 0) {
        printf("# a byte at a time: \"%s\" at %" PRIu64 " vs \"%s\" at %"
               PRIu64 "\n", whole.error, whole.error_offset, other.error,
               other.error_offset);
        return 0;
    }

    for (cut = 0; cut <= len; cut++) {
        plan_run(body, len, format, names, nnames, FEED_CUT, cut, &p,
                 &other);

        if (memcmp(&whole, &other, sizeof(snap_t)) != 0) {
            printf("# cut at %zu differs\n", cut);
            return 0;
        }
    }

    return 1;
}


/* whether jansson reads out and finds there BUNDLE's values */

static int
json_has(const char *out, int format, unsigned what)
{
    int           good;
    json_t       *j, *tools, *sys, *m0;
    json_error_t  jerr;

    /* a body may have had duplicates of other members: the last counts */

    j = json_loads(out, JSON_ALLOW_NUL, &jerr);

    if (j == NULL) {
        printf("# jansson: %s at %d\n", jerr.text, jerr.position);
        return 0;
    }

    good = json_is_object(j);

    if (good && (what & AI_RELEASE_APPLY_MODEL)) {
        good = json_is_string(json_object_get(j, "model"))
               && strcmp(json_string_value(json_object_get(j, "model")),
                         "gpt-new") == 0;
    }

    if (good && (what & AI_RELEASE_APPLY_TOOLS)) {
        tools = json_loads(TOOLS_FILE, 0, &jerr);
        good = json_equal(tools, json_object_get(j, "tools"));
        json_decref(tools);
    }

    if (good && (what & AI_RELEASE_APPLY_PARAMS)) {
        good = json_is_real(json_object_get(j, "temperature"))
               && json_real_value(json_object_get(j, "temperature")) == 0.2
               && json_integer_value(json_object_get(j, "max_tokens")) == 600
               && json_is_string(json_object_get(j, "top_p"))
               && json_is_true(json_object_get(j, "logprobs"))
               && json_is_null(json_object_get(j, "user"))
               && strcmp(json_string_value(json_object_get(j, "stop")),
                         "END") == 0;
    }

    if (good && (what & AI_RELEASE_APPLY_SYSTEM)) {
        if (format == CHAT) {
            m0 = json_array_get(json_object_get(j, "messages"), 0);
            sys = json_object_get(m0, "content");
            good = json_object_size(m0) == 2
                   && strcmp(json_string_value(json_object_get(m0, "role")),
                             "system") == 0;

        } else {
            sys = json_object_get(j, format == RESP ? "instructions"
                                                    : "system");
        }

        good = good && json_is_string(sys)
               && strcmp(json_string_value(sys), "Be \"brief\".\nAlways.")
                  == 0;
    }

    json_decref(j);

    return good;
}


/* the offset of the n-th (from 1) occurrence of needle in body */

static uint64_t
nth(const char *body, const char *needle, unsigned n)
{
    const char  *p;

    p = body - 1;

    while (n--) {
        p = strstr(p + 1, needle);

        if (p == NULL) {
            return UINT64_MAX;
        }
    }

    return (uint64_t) (p - body);
}


static void
test_words(void)
{
    ok(ai_release_format_parse("none", 4) == AI_RELEASE_FORMAT_NONE
       && ai_release_format_parse("openai-chat", 11) == CHAT
       && ai_release_format_parse("openai-responses", 16) == RESP
       && ai_release_format_parse("anthropic-messages", 18) == ANTH
       && ai_release_format_parse("openai", 6) == -1
       && ai_release_format_parse("openai-chatx", 12) == -1
       && ai_release_format_parse("", 0) == -1,
       "format names parsed, others refused");

    ok(strcmp(ai_release_format_name(CHAT), "openai-chat") == 0
       && strcmp(ai_release_format_name(ANTH), "anthropic-messages") == 0
       && strcmp(ai_release_format_name(AI_RELEASE_FORMAT_NONE), "none") == 0
       && strcmp(ai_release_format_name(9), "?") == 0
       && strcmp(ai_release_format_name(-1), "?") == 0,
       "format names");

    ok(ai_release_apply_word("model", 5) == AI_RELEASE_APPLY_MODEL
       && ai_release_apply_word("system_instructions", 19)
          == AI_RELEASE_APPLY_SYSTEM
       && ai_release_apply_word("tools", 5) == AI_RELEASE_APPLY_TOOLS
       && ai_release_apply_word("params", 6) == AI_RELEASE_APPLY_PARAMS
       && ai_release_apply_word("system", 6) == -1
       && ai_release_apply_word("tool_schema", 11) == -1
       && ai_release_apply_word("mode", 4) == -1,
       "apply words");
}


static void
test_values(void)
{
    size_t                     i;
    ai_release_set_t          *set;
    ai_release_apply_values_t  v;

    static const char  *chat_members[] = {
        "\"model\":\"gpt-new\"",
        "\"tools\":" TOOLS,
        "\"temperature\":0.2", "\"max_tokens\":600", "\"top_p\":\"0.9\"",
        "\"logprobs\":true", "\"user\":null", "\"stop\":\"END\""
    };

    static const char  *chat_names[] = {
        "model", "tools", "temperature", "max_tokens", "top_p", "logprobs",
        "user", "stop"
    };

    if (values(BUNDLE, CHAT, ALL, &v, &set) != 0) {
        ai_release_set_free(set);
        return;
    }

    ok(v.nmembers == 8, "openai-chat: 8 members (%zu)", v.nmembers);

    for (i = 0; i < v.nmembers && i < 8; i++) {
        ok(strcmp(v.members[i].member, chat_members[i]) == 0
           && v.members[i].member_len == strlen(chat_members[i])
           && strcmp(v.members[i].name, chat_names[i]) == 0
           && v.members[i].name_len == strlen(chat_names[i])
           && v.members[i].value == v.members[i].member
                                    + v.members[i].member_len
                                    - v.members[i].value_len
           && v.members[i].value[-1] == ':'
           && strlen(v.members[i].value) == v.members[i].value_len,
           "openai-chat member %zu: %s", i, v.members[i].member);
    }

    ok(v.system_message && strcmp(v.system_message, SYSMSG) == 0
       && v.system_message_len == strlen(SYSMSG),
       "openai-chat: the system message %s", v.system_message);

    ai_release_apply_values_free(&v);
    ok(v.members == NULL && v.nmembers == 0 && v.system_message == NULL,
       "values freed and cleared");
    ai_release_set_free(set);

    /* the system instructions are a member in the other formats */

    if (values(BUNDLE, RESP, AI_RELEASE_APPLY_SYSTEM | AI_RELEASE_APPLY_MODEL,
               &v, &set) == 0)
    {
        ok(v.nmembers == 2 && v.system_message == NULL
           && strcmp(v.members[0].name, "model") == 0
           && strcmp(v.members[1].member, "\"instructions\":" SYSTEXT) == 0,
           "openai-responses: model, then instructions: %s",
           v.members[v.nmembers - 1].member);
        ai_release_apply_values_free(&v);
    }

    ai_release_set_free(set);

    if (values(BUNDLE, ANTH, ALL, &v, &set) == 0) {
        ok(v.nmembers == 9 && v.system_message == NULL
           && strcmp(v.members[1].member, "\"system\":" SYSTEXT) == 0
           && strcmp(v.members[2].name, "tools") == 0
           && strcmp(v.members[3].name, "temperature") == 0,
           "anthropic-messages: model, system, tools, params: %s",
           v.members[1].member);
        ai_release_apply_values_free(&v);
    }

    ai_release_set_free(set);

    /* nothing asked, nothing set; params absent: no members */

    if (values(BUNDLE, CHAT, 0, &v, &set) == 0) {
        ok(v.nmembers == 0 && v.members == NULL && v.system_message == NULL,
           "nothing applied: no values");
    }

    ai_release_set_free(set);

    if (values(BASE, ANTH, AI_RELEASE_APPLY_PARAMS, &v, &set) == 0) {
        ok(v.nmembers == 0 && v.system_message == NULL,
           "no params in the manifest: no members, no error");
        ai_release_apply_values_free(&v);
    }

    ai_release_set_free(set);

    /* the system instructions from a file, kept as UTF-8 */

    if (values(BASE "system_instructions:\n  file: sys.txt\n", CHAT,
               AI_RELEASE_APPLY_SYSTEM, &v, &set) == 0)
    {
        ok(v.nmembers == 0 && v.system_message
           && strcmp(v.system_message,
                     "{\"role\":\"system\",\"content\":\"From a file: "
                     "\\\"q\\\" \xc3\xa9\\t\xf0\x9f\x98\x80\\n\"}") == 0,
           "system_instructions.file: %s", v.system_message);
        ai_release_apply_values_free(&v);
    }

    ai_release_set_free(set);

    /* controls escaped as JSON wants them */

    if (values(BASE "system_instructions: \"a\\0b\\x01\\bc\\fd\\re\\\\\"\n",
               RESP, AI_RELEASE_APPLY_SYSTEM, &v, &set) == 0)
    {
        ok(v.nmembers == 1
           && strcmp(v.members[0].value,
                     "\"a\\u0000b\\u0001\\bc\\fd\\re\\\\\"") == 0
           && v.members[0].value_len == strlen(v.members[0].value),
           "inline text with controls: %s", v.members[0].value);
        ai_release_apply_values_free(&v);
    }

    ai_release_set_free(set);

    /* an empty array of tools is an array of tools */

    if (values(BASE "tool_schema: tools-empty.json\n", CHAT,
               AI_RELEASE_APPLY_TOOLS, &v, &set) == 0)
    {
        ok(v.nmembers == 1 && strcmp(v.members[0].member, "\"tools\":[]") == 0,
           "tools: [] kept: %s", v.members[0].member);
        ai_release_apply_values_free(&v);
    }

    ai_release_set_free(set);

    /* params: what is JSON as written, what is a string */

    if (values(BASE "params:\n"
               "  a: 0.2\n  b: -1\n  c: 1e5\n  d: 10\n  e: true\n"
               "  f: false\n  g: null\n  h: hello world\n  i: \"0.2\"\n"
               "  j: '1'\n  k: .5\n  l: 01\n  m: True\n  n: |\n    two\n"
               "    lines\n  o: \"\xc3\xa9\\t\"\n  p: -0.0E+3\n  q: 1.\n"
               "  r: \"\"\n  s: !!str 7\n  \"t\\\"\\\\\": x\n",
               ANTH, AI_RELEASE_APPLY_PARAMS, &v, &set) == 0)
    {
        static const char  *want[] = {
            "\"a\":0.2", "\"b\":-1", "\"c\":1e5", "\"d\":10", "\"e\":true",
            "\"f\":false", "\"g\":null", "\"h\":\"hello world\"",
            "\"i\":\"0.2\"", "\"j\":\"1\"", "\"k\":\".5\"", "\"l\":\"01\"",
            "\"m\":\"True\"", "\"n\":\"two\\nlines\\n\"",
            "\"o\":\"\xc3\xa9\\t\"", "\"p\":-0.0E+3", "\"q\":\"1.\"",
            "\"r\":\"\"", "\"s\":7", "\"t\\\"\\\\\":\"x\""
        };

        ok(v.nmembers == 20, "20 params (%zu)", v.nmembers);

        for (i = 0; i < v.nmembers && i < 20; i++) {
            ok(strcmp(v.members[i].member, want[i]) == 0,
               "params: %s (want %s)", v.members[i].member, want[i]);
        }

        ok(v.nmembers == 20 && strcmp(v.members[19].name, "t\"\\") == 0
           && v.members[19].name_len == 3,
           "a member's name is decoded, its JSON escaped");

        ai_release_apply_values_free(&v);
    }

    ai_release_set_free(set);
}


static void
test_values_errors(void)
{
    values_error(BASE "tool_schema: tools-object.json\n", CHAT,
                 AI_RELEASE_APPLY_TOOLS, 5, 14,
                 "tool_schema \"tools-object.json\" must be a JSON array of "
                 "tools (objects)");

    values_error(BASE "tool_schema: tools-scalars.json\n", RESP,
                 AI_RELEASE_APPLY_TOOLS, 5, 14,
                 "tool_schema \"tools-scalars.json\" must be a JSON array of "
                 "tools (objects)");

    values_error(BASE "tool_schema: tools-dup.json\n", ANTH,
                 AI_RELEASE_APPLY_TOOLS, 5, 14,
                 "tool_schema \"tools-dup.json\" is not valid JSON: "
                 "duplicate object key");

    values_error(BASE, CHAT, AI_RELEASE_APPLY_MODEL | AI_RELEASE_APPLY_TOOLS,
                 1, 1, "the bundle has no \"tool_schema\" to apply");

    values_error(BASE, RESP, AI_RELEASE_APPLY_SYSTEM, 1, 1,
                 "the bundle has no \"system_instructions\" to apply");

    values_error("# a comment\n---\n" BASE, RESP, AI_RELEASE_APPLY_SYSTEM, 2, 1,
                 "the bundle has no \"system_instructions\" to apply");

    values_error(BASE "system_instructions: {file: sys-bad.txt}\n", CHAT,
                 AI_RELEASE_APPLY_SYSTEM, 5, 29,
                 "system_instructions.file is not valid UTF-8 (at byte 2)");

    values_error(BASE "system_instructions: {file: sys-overlong.txt}\n", RESP,
                 AI_RELEASE_APPLY_SYSTEM, 5, 29,
                 "not valid UTF-8 (at byte 0)");

    values_error(BASE "system_instructions: {file: sys-surrogate.txt}\n",
                 ANTH, AI_RELEASE_APPLY_SYSTEM, 5, 29,
                 "not valid UTF-8 (at byte 1)");

    values_error(BASE "system_instructions: {file: sys-toobig.txt}\n", CHAT,
                 AI_RELEASE_APPLY_SYSTEM, 5, 29,
                 "not valid UTF-8 (at byte 2)");

    values_error(BASE "system_instructions: {file: sys-cut.txt}\n", CHAT,
                 AI_RELEASE_APPLY_SYSTEM, 5, 29,
                 "not valid UTF-8 (at byte 3)");

    values_error(BASE, AI_RELEASE_FORMAT_NONE, AI_RELEASE_APPLY_MODEL, 0, 0,
                 "nothing can be applied in format none");

    values_error(BASE, CHAT, 0x10, 0, 0, "unknown apply bits");

    /* a file that changed after the bundle was loaded */
    {
        int                        rc;
        char                       err[256];
        unsigned                   line, column;
        ai_release_set_t          *set;
        ai_release_bundle_t       *b;
        ai_release_apply_values_t  v;

        b = bundle(BASE "system_instructions:\n  file: sys-changing.txt\n",
                   &set);

        rc = b ? ai_release_apply_values(b, CHAT, AI_RELEASE_APPLY_SYSTEM,
                                         &v, err, sizeof(err), &line,
                                         &column)
               : 1;

        ok(rc == 0, "the file as loaded is applied");

        if (rc == 0) {
            ai_release_apply_values_free(&v);
        }

        if (write_file(path("sys-changing.txt"), "after\n") == 0 && b) {
            rc = ai_release_apply_values(b, CHAT, AI_RELEASE_APPLY_SYSTEM,
                                         &v, err, sizeof(err), &line,
                                         &column);

            ok(rc == -1 && line == 6 && column == 9
               && strstr(err, "system_instructions.file \"sys-changing.txt\" "
                              "changed while the configuration was read")
                  != NULL,
               "a file changed since loading is refused: %u:%u: %s", line,
               column, err);

            (void) unlink(path("sys-changing.txt"));

            rc = ai_release_apply_values(b, CHAT, AI_RELEASE_APPLY_SYSTEM,
                                         &v, err, sizeof(err), &line,
                                         &column);

            ok(rc == -1 && line == 6 && column == 9
               && strstr(err, "cannot read system_instructions.file "
                              "\"sys-changing.txt\"") != NULL,
               "a file gone since loading is refused: %s", err);

            (void) write_file(path("sys-changing.txt"), "before\n");
        }

        ai_release_set_free(set);
    }
}


static void
test_params_schema(void)
{
    char  *yaml, key[80];

    load_error(BASE "params:\n  a:\n    b: 1\n", 7, 5,
               "params.a must be a JSON scalar (string, number, true, false "
               "or null)");

    load_error(BASE "params:\n  top_k: [1, 2]\n", 6, 10,
               "params.top_k must be a JSON scalar");

    load_error(BASE "params:\n  max_tokens:\n", 6, 14,
               "params.max_tokens must be a JSON scalar (string, number, "
               "true, false or null): it is empty");

    load_error(BASE "params: [1]\n", 5, 9, "\"params\" must be a mapping");

    load_error(BASE "params:\n  temperature: 1\n  model: x\n", 7, 3,
               "params key \"model\" is reserved");
    load_error(BASE "params:\n  messages: x\n", 6, 3,
               "params key \"messages\" is reserved");
    load_error(BASE "params:\n  tools: x\n", 6, 3,
               "params key \"tools\" is reserved");
    load_error(BASE "params:\n  instructions: x\n", 6, 3,
               "params key \"instructions\" is reserved");
    load_error(BASE "params:\n  system: x\n", 6, 3,
               "params key \"system\" is reserved");
    load_error(BASE "params:\n  stream: true\n", 6, 3,
               "params key \"stream\" is reserved");

    load_error(BASE "params:\n  \"top p\": 1\n", 6, 3,
               "params key \"top p\" must be visible ASCII");
    load_error(BASE "params:\n  \"\xc3\xa9\": 1\n", 6, 3,
               "must be visible ASCII");
    load_error(BASE "params:\n  \"\": 1\n", 6, 3,
               "params key \"\" must be 1 to 64 bytes long");

    memset(key, 'k', 65);
    key[65] = '\0';

    if (asprintf(&yaml, BASE "params:\n  %s: 1\n", key) > 0) {
        load_error(yaml, 6, 3, "must be 1 to 64 bytes long");
        free(yaml);
    }

    key[64] = '\0';

    if (asprintf(&yaml, BASE "params:\n  %s: 1\n", key) > 0) {
        ai_release_set_t  *set;

        ok(bundle(yaml, &set) != NULL, "a params key of 64 bytes");
        ai_release_set_free(set);
        free(yaml);
    }

    load_error(BASE "param:\n  a: 1\n", 5, 1,
               "unknown key \"param\", did you mean \"params\"?");
}


static void
test_params_digest(void)
{
    int                   rc;
    char                 *text;
    size_t                i, n, len;
    FILE                 *f;
    ai_release_set_t     *s1, *s2, *s3;
    ai_release_part_t    *parts;
    ai_release_lock_t    *lock;
    ai_release_bundle_t  *b1, *b2, *b3;
    ai_release_errors_t   errs;

    b1 = bundle(BASE "params:\n  temperature: 0.2\n  stop: \"0.2\"\n"
                "  n: -1e3\n  t: true\n", &s1);

    ok(b1 && strcmp(b1->canonical,
                    "ai-release-canonical-v1\n"
                    "{\"model\":\"m\",\"name\":\"a\",\"params\":{\"n\":-1e3,"
                    "\"stop\":\"0.2\",\"t\":true,\"temperature\":0.2},"
                    "\"upstream\":\"up\",\"version\":\"1\"}\n") == 0,
       "canonical form: params as the JSON they send");

    b2 = bundle(BASE "params:\n  temperature: 0.3\n  stop: \"0.2\"\n"
                "  n: -1e3\n  t: true\n", &s2);
    ok(b1 && b2 && strcmp(b1->digest_hex, b2->digest_hex) != 0,
       "digest changes with a params value");
    ai_release_set_free(s2);

    b2 = bundle(BASE "params:\n  temperature: \"0.2\"\n  stop: \"0.2\"\n"
                "  n: -1e3\n  t: true\n", &s2);
    ok(b1 && b2 && strcmp(b1->digest_hex, b2->digest_hex) != 0,
       "digest tells 0.2 from \"0.2\" in params");
    ai_release_set_free(s2);

    b2 = bundle(BASE "params: {t: true, n: -1e3, stop: '0.2', "
                "temperature: 0.2}\n", &s2);
    ok(b1 && b2 && strcmp(b1->digest_hex, b2->digest_hex) == 0,
       "digest unchanged by params order and quoting style");

    b3 = bundle(BASE, &s3);
    ok(b1 && b3 && strcmp(b1->digest_hex, b3->digest_hex) != 0,
       "digest changes with params added");

    /* elsewhere a number is still text, as before */

    ai_release_set_free(s3);
    b3 = bundle(BASE "retrieval: {top_k: 8}\n", &s3);
    ok(b3 && strstr(b3->canonical, "\"top_k\":\"8\"") != NULL,
       "outside params, 8 is still the string \"8\"");

    /* the lock: a part "params", written, read back, checked */

    parts = NULL;
    n = 0;
    rc = b1 ? ai_release_bundle_parts(b1, &parts, &n) : -1;

    for (i = 0; rc == 0 && i < n; i++) {
        if (strcmp(parts[i].kind, "key") == 0
            && strcmp(parts[i].name, "params") == 0)
        {
            break;
        }
    }

    ok(rc == 0 && i < n, "the lock has a part \"params\"");
    ai_release_parts_free(parts, n);

    text = NULL;
    f = open_memstream(&text, &len);

    rc = (f && b1) ? ai_release_lock_write(f, &b1, 1) : -1;

    if (f) {
        fclose(f);
    }

    ok(rc == 0 && strstr(text, "  key params sha256:") != NULL,
       "the lock file lists params");

    ai_release_errors_init(&errs);

    lock = (rc == 0) ? ai_release_lock_load_buffer("test.lock", text, len,
                                                   &errs)
                     : NULL;

    ok(lock && ai_release_lock_check(lock, b1, &errs) == AI_RELEASE_LOCK_OK
       && ai_release_lock_check(lock, b2, &errs) == AI_RELEASE_LOCK_OK,
       "the lock accepts the bundle with params");

    /* b2 is b1 with the params written otherwise: the same digest */

    ai_release_set_free(s2);
    b2 = bundle(BASE "params:\n  temperature: 0.25\n  stop: \"0.2\"\n"
                "  n: -1e3\n  t: true\n", &s2);

    ok(lock && b2
       && ai_release_lock_check(lock, b2, &errs) == AI_RELEASE_LOCK_CHANGED
       && errs.n == 1 && strstr(errs.items[0].message, "params changed"),
       "the lock names params as what changed: %s",
       errs.n ? errs.items[0].message : "");

    ai_release_errors_free(&errs);
    ai_release_lock_free(lock);
    free(text);

    ai_release_set_free(s1);
    ai_release_set_free(s2);
    ai_release_set_free(s3);
}


static void
test_chat(void)
{
    /* every member replaced, the developer message too */

    expect("{\"model\": \"gpt-old\", \"messages\": [{\"role\": \"developer\", "
           "\"content\": \"old\"}, {\"role\":\"user\",\"content\":\"hi\"}], "
           "\"tools\": [], \"temperature\": 1, \"max_tokens\": 5, "
           "\"top_p\": 1, \"logprobs\": false, \"user\": \"u1\", "
           "\"stop\": [\"x\"]}",
           CHAT, ALL,
           "{\"model\": \"gpt-new\", \"messages\": [" SYSMSG ", "
           "{\"role\":\"user\",\"content\":\"hi\"}], "
           "\"tools\": " TOOLS ", \"temperature\": 0.2, \"max_tokens\": 600, "
           "\"top_p\": \"0.9\", \"logprobs\": true, \"user\": null, "
           "\"stop\": \"END\"}",
           "replace all, developer message replaced");

    /* everything inserted; the user's message gets a system one first */

    expect("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
           CHAT, ALL,
           "{\"model\":\"gpt-new\",\"tools\":" TOOLS "," PARAMS ","
           "\"messages\":[" SYSMSG ",{\"role\":\"user\",\"content\":\"hi\"}]}",
           "insert all, system message first");

    expect("{\"stream\":true,\"messages\":[{\"role\":\"system\",\"content\":"
           "{\"a\":[1]}},{\"role\":\"user\",\"content\":\"hi\"}]}",
           CHAT, AI_RELEASE_APPLY_SYSTEM,
           "{\"stream\":true,\"messages\":[" SYSMSG ","
           "{\"role\":\"user\",\"content\":\"hi\"}]}",
           "a system message replaced whatever its content");

    expect("{\"messages\":[{\"rol\\u0065\":\"syst\\u0065m\"}]}",
           CHAT, AI_RELEASE_APPLY_SYSTEM,
           "{\"messages\":[" SYSMSG "]}",
           "role and its value matched decoded");

    expect("{\"messages\":[{\"role\":\"System\"},{\"role\":\"system\"}]}",
           CHAT, AI_RELEASE_APPLY_SYSTEM,
           "{\"messages\":[" SYSMSG ",{\"role\":\"System\"},"
           "{\"role\":\"system\"}]}",
           "only messages[0] and its exact role count");

    expect("{\"messages\":[{\"role\":\"user\",\"role\":\"developer\"}]}",
           CHAT, AI_RELEASE_APPLY_SYSTEM,
           "{\"messages\":[" SYSMSG "]}",
           "the last role of messages[0] decides, as parsers read it");

    expect("{\"messages\":[{\"role\":\"system\",\"role\":\"user\"}]}",
           CHAT, AI_RELEASE_APPLY_SYSTEM,
           "{\"messages\":[" SYSMSG ",{\"role\":\"system\",\"role\":\"user\"}"
           "]}",
           "a user message with an earlier system role keeps its place");

    expect("{\"messages\":[[{\"role\":\"system\"}],{\"x\":{\"role\":"
           "\"system\"}}]}",
           CHAT, AI_RELEASE_APPLY_SYSTEM,
           "{\"messages\":[" SYSMSG ",[{\"role\":\"system\"}],{\"x\":"
           "{\"role\":\"system\"}}]}",
           "a role deeper than messages[0] is not its role");

    expect("{\"messages\":[]}", CHAT, ALL,
           "{\"model\":\"gpt-new\",\"tools\":" TOOLS "," PARAMS ","
           "\"messages\":[" SYSMSG "]}",
           "empty messages");

    expect("{ \"messages\" : [ ] }", CHAT, AI_RELEASE_APPLY_SYSTEM,
           "{ \"messages\" : [" SYSMSG " ] }", "empty messages with blanks");

    expect("{}", CHAT,
           AI_RELEASE_APPLY_MODEL | AI_RELEASE_APPLY_TOOLS
           | AI_RELEASE_APPLY_PARAMS,
           "{\"model\":\"gpt-new\",\"tools\":" TOOLS "," PARAMS "}",
           "empty object");

    expect("{\"model\":\"x\"}", CHAT, AI_RELEASE_APPLY_MODEL,
           "{\"model\":\"gpt-new\"}", "only model");

    expect(" {\n} ", CHAT, AI_RELEASE_APPLY_MODEL,
           " {\"model\":\"gpt-new\"\n} ", "empty object with blanks");

    expect("{\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"model\":"
           "\"inner\"}],\"metadata\":{\"model\":\"m2\",\"tools\":1},"
           "\"model\":\"outer\"}",
           CHAT, AI_RELEASE_APPLY_MODEL | AI_RELEASE_APPLY_TOOLS,
           "{\"tools\":" TOOLS ",\"messages\":[{\"role\":\"user\",\"content\":"
           "\"x\",\"model\":\"inner\"}],\"metadata\":{\"model\":\"m2\","
           "\"tools\":1},\"model\":\"gpt-new\"}",
           "nested model and tools untouched");

    expect("{\"a\":{\"b\":[{\"model\":\"x\",\"temperature\":3}]},"
           "\"c\":[[[{\"model\":1}]]]}",
           CHAT, AI_RELEASE_APPLY_MODEL | AI_RELEASE_APPLY_PARAMS,
           "{\"model\":\"gpt-new\"," PARAMS ",\"a\":{\"b\":[{\"model\":"
           "\"x\",\"temperature\":3}]},\"c\":[[[{\"model\":1}]]]}",
           "members at depth 4 and 5 untouched");

    expect_error("{}", CHAT, ALL,
                 "no \"messages\" array to put the system message in", 0,
                 "no messages");

    expect_error("  {\"messages\":{\"role\":\"user\"}}", CHAT,
                 AI_RELEASE_APPLY_SYSTEM, "\"messages\" must be an array",
                 14, "messages an object");

    expect("{\"messages\":\"hi\"}", CHAT, AI_RELEASE_APPLY_MODEL,
           "{\"model\":\"gpt-new\",\"messages\":\"hi\"}",
           "messages not an array: nothing to put there, nothing said");
}


static void
test_responses(void)
{
    const char  *body;

    expect("{\"model\":\"o-1\",\"instructions\":\"old\",\"input\":\"hi\","
           "\"tools\":[{\"type\":\"web_search\"}],\"temperature\":1,"
           "\"stop\":null}",
           RESP, ALL,
           "{\"max_tokens\":600,\"top_p\":\"0.9\",\"logprobs\":true,"
           "\"user\":null,\"model\":\"gpt-new\",\"instructions\":" SYSTEXT ","
           "\"input\":\"hi\",\"tools\":" TOOLS ",\"temperature\":0.2,"
           "\"stop\":\"END\"}",
           "replace some, insert the others");

    expect("{\"input\":[{\"role\":\"user\",\"content\":\"hi\"}]}", RESP, ALL,
           "{\"model\":\"gpt-new\",\"instructions\":" SYSTEXT ",\"tools\":"
           TOOLS "," PARAMS ",\"input\":[{\"role\":\"user\",\"content\":"
           "\"hi\"}]}",
           "insert all");

    expect("{}", RESP, ALL,
           "{\"model\":\"gpt-new\",\"instructions\":" SYSTEXT ",\"tools\":"
           TOOLS "," PARAMS "}",
           "empty object");

    expect("{\"input\":\"x\",\"messages\":[{\"role\":\"user\"}]}", RESP,
           AI_RELEASE_APPLY_SYSTEM,
           "{\"instructions\":" SYSTEXT ",\"input\":\"x\",\"messages\":"
           "[{\"role\":\"user\"}]}",
           "messages are not where its instructions go");

    expect("{\"input\":{\"instructions\":\"x\",\"model\":\"y\"}}", RESP,
           AI_RELEASE_APPLY_SYSTEM | AI_RELEASE_APPLY_MODEL,
           "{\"model\":\"gpt-new\",\"instructions\":" SYSTEXT ",\"input\":"
           "{\"instructions\":\"x\",\"model\":\"y\"}}",
           "nested instructions and model untouched");

    body = "{\"instructions\":\"a\",\"input\":\"x\",\"instructions\":\"b\"}";
    expect_error(body, RESP, AI_RELEASE_APPLY_SYSTEM,
                 "member \"instructions\" appears twice",
                 nth(body, "\"instructions\"", 2), "instructions twice");
}


static void
test_anthropic(void)
{
    const char  *body;

    expect("{\"model\":\"claude-x\",\"max_tokens\":1024,\"system\":[{\"type\":"
           "\"text\",\"text\":\"old\"}],\"messages\":[{\"role\":\"user\","
           "\"content\":\"hi\"}]}",
           ANTH, ALL,
           "{\"tools\":" TOOLS ",\"temperature\":0.2,\"top_p\":\"0.9\","
           "\"logprobs\":true,\"user\":null,\"stop\":\"END\","
           "\"model\":\"gpt-new\",\"max_tokens\":600,\"system\":" SYSTEXT ","
           "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
           "replace model, system and max_tokens, insert the others");

    expect("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", ANTH,
           ALL,
           "{\"model\":\"gpt-new\",\"system\":" SYSTEXT ",\"tools\":" TOOLS
           "," PARAMS ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}"
           "]}",
           "insert all; the messages untouched");

    expect("{}", ANTH, ALL,
           "{\"model\":\"gpt-new\",\"system\":" SYSTEXT ",\"tools\":" TOOLS
           "," PARAMS "}",
           "empty object");

    expect("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
           "\"text\",\"text\":\"x\",\"system\":1}]}],\"tools\":null}",
           ANTH, AI_RELEASE_APPLY_SYSTEM | AI_RELEASE_APPLY_TOOLS,
           "{\"system\":" SYSTEXT ",\"messages\":[{\"role\":\"user\","
           "\"content\":[{\"type\":\"text\",\"text\":\"x\",\"system\":1}]}],"
           "\"tools\":" TOOLS "}",
           "nested system untouched, tools replaced");

    body = "{\"system\":\"a\",\"messages\":[],\"system\":\"b\"}";
    expect_error(body, ANTH, AI_RELEASE_APPLY_SYSTEM,
                 "member \"system\" appears twice",
                 nth(body, "\"system\"", 2), "system twice");
}


/* what is outside the edited spans reaches the upstream as it was */

static void
test_bytes_kept(void)
{
    static const char  body[] =
        "\xef\xbb\xbf" "{\r\n\t\"mod\\u0065l\" :\t\"old\\u00e9\" ,\n"
        " \"messages\" : [ {\"role\":\"user\",\"content\":\"\\ud83d\\ude00 "
        "caf\xc3\xa9 \\\" \\/ \\u0000\"} ] ,\"temperature\"\n:\n1.50E+1,"
        "\"x\":[1,{\"model\":\"y\"}]\r\n}\n";

    static const char  want[] =
        "{\r\n\t\"mod\\u0065l\" :\t\"gpt-new\" ,\n"
        " \"messages\" : [" SYSMSG ", {\"role\":\"user\",\"content\":"
        "\"\\ud83d\\ude00 caf\xc3\xa9 \\\" \\/ \\u0000\"} ] ,"
        "\"temperature\"\n:\n0.2,"
        "\"x\":[1,{\"model\":\"y\"}]\r\n}\n";

    /* a BOM is not JSON: refused at once */

    expect_error(body, CHAT, ALL, "expected a value", 0, "a BOM");

    expect(body + 3, CHAT,
           AI_RELEASE_APPLY_MODEL | AI_RELEASE_APPLY_SYSTEM,
           "{\r\n\t\"mod\\u0065l\" :\t\"gpt-new\" ,\n"
           " \"messages\" : [" SYSMSG ", {\"role\":\"user\",\"content\":"
           "\"\\ud83d\\ude00 caf\xc3\xa9 \\\" \\/ \\u0000\"} ] ,"
           "\"temperature\"\n:\n1.50E+1,"
           "\"x\":[1,{\"model\":\"y\"}]\r\n}\n",
           "escapes, blanks and a nested model kept byte for byte");

    {
        result_t                   r;
        ai_release_set_t          *set;
        ai_release_apply_values_t  v;

        if (values("name: a\nversion: \"1\"\nupstream: up\nmodel: gpt-new\n"
                   "system_instructions: \"Be \\\"brief\\\".\\nAlways.\"\n"
                   "params: {temperature: 0.2}\n", CHAT,
                   AI_RELEASE_APPLY_MODEL | AI_RELEASE_APPLY_SYSTEM
                   | AI_RELEASE_APPLY_PARAMS, &v, &set) == 0)
        {
            apply(body + 3, strlen(body + 3), CHAT, &v, v.members,
                  v.nmembers, &r);

            if (!ok(r.rc == 0 && strcmp(r.out, want) == 0,
                    "a number replaced, blanks around it kept"))
            {
                printf("# %d %s\n# got:  %s\n# want: %s\n", r.rc, r.error,
                       r.out ? r.out : "", want);
            }

            free(r.out);
            ai_release_apply_values_free(&v);
        }

        ai_release_set_free(set);
    }
}


static void
test_refused(void)
{
    const char  *body;

    /* duplicates at the top: of an applied member, of model, of messages */

    body = "{\"model\":\"a\",\"messages\":[],\"model\":\"b\"}";
    expect_error(body, CHAT, AI_RELEASE_APPLY_MODEL,
                 "member \"model\" appears twice", nth(body, "\"model\"", 2),
                 "model twice");

    expect_error(body, ANTH, AI_RELEASE_APPLY_TOOLS,
                 "member \"model\" appears twice", nth(body, "\"model\"", 2),
                 "model twice when the model is not applied");

    body = "{\"messages\":[],\"x\":1,\"messages\":[{\"role\":\"system\"}]}";
    expect_error(body, CHAT, AI_RELEASE_APPLY_SYSTEM,
                 "member \"messages\" appears twice",
                 nth(body, "\"messages\"", 2), "messages twice");

    body = "{\"messages\":\"x\",\"messages\":[]}";
    expect_error(body, ANTH, AI_RELEASE_APPLY_MODEL,
                 "member \"messages\" appears twice",
                 nth(body, "\"messages\"", 2),
                 "messages twice, the first not an array");

    body = "{\"temperature\":1,\"messages\":[],\"temp\\u0065rature\":2}";
    expect_error(body, CHAT, AI_RELEASE_APPLY_PARAMS,
                 "member \"temperature\" appears twice",
                 nth(body, "\"temp\\u", 1), "a param twice, once escaped");

    body = "{\"tools\":[],\n\"tools\":[1]}";
    expect_error(body, ANTH, ALL, "member \"tools\" appears twice", 13,
                 "tools twice");

    expect("{\"a\":1,\"a\":2,\"messages\":[{\"model\":1,\"model\":2}]}", CHAT,
           AI_RELEASE_APPLY_MODEL,
           "{\"model\":\"gpt-new\",\"a\":1,\"a\":2,\"messages\":[{\"model\":1,"
           "\"model\":2}]}",
           "duplicates of other members and nested ones pass");

    /* not an object */

    expect_error("[{\"model\":\"x\"}]", CHAT, ALL,
                 "the body is not a JSON object", 0, "an array");
    expect_error("  \"model\"", RESP, ALL,
                 "the body is not a JSON object", 2, "a string");
    expect_error("\n7", ANTH, ALL, "the body is not a JSON object", 1,
                 "a number");
    expect_error("null", ANTH, ALL, "the body is not a JSON object", 0,
                 "null");

    /* truncated, invalid, invalid UTF-8 */

    expect_error("", CHAT, ALL, "no value", 0, "an empty body");
    expect_error("{\"model\":\"gpt", CHAT, ALL, "unterminated string", 13,
                 "truncated in a string");
    expect_error("{\"messages\":[],", CHAT, ALL, "unterminated object", 15,
                 "truncated after a member");
    expect_error("{\"stream\":tr", CHAT, ALL, "unterminated literal", 12,
                 "truncated in a literal");
    expect_error("{\"model\":\"a\"} x", ANTH, ALL, "data after the value",
                 14, "data after the object");
    expect_error("{\"model\":\"a\",}", RESP, ALL, "expected a key", 13,
                 "a trailing comma");
    expect_error("{\"model\":\"\xc3(\"}", CHAT, ALL, "invalid UTF-8", 11,
                 "invalid UTF-8 in a value");
    expect_error("{\"m\xff\":1}", CHAT, ALL, "invalid UTF-8", 3,
                 "invalid UTF-8 in a key");

    /* the edits' own limits */
    {
        size_t                     n;
        uint64_t                   new_len;
        ai_release_edit_t          edits[AI_RELEASE_APPLY_MAX_EDITS(8)];
        ai_release_set_t          *set;
        ai_release_apply_plan_t    p;
        ai_release_apply_values_t  v;

        if (values(BUNDLE, CHAT, ALL, &v, &set) == 0) {
            plan_run("{\"messages\":[]}", 15, CHAT, v.members, 2, FEED_WHOLE,
                     0, &p, NULL);

            ok(ai_release_apply_edits(&p, &v, edits, 10, &n, &new_len) == -1
               && strcmp(p.error, "member \"temperature\" was not looked "
                                  "for") == 0,
               "a member not planned for is refused: %s", p.error);

            plan_run("{\"messages\":[]}", 15, CHAT, v.members, v.nmembers,
                     FEED_WHOLE, 0, &p, NULL);

            ok(ai_release_apply_edits(&p, &v, edits, v.nmembers, &n,
                                      &new_len) == -1
               && strcmp(p.error, "more edits than room for them") == 0,
               "no room for the edits: refused");

            plan_run("{\"messages\":[]", 14, CHAT, v.members, v.nmembers,
                     FEED_WHOLE, 0, &p, NULL);

            ok(ai_release_apply_edits(&p, &v, edits, 10, &n, &new_len) == -1
               && n == 0 && strcmp(p.error, "unterminated object") == 0,
               "no edits of a plan that failed");

            ai_release_apply_values_free(&v);
        }

        ai_release_set_free(set);
    }
}


static void
test_client_model(void)
{
    size_t                   i;
    snap_t                   s;
    const char              *body;
    ai_release_apply_plan_t  p;

    static const struct {
        const char  *body;
        const char  *model;
        unsigned     found;
    } cases[] = {
        { "{\"model\":\"gpt-4o\"}", "gpt-4o", 1 },
        { "{\"model\":\"caf\\u00e9\"}", "caf\xc3\xa9", 1 },
        { "{\"model\":-12.5e3}", "-12.5e3", 1 },
        { "{\"model\":true}", "true", 1 },
        { "{\"model\":null}", "null", 1 },
        { "{\"model\":{\"a\":\"b\"}}", "", 1 },
        { "{\"models\":\"x\",\"a\":{\"model\":\"y\"}}", "", 0 },
        { NULL, NULL, 0 }
    };

    for (i = 0; cases[i].body; i++) {
        body = cases[i].body;

        plan_run(body, strlen(body), CHAT, NULL, 0, FEED_WHOLE, 0, &p, &s);

        ok(s.rc == 0 && s.client_model_found == cases[i].found
           && s.client_model_len == strlen(cases[i].model)
           && memcmp(s.client_model, cases[i].model, s.client_model_len)
              == 0,
           "client model of %s: \"%.*s\"", body, (int) s.client_model_len,
           s.client_model);
    }

    /* the first 64 decoded bytes of a longer one */

    body = "{\"model\":\"0123456789012345678901234567890123456789"
           "0123456789012345678901234567890123456789xyz\"}";

    plan_run(body, strlen(body), CHAT, NULL, 0, FEED_WHOLE, 0, &p, &s);

    ok(s.rc == 0 && s.client_model_len == 64
       && memcmp(s.client_model, body + 10, 64) == 0,
       "a long client model: its first 64 bytes");
}


/* the names of a workflow: what any of its bundles sets */

static void
test_union(void)
{
    size_t                     i;
    result_t                   r;
    const char                *body;
    ai_release_set_t          *sa, *sb;
    ai_release_member_t        names[16];
    ai_release_apply_values_t  va, vb;

    if (values(BASE "params: {temperature: 0.5, seed: 7}\n", CHAT,
               AI_RELEASE_APPLY_MODEL | AI_RELEASE_APPLY_PARAMS, &va, &sa)
        != 0
        || values("name: b\nversion: \"1\"\nupstream: up\nmodel: other\n",
                  CHAT, AI_RELEASE_APPLY_MODEL | AI_RELEASE_APPLY_PARAMS,
                  &vb, &sb) != 0)
    {
        return;
    }

    /* b's model, then a's: a name twice is found at its first index */

    for (i = 0; i < vb.nmembers; i++) {
        names[i] = vb.members[i];
    }

    for (i = 0; i < va.nmembers; i++) {
        names[vb.nmembers + i] = va.members[i];
    }

    body = "{\"temperature\":1.5,\"model\":\"x\",\"messages\":[]}";

    apply(body, strlen(body), CHAT, &vb, names, vb.nmembers + va.nmembers,
          &r);

    ok(r.rc == 0 && strcmp(r.out, "{\"temperature\":1.5,\"model\":\"other\","
                                  "\"messages\":[]}") == 0,
       "a bundle without a param leaves the client's: %s", r.out);

    ok(r.snap.found[0].found && r.snap.found[2].found
       && !r.snap.found[1].found && r.snap.found[1].start == 0,
       "a name given twice is found at its first index");

    free(r.out);

    apply(body, strlen(body), CHAT, &va, names, vb.nmembers + va.nmembers,
          &r);

    ok(r.rc == 0 && strcmp(r.out, "{\"seed\":7,\"temperature\":0.5,"
                                  "\"model\":\"m\",\"messages\":[]}") == 0,
       "the other bundle sets it: %s", r.out);

    free(r.out);

    ai_release_apply_values_free(&va);
    ai_release_apply_values_free(&vb);
    ai_release_set_free(sa);
    ai_release_set_free(sb);
}


static void
test_splits(void)
{
    int                        good, all;
    size_t                     i, k;
    ai_release_set_t          *set;
    ai_release_apply_values_t  v;

    static const char  *bodies[] = {
        "{\"model\": \"gpt-old\", \"messages\": [{\"role\": \"developer\", "
        "\"content\": \"old \\u00e9 \\ud83d\\ude00\"}, {\"role\":\"user\","
        "\"content\":\"hi\",\"model\":\"n\"}], \"tools\": [{\"a\":[1,2]}], "
        "\"temperature\": 1.5e-3, \"stop\": [\"x\"], \"user\": null}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"role\":\"system\"}]}",
        " { } ",
        "{\"model\":\"a\",\"messages\":[],\"model\":\"b\"}",
        "{\"temperature\":1,\"temp\\u0065rature\":2}",
        "[1,2]",
        "  \"x\"",
        "{\"model\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\",\"x\":\"\xc3(\"}",
        "{\"model\":\"gpt",
        "{\"messages\":[],",
        "{\"a\":12",
        "{\"a\":-",
        "{\"model\":\"a\"} x",
        "{\"model\":\"012345678901234567890123456789012345678901234567890"
        "123456789abcdefgh\"}",
        NULL
    };

    if (values(BUNDLE, CHAT, ALL, &v, &set) != 0) {
        ai_release_set_free(set);
        return;
    }

    all = 1;

    for (k = CHAT; k <= ANTH; k++) {
        for (i = 0; bodies[i]; i++) {
            good = splits(bodies[i], strlen(bodies[i]), (int) k, v.members,
                          v.nmembers);

            if (!good) {
                printf("# %s: %s\n", ai_release_format_name((int) k),
                       bodies[i]);
            }

            all &= good;
        }
    }

    ok(all, "plans the same whole, a byte at a time and cut anywhere "
       "(%zu bodies, 3 formats)", i);

    ai_release_apply_values_free(&v);
    ai_release_set_free(set);
}
