
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Unit tests of output contracts (ai_release_contract.c) and of the
 * manifest key "output_contract" (ai_release_schema.c): every key and its
 * errors with their lines; each rule kept and broken by JSON answers and
 * by OpenAI, Anthropic and OpenAI Responses event streams shaped as those
 * APIs send them.  Every answer is also fed a byte at a time and cut in
 * two at every byte: the verdict and its detail must not change.  TAP
 * output; run from t/unit.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai_release_contract.h"
#include "tap.h"


/* a valid bundle in four lines: output_contract starts at line 5 */
#define BASE    "name: a\nversion: \"1\"\nupstream: up\nmodel: gpt-4o\n"

#define NONE    AI_RELEASE_FORMAT_NONE
#define CHAT    AI_RELEASE_FORMAT_OPENAI_CHAT
#define RESP    AI_RELEASE_FORMAT_OPENAI_RESPONSES
#define ANTH    AI_RELEASE_FORMAT_ANTHROPIC_MESSAGES

#define OK            AI_RELEASE_CONTRACT_OK
#define STATUS        AI_RELEASE_CONTRACT_STATUS
#define CONTENT_TYPE  AI_RELEASE_CONTRACT_CONTENT_TYPE
#define MAX_BYTES     AI_RELEASE_CONTRACT_MAX_BYTES
#define JSON          AI_RELEASE_CONTRACT_JSON
#define REQUIRED      AI_RELEASE_CONTRACT_REQUIRED
#define NON_EMPTY     AI_RELEASE_CONTRACT_NON_EMPTY
#define MODEL_PREFIX  AI_RELEASE_CONTRACT_MODEL_PREFIX
#define STREAM_END    AI_RELEASE_CONTRACT_STREAM_END

#define JSON_TYPE     "application/json"
#define SSE_TYPE      "text/event-stream"


/* an answer to check: all but its body */

typedef struct {
    const ai_release_contract_t  *contract;
    int                           format;
    const char                   *model;
    unsigned                      status;
    const char                   *type;
    int                           complete;
} answer_t;


static ai_release_contract_t *contract(const char *yaml);
static void schema_error(const char *yaml, unsigned line, unsigned column,
    const char *substr);
static ai_release_contract_rule_e run(const answer_t *a, const char *body,
    size_t len, size_t step, size_t cut, char *detail, size_t size);
static void expect(const char *name, const answer_t *a, const char *body,
    ai_release_contract_rule_e rule, const char *detail);
static char *replace(const char *s, const char *from, const char *to);
static char *chat_answer(const char *model, const char *content);

static void test_schema(void);
static void test_schema_errors(void);
static void test_status_type(void);
static void test_max_bytes(void);
static void test_json_body(void);
static void test_pointers(void);
static void test_model(void);
static void test_openai_stream(void);
static void test_anthropic_stream(void);
static void test_responses_stream(void);
static void test_none_stream(void);
static void test_latency(void);
static void test_detail(void);


/* the contracts made, freed at the end */
static ai_release_set_t  *sets[64];
static size_t             nsets;


/* a content of about 700 bytes, with escapes and non-ASCII characters */

#define CONTENT                                                              \
    "\"Thanks for reaching out! Your order #A-1234 shipped on Monday and "   \
    "should arrive within three business days.\\n\\nTracking number: "      \
    "1Z999AA10123456784 \\u2014 you can follow it on the carrier's site. "   \
    "If anything looks off when it arrives, reply here and we will "         \
    "\\\"make it right\\\": a replacement, or a refund to the card you "     \
    "paid with, whichever you prefer. Caf\xc3\xa9 vouchers are not "         \
    "affected by the return policy and stay valid for twelve months. "       \
    "Our support team is available Monday to Friday, 9:00 to 18:00 CET, "    \
    "and on weekends for urgent matters through the help centre. Thanks "    \
    "again for your patience, and have a good week! \xf0\x9f\x93\xa6\""

