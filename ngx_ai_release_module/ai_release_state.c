
/*
 * Copyright (C) ngx_ai_release authors
 *
 * The state file (ai_release_state): the decisions that are not in
 * nginx.conf, so that they survive a stop and start, a binary upgrade or a
 * reboot: API overrides and open breakers, per (workflow, bundle digest).
 * Counters and windows are not kept.  In plain C so that the module, the
 * ai-release tool ("ai-release state FILE") and the fuzzer share it.
 *
 *     {"ai_release_state": 1,
 *      "written": "2026-11-29T18:00:00Z",
 *      "entries": [
 *        {"workflow": "support-drafts", "bundle": "support-drafts@4",
 *         "digest": "sha256:<64 hex>",
 *         "breaker": {"state": "open", "reason": "rate", "trips": 2,
 *                     "since": 1764439200, "cooldown_ms": 60000,
 *                     "open_until_ms": 1764439260000},
 *         "overrides": {"trip": {"at": 1764439200, "by": "10.0.0.7"}}}]}
 *
 * "breaker" is there only for an open breaker; "open_until_ms" is the
 * wall-clock end of its cooldown (unix milliseconds), so that a cooldown
 * keeps counting while nginx is down.  Unknown keys are ignored.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ai_release_core.h"


static const char  *ai_release_state_ovr_names[AI_RELEASE_STATE_NOVR] = {
    "rollback", "pin", "trip"
};

static const char  *ai_release_state_reasons[AI_RELEASE_STATE_NREASONS] = {
    "", "rate", "consecutive", "margin", "probe", "manual", "drift",
    "correction_rate"
};


static int ai_release_state_fail(char *err, size_t errlen,
    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int ai_release_state_entry(json_t *e, size_t i,
    ai_release_state_entry_t *out, char *err, size_t errlen);
static int ai_release_state_string(json_t *o, const char *key, size_t i,
    char *buf, size_t size, int required, char *err, size_t errlen);
static int ai_release_state_integer(json_t *o, const char *key, size_t i,
    long long *v, char *err, size_t errlen);


const char *
ai_release_state_override_name(unsigned k)
{
    return k < AI_RELEASE_STATE_NOVR ? ai_release_state_ovr_names[k] : "?";
}


const char *
ai_release_state_reason_name(unsigned reason)
{
    return reason < AI_RELEASE_STATE_NREASONS
           ? ai_release_state_reasons[reason] : "";
}


static int
ai_release_state_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  args;

    if (errlen > 0) {
        va_start(args, fmt);
        vsnprintf(err, errlen, fmt, args);
        va_end(args);
    }

    return -1;
}


void
ai_release_state_free(ai_release_state_t *st)
{
    free(st->entries);
    st->entries = NULL;
    st->n = 0;
}


int
ai_release_state_load(const char *path, ai_release_state_t *st, char *err,
    size_t errlen)
{
    int      rc, e;
    char    *data;
    size_t   len;

    st->entries = NULL;
    st->n = 0;

    rc = ai_release_read_file(path, &data, &len, &e);

    if (rc != 0) {
        return ai_release_state_fail(err, errlen, "%s",
                                     ai_release_read_error(rc, e));
    }

    rc = ai_release_state_parse(data, len, st, err, errlen);

    free(data);

    return rc;
}


int
ai_release_state_parse(const char *data, size_t len, ai_release_state_t *st,
    char *err, size_t errlen)
{
    size_t         i, n;
    json_t        *root, *v, *entries;
    json_error_t   jerr;

    st->entries = NULL;
    st->n = 0;

    if (errlen > 0) {
        err[0] = '\0';
    }

    if (len == 0) {
        return ai_release_state_fail(err, errlen, "empty");
    }

    root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);

    if (root == NULL) {
        return ai_release_state_fail(err, errlen, "line %d, column %d: %s",
                                     jerr.line, jerr.column, jerr.text);
    }

    if (!json_is_object(root)) {
        json_decref(root);
        return ai_release_state_fail(err, errlen, "not a JSON object");
    }

    v = json_object_get(root, "ai_release_state");

    if (!json_is_integer(v) || json_integer_value(v) != AI_RELEASE_STATE_V) {
        json_decref(root);
        return ai_release_state_fail(err, errlen, "\"ai_release_state\" is "
                                     "not %d (not a state file of this "
                                     "version)", AI_RELEASE_STATE_V);
    }

    entries = json_object_get(root, "entries");

    if (!json_is_array(entries)) {
        json_decref(root);
        return ai_release_state_fail(err, errlen,
                                     "\"entries\" is not an array");
    }

    n = json_array_size(entries);

    if (n > AI_RELEASE_STATE_MAX_ENTRIES) {
        json_decref(root);
        return ai_release_state_fail(err, errlen, "more than %d entries",
                                     AI_RELEASE_STATE_MAX_ENTRIES);
    }

    if (n) {
        st->entries = calloc(n, sizeof(ai_release_state_entry_t));
        if (st->entries == NULL) {
            json_decref(root);
            return ai_release_state_fail(err, errlen, "out of memory");
        }
    }

    for (i = 0; i < n; i++) {
        if (ai_release_state_entry(json_array_get(entries, i), i,
                                   &st->entries[i], err, errlen)
            != 0)
        {
            json_decref(root);
            ai_release_state_free(st);
            return -1;
        }
    }

    st->n = n;

    json_decref(root);

    return 0;
}


static int
ai_release_state_entry(json_t *e, size_t i, ai_release_state_entry_t *out,
    char *err, size_t errlen)
{
    char        hex[AI_RELEASE_DIGEST_HEX_LEN + 2], reason[32], state[16];
    unsigned    k, r;
    json_t     *b, *ovr, *o;
    long long   v;

    if (!json_is_object(e)) {
        return ai_release_state_fail(err, errlen,
                                     "entry %zu is not an object", i);
    }

    if (ai_release_state_string(e, "workflow", i, out->workflow,
                                sizeof(out->workflow), 1, err, errlen)
        != 0
        || ai_release_state_string(e, "bundle", i, out->bundle,
                                   sizeof(out->bundle), 1, err, errlen)
           != 0
        || ai_release_state_string(e, "digest", i, hex, sizeof(hex), 1,
                                   err, errlen)
           != 0)
    {
        return -1;
    }

    if (!ai_release_valid_name(out->workflow, strlen(out->workflow))) {
        return ai_release_state_fail(err, errlen, "entry %zu: invalid "
                                     "workflow name", i);
    }

    if (ai_release_digest_parse(hex, strlen(hex), out->digest) != 0) {
        return ai_release_state_fail(err, errlen, "entry %zu: \"digest\" is "
                                     "not \"sha256:\" and 64 hex digits", i);
    }

    b = json_object_get(e, "breaker");

    if (b != NULL && !json_is_null(b)) {
        if (!json_is_object(b)) {
            return ai_release_state_fail(err, errlen, "entry %zu: "
                                         "\"breaker\" is not an object", i);
        }

        if (ai_release_state_string(b, "state", i, state, sizeof(state), 1,
                                    err, errlen)
            != 0)
        {
            return -1;
        }

        if (strcmp(state, "open") != 0) {
            return ai_release_state_fail(err, errlen, "entry %zu: breaker "
                                         "state is not \"open\"", i);
        }

        if (ai_release_state_string(b, "reason", i, reason, sizeof(reason),
                                    1, err, errlen)
            != 0)
        {
            return -1;
        }

        for (r = 1; r < AI_RELEASE_STATE_NREASONS; r++) {
            if (strcmp(reason, ai_release_state_reasons[r]) == 0) {
                break;
            }
        }

        if (r == AI_RELEASE_STATE_NREASONS) {
            return ai_release_state_fail(err, errlen, "entry %zu: unknown "
                                         "breaker reason", i);
        }

        out->open = 1;
        out->reason = r;

        if (ai_release_state_integer(b, "trips", i, &v, err, errlen) != 0) {
            return -1;
        }

        out->trips = (uint64_t) v;

        if (ai_release_state_integer(b, "since", i, &v, err, errlen) != 0) {
            return -1;
        }

        out->since = v;

        if (ai_release_state_integer(b, "cooldown_ms", i, &v, err, errlen)
            != 0)
        {
            return -1;
        }

        out->cooldown_ms = (uint64_t) v;

        if (ai_release_state_integer(b, "open_until_ms", i, &v, err, errlen)
            != 0)
        {
            return -1;
        }

        out->open_until_ms = v;
    }

    ovr = json_object_get(e, "overrides");

    if (ovr == NULL || json_is_null(ovr)) {
        return 0;
    }

    if (!json_is_object(ovr)) {
        return ai_release_state_fail(err, errlen, "entry %zu: \"overrides\" "
                                     "is not an object", i);
    }

    for (k = 0; k < AI_RELEASE_STATE_NOVR; k++) {
        o = json_object_get(ovr, ai_release_state_ovr_names[k]);

        if (o == NULL || json_is_null(o)) {
            continue;
        }

        if (!json_is_object(o)) {
            return ai_release_state_fail(err, errlen, "entry %zu: override "
                                         "\"%s\" is not an object", i,
                                         ai_release_state_ovr_names[k]);
        }

        if (ai_release_state_integer(o, "at", i, &v, err, errlen) != 0
            || ai_release_state_string(o, "by", i, out->ovr[k].by,
                                       sizeof(out->ovr[k].by), 0, err,
                                       errlen)
               != 0)
        {
            return -1;
        }

        out->ovr[k].set = 1;
        out->ovr[k].at = v;
    }

    return 0;
}


static int
ai_release_state_string(json_t *o, const char *key, size_t i, char *buf,
    size_t size, int required, char *err, size_t errlen)
{
    size_t   len;
    json_t  *v;

    buf[0] = '\0';
    v = json_object_get(o, key);

    if (v == NULL && !required) {
        return 0;
    }

    if (!json_is_string(v)) {
        return ai_release_state_fail(err, errlen, "entry %zu: \"%s\" is not "
                                     "a string", i, key);
    }

    len = json_string_length(v);

    if ((len == 0 && required) || len >= size) {
        return ai_release_state_fail(err, errlen, "entry %zu: \"%s\" is "
                                     "empty or longer than %zu bytes", i,
                                     key, size - 1);
    }

    if (memchr(json_string_value(v), '\0', len) != NULL
        || !ai_release_valid_header_value(json_string_value(v), len))
    {
        return ai_release_state_fail(err, errlen, "entry %zu: \"%s\" holds "
                                     "control characters", i, key);
    }

    memcpy(buf, json_string_value(v), len);
    buf[len] = '\0';

    return 0;
}


static int
ai_release_state_integer(json_t *o, const char *key, size_t i, long long *v,
    char *err, size_t errlen)
{
    json_t  *j;

    j = json_object_get(o, key);

    if (!json_is_integer(j) || json_integer_value(j) < 0) {
        return ai_release_state_fail(err, errlen, "entry %zu: \"%s\" is not "
                                     "an integer >= 0", i, key);
    }

    *v = (long long) json_integer_value(j);

    return 0;
}


/* the whole state as JSON text, malloc()ed; NULL when out of memory */

