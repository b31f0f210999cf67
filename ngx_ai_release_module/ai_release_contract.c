
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Output contracts (see ai_release_contract.h): a contract's pointers
 * parsed once for the body and for the events of each wire format, and
 * the checker of one answer, a handler of the streaming JSON scanner and
 * the SSE parser that keeps bits, counters and a few bytes to quote, and
 * allocates nothing.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai_release_contract.h"


/* the events of a stream that an answer is assembled from (view->event) */

enum {
    AI_RELEASE_EV_ANY = 0,
    AI_RELEASE_EV_MESSAGE_START,
    AI_RELEASE_EV_MESSAGE_DELTA,
    AI_RELEASE_EV_BLOCK_START,
    AI_RELEASE_EV_BLOCK_DELTA,
    AI_RELEASE_EV_RESPONSE_COMPLETED,
    AI_RELEASE_EV_OTHER
};

/*
 * The JSON handler's rare paths stay out of line, so that the common one,
 * a return, saves no registers
 */
#if defined(__GNUC__)
#define AI_RELEASE_NOINLINE  __attribute__((noinline))
#else
#define AI_RELEASE_NOINLINE
#endif

/* a pointer's forms in one format: at most two */
#define AI_RELEASE_CONTRACT_FORMS     2
/* room for a form's text: a valid pointer is at most 528 bytes */
#define AI_RELEASE_CONTRACT_TEXT_MAX  600

/* the model a stream's events have: not seen, one that starts right */
#define AI_RELEASE_MODEL_NONE         0
#define AI_RELEASE_MODEL_OK           1
#define AI_RELEASE_MODEL_BAD          2


typedef struct {
    char                     text[AI_RELEASE_CONTRACT_TEXT_MAX + 16];
    size_t                   len;
    uint32_t                 index;
    uint8_t                  event;
} ai_release_contract_form_t;


static unsigned ai_release_contract_forms(const char *text, size_t len,
    int format, ai_release_contract_form_t *forms);
static int ai_release_contract_segment(const char *text, size_t len,
    unsigned n, size_t *start, size_t *end);
static int ai_release_contract_views(ai_release_contract_t *c, int format,
    const char *text, size_t len, unsigned target, const char **err);
static int ai_release_contract_event(ai_release_json_t *js,
    const ai_release_json_event_t *ev, void *data);
static AI_RELEASE_NOINLINE void ai_release_contract_string(
    ai_release_json_t *js, const ai_release_json_event_t *ev,
    ai_release_contract_check_t *check);
static AI_RELEASE_NOINLINE void ai_release_contract_value(
    ai_release_json_t *js, const ai_release_json_event_t *ev,
    ai_release_contract_check_t *check);
static int ai_release_contract_last(const ai_release_json_event_t *ev,
    const ai_release_json_pointer_t *ptr);
static int ai_release_contract_model(ai_release_json_t *js,
    const unsigned char *p, size_t n, void *data);
static AI_RELEASE_NOINLINE void ai_release_contract_member(
    ai_release_contract_check_t *check, const ai_release_json_event_t *ev);
static int ai_release_contract_data(ai_release_sse_t *sse,
    const unsigned char *p, size_t n, void *data);
static int ai_release_contract_dispatch(ai_release_sse_t *sse,
    const ai_release_sse_event_t *ev, void *data);
static void ai_release_contract_doc_reset(ai_release_contract_check_t *check);
static void ai_release_contract_want(ai_release_contract_check_t *check);
static unsigned ai_release_contract_collect(
    ai_release_contract_check_t *check, uint32_t *found,
    uint32_t *non_empty);
static ai_release_contract_rule_e ai_release_contract_answer(
    ai_release_contract_check_t *check, uint32_t found, uint32_t non_empty,
    unsigned model);
static void ai_release_contract_bad_model(
    ai_release_contract_check_t *check);
static ai_release_contract_rule_e ai_release_contract_break(
    ai_release_contract_check_t *check, ai_release_contract_rule_e rule,
    const char *why, uint64_t at);
static ai_release_contract_rule_e ai_release_contract_invalid(
    ai_release_contract_check_t *check);
static void ai_release_contract_quote(ai_release_contract_quote_t *q,
    const unsigned char *s, size_t n);
static int ai_release_contract_token(const char *s, size_t len);


static const char  *ai_release_contract_rules[] = {
    "ok", "status", "content_type", "max_bytes", "json", "required",
    "non_empty", "model_prefix", "stream_end", "max_first_byte",
    "max_latency"
};

static const char   ai_release_contract_done[] = "[DONE]";

/* the "type" of an event, AI_RELEASE_EV_MESSAGE_START on */

static const char  *ai_release_contract_events[] = {
    "message_start", "message_delta", "content_block_start",
    "content_block_delta", "response.completed", NULL
};


const char *
ai_release_contract_rule_name(unsigned rule)
{
    return rule < AI_RELEASE_CONTRACT_NRULES
           ? ai_release_contract_rules[rule] : "?";
}


ai_release_contract_t *
ai_release_contract_create(void)
{
    return calloc(1, sizeof(ai_release_contract_t));
}


