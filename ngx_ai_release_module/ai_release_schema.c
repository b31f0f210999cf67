
/*
 * Copyright (C) ngx_ai_release authors
 *
 * The bundle schema: the top-level keys of a bundle document in a table,
 * each with its type, whether it is required, and what else its value
 * needs (a valid name, upstream or model, the files it names, valid HTTP
 * headers, request parameters).  Validating a document against it
 * reports every problem with its line and column, reads the referenced
 * files and hashes them.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ai_release_internal.h"
#include "ai_release_contract.h"


typedef enum {
    AI_RELEASE_SCHEMA_ANY = 0,          /* its check looks at the type */
    AI_RELEASE_SCHEMA_STRING,           /* a scalar, not empty */
    AI_RELEASE_SCHEMA_MAP
} ai_release_schema_type_e;


typedef void (*ai_release_schema_check_pt)(ai_release_load_t *ld,
    ai_release_bundle_t *bundle, ai_release_node_t *value);


typedef struct {
    const char                  *name;
    ai_release_schema_type_e     type;
    unsigned                     required;

    /* a STRING: which values are valid, why not, where the copy goes */
    int                        (*valid)(const char *s, size_t len);
    const char                  *invalid;
    size_t                       offset;    /* of a char * in the bundle */

    /* what more a value of the right type needs */
    ai_release_schema_check_pt   check;
} ai_release_schema_key_t;


typedef struct ai_release_contract_key_s  ai_release_contract_key_t;

typedef void (*ai_release_contract_key_pt)(ai_release_load_t *ld,
    ai_release_contract_t *c, const ai_release_contract_key_t *k,
    ai_release_node_t *value);

struct ai_release_contract_key_s {
    const char                  *name;
    ai_release_contract_key_pt   check;
    size_t                       offset;    /* of its field in the contract */

    /* a number: how it is read, what it is */
    int                        (*parse)(const char *s, size_t len,
                                        uint64_t *n);
    const char                  *what;
    const char                  *hint;
};


static int ai_release_schema_type(ai_release_load_t *ld,
    const ai_release_schema_key_t *k, ai_release_node_t *value);
static const ai_release_schema_key_t *ai_release_schema_key(const char *s,
    size_t len);
static int ai_release_valid_upstream(const char *s, size_t len);
static int ai_release_valid_model(const char *s, size_t len);
static void ai_release_check_headers(ai_release_load_t *ld,
    ai_release_bundle_t *bundle, ai_release_node_t *map);
static void ai_release_check_prompt(ai_release_load_t *ld,
    ai_release_bundle_t *bundle, ai_release_node_t *map);
static void ai_release_check_system(ai_release_load_t *ld,
    ai_release_bundle_t *bundle, ai_release_node_t *value);
static void ai_release_check_tool_schema(ai_release_load_t *ld,
    ai_release_bundle_t *bundle, ai_release_node_t *value);
static void ai_release_check_file(ai_release_load_t *ld,
    ai_release_bundle_t *bundle, const char *key, ai_release_node_t *value,
    int json);
static void ai_release_check_params(ai_release_load_t *ld,
    ai_release_bundle_t *bundle, ai_release_node_t *map);
static int ai_release_json_literal(const char *s, size_t len);
static void ai_release_check_pricing(ai_release_load_t *ld,
    ai_release_bundle_t *bundle, ai_release_node_t *map);
static void ai_release_check_contract(ai_release_load_t *ld,
    ai_release_bundle_t *bundle, ai_release_node_t *map);
static void ai_release_contract_status(ai_release_load_t *ld,
    ai_release_contract_t *c, const ai_release_contract_key_t *k,
    ai_release_node_t *value);
static void ai_release_contract_type(ai_release_load_t *ld,
    ai_release_contract_t *c, const ai_release_contract_key_t *k,
    ai_release_node_t *value);
static void ai_release_contract_number(ai_release_load_t *ld,
    ai_release_contract_t *c, const ai_release_contract_key_t *k,
    ai_release_node_t *value);
