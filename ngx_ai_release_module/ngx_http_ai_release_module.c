/*
 * Copyright (C) ngx_ai_release authors
 *
 * Directives and configuration: the command table, the main and location
 * configurations, and the ai_release directive of a location.  The
 * handlers of the bundle, workflow, zone, state, status and API directives
 * live in the files named after them.
 *
 * Words used throughout:
 *   bundle    a behaviour bundle: one manifest, one version, one digest
 *             (ai_release_bundle_t);
 *   workflow  a named AI workflow of nginx.conf with its bundles
 *             (ngx_http_ai_release_workflow_t);
 *   role      what a bundle is to a workflow: stable, canary or fallback
 *             (the "variant" field and status key);
 *   target    a bundle in its role for one workflow, resolved at
 *             configuration time (ngx_http_ai_release_target_t);
 *   slot      a target's counters and breaker in shared memory, one per
 *             (workflow, bundle digest), kept across reloads
 *             (ngx_http_ai_release_slot_t).
 *
 * The request path, in order (each step names its function):
 *   1. choose     ngx_http_ai_release_choose_handler (choose.c), rewrite
 *                 phase: sticky key or weight, override, breakers
 *                 (ngx_http_ai_release_route, breaker.c); fills the
 *                 request context and sends the bundle's headers upstream.
 *   2. balancer   ngx_http_ai_release_init_peer / _init_bundle_peer
 *                 (balancer.c) wrap the bundle upstream's balancer;
 *                 per attempt _get_peer and _free_peer; a failed attempt
 *                 may fail over once (_may_fail_over, _failover) to the
 *                 known-good bundle.
 *   3. outcome    ngx_http_ai_release_attempt_failed (a failed attempt) or
 *                 the log handler (the last attempt), both through
 *                 ngx_http_ai_release_classify (outcome.c); then
 *                 ngx_http_ai_release_outcome counts it in the slot.
 *   1b. apply     ngx_http_ai_release_apply_handler (apply.c), precontent
 *                 phase, only where a workflow has "apply": reads the body
 *                 and splices in the bundle's model, instructions, tools
 *                 and params (again for the bundle a failover goes to).
 *   1c. shadow    ngx_http_ai_release_shadow_handler (shadow.c), precontent
 *                 phase before apply's, only where a workflow has
 *                 "shadow": draws the request into the shadow's share,
 *                 copies it and runs the copy on its own for the shadow
 *                 bundle; both answers meet in a pair
 *                 (ngx_http_ai_release_shadow_side, from step 6).
 *   4. breaker    ngx_http_ai_release_breaker_judge (breaker.c): probes,
 *                 trips, cooldowns.
 *   5. header     ngx_http_ai_release_header_filter (variables.c): the
 *                 X-AI-Release response header; the $ai_release_*
 *                 variables read the same context.
 *   5b. contract  ngx_http_ai_release_contract_header_filter and
 *                 _body_filter (contract.c), only where a bundle has an
 *                 output contract: each answer checked as it passes,
 *                 judged at its end (ngx_http_ai_release_contract_judge);
 *                 under enforce held, refused or failed over.
 *   5c. signals   ngx_http_ai_release_signals_start, _feed, _end
 *                 (signals.c), from the same filters, where the workflow
 *                 reads behaviour signals: counted per bundle over the
 *                 window at the answer's end; a canary's drift judged.
 *   6. log        ngx_http_ai_release_log_handler (outcome.c): the last
 *                 attempt's outcome, once the answer is whole.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ai_release_module.h"
#include "ngx_http_ai_release_bundles.h"
#include "ngx_http_ai_release_status.h"
#include "ngx_http_ai_release_feedback.h"
#include "ngx_http_ai_release_api.h"
#include "ngx_http_ai_release_rollout.h"
#include "ngx_http_ai_release_shadow.h"


static ngx_int_t ngx_http_ai_release_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_ai_release_postconfiguration(ngx_conf_t *cf);
static char *ngx_http_ai_release_set_currency(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void *ngx_http_ai_release_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_ai_release_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_ai_release_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ai_release_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static void ngx_http_ai_release_cleanup_set(void *data);
static ngx_int_t ngx_http_ai_release_init_process(ngx_cycle_t *cycle);

static char *ngx_http_ai_release(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


ngx_str_t  ngx_http_ai_release_variant_names[] = {
    ngx_string("stable"),
    ngx_string("canary"),
    ngx_string("fallback"),
    ngx_string("shadow")
};


static ngx_command_t  ngx_http_ai_release_commands[] = {

    { ngx_string("ai_release_bundles"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_ai_release_bundles,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ai_release_eval_gate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ai_release_main_conf_t, eval_gate),
      &ngx_http_ai_release_gate_modes },

    { ngx_string("ai_release_lock"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_ai_release_lock,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ai_release_state"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_ai_release_state,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ai_release_apply_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ai_release_main_conf_t, apply_max_body),
      NULL },

    { ngx_string("ai_release_currency"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_ai_release_set_currency,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ai_release_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_ai_release_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ai_release_workflow"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_ai_release_workflow_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ai_release"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ai_release,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ai_release_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_ai_release_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ai_release_feedback"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_ai_release_feedback,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ai_release_feedback_secret"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_ai_release_feedback_secret,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ai_release_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE12,
      ngx_http_ai_release_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ai_release_response_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ai_release_loc_conf_t, response_header),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ai_release_module_ctx = {
    ngx_http_ai_release_preconfiguration,  /* preconfiguration */
    ngx_http_ai_release_postconfiguration, /* postconfiguration */

    ngx_http_ai_release_create_main_conf,  /* create main configuration */
    ngx_http_ai_release_init_main_conf,    /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_ai_release_create_loc_conf,   /* create location configuration */
    ngx_http_ai_release_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_http_ai_release_module = {
    NGX_MODULE_V1,
    &ngx_http_ai_release_module_ctx,       /* module context */
    ngx_http_ai_release_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_ai_release_init_process,      /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_ai_release_state_exit_process, /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* a worker's timers: the state file's writer, the plans' steps */

static ngx_int_t
ngx_http_ai_release_init_process(ngx_cycle_t *cycle)
{
    if (ngx_http_ai_release_rollout_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_ai_release_state_init_process(cycle);
}


static ngx_int_t
ngx_http_ai_release_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_ai_release_add_variables(cf);
}


static ngx_int_t
ngx_http_ai_release_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                        i;
    ngx_http_handler_pt              *h;
    ngx_http_ai_release_workflow_t  **wfp;
    ngx_http_core_main_conf_t        *cmcf;
    ngx_http_ai_release_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ai_release_module);

    /* the upstream blocks are initialised by now (their init_main_conf) */

    if (ngx_http_ai_release_wrap_upstreams(cf, amcf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* as ngx_http_limit_req_init adds its handler */

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ai_release_choose_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ai_release_log_handler;

    /* only where a workflow applies its bundles to request bodies */

    wfp = amcf->workflows.elts;

    for (i = 0; i < amcf->workflows.nelts; i++) {
        if (wfp[i]->apply) {
            h = ngx_array_push(
                    &cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
            if (h == NULL) {
                return NGX_ERROR;
            }

            *h = ngx_http_ai_release_apply_handler;
            break;
        }
    }

    /* added after apply's, so that it runs first: the body as sent */

    if (ngx_http_ai_release_shadow_init(cf, amcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_ai_release_variables_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* only where a bundle has an output contract */

    return ngx_http_ai_release_contract_init(cf, amcf);
}


/* ai_release_currency CODE: the one currency of every bundle's pricing */

static char *
ngx_http_ai_release_set_currency(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_ai_release_main_conf_t  *amcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (amcf->currency.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > 16) {
        goto invalid;
    }

    for (i = 0; i < value[1].len; i++) {
        if (!((value[1].data[i] >= 'A' && value[1].data[i] <= 'Z')
              || (value[1].data[i] >= 'a' && value[1].data[i] <= 'z')
              || (value[1].data[i] >= '0' && value[1].data[i] <= '9')))
        {
            goto invalid;
        }
    }

    amcf->currency = value[1];

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid currency \"%V\": use a code of 1 to 16 "
                       "letters or digits, e.g. USD or EUR", &value[1]);

    return NGX_CONF_ERROR;
}


static void *
ngx_http_ai_release_create_main_conf(ngx_conf_t *cf)
{
    ngx_pool_cleanup_t               *cln;
    ngx_http_ai_release_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ai_release_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     amcf->workflow_hash = { NULL, 0 };
     *     amcf->balancer = NULL;
     */

    if (ngx_array_init(&amcf->workflows, cf->pool, 4,
                       sizeof(ngx_http_ai_release_workflow_t *))
        != NGX_OK)
    {
        return NULL;
    }

    amcf->workflow_keys = ngx_pcalloc(cf->temp_pool,
                                      sizeof(ngx_hash_keys_arrays_t));
    if (amcf->workflow_keys == NULL) {
        return NULL;
    }

    amcf->workflow_keys->pool = cf->pool;
    amcf->workflow_keys->temp_pool = cf->temp_pool;

    if (ngx_hash_keys_array_init(amcf->workflow_keys, NGX_HASH_LARGE)
        != NGX_OK)
    {
        return NULL;
    }

    amcf->eval_gate = NGX_CONF_UNSET_UINT;
    amcf->apply_max_body = NGX_CONF_UNSET_SIZE;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    amcf->set = ai_release_set_create();
    if (amcf->set == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_ai_release_cleanup_set;
    cln->data = amcf->set;

    return amcf;
}


static void
ngx_http_ai_release_cleanup_set(void *data)
{
    ai_release_set_t  *set = data;

    ai_release_set_free(set);
}


static char *
ngx_http_ai_release_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_ai_release_main_conf_t  *amcf = conf;

    ngx_conf_init_uint_value(amcf->eval_gate, NGX_HTTP_AI_RELEASE_GATE_ON);
    ngx_conf_init_size_value(amcf->apply_max_body, 8 * 1024 * 1024);

    if (amcf->currency.data == NULL) {
        ngx_str_set(&amcf->currency, "USD");
    }

    if (ngx_http_ai_release_init_workflows(cf, amcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_ai_release_check_gates(cf, amcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_ai_release_init_zone_conf(cf, amcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_ai_release_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ai_release_loc_conf_t  *alcf;

    alcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ai_release_loc_conf_t));
    if (alcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     alcf->workflow_name = { 0, NULL };
     *     alcf->workflow = NULL;
     *     alcf->file_name = NULL;
     *     alcf->line = 0;
     */

    alcf->response_header = NGX_CONF_UNSET;

    return alcf;
}


static char *
ngx_http_ai_release_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ai_release_loc_conf_t *prev = parent;
    ngx_http_ai_release_loc_conf_t *conf = child;

    ngx_uint_t                        key;
    ngx_http_ai_release_main_conf_t  *amcf;

    ngx_conf_merge_value(conf->response_header, prev->response_header, 1);

    if (conf->workflow_name.data == NULL) {
        conf->workflow_name = prev->workflow_name;
        conf->workflow = prev->workflow;
        conf->file_name = prev->file_name;
        conf->line = prev->line;
        return NGX_CONF_OK;
    }

    if (conf->workflow) {
        return NGX_CONF_OK;
    }

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ai_release_module);

    key = ngx_hash_key(conf->workflow_name.data, conf->workflow_name.len);

    conf->workflow = ngx_hash_find(&amcf->workflow_hash, key,
                                   conf->workflow_name.data,
                                   conf->workflow_name.len);

    if (conf->workflow == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "unknown ai_release workflow \"%V\" in %s:%ui",
                      &conf->workflow_name, conf->file_name, conf->line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_ai_release(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ai_release_loc_conf_t *alcf = conf;

    ngx_str_t                        *value;
    ngx_http_ai_release_main_conf_t  *amcf;

    if (alcf->workflow_name.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (!ai_release_valid_name((char *) value[1].data, value[1].len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid workflow name \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    alcf->workflow_name = value[1];
    alcf->file_name = cf->conf_file->file.name.data;
    alcf->line = cf->conf_file->line;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ai_release_module);

    if (ngx_http_ai_release_balancer_add(cf, amcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
