/*
 * Copyright (C) ngx_ai_release authors
 *
 * ai_release_api: the control API.  JSON in and out:
 *
 *   GET  .../workflows                 every workflow's state
 *   GET  .../workflows/NAME            one workflow
 *   POST .../workflows/NAME/rollback   every canary to weight 0
 *   POST .../workflows/NAME/pin        {"bundle":"name@version"}
 *   POST .../workflows/NAME/trip       {"bundle":"name@version"}
 *   POST .../workflows/NAME/reset      {"bundle":"name@version"}
 *   POST .../workflows/NAME/resume     drop the overrides
 *   GET  .../workflows/NAME/history    its release record, newest first
 *   POST .../workflows/NAME/resume     drop the overrides, resume plans
 *   POST .../workflows/NAME/pause      hold the canaries' plans
 *   POST .../workflows/NAME/advance    their next step now
 *
 * Overrides live in the shared-memory slots, so all workers obey them at
 * once and a reload keeps them while the bundles keep their digests.
 *
 * No other site may drive it through an operator's browser: a request
 * whose Origin or Sec-Fetch-Site says it comes from elsewhere gets 403, a
 * mutation needs "Content-Type: application/json" (which a cross-site
 * form cannot send, and which needs a CORS preflight the API never grants)
 * and, with "token_file=", "Authorization: Bearer TOKEN".
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_ai_release_module.h"
#include "ngx_http_ai_release_response.h"
#include "ngx_http_ai_release_display_json.h"
#include "ngx_http_ai_release_api.h"
#include "ngx_http_ai_release_history.h"
#include "ngx_http_ai_release_rollout.h"


#define NGX_HTTP_AI_RELEASE_API_MAX_BODY  16384

#define NGX_HTTP_AI_RELEASE_ACT_ROLLBACK  0
#define NGX_HTTP_AI_RELEASE_ACT_PIN       1
#define NGX_HTTP_AI_RELEASE_ACT_TRIP      2
#define NGX_HTTP_AI_RELEASE_ACT_RESET     3
#define NGX_HTTP_AI_RELEASE_ACT_RESUME    4
#define NGX_HTTP_AI_RELEASE_ACT_PAUSE     5
#define NGX_HTTP_AI_RELEASE_ACT_ADVANCE   6


typedef struct {
    ngx_http_ai_release_workflow_t  *workflow;
    ngx_uint_t                       action;
} ngx_http_ai_release_api_ctx_t;


static ngx_int_t ngx_http_ai_release_api_token_read(ngx_conf_t *cf,
    ngx_str_t *name, ngx_str_t *token);
static ngx_int_t ngx_http_ai_release_api_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_ai_release_api_same_site(ngx_http_request_t *r);
static ngx_int_t ngx_http_ai_release_api_mutation(ngx_http_request_t *r,
    ngx_http_ai_release_loc_conf_t *alcf);
static ngx_int_t ngx_http_ai_release_api_refuse(ngx_http_request_t *r,
    ngx_uint_t status, u_char *msg, u_char *last);
static void ngx_http_ai_release_api_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_ai_release_api_action(ngx_http_request_t *r,
    ngx_http_ai_release_api_ctx_t *ctx);
static ngx_int_t ngx_http_ai_release_api_act(ngx_http_request_t *r,
    ngx_http_ai_release_api_ctx_t *ctx, u_char *body, size_t len);
static ngx_int_t ngx_http_ai_release_api_allow(ngx_http_request_t *r,
    ngx_str_t *allow);
static ngx_int_t ngx_http_ai_release_api_read(ngx_http_request_t *r,
    u_char **body, size_t *len);
static void ngx_http_ai_release_api_override(ngx_http_ai_release_target_t *t,
    ngx_uint_t k, ngx_uint_t on, u_char *by);
static json_t *ngx_http_ai_release_api_history(
    ngx_http_ai_release_workflow_t *wf);
static void ngx_http_ai_release_api_record(ngx_http_request_t *r,
    ngx_http_ai_release_api_ctx_t *ctx, ngx_http_ai_release_target_t *t,
    u_char *by);


static ngx_str_t  ngx_http_ai_release_actions[] = {
    ngx_string("rollback"),
    ngx_string("pin"),
    ngx_string("trip"),
    ngx_string("reset"),
    ngx_string("resume"),
    ngx_string("pause"),
    ngx_string("advance")
};

static ngx_str_t  ngx_http_ai_release_api_allow_key = ngx_string("Allow");
static ngx_str_t  ngx_http_ai_release_api_get_head = ngx_string("GET, HEAD");
static ngx_str_t  ngx_http_ai_release_api_post = ngx_string("POST");
static ngx_str_t  ngx_http_ai_release_api_authenticate =
    ngx_string("WWW-Authenticate");
static ngx_str_t  ngx_http_ai_release_api_bearer = ngx_string("Bearer");


char *
ngx_http_ai_release_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ai_release_loc_conf_t *alcf = conf;

    ngx_str_t                 *value, name;
    ngx_uint_t                 i;
    ngx_http_core_loc_conf_t  *clcf;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "readonly") == 0) {
            alcf->api_readonly = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "token_file=", 11) == 0) {
            name.data = value[i].data + 11;
            name.len = value[i].len - 11;

            if (ngx_http_ai_release_api_token_read(cf, &name,
                                                   &alcf->api_token)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", it must be "
                           "\"readonly\" or \"token_file=PATH\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (alcf->api_readonly && alcf->api_token.data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"readonly\" and \"token_file=\" exclude each "
                           "other: the token guards mutations, and a "
                           "read-only API has none");
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_ai_release_api_handler;

    return NGX_CONF_OK;
}


/*
 * The token, read once when the configuration is loaded (so the master,
 * before it gives up root, is the only process that opens the file).
 */

