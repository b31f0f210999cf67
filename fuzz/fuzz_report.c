
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Fuzz target: eval reports (JSON), through ai_release_gate_check_report(),
 * the very code the file-based ai_release_gate_check() runs once it has
 * read the report.  The bundle is fixed (loaded once from the manifest
 * below): fz@1, digest FUZZ_REPORT_DIGEST, eval set fz-set, max_age 14d,
 * a gate of every operator; the seeds in fuzz/corpus/report are reports
 * for it, so that the fuzzer starts past the identity checks.
 */


#include "fuzz.h"


static void fuzz_report_init(void);


static ai_release_set_t     *fuzz_set;
static ai_release_bundle_t  *fuzz_bundle;


static const char  fuzz_report_manifest[] =
    "name: fz\n"
    "version: \"1\"\n"
    "upstream: up\n"
    "model: m\n"
    "eval:\n"
    "  set: fz-set\n"
    "  report: evals/fz-1.json\n"
    "  max_age: 14d\n"
    "  gates:\n"
    "    pass_rate: \">= 0.95\"\n"
    "    regressions: \"== 0\"\n"
    "    refusal_rate: \"<= 0.02\"\n"
    "    latency_p95_ms: \"< 1500\"\n"
    "    score: \"> -1.5e-2\"\n"
    "    flaky: \"!= 1\"\n";


int
fuzz_one_report(const uint8_t *data, size_t size)
{
    ai_release_gate_e    rc;
    ai_release_errors_t  errs;

    if (fuzz_bundle == NULL) {
        fuzz_report_init();
    }

    ai_release_errors_init(&errs);

    rc = ai_release_gate_check_report(fuzz_bundle, (const char *) data, size,
                                      "fuzz/evals/fz-1.json", FUZZ_NOW,
                                      &errs);

    /* a pass says nothing, a failure says why */
    FUZZ_CHECK(rc == AI_RELEASE_GATE_PASS || rc == AI_RELEASE_GATE_FAIL);
    FUZZ_CHECK((rc == AI_RELEASE_GATE_PASS) == (errs.n == 0));

    fuzz_errors_done(&errs);

    return 0;
}


static void
fuzz_report_init(void)
{
    ai_release_errors_t  errs;

    fuzz_set = ai_release_set_create();
    FUZZ_CHECK(fuzz_set != NULL);

    ai_release_errors_init(&errs);

    FUZZ_CHECK(ai_release_set_load_buffer(fuzz_set, "fuzz/fz.yaml",
                                          fuzz_report_manifest,
                                          sizeof(fuzz_report_manifest) - 1,
                                          &errs)
               == 0);

    ai_release_errors_free(&errs);

    fuzz_bundle = ai_release_set_find(fuzz_set, "fz@1", 4);
    FUZZ_CHECK(fuzz_bundle != NULL);

    if (getenv("AI_RELEASE_FUZZ_PRINT_DIGEST")) {
        printf("%s %s\n", fuzz_bundle->id, fuzz_bundle->digest_hex);
    }
}


#ifndef AI_RELEASE_NO_LIBFUZZER_MAIN

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_one_report(data, size);
}

#endif
