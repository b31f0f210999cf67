/*
 * Copyright (C) ngx_ai_release authors
 *
 * The state of every workflow and bundle as Prometheus text.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <nginx.h>

#include "ngx_http_ai_release_module.h"
#include "ngx_http_ai_release_response.h"
#include "ngx_http_ai_release_display.h"
#include "ngx_http_ai_release_display_prometheus.h"
#include "ngx_http_ai_release_rollout.h"
#include "ngx_http_ai_release_shadow.h"
#include "ngx_http_ai_release_feedback.h"



/* the Prometheus text in buffers of this size */
#define NGX_HTTP_AI_RELEASE_PROM_CHUNK         (64 * 1024)
/* room for a Prometheus line besides its bundle's labels */
#define NGX_HTTP_AI_RELEASE_PROM_LINE          128


static ngx_int_t ngx_http_ai_release_prometheus(ngx_http_request_t *r,
    ngx_http_ai_release_workflow_t *only, ngx_http_ai_release_text_t *tx);
static ngx_int_t ngx_http_ai_release_feedback_prometheus(
    ngx_http_ai_release_main_conf_t *amcf, ngx_http_ai_release_workflow_t *only,
    ngx_http_ai_release_text_t *tx, u_char *labels, size_t line);


/* every workflow's bundles, or only's */

