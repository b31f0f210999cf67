/*
 * Copyright (C) ngx_ai_release authors
 *
 * The state of every workflow and bundle as JSON (jansson): the status
 * document, and the workflows the control API answers with.
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
#include "ngx_http_ai_release_history.h"
#include "ngx_http_ai_release_rollout.h"
#include "ngx_http_ai_release_shadow.h"
#include "ngx_http_ai_release_feedback.h"


/* the JSON of many workflows goes out in buffers of this size */
#define NGX_HTTP_AI_RELEASE_TEXT_CHUNK         (1024 * 1024)


static json_t *ngx_http_ai_release_bundle_json(
    ngx_http_ai_release_target_t *t);
static json_t *ngx_http_ai_release_counts_json(uint64_t *counts,
    ngx_uint_t window);
static json_t *ngx_http_ai_release_contract_json(
    ngx_http_ai_release_target_t *t);


static const char  *ngx_http_ai_release_override_names[] = {
    "rollback", "pin", "trip"
};

/*
 * Sends root, a JSON object, with a last member "workflows": the list of
 * every workflow, or of the one given.  Each workflow is built and dumped
 * on its own, into buffers of the request's pool: the memory it takes is
 * one workflow's tree and the text, not a tree of all of them.  The text
 * is the same as json_dumps() of the whole tree would give.
 */

