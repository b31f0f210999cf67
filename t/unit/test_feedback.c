/*
 * Copyright (C) ngx_ai_release authors
 *
 * Unit tests of reviewer corrections (ai_release_feedback.c): the HMAC
 * against RFC 4231's vectors, ids made and verified (any flipped
 * character, another key, another workflow or digest refused), feedback
 * bodies, the window of outcomes and the correction_rate rule with its
 * trip parameters.  TAP output; run from t/unit.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai_release_feedback.h"
#include "tap.h"


#define SECRET   "0123456789abcdef-fleet-secret"
#define OTHER    "0123456789abcdef-other-secret"


static void hmac_hex(const void *k, size_t klen, const char *msg,
    char hex[65]);
static void test_hmac(void);
static void test_ids(void);
static void test_bodies(void);
static void test_window(void);
static void test_trip(void);


int
main(void)
{
    test_hmac();
    test_ids();
    test_bodies();
    test_window();
    test_trip();

    return tap_done();
}


/* the HMAC itself: the MAC of an id is HMAC-SHA256 of its first 32 bytes */

static void
hmac_hex(const void *k, size_t klen, const char *msg, char hex[65])
{
    size_t                     i;
    unsigned char              inner[32], mac[32];
    ai_release_sha256_ctx_t    ctx;
    ai_release_feedback_key_t  key;

    ai_release_feedback_key_init(&key, k, klen);

    ctx = key.inner;
    ai_release_sha256_update(&ctx, msg, strlen(msg));
    ai_release_sha256_final(&ctx, inner);
    ctx = key.outer;
    ai_release_sha256_update(&ctx, inner, 32);
    ai_release_sha256_final(&ctx, mac);

    for (i = 0; i < 32; i++) {
        sprintf(hex + 2 * i, "%02x", mac[i]);
    }
}


static void
test_hmac(void)
{
    char           hex[65];
    unsigned char  key20[20], key131[131];

    /* RFC 4231 test case 2: key "Jefe", "what do ya want for nothing?" */

    hmac_hex("Jefe", 4, "what do ya want for nothing?", hex);
    ok(strcmp(hex, "5bdcc146bf60754e6a042426089575c7"
                   "5a003f089d2739839dec58b964ec3843") == 0,
       "HMAC-SHA256 of RFC 4231 case 2: %s", hex);

    /* test case 1: 20 bytes of 0x0b, "Hi There" */

    memset(key20, 0x0b, sizeof(key20));
    hmac_hex(key20, sizeof(key20), "Hi There", hex);
    ok(strcmp(hex, "b0344c61d8db38535ca8afceaf0bf12b"
                   "881dc200c9833da726e9376c2e32cff7") == 0,
       "HMAC-SHA256 of RFC 4231 case 1: %s", hex);

    /* test case 6: a key longer than a block is hashed first */

    memset(key131, 0xaa, sizeof(key131));
    hmac_hex(key131, sizeof(key131),
             "Test Using Larger Than Block-Size Key - Hash Key First", hex);
    ok(strcmp(hex, "60e431591ee0b67f0d8a26aacbf5b77f"
                   "8e0bc6213728c5140546040f0ee37f54") == 0,
       "HMAC-SHA256 of RFC 4231 case 6 (131-byte key): %s", hex);
}


static void
test_ids(void)
{
    int                        bad, i, rc;
    char                       id[AI_RELEASE_FEEDBACK_ID_LEN + 1],
                               id2[AI_RELEASE_FEEDBACK_ID_LEN + 1], c;
    unsigned char              tag[8], tag2[8], digest[32];
    ai_release_feedback_id_t   out;
    ai_release_feedback_key_t  key, other;

    ai_release_feedback_key_init(&key, SECRET, sizeof(SECRET) - 1);
    ai_release_feedback_key_init(&other, OTHER, sizeof(OTHER) - 1);
    ai_release_feedback_tag("chat", 4, tag);
    ai_release_feedback_tag("search", 6, tag2);

    for (i = 0; i < 32; i++) {
        digest[i] = (unsigned char) (i * 7 + 1);
    }

    ai_release_feedback_id_make(&key, tag, digest, 0x00abcdef12345678ULL,
                                id);
    id[AI_RELEASE_FEEDBACK_ID_LEN] = '\0';

    ok(strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                  "0123456789-_") == AI_RELEASE_FEEDBACK_ID_LEN,
       "an id is %d base64url characters: %s", AI_RELEASE_FEEDBACK_ID_LEN,
       id);

    memset(&out, 0, sizeof(out));
    rc = ai_release_feedback_id_verify(&key, id, strlen(id), &out);

    ok(rc == 0 && memcmp(out.tag, tag, 8) == 0
       && memcmp(out.digest, digest, 16) == 0
       && out.nonce == 0x00abcdef12345678ULL,
       "a genuine id verifies and names its workflow, digest and nonce");

    ok(ai_release_feedback_id_verify(&other, id, strlen(id), &out) == -1,
       "another secret refuses it (an instance of another fleet)");

    /* every character changed, one at a time */

    bad = 0;

    for (i = 0; i < AI_RELEASE_FEEDBACK_ID_LEN; i++) {
        memcpy(id2, id, sizeof(id2));
        c = id2[i];
        id2[i] = (c == 'A') ? 'B' : 'A';

        if (ai_release_feedback_id_verify(&key, id2, strlen(id2), &out)
            == 0)
        {
            bad++;
        }
    }

    ok(bad == 0, "no id with one character changed verifies (%d did)", bad);

    /* the same nonce for another workflow or digest: another id */

    ai_release_feedback_id_make(&key, tag2, digest, 0x00abcdef12345678ULL,
                                id2);
    id2[AI_RELEASE_FEEDBACK_ID_LEN] = '\0';

    ok(strcmp(id, id2) != 0
       && ai_release_feedback_id_verify(&key, id2, strlen(id2), &out) == 0
       && memcmp(out.tag, tag2, 8) == 0,
       "another workflow's id names that workflow");

    /* id's MAC on id2's fields: what a forger of another slot would try */

    memcpy(id2 + 43, id + 43, AI_RELEASE_FEEDBACK_ID_LEN - 43);

    ok(ai_release_feedback_id_verify(&key, id2, strlen(id2), &out) == -1,
       "a MAC moved onto another workflow's fields is refused");

    ok(ai_release_feedback_id_verify(&key, id, 63, &out) == -1
       && ai_release_feedback_id_verify(&key, "", 0, &out) == -1,
       "a short id is refused");

    memcpy(id2, id, sizeof(id2));
    id2[5] = '=';

    ok(ai_release_feedback_id_verify(&key, id2, 64, &out) == -1,
       "a character outside base64url is refused");
}


