/*
 * Copyright (C) ngx_ai_release authors
 *
 * What every output format of the status reads from a bundle the same
 * way: its configured weight, a snapshot of its latency histogram, what
 * its answers said against its output contract and the name of the reason
 * its breaker last tripped.
 */


#ifndef _NGX_HTTP_AI_RELEASE_DISPLAY_H_INCLUDED_
#define _NGX_HTTP_AI_RELEASE_DISPLAY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ai_release_module.h"


ngx_uint_t ngx_http_ai_release_configured_weight(
    ngx_http_ai_release_target_t *t);
void ngx_http_ai_release_latency_load(ngx_http_ai_release_slot_t *slot,
    uint64_t *counts, uint64_t *exported);
ngx_int_t ngx_http_ai_release_answers_load(ngx_http_ai_release_target_t *t,
    uint64_t *verdicts, uint64_t *unread);
const char *ngx_http_ai_release_trip_reason_name(
    ngx_http_ai_release_target_t *t, u_char *buf, size_t size);


#endif /* _NGX_HTTP_AI_RELEASE_DISPLAY_H_INCLUDED_ */
