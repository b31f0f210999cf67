
/*
 * Copyright (C) ngx_ai_release authors
 *
 * The release record.  At every configuration load the zone's init
 * compares each workflow with the running configuration's, whose parsed
 * bundles are still in memory (nginx frees the old cycle only after the
 * new one is initialised), and for each workflow whose bundles or weights
 * changed logs one notice line saying what, component by component
 * (ai_release_diff.c), e.g.
 *
 *   workflow "support-drafts": canary support-drafts@4 -> @5: model
 *   gpt-x -> gpt-y, prompt.file changed, retrieval.top_k 8 -> 12;
 *   weight 5% -> 1%
 *
 * and keeps it as a record: when, who (reload, or api:VERB for an action
 * of the control API), what, and the digests before and after.  Each
 * workflow has a ring of the last NGX_HTTP_AI_RELEASE_HISTORY_N records
 * in the shared zone, allocated at its first record and kept across
 * reloads while the running or the new configuration has the workflow,
 * like the slots.  The rings take only the zone's room beyond what two
 * configurations' slots need (ngx_http_ai_release_zone_spare()): without
 * it, the notice is still logged, the record is not kept.  A start (no
 * running configuration) says nothing: a new zone knows nothing to
 * compare with.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ai_release_module.h"
#include "ngx_http_ai_release_display_json.h"
#include "ngx_http_ai_release_history.h"
#include "ngx_http_ai_release_rollout.h"
#include "ai_release_diff.h"


/* the text of one load's changes of a workflow, as logged */
#define NGX_HTTP_AI_RELEASE_HISTORY_LINE     2048

/* canaries matched one to one across a reload; more are new or gone */
#define NGX_HTTP_AI_RELEASE_HISTORY_MATCH    64


typedef struct {
    u_char                                variant;
    u_char                                digest[AI_RELEASE_SHA256_LEN];
} ngx_http_ai_release_history_digest_t;


typedef struct {
    time_t                                time;
    u_short                               len;
    u_char                                nbefore;
    u_char                                nafter;
    u_char                                who[NGX_HTTP_AI_RELEASE_HISTORY_WHO];
    ngx_http_ai_release_history_digest_t  before
                                          [NGX_HTTP_AI_RELEASE_HISTORY_DIGESTS];
    ngx_http_ai_release_history_digest_t  after
                                          [NGX_HTTP_AI_RELEASE_HISTORY_DIGESTS];
    u_char                                text
                                          [NGX_HTTP_AI_RELEASE_HISTORY_TEXT];
} ngx_http_ai_release_record_t;


/* a workflow's ring: the newest record is records[(count - 1) % N] */
typedef struct {
    ngx_str_node_t                        sn;
    ngx_uint_t                            mark;
    ngx_uint_t                            count;      /* records ever */
    u_char                                name[NGX_HTTP_AI_RELEASE_NAME_MAX];
    ngx_http_ai_release_record_t          records
                                          [NGX_HTTP_AI_RELEASE_HISTORY_N];
} ngx_http_ai_release_history_node_t;


typedef struct {
    ngx_rbtree_t                          rbtree;
    ngx_rbtree_node_t                     sentinel;
    ngx_uint_t                            mark;
    size_t                                bytes;      /* of the rings */
} ngx_http_ai_release_history_sh_t;


/* a ring takes whole pages of the slab allocator */
#define NGX_HTTP_AI_RELEASE_HISTORY_RING                                     \
    ngx_align(sizeof(ngx_http_ai_release_history_node_t), ngx_pagesize)


static void ngx_http_ai_release_history_carry(
    ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_history_sh_t *hs,
    ngx_http_ai_release_history_sh_t *old);
static void ngx_http_ai_release_history_sweep(
    ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_history_sh_t *hs,
    ngx_http_ai_release_main_conf_t *prev);
static void ngx_http_ai_release_history_mark(
    ngx_http_ai_release_history_sh_t *hs,
    ngx_http_ai_release_main_conf_t *conf, ngx_uint_t mark);
static void ngx_http_ai_release_history_reload(
    ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_history_sh_t *hs, ngx_http_ai_release_workflow_t *pwf,
    ngx_http_ai_release_workflow_t *wf);
static u_char *ngx_http_ai_release_history_canaries(u_char *p, u_char *last,
    u_char *start, ngx_http_ai_release_workflow_t *pwf,
    ngx_http_ai_release_workflow_t *wf);