void
ai_release_contract_free(ai_release_contract_t *c)
{
    int       f;
    unsigned  i;

    if (c == NULL) {
        return;
    }

    for (i = 0; i < c->npointers; i++) {
        free(c->pointers[i].text);
    }

    for (f = 0; f < AI_RELEASE_CONTRACT_FORMATS; f++) {
        free(c->views[f]);
    }

    free(c->pointers);
    free(c->parsed);
    free(c->content_type);
    free(c->stream_end);
    free(c);
}


int
ai_release_contract_pointer(ai_release_contract_t *c, const char *text,
    size_t len, int non_empty, const char **err)
{
    int                             f;
    unsigned                        i, k, n;
    ai_release_json_pointer_t       ptr;
    ai_release_contract_form_t      forms[AI_RELEASE_CONTRACT_FORMS];
    ai_release_contract_pointer_t  *p;

    if (ai_release_json_pointer_parse(&ptr, text, len) != 0) {
        *err = ptr.error;
        return -1;
    }

    /* each form it takes in a stream must be a pointer too */

    for (f = 0; f < AI_RELEASE_CONTRACT_FORMATS; f++) {
        n = ai_release_contract_forms(text, len, f, forms);

        for (k = 0; k < n; k++) {
            if (ai_release_json_pointer_parse(&ptr, forms[k].text,
                                              forms[k].len)
                != 0)
            {
                *err = "too long to be looked for in a stream (its form "
                       "there has one more segment)";
                return -1;
            }
        }
    }

    for (i = 0; i < c->npointers; i++) {
        p = &c->pointers[i];

        if (p->len == len && memcmp(p->text, text, len) == 0) {
            goto found;
        }
    }

    if (c->npointers == AI_RELEASE_CONTRACT_POINTERS_MAX) {
        *err = "more than 16 pointers in required and non_empty together";
        return -1;
    }

    p = realloc(c->pointers,
                (c->npointers + 1) * sizeof(ai_release_contract_pointer_t));
    if (p == NULL) {
        *err = "out of memory";
        return -1;
    }

    c->pointers = p;
    p = &c->pointers[c->npointers];
    memset(p, 0, sizeof(ai_release_contract_pointer_t));

    p->text = malloc(len + 1);
    if (p->text == NULL) {
        *err = "out of memory";
        return -1;
    }

    memcpy(p->text, text, len);
    p->text[len] = '\0';
    p->len = len;

    c->npointers++;

found:

    if (non_empty) {
        p->non_empty = 1;

    } else {
        p->required = 1;
    }

    return 0;
}


int
ai_release_contract_prepare(ai_release_contract_t *c, const char **err)
{
    int       f;
    unsigned  i, n;

    /* each pointer's forms, and the model's */

    n = (c->npointers + 1) * AI_RELEASE_CONTRACT_FORMS
        * AI_RELEASE_CONTRACT_FORMATS;

    c->parsed = calloc(n, sizeof(ai_release_json_pointer_t));
    if (c->parsed == NULL) {
        *err = "out of memory";
        return -1;
    }

    for (f = 0; f < AI_RELEASE_CONTRACT_FORMATS; f++) {
        c->views[f] = calloc((c->npointers + 1) * AI_RELEASE_CONTRACT_FORMS,
                             sizeof(ai_release_contract_view_t));
        if (c->views[f] == NULL) {
            *err = "out of memory";
            return -1;
        }

        for (i = 0; i < c->npointers; i++) {
            if (ai_release_contract_views(c, f, c->pointers[i].text,
                                          c->pointers[i].len, i, err)
                != 0)
            {
                return -1;
            }
        }

        if (c->model_prefix
            && ai_release_contract_views(c, f, "/model", 6,
                                         AI_RELEASE_CONTRACT_MODEL, err)
               != 0)
        {
            return -1;
        }
    }

    return 0;
}


/* the views of one pointer (or the model) in format */

static int
ai_release_contract_views(ai_release_contract_t *c, int format,
    const char *text, size_t len, unsigned target, const char **err)
{
    unsigned                     k, n;
    ai_release_json_pointer_t   *ptr;
    ai_release_contract_view_t  *v;
    ai_release_contract_form_t   forms[AI_RELEASE_CONTRACT_FORMS];

    n = ai_release_contract_forms(text, len, format, forms);

    for (k = 0; k < n; k++) {
        ptr = &c->parsed[c->nparsed];

        if (ai_release_json_pointer_parse(ptr, forms[k].text, forms[k].len)
            != 0)
        {
            *err = ptr->error;
            return -1;
        }

        c->nparsed++;

        v = &c->views[format][c->nviews[format]++];

        v->ptr = ptr;
        v->index = forms[k].index;
        v->target = (uint8_t) target;
        v->event = forms[k].event;

        c->at_depth[format][ptr->n] |= (uint64_t) 1 << (c->nviews[format] - 1);

        if (target == AI_RELEASE_CONTRACT_MODEL) {
            c->model_depths[format] |= (uint32_t) 1 << ptr->n;
        }
    }

    return 0;
}


/*
 * Where a pointer of the answer is in the events of a stream of format
 * (see ai_release_contract.h): its forms, as JSON Pointer text.  The
 * segments are compared as written: "message" has no other spelling.
 */

