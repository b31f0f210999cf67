
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Eval gates: a bundle's "eval" section names the eval set, the report an
 * eval runner wrote for this very bundle, how old that report may be and
 * the gates its metrics must pass:
 *
 *     eval:
 *       set: support-drafts-golden-v7
 *       report: evals/support-drafts-4.json
 *       max_age: 14d
 *       gates:
 *         pass_rate: ">= 0.95"
 *         regressions: "== 0"
 *
 * The report is a JSON object; other fields are ignored:
 *
 *     {"bundle":"support-drafts@4","digest":"sha256:<64 hex>",
 *      "eval_set":"support-drafts-golden-v7",
 *      "finished_at":"2026-11-20T10:00:00Z",
 *      "metrics":{"pass_rate":0.97,"regressions":0}}
 *
 * A bundle passes when the report is for its name@version, tested its
 * digest (so the evals tested what ships), ran the named set, is not older
 * than max_age, and every gate holds.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <jansson.h>

#include "ai_release_core.h"


/* at most this many bytes of a value are quoted in a message */

/* the longest number accepted in a gate expression */
#define AI_RELEASE_GATE_NUMBER_MAX  64


typedef enum {
    AI_RELEASE_OP_GE = 0,
    AI_RELEASE_OP_GT,
    AI_RELEASE_OP_LE,
    AI_RELEASE_OP_LT,
    AI_RELEASE_OP_EQ,
    AI_RELEASE_OP_NE
} ai_release_op_e;


typedef struct {
    const ai_release_node_t  *metric;     /* the key */
    ai_release_op_e           op;
    double                    bound;
    const char               *bound_text; /* into the expression's text */
    size_t                    bound_len;
} ai_release_gate_t;


typedef struct {
    const ai_release_node_t  *set;
    const ai_release_node_t  *report;
    const ai_release_node_t  *max_age;    /* NULL when not given */
    long long                 max_age_s;
    ai_release_gate_t        *gates;      /* in manifest order */
    size_t                    ngates;
} ai_release_eval_t;


typedef struct {
    const char               *report;     /* quoted, as in the manifest */
    const char               *file;       /* the resolved path */
    ai_release_errors_t      *errs;
    unsigned                  nfailed;
} ai_release_gate_ctx_t;


static ai_release_gate_e ai_release_eval_parse(const ai_release_bundle_t *b,
    ai_release_eval_t *ev, ai_release_errors_t *errs);
static const ai_release_node_t *ai_release_eval_string(
    const ai_release_bundle_t *b, const ai_release_node_t *eval,
    const ai_release_node_t *key, const char *name, int path,
    ai_release_errors_t *errs);
static int ai_release_parse_expr(const char *s, size_t len,
    ai_release_gate_t *gate);
static int ai_release_parse_age(const char *s, size_t len, long long *sec);
static int ai_release_parse_time(const char *s, size_t len, long long *t);
static long long ai_release_days_from_civil(long long y, unsigned m,
    unsigned d);
static char *ai_release_report_path(const ai_release_bundle_t *b,
    const char *report_dir, const char *report);
static int ai_release_read_report(const char *path, char **out, size_t *len,
    const char **reason);
static void ai_release_gate_report(const ai_release_bundle_t *b,
    const ai_release_eval_t *ev, const char *data, size_t len, long long now,
    ai_release_gate_ctx_t *ctx);
