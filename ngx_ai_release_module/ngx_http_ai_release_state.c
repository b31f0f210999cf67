/*
 * Copyright (C) ngx_ai_release authors
 *
 * ai_release_state FILE: the decisions that are not in nginx.conf (API
 * overrides, open breakers) kept in a file, so that a rollback, pin or trip
 * stays in force after nginx restarts, is upgraded or the machine reboots.
 *
 * Written by a worker on every change of that state, never by a request:
 * an API change at once, a breaker's change by the worker's timer within a
 * second.  The whole state goes to FILE.tmp, fsync, rename over FILE, fsync of the
 * directory, so that a crash at any moment leaves the old or the new file.
 * Workers serialise their writes with flock() on FILE.lock (the kernel
 * drops it when a writer dies); a change made while another worker writes
 * is picked up by that writer's recheck, and a timer in each worker writes
 * whatever is left over (a writer killed halfway, an older configuration's
 * worker that may not write).
 *
 * Read when a zone starts without old data (start, restart, binary
 * upgrade): entries apply to the slots whose workflow and digest match;
 * others are dropped with a notice.  A file that cannot be read or parsed
 * is moved aside (FILE.bad) with an alert, and nginx starts from the
 * configuration: availability wins.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <sys/file.h>

#include "ngx_http_ai_release_module.h"


#define NGX_HTTP_AI_RELEASE_STATE_FLUSH  1000


static ngx_int_t ngx_http_ai_release_state_write(
    ngx_http_ai_release_main_conf_t *amcf, ngx_log_t *log);
static ngx_int_t ngx_http_ai_release_state_write_file(
    ngx_http_ai_release_main_conf_t *amcf, u_char *text, size_t len,
    ngx_log_t *log);
static void ngx_http_ai_release_state_snapshot_slot(
    ngx_http_ai_release_target_t *t, ai_release_state_entry_t *e,
    uint64_t now_ms, uint64_t wall_ms);
static ngx_int_t ngx_http_ai_release_state_check_file(
    ngx_http_ai_release_main_conf_t *amcf, ngx_cycle_t *cycle, char *err,
    size_t errlen);
static void ngx_http_ai_release_state_apply(
    ngx_http_ai_release_main_conf_t *amcf, ai_release_state_entry_t *e,
    ngx_log_t *log);
static void ngx_http_ai_release_state_timer(ngx_event_t *ev);


static ngx_event_t  ngx_http_ai_release_state_ev;
static ngx_fd_t     ngx_http_ai_release_state_lock_fd = NGX_INVALID_FILE;
static ngx_err_t    ngx_http_ai_release_state_last_err;


char *
ngx_http_ai_release_state(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ai_release_main_conf_t *amcf = conf;

    ngx_str_t  *value;

    if (amcf->state_path.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    amcf->state_path = value[1];

    if (ngx_conf_full_name(cf->cycle, &amcf->state_path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    amcf->state_tmp.len = amcf->state_path.len + sizeof(".tmp") - 1;
    amcf->state_tmp.data = ngx_pnalloc(cf->pool, amcf->state_tmp.len + 1);
    amcf->state_lock.len = amcf->state_path.len + sizeof(".lock") - 1;
    amcf->state_lock.data = ngx_pnalloc(cf->pool, amcf->state_lock.len + 1);
    amcf->state_bad.len = amcf->state_path.len + sizeof(".bad") - 1;
    amcf->state_bad.data = ngx_pnalloc(cf->pool, amcf->state_bad.len + 1);

    if (amcf->state_tmp.data == NULL || amcf->state_lock.data == NULL
        || amcf->state_bad.data == NULL)
    {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(amcf->state_tmp.data, "%V.tmp%Z", &amcf->state_path);
    ngx_sprintf(amcf->state_lock.data, "%V.lock%Z", &amcf->state_path);
    ngx_sprintf(amcf->state_bad.data, "%V.bad%Z", &amcf->state_path);

    return NGX_CONF_OK;
}


/*
 * A zone that starts without old data: the decisions of the state file.
 * Called by init_zone, in the master (or in "nginx -t", which only warns).
 */