static ngx_int_t
ngx_http_ai_release_api_token_read(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *token)
{
    int     rc, err;
    char   *data, msg[128];
    size_t  len;

    if (token->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate \"token_file=\" parameter");
        return NGX_ERROR;
    }

    if (name->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"token_file=\" needs a path");
        return NGX_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a regular file, opened non-blocking, of at most 16 MiB */

    rc = ai_release_read_file((char *) name->data, &data, &len, &err);

    if (rc == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, err,
                           "cannot read the API token file \"%V\"", name);
        return NGX_ERROR;
    }

    if (rc != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the API token file \"%V\" is %s", name,
                           rc == -2 ? "too large" : "not a regular file");
        return NGX_ERROR;
    }

    if (ai_release_api_token_check(data, &len, msg, sizeof(msg)) != 0) {
        ngx_explicit_memzero(data, len);
        free(data);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid API token file \"%V\": %s (make one "
                           "with \"head -c 32 /dev/urandom | base64\")",
                           name, msg);
        return NGX_ERROR;
    }

    token->data = ngx_pnalloc(cf->pool, len);
    if (token->data == NULL) {
        ngx_explicit_memzero(data, len);
        free(data);
        return NGX_ERROR;
    }

    ngx_memcpy(token->data, data, len);
    token->len = len;

    ngx_explicit_memzero(data, len);
    free(data);

    return NGX_OK;
}