static void ai_release_gate_fail(ai_release_gate_ctx_t *ctx,
    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static const json_t *ai_release_report_string(ai_release_gate_ctx_t *ctx,
    const json_t *report, const char *field);
static int ai_release_op_holds(ai_release_op_e op, double value,
    double bound);
static void ai_release_format_number(double v, char *buf, size_t size);
static void ai_release_format_age(long long sec, char *buf, size_t size);
static int ai_release_digest_form(const char *s, size_t len);


static const char  *ai_release_op_names[] = {
    ">=", ">", "<=", "<", "==", "!="
};

/* the relation that holds when the gate's does not */
static const ai_release_op_e  ai_release_op_negated[] = {
    AI_RELEASE_OP_LT, AI_RELEASE_OP_LE, AI_RELEASE_OP_GT,
    AI_RELEASE_OP_GE, AI_RELEASE_OP_NE, AI_RELEASE_OP_EQ
};

static const char  *ai_release_eval_keys[] = {
    "set", "report", "max_age", "gates", NULL
};


ai_release_gate_e
ai_release_gate_validate(const ai_release_bundle_t *b,
    ai_release_errors_t *errs)
{
    ai_release_gate_e  rc;
    ai_release_eval_t  ev;

    rc = ai_release_eval_parse(b, &ev, errs);

    free(ev.gates);

    return rc;
}


ai_release_gate_e
ai_release_gate_check(const ai_release_bundle_t *b, const char *report_dir,
    long long now, ai_release_errors_t *errs)
{
    char                    q[AI_RELEASE_QUOTE_SIZE];
    char                   *path, *data;
    size_t                  len;
    const char             *reason;
    ai_release_gate_e       rc;
    ai_release_eval_t       ev;
    ai_release_gate_ctx_t   ctx;

    rc = ai_release_eval_parse(b, &ev, errs);

    if (rc != AI_RELEASE_GATE_PASS) {
        free(ev.gates);
        return rc;
    }

    ai_release_quote(ev.report->value, ev.report->len, q);

    path = ai_release_report_path(b, report_dir, ev.report->value);

    if (path == NULL) {
        ai_release_errors_add(errs, b->file, 0, 0, "out of memory");
        free(ev.gates);
        return AI_RELEASE_GATE_FAIL;
    }

    ctx.report = q;
    ctx.file = path;
    ctx.errs = errs;
    ctx.nfailed = 0;

    if (ai_release_read_report(path, &data, &len, &reason) != 0) {
        ai_release_gate_fail(&ctx, "report \"%s\" cannot be read: %s", q,
                             reason);

    } else {
        ai_release_gate_report(b, &ev, data, len, now, &ctx);
        free(data);
    }

    free(path);
    free(ev.gates);

    return ctx.nfailed ? AI_RELEASE_GATE_FAIL : AI_RELEASE_GATE_PASS;
}


ai_release_gate_e
ai_release_gate_check_report(const ai_release_bundle_t *b,
    const char *report_json, size_t len, const char *report_name,
    long long now, ai_release_errors_t *errs)
{
    char                    q[AI_RELEASE_QUOTE_SIZE];
    ai_release_gate_e       rc;
    ai_release_eval_t       ev;
    ai_release_gate_ctx_t   ctx;

    rc = ai_release_eval_parse(b, &ev, errs);

    if (rc != AI_RELEASE_GATE_PASS) {
        free(ev.gates);
        return rc;
    }

    ai_release_quote(ev.report->value, ev.report->len, q);

    ctx.report = q;
    ctx.file = (report_name != NULL) ? report_name : ev.report->value;
    ctx.errs = errs;
    ctx.nfailed = 0;

    if (report_json == NULL) {
        report_json = "";
        len = 0;
    }

    ai_release_gate_report(b, &ev, report_json, len, now, &ctx);

    free(ev.gates);

    return ctx.nfailed ? AI_RELEASE_GATE_FAIL : AI_RELEASE_GATE_PASS;
}


/* the report's checks and gates; every failure counts in ctx->nfailed */

static void
ai_release_gate_report(const ai_release_bundle_t *b,
    const ai_release_eval_t *ev, const char *data, size_t len, long long now,
    ai_release_gate_ctx_t *ctx)
{
    char                      v[AI_RELEASE_QUOTE_SIZE];
    char                      w[AI_RELEASE_QUOTE_SIZE];
    char                      num[32], skew[32];
    size_t                    i, n;
    double                    value;
    long long                 finished;
    const char               *q;
    json_t                   *report;
    const json_t             *field, *metrics, *metric;
    json_error_t              jerr;
    const ai_release_gate_t  *gate;

    q = ctx->report;

    report = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);

    if (report == NULL) {
        ai_release_gate_fail(ctx, "report \"%s\" is not valid JSON: %s "
                             "at line %d, column %d", q, jerr.text,
                             jerr.line, jerr.column);
        goto done;
    }

    if (!json_is_object(report)) {
        ai_release_gate_fail(ctx, "report \"%s\" is not a JSON object", q);
        goto done;
    }

    /* what was tested: name@version, digest and eval set */

    field = ai_release_report_string(ctx, report, "bundle");

    if (field != NULL
        && (json_string_length(field) != strlen(b->id)
            || memcmp(json_string_value(field), b->id, strlen(b->id)) != 0))
    {
        ai_release_gate_fail(ctx, "report \"%s\" is for bundle \"%s\", "
                             "not \"%s\"", q,
                             ai_release_quote(json_string_value(field),
                                                   json_string_length(field),
                                                   v),
                             b->id);
    }

    field = ai_release_report_string(ctx, report, "digest");

    if (field != NULL
        && (json_string_length(field) != AI_RELEASE_DIGEST_HEX_LEN
            || strncasecmp(json_string_value(field), b->digest_hex,
                           AI_RELEASE_DIGEST_HEX_LEN) != 0))
    {
        n = json_string_length(field);

        /* short forms, unless they look alike */

        if (n >= AI_RELEASE_DIGEST_SHORT_LEN
            && strncasecmp(json_string_value(field), b->digest_short,
                           AI_RELEASE_DIGEST_SHORT_LEN) == 0)
        {
            ai_release_gate_fail(ctx, "report \"%s\" tested digest %s, but "
                                 "the bundle's digest is %s: the evals did "
                                 "not test what ships", q,
                                 ai_release_quote(
                                     json_string_value(field), n, v),
                                 b->digest_hex);

        } else if (ai_release_digest_form(json_string_value(field), n)) {
            ai_release_gate_fail(ctx, "report \"%s\" tested digest %s, but "
                                 "the bundle's digest is %s: the evals did "
                                 "not test what ships", q,
                                 ai_release_quote(json_string_value(field),
                                                  AI_RELEASE_DIGEST_SHORT_LEN,
                                                  v),
                                 b->digest_short);

        } else {
            /* as written: a cut would hide what is wrong with it */

            ai_release_gate_fail(ctx, "report \"%s\" tested digest \"%s\", "
                                 "which is not \"sha256:\" and 64 hex "
                                 "digits, but the bundle's digest is %s: "
                                 "the evals did not test what ships", q,
                                 ai_release_quote(
                                     json_string_value(field), n, v),
                                 b->digest_hex);
        }
    }

    field = ai_release_report_string(ctx, report, "eval_set");

    if (field != NULL
        && (json_string_length(field) != ev->set->len
            || memcmp(json_string_value(field), ev->set->value, ev->set->len)
               != 0))
    {
        ai_release_gate_fail(ctx, "report \"%s\" is for eval set \"%s\", "
                             "not \"%s\"", q,
                             ai_release_quote(json_string_value(field),
                                                   json_string_length(field),
                                                   v),
                             ai_release_quote(ev->set->value,
                                                   ev->set->len, w));
    }

    /* how old it is */

    field = ai_release_report_string(ctx, report, "finished_at");

    if (field != NULL) {
        ai_release_quote(json_string_value(field),
                              json_string_length(field), v);

        if (ai_release_parse_time(json_string_value(field),
                                  json_string_length(field), &finished)
            != 0)
        {
            ai_release_gate_fail(ctx, "report \"%s\" has an invalid "
                                 "finished_at \"%s\"", q, v);

        } else if (finished - now > AI_RELEASE_CLOCK_SKEW) {
            ai_release_format_age(finished - now, num, sizeof(num));
            ai_release_format_age(AI_RELEASE_CLOCK_SKEW, skew, sizeof(skew));

            ai_release_gate_fail(ctx, "report \"%s\" finished at %s, %s in "
                                 "the future (clock skew allowed: %s)", q, v,
                                 num, skew);

        } else if (ev->max_age != NULL && now - finished > ev->max_age_s) {
            ai_release_gate_fail(ctx, "report \"%s\" finished at %s, more "
                                 "than max_age %s ago", q, v,
                                 ev->max_age->value);
        }
    }

    /* the gates */

    metrics = json_object_get(report, "metrics");

    if (metrics == NULL) {
        ai_release_gate_fail(ctx, "report \"%s\" has no \"metrics\"", q);
        goto done;
    }

    if (!json_is_object(metrics)) {
        ai_release_gate_fail(ctx, "\"metrics\" in report \"%s\" is not a "
                             "JSON object", q);
        goto done;
    }

    for (i = 0; i < ev->ngates; i++) {
        gate = &ev->gates[i];

        metric = json_object_get(metrics, gate->metric->value);

        if (metric == NULL) {
            ai_release_gate_fail(ctx, "%s is missing from report \"%s\"",
                                 gate->metric->value, q);
            continue;
        }

        if (!json_is_number(metric)) {
            ai_release_gate_fail(ctx, "%s in report \"%s\" is not a number",
                                 gate->metric->value, q);
            continue;
        }

        value = json_number_value(metric);

        if (ai_release_op_holds(gate->op, value, gate->bound)) {
            continue;
        }

        ai_release_format_number(value, num, sizeof(num));

        ai_release_gate_fail(ctx, "%s %s %s %.*s (%s)", gate->metric->value,
                             num, ai_release_op_names[
                                      ai_release_op_negated[gate->op]],
                             (int) gate->bound_len, gate->bound_text, q);
    }

done:

    json_decref(report);
}