ngx_int_t
ngx_http_ai_release_send_prometheus(ngx_http_request_t *r,
    ngx_http_ai_release_workflow_t *only)
{
    ngx_str_t                   type;
    ngx_http_ai_release_text_t  tx;

    ngx_http_ai_release_text_init(&tx, r->pool,
                                  NGX_HTTP_AI_RELEASE_PROM_CHUNK);

    if (ngx_http_ai_release_prometheus(r, only, &tx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&type, "text/plain; version=0.0.4; charset=utf-8");

    return ngx_http_ai_release_send_chain(r, NGX_HTTP_OK, &type, tx.out,
                                          tx.size);
}


/*
 * Prometheus text exposition format 0.0.4, in a chain of buffers: each
 * line has room for the longest labels of a bundle, as long as the names
 * the configuration has.
 */

#define NGX_HTTP_AI_RELEASE_PROM_LABELS                                      \
    "workflow=\"%V\",bundle=\"%V\",digest=\"%V\",variant=\"%V\""

static ngx_int_t
ngx_http_ai_release_prometheus(ngx_http_request_t *r,
    ngx_http_ai_release_workflow_t *only, ngx_http_ai_release_text_t *tx)
{
    u_char                           *labels, *l;
    size_t                            len, line;
    uint64_t                          cum, state, v;
    uint64_t                          lat[AI_RELEASE_LATENCY_BUCKETS],
                                      exported[AI_RELEASE_LATENCY_EXPORTS + 1],
                                      verdicts[AI_RELEASE_CONTRACT_NRULES];
    ngx_int_t                         rc;
    u_char                            why[64];
    const char                       *reason;
    ngx_uint_t                        i, j, k, n, contracts, signals, nf;
    ngx_http_ai_release_figure_t      figs[NGX_HTTP_AI_RELEASE_FIGURES];
    ai_release_drift_signal_t         ds[AI_RELEASE_DRIFT_N];
    ai_release_drift_agg_t            agg;
    ngx_http_ai_release_slot_t       *slot;
    ngx_http_ai_release_target_t     *t;
    ngx_http_ai_release_workflow_t  **wfp, *wf;
    ngx_http_ai_release_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_ai_release_module);
    wfp = amcf->workflows.elts;

#define AI_FOREACH_BUNDLE(body)                                              \
    for (i = 0; i < amcf->workflows.nelts; i++) {                            \
        wf = wfp[i];                                                         \
        n = (only == NULL || wf == only)                                     \
            ? ngx_http_ai_release_target_count(wf) : 0;                      \
        for (j = 0; j < n; j++) {                                            \
            t = ngx_http_ai_release_target_at(wf, j);                        \
            slot = t->slot;                                                  \
            l = ngx_sprintf(labels, NGX_HTTP_AI_RELEASE_PROM_LABELS,         \
                            &wf->name, &t->id, &t->digest_short,             \
                            &ngx_http_ai_release_variant_names[t->variant]); \
            *l = '\0';                                                       \
            body                                                             \
        }                                                                    \
    }

#define AI_PRINT(max, ...)                                                   \
    if (ngx_http_ai_release_text_printf(tx, max, __VA_ARGS__) != NGX_OK) {   \
        rc = NGX_ERROR;                                                      \
        goto done;                                                           \
    }

#define AI_TEXT(text)                                                        \
    if (ngx_http_ai_release_text_add(tx, (u_char *) text, sizeof(text) - 1,  \
                                     0)                                      \
        != NGX_OK)                                                           \
    {                                                                        \
        rc = NGX_ERROR;                                                      \
        goto done;                                                           \
    }

    /* the longest labels of a bundle; whether one has a contract */

    len = 0;
    contracts = 0;
    signals = 0;

    for (i = 0; i < amcf->workflows.nelts; i++) {
        wf = wfp[i];
        n = (only == NULL || wf == only) ? ngx_http_ai_release_target_count(wf)
                                         : 0;

        for (j = 0; j < n; j++) {
            t = ngx_http_ai_release_target_at(wf, j);
            len = ngx_max(len, wf->name.len + t->id.len + t->digest_short.len
                          + ngx_http_ai_release_variant_names[t->variant].len);

            if (t->bundle->contract) {
                contracts = 1;
            }
        }

        if (n && wf->signals) {
            signals = 1;
        }
    }

    len += sizeof(NGX_HTTP_AI_RELEASE_PROM_LABELS);

    labels = ngx_pnalloc(r->pool, len);
    if (labels == NULL) {
        return NGX_ERROR;
    }

    line = len + NGX_HTTP_AI_RELEASE_PROM_LINE;
    rc = NGX_OK;

    AI_PRINT(NGX_HTTP_AI_RELEASE_PROM_LINE * 2,
             "# HELP ai_release_info ngx_ai_release module and nginx "
             "versions.\n# TYPE ai_release_info gauge\n"
             "ai_release_info{version=\"%s\",nginx_version=\"%s\"} 1\n",
             NGX_HTTP_AI_RELEASE_VERSION, NGINX_VERSION);

    AI_TEXT("# HELP ai_release_requests_total Upstream attempts by "
            "workflow, bundle and outcome.\n"
            "# TYPE ai_release_requests_total counter\n");

    AI_FOREACH_BUNDLE(
        for (k = 0; k < AI_RELEASE_NCLASSES; k++) {
            AI_PRINT(line,
                     "ai_release_requests_total{%s,outcome=\"%s\"} %uL\n",
                     labels, ai_release_class_name(k),
                     ai_release_atomic_load(&slot->total[k]));
        }
    )

    AI_TEXT("# HELP ai_release_upstream_latency_seconds Upstream "
            "response time.\n"
            "# TYPE ai_release_upstream_latency_seconds histogram\n");

    AI_FOREACH_BUNDLE(
        ngx_http_ai_release_latency_load(slot, lat, exported);
        cum = 0;
        for (k = 0; k < AI_RELEASE_LATENCY_EXPORTS; k++) {
            cum += exported[k];
            v = ai_release_latency_export_ms[k];
            AI_PRINT(line,
                     "ai_release_upstream_latency_seconds_bucket"
                     "{%s,le=\"%uL.%03uL\"} %uL\n", labels,
                     v / 1000, v % 1000, cum);
        }
        cum += exported[k];
        AI_PRINT(line,
                 "ai_release_upstream_latency_seconds_bucket"
                 "{%s,le=\"+Inf\"} %uL\n", labels, cum);
        v = ai_release_atomic_load(&slot->latency_sum_ms);
        AI_PRINT(line,
                 "ai_release_upstream_latency_seconds_sum{%s} %uL.%03uL\n",
                 labels, v / 1000, v % 1000);
        AI_PRINT(line,
                 "ai_release_upstream_latency_seconds_count{%s} %uL\n",
                 labels, cum);
    )

    AI_TEXT("# HELP ai_release_breaker_state Breaker state of the "
            "bundle (1 for the current state).\n"
            "# TYPE ai_release_breaker_state gauge\n");

    AI_FOREACH_BUNDLE(
        state = ai_release_atomic_load(&slot->state);
        for (k = 0; k < 3; k++) {
            AI_PRINT(line, "ai_release_breaker_state{%s,state=\"%V\"} %d\n",
                     labels, &ngx_http_ai_release_state_names[k],
                     state == k ? 1 : 0);
        }
    )

    AI_TEXT("# HELP ai_release_weight_ratio Configured and effective "
            "share of the workflow's traffic.\n"
            "# TYPE ai_release_weight_ratio gauge\n");

    AI_FOREACH_BUNDLE(
        v = ngx_http_ai_release_configured_weight(t);
        AI_PRINT(line,
                 "ai_release_weight_ratio{%s,kind=\"configured\"} "
                 "%uL.%04uL\n", labels, v / 10000, v % 10000);
        v = ngx_http_ai_release_effective_weight(t);
        AI_PRINT(line,
                 "ai_release_weight_ratio{%s,kind=\"effective\"} "
                 "%uL.%04uL\n", labels, v / 10000, v % 10000);
    )

    AI_TEXT("# HELP ai_release_trips_total Times the bundle's "
            "breaker opened.\n"
            "# TYPE ai_release_trips_total counter\n");

    AI_FOREACH_BUNDLE(
        AI_PRINT(line, "ai_release_trips_total{%s} %uL\n", labels,
                 slot->trips);
    )

    AI_TEXT("# HELP ai_release_breaker_open_info A bundle whose breaker is "
            "open or half-open, with the reason it last tripped.\n"
            "# TYPE ai_release_breaker_open_info gauge\n");

    AI_FOREACH_BUNDLE(
        if (ai_release_atomic_load(&slot->state)
            != NGX_HTTP_AI_RELEASE_CLOSED)
        {
            reason = ngx_http_ai_release_trip_reason_name(t, why,
                                                          sizeof(why));
            AI_PRINT(line + sizeof(why),
                     "ai_release_breaker_open_info{%s,reason=\"%s\"} 1\n",
                     labels, reason ? reason : "");
        }
    )

    if (contracts) {
        AI_TEXT("# HELP ai_release_contract_answers_total Answers of "
                "bundles with an output contract by result: ok, the rule "
                "broken, or unread.\n"
                "# TYPE ai_release_contract_answers_total counter\n");
    }

    AI_FOREACH_BUNDLE(
        if (ngx_http_ai_release_answers_load(t, verdicts, &v) == NGX_OK) {
            for (k = 0; k < AI_RELEASE_CONTRACT_NRULES; k++) {
                AI_PRINT(line,
                         "ai_release_contract_answers_total"
                         "{%s,result=\"%s\"} %uL\n", labels,
                         ai_release_contract_rule_name(k), verdicts[k]);
            }
            AI_PRINT(line,
                     "ai_release_contract_answers_total"
                     "{%s,result=\"unread\"} %uL\n", labels, v);
        }
    )

    if (ngx_http_ai_release_rollout_prometheus(amcf, only, tx) != NGX_OK) {
        rc = NGX_ERROR;
        goto done;
    }

    if (!signals) {
        goto zone;
    }

    AI_TEXT("# HELP ai_release_signal_answers Answers whose behaviour "
            "signals the window holds (the last one to two windows).\n"
            "# TYPE ai_release_signal_answers gauge\n");

    AI_FOREACH_BUNDLE(
        if (ngx_http_ai_release_signals_figures(t, figs, &nf, &agg)
            == NGX_OK)
        {
            AI_PRINT(line, "ai_release_signal_answers{%s} %uL\n", labels,
                     agg.answers);
        }
    )

    AI_TEXT("# HELP ai_release_signal Behaviour signals of the bundle's "
            "answers over the window: mean, p50, p95 or share.\n"
            "# TYPE ai_release_signal gauge\n");

    AI_FOREACH_BUNDLE(
        if (ngx_http_ai_release_signals_figures(t, figs, &nf, &agg)
            == NGX_OK)
        {
            for (k = 0; k < nf; k++) {
                AI_PRINT(line,
                         "ai_release_signal{%s,signal=\"%s\",stat=\"%s\"} "
                         "%.6f\n", labels, figs[k].signal, figs[k].stat,
                         figs[k].value);
            }
        }
    )

    AI_TEXT("# HELP ai_release_signal_endings Answers of the window by how "
            "they ended.\n"
            "# TYPE ai_release_signal_endings gauge\n");

    AI_FOREACH_BUNDLE(
        if (ngx_http_ai_release_signals_figures(t, figs, &nf, &agg)
            == NGX_OK)
        {
            for (k = 0; k < AI_RELEASE_END_N; k++) {
                AI_PRINT(line,
                         "ai_release_signal_endings{%s,ending=\"%s\"} "
                         "%uL\n", labels, ai_release_ending_name(k),
                         agg.endings[k]);
            }
        }
    )

    AI_TEXT("# HELP ai_release_drift_change A canary's signal against "
            "stable's over the same window: a ratio, or the difference "
            "in percentage points.\n"
            "# TYPE ai_release_drift_change gauge\n");

    AI_FOREACH_BUNDLE(
        if (ngx_http_ai_release_signals_compare(t, ds) == NGX_OK) {
            for (k = AI_RELEASE_DRIFT_NONE + 1; k < AI_RELEASE_DRIFT_N; k++) {
                if (!ngx_http_ai_release_signals_applies(t, k)
                    || !ngx_http_ai_release_signals_change_given(k, &ds[k]))
                {
                    continue;
                }

                AI_PRINT(line,
                         "ai_release_drift_change{%s,signal=\"%s\","
                         "unit=\"%s\"} %.4f\n", labels,
                         ai_release_drift_name(k),
                         AI_RELEASE_DRIFT_POINTS(k) ? "points" : "ratio",
                         ds[k].change);
            }
        }
    )

    AI_TEXT("# HELP ai_release_drift_breached 1 where a canary's signal is "
            "beyond its drift margin with evidence, for each signal its "
            "workflow's drift rule judges.\n"
            "# TYPE ai_release_drift_breached gauge\n");

    AI_FOREACH_BUNDLE(
        if (wf->drift && ngx_http_ai_release_signals_compare(t, ds) == NGX_OK)
        {
            for (k = AI_RELEASE_DRIFT_NONE + 1; k < AI_RELEASE_DRIFT_N; k++) {
                if (wf->drift->margin[k] == 0) {
                    continue;
                }

                AI_PRINT(line,
                         "ai_release_drift_breached{%s,signal=\"%s\","
                         "mode=\"%s\"} %d\n", labels,
                         ai_release_drift_name(k),
                         wf->drift->mode == AI_RELEASE_DRIFT_TRIP
                         ? "trip" : "observe",
                         ds[k].breached ? 1 : 0);
            }
        }
    )

zone:

    if (amcf->sh) {
        AI_PRINT(NGX_HTTP_AI_RELEASE_PROM_LINE * 4 + 2 * amcf->zone_name.len,
                 "# HELP ai_release_zone_size_bytes Size of the "
                 "shared-memory zone.\n"
                 "# TYPE ai_release_zone_size_bytes gauge\n"
                 "ai_release_zone_size_bytes{zone=\"%V\"} %uz\n"
                 "# HELP ai_release_zone_used_bytes Used part of the "
                 "shared-memory zone.\n"
                 "# TYPE ai_release_zone_used_bytes gauge\n"
                 "ai_release_zone_used_bytes{zone=\"%V\"} %uz\n",
                 &amcf->zone_name, amcf->shm_zone->shm.size,
                 &amcf->zone_name,
                 amcf->shm_zone->shm.size
                 - amcf->shpool->pfree * ngx_pagesize);
    }

    rc = ngx_http_ai_release_feedback_prometheus(amcf, only, tx, labels, line);

    if (rc == NGX_OK) {
        rc = ngx_http_ai_release_shadow_prometheus(amcf, only, tx, labels,
                                                   line);
    }

done:

#undef AI_PRINT
#undef AI_TEXT
#undef AI_FOREACH_BUNDLE

    return rc;
}


