/*
 * Copyright (C) ngx_ai_release authors
 *
 * Applying the bundle to the request body ("format" and "apply" of a
 * workflow): a handler of the precontent phase, after the bundle was
 * chosen and access was granted, reads the body, scans it once with the
 * core's streaming planner (ai_release_apply.c: the spans of the
 * top-level members the bundles own) and splices in the chosen bundle's
 * model, system instructions, tools and params.  A splice, not a
 * re-serialisation: every other byte reaches the upstream as the client
 * sent it.  A body in memory becomes a chain of slices of the client's
 * buffers and of the bundle's texts; a body in a temporary file is copied
 * with the edits into a new one (nginx rewinds a file body to its start
 * when it retries an upstream).  A failover splices again, for the bundle
 * that takes the request, from the same spans.
 *
 * A body that cannot be applied is refused before any upstream is
 * contacted, with a JSON error in the workflow's format, and counted as
 * outcome "rejected" of the chosen bundle (never an error of it).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ai_release_module.h"
#include "ngx_http_ai_release_response.h"


/* bytes of a file body read at a time */
#define NGX_HTTP_AI_RELEASE_APPLY_READ  (64 * 1024)


struct ngx_http_ai_release_apply_s {
    ai_release_apply_plan_t          plan;
    ai_release_span_t               *found;

    ngx_chain_t                     *body;        /* as the client sent it */
    ngx_uint_t                       in_file;

    ngx_uint_t                       done;        /* the body is applied */
    ngx_int_t                        status;      /* to return, when done */
};


ngx_conf_enum_t  ngx_http_ai_release_formats[] = {
    { ngx_string("none"), AI_RELEASE_FORMAT_NONE },
    { ngx_string("openai-chat"), AI_RELEASE_FORMAT_OPENAI_CHAT },
    { ngx_string("openai-responses"), AI_RELEASE_FORMAT_OPENAI_RESPONSES },
    { ngx_string("anthropic-messages"),
      AI_RELEASE_FORMAT_ANTHROPIC_MESSAGES },
    { ngx_null_string, 0 }
};


/* ngx_hash_key() of "content-encoding", computed once at configuration */
static ngx_uint_t  ngx_http_ai_release_encoding_hash;


static void ngx_http_ai_release_apply_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_ai_release_apply_scan(ngx_http_request_t *r,
    ngx_http_ai_release_apply_t *ap);
static ngx_int_t ngx_http_ai_release_apply_refuse(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx, ngx_uint_t status, const char *type,
    const char *fmt, ...);
static ngx_int_t ngx_http_ai_release_apply_write(ngx_http_request_t *r,
    ngx_http_ai_release_apply_t *ap, ai_release_edit_t *edits, size_t n,
    uint64_t new_len);
static ngx_int_t ngx_http_ai_release_apply_content_type(
    ngx_http_request_t *r);
static ngx_http_ai_release_apply_t *ngx_http_ai_release_apply_new(
    ngx_http_request_t *r, ngx_http_ai_release_ctx_t *ctx);


/* apply WORD ...; in an ai_release_workflow block */

char *
ngx_http_ai_release_set_apply(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ai_release_workflow_t *wf = conf;

    int          bit;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (wf->apply) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        bit = ai_release_apply_word((char *) value[i].data, value[i].len);

        if (bit < 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown \"%V\" in \"apply\" of workflow "
                               "\"%V\": use model, system_instructions, "
                               "tools or params", &value[i], &wf->name);
            return NGX_CONF_ERROR;
        }

        wf->apply |= (ngx_uint_t) bit;
    }

    wf->apply_file = cf->conf_file->file.name.data;
    wf->apply_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


static void
ngx_http_ai_release_apply_values_cleanup(void *data)
{
    ai_release_apply_values_t  *v = data;

    ai_release_apply_values_free(v);
}


/*
 * At configuration time: what each bundle of the workflow sets, and the
 * members a request's body is scanned for (all its bundles' together, so
 * that a failover finds the members of the bundle it goes to).
 */

