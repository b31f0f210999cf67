
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Behaviour bundle manifests: YAML (libyaml events) into a node tree,
 * validation, referenced files, the canonical form and its digest, and
 * the bundle set with its hash table.
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
 * file, does.  "eval" is left out because it describes how the bundle is
 * judged and the eval report records this very digest; "labels" is free
 * metadata.
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

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <jansson.h>
#include <yaml.h>

#include "ai_release_core.h"


#define AI_RELEASE_CANONICAL_MAGIC  "ai-release-canonical-v1\n"

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


typedef struct {
    ai_release_node_t      *node;
    size_t                  n;          /* items pushed so far */
    size_t                  cap;
} ai_release_frame_t;


typedef struct {
    ai_release_node_t      *root;
    ai_release_frame_t      stack[AI_RELEASE_MAX_DEPTH];
    size_t                  depth;
    size_t                  nodes;      /* of the document being read */
    size_t                  kept;       /* of the file's bundles so far */
    unsigned                root_empty:1;
    unsigned                skip:1;
} ai_release_builder_t;


typedef struct {
    ai_release_set_t       *set;        /* committed bundles */
    ai_release_set_t       *tmp;        /* this call's bundles */
    ai_release_errors_t    *errs;
    const char             *file;       /* manifest, or glob pattern */
    size_t                  prefix_len; /* of file, up to its last '/' */
    const char             *data;
    size_t                  len;
    size_t                  nerrors;    /* added during this call */
} ai_release_load_t;


typedef struct {
    char                   *data;
    size_t                  len;
    size_t                  cap;
    unsigned                failed;
} ai_release_buf_t;


static void ai_release_load_init(ai_release_load_t *ld, ai_release_set_t *set,
    ai_release_errors_t *errs);
static int ai_release_load_finish(ai_release_load_t *ld);
static void ai_release_load_path(ai_release_load_t *ld, const char *path);
static void ai_release_load_data(ai_release_load_t *ld, const char *data,
    size_t len);
static void ai_release_syntax_error(ai_release_load_t *ld,
    yaml_parser_t *parser);
static int ai_release_builder_event(ai_release_load_t *ld,
    ai_release_builder_t *b, yaml_event_t *event);
static int ai_release_builder_add(ai_release_load_t *ld,
    ai_release_builder_t *b, ai_release_node_t *node);
static void ai_release_builder_cleanup(ai_release_builder_t *b);
static ai_release_node_t *ai_release_node_new(ai_release_node_type_e type,
    yaml_mark_t *mark, const unsigned char *value, size_t len);
static void ai_release_node_free(ai_release_node_t *node);
static void ai_release_map_check(ai_release_load_t *ld,
    ai_release_node_t *map);
static int ai_release_scalar_cmp(const ai_release_node_t *a,
    const ai_release_node_t *b);
static int ai_release_key_cmp(const void *one, const void *two);
static void ai_release_document(ai_release_load_t *ld,
    ai_release_node_t *root, yaml_mark_t *mark, unsigned index,
    size_t nerrors);
static ai_release_node_t *ai_release_required(ai_release_load_t *ld,
    ai_release_node_t *root, const char *key, unsigned line,
    unsigned column);
static int ai_release_valid_upstream(const char *s, size_t len);
static int ai_release_valid_model(const char *s, size_t len);
static void ai_release_check_headers(ai_release_load_t *ld,
    ai_release_bundle_t *bundle, ai_release_node_t *map);
static void ai_release_check_system(ai_release_load_t *ld,
    ai_release_bundle_t *bundle, ai_release_node_t *value);
static void ai_release_check_file(ai_release_load_t *ld,
    ai_release_bundle_t *bundle, const char *key, ai_release_node_t *value,
    int json);
static const char *ai_release_suggest(const char *s, size_t len);
static int ai_release_file_cmp(const void *one, const void *two);
static int ai_release_canonical(ai_release_bundle_t *bundle);
static void ai_release_json_node(ai_release_buf_t *buf,
    ai_release_node_t *node, int top);
static void ai_release_json_string(ai_release_buf_t *buf, const char *s,
    size_t len);
static void ai_release_buf_add(ai_release_buf_t *buf, const char *s,
    size_t len);
static void ai_release_bundle_free(ai_release_bundle_t *bundle);
static int ai_release_set_reserve(ai_release_set_t *set, size_t extra);
static void ai_release_set_insert(ai_release_set_t *set,
    ai_release_bundle_t *bundle);
