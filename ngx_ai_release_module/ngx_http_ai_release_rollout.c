/*
 * Copyright (C) ngx_ai_release authors
 *
 * Progressive rollout: "canary ID steps=1%,5%,25%,50% every=10m
 * min_requests=100;" grows the canary one step after each interval in
 * which its breaker stayed closed and it served enough requests.  A trip
 * aborts the plan (weight 0 until a resume or a new digest); the last step
 * says "complete" and never promotes.
 *
 * There is no controller: whichever worker first handles a request (a
 * status read, or its once-a-second timer) once a step is due takes it,
 * under the zone's mutex, where the step's clock moves on with it, so no
 * step is taken twice.  Requests read the plan's weight and clock with
 * atomic loads only.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_ai_release_module.h"
#include "ngx_http_ai_release_response.h"
#include "ngx_http_ai_release_rollout.h"


/* a plan's default interval */
#define NGX_HTTP_AI_RELEASE_ROLLOUT_EVERY  (10 * 60 * 1000)

/* how often a worker's timer looks at the plans */
#define NGX_HTTP_AI_RELEASE_ROLLOUT_TIMER  1000


static char *ngx_http_ai_release_rollout_steps(ngx_conf_t *cf,
    ngx_http_ai_release_workflow_t *wf, ngx_str_t *s,
    ngx_http_ai_release_plan_t *plan);
static void ngx_http_ai_release_rollout_start(
    ngx_http_ai_release_rollout_sh_t *r, ngx_http_ai_release_target_t *t);
static uint64_t ngx_http_ai_release_rollout_served(
    ngx_http_ai_release_slot_t *slot);
static void ngx_http_ai_release_rollout_check(ngx_http_ai_release_target_t *t,
    ngx_log_t *log);
static const char *ngx_http_ai_release_rollout_waiting(
    ngx_http_ai_release_target_t *t);
static void ngx_http_ai_release_rollout_step(ngx_http_ai_release_target_t *t,
    ngx_log_t *log, ngx_uint_t forced);
static void ngx_http_ai_release_rollout_abort(ngx_http_ai_release_target_t *t,
    ngx_log_t *log);
static const char *ngx_http_ai_release_rollout_act(
    ngx_http_ai_release_target_t *t, ngx_uint_t what, ngx_log_t *log);
static uint64_t ngx_http_ai_release_rollout_left(
    ngx_http_ai_release_target_t *t);
static ngx_uint_t ngx_http_ai_release_rollout_live(
    ngx_http_ai_release_target_t *t);
static void ngx_http_ai_release_rollout_timer(ngx_event_t *ev);
static ngx_int_t ngx_http_ai_release_rollout_metric(
    ngx_http_ai_release_text_t *tx, ngx_http_ai_release_target_t *t,
    ngx_uint_t metric);


static ngx_event_t  ngx_http_ai_release_rollout_ev;


static const char  *ngx_http_ai_release_rollout_states[] = {
    "running", "paused", "aborted", "complete"
};


/*
 * The plan of "canary ID ARGS...", args being what follows the ID:
 * steps=W,W,... every=TIME min_requests=N.  A weight among them is a
 * fixed weight too, which a plan replaces.
 */