static u_char *ngx_http_ai_release_history_target(u_char *p, u_char *last,
    u_char *start, ngx_http_ai_release_target_t *from,
    ngx_http_ai_release_target_t *to);
static u_char *ngx_http_ai_release_history_weight(u_char *p, u_char *last,
    ngx_uint_t weight);
static u_char *ngx_http_ai_release_history_plan(u_char *p, u_char *last,
    ngx_http_ai_release_plan_t *plan);
static ngx_http_ai_release_history_node_t *ngx_http_ai_release_history_find(
    ngx_http_ai_release_history_sh_t *hs, ngx_str_t *name);
static ngx_http_ai_release_history_node_t *ngx_http_ai_release_history_alloc(
    ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_history_sh_t *hs, ngx_str_t *name, ngx_log_t *log);
static void ngx_http_ai_release_history_push(
    ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_history_sh_t *hs, const char *who, u_char *text,
    size_t len, ngx_http_ai_release_workflow_t *pwf,
    ngx_http_ai_release_workflow_t *wf, ngx_log_t *log);
static u_char ngx_http_ai_release_history_digests(
    ngx_http_ai_release_history_digest_t *d,
    ngx_http_ai_release_workflow_t *wf);
static json_t *ngx_http_ai_release_history_digests_json(
    ngx_http_ai_release_history_digest_t *d, ngx_uint_t n);


ngx_int_t
ngx_http_ai_release_history_init(ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_main_conf_t *prev,
    ngx_http_ai_release_main_conf_t *from)
{
    ngx_uint_t                         i;
    ngx_http_ai_release_workflow_t   **wfp, *pwf;
    ngx_http_ai_release_history_sh_t  *hs;

    hs = amcf->sh->history;

    if (hs == NULL) {
        hs = ngx_slab_calloc_locked(amcf->shpool,
                                    sizeof(ngx_http_ai_release_history_sh_t));
        if (hs == NULL) {
            ngx_log_error(NGX_LOG_EMERG, amcf->log, 0,
                          "ai_release zone \"%V\" is full: no room for the "
                          "release record", &amcf->zone_name);
            return NGX_ERROR;
        }

        ngx_rbtree_init(&hs->rbtree, &hs->sentinel,
                        ngx_str_rbtree_insert_value);

        amcf->sh->history = hs;

        if (from && from->sh->history) {
            /* a resized zone: the records of the running one come too */
            ngx_http_ai_release_history_carry(amcf, hs, from->sh->history);
        }
    }

    ngx_http_ai_release_history_sweep(amcf, hs, from ? NULL : prev);

    if (prev == NULL) {
        return NGX_OK;
    }

    wfp = amcf->workflows.elts;

    for (i = 0; i < amcf->workflows.nelts; i++) {
        pwf = ngx_http_ai_release_find_workflow(prev, wfp[i]->name.data,
                                                wfp[i]->name.len);

        ngx_http_ai_release_history_reload(amcf, hs, pwf, wfp[i]);
    }

    wfp = prev->workflows.elts;

    for (i = 0; i < prev->workflows.nelts; i++) {
        if (ngx_http_ai_release_find_workflow(amcf, wfp[i]->name.data,
                                              wfp[i]->name.len)
            == NULL)
        {
            ngx_log_error(NGX_LOG_NOTICE, amcf->log, 0,
                          "ai_release: workflow \"%V\": removed",
                          &wfp[i]->name);
        }
    }

    return NGX_OK;
}


/* the rings of the new configuration's workflows, from the old zone */

static void
ngx_http_ai_release_history_carry(ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_history_sh_t *hs,
    ngx_http_ai_release_history_sh_t *old)
{
    ngx_uint_t                           i;
    ngx_http_ai_release_workflow_t     **wfp;
    ngx_http_ai_release_history_node_t  *node, *on;

    wfp = amcf->workflows.elts;

    for (i = 0; i < amcf->workflows.nelts; i++) {
        on = ngx_http_ai_release_history_find(old, &wfp[i]->name);

        if (on == NULL) {
            continue;
        }

        node = ngx_http_ai_release_history_alloc(amcf, hs, &wfp[i]->name,
                                                 amcf->log);
        if (node == NULL) {
            continue;
        }

        ngx_memcpy(node->records, on->records, sizeof(on->records));
        node->count = on->count;
    }
}


