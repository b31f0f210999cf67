/*
 * Copyright (C) ngx_ai_release authors
 *
 * Reviewer corrections without nginx: ids, feedback bodies, the window of
 * outcomes and the correction_rate rule (ai_release_feedback.h).
 */


#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ai_release_feedback.h"


static void ai_release_feedback_mac(const ai_release_feedback_key_t *key,
    const unsigned char *data, unsigned char mac[AI_RELEASE_SHA256_LEN]);
static int ai_release_feedback_item(json_t *o, size_t i,
    ai_release_feedback_item_t *item, char *err, size_t errlen);


static const char  *ai_release_feedback_outcomes[] = {
    "accepted", "corrected", "rejected"
};

static const char  ai_release_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


void
ai_release_feedback_key_init(ai_release_feedback_key_t *key,
    const void *secret, size_t len)
{
    size_t         i;
    unsigned char  k[64], pad[64];

    memset(k, 0, sizeof(k));

    if (len > sizeof(k)) {
        ai_release_sha256(secret, len, k);

    } else if (len) {
        memcpy(k, secret, len);
    }

    for (i = 0; i < sizeof(pad); i++) {
        pad[i] = k[i] ^ 0x36;
    }

    ai_release_sha256_init(&key->inner);
    ai_release_sha256_update(&key->inner, pad, sizeof(pad));

    for (i = 0; i < sizeof(pad); i++) {
        pad[i] = k[i] ^ 0x5c;
    }

    ai_release_sha256_init(&key->outer);
    ai_release_sha256_update(&key->outer, pad, sizeof(pad));

    memset(k, 0, sizeof(k));
    memset(pad, 0, sizeof(pad));
}


void
ai_release_feedback_tag(const char *name, size_t len,
    unsigned char tag[AI_RELEASE_FEEDBACK_TAG_LEN])
{
    unsigned char  h[AI_RELEASE_SHA256_LEN];

    ai_release_sha256(name, len, h);
    memcpy(tag, h, AI_RELEASE_FEEDBACK_TAG_LEN);
}


/* HMAC-SHA256 of the AI_RELEASE_FEEDBACK_SIGNED bytes of an id */

static void
ai_release_feedback_mac(const ai_release_feedback_key_t *key,
    const unsigned char *data, unsigned char mac[AI_RELEASE_SHA256_LEN])
{
    ai_release_sha256_ctx_t  ctx;
    unsigned char            inner[AI_RELEASE_SHA256_LEN];

    ctx = key->inner;
    ai_release_sha256_update(&ctx, data, AI_RELEASE_FEEDBACK_SIGNED);
    ai_release_sha256_final(&ctx, inner);

    ctx = key->outer;
    ai_release_sha256_update(&ctx, inner, sizeof(inner));
    ai_release_sha256_final(&ctx, mac);
}


void
ai_release_feedback_id_make(const ai_release_feedback_key_t *key,
    const unsigned char tag[AI_RELEASE_FEEDBACK_TAG_LEN],
    const unsigned char *digest, uint64_t nonce, char *out)
{
    size_t         i, j;
    uint32_t       v;
    unsigned char  raw[AI_RELEASE_FEEDBACK_RAW_LEN],
                   mac[AI_RELEASE_SHA256_LEN];

    raw[0] = AI_RELEASE_FEEDBACK_VERSION;
    memcpy(&raw[1], tag, AI_RELEASE_FEEDBACK_TAG_LEN);
    memcpy(&raw[1 + AI_RELEASE_FEEDBACK_TAG_LEN], digest,
           AI_RELEASE_FEEDBACK_DIGEST_LEN);

    for (i = 0; i < AI_RELEASE_FEEDBACK_NONCE_LEN; i++) {
        raw[AI_RELEASE_FEEDBACK_SIGNED - 1 - i] = (unsigned char) nonce;
        nonce >>= 8;
    }

    ai_release_feedback_mac(key, raw, mac);
    memcpy(&raw[AI_RELEASE_FEEDBACK_SIGNED], mac, AI_RELEASE_FEEDBACK_MAC_LEN);

    /* 48 bytes: 16 groups of 3, no padding */

    for (i = 0, j = 0; i < AI_RELEASE_FEEDBACK_RAW_LEN; i += 3) {
        v = ((uint32_t) raw[i] << 16) | ((uint32_t) raw[i + 1] << 8)
            | raw[i + 2];
        out[j++] = ai_release_b64url[(v >> 18) & 63];
        out[j++] = ai_release_b64url[(v >> 12) & 63];
        out[j++] = ai_release_b64url[(v >> 6) & 63];
        out[j++] = ai_release_b64url[v & 63];
    }
}