void
ngx_http_ai_release_state_restore(ngx_http_ai_release_main_conf_t *amcf,
    ngx_cycle_t *cycle)
{
    char                 err[512];
    size_t               i;
    ngx_int_t            rc;
    ngx_log_t           *log;
    ai_release_state_t   st;

    if (amcf->state_path.data == NULL) {
        return;
    }

    log = cycle->log;

    rc = ngx_http_ai_release_state_check_file(amcf, cycle, err, sizeof(err));

    if (rc == NGX_DECLINED) {
        return;
    }

    if (rc != NGX_OK
        || ai_release_state_load((char *) amcf->state_path.data, &st, err,
                                 sizeof(err))
           != 0)
    {
        if (ngx_test_config) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "ai_release state file \"%V\" is unusable: %s; "
                          "nginx would start without its decisions and move "
                          "it to \"%V\"", &amcf->state_path, err,
                          &amcf->state_bad);
            return;
        }

        if (ngx_rename_file(amcf->state_path.data, amcf->state_bad.data)
            == NGX_FILE_ERROR)
        {
            ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                          "ai_release state file \"%V\" is unusable: %s; "
                          "starting from the configuration alone, and it "
                          "could not be moved to \"%V\"", &amcf->state_path,
                          err, &amcf->state_bad);
            return;
        }

        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "ai_release state file \"%V\" is unusable: %s; "
                      "starting from the configuration alone, the file is "
                      "moved to \"%V\"", &amcf->state_path, err,
                      &amcf->state_bad);
        return;
    }

    for (i = 0; i < st.n; i++) {
        ngx_http_ai_release_state_apply(amcf, &st.entries[i], log);
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "ai_release state file \"%V\": %uz entries read",
                  &amcf->state_path, st.n);

    ai_release_state_free(&st);
}


/*
 * The state file must be a regular file owned by root or by the workers'
 * user, and writable by nobody else: it decides where traffic goes.
 * NGX_DECLINED: there is none yet.
 */

