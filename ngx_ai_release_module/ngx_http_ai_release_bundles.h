/*
 * Copyright (C) ngx_ai_release authors
 *
 * The bundle directives: ai_release_bundles loads the manifests,
 * ai_release_lock names the lock file their digests must match.
 */


#ifndef _NGX_HTTP_AI_RELEASE_BUNDLES_H_INCLUDED_
#define _NGX_HTTP_AI_RELEASE_BUNDLES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


char *ngx_http_ai_release_bundles(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_ai_release_lock(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_AI_RELEASE_BUNDLES_H_INCLUDED_ */