static ngx_int_t
ngx_http_ai_release_api_handler(ngx_http_request_t *r)
{
    u_char                           *p, *end, *seg[4];
    size_t                            len[4];
    ngx_int_t                         rc;
    ngx_uint_t                        n, i, history;
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_ai_release_loc_conf_t   *alcf;
    ngx_http_ai_release_workflow_t   *wf;
    ngx_http_ai_release_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_ai_release_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    alcf = ngx_http_get_module_loc_conf(r, ngx_http_ai_release_module);

    /* whatever it asks for: nothing for another site */

    rc = ngx_http_ai_release_api_same_site(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    /* the path after the location's prefix, split at "/" */

    p = r->uri.data;
    end = r->uri.data + r->uri.len;

    if (!clcf->named && r->uri.len >= clcf->name.len
        && ngx_strncmp(p, clcf->name.data, clcf->name.len) == 0)
    {
        p += clcf->name.len;
    }

    n = 0;

    while (p < end) {
        while (p < end && *p == '/') {
            p++;
        }

        if (p == end) {
            break;
        }

        if (n == 4) {
            goto not_found;
        }

        seg[n] = p;

        while (p < end && *p != '/') {
            p++;
        }

        len[n] = p - seg[n];
        n++;
    }

    if (n == 0 || n > 3
        || len[0] != 9 || ngx_strncmp(seg[0], "workflows", 9) != 0)
    {
        goto not_found;
    }

    wf = NULL;

    if (n >= 2) {
        wf = ngx_http_ai_release_find_workflow(amcf, seg[1], len[1]);

        if (wf == NULL) {
            rc = ngx_http_discard_request_body(r);
            if (rc != NGX_OK) {
                return rc;
            }

            return ngx_http_ai_release_json_error(r, NGX_HTTP_NOT_FOUND,
                                                  "unknown workflow \"%*s\"",
                                                  len[1], seg[1]);
        }
    }

    history = (n == 3 && len[2] == sizeof("history") - 1
               && ngx_strncmp(seg[2], "history", len[2]) == 0);

    if (n <= 2 || history) {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_http_ai_release_api_allow(r,
                                          &ngx_http_ai_release_api_get_head);
        }

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        if (history) {
            return ngx_http_ai_release_send_json(r, NGX_HTTP_OK,
                                      ngx_http_ai_release_api_history(wf));
        }

        if (wf) {
            return ngx_http_ai_release_send_json(r, NGX_HTTP_OK,
                                        ngx_http_ai_release_workflow_json(wf));
        }

        return ngx_http_ai_release_send_workflows(r, json_object(), NULL);
    }

    /* n == 3: an action */

    for (i = 0; i < sizeof(ngx_http_ai_release_actions) / sizeof(ngx_str_t);
         i++)
    {
        if (ngx_http_ai_release_actions[i].len == len[2]
            && ngx_strncmp(ngx_http_ai_release_actions[i].data, seg[2],
                           len[2])
               == 0)
        {
            break;
        }
    }

    if (i == sizeof(ngx_http_ai_release_actions) / sizeof(ngx_str_t)) {
        goto not_found;
    }

    if (r->method != NGX_HTTP_POST) {
        return ngx_http_ai_release_api_allow(r,
                                             &ngx_http_ai_release_api_post);
    }

    if (alcf->api_readonly) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_ai_release_json_error(r, NGX_HTTP_FORBIDDEN,
                                              "the API is read-only here");
    }

    rc = ngx_http_ai_release_api_mutation(r, alcf);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (r->headers_in.content_length_n > NGX_HTTP_AI_RELEASE_API_MAX_BODY) {
        r->keepalive = 0;
        return ngx_http_ai_release_json_error(r,
                                     NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                     "the request body is larger than %d "
                                     "bytes", NGX_HTTP_AI_RELEASE_API_MAX_BODY);
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_ai_release_api_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;

not_found:

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_ai_release_json_error(r, NGX_HTTP_NOT_FOUND,
                                          "no such resource \"%V\"", &r->uri);
}


/*
 * NGX_DECLINED when the request may come from here: no Origin or an
 * Origin of this very scheme://Host, and no Sec-Fetch-Site or one of
 * "same-origin" or "none"; else the 403 sent.  Headers a client repeats
 * must all pass.
 */

