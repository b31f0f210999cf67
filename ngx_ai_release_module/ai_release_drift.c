
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Drift: a canary's behaviour signals against stable's, and the rule that
 * judges them with evidence (ai_release_drift.h says what and why).  Plain C, shared by the nginx module, the unit tests
 * and the fuzzers.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ai_release_internal.h"
#include "ai_release_drift.h"


/* a count, sums and the mean and variance they give */

typedef struct {
    uint64_t         n;
    double           mean;
    double           var;           /* the sample variance */
} ai_release_drift_moments_t;


static int ai_release_drift_margin(const char *v, size_t vlen, int points,
    int32_t *margin);
static void ai_release_drift_moments(uint64_t n, double sum, double sq,
    ai_release_drift_moments_t *m);
static int ai_release_drift_sample(unsigned signal,
    const ai_release_drift_agg_t *agg, const ai_release_pricing_t *pricing,
    ai_release_drift_moments_t *m);
static void ai_release_drift_ratio(double r,
    const ai_release_drift_moments_t *c, const ai_release_drift_moments_t *s,
    ai_release_drift_signal_t *out);
static void ai_release_drift_points(int32_t margin, uint64_t nc, uint64_t xc,
    uint64_t ns, uint64_t xs, ai_release_drift_signal_t *out);
static void ai_release_drift_median(double r, const uint32_t *canary,
    uint64_t nc, const uint32_t *stable, uint64_t ns,
    ai_release_drift_signal_t *out);
static double ai_release_drift_quantile(const uint32_t *counts, double q);
static uint64_t ai_release_drift_hist_count(const uint32_t *counts);


static const char  *ai_release_drift_names[] = {
    "none", "output_tokens", "input_tokens", "cost", "answer_bytes",
    "text_bytes", "tool_calls", "first_token", "length_stops", "refusals",
    "content_filter", NULL
};

/* the other parameters, for the did-you-mean of an unknown one */
static const char  *ai_release_drift_params[] = {
    "min_answers", "mode", NULL
};


void
ai_release_drift_defaults(ai_release_drift_conf_t *conf)
{
    memset(conf, 0, sizeof(ai_release_drift_conf_t));

    conf->min_answers = AI_RELEASE_DRIFT_MIN_ANSWERS;
    conf->mode = AI_RELEASE_DRIFT_TRIP;
}


const char *
ai_release_drift_name(unsigned signal)
{
    return signal < AI_RELEASE_DRIFT_N ? ai_release_drift_names[signal]
                                       : "?";
}


int
ai_release_drift_parse(ai_release_drift_conf_t *conf, const char *arg,
    size_t len, char *err, size_t errlen)
{
    size_t       klen, vlen, d, best_d;
    int32_t      margin;
    unsigned     i;
    uint64_t     n;
    const char  *v, *best, *name;

    if (ai_release_param_split(arg, len, &klen, &v, &vlen, err, errlen)
        != 0)
    {
        return -1;
    }

#define AI_KEY(name)  (klen == sizeof(name) - 1                               \
                       && memcmp(arg, name, sizeof(name) - 1) == 0)

    if (AI_KEY("min_answers")) {
        if (ai_release_parse_decimal(v, vlen, 0, 9, &n) != 0 || n == 0) {
            snprintf(err, errlen, "invalid value \"%.*s\" of \"min_answers\": "
                     "expected a number of answers, 1 to 999999999",
                     (int) (vlen > 64 ? 64 : vlen), v);
            return -1;
        }

        conf->min_answers = n;
        return 0;
    }

    if (AI_KEY("mode")) {
        if (vlen == 4 && memcmp(v, "trip", 4) == 0) {
            conf->mode = AI_RELEASE_DRIFT_TRIP;
            return 0;
        }

        if (vlen == 7 && memcmp(v, "observe", 7) == 0) {
            conf->mode = AI_RELEASE_DRIFT_OBSERVE;
            return 0;
        }

        snprintf(err, errlen, "invalid value \"%.*s\" of \"mode\": expected "
                 "trip or observe", (int) (vlen > 64 ? 64 : vlen), v);
        return -1;
    }

