
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Fuzz target: request bodies planned and edited by the apply code
 * (ai_release_apply.c).  The values are fixed: one bundle (loaded once,
 * its tool schema from a temporary directory) with its model, system
 * instructions, tools and params applied in each of the three formats.
 * For each format the input is planned whole, a byte at a time and cut
 * in two where the input says: the three plans must agree.  When the plan
 * succeeds, the edits are made and applied; when jansson also reads the
 * input as an object, it must read the output, find there the bundle's
 * model, instructions, tools and params, every other top-level member of
 * the input unchanged, and agree with the plan on the client's model and
 * on the role of messages[0].
 */


#include <jansson.h>

#include "fuzz.h"
#include "ai_release_apply.h"


#define FUZZ_APPLY_FORMATS  3
#define FUZZ_APPLY_ALL      (AI_RELEASE_APPLY_MODEL | AI_RELEASE_APPLY_SYSTEM  \
                             | AI_RELEASE_APPLY_TOOLS                        \
                             | AI_RELEASE_APPLY_PARAMS)
#define FUZZ_APPLY_NAMES    16


static const char  fuzz_apply_bundle[] =
    "name: fz\n"
    "version: \"1\"\n"
    "upstream: up\n"
    "model: fz-model\n"
    "system_instructions: \"Be brief. \\\"q\\\" \\u00e9\\n\"\n"
    "tool_schema: tools.json\n"
    "params:\n"
    "  temperature: 0.2\n"
    "  max_tokens: 50\n"
    "  stop: x\n"
    "  seed: null\n";

static const char  fuzz_apply_tools[] =
    "[ {\"type\": \"function\", \"function\": {\"name\": \"f\", "
    "\"x\": [1.5e3, true]}} ]\n";


typedef struct {
    ai_release_span_t   found[FUZZ_APPLY_NAMES];
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
} fuzz_apply_snap_t;


static void fuzz_apply_init(void);
static void fuzz_apply_plan(ai_release_apply_plan_t *p, int format,
    const ai_release_apply_values_t *v, const uint8_t *data, size_t size,
    size_t step, size_t cut, fuzz_apply_snap_t *snap);
static void fuzz_apply_format(int format, const ai_release_apply_values_t *v,
    const uint8_t *data, size_t size);
static void fuzz_apply_check(int format, const ai_release_apply_values_t *v,
    const ai_release_apply_plan_t *p, json_t *in, const char *out,
    size_t len);


static ai_release_set_t           *fuzz_apply_set;
static ai_release_apply_values_t   fuzz_apply_values[FUZZ_APPLY_FORMATS];


int
fuzz_one_apply(const uint8_t *data, size_t size)
{
    int  k;

    if (fuzz_apply_set == NULL) {
        fuzz_apply_init();
    }

    for (k = 0; k < FUZZ_APPLY_FORMATS; k++) {
        fuzz_apply_format(AI_RELEASE_FORMAT_OPENAI_CHAT + k,
                          &fuzz_apply_values[k], data, size);
    }

    return 0;
}


static void
fuzz_apply_init(void)
{
    int                   k;
    char                 *dir, *path, err[256];
    unsigned              line, column;
    ai_release_bundle_t  *b;
    ai_release_errors_t   errs;

    dir = fuzz_tmpdir("apply");
    fuzz_write(dir, "tools.json", fuzz_apply_tools,
               sizeof(fuzz_apply_tools) - 1);
    path = fuzz_path(dir, "bundle.yaml");

    fuzz_apply_set = ai_release_set_create();
    FUZZ_CHECK(fuzz_apply_set != NULL);

    ai_release_errors_init(&errs);

    FUZZ_CHECK(ai_release_set_load_buffer(fuzz_apply_set, path,
                                          fuzz_apply_bundle,
                                          sizeof(fuzz_apply_bundle) - 1,
                                          &errs)
               == 0);

    fuzz_errors_done(&errs);

    b = ai_release_set_get(fuzz_apply_set, 0);

    /* the files are read here, once: the directory is not needed after */

    for (k = 0; k < FUZZ_APPLY_FORMATS; k++) {
        FUZZ_CHECK(ai_release_apply_values(b,
                                           AI_RELEASE_FORMAT_OPENAI_CHAT + k,
                                           FUZZ_APPLY_ALL,
                                           &fuzz_apply_values[k], err,
                                           sizeof(err), &line, &column)
                   == 0);
        FUZZ_CHECK(fuzz_apply_values[k].nmembers <= FUZZ_APPLY_NAMES);
    }

    fuzz_rmtree(dir);
    free(path);
    free(dir);
}


