
/*
 * Copyright (C) ngx_ai_release authors
 *
 * The lock file of immutable versions: a released name@version must keep
 * its digest.  The lock records each bundle's digest and the hash of each
 * of its parts, so that a bundle that changed without a new version can be
 * told what changed.
 *
 *
 * Lock file format (ai-release lock v1)
 * -------------------------------------
 *
 *     # ai-release lock v1: name@version digest, then the hash of each part
 *     support-drafts@4 sha256:<64 hex>
 *       key headers sha256:<64 hex>
 *       key model sha256:<64 hex>
 *       key name sha256:<64 hex>
 *       ...
 *       file prompt.file sha256:<64 hex>
 *
 * Lines end with "\n".  A bundle line is "name@version", one space and the
 * bundle's digest (digest_hex).  Each of its parts follows on a line of its
 * own, indented by two spaces:
 *
 *   - "key KEY sha256:HEX" for every top-level key of the manifest that is
 *     part of the canonical form (all but "eval" and "labels"): the SHA-256
 *     of the canonical serialization of that key's value (see
 *     ai_release_digest.c), e.g. of "m-1" (with the quotes) for
 *     model: m-1;
 *   - "file KEY sha256:HEX" for every referenced file ("prompt.file",
 *     "system_instructions.file", "tool_schema"): the SHA-256 of its bytes,
 *     as in the canonical form.
 *
 * Bundles are sorted bytewise by name@version; within a bundle the "key"
 * lines come first, then the "file" lines, each sorted bytewise by key.
 * HEX is lowercase.  When reading, blank lines and lines starting with "#"
 * are ignored, parts may be indented by any run of spaces and tabs, and a
 * CR before the LF is accepted.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai_release_core.h"


#define AI_RELEASE_LOCK_HEADER                                               \
    "# ai-release lock v1: name@version digest, then the hash of each part\n"



typedef struct {
    unsigned                 file;      /* a "file" part, else a "key" */
    char                    *name;
    char                     sha256[AI_RELEASE_DIGEST_HEX_LEN + 1];
} ai_release_lock_part_t;


typedef struct {
    char                    *id;
    char                     digest[AI_RELEASE_DIGEST_HEX_LEN + 1];
    unsigned                 line;
    ai_release_lock_part_t  *parts;
    size_t                   nparts;
    size_t                   cap;
} ai_release_lock_entry_t;


struct ai_release_lock_s {
    char                    *path;
    ai_release_lock_entry_t *entries;   /* sorted by id */
    size_t                   n;
    size_t                   cap;
    unsigned                 bundle_lines;  /* seen so far, even bad ones */
};


static ai_release_lock_t *ai_release_lock_new(const char *path,
    ai_release_errors_t *errs);
static ai_release_lock_t *ai_release_lock_read(ai_release_lock_t *lock,
    FILE *f, ai_release_errors_t *errs);
static int ai_release_lock_line(ai_release_lock_t *lock, char *line,
    unsigned lineno, ai_release_lock_entry_t **cur, ai_release_errors_t *errs);
static size_t ai_release_lock_split(char *s, char **tokens, size_t max);
static int ai_release_valid_hash(const char *s);
static int ai_release_valid_id(const char *s);
static int ai_release_entry_cmp(const void *one, const void *two);
static int ai_release_part_cmp(const void *one, const void *two);
static int ai_release_bundle_id_cmp(const void *one, const void *two);
static const ai_release_lock_part_t *ai_release_lock_part(
    const ai_release_lock_entry_t *e, unsigned file, const char *name);
static const ai_release_part_t *ai_release_bundle_part(
    const ai_release_part_t *parts, size_t n, unsigned file,
    const char *name);
static int ai_release_file_changed(const ai_release_lock_entry_t *e,
    const ai_release_part_t *parts, size_t n, const char *name);


/*
 * Read as manifests and reports are: a regular file (a FIFO or a device
 * is refused without blocking), at most AI_RELEASE_MAX_FILE_SIZE bytes.
 */