#undef AI_KEY

    for (i = 1; i < AI_RELEASE_DRIFT_N; i++) {
        name = ai_release_drift_names[i];

        if (strlen(name) != klen || memcmp(name, arg, klen) != 0) {
            continue;
        }

        if (ai_release_drift_margin(v, vlen, AI_RELEASE_DRIFT_POINTS(i),
                                    &margin)
            != 0)
        {
            snprintf(err, errlen, "invalid value \"%.*s\" of \"%s\": "
                     "expected %s", (int) (vlen > 64 ? 64 : vlen), v, name,
                     AI_RELEASE_DRIFT_POINTS(i)
                     ? "points of 0.01 to 100 with a sign, e.g. +5pt or -2pt"
                     : "a ratio of 0.01 to 100 but 1, e.g. 1.5x or 0.5x");
            return -1;
        }

        conf->margin[i] = margin;
        return 0;
    }

    /* an unknown parameter: the nearest name, if any */

    best = NULL;
    best_d = 3;

    for (i = 1; i < AI_RELEASE_DRIFT_N + 2; i++) {
        name = i < AI_RELEASE_DRIFT_N
               ? ai_release_drift_names[i]
               : ai_release_drift_params[i - AI_RELEASE_DRIFT_N];

        d = ai_release_distance(arg, klen, name, strlen(name));

        if (d < best_d) {
            best_d = d;
            best = name;
        }
    }

    if (best) {
        snprintf(err, errlen, "invalid parameter \"%.*s\", did you mean "
                 "\"%s\"?", (int) (klen > 64 ? 64 : klen), arg, best);

    } else {
        snprintf(err, errlen, "invalid parameter \"%.*s\": expected "
                 "min_answers, mode or a signal (output_tokens, "
                 "input_tokens, cost, answer_bytes, text_bytes, tool_calls, "
                 "first_token, length_stops, refusals, content_filter)",
                 (int) (klen > 64 ? 64 : klen), arg);
    }

    return -1;
}


/*
 * "1.5x": a ratio of 0.01 to 100 in hundredths, but 1; "+5pt", "-2pt":
 * points of 0.01 to 100 in hundredths, negative below
 */

static int
ai_release_drift_margin(const char *v, size_t vlen, int points,
    int32_t *margin)
{
    int       sign;
    uint64_t  n;

    if (!points) {
        if (vlen < 2 || v[vlen - 1] != 'x'
            || ai_release_parse_decimal(v, vlen - 1, 2, 3, &n) != 0
            || n == 0 || n == AI_RELEASE_DRIFT_SCALE
            || n > 100 * AI_RELEASE_DRIFT_SCALE)
        {
            return -1;
        }

        *margin = (int32_t) n;
        return 0;
    }

    if (vlen < 4 || (v[0] != '+' && v[0] != '-')
        || memcmp(v + vlen - 2, "pt", 2) != 0
        || ai_release_parse_decimal(v + 1, vlen - 3, 2, 3, &n) != 0
        || n == 0 || n > 100 * AI_RELEASE_DRIFT_SCALE)
    {
        return -1;
    }

    sign = (v[0] == '-') ? -1 : 1;
    *margin = sign * (int32_t) n;

    return 0;
}


void
ai_release_drift_add(ai_release_drift_agg_t *agg,
    const ai_release_signals_result_t *r, uint64_t first_token_ms)
{
    uint64_t  bytes, text, tools, out, in;

    bytes = r->answer_bytes < AI_RELEASE_DRIFT_VALUE_MAX
            ? r->answer_bytes : AI_RELEASE_DRIFT_VALUE_MAX;
    text = r->text_bytes < AI_RELEASE_DRIFT_VALUE_MAX
           ? r->text_bytes : AI_RELEASE_DRIFT_VALUE_MAX;
    tools = r->tool_calls < AI_RELEASE_DRIFT_VALUE_MAX
            ? r->tool_calls : AI_RELEASE_DRIFT_VALUE_MAX;

    ai_release_atomic_add(&agg->answers, 1);
    ai_release_atomic_add(&agg->answer_bytes, bytes);
    ai_release_atomic_add(&agg->answer_bytes_sq, bytes * bytes);
    ai_release_atomic_add(&agg->text_bytes, text);
    ai_release_atomic_add(&agg->text_bytes_sq, text * text);

    if (tools) {
        ai_release_atomic_add(&agg->tool_calls, tools);
        ai_release_atomic_add(&agg->tool_calls_sq, tools * tools);
    }

    if (r->refused) {
        ai_release_atomic_add(&agg->refusals, 1);
    }

    ai_release_atomic_add(&agg->endings[(unsigned) r->ending < AI_RELEASE_END_N
                                        ? (unsigned) r->ending
                                        : AI_RELEASE_END_OTHER], 1);

    if (r->has_output && r->has_input) {
        out = r->output_tokens < AI_RELEASE_DRIFT_VALUE_MAX
              ? r->output_tokens : AI_RELEASE_DRIFT_VALUE_MAX;
        in = r->input_tokens < AI_RELEASE_DRIFT_VALUE_MAX
             ? r->input_tokens : AI_RELEASE_DRIFT_VALUE_MAX;

        ai_release_atomic_add(&agg->usage, 1);
        ai_release_atomic_add(&agg->output_tokens, out);
        ai_release_atomic_add(&agg->output_tokens_sq, out * out);
        ai_release_atomic_add(&agg->input_tokens, in);
        ai_release_atomic_add(&agg->input_tokens_sq, in * in);
        ai_release_atomic_add(&agg->tokens_cross, in * out);
        (void) __atomic_add_fetch(
            &agg->output_hist[ai_release_hist_bucket(r->output_tokens)], 1,
            __ATOMIC_RELAXED);
    }

    if (first_token_ms != UINT64_MAX) {
        (void) __atomic_add_fetch(
            &agg->first_token_hist[ai_release_hist_bucket(first_token_ms)],
            1, __ATOMIC_RELAXED);
    }
}


