
/*
 * Copyright (C) ngx_ai_release authors
 *
 * The cost of behaviour signals (ai_release_signals.c) in instructions
 * per byte, against the JSON scanner and SSE parser alone on the same
 * input: "make bench-signals" runs each scenario under callgrind,
 * counting only inside signals_cost_run(), and divides by the bytes.
 *
 *   signals_cost SCENARIO     reads the input of SCENARIO REPS times
 *   signals_cost SCENARIO -n  prints the bytes that reads
 *   signals_cost SCENARIO -r  prints REPS
 *
 * Inputs, made here the same on every run:
 *   answer     an OpenAI chat completion of about 1 KB, one chunk
 *   sse        100 OpenAI chat.completion.chunk events, a word each, then
 *              the usage chunk and [DONE]; in chunks of 256 bytes
 *   anthropic  an Anthropic stream: message_start, 100 text deltas,
 *              message_delta, message_stop; in chunks of 256 bytes
 * Scenarios: each input read by the scanner (and parser) alone, with no
 * handler ("answer", "sse", "anthropic"), with a handler that returns at
 * once ("answer-noop", ...: the scanner's cost of making the events), and
 * by the extractor ("answer-signals", "sse-signals", "anthropic-signals").
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai_release_signals.h"
#include "ai_release_apply.h"


#define ANSWER_REPS  1000
#define SSE_REPS     50
#define SSE_EVENTS   100
#define CHUNK        256


typedef struct {
    char    *p;
    size_t   n;
    size_t   cap;
} text_t;


static const char  *words[] = {
    "the", "model", "answers", "with", "a", "longer", "reply", "than",
    "before,", "and", "calls", "tools", "more", "often", "when", "asked"
};


int signals_cost_run(const char *scenario, const text_t *t,
    ai_release_signals_t *s, ai_release_json_t *js);
static int noop(ai_release_json_t *js, const ai_release_json_event_t *ev,
    void *data);
static int sse_data(ai_release_sse_t *sse, const unsigned char *p, size_t n,
    void *data);
static int sse_event(ai_release_sse_t *sse, const ai_release_sse_event_t *ev,
    void *data);
static void add(text_t *t, const char *s);
static void make_answer(text_t *t);
static void make_sse(text_t *t);
static void make_anthropic(text_t *t);


static unsigned
reps(const char *scenario)
{
    return strncmp(scenario, "answer", 6) == 0 ? ANSWER_REPS : SSE_REPS;
}


int
main(int argc, char **argv)
{
    text_t                t;
    ai_release_json_t     js;
    ai_release_signals_t  s;

    if (argc < 2) {
        fprintf(stderr, "usage: signals_cost SCENARIO [-n|-r]\n");
        return 2;
    }

    memset(&t, 0, sizeof(text_t));

    if (strncmp(argv[1], "answer", 6) == 0) {
        make_answer(&t);

    } else if (strncmp(argv[1], "sse", 3) == 0) {
        make_sse(&t);

    } else if (strncmp(argv[1], "anthropic", 9) == 0) {
        make_anthropic(&t);

    } else {
        fprintf(stderr, "unknown scenario %s\n", argv[1]);
        return 2;
    }

    if (argc > 2 && strcmp(argv[2], "-n") == 0) {
        printf("%zu\n", t.n * reps(argv[1]));
        return 0;
    }

    if (argc > 2 && strcmp(argv[2], "-r") == 0) {
        printf("%u\n", reps(argv[1]));
        return 0;
    }

    if (signals_cost_run(argv[1], &t, &s, &js) != 0) {
        fprintf(stderr, "%s: the input did not read\n", argv[1]);
        return 1;
    }

    /* what was found, so that nothing is optimised away */

    printf("%s: %zu bytes, out %llu in %llu text %llu %s tools %llu\n",
           argv[1], t.n, (unsigned long long) s.r.output_tokens,
           (unsigned long long) s.r.input_tokens,
           (unsigned long long) s.r.text_bytes,
           ai_release_ending_name(s.r.ending),
           (unsigned long long) s.r.tool_calls);

    free(t.p);

    return 0;
}


/* the measured part: REPS reads of the input, in chunks */

int
signals_cost_run(const char *scenario, const text_t *t,
    ai_release_signals_t *s, ai_release_json_t *js)
{
    int               rc, format, stream;
    size_t            pos, n, chunk;
    unsigned          r;
    ai_release_sse_t  sse;

    rc = 0;
    stream = (strncmp(scenario, "answer", 6) != 0);
    format = (scenario[0] == 'a' && stream)
             ? AI_RELEASE_FORMAT_ANTHROPIC_MESSAGES
             : AI_RELEASE_FORMAT_OPENAI_CHAT;
    chunk = stream ? CHUNK : t->n;

    memset(&s->r, 0, sizeof(s->r));

    for (r = 0; r < reps(scenario); r++) {

        if (strstr(scenario, "-signals")) {
            ai_release_signals_init(s, format, stream);

            for (pos = 0; pos < t->n; pos += n) {
                n = t->n - pos < chunk ? t->n - pos : chunk;
                ai_release_signals_feed(s,
                    (const unsigned char *) t->p + pos, n);
            }

            rc |= (ai_release_signals_finish(s, 1)->invalid != 0);
            continue;
        }

        ai_release_json_init(js, strstr(scenario, "-noop") ? noop : NULL,
                             NULL);

        if (!stream) {
            rc |= ai_release_json_feed(js, (const unsigned char *) t->p,
                                       t->n);
            rc |= ai_release_json_finish(js);
            continue;
        }

        ai_release_sse_init(&sse, sse_data, sse_event, js);

        for (pos = 0; pos < t->n; pos += n) {
            n = t->n - pos < chunk ? t->n - pos : chunk;
            (void) ai_release_sse_feed(&sse,
                                       (const unsigned char *) t->p + pos, n);
        }

        rc |= ai_release_sse_finish(&sse);
    }

    return rc;
}


