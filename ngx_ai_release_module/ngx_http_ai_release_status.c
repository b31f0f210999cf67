/*
 * Copyright (C) ngx_ai_release authors
 *
 * ai_release_status: the state of every workflow and bundle as JSON
 * (jansson), Prometheus text, or the self-contained dashboard page that
 * polls the JSON.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <nginx.h>

#include <jansson.h>

#include "ngx_http_ai_release_module.h"
#include "ngx_http_ai_release_response.h"
#include "ngx_http_ai_release_display.h"
#include "ngx_http_ai_release_display_json.h"
#include "ngx_http_ai_release_dashboard.h"


#define NGX_HTTP_AI_RELEASE_FORMAT_JSON        0
#define NGX_HTTP_AI_RELEASE_FORMAT_PROMETHEUS  1
#define NGX_HTTP_AI_RELEASE_FORMAT_HTML        2

/* the Prometheus text in buffers of this size */
#define NGX_HTTP_AI_RELEASE_PROM_CHUNK         (64 * 1024)
/* room for a Prometheus line besides its bundle's labels */
#define NGX_HTTP_AI_RELEASE_PROM_LINE          128


/*
 * A slot takes a 2 KiB slab chunk for its node (the window is the largest
 * part of it) and a 1 KiB chunk for its latency histogram: 3 KiB of the
 * zone, with room under 4 KiB for more histograms.
 */
typedef char  ngx_http_ai_release_node_fits_2k_t
                  [sizeof(ngx_http_ai_release_node_t) <= 2048 ? 1 : -1];
typedef char  ngx_http_ai_release_latency_fits_1k_t
                  [AI_RELEASE_LATENCY_SIZE <= 1024 ? 1 : -1];


static ngx_int_t ngx_http_ai_release_status_handler(ngx_http_request_t *r);
static ngx_uint_t ngx_http_ai_release_status_format(ngx_http_request_t *r);
static ngx_int_t ngx_http_ai_release_prometheus(ngx_http_request_t *r,
    ngx_http_ai_release_workflow_t *only, ngx_http_ai_release_text_t *tx);


static ngx_str_t  ngx_http_ai_release_allow = ngx_string("Allow");
static ngx_str_t  ngx_http_ai_release_get_head = ngx_string("GET, HEAD");


char *
ngx_http_ai_release_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_ai_release_status_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_ai_release_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_str_t                         type, name;
    ngx_uint_t                        format;
    ngx_http_ai_release_text_t        tx;
    ngx_http_ai_release_workflow_t   *only;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        if (ngx_http_ai_release_header_out(r, &ngx_http_ai_release_allow,
                                           &ngx_http_ai_release_get_head)
            == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    format = ngx_http_ai_release_status_format(r);

    /* ?workflow=NAME: that workflow only */

    only = NULL;

    if (format != NGX_HTTP_AI_RELEASE_FORMAT_HTML
        && ngx_http_arg(r, (u_char *) "workflow", 8, &name) == NGX_OK)
    {
        only = ngx_http_ai_release_find_workflow(ngx_http_ai_release_amcf(),
                                                 name.data, name.len);
        if (only == NULL) {
            return ngx_http_ai_release_json_error(r, NGX_HTTP_NOT_FOUND,
                                                  "unknown workflow \"%V\"",
                                                  &name);
        }
    }

    switch (format) {

    case NGX_HTTP_AI_RELEASE_FORMAT_HTML:
        ngx_str_set(&type, "text/html; charset=utf-8");
        return ngx_http_ai_release_send(r, NGX_HTTP_OK, &type,
                                     (u_char *) ngx_http_ai_release_dashboard,
                                     sizeof(ngx_http_ai_release_dashboard)
                                     - 1);

    case NGX_HTTP_AI_RELEASE_FORMAT_PROMETHEUS:
        ngx_http_ai_release_text_init(&tx, r->pool,
                                      NGX_HTTP_AI_RELEASE_PROM_CHUNK);

        if (ngx_http_ai_release_prometheus(r, only, &tx) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_str_set(&type, "text/plain; version=0.0.4; charset=utf-8");
        return ngx_http_ai_release_send_chain(r, NGX_HTTP_OK, &type, tx.out,
                                              tx.size);

    default: /* NGX_HTTP_AI_RELEASE_FORMAT_JSON */
        return ngx_http_ai_release_send_workflows(r,
                                            ngx_http_ai_release_status_json(),
                                            only);
    }
}


static ngx_uint_t
ngx_http_ai_release_status_format(ngx_http_request_t *r)
{
    ngx_str_t         format;
    ngx_table_elt_t  *accept;

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK) {

        if (format.len == 10
            && ngx_strncmp(format.data, "prometheus", 10) == 0)
        {
            return NGX_HTTP_AI_RELEASE_FORMAT_PROMETHEUS;
        }

        if (format.len == 4 && ngx_strncmp(format.data, "html", 4) == 0) {
            return NGX_HTTP_AI_RELEASE_FORMAT_HTML;
        }

        return NGX_HTTP_AI_RELEASE_FORMAT_JSON;
    }

    /* r->headers_in.accept exists only in some builds: look it up */

    accept = ngx_http_ai_release_header_in(r, (u_char *) "accept", 6,
                                           ngx_hash_key((u_char *) "accept",
                                                        6));

    if (accept) {
        if (ngx_strlcasestrn(accept->value.data,
                             accept->value.data + accept->value.len,
                             (u_char *) "text/html", 9 - 1)
            != NULL)
        {
            return NGX_HTTP_AI_RELEASE_FORMAT_HTML;
        }

        if (ngx_strlcasestrn(accept->value.data,
                             accept->value.data + accept->value.len,
                             (u_char *) "text/plain", 10 - 1)
            != NULL)
        {
            return NGX_HTTP_AI_RELEASE_FORMAT_PROMETHEUS;
        }
    }

    return NGX_HTTP_AI_RELEASE_FORMAT_JSON;
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
                                      exported[AI_RELEASE_LATENCY_EXPORTS + 1];
    ngx_int_t                         rc;
    ngx_uint_t                        i, j, k, n;
    ngx_http_ai_release_slot_t       *slot;
    ngx_http_ai_release_target_t     *t;
    ngx_http_ai_release_workflow_t  **wfp, *wf;
    ngx_http_ai_release_main_conf_t  *amcf;

    amcf = ngx_http_ai_release_amcf();
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

    /* the longest labels of a bundle */

    len = 0;

    for (i = 0; i < amcf->workflows.nelts; i++) {
        wf = wfp[i];
        n = (only == NULL || wf == only) ? ngx_http_ai_release_target_count(wf)
                                         : 0;

        for (j = 0; j < n; j++) {
            t = ngx_http_ai_release_target_at(wf, j);
            len = ngx_max(len, wf->name.len + t->id.len + t->digest_short.len
                          + ngx_http_ai_release_variant_names[t->variant].len);
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
