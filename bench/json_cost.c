
/*
 * Copyright (C) ngx_ai_release authors
 *
 * The cost of the streaming JSON scanner and the SSE parser, in
 * instructions per byte: "make bench-json" runs each scenario under
 * callgrind, counting only inside json_cost_run(), and divides by the
 * bytes it scanned.
 *
 *   json_cost SCENARIO     scans the input of SCENARIO REPS times
 *   json_cost SCENARIO -n  prints the bytes that scans
 *
 * The inputs are made here, the same on every run:
 *   chat   a 64 KiB chat request: a system prompt, 24 turns of English
 *          prose with some escapes and non-ASCII characters, two tools;
 *          in chunks of 4 KiB, as nginx hands a body on
 *   sse    a stream of 100 OpenAI chat.completion.chunk events, a word of
 *          content each, the usage and [DONE] at the end; in chunks of
 *          256 bytes; each event's data goes to a JSON scanner
 * Scenarios:
 *   chat          no handler
 *   chat-noop     a handler that does nothing
 *   chat-splice   the handler the request rewrite needs: the spans of the
 *                 top-level members and of messages[0] and its role
 *   sse           SSE and JSON per event, no JSON handler
 *   sse-content   ... the handler that adds up choices/0/delta/content
 *   sse-only      the SSE parser alone
 *
 * And the output contract checker (ai_release_contract.c), per answer:
 * init, feed, finish, against the contract of conf-examples' support-drafts
 * (status [200], max_bytes 64k, json, required /choices/0/message/content
 * and /model, non_empty /choices/0/message/content, model_prefix,
 * stream_end "[DONE]"):
 *   answer           a 1 KB OpenAI chat completion, one chunk: the JSON
 *                    scanner alone, no handler
 *   answer-contract  the same answer checked
 *   sse-contract     the sse stream checked, as openai-chat
 *   sse-end          the sse stream against stream_end "[DONE]" alone
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai_release_contract.h"


#define REPS         20
#define ANSWER_REPS  1000
#define CHAT_SIZE    (64 * 1024)
#define CHAT_CHUNK   4096
#define SSE_EVENTS   100
#define SSE_CHUNK    256


typedef struct {
    char    *p;
    size_t   n;
    size_t   cap;
} text_t;

typedef struct {
    ai_release_json_t             js;
    ai_release_json_pointer_t     ptr[2];
    uint64_t                      spans[8];
    uint64_t                      content;
    int                           json;
    int                           handler;
    ai_release_contract_t        *contract;
    ai_release_contract_check_t   check;
} cost_t;


static void add(text_t *t, const char *s, size_t n);
static void make_chat(text_t *t);
static void make_sse(text_t *t);
static void make_answer(text_t *t);
static ai_release_contract_t *make_contract(int full);
static unsigned reps(const char *scenario);
static void prose(text_t *t, unsigned *seed, size_t len);
static int noop_event(ai_release_json_t *js,
    const ai_release_json_event_t *ev, void *data);
static int splice_event(ai_release_json_t *js,
    const ai_release_json_event_t *ev, void *data);
static int content_event(ai_release_json_t *js,
    const ai_release_json_event_t *ev, void *data);
static int content_chunk(ai_release_json_t *js, const unsigned char *p,
    size_t n, void *data);
static int sse_data(ai_release_sse_t *sse, const unsigned char *p, size_t n,
    void *data);
static int sse_event(ai_release_sse_t *sse, const ai_release_sse_event_t *ev,
    void *data);
int json_cost_run(const char *scenario, const text_t *t, cost_t *c);


static const char  *words[] = {
    "the", "order", "was", "shipped", "on", "Monday", "and", "should",
    "arrive", "within", "three", "business", "days", "please", "check",
    "tracking", "number", "below", "if", "you", "have", "any", "questions",
    "about", "your", "account", "we", "are", "happy", "to", "help",
    "refund", "policy", "allows", "returns", "for", "thirty", "customer",
    "support", "team", "summary", "of", "ticket", "priority", "high"
};


int
main(int argc, char **argv)
{
    int      sse;
    text_t   t;
    cost_t   c;

    if (argc < 2) {
        fprintf(stderr, "usage: %s SCENARIO [-n]\n", argv[0]);
        return 2;
    }

    memset(&t, 0, sizeof(text_t));

    sse = (strncmp(argv[1], "sse", 3) == 0);

    if (sse) {
        make_sse(&t);

    } else if (strncmp(argv[1], "answer", 6) == 0) {
        make_answer(&t);

    } else {
        make_chat(&t);
    }

    if (argc > 2 && strcmp(argv[2], "-n") == 0) {
        printf("%zu\n", t.n * reps(argv[1]));
        return 0;
    }

    if (argc > 2 && strcmp(argv[2], "-r") == 0) {
        printf("%u\n", reps(argv[1]));
        return 0;
    }

    memset(&c, 0, sizeof(cost_t));

    if (strstr(argv[1], "-contract") || strcmp(argv[1], "sse-end") == 0) {
        c.contract = make_contract(strcmp(argv[1], "sse-end") != 0);
    }

    (void) ai_release_json_pointer_parse(&c.ptr[0], "/messages/0", 11);
    (void) ai_release_json_pointer_parse(&c.ptr[1],
                                         "/choices/0/delta/content", 24);

    if (json_cost_run(argv[1], &t, &c) != 0) {
        fprintf(stderr, "%s: the input did not scan\n", argv[1]);
        return 1;
    }

    /* what the handlers found, so that nothing is optimised away */
    printf("%s: %zu bytes, %llu %llu, %s\n", argv[1], t.n,
           (unsigned long long) c.spans[0],
           (unsigned long long) c.content,
           ai_release_contract_rule_name(c.check.rule));

    if (c.contract && c.check.rule != AI_RELEASE_CONTRACT_OK) {
        fprintf(stderr, "%s: the answer broke the contract\n", argv[1]);
        return 1;
    }

    ai_release_contract_free(c.contract);
    free(t.p);

    return 0;
}