static ngx_int_t
ngx_http_ai_release_api_same_site(ngx_http_request_t *r)
{
    u_char           *p, msg[512];
    ngx_int_t         https;
    ngx_str_t         host;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    https = 0;

#if (NGX_HTTP_SSL)
    https = (r->connection->ssl != NULL);
#endif

    ngx_str_null(&host);

    if (r->headers_in.host) {
        host = r->headers_in.host->value;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NGX_DECLINED;
            }

            part = part->next;
            h = part->elts;
            i = 0;

            if (part->nelts == 0) {
                continue;
            }
        }

        if (h[i].key.len == sizeof("Origin") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Origin",
                               sizeof("Origin") - 1)
               == 0)
        {
            if (ai_release_api_same_origin((char *) h[i].value.data,
                                           h[i].value.len, https,
                                           (char *) host.data, host.len))
            {
                continue;
            }

            if (host.len == 0) {
                p = ngx_snprintf(msg, sizeof(msg) - 1,
                                 "cross-site request: Origin \"%*s\" "
                                 "and no Host header to compare it with",
                                 ngx_min(h[i].value.len, 128),
                                 h[i].value.data);

            } else {
                p = ngx_snprintf(msg, sizeof(msg) - 1,
                                 "cross-site request: Origin \"%*s\" "
                                 "is not this server's origin \"%s%*s\"",
                                 ngx_min(h[i].value.len, 128),
                                 h[i].value.data,
                                 https ? "https://" : "http://",
                                 ngx_min(host.len, 128), host.data);
            }

            return ngx_http_ai_release_api_refuse(r, NGX_HTTP_FORBIDDEN, msg,
                                                  p);
        }

        if (h[i].key.len == sizeof("Sec-Fetch-Site") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Sec-Fetch-Site",
                               sizeof("Sec-Fetch-Site") - 1)
               == 0)
        {
            if (ai_release_api_fetch_site_ok((char *) h[i].value.data,
                                             h[i].value.len))
            {
                continue;
            }

            p = ngx_snprintf(msg, sizeof(msg) - 1,
                             "cross-site request: Sec-Fetch-Site is "
                             "\"%*s\", only \"same-origin\" and \"none\" "
                             "are accepted",
                             ngx_min(h[i].value.len, 128), h[i].value.data);

            return ngx_http_ai_release_api_refuse(r, NGX_HTTP_FORBIDDEN, msg,
                                                  p);
        }
    }
}


/*
 * NGX_DECLINED when a POST may change something: the bearer token when
 * one is configured (401 otherwise), and a JSON body (415 otherwise, also
 * for an empty body: a cross-site form can send none of those).
 */

static ngx_int_t
ngx_http_ai_release_api_mutation(ngx_http_request_t *r,
    ngx_http_ai_release_loc_conf_t *alcf)
{
    u_char           *p, msg[512];
    ngx_table_elt_t  *h;

    if (alcf->api_token.data) {
        h = r->headers_in.authorization;

        if (h == NULL
            || !ai_release_api_bearer_ok((char *) h->value.data,
                                         h->value.len,
                                         (char *) alcf->api_token.data,
                                         alcf->api_token.len))
        {
            h = ngx_http_ai_release_header_out(r,
                                        &ngx_http_ai_release_api_authenticate,
                                        &ngx_http_ai_release_api_bearer);
            if (h == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            r->headers_out.www_authenticate = h;

            p = ngx_snprintf(msg, sizeof(msg) - 1, "%s",
                             h ? "the Authorization header does not "
                                 "carry the API's bearer token"
                               : "this needs \"Authorization: Bearer "
                                 "TOKEN\"");

            return ngx_http_ai_release_api_refuse(r, NGX_HTTP_UNAUTHORIZED,
                                                  msg, p);
        }
    }

    h = r->headers_in.content_type;

    if (h == NULL
        || !ai_release_api_json_type((char *) h->value.data, h->value.len))
    {
        if (h) {
            p = ngx_snprintf(msg, sizeof(msg) - 1, "Content-Type \"%*s\": "
                             "a change needs \"Content-Type: "
                             "application/json\", even with no body",
                             ngx_min(h->value.len, 128), h->value.data);

        } else {
            p = ngx_snprintf(msg, sizeof(msg) - 1, "no Content-Type: a "
                             "change needs \"Content-Type: "
                             "application/json\", even with no body");
        }

        return ngx_http_ai_release_api_refuse(r,
                                        NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                        msg, p);
    }

    return NGX_DECLINED;
}


/* a refusal: logged at warn with the client, then the JSON error */

static ngx_int_t
ngx_http_ai_release_api_refuse(ngx_http_request_t *r, ngx_uint_t status,
    u_char *msg, u_char *last)
{
    ngx_int_t  rc;

    *last = '\0';

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "ai_release: api: %V refused (%ui): %s",
                  &r->method_name, status, msg);

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_ai_release_json_error(r, status, "%s", msg);
}


