/*
 * Copyright (C) ngx_ai_release authors
 *
 * Step 5c of the request path: the behaviour signals of every answer on a
 * workflow that names its format (ai_release_signals.c reads them: tokens,
 * lengths, how the answer ended, tool calls, refusals, the time to the
 * first token of a stream), counted per bundle over the workflow's window
 * in a chunk of shared memory beside the bundle's slot; and the drift
 * rule, which compares each canary's signals with stable's
 * (ai_release_drift.c) and trips the canary, or reports, when they differ
 * by more than its margins.
 *
 * The answer filters of contract.c read the answer once and hand every
 * byte to both the contract checker and this extractor; this file only
 * starts it (ngx_http_ai_release_signals_start(), from the header filter),
 * and counts and judges the answer at its end (..._signals_end(), at the
 * last byte, or from the log handler for an answer cut short).  Nothing
 * of the answer is kept: the extractor's state is fixed (3 KB a request).
 *
 * Only answers of the upstream with a 2xx status count: an error page
 * says nothing about the model's behaviour, and the error budget counts
 * it already.  An answer the client left before its end is not counted.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <math.h>

#include "ngx_http_ai_release_module.h"
#include "ngx_http_ai_release_display.h"


/* drift is judged at most this often per canary, by the first worker */
#define NGX_HTTP_AI_RELEASE_DRIFT_EVERY  1000


struct ngx_http_ai_release_signals_s {
    ai_release_signals_t             s;
    ngx_http_ai_release_target_t    *target;
    ngx_msec_t                       first_token;  /* -1: none yet */
    const ai_release_signals_result_t  *res;       /* once counted */
    unsigned                         stream:1;
    unsigned                         done:1;
};


static void ngx_http_ai_release_signals_count(ngx_http_ai_release_target_t *t,
    const ai_release_signals_result_t *res, uint64_t first_token_ms,
    uint64_t rate_milli, ngx_log_t *log);
static ai_release_drift_agg_t *ngx_http_ai_release_signals_agg(
    ngx_http_ai_release_target_t *t, uint64_t epoch);
static void ngx_http_ai_release_drift_judge(ngx_http_ai_release_target_t *t,
    ngx_log_t *log);
static u_char *ngx_http_ai_release_drift_detail(u_char *p, u_char *last,
    ai_release_drift_conf_t *conf, unsigned signal,
    ai_release_drift_signal_t *ds);
static const ai_release_pricing_t *ngx_http_ai_release_pricing(
    ngx_http_ai_release_target_t *t);
static json_t *ngx_http_ai_release_stat_json(double mean, double p50,
    double p95);


/* drift SIGNAL=MARGIN ... [min_answers=N] [mode=trip|observe]; */

char *
ngx_http_ai_release_set_drift(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ai_release_workflow_t  *wf = conf;

    char                      err[256];
    ngx_str_t                *value;
    ngx_uint_t                i, margins;
    ai_release_drift_conf_t  *dc;

    if (wf->drift) {
        return "is duplicate";
    }

    dc = ngx_pcalloc(cf->pool, sizeof(ai_release_drift_conf_t));
    if (dc == NULL) {
        return NGX_CONF_ERROR;
    }

    ai_release_drift_defaults(dc);

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (ai_release_drift_parse(dc, (char *) value[i].data, value[i].len,
                                   err, sizeof(err))
            != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"%V\" in \"drift\" of workflow "
                               "\"%V\": %s", &value[i], &wf->name, err);
            return NGX_CONF_ERROR;
        }
    }

    margins = 0;

    for (i = AI_RELEASE_DRIFT_NONE + 1; i < AI_RELEASE_DRIFT_N; i++) {
        margins += (dc->margin[i] != 0);
    }

    if (margins == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"drift\" of workflow \"%V\" names no signal: "
                           "give at least one, e.g. output_tokens=1.5x",
                           &wf->name);
        return NGX_CONF_ERROR;
    }

    wf->drift = dc;
    wf->drift_file = cf->conf_file->file.name.data;
    wf->drift_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/* signals: on by default where the workflow names its format */