static void ai_release_error(ai_release_load_t *ld, unsigned line,
    unsigned column, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static char *ai_release_strndup(const char *s, size_t len);


static const char  *ai_release_keys[] = {
    "name",
    "version",
    "upstream",
    "model",
    "prompt",
    "system_instructions",
    "tool_schema",
    "retrieval",
    "output_contract",
    "eval",
    "headers",
    "labels",
    NULL
};

/* top-level keys that must be mappings, with any content */
static const char  *ai_release_map_keys[] = {
    "retrieval",
    "output_contract",
    "eval",
    "labels",
    NULL
};


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
    int                    done, rc;
    size_t                 nerrors, kept;
    unsigned               index, nbundles;
    yaml_mark_t            mark;
    yaml_event_t           event;
    yaml_parser_t          parser;
    ai_release_node_t     *root;
    ai_release_builder_t   b;

    if (data == NULL) {
        data = "";
        len = 0;
    }

    ld->data = data;
    ld->len = len;

    if (!yaml_parser_initialize(&parser)) {
        ai_release_error(ld, 0, 0, "out of memory");
        return;
    }

    ai_release_errors_file_begin(ld->errs);

    yaml_parser_set_input_string(&parser, (const unsigned char *) data, len);

    memset(&b, 0, sizeof(ai_release_builder_t));
    memset(&mark, 0, sizeof(yaml_mark_t));

    done = 0;
    index = 0;
    nbundles = 0;
    nerrors = ld->nerrors;

    while (!done) {

        if (!yaml_parser_parse(&parser, &event)) {
            ai_release_syntax_error(ld, &parser);
            break;
        }

        rc = 0;

        switch (event.type) {

        case YAML_STREAM_END_EVENT:
            done = 1;
            break;

        case YAML_DOCUMENT_START_EVENT:
            ai_release_builder_cleanup(&b);
            mark = event.start_mark;
            nerrors = ld->nerrors;
            break;

        case YAML_DOCUMENT_END_EVENT:
            root = b.root;
            b.root = NULL;

            if (root == NULL || b.root_empty) {
                ai_release_node_free(root);

            } else if (b.skip) {
                nbundles++;
                ai_release_node_free(root);

            } else {
                nbundles++;
                kept = ld->tmp->nbundles;

                ai_release_document(ld, root, &mark, index, nerrors);

                if (ld->tmp->nbundles != kept) {
                    /* its nodes stay in memory with the bundle */
                    b.kept += b.nodes;
                }
            }

            b.root_empty = 0;
            b.skip = 0;
            b.nodes = 0;
            index++;
            break;

        case YAML_STREAM_START_EVENT:
        case YAML_NO_EVENT:
            break;

        default:
            rc = ai_release_builder_event(ld, &b, &event);
            break;
        }

        yaml_event_delete(&event);

        if (rc != 0) {
            break;
        }
    }

    ai_release_builder_cleanup(&b);
    yaml_parser_delete(&parser);

    if (done && nbundles == 0) {
        ai_release_error(ld, 0, 0, "no bundle in manifest");
    }

    ai_release_errors_file_end(ld->errs, ld->file);
}


static void
ai_release_syntax_error(ai_release_load_t *ld, yaml_parser_t *parser)
{
    size_t       i, line, column;
    const char  *problem;

    problem = parser->problem ? parser->problem : "unknown error";

    switch (parser->error) {

    case YAML_MEMORY_ERROR:
        ai_release_error(ld, 0, 0, "out of memory");
        return;

    case YAML_READER_ERROR:
        line = 1;
        column = 1;

        for (i = 0; i < parser->problem_offset && i < ld->len; i++) {
            if (ld->data[i] == '\n') {
                line++;
                column = 1;

            } else {
                column++;
            }
        }

        if (parser->problem_value != -1) {
            ai_release_error(ld, (unsigned) line, (unsigned) column,
                             "YAML syntax error: %s (#%02X)", problem,
                             (unsigned) parser->problem_value);

        } else {
            ai_release_error(ld, (unsigned) line, (unsigned) column,
                             "YAML syntax error: %s", problem);
        }

        return;

    default:
        line = parser->problem_mark.line + 1;
        column = parser->problem_mark.column + 1;

        if (parser->context) {
            ai_release_error(ld, (unsigned) line, (unsigned) column,
                             "YAML syntax error: %s (%s at line %u, "
                             "column %u)", problem, parser->context,
                             (unsigned) parser->context_mark.line + 1,
                             (unsigned) parser->context_mark.column + 1);

        } else {
            ai_release_error(ld, (unsigned) line, (unsigned) column,
                             "YAML syntax error: %s", problem);
        }

        return;
    }
}


/* builds the node tree; returns -1 to stop reading the file */

