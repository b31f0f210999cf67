
/*
 * Copyright (C) ngx_ai_release authors
 *
 * The errors list, reading a whole file, quoting a value for a message,
 * validation helpers, weight parsing, MurmurHash3 (x86_32) for sticky
 * keys, a string copy and the edit distance, decimals, prices and the
 * cost of tokens.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "ai_release_internal.h"


static int ai_release_errors_grow(ai_release_errors_t *errs);
static uint64_t ai_release_price_times(uint64_t tokens, uint64_t price,
    uint64_t *rem);


/*
 * Used as the only item when not even the first item can be allocated:
 * its NULL message reads "out of memory".  It is never written to.
 */
static ai_release_error_t  ai_release_errors_oom;


void
ai_release_errors_init(ai_release_errors_t *errs)
{
    errs->items = NULL;
    errs->n = 0;
    errs->cap = 0;
    errs->file_start = 0;
    errs->dropped = 0;
    errs->capped = 0;
}


void
ai_release_errors_free(ai_release_errors_t *errs)
{
    size_t  i;

    if (errs->items != NULL && errs->items != &ai_release_errors_oom) {
        for (i = 0; i < errs->n; i++) {
            free(errs->items[i].file);
            free(errs->items[i].message);
        }

        free(errs->items);
    }

    ai_release_errors_init(errs);
}


void
ai_release_errors_add(ai_release_errors_t *errs, const char *file,
    unsigned line, unsigned column, const char *fmt, ...)
{
    int                  n;
    char                *msg;
    va_list              args;
    ai_release_error_t  *err;

    if (errs == NULL) {
        return;
    }

    if (ai_release_errors_full(errs)) {
        errs->dropped++;
        return;
    }

    if (errs->n == errs->cap || errs->items == &ai_release_errors_oom) {
        if (ai_release_errors_grow(errs) != 0) {
            if (errs->n == 0) {
                errs->items = &ai_release_errors_oom;
                errs->n = 1;
                errs->cap = 1;
            }

            return;
        }
    }

    err = &errs->items[errs->n++];

    err->file = (file != NULL) ? ai_release_strndup(file, strlen(file))
                                : NULL;
    err->line = line;
    err->column = column;
    err->message = NULL;

    va_start(args, fmt);
    n = vsnprintf(NULL, 0, fmt, args);
    va_end(args);

    if (n < 0) {
        return;
    }

    msg = malloc((size_t) n + 1);
    if (msg == NULL) {
        return;
    }

    va_start(args, fmt);
    (void) vsnprintf(msg, (size_t) n + 1, fmt, args);
    va_end(args);

    err->message = msg;
}


void
ai_release_errors_file_begin(ai_release_errors_t *errs)
{
    if (errs == NULL) {
        return;
    }

    errs->file_start = errs->n;
    errs->dropped = 0;
    errs->capped = 1;
}


void
ai_release_errors_file_end(ai_release_errors_t *errs, const char *file)
{
    size_t  dropped;

    if (errs == NULL || !errs->capped) {
        return;
    }

    dropped = errs->dropped;

    errs->capped = 0;
    errs->dropped = 0;

    if (dropped) {
        ai_release_errors_add(errs, file, 0, 0, "... and %zu more error%s",
                              dropped, dropped == 1 ? "" : "s");
    }
}


int
ai_release_errors_full(const ai_release_errors_t *errs)
{
    return errs != NULL
           && errs->capped
           && errs->n - errs->file_start >= AI_RELEASE_ERRORS_MAX;
}


static int
ai_release_errors_grow(ai_release_errors_t *errs)
{
    size_t               cap;
    ai_release_error_t  *items;

    if (errs->items == &ai_release_errors_oom) {
        items = malloc(4 * sizeof(ai_release_error_t));
        if (items == NULL) {
            return -1;
        }

        items[0] = ai_release_errors_oom;
        errs->items = items;
        errs->cap = 4;

        return 0;
    }

    cap = errs->cap ? errs->cap * 2 : 8;

    if (cap > ((size_t) -1) / sizeof(ai_release_error_t)) {
        return -1;
    }

    items = realloc(errs->items, cap * sizeof(ai_release_error_t));
    if (items == NULL) {
        return -1;
    }

    errs->items = items;
    errs->cap = cap;

    return 0;
}


/*
 * "FILE:LINE:COLUMN: MESSAGE", "FILE:LINE: MESSAGE" when the column is
 * unknown and "FILE: MESSAGE" when the line is unknown.  Returns the
 * length of what is in buf (truncated to size - 1).
 */