ngx_int_t
ngx_http_ai_release_signals_init_workflow(ngx_conf_t *cf,
    ngx_http_ai_release_workflow_t *wf)
{
    if (wf->signals == NGX_CONF_UNSET) {
        wf->signals = (wf->format != AI_RELEASE_FORMAT_NONE);

    } else if (wf->signals && wf->format == AI_RELEASE_FORMAT_NONE) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"signals on\" in workflow \"%V\" needs its wire "
                      "format: add \"format openai-chat;\" (or "
                      "openai-responses, anthropic-messages) in %s:%ui",
                      &wf->name, wf->file_name, wf->line);
        return NGX_ERROR;
    }

    if (wf->drift == NULL) {
        return NGX_OK;
    }

    if (!wf->signals) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"drift\" in workflow \"%V\" compares behaviour "
                      "signals, which %s in %s:%ui",
                      &wf->name,
                      wf->format == AI_RELEASE_FORMAT_NONE
                      ? "need the workflow's \"format\""
                      : "\"signals off\" turns off",
                      wf->drift_file, wf->drift_line);
        return NGX_ERROR;
    }

    if (wf->canaries.nelts == 0) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"drift\" in workflow \"%V\" has no canary to "
                      "judge in %s:%ui", &wf->name, wf->drift_file,
                      wf->drift_line);
    }

    return NGX_OK;
}


/*
 * The slot's signals chunk, allocated once the slot's workflow reads
 * signals (also for a slot that a configuration without them made), with
 * the zone's mutex held.
 */

ngx_int_t
ngx_http_ai_release_signals_bind(ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_slot_t *slot)
{
    ngx_http_ai_release_signals_shm_t  *sig;

    if (slot->signals) {
        return NGX_OK;
    }

    sig = ngx_slab_alloc_locked(amcf->shpool,
                                sizeof(ngx_http_ai_release_signals_shm_t));
    if (sig == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sig, sizeof(ngx_http_ai_release_signals_shm_t));

    /* no window has number UINT64_MAX: both aggregates start stale */
    sig->epoch[0] = (uint64_t) -1;
    sig->epoch[1] = (uint64_t) -1;

    slot->signals = sig;

    return NGX_OK;
}


/* from the header filter: the answer of the request's bundle begins */

ngx_int_t
ngx_http_ai_release_signals_start(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx)
{
    ngx_str_t                       *ct;
    ngx_http_ai_release_target_t    *t;
    ngx_http_ai_release_signals_t   *sc;

    t = ctx->target;

    if (r->headers_out.status < 200 || r->headers_out.status > 299) {
        ctx->signals = NULL;
        return NGX_OK;
    }

    sc = ctx->signals;

    if (sc == NULL) {
        sc = ngx_palloc(r->pool, sizeof(ngx_http_ai_release_signals_t));
        if (sc == NULL) {
            return NGX_ERROR;
        }

        ctx->signals = sc;
    }

    ct = &r->headers_out.content_type;

    sc->target = t;
    sc->first_token = (ngx_msec_t) -1;
    sc->done = 0;
    sc->res = NULL;
    sc->stream = (ct->len >= sizeof("text/event-stream") - 1
                  && ngx_strncasecmp(ct->data, (u_char *) "text/event-stream",
                                     sizeof("text/event-stream") - 1)
                     == 0);

    ai_release_signals_init(&sc->s, (int) ctx->workflow->format, sc->stream);

    return NGX_OK;
}


ngx_uint_t
ngx_http_ai_release_signals_active(ngx_http_ai_release_signals_t *sc)
{
    return sc != NULL && !sc->done;
}


void
ngx_http_ai_release_signals_feed(ngx_http_ai_release_signals_t *sc,
    u_char *p, size_t len)
{
    ai_release_signals_feed(&sc->s, p, len);

    if (sc->first_token == (ngx_msec_t) -1
        && sc->s.r.first_text_offset >= 0)
    {
        /* the chunk holding the first text passes now */
        sc->first_token = ngx_current_msec;
    }
}


