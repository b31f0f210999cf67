/*
 * Copyright (C) ngx_ai_release authors
 *
 * The error budget's arithmetic: outcome classes, lock-free sliding
 * windows, the latency histogram and the trip rules.  Plain C, shared by
 * the nginx module and the unit tests.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai_release_core.h"


static const char  *ai_release_class_names[AI_RELEASE_NCLASSES] = {
    "ok", "5xx", "connect", "timeout", "invalid", "429", "slow", "contract",
    "rejected"
};


const uint64_t  ai_release_latency_export_ms[AI_RELEASE_LATENCY_EXPORTS] = {
    1, 2, 5, 10, 25, 50, 125, 250, 500, 1000, 2000, 3000, 5000, 7500,
    10000, 15000, 20000, 30000, 60000, 120000, 240000
};


const char *
ai_release_class_name(unsigned cls)
{
    return cls < AI_RELEASE_NCLASSES ? ai_release_class_names[cls] : "?";
}


int
ai_release_class_parse(const char *s, size_t len)
{
    int  i;

    for (i = 0; i < AI_RELEASE_NCLASSES; i++) {
        if (strlen(ai_release_class_names[i]) == len
            && memcmp(ai_release_class_names[i], s, len) == 0)
        {
            return i;
        }
    }

    return -1;
}


void
ai_release_window_init(ai_release_window_t *w, uint64_t window_ms)
{
    memset(w, 0, sizeof(ai_release_window_t));

    w->width_ms = window_ms / AI_RELEASE_WINDOW_BUCKETS;

    if (w->width_ms == 0) {
        w->width_ms = 1;
    }
}


/* one more in a cell of the current bucket */

