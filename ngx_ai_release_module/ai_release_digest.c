
/*
 * Copyright (C) ngx_ai_release authors
 *
 * The canonical form of a bundle and its content digest, and the
 * canonical serialization of one node (for the lock file).
 *
 *
 * Canonical form and digest (ai-release-canonical-v1)
 * ---------------------------------------------------
 *
 * The digest of a bundle is SHA-256 over its canonical text:
 *
 *     "ai-release-canonical-v1\n"
 *     JSON-style serialization of the YAML document, without the
 *     top-level keys "eval" and "labels"
 *     "\n"
 *     for every referenced file, in bytewise order of its key:
 *         "file <key> <size> sha256:<64 lowercase hex of its bytes>\n"
 *
 * The serialization has no whitespace at all:
 *
 *   - a mapping is {"k1":v1,"k2":v2}, its keys sorted bytewise (memcmp;
 *     of two keys where one is a prefix of the other, the shorter first);
 *   - a sequence is [a,b,c], in document order;
 *   - a scalar is a JSON string of its exact text: " and \ are escaped
 *     as \" and \\, bytes below 0x20 as \n, \r, \t or \u00XX (lowercase
 *     hex), every other byte is copied as is.
 *
 * Every scalar is a string (YAML tags are ignored), so quoting style,
 * comments, key order and formatting of the YAML do not change the
 * digest, while any change of a value, or of the bytes of a referenced
 * file, does.  One exception: a value of "params" that goes into request
 * bodies as a JSON number, true, false or null (a plain scalar written so,
 * marked literal by the schema) is serialized as written, without quotes,
 * so that temperature: 0.2 and temperature: "0.2", which send different
 * JSON, have different digests.
 *
 * "eval" is left out because it describes how the bundle is judged and
 * the eval report records this very digest; "labels" is free metadata.
 *
 * The referenced files are "prompt.file", "system_instructions.file" and
 * "tool_schema"; their keys are "prompt.file", "system_instructions.file"
 * and "tool_schema", <size> is the decimal byte count.
 *
 * digest_hex is "sha256:" and the 64 lowercase hex digits of the digest,
 * digest_short is "sha256:" and the first 12 of them.
 */



#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai_release_internal.h"


#define AI_RELEASE_CANONICAL_MAGIC  "ai-release-canonical-v1\n"


typedef struct {
    char                   *data;
    size_t                  len;
    size_t                  cap;
    unsigned                failed;
} ai_release_buf_t;


static int ai_release_file_cmp(const void *one, const void *two);
static void ai_release_json_node(ai_release_buf_t *buf,
    ai_release_node_t *node, int top);
static void ai_release_json_string(ai_release_buf_t *buf, const char *s,
    size_t len);
static void ai_release_buf_add(ai_release_buf_t *buf, const char *s,
    size_t len);


int
ai_release_digest(ai_release_bundle_t *bundle)
{
    char               num[32], hex[AI_RELEASE_DIGEST_HEX_LEN + 1];
    size_t             i;
    ai_release_buf_t   buf;
    ai_release_file_t *file;

    if (bundle->nfiles > 1) {
        qsort(bundle->files, bundle->nfiles, sizeof(ai_release_file_t),
              ai_release_file_cmp);
    }

    memset(&buf, 0, sizeof(ai_release_buf_t));

    ai_release_buf_add(&buf, AI_RELEASE_CANONICAL_MAGIC,
                       sizeof(AI_RELEASE_CANONICAL_MAGIC) - 1);

    ai_release_json_node(&buf, bundle->root, 1);

    ai_release_buf_add(&buf, "\n", 1);

    for (i = 0; i < bundle->nfiles; i++) {
        file = &bundle->files[i];

        ai_release_buf_add(&buf, "file ", 5);
        ai_release_buf_add(&buf, file->key, strlen(file->key));

        (void) snprintf(num, sizeof(num), " %lu ",
                        (unsigned long) file->size);
        ai_release_buf_add(&buf, num, strlen(num));

        ai_release_digest_format(file->sha256, hex);
        ai_release_buf_add(&buf, hex, AI_RELEASE_DIGEST_HEX_LEN);

        ai_release_buf_add(&buf, "\n", 1);
    }

    if (buf.failed) {
        free(buf.data);
        return -1;
    }

    bundle->canonical = buf.data;
    bundle->canonical_len = buf.len;

    ai_release_sha256(buf.data, buf.len, bundle->digest);

    ai_release_digest_format(bundle->digest, bundle->digest_hex);

    memcpy(bundle->digest_short, bundle->digest_hex,
           AI_RELEASE_DIGEST_SHORT_LEN);
    bundle->digest_short[AI_RELEASE_DIGEST_SHORT_LEN] = '\0';

    return 0;
}


