/*
 * Copyright (C) ngx_ai_release authors
 *
 * Step 1c of the request path: shadow traffic ("shadow ID PERCENT" of a
 * workflow).  A handler of the precontent phase, after the bundle was
 * chosen and before the body is applied, draws the request into the
 * shadow's share, reads its body and copies what the request is (method,
 * URI, headers, body, location) into a pool of its own.  A posted event
 * then runs the copy as a request of its own: on a connection of its own
 * that has no socket (its output is dropped by its send_chain), through
 * the same location's content handler (proxy_pass, proxy_set_header and
 * the rest), with a request context that names the shadow bundle, so
 * that the balancer, the apply step, the answer filters and the outcome
 * treat it as the shadow's.  It is not a subrequest: the client's request
 * never waits for it, not even to be logged or to read its next request,
 * and it has no access log line (r->logged); its outcome is counted when
 * it is freed.
 *
 * The two answers of a mirrored request meet in a pair, allocated from
 * the heap and held by both requests: each side reports what its answer
 * said from its log step (ngx_http_ai_release_shadow_side), and the last
 * to let go compares them (ai_release_pair_count) in the chunk beside the
 * shadow's slot.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ai_release_shadow.h"


/* the pool a shadow's copy lives in: its connection's */
#define NGX_HTTP_AI_RELEASE_SHADOW_POOL  4096


typedef struct ngx_http_ai_release_pair_s  ngx_http_ai_release_pair_t;

struct ngx_http_ai_release_pair_s {
    ngx_uint_t                       refs;
    ngx_http_ai_release_target_t    *target;      /* the shadow */
    ngx_uint_t                       stable_served;
    ai_release_pair_side_t           side[2];     /* stable, shadow */
};


/* a request's hold on a pair: its cleanup's data, in its pool */

typedef struct {
    ngx_http_ai_release_ctx_t       *ctx;
    ngx_http_ai_release_pair_t      *pair;
} ngx_http_ai_release_hold_t;


/* a request to copy, in the pool of the connection that will run it */

typedef struct {
    ngx_pool_t                      *pool;
    ngx_event_t                      event;
    ngx_http_ai_release_workflow_t  *workflow;
    ngx_http_ai_release_target_t    *target;      /* the shadow */
    ngx_http_ai_release_target_t    *served;      /* the client's bundle */
    ngx_http_ai_release_pair_t      *pair;
    ngx_uint_t                       probe;

    ngx_uint_t                       method;
    ngx_str_t                        method_name;
    ngx_str_t                        http_protocol;
    ngx_str_t                        request_line;
    ngx_str_t                        uri;
    ngx_str_t                        args;
    ngx_str_t                        exten;
    ngx_str_t                        unparsed_uri;
    ngx_array_t                      headers;     /* of ngx_table_elt_t */
    unsigned                         valid_location:1;
    unsigned                         valid_unparsed_uri:1;
    unsigned                         quoted_uri:1;
    unsigned                         plus_in_uri:1;
    unsigned                         empty_path_in_uri:1;

    u_char                          *body;
    size_t                           body_len;
    ngx_uint_t                       has_body;

    void                           **main_conf;
    void                           **srv_conf;
    void                           **loc_conf;
    ngx_http_connection_t            hc;

    struct sockaddr                 *sockaddr;
    socklen_t                        socklen;
    ngx_str_t                        addr_text;
    struct sockaddr                 *local_sockaddr;
    socklen_t                        local_socklen;
    ngx_listening_t                 *listening;

    ngx_log_t                        log;
    ngx_http_log_ctx_t               log_ctx;
    ngx_http_log_handler_pt          log_handler;
} ngx_http_ai_release_shadow_t;


static ngx_int_t ngx_http_ai_release_shadow_handler(ngx_http_request_t *r);
static void ngx_http_ai_release_shadow_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_ai_release_shadow_copy(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx);
static ngx_int_t ngx_http_ai_release_shadow_copy_body(ngx_http_request_t *r,
    ngx_http_ai_release_shadow_t *sh);
static ngx_int_t ngx_http_ai_release_shadow_copy_str(ngx_pool_t *pool,
    ngx_str_t *to, ngx_str_t *from);
static void ngx_http_ai_release_shadow_run(ngx_event_t *ev);
static ngx_int_t ngx_http_ai_release_shadow_request(
    ngx_http_ai_release_shadow_t *sh, ngx_http_request_t *r);
static ngx_int_t ngx_http_ai_release_shadow_headers(ngx_http_request_t *r,
    ngx_http_ai_release_shadow_t *sh);
static void ngx_http_ai_release_shadow_done(void *data);
static void ngx_http_ai_release_shadow_freed(void *data);
static void ngx_http_ai_release_shadow_client_freed(void *data);
static void ngx_http_ai_release_shadow_side(ngx_http_ai_release_hold_t *h);
static void ngx_http_ai_release_pair_release(ngx_http_ai_release_pair_t *pair);
static void ngx_http_ai_release_shadow_skip(ngx_http_ai_release_target_t *t,
    ngx_uint_t why);
static ngx_chain_t *ngx_http_ai_release_shadow_send_chain(ngx_connection_t *c,
    ngx_chain_t *in, off_t limit);
static ssize_t ngx_http_ai_release_shadow_send(ngx_connection_t *c, u_char *buf,
    size_t size);
static u_char *ngx_http_ai_release_shadow_log_error(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len);
static void ngx_http_ai_release_shadow_event(ngx_event_t *ev);


/* nginx's own error log context of a request, which the shadow's extends */
static ngx_http_log_handler_pt  ngx_http_ai_release_shadow_log_next;


static ngx_str_t  ngx_http_ai_release_shadow_header =
    ngx_string("X-AI-Release-Shadow");

static const char  *ngx_http_ai_release_skip_names[] = {
    "in_flight", "breaker", "body", "error"
};


/* shadow ID PERCENT [max_in_flight=N]; in an ai_release_workflow block */

