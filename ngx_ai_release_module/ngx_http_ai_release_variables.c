/*
 * Copyright (C) ngx_ai_release authors
 *
 * What a request shows of its bundle: the $ai_release_* variables and the
 * X-AI-Release response header (step 4 of the request path).  Both read
 * the request context the choice filled; neither chooses.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ai_release_module.h"
#include "ngx_http_ai_release_response.h"
#include "ngx_http_ai_release_feedback.h"


#define NGX_HTTP_AI_RELEASE_VAR_WORKFLOW  0
#define NGX_HTTP_AI_RELEASE_VAR_BUNDLE    1
#define NGX_HTTP_AI_RELEASE_VAR_DIGEST    2
#define NGX_HTTP_AI_RELEASE_VAR_VARIANT   3
#define NGX_HTTP_AI_RELEASE_VAR_UPSTREAM  4
#define NGX_HTTP_AI_RELEASE_VAR_MODEL     5
#define NGX_HTTP_AI_RELEASE_VAR_STATE     6
#define NGX_HTTP_AI_RELEASE_VAR_REASON    7
#define NGX_HTTP_AI_RELEASE_VAR_FAILOVER  8
#define NGX_HTTP_AI_RELEASE_VAR_CLIENT_MODEL  9
#define NGX_HTTP_AI_RELEASE_VAR_CONTRACT  10


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

    { ngx_string("ai_release_client_model"), NULL,
      ngx_http_ai_release_variable, NGX_HTTP_AI_RELEASE_VAR_CLIENT_MODEL,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ai_release_contract"), NULL,
      ngx_http_ai_release_variable, NGX_HTTP_AI_RELEASE_VAR_CONTRACT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_ai_release_header_filter(ngx_http_request_t *r)
{
    ngx_http_ai_release_ctx_t       *ctx;
    ngx_http_ai_release_loc_conf_t  *alcf;
    ngx_http_ai_release_main_conf_t *amcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ai_release_module);

    if (ctx == NULL || ctx->target == NULL) {
        return ngx_http_next_header_filter(r);
    }

    /*
     * the id for feedback, where the configuration takes feedback (it
     * costs two SHA-256 blocks): opaque, so even where the bundle is not
     * named
     */

    amcf = ngx_http_get_module_main_conf(r, ngx_http_ai_release_module);

    if (amcf->feedback && !ctx->shadow
        && ngx_http_ai_release_feedback_header(r, ctx->target) != NGX_OK)
    {
        return NGX_ERROR;
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
    ngx_int_t                      rc;
    ngx_str_t                     *s, cm;
    ngx_http_ai_release_ctx_t     *ctx;
    ngx_http_ai_release_target_t  *t;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ai_release_module);

    if (ctx == NULL || ctx->target == NULL) {
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

    case NGX_HTTP_AI_RELEASE_VAR_CLIENT_MODEL:
        if (ngx_http_ai_release_apply_client_model(r, ctx, &cm) != NGX_OK) {
            v->not_found = 1;
            return NGX_OK;
        }

        s = &cm;
        break;

    case NGX_HTTP_AI_RELEASE_VAR_CONTRACT:
        rc = ngx_http_ai_release_contract_variable(r, ctx, &cm);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc != NGX_OK) {
            v->not_found = 1;
            return NGX_OK;
        }

        s = &cm;
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


/* the X-AI-Release and X-AI-Release-Id headers, after the other filters' */

ngx_int_t
ngx_http_ai_release_variables_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ai_release_header_filter;

    return NGX_OK;
}
