/*
 * Copyright (C) ngx_ai_release authors
 *
 * Step 5b of the request path: each answer of a bundle with an output
 * contract is checked against it as it passes to the client.  A header
 * filter starts the checker (ai_release_contract.c) with the answer's
 * status and Content-Type, a body filter feeds it every byte, and the
 * verdict is given once the whole answer passed, or in the log phase for
 * an answer cut short.  Only filters and a context: the checker keeps a
 * fixed state, never the answer.
 *
 *   observe  (the default) the client gets every byte as it comes; only
 *            the counters change: outcome "contract" for an answer that
 *            came whole but broke the contract, and the rule it broke;
 *   enforce  an answer that is not a stream is held (up to max_bytes)
 *            until it is judged: a broken one is never sent; the request
 *            goes to the known-good bundle where the workflow fails over,
 *            else the client gets 502 with a JSON error in the workflow's
 *            format.  A stream is held only when its status or
 *            Content-Type already broke the contract: its first byte
 *            decides.
 *
 * The filters are only installed when a bundle of the configuration has
 * an output contract; a request whose bundle has none costs a context
 * lookup per filter call.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ai_release_module.h"
#include "ngx_http_ai_release_response.h"


/* r->buffered while an enforced answer waits for its failover */
#define NGX_HTTP_AI_RELEASE_BUFFERED  0x08

/* bytes read at a time from an answer the upstream put in a file */
#define NGX_HTTP_AI_RELEASE_CONTRACT_READ  4096


struct ngx_http_ai_release_contract_s {
    ai_release_contract_check_t      check;

    /* the bundle whose answer this is */
    ngx_http_ai_release_target_t    *target;
    ngx_msec_t                       first_byte;  /* -1: none came yet */

    /* enforce: the answer held, its bytes and where to add more */
    ngx_chain_t                     *held;
    ngx_chain_t                    **held_last;
    off_t                            held_bytes;

    ngx_event_t                      restart;     /* the failover */

    ai_release_contract_rule_e       rule;

    unsigned                         feeding:1;   /* bytes still matter */
    unsigned                         whole:1;     /* last_buf passed */
    unsigned                         judged:1;
    unsigned                         hold:1;      /* enforce holds it */
    unsigned                         own:1;       /* our answer passes */
};


