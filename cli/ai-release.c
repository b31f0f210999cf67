
/*
 * Copyright (C) ngx_ai_release authors
 *
 * ai-release: the command-line tool of ngx_ai_release.  It loads manifests
 * with the very core the nginx module uses, and prints their digests,
 * lints them, applies their eval gates, writes or checks the lock file
 * of immutable versions and tells what differs between two bundles.
 * "ai-release --help" tells how.
 *
 * Exit status: 0 success, 1 a check failed or problems were found, 2 a
 * usage error, a manifest (or lock file) that cannot be loaded at all, or
 * output that cannot be written.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ai_release_core.h"
#include "ai_release_diff.h"


#ifndef AI_RELEASE_CLI_VERSION
#define AI_RELEASE_CLI_VERSION  "0.3.0"
#endif

#define AIR_OK          0
#define AIR_FAILED      1
#define AIR_ERROR       2

#define AIR_MESSAGE_SIZE  8192


typedef struct {
    const char            *command;
    unsigned               json:1;
    unsigned               require:1;
    const char            *report_dir;
    const char            *lock_file;   /* lock --check LOCKFILE */
    const char            *bundles;     /* diff --bundles GLOB */
    char                 **manifests;
    size_t                 nmanifests;

    ai_release_set_t      *set;
    ai_release_errors_t    errs;
} air_t;


static int air_options(air_t *air, int argc, char **argv);
static int air_exit(int rc);
static int air_load(air_t *air);
static int air_digest(air_t *air);
static int air_lint(air_t *air);
static int air_gate(air_t *air);
static int air_lock(air_t *air);
static int air_lock_check(air_t *air);
static int air_state(air_t *air);
static int air_diff(air_t *air);
static ai_release_bundle_t *air_diff_bundle(air_t *air, const char *arg,
    ai_release_set_t **set);
static json_t *air_diff_json(const ai_release_bundle_t *b);
static int air_print_errors(air_t *air, int rc);
static json_t *air_errors_json(const ai_release_errors_t *errs, size_t from);
static json_t *air_string(const char *s);
static void air_json_print(json_t *doc);
static void air_usage(FILE *f);
static int air_usage_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;


int
main(int argc, char **argv)
{
    int    rc;
    air_t  air;

    memset(&air, 0, sizeof(air_t));
    ai_release_errors_init(&air.errs);

    rc = air_options(&air, argc, argv);

    if (rc >= 0) {
        /* --help, --version or a usage error */
        free(air.manifests);
        return air_exit(rc);
    }

    air.set = ai_release_set_create();

    if (air.set == NULL) {
        (void) fprintf(stderr, "ai-release: out of memory\n");
        free(air.manifests);
        return AIR_ERROR;
    }

    if (strcmp(air.command, "digest") == 0) {
        rc = air_digest(&air);

    } else if (strcmp(air.command, "lint") == 0) {
        rc = air_lint(&air);

    } else if (strcmp(air.command, "gate") == 0) {
        rc = air_gate(&air);

    } else if (strcmp(air.command, "state") == 0) {
        rc = air_state(&air);

    } else if (strcmp(air.command, "diff") == 0) {
        rc = air_diff(&air);

    } else if (air.lock_file != NULL) {
        rc = air_lock_check(&air);

    } else {
        rc = air_lock(&air);
    }

    ai_release_set_free(air.set);
    ai_release_errors_free(&air.errs);
    free(air.manifests);

    return air_exit(rc);
}


/* rc, or AIR_ERROR when stdout (a full disk, a closed pipe) took not all */

static int
air_exit(int rc)
{
    int  err, failed;

    err = 0;

    if (fflush(stdout) != 0) {
        err = errno;
    }

    /* an earlier write may have failed with nothing left to flush */
    failed = ferror(stdout);

    if (fclose(stdout) != 0 && err == 0) {
        err = errno;
    }

    if (err != 0 || failed) {
        (void) fprintf(stderr, "ai-release: cannot write the output: %s\n",
                       err ? strerror(err) : "write error");
        return AIR_ERROR;
    }

    return rc;
}