/* the measured part: REPS scans of the input, in chunks */

int
json_cost_run(const char *scenario, const text_t *t, cost_t *c)
{
    int                         rc;
    size_t                      pos, n, chunk;
    unsigned                    r;
    ai_release_sse_t            sse;
    ai_release_json_handler_pt  h;

    rc = 0;

    for (r = 0; r < reps(scenario); r++) {

        if (c->contract) {
            chunk = scenario[0] == 's' ? SSE_CHUNK : CHAT_CHUNK;

            ai_release_contract_init(&c->check, c->contract,
                                     AI_RELEASE_FORMAT_OPENAI_CHAT,
                                     "gpt-4o", 6, 200,
                                     scenario[0] == 's'
                                     ? "text/event-stream"
                                     : "application/json",
                                     scenario[0] == 's' ? 17 : 16);

            for (pos = 0; pos < t->n; pos += n) {
                n = t->n - pos < chunk ? t->n - pos : chunk;
                (void) ai_release_contract_feed(&c->check,
                    (const unsigned char *) t->p + pos, n);
            }

            rc |= ai_release_contract_finish(&c->check, 1);
            continue;
        }

        if (strncmp(scenario, "sse", 3) == 0) {
            c->json = (strcmp(scenario, "sse-only") != 0);
            c->handler = (strcmp(scenario, "sse-content") == 0);

            ai_release_json_init(&c->js, c->handler ? content_event : NULL,
                                 c);
            ai_release_sse_init(&sse, sse_data, sse_event, c);

            for (pos = 0; pos < t->n; pos += n) {
                n = t->n - pos < SSE_CHUNK ? t->n - pos : SSE_CHUNK;
                (void) ai_release_sse_feed(&sse,
                                           (const unsigned char *) t->p + pos,
                                           n);
            }

            rc |= ai_release_sse_finish(&sse);
            continue;
        }

        h = strcmp(scenario, "chat-noop") == 0 ? noop_event
            : strcmp(scenario, "chat-splice") == 0 ? splice_event : NULL;

        ai_release_json_init(&c->js, h, c);

        for (pos = 0; pos < t->n; pos += n) {
            n = t->n - pos < CHAT_CHUNK ? t->n - pos : CHAT_CHUNK;
            rc |= ai_release_json_feed(&c->js,
                                       (const unsigned char *) t->p + pos, n);
        }

        rc |= ai_release_json_finish(&c->js);
    }

    return rc;
}


static void
add(text_t *t, const char *s, size_t n)
{
    if (t->cap - t->n < n + 1) {
        t->cap = (t->cap + n + 1) * 2;
        t->p = realloc(t->p, t->cap);

        if (t->p == NULL) {
            abort();
        }
    }

    memcpy(t->p + t->n, s, n);
    t->n += n;
    t->p[t->n] = '\0';
}