char *
ngx_http_ai_release_rollout_parse(ngx_conf_t *cf,
    ngx_http_ai_release_workflow_t *wf, ngx_str_t *args, ngx_uint_t nargs,
    ngx_http_ai_release_plan_t **planp)
{
    unsigned                     weight;
    ngx_int_t                    n;
    ngx_str_t                    s;
    ngx_uint_t                   i, fixed, every, min;
    ngx_http_ai_release_plan_t  *plan;

    plan = ngx_pcalloc(cf->pool, sizeof(ngx_http_ai_release_plan_t));
    if (plan == NULL) {
        return NGX_CONF_ERROR;
    }

    plan->every = NGX_CONF_UNSET_MSEC;
    plan->min_requests = NGX_CONF_UNSET_UINT;
    fixed = 0;
    every = 0;
    min = 0;

    for (i = 0; i < nargs; i++) {

        if (args[i].len > 6 && ngx_strncmp(args[i].data, "steps=", 6) == 0) {
            if (plan->nsteps) {
                goto duplicate;
            }

            s.data = args[i].data + 6;
            s.len = args[i].len - 6;

            if (ngx_http_ai_release_rollout_steps(cf, wf, &s, plan)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (args[i].len > 6 && ngx_strncmp(args[i].data, "every=", 6) == 0) {
            if (every++) {
                goto duplicate;
            }

            s.data = args[i].data + 6;
            s.len = args[i].len - 6;

            plan->every = ngx_parse_time(&s, 0);

            if (plan->every == (ngx_msec_t) NGX_ERROR || plan->every == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\" in \"canary\" of workflow "
                                   "\"%V\": expected a time above 0, e.g. "
                                   "\"every=10m\" or \"every=30s\"",
                                   &args[i], &wf->name);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (args[i].len > 13
            && ngx_strncmp(args[i].data, "min_requests=", 13) == 0)
        {
            if (min++) {
                goto duplicate;
            }

            n = ngx_atoi(args[i].data + 13, args[i].len - 13);

            if (n == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\" in \"canary\" of workflow "
                                   "\"%V\": expected a number of requests",
                                   &args[i], &wf->name);
                return NGX_CONF_ERROR;
            }

            plan->min_requests = n;
            continue;
        }

        if (ngx_strlchr(args[i].data, args[i].data + args[i].len, '=') == NULL
            && ai_release_parse_weight((char *) args[i].data, args[i].len,
                                       &weight)
               == 0)
        {
            fixed = 1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"canary\" of "
                           "workflow \"%V\"", &args[i], &wf->name);
        return NGX_CONF_ERROR;
    }

    if (plan->nsteps == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"canary\" of workflow \"%V\" has %s but no "
                           "\"steps=\": a plan needs its steps, e.g. "
                           "\"steps=1%%,5%%,25%%,50%%\"", &wf->name,
                           fixed ? "a fixed weight and a plan's parameters"
                                 : "a plan's parameters");
        return NGX_CONF_ERROR;
    }

    if (fixed) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"canary\" of workflow \"%V\" has both a fixed "
                           "weight and \"steps=\": a canary with a plan "
                           "takes its weight from the plan's steps",
                           &wf->name);
        return NGX_CONF_ERROR;
    }

    if (plan->every == NGX_CONF_UNSET_MSEC) {
        plan->every = NGX_HTTP_AI_RELEASE_ROLLOUT_EVERY;
    }

    *planp = plan;

    return NGX_CONF_OK;

duplicate:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "duplicate \"%V\" in \"canary\" of workflow \"%V\"",
                       &args[i], &wf->name);
    return NGX_CONF_ERROR;
}


/* steps=1%,5%,25%,50%: increasing, each above 0, at most 100% */

static char *
ngx_http_ai_release_rollout_steps(ngx_conf_t *cf,
    ngx_http_ai_release_workflow_t *wf, ngx_str_t *s,
    ngx_http_ai_release_plan_t *plan)
{
    u_char    *p, *last, *comma;
    unsigned   weight;
    ngx_str_t  step;

    p = s->data;
    last = s->data + s->len;

    while (p <= last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        step.data = p;
        step.len = comma - p;

        if (ai_release_parse_weight((char *) step.data, step.len, &weight)
            != 0 || weight == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid step \"%V\" in \"steps=\" of workflow "
                               "\"%V\": expected a percentage above 0%% and "
                               "at most 100%% in 0.01%% steps, e.g. \"5%%\"",
                               &step, &wf->name);
            return NGX_CONF_ERROR;
        }

        if (plan->nsteps && weight <= plan->steps[plan->nsteps - 1]) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "step \"%V\" in \"steps=\" of workflow \"%V\" "
                               "is not above the step before it: steps must "
                               "increase", &step, &wf->name);
            return NGX_CONF_ERROR;
        }

        if (plan->nsteps == NGX_HTTP_AI_RELEASE_MAX_STEPS) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "more than %d steps in \"steps=\" of workflow "
                               "\"%V\"", NGX_HTTP_AI_RELEASE_MAX_STEPS,
                               &wf->name);
            return NGX_CONF_ERROR;
        }

        plan->steps[plan->nsteps++] = weight;
        p = comma + 1;
    }

    if (plan->nsteps < 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"steps=\" of workflow \"%V\" has one step: a "
                           "plan needs two or more (a fixed weight needs "
                           "none: \"canary ID 5%%;\")", &wf->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * Once the workflow is read: min_requests defaults to the trip's (so that
 * the breaker had the requests to judge each step), and the plan gets the
 * hash that tells a reload whether it changed.
 */

void
ngx_http_ai_release_rollout_merge(ngx_http_ai_release_workflow_t *wf)
{
    uint32_t                      h;
    ngx_uint_t                    i;
    ngx_http_ai_release_plan_t   *plan;
    ngx_http_ai_release_target_t *c;

    c = wf->canaries.elts;

    for (i = 0; i < wf->canaries.nelts; i++) {
        plan = c[i].plan;

        if (plan == NULL) {
            continue;
        }

        ngx_conf_init_uint_value(plan->min_requests, wf->trip.min_requests);

        h = ai_release_hash32(0x706c616e, plan->steps,
                              plan->nsteps * sizeof(ngx_uint_t));
        h = ai_release_hash32(h, &plan->every, sizeof(ngx_msec_t));
        h = ai_release_hash32(h, &plan->min_requests, sizeof(ngx_uint_t));

        /* never 0, which is "no plan" */
        plan->hash = ((uint64_t) 1 << 32) | h;
    }
}


