
/*
 * Copyright (C) ngx_ai_release authors
 *
 * The bundle set: loading a manifest file, a glob of them or a buffer
 * (all or nothing), a bundle's id and the duplicate check, lookup by
 * "name@version" in a hash table, and freeing.  The load context's error
 * reporter, which every file reading a manifest uses.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <glob.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai_release_internal.h"
#include "ai_release_contract.h"


/* at most this many bytes of a value are quoted in an error message */
#define AI_RELEASE_MESSAGE_SIZE     4096

#define AI_RELEASE_HASH_SEED        0x61692d72


struct ai_release_set_s {
    ai_release_bundle_t   **bundles;
    size_t                  nbundles;
    size_t                  cap;

    /* open addressing, linear probing, a power of two, at most half full */
    ai_release_bundle_t   **table;
    size_t                  table_size;
};


static void ai_release_load_init(ai_release_load_t *ld, ai_release_set_t *set,
    ai_release_errors_t *errs);
static int ai_release_load_finish(ai_release_load_t *ld);
static void ai_release_load_path(ai_release_load_t *ld, const char *path);
static void ai_release_load_data(ai_release_load_t *ld, const char *data,
    size_t len);
static int ai_release_document(ai_release_load_t *ld,
    ai_release_node_t *root, unsigned line, unsigned column, unsigned index,
    size_t nerrors);
static int ai_release_set_reserve(ai_release_set_t *set, size_t extra);
static void ai_release_set_insert(ai_release_set_t *set,
    ai_release_bundle_t *bundle);


ai_release_set_t *
ai_release_set_create(void)
{
    return calloc(1, sizeof(ai_release_set_t));
}


void
ai_release_set_free(ai_release_set_t *set)
{
    size_t  i;

    if (set == NULL) {
        return;
    }

    for (i = 0; i < set->nbundles; i++) {
        ai_release_bundle_free(set->bundles[i]);
    }

    free(set->bundles);
    free(set->table);
    free(set);
}


size_t
ai_release_set_count(const ai_release_set_t *set)
{
    return set ? set->nbundles : 0;
}


ai_release_bundle_t *
ai_release_set_get(const ai_release_set_t *set, size_t i)
{
    if (set == NULL || i >= set->nbundles) {
        return NULL;
    }

    return set->bundles[i];
}


ai_release_bundle_t *
ai_release_set_find(const ai_release_set_t *set, const char *id, size_t len)
{
    size_t                i, mask;
    ai_release_bundle_t  *b;

    if (set == NULL || set->table_size == 0) {
        return NULL;
    }

    mask = set->table_size - 1;
    i = ai_release_hash32(AI_RELEASE_HASH_SEED, id, len) & mask;

    while ((b = set->table[i]) != NULL) {
        if (strlen(b->id) == len && memcmp(b->id, id, len) == 0) {
            return b;
        }

        i = (i + 1) & mask;
    }

    return NULL;
}


int
ai_release_set_load_file(ai_release_set_t *set, const char *path,
    ai_release_errors_t *errs)
{
    ai_release_load_t  ld;

    ai_release_load_init(&ld, set, errs);
    ld.file = path;

    if (ld.tmp != NULL) {
        ai_release_load_path(&ld, path);
    }

    return ai_release_load_finish(&ld);
}


int
ai_release_set_load_glob(ai_release_set_t *set, const char *pattern,
    ai_release_errors_t *errs)
{
    int                rc;
    char               q[AI_RELEASE_QUOTE_SIZE];
    size_t             i;
    glob_t             g;
    ai_release_load_t  ld;

    ai_release_load_init(&ld, set, errs);
    ld.file = pattern;

    if (ld.tmp == NULL) {
        return ai_release_load_finish(&ld);
    }

    memset(&g, 0, sizeof(glob_t));

    rc = glob(pattern, 0, NULL, &g);

    if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) {
        ai_release_error(&ld, 0, 0, "no manifest matches \"%s\"",
                         ai_release_quote(pattern, strlen(pattern), q));

    } else if (rc == GLOB_NOSPACE) {
        ai_release_error(&ld, 0, 0, "out of memory");

    } else if (rc != 0) {
        ai_release_error(&ld, 0, 0, "cannot expand \"%s\": read error",
                         ai_release_quote(pattern, strlen(pattern), q));

    } else {
        for (i = 0; i < g.gl_pathc; i++) {
            ai_release_load_path(&ld, g.gl_pathv[i]);
        }

        ld.file = pattern;
        ld.prefix_len = 0;
    }

    globfree(&g);

    return ai_release_load_finish(&ld);
}