size_t
ai_release_error_format(const ai_release_error_t *err, char *buf,
    size_t size)
{
    int          n;
    const char  *file, *msg;

    if (size == 0) {
        return 0;
    }

    file = err->file ? err->file : "(unknown)";
    msg = err->message ? err->message : "out of memory";

    if (err->line == 0) {
        n = snprintf(buf, size, "%s: %s", file, msg);

    } else if (err->column == 0) {
        n = snprintf(buf, size, "%s:%u: %s", file, err->line, msg);

    } else {
        n = snprintf(buf, size, "%s:%u:%u: %s", file, err->line,
                     err->column, msg);
    }

    if (n < 0) {
        buf[0] = '\0';
        return 0;
    }

    if ((size_t) n >= size) {
        return size - 1;
    }

    return (size_t) n;
}

/* 0, or -1 with errno in *err, -2 too large, -3 not a regular file */

int
ai_release_read_file(const char *path, char **out, size_t *len, int *err)
{
    int          fd;
    char        *data;
    size_t       size, n;
    ssize_t      rc;
    struct stat  st;

    *err = 0;

    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd == -1) {
        *err = errno;
        return -1;
    }

    if (fstat(fd, &st) == -1) {
        *err = errno;
        (void) close(fd);
        return -1;
    }

    if (S_ISDIR(st.st_mode)) {
        *err = EISDIR;
        (void) close(fd);
        return -1;
    }

    if (!S_ISREG(st.st_mode)) {
        (void) close(fd);
        return -3;
    }

    if (st.st_size > AI_RELEASE_MAX_FILE_SIZE) {
        (void) close(fd);
        return -2;
    }

    size = (size_t) st.st_size;

    data = malloc(size + 1);
    if (data == NULL) {
        *err = ENOMEM;
        (void) close(fd);
        return -1;
    }

    n = 0;

    while (n < size) {
        rc = read(fd, data + n, size - n);

        if (rc == -1) {
            if (errno == EINTR) {
                continue;
            }

            *err = errno;
            free(data);
            (void) close(fd);
            return -1;
        }

        if (rc == 0) {
            break;
        }

        n += (size_t) rc;
    }

    (void) close(fd);

    data[n] = '\0';

    *out = data;
    *len = n;

    return 0;
}


const char *
ai_release_read_error(int rc, int err)
{
    switch (rc) {
    case -2:
        return "larger than 16 MiB";
    case -3:
        return "not a regular file";
    default:
        return strerror(err);
    }
}


/* a value for an error message: escaped, at most AI_RELEASE_QUOTE_MAX bytes */

const char *
ai_release_quote(const char *s, size_t len, char *buf)
{
    char           *p;
    size_t          i, n;
    unsigned char   c;

    static const char  hex[] = "0123456789abcdef";

    n = len;

    if (n > AI_RELEASE_QUOTE_MAX) {
        n = AI_RELEASE_QUOTE_MAX;

        /* do not cut a UTF-8 sequence */
        while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80) {
            n--;
        }
    }

    p = buf;

    for (i = 0; i < n; i++) {
        c = (unsigned char) s[i];

        switch (c) {
        case '"':
        case '\\':
            *p++ = '\\';
            *p++ = (char) c;
            break;
        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;
        case '\r':
            *p++ = '\\';
            *p++ = 'r';
            break;
        case '\t':
            *p++ = '\\';
            *p++ = 't';
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                memcpy(p, "\\u00", 4);
                p[4] = hex[c >> 4];
                p[5] = hex[c & 0xf];
                p += 6;

            } else {
                *p++ = (char) c;
            }
        }
    }

    if (n < len) {
        memcpy(p, "...", 3);
        p += 3;
    }

    *p = '\0';

    return buf;
}


int
ai_release_valid_name(const char *s, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (len == 0) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if ((c >= 'a' && c <= 'z')
            || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || c == '.' || c == '_' || c == '-')
        {
            continue;
        }

        return 0;
    }

    return 1;
}


int
ai_release_valid_header_name(const char *s, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (len == 0) {
        return 0;
    }

    /* token = 1*tchar (RFC 9110, 5.6.2) */

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if ((c >= 'a' && c <= 'z')
            || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9'))
        {
            continue;
        }

        if (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL) {
            continue;
        }

        return 0;
    }

    return 1;
}


int
ai_release_valid_header_value(const char *s, size_t len)
{
    size_t         i;
    unsigned char  c;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return 0;
        }
    }

    return 1;
}