/*
 * Where the canary's plan stands: the chunk its slot points to, allocated
 * the first time (the zone's mutex is held), or started over when the plan
 * is not the one it was made for.  A slot carried over from a zone of
 * another size points into the old zone, still mapped: its chunk is copied.
 */

ngx_int_t
ngx_http_ai_release_rollout_bind(ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_target_t *t, ngx_http_ai_release_slot_t *slot)
{
    ngx_slab_pool_t                   *shpool;
    ngx_http_ai_release_rollout_sh_t  *r, *from;

    shpool = amcf->shpool;
    r = slot->rollout;
    from = NULL;

    if (r && ((u_char *) r < shpool->start || (u_char *) r >= shpool->end)) {
        from = r;
        r = NULL;
        slot->rollout = NULL;
    }

    if (t->plan == NULL) {
        if (r) {
            /* the same plan given again later starts over */
            r->plan = 0;
        }

        return NGX_OK;
    }

    if (r == NULL) {
        r = ngx_slab_alloc_locked(shpool,
                                  sizeof(ngx_http_ai_release_rollout_sh_t));
        if (r == NULL) {
            ngx_log_error(NGX_LOG_EMERG, amcf->log, 0,
                          "ai_release zone \"%V\" is full: no room for the "
                          "plan of canary \"%V\" in workflow \"%V\"; give it "
                          "more room with \"ai_release_zone %V SIZE;\"",
                          &amcf->zone_name, &t->id, &t->workflow->name,
                          &amcf->zone_name);
            return NGX_ERROR;
        }

        if (from) {
            ngx_memcpy(r, from, sizeof(ngx_http_ai_release_rollout_sh_t));

        } else {
            ngx_memzero(r, sizeof(ngx_http_ai_release_rollout_sh_t));
        }

        slot->rollout = r;
    }

    t->rollout = r;

    if (r->plan != t->plan->hash) {
        ngx_http_ai_release_rollout_start(r, t);
        ai_release_atomic_store(&r->plan, t->plan->hash);
    }

    return NGX_OK;
}


/* the slot goes (the zone's mutex is held): its plan's chunk with it */

void
ngx_http_ai_release_rollout_free(ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_slot_t *slot)
{
    if (slot->rollout) {
        ngx_slab_free_locked(amcf->shpool, slot->rollout);
        slot->rollout = NULL;
    }
}


/* the first step, a fresh clock and counts; the zone's mutex is held */

static void
ngx_http_ai_release_rollout_start(ngx_http_ai_release_rollout_sh_t *r,
    ngx_http_ai_release_target_t *t)
{
    ngx_http_ai_release_slot_t  *slot;

    slot = t->slot;

    r->step = 0;
    r->left_ms = 0;
    r->reason = 0;
    r->aborted_step = 0;
    r->since_sec = ngx_time();

    ai_release_atomic_store(&r->served,
                            ngx_http_ai_release_rollout_served(slot));
    ai_release_atomic_store(&r->trips, ai_release_atomic_load(&slot->trips));
    ai_release_atomic_store(&r->step_ms, ngx_current_msec);
    ai_release_atomic_store(&r->weight, t->plan->steps[0]);
    ai_release_atomic_store(&r->state, NGX_HTTP_AI_RELEASE_ROLLOUT_RUNNING);
}


/* the attempts the canary's slot counted, refused requests aside */

static uint64_t
ngx_http_ai_release_rollout_served(ngx_http_ai_release_slot_t *slot)
{
    uint64_t    n;
    ngx_uint_t  k;

    n = 0;

    for (k = 0; k < AI_RELEASE_NCLASSES; k++) {
        if (k != AI_RELEASE_REJECTED) {
            n += ai_release_atomic_load(&slot->total[k]);
        }
    }

    return n;
}


/* the share a planned canary has now, in 0.01% steps */

ngx_uint_t
ngx_http_ai_release_rollout_weight(ngx_http_ai_release_target_t *t)
{
    uint64_t  w;

    if (t->rollout == NULL) {
        /* no zone: "nginx -t" */
        return t->plan->steps[0];
    }

    w = ai_release_atomic_load(&t->rollout->weight);

    return (w < t->weight) ? (ngx_uint_t) w : t->weight;
}