static ngx_int_t
ngx_http_ai_release_state_check_file(ngx_http_ai_release_main_conf_t *amcf,
    ngx_cycle_t *cycle, char *err, size_t errlen)
{
    ngx_uid_t         user;
    ngx_file_info_t   fi;
    ngx_core_conf_t  *ccf;

    if (ngx_link_info(amcf->state_path.data, &fi) == NGX_FILE_ERROR) {
        if (ngx_errno == NGX_ENOENT) {
            /* nothing decided yet */
            return NGX_DECLINED;
        }

        ngx_snprintf((u_char *) err, errlen, "%s%Z",
                     strerror(ngx_errno));
        return NGX_ERROR;
    }

    if (!ngx_is_file(&fi)) {
        ngx_snprintf((u_char *) err, errlen, "not a regular file%Z");
        return NGX_ERROR;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    user = (ccf && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT)
           ? ccf->user : geteuid();

    if (fi.st_uid != 0 && fi.st_uid != user) {
        ngx_snprintf((u_char *) err, errlen, "owned by uid %d, neither root "
                     "nor the workers' user (uid %d)%Z", (int) fi.st_uid,
                     (int) user);
        return NGX_ERROR;
    }

    if (fi.st_mode & (S_IWGRP | S_IWOTH)) {
        ngx_snprintf((u_char *) err, errlen, "writable by its group or by "
                     "others (mode %04o)%Z", (int) (fi.st_mode & 07777));
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_ai_release_state_apply(ngx_http_ai_release_main_conf_t *amcf,
    ai_release_state_entry_t *e, ngx_log_t *log)
{
    u_char                          *p, what[64];
    char                             hex[AI_RELEASE_DIGEST_HEX_LEN + 1];
    uint64_t                         now_ms, wall_ms, left;
    ngx_uint_t                       i, k, n;
    ngx_http_ai_release_slot_t      *slot;
    ngx_http_ai_release_target_t    *t;
    ngx_http_ai_release_workflow_t  *wf;

    t = NULL;
    wf = ngx_http_ai_release_find_workflow(amcf, (u_char *) e->workflow,
                                           ngx_strlen(e->workflow));

    if (wf) {
        n = ngx_http_ai_release_target_count(wf);

        for (i = 0; i < n; i++) {
            t = ngx_http_ai_release_target_at(wf, i);

            if (ngx_memcmp(t->bundle->digest, e->digest,
                           AI_RELEASE_SHA256_LEN) == 0)
            {
                break;
            }

            t = NULL;
        }
    }

    p = what;

    for (k = 0; k < AI_RELEASE_STATE_NOVR; k++) {
        if (e->ovr[k].set) {
            p = ngx_slprintf(p, what + sizeof(what) - 1, "%s%s",
                             p == what ? "" : ", ",
                             ai_release_state_override_name(k));
        }
    }

    if (e->open) {
        p = ngx_slprintf(p, what + sizeof(what) - 1, "%sopen breaker",
                         p == what ? "" : ", ");
    }

    *p = '\0';

    if (t == NULL || t->slot == NULL) {
        ai_release_digest_format(e->digest, hex);

        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "ai_release state file \"%V\": workflow \"%s\" has no "
                      "bundle \"%s\" with digest %*s any more: its %s "
                      "dropped", &amcf->state_path, e->workflow, e->bundle,
                      (size_t) AI_RELEASE_DIGEST_SHORT_LEN, hex, what);
        return;
    }

    slot = t->slot;

    for (k = 0; k < AI_RELEASE_STATE_NOVR; k++) {
        if (!e->ovr[k].set) {
            continue;
        }

        if (k == NGX_HTTP_AI_RELEASE_OVR_PIN && t->ungated) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "ai_release state file \"%V\": the pin on bundle "
                          "\"%V\" of workflow \"%V\" is dropped: %s",
                          &amcf->state_path, &t->id, &wf->name, t->ungated);
            continue;
        }

        if (k == NGX_HTTP_AI_RELEASE_OVR_PIN
            && !slot->override[NGX_HTTP_AI_RELEASE_OVR_PIN])
        {
            ai_release_atomic_add(&amcf->sh->pins, 1);
        }

        slot->override[k] = 1;
        slot->override_at[k] = (uint64_t) e->ovr[k].at;
        ngx_cpystrn(slot->override_by[k], (u_char *) e->ovr[k].by,
                    NGX_HTTP_AI_RELEASE_BY_LEN);
        slot->restored |= (uint64_t) 1 << k;
    }

    now_ms = ngx_current_msec;

    if (slot->override[NGX_HTTP_AI_RELEASE_OVR_TRIP]) {
        slot->state = NGX_HTTP_AI_RELEASE_OPEN;
        slot->last_reason = NGX_HTTP_AI_RELEASE_TRIP_MANUAL;
        slot->trips = ngx_max(e->trips, 1);
        slot->since_sec = e->open ? (uint64_t) e->since
                                  : slot->override_at[NGX_HTTP_AI_RELEASE_OVR_TRIP];
        slot->since_ms = now_ms;
        slot->restored |= NGX_HTTP_AI_RELEASE_RESTORED_BREAKER;

    } else if (e->open) {
        /* the cooldown keeps counting while nginx was down */

        wall_ms = (uint64_t) ngx_time() * 1000;
        left = ((uint64_t) e->open_until_ms > wall_ms)
               ? (uint64_t) e->open_until_ms - wall_ms : 0;
        left = ngx_min(left, e->cooldown_ms);

        slot->state = NGX_HTTP_AI_RELEASE_OPEN;
        slot->last_reason = e->reason;
        slot->trips = e->trips;
        slot->cooldown_ms = e->cooldown_ms;
        slot->since_sec = (uint64_t) e->since;
        slot->since_ms = now_ms - (e->cooldown_ms - left);
        slot->restored |= NGX_HTTP_AI_RELEASE_RESTORED_BREAKER;
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "ai_release state file \"%V\": workflow \"%V\" bundle "
                  "\"%V\" (%V): %s restored", &amcf->state_path, &wf->name,
                  &t->id, &t->digest_short, what);
}


