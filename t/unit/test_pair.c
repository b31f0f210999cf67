/*
 * Copyright (C) ngx_ai_release authors
 *
 * Unit tests of shadow pairs (ai_release_pair.c): which mirrored requests
 * are compared and why the others are not, the contract, ending and tool
 * verdicts, the ratio buckets at their bounds, quantiles within a bucket
 * and the geometric mean.  TAP output; run from t/unit.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ai_release_pair.h"
#include "ai_release_signals.h"
#include "tap.h"


static ai_release_pair_side_t side(uint64_t tokens, uint64_t text,
    int ending, uint64_t tools, int contract);
static void test_unpaired(void);
static void test_verdicts(void);
static void test_buckets(void);
static void test_ratios(void);


int
main(void)
{
    test_unpaired();
    test_verdicts();
    test_buckets();
    test_ratios();

    return tap_done();
}


static ai_release_pair_side_t
side(uint64_t tokens, uint64_t text, int ending, uint64_t tools,
    int contract)
{
    ai_release_pair_side_t  s;

    memset(&s, 0, sizeof(s));
    s.ok = 1;
    s.read = 1;
    s.has_tokens = 1;
    s.output_tokens = tokens;
    s.text_bytes = text;
    s.ending = ending;
    s.tool_calls = tools;
    s.contract = contract;

    return s;
}


static void
test_unpaired(void)
{
    ai_release_pair_agg_t   a;
    ai_release_pair_side_t  st, sh;

    memset(&a, 0, sizeof(a));
    st = side(10, 40, AI_RELEASE_END_STOP, 0, -1);
    sh = st;

    ai_release_pair_count(&a, 0, &st, &sh);
    ok(a.unpaired[AI_RELEASE_UNPAIRED_NOT_STABLE] == 1 && a.compared == 0,
       "served by another bundle: not compared, not_stable");

    st.ok = 0;
    ai_release_pair_count(&a, 1, &st, &sh);
    ok(a.unpaired[AI_RELEASE_UNPAIRED_STABLE_FAILED] == 1,
       "stable failed");

    st.ok = 1;
    sh.ok = 0;
    ai_release_pair_count(&a, 1, &st, &sh);
    ok(a.unpaired[AI_RELEASE_UNPAIRED_SHADOW_FAILED] == 1,
       "shadow failed");

    st.ok = 0;
    ai_release_pair_count(&a, 1, &st, &sh);
    ok(a.unpaired[AI_RELEASE_UNPAIRED_STABLE_FAILED] == 2
       && a.unpaired[AI_RELEASE_UNPAIRED_SHADOW_FAILED] == 1,
       "both failed counts as stable_failed, once");

    st.ok = 1;
    sh.ok = 1;
    sh.read = 0;
    ai_release_pair_count(&a, 1, &st, &sh);
    ok(a.unpaired[AI_RELEASE_UNPAIRED_UNREAD] == 1 && a.compared == 0,
       "an answer not read: unread");

    sh.read = 1;
    ai_release_pair_count(&a, 1, &st, &sh);
    ok(a.compared == 1, "both complete and read: compared");
    ok(a.contract[AI_RELEASE_PAIR_UNCHECKED] == 1,
       "no contract: unchecked");
}


static void
test_verdicts(void)
{
    int                     c, k;
    ai_release_pair_agg_t   a;
    ai_release_pair_side_t  st, sh;

    static const int  want[2][2] = {
        { AI_RELEASE_PAIR_BOTH_KEPT, AI_RELEASE_PAIR_SHADOW_BROKE },
        { AI_RELEASE_PAIR_STABLE_BROKE, AI_RELEASE_PAIR_BOTH_BROKE }
    };

    for (c = 0; c < 2; c++) {
        for (k = 0; k < 2; k++) {
            memset(&a, 0, sizeof(a));
            st = side(10, 40, AI_RELEASE_END_STOP, 0, c);
            sh = side(10, 40, AI_RELEASE_END_STOP, 0, k);
            ai_release_pair_count(&a, 1, &st, &sh);
            ok(a.contract[want[c][k]] == 1,
               "contract stable %d shadow %d -> %s", c, k,
               ai_release_pair_contract_name(want[c][k]));
        }
    }

    memset(&a, 0, sizeof(a));
    st = side(10, 40, AI_RELEASE_END_STOP, 0, 0);
    sh = side(10, 40, AI_RELEASE_END_STOP, 0, -1);
    ai_release_pair_count(&a, 1, &st, &sh);
    ok(a.contract[AI_RELEASE_PAIR_UNCHECKED] == 1,
       "one side without a contract: unchecked");

    memset(&a, 0, sizeof(a));
    st = side(10, 40, AI_RELEASE_END_STOP, 0, -1);
    sh = side(10, 40, AI_RELEASE_END_LENGTH, 0, -1);
    ai_release_pair_count(&a, 1, &st, &sh);
    sh.ending = AI_RELEASE_END_STOP;
    ai_release_pair_count(&a, 1, &st, &sh);
    ok(a.ending_different == 1 && a.ending_same == 1,
       "endings: one different, one same");

    memset(&a, 0, sizeof(a));

    for (c = 0; c < 2; c++) {
        for (k = 0; k < 2; k++) {
            st = side(10, 40, AI_RELEASE_END_STOP, (uint64_t) c * 2, -1);
            sh = side(10, 40, AI_RELEASE_END_STOP, (uint64_t) k * 3, -1);
            ai_release_pair_count(&a, 1, &st, &sh);
        }
    }

    ok(a.tools[AI_RELEASE_PAIR_TOOLS_BOTH] == 1
       && a.tools[AI_RELEASE_PAIR_TOOLS_NEITHER] == 1
       && a.tools[AI_RELEASE_PAIR_TOOLS_STABLE_ONLY] == 1
       && a.tools[AI_RELEASE_PAIR_TOOLS_SHADOW_ONLY] == 1,
       "tool calls: both, neither, stable only, shadow only once each");
}


static void
test_buckets(void)
{
    ok(ai_release_pair_bucket(1, 1) == 17, "ratio 1 -> bucket 17");
    ok(ai_release_pair_bucket(2, 1) == 21, "ratio 2 -> bucket 21");
    ok(ai_release_pair_bucket(1, 2) == 13, "ratio 1/2 -> bucket 13");
    ok(ai_release_pair_bucket(1, 16) == 1, "ratio 1/16 -> bucket 1");
    ok(ai_release_pair_bucket(1, 18) == 0, "below 2^(-16.5/4) -> bucket 0");
    ok(ai_release_pair_bucket(1, 17) == 1, "1/17 is still bucket 1");
    ok(ai_release_pair_bucket(0, 5) == 0, "0 -> bucket 0");
    ok(ai_release_pair_bucket(15, 1) == 33, "15 -> the last bucket");
    ok(ai_release_pair_bucket(1000, 1) == 33, "1000 -> the last bucket");
    ok(ai_release_pair_bucket(14, 1) == 32, "14 -> bucket 32");
    ok(ai_release_pair_bucket(109, 100) == 17
       && ai_release_pair_bucket(110, 100) == 18,
       "bucket 17 ends between 1.09 and 1.10 (2^(1/8))");
    ok(fabs(ai_release_pair_bucket_le(17) - exp2(0.125)) < 1e-12,
       "bucket 17 ends at 2^(1/8)");
    ok(fabs(ai_release_pair_bucket_le(0) - exp2(-16.5 / 4)) < 1e-12,
       "bucket 0 ends at 2^(-16.5/4)");
    ok(fabs(ai_release_pair_bucket_le(32) - exp2(15.5 / 4)) < 1e-12,
       "bucket 32 ends at 2^(15.5/4)");
}


static void
test_ratios(void)
{
    int                     i;
    double                  p50, p95, g;
    ai_release_pair_agg_t   a;
    ai_release_pair_side_t  st, sh;

    memset(&a, 0, sizeof(a));

    ok(ai_release_pair_quantile(a.ratio[0].buckets, 0.5) < 0,
       "no ratios: no quantile");
    ok(ai_release_pair_geomean(0, 0) < 0, "no ratios: no mean");

    st = side(100, 400, AI_RELEASE_END_STOP, 0, -1);
    sh = side(200, 200, AI_RELEASE_END_STOP, 0, -1);

    for (i = 0; i < 50; i++) {
        ai_release_pair_count(&a, 1, &st, &sh);
    }

    p50 = ai_release_pair_quantile(a.ratio[AI_RELEASE_PAIR_TOKENS].buckets,
                                   0.5);
    g = ai_release_pair_geomean(a.ratio[AI_RELEASE_PAIR_TOKENS].count,
                                a.ratio[AI_RELEASE_PAIR_TOKENS].log_sum);

    ok(a.ratio[AI_RELEASE_PAIR_TOKENS].count == 50, "50 token ratios");
    ok(fabs(p50 - 2.0) < 1e-9, "tokens p50 %.4f: 2, a bucket's middle",
       p50);
    ok(fabs(g - 2.0) < 1e-6, "tokens geomean %.6f is 2", g);

    p50 = ai_release_pair_quantile(a.ratio[AI_RELEASE_PAIR_TEXT].buckets,
                                   0.5);
    g = ai_release_pair_geomean(a.ratio[AI_RELEASE_PAIR_TEXT].count,
                                a.ratio[AI_RELEASE_PAIR_TEXT].log_sum);
    ok(fabs(p50 - 0.5) < 1e-9, "text p50 %.4f: 0.5", p50);
    ok(fabs(g - 0.5) < 1e-6, "text geomean %.6f is 0.5", g);

    /* 90 at 1, 10 at 4: p50 near 1, p95 near 4, mean 4^(1/10) */

    memset(&a, 0, sizeof(a));
    st = side(100, 100, AI_RELEASE_END_STOP, 0, -1);

    for (i = 0; i < 100; i++) {
        sh = side(i < 90 ? 100 : 400, 100, AI_RELEASE_END_STOP, 0, -1);
        ai_release_pair_count(&a, 1, &st, &sh);
    }

    p50 = ai_release_pair_quantile(a.ratio[AI_RELEASE_PAIR_TOKENS].buckets,
                                   0.5);
    p95 = ai_release_pair_quantile(a.ratio[AI_RELEASE_PAIR_TOKENS].buckets,
                                   0.95);
    g = ai_release_pair_geomean(a.ratio[AI_RELEASE_PAIR_TOKENS].count,
                                a.ratio[AI_RELEASE_PAIR_TOKENS].log_sum);

    ok(fabs(p50 / 1.0 - 1) <= 0.0906, "mix p50 %.4f within 2^(1/8) of 1",
       p50);
    ok(fabs(p95 / 4.0 - 1) <= 0.0906, "mix p95 %.4f within 2^(1/8) of 4",
       p95);

    /* spread over buckets: 1.3 and 3.1, each within 2^(1/8) */

    memset(&a, 0, sizeof(a));

    for (i = 0; i < 100; i++) {
        sh = side(i < 50 ? 130 : 310, 100, AI_RELEASE_END_STOP, 0, -1);
        ai_release_pair_count(&a, 1, &st, &sh);
    }

    p50 = ai_release_pair_quantile(a.ratio[AI_RELEASE_PAIR_TOKENS].buckets,
                                   0.25);
    p95 = ai_release_pair_quantile(a.ratio[AI_RELEASE_PAIR_TOKENS].buckets,
                                   0.75);
    ok(p50 / 1.3 < 1.0906 && 1.3 / p50 < 1.0906,
       "p25 %.4f within 2^(1/8) of 1.3", p50);
    ok(p95 / 3.1 < 1.0906 && 3.1 / p95 < 1.0906,
       "p75 %.4f within 2^(1/8) of 3.1", p95);
    ok(fabs(g - pow(4.0, 0.1)) < 1e-6, "mix geomean %.6f", g);

    /* no tokens on one side: no token ratio; a stable of 0 bytes none */

    memset(&a, 0, sizeof(a));
    st = side(100, 0, AI_RELEASE_END_STOP, 0, -1);
    sh = side(100, 50, AI_RELEASE_END_STOP, 0, -1);
    sh.has_tokens = 0;
    ai_release_pair_count(&a, 1, &st, &sh);
    ok(a.compared == 1 && a.ratio[AI_RELEASE_PAIR_TOKENS].count == 0
       && a.ratio[AI_RELEASE_PAIR_TEXT].count == 0,
       "no tokens, stable text 0: compared without ratios");

    /* an empty shadow answer: its ratio at 1/1024 in the mean */

    st = side(100, 100, AI_RELEASE_END_STOP, 0, -1);
    sh = side(0, 100, AI_RELEASE_END_STOP, 0, -1);
    ai_release_pair_count(&a, 1, &st, &sh);
    g = ai_release_pair_geomean(a.ratio[AI_RELEASE_PAIR_TOKENS].count,
                                a.ratio[AI_RELEASE_PAIR_TOKENS].log_sum);
    ok(a.ratio[AI_RELEASE_PAIR_TOKENS].buckets[0] == 1
       && fabs(g - 1.0 / 1024) < 1e-9, "0 tokens: bucket 0, mean 1/1024");
}