void
ai_release_window_cell_inc(uint64_t *cell, uint32_t epoch)
{
    int32_t   d;
    uint64_t  old, new;

    old = __atomic_load_n(cell, __ATOMIC_RELAXED);

    for ( ;; ) {
        d = (int32_t) ((uint32_t) (old >> 32) - epoch);

        if (d >= 0 && old != 0) {
            /* the current bucket (or a newer one another worker started) */
            new = old + 1;

        } else {
            /* a bucket from an earlier turn of the ring: retire it */
            new = ((uint64_t) epoch << 32) | 1;
        }

        if (__atomic_compare_exchange_n(cell, &old, new, 0, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
        {
            return;
        }
    }
}


void
ai_release_window_add(ai_release_window_t *w, unsigned counter,
    uint64_t now_ms)
{
    uint32_t  epoch;

    epoch = (uint32_t) (now_ms / w->width_ms);

    ai_release_window_cell_inc(
        &w->cell[epoch % AI_RELEASE_WINDOW_BUCKETS][counter], epoch);
}


/*
 * An outcome of class cls: its counter, the total and, when it is an
 * error, the errors, in one bucket computed once.
 */

void
ai_release_window_count(ai_release_window_t *w, unsigned cls, int error,
    uint64_t now_ms)
{
    uint32_t   epoch;
    uint64_t  *bucket;

    epoch = (uint32_t) (now_ms / w->width_ms);
    bucket = w->cell[epoch % AI_RELEASE_WINDOW_BUCKETS];

    ai_release_window_cell_inc(&bucket[cls], epoch);
    ai_release_window_cell_inc(&bucket[AI_RELEASE_CNT_TOTAL], epoch);

    if (error) {
        ai_release_window_cell_inc(&bucket[AI_RELEASE_CNT_ERRORS], epoch);
    }
}


uint64_t
ai_release_window_cell(uint64_t v, uint32_t epoch)
{
    int32_t  d;

    if (v == 0) {
        return 0;
    }

    d = (int32_t) (epoch - (uint32_t) (v >> 32));

    if (d < 0 || d >= AI_RELEASE_WINDOW_BUCKETS) {
        /* too old, or from a clock too far ahead */
        return d < 0 && d > -AI_RELEASE_WINDOW_BUCKETS ? (v & 0xffffffff) : 0;
    }

    return v & 0xffffffff;
}


void
ai_release_window_sum(const ai_release_window_t *w, uint64_t now_ms,
    uint64_t out[AI_RELEASE_NCOUNTERS])
{
    unsigned  b, c;
    uint32_t  epoch;

    epoch = (uint32_t) (now_ms / w->width_ms);

    memset(out, 0, AI_RELEASE_NCOUNTERS * sizeof(uint64_t));

    for (b = 0; b < AI_RELEASE_WINDOW_BUCKETS; b++) {
        for (c = 0; c < AI_RELEASE_NCOUNTERS; c++) {
            out[c] += ai_release_window_cell(
                          __atomic_load_n(&w->cell[b][c], __ATOMIC_RELAXED),
                          epoch);
        }
    }
}


uint64_t
ai_release_window_get(const ai_release_window_t *w, unsigned counter,
    uint64_t now_ms)
{
    unsigned  b;
    uint32_t  epoch;
    uint64_t  sum;

    epoch = (uint32_t) (now_ms / w->width_ms);
    sum = 0;

    for (b = 0; b < AI_RELEASE_WINDOW_BUCKETS; b++) {
        sum += ai_release_window_cell(
                   __atomic_load_n(&w->cell[b][counter], __ATOMIC_RELAXED),
                   epoch);
    }

    return sum;
}


void
ai_release_window_reset(ai_release_window_t *w)
{
    unsigned  b, c;

    for (b = 0; b < AI_RELEASE_WINDOW_BUCKETS; b++) {
        for (c = 0; c < AI_RELEASE_NCOUNTERS; c++) {
            __atomic_store_n(&w->cell[b][c], 0, __ATOMIC_RELAXED);
        }
    }
}


/* the largest latency of the last finite bucket: u = 2^18 - 2^14, 240 s */
#define AI_RELEASE_LATENCY_TOP_MS                                            \
    ((((uint64_t) 2 * AI_RELEASE_LATENCY_SUB - 1)                            \
      << (AI_RELEASE_LATENCY_TOP_BITS - 1 - AI_RELEASE_LATENCY_SUB_BITS))    \
     * 125 / 128)


unsigned
ai_release_latency_bucket(uint64_t ms)
{
    unsigned  k;
    uint64_t  u;

    if (ms < AI_RELEASE_LATENCY_SUB) {
        /* u = ceil(ms * 1.024) is ms + 1 (0 for 0 ms): bucket ms */
        return (unsigned) ms;
    }

    if (ms > AI_RELEASE_LATENCY_TOP_MS) {
        return AI_RELEASE_LATENCY_BUCKETS - 1;
    }

    /* 1.024 units a millisecond, rounded up: above 8 */

    u = (ms * 128 + 124) / 125;

    /* u - 1 is in [2^k, 2^(k+1)): its 3 bits after the leading one */

    u--;
    k = 63 - __builtin_clzll(u);

    return (k + 1 - AI_RELEASE_LATENCY_SUB_BITS) * AI_RELEASE_LATENCY_SUB
           + (unsigned) ((u >> (k - AI_RELEASE_LATENCY_SUB_BITS))
                         & (AI_RELEASE_LATENCY_SUB - 1));
}


uint64_t
ai_release_latency_le_ms(unsigned i)
{
    uint64_t  u;

    if (i >= AI_RELEASE_LATENCY_BUCKETS - 1) {
        return UINT64_MAX;
    }

    if (i < AI_RELEASE_LATENCY_SUB) {
        u = i + 1;

    } else {
        u = (uint64_t) (AI_RELEASE_LATENCY_SUB + 1 + i % AI_RELEASE_LATENCY_SUB)
            << (i / AI_RELEASE_LATENCY_SUB - 1);
    }

    /* the largest ms with ceil(ms * 1.024) <= u */

    return u * 125 / 128;
}


double
ai_release_latency_quantile(const uint64_t *counts, double q)
{
    return ai_release_quantile(counts, AI_RELEASE_LATENCY_BUCKETS,
                               ai_release_latency_le_ms, q);
}


double
ai_release_quantile(const uint64_t *counts, unsigned n,
    uint64_t (*le)(unsigned i), double q)
{
    double    target, lower, upper;
    unsigned  i;
    uint64_t  count, cum;

    count = 0;

    for (i = 0; i < n; i++) {
        count += counts[i];
    }

    if (count == 0) {
        return 0;
    }

    target = q * (double) count;
    cum = 0;

    for (i = 0; i < n; i++) {
        if (counts[i] == 0 || (double) (cum + counts[i]) < target) {
            cum += counts[i];
            continue;
        }

        lower = i ? (double) le(i - 1) + 1 : 0;

        if (i == n - 1) {
            return lower;
        }

        upper = (double) le(i);

        return lower + (upper - lower) * (target - (double) cum)
                       / (double) counts[i];
    }

    /* q above 1 */

    return (double) le(n - 2);
}


void
ai_release_trip_defaults(ai_release_trip_conf_t *conf)
{
    conf->enabled = 1;
    conf->error_rate = 2000;
    conf->min_requests = 20;
    conf->min_errors = 5;
    conf->window_ms = 60000;
    conf->consecutive = 5;
    conf->cooldown_ms = 30000;
    conf->max_cooldown_ms = 600000;
    conf->probes = 5;
    conf->probe_timeout_ms = 60000;
    conf->canary_margin = 500;
    conf->recover_manual = 0;
    conf->errors_mask = AI_RELEASE_DEFAULT_ERRORS;
    conf->slow_ms = 0;
    conf->correction_rate = 0;
    conf->min_feedback = 20;
}


int
ai_release_parse_duration(const char *s, size_t len, uint64_t *ms)
{
    size_t    i;
    uint64_t  n, unit;

    n = 0;

    for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (n > (UINT64_MAX / 10) / 1000) {
            return -1;
        }

        n = n * 10 + (uint64_t) (s[i] - '0');
    }

    if (i == 0) {
        return -1;
    }

    if (len - i == 2 && s[i] == 'm' && s[i + 1] == 's') {
        unit = 1;

    } else if (len - i == 1 && s[i] == 's') {
        unit = 1000;

    } else if (len - i == 1 && s[i] == 'm') {
        unit = 60000;

    } else if (len - i == 1 && s[i] == 'h') {
        unit = 3600000;

    } else if (len - i == 1 && s[i] == 'd') {
        unit = 86400000;

    } else if (len == i) {
        unit = 1000;

    } else {
        return -1;
    }

    if (n > UINT64_MAX / unit / 1000) {
        return -1;
    }

    *ms = n * unit;

    return 0;
}


static int
ai_release_parse_count(const char *s, size_t len, uint64_t *n)
{
    size_t  i;

    if (len == 0 || len > 9) {
        return -1;
    }

    *n = 0;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        *n = *n * 10 + (uint64_t) (s[i] - '0');
    }

    return 0;
}


