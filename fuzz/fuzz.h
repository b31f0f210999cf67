
/*
 * Copyright (C) ngx_ai_release authors
 *
 * What the fuzz targets share.  Each fuzz/fuzz_<target>.c has its body in
 * fuzz_one_<target>(); LLVMFuzzerTestOneInput() calls it unless built with
 * -DAI_RELEASE_NO_LIBFUZZER_MAIN, as the regression replayer
 * (t/unit/test_fuzz_regress.c) is.
 */

#ifndef _AI_RELEASE_FUZZ_H_INCLUDED_
#define _AI_RELEASE_FUZZ_H_INCLUDED_


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "ai_release_core.h"


/* the time the reports' age is measured from: 2026-11-25T00:00:00Z */
#define FUZZ_NOW  1795564800LL


int fuzz_one_manifest(const uint8_t *data, size_t size);
int fuzz_one_report(const uint8_t *data, size_t size);
int fuzz_one_lock(const uint8_t *data, size_t size);
int fuzz_one_params(const uint8_t *data, size_t size);
int fuzz_one_api_body(const uint8_t *data, size_t size);
int fuzz_one_state(const uint8_t *data, size_t size);
int fuzz_one_json(const uint8_t *data, size_t size);
int fuzz_one_apply(const uint8_t *data, size_t size);
int fuzz_one_contract(const uint8_t *data, size_t size);
int fuzz_one_signals(const uint8_t *data, size_t size);
int fuzz_one_feedback(const uint8_t *data, size_t size);


/* an invariant of the code under test: a crash for the fuzzer */

#define FUZZ_CHECK(cond)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__,      \
                    __LINE__, #cond);                                        \
            abort();                                                         \
        }                                                                    \
    } while (0)


#if defined(__GNUC__)
#define FUZZ_UNUSED  __attribute__((unused))
#else
#define FUZZ_UNUSED
#endif


static FUZZ_UNUSED int
fuzz_rm_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;

    (void) remove(path);

    return 0;
}


static FUZZ_UNUSED void
fuzz_rmtree(const char *dir)
{
    (void) nftw(dir, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}


/* a fresh directory $TMPDIR/ai-release-fuzz-TAG-XXXXXX; exits on failure */

static FUZZ_UNUSED char *
fuzz_tmpdir(const char *tag)
{
    char        *dir;
    size_t       len;
    const char  *tmp;

    tmp = getenv("TMPDIR");

    if (tmp == NULL || tmp[0] == '\0') {
        tmp = "/tmp";
    }

    len = strlen(tmp) + strlen(tag) + sizeof("/ai-release-fuzz--XXXXXX");

    dir = malloc(len);
    if (dir == NULL) {
        abort();
    }

    (void) snprintf(dir, len, "%s/ai-release-fuzz-%s-XXXXXX", tmp, tag);

    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "mkdtemp(%s): %s\n", dir, strerror(errno));
        exit(2);
    }

    return dir;
}


/* dir/name (its parent directories made), malloc()ed */

static FUZZ_UNUSED char *
fuzz_path(const char *dir, const char *name)
{
    char    *path;
    size_t   len;

    len = strlen(dir) + 1 + strlen(name) + 1;

    path = malloc(len);
    if (path == NULL) {
        abort();
    }

    (void) snprintf(path, len, "%s/%s", dir, name);

    return path;
}


/* writes dir/name, making its parent directories; exits on failure */

static FUZZ_UNUSED void
fuzz_write(const char *dir, const char *name, const char *data, size_t len)
{
    char  *path, *p;
    FILE  *f;

    path = fuzz_path(dir, name);

    for (p = path + strlen(dir) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            (void) mkdir(path, 0700);
            *p = '/';
        }
    }

    f = fopen(path, "w");

    if (f == NULL
        || fwrite(data, 1, len, f) != len
        || fclose(f) != 0)
    {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }

    free(path);
}


/* formats every error (as the module and the tool do) and frees them */

/* with AI_RELEASE_FUZZ_VERBOSE set in the environment, prints them */

static FUZZ_UNUSED void
fuzz_errors_done(ai_release_errors_t *errs)
{
    char    buf[512], small[16];
    size_t  i, n;

    static int  verbose = -1;

    if (verbose == -1) {
        verbose = (getenv("AI_RELEASE_FUZZ_VERBOSE") != NULL);
    }

    for (i = 0; i < errs->n; i++) {
        n = ai_release_error_format(&errs->items[i], buf, sizeof(buf));
        FUZZ_CHECK(n < sizeof(buf) && strlen(buf) == n);

        if (verbose) {
            fprintf(stderr, "  %s\n", buf);
        }

        n = ai_release_error_format(&errs->items[i], small, sizeof(small));
        FUZZ_CHECK(n < sizeof(small) && strlen(small) == n);
    }

    ai_release_errors_free(errs);
}


#endif /* _AI_RELEASE_FUZZ_H_INCLUDED_ */
