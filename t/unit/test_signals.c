
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Unit tests of behaviour signals (ai_release_signals.c): answers of the
 * OpenAI chat completions, Anthropic messages and OpenAI responses APIs,
 * as JSON and as event streams, shaped as those APIs send them (text,
 * usage, tool calls, refusals, length and content filter stops); each is
 * read whole, a byte at a time and cut in two at every byte, and must
 * give the same signals.  And the log-scale histogram: its buckets and
 * the accuracy of its quantiles.  TAP output; run from t/unit.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai_release_signals.h"
#include "ai_release_apply.h"
#include "tap.h"


#define NONE    AI_RELEASE_FORMAT_NONE
#define CHAT    AI_RELEASE_FORMAT_OPENAI_CHAT
#define RESP    AI_RELEASE_FORMAT_OPENAI_RESPONSES
#define ANTH    AI_RELEASE_FORMAT_ANTHROPIC_MESSAGES

#define E_NONE     AI_RELEASE_END_NONE
#define E_STOP     AI_RELEASE_END_STOP
#define E_LENGTH   AI_RELEASE_END_LENGTH
#define E_TOOLS    AI_RELEASE_END_TOOL_CALLS
#define E_FILTER   AI_RELEASE_END_CONTENT_FILTER
#define E_REFUSAL  AI_RELEASE_END_REFUSAL
#define E_OTHER    AI_RELEASE_END_OTHER

/* no usage: -1 */
#define NO         -1


/* an answer and the signals it must give */

typedef struct {
    const char   *name;
    int           format;
    int           stream;
    const char   *body;
    int64_t       output_tokens;      /* NO: not seen */
    int64_t       input_tokens;
    uint64_t      text_bytes;
    unsigned      ending;
    uint64_t      tool_calls;
    unsigned      refused;
    /* the first text ends with this (its closing quote); NULL: none */
    const char   *first;
    uint64_t      first_event;
    unsigned      invalid;
    int           complete;
} sample_t;


#define EV(type, data)  "event: " type "\ndata: " data "\n\n"
#define DATA(data)      "data: " data "\n\n"


/* OpenAI chat completions */

#define CHAT_HEAD                                                            \
    "{\"id\":\"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT\",\"object\":"         \
    "\"chat.completion\",\"created\":1741569952,\"model\":"                  \
    "\"gpt-4.1-2025-04-14\",\"choices\":[{\"index\":0,\"message\":"          \
    "{\"role\":\"assistant\","
#define CHAT_USAGE(in, out)                                                  \
    "\"usage\":{\"prompt_tokens\":" #in ",\"completion_tokens\":" #out       \
    ",\"total_tokens\":0,\"prompt_tokens_details\":{\"cached_tokens\":0,"    \
    "\"audio_tokens\":0},\"completion_tokens_details\":"                     \
    "{\"reasoning_tokens\":0,\"audio_tokens\":0,"                            \
    "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},"   \
    "\"service_tier\":\"default\",\"system_fingerprint\":\"fp_b376dfbbd5\"}"

#define CHUNK(delta, finish)                                                 \
    DATA("{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\","    \
         "\"created\":1694268190,\"model\":\"gpt-4o-mini\","                 \
         "\"system_fingerprint\":\"fp_44709d6fcb\",\"choices\":[{\"index\":" \
         "0,\"delta\":" delta ",\"logprobs\":null,\"finish_reason\":"        \
         finish "}],\"usage\":null}")
