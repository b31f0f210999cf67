/*
 * Copyright (C) ngx_ai_release authors
 */


#ifndef _NGX_HTTP_AI_RELEASE_MODULE_H_INCLUDED_
#define _NGX_HTTP_AI_RELEASE_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ai_release_core.h"
#include "ai_release_apply.h"
#include "ai_release_contract.h"
#include "ai_release_drift.h"
#include "ai_release_feedback.h"


#define NGX_HTTP_AI_RELEASE_VERSION       "0.2.0"

/* the upstream name that routes through the module's balancer */
#define NGX_HTTP_AI_RELEASE_UPSTREAM      "ai_release"

#define NGX_HTTP_AI_RELEASE_NAME_MAX       128

#define NGX_HTTP_AI_RELEASE_STABLE        0
#define NGX_HTTP_AI_RELEASE_CANARY        1
#define NGX_HTTP_AI_RELEASE_FALLBACK      2
#define NGX_HTTP_AI_RELEASE_SHADOW        3

/* ctx->shadow: the share was drawn for the request, a probe taken, or
 * the request is the shadow's copy */
#define NGX_HTTP_AI_RELEASE_SHADOW_DRAWN    1
#define NGX_HTTP_AI_RELEASE_SHADOW_PROBE    2
#define NGX_HTTP_AI_RELEASE_SHADOW_COPY     3

/* a breaker's answer to a request that would go to its bundle */
#define NGX_HTTP_AI_RELEASE_DENY          0
#define NGX_HTTP_AI_RELEASE_ADMIT         1
#define NGX_HTTP_AI_RELEASE_PROBE         2

#define NGX_HTTP_AI_RELEASE_REASON_WEIGHT   0
#define NGX_HTTP_AI_RELEASE_REASON_STICKY   1
#define NGX_HTTP_AI_RELEASE_REASON_TRIPPED  2
#define NGX_HTTP_AI_RELEASE_REASON_PROBE    3
#define NGX_HTTP_AI_RELEASE_REASON_FAILOVER 4
#define NGX_HTTP_AI_RELEASE_REASON_OVERRIDE 5

/* why a breaker last tripped, after ai_release_trip_e's values */
#define NGX_HTTP_AI_RELEASE_TRIP_PROBE    4
#define NGX_HTTP_AI_RELEASE_TRIP_MANUAL   5
#define NGX_HTTP_AI_RELEASE_TRIP_DRIFT    6
#define NGX_HTTP_AI_RELEASE_TRIP_CORRECTION  7

/* operator overrides of a slot, set through the control API */
#define NGX_HTTP_AI_RELEASE_OVR_ROLLBACK  0
#define NGX_HTTP_AI_RELEASE_OVR_PIN       1
#define NGX_HTTP_AI_RELEASE_OVR_TRIP      2
#define NGX_HTTP_AI_RELEASE_NOVR          3

#define NGX_HTTP_AI_RELEASE_BY_LEN        40

/* slot->restored: the breaker's state came from the state file */
#define NGX_HTTP_AI_RELEASE_RESTORED_BREAKER  (1 << NGX_HTTP_AI_RELEASE_NOVR)

/* breaker states */
#define NGX_HTTP_AI_RELEASE_CLOSED        0
#define NGX_HTTP_AI_RELEASE_OPEN          1
#define NGX_HTTP_AI_RELEASE_HALF_OPEN     2

#define NGX_HTTP_AI_RELEASE_ZONE_NAME     "ai_release"

/* ai_release_eval_gate */
#define NGX_HTTP_AI_RELEASE_GATE_OFF      0
#define NGX_HTTP_AI_RELEASE_GATE_WARN     1
#define NGX_HTTP_AI_RELEASE_GATE_ON       2
#define NGX_HTTP_AI_RELEASE_GATE_REQUIRE  3