static void
ngx_http_ai_release_api_body(ngx_http_request_t *r)
{
    u_char                         *body;
    size_t                          len;
    ngx_int_t                       rc;
    ngx_http_ai_release_api_ctx_t   actx, *ctx;

    /* the handler checked the path: find its workflow and action again */

    ctx = &actx;

    if (ngx_http_ai_release_api_action(r, ctx) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_http_ai_release_api_read(r, &body, &len);

    if (rc == NGX_DECLINED) {
        rc = ngx_http_ai_release_json_error(r,
                                     NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                     "the request body is larger than %d "
                                     "bytes", NGX_HTTP_AI_RELEASE_API_MAX_BODY);

    } else if (rc == NGX_OK) {
        rc = ngx_http_ai_release_api_act(r, ctx, body, len);

    } else {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_ai_release_api_action(ngx_http_request_t *r,
    ngx_http_ai_release_api_ctx_t *ctx)
{
    u_char                           *p, *name, *action;
    ngx_uint_t                        i;
    ngx_http_ai_release_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_ai_release_module);

    /* ".../workflows/NAME/ACTION": the last two segments */

    p = r->uri.data + r->uri.len;

    while (p > r->uri.data && p[-1] == '/') {
        p--;
    }

    action = p;

    while (action > r->uri.data && action[-1] != '/') {
        action--;
    }

    name = action - 1;

    while (name > r->uri.data && name[-1] == '/') {
        name--;
    }

    p = name;

    while (name > r->uri.data && name[-1] != '/') {
        name--;
    }

    if (action == r->uri.data || name == p) {
        return NGX_ERROR;
    }

    ctx->workflow = ngx_http_ai_release_find_workflow(amcf, name, p - name);

    if (ctx->workflow == NULL) {
        return NGX_ERROR;
    }

    p = r->uri.data + r->uri.len;

    while (p > action && p[-1] == '/') {
        p--;
    }

    for (i = 0; i < sizeof(ngx_http_ai_release_actions) / sizeof(ngx_str_t);
         i++)
    {
        if (ngx_http_ai_release_actions[i].len == (size_t) (p - action)
            && ngx_strncmp(ngx_http_ai_release_actions[i].data, action,
                           p - action)
               == 0)
        {
            ctx->action = i;
            return NGX_OK;
        }
    }

    return NGX_ERROR;
}


/* the body in one piece; NGX_DECLINED when it is too large */

static ngx_int_t
ngx_http_ai_release_api_read(ngx_http_request_t *r, u_char **body,
    size_t *len)
{
    u_char       *p;
    size_t        size;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    *body = NULL;
    *len = 0;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    size = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        size += b->in_file ? (size_t) (b->file_last - b->file_pos)
                           : (size_t) (b->last - b->pos);
    }

    if (size > NGX_HTTP_AI_RELEASE_API_MAX_BODY) {
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(r->pool, size + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *body = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                              b->file_pos);
            if (n != b->file_last - b->file_pos) {
                return NGX_ERROR;
            }

            p += n;
            continue;
        }

        if (b->last > b->pos) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }

    *len = size;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ai_release_api_act(ngx_http_request_t *r,
    ngx_http_ai_release_api_ctx_t *ctx, u_char *body, size_t len)
{
    u_char                           *by, *p, *bundle;
    char                              msg[256];
    const char                       *err;
    size_t                            i, k, n;
    ngx_uint_t                        need;
    json_t                           *root;
    ngx_str_t                         id;
    ngx_http_ai_release_target_t     *t, *c;
    ngx_http_ai_release_workflow_t   *wf;

    wf = ctx->workflow;
    t = NULL;

    /* who: the client's address, for the status and the log */

    by = ngx_pnalloc(r->pool, NGX_HTTP_AI_RELEASE_BY_LEN);
    if (by == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_snprintf(by, NGX_HTTP_AI_RELEASE_BY_LEN - 1, "%V",
                     &r->connection->addr_text);
    *p = '\0';

    need = (ctx->action == NGX_HTTP_AI_RELEASE_ACT_PIN
            || ctx->action == NGX_HTTP_AI_RELEASE_ACT_TRIP
            || ctx->action == NGX_HTTP_AI_RELEASE_ACT_RESET);

    /* the same parser the fuzzer runs; any string fits in len + 1 bytes */

    bundle = ngx_pnalloc(r->pool, len + 1);
    if (bundle == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ai_release_api_body_parse((char *) body, len, need, (char *) bundle,
                                  len + 1, msg, sizeof(msg))
        != 0)
    {
        return ngx_http_ai_release_json_error(r, NGX_HTTP_BAD_REQUEST,
                                 "\"%V\": %s",
                                 &ngx_http_ai_release_actions[ctx->action],
                                 msg);
    }

    if (need) {
        id.data = bundle;
        id.len = ngx_strlen(bundle);

        t = ngx_http_ai_release_find_target(wf, id.data, id.len);

        if (t == NULL) {
            i = ngx_min(id.len, 128);
            return ngx_http_ai_release_json_error(r, NGX_HTTP_NOT_FOUND,
                                 "workflow \"%V\" has no bundle \"%*s\"",
                                 &wf->name, i, id.data);
        }
    }

    n = ngx_http_ai_release_target_count(wf);

    switch (ctx->action) {

    case NGX_HTTP_AI_RELEASE_ACT_ROLLBACK:
        c = wf->canaries.elts;

        for (i = 0; i < wf->canaries.nelts; i++) {
            ngx_http_ai_release_api_override(&c[i],
                                             NGX_HTTP_AI_RELEASE_OVR_ROLLBACK,
                                             1, by);
        }

        break;

    case NGX_HTTP_AI_RELEASE_ACT_PIN:
        if (t->variant == NGX_HTTP_AI_RELEASE_SHADOW) {
            /* a shadow never takes users' traffic */
            return ngx_http_ai_release_json_error(r, NGX_HTTP_CONFLICT,
                                 "bundle \"%V\" of workflow \"%V\" cannot "
                                 "be pinned: it is the workflow's shadow, "
                                 "which never serves users", &t->id,
                                 &wf->name);
        }

        if (t->ungated) {
            /* no override may give traffic to a bundle short of its gate */
            return ngx_http_ai_release_json_error(r, NGX_HTTP_CONFLICT,
                                 "bundle \"%V\" of workflow \"%V\" cannot "
                                 "be pinned: %s", &t->id, &wf->name,
                                 t->ungated);
        }

        for (i = 0; i < n; i++) {
            c = ngx_http_ai_release_target_at(wf, i);
            ngx_http_ai_release_api_override(c, NGX_HTTP_AI_RELEASE_OVR_PIN,
                                             c == t, by);
        }

        break;

    case NGX_HTTP_AI_RELEASE_ACT_TRIP:
        ngx_http_ai_release_manual_trip(t, r->connection->log, by);
        break;

    case NGX_HTTP_AI_RELEASE_ACT_RESET:
        ngx_http_ai_release_manual_reset(t, r->connection->log);
        break;

    case NGX_HTTP_AI_RELEASE_ACT_PAUSE:
    case NGX_HTTP_AI_RELEASE_ACT_ADVANCE:
        err = ngx_http_ai_release_rollout_control(wf,
                  ctx->action == NGX_HTTP_AI_RELEASE_ACT_PAUSE
                  ? NGX_HTTP_AI_RELEASE_ROLLOUT_PAUSE
                  : NGX_HTTP_AI_RELEASE_ROLLOUT_ADVANCE,
                  r->connection->log);

        if (err) {
            return ngx_http_ai_release_json_error(r, NGX_HTTP_CONFLICT,
                                 "cannot %V workflow \"%V\": %s",
                                 &ngx_http_ai_release_actions[ctx->action],
                                 &wf->name, err);
        }

        break;

    default: /* NGX_HTTP_AI_RELEASE_ACT_RESUME */
        (void) ngx_http_ai_release_rollout_control(wf,
                                       NGX_HTTP_AI_RELEASE_ROLLOUT_RESUME,
                                       r->connection->log);

        for (i = 0; i < n; i++) {
            c = ngx_http_ai_release_target_at(wf, i);

            for (k = 0; k < NGX_HTTP_AI_RELEASE_OVR_TRIP; k++) {
                ngx_http_ai_release_api_override(c, k, 0, by);
            }

            if (c->slot->override[NGX_HTTP_AI_RELEASE_OVR_TRIP]) {
                ngx_http_ai_release_manual_reset(c, r->connection->log);
            }
        }

        break;
    }

    /* kept across restarts before the client hears it is done */

    ngx_http_ai_release_state_changed(
        ngx_http_get_module_main_conf(r, ngx_http_ai_release_module),
        r->connection->log, 1);

    ngx_http_ai_release_api_record(r, ctx, t, by);

    if (t) {
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "ai_release: api: %V of workflow \"%V\" bundle \"%V\" "
                      "by %s", &ngx_http_ai_release_actions[ctx->action],
                      &wf->name, &t->id, by);

    } else {
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "ai_release: api: %V of workflow \"%V\" by %s",
                      &ngx_http_ai_release_actions[ctx->action], &wf->name,
                      by);
    }

    root = json_object();
    json_object_set_new(root, "ok", json_true());
    json_object_set_new(root, "action", json_stringn(
                  (char *) ngx_http_ai_release_actions[ctx->action].data,
                  ngx_http_ai_release_actions[ctx->action].len));
    json_object_set_new(root, "workflow",
                        ngx_http_ai_release_workflow_json(wf));

    return ngx_http_ai_release_send_json(r, NGX_HTTP_OK, root);
}