#define CHUNK_N(index, delta, finish)                                        \
    DATA("{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\","    \
         "\"choices\":[{\"delta\":" delta ",\"finish_reason\":" finish       \
         ",\"index\":" #index "}]}")
#define CHUNK_USAGE(in, out)                                                 \
    DATA("{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\","    \
         "\"created\":1694268190,\"model\":\"gpt-4o-mini\",\"choices\":[],"  \
         "\"usage\":{\"prompt_tokens\":" #in ",\"completion_tokens\":" #out  \
         ",\"total_tokens\":0}}")

/* Anthropic messages */

#define MSG_HEAD                                                             \
    "{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\","         \
    "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":"
#define MSG_TAIL(stop, in, out)                                              \
    ",\"stop_reason\":" stop ",\"stop_sequence\":null,\"usage\":"            \
    "{\"input_tokens\":" #in ",\"cache_creation_input_tokens\":0,"           \
    "\"cache_read_input_tokens\":0,\"output_tokens\":" #out "}}"

#define MSG_START(in)                                                        \
    EV("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":"   \
       "\"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY\",\"type\":\"message\","    \
       "\"role\":\"assistant\",\"content\":[],\"model\":"                    \
       "\"claude-sonnet-4-5\",\"stop_reason\":null,\"stop_sequence\":null,"  \
       "\"usage\":{\"input_tokens\":" #in ",\"output_tokens\":1}}}")
#define BLOCK_START(i, block)                                                \
    EV("content_block_start", "{\"type\":\"content_block_start\","           \
       "\"index\":" #i ",\"content_block\":" block "}")
#define TEXT_DELTA(i, text)                                                  \
    EV("content_block_delta", "{\"type\":\"content_block_delta\","           \
       "\"index\":" #i ",\"delta\":{\"type\":\"text_delta\",\"text\":"       \
       "\"" text "\"}}")
#define JSON_DELTA(i, json)                                                  \
    EV("content_block_delta", "{\"type\":\"content_block_delta\","           \
       "\"index\":" #i ",\"delta\":{\"type\":\"input_json_delta\","          \
       "\"partial_json\":\"" json "\"}}")
#define BLOCK_STOP(i)                                                        \
    EV("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":"   \
       #i "}")
#define MSG_DELTA(stop, out)                                                 \
    EV("message_delta", "{\"type\":\"message_delta\",\"delta\":"             \
       "{\"stop_reason\":" stop ",\"stop_sequence\":null},\"usage\":"        \
       "{\"output_tokens\":" #out "}}")
#define MSG_STOP                                                             \
    EV("message_stop", "{\"type\":\"message_stop\"}")
#define PING                                                                 \
    EV("ping", "{\"type\": \"ping\"}")

/* OpenAI responses */

#define RESP_HEAD(status, details)                                           \
    "{\"id\":\"resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b\","     \
    "\"object\":\"response\",\"created_at\":1741476542,\"status\":"          \
    "\"" status "\",\"error\":null,\"incomplete_details\":" details ","      \
    "\"instructions\":null,\"max_output_tokens\":null,\"model\":"            \
    "\"gpt-4.1-2025-04-14\",\"output\":["
#define RESP_MESSAGE(part)                                                   \
    "{\"type\":\"message\",\"id\":\"msg_67ccd2bf17f0819081ff3bb2cf6508e6\"," \
    "\"status\":\"completed\",\"role\":\"assistant\",\"content\":[" part     \
    "]}"
#define RESP_TEXT(text)                                                      \
    "{\"type\":\"output_text\",\"text\":\"" text "\",\"annotations\":[]}"
#define RESP_CALL(name, args)                                                \
    "{\"type\":\"function_call\",\"id\":\"fc_12345xyz\",\"call_id\":"        \
    "\"call_12345xyz\",\"name\":\"" name "\",\"arguments\":\"" args "\","    \
    "\"status\":\"completed\"}"
#define RESP_TAIL(in, out)                                                   \
    "],\"parallel_tool_calls\":true,\"temperature\":1.0,\"usage\":"          \
    "{\"input_tokens\":" #in ",\"input_tokens_details\":"                    \
    "{\"cached_tokens\":0},\"output_tokens\":" #out ","                      \
    "\"output_tokens_details\":{\"reasoning_tokens\":0},"                    \
    "\"total_tokens\":0},\"user\":null,\"metadata\":{}}"

#define REV(type, rest)                                                      \
    EV(type, "{\"type\":\"" type "\"," rest "}")
#define R_CREATED                                                            \
    REV("response.created", "\"sequence_number\":0,\"response\":{\"id\":"    \
        "\"resp_1\",\"object\":\"response\",\"status\":\"in_progress\","     \
        "\"incomplete_details\":null,\"output\":[],\"usage\":null}")
#define R_ITEM_ADDED(i, item)                                                \
    REV("response.output_item.added", "\"output_index\":" #i ",\"item\":"    \
        item ",\"sequence_number\":2")
#define R_TEXT_DELTA(text)                                                   \
    REV("response.output_text.delta", "\"item_id\":\"msg_1\","               \
        "\"output_index\":0,\"content_index\":0,\"delta\":\"" text "\","     \
        "\"sequence_number\":4")
#define R_TEXT_DONE(text)                                                    \
    REV("response.output_text.done", "\"item_id\":\"msg_1\","                \
        "\"output_index\":0,\"content_index\":0,\"text\":\"" text "\","      \
        "\"sequence_number\":7")
#define R_ARGS_DELTA(args)                                                   \
    REV("response.function_call_arguments.delta", "\"item_id\":\"fc_1\","    \
        "\"output_index\":0,\"delta\":\"" args "\"")
#define R_DONE(type, status, details, output, in, out)                       \
    REV(type, "\"sequence_number\":9,\"response\":{\"id\":\"resp_1\","       \
        "\"object\":\"response\",\"status\":\"" status "\","                 \
        "\"incomplete_details\":" details ",\"output\":[" output "],"        \
        "\"usage\":{\"input_tokens\":" #in ",\"output_tokens\":" #out        \
        ",\"total_tokens\":0}}")


static const sample_t  samples[] = {

    /* OpenAI chat completions, JSON */

    { "chat: text", CHAT, 0,
      CHAT_HEAD "\"content\":\"Hello! How can I assist you today?\","
      "\"refusal\":null,\"annotations\":[]},\"logprobs\":null,"
      "\"finish_reason\":\"stop\"}]," CHAT_USAGE(19, 10),
      10, 19, 34, E_STOP, 0, 0, "today?\"", 0, 0, 1 },

    { "chat: escapes and UTF-8 in the text", CHAT, 0,
      CHAT_HEAD "\"content\":\"caf\\u00e9 \\\"\xe2\x80\x94\\\"\\n\\ud83d"
      "\\ude00\"},\"finish_reason\":\"stop\"}]," CHAT_USAGE(5, 6),
      6, 5, 16, E_STOP, 0, 0, "\\ude00\"", 0, 0, 1 },

    { "chat: two tool calls", CHAT, 0,
      CHAT_HEAD "\"content\":null,\"tool_calls\":[{\"id\":"
      "\"call_abc123\",\"type\":\"function\",\"function\":{\"name\":"
      "\"get_current_weather\",\"arguments\":\"{\\n\\\"location\\\": "
      "\\\"Boston, MA\\\"\\n}\"}},{\"id\":\"call_def456\",\"type\":"
      "\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":"
      "\"{}\"}}],\"refusal\":null},\"logprobs\":null,\"finish_reason\":"
      "\"tool_calls\"}]," CHAT_USAGE(82, 17),
      17, 82, 0, E_TOOLS, 2, 0, NULL, 0, 0, 1 },

    { "chat: refusal", CHAT, 0,
      CHAT_HEAD "\"content\":null,\"refusal\":\"I'm sorry, I can't "
      "assist with that request.\"},\"logprobs\":null,\"finish_reason\":"
      "\"stop\"}]," CHAT_USAGE(12, 9),
      9, 12, 0, E_STOP, 0, 1, NULL, 0, 0, 1 },

    { "chat: length stop", CHAT, 0,
      CHAT_HEAD "\"content\":\"The history of the Roman\"},"
      "\"finish_reason\":\"length\"}]," CHAT_USAGE(30, 5),
      5, 30, 24, E_LENGTH, 0, 0, "Roman\"", 0, 0, 1 },

    { "chat: content filter", CHAT, 0,
      CHAT_HEAD "\"content\":\"\"},\"finish_reason\":\"content_filter\"}],"
      CHAT_USAGE(40, 0),
      0, 40, 0, E_FILTER, 0, 0, NULL, 0, 0, 1 },

    { "chat: an unknown finish reason, only choice 0 counts", CHAT, 0,
      CHAT_HEAD "\"content\":\"A\"},\"finish_reason\":\"eos\"},{\"index\":1,"
      "\"message\":{\"role\":\"assistant\",\"content\":\"BBBB\",\"tool_calls\":"
      "[{}]},\"finish_reason\":\"length\"}]}",
      NO, NO, 1, E_OTHER, 0, 0, "A\"", 0, 0, 1 },

    { "chat: cut short, what passed counts", CHAT, 0,
      CHAT_HEAD "\"content\":\"Partial answer\"},\"finish_reason\":null",
      NO, NO, 14, E_NONE, 0, 0, "answer\"", 0, 1, 0 },

    { "chat: not JSON", CHAT, 0, "<html>502 Bad Gateway</html>",
      NO, NO, 0, E_NONE, 0, 0, NULL, 0, 1, 1 },

    { "chat: usage that is not an integer", CHAT, 0,
      "{\"choices\":[],\"usage\":{\"prompt_tokens\":1.5,"
      "\"completion_tokens\":-3}}",
      NO, NO, 0, E_NONE, 0, 0, NULL, 0, 0, 1 },

    /* OpenAI chat completions, streams */

    { "chat stream: include_usage", CHAT, 1,
      CHUNK("{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}",
            "null")
      CHUNK("{\"content\":\"Hello\"}", "null")
      CHUNK("{\"content\":\"! How\"}", "null")
      CHUNK("{\"content\":\" can I help?\"}", "null")
      CHUNK("{}", "\"stop\"")
      CHUNK_USAGE(9, 12)
      DATA("[DONE]"),
      12, 9, 22, E_STOP, 0, 0, "Hello\"", 2, 0, 1 },

    { "chat stream: no usage", CHAT, 1,
      CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null")
      CHUNK("{\"content\":\"Hi\"}", "null")
      CHUNK("{}", "\"length\"")
      DATA("[DONE]"),
      NO, NO, 2, E_LENGTH, 0, 0, "Hi\"", 2, 0, 1 },

    { "chat stream: tool calls split by index", CHAT, 1,
      CHUNK("{\"role\":\"assistant\",\"content\":null,\"tool_calls\":"
            "[{\"index\":0,\"id\":\"call_DdmO9pD3xa9XTPNJ32zg2hcA\","
            "\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
            "\"arguments\":\"\"}}]}", "null")
      CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
            "\"{\\\"lo\"}}]}", "null")
      CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
            "\"cation\\\":\\\"Paris\\\"}\"}}]}", "null")
      CHUNK("{\"tool_calls\":[{\"function\":{\"arguments\":\"\"},\"index\":"
            "1,\"id\":\"call_2\",\"type\":\"function\"}]}", "null")
      CHUNK("{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":"
            "\"{}\"}}]}", "null")
      CHUNK("{}", "\"tool_calls\"")
      CHUNK_USAGE(64, 31)
      DATA("[DONE]"),
      31, 64, 0, E_TOOLS, 2, 0, NULL, 0, 0, 1 },

    { "chat stream: tool calls without index, and past 63", CHAT, 1,
      CHUNK("{\"tool_calls\":[{\"id\":\"a\"},{\"id\":\"b\"},{\"id\":\"c\"}]}",
            "null")
      CHUNK("{\"tool_calls\":[{\"index\":70}]}", "null")
      CHUNK("{}", "\"tool_calls\""),
      NO, NO, 0, E_TOOLS, 3 + 7, 0, NULL, 0, 0, 1 },

    { "chat stream: refusal", CHAT, 1,
      CHUNK("{\"role\":\"assistant\",\"content\":null,\"refusal\":\"\"}",
            "null")
      CHUNK("{\"refusal\":\"I'm sorry\"}", "null")
      CHUNK("{\"refusal\":\", I can't help.\"}", "null")
      CHUNK("{}", "\"stop\"")
      CHUNK_USAGE(20, 8)
      DATA("[DONE]"),
      8, 20, 0, E_STOP, 0, 1, NULL, 0, 0, 1 },

    { "chat stream: content filter", CHAT, 1,
      CHUNK("{\"content\":\"Sure\"}", "null")
      CHUNK("{}", "\"content_filter\"")
      DATA("[DONE]"),
      NO, NO, 4, E_FILTER, 0, 0, "Sure\"", 1, 0, 1 },

    { "chat stream: n=2, only index 0 counts", CHAT, 1,
      CHUNK_N(1, "{\"content\":\"Other\"}", "null")
      CHUNK_N(0, "{\"content\":\"Mine\"}", "null")
      CHUNK_N(1, "{\"refusal\":\"no\",\"tool_calls\":[{\"index\":0}]}",
              "\"length\"")
      CHUNK_N(0, "{}", "\"stop\"")
      DATA("[DONE]"),
      NO, NO, 4, E_STOP, 0, 0, "Mine\"", 2, 0, 1 },

    { "chat stream: CRLF, multi-line data, comments", CHAT, 1,
      ": keep-alive\r\n\r\n"
      "data: {\"choices\":[{\"index\":0,\r\ndata: \"delta\":{\"content\":"
      "\"ab\"}}]}\r\n\r\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":"
      "\"stop\"}]}\r\r"
      "data: [DONE]\r\n\r\n",
      NO, NO, 2, E_STOP, 0, 0, "ab\"", 1, 0, 1 },

    { "chat stream: a broken event counts for nothing", CHAT, 1,
      CHUNK("{\"content\":\"Fine\"}", "null")
      DATA("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Lost\"}}]")
      CHUNK("{}", "\"stop\"")
      DATA("[DONE]"),
      NO, NO, 4, E_STOP, 0, 0, "Fine\"", 1, 1, 1 },

    { "chat stream: cut inside an event", CHAT, 1,
      CHUNK("{\"content\":\"Kept\"}", "null")
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Gone\"},"
      "\"finish_reason\":\"stop\"}]}\n",
      NO, NO, 4, E_NONE, 0, 0, "Kept\"", 1, 0, 0 },

    /* Anthropic messages, JSON */

    { "anthropic: text", ANTH, 0,
      MSG_HEAD "[{\"type\":\"text\",\"text\":\"Hi! My name is Claude.\"}]"
      MSG_TAIL("\"end_turn\"", 2095, 503),
      503, 2095, 22, E_STOP, 0, 0, "Claude.\"", 0, 0, 1 },

    { "anthropic: tool use", ANTH, 0,
      MSG_HEAD "[{\"type\":\"text\",\"text\":\"I'll check the weather.\"},"
      "{\"type\":\"tool_use\",\"id\":\"toolu_01A09q90qw90lq917835lq9\","
      "\"name\":\"get_weather\",\"input\":{\"location\":\"San Francisco, "
      "CA\",\"text\":\"not answer text\",\"type\":\"tool_use\"}},"
      "{\"input\":{},\"name\":\"get_time\",\"id\":\"toolu_2\",\"type\":"
      "\"tool_use\"}]"
      MSG_TAIL("\"tool_use\"", 472, 91),
      91, 472, 23, E_TOOLS, 2, 0, "weather.\"", 0, 0, 1 },

    { "anthropic: refusal", ANTH, 0,
      MSG_HEAD "[]" MSG_TAIL("\"refusal\"", 30, 0),
      0, 30, 0, E_REFUSAL, 0, 1, NULL, 0, 0, 1 },

    { "anthropic: max_tokens", ANTH, 0,
      MSG_HEAD "[{\"type\":\"thinking\",\"thinking\":\"hmm\",\"signature\":"
      "\"x\"},{\"type\":\"text\",\"text\":\"Once upon\"}]"
      MSG_TAIL("\"max_tokens\"", 10, 16),
      16, 10, 9, E_LENGTH, 0, 0, "upon\"", 0, 0, 1 },

    { "anthropic: pause_turn is other", ANTH, 0,
      MSG_HEAD "[]" MSG_TAIL("\"pause_turn\"", 1, 2),
      2, 1, 0, E_OTHER, 0, 0, NULL, 0, 0, 1 },

    /* Anthropic messages, streams */

    { "anthropic stream: text", ANTH, 1,
      MSG_START(25)
      BLOCK_START(0, "{\"type\":\"text\",\"text\":\"\"}")
      PING
      TEXT_DELTA(0, "Hello")
      TEXT_DELTA(0, "! \\u00bfC\\u00f3mo est\\u00e1s?")
      BLOCK_STOP(0)
      MSG_DELTA("\"end_turn\"", 15)
      MSG_STOP,
      15, 25, 22, E_STOP, 0, 0, "Hello\"", 4, 0, 1 },

    { "anthropic stream: tool use", ANTH, 1,
      MSG_START(472)
      BLOCK_START(0, "{\"type\":\"text\",\"text\":\"\"}")
      TEXT_DELTA(0, "Okay, let's check.")
      BLOCK_STOP(0)
      BLOCK_START(1, "{\"type\":\"tool_use\",\"id\":"
                     "\"toolu_01T1x1fJ34qAmk2tNTrN7Up6\",\"name\":"
                     "\"get_weather\",\"input\":{}}")
      JSON_DELTA(1, "")
      JSON_DELTA(1, "{\\\"location\\\": \\\"San Fra")
      JSON_DELTA(1, "ncisco, CA\\\"}")
      BLOCK_STOP(1)
      MSG_DELTA("\"tool_use\"", 89)
      MSG_STOP,
      89, 472, 18, E_TOOLS, 1, 0, "check.\"", 3, 0, 1 },

    { "anthropic stream: refusal", ANTH, 1,
      MSG_START(40)
      BLOCK_START(0, "{\"type\":\"text\",\"text\":\"\"}")
      TEXT_DELTA(0, "I")
      BLOCK_STOP(0)
      MSG_DELTA("\"refusal\"", 3)
      MSG_STOP,
      3, 40, 1, E_REFUSAL, 0, 1, "I\"", 3, 0, 1 },

    { "anthropic stream: max_tokens", ANTH, 1,
      MSG_START(12)
      BLOCK_START(0, "{\"type\":\"text\",\"text\":\"Go\"}")
      TEXT_DELTA(0, "ne")
      MSG_DELTA("\"max_tokens\"", 2)
      MSG_STOP,
      2, 12, 4, E_LENGTH, 0, 0, "Go\"", 2, 0, 1 },

    { "anthropic stream: cut after message_start", ANTH, 1,
      MSG_START(7)
      BLOCK_START(0, "{\"type\":\"text\",\"text\":\"\"}")
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\"",
      1, 7, 0, E_NONE, 0, 0, NULL, 0, 0, 0 },

    /* OpenAI responses, JSON */

    { "responses: text", RESP, 0,
      RESP_HEAD("completed", "null")
      RESP_MESSAGE(RESP_TEXT("In a peaceful grove beneath a silver moon."))
      RESP_TAIL(36, 87),
      87, 36, 42, E_STOP, 0, 0, "moon.\"", 0, 0, 1 },

    { "responses: function call", RESP, 0,
      RESP_HEAD("completed", "null")
      "{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[{\"type\":"
      "\"summary_text\",\"text\":\"thinking\"}]},"
      RESP_CALL("get_current_weather",
                "{\\\"location\\\":\\\"Boston, MA\\\"}")
      "," RESP_CALL("get_time", "{}")
      RESP_TAIL(291, 23),
      23, 291, 0, E_TOOLS, 2, 0, NULL, 0, 0, 1 },

    { "responses: max_output_tokens", RESP, 0,
      RESP_HEAD("incomplete", "{\"reason\":\"max_output_tokens\"}")
      RESP_MESSAGE(RESP_TEXT("Once"))
      RESP_TAIL(10, 1),
      1, 10, 4, E_LENGTH, 0, 0, "Once\"", 0, 0, 1 },

    { "responses: content filter", RESP, 0,
      RESP_HEAD("incomplete", "{\"reason\":\"content_filter\"}")
      RESP_TAIL(10, 0),
      0, 10, 0, E_FILTER, 0, 0, NULL, 0, 0, 1 },

    { "responses: refusal", RESP, 0,
      RESP_HEAD("completed", "null")
      RESP_MESSAGE("{\"type\":\"refusal\",\"refusal\":\"I can't help "
                   "with that.\"}")
      RESP_TAIL(15, 7),
      7, 15, 0, E_STOP, 0, 1, NULL, 0, 0, 1 },

    { "responses: failed", RESP, 0,
      RESP_HEAD("failed", "null") "]}",
      NO, NO, 0, E_OTHER, 0, 0, NULL, 0, 0, 1 },

    /* OpenAI responses, streams */

    { "responses stream: text", RESP, 1,
      R_CREATED
      R_ITEM_ADDED(0, "{\"id\":\"msg_1\",\"type\":\"message\",\"status\":"
                      "\"in_progress\",\"role\":\"assistant\","
                      "\"content\":[]}")
      REV("response.content_part.added", "\"item_id\":\"msg_1\","
          "\"output_index\":0,\"content_index\":0,\"part\":{\"type\":"
          "\"output_text\",\"text\":\"\",\"annotations\":[]}")
      R_TEXT_DELTA("Hi")
      R_TEXT_DELTA(" there")
      R_TEXT_DONE("Hi there")
      R_DONE("response.completed", "completed", "null",
             RESP_MESSAGE(RESP_TEXT("Hi there")), 37, 11),
      11, 37, 8, E_STOP, 0, 0, "Hi\"", 4, 0, 1 },

    { "responses stream: function call", RESP, 1,
      R_CREATED
      R_ITEM_ADDED(0, "{\"type\":\"function_call\",\"id\":\"fc_1\","
                      "\"call_id\":\"call_1\",\"name\":\"get_weather\","
                      "\"arguments\":\"\"}")
      R_ARGS_DELTA("{\\\"location\\\":")
      R_ARGS_DELTA("\\\"Paris\\\"}")
      R_DONE("response.completed", "completed", "null",
             RESP_CALL("get_weather", "{\\\"location\\\":\\\"Paris\\\"}"),
             57, 18),
      18, 57, 0, E_TOOLS, 1, 0, NULL, 0, 0, 1 },

    { "responses stream: refusal", RESP, 1,
      R_CREATED
      REV("response.refusal.delta", "\"item_id\":\"msg_1\",\"delta\":"
          "\"I can't\"")
      R_DONE("response.completed", "completed", "null",
             RESP_MESSAGE("{\"type\":\"refusal\",\"refusal\":\"I can't\"}"),
             9, 3),
      3, 9, 0, E_STOP, 0, 1, NULL, 0, 0, 1 },

    { "responses stream: incomplete", RESP, 1,
      R_CREATED
      R_TEXT_DELTA("Lorem")
      R_DONE("response.incomplete", "incomplete",
             "{\"reason\":\"max_output_tokens\"}",
             RESP_MESSAGE(RESP_TEXT("Lorem")), 9, 1),
      1, 9, 5, E_LENGTH, 0, 0, "Lorem\"", 2, 0, 1 },

    { "responses stream: cut before completed", RESP, 1,
      R_CREATED
      R_TEXT_DELTA("Par")
      "event: response.output_text.delta\n",
      NO, NO, 3, E_NONE, 0, 0, "Par\"", 2, 0, 0 },

    { "responses stream: only the final response, no type member", RESP, 1,
      "event: response.output_text.delta\ndata: {\"delta\":\"ab\"}\n\n"
      R_DONE("response.completed", "completed", "null",
             RESP_MESSAGE(RESP_TEXT("abcdef")), 1, 2),
      2, 1, 6, E_STOP, 0, 0, "ab\"", 1, 0, 1 },

    /* format none: bytes only */

    { "none: a body", NONE, 0, CHAT_HEAD "\"content\":\"x\"}}]}",
      NO, NO, 0, E_NONE, 0, 0, NULL, 0, 0, 1 },

    { "none: a stream", NONE, 1,
      CHUNK("{\"content\":\"x\"}", "\"stop\"") DATA("[DONE]"),
      NO, NO, 0, E_NONE, 0, 0, NULL, 0, 0, 1 },

    { NULL, 0, 0, NULL, 0, 0, 0, 0, 0, 0, NULL, 0, 0, 0 }
};


static void run(const sample_t *t, size_t step, size_t cut,
    ai_release_signals_result_t *r);
static int same(const ai_release_signals_result_t *a,
    const ai_release_signals_result_t *b);
static void test_sample(const sample_t *t);
static void test_events(void);
static void test_finish(void);
static void test_size(void);
static void test_hist_buckets(void);
static void test_hist_quantiles(void);


int
main(void)
{
    const sample_t  *t;

    for (t = samples; t->name; t++) {
        test_sample(t);
    }

    test_events();
    test_finish();
    test_size();
    test_hist_buckets();
    test_hist_quantiles();

    return tap_done();
}


/*
 * The signals of t's body: whole (step 0, cut past the end), in pieces of
 * step bytes, or in two at cut; each piece in memory of its own
 */

static void
run(const sample_t *t, size_t step, size_t cut,
    ai_release_signals_result_t *r)
{
    char                  *copy;
    size_t                 len, pos, n;
    ai_release_signals_t  *s;

    s = malloc(sizeof(ai_release_signals_t));
    if (s == NULL) {
        abort();
    }

    len = strlen(t->body);

    ai_release_signals_init(s, t->format, t->stream);

    for (pos = 0; pos < len; pos += n) {
        n = step ? step : (cut > pos && cut < len ? cut - pos : len - pos);

        if (n > len - pos) {
            n = len - pos;
        }

        copy = malloc(n);
        if (copy == NULL) {
            abort();
        }

        memcpy(copy, t->body + pos, n);
        ai_release_signals_feed(s, (const unsigned char *) copy, n);
        free(copy);
    }

    ai_release_signals_feed(s, (const unsigned char *) "", 0);

    *r = *ai_release_signals_finish(s, t->complete);

    free(s);
}


static int
same(const ai_release_signals_result_t *a,
    const ai_release_signals_result_t *b)
{
    return a->output_tokens == b->output_tokens
           && a->input_tokens == b->input_tokens
           && a->answer_bytes == b->answer_bytes
           && a->text_bytes == b->text_bytes
           && a->tool_calls == b->tool_calls
           && a->events == b->events
           && a->first_text_offset == b->first_text_offset
           && a->first_text_event == b->first_text_event
           && a->ending == b->ending
           && a->has_output == b->has_output
           && a->has_input == b->has_input
           && a->refused == b->refused
           && a->invalid == b->invalid
           && a->cut == b->cut;
}


static void
test_sample(const sample_t *t)
{
    size_t                       len, cut;
    int64_t                      first;
    const char                  *at;
    ai_release_signals_result_t  r, r2;

    len = strlen(t->body);

    run(t, 0, len, &r);

    first = -1;

    if (t->first) {
        at = strstr(t->body, t->first);
        first = at ? (int64_t) (at - t->body + strlen(t->first) - 1) : -2;
    }

    ok(r.has_output == (t->output_tokens != NO)
       && r.output_tokens == (t->output_tokens == NO
                              ? 0 : (uint64_t) t->output_tokens)
       && r.has_input == (t->input_tokens != NO)
       && r.input_tokens == (t->input_tokens == NO
                             ? 0 : (uint64_t) t->input_tokens),
       "%s: tokens out %llu%s, in %llu%s", t->name,
       (unsigned long long) r.output_tokens, r.has_output ? "" : " (none)",
       (unsigned long long) r.input_tokens, r.has_input ? "" : " (none)");

    ok(r.answer_bytes == len && r.text_bytes == t->text_bytes,
       "%s: %llu bytes, text %llu bytes", t->name,
       (unsigned long long) r.answer_bytes,
       (unsigned long long) r.text_bytes);

    ok(r.ending == t->ending && r.tool_calls == t->tool_calls
       && r.refused == t->refused,
       "%s: ending %s, %llu tool calls, refused %u", t->name,
       ai_release_ending_name(r.ending), (unsigned long long) r.tool_calls,
       r.refused);

    ok(r.first_text_offset == first && r.first_text_event == t->first_event
       && r.invalid == t->invalid && r.cut == !t->complete,
       "%s: first text at %lld (event %llu), invalid %u, cut %u", t->name,
       (long long) r.first_text_offset,
       (unsigned long long) r.first_text_event, r.invalid, r.cut);

    if (first >= 0) {
        ok(t->body[first] == '"', "%s: the first text's closing quote",
           t->name);
    }

    /* a byte at a time, and cut in two at every byte */

    run(t, 1, 0, &r2);

    if (!same(&r, &r2)) {
        ok(0, "%s: a byte at a time differs", t->name);
        return;
    }

    for (cut = 0; cut <= len; cut++) {
        run(t, 0, cut, &r2);

        if (!same(&r, &r2)) {
            ok(0, "%s: cut at %zu differs", t->name, cut);
            return;
        }
    }

    ok(1, "%s: the same at every split of %zu bytes", t->name, len);
}


/* a stream's events are counted, [DONE] and pings among them */

static void
test_events(void)
{
    ai_release_signals_t  s;

    static const char     body[] =
        CHUNK("{\"content\":\"a\"}", "null")
        ": comment\n\n"
        "event: ping\n\n"
        DATA("[DONE]");

    ai_release_signals_init(&s, CHAT, 1);
    ai_release_signals_feed(&s, (const unsigned char *) body,
                            sizeof(body) - 1);
    (void) ai_release_signals_finish(&s, 1);

    ok(s.r.events == 2 && s.r.invalid == 0,
       "events with data are counted: %llu",
       (unsigned long long) s.r.events);
}


/* finish is final: more bytes and a second finish change nothing */

static void
test_finish(void)
{
    ai_release_signals_t                s;
    const ai_release_signals_result_t  *r;

    static const char  body[] =
        CHAT_HEAD "\"content\":\"abc\"},\"finish_reason\":\"stop\"}]}";

    ai_release_signals_init(&s, CHAT, 0);
    ai_release_signals_feed(&s, (const unsigned char *) body,
                            sizeof(body) - 1);
    r = ai_release_signals_finish(&s, 1);
    ai_release_signals_feed(&s, (const unsigned char *) "xx", 2);

    ok(ai_release_signals_finish(&s, 0) == r && r->text_bytes == 3
       && r->answer_bytes == sizeof(body) - 1 && r->cut == 0
       && r->ending == E_STOP,
       "a second finish returns the first result");

    ok(strcmp(ai_release_ending_name(E_TOOLS), "tool_calls") == 0
       && strcmp(ai_release_ending_name(E_NONE), "none") == 0
       && strcmp(ai_release_ending_name(AI_RELEASE_END_N), "?") == 0,
       "ending names");
}


static void
test_size(void)
{
    ok(sizeof(ai_release_signals_t) <= 3072,
       "the extractor is %zu bytes, at most 3 KiB",
       sizeof(ai_release_signals_t));
}


/* every value in the bucket le() says, and the buckets in order */

static void
test_hist_buckets(void)
{
    int       good;
    unsigned  i, b;
    uint64_t  lo, hi, v;

    ok(AI_RELEASE_HIST_BUCKETS == 93 && AI_RELEASE_HIST_SIZE == 744,
       "93 buckets, 744 bytes");

    good = 1;

    for (v = 0; v < 8; v++) {
        good &= (ai_release_hist_bucket(v) == v && ai_release_hist_le(v) == v);
    }

    ok(good, "0 to 7: a bucket each");

    good = 1;
    lo = 0;

    for (i = 0; i < AI_RELEASE_HIST_BUCKETS - 1; i++) {
        hi = ai_release_hist_le(i);

        /* never wider than a quarter of its lowest value (from 8 on) */

        if (hi < lo || (lo >= 8 && (hi - lo + 1) * 4 > lo)
            || ai_release_hist_bucket(lo) != i
            || ai_release_hist_bucket(hi) != i
            || ai_release_hist_bucket(lo + (hi - lo) / 2) != i)
        {
            printf("# bucket %u: [%llu, %llu]\n", i, (unsigned long long) lo,
                   (unsigned long long) hi);
            good = 0;
        }

        lo = hi + 1;
    }

    ok(good, "each bucket holds [le(i-1)+1, le(i)], at most a quarter wide");

    ok(lo == (1 << 24) && ai_release_hist_bucket(lo) == 92
       && ai_release_hist_bucket(UINT64_MAX) == 92
       && ai_release_hist_le(92) == UINT64_MAX
       && ai_release_hist_le(91) == (1 << 24) - 1,
       "2^24 and above: the last bucket");

    good = 1;

    for (v = 1; v < 100000; v = v * 3 / 2 + 1) {
        b = ai_release_hist_bucket(v);
        good &= (v <= ai_release_hist_le(b)
                 && (b == 0 || v > ai_release_hist_le(b - 1)));
    }

    ok(good, "values fall between their bucket's bounds");
}


/* quantiles of known distributions: within a quarter of the true value */

static void
test_hist_quantiles(void)
{
    int        good;
    double     q, got, want, worst;
    unsigned   i, k;
    uint64_t   counts[AI_RELEASE_HIST_BUCKETS], *values, seed;

    static const double  qs[] = { 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95,
                                  0.99, 1.0 };

    memset(counts, 0, sizeof(counts));

    ok(ai_release_hist_quantile(counts, 0.5) == 0, "empty: 0");

    counts[ai_release_hist_bucket(5)] = 10;

    ok(ai_release_hist_quantile(counts, 0.5) == 5
       && ai_release_hist_quantile(counts, 1.0) == 5,
       "small values are exact");

    memset(counts, 0, sizeof(counts));
    counts[ai_release_hist_bucket(100000000)] = 3;

    ok(ai_release_hist_quantile(counts, 0.5) == (double) (1 << 24),
       "the last bucket: 2^24");

    /* a log-normal-like spread of answer lengths, 10,000 values */

    values = malloc(10000 * sizeof(uint64_t));
    if (values == NULL) {
        abort();
    }

    memset(counts, 0, sizeof(counts));
    seed = 12345;

    for (i = 0; i < 10000; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        q = 0;

        for (k = 0; k < 4; k++) {
            q += (double) ((seed >> (16 * k)) & 0xffff) / 65536.0;
        }

        values[i] = (uint64_t) exp(3.0 + 2.5 * q);
        counts[ai_release_hist_bucket(values[i])]++;
    }

    /* the true quantiles: sort */

    for (i = 1; i < 10000; i++) {
        uint64_t  v = values[i];

        for (k = i; k > 0 && values[k - 1] > v; k--) {
            values[k] = values[k - 1];
        }

        values[k] = v;
    }

    good = 1;
    worst = 0;

    for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        got = ai_release_hist_quantile(counts, qs[i]);
        k = (unsigned) ceil(qs[i] * 10000) - 1;
        want = (double) values[k];

        if (fabs(got - want) / want > worst) {
            worst = fabs(got - want) / want;
        }

        if (fabs(got - want) >= want / 4) {
            printf("# q %.2f: %.1f, true %.0f\n", qs[i], got, want);
            good = 0;
        }
    }

    ok(good, "quantiles within a quarter of the true value (worst %.3f)",
       worst);

    free(values);
}