/* -1 to go on, or the exit status */

static int
air_options(air_t *air, int argc, char **argv)
{
    int          i, opts;
    size_t       len;
    const char  *arg, *value;

    i = 1;

    /* options before the command */

    for ( /* void */ ; i < argc && argv[i][0] == '-'; i++) {
        arg = argv[i];

        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            air_usage(stdout);
            return AIR_OK;
        }

        if (strcmp(arg, "--version") == 0) {
            (void) printf("ai-release %s\n", AI_RELEASE_CLI_VERSION);
            return AIR_OK;
        }

        if (strcmp(arg, "--json") == 0) {
            air->json = 1;
            continue;
        }

        return air_usage_error("unknown option \"%s\"", arg);
    }

    if (i == argc) {
        return air_usage_error("no command given");
    }

    air->command = argv[i++];

    if (strcmp(air->command, "digest") != 0
        && strcmp(air->command, "lint") != 0
        && strcmp(air->command, "gate") != 0
        && strcmp(air->command, "lock") != 0
        && strcmp(air->command, "state") != 0
        && strcmp(air->command, "diff") != 0)
    {
        return air_usage_error("unknown command \"%s\"", air->command);
    }

    air->manifests = calloc((size_t) argc, sizeof(char *));
    if (air->manifests == NULL) {
        (void) fprintf(stderr, "ai-release: out of memory\n");
        return AIR_ERROR;
    }

    opts = 1;

    for ( /* void */ ; i < argc; i++) {
        arg = argv[i];

        if (!opts || arg[0] != '-' || arg[1] == '\0') {
            air->manifests[air->nmanifests++] = argv[i];
            continue;
        }

        if (strcmp(arg, "--") == 0) {
            opts = 0;
            continue;
        }

        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            air_usage(stdout);
            return AIR_OK;
        }

        if (strcmp(arg, "--json") == 0) {
            air->json = 1;
            continue;
        }

        if (strcmp(air->command, "gate") == 0
            && strcmp(arg, "--require") == 0)
        {
            air->require = 1;
            continue;
        }

        /* options with a value: "--opt VALUE" or "--opt=VALUE" */

        value = NULL;
        len = strcspn(arg, "=");

        if (strcmp(air->command, "gate") == 0
            && len == sizeof("--report-dir") - 1
            && strncmp(arg, "--report-dir", len) == 0)
        {
            /* void */

        } else if (strcmp(air->command, "lock") == 0
                   && len == sizeof("--check") - 1
                   && strncmp(arg, "--check", len) == 0)
        {
            /* void */

        } else if (strcmp(air->command, "diff") == 0
                   && len == sizeof("--bundles") - 1
                   && strncmp(arg, "--bundles", len) == 0)
        {
            /* void */

        } else {
            return air_usage_error("%s: unknown option \"%s\"",
                                   air->command, arg);
        }

        if (arg[len] == '=') {
            value = arg + len + 1;

        } else if (i + 1 < argc) {
            value = argv[++i];

        } else {
            return air_usage_error("%s: option \"%s\" needs a value",
                                   air->command, arg);
        }

        if (value[0] == '\0') {
            return air_usage_error("%s: option \"%.*s\" needs a value",
                                   air->command, (int) len, arg);
        }

        if (arg[2] == 'r') {
            air->report_dir = value;

        } else if (arg[2] == 'b') {
            air->bundles = value;

        } else {
            air->lock_file = value;
        }
    }

    if (air->nmanifests == 0) {
        return air_usage_error("%s: no manifest given", air->command);
    }

    if (strcmp(air->command, "diff") == 0 && air->nmanifests != 2) {
        return air_usage_error("diff: expected two bundles, OLD and NEW, "
                               "not %lu", (unsigned long) air->nmanifests);
    }

    return -1;
}


/* loads every manifest; the set keeps whatever loaded */

