/*
 * Copyright (C) ngx_ai_release authors
 *
 * Step 1 of the request path: choose the bundle.  A handler of the rewrite
 * phase, the first phase that knows the request's location, chooses once
 * per request on a workflow location: by the sticky key's hash or at
 * random into the canaries' ranges (their ends computed at configuration
 * time), then through the breakers (ngx_http_ai_release_route).  It fills
 * the request context that the balancer, the variables, the outcome and
 * the log read, and sends the bundle's headers upstream.  Nothing else
 * chooses.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ai_release_module.h"
#include "ngx_http_ai_release_rollout.h"


static ngx_http_ai_release_target_t *ngx_http_ai_release_choose(
    ngx_http_request_t *r, ngx_http_ai_release_ctx_t *ctx);


/*
 * A handler of the rewrite phase rather than preaccess: "return", "if" and
 * "set" run there, and may read $ai_release_* variables.  It is added
 * after the rewrite module's (modules load before this one), so it runs
 * before the location's rewrite directives.
 */

ngx_int_t
ngx_http_ai_release_choose_handler(ngx_http_request_t *r)
{
    ngx_http_ai_release_ctx_t       *ctx;
    ngx_http_ai_release_target_t    *t;
    ngx_http_ai_release_workflow_t  *wf;
    ngx_http_ai_release_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_ai_release_module);

    wf = alcf->workflow;
    if (wf == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_ai_release_module);

    if (ctx) {
        if (ctx->workflow == wf) {
            /* the phase again, after "rewrite ... last" */
            return NGX_DECLINED;
        }

        /*
         * "rewrite ... last" moved the request to another workflow's
         * location before the choice was used
         */

        if (ctx->probe && ctx->target->slot) {
            ngx_http_ai_release_release_probe(ctx->target);
        }

        ngx_memzero(ctx, sizeof(ngx_http_ai_release_ctx_t));

    } else {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ai_release_ctx_t));
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_ai_release_module);
    }

    ctx->request = r;
    ctx->workflow = wf;

    t = ngx_http_ai_release_choose(r, ctx);
    if (t == NULL) {
        ngx_http_set_ctx(r, NULL, ngx_http_ai_release_module);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->target = t;

    if (t->nheaders && ngx_http_ai_release_set_headers(r, t) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


/*
 * The bundle for a request: canaries take the low end of [0, 10000) in
 * configured order, stable the rest, so growing a canary only adds keys to
 * it; then an operator's override, then the breakers.
 */

static ngx_http_ai_release_target_t *
ngx_http_ai_release_choose(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx)
{
    ngx_str_t                        key;
    ngx_uint_t                       i, point;
    ngx_table_elt_t                 *h;
    ngx_http_ai_release_target_t    *t, *canary, *pinned;
    ngx_http_ai_release_workflow_t  *wf;
    ngx_http_ai_release_main_conf_t *amcf;

    wf = ctx->workflow;
    ctx->reason = NGX_HTTP_AI_RELEASE_REASON_WEIGHT;

    if (wf->plans) {
        /* a planned canary's trip or due step first: this request sees it */
        ngx_http_ai_release_rollout_tick(wf, r->connection->log);
    }

    key.len = 0;

    if (wf->sticky_header.len) {
        h = ngx_http_ai_release_header_in(r, wf->sticky_header.data,
                                          wf->sticky_header.len,
                                          wf->sticky_hash);
        if (h) {
            key = h->value;
        }

    } else if (wf->sticky) {
        if (ngx_http_complex_value(r, wf->sticky, &key) != NGX_OK) {
            return NULL;
        }
    }

    if (key.len) {
        point = ai_release_hash_bucket(ai_release_hash32(wf->seed, key.data,
                                                         key.len));
        ctx->reason = NGX_HTTP_AI_RELEASE_REASON_STICKY;

    } else {
        point = (ngx_uint_t) ngx_random() % AI_RELEASE_WEIGHT_SCALE;
    }

    t = wf->stable;

    if (point < wf->canary_total) {
        canary = wf->canaries.elts;

        for (i = 0; point >= canary[i].edge; i++) { /* void */ }

        t = &canary[i];

        if (t->plan && !ngx_http_ai_release_rollout_takes(t, point)) {
            /* the part of its range its plan does not give it yet */
            t = wf->stable;
        }
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ai_release: workflow \"%V\" point %ui bundle \"%V\" (%V)",
                   &wf->name, point, &t->id,
                   &ngx_http_ai_release_variant_names[t->variant]);

    if (t->slot == NULL) {
        /* no zone: nginx -t, or a configuration without workflows' slots */
        return t;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_ai_release_module);

    pinned = ai_release_atomic_load(&amcf->sh->pins)
             ? ngx_http_ai_release_pinned(wf) : NULL;

    if (pinned) {
        /* an operator pinned the workflow to one bundle */
        t = pinned;
        ctx->reason = NGX_HTTP_AI_RELEASE_REASON_OVERRIDE;

    } else if (t->variant == NGX_HTTP_AI_RELEASE_CANARY
               && ai_release_atomic_load(
                      &t->slot->override[NGX_HTTP_AI_RELEASE_OVR_ROLLBACK]))
    {
        /* rolled back: the canary's users go back to stable */
        t = wf->stable;
        ctx->reason = NGX_HTTP_AI_RELEASE_REASON_OVERRIDE;
    }

    return ngx_http_ai_release_route(ctx, t, NULL);
}


/*
 * The first request header of that name (lowercase, and its ngx_hash_key),
 * as $http_NAME gives it, found by the hash nginx computed when it read it.
 */

ngx_table_elt_t *
ngx_http_ai_release_header_in(ngx_http_request_t *r, u_char *lowcase,
    size_t len, ngx_uint_t hash)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == hash
            && h[i].key.len == len
            && ngx_strncmp(h[i].lowcase_key, lowcase, len) == 0)
        {
            return &h[i];
        }
    }
}