char *
ngx_http_ai_release_set_shadow(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_ai_release_workflow_t  *wf = conf;

    unsigned                       weight;
    ngx_int_t                      n;
    ngx_str_t                     *value;
    ngx_uint_t                     i;
    ngx_http_ai_release_target_t  *t;

    if (wf->shadow) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ai_release_parse_weight((char *) value[2].data, value[2].len,
                                &weight)
        != 0
        || weight == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid shadow share \"%V\": expected a "
                           "percentage above 0%% and up to 100%% in 0.01%% "
                           "steps, e.g. \"10%%\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    wf->shadow_max = 16;

    for (i = 3; i < cf->args->nelts; i++) {

        if (value[i].len > 14
            && ngx_strncmp(value[i].data, "max_in_flight=", 14) == 0)
        {
            n = ngx_atoi(value[i].data + 14, value[i].len - 14);

            if (n < 1 || n > 10000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": expected a number of "
                                   "requests from 1 to 10000", &value[i]);
                return NGX_CONF_ERROR;
            }

            wf->shadow_max = (ngx_uint_t) n;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" of \"shadow\": expected "
                           "\"max_in_flight=N\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    t = ngx_http_ai_release_target(cf, wf, &value[1],
                                   NGX_HTTP_AI_RELEASE_SHADOW, NULL);
    if (t == NULL) {
        return NGX_CONF_ERROR;
    }

    t->weight = weight;
    wf->shadow = t;

    return NGX_CONF_OK;
}


/* only where a workflow has a shadow: the handler, before apply's */

ngx_int_t
ngx_http_ai_release_shadow_init(ngx_conf_t *cf,
    ngx_http_ai_release_main_conf_t *amcf)
{
    ngx_uint_t                        i;
    ngx_http_handler_pt              *h;
    ngx_http_core_main_conf_t        *cmcf;
    ngx_http_ai_release_workflow_t  **wfp;

    wfp = amcf->workflows.elts;

    for (i = 0; i < amcf->workflows.nelts; i++) {
        if (wfp[i]->shadow) {
            break;
        }
    }

    if (i == amcf->workflows.nelts) {
        return NGX_OK;
    }

    /* a phase's handlers run last added first: this one before apply's */

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ai_release_shadow_handler;

    return NGX_OK;
}


/*
 * The chunk beside a shadow's slot: kept by a slot that stays, copied
 * from the old zone's after a resize (its pointer is then outside this
 * zone), allocated for a slot that had none.
 */

ngx_int_t
ngx_http_ai_release_shadow_bind(ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_target_t *t, ngx_http_ai_release_slot_t *slot)
{
    ngx_slab_pool_t                  *shpool;
    ngx_http_ai_release_shadow_sh_t  *s, *from;

    shpool = amcf->shpool;
    s = slot->shadow;
    from = NULL;

    if (s && ((u_char *) s < shpool->start || (u_char *) s >= shpool->end)) {
        from = s;
        s = NULL;
        slot->shadow = NULL;
    }

    if (t->variant != NGX_HTTP_AI_RELEASE_SHADOW) {
        t->shadow = NULL;
        return NGX_OK;
    }

    if (s == NULL) {
        s = ngx_slab_alloc_locked(shpool,
                                  sizeof(ngx_http_ai_release_shadow_sh_t));
        if (s == NULL) {
            ngx_log_error(NGX_LOG_EMERG, amcf->log, 0,
                          "ai_release zone \"%V\" is full: no room for the "
                          "pairs of shadow \"%V\" in workflow \"%V\"; give "
                          "it more room with \"ai_release_zone %V SIZE;\"",
                          &amcf->zone_name, &t->id, &t->workflow->name,
                          &amcf->zone_name);
            return NGX_ERROR;
        }

        if (from) {
            ngx_memcpy(s, from, sizeof(ngx_http_ai_release_shadow_sh_t));

        } else {
            ngx_memzero(s, sizeof(ngx_http_ai_release_shadow_sh_t));
        }

        slot->shadow = s;
    }

    t->shadow = s;

    return NGX_OK;
}


/*
 * Whether this request is copied: drawn at random into the share (never
 * by the sticky key: the shadow sees a sample of all users), while the
 * worker has room for one more in flight and the shadow's breaker lets it
 * through.  Its body is read first, as the proxy module would read it.
 */

static ngx_int_t
ngx_http_ai_release_shadow_handler(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_uint_t                        a;
    ngx_http_ai_release_ctx_t        *ctx;
    ngx_http_ai_release_target_t     *t;
    ngx_http_ai_release_workflow_t   *wf;
    ngx_http_ai_release_main_conf_t  *amcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ai_release_module);

    if (ctx == NULL || ctx->shadow || r != r->main) {
        return NGX_DECLINED;
    }

    ctx->shadow = NGX_HTTP_AI_RELEASE_SHADOW_DRAWN;

    wf = ctx->workflow;
    t = wf->shadow;

    if (t == NULL || t->shadow == NULL
        || !ngx_http_ai_release_slot_current(t)
        || (ngx_uint_t) ngx_random() % AI_RELEASE_WEIGHT_SCALE >= t->weight)
    {
        return NGX_DECLINED;
    }

    if (wf->shadow_in_flight >= wf->shadow_max) {
        ngx_http_ai_release_shadow_skip(t, NGX_HTTP_AI_RELEASE_SKIP_IN_FLIGHT);
        return NGX_DECLINED;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_ai_release_module);

    if (r->headers_in.content_length_n > (off_t) amcf->apply_max_body) {
        ngx_http_ai_release_shadow_skip(t, NGX_HTTP_AI_RELEASE_SKIP_BODY);
        return NGX_DECLINED;
    }

    a = ngx_http_ai_release_shadow_admit(t, r->connection->log);

    if (a == NGX_HTTP_AI_RELEASE_DENY) {
        ngx_http_ai_release_shadow_skip(t, NGX_HTTP_AI_RELEASE_SKIP_BREAKER);
        return NGX_DECLINED;
    }

    if (a == NGX_HTTP_AI_RELEASE_PROBE) {
        ctx->shadow = NGX_HTTP_AI_RELEASE_SHADOW_PROBE;
    }

    if (r->headers_in.content_length_n <= 0 && !r->headers_in.chunked) {
        /* no body to read: copied now */

        if (ngx_http_ai_release_shadow_copy(r, ctx) != NGX_OK
            && ctx->shadow == NGX_HTTP_AI_RELEASE_SHADOW_PROBE)
        {
            ngx_http_ai_release_release_probe(t);
        }

        return NGX_DECLINED;
    }

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_ai_release_shadow_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        if (ctx->shadow == NGX_HTTP_AI_RELEASE_SHADOW_PROBE) {
            ngx_http_ai_release_release_probe(t);
        }

        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


