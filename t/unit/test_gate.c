
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Unit tests of the eval gates and the lock file, TAP output.  Run from
 * t/unit so that the fixtures are found as fixtures/gate/...:
 *
 *   cd t/unit && ../../build/unit_gate
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <jansson.h>

#include "ai_release_core.h"
#include "tap.h"


#define FIX         "fixtures/gate/"
#define BUNDLE      FIX "bundle.yaml"
#define REPORT      "evals/support-drafts-4.json"
#define DIGEST      "sha256:4d1f368483596bfa7527224b4a12e173"                \
                    "62b88c35b4306fd8f92218ac1ff89bb6"
#define OPS_DIGEST  "sha256:6ddb52e26fbb5625a3bacc76bdb577f2"                \
                    "8217e7918c7db626ab78bf78ae5ac100"

/* 2026-11-20T10:00:00Z */
#define NOW         1795168800LL
#define DAY         86400LL

/* sha256 of "x", in fixtures/gate/locks/ */
#define FIX_HASH    "sha256:2d711642b726b04401627ca9fbac32f5"                \
                    "c8530fb1903cc4db02258717921a4881"

#define HINT        "; give it a new version, or if this change is intended, " \
                    "update the lock with \"ai-release lock\""


static ai_release_set_t *load(const char *path);
static ai_release_bundle_t *find(ai_release_set_t *set, const char *id);
static void dump_errors(const ai_release_errors_t *errs);
static int same_messages(const ai_release_errors_t *errs,
    const char **messages, size_t n);
static ai_release_gate_e gate(ai_release_bundle_t *b, const char *dir,
    long long now, ai_release_errors_t *errs);
static void expect_gate(ai_release_bundle_t *b, const char *dir,
    long long now, ai_release_gate_e want, const char *file,
    const char **messages, size_t n, const char *what);
static void expect_eval_error(ai_release_errors_t *errs, const char *file,
    unsigned line, unsigned column, const char *message);
static void check_lock(ai_release_lock_t *lock, const char *path,
    ai_release_lock_e want, const char *message, const char *what);
static void sha_hex(const char *data, char *out);

static void test_pass(void);
static void test_gates(void);
static void test_operators(void);
static void test_report_ids(void);
static void test_max_age(void);
static void test_future(void);
static void test_digest_message(void);
static void test_report_problems(void);
static void test_report_dir(void);
static void test_malformed(void);
static void test_none(void);
static void test_node_canonical(void);
static void test_lock_round_trip(void);
static void test_lock_load_errors(void);
static void test_lock_not_regular(void);
static void test_lock_error_cap(void);
static void test_lock_lenient(void);


static char tmp_dir[] = "/tmp/air-unit-gate-XXXXXX";


int
main(void)
{
    char  cmd[256];

    test_pass();
    test_gates();
    test_operators();
    test_report_ids();
    test_max_age();
    test_future();
    test_digest_message();
    test_report_problems();
    test_report_dir();
    test_malformed();
    test_none();
    test_node_canonical();

    if (mkdtemp(tmp_dir) == NULL) {
        ok(0, "mkdtemp");

    } else {
        test_lock_round_trip();
        (void) snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
        if (system(cmd) != 0) {
            printf("# cannot remove %s\n", tmp_dir);
        }
    }

    test_lock_load_errors();
    test_lock_not_regular();
    test_lock_error_cap();
    test_lock_lenient();

    return tap_done();
}


static void
test_pass(void)
{
    ai_release_set_t     *set;
    ai_release_bundle_t  *b;

    set = load(BUNDLE);
    b = find(set, "support-drafts@4");

    if (b == NULL) {
        ai_release_set_free(set);
        return;
    }

    ok(strcmp(b->digest_hex, DIGEST) == 0,
       "the fixture bundle has the digest its reports record (%s)",
       b->digest_hex);

    expect_gate(b, NULL, NOW, AI_RELEASE_GATE_PASS, NULL, NULL, 0,
                "a fresh report that passes every gate");

    ai_release_set_free(set);
}


/* the report finished at 09:00Z, an hour before NOW */

static void
test_future(void)
{
    char                  json[512];
    const char           *m[1];
    ai_release_set_t     *set;
    ai_release_gate_e     rc;
    ai_release_bundle_t  *b;
    ai_release_errors_t   errs;

    static const char  *day[] = {
        "report \"" REPORT "\" finished at 2026-11-20T09:00:00Z, 23 hours "
        "in the future (clock skew allowed: 5 minutes)"
    };

    static const char  *skew[] = {
        "report \"" REPORT "\" finished at 2026-11-20T09:00:00Z, 5 minutes "
        "1 second in the future (clock skew allowed: 5 minutes)"
    };

    set = load(BUNDLE);
    b = find(set, "support-drafts@4");

    if (b == NULL) {
        ai_release_set_free(set);
        return;
    }

    expect_gate(b, NULL, NOW - 3600 - AI_RELEASE_CLOCK_SKEW,
                AI_RELEASE_GATE_PASS, NULL, NULL, 0,
                "a report finished 5 minutes in the future: clock skew");

    expect_gate(b, NULL, NOW - 3600 - AI_RELEASE_CLOCK_SKEW - 1,
                AI_RELEASE_GATE_FAIL, FIX "evals/support-drafts-4.json",
                skew, 1, "a second more is a report from the future");

    expect_gate(b, NULL, NOW - DAY, AI_RELEASE_GATE_FAIL,
                FIX "evals/support-drafts-4.json", day, 1,
                "a report finished 23 hours in the future fails");

    /* the report: within max_age forever, were it not refused */

    (void) snprintf(json, sizeof(json),
                    "{\"bundle\":\"support-drafts@4\",\"digest\":\"%s\","
                    "\"eval_set\":\"support-drafts-golden-v7\","
                    "\"finished_at\":\"2099-01-01T00:00:00Z\","
                    "\"metrics\":{\"pass_rate\":1,\"regressions\":0,"
                    "\"refusal_rate\":0}}", b->digest_hex);

    ai_release_errors_init(&errs);

    rc = ai_release_gate_check_report(b, json, strlen(json), "r.json", NOW,
                                      &errs);

    m[0] = "report \"" REPORT "\" finished at 2099-01-01T00:00:00Z, 72 "
           "years in the future (clock skew allowed: 5 minutes)";

    if (!ok(rc == AI_RELEASE_GATE_FAIL && same_messages(&errs, m, 1),
            "finished_at 2099-01-01 with max_age 14d fails"))
    {
        dump_errors(&errs);
    }

    ai_release_errors_free(&errs);
    ai_release_set_free(set);
}


