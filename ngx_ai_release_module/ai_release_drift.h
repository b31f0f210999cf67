
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Drift (ai_release_drift.c), for issue 15: a canary's behaviour signals
 * (ai_release_signals.h) against stable's over the same window, and the
 * workflow rule that trips the canary when they differ by more than its
 * margins, with evidence.
 *
 *
 * The rule
 * --------
 *
 *     drift output_tokens=1.5x length_stops=+5pt refusals=+2pt
 *           tool_calls=1.5x first_token=2x min_answers=200 mode=trip;
 *
 * Each SIGNAL=MARGIN sets one signal's margin; a signal not named is not
 * judged.  A ratio, "1.5x" (0.01 to 100, at most two decimals, not 1):
 * above 1 the rule is breached when the canary's value is more than that
 * many times stable's, below 1 ("0.5x") when it is less.  Points, "+5pt"
 * or "-5pt" (0.01 to 100, at most two decimals, the sign required): the
 * canary's share of answers is more than that many percentage points above
 * (below) stable's.
 *
 *  signal          margin   compares, per answer
 *  --------------  -------  ----------------------------------------------
 *  output_tokens   ratio    the mean output tokens of answers with usage
 *  input_tokens    ratio    the mean input tokens of answers with usage
 *  cost            ratio    the mean cost of answers with usage, each side
 *                           at its own bundle's pricing (not judged unless
 *                           both bundles have pricing)
 *  answer_bytes    ratio    the mean body bytes of every answer
 *  text_bytes      ratio    the mean decoded text bytes of every answer
 *  tool_calls      ratio    the mean tool calls of every answer
 *  first_token     ratio    the median (p50) time to the first token of
 *                           the answers that have one (streams), from the
 *                           histogram; under 1 ms counts as 1 ms
 *  length_stops    points   answers that ended at the token limit
 *  refusals        points   answers in which the model refused
 *  content_filter  points   answers that ended in the content filter
 *
 * "Answers with usage" are those that gave both token counts; a signal is
 * judged once both sides have min_answers answers that carry it (default
 * 200, 1 to 1,000,000,000).  mode=trip (the default) or mode=observe only
 * tells the caller what to do with a breach.
 *
 * Means, not medians, for everything that is a sum: a mean comes exactly
 * from two counters (the sum and the count) where a median comes from a
 * histogram, within a quarter of its value; cost and tokens are billed by
 * the sum, so the mean is what "1.5x the cost" means; a tool call or a
 * length stop in the tail is exactly the change to see, where a median
 * would not move (the median of tool calls per answer is 0 on most
 * workflows).  The median for the time to the first token, whose tail is
 * queueing and network rather than the model.
 *
 * Evidence, so that noise does not trip: a breach needs the margin to be
 * passed with one-sided 95% confidence (AI_RELEASE_MARGIN_Z, as the error
 * budget's canary_margin), not just the observed values.
 *
 *   means (Fieller's test of a ratio): with m, v and n each side's mean,
 *   variance and count, above a margin r the statistic
 *       (m_c - r m_s) / sqrt(v_c / n_c + r^2 v_s / n_s)
 *   must exceed z (below it, r m_s - m_c over the same); with both
 *   variances 0 the difference must be more than 0.  It needs no division
 *   by stable's mean, so a stable mean of 0 (no tool calls) is fine.  The
 *   variances come from sums of squares.
 *
 *   points: Newcombe's lower bound of the canary's share less stable's
 *   (ai_release_margin_bounds(), the error budget's) must be above the
 *   margin; below, the bound of stable's less the canary's.
 *
 *   the median: a distribution-free bound from the ranks: the median lies
 *   between the quantiles q = 1/2 -+ z / (2 sqrt(n)); the log of the ratio
 *   of the two medians less the two sides' distances to their bounds (on
 *   the log scale) added in quadrature must be above log r.
 *
 * t/unit/test_drift.c simulates canaries drawn from stable's distribution
 * and canaries that drifted, and README.md ("Drift (core)") gives the
 * figures: how often each rule trips either.
 *
 *
 * The window's signals of one bundle
 * ----------------------------------
 *
 * ai_release_drift_agg_t holds counters only (920 bytes on x86-64: 64-bit
 * sums and two histograms of 32-bit counts), so that the caller keeps it in shared memory and
 * adds to it with ai_release_drift_add() (relaxed 64-bit atomics, no lock)
 * and sums several (window buckets) with ai_release_drift_merge().  Each
 * value is counted at most AI_RELEASE_DRIFT_VALUE_MAX (2^24 - 1), so that
 * a sum of squares holds 2^16 answers of that size, and 2^40 of 4 KiB.
 *
 *
 * The cost signal uses the bundles' pricing (ai_release_core.h).
 */

#ifndef _AI_RELEASE_DRIFT_H_INCLUDED_
#define _AI_RELEASE_DRIFT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "ai_release_core.h"
#include "ai_release_signals.h"


/* the signals, in the order they are judged */

typedef enum {
    AI_RELEASE_DRIFT_NONE = 0,
    AI_RELEASE_DRIFT_OUTPUT_TOKENS,
    AI_RELEASE_DRIFT_INPUT_TOKENS,
    AI_RELEASE_DRIFT_COST,
    AI_RELEASE_DRIFT_ANSWER_BYTES,
    AI_RELEASE_DRIFT_TEXT_BYTES,
    AI_RELEASE_DRIFT_TOOL_CALLS,
    AI_RELEASE_DRIFT_FIRST_TOKEN,
    AI_RELEASE_DRIFT_LENGTH_STOPS,
    AI_RELEASE_DRIFT_REFUSALS,
    AI_RELEASE_DRIFT_CONTENT_FILTER,
    AI_RELEASE_DRIFT_N
} ai_release_drift_e;

/* ratios first, then the signals whose margin is in points */
#define AI_RELEASE_DRIFT_POINTS(signal)                                      \
    ((signal) >= AI_RELEASE_DRIFT_LENGTH_STOPS)

#define AI_RELEASE_DRIFT_TRIP       0
#define AI_RELEASE_DRIFT_OBSERVE    1

#define AI_RELEASE_DRIFT_MIN_ANSWERS  200
#define AI_RELEASE_DRIFT_VALUE_MAX  ((1u << 24) - 1)

/* a ratio in hundredths (150: 1.5x), points in hundredths (500: +5pt) */
#define AI_RELEASE_DRIFT_SCALE      100

typedef struct {
    /* 0: not judged; a ratio > 0, or points (negative: below) */
    int32_t         margin[AI_RELEASE_DRIFT_N];
    uint64_t        min_answers;
    unsigned        mode;
} ai_release_drift_conf_t;


typedef struct {
    uint64_t        answers;
    uint64_t        usage;            /* with both token counts */

    uint64_t        output_tokens;    /* of answers with usage */
    uint64_t        output_tokens_sq;
    uint64_t        input_tokens;
    uint64_t        input_tokens_sq;
    uint64_t        tokens_cross;     /* input times output, summed */

    uint64_t        answer_bytes;     /* of every answer */
    uint64_t        answer_bytes_sq;
    uint64_t        text_bytes;
    uint64_t        text_bytes_sq;
    uint64_t        tool_calls;
    uint64_t        tool_calls_sq;

    uint64_t        refusals;
    uint64_t        endings[AI_RELEASE_END_N];

    /* the caller's: streams with a rate, their tokens per second * 1000 */
    uint64_t        rate_answers;
    uint64_t        rate_milli;

    /*
     * of answers with usage; of answers with a first token, in ms: 32-bit
     * counts (a window does not see 2^32 answers of one bundle), so that
     * two windows' aggregates of a slot fit a 2 KiB slab chunk
     */
    uint32_t        output_hist[AI_RELEASE_HIST_BUCKETS];
    uint32_t        first_token_hist[AI_RELEASE_HIST_BUCKETS];
} ai_release_drift_agg_t;


/* what one signal shows, for status and for the decision */

typedef struct {
    double          canary;           /* mean, median, or share (0 to 1) */
    double          stable;
    double          change;           /* ratio, or points (canary - stable,
                                         in percentage points) */
    double          evidence;         /* means: the statistic; points and
                                         the median: the bound, as a ratio
                                         or in points */
    uint64_t        canary_n;
    uint64_t        stable_n;
    unsigned        judged:1;         /* a margin, and min_answers each */
    unsigned        breached:1;
} ai_release_drift_signal_t;


void ai_release_drift_defaults(ai_release_drift_conf_t *conf);

/*
 * One "key=value" parameter of the drift rule.  Returns 0, or -1 with a
 * message in err (an unknown signal gets a did-you-mean).
 */
int ai_release_drift_parse(ai_release_drift_conf_t *conf, const char *arg,
    size_t len, char *err, size_t errlen);

/* "output_tokens", ...; "none" for NONE, "?" for anything else */
const char *ai_release_drift_name(unsigned signal);

/*
 * Counts one answer: its signals and, when first_token_ms is not
 * UINT64_MAX, its time to the first token.  Atomic (relaxed) adds.
 */
void ai_release_drift_add(ai_release_drift_agg_t *agg,
    const ai_release_signals_result_t *r, uint64_t first_token_ms);
/* dst += src (not atomic on dst: a caller's own copy) */
void ai_release_drift_merge(ai_release_drift_agg_t *dst,
    const ai_release_drift_agg_t *src);

/*
 * Judges one signal of the canary against stable; pricing of either may
 * be NULL (cost is then not judged).
 */
void ai_release_drift_signal(const ai_release_drift_conf_t *conf,
    unsigned signal, const ai_release_drift_agg_t *canary,
    const ai_release_pricing_t *canary_pricing,
    const ai_release_drift_agg_t *stable,
    const ai_release_pricing_t *stable_pricing,
    ai_release_drift_signal_t *out);

/* the first signal, in the order of ai_release_drift_e, that is breached */
ai_release_drift_e ai_release_drift_check(const ai_release_drift_conf_t *conf,
    const ai_release_drift_agg_t *canary,
    const ai_release_pricing_t *canary_pricing,
    const ai_release_drift_agg_t *stable,
    const ai_release_pricing_t *stable_pricing);


#endif /* _AI_RELEASE_DRIFT_H_INCLUDED_ */