int
ai_release_trip_parse(ai_release_trip_conf_t *conf, const char *arg,
    size_t len, char *err, size_t errlen)
{
    size_t       klen, vlen;
    unsigned     pct;
    uint64_t     n;
    const char  *v;

    if (len == 3 && memcmp(arg, "off", 3) == 0) {
        conf->enabled = 0;
        return 0;
    }

    if (ai_release_param_split(arg, len, &klen, &v, &vlen, err, errlen)
        != 0)
    {
        return -1;
    }

#define AI_KEY(name)  (klen == sizeof(name) - 1                               \
                       && memcmp(arg, name, sizeof(name) - 1) == 0)

    if (AI_KEY("error_rate")) {
        if (ai_release_parse_weight(v, vlen, &pct) != 0 || pct == 0) {
            goto invalid;
        }

        conf->error_rate = pct;
        return 0;
    }

    if (AI_KEY("canary_margin")) {
        if (vlen == 3 && memcmp(v, "off", 3) == 0) {
            conf->canary_margin = AI_RELEASE_MARGIN_OFF;
            return 0;
        }

        if (ai_release_parse_weight(v, vlen, &pct) != 0) {
            goto invalid;
        }

        conf->canary_margin = pct;
        return 0;
    }

    if (AI_KEY("min_requests")) {
        if (ai_release_parse_count(v, vlen, &n) != 0 || n == 0) {
            goto invalid;
        }

        conf->min_requests = n;
        return 0;
    }

    if (AI_KEY("correction_rate")) {
        if (ai_release_parse_weight(v, vlen, &pct) != 0 || pct == 0) {
            goto invalid;
        }

        conf->correction_rate = pct;
        return 0;
    }

    if (AI_KEY("min_feedback")) {
        if (ai_release_parse_count(v, vlen, &n) != 0 || n == 0) {
            goto invalid;
        }

        conf->min_feedback = n;
        return 0;
    }

    if (AI_KEY("min_errors")) {
        if (ai_release_parse_count(v, vlen, &n) != 0 || n == 0) {
            goto invalid;
        }

        conf->min_errors = n;
        return 0;
    }

    if (AI_KEY("consecutive")) {
        if (ai_release_parse_count(v, vlen, &n) != 0) {
            goto invalid;
        }

        conf->consecutive = n;
        return 0;
    }

    if (AI_KEY("probes")) {
        if (ai_release_parse_count(v, vlen, &n) != 0 || n == 0) {
            goto invalid;
        }

        conf->probes = n;
        return 0;
    }

    if (AI_KEY("window")) {
        if (ai_release_parse_duration(v, vlen, &n) != 0
            || n < AI_RELEASE_WINDOW_BUCKETS)
        {
            goto invalid;
        }

        conf->window_ms = n;
        return 0;
    }

    if (AI_KEY("cooldown")) {
        if (ai_release_parse_duration(v, vlen, &n) != 0 || n == 0) {
            goto invalid;
        }

        conf->cooldown_ms = n;
        return 0;
    }

    if (AI_KEY("probe_timeout")) {
        if (ai_release_parse_duration(v, vlen, &n) != 0 || n == 0) {
            goto invalid;
        }

        conf->probe_timeout_ms = n;
        return 0;
    }

    if (AI_KEY("max_cooldown")) {
        if (ai_release_parse_duration(v, vlen, &n) != 0 || n == 0) {
            goto invalid;
        }

        conf->max_cooldown_ms = n;
        return 0;
    }

    if (AI_KEY("recover")) {
        if (vlen == 4 && memcmp(v, "auto", 4) == 0) {
            conf->recover_manual = 0;
            return 0;
        }

        if (vlen == 6 && memcmp(v, "manual", 6) == 0) {
            conf->recover_manual = 1;
            return 0;
        }

        goto invalid;
    }

