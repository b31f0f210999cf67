/*
 * Copyright (C) ngx_ai_release authors
 *
 * The shared-memory zone: one slot per (workflow, bundle digest), shared by
 * all workers.  A reload reuses the zone: a slot whose digest is unchanged
 * keeps its counters and breaker state, a new digest gets a clean slot.
 * Before the new configuration binds its slots, every slot the running
 * configuration does not use is freed (the workers of older configurations
 * have had a reload's time to finish), so the zone holds at most the
 * running and the new configuration's slots: two generations, which is
 * what the sizing assumes.  A reload that fails leaves nothing behind but
 * the running configuration's slots, and a slot is never freed while the
 * running configuration uses it.
 *
 * A reload that changes the zone's size gets a new zone (nginx maps a
 * zone of another size anew): the slots of the running configuration are
 * then carried over from the old zone, which nginx keeps mapped until the
 * new configuration is initialised, so counters, breakers and overrides
 * survive a resize too.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ai_release_module.h"
#include "ngx_http_ai_release_history.h"
#include "ngx_http_ai_release_rollout.h"
#include "ngx_http_ai_release_shadow.h"
#include "ngx_http_ai_release_feedback.h"


/* room for the zone's own bookkeeping */
#define NGX_HTTP_AI_RELEASE_ZONE_BASE  (64 * 1024)


/*
 * A slot takes a 2 KiB slab chunk for its node (the window is the largest
 * part of it) and a 1 KiB chunk for its latency histogram: 3 KiB of the
 * zone, with room under 4 KiB for more histograms.  A slot whose bundle
 * has an output contract takes a 128-byte chunk more for what its answers
 * said (ngx_http_ai_release_answers_t), and a slot of a workflow that
 * reads behaviour signals a 2 KiB chunk more for them
 * (ngx_http_ai_release_signals_shm_t, allocated by signals.c).
 */
typedef char  ngx_http_ai_release_node_fits_2k_t
                  [sizeof(ngx_http_ai_release_node_t) <= 2048 ? 1 : -1];
typedef char  ngx_http_ai_release_latency_fits_1k_t
                  [AI_RELEASE_LATENCY_SIZE <= 1024 ? 1 : -1];
typedef char  ngx_http_ai_release_answers_fit_128_t
                  [sizeof(ngx_http_ai_release_answers_t) <= 128 ? 1 : -1];
typedef char  ngx_http_ai_release_signals_fit_2k_t
                  [sizeof(ngx_http_ai_release_signals_shm_t) <= 2048 ? 1 : -1];


static ngx_int_t ngx_http_ai_release_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_ai_release_bind_all(
    ngx_http_ai_release_main_conf_t *amcf, ngx_http_ai_release_shctx_t *from,
    ngx_uint_t *carried);
static ngx_int_t ngx_http_ai_release_bind(ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_shctx_t *from, ngx_http_ai_release_workflow_t *wf,
    ngx_http_ai_release_target_t *t);
static ngx_http_ai_release_node_t *ngx_http_ai_release_lookup(
    ngx_http_ai_release_shctx_t *sh, ngx_uint_t hash, ngx_str_t *name,
    u_char *digest);
static void ngx_http_ai_release_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static void ngx_http_ai_release_free_slots(
    ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_main_conf_t *running);
static ngx_int_t ngx_http_ai_release_init_sh(ngx_shm_zone_t *shm_zone,
    ngx_http_ai_release_main_conf_t *amcf);
static ngx_http_ai_release_main_conf_t *ngx_http_ai_release_resized_from(
    ngx_http_ai_release_main_conf_t *amcf);
static void ngx_http_ai_release_carry_over(ngx_http_ai_release_slot_t *to,
    ngx_http_ai_release_slot_t *from);
static void ngx_http_ai_release_mark_running(
    ngx_http_ai_release_main_conf_t *running, ngx_uint_t mark);