#define CHAT_ANSWER                                                          \
    "{\"id\":\"chatcmpl-AZ9x1qR7\",\"object\":\"chat.completion\","          \
    "\"created\":1732700000,\"model\":\"%s\",\"choices\":[{\"index\":0,"     \
    "\"message\":{\"role\":\"assistant\",\"content\":%s,\"refusal\":null},"  \
    "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":"              \
    "{\"prompt_tokens\":812,\"completion_tokens\":99,\"total_tokens\":911,"  \
    "\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"    \
    "\"completion_tokens_details\":{\"reasoning_tokens\":0}},"               \
    "\"system_fingerprint\":\"fp_a7d06e42a7\"}\n"


/* an OpenAI chat completion stream */

#define CHUNK(delta, finish)                                                 \
    "data: {\"id\":\"chatcmpl-9xKq2\",\"object\":\"chat.completion.chunk\"," \
    "\"created\":1732700000,\"model\":\"gpt-4o-2024-08-06\","                \
    "\"system_fingerprint\":\"fp_a7d06e42a7\",\"choices\":[{\"index\":0,"    \
    "\"delta\":" delta ",\"logprobs\":null,\"finish_reason\":" finish "}]}"  \
    "\n\n"

#define CHAT_STREAM                                                          \
    CHUNK("{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}",      \
          "null")                                                            \
    CHUNK("{\"content\":\"Your\"}", "null")                                  \
    CHUNK("{\"content\":\" order\"}", "null")                                \
    CHUNK("{\"content\":\" shipped \\u2014 caf\xc3\xa9.\"}", "null")         \
    CHUNK("{}", "\"stop\"")                                                  \
    "data: {\"id\":\"chatcmpl-9xKq2\",\"object\":\"chat.completion.chunk\"," \
    "\"created\":1732700000,\"model\":\"gpt-4o-2024-08-06\",\"choices\":[]," \
    "\"usage\":{\"prompt_tokens\":812,\"completion_tokens\":4,"              \
    "\"total_tokens\":816}}\n\n"                                             \
    "data: [DONE]\n\n"


/* an Anthropic messages stream */

#define ANTH_STREAM                                                          \
    "event: message_start\n"                                                 \
    "data: {\"type\":\"message_start\",\"message\":{\"id\":"                 \
    "\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":"        \
    "\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-20250514\","   \
    "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":"                 \
    "{\"input_tokens\":25,\"output_tokens\":1}}}\n\n"                        \
    "event: content_block_start\n"                                           \
    "data: {\"type\":\"content_block_start\",\"index\":0,"                   \
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"               \
    "event: ping\n"                                                          \
    "data: {\"type\": \"ping\"}\n\n"                                         \
    "event: content_block_delta\n"                                           \
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"         \
    "{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n"                      \
    "event: content_block_delta\n"                                           \
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"         \
    "{\"type\":\"text_delta\",\"text\":\" there \\u2014 caf\xc3\xa9!\"}}"    \
    "\n\n"                                                                   \
    "event: content_block_stop\n"                                            \
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"                \
    "event: message_delta\n"                                                 \
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"          \
    "\"end_turn\",\"stop_sequence\":null},\"usage\":"                        \
    "{\"output_tokens\":15}}\n\n"                                            \
    "event: message_stop\n"                                                  \
    "data: {\"type\":\"message_stop\"}\n\n"


/* an OpenAI Responses stream */

#define RESP_STREAM                                                          \
    "event: response.created\n"                                              \
    "data: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\","  \
    "\"model\":\"gpt-4.1-2025-04-14\",\"status\":\"in_progress\","           \
    "\"output\":[]}}\n\n"                                                    \
    "event: response.output_text.delta\n"                                    \
    "data: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\","  \
    "\"output_index\":0,\"content_index\":0,\"delta\":\"Hi\"}\n\n"           \
    "event: response.completed\n"                                            \
    "data: {\"type\":\"response.completed\",\"response\":{\"id\":"           \
    "\"resp_1\",\"model\":\"gpt-4.1-2025-04-14\",\"status\":\"completed\","  \
    "\"output\":[{\"type\":\"message\",\"id\":\"msg_1\",\"role\":"           \
    "\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":"         \
    "\"Hi there\"}]}]}}\n\n"


int
main(void)
{
    size_t  i;

    printf("# ai_release_contract_check_t: %zu bytes\n",
           sizeof(ai_release_contract_check_t));

    test_schema();
    test_schema_errors();
    test_status_type();
    test_max_bytes();
    test_json_body();
    test_pointers();
    test_model();
    test_openai_stream();
    test_anthropic_stream();
    test_responses_stream();
    test_none_stream();
    test_latency();
    test_detail();

    for (i = 0; i < nsets; i++) {
        ai_release_set_free(sets[i]);
    }

    return tap_done();
}


static void
test_schema(void)
{
    ai_release_set_t             *set;
    ai_release_errors_t           errs;
    ai_release_bundle_t          *b;
    const ai_release_contract_t  *c;

    c = contract("  status: [200, 201, \"599\", 100]\n"
                 "  content_type: Application/JSON\n"
                 "  max_bytes: 64k\n"
                 "  json: true\n"
                 "  required: [/choices/0/message/content, /model]\n"
                 "  non_empty: [\"/choices/0/message/content\", \"\"]\n"
                 "  model_prefix: \"true\"\n"
                 "  max_latency: 20s\n"
                 "  max_first_byte: 500ms\n"
                 "  stream_end: \"[DONE]\"\n"
                 "  mode: enforce\n");

    if (!ok(c != NULL, "a contract with every key loads")) {
        return;
    }

    ok(c->nstatus == 4
       && (c->status[(200 - 100) / 64] & ((uint64_t) 1 << ((200 - 100) % 64)))
       && (c->status[(201 - 100) / 64] & ((uint64_t) 1 << ((201 - 100) % 64)))
       && (c->status[(599 - 100) / 64] & ((uint64_t) 1 << ((599 - 100) % 64)))
       && (c->status[0] & 1)
       && !(c->status[(202 - 100) / 64] & ((uint64_t) 1 << ((202 - 100) % 64))),
       "status: 100, 200, 201 and 599, quoted or not");
    ok(c->content_type && strcmp(c->content_type, "application/json") == 0
       && c->content_type_len == 16, "content_type kept in lowercase");
    ok(c->max_bytes == 65536, "max_bytes: 64k is 65536");
    ok(c->json == 1 && c->model_prefix == 1, "json, model_prefix");
    ok(c->max_latency_ms == 20000 && c->max_first_byte_ms == 500,
       "max_latency 20s, max_first_byte 500ms");
    ok(c->stream_end && strcmp(c->stream_end, "[DONE]") == 0,
       "stream_end");
    ok(c->mode == AI_RELEASE_CONTRACT_ENFORCE, "mode: enforce");
    ok(c->npointers == 3
       && strcmp(c->pointers[0].text, "/choices/0/message/content") == 0
       && c->pointers[0].required && c->pointers[0].non_empty
       && strcmp(c->pointers[1].text, "/model") == 0
       && c->pointers[1].required && !c->pointers[1].non_empty
       && c->pointers[2].len == 0 && c->pointers[2].non_empty
       && !c->pointers[2].required,
       "a pointer in both lists is kept once; \"\" is the whole answer");

    /* the views: one form per pointer, two in anthropic-messages */

    ok(c->nviews[NONE] == 4 && c->nviews[CHAT] == 4
       && c->nviews[RESP] == 4 && c->nviews[ANTH] == 8,
       "views: %u %u %u %u", c->nviews[NONE], c->nviews[CHAT],
       c->nviews[RESP], c->nviews[ANTH]);

    c = contract("  mode: observe\n  json: false\n");

    ok(c && c->mode == AI_RELEASE_CONTRACT_OBSERVE && c->json == 0
       && c->nstatus == 0 && c->content_type == NULL && c->max_bytes == 0
       && c->stream_end == NULL && c->npointers == 0,
       "defaults: observe, nothing else checked");

    c = contract("  max_bytes: 1\n  max_latency: 1\n");

    ok(c && c->max_bytes == 1 && c->max_latency_ms == 1000,
       "max_bytes 1; a duration without a unit is in seconds");

    /* no output_contract: no contract */

    set = ai_release_set_create();
    ai_release_errors_init(&errs);

    b = (ai_release_set_load_buffer(set, "m.yaml", BASE, sizeof(BASE) - 1,
                                    &errs)
         == 0) ? ai_release_set_get(set, 0) : NULL;

    ok(b && b->contract == NULL, "a bundle without output_contract");

    ai_release_errors_free(&errs);
    ai_release_set_free(set);

    c = contract("  {}\n");
    ok(c && c->npointers == 0 && c->nstatus == 0,
       "an empty output_contract checks nothing");
}


static void
test_schema_errors(void)
{
    schema_error("output_contract: [a]\n", 5, 18,
                 "\"output_contract\" must be a mapping");
    schema_error("output_contract:\n  requird: [/a]\n", 6, 3,
                 "unknown key \"requird\" in \"output_contract\", did you "
                 "mean \"required\"?");
    schema_error("output_contract:\n  format: json\n", 6, 3,
                 "unknown key \"format\" in \"output_contract\"");

    schema_error("output_contract:\n  status: 200\n", 6, 11,
                 "output_contract.status must be a list of HTTP status "
                 "codes, e.g. [200]");
    schema_error("output_contract:\n  status: []\n", 6, 11,
                 "output_contract.status must be a list");
    schema_error("output_contract:\n  status: [200, 600]\n", 6, 17,
                 "output_contract.status: \"600\" is not an HTTP status code "
                 "(100 to 599)");
    schema_error("output_contract:\n  status:\n    - 99\n", 7, 7,
                 "\"99\" is not an HTTP status code");
    schema_error("output_contract:\n  status: [2xx]\n", 6, 12,
                 "\"2xx\" is not an HTTP status code");
    schema_error("output_contract:\n  status: [[200]]\n", 6, 12,
                 "output_contract.status: each item must be an HTTP status "
                 "code (100 to 599)");

    schema_error("output_contract:\n  content_type: json\n", 6, 17,
                 "output_contract.content_type \"json\" is not a media type");
    schema_error("output_contract:\n  content_type: "
                 "\"application/json; charset=utf-8\"\n", 6, 17,
                 "is not a media type (type/subtype, without parameters");
    schema_error("output_contract:\n  content_type: \"\"\n", 6, 17,
                 "output_contract.content_type must be a media type (it is "
                 "empty)");
    schema_error("output_contract:\n  content_type: [a/b]\n", 6, 17,
                 "output_contract.content_type must be a media type");

    schema_error("output_contract:\n  max_bytes: 0\n", 6, 14,
                 "output_contract.max_bytes \"0\" is not a size");
    schema_error("output_contract:\n  max_bytes: 12q\n", 6, 14,
                 "\"12q\" is not a size");
    schema_error("output_contract:\n  max_bytes: 1kb\n", 6, 14,
                 "\"1kb\" is not a size");
    schema_error("output_contract:\n  max_bytes: "
                 "99999999999999999999\n", 6, 14, "is not a size");

    schema_error("output_contract:\n  json: yes\n", 6, 9,
                 "output_contract.json must be true or false");
    schema_error("output_contract:\n  model_prefix: 1\n", 6, 17,
                 "output_contract.model_prefix must be true or false");

    schema_error("output_contract:\n  required: /model\n", 6, 13,
                 "output_contract.required must be a list of JSON Pointers");
    schema_error("output_contract:\n  required: [model]\n", 6, 14,
                 "output_contract.required \"model\" is not a JSON Pointer "
                 "the contract can check: a JSON Pointer starts with \"/\"");
    schema_error("output_contract:\n  non_empty:\n    - /a\n"
                 "    - \"/a~2b\"\n", 8, 7,
                 "output_contract.non_empty \"/a~2b\" is not a JSON Pointer "
                 "the contract can check: \"~\" not followed by \"0\" or "
                 "\"1\"");
    schema_error("output_contract:\n  non_empty: [\"/a~\"]\n", 6, 15,
                 "\"~\" not followed by \"0\" or \"1\"");
    schema_error("output_contract:\n  non_empty: [{a: b}]\n", 6, 15,
                 "output_contract.non_empty: each item must be a JSON "
                 "Pointer (a string)");
    schema_error("output_contract:\n  required: "
                 "[/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17]\n", 6, 14,
                 "a JSON Pointer of more than 16 segments");
    schema_error("output_contract:\n  required: "
                 "[/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16]\n", 6, 14,
                 "too long to be looked for in a stream");
    schema_error("output_contract:\n  required: [/a, /b, /c, /d, /e, /f, "
                 "/g, /h]\n  non_empty: [/a, /i, /j, /k, /l, /m, /n, /o, "
                 "/p, /q]\n", 7, 51,
                 "more than 16 pointers in required and non_empty together");

    schema_error("output_contract:\n  max_latency: 0s\n", 6, 16,
                 "output_contract.max_latency \"0s\" is not a duration of "
                 "more than 0 (e.g. 500ms, 20s, 1m)");
    schema_error("output_contract:\n  max_first_byte: fast\n", 6, 19,
                 "output_contract.max_first_byte \"fast\" is not a duration");

    schema_error("output_contract:\n  stream_end: \"a\\tb\"\n", 6, 15,
                 "output_contract.stream_end must be 1 to 64 bytes of "
                 "printable ASCII");
    schema_error("output_contract:\n  stream_end: "
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                 "aaaa\n", 6, 15, "must be 1 to 64 bytes");
    schema_error("output_contract:\n  stream_end: \"\"\n", 6, 15,
                 "output_contract.stream_end must be a string (it is "
                 "empty)");

    schema_error("output_contract:\n  mode: block\n", 6, 9,
                 "output_contract.mode must be observe or enforce");

    /* enforce holds the answer: only up to a size the contract names */

    schema_error("output_contract:\n  json: true\n  mode: enforce\n", 6, 3,
                 "output_contract.mode enforce needs max_bytes");

    /* a duplicate key is an error, and its two values are not leaked */

    schema_error("output_contract:\n  stream_end: a\n  stream_end: b\n"
                 "  content_type: a/b\n  content_type: c/d\n", 7, 3,
                 "duplicate key \"stream_end\" (first at line 6)");

    /* every error of the section, not only the first */

    schema_error("output_contract:\n  json: maybe\n  mode: x\n", 7, 9,
                 "output_contract.mode must be observe or enforce");
}


static void
test_status_type(void)
{
    answer_t                      a;
    const ai_release_contract_t  *c;

    c = contract("  status: [200, 201]\n  content_type: application/json\n");

    a.contract = c;
    a.format = CHAT;
    a.model = "gpt-4o";
    a.status = 200;
    a.type = "application/json";
    a.complete = 1;

    expect("status and content type kept", &a, "{}", OK, "");

    a.status = 201;
    a.type = "Application/JSON; charset=utf-8";
    expect("201, a content type in another case, with a parameter", &a, "{}",
           OK, "");

    a.type = " application/json ;charset=utf-8";
    expect("blanks around the media type", &a, "{}", OK, "");

    a.status = 500;
    expect("status 500", &a, "{}", STATUS, "status 500");

    a.status = 99;
    expect("status 99", &a, "{}", STATUS, "status 99");

    a.status = 200;
    a.type = "text/html; charset=utf-8";
    expect("text/html", &a, "<html>", CONTENT_TYPE,
           "\"text/html\" is not application/json");

    a.type = "application/jsonx";
    expect("a longer media type", &a, "{}", CONTENT_TYPE,
           "\"application/jsonx\" is not application/json");

    a.type = NULL;
    expect("no Content-Type", &a, "{}", CONTENT_TYPE, "no Content-Type");

    a.type = "text/\"x\\y\x01";
    expect("a media type quoted safely", &a, "{}", CONTENT_TYPE,
           "\"text/?x?y?\" is not application/json");

    /* an answer of another status or type is not read further */

    a.type = "text/event-stream";
    expect("a stream where JSON is expected", &a, CHAT_STREAM, CONTENT_TYPE,
           "\"text/event-stream\" is not application/json");
}


static void
test_max_bytes(void)
{
    char      *body, limit[64];
    size_t     len;
    answer_t   a;

    body = chat_answer("gpt-4o-2024-08-06", CONTENT);
    len = strlen(body);

    ok(len > 1000 && len < 1300, "the JSON answer is %zu bytes", len);

    a.format = CHAT;
    a.model = "gpt-4o";
    a.status = 200;
    a.type = JSON_TYPE;
    a.complete = 1;

    (void) snprintf(limit, sizeof(limit), "  max_bytes: %zu\n  json: true\n",
                    len);
    a.contract = contract(limit);
    expect("an answer of exactly max_bytes", &a, body, OK, "");

    (void) snprintf(limit, sizeof(limit), "  max_bytes: %zu\n  json: true\n",
                    len - 1);
    a.contract = contract(limit);
    (void) snprintf(limit, sizeof(limit), "more than %zu bytes", len - 1);
    expect("an answer of max_bytes + 1", &a, body, MAX_BYTES, limit);

    /* a JSON error within max_bytes comes first, one past it does not */

    a.contract = contract("  max_bytes: 10\n  json: true\n");
    expect("invalid JSON before max_bytes", &a, "{\"a\":tru!e, \"b\": 1}",
           JSON, "byte 8: invalid literal");
    expect("invalid JSON past max_bytes", &a, "{\"a\":true, \"b\" 1}",
           MAX_BYTES, "more than 10 bytes");

    /* streams: bytes of the stream, not of the data */

    (void) snprintf(limit, sizeof(limit),
                    "  max_bytes: %zu\n  stream_end: \"[DONE]\"\n",
                    sizeof(CHAT_STREAM) - 1);
    a.contract = contract(limit);
    a.type = SSE_TYPE;
    expect("a stream of exactly max_bytes", &a, CHAT_STREAM, OK, "");

    (void) snprintf(limit, sizeof(limit),
                    "  max_bytes: %zu\n  stream_end: \"[DONE]\"\n",
                    sizeof(CHAT_STREAM) - 2);
    a.contract = contract(limit);
    (void) snprintf(limit, sizeof(limit), "more than %zu bytes",
                    sizeof(CHAT_STREAM) - 2);
    expect("a stream one byte longer than max_bytes", &a, CHAT_STREAM,
           MAX_BYTES, limit);

    free(body);
}


static void
test_json_body(void)
{
    char      *body, *cut;
    size_t     len;
    answer_t   a;

    a.contract = contract("  json: true\n");
    a.format = CHAT;
    a.model = "gpt-4o";
    a.status = 200;
    a.type = JSON_TYPE;
    a.complete = 1;

    body = chat_answer("gpt-4o-2024-08-06", CONTENT);
    len = strlen(body);

    expect("a chat completion is JSON", &a, body, OK, "");
    expect("a number is JSON", &a, "12", OK, "");
    expect("invalid JSON", &a, "{\"a\": [1, 2,,]}", JSON,
           "byte 12: expected a value");
    expect("an empty body", &a, "", JSON, "byte 0: no value");
    expect("two documents", &a, "{} {}", JSON, "byte 3: data after the value");
    expect("bad UTF-8", &a, "[\"caf\xc3\x28\"]", JSON,
           "byte 6: invalid UTF-8");

    cut = strndup(body, len / 2);
    expect("a body cut in the middle", &a, cut, JSON, NULL);
    free(cut);

    /* complete 0: cut short, also where what came is JSON */

    a.complete = 0;
    expect("a body cut short after a number", &a, "12", JSON,
           "the answer was cut short after 2 bytes");
    expect("a body cut short that is not JSON either", &a, "{\"a\"", JSON,
           "byte 4: unterminated object");

    a.contract = contract("  status: [200]\n");
    expect("cut short without json: nothing to say", &a, "{\"a\"", OK, "");

    a.complete = 1;
    expect("not JSON, and no rule that reads it", &a, "<html>", OK, "");

    free(body);
}


static void
test_pointers(void)
{
    char      *body;
    answer_t   a;

    a.format = CHAT;
    a.model = "gpt-4o";
    a.status = 200;
    a.type = JSON_TYPE;
    a.complete = 1;

    a.contract = contract("  required: [/choices/0/message/content, /model, "
                          "/usage/total_tokens]\n"
                          "  non_empty: [/choices/0/message/content]\n");

    body = chat_answer("gpt-4o-2024-08-06", CONTENT);
    expect("required and non_empty kept", &a, body, OK, "");
    free(body);

    body = chat_answer("gpt-4o-2024-08-06", "\"\"");
    expect("an empty content", &a, body, NON_EMPTY,
           "/choices/0/message/content is empty");
    free(body);

    body = chat_answer("gpt-4o-2024-08-06", "null");
    expect("a null content", &a, body, NON_EMPTY,
           "/choices/0/message/content is empty");
    free(body);

    body = chat_answer("gpt-4o-2024-08-06", "\"\\u0000\"");
    expect("one decoded byte is not empty", &a, body, OK, "");
    free(body);

    expect("a missing content", &a,
           "{\"model\":\"m\",\"choices\":[{\"message\":{\"role\":\"a\"}}],"
           "\"usage\":{\"total_tokens\":1}}",
           REQUIRED, "/choices/0/message/content is missing");
    expect("the first missing pointer is named", &a,
           "{\"choices\":[{\"message\":{\"content\":\"x\"}}]}",
           REQUIRED, "/model is missing");
    expect("content in the second choice only", &a,
           "{\"model\":\"m\",\"usage\":{\"total_tokens\":1},\"choices\":"
           "[{\"message\":{}},{\"message\":{\"content\":\"x\"}}]}",
           REQUIRED, "/choices/0/message/content is missing");
    expect("a pointer into what is not JSON", &a, "[[[", REQUIRED,
           "/choices/0/message/content is missing");
    expect("a pointer found before the JSON broke", &a,
           "{\"model\":\"m\",\"usage\":{\"total_tokens\":1},\"choices\":"
           "[{\"message\":{\"content\":\"x\"}}] junk",
           OK, "");

    /* what is empty */

    a.contract = contract("  non_empty: [/v]\n");

    expect("a string", &a, "{\"v\":\"x\"}", OK, "");
    expect("an empty string", &a, "{\"v\":\"\"}", NON_EMPTY, "/v is empty");
    expect("an array with an element", &a, "{\"v\":[null]}", OK, "");
    expect("an empty array", &a, "{\"v\":[]}", NON_EMPTY, "/v is empty");
    expect("an object with a member", &a, "{\"v\":{\"a\":null}}", OK, "");
    expect("an empty object", &a, "{\"v\":{ }}", NON_EMPTY, "/v is empty");
    expect("0", &a, "{\"v\":0}", OK, "");
    expect("false", &a, "{\"v\":false}", OK, "");
    expect("null", &a, "{\"v\":null}", NON_EMPTY, "/v is empty");
    expect("missing", &a, "{\"w\":1}", NON_EMPTY, "/v is missing");
    expect("of duplicate keys the last counts", &a,
           "{\"v\":\"x\",\"v\":\"\"}", NON_EMPTY, "/v is empty");
    expect("of duplicate keys the last counts (2)", &a,
           "{\"v\":\"\",\"v\":\"x\"}", OK, "");
    expect("a key escaped in the answer", &a, "{\"\\u0076\":1}", OK, "");
    expect("/v at another depth", &a, "{\"a\":{\"v\":1}}", NON_EMPTY,
           "/v is missing");

    /* ~0 and ~1 */

    a.contract = contract("  required: [\"/a~1b/m~0n\", \"/~01\", /x/]\n");

    expect("~1 is /, ~0 is ~, ~01 is ~1, an empty key", &a,
           "{\"a/b\":{\"m~n\":1},\"~1\":2,\"x\":{\"\":3}}", OK, "");
    expect("a / escaped in the answer", &a,
           "{\"a\\/b\":{\"m~n\":1},\"~1\":2,\"x\":{\"\":3}}", OK, "");
    expect("~1 is not ~", &a,
           "{\"a~b\":{\"m~n\":1},\"~1\":2,\"x\":{\"\":3}}", REQUIRED,
           "/a~1b/m~0n is missing");
    expect("~01 is not /", &a,
           "{\"a/b\":{\"m~n\":1},\"/\":2,\"x\":{\"\":3}}", REQUIRED,
           "/~01 is missing");

    /* the whole answer, an array index */

    a.contract = contract("  required: [\"\"]\n  non_empty: [\"\", /1]\n");

    expect("the whole answer and an element", &a, "[0, [1]]", OK, "");
    expect("the whole answer is empty", &a, "[]", NON_EMPTY,
           "the answer is empty");
    expect("no element 1", &a, "[0]", NON_EMPTY, "/1 is missing");
}


static void
test_model(void)
{
    char        long_model[200], yaml[512], *body;
    answer_t    a;

    a.contract = contract("  model_prefix: true\n");
    a.format = CHAT;
    a.model = "gpt-4o";
    a.status = 200;
    a.type = JSON_TYPE;
    a.complete = 1;

    body = chat_answer("gpt-4o-2024-08-06", CONTENT);
    expect("the model starts with the bundle's", &a, body, OK, "");
    free(body);

    body = chat_answer("gpt-4o", "\"x\"");
    expect("the model is the bundle's", &a, body, OK, "");
    free(body);

    body = chat_answer("gpt-4", "\"x\"");
    expect("a shorter model", &a, body, MODEL_PREFIX,
           "model \"gpt-4\" does not start with \"gpt-4o\"");
    free(body);

    body = chat_answer("gpt-3.5-turbo-0125", "\"x\"");
    expect("another model", &a, body, MODEL_PREFIX,
           "model \"gpt-3.5-turbo-0125\" does not start with \"gpt-4o\"");
    free(body);

    expect("an escaped model", &a, "{\"model\":\"gpt\\u002d4o-mini\"}", OK,
           "");
    expect("a model that is not a string", &a, "{\"model\":4}",
           MODEL_PREFIX, "model is a number, not a string");
    expect("a model that is an object", &a, "{\"model\":{\"id\":1}}",
           MODEL_PREFIX, "model is an object, not a string");
    expect("no model", &a, "{\"id\":\"x\"}", MODEL_PREFIX, "no model");
    expect("a model deeper down does not count", &a,
           "{\"a\":{\"model\":\"gpt-4o\"}}", MODEL_PREFIX, "no model");
    expect("of two models the last counts", &a,
           "{\"model\":\"gpt-4o\",\"model\":\"o1\"}", MODEL_PREFIX,
           "model \"o1\" does not start with \"gpt-4o\"");
    expect("a quote in the model is quoted safely", &a,
           "{\"model\":\"a\\\"b\\\\c\\n\"}", MODEL_PREFIX,
           "model \"a?b?c?\" does not start with \"gpt-4o\"");

    /* a bundle model longer than what the scanner keeps of a string */

    memset(long_model, 'm', 150);
    long_model[150] = '\0';
    a.model = long_model;

    (void) snprintf(yaml, sizeof(yaml), "{\"model\":\"%s-v2\"}", long_model);
    expect("a model of 150 bytes", &a, yaml, OK, "");

    long_model[149] = 'x';
    (void) snprintf(yaml, sizeof(yaml), "{\"model\":\"%s\"}", long_model);
    long_model[149] = 'm';
    expect("a model of 150 bytes, the last one differs", &a, yaml,
           MODEL_PREFIX, "model \"mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm\" does "
           "not start with \"mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm"
           "mmmmmmmmmmmmmmmm\"");

    /* the rules come in their order: required, non_empty, model_prefix */

    a.model = "gpt-4o";
    a.contract = contract("  model_prefix: true\n  required: [/id]\n"
                          "  non_empty: [/model]\n");
    expect("required before non_empty before model_prefix", &a,
           "{\"model\":\"\"}", REQUIRED, "/id is missing");
    expect("non_empty before model_prefix", &a, "{\"model\":\"\",\"id\":1}",
           NON_EMPTY, "/model is empty");
}


static void
test_openai_stream(void)
{
    char        *s, *t;
    answer_t     a;

    a.contract = contract("  status: [200]\n"
                          "  content_type: text/event-stream\n"
                          "  json: true\n"
                          "  required: [/choices/0/message/content, /model,"
                          " /usage/total_tokens, "
                          "/choices/0/finish_reason]\n"
                          "  non_empty: [/choices/0/message/content, "
                          "/choices/0/finish_reason]\n"
                          "  model_prefix: true\n"
                          "  stream_end: \"[DONE]\"\n");
    a.format = CHAT;
    a.model = "gpt-4o";
    a.status = 200;
    a.type = "text/event-stream; charset=utf-8";
    a.complete = 1;

    expect("an OpenAI stream", &a, CHAT_STREAM, OK, "");

    s = replace(CHAT_STREAM, "\n", "\r\n");
    expect("with CRLF", &a, s, OK, "");
    free(s);

    s = replace(CHAT_STREAM, "data: [DONE]\n\n", "");
    expect("without [DONE]", &a, s, STREAM_END,
           "the stream ended without \"[DONE]\"");
    free(s);

    s = replace(CHAT_STREAM, "data: [DONE]\n\n", "data: [DONE]\n");
    expect("[DONE] without its blank line", &a, s, STREAM_END,
           "the stream was cut inside an event");
    free(s);

    t = strndup(CHAT_STREAM, 300);
    expect("cut inside the second event", &a, t, STREAM_END,
           "the stream was cut inside an event");
    free(t);

    a.complete = 0;
    expect("cut short after [DONE]: nothing missing", &a, CHAT_STREAM, OK,
           "");
    a.complete = 1;

    s = replace(CHAT_STREAM, "{\"content\":\" order\"}",
                "{\"content\":\" order}");
    expect("an event that is not JSON", &a, s, JSON,
           "event 3, byte 193: expected ',' or '}'");
    free(s);

    s = replace(CHAT_STREAM, "\"Your\"", "\"\"");
    t = replace(s, "\" order\"", "\"\"");
    free(s);
    s = replace(t, "\" shipped \\u2014 caf\xc3\xa9.\"", "\"\"");
    free(t);
    expect("every content empty", &a, s, NON_EMPTY,
           "/choices/0/message/content is empty");
    free(s);

    s = replace(CHAT_STREAM, "\"Your\"", "\"\"");
    t = replace(s, "\" order\"", "\"\"");
    expect("one content not empty is enough", &a, t, OK, "");
    free(s);
    free(t);

    s = replace(CHAT_STREAM, "\"finish_reason\":\"stop\"",
                "\"finish_reason\":null");
    expect("no finish_reason that is not null", &a, s, NON_EMPTY,
           "/choices/0/finish_reason is empty");
    free(s);

    s = replace(CHAT_STREAM, ",\"usage\":{\"prompt_tokens\":812,"
                "\"completion_tokens\":4,\"total_tokens\":816}", "");
    expect("no usage", &a, s, REQUIRED, "/usage/total_tokens is missing");
    free(s);

    /* a model changed in the third event: broken there */

    s = strdup(CHAT_STREAM);
    t = strstr(strstr(strstr(s, "gpt-4o") + 1, "gpt-4o") + 1, "gpt-4o");
    memcpy(t, "gpt-4-", 6);
    expect("another model in event 3", &a, s, MODEL_PREFIX,
           "event 3: model \"gpt-4--2024-08-06\" does not start with "
           "\"gpt-4o\"");
    free(s);

    /* the stream's delta is the answer's message, in every choice */

    a.contract = contract("  required: [/choices/1/message/content]\n");
    expect("a choice the stream has not", &a, CHAT_STREAM, REQUIRED,
           "/choices/1/message/content is missing");

    /* [DONE] is never JSON, even without stream_end */

    a.contract = contract("  json: true\n");
    expect("[DONE] is not read as JSON", &a, CHAT_STREAM, OK, "");

    expect("data lines, comments, other fields, an event without data",
           &a, ": keep-alive\n\nretry: 1000\nid: 7\nevent: x\n\n"
           "data: {\"a\":\ndata: 1}\n\ndata:\n\n", OK, "");

    a.contract = contract("  stream_end: \"[DONE]\"\n  max_bytes: 1m\n");
    expect("only stream_end", &a, CHAT_STREAM, OK, "");
    expect("only stream_end, and no events at all", &a, "", STREAM_END,
           "the stream ended without \"[DONE]\"");
    expect("a [DONE] that is not alone in its data", &a,
           "data: [DONE]\ndata: x\n\n", STREAM_END, NULL);
    expect("a longer data is not [DONE]", &a, "data: [DONE]]\n\n",
           STREAM_END, NULL);

    a.contract = contract("  required: [/model]\n");
    expect("an empty stream has no model", &a, "", REQUIRED,
           "/model is missing");
}


static void
test_anthropic_stream(void)
{
    char      *s, *t;
    answer_t   a;

    a.contract = contract("  json: true\n"
                          "  required: [/content/0/text, /model, "
                          "/stop_reason, /usage/input_tokens]\n"
                          "  non_empty: [/content/0/text, /stop_reason]\n"
                          "  model_prefix: true\n"
                          "  stream_end: message_stop\n");
    a.format = ANTH;
    a.model = "claude-sonnet-4";
    a.status = 200;
    a.type = SSE_TYPE;
    a.complete = 1;

    expect("an Anthropic stream", &a, ANTH_STREAM, OK, "");

    s = replace(ANTH_STREAM, "event: message_stop\n"
                "data: {\"type\":\"message_stop\"}\n\n", "");
    expect("without message_stop", &a, s, STREAM_END,
           "the stream ended without \"message_stop\"");
    free(s);

    s = replace(ANTH_STREAM, "event: message_stop\n", "");
    expect("message_stop as the data's type only", &a, s, OK, "");
    free(s);

    s = replace(ANTH_STREAM, "data: {\"type\":\"message_stop\"}",
                "data: {}");
    expect("message_stop as the event's name only", &a, s, OK, "");
    free(s);

    s = replace(ANTH_STREAM, "\"text\":\"Hello\"", "\"text\":\"\"");
    t = replace(s, "\"text\":\" there \\u2014 caf\xc3\xa9!\"", "\"text\":\"\"");
    expect("every text delta empty", &a, t, NON_EMPTY,
           "/content/0/text is empty");
    free(s);
    free(t);

    s = replace(ANTH_STREAM, "\"index\":0,\"delta\"", "\"index\":1,\"delta\"");
    t = replace(s, "\"content_block_start\",\"index\":0",
                "\"content_block_start\",\"index\":1");
    expect("text in block 1 only", &a, t, REQUIRED,
           "/content/0/text is missing");
    free(s);
    free(t);

    s = replace(ANTH_STREAM, "\"text\":\"Hello\"", "\"text\":\"\"");
    t = replace(s, "\"text\":\" there \\u2014 caf\xc3\xa9!\"}}",
                "\"text\":\" there\"},\"index\":0}");
    free(s);
    s = replace(t, "\"content_block_delta\",\"index\":0,\"delta\":"
                "{\"type\":\"text_delta\",\"text\":\" there\"}",
                "\"content_block_delta\",\"delta\":"
                "{\"type\":\"text_delta\",\"text\":\" there\"}");
    expect("an index after the delta", &a, s, OK, "");
    free(s);
    free(t);

    s = replace(ANTH_STREAM, "claude-sonnet-4-20250514", "claude-3-haiku");
    expect("another model", &a, s, MODEL_PREFIX,
           "event 1: model \"claude-3-haiku\" does not start with "
           "\"claude-sonnet-4\"");
    free(s);

    s = replace(ANTH_STREAM, "\"end_turn\"", "null");
    expect("no stop reason", &a, s, NON_EMPTY, "/stop_reason is empty");
    free(s);

    /* a model in a content block is not the message's */

    s = replace(ANTH_STREAM, "\"model\":\"claude-sonnet-4-20250514\",", "");
    t = replace(s, "{\"type\":\"text\",\"text\":\"\"}",
                "{\"type\":\"text\",\"text\":\"\",\"model\":"
                "\"claude-sonnet-4\"}");
    expect("no model in message_start", &a, t, REQUIRED, "/model is missing");
    free(s);
    free(t);

    s = replace(ANTH_STREAM, "event: ping\ndata: {\"type\": \"ping\"}",
                "event: ping\ndata: {\"type\": ping}");
    expect("a ping that is not JSON", &a, s, JSON,
           "event 3, byte 9: expected a value");
    free(s);

    t = strndup(ANTH_STREAM, sizeof(ANTH_STREAM) - 3);
    expect("cut inside message_stop", &a, t, STREAM_END,
           "the stream was cut inside an event");
    free(t);
}


static void
test_responses_stream(void)
{
    char      *s;
    answer_t   a;

    a.contract = contract("  json: true\n"
                          "  required: [/output/0/content/0/text, /model]\n"
                          "  non_empty: [/output/0/content/0/text]\n"
                          "  model_prefix: true\n"
                          "  stream_end: response.completed\n");
    a.format = RESP;
    a.model = "gpt-4.1";
    a.status = 200;
    a.type = SSE_TYPE;
    a.complete = 1;

    expect("an OpenAI Responses stream", &a, RESP_STREAM, OK, "");

    s = replace(RESP_STREAM, "\"Hi there\"", "\"\"");
    expect("an empty output text", &a, s, NON_EMPTY,
           "/output/0/content/0/text is empty");
    free(s);

    s = replace(RESP_STREAM, "\"model\":\"gpt-4.1-2025-04-14\",\"status\":"
                "\"completed\"", "\"model\":\"gpt-4o\",\"status\":"
                "\"completed\"");
    expect("another model in response.completed", &a, s, MODEL_PREFIX,
           "event 3: model \"gpt-4o\" does not start with \"gpt-4.1\"");
    free(s);

    s = replace(RESP_STREAM, "\"model\":\"gpt-4.1-2025-04-14\",\"status\":"
                "\"in_progress\"", "\"model\":\"gpt-4o\",\"status\":"
                "\"in_progress\"");
    expect("response.created's model does not count", &a, s, OK, "");
    free(s);

    s = strndup(RESP_STREAM, sizeof(RESP_STREAM) - 1 - 300);
    expect("no response.completed", &a, s, STREAM_END,
           "the stream was cut inside an event");
    free(s);
}


static void
test_none_stream(void)
{
    answer_t  a;

    a.contract = contract("  json: true\n  required: [/text]\n"
                          "  non_empty: [/n]\n  model_prefix: true\n");
    a.format = NONE;
    a.model = "m1";
    a.status = 200;
    a.type = SSE_TYPE;
    a.complete = 1;

    expect("format none: each event is an answer", &a,
           "data: {\"n\":1,\"text\":\"a\",\"model\":\"m1\"}\n\n"
           "data: {\"n\":2,\"text\":\"\",\"model\":\"m1-x\"}\n\n"
           "data: [DONE]\n\n", OK, "");
    expect("an event without a pointer", &a,
           "data: {\"n\":1,\"text\":\"a\",\"model\":\"m1\"}\n\n"
           "data: {\"n\":2,\"model\":\"m1\"}\n\n", REQUIRED,
           "event 2: /text is missing");
    expect("an event with an empty pointer", &a,
           "data: {\"n\":1,\"text\":\"a\",\"model\":\"m1\"}\n\n"
           "data: {\"n\":[],\"text\":\"b\",\"model\":\"m1\"}\n\n", NON_EMPTY,
           "event 2: /n is empty");
    expect("an event without a model", &a,
           "data: {\"n\":1,\"text\":\"a\"}\n\n", MODEL_PREFIX,
           "event 1: no model");
    expect("an event with another model", &a,
           "data: {\"n\":1,\"text\":\"a\",\"model\":\"m2\"}\n\n",
           MODEL_PREFIX, "event 1: model \"m2\" does not start with \"m1\"");
    expect("no event at all", &a, ": nothing\n\n", REQUIRED,
           "/text is missing");
    expect("the event's number counts skipped events", &a,
           "data: [DONE]\n\ndata:\n\n"
           "data: {\"n\":1,\"model\":\"m1\"}\n\n", REQUIRED,
           "event 3: /text is missing");

    /* the end: a name or the data; a "type" only where events have one */

    a.contract = contract("  stream_end: end\n");

    expect("format none: the end's name", &a,
           "data: {}\n\nevent: end\ndata: {}\n\n", OK, "");
    expect("format none: the end's data", &a,
           "data: {}\n\ndata: end\n\n", OK, "");
    expect("format none: a type is not the end", &a,
           "data: {\"type\":\"end\"}\n\n", STREAM_END,
           "the stream ended without \"end\"");

    a.format = ANTH;
    expect("anthropic-messages: a type is the end", &a,
           "data: {\"type\":\"end\"}\n\n", OK, "");
}


static void
test_latency(void)
{
    const ai_release_contract_t  *c;

    c = contract("  max_latency: 20s\n  max_first_byte: 500ms\n");

    if (c == NULL) {
        ok(0, "a contract with latencies");
        return;
    }

    ok(ai_release_contract_latency(c, 20000, 500) == OK,
       "20 s and 500 ms are within the limits");
    ok(ai_release_contract_latency(c, 20001, 500)
       == AI_RELEASE_CONTRACT_MAX_LATENCY, "20.001 s is too slow");
    ok(ai_release_contract_latency(c, 20001, 501)
       == AI_RELEASE_CONTRACT_MAX_FIRST_BYTE,
       "a late first byte comes first");

    c = contract("  json: true\n");
    ok(c && ai_release_contract_latency(c, 1000000, 1000000) == OK,
       "no latency rule");
}


static void
test_detail(void)
{
    char                          buf[8], full[128];
    size_t                        n;
    unsigned                      i;
    ai_release_contract_check_t   check;
    const ai_release_contract_t  *c;

    c = contract("  required: [/choices/0/message/content]\n");

    if (c == NULL) {
        ok(0, "a contract");
        return;
    }

    ai_release_contract_init(&check, c, CHAT, "m", 1, 200, JSON_TYPE, 16);
    (void) ai_release_contract_feed(&check, (const unsigned char *) "{}", 2);

    ok(ai_release_contract_finish(&check, 1) == REQUIRED
       && ai_release_contract_finish(&check, 1) == REQUIRED
       && ai_release_contract_feed(&check, (const unsigned char *) "x", 1)
          == REQUIRED,
       "finish again, feed after finish: the same verdict");

    n = ai_release_contract_detail(&check, full, sizeof(full));
    ok(n == strlen(full) && strcmp(full, "/choices/0/message/content is "
                                         "missing") == 0,
       "detail: %s", full);

    n = ai_release_contract_detail(&check, buf, sizeof(buf));
    ok(n == strlen(full) && strlen(buf) == sizeof(buf) - 1
       && memcmp(buf, full, sizeof(buf) - 1) == 0,
       "a short buffer: cut, NUL-terminated, the length it needed");

    ai_release_contract_init(&check, c, CHAT, "m", 1, 200, JSON_TYPE, 16);
    (void) ai_release_contract_feed(&check,
        (const unsigned char *) "{\"choices\":[{\"message\":"
                                "{\"content\":1}}]}", 37);
    ok(ai_release_contract_finish(&check, 1) == OK
       && ai_release_contract_detail(&check, full, sizeof(full)) == 0
       && full[0] == '\0', "OK: an empty detail");

    ok(strcmp(ai_release_contract_rule_name(OK), "ok") == 0
       && strcmp(ai_release_contract_rule_name(STATUS), "status") == 0
       && strcmp(ai_release_contract_rule_name(NON_EMPTY), "non_empty") == 0
       && strcmp(ai_release_contract_rule_name(STREAM_END), "stream_end")
          == 0
       && strcmp(ai_release_contract_rule_name(
                     AI_RELEASE_CONTRACT_MAX_LATENCY), "max_latency") == 0
       && strcmp(ai_release_contract_rule_name(
                     AI_RELEASE_CONTRACT_NRULES), "?") == 0,
       "rule names are the manifest's keys");

    for (i = 1; i < AI_RELEASE_CONTRACT_NRULES; i++) {
        if (strchr(ai_release_contract_rule_name(i), ' ') != NULL) {
            break;
        }
    }

    ok(i == AI_RELEASE_CONTRACT_NRULES, "rule names are single words");

    ok(sizeof(ai_release_contract_check_t) < 3 * 1024,
       "the checker's state is %zu bytes",
       sizeof(ai_release_contract_check_t));
}


/* helpers */

static ai_release_contract_t *
contract(const char *yaml)
{
    char                 *doc;
    size_t                len, i;
    ai_release_set_t     *set;
    ai_release_errors_t   errs;
    ai_release_bundle_t  *b;

    len = sizeof(BASE) - 1 + sizeof("output_contract:\n") - 1
          + strlen(yaml);

    doc = malloc(len + 1);
    if (doc == NULL) {
        abort();
    }

    (void) snprintf(doc, len + 1, "%soutput_contract:\n%s", BASE, yaml);

    set = ai_release_set_create();
    ai_release_errors_init(&errs);

    b = NULL;

    if (ai_release_set_load_buffer(set, "m.yaml", doc, len, &errs) == 0) {
        b = ai_release_set_get(set, 0);
    }

    for (i = 0; i < errs.n; i++) {
        printf("#   %s:%u:%u: %s\n", errs.items[i].file, errs.items[i].line,
               errs.items[i].column, errs.items[i].message);
    }

    ai_release_errors_free(&errs);
    free(doc);

    if (b == NULL || b->contract == NULL || nsets == 64) {
        ok(0, "the contract loads: %s", yaml);
        ai_release_set_free(set);
        return NULL;
    }

    sets[nsets++] = set;

    return b->contract;
}


static void
schema_error(const char *yaml, unsigned line, unsigned column,
    const char *substr)
{
    int                        found;
    char                      *doc;
    size_t                     len, i;
    ai_release_set_t          *set;
    ai_release_errors_t        errs;
    const ai_release_error_t  *e;

    len = sizeof(BASE) - 1 + strlen(yaml);

    doc = malloc(len + 1);
    if (doc == NULL) {
        abort();
    }

    (void) snprintf(doc, len + 1, "%s%s", BASE, yaml);

    set = ai_release_set_create();
    ai_release_errors_init(&errs);

    found = 0;

    if (ai_release_set_load_buffer(set, "m.yaml", doc, len, &errs) == -1) {
        for (i = 0; i < errs.n; i++) {
            e = &errs.items[i];

            if (e->line == line && e->column == column
                && strstr(e->message, substr) != NULL
                && strcmp(e->file, "m.yaml") == 0)
            {
                found = 1;
            }
        }
    }

    if (!ok(found && ai_release_set_count(set) == 0,
            "m.yaml:%u:%u: %s", line, column, substr))
    {
        for (i = 0; i < errs.n; i++) {
            printf("#   got %s:%u:%u: %s\n", errs.items[i].file,
                   errs.items[i].line, errs.items[i].column,
                   errs.items[i].message);
        }
    }

    ai_release_errors_free(&errs);
    ai_release_set_free(set);
    free(doc);
}


/*
 * The verdict on body: in pieces of step bytes (0: whole), or cut in two
 * at cut (step 0 and cut <= len)
 */

static ai_release_contract_rule_e
run(const answer_t *a, const char *body, size_t len, size_t step,
    size_t cut, char *detail, size_t size)
{
    char                         *copy;
    size_t                        pos, n;
    ai_release_contract_check_t   check;

    ai_release_contract_init(&check, a->contract, a->format, a->model,
                             strlen(a->model), a->status, a->type,
                             a->type ? strlen(a->type) : 0);

    /* each piece in memory of its own size, so that reading past it shows */

    for (pos = 0; pos < len; pos += n) {
        n = step ? step : (cut > pos && cut < len ? cut - pos : len - pos);

        if (n > len - pos) {
            n = len - pos;
        }

        copy = malloc(n);
        if (copy == NULL) {
            abort();
        }

        memcpy(copy, body + pos, n);
        (void) ai_release_contract_feed(&check, (const unsigned char *) copy,
                                        n);
        free(copy);
    }

    (void) ai_release_contract_feed(&check, (const unsigned char *) "", 0);
    (void) ai_release_contract_finish(&check, a->complete);
    (void) ai_release_contract_detail(&check, detail, size);

    return check.rule;
}


/*
 * The verdict and detail on body, whole; then a byte at a time and cut in
 * two at every byte, which must give the same.  detail NULL: any.
 */

static void
expect(const char *name, const answer_t *a, const char *body,
    ai_release_contract_rule_e rule, const char *detail)
{
    char                        got[256], other[256];
    size_t                      len, cut;
    ai_release_contract_rule_e  r, r2;

    if (a->contract == NULL) {
        ok(0, "%s: no contract", name);
        return;
    }

    len = strlen(body);

    r = run(a, body, len, 0, len, got, sizeof(got));

    ok(r == rule && (detail == NULL || strcmp(got, detail) == 0),
       "%s: %s%s%s", name, ai_release_contract_rule_name(r),
       got[0] ? ", " : "", got);

    if (r != rule || (detail && strcmp(got, detail) != 0)) {
        printf("#   expected %s, \"%s\"\n", ai_release_contract_rule_name(rule),
               detail ? detail : "(any)");
    }

    r2 = run(a, body, len, 1, 0, other, sizeof(other));

    if (r2 != r || strcmp(other, got) != 0) {
        ok(0, "%s: a byte at a time: %s, %s", name,
           ai_release_contract_rule_name(r2), other);
        return;
    }

    for (cut = 0; cut <= len; cut++) {
        r2 = run(a, body, len, 0, cut, other, sizeof(other));

        if (r2 != r || strcmp(other, got) != 0) {
            ok(0, "%s: cut at %zu: %s, %s", name, cut,
               ai_release_contract_rule_name(r2), other);
            return;
        }
    }

    ok(1, "%s: the same a byte at a time and cut at each of %zu bytes",
       name, len + 1);
}


/* s with every from replaced by to, malloc()ed */

static char *
replace(const char *s, const char *from, const char *to)
{
    char        *out, *o;
    size_t       n, flen, tlen;
    const char  *p, *q;

    flen = strlen(from);
    tlen = strlen(to);

    for (n = 0, p = s; (q = strstr(p, from)) != NULL; p = q + flen) {
        n++;
    }

    if (n == 0) {
        printf("# replace: \"%s\" not found\n", from);
    }

    out = malloc(strlen(s) + n * tlen + 1);
    if (out == NULL) {
        abort();
    }

    for (o = out, p = s; (q = strstr(p, from)) != NULL; p = q + flen) {
        memcpy(o, p, q - p);
        o += q - p;
        memcpy(o, to, tlen);
        o += tlen;
    }

    strcpy(o, p);

    return out;
}


static char *
chat_answer(const char *model, const char *content)
{
    char    *out;
    size_t   len;

    len = sizeof(CHAT_ANSWER) + strlen(model) + strlen(content);

    out = malloc(len);
    if (out == NULL) {
        abort();
    }

    (void) snprintf(out, len, CHAT_ANSWER, model, content);

    return out;
}
