/*
 * Copyright (C) ngx_ai_release authors
 *
 * What every output format of the status reads from a bundle the same
 * way: its configured weight and a snapshot of its latency histogram.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ai_release_module.h"
#include "ngx_http_ai_release_display.h"


/* the share of the workflow's traffic the configuration gives the bundle */

ngx_uint_t
ngx_http_ai_release_configured_weight(ngx_http_ai_release_target_t *t)
{
    if (t->variant == NGX_HTTP_AI_RELEASE_CANARY) {
        return t->weight;
    }

    if (t->variant == NGX_HTTP_AI_RELEASE_STABLE) {
        return AI_RELEASE_WEIGHT_SCALE - t->workflow->canary_total;
    }

    return 0;
}


/*
 * A snapshot of the latency histogram: the fine buckets, and the counts
 * between the exported bounds (the last one: above the last bound).
 */

void
ngx_http_ai_release_latency_load(ngx_http_ai_release_slot_t *slot,
    uint64_t *counts, uint64_t *exported)
{
    ngx_uint_t  i, e;

    ngx_memzero(exported, (AI_RELEASE_LATENCY_EXPORTS + 1) * sizeof(uint64_t));
    e = 0;

    for (i = 0; i < AI_RELEASE_LATENCY_BUCKETS; i++) {
        counts[i] = ai_release_atomic_load(&slot->latency[i]);

        while (e < AI_RELEASE_LATENCY_EXPORTS
               && ai_release_latency_le_ms(i) > ai_release_latency_export_ms[e])
        {
            e++;
        }

        exported[e] += counts[i];
    }
}