static unsigned
ai_release_contract_forms(const char *text, size_t len, int format,
    ai_release_contract_form_t *forms)
{
    size_t       s0, e0, s1, e1, s2, e2, i;
    uint32_t     index;
    const char  *rest;

    forms[0].index = AI_RELEASE_CONTRACT_ANY;
    forms[0].event = AI_RELEASE_EV_ANY;
    forms[1] = forms[0];

    if (len > AI_RELEASE_CONTRACT_TEXT_MAX) {
        len = AI_RELEASE_CONTRACT_TEXT_MAX;
    }

    switch (format) {

    case AI_RELEASE_FORMAT_OPENAI_CHAT:

        /* /choices/N/message/X: /choices/N/delta/X */

        if (ai_release_contract_segment(text, len, 0, &s0, &e0) == 0
            && e0 - s0 == 7 && memcmp(text + s0, "choices", 7) == 0
            && ai_release_contract_segment(text, len, 2, &s2, &e2) == 0
            && e2 - s2 == 7 && memcmp(text + s2, "message", 7) == 0)
        {
            memcpy(forms[0].text, text, s2);
            memcpy(forms[0].text + s2, "delta", 5);
            memcpy(forms[0].text + s2 + 5, text + e2, len - e2);
            forms[0].len = len - 2;
            return 1;
        }

        break;

    case AI_RELEASE_FORMAT_OPENAI_RESPONSES:

        forms[0].event = AI_RELEASE_EV_RESPONSE_COMPLETED;
        forms[0].len = sizeof("/response") - 1 + len;
        memcpy(forms[0].text, "/response", sizeof("/response") - 1);
        memcpy(forms[0].text + sizeof("/response") - 1, text, len);
        return 1;

    case AI_RELEASE_FORMAT_ANTHROPIC_MESSAGES:

        /* /content/N/X: the content blocks with index N */

        if (ai_release_contract_segment(text, len, 0, &s0, &e0) == 0
            && e0 - s0 == 7 && memcmp(text + s0, "content", 7) == 0
            && ai_release_contract_segment(text, len, 1, &s1, &e1) == 0
            && e1 > s1 && e1 - s1 <= 9
            && (text[s1] != '0' || e1 - s1 == 1))
        {
            index = 0;

            for (i = s1; i < e1 && text[i] >= '0' && text[i] <= '9'; i++) {
                index = index * 10 + (uint32_t) (text[i] - '0');
            }

            if (i == e1) {
                rest = text + e1;

                forms[0].event = AI_RELEASE_EV_BLOCK_DELTA;
                forms[0].index = index;
                forms[0].len = sizeof("/delta") - 1 + len - e1;
                memcpy(forms[0].text, "/delta", sizeof("/delta") - 1);
                memcpy(forms[0].text + sizeof("/delta") - 1, rest, len - e1);

                forms[1].event = AI_RELEASE_EV_BLOCK_START;
                forms[1].index = index;
                forms[1].len = sizeof("/content_block") - 1 + len - e1;
                memcpy(forms[1].text, "/content_block",
                       sizeof("/content_block") - 1);
                memcpy(forms[1].text + sizeof("/content_block") - 1, rest,
                       len - e1);

                return 2;
            }
        }

        forms[0].event = AI_RELEASE_EV_MESSAGE_START;
        forms[0].len = sizeof("/message") - 1 + len;
        memcpy(forms[0].text, "/message", sizeof("/message") - 1);
        memcpy(forms[0].text + sizeof("/message") - 1, text, len);

        forms[1].event = AI_RELEASE_EV_MESSAGE_DELTA;
        forms[1].len = sizeof("/delta") - 1 + len;
        memcpy(forms[1].text, "/delta", sizeof("/delta") - 1);
        memcpy(forms[1].text + sizeof("/delta") - 1, text, len);

        return 2;

    default: /* AI_RELEASE_FORMAT_NONE */
        break;
    }

    memcpy(forms[0].text, text, len);
    forms[0].len = len;

    return 1;
}


/* segment n of a pointer's text, as written, in [*start, *end); 0 or -1 */

static int
ai_release_contract_segment(const char *text, size_t len, unsigned n,
    size_t *start, size_t *end)
{
    size_t    i;
    unsigned  k;

    for (i = 0, k = 0; i < len; k++) {
        /* text[i] is the '/' of segment k */

        i++;
        *start = i;

        while (i < len && text[i] != '/') {
            i++;
        }

        if (k == n) {
            *end = i;
            return 0;
        }
    }

    return -1;
}


/* the checker */

