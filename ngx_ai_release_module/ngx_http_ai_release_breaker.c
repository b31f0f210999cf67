/*
 * Copyright (C) ngx_ai_release authors
 *
 * The breaker of each slot: closed, open (tripped) and half-open (probed).
 * Requests read the state without a lock and count with atomic operations;
 * the zone's mutex is taken only for a state change, which the worker that
 * makes it logs, once.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ai_release_module.h"


static ngx_uint_t ngx_http_ai_release_admit(ngx_http_ai_release_target_t *t,
    ngx_log_t *log);
static void ngx_http_ai_release_trip(ngx_http_ai_release_target_t *t,
    ngx_log_t *log, ai_release_trip_e why, uint64_t total, uint64_t errors,
    uint64_t *stable);
static void ngx_http_ai_release_probe_done(ngx_http_ai_release_target_t *t,
    ngx_log_t *log, ngx_uint_t cls, ngx_uint_t failed);
static void ngx_http_ai_release_log_change(ngx_http_ai_release_target_t *t,
    ngx_log_t *log, ngx_uint_t from, ngx_uint_t to, u_char *why);
static u_char *ngx_http_ai_release_rate(u_char *p, u_char *last,
    uint64_t errors, uint64_t total);
static ngx_uint_t ngx_http_ai_release_serving(ngx_http_ai_release_target_t *t);


ngx_str_t  ngx_http_ai_release_state_names[] = {
    ngx_string("closed"),
    ngx_string("open"),
    ngx_string("half-open")
};


/*
 * Where a request goes, given the bundle its weight or sticky key chose:
 * that bundle if its breaker lets it through, else the known-good path
 * (stable for a canary, the fallback for stable), else stable anyway.
 * A failover passes the bundle that failed: it is never chosen again, and
 * when no other bundle can take the request the answer is NULL.
 */

ngx_http_ai_release_target_t *
ngx_http_ai_release_route(ngx_http_ai_release_ctx_t *ctx,
    ngx_http_ai_release_target_t *t, ngx_http_ai_release_target_t *failed)
{
    ngx_log_t                       *log;
    ngx_uint_t                       a;
    ngx_http_ai_release_workflow_t  *wf;

    log = ctx->request->connection->log;
    wf = t->workflow;

    a = (t == failed) ? NGX_HTTP_AI_RELEASE_DENY
                      : ngx_http_ai_release_admit(t, log);

    if (a != NGX_HTTP_AI_RELEASE_DENY) {
        goto found;
    }

    if (failed == NULL) {
        ctx->reason = NGX_HTTP_AI_RELEASE_REASON_TRIPPED;
    }

    if ((t->variant == NGX_HTTP_AI_RELEASE_CANARY
         || t->variant == NGX_HTTP_AI_RELEASE_FALLBACK)
        && wf->stable != failed)
    {
        t = wf->stable;
        a = ngx_http_ai_release_admit(t, log);

        if (a != NGX_HTTP_AI_RELEASE_DENY) {
            goto found;
        }
    }

    if (wf->fallback && wf->fallback != failed && wf->fallback != t) {
        a = ngx_http_ai_release_admit(wf->fallback, log);

        if (a != NGX_HTTP_AI_RELEASE_DENY) {
            t = wf->fallback;
            goto found;
        }
    }

    /* no healthy path left: never black-hole a workflow */

    return (wf->stable != failed) ? wf->stable : NULL;

found:

    if (a == NGX_HTTP_AI_RELEASE_PROBE) {
        ctx->probe = 1;
        ctx->reason = NGX_HTTP_AI_RELEASE_REASON_PROBE;
    }

    return t;
}


ngx_http_ai_release_target_t *
ngx_http_ai_release_known_good(ngx_http_ai_release_target_t *t)
{
    ngx_http_ai_release_workflow_t  *wf;

    wf = t->workflow;

    switch (t->variant) {

    case NGX_HTTP_AI_RELEASE_CANARY:
        return wf->stable;

    case NGX_HTTP_AI_RELEASE_STABLE:
        return wf->fallback;

    default:
        return NULL;
    }
}


