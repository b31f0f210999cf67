
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Behaviour signals (ai_release_signals.c): what one answer of a model
 * says about its behaviour, read as the answer passes, for issue 15
 * (per-bundle distributions of tokens, lengths, endings, tool calls and
 * refusals, canary beside stable); and the fixed log-scale histogram
 * those distributions are kept in.
 *
 * The extractor (ai_release_signals_t, in the caller's memory, nothing
 * allocated, 2,960 bytes on x86-64, of which 2,464 are the JSON
 * scanner's and 136 the SSE parser's) is fed the answer's body in chunks
 * of any size, down to one byte; it keeps none of it, and its result does
 * not depend on how the body was split.  A body is one JSON document; a
 * stream (the caller says which, from the Content-Type) is a stream of
 * server-sent events whose data are JSON documents ("[DONE]" and events
 * without data are skipped; an event whose data is not JSON counts for
 * nothing but "invalid").  What an event carries counts when the event is
 * dispatched (a stream cut inside an event loses that event, as an SSE
 * client would); what a body carries counts at ai_release_signals_
 * finish(), also when it was cut short (what passed before counts).
 *
 * What each format gives (the wire formats of ai_release_apply.h; format
 * none gives answer_bytes only):
 *
 *  signal        openai-chat            anthropic-messages   openai-responses
 *  ------------  ---------------------  -------------------  ----------------
 *  output_tokens usage.completion_      usage.output_tokens  usage.output_
 *                tokens; stream: the    stream: message_     tokens; stream:
 *                last chunk, only with  start.message.usage, response.
 *                stream_options.        then message_delta.  completed (or
 *                include_usage          usage (the last one  .incomplete,
 *                                       wins)                .failed).response
 *                                                            .usage
 *  input_tokens  usage.prompt_tokens    usage.input_tokens   usage.input_
 *                (same events)          (same events)        tokens (same)
 *  text_bytes    choices[0].message.    content[*].text;     output[*].
 *                content; stream: the   stream: content_     content[*].text;
 *                choices[0].delta.      block_delta delta.   stream: response
 *                content of every chunk text and content_    .output_text.
 *                                       block_start          delta, or the
 *                                       content_block.text   final response's
 *                                                            text if longer
 *  ending        choices[0].            stop_reason;         status and
 *                finish_reason          stream: message_     incomplete_
 *                                       delta delta.         details.reason
 *                                       stop_reason
 *  tool_calls    choices[0].message.    content blocks of    output items of
 *                tool_calls, its        type tool_use;       type function_
 *                length; stream: the    stream: content_     call; stream:
 *                distinct delta.        block_start of type  response.output_
 *                tool_calls[*].index    tool_use             item.added, or
 *                                                            the final
 *                                                            response's if
 *                                                            more
 *  refused       choices[0].message.    stop_reason          a content part
 *                refusal not null;      "refusal"            of type refusal
 *                stream: a non-empty                         (its "refusal"
 *                delta.refusal                               not null);
 *                                                            stream: a non-
 *                                                            empty response.
 *                                                            refusal.delta
 *  first_text    the first non-empty    the first non-empty  the first non-
 *                content                text                 empty text
 *
 * Endings, counted by value:
 *   openai-chat: "stop" STOP, "length" LENGTH, "tool_calls" and the older
 *   "function_call" TOOL_CALLS, "content_filter" CONTENT_FILTER, any other
 *   string OTHER; an OpenAI refusal ends "stop" and sets refused.
 *   anthropic-messages: "end_turn" and "stop_sequence" STOP, "max_tokens"
 *   and "model_context_window_exceeded" LENGTH, "tool_use" TOOL_CALLS,
 *   "refusal" REFUSAL (and refused), any other ("pause_turn") OTHER.
 *   openai-responses: status "completed" is TOOL_CALLS when the answer has
 *   a function call, else STOP; "incomplete" with incomplete_details.reason
 *   "max_output_tokens" LENGTH, "content_filter" CONTENT_FILTER, any other
 *   reason OTHER; "failed" and "cancelled" OTHER; "queued" and "in_progress"
 *   (a stream cut before its end) NONE.
 *   A null, or no ending at all (a cut answer), is NONE; of several, the
 *   last counts.
 *
 * Only choice 0 of an OpenAI chat answer counts (in a stream, the choice
 * whose "index" is 0, or which has none); of the tokens, the last value
 * seen of each; numbers that are not integers are ignored.  A tool call's
 * index in a stream is its "index", or its place in the array when it has
 * none; past index 63 the indexes are taken to be contiguous.
 *
 * first_text_offset is the body offset of the closing quote of the first
 * non-empty text (text_bytes above), -1 when there is none: the caller
 * stamps the time to the first token when the chunk holding that byte
 * passes, i.e. the first time a feed leaves first_text_offset >= 0;
 * first_text_event is the number (from 1) of the event that carried it.
 * Tokens per second are output_tokens over the time from that stamp to
 * the end.
 *
 * The histogram (ai_release_hist_*): AI_RELEASE_HIST_BUCKETS counters of
 * uint64_t (744 bytes) for values such as tokens, bytes and milliseconds.
 * Values 0 to 7 have a bucket each; above, each power of two [2^k,
 * 2^(k+1)), k = 3 .. 23, is split into 4 equal buckets of 2^(k-2) values,
 * [4 * 2^(k-2), 5 * 2^(k-2)), [5 ..., 6 ...), ...; the last bucket holds
 * 2^24 (16,777,216) and above.  A bucket's width is at most a quarter of
 * its lowest value, so a quantile, interpolated linearly within the
 * bucket holding its rank, is off by less than a quarter of the true value
 * (exact below 8); in the last bucket it is given as 2^24.  Adding to the
 * counters (atomically, in shared memory) is the caller's business.
 */