static int
air_load(air_t *air)
{
    int     rc;
    size_t  i;

    rc = 0;

    for (i = 0; i < air->nmanifests; i++) {
        if (ai_release_set_load_file(air->set, air->manifests[i], &air->errs)
            != 0)
        {
            rc = -1;
        }
    }

    return rc;
}


static int
air_digest(air_t *air)
{
    size_t                n, i;
    json_t               *doc, *list, *item;
    ai_release_bundle_t  *b;

    if (air_load(air) != 0) {
        return air_print_errors(air, AIR_ERROR);
    }

    n = ai_release_set_count(air->set);

    if (!air->json) {
        for (i = 0; i < n; i++) {
            b = ai_release_set_get(air->set, i);
            (void) printf("%s %s\n", b->id, b->digest_hex);
        }

        return AIR_OK;
    }

    list = json_array();

    for (i = 0; i < n; i++) {
        b = ai_release_set_get(air->set, i);

        item = json_object();
        (void) json_object_set_new(item, "id", air_string(b->id));
        (void) json_object_set_new(item, "name", air_string(b->name));
        (void) json_object_set_new(item, "version", air_string(b->version));
        (void) json_object_set_new(item, "digest",
                                   air_string(b->digest_hex));
        (void) json_object_set_new(item, "file", air_string(b->file));
        (void) json_array_append_new(list, item);
    }

    doc = json_object();
    (void) json_object_set_new(doc, "ok", json_true());
    (void) json_object_set_new(doc, "bundles", list);

    air_json_print(doc);

    return AIR_OK;
}


static int
air_lint(air_t *air)
{
    size_t   n, i;
    json_t  *doc;

    (void) air_load(air);

    n = ai_release_set_count(air->set);

    /* the eval sections, which only the gates use */

    for (i = 0; i < n; i++) {
        (void) ai_release_gate_validate(ai_release_set_get(air->set, i),
                                        &air->errs);
    }

    if (air->errs.n) {
        return air_print_errors(air, AIR_FAILED);
    }

    if (air->json) {
        doc = json_object();
        (void) json_object_set_new(doc, "ok", json_true());
        (void) json_object_set_new(doc, "bundles",
                                   json_integer((json_int_t) n));
        (void) json_object_set_new(doc, "errors", json_array());

        air_json_print(doc);

    } else {
        (void) printf("ok: %lu bundle%s\n", (unsigned long) n,
                      n == 1 ? "" : "s");
    }

    return AIR_OK;
}