/* the body is read: copy the request, then on with the client's phases */

static void
ngx_http_ai_release_shadow_body(ngx_http_request_t *r)
{
    ngx_http_ai_release_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ai_release_module);

    if (ngx_http_ai_release_shadow_copy(r, ctx) != NGX_OK
        && ctx->shadow == NGX_HTTP_AI_RELEASE_SHADOW_PROBE)
    {
        ngx_http_ai_release_release_probe(ctx->workflow->shadow);
    }

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


static ngx_int_t
ngx_http_ai_release_shadow_copy(ngx_http_request_t *r,
    ngx_http_ai_release_ctx_t *ctx)
{
    ngx_uint_t                     i;
    ngx_pool_t                    *pool;
    ngx_list_part_t               *part;
    ngx_table_elt_t               *h, *copy;
    ngx_pool_cleanup_t            *cln;
    ngx_http_ai_release_hold_t    *hold;
    ngx_http_ai_release_pair_t    *pair;
    ngx_http_ai_release_target_t  *t;
    ngx_http_ai_release_shadow_t  *sh;

    t = ctx->workflow->shadow;

    pool = ngx_create_pool(NGX_HTTP_AI_RELEASE_SHADOW_POOL, ngx_cycle->log);
    if (pool == NULL) {
        goto failed;
    }

    sh = ngx_pcalloc(pool, sizeof(ngx_http_ai_release_shadow_t));
    if (sh == NULL) {
        ngx_destroy_pool(pool);
        goto failed;
    }

    sh->pool = pool;
    sh->workflow = ctx->workflow;
    sh->target = t;
    sh->served = ctx->target;
    sh->probe = (ctx->shadow == NGX_HTTP_AI_RELEASE_SHADOW_PROBE);

    if (ngx_http_ai_release_shadow_copy_body(r, sh) != NGX_OK) {
        ngx_destroy_pool(pool);

        /* too large once read (a chunked body), or unreadable */
        ngx_http_ai_release_shadow_skip(t, NGX_HTTP_AI_RELEASE_SKIP_BODY);
        return NGX_ERROR;
    }

    sh->method = r->method;

    /* what the proxy module reads to pass the URI on as the client's was */
    sh->valid_location = r->valid_location;
    sh->valid_unparsed_uri = r->valid_unparsed_uri;
    sh->quoted_uri = r->quoted_uri;
    sh->plus_in_uri = r->plus_in_uri;
    sh->empty_path_in_uri = r->empty_path_in_uri;

    if (ngx_http_ai_release_shadow_copy_str(pool, &sh->method_name,
                                            &r->method_name)
           != NGX_OK
        || ngx_http_ai_release_shadow_copy_str(pool, &sh->http_protocol,
                                               &r->http_protocol)
           != NGX_OK
        || ngx_http_ai_release_shadow_copy_str(pool, &sh->request_line,
                                               &r->request_line)
           != NGX_OK
        || ngx_http_ai_release_shadow_copy_str(pool, &sh->uri, &r->uri)
           != NGX_OK
        || ngx_http_ai_release_shadow_copy_str(pool, &sh->args, &r->args)
           != NGX_OK
        || ngx_http_ai_release_shadow_copy_str(pool, &sh->exten, &r->exten)
           != NGX_OK
        || ngx_http_ai_release_shadow_copy_str(pool, &sh->unparsed_uri,
                                               &r->unparsed_uri)
           != NGX_OK
        || ngx_http_ai_release_shadow_copy_str(pool, &sh->addr_text,
                                               &r->connection->addr_text)
           != NGX_OK)
    {
        goto nomem;
    }

    if (ngx_array_init(&sh->headers, pool, 16, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        goto nomem;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0) {
            /* removed */
            continue;
        }

        copy = ngx_array_push(&sh->headers);
        if (copy == NULL) {
            goto nomem;
        }

        *copy = h[i];

        copy->key.data = ngx_pstrdup(pool, &h[i].key);
        copy->value.data = ngx_pnalloc(pool, h[i].value.len + 1);
        copy->lowcase_key = ngx_pnalloc(pool, h[i].key.len);

        if (copy->key.data == NULL || copy->value.data == NULL
            || copy->lowcase_key == NULL)
        {
            goto nomem;
        }

        ngx_memcpy(copy->value.data, h[i].value.data, h[i].value.len);
        copy->value.data[h[i].value.len] = '\0';
        ngx_memcpy(copy->lowcase_key, h[i].lowcase_key, h[i].key.len);
    }

    sh->main_conf = r->main_conf;
    sh->srv_conf = r->srv_conf;
    sh->loc_conf = r->loc_conf;

    /* the listening socket's configuration: the cycle's, as is */
    sh->hc.addr_conf = r->http_connection->addr_conf;
    sh->hc.conf_ctx = r->http_connection->conf_ctx;

    sh->socklen = r->connection->socklen;
    sh->sockaddr = ngx_palloc(pool, sh->socklen);
    sh->local_socklen = r->connection->local_socklen;
    sh->local_sockaddr = ngx_palloc(pool, ngx_max(sh->local_socklen, 1));

    if (sh->sockaddr == NULL || sh->local_sockaddr == NULL) {
        goto nomem;
    }

    ngx_memcpy(sh->sockaddr, r->connection->sockaddr, sh->socklen);

    if (r->connection->local_sockaddr) {
        ngx_memcpy(sh->local_sockaddr, r->connection->local_sockaddr,
                   sh->local_socklen);

    } else {
        sh->local_socklen = 0;
    }

    sh->listening = r->connection->listening;

    sh->log = *r->connection->log;
    sh->log.data = &sh->log_ctx;
    sh->log.action = NULL;
    sh->log_handler = r->log_handler;

    /* the pair: both requests hold it */

    pair = ngx_calloc(sizeof(ngx_http_ai_release_pair_t), r->connection->log);
    if (pair == NULL) {
        goto nomem;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        ngx_free(pair);
        goto nomem;
    }

    pair->refs = 1;
    pair->target = t;
    pair->side[1].contract = -1;
    pair->side[0].contract = -1;

    cln->handler = ngx_http_ai_release_shadow_freed;
    cln->data = sh;
    sh->pair = pair;

    /* from here on the pool's cleanup counts it out of the worker's */
    ctx->workflow->shadow_in_flight++;

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_ai_release_hold_t));
    if (cln) {
        pair->refs++;
        hold = cln->data;
        hold->ctx = ctx;
        hold->pair = pair;
        cln->handler = ngx_http_ai_release_shadow_client_freed;
    }

    ai_release_atomic_add(&t->shadow->mirrored, 1);

    sh->event.handler = ngx_http_ai_release_shadow_run;
    sh->event.data = sh;
    sh->event.log = ngx_cycle->log;

    ngx_post_event(&sh->event, &ngx_posted_events);

    return NGX_OK;