/* the shadow's breaker is asked by the request it would copy */

ngx_uint_t
ngx_http_ai_release_shadow_admit(ngx_http_ai_release_target_t *t,
    ngx_log_t *log)
{
    return ngx_http_ai_release_admit(t, log);
}


static ngx_uint_t
ngx_http_ai_release_admit(ngx_http_ai_release_target_t *t, ngx_log_t *log)
{
    uint64_t                          state, now;
    ngx_http_ai_release_slot_t       *slot;
    ngx_http_ai_release_main_conf_t  *amcf;

    slot = t->slot;
    state = ai_release_atomic_load(&slot->state);

    if (state == NGX_HTTP_AI_RELEASE_CLOSED) {
        return NGX_HTTP_AI_RELEASE_ADMIT;
    }

    if (state == NGX_HTTP_AI_RELEASE_OPEN) {

        if (t->workflow->trip.recover_manual
            || ai_release_atomic_load(
                   &slot->override[NGX_HTTP_AI_RELEASE_OVR_TRIP]))
        {
            return NGX_HTTP_AI_RELEASE_DENY;
        }

        now = ngx_current_msec;

        if (now - ai_release_atomic_load(&slot->since_ms)
            < ai_release_atomic_load(&slot->cooldown_ms))
        {
            return NGX_HTTP_AI_RELEASE_DENY;
        }

        amcf = t->shm_zone->data;

        ngx_shmtx_lock(&amcf->shpool->mutex);

        if (slot->state == NGX_HTTP_AI_RELEASE_OPEN
            && now - slot->since_ms >= slot->cooldown_ms)
        {
            slot->probes_admitted = 0;
            slot->probes_ok = 0;
            slot->since_ms = now;
            slot->since_sec = ngx_time();
            ai_release_atomic_store(&slot->state,
                                    NGX_HTTP_AI_RELEASE_HALF_OPEN);

            ngx_shmtx_unlock(&amcf->shpool->mutex);

            ngx_http_ai_release_log_change(t, log, NGX_HTTP_AI_RELEASE_OPEN,
                                           NGX_HTTP_AI_RELEASE_HALF_OPEN,
                                           (u_char *) "cooldown over, "
                                           "probing");
        } else {
            ngx_shmtx_unlock(&amcf->shpool->mutex);
        }

        state = ai_release_atomic_load(&slot->state);

        if (state != NGX_HTTP_AI_RELEASE_HALF_OPEN) {
            return state == NGX_HTTP_AI_RELEASE_CLOSED
                   ? NGX_HTTP_AI_RELEASE_ADMIT : NGX_HTTP_AI_RELEASE_DENY;
        }
    }

    /* half-open: exactly "probes" requests across all workers */

    if (ai_release_atomic_add(&slot->probes_admitted, 1)
        <= t->workflow->trip.probes)
    {
        return NGX_HTTP_AI_RELEASE_PROBE;
    }

    /*
     * a probe whose verdict never came (its worker died, say) must not keep
     * the bundle half-open forever: after probe_timeout the round starts
     * again
     */

    now = ngx_current_msec;

    if (now - ai_release_atomic_load(&slot->since_ms)
        < t->workflow->trip.probe_timeout_ms)
    {
        return NGX_HTTP_AI_RELEASE_DENY;
    }

    amcf = t->shm_zone->data;

    ngx_shmtx_lock(&amcf->shpool->mutex);

    if (slot->state != NGX_HTTP_AI_RELEASE_HALF_OPEN
        || now - slot->since_ms < t->workflow->trip.probe_timeout_ms)
    {
        ngx_shmtx_unlock(&amcf->shpool->mutex);
        return NGX_HTTP_AI_RELEASE_DENY;
    }

    slot->probes_admitted = 1;
    slot->probes_ok = 0;
    slot->since_ms = now;

    ngx_shmtx_unlock(&amcf->shpool->mutex);

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "ai_release: workflow \"%V\" bundle \"%V\" (%V) "
                  "half-open: no verdict on its probes within %uLms, "
                  "probing again", &t->workflow->name, &t->id,
                  &t->digest_short, t->workflow->trip.probe_timeout_ms);

    return NGX_HTTP_AI_RELEASE_PROBE;
}


