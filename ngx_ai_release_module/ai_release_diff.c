
/*
 * Copyright (C) ngx_ai_release authors
 *
 * The difference of two bundles, component by component, over exactly
 * what their digests cover (ai_release_diff.h tells the format).  Both
 * trees are walked together: the keys of two mappings are merged in
 * bytewise order, mappings are compared key by key, every other value
 * whole (as its canonical serialization), and a referenced file by the
 * SHA-256 of its bytes.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai_release_internal.h"
#include "ai_release_diff.h"


/* a shown value or path: its text, "..." and the NUL */
#define AI_RELEASE_DIFF_TEXT_SIZE   (AI_RELEASE_DIFF_PATH_MAX + 8)
#define AI_RELEASE_DIFF_ITEM_SIZE   (3 * AI_RELEASE_DIFF_TEXT_SIZE + 16)
/* what ends a text that was cut */
#define AI_RELEASE_DIFF_MORE        ", ..."


/* a text of at most max bytes (plus "..."), cut at a UTF-8 boundary */
typedef struct {
    char                        data[AI_RELEASE_DIFF_TEXT_SIZE];
    size_t                      len;
    size_t                      max;
    unsigned                    cut:1;
} ai_release_text_t;


typedef struct {
    const ai_release_bundle_t  *old;
    const ai_release_bundle_t  *new;

    char                       *buf;
    size_t                      size;
    size_t                      len;
    size_t                      n;          /* components that differ */
    size_t                      written;    /* of them in buf */
    unsigned                    full:1;

    /* the dotted path of the values compared; long: cut */
    char                        path[AI_RELEASE_DIFF_PATH_MAX + 1];
    size_t                      plen;
    unsigned                    long_path:1;
} ai_release_diff_t;


static void ai_release_diff_maps(ai_release_diff_t *d,
    const ai_release_node_t *a, const ai_release_node_t *b, int top);
static ai_release_node_t ***ai_release_diff_keys(const ai_release_node_t *map,
    size_t *n);
static void ai_release_diff_values(ai_release_diff_t *d,
    const ai_release_node_t *a, const ai_release_node_t *b);
static int ai_release_diff_skip(const ai_release_node_t *key);
static int ai_release_diff_equal(const ai_release_node_t *a,
    const ai_release_node_t *b);
static const ai_release_file_t *ai_release_diff_file(
    const ai_release_bundle_t *b, const char *key);
static void ai_release_diff_emit(ai_release_diff_t *d,
    const ai_release_node_t *a, const ai_release_node_t *b, int changed);
static void ai_release_diff_value(ai_release_text_t *t,
    const ai_release_node_t *node, const ai_release_node_t *other);
static void ai_release_diff_node(ai_release_text_t *t,
    const ai_release_node_t *node, int quote);
static void ai_release_text_init(ai_release_text_t *t, size_t max);
static void ai_release_text_add(ai_release_text_t *t, const char *s,
    size_t len);
static void ai_release_text_end(ai_release_text_t *t);


size_t
ai_release_diff(const ai_release_bundle_t *old,
    const ai_release_bundle_t *new, char *buf, size_t size)
{
    ai_release_diff_t  d;

    memset(&d, 0, sizeof(ai_release_diff_t));

    d.old = old;
    d.new = new;
    d.buf = buf;
    d.size = size;

    if (size > 0) {
        buf[0] = '\0';
    }

    ai_release_diff_maps(&d, old->root, new->root, 1);

    return d.n;
}


void
ai_release_diff_ids(const ai_release_bundle_t *old,
    const ai_release_bundle_t *new, char *buf, size_t size)
{
    if (size == 0) {
        return;
    }

    if (strcmp(old->name, new->name) != 0) {
        (void) snprintf(buf, size, "%s -> %s", old->id, new->id);

    } else if (strcmp(old->version, new->version) != 0) {
        (void) snprintf(buf, size, "%s -> @%s", old->id, new->version);

    } else {
        (void) snprintf(buf, size, "%s", old->id);
    }
}


