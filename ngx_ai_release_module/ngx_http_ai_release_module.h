/*
 * Copyright (C) ngx_ai_release authors
 */


#ifndef _NGX_HTTP_AI_RELEASE_MODULE_H_INCLUDED_
#define _NGX_HTTP_AI_RELEASE_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ai_release_core.h"


#define NGX_HTTP_AI_RELEASE_VERSION       "0.1.0"

/* the upstream name that routes through the module's balancer */
#define NGX_HTTP_AI_RELEASE_UPSTREAM      "ai_release"

#define NGX_HTTP_AI_RELEASE_NAME_MAX       128

#define NGX_HTTP_AI_RELEASE_STABLE        0
#define NGX_HTTP_AI_RELEASE_CANARY        1
#define NGX_HTTP_AI_RELEASE_FALLBACK      2

#define NGX_HTTP_AI_RELEASE_REASON_WEIGHT 0
#define NGX_HTTP_AI_RELEASE_REASON_STICKY 1


typedef struct ngx_http_ai_release_workflow_s  ngx_http_ai_release_workflow_t;


typedef struct {
    ngx_str_t                        key;
    ngx_str_t                        value;
    u_char                          *lowcase_key;
    ngx_uint_t                       hash;
} ngx_http_ai_release_header_t;


/* a bundle in the role it plays for one workflow, resolved at config time */
typedef struct {
    ai_release_bundle_t             *bundle;
    ngx_http_ai_release_workflow_t  *workflow;
    ngx_uint_t                       variant;
    ngx_uint_t                       weight;      /* canary, 0..10000 */

    ngx_str_t                        id;          /* name@version */
    ngx_str_t                        digest;      /* sha256:<64 hex> */
    ngx_str_t                        digest_short;
    ngx_str_t                        model;
    ngx_str_t                        upstream;
    ngx_str_t                        response_header;

    ngx_http_upstream_srv_conf_t    *uscf;

    ngx_http_ai_release_header_t    *headers;
    ngx_uint_t                       nheaders;
} ngx_http_ai_release_target_t;


struct ngx_http_ai_release_workflow_s {
    ngx_str_t                        name;
    ngx_uint_t                       index;
    uint32_t                         seed;

    ngx_http_complex_value_t        *sticky;

    ngx_http_ai_release_target_t    *stable;
    ngx_http_ai_release_target_t    *fallback;
    ngx_array_t                      canaries;    /* of target */
    ngx_uint_t                       canary_total;

    u_char                          *file_name;
    ngx_uint_t                       line;
};


typedef struct {
    ai_release_set_t                *set;
    ngx_array_t                      workflows;   /* of workflow pointers */
    ngx_hash_keys_arrays_t          *workflow_keys;
    ngx_hash_t                       workflow_hash;
    ngx_http_upstream_srv_conf_t    *balancer;
} ngx_http_ai_release_main_conf_t;


typedef struct {
    ngx_str_t                        workflow_name;
    ngx_http_ai_release_workflow_t  *workflow;
    ngx_flag_t                       response_header;
    u_char                          *file_name;
    ngx_uint_t                       line;
} ngx_http_ai_release_loc_conf_t;


typedef struct {
    ngx_http_ai_release_workflow_t  *workflow;
    ngx_http_ai_release_target_t    *target;
    ngx_uint_t                       reason;
    unsigned                         headers_set:1;
} ngx_http_ai_release_ctx_t;


extern ngx_module_t  ngx_http_ai_release_module;
extern ngx_str_t     ngx_http_ai_release_variant_names[];


char *ngx_http_ai_release_workflow_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_ai_release_init_workflows(ngx_conf_t *cf,
    ngx_http_ai_release_main_conf_t *amcf);

ngx_http_ai_release_ctx_t *ngx_http_ai_release_select(ngx_http_request_t *r);
ngx_int_t ngx_http_ai_release_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_ai_release_init_request_handlers(ngx_conf_t *cf);

ngx_int_t ngx_http_ai_release_balancer_add(ngx_conf_t *cf,
    ngx_http_ai_release_main_conf_t *amcf);
ngx_http_upstream_srv_conf_t *ngx_http_ai_release_upstream_add(
    ngx_conf_t *cf, ngx_str_t *name);


#endif /* _NGX_HTTP_AI_RELEASE_MODULE_H_INCLUDED_ */