/* a digest that is not "sha256:" and 64 hex digits is shown whole */

static void
test_digest_message(void)
{
    char                  json[512], msg[512];
    const char           *m[1];
    ai_release_set_t     *set;
    ai_release_gate_e     rc;
    ai_release_bundle_t  *b;
    ai_release_errors_t   errs;

    set = load(BUNDLE);
    b = find(set, "support-drafts@4");

    if (b == NULL) {
        ai_release_set_free(set);
        return;
    }

    (void) snprintf(json, sizeof(json),
                    "{\"bundle\":\"support-drafts@4\","
                    "\"digest\":\"sha256: %s\","
                    "\"eval_set\":\"support-drafts-golden-v7\","
                    "\"finished_at\":\"2026-11-20T09:00:00Z\","
                    "\"metrics\":{\"pass_rate\":1,\"regressions\":0,"
                    "\"refusal_rate\":0}}", b->digest_hex + 7);

    (void) snprintf(msg, sizeof(msg),
                    "report \"" REPORT "\" tested digest \"sha256: %s\", "
                    "which is not \"sha256:\" and 64 hex digits, but the "
                    "bundle's digest is %s: the evals did not test what "
                    "ships", b->digest_hex + 7, b->digest_hex);
    m[0] = msg;

    ai_release_errors_init(&errs);

    rc = ai_release_gate_check_report(b, json, strlen(json), "r.json", NOW,
                                      &errs);

    if (!ok(rc == AI_RELEASE_GATE_FAIL && same_messages(&errs, m, 1),
            "a spaced digest is quoted whole, not cut at 19 characters"))
    {
        dump_errors(&errs);
    }

    ai_release_errors_free(&errs);
    ai_release_set_free(set);
}


static void
test_gates(void)
{
    ai_release_set_t     *set;
    ai_release_bundle_t  *b;

    static const char  *gates[] = {
        "pass_rate 0.91 < 0.95 (" REPORT ")",
        "regressions 2 != 0 (" REPORT ")",
        "refusal_rate 0.03 > 0.02 (" REPORT ")"
    };

    static const char  *metrics[] = {
        "pass_rate is missing from report \"" REPORT "\"",
        "regressions in report \"" REPORT "\" is not a number",
    };

    set = load(BUNDLE);
    b = find(set, "support-drafts@4");

    if (b != NULL) {
        expect_gate(b, FIX "reports/gates", NOW, AI_RELEASE_GATE_FAIL,
                    FIX "reports/gates/support-drafts-4.json", gates, 3,
                    "every failed gate, negated operator, bound as written");

        expect_gate(b, FIX "reports/metrics", NOW, AI_RELEASE_GATE_FAIL,
                    FIX "reports/metrics/support-drafts-4.json", metrics, 2,
                    "a missing metric and a metric that is not a number; "
                    "0.015 <= 0.02 holds");
    }

    ai_release_set_free(set);
}


static void
test_operators(void)
{
    ai_release_set_t     *set;
    ai_release_bundle_t  *b;

    static const char  *failures[] = {
        "a 0.5 < 1 (ops-1.json)",
        "b 1 <= 1 (ops-1.json)",
        "c 2 > 1 (ops-1.json)",
        "d 1 >= 1 (ops-1.json)",
        "e 0 != 1 (ops-1.json)",
        "f 1 == 1 (ops-1.json)",
        "g 0.9 < 0.950 (ops-1.json)",
        "h 0.015 >= 1.5e-2 (ops-1.json)",
        "i -3 <= -2 (ops-1.json)"
    };

    set = load(FIX "ops.yaml");
    b = find(set, "ops@1");

    if (b != NULL) {
        ok(strcmp(b->digest_hex, OPS_DIGEST) == 0,
           "ops@1 has the digest its report records");

        expect_gate(b, NULL, NOW, AI_RELEASE_GATE_FAIL, FIX "ops-1.json",
                    failures, 9,
                    "each operator fails with the relation that holds");
    }

    ai_release_set_free(set);
}


static void
test_report_ids(void)
{
    ai_release_set_t     *set;
    ai_release_bundle_t  *b;

    static const char  *ids[] = {
        "report \"" REPORT "\" is for bundle \"support-drafts@3\", not "
        "\"support-drafts@4\"",
        "report \"" REPORT "\" tested digest sha256:9f0c2a7be1d4, but the "
        "bundle's digest is sha256:4d1f36848359: the evals did not test "
        "what ships",
        "report \"" REPORT "\" is for eval set \"support-drafts-golden-v6\", "
        "not \"support-drafts-golden-v7\""
    };

    set = load(BUNDLE);
    b = find(set, "support-drafts@4");

    if (b != NULL) {
        expect_gate(b, FIX "reports/ids", NOW, AI_RELEASE_GATE_FAIL,
                    FIX "reports/ids/support-drafts-4.json", ids, 3,
                    "another bundle, digest and eval set: all reported");
    }

    ai_release_set_free(set);
}