static int
ai_release_builder_event(ai_release_load_t *ld, ai_release_builder_t *b,
    yaml_event_t *event)
{
    yaml_mark_t          *mark;
    yaml_char_t          *anchor;
    ai_release_node_t    *node;
    ai_release_frame_t   *f;

    mark = &event->start_mark;
    anchor = NULL;

    switch (event->type) {

    case YAML_ALIAS_EVENT:
    case YAML_SCALAR_EVENT:
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:

        /* memory: a node costs about 100 bytes, however short its text */

        if (b->kept + b->nodes >= AI_RELEASE_MAX_NODES) {
            ai_release_error(ld, (unsigned) mark->line + 1,
                             (unsigned) mark->column + 1,
                             "a manifest file holds more than %d YAML "
                             "nodes", AI_RELEASE_MAX_NODES);
            return -1;
        }

        b->nodes++;
        break;

    default:
        break;
    }

    switch (event->type) {

    case YAML_ALIAS_EVENT:
        ai_release_error(ld, (unsigned) mark->line + 1,
                         (unsigned) mark->column + 1,
                         "YAML aliases and anchors are not supported");

        /* a placeholder keeps the mapping in shape; not validated */
        b->skip = 1;

        node = ai_release_node_new(AI_RELEASE_NODE_SCALAR, mark, NULL, 0);
        break;

    case YAML_SCALAR_EVENT:
        anchor = event->data.scalar.anchor;

        if (b->depth == 0
            && event->data.scalar.length == 0
            && event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        {
            b->root_empty = 1;
        }

        node = ai_release_node_new(AI_RELEASE_NODE_SCALAR, mark,
                                   event->data.scalar.value,
                                   event->data.scalar.length);
        break;

    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:

        if (event->type == YAML_SEQUENCE_START_EVENT) {
            anchor = event->data.sequence_start.anchor;

        } else {
            anchor = event->data.mapping_start.anchor;
        }

        if (b->depth == AI_RELEASE_MAX_DEPTH) {
            ai_release_error(ld, (unsigned) mark->line + 1,
                             (unsigned) mark->column + 1,
                             "YAML nesting is deeper than %d levels",
                             AI_RELEASE_MAX_DEPTH);
            return -1;
        }

        node = ai_release_node_new(event->type == YAML_MAPPING_START_EVENT
                                   ? AI_RELEASE_NODE_MAP
                                   : AI_RELEASE_NODE_SEQ,
                                   mark, NULL, 0);
        break;

    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:

        if (b->depth == 0) {
            return 0;
        }

        f = &b->stack[--b->depth];

        if (f->node->type == AI_RELEASE_NODE_MAP) {
            ai_release_map_check(ld, f->node);
        }

        return 0;

    default:
        return 0;
    }

    if (anchor != NULL) {
        ai_release_error(ld, (unsigned) mark->line + 1,
                         (unsigned) mark->column + 1,
                         "YAML aliases and anchors are not supported");
    }

    if (node == NULL) {
        ai_release_error(ld, 0, 0, "out of memory");
        return -1;
    }

    if (ai_release_builder_add(ld, b, node) != 0) {
        return -1;
    }

    if (node->type != AI_RELEASE_NODE_SCALAR) {
        f = &b->stack[b->depth++];
        f->node = node;
        f->n = 0;
        f->cap = 0;
    }

    return 0;
}


static int
ai_release_builder_add(ai_release_load_t *ld, ai_release_builder_t *b,
    ai_release_node_t *node)
{
    size_t               cap;
    ai_release_node_t  **items;
    ai_release_frame_t  *f;

    if (b->depth == 0) {

        if (b->root != NULL) {
            /* cannot happen: a document has one root */
            ai_release_node_free(node);
            return 0;
        }

        b->root = node;
        return 0;
    }

    f = &b->stack[b->depth - 1];

    if (f->n == f->cap) {
        cap = f->cap ? f->cap * 2 : 4;

        items = realloc(f->node->items, cap * sizeof(ai_release_node_t *));
        if (items == NULL) {
            ai_release_node_free(node);
            ai_release_error(ld, 0, 0, "out of memory");
            return -1;
        }

        f->node->items = items;
        f->cap = cap;
    }

    f->node->items[f->n++] = node;

    f->node->nitems = (f->node->type == AI_RELEASE_NODE_MAP) ? f->n / 2
                                                             : f->n;

    return 0;
}


/* frees a partly built document */

static void
ai_release_builder_cleanup(ai_release_builder_t *b)
{
    ai_release_frame_t  *f;

    while (b->depth) {
        f = &b->stack[--b->depth];

        /* a key without its value yet */
        if (f->node->type == AI_RELEASE_NODE_MAP && (f->n & 1)) {
            ai_release_node_free(f->node->items[f->n - 1]);
        }
    }

    ai_release_node_free(b->root);

    b->root = NULL;
    b->nodes = 0;
    b->root_empty = 0;
    b->skip = 0;
}


static ai_release_node_t *
ai_release_node_new(ai_release_node_type_e type, yaml_mark_t *mark,
    const unsigned char *value, size_t len)
{
    size_t              size;
    ai_release_node_t  *node;

    /* a scalar's text follows the node, in the same allocation */

    size = sizeof(ai_release_node_t);

    if (type == AI_RELEASE_NODE_SCALAR) {
        if (len > ((size_t) -1) - size - 1) {
            return NULL;
        }

        size += len + 1;
    }

    node = calloc(1, size);
    if (node == NULL) {
        return NULL;
    }

    node->type = type;
    node->line = (unsigned) mark->line + 1;
    node->column = (unsigned) mark->column + 1;

    if (type == AI_RELEASE_NODE_SCALAR) {
        node->value = (char *) (node + 1);

        if (len) {
            memcpy(node->value, value, len);
        }

        node->value[len] = '\0';
        node->len = len;
    }

    return node;
}


static void
ai_release_node_free(ai_release_node_t *node)
{
    size_t  i, n;

    if (node == NULL) {
        return;
    }

    switch (node->type) {
    case AI_RELEASE_NODE_MAP:
        n = node->nitems * 2;
        break;
    case AI_RELEASE_NODE_SEQ:
        n = node->nitems;
        break;
    default:
        n = 0;
    }

    for (i = 0; i < n; i++) {
        ai_release_node_free(node->items[i]);
    }

    free(node->items);
    free(node);
}


/* keys must be scalars and unique */

static void
ai_release_map_check(ai_release_load_t *ld, ai_release_node_t *map)
{
    char                  q[AI_RELEASE_QUOTE_SIZE];
    size_t                i, j, nkeys, head;
    ai_release_node_t    *key;
    ai_release_node_t   **first;
    ai_release_node_t  ***keys;

    nkeys = 0;

    for (i = 0; i < map->nitems; i++) {
        key = map->items[2 * i];

        if (key->type != AI_RELEASE_NODE_SCALAR) {
            ai_release_error(ld, key->line, key->column,
                             "mapping keys must be scalars");
            continue;
        }

        nkeys++;
    }

    if (nkeys < 2) {
        return;
    }

    keys = malloc(nkeys * sizeof(ai_release_node_t **));
    first = calloc(map->nitems, sizeof(ai_release_node_t *));

    if (keys == NULL || first == NULL) {
        free(keys);
        free(first);
        ai_release_error(ld, 0, 0, "out of memory");
        return;
    }

    nkeys = 0;

    for (i = 0; i < map->nitems; i++) {
        if (map->items[2 * i]->type == AI_RELEASE_NODE_SCALAR) {
            keys[nkeys++] = &map->items[2 * i];
        }
    }

    /* equal keys end up adjacent, in document order */

    qsort(keys, nkeys, sizeof(ai_release_node_t **), ai_release_key_cmp);

    head = 0;

    for (j = 1; j < nkeys; j++) {
        if (ai_release_scalar_cmp(*keys[j], *keys[head]) != 0) {
            head = j;
            continue;
        }

        first[(keys[j] - map->items) / 2] = *keys[head];
    }

    for (i = 0; i < map->nitems; i++) {
        if (first[i] == NULL) {
            continue;
        }

        key = map->items[2 * i];

        ai_release_error(ld, key->line, key->column,
                         "duplicate key \"%s\" (first at line %u)",
                         ai_release_quote(key->value, key->len, q),
                         first[i]->line);
    }

    free(keys);
    free(first);
}


static int
ai_release_scalar_cmp(const ai_release_node_t *a, const ai_release_node_t *b)
{
    int  rc;

    rc = memcmp(a->value, b->value, a->len < b->len ? a->len : b->len);

    if (rc != 0) {
        return rc;
    }

    if (a->len != b->len) {
        return a->len < b->len ? -1 : 1;
    }

    return 0;
}


/* sorts pointers to the keys within a mapping's items */

static int
ai_release_key_cmp(const void *one, const void *two)
{
    int                  rc;
    ai_release_node_t  **a, **b;

    a = *(ai_release_node_t **const *) one;
    b = *(ai_release_node_t **const *) two;

    rc = ai_release_scalar_cmp(*a, *b);

    if (rc != 0) {
        return rc;
    }

    return (a < b) ? -1 : (a > b);
}


/* validates one document; the bundle goes to ld->tmp when all is well */

static void
ai_release_document(ai_release_load_t *ld, ai_release_node_t *root,
    yaml_mark_t *mark, unsigned index, size_t nerrors)
{
    char                  q[AI_RELEASE_QUOTE_SIZE];
    size_t                i, len;
    unsigned              line, column;
    const char           *suggest, **k;
    ai_release_node_t    *key, *value;
    ai_release_bundle_t  *bundle, *dup;

    if (root->type != AI_RELEASE_NODE_MAP) {
        ai_release_error(ld, root->line, root->column,
                         "a bundle must be a YAML mapping");
        ai_release_node_free(root);
        return;
    }

    line = (unsigned) mark->line + 1;
    column = (unsigned) mark->column + 1;

    bundle = calloc(1, sizeof(ai_release_bundle_t));
    if (bundle == NULL) {
        ai_release_node_free(root);
        ai_release_error(ld, 0, 0, "out of memory");
        return;
    }

    bundle->root = root;
    bundle->line = line;
    bundle->column = column;
    bundle->doc_index = index;

    bundle->file = ai_release_strndup(ld->file, strlen(ld->file));
    if (bundle->file == NULL) {
        goto nomem;
    }

    /* unknown keys */

    for (i = 0; i < root->nitems; i++) {
        key = root->items[2 * i];

        if (key->type != AI_RELEASE_NODE_SCALAR) {
            continue;
        }

        for (k = ai_release_keys; *k; k++) {
            if (strlen(*k) == key->len
                && memcmp(*k, key->value, key->len) == 0)
            {
                break;
            }
        }

        if (*k != NULL) {
            continue;
        }

        suggest = ai_release_suggest(key->value, key->len);

        if (suggest) {
            ai_release_error(ld, key->line, key->column,
                             "unknown key \"%s\", did you mean \"%s\"?",
                             ai_release_quote(key->value, key->len, q),
                             suggest);

        } else {
            ai_release_error(ld, key->line, key->column,
                             "unknown key \"%s\"",
                             ai_release_quote(key->value, key->len, q));
        }
    }

    /* name, version, upstream, model */

    value = ai_release_required(ld, root, "name", line, column);

    if (value) {
        if (!ai_release_valid_name(value->value, value->len)) {
            ai_release_error(ld, value->line, value->column,
                             "invalid name \"%s\": only A-Z a-z 0-9 . _ - "
                             "are allowed",
                             ai_release_quote(value->value, value->len, q));

        } else if ((bundle->name = ai_release_strndup(value->value,
                                                      value->len))
                   == NULL)
        {
            goto nomem;
        }
    }

    value = ai_release_required(ld, root, "version", line, column);

    if (value) {
        if (!ai_release_valid_name(value->value, value->len)) {
            ai_release_error(ld, value->line, value->column,
                             "invalid version \"%s\": only A-Z a-z 0-9 . _ - "
                             "are allowed",
                             ai_release_quote(value->value, value->len, q));

        } else if ((bundle->version = ai_release_strndup(value->value,
                                                         value->len))
                   == NULL)
        {
            goto nomem;
        }
    }

    value = ai_release_required(ld, root, "upstream", line, column);

    if (value) {
        if (!ai_release_valid_upstream(value->value, value->len)) {
            ai_release_error(ld, value->line, value->column,
                             "invalid upstream \"%s\": expected an upstream "
                             "name (A-Z a-z 0-9 . _ -) or host:port",
                             ai_release_quote(value->value, value->len, q));

        } else if ((bundle->upstream = ai_release_strndup(value->value,
                                                          value->len))
                   == NULL)
        {
            goto nomem;
        }
    }

    value = ai_release_required(ld, root, "model", line, column);

    if (value) {
        if (!ai_release_valid_model(value->value, value->len)) {
            ai_release_error(ld, value->line, value->column,
                             "invalid model \"%s\": control characters are "
                             "not allowed",
                             ai_release_quote(value->value, value->len, q));

        } else if ((bundle->model = ai_release_strndup(value->value,
                                                       value->len))
                   == NULL)
        {
            goto nomem;
        }
    }

    /* the optional sections */

    value = ai_release_node_get(root, "prompt");

    if (value) {
        if (value->type != AI_RELEASE_NODE_MAP) {
            ai_release_error(ld, value->line, value->column,
                             "\"prompt\" must be a mapping");

        } else {
            value = ai_release_node_get(value, "file");

            if (value) {
                ai_release_check_file(ld, bundle, "prompt.file", value, 0);
            }
        }
    }

    value = ai_release_node_get(root, "system_instructions");

    if (value) {
        ai_release_check_system(ld, bundle, value);
    }

    value = ai_release_node_get(root, "tool_schema");

    if (value) {
        ai_release_check_file(ld, bundle, "tool_schema", value, 1);
    }

    for (k = ai_release_map_keys; *k; k++) {
        value = ai_release_node_get(root, *k);

        if (value && value->type != AI_RELEASE_NODE_MAP) {
            ai_release_error(ld, value->line, value->column,
                             "\"%s\" must be a mapping", *k);
        }
    }

    value = ai_release_node_get(root, "headers");

    if (value) {
        ai_release_check_headers(ld, bundle, value);
    }

    if (ld->nerrors != nerrors) {
        goto failed;
    }

    /* all is well: canonical form, digest, id */

    if (bundle->nfiles > 1) {
        qsort(bundle->files, bundle->nfiles, sizeof(ai_release_file_t),
              ai_release_file_cmp);
    }

    if (ai_release_canonical(bundle) != 0) {
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

    return;

nomem:

    ai_release_error(ld, 0, 0, "out of memory");

failed:

    ai_release_bundle_free(bundle);
}


static ai_release_node_t *
ai_release_required(ai_release_load_t *ld, ai_release_node_t *root,
    const char *key, unsigned line, unsigned column)
{
    ai_release_node_t  *value;

    value = ai_release_node_get(root, key);

    if (value == NULL) {
        ai_release_error(ld, line, column, "missing required key \"%s\"",
                         key);
        return NULL;
    }

    if (value->type != AI_RELEASE_NODE_SCALAR) {
        ai_release_error(ld, value->line, value->column,
                         "\"%s\" must be a string", key);
        return NULL;
    }

    if (value->len == 0) {
        ai_release_error(ld, value->line, value->column,
                         "\"%s\" must be a string (it is empty)", key);
        return NULL;
    }

    return value;
}


/* an upstream name, or host:port (host a name or a bracketed IPv6) */

static int
ai_release_valid_upstream(const char *s, size_t len)
{
    size_t       i, host_len;
    unsigned     port;
    const char  *colon, *p;

    if (ai_release_valid_name(s, len)) {
        return 1;
    }

    if (len == 0) {
        return 0;
    }

    if (s[0] == '[') {
        p = memchr(s, ']', len);

        if (p == NULL || p == s + 1) {
            return 0;
        }

        for (i = 1; s + i < p; i++) {
            if (strchr("0123456789abcdefABCDEF:.", s[i]) == NULL
                || s[i] == '\0')
            {
                return 0;
            }
        }

        colon = p + 1;

        if (colon == s + len || *colon != ':') {
            return 0;
        }

    } else {
        colon = NULL;

        for (i = len; i > 0; i--) {
            if (s[i - 1] == ':') {
                colon = s + i - 1;
                break;
            }
        }

        if (colon == NULL) {
            return 0;
        }

        host_len = (size_t) (colon - s);

        if (!ai_release_valid_name(s, host_len)) {
            return 0;
        }
    }

    /* the port: 1..65535 */

    port = 0;

    for (p = colon + 1; p < s + len; p++) {
        if (*p < '0' || *p > '9') {
            return 0;
        }

        port = port * 10 + (unsigned) (*p - '0');

        if (port > 65535) {
            return 0;
        }
    }

    return (p > colon + 1 && port > 0);
}


static int
ai_release_valid_model(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            return 0;
        }
    }

    return len > 0;
}