void
ai_release_contract_init(ai_release_contract_check_t *check,
    const ai_release_contract_t *contract, int format, const char *model,
    size_t model_len, unsigned status, const char *content_type,
    size_t content_type_len)
{
    size_t               i, n;
    unsigned char        type[AI_RELEASE_CONTRACT_TYPE_MAX];
    const unsigned char *p;

    memset(check, 0, offsetof(ai_release_contract_check_t, sse));

    if (format < 0 || format >= AI_RELEASE_CONTRACT_FORMATS) {
        format = AI_RELEASE_FORMAT_NONE;
    }

    check->contract = contract;
    check->format = format;
    check->model = (const unsigned char *) model;
    check->model_len = model ? model_len : 0;
    check->status = status;

    /* the media type: blanks, then up to ";" or a blank, in lowercase */

    p = (const unsigned char *) content_type;
    i = 0;
    n = 0;

    while (i < content_type_len && (p[i] == ' ' || p[i] == '\t')) {
        i++;
    }

    for ( /* void */ ; i < content_type_len; i++) {
        if (p[i] == ';' || p[i] == ' ' || p[i] == '\t') {
            break;
        }

        if (n == sizeof(type)) {
            n++;
            break;
        }

        type[n++] = (p[i] >= 'A' && p[i] <= 'Z') ? p[i] | 0x20 : p[i];
    }

    check->stream = (n == sizeof("text/event-stream") - 1
                     && memcmp(type, "text/event-stream", n) == 0);

    if (contract->nstatus
        && (status < 100 || status > 599
            || !(contract->status[(status - 100) / 64]
                 & ((uint64_t) 1 << ((status - 100) % 64)))))
    {
        (void) ai_release_contract_break(check, AI_RELEASE_CONTRACT_STATUS,
                                         NULL, 0);
        return;
    }

    if (contract->content_type
        && (n != contract->content_type_len
            || memcmp(type, contract->content_type, n) != 0))
    {
        ai_release_contract_quote(&check->quote, type,
                                  n > sizeof(type) ? sizeof(type) : n);
        (void) ai_release_contract_break(check,
                                         AI_RELEASE_CONTRACT_CONTENT_TYPE,
                                         n ? NULL : "no Content-Type", 0);
        return;
    }

    /* a body is one document: its pointers are themselves */

    if (!check->stream) {
        format = AI_RELEASE_FORMAT_NONE;
    }

    check->views = contract->views[format];
    check->nviews = contract->nviews[format];
    check->at_depth = contract->at_depth[format];

    /* a model longer than the scanner keeps of a string: compared as it
     * passes; a shorter one at the string's end */

    check->model_depths = (check->model_len > AI_RELEASE_JSON_STRING_MAX)
                          ? contract->model_depths[format] : 0;

    /* the formats whose events say their type in their data */

    check->types = (check->stream
                    && (format == AI_RELEASE_FORMAT_ANTHROPIC_MESSAGES
                        || format == AI_RELEASE_FORMAT_OPENAI_RESPONSES));

    check->scan = (contract->json || contract->npointers
                   || contract->model_prefix
                   || (check->types && contract->stream_end));

    check->parse = check->stream ? (check->scan || contract->stream_end)
                                 : check->scan;

    if (!check->parse) {
        return;
    }

    if (check->scan) {
        ai_release_json_init(&check->js, ai_release_contract_event, check);
        ai_release_contract_want(check);
    }

    ai_release_contract_doc_reset(check);

    if (check->stream) {
        ai_release_sse_init(&check->sse, ai_release_contract_data,
                            ai_release_contract_dispatch, check);
    }
}


ai_release_contract_rule_e
ai_release_contract_feed(ai_release_contract_check_t *check,
    const unsigned char *p, size_t len)
{
    size_t                        n;
    const ai_release_contract_t  *c;

    c = check->contract;

    if (check->rule != AI_RELEASE_CONTRACT_OK || check->finished) {
        return check->rule;
    }

    n = len;

    if (c->max_bytes && c->max_bytes - check->bytes < n) {
        n = (size_t) (c->max_bytes - check->bytes);
    }

    check->bytes += n;

    if (check->parse && n) {

        if (check->stream) {
            (void) ai_release_sse_feed(&check->sse, p, n);

        } else if (ai_release_json_feed(&check->js, p, n)
                   == AI_RELEASE_JSON_ERROR
                   && c->json)
        {
            return ai_release_contract_invalid(check);
        }
    }

    if (check->rule == AI_RELEASE_CONTRACT_OK && n < len) {
        return ai_release_contract_break(check, AI_RELEASE_CONTRACT_MAX_BYTES,
                                         NULL, c->max_bytes);
    }

    return check->rule;
}


ai_release_contract_rule_e
ai_release_contract_finish(ai_release_contract_check_t *check, int complete)
{
    int                           rc;
    unsigned                      model;
    uint32_t                      found, non_empty;
    const ai_release_contract_t  *c;

    c = check->contract;

    if (check->rule != AI_RELEASE_CONTRACT_OK || check->finished) {
        return check->rule;
    }

    check->finished = 1;

    if (!check->parse) {
        return AI_RELEASE_CONTRACT_OK;
    }

    if (!check->stream) {
        rc = ai_release_json_finish(&check->js);

        if (c->json) {
            if (rc == AI_RELEASE_JSON_ERROR) {
                return ai_release_contract_invalid(check);
            }

            if (!complete) {
                return ai_release_contract_break(check,
                                                 AI_RELEASE_CONTRACT_JSON,
                                                 "the answer was cut short",
                                                 check->bytes);
            }
        }

        model = ai_release_contract_collect(check, &found, &non_empty);

        return ai_release_contract_answer(check, found, non_empty, model);
    }

    /* a stream */

    rc = ai_release_sse_finish(&check->sse);

    if (check->rule != AI_RELEASE_CONTRACT_OK) {
        return check->rule;
    }

    if (c->stream_end && !check->end_seen) {
        return ai_release_contract_break(check, AI_RELEASE_CONTRACT_STREAM_END,
                                         rc ? "the stream was cut inside "
                                              "an event"
                                            : NULL,
                                         0);
    }

    if (rc && c->json) {
        return ai_release_contract_break(check, AI_RELEASE_CONTRACT_JSON,
                                         "the stream was cut inside an "
                                         "event", 0);
    }

    /* the answer assembled from the events; an empty stream has none */

    if (check->format != AI_RELEASE_FORMAT_NONE) {
        return ai_release_contract_answer(check, check->found,
                                          check->non_empty,
                                          check->model_seen
                                          ? AI_RELEASE_MODEL_OK
                                          : AI_RELEASE_MODEL_NONE);
    }

    if (check->events == 0) {
        return ai_release_contract_answer(check, 0, 0,
                                          AI_RELEASE_MODEL_NONE);
    }

    return AI_RELEASE_CONTRACT_OK;
}