/*
 * Frees the rings of workflows that neither the new configuration nor
 * the running one (prev, NULL at a start or in another zone) has: a
 * worker reads a ring only by name and under the mutex, so no one holds
 * a freed one
 */

static void
ngx_http_ai_release_history_sweep(ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_history_sh_t *hs,
    ngx_http_ai_release_main_conf_t *prev)
{
    ngx_uint_t                           mark;
    ngx_rbtree_node_t                   *node, *next, *sentinel;
    ngx_http_ai_release_history_node_t  *hn;

    sentinel = hs->rbtree.sentinel;

    if (hs->rbtree.root == sentinel) {
        return;
    }

    mark = ++hs->mark;

    ngx_http_ai_release_history_mark(hs, amcf, mark);

    if (prev) {
        ngx_http_ai_release_history_mark(hs, prev, mark);
    }

    node = ngx_rbtree_min(hs->rbtree.root, sentinel);

    while (node) {
        next = ngx_rbtree_next(&hs->rbtree, node);
        hn = (ngx_http_ai_release_history_node_t *) node;

        if (hn->mark != mark) {
            ngx_rbtree_delete(&hs->rbtree, node);
            ngx_slab_free_locked(amcf->shpool, hn);
            hs->bytes -= NGX_HTTP_AI_RELEASE_HISTORY_RING;
        }

        node = next;
    }
}


static void
ngx_http_ai_release_history_mark(ngx_http_ai_release_history_sh_t *hs,
    ngx_http_ai_release_main_conf_t *conf, ngx_uint_t mark)
{
    ngx_uint_t                           i;
    ngx_http_ai_release_workflow_t     **wfp;
    ngx_http_ai_release_history_node_t  *hn;

    wfp = conf->workflows.elts;

    for (i = 0; i < conf->workflows.nelts; i++) {
        hn = ngx_http_ai_release_history_find(hs, &wfp[i]->name);

        if (hn) {
            hn->mark = mark;
        }
    }
}


/* one workflow at a reload: pwf is its running configuration, or NULL */

static void
ngx_http_ai_release_history_reload(ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_history_sh_t *hs, ngx_http_ai_release_workflow_t *pwf,
    ngx_http_ai_release_workflow_t *wf)
{
    u_char   *p, *last, line[NGX_HTTP_AI_RELEASE_HISTORY_LINE];

    p = line;
    last = line + sizeof(line) - 1;

    if (pwf == NULL) {
        p = ngx_slprintf(p, last, "new");
    }

    p = ngx_http_ai_release_history_target(p, last, line,
                                           pwf ? pwf->stable : NULL,
                                           wf->stable);

    p = ngx_http_ai_release_history_canaries(p, last, line, pwf, wf);

    p = ngx_http_ai_release_history_target(p, last, line,
                                           pwf ? pwf->fallback : NULL,
                                           wf->fallback);

    p = ngx_http_ai_release_history_target(p, last, line,
                                           pwf ? pwf->shadow : NULL,
                                           wf->shadow);

    if (p == line) {
        /* unchanged: nothing said */
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, amcf->log, 0,
                  "ai_release: workflow \"%V\": %*s", &wf->name, p - line,
                  line);

    ngx_http_ai_release_history_push(amcf, hs, "reload", line, p - line, pwf,
                                     wf, amcf->log);
}


/*
 * The canaries: each new one matched with a running one of the same
 * name@version, else of the same bundle name, else none ("added"); the
 * running ones left over are "removed"
 */

