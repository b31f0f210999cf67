/*
 * Copyright (C) ngx_ai_release authors
 *
 * The responses the status page and the control API send: a header, a
 * body of text in a chain of buffers, a JSON document, a JSON error.
 */


#ifndef _NGX_HTTP_AI_RELEASE_RESPONSE_H_INCLUDED_
#define _NGX_HTTP_AI_RELEASE_RESPONSE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>


#define NGX_HTTP_AI_RELEASE_JSON_FLAGS                                       \
    (JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10))


/* a response body built in buffers of chunk bytes from pool */

typedef struct {
    ngx_pool_t    *pool;
    ngx_chain_t   *out;
    ngx_chain_t  **last;
    ngx_buf_t     *buf;
    off_t          size;
    size_t         chunk;
} ngx_http_ai_release_text_t;


/*
 * A response header; key and value must live as long as the request.
 * Inline: the X-AI-Release header of every request is added with it.
 */

static ngx_inline ngx_table_elt_t *
ngx_http_ai_release_header_out(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key = *key;
    h->value = *value;
    h->lowcase_key = NULL;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return h;
}


ngx_int_t ngx_http_ai_release_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *data, size_t len);
ngx_int_t ngx_http_ai_release_send_chain(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *type, ngx_chain_t *out, off_t len);
ngx_int_t ngx_http_ai_release_send_json(ngx_http_request_t *r,
    ngx_uint_t status, json_t *root);
ngx_int_t ngx_http_ai_release_json_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *fmt, ...);

void ngx_http_ai_release_text_init(ngx_http_ai_release_text_t *tx,
    ngx_pool_t *pool, size_t chunk);
ngx_int_t ngx_http_ai_release_text_add(ngx_http_ai_release_text_t *tx,
    u_char *data, size_t len, ngx_uint_t indent);
ngx_int_t ngx_http_ai_release_text_printf(ngx_http_ai_release_text_t *tx,
    size_t max, const char *fmt, ...);


#endif /* _NGX_HTTP_AI_RELEASE_RESPONSE_H_INCLUDED_ */
