/*
 * Copyright (C) ngx_ai_release authors
 *
 * Unit tests of the latency histogram (ai_release_window.c): every
 * millisecond falls in a bucket whose bounds hold it, the buckets follow
 * each other, none is wider than 1/8 of its lower bound, the histogram
 * fits a 1 KiB slab chunk, the exported bounds are bucket edges, and
 * quantiles of known samples are within 1/8 of the exact ones.  TAP
 * output.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai_release_core.h"
#include "tap.h"


#define LAST     (AI_RELEASE_LATENCY_BUCKETS - 1)
#define SAMPLES  20000


static uint64_t lower_ms(unsigned i);
static int cmp_u64(const void *a, const void *b);
static uint64_t next_random(void);
static void check_quantiles(const char *name, uint64_t *v, size_t n);


static uint64_t  seed = 88172645463325252ULL;


static uint64_t
lower_ms(unsigned i)
{
    return i ? ai_release_latency_le_ms(i - 1) + 1 : 0;
}


static int
cmp_u64(const void *a, const void *b)
{
    uint64_t  x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return x < y ? -1 : x > y;
}


/* xorshift64: the same samples on every run */

static uint64_t
next_random(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;

    return seed;
}


/*
 * The quantiles of the histogram of v[] against the exact ones (the
 * sample of rank ceil(q * n)): within 1/8 of it, exact when it is 0.
 */

static void
check_quantiles(const char *name, uint64_t *v, size_t n)
{
    size_t           i, rank, bad;
    double           est, want, worst, err;
    static uint64_t  counts[AI_RELEASE_LATENCY_BUCKETS];
    static double    qs[] = { 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99,
                              0.999, 1.0 };

    memset(counts, 0, sizeof(counts));

    for (i = 0; i < n; i++) {
        counts[ai_release_latency_bucket(v[i])]++;
    }

    qsort(v, n, sizeof(uint64_t), cmp_u64);

    bad = 0;
    worst = 0;

    for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        rank = (size_t) (qs[i] * n);
        rank += (rank < qs[i] * n);
        want = (double) v[(rank ? rank : 1) - 1];
        est = ai_release_latency_quantile(counts, qs[i]);
        err = want ? (est > want ? est - want : want - est) / want
                   : (est != 0);

        if (err > worst) {
            worst = err;
        }

        if (!(err < 1.0 / 8)) {
            bad++;
            fprintf(stderr, "# %s: q %g: %.3f ms, exact %.0f ms\n", name,
                    qs[i], est, want);
        }
    }

    ok(bad == 0, "%s: quantiles within 1/8 of the exact ones (worst %.4f)",
       name, worst);
}


