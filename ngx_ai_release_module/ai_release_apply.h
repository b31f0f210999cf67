
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Applying a bundle to a request body (ai_release_apply.c): the bundle's
 * model, system instructions, tools and params become top-level members
 * of the JSON body a client sends to an OpenAI- or Anthropic-style API,
 * by splicing, not by re-serialising: every byte outside the replaced or
 * inserted spans stays as the client wrote it.
 *
 * At configuration time, ai_release_apply_values() computes once what a
 * bundle sets in a wire format: each member ready to splice as JSON text
 * (malloc()ed; ai_release_apply_values_free()).
 *
 * Per request, a plan (ai_release_apply_plan_t, in the caller's memory,
 * nothing allocated) scans the body with the streaming JSON scanner
 * (ai_release_json.h) in chunks of any size and records the byte spans of
 * the top-level members to replace, and, for openai-chat, of the
 * "messages" array and its first element; ai_release_apply_edits() then
 * turns a bundle's values and the plan into a short list of edits
 * (replace [start, end) with up to three pieces of text), sorted and
 * non-overlapping, that the caller applies to the body's buffers.
 *
 * The plan refuses: what the scanner refuses (invalid JSON or UTF-8, a
 * truncated body, nesting deeper than 64), a body that is not an object,
 * and a top-level member that appears twice when it is one of the names
 * looked for or "model" or "messages" (an upstream reads the last of
 * duplicates; the edit would replace the first).  Only top-level members
 * are matched, by their decoded key: a "model" inside a message is never
 * touched.
 */

#ifndef _AI_RELEASE_APPLY_H_INCLUDED_
#define _AI_RELEASE_APPLY_H_INCLUDED_


#include "ai_release_core.h"
#include "ai_release_json.h"


typedef enum {
    AI_RELEASE_FORMAT_NONE = 0,
    AI_RELEASE_FORMAT_OPENAI_CHAT,
    AI_RELEASE_FORMAT_OPENAI_RESPONSES,
    AI_RELEASE_FORMAT_ANTHROPIC_MESSAGES
} ai_release_format_e;

/* "none", "openai-chat", "openai-responses", "anthropic-messages"; -1 */
int ai_release_format_parse(const char *s, size_t len);
/* the same names; "?" for anything else */
const char *ai_release_format_name(int format);


/* what a workflow applies: "model system_instructions tools params" */

#define AI_RELEASE_APPLY_MODEL      0x01
#define AI_RELEASE_APPLY_SYSTEM     0x02
#define AI_RELEASE_APPLY_TOOLS      0x04
#define AI_RELEASE_APPLY_PARAMS     0x08

/* "model", "system_instructions", "tools", "params": its bit; -1 */
int ai_release_apply_word(const char *s, size_t len);


/* a top-level member a bundle sets: "name":json, both ready to splice */

typedef struct {
    char                *name;        /* decoded, e.g. "temperature" */
    size_t               name_len;
    char                *member;      /* "\"temperature\":0.2" */
    size_t               member_len;
    char                *value;       /* "0.2": the end of member */
    size_t               value_len;
} ai_release_member_t;


/* what one bundle sets in one format, computed at configuration time */

typedef struct {
    /*
     * "model"; then "instructions" (openai-responses) or "system"
     * (anthropic-messages); then "tools"; then params in manifest order
     */
    ai_release_member_t  *members;
    size_t                nmembers;

    /* openai-chat with SYSTEM: {"role":"system","content":"..."}; NULL */
    char                 *system_message;
    size_t                system_message_len;
} ai_release_apply_values_t;


/*
 * The values of bundle b in format for the bits in what.  0, or -1 with
 * a message in err (always NUL-terminated when errlen > 0) and in *line
 * and *column the place in b's manifest at fault: the key or the file
 * reference, or the bundle's first line when a key is missing.  The
 * referenced files are read again (the loader keeps only their hashes)
 * and must still have the hash the bundle's digest was made of.
 *
 *   model: a JSON string of b->model.
 *   system_instructions: the inline text or the content of
 *     system_instructions.file (valid UTF-8) as a JSON string; openai-chat
 *     puts it in system_message, openai-responses in a member
 *     "instructions", anthropic-messages in a member "system".
 *   tools: the tool_schema file, which must be a JSON array of objects
 *     with no duplicate keys, without its whitespace (every token as
 *     written); a member "tools".
 *   params: each entry of the manifest's "params" map, in order; a value
 *     that ai_release_schema.c marked literal (a plain JSON number, true,
 *     false or null) as it is written, any other as a JSON string; no
 *     "params": no members.
 *
 * model, system_instructions or tools asked for and missing is an error,
 * and so is any bit with format none.
 */