#undef AI_KEY

    snprintf(err, errlen, "invalid parameter \"%.*s\"",
             (int) (klen > 64 ? 64 : klen), arg);
    return -1;

invalid:

    snprintf(err, errlen, "invalid value \"%.*s\" of \"%.*s\"",
             (int) (vlen > 64 ? 64 : vlen), v, (int) klen, arg);
    return -1;
}


ai_release_trip_e
ai_release_trip_check(const ai_release_trip_conf_t *conf, uint64_t total,
    uint64_t errors, uint64_t consecutive, const uint64_t *stable)
{
    double               margin;
    ai_release_margin_t  mb;

    if (!conf->enabled) {
        return AI_RELEASE_TRIP_NONE;
    }

    if (conf->consecutive && consecutive >= conf->consecutive) {
        return AI_RELEASE_TRIP_CONSECUTIVE;
    }

    if (total < conf->min_requests || total == 0
        || errors < conf->min_errors)
    {
        return AI_RELEASE_TRIP_NONE;
    }

    if (errors * AI_RELEASE_WEIGHT_SCALE >= conf->error_rate * total) {
        return AI_RELEASE_TRIP_RATE;
    }

    if (stable == NULL
        || conf->canary_margin == AI_RELEASE_MARGIN_OFF
        || stable[0] < conf->min_requests || stable[0] == 0)
    {
        return AI_RELEASE_TRIP_NONE;
    }

    /*
     * canary: worse than stable by more than the margin, with confidence;
     * most windows already fail the plain comparison of the two rates
     */

    margin = (double) conf->canary_margin / AI_RELEASE_WEIGHT_SCALE;

    if ((double) errors / total - (double) stable[1] / stable[0] <= margin) {
        return AI_RELEASE_TRIP_NONE;
    }

    ai_release_margin_bounds(total, errors, stable[0], stable[1], &mb);

    return mb.diff_lower > margin ? AI_RELEASE_TRIP_MARGIN
                                  : AI_RELEASE_TRIP_NONE;
}