static void
test_max_age(void)
{
    ai_release_set_t     *set;
    ai_release_bundle_t  *b;

    static const char  *old[] = {
        "report \"" REPORT "\" finished at 2026-11-01T10:00:00Z, more than "
        "max_age 14d ago"
    };

    static const char  *offset[] = {
        "report \"" REPORT "\" finished at 2026-11-06T12:00:00+02:00, more "
        "than max_age 14d ago"
    };

    static const char  *bad[] = {
        "report \"" REPORT "\" has an invalid finished_at \"20 Nov 2026\""
    };

    set = load(BUNDLE);
    b = find(set, "support-drafts@4");

    if (b != NULL) {
        expect_gate(b, FIX "reports/old", NOW, AI_RELEASE_GATE_FAIL,
                    FIX "reports/old/support-drafts-4.json", old, 1,
                    "a report 19 days old with max_age 14d");

        expect_gate(b, FIX "reports/old", NOW - 5 * DAY, AI_RELEASE_GATE_PASS,
                    NULL, NULL, 0, "the same report 14 days old passes");

        /* 12:00+02:00 is 10:00Z: exactly 14 days before NOW */

        expect_gate(b, FIX "reports/offset", NOW, AI_RELEASE_GATE_PASS,
                    NULL, NULL, 0,
                    "+02:00 offset: exactly max_age old still passes");

        expect_gate(b, FIX "reports/offset", NOW + 1, AI_RELEASE_GATE_FAIL,
                    FIX "reports/offset/support-drafts-4.json", offset, 1,
                    "+02:00 offset: one second more fails");

        expect_gate(b, FIX "reports/bad-time", NOW, AI_RELEASE_GATE_FAIL,
                    FIX "reports/bad-time/support-drafts-4.json", bad, 1,
                    "an unparseable finished_at");
    }

    ai_release_set_free(set);
}


static void
test_report_problems(void)
{
    char                  msg[1024];
    json_t               *j;
    const char           *m[1];
    json_error_t          jerr;
    ai_release_set_t     *set;
    ai_release_bundle_t  *b;

    static const char  *missing[] = {
        "report \"" REPORT "\" cannot be read: No such file or directory"
    };

    static const char  *not_object[] = {
        "report \"" REPORT "\" is not a JSON object"
    };

    static const char  *empty[] = {
        "report \"" REPORT "\" has no \"bundle\"",
        "report \"" REPORT "\" has no \"digest\"",
        "report \"" REPORT "\" has no \"eval_set\"",
        "report \"" REPORT "\" has no \"finished_at\"",
        "report \"" REPORT "\" has no \"metrics\""
    };

    static const char  *types[] = {
        "\"digest\" in report \"" REPORT "\" is not a string",
        "\"metrics\" in report \"" REPORT "\" is not a JSON object"
    };

    set = load(BUNDLE);
    b = find(set, "support-drafts@4");

    if (b == NULL) {
        ai_release_set_free(set);
        return;
    }

    expect_gate(b, FIX "reports/nowhere", NOW, AI_RELEASE_GATE_FAIL,
                FIX "reports/nowhere/support-drafts-4.json", missing, 1,
                "a missing report: the path as written in the manifest");

    /* jansson's own words, whatever its version */

    j = json_load_file(FIX "reports/not-json/support-drafts-4.json",
                       JSON_REJECT_DUPLICATES, &jerr);
    json_decref(j);

    (void) snprintf(msg, sizeof(msg), "report \"" REPORT "\" is not valid "
                    "JSON: %s at line %d, column %d", jerr.text, jerr.line,
                    jerr.column);
    m[0] = msg;

    ok(j == NULL && jerr.line == 3, "the broken report is broken on line 3");

    expect_gate(b, FIX "reports/not-json", NOW, AI_RELEASE_GATE_FAIL,
                FIX "reports/not-json/support-drafts-4.json", m, 1,
                "a report that is not JSON: one error, checks stop");

    expect_gate(b, FIX "reports/not-object", NOW, AI_RELEASE_GATE_FAIL,
                FIX "reports/not-object/support-drafts-4.json", not_object, 1,
                "a report that is not an object");

    expect_gate(b, FIX "reports/empty", NOW, AI_RELEASE_GATE_FAIL,
                FIX "reports/empty/support-drafts-4.json", empty, 5,
                "an empty object: every missing field");

    expect_gate(b, FIX "reports/types", NOW, AI_RELEASE_GATE_FAIL,
                FIX "reports/types/support-drafts-4.json", types, 2,
                "fields of the wrong type");

    ai_release_set_free(set);
}