static size_t ngx_http_ai_release_zone_need(ngx_uint_t nslots,
    ngx_uint_t nsignals, ngx_uint_t nshadows);


char *
ngx_http_ai_release_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ai_release_main_conf_t *amcf = conf;

    ssize_t     size;
    ngx_str_t  *value;

    if (amcf->zone_name.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (!ai_release_valid_name((char *) value[1].data, value[1].len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone name \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", &value[1]);
        return NGX_CONF_ERROR;
    }

    amcf->zone_name = value[1];
    amcf->zone_size = size;

    return NGX_CONF_OK;
}


/*
 * The zone a number of slots needs: what a slot holds (its node, its
 * latency histogram, its feedback chunk and, counted for every slot, the
 * answers' chunk) times a margin for the slab allocator's rounding and
 * page headers, plus room for the zone's own bookkeeping.
 *
 * The margin was measured, not derived from the allocator's layout: the
 * benchmark's scale phase (bench/run, 10,000 workflows of 3 bundles) reads
 * the zone's "used" bytes from the status JSON (free pages counted by the
 * slab allocator) and divides by the slots: 3,098 bytes per slot for 2,744
 * bytes of node and histogram, a ratio of 1.13; 5/4 leaves room for a
 * change of either size.  t/14 and t/42 check that a zone of the size
 * "nginx -t" names holds the slots of two configurations.
 */

#define NGX_HTTP_AI_RELEASE_SLOT_BYTES                                       \
    ((sizeof(ngx_http_ai_release_node_t) + AI_RELEASE_LATENCY_SIZE           \
      + sizeof(ngx_http_ai_release_answers_t)                               \
      + sizeof(ngx_http_ai_release_feedback_shm_t)) * 5 / 4)

/* a shadow's slot: its mirrored requests and pairs, a chunk more */
#define NGX_HTTP_AI_RELEASE_SHADOW_BYTES                                     \
    (sizeof(ngx_http_ai_release_shadow_sh_t) * 5 / 4)

/* a slot whose workflow reads behaviour signals: a 2 KiB chunk more */
#define NGX_HTTP_AI_RELEASE_SIGNALS_BYTES                                    \
    (sizeof(ngx_http_ai_release_signals_shm_t) * 5 / 4)

static size_t
ngx_http_ai_release_zone_need(ngx_uint_t nslots, ngx_uint_t nsignals,
    ngx_uint_t nshadows)
{
    return NGX_HTTP_AI_RELEASE_ZONE_BASE
           + nslots * NGX_HTTP_AI_RELEASE_SLOT_BYTES
           + nsignals * NGX_HTTP_AI_RELEASE_SIGNALS_BYTES
           + nshadows * NGX_HTTP_AI_RELEASE_SHADOW_BYTES;
}


/*
 * The room of the zone beyond what two configurations' slots need: what
 * the release record (ngx_http_ai_release_history.c) may take, so that it
 * never leaves a reload without room for its slots
 */

size_t
ngx_http_ai_release_zone_spare(ngx_http_ai_release_main_conf_t *amcf)
{
    size_t  need;

    need = ngx_http_ai_release_zone_need(2 * amcf->nslots,
                                         2 * amcf->nsignals,
                                         2 * amcf->nshadows);

    return amcf->zone_size > need ? amcf->zone_size - need : 0;
}


ngx_int_t
ngx_http_ai_release_init_zone_conf(ngx_conf_t *cf,
    ngx_http_ai_release_main_conf_t *amcf)
{
    size_t                           need, size;
    ngx_uint_t                       i, n, nslots, nsignals, nshadows;
    ngx_http_ai_release_workflow_t **wfp;

    if (amcf->workflows.nelts == 0) {
        return NGX_OK;
    }

    wfp = amcf->workflows.elts;
    nslots = 0;
    nsignals = 0;
    nshadows = 0;

    for (i = 0; i < amcf->workflows.nelts; i++) {
        n = ngx_http_ai_release_target_count(wfp[i]);
        nslots += n;
        nsignals += wfp[i]->signals ? n : 0;
        nshadows += wfp[i]->shadow ? 1 : 0;
    }

    amcf->nslots = nslots;
    amcf->nsignals = nsignals;
    amcf->nshadows = nshadows;
    need = ngx_http_ai_release_zone_need(nslots, nsignals, nshadows);

    if (amcf->zone_name.data) {
        if (amcf->zone_size < need) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "ai_release_zone \"%V\" of %uz bytes is too small "
                          "for %ui slots (%ui workflows): it needs at least "
                          "%uzk, and %uzk to keep room for a reload that "
                          "gives every bundle a new digest",
                          &amcf->zone_name, amcf->zone_size, nslots,
                          amcf->workflows.nelts, (need + 1023) / 1024,
                          (ngx_http_ai_release_zone_need(2 * nslots,
                                                         2 * nsignals,
                                                         2 * nshadows)
                           + 1023)
                          / 1024);
            return NGX_ERROR;
        }

        size = amcf->zone_size;

    } else {
        /*
         * room for twice the slots (a reload keeps the previous slots for
         * a while), rounded up to a power of two so that a small change of
         * the configuration keeps the same size and so the same zone
         */

        need = ngx_http_ai_release_zone_need(2 * nslots, 2 * nsignals,
                                             2 * nshadows);

        for (size = 1024 * 1024; size < need; size *= 2) {
            /* void */
        }

        ngx_str_set(&amcf->zone_name, NGX_HTTP_AI_RELEASE_ZONE_NAME);
        amcf->zone_size = size;
    }

    amcf->shm_zone = ngx_shared_memory_add(cf, &amcf->zone_name, size,
                                           &ngx_http_ai_release_module);
    if (amcf->shm_zone == NULL) {
        return NGX_ERROR;
    }

    if (amcf->shm_zone->data) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "ai_release zone \"%V\" is already used",
                      &amcf->zone_name);
        return NGX_ERROR;
    }

    amcf->shm_zone->init = ngx_http_ai_release_init_zone;
    amcf->shm_zone->data = amcf;
    amcf->log = cf->log;
    amcf->cycle = cf->cycle;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ai_release_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_ai_release_main_conf_t  *oamcf = data;

    ngx_int_t                         rc;
    ngx_uint_t                        carried;
    ngx_http_ai_release_main_conf_t  *amcf, *from;

    amcf = shm_zone->data;
    from = NULL;

    if (oamcf) {
        amcf->sh = oamcf->sh;
        amcf->shpool = oamcf->shpool;

    } else {
        if (ngx_http_ai_release_init_sh(shm_zone, amcf) != NGX_OK) {
            return NGX_ERROR;
        }

        /* a resize: the running configuration's zone, still mapped */
        from = ngx_http_ai_release_resized_from(amcf);
    }

    ngx_shmtx_lock(&amcf->shpool->mutex);

    /*
     * first free what the running configuration does not use: the slots
     * of older configurations and of refused reloads; then the zone needs
     * room for two configurations' slots, never three
     */

    ngx_http_ai_release_free_slots(amcf, oamcf);

    if (from) {
        ngx_shmtx_lock(&from->shpool->mutex);

        amcf->sh->generation = from->sh->generation;
        amcf->sh->loaded = from->sh->loaded;
        amcf->sh->serial = from->sh->serial;
    }

    amcf->sh->generation++;
    amcf->generation = amcf->sh->generation;

    rc = ngx_http_ai_release_bind_all(amcf, from ? from->sh : NULL,
                                      &carried);

    if (rc == NGX_OK) {
        /* what changed since the running configuration: log and record */
        rc = ngx_http_ai_release_history_init(amcf, oamcf ? oamcf : from,
                                              from);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_ai_release_feedback_init_zone(amcf,
                                                    from ? from->sh : NULL);
    }

    if (from) {
        ngx_shmtx_unlock(&from->shpool->mutex);
    }

    if (rc == NGX_OK) {
        amcf->sh->reloaded = ngx_time();
        amcf->sh->loaded++;

    } else {
        /* a refused configuration leaves only the running one's slots */
        ngx_http_ai_release_free_slots(amcf, oamcf);
    }

    ngx_shmtx_unlock(&amcf->shpool->mutex);

    if (rc == NGX_OK && oamcf == NULL && from == NULL) {
        /* no old data: the decisions of the state file, if any */
        ngx_http_ai_release_state_restore(amcf, amcf->cycle);
    }

    if (from && rc == NGX_OK) {
        ngx_log_error(NGX_LOG_NOTICE, amcf->log, 0,
                      "ai_release zone \"%V\" resized from %uz to %uz "
                      "bytes: %ui slots carried over with their counters, "
                      "breakers and overrides", &amcf->zone_name,
                      from->shm_zone->shm.size, shm_zone->shm.size,
                      carried);
    }

    return rc;
}


