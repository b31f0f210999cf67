
/*
 * Copyright (C) ngx_ai_release authors
 *
 * The release record: what each configuration load and each API action
 * changed in a workflow, logged once and kept, the last
 * NGX_HTTP_AI_RELEASE_HISTORY_N records a workflow, in the shared zone.
 */


#ifndef _NGX_HTTP_AI_RELEASE_HISTORY_H_INCLUDED_
#define _NGX_HTTP_AI_RELEASE_HISTORY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_ai_release_module.h"


/* records kept a workflow: the oldest goes when one more comes */
#define NGX_HTTP_AI_RELEASE_HISTORY_N        16

/* bytes of what changed a record keeps (the log line has it whole) */
#define NGX_HTTP_AI_RELEASE_HISTORY_TEXT     480

/* who: "reload" or "api:VERB" */
#define NGX_HTTP_AI_RELEASE_HISTORY_WHO      16

/* digests a record keeps of each side: stable, canaries, fallback */
#define NGX_HTTP_AI_RELEASE_HISTORY_DIGESTS  4


/*
 * At every configuration load, from the zone's init with its mutex held:
 * logs and records what changed in each workflow since prev, the running
 * configuration (NULL at a start: nothing is said), and frees the records
 * of workflows neither has.  from: prev when the zone was resized (its
 * records are carried over).  NGX_ERROR only when the zone's record
 * keeping cannot be set up at all.
 */
ngx_int_t ngx_http_ai_release_history_init(
    ngx_http_ai_release_main_conf_t *amcf,
    ngx_http_ai_release_main_conf_t *prev,
    ngx_http_ai_release_main_conf_t *from);

/*
 * One record of wf, now: who ("api:pin"), what (text, len), the digests
 * before and after being the workflow's own (an API action changes
 * routing, not bundles).  Takes the zone's mutex; a record that finds no
 * room is logged at warn and dropped.
 */
void ngx_http_ai_release_history_add(ngx_http_ai_release_workflow_t *wf,
    const char *who, u_char *text, size_t len, ngx_log_t *log);

/* the records of wf, newest first: a JSON array */
json_t *ngx_http_ai_release_history_json(ngx_http_ai_release_workflow_t *wf);

/*
 * The bytes of the zone the records may take: beyond the room of two
 * configurations' slots (ngx_http_ai_release_shm.c)
 */
size_t ngx_http_ai_release_zone_spare(ngx_http_ai_release_main_conf_t *amcf);


#endif /* _NGX_HTTP_AI_RELEASE_HISTORY_H_INCLUDED_ */