void
ai_release_drift_merge(ai_release_drift_agg_t *dst,
    const ai_release_drift_agg_t *src)
{
    size_t           i;
    uint64_t        *d;
    const uint64_t  *s;

    /* 64-bit sums up to the histograms, then their 32-bit counts */

    d = (uint64_t *) dst;
    s = (const uint64_t *) src;

    for (i = 0;
         i < offsetof(ai_release_drift_agg_t, output_hist) / sizeof(uint64_t);
         i++)
    {
        d[i] += ai_release_atomic_load(&s[i]);
    }

    for (i = 0; i < AI_RELEASE_HIST_BUCKETS; i++) {
        dst->output_hist[i] += __atomic_load_n(&src->output_hist[i],
                                               __ATOMIC_RELAXED);
        dst->first_token_hist[i] += __atomic_load_n(&src->first_token_hist[i],
                                                    __ATOMIC_RELAXED);
    }
}


void
ai_release_drift_signal(const ai_release_drift_conf_t *conf, unsigned signal,
    const ai_release_drift_agg_t *canary,
    const ai_release_pricing_t *canary_pricing,
    const ai_release_drift_agg_t *stable,
    const ai_release_pricing_t *stable_pricing,
    ai_release_drift_signal_t *out)
{
    int32_t                      margin;
    unsigned                     ending;
    uint64_t                     xc, xs;
    ai_release_drift_moments_t   mc, ms;

    memset(out, 0, sizeof(ai_release_drift_signal_t));

    if (signal == AI_RELEASE_DRIFT_NONE || signal >= AI_RELEASE_DRIFT_N) {
        return;
    }

    margin = conf->margin[signal];

    switch (signal) {

    case AI_RELEASE_DRIFT_FIRST_TOKEN:
        out->canary_n = ai_release_drift_hist_count(canary->first_token_hist);
        out->stable_n = ai_release_drift_hist_count(stable->first_token_hist);
        out->canary = ai_release_drift_quantile(canary->first_token_hist, 0.5);
        out->stable = ai_release_drift_quantile(stable->first_token_hist, 0.5);
        out->change = out->canary / out->stable;

        if (margin == 0 || out->canary_n < conf->min_answers
            || out->stable_n < conf->min_answers)
        {
            return;
        }

        out->judged = 1;
        ai_release_drift_median((double) margin / AI_RELEASE_DRIFT_SCALE,
                                canary->first_token_hist, out->canary_n,
                                stable->first_token_hist, out->stable_n, out);
        return;

    case AI_RELEASE_DRIFT_LENGTH_STOPS:
    case AI_RELEASE_DRIFT_REFUSALS:
    case AI_RELEASE_DRIFT_CONTENT_FILTER:

        if (signal == AI_RELEASE_DRIFT_REFUSALS) {
            xc = canary->refusals;
            xs = stable->refusals;

        } else {
            ending = (signal == AI_RELEASE_DRIFT_LENGTH_STOPS)
                     ? AI_RELEASE_END_LENGTH : AI_RELEASE_END_CONTENT_FILTER;
            xc = canary->endings[ending];
            xs = stable->endings[ending];
        }

        out->canary_n = canary->answers;
        out->stable_n = stable->answers;

        /* counted apart from the answers: never more than all */
        xc = xc < out->canary_n ? xc : out->canary_n;
        xs = xs < out->stable_n ? xs : out->stable_n;

        out->canary = out->canary_n ? (double) xc / out->canary_n : 0;
        out->stable = out->stable_n ? (double) xs / out->stable_n : 0;
        out->change = 100 * (out->canary - out->stable);

        if (margin == 0 || out->canary_n < conf->min_answers
            || out->stable_n < conf->min_answers)
        {
            return;
        }

        out->judged = 1;
        ai_release_drift_points(margin, out->canary_n, xc, out->stable_n, xs,
                                out);
        return;

    default:
        break;
    }

    /* the means */

    if (ai_release_drift_sample(signal, canary, canary_pricing, &mc) != 0
        || ai_release_drift_sample(signal, stable, stable_pricing, &ms) != 0)
    {
        /* cost without pricing */
        return;
    }

    out->canary_n = mc.n;
    out->stable_n = ms.n;
    out->canary = mc.mean;
    out->stable = ms.mean;
    out->change = ms.mean > 0 ? mc.mean / ms.mean : 0;

    if (margin == 0 || mc.n < conf->min_answers || ms.n < conf->min_answers) {
        return;
    }

    out->judged = 1;
    ai_release_drift_ratio((double) margin / AI_RELEASE_DRIFT_SCALE, &mc, &ms,
                           out);
}