ai_release_contract_rule_e
ai_release_contract_latency(const ai_release_contract_t *contract,
    uint64_t latency_ms, uint64_t first_byte_ms)
{
    if (contract->max_first_byte_ms
        && first_byte_ms > contract->max_first_byte_ms)
    {
        return AI_RELEASE_CONTRACT_MAX_FIRST_BYTE;
    }

    if (contract->max_latency_ms && latency_ms > contract->max_latency_ms) {
        return AI_RELEASE_CONTRACT_MAX_LATENCY;
    }

    return AI_RELEASE_CONTRACT_OK;
}


/*
 * The JSON scanner's handler, called for every value twice: what is not
 * at the depth of a view returns at once, the rest is looked at below
 */

static int
ai_release_contract_event(ai_release_json_t *js,
    const ai_release_json_event_t *ev, void *data)
{
    unsigned                      d;
    ai_release_contract_check_t  *check;

    check = data;
    d = ev->depth;

    if (d > AI_RELEASE_JSON_POINTER_MAX) {
        return 0;
    }

    if (ev->event == AI_RELEASE_JSON_BEGIN) {
        if (ev->type == AI_RELEASE_JSON_STRING
            && (check->model_depths & ((uint32_t) 1 << d)))
        {
            ai_release_contract_string(js, ev, check);
        }

        return 0;
    }

    if (d == 1 && check->types && ev->member) {
        ai_release_contract_member(check, ev);
    }

    if (check->at_depth[d]) {
        ai_release_contract_value(js, ev, check);
    }

    return 0;
}


/* a string that may be the model: compared as it passes */

static void
ai_release_contract_string(ai_release_json_t *js,
    const ai_release_json_event_t *ev, ai_release_contract_check_t *check)
{
    unsigned                           i;
    uint64_t                           views;
    const ai_release_contract_view_t  *v;

    views = check->at_depth[ev->depth];

    for (i = 0; views; i++, views >>= 1) {
        v = &check->views[i];

        if ((views & 1)
            && v->target == AI_RELEASE_CONTRACT_MODEL
            && ai_release_contract_last(ev, v->ptr)
            && ai_release_json_at(js, v->ptr))
        {
            check->model_pos = 0;
            check->model_bad = 0;
            js->chunk = ai_release_contract_model;
            return;
        }
    }
}


/* the END of a value at the depth of a view: is it one of them? */

static void
ai_release_contract_value(ai_release_json_t *js,
    const ai_release_json_event_t *ev, ai_release_contract_check_t *check)
{
    int                                non_empty;
    unsigned                           i;
    uint64_t                           bit, views;
    const ai_release_contract_view_t  *v;

    views = check->at_depth[ev->depth];

    for (i = 0; views; i++, views >>= 1) {
        v = &check->views[i];

        if (!(views & 1)
            || (ev->depth && !ai_release_contract_last(ev, v->ptr))
            || !ai_release_json_at(js, v->ptr))
        {
            continue;
        }

        bit = (uint64_t) 1 << i;
        check->doc_found |= bit;

        if (v->target == AI_RELEASE_CONTRACT_MODEL) {
            js->chunk = NULL;

            if (ev->type == AI_RELEASE_JSON_STRING
                && ev->len >= check->model_len
                && (check->model_depths
                    ? !check->model_bad
                    : memcmp(ev->text, check->model, check->model_len) == 0))
            {
                check->doc_model_ok |= bit;
                continue;
            }

            check->doc_model_ok &= ~bit;
            check->doc_model_type = (uint8_t) ev->type;
            ai_release_contract_quote(&check->doc_quote, ev->text,
                                      ev->text_n);
            continue;
        }

        switch (ev->type) {
        case AI_RELEASE_JSON_STRING:
            non_empty = (ev->len > 0);
            break;
        case AI_RELEASE_JSON_OBJECT:
        case AI_RELEASE_JSON_ARRAY:
            non_empty = (ev->count > 0);
            break;
        case AI_RELEASE_JSON_NULL:
            non_empty = 0;
            break;
        default:
            non_empty = 1;
        }

        if (non_empty) {
            check->doc_non_empty |= bit;

        } else {
            check->doc_non_empty &= ~bit;
        }
    }
}


/*
 * Whether the value is the member or element the pointer's last segment
 * names: most values are not, and are told so without the whole path
 */