/*
 * Every request on a workflow, before its bundle is chosen: a trip of a
 * planned canary aborts its plan, and a step that is due is taken.  A few
 * atomic loads per planned canary, a lock only for a change.
 */

void
ngx_http_ai_release_rollout_tick(ngx_http_ai_release_workflow_t *wf,
    ngx_log_t *log)
{
    ngx_uint_t                     i;
    ngx_http_ai_release_target_t  *c;

    c = wf->canaries.elts;

    for (i = 0; i < wf->canaries.nelts; i++) {
        if (c[i].rollout) {
            ngx_http_ai_release_rollout_check(&c[i], log);
        }
    }
}


/*
 * Besides requests, a timer of each worker looks at the plans once a
 * second, so that a plan that needs no requests (min_requests=0) steps
 * and completes without traffic, and a trip through the API aborts it at
 * once.  Only where a canary has a plan.
 */

ngx_int_t
ngx_http_ai_release_rollout_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                         i, j;
    ngx_http_ai_release_target_t      *c;
    ngx_http_ai_release_workflow_t   **wfp;
    ngx_http_ai_release_main_conf_t   *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_ai_release_module);

    if (amcf == NULL || amcf->sh == NULL) {
        return NGX_OK;
    }

    wfp = amcf->workflows.elts;

    for (i = 0; i < amcf->workflows.nelts; i++) {
        c = wfp[i]->canaries.elts;

        for (j = 0; j < wfp[i]->canaries.nelts; j++) {
            if (c[j].rollout == NULL) {
                continue;
            }

            ngx_http_ai_release_rollout_ev.handler =
                                            ngx_http_ai_release_rollout_timer;
            ngx_http_ai_release_rollout_ev.log = cycle->log;
            ngx_http_ai_release_rollout_ev.data = amcf;
            ngx_http_ai_release_rollout_ev.cancelable = 1;

            ngx_add_timer(&ngx_http_ai_release_rollout_ev,
                          NGX_HTTP_AI_RELEASE_ROLLOUT_TIMER);

            return NGX_OK;
        }
    }

    return NGX_OK;
}


static void
ngx_http_ai_release_rollout_timer(ngx_event_t *ev)
{
    ngx_http_ai_release_main_conf_t *amcf = ev->data;

    ngx_uint_t                        i;
    ngx_http_ai_release_workflow_t  **wfp;

    wfp = amcf->workflows.elts;

    for (i = 0; i < amcf->workflows.nelts; i++) {
        ngx_http_ai_release_rollout_tick(wfp[i], ev->log);
    }

    if (!ngx_exiting && !ngx_quit && !ngx_terminate) {
        ngx_add_timer(ev, NGX_HTTP_AI_RELEASE_ROLLOUT_TIMER);
    }
}


static void
ngx_http_ai_release_rollout_check(ngx_http_ai_release_target_t *t,
    ngx_log_t *log)
{
    uint64_t                           state;
    ngx_http_ai_release_rollout_sh_t  *r;

    if (!ngx_http_ai_release_rollout_live(t)) {
        return;
    }

    r = t->rollout;
    state = ai_release_atomic_load(&r->state);

    if (state == NGX_HTTP_AI_RELEASE_ROLLOUT_ABORTED) {
        return;
    }

    if (ai_release_atomic_load(&t->slot->trips)
        != ai_release_atomic_load(&r->trips))
    {
        ngx_http_ai_release_rollout_abort(t, log);
        return;
    }

    if (state != NGX_HTTP_AI_RELEASE_ROLLOUT_RUNNING
        || ngx_http_ai_release_rollout_left(t) > 0
        || ngx_http_ai_release_rollout_waiting(t) != NULL)
    {
        return;
    }

    ngx_http_ai_release_rollout_step(t, log, 0);
}


/*
 * Whether the plan the worker runs is the one in the zone: a worker of an
 * older configuration whose slot a reload freed, or whose plan a reload
 * changed, leaves it alone.
 */

static ngx_uint_t
ngx_http_ai_release_rollout_live(ngx_http_ai_release_target_t *t)
{
    return ngx_http_ai_release_slot_current(t)
           && ai_release_atomic_load(&t->rollout->plan) == t->plan->hash;
}


/* the time to the end of the step's interval; while paused, frozen */

static uint64_t
ngx_http_ai_release_rollout_left(ngx_http_ai_release_target_t *t)
{
    uint64_t                           now, start;
    ngx_http_ai_release_rollout_sh_t  *r;

    r = t->rollout;

    if (ai_release_atomic_load(&r->state)
        == NGX_HTTP_AI_RELEASE_ROLLOUT_PAUSED)
    {
        return ai_release_atomic_load(&r->left_ms);
    }

    now = ngx_current_msec;
    start = ai_release_atomic_load(&r->step_ms);

    if (now - start >= t->plan->every) {
        return 0;
    }

    return t->plan->every - (now - start);
}