nomem:

    ngx_destroy_pool(pool);

failed:

    ngx_http_ai_release_shadow_skip(t, NGX_HTTP_AI_RELEASE_SKIP_ERROR);

    return NGX_ERROR;
}


/* the client's body, from memory or its temporary file, in one buffer */

static ngx_int_t
ngx_http_ai_release_shadow_copy_body(ngx_http_request_t *r,
    ngx_http_ai_release_shadow_t *sh)
{
    off_t                             len;
    u_char                           *p;
    ssize_t                           n;
    ngx_buf_t                        *b;
    ngx_chain_t                      *cl;
    ngx_http_ai_release_main_conf_t  *amcf;

    if (r->request_body == NULL) {
        return NGX_OK;
    }

    sh->has_body = 1;
    len = ngx_http_ai_release_apply_length(r->request_body->bufs);

    amcf = ngx_http_get_module_main_conf(r, ngx_http_ai_release_module);

    if (len > (off_t) amcf->apply_max_body) {
        return NGX_DECLINED;
    }

    sh->body = ngx_pnalloc(sh->pool, (size_t) len + 1);
    if (sh->body == NULL) {
        return NGX_ERROR;
    }

    p = sh->body;

    /* in the order ngx_http_ai_release_apply_length() counts them */

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            if (b->file_last == b->file_pos) {
                continue;
            }

            n = ngx_read_file(b->file, p, (size_t) (b->file_last - b->file_pos),
                              b->file_pos);

            if (n != b->file_last - b->file_pos) {
                return NGX_ERROR;
            }

            p += n;

        } else if (ngx_buf_in_memory(b)) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }

    sh->body_len = p - sh->body;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ai_release_shadow_copy_str(ngx_pool_t *pool, ngx_str_t *to,
    ngx_str_t *from)
{
    to->len = from->len;

    if (from->len == 0) {
        to->data = (u_char *) "";
        return NGX_OK;
    }

    to->data = ngx_pstrdup(pool, from);

    return to->data ? NGX_OK : NGX_ERROR;
}


/*
 * The posted event: the copy becomes a request on a connection of its
 * own, whose descriptor is /dev/null (nginx closes what it gets; nothing
 * is ever read from or written to it, nor added to the event loop), and
 * runs the location's content handler.
 */

static void
ngx_http_ai_release_shadow_run(ngx_event_t *ev)
{
    ngx_fd_t                       fd;
    ngx_connection_t              *c;
    ngx_http_request_t            *r;
    ngx_http_ai_release_shadow_t  *sh;

    sh = ev->data;

    fd = ngx_open_file("/dev/null", NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ALERT, ev->log, ngx_errno,
                      "ai_release: shadow: " ngx_open_file_n
                      " \"/dev/null\" failed");
        goto failed;
    }

    c = ngx_get_connection((ngx_socket_t) fd, ev->log);

    if (c == NULL) {
        (void) ngx_close_file(fd);
        goto failed;
    }

#if (NGX_STAT_STUB)
    (void) ngx_atomic_fetch_add(ngx_stat_active, 1);
#endif

    /* the pool of the copy is the connection's: freed with it */

    c->pool = sh->pool;
    c->log = &sh->log;

    sh->log_ctx.connection = c;
    sh->log_ctx.request = NULL;
    sh->log_ctx.current_request = NULL;

    c->log_error = NGX_ERROR_INFO;
    c->read->log = c->log;
    c->write->log = c->log;

    c->sockaddr = sh->sockaddr;
    c->socklen = sh->socklen;
    c->addr_text = sh->addr_text;
    c->local_sockaddr = sh->local_socklen ? sh->local_sockaddr : NULL;
    c->local_socklen = sh->local_socklen;
    c->listening = sh->listening;

    c->recv = ngx_recv;
    c->send = ngx_http_ai_release_shadow_send;
    c->recv_chain = ngx_recv_chain;
    c->send_chain = ngx_http_ai_release_shadow_send_chain;
    c->type = SOCK_STREAM;

    c->tcp_nodelay = NGX_TCP_NODELAY_DISABLED;
    c->tcp_nopush = NGX_TCP_NOPUSH_DISABLED;

    /* never added to the event loop: "active" keeps nginx from it */
    c->read->active = 1;
    c->write->active = 1;
    c->write->ready = 1;
    c->read->handler = ngx_http_ai_release_shadow_event;
    c->write->handler = ngx_http_ai_release_shadow_event;

    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);
    c->start_time = ngx_current_msec;

    c->buffer = ngx_calloc_buf(c->pool);
    if (c->buffer == NULL) {
        ngx_http_close_connection(c);
        return;
    }

    c->data = &sh->hc;

    r = ngx_http_create_request(c);

    if (r == NULL) {
        ngx_http_close_connection(c);
        return;
    }

    if (ngx_http_ai_release_shadow_request(sh, r) != NGX_OK) {
        /* counted by its cleanup: no answer came */
        ngx_http_free_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        ngx_http_close_connection(c);
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_finalize_request(r, r->content_handler(r));

    ngx_http_run_posted_requests(c);

    return;

failed:

    ngx_http_ai_release_shadow_skip(sh->target,
                                    NGX_HTTP_AI_RELEASE_SKIP_ERROR);

    if (sh->probe) {
        ngx_http_ai_release_release_probe(sh->target);
    }

    ngx_destroy_pool(sh->pool);
}