ngx_int_t
ngx_http_ai_release_apply_init_workflow(ngx_conf_t *cf,
    ngx_http_ai_release_workflow_t *wf)
{
    char                           err[512];
    size_t                         k, m, n;
    unsigned                       line, column;
    ngx_uint_t                     i, ntargets;
    ngx_pool_cleanup_t            *cln;
    ai_release_member_t           *names, *mb;
    ai_release_apply_values_t     *v;
    ngx_http_ai_release_target_t  *t;

    if (wf->apply == 0) {
        return NGX_OK;
    }

    ngx_http_ai_release_encoding_hash =
        ngx_hash_key((u_char *) "content-encoding",
                     sizeof("content-encoding") - 1);

    if (wf->format == NGX_CONF_UNSET_UINT
        || wf->format == AI_RELEASE_FORMAT_NONE)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"apply\" in workflow \"%V\" needs a \"format\" "
                      "(openai-chat, openai-responses or anthropic-messages) "
                      "in %s:%ui", &wf->name, wf->apply_file, wf->apply_line);
        return NGX_ERROR;
    }

    ntargets = ngx_http_ai_release_target_count(wf);
    n = 0;

    for (i = 0; i < ntargets; i++) {
        t = ngx_http_ai_release_target_at(wf, i);

        v = ngx_pcalloc(cf->pool, sizeof(ai_release_apply_values_t));
        if (v == NULL) {
            return NGX_ERROR;
        }

        line = 0;
        column = 0;

        if (ai_release_apply_values(t->bundle, (int) wf->format,
                                    (unsigned) wf->apply, v, err,
                                    sizeof(err), &line, &column)
            != 0)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "%s:%ud:%ud: bundle \"%V\" cannot be applied by "
                          "workflow \"%V\" (%s:%ui): %s", t->bundle->file,
                          line ? line : t->bundle->line,
                          line ? column : t->bundle->column, &t->id,
                          &wf->name, wf->apply_file, wf->apply_line, err);
            ai_release_apply_values_free(v);
            return NGX_ERROR;
        }

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            ai_release_apply_values_free(v);
            return NGX_ERROR;
        }

        cln->handler = ngx_http_ai_release_apply_values_cleanup;
        cln->data = v;

        t->apply = v;
        n += v->nmembers;
    }

    /* the union of the members, by name */

    names = ngx_pcalloc(cf->pool, (n + 1) * sizeof(ai_release_member_t));
    if (names == NULL) {
        return NGX_ERROR;
    }

    m = 0;

    for (i = 0; i < ntargets; i++) {
        v = ngx_http_ai_release_target_at(wf, i)->apply;

        for (k = 0; k < v->nmembers; k++) {
            mb = &v->members[k];

            for (n = 0; n < m; n++) {
                if (names[n].name_len == mb->name_len
                    && ngx_memcmp(names[n].name, mb->name, mb->name_len) == 0)
                {
                    break;
                }
            }

            if (n == m) {
                names[m++] = *mb;
            }
        }
    }

    wf->apply_names = names;
    wf->apply_nnames = m;

    return NGX_OK;
}


/*
 * The precontent phase: read the body (as ngx_http_mirror_module does),
 * then apply the chosen bundle to it.
 */

