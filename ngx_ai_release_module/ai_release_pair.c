/*
 * Copyright (C) ngx_ai_release authors
 *
 * Shadow pairs: stable's answer and the shadow's answer to one mirrored
 * request, compared once both are complete (ai_release_pair.h).
 */

#include <math.h>

#include "ai_release_pair.h"
#include "ai_release_signals.h"


static void ai_release_pair_ratio_add(ai_release_pair_ratio_t *r,
    uint64_t num, uint64_t den);


void
ai_release_pair_count(ai_release_pair_agg_t *agg, int stable_served,
    const ai_release_pair_side_t *stable, const ai_release_pair_side_t *shadow)
{
    int  v, st, sh;

    if (!stable_served) {
        v = AI_RELEASE_UNPAIRED_NOT_STABLE;
        goto unpaired;
    }

    if (!stable->ok) {
        v = AI_RELEASE_UNPAIRED_STABLE_FAILED;
        goto unpaired;
    }

    if (!shadow->ok) {
        v = AI_RELEASE_UNPAIRED_SHADOW_FAILED;
        goto unpaired;
    }

    if (!stable->read || !shadow->read) {
        v = AI_RELEASE_UNPAIRED_UNREAD;
        goto unpaired;
    }

    ai_release_atomic_add(&agg->compared, 1);

    if (stable->contract < 0 || shadow->contract < 0) {
        v = AI_RELEASE_PAIR_UNCHECKED;

    } else if (stable->contract == 0) {
        v = shadow->contract == 0 ? AI_RELEASE_PAIR_BOTH_KEPT
                                  : AI_RELEASE_PAIR_SHADOW_BROKE;
    } else {
        v = shadow->contract == 0 ? AI_RELEASE_PAIR_STABLE_BROKE
                                  : AI_RELEASE_PAIR_BOTH_BROKE;
    }

    ai_release_atomic_add(&agg->contract[v], 1);

    ai_release_atomic_add(stable->ending == shadow->ending
                          ? &agg->ending_same : &agg->ending_different, 1);

    st = stable->tool_calls > 0;
    sh = shadow->tool_calls > 0;

    v = st ? (sh ? AI_RELEASE_PAIR_TOOLS_BOTH
                 : AI_RELEASE_PAIR_TOOLS_STABLE_ONLY)
           : (sh ? AI_RELEASE_PAIR_TOOLS_SHADOW_ONLY
                 : AI_RELEASE_PAIR_TOOLS_NEITHER);

    ai_release_atomic_add(&agg->tools[v], 1);

    if (stable->has_tokens && shadow->has_tokens) {
        ai_release_pair_ratio_add(&agg->ratio[AI_RELEASE_PAIR_TOKENS],
                                  shadow->output_tokens,
                                  stable->output_tokens);
    }

    ai_release_pair_ratio_add(&agg->ratio[AI_RELEASE_PAIR_TEXT],
                              shadow->text_bytes, stable->text_bytes);

    return;

unpaired:

    ai_release_atomic_add(&agg->unpaired[v], 1);
}


/*
 * A ratio whose denominator is 0 has none.  The geometric mean takes each
 * ratio within [1/1024, 1024] (a numerator of 0 as 1/1024), so that one
 * empty answer cannot take the mean of thousands to 0.
 */

static void
ai_release_pair_ratio_add(ai_release_pair_ratio_t *r, uint64_t num,
    uint64_t den)
{
    double  l;

    if (den == 0) {
        return;
    }

    l = num ? log2((double) num / (double) den) : -10.0;
    l = l < -10.0 ? -10.0 : (l > 10.0 ? 10.0 : l);

    ai_release_atomic_add(&r->count, 1);
    ai_release_atomic_add((uint64_t *) &r->log_sum,
                          (uint64_t) (int64_t) llround(
                              l * AI_RELEASE_PAIR_LOG_SCALE));
    ai_release_atomic_add(&r->buckets[ai_release_pair_bucket(num, den)], 1);
}


int
ai_release_pair_bucket(uint64_t num, uint64_t den)
{
    int  q;

    if (num == 0) {
        return 0;
    }

    q = (int) floor(log2((double) num / (double) den) * 4.0 + 0.5);

    if (q < AI_RELEASE_PAIR_RATIO_LOW) {
        return 0;
    }

    q -= AI_RELEASE_PAIR_RATIO_LOW - 1;

    return q < AI_RELEASE_PAIR_RATIO_BUCKETS - 1
           ? q : AI_RELEASE_PAIR_RATIO_BUCKETS - 1;
}


double
ai_release_pair_bucket_le(int i)
{
    return exp2((i + AI_RELEASE_PAIR_RATIO_LOW - 0.5) / 4.0);
}


/*
 * Geometric interpolation inside the bucket where the quantile falls: a
 * quantile is within 2^(1/8) of the truth (half a bucket), and exact for
 * answers that all have a bucket's middle ratio (1, 2, 1/2 ...).
 */

double
ai_release_pair_quantile(const uint64_t *buckets, double q)
{
    int       i;
    double    rank, lo, hi;
    uint64_t  total, seen, b;

    total = 0;

    for (i = 0; i < AI_RELEASE_PAIR_RATIO_BUCKETS; i++) {
        total += ai_release_atomic_load(&buckets[i]);
    }

    if (total == 0) {
        return -1.0;
    }

    rank = q * (double) total;
    seen = 0;

    for (i = 0; i < AI_RELEASE_PAIR_RATIO_BUCKETS; i++) {
        b = ai_release_atomic_load(&buckets[i]);

        if (b && (double) (seen + b) >= rank) {
            break;
        }

        seen += b;
    }

    if (i == 0) {
        return ai_release_pair_bucket_le(0);
    }

    if (i >= AI_RELEASE_PAIR_RATIO_BUCKETS - 1) {
        return ai_release_pair_bucket_le(AI_RELEASE_PAIR_RATIO_BUCKETS - 2);
    }

    lo = (i - 1 + AI_RELEASE_PAIR_RATIO_LOW - 0.5) / 4.0;
    hi = lo + 0.25;

    return exp2(lo + (hi - lo) * ((rank - (double) seen) / (double) b));
}


double
ai_release_pair_geomean(uint64_t count, int64_t log_sum)
{
    if (count == 0) {
        return -1.0;
    }

    return exp2((double) log_sum / AI_RELEASE_PAIR_LOG_SCALE / (double) count);
}


static const char  *ai_release_pair_contract_names[] = {
    "both_kept", "stable_broke", "shadow_broke", "both_broke", "unchecked"
};

static const char  *ai_release_pair_tools_names[] = {
    "both", "neither", "stable_only", "shadow_only"
};

static const char  *ai_release_unpaired_names[] = {
    "not_stable", "stable_failed", "shadow_failed", "unread"
};

static const char  *ai_release_pair_measure_names[] = {
    "output_tokens", "text_bytes"
};


const char *
ai_release_pair_contract_name(int v)
{
    return ai_release_pair_contract_names[v];
}


const char *
ai_release_pair_tools_name(int v)
{
    return ai_release_pair_tools_names[v];
}


const char *
ai_release_unpaired_name(int v)
{
    return ai_release_unpaired_names[v];
}


const char *
ai_release_pair_measure_name(int v)
{
    return ai_release_pair_measure_names[v];
}
