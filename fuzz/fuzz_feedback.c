/*
 * Copyright (C) ngx_ai_release authors
 *
 * Fuzz target: reviewer feedback, through ai_release_feedback_parse() (the
 * body of a POST to ai_release_feedback) and ai_release_feedback_id_verify()
 * on every release_id it yields and on the input itself: nothing but an
 * id made with the key verifies, and a genuine id made of what verified
 * says the same again.
 */


#include "fuzz.h"
#include "ai_release_feedback.h"


#define FUZZ_SECRET  "fuzz-feedback-secret-0123456789"


static void fuzz_feedback_id(const ai_release_feedback_key_t *key,
    const char *s, size_t len);


int
fuzz_one_feedback(const uint8_t *data, size_t size)
{
    int                          n, i;
    char                        *body, err[128];
    size_t                       max;
    ai_release_feedback_key_t    key;
    ai_release_feedback_item_t  *items;

    body = malloc(size ? size : 1);
    FUZZ_CHECK(body != NULL);

    if (size) {
        memcpy(body, data, size);
    }

    ai_release_feedback_key_init(&key, FUZZ_SECRET, sizeof(FUZZ_SECRET) - 1);

    max = AI_RELEASE_FEEDBACK_MAX_ITEMS;
    items = malloc(max * sizeof(ai_release_feedback_item_t));
    FUZZ_CHECK(items != NULL);

    memset(err, 'e', sizeof(err));

    n = ai_release_feedback_parse(body, size, items, max, err, sizeof(err));

    FUZZ_CHECK(n == -1 || (n >= 1 && (size_t) n <= max));

    if (n == -1) {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
    }

    for (i = 0; i < n; i++) {
        FUZZ_CHECK(items[i].outcome < AI_RELEASE_FEEDBACK_NOUTCOMES);
        FUZZ_CHECK(items[i].id_len > AI_RELEASE_FEEDBACK_ID_LEN
                   || strlen(items[i].id) <= items[i].id_len);

        fuzz_feedback_id(&key, items[i].id,
                         items[i].id_len > AI_RELEASE_FEEDBACK_ID_LEN
                         ? 0 : items[i].id_len);
    }

    fuzz_feedback_id(&key, body, size);

    free(items);
    free(body);

    return 0;
}


static void
fuzz_feedback_id(const ai_release_feedback_key_t *key, const char *s,
    size_t len)
{
    char                      again[AI_RELEASE_FEEDBACK_ID_LEN];
    ai_release_feedback_id_t  id;

    if (ai_release_feedback_id_verify(key, s, len, &id) != 0) {
        return;
    }

    /* only a MAC of the key passes: the same fields make the same id */

    FUZZ_CHECK(len == AI_RELEASE_FEEDBACK_ID_LEN);
    FUZZ_CHECK(id.nonce < (1ULL << 56));

    ai_release_feedback_id_make(key, id.tag, id.digest, id.nonce, again);

    FUZZ_CHECK(memcmp(again, s, AI_RELEASE_FEEDBACK_ID_LEN) == 0);
}


#ifndef AI_RELEASE_NO_LIBFUZZER_MAIN

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_one_feedback(data, size);
}

#endif
