
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Reading YAML into ai_release_node_t trees: libyaml's events, one tree a
 * document, each node with its line and column.  Aliases and anchors are
 * refused, nesting is at most AI_RELEASE_MAX_DEPTH deep, a file holds at
 * most AI_RELEASE_MAX_NODES nodes at once, mapping keys are scalars and
 * unique; a scalar remembers whether it was plain.  Node lookup by key.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "ai_release_internal.h"


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


static void ai_release_syntax_error(ai_release_load_t *ld,
    yaml_parser_t *parser);
static int ai_release_builder_event(ai_release_load_t *ld,
    ai_release_builder_t *b, yaml_event_t *event);
static int ai_release_builder_add(ai_release_load_t *ld,
    ai_release_builder_t *b, ai_release_node_t *node);
static void ai_release_builder_cleanup(ai_release_builder_t *b);
static ai_release_node_t *ai_release_node_new(ai_release_node_type_e type,
    yaml_mark_t *mark, const unsigned char *value, size_t len);
static void ai_release_map_check(ai_release_load_t *ld,
    ai_release_node_t *map);


int
ai_release_yaml_read(ai_release_load_t *ld, const char *data, size_t len,
    ai_release_document_pt document)
{
    int                    done, rc;
    size_t                 nerrors;
    unsigned               index, ndocs;
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
        return -1;
    }

    yaml_parser_set_input_string(&parser, (const unsigned char *) data, len);

    memset(&b, 0, sizeof(ai_release_builder_t));
    memset(&mark, 0, sizeof(yaml_mark_t));

    done = 0;
    index = 0;
    ndocs = 0;
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
                ndocs++;
                ai_release_node_free(root);

            } else {
                ndocs++;

                if (document(ld, root, (unsigned) mark.line + 1,
                             (unsigned) mark.column + 1, index, nerrors))
                {
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

    return done ? (int) ndocs : -1;
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

        if (node != NULL) {
            node->quoted = (event->data.scalar.style
                            != YAML_PLAIN_SCALAR_STYLE);
        }

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


void
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


int
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

int
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


ai_release_node_t *
ai_release_node_get(const ai_release_node_t *map, const char *key)
{
    size_t              i, len;
    ai_release_node_t  *k;

    if (map == NULL || map->type != AI_RELEASE_NODE_MAP) {
        return NULL;
    }

    len = strlen(key);

    for (i = 0; i < map->nitems; i++) {
        k = map->items[2 * i];

        if (k->type == AI_RELEASE_NODE_SCALAR
            && k->len == len
            && memcmp(k->value, key, len) == 0)
        {
            return map->items[2 * i + 1];
        }
    }

    return NULL;
}