static int
air_gate(air_t *air)
{
    int                   rc;
    char                  line[AIR_MESSAGE_SIZE];
    size_t                n, i, j, from;
    json_t               *doc, *results, *item, *failures;
    time_t                now;
    const char           *status;
    ai_release_gate_e     gate;
    ai_release_bundle_t  *b;
    ai_release_error_t   *err;

    if (air_load(air) != 0) {
        return air_print_errors(air, AIR_ERROR);
    }

    now = time(NULL);
    n = ai_release_set_count(air->set);
    rc = AIR_OK;

    doc = NULL;
    results = NULL;

    if (air->json) {
        doc = json_object();
        results = json_array();
    }

    for (i = 0; i < n; i++) {
        b = ai_release_set_get(air->set, i);

        from = air->errs.n;

        gate = ai_release_gate_check(b, air->report_dir, (long long) now,
                                     &air->errs);

        failures = air->json ? json_array() : NULL;

        switch (gate) {

        case AI_RELEASE_GATE_PASS:
            status = "pass";

            if (!air->json) {
                (void) printf("%s passes its eval gate\n", b->id);
            }

            break;

        case AI_RELEASE_GATE_NONE:
            status = "none";

            if (air->require) {
                rc = AIR_FAILED;
            }

            if (air->json) {
                if (air->require) {
                    (void) json_array_append_new(failures,
                        air_string("no eval section (required)"));
                }

            } else {
                (void) fprintf(stderr, "%s has no eval section%s\n", b->id,
                               air->require ? " (required)" : "");
            }

            break;

        case AI_RELEASE_GATE_FAIL:
            status = "fail";
            rc = AIR_FAILED;

            for (j = from; j < air->errs.n; j++) {
                err = &air->errs.items[j];

                if (air->json) {
                    (void) json_array_append_new(failures,
                        air_string(err->message ? err->message
                                                : "out of memory"));

                } else {
                    (void) fprintf(stderr, "%s fails its eval gate: %s\n",
                                   b->id, err->message ? err->message
                                                       : "out of memory");
                }
            }

            break;

        default: /* AI_RELEASE_GATE_ERROR */
            status = "error";
            rc = AIR_FAILED;

            for (j = from; j < air->errs.n; j++) {
                (void) ai_release_error_format(&air->errs.items[j], line,
                                               sizeof(line));

                if (air->json) {
                    (void) json_array_append_new(failures, air_string(line));

                } else {
                    (void) fprintf(stderr, "%s\n", line);
                }
            }

            break;
        }

        if (air->json) {
            item = json_object();
            (void) json_object_set_new(item, "bundle", air_string(b->id));
            (void) json_object_set_new(item, "digest",
                                       air_string(b->digest_hex));
            (void) json_object_set_new(item, "status", air_string(status));
            (void) json_object_set_new(item, "failures", failures);
            (void) json_array_append_new(results, item);
        }
    }

    if (air->json) {
        (void) json_object_set_new(doc, "ok", json_boolean(rc == AIR_OK));
        (void) json_object_set_new(doc, "results", results);

        air_json_print(doc);
    }

    return rc;
}


static int
air_lock(air_t *air)
{
    size_t                 n, i, j, nparts;
    json_t                *doc, *list, *item, *jparts, *jpart;
    ai_release_part_t     *parts;
    ai_release_bundle_t   *b, **bundles;

    if (air_load(air) != 0) {
        return air_print_errors(air, AIR_ERROR);
    }

    n = ai_release_set_count(air->set);

    bundles = calloc(n ? n : 1, sizeof(ai_release_bundle_t *));
    if (bundles == NULL) {
        (void) fprintf(stderr, "ai-release: out of memory\n");
        return AIR_ERROR;
    }

    for (i = 0; i < n; i++) {
        bundles[i] = ai_release_set_get(air->set, i);
    }

    if (!air->json) {
        if (ai_release_lock_write(stdout, bundles, n) != 0) {
            (void) fprintf(stderr, "ai-release: cannot write the lock: %s\n",
                           strerror(errno));
            free(bundles);
            return AIR_ERROR;
        }

        free(bundles);
        return AIR_OK;
    }

    list = json_array();

    for (i = 0; i < n; i++) {
        b = bundles[i];

        if (ai_release_bundle_parts(b, &parts, &nparts) != 0) {
            (void) fprintf(stderr, "ai-release: out of memory\n");
            json_decref(list);
            free(bundles);
            return AIR_ERROR;
        }

        jparts = json_array();

        for (j = 0; j < nparts; j++) {
            jpart = json_object();
            (void) json_object_set_new(jpart, "kind",
                                       air_string(parts[j].kind));
            (void) json_object_set_new(jpart, "name",
                                       air_string(parts[j].name));
            (void) json_object_set_new(jpart, "sha256",
                                       air_string(parts[j].sha256));

            if (parts[j].path != NULL) {
                (void) json_object_set_new(jpart, "path",
                                           air_string(parts[j].path));
            }

            (void) json_array_append_new(jparts, jpart);
        }

        ai_release_parts_free(parts, nparts);

        item = json_object();
        (void) json_object_set_new(item, "id", air_string(b->id));
        (void) json_object_set_new(item, "digest",
                                   air_string(b->digest_hex));
        (void) json_object_set_new(item, "parts", jparts);
        (void) json_array_append_new(list, item);
    }

    free(bundles);

    doc = json_object();
    (void) json_object_set_new(doc, "ok", json_true());
    (void) json_object_set_new(doc, "bundles", list);

    air_json_print(doc);

    return AIR_OK;
}