#ifndef _AI_RELEASE_SIGNALS_H_INCLUDED_
#define _AI_RELEASE_SIGNALS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "ai_release_json.h"


/* the deepest value a signal is read from: /response/output/N/content/M/X */
#define AI_RELEASE_SIGNALS_DEPTH   6


/* how an answer ended */

typedef enum {
    AI_RELEASE_END_NONE = 0,        /* not said, or the answer was cut */
    AI_RELEASE_END_STOP,
    AI_RELEASE_END_LENGTH,          /* the token limit */
    AI_RELEASE_END_TOOL_CALLS,
    AI_RELEASE_END_CONTENT_FILTER,
    AI_RELEASE_END_REFUSAL,
    AI_RELEASE_END_OTHER,
    AI_RELEASE_END_N
} ai_release_ending_e;


typedef struct {
    uint64_t                 output_tokens;
    uint64_t                 input_tokens;
    uint64_t                 answer_bytes;    /* of the body, as fed */
    uint64_t                 text_bytes;      /* decoded */
    uint64_t                 tool_calls;
    uint64_t                 events;          /* dispatched, in a stream */
    int64_t                  first_text_offset;  /* -1: no text */
    uint64_t                 first_text_event;   /* 0: none, or a body */
    ai_release_ending_e      ending;
    unsigned                 has_output:1;    /* output_tokens was seen */
    unsigned                 has_input:1;
    unsigned                 refused:1;
    unsigned                 invalid:1;       /* the body or an event's */
                                              /* data was not JSON */
    unsigned                 cut:1;           /* finished, not complete */
} ai_release_signals_result_t;


/* what the document being read (a body, or an event's data) carries */

typedef struct {
    uint64_t                 text;            /* decoded bytes */
    int64_t                  first;           /* its first's offset, or -1 */
    uint64_t                 delta;           /* responses: "delta" */
    int64_t                  delta_first;
    uint64_t                 final_text;      /* responses: /response/... */
    uint64_t                 output_tokens;
    uint64_t                 input_tokens;
    uint64_t                 tool_mask;       /* openai stream: indexes */
    uint64_t                 tool_high;       /* ... past 63: the highest */
    uint64_t                 tool_index;      /* of the element read */
    uint64_t                 tools;           /* counted */
    uint64_t                 item_tools;      /* responses: item.type */
    uint64_t                 choice;          /* "index" of choices[0] */
    uint8_t                  ending;
    uint8_t                  status;          /* responses */
    uint8_t                  reason;
    uint8_t                  type;            /* responses: the event's */
    unsigned                 has_output:1;
    unsigned                 has_input:1;
    unsigned                 refused:1;
    unsigned                 delta_refusal:1; /* a non-empty delta */
    unsigned                 has_choice:1;
    unsigned                 has_tool_index:1;
    unsigned                 bad:1;           /* not JSON */
} ai_release_signals_doc_t;