typedef struct ngx_http_ai_release_workflow_s  ngx_http_ai_release_workflow_t;
typedef struct ngx_http_ai_release_apply_s     ngx_http_ai_release_apply_t;
typedef struct ngx_http_ai_release_contract_s  ngx_http_ai_release_contract_t;
typedef struct ngx_http_ai_release_signals_s   ngx_http_ai_release_signals_t;
typedef struct ngx_http_ai_release_plan_s      ngx_http_ai_release_plan_t;
typedef struct ngx_http_ai_release_rollout_sh_s
    ngx_http_ai_release_rollout_sh_t;
typedef struct ngx_http_ai_release_shadow_sh_s
    ngx_http_ai_release_shadow_sh_t;


/* a bundle's upstream block and the peer.init its balancer set */
typedef struct {
    ngx_http_upstream_srv_conf_t    *uscf;
    ngx_http_upstream_init_peer_pt   init_peer;
} ngx_http_ai_release_wrap_t;


/*
 * What a bundle's answers said, counted where its bundle checks them (an
 * output contract): a slab chunk of the zone beside the slot, allocated
 * only for those slots.
 */
typedef struct {
    /* by verdict (ai_release_contract_rule_e): [0] kept the contract */
    uint64_t                         contract[AI_RELEASE_CONTRACT_NRULES];
    /* answers that could not be read (a Content-Encoding) */
    uint64_t                         contract_unread;
} ngx_http_ai_release_answers_t;


/*
 * What reviewers said of a bundle's answers (ngx_http_ai_release_feedback.c):
 * a slab chunk of the zone beside every slot, by outcome
 * (ai_release_feedback_outcome_e), since the slot began and in the
 * workflow's trip window.
 */
typedef struct {
    uint64_t                         total[AI_RELEASE_FEEDBACK_NOUTCOMES];
    ai_release_feedback_window_t     window;
} ngx_http_ai_release_feedback_shm_t;


/*
 * The behaviour signals of a bundle's answers over its workflow's window
 * (ngx_http_ai_release_signals.c): a slab chunk of the zone beside the
 * slot, allocated only for the slots of workflows that name their format.
 * Two aggregates take turns: agg[e & 1] counts the answers of window
 * number e (now / window), so the two hold the last full window and the
 * one under way; the older is cleared, under the zone's mutex, by the
 * first answer of a new window.
 */
typedef struct {
    uint64_t                         epoch[2];
    ai_release_drift_agg_t           agg[2];

    /* drift: the last judgement (ngx_current_msec), the canary's
     * answers then, and its breach */
    uint64_t                         judged_ms;
    uint64_t                         judged_n;
    uint64_t                         breached;     /* ai_release_drift_e */
    /* the signal of the last drift trip, and what it showed then */
    uint64_t                         tripped;
    double                           trip_canary;
    double                           trip_stable;
    double                           trip_change;
} ngx_http_ai_release_signals_shm_t;


/*
 * The error budget of one (workflow, bundle digest) in shared memory.
 * Counters change with atomic operations only; the breaker fields change
 * under the zone's mutex and are read without it.
 */
