
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
 *
 * And the request headers that keep other sites out: Content-Type,
 * Origin, Sec-Fetch-Site, and the bearer token of Authorization, with the
 * check of the token file's content.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "ai_release_core.h"


static int ai_release_api_error(char *err, size_t err_size,
    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int ai_release_api_equal_nocase(const char *s, size_t len,
    const char *lower);
static int ai_release_api_host_port(const char *p, const char *end,
    unsigned default_port, const char **host, size_t *hlen,
    unsigned *port);


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


int
ai_release_api_json_type(const char *value, size_t len)
{
    size_t  i, n;

    n = sizeof("application/json") - 1;

    for (i = 0; i < len && (value[i] == ' ' || value[i] == '\t'); i++) {
        /* void */
    }

    if (len - i < n
        || !ai_release_api_equal_nocase(value + i, n, "application/json"))
    {
        return 0;
    }

    for (i += n; i < len && (value[i] == ' ' || value[i] == '\t'); i++) {
        /* void */
    }

    /* "application/json-seq" or "application/jsonx" are other types */

    return i == len || value[i] == ';';
}


int
ai_release_api_fetch_site_ok(const char *value, size_t len)
{
    return ai_release_api_equal_nocase(value, len, "same-origin")
           || ai_release_api_equal_nocase(value, len, "none");
}


int
ai_release_api_same_origin(const char *origin, size_t olen, int https,
    const char *host, size_t hlen)
{
    size_t       n, ohlen, rhlen;
    unsigned     oport, rport, def;
    const char  *scheme, *ohost, *rhost;

    scheme = https ? "https://" : "http://";
    def = https ? 443 : 80;
    n = strlen(scheme);

    /* no Host (HTTP/1.0): nothing to be the same as */

    if (host == NULL || hlen == 0 || origin == NULL || olen < n
        || !ai_release_api_equal_nocase(origin, n, scheme))
    {
        return 0;
    }

    if (ai_release_api_host_port(origin + n, origin + olen, def, &ohost,
                                 &ohlen, &oport)
        != 0
        || ai_release_api_host_port(host, host + hlen, def, &rhost, &rhlen,
                                    &rport)
           != 0)
    {
        return 0;
    }

    return oport == rport && ohlen == rhlen
           && strncasecmp(ohost, rhost, ohlen) == 0;
}


int
ai_release_api_token_check(const char *buf, size_t *len, char *err,
    size_t err_size)
{
    size_t  i, n;

    if (err_size > 0) {
        err[0] = '\0';
    }

    n = buf ? *len : 0;

    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        n--;
    }

    *len = n;

    if (n == 0) {
        return ai_release_api_error(err, err_size, "the token is empty");
    }

    if (n < AI_RELEASE_API_TOKEN_MIN) {
        return ai_release_api_error(err, err_size, "the token is %zu bytes "
                                    "long, it must be at least %d", n,
                                    AI_RELEASE_API_TOKEN_MIN);
    }

    if (n > AI_RELEASE_API_TOKEN_MAX) {
        return ai_release_api_error(err, err_size, "the token is longer "
                                    "than %d bytes", AI_RELEASE_API_TOKEN_MAX);
    }

    for (i = 0; i < n; i++) {
        if (buf[i] < 0x21 || buf[i] > 0x7e) {
            return ai_release_api_error(err, err_size, "the token has a "
                                        "byte other than visible ASCII at "
                                        "offset %zu (only its last line "
                                        "break is removed)", i);
        }
    }

    return 0;
}


int
ai_release_api_bearer_ok(const char *value, size_t len, const char *token,
    size_t tlen)
{
    size_t  i, n;

    n = sizeof("Bearer") - 1;

    if (len <= n || !ai_release_api_equal_nocase(value, n, "bearer")
        || (value[n] != ' ' && value[n] != '\t'))
    {
        return 0;
    }

    for (i = n; i < len && (value[i] == ' ' || value[i] == '\t'); i++) {
        /* void */
    }

    return ai_release_equal_ct(value + i, len - i, token, tlen);
}


int
ai_release_equal_ct(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t                i, n;
    unsigned char         x, y;
    volatile size_t       diff;
    const unsigned char  *p, *q;

    p = a;
    q = b;
    n = alen > blen ? alen : blen;

    diff = alen ^ blen;

    for (i = 0; i < n; i++) {
        x = i < alen ? p[i] : 0;
        y = i < blen ? q[i] : 0;
        diff |= (size_t) (x ^ y);
    }

    return diff == 0;
}


/* s of len bytes equals the lowercase string, in any case */

static int
ai_release_api_equal_nocase(const char *s, size_t len, const char *lower)
{
    size_t  i;
    char    c;

    if (len != strlen(lower)) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = s[i];

        if (c >= 'A' && c <= 'Z') {
            c = (char) (c - 'A' + 'a');
        }

        if (c != lower[i]) {
            return 0;
        }
    }

    return 1;
}


/*
 * "host", "host:port" or "[v6]:port", the whole of p .. end: 0 with the
 * host and the port (default_port when none is given), or -1
 */

static int
ai_release_api_host_port(const char *p, const char *end,
    unsigned default_port, const char **host, size_t *hlen, unsigned *port)
{
    char        c;
    unsigned    digits;
    const char  *h;

    h = p;

    if (p < end && *p == '[') {
        for (p++; p < end && *p != ']'; p++) {
            c = *p;

            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
                  || (c >= 'A' && c <= 'F') || c == ':' || c == '.'))
            {
                return -1;
            }
        }

        if (p == end || p - h < 3) {
            return -1;
        }

        p++;

    } else {
        for ( /* void */ ; p < end && *p != ':'; p++) {
            c = *p;

            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
                  || (c >= 'A' && c <= 'Z') || c == '-' || c == '.'
                  || c == '_'))
            {
                return -1;
            }
        }

        if (p == h) {
            return -1;
        }
    }

    *host = h;
    *hlen = (size_t) (p - h);
    *port = default_port;

    if (p == end) {
        return 0;
    }

    if (*p != ':' || ++p == end) {
        return -1;
    }

    *port = 0;

    for (digits = 0; p < end; p++, digits++) {
        if (*p < '0' || *p > '9' || digits == 5) {
            return -1;
        }

        *port = *port * 10 + (unsigned) (*p - '0');
    }

    return *port <= 65535 ? 0 : -1;
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
