
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Fuzz target: the output contract checker (ai_release_contract.c) on
 * arbitrary answers, JSON bodies and event streams.  The contracts are
 * fixed: eight bundles of one manifest, loaded once, that between them
 * use every rule and every wire format's view of a stream.
 *
 * The input's first byte picks the contract (bits 0-2), the wire format
 * (bits 3-4), the Content-Type (bit 5: text/event-stream, else JSON),
 * whether the answer was complete (bit 6) and the status (bit 7: 500,
 * else 200); its second byte where the body is cut in two and the sizes
 * of the chunks; the rest is the body.  The body is checked whole, cut in
 * two, in chunks of 1 to 16 bytes and a byte at a time, each chunk in an
 * allocation of its own size: the verdict and its detail must be the same
 * every time.  Also: OK has an empty detail and any other rule a detail;
 * latency rules never come from the body; max_bytes breaks exactly when
 * the body is longer; a contract without rules keeps every answer.
 */


#include "fuzz.h"
#include "ai_release_contract.h"


#define FUZZ_CONTRACTS  8
#define FUZZ_DETAIL     256


static const char  fuzz_contract_manifest[] =
    /* 0: a JSON answer of openai-chat */
    "name: fz\nversion: \"0\"\nupstream: up\nmodel: gpt-4o\n"
    "output_contract:\n"
    "  status: [200]\n"
    "  content_type: application/json\n"
    "  max_bytes: 2k\n"
    "  json: true\n"
    "  required: [/choices/0/message/content, /model]\n"
    "  non_empty: [/choices/0/message/content]\n"
    "  model_prefix: true\n"
    "---\n"
    /* 1: an OpenAI stream */
    "name: fz\nversion: \"1\"\nupstream: up\nmodel: gpt-4o\n"
    "output_contract:\n"
    "  content_type: text/event-stream\n"
    "  json: true\n"
    "  required: [/choices/0/message/content, /model, /usage]\n"
    "  non_empty: [/choices/0/message/content, /choices/0/finish_reason]\n"
    "  model_prefix: true\n"
    "  stream_end: \"[DONE]\"\n"
    "---\n"
    /* 2: an Anthropic stream */
    "name: fz\nversion: \"2\"\nupstream: up\nmodel: claude\n"
    "output_contract:\n"
    "  max_bytes: 4k\n"
    "  json: true\n"
    "  required: [/content/0/text, /model, /stop_reason]\n"
    "  non_empty: [/content/0/text, /content/0]\n"
    "  model_prefix: true\n"
    "  stream_end: message_stop\n"
    "---\n"
    /* 3: pointers with escapes, each event an answer */
    "name: fz\nversion: \"3\"\nupstream: up\nmodel: m\n"
    "output_contract:\n"
    "  required: [/a, \"/b~1c\", /1]\n"
    "  non_empty: [\"/m~0n\", \"\"]\n"
    "  model_prefix: true\n"
    "---\n"
    /* 4: an OpenAI Responses stream */
    "name: fz\nversion: \"4\"\nupstream: up\nmodel: gpt-4.1\n"
    "output_contract:\n"
    "  required: [/output/0/content/0/text]\n"
    "  model_prefix: true\n"
    "  stream_end: response.completed\n"
    "---\n"
    /* 5: only the end of a stream and its size */
    "name: fz\nversion: \"5\"\nupstream: up\nmodel: m\n"
    "output_contract:\n"
    "  max_bytes: 64\n"
    "  stream_end: end\n"
    "---\n"
    /* 6: no rule */
    "name: fz\nversion: \"6\"\nupstream: up\nmodel: m\n"
    "output_contract: {}\n"
    "---\n"
    /* 7: status and JSON, enforced (which needs a max_bytes) */
    "name: fz\nversion: \"7\"\nupstream: up\nmodel: m\n"
    "output_contract:\n"
    "  status: [200, 201]\n"
    "  json: true\n"
    "  max_bytes: 1m\n"
    "  mode: enforce\n";


static ai_release_set_t             *fuzz_set;
static const ai_release_contract_t  *fuzz_contracts[FUZZ_CONTRACTS];
static const char                   *fuzz_models[FUZZ_CONTRACTS];


static void fuzz_contract_init(void);
static void fuzz_contract_cleanup(void);
static ai_release_contract_rule_e fuzz_contract_run(
    ai_release_contract_check_t *check, const uint8_t *head,
    const uint8_t *body, size_t len, size_t cut, unsigned step,
    unsigned seed, char *detail);


