/*
 * Copyright (C) ngx_ai_release authors
 *
 * The ai_release_workflow block: a stable bundle, weighted canaries, a
 * fallback and an optional sticky key, all resolved at configuration time
 * so that a request does O(1) work; and the lookups of a workflow and its
 * targets (by name, by position, the pinned one, the current shares).
 *
 * The block is parsed from its own command table, as the upstream {} block
 * is: stock slots where a value fits one, a handler of its own where a
 * value needs one.  Every default of a workflow is set in
 * ngx_http_ai_release_merge_workflow(), once the whole configuration is
 * read.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ai_release_module.h"
#include "ngx_http_ai_release_rollout.h"
#include "ngx_http_ai_release_shadow.h"


static char *ngx_http_ai_release_workflow(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf);
static ngx_uint_t ngx_http_ai_release_workflow_nargs(ngx_command_t *cmd,
    ngx_uint_t nelts);
static char *ngx_http_ai_release_set_target(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_ai_release_set_canary(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_ai_release_set_sticky(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_ai_release_set_trip(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ai_release_set_errors(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_http_ai_release_target_t *ngx_http_ai_release_target_used(
    ngx_http_ai_release_workflow_t *wf, ai_release_bundle_t *bundle);
static void ngx_http_ai_release_merge_workflow(
    ngx_http_ai_release_main_conf_t *amcf, ngx_http_ai_release_workflow_t *wf);


/* the argument counts of ngx_conf_handler(), by NGX_CONF_TAKE* bit */
static ngx_uint_t  ngx_http_ai_release_argument_number[] = {
    NGX_CONF_NOARGS,
    NGX_CONF_TAKE1,
    NGX_CONF_TAKE2,
    NGX_CONF_TAKE3,
    NGX_CONF_TAKE4,
    NGX_CONF_TAKE5,
    NGX_CONF_TAKE6,
    NGX_CONF_TAKE7
};


/* the role of a "stable" or "fallback" target, the commands' post */
static ngx_uint_t  ngx_http_ai_release_role_stable =
    NGX_HTTP_AI_RELEASE_STABLE;
static ngx_uint_t  ngx_http_ai_release_role_fallback =
    NGX_HTTP_AI_RELEASE_FALLBACK;


/* the directives of an ai_release_workflow block; conf is the workflow */

static ngx_command_t  ngx_http_ai_release_workflow_commands[] = {

    { ngx_string("stable"),
      NGX_CONF_TAKE1,
      ngx_http_ai_release_set_target,
      0,
      offsetof(ngx_http_ai_release_workflow_t, stable),
      &ngx_http_ai_release_role_stable },

    { ngx_string("canary"),
      NGX_CONF_2MORE,
      ngx_http_ai_release_set_canary,
      0,
      0,
      NULL },

    { ngx_string("fallback"),
      NGX_CONF_TAKE1,
      ngx_http_ai_release_set_target,
      0,
      offsetof(ngx_http_ai_release_workflow_t, fallback),
      &ngx_http_ai_release_role_fallback },

    { ngx_string("shadow"),
      NGX_CONF_TAKE23,
      ngx_http_ai_release_set_shadow,
      0,
      0,
      NULL },

    { ngx_string("sticky"),
      NGX_CONF_TAKE1,
      ngx_http_ai_release_set_sticky,
      0,
      0,
      NULL },

    { ngx_string("trip"),
      NGX_CONF_1MORE,
      ngx_http_ai_release_set_trip,
      0,
      0,
      NULL },

    { ngx_string("errors"),
      NGX_CONF_1MORE,
      ngx_http_ai_release_set_errors,
      0,
      0,
      NULL },

    { ngx_string("failover"),
      NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      0,
      offsetof(ngx_http_ai_release_workflow_t, failover),
      NULL },

    { ngx_string("ai_release_eval_gate"),
      NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      0,
      offsetof(ngx_http_ai_release_workflow_t, eval_gate),
      &ngx_http_ai_release_gate_modes },

    { ngx_string("format"),
      NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      0,
      offsetof(ngx_http_ai_release_workflow_t, format),
      &ngx_http_ai_release_formats },

    { ngx_string("apply"),
      NGX_CONF_1MORE,
      ngx_http_ai_release_set_apply,
      0,
      0,
      NULL },

    { ngx_string("signals"),
      NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      0,
      offsetof(ngx_http_ai_release_workflow_t, signals),
      NULL },

    { ngx_string("drift"),
      NGX_CONF_1MORE,
      ngx_http_ai_release_set_drift,
      0,
      0,
      NULL },

      ngx_null_command
};


