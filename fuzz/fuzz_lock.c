
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Fuzz target: lock files, through ai_release_lock_load_buffer() (the
 * very reader ai_release_lock_load() runs on the opened file), then every
 * fixed bundle is checked against the loaded lock.  The bundles are
 * loaded once from the manifest below, with their referenced files in a
 * temporary directory; fuzz/corpus/lock has their lock, so the fuzzer
 * starts with matching ids and parts.
 */


#include "fuzz.h"


static void fuzz_lock_init(void);
static void fuzz_lock_print(void);
static void fuzz_lock_cleanup(void);


static char              *fuzz_dir;
static ai_release_set_t  *fuzz_set;


static const char  fuzz_lock_manifest[] =
    "name: fz\n"
    "version: \"1\"\n"
    "upstream: up\n"
    "model: m-1\n"
    "prompt:\n"
    "  id: fz\n"
    "  file: prompts/p.txt\n"
    "system_instructions:\n"
    "  file: prompts/s.txt\n"
    "tool_schema: tools/t.json\n"
    "headers:\n"
    "  X-Route: fz-1\n"
    "labels:\n"
    "  owner: fuzz\n"
    "---\n"
    "name: fz\n"
    "version: \"2\"\n"
    "upstream: 127.0.0.1:8080\n"
    "model: m-2\n"
    "system_instructions: inline text\n"
    "retrieval:\n"
    "  index: kb\n"
    "output_contract:\n"
    "  json: true\n"
    "---\n"
    "name: other\n"
    "version: \"1\"\n"
    "upstream: up\n"
    "model: m\n";


int
fuzz_one_lock(const uint8_t *data, size_t size)
{
    size_t                i;
    ai_release_lock_e     rc;
    ai_release_lock_t    *lock;
    ai_release_errors_t   errs;
    ai_release_bundle_t  *b;

    if (fuzz_set == NULL) {
        fuzz_lock_init();
    }

    ai_release_errors_init(&errs);

    lock = ai_release_lock_load_buffer("fuzz/bundles.lock",
                                       (const char *) data, size, &errs);

    FUZZ_CHECK((lock == NULL) == (errs.n > 0));

    fuzz_errors_done(&errs);

    if (lock == NULL) {
        return 0;
    }

    for (i = 0; i < ai_release_set_count(fuzz_set); i++) {
        b = ai_release_set_get(fuzz_set, i);

        rc = ai_release_lock_check(lock, b, &errs);

        FUZZ_CHECK((rc == AI_RELEASE_LOCK_OK) == (errs.n == 0));

        fuzz_errors_done(&errs);
    }

    ai_release_lock_free(lock);

    return 0;
}


static void
fuzz_lock_init(void)
{
    char                 *path;
    ai_release_errors_t   errs;

    fuzz_dir = fuzz_tmpdir("lock");

    fuzz_write(fuzz_dir, "prompts/p.txt", "Prompt.\n", 8);
    fuzz_write(fuzz_dir, "prompts/s.txt", "System.\n", 8);
    fuzz_write(fuzz_dir, "tools/t.json", "{\"tools\":[]}", 12);

    (void) atexit(fuzz_lock_cleanup);

    path = fuzz_path(fuzz_dir, "lock.yaml");

    fuzz_set = ai_release_set_create();
    FUZZ_CHECK(fuzz_set != NULL);

    ai_release_errors_init(&errs);

    FUZZ_CHECK(ai_release_set_load_buffer(fuzz_set, path, fuzz_lock_manifest,
                                          sizeof(fuzz_lock_manifest) - 1,
                                          &errs)
               == 0);

    ai_release_errors_free(&errs);
    free(path);

    if (getenv("AI_RELEASE_FUZZ_PRINT_LOCK")) {
        fuzz_lock_print();
    }
}


/* the seed: the lock of the fixed bundles */

static void
fuzz_lock_print(void)
{
    size_t                 i, n;
    ai_release_bundle_t  **bundles;

    n = ai_release_set_count(fuzz_set);

    bundles = malloc(n * sizeof(ai_release_bundle_t *));
    FUZZ_CHECK(bundles != NULL);

    for (i = 0; i < n; i++) {
        bundles[i] = ai_release_set_get(fuzz_set, i);
    }

    (void) ai_release_lock_write(stdout, bundles, n);

    free(bundles);
}


static void
fuzz_lock_cleanup(void)
{
    fuzz_rmtree(fuzz_dir);
}


#ifndef AI_RELEASE_NO_LIBFUZZER_MAIN

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_one_lock(data, size);
}

#endif
