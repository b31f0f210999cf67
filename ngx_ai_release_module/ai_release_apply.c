
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Applying a bundle to request bodies (see ai_release_apply.h): the
 * values a bundle sets, computed once per bundle and format at
 * configuration time (malloc()ed); the plan of a body, a handler of the
 * streaming JSON scanner that keeps a few spans and allocates nothing;
 * and the edits that splice the values into the body.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ai_release_apply.h"


/* where ai_release_apply_values() is, and where its error goes */

typedef struct {
    const ai_release_bundle_t  *bundle;
    ai_release_apply_values_t  *out;
    char                       *err;
    size_t                      errlen;
    unsigned                   *line;
    unsigned                   *column;
} ai_release_apply_ctx_t;


static int ai_release_apply_system(ai_release_apply_ctx_t *ctx,
    int format);
static int ai_release_apply_tools(ai_release_apply_ctx_t *ctx);
static int ai_release_apply_params(ai_release_apply_ctx_t *ctx,
    const ai_release_node_t *params);
static int ai_release_apply_member(ai_release_apply_ctx_t *ctx,
    const char *name, size_t name_len, const char *value, size_t len,
    int string);
static char *ai_release_apply_read(ai_release_apply_ctx_t *ctx,
    const char *key, size_t *len, const ai_release_file_t **file);
static const ai_release_node_t *ai_release_apply_key(
    const ai_release_bundle_t *b, const char *name);