/*
 * The answer's end: complete at its last byte, or cut short (the log
 * handler asks).  Counted once, in the bundle's slot, and drift judged.
 */

void
ngx_http_ai_release_signals_end(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx, ngx_uint_t complete)
{
    uint64_t                            ft, rate, ms;
    ngx_msec_t                          now;
    ngx_http_ai_release_signals_t      *sc;
    const ai_release_signals_result_t  *res;

    sc = ctx->signals;

    if (sc == NULL || sc->done) {
        return;
    }

    sc->done = 1;

    if (!complete
        && (r->connection->error
            || r->headers_out.status == NGX_HTTP_CLIENT_CLOSED_REQUEST))
    {
        /* the client left: what passed says nothing of the model */
        return;
    }

    res = ai_release_signals_finish(&sc->s, (int) complete);
    sc->res = res;

    now = ngx_current_msec;
    ft = UINT64_MAX;
    rate = 0;

    if (sc->stream && sc->first_token != (ngx_msec_t) -1) {
        ft = sc->first_token - ctx->start;
        ms = now - sc->first_token;

        if (res->has_output && ms > 0 && complete) {
            rate = res->output_tokens * 1000000 / ms;
        }
    }

    ngx_http_ai_release_signals_count(sc->target, res, ft, rate,
                                      r->connection->log);
}


/* what the answer said, once counted, or NULL (a shadow pair reads it) */

const ai_release_signals_result_t *
ngx_http_ai_release_signals_result(ngx_http_ai_release_signals_t *sc)
{
    return sc->res;
}


static void
ngx_http_ai_release_signals_count(ngx_http_ai_release_target_t *t,
    const ai_release_signals_result_t *res, uint64_t first_token_ms,
    uint64_t rate_milli, ngx_log_t *log)
{
    ai_release_drift_agg_t  *agg;

    if (t->signals == NULL || !ngx_http_ai_release_slot_current(t)) {
        return;
    }

    agg = ngx_http_ai_release_signals_agg(t,
                                          ngx_current_msec
                                          / t->workflow->trip.window_ms);

    ai_release_drift_add(agg, res, first_token_ms);

    if (rate_milli) {
        ai_release_atomic_add(&agg->rate_answers, 1);
        ai_release_atomic_add(&agg->rate_milli, rate_milli);
    }

    if (t->variant == NGX_HTTP_AI_RELEASE_CANARY && t->workflow->drift) {
        ngx_http_ai_release_drift_judge(t, log);
    }
}


/*
 * The aggregate that counts window number epoch; the first answer of a
 * new window clears the older aggregate, under the zone's mutex (once a
 * window: an answer counted by another worker at that instant may be
 * lost with it).
 */

static ai_release_drift_agg_t *
ngx_http_ai_release_signals_agg(ngx_http_ai_release_target_t *t,
    uint64_t epoch)
{
    ngx_uint_t                          i;
    ngx_http_ai_release_main_conf_t    *amcf;
    ngx_http_ai_release_signals_shm_t  *sig;

    sig = t->signals;
    i = epoch & 1;

    if (ai_release_atomic_load(&sig->epoch[i]) == epoch) {
        return &sig->agg[i];
    }

    amcf = t->shm_zone->data;

    ngx_shmtx_lock(&amcf->shpool->mutex);

    if (sig->epoch[i] != epoch) {
        ngx_memzero(&sig->agg[i], sizeof(ai_release_drift_agg_t));
        ai_release_atomic_store(&sig->epoch[i], epoch);
    }

    ngx_shmtx_unlock(&amcf->shpool->mutex);

    return &sig->agg[i];
}


/*
 * The bundle's signals over its window: the window under way and the one
 * before it (from one to two window lengths).  NGX_DECLINED: the bundle
 * reads none.
 */