void
ngx_http_ai_release_release_probe(ngx_http_ai_release_target_t *t)
{
    /* a probe that ended without a verdict (the client went away) */

    ai_release_atomic_add(&t->slot->probes_admitted, (uint64_t) -1);
}


/*
 * The breaker's verdict on an attempt the outcome step has counted, past
 * the fast path of ngx_http_ai_release_breaker_judge(): a probe's settles
 * the half-open state; otherwise a closed breaker trips when the
 * workflow's rules say so.
 */

void
ngx_http_ai_release_breaker_check(ngx_http_ai_release_target_t *t,
    ngx_log_t *log, ngx_uint_t cls, ngx_uint_t counted, uint64_t consecutive,
    ngx_uint_t probe, uint64_t now)
{
    uint64_t                         w[AI_RELEASE_NCOUNTERS], sw[2], *stable;
    ai_release_trip_e                why;
    ngx_http_ai_release_slot_t      *slot, *ss;
    ngx_http_ai_release_workflow_t  *wf;

    if (probe) {
        ngx_http_ai_release_probe_done(t, log, cls, counted);
        return;
    }

    slot = t->slot;

    if (ai_release_atomic_load(&slot->state) != NGX_HTTP_AI_RELEASE_CLOSED) {
        return;
    }

    wf = t->workflow;

    if (!counted
        && ai_release_window_get(&slot->window, AI_RELEASE_CNT_ERRORS, now)
           == 0)
    {
        return;
    }

    ai_release_window_sum(&slot->window, now, w);

    stable = NULL;

    if (t->variant == NGX_HTTP_AI_RELEASE_CANARY
        || t->variant == NGX_HTTP_AI_RELEASE_SHADOW)
    {
        /* judged against stable, as a canary is */
        ss = wf->stable->slot;
        sw[0] = ai_release_window_get(&ss->window, AI_RELEASE_CNT_TOTAL, now);
        sw[1] = ai_release_window_get(&ss->window, AI_RELEASE_CNT_ERRORS, now);
        stable = sw;
    }

    why = ai_release_trip_check(&wf->trip, w[AI_RELEASE_CNT_TOTAL],
                                w[AI_RELEASE_CNT_ERRORS], consecutive, stable);

    if (why != AI_RELEASE_TRIP_NONE) {
        ngx_http_ai_release_trip(t, log, why, w[AI_RELEASE_CNT_TOTAL],
                                 w[AI_RELEASE_CNT_ERRORS], stable);
    }
}


static void
ngx_http_ai_release_trip(ngx_http_ai_release_target_t *t, ngx_log_t *log,
    ai_release_trip_e why, uint64_t total, uint64_t errors, uint64_t *stable)
{
    u_char                  *p, *last, buf[320];
    ai_release_margin_t      mb;
    ai_release_trip_conf_t  *conf;

    conf = &t->workflow->trip;

    if (!ngx_http_ai_release_open_breaker(t, why)) {
        return;
    }

    p = buf;
    last = buf + sizeof(buf) - 1;

    switch (why) {

    case AI_RELEASE_TRIP_CONSECUTIVE:
        p = ngx_slprintf(p, last, "%uL errors in a row", conf->consecutive);
        break;

    case AI_RELEASE_TRIP_MARGIN:
        ai_release_margin_bounds(total, errors, stable[0], stable[1], &mb);

        p = ngx_slprintf(p, last, "error rate ");
        p = ngx_http_ai_release_rate(p, last, errors, total);
        p = ngx_slprintf(p, last, " vs stable's ");
        p = ngx_http_ai_release_rate(p, last, stable[1], stable[0]);
        p = ngx_slprintf(p, last,
                         ": the difference's 95%% lower bound %.2f%% "
                         "(canary >= %.2f%%, stable <= %.2f%%) exceeds "
                         "canary_margin %ui.%02ui%%",
                         mb.diff_lower * 100, mb.canary_lower * 100,
                         mb.stable_upper * 100,
                         conf->canary_margin / 100,
                         conf->canary_margin % 100);
        break;

    default: /* AI_RELEASE_TRIP_RATE */
        p = ngx_slprintf(p, last, "error rate ");
        p = ngx_http_ai_release_rate(p, last, errors, total);
        p = ngx_slprintf(p, last, " >= %ui.%02ui%% in %uLms window",
                         conf->error_rate / 100, conf->error_rate % 100,
                         conf->window_ms);
        break;
    }

    *p = '\0';

    ngx_http_ai_release_breaker_opened(t, log, buf);
}


