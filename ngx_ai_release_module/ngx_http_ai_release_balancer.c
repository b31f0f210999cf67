/*
 * Copyright (C) ngx_ai_release authors
 *
 * The "ai_release" upstream: "proxy_pass http://ai_release;" reaches the
 * servers of the bundle chosen for the request through nginx's balancer
 * interface.  Each bundle's upstream (an "upstream" block, or an implicit
 * one for host:port) is resolved at configuration time, so a request costs
 * a few pointer dereferences, whatever the number of workflows, and keeps
 * everything the bundle's own balancer does (round robin, keepalive,
 * max_fails).
 *
 * Wrapping the bundle balancer's get and free gives the outcome of every
 * attempt, and lets a failed attempt go once more to the known-good bundle
 * (failover), with nginx replaying the request body.
 *
 * "proxy_pass http://$ai_release_upstream;" makes nginx find the bundle's
 * upstream block by name and call its peer.init: that is wrapped too (for
 * every upstream block a bundle names), so a request that reaches the
 * bundle chosen for it that way is balanced the same.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ai_release_module.h"


/* what failover makes nginx retry on */
#define NGX_HTTP_AI_RELEASE_FAILOVER_FT                                      \
    (NGX_HTTP_UPSTREAM_FT_ERROR|NGX_HTTP_UPSTREAM_FT_TIMEOUT                 \
     |NGX_HTTP_UPSTREAM_FT_INVALID_HEADER|NGX_HTTP_UPSTREAM_FT_HTTP_500      \
     |NGX_HTTP_UPSTREAM_FT_HTTP_502|NGX_HTTP_UPSTREAM_FT_HTTP_503            \
     |NGX_HTTP_UPSTREAM_FT_HTTP_504|NGX_HTTP_UPSTREAM_FT_HTTP_429            \
     |NGX_HTTP_UPSTREAM_FT_NON_IDEMPOTENT)


static ngx_int_t ngx_http_ai_release_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_ai_release_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_ai_release_init_bundle_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_ai_release_init_balanced(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx);
static ngx_http_ai_release_wrap_t *ngx_http_ai_release_wrap_find(
    ngx_http_ai_release_main_conf_t *amcf, ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_ai_release_init_target(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx);
static ngx_int_t ngx_http_ai_release_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_ai_release_free_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
static ngx_uint_t ngx_http_ai_release_may_fail_over(
    ngx_http_ai_release_ctx_t *ctx, ngx_uint_t cls);
static ngx_int_t ngx_http_ai_release_failover(ngx_peer_connection_t *pc,
    ngx_http_ai_release_ctx_t *ctx);
static ngx_int_t ngx_http_ai_release_failover_conf(ngx_http_request_t *r);
static void ngx_http_ai_release_finalize(ngx_http_request_t *r, ngx_int_t rc);
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_ai_release_set_session(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_ai_release_save_session(ngx_peer_connection_t *pc,
    void *data);
#endif


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


/*
 * After the upstream blocks were initialised: the peer.init of every
 * upstream block a bundle names is wrapped.  Each target keeps the
 * original for the requests it serves; an open addressing table by block
 * finds it for the others in O(1).
 */

ngx_int_t
ngx_http_ai_release_wrap_upstreams(ngx_conf_t *cf,
    ngx_http_ai_release_main_conf_t *amcf)
{
    ngx_uint_t                        i, j, n, size;
    ngx_http_ai_release_wrap_t       *w;
    ngx_http_ai_release_target_t     *t;
    ngx_http_ai_release_workflow_t  **wfp;

    wfp = amcf->workflows.elts;
    n = 0;

    for (i = 0; i < amcf->workflows.nelts; i++) {
        n += ngx_http_ai_release_target_count(wfp[i]);
    }

    if (n == 0) {
        return NGX_OK;
    }

    for (size = 2; size < 2 * n; size <<= 1) { /* void */ }

    amcf->wrap = ngx_pcalloc(cf->pool,
                             size * sizeof(ngx_http_ai_release_wrap_t));
    if (amcf->wrap == NULL) {
        return NGX_ERROR;
    }

    amcf->wrap_mask = size - 1;

    for (i = 0; i < amcf->workflows.nelts; i++) {
        n = ngx_http_ai_release_target_count(wfp[i]);

        for (j = 0; j < n; j++) {
            t = ngx_http_ai_release_target_at(wfp[i], j);
            w = ngx_http_ai_release_wrap_find(amcf, t->uscf);

            if (w->uscf == NULL) {
                if (t->uscf->peer.init == NULL) {
                    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                                  "upstream \"%V\" of bundle \"%V\" has "
                                  "no balancer", &t->upstream, &t->id);
                    return NGX_ERROR;
                }

                w->uscf = t->uscf;
                w->init_peer = t->uscf->peer.init;
                t->uscf->peer.init = ngx_http_ai_release_init_bundle_peer;
            }

            t->init_peer = w->init_peer;
        }
    }

    return NGX_OK;
}


/* the entry of an upstream block, or the empty one where it goes */

static ngx_http_ai_release_wrap_t *
ngx_http_ai_release_wrap_find(ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_uint_t                   i;
    ngx_http_ai_release_wrap_t  *w;

    i = (ngx_uint_t) (((uintptr_t) us >> 4) * 2654435761u) & amcf->wrap_mask;

    for ( ;; ) {
        w = &amcf->wrap[i];

        if (w->uscf == us || w->uscf == NULL) {
            return w;
        }

        i = (i + 1) & amcf->wrap_mask;
    }
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
    ngx_http_ai_release_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ai_release_module);

    if (ctx == NULL || ctx->target == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "upstream \"" NGX_HTTP_AI_RELEASE_UPSTREAM "\" is used "
                      "in a location without \"ai_release\"");
        return NGX_ERROR;
    }

    return ngx_http_ai_release_init_balanced(r, ctx);
}


