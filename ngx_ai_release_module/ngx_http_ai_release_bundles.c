/*
 * Copyright (C) ngx_ai_release authors
 *
 * The bundle directives: ai_release_bundles loads the manifests of a glob
 * into the configuration's bundle set, ai_release_lock names the lock file
 * whose digests every bundle must match (checked with the eval gates, once
 * the whole configuration is read).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ai_release_module.h"
#include "ngx_http_ai_release_bundles.h"


char *
ngx_http_ai_release_bundles(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ai_release_main_conf_t *amcf = conf;

    u_char               buf[2048];
    size_t               i;
    ngx_str_t           *value, path;
    ai_release_errors_t  errs;

    value = cf->args->elts;
    path = value[1];

    if (path.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty bundles path");
        return NGX_CONF_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ai_release_errors_init(&errs);

    if (ai_release_set_load_glob(amcf->set, (char *) path.data, &errs) == 0) {
        ai_release_errors_free(&errs);
        return NGX_CONF_OK;
    }

    for (i = 0; i < errs.n; i++) {
        ai_release_error_format(&errs.items[i], (char *) buf, sizeof(buf));
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "ai_release bundle: %s", buf);
    }

    if (errs.n == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ai_release bundle: cannot load \"%V\"", &path);
    }

    ai_release_errors_free(&errs);

    return NGX_CONF_ERROR;
}


char *
ngx_http_ai_release_lock(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ai_release_main_conf_t *amcf = conf;

    ngx_str_t  *value;

    if (amcf->lock_path.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    amcf->lock_path = value[1];

    if (ngx_conf_full_name(cf->cycle, &amcf->lock_path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    amcf->lock_file = cf->conf_file->file.name.data;
    amcf->lock_line = cf->conf_file->line;

    return NGX_CONF_OK;
}