/* NONE, PASS (well formed, ev filled in) or ERROR */

static ai_release_gate_e
ai_release_eval_parse(const ai_release_bundle_t *b, ai_release_eval_t *ev,
    ai_release_errors_t *errs)
{
    char                      q[AI_RELEASE_QUOTE_SIZE];
    char                      m[AI_RELEASE_QUOTE_SIZE];
    size_t                    i, n;
    unsigned                  nerrors;
    const char              **k;
    const ai_release_node_t  *key, *value, *eval, *eval_key, *gates;

    memset(ev, 0, sizeof(ai_release_eval_t));

    if (b == NULL || b->root == NULL) {
        return AI_RELEASE_GATE_NONE;
    }

    eval = NULL;
    eval_key = NULL;

    for (i = 0; i < b->root->nitems; i++) {
        key = b->root->items[2 * i];

        if (key->type == AI_RELEASE_NODE_SCALAR
            && key->len == 4 && memcmp(key->value, "eval", 4) == 0)
        {
            eval_key = key;
            eval = b->root->items[2 * i + 1];
            break;
        }
    }

    if (eval == NULL) {
        return AI_RELEASE_GATE_NONE;
    }

    if (eval->type != AI_RELEASE_NODE_MAP) {
        ai_release_errors_add(errs, b->file, eval->line, eval->column,
                              "\"eval\" must be a mapping");
        return AI_RELEASE_GATE_ERROR;
    }

    nerrors = 0;

#define AI_EVAL_ERROR(node, ...)                                             \
    do {                                                                     \
        ai_release_errors_add(errs, b->file, (node)->line, (node)->column,   \
                              __VA_ARGS__);                                  \
        nerrors++;                                                           \
    } while (0)

    /* unknown keys */

    for (i = 0; i < eval->nitems; i++) {
        key = eval->items[2 * i];

        if (key->type != AI_RELEASE_NODE_SCALAR) {
            AI_EVAL_ERROR(key, "mapping keys must be scalars");
            continue;
        }

        for (k = ai_release_eval_keys; *k; k++) {
            if (strlen(*k) == key->len
                && memcmp(*k, key->value, key->len) == 0)
            {
                break;
            }
        }

        if (*k == NULL) {
            AI_EVAL_ERROR(key, "unknown key \"%s\" in \"eval\": allowed are "
                          "set, report, max_age and gates",
                          ai_release_quote(key->value, key->len, q));
        }
    }

    ev->set = ai_release_eval_string(b, eval, eval_key, "set", 0, errs);
    ev->report = ai_release_eval_string(b, eval, eval_key, "report", 1, errs);

    if (ev->set == NULL) {
        nerrors++;
    }

    if (ev->report == NULL) {
        nerrors++;
    }

    /* max_age */

    value = ai_release_node_get(eval, "max_age");

    if (value != NULL) {
        if (value->type != AI_RELEASE_NODE_SCALAR
            || ai_release_parse_age(value->value, value->len, &ev->max_age_s)
               != 0)
        {
            AI_EVAL_ERROR(value, "invalid \"max_age\" \"%s\": expected a "
                          "duration such as 30m, 12h, 14d or 2w",
                          value->type == AI_RELEASE_NODE_SCALAR
                          ? ai_release_quote(value->value, value->len, q)
                          : "(not a string)");

        } else {
            ev->max_age = value;
        }
    }

    /* gates */

    gates = ai_release_node_get(eval, "gates");

    if (gates == NULL) {
        AI_EVAL_ERROR(eval_key, "missing required key \"gates\" in \"eval\"");

    } else if (gates->type != AI_RELEASE_NODE_MAP) {
        AI_EVAL_ERROR(gates, "\"eval.gates\" must be a mapping of metric to "
                      "gate expression, e.g. pass_rate: \">= 0.95\"");

    } else if (gates->nitems == 0) {
        AI_EVAL_ERROR(gates, "\"eval.gates\" must have at least one gate, "
                      "e.g. pass_rate: \">= 0.95\"");

    } else {
        ev->gates = calloc(gates->nitems, sizeof(ai_release_gate_t));

        if (ev->gates == NULL) {
            AI_EVAL_ERROR(gates, "out of memory");
            goto done;
        }

        n = 0;

        for (i = 0; i < gates->nitems; i++) {
            key = gates->items[2 * i];
            value = gates->items[2 * i + 1];

            if (key->type != AI_RELEASE_NODE_SCALAR) {
                AI_EVAL_ERROR(key, "mapping keys must be scalars");
                continue;
            }

            ai_release_quote(key->value, key->len, m);

            if (!ai_release_valid_name(key->value, key->len)) {
                AI_EVAL_ERROR(key, "invalid metric name \"%s\": only "
                              "A-Z a-z 0-9 . _ - are allowed", m);
                continue;
            }

            if (value->type != AI_RELEASE_NODE_SCALAR) {
                AI_EVAL_ERROR(value, "malformed gate expression for metric "
                              "\"%s\": expected a string, e.g. \">= 0.95\"",
                              m);
                continue;
            }

            if (ai_release_parse_expr(value->value, value->len,
                                      &ev->gates[n])
                != 0)
            {
                AI_EVAL_ERROR(value, "malformed gate expression \"%s\" for "
                              "metric \"%s\": expected e.g. \">= 0.95\"",
                              ai_release_quote(value->value, value->len,
                                                    q),
                              m);
                continue;
            }

            ev->gates[n++].metric = key;
        }

        ev->ngates = n;
    }

#undef AI_EVAL_ERROR

done:

    if (nerrors) {
        free(ev->gates);
        ev->gates = NULL;
        ev->ngates = 0;
        return AI_RELEASE_GATE_ERROR;
    }

    return AI_RELEASE_GATE_PASS;
}


