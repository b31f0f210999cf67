/*
 * Copyright (C) ngx_ai_release authors
 *
 * Step 3 of the request path: the outcome of each upstream attempt.  One
 * classifier names it (ok, 5xx, 429, connect error, timeout, invalid
 * answer, slow), from what the balancer saw when the attempt failed or, for
 * the last attempt, from what the log phase knows; then the attempt is
 * counted in its bundle's slot and handed to the breaker.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ai_release_module.h"
#include "ngx_http_ai_release_shadow.h"


/* what is known of an attempt when it ends */
typedef struct {
    ngx_uint_t                       status;      /* the upstream's */
    ngx_msec_t                       header_time; /* -1: no header came */
    ngx_uint_t                       invalid;     /* bytes, but no header */
    ngx_uint_t                       timed_out;
    ngx_uint_t                       cut;         /* ended after its header */
} ngx_http_ai_release_attempt_t;


static ngx_uint_t ngx_http_ai_release_classify(
    ngx_http_ai_release_ctx_t *ctx, ngx_http_ai_release_attempt_t *a);
static void ngx_http_ai_release_no_verdict(ngx_http_ai_release_ctx_t *ctx);


/* the one place an attempt's outcome is named */

static ngx_uint_t
ngx_http_ai_release_classify(ngx_http_ai_release_ctx_t *ctx,
    ngx_http_ai_release_attempt_t *a)
{
    ngx_uint_t  cls;

    if (a->header_time == (ngx_msec_t) -1) {
        /* no answer: any status is nginx's own */

        if (a->timed_out) {
            return AI_RELEASE_TIMEOUT;
        }

        return a->invalid ? AI_RELEASE_INVALID : AI_RELEASE_CONNECT;
    }

    cls = ngx_http_ai_release_status_class(a->status);

    if (cls != AI_RELEASE_OK) {
        return cls;
    }

    if (a->cut) {
        /* a good header, then the connection failed: a broken stream */
        return a->timed_out ? AI_RELEASE_TIMEOUT : AI_RELEASE_CONNECT;
    }

    if (ctx->workflow->trip.slow_ms
        && a->header_time >= ctx->workflow->trip.slow_ms)
    {
        return AI_RELEASE_SLOW;
    }

    return AI_RELEASE_OK;
}


/*
 * An attempt the upstream module gave up on (the balancer's free with
 * NGX_PEER_FAILED): counted now, and its class says whether it may fail
 * over.
 */

ngx_uint_t
ngx_http_ai_release_attempt_failed(ngx_http_ai_release_ctx_t *ctx,
    ngx_http_upstream_t *u)
{
    ngx_uint_t                     cls;
    ngx_http_ai_release_attempt_t  a;

    a.status = u->headers_in.status_n;
    a.header_time = a.status ? 0 : (ngx_msec_t) -1;
    a.invalid = (u->buffer.start && u->buffer.last > u->buffer.start);
    a.timed_out = ctx->timed_out;
    a.cut = 1;

    cls = ngx_http_ai_release_classify(ctx, &a);

    ngx_http_ai_release_outcome(ctx, cls, ngx_current_msec - ctx->start);

    return cls;
}


/*
 * The outcome of the request's last upstream attempt, known only now: a
 * streamed answer may have been cut short after its header.
 */