ai_release_lock_t *
ai_release_lock_load(const char *path, ai_release_errors_t *errs)
{
    int                 rc, err;
    char               *data;
    size_t              len;
    ai_release_lock_t  *lock;

    rc = ai_release_read_file(path, &data, &len, &err);

    if (rc != 0) {
        ai_release_errors_add(errs, path, 0, 0, "cannot read lock file: %s",
                              ai_release_read_error(rc, err));
        return NULL;
    }

    lock = ai_release_lock_load_buffer(path, data, len, errs);

    free(data);

    return lock;
}


ai_release_lock_t *
ai_release_lock_load_buffer(const char *name, const char *data, size_t len,
    ai_release_errors_t *errs)
{
    FILE               *f;
    ai_release_lock_t  *lock;

    static char  empty[1];

    lock = ai_release_lock_new(name, errs);
    if (lock == NULL) {
        return NULL;
    }

    if (data == NULL || len == 0) {
        data = empty;
        len = 0;
    }

    /* "r": the buffer is only read */
    f = fmemopen((void *) data, len, "r");
    if (f == NULL) {
        ai_release_errors_add(errs, name, 0, 0, "cannot read lock file: %s",
                              strerror(errno));
        ai_release_lock_free(lock);
        return NULL;
    }

    return ai_release_lock_read(lock, f, errs);
}


static ai_release_lock_t *
ai_release_lock_new(const char *path, ai_release_errors_t *errs)
{
    ai_release_lock_t  *lock;

    lock = calloc(1, sizeof(ai_release_lock_t));
    if (lock == NULL) {
        ai_release_errors_add(errs, path, 0, 0, "out of memory");
        return NULL;
    }

    lock->path = strdup(path);
    if (lock->path == NULL) {
        ai_release_errors_add(errs, path, 0, 0, "out of memory");
        ai_release_lock_free(lock);
        return NULL;
    }

    return lock;
}


/* reads and closes f; the lock, or NULL (and the lock freed) on errors */

static ai_release_lock_t *
ai_release_lock_read(ai_release_lock_t *lock, FILE *f,
    ai_release_errors_t *errs)
{
    char                     *line;
    size_t                    i, size, nerrors;
    ssize_t                   len;
    unsigned                  lineno;
    const char               *path;
    ai_release_lock_entry_t  *cur, *e;

    nerrors = errs ? errs->n : 0;
    path = lock->path;

    line = NULL;
    size = 0;
    lineno = 0;
    cur = NULL;

    ai_release_errors_file_begin(errs);

    while ((len = getline(&line, &size, f)) != -1) {
        lineno++;

        if (memchr(line, '\0', (size_t) len) != NULL) {
            ai_release_errors_add(errs, path, lineno, 0,
                                  "a lock file line cannot contain NUL");
            cur = NULL;
            continue;
        }

        if (ai_release_lock_line(lock, line, lineno, &cur, errs) != 0) {
            break;
        }
    }

    if (ferror(f)) {
        ai_release_errors_add(errs, path, 0, 0, "cannot read lock file: %s",
                              strerror(errno));
    }

    free(line);
    (void) fclose(f);

    /* sorted by id, then line: a duplicate follows its first */

    if (lock->n > 1) {
        qsort(lock->entries, lock->n, sizeof(ai_release_lock_entry_t),
              ai_release_entry_cmp);
    }

    for (i = 1; i < lock->n; i++) {
        e = &lock->entries[i];

        if (strcmp(e->id, lock->entries[i - 1].id) == 0) {
            ai_release_errors_add(errs, path, e->line, 0,
                                  "duplicate bundle \"%s\" (first at line "
                                  "%u)", e->id, lock->entries[i - 1].line);
        }
    }

    ai_release_errors_file_end(errs, path);

    if (errs != NULL && errs->n != nerrors) {
        ai_release_lock_free(lock);
        return NULL;
    }

    return lock;
}


/* one line of the lock file; -1 only when out of memory */