char *
ngx_http_ai_release_workflow_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_ai_release_main_conf_t *amcf = conf;

    char                             *rv;
    ngx_int_t                         rc;
    ngx_str_t                        *value, name;
    ngx_conf_t                        save;
    ngx_http_ai_release_workflow_t   *wf, **wfp;

    value = cf->args->elts;
    name = value[1];

    if (!ai_release_valid_name((char *) name.data, name.len)
        || name.len > NGX_HTTP_AI_RELEASE_NAME_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid workflow name \"%V\": at most %d of "
                           "A-Z a-z 0-9 . _ - are allowed", &name,
                           NGX_HTTP_AI_RELEASE_NAME_MAX);
        return NGX_CONF_ERROR;
    }

    wf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ai_release_workflow_t));
    if (wf == NULL) {
        return NGX_CONF_ERROR;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     wf->sticky = NULL;
     *     wf->sticky_header = { 0, NULL };
     *     wf->stable = NULL;
     *     wf->fallback = NULL;
     *     wf->canary_total = 0;
     */

    wf->name = name;
    wf->index = amcf->workflows.nelts;
    wf->seed = ai_release_hash32(0x61697265, name.data, name.len);
    wf->file_name = cf->conf_file->file.name.data;
    wf->line = cf->conf_file->line;

    /* "trip" and "errors" change these one parameter at a time */
    ai_release_trip_defaults(&wf->trip);

    wf->failover = NGX_CONF_UNSET;
    wf->eval_gate = NGX_CONF_UNSET_UINT;
    wf->format = NGX_CONF_UNSET_UINT;
    wf->signals = NGX_CONF_UNSET;

    if (ngx_array_init(&wf->canaries, cf->pool, 2,
                       sizeof(ngx_http_ai_release_target_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    rc = ngx_hash_add_key(amcf->workflow_keys, &wf->name, wf,
                          NGX_HASH_READONLY_KEY);

    if (rc == NGX_BUSY) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate ai_release_workflow \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    if (rc != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    wfp = ngx_array_push(&amcf->workflows);
    if (wfp == NULL) {
        return NGX_CONF_ERROR;
    }

    *wfp = wf;

    save = *cf;
    cf->handler = ngx_http_ai_release_workflow;
    cf->handler_conf = (char *) wf;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (wf->stable == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "ai_release_workflow \"%V\" has no \"stable\" bundle "
                      "in %s:%ui", &wf->name, wf->file_name, wf->line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * A directive inside the block: found in the block's command table, its
 * arguments counted as ngx_conf_handler() counts them, and set on the
 * workflow.
 */

static char *
ngx_http_ai_release_workflow(ngx_conf_t *cf, ngx_command_t *dummy, void *conf)
{
    ngx_http_ai_release_workflow_t  *wf = conf;

    char           *rv;
    ngx_str_t      *name;
    ngx_command_t  *cmd;

    name = cf->args->elts;

    for (cmd = ngx_http_ai_release_workflow_commands; cmd->name.len; cmd++) {
        if (cmd->name.len == name->len
            && ngx_strncmp(cmd->name.data, name->data, name->len) == 0)
        {
            break;
        }
    }

    if (cmd->name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown directive \"%V\" in ai_release_workflow "
                           "\"%V\"", name, &wf->name);
        return NGX_CONF_ERROR;
    }

    if (!ngx_http_ai_release_workflow_nargs(cmd, cf->args->nelts)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number of arguments in \"%V\" of "
                           "ai_release_workflow \"%V\"", name, &wf->name);
        return NGX_CONF_ERROR;
    }

    rv = cmd->set(cf, cmd, wf);

    if (rv == NGX_CONF_OK || rv == NGX_CONF_ERROR) {
        return rv;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" directive %s in ai_release_workflow \"%V\"",
                       name, rv, &wf->name);

    return NGX_CONF_ERROR;
}


static ngx_uint_t
ngx_http_ai_release_workflow_nargs(ngx_command_t *cmd, ngx_uint_t nelts)
{
    if (cmd->type & NGX_CONF_ANY) {
        return 1;
    }

    if (cmd->type & NGX_CONF_FLAG) {
        return nelts == 2;
    }

    if (cmd->type & NGX_CONF_1MORE) {
        return nelts >= 2;
    }

    if (cmd->type & NGX_CONF_2MORE) {
        return nelts >= 3;
    }

    if (nelts > NGX_CONF_MAX_ARGS) {
        return 0;
    }

    return (cmd->type & ngx_http_ai_release_argument_number[nelts - 1]) != 0;
}


/* stable ID; fallback ID; */

static char *
ngx_http_ai_release_set_target(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_ai_release_workflow_t  *wf = conf;

    ngx_str_t                      *value;
    ngx_uint_t                     *role;
    ngx_http_ai_release_target_t  **tp;

    tp = (ngx_http_ai_release_target_t **) ((char *) wf + cmd->offset);

    if (*tp) {
        return "is duplicate";
    }

    value = cf->args->elts;
    role = cmd->post;

    *tp = ngx_http_ai_release_target(cf, wf, &value[1], *role, NULL);

    return *tp ? NGX_CONF_OK : NGX_CONF_ERROR;
}


/*
 * canary ID WEIGHT;
 * canary ID steps=1%,5%,25%,50% [every=10m] [min_requests=N];
 *
 * Each canary's range of the 10000 points ends where the weights so far
 * add up, so that a request adds nothing up (as split_clients does).  A
 * canary with a plan holds the range of its last step, and takes the
 * part of it its step gives it now.
 */

static char *
ngx_http_ai_release_set_canary(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_ai_release_workflow_t  *wf = conf;

    unsigned                       weight;
    ngx_str_t                     *value;
    ngx_http_ai_release_plan_t    *plan;
    ngx_http_ai_release_target_t  *t;

    value = cf->args->elts;
    plan = NULL;

    if (cf->args->nelts > 3
        || ngx_strlchr(value[2].data, value[2].data + value[2].len, '='))
    {
        if (ngx_http_ai_release_rollout_parse(cf, wf, &value[2],
                                              cf->args->nelts - 2, &plan)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }

        weight = plan->steps[plan->nsteps - 1];

    } else if (ai_release_parse_weight((char *) value[2].data, value[2].len,
                                       &weight)
               != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid canary weight \"%V\": expected a "
                           "percentage from 0%% to 100%% in 0.01%% steps, "
                           "e.g. \"5%%\" or \"0.25%%\", or a plan: "
                           "\"steps=1%%,5%%,25%% every=10m\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    if (wf->canary_total + weight > AI_RELEASE_WEIGHT_SCALE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "canary weights of workflow \"%V\" add up to "
                           "more than 100%%%s", &wf->name,
                           plan ? " (a plan counts its last step)" : "");
        return NGX_CONF_ERROR;
    }

    t = ngx_array_push(&wf->canaries);
    if (t == NULL) {
        return NGX_CONF_ERROR;
    }

    /* the target is not yet in the array if resolving it fails */
    wf->canaries.nelts--;

    if (ngx_http_ai_release_target(cf, wf, &value[1],
                                   NGX_HTTP_AI_RELEASE_CANARY, t)
        == NULL)
    {
        return NGX_CONF_ERROR;
    }

    wf->canaries.nelts++;
    t->weight = weight;
    t->plan = plan;

    if (plan) {
        wf->plans++;
    }
    wf->canary_total += weight;
    t->edge = wf->canary_total;

    return NGX_CONF_OK;
}


/* sticky KEY; a complex value, e.g. $http_x_user_id */

static char *
ngx_http_ai_release_set_sticky(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_ai_release_workflow_t  *wf = conf;

    ngx_str_t                         *value;
    ngx_uint_t                         i;
    ngx_http_compile_complex_value_t   ccv;

    if (wf->sticky) {
        return "is duplicate";
    }

    value = cf->args->elts;

    wf->sticky = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (wf->sticky == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = wf->sticky;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /*
     * the common case, a single request header: looked up by its hash
     * rather than through the variable (which compares every header's
     * name byte by byte)
     */

    if (value[1].len <= 6
        || ngx_strncmp(value[1].data, "$http_", 6) != 0)
    {
        return NGX_CONF_OK;
    }

    for (i = 6; i < value[1].len; i++) {
        if (!((value[1].data[i] >= 'a' && value[1].data[i] <= 'z')
              || (value[1].data[i] >= '0' && value[1].data[i] <= '9')
              || value[1].data[i] == '_'))
        {
            return NGX_CONF_OK;
        }
    }

    wf->sticky_header.len = value[1].len - 6;
    wf->sticky_header.data = ngx_pnalloc(cf->pool, wf->sticky_header.len);
    if (wf->sticky_header.data == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < wf->sticky_header.len; i++) {
        wf->sticky_header.data[i] = value[1].data[i + 6] == '_'
                                    ? '-' : value[1].data[i + 6];
    }

    wf->sticky_hash = ngx_hash_key(wf->sticky_header.data,
                                   wf->sticky_header.len);

    return NGX_CONF_OK;
}


ngx_http_ai_release_target_t *
ngx_http_ai_release_target(ngx_conf_t *cf, ngx_http_ai_release_workflow_t *wf,
    ngx_str_t *id, ngx_uint_t variant, ngx_http_ai_release_target_t *t)
{
    u_char                           *p;
    size_t                            i, len;
    ngx_str_t                         upstream;
    ai_release_bundle_t              *b;
    ai_release_header_t              *bh;
    ngx_http_ai_release_header_t     *h;
    ngx_http_ai_release_target_t     *used;
    ngx_http_ai_release_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ai_release_module);

    b = ai_release_set_find(amcf->set, (char *) id->data, id->len);

    if (b == NULL) {
        if (ai_release_set_count(amcf->set) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown bundle \"%V\" in workflow \"%V\": "
                               "no bundles are loaded (\"ai_release_bundles\" "
                               "must come before \"ai_release_workflow\")",
                               id, &wf->name);

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown bundle \"%V\" in workflow \"%V\" "
                               "(bundles are named \"name@version\")",
                               id, &wf->name);
        }

        return NULL;
    }

    used = ngx_http_ai_release_target_used(wf, b);

    if (used && variant == NGX_HTTP_AI_RELEASE_SHADOW) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "bundle \"%V\" already serves workflow \"%V\" "
                           "as its %V: a shadow is a bundle that serves no "
                           "user", id, &wf->name,
                           &ngx_http_ai_release_variant_names[used->variant]);
        return NULL;
    }

    if (used) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "bundle \"%V\" appears twice in workflow \"%V\"",
                           id, &wf->name);
        return NULL;
    }

    if (t == NULL) {
        t = ngx_pcalloc(cf->pool, sizeof(ngx_http_ai_release_target_t));
        if (t == NULL) {
            return NULL;
        }

    } else {
        ngx_memzero(t, sizeof(ngx_http_ai_release_target_t));
    }

    t->bundle = b;
    t->workflow = wf;
    t->variant = variant;
    t->file_name = cf->conf_file->file.name.data;
    t->line = cf->conf_file->line;

    t->id.data = (u_char *) b->id;
    t->id.len = ngx_strlen(b->id);
    t->digest.data = (u_char *) b->digest_hex;
    t->digest.len = ngx_strlen(b->digest_hex);
    t->digest_short.data = (u_char *) b->digest_short;
    t->digest_short.len = ngx_strlen(b->digest_short);
    t->model.data = (u_char *) b->model;
    t->model.len = ngx_strlen(b->model);
    t->upstream.data = (u_char *) b->upstream;
    t->upstream.len = ngx_strlen(b->upstream);

    len = t->id.len + sizeof("; digest=") - 1 + t->digest_short.len
          + sizeof("; variant=") - 1
          + ngx_http_ai_release_variant_names[variant].len;

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NULL;
    }

    t->response_header.data = p;
    t->response_header.len = len;

    ngx_sprintf(p, "%V; digest=%V; variant=%V", &t->id, &t->digest_short,
                &ngx_http_ai_release_variant_names[variant]);

    if (b->nheaders) {
        h = ngx_pcalloc(cf->pool,
                        b->nheaders * sizeof(ngx_http_ai_release_header_t));
        if (h == NULL) {
            return NULL;
        }

        for (i = 0; i < b->nheaders; i++) {
            bh = &b->headers[i];

            h[i].key.data = (u_char *) bh->name;
            h[i].key.len = ngx_strlen(bh->name);
            h[i].value.data = (u_char *) bh->value;
            h[i].value.len = ngx_strlen(bh->value);

            h[i].lowcase_key = ngx_pnalloc(cf->pool, h[i].key.len);
            if (h[i].lowcase_key == NULL) {
                return NULL;
            }

            h[i].hash = ngx_hash_strlow(h[i].lowcase_key, h[i].key.data,
                                        h[i].key.len);
        }

        t->headers = h;
        t->nheaders = b->nheaders;
    }

    upstream = t->upstream;

    t->uscf = ngx_http_ai_release_upstream_add(cf, &upstream);
    if (t->uscf == NULL) {
        return NULL;
    }

    return t;
}