/* a required, non-empty string of the eval section; NULL after an error */

static const ai_release_node_t *
ai_release_eval_string(const ai_release_bundle_t *b,
    const ai_release_node_t *eval, const ai_release_node_t *key,
    const char *name, int path, ai_release_errors_t *errs)
{
    const ai_release_node_t  *value;

    value = ai_release_node_get(eval, name);

    if (value == NULL) {
        ai_release_errors_add(errs, b->file, key->line, key->column,
                              "missing required key \"%s\" in \"eval\"",
                              name);
        return NULL;
    }

    if (value->type != AI_RELEASE_NODE_SCALAR || value->len == 0) {
        ai_release_errors_add(errs, b->file, value->line, value->column,
                              "\"eval.%s\" must be a non-empty string%s",
                              name, path ? " (a file path)" : "");
        return NULL;
    }

    if (memchr(value->value, '\0', value->len) != NULL) {
        ai_release_errors_add(errs, b->file, value->line, value->column,
                              "\"eval.%s\" cannot contain NUL", name);
        return NULL;
    }

    return value;
}


/*
 * [spaces] operator [spaces] number [spaces]; the operator is one of
 * >= > <= < == !=, the number is JSON's: -?digits[.digits][(e|E)[+-]digits]
 */

static int
ai_release_parse_expr(const char *s, size_t len, ai_release_gate_t *gate)
{
    char         buf[AI_RELEASE_GATE_NUMBER_MAX + 1];
    char        *end;
    size_t       i, start, digits;
    double       bound;

#define AI_IS_SPACE(c)  ((c) == ' ' || (c) == '\t')
#define AI_IS_DIGIT(c)  ((c) >= '0' && (c) <= '9')

    i = 0;

    while (i < len && AI_IS_SPACE(s[i])) {
        i++;
    }

    if (len - i >= 2 && s[i + 1] == '=') {

        switch (s[i]) {
        case '>':
            gate->op = AI_RELEASE_OP_GE;
            break;
        case '<':
            gate->op = AI_RELEASE_OP_LE;
            break;
        case '=':
            gate->op = AI_RELEASE_OP_EQ;
            break;
        case '!':
            gate->op = AI_RELEASE_OP_NE;
            break;
        default:
            return -1;
        }

        i += 2;

    } else if (i < len && (s[i] == '>' || s[i] == '<')) {
        gate->op = (s[i] == '>') ? AI_RELEASE_OP_GT : AI_RELEASE_OP_LT;
        i++;

    } else {
        return -1;
    }

    while (i < len && AI_IS_SPACE(s[i])) {
        i++;
    }

    start = i;

    if (i < len && s[i] == '-') {
        i++;
    }

    for (digits = 0; i < len && AI_IS_DIGIT(s[i]); i++, digits++) {
        /* void */
    }

    if (digits == 0) {
        return -1;
    }

    if (i < len && s[i] == '.') {
        i++;

        for (digits = 0; i < len && AI_IS_DIGIT(s[i]); i++, digits++) {
            /* void */
        }

        if (digits == 0) {
            return -1;
        }
    }

    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;

        if (i < len && (s[i] == '+' || s[i] == '-')) {
            i++;
        }

        for (digits = 0; i < len && AI_IS_DIGIT(s[i]); i++, digits++) {
            /* void */
        }

        if (digits == 0) {
            return -1;
        }
    }

    gate->bound_text = s + start;
    gate->bound_len = i - start;

    while (i < len && AI_IS_SPACE(s[i])) {
        i++;
    }

    if (i != len || gate->bound_len > AI_RELEASE_GATE_NUMBER_MAX) {
        return -1;
    }