/* plans data: whole (step 0), step bytes at a time, or cut in two */

static void
fuzz_apply_plan(ai_release_apply_plan_t *p, int format,
    const ai_release_apply_values_t *v, const uint8_t *data, size_t size,
    size_t step, size_t cut, fuzz_apply_snap_t *snap)
{
    int                rc;
    size_t             i, n;
    ai_release_span_t  found[FUZZ_APPLY_NAMES];

    ai_release_apply_plan_init(p, format, v->members, v->nmembers, found);

    rc = 0;

    if (step == 0) {
        rc = ai_release_apply_plan_feed(p, data, cut);

        if (rc == 0) {
            rc = ai_release_apply_plan_feed(p, data + cut, size - cut);
        }

    } else {
        for (i = 0; rc == 0 && i < size; i += n) {
            n = (size - i < step) ? size - i : step;
            rc = ai_release_apply_plan_feed(p, data + i, n);
        }
    }

    if (rc == 0) {
        rc = ai_release_apply_plan_finish(p);
    }

    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK((rc == 0) == (p->error == NULL));

    memset(snap, 0, sizeof(fuzz_apply_snap_t));

    memcpy(snap->found, found, v->nmembers * sizeof(ai_release_span_t));
    snap->obj_start = p->obj_start;
    snap->obj_count = p->obj_count;
    snap->body_len = (rc == 0) ? p->body_len : 0;
    snap->messages_start = p->messages_start;
    snap->messages_count = p->messages_count;
    snap->first_start = p->first_start;
    snap->first_end = p->first_end;
    snap->messages_found = p->messages_found;
    snap->first_is_system = p->first_is_system;
    snap->client_model_found = p->client_model_found;
    FUZZ_CHECK(p->client_model_len <= sizeof(p->client_model));
    memcpy(snap->client_model, p->client_model, p->client_model_len);
    snap->client_model_len = p->client_model_len;
    snap->rc = rc;

    if (rc != 0) {
        FUZZ_CHECK(p->error_offset <= size);

        (void) snprintf(snap->error, sizeof(snap->error), "%s", p->error);
        snap->error_offset = p->error_offset;
    }

    /* the plan's spans lie in the body, in order */

    for (i = 0; rc == 0 && i < v->nmembers; i++) {
        if (found[i].found) {
            FUZZ_CHECK(found[i].start > p->obj_start
                       && found[i].start < found[i].end
                       && found[i].end < size);
        }
    }

    /* the spans live in the caller's memory: p must not keep them */

    p->found = NULL;
}


static void
fuzz_apply_format(int format, const ai_release_apply_values_t *v,
    const uint8_t *data, size_t size)
{
    int                       rc;
    char                     *out, *o;
    size_t                    i, j, n, cut;
    json_t                   *in;
    uint64_t                  new_len, pos;
    json_error_t              jerr;
    fuzz_apply_snap_t         whole, other;
    ai_release_edit_t         edits[AI_RELEASE_APPLY_MAX_EDITS(
                                                     FUZZ_APPLY_NAMES)];
    ai_release_span_t         found[FUZZ_APPLY_NAMES];
    ai_release_apply_plan_t   p, q;

    /* the plan is the same however the body comes */

    fuzz_apply_plan(&q, format, v, data, size, 1, 0, &other);
    fuzz_apply_plan(&p, format, v, data, size, 0, size, &whole);

    FUZZ_CHECK(memcmp(&whole, &other, sizeof(fuzz_apply_snap_t)) == 0);

    cut = size ? (data[0] * 131u + size) % (size + 1) : 0;

    fuzz_apply_plan(&q, format, v, data, size, 0, cut, &other);
    FUZZ_CHECK(memcmp(&whole, &other, sizeof(fuzz_apply_snap_t)) == 0);

    fuzz_apply_plan(&q, format, v, data, size, 7, 0, &other);
    FUZZ_CHECK(memcmp(&whole, &other, sizeof(fuzz_apply_snap_t)) == 0);

    if (whole.rc != 0) {
        return;
    }

    /* the edits, applied */

    memcpy(found, whole.found, sizeof(found));
    p.found = found;

    rc = ai_release_apply_edits(&p, v, edits,
                                AI_RELEASE_APPLY_MAX_EDITS(v->nmembers), &n,
                                &new_len);

    if (rc != 0) {
        /* only a system message can find no place */
        FUZZ_CHECK(v->system_message != NULL && !p.messages_found);
        return;
    }

    out = malloc(new_len + 1);
    FUZZ_CHECK(out != NULL);

    o = out;
    pos = 0;

    for (i = 0; i < n; i++) {
        FUZZ_CHECK(edits[i].start >= pos && edits[i].start <= edits[i].end
                   && edits[i].end <= size);

        memcpy(o, data + pos, edits[i].start - pos);
        o += edits[i].start - pos;

        for (j = 0; j < 3 && edits[i].text[j]; j++) {
            memcpy(o, edits[i].text[j], edits[i].len[j]);
            o += edits[i].len[j];
        }

        pos = edits[i].end;
    }

    memcpy(o, data + pos, size - pos);
    o += size - pos;

    FUZZ_CHECK((uint64_t) (o - out) == new_len);
    *o = '\0';

    /* the output is JSON when the input is, with the bundle's values */

    in = json_loadb((const char *) data, size, JSON_ALLOW_NUL, &jerr);

    if (in != NULL && json_is_object(in)) {
        fuzz_apply_check(format, v, &p, in, out, new_len);
    }

    json_decref(in);
    free(out);
}


