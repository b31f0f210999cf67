/*
 * Copyright (C) ngx_ai_release authors
 *
 * Reviewer corrections.  Every answer of a workflow carries
 * X-AI-Release-Id, a MAC-signed token naming its workflow and bundle
 * digest (ai_release_feedback.c); a location with ai_release_feedback
 * takes POSTs of what reviewers said of such answers and counts each in
 * its bundle's slot (a chunk beside the slot, ngx_http_ai_release_feedback_
 * shm_t), where the correction_rate trip rule judges them.
 *
 * A body is validated whole before anything is counted: one bad item of an
 * array and nothing changes (but the zone's count of stale ids on a 404).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_ai_release_module.h"
#include "ngx_http_ai_release_response.h"
#include "ngx_http_ai_release_feedback.h"


#define NGX_HTTP_AI_RELEASE_FEEDBACK_RANDOM  "/dev/urandom"


static ngx_int_t ngx_http_ai_release_feedback_handler(ngx_http_request_t *r);
static void ngx_http_ai_release_feedback_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_ai_release_feedback_read(ngx_http_request_t *r,
    u_char *buf, size_t *len);
static ngx_int_t ngx_http_ai_release_feedback_count(ngx_http_request_t *r,
    u_char *body, size_t len);
static ngx_http_ai_release_target_t *ngx_http_ai_release_feedback_target(
    ngx_http_ai_release_main_conf_t *amcf, ai_release_feedback_id_t *id);
static void ngx_http_ai_release_feedback_judge(ngx_http_ai_release_target_t *t,
    ngx_log_t *log);
static json_t *ngx_http_ai_release_feedback_counts(uint64_t *w);


/* the nonce of the next id this process makes; 0: not yet drawn */
static uint64_t   ngx_http_ai_release_nonce;

static ngx_str_t  ngx_http_ai_release_id_header =
    ngx_string("X-AI-Release-Id");
static ngx_str_t  ngx_http_ai_release_feedback_allow = ngx_string("Allow");
static ngx_str_t  ngx_http_ai_release_feedback_post = ngx_string("POST");


/* ai_release_feedback_secret FILE; */

char *
ngx_http_ai_release_feedback_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_ai_release_main_conf_t *amcf = conf;

    u_char     buf[AI_RELEASE_FEEDBACK_SECRET_MAX + 1];
    ssize_t    n;
    ngx_fd_t   fd;
    ngx_str_t  *value, name;

    if (amcf->feedback_secret) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", name.data);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_fd(fd, buf, sizeof(buf));

    if (n == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%s\" failed", name.data);
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    (void) ngx_close_file(fd);

    if (n > AI_RELEASE_FEEDBACK_SECRET_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "feedback secret file \"%s\" is longer than %d "
                           "bytes", name.data, AI_RELEASE_FEEDBACK_SECRET_MAX);
        return NGX_CONF_ERROR;
    }

    /* the line end an editor or "echo" adds is no part of the secret */

    while (n > 0 && (buf[n - 1] == LF || buf[n - 1] == CR
                     || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
    {
        n--;
    }

    if (n < AI_RELEASE_FEEDBACK_SECRET_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "feedback secret file \"%s\" holds %z bytes, "
                           "fewer than %d (make one with \"head -c 32 "
                           "/dev/urandom | base64\")", name.data, n,
                           AI_RELEASE_FEEDBACK_SECRET_MIN);
        return NGX_CONF_ERROR;
    }

    ai_release_feedback_key_init(&amcf->feedback_key, buf, (size_t) n);
    ngx_explicit_memzero(buf, sizeof(buf));

    amcf->feedback_secret = 1;

    return NGX_CONF_OK;
}


/* ai_release_feedback; */

char *
ngx_http_ai_release_feedback(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_ai_release_main_conf_t  *amcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_ai_release_feedback_handler;

    /* responses carry ids only where feedback can come back */
    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ai_release_module);
    amcf->feedback = 1;

    return NGX_CONF_OK;
}


