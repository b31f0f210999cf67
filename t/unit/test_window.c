
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Unit tests of the error budget's arithmetic (ai_release_window.c): the
 * lock-free sliding window, exact under concurrent adds, the trip rules
 * and their parameters.  TAP output.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai_release_core.h"
#include "tap.h"


#define THREADS  4
#define ADDS     250000


static void *adder(void *arg);


static ai_release_window_t  shared;


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


int
main(void)
{
    int                     i;
    char                    err[256];
    uint64_t                w[AI_RELEASE_NCOUNTERS], ms, sum, stable[2];
    pthread_t               th[THREADS];
    ai_release_window_t     win;
    ai_release_trip_conf_t  conf;

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
       && conf.errors_mask == AI_RELEASE_DEFAULT_ERRORS,
       "documented defaults");

#define P(s)  ai_release_trip_parse(&conf, s, strlen(s), err, sizeof(err))

    ok(P("error_rate=12.5%") == 0 && conf.error_rate == 1250, "error_rate");
    ok(P("min_requests=7") == 0 && conf.min_requests == 7, "min_requests");
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

    stable[0] = 100;
    stable[1] = 1;
    ok(ai_release_trip_check(&conf, 20, 2, 0, stable) == AI_RELEASE_TRIP_MARGIN,
       "canary 10%% vs stable 1%% with a 5%% margin: trip");
    ok(ai_release_trip_check(&conf, 20, 1, 0, stable) == AI_RELEASE_TRIP_NONE,
       "canary 5%% vs stable 1%%: no trip");
    stable[0] = 5;
    ok(ai_release_trip_check(&conf, 20, 4, 0, stable) == AI_RELEASE_TRIP_NONE,
       "no margin trip while stable has too few requests");
    P("canary_margin=off");
    stable[0] = 100;
    ok(ai_release_trip_check(&conf, 20, 4, 0, stable) == AI_RELEASE_TRIP_NONE,
       "canary_margin=off");

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

#undef P

    return tap_done();
}