static void
test_bodies(void)
{
    int                          n;
    char                         err[256], big[8192];
    size_t                       i, len, cut;
    ai_release_feedback_item_t   items[AI_RELEASE_FEEDBACK_MAX_ITEMS];

#define PARSE(s)                                                             \
    ai_release_feedback_parse(s, strlen(s), items,                           \
                              AI_RELEASE_FEEDBACK_MAX_ITEMS, err,            \
                              sizeof(err))

    n = PARSE("{\"release_id\":\"abc\",\"outcome\":\"corrected\"}");
    ok(n == 1 && items[0].outcome == AI_RELEASE_FEEDBACK_CORRECTED
       && items[0].id_len == 3 && strcmp(items[0].id, "abc") == 0,
       "one object: one item");

    n = PARSE("[{\"release_id\":\"a\",\"outcome\":\"accepted\"},"
              "{\"release_id\":\"b\",\"outcome\":\"rejected\",\"note\":1}]");
    ok(n == 2 && items[0].outcome == AI_RELEASE_FEEDBACK_ACCEPTED
       && items[1].outcome == AI_RELEASE_FEEDBACK_REJECTED,
       "an array: its items, other members ignored");

    n = PARSE("{\"release_id\":\"a\",\"outcome\":\"fine\"}");
    ok(n == -1 && strstr(err, "unknown outcome \"fine\"") != NULL,
       "an unknown outcome: %s", err);

    n = PARSE("[{\"release_id\":\"a\",\"outcome\":\"accepted\"},"
              "{\"release_id\":\"b\",\"outcome\":\"meh\"}]");
    ok(n == -1 && strstr(err, "item 1") != NULL,
       "one bad item fails the array: %s", err);

    n = PARSE("{\"release_id\":1,\"outcome\":\"accepted\"}");
    ok(n == -1, "a release_id that is no string: %s", err);

    n = PARSE("{\"outcome\":\"accepted\"}");
    ok(n == -1, "no release_id: %s", err);

    n = PARSE("{\"release_id\":\"a\"");
    ok(n == -1 && strstr(err, "invalid JSON") != NULL,
       "malformed JSON: %s", err);

    n = PARSE("[]");
    ok(n == -1, "an empty array: %s", err);

    n = PARSE("\"x\"");
    ok(n == -1, "a string: %s", err);

    n = PARSE("{\"release_id\":\"a\",\"release_id\":\"b\","
              "\"outcome\":\"accepted\"}");
    ok(n == -1, "a duplicate member: %s", err);

    /* the limit: 100 items pass, 101 do not */

    len = 0;
    big[len++] = '[';

    cut = 0;

    for (i = 0; i < AI_RELEASE_FEEDBACK_MAX_ITEMS + 1; i++) {
        cut = len;
        len += sprintf(big + len, "%s{\"release_id\":\"x\","
                       "\"outcome\":\"accepted\"}", i ? "," : "");
    }

    big[len++] = ']';

    n = ai_release_feedback_parse(big, len, items,
                                  AI_RELEASE_FEEDBACK_MAX_ITEMS, err,
                                  sizeof(err));
    ok(n == -1, "%d items are too many: %s",
       AI_RELEASE_FEEDBACK_MAX_ITEMS + 1, err);

    len = cut;
    big[len++] = ']';

    n = ai_release_feedback_parse(big, len, items,
                                  AI_RELEASE_FEEDBACK_MAX_ITEMS, err,
                                  sizeof(err));
    ok(n == AI_RELEASE_FEEDBACK_MAX_ITEMS, "%d items pass",
       AI_RELEASE_FEEDBACK_MAX_ITEMS);

    /* a long id is kept out of the item, and never verifies */

    len = sprintf(big, "{\"release_id\":\"");
    memset(big + len, 'A', 200);
    len += 200;
    len += sprintf(big + len, "\",\"outcome\":\"accepted\"}");
    n = ai_release_feedback_parse(big, len, items, 1, err, sizeof(err));
    ok(n == 1 && items[0].id_len == 200 && items[0].id[0] == '\0',
       "a 200-character id is noted as too long");

#undef PARSE
}