static void
ai_release_check_headers(ai_release_load_t *ld, ai_release_bundle_t *bundle,
    ai_release_node_t *map)
{
    char                  q[AI_RELEASE_QUOTE_SIZE], bad[8];
    size_t                i, j;
    ai_release_node_t    *key, *value;
    ai_release_header_t  *h;

    if (map->type != AI_RELEASE_NODE_MAP) {
        ai_release_error(ld, map->line, map->column,
                         "\"headers\" must be a mapping");
        return;
    }

    if (map->nitems == 0) {
        return;
    }

    bundle->headers = calloc(map->nitems, sizeof(ai_release_header_t));
    if (bundle->headers == NULL) {
        ai_release_error(ld, 0, 0, "out of memory");
        return;
    }

    for (i = 0; i < map->nitems; i++) {
        key = map->items[2 * i];
        value = map->items[2 * i + 1];

        if (key->type != AI_RELEASE_NODE_SCALAR) {
            continue;
        }

        ai_release_quote(key->value, key->len, q);

        if (!ai_release_valid_header_name(key->value, key->len)) {
            ai_release_error(ld, key->line, key->column,
                             "header name \"%s\" is not a valid HTTP token",
                             q);
            continue;
        }

        if (value->type != AI_RELEASE_NODE_SCALAR) {
            ai_release_error(ld, value->line, value->column,
                             "header \"%s\" value must be a string", q);
            continue;
        }

        if (!ai_release_valid_header_value(value->value, value->len)) {

            for (j = 0; j < value->len; j++) {
                if (((unsigned char) value->value[j] < 0x20
                     && value->value[j] != '\t')
                    || value->value[j] == 0x7f)
                {
                    break;
                }
            }

            switch (j < value->len ? value->value[j] : 0) {
            case '\r':
                strcpy(bad, "CR");
                break;
            case '\n':
                strcpy(bad, "LF");
                break;
            case '\0':
                strcpy(bad, "NUL");
                break;
            default:
                (void) snprintf(bad, sizeof(bad), "0x%02X",
                                (unsigned) (unsigned char) value->value[j]);
            }

            ai_release_error(ld, value->line, value->column,
                             "header \"%s\" value contains a control "
                             "character (%s)", q, bad);
            continue;
        }

        h = &bundle->headers[bundle->nheaders];

        h->name = ai_release_strndup(key->value, key->len);
        h->value = ai_release_strndup(value->value, value->len);

        if (h->name == NULL || h->value == NULL) {
            free(h->name);
            free(h->value);
            h->name = NULL;
            h->value = NULL;
            ai_release_error(ld, 0, 0, "out of memory");
            return;
        }

        bundle->nheaders++;
    }
}


