/*
 * Copyright (C) ngx_ai_release authors
 *
 * Per request: choose the bundle (sticky key or weighted random), send the
 * bundle's headers upstream, expose the choice as variables and name it in
 * the X-AI-Release response header.  All of it O(1) on data resolved at
 * configuration time.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ai_release_module.h"
#include "ngx_http_ai_release_response.h"


#define NGX_HTTP_AI_RELEASE_VAR_WORKFLOW  0
#define NGX_HTTP_AI_RELEASE_VAR_BUNDLE    1
#define NGX_HTTP_AI_RELEASE_VAR_DIGEST    2
#define NGX_HTTP_AI_RELEASE_VAR_VARIANT   3
#define NGX_HTTP_AI_RELEASE_VAR_UPSTREAM  4
#define NGX_HTTP_AI_RELEASE_VAR_MODEL     5
#define NGX_HTTP_AI_RELEASE_VAR_STATE     6
#define NGX_HTTP_AI_RELEASE_VAR_REASON    7
#define NGX_HTTP_AI_RELEASE_VAR_FAILOVER  8


static ngx_int_t ngx_http_ai_release_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_ai_release_log_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_ai_release_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_ai_release_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


static ngx_str_t  ngx_http_ai_release_header_name =
    ngx_string("X-AI-Release");

static ngx_str_t  ngx_http_ai_release_reason_names[] = {
    ngx_string("weight"),
    ngx_string("sticky"),
    ngx_string("tripped"),
    ngx_string("probe"),
    ngx_string("failover"),
    ngx_string("override")
};


static ngx_http_variable_t  ngx_http_ai_release_vars[] = {

    { ngx_string("ai_release_workflow"), NULL,
      ngx_http_ai_release_variable, NGX_HTTP_AI_RELEASE_VAR_WORKFLOW,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ai_release_bundle"), NULL,
      ngx_http_ai_release_variable, NGX_HTTP_AI_RELEASE_VAR_BUNDLE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ai_release_digest"), NULL,
      ngx_http_ai_release_variable, NGX_HTTP_AI_RELEASE_VAR_DIGEST,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ai_release_variant"), NULL,
      ngx_http_ai_release_variable, NGX_HTTP_AI_RELEASE_VAR_VARIANT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ai_release_upstream"), NULL,
      ngx_http_ai_release_variable, NGX_HTTP_AI_RELEASE_VAR_UPSTREAM,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ai_release_model"), NULL,
      ngx_http_ai_release_variable, NGX_HTTP_AI_RELEASE_VAR_MODEL,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ai_release_state"), NULL,
      ngx_http_ai_release_variable, NGX_HTTP_AI_RELEASE_VAR_STATE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ai_release_reason"), NULL,
      ngx_http_ai_release_variable, NGX_HTTP_AI_RELEASE_VAR_REASON,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ai_release_failover"), NULL,
      ngx_http_ai_release_variable, NGX_HTTP_AI_RELEASE_VAR_FAILOVER,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_http_ai_release_ctx_t *
ngx_http_ai_release_select(ngx_http_request_t *r)
{
    ngx_str_t                        key;
    ngx_uint_t                       i, point;
    ngx_http_ai_release_ctx_t       *ctx;
    ngx_table_elt_t                 *h;
    ngx_http_ai_release_main_conf_t *amcf;
    ngx_http_ai_release_target_t    *t, *canary;
    ngx_http_ai_release_workflow_t  *wf;
    ngx_http_ai_release_loc_conf_t  *alcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ai_release_module);
    if (ctx) {
        return ctx;
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_ai_release_module);

    wf = alcf->workflow;
    if (wf == NULL) {
        return NULL;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ai_release_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->workflow = wf;
    ctx->request = r;
    ctx->reason = NGX_HTTP_AI_RELEASE_REASON_WEIGHT;

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

    /*
     * canaries take the low end of [0, 10000) in configured order, stable
     * the rest: growing a canary only adds keys to it
     */

    t = wf->stable;

    if (point < wf->canary_total) {
        canary = wf->canaries.elts;

        for (i = 0; point >= canary[i].edge; i++) { /* void */ }

        t = &canary[i];
    }

    if (t->slot) {
        amcf = ngx_http_get_module_main_conf(r, ngx_http_ai_release_module);

        canary = amcf->sh->pins ? ngx_http_ai_release_pinned(wf) : NULL;

        if (canary) {
            /* an operator pinned the workflow to one bundle */
            t = canary;
            ctx->reason = NGX_HTTP_AI_RELEASE_REASON_OVERRIDE;

        } else if (t->variant == NGX_HTTP_AI_RELEASE_CANARY
                   && ai_release_atomic_load(
                          &t->slot->override[NGX_HTTP_AI_RELEASE_OVR_ROLLBACK]))
        {
            /* rolled back: the canary's users go back to stable */
            t = wf->stable;
            ctx->reason = NGX_HTTP_AI_RELEASE_REASON_OVERRIDE;
        }

        t = ngx_http_ai_release_route(ctx, t, NULL);
    }

    ctx->target = t;

    ngx_http_set_ctx(r, ctx, ngx_http_ai_release_module);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ai_release: workflow \"%V\" point %ui bundle \"%V\" (%V)",
                   &wf->name, point, &t->id,
                   &ngx_http_ai_release_variant_names[t->variant]);

    return ctx;
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


