
/*
 * Copyright (C) ngx_ai_release authors
 *
 * A streaming JSON scanner (RFC 8259) and a server-sent-events parser
 * (the WHATWG event-stream format), for request bodies and answers that
 * pass through in chunks of any size, down to one byte.  Neither holds the
 * input nor allocates: all either keeps is its fixed state below, and the
 * events and the verdict do not depend on how the input was split.
 *
 * JSON (ai_release_json.c): ai_release_json_init(), then
 * ai_release_json_feed() for each chunk and ai_release_json_finish() at
 * the end of the input.  The handler gets a BEGIN and an END event for
 * every value, with its type, depth, byte span, and the member (key and
 * key span) or element (index) it is; END of a string gives its decoded
 * length, code points and first bytes, END of a number its text.  The
 * path of the current value is kept (a key's first
 * AI_RELEASE_JSON_KEY_MAX decoded bytes per level), so that a handler
 * tests "am I at /choices/0/message/content" with ai_release_json_at()
 * against a pointer parsed once with ai_release_json_pointer_parse().
 * Validation is strict: one value, whitespace around it only, every
 * escape and surrogate pair checked, UTF-8 checked (no overlongs,
 * surrogates or code points past U+10FFFF), containers nested at most
 * AI_RELEASE_JSON_MAX_DEPTH deep.  The first error stops the scan with a
 * message and the offset of the byte where it was found (the end of the
 * input for a truncated document).
 *
 * SSE (ai_release_sse.c): ai_release_sse_init(), ai_release_sse_feed(),
 * ai_release_sse_finish().  Lines end in LF, CRLF or CR (also when the
 * CR and the LF are in different chunks); "data", "event" and comments
 * are read, other fields ignored; the data is handed on as it passes
 * (on_data, with the "\n" that joins data lines), never buffered; a blank
 * line dispatches the event (on_event: its name, data length and first
 * bytes).  A consumer feeds on_data into a JSON scanner it initialises
 * again after each event.
 *
 * A consumer that needs only some depths says so with
 * ai_release_json_events() after ai_release_json_init(): the BEGIN and
 * END events of the other depths are not built, the keys of the levels
 * below the deepest wanted one are not kept and the first bytes of a
 * string or number only where its END is wanted; every byte is still
 * validated, so the verdict is the same.  ai_release_json_reset() starts
 * the next document (an SSE event's data) keeping the handler, its data
 * and the events wanted, without initialising the rest again.
 *
 * Sizes (x86-64): ai_release_json_t 2,488 bytes, of which 2,048 are the
 * 64 levels of the path (32 bytes each: the container's start, its current
 * member's key span and lengths, the index) and 256 the keys' bytes;
 * ai_release_sse_t 136 bytes; ai_release_json_pointer_t 384 bytes.
 */

#ifndef _AI_RELEASE_JSON_H_INCLUDED_
#define _AI_RELEASE_JSON_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* containers open at once; one more is the error "nesting too deep" */
#define AI_RELEASE_JSON_MAX_DEPTH    64
/* decoded bytes kept of a key; a longer key never matches a pointer */
#define AI_RELEASE_JSON_KEY_MAX      64
/* decoded bytes kept of the keys of one path, all levels together */
#define AI_RELEASE_JSON_KEYS_SIZE    256
/* decoded bytes kept of a string value, and bytes of a number's text */
#define AI_RELEASE_JSON_STRING_MAX   64
#define AI_RELEASE_JSON_NUMBER_MAX   32
/* segments of a JSON Pointer */
#define AI_RELEASE_JSON_POINTER_MAX  16

/* what ai_release_json_feed() and _finish() return */
#define AI_RELEASE_JSON_OK           0
#define AI_RELEASE_JSON_ERROR        -1
#define AI_RELEASE_JSON_STOP         1


typedef enum {
    AI_RELEASE_JSON_OBJECT = 0,
    AI_RELEASE_JSON_ARRAY,
    AI_RELEASE_JSON_STRING,
    AI_RELEASE_JSON_NUMBER,
    AI_RELEASE_JSON_TRUE,
    AI_RELEASE_JSON_FALSE,
    AI_RELEASE_JSON_NULL
} ai_release_json_type_e;

typedef enum {
    AI_RELEASE_JSON_BEGIN = 0,
    AI_RELEASE_JSON_END
} ai_release_json_event_e;


/*
 * One event.  Offsets are absolute byte offsets from the start of the
 * document; spans are [start, end).  A member of an object is
 * [key_start, end) at its value's END event.
 */