static int
ai_release_lock_line(ai_release_lock_t *lock, char *line, unsigned lineno,
    ai_release_lock_entry_t **cur, ai_release_errors_t *errs)
{
    char                     *tok[4];
    size_t                    len, n, cap;
    ai_release_lock_part_t   *part, *parts;
    ai_release_lock_entry_t  *e, *entries;

    len = strlen(line);

    while (len > 0
           && (line[len - 1] == '\n' || line[len - 1] == '\r'
               || line[len - 1] == ' ' || line[len - 1] == '\t'))
    {
        line[--len] = '\0';
    }

    if (len == 0 || line[0] == '#') {
        return 0;
    }

    if (line[0] == ' ' || line[0] == '\t') {

        /* a part of the bundle above */

        n = ai_release_lock_split(line, tok, 4);

        if (n != 3
            || (strcmp(tok[0], "key") != 0 && strcmp(tok[0], "file") != 0)
            || !ai_release_valid_name(tok[1], strlen(tok[1]))
            || !ai_release_valid_hash(tok[2]))
        {
            ai_release_errors_add(errs, lock->path, lineno, 0,
                                  "malformed part line: expected "
                                  "\"key NAME sha256:<64 hex digits>\" or "
                                  "\"file NAME sha256:<64 hex digits>\"");
            return 0;
        }

        e = *cur;

        if (e == NULL) {
            if (lock->bundle_lines == 0) {
                ai_release_errors_add(errs, lock->path, lineno, 0,
                                      "a part line before any bundle line");
            }

            /* else: the parts of a malformed bundle line */
            return 0;
        }

        if (ai_release_lock_part(e, tok[0][0] == 'f', tok[1]) != NULL) {
            ai_release_errors_add(errs, lock->path, lineno, 0,
                                  "duplicate part \"%s %s\" of \"%s\"",
                                  tok[0], tok[1], e->id);
            return 0;
        }

        if (e->nparts == e->cap) {
            cap = e->cap ? e->cap * 2 : 8;

            parts = realloc(e->parts, cap * sizeof(ai_release_lock_part_t));
            if (parts == NULL) {
                goto nomem;
            }

            e->parts = parts;
            e->cap = cap;
        }

        part = &e->parts[e->nparts];

        part->file = (tok[0][0] == 'f');
        part->name = strdup(tok[1]);

        if (part->name == NULL) {
            goto nomem;
        }

        memcpy(part->sha256, tok[2], AI_RELEASE_DIGEST_HEX_LEN + 1);

        e->nparts++;

        return 0;
    }

    /* a bundle line */

    *cur = NULL;
    lock->bundle_lines++;

    n = ai_release_lock_split(line, tok, 3);

    if (n != 2 || !ai_release_valid_id(tok[0])
        || !ai_release_valid_hash(tok[1]))
    {
        ai_release_errors_add(errs, lock->path, lineno, 0,
                              "malformed line: expected "
                              "\"NAME@VERSION sha256:<64 hex digits>\", "
                              "or an indented part line");
        return 0;
    }

    if (lock->n == lock->cap) {
        cap = lock->cap ? lock->cap * 2 : 16;

        entries = realloc(lock->entries,
                          cap * sizeof(ai_release_lock_entry_t));
        if (entries == NULL) {
            goto nomem;
        }

        lock->entries = entries;
        lock->cap = cap;
    }

    e = &lock->entries[lock->n];
    memset(e, 0, sizeof(ai_release_lock_entry_t));

    e->id = strdup(tok[0]);
    if (e->id == NULL) {
        goto nomem;
    }

    memcpy(e->digest, tok[1], AI_RELEASE_DIGEST_HEX_LEN + 1);
    e->line = lineno;

    lock->n++;

    *cur = e;

    return 0;

nomem:

    ai_release_errors_add(errs, lock->path, 0, 0, "out of memory");

    return -1;
}


/* splits at runs of spaces and tabs; the number of tokens, at most max */