static void ai_release_contract_flag(ai_release_load_t *ld,
    ai_release_contract_t *c, const ai_release_contract_key_t *k,
    ai_release_node_t *value);
static void ai_release_contract_pointers(ai_release_load_t *ld,
    ai_release_contract_t *c, const ai_release_contract_key_t *k,
    ai_release_node_t *value);
static void ai_release_contract_end(ai_release_load_t *ld,
    ai_release_contract_t *c, const ai_release_contract_key_t *k,
    ai_release_node_t *value);
static void ai_release_contract_mode(ai_release_load_t *ld,
    ai_release_contract_t *c, const ai_release_contract_key_t *k,
    ai_release_node_t *value);
static int ai_release_contract_scalar(ai_release_load_t *ld,
    const ai_release_contract_key_t *k, ai_release_node_t *value,
    const char *what);
static const char *ai_release_suggest(const char *s, size_t len,
    const void *table, size_t size);


/* the keys in the order their values are checked */

static const ai_release_schema_key_t  ai_release_schema[] = {

    { "name", AI_RELEASE_SCHEMA_STRING, 1,
      ai_release_valid_name, "only A-Z a-z 0-9 . _ - are allowed",
      offsetof(ai_release_bundle_t, name), NULL },

    { "version", AI_RELEASE_SCHEMA_STRING, 1,
      ai_release_valid_name, "only A-Z a-z 0-9 . _ - are allowed",
      offsetof(ai_release_bundle_t, version), NULL },

    { "upstream", AI_RELEASE_SCHEMA_STRING, 1,
      ai_release_valid_upstream,
      "expected an upstream name (A-Z a-z 0-9 . _ -) or host:port",
      offsetof(ai_release_bundle_t, upstream), NULL },

    { "model", AI_RELEASE_SCHEMA_STRING, 1,
      ai_release_valid_model, "control characters are not allowed",
      offsetof(ai_release_bundle_t, model), NULL },

    { "prompt", AI_RELEASE_SCHEMA_MAP, 0, NULL, NULL, 0,
      ai_release_check_prompt },

    /* a string (inline text) or a mapping with just "file" */
    { "system_instructions", AI_RELEASE_SCHEMA_ANY, 0, NULL, NULL, 0,
      ai_release_check_system },

    /* a path to a JSON file */
    { "tool_schema", AI_RELEASE_SCHEMA_ANY, 0, NULL, NULL, 0,
      ai_release_check_tool_schema },

    /* any content */
    { "retrieval", AI_RELEASE_SCHEMA_MAP, 0, NULL, NULL, 0, NULL },

    /* the keys of ai_release_contract_keys[] */
    { "output_contract", AI_RELEASE_SCHEMA_MAP, 0, NULL, NULL, 0,
      ai_release_check_contract },

    /* checked by ai_release_gate.c */
    { "eval", AI_RELEASE_SCHEMA_MAP, 0, NULL, NULL, 0, NULL },

    { "headers", AI_RELEASE_SCHEMA_MAP, 0, NULL, NULL, 0,
      ai_release_check_headers },

    /* top-level members of a request body: JSON scalars */
    { "params", AI_RELEASE_SCHEMA_MAP, 0, NULL, NULL, 0,
      ai_release_check_params },

    /* the price of a million input and output tokens */
    { "pricing", AI_RELEASE_SCHEMA_MAP, 0, NULL, NULL, 0,
      ai_release_check_pricing },

    /* any content */
    { "labels", AI_RELEASE_SCHEMA_MAP, 0, NULL, NULL, 0, NULL },

    { NULL, AI_RELEASE_SCHEMA_ANY, 0, NULL, NULL, 0, NULL }
};


/* the keys of output_contract (ai_release_contract.h), all optional */