int
main(void)
{
    size_t     i, n;
    unsigned   b, prev, bad_hold, bad_order, bad_width, bad_res, empty;
    uint64_t   ms, lo, hi, top, *v;
    uint64_t   counts[AI_RELEASE_LATENCY_BUCKETS];

    /* a slab chunk of 1 KiB at most, beside the 2 KiB of the slot */

    ok(AI_RELEASE_LATENCY_SIZE <= 1024,
       "%d buckets: %zu bytes, within a 1 KiB slab chunk",
       AI_RELEASE_LATENCY_BUCKETS, AI_RELEASE_LATENCY_SIZE);

    /* every millisecond up to the last finite bucket, and beyond */

    top = ai_release_latency_le_ms(LAST - 1);

    ok(top == 240000, "the finite buckets reach %llu ms (240 s, the last "
       "exported bound)", (unsigned long long) top);
    ok(ai_release_latency_le_ms(LAST) == UINT64_MAX,
       "the last bucket is infinite");

    prev = 0;
    bad_hold = 0;
    bad_order = 0;

    for (ms = 0; ms <= top + 1000; ms++) {
        b = ai_release_latency_bucket(ms);

        if (b > LAST || b < prev) {
            bad_order++;
        }

        if (b < LAST && (ms < lower_ms(b) || ms > ai_release_latency_le_ms(b)))
        {
            if (bad_hold++ < 5) {
                fprintf(stderr, "# %llu ms in bucket %u of (%llu, %llu]\n",
                        (unsigned long long) ms, b,
                        (unsigned long long) lower_ms(b),
                        (unsigned long long) ai_release_latency_le_ms(b));
            }
        }

        if ((ms <= top) != (b < LAST)) {
            bad_hold++;
        }

        prev = b;
    }

    ok(bad_order == 0, "the bucket grows with the latency");
    ok(bad_hold == 0, "every ms up to %llu lies within the bounds of its "
       "bucket; beyond, in the last one", (unsigned long long) top + 1000);

    ok(ai_release_latency_bucket(UINT64_MAX) == LAST
       && ai_release_latency_bucket(top + 1) == LAST
       && ai_release_latency_bucket(1ULL << 62) == LAST,
       "huge latencies: the last bucket");

    /* bucket by bucket: the bounds follow each other, the width bound */

    bad_width = 0;
    bad_order = 0;
    empty = 0;

    for (b = 0; b < LAST; b++) {
        lo = lower_ms(b);
        hi = ai_release_latency_le_ms(b);

        if (b && hi < ai_release_latency_le_ms(b - 1)) {
            bad_order++;
        }

        if (lo > hi) {
            empty++;
            continue;
        }

        if (ai_release_latency_bucket(lo) != b
            || ai_release_latency_bucket(hi) != b)
        {
            bad_order++;
        }

        /* (hi - lo) / lo < 1/8, and one value where lo is 0 */

        if (lo == 0 ? hi != 0 : (hi - lo) * 8 >= lo) {
            bad_width++;
            fprintf(stderr, "# bucket %u: %llu .. %llu ms\n", b,
                    (unsigned long long) lo, (unsigned long long) hi);
        }
    }

    ok(bad_order == 0, "the bucket bounds grow, and each bucket's own bounds "
       "map back to it");
    ok(bad_width == 0, "no bucket is wider than 1/8 of its lower bound");
    ok(empty == 0, "%u empty bucket(s) of %d", empty,
       AI_RELEASE_LATENCY_BUCKETS);

    bad_res = 0;

    for (ms = 0; ms < 16; ms++) {
        b = ai_release_latency_bucket(ms);

        if (lower_ms(b) != ms || ai_release_latency_le_ms(b) != ms) {
            bad_res++;
        }
    }

    ok(bad_res == 0, "below 16 ms, a bucket for each millisecond");

    /* the exported bounds are bucket edges: exact cumulative counts */

    bad_hold = 0;

    for (i = 0; i < AI_RELEASE_LATENCY_EXPORTS; i++) {
        ms = ai_release_latency_export_ms[i];

        if (ai_release_latency_le_ms(ai_release_latency_bucket(ms)) != ms
            || ai_release_latency_bucket(ms + 1)
               == ai_release_latency_bucket(ms)
            || (i && ms <= ai_release_latency_export_ms[i - 1]))
        {
            bad_hold++;
            fprintf(stderr, "# exported bound %llu ms is not an edge\n",
                    (unsigned long long) ms);
        }
    }

    ok(bad_hold == 0, "each of the %d exported bounds (%llu .. %llu ms) is "
       "the upper edge of a bucket", AI_RELEASE_LATENCY_EXPORTS,
       (unsigned long long) ai_release_latency_export_ms[0],
       (unsigned long long)
           ai_release_latency_export_ms[AI_RELEASE_LATENCY_EXPORTS - 1]);

    /* quantiles */

    memset(counts, 0, sizeof(counts));

    ok(ai_release_latency_quantile(counts, 0.5) == 0,
       "an empty histogram: 0");

    counts[ai_release_latency_bucket(1)] = 100;

    ok(ai_release_latency_quantile(counts, 0.5) == 1
       && ai_release_latency_quantile(counts, 0.99) == 1,
       "100 answers of 1 ms: p50 and p99 are 1 ms (%g, %g)",
       ai_release_latency_quantile(counts, 0.5),
       ai_release_latency_quantile(counts, 0.99));

    counts[ai_release_latency_bucket(1)] = 0;
    counts[LAST] = 3;

    ok(ai_release_latency_quantile(counts, 0.5) == (double) top + 1,
       "beyond the last finite bucket: its lower bound");

    v = malloc(SAMPLES * sizeof(uint64_t));
    if (v == NULL) {
        return 1;
    }

    /* a few ms: 0 .. 3 ms */

    for (n = 0; n < SAMPLES; n++) {
        v[n] = next_random() % 4;
    }

    check_quantiles("0-3 ms", v, n);

    /* uniform over 1 ms .. 10 s */

    for (n = 0; n < SAMPLES; n++) {
        v[n] = 1 + next_random() % 10000;
    }

    check_quantiles("uniform 1 ms - 10 s", v, n);

    /* log-uniform over 1 ms .. 4 min */

    for (n = 0; n < SAMPLES; n++) {
        v[n] = 1ULL << (next_random() % 18);
        v[n] += next_random() % v[n];
        v[n] = v[n] > top ? top : v[n];
    }

    check_quantiles("log-uniform 1 ms - 4 min", v, n);

    /* two modes: 90% near 40 ms, 10% near 3 s */

    for (n = 0; n < SAMPLES; n++) {
        v[n] = n % 10 ? 35 + next_random() % 10 : 2800 + next_random() % 400;
    }

    check_quantiles("40 ms and 3 s", v, n);

    /* a handful of samples */

    for (n = 0; n < 7; n++) {
        v[n] = 100 * (n + 1) + next_random() % 50;
    }

    check_quantiles("7 samples", v, n);

    free(v);

    return tap_done();
}