static u_char *
ngx_http_ai_release_history_canaries(u_char *p, u_char *last, u_char *start,
    ngx_http_ai_release_workflow_t *pwf, ngx_http_ai_release_workflow_t *wf)
{
    u_char                         used[NGX_HTTP_AI_RELEASE_HISTORY_MATCH];
    ngx_uint_t                     i, j, np, pass;
    ngx_http_ai_release_target_t  *c, *pc, *match;

    c = wf->canaries.elts;
    pc = pwf ? pwf->canaries.elts : NULL;
    np = pwf ? ngx_min(pwf->canaries.nelts,
                       NGX_HTTP_AI_RELEASE_HISTORY_MATCH)
             : 0;

    ngx_memzero(used, sizeof(used));

    for (i = 0; i < wf->canaries.nelts; i++) {
        match = NULL;

        for (pass = 0; pass < 2 && match == NULL; pass++) {
            for (j = 0; j < np; j++) {
                if (used[j]) {
                    continue;
                }

                if (pass == 0 ? (pc[j].id.len == c[i].id.len
                                 && ngx_strncmp(pc[j].id.data, c[i].id.data,
                                                c[i].id.len) == 0)
                              : ngx_strcmp(pc[j].bundle->name,
                                           c[i].bundle->name) == 0)
                {
                    used[j] = 1;
                    match = &pc[j];
                    break;
                }
            }
        }

        p = ngx_http_ai_release_history_target(p, last, start, match, &c[i]);
    }

    for (j = 0; pwf && j < pwf->canaries.nelts; j++) {
        if (j >= NGX_HTTP_AI_RELEASE_HISTORY_MATCH || !used[j]) {
            p = ngx_http_ai_release_history_target(p, last, start, &pc[j],
                                                   NULL);
        }
    }

    return p;
}


/*
 * What changed of one role, after "; " when something came before:
 * "canary x@4 -> @5: model a -> b; weight 5% -> 1%", "canary x@4:
 * weight 5% -> 1%", "stable x@3 added (sha256:...)", "canary x@4 removed"
 */

static u_char *
ngx_http_ai_release_history_target(u_char *p, u_char *last, u_char *start,
    ngx_http_ai_release_target_t *from, ngx_http_ai_release_target_t *to)
{
    char        ids[1024];
    ngx_uint_t  changed, weighed, canary;

    if (from == NULL && to == NULL) {
        return p;
    }

    canary = ((to ? to : from)->variant == NGX_HTTP_AI_RELEASE_CANARY);

    changed = (from == NULL || to == NULL
               || ngx_memcmp(from->bundle->digest, to->bundle->digest,
                             AI_RELEASE_SHA256_LEN) != 0);
    weighed = (canary && from && to
               && (from->weight != to->weight
                   || (from->plan == NULL) != (to->plan == NULL)
                   || (from->plan && to->plan
                       && from->plan->hash != to->plan->hash)));

    if (!changed && !weighed) {
        return p;
    }

    if (p > start) {
        p = ngx_slprintf(p, last, (p - start == 3
                                   && ngx_strncmp(start, "new", 3) == 0)
                                  ? ": " : "; ");
    }

    p = ngx_slprintf(p, last, "%V ",
                     &ngx_http_ai_release_variant_names[(to ? to : from)
                                                        ->variant]);

    if (from == NULL || to == NULL) {
        p = ngx_slprintf(p, last, "%V %s (%V)", to ? &to->id : &from->id,
                         to ? "added" : "removed",
                         to ? &to->digest_short : &from->digest_short);

        if (to && canary) {
            p = ngx_slprintf(p, last, " weight ");
            p = ngx_http_ai_release_history_weight(p, last, to->weight);
            p = ngx_http_ai_release_history_plan(p, last, to->plan);
        }

        return p;
    }

    ai_release_diff_ids(from->bundle, to->bundle, ids, sizeof(ids));
    p = ngx_slprintf(p, last, "%s", ids);

    if (changed && p < last) {
        p = ngx_slprintf(p, last, ": ");

        if (ai_release_diff(from->bundle, to->bundle, (char *) p, last - p)
            == 0)
        {
            p = ngx_slprintf(p, last, "no other change");

        } else {
            p += ngx_strlen(p);
        }
    }

    if (weighed) {
        p = ngx_slprintf(p, last, changed ? "; weight " : ": weight ");
        p = ngx_http_ai_release_history_weight(p, last, from->weight);
        p = ngx_slprintf(p, last, " -> ");
        p = ngx_http_ai_release_history_weight(p, last, to->weight);
        p = ngx_http_ai_release_history_plan(p, last, to->plan);
    }

    return p;
}


/* " (plan 1%,5%,25%,50% every 10m)" of a canary with a plan */