ai_release_drift_e
ai_release_drift_check(const ai_release_drift_conf_t *conf,
    const ai_release_drift_agg_t *canary,
    const ai_release_pricing_t *canary_pricing,
    const ai_release_drift_agg_t *stable,
    const ai_release_pricing_t *stable_pricing)
{
    unsigned                   i;
    ai_release_drift_signal_t  s;

    if (canary->answers < conf->min_answers
        || stable->answers < conf->min_answers)
    {
        /* every signal needs min_answers answers of each side */
        return AI_RELEASE_DRIFT_NONE;
    }

    for (i = 1; i < AI_RELEASE_DRIFT_N; i++) {
        if (conf->margin[i] == 0) {
            continue;
        }

        ai_release_drift_signal(conf, i, canary, canary_pricing, stable,
                                stable_pricing, &s);

        if (s.breached) {
            return (ai_release_drift_e) i;
        }
    }

    return AI_RELEASE_DRIFT_NONE;
}


static void
ai_release_drift_moments(uint64_t n, double sum, double sq,
    ai_release_drift_moments_t *m)
{
    m->n = n;

    if (n == 0) {
        m->mean = 0;
        m->var = 0;
        return;
    }

    m->mean = sum / n;
    m->var = (n > 1) ? (sq - sum * m->mean) / (n - 1) : 0;

    if (m->var < 0) {
        /* rounding, of values that are all the same */
        m->var = 0;
    }
}


/* the count, mean and variance of a signal that is a mean; -1: no pricing */

static int
ai_release_drift_sample(unsigned signal, const ai_release_drift_agg_t *agg,
    const ai_release_pricing_t *pricing, ai_release_drift_moments_t *m)
{
    double  a, b, sum, sq;

    switch (signal) {

    case AI_RELEASE_DRIFT_OUTPUT_TOKENS:
        ai_release_drift_moments(agg->usage, (double) agg->output_tokens,
                                 (double) agg->output_tokens_sq, m);
        return 0;

    case AI_RELEASE_DRIFT_INPUT_TOKENS:
        ai_release_drift_moments(agg->usage, (double) agg->input_tokens,
                                 (double) agg->input_tokens_sq, m);
        return 0;

    case AI_RELEASE_DRIFT_ANSWER_BYTES:
        ai_release_drift_moments(agg->answers, (double) agg->answer_bytes,
                                 (double) agg->answer_bytes_sq, m);
        return 0;

    case AI_RELEASE_DRIFT_TEXT_BYTES:
        ai_release_drift_moments(agg->answers, (double) agg->text_bytes,
                                 (double) agg->text_bytes_sq, m);
        return 0;

    case AI_RELEASE_DRIFT_TOOL_CALLS:
        ai_release_drift_moments(agg->answers, (double) agg->tool_calls,
                                 (double) agg->tool_calls_sq, m);
        return 0;

    default: /* AI_RELEASE_DRIFT_COST */
        break;
    }

    if (pricing == NULL || !pricing->set) {
        memset(m, 0, sizeof(ai_release_drift_moments_t));
        return -1;
    }

    /* an answer's cost, a in + b out, in units of the currency */

    a = (double) pricing->input_per_mtok / AI_RELEASE_PRICE_SCALE / 1e6;
    b = (double) pricing->output_per_mtok / AI_RELEASE_PRICE_SCALE / 1e6;

    sum = a * agg->input_tokens + b * agg->output_tokens;
    sq = a * a * agg->input_tokens_sq + b * b * agg->output_tokens_sq
         + 2 * a * b * agg->tokens_cross;

    ai_release_drift_moments(agg->usage, sum, sq, m);

    return 0;
}


