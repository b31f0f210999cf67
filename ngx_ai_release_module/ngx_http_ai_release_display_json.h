/*
 * Copyright (C) ngx_ai_release authors
 *
 * The state of the workflows and their bundles as JSON documents.
 */


#ifndef _NGX_HTTP_AI_RELEASE_DISPLAY_JSON_H_INCLUDED_
#define _NGX_HTTP_AI_RELEASE_DISPLAY_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_ai_release_module.h"


json_t *ngx_http_ai_release_status_json(
    ngx_http_ai_release_main_conf_t *amcf);
json_t *ngx_http_ai_release_workflow_json(ngx_http_ai_release_workflow_t *wf);
/* "2026-11-30T02:31:00Z" */
json_t *ngx_http_ai_release_iso_time(time_t t);
ngx_int_t ngx_http_ai_release_send_workflows(ngx_http_request_t *r,
    json_t *root, ngx_http_ai_release_workflow_t *only);


#endif /* _NGX_HTTP_AI_RELEASE_DISPLAY_JSON_H_INCLUDED_ */