static size_t
ai_release_lock_split(char *s, char **tokens, size_t max)
{
    size_t  n;

    n = 0;

    for ( ;; ) {
        while (*s == ' ' || *s == '\t') {
            *s++ = '\0';
        }

        if (*s == '\0' || n == max) {
            return n;
        }

        tokens[n++] = s;

        while (*s != '\0' && *s != ' ' && *s != '\t') {
            s++;
        }
    }
}


/* "sha256:" and 64 lowercase hex digits */

static int
ai_release_valid_hash(const char *s)
{
    size_t  i;

    if (strlen(s) != AI_RELEASE_DIGEST_HEX_LEN
        || memcmp(s, "sha256:", 7) != 0)
    {
        return 0;
    }

    for (i = 7; i < AI_RELEASE_DIGEST_HEX_LEN; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }

    return 1;
}


/* name@version, both [A-Za-z0-9._-]+ */

static int
ai_release_valid_id(const char *s)
{
    const char  *at;

    at = strchr(s, '@');

    return at != NULL
           && ai_release_valid_name(s, (size_t) (at - s))
           && ai_release_valid_name(at + 1, strlen(at + 1));
}


void
ai_release_lock_free(ai_release_lock_t *lock)
{
    size_t  i, j;

    if (lock == NULL) {
        return;
    }

    for (i = 0; i < lock->n; i++) {
        for (j = 0; j < lock->entries[i].nparts; j++) {
            free(lock->entries[i].parts[j].name);
        }

        free(lock->entries[i].parts);
        free(lock->entries[i].id);
    }

    free(lock->entries);
    free(lock->path);
    free(lock);
}


ai_release_lock_e
ai_release_lock_check(const ai_release_lock_t *lock,
    const ai_release_bundle_t *b, ai_release_errors_t *errs)
{
    int                             rc;
    FILE                           *msg;
    char                           *text;
    char                            q[AI_RELEASE_QUOTE_SIZE];
    size_t                          i, n, len, nchanged;
    ai_release_part_t              *parts;
    ai_release_lock_entry_t         key;
    const ai_release_part_t        *bp;
    const ai_release_lock_part_t   *lp;
    const ai_release_lock_entry_t  *e;

    key.id = b->id;
    key.line = 0;

    e = NULL;

    if (lock->n > 0) {
        e = bsearch(&key, lock->entries, lock->n,
                    sizeof(ai_release_lock_entry_t), ai_release_entry_cmp);
    }

    if (e == NULL) {
        ai_release_errors_add(errs, b->file, b->line, b->column,
                              "bundle \"%s\" is not in the lock file \"%s\": "
                              "add it with \"ai-release lock MANIFEST... > "
                              "%s\"", b->id, lock->path, lock->path);
        return AI_RELEASE_LOCK_MISSING;
    }

    if (strcmp(e->digest, b->digest_hex) == 0) {
        return AI_RELEASE_LOCK_OK;
    }

    /* what changed */

    if (ai_release_bundle_parts(b, &parts, &n) != 0) {
        ai_release_errors_add(errs, b->file, 0, 0, "out of memory");
        return AI_RELEASE_LOCK_CHANGED;
    }

    text = NULL;
    len = 0;

    msg = open_memstream(&text, &len);
    if (msg == NULL) {
        ai_release_parts_free(parts, n);
        ai_release_errors_add(errs, b->file, 0, 0, "out of memory");
        return AI_RELEASE_LOCK_CHANGED;
    }

    nchanged = 0;

#define AI_CHANGED(...)                                                      \
    do {                                                                     \
        (void) fputs(nchanged++ ? ", " : "", msg);                           \
        (void) fprintf(msg, __VA_ARGS__);                                    \
    } while (0)

    if (e->nparts > 0) {

        /* the referenced files first: they are what is edited in place */

        for (i = 0; i < n; i++) {
            bp = &parts[i];

            if (bp->path == NULL) {
                continue;
            }

            lp = ai_release_lock_part(e, 1, bp->name);

            if (lp == NULL || strcmp(lp->sha256, bp->sha256) != 0) {
                AI_CHANGED("%s changed (%s)", bp->name,
                           ai_release_quote(bp->path, strlen(bp->path),
                                                 q));
            }
        }

        for (i = 0; i < e->nparts; i++) {
            lp = &e->parts[i];

            if (lp->file
                && ai_release_bundle_part(parts, n, 1, lp->name) == NULL)
            {
                AI_CHANGED("%s changed (removed)", lp->name);
            }
        }

        /* then the manifest keys; "tool_schema" is both: named once */

        for (i = 0; i < n; i++) {
            bp = &parts[i];

            if (bp->path != NULL) {
                continue;
            }

            lp = ai_release_lock_part(e, 0, bp->name);

            if (lp != NULL && strcmp(lp->sha256, bp->sha256) == 0) {
                continue;
            }

            if (!ai_release_file_changed(e, parts, n, bp->name)) {
                AI_CHANGED("%s changed", bp->name);
            }
        }

        for (i = 0; i < e->nparts; i++) {
            lp = &e->parts[i];

            if (!lp->file
                && ai_release_bundle_part(parts, n, 0, lp->name) == NULL
                && !ai_release_file_changed(e, parts, n, lp->name))
            {
                AI_CHANGED("%s changed", lp->name);
            }
        }
    }

#undef AI_CHANGED

    if (nchanged == 0) {
        /* the lock has no parts, or was edited by hand */
        (void) fprintf(msg, "its digest is %.*s, the lock has %.*s",
                       (int) AI_RELEASE_DIGEST_SHORT_LEN, b->digest_hex,
                       (int) AI_RELEASE_DIGEST_SHORT_LEN, e->digest);
    }

    rc = fclose(msg);

    ai_release_parts_free(parts, n);

    if (rc != 0 || text == NULL) {
        free(text);
        ai_release_errors_add(errs, b->file, 0, 0, "out of memory");
        return AI_RELEASE_LOCK_CHANGED;
    }

    ai_release_errors_add(errs, b->file, b->line, b->column,
                          "bundle \"%s\" changed without a new version: %s; "
                          "give it a new version, or if this change is "
                          "intended, update the lock with \"ai-release "
                          "lock\"", b->id, text);

    free(text);

    return AI_RELEASE_LOCK_CHANGED;
}


