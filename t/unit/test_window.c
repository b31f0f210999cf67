
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Unit tests of the error budget's arithmetic (ai_release_window.c): the
 * lock-free sliding window, exact under concurrent adds, the trip rules
 * and their parameters, and a simulation of many fresh windows that
 * measures how often the rules trip healthy and broken bundles.  TAP
 * output.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai_release_core.h"
#include "tap.h"


#define THREADS  4
#define ADDS     250000

/* fresh windows simulated per scenario, and the requests of each at most */
#define SIM_WINDOWS   100000
#define SIM_REQUESTS  1000
#define SIM_STABLE    800


static void *adder(void *arg);
static double sim_uniform(uint64_t *rng);
static uint64_t sim_gap(uint64_t *rng, double p);
static uint64_t sim_errors(uint64_t *rng, uint64_t n, double p);
static uint64_t sim_window(const ai_release_trip_conf_t *conf, uint64_t *rng,
    double pc, double ps, uint64_t max);
static void sim_settings(const char *name, const ai_release_trip_conf_t *conf);


static ai_release_window_t  shared;

/*
 * Trip checks in order, each after its parameter (if any), from
 * error_rate=50% min_requests=10 consecutive=3 canary_margin=5%
 * min_errors=5; stable_total 0: no stable bundle to compare with.
 */
static const struct trip_case {
    const char         *set;
    uint64_t            total, errors, run, stable_total, stable_errors;
    ai_release_trip_e   want;
    const char         *what;
} trip_cases[] = {
    { "error_rate=20%", 10, 2, 0, 0, 0, AI_RELEASE_TRIP_NONE,
      "error_rate=20%: 2 errors of 10 are fewer than min_errors=5" },
    { NULL, 24, 4, 0, 0, 0, AI_RELEASE_TRIP_NONE,
      "error_rate=20%: 4 of 24 neither" },
    { NULL, 25, 5, 0, 0, 0, AI_RELEASE_TRIP_RATE,
      "error_rate=20%: 5 of 25 trip" },
    { "min_errors=2", 10, 2, 0, 0, 0, AI_RELEASE_TRIP_RATE,
      "error_rate=20% min_errors=2: 2 of 10 trip" },
    { NULL, 2, 2, 3, 0, 0, AI_RELEASE_TRIP_CONSECUTIVE,
      "min_errors leaves consecutive alone" },
    { "min_errors=5", 2, 2, 3, 0, 0, AI_RELEASE_TRIP_CONSECUTIVE,
      "min_errors=5 too" },
    { "error_rate=50%", 20, 2, 0, 100, 1, AI_RELEASE_TRIP_NONE,
      "canary 10% (2/20) vs stable 1% (1/100): 2 errors are no evidence" },
    { NULL, 20, 1, 0, 100, 1, AI_RELEASE_TRIP_NONE,
      "canary 5% vs stable 1%: no trip" },
    { NULL, 20, 5, 0, 100, 1, AI_RELEASE_TRIP_MARGIN,
      "canary 25% (5/20) vs stable 1%: trip" },
    { NULL, 20, 9, 0, 100, 1, AI_RELEASE_TRIP_MARGIN,
      "canary 45% (9/20) vs stable 1%: trip (error_rate=50% does not)" },
    { "min_errors=1", 20, 3, 0, 100, 1, AI_RELEASE_TRIP_NONE,
      "canary 15% (3/20) vs 1%, min_errors=1: the bound is below 5%" },
    { "min_errors=1", 20, 4, 0, 100, 1, AI_RELEASE_TRIP_MARGIN,
      "canary 20% (4/20) vs 1%, min_errors=1: the bound is 7.8%: trip" },
    { "min_errors=6", 20, 5, 0, 100, 1, AI_RELEASE_TRIP_NONE,
      "canary 25% (5/20), min_errors=6: min_errors holds for the margin "
      "rule too" },
    { "min_errors=5", 200, 12, 0, 100, 1, AI_RELEASE_TRIP_NONE,
      "canary 6% (12/200) vs stable 1%: no trip" },
    { NULL, 200, 17, 0, 800, 8, AI_RELEASE_TRIP_NONE,
      "canary 8.5% (17/200) vs stable 1% (8/800): the bound is below 5%" },
    { NULL, 200, 18, 0, 800, 8, AI_RELEASE_TRIP_MARGIN,
      "canary 9% (18/200) vs stable 1% (8/800): the bound is 5.09%: trip" },
    { NULL, 25, 5, 0, 20, 0, AI_RELEASE_TRIP_NONE,
      "canary 20% (5/25) vs stable 0/20: stable's own rate is too "
      "uncertain" },
    { NULL, 25, 5, 0, 800, 0, AI_RELEASE_TRIP_MARGIN,
      "canary 20% (5/25) vs stable 0/800: trip" },
    { NULL, 20, 9, 0, 5, 0, AI_RELEASE_TRIP_NONE,
      "no margin trip while stable has too few requests" },
    { NULL, 20, 9, 0, 100, 101, AI_RELEASE_TRIP_NONE,
      "stable's errors counted ahead of its total: no trip" },
    { NULL, 0, 0, 0, 0, 0, AI_RELEASE_TRIP_NONE, NULL }
};