static void
ngx_http_ai_release_api_override(ngx_http_ai_release_target_t *t,
    ngx_uint_t k, ngx_uint_t on, u_char *by)
{
    ngx_http_ai_release_slot_t       *slot;
    ngx_http_ai_release_main_conf_t  *amcf;

    slot = t->slot;
    amcf = t->shm_zone->data;

    ngx_shmtx_lock(&amcf->shpool->mutex);

    if (on) {
        slot->override_at[k] = ngx_time();
        ngx_cpystrn(slot->override_by[k], by, NGX_HTTP_AI_RELEASE_BY_LEN);
    }

    if (k == NGX_HTTP_AI_RELEASE_OVR_PIN && !slot->override[k] != !on) {
        /* requests look for a pin only while one is set somewhere */
        if (on) {
            ai_release_atomic_add(&amcf->sh->pins, 1);

        } else {
            ai_release_atomic_add(&amcf->sh->pins, (uint64_t) -1);
        }
    }

    ai_release_atomic_store(&slot->override[k], on ? 1 : 0);
    slot->restored &= ~((uint64_t) 1 << k);

    ngx_shmtx_unlock(&amcf->shpool->mutex);
}


/* GET .../workflows/NAME/history */

static json_t *
ngx_http_ai_release_api_history(ngx_http_ai_release_workflow_t *wf)
{
    json_t  *root;

    root = json_object();
    json_object_set_new(root, "workflow",
                        json_stringn((char *) wf->name.data, wf->name.len));
    json_object_set_new(root, "history",
                        ngx_http_ai_release_history_json(wf));

    return root;
}