typedef struct ai_release_signals_s  ai_release_signals_t;

struct ai_release_signals_s {
    ai_release_signals_result_t   r;

    const struct ai_release_signals_node_s  *root;  /* the format's paths */
    int                           format;
    unsigned                      stream:1;
    unsigned                      scan:1;     /* JSON is read */
    unsigned                      finished:1;

    /* the path node of each open container, by depth; NULL: none */
    const struct ai_release_signals_node_s  *node[AI_RELEASE_SIGNALS_DEPTH
                                                  + 1];

    /* responses: across events */
    uint64_t                      delta_text;
    uint64_t                      final_text;
    uint64_t                      item_tools;
    uint64_t                      final_tools;
    uint8_t                       status;
    uint8_t                       reason;

    /* openai-chat streams: tool call indexes */
    uint64_t                      tool_mask;
    uint64_t                      tool_high;  /* + 1; 0: none past 63 */

    /* where the data being fed is: its body offset and the document's */
    const unsigned char          *chunk;
    size_t                        chunk_len;
    uint64_t                      chunk_off;
    int64_t                       piece_body;
    uint64_t                      piece_doc;
    uint64_t                      doc_pos;    /* data bytes of the event */

    ai_release_signals_doc_t      doc;

    ai_release_sse_t              sse;
    ai_release_json_t             js;
};


/*
 * An answer in format (ai_release_format_e); is_stream: its Content-Type
 * is text/event-stream.
 */
void ai_release_signals_init(ai_release_signals_t *s, int format,
    int is_stream);
/* the next bytes of the body */
void ai_release_signals_feed(ai_release_signals_t *s, const unsigned char *p,
    size_t len);
/*
 * The end of the body; complete is 0 when the answer was cut short.  The
 * result (s->r); finishing again returns it again.
 */
const ai_release_signals_result_t *ai_release_signals_finish(
    ai_release_signals_t *s, int complete);

/* "none", "stop", "length", "tool_calls", "content_filter", "refusal",
 * "other"; "?" for anything else */
const char *ai_release_ending_name(unsigned ending);


/* the log-scale histogram */

#define AI_RELEASE_HIST_SUB_BITS   2
#define AI_RELEASE_HIST_SUB        (1 << AI_RELEASE_HIST_SUB_BITS)
/* values from 2^AI_RELEASE_HIST_TOP_BITS on share the last bucket */
#define AI_RELEASE_HIST_TOP_BITS   24
/* 0 .. 7, then 4 for each power of two from 2^3 to 2^23, the last */
#define AI_RELEASE_HIST_BUCKETS                                              \
    ((AI_RELEASE_HIST_TOP_BITS - AI_RELEASE_HIST_SUB_BITS + 1)               \
     * AI_RELEASE_HIST_SUB + 1)
#define AI_RELEASE_HIST_SIZE       (AI_RELEASE_HIST_BUCKETS * sizeof(uint64_t))

/* the bucket of a value: a few integer operations, no search */
unsigned ai_release_hist_bucket(uint64_t v);
/* the largest value bucket i holds; UINT64_MAX for the last */
uint64_t ai_release_hist_le(unsigned i);
/*
 * The q-quantile (0 < q <= 1) of AI_RELEASE_HIST_BUCKETS counts, within
 * a quarter of the true value (see above); 0 for an empty histogram
 */
double ai_release_hist_quantile(const uint64_t *counts, double q);


#endif /* _AI_RELEASE_SIGNALS_H_INCLUDED_ */