ngx_int_t
ngx_http_ai_release_apply_handler(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_table_elt_t                  *h;
    ngx_http_ai_release_ctx_t        *ctx;
    ngx_http_ai_release_apply_t      *ap;
    ngx_http_ai_release_main_conf_t  *amcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ai_release_module);

    if (ctx == NULL || ctx->workflow->apply == 0 || r != r->main) {
        return NGX_DECLINED;
    }

    if (ctx->apply) {
        /* the phases again, once the body was read */
        return ctx->apply->done ? ctx->apply->status : NGX_DONE;
    }

    if (!(r->method & (NGX_HTTP_POST|NGX_HTTP_PUT|NGX_HTTP_PATCH))) {
        /* no body to apply the bundle to: a GET of a model list, say */
        return NGX_DECLINED;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_ai_release_module);

    ap = ngx_http_ai_release_apply_new(r, ctx);
    if (ap == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = ngx_http_ai_release_header_in(r, (u_char *) "content-encoding",
                                      sizeof("content-encoding") - 1,
                                      ngx_http_ai_release_encoding_hash);

    if (h && !(h->value.len == 8
               && ngx_strncasecmp(h->value.data, (u_char *) "identity", 8)
                  == 0))
    {
        rc = ngx_http_ai_release_apply_refuse(r, ctx,
                   NGX_HTTP_UNSUPPORTED_MEDIA_TYPE, "invalid_request_error",
                   "the request body's Content-Encoding \"%V\" cannot be "
                   "read here: send it uncompressed", &h->value);
        goto refused;
    }

    if (ngx_http_ai_release_apply_content_type(r) != NGX_OK) {
        rc = ngx_http_ai_release_apply_refuse(r, ctx,
                   NGX_HTTP_UNSUPPORTED_MEDIA_TYPE, "invalid_request_error",
                   "the request body must be application/json");
        goto refused;
    }

    if (r->headers_in.content_length_n > (off_t) amcf->apply_max_body) {
        rc = ngx_http_ai_release_apply_refuse(r, ctx,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "request_too_large",
                   "the request body of %O bytes is larger than the %uz "
                   "bytes this workflow accepts",
                   r->headers_in.content_length_n, amcf->apply_max_body);
        goto refused;
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_ai_release_apply_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;

refused:

    ap->done = 1;
    ap->status = NGX_DONE;

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/*
 * Not zeroed: most of it is the scanner's path and buffers, written
 * before they are read; ai_release_apply_plan_init() sets what the plan
 * reads (the refusals read client_model_found and error) and zeroes the
 * spans.
 */

static ngx_http_ai_release_apply_t *
ngx_http_ai_release_apply_new(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx)
{
    ngx_http_ai_release_apply_t     *ap;
    ngx_http_ai_release_workflow_t  *wf;

    wf = ctx->workflow;

    ap = ngx_palloc(r->pool, sizeof(ngx_http_ai_release_apply_t));
    if (ap == NULL) {
        return NULL;
    }

    ap->found = ngx_palloc(r->pool, (wf->apply_nnames + 1)
                                    * sizeof(ai_release_span_t));
    if (ap->found == NULL) {
        return NULL;
    }

    ai_release_apply_plan_init(&ap->plan, (int) wf->format, wf->apply_names,
                               wf->apply_nnames, ap->found);

    ap->body = NULL;
    ap->in_file = 0;
    ap->done = 0;
    ap->status = NGX_DONE;

    ctx->apply = ap;

    return ap;
}


/*
 * A shadow's copy of a request (shadow.c): its body, in memory, planned
 * and applied for the shadow bundle.  NGX_DECLINED: the bundle cannot be
 * applied to it.
 */

ngx_int_t
ngx_http_ai_release_apply_copy(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx)
{
    ngx_int_t                     rc;
    ngx_http_ai_release_apply_t  *ap;

    ap = ngx_http_ai_release_apply_new(r, ctx);
    if (ap == NULL) {
        return NGX_ERROR;
    }

    ap->body = r->request_body->bufs;
    ap->done = 1;
    ap->status = NGX_DECLINED;

    rc = ngx_http_ai_release_apply_scan(r, ap);

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_ai_release_apply_target(r, ctx, ctx->target);
}


static ngx_int_t
ngx_http_ai_release_apply_content_type(ngx_http_request_t *r)
{
    u_char  *p, *last;

    if (r->headers_in.content_type == NULL) {
        return NGX_ERROR;
    }

    p = r->headers_in.content_type->value.data;
    last = p + r->headers_in.content_type->value.len;

    if (last - p < 16
        || ngx_strncasecmp(p, (u_char *) "application/json", 16) != 0)
    {
        return NGX_ERROR;
    }

    p += 16;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    return (p == last || *p == ';') ? NGX_OK : NGX_ERROR;
}


/* the whole body is read */

static void
ngx_http_ai_release_apply_body(ngx_http_request_t *r)
{
    off_t                             len;
    ngx_int_t                         rc;
    ngx_http_ai_release_ctx_t        *ctx;
    ngx_http_ai_release_apply_t      *ap;
    ngx_http_ai_release_main_conf_t  *amcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ai_release_module);
    ap = ctx->apply;
    amcf = ngx_http_get_module_main_conf(r, ngx_http_ai_release_module);

    ap->done = 1;
    ap->status = NGX_DECLINED;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        rc = ngx_http_ai_release_apply_refuse(r, ctx, NGX_HTTP_BAD_REQUEST,
                 "invalid_request_error", "the request has no body: a JSON "
                 "object is expected");
        ngx_http_finalize_request(r, rc);
        return;
    }

    ap->body = r->request_body->bufs;

    /*
     * The size first: a chunked body had no Content-Length to refuse it
     * by, and a body too large is refused as that whatever it holds.
     */

    len = ngx_http_ai_release_apply_length(ap->body);

    if (len > (off_t) amcf->apply_max_body) {
        rc = ngx_http_ai_release_apply_refuse(r, ctx,
                 NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "request_too_large",
                 "the request body of %O bytes is larger than the %uz bytes "
                 "this workflow accepts", len, amcf->apply_max_body);
        ngx_http_finalize_request(r, rc);
        return;
    }

    rc = ngx_http_ai_release_apply_scan(r, ap);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rc == NGX_DECLINED) {
        rc = ngx_http_ai_release_apply_refuse(r, ctx, NGX_HTTP_BAD_REQUEST,
                 "invalid_request_error", "the request body is not "
                 "acceptable JSON: %s at byte %uL", ap->plan.error,
                 ap->plan.error_offset);
        ngx_http_finalize_request(r, rc);
        return;
    }

    rc = ngx_http_ai_release_apply_target(r, ctx, ctx->target);

    if (rc == NGX_DECLINED) {
        rc = ngx_http_ai_release_apply_refuse(r, ctx, NGX_HTTP_BAD_REQUEST,
                 "invalid_request_error", "the bundle cannot be applied to "
                 "the request body: %s", ap->plan.error);
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/* the body's bytes, in memory and in a file (also a shadow's copy's) */

off_t
ngx_http_ai_release_apply_length(ngx_chain_t *cl)
{
    off_t       len;
    ngx_buf_t  *b;

    len = 0;

    for ( /* void */ ; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            len += b->file_last - b->file_pos;

        } else if (ngx_buf_in_memory(b)) {
            len += b->last - b->pos;
        }
    }

    return len;
}