/*
 * What a running plan waits for once its interval is over, or NULL when
 * it may step: an operator's override, the breaker, the requests, a drift
 * rule's hold.
 */

static const char *
ngx_http_ai_release_rollout_waiting(ngx_http_ai_release_target_t *t)
{
    ngx_http_ai_release_slot_t       *slot;
    ngx_http_ai_release_main_conf_t  *amcf;

    slot = t->slot;
    amcf = t->shm_zone->data;

    if (ai_release_atomic_load(&amcf->sh->pins)
        && ngx_http_ai_release_pinned(t->workflow))
    {
        return "pin";
    }

    if (ai_release_atomic_load(
            &slot->override[NGX_HTTP_AI_RELEASE_OVR_ROLLBACK]))
    {
        return "rollback";
    }

    if (ai_release_atomic_load(&slot->state) != NGX_HTTP_AI_RELEASE_CLOSED) {
        return "breaker";
    }

    if (ngx_http_ai_release_rollout_served(slot)
        - ai_release_atomic_load(&t->rollout->served)
        < t->plan->min_requests)
    {
        return "requests";
    }

    return ngx_http_ai_release_rollout_hold(t);
}


/* "waiting_for" of a canary a drift rule holds, by ai_release_drift_e */
static const char  *ngx_http_ai_release_drift_hold_names[AI_RELEASE_DRIFT_N] = {
    NULL, "drift:output_tokens", "drift:input_tokens", "drift:cost",
    "drift:answer_bytes", "drift:text_bytes", "drift:tool_calls",
    "drift:first_token", "drift:length_stops", "drift:refusals",
    "drift:content_filter"
};


/*
 * What holds the canary on its step besides its breaker and its requests
 * (it becomes "waiting_for"), or NULL: a drift rule in mode=observe whose
 * signal is breached ("drift:SIGNAL"); under mode=trip a breach trips the
 * canary, which aborts the plan.
 */

const char *
ngx_http_ai_release_rollout_hold(ngx_http_ai_release_target_t *t)
{
    uint64_t  signal;

    if (t->workflow->drift == NULL || t->signals == NULL) {
        return NULL;
    }

    signal = ai_release_atomic_load(&t->signals->breached);

    if (signal == AI_RELEASE_DRIFT_NONE || signal >= AI_RELEASE_DRIFT_N) {
        return NULL;
    }

    return ngx_http_ai_release_drift_hold_names[signal];
}


/*
 * The next step, under the zone's mutex: a worker that finds it due takes
 * it, and the clock it moves on tells the others it is taken.  forced:
 * the API's "advance", which waits for nothing.
 */

static void
ngx_http_ai_release_rollout_step(ngx_http_ai_release_target_t *t,
    ngx_log_t *log, ngx_uint_t forced)
{
    uint64_t                           now, step, weight, state;
    ngx_http_ai_release_rollout_sh_t  *r;
    ngx_http_ai_release_main_conf_t   *amcf;

    r = t->rollout;
    amcf = t->shm_zone->data;
    now = ngx_current_msec;

    ngx_shmtx_lock(&amcf->shpool->mutex);

    state = r->state;

    if (r->plan != t->plan->hash
        || (state != NGX_HTTP_AI_RELEASE_ROLLOUT_RUNNING
            && state != NGX_HTTP_AI_RELEASE_ROLLOUT_PAUSED)
        || (!forced
            && (state != NGX_HTTP_AI_RELEASE_ROLLOUT_RUNNING
                || now - r->step_ms < t->plan->every)))
    {
        /* another worker took it, or the plan changed meanwhile */
        ngx_shmtx_unlock(&amcf->shpool->mutex);
        return;
    }

    step = r->step + 1;
    weight = t->plan->steps[step];

    r->step = step;
    r->left_ms = t->plan->every;
    r->since_sec = ngx_time();
    ai_release_atomic_store(&r->served,
                            ngx_http_ai_release_rollout_served(t->slot));
    ai_release_atomic_store(&r->step_ms, now);
    ai_release_atomic_store(&r->weight, weight);

    if (step == t->plan->nsteps - 1) {
        state = NGX_HTTP_AI_RELEASE_ROLLOUT_COMPLETE;
        ai_release_atomic_store(&r->state, state);
    }

    ngx_shmtx_unlock(&amcf->shpool->mutex);

    if (state == NGX_HTTP_AI_RELEASE_ROLLOUT_COMPLETE) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "ai_release: workflow \"%V\" canary \"%V\" (%V): plan "
                      "complete at %ui.%02ui%%, step %uL of %ui; it stays "
                      "there: promote it with a configuration change and a "
                      "reload", &t->workflow->name, &t->id, &t->digest_short,
                      (ngx_uint_t) weight / 100, (ngx_uint_t) weight % 100,
                      step + 1, t->plan->nsteps);
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "ai_release: workflow \"%V\" canary \"%V\" (%V): plan "
                  "step %uL of %ui, weight %ui.%02ui%%%s",
                  &t->workflow->name, &t->id, &t->digest_short, step + 1,
                  t->plan->nsteps, (ngx_uint_t) weight / 100,
                  (ngx_uint_t) weight % 100, forced ? " (advanced)" : "");
}