/* the peer.init of a bundle's upstream block, called by nginx */

static ngx_int_t
ngx_http_ai_release_init_bundle_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_ai_release_ctx_t        *ctx;
    ngx_http_ai_release_wrap_t       *w;
    ngx_http_ai_release_main_conf_t  *amcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ai_release_module);

    if (ctx && !ctx->balanced && ctx->target->uscf == us) {
        /* proxy_pass http://$ai_release_upstream */
        return ngx_http_ai_release_init_balanced(r, ctx);
    }

    /* the upstream block used by name, not for a workflow's request */

    amcf = ngx_http_get_module_main_conf(r, ngx_http_ai_release_module);
    w = ngx_http_ai_release_wrap_find(amcf, us);

    return w->init_peer(r, us);
}


static ngx_int_t
ngx_http_ai_release_init_balanced(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx)
{
    if (ngx_http_ai_release_init_target(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->balanced = 1;

    /* its rc tells a stream cut short after the header from a whole one */
    ctx->finalize = r->upstream->finalize_request;
    r->upstream->finalize_request = ngx_http_ai_release_finalize;

    if (ctx->workflow->failover
        && ngx_http_ai_release_known_good(ctx->target))
    {
        /*
         * nginx retries a 5xx only while tries > 1: keep one try for the
         * known-good bundle
         */

        r->upstream->peer.tries++;
        ctx->spare_try = 1;

        return ngx_http_ai_release_failover_conf(r);
    }

    return NGX_OK;
}


/* the target bundle's own balancer, wrapped */

static ngx_int_t
ngx_http_ai_release_init_target(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx)
{
    ngx_http_upstream_t           *u;
    ngx_http_upstream_srv_conf_t  *uscf;

    u = r->upstream;
    uscf = ctx->target->uscf;

    /* the round robin balancer reuses a non-NULL peer.data as its own */
    u->peer.data = NULL;

    if (ctx->target->init_peer(r, uscf) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->data = u->peer.data;
    ctx->get = u->peer.get;
    ctx->free = u->peer.free;

    u->peer.data = ctx;
    u->peer.get = ngx_http_ai_release_get_peer;
    u->peer.free = ngx_http_ai_release_free_peer;

#if (NGX_HTTP_SSL)
    ctx->set_session = u->peer.set_session;
    ctx->save_session = u->peer.save_session;

    if (ctx->set_session) {
        u->peer.set_session = ngx_http_ai_release_set_session;
    }

    if (ctx->save_session) {
        u->peer.save_session = ngx_http_ai_release_save_session;
    }
#endif

    return NGX_OK;
}


static ngx_int_t
ngx_http_ai_release_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_ai_release_ctx_t *ctx = data;

    ngx_int_t  rc;

    if (ctx->next) {
        if (ngx_http_ai_release_failover(pc, ctx) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    ctx->start = ngx_current_msec;
    ctx->timed_out = 0;

    rc = ctx->get(pc, ctx->data);

    if (rc == NGX_BUSY) {
        /* no live server in the bundle's upstream */

        ngx_http_ai_release_outcome(ctx, AI_RELEASE_CONNECT, 0);

        if (!ngx_http_ai_release_may_fail_over(ctx, AI_RELEASE_CONNECT)) {
            return rc;
        }

        if (ngx_http_ai_release_failover(pc, ctx) != NGX_OK) {
            return NGX_ERROR;
        }

        ctx->start = ngx_current_msec;
        rc = ctx->get(pc, ctx->data);

        if (rc == NGX_BUSY) {
            ngx_http_ai_release_outcome(ctx, AI_RELEASE_CONNECT, 0);
            return rc;
        }
    }

    if (rc == NGX_OK || rc == NGX_DONE || rc == NGX_AGAIN) {
        ctx->attempt_open = 1;
    }

    return rc;
}


static void
ngx_http_ai_release_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_ai_release_ctx_t *ctx = data;

    ngx_uint_t            cls;
    ngx_connection_t     *c;
    ngx_http_upstream_t  *u;

    if (!ctx->attempt_open) {
        ctx->free(pc, ctx->data, state);
        return;
    }

    ctx->attempt_open = 0;
    u = ctx->request->upstream;
    c = pc->connection;

    if (c && (c->read->timedout || c->write->timedout)) {
        ctx->timed_out = 1;
    }

    if (!(state & NGX_PEER_FAILED)) {

        if (state & NGX_PEER_NEXT) {
            /* 403 or 404 with proxy_next_upstream: an answer, not an error */
            ngx_http_ai_release_outcome(ctx, AI_RELEASE_OK,
                                       ngx_current_msec - ctx->start);

        } else {
            /* the last attempt: its outcome is known in the log phase */
            ctx->verdict_in_log = 1;
        }

        ctx->free(pc, ctx->data, state);
        return;
    }

    cls = ngx_http_ai_release_attempt_failed(ctx, u);

    ctx->free(pc, ctx->data, state);

    if (ngx_http_ai_release_may_fail_over(ctx, cls)) {
        /* one more attempt, at the known-good bundle */
        pc->tries = 1;
        ctx->spare_try = 0;

    } else if (ctx->spare_try) {
        /* the try kept for failover is not needed */
        if (pc->tries) {
            pc->tries--;
        }

        ctx->spare_try = 0;
    }
}


/*
 * Whether a failed attempt goes once more, to the known-good path: the
 * bundle to take it is chosen here, by the breakers, and is never the one
 * that failed; when no other bundle can take it, the failure is the answer.
 */

static ngx_uint_t
ngx_http_ai_release_may_fail_over(ngx_http_ai_release_ctx_t *ctx,
    ngx_uint_t cls)
{
    if (!ctx->workflow->failover
        || ctx->failed
        || !((ctx->workflow->trip.errors_mask >> cls) & 1))
    {
        return 0;
    }

    return ngx_http_ai_release_failover_target(ctx) != NULL;
}


/*
 * The bundle a request that failed at its current one goes to: the
 * known-good path as the breakers route it, never the one that failed.
 * It is ctx->next, and the current one ctx->failed.
 */

ngx_http_ai_release_target_t *
ngx_http_ai_release_failover_target(ngx_http_ai_release_ctx_t *ctx)
{
    ngx_http_ai_release_target_t  *next;

    next = ngx_http_ai_release_known_good(ctx->target);

    if (next == NULL) {
        return NULL;
    }

    next = ngx_http_ai_release_route(ctx, next, ctx->target);

    if (next == NULL) {
        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "ai_release: workflow \"%V\" bundle \"%V\" failed, "
                      "and no other bundle can take the request",
                      &ctx->workflow->name, &ctx->target->id);
        return NULL;
    }

    ctx->failed = ctx->target;
    ctx->next = next;

    return next;
}


static ngx_int_t
ngx_http_ai_release_failover(ngx_peer_connection_t *pc,
    ngx_http_ai_release_ctx_t *ctx)
{
    ngx_http_request_t            *r;
    ngx_http_upstream_t           *u;
    ngx_http_ai_release_target_t  *from, *to;

    r = ctx->request;
    u = r->upstream;
    from = ctx->target;

    to = ctx->next;

    ctx->next = NULL;
    ctx->target = to;
    ctx->reason = NGX_HTTP_AI_RELEASE_REASON_FAILOVER;

    ngx_log_error(NGX_LOG_INFO, pc->log, 0,
                  "ai_release: workflow \"%V\" bundle \"%V\" failed, request "
                  "fails over to %V \"%V\"", &ctx->workflow->name, &from->id,
                  &ngx_http_ai_release_variant_names[to->variant], &to->id);

    if (ngx_http_ai_release_init_target(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    /* exactly one attempt at the known-good bundle */

    pc->tries = 1;

    if (ngx_http_ai_release_switch_headers(r, from, to) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the body for the new bundle, where the workflow applies bundles */

    if (ctx->apply
        && ngx_http_ai_release_apply_target(r, ctx, to) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* build the request again: headers and variables of the new bundle */

    u->request_bufs = r->request_body ? r->request_body->bufs : NULL;

    if (u->create_request(r) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Failover needs nginx to try again on the errors that count; the
 * location's upstream settings are copied once per worker with those
 * conditions added.
 */

static ngx_int_t
ngx_http_ai_release_failover_conf(ngx_http_request_t *r)
{
    ngx_http_upstream_t             *u;
    ngx_http_upstream_conf_t        *ucf;
    ngx_http_ai_release_loc_conf_t  *alcf;

    u = r->upstream;
    alcf = ngx_http_get_module_loc_conf(r, ngx_http_ai_release_module);

    if (alcf->ucf_orig != u->conf) {
        ucf = ngx_palloc(ngx_cycle->pool, sizeof(ngx_http_upstream_conf_t));
        if (ucf == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(ucf, u->conf, sizeof(ngx_http_upstream_conf_t));

        ucf->next_upstream |= NGX_HTTP_AI_RELEASE_FAILOVER_FT;

        alcf->ucf_orig = u->conf;
        alcf->ucf_failover = ucf;
    }

    u->conf = alcf->ucf_failover;

    return NGX_OK;
}


static void
ngx_http_ai_release_finalize(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_ai_release_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ai_release_module);

    if (ctx == NULL) {
        return;
    }

    ctx->final_rc = rc;

    if (ctx->finalize) {
        ctx->finalize(r, rc);
    }
}


#if (NGX_HTTP_SSL)

static ngx_int_t
ngx_http_ai_release_set_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_ai_release_ctx_t *ctx = data;

    return ctx->set_session(pc, ctx->data);
}


static void
ngx_http_ai_release_save_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_ai_release_ctx_t *ctx = data;

    ctx->save_session(pc, ctx->data);
}

#endif
