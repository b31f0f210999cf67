/*
 * Copyright (C) ngx_ai_release authors
 *
 * The state of every workflow and bundle as Prometheus text.
 */


#ifndef _NGX_HTTP_AI_RELEASE_DISPLAY_PROMETHEUS_H_INCLUDED_
#define _NGX_HTTP_AI_RELEASE_DISPLAY_PROMETHEUS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ai_release_module.h"


ngx_int_t ngx_http_ai_release_send_prometheus(ngx_http_request_t *r,
    ngx_http_ai_release_workflow_t *only);


#endif /* _NGX_HTTP_AI_RELEASE_DISPLAY_PROMETHEUS_H_INCLUDED_ */
