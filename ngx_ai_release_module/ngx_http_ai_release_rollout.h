/*
 * Copyright (C) ngx_ai_release authors
 *
 * Progressive rollout: a canary's plan of steps, run by the workers
 * themselves from the zone.
 */


#ifndef _NGX_HTTP_AI_RELEASE_ROLLOUT_H_INCLUDED_
#define _NGX_HTTP_AI_RELEASE_ROLLOUT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_ai_release_module.h"
#include "ngx_http_ai_release_response.h"


/* the states of a plan */
#define NGX_HTTP_AI_RELEASE_ROLLOUT_RUNNING   0
#define NGX_HTTP_AI_RELEASE_ROLLOUT_PAUSED    1
#define NGX_HTTP_AI_RELEASE_ROLLOUT_ABORTED   2
#define NGX_HTTP_AI_RELEASE_ROLLOUT_COMPLETE  3
#define NGX_HTTP_AI_RELEASE_ROLLOUT_NSTATES   4

/* what the control API asks of a workflow's plans */
#define NGX_HTTP_AI_RELEASE_ROLLOUT_PAUSE     0
#define NGX_HTTP_AI_RELEASE_ROLLOUT_RESUME    1
#define NGX_HTTP_AI_RELEASE_ROLLOUT_ADVANCE   2

#define NGX_HTTP_AI_RELEASE_MAX_STEPS 32


/* a canary's plan, from its "canary" directive */
struct ngx_http_ai_release_plan_s {
    ngx_uint_t                       steps[NGX_HTTP_AI_RELEASE_MAX_STEPS];
    ngx_uint_t                       nsteps;
    ngx_msec_t                       every;
    ngx_uint_t                       min_requests;  /* or the trip's */
    uint64_t                         hash;          /* of the three */
};


/*
 * Where a plan stands, in a chunk of the zone that its canary's slot
 * points to: it lives as long as the slot (the same workflow and digest),
 * so a reload keeps it; "plan" tells whether it was made for the same
 * plan.  Changed under the zone's mutex; read without it.
 */
struct ngx_http_ai_release_rollout_sh_s {
    uint64_t                         plan;          /* plan->hash */
    uint64_t                         state;
    uint64_t                         step;          /* from 0 */
    uint64_t                         weight;        /* now: 0..10000 */
    uint64_t                         step_ms;       /* ngx_current_msec */
    uint64_t                         left_ms;       /* paused: to go */
    uint64_t                         served;        /* attempts then */
    uint64_t                         trips;         /* the slot's then */
    uint64_t                         reason;        /* aborted: the trip's */
    uint64_t                         aborted_step;
    uint64_t                         since_sec;     /* last change */
};


char *ngx_http_ai_release_rollout_parse(ngx_conf_t *cf,
    ngx_http_ai_release_workflow_t *wf, ngx_str_t *args, ngx_uint_t nargs,
    ngx_http_ai_release_plan_t **planp);
void ngx_http_ai_release_rollout_merge(ngx_http_ai_release_workflow_t *wf);
ngx_int_t ngx_http_ai_release_rollout_bind(
    ngx_http_ai_release_main_conf_t *amcf, ngx_http_ai_release_target_t *t,
    ngx_http_ai_release_slot_t *slot);
void ngx_http_ai_release_rollout_free(ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_slot_t *slot);
ngx_int_t ngx_http_ai_release_rollout_init_process(ngx_cycle_t *cycle);
void ngx_http_ai_release_rollout_tick(ngx_http_ai_release_workflow_t *wf,
    ngx_log_t *log);
ngx_uint_t ngx_http_ai_release_rollout_weight(
    ngx_http_ai_release_target_t *t);
const char *ngx_http_ai_release_rollout_control(
    ngx_http_ai_release_workflow_t *wf, ngx_uint_t what, ngx_log_t *log);
const char *ngx_http_ai_release_rollout_hold(ngx_http_ai_release_target_t *t);
void ngx_http_ai_release_rollout_json(ngx_http_ai_release_target_t *t,
    json_t *o);
ngx_int_t ngx_http_ai_release_rollout_prometheus(
    ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_workflow_t *only, ngx_http_ai_release_text_t *tx);


/*
 * A planned canary's range holds keys [edge - weight, edge), weight being
 * its last step; those below edge - weight + the weight now go to it, the
 * rest to stable: growing the weight only moves keys from stable to it.
 */

static ngx_inline ngx_uint_t
ngx_http_ai_release_rollout_takes(ngx_http_ai_release_target_t *t,
    ngx_uint_t point)
{
    return point < t->edge - t->weight + ngx_http_ai_release_rollout_weight(t);
}


#endif /* _NGX_HTTP_AI_RELEASE_ROLLOUT_H_INCLUDED_ */