typedef struct {
    /*
     * which allocation this is: a worker of an older configuration may
     * still hold a slot that a reload freed, and must not count into the
     * slot another configuration got in its place
     */
    uint64_t                         serial;

    ai_release_window_t              window;
    uint64_t                         total[AI_RELEASE_NCLASSES];
    /* AI_RELEASE_LATENCY_BUCKETS counts: a slab chunk of the same zone */
    uint64_t                        *latency;
    uint64_t                         latency_sum_ms;
    uint64_t                         consecutive;

    /* what its answers said: a chunk of its own, where a bundle checks */
    ngx_http_ai_release_answers_t   *answers;
    /* its behaviour signals, where its workflow names its format */
    ngx_http_ai_release_signals_shm_t  *signals;
    /* what reviewers said of its answers */
    ngx_http_ai_release_feedback_shm_t  *feedback;

    uint64_t                         state;
    uint64_t                         since_ms;      /* ngx_current_msec */
    uint64_t                         since_sec;     /* wall clock */
    uint64_t                         cooldown_ms;
    uint64_t                         closed_ms;
    uint64_t                         error_ms;      /* last counted error */
    uint64_t                         trips;
    uint64_t                         last_reason;
    uint64_t                         probes_admitted;
    uint64_t                         probes_ok;

    /* overrides: set (1) or not, when (unix time) and by whom */
    uint64_t                         override[NGX_HTTP_AI_RELEASE_NOVR];
    uint64_t                         override_at[NGX_HTTP_AI_RELEASE_NOVR];
    u_char                           override_by[NGX_HTTP_AI_RELEASE_NOVR]
                                                [NGX_HTTP_AI_RELEASE_BY_LEN];

    /* read from the state file at start: a bit per override, the breaker */
    uint64_t                         restored;

    /* a canary's plan: where it stands, a chunk of its own */
    ngx_http_ai_release_rollout_sh_t  *rollout;

    /* a shadow's mirrored requests and pairs, a chunk of its own */
    ngx_http_ai_release_shadow_sh_t   *shadow;
} ngx_http_ai_release_slot_t;


typedef struct {
    ngx_rbtree_node_t                node;
    ngx_http_ai_release_slot_t       slot;
    ngx_uint_t                       mark;        /* the running config's */
    u_char                           digest[AI_RELEASE_SHA256_LEN];
    u_short                          len;
    u_char                           name[NGX_HTTP_AI_RELEASE_NAME_MAX];
} ngx_http_ai_release_node_t;


typedef struct {
    ngx_rbtree_t                     rbtree;
    ngx_rbtree_node_t                sentinel;
    ngx_uint_t                       generation;
    ngx_uint_t                       mark;
    ngx_uint_t                       nslots;
    time_t                           reloaded;
    ngx_uint_t                       loaded;      /* configurations loaded */
    uint64_t                         pins;        /* pin overrides set */
    uint64_t                         serial;

    /* the state file: changes made, and the last change written */
    uint64_t                         state_version;
    uint64_t                         state_written;

    /* the release record (ngx_http_ai_release_history.c) */
    void                            *history;
    /* feedback: the instance's own secret, and ids of slots gone */
    u_char                           feedback_secret[AI_RELEASE_SHA256_LEN];
    uint64_t                         feedback_keyed;
    uint64_t                         feedback_stale;
} ngx_http_ai_release_shctx_t;


typedef struct {
    ngx_str_t                        key;
    ngx_str_t                        value;
    u_char                          *lowcase_key;
    ngx_uint_t                       hash;
} ngx_http_ai_release_header_t;


/*
 * A target: a bundle in the role it plays for one workflow, resolved at
 * configuration time.  The role is stable, canary or fallback; the code
 * and the status JSON call it "variant" (NGX_HTTP_AI_RELEASE_STABLE,
 * _CANARY, _FALLBACK; ngx_http_ai_release_variant_names).  A bundle named
 * in two workflows is two targets, each with a slot of its own.
 */