/* one value in canonical form, for the per-part hashes of the lock file */

char *
ai_release_node_canonical(const ai_release_node_t *node, size_t *len)
{
    ai_release_buf_t  buf;

    memset(&buf, 0, sizeof(ai_release_buf_t));

    ai_release_json_node(&buf, (ai_release_node_t *) node, 0);

    if (buf.failed || buf.data == NULL) {
        free(buf.data);
        return NULL;
    }

    *len = buf.len;

    return buf.data;
}


static int
ai_release_file_cmp(const void *one, const void *two)
{
    const ai_release_file_t  *a, *b;

    a = one;
    b = two;

    return strcmp(a->key, b->key);
}


static void
ai_release_json_node(ai_release_buf_t *buf, ai_release_node_t *node, int top)
{
    size_t               i, n;
    ai_release_node_t   *key;
    ai_release_node_t ***keys;

    switch (node->type) {

    case AI_RELEASE_NODE_SCALAR:
        if (node->literal) {
            ai_release_buf_add(buf, node->value, node->len);

        } else {
            ai_release_json_string(buf, node->value, node->len);
        }

        return;

    case AI_RELEASE_NODE_SEQ:
        ai_release_buf_add(buf, "[", 1);

        for (i = 0; i < node->nitems; i++) {
            if (i) {
                ai_release_buf_add(buf, ",", 1);
            }

            ai_release_json_node(buf, node->items[i], 0);
        }

        ai_release_buf_add(buf, "]", 1);
        return;

    case AI_RELEASE_NODE_MAP:
        break;
    }

    ai_release_buf_add(buf, "{", 1);

    if (node->nitems == 0) {
        ai_release_buf_add(buf, "}", 1);
        return;
    }

    keys = malloc(node->nitems * sizeof(ai_release_node_t **));
    if (keys == NULL) {
        buf->failed = 1;
        return;
    }

    n = 0;

    for (i = 0; i < node->nitems; i++) {
        key = node->items[2 * i];

        if (top
            && ((key->len == 4 && memcmp(key->value, "eval", 4) == 0)
                || (key->len == 6 && memcmp(key->value, "labels", 6) == 0)))
        {
            continue;
        }

        keys[n++] = &node->items[2 * i];
    }

    qsort(keys, n, sizeof(ai_release_node_t **), ai_release_key_cmp);

    for (i = 0; i < n; i++) {
        if (i) {
            ai_release_buf_add(buf, ",", 1);
        }

        ai_release_json_string(buf, keys[i][0]->value, keys[i][0]->len);
        ai_release_buf_add(buf, ":", 1);
        ai_release_json_node(buf, keys[i][1], 0);
    }

    free(keys);

    ai_release_buf_add(buf, "}", 1);
}


static void
ai_release_json_string(ai_release_buf_t *buf, const char *s, size_t len)
{
    char           esc[8];
    size_t         i, start;
    unsigned char  c;

    static const char  hex[] = "0123456789abcdef";

    ai_release_buf_add(buf, "\"", 1);

    start = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }

        ai_release_buf_add(buf, s + start, i - start);
        start = i + 1;

        switch (c) {
        case '"':
            ai_release_buf_add(buf, "\\\"", 2);
            break;
        case '\\':
            ai_release_buf_add(buf, "\\\\", 2);
            break;
        case '\n':
            ai_release_buf_add(buf, "\\n", 2);
            break;
        case '\r':
            ai_release_buf_add(buf, "\\r", 2);
            break;
        case '\t':
            ai_release_buf_add(buf, "\\t", 2);
            break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xf];
            ai_release_buf_add(buf, esc, 6);
        }
    }

    ai_release_buf_add(buf, s + start, len - start);
    ai_release_buf_add(buf, "\"", 1);
}


/* appends, keeping data NUL-terminated; remembers a failure */

static void
ai_release_buf_add(ai_release_buf_t *buf, const char *s, size_t len)
{
    char    *data;
    size_t   cap;

    if (buf->failed) {
        return;
    }

    if (buf->len + len + 1 > buf->cap) {
        cap = buf->cap ? buf->cap : 256;

        while (cap < buf->len + len + 1) {
            cap *= 2;
        }

        data = realloc(buf->data, cap);
        if (data == NULL) {
            buf->failed = 1;
            return;
        }

        buf->data = data;
        buf->cap = cap;
    }

    if (len) {
        memcpy(buf->data + buf->len, s, len);
    }

    buf->len += len;
    buf->data[buf->len] = '\0';
}