static const ai_release_contract_key_t  ai_release_contract_keys[] = {

    /* a list of HTTP status codes */
    { "status", ai_release_contract_status, 0, NULL, NULL, NULL },

    /* a media type, e.g. application/json or text/event-stream */
    { "content_type", ai_release_contract_type, 0, NULL, NULL, NULL },

    { "max_bytes", ai_release_contract_number,
      offsetof(ai_release_contract_t, max_bytes),
      ai_release_contract_parse_size, "a size",
      " (a number of bytes of at least 1, or with k, m or g, e.g. 64k)" },

    { "json", ai_release_contract_flag,
      offsetof(ai_release_contract_t, json), NULL, NULL, NULL },

    /* lists of JSON Pointers */
    { "required", ai_release_contract_pointers, 0, NULL, NULL, NULL },
    { "non_empty", ai_release_contract_pointers, 0, NULL, NULL, NULL },

    { "model_prefix", ai_release_contract_flag,
      offsetof(ai_release_contract_t, model_prefix), NULL, NULL, NULL },

    { "max_latency", ai_release_contract_number,
      offsetof(ai_release_contract_t, max_latency_ms),
      ai_release_parse_duration, "a duration",
      " of more than 0 (e.g. 500ms, 20s, 1m)" },
    { "max_first_byte", ai_release_contract_number,
      offsetof(ai_release_contract_t, max_first_byte_ms),
      ai_release_parse_duration, "a duration",
      " of more than 0 (e.g. 500ms, 20s, 1m)" },

    /* the data, event name or "type" of a stream's last event */
    { "stream_end", ai_release_contract_end, 0, NULL, NULL, NULL },

    /* observe or enforce */
    { "mode", ai_release_contract_mode, 0, NULL, NULL, NULL },

    { NULL, NULL, 0, NULL, NULL, NULL }
};