typedef struct {
    ai_release_bundle_t             *bundle;
    ngx_http_ai_release_workflow_t  *workflow;
    ngx_uint_t                       variant;     /* the role */
    ngx_uint_t                       weight;      /* canary, 0..10000 */
    ngx_uint_t                       edge;        /* canary: range's end */

    ngx_str_t                        id;          /* name@version */
    ngx_str_t                        digest;      /* sha256:<64 hex> */
    ngx_str_t                        digest_short;
    ngx_str_t                        model;
    ngx_str_t                        upstream;
    ngx_str_t                        response_header;

    ngx_http_upstream_srv_conf_t    *uscf;
    ngx_http_upstream_init_peer_pt   init_peer;   /* uscf's own */

    ngx_http_ai_release_header_t    *headers;
    ngx_uint_t                       nheaders;

    /* what it sets in request bodies, where its workflow applies it */
    ai_release_apply_values_t       *apply;

    /* why it may not be pinned: a 0% canary short of its workflow's gate */
    u_char                          *ungated;

    /* the zone of its slot: shm_zone->data is the main configuration */
    ngx_shm_zone_t                  *shm_zone;
    ngx_http_ai_release_slot_t      *slot;        /* set by init_zone */
    uint64_t                         serial;      /* slot->serial then */

    /*
     * slot->latency then: a worker of an older configuration whose slot a
     * reload freed never reads a pointer from freed memory
     */
    uint64_t                        *latency;
    ngx_http_ai_release_answers_t   *answers;     /* slot->answers then */
    ngx_http_ai_release_signals_shm_t  *signals;  /* slot->signals then */

    /* a canary's progressive plan, and slot->rollout then */
    ngx_http_ai_release_plan_t      *plan;
    ngx_http_ai_release_rollout_sh_t  *rollout;

    /* a shadow: slot->shadow then (its share is "weight") */
    ngx_http_ai_release_shadow_sh_t  *shadow;

    u_char                          *file_name;   /* its nginx.conf line */
    ngx_uint_t                       line;
} ngx_http_ai_release_target_t;


/*
 * A workflow: one ai_release_workflow block, which locations name with
 * "ai_release NAME": the bundles in service and their shares of the
 * traffic.  It holds its targets (a stable, weighted canaries, a fallback:
 * its bundles in their roles), how a request is assigned to one (sticky
 * key, canary ranges), when a target's breaker trips (trip, errors) and
 * whether a failed request is retried on another (failover).
 */
struct ngx_http_ai_release_workflow_s {
    ngx_str_t                        name;
    ngx_uint_t                       index;
    uint32_t                         seed;

    ngx_http_complex_value_t        *sticky;
    ngx_str_t                        sticky_header;  /* "$http_x_user_id" */
    ngx_uint_t                       sticky_hash;

    ngx_http_ai_release_target_t    *stable;
    ngx_http_ai_release_target_t    *fallback;
    ngx_array_t                      canaries;    /* of target */
    ngx_uint_t                       plans;       /* canaries with one */
    ngx_uint_t                       canary_total;

    /* shadow traffic: the bundle, and this worker's requests in flight */
    ngx_http_ai_release_target_t    *shadow;
    ngx_uint_t                       shadow_max;
    ngx_uint_t                       shadow_in_flight;

    /* unset ones get their defaults in ngx_http_ai_release_merge_workflow */
    ai_release_trip_conf_t           trip;
    ngx_flag_t                       failover;
    ngx_uint_t                       eval_gate;   /* or the main one's */

    /* the request body: its wire format, what of the bundle is applied */
    ngx_uint_t                       format;      /* AI_RELEASE_FORMAT_* */
    ngx_uint_t                       apply;       /* AI_RELEASE_APPLY_* */
    ai_release_member_t             *apply_names; /* looked for in bodies */
    size_t                           apply_nnames;
    u_char                          *apply_file;
    ngx_uint_t                       apply_line;

    /* behaviour signals (on where format is named) and the drift rule */
    ngx_flag_t                       signals;
    ai_release_drift_conf_t         *drift;
    u_char                          *drift_file;
    ngx_uint_t                       drift_line;

    /* what its X-AI-Release-Id says of it: SHA-256(name), 8 bytes */
    u_char                           feedback_tag[AI_RELEASE_FEEDBACK_TAG_LEN];

    u_char                          *file_name;
    ngx_uint_t                       line;
};