/*
 * The body through the planner, buffer by buffer; a file body in reads of
 * NGX_HTTP_AI_RELEASE_APPLY_READ bytes.  NGX_DECLINED: the planner refused
 * it (ap->plan.error).
 */

static ngx_int_t
ngx_http_ai_release_apply_scan(ngx_http_request_t *r,
    ngx_http_ai_release_apply_t *ap)
{
    off_t         pos, end;
    u_char       *buf;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    /* the plan was initialised with ap; it counts the bytes it is fed */

    buf = NULL;

    for (cl = ap->body; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            ap->in_file = 1;

            if (buf == NULL) {
                buf = ngx_palloc(r->pool, NGX_HTTP_AI_RELEASE_APPLY_READ);
                if (buf == NULL) {
                    return NGX_ERROR;
                }
            }

            for (pos = b->file_pos; pos < b->file_last; pos += n) {
                end = ngx_min(b->file_last,
                              pos + NGX_HTTP_AI_RELEASE_APPLY_READ);

                n = ngx_read_file(b->file, buf, (size_t) (end - pos), pos);

                if (n <= 0) {
                    ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                                  "ai_release: cannot read the request "
                                  "body from \"%V\"", &b->file->name);
                    return NGX_ERROR;
                }

                if (ai_release_apply_plan_feed(&ap->plan, buf, (size_t) n)
                    != 0)
                {
                    return NGX_DECLINED;
                }
            }

            continue;
        }

        if (ngx_buf_in_memory(b) && b->last > b->pos) {
            if (ai_release_apply_plan_feed(&ap->plan, b->pos,
                                           (size_t) (b->last - b->pos))
                != 0)
            {
                return NGX_DECLINED;
            }
        }
    }

    return ai_release_apply_plan_finish(&ap->plan) == 0 ? NGX_OK
                                                         : NGX_DECLINED;
}


/*
 * The body for target t: the client's bytes with t's members spliced in;
 * the request's body and Content-Length become the new ones.
 * NGX_DECLINED: t cannot be applied to this body (ap->plan.error).
 */

ngx_int_t
ngx_http_ai_release_apply_target(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx, ngx_http_ai_release_target_t *t)
{
    size_t                        n;
    uint64_t                      new_len;
    ai_release_edit_t            *edits;
    ngx_http_ai_release_apply_t  *ap;

    ap = ctx->apply;

    if (ap == NULL || !ap->done || t->apply == NULL) {
        return NGX_OK;
    }

    n = AI_RELEASE_APPLY_MAX_EDITS(t->apply->nmembers);

    edits = ngx_palloc(r->pool, n * sizeof(ai_release_edit_t));
    if (edits == NULL) {
        return NGX_ERROR;
    }

    if (ai_release_apply_edits(&ap->plan, t->apply, edits, n, &n, &new_len)
        != 0)
    {
        return NGX_DECLINED;
    }

    if (ngx_http_ai_release_apply_write(r, ap, edits, n, new_len) != NGX_OK) {
        return NGX_ERROR;
    }

    r->headers_in.content_length_n = (off_t) new_len;

    if (r->headers_in.content_length) {
        r->headers_in.content_length->value.data =
                                       ngx_pnalloc(r->pool, NGX_OFF_T_LEN);
        if (r->headers_in.content_length->value.data == NULL) {
            return NGX_ERROR;
        }

        r->headers_in.content_length->value.len =
            ngx_sprintf(r->headers_in.content_length->value.data, "%O",
                        (off_t) new_len)
            - r->headers_in.content_length->value.data;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ai_release: applied \"%V\": %O -> %uL bytes", &t->id,
                   (off_t) ap->plan.body_len, new_len);

    return NGX_OK;
}