static int ai_release_apply_fail(ai_release_apply_ctx_t *ctx,
    unsigned line, unsigned column, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static size_t ai_release_apply_quote(char *dst, const char *s, size_t len);
static size_t ai_release_apply_utf8(const unsigned char *s, size_t len);
static size_t ai_release_apply_compact(char *dst, const char *s,
    size_t len);

static int ai_release_apply_scanned(ai_release_apply_plan_t *p, int rc);
static int ai_release_apply_event(ai_release_json_t *js,
    const ai_release_json_event_t *ev, void *data);
static int ai_release_apply_top(ai_release_apply_plan_t *p,
    const ai_release_json_event_t *ev);
static void ai_release_apply_client_model(ai_release_apply_plan_t *p,
    const ai_release_json_event_t *ev);
static int ai_release_apply_twice(ai_release_apply_plan_t *p,
    const ai_release_json_event_t *ev);
static int ai_release_apply_lookup(const ai_release_member_t *names,
    size_t n, const void *name, size_t len);
static int ai_release_apply_plan_fail(ai_release_apply_plan_t *p,
    const char *error, uint64_t offset);
static void ai_release_apply_piece(ai_release_edit_t *e, uint64_t start,
    uint64_t end, const char *text, size_t len, const char *more,
    size_t more_len);


static const char  *ai_release_formats[] = {
    "none", "openai-chat", "openai-responses", "anthropic-messages", NULL
};

/* the words of "apply", bit 1 << i each */
static const char  *ai_release_apply_words[] = {
    "model", "system_instructions", "tools", "params", NULL
};


#define ai_release_apply_is(ev, s)                                           \
    ((ev)->key_len == sizeof(s) - 1 && (ev)->key_n == sizeof(s) - 1          \
     && memcmp((ev)->key, s, sizeof(s) - 1) == 0)


int
ai_release_format_parse(const char *s, size_t len)
{
    int  i;

    for (i = 0; ai_release_formats[i]; i++) {
        if (strlen(ai_release_formats[i]) == len
            && memcmp(ai_release_formats[i], s, len) == 0)
        {
            return i;
        }
    }

    return -1;
}


const char *
ai_release_format_name(int format)
{
    return (format >= AI_RELEASE_FORMAT_NONE
            && format <= AI_RELEASE_FORMAT_ANTHROPIC_MESSAGES)
           ? ai_release_formats[format] : "?";
}


int
ai_release_apply_word(const char *s, size_t len)
{
    int  i;

    for (i = 0; ai_release_apply_words[i]; i++) {
        if (strlen(ai_release_apply_words[i]) == len
            && memcmp(ai_release_apply_words[i], s, len) == 0)
        {
            return 1 << i;
        }
    }

    return -1;
}


/* the values: configuration time */

int
ai_release_apply_values(const ai_release_bundle_t *b, int format,
    unsigned what, ai_release_apply_values_t *out, char *err, size_t errlen,
    unsigned *line, unsigned *column)
{
    size_t                    n;
    const ai_release_node_t  *key, *params;
    ai_release_apply_ctx_t    ctx;

    memset(out, 0, sizeof(ai_release_apply_values_t));

    ctx.bundle = b;
    ctx.out = out;
    ctx.err = err;
    ctx.errlen = errlen;
    ctx.line = line;
    ctx.column = column;

    *line = 0;
    *column = 0;

    if (errlen) {
        err[0] = '\0';
    }

    if (what & ~(unsigned) (AI_RELEASE_APPLY_MODEL | AI_RELEASE_APPLY_SYSTEM
                            | AI_RELEASE_APPLY_TOOLS
                            | AI_RELEASE_APPLY_PARAMS))
    {
        return ai_release_apply_fail(&ctx, 0, 0, "unknown apply bits 0x%x",
                                     what);
    }

    if (what == 0) {
        return 0;
    }

    if (format <= AI_RELEASE_FORMAT_NONE
        || format > AI_RELEASE_FORMAT_ANTHROPIC_MESSAGES)
    {
        return ai_release_apply_fail(&ctx, 0, 0,
                                     "nothing can be applied in format %s",
                                     ai_release_format_name(format));
    }

    params = (what & AI_RELEASE_APPLY_PARAMS)
             ? ai_release_node_get(b->root, "params") : NULL;

    n = 3 + (params ? params->nitems : 0);

    out->members = calloc(n, sizeof(ai_release_member_t));
    if (out->members == NULL) {
        return ai_release_apply_fail(&ctx, 0, 0, "out of memory");
    }

    if (what & AI_RELEASE_APPLY_MODEL) {
        key = ai_release_apply_key(b, "model");

        if (b->model == NULL || key == NULL) {
            ai_release_apply_fail(&ctx, b->line, b->column,
                                  "the bundle has no \"model\" to apply");
            goto failed;
        }

        *line = key->line;
        *column = key->column;

        if (ai_release_apply_member(&ctx, "model", 5, b->model,
                                    strlen(b->model), 1)
            != 0)
        {
            goto failed;
        }
    }

    if ((what & AI_RELEASE_APPLY_SYSTEM)
        && ai_release_apply_system(&ctx, format) != 0)
    {
        goto failed;
    }

    if ((what & AI_RELEASE_APPLY_TOOLS) && ai_release_apply_tools(&ctx) != 0)
    {
        goto failed;
    }

    if (params && ai_release_apply_params(&ctx, params) != 0) {
        goto failed;
    }

    *line = 0;
    *column = 0;

    return 0;

failed:

    ai_release_apply_values_free(out);

    return -1;
}


void
ai_release_apply_values_free(ai_release_apply_values_t *v)
{
    size_t  i;

    for (i = 0; i < v->nmembers; i++) {
        /* name, member and value are one allocation */
        free(v->members[i].name);
    }

    free(v->members);
    free(v->system_message);

    memset(v, 0, sizeof(ai_release_apply_values_t));
}


/* the inline text or the file's, as "instructions", "system" or a message */

static int
ai_release_apply_system(ai_release_apply_ctx_t *ctx, int format)
{
    int                        rc;
    char                      *data, *p;
    size_t                     len, bad, qlen;
    unsigned                   line, column;
    const char                *text, *name;
    const ai_release_node_t   *key, *node;
    const ai_release_file_t   *file;

    static const char  head[] = "{\"role\":\"system\",\"content\":";

    key = ai_release_apply_key(ctx->bundle, "system_instructions");

    if (key == NULL) {
        return ai_release_apply_fail(ctx, ctx->bundle->line,
                                     ctx->bundle->column,
                                     "the bundle has no "
                                     "\"system_instructions\" to apply");
    }

    node = ai_release_node_get(ctx->bundle->root, "system_instructions");

    data = NULL;
    name = "system_instructions";

    if (node->type == AI_RELEASE_NODE_SCALAR) {
        text = node->value;
        len = node->len;
        line = key->line;
        column = key->column;

    } else {
        data = ai_release_apply_read(ctx, "system_instructions.file", &len,
                                     &file);
        if (data == NULL) {
            return -1;
        }

        text = data;
        name = "system_instructions.file";
        line = file->line;
        column = file->column;
    }

    bad = ai_release_apply_utf8((const unsigned char *) text, len);

    if (bad < len) {
        free(data);
        return ai_release_apply_fail(ctx, line, column,
                                     "%s is not valid UTF-8 (at byte %zu)",
                                     name, bad);
    }

    *ctx->line = line;
    *ctx->column = column;

    if (format == AI_RELEASE_FORMAT_OPENAI_RESPONSES) {
        rc = ai_release_apply_member(ctx, "instructions", 12, text, len, 1);
        free(data);
        return rc;
    }

    if (format == AI_RELEASE_FORMAT_ANTHROPIC_MESSAGES) {
        rc = ai_release_apply_member(ctx, "system", 6, text, len, 1);
        free(data);
        return rc;
    }

    qlen = ai_release_apply_quote(NULL, text, len);

    p = malloc(sizeof(head) - 1 + qlen + 2);
    if (p == NULL) {
        free(data);
        return ai_release_apply_fail(ctx, 0, 0, "out of memory");
    }

    ctx->out->system_message = p;

    memcpy(p, head, sizeof(head) - 1);
    p += sizeof(head) - 1;
    p += ai_release_apply_quote(p, text, len);
    *p++ = '}';
    *p = '\0';

    ctx->out->system_message_len = p - ctx->out->system_message;

    free(data);

    return 0;
}


/* the tool_schema file: an array of objects, its whitespace removed */

static int
ai_release_apply_tools(ai_release_apply_ctx_t *ctx)
{
    int                       rc;
    char                     *data, *compact;
    char                      q[AI_RELEASE_QUOTE_SIZE];
    size_t                    len, i;
    json_t                   *j;
    json_error_t              jerr;
    const ai_release_file_t  *file;

    data = ai_release_apply_read(ctx, "tool_schema", &len, &file);
    if (data == NULL) {
        return -1;
    }

    ai_release_quote(file->path, strlen(file->path), q);

    j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);

    if (j == NULL) {
        free(data);
        return ai_release_apply_fail(ctx, file->line, file->column,
                                     "tool_schema \"%s\" is not valid JSON: "
                                     "%s (line %d, column %d)", q,
                                     jerr.text, jerr.line, jerr.column);
    }

    rc = json_is_array(j) ? 0 : -1;

    for (i = 0; rc == 0 && i < json_array_size(j); i++) {
        if (!json_is_object(json_array_get(j, i))) {
            rc = -1;
        }
    }

    json_decref(j);

    if (rc != 0) {
        free(data);
        return ai_release_apply_fail(ctx, file->line, file->column,
                                     "tool_schema \"%s\" must be a JSON "
                                     "array of tools (objects)", q);
    }

    compact = malloc(len + 1);
    if (compact == NULL) {
        free(data);
        return ai_release_apply_fail(ctx, 0, 0, "out of memory");
    }

    len = ai_release_apply_compact(compact, data, len);

    free(data);

    *ctx->line = file->line;
    *ctx->column = file->column;

    rc = ai_release_apply_member(ctx, "tools", 5, compact, len, 0);

    free(compact);

    return rc;
}


