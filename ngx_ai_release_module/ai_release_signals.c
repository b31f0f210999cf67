
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Behaviour signals (see ai_release_signals.h): a handler of the
 * streaming JSON scanner and the SSE parser that matches the values of
 * each document against a few paths of its format (a trie, with
 * wildcards for array elements), and adds up what they say; and the
 * log-scale histogram.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <string.h>

#include "ai_release_signals.h"
#include "ai_release_apply.h"


/* a segment of a path: a member's key, any element, or element 0 */

enum {
    AI_RELEASE_SEG_KEY = 0,
    AI_RELEASE_SEG_ANY,
    AI_RELEASE_SEG_ZERO
};

/* what a value at the end of a path says */

enum {
    AI_RELEASE_SIG_NONE = 0,        /* a path goes on below */
    AI_RELEASE_SIG_TEXT,            /* string: answer text */
    AI_RELEASE_SIG_REFUSAL,         /* not null: a refusal */
    AI_RELEASE_SIG_ENDING,          /* string: the finish or stop reason */
    AI_RELEASE_SIG_OUTPUT,          /* integer: output tokens */
    AI_RELEASE_SIG_INPUT,           /* integer: input tokens */
    AI_RELEASE_SIG_TOOL_ARRAY,      /* array: its elements are tool calls */
    AI_RELEASE_SIG_TOOL_ELEMENT,    /* a tool call of a stream's delta */
    AI_RELEASE_SIG_TOOL_INDEX,      /* integer: its "index" */
    AI_RELEASE_SIG_TOOL_TYPE,       /* string: tool_use or function_call */
    AI_RELEASE_SIG_CHOICE,          /* integer: the choice's "index" */
    AI_RELEASE_SIG_TYPE,            /* string: a responses event's type */
    AI_RELEASE_SIG_DELTA,           /* string: a delta to add up */
    AI_RELEASE_SIG_ITEM_TYPE,       /* string: an added output item's */
    AI_RELEASE_SIG_STATUS,          /* string: a response's status */
    AI_RELEASE_SIG_REASON           /* string: why it is incomplete */
};

/*
 * The paths a format's signals are on, as a trie: a node is a segment,
 * what the value there says, and the segments below it; siblings differ,
 * so a value is compared once with each segment that may follow its
 * parent's path
 */

typedef struct ai_release_signals_node_s  ai_release_signals_node_t;

struct ai_release_signals_node_s {
    const char                       *key;
    uint8_t                           len;
    uint8_t                           kind;
    uint8_t                           sig;
    uint8_t                           n;
    const ai_release_signals_node_t  *children;
};

/* the type of a responses event (doc.type) */

enum {
    AI_RELEASE_RTYPE_NONE = 0,
    AI_RELEASE_RTYPE_TEXT_DELTA,
    AI_RELEASE_RTYPE_REFUSAL_DELTA,
    AI_RELEASE_RTYPE_ITEM_ADDED,
    AI_RELEASE_RTYPE_OTHER
};

/* a response's status (s->status) and incomplete reason (s->reason) */

enum {
    AI_RELEASE_STATUS_NONE = 0,
    AI_RELEASE_STATUS_COMPLETED,
    AI_RELEASE_STATUS_INCOMPLETE,
    AI_RELEASE_STATUS_FAILED,
    AI_RELEASE_STATUS_PENDING,
    AI_RELEASE_STATUS_OTHER
};

enum {
    AI_RELEASE_REASON_NONE = 0,
    AI_RELEASE_REASON_LENGTH,
    AI_RELEASE_REASON_FILTER,
    AI_RELEASE_REASON_OTHER
};

/* a string a value is compared with, and what it means */

typedef struct {
    const char              *text;
    uint8_t                  len;
    uint8_t                  code;
} ai_release_signals_word_t;


