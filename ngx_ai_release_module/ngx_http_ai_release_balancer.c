/*
 * Copyright (C) ngx_ai_release authors
 *
 * The "ai_release" upstream: "proxy_pass http://ai_release;" reaches the
 * servers of the bundle chosen for the request through nginx's balancer
 * interface.  Each bundle's upstream (an "upstream" block, or an implicit
 * one for host:port) is resolved at configuration time, so a request costs
 * one pointer dereference, whatever the number of workflows, and keeps
 * everything the bundle's own balancer does (round robin, keepalive,
 * max_fails).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ai_release_module.h"


static ngx_int_t ngx_http_ai_release_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_ai_release_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);


ngx_int_t
ngx_http_ai_release_balancer_add(ngx_conf_t *cf,
    ngx_http_ai_release_main_conf_t *amcf)
{
    ngx_url_t                      u;
    ngx_http_upstream_srv_conf_t  *uscf;

    if (amcf->balancer) {
        return NGX_OK;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    ngx_str_set(&u.host, NGX_HTTP_AI_RELEASE_UPSTREAM);
    u.url = u.host;
    u.no_port = 1;
    u.no_resolve = 1;

    uscf = ngx_http_upstream_add(cf, &u, NGX_HTTP_UPSTREAM_CREATE);
    if (uscf == NULL) {
        return NGX_ERROR;
    }

    uscf->peer.init_upstream = ngx_http_ai_release_init_upstream;

    amcf->balancer = uscf;

    return NGX_OK;
}


ngx_http_upstream_srv_conf_t *
ngx_http_ai_release_upstream_add(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_url_t  u;

    if (name->len == sizeof(NGX_HTTP_AI_RELEASE_UPSTREAM) - 1
        && ngx_strncasecmp(name->data, (u_char *) NGX_HTTP_AI_RELEASE_UPSTREAM,
                           name->len)
           == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "a bundle cannot use the upstream \"%V\": the "
                           "name is reserved by ai_release", name);
        return NULL;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = *name;
    u.default_port = 80;
    u.no_resolve = 1;

    return ngx_http_upstream_add(cf, &u, 0);
}


static ngx_int_t
ngx_http_ai_release_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us)
{
    us->peer.init = ngx_http_ai_release_init_peer;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ai_release_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_ai_release_ctx_t     *ctx;
    ngx_http_upstream_srv_conf_t  *uscf;

    ctx = ngx_http_ai_release_select(r);

    if (ctx == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "upstream \"" NGX_HTTP_AI_RELEASE_UPSTREAM "\" is used "
                      "in a location without \"ai_release\"");
        return NGX_ERROR;
    }

    uscf = ctx->target->uscf;

    return uscf->peer.init(r, uscf);
}