static void
test_report_dir(void)
{
    ai_release_set_t     *set;
    ai_release_bundle_t  *b;

    static const char  *gates[] = {
        "pass_rate 0.91 < 0.95 (" REPORT ")",
        "regressions 2 != 0 (" REPORT ")",
        "refusal_rate 0.03 > 0.02 (" REPORT ")"
    };

    set = load(BUNDLE);
    b = find(set, "support-drafts@4");

    if (b != NULL) {
        expect_gate(b, FIX "reports/gates/", NOW, AI_RELEASE_GATE_FAIL,
                    FIX "reports/gates/support-drafts-4.json", gates, 3,
                    "report_dir with a trailing slash");

        expect_gate(b, FIX "evals", NOW, AI_RELEASE_GATE_PASS, NULL, NULL, 0,
                    "report_dir: the basename of the report in that dir");
    }

    ai_release_set_free(set);

    /* a manifest in the current directory: the report is relative to it */

    if (chdir(FIX) != 0) {
        ok(0, "chdir " FIX);
        return;
    }

    set = load("bundle.yaml");
    b = find(set, "support-drafts@4");

    if (b != NULL) {
        expect_gate(b, NULL, NOW, AI_RELEASE_GATE_PASS, NULL, NULL, 0,
                    "a manifest without a directory in its path");
    }

    ai_release_set_free(set);

    if (chdir("../..") != 0) {
        ok(0, "chdir back");
    }
}


static void
test_malformed(void)
{
    ai_release_set_t     *set;
    ai_release_gate_e     rc;
    ai_release_bundle_t  *b;
    ai_release_errors_t   errs;

    set = load(FIX "malformed.yaml");
    b = find(set, "bad@1");

    if (b != NULL) {
        ai_release_errors_init(&errs);

        rc = ai_release_gate_check(b, NULL, NOW, &errs);

        ok(rc == AI_RELEASE_GATE_ERROR, "a malformed eval section: ERROR");

        expect_eval_error(&errs, FIX "malformed.yaml", 6, 3,
                          "unknown key \"suite\" in \"eval\": allowed are "
                          "set, report, max_age and gates");
        expect_eval_error(&errs, FIX "malformed.yaml", 5, 1,
                          "missing required key \"set\" in \"eval\"");
        expect_eval_error(&errs, FIX "malformed.yaml", 7, 11,
                          "\"eval.report\" must be a non-empty string "
                          "(a file path)");
        expect_eval_error(&errs, FIX "malformed.yaml", 8, 12,
                          "invalid \"max_age\" \"14 days\": expected a "
                          "duration such as 30m, 12h, 14d or 2w");
        expect_eval_error(&errs, FIX "malformed.yaml", 10, 16,
                          "malformed gate expression \"0.95\" for metric "
                          "\"pass_rate\": expected e.g. \">= 0.95\"");
        expect_eval_error(&errs, FIX "malformed.yaml", 11, 18,
                          "malformed gate expression \"= 0\" for metric "
                          "\"regressions\": expected e.g. \">= 0.95\"");
        expect_eval_error(&errs, FIX "malformed.yaml", 12, 19,
                          "malformed gate expression \"<= 0.02 or so\" for "
                          "metric \"refusal_rate\": expected e.g. "
                          "\">= 0.95\"");
        expect_eval_error(&errs, FIX "malformed.yaml", 13, 14,
                          "malformed gate expression for metric "
                          "\"latency\": expected a string, e.g. "
                          "\">= 0.95\"");
        expect_eval_error(&errs, FIX "malformed.yaml", 14, 5,
                          "invalid metric name \"bad metric\": only "
                          "A-Z a-z 0-9 . _ - are allowed");
        expect_eval_error(&errs, FIX "malformed.yaml", 16, 10,
                          "malformed gate expression \"< 1e\" for metric "
                          "\"exp\": expected e.g. \">= 0.95\"");

        ok(errs.n == 10, "and nothing else (%u errors)", (unsigned) errs.n);

        ai_release_errors_free(&errs);

        rc = ai_release_gate_validate(b, &errs);
        ok(rc == AI_RELEASE_GATE_ERROR && errs.n == 10,
           "gate_validate finds the same 10 problems without any report");
        ai_release_errors_free(&errs);
    }

    ai_release_set_free(set);

    set = load(FIX "no-gates.yaml");

    b = find(set, "nogates@1");

    if (b != NULL) {
        ai_release_errors_init(&errs);
        rc = ai_release_gate_check(b, NULL, NOW, &errs);
        ok(rc == AI_RELEASE_GATE_ERROR, "an empty gates mapping: ERROR");
        expect_eval_error(&errs, FIX "no-gates.yaml", 8, 10,
                          "\"eval.gates\" must have at least one gate, e.g. "
                          "pass_rate: \">= 0.95\"");
        ai_release_errors_free(&errs);
    }

    ai_release_set_free(set);

    set = load(FIX "no-gates2.yaml");
    b = find(set, "nogates@2");

    if (b != NULL) {
        ai_release_errors_init(&errs);
        rc = ai_release_gate_check(b, NULL, NOW, &errs);
        ok(rc == AI_RELEASE_GATE_ERROR && errs.n == 1,
           "gates not a mapping: ERROR (and max_age 2w is fine)");
        expect_eval_error(&errs, FIX "no-gates2.yaml", 8, 10,
                          "\"eval.gates\" must be a mapping of metric to "
                          "gate expression, e.g. pass_rate: \">= 0.95\"");
        ai_release_errors_free(&errs);
    }

    ai_release_set_free(set);
}


static void
test_none(void)
{
    ai_release_set_t     *set;
    ai_release_bundle_t  *b;
    ai_release_errors_t   errs;

    set = load(FIX "no-eval.yaml");
    b = find(set, "support-drafts@safe-1");

    if (b != NULL) {
        expect_gate(b, NULL, NOW, AI_RELEASE_GATE_NONE, NULL, NULL, 0,
                    "a bundle without eval: NONE");

        ai_release_errors_init(&errs);
        ok(ai_release_gate_validate(b, &errs) == AI_RELEASE_GATE_NONE
           && errs.n == 0, "gate_validate: NONE");
        ai_release_errors_free(&errs);
    }

    ai_release_set_free(set);

    set = load(BUNDLE);
    b = find(set, "support-drafts@4");

    if (b != NULL) {
        ai_release_errors_init(&errs);
        ok(ai_release_gate_validate(b, &errs) == AI_RELEASE_GATE_PASS
           && errs.n == 0, "gate_validate of a good section: PASS");
        ai_release_errors_free(&errs);
    }

    ai_release_set_free(set);
}


