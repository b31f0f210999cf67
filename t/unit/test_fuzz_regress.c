
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Replays every input the fuzzers ever crashed on, and the seed corpus,
 * through the fuzz targets' very entry points (fuzz/fuzz_<target>.c built
 * with -DAI_RELEASE_NO_LIBFUZZER_MAIN), under ASan and UBSan.  TAP output;
 * run from t/unit:
 *
 *   cd t/unit && ../../build/unit_fuzz_regress
 *
 * fixtures/fuzz-regressions/<target>-<short-name> is a crash that was
 * fixed; a file there whose name starts with no known target fails.  An
 * empty or missing directory is fine.  Files starting with "." are
 * skipped.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tap.h"


#define REGRESSIONS  "fixtures/fuzz-regressions"
#define CORPUS       "../../fuzz/corpus"


typedef int (*fuzz_one_pt)(const uint8_t *data, size_t size);

typedef struct {
    const char   *name;
    fuzz_one_pt   one;
} fuzz_target_t;


static const fuzz_target_t  targets[] = {
    { "manifest", fuzz_one_manifest },
    { "report", fuzz_one_report },
    { "lock", fuzz_one_lock },
    { "params", fuzz_one_params },
    { "api_body", fuzz_one_api_body },
    { "state", fuzz_one_state },
    { "json", fuzz_one_json },
    { "apply", fuzz_one_apply },
    { "contract", fuzz_one_contract },
    { "signals", fuzz_one_signals },
    { "feedback", fuzz_one_feedback },
    { NULL, NULL }
};


static int replay_dir(const char *dir, const fuzz_target_t *only);
static int replay_file(const char *dir, const char *name,
    const fuzz_target_t *t);
static int skip_name(const struct dirent *d);


int
main(void)
{
    char                  dir[256];
    const fuzz_target_t  *t;

    /* the crashes found and fixed, each through its target */

    if (replay_dir(REGRESSIONS, NULL) == 0) {
        printf("# no %s: no regressions to replay\n", REGRESSIONS);
    }

    /* the seeds, a quick check that every target runs here too */

    for (t = targets; t->name; t++) {
        (void) snprintf(dir, sizeof(dir), "%s/%s", CORPUS, t->name);

        if (replay_dir(dir, t) == 0) {
            printf("# no seeds in %s\n", dir);
        }
    }

    ok(1, "replayed every regression and seed");

    return tap_done();
}


/* the number of files replayed; 0 when the directory is missing */

static int
replay_dir(const char *dir, const fuzz_target_t *only)
{
    int                   i, n, done;
    size_t                len;
    struct dirent       **names;
    const fuzz_target_t  *t;

    n = scandir(dir, &names, skip_name, alphasort);

    if (n < 0) {
        if (errno != ENOENT) {
            ok(0, "cannot read %s: %s", dir, strerror(errno));
        }

        return 0;
    }

    done = 0;

    for (i = 0; i < n; i++) {
        t = only;

        if (t == NULL) {
            for (t = targets; t->name; t++) {
                len = strlen(t->name);

                if (strncmp(names[i]->d_name, t->name, len) == 0
                    && names[i]->d_name[len] == '-')
                {
                    break;
                }
            }

            if (t->name == NULL) {
                ok(0, "%s/%s: the name starts with no fuzz target "
                   "(manifest-, report-, lock-, params-, api_body-, state-, "
                   "json-, apply-, contract-)",
                   dir, names[i]->d_name);
                free(names[i]);
                continue;
            }
        }

        if (replay_file(dir, names[i]->d_name, t) == 0) {
            done++;
        }

        free(names[i]);
    }

    free(names);

    return done;
}


static int
replay_file(const char *dir, const char *name, const fuzz_target_t *t)
{
    char     path[512];
    FILE    *f;
    long     size;
    uint8_t *data;

    (void) snprintf(path, sizeof(path), "%s/%s", dir, name);

    f = fopen(path, "rb");

    if (f == NULL
        || fseek(f, 0, SEEK_END) != 0
        || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        ok(0, "cannot read %s: %s", path, strerror(errno));

        if (f) {
            (void) fclose(f);
        }

        return -1;
    }

    /* exactly its size, so that reading past the input is caught */

    data = malloc(size ? (size_t) size : 1);

    if (data == NULL
        || (size && fread(data, 1, (size_t) size, f) != (size_t) size))
    {
        ok(0, "cannot read %s", path);
        free(data);
        (void) fclose(f);
        return -1;
    }

    (void) fclose(f);

    /* a crash ends the program here, with the sanitizer's report */

    printf("# %s: %s (%ld bytes)\n", t->name, path, size);
    (void) fflush(stdout);

    (void) t->one(data, (size_t) size);

    free(data);

    ok(1, "%s: %s", t->name, path);

    return 0;
}


static int
skip_name(const struct dirent *d)
{
    return d->d_name[0] != '.';
}