/*
 * Fieller's test of the ratio of two means: above r (r > 1), whether
 * m_c - r m_s is more than z standard errors above 0; below r, whether
 * r m_s - m_c is
 */

static void
ai_release_drift_ratio(double r, const ai_release_drift_moments_t *c,
    const ai_release_drift_moments_t *s, ai_release_drift_signal_t *out)
{
    double  d, se;

    d = (r > 1) ? c->mean - r * s->mean : r * s->mean - c->mean;
    se = sqrt(c->var / c->n + r * r * s->var / s->n);

    if (se == 0) {
        /* no spread: the values are what they are */
        out->evidence = (d > 0) ? 1e9 : (d < 0 ? -1e9 : 0);
        out->breached = (d > 0);
        return;
    }

    out->evidence = d / se;
    out->breached = (out->evidence > AI_RELEASE_MARGIN_Z);
}


/* Newcombe's bound of the difference of two shares, in points */

static void
ai_release_drift_points(int32_t margin, uint64_t nc, uint64_t xc,
    uint64_t ns, uint64_t xs, ai_release_drift_signal_t *out)
{
    double               m;
    ai_release_margin_t  mb;

    if (margin > 0) {
        ai_release_margin_bounds(nc, xc, ns, xs, &mb);
        out->evidence = 100 * mb.diff_lower;
        m = (double) margin / AI_RELEASE_DRIFT_SCALE;
        out->breached = (out->evidence > m);
        return;
    }

    /* below: the bound of stable's share less the canary's */

    ai_release_margin_bounds(ns, xs, nc, xc, &mb);
    out->evidence = -100 * mb.diff_lower;
    m = (double) -margin / AI_RELEASE_DRIFT_SCALE;
    out->breached = (-out->evidence > m);
}


/*
 * The ratio of two medians: each median's distribution-free bound from
 * the ranks, q = 1/2 -+ z / (2 sqrt(n)), and the two distances on the log
 * scale added in quadrature (as Newcombe's bound adds the two Wilson
 * margins)
 */

static void
ai_release_drift_median(double r, const uint32_t *canary, uint64_t nc,
    const uint32_t *stable, uint64_t ns, ai_release_drift_signal_t *out)
{
    double  hc, hs, mc, ms, bc, bs, dc, ds, bound;

    hc = AI_RELEASE_MARGIN_Z / (2 * sqrt((double) nc));
    hs = AI_RELEASE_MARGIN_Z / (2 * sqrt((double) ns));

    mc = log(ai_release_drift_quantile(canary, 0.5));
    ms = log(ai_release_drift_quantile(stable, 0.5));

    if (r > 1) {
        /* the canary's lower bound, stable's upper */
        bc = log(ai_release_drift_quantile(canary, 0.5 - hc));
        bs = log(ai_release_drift_quantile(stable, 0.5 + hs));

    } else {
        bc = log(ai_release_drift_quantile(canary, 0.5 + hc));
        bs = log(ai_release_drift_quantile(stable, 0.5 - hs));
    }

    dc = mc - bc;
    ds = bs - ms;

    bound = sqrt(dc * dc + ds * ds);

    if (r > 1) {
        out->evidence = exp(mc - ms - bound);
        out->breached = (mc - ms - bound > log(r));

    } else {
        out->evidence = exp(mc - ms + bound);
        out->breached = (mc - ms + bound < log(r));
    }
}


/* a quantile of at least 1 (ms), q clamped into (0, 1] */

static double
ai_release_drift_quantile(const uint32_t *counts, double q)
{
    double    v;
    unsigned  i;
    uint64_t  wide[AI_RELEASE_HIST_BUCKETS];

    for (i = 0; i < AI_RELEASE_HIST_BUCKETS; i++) {
        wide[i] = counts[i];
    }

    if (q < 1e-9) {
        q = 1e-9;
    }

    if (q > 1) {
        q = 1;
    }

    v = ai_release_hist_quantile(wide, q);

    return v < 1 ? 1 : v;
}


static uint64_t
ai_release_drift_hist_count(const uint32_t *counts)
{
    unsigned  i;
    uint64_t  n;

    n = 0;

    for (i = 0; i < AI_RELEASE_HIST_BUCKETS; i++) {
        n += counts[i];
    }

    return n;
}