#define adds(t, s)  add(t, s, strlen(s))


/* English-like words; now and then an escape or a non-ASCII character */

static void
prose(text_t *t, unsigned *seed, size_t len)
{
    size_t      end;
    unsigned    k;
    const char *w;

    end = t->n + len;

    while (t->n < end) {
        *seed = *seed * 1103515245 + 12345;
        k = *seed >> 16;

        w = words[k % (sizeof(words) / sizeof(words[0]))];
        adds(t, w);

        switch (k % 97) {
        case 0:
            adds(t, ".\\n\\n");
            break;
        case 1:
            adds(t, " \\\"quoted\\\" ");
            break;
        case 2:
            adds(t, " caf\xc3\xa9 ");
            break;
        case 3:
            adds(t, " \xe2\x80\x94 ");
            break;
        case 4:
            adds(t, ", ");
            break;
        default:
            adds(t, " ");
        }
    }
}


static void
make_chat(text_t *t)
{
    char      buf[64];
    unsigned  seed, i;

    seed = 42;

    adds(t, "{\"model\":\"gpt-4o-2024-08-06\",\"temperature\":0.2,"
            "\"max_tokens\":1024,\"stream\":false,\"messages\":["
            "{\"role\":\"system\",\"content\":\"");
    prose(t, &seed, 2000);
    adds(t, "\"}");

    for (i = 0; t->n < CHAT_SIZE - 3000; i++) {
        (void) snprintf(buf, sizeof(buf), ",{\"role\":\"%s\",\"content\":\"",
                        i % 2 ? "assistant" : "user");
        adds(t, buf);
        prose(t, &seed, i % 2 ? 2400 : 800);
        adds(t, "\"}");
    }

    adds(t, "],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
            "\"lookup_order\",\"description\":\"Looks an order up by its "
            "number.\",\"parameters\":{\"type\":\"object\",\"properties\":"
            "{\"order_id\":{\"type\":\"string\",\"description\":\"The order "
            "number, e.g. A-1234.\"},\"include_items\":{\"type\":\"boolean\"}},"
            "\"required\":[\"order_id\"]}}},{\"type\":\"function\","
            "\"function\":{\"name\":\"refund\",\"parameters\":{\"type\":"
            "\"object\",\"properties\":{\"amount\":{\"type\":\"number\","
            "\"minimum\":0}}}}}],\"user\":\"u-12345\"}");
}


static void
make_sse(text_t *t)
{
    char      buf[512];
    unsigned  i;

    for (i = 0; i < SSE_EVENTS; i++) {
        if (i < SSE_EVENTS - 1) {
            (void) snprintf(buf, sizeof(buf),
                "data: {\"id\":\"chatcmpl-9xKq2\",\"object\":"
                "\"chat.completion.chunk\",\"created\":1732700000,"
                "\"model\":\"gpt-4o-2024-08-06\",\"system_fingerprint\":"
                "\"fp_a7d06e42a7\",\"choices\":[{\"index\":0,\"delta\":"
                "{\"content\":\"%s \"},\"logprobs\":null,"
                "\"finish_reason\":null}]}\n\n",
                words[i % (sizeof(words) / sizeof(words[0]))]);

        } else {
            (void) snprintf(buf, sizeof(buf),
                "data: {\"id\":\"chatcmpl-9xKq2\",\"object\":"
                "\"chat.completion.chunk\",\"created\":1732700000,"
                "\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,"
                "\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":"
                "{\"prompt_tokens\":812,\"completion_tokens\":99,"
                "\"total_tokens\":911}}\n\n");
        }

        adds(t, buf);
    }

    adds(t, "data: [DONE]\n\n");
}


/* an OpenAI chat completion of about 1 KB: a reply of 700 bytes */

static void
make_answer(text_t *t)
{
    unsigned  seed;

    seed = 7;

    adds(t, "{\"id\":\"chatcmpl-AZ9x1qR7\",\"object\":\"chat.completion\","
            "\"created\":1732700000,\"model\":\"gpt-4o-2024-08-06\","
            "\"choices\":[{\"index\":0,\"message\":{\"role\":"
            "\"assistant\",\"content\":\"");
    prose(t, &seed, 700);
    adds(t, "\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":"
            "\"stop\"}],\"usage\":{\"prompt_tokens\":812,"
            "\"completion_tokens\":160,\"total_tokens\":972,"
            "\"prompt_tokens_details\":{\"cached_tokens\":0,"
            "\"audio_tokens\":0},\"completion_tokens_details\":"
            "{\"reasoning_tokens\":0}},\"system_fingerprint\":"
            "\"fp_a7d06e42a7\"}");
}