/*
 * The keys of two mappings (either may be NULL: absent) merged in
 * bytewise order; at the top the identity and what the digest leaves out
 * are skipped
 */

static void
ai_release_diff_maps(ai_release_diff_t *d, const ai_release_node_t *a,
    const ai_release_node_t *b, int top)
{
    int                  rc;
    size_t               i, j, na, nb, plen;
    unsigned             long_path;
    ai_release_node_t   *key, *va, *vb;
    ai_release_node_t ***ka, ***kb;

    ka = ai_release_diff_keys(a, &na);
    kb = ai_release_diff_keys(b, &nb);

    if ((na && ka == NULL) || (nb && kb == NULL)) {
        /* out of memory: the mapping is named whole */
        free(ka);
        free(kb);

        if (!ai_release_diff_equal(a, b)) {
            ai_release_diff_emit(d, NULL, NULL, 1);
        }

        return;
    }

    plen = d->plen;
    long_path = d->long_path;

    i = 0;
    j = 0;

    while (i < na || j < nb) {

        if (i == na) {
            rc = 1;

        } else if (j == nb) {
            rc = -1;

        } else {
            rc = ai_release_scalar_cmp(ka[i][0], kb[j][0]);
        }

        key = (rc <= 0) ? ka[i][0] : kb[j][0];
        va = (rc <= 0) ? ka[i][1] : NULL;
        vb = (rc >= 0) ? kb[j][1] : NULL;

        i += (rc <= 0);
        j += (rc >= 0);

        if (top && ai_release_diff_skip(key)) {
            continue;
        }

        /* the path of the key: "retrieval.top_k" */

        d->plen = plen;
        d->long_path = long_path;

        if (!d->long_path
            && d->plen + (d->plen > 0) + key->len <= AI_RELEASE_DIFF_PATH_MAX)
        {
            if (d->plen > 0) {
                d->path[d->plen++] = '.';
            }

            memcpy(d->path + d->plen, key->value, key->len);
            d->plen += key->len;

        } else {
            d->long_path = 1;
        }

        d->path[d->plen] = '\0';

        ai_release_diff_values(d, va, vb);
    }

    d->plen = plen;
    d->long_path = long_path;
    d->path[d->plen] = '\0';

    free(ka);
    free(kb);
}


/* pointers to a mapping's key and value pairs, sorted by key; n: 0 */

static ai_release_node_t ***
ai_release_diff_keys(const ai_release_node_t *map, size_t *n)
{
    size_t               i;
    ai_release_node_t ***keys;

    *n = 0;

    if (map == NULL || map->type != AI_RELEASE_NODE_MAP
        || map->nitems == 0)
    {
        return NULL;
    }

    keys = malloc(map->nitems * sizeof(ai_release_node_t **));
    if (keys == NULL) {
        *n = map->nitems;
        return NULL;
    }

    for (i = 0; i < map->nitems; i++) {
        keys[i] = &map->items[2 * i];
    }

    qsort(keys, map->nitems, sizeof(ai_release_node_t **),
          ai_release_key_cmp);

    *n = map->nitems;

    return keys;
}


/* the values at d->path in the old and the new bundle (NULL: absent) */

static void
ai_release_diff_values(ai_release_diff_t *d, const ai_release_node_t *a,
    const ai_release_node_t *b)
{
    const ai_release_file_t  *fa, *fb;

    if (a && b
        && a->type == AI_RELEASE_NODE_MAP && b->type == AI_RELEASE_NODE_MAP)
    {
        /* key by key, down to the referenced files they name */
        ai_release_diff_maps(d, a, b, 0);
        return;
    }

    if (!ai_release_diff_equal(a, b)) {
        ai_release_diff_emit(d, a, b, 0);
        return;
    }

    if (d->long_path) {
        return;
    }

    /* the same file named: its bytes */

    fa = ai_release_diff_file(d->old, d->path);
    fb = ai_release_diff_file(d->new, d->path);

    if (fa && fb
        && (fa->size != fb->size
            || memcmp(fa->sha256, fb->sha256, AI_RELEASE_SHA256_LEN) != 0))
    {
        ai_release_diff_emit(d, NULL, NULL, 1);
    }
}