static int
ai_release_apply_params(ai_release_apply_ctx_t *ctx,
    const ai_release_node_t *params)
{
    char                      q[AI_RELEASE_QUOTE_SIZE];
    size_t                    i;
    const ai_release_node_t  *key, *value;

    for (i = 0; i < params->nitems; i++) {
        key = params->items[2 * i];
        value = params->items[2 * i + 1];

        /* the schema refuses anything else; a tree made by hand may not */

        if (key->type != AI_RELEASE_NODE_SCALAR
            || value->type != AI_RELEASE_NODE_SCALAR)
        {
            return ai_release_apply_fail(ctx, key->line, key->column,
                                         "params.%s must be a JSON scalar "
                                         "(string, number, true, false or "
                                         "null)",
                                         key->type == AI_RELEASE_NODE_SCALAR
                                         ? ai_release_quote(key->value,
                                                            key->len, q)
                                         : "?");
        }

        *ctx->line = key->line;
        *ctx->column = key->column;

        if (ai_release_apply_member(ctx, key->value, key->len, value->value,
                                    value->len, !value->literal)
            != 0)
        {
            return -1;
        }
    }

    return 0;
}


/*
 * Adds a member: name, then "name":value in one allocation, value quoted
 * as a JSON string when string is set, else taken as JSON text already.
 */