#define K(s)    s, sizeof(s) - 1, AI_RELEASE_SEG_KEY
#define ANY     NULL, 0, AI_RELEASE_SEG_ANY
#define ZERO    NULL, 0, AI_RELEASE_SEG_ZERO
#define LEAF(seg, sig)        { seg, AI_RELEASE_SIG_##sig, 0, NULL }
#define NODE(seg, sig, kids)                                                 \
    { seg, AI_RELEASE_SIG_##sig, sizeof(kids) / sizeof(kids[0]), kids }
#define ROOT(kids)            NODE(ANY, NONE, kids)
#define W(s, c) { s, sizeof(s) - 1, c }


/* usage: openai-chat */

static const ai_release_signals_node_t  ai_release_chat_usage[] = {
    LEAF(K("completion_tokens"), OUTPUT),
    LEAF(K("prompt_tokens"), INPUT)
};

/* usage: anthropic-messages and openai-responses */

static const ai_release_signals_node_t  ai_release_usage[] = {
    LEAF(K("output_tokens"), OUTPUT),
    LEAF(K("input_tokens"), INPUT)
};

/* openai-chat: /choices/0/message/..., /choices/0/finish_reason, /usage */

static const ai_release_signals_node_t  ai_release_chat_message[] = {
    LEAF(K("content"), TEXT),
    LEAF(K("refusal"), REFUSAL),
    LEAF(K("tool_calls"), TOOL_ARRAY)
};

static const ai_release_signals_node_t  ai_release_chat_choice[] = {
    NODE(K("message"), NONE, ai_release_chat_message),
    LEAF(K("finish_reason"), ENDING)
};

static const ai_release_signals_node_t  ai_release_chat_choices[] = {
    NODE(ZERO, NONE, ai_release_chat_choice)
};

static const ai_release_signals_node_t  ai_release_chat_body[] = {
    NODE(K("choices"), NONE, ai_release_chat_choices),
    NODE(K("usage"), NONE, ai_release_chat_usage)
};

/* openai-chat chunks: /choices/0/delta/..., /choices/0/index */

static const ai_release_signals_node_t  ai_release_chat_tool[] = {
    LEAF(K("index"), TOOL_INDEX)
};

static const ai_release_signals_node_t  ai_release_chat_tools[] = {
    NODE(ANY, TOOL_ELEMENT, ai_release_chat_tool)
};

static const ai_release_signals_node_t  ai_release_chat_delta[] = {
    LEAF(K("content"), TEXT),
    LEAF(K("refusal"), DELTA),
    NODE(K("tool_calls"), NONE, ai_release_chat_tools)
};

static const ai_release_signals_node_t  ai_release_chat_chunk_choice[] = {
    NODE(K("delta"), NONE, ai_release_chat_delta),
    LEAF(K("finish_reason"), ENDING),
    LEAF(K("index"), CHOICE)
};

static const ai_release_signals_node_t  ai_release_chat_chunk_choices[] = {
    NODE(ZERO, NONE, ai_release_chat_chunk_choice)
};

static const ai_release_signals_node_t  ai_release_chat_stream[] = {
    NODE(K("choices"), NONE, ai_release_chat_chunk_choices),
    NODE(K("usage"), NONE, ai_release_chat_usage)
};

/* anthropic-messages: /content/N/..., /stop_reason, /usage */

static const ai_release_signals_node_t  ai_release_anthropic_block[] = {
    LEAF(K("text"), TEXT),
    LEAF(K("type"), TOOL_TYPE)
};

static const ai_release_signals_node_t  ai_release_anthropic_content[] = {
    NODE(ANY, NONE, ai_release_anthropic_block)
};

static const ai_release_signals_node_t  ai_release_anthropic_body[] = {
    NODE(K("content"), NONE, ai_release_anthropic_content),
    LEAF(K("stop_reason"), ENDING),
    NODE(K("usage"), NONE, ai_release_usage)
};

/*
 * anthropic-messages events: message_start's /message/..., content_block_
 * start's /content_block/..., the /delta/... of content_block_delta and
 * message_delta, message_delta's /usage
 */

static const ai_release_signals_node_t  ai_release_anthropic_delta[] = {
    LEAF(K("text"), TEXT),
    LEAF(K("stop_reason"), ENDING)
};

static const ai_release_signals_node_t  ai_release_anthropic_message[] = {
    LEAF(K("stop_reason"), ENDING),
    NODE(K("usage"), NONE, ai_release_usage)
};

static const ai_release_signals_node_t  ai_release_anthropic_stream[] = {
    NODE(K("delta"), NONE, ai_release_anthropic_delta),
    NODE(K("content_block"), NONE, ai_release_anthropic_block),
    NODE(K("message"), NONE, ai_release_anthropic_message),
    NODE(K("usage"), NONE, ai_release_usage)
};

/*
 * openai-responses: /output/N/content/M/..., /output/N/type, /status,
 * /incomplete_details/reason, /usage; in events, all of it under
 * /response, and /type, /delta, /item/type
 */

static const ai_release_signals_node_t  ai_release_responses_part[] = {
    LEAF(K("text"), TEXT),
    LEAF(K("refusal"), REFUSAL)
};

static const ai_release_signals_node_t  ai_release_responses_parts[] = {
    NODE(ANY, NONE, ai_release_responses_part)
};

static const ai_release_signals_node_t  ai_release_responses_item[] = {
    NODE(K("content"), NONE, ai_release_responses_parts),
    LEAF(K("type"), TOOL_TYPE)
};

static const ai_release_signals_node_t  ai_release_responses_output[] = {
    NODE(ANY, NONE, ai_release_responses_item)
};

static const ai_release_signals_node_t  ai_release_responses_details[] = {
    LEAF(K("reason"), REASON)
};

static const ai_release_signals_node_t  ai_release_responses_body[] = {
    NODE(K("output"), NONE, ai_release_responses_output),
    LEAF(K("status"), STATUS),
    NODE(K("incomplete_details"), NONE, ai_release_responses_details),
    NODE(K("usage"), NONE, ai_release_usage)
};

static const ai_release_signals_node_t  ai_release_responses_added[] = {
    LEAF(K("type"), ITEM_TYPE)
};

static const ai_release_signals_node_t  ai_release_responses_stream[] = {
    LEAF(K("type"), TYPE),
    LEAF(K("delta"), DELTA),
    NODE(K("item"), NONE, ai_release_responses_added),
    NODE(K("response"), NONE, ai_release_responses_body)
};

/* the trie of each format (ai_release_format_e), in a body and a stream */

static const ai_release_signals_node_t  ai_release_signals_roots[][2] = {
    { { NULL, 0, 0, 0, 0, NULL }, { NULL, 0, 0, 0, 0, NULL } },
    { ROOT(ai_release_chat_body), ROOT(ai_release_chat_stream) },
    { ROOT(ai_release_responses_body), ROOT(ai_release_responses_stream) },
    { ROOT(ai_release_anthropic_body), ROOT(ai_release_anthropic_stream) }
};


static const ai_release_signals_word_t  ai_release_chat_endings[] = {
    W("stop", AI_RELEASE_END_STOP),
    W("length", AI_RELEASE_END_LENGTH),
    W("tool_calls", AI_RELEASE_END_TOOL_CALLS),
    W("function_call", AI_RELEASE_END_TOOL_CALLS),
    W("content_filter", AI_RELEASE_END_CONTENT_FILTER),
    { NULL, 0, AI_RELEASE_END_OTHER }
};

static const ai_release_signals_word_t  ai_release_anthropic_endings[] = {
    W("end_turn", AI_RELEASE_END_STOP),
    W("stop_sequence", AI_RELEASE_END_STOP),
    W("max_tokens", AI_RELEASE_END_LENGTH),
    W("model_context_window_exceeded", AI_RELEASE_END_LENGTH),
    W("tool_use", AI_RELEASE_END_TOOL_CALLS),
    W("refusal", AI_RELEASE_END_REFUSAL),
    { NULL, 0, AI_RELEASE_END_OTHER }
};

static const ai_release_signals_word_t  ai_release_statuses[] = {
    W("completed", AI_RELEASE_STATUS_COMPLETED),
    W("incomplete", AI_RELEASE_STATUS_INCOMPLETE),
    W("failed", AI_RELEASE_STATUS_FAILED),
    W("cancelled", AI_RELEASE_STATUS_FAILED),
    W("in_progress", AI_RELEASE_STATUS_PENDING),
    W("queued", AI_RELEASE_STATUS_PENDING),
    { NULL, 0, AI_RELEASE_STATUS_OTHER }
};

static const ai_release_signals_word_t  ai_release_reasons[] = {
    W("max_output_tokens", AI_RELEASE_REASON_LENGTH),
    W("content_filter", AI_RELEASE_REASON_FILTER),
    { NULL, 0, AI_RELEASE_REASON_OTHER }
};

static const ai_release_signals_word_t  ai_release_response_types[] = {
    W("response.output_text.delta", AI_RELEASE_RTYPE_TEXT_DELTA),
    W("response.refusal.delta", AI_RELEASE_RTYPE_REFUSAL_DELTA),
    W("response.output_item.added", AI_RELEASE_RTYPE_ITEM_ADDED),
    { NULL, 0, AI_RELEASE_RTYPE_OTHER }
};

static const char  *ai_release_endings[] = {
    "none", "stop", "length", "tool_calls", "content_filter", "refusal",
    "other"
};


static int ai_release_signals_event(ai_release_json_t *js,
    const ai_release_json_event_t *ev, void *data);
static const ai_release_signals_node_t *ai_release_signals_child(
    const ai_release_signals_node_t *parent,
    const ai_release_json_event_t *ev);
static void ai_release_signals_value(ai_release_signals_t *s,
    const ai_release_json_event_t *ev, unsigned sig);
static unsigned ai_release_signals_word(const ai_release_signals_word_t *w,
    const unsigned char *text, size_t n, uint64_t len);
static int64_t ai_release_signals_at(const ai_release_signals_t *s,
    const ai_release_json_event_t *ev);
static int ai_release_signals_data(ai_release_sse_t *sse,
    const unsigned char *p, size_t n, void *data);
static int ai_release_signals_dispatch(ai_release_sse_t *sse,
    const ai_release_sse_event_t *ev, void *data);
static void ai_release_signals_commit(ai_release_signals_t *s);
static void ai_release_signals_doc_reset(ai_release_signals_t *s);


const char *
ai_release_ending_name(unsigned ending)
{
    return ending < AI_RELEASE_END_N ? ai_release_endings[ending] : "?";
}


void
ai_release_signals_init(ai_release_signals_t *s, int format, int is_stream)
{
    memset(s, 0, offsetof(ai_release_signals_t, sse));

    if (format < AI_RELEASE_FORMAT_NONE
        || format > AI_RELEASE_FORMAT_ANTHROPIC_MESSAGES)
    {
        format = AI_RELEASE_FORMAT_NONE;
    }

    s->r.first_text_offset = -1;
    s->format = format;
    s->stream = (is_stream != 0);

    /* format none: the bytes, and a stream's events */

    s->root = &ai_release_signals_roots[format][s->stream];
    s->scan = (format != AI_RELEASE_FORMAT_NONE);

    if (s->scan) {
        ai_release_signals_doc_reset(s);
    }

    if (s->stream) {
        ai_release_sse_init(&s->sse,
                            s->scan ? ai_release_signals_data : NULL,
                            ai_release_signals_dispatch, s);
    }
}


void
ai_release_signals_feed(ai_release_signals_t *s, const unsigned char *p,
    size_t len)
{
    if (s->finished || len == 0) {
        return;
    }

    s->chunk = p;
    s->chunk_len = len;
    s->chunk_off = s->r.answer_bytes;
    s->r.answer_bytes += len;

    if (s->stream) {
        (void) ai_release_sse_feed(&s->sse, p, len);
        return;
    }

    if (s->scan && !s->doc.bad
        && ai_release_json_feed(&s->js, p, len) == AI_RELEASE_JSON_ERROR)
    {
        s->doc.bad = 1;
    }
}


const ai_release_signals_result_t *
ai_release_signals_finish(ai_release_signals_t *s, int complete)
{
    uint64_t  n;

    if (s->finished) {
        return &s->r;
    }

    s->finished = 1;
    s->r.cut = (complete == 0);

    if (s->stream) {
        /* an event cut short is not dispatched: it counts for nothing */
        (void) ai_release_sse_finish(&s->sse);

    } else if (s->scan) {
        if (s->doc.bad
            || ai_release_json_finish(&s->js) == AI_RELEASE_JSON_ERROR)
        {
            s->r.invalid = 1;
        }

        ai_release_signals_commit(s);
    }

    switch (s->format) {

    case AI_RELEASE_FORMAT_OPENAI_CHAT:
        if (s->stream) {
            n = (uint64_t) __builtin_popcountll(s->tool_mask);

            /* past index 63, the indexes are taken to be contiguous */
            if (s->tool_high) {
                n += s->tool_high - 64;
            }

            s->r.tool_calls = n;
        }

        break;

    case AI_RELEASE_FORMAT_OPENAI_RESPONSES:

        /* a stream's deltas, or its final response when it says more */

        s->r.text_bytes = s->delta_text > s->final_text ? s->delta_text
                                                        : s->final_text;
        s->r.tool_calls = s->item_tools > s->final_tools ? s->item_tools
                                                         : s->final_tools;

        switch (s->status) {
        case AI_RELEASE_STATUS_COMPLETED:
            s->r.ending = s->r.tool_calls ? AI_RELEASE_END_TOOL_CALLS
                                          : AI_RELEASE_END_STOP;
            break;
        case AI_RELEASE_STATUS_INCOMPLETE:
            s->r.ending = s->reason == AI_RELEASE_REASON_LENGTH
                          ? AI_RELEASE_END_LENGTH
                          : s->reason == AI_RELEASE_REASON_FILTER
                          ? AI_RELEASE_END_CONTENT_FILTER
                          : AI_RELEASE_END_OTHER;
            break;
        case AI_RELEASE_STATUS_FAILED:
        case AI_RELEASE_STATUS_OTHER:
            s->r.ending = AI_RELEASE_END_OTHER;
            break;
        default:
            s->r.ending = AI_RELEASE_END_NONE;
        }

        break;

    default:
        break;
    }

    return &s->r;
}


/*
 * The JSON scanner's handler: containers find their node at their BEGIN
 * (that of the paths their members may be on), scalars at their END; a
 * value whose parent has no node returns at once
 */

static int
ai_release_signals_event(ai_release_json_t *js,
    const ai_release_json_event_t *ev, void *data)
{
    unsigned                          d;
    ai_release_signals_t             *s;
    const ai_release_signals_node_t  *node, *parent;

    (void) js;

    /* most values are scalars, read at their END */

    if (ev->event == AI_RELEASE_JSON_BEGIN
        && ev->type >= AI_RELEASE_JSON_STRING)
    {
        return 0;
    }

    s = data;
    d = ev->depth;

    if (d == 0) {
        if (ev->event == AI_RELEASE_JSON_BEGIN) {
            s->node[0] = (ev->type == AI_RELEASE_JSON_OBJECT) ? s->root
                                                               : NULL;
        }

        return 0;
    }

    if (d > AI_RELEASE_SIGNALS_DEPTH) {
        return 0;
    }

    parent = s->node[d - 1];

    if (ev->type == AI_RELEASE_JSON_OBJECT
        || ev->type == AI_RELEASE_JSON_ARRAY)
    {
        if (ev->event == AI_RELEASE_JSON_BEGIN) {

            /* always set: the values below read it as their parent's */

            node = parent ? ai_release_signals_child(parent, ev) : NULL;
            s->node[d] = node;

            if (node && node->sig == AI_RELEASE_SIG_TOOL_ELEMENT) {
                /* a tool call of a stream's delta: no index yet */
                s->doc.has_tool_index = 0;
            }

            return 0;
        }

        node = s->node[d];

    } else if (ev->event == AI_RELEASE_JSON_END && parent) {
        node = ai_release_signals_child(parent, ev);

    } else {
        return 0;
    }

    if (node && node->sig) {
        ai_release_signals_value(s, ev, node->sig);
    }

    return 0;
}


/* the node below parent that the value of ev is on, or NULL */

static const ai_release_signals_node_t *
ai_release_signals_child(const ai_release_signals_node_t *parent,
    const ai_release_json_event_t *ev)
{
    unsigned                          i;
    const ai_release_signals_node_t  *c;

    for (i = 0; i < parent->n; i++) {
        c = &parent->children[i];

        switch (c->kind) {

        case AI_RELEASE_SEG_KEY:
            if (ev->member && ev->key_len == c->len && ev->key_n == c->len
                && ev->key[0] == (unsigned char) c->key[0]
                && memcmp(ev->key, c->key, c->len) == 0)
            {
                return c;
            }

            break;

        case AI_RELEASE_SEG_ANY:
            if (!ev->member) {
                return c;
            }

            break;

        default: /* AI_RELEASE_SEG_ZERO */
            if (!ev->member && ev->index == 0) {
                return c;
            }
        }
    }

    return NULL;
}


/* the END of a value at the end of a path */

static void
ai_release_signals_value(ai_release_signals_t *s,
    const ai_release_json_event_t *ev, unsigned sig)
{
    int64_t                    at;
    uint64_t                   v;
    ai_release_signals_doc_t  *doc;

    doc = &s->doc;

    switch (sig) {

    case AI_RELEASE_SIG_TEXT:
        if (ev->type != AI_RELEASE_JSON_STRING || ev->len == 0) {
            break;
        }

        doc->text += ev->len;

        at = ai_release_signals_at(s, ev);

        if (doc->first < 0) {
            doc->first = at;
        }

        break;

    case AI_RELEASE_SIG_REFUSAL:
        if (ev->type != AI_RELEASE_JSON_NULL) {
            doc->refused = 1;
        }

        break;

    case AI_RELEASE_SIG_ENDING:
        if (ev->type == AI_RELEASE_JSON_NULL) {
            break;
        }

        if (ev->type != AI_RELEASE_JSON_STRING) {
            doc->ending = AI_RELEASE_END_OTHER;
            break;
        }

        doc->ending = (uint8_t) ai_release_signals_word(
                          s->format == AI_RELEASE_FORMAT_ANTHROPIC_MESSAGES
                          ? ai_release_anthropic_endings
                          : ai_release_chat_endings,
                          ev->text, ev->text_n, ev->len);
        break;

    case AI_RELEASE_SIG_OUTPUT:
        if (ai_release_json_uint(ev, &v) == 0) {
            doc->output_tokens = v;
            doc->has_output = 1;
        }

        break;

    case AI_RELEASE_SIG_INPUT:
        if (ai_release_json_uint(ev, &v) == 0) {
            doc->input_tokens = v;
            doc->has_input = 1;
        }

        break;

    case AI_RELEASE_SIG_TOOL_ARRAY:
        if (ev->type == AI_RELEASE_JSON_ARRAY) {
            doc->tools = ev->count;
        }

        break;

    case AI_RELEASE_SIG_TOOL_ELEMENT:
        v = doc->has_tool_index ? doc->tool_index : ev->index;

        if (v < 64) {
            doc->tool_mask |= (uint64_t) 1 << v;

        } else if (v + 1 > doc->tool_high && v < UINT64_MAX) {
            doc->tool_high = v + 1;
        }

        break;

    case AI_RELEASE_SIG_TOOL_INDEX:
        if (ai_release_json_uint(ev, &v) == 0) {
            doc->tool_index = v;
            doc->has_tool_index = 1;
        }

        break;

    case AI_RELEASE_SIG_TOOL_TYPE:
        if (ev->type == AI_RELEASE_JSON_STRING
            && ((s->format == AI_RELEASE_FORMAT_ANTHROPIC_MESSAGES
                 && ev->len == 8 && memcmp(ev->text, "tool_use", 8) == 0)
                || (s->format == AI_RELEASE_FORMAT_OPENAI_RESPONSES
                    && ev->len == 13
                    && memcmp(ev->text, "function_call", 13) == 0)))
        {
            doc->tools++;
        }

        break;

    case AI_RELEASE_SIG_ITEM_TYPE:
        if (ev->type == AI_RELEASE_JSON_STRING && ev->len == 13
            && memcmp(ev->text, "function_call", 13) == 0)
        {
            doc->item_tools++;
        }

        break;

    case AI_RELEASE_SIG_CHOICE:
        doc->has_choice = 1;

        if (ai_release_json_uint(ev, &v) != 0) {
            v = UINT64_MAX;
        }

        doc->choice = v;
        break;

    case AI_RELEASE_SIG_TYPE:
        doc->type = (ev->type == AI_RELEASE_JSON_STRING)
                    ? (uint8_t) ai_release_signals_word(
                                    ai_release_response_types, ev->text,
                                    ev->text_n, ev->len)
                    : AI_RELEASE_RTYPE_OTHER;
        break;

    case AI_RELEASE_SIG_DELTA:
        if (ev->type != AI_RELEASE_JSON_STRING || ev->len == 0) {
            break;
        }

        doc->delta += ev->len;

        if (doc->delta_first < 0) {
            doc->delta_first = ai_release_signals_at(s, ev);
        }

        break;

    case AI_RELEASE_SIG_STATUS:
        if (ev->type == AI_RELEASE_JSON_STRING) {
            doc->status = (uint8_t) ai_release_signals_word(
                              ai_release_statuses, ev->text, ev->text_n,
                              ev->len);
        }

        break;

    default: /* AI_RELEASE_SIG_REASON */
        if (ev->type == AI_RELEASE_JSON_STRING) {
            doc->reason = (uint8_t) ai_release_signals_word(
                              ai_release_reasons, ev->text, ev->text_n,
                              ev->len);
        }
    }
}


/* the code of a string among words; the last entry's when none */

static unsigned
ai_release_signals_word(const ai_release_signals_word_t *w,
    const unsigned char *text, size_t n, uint64_t len)
{
    for ( /* void */ ; w->text; w++) {
        if (w->len == len && n == len && memcmp(w->text, text, n) == 0) {
            break;
        }
    }

    return w->code;
}


/* the body offset of a string's closing quote; -1 when it is unknown */

static int64_t
ai_release_signals_at(const ai_release_signals_t *s,
    const ai_release_json_event_t *ev)
{
    if (s->piece_body < 0) {
        return -1;
    }

    return s->piece_body + (int64_t) (ev->end - 1 - s->piece_doc);
}


/* the SSE parser's handlers */

static int
ai_release_signals_data(ai_release_sse_t *sse, const unsigned char *p,
    size_t n, void *data)
{
    uintptr_t              a, b;
    ai_release_signals_t  *s;

    (void) sse;

    s = data;

    if (s->doc.bad) {
        return 0;
    }

    /* data is in the chunk fed, or the LF that joins two data lines */

    a = (uintptr_t) p;
    b = (uintptr_t) s->chunk;

    s->piece_body = (a >= b && a - b < s->chunk_len)
                    ? (int64_t) (s->chunk_off + (a - b)) : -1;
    s->piece_doc = s->doc_pos;
    s->doc_pos += n;

    if (ai_release_json_feed(&s->js, p, n) == AI_RELEASE_JSON_ERROR) {
        s->doc.bad = 1;
    }

    return 0;
}


static int
ai_release_signals_dispatch(ai_release_sse_t *sse,
    const ai_release_sse_event_t *ev, void *data)
{
    int                    rc;
    ai_release_signals_t  *s;

    (void) sse;

    s = data;
    s->r.events++;

    if (!s->scan) {
        return 0;
    }

    rc = s->doc.bad ? AI_RELEASE_JSON_ERROR : ai_release_json_finish(&s->js);

    if (ev->data_len == 0
        || (ev->data_len == 6 && ev->data_n == 6
            && memcmp(ev->data, "[DONE]", 6) == 0))
    {
        goto next;
    }

    if (rc != AI_RELEASE_JSON_OK) {
        s->r.invalid = 1;
        goto next;
    }

    /* a responses event without a "type": its SSE name */

    if (s->format == AI_RELEASE_FORMAT_OPENAI_RESPONSES
        && s->doc.type == AI_RELEASE_RTYPE_NONE)
    {
        s->doc.type = (uint8_t) ai_release_signals_word(
                                    ai_release_response_types, ev->name,
                                    ev->name_n, ev->name_len);
    }

    ai_release_signals_commit(s);

next:

    ai_release_signals_doc_reset(s);

    return 0;
}


/* what a document said joins what the answer says */

static void
ai_release_signals_commit(ai_release_signals_t *s)
{
    int64_t                       first;
    ai_release_signals_doc_t     *doc;
    ai_release_signals_result_t  *r;

    doc = &s->doc;
    r = &s->r;
    first = -1;

    if (doc->has_output) {
        r->output_tokens = doc->output_tokens;
        r->has_output = 1;
    }

    if (doc->has_input) {
        r->input_tokens = doc->input_tokens;
        r->has_input = 1;
    }

    switch (s->format) {

    case AI_RELEASE_FORMAT_OPENAI_CHAT:

        /* choices other than the first */

        if (doc->has_choice && doc->choice != 0) {
            return;
        }

        r->text_bytes += doc->text;
        first = doc->first;

        if (doc->refused || doc->delta) {
            r->refused = 1;
        }

        if (doc->ending) {
            r->ending = doc->ending;
        }

        r->tool_calls += doc->tools;
        s->tool_mask |= doc->tool_mask;

        if (doc->tool_high > s->tool_high) {
            s->tool_high = doc->tool_high;
        }

        break;

    case AI_RELEASE_FORMAT_ANTHROPIC_MESSAGES:

        r->text_bytes += doc->text;
        first = doc->first;

        if (doc->ending) {
            r->ending = doc->ending;
        }

        if (doc->ending == AI_RELEASE_END_REFUSAL) {
            r->refused = 1;
        }

        r->tool_calls += doc->tools;
        break;

    default: /* AI_RELEASE_FORMAT_OPENAI_RESPONSES */

        if (doc->text > s->final_text) {
            s->final_text = doc->text;
        }

        if (doc->tools > s->final_tools) {
            s->final_tools = doc->tools;
        }

        if (doc->refused) {
            r->refused = 1;
        }

        switch (doc->type) {
        case AI_RELEASE_RTYPE_TEXT_DELTA:
            s->delta_text += doc->delta;
            first = doc->delta_first;
            break;
        case AI_RELEASE_RTYPE_REFUSAL_DELTA:
            if (doc->delta) {
                r->refused = 1;
            }
            break;
        case AI_RELEASE_RTYPE_ITEM_ADDED:
            s->item_tools += doc->item_tools;
            break;
        }

        if (first < 0) {
            first = doc->first;
        }

        if (doc->status) {
            s->status = doc->status;
            s->reason = doc->reason;
        }
    }

    if (r->first_text_offset < 0 && first >= 0) {
        r->first_text_offset = first;
        r->first_text_event = s->stream ? r->events : 0;
    }
}


static void
ai_release_signals_doc_reset(ai_release_signals_t *s)
{
    memset(&s->doc, 0, sizeof(ai_release_signals_doc_t));

    s->doc.first = -1;
    s->doc.delta_first = -1;
    s->node[0] = NULL;
    s->doc_pos = 0;
    s->piece_body = 0;
    s->piece_doc = 0;

    ai_release_json_init(&s->js, ai_release_signals_event, s);
}


/* the histogram */

unsigned
ai_release_hist_bucket(uint64_t v)
{
    unsigned  k;

    if (v < 2 * AI_RELEASE_HIST_SUB) {
        return (unsigned) v;
    }

    if (v >> AI_RELEASE_HIST_TOP_BITS) {
        return AI_RELEASE_HIST_BUCKETS - 1;
    }

    /* v is in [2^k, 2^(k+1)): its 2 bits after the leading one */

    k = 63 - __builtin_clzll(v);

    return (k + 1 - AI_RELEASE_HIST_SUB_BITS) * AI_RELEASE_HIST_SUB
           + (unsigned) ((v >> (k - AI_RELEASE_HIST_SUB_BITS))
                         & (AI_RELEASE_HIST_SUB - 1));
}


uint64_t
ai_release_hist_le(unsigned i)
{
    if (i >= AI_RELEASE_HIST_BUCKETS - 1) {
        return UINT64_MAX;
    }

    if (i < 2 * AI_RELEASE_HIST_SUB - 1) {
        return i;
    }

    /* the lowest value of bucket i + 1, less one */

    i++;

    return ((uint64_t) (AI_RELEASE_HIST_SUB + i % AI_RELEASE_HIST_SUB)
            << (i / AI_RELEASE_HIST_SUB - 1))
           - 1;
}


double
ai_release_hist_quantile(const uint64_t *counts, double q)
{
    return ai_release_quantile(counts, AI_RELEASE_HIST_BUCKETS,
                               ai_release_hist_le, q);
}