typedef struct ngx_http_ai_release_main_conf_s {
    ai_release_set_t                *set;
    ngx_array_t                      workflows;   /* of workflow pointers */
    ngx_hash_keys_arrays_t          *workflow_keys;
    ngx_hash_t                       workflow_hash;
    ngx_http_upstream_srv_conf_t    *balancer;
    ngx_http_ai_release_wrap_t      *wrap;        /* bundle upstreams */
    ngx_uint_t                       wrap_mask;

    ngx_str_t                        zone_name;
    size_t                           zone_size;
    ngx_uint_t                       nslots;
    ngx_uint_t                       nsignals;    /* slots reading them */
    ngx_uint_t                       nshadows;    /* shadow slots */
    ngx_shm_zone_t                  *shm_zone;
    ngx_slab_pool_t                 *shpool;
    ngx_http_ai_release_shctx_t     *sh;
    ngx_uint_t                       generation;  /* of this config */
    ngx_log_t                       *log;
    ngx_cycle_t                     *cycle;

    ngx_uint_t                       eval_gate;
    size_t                           apply_max_body;
    ngx_str_t                        currency;    /* of bundles' pricing */
    ngx_flag_t                       feedback;    /* a location takes it */

    ngx_str_t                        state_path;  /* ai_release_state */
    ngx_str_t                        state_tmp;
    ngx_str_t                        state_lock;
    ngx_str_t                        state_bad;

    ngx_str_t                        lock_path;
    u_char                          *lock_file;
    ngx_uint_t                       lock_line;

    /* the key of X-AI-Release-Id: ai_release_feedback_secret's or the zone's */
    ngx_flag_t                       feedback_secret;
    ai_release_feedback_key_t        feedback_key;
} ngx_http_ai_release_main_conf_t;


typedef struct {
    ngx_str_t                        workflow_name;
    ngx_http_ai_release_workflow_t  *workflow;
    ngx_flag_t                       response_header;
    u_char                          *file_name;
    ngx_uint_t                       line;

    ngx_flag_t                       api_readonly;
    ngx_str_t                        api_token;   /* token_file= */

    /* failover: the location's upstream conf with the retry conditions */
    ngx_http_upstream_conf_t        *ucf_orig;
    ngx_http_upstream_conf_t        *ucf_failover;
} ngx_http_ai_release_loc_conf_t;


/*
 * A request on a workflow, from the choice of its bundle to the log phase:
 * what was chosen, what happened to each attempt, and what is still to be
 * counted.  Each field is set by one step of the request path (the map at
 * the top of ngx_http_ai_release_module.c).
 */
typedef struct {
    ngx_http_request_t              *request;
    ngx_http_ai_release_workflow_t  *workflow;

    /* choose: the bundle serving the request, and why */
    ngx_http_ai_release_target_t    *target;
    ngx_uint_t                       reason;      /* REASON_* */

    /* a probe of a half-open bundle whose verdict is not yet counted */
    u_char                           probe;

    /* balancer: the "ai_release" balancer took the request */
    u_char                           balanced;

    /* an attempt is under way: its outcome is not yet counted */
    u_char                           attempt_open;

    /* the last attempt ended well enough: the log phase counts it */
    u_char                           verdict_in_log;

    /* the attempt's connection timed out */
    u_char                           timed_out;

    /* the try added for failover, not yet used */
    u_char                           spare_try;

    /* shadow traffic (shadow.c): NGX_HTTP_AI_RELEASE_SHADOW_DRAWN ... */
    u_char                           shadow;

    /* the class of the last attempt counted, plus one (0: none) */
    u_char                           outcome;

    /* the request body, where the workflow applies its bundles */
    ngx_http_ai_release_apply_t     *apply;

    /* the answer, where its bundle has an output contract */
    ngx_http_ai_release_contract_t  *contract;

    /* the answer's behaviour signals, where its workflow reads them */
    ngx_http_ai_release_signals_t   *signals;

    /* reads of an answer the upstream put in a file */
    u_char                          *scratch;

    /* failover: the bundle that failed, and the one to take over */
    ngx_http_ai_release_target_t    *failed;
    ngx_http_ai_release_target_t    *next;

    ngx_msec_t                       start;       /* of the attempt */

    /* the bundle upstream's own balancer */
    void                            *data;
    ngx_event_get_peer_pt            get;
    ngx_event_free_peer_pt           free;
#if (NGX_HTTP_SSL)
    ngx_event_set_peer_session_pt    set_session;
    ngx_event_save_peer_session_pt   save_session;
#endif

    /* how the upstream module finalized the request */
    void                           (*finalize)(ngx_http_request_t *r,
                                               ngx_int_t rc);
    ngx_int_t                        final_rc;
} ngx_http_ai_release_ctx_t;