static int
ai_release_apply_member(ai_release_apply_ctx_t *ctx, const char *name,
    size_t name_len, const char *value, size_t len, int string)
{
    char                 *p;
    size_t                klen, vlen;
    ai_release_member_t  *m;

    klen = ai_release_apply_quote(NULL, name, name_len);
    vlen = string ? ai_release_apply_quote(NULL, value, len) : len;

    p = malloc(name_len + 1 + klen + 1 + vlen + 1);
    if (p == NULL) {
        return ai_release_apply_fail(ctx, 0, 0, "out of memory");
    }

    m = &ctx->out->members[ctx->out->nmembers++];

    m->name = p;
    m->name_len = name_len;

    memcpy(p, name, name_len);
    p[name_len] = '\0';

    m->member = p + name_len + 1;

    p = m->member + ai_release_apply_quote(m->member, name, name_len);
    *p++ = ':';

    m->value = p;

    if (string) {
        p += ai_release_apply_quote(p, value, len);

    } else {
        memcpy(p, value, len);
        p += len;
    }

    *p = '\0';

    m->member_len = p - m->member;
    m->value_len = vlen;

    return 0;
}


/*
 * A referenced file read again, NUL-terminated: it must have the bytes
 * the bundle's digest was made of.  NULL after an error.
 */

static char *
ai_release_apply_read(ai_release_apply_ctx_t *ctx, const char *key,
    size_t *len, const ai_release_file_t **out)
{
    int                       rc, e;
    char                     *data;
    char                      q[AI_RELEASE_QUOTE_SIZE];
    size_t                    i;
    unsigned char             sha[AI_RELEASE_SHA256_LEN];
    const ai_release_file_t  *file;

    file = NULL;

    for (i = 0; i < ctx->bundle->nfiles; i++) {
        if (strcmp(ctx->bundle->files[i].key, key) == 0) {
            file = &ctx->bundle->files[i];
            break;
        }
    }

    if (file == NULL) {
        ai_release_apply_fail(ctx, ctx->bundle->line, ctx->bundle->column,
                              "the bundle has no \"%s\" to apply",
                              strcmp(key, "tool_schema") == 0
                              ? key : "system_instructions");
        return NULL;
    }

    *out = file;

    ai_release_quote(file->path, strlen(file->path), q);

    rc = ai_release_read_file(file->full_path, &data, len, &e);

    if (rc != 0) {
        ai_release_apply_fail(ctx, file->line, file->column,
                              "cannot read %s \"%s\": %s", key, q,
                              ai_release_read_error(rc, e));
        return NULL;
    }

    ai_release_sha256(data, *len, sha);

    if (memcmp(sha, file->sha256, AI_RELEASE_SHA256_LEN) != 0) {
        free(data);
        ai_release_apply_fail(ctx, file->line, file->column,
                              "%s \"%s\" changed while the configuration "
                              "was read: its bytes are not those of the "
                              "bundle's digest", key, q);
        return NULL;
    }

    return data;
}