/*
 * Opens a closed breaker for reason (NGX_HTTP_AI_RELEASE_TRIP_*): 0 when
 * it was not closed (another worker tripped it first).  The caller says
 * why with ngx_http_ai_release_breaker_opened().
 */

ngx_uint_t
ngx_http_ai_release_open_breaker(ngx_http_ai_release_target_t *t,
    ngx_uint_t reason)
{
    uint64_t                          now;
    ngx_http_ai_release_slot_t       *slot;
    ai_release_trip_conf_t           *conf;
    ngx_http_ai_release_main_conf_t  *amcf;

    slot = t->slot;
    conf = &t->workflow->trip;
    amcf = t->shm_zone->data;
    now = ngx_current_msec;

    ngx_shmtx_lock(&amcf->shpool->mutex);

    if (slot->state != NGX_HTTP_AI_RELEASE_CLOSED) {
        ngx_shmtx_unlock(&amcf->shpool->mutex);
        return 0;
    }

    /* repeated trips grow the cooldown; a long healthy period resets it */

    if (slot->cooldown_ms == 0 || slot->trips == 0
        || now - slot->closed_ms >= conf->max_cooldown_ms)
    {
        slot->cooldown_ms = conf->cooldown_ms;

    } else {
        slot->cooldown_ms = ai_release_next_cooldown(conf, slot->cooldown_ms);
    }

    slot->trips++;
    slot->last_reason = reason;
    slot->since_ms = now;
    slot->since_sec = ngx_time();
    ai_release_atomic_store(&slot->state, NGX_HTTP_AI_RELEASE_OPEN);

    ngx_shmtx_unlock(&amcf->shpool->mutex);

    return 1;
}


/* the error log line of a trip: why, and the cooldown */

void
ngx_http_ai_release_breaker_opened(ngx_http_ai_release_target_t *t,
    ngx_log_t *log, u_char *why)
{
    u_char  *p, buf[512];

    p = ngx_slprintf(buf, buf + sizeof(buf) - 1, "%s, cooldown %uLms", why,
                     t->slot->cooldown_ms);
    *p = '\0';

    ngx_http_ai_release_log_change(t, log, NGX_HTTP_AI_RELEASE_CLOSED,
                                   NGX_HTTP_AI_RELEASE_OPEN, buf);
}