/* a string (inline text) or a mapping with just "file" */

static void
ai_release_check_system(ai_release_load_t *ld, ai_release_bundle_t *bundle,
    ai_release_node_t *value)
{
    char                q[AI_RELEASE_QUOTE_SIZE];
    size_t              i;
    ai_release_node_t  *key, *file;

    if (value->type == AI_RELEASE_NODE_SCALAR) {
        return;
    }

    file = ai_release_node_get(value, "file");

    if (value->type != AI_RELEASE_NODE_MAP || file == NULL) {
        ai_release_error(ld, value->line, value->column,
                         "\"system_instructions\" must be a string or a "
                         "mapping with only a \"file\" key");
        return;
    }

    for (i = 0; i < value->nitems; i++) {
        key = value->items[2 * i];

        if (key->type != AI_RELEASE_NODE_SCALAR
            || (key->len == 4 && memcmp(key->value, "file", 4) == 0))
        {
            continue;
        }

        ai_release_error(ld, key->line, key->column,
                         "unknown key \"%s\" in \"system_instructions\": "
                         "only \"file\" is allowed",
                         ai_release_quote(key->value, key->len, q));
    }

    ai_release_check_file(ld, bundle, "system_instructions.file", file, 0);
}


static void
ai_release_check_file(ai_release_load_t *ld, ai_release_bundle_t *bundle,
    const char *key, ai_release_node_t *value, int json)
{
    int                 rc, err;
    char                q[AI_RELEASE_QUOTE_SIZE];
    char               *full, *data;
    size_t              len, size;
    json_t             *j;
    json_error_t        jerr;
    ai_release_file_t  *files, *file;

    if (value->type != AI_RELEASE_NODE_SCALAR) {
        ai_release_error(ld, value->line, value->column,
                         "\"%s\" must be a string (a file path)", key);
        return;
    }

    if (value->len == 0) {
        ai_release_error(ld, value->line, value->column,
                         "\"%s\" must not be an empty path", key);
        return;
    }

    ai_release_quote(value->value, value->len, q);

    if (memchr(value->value, '\0', value->len) != NULL) {
        ai_release_error(ld, value->line, value->column,
                         "%s \"%s\": a path cannot contain NUL", key, q);
        return;
    }

    /* relative to the manifest's directory */

    if (value->value[0] == '/' || ld->prefix_len == 0) {
        full = ai_release_strndup(value->value, value->len);

    } else {
        len = ld->prefix_len + value->len;

        full = malloc(len + 1);
        if (full) {
            memcpy(full, ld->file, ld->prefix_len);
            memcpy(full + ld->prefix_len, value->value, value->len + 1);
        }
    }

    if (full == NULL) {
        ai_release_error(ld, 0, 0, "out of memory");
        return;
    }

    rc = ai_release_read_file(full, &data, &size, &err);

    if (rc != 0) {
        ai_release_error(ld, value->line, value->column,
                         "cannot read %s \"%s\": %s", key, q,
                         ai_release_read_error(rc, err));
        free(full);
        return;
    }

    if (json) {
        j = json_loadb(data, size, 0, &jerr);

        if (j == NULL) {
            ai_release_error(ld, value->line, value->column,
                             "%s \"%s\" is not valid JSON: %s "
                             "(line %d, column %d)", key, q, jerr.text,
                             jerr.line, jerr.column);
            free(data);
            free(full);
            return;
        }

        json_decref(j);
    }

    files = realloc(bundle->files,
                    (bundle->nfiles + 1) * sizeof(ai_release_file_t));
    if (files == NULL) {
        free(data);
        free(full);
        ai_release_error(ld, 0, 0, "out of memory");
        return;
    }

    bundle->files = files;
    file = &files[bundle->nfiles];
    memset(file, 0, sizeof(ai_release_file_t));

    file->key = ai_release_strndup(key, strlen(key));
    file->path = ai_release_strndup(value->value, value->len);
    file->full_path = full;
    file->size = size;
    file->line = value->line;
    file->column = value->column;

    ai_release_sha256(data, size, file->sha256);

    free(data);

    bundle->nfiles++;

    if (file->key == NULL || file->path == NULL) {
        ai_release_error(ld, 0, 0, "out of memory");
    }
}