/* the identity and the keys the digest leaves out */

static int
ai_release_diff_skip(const ai_release_node_t *key)
{
    static const char  *skip[] = { "name", "version", "eval", "labels" };

    size_t  i;

    for (i = 0; i < sizeof(skip) / sizeof(skip[0]); i++) {
        if (key->len == strlen(skip[i])
            && memcmp(key->value, skip[i], key->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* equal as the digest sees them: the same canonical serialization */

static int
ai_release_diff_equal(const ai_release_node_t *a, const ai_release_node_t *b)
{
    int     eq;
    char   *ca, *cb;
    size_t  la, lb;

    if (a == NULL || b == NULL) {
        return a == b;
    }

    if (a->type != b->type) {
        return 0;
    }

    if (a->type == AI_RELEASE_NODE_SCALAR) {
        return a->literal == b->literal && a->len == b->len
               && memcmp(a->value, b->value, a->len) == 0;
    }

    ca = ai_release_node_canonical(a, &la);
    cb = ai_release_node_canonical(b, &lb);

    /* out of memory: said to differ */
    eq = (ca && cb && la == lb && memcmp(ca, cb, la) == 0);

    free(ca);
    free(cb);

    return eq;
}


static const ai_release_file_t *
ai_release_diff_file(const ai_release_bundle_t *b, const char *key)
{
    size_t  i;

    for (i = 0; i < b->nfiles; i++) {
        if (strcmp(b->files[i].key, key) == 0) {
            return &b->files[i];
        }
    }

    return NULL;
}


/*
 * One component into d->buf: "PATH OLD -> NEW", or "PATH changed"; when
 * it does not fit, "..." ends the text and only the count goes on
 */

static void
ai_release_diff_emit(ai_release_diff_t *d, const ai_release_node_t *a,
    const ai_release_node_t *b, int changed)
{
    int                n;
    char               item[AI_RELEASE_DIFF_ITEM_SIZE];
    size_t             len, sep, more;
    ai_release_text_t  path, va, vb;

    d->n++;

    if (d->full || d->size == 0) {
        return;
    }

    ai_release_text_init(&path, AI_RELEASE_DIFF_PATH_MAX);
    ai_release_text_add(&path, d->path, d->plen);

    if (d->long_path) {
        path.cut = 1;
    }

    ai_release_text_end(&path);

    if (changed) {
        n = snprintf(item, sizeof(item), "%s changed", path.data);

    } else {
        ai_release_text_init(&va, AI_RELEASE_DIFF_VALUE_MAX);
        ai_release_diff_value(&va, a, b);

        ai_release_text_init(&vb, AI_RELEASE_DIFF_VALUE_MAX);
        ai_release_diff_value(&vb, b, a);

        n = snprintf(item, sizeof(item), "%s %s -> %s", path.data, va.data,
                     vb.data);
    }

    len = (n < 0) ? 0 : ((size_t) n < sizeof(item) ? (size_t) n
                                                   : sizeof(item) - 1);

    sep = d->written ? 2 : 0;
    more = sizeof(AI_RELEASE_DIFF_MORE) - 1;

    /* room for this one, and for ", ..." should another follow */

    if (d->len + sep + len + more + 1 <= d->size) {
        memcpy(d->buf + d->len, ", ", sep);
        memcpy(d->buf + d->len + sep, item, len);
        d->len += sep + len;
        d->buf[d->len] = '\0';
        d->written++;
        return;
    }

    d->full = 1;

    if (!d->written) {
        more -= 2;      /* "..." alone */
    }

    if (d->len + more + 1 <= d->size) {
        memcpy(d->buf + d->len, AI_RELEASE_DIFF_MORE
                                + (sizeof(AI_RELEASE_DIFF_MORE) - 1 - more),
               more);
        d->len += more;
        d->buf[d->len] = '\0';
    }
}


/*
 * A value as shown: "(none)" when absent; a scalar as its text, in
 * quotes where only quoting tells it from the other (params: 0.2 and
 * "0.2" send different JSON)
 */

static void
ai_release_diff_value(ai_release_text_t *t, const ai_release_node_t *node,
    const ai_release_node_t *other)
{
    int  quote;

    if (node == NULL) {
        ai_release_text_add(t, "(none)", 6);
        ai_release_text_end(t);
        return;
    }

    quote = (other != NULL && node->type == AI_RELEASE_NODE_SCALAR
             && other->type == AI_RELEASE_NODE_SCALAR
             && !node->literal && other->literal);

    ai_release_diff_node(t, node, quote);
    ai_release_text_end(t);
}


static void
ai_release_diff_node(ai_release_text_t *t, const ai_release_node_t *node,
    int quote)
{
    size_t  i;

    switch (node->type) {

    case AI_RELEASE_NODE_SCALAR:
        if (quote) {
            ai_release_text_add(t, "\"", 1);
        }

        ai_release_text_add(t, node->value, node->len);

        if (quote) {
            ai_release_text_add(t, "\"", 1);
        }

        return;

    case AI_RELEASE_NODE_SEQ:
        ai_release_text_add(t, "[", 1);

        for (i = 0; i < node->nitems && !t->cut; i++) {
            if (i) {
                ai_release_text_add(t, ",", 1);
            }

            ai_release_diff_node(t, node->items[i], 0);
        }

        ai_release_text_add(t, "]", 1);
        return;

    case AI_RELEASE_NODE_MAP:
        ai_release_text_add(t, "{", 1);

        for (i = 0; i < node->nitems && !t->cut; i++) {
            if (i) {
                ai_release_text_add(t, ",", 1);
            }

            ai_release_diff_node(t, node->items[2 * i], 0);
            ai_release_text_add(t, ":", 1);
            ai_release_diff_node(t, node->items[2 * i + 1], 0);
        }

        ai_release_text_add(t, "}", 1);
        return;
    }
}


static void
ai_release_text_init(ai_release_text_t *t, size_t max)
{
    t->len = 0;
    t->max = max;
    t->cut = 0;
    t->data[0] = '\0';
}


/*
 * Appends while there is room: control bytes and DEL as \n, \r, \t or
 * \xNN, every other byte as is (a manifest is valid UTF-8)
 */

static void
ai_release_text_add(ai_release_text_t *t, const char *s, size_t len)
{
    char           esc[5];
    size_t         i, n;
    unsigned char  c;

    static const char  hex[] = "0123456789abcdef";

    for (i = 0; i < len && !t->cut; i++) {
        c = (unsigned char) s[i];

        if (c >= 0x20 && c != 0x7f) {
            esc[0] = (char) c;
            n = 1;

        } else {
            esc[0] = '\\';
            n = 2;

            switch (c) {
            case '\n':
                esc[1] = 'n';
                break;
            case '\r':
                esc[1] = 'r';
                break;
            case '\t':
                esc[1] = 't';
                break;
            default:
                esc[1] = 'x';
                esc[2] = hex[c >> 4];
                esc[3] = hex[c & 0xf];
                n = 4;
            }
        }

        if (t->len + n > t->max) {
            t->cut = 1;
            break;
        }

        memcpy(t->data + t->len, esc, n);
        t->len += n;
    }

    t->data[t->len] = '\0';
}


/* a cut text loses a last character left incomplete, and ends in "..." */

static void
ai_release_text_end(ai_release_text_t *t)
{
    size_t         start, need;
    unsigned char  c;

    if (!t->cut) {
        return;
    }

    start = t->len;

    while (start > 0 && ((unsigned char) t->data[start - 1] & 0xc0) == 0x80) {
        start--;
    }

    if (start > 0) {
        c = (unsigned char) t->data[start - 1];

        need = (c >= 0xf0) ? 4 : (c >= 0xe0) ? 3 : (c >= 0xc0) ? 2 : 1;

        if (need > 1 && t->len - (start - 1) < need) {
            t->len = start - 1;
        }
    }

    memcpy(t->data + t->len, "...", 4);
    t->len += 3;
}