/*
 * Wilson's score interval of x errors in n requests, one-sided
 * AI_RELEASE_MARGIN_Z each way: the rates p for which |x/n - p| is within z
 * standard errors sqrt(p (1 - p) / n).  Unlike p +- z sqrt(p^ (1 - p^) / n)
 * it stays meaningful at 0 errors and at small n.
 */

static void
ai_release_wilson(uint64_t x, uint64_t n, double *lower, double *upper)
{
    double  p, nd, z2, centre, half, scale;

    nd = (double) n;
    p = (double) x / nd;
    z2 = AI_RELEASE_MARGIN_Z * AI_RELEASE_MARGIN_Z;

    centre = p + z2 / (2 * nd);
    half = AI_RELEASE_MARGIN_Z * sqrt(p * (1 - p) / nd + z2 / (4 * nd * nd));
    scale = 1 + z2 / nd;

    *lower = (centre - half) / scale;
    *upper = (centre + half) / scale;

    if (*lower < 0) {
        *lower = 0;
    }

    if (*upper > 1) {
        *upper = 1;
    }
}


/*
 * Newcombe's hybrid score bound of the difference of two rates (Newcombe
 * 1998, method 10): the observed difference less the canary's and stable's
 * Wilson margins added in quadrature.  The lower bound of canary - stable
 * uses the canary's lower and stable's upper Wilson bound.
 */

void
ai_release_margin_bounds(uint64_t total, uint64_t errors,
    uint64_t stable_total, uint64_t stable_errors, ai_release_margin_t *mb)
{
    double  pc, ps, lower, upper;

    if (total == 0 || stable_total == 0) {
        mb->canary_lower = 0;
        mb->stable_upper = 1;
        mb->diff_lower = -1;
        return;
    }

    errors = errors < total ? errors : total;
    stable_errors = stable_errors < stable_total ? stable_errors
                                                 : stable_total;

    pc = (double) errors / total;
    ps = (double) stable_errors / stable_total;

    ai_release_wilson(errors, total, &mb->canary_lower, &upper);
    ai_release_wilson(stable_errors, stable_total, &lower, &mb->stable_upper);

    mb->diff_lower = pc - ps - sqrt((pc - mb->canary_lower)
                                    * (pc - mb->canary_lower)
                                    + (mb->stable_upper - ps)
                                    * (mb->stable_upper - ps));
}


uint64_t
ai_release_next_cooldown(const ai_release_trip_conf_t *conf,
    uint64_t cooldown_ms)
{
    if (cooldown_ms >= conf->max_cooldown_ms / 2) {
        return conf->max_cooldown_ms > conf->cooldown_ms
               ? conf->max_cooldown_ms : conf->cooldown_ms;
    }

    return cooldown_ms * 2;
}