static void
ngx_http_ai_release_probe_done(ngx_http_ai_release_target_t *t,
    ngx_log_t *log, ngx_uint_t cls, ngx_uint_t failed)
{
    u_char                           *p, buf[128];
    uint64_t                          ok;
    ngx_http_ai_release_slot_t       *slot;
    ai_release_trip_conf_t           *conf;
    ngx_http_ai_release_main_conf_t  *amcf;

    slot = t->slot;
    conf = &t->workflow->trip;
    amcf = t->shm_zone->data;

    if (!failed) {
        ok = ai_release_atomic_add(&slot->probes_ok, 1);

        if (ok != conf->probes) {
            return;
        }
    }

    ngx_shmtx_lock(&amcf->shpool->mutex);

    if (slot->state != NGX_HTTP_AI_RELEASE_HALF_OPEN) {
        ngx_shmtx_unlock(&amcf->shpool->mutex);
        return;
    }

    slot->since_ms = ngx_current_msec;
    slot->since_sec = ngx_time();

    if (failed) {
        slot->cooldown_ms = ai_release_next_cooldown(conf, slot->cooldown_ms);
        slot->trips++;
        slot->last_reason = NGX_HTTP_AI_RELEASE_TRIP_PROBE;
        ai_release_atomic_store(&slot->state, NGX_HTTP_AI_RELEASE_OPEN);

        ngx_shmtx_unlock(&amcf->shpool->mutex);

        p = ngx_snprintf(buf, sizeof(buf) - 1,
                         "a probe failed (%s), cooldown %uLms",
                         ai_release_class_name(cls), slot->cooldown_ms);
        *p = '\0';

        ngx_http_ai_release_log_change(t, log, NGX_HTTP_AI_RELEASE_HALF_OPEN,
                                       NGX_HTTP_AI_RELEASE_OPEN, buf);
        return;
    }

    /* every probe succeeded: fresh counters, new evidence */

    ai_release_window_reset(&slot->window);
    ai_release_atomic_store(&slot->consecutive, 0);
    slot->closed_ms = slot->since_ms;
    ai_release_atomic_store(&slot->state, NGX_HTTP_AI_RELEASE_CLOSED);

    ngx_shmtx_unlock(&amcf->shpool->mutex);

    p = ngx_snprintf(buf, sizeof(buf) - 1, "%uL probes succeeded",
                     conf->probes);
    *p = '\0';

    ngx_http_ai_release_log_change(t, log, NGX_HTTP_AI_RELEASE_HALF_OPEN,
                                   NGX_HTTP_AI_RELEASE_CLOSED, buf);
}


static u_char *
ngx_http_ai_release_rate(u_char *p, u_char *last, uint64_t errors,
    uint64_t total)
{
    uint64_t  bp;

    bp = total ? errors * 10000 / total : 0;

    return ngx_slprintf(p, last, "%uL.%02uL%% (%uL/%uL)", bp / 100, bp % 100,
                        errors, total);
}


/* the target that a request chosen for t is served by now */

static ngx_uint_t
ngx_http_ai_release_serving(ngx_http_ai_release_target_t *t)
{
    return ai_release_atomic_load(&t->slot->state)
           != NGX_HTTP_AI_RELEASE_OPEN;
}


static void
ngx_http_ai_release_log_change(ngx_http_ai_release_target_t *t,
    ngx_log_t *log, ngx_uint_t from, ngx_uint_t to, u_char *why)
{
    ngx_str_t                        where;
    ngx_http_ai_release_target_t    *dest;
    ngx_http_ai_release_workflow_t  *wf;

    wf = t->workflow;
    dest = t;

    /* a decision the state file keeps */

    t->slot->restored &= ~(uint64_t) NGX_HTTP_AI_RELEASE_RESTORED_BREAKER;
    ngx_http_ai_release_state_changed(t->shm_zone->data, log, 0);

    if (t->variant == NGX_HTTP_AI_RELEASE_SHADOW) {
        /* users never had its answers: only the copies stop or go on */
        if (to == NGX_HTTP_AI_RELEASE_OPEN) {
            ngx_str_set(&where, "mirroring to the shadow pauses");

        } else if (to == NGX_HTTP_AI_RELEASE_HALF_OPEN) {
            ngx_str_set(&where, "mirrored requests probe the shadow");

        } else {
            ngx_str_set(&where, "mirroring to the shadow goes on");
        }

        dest = t;

    } else if (to == NGX_HTTP_AI_RELEASE_OPEN) {
        dest = NULL;

        if (t->variant != NGX_HTTP_AI_RELEASE_STABLE
            && ngx_http_ai_release_serving(wf->stable))
        {
            dest = wf->stable;

        } else if (wf->fallback && wf->fallback != t
                   && ngx_http_ai_release_serving(wf->fallback))
        {
            dest = wf->fallback;
        }
    }

    if (dest == t) {
        if (t->variant != NGX_HTTP_AI_RELEASE_SHADOW) {
            ngx_str_set(&where, "traffic returns to it");
        }

        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "ai_release: workflow \"%V\" bundle \"%V\" (%V) "
                      "%V -> %V: %s; %V", &wf->name, &t->id,
                      &t->digest_short, &ngx_http_ai_release_state_names[from],
                      &ngx_http_ai_release_state_names[to], why, &where);
        return;
    }

    if (dest) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "ai_release: workflow \"%V\" bundle \"%V\" (%V) "
                      "%V -> %V: %s; traffic goes to %V \"%V\"", &wf->name,
                      &t->id, &t->digest_short,
                      &ngx_http_ai_release_state_names[from],
                      &ngx_http_ai_release_state_names[to], why,
                      &ngx_http_ai_release_variant_names[dest->variant],
                      &dest->id);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "ai_release: workflow \"%V\" bundle \"%V\" (%V) %V -> %V: "
                  "%s; no healthy path left, traffic goes to stable \"%V\" "
                  "anyway", &wf->name, &t->id, &t->digest_short,
                  &ngx_http_ai_release_state_names[from],
                  &ngx_http_ai_release_state_names[to], why,
                  &wf->stable->id);
}