/*
 * A decision changed.  An API change is written at once, before the client
 * hears it is done (unless another worker is writing, whose recheck takes
 * it); a breaker's change happens while a request is processed, and is
 * written by the worker's timer within a second, off the request's path.
 */

void
ngx_http_ai_release_state_changed(ngx_http_ai_release_main_conf_t *amcf,
    ngx_log_t *log, ngx_uint_t now)
{
    if (amcf->state_path.data == NULL || amcf->sh == NULL) {
        return;
    }

    ai_release_atomic_add(&amcf->sh->state_version, 1);

    if (now) {
        (void) ngx_http_ai_release_state_write(amcf, log);
    }
}


static ngx_int_t
ngx_http_ai_release_state_write(ngx_http_ai_release_main_conf_t *amcf,
    ngx_log_t *log)
{
    u_char                          *text;
    size_t                           len, first, i, j;
    uint64_t                         now_ms, wall_ms;
    ngx_int_t                        rc;
    ngx_uint_t                       w, k, c;
    ngx_pool_t                      *pool;
    ngx_array_t                     *entries;
    ngx_atomic_uint_t                version;
    ai_release_state_t               st;
    ai_release_state_entry_t        *e;
    ngx_http_ai_release_target_t    *t;
    ngx_http_ai_release_workflow_t **wfp;

    /* a worker of an older configuration would write its own view */

    if (amcf->generation != amcf->sh->generation) {
        return NGX_DECLINED;
    }

    if (ngx_http_ai_release_state_lock_fd == NGX_INVALID_FILE) {
        ngx_http_ai_release_state_lock_fd = ngx_open_file(
                                   amcf->state_lock.data, NGX_FILE_RDWR,
                                   NGX_FILE_CREATE_OR_OPEN, 0600);

        if (ngx_http_ai_release_state_lock_fd == NGX_INVALID_FILE) {
            if (ngx_errno != ngx_http_ai_release_state_last_err) {
                ngx_http_ai_release_state_last_err = ngx_errno;
                ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                              "ai_release state file: cannot open \"%V\"; "
                              "decisions are not kept across a restart",
                              &amcf->state_lock);
            }

            return NGX_ERROR;
        }
    }

    if (flock(ngx_http_ai_release_state_lock_fd, LOCK_EX | LOCK_NB) == -1) {
        /* another worker writes, and rechecks the version after */
        return NGX_AGAIN;
    }

    /* as many entries as there are decisions, not one per slot */

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, log);
    if (pool == NULL) {
        (void) flock(ngx_http_ai_release_state_lock_fd, LOCK_UN);
        return NGX_ERROR;
    }

    entries = ngx_array_create(pool, 8, sizeof(ai_release_state_entry_t));
    if (entries == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

again:

    version = ai_release_atomic_load(&amcf->sh->state_version);

    ngx_time_update();
    now_ms = ngx_current_msec;
    wall_ms = (uint64_t) ngx_time() * 1000;

    wfp = amcf->workflows.elts;
    entries->nelts = 0;

    for (w = 0; w < amcf->workflows.nelts; w++) {
        c = ngx_http_ai_release_target_count(wfp[w]);
        first = entries->nelts;

        for (j = 0; j < c; j++) {
            t = ngx_http_ai_release_target_at(wfp[w], j);

            if (t->slot == NULL) {
                continue;
            }

            /*
             * two roles of one workflow with the same bundle share a slot
             * (slots are keyed by workflow and digest): one entry
             */

            e = entries->elts;

            for (i = first; i < entries->nelts; i++) {
                if (ngx_memcmp(e[i].digest, t->bundle->digest,
                               AI_RELEASE_SHA256_LEN)
                    == 0)
                {
                    break;
                }
            }

            if (i < entries->nelts) {
                continue;
            }

            for (k = 0; k < NGX_HTTP_AI_RELEASE_NOVR; k++) {
                if (ai_release_atomic_load(&t->slot->override[k])) {
                    break;
                }
            }

            if (k == NGX_HTTP_AI_RELEASE_NOVR
                && ai_release_atomic_load(&t->slot->state)
                   == NGX_HTTP_AI_RELEASE_CLOSED)
            {
                continue;
            }

            e = ngx_array_push(entries);
            if (e == NULL) {
                rc = NGX_ERROR;
                goto done;
            }

            ngx_http_ai_release_state_snapshot_slot(t, e, now_ms, wall_ms);
        }
    }

    st.entries = entries->elts;
    st.n = entries->nelts;

    text = (u_char *) ai_release_state_format(&st, (long long) ngx_time(),
                                              &len);
    if (text == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    rc = ngx_http_ai_release_state_write_file(amcf, text, len, log);

    free(text);

    if (rc != NGX_OK) {
        goto done;
    }

    ai_release_atomic_store(&amcf->sh->state_written, version);

    if (ai_release_atomic_load(&amcf->sh->state_version) != version) {
        /* changed while this worker wrote */
        goto again;
    }

done:

    ngx_destroy_pool(pool);

    (void) flock(ngx_http_ai_release_state_lock_fd, LOCK_UN);

    /* a change between the last check and the unlock: write it too */

    if (rc == NGX_OK
        && ai_release_atomic_load(&amcf->sh->state_version) != version)
    {
        return ngx_http_ai_release_state_write(amcf, log);
    }

    return rc;
}


static void
ngx_http_ai_release_state_snapshot_slot(ngx_http_ai_release_target_t *t,
    ai_release_state_entry_t *e, uint64_t now_ms, uint64_t wall_ms)
{
    uint64_t                     elapsed;
    ngx_uint_t                   k;
    ngx_http_ai_release_slot_t  *slot;

    slot = t->slot;

    ngx_memzero(e, sizeof(ai_release_state_entry_t));

    ngx_cpystrn((u_char *) e->workflow, t->workflow->name.data,
                ngx_min(t->workflow->name.len + 1, sizeof(e->workflow)));
    ngx_cpystrn((u_char *) e->bundle, t->id.data,
                ngx_min(t->id.len + 1, sizeof(e->bundle)));
    ngx_memcpy(e->digest, t->bundle->digest, AI_RELEASE_SHA256_LEN);

    for (k = 0; k < NGX_HTTP_AI_RELEASE_NOVR; k++) {
        if (!ai_release_atomic_load(&slot->override[k])) {
            continue;
        }

        e->ovr[k].set = 1;
        e->ovr[k].at = (long long) slot->override_at[k];
        ngx_cpystrn((u_char *) e->ovr[k].by, slot->override_by[k],
                    sizeof(e->ovr[k].by));
    }

    if (ai_release_atomic_load(&slot->state) == NGX_HTTP_AI_RELEASE_CLOSED) {
        return;
    }

    /* open or half-open: kept as open, its probes start again */

    elapsed = now_ms - slot->since_ms;

    e->open = 1;
    e->reason = (unsigned) slot->last_reason < AI_RELEASE_STATE_NREASONS
                ? (unsigned) slot->last_reason : 0;
    e->trips = slot->trips;
    e->cooldown_ms = slot->cooldown_ms;
    e->since = (long long) slot->since_sec;
    e->open_until_ms = (long long) (wall_ms
                       + (elapsed < slot->cooldown_ms
                          ? slot->cooldown_ms - elapsed : 0));
}


static ngx_int_t
ngx_http_ai_release_state_write_file(ngx_http_ai_release_main_conf_t *amcf,
    u_char *text, size_t len, ngx_log_t *log)
{
    u_char     *dir, *p;
    ssize_t     n;
    ngx_fd_t    fd;
    ngx_err_t   err;

    fd = ngx_open_file(amcf->state_tmp.data, NGX_FILE_WRONLY,
                       NGX_FILE_TRUNCATE, 0640);

    if (fd == NGX_INVALID_FILE) {
        err = ngx_errno;
        goto failed;
    }

    for (p = text; p < text + len; p += n) {
        n = write(fd, p, text + len - p);

        if (n == -1) {
            err = ngx_errno;

            if (err == NGX_EINTR) {
                n = 0;
                continue;
            }

            (void) ngx_close_file(fd);
            goto failed;
        }
    }

    if (fsync(fd) == -1) {
        err = ngx_errno;
        (void) ngx_close_file(fd);
        goto failed;
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        err = ngx_errno;
        goto failed;
    }

    if (ngx_rename_file(amcf->state_tmp.data, amcf->state_path.data)
        == NGX_FILE_ERROR)
    {
        err = ngx_errno;
        goto failed;
    }

    /* the rename itself, on disk: the directory (the path is absolute) */

    for (p = amcf->state_path.data + amcf->state_path.len - 1;
         p > amcf->state_path.data && *p != '/';
         p--)
    {
        /* void */
    }

    dir = (p == amcf->state_path.data) ? (u_char *) "/" : NULL;

    if (dir == NULL) {
        *p = '\0';
    }

    if (dir == NULL) {
        dir = amcf->state_path.data;
    }

    fd = ngx_open_file(dir, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (*p == '\0') {
        *p = '/';
    }

    if (fd != NGX_INVALID_FILE) {
        (void) fsync(fd);
        (void) ngx_close_file(fd);
    }

    if (ngx_http_ai_release_state_last_err) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "ai_release state file \"%V\" written again",
                      &amcf->state_path);
        ngx_http_ai_release_state_last_err = 0;
    }

    return NGX_OK;

failed:

    if (err != ngx_http_ai_release_state_last_err) {
        ngx_http_ai_release_state_last_err = err;
        ngx_log_error(NGX_LOG_ALERT, log, err,
                      "ai_release state file \"%V\" cannot be written (via "
                      "\"%V\"); decisions are not kept across a restart",
                      &amcf->state_path, &amcf->state_tmp);
    }

    return NGX_ERROR;
}