int
ai_release_lock_write(FILE *out, ai_release_bundle_t **bundles, size_t n)
{
    int                   rc;
    size_t                i, j, nparts;
    ai_release_part_t    *parts;
    ai_release_bundle_t **sorted;

    sorted = NULL;

    if (n > 0) {
        sorted = malloc(n * sizeof(ai_release_bundle_t *));
        if (sorted == NULL) {
            return -1;
        }

        memcpy(sorted, bundles, n * sizeof(ai_release_bundle_t *));
        qsort(sorted, n, sizeof(ai_release_bundle_t *),
              ai_release_bundle_id_cmp);
    }

    rc = 0;

    (void) fputs(AI_RELEASE_LOCK_HEADER, out);

    for (i = 0; i < n; i++) {
        if (ai_release_bundle_parts(sorted[i], &parts, &nparts) != 0) {
            rc = -1;
            break;
        }

        (void) fprintf(out, "%s %s\n", sorted[i]->id, sorted[i]->digest_hex);

        for (j = 0; j < nparts; j++) {
            (void) fprintf(out, "  %s %s %s\n", parts[j].kind, parts[j].name,
                           parts[j].sha256);
        }

        ai_release_parts_free(parts, nparts);
    }

    free(sorted);

    if (fflush(out) != 0 || ferror(out)) {
        rc = -1;
    }

    return rc;
}