char *
ai_release_state_format(const ai_release_state_t *st, long long now,
    size_t *len)
{
    char                             hex[AI_RELEASE_DIGEST_HEX_LEN + 1];
    char                             when[32], *text;
    size_t                           i;
    unsigned                         k;
    time_t                           t;
    json_t                          *root, *list, *e, *b, *ovr, *o;
    struct tm                        tm;
    const ai_release_state_entry_t  *s;

    root = json_object();
    list = json_array();

    if (root == NULL || list == NULL) {
        json_decref(root);
        json_decref(list);
        return NULL;
    }

    t = (time_t) now;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);

    json_object_set_new(root, "ai_release_state",
                        json_integer(AI_RELEASE_STATE_V));
    json_object_set_new(root, "written", json_string(when));

    for (i = 0; i < st->n; i++) {
        s = &st->entries[i];

        ai_release_digest_format(s->digest, hex);

        e = json_object();
        json_object_set_new(e, "workflow", json_string(s->workflow));
        json_object_set_new(e, "bundle", json_string(s->bundle));
        json_object_set_new(e, "digest", json_string(hex));

        if (s->open) {
            b = json_object();
            json_object_set_new(b, "state", json_string("open"));
            json_object_set_new(b, "reason", json_string(
                                ai_release_state_reason_name(s->reason)));
            json_object_set_new(b, "trips", json_integer(s->trips));
            json_object_set_new(b, "since", json_integer(s->since));
            json_object_set_new(b, "cooldown_ms",
                                json_integer(s->cooldown_ms));
            json_object_set_new(b, "open_until_ms",
                                json_integer(s->open_until_ms));
            json_object_set_new(e, "breaker", b);
        }

        ovr = json_object();

        for (k = 0; k < AI_RELEASE_STATE_NOVR; k++) {
            if (!s->ovr[k].set) {
                continue;
            }

            o = json_object();
            json_object_set_new(o, "at", json_integer(s->ovr[k].at));
            json_object_set_new(o, "by", json_string(s->ovr[k].by));
            json_object_set_new(ovr, ai_release_state_ovr_names[k], o);
        }

        json_object_set_new(e, "overrides", ovr);
        json_array_append_new(list, e);
    }

    json_object_set_new(root, "entries", list);

    text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);

    json_decref(root);

    if (text == NULL) {
        return NULL;
    }

    *len = strlen(text);

    return text;
}