ngx_int_t
ngx_http_ai_release_signals_window(ngx_http_ai_release_target_t *t,
    ai_release_drift_agg_t *agg)
{
    uint64_t                            now, e;
    ngx_uint_t                          i;
    ngx_http_ai_release_signals_shm_t  *sig;

    ngx_memzero(agg, sizeof(ai_release_drift_agg_t));

    if (t->signals == NULL || !ngx_http_ai_release_slot_current(t)) {
        return NGX_DECLINED;
    }

    sig = t->signals;
    now = ngx_current_msec / t->workflow->trip.window_ms;

    for (i = 0; i < 2; i++) {
        e = ai_release_atomic_load(&sig->epoch[i]);

        if (e == now || (now > 0 && e == now - 1)) {
            ai_release_drift_merge(agg, &sig->agg[i]);
        }
    }

    return NGX_OK;
}


static const ai_release_pricing_t *
ngx_http_ai_release_pricing(ngx_http_ai_release_target_t *t)
{
    return t->bundle->pricing.set ? &t->bundle->pricing : NULL;
}


/*
 * A canary's signals against stable's, at most once a second per canary
 * (the first worker to claim the second judges): a breach under
 * mode=trip opens its breaker with reason drift:SIGNAL, under
 * mode=observe it is reported; either way the error log says it once per
 * change, never per request.
 */

static void
ngx_http_ai_release_drift_judge(ngx_http_ai_release_target_t *t,
    ngx_log_t *log)
{
    u_char                             *p, *end, buf[400], why[440];
    uint64_t                            now, judged, prev, n, last, step;
    ngx_uint_t                          signal;
    ai_release_drift_conf_t            *conf;
    ai_release_drift_signal_t           ds;
    ngx_http_ai_release_target_t       *stable;
    ngx_http_ai_release_workflow_t     *wf;
    ngx_http_ai_release_main_conf_t    *amcf;
    ngx_http_ai_release_signals_shm_t  *sig;
    ai_release_drift_agg_t              canary, base;

    wf = t->workflow;
    conf = wf->drift;
    stable = wf->stable;
    sig = t->signals;
    now = ngx_current_msec;

    /*
     * at most once a second, and at least every tenth of min_answers
     * canary answers, so that a drifted canary trips soon after it has
     * min_answers, at any rate of traffic
     */

    judged = ai_release_atomic_load(&sig->judged_ms);
    n = ai_release_atomic_load(&sig->agg[0].answers)
        + ai_release_atomic_load(&sig->agg[1].answers);
    step = ngx_max(conf->min_answers / 10, 1);
    last = ai_release_atomic_load(&sig->judged_n);

    if (judged != 0 && now - judged < NGX_HTTP_AI_RELEASE_DRIFT_EVERY
        && n >= last && n - last < step)
    {
        return;
    }

    if (!__atomic_compare_exchange_n(&sig->judged_ms, &judged, now ? now : 1,
                                     0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
    {
        return;
    }

    ai_release_atomic_store(&sig->judged_n, n);

    if (conf->mode == AI_RELEASE_DRIFT_TRIP
        && ai_release_atomic_load(&t->slot->state)
           != NGX_HTTP_AI_RELEASE_CLOSED)
    {
        return;
    }

    if (ngx_http_ai_release_signals_window(t, &canary) != NGX_OK
        || ngx_http_ai_release_signals_window(stable, &base) != NGX_OK)
    {
        return;
    }

    signal = ai_release_drift_check(conf, &canary,
                                    ngx_http_ai_release_pricing(t), &base,
                                    ngx_http_ai_release_pricing(stable));

    prev = ai_release_atomic_load(&sig->breached);

    if (signal == AI_RELEASE_DRIFT_NONE && prev != AI_RELEASE_DRIFT_NONE) {
        ai_release_drift_signal(conf, (unsigned) prev, &canary,
                                ngx_http_ai_release_pricing(t), &base,
                                ngx_http_ai_release_pricing(stable), &ds);

        if (!ds.judged) {
            /* too few answers to say either way: the breach stands */
            return;
        }
    }

    ai_release_atomic_store(&sig->breached, (uint64_t) signal);

    p = buf;
    end = buf + sizeof(buf) - 1;

    if (signal != AI_RELEASE_DRIFT_NONE) {
        ai_release_drift_signal(conf, signal, &canary,
                                ngx_http_ai_release_pricing(t), &base,
                                ngx_http_ai_release_pricing(stable), &ds);
        p = ngx_http_ai_release_drift_detail(p, end, conf, signal, &ds);
    }

    *p = '\0';

    if (conf->mode == AI_RELEASE_DRIFT_OBSERVE) {

        if (prev == signal) {
            return;
        }

        if (signal != AI_RELEASE_DRIFT_NONE) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "ai_release: workflow \"%V\" canary \"%V\": drift "
                          "observed: %s (mode=observe: the canary keeps "
                          "its traffic)", &wf->name, &t->id, buf);

        } else {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "ai_release: workflow \"%V\" canary \"%V\": drift "
                          "cleared: %s is within its margin again",
                          &wf->name, &t->id,
                          ai_release_drift_name((unsigned) prev));
        }

        return;
    }

    if (signal == AI_RELEASE_DRIFT_NONE) {
        return;
    }

    amcf = t->shm_zone->data;

    ngx_shmtx_lock(&amcf->shpool->mutex);

    if (t->slot->state == NGX_HTTP_AI_RELEASE_CLOSED) {
        sig->tripped = signal;
        sig->trip_canary = ds.canary;
        sig->trip_stable = ds.stable;
        sig->trip_change = ds.change;
    }

    ngx_shmtx_unlock(&amcf->shpool->mutex);

    if (!ngx_http_ai_release_open_breaker(t, NGX_HTTP_AI_RELEASE_TRIP_DRIFT)) {
        return;
    }

    /*
     * the answers that drifted are not judged again: after its cooldown
     * and probes the canary needs min_answers new ones
     */

    ngx_shmtx_lock(&amcf->shpool->mutex);

    sig->epoch[0] = (uint64_t) -1;
    sig->epoch[1] = (uint64_t) -1;
    sig->breached = AI_RELEASE_DRIFT_NONE;

    ngx_shmtx_unlock(&amcf->shpool->mutex);

    p = ngx_slprintf(why, why + sizeof(why) - 1, "drift:%s: %s",
                     ai_release_drift_name(signal), buf);
    *p = '\0';

    ngx_http_ai_release_breaker_opened(t, log, why);
}