int
ai_release_parse_weight(const char *s, size_t len, unsigned *weight)
{
    size_t    i, ndigits, ndecimals;
    unsigned  value;

    value = 0;
    ndigits = 0;

    for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        value = value * 10 + (unsigned) (s[i] - '0');

        if (value > 100) {
            return -1;
        }

        ndigits++;
    }

    if (ndigits == 0) {
        return -1;
    }

    value *= 100;
    ndecimals = 0;

    if (i < len && s[i] == '.') {
        i++;

        for ( /* void */ ; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            if (++ndecimals > 2) {
                return -1;
            }

            value += (unsigned) (s[i] - '0') * (ndecimals == 1 ? 10 : 1);
        }

        if (ndecimals == 0) {
            return -1;
        }
    }

    if (i + 1 != len || s[i] != '%') {
        return -1;
    }

    if (value > AI_RELEASE_WEIGHT_SCALE) {
        return -1;
    }

    *weight = value;

    return 0;
}


uint32_t
ai_release_hash32(uint32_t seed, const void *data, size_t len)
{
    size_t                i, nblocks;
    uint32_t              h, k;
    const unsigned char  *p, *tail;

    const uint32_t  c1 = 0xcc9e2d51;
    const uint32_t  c2 = 0x1b873593;

    p = data;
    h = seed;
    nblocks = len / 4;

    for (i = 0; i < nblocks; i++) {
        memcpy(&k, p + 4 * i, 4);

#if defined(__BYTE_ORDER__) && (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
        k = ((k & 0xff) << 24) | ((k & 0xff00) << 8)
            | ((k >> 8) & 0xff00) | (k >> 24);
#endif

        k *= c1;
        k = (k << 15) | (k >> 17);
        k *= c2;

        h ^= k;
        h = (h << 13) | (h >> 19);
        h = h * 5 + 0xe6546b64;
    }

    tail = p + nblocks * 4;
    k = 0;

    switch (len & 3) {
    case 3:
        k ^= (uint32_t) tail[2] << 16;
        /* fall through */
    case 2:
        k ^= (uint32_t) tail[1] << 8;
        /* fall through */
    case 1:
        k ^= (uint32_t) tail[0];
        k *= c1;
        k = (k << 15) | (k >> 17);
        k *= c2;
        h ^= k;
    }

    h ^= (uint32_t) len;

    h ^= h >> 16;
    h *= 0x85ebca6b;
    h ^= h >> 13;
    h *= 0xc2b2ae35;
    h ^= h >> 16;

    return h;
}


char *
ai_release_strndup(const char *s, size_t len)
{
    char  *p;

    p = malloc(len + 1);
    if (p == NULL) {
        return NULL;
    }

    memcpy(p, s, len);
    p[len] = '\0';

    return p;
}


/* Levenshtein's, of two strings of at most AI_RELEASE_DISTANCE_MAX bytes */

size_t
ai_release_distance(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t  i, j, d, prev[AI_RELEASE_DISTANCE_MAX + 1];
    size_t  cur[AI_RELEASE_DISTANCE_MAX + 1];

    if (alen > AI_RELEASE_DISTANCE_MAX || blen > AI_RELEASE_DISTANCE_MAX) {
        return (size_t) -1;
    }

    for (j = 0; j <= blen; j++) {
        prev[j] = j;
    }

    for (i = 1; i <= alen; i++) {
        cur[0] = i;

        for (j = 1; j <= blen; j++) {
            d = prev[j - 1] + (a[i - 1] != b[j - 1]);

            if (prev[j] + 1 < d) {
                d = prev[j] + 1;
            }

            if (cur[j - 1] + 1 < d) {
                d = cur[j - 1] + 1;
            }

            cur[j] = d;
        }

        memcpy(prev, cur, (blen + 1) * sizeof(size_t));
    }

    return prev[blen];
}


/* "sha256:" and 64 hex digits (either case) -> 32 bytes; 0 or -1 */