/*
 * A bundle's header replaces a client's header of the same name, so that a
 * client cannot send the upstream a value the bundle is meant to decide.
 */

ngx_int_t
ngx_http_ai_release_set_headers(ngx_http_request_t *r,
    ngx_http_ai_release_target_t *t)
{
    ngx_uint_t                     i, j, found;
    ngx_list_part_t               *part;
    ngx_table_elt_t               *header, *h;
    ngx_http_ai_release_header_t  *bh;

    for (j = 0; j < t->nheaders; j++) {
        bh = &t->headers[j];
        found = 0;

        part = &r->headers_in.headers.part;
        header = part->elts;

        for (i = 0; /* void */; i++) {

            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }

                part = part->next;
                header = part->elts;
                i = 0;
            }

            if (header[i].key.len == bh->key.len
                && ngx_strncmp(header[i].lowcase_key, bh->lowcase_key,
                               bh->key.len)
                   == 0)
            {
                header[i].value = bh->value;
                found = 1;
            }
        }

        if (found) {
            continue;
        }

        h = ngx_list_push(&r->headers_in.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = bh->hash;
        h->key = bh->key;
        h->value = bh->value;
        h->lowcase_key = bh->lowcase_key;
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif
    }

    return NGX_OK;
}


/*
 * Failover to another bundle: the headers of the bundle that failed leave
 * the request, the new bundle's take their place.  Rare, so the list is
 * simply copied.
 */

ngx_int_t
ngx_http_ai_release_switch_headers(ngx_http_request_t *r,
    ngx_http_ai_release_target_t *from, ngx_http_ai_release_target_t *to)
{
    ngx_uint_t        i, j, drop;
    ngx_list_t        old;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *header, *h;

    if (from->nheaders) {
        old = r->headers_in.headers;

        if (ngx_list_init(&r->headers_in.headers, r->pool, 20,
                          sizeof(ngx_table_elt_t))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        part = &old.part;
        header = part->elts;

        for (i = 0; /* void */; i++) {

            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }

                part = part->next;
                header = part->elts;
                i = 0;
            }

            drop = 0;

            for (j = 0; j < from->nheaders; j++) {
                if (header[i].key.len == from->headers[j].key.len
                    && ngx_strncmp(header[i].lowcase_key,
                                   from->headers[j].lowcase_key,
                                   header[i].key.len)
                       == 0)
                {
                    drop = 1;
                    break;
                }
            }

            if (drop) {
                continue;
            }

            h = ngx_list_push(&r->headers_in.headers);
            if (h == NULL) {
                return NGX_ERROR;
            }

            *h = header[i];
        }
    }

    return ngx_http_ai_release_set_headers(r, to);
}