/* "output_tokens mean 600.0 vs stable's 300.0: 2.00x > 1.50x (...)" */

static u_char *
ngx_http_ai_release_drift_detail(u_char *p, u_char *last,
    ai_release_drift_conf_t *conf, unsigned signal,
    ai_release_drift_signal_t *ds)
{
    int32_t  m;

    m = conf->margin[signal];

    p = ngx_slprintf(p, last, "%s ", ai_release_drift_name(signal));

    if (AI_RELEASE_DRIFT_POINTS(signal)) {
        return ngx_slprintf(p, last,
                            "%.2f%% vs stable's %.2f%%: %s%.2f pt, margin "
                            "%s%d.%02d pt (%uL and %uL answers)",
                            ds->canary * 100, ds->stable * 100,
                            ds->change < 0 ? "-" : "+",
                            ds->change < 0 ? -ds->change : ds->change,
                            m < 0 ? "-" : "+", (m < 0 ? -m : m) / 100,
                            (m < 0 ? -m : m) % 100, ds->canary_n,
                            ds->stable_n);
    }

    return ngx_slprintf(p, last,
                        "%s %.2f vs stable's %.2f: %.2fx, margin %d.%02dx "
                        "(%uL and %uL answers)",
                        signal == AI_RELEASE_DRIFT_FIRST_TOKEN
                        ? "p50 ms" : "mean",
                        ds->canary, ds->stable, ds->change, m / 100, m % 100,
                        ds->canary_n, ds->stable_n);
}


/* the status JSON of a bundle's signals, and of a canary against stable */