/* support-drafts' contract (full), or stream_end "[DONE]" alone */

static ai_release_contract_t *
make_contract(int full)
{
    const char             *err;
    ai_release_contract_t  *c;

    c = ai_release_contract_create();

    if (c == NULL) {
        abort();
    }

    c->stream_end = strdup("[DONE]");
    c->stream_end_len = 6;

    if (full) {
        c->status[(200 - 100) / 64] |= (uint64_t) 1 << ((200 - 100) % 64);
        c->nstatus = 1;
        c->max_bytes = 65536;
        c->json = 1;
        c->model_prefix = 1;

        if (ai_release_contract_pointer(c, "/choices/0/message/content", 26,
                                        0, &err) != 0
            || ai_release_contract_pointer(c, "/model", 6, 0, &err) != 0
            || ai_release_contract_pointer(c, "/choices/0/message/content",
                                           26, 1, &err) != 0)
        {
            abort();
        }
    }

    if (c->stream_end == NULL || ai_release_contract_prepare(c, &err) != 0) {
        abort();
    }

    return c;
}


/* passes of a scenario: a small answer more often */

static unsigned
reps(const char *scenario)
{
    return strncmp(scenario, "answer", 6) == 0 ? ANSWER_REPS : REPS;
}


static int
noop_event(ai_release_json_t *js, const ai_release_json_event_t *ev,
    void *data)
{
    (void) js;
    (void) ev;
    (void) data;

    return 0;
}


static int
splice_event(ai_release_json_t *js, const ai_release_json_event_t *ev,
    void *data)
{
    cost_t  *c;

    c = data;

    if (ev->event != AI_RELEASE_JSON_END || ev->depth > 3) {
        return 0;
    }

    if (ev->depth == 1 && ev->key_n == ev->key_len) {
        if (ev->key_len == 5 && memcmp(ev->key, "model", 5) == 0) {
            c->spans[0] = ev->key_start;
            c->spans[1] = ev->end;

        } else if (ev->key_len == 8 && memcmp(ev->key, "messages", 8) == 0) {
            c->spans[2] = ev->key_start;
            c->spans[3] = ev->end;

        } else if (ev->key_len == 5 && memcmp(ev->key, "tools", 5) == 0) {
            c->spans[4] = ev->key_start;
            c->spans[5] = ev->end;
        }

    } else if (ev->depth == 2 && ai_release_json_at(js, &c->ptr[0])) {
        c->spans[6] = ev->start;
        c->spans[7] = ev->end;
    }

    return 0;
}


static int
content_event(ai_release_json_t *js, const ai_release_json_event_t *ev,
    void *data)
{
    cost_t  *c;

    c = data;

    if (ev->event == AI_RELEASE_JSON_BEGIN
        && ev->type == AI_RELEASE_JSON_STRING)
    {
        js->chunk = ai_release_json_at(js, &c->ptr[1]) ? content_chunk
                                                        : NULL;
    }

    return 0;
}


static int
content_chunk(ai_release_json_t *js, const unsigned char *p, size_t n,
    void *data)
{
    (void) js;
    (void) p;

    ((cost_t *) data)->content += n;

    return 0;
}


static int
sse_data(ai_release_sse_t *sse, const unsigned char *p, size_t n, void *data)
{
    cost_t  *c;

    (void) sse;

    c = data;

    if (c->json) {
        (void) ai_release_json_feed(&c->js, p, n);
    }

    return 0;
}


static int
sse_event(ai_release_sse_t *sse, const ai_release_sse_event_t *ev,
    void *data)
{
    cost_t  *c;

    (void) sse;

    c = data;

    if (!c->json) {
        return 0;
    }

    if (!(ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0)
        && ai_release_json_finish(&c->js) != AI_RELEASE_JSON_OK)
    {
        c->spans[0]++;
    }

    ai_release_json_init(&c->js, c->handler ? content_event : NULL, c);

    return 0;
}
