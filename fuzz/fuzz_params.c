
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Fuzz target: directive parameters.  The input is split on NUL and
 * newline into words; each word goes to every parser of a directive
 * parameter: ai_release_trip_parse() (on one trip configuration, from
 * the defaults, as the words of one "trip" directive), the weight, the
 * duration and the outcome class parsers, and the name, header name and
 * header value validators.  What they accept must hold their invariants;
 * the resulting trip configuration is then evaluated, and its counts go
 * to the canary_margin rule's bounds, which must be rates (no NaN).
 */


#include "fuzz.h"


#define FUZZ_ERR_SIZE  256


static void fuzz_params_word(ai_release_trip_conf_t *conf, const char *s,
    size_t len);


int
fuzz_one_params(const uint8_t *data, size_t size)
{
    char                    *copy;
    size_t                   i, start;
    uint64_t                 cooldown, stable[2];
    ai_release_margin_t      mb;
    ai_release_trip_conf_t   conf;

    /* a copy of just the input's size: reading past a word is caught */

    copy = malloc(size ? size : 1);
    FUZZ_CHECK(copy != NULL);

    if (size) {
        memcpy(copy, data, size);
    }

    ai_release_trip_defaults(&conf);

    start = 0;

    for (i = 0; i <= size; i++) {
        if (i < size && copy[i] != '\0' && copy[i] != '\n') {
            continue;
        }

        fuzz_params_word(&conf, copy + start, i - start);

        start = i + 1;
    }

    free(copy);

    /* what was configured */

    FUZZ_CHECK(conf.error_rate >= 1
               && conf.error_rate <= AI_RELEASE_WEIGHT_SCALE);
    FUZZ_CHECK(conf.canary_margin <= AI_RELEASE_WEIGHT_SCALE
               || conf.canary_margin == AI_RELEASE_MARGIN_OFF);
    FUZZ_CHECK(conf.min_requests >= 1 && conf.min_errors >= 1
               && conf.probes >= 1);
    FUZZ_CHECK(conf.window_ms >= AI_RELEASE_WINDOW_BUCKETS);
    FUZZ_CHECK(conf.cooldown_ms > 0 && conf.max_cooldown_ms > 0);
    FUZZ_CHECK(conf.probe_timeout_ms > 0);

    stable[0] = 100;
    stable[1] = 3;

    (void) ai_release_trip_check(&conf, 0, 0, 0, NULL);
    (void) ai_release_trip_check(&conf, 100, 7, 2, stable);
    (void) ai_release_trip_check(&conf, UINT64_MAX / 4, UINT64_MAX / 8,
                                 UINT64_MAX, stable);

    /* the canary_margin rule's bounds, at the configured counts */

    ai_release_margin_bounds(conf.min_requests, conf.min_errors,
                             conf.probes, conf.consecutive, &mb);
    FUZZ_CHECK(mb.canary_lower >= 0 && mb.canary_lower <= 1);
    FUZZ_CHECK(mb.stable_upper >= 0 && mb.stable_upper <= 1);
    FUZZ_CHECK(mb.diff_lower >= -1.000001 && mb.diff_lower <= 1);

    cooldown = conf.cooldown_ms;

    for (i = 0; i < 80; i++) {
        cooldown = ai_release_next_cooldown(&conf, cooldown);
        FUZZ_CHECK(cooldown > 0);
    }

    return 0;
}


static void
fuzz_params_word(ai_release_trip_conf_t *conf, const char *s, size_t len)
{
    int       cls;
    char      err[FUZZ_ERR_SIZE], *word;
    unsigned  weight;
    uint64_t  ms;

    /* the word alone in an allocation of its size */

    word = malloc(len ? len : 1);
    FUZZ_CHECK(word != NULL);

    if (len) {
        memcpy(word, s, len);
    }

    memset(err, 'x', sizeof(err));

    if (ai_release_trip_parse(conf, word, len, err, sizeof(err)) != 0) {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
        FUZZ_CHECK(strlen(err) > 0);
    }

    if (ai_release_parse_weight(word, len, &weight) == 0) {
        FUZZ_CHECK(weight <= AI_RELEASE_WEIGHT_SCALE);
        FUZZ_CHECK(len > 0 && word[len - 1] == '%');
    }

    if (ai_release_parse_duration(word, len, &ms) == 0) {
        FUZZ_CHECK(len > 0 && word[0] >= '0' && word[0] <= '9');
    }

    cls = ai_release_class_parse(word, len);

    if (cls >= 0) {
        FUZZ_CHECK(cls < AI_RELEASE_NCLASSES);
        FUZZ_CHECK(strlen(ai_release_class_name((unsigned) cls)) == len);
    }

    if (ai_release_valid_name(word, len)) {
        FUZZ_CHECK(ai_release_valid_header_name(word, len));
        FUZZ_CHECK(ai_release_valid_header_value(word, len));
    }

    if (ai_release_valid_header_name(word, len)) {
        FUZZ_CHECK(len > 0 && memchr(word, '\0', len) == NULL);
    }

    if (ai_release_valid_header_value(word, len)) {
        FUZZ_CHECK(len == 0 || memchr(word, '\n', len) == NULL);
    }

    (void) ai_release_hash_bucket(ai_release_hash32(0, word, len));

    free(word);
}


#ifndef AI_RELEASE_NO_LIBFUZZER_MAIN

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_one_params(data, size);
}

#endif