/* where the applied body goes: a chain of slices, or a temporary file */

typedef struct {
    ngx_http_request_t         *request;
    ngx_http_ai_release_apply_t *apply;
    ngx_chain_t               **last;         /* chain: its end */
    ngx_temp_file_t            *file;         /* or the file */
    off_t                       written;
    u_char                     *buf;          /* file: a read's buffer */
} ngx_http_ai_release_out_t;


/* bytes of the bundle's text, or a slice of a client's buffer in memory */

static ngx_int_t
ngx_http_ai_release_out_bytes(ngx_http_ai_release_out_t *o, u_char *p,
    size_t len)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (len == 0) {
        return NGX_OK;
    }

    if (o->file) {
        if (ngx_write_file(&o->file->file, p, len, o->written) == NGX_ERROR) {
            return NGX_ERROR;
        }

        o->written += len;
        return NGX_OK;
    }

    b = ngx_calloc_buf(o->request->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    /* nginx rewinds a retried request's buffers to their start */
    b->start = p;
    b->pos = p;
    b->last = p + len;
    b->end = b->last;
    b->memory = 1;

    cl = ngx_alloc_chain_link(o->request->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;
    *o->last = cl;
    o->last = &cl->next;
    o->written += len;

    return NGX_OK;
}


/* the client's bytes [from, to), whichever buffers hold them */

static ngx_int_t
ngx_http_ai_release_out_range(ngx_http_ai_release_out_t *o, off_t from,
    off_t to)
{
    off_t         start, end, a, z, pos;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    start = 0;

    for (cl = o->apply->body; cl && start < to; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            end = start + (b->file_last - b->file_pos);

        } else if (ngx_buf_in_memory(b)) {
            end = start + (b->last - b->pos);

        } else {
            continue;
        }

        a = ngx_max(from, start);
        z = ngx_min(to, end);

        if (a < z && !b->in_file) {
            if (ngx_http_ai_release_out_bytes(o, b->pos + (a - start),
                                              (size_t) (z - a))
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        for (pos = a; b->in_file && pos < z; pos += n) {
            n = (ssize_t) ngx_min(z - pos, NGX_HTTP_AI_RELEASE_APPLY_READ);

            if (ngx_read_file(b->file, o->buf, (size_t) n,
                              b->file_pos + (pos - start))
                != n)
            {
                return NGX_ERROR;
            }

            if (ngx_http_ai_release_out_bytes(o, o->buf, (size_t) n)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        start = end;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ai_release_apply_out(ngx_http_ai_release_out_t *o,
    ai_release_edit_t *edits, size_t n)
{
    off_t   at;
    size_t  e, k;

    at = 0;

    for (e = 0; e < n; e++) {
        if (ngx_http_ai_release_out_range(o, at, (off_t) edits[e].start)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        for (k = 0; k < 3 && edits[e].text[k]; k++) {
            if (ngx_http_ai_release_out_bytes(o, (u_char *) edits[e].text[k],
                                              edits[e].len[k])
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        at = (off_t) edits[e].end;
    }

    return ngx_http_ai_release_out_range(o, at,
                                         (off_t) o->apply->plan.body_len);
}


/*
 * A body in memory becomes a chain of slices; a body in a file is written
 * with the edits to a new temporary file, removed with the request.
 */

static ngx_int_t
ngx_http_ai_release_apply_write(ngx_http_request_t *r,
    ngx_http_ai_release_apply_t *ap, ai_release_edit_t *edits, size_t n,
    uint64_t new_len)
{
    ngx_buf_t                  *b;
    ngx_chain_t                *out, *cl;
    ngx_temp_file_t            *tf;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_ai_release_out_t   o;

    out = NULL;

    ngx_memzero(&o, sizeof(ngx_http_ai_release_out_t));
    o.request = r;
    o.apply = ap;
    o.last = &out;

    if (ap->in_file) {
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        tf = ngx_pcalloc(r->pool, sizeof(ngx_temp_file_t));
        if (tf == NULL) {
            return NGX_ERROR;
        }

        tf->file.fd = NGX_INVALID_FILE;
        tf->file.log = r->connection->log;
        tf->path = clcf->client_body_temp_path;
        tf->pool = r->pool;
        tf->persistent = 0;
        tf->clean = 1;

        if (ngx_create_temp_file(&tf->file, tf->path, tf->pool,
                                 tf->persistent, tf->clean, tf->access)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        o.file = tf;

        o.buf = ngx_palloc(r->pool, NGX_HTTP_AI_RELEASE_APPLY_READ);
        if (o.buf == NULL) {
            return NGX_ERROR;
        }
    }

    if (ngx_http_ai_release_apply_out(&o, edits, n) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      "ai_release: cannot write the applied request body");
        return NGX_ERROR;
    }

    if (o.written != (off_t) new_len) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "ai_release: the applied body has %O bytes, "
                      "%uL were planned", o.written, new_len);
        return NGX_ERROR;
    }

    if (o.file) {
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->in_file = 1;
        b->file = &o.file->file;
        b->file_pos = 0;
        b->file_last = o.written;
        b->temp_file = 1;

        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf = b;
        cl->next = NULL;
        out = cl;
    }

    if (out == NULL) {
        return NGX_ERROR;
    }

    r->request_body->bufs = out;
    r->request_body->buf = NULL;

    return NGX_OK;
}


/*
 * A refused body: a JSON error in the shape the workflow's clients know,
 * and outcome "rejected" for the chosen bundle.
 */

static ngx_int_t
ngx_http_ai_release_apply_refuse(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx, ngx_uint_t status, const char *type,
    const char *fmt, ...)
{
    u_char   *p, msg[512];
    json_t   *root;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(msg, msg + sizeof(msg) - 1, fmt, args);
    va_end(args);

    *p = '\0';

    for (p = msg; *p; p++) {
        if (*p >= 0x80 || *p < 0x20) {
            *p = '?';
        }
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "ai_release: workflow \"%V\" bundle \"%V\": request "
                  "refused (%ui): %s", &ctx->workflow->name, &ctx->target->id,
                  status, msg);

    ngx_http_ai_release_rejected(ctx);

    root = ngx_http_ai_release_format_error(ctx->workflow->format, type,
                                            (char *) msg, NULL);

    (void) ngx_http_discard_request_body(r);

    return ngx_http_ai_release_send_json(r, status, root);
}


/*
 * An error in the shape the clients of a wire format know: for
 * anthropic-messages {"type": "error", "error": {"type", "message"}},
 * else OpenAI's {"error": {"type", "message", "param": null, "code"}}
 * (code null when NULL).  message must be UTF-8.  NULL when out of memory.
 */

json_t *
ngx_http_ai_release_format_error(ngx_uint_t format, const char *type,
    const char *message, const char *code)
{
    json_t  *root, *err, *m;

    m = json_string(message);
    root = json_object();
    err = json_object();

    if (root == NULL || err == NULL || m == NULL) {
        json_decref(root);
        json_decref(err);
        json_decref(m);
        return NULL;
    }

    json_object_set_new(err, "type", json_string(type));
    json_object_set_new(err, "message", m);

    if (format == AI_RELEASE_FORMAT_ANTHROPIC_MESSAGES) {
        json_object_set_new(root, "type", json_string("error"));

    } else {
        json_object_set_new(err, "param", json_null());
        json_object_set_new(err, "code", code ? json_string(code)
                                              : json_null());
    }

    json_object_set_new(root, "error", err);

    return root;
}


/* $ai_release_client_model */

ngx_int_t
ngx_http_ai_release_apply_client_model(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx, ngx_str_t *s)
{
    ngx_http_ai_release_apply_t  *ap;

    ap = ctx->apply;

    if (ap == NULL || !ap->done || !ap->plan.client_model_found) {
        return NGX_DECLINED;
    }

    s->data = ap->plan.client_model;
    s->len = ap->plan.client_model_len;

    return NGX_OK;
}
