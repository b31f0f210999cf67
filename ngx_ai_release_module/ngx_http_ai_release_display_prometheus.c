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


/* the Prometheus text in buffers of this size */
#define NGX_HTTP_AI_RELEASE_PROM_CHUNK         (64 * 1024)
/* room for a Prometheus line besides its bundle's labels */
#define NGX_HTTP_AI_RELEASE_PROM_LINE          128


static ngx_int_t ngx_http_ai_release_prometheus(ngx_http_request_t *r,
    ngx_http_ai_release_workflow_t *only, ngx_http_ai_release_text_t *tx);


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
    ngx_uint_t                        i, j, k, n, contracts;
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

done:

#undef AI_PRINT
#undef AI_TEXT
#undef AI_FOREACH_BUNDLE

    return rc;
}