/*
 * From init_zone, under the zone's mutex: the instance's secret (made once
 * per zone, carried to a resized zone), the key, the workflows' tags.
 */

ngx_int_t
ngx_http_ai_release_feedback_init_zone(ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_shctx_t *from)
{
    ssize_t                           n;
    ngx_fd_t                          fd;
    ngx_uint_t                        i;
    ngx_http_ai_release_shctx_t      *sh;
    ngx_http_ai_release_workflow_t  **wfp;

    sh = amcf->sh;

    if (!sh->feedback_keyed && from && from->feedback_keyed) {
        ngx_memcpy(sh->feedback_secret, from->feedback_secret,
                   sizeof(sh->feedback_secret));
        sh->feedback_stale = from->feedback_stale;
        sh->feedback_keyed = 1;
    }

    if (!sh->feedback_keyed) {
        fd = ngx_open_file(NGX_HTTP_AI_RELEASE_FEEDBACK_RANDOM,
                           NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
        if (fd == NGX_INVALID_FILE) {
            ngx_log_error(NGX_LOG_EMERG, amcf->log, ngx_errno,
                          ngx_open_file_n " \"%s\" failed",
                          NGX_HTTP_AI_RELEASE_FEEDBACK_RANDOM);
            return NGX_ERROR;
        }

        n = ngx_read_fd(fd, sh->feedback_secret, sizeof(sh->feedback_secret));
        (void) ngx_close_file(fd);

        if (n != (ssize_t) sizeof(sh->feedback_secret)) {
            ngx_log_error(NGX_LOG_EMERG, amcf->log, ngx_errno,
                          "ai_release: no secret for X-AI-Release-Id: "
                          "reading \"%s\" failed",
                          NGX_HTTP_AI_RELEASE_FEEDBACK_RANDOM);
            return NGX_ERROR;
        }

        sh->feedback_keyed = 1;
    }

    if (!amcf->feedback_secret) {
        ai_release_feedback_key_init(&amcf->feedback_key, sh->feedback_secret,
                                     sizeof(sh->feedback_secret));
    }

    wfp = amcf->workflows.elts;

    for (i = 0; i < amcf->workflows.nelts; i++) {
        ai_release_feedback_tag((char *) wfp[i]->name.data, wfp[i]->name.len,
                                wfp[i]->feedback_tag);
    }

    return NGX_OK;
}


/*
 * The feedback chunk of a slot being bound, under the zone's mutex: a new
 * one where the slot has none or still points at the old zone's (a resize
 * copied the slot), with the old counts; the window anew where its length
 * changed.
 */

ngx_int_t
ngx_http_ai_release_feedback_bind(ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_slot_t *slot, ngx_http_ai_release_slot_t *from,
    uint64_t window_ms)
{
    ngx_http_ai_release_feedback_shm_t  *fb;

    fb = slot->feedback;

    if (fb == NULL || (from && fb == from->feedback)) {
        fb = ngx_slab_alloc_locked(amcf->shpool,
                                   sizeof(ngx_http_ai_release_feedback_shm_t));
        if (fb == NULL) {
            slot->feedback = NULL;
            return NGX_ERROR;
        }

        if (from && from->feedback) {
            ngx_memcpy(fb, from->feedback,
                       sizeof(ngx_http_ai_release_feedback_shm_t));

        } else {
            ngx_memzero(fb, sizeof(ngx_http_ai_release_feedback_shm_t));
            ai_release_feedback_window_init(&fb->window, window_ms);
        }

        slot->feedback = fb;
    }

    if (fb->window.width_ms
        != ngx_max(window_ms / AI_RELEASE_WINDOW_BUCKETS, 1))
    {
        ai_release_feedback_window_init(&fb->window, window_ms);
    }

    return NGX_OK;
}


/* from the header filter: the id of the answer of bundle t */

ngx_int_t
ngx_http_ai_release_feedback_header(ngx_http_request_t *r,
    ngx_http_ai_release_target_t *t)
{
    u_char                           *p;
    uint64_t                          nonce;
    ngx_str_t                         value;
    ngx_http_ai_release_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_ai_release_module);

    p = ngx_pnalloc(r->pool, AI_RELEASE_FEEDBACK_ID_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    /*
     * 56 bits: a counter of this process from a random start (each worker
     * seeds its random numbers apart), so that two workers' ids differ
     * unless 2^56 apart
     */

    if (ngx_http_ai_release_nonce == 0) {
        ngx_http_ai_release_nonce = (((uint64_t) ngx_random() << 31)
                                     ^ (uint64_t) ngx_random()) | 1;
    }

    nonce = ngx_http_ai_release_nonce++ & 0xffffffffffffffULL;

    ai_release_feedback_id_make(&amcf->feedback_key,
                                t->workflow->feedback_tag, t->bundle->digest,
                                nonce, (char *) p);

    value.len = AI_RELEASE_FEEDBACK_ID_LEN;
    value.data = p;

    if (ngx_http_ai_release_header_out(r, &ngx_http_ai_release_id_header,
                                       &value)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ai_release_feedback_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (r->method != NGX_HTTP_POST) {
        if (ngx_http_ai_release_header_out(r,
                                           &ngx_http_ai_release_feedback_allow,
                                           &ngx_http_ai_release_feedback_post)
            == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_ai_release_json_error(r, NGX_HTTP_NOT_ALLOWED,
                                              "feedback takes POST only");
    }

    if (r->headers_in.content_length_n > AI_RELEASE_FEEDBACK_MAX_BODY) {
        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_ai_release_json_error(r,
                                      NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      "a feedback body holds at most %d bytes",
                                      AI_RELEASE_FEEDBACK_MAX_BODY);
    }

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_ai_release_feedback_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_ai_release_feedback_body(ngx_http_request_t *r)
{
    u_char     *buf;
    size_t      len;
    ngx_int_t   rc;

    buf = ngx_pnalloc(r->pool, AI_RELEASE_FEEDBACK_MAX_BODY);
    if (buf == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_http_ai_release_feedback_read(r, buf, &len);

    if (rc == NGX_DECLINED) {
        rc = ngx_http_ai_release_json_error(r,
                                      NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      "a feedback body holds at most %d bytes",
                                      AI_RELEASE_FEEDBACK_MAX_BODY);

    } else if (rc == NGX_OK) {
        rc = ngx_http_ai_release_feedback_count(r, buf, len);

    } else {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_finalize_request(r, rc);
}


/* the body into buf; NGX_DECLINED when it is longer than buf */

static ngx_int_t
ngx_http_ai_release_feedback_read(ngx_http_request_t *r, u_char *buf,
    size_t *len)
{
    off_t         size;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    *len = 0;

    if (r->request_body == NULL) {
        return NGX_OK;
    }

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        size = b->in_file ? b->file_last - b->file_pos : b->last - b->pos;

        if (size > (off_t) (AI_RELEASE_FEEDBACK_MAX_BODY - *len)) {
            return NGX_DECLINED;
        }

        if (!b->in_file) {
            *len = ngx_cpymem(buf + *len, b->pos, (size_t) size) - buf;
            continue;
        }

        n = ngx_read_file(b->file, buf + *len, (size_t) size, b->file_pos);

        if (n != (ssize_t) size) {
            return NGX_ERROR;
        }

        *len += (size_t) n;
    }

    return NGX_OK;
}


/* every item checked, then every item counted: all or nothing */

static ngx_int_t
ngx_http_ai_release_feedback_count(ngx_http_request_t *r, u_char *body,
    size_t len)
{
    int                                  n, i, j;
    char                                 err[256];
    json_t                              *root;
    uint64_t                             now, stale;
    ai_release_feedback_id_t             id;
    ai_release_feedback_item_t          *items;
    ngx_http_ai_release_target_t       **tg;
    ngx_http_ai_release_feedback_shm_t  *fb;
    ngx_http_ai_release_main_conf_t     *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_ai_release_module);

    items = ngx_palloc(r->pool, AI_RELEASE_FEEDBACK_MAX_ITEMS
                                * sizeof(ai_release_feedback_item_t));
    tg = ngx_palloc(r->pool, AI_RELEASE_FEEDBACK_MAX_ITEMS
                             * sizeof(ngx_http_ai_release_target_t *));
    if (items == NULL || tg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = ai_release_feedback_parse((char *) body, len, items,
                                  AI_RELEASE_FEEDBACK_MAX_ITEMS, err,
                                  sizeof(err));
    if (n < 0) {
        return ngx_http_ai_release_json_error(r, NGX_HTTP_BAD_REQUEST, "%s",
                                              err);
    }

    /* forged, or made by an instance with another secret */

    for (i = 0; i < n; i++) {
        if (amcf->sh == NULL
            || ai_release_feedback_id_verify(&amcf->feedback_key, items[i].id,
                                             items[i].id_len, &id)
               != 0)
        {
            return ngx_http_ai_release_json_error(r, NGX_HTTP_FORBIDDEN,
                         "item %d: \"release_id\" is not an X-AI-Release-Id "
                         "of this service", i);
        }

        tg[i] = ngx_http_ai_release_feedback_target(amcf, &id);
    }

    /* genuine, but of a bundle the configuration no longer has */

    stale = 0;
    j = -1;

    for (i = 0; i < n; i++) {
        if (tg[i] == NULL) {
            stale++;
            j = (j < 0) ? i : j;
        }
    }

    if (stale) {
        ai_release_atomic_add(&amcf->sh->feedback_stale, stale);

        return ngx_http_ai_release_json_error(r, NGX_HTTP_NOT_FOUND,
                         "item %d: the bundle of this \"release_id\" is no "
                         "longer configured (%uL stale of %d: nothing "
                         "counted)", j, stale, n);
    }

    now = ngx_current_msec;

    for (i = 0; i < n; i++) {
        fb = tg[i]->slot->feedback;
        ai_release_atomic_add(&fb->total[items[i].outcome], 1);
        ai_release_feedback_window_add(&fb->window, items[i].outcome, now);
    }

    /* each bundle counted judged once */

    for (i = 0; i < n; i++) {
        for (j = 0; j < i && tg[j] != tg[i]; j++) {
            /* void */
        }

        if (j == i) {
            ngx_http_ai_release_feedback_judge(tg[i], r->connection->log);
        }
    }

    root = json_object();
    if (root == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(root, "counted", json_integer(n));

    return ngx_http_ai_release_send_json(r, NGX_HTTP_OK, root);
}


/* the running configuration's bundle of an id, with its feedback chunk */

static ngx_http_ai_release_target_t *
ngx_http_ai_release_feedback_target(ngx_http_ai_release_main_conf_t *amcf,
    ai_release_feedback_id_t *id)
{
    ngx_uint_t                        i, k, n;
    ngx_http_ai_release_target_t     *t;
    ngx_http_ai_release_workflow_t  **wfp;

    wfp = amcf->workflows.elts;

    for (i = 0; i < amcf->workflows.nelts; i++) {
        if (ngx_memcmp(wfp[i]->feedback_tag, id->tag,
                       AI_RELEASE_FEEDBACK_TAG_LEN)
            != 0)
        {
            continue;
        }

        n = ngx_http_ai_release_target_count(wfp[i]);

        for (k = 0; k < n; k++) {
            t = ngx_http_ai_release_target_at(wfp[i], k);

            if (ngx_memcmp(t->bundle->digest, id->digest,
                           AI_RELEASE_FEEDBACK_DIGEST_LEN)
                == 0
                && ngx_http_ai_release_slot_current(t)
                && t->slot->feedback)
            {
                return t;
            }
        }
    }

    return NULL;
}


/* the correction_rate rule, after feedback on bundle t was counted */

static void
ngx_http_ai_release_feedback_judge(ngx_http_ai_release_target_t *t,
    ngx_log_t *log)
{
    u_char                           *p, buf[160];
    uint64_t                          w[AI_RELEASE_FEEDBACK_NOUTCOMES],
                                      sw[AI_RELEASE_FEEDBACK_NOUTCOMES],
                                      *stable, total, now;
    ai_release_trip_e                 why;
    ngx_http_ai_release_target_t     *st;
    ngx_http_ai_release_workflow_t   *wf;

    wf = t->workflow;

    if (!wf->trip.enabled || wf->trip.correction_rate == 0
        || ai_release_atomic_load(&t->slot->state)
           != NGX_HTTP_AI_RELEASE_CLOSED)
    {
        return;
    }

    now = ngx_current_msec;
    ai_release_feedback_window_sum(&t->slot->feedback->window, now, w);

    stable = NULL;
    st = wf->stable;

    if (t->variant == NGX_HTTP_AI_RELEASE_CANARY
        && ngx_http_ai_release_slot_current(st) && st->slot->feedback)
    {
        ai_release_feedback_window_sum(&st->slot->feedback->window, now, sw);
        stable = sw;
    }

    why = ai_release_feedback_trip_check(&wf->trip, w, stable);

    if (why == AI_RELEASE_TRIP_NONE) {
        return;
    }

    if (!ngx_http_ai_release_open_breaker(t,
                                          NGX_HTTP_AI_RELEASE_TRIP_CORRECTION))
    {
        return;
    }

    total = w[0] + w[1] + w[2];

    p = ngx_slprintf(buf, buf + sizeof(buf) - 1,
                     "correction_rate: %uL corrected and %uL rejected of "
                     "%uL answers reviewed in the window%s",
                     w[AI_RELEASE_FEEDBACK_CORRECTED],
                     w[AI_RELEASE_FEEDBACK_REJECTED], total,
                     why == AI_RELEASE_TRIP_MARGIN
                     ? ", worse than stable by the canary margin" : "");
    *p = '\0';

    ngx_http_ai_release_breaker_opened(t, log, buf);
}


/* a bundle's counts, NGX_DECLINED where its slot has none */

ngx_int_t
ngx_http_ai_release_feedback_load(ngx_http_ai_release_target_t *t,
    uint64_t total[AI_RELEASE_FEEDBACK_NOUTCOMES],
    uint64_t window[AI_RELEASE_FEEDBACK_NOUTCOMES])
{
    ngx_uint_t                           k;
    ngx_http_ai_release_feedback_shm_t  *fb;

    if (!ngx_http_ai_release_slot_current(t) || t->slot->feedback == NULL) {
        return NGX_DECLINED;
    }

    fb = t->slot->feedback;

    for (k = 0; k < AI_RELEASE_FEEDBACK_NOUTCOMES; k++) {
        total[k] = ai_release_atomic_load(&fb->total[k]);
    }

    ai_release_feedback_window_sum(&fb->window, ngx_current_msec, window);

    return NGX_OK;
}


/* the status JSON's "feedback" of a bundle */

json_t *
ngx_http_ai_release_feedback_json(ngx_http_ai_release_target_t *t)
{
    json_t    *o;
    uint64_t   total[AI_RELEASE_FEEDBACK_NOUTCOMES],
               window[AI_RELEASE_FEEDBACK_NOUTCOMES];

    if (ngx_http_ai_release_feedback_load(t, total, window) != NGX_OK) {
        return NULL;
    }

    o = ngx_http_ai_release_feedback_counts(total);
    json_object_set_new(o, "window", ngx_http_ai_release_feedback_counts(window));

    return o;
}


static json_t *
ngx_http_ai_release_feedback_counts(uint64_t *w)
{
    json_t      *o;
    uint64_t     total, bad;
    ngx_uint_t   k;

    o = json_object();

    for (k = 0; k < AI_RELEASE_FEEDBACK_NOUTCOMES; k++) {
        json_object_set_new(o, ai_release_feedback_outcome_name(k),
                            json_integer(w[k]));
    }

    total = w[0] + w[1] + w[2];
    bad = w[AI_RELEASE_FEEDBACK_CORRECTED] + w[AI_RELEASE_FEEDBACK_REJECTED];

    json_object_set_new(o, "correction_rate",
                        total ? json_real((double) bad / total)
                              : json_null());

    return o;
}
