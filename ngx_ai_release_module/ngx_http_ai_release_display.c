/*
 * Copyright (C) ngx_ai_release authors
 *
 * What every output format of the status reads from a bundle the same
 * way: its configured weight, a snapshot of its latency histogram, what
 * its answers said against its output contract and the name of the reason
 * its breaker last tripped.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ai_release_module.h"
#include "ngx_http_ai_release_display.h"


static const char  *ngx_http_ai_release_trip_reasons[] = {
    NULL, "error_rate", "consecutive", "canary_margin", "probe_failed",
    "manual", "drift", "correction_rate"
};


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


/*
 * What the answers of a bundle with an output contract said: by verdict
 * (ai_release_contract_rule_e, [0] kept it) and those that could not be
 * read.  NGX_DECLINED: the bundle has no contract.  All zero where a
 * reload freed the slot: its chunk may be another slot's by now.
 */

ngx_int_t
ngx_http_ai_release_answers_load(ngx_http_ai_release_target_t *t,
    uint64_t *verdicts, uint64_t *unread)
{
    ngx_uint_t                      i;
    ngx_http_ai_release_answers_t  *a;

    if (t->bundle->contract == NULL) {
        return NGX_DECLINED;
    }

    ngx_memzero(verdicts, AI_RELEASE_CONTRACT_NRULES * sizeof(uint64_t));
    *unread = 0;

    a = t->answers;

    if (a == NULL || !ngx_http_ai_release_slot_current(t)) {
        return NGX_OK;
    }

    for (i = 0; i < AI_RELEASE_CONTRACT_NRULES; i++) {
        verdicts[i] = ai_release_atomic_load(&a->contract[i]);
    }

    *unread = ai_release_atomic_load(&a->contract_unread);

    return NGX_OK;
}


/*
 * The name of why a breaker last tripped (slot->last_reason), as the
 * status JSON and the metrics give it; NULL for none.
 */

const char *
ngx_http_ai_release_trip_reason_name(ngx_http_ai_release_target_t *t,
    u_char *buf, size_t size)
{
    uint64_t  reason, signal;

    reason = t->slot->last_reason;

    if (reason == 0 || reason > NGX_HTTP_AI_RELEASE_TRIP_CORRECTION) {
        return NULL;
    }

    if (reason != NGX_HTTP_AI_RELEASE_TRIP_DRIFT || t->signals == NULL) {
        return ngx_http_ai_release_trip_reasons[reason];
    }

    signal = ai_release_atomic_load(&t->signals->tripped);

    (void) ngx_snprintf(buf, size, "drift:%s%Z",
                        ai_release_drift_name((unsigned) signal));

    return (const char *) buf;
}