static void
fuzz_apply_check(int format, const ai_release_apply_values_t *v,
    const ai_release_apply_plan_t *p, json_t *in, const char *out,
    size_t len)
{
    size_t                      i, k, skip;
    json_t                     *j, *want, *value, *msgs, *role;
    const char                 *key, *r;
    json_error_t                jerr;
    const ai_release_member_t  *m;

    j = json_loadb(out, len, JSON_ALLOW_NUL, &jerr);

    if (j == NULL) {
        fprintf(stderr, "output not JSON: %s at %d\n%s\n", jerr.text,
                jerr.position, out);
    }

    FUZZ_CHECK(j != NULL && json_is_object(j));

    FUZZ_CHECK(json_is_string(json_object_get(j, "model"))
               && strcmp(json_string_value(json_object_get(j, "model")),
                         "fz-model") == 0);

    for (i = 0; i < v->nmembers; i++) {
        m = &v->members[i];

        want = json_loadb(m->value, m->value_len, JSON_DECODE_ANY, &jerr);
        FUZZ_CHECK(want != NULL);
        FUZZ_CHECK(json_equal(want, json_object_get(j, m->name)));
        json_decref(want);
    }

    /* what the plan read of the client's request, as jansson reads it */

    value = json_object_get(in, "model");

    FUZZ_CHECK(p->client_model_found == (value != NULL));

    if (json_is_string(value)) {
        k = json_string_length(value);
        k = (k < 64) ? k : 64;
        FUZZ_CHECK(p->client_model_len == k
                   && memcmp(p->client_model, json_string_value(value), k)
                      == 0);
    }

    msgs = json_object_get(in, "messages");

    FUZZ_CHECK(p->messages_found == json_is_array(msgs));

    skip = 0;

    if (json_is_array(msgs)) {
        FUZZ_CHECK(p->messages_count == json_array_size(msgs));

        role = json_object_get(json_array_get(msgs, 0), "role");
        r = json_string_value(role);

        FUZZ_CHECK(p->first_is_system
                   == (r != NULL
                       && json_string_length(role) == strlen(r)
                       && (strcmp(r, "system") == 0
                           || strcmp(r, "developer") == 0)));

        skip = p->first_is_system;
    }

    /* the system message first in messages, the others as they were */

    if (format == AI_RELEASE_FORMAT_OPENAI_CHAT && v->system_message) {
        want = json_loadb(v->system_message, v->system_message_len, 0,
                          &jerr);
        FUZZ_CHECK(want != NULL);
        value = json_object_get(j, "messages");
        FUZZ_CHECK(json_equal(want, json_array_get(value, 0)));
        FUZZ_CHECK(json_array_size(value)
                   == json_array_size(msgs) + 1 - skip);

        for (i = 1; i < json_array_size(value); i++) {
            FUZZ_CHECK(json_equal(json_array_get(value, i),
                                  json_array_get(msgs, i - 1 + skip)));
        }

        json_decref(want);
    }

    /* every other top-level member unchanged */

    json_object_foreach(in, key, value) {
        for (i = 0; i < v->nmembers; i++) {
            if (strcmp(v->members[i].name, key) == 0) {
                break;
            }
        }

        if (i < v->nmembers
            || (format == AI_RELEASE_FORMAT_OPENAI_CHAT
                && strcmp(key, "messages") == 0))
        {
            continue;
        }

        FUZZ_CHECK(json_equal(value, json_object_get(j, key)));
    }

    FUZZ_CHECK(json_object_size(j)
               >= json_object_size(in));

    json_decref(j);
}


#ifndef AI_RELEASE_NO_LIBFUZZER_MAIN

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_one_apply(data, size);
}

#endif
