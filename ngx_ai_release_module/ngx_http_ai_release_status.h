/*
 * Copyright (C) ngx_ai_release authors
 *
 * ai_release_status: the state of every workflow and bundle as JSON,
 * Prometheus text or the dashboard page.
 */


#ifndef _NGX_HTTP_AI_RELEASE_STATUS_H_INCLUDED_
#define _NGX_HTTP_AI_RELEASE_STATUS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


char *ngx_http_ai_release_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_AI_RELEASE_STATUS_H_INCLUDED_ */