/* 0, or -1 with errno in *err, -2 too large, -3 not a regular file */

int
ai_release_read_file(const char *path, char **out, size_t *len, int *err)
{
    int          fd;
    char        *data;
    size_t       size, n;
    ssize_t      rc;
    struct stat  st;

    *err = 0;

    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd == -1) {
        *err = errno;
        return -1;
    }

    if (fstat(fd, &st) == -1) {
        *err = errno;
        (void) close(fd);
        return -1;
    }

    if (S_ISDIR(st.st_mode)) {
        *err = EISDIR;
        (void) close(fd);
        return -1;
    }

    if (!S_ISREG(st.st_mode)) {
        (void) close(fd);
        return -3;
    }

    if (st.st_size > AI_RELEASE_MAX_FILE_SIZE) {
        (void) close(fd);
        return -2;
    }

    size = (size_t) st.st_size;

    data = malloc(size + 1);
    if (data == NULL) {
        *err = ENOMEM;
        (void) close(fd);
        return -1;
    }

    n = 0;

    while (n < size) {
        rc = read(fd, data + n, size - n);

        if (rc == -1) {
            if (errno == EINTR) {
                continue;
            }

            *err = errno;
            free(data);
            (void) close(fd);
            return -1;
        }

        if (rc == 0) {
            break;
        }

        n += (size_t) rc;
    }

    (void) close(fd);

    data[n] = '\0';

    *out = data;
    *len = n;

    return 0;
}