static int
ai_release_contract_last(const ai_release_json_event_t *ev,
    const ai_release_json_pointer_t *ptr)
{
    unsigned  k;

    k = ptr->n - 1;

    if (!ev->member) {
        return ev->index == ptr->index[k];
    }

    return ev->key_len == ptr->len[k]
           && memcmp(ev->key, ptr->buf + ptr->off[k], ev->key_n) == 0;
}


/* the decoded bytes of a model string against the bundle's model */

static int
ai_release_contract_model(ai_release_json_t *js, const unsigned char *p,
    size_t n, void *data)
{
    size_t                        k;
    ai_release_contract_check_t  *check;

    (void) js;

    check = data;

    if (check->model_pos < check->model_len) {
        k = check->model_len - check->model_pos;

        if (k > n) {
            k = n;
        }

        if (memcmp(p, check->model + check->model_pos, k) != 0) {
            check->model_bad = 1;
        }
    }

    check->model_pos += n;

    return 0;
}


/* an event's top-level "type" and "index" */

static void
ai_release_contract_member(ai_release_contract_check_t *check,
    const ai_release_json_event_t *ev)
{
    unsigned                      i;
    uint64_t                      index;
    const ai_release_contract_t  *c;

    if (ev->key_len == 4 && ev->key_n == 4 && memcmp(ev->key, "type", 4) == 0)
    {
        check->doc_event = AI_RELEASE_EV_OTHER;

        if (ev->type != AI_RELEASE_JSON_STRING || ev->truncated) {
            return;
        }

        for (i = 0; ai_release_contract_events[i]; i++) {
            if (strlen(ai_release_contract_events[i]) == ev->len
                && memcmp(ai_release_contract_events[i], ev->text, ev->len)
                   == 0)
            {
                check->doc_event = (uint8_t) (AI_RELEASE_EV_MESSAGE_START + i);
                break;
            }
        }

        c = check->contract;

        check->doc_end = (c->stream_end && c->stream_end_len == ev->len
                          && memcmp(c->stream_end, ev->text, ev->len) == 0);
        return;
    }

    if (ev->key_len == 5 && ev->key_n == 5
        && memcmp(ev->key, "index", 5) == 0)
    {
        check->doc_index = (ai_release_json_uint(ev, &index) == 0
                            && index < AI_RELEASE_CONTRACT_ANY)
                           ? (uint32_t) index : AI_RELEASE_CONTRACT_ANY;
    }
}


/* the SSE parser's handlers */

static int
ai_release_contract_data(ai_release_sse_t *sse, const unsigned char *p,
    size_t n, void *data)
{
    size_t                        k;
    ai_release_contract_check_t  *check;
    const ai_release_contract_t  *c;

    (void) sse;

    check = data;
    c = check->contract;

    /* is the data the end marker, or "[DONE]"? */

    if (check->data_end) {
        k = c->stream_end_len - check->data_pos;

        check->data_end = (n <= k
                           && memcmp(p, c->stream_end + check->data_pos, n)
                              == 0);
    }

    if (check->data_done) {
        k = sizeof(ai_release_contract_done) - 1 - check->data_pos;

        check->data_done = (n <= k
                            && memcmp(p, ai_release_contract_done
                                         + check->data_pos, n)
                               == 0);
    }

    check->data_pos += n;

    if (check->scan) {
        (void) ai_release_json_feed(&check->js, p, n);
    }

    return 0;
}


static int
ai_release_contract_dispatch(ai_release_sse_t *sse,
    const ai_release_sse_event_t *ev, void *data)
{
    int                           rc, end, marker;
    unsigned                      model;
    uint32_t                      found, non_empty;
    ai_release_contract_check_t  *check;
    const ai_release_contract_t  *c;

    check = data;
    c = check->contract;

    rc = check->scan ? ai_release_json_finish(&check->js)
                     : AI_RELEASE_JSON_OK;

    end = ((check->data_end && check->data_pos == c->stream_end_len)
           || check->doc_end
           || (c->stream_end && ev->name_len == c->stream_end_len
               && ev->name_n == ev->name_len
               && memcmp(ev->name, c->stream_end, ev->name_n) == 0));

    /* an end marker that is not JSON is not an answer's event */

    marker = ((check->data_end && check->data_pos == c->stream_end_len)
              || (check->data_done
                  && check->data_pos
                     == sizeof(ai_release_contract_done) - 1));

    if (end) {
        check->end_seen = 1;
    }

    if (marker || ev->data_len == 0) {
        goto next;
    }

    check->events++;
    check->event = sse->events;

    if (rc == AI_RELEASE_JSON_ERROR && c->json) {
        (void) ai_release_contract_invalid(check);
        return 1;
    }

    model = ai_release_contract_collect(check, &found, &non_empty);

    if (check->format == AI_RELEASE_FORMAT_NONE) {

        /* each event is an answer */

        if (ai_release_contract_answer(check, found, non_empty, model)
            != AI_RELEASE_CONTRACT_OK)
        {
            return 1;
        }

    } else {
        check->found |= found;
        check->non_empty |= non_empty;

        if (model == AI_RELEASE_MODEL_BAD) {
            ai_release_contract_bad_model(check);

            (void) ai_release_contract_break(check,
                                             AI_RELEASE_CONTRACT_MODEL_PREFIX,
                                             NULL, 0);
            return 1;
        }

        if (model == AI_RELEASE_MODEL_OK) {
            check->model_seen = 1;
        }
    }

next:

    check->event = 0;

    ai_release_contract_doc_reset(check);

    return 0;
}