/* every worker: a timer writes what is left over; the last write at exit */

ngx_int_t
ngx_http_ai_release_state_init_process(ngx_cycle_t *cycle)
{
    ngx_http_ai_release_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_ai_release_module);

    if (amcf == NULL || amcf->state_path.data == NULL || amcf->sh == NULL) {
        return NGX_OK;
    }

    ngx_http_ai_release_state_ev.handler = ngx_http_ai_release_state_timer;
    ngx_http_ai_release_state_ev.log = cycle->log;
    ngx_http_ai_release_state_ev.data = amcf;
    ngx_http_ai_release_state_ev.cancelable = 1;

    ngx_add_timer(&ngx_http_ai_release_state_ev,
                  NGX_HTTP_AI_RELEASE_STATE_FLUSH);

    return NGX_OK;
}


static void
ngx_http_ai_release_state_timer(ngx_event_t *ev)
{
    ngx_http_ai_release_main_conf_t *amcf = ev->data;

    if (ai_release_atomic_load(&amcf->sh->state_written)
        != ai_release_atomic_load(&amcf->sh->state_version))
    {
        (void) ngx_http_ai_release_state_write(amcf, ev->log);
    }

    if (!ngx_exiting && !ngx_quit && !ngx_terminate) {
        ngx_add_timer(ev, NGX_HTTP_AI_RELEASE_STATE_FLUSH);
    }
}


void
ngx_http_ai_release_state_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_ai_release_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_ai_release_module);

    if (amcf == NULL || amcf->state_path.data == NULL || amcf->sh == NULL) {
        return;
    }

    if (ai_release_atomic_load(&amcf->sh->state_written)
        != ai_release_atomic_load(&amcf->sh->state_version))
    {
        (void) ngx_http_ai_release_state_write(amcf, cycle->log);
    }
}