/* the key node of a top-level member of the manifest, or NULL */

static const ai_release_node_t *
ai_release_apply_key(const ai_release_bundle_t *b, const char *name)
{
    size_t                    i, len;
    const ai_release_node_t  *key;

    if (b->root == NULL || b->root->type != AI_RELEASE_NODE_MAP) {
        return NULL;
    }

    len = strlen(name);

    for (i = 0; i < b->root->nitems; i++) {
        key = b->root->items[2 * i];

        if (key->type == AI_RELEASE_NODE_SCALAR && key->len == len
            && memcmp(key->value, name, len) == 0)
        {
            return key;
        }
    }

    return NULL;
}


static int
ai_release_apply_fail(ai_release_apply_ctx_t *ctx, unsigned line,
    unsigned column, const char *fmt, ...)
{
    va_list  args;

    if (ctx->errlen) {
        va_start(args, fmt);
        (void) vsnprintf(ctx->err, ctx->errlen, fmt, args);
        va_end(args);
    }

    *ctx->line = line;
    *ctx->column = column;

    return -1;
}


/*
 * s as a JSON string into dst (NULL: only counted): '"' and '\' escaped,
 * bytes below 0x20 as \b \f \n \r \t or \u00XX, all others as they are.
 */

static size_t
ai_release_apply_quote(char *dst, const char *s, size_t len)
{
    char           esc;
    size_t         i, n;
    unsigned char  c;

    static const char  hex[] = "0123456789abcdef";

#define put(ch)  do { if (dst) { dst[n] = (char) (ch); } n++; } while (0)

    n = 0;

    put('"');

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c >= 0x20 && c != '"' && c != '\\') {
            put(c);
            continue;
        }

        switch (c) {
        case '"':
        case '\\':
            esc = (char) c;
            break;
        case '\b':
            esc = 'b';
            break;
        case '\f':
            esc = 'f';
            break;
        case '\n':
            esc = 'n';
            break;
        case '\r':
            esc = 'r';
            break;
        case '\t':
            esc = 't';
            break;
        default:
            esc = 'u';
        }

        put('\\');
        put(esc);

        if (esc == 'u') {
            put('0');
            put('0');
            put(hex[c >> 4]);
            put(hex[c & 0xf]);
        }
    }

    put('"');

#undef put

    return n;
}


/* the offset of the first byte that is not valid UTF-8, or len */

static size_t
ai_release_apply_utf8(const unsigned char *s, size_t len)
{
    size_t    i, k, need;
    unsigned  c, lo, hi;

    i = 0;

    while (i < len) {
        c = s[i];

        if (c < 0x80) {
            i++;
            continue;
        }

        /* no overlong forms, no surrogates, nothing past U+10FFFF */

        lo = 0x80;
        hi = 0xbf;

        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;

        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            lo = (c == 0xe0) ? 0xa0 : 0x80;
            hi = (c == 0xed) ? 0x9f : 0xbf;

        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            lo = (c == 0xf0) ? 0x90 : 0x80;
            hi = (c == 0xf4) ? 0x8f : 0xbf;

        } else {
            return i;
        }

        if (len - i <= need) {
            return i;
        }

        for (k = 1; k <= need; k++) {
            if (s[i + k] < lo || s[i + k] > hi) {
                return i;
            }

            lo = 0x80;
            hi = 0xbf;
        }

        i += need + 1;
    }

    return len;
}


