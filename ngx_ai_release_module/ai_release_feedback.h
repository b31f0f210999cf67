/*
 * Copyright (C) ngx_ai_release authors
 *
 * Reviewer corrections, the part that needs no nginx: the X-AI-Release-Id
 * token (make, parse, verify), the feedback body, the window of outcomes
 * and the correction_rate trip rule.  Used by the module, the unit tests
 * and the fuzzers.
 */

#ifndef _AI_RELEASE_FEEDBACK_H_INCLUDED_
#define _AI_RELEASE_FEEDBACK_H_INCLUDED_


#include "ai_release_core.h"


/*
 * An id is 48 bytes, base64url without padding: 64 characters.
 *
 *   [0]       version (1)
 *   [1..8]    the workflow's tag: the first 8 bytes of SHA-256(name)
 *   [9..24]   the first 16 bytes of the bundle's digest
 *   [25..31]  a nonce: a per-process counter from a random start
 *   [32..47]  HMAC-SHA256(secret, bytes 0..31), the first 16 bytes
 *
 * The MAC covers what the id says, so any instance with the secret can
 * tell a forged id (403) from a genuine one of a slot it no longer has
 * (404) without knowing the slot.
 */
#define AI_RELEASE_FEEDBACK_VERSION     1
#define AI_RELEASE_FEEDBACK_TAG_LEN     8
#define AI_RELEASE_FEEDBACK_DIGEST_LEN  16
#define AI_RELEASE_FEEDBACK_NONCE_LEN   7
#define AI_RELEASE_FEEDBACK_MAC_LEN     16
#define AI_RELEASE_FEEDBACK_SIGNED      32
#define AI_RELEASE_FEEDBACK_RAW_LEN     48
#define AI_RELEASE_FEEDBACK_ID_LEN      64

/* a secret file holds at least this many bytes */
#define AI_RELEASE_FEEDBACK_SECRET_MIN  16
#define AI_RELEASE_FEEDBACK_SECRET_MAX  4096

/* a POST holds at most this many items, in at most this many bytes */
#define AI_RELEASE_FEEDBACK_MAX_ITEMS   100
#define AI_RELEASE_FEEDBACK_MAX_BODY    (64 * 1024)


typedef enum {
    AI_RELEASE_FEEDBACK_ACCEPTED = 0,
    AI_RELEASE_FEEDBACK_CORRECTED,
    AI_RELEASE_FEEDBACK_REJECTED,
    AI_RELEASE_FEEDBACK_NOUTCOMES
} ai_release_feedback_outcome_e;


/* an HMAC-SHA256 key: the hash states after the inner and outer pads */
typedef struct {
    ai_release_sha256_ctx_t   inner;
    ai_release_sha256_ctx_t   outer;
} ai_release_feedback_key_t;


/* what a genuine id says */
typedef struct {
    unsigned char   tag[AI_RELEASE_FEEDBACK_TAG_LEN];
    unsigned char   digest[AI_RELEASE_FEEDBACK_DIGEST_LEN];
    uint64_t        nonce;
} ai_release_feedback_id_t;


/* one item of a feedback body, not yet verified */
typedef struct {
    char            id[AI_RELEASE_FEEDBACK_ID_LEN + 1];
    size_t          id_len;          /* as sent: longer ones never verify */
    unsigned        outcome;         /* ai_release_feedback_outcome_e */
} ai_release_feedback_item_t;


/*
 * The outcomes of a window, epoch-packed cells as in ai_release_window_t
 * (ai_release_window_cell_inc()): 16 buckets of 3 counters.
 */
typedef struct {
    uint64_t        width_ms;
    uint64_t        cell[AI_RELEASE_WINDOW_BUCKETS]
                        [AI_RELEASE_FEEDBACK_NOUTCOMES];
} ai_release_feedback_window_t;


void ai_release_feedback_key_init(ai_release_feedback_key_t *key,
    const void *secret, size_t len);
void ai_release_feedback_tag(const char *name, size_t len,
    unsigned char tag[AI_RELEASE_FEEDBACK_TAG_LEN]);

/* out gets AI_RELEASE_FEEDBACK_ID_LEN characters, no terminating zero */
void ai_release_feedback_id_make(const ai_release_feedback_key_t *key,
    const unsigned char tag[AI_RELEASE_FEEDBACK_TAG_LEN],
    const unsigned char *digest, uint64_t nonce, char *out);

/* 0: genuine; -1: not an id, or not one made with this key */
int ai_release_feedback_id_verify(const ai_release_feedback_key_t *key,
    const char *s, size_t len, ai_release_feedback_id_t *id);

/* the outcome named, or -1 */
int ai_release_feedback_outcome_parse(const char *s, size_t len);
const char *ai_release_feedback_outcome_name(unsigned outcome);

/*
 * A feedback body: one object or an array of 1..max objects, each with a
 * string "release_id" and an "outcome" (other members are ignored).
 * Returns the number of items, or -1 with a message in err.
 */
int ai_release_feedback_parse(const char *body, size_t len,
    ai_release_feedback_item_t *items, size_t max, char *err, size_t errlen);

void ai_release_feedback_window_init(ai_release_feedback_window_t *w,
    uint64_t window_ms);
void ai_release_feedback_window_add(ai_release_feedback_window_t *w,
    unsigned outcome, uint64_t now_ms);
void ai_release_feedback_window_sum(const ai_release_feedback_window_t *w,
    uint64_t now_ms, uint64_t out[AI_RELEASE_FEEDBACK_NOUTCOMES]);

/*
 * The correction_rate rule on a window's outcomes and, for a canary,
 * stable's (NULL otherwise): AI_RELEASE_TRIP_RATE when corrected plus
 * rejected reach correction_rate of at least min_feedback answers,
 * AI_RELEASE_TRIP_MARGIN when a canary's share exceeds stable's by the
 * canary margin with confidence, as errors do (ai_release_trip_check()).
 */
ai_release_trip_e ai_release_feedback_trip_check(
    const ai_release_trip_conf_t *conf,
    const uint64_t w[AI_RELEASE_FEEDBACK_NOUTCOMES],
    const uint64_t *stable);


#endif /* _AI_RELEASE_FEEDBACK_H_INCLUDED_ */