static void
test_node_canonical(void)
{
    char                 *s;
    size_t                len;
    ai_release_set_t     *set;
    ai_release_bundle_t  *b;

    set = load(BUNDLE);
    b = find(set, "support-drafts@4");

    if (b != NULL) {
        s = ai_release_node_canonical(ai_release_node_get(b->root, "prompt"),
                                      &len);
        ok(s != NULL && strcmp(s, "{\"file\":\"prompts/draft.txt\"}") == 0
           && len == strlen(s), "node_canonical of a mapping: %s", s);
        free(s);

        s = ai_release_node_canonical(ai_release_node_get(b->root, "eval"),
                                      &len);
        ok(s != NULL && strncmp(s, "{\"gates\":{\"pass_rate\":\">= 0.95\","
                                   "\"refusal_rate\":", 44) == 0,
           "node_canonical sorts nested keys: %.60s...", s);
        free(s);
    }

    ai_release_set_free(set);
}


static void
test_lock_round_trip(void)
{
    char                  path[512], lock_path[512], prompt[512];
    char                  tools[512], other[512], tools2[512];
    char                  h[8][80], expected[4096], msg[2048], m[1024];
    int                   err;
    char                 *text;
    FILE                 *f;
    size_t                n, len;
    ai_release_set_t     *set;
    ai_release_lock_t    *lock;
    ai_release_part_t    *parts;
    ai_release_bundle_t  *b, *bundles[2];
    ai_release_errors_t   errs;

    static const char  *manifest =
        "name: sd\n"
        "version: \"4\"\n"
        "upstream: up\n"
        "model: %s\n"
        "prompt:\n"
        "  file: prompts/p.txt\n"
        "tool_schema: %s\n"
        "labels: {owner: team}\n"
        "%s";

    (void) snprintf(path, sizeof(path), "%s/m.yaml", tmp_dir);
    (void) snprintf(other, sizeof(other), "%s/a.yaml", tmp_dir);
    (void) snprintf(lock_path, sizeof(lock_path), "%s/bundles.lock",
                    tmp_dir);
    (void) snprintf(prompt, sizeof(prompt), "%s/prompts", tmp_dir);
    (void) mkdir(prompt, 0755);
    (void) snprintf(prompt, sizeof(prompt), "%s/prompts/p.txt", tmp_dir);
    (void) snprintf(tools, sizeof(tools), "%s/t.json", tmp_dir);
    (void) snprintf(tools2, sizeof(tools2), "%s/t2.json", tmp_dir);

#define MANIFEST(model, tool_schema, extra)                                  \
    do {                                                                     \
        (void) snprintf(m, sizeof(m), manifest, model, tool_schema, extra);  \
        (void) write_file(path, m);                                          \
    } while (0)

    MANIFEST("m-1", "t.json", "");
    (void) write_file(prompt, "Draft a reply.\n");
    (void) write_file(tools, "{\"tools\": []}\n");
    (void) write_file(tools2, "{\"tools\": []}\n");
    (void) write_file(other, "name: aa\nversion: \"1\"\nupstream: up\n"
                      "model: m\n");

    /* the lock, sorted by name@version, keys then files */

    set = ai_release_set_create();
    ai_release_errors_init(&errs);

    if (ai_release_set_load_file(set, path, &errs) != 0
        || ai_release_set_load_file(set, other, &errs) != 0)
    {
        dump_errors(&errs);
        ok(0, "load the lock test manifests");
        ai_release_errors_free(&errs);
        ai_release_set_free(set);
        return;
    }

    bundles[0] = ai_release_set_get(set, 0);
    bundles[1] = ai_release_set_get(set, 1);

    f = fopen(lock_path, "w");
    ok(f != NULL && ai_release_lock_write(f, bundles, 2) == 0,
       "lock_write");
    if (f) {
        fclose(f);
    }

    sha_hex("\"m\"", h[0]);
    sha_hex("\"aa\"", h[1]);
    sha_hex("\"up\"", h[2]);
    sha_hex("\"1\"", h[3]);

    n = (size_t) snprintf(expected, sizeof(expected),
        "# ai-release lock v1: name@version digest, then the hash of each "
        "part\n"
        "aa@1 %s\n"
        "  key model %s\n"
        "  key name %s\n"
        "  key upstream %s\n"
        "  key version %s\n",
        bundles[1]->digest_hex, h[0], h[1], h[2], h[3]);

    sha_hex("\"m-1\"", h[0]);
    sha_hex("\"sd\"", h[1]);
    sha_hex("{\"file\":\"prompts/p.txt\"}", h[2]);
    sha_hex("\"t.json\"", h[3]);
    sha_hex("\"up\"", h[4]);
    sha_hex("\"4\"", h[5]);
    sha_hex("Draft a reply.\n", h[6]);
    sha_hex("{\"tools\": []}\n", h[7]);

    (void) snprintf(expected + n, sizeof(expected) - n,
        "sd@4 %s\n"
        "  key model %s\n"
        "  key name %s\n"
        "  key prompt %s\n"
        "  key tool_schema %s\n"
        "  key upstream %s\n"
        "  key version %s\n"
        "  file prompt.file %s\n"
        "  file tool_schema %s\n",
        bundles[0]->digest_hex, h[0], h[1], h[2], h[3], h[4], h[5], h[6],
        h[7]);

    if (ai_release_read_file(lock_path, &text, &len, &err) != 0) {
        text = NULL;
    }

    ok(text != NULL && strcmp(text, expected) == 0,
       "the lock file is exactly the documented format");

    if (text != NULL && strcmp(text, expected) != 0) {
        printf("# got:\n%s# expected:\n%s", text, expected);
    }

    free(text);

    ok(ai_release_bundle_parts(bundles[0], &parts, &n) == 0 && n == 8
       && strcmp(parts[0].kind, "key") == 0
       && strcmp(parts[0].name, "model") == 0 && parts[0].path == NULL
       && strcmp(parts[7].kind, "file") == 0
       && strcmp(parts[7].name, "tool_schema") == 0
       && strcmp(parts[7].path, "t.json") == 0
       && strcmp(parts[6].sha256, h[6]) == 0,
       "bundle_parts: keys, then files with their paths");
    ai_release_parts_free(parts, n);

    ai_release_set_free(set);

    /* load it back: every bundle matches */

    lock = ai_release_lock_load(lock_path, &errs);
    ok(lock != NULL && errs.n == 0, "lock_load of a written lock");
    dump_errors(&errs);
    ai_release_errors_free(&errs);

    if (lock == NULL) {
        return;
    }

    check_lock(lock, path, AI_RELEASE_LOCK_OK, NULL,
               "an unchanged bundle matches the lock");

    (void) write_file(path, "version: \"4\"\nname: sd\nupstream: up\n"
                      "model: \"m-1\"\nprompt: {file: prompts/p.txt}\n"
                      "tool_schema: t.json\nlabels: {owner: other}\n"
                      "eval: {set: s, report: r.json, gates: {x: \">= 1\"}}"
                      "\n");
    check_lock(lock, path, AI_RELEASE_LOCK_OK, NULL,
               "reordered, requoted, other labels and eval: still matches");

    /* an edited prompt file and another model */

    MANIFEST("m-2", "t.json", "");
    (void) write_file(prompt, "Draft a long reply.\n");
    check_lock(lock, path, AI_RELEASE_LOCK_CHANGED,
               "bundle \"sd@4\" changed without a new version: prompt.file "
               "changed (prompts/p.txt), model changed" HINT,
               "an edited prompt file and another model: both named");

    (void) write_file(prompt, "Draft a reply.\n");

    /* the tool schema: its file and its key have the same name */

    MANIFEST("m-1", "t.json", "");
    (void) write_file(tools, "{\"tools\": [1]}\n");
    check_lock(lock, path, AI_RELEASE_LOCK_CHANGED,
               "bundle \"sd@4\" changed without a new version: tool_schema "
               "changed (t.json)" HINT,
               "an edited tool schema is named once, with its path");
    (void) write_file(tools, "{\"tools\": []}\n");

    MANIFEST("m-1", "t2.json", "");
    check_lock(lock, path, AI_RELEASE_LOCK_CHANGED,
               "bundle \"sd@4\" changed without a new version: tool_schema "
               "changed" HINT,
               "another tool schema path, same bytes: the key changed");

    MANIFEST("m-1", "t.json", "output_contract: {json: true}\n");
    check_lock(lock, path, AI_RELEASE_LOCK_CHANGED,
               "bundle \"sd@4\" changed without a new version: "
               "output_contract changed" HINT,
               "a key only in the bundle counts as changed");

    (void) write_file(path, "name: sd\nversion: \"4\"\nupstream: up\n"
                      "model: m-1\nprompt:\n  file: prompts/p.txt\n");
    check_lock(lock, path, AI_RELEASE_LOCK_CHANGED,
               "bundle \"sd@4\" changed without a new version: tool_schema "
               "changed (removed)" HINT,
               "a file and key only in the lock count as changed, once");

#undef MANIFEST

    /* a name@version that is not in the lock */

    (void) write_file(path, "name: sd\nversion: \"5\"\nupstream: up\n"
                      "model: m-1\n");
    (void) snprintf(msg, sizeof(msg), "bundle \"sd@5\" is not in the lock "
                    "file \"%s\": add it with \"ai-release lock "
                    "MANIFEST... > %s\"", lock_path, lock_path);
    check_lock(lock, path, AI_RELEASE_LOCK_MISSING, msg,
               "a new version is MISSING");

    ai_release_lock_free(lock);

    /* a lock with the digest only */

    (void) write_file(lock_path, "sd@5 " FIX_HASH "\n");

    lock = ai_release_lock_load(lock_path, &errs);
    ok(lock != NULL, "a lock without parts loads");
    ai_release_errors_free(&errs);

    if (lock == NULL) {
        return;
    }

    set = ai_release_set_create();
    (void) ai_release_set_load_file(set, path, &errs);
    ai_release_errors_free(&errs);

    b = ai_release_set_get(set, 0);

    if (b != NULL) {
        (void) snprintf(msg, sizeof(msg), "bundle \"sd@5\" changed without "
                        "a new version: its digest is %s, the lock has "
                        "sha256:2d711642b726" HINT, b->digest_short);

        check_lock(lock, path, AI_RELEASE_LOCK_CHANGED, msg,
                   "without parts, the message gives both digests");
    }

    ai_release_set_free(set);
    ai_release_lock_free(lock);
}