extern ngx_module_t  ngx_http_ai_release_module;
extern ngx_str_t     ngx_http_ai_release_variant_names[];


char *ngx_http_ai_release_workflow_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_ai_release_init_workflows(ngx_conf_t *cf,
    ngx_http_ai_release_main_conf_t *amcf);
ngx_uint_t ngx_http_ai_release_target_count(ngx_http_ai_release_workflow_t *wf);
ngx_http_ai_release_target_t *ngx_http_ai_release_target_at(
    ngx_http_ai_release_workflow_t *wf, ngx_uint_t i);
ngx_http_ai_release_target_t *ngx_http_ai_release_find_target(
    ngx_http_ai_release_workflow_t *wf, u_char *id, size_t len);
ngx_http_ai_release_workflow_t *ngx_http_ai_release_find_workflow(
    ngx_http_ai_release_main_conf_t *amcf, u_char *name, size_t len);
ngx_http_ai_release_target_t *ngx_http_ai_release_pinned(
    ngx_http_ai_release_workflow_t *wf);
ngx_uint_t ngx_http_ai_release_effective_weight(
    ngx_http_ai_release_target_t *t);

ngx_int_t ngx_http_ai_release_choose_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_ai_release_log_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_ai_release_variables_init(ngx_conf_t *cf);
void ngx_http_ai_release_rejected(ngx_http_ai_release_ctx_t *ctx);