static void
ai_release_contract_doc_reset(ai_release_contract_check_t *check)
{
    check->doc_found = 0;
    check->doc_non_empty = 0;
    check->doc_model_ok = 0;
    check->doc_index = AI_RELEASE_CONTRACT_ANY;
    check->doc_event = AI_RELEASE_EV_ANY;
    check->doc_end = 0;
    check->doc_quote.n = 0;
    check->data_pos = 0;
    check->data_end = (check->contract->stream_end != NULL);
    check->data_done = 1;

    if (check->scan) {
        ai_release_json_reset(&check->js);
    }
}


/*
 * The scanner's events the handler looks at: the BEGIN of a string that
 * may be the model, compared as it passes; the END of a value at the
 * depth of a view, or a member of the top level when the events say
 * their type
 */

static void
ai_release_contract_want(ai_release_contract_check_t *check)
{
    unsigned  d;
    uint64_t  end;

    end = check->types ? (uint64_t) 1 << 1 : 0;

    for (d = 0; d <= AI_RELEASE_JSON_POINTER_MAX; d++) {
        if (check->at_depth[d]) {
            end |= (uint64_t) 1 << d;
        }
    }

    ai_release_json_events(&check->js, check->model_depths, end);
}


/*
 * The document's views that count (an event of the view's type and
 * index) as bits of the contract's pointers; the model it has
 */

static unsigned
ai_release_contract_collect(ai_release_contract_check_t *check,
    uint32_t *found, uint32_t *non_empty)
{
    unsigned                           i, model;
    uint64_t                           bit;
    const ai_release_contract_view_t  *v;

    *found = 0;
    *non_empty = 0;
    model = AI_RELEASE_MODEL_NONE;

    for (i = 0; i < check->nviews; i++) {
        v = &check->views[i];
        bit = (uint64_t) 1 << i;

        if (!(check->doc_found & bit)
            || (v->event != AI_RELEASE_EV_ANY && v->event != check->doc_event)
            || (v->index != AI_RELEASE_CONTRACT_ANY
                && v->index != check->doc_index))
        {
            continue;
        }

        if (v->target == AI_RELEASE_CONTRACT_MODEL) {
            if (!(check->doc_model_ok & bit)) {
                model = AI_RELEASE_MODEL_BAD;

            } else if (model == AI_RELEASE_MODEL_NONE) {
                model = AI_RELEASE_MODEL_OK;
            }

            continue;
        }

        *found |= (uint32_t) 1 << v->target;

        if (check->doc_non_empty & bit) {
            *non_empty |= (uint32_t) 1 << v->target;
        }
    }

    return model;
}


/* the rules on a whole answer: required, non_empty, model_prefix */

static ai_release_contract_rule_e
ai_release_contract_answer(ai_release_contract_check_t *check,
    uint32_t found, uint32_t non_empty, unsigned model)
{
    unsigned                              i;
    const ai_release_contract_t          *c;
    const ai_release_contract_pointer_t  *p;

    c = check->contract;

    for (i = 0; i < c->npointers; i++) {
        p = &c->pointers[i];

        if (p->required && !(found & ((uint32_t) 1 << i))) {
            check->target = i;
            return ai_release_contract_break(check,
                                             AI_RELEASE_CONTRACT_REQUIRED,
                                             "is missing", 0);
        }
    }

    for (i = 0; i < c->npointers; i++) {
        p = &c->pointers[i];

        if (p->non_empty && !(non_empty & ((uint32_t) 1 << i))) {
            check->target = i;
            return ai_release_contract_break(check,
                                             AI_RELEASE_CONTRACT_NON_EMPTY,
                                             (found & ((uint32_t) 1 << i))
                                             ? "is empty" : "is missing", 0);
        }
    }

    if (c->model_prefix && model != AI_RELEASE_MODEL_OK) {

        if (model == AI_RELEASE_MODEL_BAD) {
            ai_release_contract_bad_model(check);
        }

        return ai_release_contract_break(check,
                                         AI_RELEASE_CONTRACT_MODEL_PREFIX,
                                         model == AI_RELEASE_MODEL_BAD
                                         ? NULL : "no model", 0);
    }

    return AI_RELEASE_CONTRACT_OK;
}


/* the model that broke model_prefix, for the detail */

static void
ai_release_contract_bad_model(ai_release_contract_check_t *check)
{
    check->model_type = check->doc_model_type;
    check->quote = check->doc_quote;
}


static ai_release_contract_rule_e
ai_release_contract_break(ai_release_contract_check_t *check,
    ai_release_contract_rule_e rule, const char *why, uint64_t at)
{
    check->rule = rule;
    check->why = why;
    check->at = at;

    return rule;
}


/* the document is not JSON: where and why, as the scanner says */

static ai_release_contract_rule_e
ai_release_contract_invalid(ai_release_contract_check_t *check)
{
    check->byte = 1;

    return ai_release_contract_break(check, AI_RELEASE_CONTRACT_JSON,
                                     check->js.error, check->js.error_offset);
}