static u_char *
ngx_http_ai_release_history_plan(u_char *p, u_char *last,
    ngx_http_ai_release_plan_t *plan)
{
    ngx_uint_t  i;

    if (plan == NULL) {
        return p;
    }

    p = ngx_slprintf(p, last, " (plan ");

    for (i = 0; i < plan->nsteps; i++) {
        if (i) {
            p = ngx_slprintf(p, last, ",");
        }

        p = ngx_http_ai_release_history_weight(p, last, plan->steps[i]);
    }

    if (plan->every % 60000 == 0) {
        return ngx_slprintf(p, last, " every %Mm)", plan->every / 60000);
    }

    if (plan->every % 1000 == 0) {
        return ngx_slprintf(p, last, " every %Ms)", plan->every / 1000);
    }

    return ngx_slprintf(p, last, " every %Mms)", plan->every);
}


/* 500 -> "5%", 25 -> "0.25%", 1250 -> "12.5%" */

static u_char *
ngx_http_ai_release_history_weight(u_char *p, u_char *last, ngx_uint_t weight)
{
    if (weight % 100 == 0) {
        return ngx_slprintf(p, last, "%ui%%", weight / 100);
    }

    if (weight % 10 == 0) {
        return ngx_slprintf(p, last, "%ui.%ui%%", weight / 100,
                            weight % 100 / 10);
    }

    return ngx_slprintf(p, last, "%ui.%02ui%%", weight / 100, weight % 100);
}


static ngx_http_ai_release_history_node_t *
ngx_http_ai_release_history_find(ngx_http_ai_release_history_sh_t *hs,
    ngx_str_t *name)
{
    return (ngx_http_ai_release_history_node_t *)
               ngx_str_rbtree_lookup(&hs->rbtree, name,
                                     ngx_crc32_short(name->data, name->len));
}


/* one record into wf's ring, made at its first record; mutex held */

static void
ngx_http_ai_release_history_push(ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_history_sh_t *hs, const char *who, u_char *text,
    size_t len, ngx_http_ai_release_workflow_t *pwf,
    ngx_http_ai_release_workflow_t *wf, ngx_log_t *log)
{
    ngx_http_ai_release_record_t        *rec;
    ngx_http_ai_release_history_node_t  *hn;

    hn = ngx_http_ai_release_history_find(hs, &wf->name);

    if (hn == NULL) {
        hn = ngx_http_ai_release_history_alloc(amcf, hs, &wf->name, log);
        if (hn == NULL) {
            return;
        }
    }

    rec = &hn->records[hn->count++ % NGX_HTTP_AI_RELEASE_HISTORY_N];

    ngx_memzero(rec, sizeof(ngx_http_ai_release_record_t));

    rec->time = ngx_time();
    ngx_cpystrn(rec->who, (u_char *) who, NGX_HTTP_AI_RELEASE_HISTORY_WHO);

    /* a text too long is cut before a UTF-8 character, then "..." */

    if (len > NGX_HTTP_AI_RELEASE_HISTORY_TEXT) {
        len = NGX_HTTP_AI_RELEASE_HISTORY_TEXT - 3;

        while (len > 0 && (text[len] & 0xc0) == 0x80) {
            len--;
        }

        ngx_memcpy(ngx_cpymem(rec->text, text, len), "...", 3);
        len += 3;

    } else {
        ngx_memcpy(rec->text, text, len);
    }

    rec->len = (u_short) len;

    rec->nbefore = pwf ? ngx_http_ai_release_history_digests(rec->before, pwf)
                       : 0;
    rec->nafter = ngx_http_ai_release_history_digests(rec->after, wf);
}


/* a new empty ring of the workflow name, within the zone's spare room */

static ngx_http_ai_release_history_node_t *
ngx_http_ai_release_history_alloc(ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_history_sh_t *hs, ngx_str_t *name, ngx_log_t *log)
{
    size_t                               n;
    ngx_http_ai_release_history_node_t  *hn;

    hn = NULL;

    if (hs->bytes + NGX_HTTP_AI_RELEASE_HISTORY_RING
        <= ngx_http_ai_release_zone_spare(amcf))
    {
        hn = ngx_slab_calloc_locked(amcf->shpool,
                                 sizeof(ngx_http_ai_release_history_node_t));
    }

    if (hn == NULL) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "ai_release zone \"%V\" has no room for the release "
                      "record of workflow \"%V\" (%uz bytes of records "
                      "kept, beyond the room of two configurations' "
                      "slots); give it more with \"ai_release_zone %V "
                      "SIZE;\"", &amcf->zone_name, name, hs->bytes,
                      &amcf->zone_name);
        return NULL;
    }

    hs->bytes += NGX_HTTP_AI_RELEASE_HISTORY_RING;

    n = ngx_min(name->len, NGX_HTTP_AI_RELEASE_NAME_MAX);
    ngx_memcpy(hn->name, name->data, n);

    hn->sn.str.len = n;
    hn->sn.str.data = hn->name;
    hn->sn.node.key = ngx_crc32_short(hn->name, n);
    hn->mark = hs->mark;

    ngx_rbtree_insert(&hs->rbtree, &hn->sn.node);

    return hn;
}


