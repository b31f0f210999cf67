/*
 * Copyright (C) ngx_ai_release authors
 *
 * What the files that read manifests share and nothing else uses: the
 * load context of one call and its error reporter (ai_release_bundle.c),
 * the YAML reader (ai_release_yaml.c), the bundle schema
 * (ai_release_schema.c), the canonical form and digest
 * (ai_release_digest.c) and two string helpers (ai_release_util.c).
 */

#ifndef _AI_RELEASE_INTERNAL_H_INCLUDED_
#define _AI_RELEASE_INTERNAL_H_INCLUDED_


#include "ai_release_core.h"


typedef struct ai_release_load_s  ai_release_load_t;

/*
 * Called with the root of each document that is not empty: returns 1 when
 * it keeps the tree (its nodes then count towards AI_RELEASE_MAX_NODES
 * until the end of the file), 0 when the tree was freed.
 */
typedef int (*ai_release_document_pt)(ai_release_load_t *ld,
    ai_release_node_t *root, unsigned line, unsigned column, unsigned index,
    size_t nerrors);

/* one call of ai_release_set_load_file(), _load_glob() or _load_buffer() */

struct ai_release_load_s {
    ai_release_set_t       *set;        /* committed bundles */
    ai_release_set_t       *tmp;        /* this call's bundles */
    ai_release_errors_t    *errs;
    const char             *file;       /* manifest, or glob pattern */
    size_t                  prefix_len; /* of file, up to its last '/' */
    const char             *data;
    size_t                  len;
    size_t                  nerrors;    /* added during this call */
};


/* ai_release_bundle.c */

/* adds an error at file:line:column of the manifest being read */
void ai_release_error(ai_release_load_t *ld, unsigned line, unsigned column,
    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
void ai_release_bundle_free(ai_release_bundle_t *bundle);


/* ai_release_yaml.c */

/*
 * Reads every YAML document of data, handing each tree to document.
 * Returns how many documents were not empty, or -1 when the file could
 * not be read to its end (a syntax error or a limit, already reported).
 */
int ai_release_yaml_read(ai_release_load_t *ld, const char *data, size_t len,
    ai_release_document_pt document);
void ai_release_node_free(ai_release_node_t *node);
/* qsort() order of pointers to a mapping's scalar keys: bytewise, stable */
int ai_release_key_cmp(const void *one, const void *two);
/* two scalars bytewise, the shorter first when one is a prefix */
int ai_release_scalar_cmp(const ai_release_node_t *a,
    const ai_release_node_t *b);


/* ai_release_schema.c */

/*
 * Validates a document against the bundle schema and reads its files.
 * Returns the bundle, which owns root, or NULL, with root freed, when
 * there were errors in it (nerrors: ld->nerrors at its start).
 */
ai_release_bundle_t *ai_release_schema_check(ai_release_load_t *ld,
    ai_release_node_t *root, unsigned line, unsigned column, unsigned index,
    size_t nerrors);


/* ai_release_digest.c */

/* sorts the bundle's files, builds its canonical form and digest */
int ai_release_digest(ai_release_bundle_t *bundle);


/* ai_release_util.c */

char *ai_release_strndup(const char *s, size_t len);
/* the edit distance of two strings of at most AI_RELEASE_DISTANCE_MAX bytes */
#define AI_RELEASE_DISTANCE_MAX     31
size_t ai_release_distance(const char *a, size_t alen, const char *b,
    size_t blen);


#endif /* _AI_RELEASE_INTERNAL_H_INCLUDED_ */