/* an action into the workflow's release record: who "api:VERB" */

static void
ngx_http_ai_release_api_record(ngx_http_request_t *r,
    ngx_http_ai_release_api_ctx_t *ctx, ngx_http_ai_release_target_t *t,
    u_char *by)
{
    u_char     *p, who[NGX_HTTP_AI_RELEASE_HISTORY_WHO];
    u_char      text[NGX_HTTP_AI_RELEASE_HISTORY_TEXT];
    ngx_str_t  *verb;

    verb = &ngx_http_ai_release_actions[ctx->action];

    p = ngx_snprintf(who, sizeof(who) - 1, "api:%V", verb);
    *p = '\0';

    if (t) {
        p = ngx_snprintf(text, sizeof(text), "%V %V by %s", verb, &t->id,
                         by);

    } else {
        p = ngx_snprintf(text, sizeof(text), "%V by %s", verb, by);
    }

    ngx_http_ai_release_history_add(ctx->workflow, (char *) who, text,
                                    p - text, r->connection->log);
}


static ngx_int_t
ngx_http_ai_release_api_allow(ngx_http_request_t *r, ngx_str_t *allow)
{
    ngx_int_t  rc;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_ai_release_header_out(r, &ngx_http_ai_release_api_allow_key,
                                       allow)
        == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_ai_release_json_error(r, NGX_HTTP_NOT_ALLOWED,
                                          "method %V is not allowed here, use "
                                          "%V", &r->method_name, allow);
}

