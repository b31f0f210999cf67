/*
 * Copyright (C) ngx_ai_release authors
 *
 * At configuration load: every bundle that can receive traffic must pass
 * its eval gate (ai_release_eval_gate), and every bundle's digest must be
 * the one its lock file records (ai_release_lock, read by the directive in
 * ngx_http_ai_release_bundles.c).  The checks themselves are the plain-C
 * core's, the same the ai-release tool runs in CI.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ai_release_module.h"


static ngx_int_t ngx_http_ai_release_gate_target(ngx_conf_t *cf,
    ngx_http_ai_release_target_t *t, ngx_uint_t mode);
static ngx_int_t ngx_http_ai_release_gate_unweighted(ngx_conf_t *cf,
    ngx_http_ai_release_target_t *t, ngx_uint_t mode);
static ngx_int_t ngx_http_ai_release_check_lock(ngx_conf_t *cf,
    ngx_http_ai_release_main_conf_t *amcf);


ngx_conf_enum_t  ngx_http_ai_release_gate_modes[] = {
    { ngx_string("off"), NGX_HTTP_AI_RELEASE_GATE_OFF },
    { ngx_string("warn"), NGX_HTTP_AI_RELEASE_GATE_WARN },
    { ngx_string("on"), NGX_HTTP_AI_RELEASE_GATE_ON },
    { ngx_string("require"), NGX_HTTP_AI_RELEASE_GATE_REQUIRE },
    { ngx_null_string, 0 }
};


ngx_int_t
ngx_http_ai_release_check_gates(ngx_conf_t *cf,
    ngx_http_ai_release_main_conf_t *amcf)
{
    ngx_int_t                         rc;
    ngx_uint_t                        i, j, n, mode;
    ngx_http_ai_release_target_t     *t;
    ngx_http_ai_release_workflow_t  **wfp, *wf;

    rc = NGX_OK;
    wfp = amcf->workflows.elts;

    for (i = 0; i < amcf->workflows.nelts; i++) {
        wf = wfp[i];

        mode = wf->eval_gate;

        if (mode == NGX_HTTP_AI_RELEASE_GATE_OFF) {
            continue;
        }

        n = ngx_http_ai_release_target_count(wf);

        for (j = 0; j < n; j++) {
            t = ngx_http_ai_release_target_at(wf, j);

            /*
             * a canary given 0% receives no traffic, nor does a shadow
             * (users never see its answers): it may be unproven, but then
             * it may not be pinned either
             */

            if ((t->variant == NGX_HTTP_AI_RELEASE_CANARY && t->weight == 0)
                || t->variant == NGX_HTTP_AI_RELEASE_SHADOW)
            {
                if (ngx_http_ai_release_gate_unweighted(cf, t, mode)
                    != NGX_OK)
                {
                    rc = NGX_ERROR;
                }

                continue;
            }

            if (ngx_http_ai_release_gate_target(cf, t, mode) != NGX_OK) {
                rc = NGX_ERROR;
            }
        }
    }

    if (amcf->lock_path.data
        && ngx_http_ai_release_check_lock(cf, amcf) != NGX_OK)
    {
        rc = NGX_ERROR;
    }

    return rc;
}


static ngx_int_t
ngx_http_ai_release_gate_target(ngx_conf_t *cf,
    ngx_http_ai_release_target_t *t, ngx_uint_t mode)
{
    u_char                          buf[2048];
    size_t                          i;
    ngx_int_t                       rc;
    ngx_uint_t                      level;
    ai_release_gate_e               result;
    ai_release_errors_t             errs;
    ngx_http_ai_release_workflow_t *wf;

    wf = t->workflow;

    ai_release_errors_init(&errs);

    result = ai_release_gate_check(t->bundle, NULL, (long long) ngx_time(),
                                   &errs);
    rc = NGX_OK;

    switch (result) {

    case AI_RELEASE_GATE_PASS:
        ngx_log_error(NGX_LOG_INFO, cf->log, 0,
                      "ai_release: workflow \"%V\": %V %V passes its eval "
                      "gate", &wf->name,
                      &ngx_http_ai_release_variant_names[t->variant], &t->id);
        break;

    case AI_RELEASE_GATE_NONE:
        if (mode == NGX_HTTP_AI_RELEASE_GATE_REQUIRE) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "workflow \"%V\": %V %V has no eval section, and "
                          "\"ai_release_eval_gate require\" refuses ungated "
                          "bundles in %s:%ui", &wf->name,
                          &ngx_http_ai_release_variant_names[t->variant],
                          &t->id, t->file_name, t->line);
            rc = NGX_ERROR;
            break;
        }

        ngx_log_error(NGX_LOG_NOTICE, cf->log, 0,
                      "ai_release: workflow \"%V\": %V %V has no eval "
                      "section, serving it ungated", &wf->name,
                      &ngx_http_ai_release_variant_names[t->variant], &t->id);
        break;

    case AI_RELEASE_GATE_FAIL:
        level = (mode == NGX_HTTP_AI_RELEASE_GATE_WARN) ? NGX_LOG_WARN
                                                         : NGX_LOG_EMERG;

        for (i = 0; i < errs.n; i++) {
            ngx_log_error(level, cf->log, 0,
                          "workflow \"%V\": %V %V fails its eval gate: %s "
                          "in %s:%ui", &wf->name,
                          &ngx_http_ai_release_variant_names[t->variant],
                          &t->id, errs.items[i].message, t->file_name,
                          t->line);
        }

        if (level == NGX_LOG_EMERG) {
            rc = NGX_ERROR;
        }

        break;

    default: /* AI_RELEASE_GATE_ERROR: a malformed eval section */

        for (i = 0; i < errs.n; i++) {
            ai_release_error_format(&errs.items[i], (char *) buf,
                                    sizeof(buf));
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "ai_release bundle: %s in %s:%ui", buf,
                          t->file_name, t->line);
        }

        rc = NGX_ERROR;
        break;
    }

    ai_release_errors_free(&errs);

    return rc;
}