int
ai_release_feedback_id_verify(const ai_release_feedback_key_t *key,
    const char *s, size_t len, ai_release_feedback_id_t *id)
{
    int            c, x;
    size_t         i, j, k;
    uint32_t       v;
    unsigned char  diff, raw[AI_RELEASE_FEEDBACK_RAW_LEN],
                   mac[AI_RELEASE_SHA256_LEN];

    if (len != AI_RELEASE_FEEDBACK_ID_LEN) {
        return -1;
    }

    for (i = 0, j = 0; i < len; i += 4) {
        v = 0;

        for (k = 0; k < 4; k++) {
            c = (unsigned char) s[i + k];

            if (c >= 'A' && c <= 'Z') {
                x = c - 'A';

            } else if (c >= 'a' && c <= 'z') {
                x = c - 'a' + 26;

            } else if (c >= '0' && c <= '9') {
                x = c - '0' + 52;

            } else if (c == '-') {
                x = 62;

            } else if (c == '_') {
                x = 63;

            } else {
                return -1;
            }

            v = (v << 6) | (uint32_t) x;
        }

        raw[j++] = (unsigned char) (v >> 16);
        raw[j++] = (unsigned char) (v >> 8);
        raw[j++] = (unsigned char) v;
    }

    if (raw[0] != AI_RELEASE_FEEDBACK_VERSION) {
        return -1;
    }

    ai_release_feedback_mac(key, raw, mac);

    /* in constant time: how much of a MAC matched is no hint */

    diff = 0;

    for (i = 0; i < AI_RELEASE_FEEDBACK_MAC_LEN; i++) {
        diff |= mac[i] ^ raw[AI_RELEASE_FEEDBACK_SIGNED + i];
    }

    if (diff != 0) {
        return -1;
    }

    memcpy(id->tag, &raw[1], AI_RELEASE_FEEDBACK_TAG_LEN);
    memcpy(id->digest, &raw[1 + AI_RELEASE_FEEDBACK_TAG_LEN],
           AI_RELEASE_FEEDBACK_DIGEST_LEN);

    id->nonce = 0;

    for (i = AI_RELEASE_FEEDBACK_SIGNED - AI_RELEASE_FEEDBACK_NONCE_LEN;
         i < AI_RELEASE_FEEDBACK_SIGNED; i++)
    {
        id->nonce = (id->nonce << 8) | raw[i];
    }

    return 0;
}


int
ai_release_feedback_outcome_parse(const char *s, size_t len)
{
    int  i;

    for (i = 0; i < AI_RELEASE_FEEDBACK_NOUTCOMES; i++) {
        if (strlen(ai_release_feedback_outcomes[i]) == len
            && memcmp(ai_release_feedback_outcomes[i], s, len) == 0)
        {
            return i;
        }
    }

    return -1;
}


const char *
ai_release_feedback_outcome_name(unsigned outcome)
{
    return outcome < AI_RELEASE_FEEDBACK_NOUTCOMES
           ? ai_release_feedback_outcomes[outcome] : "?";
}


int
ai_release_feedback_parse(const char *body, size_t len,
    ai_release_feedback_item_t *items, size_t max, char *err, size_t errlen)
{
    int           rc;
    json_t       *root;
    size_t        i, n;
    json_error_t  jerr;

    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);

    if (root == NULL) {
        snprintf(err, errlen, "invalid JSON: %s at line %d, column %d",
                 jerr.text, jerr.line, jerr.column);
        return -1;
    }

    if (json_is_object(root)) {
        rc = ai_release_feedback_item(root, 0, &items[0], err, errlen);
        json_decref(root);
        return rc == 0 ? 1 : -1;
    }

    if (!json_is_array(root)) {
        snprintf(err, errlen, "the body is not an object or an array");
        json_decref(root);
        return -1;
    }

    n = json_array_size(root);

    if (n == 0 || n > max) {
        snprintf(err, errlen, "an array holds 1 to %zu items, not %zu",
                 max, n);
        json_decref(root);
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (ai_release_feedback_item(json_array_get(root, i), i, &items[i],
                                     err, errlen)
            != 0)
        {
            json_decref(root);
            return -1;
        }
    }

    json_decref(root);

    return (int) n;
}