static int
air_lock_check(air_t *air)
{
    int                   rc;
    size_t                n, i, from;
    json_t               *doc, *results, *item;
    const char           *status, *message;
    ai_release_lock_e     check;
    ai_release_lock_t    *lock;
    ai_release_bundle_t  *b;

    if (air_load(air) != 0) {
        return air_print_errors(air, AIR_ERROR);
    }

    lock = ai_release_lock_load(air->lock_file, &air->errs);

    if (lock == NULL) {
        return air_print_errors(air, AIR_ERROR);
    }

    n = ai_release_set_count(air->set);
    rc = AIR_OK;

    doc = NULL;
    results = NULL;

    if (air->json) {
        doc = json_object();
        results = json_array();
    }

    for (i = 0; i < n; i++) {
        b = ai_release_set_get(air->set, i);

        from = air->errs.n;

        check = ai_release_lock_check(lock, b, &air->errs);

        message = NULL;

        if (air->errs.n > from) {
            message = air->errs.items[from].message
                      ? air->errs.items[from].message : "out of memory";
        }

        switch (check) {
        case AI_RELEASE_LOCK_OK:
            status = "ok";
            break;
        case AI_RELEASE_LOCK_CHANGED:
            status = "changed";
            break;
        default:
            status = "missing";
        }

        if (check != AI_RELEASE_LOCK_OK) {
            rc = AIR_FAILED;

            if (!air->json && message != NULL) {
                (void) fprintf(stderr, "%s\n", message);
            }
        }

        if (air->json) {
            item = json_object();
            (void) json_object_set_new(item, "bundle", air_string(b->id));
            (void) json_object_set_new(item, "digest",
                                       air_string(b->digest_hex));
            (void) json_object_set_new(item, "status", air_string(status));
            (void) json_object_set_new(item, "message",
                                       message ? air_string(message)
                                               : json_null());
            (void) json_array_append_new(results, item);
        }
    }

    ai_release_lock_free(lock);

    if (air->json) {
        (void) json_object_set_new(doc, "ok", json_boolean(rc == AIR_OK));
        (void) json_object_set_new(doc, "results", results);

        air_json_print(doc);

    } else if (rc == AIR_OK) {
        (void) printf("ok: %lu bundle%s match%s the lock file \"%s\"\n",
                      (unsigned long) n, n == 1 ? "" : "s",
                      n == 1 ? "es" : "", air->lock_file);
    }

    return rc;
}


/* every error as FILE:LINE:COLUMN: MESSAGE, or as JSON; returns rc */

/*
 * "ai-release diff OLD NEW": one line, "ids: what changed" (the text the
 * module logs at a reload), and exit status 1; nothing and 0 when both
 * have the same digest
 */

static int
air_diff(air_t *air)
{
    int                   rc;
    char                  ids[AIR_MESSAGE_SIZE], text[AIR_MESSAGE_SIZE];
    size_t                n, k;
    json_t               *doc;
    ai_release_set_t     *sets[2];
    ai_release_bundle_t  *b[2];

    if (air->bundles != NULL
        && ai_release_set_load_glob(air->set, air->bundles, &air->errs) != 0)
    {
        return air_print_errors(air, AIR_ERROR);
    }

    for (k = 0; k < 2; k++) {
        sets[k] = NULL;
        b[k] = air_diff_bundle(air, air->manifests[k], &sets[k]);
    }

    rc = AIR_ERROR;

    if (b[0] == NULL || b[1] == NULL) {
        (void) air_print_errors(air, rc);
        goto done;
    }

    n = ai_release_diff(b[0], b[1], text, sizeof(text));
    ai_release_diff_ids(b[0], b[1], ids, sizeof(ids));

    rc = (strcmp(b[0]->digest_hex, b[1]->digest_hex) == 0) ? AIR_OK
                                                           : AIR_FAILED;

    if (air->json) {
        doc = json_object();
        (void) json_object_set_new(doc, "ok", json_true());
        (void) json_object_set_new(doc, "identical",
                                   json_boolean(rc == AIR_OK));
        (void) json_object_set_new(doc, "old", air_diff_json(b[0]));
        (void) json_object_set_new(doc, "new", air_diff_json(b[1]));
        (void) json_object_set_new(doc, "components",
                                   json_integer((json_int_t) n));
        (void) json_object_set_new(doc, "changes", air_string(text));

        air_json_print(doc);

    } else if (rc != AIR_OK) {
        (void) printf("%s: %s\n", ids, n ? text : "no other change");
    }

done:

    ai_release_set_free(sets[0]);
    ai_release_set_free(sets[1]);

    return rc;
}