/*
 * A 0% canary does not fail the configuration when it is short of the gate
 * (it gets no traffic), but it is marked so that no override can give it
 * traffic: the API refuses to pin it, and a pin it had is dropped.
 */

static ngx_int_t
ngx_http_ai_release_gate_unweighted(ngx_conf_t *cf,
    ngx_http_ai_release_target_t *t, ngx_uint_t mode)
{
    u_char               *p, *last;
    ai_release_gate_e     result;
    ai_release_errors_t   errs;

    if (mode == NGX_HTTP_AI_RELEASE_GATE_WARN) {
        return NGX_OK;
    }

    ai_release_errors_init(&errs);

    result = ai_release_gate_check(t->bundle, NULL, (long long) ngx_time(),
                                   &errs);

    if (result == AI_RELEASE_GATE_PASS
        || (result == AI_RELEASE_GATE_NONE
            && mode != NGX_HTTP_AI_RELEASE_GATE_REQUIRE))
    {
        ai_release_errors_free(&errs);
        return NGX_OK;
    }

    t->ungated = ngx_pnalloc(cf->pool, 256);
    if (t->ungated == NULL) {
        ai_release_errors_free(&errs);
        return NGX_ERROR;
    }

    last = t->ungated + 255;

    if (result == AI_RELEASE_GATE_NONE) {
        p = ngx_slprintf(t->ungated, last, "it has no eval section, and "
                         "\"ai_release_eval_gate require\" refuses ungated "
                         "bundles");

    } else {
        p = ngx_slprintf(t->ungated, last, "it does not pass its eval gate: "
                         "%s", errs.n ? errs.items[0].message : "invalid");
    }

    *p = '\0';

    ngx_log_error(NGX_LOG_NOTICE, cf->log, 0,
                  "ai_release: workflow \"%V\": %s %V %s and cannot be "
                  "pinned: %s", &t->workflow->name,
                  ngx_http_ai_release_variant_names[t->variant].data, &t->id,
                  t->variant == NGX_HTTP_AI_RELEASE_SHADOW
                  ? "serves no user" : "at 0% gets no traffic", t->ungated);

    ai_release_errors_free(&errs);

    return NGX_OK;
}


static ngx_int_t
ngx_http_ai_release_check_lock(ngx_conf_t *cf,
    ngx_http_ai_release_main_conf_t *amcf)
{
    u_char               buf[2048];
    size_t               i, n;
    ngx_int_t            rc;
    ai_release_lock_t   *lock;
    ai_release_errors_t  errs;

    ai_release_errors_init(&errs);

    lock = ai_release_lock_load((char *) amcf->lock_path.data, &errs);

    if (lock == NULL) {
        for (i = 0; i < errs.n; i++) {
            ai_release_error_format(&errs.items[i], (char *) buf,
                                    sizeof(buf));
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "ai_release lock: %s in %s:%ui", buf,
                          amcf->lock_file, amcf->lock_line);
        }

        if (errs.n == 0) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "ai_release lock: cannot load \"%V\" in %s:%ui",
                          &amcf->lock_path, amcf->lock_file,
                          amcf->lock_line);
        }

        ai_release_errors_free(&errs);
        return NGX_ERROR;
    }

    rc = NGX_OK;
    n = ai_release_set_count(amcf->set);

    for (i = 0; i < n; i++) {
        if (ai_release_lock_check(lock, ai_release_set_get(amcf->set, i),
                                  &errs)
            != AI_RELEASE_LOCK_OK)
        {
            rc = NGX_ERROR;
        }
    }

    for (i = 0; i < errs.n; i++) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "%s in %s:%ui",
                      errs.items[i].message, amcf->lock_file,
                      amcf->lock_line);
    }

    ai_release_lock_free(lock);
    ai_release_errors_free(&errs);

    return rc;
}