typedef struct {
    ai_release_json_event_e   event;
    ai_release_json_type_e    type;
    unsigned                  depth;      /* 0: the top-level value */
    uint64_t                  start;      /* the value's first byte */
    uint64_t                  end;        /* END: past its last byte */

    /* depth > 0: the member (of an object) or element (of an array) */
    unsigned                  member;     /* 1: a member, 0: an element */
    uint64_t                  index;      /* among its siblings, from 0 */
    uint64_t                  key_start;  /* member: its key's '"' */
    uint64_t                  key_end;    /* member: past the closing '"' */
    uint64_t                  key_len;    /* member: the decoded key */
    const unsigned char      *key;        /* member: its first key_n */
    size_t                    key_n;      /* bytes; key_n < key_len when */
                                          /* the key was cut */

    /* END of an object or an array: its members or elements */
    uint64_t                  count;

    /*
     * END of a string: len decoded bytes, chars code points, the first
     * text_n of them in text (they may end inside a character);
     * END of a number: its text, len bytes, the first text_n in text.
     * truncated: text_n < len.
     */
    uint64_t                  len;
    uint64_t                  chars;
    const unsigned char      *text;
    size_t                    text_n;
    unsigned                  truncated;
} ai_release_json_event_t;


typedef struct ai_release_json_s  ai_release_json_t;

/* 0 goes on; anything else stops the scan (js->stopped) */
typedef int (*ai_release_json_handler_pt)(ai_release_json_t *js,
    const ai_release_json_event_t *ev, void *data);
typedef int (*ai_release_json_chunk_pt)(ai_release_json_t *js,
    const unsigned char *p, size_t n, void *data);


/* an open object or array: a level of the path */

typedef struct {
    uint64_t                  start;      /* its '{' or '[' */
    uint64_t                  key_start;  /* object: the current member */
    uint32_t                  key_raw;    /* its key's bytes with quotes */
    uint32_t                  key_len;    /* decoded */
    uint32_t                  n;          /* the current index */
    uint16_t                  key_off;    /* the key's bytes in keys[] */
    uint8_t                   key_n;      /* how many are kept */
    uint8_t                   object;
} ai_release_json_frame_t;


struct ai_release_json_s {
    ai_release_json_handler_pt   handler;
    void                        *data;

    /*
     * NULL, or called with the decoded bytes of string values (not keys)
     * as they pass, in pieces that depend on the input's chunks; the
     * handler may set or clear it at a string's BEGIN event.
     */
    ai_release_json_chunk_pt     chunk;

    const char                  *error;         /* NULL, or what is wrong */
    uint64_t                     error_offset;
    uint64_t                     offset;        /* bytes consumed */

    /* the scalar being read */
    uint64_t                     value_start;
    uint64_t                     str_len;
    uint64_t                     str_chars;

    unsigned                     depth;         /* containers open */
    unsigned                     stopped;       /* by a callback */

    /* the events wanted: bit d for depth d, 63 for 63 and deeper */
    uint64_t                     want_begin;
    uint64_t                     want_end;
    unsigned                     key_depth;     /* levels whose keys */
                                                /* are kept */
    uint8_t                      str_max;       /* bytes to keep of the */
                                                /* scalar being read */

    uint8_t                      state;
    uint8_t                      in_key;
    uint8_t                      str_n;         /* bytes kept in str[] */
    uint8_t                      key_max;       /* of the key being read */
    uint8_t                      u8_need;       /* continuation bytes */
    uint8_t                      u8_lo;         /* the next one's range */
    uint8_t                      u8_hi;
    uint8_t                      esc_n;         /* \uXXXX digits read */
    uint16_t                     esc_cu;
    uint16_t                     esc_hi;        /* a high surrogate */
    uint8_t                      lit;           /* the literal being read */
    uint8_t                      lit_pos;

    unsigned char                str[AI_RELEASE_JSON_STRING_MAX];
    unsigned char                keys[AI_RELEASE_JSON_KEYS_SIZE];
    ai_release_json_frame_t      frame[AI_RELEASE_JSON_MAX_DEPTH];
};


/* a JSON Pointer (RFC 6901), parsed once */

typedef struct {
    unsigned                  n;          /* segments; 0: the document */
    uint16_t                  off[AI_RELEASE_JSON_POINTER_MAX];
    uint8_t                   len[AI_RELEASE_JSON_POINTER_MAX];
    /* the segment as an array index, UINT32_MAX when it is none */
    uint32_t                  index[AI_RELEASE_JSON_POINTER_MAX];
    unsigned char             buf[AI_RELEASE_JSON_KEYS_SIZE];
    const char               *error;
} ai_release_json_pointer_t;


void ai_release_json_init(ai_release_json_t *js,
    ai_release_json_handler_pt handler, void *data);