int
ai_release_set_load_buffer(ai_release_set_t *set, const char *path,
    const char *data, size_t len, ai_release_errors_t *errs)
{
    const char         *slash;
    ai_release_load_t   ld;

    ai_release_load_init(&ld, set, errs);
    ld.file = path;

    if (ld.tmp != NULL) {
        slash = strrchr(path, '/');
        ld.prefix_len = slash ? (size_t) (slash - path) + 1 : 0;

        ai_release_load_data(&ld, data, len);
    }

    return ai_release_load_finish(&ld);
}


static void
ai_release_load_init(ai_release_load_t *ld, ai_release_set_t *set,
    ai_release_errors_t *errs)
{
    memset(ld, 0, sizeof(ai_release_load_t));

    ld->set = set;
    ld->errs = errs;
    ld->tmp = ai_release_set_create();

    if (ld->tmp == NULL) {
        ai_release_error(ld, 0, 0, "out of memory");
    }
}


/* commits this call's bundles to the set when no error was found */

static int
ai_release_load_finish(ai_release_load_t *ld)
{
    size_t  i;

    if (ld->nerrors == 0 && ld->tmp != NULL) {

        if (ai_release_set_reserve(ld->set, ld->tmp->nbundles) != 0) {
            ai_release_error(ld, 0, 0, "out of memory");

        } else {
            for (i = 0; i < ld->tmp->nbundles; i++) {
                ai_release_set_insert(ld->set, ld->tmp->bundles[i]);
            }

            ld->tmp->nbundles = 0;
        }
    }

    ai_release_set_free(ld->tmp);
    ld->tmp = NULL;

    if (ld->nerrors == 0) {
        return 0;
    }

#if defined(__GLIBC__)
    /*
     * What a rejected file took (up to AI_RELEASE_MAX_NODES nodes) is
     * free now, but glibc keeps freed memory below a later allocation:
     * give it back, so that a failed reload leaves the nginx master as
     * small as it was.
     */
    (void) malloc_trim(0);
#endif

    return -1;
}


static void
ai_release_load_path(ai_release_load_t *ld, const char *path)
{
    int          rc, err;
    char        *data;
    size_t       len;
    const char  *slash;

    ld->file = path;

    slash = strrchr(path, '/');
    ld->prefix_len = slash ? (size_t) (slash - path) + 1 : 0;

    rc = ai_release_read_file(path, &data, &len, &err);

    if (rc != 0) {
        ai_release_error(ld, 0, 0, "cannot read manifest: %s",
                         ai_release_read_error(rc, err));
        return;
    }

    ai_release_load_data(ld, data, len);

    free(data);
}


static void
ai_release_load_data(ai_release_load_t *ld, const char *data, size_t len)
{
    ai_release_errors_file_begin(ld->errs);

    if (ai_release_yaml_read(ld, data, len, ai_release_document) == 0) {
        ai_release_error(ld, 0, 0, "no bundle in manifest");
    }

    ai_release_errors_file_end(ld->errs, ld->file);
}


/* a valid document becomes a bundle in ld->tmp, unless its id is taken */

