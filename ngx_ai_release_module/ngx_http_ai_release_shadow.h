/*
 * Copyright (C) ngx_ai_release authors
 *
 * Shadow traffic (ngx_http_ai_release_shadow.c): a share of a workflow's
 * requests copied in the background to a shadow bundle, judged in its own
 * slot and compared answer by answer with stable's.
 */


#ifndef _NGX_HTTP_AI_RELEASE_SHADOW_H_INCLUDED_
#define _NGX_HTTP_AI_RELEASE_SHADOW_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_ai_release_module.h"
#include "ngx_http_ai_release_response.h"
#include "ai_release_pair.h"


/* why a request was not mirrored */
#define NGX_HTTP_AI_RELEASE_SKIP_IN_FLIGHT  0
#define NGX_HTTP_AI_RELEASE_SKIP_BREAKER    1
#define NGX_HTTP_AI_RELEASE_SKIP_BODY       2
#define NGX_HTTP_AI_RELEASE_SKIP_ERROR      3
#define NGX_HTTP_AI_RELEASE_NSKIPS          4


/* beside a shadow's slot in the zone: every field changed atomically */
struct ngx_http_ai_release_shadow_sh_s {
    uint64_t                         mirrored;
    uint64_t                         skipped[NGX_HTTP_AI_RELEASE_NSKIPS];
    ai_release_pair_agg_t            pairs;
};


char *ngx_http_ai_release_set_shadow(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_ai_release_shadow_init(ngx_conf_t *cf,
    ngx_http_ai_release_main_conf_t *amcf);
ngx_int_t ngx_http_ai_release_shadow_bind(
    ngx_http_ai_release_main_conf_t *amcf, ngx_http_ai_release_target_t *t,
    ngx_http_ai_release_slot_t *slot);
void ngx_http_ai_release_shadow_side(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx, ngx_uint_t cls);
json_t *ngx_http_ai_release_shadow_json(ngx_http_ai_release_target_t *t);
ngx_int_t ngx_http_ai_release_shadow_prometheus(
    ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_workflow_t *only, ngx_http_ai_release_text_t *tx,
    u_char *labels, size_t line);


#endif /* _NGX_HTTP_AI_RELEASE_SHADOW_H_INCLUDED_ */
