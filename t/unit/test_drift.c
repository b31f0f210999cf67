
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Unit tests of drift (ai_release_drift.c) and of pricing (the manifest key,
 * its canonical form and digest, and the cost of tokens): the rule's
 * parameters, counting answers, the decision on set aggregates, and a
 * simulation of canaries drawn from stable's distribution and of canaries
 * that drifted, which measures how often the rule trips either.  TAP
 * output; run from t/unit.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai_release_drift.h"
#include "tap.h"


/* a valid bundle in four lines: what is appended starts at line 5 */
#define BASE    "name: a\nversion: \"1\"\nupstream: up\nmodel: m\n"

/* the issue's rule, and a margin for each other signal */
#define ISSUE_RULE                                                           \
    "output_tokens=1.5x length_stops=+5pt refusals=+2pt tool_calls=1.5x "    \
    "first_token=2x min_answers=200 mode=trip"
#define OTHER_RULE                                                           \
    "input_tokens=1.5x cost=1.5x answer_bytes=1.5x text_bytes=1.5x "         \
    "content_filter=+2pt"
/* margins much closer to stable's values */
#define TIGHT_RULE                                                           \
    "output_tokens=1.2x input_tokens=1.2x cost=1.2x answer_bytes=1.2x "      \
    "text_bytes=1.2x tool_calls=1.2x first_token=1.2x length_stops=+1pt "    \
    "refusals=+1pt content_filter=+1pt"

/* the simulation: fresh windows, the canary's checks, stable's answers */
#define SIM_WINDOWS     10000
#define SIM_CANARY_MAX  300
#define SIM_STABLE      2000
#define SIM_TIGHT       2000
/* stable windows the drifted canaries are compared with, in turn */
#define SIM_POOL        500

/* the traffic simulation: answers a second, the canary's share, seconds */
#define LIVE_RATE       50
#define LIVE_CANARY     10
#define LIVE_WINDOW     60
#define LIVE_SECONDS    600
#define LIVE_RUNS       20


/* how the answers of a bundle are drawn */

typedef struct {
    double          out_median;     /* output tokens: log-normal */
    double          out_sigma;
    double          in_median;      /* input tokens: log-normal */
    double          in_sigma;
    double          text_per_token; /* bytes of text per output token */
    double          tool_p;         /* an answer calls tools */
    double          tool_more;      /* ... and then a second one */
    double          length_p;       /* endings */
    double          filter_p;
    double          refusal_p;
    double          ttft_median;    /* ms to the first token: log-normal */
    double          ttft_sigma;
    double          stream_p;       /* an answer is a stream */
    double          usage_p;        /* an answer gives its usage */
} dist_t;

typedef struct {
    const char     *name;
    dist_t          dist;
    unsigned        want;           /* the signal it should trip */
    int             price;          /* the canary's pricing is 2x */
} drifted_t;


static uint64_t  rng;
static double    spare;
static int       has_spare;

static ai_release_pricing_t  price1, price2;

static ai_release_drift_agg_t  pool[SIM_POOL];


static double sim_uniform(void);
static double sim_normal(void);
static void sim_answer(const dist_t *d, ai_release_drift_agg_t *agg);
static void sim_add(ai_release_drift_agg_t *agg, const dist_t *d, unsigned n);
static int parse_rule(ai_release_drift_conf_t *conf, const char *rule);
static void agg_set(ai_release_drift_agg_t *agg, uint64_t answers,
    uint64_t per_answer_out, uint64_t per_answer_tools);
static ai_release_bundle_t *bundle(const char *yaml, ai_release_set_t **set,
    ai_release_errors_t *errs);
static int load_error(const char *yaml, unsigned line, unsigned column,
    const char *substr);
static void test_parse(void);
static void test_add(void);
static void test_check(void);
static void test_price(void);
static void test_pricing_schema(void);
static void test_pricing_digest(void);
static void sim_healthy(const char *what, const char *rule, unsigned windows,
    int assert_zero);
static void sim_drifted(const drifted_t *dr);
static void sim_live(void);


/* stable: realistic spread (output tokens' CV is about 0.9) */

static const dist_t  stable_dist = {
    250, 0.75, 1500, 0.6, 4.2, 0.2, 0.3, 0.03, 0.005, 0.01, 450, 0.5,
    0.6, 0.95
};