/* valid JSON without the whitespace between its tokens; the new length */

static size_t
ai_release_apply_compact(char *dst, const char *s, size_t len)
{
    char    c;
    size_t  i, n;
    int     in_string, escaped;

    n = 0;
    in_string = 0;
    escaped = 0;

    for (i = 0; i < len; i++) {
        c = s[i];

        if (in_string) {
            if (escaped) {
                escaped = 0;

            } else if (c == '\\') {
                escaped = 1;

            } else if (c == '"') {
                in_string = 0;
            }

        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            continue;

        } else if (c == '"') {
            in_string = 1;
        }

        dst[n++] = c;
    }

    return n;
}


/* the plan: per request, nothing allocated */

void
ai_release_apply_plan_init(ai_release_apply_plan_t *p, int format,
    const ai_release_member_t *names, size_t nnames,
    ai_release_span_t *found)
{
    /* the scanner initialises itself; its buffers need no zeroing */

    memset(&p->format, 0, offsetof(ai_release_apply_plan_t, error_text)
                          - offsetof(ai_release_apply_plan_t, format));

    p->format = format;
    p->names = names;
    p->nnames = nnames;
    p->found = found;

    if (nnames) {
        memset(found, 0, nnames * sizeof(ai_release_span_t));
    }

    p->error_text[0] = '\0';

    ai_release_json_init(&p->js, ai_release_apply_event, p);

    /* what ai_release_apply_event() reads: BEGIN to depth 2, END to 3 */

    ai_release_json_events(&p->js, 0x7, 0xf);
}


int
ai_release_apply_plan_feed(ai_release_apply_plan_t *p,
    const unsigned char *data, size_t len)
{
    int  rc;

    if (p->error) {
        return -1;
    }

    p->body_len += len;

    rc = ai_release_json_feed(&p->js, data, len);

    return ai_release_apply_scanned(p, rc);
}


int
ai_release_apply_plan_finish(ai_release_apply_plan_t *p)
{
    int  rc;

    if (p->error) {
        return -1;
    }

    rc = ai_release_json_finish(&p->js);

    return ai_release_apply_scanned(p, rc);
}


/* what the scanner returned: 0, or -1 with the error in the plan */

static int
ai_release_apply_scanned(ai_release_apply_plan_t *p, int rc)
{
    if (rc == AI_RELEASE_JSON_OK) {
        return 0;
    }

    /* AI_RELEASE_JSON_STOP: the handler has set the error */

    if (rc == AI_RELEASE_JSON_ERROR) {
        p->error = p->js.error;
        p->error_offset = p->js.error_offset;
    }

    return -1;
}


/*
 * The scanner's events: the top-level object (depth 0), its members
 * (depth 1), the elements of "messages" (depth 2) and the members of
 * messages[0] (depth 3); anything deeper returns at once.
 */

static int
ai_release_apply_event(ai_release_json_t *js,
    const ai_release_json_event_t *ev, void *data)
{
    ai_release_apply_plan_t  *p;

    p = data;

    switch (ev->depth) {

    case 0:
        if (ev->event == AI_RELEASE_JSON_END) {
            p->obj_count = ev->count;
            return 0;
        }

        if (ev->type != AI_RELEASE_JSON_OBJECT) {
            return ai_release_apply_plan_fail(p, "the body is not a JSON "
                                              "object", ev->start);
        }

        p->obj_start = ev->start;

        return 0;

    case 1:
        return ai_release_apply_top(p, ev);

    case 2:

        /* an element of the array "messages": frame 1 is that array */

        if (ev->index != 0 || !p->messages_found
            || js->frame[1].start != p->messages_start)
        {
            return 0;
        }

        if (ev->event == AI_RELEASE_JSON_BEGIN) {
            p->first_start = ev->start;
            return 0;
        }

        p->first_end = ev->end;

        /*
         * messages[0] is all that is read below the top level: the rest
         * of the body is scanned without events or kept bytes there
         */

        ai_release_json_events(js, 0x3, 0x3);

        return 0;

    case 3:

        /* a member of messages[0]: the last "role" decides */

        if (ev->event != AI_RELEASE_JSON_END || !ev->member
            || !p->messages_found || js->frame[1].n != 0
            || js->frame[1].start != p->messages_start
            || !ai_release_apply_is(ev, "role"))
        {
            return 0;
        }

        p->first_is_system = ev->type == AI_RELEASE_JSON_STRING
                             && ((ev->len == 6
                                  && memcmp(ev->text, "system", 6) == 0)
                                 || (ev->len == 9
                                     && memcmp(ev->text, "developer", 9)
                                        == 0));
        return 0;

    default:
        return 0;
    }
}