static u_char
ngx_http_ai_release_history_digests(ngx_http_ai_release_history_digest_t *d,
    ngx_http_ai_release_workflow_t *wf)
{
    ngx_uint_t                     i, n;
    ngx_http_ai_release_target_t  *t;

    n = ngx_min(ngx_http_ai_release_target_count(wf),
                NGX_HTTP_AI_RELEASE_HISTORY_DIGESTS);

    for (i = 0; i < n; i++) {
        t = ngx_http_ai_release_target_at(wf, i);

        d[i].variant = (u_char) t->variant;
        ngx_memcpy(d[i].digest, t->bundle->digest, AI_RELEASE_SHA256_LEN);
    }

    return (u_char) n;
}


void
ngx_http_ai_release_history_add(ngx_http_ai_release_workflow_t *wf,
    const char *who, u_char *text, size_t len, ngx_log_t *log)
{
    ngx_http_ai_release_main_conf_t  *amcf;

    if (wf->stable == NULL || wf->stable->shm_zone == NULL) {
        return;
    }

    amcf = wf->stable->shm_zone->data;

    ngx_shmtx_lock(&amcf->shpool->mutex);

    if (amcf->sh->history) {
        ngx_http_ai_release_history_push(amcf, amcf->sh->history, who, text,
                                         len, wf, wf, log);
    }

    ngx_shmtx_unlock(&amcf->shpool->mutex);
}


json_t *
ngx_http_ai_release_history_json(ngx_http_ai_release_workflow_t *wf)
{
    json_t                              *list, *item;
    ngx_uint_t                           i, n;
    ngx_http_ai_release_record_t        *rec;
    ngx_http_ai_release_main_conf_t     *amcf;
    ngx_http_ai_release_history_node_t  *hn;

    list = json_array();

    if (list == NULL || wf->stable == NULL || wf->stable->shm_zone == NULL) {
        return list;
    }

    amcf = wf->stable->shm_zone->data;

    if (amcf->sh == NULL || amcf->sh->history == NULL) {
        return list;
    }

    ngx_shmtx_lock(&amcf->shpool->mutex);

    hn = ngx_http_ai_release_history_find(amcf->sh->history, &wf->name);
    n = hn ? ngx_min(hn->count, NGX_HTTP_AI_RELEASE_HISTORY_N) : 0;

    for (i = 0; i < n; i++) {
        rec = &hn->records[(hn->count - 1 - i) % NGX_HTTP_AI_RELEASE_HISTORY_N];

        item = json_object();
        json_object_set_new(item, "at",
                            ngx_http_ai_release_iso_time(rec->time));
        json_object_set_new(item, "who", json_string((char *) rec->who));
        json_object_set_new(item, "changes",
                            json_stringn((char *) rec->text, rec->len));
        json_object_set_new(item, "before",
                            ngx_http_ai_release_history_digests_json(
                                rec->before, rec->nbefore));
        json_object_set_new(item, "after",
                            ngx_http_ai_release_history_digests_json(
                                rec->after, rec->nafter));
        json_array_append_new(list, item);
    }

    ngx_shmtx_unlock(&amcf->shpool->mutex);

    return list;
}


static json_t *
ngx_http_ai_release_history_digests_json(
    ngx_http_ai_release_history_digest_t *d, ngx_uint_t n)
{
    char        hex[AI_RELEASE_DIGEST_HEX_LEN + 1];
    json_t     *list, *item;
    ngx_str_t  *variant;
    ngx_uint_t  i;

    list = json_array();

    for (i = 0; i < n; i++) {
        ai_release_digest_format(d[i].digest, hex);
        variant = &ngx_http_ai_release_variant_names[d[i].variant];

        item = json_object();
        json_object_set_new(item, "role",
                            json_stringn((char *) variant->data,
                                         variant->len));
        json_object_set_new(item, "digest", json_string(hex));
        json_array_append_new(list, item);
    }

    return list;
}