/* a trip: the plan stops and the canary's users go back to stable */

static void
ngx_http_ai_release_rollout_abort(ngx_http_ai_release_target_t *t,
    ngx_log_t *log)
{
    uint64_t                           step, weight, reason;
    ngx_http_ai_release_slot_t        *slot;
    ngx_http_ai_release_rollout_sh_t  *r;
    ngx_http_ai_release_main_conf_t   *amcf;

    r = t->rollout;
    slot = t->slot;
    amcf = t->shm_zone->data;

    ngx_shmtx_lock(&amcf->shpool->mutex);

    if (r->plan != t->plan->hash
        || r->state == NGX_HTTP_AI_RELEASE_ROLLOUT_ABORTED
        || r->trips == slot->trips)
    {
        ngx_shmtx_unlock(&amcf->shpool->mutex);
        return;
    }

    step = r->step;
    weight = r->weight;
    reason = slot->last_reason;

    r->aborted_step = step;
    r->reason = reason;
    r->since_sec = ngx_time();
    ai_release_atomic_store(&r->trips, slot->trips);
    ai_release_atomic_store(&r->weight, 0);
    ai_release_atomic_store(&r->state, NGX_HTTP_AI_RELEASE_ROLLOUT_ABORTED);

    ngx_shmtx_unlock(&amcf->shpool->mutex);

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "ai_release: workflow \"%V\" canary \"%V\" (%V): plan "
                  "aborted at step %uL of %ui (%ui.%02ui%%): breaker tripped "
                  "(%s); its traffic goes to stable until a reload with a "
                  "new digest or an API resume", &t->workflow->name, &t->id,
                  &t->digest_short, step + 1, t->plan->nsteps,
                  (ngx_uint_t) weight / 100, (ngx_uint_t) weight % 100,
                  ai_release_state_reason_name((unsigned) reason));
}


/*
 * The control API's pause, resume and advance of a workflow's plans: NULL
 * when done, or why not.
 */

const char *
ngx_http_ai_release_rollout_control(ngx_http_ai_release_workflow_t *wf,
    ngx_uint_t what, ngx_log_t *log)
{
    const char                    *err;
    ngx_uint_t                     i, n;
    ngx_http_ai_release_target_t  *c;

    c = wf->canaries.elts;
    err = NULL;
    n = 0;

    for (i = 0; i < wf->canaries.nelts; i++) {
        if (c[i].rollout == NULL || !ngx_http_ai_release_rollout_live(&c[i]))
        {
            continue;
        }

        n++;

        /* a trip not yet seen by a request aborts first */
        ngx_http_ai_release_rollout_check(&c[i], log);

        if (err == NULL) {
            err = ngx_http_ai_release_rollout_act(&c[i], what, log);

        } else {
            (void) ngx_http_ai_release_rollout_act(&c[i], what, log);
        }
    }

    return n ? err : "it has no canary with a plan (\"steps=\")";
}