/* a top-level member: its BEGIN and its END */

static int
ai_release_apply_top(ai_release_apply_plan_t *p,
    const ai_release_json_event_t *ev)
{
    int  i;

    i = (ev->key_n == ev->key_len)
        ? ai_release_apply_lookup(p->names, p->nnames, ev->key, ev->key_n)
        : -1;

    if (ev->event == AI_RELEASE_JSON_BEGIN) {

        if (ai_release_apply_is(ev, "model")) {
            if (p->client_model_found) {
                return ai_release_apply_twice(p, ev);
            }

            p->client_model_found = 1;

        } else if (ai_release_apply_is(ev, "messages")) {
            if (p->messages_start) {
                return ai_release_apply_twice(p, ev);
            }

            p->messages_start = ev->start;
            p->messages_found = (ev->type == AI_RELEASE_JSON_ARRAY);
        }

        if (i >= 0) {
            if (p->found[i].found) {
                return ai_release_apply_twice(p, ev);
            }

            p->found[i].found = 1;
            p->found[i].start = ev->start;
        }

        return 0;
    }

    if (i >= 0) {
        p->found[i].end = ev->end;
    }

    if (ev->type == AI_RELEASE_JSON_ARRAY
        && ai_release_apply_is(ev, "messages"))
    {
        p->messages_count = ev->count;

    } else if (ai_release_apply_is(ev, "model")) {
        ai_release_apply_client_model(p, ev);
    }

    return 0;
}


static void
ai_release_apply_client_model(ai_release_apply_plan_t *p,
    const ai_release_json_event_t *ev)
{
    size_t                n;
    const unsigned char  *text;

    switch (ev->type) {

    case AI_RELEASE_JSON_STRING:
    case AI_RELEASE_JSON_NUMBER:
        text = ev->text;
        n = ev->text_n;
        break;

    case AI_RELEASE_JSON_TRUE:
    case AI_RELEASE_JSON_FALSE:
    case AI_RELEASE_JSON_NULL:
        text = (const unsigned char *) ai_release_json_type_name(ev->type);
        n = strlen((const char *) text);
        break;

    default:
        text = NULL;
        n = 0;
    }

    if (n > sizeof(p->client_model)) {
        n = sizeof(p->client_model);
    }

    if (n) {
        memcpy(p->client_model, text, n);
    }

    p->client_model_len = n;
}


/* a second top-level member of a name that must be there at most once */

static int
ai_release_apply_twice(ai_release_apply_plan_t *p,
    const ai_release_json_event_t *ev)
{
    (void) snprintf(p->error_text, sizeof(p->error_text),
                    "member \"%.*s\" appears twice", (int) ev->key_n,
                    (const char *) ev->key);

    return ai_release_apply_plan_fail(p, p->error_text, ev->key_start);
}


static int
ai_release_apply_lookup(const ai_release_member_t *names, size_t n,
    const void *name, size_t len)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (names[i].name_len == len
            && memcmp(names[i].name, name, len) == 0)
        {
            return (int) i;
        }
    }

    return -1;
}


