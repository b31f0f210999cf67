
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
 * to the canary_margin rule's bounds, which must be rates (no NaN).  Each
 * word also goes to ai_release_drift_parse() (one drift rule) and to the
 * price parser; the drift rule then judges aggregates made of the trip
 * configuration's numbers.
 */


#include "fuzz.h"
#include "ai_release_drift.h"


#define FUZZ_ERR_SIZE  256


static void fuzz_params_word(ai_release_trip_conf_t *conf,
    ai_release_drift_conf_t *drift, const char *s, size_t len);
static void fuzz_params_drift(const ai_release_drift_conf_t *drift,
    const ai_release_trip_conf_t *conf);


int
fuzz_one_params(const uint8_t *data, size_t size)
{
    char                    *copy;
    size_t                   i, start;
    uint64_t                 cooldown, stable[2];
    ai_release_margin_t      mb;
    ai_release_trip_conf_t   conf;
    ai_release_drift_conf_t  drift;

    /* a copy of just the input's size: reading past a word is caught */

    copy = malloc(size ? size : 1);
    FUZZ_CHECK(copy != NULL);

    if (size) {
        memcpy(copy, data, size);
    }

    ai_release_trip_defaults(&conf);
    ai_release_drift_defaults(&drift);

    start = 0;

    for (i = 0; i <= size; i++) {
        if (i < size && copy[i] != '\0' && copy[i] != '\n') {
            continue;
        }

        fuzz_params_word(&conf, &drift, copy + start, i - start);

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

    fuzz_params_drift(&drift, &conf);

    cooldown = conf.cooldown_ms;

    for (i = 0; i < 80; i++) {
        cooldown = ai_release_next_cooldown(&conf, cooldown);
        FUZZ_CHECK(cooldown > 0);
    }

    return 0;
}


/* the drift rule as configured, on aggregates of the trip's numbers */

static void
fuzz_params_drift(const ai_release_drift_conf_t *drift,
    const ai_release_trip_conf_t *conf)
{
    unsigned                    i;
    ai_release_pricing_t        pricing;
    ai_release_drift_agg_t      c, s;
    ai_release_drift_signal_t   sig;

    FUZZ_CHECK(drift->min_answers >= 1 && drift->min_answers <= 999999999);
    FUZZ_CHECK(drift->mode == AI_RELEASE_DRIFT_TRIP
               || drift->mode == AI_RELEASE_DRIFT_OBSERVE);
    FUZZ_CHECK(drift->margin[AI_RELEASE_DRIFT_NONE] == 0);

    for (i = 1; i < AI_RELEASE_DRIFT_N; i++) {
        FUZZ_CHECK(drift->margin[i] >= -100 * AI_RELEASE_DRIFT_SCALE
                   && drift->margin[i] <= 100 * AI_RELEASE_DRIFT_SCALE);

        /* a ratio: more than 0, not 1 */
        FUZZ_CHECK(AI_RELEASE_DRIFT_POINTS(i)
                   || (drift->margin[i] >= 0
                       && drift->margin[i] != AI_RELEASE_DRIFT_SCALE));
    }

    memset(&c, 0, sizeof(c));
    memset(&s, 0, sizeof(s));

    c.answers = conf->min_requests;
    c.usage = conf->min_errors;
    c.output_tokens = conf->probes;
    c.output_tokens_sq = conf->consecutive;
    c.refusals = conf->error_rate;
    c.first_token_hist[ai_release_hist_bucket(conf->window_ms)] =
        conf->min_requests;
    s.answers = conf->min_errors;
    s.usage = conf->min_requests;
    s.output_tokens = conf->consecutive;
    s.output_tokens_sq = conf->probes;
    s.endings[AI_RELEASE_END_LENGTH] = conf->canary_margin;
    s.first_token_hist[ai_release_hist_bucket(conf->cooldown_ms)] =
        conf->min_errors;

    pricing.input_per_mtok = conf->cooldown_ms;
    pricing.output_per_mtok = conf->max_cooldown_ms;
    pricing.set = 1;

    for (i = 0; i <= AI_RELEASE_DRIFT_N; i++) {
        ai_release_drift_signal(drift, i, &c, &pricing, &s, &pricing, &sig);
        FUZZ_CHECK(!sig.breached || sig.judged);
        FUZZ_CHECK(!sig.judged || (sig.canary_n >= drift->min_answers
                                   && sig.stable_n >= drift->min_answers));
    }

    i = ai_release_drift_check(drift, &c, &pricing, &s, NULL);
    FUZZ_CHECK(i < AI_RELEASE_DRIFT_N);
}


static void
fuzz_params_word(ai_release_trip_conf_t *conf,
    ai_release_drift_conf_t *drift, const char *s, size_t len)
{
    int       cls;
    char      err[FUZZ_ERR_SIZE], *word, text[AI_RELEASE_PRICE_TEXT_SIZE];
    size_t    n;
    unsigned  weight;
    uint64_t  ms, micro, again;

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

    memset(err, 'x', sizeof(err));

    if (ai_release_drift_parse(drift, word, len, err, sizeof(err)) != 0) {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
        FUZZ_CHECK(strlen(err) > 0);
    }

    /* a price: in range, and its shortest form reads back the same */

    if (ai_release_price_parse(word, len, &micro) == 0) {
        FUZZ_CHECK(micro <= AI_RELEASE_PRICE_MAX);
        n = ai_release_price_format(micro, text);
        FUZZ_CHECK(n > 0 && n <= len);
        FUZZ_CHECK(ai_release_price_parse(text, n, &again) == 0
                   && again == micro);
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
