
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Fuzz target: the control API's request bodies, through
 * ai_release_api_body_parse(): with and without a bundle required, into
 * a roomy buffer (as nginx, whose buffer holds any string the body can
 * hold) and a tight one.
 */


#include "fuzz.h"


#define FUZZ_BUNDLE_TIGHT  16


static void fuzz_api_body_one(const char *body, size_t len, int need,
    size_t bundle_size);


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


#ifndef AI_RELEASE_NO_LIBFUZZER_MAIN

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_one_api_body(data, size);
}

#endif