static const char *
ngx_http_ai_release_rollout_act(ngx_http_ai_release_target_t *t,
    ngx_uint_t what, ngx_log_t *log)
{
    uint64_t                           state, now;
    ngx_http_ai_release_rollout_sh_t  *r;
    ngx_http_ai_release_main_conf_t   *amcf;

    r = t->rollout;
    amcf = t->shm_zone->data;
    state = ai_release_atomic_load(&r->state);

    if (what == NGX_HTTP_AI_RELEASE_ROLLOUT_ADVANCE) {
        if (state == NGX_HTTP_AI_RELEASE_ROLLOUT_ABORTED) {
            return "its plan is aborted: \"resume\" starts it over";
        }

        if (state == NGX_HTTP_AI_RELEASE_ROLLOUT_COMPLETE) {
            return "its plan is complete: promotion is a configuration "
                   "change";
        }

        ngx_http_ai_release_rollout_step(t, log, 1);
        return NULL;
    }

    now = ngx_current_msec;

    ngx_shmtx_lock(&amcf->shpool->mutex);

    state = r->state;

    if (what == NGX_HTTP_AI_RELEASE_ROLLOUT_PAUSE) {

        if (state == NGX_HTTP_AI_RELEASE_ROLLOUT_RUNNING) {
            r->left_ms = (now - r->step_ms >= t->plan->every)
                         ? 0 : t->plan->every - (now - r->step_ms);
            r->since_sec = ngx_time();
            ai_release_atomic_store(&r->state,
                                    NGX_HTTP_AI_RELEASE_ROLLOUT_PAUSED);

        } else if (state != NGX_HTTP_AI_RELEASE_ROLLOUT_PAUSED) {
            ngx_shmtx_unlock(&amcf->shpool->mutex);
            return state == NGX_HTTP_AI_RELEASE_ROLLOUT_ABORTED
                   ? "its plan is aborted: nothing to pause"
                   : "its plan is complete: nothing to pause";
        }

    } else { /* NGX_HTTP_AI_RELEASE_ROLLOUT_RESUME */

        if (state == NGX_HTTP_AI_RELEASE_ROLLOUT_PAUSED) {
            /* the interval goes on where it stopped */
            r->since_sec = ngx_time();
            ai_release_atomic_store(&r->step_ms,
                                    now - (t->plan->every - r->left_ms));
            ai_release_atomic_store(&r->state,
                                    NGX_HTTP_AI_RELEASE_ROLLOUT_RUNNING);

        } else if (state == NGX_HTTP_AI_RELEASE_ROLLOUT_ABORTED) {
            ngx_http_ai_release_rollout_start(r, t);
        }
    }

    ngx_shmtx_unlock(&amcf->shpool->mutex);

    if (what == NGX_HTTP_AI_RELEASE_ROLLOUT_RESUME
        && state == NGX_HTTP_AI_RELEASE_ROLLOUT_ABORTED)
    {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "ai_release: workflow \"%V\" canary \"%V\" (%V): plan "
                      "starts over at %ui.%02ui%%", &t->workflow->name,
                      &t->id, &t->digest_short, t->plan->steps[0] / 100,
                      t->plan->steps[0] % 100);
    }

    return NULL;
}


/* "rollout" of a planned canary in the status JSON */

void
ngx_http_ai_release_rollout_json(ngx_http_ai_release_target_t *t, json_t *o)
{
    uint64_t                           state, served;
    json_t                            *x, *steps;
    ngx_uint_t                         i;
    const char                        *waiting;
    ngx_http_ai_release_rollout_sh_t  *r;

    if (t->plan == NULL || t->rollout == NULL) {
        return;
    }

    /* a status read is a request too: what is due happens first */
    ngx_http_ai_release_rollout_check(t, ngx_cycle->log);

    r = t->rollout;
    state = ai_release_atomic_load(&r->state);
    x = json_object();

    json_object_set_new(x, "state",
                        json_string(ngx_http_ai_release_rollout_states[state]));
    json_object_set_new(x, "step", json_integer(r->step + 1));

    steps = json_array();

    for (i = 0; i < t->plan->nsteps; i++) {
        json_array_append_new(steps, json_real(t->plan->steps[i] / 10000.0));
    }

    json_object_set_new(x, "steps", steps);
    json_object_set_new(x, "weight_now", json_real(
                            ngx_http_ai_release_rollout_weight(t) / 10000.0));
    json_object_set_new(x, "every_ms", json_integer(t->plan->every));
    json_object_set_new(x, "min_requests",
                        json_integer(t->plan->min_requests));

    served = ngx_http_ai_release_rollout_served(t->slot)
             - ai_release_atomic_load(&r->served);
    json_object_set_new(x, "served_this_step", json_integer(served));

    waiting = NULL;

    switch (state) {

    case NGX_HTTP_AI_RELEASE_ROLLOUT_RUNNING:
        waiting = ngx_http_ai_release_rollout_left(t) > 0
                  ? "interval" : ngx_http_ai_release_rollout_waiting(t);
        /* fall through */

    case NGX_HTTP_AI_RELEASE_ROLLOUT_PAUSED:
        json_object_set_new(x, "next_step_in_ms",
                        json_integer(ngx_http_ai_release_rollout_left(t)));
        break;

    default:
        json_object_set_new(x, "next_step_in_ms", json_null());
    }

    if (state == NGX_HTTP_AI_RELEASE_ROLLOUT_PAUSED) {
        waiting = "pause";
    }

    json_object_set_new(x, "waiting_for",
                        waiting ? json_string(waiting) : json_null());

    if (state == NGX_HTTP_AI_RELEASE_ROLLOUT_ABORTED) {
        json_object_set_new(x, "reason", json_pack("s++",
                            "breaker tripped (",
                            ai_release_state_reason_name(
                                (unsigned) r->reason),
                            ")"));
        json_object_set_new(x, "aborted_at_step",
                            json_integer(r->aborted_step + 1));

    } else {
        json_object_set_new(x, "reason", json_null());
    }

    json_object_set_new(x, "since", json_integer(r->since_sec));

    json_object_set_new(o, "rollout", x);
}


