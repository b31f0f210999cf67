/*
 * Copyright (C) ngx_ai_release authors
 *
 * Reviewer corrections: X-AI-Release-Id on every answer of a workflow, the
 * ai_release_feedback endpoint that counts what reviewers said of it, and
 * the correction_rate trip rule.
 */


#ifndef _NGX_HTTP_AI_RELEASE_FEEDBACK_H_INCLUDED_
#define _NGX_HTTP_AI_RELEASE_FEEDBACK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_ai_release_module.h"


char *ngx_http_ai_release_feedback_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_ai_release_feedback(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_ai_release_feedback_header(ngx_http_request_t *r,
    ngx_http_ai_release_target_t *t);
ngx_int_t ngx_http_ai_release_feedback_init_zone(
    ngx_http_ai_release_main_conf_t *amcf, ngx_http_ai_release_shctx_t *from);
ngx_int_t ngx_http_ai_release_feedback_bind(
    ngx_http_ai_release_main_conf_t *amcf, ngx_http_ai_release_slot_t *slot,
    ngx_http_ai_release_slot_t *from, uint64_t window_ms);
ngx_int_t ngx_http_ai_release_feedback_load(ngx_http_ai_release_target_t *t,
    uint64_t total[AI_RELEASE_FEEDBACK_NOUTCOMES],
    uint64_t window[AI_RELEASE_FEEDBACK_NOUTCOMES]);
json_t *ngx_http_ai_release_feedback_json(ngx_http_ai_release_target_t *t);


#endif /* _NGX_HTTP_AI_RELEASE_FEEDBACK_H_INCLUDED_ */