/* the baseline of a stream: each event's data to a JSON scanner */

static int
sse_data(ai_release_sse_t *sse, const unsigned char *p, size_t n, void *data)
{
    (void) sse;

    (void) ai_release_json_feed(data, p, n);

    return 0;
}


static int
sse_event(ai_release_sse_t *sse, const ai_release_sse_event_t *ev,
    void *data)
{
    (void) sse;
    (void) ev;

    (void) ai_release_json_finish(data);
    ai_release_json_init(data, ((ai_release_json_t *) data)->handler, NULL);

    return 0;
}


static int
noop(ai_release_json_t *js, const ai_release_json_event_t *ev, void *data)
{
    (void) js;
    (void) ev;
    (void) data;

    return 0;
}


static void
add(text_t *t, const char *s)
{
    size_t  n;

    n = strlen(s);

    if (t->cap - t->n < n + 1) {
        t->cap = (t->cap + n + 1) * 2;
        t->p = realloc(t->p, t->cap);

        if (t->p == NULL) {
            abort();
        }
    }

    memcpy(t->p + t->n, s, n + 1);
    t->n += n;
}


static void
make_answer(text_t *t)
{
    unsigned  i;

    add(t, "{\"id\":\"chatcmpl-AZ9x1qR7\",\"object\":\"chat.completion\","
           "\"created\":1732700000,\"model\":\"gpt-4o-2024-08-06\","
           "\"choices\":[{\"index\":0,\"message\":{\"role\":"
           "\"assistant\",\"content\":\"");

    for (i = 0; t->n < 900; i++) {
        add(t, words[i % (sizeof(words) / sizeof(words[0]))]);
        add(t, i % 29 == 28 ? ".\\n\\n" : " ");
    }

    add(t, "\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":"
           "\"stop\"}],\"usage\":{\"prompt_tokens\":812,"
           "\"completion_tokens\":160,\"total_tokens\":972},"
           "\"system_fingerprint\":\"fp_a7d06e42a7\"}");
}


static void
make_sse(text_t *t)
{
    char      buf[512];
    unsigned  i;

    for (i = 0; i < SSE_EVENTS; i++) {
        (void) snprintf(buf, sizeof(buf),
            "data: {\"id\":\"chatcmpl-9xKq2\",\"object\":"
            "\"chat.completion.chunk\",\"created\":1732700000,"
            "\"model\":\"gpt-4o-2024-08-06\",\"system_fingerprint\":"
            "\"fp_a7d06e42a7\",\"choices\":[{\"index\":0,\"delta\":"
            "{\"content\":\"%s \"},\"logprobs\":null,"
            "\"finish_reason\":%s}],\"usage\":null}\n\n",
            words[i % (sizeof(words) / sizeof(words[0]))],
            i == SSE_EVENTS - 1 ? "\"stop\"" : "null");
        add(t, buf);
    }

    add(t, "data: {\"id\":\"chatcmpl-9xKq2\",\"object\":"
           "\"chat.completion.chunk\",\"created\":1732700000,\"model\":"
           "\"gpt-4o-2024-08-06\",\"choices\":[],\"usage\":"
           "{\"prompt_tokens\":812,\"completion_tokens\":99,"
           "\"total_tokens\":911}}\n\ndata: [DONE]\n\n");
}


static void
make_anthropic(text_t *t)
{
    char      buf[512];
    unsigned  i;

    add(t, "event: message_start\ndata: {\"type\":\"message_start\","
           "\"message\":{\"id\":\"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY\","
           "\"type\":\"message\",\"role\":\"assistant\",\"content\":[],"
           "\"model\":\"claude-sonnet-4-5\",\"stop_reason\":null,"
           "\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,"
           "\"output_tokens\":1}}}\n\n"
           "event: content_block_start\ndata: {\"type\":"
           "\"content_block_start\",\"index\":0,\"content_block\":"
           "{\"type\":\"text\",\"text\":\"\"}}\n\n");

    for (i = 0; i < SSE_EVENTS; i++) {
        (void) snprintf(buf, sizeof(buf),
            "event: content_block_delta\ndata: {\"type\":"
            "\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
            "\"text_delta\",\"text\":\"%s \"}}\n\n",
            words[i % (sizeof(words) / sizeof(words[0]))]);
        add(t, buf);
    }

    add(t, "event: content_block_stop\ndata: {\"type\":"
           "\"content_block_stop\",\"index\":0}\n\n"
           "event: message_delta\ndata: {\"type\":\"message_delta\","
           "\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":"
           "null},\"usage\":{\"output_tokens\":101}}\n\n"
           "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
}