static int
ai_release_document(ai_release_load_t *ld, ai_release_node_t *root,
    unsigned line, unsigned column, unsigned index, size_t nerrors)
{
    size_t                len;
    ai_release_bundle_t  *bundle, *dup;

    bundle = ai_release_schema_check(ld, root, line, column, index, nerrors);
    if (bundle == NULL) {
        return 0;
    }

    if (ai_release_digest(bundle) != 0) {
        goto nomem;
    }

    len = strlen(bundle->name) + 1 + strlen(bundle->version);

    bundle->id = malloc(len + 1);
    if (bundle->id == NULL) {
        goto nomem;
    }

    (void) snprintf(bundle->id, len + 1, "%s@%s", bundle->name,
                    bundle->version);

    dup = ai_release_set_find(ld->set, bundle->id, len);

    if (dup == NULL) {
        dup = ai_release_set_find(ld->tmp, bundle->id, len);
    }

    if (dup) {
        ai_release_error(ld, line, column,
                         "duplicate bundle \"%s\" (first defined in %s:%u)",
                         bundle->id, dup->file, dup->line);
        goto failed;
    }

    if (ai_release_set_reserve(ld->tmp, 1) != 0) {
        goto nomem;
    }

    ai_release_set_insert(ld->tmp, bundle);

    return 1;

nomem:

    ai_release_error(ld, 0, 0, "out of memory");

failed:

    ai_release_bundle_free(bundle);

    return 0;
}


void
ai_release_bundle_free(ai_release_bundle_t *bundle)
{
    size_t  i;

    if (bundle == NULL) {
        return;
    }

    for (i = 0; i < bundle->nheaders; i++) {
        free(bundle->headers[i].name);
        free(bundle->headers[i].value);
    }

    for (i = 0; i < bundle->nfiles; i++) {
        free(bundle->files[i].key);
        free(bundle->files[i].path);
        free(bundle->files[i].full_path);
    }

    free(bundle->headers);
    free(bundle->files);
    free(bundle->file);
    free(bundle->name);
    free(bundle->version);
    free(bundle->id);
    free(bundle->upstream);
    free(bundle->model);
    free(bundle->canonical);

    ai_release_contract_free(bundle->contract);
    ai_release_node_free(bundle->root);

    free(bundle);
}


/* makes room for extra bundles so that inserting them cannot fail */

static int
ai_release_set_reserve(ai_release_set_t *set, size_t extra)
{
    size_t                 i, j, need, cap, size, mask;
    ai_release_bundle_t  **bundles, **table, *b;

    need = set->nbundles + extra;

    if (need < set->nbundles || need > ((size_t) -1) / 16) {
        return -1;
    }

    if (need > set->cap) {
        cap = set->cap ? set->cap * 2 : 16;

        while (cap < need) {
            cap *= 2;
        }

        bundles = realloc(set->bundles, cap * sizeof(ai_release_bundle_t *));
        if (bundles == NULL) {
            return -1;
        }

        set->bundles = bundles;
        set->cap = cap;
    }

    if (need * 2 <= set->table_size) {
        return 0;
    }

    size = set->table_size ? set->table_size * 2 : 32;

    while (size < need * 2) {
        size *= 2;
    }

    table = calloc(size, sizeof(ai_release_bundle_t *));
    if (table == NULL) {
        return -1;
    }

    mask = size - 1;

    for (i = 0; i < set->nbundles; i++) {
        b = set->bundles[i];
        j = ai_release_hash32(AI_RELEASE_HASH_SEED, b->id, strlen(b->id))
            & mask;

        while (table[j] != NULL) {
            j = (j + 1) & mask;
        }

        table[j] = b;
    }

    free(set->table);

    set->table = table;
    set->table_size = size;

    return 0;
}


static void
ai_release_set_insert(ai_release_set_t *set, ai_release_bundle_t *bundle)
{
    size_t  i, mask;

    mask = set->table_size - 1;
    i = ai_release_hash32(AI_RELEASE_HASH_SEED, bundle->id,
                          strlen(bundle->id))
        & mask;

    while (set->table[i] != NULL) {
        i = (i + 1) & mask;
    }

    set->table[i] = bundle;
    set->bundles[set->nbundles++] = bundle;
}


void
ai_release_error(ai_release_load_t *ld, unsigned line, unsigned column,
    const char *fmt, ...)
{
    char     msg[AI_RELEASE_MESSAGE_SIZE];
    va_list  args;

    ld->nerrors++;

    if (ai_release_errors_full(ld->errs)) {
        /* beyond the cap: only counted, not formatted */
        ai_release_errors_add(ld->errs, ld->file, line, column, "%s", "");
        return;
    }

    va_start(args, fmt);
    (void) vsnprintf(msg, sizeof(msg), fmt, args);
    va_end(args);

    ai_release_errors_add(ld->errs, ld->file, line, column, "%s", msg);
}