static ngx_int_t
ngx_http_ai_release_shadow_request(ngx_http_ai_release_shadow_t *sh,
    ngx_http_request_t *r)
{
    ngx_buf_t                   *b;
    ngx_chain_t                 *cl;
    ngx_connection_t            *c;
    ngx_http_cleanup_t          *cln;
    ngx_http_ai_release_ctx_t   *ctx;
    ngx_http_ai_release_hold_t  *hold;

    c = r->connection;

#if (NGX_STAT_STUB)
    (void) ngx_atomic_fetch_add(ngx_stat_reading, -1);
    r->stat_reading = 0;
#endif

    c->data = r;
    sh->log_ctx.current_request = r;

    r->main_conf = sh->main_conf;
    r->srv_conf = sh->srv_conf;
    r->loc_conf = sh->loc_conf;

    r->method = sh->method;
    r->method_name = sh->method_name;
    r->http_protocol = sh->http_protocol;
    r->http_version = NGX_HTTP_VERSION_11;
    r->request_line = sh->request_line;
    r->uri = sh->uri;
    r->args = sh->args;
    r->exten = sh->exten;
    r->unparsed_uri = sh->unparsed_uri;
    r->valid_location = sh->valid_location;
    r->valid_unparsed_uri = sh->valid_unparsed_uri;
    r->quoted_uri = sh->quoted_uri;
    r->plus_in_uri = sh->plus_in_uri;
    r->empty_path_in_uri = sh->empty_path_in_uri;
    ngx_http_ai_release_shadow_log_next = sh->log_handler;
    r->log_handler = ngx_http_ai_release_shadow_log_error;
    r->http_state = NGX_HTTP_PROCESS_REQUEST_STATE;

    /* no access log line: the client's request has its own */
    r->logged = 1;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ai_release_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->request = r;
    ctx->workflow = sh->workflow;
    ctx->target = sh->target;
    ctx->reason = NGX_HTTP_AI_RELEASE_REASON_WEIGHT;
    ctx->probe = sh->probe;
    ctx->shadow = NGX_HTTP_AI_RELEASE_SHADOW_COPY;

    ngx_http_set_ctx(r, ctx, ngx_http_ai_release_module);

    /* the probe and the pair are the request's from here on */
    sh->probe = 0;

    /* its outcome, counted as the log phase would, before it is freed */

    cln = ngx_http_cleanup_add(r, sizeof(ngx_http_ai_release_hold_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    hold = cln->data;
    hold->ctx = ctx;
    hold->pair = sh->pair;
    sh->pair->refs++;

    cln->handler = ngx_http_ai_release_shadow_done;

    if (ngx_http_ai_release_shadow_headers(r, sh) != NGX_OK) {
        return NGX_ERROR;
    }

    if (sh->has_body) {
        r->request_body = ngx_pcalloc(r->pool,
                                      sizeof(ngx_http_request_body_t));
        if (r->request_body == NULL) {
            return NGX_ERROR;
        }

        if (sh->body_len) {
            b = ngx_calloc_buf(r->pool);
            cl = ngx_alloc_chain_link(r->pool);

            if (b == NULL || cl == NULL) {
                return NGX_ERROR;
            }

            b->pos = sh->body;
            b->last = sh->body + sh->body_len;
            b->start = b->pos;
            b->end = b->last;
            b->memory = 1;
            b->last_buf = 1;

            cl->buf = b;
            cl->next = NULL;
            r->request_body->bufs = cl;
        }
    }

    ngx_http_update_location_config(r);

    if (r->content_handler == NULL) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "ai_release: shadow: the location of workflow \"%V\" "
                      "has no content handler (proxy_pass)",
                      &sh->workflow->name);
        return NGX_ERROR;
    }

    if (sh->workflow->apply && sh->body_len
        && ngx_http_ai_release_apply_copy(r, ctx) != NGX_OK)
    {
        /* the shadow bundle does not fit this body: refused at the edge */
        ngx_http_ai_release_rejected(ctx);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The client's headers, the served bundle's replaced by the shadow's,
 * then X-AI-Release-Shadow and the body's length; each through nginx's
 * own handler of its name, as if read from the client.
 */

static ngx_int_t
ngx_http_ai_release_shadow_headers(ngx_http_request_t *r,
    ngx_http_ai_release_shadow_t *sh)
{
    ngx_uint_t                  i;
    ngx_list_part_t            *part;
    ngx_table_elt_t            *h, *src;
    ngx_http_header_t          *hh;
    ngx_http_core_main_conf_t  *cmcf;

    if (ngx_list_init(&r->headers_in.headers, r->pool, sh->headers.nelts + 4,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    src = sh->headers.elts;

    for (i = 0; i < sh->headers.nelts; i++) {

        /* the body's length is set below; the marking header is ours */

        if ((src[i].key.len == sizeof("content-length") - 1
             && ngx_strncmp(src[i].lowcase_key, "content-length",
                            src[i].key.len) == 0)
            || (src[i].key.len == sizeof("transfer-encoding") - 1
                && ngx_strncmp(src[i].lowcase_key, "transfer-encoding",
                               src[i].key.len) == 0)
            || (src[i].key.len == sizeof("expect") - 1
                && ngx_strncmp(src[i].lowcase_key, "expect",
                               src[i].key.len) == 0)
            || (src[i].key.len == ngx_http_ai_release_shadow_header.len
                && ngx_strncasecmp(src[i].lowcase_key,
                                   ngx_http_ai_release_shadow_header.data,
                                   src[i].key.len) == 0))
        {
            continue;
        }

        h = ngx_list_push(&r->headers_in.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = src[i];
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif
    }

    if (ngx_http_ai_release_switch_headers(r, sh->served, sh->target)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key = ngx_http_ai_release_shadow_header;
    h->value = sh->target->id;
    h->lowcase_key = (u_char *) "x-ai-release-shadow";
    h->hash = ngx_hash_key(h->lowcase_key, h->key.len);
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    if (sh->has_body) {
        h = ngx_list_push(&r->headers_in.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        ngx_str_set(&h->key, "Content-Length");
        h->lowcase_key = (u_char *) "content-length";
        h->hash = ngx_hash_key(h->lowcase_key, h->key.len);
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif

        h->value.data = ngx_pnalloc(r->pool, NGX_SIZE_T_LEN);
        if (h->value.data == NULL) {
            return NGX_ERROR;
        }

        h->value.len = ngx_sprintf(h->value.data, "%uz", sh->body_len)
                       - h->value.data;

        r->headers_in.content_length_n = (off_t) sh->body_len;
    }

    /* what nginx's header handlers set: Host, Content-Type and the rest */

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        hh = ngx_hash_find(&cmcf->headers_in_hash, h[i].hash,
                           h[i].lowcase_key, h[i].key.len);

        if (hh && hh->handler(r, &h[i], hh->offset) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (r->headers_in.server.len == 0 && r->headers_in.host) {
        r->headers_in.server = r->headers_in.host->value;
    }

    return NGX_OK;
}


/*
 * Its connection's events: a timer of the write filter (limit_rate), or
 * worker_shutdown_timeout closing every connection (c->close), which ends
 * the copy as a client's connection error would.
 */

static void
ngx_http_ai_release_shadow_event(ngx_event_t *ev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    c = ev->data;
    r = c->data;

    ngx_http_set_log_request(c->log, r);

    if (c->close) {
        ngx_http_finalize_request(r, NGX_ERROR);

    } else if (ev->write) {
        if (ev->delayed && ev->timedout) {
            ev->delayed = 0;
            ev->timedout = 0;
        }

        r->write_event_handler(r);

    } else {
        r->read_event_handler(r);
    }

    ngx_http_run_posted_requests(c);
}


/* the shadow request is freed: its outcome first, as a log phase would */

static void
ngx_http_ai_release_shadow_done(void *data)
{
    ngx_http_ai_release_hold_t  *hold = data;

    (void) ngx_http_ai_release_log_handler(hold->ctx->request);

    ngx_http_ai_release_shadow_side(hold);
}


/* the copy's pool goes: one fewer in flight; the pair is let go */

static void
ngx_http_ai_release_shadow_freed(void *data)
{
    ngx_http_ai_release_shadow_t  *sh = data;

    sh->workflow->shadow_in_flight--;

    if (sh->pair) {
        ngx_http_ai_release_pair_release(sh->pair);
        sh->pair = NULL;
    }
}


/* the client's request goes without having said what its answer was */

static void
ngx_http_ai_release_shadow_client_freed(void *data)
{
    ngx_http_ai_release_hold_t  *hold = data;

    ngx_http_ai_release_shadow_side(hold);
}


/*
 * What an answer of a pair said, once its request is done with it (the
 * client's request's pool goes, the copy is freed): the client's
 * (stable's when stable served it) or the shadow's.
 */

static void
ngx_http_ai_release_shadow_side(ngx_http_ai_release_hold_t *hold)
{
    ngx_uint_t                          cls, copy;
    ngx_http_request_t                 *r;
    ngx_http_ai_release_ctx_t          *ctx;
    ngx_http_ai_release_pair_t         *pair;
    ai_release_pair_side_t             *side;
    const ai_release_signals_result_t  *res;

    ctx = hold->ctx;
    pair = hold->pair;
    r = ctx->request;

    copy = (ctx->shadow == NGX_HTTP_AI_RELEASE_SHADOW_COPY);
    side = &pair->side[copy];

    if (!copy) {
        pair->stable_served = (ctx->target == ctx->workflow->stable);
    }

    /* the class of its last attempt, if one was counted */
    cls = ctx->outcome ? (ngx_uint_t) ctx->outcome - 1 : AI_RELEASE_CONNECT;

    side->ok = !r->connection->error
               && (cls == AI_RELEASE_OK || cls == AI_RELEASE_SLOW
                || cls == AI_RELEASE_CONTRACT)
               && r->headers_out.status >= 200
               && r->headers_out.status < 300;

    if (ctx->contract) {
        side->contract = ngx_http_ai_release_contract_verdict(ctx);
    }

    res = ctx->signals ? ngx_http_ai_release_signals_result(ctx->signals)
                       : NULL;

    if (res) {
        side->read = !res->invalid;
        side->has_tokens = res->has_output;
        side->output_tokens = res->output_tokens;
        side->text_bytes = res->text_bytes;
        side->tool_calls = res->tool_calls;
        side->ending = res->ending;
    }

    ngx_http_ai_release_pair_release(pair);
}


/* the last to let go of a pair compares it */

static void
ngx_http_ai_release_pair_release(ngx_http_ai_release_pair_t *pair)
{
    ngx_http_ai_release_target_t  *t;

    if (--pair->refs) {
        return;
    }

    t = pair->target;

    if (ngx_http_ai_release_slot_current(t) && t->shadow) {
        ai_release_pair_count(&t->shadow->pairs, (int) pair->stable_served,
                              &pair->side[0], &pair->side[1]);
    }

    ngx_free(pair);
}


static void
ngx_http_ai_release_shadow_skip(ngx_http_ai_release_target_t *t,
    ngx_uint_t why)
{
    if (t->shadow && ngx_http_ai_release_slot_current(t)) {
        ai_release_atomic_add(&t->shadow->skipped[why], 1);
    }
}


/* the shadow's answer goes nowhere: every byte counts as sent */

static ngx_chain_t *
ngx_http_ai_release_shadow_send_chain(ngx_connection_t *c, ngx_chain_t *in,
    off_t limit)
{
    ngx_buf_t  *b;

    for ( /* void */ ; in; in = in->next) {
        b = in->buf;

        if (ngx_buf_special(b)) {
            continue;
        }

        c->sent += ngx_buf_size(b);

        b->pos = b->last;
        b->file_pos = b->file_last;
    }

    return NULL;
}


static ssize_t
ngx_http_ai_release_shadow_send(ngx_connection_t *c, u_char *buf, size_t size)
{
    c->sent += size;

    return size;
}


/* an error logged for the shadow's copy says so */

static u_char *
ngx_http_ai_release_shadow_log_error(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len)
{
    u_char                     *p;
    ngx_http_ai_release_ctx_t  *ctx;

    p = ngx_http_ai_release_shadow_log_next(r, sr, buf, len);

    ctx = ngx_http_get_module_ctx(r, ngx_http_ai_release_module);

    if (ctx && ctx->target) {
        p = ngx_snprintf(p, len - (p - buf), ", shadow: \"%V\"",
                         &ctx->target->id);
    }

    return p;
}


/* the status JSON's "shadow" of a shadow bundle */

json_t *
ngx_http_ai_release_shadow_json(ngx_http_ai_release_target_t *t)
{
    double                            v;
    json_t                           *o, *p, *x;
    ngx_uint_t                        i;
    ai_release_pair_agg_t            *a;
    ai_release_pair_ratio_t          *ratio;
    ngx_http_ai_release_shadow_sh_t  *s;

    if (t->variant != NGX_HTTP_AI_RELEASE_SHADOW || t->shadow == NULL
        || !ngx_http_ai_release_slot_current(t))
    {
        return NULL;
    }

    s = t->shadow;
    a = &s->pairs;

    o = json_object();
    json_object_set_new(o, "percent", json_real(t->weight / 100.0));
    json_object_set_new(o, "max_in_flight",
                        json_integer(t->workflow->shadow_max));
    json_object_set_new(o, "mirrored",
                        json_integer(ai_release_atomic_load(&s->mirrored)));
    json_object_set_new(o, "in_flight",
                        json_integer(t->workflow->shadow_in_flight));

    x = json_object();

    for (i = 0; i < NGX_HTTP_AI_RELEASE_NSKIPS; i++) {
        json_object_set_new(x, ngx_http_ai_release_skip_names[i],
                       json_integer(ai_release_atomic_load(&s->skipped[i])));
    }

    json_object_set_new(o, "skipped", x);

    p = json_object();
    json_object_set_new(p, "compared",
                        json_integer(ai_release_atomic_load(&a->compared)));

    x = json_object();

    for (i = 0; i < AI_RELEASE_PAIR_NCONTRACT; i++) {
        json_object_set_new(x, ai_release_pair_contract_name(i),
                      json_integer(ai_release_atomic_load(&a->contract[i])));
    }

    json_object_set_new(p, "contract", x);

    x = json_object();
    json_object_set_new(x, "same", json_integer(
                            ai_release_atomic_load(&a->ending_same)));
    json_object_set_new(x, "different", json_integer(
                            ai_release_atomic_load(&a->ending_different)));
    json_object_set_new(p, "ending", x);

    x = json_object();

    for (i = 0; i < AI_RELEASE_PAIR_NTOOLS; i++) {
        json_object_set_new(x, ai_release_pair_tools_name(i),
                         json_integer(ai_release_atomic_load(&a->tools[i])));
    }

    json_object_set_new(p, "tools", x);

    for (i = 0; i < AI_RELEASE_PAIR_NMEASURES; i++) {
        ratio = &a->ratio[i];

        x = json_object();
        json_object_set_new(x, "count", json_integer(
                                ai_release_atomic_load(&ratio->count)));

        v = ai_release_pair_quantile(ratio->buckets, 0.50);
        json_object_set_new(x, "p50", v < 0 ? json_null() : json_real(v));
        v = ai_release_pair_quantile(ratio->buckets, 0.95);
        json_object_set_new(x, "p95", v < 0 ? json_null() : json_real(v));
        v = ai_release_pair_geomean(
                ai_release_atomic_load(&ratio->count),
                (int64_t) ai_release_atomic_load((uint64_t *) &ratio->log_sum));
        json_object_set_new(x, "geomean", v < 0 ? json_null() : json_real(v));

        json_object_set_new(p, i == AI_RELEASE_PAIR_TOKENS
                               ? "output_tokens_ratio" : "text_bytes_ratio",
                            x);
    }

    x = json_object();

    for (i = 0; i < AI_RELEASE_PAIR_NUNPAIRED; i++) {
        json_object_set_new(x, ai_release_unpaired_name(i),
                      json_integer(ai_release_atomic_load(&a->unpaired[i])));
    }

    json_object_set_new(p, "unpaired", x);
    json_object_set_new(o, "pairs", p);

    return o;
}


/* the same in Prometheus text, per shadow bundle */

static const char  ngx_http_ai_release_shadow_help[] =
    "# HELP ai_release_shadow_mirrored_total Requests copied to the shadow "
    "bundle.\n"
    "# TYPE ai_release_shadow_mirrored_total counter\n"
    "# HELP ai_release_shadow_skipped_total Requests of the shadow's share "
    "not copied, by reason.\n"
    "# TYPE ai_release_shadow_skipped_total counter\n"
    "# HELP ai_release_shadow_pairs_total Mirrored requests whose stable and "
    "shadow answers were compared.\n"
    "# TYPE ai_release_shadow_pairs_total counter\n"
    "# HELP ai_release_shadow_pair_contract_total Compared pairs by their "
    "output contract verdicts.\n"
    "# TYPE ai_release_shadow_pair_contract_total counter\n"
    "# HELP ai_release_shadow_pair_ending_total Compared pairs whose answers "
    "ended the same way or not.\n"
    "# TYPE ai_release_shadow_pair_ending_total counter\n"
    "# HELP ai_release_shadow_pair_tools_total Compared pairs by which "
    "answers called tools.\n"
    "# TYPE ai_release_shadow_pair_tools_total counter\n"
    "# HELP ai_release_shadow_unpaired_total Mirrored requests not "
    "compared, by reason.\n"
    "# TYPE ai_release_shadow_unpaired_total counter\n"
    "# HELP ai_release_shadow_ratio Shadow over stable per compared pair: "
    "output tokens or text bytes.\n"
    "# TYPE ai_release_shadow_ratio histogram\n";

#define NGX_HTTP_AI_RELEASE_SHADOW_LABELS                                    \
    "workflow=\"%V\",bundle=\"%V\",digest=\"%V\""

ngx_int_t
ngx_http_ai_release_shadow_prometheus(ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_workflow_t *only, ngx_http_ai_release_text_t *tx,
    u_char *labels, size_t line)
{
    u_char                           *l;
    uint64_t                          cum;
    ngx_uint_t                        i, k, m, any;
    ai_release_pair_agg_t            *a;
    ai_release_pair_ratio_t          *ratio;
    ngx_http_ai_release_target_t     *t;
    ngx_http_ai_release_workflow_t  **wfp, *wf;
    ngx_http_ai_release_shadow_sh_t  *s;

#define AI_PRINT(...)                                                        \
    if (ngx_http_ai_release_text_printf(tx, line, __VA_ARGS__) != NGX_OK) {  \
        return NGX_ERROR;                                                    \
    }

    wfp = amcf->workflows.elts;
    any = 0;

    for (i = 0; i < amcf->workflows.nelts; i++) {
        wf = wfp[i];
        t = wf->shadow;

        if ((only && wf != only) || t == NULL || t->shadow == NULL
            || !ngx_http_ai_release_slot_current(t))
        {
            continue;
        }

        if (!any) {
            any = 1;

            if (ngx_http_ai_release_text_add(tx,
                    (u_char *) ngx_http_ai_release_shadow_help,
                    sizeof(ngx_http_ai_release_shadow_help) - 1, 0)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        s = t->shadow;
        a = &s->pairs;

        l = ngx_sprintf(labels, NGX_HTTP_AI_RELEASE_SHADOW_LABELS,
                        &wf->name, &t->id, &t->digest_short);
        *l = '\0';

        AI_PRINT("ai_release_shadow_mirrored_total{%s} %uL\n", labels,
                 ai_release_atomic_load(&s->mirrored));

        for (k = 0; k < NGX_HTTP_AI_RELEASE_NSKIPS; k++) {
            AI_PRINT("ai_release_shadow_skipped_total{%s,reason=\"%s\"} "
                     "%uL\n", labels, ngx_http_ai_release_skip_names[k],
                     ai_release_atomic_load(&s->skipped[k]));
        }

        AI_PRINT("ai_release_shadow_pairs_total{%s} %uL\n", labels,
                 ai_release_atomic_load(&a->compared));

        for (k = 0; k < AI_RELEASE_PAIR_NCONTRACT; k++) {
            AI_PRINT("ai_release_shadow_pair_contract_total{%s,verdict="
                     "\"%s\"} %uL\n", labels,
                     ai_release_pair_contract_name(k),
                     ai_release_atomic_load(&a->contract[k]));
        }

        AI_PRINT("ai_release_shadow_pair_ending_total{%s,ending=\"same\"} "
                 "%uL\n", labels, ai_release_atomic_load(&a->ending_same));
        AI_PRINT("ai_release_shadow_pair_ending_total{%s,ending="
                 "\"different\"} %uL\n", labels,
                 ai_release_atomic_load(&a->ending_different));

        for (k = 0; k < AI_RELEASE_PAIR_NTOOLS; k++) {
            AI_PRINT("ai_release_shadow_pair_tools_total{%s,calls=\"%s\"} "
                     "%uL\n", labels, ai_release_pair_tools_name(k),
                     ai_release_atomic_load(&a->tools[k]));
        }

        for (k = 0; k < AI_RELEASE_PAIR_NUNPAIRED; k++) {
            AI_PRINT("ai_release_shadow_unpaired_total{%s,reason=\"%s\"} "
                     "%uL\n", labels, ai_release_unpaired_name(k),
                     ai_release_atomic_load(&a->unpaired[k]));
        }

        for (m = 0; m < AI_RELEASE_PAIR_NMEASURES; m++) {
            ratio = &a->ratio[m];
            cum = 0;

            for (k = 0; k < AI_RELEASE_PAIR_RATIO_BUCKETS - 1; k++) {
                cum += ai_release_atomic_load(&ratio->buckets[k]);

                AI_PRINT("ai_release_shadow_ratio_bucket{%s,measure=\"%s\","
                         "le=\"%.4f\"} %uL\n", labels,
                         ai_release_pair_measure_name(m),
                         ai_release_pair_bucket_le(k), cum);
            }

            cum += ai_release_atomic_load(
                       &ratio->buckets[AI_RELEASE_PAIR_RATIO_BUCKETS - 1]);

            AI_PRINT("ai_release_shadow_ratio_bucket{%s,measure=\"%s\","
                     "le=\"+Inf\"} %uL\n", labels,
                     ai_release_pair_measure_name(m), cum);
            AI_PRINT("ai_release_shadow_ratio_count{%s,measure=\"%s\"} "
                     "%uL\n", labels, ai_release_pair_measure_name(m), cum);
        }
    }

#undef AI_PRINT

    return NGX_OK;
}