json_t *
ngx_http_ai_release_signals_json(ngx_http_ai_release_target_t *t)
{
    u_char                              why[64];
    double                              n, u, cost;
    uint64_t                            wide[AI_RELEASE_HIST_BUCKETS], micro;
    ngx_uint_t                          i, signal;
    json_t                             *o, *x, *vs, *d;
    ai_release_drift_conf_t            *conf;
    ai_release_drift_signal_t           ds[AI_RELEASE_DRIFT_N];
    ngx_http_ai_release_main_conf_t    *amcf;
    ngx_http_ai_release_signals_shm_t  *sig;
    ai_release_drift_agg_t              a;

    if (ngx_http_ai_release_signals_window(t, &a) != NGX_OK) {
        return NULL;
    }

    sig = t->signals;
    amcf = t->shm_zone->data;
    o = json_object();

    n = (double) a.answers;
    u = (double) a.usage;

    json_object_set_new(o, "window_ms",
                        json_integer(t->workflow->trip.window_ms));
    json_object_set_new(o, "answers", json_integer(a.answers));
    json_object_set_new(o, "with_usage", json_integer(a.usage));

    for (i = 0; i < AI_RELEASE_HIST_BUCKETS; i++) {
        wide[i] = a.output_hist[i];
    }

    json_object_set_new(o, "output_tokens", ngx_http_ai_release_stat_json(
                            u ? a.output_tokens / u : 0,
                            ai_release_hist_quantile(wide, 0.50),
                            ai_release_hist_quantile(wide, 0.95)));
    json_object_set_new(o, "input_tokens", ngx_http_ai_release_stat_json(
                            u ? a.input_tokens / u : 0, -1, -1));
    json_object_set_new(o, "answer_bytes", ngx_http_ai_release_stat_json(
                            n ? a.answer_bytes / n : 0, -1, -1));
    json_object_set_new(o, "text_bytes", ngx_http_ai_release_stat_json(
                            n ? a.text_bytes / n : 0, -1, -1));

    x = ngx_http_ai_release_stat_json(n ? a.tool_calls / n : 0, -1, -1);
    json_object_set_new(x, "total", json_integer(a.tool_calls));
    json_object_set_new(o, "tool_calls", x);

    x = json_object();
    json_object_set_new(x, "count", json_integer(a.refusals));
    json_object_set_new(x, "share", json_real(n ? a.refusals / n : 0));
    json_object_set_new(o, "refusals", x);

    x = json_object();

    for (i = 0; i < AI_RELEASE_END_N; i++) {
        json_object_set_new(x, ai_release_ending_name(i),
                            json_integer(a.endings[i]));
    }

    json_object_set_new(o, "endings", x);

    for (i = 0; i < AI_RELEASE_HIST_BUCKETS; i++) {
        wide[i] = a.first_token_hist[i];
    }

    x = ngx_http_ai_release_stat_json(-1,
                                      ai_release_hist_quantile(wide, 0.50),
                                      ai_release_hist_quantile(wide, 0.95));
    micro = 0;

    for (i = 0; i < AI_RELEASE_HIST_BUCKETS; i++) {
        micro += wide[i];
    }

    json_object_set_new(x, "count", json_integer(micro));
    json_object_set_new(o, "first_token_ms", x);

    x = ngx_http_ai_release_stat_json(
            a.rate_answers ? a.rate_milli / 1000.0 / a.rate_answers : 0,
            -1, -1);
    json_object_set_new(x, "count", json_integer(a.rate_answers));
    json_object_set_new(o, "tokens_per_second", x);

    if (t->bundle->pricing.set) {
        micro = ai_release_cost_microunits(&t->bundle->pricing,
                                           a.input_tokens, a.output_tokens);
        cost = (micro == UINT64_MAX) ? -1 : micro / 1000000.0;

        x = json_object();
        json_object_set_new(x, "currency",
                            json_stringn((char *) amcf->currency.data,
                                         amcf->currency.len));
        json_object_set_new(x, "total", json_real(cost));
        json_object_set_new(x, "per_answer", json_real(u ? cost / u : 0));
        json_object_set_new(x, "per_1000_answers",
                            json_real(u ? cost * 1000 / u : 0));
        json_object_set_new(o, "cost", x);
    }

    /* the canary beside stable: every signal, judged where a rule says */

    if (ngx_http_ai_release_signals_compare(t, ds) != NGX_OK) {
        return o;
    }

    conf = t->workflow->drift;
    vs = json_object();

    for (signal = AI_RELEASE_DRIFT_NONE + 1; signal < AI_RELEASE_DRIFT_N;
         signal++)
    {
        if (!ngx_http_ai_release_signals_applies(t, signal)) {
            continue;
        }

        x = json_object();
        json_object_set_new(x, "canary", json_real(ds[signal].canary));
        json_object_set_new(x, "stable", json_real(ds[signal].stable));
        json_object_set_new(x, AI_RELEASE_DRIFT_POINTS(signal)
                               ? "points" : "ratio",
                            ngx_http_ai_release_signals_change_given(
                                signal, &ds[signal])
                            ? json_real(ds[signal].change) : json_null());

        if (conf && conf->margin[signal]) {
            json_object_set_new(x, "margin",
                                json_real((double) conf->margin[signal]
                                          / AI_RELEASE_DRIFT_SCALE));
            json_object_set_new(x, "judged",
                                json_boolean(ds[signal].judged));
            json_object_set_new(x, "breached",
                                json_boolean(ds[signal].breached));
        }

        json_object_set_new(vs, ai_release_drift_name(signal), x);
    }

    json_object_set_new(o, "vs_stable", vs);

    if (t->workflow->drift == NULL) {
        return o;
    }

    d = json_object();
    json_object_set_new(d, "mode", json_string(
                            conf->mode == AI_RELEASE_DRIFT_TRIP
                            ? "trip" : "observe"));
    json_object_set_new(d, "min_answers", json_integer(conf->min_answers));

    signal = (ngx_uint_t) ai_release_atomic_load(&sig->breached);
    json_object_set_new(d, "breached", signal != AI_RELEASE_DRIFT_NONE
                        ? json_string(ai_release_drift_name(signal))
                        : json_null());

    if (sig->tripped != AI_RELEASE_DRIFT_NONE) {
        x = json_object();
        json_object_set_new(x, "reason", json_string(
                                ngx_http_ai_release_trip_reason_name(
                                    t, why, sizeof(why))));
        json_object_set_new(x, "signal", json_string(
                                ai_release_drift_name(
                                    (unsigned) sig->tripped)));
        json_object_set_new(x, "canary", json_real(sig->trip_canary));
        json_object_set_new(x, "stable", json_real(sig->trip_stable));
        json_object_set_new(x, "change", json_real(sig->trip_change));
        json_object_set_new(d, "last_trip", x);
    }

    json_object_set_new(o, "drift", d);

    return o;
}