/* what reviewers said: per bundle and outcome, and the stale ids */

static ngx_int_t
ngx_http_ai_release_feedback_prometheus(ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_workflow_t *only, ngx_http_ai_release_text_t *tx,
    u_char *labels, size_t line)
{
    u_char                           *l;
    uint64_t                          total[AI_RELEASE_FEEDBACK_NOUTCOMES],
                                      window[AI_RELEASE_FEEDBACK_NOUTCOMES];
    ngx_uint_t                        i, j, k, n;
    ngx_http_ai_release_target_t     *t;
    ngx_http_ai_release_workflow_t  **wfp, *wf;

    if (amcf->sh == NULL) {
        return NGX_OK;
    }

    if (ngx_http_ai_release_text_printf(tx, NGX_HTTP_AI_RELEASE_PROM_LINE * 4
                                            + amcf->zone_name.len,
            "# HELP ai_release_feedback_stale_total Feedback refused because "
            "its release id names a bundle no longer configured.\n"
            "# TYPE ai_release_feedback_stale_total counter\n"
            "ai_release_feedback_stale_total{zone=\"%V\"} %uL\n"
            "# HELP ai_release_feedback_total Reviewer feedback on the "
            "bundle's answers by outcome.\n"
            "# TYPE ai_release_feedback_total counter\n", &amcf->zone_name,
            ai_release_atomic_load(&amcf->sh->feedback_stale))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    wfp = amcf->workflows.elts;

    for (i = 0; i < amcf->workflows.nelts; i++) {
        wf = wfp[i];
        n = (only == NULL || wf == only) ? ngx_http_ai_release_target_count(wf)
                                         : 0;

        for (j = 0; j < n; j++) {
            t = ngx_http_ai_release_target_at(wf, j);

            if (ngx_http_ai_release_feedback_load(t, total, window) != NGX_OK)
            {
                continue;
            }

            l = ngx_sprintf(labels, NGX_HTTP_AI_RELEASE_PROM_LABELS,
                            &wf->name, &t->id, &t->digest_short,
                            &ngx_http_ai_release_variant_names[t->variant]);
            *l = '\0';

            for (k = 0; k < AI_RELEASE_FEEDBACK_NOUTCOMES; k++) {
                if (ngx_http_ai_release_text_printf(tx, line,
                        "ai_release_feedback_total{%s,outcome=\"%s\"} %uL\n",
                        labels, ai_release_feedback_outcome_name(k), total[k])
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }
        }
    }

    return NGX_OK;
}