ai_release_bundle_t *
ai_release_schema_check(ai_release_load_t *ld, ai_release_node_t *root,
    unsigned line, unsigned column, unsigned index, size_t nerrors)
{
    char                           q[AI_RELEASE_QUOTE_SIZE];
    char                         **field;
    size_t                         i;
    const char                    *suggest;
    ai_release_node_t             *key, *value;
    ai_release_bundle_t           *bundle;
    const ai_release_schema_key_t *k;

    if (root->type != AI_RELEASE_NODE_MAP) {
        ai_release_error(ld, root->line, root->column,
                         "a bundle must be a YAML mapping");
        ai_release_node_free(root);
        return NULL;
    }

    bundle = calloc(1, sizeof(ai_release_bundle_t));
    if (bundle == NULL) {
        ai_release_node_free(root);
        ai_release_error(ld, 0, 0, "out of memory");
        return NULL;
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

        if (key->type != AI_RELEASE_NODE_SCALAR
            || ai_release_schema_key(key->value, key->len) != NULL)
        {
            continue;
        }

        suggest = ai_release_suggest(key->value, key->len, ai_release_schema,
                                     sizeof(ai_release_schema_key_t));

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

    /* the known ones */

    for (k = ai_release_schema; k->name; k++) {
        value = ai_release_node_get(root, k->name);

        if (value == NULL) {
            if (k->required) {
                ai_release_error(ld, line, column,
                                 "missing required key \"%s\"", k->name);
            }

            continue;
        }

        if (ai_release_schema_type(ld, k, value) != 0) {
            continue;
        }

        if (k->valid) {
            if (!k->valid(value->value, value->len)) {
                ai_release_error(ld, value->line, value->column,
                                 "invalid %s \"%s\": %s", k->name,
                                 ai_release_quote(value->value, value->len,
                                                  q),
                                 k->invalid);
                continue;
            }

            field = (char **) ((char *) bundle + k->offset);

            *field = ai_release_strndup(value->value, value->len);
            if (*field == NULL) {
                goto nomem;
            }
        }

        if (k->check) {
            k->check(ld, bundle, value);
        }
    }

    if (ld->nerrors == nerrors) {
        return bundle;
    }

    goto failed;

nomem:

    ai_release_error(ld, 0, 0, "out of memory");

failed:

    ai_release_bundle_free(bundle);

    return NULL;
}


static int
ai_release_schema_type(ai_release_load_t *ld,
    const ai_release_schema_key_t *k, ai_release_node_t *value)
{
    switch (k->type) {

    case AI_RELEASE_SCHEMA_STRING:

        if (value->type != AI_RELEASE_NODE_SCALAR) {
            ai_release_error(ld, value->line, value->column,
                             "\"%s\" must be a string", k->name);
            return -1;
        }

        if (value->len == 0) {
            ai_release_error(ld, value->line, value->column,
                             "\"%s\" must be a string (it is empty)",
                             k->name);
            return -1;
        }

        return 0;

    case AI_RELEASE_SCHEMA_MAP:

        if (value->type != AI_RELEASE_NODE_MAP) {
            ai_release_error(ld, value->line, value->column,
                             "\"%s\" must be a mapping", k->name);
            return -1;
        }

        return 0;

    default:
        return 0;
    }
}


static const ai_release_schema_key_t *
ai_release_schema_key(const char *s, size_t len)
{
    const ai_release_schema_key_t  *k;

    for (k = ai_release_schema; k->name; k++) {
        if (strlen(k->name) == len && memcmp(k->name, s, len) == 0) {
            return k;
        }
    }

    return NULL;
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


static void
ai_release_check_prompt(ai_release_load_t *ld, ai_release_bundle_t *bundle,
    ai_release_node_t *map)
{
    ai_release_node_t  *file;

    file = ai_release_node_get(map, "file");

    if (file) {
        ai_release_check_file(ld, bundle, "prompt.file", file, 0);
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
ai_release_check_tool_schema(ai_release_load_t *ld,
    ai_release_bundle_t *bundle, ai_release_node_t *value)
{
    ai_release_check_file(ld, bundle, "tool_schema", value, 1);
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


/*
 * The members a bundle sets in a request body ("apply params"): a name of
 * 1 to 64 visible ASCII bytes that apply or the client does not own, a
 * YAML scalar.  A plain scalar that is a JSON number, true, false or null
 * is marked literal: it goes into JSON, and into the canonical form, as
 * written; any other is a string.  An empty plain value is refused rather
 * than guessed at.
 */

#define AI_RELEASE_PARAM_NAME_MAX   64

static void
ai_release_check_params(ai_release_load_t *ld, ai_release_bundle_t *bundle,
    ai_release_node_t *map)
{
    char                q[AI_RELEASE_QUOTE_SIZE];
    size_t              i, j;
    ai_release_node_t  *key, *value;

    static const char  *reserved[] = {
        "model", "messages", "tools", "instructions", "system", "stream",
        NULL
    };

    (void) bundle;

    for (i = 0; i < map->nitems; i++) {
        key = map->items[2 * i];
        value = map->items[2 * i + 1];

        if (key->type != AI_RELEASE_NODE_SCALAR) {
            continue;
        }

        ai_release_quote(key->value, key->len, q);

        if (key->len == 0 || key->len > AI_RELEASE_PARAM_NAME_MAX) {
            ai_release_error(ld, key->line, key->column,
                             "params key \"%s\" must be 1 to %d bytes long",
                             q, AI_RELEASE_PARAM_NAME_MAX);
            continue;
        }

        for (j = 0; j < key->len; j++) {
            if ((unsigned char) key->value[j] < 0x21
                || (unsigned char) key->value[j] > 0x7e)
            {
                break;
            }
        }

        if (j < key->len) {
            ai_release_error(ld, key->line, key->column,
                             "params key \"%s\" must be visible ASCII "
                             "(no spaces or control characters)", q);
            continue;
        }

        for (j = 0; reserved[j]; j++) {
            if (strlen(reserved[j]) == key->len
                && memcmp(reserved[j], key->value, key->len) == 0)
            {
                break;
            }
        }

        if (reserved[j]) {
            ai_release_error(ld, key->line, key->column,
                             "params key \"%s\" is reserved: \"apply\" or "
                             "the client sets it", q);
            continue;
        }

        if (value->type != AI_RELEASE_NODE_SCALAR
            || (value->len == 0 && !value->quoted))
        {
            ai_release_error(ld, value->line, value->column,
                             "params.%s must be a JSON scalar (string, "
                             "number, true, false or null)%s", q,
                             value->type == AI_RELEASE_NODE_SCALAR
                             ? ": it is empty (\"\" is the empty string)"
                             : "");
            continue;
        }

        value->literal = (!value->quoted
                          && ai_release_json_literal(value->value,
                                                     value->len));
    }
}


/*
 * pricing: input_per_mtok and output_per_mtok, both required, each a price
 * (ai_release_price_parse()) kept in micro-units.  Each value is rewritten
 * in its shortest form and marked literal, so that the canonical form has
 * it as a JSON number: 2.50, "2.5" and 2.500000 are the same price and
 * give the same digest.  Its text never gets longer, and lives in the
 * node's own allocation.
 */

static void
ai_release_check_pricing(ai_release_load_t *ld, ai_release_bundle_t *bundle,
    ai_release_node_t *map)
{
    char                 q[AI_RELEASE_QUOTE_SIZE];
    char                 text[AI_RELEASE_PRICE_TEXT_SIZE];
    size_t               i, k, n, nerrors;
    uint64_t             micro, *field[2];
    const char          *suggest;
    ai_release_node_t   *key, *value, *seen[2];

    static const char   *keys[] = { "input_per_mtok", "output_per_mtok",
                                    NULL };

    field[0] = &bundle->pricing.input_per_mtok;
    field[1] = &bundle->pricing.output_per_mtok;
    seen[0] = NULL;
    seen[1] = NULL;
    nerrors = ld->nerrors;

    for (i = 0; i < map->nitems; i++) {
        key = map->items[2 * i];
        value = map->items[2 * i + 1];

        if (key->type != AI_RELEASE_NODE_SCALAR) {
            continue;
        }

        ai_release_quote(key->value, key->len, q);

        for (k = 0; keys[k]; k++) {
            if (strlen(keys[k]) == key->len
                && memcmp(keys[k], key->value, key->len) == 0)
            {
                break;
            }
        }

        if (keys[k] == NULL) {
            suggest = ai_release_suggest(key->value, key->len, keys,
                                         sizeof(const char *));

            if (suggest) {
                ai_release_error(ld, key->line, key->column,
                                 "unknown key \"%s\" in \"pricing\", did "
                                 "you mean \"%s\"?", q, suggest);

            } else {
                ai_release_error(ld, key->line, key->column,
                                 "unknown key \"%s\" in \"pricing\": "
                                 "expected input_per_mtok and "
                                 "output_per_mtok", q);
            }

            continue;
        }

        seen[k] = value;

        if (value->type != AI_RELEASE_NODE_SCALAR
            || ai_release_price_parse(value->value, value->len, &micro) != 0)
        {
            ai_release_error(ld, value->line, value->column,
                             "pricing.%s%s%s%s must be a price per million "
                             "tokens: a decimal number of 0 to "
                             "9999999.999999 with at most 6 decimals, "
                             "e.g. 2.50", keys[k],
                             value->type == AI_RELEASE_NODE_SCALAR
                             ? " \"" : "",
                             value->type == AI_RELEASE_NODE_SCALAR
                             ? ai_release_quote(value->value, value->len, q)
                             : "",
                             value->type == AI_RELEASE_NODE_SCALAR
                             ? "\"" : "");
            continue;
        }

        *field[k] = micro;

        n = ai_release_price_format(micro, text);

        if (n > 0 && n <= value->len) {
            memcpy(value->value, text, n + 1);
            value->len = n;
            value->literal = 1;
        }
    }

    for (k = 0; keys[k]; k++) {
        if (seen[k] == NULL) {
            ai_release_error(ld, map->line, map->column,
                             "pricing needs %s (the price of a million %s "
                             "tokens, e.g. %s)", keys[k],
                             k ? "output" : "input", k ? "10.00" : "2.50");
        }
    }

    bundle->pricing.set = (ld->nerrors == nerrors);
}


/*
 * output_contract: every key of ai_release_contract_keys[], each checked
 * and copied into the bundle's contract; its pointers are parsed for the
 * body and for each format's events once all are known
 */

static void
ai_release_check_contract(ai_release_load_t *ld, ai_release_bundle_t *bundle,
    ai_release_node_t *map)
{
    char                             q[AI_RELEASE_QUOTE_SIZE];
    size_t                           i, nerrors;
    const char                      *suggest, *err;
    ai_release_node_t               *key;
    ai_release_contract_t           *c;
    const ai_release_contract_key_t *k;

    c = ai_release_contract_create();
    if (c == NULL) {
        ai_release_error(ld, 0, 0, "out of memory");
        return;
    }

    bundle->contract = c;
    nerrors = ld->nerrors;

    for (i = 0; i < map->nitems; i++) {
        key = map->items[2 * i];

        if (key->type != AI_RELEASE_NODE_SCALAR) {
            continue;
        }

        for (k = ai_release_contract_keys; k->name; k++) {
            if (strlen(k->name) == key->len
                && memcmp(k->name, key->value, key->len) == 0)
            {
                break;
            }
        }

        if (k->name) {
            k->check(ld, c, k, map->items[2 * i + 1]);
            continue;
        }

        ai_release_quote(key->value, key->len, q);

        suggest = ai_release_suggest(key->value, key->len,
                                     ai_release_contract_keys,
                                     sizeof(ai_release_contract_key_t));

        if (suggest) {
            ai_release_error(ld, key->line, key->column,
                             "unknown key \"%s\" in \"output_contract\", "
                             "did you mean \"%s\"?", q, suggest);

        } else {
            ai_release_error(ld, key->line, key->column,
                             "unknown key \"%s\" in \"output_contract\"",
                             q);
        }
    }

    if (ld->nerrors == nerrors
        && c->mode == AI_RELEASE_CONTRACT_ENFORCE && c->max_bytes == 0)
    {
        /* enforce holds each answer until it is judged: up to what size */
        ai_release_error(ld, map->line, map->column,
                         "output_contract.mode enforce needs max_bytes: an "
                         "answer is held up to it until it is checked");
    }

    if (ld->nerrors == nerrors
        && ai_release_contract_prepare(c, &err) != 0)
    {
        ai_release_error(ld, map->line, map->column, "output_contract: %s",
                         err);
    }
}


/* a list of HTTP status codes, 100 to 599 */

static void
ai_release_contract_status(ai_release_load_t *ld, ai_release_contract_t *c,
    const ai_release_contract_key_t *k, ai_release_node_t *value)
{
    char                q[AI_RELEASE_QUOTE_SIZE];
    size_t              i, j;
    unsigned            code;
    ai_release_node_t  *item;

    if (value->type != AI_RELEASE_NODE_SEQ || value->nitems == 0) {
        ai_release_error(ld, value->line, value->column,
                         "output_contract.%s must be a list of HTTP status "
                         "codes, e.g. [200]", k->name);
        return;
    }

    for (i = 0; i < value->nitems; i++) {
        item = value->items[i];

        if (item->type != AI_RELEASE_NODE_SCALAR) {
            ai_release_error(ld, item->line, item->column,
                             "output_contract.%s: each item must be an HTTP "
                             "status code (100 to 599)", k->name);
            continue;
        }

        code = 0;

        if (item->len == 3) {
            for (j = 0; j < 3 && item->value[j] >= '0'
                        && item->value[j] <= '9'; j++)
            {
                code = code * 10 + (unsigned) (item->value[j] - '0');
            }

            if (j < 3) {
                code = 0;
            }
        }

        if (code < 100 || code > 599) {
            ai_release_error(ld, item->line, item->column,
                             "output_contract.%s: \"%s\" is not an HTTP "
                             "status code (100 to 599)", k->name,
                             ai_release_quote(item->value, item->len, q));
            continue;
        }

        c->status[(code - 100) / 64] |= (uint64_t) 1 << ((code - 100) % 64);
        c->nstatus++;
    }
}


static void
ai_release_contract_type(ai_release_load_t *ld, ai_release_contract_t *c,
    const ai_release_contract_key_t *k, ai_release_node_t *value)
{
    char    q[AI_RELEASE_QUOTE_SIZE];
    size_t  i;

    if (ai_release_contract_scalar(ld, k, value, "a media type") != 0) {
        return;
    }

    if (!ai_release_contract_media_type(value->value, value->len)) {
        ai_release_error(ld, value->line, value->column,
                         "output_contract.%s \"%s\" is not a media type "
                         "(type/subtype, without parameters, e.g. "
                         "application/json)", k->name,
                         ai_release_quote(value->value, value->len, q));
        return;
    }

    /* a duplicate key (an error of its own) has come before */
    free(c->content_type);

    c->content_type = ai_release_strndup(value->value, value->len);
    if (c->content_type == NULL) {
        ai_release_error(ld, 0, 0, "out of memory");
        return;
    }

    for (i = 0; i < value->len; i++) {
        if (c->content_type[i] >= 'A' && c->content_type[i] <= 'Z') {
            c->content_type[i] |= 0x20;
        }
    }

    c->content_type_len = value->len;
}


/* max_bytes and the latencies: a size or a duration, not 0 */

static void
ai_release_contract_number(ai_release_load_t *ld, ai_release_contract_t *c,
    const ai_release_contract_key_t *k, ai_release_node_t *value)
{
    char      q[AI_RELEASE_QUOTE_SIZE];
    uint64_t  n;

    if (ai_release_contract_scalar(ld, k, value, k->what) != 0) {
        return;
    }

    if (k->parse(value->value, value->len, &n) != 0 || n == 0) {
        ai_release_error(ld, value->line, value->column,
                         "output_contract.%s \"%s\" is not %s%s", k->name,
                         ai_release_quote(value->value, value->len, q),
                         k->what, k->hint);
        return;
    }

    *(uint64_t *) ((char *) c + k->offset) = n;
}


/* true or false (every scalar is text: "true" is true too) */

static void
ai_release_contract_flag(ai_release_load_t *ld, ai_release_contract_t *c,
    const ai_release_contract_key_t *k, ai_release_node_t *value)
{
    unsigned  *flag;

    flag = (unsigned *) ((char *) c + k->offset);

    if (value->type == AI_RELEASE_NODE_SCALAR) {
        if (value->len == 4 && memcmp(value->value, "true", 4) == 0) {
            *flag = 1;
            return;
        }

        if (value->len == 5 && memcmp(value->value, "false", 5) == 0) {
            *flag = 0;
            return;
        }
    }

    ai_release_error(ld, value->line, value->column,
                     "output_contract.%s must be true or false", k->name);
}


/* required, non_empty: lists of JSON Pointers (RFC 6901) */

static void
ai_release_contract_pointers(ai_release_load_t *ld, ai_release_contract_t *c,
    const ai_release_contract_key_t *k, ai_release_node_t *value)
{
    char                q[AI_RELEASE_QUOTE_SIZE];
    size_t              i;
    const char         *err;
    ai_release_node_t  *item;

    if (value->type != AI_RELEASE_NODE_SEQ) {
        ai_release_error(ld, value->line, value->column,
                         "output_contract.%s must be a list of JSON "
                         "Pointers, e.g. [\"/choices/0/message/content\"]",
                         k->name);
        return;
    }

    for (i = 0; i < value->nitems; i++) {
        item = value->items[i];

        if (item->type != AI_RELEASE_NODE_SCALAR) {
            ai_release_error(ld, item->line, item->column,
                             "output_contract.%s: each item must be a JSON "
                             "Pointer (a string)", k->name);
            continue;
        }

        if (ai_release_contract_pointer(c, item->value, item->len,
                                        k->name[0] == 'n', &err)
            != 0)
        {
            ai_release_error(ld, item->line, item->column,
                             "output_contract.%s \"%s\" is not a JSON "
                             "Pointer the contract can check: %s", k->name,
                             ai_release_quote(item->value, item->len, q),
                             err);
        }
    }
}


/* the end marker: 1 to 64 bytes of visible ASCII and spaces */

static void
ai_release_contract_end(ai_release_load_t *ld, ai_release_contract_t *c,
    const ai_release_contract_key_t *k, ai_release_node_t *value)
{
    size_t  i;

    if (ai_release_contract_scalar(ld, k, value, "a string") != 0) {
        return;
    }

    for (i = 0; i < value->len; i++) {
        if ((unsigned char) value->value[i] < 0x20
            || (unsigned char) value->value[i] > 0x7e)
        {
            break;
        }
    }

    if (i < value->len || value->len > AI_RELEASE_CONTRACT_END_MAX) {
        ai_release_error(ld, value->line, value->column,
                         "output_contract.%s must be 1 to %d bytes of "
                         "printable ASCII, e.g. \"[DONE]\" or message_stop",
                         k->name, AI_RELEASE_CONTRACT_END_MAX);
        return;
    }

    /* a duplicate key (an error of its own) has come before */
    free(c->stream_end);

    c->stream_end = ai_release_strndup(value->value, value->len);
    if (c->stream_end == NULL) {
        ai_release_error(ld, 0, 0, "out of memory");
        return;
    }

    c->stream_end_len = value->len;
}


static void
ai_release_contract_mode(ai_release_load_t *ld, ai_release_contract_t *c,
    const ai_release_contract_key_t *k, ai_release_node_t *value)
{
    if (value->type == AI_RELEASE_NODE_SCALAR) {
        if (value->len == 7 && memcmp(value->value, "observe", 7) == 0) {
            c->mode = AI_RELEASE_CONTRACT_OBSERVE;
            return;
        }

        if (value->len == 7 && memcmp(value->value, "enforce", 7) == 0) {
            c->mode = AI_RELEASE_CONTRACT_ENFORCE;
            return;
        }
    }

    ai_release_error(ld, value->line, value->column,
                     "output_contract.%s must be observe or enforce",
                     k->name);
}


/* a scalar that is not empty; 0, or -1 after the error */

static int
ai_release_contract_scalar(ai_release_load_t *ld,
    const ai_release_contract_key_t *k, ai_release_node_t *value,
    const char *what)
{
    if (value->type != AI_RELEASE_NODE_SCALAR || value->len == 0) {
        ai_release_error(ld, value->line, value->column,
                         "output_contract.%s must be %s%s", k->name, what,
                         value->type == AI_RELEASE_NODE_SCALAR
                         ? " (it is empty)" : "");
        return -1;
    }

    return 0;
}


/* a JSON number (RFC 8259), true, false or null */

static int
ai_release_json_literal(const char *s, size_t len)
{
    size_t  i, digits;

    if ((len == 4 && (memcmp(s, "true", 4) == 0 || memcmp(s, "null", 4) == 0))
        || (len == 5 && memcmp(s, "false", 5) == 0))
    {
        return 1;
    }

    i = (len > 0 && s[0] == '-');

    /* an integer part: 0, or digits without a leading zero */

    for (digits = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        digits++;
    }

    if (digits == 0 || (digits > 1 && s[i - digits] == '0')) {
        return 0;
    }

    if (i < len && s[i] == '.') {
        for (i++, digits = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            digits++;
        }

        if (digits == 0) {
            return 0;
        }
    }

    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;

        if (i < len && (s[i] == '+' || s[i] == '-')) {
            i++;
        }

        for (digits = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            digits++;
        }

        if (digits == 0) {
            return 0;
        }
    }

    return i == len;
}


/*
 * The name within edit distance 2 of s, if any, in a table whose entries
 * start with their name (a const char *), of size bytes each, that ends
 * with a NULL name
 */

static const char *
ai_release_suggest(const char *s, size_t len, const void *table, size_t size)
{
    size_t       klen, d, best_d;
    const char  *best, *name, *p;

    if (len > 24) {
        return NULL;
    }

    best = NULL;
    best_d = 3;

    for (p = table; (name = *(const char * const *) p) != NULL; p += size) {
        klen = strlen(name);

        if (klen + 2 < len || len + 2 < klen) {
            continue;
        }

        d = ai_release_distance(s, len, name, klen);

        if (d < best_d) {
            best_d = d;
            best = name;
        }
    }

    return best;
}
