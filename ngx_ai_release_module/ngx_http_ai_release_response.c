/*
 * Copyright (C) ngx_ai_release authors
 *
 * The responses the status page and the control API send: a header, a
 * body of text in a chain of buffers, a JSON document, a JSON error.
 * Live data all of them: none may be cached.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_ai_release_response.h"


static ngx_buf_t *ngx_http_ai_release_text_room(ngx_http_ai_release_text_t *tx,
    size_t len);


static ngx_str_t  ngx_http_ai_release_cache_control =
    ngx_string("Cache-Control");
static ngx_str_t  ngx_http_ai_release_no_store = ngx_string("no-store");


ngx_int_t
ngx_http_ai_release_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *data, size_t len)
{
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_create_temp_buf(r->pool, len ? len : 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, data, len);

    out.buf = b;
    out.next = NULL;

    return ngx_http_ai_release_send_chain(r, status, type, &out, len);
}


/* out: len bytes in buffers of r->pool, the last one last in the chain */

ngx_int_t
ngx_http_ai_release_send_chain(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_chain_t *out, off_t len)
{
    ngx_int_t     rc;
    ngx_chain_t  *cl;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_type_lowcase = NULL;

    /* live data: never cache it */
    if (ngx_http_ai_release_header_out(r, &ngx_http_ai_release_cache_control,
                                       &ngx_http_ai_release_no_store)
        == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method == NGX_HTTP_HEAD || len == 0) {
        r->header_only = 1;
        return ngx_http_send_header(r);
    }

    for (cl = out; cl->next; cl = cl->next) { /* void */ }

    cl->buf->last_buf = (r == r->main) ? 1 : 0;
    cl->buf->last_in_chain = 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out);
}


/* root: a reference this takes over, NULL when building it failed */

ngx_int_t
ngx_http_ai_release_send_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *root)
{
    char       *text;
    ngx_int_t   rc;
    ngx_str_t   type;

    if (root == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    text = json_dumps(root, NGX_HTTP_AI_RELEASE_JSON_FLAGS);
    json_decref(root);

    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&type, "application/json");
    rc = ngx_http_ai_release_send(r, status, &type, (u_char *) text,
                                  ngx_strlen(text));
    free(text);

    return rc;
}


/* an error as JSON: {"error": {"status": N, "message": "..."}} */

ngx_int_t
ngx_http_ai_release_json_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...)
{
    u_char   *p, msg[512];
    va_list   args;
    json_t   *root, *err, *message;

    va_start(args, fmt);
    p = ngx_vslprintf(msg, msg + sizeof(msg) - 1, fmt, args);
    va_end(args);

    *p = '\0';

    /* a message may quote a client's bytes: JSON wants UTF-8 */

    message = json_string((char *) msg);

    if (message == NULL) {
        for (p = msg; *p; p++) {
            if (*p >= 0x80) {
                *p = '?';
            }
        }

        message = json_string((char *) msg);
    }

    root = json_object();
    err = json_object();
    json_object_set_new(err, "status", json_integer(status));
    json_object_set_new(err, "message", message);
    json_object_set_new(root, "error", err);

    return ngx_http_ai_release_send_json(r, status, root);
}


void
ngx_http_ai_release_text_init(ngx_http_ai_release_text_t *tx,
    ngx_pool_t *pool, size_t chunk)
{
    ngx_memzero(tx, sizeof(ngx_http_ai_release_text_t));

    tx->pool = pool;
    tx->last = &tx->out;
    tx->chunk = chunk;
}


/* appends data; with indent, each newline in it is followed by as many
 * spaces (JSON text has newlines only between tokens) */

ngx_int_t
ngx_http_ai_release_text_add(ngx_http_ai_release_text_t *tx, u_char *data,
    size_t len, ngx_uint_t indent)
{
    u_char     *p, *end, *nl;
    size_t      need;
    ngx_buf_t  *b;

    end = data + len;
    need = len;

    if (indent) {
        for (p = data; (p = ngx_strlchr(p, end, '\n')) != NULL; p++) {
            need += indent;
        }
    }

    b = ngx_http_ai_release_text_room(tx, need);
    if (b == NULL) {
        return NGX_ERROR;
    }

    for (p = data; indent && (nl = ngx_strlchr(p, end, '\n')) != NULL;
         p = nl + 1)
    {
        b->last = ngx_cpymem(b->last, p, nl + 1 - p);
        b->last = ngx_cpymem(b->last, "        ", indent);
    }

    b->last = ngx_cpymem(b->last, p, end - p);
    tx->size += need;

    return NGX_OK;
}


/* appends a line of at most max - 1 bytes (ngx_slprintf's formats) */

ngx_int_t
ngx_http_ai_release_text_printf(ngx_http_ai_release_text_t *tx, size_t max,
    const char *fmt, ...)
{
    u_char     *p;
    va_list     args;
    ngx_buf_t  *b;

    b = ngx_http_ai_release_text_room(tx, max);
    if (b == NULL) {
        return NGX_ERROR;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(b->last, b->last + max, fmt, args);
    va_end(args);

    if (p == b->last + max) {
        /* it may have been cut: a reservation that was too small */
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "ai_release: a status line longer than %uz bytes",
                      max - 1);
        return NGX_ERROR;
    }

    tx->size += p - b->last;
    b->last = p;

    return NGX_OK;
}


/* the buffer to write len more bytes into: the last one, or a new one */

static ngx_buf_t *
ngx_http_ai_release_text_room(ngx_http_ai_release_text_t *tx, size_t len)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    b = tx->buf;

    if (b != NULL && (size_t) (b->end - b->last) >= len) {
        return b;
    }

    b = ngx_create_temp_buf(tx->pool, ngx_max(len, tx->chunk));
    if (b == NULL) {
        return NULL;
    }

    cl = ngx_alloc_chain_link(tx->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;
    *tx->last = cl;
    tx->last = &cl->next;
    tx->buf = b;

    return b;
}