size_t
ai_release_contract_detail(const ai_release_contract_check_t *check,
    char *buf, size_t size)
{
    int                                   n;
    char                                  where[64];
    const ai_release_contract_t          *c;
    const ai_release_contract_pointer_t  *p;

    c = check->contract;

    if (check->event) {
        (void) snprintf(where, sizeof(where), "event %llu: ",
                        (unsigned long long) check->event);

    } else {
        where[0] = '\0';
    }

    switch (check->rule) {

    case AI_RELEASE_CONTRACT_STATUS:
        n = snprintf(buf, size, "status %u", check->status);
        break;

    case AI_RELEASE_CONTRACT_CONTENT_TYPE:
        n = check->why
            ? snprintf(buf, size, "%s", check->why)
            : snprintf(buf, size, "\"%.*s\" is not %s", (int) check->quote.n,
                       check->quote.text, c->content_type);
        break;

    case AI_RELEASE_CONTRACT_MAX_BYTES:
        n = snprintf(buf, size, "more than %llu bytes",
                     (unsigned long long) check->at);
        break;

    case AI_RELEASE_CONTRACT_JSON:
        if (check->byte) {
            n = check->event
                ? snprintf(buf, size, "event %llu, byte %llu: %s",
                           (unsigned long long) check->event,
                           (unsigned long long) check->at, check->why)
                : snprintf(buf, size, "byte %llu: %s",
                           (unsigned long long) check->at, check->why);

        } else if (check->at) {
            n = snprintf(buf, size, "%s after %llu bytes", check->why,
                         (unsigned long long) check->at);

        } else {
            n = snprintf(buf, size, "%s", check->why);
        }

        break;

    case AI_RELEASE_CONTRACT_REQUIRED:
    case AI_RELEASE_CONTRACT_NON_EMPTY:
        p = &c->pointers[check->target];
        n = snprintf(buf, size, "%s%s %s", where,
                     p->len ? p->text : "the answer", check->why);
        break;

    case AI_RELEASE_CONTRACT_MODEL_PREFIX:
        if (check->why) {
            n = snprintf(buf, size, "%s%s", where, check->why);

        } else if (check->model_type != AI_RELEASE_JSON_STRING) {
            n = snprintf(buf, size, "%smodel is %s %s, not a string", where,
                         check->model_type == AI_RELEASE_JSON_ARRAY
                         || check->model_type == AI_RELEASE_JSON_OBJECT
                         ? "an" : "a",
                         ai_release_json_type_name(check->model_type));

        } else {
            n = snprintf(buf, size, "%smodel \"%.*s\" does not start with "
                         "\"%.*s\"", where, (int) check->quote.n,
                         check->quote.text,
                         (int) (check->model_len
                                < 2 * AI_RELEASE_CONTRACT_QUOTE_MAX
                                ? check->model_len
                                : 2 * AI_RELEASE_CONTRACT_QUOTE_MAX),
                         (const char *) check->model);
        }

        break;

    case AI_RELEASE_CONTRACT_STREAM_END:
        n = check->why
            ? snprintf(buf, size, "%s", check->why)
            : snprintf(buf, size, "the stream ended without \"%s\"",
                       c->stream_end);
        break;

    default:
        n = snprintf(buf, size, "%s", "");
    }

    return n < 0 ? 0 : (size_t) n;
}


/* at most AI_RELEASE_CONTRACT_QUOTE_MAX bytes, printable ASCII or '?' */

static void
ai_release_contract_quote(ai_release_contract_quote_t *q,
    const unsigned char *s, size_t n)
{
    size_t  i;

    if (n > AI_RELEASE_CONTRACT_QUOTE_MAX) {
        n = AI_RELEASE_CONTRACT_QUOTE_MAX;
    }

    for (i = 0; i < n; i++) {
        q->text[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"'
                      && s[i] != '\\')
                     ? (char) s[i] : '?';
    }

    q->n = (uint8_t) n;
}


/* manifest values */

int
ai_release_contract_media_type(const char *s, size_t len)
{
    const char  *slash;

    slash = memchr(s, '/', len);

    return slash != NULL && len <= AI_RELEASE_CONTRACT_TYPE_MAX
           && ai_release_contract_token(s, (size_t) (slash - s))
           && ai_release_contract_token(slash + 1,
                                        len - (size_t) (slash - s) - 1);
}


static int
ai_release_contract_token(const char *s, size_t len)
{
    return len > 0 && ai_release_valid_header_name(s, len);
}


int
ai_release_contract_parse_size(const char *s, size_t len, uint64_t *bytes)
{
    size_t    i;
    uint64_t  n, unit;

    n = 0;

    for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (n > UINT64_MAX / 10 - 9) {
            return -1;
        }

        n = n * 10 + (uint64_t) (s[i] - '0');
    }

    if (i == 0 || len - i > 1) {
        return -1;
    }

    unit = 1;

    if (i < len) {
        switch (s[i] | 0x20) {
        case 'k':
            unit = 1024;
            break;
        case 'm':
            unit = 1024 * 1024;
            break;
        case 'g':
            unit = 1024 * 1024 * 1024;
            break;
        default:
            return -1;
        }
    }

    if (n > UINT64_MAX / unit) {
        return -1;
    }

    *bytes = n * unit;

    return 0;
}