int
ai_release_digest_parse(const char *s, size_t len,
    unsigned char out[AI_RELEASE_SHA256_LEN])
{
    int     hi, lo;
    size_t  i;

    if (len != AI_RELEASE_DIGEST_HEX_LEN || strncmp(s, "sha256:", 7) != 0) {
        return -1;
    }

    for (i = 0; i < AI_RELEASE_SHA256_LEN; i++) {
        hi = ai_release_hex_value(s[7 + 2 * i]);
        lo = ai_release_hex_value(s[7 + 2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return -1;
        }

        out[i] = (unsigned char) (hi << 4 | lo);
    }

    return 0;
}


void
ai_release_digest_format(const unsigned char digest[AI_RELEASE_SHA256_LEN],
    char out[AI_RELEASE_DIGEST_HEX_LEN + 1])
{
    size_t              i;
    static const char   hex[] = "0123456789abcdef";

    memcpy(out, "sha256:", 7);

    for (i = 0; i < AI_RELEASE_SHA256_LEN; i++) {
        out[7 + 2 * i] = hex[digest[i] >> 4];
        out[7 + 2 * i + 1] = hex[digest[i] & 0xf];
    }

    out[AI_RELEASE_DIGEST_HEX_LEN] = '\0';
}


int
ai_release_hex_value(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


int
ai_release_param_split(const char *arg, size_t len, size_t *klen,
    const char **value, size_t *vlen, char *err, size_t errlen)
{
    const char  *eq;

    eq = memchr(arg, '=', len);

    if (eq == NULL) {
        snprintf(err, errlen, "invalid parameter \"%.*s\": expected key=value",
                 (int) (len > 64 ? 64 : len), arg);
        return -1;
    }

    *klen = (size_t) (eq - arg);
    *value = eq + 1;
    *vlen = len - *klen - 1;

    return 0;
}


/* decimals, prices and the cost of tokens */

int
ai_release_parse_decimal(const char *s, size_t len, unsigned decimals,
    unsigned int_digits, uint64_t *out)
{
    size_t    i;
    unsigned  k;
    uint64_t  n;

    n = 0;

    for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (i == int_digits) {
            return -1;
        }

        n = n * 10 + (uint64_t) (s[i] - '0');
    }

    if (i == 0) {
        return -1;
    }

    k = 0;

    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            if (k == decimals) {
                return -1;
            }

            n = n * 10 + (uint64_t) (s[i] - '0');
            k++;
        }

        if (k == 0) {
            return -1;
        }
    }

    if (i != len) {
        return -1;
    }

    for ( /* void */ ; k < decimals; k++) {
        n *= 10;
    }

    *out = n;

    return 0;
}


int
ai_release_price_parse(const char *s, size_t len, uint64_t *micro)
{
    return ai_release_parse_decimal(s, len, AI_RELEASE_PRICE_DECIMALS,
                                  AI_RELEASE_PRICE_INT_DIGITS, micro);
}


size_t
ai_release_price_format(uint64_t micro, char out[AI_RELEASE_PRICE_TEXT_SIZE])
{
    int  n;

    if (micro > AI_RELEASE_PRICE_MAX) {
        /* more than the manifest allows */
        out[0] = '\0';
        return 0;
    }

    if (micro % AI_RELEASE_PRICE_SCALE == 0) {
        n = snprintf(out, AI_RELEASE_PRICE_TEXT_SIZE, "%llu",
                     (unsigned long long) (micro / AI_RELEASE_PRICE_SCALE));

    } else {
        n = snprintf(out, AI_RELEASE_PRICE_TEXT_SIZE, "%llu.%06llu",
                     (unsigned long long) (micro / AI_RELEASE_PRICE_SCALE),
                     (unsigned long long) (micro % AI_RELEASE_PRICE_SCALE));

        while (n > 0 && out[n - 1] == '0') {
            out[--n] = '\0';
        }
    }

    return n > 0 ? (size_t) n : 0;
}


/*
 * tokens * price / 10^6 without overflow for prices below 10^13
 * micro-units: the whole millions of tokens times the price, and the rest
 * (below 10^6) times the price (below 10^19); the remainder in rem.
 * UINT64_MAX when it does not fit or the price is above
 * AI_RELEASE_PRICE_MAX.
 */

static uint64_t
ai_release_price_times(uint64_t tokens, uint64_t price, uint64_t *rem)
{
    uint64_t  q, lo;

    if (price > AI_RELEASE_PRICE_MAX) {
        *rem = 0;
        return UINT64_MAX;
    }

    q = tokens / 1000000;
    lo = (tokens % 1000000) * price;

    *rem = lo % 1000000;
    lo /= 1000000;

    if (q && price > (UINT64_MAX - lo) / q) {
        return UINT64_MAX;
    }

    return q * price + lo;
}


uint64_t
ai_release_cost_microunits(const ai_release_pricing_t *pricing,
    uint64_t input_tokens, uint64_t output_tokens)
{
    uint64_t  in, out, rem_in, rem_out, rest;

    if (pricing == NULL || !pricing->set) {
        return 0;
    }

    in = ai_release_price_times(input_tokens, pricing->input_per_mtok,
                                &rem_in);
    out = ai_release_price_times(output_tokens, pricing->output_per_mtok,
                                 &rem_out);

    /* the two remainders, rounded half up */
    rest = (rem_in + rem_out + 500000) / 1000000;

    if (in == UINT64_MAX || out == UINT64_MAX || in > UINT64_MAX - rest
        || out > UINT64_MAX - in - rest)
    {
        return UINT64_MAX;
    }

    return in + out + rest;
}