#undef AI_IS_SPACE
#undef AI_IS_DIGIT

    memcpy(buf, gate->bound_text, gate->bound_len);
    buf[gate->bound_len] = '\0';

    errno = 0;
    bound = strtod(buf, &end);

    if (end != buf + gate->bound_len || !isfinite(bound)) {
        return -1;
    }

    gate->bound = bound;

    return 0;
}


/* "30s", "30m", "12h", "14d", "2w" -> seconds; more than zero */

static int
ai_release_parse_age(const char *s, size_t len, long long *sec)
{
    size_t     i;
    long long  n, unit;

    n = 0;

    for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (n > 1000000000LL) {
            return -1;
        }

        n = n * 10 + (s[i] - '0');
    }

    if (i == 0 || i + 1 != len || n == 0) {
        return -1;
    }

    switch (s[i]) {
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    case 'w':
        unit = 7 * 86400;
        break;
    default:
        return -1;
    }

    *sec = n * unit;

    return 0;
}


/*
 * RFC 3339: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM), "T" and "Z"
 * in either case, or a space instead of "T"; into seconds since the epoch
 */

static int
ai_release_parse_time(const char *s, size_t len, long long *t)
{
    size_t          i, j;
    long long       v[6], off;
    unsigned        mdays;
    const char     *p, *end;

    static const unsigned  days[] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };
    static const size_t    width[] = { 4, 2, 2, 2, 2, 2 };
    static const char      sep[] = "--T::";

    p = s;
    end = s + len;

    for (i = 0; i < 6; i++) {
        if ((size_t) (end - p) < width[i]) {
            return -1;
        }

        v[i] = 0;

        for (j = 0; j < width[i]; j++) {
            if (p[j] < '0' || p[j] > '9') {
                return -1;
            }

            v[i] = v[i] * 10 + (p[j] - '0');
        }

        p += width[i];

        if (i == 5) {
            break;
        }

        if (p == end) {
            return -1;
        }

        if (sep[i] == 'T') {
            if (*p != 'T' && *p != 't' && *p != ' ') {
                return -1;
            }

        } else if (*p != sep[i]) {
            return -1;
        }

        p++;
    }

    if (v[1] < 1 || v[1] > 12 || v[3] > 23 || v[4] > 59 || v[5] > 60) {
        return -1;
    }

    mdays = days[v[1] - 1];

    if (v[1] == 2
        && ((v[0] % 4 == 0 && v[0] % 100 != 0) || v[0] % 400 == 0))
    {
        mdays = 29;
    }

    if (v[2] < 1 || v[2] > (long long) mdays) {
        return -1;
    }

    /* a fraction of a second: ignored */

    if (p < end && *p == '.') {
        p++;

        if (p == end || *p < '0' || *p > '9') {
            return -1;
        }

        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p == end) {
        return -1;
    }

    if ((*p == 'Z' || *p == 'z') && p + 1 == end) {
        off = 0;

    } else if ((*p == '+' || *p == '-') && end - p == 6
               && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9'
               && p[3] == ':'
               && p[4] >= '0' && p[4] <= '9' && p[5] >= '0' && p[5] <= '9')
    {
        off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600
              + ((p[4] - '0') * 10 + (p[5] - '0')) * 60;

        if ((p[1] - '0') * 10 + (p[2] - '0') > 23
            || (p[4] - '0') * 10 + (p[5] - '0') > 59)
        {
            return -1;
        }

        if (*p == '-') {
            off = -off;
        }

    } else {
        return -1;
    }

    *t = ai_release_days_from_civil(v[0], (unsigned) v[1], (unsigned) v[2])
         * 86400 + v[3] * 3600 + v[4] * 60 + v[5] - off;

    return 0;
}