/* AI_RELEASE_JSON_OK, _ERROR (js->error, js->error_offset) or _STOP */
int ai_release_json_feed(ai_release_json_t *js, const unsigned char *p,
    size_t len);
/* the end of the input: a truncated document is an error */
int ai_release_json_finish(ai_release_json_t *js);
/*
 * The handler gets BEGIN events of values at the depths of the bits of
 * begin, END events at those of end (bit 63: 63 and deeper);
 * ai_release_json_init() wants all of them (none without a handler).
 * Called before the first byte, or by the handler: then for the events
 * after it (a key being read is kept or not as it began).
 */
void ai_release_json_events(ai_release_json_t *js, uint64_t begin,
    uint64_t end);
/* a new document, with the handler, data and events of the last one */
void ai_release_json_reset(ai_release_json_t *js);
/* "object", "array", "string", "number", "true", "false", "null" */
const char *ai_release_json_type_name(ai_release_json_type_e type);

/*
 * "" is the whole document; a segment may be at most
 * AI_RELEASE_JSON_KEY_MAX decoded bytes, all of them together
 * AI_RELEASE_JSON_KEYS_SIZE.  0, or -1 with ptr->error.
 */
int ai_release_json_pointer_parse(ai_release_json_pointer_t *ptr,
    const char *text, size_t len);
/* in a handler: whether the event's value is the one ptr points to */
int ai_release_json_at(const ai_release_json_t *js,
    const ai_release_json_pointer_t *ptr);
/* ... or whether it is that value or inside it */
int ai_release_json_under(const ai_release_json_t *js,
    const ai_release_json_pointer_t *ptr);

/*
 * The number of an END event: 0, or -1 when it is not a number written
 * as an integer (no fraction, no exponent), does not fit, or its text was
 * longer than AI_RELEASE_JSON_NUMBER_MAX; a double: -1 on overflow.
 */
int ai_release_json_int(const ai_release_json_event_t *ev, int64_t *out);
int ai_release_json_uint(const ai_release_json_event_t *ev, uint64_t *out);
int ai_release_json_double(const ai_release_json_event_t *ev, double *out);


/* server-sent events */

/* bytes kept of an event's name and of its data */
#define AI_RELEASE_SSE_NAME_MAX      32
#define AI_RELEASE_SSE_PREFIX_MAX    16

typedef struct {
    const unsigned char      *name;       /* "message" when none given */
    size_t                    name_n;     /* bytes of it kept */
    uint64_t                  name_len;
    const unsigned char      *data;       /* the data's first bytes */
    size_t                    data_n;
    uint64_t                  data_len;
    uint64_t                  lines;      /* data lines */
} ai_release_sse_event_t;

typedef struct ai_release_sse_s  ai_release_sse_t;

/* 0 goes on; anything else stops the parser (sse->stopped) */
typedef int (*ai_release_sse_data_pt)(ai_release_sse_t *sse,
    const unsigned char *p, size_t n, void *data);
typedef int (*ai_release_sse_event_pt)(ai_release_sse_t *sse,
    const ai_release_sse_event_t *ev, void *data);

struct ai_release_sse_s {
    ai_release_sse_data_pt    on_data;
    ai_release_sse_event_pt   on_event;
    void                     *data;

    uint64_t                  offset;     /* bytes fed */
    uint64_t                  events;     /* dispatched */
    uint64_t                  data_len;   /* of the event being read */
    uint64_t                  lines;
    uint64_t                  name_len;

    unsigned                  stopped;
    unsigned                  mid_event;  /* set by _finish() */

    uint8_t                   state;
    uint8_t                   field;      /* of the line */
    uint8_t                   field_n;    /* bytes of its name read */
    uint8_t                   cr;         /* the last byte was a CR */
    uint8_t                   bom_n;
    uint8_t                   name_n;
    uint8_t                   prefix_n;
    unsigned char             field_name[5];
    unsigned char             name[AI_RELEASE_SSE_NAME_MAX];
    unsigned char             prefix[AI_RELEASE_SSE_PREFIX_MAX];
};


void ai_release_sse_init(ai_release_sse_t *sse,
    ai_release_sse_data_pt on_data, ai_release_sse_event_pt on_event,
    void *data);
/* AI_RELEASE_JSON_OK or _STOP */
int ai_release_sse_feed(ai_release_sse_t *sse, const unsigned char *p,
    size_t len);
/*
 * The end of the stream: 1 when it ended inside an event (data lines not
 * followed by a blank line, or a line other than a comment not ended),
 * else 0; the event is not dispatched (as the WHATWG parser drops it).
 */
int ai_release_sse_finish(ai_release_sse_t *sse);


#endif /* _AI_RELEASE_JSON_H_INCLUDED_ */