static void
test_window(void)
{
    uint64_t                      w[3];
    ai_release_feedback_window_t  win;

    ai_release_feedback_window_init(&win, 16000);

    ai_release_feedback_window_add(&win, AI_RELEASE_FEEDBACK_ACCEPTED, 100000);
    ai_release_feedback_window_add(&win, AI_RELEASE_FEEDBACK_CORRECTED,
                                   100000);
    ai_release_feedback_window_add(&win, AI_RELEASE_FEEDBACK_CORRECTED,
                                   108000);
    ai_release_feedback_window_add(&win, AI_RELEASE_FEEDBACK_REJECTED,
                                   110000);

    ai_release_feedback_window_sum(&win, 110000, w);
    ok(w[0] == 1 && w[1] == 2 && w[2] == 1, "the window holds 1/2/1");

    ai_release_feedback_window_sum(&win, 116500, w);
    ok(w[0] == 0 && w[1] == 1 && w[2] == 1,
       "16.5 s later the first second's are gone: %lu/%lu/%lu",
       (unsigned long) w[0], (unsigned long) w[1], (unsigned long) w[2]);

    ai_release_feedback_window_sum(&win, 200000, w);
    ok(w[0] + w[1] + w[2] == 0, "a window later it is empty");
}


static void
test_trip(void)
{
    char                    err[128];
    uint64_t                w[3], s[3];
    ai_release_trip_conf_t  conf;

    ai_release_trip_defaults(&conf);

    ok(conf.correction_rate == 0 && conf.min_feedback == 20,
       "defaults: rule off, min_feedback=20");

    w[0] = 0; w[1] = 50; w[2] = 50;
    ok(ai_release_feedback_trip_check(&conf, w, NULL) == AI_RELEASE_TRIP_NONE,
       "without correction_rate nothing trips");

    ok(ai_release_trip_parse(&conf, "correction_rate=30%", 19, err,
                             sizeof(err)) == 0
       && conf.correction_rate == 3000, "correction_rate=30%% parses");
    ok(ai_release_trip_parse(&conf, "min_feedback=10", 15, err,
                             sizeof(err)) == 0
       && conf.min_feedback == 10, "min_feedback=10 parses");
    ok(ai_release_trip_parse(&conf, "correction_rate=0%", 18, err,
                             sizeof(err)) == -1
       && ai_release_trip_parse(&conf, "correction_rate=101%", 20, err,
                                sizeof(err)) == -1
       && ai_release_trip_parse(&conf, "min_feedback=0", 14, err,
                                sizeof(err)) == -1,
       "0%%, 101%% and min_feedback=0 are refused");

    /* 3 bad of 9: below min_feedback; 3 of 10 (30%) trips; 2 of 10 not */

    w[0] = 6; w[1] = 2; w[2] = 1;
    ok(ai_release_feedback_trip_check(&conf, w, NULL) == AI_RELEASE_TRIP_NONE,
       "3 bad of 9: below min_feedback");

    w[0] = 7; w[1] = 2; w[2] = 1;
    ok(ai_release_feedback_trip_check(&conf, w, NULL) == AI_RELEASE_TRIP_RATE,
       "3 bad of 10 (30%%) trips");

    w[0] = 8; w[1] = 1; w[2] = 1;
    ok(ai_release_feedback_trip_check(&conf, w, NULL) == AI_RELEASE_TRIP_NONE,
       "2 bad of 10 (20%%) does not");

    /* a canary: 25% against stable's 1%, margin 5%, enough answers */

    conf.correction_rate = 9000;
    w[0] = 150; w[1] = 40; w[2] = 10;
    s[0] = 990; s[1] = 10; s[2] = 0;
    ok(ai_release_feedback_trip_check(&conf, w, s) == AI_RELEASE_TRIP_MARGIN,
       "a canary worse than stable by the margin trips");
    ok(ai_release_feedback_trip_check(&conf, w, NULL) == AI_RELEASE_TRIP_NONE,
       "the same as stable (no margin rule) does not");

    conf.canary_margin = AI_RELEASE_MARGIN_OFF;
    ok(ai_release_feedback_trip_check(&conf, w, s) == AI_RELEASE_TRIP_NONE,
       "canary_margin=off: it does not");

    conf.enabled = 0;
    conf.correction_rate = 100;
    ok(ai_release_feedback_trip_check(&conf, w, NULL) == AI_RELEASE_TRIP_NONE,
       "trip off: nothing trips");
}
