
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Fuzz target: the control API's request bodies, through
 * ai_release_api_body_parse(): with and without a bundle required, into
 * a roomy buffer (as nginx, whose buffer holds any string the body can
 * hold) and a tight one.  The same bytes are also the request headers the
 * API checks: a Content-Type, a Sec-Fetch-Site, an Origin and a Host (the
 * input split at its first LF), an Authorization, and a token file.
 */


#include "fuzz.h"


#define FUZZ_BUNDLE_TIGHT  16
#define FUZZ_TOKEN         "fuzz-token-0123456789"


static void fuzz_api_body_one(const char *body, size_t len, int need,
    size_t bundle_size);
static void fuzz_api_headers(const char *p, size_t len);
static void fuzz_api_origin(const char *p, size_t len);


int
fuzz_one_api_body(const uint8_t *data, size_t size)
{
    char  *body;

    /* exactly the input, not NUL-terminated: reading past it is caught */

    body = malloc(size ? size : 1);
    FUZZ_CHECK(body != NULL);

    if (size) {
        memcpy(body, data, size);
    }

    fuzz_api_body_one(body, size, 0, size + 1);
    fuzz_api_body_one(body, size, 1, size + 1);
    fuzz_api_body_one(body, size, 1, FUZZ_BUNDLE_TIGHT);
    fuzz_api_body_one(body, size, 1, 1);

    fuzz_api_headers(body, size);
    fuzz_api_origin(body, size);

    free(body);

    return 0;
}


static void
fuzz_api_body_one(const char *body, size_t len, int need, size_t bundle_size)
{
    int     rc;
    char   *bundle, err[64];
    size_t  n;

    bundle = malloc(bundle_size);
    FUZZ_CHECK(bundle != NULL);

    memset(bundle, 'b', bundle_size);
    memset(err, 'e', sizeof(err));

    rc = ai_release_api_body_parse(body, len, need, bundle, bundle_size, err,
                                   sizeof(err));

    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);

    if (rc == 0) {
        FUZZ_CHECK(err[0] == '\0');

        n = strnlen(bundle, bundle_size);
        FUZZ_CHECK(n < bundle_size);

        /* a bundle when one is needed, nothing otherwise */
        FUZZ_CHECK(need ? n > 0 : n == 0);

    } else {
        FUZZ_CHECK(err[0] != '\0');
    }

    free(bundle);
}


static void
fuzz_api_headers(const char *p, size_t len)
{
    int      rc;
    char     err[64];
    size_t   i, n, tlen;

    tlen = sizeof(FUZZ_TOKEN) - 1;

    /* Content-Type: what passes starts with application/json */

    rc = ai_release_api_json_type(p, len);
    FUZZ_CHECK(rc == 0 || rc == 1);

    if (rc) {
        for (i = 0; i < len && (p[i] == ' ' || p[i] == '\t'); i++) {
            /* void */
        }

        FUZZ_CHECK(len - i >= 16
                   && strncasecmp(p + i, "application/json", 16) == 0);
    }

    rc = ai_release_api_fetch_site_ok(p, len);
    FUZZ_CHECK(rc == 0 || (rc == 1 && (len == 4 || len == 11)));

    /* Authorization: what passes ends with exactly the token */

    rc = ai_release_api_bearer_ok(p, len, FUZZ_TOKEN, tlen);
    FUZZ_CHECK(rc == 0 || rc == 1);

    if (rc) {
        FUZZ_CHECK(len > tlen + 6
                   && memcmp(p + len - tlen, FUZZ_TOKEN, tlen) == 0);
    }

    /* the comparison itself: memcmp's answer */

    FUZZ_CHECK(ai_release_equal_ct(p, len, p, len) == 1);

    if (len > 0) {
        FUZZ_CHECK(ai_release_equal_ct(p, len, p, len - 1) == 0);
        n = len / 2;
        FUZZ_CHECK(ai_release_equal_ct(p, n, p + len - n, n)
                   == (memcmp(p, p + len - n, n) == 0));
    }

    /* the token file: what passes is 16 to 1024 visible ASCII bytes */

    n = len;
    memset(err, 'e', sizeof(err));

    rc = ai_release_api_token_check(p, &n, err, sizeof(err));
    FUZZ_CHECK(n <= len);
    FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);

    if (rc == 0) {
        FUZZ_CHECK(err[0] == '\0');
        FUZZ_CHECK(n >= AI_RELEASE_API_TOKEN_MIN
                   && n <= AI_RELEASE_API_TOKEN_MAX);

        for (i = 0; i < n; i++) {
            FUZZ_CHECK(p[i] >= 0x21 && p[i] <= 0x7e);
        }

        /* a token alone, without "Bearer ", is no Authorization */

        FUZZ_CHECK(ai_release_api_bearer_ok(p, n, p, n) == 0);

    } else {
        FUZZ_CHECK(rc == -1 && err[0] != '\0');
    }
}


/* "ORIGIN\nHOST", or all of it as the Origin with no Host */

static void
fuzz_api_origin(const char *p, size_t len)
{
    int          https, rc;
    size_t       olen, hlen, k;
    const char  *lf, *host;

    lf = memchr(p, '\n', len);

    olen = lf ? (size_t) (lf - p) : len;
    host = lf ? lf + 1 : NULL;
    hlen = lf ? len - olen - 1 : 0;

    for (https = 0; https <= 1; https++) {
        rc = ai_release_api_same_origin(p, olen, https, host, hlen);
        FUZZ_CHECK(rc == 0 || rc == 1);

        if (!rc) {
            continue;
        }

        k = https ? 8 : 7;

        FUZZ_CHECK(host != NULL && olen > k
                   && strncasecmp(p, https ? "https://" : "http://", k)
                      == 0);

        /* the Origin's own host and port are a Host of the same origin */

        FUZZ_CHECK(ai_release_api_same_origin(p, olen, https, p + k,
                                              olen - k)
                   == 1);

        /* the other scheme never matches */

        FUZZ_CHECK(ai_release_api_same_origin(p, olen, !https, host, hlen)
                   == 0);
    }
}


#ifndef AI_RELEASE_NO_LIBFUZZER_MAIN

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_one_api_body(data, size);
}

#endif