char *ngx_http_ai_release_set_apply(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_ai_release_apply_init_workflow(ngx_conf_t *cf,
    ngx_http_ai_release_workflow_t *wf);
ngx_int_t ngx_http_ai_release_apply_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_ai_release_apply_target(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx, ngx_http_ai_release_target_t *t);
ngx_int_t ngx_http_ai_release_apply_client_model(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx, ngx_str_t *s);
ngx_int_t ngx_http_ai_release_apply_copy(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx);
off_t ngx_http_ai_release_apply_length(ngx_chain_t *cl);
ngx_http_ai_release_target_t *ngx_http_ai_release_target(ngx_conf_t *cf,
    ngx_http_ai_release_workflow_t *wf, ngx_str_t *id, ngx_uint_t variant,
    ngx_http_ai_release_target_t *t);
ngx_uint_t ngx_http_ai_release_shadow_admit(ngx_http_ai_release_target_t *t,
    ngx_log_t *log);

json_t *ngx_http_ai_release_format_error(ngx_uint_t format, const char *type,
    const char *message, const char *code);

ngx_int_t ngx_http_ai_release_contract_init(ngx_conf_t *cf,
    ngx_http_ai_release_main_conf_t *amcf);
ai_release_contract_rule_e ngx_http_ai_release_contract_judge(
    ngx_http_ai_release_ctx_t *ctx);
ngx_uint_t ngx_http_ai_release_contract_class(ngx_http_ai_release_ctx_t *ctx,
    ngx_uint_t cls);
ngx_int_t ngx_http_ai_release_contract_final(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx);
ngx_int_t ngx_http_ai_release_contract_variable(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx, ngx_str_t *s);
int ngx_http_ai_release_contract_verdict(ngx_http_ai_release_ctx_t *ctx);
/* one figure of a bundle's signals, as Prometheus gives it */
typedef struct {
    const char                      *signal;
    const char                      *stat;
    double                           value;
} ngx_http_ai_release_figure_t;

#define NGX_HTTP_AI_RELEASE_FIGURES  13

ngx_int_t ngx_http_ai_release_signals_figures(ngx_http_ai_release_target_t *t,
    ngx_http_ai_release_figure_t *figs, ngx_uint_t *nfigs,
    ai_release_drift_agg_t *a);
ngx_int_t ngx_http_ai_release_signals_compare(ngx_http_ai_release_target_t *t,
    ai_release_drift_signal_t *out);
ngx_uint_t ngx_http_ai_release_signals_applies(ngx_http_ai_release_target_t *t,
    ngx_uint_t signal);
ngx_uint_t ngx_http_ai_release_signals_change_given(ngx_uint_t signal,
    ai_release_drift_signal_t *ds);
char *ngx_http_ai_release_set_drift(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_ai_release_signals_init_workflow(ngx_conf_t *cf,
    ngx_http_ai_release_workflow_t *wf);
json_t *ngx_http_ai_release_signals_json(ngx_http_ai_release_target_t *t);
ngx_int_t ngx_http_ai_release_signals_start(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx);
void ngx_http_ai_release_signals_feed(ngx_http_ai_release_signals_t *sc,
    u_char *p, size_t len);
ngx_uint_t ngx_http_ai_release_signals_active(
    ngx_http_ai_release_signals_t *sc);
void ngx_http_ai_release_signals_end(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx, ngx_uint_t complete);
const ai_release_signals_result_t *ngx_http_ai_release_signals_result(
    ngx_http_ai_release_signals_t *sc);
ngx_int_t ngx_http_ai_release_signals_bind(
    ngx_http_ai_release_main_conf_t *amcf, ngx_http_ai_release_slot_t *slot);
ngx_int_t ngx_http_ai_release_signals_window(ngx_http_ai_release_target_t *t,
    ai_release_drift_agg_t *agg);
ngx_uint_t ngx_http_ai_release_open_breaker(ngx_http_ai_release_target_t *t,
    ngx_uint_t reason);
void ngx_http_ai_release_breaker_opened(ngx_http_ai_release_target_t *t,
    ngx_log_t *log, u_char *why);
ngx_http_ai_release_target_t *ngx_http_ai_release_failover_target(
    ngx_http_ai_release_ctx_t *ctx);
extern ngx_conf_enum_t  ngx_http_ai_release_formats[];
ngx_int_t ngx_http_ai_release_set_headers(ngx_http_request_t *r,
    ngx_http_ai_release_target_t *t);
ngx_int_t ngx_http_ai_release_switch_headers(ngx_http_request_t *r,
    ngx_http_ai_release_target_t *from, ngx_http_ai_release_target_t *to);

ngx_int_t ngx_http_ai_release_init_zone_conf(ngx_conf_t *cf,
    ngx_http_ai_release_main_conf_t *amcf);
char *ngx_http_ai_release_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

ngx_http_ai_release_target_t *ngx_http_ai_release_route(
    ngx_http_ai_release_ctx_t *ctx, ngx_http_ai_release_target_t *t,
    ngx_http_ai_release_target_t *failed);
ngx_http_ai_release_target_t *ngx_http_ai_release_known_good(
    ngx_http_ai_release_target_t *t);
void ngx_http_ai_release_outcome(ngx_http_ai_release_ctx_t *ctx,
    ngx_uint_t cls, ngx_msec_t latency);
ngx_uint_t ngx_http_ai_release_attempt_failed(ngx_http_ai_release_ctx_t *ctx,
    ngx_http_upstream_t *u);
void ngx_http_ai_release_breaker_check(ngx_http_ai_release_target_t *t,
    ngx_log_t *log, ngx_uint_t cls, ngx_uint_t counted, uint64_t consecutive,
    ngx_uint_t probe, uint64_t now);
ngx_table_elt_t *ngx_http_ai_release_header_in(ngx_http_request_t *r,
    u_char *lowcase, size_t len, ngx_uint_t hash);
void ngx_http_ai_release_release_probe(ngx_http_ai_release_target_t *t);
extern ngx_str_t  ngx_http_ai_release_state_names[];

void ngx_http_ai_release_manual_trip(ngx_http_ai_release_target_t *t,
    ngx_log_t *log, u_char *by);
void ngx_http_ai_release_manual_reset(ngx_http_ai_release_target_t *t,
    ngx_log_t *log);

ngx_int_t ngx_http_ai_release_check_gates(ngx_conf_t *cf,
    ngx_http_ai_release_main_conf_t *amcf);
extern ngx_conf_enum_t  ngx_http_ai_release_gate_modes[];
ngx_int_t ngx_http_ai_release_add_variables(ngx_conf_t *cf);

ngx_int_t ngx_http_ai_release_balancer_add(ngx_conf_t *cf,
    ngx_http_ai_release_main_conf_t *amcf);
ngx_int_t ngx_http_ai_release_wrap_upstreams(ngx_conf_t *cf,
    ngx_http_ai_release_main_conf_t *amcf);
ngx_http_upstream_srv_conf_t *ngx_http_ai_release_upstream_add(
    ngx_conf_t *cf, ngx_str_t *name);

char *ngx_http_ai_release_state(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_ai_release_state_restore(ngx_http_ai_release_main_conf_t *amcf,
    ngx_cycle_t *cycle);
void ngx_http_ai_release_state_changed(ngx_http_ai_release_main_conf_t *amcf,
    ngx_log_t *log, ngx_uint_t now);
ngx_int_t ngx_http_ai_release_state_init_process(ngx_cycle_t *cycle);
void ngx_http_ai_release_state_exit_process(ngx_cycle_t *cycle);


/* the class of an answer by its status: 5xx, 429 or ok */

static ngx_inline ngx_uint_t
ngx_http_ai_release_status_class(ngx_uint_t status)
{
    switch (status) {

    case NGX_HTTP_INTERNAL_SERVER_ERROR:
    case NGX_HTTP_BAD_GATEWAY:
    case NGX_HTTP_SERVICE_UNAVAILABLE:
    case NGX_HTTP_GATEWAY_TIME_OUT:
        return AI_RELEASE_5XX;

    case NGX_HTTP_TOO_MANY_REQUESTS:
        return AI_RELEASE_429;

    default:
        return AI_RELEASE_OK;
    }
}


/*
 * Whether a target's slot is still the one its configuration got: a reload
 * may have freed it (and given its memory to another configuration's slot)
 * while a worker of the older configuration still holds the target.
 */

static ngx_inline ngx_uint_t
ngx_http_ai_release_slot_current(ngx_http_ai_release_target_t *t)
{
    return t->slot != NULL
           && ai_release_atomic_load(&t->slot->serial) == t->serial;
}


/*
 * The breaker's verdict on a counted attempt.  Its fast path, inline: a
 * success of a bundle without errors in its window cannot trip anything
 * (the case of nearly every request); a success may complete min_requests
 * too, but no rule trips a bundle without errors.
 */

static ngx_inline void
ngx_http_ai_release_breaker_judge(ngx_http_ai_release_target_t *t,
    ngx_log_t *log, ngx_uint_t cls, ngx_uint_t counted, uint64_t consecutive,
    ngx_uint_t probe, uint64_t now)
{
    if (!probe && !counted
        && now - ai_release_atomic_load(&t->slot->error_ms)
           > t->workflow->trip.window_ms + t->slot->window.width_ms)
    {
        return;
    }

    ngx_http_ai_release_breaker_check(t, log, cls, counted, consecutive,
                                      probe, now);
}


#endif /* _NGX_HTTP_AI_RELEASE_MODULE_H_INCLUDED_ */