int ai_release_apply_values(const ai_release_bundle_t *b, int format,
    unsigned what, ai_release_apply_values_t *out, char *err, size_t errlen,
    unsigned *line, unsigned *column);
void ai_release_apply_values_free(ai_release_apply_values_t *v);


/* a span of the body: a member's VALUE, [start, end) */

typedef struct {
    uint64_t                    start;
    uint64_t                    end;
    unsigned                    found;
} ai_release_span_t;


#define AI_RELEASE_APPLY_ERROR_SIZE  160


typedef struct {
    ai_release_json_t           js;
    int                         format;

    /*
     * The members to look for (name and name_len are used): the union of
     * the members of a workflow's bundles, built at configuration time by
     * the caller.  A name given twice is found at its first index.
     */
    const ai_release_member_t  *names;
    size_t                      nnames;
    ai_release_span_t          *found;          /* nnames, zeroed by init */

    uint64_t                    obj_start;      /* the top-level '{' */
    uint64_t                    obj_count;      /* its members */
    uint64_t                    body_len;       /* bytes fed */

    /*
     * The top-level "messages" (recorded in every format; only the edits
     * of openai-chat use them).  messages_start is the first byte of its
     * value, whatever its type, 0 when there is none (no value of a member
     * starts at 0); messages_found is 1 when it is an array.
     */
    unsigned                    messages_found;
    uint64_t                    messages_start;
    uint64_t                    messages_count;
    uint64_t                    first_start;    /* messages[0]'s span */
    uint64_t                    first_end;
    /* messages[0] is an object whose (last) "role" is "system" or
       "developer" */
    unsigned                    first_is_system;

    /*
     * The client's top-level "model": found whatever its type; its first
     * 64 decoded bytes for a string, its text for a number, true, false
     * or null, nothing (len 0) for an object or array.
     */
    unsigned                    client_model_found;
    unsigned char               client_model[64];
    size_t                      client_model_len;

    const char                 *error;          /* NULL, or what is wrong */
    uint64_t                    error_offset;   /* the byte at fault */

    /* where error points when its text names a member */
    char                        error_text[AI_RELEASE_APPLY_ERROR_SIZE];
} ai_release_apply_plan_t;


void ai_release_apply_plan_init(ai_release_apply_plan_t *p, int format,
    const ai_release_member_t *names, size_t nnames,
    ai_release_span_t *found);
/* 0, or -1 with p->error; after an error every call returns -1 */
int ai_release_apply_plan_feed(ai_release_apply_plan_t *p,
    const unsigned char *data, size_t len);
/* the end of the body: 0, or -1 with p->error (e.g. a truncated body) */
int ai_release_apply_plan_finish(ai_release_apply_plan_t *p);


/* replace the body's bytes [start, end) with the pieces; start == end:
   insert */

typedef struct {
    uint64_t                    start;
    uint64_t                    end;
    const char                 *text[3];        /* NULL after the last */
    size_t                      len[3];
} ai_release_edit_t;

#define AI_RELEASE_APPLY_MAX_EDITS(nmembers)  ((nmembers) + 2)

/*
 * The edits that apply v to the body p planned (p finished without an
 * error; v's members among p's names), sorted by start, non-overlapping
 * (inserts at one offset in the order they go in); *new_len is the
 * body's length after them.  A member found at the top level has its
 * value replaced; the others are inserted right after the top-level '{',
 * in v's order, each followed by "," when something follows it.  The
 * system message of openai-chat replaces messages[0] when its role is
 * "system" or "developer", else goes first in "messages".  0, or -1 with
 * p->error: "messages" missing or not an array when a system message is
 * to go in it, a member of v not among p's names, more than max edits.
 */
int ai_release_apply_edits(ai_release_apply_plan_t *p,
    const ai_release_apply_values_t *v, ai_release_edit_t *edits,
    size_t max, size_t *n, uint64_t *new_len);


#endif /* _AI_RELEASE_APPLY_H_INCLUDED_ */