static ngx_int_t
ngx_http_ai_release_init_sh(ngx_shm_zone_t *shm_zone,
    ngx_http_ai_release_main_conf_t *amcf)
{
    size_t            len;
    ngx_slab_pool_t  *shpool;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    amcf->shpool = shpool;

    if (shm_zone->shm.exists) {
        amcf->sh = shpool->data;
        return NGX_OK;
    }

    amcf->sh = ngx_slab_alloc(shpool, sizeof(ngx_http_ai_release_shctx_t));
    if (amcf->sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = amcf->sh;

    ngx_rbtree_init(&amcf->sh->rbtree, &amcf->sh->sentinel,
                    ngx_http_ai_release_rbtree_insert_value);

    amcf->sh->generation = 0;
    amcf->sh->nslots = 0;

    len = sizeof(" in ai_release zone \"\"") + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in ai_release zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* running out of slots is reported with its cause, below */
    shpool->log_nomem = 0;

    return NGX_OK;
}


/*
 * A new zone while a configuration runs: its zone had another size (or
 * name), so nginx mapped a new one.  The running configuration's zone is
 * this module's zone in the old cycle; nginx unmaps it only after the new
 * cycle is initialised.
 */

static ngx_http_ai_release_main_conf_t *
ngx_http_ai_release_resized_from(ngx_http_ai_release_main_conf_t *amcf)
{
    ngx_uint_t        i;
    ngx_cycle_t      *old;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *zone;

    old = amcf->cycle ? amcf->cycle->old_cycle : NULL;

    if (old == NULL || old->shared_memory.part.elts == NULL) {
        return NULL;
    }

    part = &old->shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            zone = part->elts;
            i = 0;
        }

        if (zone[i].tag == &ngx_http_ai_release_module
            && zone[i].data && zone[i].shm.addr)
        {
            amcf = zone[i].data;

            return amcf->sh ? amcf : NULL;
        }
    }
}