int
fuzz_one_contract(const uint8_t *data, size_t size)
{
    char                          whole[FUZZ_DETAIL], other[FUZZ_DETAIL];
    size_t                        len, cut, n;
    unsigned                      i;
    const uint8_t                *body;
    ai_release_contract_rule_e    rule, r;
    const ai_release_contract_t  *c;

    static ai_release_contract_check_t  check;

    if (fuzz_set == NULL) {
        fuzz_contract_init();
    }

    if (size < 2) {
        return 0;
    }

    body = data + 2;
    len = size - 2;
    c = fuzz_contracts[data[0] & 7];

    rule = fuzz_contract_run(&check, data, body, len, len, 0, 0, whole);

    n = strlen(whole);

    FUZZ_CHECK(rule < AI_RELEASE_CONTRACT_MAX_FIRST_BYTE);
    FUZZ_CHECK((rule == AI_RELEASE_CONTRACT_OK) == (n == 0));
    FUZZ_CHECK(n < FUZZ_DETAIL - 1);

    /* max_bytes: exactly when the body is longer, unless broken before */

    if (c->max_bytes && len <= c->max_bytes) {
        FUZZ_CHECK(rule != AI_RELEASE_CONTRACT_MAX_BYTES);
    }

    if (c->max_bytes && len > c->max_bytes) {
        FUZZ_CHECK(rule != AI_RELEASE_CONTRACT_OK);
    }

    if ((data[0] & 7) == 6) {
        FUZZ_CHECK(rule == AI_RELEASE_CONTRACT_OK);
    }

    /* the same however the body is split */

    cut = len * data[1] / 255;

    r = fuzz_contract_run(&check, data, body, len, cut, 0, 0, other);
    FUZZ_CHECK(r == rule && strcmp(other, whole) == 0);

    r = fuzz_contract_run(&check, data, body, len, len, 16, data[1], other);
    FUZZ_CHECK(r == rule && strcmp(other, whole) == 0);

    r = fuzz_contract_run(&check, data, body, len, len, 1, 0, other);
    FUZZ_CHECK(r == rule && strcmp(other, whole) == 0);

    /* a detail in a buffer too small is cut, and says what it needs */

    n = ai_release_contract_detail(&check, other, 4);
    FUZZ_CHECK(n == strlen(whole) && strlen(other) == (n < 4 ? n : 3));

    for (i = 0; i < FUZZ_CONTRACTS; i++) {
        FUZZ_CHECK(ai_release_contract_latency(fuzz_contracts[i], 0, 0)
                   == AI_RELEASE_CONTRACT_OK);
    }

    return 0;
}


/*
 * The verdict on body: in two at cut when step is 0, else in chunks of
 * step bytes, or of 1 to step bytes drawn from seed when seed is not 0
 */

static ai_release_contract_rule_e
fuzz_contract_run(ai_release_contract_check_t *check, const uint8_t *head,
    const uint8_t *body, size_t len, size_t cut, unsigned step,
    unsigned seed, char *detail)
{
    int                           format;
    size_t                        pos, n;
    uint8_t                      *copy;
    const char                   *type, *model;
    const ai_release_contract_t  *c;

    c = fuzz_contracts[head[0] & 7];
    model = fuzz_models[head[0] & 7];
    format = (head[0] >> 3) & 3;
    type = (head[0] & 0x20) ? "text/event-stream"
                            : "application/json; charset=utf-8";

    ai_release_contract_init(check, c, format, model, strlen(model),
                             (head[0] & 0x80) ? 500 : 200, type,
                             strlen(type));

    for (pos = 0; pos < len; pos += n) {

        if (step == 0) {
            n = (pos < cut) ? cut - pos : len - pos;

        } else if (seed) {
            seed = seed * 1103515245 + 12345;
            n = 1 + (seed >> 16) % step;

        } else {
            n = step;
        }

        if (n > len - pos) {
            n = len - pos;
        }

        copy = malloc(n);
        FUZZ_CHECK(copy != NULL);

        memcpy(copy, body + pos, n);
        (void) ai_release_contract_feed(check, copy, n);
        free(copy);
    }

    (void) ai_release_contract_finish(check, (head[0] & 0x40) != 0);
    (void) ai_release_contract_detail(check, detail, FUZZ_DETAIL);

    return check->rule;
}


static void
fuzz_contract_init(void)
{
    size_t                i;
    ai_release_errors_t   errs;
    ai_release_bundle_t  *b;

    fuzz_set = ai_release_set_create();
    FUZZ_CHECK(fuzz_set != NULL);

    ai_release_errors_init(&errs);

    FUZZ_CHECK(ai_release_set_load_buffer(fuzz_set, "fuzz-contract.yaml",
                                          fuzz_contract_manifest,
                                          sizeof(fuzz_contract_manifest) - 1,
                                          &errs)
               == 0);
    FUZZ_CHECK(ai_release_set_count(fuzz_set) == FUZZ_CONTRACTS);

    ai_release_errors_free(&errs);

    for (i = 0; i < FUZZ_CONTRACTS; i++) {
        b = ai_release_set_get(fuzz_set, i);
        FUZZ_CHECK(b->contract != NULL
                   && (size_t) (b->version[0] - '0') == i);

        fuzz_contracts[i] = b->contract;
        fuzz_models[i] = b->model;
    }

    (void) atexit(fuzz_contract_cleanup);
}


static void
fuzz_contract_cleanup(void)
{
    ai_release_set_free(fuzz_set);
    fuzz_set = NULL;
}


#ifndef AI_RELEASE_NO_LIBFUZZER_MAIN

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_one_contract(data, size);
}

#endif