/*
 * ai_release_rollout_state, _step and _next_step_seconds of the planned
 * canaries (none without a plan), one metric after the other.
 */

ngx_int_t
ngx_http_ai_release_rollout_prometheus(ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_workflow_t *only, ngx_http_ai_release_text_t *tx)
{
    ngx_uint_t                        i, j, metric, first;
    ngx_http_ai_release_target_t     *c;
    ngx_http_ai_release_workflow_t  **wfp;

    static ngx_str_t  help[] = {
        ngx_string("# HELP ai_release_rollout_state State of the canary's "
                   "progressive plan (1 for the current state).\n"
                   "# TYPE ai_release_rollout_state gauge\n"),
        ngx_string("# HELP ai_release_rollout_step Step of the canary's "
                   "plan it is on, from 1.\n"
                   "# TYPE ai_release_rollout_step gauge\n"),
        ngx_string("# HELP ai_release_rollout_next_step_seconds Time until "
                   "the plan's next step may be taken (running or paused "
                   "plans).\n"
                   "# TYPE ai_release_rollout_next_step_seconds gauge\n")
    };

    wfp = amcf->workflows.elts;

    for (metric = 0; metric < 3; metric++) {
        first = 1;

        for (i = 0; i < amcf->workflows.nelts; i++) {
            if (only && wfp[i] != only) {
                continue;
            }

            c = wfp[i]->canaries.elts;

            for (j = 0; j < wfp[i]->canaries.nelts; j++) {
                if (c[j].rollout == NULL) {
                    continue;
                }

                if (first
                    && ngx_http_ai_release_text_add(tx, help[metric].data,
                                                    help[metric].len, 0)
                       != NGX_OK)
                {
                    return NGX_ERROR;
                }

                first = 0;

                if (ngx_http_ai_release_rollout_metric(tx, &c[j], metric)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }
        }
    }

    return NGX_OK;
}


#define NGX_HTTP_AI_RELEASE_ROLLOUT_LABELS                                  \
    "{workflow=\"%V\",bundle=\"%V\",digest=\"%V\",variant=\"canary\""

static ngx_int_t
ngx_http_ai_release_rollout_metric(ngx_http_ai_release_text_t *tx,
    ngx_http_ai_release_target_t *t, ngx_uint_t metric)
{
    size_t      max;
    uint64_t    state, left;
    ngx_uint_t  k;

    max = t->workflow->name.len + t->id.len + t->digest_short.len + 256;

    if (metric == 0) {
        /* a scrape is a request too: what is due happens first */
        ngx_http_ai_release_rollout_check(t, ngx_cycle->log);
    }

    state = ai_release_atomic_load(&t->rollout->state);

    switch (metric) {

    case 0:
        for (k = 0; k < NGX_HTTP_AI_RELEASE_ROLLOUT_NSTATES; k++) {
            if (ngx_http_ai_release_text_printf(tx, max,
                    "ai_release_rollout_state"
                    NGX_HTTP_AI_RELEASE_ROLLOUT_LABELS ",state=\"%s\"} %d\n",
                    &t->workflow->name, &t->id, &t->digest_short,
                    ngx_http_ai_release_rollout_states[k],
                    state == k ? 1 : 0)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        return NGX_OK;

    case 1:
        return ngx_http_ai_release_text_printf(tx, max,
                    "ai_release_rollout_step"
                    NGX_HTTP_AI_RELEASE_ROLLOUT_LABELS "} %uL\n",
                    &t->workflow->name, &t->id, &t->digest_short,
                    ai_release_atomic_load(&t->rollout->step) + 1);

    default:
        if (state != NGX_HTTP_AI_RELEASE_ROLLOUT_RUNNING
            && state != NGX_HTTP_AI_RELEASE_ROLLOUT_PAUSED)
        {
            return NGX_OK;
        }

        left = ngx_http_ai_release_rollout_left(t);

        return ngx_http_ai_release_text_printf(tx, max,
                    "ai_release_rollout_next_step_seconds"
                    NGX_HTTP_AI_RELEASE_ROLLOUT_LABELS "} %uL.%03uL\n",
                    &t->workflow->name, &t->id, &t->digest_short,
                    left / 1000, left % 1000);
    }
}