ngx_int_t
ngx_http_ai_release_send_workflows(ngx_http_request_t *r, json_t *root,
    ngx_http_ai_release_workflow_t *only)
{
    char                             *text, *tail, *wtext;
    json_t                           *wjson;
    ngx_int_t                         rc;
    ngx_str_t                         type;
    ngx_uint_t                        i, n;
    ngx_http_ai_release_text_t        tx;
    ngx_http_ai_release_workflow_t  **wfp, *wf;
    ngx_http_ai_release_main_conf_t  *amcf;

    if (root == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (json_object_set_new(root, "workflows", json_array()) != 0) {
        json_decref(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    text = json_dumps(root, NGX_HTTP_AI_RELEASE_JSON_FLAGS);
    json_decref(root);

    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the empty list is the last thing in the text: "[]" then "\n}" */

    tail = strrchr(text, '[');

    if (tail == NULL || tail[1] != ']') {
        free(text);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tail++;

    ngx_http_ai_release_text_init(&tx, r->pool, NGX_HTTP_AI_RELEASE_TEXT_CHUNK);

    rc = ngx_http_ai_release_text_add(&tx, (u_char *) text, tail - text, 0);

    amcf = ngx_http_get_module_main_conf(r, ngx_http_ai_release_module);
    wfp = amcf->workflows.elts;
    n = only ? 1 : amcf->workflows.nelts;

    for (i = 0; i < n && rc == NGX_OK; i++) {
        wf = only ? only : wfp[i];

        wjson = ngx_http_ai_release_workflow_json(wf);
        if (wjson == NULL) {
            rc = NGX_ERROR;
            break;
        }

        wtext = json_dumps(wjson, NGX_HTTP_AI_RELEASE_JSON_FLAGS);
        json_decref(wjson);

        if (wtext == NULL) {
            rc = NGX_ERROR;
            break;
        }

        /* an element of the list is two levels deep: four spaces more */

        rc = ngx_http_ai_release_text_add(&tx, (u_char *) (i ? ",\n" : "\n"),
                                          i ? 2 : 1, 0);
        if (rc == NGX_OK) {
            rc = ngx_http_ai_release_text_add(&tx, (u_char *) "    ", 4, 0);
        }

        if (rc == NGX_OK) {
            rc = ngx_http_ai_release_text_add(&tx, (u_char *) wtext,
                                              ngx_strlen(wtext), 4);
        }

        free(wtext);
    }

    if (rc == NGX_OK && n) {
        rc = ngx_http_ai_release_text_add(&tx, (u_char *) "\n  ", 3, 0);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_ai_release_text_add(&tx, (u_char *) tail,
                                          ngx_strlen(tail), 0);
    }

    free(text);

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&type, "application/json");

    return ngx_http_ai_release_send_chain(r, NGX_HTTP_OK, &type, tx.out,
                                          tx.size);
}


json_t *
ngx_http_ai_release_iso_time(time_t t)
{
    u_char     buf[sizeof("1970-01-01T00:00:00Z")];
    ngx_tm_t   tm;

    ngx_gmtime(t, &tm);

    ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02dZ%Z", tm.ngx_tm_year,
                tm.ngx_tm_mon, tm.ngx_tm_mday, tm.ngx_tm_hour, tm.ngx_tm_min,
                tm.ngx_tm_sec);

    return json_string((char *) buf);
}


/* everything of the status but the workflows */

json_t *
ngx_http_ai_release_status_json(ngx_http_ai_release_main_conf_t *amcf)
{
    size_t                            used;
    json_t                           *root, *o;

    root = json_object();
    if (root == NULL) {
        return NULL;
    }

    o = json_object();
    json_object_set_new(o, "name", json_string("ngx_ai_release"));
    json_object_set_new(o, "version",
                        json_string(NGX_HTTP_AI_RELEASE_VERSION));
    json_object_set_new(root, "module", o);

    o = json_object();
    json_object_set_new(o, "version", json_string(NGINX_VERSION));
    json_object_set_new(o, "pid", json_integer(ngx_pid));
    json_object_set_new(root, "nginx", o);

    json_object_set_new(root, "time", ngx_http_ai_release_iso_time(ngx_time()));

    if (amcf->sh) {
        json_object_set_new(root, "reloaded_at",
                            ngx_http_ai_release_iso_time(amcf->sh->reloaded));
        json_object_set_new(root, "generation",
                            json_integer(amcf->sh->loaded));

        used = amcf->shm_zone->shm.size
               - amcf->shpool->pfree * ngx_pagesize;

        o = json_object();
        json_object_set_new(o, "name",
                            json_stringn((char *) amcf->zone_name.data,
                                         amcf->zone_name.len));
        json_object_set_new(o, "size",
                            json_integer(amcf->shm_zone->shm.size));
        json_object_set_new(o, "used", json_integer(used));
        json_object_set_new(o, "slots", json_integer(amcf->sh->nslots));
        json_object_set_new(o, "feedback_stale", json_integer(
                        ai_release_atomic_load(&amcf->sh->feedback_stale)));
        json_object_set_new(root, "zone", o);
    }

    return root;
}


json_t *
ngx_http_ai_release_workflow_json(ngx_http_ai_release_workflow_t *wf)
{
    ngx_uint_t                     i, k, n;
    json_t                        *o, *trip, *list, *ovr, *item;
    ngx_http_ai_release_slot_t    *slot;
    ngx_http_ai_release_target_t  *t;

    o = json_object();

    json_object_set_new(o, "name", json_stringn((char *) wf->name.data,
                                                wf->name.len));
    json_object_set_new(o, "sticky", json_boolean(wf->sticky != NULL));
    json_object_set_new(o, "failover", json_boolean(wf->failover));

    trip = json_object();
    json_object_set_new(trip, "enabled", json_boolean(wf->trip.enabled));
    json_object_set_new(trip, "error_rate",
                        json_real(wf->trip.error_rate / 10000.0));
    json_object_set_new(trip, "min_requests",
                        json_integer(wf->trip.min_requests));
    json_object_set_new(trip, "min_errors",
                        json_integer(wf->trip.min_errors));
    json_object_set_new(trip, "window_ms", json_integer(wf->trip.window_ms));
    json_object_set_new(trip, "consecutive",
                        json_integer(wf->trip.consecutive));
    json_object_set_new(trip, "cooldown_ms",
                        json_integer(wf->trip.cooldown_ms));
    json_object_set_new(trip, "max_cooldown_ms",
                        json_integer(wf->trip.max_cooldown_ms));
    json_object_set_new(trip, "probes", json_integer(wf->trip.probes));
    json_object_set_new(trip, "probe_timeout_ms",
                        json_integer(wf->trip.probe_timeout_ms));
    json_object_set_new(trip, "canary_margin",
                        wf->trip.canary_margin == AI_RELEASE_MARGIN_OFF
                        ? json_null()
                        : json_real(wf->trip.canary_margin / 10000.0));
    json_object_set_new(trip, "recover",
                        json_string(wf->trip.recover_manual
                                    ? "manual" : "auto"));
    json_object_set_new(o, "trip", trip);

    list = json_array();

    for (k = 1; k < AI_RELEASE_NCLASSES; k++) {
        if ((wf->trip.errors_mask >> k) & 1) {
            json_array_append_new(list,
                                  json_string(ai_release_class_name(k)));
        }
    }

    json_object_set_new(o, "errors", list);
    json_object_set_new(o, "slow_ms", json_integer(wf->trip.slow_ms));

    /* overrides: a workflow's rollback is set on each of its canaries */

    ovr = json_array();
    n = ngx_http_ai_release_target_count(wf);

    for (k = 0; k < NGX_HTTP_AI_RELEASE_NOVR; k++) {
        for (i = 0; i < n; i++) {
            t = ngx_http_ai_release_target_at(wf, i);
            slot = t->slot;

            if (slot == NULL || !slot->override[k]) {
                continue;
            }

            item = json_object();
            json_object_set_new(item, "action",
                        json_string(ngx_http_ai_release_override_names[k]));

            if (k != NGX_HTTP_AI_RELEASE_OVR_ROLLBACK) {
                json_object_set_new(item, "bundle",
                                    json_stringn((char *) t->id.data,
                                                 t->id.len));
            }

            json_object_set_new(item, "by",
                                json_string((char *) slot->override_by[k]));
            json_object_set_new(item, "at",
                                ngx_http_ai_release_iso_time(
                                    (time_t) slot->override_at[k]));
            json_object_set_new(item, "source", json_string(
                                (slot->restored >> k) & 1 ? "state file"
                                                          : "api"));
            json_array_append_new(ovr, item);

            if (k == NGX_HTTP_AI_RELEASE_OVR_ROLLBACK) {
                break;
            }
        }
    }

    json_object_set_new(o, "overrides", ovr);

    list = json_array();

    for (i = 0; i < n; i++) {
        json_array_append_new(list, ngx_http_ai_release_bundle_json(
                                        ngx_http_ai_release_target_at(wf, i)));
    }

    json_object_set_new(o, "bundles", list);
    json_object_set_new(o, "history", ngx_http_ai_release_history_json(wf));

    return o;
}


static json_t *
ngx_http_ai_release_bundle_json(ngx_http_ai_release_target_t *t)
{
    uint64_t                     w[AI_RELEASE_NCOUNTERS], state, count;
    u_char                       why[64];
    uint64_t                     lat[AI_RELEASE_LATENCY_BUCKETS],
                                 exported[AI_RELEASE_LATENCY_EXPORTS + 1];
    ngx_uint_t                   i, configured;
    json_t                      *o, *x, *buckets, *bucket;
    const char                  *reason;
    ngx_http_ai_release_slot_t  *slot;

    o = json_object();
    slot = t->slot;

    json_object_set_new(o, "role", json_stringn(
                  (char *) ngx_http_ai_release_variant_names[t->variant].data,
                  ngx_http_ai_release_variant_names[t->variant].len));
    json_object_set_new(o, "bundle", json_stringn((char *) t->id.data,
                                                  t->id.len));
    json_object_set_new(o, "name", json_string(t->bundle->name));
    json_object_set_new(o, "version", json_string(t->bundle->version));
    json_object_set_new(o, "digest", json_string(t->bundle->digest_hex));
    json_object_set_new(o, "digest_short",
                        json_string(t->bundle->digest_short));
    json_object_set_new(o, "model", json_string(t->bundle->model));
    json_object_set_new(o, "upstream", json_string(t->bundle->upstream));

    configured = ngx_http_ai_release_configured_weight(t);

    x = json_object();
    json_object_set_new(x, "configured", json_real(configured / 10000.0));
    json_object_set_new(x, "effective", json_real(
                   ngx_http_ai_release_effective_weight(t) / 10000.0));
    json_object_set_new(o, "weight", x);
    ngx_http_ai_release_rollout_json(t, o);

    state = ai_release_atomic_load(&slot->state);
    reason = ngx_http_ai_release_trip_reason_name(t, why, sizeof(why));

    x = json_object();
    json_object_set_new(x, "state", json_stringn(
                  (char *) ngx_http_ai_release_state_names[state].data,
                  ngx_http_ai_release_state_names[state].len));
    json_object_set_new(x, "since", ngx_http_ai_release_iso_time(
                                        (time_t) slot->since_sec));
    json_object_set_new(x, "cooldown_ms", json_integer(slot->cooldown_ms));
    json_object_set_new(x, "trips", json_integer(slot->trips));
    json_object_set_new(x, "last_trip_reason",
                        reason ? json_string(reason) : json_null());
    json_object_set_new(x, "manual", json_boolean(
                    slot->override[NGX_HTTP_AI_RELEASE_OVR_TRIP] != 0));
    json_object_set_new(x, "restored", json_boolean(
                    slot->restored & NGX_HTTP_AI_RELEASE_RESTORED_BREAKER));
    json_object_set_new(o, "breaker", x);

    ai_release_window_sum(&slot->window, ngx_current_msec, w);
    json_object_set_new(o, "window", ngx_http_ai_release_counts_json(w, 1));

    for (i = 0; i < AI_RELEASE_NCLASSES; i++) {
        w[i] = ai_release_atomic_load(&slot->total[i]);
    }

    json_object_set_new(o, "totals", ngx_http_ai_release_counts_json(w, 0));

    /* the percentiles from the fine buckets, the counts at the bounds */

    ngx_http_ai_release_latency_load(slot, lat, exported);

    x = json_object();
    buckets = json_array();
    count = 0;

    for (i = 0; i <= AI_RELEASE_LATENCY_EXPORTS; i++) {
        count += exported[i];

        bucket = json_object();
        json_object_set_new(bucket, "le_ms",
                            i == AI_RELEASE_LATENCY_EXPORTS
                            ? json_null()
                            : json_integer(ai_release_latency_export_ms[i]));
        json_object_set_new(bucket, "count", json_integer(exported[i]));
        json_array_append_new(buckets, bucket);
    }

    json_object_set_new(x, "count", json_integer(count));
    json_object_set_new(x, "sum_ms", json_integer(
                            ai_release_atomic_load(&slot->latency_sum_ms)));
    json_object_set_new(x, "p50_ms", json_real(
                            ai_release_latency_quantile(lat, 0.50)));
    json_object_set_new(x, "p95_ms", json_real(
                            ai_release_latency_quantile(lat, 0.95)));
    json_object_set_new(x, "p99_ms", json_real(
                            ai_release_latency_quantile(lat, 0.99)));
    json_object_set_new(x, "buckets", buckets);
    json_object_set_new(o, "latency", x);

    x = ngx_http_ai_release_contract_json(t);

    if (x) {
        json_object_set_new(o, "contract", x);
    }

    x = ngx_http_ai_release_signals_json(t);

    if (x) {
        json_object_set_new(o, "signals", x);
    }

    json_object_set_new(o, "feedback", ngx_http_ai_release_feedback_json(t));

    x = ngx_http_ai_release_shadow_json(t);

    if (x) {
        json_object_set_new(o, "shadow", x);
    }

    return o;
}


/*
 * Where the bundle has an output contract: its mode, the answers judged
 * against it, those that kept it, those that could not be read, and those
 * that broke it by the rule they broke first, every rule named.
 */

static json_t *
ngx_http_ai_release_contract_json(ngx_http_ai_release_target_t *t)
{
    uint64_t    v[AI_RELEASE_CONTRACT_NRULES], unread, checked;
    json_t     *o, *broken;
    ngx_uint_t  i;

    if (ngx_http_ai_release_answers_load(t, v, &unread) != NGX_OK) {
        return NULL;
    }

    o = json_object();
    broken = json_object();
    checked = v[AI_RELEASE_CONTRACT_OK];

    for (i = AI_RELEASE_CONTRACT_OK + 1; i < AI_RELEASE_CONTRACT_NRULES; i++) {
        json_object_set_new(broken, ai_release_contract_rule_name(i),
                            json_integer(v[i]));
        checked += v[i];
    }

    json_object_set_new(o, "mode", json_string(
                            t->bundle->contract->mode
                            == AI_RELEASE_CONTRACT_ENFORCE
                            ? "enforce" : "observe"));
    json_object_set_new(o, "checked", json_integer(checked));
    json_object_set_new(o, "ok", json_integer(v[AI_RELEASE_CONTRACT_OK]));
    json_object_set_new(o, "unread", json_integer(unread));
    json_object_set_new(o, "broken", broken);

    return o;
}


static json_t *
ngx_http_ai_release_counts_json(uint64_t *counts, ngx_uint_t window)
{
    uint64_t    total;
    ngx_uint_t  i;
    json_t     *o;

    o = json_object();
    total = 0;

    for (i = 0; i < AI_RELEASE_NCLASSES; i++) {
        json_object_set_new(o, ai_release_class_name(i),
                            json_integer(counts[i]));

        if (i != AI_RELEASE_REJECTED) {
            /* refused at the edge: not an attempt of the bundle */
            total += counts[i];
        }
    }

    if (!window) {
        json_object_set_new(o, "total", json_integer(total));
        return o;
    }

    json_object_set_new(o, "total",
                        json_integer(counts[AI_RELEASE_CNT_TOTAL]));
    json_object_set_new(o, "errors",
                        json_integer(counts[AI_RELEASE_CNT_ERRORS]));
    json_object_set_new(o, "error_rate", json_real(
        counts[AI_RELEASE_CNT_TOTAL]
        ? (double) counts[AI_RELEASE_CNT_ERRORS] / counts[AI_RELEASE_CNT_TOTAL]
        : 0.0));

    return o;
}