/*
 * One side of a diff: a name@version of the --bundles manifests, or a
 * manifest of exactly one bundle, loaded into a set of its own (*set)
 */

static ai_release_bundle_t *
air_diff_bundle(air_t *air, const char *arg, ai_release_set_t **set)
{
    size_t                n;
    ai_release_bundle_t  *b;

    if (air->bundles != NULL) {
        b = ai_release_set_find(air->set, arg, strlen(arg));

        if (b != NULL) {
            return b;
        }

        if (strchr(arg, '@') != NULL && strchr(arg, '/') == NULL) {
            ai_release_errors_add(&air->errs, air->bundles, 0, 0,
                                  "no bundle \"%s\" in the manifests of "
                                  "\"%s\"", arg, air->bundles);
            return NULL;
        }
    }

    *set = ai_release_set_create();

    if (*set == NULL) {
        ai_release_errors_add(&air->errs, arg, 0, 0, "out of memory");
        return NULL;
    }

    if (ai_release_set_load_file(*set, arg, &air->errs) != 0) {
        return NULL;
    }

    n = ai_release_set_count(*set);

    if (n != 1) {
        ai_release_errors_add(&air->errs, arg, 0, 0,
                              "holds %lu bundles: name one as name@version "
                              "with \"--bundles %s\"", (unsigned long) n,
                              arg);
        return NULL;
    }

    return ai_release_set_get(*set, 0);
}


static json_t *
air_diff_json(const ai_release_bundle_t *b)
{
    json_t  *item;

    item = json_object();
    (void) json_object_set_new(item, "id", air_string(b->id));
    (void) json_object_set_new(item, "digest", air_string(b->digest_hex));
    (void) json_object_set_new(item, "file", air_string(b->file));

    return item;
}


static int
air_print_errors(air_t *air, int rc)
{
    char     line[AIR_MESSAGE_SIZE];
    size_t   i;
    json_t  *doc;

    if (air->json) {
        doc = json_object();
        (void) json_object_set_new(doc, "ok", json_false());
        (void) json_object_set_new(doc, "errors",
                                   air_errors_json(&air->errs, 0));

        air_json_print(doc);

        return rc;
    }

    for (i = 0; i < air->errs.n; i++) {
        (void) ai_release_error_format(&air->errs.items[i], line,
                                       sizeof(line));
        (void) fprintf(stderr, "%s\n", line);
    }

    return rc;
}


static json_t *
air_errors_json(const ai_release_errors_t *errs, size_t from)
{
    size_t                     i;
    json_t                    *list, *item;
    const ai_release_error_t  *err;

    list = json_array();

    for (i = from; i < errs->n; i++) {
        err = &errs->items[i];

        item = json_object();
        (void) json_object_set_new(item, "file",
                                   err->file ? air_string(err->file)
                                             : json_null());
        (void) json_object_set_new(item, "line", json_integer(err->line));
        (void) json_object_set_new(item, "column",
                                   json_integer(err->column));
        (void) json_object_set_new(item, "message",
                                   air_string(err->message ? err->message
                                                           : "out of memory"));
        (void) json_array_append_new(list, item);
    }

    return list;
}