/*
 * trip error_rate=20% min_requests=20 window=60s consecutive=5 cooldown=30s
 *      max_cooldown=10m probes=5 canary_margin=5% recover=auto;
 */

static char *
ngx_http_ai_release_set_trip(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ai_release_workflow_t  *wf = conf;

    char         err[256];
    ngx_str_t   *value;
    ngx_uint_t   i;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (ai_release_trip_parse(&wf->trip, (char *) value[i].data,
                                  value[i].len, err, sizeof(err))
            != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in \"trip\" of workflow \"%V\"", err,
                               &wf->name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* errors 5xx connect timeout invalid 429 slow=20s; */

static char *
ngx_http_ai_release_set_errors(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_ai_release_workflow_t  *wf = conf;

    int          cls;
    uint64_t     ms;
    unsigned     mask;
    ngx_str_t   *value;
    ngx_uint_t   i;

    value = cf->args->elts;
    mask = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len > 5 && ngx_strncmp(value[i].data, "slow=", 5) == 0) {
            if (ai_release_parse_duration((char *) value[i].data + 5,
                                          value[i].len - 5, &ms)
                != 0 || ms == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\" in \"errors\" of "
                                   "workflow \"%V\"", &value[i], &wf->name);
                return NGX_CONF_ERROR;
            }

            wf->trip.slow_ms = ms;
            mask |= 1u << AI_RELEASE_SLOW;
            continue;
        }

        cls = ai_release_class_parse((char *) value[i].data, value[i].len);

        if (cls <= AI_RELEASE_OK || cls == AI_RELEASE_SLOW
            || cls == AI_RELEASE_REJECTED)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown error class \"%V\" in \"errors\" of "
                               "workflow \"%V\": use 5xx, connect, timeout, "
                               "invalid, 429, contract or slow=TIME",
                               &value[i],
                               &wf->name);
            return NGX_CONF_ERROR;
        }

        mask |= 1u << cls;
    }

    wf->trip.errors_mask = mask;

    return NGX_CONF_OK;
}