/*
 * Every target of the configuration gets its slot; from is the zone of
 * another size the running configuration used (NULL but on a resize), and
 * *carried counts the slots copied from it.
 */

static ngx_int_t
ngx_http_ai_release_bind_all(ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_shctx_t *from, ngx_uint_t *carried)
{
    ngx_int_t                         rc;
    ngx_uint_t                        i, j;
    ngx_http_ai_release_target_t     *t, *c;
    ngx_http_ai_release_workflow_t  **wfp, *wf;

    *carried = 0;
    wfp = amcf->workflows.elts;

    for (i = 0; i < amcf->workflows.nelts; i++) {
        wf = wfp[i];
        c = wf->canaries.elts;

        /* stable first, then the fallback, then the canaries, the shadow */

        for (j = 0; j < 3 + wf->canaries.nelts; j++) {
            t = (j == 0) ? wf->stable
                : (j == 1) ? wf->fallback
                : (j == 2 + wf->canaries.nelts) ? wf->shadow : &c[j - 2];

            if (t == NULL) {
                continue;
            }

            rc = ngx_http_ai_release_bind(amcf, from, wf, t);

            if (rc == NGX_ERROR) {
                return NGX_ERROR;
            }

            if (rc == NGX_DONE) {
                (*carried)++;
            }
        }
    }

    return NGX_OK;
}