/* a JSON string; bytes that are not UTF-8 become "?" */

static json_t *
air_string(const char *s)
{
    char    *copy, *p;
    json_t  *j;

    j = json_string(s);

    if (j != NULL) {
        return j;
    }

    copy = strdup(s);
    if (copy == NULL) {
        return NULL;
    }

    for (p = copy; *p; p++) {
        if ((unsigned char) *p >= 0x80) {
            *p = '?';
        }
    }

    j = json_string(copy);

    free(copy);

    return j;
}


static void
air_json_print(json_t *doc)
{
    if (doc == NULL
        || json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
           != 0)
    {
        (void) fprintf(stderr, "ai-release: cannot write the JSON output\n");

    } else {
        (void) fputc('\n', stdout);
    }

    json_decref(doc);
}


/* the state file of ai_release_state: checked, then printed as JSON */

static int
air_state(air_t *air)
{
    char                err[512], *text;
    size_t              len;
    ai_release_state_t  st;

    if (air->nmanifests != 1) {
        return air_usage_error("state: give exactly one state file");
    }

    if (ai_release_state_load(air->manifests[0], &st, err, sizeof(err))
        != 0)
    {
        (void) fprintf(stderr, "ai-release: state file \"%s\": %s\n",
                       air->manifests[0], err);
        return AIR_FAILED;
    }

    text = ai_release_state_format(&st, (long long) time(NULL), &len);

    ai_release_state_free(&st);

    if (text == NULL) {
        (void) fprintf(stderr, "ai-release: out of memory\n");
        return AIR_ERROR;
    }

    (void) fwrite(text, 1, len, stdout);
    (void) fputc('\n', stdout);

    free(text);

    return AIR_OK;
}


static void
air_usage(FILE *f)
{
    (void) fputs(
"usage: ai-release [--json] COMMAND [OPTIONS] MANIFEST...\n"
"\n"
"Behaviour bundle manifests: their digests, eval gates and the lock file\n"
"of immutable versions, checked by the very code the nginx module uses.\n"
"\n"
"commands:\n"
"  digest MANIFEST...      print \"name@version sha256:<hex>\" per bundle\n"
"  lint MANIFEST...        report every problem as FILE:LINE:COLUMN: message\n"
"  gate MANIFEST... [--report-dir DIR] [--require]\n"
"                          check each bundle's eval report against its\n"
"                          gates: right bundle, digest, eval set and age\n"
"  lock MANIFEST...        write the lock file to stdout, e.g.\n"
"                          ai-release lock bundles/*.yaml > bundles.lock\n"
"  lock --check LOCKFILE MANIFEST...\n"
"                          check that no name@version changed since the lock\n"
"  state FILE              check the module's state file (ai_release_state)\n"
"                          and print it as JSON\n"
"  diff OLD NEW [--bundles GLOB]\n"
"                          what differs between two bundles, component by\n"
"                          component: each a manifest of one bundle, or a\n"
"                          name@version of the manifests GLOB matches;\n"
"                          exit status 0 identical, 1 they differ\n"
"\n"
"options:\n"
"  --json                  print one JSON document on stdout instead\n"
"  --report-dir DIR        read each report as DIR/basename(report)\n"
"  --require               a bundle without an eval section fails the gate\n"
"  --bundles GLOB          the manifests diff finds name@version in\n"
"  -h, --help              print this help\n"
"  --version               print the version\n"
"\n"
"exit status: 0 success, 1 a check failed or problems were found,\n"
"2 a usage error, a manifest that cannot be loaded at all or output\n"
"that cannot be written.\n", f);
}


static int
air_usage_error(const char *fmt, ...)
{
    va_list  args;

    (void) fputs("ai-release: ", stderr);

    va_start(args, fmt);
    (void) vfprintf(stderr, fmt, args);
    va_end(args);

    (void) fputs("\ntry \"ai-release --help\"\n", stderr);

    return AIR_ERROR;
}