/* the target of the workflow that already has the bundle, if any */

static ngx_http_ai_release_target_t *
ngx_http_ai_release_target_used(ngx_http_ai_release_workflow_t *wf,
    ai_release_bundle_t *bundle)
{
    ngx_uint_t                     i;
    ngx_http_ai_release_target_t  *t;

    if (wf->stable && wf->stable->bundle == bundle) {
        return wf->stable;
    }

    if (wf->fallback && wf->fallback->bundle == bundle) {
        return wf->fallback;
    }

    if (wf->shadow && wf->shadow->bundle == bundle) {
        return wf->shadow;
    }

    t = wf->canaries.elts;

    for (i = 0; i < wf->canaries.nelts; i++) {
        if (t[i].bundle == bundle) {
            return &t[i];
        }
    }

    return NULL;
}


/*
 * Once the whole configuration is read (the http block's init_main_conf,
 * after the main ai_release_eval_gate's own default): the workflows' hash
 * and every workflow's defaults.
 */

ngx_int_t
ngx_http_ai_release_init_workflows(ngx_conf_t *cf,
    ngx_http_ai_release_main_conf_t *amcf)
{
    ngx_uint_t                        i;
    ngx_hash_init_t                   hash;
    ngx_http_ai_release_workflow_t  **wfp;

    wfp = amcf->workflows.elts;

    for (i = 0; i < amcf->workflows.nelts; i++) {
        ngx_http_ai_release_merge_workflow(amcf, wfp[i]);

        if (ngx_http_ai_release_apply_init_workflow(cf, wfp[i]) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ngx_http_ai_release_signals_init_workflow(cf, wfp[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    hash.hash = &amcf->workflow_hash;
    hash.key = ngx_hash_key;
    hash.max_size = 1024 * 64;
    hash.bucket_size = ngx_align(256, ngx_cacheline_size);
    hash.name = "ai_release_workflows_hash";
    hash.pool = cf->pool;
    hash.temp_pool = NULL;

    if (ngx_hash_init(&hash, amcf->workflow_keys->keys.elts,
                      amcf->workflow_keys->keys.nelts)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the defaults of what a workflow block did not set */

static void
ngx_http_ai_release_merge_workflow(ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_workflow_t *wf)
{
    ngx_conf_init_value(wf->failover, 0);
    ngx_conf_init_uint_value(wf->format, AI_RELEASE_FORMAT_NONE);
    ngx_conf_merge_uint_value(wf->eval_gate, amcf->eval_gate,
                              NGX_HTTP_AI_RELEASE_GATE_ON);

    /* the cooldown's cap is never below the cooldown */

    if (wf->trip.max_cooldown_ms < wf->trip.cooldown_ms) {
        wf->trip.max_cooldown_ms = wf->trip.cooldown_ms;
    }

    ngx_http_ai_release_rollout_merge(wf);
}


ngx_uint_t
ngx_http_ai_release_target_count(ngx_http_ai_release_workflow_t *wf)
{
    return 1 + wf->canaries.nelts + (wf->fallback ? 1 : 0)
           + (wf->shadow ? 1 : 0);
}


/* 0: stable, then the canaries in order, then the fallback, the shadow */

ngx_http_ai_release_target_t *
ngx_http_ai_release_target_at(ngx_http_ai_release_workflow_t *wf,
    ngx_uint_t i)
{
    ngx_http_ai_release_target_t  *canary;

    if (i == 0) {
        return wf->stable;
    }

    if (i <= wf->canaries.nelts) {
        canary = wf->canaries.elts;
        return &canary[i - 1];
    }

    if (i == wf->canaries.nelts + 1 && wf->fallback) {
        return wf->fallback;
    }

    return wf->shadow;
}


ngx_http_ai_release_target_t *
ngx_http_ai_release_find_target(ngx_http_ai_release_workflow_t *wf,
    u_char *id, size_t len)
{
    ngx_uint_t                     i, n;
    ngx_http_ai_release_target_t  *t;

    n = ngx_http_ai_release_target_count(wf);

    for (i = 0; i < n; i++) {
        t = ngx_http_ai_release_target_at(wf, i);

        if (t->id.len == len && ngx_strncmp(t->id.data, id, len) == 0) {
            return t;
        }
    }

    return NULL;
}


ngx_http_ai_release_workflow_t *
ngx_http_ai_release_find_workflow(ngx_http_ai_release_main_conf_t *amcf,
    u_char *name, size_t len)
{
    return ngx_hash_find(&amcf->workflow_hash, ngx_hash_key(name, len), name,
                         len);
}


/* the bundle an operator pinned the workflow to, if any */

ngx_http_ai_release_target_t *
ngx_http_ai_release_pinned(ngx_http_ai_release_workflow_t *wf)
{
    ngx_uint_t                     i, n;
    ngx_http_ai_release_target_t  *t;

    n = ngx_http_ai_release_target_count(wf);

    for (i = 0; i < n; i++) {
        t = ngx_http_ai_release_target_at(wf, i);

        if (t->slot
            && ai_release_atomic_load(
                   &t->slot->override[NGX_HTTP_AI_RELEASE_OVR_PIN]))
        {
            return t;
        }
    }

    return NULL;
}


/* the share of new traffic the bundle gets now, in 0.01% steps */

ngx_uint_t
ngx_http_ai_release_effective_weight(ngx_http_ai_release_target_t *t)
{
    ngx_uint_t                       i, share;
    ngx_http_ai_release_target_t    *c, *pinned;
    ngx_http_ai_release_workflow_t  *wf;

    wf = t->workflow;
    pinned = ngx_http_ai_release_pinned(wf);

    if (pinned) {
        return t == pinned ? AI_RELEASE_WEIGHT_SCALE : 0;
    }

    if (t->variant == NGX_HTTP_AI_RELEASE_CANARY) {
        if (ai_release_atomic_load(&t->slot->state)
            != NGX_HTTP_AI_RELEASE_CLOSED
            || ai_release_atomic_load(
                   &t->slot->override[NGX_HTTP_AI_RELEASE_OVR_ROLLBACK]))
        {
            return 0;
        }

        return t->plan ? ngx_http_ai_release_rollout_weight(t) : t->weight;
    }

    share = AI_RELEASE_WEIGHT_SCALE;
    c = wf->canaries.elts;

    for (i = 0; i < wf->canaries.nelts; i++) {
        share -= ngx_http_ai_release_effective_weight(&c[i]);
    }

    if (ai_release_atomic_load(&wf->stable->slot->state)
        == NGX_HTTP_AI_RELEASE_CLOSED
        || wf->fallback == NULL
        || ai_release_atomic_load(&wf->fallback->slot->state)
           != NGX_HTTP_AI_RELEASE_CLOSED)
    {
        return t->variant == NGX_HTTP_AI_RELEASE_STABLE ? share : 0;
    }

    return t->variant == NGX_HTTP_AI_RELEASE_FALLBACK ? share : 0;
}