static void
test_lock_load_errors(void)
{
    size_t                i;
    ai_release_lock_t    *lock;
    ai_release_errors_t   errs;

    static const struct {
        unsigned     line;
        const char  *message;
    } want[] = {
        { 2, "a part line before any bundle line" },
        { 4, "malformed part line: expected \"key NAME sha256:<64 hex "
             "digits>\" or \"file NAME sha256:<64 hex digits>\"" },
        { 5, "malformed part line: expected \"key NAME sha256:<64 hex "
             "digits>\" or \"file NAME sha256:<64 hex digits>\"" },
        { 6, "malformed line: expected \"NAME@VERSION sha256:<64 hex "
             "digits>\", or an indented part line" },
        { 10, "duplicate part \"key model\" of \"support-drafts@4\"" },
        { 8, "duplicate bundle \"support-drafts@4\" (first at line 3)" }
    };

    ai_release_errors_init(&errs);

    lock = ai_release_lock_load(FIX "locks/bad.lock", &errs);

    ok(lock == NULL, "a malformed lock does not load");
    ok(errs.n == sizeof(want) / sizeof(want[0]), "%u errors",
       (unsigned) errs.n);

    for (i = 0; i < errs.n && i < sizeof(want) / sizeof(want[0]); i++) {
        ok(errs.items[i].line == want[i].line
           && errs.items[i].column == 0
           && strcmp(errs.items[i].file, FIX "locks/bad.lock") == 0
           && strcmp(errs.items[i].message, want[i].message) == 0,
           "bad.lock:%u: %s", want[i].line, want[i].message);
    }

    if (errs.n != sizeof(want) / sizeof(want[0])) {
        dump_errors(&errs);
    }

    ai_release_errors_free(&errs);

    lock = ai_release_lock_load(FIX "locks/nowhere.lock", &errs);
    ok(lock == NULL && errs.n == 1 && errs.items[0].line == 0
       && strcmp(errs.items[0].message,
                 "cannot read lock file: No such file or directory") == 0,
       "a missing lock file");
    ai_release_errors_free(&errs);
}