void
ngx_http_ai_release_manual_trip(ngx_http_ai_release_target_t *t,
    ngx_log_t *log, u_char *by)
{
    u_char                           *p, buf[128];
    uint64_t                          from;
    ngx_http_ai_release_slot_t       *slot;
    ngx_http_ai_release_main_conf_t  *amcf;

    slot = t->slot;
    amcf = t->shm_zone->data;

    ngx_shmtx_lock(&amcf->shpool->mutex);

    from = slot->state;

    slot->override[NGX_HTTP_AI_RELEASE_OVR_TRIP] = 1;
    slot->override_at[NGX_HTTP_AI_RELEASE_OVR_TRIP] = ngx_time();
    ngx_cpystrn(slot->override_by[NGX_HTTP_AI_RELEASE_OVR_TRIP], by,
                NGX_HTTP_AI_RELEASE_BY_LEN);

    slot->trips++;
    slot->last_reason = NGX_HTTP_AI_RELEASE_TRIP_MANUAL;
    slot->since_ms = ngx_current_msec;
    slot->since_sec = ngx_time();
    ai_release_atomic_store(&slot->state, NGX_HTTP_AI_RELEASE_OPEN);

    ngx_shmtx_unlock(&amcf->shpool->mutex);

    p = ngx_snprintf(buf, sizeof(buf) - 1, "tripped by %s through the API",
                     by);
    *p = '\0';

    ngx_http_ai_release_log_change(t, log, (ngx_uint_t) from,
                                   NGX_HTTP_AI_RELEASE_OPEN, buf);
}


void
ngx_http_ai_release_manual_reset(ngx_http_ai_release_target_t *t,
    ngx_log_t *log)
{
    uint64_t                          from;
    ngx_http_ai_release_slot_t       *slot;
    ngx_http_ai_release_main_conf_t  *amcf;

    slot = t->slot;
    amcf = t->shm_zone->data;

    ngx_shmtx_lock(&amcf->shpool->mutex);

    from = slot->state;

    slot->override[NGX_HTTP_AI_RELEASE_OVR_TRIP] = 0;
    ai_release_window_reset(&slot->window);
    ai_release_atomic_store(&slot->consecutive, 0);
    slot->cooldown_ms = 0;
    slot->since_ms = ngx_current_msec;
    slot->since_sec = ngx_time();
    slot->closed_ms = slot->since_ms;
    ai_release_atomic_store(&slot->state, NGX_HTTP_AI_RELEASE_CLOSED);

    ngx_shmtx_unlock(&amcf->shpool->mutex);

    if (from != NGX_HTTP_AI_RELEASE_CLOSED) {
        ngx_http_ai_release_log_change(t, log, (ngx_uint_t) from,
                                       NGX_HTTP_AI_RELEASE_CLOSED,
                                       (u_char *) "reset through the API");
    }
}