const char *
ai_release_read_error(int rc, int err)
{
    switch (rc) {
    case -2:
        return "larger than 16 MiB";
    case -3:
        return "not a regular file";
    default:
        return strerror(err);
    }
}


/* the allowed top-level key within edit distance 2, if any */

static const char *
ai_release_suggest(const char *s, size_t len)
{
    size_t        i, j, klen, d, best_d, prev[32], cur[32];
    const char   *best, **k;

    if (len > 24) {
        return NULL;
    }

    best = NULL;
    best_d = 3;

    for (k = ai_release_keys; *k; k++) {
        klen = strlen(*k);

        if (klen + 2 < len || len + 2 < klen) {
            continue;
        }

        for (j = 0; j <= klen; j++) {
            prev[j] = j;
        }

        for (i = 1; i <= len; i++) {
            cur[0] = i;

            for (j = 1; j <= klen; j++) {
                d = prev[j - 1] + (s[i - 1] != (*k)[j - 1]);

                if (prev[j] + 1 < d) {
                    d = prev[j] + 1;
                }

                if (cur[j - 1] + 1 < d) {
                    d = cur[j - 1] + 1;
                }

                cur[j] = d;
            }

            memcpy(prev, cur, (klen + 1) * sizeof(size_t));
        }

        if (prev[klen] < best_d) {
            best_d = prev[klen];
            best = *k;
        }
    }

    return best;
}