/* a FIFO (no writer: an open without O_NONBLOCK would wait forever) */

static void
test_lock_not_regular(void)
{
    char                  fifo[] = "/tmp/air-unit-fifo-XXXXXX";
    char                  path[64];
    size_t                i;
    ai_release_lock_t    *lock;
    ai_release_errors_t   errs;

    if (mkdtemp(fifo) == NULL) {
        ok(0, "mkdtemp");
        return;
    }

    (void) snprintf(path, sizeof(path), "%s/bundles.lock", fifo);

    if (mkfifo(path, 0600) != 0) {
        ok(0, "mkfifo %s", path);
        (void) rmdir(fifo);
        return;
    }

    /* a regression would hang: SIGALRM ends the test instead */
    (void) alarm(10);

    for (i = 0; i < 2; i++) {
        ai_release_errors_init(&errs);

        lock = ai_release_lock_load(i == 0 ? path : "/dev/zero", &errs);

        if (!ok(lock == NULL && errs.n == 1
                && strcmp(errs.items[0].message,
                          "cannot read lock file: not a regular file") == 0,
                "a lock file that is %s: refused at once",
                i == 0 ? "a FIFO" : "/dev/zero"))
        {
            dump_errors(&errs);
        }

        ai_release_lock_free(lock);
        ai_release_errors_free(&errs);
    }

    (void) alarm(0);
    (void) unlink(path);
    (void) rmdir(fifo);
}


static void
test_lock_error_cap(void)
{
    char                 *data, msg[64];
    size_t                i, n;
    ai_release_lock_t    *lock;
    ai_release_errors_t   errs;

    n = 1000;

    data = malloc(n * 8 + 1);
    if (data == NULL) {
        ok(0, "malloc");
        return;
    }

    for (i = 0; i < n; i++) {
        memcpy(data + i * 8, "garbage\n", 8);
    }

    ai_release_errors_init(&errs);

    lock = ai_release_lock_load_buffer("big.lock", data, n * 8, &errs);

    (void) snprintf(msg, sizeof(msg), "... and %u more errors",
                    (unsigned) (n - AI_RELEASE_ERRORS_MAX));

    ok(lock == NULL && errs.n == AI_RELEASE_ERRORS_MAX + 1
       && errs.items[AI_RELEASE_ERRORS_MAX - 1].line == AI_RELEASE_ERRORS_MAX
       && errs.items[AI_RELEASE_ERRORS_MAX].line == 0
       && strcmp(errs.items[AI_RELEASE_ERRORS_MAX].file, "big.lock") == 0
       && strcmp(errs.items[AI_RELEASE_ERRORS_MAX].message, msg) == 0,
       "1000 malformed lines: the first %d errors, then \"%s\"",
       AI_RELEASE_ERRORS_MAX, msg);

    ai_release_errors_free(&errs);
    free(data);
}


static void
test_lock_lenient(void)
{
    char                  msg[1024];
    ai_release_set_t     *set;
    ai_release_lock_t    *lock;
    ai_release_bundle_t  *b;
    ai_release_errors_t   errs;

    ai_release_errors_init(&errs);

    lock = ai_release_lock_load(FIX "locks/good.lock", &errs);

    ok(lock != NULL && errs.n == 0,
       "tabs, trailing blanks, blank lines and CRLF are accepted");
    dump_errors(&errs);

    if (lock == NULL) {
        ai_release_errors_free(&errs);
        return;
    }

    set = load(BUNDLE);
    b = find(set, "support-drafts@4");

    if (b != NULL) {
        ok(ai_release_lock_check(lock, b, &errs) == AI_RELEASE_LOCK_CHANGED
           && errs.n == 1, "a lock with a stale digest: CHANGED");

        (void) snprintf(msg, sizeof(msg), "bundle \"support-drafts@4\" "
                        "changed without a new version: prompt.file changed "
                        "(prompts/draft.txt), model changed, name changed, "
                        "prompt changed, upstream changed, version changed"
                        HINT);

        ok(errs.n == 1 && strcmp(errs.items[0].message, msg) == 0
           && strcmp(errs.items[0].file, BUNDLE) == 0
           && errs.items[0].line == 2,
           "files first, then keys; keys only on one side count");

        if (errs.n == 1 && strcmp(errs.items[0].message, msg) != 0) {
            printf("# got:      %s\n# expected: %s\n",
                   errs.items[0].message, msg);
        }
    }

    ai_release_errors_free(&errs);
    ai_release_set_free(set);
    ai_release_lock_free(lock);
}