int
ai_release_bundle_parts(const ai_release_bundle_t *b,
    ai_release_part_t **out, size_t *nout)
{
    char                     *canonical;
    size_t                    i, n, nkeys, len;
    unsigned char             sha[AI_RELEASE_SHA256_LEN];
    ai_release_part_t        *parts, *p;
    const ai_release_node_t  *key;

    *out = NULL;
    *nout = 0;

    nkeys = (b->root != NULL && b->root->type == AI_RELEASE_NODE_MAP)
            ? b->root->nitems : 0;

    if (nkeys + b->nfiles == 0) {
        return 0;
    }

    parts = calloc(nkeys + b->nfiles, sizeof(ai_release_part_t));
    if (parts == NULL) {
        return -1;
    }

    n = 0;

    for (i = 0; i < nkeys; i++) {
        key = b->root->items[2 * i];

        if (key->type != AI_RELEASE_NODE_SCALAR
            || (key->len == 4 && memcmp(key->value, "eval", 4) == 0)
            || (key->len == 6 && memcmp(key->value, "labels", 6) == 0))
        {
            continue;
        }

        canonical = ai_release_node_canonical(b->root->items[2 * i + 1],
                                              &len);
        if (canonical == NULL) {
            free(parts);
            return -1;
        }

        ai_release_sha256(canonical, len, sha);
        free(canonical);

        p = &parts[n++];

        p->kind = "key";
        p->name = key->value;
        p->path = NULL;

        ai_release_digest_format(sha, p->sha256);
    }

    if (n > 1) {
        qsort(parts, n, sizeof(ai_release_part_t), ai_release_part_cmp);
    }

    nkeys = n;

    for (i = 0; i < b->nfiles; i++) {
        p = &parts[n++];

        p->kind = "file";
        p->name = b->files[i].key;
        p->path = b->files[i].path;

        ai_release_digest_format(b->files[i].sha256, p->sha256);
    }

    if (b->nfiles > 1) {
        qsort(parts + nkeys, b->nfiles, sizeof(ai_release_part_t),
              ai_release_part_cmp);
    }

    *out = parts;
    *nout = n;

    return 0;
}


void
ai_release_parts_free(ai_release_part_t *parts, size_t n)
{
    (void) n;

    free(parts);
}


static int
ai_release_entry_cmp(const void *one, const void *two)
{
    int                             rc;
    const ai_release_lock_entry_t  *a, *b;

    a = one;
    b = two;

    rc = strcmp(a->id, b->id);

    if (rc != 0 || a->line == 0 || b->line == 0) {
        return rc;
    }

    return (a->line > b->line) - (a->line < b->line);
}


static int
ai_release_part_cmp(const void *one, const void *two)
{
    const ai_release_part_t  *a, *b;

    a = one;
    b = two;

    return strcmp(a->name, b->name);
}


static int
ai_release_bundle_id_cmp(const void *one, const void *two)
{
    const ai_release_bundle_t  *a, *b;

    a = *(ai_release_bundle_t *const *) one;
    b = *(ai_release_bundle_t *const *) two;

    return strcmp(a->id, b->id);
}


static const ai_release_lock_part_t *
ai_release_lock_part(const ai_release_lock_entry_t *e, unsigned file,
    const char *name)
{
    size_t  i;

    for (i = 0; i < e->nparts; i++) {
        if (e->parts[i].file == file && strcmp(e->parts[i].name, name) == 0) {
            return &e->parts[i];
        }
    }

    return NULL;
}


static const ai_release_part_t *
ai_release_bundle_part(const ai_release_part_t *parts, size_t n,
    unsigned file, const char *name)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if ((parts[i].path != NULL) == (file != 0)
            && strcmp(parts[i].name, name) == 0)
        {
            return &parts[i];
        }
    }

    return NULL;
}


/* whether the file part of that name is named as changed */

static int
ai_release_file_changed(const ai_release_lock_entry_t *e,
    const ai_release_part_t *parts, size_t n, const char *name)
{
    const ai_release_part_t       *bp;
    const ai_release_lock_part_t  *lp;

    bp = ai_release_bundle_part(parts, n, 1, name);
    lp = ai_release_lock_part(e, 1, name);

    if (bp == NULL && lp == NULL) {
        return 0;
    }

    return bp == NULL || lp == NULL || strcmp(bp->sha256, lp->sha256) != 0;
}


/* a value for a message: escaped, at most AI_RELEASE_LOCK_QUOTE_MAX bytes */

