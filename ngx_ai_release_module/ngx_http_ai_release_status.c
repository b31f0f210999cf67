/*
 * Copyright (C) ngx_ai_release authors
 *
 * ai_release_status: the directive and its handler.  The format comes
 * from "?format=" or the Accept header: the JSON document, Prometheus
 * text (both of every workflow, or of "?workflow=NAME"), or the
 * self-contained dashboard page that polls the JSON.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ai_release_module.h"
#include "ngx_http_ai_release_response.h"
#include "ngx_http_ai_release_display_json.h"
#include "ngx_http_ai_release_display_prometheus.h"
#include "ngx_http_ai_release_status.h"
#include "ngx_http_ai_release_dashboard.h"


#define NGX_HTTP_AI_RELEASE_FORMAT_JSON        0
#define NGX_HTTP_AI_RELEASE_FORMAT_PROMETHEUS  1
#define NGX_HTTP_AI_RELEASE_FORMAT_HTML        2


static ngx_int_t ngx_http_ai_release_status_handler(ngx_http_request_t *r);
static ngx_uint_t ngx_http_ai_release_status_format(ngx_http_request_t *r);


static ngx_str_t  ngx_http_ai_release_allow = ngx_string("Allow");
static ngx_str_t  ngx_http_ai_release_get_head = ngx_string("GET, HEAD");


char *
ngx_http_ai_release_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_ai_release_status_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_ai_release_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_str_t                         type, name;
    ngx_uint_t                        format;
    ngx_http_ai_release_workflow_t   *only;
    ngx_http_ai_release_main_conf_t  *amcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        if (ngx_http_ai_release_header_out(r, &ngx_http_ai_release_allow,
                                           &ngx_http_ai_release_get_head)
            == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    format = ngx_http_ai_release_status_format(r);
    amcf = ngx_http_get_module_main_conf(r, ngx_http_ai_release_module);

    /* ?workflow=NAME: that workflow only */

    only = NULL;

    if (format != NGX_HTTP_AI_RELEASE_FORMAT_HTML
        && ngx_http_arg(r, (u_char *) "workflow", 8, &name) == NGX_OK)
    {
        only = ngx_http_ai_release_find_workflow(amcf, name.data,
                                                 name.len);
        if (only == NULL) {
            return ngx_http_ai_release_json_error(r, NGX_HTTP_NOT_FOUND,
                                                  "unknown workflow \"%V\"",
                                                  &name);
        }
    }

    switch (format) {

    case NGX_HTTP_AI_RELEASE_FORMAT_HTML:
        ngx_str_set(&type, "text/html; charset=utf-8");
        return ngx_http_ai_release_send(r, NGX_HTTP_OK, &type,
                                     (u_char *) ngx_http_ai_release_dashboard,
                                     sizeof(ngx_http_ai_release_dashboard)
                                     - 1);

    case NGX_HTTP_AI_RELEASE_FORMAT_PROMETHEUS:
        return ngx_http_ai_release_send_prometheus(r, only);

    default: /* NGX_HTTP_AI_RELEASE_FORMAT_JSON */
        return ngx_http_ai_release_send_workflows(r,
                                        ngx_http_ai_release_status_json(amcf),
                                        only);
    }
}


static ngx_uint_t
ngx_http_ai_release_status_format(ngx_http_request_t *r)
{
    ngx_str_t         format;
    ngx_table_elt_t  *accept;

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK) {

        if (format.len == 10
            && ngx_strncmp(format.data, "prometheus", 10) == 0)
        {
            return NGX_HTTP_AI_RELEASE_FORMAT_PROMETHEUS;
        }

        if (format.len == 4 && ngx_strncmp(format.data, "html", 4) == 0) {
            return NGX_HTTP_AI_RELEASE_FORMAT_HTML;
        }

        return NGX_HTTP_AI_RELEASE_FORMAT_JSON;
    }

    /* r->headers_in.accept exists only in some builds: look it up */

    accept = ngx_http_ai_release_header_in(r, (u_char *) "accept", 6,
                                           ngx_hash_key((u_char *) "accept",
                                                        6));

    if (accept) {
        if (ngx_strlcasestrn(accept->value.data,
                             accept->value.data + accept->value.len,
                             (u_char *) "text/html", 9 - 1)
            != NULL)
        {
            return NGX_HTTP_AI_RELEASE_FORMAT_HTML;
        }

        if (ngx_strlcasestrn(accept->value.data,
                             accept->value.data + accept->value.len,
                             (u_char *) "text/plain", 10 - 1)
            != NULL)
        {
            return NGX_HTTP_AI_RELEASE_FORMAT_PROMETHEUS;
        }
    }

    return NGX_HTTP_AI_RELEASE_FORMAT_JSON;
}