/* NGX_DONE: the slot was carried over from the old zone */

static ngx_int_t
ngx_http_ai_release_bind(ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_shctx_t *from, ngx_http_ai_release_workflow_t *wf,
    ngx_http_ai_release_target_t *t)
{
    uint32_t                     hash;
    uint64_t                       *latency;
    ngx_int_t                       rc;
    ngx_http_ai_release_node_t     *node, *old;
    ngx_http_ai_release_answers_t  *answers;
    ngx_http_ai_release_slot_t  *slot;

    rc = NGX_OK;
    old = NULL;
    hash = ai_release_hash32(wf->seed, t->bundle->digest,
                             AI_RELEASE_SHA256_LEN);

    node = ngx_http_ai_release_lookup(amcf->sh, hash, &wf->name,
                                      t->bundle->digest);

    if (node == NULL) {
        node = ngx_slab_alloc_locked(amcf->shpool,
                                     sizeof(ngx_http_ai_release_node_t));
        latency = NULL;

        if (node) {
            latency = ngx_slab_alloc_locked(amcf->shpool,
                                            AI_RELEASE_LATENCY_SIZE);
            if (latency == NULL) {
                ngx_slab_free_locked(amcf->shpool, node);
            }
        }

        answers = NULL;

        if (latency && t->bundle->contract) {
            answers = ngx_slab_alloc_locked(amcf->shpool,
                                            sizeof(ngx_http_ai_release_answers_t));
            if (answers == NULL) {
                ngx_slab_free_locked(amcf->shpool, latency);
                ngx_slab_free_locked(amcf->shpool, node);
                latency = NULL;

            } else {
                ngx_memzero(answers, sizeof(ngx_http_ai_release_answers_t));
            }
        }

        if (latency == NULL) {
            ngx_log_error(NGX_LOG_EMERG, amcf->log, 0,
                          "ai_release zone \"%V\" is full: no room for the "
                          "slot of bundle \"%V\" in workflow \"%V\" "
                          "(%ui slots in use); give it more room with "
                          "\"ai_release_zone %V SIZE;\"", &amcf->zone_name,
                          &t->id, &wf->name, amcf->sh->nslots,
                          &amcf->zone_name);
            return NGX_ERROR;
        }

        ngx_memzero(node, sizeof(ngx_http_ai_release_node_t));
        ngx_memzero(latency, AI_RELEASE_LATENCY_SIZE);

        node->node.key = hash;
        ngx_memcpy(node->digest, t->bundle->digest, AI_RELEASE_SHA256_LEN);
        node->len = (u_short) wf->name.len;
        ngx_memcpy(node->name, wf->name.data, wf->name.len);

        slot = &node->slot;
        slot->latency = latency;
        slot->answers = answers;

        old = from ? ngx_http_ai_release_lookup(from, hash, &wf->name,
                                                t->bundle->digest)
                   : NULL;

        if (old) {
            ngx_http_ai_release_carry_over(slot, &old->slot);
            rc = NGX_DONE;

        } else {
            ai_release_window_init(&slot->window, wf->trip.window_ms);
            slot->state = NGX_HTTP_AI_RELEASE_CLOSED;
            slot->since_ms = ngx_current_msec;
            slot->since_sec = ngx_time();
        }

        slot->serial = ++amcf->sh->serial;

        ngx_rbtree_insert(&amcf->sh->rbtree, &node->node);
        amcf->sh->nslots++;

        if (slot->override[NGX_HTTP_AI_RELEASE_OVR_PIN]) {
            ai_release_atomic_add(&amcf->sh->pins, 1);
        }
    }

    slot = &node->slot;

    if (wf->signals
        && ngx_http_ai_release_signals_bind(amcf, slot) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, amcf->log, 0,
                      "ai_release zone \"%V\" is full: no room for the "
                      "behaviour signals of bundle \"%V\" in workflow "
                      "\"%V\"; give it more room with "
                      "\"ai_release_zone %V SIZE;\"", &amcf->zone_name,
                      &t->id, &wf->name, &amcf->zone_name);
        return NGX_ERROR;
    }

    if (ngx_http_ai_release_feedback_bind(amcf, slot, old ? &old->slot : NULL,
                                          wf->trip.window_ms)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, amcf->log, 0,
                      "ai_release zone \"%V\" is full: no room for the "
                      "feedback counts of bundle \"%V\" in workflow \"%V\"; "
                      "give it more room with \"ai_release_zone %V SIZE;\"",
                      &amcf->zone_name, &t->id, &wf->name, &amcf->zone_name);
        return NGX_ERROR;
    }

    if (old && old->slot.signals && slot->signals) {
        ngx_memcpy(slot->signals, old->slot.signals,
                   sizeof(ngx_http_ai_release_signals_shm_t));
    }

    if (slot->window.width_ms
        != ngx_max(wf->trip.window_ms / AI_RELEASE_WINDOW_BUCKETS, 1))
    {
        /* another window length: the old buckets mean nothing now */
        ai_release_window_init(&slot->window, wf->trip.window_ms);
    }

    if (t->ungated && slot->override[NGX_HTTP_AI_RELEASE_OVR_PIN]) {
        ai_release_atomic_store(&slot->override[NGX_HTTP_AI_RELEASE_OVR_PIN],
                                0);
        ai_release_atomic_add(&amcf->sh->pins, (uint64_t) -1);

        ngx_log_error(NGX_LOG_WARN, amcf->log, 0,
                      "ai_release: workflow \"%V\": the pin on bundle "
                      "\"%V\" is dropped: %s", &wf->name, &t->id,
                      t->ungated);
    }

    t->shm_zone = amcf->shm_zone;
    t->slot = slot;

    if (ngx_http_ai_release_rollout_bind(amcf, t, slot) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_ai_release_shadow_bind(amcf, t, slot) != NGX_OK) {
        return NGX_ERROR;
    }

    t->serial = slot->serial;
    t->latency = slot->latency;
    t->answers = slot->answers;
    t->signals = wf->signals ? slot->signals : NULL;

    return rc;
}