static ngx_int_t
ngx_http_ai_release_handler(ngx_http_request_t *r)
{
    ngx_http_ai_release_ctx_t       *ctx;
    ngx_http_ai_release_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_ai_release_module);

    if (alcf->workflow == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_ai_release_select(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!ctx->headers_set) {
        if (ngx_http_ai_release_set_headers(r, ctx->target) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->headers_set = 1;
    }

    return NGX_DECLINED;
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


/*
 * The outcome of the request's last upstream attempt, known only now: a
 * streamed answer may have been cut short after its header.
 */

static ngx_int_t
ngx_http_ai_release_log_handler(ngx_http_request_t *r)
{
    ngx_uint_t                       cls, status;
    ngx_msec_t                       latency, header_time;
    ngx_http_upstream_t             *u;
    ngx_http_upstream_state_t       *state;
    ngx_http_ai_release_ctx_t       *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ai_release_module);

    if (ctx == NULL || ctx->target->slot == NULL) {
        return NGX_OK;
    }

    u = r->upstream;

    if (ctx->balanced && !ctx->final) {
        /* every attempt was recorded already, or none was made */
        if (ctx->probe) {
            ngx_http_ai_release_release_probe(ctx->target);
        }

        return NGX_OK;
    }

    if (u == NULL || r->upstream_states == NULL
        || r->upstream_states->nelts == 0)
    {
        /* nginx answered by itself */
        if (ctx->probe) {
            ngx_http_ai_release_release_probe(ctx->target);
        }

        return NGX_OK;
    }

    state = r->upstream_states->elts;
    state = &state[r->upstream_states->nelts - 1];

    if (r->connection->error || r->headers_out.status == 499) {
        /* the client went away: no verdict on the bundle */
        if (ctx->probe) {
            ngx_http_ai_release_release_probe(ctx->target);
        }

        return NGX_OK;
    }

    status = state->status;
    header_time = state->header_time;
    latency = state->response_time;

    if (latency == (ngx_msec_t) -1) {
        latency = ngx_current_msec - ctx->start;
    }

    if (header_time == (ngx_msec_t) -1) {
        /* no header came: nginx made the status up */
        cls = (status == NGX_HTTP_GATEWAY_TIME_OUT || ctx->timedout)
              ? AI_RELEASE_TIMEOUT : AI_RELEASE_CONNECT;

    } else if (ngx_http_ai_release_status_class(status) != AI_RELEASE_OK) {
        cls = ngx_http_ai_release_status_class(status);

    } else if (ctx->final_rc == NGX_HTTP_BAD_GATEWAY
               || ctx->final_rc == NGX_HTTP_GATEWAY_TIME_OUT
               || ctx->final_rc == NGX_ERROR
               || (!ctx->balanced && !r->request_complete))
    {
        /* cut short after the header: a broken stream */
        cls = (ctx->timedout || ctx->final_rc == NGX_HTTP_GATEWAY_TIME_OUT)
              ? AI_RELEASE_TIMEOUT : AI_RELEASE_CONNECT;

    } else if (ctx->workflow->trip.slow_ms
               && header_time >= ctx->workflow->trip.slow_ms)
    {
        cls = AI_RELEASE_SLOW;

    } else {
        cls = AI_RELEASE_OK;
    }

    ctx->final = 0;

    ngx_http_ai_release_record(ctx, cls, latency);

    return NGX_OK;
}


static ngx_int_t
ngx_http_ai_release_header_filter(ngx_http_request_t *r)
{
    ngx_http_ai_release_ctx_t       *ctx;
    ngx_http_ai_release_loc_conf_t  *alcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ai_release_module);

    if (ctx == NULL || ctx->target == NULL) {
        return ngx_http_next_header_filter(r);
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_ai_release_module);

    if (!alcf->response_header) {
        return ngx_http_next_header_filter(r);
    }

    if (ngx_http_ai_release_header_out(r, &ngx_http_ai_release_header_name,
                                       &ctx->target->response_header)
        == NULL)
    {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_ai_release_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                     *s;
    ngx_http_ai_release_ctx_t     *ctx;
    ngx_http_ai_release_target_t  *t;

    ctx = ngx_http_ai_release_select(r);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    t = ctx->target;

    switch (data) {

    case NGX_HTTP_AI_RELEASE_VAR_WORKFLOW:
        s = &ctx->workflow->name;
        break;

    case NGX_HTTP_AI_RELEASE_VAR_BUNDLE:
        s = &t->id;
        break;

    case NGX_HTTP_AI_RELEASE_VAR_DIGEST:
        s = &t->digest;
        break;

    case NGX_HTTP_AI_RELEASE_VAR_VARIANT:
        s = &ngx_http_ai_release_variant_names[t->variant];
        break;

    case NGX_HTTP_AI_RELEASE_VAR_UPSTREAM:
        s = &t->upstream;
        break;

    case NGX_HTTP_AI_RELEASE_VAR_MODEL:
        s = &t->model;
        break;

    case NGX_HTTP_AI_RELEASE_VAR_STATE:
        if (t->slot == NULL) {
            v->not_found = 1;
            return NGX_OK;
        }

        s = &ngx_http_ai_release_state_names[
                ai_release_atomic_load(&t->slot->state)];
        break;

    case NGX_HTTP_AI_RELEASE_VAR_REASON:
        s = &ngx_http_ai_release_reason_names[ctx->reason];
        break;

    default: /* NGX_HTTP_AI_RELEASE_VAR_FAILOVER */
        if (ctx->failed == NULL) {
            v->not_found = 1;
            return NGX_OK;
        }

        s = &ctx->failed->id;
        break;
    }

    v->len = s->len;
    v->data = s->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


ngx_int_t
ngx_http_ai_release_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_ai_release_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_ai_release_init_request_handlers(ngx_conf_t *cf)
{
    ngx_uint_t                        i, j, n;
    ngx_http_handler_pt              *h;
    ngx_http_core_main_conf_t        *cmcf;
    ngx_http_ai_release_workflow_t  **wfp;
    ngx_http_ai_release_main_conf_t  *amcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ai_release_module);

    /*
     * the preaccess handler only sends bundle headers upstream (choosing
     * the bundle happens when something first needs it): without bundle
     * headers, requests skip it
     */

    wfp = amcf->workflows.elts;

    for (i = 0; i < amcf->workflows.nelts; i++) {
        n = ngx_http_ai_release_target_count(wfp[i]);

        for (j = 0; j < n; j++) {
            if (ngx_http_ai_release_target_at(wfp[i], j)->nheaders) {
                break;
            }
        }

        if (j < n) {
            break;
        }
    }

    if (i < amcf->workflows.nelts) {
        h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = ngx_http_ai_release_handler;
    }

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ai_release_log_handler;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ai_release_header_filter;

    return NGX_OK;
}