/* {"mean": .., "p50": .., "p95": ..}; a negative figure is left out */

static json_t *
ngx_http_ai_release_stat_json(double mean, double p50, double p95)
{
    json_t  *o;

    o = json_object();

    if (mean >= 0) {
        json_object_set_new(o, "mean", json_real(mean));
    }

    if (p50 >= 0) {
        json_object_set_new(o, "p50", json_real(p50));
    }

    if (p95 >= 0) {
        json_object_set_new(o, "p95", json_real(p95));
    }

    return o;
}


/*
 * The figures Prometheus gives of a bundle's signals over its window:
 * figs[] (NGX_HTTP_AI_RELEASE_FIGURES of them, the last ones only where
 * they exist) and the window's aggregate.  NGX_DECLINED: no signals.
 */

ngx_int_t
ngx_http_ai_release_signals_figures(ngx_http_ai_release_target_t *t,
    ngx_http_ai_release_figure_t *figs, ngx_uint_t *nfigs,
    ai_release_drift_agg_t *a)
{
    double      n, u;
    uint64_t    out[AI_RELEASE_HIST_BUCKETS], first[AI_RELEASE_HIST_BUCKETS],
                micro, nfirst;
    ngx_uint_t  i, k;

    if (ngx_http_ai_release_signals_window(t, a) != NGX_OK) {
        return NGX_DECLINED;
    }

    n = (double) a->answers;
    u = (double) a->usage;
    nfirst = 0;

    for (i = 0; i < AI_RELEASE_HIST_BUCKETS; i++) {
        out[i] = a->output_hist[i];
        first[i] = a->first_token_hist[i];
        nfirst += first[i];
    }

    k = 0;

#define AI_FIG(s, st, v)                                                     \
    figs[k].signal = s; figs[k].stat = st; figs[k].value = (v); k++

    AI_FIG("output_tokens", "mean", u ? a->output_tokens / u : 0);
    AI_FIG("output_tokens", "p50", ai_release_hist_quantile(out, 0.50));
    AI_FIG("output_tokens", "p95", ai_release_hist_quantile(out, 0.95));
    AI_FIG("input_tokens", "mean", u ? a->input_tokens / u : 0);
    AI_FIG("answer_bytes", "mean", n ? a->answer_bytes / n : 0);
    AI_FIG("text_bytes", "mean", n ? a->text_bytes / n : 0);
    AI_FIG("tool_calls", "mean", n ? a->tool_calls / n : 0);
    AI_FIG("refusals", "share", n ? a->refusals / n : 0);

    if (nfirst) {
        AI_FIG("first_token_seconds", "p50",
               ai_release_hist_quantile(first, 0.50) / 1000);
        AI_FIG("first_token_seconds", "p95",
               ai_release_hist_quantile(first, 0.95) / 1000);
    }

    if (a->rate_answers) {
        AI_FIG("tokens_per_second", "mean",
               a->rate_milli / 1000.0 / a->rate_answers);
    }

    if (t->bundle->pricing.set && u) {
        micro = ai_release_cost_microunits(&t->bundle->pricing,
                                           a->input_tokens, a->output_tokens);

        if (micro != UINT64_MAX) {
            AI_FIG("cost", "per_answer", micro / 1000000.0 / u);
        }
    }

#undef AI_FIG

    *nfigs = k;

    return NGX_OK;
}


