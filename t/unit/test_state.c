
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Unit tests of the state file (ai_release_state.c): what parses, what is
 * refused and why, and that what the module writes reads back the same.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "ai_release_core.h"
#include "tap.h"


#define D64  "abababababababababababababababababababababababababababababababab"


static int
refused(const char *text, const char *want)
{
    int                 rc;
    char                err[256];
    ai_release_state_t  st;

    rc = ai_release_state_parse(text, strlen(text), &st, err, sizeof(err));

    if (rc == 0) {
        ai_release_state_free(&st);
        return 0;
    }

    if (strstr(err, want) == NULL) {
        printf("# error \"%s\" lacks \"%s\"\n", err, want);
        return 0;
    }

    return st.entries == NULL && st.n == 0;
}


int
main(void)
{
    int                       rc;
    char                      err[256], *text, path[64];
    size_t                    len;
    ai_release_state_t        st, back;
    ai_release_state_entry_t  *e;
    unsigned char             digest[AI_RELEASE_SHA256_LEN];
    char                      hex[AI_RELEASE_DIGEST_HEX_LEN + 1];

    static const char  good[] =
        "{\"ai_release_state\": 1, \"written\": \"2026-11-29T18:00:00Z\","
        " \"future\": true, \"entries\": ["
        "{\"workflow\": \"support-drafts\", \"bundle\": \"support-drafts@4\","
        " \"digest\": \"sha256:" D64 "\","
        " \"breaker\": {\"state\": \"open\", \"reason\": \"consecutive\","
        " \"trips\": 3, \"since\": 1764439200, \"cooldown_ms\": 60000,"
        " \"open_until_ms\": 1764439260000},"
        " \"overrides\": {\"pin\": {\"at\": 1764439100, \"by\": \"10.0.0.7\"}}},"
        "{\"workflow\": \"w\", \"bundle\": \"w@1\","
        " \"digest\": \"sha256:" D64 "\", \"overrides\": {}}]}";

    /* a good file */

    rc = ai_release_state_parse(good, strlen(good), &st, err, sizeof(err));
    ok(rc == 0, "a good state file parses (%s)", rc ? err : "");
    ok(st.n == 2, "two entries");

    e = &st.entries[0];
    ok(strcmp(e->workflow, "support-drafts") == 0
       && strcmp(e->bundle, "support-drafts@4") == 0, "names");
    ok(e->digest[0] == 0xab && e->digest[31] == 0xab, "the digest's bytes");
    ok(e->open && e->reason == 2 && e->trips == 3
       && e->cooldown_ms == 60000 && e->since == 1764439200
       && e->open_until_ms == 1764439260000LL, "the open breaker");
    ok(strcmp(ai_release_state_reason_name(e->reason), "consecutive") == 0,
       "its reason's name");
    ok(!e->ovr[0].set && e->ovr[1].set && !e->ovr[2].set
       && e->ovr[1].at == 1764439100
       && strcmp(e->ovr[1].by, "10.0.0.7") == 0, "one pin override");
    ok(!st.entries[1].open && !st.entries[1].ovr[1].set,
       "the second entry: nothing open, nothing set");

    /* the round trip: what the module writes reads back the same */

    text = ai_release_state_format(&st, 1764439300LL, &len);
    ok(text != NULL && strstr(text, "\"written\": \"2025-11-29T18:")
                       != NULL, "formatted, with the time written");
    rc = ai_release_state_parse(text, len, &back, err, sizeof(err));
    ok(rc == 0 && back.n == 2
       && memcmp(back.entries, st.entries,
                 2 * sizeof(ai_release_state_entry_t)) == 0,
       "and it parses back to the same entries");
    free(text);
    ai_release_state_free(&back);
    ai_release_state_free(&st);

    /* what is refused, and the message says why */

    ok(refused("", "empty"), "an empty file");
    ok(refused("{\"ai_release_state\": 1, \"entries\": [",
               "line 1"), "a truncated file, with the line and column");
    ok(refused("\x01\x02\xff binary", "line 1"), "binary bytes");
    ok(refused("[]", "not a JSON object"), "an array");
    ok(refused("{\"entries\": []}", "not 1"), "no version");
    ok(refused("{\"ai_release_state\": 2, \"entries\": []}", "not 1"),
       "another version");
    ok(refused("{\"ai_release_state\": 1}", "\"entries\" is not an array"),
       "no entries");
    ok(refused("{\"ai_release_state\": 1, \"ai_release_state\": 1,"
               " \"entries\": []}", "duplicate"), "a duplicate key");
    ok(refused("{\"ai_release_state\": 1, \"entries\": [1]}",
               "entry 0 is not an object"), "an entry that is no object");
    ok(refused("{\"ai_release_state\": 1, \"entries\": [{\"workflow\": \"a b\","
               " \"bundle\": \"x@1\", \"digest\": \"sha256:" D64 "\"}]}",
               "invalid workflow name"), "an invalid workflow name");
    ok(refused("{\"ai_release_state\": 1, \"entries\": [{\"workflow\": \"a\","
               " \"bundle\": \"x@1\", \"digest\": \"sha256:abc\"}]}",
               "64 hex digits"), "a short digest");
    ok(refused("{\"ai_release_state\": 1, \"entries\": [{\"workflow\": \"a\","
               " \"bundle\": \"x\\n@1\", \"digest\": \"sha256:" D64 "\"}]}",
               "control characters"), "a control character in a name");
    ok(refused("{\"ai_release_state\": 1, \"entries\": [{\"workflow\": \"a\","
               " \"bundle\": \"x@1\", \"digest\": \"sha256:" D64 "\","
               " \"breaker\": {\"state\": \"half-open\"}}]}",
               "not \"open\""), "a breaker state other than open");
    ok(refused("{\"ai_release_state\": 1, \"entries\": [{\"workflow\": \"a\","
               " \"bundle\": \"x@1\", \"digest\": \"sha256:" D64 "\","
               " \"breaker\": {\"state\": \"open\", \"reason\": \"bored\"}}]}",
               "unknown breaker reason"), "an unknown reason");
    ok(refused("{\"ai_release_state\": 1, \"entries\": [{\"workflow\": \"a\","
               " \"bundle\": \"x@1\", \"digest\": \"sha256:" D64 "\","
               " \"overrides\": {\"pin\": {\"at\": -5, \"by\": \"x\"}}}]}",
               "integer >= 0"), "a negative time");

    /* digests both ways */

    ok(ai_release_digest_parse("sha256:" D64, 71, digest) == 0,
       "digest_parse");
    ai_release_digest_format(digest, hex);
    ok(strcmp(hex, "sha256:" D64) == 0, "digest_format gives it back");
    ok(ai_release_digest_parse("sha256:" D64, 70, digest) != 0
       && ai_release_digest_parse("sha257:" D64, 71, digest) != 0,
       "wrong length or prefix: refused");

    /* files: the same reading rules as manifests */

    snprintf(path, sizeof(path), "/tmp/air-state-%d", (int) getpid());
    ok(write_file(path, good) == 0, "a state file on disk");
    ok(ai_release_state_load(path, &st, err, sizeof(err)) == 0 && st.n == 2,
       "ai_release_state_load reads it");
    ai_release_state_free(&st);
    unlink(path);
    ok(ai_release_state_load(path, &st, err, sizeof(err)) != 0
       && strstr(err, "No such file") != NULL, "a missing file");
    ok(mkfifo(path, 0600) == 0, "a FIFO");
    ok(ai_release_state_load(path, &st, err, sizeof(err)) != 0
       && strstr(err, "not a regular file") != NULL,
       "is refused without blocking");
    unlink(path);

    return tap_done();
}