ngx_int_t
ngx_http_ai_release_log_handler(ngx_http_request_t *r)
{
    ngx_uint_t                      cls;
    ngx_msec_t                      latency;
    ngx_http_upstream_t            *u;
    ngx_http_upstream_state_t      *state;
    ngx_http_ai_release_ctx_t      *ctx;
    ngx_http_ai_release_attempt_t   a;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ai_release_module);

    if (ctx == NULL || ctx->target->slot == NULL) {
        return NGX_OK;
    }

    if (ctx->contract) {
        /* the answer's verdict, given now if it was cut short */
        (void) ngx_http_ai_release_contract_final(r, ctx);
    }

    if (ctx->signals) {
        /* the signals of an answer cut short */
        ngx_http_ai_release_signals_end(r, ctx, 0);
    }

    u = r->upstream;

    if ((ctx->balanced && !ctx->verdict_in_log)
        || u == NULL || r->upstream_states == NULL
        || r->upstream_states->nelts == 0
        || r->connection->error || r->headers_out.status == 499)
    {
        /*
         * every attempt was counted already, or none was made (nginx
         * answered by itself), or the client went away: no verdict on the
         * bundle
         */

        ngx_http_ai_release_no_verdict(ctx);

        if (ctx->pair) {
            /* no answer to compare */
            ngx_http_ai_release_shadow_side(r, ctx, AI_RELEASE_CONNECT);
        }

        return NGX_OK;
    }

    state = r->upstream_states->elts;
    state = &state[r->upstream_states->nelts - 1];

    a.status = state->status;
    a.header_time = state->header_time;
    a.invalid = 0;
    a.timed_out = ctx->timed_out
                  || ctx->final_rc == NGX_HTTP_GATEWAY_TIME_OUT
                  || (a.header_time == (ngx_msec_t) -1
                      && a.status == NGX_HTTP_GATEWAY_TIME_OUT);
    a.cut = ctx->final_rc == NGX_HTTP_BAD_GATEWAY
            || ctx->final_rc == NGX_HTTP_GATEWAY_TIME_OUT
            || ctx->final_rc == NGX_ERROR
            || (!ctx->balanced && !r->request_complete);

    cls = ngx_http_ai_release_classify(ctx, &a);

    if (ctx->contract) {
        cls = ngx_http_ai_release_contract_class(ctx, cls);
    }

    latency = state->response_time;

    if (latency == (ngx_msec_t) -1) {
        latency = ngx_current_msec - ctx->start;
    }

    ctx->verdict_in_log = 0;

    ngx_http_ai_release_outcome(ctx, cls, latency);

    if (ctx->pair) {
        /* a mirrored request: what this side's answer said */
        ngx_http_ai_release_shadow_side(r, ctx, cls);
    }

    return NGX_OK;
}


static void
ngx_http_ai_release_no_verdict(ngx_http_ai_release_ctx_t *ctx)
{
    if (ctx->probe) {
        ctx->probe = 0;
        ngx_http_ai_release_release_probe(ctx->target);
    }
}


/*
 * An attempt at the request's current bundle, counted in its slot: the
 * window, the totals, the latency histogram and the run of errors; then
 * the breaker judges.  A probe's verdict is given once, so the request is
 * no probe any more afterwards.
 */

void
ngx_http_ai_release_outcome(ngx_http_ai_release_ctx_t *ctx, ngx_uint_t cls,
    ngx_msec_t latency)
{
    uint64_t                         now, consecutive;
    ngx_uint_t                       counted, probe;
    ngx_http_ai_release_slot_t      *slot;
    ngx_http_ai_release_target_t    *t;

    t = ctx->target;
    slot = t->slot;

    probe = ctx->probe;
    ctx->probe = 0;

    if (ai_release_atomic_load(&slot->serial) != t->serial) {
        /* a reload freed this configuration's slot */
        return;
    }

    now = ngx_current_msec;
    counted = (t->workflow->trip.errors_mask >> cls) & 1;

    ai_release_window_count(&slot->window, (unsigned) cls, (int) counted,
                            now);
    ai_release_atomic_add(&slot->total[cls], 1);
    ai_release_atomic_add(&t->latency[ai_release_latency_bucket(latency)],
                          1);
    ai_release_atomic_add(&slot->latency_sum_ms, latency);

    if (counted) {
        ai_release_atomic_store(&slot->error_ms, now);
        consecutive = ai_release_atomic_add(&slot->consecutive, 1);

    } else {
        consecutive = 0;

        if (ai_release_atomic_load(&slot->consecutive)) {
            ai_release_atomic_store(&slot->consecutive, 0);
        }
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "ai_release: \"%V\" outcome %s latency %M probe %ui",
                   &t->id, ai_release_class_name(cls), latency, probe);

    ngx_http_ai_release_breaker_judge(t, ctx->request->connection->log, cls,
                                      counted, consecutive, probe, now);
}


/*
 * A request refused at the edge before any upstream was tried (a body the
 * bundle cannot be applied to): counted for the chosen bundle as
 * "rejected", in its totals and window, never in the window's total or
 * errors: the bundle was never asked.
 */

void
ngx_http_ai_release_rejected(ngx_http_ai_release_ctx_t *ctx)
{
    ngx_http_ai_release_slot_t    *slot;
    ngx_http_ai_release_target_t  *t;

    t = ctx->target;
    slot = t->slot;

    if (!ngx_http_ai_release_slot_current(t)) {
        return;
    }

    ai_release_window_add(&slot->window, AI_RELEASE_REJECTED,
                          ngx_current_msec);
    ai_release_atomic_add(&slot->total[AI_RELEASE_REJECTED], 1);
}
