
/*
 * Copyright (C) ngx_ai_release authors
 *
 * The bodies of the control API's POSTs, in plain C so that the fuzzers
 * reach the very code nginx runs:
 *
 *     POST .../workflows/NAME/rollback       (no body, or {} ...)
 *     POST .../workflows/NAME/pin            {"bundle":"name@version"}
 *
 * An empty body, or one of only blanks, is no body.  Anything else must
 * be a JSON object; other keys are ignored.  The bundle is not validated
 * here: the caller looks it up and answers 404 when it is unknown.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ai_release_core.h"


static int ai_release_api_error(char *err, size_t err_size,
    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;


int
ai_release_api_body_parse(const char *body, size_t len, int need_bundle,
    char *bundle, size_t bundle_size, char *err, size_t err_size)
{
    size_t         i, n;
    json_t        *json;
    const char    *s;
    json_error_t   jerr;
    const json_t  *value;

    if (err_size > 0) {
        err[0] = '\0';
    }

    if (bundle != NULL && bundle_size > 0) {
        bundle[0] = '\0';
    }

    if (body == NULL) {
        len = 0;
    }

    for (i = 0; i < len; i++) {
        if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r'
            && body[i] != '\n')
        {
            break;
        }
    }

    if (i == len) {

        /* no body */

        if (!need_bundle) {
            return 0;
        }

        return ai_release_api_error(err, err_size, "the request body needs "
                                    "{\"bundle\": \"name@version\"}");
    }

    json = json_loadb(body, len, 0, &jerr);

    if (json == NULL) {
        return ai_release_api_error(err, err_size, "the request body is not "
                                    "a JSON object: %s", jerr.text);
    }

    if (!json_is_object(json)) {
        json_decref(json);
        return ai_release_api_error(err, err_size, "the request body is not "
                                    "a JSON object: another JSON value");
    }

    if (!need_bundle) {
        json_decref(json);
        return 0;
    }

    value = json_object_get(json, "bundle");

    if (value == NULL || !json_is_string(value)) {
        json_decref(json);
        return ai_release_api_error(err, err_size, "the request body needs "
                                    "{\"bundle\": \"name@version\"}");
    }

    s = json_string_value(value);
    n = json_string_length(value);

    if (n == 0) {
        json_decref(json);
        return ai_release_api_error(err, err_size,
                                    "\"bundle\" must not be empty");
    }

    /* jansson rejects \u0000 unless told otherwise; the caller wants C */

    if (memchr(s, '\0', n) != NULL) {
        json_decref(json);
        return ai_release_api_error(err, err_size,
                                    "\"bundle\" cannot contain NUL");
    }

    if (bundle == NULL || n >= bundle_size) {
        json_decref(json);
        return ai_release_api_error(err, err_size,
                                    "\"bundle\" is longer than %zu bytes",
                                    bundle_size ? bundle_size - 1 : 0);
    }

    memcpy(bundle, s, n);
    bundle[n] = '\0';

    json_decref(json);

    return 0;
}


static int
ai_release_api_error(char *err, size_t err_size, const char *fmt, ...)
{
    va_list  args;

    if (err_size > 0) {
        va_start(args, fmt);
        (void) vsnprintf(err, err_size, fmt, args);
        va_end(args);
    }

    return -1;
}