/*
 * A slot of the old zone into the new one: all of it but its serial, and
 * the counts of its latency histogram into the new slot's own chunk (the
 * old one goes with the old zone).  The old zone's workers may still
 * count into it; what they count from now on stays there.
 */

static void
ngx_http_ai_release_carry_over(ngx_http_ai_release_slot_t *to,
    ngx_http_ai_release_slot_t *from)
{
    uint64_t                       *latency;
    ngx_http_ai_release_answers_t  *answers;

    latency = to->latency;
    answers = to->answers;

    /* signals are carried where the new slot gets a chunk for them */
    ngx_memcpy(to, from, sizeof(ngx_http_ai_release_slot_t));
    to->signals = NULL;
    ngx_memcpy(latency, from->latency, AI_RELEASE_LATENCY_SIZE);

    if (answers && from->answers) {
        ngx_memcpy(answers, from->answers,
                   sizeof(ngx_http_ai_release_answers_t));
    }

    to->latency = latency;
    to->answers = answers;
}


static ngx_http_ai_release_node_t *
ngx_http_ai_release_lookup(ngx_http_ai_release_shctx_t *sh, ngx_uint_t hash,
    ngx_str_t *name, u_char *digest)
{
    ngx_int_t                    rc;
    ngx_rbtree_node_t           *node, *sentinel;
    ngx_http_ai_release_node_t  *n;

    node = sh->rbtree.root;
    sentinel = sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        /* hash == node->key */

        n = (ngx_http_ai_release_node_t *) node;

        rc = ngx_memcmp(digest, n->digest, AI_RELEASE_SHA256_LEN);

        if (rc == 0) {
            rc = ngx_memn2cmp(name->data, n->name, name->len, n->len);
        }

        if (rc == 0) {
            return n;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_ai_release_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_int_t                    rc;
    ngx_rbtree_node_t          **p;
    ngx_http_ai_release_node_t  *n, *nt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            n = (ngx_http_ai_release_node_t *) node;
            nt = (ngx_http_ai_release_node_t *) temp;

            rc = ngx_memcmp(n->digest, nt->digest, AI_RELEASE_SHA256_LEN);

            if (rc == 0) {
                rc = ngx_memn2cmp(n->name, nt->name, n->len, nt->len);
            }

            p = (rc < 0) ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/*
 * Frees every slot the running configuration (NULL at the first start)
 * does not use: those of older configurations, whose workers have had a
 * reload's time to finish, and those a refused configuration made.  A
 * worker that still holds a freed slot sees its serial change and stops
 * counting into it.
 */

static void
ngx_http_ai_release_free_slots(ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_main_conf_t *running)
{
    ngx_uint_t                   mark;
    ngx_rbtree_node_t           *node, *next, *sentinel;
    ngx_http_ai_release_node_t  *n;
    ngx_http_ai_release_shctx_t *sh;

    sh = amcf->sh;
    sentinel = sh->rbtree.sentinel;

    if (sh->rbtree.root == sentinel) {
        return;
    }

    mark = ++sh->mark;

    if (running) {
        ngx_http_ai_release_mark_running(running, mark);
    }

    node = ngx_rbtree_min(sh->rbtree.root, sentinel);

    while (node) {
        next = ngx_rbtree_next(&sh->rbtree, node);
        n = (ngx_http_ai_release_node_t *) node;

        if (n->mark != mark) {
            if (n->slot.override[NGX_HTTP_AI_RELEASE_OVR_PIN]) {
                ai_release_atomic_add(&sh->pins, (uint64_t) -1);
            }

            ngx_rbtree_delete(&sh->rbtree, node);
            ai_release_atomic_store(&n->slot.serial, 0);
            ngx_slab_free_locked(amcf->shpool, n->slot.latency);

            if (n->slot.answers) {
                ngx_slab_free_locked(amcf->shpool, n->slot.answers);
            }

            if (n->slot.signals) {
                ngx_slab_free_locked(amcf->shpool, n->slot.signals);
            }
            ngx_http_ai_release_rollout_free(amcf, &n->slot);

            if (n->slot.shadow) {
                ngx_slab_free_locked(amcf->shpool, n->slot.shadow);
            }

            if (n->slot.feedback) {
                ngx_slab_free_locked(amcf->shpool, n->slot.feedback);
            }

            ngx_slab_free_locked(amcf->shpool, n);
            sh->nslots--;
        }

        node = next;
    }
}


static void
ngx_http_ai_release_mark_running(ngx_http_ai_release_main_conf_t *running,
    ngx_uint_t mark)
{
    ngx_uint_t                       i, j, n;
    ngx_http_ai_release_node_t      *node;
    ngx_http_ai_release_target_t    *t;
    ngx_http_ai_release_workflow_t **wfp;

    wfp = running->workflows.elts;

    for (i = 0; i < running->workflows.nelts; i++) {
        n = ngx_http_ai_release_target_count(wfp[i]);

        for (j = 0; j < n; j++) {
            t = ngx_http_ai_release_target_at(wfp[i], j);

            if (t->slot == NULL) {
                continue;
            }

            node = (ngx_http_ai_release_node_t *)
                       ((u_char *) t->slot
                        - offsetof(ngx_http_ai_release_node_t, slot));
            node->mark = mark;
        }
    }
}