int
main(void)
{
    unsigned         i;
    drifted_t        dr;
    static drifted_t drifts[] = {
        { "answers 2x longer", { 500, 0.75, 1500, 0.6, 4.2, 0.2, 0.3, 0.03,
          0.005, 0.01, 450, 0.5, 0.6, 0.95 },
          AI_RELEASE_DRIFT_OUTPUT_TOKENS, 0 },
        { "2x the tool calls", { 250, 0.75, 1500, 0.6, 4.2, 0.4, 0.3, 0.03,
          0.005, 0.01, 450, 0.5, 0.6, 0.95 },
          AI_RELEASE_DRIFT_TOOL_CALLS, 0 },
        { "length stops 3% -> 12%", { 250, 0.75, 1500, 0.6, 4.2, 0.2, 0.3,
          0.12, 0.005, 0.01, 450, 0.5, 0.6, 0.95 },
          AI_RELEASE_DRIFT_LENGTH_STOPS, 0 },
        { "refusals 1% -> 7%", { 250, 0.75, 1500, 0.6, 4.2, 0.2, 0.3, 0.03,
          0.005, 0.07, 450, 0.5, 0.6, 0.95 },
          AI_RELEASE_DRIFT_REFUSALS, 0 },
        { "first token 3x slower", { 250, 0.75, 1500, 0.6, 4.2, 0.2, 0.3,
          0.03, 0.005, 0.01, 1350, 0.5, 0.6, 0.95 },
          AI_RELEASE_DRIFT_FIRST_TOKEN, 0 },
        { "the same tokens at 2x the price", { 250, 0.75, 1500, 0.6, 4.2, 0.2,
          0.3, 0.03, 0.005, 0.01, 450, 0.5, 0.6, 0.95 },
          AI_RELEASE_DRIFT_COST, 1 },
        { NULL, { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 0, 0 }
    };

    price1.input_per_mtok = 2500000;
    price1.output_per_mtok = 10000000;
    price1.set = 1;
    price2 = price1;
    price2.input_per_mtok *= 2;
    price2.output_per_mtok *= 2;

    test_parse();
    test_add();
    test_check();
    test_price();
    test_pricing_schema();
    test_pricing_digest();

    sim_healthy("the issue's rule", ISSUE_RULE " " OTHER_RULE, SIM_WINDOWS,
                1);
    sim_healthy("margins of 1.2x and +1pt", TIGHT_RULE, SIM_TIGHT, 0);

    rng = 20261201;
    has_spare = 0;

    for (i = 0; i < SIM_POOL; i++) {
        sim_add(&pool[i], &stable_dist, SIM_STABLE);
    }

    for (i = 0; drifts[i].name; i++) {
        dr = drifts[i];
        sim_drifted(&dr);
    }

    sim_live();

    return tap_done();
}


/* a deterministic generator (splitmix64): every run draws the same */

static double
sim_uniform(void)
{
    uint64_t  z;

    z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;

    /* (0, 1] */
    return (double) ((z >> 11) + 1) / 9007199254740992.0;
}


/* Box-Muller, both values used */

static double
sim_normal(void)
{
    double  r, t;

    if (has_spare) {
        has_spare = 0;
        return spare;
    }

    r = sqrt(-2 * log(sim_uniform()));
    t = 2 * M_PI * sim_uniform();

    spare = r * sin(t);
    has_spare = 1;

    return r * cos(t);
}


/* one answer of distribution d, counted as the module would count it */

static void
sim_answer(const dist_t *d, ai_release_drift_agg_t *agg)
{
    double                       u, out;
    uint64_t                     ttft;
    ai_release_signals_result_t  r;

    memset(&r, 0, sizeof(r));

    out = d->out_median * exp(d->out_sigma * sim_normal());

    r.output_tokens = (uint64_t) (out + 0.5);
    r.input_tokens = (uint64_t) (d->in_median * exp(d->in_sigma
                                                    * sim_normal()) + 0.5);
    r.has_output = r.has_input = (sim_uniform() <= d->usage_p);
    r.text_bytes = (uint64_t) (out * d->text_per_token
                               * exp(0.1 * sim_normal()) + 0.5);
    r.answer_bytes = r.text_bytes + r.text_bytes / 10 + 380;

    if (sim_uniform() <= d->tool_p) {
        r.tool_calls = 1 + (sim_uniform() <= d->tool_more);
    }

    u = sim_uniform();

    if (u <= d->length_p) {
        r.ending = AI_RELEASE_END_LENGTH;

    } else if (u <= d->length_p + d->filter_p) {
        r.ending = AI_RELEASE_END_CONTENT_FILTER;

    } else if (r.tool_calls) {
        r.ending = AI_RELEASE_END_TOOL_CALLS;

    } else {
        r.ending = AI_RELEASE_END_STOP;
    }

    r.refused = (sim_uniform() <= d->refusal_p);

    ttft = UINT64_MAX;

    if (sim_uniform() <= d->stream_p) {
        ttft = (uint64_t) (d->ttft_median * exp(d->ttft_sigma * sim_normal()));
    }

    ai_release_drift_add(agg, &r, ttft);
}


static void
sim_add(ai_release_drift_agg_t *agg, const dist_t *d, unsigned n)
{
    unsigned  i;

    for (i = 0; i < n; i++) {
        sim_answer(d, agg);
    }
}


static int
parse_rule(ai_release_drift_conf_t *conf, const char *rule)
{
    char        err[256];
    const char *p, *end;

    for (p = rule; *p; p = end) {
        while (*p == ' ') {
            p++;
        }

        end = strchr(p, ' ');
        end = end ? end : p + strlen(p);

        if (end > p
            && ai_release_drift_parse(conf, p, (size_t) (end - p), err,
                                      sizeof(err))
               != 0)
        {
            printf("# %s\n", err);
            return -1;
        }
    }

    return 0;
}


static void
test_parse(void)
{
    char                     err[256];
    ai_release_drift_conf_t  conf, want;

#define P(s)  ai_release_drift_parse(&conf, s, strlen(s), err, sizeof(err))

    ai_release_drift_defaults(&conf);
    ok(conf.min_answers == 200 && conf.mode == AI_RELEASE_DRIFT_TRIP,
       "defaults: min_answers=200 mode=trip, no signal judged");

    ok(parse_rule(&conf, ISSUE_RULE) == 0
       && conf.margin[AI_RELEASE_DRIFT_OUTPUT_TOKENS] == 150
       && conf.margin[AI_RELEASE_DRIFT_LENGTH_STOPS] == 500
       && conf.margin[AI_RELEASE_DRIFT_REFUSALS] == 200
       && conf.margin[AI_RELEASE_DRIFT_TOOL_CALLS] == 150
       && conf.margin[AI_RELEASE_DRIFT_FIRST_TOKEN] == 200
       && conf.margin[AI_RELEASE_DRIFT_INPUT_TOKENS] == 0
       && conf.min_answers == 200, "the issue's rule parses");

    ok(parse_rule(&conf, OTHER_RULE) == 0
       && conf.margin[AI_RELEASE_DRIFT_INPUT_TOKENS] == 150
       && conf.margin[AI_RELEASE_DRIFT_COST] == 150
       && conf.margin[AI_RELEASE_DRIFT_ANSWER_BYTES] == 150
       && conf.margin[AI_RELEASE_DRIFT_TEXT_BYTES] == 150
       && conf.margin[AI_RELEASE_DRIFT_CONTENT_FILTER] == 200,
       "every other signal parses");

    ok(P("mode=observe") == 0 && conf.mode == AI_RELEASE_DRIFT_OBSERVE,
       "mode=observe");
    ok(P("mode=trip") == 0 && conf.mode == AI_RELEASE_DRIFT_TRIP,
       "mode=trip");
    ok(P("min_answers=1") == 0 && conf.min_answers == 1, "min_answers=1");
    ok(P("min_answers=999999999") == 0 && conf.min_answers == 999999999,
       "min_answers=999999999");
    ok(P("output_tokens=0.5x") == 0
       && conf.margin[AI_RELEASE_DRIFT_OUTPUT_TOKENS] == 50,
       "a ratio below 1: 0.5x");
    ok(P("output_tokens=2.25x") == 0
       && conf.margin[AI_RELEASE_DRIFT_OUTPUT_TOKENS] == 225, "2.25x");
    ok(P("output_tokens=100x") == 0
       && conf.margin[AI_RELEASE_DRIFT_OUTPUT_TOKENS] == 10000, "100x");
    ok(P("refusals=-2.5pt") == 0
       && conf.margin[AI_RELEASE_DRIFT_REFUSALS] == -250,
       "points below: -2.5pt");
    ok(P("refusals=+0.01pt") == 0
       && conf.margin[AI_RELEASE_DRIFT_REFUSALS] == 1, "+0.01pt");

    memcpy(&want, &conf, sizeof(conf));

    ok(P("output_tokens=1x") == -1 && strstr(err, "a ratio of 0.01 to 100 "
                                             "but 1"),
       "1x is refused: %s", err);
    ok(P("output_tokens=1.00x") == -1, "1.00x is refused");
    ok(P("output_tokens=0x") == -1, "0x is refused");
    ok(P("output_tokens=100.01x") == -1, "100.01x is refused");
    ok(P("output_tokens=1.555x") == -1, "three decimals are refused");
    ok(P("output_tokens=1.5") == -1, "a ratio without x is refused");
    ok(P("output_tokens=x") == -1, "x alone is refused");
    ok(P("output_tokens=+5pt") == -1
       && strstr(err, "invalid value \"+5pt\" of \"output_tokens\": expected "
                 "a ratio"), "points for a ratio signal: %s", err);
    ok(P("refusals=1.5x") == -1
       && strstr(err, "expected points of 0.01 to 100 with a sign, e.g. "
                 "+5pt"), "a ratio for a points signal: %s", err);
    ok(P("refusals=5pt") == -1, "points without a sign are refused");
    ok(P("refusals=+5") == -1, "points without pt are refused");
    ok(P("refusals=+0pt") == -1, "+0pt is refused");
    ok(P("refusals=+100.5pt") == -1, "more than 100 points are refused");
    ok(P("refusals=+pt") == -1, "+pt is refused");
    ok(P("min_answers=0") == -1 && strstr(err, "1 to 999999999"),
       "min_answers=0 is refused: %s", err);
    ok(P("min_answers=1000000000") == -1, "min_answers over 999999999");
    ok(P("min_answers=-1") == -1, "min_answers=-1 is refused");
    ok(P("mode=enforce") == -1 && strstr(err, "trip or observe"),
       "mode=enforce is refused: %s", err);
    ok(P("outptu_tokens=1.5x") == -1
       && strcmp(err, "invalid parameter \"outptu_tokens\", did you mean "
                 "\"output_tokens\"?") == 0, "did you mean: %s", err);
    ok(P("min_answer=5") == -1 && strstr(err, "did you mean \"min_answers\""),
       "did you mean min_answers: %s", err);
    ok(P("latency=2x") == -1 && strstr(err, "invalid parameter \"latency\": "
                                       "expected min_answers, mode or a "
                                       "signal"),
       "an unknown parameter lists what is known: %s", err);
    ok(P("output_tokens") == -1 && strstr(err, "key=value"),
       "a parameter without a value: %s", err);
    ok(P("none=1.5x") == -1, "\"none\" is not a signal");
    ok(memcmp(&conf, &want, sizeof(conf)) == 0,
       "a refused parameter changes nothing");

    ok(strcmp(ai_release_drift_name(AI_RELEASE_DRIFT_OUTPUT_TOKENS),
              "output_tokens") == 0
       && strcmp(ai_release_drift_name(AI_RELEASE_DRIFT_CONTENT_FILTER),
                 "content_filter") == 0
       && strcmp(ai_release_drift_name(AI_RELEASE_DRIFT_NONE), "none") == 0
       && strcmp(ai_release_drift_name(AI_RELEASE_DRIFT_N), "?") == 0,
       "signal names");

#undef P
}


static void
test_add(void)
{
    ai_release_drift_agg_t       a, b;
    ai_release_signals_result_t  r;

    memset(&a, 0, sizeof(a));
    memset(&r, 0, sizeof(r));

    r.output_tokens = 100;
    r.input_tokens = 30;
    r.has_output = r.has_input = 1;
    r.answer_bytes = 1000;
    r.text_bytes = 400;
    r.tool_calls = 2;
    r.ending = AI_RELEASE_END_LENGTH;
    ai_release_drift_add(&a, &r, 250);

    r.has_input = 0;
    r.refused = 1;
    r.tool_calls = 0;
    r.ending = AI_RELEASE_END_REFUSAL;
    ai_release_drift_add(&a, &r, UINT64_MAX);

    r.output_tokens = (uint64_t) 1 << 40;
    r.input_tokens = 7;
    r.has_input = 1;
    r.refused = 0;
    r.answer_bytes = (uint64_t) 1 << 30;
    r.ending = (ai_release_ending_e) 99;
    ai_release_drift_add(&a, &r, 3);

    ok(a.answers == 3 && a.usage == 2, "answers 3, 2 with usage");
    ok(a.output_tokens == 100 + AI_RELEASE_DRIFT_VALUE_MAX
       && a.output_tokens_sq == 10000 + (uint64_t) AI_RELEASE_DRIFT_VALUE_MAX
                                        * AI_RELEASE_DRIFT_VALUE_MAX
       && a.input_tokens == 37 && a.input_tokens_sq == 949
       && a.tokens_cross == 3000 + 7 * (uint64_t) AI_RELEASE_DRIFT_VALUE_MAX,
       "tokens of answers with usage only, clamped to 2^24 - 1");
    ok(a.answer_bytes == 2000 + AI_RELEASE_DRIFT_VALUE_MAX
       && a.text_bytes == 1200 && a.text_bytes_sq == 480000,
       "bytes of every answer, clamped");
    ok(a.tool_calls == 2 && a.tool_calls_sq == 4, "tool calls and squares");
    ok(a.refusals == 1 && a.endings[AI_RELEASE_END_LENGTH] == 1
       && a.endings[AI_RELEASE_END_REFUSAL] == 1
       && a.endings[AI_RELEASE_END_OTHER] == 1,
       "refusals and endings (an unknown ending is other)");
    ok(a.output_hist[ai_release_hist_bucket(100)] == 1
       && a.output_hist[AI_RELEASE_HIST_BUCKETS - 1] == 1,
       "the output tokens' histogram, unclamped");
    ok(a.first_token_hist[ai_release_hist_bucket(250)] == 1
       && a.first_token_hist[3] == 1,
       "first tokens' histogram: two answers had one");

    memcpy(&b, &a, sizeof(a));
    ai_release_drift_merge(&b, &a);
    ok(b.answers == 6 && b.tokens_cross == 2 * a.tokens_cross
       && b.endings[AI_RELEASE_END_OTHER] == 2
       && b.first_token_hist[3] == 2, "merge adds every counter");

    printf("# an aggregate is %zu bytes\n", sizeof(ai_release_drift_agg_t));
    ok(sizeof(ai_release_drift_agg_t) <= 2048,
       "an aggregate is at most 2 KiB (%zu bytes)",
       sizeof(ai_release_drift_agg_t));
}


/* answers, each with the same tokens and tool calls (no spread) */

static void
agg_set(ai_release_drift_agg_t *agg, uint64_t answers,
    uint64_t per_answer_out, uint64_t per_answer_tools)
{
    memset(agg, 0, sizeof(ai_release_drift_agg_t));

    agg->answers = answers;
    agg->usage = answers;
    agg->output_tokens = answers * per_answer_out;
    agg->output_tokens_sq = answers * per_answer_out * per_answer_out;
    agg->input_tokens = answers * 1000;
    agg->input_tokens_sq = answers * 1000000;
    agg->tokens_cross = answers * 1000 * per_answer_out;
    agg->answer_bytes = answers * per_answer_out * 5;
    agg->answer_bytes_sq = answers * per_answer_out * per_answer_out * 25;
    agg->tool_calls = answers * per_answer_tools;
    agg->tool_calls_sq = answers * per_answer_tools * per_answer_tools;
    agg->endings[AI_RELEASE_END_STOP] = answers;
}


static void
test_check(void)
{
    unsigned                   i;
    ai_release_drift_conf_t    conf;
    ai_release_drift_agg_t     c, s;
    ai_release_drift_signal_t  sig;

    ai_release_drift_defaults(&conf);
    parse_rule(&conf, ISSUE_RULE);

    /* no spread: the values decide */

    agg_set(&c, 200, 400, 0);
    agg_set(&s, 1000, 200, 0);
    ok(ai_release_drift_check(&conf, &c, NULL, &s, NULL)
       == AI_RELEASE_DRIFT_OUTPUT_TOKENS, "2x the output tokens: breached");

    ai_release_drift_signal(&conf, AI_RELEASE_DRIFT_OUTPUT_TOKENS, &c, NULL,
                            &s, NULL, &sig);
    ok(sig.judged && sig.breached && sig.canary == 400 && sig.stable == 200
       && sig.change == 2 && sig.canary_n == 200 && sig.stable_n == 1000,
       "the signal: 400 against 200, 2x");

    agg_set(&c, 199, 400, 0);
    ok(ai_release_drift_check(&conf, &c, NULL, &s, NULL)
       == AI_RELEASE_DRIFT_NONE, "199 canary answers: not judged");
    ai_release_drift_signal(&conf, AI_RELEASE_DRIFT_OUTPUT_TOKENS, &c, NULL,
                            &s, NULL, &sig);
    ok(!sig.judged && !sig.breached && sig.change == 2,
       "not judged, the change still shown");

    agg_set(&c, 200, 400, 0);
    agg_set(&s, 199, 200, 0);
    ok(ai_release_drift_check(&conf, &c, NULL, &s, NULL)
       == AI_RELEASE_DRIFT_NONE, "199 stable answers: not judged");

    agg_set(&c, 200, 300, 0);
    agg_set(&s, 1000, 200, 0);
    ok(ai_release_drift_check(&conf, &c, NULL, &s, NULL)
       == AI_RELEASE_DRIFT_NONE, "exactly 1.5x is not more than 1.5x");

    agg_set(&c, 200, 301, 0);
    ok(ai_release_drift_check(&conf, &c, NULL, &s, NULL)
       == AI_RELEASE_DRIFT_OUTPUT_TOKENS, "1.505x is");

    c.usage = 150;
    ok(ai_release_drift_check(&conf, &c, NULL, &s, NULL)
       == AI_RELEASE_DRIFT_NONE, "150 canary answers with usage: tokens are "
       "not judged");

    /* below: 0.5x */

    ai_release_drift_parse(&conf, "output_tokens=0.5x", 18, NULL, 0);
    agg_set(&c, 200, 99, 0);
    ok(ai_release_drift_check(&conf, &c, NULL, &s, NULL)
       == AI_RELEASE_DRIFT_OUTPUT_TOKENS, "0.5x: less than half breaches");
    agg_set(&c, 200, 100, 0);
    ok(ai_release_drift_check(&conf, &c, NULL, &s, NULL)
       == AI_RELEASE_DRIFT_NONE, "0.5x: half does not");
    agg_set(&c, 200, 400, 0);
    ok(ai_release_drift_check(&conf, &c, NULL, &s, NULL)
       == AI_RELEASE_DRIFT_NONE, "0.5x: twice does not");
    ai_release_drift_parse(&conf, "output_tokens=1.5x", 18, NULL, 0);

    /* spread: the same means with a standard deviation of 200 tokens */

    agg_set(&c, 200, 260, 0);
    c.output_tokens_sq += 200 * 200 * 199;
    agg_set(&s, 1000, 160, 0);
    s.output_tokens_sq += 200 * 200 * 999;
    ai_release_drift_signal(&conf, AI_RELEASE_DRIFT_OUTPUT_TOKENS, &c, NULL,
                            &s, NULL, &sig);
    ok(sig.judged && !sig.breached && sig.change > 1.6
       && fabs(sig.evidence - (260 - 1.5 * 160)
                              / sqrt(40000.0 / 200 + 2.25 * 40000 / 1000))
          < 1e-9,
       "1.63x with a spread of 200: the statistic %.3f is below 1.645",
       sig.evidence);

    c.output_tokens = 200 * 280;
    c.output_tokens_sq = 200 * 280 * 280 + 200 * 200 * 199;
    ai_release_drift_signal(&conf, AI_RELEASE_DRIFT_OUTPUT_TOKENS, &c, NULL,
                            &s, NULL, &sig);
    ok(sig.breached && sig.evidence > 1.645,
       "1.75x with the same spread: %.3f, breached", sig.evidence);

    /* tool calls: stable never calls a tool */

    agg_set(&c, 400, 200, 0);
    agg_set(&s, 1000, 200, 0);
    c.tool_calls = 2;
    c.tool_calls_sq = 2;
    ai_release_drift_signal(&conf, AI_RELEASE_DRIFT_TOOL_CALLS, &c, NULL, &s,
                            NULL, &sig);
    ok(sig.judged && !sig.breached && sig.change == 0,
       "2 tool calls in 400 answers against none: no evidence (%.3f)",
       sig.evidence);
    c.tool_calls = 40;
    c.tool_calls_sq = 40;
    ok(ai_release_drift_check(&conf, &c, NULL, &s, NULL)
       == AI_RELEASE_DRIFT_TOOL_CALLS,
       "40 tool calls in 400 answers against none: breached");

    /* points */

    agg_set(&c, 200, 200, 0);
    agg_set(&s, 1000, 200, 0);
    c.refusals = 10;
    s.refusals = 10;
    ai_release_drift_signal(&conf, AI_RELEASE_DRIFT_REFUSALS, &c, NULL, &s,
                            NULL, &sig);
    ok(sig.judged && !sig.breached && fabs(sig.change - 4) < 1e-9,
       "refusals 5%% against 1%%: +4pt, but the bound %.2fpt is below +2pt",
       sig.evidence);
    c.refusals = 16;
    ok(ai_release_drift_check(&conf, &c, NULL, &s, NULL)
       == AI_RELEASE_DRIFT_REFUSALS, "refusals 8%% against 1%%: breached");

    c.refusals = 0;
    c.endings[AI_RELEASE_END_LENGTH] = 40;
    s.endings[AI_RELEASE_END_LENGTH] = 30;
    ok(ai_release_drift_check(&conf, &c, NULL, &s, NULL)
       == AI_RELEASE_DRIFT_LENGTH_STOPS,
       "length stops 20%% against 3%%: breached");

    c.endings[AI_RELEASE_END_LENGTH] = 0;
    c.refusals = 500;
    ai_release_drift_signal(&conf, AI_RELEASE_DRIFT_REFUSALS, &c, NULL, &s,
                            NULL, &sig);
    ok(sig.canary == 1 && sig.breached,
       "refusals counted beyond the answers count as all answers");
    c.refusals = 0;

    ai_release_drift_parse(&conf, "content_filter=-2pt", 19, NULL, 0);
    s.endings[AI_RELEASE_END_CONTENT_FILTER] = 100;
    ok(ai_release_drift_check(&conf, &c, NULL, &s, NULL)
       == AI_RELEASE_DRIFT_CONTENT_FILTER,
       "-2pt: content filter 0%% against 10%%: breached below");
    c.endings[AI_RELEASE_END_CONTENT_FILTER] = 16;
    ok(ai_release_drift_check(&conf, &c, NULL, &s, NULL)
       == AI_RELEASE_DRIFT_NONE, "-2pt: 8%% against 10%%: not");
    conf.margin[AI_RELEASE_DRIFT_CONTENT_FILTER] = 0;

    /* the median time to the first token */

    agg_set(&c, 300, 200, 0);
    agg_set(&s, 1000, 200, 0);

    for (i = 0; i < 300; i++) {
        c.first_token_hist[ai_release_hist_bucket(900 + i)]++;
    }

    for (i = 0; i < 1000; i++) {
        s.first_token_hist[ai_release_hist_bucket(300 + i / 5)]++;
    }

    ai_release_drift_signal(&conf, AI_RELEASE_DRIFT_FIRST_TOKEN, &c, NULL,
                            &s, NULL, &sig);
    ok(sig.judged && sig.breached && sig.change > 2.5 && sig.evidence > 2,
       "first token 1,050 ms against 400 ms: %.2fx, bound %.2fx: breached",
       sig.change, sig.evidence);

    memset(c.first_token_hist, 0, sizeof(c.first_token_hist));

    for (i = 0; i < 300; i++) {
        c.first_token_hist[ai_release_hist_bucket(600 + i / 2)]++;
    }

    ai_release_drift_signal(&conf, AI_RELEASE_DRIFT_FIRST_TOKEN, &c, NULL,
                            &s, NULL, &sig);
    ok(sig.judged && !sig.breached,
       "first token 675 ms against 400 ms: %.2fx: not", sig.change);

    memset(c.first_token_hist, 0, sizeof(c.first_token_hist));
    c.first_token_hist[ai_release_hist_bucket(5000)] = 199;
    ai_release_drift_signal(&conf, AI_RELEASE_DRIFT_FIRST_TOKEN, &c, NULL,
                            &s, NULL, &sig);
    ok(!sig.judged && !sig.breached,
       "199 canary answers with a first token: not judged");

    /* cost: the same tokens at twice the price */

    ai_release_drift_parse(&conf, "cost=1.5x", 9, NULL, 0);
    agg_set(&c, 200, 200, 0);
    ai_release_drift_signal(&conf, AI_RELEASE_DRIFT_COST, &c, &price2, &s,
                            &price1, &sig);
    ok(sig.judged && sig.breached && fabs(sig.change - 2) < 1e-9
       && fabs(sig.stable - (1000 * 2.5 + 200 * 10) / 1e6) < 1e-12,
       "cost: %.6f against %.6f an answer, 2x: breached", sig.canary,
       sig.stable);
    ok(ai_release_drift_check(&conf, &c, &price2, &s, &price1)
       == AI_RELEASE_DRIFT_COST, "check: drift:cost");
    ok(ai_release_drift_check(&conf, &c, &price2, &s, NULL)
       == AI_RELEASE_DRIFT_NONE, "stable without pricing: cost not judged");
    ai_release_drift_signal(&conf, AI_RELEASE_DRIFT_COST, &c, &price2, &s,
                            NULL, &sig);
    ok(!sig.judged && sig.canary == 0, "nor shown");
    ok(ai_release_drift_check(&conf, &c, &price1, &s, &price1)
       == AI_RELEASE_DRIFT_NONE, "the same pricing: not breached");

    /* several: the first in the order of the signals */

    agg_set(&c, 200, 600, 1);
    c.refusals = 100;
    ok(ai_release_drift_check(&conf, &c, &price1, &s, &price1)
       == AI_RELEASE_DRIFT_OUTPUT_TOKENS,
       "several breached: output_tokens comes first");
    conf.margin[AI_RELEASE_DRIFT_OUTPUT_TOKENS] = 0;
    ok(ai_release_drift_check(&conf, &c, &price1, &s, &price1)
       == AI_RELEASE_DRIFT_COST, "then cost (the same pricing, 3x tokens)");
    conf.margin[AI_RELEASE_DRIFT_COST] = 0;
    ok(ai_release_drift_check(&conf, &c, &price1, &s, &price1)
       == AI_RELEASE_DRIFT_TOOL_CALLS, "then tool_calls");

    memset(&conf, 0, sizeof(conf));
    conf.min_answers = 1;
    ok(ai_release_drift_check(&conf, &c, &price1, &s, &price1)
       == AI_RELEASE_DRIFT_NONE, "no margin: nothing judged");

    /* empty aggregates */

    memset(&c, 0, sizeof(c));
    memset(&s, 0, sizeof(s));
    ai_release_drift_defaults(&conf);
    parse_rule(&conf, ISSUE_RULE " " OTHER_RULE);
    conf.min_answers = 1;
    c.answers = 1;
    s.answers = 1;

    for (i = 1; i < AI_RELEASE_DRIFT_N; i++) {
        ai_release_drift_signal(&conf, i, &c, &price1, &s, &price1, &sig);

        if (sig.breached || isnan(sig.change) || isnan(sig.evidence)) {
            break;
        }
    }

    ok(i == AI_RELEASE_DRIFT_N, "one empty answer each: no breach, no NaN "
       "(%s)", ai_release_drift_name(i));
}


static void
test_price(void)
{
    char                  text[AI_RELEASE_PRICE_TEXT_SIZE];
    uint64_t              micro;
    ai_release_pricing_t  p;

#define PP(s)  ai_release_price_parse(s, strlen(s), &micro)

    ok(PP("2.50") == 0 && micro == 2500000, "2.50 is 2,500,000 micro-units");
    ok(PP("0") == 0 && micro == 0, "0 is free");
    ok(PP("0.000001") == 0 && micro == 1, "0.000001");
    ok(PP("9999999.999999") == 0 && micro == AI_RELEASE_PRICE_MAX,
       "the largest price");
    ok(PP("007.5") == 0 && micro == 7500000, "leading zeros");
    micro = 42;
    ok(PP("10000000") == -1 && micro == 42, "8 digits are refused");
    ok(PP("1.0000001") == -1, "7 decimals are refused");
    ok(PP("-1") == -1 && PP("+1") == -1, "no sign");
    ok(PP("1e3") == -1 && PP(".5") == -1 && PP("5.") == -1 && PP("") == -1
       && PP("1,5") == -1 && PP(" 1") == -1 && PP("inf") == -1,
       "1e3, .5, 5., empty, 1,5, a blank, inf are refused");
    ok(micro == 42, "refusals leave the value alone");

#undef PP

    ok(ai_release_price_format(2500000, text) == 3
       && strcmp(text, "2.5") == 0, "2500000 is 2.5");
    ok(ai_release_price_format(10000000, text) == 2
       && strcmp(text, "10") == 0, "10000000 is 10");
    ok(ai_release_price_format(1, text) == 8
       && strcmp(text, "0.000001") == 0, "1 is 0.000001");
    ok(ai_release_price_format(0, text) == 1 && strcmp(text, "0") == 0,
       "0 is 0");
    ok(ai_release_price_format(AI_RELEASE_PRICE_MAX, text) == 14
       && strcmp(text, "9999999.999999") == 0, "the largest");
    ok(ai_release_price_format(AI_RELEASE_PRICE_MAX + 1, text) == 0
       && text[0] == '\0', "above the largest: nothing");

    p = price1;
    ok(ai_release_cost_microunits(&p, 1000000, 1000000) == 12500000,
       "a million each at 2.50 and 10: 12.5");
    ok(ai_release_cost_microunits(&p, 1200, 300) == 6000,
       "1,200 in and 300 out: 0.006 (6,000 micro-units)");
    ok(ai_release_cost_microunits(&p, 1, 0) == 3
       && ai_release_cost_microunits(&p, 0, 1) == 10,
       "one token: 2.5 rounds to 3, and 10");
    p.input_per_mtok = 1;
    p.output_per_mtok = 1;
    ok(ai_release_cost_microunits(&p, 499999, 0) == 0
       && ai_release_cost_microunits(&p, 250000, 250000) == 1
       && ai_release_cost_microunits(&p, 1499999, 0) == 1,
       "the remainders of both add up before rounding");
    p.input_per_mtok = AI_RELEASE_PRICE_MAX;
    p.output_per_mtok = AI_RELEASE_PRICE_MAX;
    ok(ai_release_cost_microunits(&p, 999999, 999999)
       == 2 * (uint64_t) 9999989999999,
       "the largest price, below a million tokens each: exact");
    ok(ai_release_cost_microunits(&p, UINT64_MAX, 0) == UINT64_MAX
       && ai_release_cost_microunits(&p, 1844674407370, 1844674407370)
          == UINT64_MAX,
       "what does not fit is UINT64_MAX");
    p.input_per_mtok = AI_RELEASE_PRICE_MAX + 1;
    ok(ai_release_cost_microunits(&p, 1, 0) == UINT64_MAX,
       "a price above the largest is UINT64_MAX");
    p.set = 0;
    ok(ai_release_cost_microunits(&p, 1000, 1000) == 0
       && ai_release_cost_microunits(NULL, 1000, 1000) == 0,
       "no pricing: 0");
}


static ai_release_bundle_t *
bundle(const char *yaml, ai_release_set_t **set, ai_release_errors_t *errs)
{
    *set = ai_release_set_create();

    if (*set == NULL
        || ai_release_set_load_buffer(*set, "inline.yaml", yaml, strlen(yaml),
                                      errs)
           != 0)
    {
        return NULL;
    }

    return ai_release_set_get(*set, 0);
}


static int
load_error(const char *yaml, unsigned line, unsigned column,
    const char *substr)
{
    int                   found;
    size_t                i;
    ai_release_set_t     *set;
    ai_release_errors_t   errs;

    ai_release_errors_init(&errs);

    found = (bundle(yaml, &set, &errs) == NULL);

    for (i = 0; found && i < errs.n; i++) {
        if (errs.items[i].line == line && errs.items[i].column == column
            && strstr(errs.items[i].message, substr))
        {
            break;
        }
    }

    found = found && i < errs.n;

    ok(found, "%u:%u: %s", line, column, substr);

    if (!found) {
        for (i = 0; i < errs.n; i++) {
            printf("#   %u:%u: %s\n", errs.items[i].line,
                   errs.items[i].column, errs.items[i].message);
        }
    }

    ai_release_errors_free(&errs);
    ai_release_set_free(set);

    return found;
}


static void
test_pricing_schema(void)
{
    ai_release_set_t     *set;
    ai_release_bundle_t  *b;
    ai_release_errors_t   errs;

    ai_release_errors_init(&errs);

    b = bundle(BASE "pricing:\n  input_per_mtok: 2.50\n"
               "  output_per_mtok: \"10.00\"\n", &set, &errs);
    ok(b && b->pricing.set && b->pricing.input_per_mtok == 2500000
       && b->pricing.output_per_mtok == 10000000,
       "pricing: 2.50 and \"10.00\" in micro-units");
    ai_release_set_free(set);

    b = bundle(BASE "pricing: {input_per_mtok: 0, output_per_mtok: 0}\n",
               &set, &errs);
    ok(b && b->pricing.set && b->pricing.input_per_mtok == 0,
       "pricing of 0: free, and set");
    ai_release_set_free(set);

    b = bundle(BASE, &set, &errs);
    ok(b && !b->pricing.set, "no pricing: not set");
    ai_release_set_free(set);

    ok(errs.n == 0, "no errors");
    ai_release_errors_free(&errs);

    load_error(BASE "pricing: 2.5\n", 5, 10, "\"pricing\" must be a mapping");
    load_error(BASE "pricing:\n  input_per_mtok: 2.5\n", 6, 3,
               "pricing needs output_per_mtok (the price of a million "
               "output tokens, e.g. 10.00)");
    load_error(BASE "pricing: {}\n", 5, 10, "pricing needs input_per_mtok");
    load_error(BASE "pricing:\n  input_per_mtok: 2.5\n"
               "  output_per_mtok: -1\n", 7, 20,
               "pricing.output_per_mtok \"-1\" must be a price per million "
               "tokens: a decimal number of 0 to 9999999.999999 with at most "
               "6 decimals, e.g. 2.50");
    load_error(BASE "pricing:\n  input_per_mtok: 0.0000001\n"
               "  output_per_mtok: 1\n", 6, 19,
               "pricing.input_per_mtok \"0.0000001\" must be a price");
    load_error(BASE "pricing:\n  input_per_mtok: 1e3\n"
               "  output_per_mtok: 1\n", 6, 19,
               "pricing.input_per_mtok \"1e3\" must be a price");
    load_error(BASE "pricing:\n  input_per_mtok: \"\"\n"
               "  output_per_mtok: 1\n", 6, 19,
               "pricing.input_per_mtok \"\" must be a price");
    load_error(BASE "pricing:\n  input_per_mtok: [1]\n"
               "  output_per_mtok: 1\n", 6, 19,
               "pricing.input_per_mtok must be a price");
    load_error(BASE "pricing:\n  input_per_mtok: 1\n"
               "  output_per_mtok: 1\n  ouput_per_mtok: 1\n", 8, 3,
               "unknown key \"ouput_per_mtok\" in \"pricing\", did you mean "
               "\"output_per_mtok\"?");
    load_error(BASE "pricing:\n  input_per_mtok: 1\n"
               "  output_per_mtok: 1\n  currency: EUR\n", 8, 3,
               "unknown key \"currency\" in \"pricing\": expected "
               "input_per_mtok and output_per_mtok");
    load_error(BASE "pricng:\n  input_per_mtok: 1\n", 5, 1,
               "unknown key \"pricng\", did you mean \"pricing\"?");
}


static void
test_pricing_digest(void)
{
    int                   rc;
    char                 *text;
    size_t                i, n, len;
    FILE                 *f;
    ai_release_set_t     *s1, *s2, *s3;
    ai_release_part_t    *parts;
    ai_release_lock_t    *lock;
    ai_release_bundle_t  *b1, *b2, *b3;
    ai_release_errors_t   errs;

    ai_release_errors_init(&errs);

    b1 = bundle(BASE "pricing:\n  input_per_mtok: 2.50\n"
                "  output_per_mtok: 10.000\n", &s1, &errs);
    ok(b1 && strcmp(b1->canonical,
                    "ai-release-canonical-v1\n"
                    "{\"model\":\"m\",\"name\":\"a\",\"pricing\":"
                    "{\"input_per_mtok\":2.5,\"output_per_mtok\":10},"
                    "\"upstream\":\"up\",\"version\":\"1\"}\n") == 0,
       "canonical form: pricing as JSON numbers in their shortest form");

    b2 = bundle(BASE "pricing: {output_per_mtok: '10', "
                "input_per_mtok: \"2.5\"}\n", &s2, &errs);
    ok(b1 && b2 && strcmp(b1->digest_hex, b2->digest_hex) == 0,
       "the same prices written otherwise: the same digest");
    ai_release_set_free(s2);

    b2 = bundle(BASE "pricing:\n  input_per_mtok: 2.51\n"
                "  output_per_mtok: 10\n", &s2, &errs);
    ok(b1 && b2 && strcmp(b1->digest_hex, b2->digest_hex) != 0,
       "another price: another digest");

    b3 = bundle(BASE, &s3, &errs);
    ok(b1 && b3 && strcmp(b1->digest_hex, b3->digest_hex) != 0
       && strstr(b3->canonical, "pricing") == NULL,
       "without pricing, the canonical form has none");
    ok(b3 && strcmp(b3->canonical,
                    "ai-release-canonical-v1\n"
                    "{\"model\":\"m\",\"name\":\"a\",\"upstream\":\"up\","
                    "\"version\":\"1\"}\n") == 0,
       "and is what it was before pricing");

    /* the lock: a part "pricing" */

    parts = NULL;
    n = 0;
    rc = b1 ? ai_release_bundle_parts(b1, &parts, &n) : -1;

    for (i = 0; rc == 0 && i < n; i++) {
        if (strcmp(parts[i].kind, "key") == 0
            && strcmp(parts[i].name, "pricing") == 0)
        {
            break;
        }
    }

    ok(rc == 0 && i < n, "the lock has a part \"pricing\"");
    ai_release_parts_free(parts, n);

    text = NULL;
    f = open_memstream(&text, &len);
    rc = (f && b1) ? ai_release_lock_write(f, &b1, 1) : -1;

    if (f) {
        fclose(f);
    }

    lock = (rc == 0) ? ai_release_lock_load_buffer("test.lock", text, len,
                                                   &errs)
                     : NULL;

    ok(lock && b2
       && ai_release_lock_check(lock, b2, &errs) == AI_RELEASE_LOCK_CHANGED
       && errs.n == 1 && strstr(errs.items[0].message, "pricing changed"),
       "the lock names pricing as what changed: %s",
       errs.n ? errs.items[0].message : "");

    ai_release_errors_free(&errs);
    ai_release_lock_free(lock);
    free(text);

    ai_release_set_free(s1);
    ai_release_set_free(s2);
    ai_release_set_free(s3);
}


/*
 * Canaries drawn from stable's very distribution: in each fresh window
 * stable has SIM_STABLE answers, and the canary is checked after each of
 * its answers from min_answers to SIM_CANARY_MAX.  A signal that breaches
 * at any check counts as a false trip of that window.
 */

static void
sim_healthy(const char *what, const char *rule, unsigned windows,
    int assert_zero)
{
    unsigned                    w, i, k, tripped[AI_RELEASE_DRIFT_N], any;
    unsigned                    breached[AI_RELEASE_DRIFT_N];
    ai_release_drift_conf_t     conf;
    ai_release_drift_agg_t      c, s;
    ai_release_drift_signal_t   sig;

    ai_release_drift_defaults(&conf);
    ok(parse_rule(&conf, rule) == 0, "%s: parses", what);

    rng = 20261130;
    has_spare = 0;
    memset(tripped, 0, sizeof(tripped));
    any = 0;

    for (w = 0; w < windows; w++) {
        memset(&c, 0, sizeof(c));
        memset(&s, 0, sizeof(s));
        memset(breached, 0, sizeof(breached));

        sim_add(&s, &stable_dist, SIM_STABLE);
        sim_add(&c, &stable_dist, conf.min_answers - 1);

        for (i = conf.min_answers; i <= SIM_CANARY_MAX; i++) {
            sim_answer(&stable_dist, &c);

            for (k = 1; k < AI_RELEASE_DRIFT_N; k++) {
                if (conf.margin[k] == 0 || breached[k]) {
                    continue;
                }

                ai_release_drift_signal(&conf, k, &c, &price1, &s, &price1,
                                        &sig);
                breached[k] = sig.breached;
            }
        }

        k = 0;

        for (i = 1; i < AI_RELEASE_DRIFT_N; i++) {
            tripped[i] += breached[i];
            k |= breached[i];
        }

        any += k;
    }

    printf("# %s: canaries drawn from stable's distribution, %u fresh "
           "windows of %u stable answers, checked after each canary answer "
           "from %llu to %u:\n#  ", what, windows, SIM_STABLE,
           (unsigned long long) conf.min_answers, SIM_CANARY_MAX);

    for (i = 1; i < AI_RELEASE_DRIFT_N; i++) {
        if (conf.margin[i]) {
            printf(" %s %u", ai_release_drift_name(i), tripped[i]);
        }
    }

    printf("; any %u (%.3f%%)\n", any, 100.0 * any / windows);

    if (assert_zero) {
        for (i = 1; i < AI_RELEASE_DRIFT_N; i++) {
            if (conf.margin[i]) {
                ok(tripped[i] == 0, "%s: %s trips no healthy canary in %u "
                   "windows (%u)", what, ai_release_drift_name(i), windows,
                   tripped[i]);
            }
        }

    } else {
        ok(any * 20 <= windows, "%s: at most 5%% of healthy windows trip "
           "(%.3f%%)", what, 100.0 * any / windows);
    }
}


/*
 * A canary that drifted: how often the check gives its signal once the
 * canary has min_answers answers that carry the signal (answers with
 * usage, streams with a first token), against one of SIM_POOL stable
 * windows of SIM_STABLE answers, and how often by twice as many
 */

static void
sim_drifted(const drifted_t *dr)
{
    unsigned                    w, at_min, by_twice;
    ai_release_drift_e          e;
    ai_release_drift_conf_t     conf;
    ai_release_drift_agg_t      c, *s;
    ai_release_pricing_t       *pc;
    ai_release_drift_signal_t   sig;

    ai_release_drift_defaults(&conf);
    parse_rule(&conf, ISSUE_RULE " " OTHER_RULE);

    rng = 20261203 + dr->want;
    has_spare = 0;
    at_min = 0;
    by_twice = 0;
    pc = dr->price ? &price2 : &price1;

    for (w = 0; w < SIM_WINDOWS; w++) {
        memset(&c, 0, sizeof(c));
        s = &pool[w % SIM_POOL];

        do {
            sim_answer(&dr->dist, &c);
            ai_release_drift_signal(&conf, dr->want, &c, pc, s, &price1,
                                    &sig);
        } while (sig.canary_n < conf.min_answers);

        e = ai_release_drift_check(&conf, &c, pc, s, &price1);

        at_min += (e == dr->want);

        while (e == AI_RELEASE_DRIFT_NONE
               && sig.canary_n < 2 * conf.min_answers)
        {
            sim_answer(&dr->dist, &c);
            ai_release_drift_signal(&conf, dr->want, &c, pc, s, &price1,
                                    &sig);
            e = ai_release_drift_check(&conf, &c, pc, s, &price1);
        }

        by_twice += (e == dr->want);
    }

    printf("# %s: drift:%s when the canary has %llu answers with the "
           "signal in %.2f%% of %u windows, by %llu in %.2f%%\n", dr->name,
           ai_release_drift_name(dr->want),
           (unsigned long long) conf.min_answers, 100.0 * at_min / SIM_WINDOWS,
           SIM_WINDOWS, (unsigned long long) 2 * conf.min_answers,
           100.0 * by_twice / SIM_WINDOWS);

    if (dr->want == AI_RELEASE_DRIFT_OUTPUT_TOKENS) {
        ok(at_min * 100 >= SIM_WINDOWS * 99,
           "%s: drift:output_tokens within min_answers in at least 99%% of "
           "windows (%.2f%%)", dr->name, 100.0 * at_min / SIM_WINDOWS);

    } else {
        ok(by_twice * 100 >= SIM_WINDOWS * 90,
           "%s: drift:%s by 2 x min_answers in at least 90%% of windows "
           "(%.2f%%)", dr->name, ai_release_drift_name(dr->want),
           100.0 * by_twice / SIM_WINDOWS);
    }
}


/*
 * Traffic as the module sees it: LIVE_RATE answers a second, LIVE_CANARY
 * percent of them the canary's, counted in one-second slots of a sliding
 * window of LIVE_WINDOW seconds, the rule checked every second once the
 * window is full, for LIVE_SECONDS: LIVE_RUNS runs of a canary drawn from
 * stable's distribution, and as many of a canary whose answers are twice
 * as long.
 */

#define AGG_WORDS  (sizeof(ai_release_drift_agg_t) / sizeof(uint64_t))

static void
sim_live(void)
{
    int                       drifted;
    unsigned                  run, t, i, trips, tripped_at, latest;
    uint64_t                 *sum, *old;
    ai_release_drift_e        e;
    ai_release_drift_conf_t   conf;
    const dist_t             *cd;
    dist_t                    longer;
    ai_release_drift_agg_t    cw, sw;
    static ai_release_drift_agg_t  cslot[LIVE_WINDOW], sslot[LIVE_WINDOW];

    ai_release_drift_defaults(&conf);
    parse_rule(&conf, ISSUE_RULE " " OTHER_RULE);

    longer = stable_dist;
    longer.out_median *= 2;

    for (drifted = 0; drifted < 2; drifted++) {
        rng = 20261202 + drifted;
        has_spare = 0;
        trips = 0;
        latest = 0;
        cd = drifted ? &longer : &stable_dist;

        for (run = 0; run < LIVE_RUNS; run++) {
            memset(cslot, 0, sizeof(cslot));
            memset(sslot, 0, sizeof(sslot));
            memset(&cw, 0, sizeof(cw));
            memset(&sw, 0, sizeof(sw));
            tripped_at = 0;

            for (t = 0; t < LIVE_SECONDS + LIVE_WINDOW; t++) {

                /* the slot leaving the window */

                sum = (uint64_t *) &cw;
                old = (uint64_t *) &cslot[t % LIVE_WINDOW];

                for (i = 0; i < AGG_WORDS; i++) {
                    sum[i] -= old[i];
                }

                sum = (uint64_t *) &sw;
                old = (uint64_t *) &sslot[t % LIVE_WINDOW];

                for (i = 0; i < AGG_WORDS; i++) {
                    sum[i] -= old[i];
                }

                memset(&cslot[t % LIVE_WINDOW], 0, sizeof(cslot[0]));
                memset(&sslot[t % LIVE_WINDOW], 0, sizeof(sslot[0]));

                for (i = 0; i < LIVE_RATE; i++) {
                    if (sim_uniform() * 100 < LIVE_CANARY) {
                        sim_answer(cd, &cslot[t % LIVE_WINDOW]);

                    } else {
                        sim_answer(&stable_dist, &sslot[t % LIVE_WINDOW]);
                    }
                }

                ai_release_drift_merge(&cw, &cslot[t % LIVE_WINDOW]);
                ai_release_drift_merge(&sw, &sslot[t % LIVE_WINDOW]);

                if (t + 1 < LIVE_WINDOW) {
                    continue;
                }

                e = ai_release_drift_check(&conf, &cw, &price1, &sw,
                                           &price1);

                if (e != AI_RELEASE_DRIFT_NONE) {
                    trips++;

                    if (!drifted || e != AI_RELEASE_DRIFT_OUTPUT_TOKENS) {
                        printf("#   run %u second %u: drift:%s\n", run, t,
                               ai_release_drift_name(e));
                    }

                    tripped_at = t + 1;
                    break;
                }
            }

            latest = tripped_at > latest ? tripped_at : latest;

            if (drifted && tripped_at == 0) {
                latest = UINT32_MAX;
            }
        }

        if (!drifted) {
            printf("# traffic: %u answers a second, %u%% to the canary, a "
                   "window of %u s, checked every second: %u runs of %u "
                   "minutes of a canary drawn from stable's distribution: "
                   "%u trips\n", LIVE_RATE, LIVE_CANARY, LIVE_WINDOW,
                   LIVE_RUNS, LIVE_SECONDS / 60, trips);
            ok(trips == 0, "traffic: %u x %u minutes of a healthy canary, "
               "0 trips (%u)", LIVE_RUNS, LIVE_SECONDS / 60, trips);

        } else {
            printf("# traffic: a canary with answers twice as long tripped "
                   "in %u of %u runs, the latest after %u s\n", trips,
                   LIVE_RUNS, latest);
            ok(trips == LIVE_RUNS && latest <= LIVE_WINDOW + 5,
               "traffic: a canary with answers twice as long trips once the "
               "window is first judged (%u runs, latest %u s)", trips,
               latest);
        }
    }
}