/* days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant) */

static long long
ai_release_days_from_civil(long long y, unsigned m, unsigned d)
{
    long long  era;
    unsigned   yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned) (y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + (long long) doe - 719468;
}


/* report_dir/basename(report), or report relative to the manifest's dir */

static char *
ai_release_report_path(const ai_release_bundle_t *b, const char *report_dir,
    const char *report)
{
    char        *path;
    size_t       dir_len, len;
    const char  *slash, *name;

    if (report_dir != NULL) {
        slash = strrchr(report, '/');
        name = slash ? slash + 1 : report;

        dir_len = strlen(report_dir);

        while (dir_len > 1 && report_dir[dir_len - 1] == '/') {
            dir_len--;
        }

        len = dir_len + 1 + strlen(name);

        path = malloc(len + 1);
        if (path == NULL) {
            return NULL;
        }

        (void) snprintf(path, len + 1, "%.*s/%s", (int) dir_len, report_dir,
                        name);

        return path;
    }

    slash = (b->file != NULL) ? strrchr(b->file, '/') : NULL;

    if (report[0] == '/' || slash == NULL) {
        return strdup(report);
    }

    dir_len = (size_t) (slash - b->file) + 1;
    len = dir_len + strlen(report);

    path = malloc(len + 1);
    if (path == NULL) {
        return NULL;
    }

    memcpy(path, b->file, dir_len);
    memcpy(path + dir_len, report, len - dir_len + 1);

    return path;
}