static int
ai_release_apply_plan_fail(ai_release_apply_plan_t *p, const char *error,
    uint64_t offset)
{
    p->error = error;
    p->error_offset = offset;

    return -1;
}


/* the edits */

int
ai_release_apply_edits(ai_release_apply_plan_t *p,
    const ai_release_apply_values_t *v, ai_release_edit_t *edits,
    size_t max, size_t *n, uint64_t *new_len)
{
    int                         idx;
    size_t                      i, k, inserts, inserted, more;
    uint64_t                    len;
    ai_release_edit_t           e;
    ai_release_span_t          *s;
    const ai_release_member_t  *m;

    *n = 0;
    *new_len = p->body_len;

    if (p->error) {
        return -1;
    }

    /* how many members go in, for the commas between them */

    inserts = 0;

    for (i = 0; i < v->nmembers; i++) {
        m = &v->members[i];

        idx = ai_release_apply_lookup(p->names, p->nnames, m->name,
                                      m->name_len);

        if (idx < 0) {
            (void) snprintf(p->error_text, sizeof(p->error_text),
                            "member \"%.*s\" was not looked for",
                            (int) m->name_len, m->name);
            return ai_release_apply_plan_fail(p, p->error_text, 0);
        }

        inserts += !p->found[idx].found;
    }

    if (v->nmembers + (v->system_message != NULL) > max) {
        return ai_release_apply_plan_fail(p, "more edits than room for them",
                                          0);
    }

    len = p->body_len;
    inserted = 0;
    k = 0;

    for (i = 0; i < v->nmembers; i++) {
        m = &v->members[i];

        idx = ai_release_apply_lookup(p->names, p->nnames, m->name,
                                      m->name_len);
        s = &p->found[idx];

        if (s->found) {
            ai_release_apply_piece(&edits[k++], s->start, s->end, m->value,
                                   m->value_len, NULL, 0);
            len = len - (s->end - s->start) + m->value_len;
            continue;
        }

        inserted++;
        more = (inserted < inserts || p->obj_count > 0);

        ai_release_apply_piece(&edits[k++], p->obj_start + 1,
                               p->obj_start + 1, m->member, m->member_len,
                               more ? "," : NULL, more);
        len += m->member_len + more;
    }

    if (v->system_message) {

        if (!p->messages_found) {
            return ai_release_apply_plan_fail(p, p->messages_start
                                     ? "\"messages\" must be an array"
                                     : "no \"messages\" array to put the "
                                       "system message in",
                                     p->messages_start ? p->messages_start
                                                       : p->obj_start);
        }

        if (p->messages_count > 0 && p->first_is_system) {
            ai_release_apply_piece(&edits[k++], p->first_start, p->first_end,
                                   v->system_message, v->system_message_len,
                                   NULL, 0);
            len = len - (p->first_end - p->first_start)
                  + v->system_message_len;

        } else {
            more = (p->messages_count > 0);

            ai_release_apply_piece(&edits[k++], p->messages_start + 1,
                                   p->messages_start + 1, v->system_message,
                                   v->system_message_len,
                                   more ? "," : NULL, more);
            len += v->system_message_len + more;
        }
    }

    /* by start; a stable insertion sort keeps the inserts in order */

    for (i = 1; i < k; i++) {
        e = edits[i];

        for (idx = (int) i; idx > 0 && edits[idx - 1].start > e.start; idx--)
        {
            edits[idx] = edits[idx - 1];
        }

        edits[idx] = e;
    }

    *n = k;
    *new_len = len;

    return 0;
}


static void
ai_release_apply_piece(ai_release_edit_t *e, uint64_t start, uint64_t end,
    const char *text, size_t len, const char *more, size_t more_len)
{
    e->start = start;
    e->end = end;

    e->text[0] = text;
    e->len[0] = len;
    e->text[1] = more;
    e->len[1] = more_len;
    e->text[2] = NULL;
    e->len[2] = 0;
}