/*
 * A canary's signals against stable's: out[signal] for every signal, and
 * whether a drift rule judges it.  NGX_DECLINED: not a canary, or no
 * signals on either side.
 */

ngx_int_t
ngx_http_ai_release_signals_compare(ngx_http_ai_release_target_t *t,
    ai_release_drift_signal_t *out)
{
    ngx_uint_t                       signal;
    ai_release_drift_conf_t          any, *conf;
    ngx_http_ai_release_target_t    *stable;
    ai_release_drift_agg_t           a, base;

    stable = t->workflow->stable;

    if (t->variant != NGX_HTTP_AI_RELEASE_CANARY
        || ngx_http_ai_release_signals_window(t, &a) != NGX_OK
        || ngx_http_ai_release_signals_window(stable, &base) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    conf = t->workflow->drift;

    if (conf == NULL) {
        ai_release_drift_defaults(&any);
        conf = &any;
    }

    for (signal = AI_RELEASE_DRIFT_NONE; signal < AI_RELEASE_DRIFT_N;
         signal++)
    {
        ai_release_drift_signal(conf, signal, &a,
                                ngx_http_ai_release_pricing(t), &base,
                                ngx_http_ai_release_pricing(stable),
                                &out[signal]);
    }

    return NGX_OK;
}


/* whether a signal of the comparison applies: cost needs both pricings */

ngx_uint_t
ngx_http_ai_release_signals_applies(ngx_http_ai_release_target_t *t,
    ngx_uint_t signal)
{
    return signal != AI_RELEASE_DRIFT_COST
           || (t->bundle->pricing.set
               && t->workflow->stable->bundle->pricing.set);
}


/*
 * whether the change is a figure to give: finite, and a ratio only against
 * a stable value above 0
 */

ngx_uint_t
ngx_http_ai_release_signals_change_given(ngx_uint_t signal,
    ai_release_drift_signal_t *ds)
{
    return isfinite(ds->change)
           && (AI_RELEASE_DRIFT_POINTS(signal) || ds->stable > 0);
}