static void
ai_release_gate_fail(ai_release_gate_ctx_t *ctx, const char *fmt, ...)
{
    char     msg[4096];
    va_list  args;

    va_start(args, fmt);
    (void) vsnprintf(msg, sizeof(msg), fmt, args);
    va_end(args);

    ctx->nfailed++;

    ai_release_errors_add(ctx->errs, ctx->file, 0, 0, "%s", msg);
}


/* a string field of the report; NULL after a failure */

static const json_t *
ai_release_report_string(ai_release_gate_ctx_t *ctx, const json_t *report,
    const char *field)
{
    const json_t  *value;

    value = json_object_get(report, field);

    if (value == NULL) {
        ai_release_gate_fail(ctx, "report \"%s\" has no \"%s\"", ctx->report,
                             field);
        return NULL;
    }

    if (!json_is_string(value)) {
        ai_release_gate_fail(ctx, "\"%s\" in report \"%s\" is not a string",
                             field, ctx->report);
        return NULL;
    }

    return value;
}


static int
ai_release_op_holds(ai_release_op_e op, double value, double bound)
{
    switch (op) {
    case AI_RELEASE_OP_GE:
        return value >= bound;
    case AI_RELEASE_OP_GT:
        return value > bound;
    case AI_RELEASE_OP_LE:
        return value <= bound;
    case AI_RELEASE_OP_LT:
        return value < bound;
    case AI_RELEASE_OP_EQ:
        return value == bound;
    case AI_RELEASE_OP_NE:
        return value != bound;
    }

    return 0;
}


