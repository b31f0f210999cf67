
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Fuzz target: behaviour bundle manifests (YAML).  The input is loaded as
 * DIR/manifest.yaml, DIR a temporary directory made once with the files
 * the seed manifests name (prompts/..., tools/..., evals/...), so that
 * relative references resolve there.  A manifest may name any absolute
 * path: it is only ever opened for reading (regular files only, at most
 * 16 MiB), nothing here writes but the lock, to /dev/null.
 *
 * Then, per loaded bundle: the set's lookup, its pricing (in range, and
 * in the canonical form as JSON numbers), the eval section's validation,
 * the gate check against whatever report it names, the lock parts and the
 * canonical form; the lock of all bundles is written to
 * /dev/null, and loading the same input again must fail on the duplicates
 * and leave the set as it was.
 */


#include "fuzz.h"


static void fuzz_manifest_init(void);
static void fuzz_manifest_cleanup(void);


static char  *fuzz_dir;
static char  *fuzz_manifest;
static FILE  *fuzz_null;


/* the files the seeds and the dictionary name */

static const struct {
    const char  *name;
    const char  *data;
} fuzz_files[] = {
    { "prompts/support-draft-v12.txt", "Draft a reply.\n" },
    { "prompts/support-draft-v13.txt", "Draft a short reply.\n" },
    { "prompts/support-system-v5.txt", "You are a support agent.\n" },
    { "prompts/code-review-v21.txt", "Review this diff.\n" },
    { "prompts/code-review-v22.txt", "Review this diff, briefly.\n" },
    { "prompts/code-review-system-v3.txt", "You review code.\n" },
    { "prompts/ticket-summary-v4.txt", "Summarise.\n" },
    { "prompts/ticket-summary-v5.txt", "Summarise briefly.\n" },
    { "prompts/support.txt", "support\n" },
    { "prompts/system.txt", "system\n" },
    { "prompts/draft.txt", "draft\n" },
    { "prompts/empty.txt", "" },
    { "p.txt", "p\n" },
    { "tools/support-tools-v2.json", "{\"tools\":[{\"name\":\"lookup\"}]}" },
    { "tools/code-review-tools-v1.json", "[{\"name\":\"diff\"}]" },
    { "tools/support.json", "{\"tools\":[]}" },
    { "tools/scalar.json", "42" },
    { "tools/bad.json", "{\"tools\":" },
    { "t.json", "{}" },
    { "evals/support-drafts-4.json",
      "{\"bundle\":\"support-drafts@4\",\"digest\":\"sha256:0\","
      "\"eval_set\":\"support-drafts-golden-v7\","
      "\"finished_at\":\"2026-11-20T10:00:00Z\","
      "\"metrics\":{\"pass_rate\":0.97,\"regressions\":0,"
      "\"refusal_rate\":0.01}}" },
    { "evals/r.json", "{\"metrics\":{}}" },
    { "r.json", "[]" },
    { NULL, NULL }
};


int
fuzz_one_manifest(const uint8_t *data, size_t size)
{
    int                    rc;
    size_t                 i, n, nparts, len;
    char                  *canonical;
    char                   in[AI_RELEASE_PRICE_TEXT_SIZE];
    char                   out[AI_RELEASE_PRICE_TEXT_SIZE];
    char                   want[96];
    ai_release_set_t      *set;
    ai_release_part_t     *parts;
    ai_release_bundle_t   *b, **bundles;
    ai_release_errors_t    errs;

    if (fuzz_dir == NULL) {
        fuzz_manifest_init();
    }

    set = ai_release_set_create();
    FUZZ_CHECK(set != NULL);

    ai_release_errors_init(&errs);

    rc = ai_release_set_load_buffer(set, fuzz_manifest, (const char *) data,
                                    size, &errs);

    n = ai_release_set_count(set);

    /* a manifest loads whole or not at all, and says why not */
    FUZZ_CHECK(rc == 0 || n == 0);
    FUZZ_CHECK(rc == 0 || errs.n > 0);
    FUZZ_CHECK(rc != 0 || errs.n == 0);

    fuzz_errors_done(&errs);

    bundles = NULL;

    if (n > 0) {
        bundles = malloc(n * sizeof(ai_release_bundle_t *));
        FUZZ_CHECK(bundles != NULL);
    }

    for (i = 0; i < n; i++) {
        b = ai_release_set_get(set, i);
        bundles[i] = b;

        FUZZ_CHECK(b != NULL && b->id != NULL);
        FUZZ_CHECK(ai_release_set_find(set, b->id, strlen(b->id)) == b);
        FUZZ_CHECK(strlen(b->digest_hex) == AI_RELEASE_DIGEST_HEX_LEN);
        FUZZ_CHECK(ai_release_valid_name(b->name, strlen(b->name)));
        FUZZ_CHECK(ai_release_valid_name(b->version, strlen(b->version)));

        /* pricing: in range, and in the canonical form as a number */

        if (b->pricing.set) {
            FUZZ_CHECK(b->pricing.input_per_mtok <= AI_RELEASE_PRICE_MAX
                       && b->pricing.output_per_mtok <= AI_RELEASE_PRICE_MAX);
            ai_release_price_format(b->pricing.input_per_mtok, in);
            ai_release_price_format(b->pricing.output_per_mtok, out);
            (void) snprintf(want, sizeof(want), "\"pricing\":{\"input_per_"
                            "mtok\":%s,\"output_per_mtok\":%s}", in, out);
            FUZZ_CHECK(strstr(b->canonical, want) != NULL);
            (void) ai_release_cost_microunits(&b->pricing, UINT64_MAX,
                                              UINT64_MAX);

        } else {
            FUZZ_CHECK(b->pricing.input_per_mtok == 0
                       && b->pricing.output_per_mtok == 0);
        }

        (void) ai_release_gate_validate(b, &errs);
        fuzz_errors_done(&errs);

        (void) ai_release_gate_check(b, NULL, FUZZ_NOW, &errs);
        fuzz_errors_done(&errs);

        FUZZ_CHECK(ai_release_bundle_parts(b, &parts, &nparts) == 0);
        ai_release_parts_free(parts, nparts);

        canonical = ai_release_node_canonical(b->root, &len);
        FUZZ_CHECK(canonical != NULL && strlen(canonical) <= len);
        free(canonical);
    }

    FUZZ_CHECK(ai_release_lock_write(fuzz_null, bundles, n) == 0);

    free(bundles);

    if (n > 0) {
        /* the same bundles again: duplicates, and the set is untouched */

        rc = ai_release_set_load_buffer(set, fuzz_manifest,
                                        (const char *) data, size, &errs);

        FUZZ_CHECK(rc != 0 && ai_release_set_count(set) == n);

        fuzz_errors_done(&errs);
    }

    ai_release_set_free(set);

    return 0;
}


static void
fuzz_manifest_init(void)
{
    size_t  i;

    fuzz_dir = fuzz_tmpdir("manifest");

    for (i = 0; fuzz_files[i].name; i++) {
        fuzz_write(fuzz_dir, fuzz_files[i].name, fuzz_files[i].data,
                   strlen(fuzz_files[i].data));
    }

    fuzz_manifest = fuzz_path(fuzz_dir, "manifest.yaml");

    fuzz_null = fopen("/dev/null", "w");
    FUZZ_CHECK(fuzz_null != NULL);

    (void) atexit(fuzz_manifest_cleanup);
}


static void
fuzz_manifest_cleanup(void)
{
    fuzz_rmtree(fuzz_dir);
}


#ifndef AI_RELEASE_NO_LIBFUZZER_MAIN

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_one_manifest(data, size);
}

#endif