static ngx_int_t ngx_http_ai_release_contract_header_filter(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_ai_release_contract_body_filter(
    ngx_http_request_t *r, ngx_chain_t *in);
static ngx_int_t ngx_http_ai_release_answer_feed(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx, ngx_buf_t *b);
static void ngx_http_ai_release_answer_piece(
    ngx_http_ai_release_contract_t *cc, ngx_http_ai_release_signals_t *sc,
    u_char *p, size_t len);
static ngx_int_t ngx_http_ai_release_contract_keep(ngx_http_request_t *r,
    ngx_http_ai_release_contract_t *cc, ngx_buf_t *b);
static ngx_int_t ngx_http_ai_release_contract_decide(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx);
static ngx_int_t ngx_http_ai_release_contract_refuse(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx);
static void ngx_http_ai_release_contract_restart(ngx_event_t *ev);
static void ngx_http_ai_release_contract_cleanup(void *data);
static ngx_int_t ngx_http_ai_release_reset_headers_out(ngx_http_request_t *r);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;

static ngx_str_t  ngx_http_ai_release_ok = ngx_string("ok");


/* installed after the X-AI-Release filter, so that it runs before it */

ngx_int_t
ngx_http_ai_release_contract_init(ngx_conf_t *cf,
    ngx_http_ai_release_main_conf_t *amcf)
{
    ngx_uint_t                        i, j, n;
    ngx_http_ai_release_target_t     *t;
    ngx_http_ai_release_workflow_t  **wfp;

    wfp = amcf->workflows.elts;

    for (i = 0; i < amcf->workflows.nelts; i++) {
        n = ngx_http_ai_release_target_count(wfp[i]);

        if (wfp[i]->signals) {
            goto install;
        }

        for (j = 0; j < n; j++) {
            t = ngx_http_ai_release_target_at(wfp[i], j);

            if (t->bundle->contract) {
                goto install;
            }
        }
    }

    return NGX_OK;

install:

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ai_release_contract_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_ai_release_contract_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ai_release_contract_header_filter(ngx_http_request_t *r)
{
    ngx_table_elt_t                 *ce;
    ngx_pool_cleanup_t              *cln;
    ngx_http_ai_release_ctx_t       *ctx;
    ngx_http_ai_release_target_t    *t;
    ngx_http_ai_release_contract_t  *cc;
    const ai_release_contract_t     *contract;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_ai_release_module);

    if (ctx == NULL || ctx->target == NULL) {
        return ngx_http_next_header_filter(r);
    }

    cc = ctx->contract;

    if (cc && cc->own) {
        /* the 502 this filter sends */
        return ngx_http_next_header_filter(r);
    }

    t = ctx->target;
    contract = t->bundle->contract;
    ctx->signals = NULL;

    if ((t->answers == NULL && t->signals == NULL)
        || r->upstream == NULL
        || r->upstream->headers_in.status_n == 0
        || r->header_only)
    {
        /*
         * neither a contract nor signals, or nginx's own answer, or no
         * body to read
         */
        return ngx_http_next_header_filter(r);
    }

    ce = r->headers_out.content_encoding;

    if (ce && ce->hash
        && !(ce->value.len == 8
             && ngx_strncasecmp(ce->value.data, (u_char *) "identity", 8)
                == 0))
    {
        /* gzip and the like: the bytes are not the answer's text */

        if (t->answers && ngx_http_ai_release_slot_current(t)) {
            ai_release_atomic_add(&t->answers->contract_unread, 1);
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ai_release: answer of \"%V\" not checked: encoded",
                       &t->id);

        return ngx_http_next_header_filter(r);
    }

    if (t->signals
        && ngx_http_ai_release_signals_start(r, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (contract == NULL || t->answers == NULL) {
        ctx->contract = NULL;
        return ngx_http_next_header_filter(r);
    }

    cc = ngx_palloc(r->pool, sizeof(ngx_http_ai_release_contract_t));
    if (cc == NULL) {
        return NGX_ERROR;
    }

    cc->target = t;
    cc->first_byte = (ngx_msec_t) -1;
    cc->held = NULL;
    cc->held_last = &cc->held;
    cc->held_bytes = 0;
    cc->rule = AI_RELEASE_CONTRACT_OK;
    cc->whole = 0;
    cc->judged = 0;
    cc->hold = 0;
    cc->own = 0;

    ngx_memzero(&cc->restart, sizeof(ngx_event_t));

    ai_release_contract_init(&cc->check, contract, (int) ctx->workflow->format,
                             (char *) t->model.data, t->model.len,
                             r->headers_out.status,
                             (char *) r->headers_out.content_type.data,
                             r->headers_out.content_type.len);

    /* a status or Content-Type that broke it: the body does not matter */
    cc->feeding = (cc->check.rule == AI_RELEASE_CONTRACT_OK);

    ctx->contract = cc;

    if (contract->mode != AI_RELEASE_CONTRACT_ENFORCE) {
        return ngx_http_next_header_filter(r);
    }

    /*
     * enforce: a whole answer is held until judged; a stream only when
     * its status or Content-Type broke the contract already
     */

    if (cc->check.stream && cc->check.rule == AI_RELEASE_CONTRACT_OK) {
        return ngx_http_next_header_filter(r);
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_ai_release_contract_cleanup;
    cln->data = cc;

    cc->hold = 1;

    /* the filters after this one see the body whole, and at once */
    r->allow_ranges = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ai_release_contract_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in)
{
    ngx_int_t                        rc;
    ngx_uint_t                       last;
    ngx_chain_t                     *cl;
    ngx_http_ai_release_ctx_t       *ctx;
    ngx_http_ai_release_contract_t  *cc;

    if (in == NULL || r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_ai_release_module);

    if (ctx == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    cc = ctx->contract;

    if (cc == NULL) {
        if (ctx->signals == NULL
            || !ngx_http_ai_release_signals_active(ctx->signals))
        {
            return ngx_http_next_body_filter(r, in);
        }

    } else if (cc->own) {
        return ngx_http_next_body_filter(r, in);

    } else if (cc->whole) {
        /* judged and answered: nothing more belongs to this answer */
        if (cc->hold) {
            for (cl = in; cl; cl = cl->next) {
                cl->buf->pos = cl->buf->last;
                cl->buf->file_pos = cl->buf->file_last;
            }

            return NGX_OK;
        }

        return ngx_http_next_body_filter(r, in);
    }

    last = 0;

    for (cl = in; cl; cl = cl->next) {

        if (ngx_http_ai_release_answer_feed(r, ctx, cl->buf) != NGX_OK) {
            return NGX_ERROR;
        }

        if (cc && cc->hold
            && ngx_http_ai_release_contract_keep(r, cc, cl->buf) != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (cl->buf->last_buf) {
            last = 1;
        }
    }

    if (last) {
        ngx_http_ai_release_signals_end(r, ctx, 1);
    }

    if (cc == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    if (cc->hold) {
        if (!last) {
            return NGX_OK;
        }

        cc->whole = 1;

        return ngx_http_ai_release_contract_decide(r, ctx);
    }

    rc = ngx_http_next_body_filter(r, in);

    if (last) {
        cc->whole = 1;
        (void) ngx_http_ai_release_contract_judge(ctx);
    }

    return rc;
}


/*
 * One buffer's bytes, from memory or read back from the upstream's
 * temporary file, to whoever still reads the answer: the contract checker
 * until a rule is broken, the signals extractor to the end.  The bytes
 * are read once for both.
 */

static ngx_int_t
ngx_http_ai_release_answer_feed(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx, ngx_buf_t *b)
{
    off_t                            offset;
    size_t                           size;
    ssize_t                          n;
    ngx_http_ai_release_signals_t   *sc;
    ngx_http_ai_release_contract_t  *cc;

    cc = ctx->contract;
    sc = ctx->signals;

    if (cc && !cc->feeding) {
        cc = NULL;
    }

    if (!ngx_http_ai_release_signals_active(sc)) {
        sc = NULL;
    }

    if (cc == NULL && sc == NULL) {
        return NGX_OK;
    }

    if (ngx_buf_in_memory(b)) {
        size = b->last - b->pos;

    } else if (b->in_file) {
        size = (size_t) (b->file_last - b->file_pos);

    } else {
        return NGX_OK;
    }

    if (size == 0) {
        return NGX_OK;
    }

    if (cc && cc->first_byte == (ngx_msec_t) -1) {
        cc->first_byte = ngx_current_msec - ctx->start;
    }

    if (ngx_buf_in_memory(b)) {
        ngx_http_ai_release_answer_piece(cc, sc, b->pos, size);
        return NGX_OK;
    }

    if (ctx->scratch == NULL) {
        ctx->scratch = ngx_palloc(r->pool, NGX_HTTP_AI_RELEASE_CONTRACT_READ);
        if (ctx->scratch == NULL) {
            return NGX_ERROR;
        }
    }

    for (offset = b->file_pos; offset < b->file_last; offset += n) {

        if ((cc == NULL || !cc->feeding)
            && !ngx_http_ai_release_signals_active(sc))
        {
            break;
        }

        size = (size_t) ngx_min(b->file_last - offset,
                                NGX_HTTP_AI_RELEASE_CONTRACT_READ);

        n = ngx_read_file(b->file, ctx->scratch, size, offset);

        if (n == NGX_ERROR || n == 0) {
            return NGX_ERROR;
        }

        ngx_http_ai_release_answer_piece(cc, sc, ctx->scratch, (size_t) n);
    }

    return NGX_OK;
}


static void
ngx_http_ai_release_answer_piece(ngx_http_ai_release_contract_t *cc,
    ngx_http_ai_release_signals_t *sc, u_char *p, size_t len)
{
    if (cc && cc->feeding
        && ai_release_contract_feed(&cc->check, p, len)
           != AI_RELEASE_CONTRACT_OK)
    {
        /* the first rule broken is the verdict: the rest is not read */
        cc->feeding = 0;
    }

    if (sc) {
        ngx_http_ai_release_signals_feed(sc, p, len);
    }
}


/*
 * enforce: a buffer's bytes copied into the answer held, up to max_bytes
 * (past it the answer is refused anyway), and the buffer marked sent
 */

static ngx_int_t
ngx_http_ai_release_contract_keep(ngx_http_request_t *r,
    ngx_http_ai_release_contract_t *cc, ngx_buf_t *b)
{
    off_t         size, room;
    ssize_t       n;
    ngx_buf_t    *copy;
    ngx_chain_t  *cl;

    size = ngx_buf_size(b);

    if (ngx_buf_special(b) || size == 0) {
        return NGX_OK;
    }

    room = (off_t) cc->check.contract->max_bytes - cc->held_bytes;

    if (room > 0) {
        size = ngx_min(size, room);

        copy = ngx_create_temp_buf(r->pool, (size_t) size);
        if (copy == NULL) {
            return NGX_ERROR;
        }

        if (ngx_buf_in_memory(b)) {
            copy->last = ngx_cpymem(copy->last, b->pos, (size_t) size);

        } else {
            n = ngx_read_file(b->file, copy->pos, (size_t) size,
                              b->file_pos);

            if (n != (ssize_t) size) {
                return NGX_ERROR;
            }

            copy->last += n;
        }

        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf = copy;
        cl->next = NULL;

        *cc->held_last = cl;
        cc->held_last = &cl->next;
        cc->held_bytes += size;
    }

    b->pos = b->last;
    b->file_pos = b->file_last;

    return NGX_OK;
}


/*
 * The verdict on the answer of the request's bundle, given once: at its
 * last byte, or, for an answer cut short, when the log phase asks.  It
 * is counted by rule in the bundle's slot.
 */

ai_release_contract_rule_e
ngx_http_ai_release_contract_judge(ngx_http_ai_release_ctx_t *ctx)
{
    u_char                          detail[256];
    ngx_msec_t                      latency, first_byte;
    ai_release_contract_rule_e      rule;
    ngx_http_ai_release_target_t   *t;
    ngx_http_ai_release_contract_t *cc;

    cc = ctx->contract;

    if (cc->judged) {
        return cc->rule;
    }

    cc->judged = 1;
    t = cc->target;

    rule = ai_release_contract_finish(&cc->check, cc->whole);

    if (rule == AI_RELEASE_CONTRACT_OK) {
        latency = ngx_current_msec - ctx->start;
        first_byte = (cc->first_byte == (ngx_msec_t) -1) ? latency
                                                          : cc->first_byte;

        rule = ai_release_contract_latency(cc->check.contract, latency,
                                           first_byte);

        if (rule != AI_RELEASE_CONTRACT_OK) {
            (void) ngx_snprintf(detail, sizeof(detail),
                                "%M ms, first byte after %M ms%Z",
                                latency, first_byte);
        }

    } else {
        (void) ai_release_contract_detail(&cc->check, (char *) detail,
                                          sizeof(detail));
    }

    cc->rule = rule;

    if (ngx_http_ai_release_slot_current(t)) {
        ai_release_atomic_add(&t->answers->contract[rule], 1);
    }

    if (rule != AI_RELEASE_CONTRACT_OK) {
        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "ai_release: workflow \"%V\" bundle \"%V\": answer "
                      "broke its output contract: %s: %s",
                      &ctx->workflow->name, &t->id,
                      ai_release_contract_rule_name(rule), detail);
    }

    return rule;
}


/*
 * The verdict, where there is one by now: an answer that passed whole was
 * judged at its end; one cut short is judged once the upstream module is
 * done with it (the access log runs before the module's log handler, and
 * asks first); one still coming, or one the client left, has none.
 */

ngx_int_t
ngx_http_ai_release_contract_final(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx)
{
    ngx_http_ai_release_contract_t  *cc;

    cc = ctx->contract;

    if (cc == NULL) {
        return NGX_DECLINED;
    }

    if (cc->judged) {
        return NGX_OK;
    }

    if (r->upstream == NULL
        || r->upstream->peer.connection
        || r->connection->error
        || r->headers_out.status == NGX_HTTP_CLIENT_CLOSED_REQUEST)
    {
        return NGX_DECLINED;
    }

    (void) ngx_http_ai_release_contract_judge(ctx);

    return NGX_OK;
}


/* for a shadow pair: -1 not judged, 0 kept, 1 broke its contract */

int
ngx_http_ai_release_contract_verdict(ngx_http_ai_release_ctx_t *ctx)
{
    ngx_http_ai_release_contract_t  *cc;

    cc = ctx->contract;

    if (cc == NULL || !cc->judged) {
        return -1;
    }

    return cc->rule != AI_RELEASE_CONTRACT_OK;
}


/* $ai_release_contract: "ok", "broken:RULE", or not found */

ngx_int_t
ngx_http_ai_release_contract_variable(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx, ngx_str_t *s)
{
    u_char                          *p;
    const char                      *name;
    ngx_http_ai_release_contract_t  *cc;

    if (ngx_http_ai_release_contract_final(r, ctx) != NGX_OK) {
        return NGX_DECLINED;
    }

    cc = ctx->contract;

    if (cc->rule == AI_RELEASE_CONTRACT_OK) {
        *s = ngx_http_ai_release_ok;
        return NGX_OK;
    }

    name = ai_release_contract_rule_name(cc->rule);

    p = ngx_pnalloc(r->pool, sizeof("broken:") - 1 + ngx_strlen(name));
    if (p == NULL) {
        return NGX_ERROR;
    }

    s->data = p;
    p = ngx_cpymem(p, "broken:", sizeof("broken:") - 1);
    p = ngx_cpymem(p, name, ngx_strlen(name));
    s->len = p - s->data;

    return NGX_OK;
}


/*
 * The outcome class of the request's last attempt, with its answer's
 * verdict: an answer that came whole and well by its status but broke its
 * contract is "contract"; a failed one keeps its class.
 */

ngx_uint_t
ngx_http_ai_release_contract_class(ngx_http_ai_release_ctx_t *ctx,
    ngx_uint_t cls)
{
    ngx_http_ai_release_contract_t  *cc;

    cc = ctx->contract;

    if (cc->judged
        && cc->target == ctx->target
        && cc->rule != AI_RELEASE_CONTRACT_OK
        && (cls == AI_RELEASE_OK || cls == AI_RELEASE_SLOW))
    {
        return AI_RELEASE_CONTRACT;
    }

    return cls;
}


/* enforce: the answer held is whole; send it, or refuse it */

static ngx_int_t
ngx_http_ai_release_contract_decide(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx)
{
    ngx_int_t                        rc;
    ngx_buf_t                       *b;
    ngx_chain_t                     *cl;
    ngx_http_ai_release_contract_t  *cc;

    cc = ctx->contract;

    if (ngx_http_ai_release_contract_judge(ctx) != AI_RELEASE_CONTRACT_OK) {
        return ngx_http_ai_release_contract_refuse(r, ctx);
    }

    /* kept: the answer as it came */

    if (cc->held == NULL) {
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_ERROR;
        }

        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf = b;
        cl->next = NULL;
        cc->held = cl;

    } else {
        for (cl = cc->held; cl->next; cl = cl->next) { /* void */ }
    }

    cl->buf->last_buf = 1;
    cl->buf->last_in_chain = 1;

    rc = ngx_http_next_header_filter(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_next_body_filter(r, cc->held);
}


/*
 * enforce: a broken answer is never sent.  Where the workflow fails over
 * and a known-good bundle can take the request, the request starts again
 * at it once the upstream module is done with this answer; else 502.
 */

static ngx_int_t
ngx_http_ai_release_contract_refuse(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx)
{
    u_char                          *p, msg[384];
    json_t                          *root;
    ngx_http_ai_release_contract_t  *cc;

    cc = ctx->contract;

    if (ctx->workflow->failover
        && ctx->failed == NULL
        && ngx_http_ai_release_failover_target(ctx) != NULL)
    {
        r->buffered |= NGX_HTTP_AI_RELEASE_BUFFERED;

        cc->restart.handler = ngx_http_ai_release_contract_restart;
        cc->restart.data = r;
        cc->restart.log = r->connection->log;

        ngx_post_event(&cc->restart, &ngx_posted_events);

        return NGX_OK;
    }

    p = ngx_snprintf(msg, sizeof(msg) - 1,
                     "the answer of bundle %V broke its output contract "
                     "(%s)", &cc->target->id,
                     ai_release_contract_rule_name(cc->rule));
    *p = '\0';

    /* Anthropic's SDKs know a fixed set of error types */

    root = ngx_http_ai_release_format_error(ctx->workflow->format,
               ctx->workflow->format == AI_RELEASE_FORMAT_ANTHROPIC_MESSAGES
               ? "api_error" : "contract_error",
               (char *) msg, ai_release_contract_rule_name(cc->rule));

    if (root == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_ai_release_reset_headers_out(r) != NGX_OK) {
        json_decref(root);
        return NGX_ERROR;
    }

    cc->own = 1;

    return ngx_http_ai_release_send_json(r, NGX_HTTP_BAD_GATEWAY, root);
}


/*
 * The failover of an enforced answer, from a posted event: the upstream
 * module has finalized its request, which waits (r->buffered).  The
 * broken attempt is counted, the request moves to the known-good bundle
 * (headers and body for it), and the location's content handler runs
 * again, as nginx's content phase runs it.
 */

static void
ngx_http_ai_release_contract_restart(ngx_event_t *ev)
{
    ngx_int_t                      rc;
    ngx_uint_t                     cls;
    ngx_msec_t                     latency;
    ngx_connection_t              *c;
    ngx_http_request_t            *r;
    ngx_http_ai_release_ctx_t     *ctx;
    ngx_http_ai_release_target_t  *from, *to;

    r = ev->data;
    c = r->connection;

    r->buffered &= ~NGX_HTTP_AI_RELEASE_BUFFERED;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ai_release_module);

    if (c->error || r->content_handler == NULL) {
        ngx_http_finalize_request(r, NGX_ERROR);
        goto done;
    }

    from = ctx->target;
    to = ctx->next;

    /* the broken answer is this attempt's outcome */

    cls = ngx_http_ai_release_status_class(r->upstream->headers_in.status_n);

    if (cls == AI_RELEASE_OK) {
        cls = AI_RELEASE_CONTRACT;
    }

    latency = ngx_current_msec - ctx->start;
    ctx->verdict_in_log = 0;
    ngx_http_ai_release_outcome(ctx, cls, latency);

    ctx->next = NULL;
    ctx->failed = from;
    ctx->target = to;
    ctx->reason = NGX_HTTP_AI_RELEASE_REASON_FAILOVER;
    ctx->balanced = 0;
    ctx->contract = NULL;

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "ai_release: workflow \"%V\" bundle \"%V\" broke its "
                  "output contract, request fails over to %V \"%V\"",
                  &ctx->workflow->name, &from->id,
                  &ngx_http_ai_release_variant_names[to->variant], &to->id);

    if (ngx_http_ai_release_switch_headers(r, from, to) != NGX_OK
        || (ctx->apply
            && ngx_http_ai_release_apply_target(r, ctx, to) != NGX_OK)
        || ngx_http_ai_release_reset_headers_out(r) != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        goto done;
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    rc = r->content_handler(r);

    ngx_http_finalize_request(r, rc);

done:

    ngx_http_run_posted_requests(c);
}


/* a request freed before its failover ran takes the event with it */

static void
ngx_http_ai_release_contract_cleanup(void *data)
{
    ngx_http_ai_release_contract_t  *cc = data;

    if (cc->restart.posted) {
        ngx_delete_posted_event(&cc->restart);
    }
}


/* the upstream's answer forgotten: headers as a new request has them */

static ngx_int_t
ngx_http_ai_release_reset_headers_out(ngx_http_request_t *r)
{
    ngx_memzero(&r->headers_out, sizeof(ngx_http_headers_out_t));

    if (ngx_list_init(&r->headers_out.headers, r->pool, 20,
                      sizeof(ngx_table_elt_t))
        != NGX_OK
        || ngx_list_init(&r->headers_out.trailers, r->pool, 4,
                         sizeof(ngx_table_elt_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    r->headers_out.content_length_n = -1;
    r->headers_out.last_modified_time = -1;

    return NGX_OK;
}