static ai_release_set_t *
load(const char *path)
{
    ai_release_set_t     *set;
    ai_release_errors_t   errs;

    set = ai_release_set_create();
    ai_release_errors_init(&errs);

    if (!ok(ai_release_set_load_file(set, path, &errs) == 0,
            "load %s", path))
    {
        dump_errors(&errs);
    }

    ai_release_errors_free(&errs);

    return set;
}


static ai_release_bundle_t *
find(ai_release_set_t *set, const char *id)
{
    ai_release_bundle_t  *b;

    b = ai_release_set_find(set, id, strlen(id));

    if (b == NULL) {
        ok(0, "bundle %s is loaded", id);
    }

    return b;
}


static void
dump_errors(const ai_release_errors_t *errs)
{
    char    buf[2048];
    size_t  i;

    for (i = 0; i < errs->n; i++) {
        ai_release_error_format(&errs->items[i], buf, sizeof(buf));
        printf("#   %s\n", buf);
    }
}


static int
same_messages(const ai_release_errors_t *errs, const char **messages,
    size_t n)
{
    size_t  i;

    if (errs->n != n) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (errs->items[i].message == NULL
            || strcmp(errs->items[i].message, messages[i]) != 0)
        {
            return 0;
        }
    }

    return 1;
}


static ai_release_gate_e
gate(ai_release_bundle_t *b, const char *dir, long long now,
    ai_release_errors_t *errs)
{
    return ai_release_gate_check(b, dir, now, errs);
}


static void
expect_gate(ai_release_bundle_t *b, const char *dir, long long now,
    ai_release_gate_e want, const char *file, const char **messages,
    size_t n, const char *what)
{
    int                  pass;
    size_t               i;
    ai_release_gate_e    rc;
    ai_release_errors_t  errs;

    ai_release_errors_init(&errs);

    rc = gate(b, dir, now, &errs);

    pass = (rc == want) && same_messages(&errs, messages, n);

    for (i = 0; pass && i < errs.n; i++) {
        pass = errs.items[i].line == 0 && errs.items[i].column == 0
               && file != NULL && errs.items[i].file != NULL
               && strcmp(errs.items[i].file, file) == 0;
    }

    if (!ok(pass, "%s", what)) {
        printf("#   status %d, want %d; errors:\n", (int) rc, (int) want);
        dump_errors(&errs);
    }

    ai_release_errors_free(&errs);
}


static void
expect_eval_error(ai_release_errors_t *errs, const char *file,
    unsigned line, unsigned column, const char *message)
{
    size_t  i;

    for (i = 0; i < errs->n; i++) {
        if (errs->items[i].line == line
            && errs->items[i].column == column
            && errs->items[i].file != NULL
            && strcmp(errs->items[i].file, file) == 0
            && errs->items[i].message != NULL
            && strcmp(errs->items[i].message, message) == 0)
        {
            break;
        }
    }

    if (!ok(i < errs->n, "%s:%u:%u: %s", file, line, column, message)) {
        dump_errors(errs);
    }
}


/* loads the manifest at path and checks its bundle against the lock */

static void
check_lock(ai_release_lock_t *lock, const char *path, ai_release_lock_e want,
    const char *message, const char *what)
{
    int                   pass;
    ai_release_set_t     *set;
    ai_release_lock_e     rc;
    ai_release_bundle_t  *b;
    ai_release_errors_t   errs;

    set = ai_release_set_create();
    ai_release_errors_init(&errs);

    if (ai_release_set_load_file(set, path, &errs) != 0) {
        dump_errors(&errs);
    }

    ai_release_errors_free(&errs);

    b = ai_release_set_get(set, 0);

    if (b == NULL) {
        ok(0, "%s: the bundle loads", what);
        ai_release_set_free(set);
        return;
    }

    rc = ai_release_lock_check(lock, b, &errs);

    if (message == NULL) {
        pass = (rc == want && errs.n == 0);

    } else {
        pass = (rc == want && errs.n == 1
                && strcmp(errs.items[0].message, message) == 0
                && strcmp(errs.items[0].file, path) == 0);
    }

    if (!ok(pass, "%s", what)) {
        printf("#   status %d, want %d\n", (int) rc, (int) want);

        if (message != NULL) {
            printf("#   expected: %s\n", message);
        }

        dump_errors(&errs);
    }

    ai_release_errors_free(&errs);
    ai_release_set_free(set);
}


static void
sha_hex(const char *data, char *out)
{
    size_t         i;
    unsigned char  d[AI_RELEASE_SHA256_LEN];

    ai_release_sha256(data, strlen(data), d);

    memcpy(out, "sha256:", 7);

    for (i = 0; i < AI_RELEASE_SHA256_LEN; i++) {
        sprintf(out + 7 + 2 * i, "%02x", d[i]);
    }
}