/* README.md, "Error budgets and automatic rollback" */
static const char  *readme_trip[] = {
    "error_rate=20%", "min_requests=20", "min_errors=5", "window=60s",
    "consecutive=5", "cooldown=30s", "max_cooldown=10m", "probes=5",
    "canary_margin=5%", NULL
};


static void *
adder(void *arg)
{
    int       i;
    uint64_t  now;

    now = (uint64_t) (uintptr_t) arg;

    for (i = 0; i < ADDS; i++) {
        /* time moves on during the run: buckets retire under contention */
        ai_release_window_add(&shared, AI_RELEASE_CNT_TOTAL, now + i / 5000);
    }

    return NULL;
}


/*
 * The simulation: a deterministic generator (splitmix64), so that every run
 * draws the same windows and reports the same figures.
 */

static double
sim_uniform(uint64_t *rng)
{
    uint64_t  z;

    z = (*rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;

    /* (0, 1] */
    return (double) ((z >> 11) + 1) / 9007199254740992.0;
}


/*
 * The good requests before the next error when each request fails with
 * probability p: geometrically distributed, so drawn in one step instead of
 * one draw per request; UINT64_MAX for p == 0.
 */

static uint64_t
sim_gap(uint64_t *rng, double p)
{
    double  g;

    if (p <= 0) {
        return UINT64_MAX;
    }

    if (p >= 1) {
        return 0;
    }

    g = floor(log(sim_uniform(rng)) / log1p(-p));

    return g >= 1e18 ? UINT64_MAX : (uint64_t) g;
}


/* the errors of n requests at rate p */

static uint64_t
sim_errors(uint64_t *rng, uint64_t n, double p)
{
    uint64_t  errors, seen, gap;

    errors = 0;
    seen = 0;

    for ( ;; ) {
        gap = sim_gap(rng, p);

        if (gap >= n - seen) {
            return errors;
        }

        seen += gap + 1;
        errors++;
    }
}


/*
 * One fresh window of a canary whose requests fail at rate pc, against a
 * stable bundle whose window holds SIM_STABLE requests failing at rate ps.
 * Returns the request (1, 2, ...) after which the breaker tripped, or 0 if
 * it did not within max requests.
 *
 * The module checks the rules after every request once the window holds an
 * error.  A good request cannot make a rule trip that did not trip at the
 * request before (it breaks the run of errors, lowers the rate, and lowers
 * the canary's score bound and with it the bound of the difference) except
 * the one that brings the window to min_requests.  So checking after every
 * error and at min_requests gives the same answer, much faster.
 */

static uint64_t
sim_window(const ai_release_trip_conf_t *conf, uint64_t *rng, double pc,
    double ps, uint64_t max)
{
    uint64_t  n, errors, run, gap, stable[2];

    stable[0] = SIM_STABLE;
    stable[1] = sim_errors(rng, SIM_STABLE, ps);

    n = 0;
    errors = 0;
    run = 0;

    for ( ;; ) {
        gap = sim_gap(rng, pc);

        if (gap > 0) {
            run = 0;

            if (errors > 0 && n < conf->min_requests
                && gap >= conf->min_requests - n
                && conf->min_requests <= max
                && ai_release_trip_check(conf, conf->min_requests, errors, 0,
                                         stable)
                   != AI_RELEASE_TRIP_NONE)
            {
                return conf->min_requests;
            }
        }

        if (gap >= max - n) {
            return 0;
        }

        n += gap + 1;
        errors++;
        run++;

        if (ai_release_trip_check(conf, n, errors, run, stable)
            != AI_RELEASE_TRIP_NONE)
        {
            return n;
        }
    }
}


/*
 * The bounds for one set of trip settings: healthy canaries (1%
 * errors against stable's 0% or 1%) trip in at most 0.1% of fresh windows;
 * a canary with 50% errors trips within 20 requests, one with 10% errors
 * against stable's 0% within 200 (most of the time: at 95% confidence the
 * evidence for "worse by more than 5%" is only just there at 18 of 200).
 */

static void
sim_settings(const char *name, const ai_release_trip_conf_t *conf)
{
    int              k;
    uint64_t         rng, i, at, healthy0, healthy1, in20, within[5];
    static uint64_t  limits[5] = { 50, 100, 200, 500, 1000 };

    rng = 20261126;

    healthy0 = 0;
    healthy1 = 0;

    for (i = 0; i < SIM_WINDOWS; i++) {
        healthy0 += sim_window(conf, &rng, 0.01, 0.0, SIM_REQUESTS) != 0;
        healthy1 += sim_window(conf, &rng, 0.01, 0.01, SIM_REQUESTS) != 0;
    }

    printf("# %s: canary 1%% vs stable 0%% (%d requests): %llu of %d fresh "
           "windows of up to %d requests tripped (%.3f%%)\n", name,
           SIM_STABLE, (unsigned long long) healthy0, SIM_WINDOWS,
           SIM_REQUESTS, 100.0 * healthy0 / SIM_WINDOWS);
    printf("# %s: canary 1%% vs stable 1%%: %llu of %d tripped (%.3f%%)\n",
           name, (unsigned long long) healthy1, SIM_WINDOWS,
           100.0 * healthy1 / SIM_WINDOWS);

    ok(healthy0 * 1000 <= SIM_WINDOWS,
       "%s: a canary with 1%% errors vs stable's 0%% trips in at most 0.1%% "
       "of fresh windows", name);
    ok(healthy1 * 1000 <= SIM_WINDOWS,
       "%s: a canary with 1%% errors vs stable's 1%% trips in at most 0.1%% "
       "of fresh windows", name);

    in20 = 0;

    for (i = 0; i < SIM_WINDOWS; i++) {
        in20 += sim_window(conf, &rng, 0.5, 0.0, 20) != 0;
    }

    printf("# %s: canary 50%% vs stable 0%%: %.2f%% tripped within 20 "
           "requests\n", name, 100.0 * in20 / SIM_WINDOWS);
    ok(in20 * 100 >= SIM_WINDOWS * 99,
       "%s: a canary with 50%% errors trips within 20 requests (in at least "
       "99%% of windows)", name);

    /* a canary with 10% errors: how soon it trips */

    memset(within, 0, sizeof(within));

    for (i = 0; i < SIM_WINDOWS; i++) {
        at = sim_window(conf, &rng, 0.1, 0.0, SIM_REQUESTS);

        for (k = 0; k < 5; k++) {
            within[k] += at != 0 && at <= limits[k];
        }
    }

    printf("# %s: canary 10%% vs stable 0%%: tripped within", name);

    for (k = 0; k < 5; k++) {
        printf(" %llu requests %.1f%%%s", (unsigned long long) limits[k],
               100.0 * within[k] / SIM_WINDOWS, k < 4 ? "," : "\n");
    }

    ok(within[2] * 100 >= SIM_WINDOWS * 90,
       "%s: a canary with 10%% errors vs stable's 0%% trips within 200 "
       "requests (in at least 90%% of windows)", name);
    ok(within[3] * 100 >= SIM_WINDOWS * 99,
       "%s: and within 500 in at least 99%%", name);
}


int
main(void)
{
    int                     i;
    char                    err[256];
    double                  z2;
    uint64_t                w[AI_RELEASE_NCOUNTERS], ms, sum, stable[2];
    pthread_t               th[THREADS];
    ai_release_margin_t     mb;
    ai_release_window_t     win;
    ai_release_trip_conf_t  conf, readme;
    const struct trip_case  *tc;

    /* classes */

    ok(strcmp(ai_release_class_name(AI_RELEASE_5XX), "5xx") == 0,
       "class name 5xx");
    ok(ai_release_class_parse("timeout", 7) == AI_RELEASE_TIMEOUT,
       "class parse timeout");
    ok(ai_release_class_parse("429", 3) == AI_RELEASE_429, "class parse 429");
    ok(ai_release_class_parse("bogus", 5) == -1, "class parse unknown");

    /* window: 16 s in 16 buckets of 1 s */

    ai_release_window_init(&win, 16000);
    ok(win.width_ms == 1000, "bucket width 1000 ms");

    for (i = 0; i < 10; i++) {
        ai_release_window_add(&win, AI_RELEASE_CNT_TOTAL, 100000 + i * 100);
    }

    ai_release_window_add(&win, AI_RELEASE_CNT_ERRORS, 100000);
    ai_release_window_sum(&win, 101000, w);
    ok(w[AI_RELEASE_CNT_TOTAL] == 10, "window sum total 10");
    ok(w[AI_RELEASE_CNT_ERRORS] == 1, "window sum errors 1");
    ok(ai_release_window_get(&win, AI_RELEASE_CNT_TOTAL, 115000) == 10,
       "still in the window after 15 s");
    ok(ai_release_window_get(&win, AI_RELEASE_CNT_TOTAL, 117000) == 0,
       "out of the window after 17 s");

    /* bucket 116 shares its cell with bucket 100, which the add retires */
    ai_release_window_add(&win, AI_RELEASE_CNT_TOTAL, 116000);
    ok(ai_release_window_get(&win, AI_RELEASE_CNT_TOTAL, 116000) == 1,
       "an old bucket is replaced, not added to");

    /* a worker whose clock lags a little still counts */
    ai_release_window_add(&win, AI_RELEASE_CNT_TOTAL, 115990);
    ok(ai_release_window_get(&win, AI_RELEASE_CNT_TOTAL, 116000) == 2,
       "a lagging clock adds to the current buckets");

    ai_release_window_reset(&win);
    ok(ai_release_window_get(&win, AI_RELEASE_CNT_TOTAL, 110000) == 0,
       "reset empties the window");

    /* an outcome counts its class, the total and, if an error, errors */

    ai_release_window_count(&win, AI_RELEASE_OK, 0, 200000);
    ai_release_window_count(&win, AI_RELEASE_5XX, 1, 200500);
    ai_release_window_count(&win, AI_RELEASE_SLOW, 0, 201000);
    ai_release_window_sum(&win, 201000, w);
    ok(w[AI_RELEASE_OK] == 1 && w[AI_RELEASE_5XX] == 1
       && w[AI_RELEASE_SLOW] == 1, "count: one per class");
    ok(w[AI_RELEASE_CNT_TOTAL] == 3, "count: the total of three outcomes");
    ok(w[AI_RELEASE_CNT_ERRORS] == 1, "count: only the error in errors");
    ok(ai_release_window_get(&win, AI_RELEASE_CNT_TOTAL, 216500) == 1,
       "count: 16 s later the first second's two outcomes left the window");
    ai_release_window_reset(&win);

    /* concurrent adds are exact */

    ai_release_window_init(&shared, 1000000);

    for (i = 0; i < THREADS; i++) {
        pthread_create(&th[i], NULL, adder, (void *) (uintptr_t) 5000000);
    }

    for (i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
    }

    sum = ai_release_window_get(&shared, AI_RELEASE_CNT_TOTAL, 5000000 + 50);
    ok(sum == (uint64_t) THREADS * ADDS,
       "%d threads x %d adds counted exactly: %llu", THREADS, ADDS,
       (unsigned long long) sum);

    /* the latency buckets: test_latency.c */

    /* durations */

    ok(ai_release_parse_duration("500ms", 5, &ms) == 0 && ms == 500, "500ms");
    ok(ai_release_parse_duration("30s", 3, &ms) == 0 && ms == 30000, "30s");
    ok(ai_release_parse_duration("10m", 3, &ms) == 0 && ms == 600000, "10m");
    ok(ai_release_parse_duration("2h", 2, &ms) == 0 && ms == 7200000, "2h");
    ok(ai_release_parse_duration("7", 1, &ms) == 0 && ms == 7000,
       "seconds by default");
    ok(ai_release_parse_duration("s", 1, &ms) == -1, "no number");
    ok(ai_release_parse_duration("5x", 2, &ms) == -1, "unknown unit");
    ok(ai_release_parse_duration("99999999999999999999s", 21, &ms) == -1,
       "overflow");

    /* trip parameters */

    ai_release_trip_defaults(&conf);
    ok(conf.enabled && conf.error_rate == 2000 && conf.min_requests == 20
       && conf.window_ms == 60000 && conf.consecutive == 5
       && conf.cooldown_ms == 30000 && conf.max_cooldown_ms == 600000
       && conf.probes == 5 && conf.canary_margin == 500
       && conf.min_errors == 5
       && conf.errors_mask == AI_RELEASE_DEFAULT_ERRORS,
       "documented defaults");

#define P(s)  ai_release_trip_parse(&conf, s, strlen(s), err, sizeof(err))

    ok(P("error_rate=12.5%") == 0 && conf.error_rate == 1250, "error_rate");
    ok(P("min_requests=7") == 0 && conf.min_requests == 7, "min_requests");
    ok(P("min_errors=3") == 0 && conf.min_errors == 3, "min_errors");
    ok(P("window=5s") == 0 && conf.window_ms == 5000, "window");
    ok(P("consecutive=0") == 0 && conf.consecutive == 0, "consecutive=0");
    ok(P("cooldown=1s") == 0 && conf.cooldown_ms == 1000, "cooldown");
    ok(P("max_cooldown=4s") == 0 && conf.max_cooldown_ms == 4000,
       "max_cooldown");
    ok(P("probes=3") == 0 && conf.probes == 3, "probes");
    ok(P("probe_timeout=2s") == 0 && conf.probe_timeout_ms == 2000,
       "probe_timeout");
    ok(P("canary_margin=off") == 0
       && conf.canary_margin == AI_RELEASE_MARGIN_OFF, "canary_margin=off");
    ok(P("canary_margin=5%") == 0 && conf.canary_margin == 500,
       "canary_margin");
    ok(P("recover=manual") == 0 && conf.recover_manual, "recover=manual");
    ok(P("off") == 0 && !conf.enabled, "off");
    conf.enabled = 1;

    ok(P("error_rate=0%") == -1, "error_rate=0%% is refused");
    ok(P("error_rate=120%") == -1, "error_rate over 100%% is refused");
    ok(P("min_requests=0") == -1, "min_requests=0 is refused");
    ok(P("min_errors=0") == -1 && strstr(err, "min_errors"),
       "min_errors=0 is refused: %s", err);
    ok(P("min_errors=-1") == -1, "min_errors=-1 is refused");
    ok(P("probes=x") == -1, "probes=x is refused");
    ok(P("window=1ms") == -1, "a window shorter than its buckets");
    ok(P("recover=later") == -1, "recover=later is refused");
    ok(P("bogus=1") == -1 && strstr(err, "invalid parameter \"bogus\""),
       "an unknown parameter is named: %s", err);
    ok(P("error_rate") == -1 && strstr(err, "key=value"),
       "a parameter without a value: %s", err);

    /* trip rules */

    ai_release_trip_defaults(&conf);
    P("error_rate=50%");
    P("min_requests=10");
    P("consecutive=3");
    P("canary_margin=5%");

    ok(ai_release_trip_check(&conf, 9, 9, 0, NULL) == AI_RELEASE_TRIP_NONE,
       "no rate trip below min_requests");
    ok(ai_release_trip_check(&conf, 10, 4, 0, NULL) == AI_RELEASE_TRIP_NONE,
       "40%% < 50%%: no trip");
    ok(ai_release_trip_check(&conf, 10, 5, 0, NULL) == AI_RELEASE_TRIP_RATE,
       "50%% of 10: trip");
    ok(ai_release_trip_check(&conf, 2, 2, 3, NULL)
       == AI_RELEASE_TRIP_CONSECUTIVE, "3 in a row: trip");
    ok(ai_release_trip_check(&conf, 2, 2, 2, NULL) == AI_RELEASE_TRIP_NONE,
       "2 in a row: no trip");

    /* min_errors, and canary_margin at 95% confidence: a table */

    for (i = 0; trip_cases[i].what; i++) {
        tc = &trip_cases[i];

        if (tc->set) {
            P(tc->set);
        }

        stable[0] = tc->stable_total;
        stable[1] = tc->stable_errors;

        ok(ai_release_trip_check(&conf, tc->total, tc->errors, tc->run,
                                 tc->stable_total ? stable : NULL)
           == tc->want, "%s", tc->what);
    }

    P("canary_margin=off");
    stable[0] = 100;
    stable[1] = 1;
    ok(ai_release_trip_check(&conf, 20, 9, 0, stable) == AI_RELEASE_TRIP_NONE,
       "canary_margin=off");

    /* the bounds: Wilson's score bounds solve (p^ - p)^2 = z^2 p (1-p) / n */

    z2 = AI_RELEASE_MARGIN_Z * AI_RELEASE_MARGIN_Z;

    ai_release_margin_bounds(20, 2, 800, 0, &mb);
    ok(fabs((0.1 - mb.canary_lower) * (0.1 - mb.canary_lower)
            - z2 * mb.canary_lower * (1 - mb.canary_lower) / 20) < 1e-12
       && mb.canary_lower > 0.03 && mb.canary_lower < 0.04,
       "Wilson lower bound of 2/20: %.4f%%", mb.canary_lower * 100);
    ok(fabs(mb.stable_upper - z2 / (800 + z2)) < 1e-12,
       "Wilson upper bound of 0/800: %.4f%%", mb.stable_upper * 100);
    ok(fabs(mb.diff_lower
            - (0.1 - sqrt((0.1 - mb.canary_lower) * (0.1 - mb.canary_lower)
                          + mb.stable_upper * mb.stable_upper))) < 1e-12
       && mb.diff_lower < mb.canary_lower
       && mb.diff_lower > mb.canary_lower - mb.stable_upper,
       "Newcombe's bound of 2/20 - 0/800: %.4f%%, between the canary's "
       "lower bound and that less stable's upper", mb.diff_lower * 100);
    ai_release_margin_bounds(50, 50, 50, 0, &mb);
    ok(fabs(1 - mb.canary_lower - z2 * mb.canary_lower / 50) < 1e-12,
       "Wilson lower bound of 50/50: %.4f%%", mb.canary_lower * 100);
    ai_release_margin_bounds(UINT64_MAX / 4, UINT64_MAX / 8, UINT64_MAX / 2,
                             0, &mb);
    ok(fabs(mb.diff_lower - 0.5) < 1e-6, "huge counts: %.6f",
       mb.diff_lower);

    conf.enabled = 0;
    ok(ai_release_trip_check(&conf, 100, 100, 100, NULL)
       == AI_RELEASE_TRIP_NONE, "trip off never trips");

    /* cooldown growth */

    ai_release_trip_defaults(&conf);
    P("cooldown=1s");
    P("max_cooldown=5s");
    ok(ai_release_next_cooldown(&conf, 1000) == 2000, "1 s doubles to 2 s");
    ok(ai_release_next_cooldown(&conf, 2000) == 4000, "2 s doubles to 4 s");
    ok(ai_release_next_cooldown(&conf, 4000) == 5000, "capped at 5 s");
    ok(ai_release_next_cooldown(&conf, 5000) == 5000, "stays at the cap");

    /*
     * fresh windows: with the defaults, which README.md's "Error budgets"
     * example spells out, and with the demo's min_requests=10 window=30s
     */

    memset(&conf, 0, sizeof(conf));
    memset(&readme, 0, sizeof(readme));
    ai_release_trip_defaults(&conf);
    ai_release_trip_defaults(&readme);

    for (i = 0; readme_trip[i]; i++) {
        if (P(readme_trip[i]) != 0) {
            break;
        }
    }

    ok(readme_trip[i] == NULL, "the README's settings parse");
    ok(memcmp(&conf, &readme, sizeof(conf)) == 0,
       "the README's settings are the defaults");

    sim_settings("defaults", &conf);

    P("min_requests=10");
    P("window=30s");
    sim_settings("min_requests=10", &conf);

#undef P

    return tap_done();
}