/* the shortest %g form that reads back as the same double */

static int
ai_release_read_report(const char *path, char **out, size_t *len,
    const char **reason)
{
    int  rc, err;

    rc = ai_release_read_file(path, out, len, &err);

    if (rc != 0) {
        *reason = ai_release_read_error(rc, err);
        return -1;
    }

    return 0;
}


/* "sha256:" and 64 hex digits, in either case, as the digest is compared */

static int
ai_release_digest_form(const char *s, size_t len)
{
    size_t  i;

    if (len != AI_RELEASE_DIGEST_HEX_LEN || strncasecmp(s, "sha256:", 7) != 0)
    {
        return 0;
    }

    for (i = 7; i < len; i++) {
        if (ai_release_hex_value(s[i]) < 0) {
            return 0;
        }
    }

    return 1;
}


/*
 * "73 years", "1 year 40 days", "12 days", "5 minutes 1 second": the
 * largest unit, and under ten of it the next one too
 */

static void
ai_release_format_age(long long sec, char *buf, size_t size)
{
    int        n;
    size_t     i;
    long long  v, rest;

    static const struct {
        long long    sec;
        const char  *name;
    } units[] = {
        { 365 * 86400LL, "year" },
        { 86400, "day" },
        { 3600, "hour" },
        { 60, "minute" },
        { 1, "second" }
    };

    for (i = 0; i < 4 && sec < units[i].sec; i++) {
        /* void */
    }

    v = sec / units[i].sec;
    rest = (sec % units[i].sec) / units[i + (i < 4)].sec;

    n = snprintf(buf, size, "%lld %s%s", v, units[i].name, v == 1 ? "" : "s");

    if (i < 4 && v < 10 && rest > 0 && n > 0 && (size_t) n < size) {
        (void) snprintf(buf + n, size - (size_t) n, " %lld %s%s", rest,
                        units[i + 1].name, rest == 1 ? "" : "s");
    }
}


static void
ai_release_format_number(double v, char *buf, size_t size)
{
    int  prec;

    /*
     * whole numbers as they are written: 10, not 1e+01; the range first,
     * a double beyond long long's does not convert
     */

    if (v > -1e15 && v < 1e15 && v == (double) (long long) v) {
        (void) snprintf(buf, size, "%lld", (long long) v);
        return;
    }

    for (prec = 1; prec < 17; prec++) {
        (void) snprintf(buf, size, "%.*g", prec, v);

        if (strtod(buf, NULL) == v) {
            return;
        }
    }

    (void) snprintf(buf, size, "%.17g", v);
}


/* a value for a message: escaped, at most AI_RELEASE_GATE_QUOTE_MAX bytes */