static int
ai_release_file_cmp(const void *one, const void *two)
{
    const ai_release_file_t  *a, *b;

    a = one;
    b = two;

    return strcmp(a->key, b->key);
}


static int
ai_release_canonical(ai_release_bundle_t *bundle)
{
    char               num[32];
    size_t             i, j;
    ai_release_buf_t   buf;
    ai_release_file_t *file;

    static const char  hex[] = "0123456789abcdef";

    memset(&buf, 0, sizeof(ai_release_buf_t));

    ai_release_buf_add(&buf, AI_RELEASE_CANONICAL_MAGIC,
                       sizeof(AI_RELEASE_CANONICAL_MAGIC) - 1);

    ai_release_json_node(&buf, bundle->root, 1);

    ai_release_buf_add(&buf, "\n", 1);

    for (i = 0; i < bundle->nfiles; i++) {
        file = &bundle->files[i];

        ai_release_buf_add(&buf, "file ", 5);
        ai_release_buf_add(&buf, file->key, strlen(file->key));

        (void) snprintf(num, sizeof(num), " %lu sha256:",
                        (unsigned long) file->size);
        ai_release_buf_add(&buf, num, strlen(num));

        for (j = 0; j < AI_RELEASE_SHA256_LEN; j++) {
            num[0] = hex[file->sha256[j] >> 4];
            num[1] = hex[file->sha256[j] & 0xf];
            ai_release_buf_add(&buf, num, 2);
        }

        ai_release_buf_add(&buf, "\n", 1);
    }

    if (buf.failed) {
        free(buf.data);
        return -1;
    }

    bundle->canonical = buf.data;
    bundle->canonical_len = buf.len;

    ai_release_sha256(buf.data, buf.len, bundle->digest);

    memcpy(bundle->digest_hex, "sha256:", 7);

    for (j = 0; j < AI_RELEASE_SHA256_LEN; j++) {
        bundle->digest_hex[7 + 2 * j] = hex[bundle->digest[j] >> 4];
        bundle->digest_hex[7 + 2 * j + 1] = hex[bundle->digest[j] & 0xf];
    }

    bundle->digest_hex[AI_RELEASE_DIGEST_HEX_LEN] = '\0';

    memcpy(bundle->digest_short, bundle->digest_hex,
           AI_RELEASE_DIGEST_SHORT_LEN);
    bundle->digest_short[AI_RELEASE_DIGEST_SHORT_LEN] = '\0';

    return 0;
}


static void
ai_release_json_node(ai_release_buf_t *buf, ai_release_node_t *node, int top)
{
    size_t               i, n;
    ai_release_node_t   *key;
    ai_release_node_t ***keys;

    switch (node->type) {

    case AI_RELEASE_NODE_SCALAR:
        ai_release_json_string(buf, node->value, node->len);
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


static void
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


static void
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


/* a value for an error message: escaped, at most AI_RELEASE_QUOTE_MAX bytes */

const char *
ai_release_quote(const char *s, size_t len, char *buf)
{
    char           *p;
    size_t          i, n;
    unsigned char   c;

    static const char  hex[] = "0123456789abcdef";

    n = len;

    if (n > AI_RELEASE_QUOTE_MAX) {
        n = AI_RELEASE_QUOTE_MAX;

        /* do not cut a UTF-8 sequence */
        while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80) {
            n--;
        }
    }

    p = buf;

    for (i = 0; i < n; i++) {
        c = (unsigned char) s[i];

        switch (c) {
        case '"':
        case '\\':
            *p++ = '\\';
            *p++ = (char) c;
            break;
        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;
        case '\r':
            *p++ = '\\';
            *p++ = 'r';
            break;
        case '\t':
            *p++ = '\\';
            *p++ = 't';
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                memcpy(p, "\\u00", 4);
                p[4] = hex[c >> 4];
                p[5] = hex[c & 0xf];
                p += 6;

            } else {
                *p++ = (char) c;
            }
        }
    }

    if (n < len) {
        memcpy(p, "...", 3);
        p += 3;
    }

    *p = '\0';

    return buf;
}


static char *
ai_release_strndup(const char *s, size_t len)
{
    char  *p;

    p = malloc(len + 1);
    if (p == NULL) {
        return NULL;
    }

    memcpy(p, s, len);
    p[len] = '\0';

    return p;
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
