
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Output contracts (ai_release_contract.c): what a bundle's answers must
 * look like, from the manifest's "output_contract" (ai_release_schema.c
 * reads it into an ai_release_contract_t at configuration time,
 * malloc()ed, its JSON Pointers parsed once), and the checker that
 * decides, per answer, whether one kept it.
 *
 * The checker (ai_release_contract_check_t, in the caller's memory,
 * nothing allocated, about 3 KB) is fed the answer's body in chunks of
 * any size, down to one byte, as it passes; it keeps none of it, only a
 * fixed state, and its verdict and detail do not depend on how the body
 * was split.  The verdict is the first rule broken, or OK:
 *
 *   at init:    status, content_type;
 *   as the body passes, at the byte or event where it happens:
 *               max_bytes (more than max_bytes bytes: checking stops
 *               there), json (the body, or an event's data, is not JSON),
 *               and in streams model_prefix (an event's model does not
 *               start with the bundle's) and, for format none, required,
 *               non_empty and model_prefix of each event;
 *   at finish:  json (a body cut short), stream_end, required, non_empty,
 *               model_prefix, in this order.
 *
 * An answer whose Content-Type is text/event-stream is read as a stream
 * of server-sent events (the SSE parser of ai_release_json.h), any other
 * as one JSON document.  In a stream, each event's data is a JSON
 * document, but for an event whose data is exactly the contract's
 * stream_end or "[DONE]", which is not checked, and an event with no data;
 * the stream ends well with an event whose data or name is stream_end, or,
 * in anthropic-messages and openai-responses, whose top-level "type" is.
 * A stream is read as JSON only for the rules that need it.  required and
 * non_empty name JSON Pointers
 * (RFC 6901) of the answer; in a stream they are looked for in the events
 * as the wire format assembles an answer from them:
 *
 *   openai-chat         /choices/N/message/X is /choices/N/delta/X of any
 *                       event, any other pointer is itself in any event
 *                       (/model: any event's /model);
 *   anthropic-messages  /content/N/X is /delta/X of a content_block_delta
 *                       event or /content_block/X of a content_block_start
 *                       event whose "index" is N; any other /X is
 *                       /message/X of message_start or /delta/X of
 *                       message_delta (/model: message_start's
 *                       /message/model);
 *   openai-responses    /X is /response/X of the response.completed event;
 *   none                each event is an answer of its own.
 *
 * A pointer is present in the assembled answer when an event has it, and
 * not empty when an event has it not empty (so the concatenated
 * /choices/0/delta/content of an OpenAI stream is not empty when its
 * total decoded length is not 0).  Not empty: a string of at least one
 * decoded byte, an array or an object with a member, a number, true or
 * false.  Of duplicate keys in one document, the last counts.
 *
 * model_prefix: the answer's model (the pointers above) must be a string
 * that starts with the bundle's model; in a stream every model seen must,
 * and one must be seen.
 *
 * Latency is measured by the caller: ai_release_contract_latency() says
 * which of max_first_byte and max_latency an answer broke.
 */

#ifndef _AI_RELEASE_CONTRACT_H_INCLUDED_
#define _AI_RELEASE_CONTRACT_H_INCLUDED_


#include "ai_release_core.h"
#include "ai_release_json.h"
#include "ai_release_apply.h"


/* distinct pointers of required and non_empty together */
#define AI_RELEASE_CONTRACT_POINTERS_MAX  16
/* bytes of stream_end and of content_type */
#define AI_RELEASE_CONTRACT_END_MAX       64
#define AI_RELEASE_CONTRACT_TYPE_MAX      127
/* the wire formats, ai_release_format_e */
#define AI_RELEASE_CONTRACT_FORMATS                                          \
    (AI_RELEASE_FORMAT_ANTHROPIC_MESSAGES + 1)
/* bytes of the answer's model and content type a detail quotes */
#define AI_RELEASE_CONTRACT_QUOTE_MAX     32


/* the rules, in the order an answer meets them; each named by its key */

typedef enum {
    AI_RELEASE_CONTRACT_OK = 0,
    AI_RELEASE_CONTRACT_STATUS,
    AI_RELEASE_CONTRACT_CONTENT_TYPE,
    AI_RELEASE_CONTRACT_MAX_BYTES,
    AI_RELEASE_CONTRACT_JSON,
    AI_RELEASE_CONTRACT_REQUIRED,
    AI_RELEASE_CONTRACT_NON_EMPTY,
    AI_RELEASE_CONTRACT_MODEL_PREFIX,
    AI_RELEASE_CONTRACT_STREAM_END,
    AI_RELEASE_CONTRACT_MAX_FIRST_BYTE,
    AI_RELEASE_CONTRACT_MAX_LATENCY,
    AI_RELEASE_CONTRACT_NRULES
} ai_release_contract_rule_e;

typedef enum {
    AI_RELEASE_CONTRACT_OBSERVE = 0,
    AI_RELEASE_CONTRACT_ENFORCE
} ai_release_contract_mode_e;


/* a pointer of required or non_empty, as written */

typedef struct {
    char                        *text;      /* NUL-terminated */
    size_t                       len;
    unsigned                     required:1;
    unsigned                     non_empty:1;
} ai_release_contract_pointer_t;

/* where a pointer, or the model (target MODEL), is looked for */

#define AI_RELEASE_CONTRACT_MODEL   0xff
#define AI_RELEASE_CONTRACT_ANY     UINT32_MAX

typedef struct {
    const ai_release_json_pointer_t  *ptr;
    uint32_t                          index;   /* the event's, or ANY */
    uint8_t                           target;  /* a pointer, or MODEL */
    uint8_t                           event;   /* an event type, 0: any */
} ai_release_contract_view_t;


struct ai_release_contract_s {
    ai_release_contract_mode_e      mode;

    /* status: bit (code - 100) of 100..599; nstatus 0: any status */
    uint64_t                        status[8];
    unsigned                        nstatus;

    char                           *content_type;  /* lowercase; NULL */
    size_t                          content_type_len;

    uint64_t                        max_bytes;        /* 0: no limit */
    uint64_t                        max_latency_ms;   /* 0: none */
    uint64_t                        max_first_byte_ms;

    char                           *stream_end;      /* NULL: none */
    size_t                          stream_end_len;

    unsigned                        json;
    unsigned                        model_prefix;

    ai_release_contract_pointer_t  *pointers;
    unsigned                        npointers;

    /* the pointers parsed, in the body and in each format's events */
    ai_release_json_pointer_t      *parsed;
    unsigned                        nparsed;
    ai_release_contract_view_t     *views[AI_RELEASE_CONTRACT_FORMATS];
    unsigned                        nviews[AI_RELEASE_CONTRACT_FORMATS];
    /* the views of d segments, bit i for views[f][i]; d of a model view */
    uint64_t                        at_depth[AI_RELEASE_CONTRACT_FORMATS]
                                        [AI_RELEASE_JSON_POINTER_MAX + 1];
    uint32_t                        model_depths[AI_RELEASE_CONTRACT_FORMATS];
};


/* the first bytes of a value a detail quotes, printable ASCII or '?' */

typedef struct {
    uint8_t                             n;
    char                                text[AI_RELEASE_CONTRACT_QUOTE_MAX];
} ai_release_contract_quote_t;


/* the checker of one answer: its fields are the checker's own */

typedef struct {
    const ai_release_contract_t        *contract;
    const ai_release_contract_view_t   *views;
    unsigned                            nviews;
    const uint64_t                     *at_depth;
    uint32_t                            model_depths;
    int                                 format;
    const unsigned char                *model;      /* the bundle's */
    size_t                              model_len;

    unsigned                            stream:1;   /* text/event-stream */
    unsigned                            parse:1;    /* events are read */
    unsigned                            scan:1;     /* JSON is read */
    unsigned                            types:1;    /* events' "type" */
    unsigned                            finished:1;
    unsigned                            byte:1;     /* at is a JSON error's */

    /* the verdict */
    ai_release_contract_rule_e          rule;
    const char                         *why;        /* static text */
    uint64_t                            at;         /* byte, or event's */
    uint64_t                            event;      /* 1-based; 0: body */
    unsigned                            status;
    unsigned                            target;
    uint8_t                             model_type;
    ai_release_contract_quote_t         quote;

    uint64_t                            bytes;      /* fed */
    uint64_t                            events;     /* checked */

    /* the answer assembled from a stream's events */
    uint32_t                            found;
    uint32_t                            non_empty;
    unsigned                            model_seen:1;
    unsigned                            end_seen:1;

    /* the document being read: a body, or an event's data */
    uint64_t                            doc_found;      /* view bits */
    uint64_t                            doc_non_empty;
    uint64_t                            doc_model_ok;
    uint32_t                            doc_index;      /* "index" */
    uint8_t                             doc_event;      /* "type" */
    uint8_t                             doc_end;        /* "type" is it */
    uint8_t                             model_view;     /* being read */
    uint8_t                             model_bad;
    uint64_t                            model_pos;
    uint64_t                            data_pos;       /* of an event */
    uint8_t                             data_end;       /* may be it */
    uint8_t                             data_done;      /* may be [DONE] */
    uint8_t                             doc_model_type;
    ai_release_contract_quote_t         doc_quote;

    ai_release_sse_t                    sse;
    ai_release_json_t                   js;
} ai_release_contract_check_t;


/*
 * An answer of the bundle whose model is model, in format (ai_release_
 * format_e, the workflow's), with HTTP status status and Content-Type
 * content_type (NULL or a header's value: parameters are ignored).
 * The status and content_type rules are decided here.
 */
void ai_release_contract_init(ai_release_contract_check_t *check,
    const ai_release_contract_t *contract, int format, const char *model,
    size_t model_len, unsigned status, const char *content_type,
    size_t content_type_len);
/* the next bytes of the body; the verdict so far (OK: nothing broken) */
ai_release_contract_rule_e ai_release_contract_feed(
    ai_release_contract_check_t *check, const unsigned char *p, size_t len);
/*
 * The end of the body; complete is 0 when the answer was cut short (the
 * upstream connection failed): a body then breaks json if the contract
 * has json; a stream breaks stream_end without its end marker anyway.
 * The verdict; finishing again returns it again.
 */
ai_release_contract_rule_e ai_release_contract_finish(
    ai_release_contract_check_t *check, int complete);

/*
 * What broke, for a log line, e.g. "/choices/0/message/content is empty",
 * "event 3, byte 17: invalid literal"; "" for OK.  Always NUL-terminated
 * when size > 0; the length it needed.
 */
size_t ai_release_contract_detail(const ai_release_contract_check_t *check,
    char *buf, size_t size);

/* "status", "content_type", ... "max_latency"; "ok" for OK */
const char *ai_release_contract_rule_name(unsigned rule);

/*
 * The latency rules, from the caller's measures: MAX_FIRST_BYTE when the
 * first byte came later than max_first_byte, else MAX_LATENCY when the
 * whole answer took longer than max_latency, else OK.
 */
ai_release_contract_rule_e ai_release_contract_latency(
    const ai_release_contract_t *contract, uint64_t latency_ms,
    uint64_t first_byte_ms);


/* building a contract (ai_release_schema.c) */

ai_release_contract_t *ai_release_contract_create(void);
/*
 * Adds a pointer of required (non_empty 0) or non_empty; a pointer given
 * twice is kept once.  0, or -1 with a static message in *err.
 */
int ai_release_contract_pointer(ai_release_contract_t *c, const char *text,
    size_t len, int non_empty, const char **err);
/* parses the pointers for each format; 0, or -1 with *err (ENOMEM) */
int ai_release_contract_prepare(ai_release_contract_t *c, const char **err);
void ai_release_contract_free(ai_release_contract_t *c);

/* a media type "type/subtype" of RFC 9110 tokens, no parameters */
int ai_release_contract_media_type(const char *s, size_t len);
/* "65536", "64k", "1m", "1g": bytes; 0 or -1 */
int ai_release_contract_parse_size(const char *s, size_t len,
    uint64_t *bytes);


#endif /* _AI_RELEASE_CONTRACT_H_INCLUDED_ */