static int
ai_release_feedback_item(json_t *o, size_t i, ai_release_feedback_item_t *item,
    char *err, size_t errlen)
{
    int          outcome;
    json_t      *id, *out;
    size_t       len;
    const char  *s;

    if (!json_is_object(o)) {
        snprintf(err, errlen, "item %zu is not an object", i);
        return -1;
    }

    id = json_object_get(o, "release_id");

    if (!json_is_string(id)) {
        snprintf(err, errlen, "item %zu: \"release_id\" is not a string", i);
        return -1;
    }

    out = json_object_get(o, "outcome");

    if (!json_is_string(out)) {
        snprintf(err, errlen, "item %zu: \"outcome\" is not a string", i);
        return -1;
    }

    s = json_string_value(out);
    len = json_string_length(out);
    outcome = ai_release_feedback_outcome_parse(s, len);

    if (outcome < 0) {
        snprintf(err, errlen, "item %zu: unknown outcome \"%.*s\" (accepted, "
                 "corrected or rejected)", i, (int) (len > 32 ? 32 : len), s);
        return -1;
    }

    item->outcome = (unsigned) outcome;
    item->id_len = json_string_length(id);
    item->id[0] = '\0';

    if (item->id_len <= AI_RELEASE_FEEDBACK_ID_LEN) {
        memcpy(item->id, json_string_value(id), item->id_len);
        item->id[item->id_len] = '\0';
    }

    return 0;
}


void
ai_release_feedback_window_init(ai_release_feedback_window_t *w,
    uint64_t window_ms)
{
    memset(w, 0, sizeof(ai_release_feedback_window_t));

    w->width_ms = window_ms / AI_RELEASE_WINDOW_BUCKETS;

    if (w->width_ms == 0) {
        w->width_ms = 1;
    }
}


void
ai_release_feedback_window_add(ai_release_feedback_window_t *w,
    unsigned outcome, uint64_t now_ms)
{
    uint32_t  epoch;

    epoch = (uint32_t) (now_ms / w->width_ms);

    ai_release_window_cell_inc(
        &w->cell[epoch % AI_RELEASE_WINDOW_BUCKETS][outcome], epoch);
}


void
ai_release_feedback_window_sum(const ai_release_feedback_window_t *w,
    uint64_t now_ms, uint64_t out[AI_RELEASE_FEEDBACK_NOUTCOMES])
{
    unsigned  b, c;
    uint32_t  epoch;

    epoch = (uint32_t) (now_ms / w->width_ms);

    memset(out, 0, AI_RELEASE_FEEDBACK_NOUTCOMES * sizeof(uint64_t));

    for (b = 0; b < AI_RELEASE_WINDOW_BUCKETS; b++) {
        for (c = 0; c < AI_RELEASE_FEEDBACK_NOUTCOMES; c++) {
            out[c] += ai_release_window_cell(
                          __atomic_load_n(&w->cell[b][c], __ATOMIC_RELAXED),
                          epoch);
        }
    }
}


ai_release_trip_e
ai_release_feedback_trip_check(const ai_release_trip_conf_t *conf,
    const uint64_t w[AI_RELEASE_FEEDBACK_NOUTCOMES], const uint64_t *stable)
{
    uint64_t                sw[2], total, bad;
    ai_release_trip_conf_t  fc;

    if (!conf->enabled || conf->correction_rate == 0) {
        return AI_RELEASE_TRIP_NONE;
    }

    /* the errors' rules, on feedback: a "bad" answer was corrected */

    fc = *conf;
    fc.error_rate = conf->correction_rate;
    fc.min_requests = conf->min_feedback;
    fc.min_errors = 1;
    fc.consecutive = 0;

    total = w[0] + w[1] + w[2];
    bad = w[AI_RELEASE_FEEDBACK_CORRECTED] + w[AI_RELEASE_FEEDBACK_REJECTED];

    if (stable) {
        sw[0] = stable[0] + stable[1] + stable[2];
        sw[1] = stable[AI_RELEASE_FEEDBACK_CORRECTED]
                + stable[AI_RELEASE_FEEDBACK_REJECTED];
    }

    return ai_release_trip_check(&fc, total, bad, 0, stable ? sw : NULL);
}
