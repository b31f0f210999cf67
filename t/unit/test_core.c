
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Unit tests of the plain-C core, TAP output.  Run from t/unit so that
 * the fixtures are found as fixtures/...:
 *
 *   cd t/unit && ../../build/unit_core
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "ai_release_core.h"
#include "tap.h"


#define INLINE  "fixtures/inline.yaml"

/* a valid bundle in four lines: what is appended starts at line 5 */
#define BASE    "name: a\nversion: \"1\"\nupstream: up\nmodel: m\n"


static int load(ai_release_set_t *set, const char *yaml,
    ai_release_errors_t *errs);
static void dump_errors(const ai_release_errors_t *errs);
static const ai_release_error_t *find_error(const ai_release_errors_t *errs,
    unsigned line, unsigned column, const char *substr);
static void expect_error(const char *yaml, unsigned line, unsigned column,
    const char *substr);
static ai_release_bundle_t *load_one(const char *yaml, ai_release_set_t **set);
static void hex(const unsigned char *p, size_t len, char *out);

static void test_sha256(void);
static void test_murmur(void);
static void test_weight(void);
static void test_validators(void);
static void test_api_headers(void);
static void test_api_token(void);
static void test_errors(void);
static void test_full(void);
static void test_multi(void);
static void test_canonical(void);
static void test_digest(void);
static void test_digest_files(void);
static void test_manifest_errors(void);
static void test_duplicates(void);
static void test_all_or_nothing(void);
static void test_glob(void);
static void test_many(void);
static void test_error_cap(void);
static void test_node_cap(void);
static char *repeat(const char *head, const char *s, size_t n,
    const char *tail);


int
main(void)
{
    test_sha256();
    test_murmur();
    test_weight();
    test_validators();
    test_api_headers();
    test_api_token();
    test_errors();
    test_full();
    test_multi();
    test_canonical();
    test_digest();
    test_digest_files();
    test_manifest_errors();
    test_duplicates();
    test_all_or_nothing();
    test_glob();
    test_many();
    test_error_cap();
    test_node_cap();

    return tap_done();
}


static void
test_sha256(void)
{
    char                     out[65];
    size_t                   i, n, chunk;
    unsigned char            d[AI_RELEASE_SHA256_LEN];
    unsigned char           *a;
    ai_release_sha256_ctx_t  ctx;

    static const struct {
        const char  *in;
        const char  *out;
    } v[] = {
        { "",
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
        { "abc",
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
        { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
        { "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
          "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
          "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" }
    };

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        ai_release_sha256(v[i].in, strlen(v[i].in), d);
        hex(d, sizeof(d), out);
        ok(strcmp(out, v[i].out) == 0, "sha256 NIST vector %u (%u bytes)",
           (unsigned) i, (unsigned) strlen(v[i].in));
    }

    /* the same, byte by byte */

    ai_release_sha256_init(&ctx);

    for (i = 0; i < strlen(v[3].in); i++) {
        ai_release_sha256_update(&ctx, v[3].in + i, 1);
    }

    ai_release_sha256_final(&ctx, d);
    hex(d, sizeof(d), out);
    ok(strcmp(out, v[3].out) == 0, "sha256 896-bit vector byte by byte");

    /* one million 'a', in odd chunk sizes */

    a = malloc(1000000);
    if (a == NULL) {
        ok(0, "malloc");
        return;
    }

    memset(a, 'a', 1000000);

    ai_release_sha256_init(&ctx);

    n = 0;
    chunk = 1;

    while (n < 1000000) {
        i = (chunk < 1000000 - n) ? chunk : 1000000 - n;
        ai_release_sha256_update(&ctx, a + n, i);
        n += i;
        chunk = (chunk * 7 + 3) % 997;
    }

    ai_release_sha256_final(&ctx, d);
    hex(d, sizeof(d), out);
    ok(strcmp(out, "cdc76e5c9914fb9281a1c7e284d73e67"
                   "f1809a48a497200e046d39ccc7112cd0") == 0,
       "sha256 of one million 'a' in odd chunks");

    ai_release_sha256(a, 1000000, d);
    hex(d, sizeof(d), out);
    ok(strcmp(out, "cdc76e5c9914fb9281a1c7e284d73e67"
                   "f1809a48a497200e046d39ccc7112cd0") == 0,
       "sha256 of one million 'a' in one go");

    free(a);

    /* 55, 56 and 64 bytes: the padding edge cases, against updates */

    for (n = 55; n <= 65; n++) {
        unsigned char  e[AI_RELEASE_SHA256_LEN];
        char           buf[80];

        memset(buf, 'x', n);
        ai_release_sha256(buf, n, d);

        ai_release_sha256_init(&ctx);
        ai_release_sha256_update(&ctx, buf, 3);
        ai_release_sha256_update(&ctx, buf + 3, n - 3);
        ai_release_sha256_final(&ctx, e);

        if (memcmp(d, e, sizeof(d)) != 0) {
            break;
        }
    }

    ok(n == 66, "sha256 one-shot equals incremental for 55..65 bytes");
}


static void
test_murmur(void)
{
    size_t  i;

    static const struct {
        uint32_t     seed;
        const char  *in;
        size_t       len;
        uint32_t     out;
    } v[] = {
        { 0, "", 0, 0 },
        { 1, "", 0, 0x514E28B7 },
        { 0xffffffff, "", 0, 0x81F16F39 },
        { 0, "hello", 5, 0x248BFA47 },
        { 0, "\0\0\0\0", 4, 0x2362F9DE },
        { 0, "\xff\xff\xff\xff", 4, 0x76293B50 },
        { 0, "\x21\x43\x65\x87", 4, 0xF55B516B },
        { 0x5082EDEE, "\x21\x43\x65\x87", 4, 0x2362F9DE },
        { 0, "\x21\x43\x65", 3, 0x7E4A8634 },
        { 0, "\x21\x43", 2, 0xA0F7B07A },
        { 0, "\x21", 1, 0x72661CF4 },
        { 0x9747b28c, "aaaa", 4, 0x5A97808A },
        { 0x9747b28c, "aaa", 3, 0x283E0130 },
        { 0x9747b28c, "aa", 2, 0x5D211726 },
        { 0x9747b28c, "a", 1, 0x7FA09EA6 },
        { 0x9747b28c, "abcd", 4, 0xF0478627 },
        { 0x9747b28c, "abc", 3, 0xC84A62DD },
        { 0x9747b28c, "ab", 2, 0x74875592 },
        { 0x9747b28c, "Hello, world!", 13, 0x24884CBA },
        { 0x9747b28c, "The quick brown fox jumps over the lazy dog", 43,
          0x2FA826CD }
    };

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        uint32_t  h = ai_release_hash32(v[i].seed, v[i].in, v[i].len);

        ok(h == v[i].out, "murmur3 x86_32 vector %u: 0x%08X == 0x%08X",
           (unsigned) i, (unsigned) h, (unsigned) v[i].out);
    }

    ok(ai_release_hash_bucket(0) == 0
       && ai_release_hash_bucket(0xffffffff) == AI_RELEASE_WEIGHT_SCALE - 1
       && ai_release_hash_bucket(0x80000000) == AI_RELEASE_WEIGHT_SCALE / 2,
       "hash_bucket maps onto [0, 10000)");

    /* unaligned input gives the same result */
    {
        char  buf[32];

        memcpy(buf + 1, "Hello, world!", 13);
        ok(ai_release_hash32(0x9747b28c, buf + 1, 13) == 0x24884CBA,
           "murmur3 on an unaligned buffer");
    }
}


static void
test_weight(void)
{
    size_t    i;
    unsigned  w;

    static const struct {
        const char  *in;
        unsigned     out;
    } good[] = {
        { "5%", 500 },
        { "0.01%", 1 },
        { "12.5%", 1250 },
        { "100%", 10000 },
        { "100.00%", 10000 },
        { "0%", 0 },
        { "99.99%", 9999 },
        { "0.5%", 50 },
        { "33.33%", 3333 }
    };

    static const char  *bad[] = {
        "101%", "5", "%", "1.234%", "-1%", "5%%", "", " 5%", "5% ", "5.%",
        ".5%", "100.01%", "1e2%", "+5%", "5 %", "99999999999%", "5%x"
    };

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        w = 12345;
        ok(ai_release_parse_weight(good[i].in, strlen(good[i].in), &w) == 0
           && w == good[i].out, "parse_weight(\"%s\") == %u",
           good[i].in, good[i].out);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        w = 12345;
        ok(ai_release_parse_weight(bad[i], strlen(bad[i]), &w) == -1
           && w == 12345, "parse_weight(\"%s\") is rejected", bad[i]);
    }

    ok(ai_release_parse_weight("50%0", 3, &w) == 0 && w == 5000,
       "parse_weight honours the length");
}


static void
test_validators(void)
{
    ok(ai_release_valid_name("a-Z_0.9", 7), "valid_name accepts a-Z_0.9");
    ok(!ai_release_valid_name("", 0), "valid_name rejects empty");
    ok(!ai_release_valid_name("a b", 3), "valid_name rejects a space");
    ok(!ai_release_valid_name("a@b", 3), "valid_name rejects @");
    ok(!ai_release_valid_name("a\0b", 3), "valid_name rejects NUL");

    ok(ai_release_valid_header_name("X-Foo_!#$%&'*+.^`|~9", 20),
       "valid_header_name accepts every tchar");
    ok(!ai_release_valid_header_name("", 0),
       "valid_header_name rejects empty");
    ok(!ai_release_valid_header_name("X Foo", 5),
       "valid_header_name rejects a space");
    ok(!ai_release_valid_header_name("X:Foo", 5),
       "valid_header_name rejects a colon");
    ok(!ai_release_valid_header_name("X\0", 2),
       "valid_header_name rejects NUL");
    ok(!ai_release_valid_header_name("X\xc3\xa9", 3),
       "valid_header_name rejects non-ASCII");

    ok(ai_release_valid_header_value("a\tb \xc3\xa9", 6),
       "valid_header_value accepts HT, SP and obs-text");
    ok(ai_release_valid_header_value("", 0),
       "valid_header_value accepts empty");
    ok(!ai_release_valid_header_value("a\r\nb", 4),
       "valid_header_value rejects CRLF");
    ok(!ai_release_valid_header_value("a\nb", 3),
       "valid_header_value rejects LF");
    ok(!ai_release_valid_header_value("a\0b", 3),
       "valid_header_value rejects NUL");
    ok(!ai_release_valid_header_value("a\x7f", 2),
       "valid_header_value rejects DEL");
}


/* a string literal and its length */
#define LIT(s)  s, sizeof(s) - 1


static void
test_api_headers(void)
{
    /* Content-Type */

    ok(ai_release_api_json_type(LIT("application/json")),
       "json_type: application/json");
    ok(ai_release_api_json_type(LIT("Application/JSON; charset=utf-8")),
       "json_type: any case, with a parameter");
    ok(ai_release_api_json_type(LIT("application/json;charset=UTF-8")),
       "json_type: a parameter without a blank");
    ok(ai_release_api_json_type(LIT(" application/json \t")),
       "json_type: blanks around it");
    ok(!ai_release_api_json_type(LIT("text/plain")),
       "json_type: text/plain is not");
    ok(!ai_release_api_json_type(LIT("text/plain; application/json")),
       "json_type: text/plain with a parameter is not");
    ok(!ai_release_api_json_type(LIT("application/x-www-form-urlencoded")),
       "json_type: a form is not");
    ok(!ai_release_api_json_type(LIT("application/json-patch+json")),
       "json_type: application/json-patch+json is not");
    ok(!ai_release_api_json_type(LIT("application/jsonx")),
       "json_type: application/jsonx is not");
    ok(!ai_release_api_json_type(LIT("application/json x")),
       "json_type: a word after it is not");
    ok(!ai_release_api_json_type(LIT("application/jso")),
       "json_type: a prefix is not");
    ok(!ai_release_api_json_type(LIT("")), "json_type: empty is not");
    ok(!ai_release_api_json_type("application/json", 11),
       "json_type honours the length");

    /* Sec-Fetch-Site */

    ok(ai_release_api_fetch_site_ok(LIT("same-origin")),
       "fetch_site: same-origin");
    ok(ai_release_api_fetch_site_ok(LIT("none")), "fetch_site: none");
    ok(!ai_release_api_fetch_site_ok(LIT("same-site")),
       "fetch_site: same-site is refused");
    ok(!ai_release_api_fetch_site_ok(LIT("cross-site")),
       "fetch_site: cross-site is refused");
    ok(!ai_release_api_fetch_site_ok(LIT("same-origin2")),
       "fetch_site: a longer value is refused");
    ok(!ai_release_api_fetch_site_ok(LIT("")),
       "fetch_site: empty is refused");

    /* Origin against scheme://Host */

    ok(ai_release_api_same_origin(LIT("http://127.0.0.1:8080"), 0,
                                  LIT("127.0.0.1:8080")),
       "same_origin: http, address and port");
    ok(ai_release_api_same_origin(LIT("https://gw.example.com"), 1,
                                  LIT("GW.example.com")),
       "same_origin: https, host in another case");
    ok(ai_release_api_same_origin(LIT("https://gw.example.com"), 1,
                                  LIT("gw.example.com:443")),
       "same_origin: the default port written out in Host");
    ok(ai_release_api_same_origin(LIT("http://gw:80"), 0, LIT("gw")),
       "same_origin: the default port written out in Origin");
    ok(ai_release_api_same_origin(LIT("http://[::1]:8080"), 0,
                                  LIT("[::1]:8080")),
       "same_origin: IPv6");
    ok(!ai_release_api_same_origin(LIT("http://gw.example.com"), 1,
                                   LIT("gw.example.com")),
       "same_origin: http on an https connection is not");
    ok(!ai_release_api_same_origin(LIT("https://gw.example.com"), 0,
                                   LIT("gw.example.com")),
       "same_origin: https on an http connection is not");
    ok(!ai_release_api_same_origin(LIT("http://gw:8081"), 0,
                                   LIT("gw:8080")),
       "same_origin: another port is not");
    ok(!ai_release_api_same_origin(LIT("http://gw"), 0, LIT("gw:8080")),
       "same_origin: the default port against another is not");
    ok(!ai_release_api_same_origin(LIT("http://gw.evil"), 0, LIT("gw")),
       "same_origin: a longer host is not");
    ok(!ai_release_api_same_origin(LIT("http://g"), 0, LIT("gw")),
       "same_origin: a shorter host is not");
    ok(!ai_release_api_same_origin(LIT("null"), 0, LIT("gw")),
       "same_origin: null is not");
    ok(!ai_release_api_same_origin(LIT("http://gw/"), 0, LIT("gw")),
       "same_origin: a path is not");
    ok(!ai_release_api_same_origin(LIT("http://gw http://gw"), 0, LIT("gw")),
       "same_origin: a list is not");
    ok(!ai_release_api_same_origin(LIT("http://user@gw"), 0, LIT("gw")),
       "same_origin: userinfo is not");
    ok(!ai_release_api_same_origin(LIT("http://gw:"), 0, LIT("gw:")),
       "same_origin: an empty port is not");
    ok(!ai_release_api_same_origin(LIT("http://gw:99999"), 0,
                                   LIT("gw:99999")),
       "same_origin: a port over 65535 is not");
    ok(!ai_release_api_same_origin(LIT("http://gw:080800"), 0,
                                   LIT("gw:080800")),
       "same_origin: a port of six digits is not");
    ok(!ai_release_api_same_origin(LIT("http://"), 0, LIT("")),
       "same_origin: empty hosts are not");
    ok(!ai_release_api_same_origin(LIT("http://gw"), 0, NULL, 0),
       "same_origin: no Host header is not");
    ok(!ai_release_api_same_origin(LIT("http://[::1"), 0, LIT("[::1")),
       "same_origin: an unclosed IPv6 literal is not");
    ok(!ai_release_api_same_origin(LIT("http://[]"), 0, LIT("[]")),
       "same_origin: an empty IPv6 literal is not");
    ok(!ai_release_api_same_origin(LIT("http://[::1]x"), 0, LIT("[::1]x")),
       "same_origin: bytes after an IPv6 literal are not");
    ok(!ai_release_api_same_origin("http://gw:8080", 11, 0, LIT("gw:8080")),
       "same_origin honours the length");
}


static void
test_api_token(void)
{
    char    buf[2048], err[128];
    size_t  len;

    /* the token file */

    len = sizeof("0123456789abcdef\r\n") - 1;
    ok(ai_release_api_token_check("0123456789abcdef\r\n", &len, err,
                                  sizeof(err)) == 0 && len == 16,
       "token_check: 16 bytes, the line break removed");

    len = sizeof("0123456789abcde\n") - 1;
    ok(ai_release_api_token_check("0123456789abcde\n", &len, err,
                                  sizeof(err)) == -1
       && strstr(err, "15 bytes") != NULL,
       "token_check: 15 bytes are too short: %s", err);

    len = sizeof("\n\n") - 1;
    ok(ai_release_api_token_check("\n\n", &len, err, sizeof(err)) == -1
       && strstr(err, "empty") != NULL,
       "token_check: only line breaks are empty: %s", err);

    len = sizeof("0123456789 abcdef") - 1;
    ok(ai_release_api_token_check("0123456789 abcdef", &len, err,
                                  sizeof(err)) == -1
       && strstr(err, "offset 10") != NULL && strstr(err, "abc") == NULL,
       "token_check: a blank inside, the token not quoted: %s", err);

    len = sizeof("0123456789abcdef\n0123456789abcdef") - 1;
    ok(ai_release_api_token_check("0123456789abcdef\n0123456789abcdef",
                                  &len, err, sizeof(err)) == -1,
       "token_check: two lines are refused");

    memset(buf, 'k', sizeof(buf));
    len = AI_RELEASE_API_TOKEN_MAX;
    ok(ai_release_api_token_check(buf, &len, err, sizeof(err)) == 0,
       "token_check: %d bytes", AI_RELEASE_API_TOKEN_MAX);
    len = AI_RELEASE_API_TOKEN_MAX + 1;
    ok(ai_release_api_token_check(buf, &len, err, sizeof(err)) == -1,
       "token_check: %d bytes are too many", AI_RELEASE_API_TOKEN_MAX + 1);

    /* the Authorization header */

    ok(ai_release_api_bearer_ok(LIT("Bearer 0123456789abcdef"),
                                LIT("0123456789abcdef")),
       "bearer_ok: the token");
    ok(ai_release_api_bearer_ok(LIT("bEARER \t 0123456789abcdef"),
                                LIT("0123456789abcdef")),
       "bearer_ok: any case, several blanks");
    ok(!ai_release_api_bearer_ok(LIT("Bearer 0123456789abcdeF"),
                                 LIT("0123456789abcdef")),
       "bearer_ok: the last byte differs");
    ok(!ai_release_api_bearer_ok(LIT("Bearer 0123456789abcde"),
                                 LIT("0123456789abcdef")),
       "bearer_ok: a prefix of the token");
    ok(!ai_release_api_bearer_ok(LIT("Bearer 0123456789abcdefx"),
                                 LIT("0123456789abcdef")),
       "bearer_ok: the token and more");
    ok(!ai_release_api_bearer_ok(LIT("Bearer "), LIT("0123456789abcdef")),
       "bearer_ok: no token");
    ok(!ai_release_api_bearer_ok(LIT("Bearer0123456789abcdef"),
                                 LIT("0123456789abcdef")),
       "bearer_ok: no blank after Bearer");
    ok(!ai_release_api_bearer_ok(LIT("Basic 0123456789abcdef"),
                                 LIT("0123456789abcdef")),
       "bearer_ok: another scheme");
    ok(!ai_release_api_bearer_ok(LIT("0123456789abcdef"),
                                 LIT("0123456789abcdef")),
       "bearer_ok: no scheme");

    ok(ai_release_equal_ct(LIT("abc"), LIT("abc")), "equal_ct: equal");
    ok(ai_release_equal_ct(NULL, 0, LIT("")), "equal_ct: both empty");
    ok(!ai_release_equal_ct(LIT("abc"), LIT("abd")), "equal_ct: differ");
    ok(!ai_release_equal_ct(LIT("abc"), LIT("abc\0")),
       "equal_ct: a NUL more is a difference");
    ok(!ai_release_equal_ct(LIT("abc"), LIT("ab")), "equal_ct: longer");
    ok(!ai_release_equal_ct(NULL, 0, LIT("a")), "equal_ct: empty and not");
}


static void
test_errors(void)
{
    char                 buf[256];
    size_t               n;
    ai_release_error_t   e;
    ai_release_errors_t  errs;

    ai_release_errors_init(&errs);
    ai_release_errors_add(&errs, "m.yaml", 3, 7, "bad %s %d", "thing", 42);
    ai_release_errors_add(&errs, "m.yaml", 0, 0, "no line");
    ai_release_errors_add(&errs, "m.yaml", 9, 0, "no column");

    ok(errs.n == 3, "errors_add adds");

    n = ai_release_error_format(&errs.items[0], buf, sizeof(buf));
    ok(strcmp(buf, "m.yaml:3:7: bad thing 42") == 0 && n == strlen(buf),
       "error_format FILE:LINE:COLUMN: MESSAGE");

    ai_release_error_format(&errs.items[1], buf, sizeof(buf));
    ok(strcmp(buf, "m.yaml: no line") == 0,
       "error_format without a line");

    ai_release_error_format(&errs.items[2], buf, sizeof(buf));
    ok(strcmp(buf, "m.yaml:9: no column") == 0,
       "error_format without a column");

    n = ai_release_error_format(&errs.items[0], buf, 8);
    ok(n == 7 && strcmp(buf, "m.yaml:") == 0,
       "error_format truncates and terminates");

    ai_release_errors_free(&errs);
    ok(errs.n == 0 && errs.items == NULL, "errors_free resets");

    for (n = 0; n < 100; n++) {
        ai_release_errors_add(&errs, "f", (unsigned) n + 1, 1, "e%u",
                              (unsigned) n);
    }

    ok(errs.n == 100 && strcmp(errs.items[99].message, "e99") == 0
       && errs.items[99].line == 100, "errors list grows");

    ai_release_errors_free(&errs);

    memset(&e, 0, sizeof(e));
    ai_release_error_format(&e, buf, sizeof(buf));
    ok(strstr(buf, "out of memory") != NULL,
       "error_format copes with a dropped message");

    /* the cap of one file's errors */

    ai_release_errors_add(&errs, "before", 1, 1, "not capped");
    ai_release_errors_file_begin(&errs);

    for (n = 0; n < AI_RELEASE_ERRORS_MAX + 10; n++) {
        ai_release_errors_add(&errs, "f", (unsigned) n + 1, 1, "e%u",
                              (unsigned) n);
    }

    ok(ai_release_errors_full(&errs), "errors_full beyond the cap");

    ai_release_errors_file_end(&errs, "f");

    ok(errs.n == 1 + AI_RELEASE_ERRORS_MAX + 1
       && errs.items[AI_RELEASE_ERRORS_MAX].line == AI_RELEASE_ERRORS_MAX
       && errs.items[errs.n - 1].line == 0
       && strcmp(errs.items[errs.n - 1].file, "f") == 0
       && strcmp(errs.items[errs.n - 1].message, "... and 10 more errors")
          == 0,
       "a file's errors: %d kept, then \"... and 10 more errors\"",
       AI_RELEASE_ERRORS_MAX);

    ai_release_errors_file_begin(&errs);

    for (n = 0; n < AI_RELEASE_ERRORS_MAX + 1; n++) {
        ai_release_errors_add(&errs, "g", 1, 1, "g");
    }

    ai_release_errors_file_end(&errs, "g");
    ai_release_errors_add(&errs, "after", 1, 1, "not capped");

    ok(errs.n == 2 * (AI_RELEASE_ERRORS_MAX + 1) + 2
       && strcmp(errs.items[errs.n - 2].message, "... and 1 more error") == 0
       && strcmp(errs.items[errs.n - 1].file, "after") == 0
       && !ai_release_errors_full(&errs),
       "the cap is per file; after file_end errors are kept again");

    ai_release_errors_free(&errs);
}


static void
test_full(void)
{
    int                   rc;
    size_t                i;
    ai_release_set_t     *set;
    ai_release_node_t    *n;
    ai_release_bundle_t  *b;
    ai_release_errors_t   errs;

    set = ai_release_set_create();
    ai_release_errors_init(&errs);

    rc = ai_release_set_load_file(set, "fixtures/full.yaml", &errs);
    dump_errors(&errs);

    ok(rc == 0 && errs.n == 0, "full manifest loads");
    ok(ai_release_set_count(set) == 1, "full manifest is one bundle");

    b = ai_release_set_get(set, 0);
    if (b == NULL) {
        ok(0, "bundle 0 exists");
        goto done;
    }

    ok(strcmp(b->name, "support-bot") == 0, "name");
    ok(strcmp(b->version, "2024.06.1") == 0, "version");
    ok(strcmp(b->id, "support-bot@2024.06.1") == 0, "id is name@version");
    ok(strcmp(b->upstream, "llm_backend") == 0, "upstream");
    ok(strcmp(b->model, "gpt-4o-mini") == 0, "model");
    ok(strcmp(b->file, "fixtures/full.yaml") == 0, "file as given");
    ok(b->line == 2 && b->column == 1 && b->doc_index == 0,
       "document position %u:%u", b->line, b->column);

    ok(b->nheaders == 2
       && strcmp(b->headers[0].name, "X-Bundle-Team") == 0
       && strcmp(b->headers[0].value, "support") == 0
       && strcmp(b->headers[1].name, "X-Trace-Mode") == 0
       && strcmp(b->headers[1].value, "full; sample=0.1") == 0,
       "headers in manifest order");

    ok(b->nfiles == 3
       && strcmp(b->files[0].key, "prompt.file") == 0
       && strcmp(b->files[1].key, "system_instructions.file") == 0
       && strcmp(b->files[2].key, "tool_schema") == 0,
       "referenced files sorted by key");

    if (b->nfiles == 3) {
        unsigned char  d[AI_RELEASE_SHA256_LEN];
        const char    *text = "You are a helpful support assistant.\n"
                              "Answer from the knowledge base only.\n";

        ai_release_sha256(text, strlen(text), d);

        ok(strcmp(b->files[0].path, "prompts/support.txt") == 0
           && strcmp(b->files[0].full_path,
                     "fixtures/prompts/support.txt") == 0
           && b->files[0].size == strlen(text)
           && memcmp(b->files[0].sha256, d, sizeof(d)) == 0
           && b->files[0].line == 7 && b->files[0].column == 9,
           "prompt.file resolved, sized and hashed");

        ok(strcmp(b->files[2].full_path, "fixtures/tools/support.json") == 0
           && b->files[2].line == 12 && b->files[2].column == 14,
           "tool_schema resolved");
    }

    ok(b->root != NULL && b->root->type == AI_RELEASE_NODE_MAP
       && b->root->nitems == 12, "root keeps the whole document");

    n = ai_release_node_get(b->root, "retrieval");
    n = ai_release_node_get(n, "top_k");
    ok(n != NULL && n->type == AI_RELEASE_NODE_SCALAR
       && strcmp(n->value, "8") == 0 && n->len == 1
       && n->line == 15 && n->column == 10,
       "node_get finds retrieval.top_k at 15:10");

    ok(ai_release_node_get(b->root, "nope") == NULL
       && ai_release_node_get(n, "x") == NULL,
       "node_get: absent key, or not a mapping");

    ok(strncmp(b->digest_hex, "sha256:", 7) == 0
       && strlen(b->digest_hex) == AI_RELEASE_DIGEST_HEX_LEN
       && strspn(b->digest_hex + 7, "0123456789abcdef") == 64,
       "digest_hex is sha256: and 64 lowercase hex");

    ok(strlen(b->digest_short) == AI_RELEASE_DIGEST_SHORT_LEN
       && strncmp(b->digest_short, b->digest_hex,
                  AI_RELEASE_DIGEST_SHORT_LEN) == 0,
       "digest_short is a prefix of digest_hex");

    {
        unsigned char  d[AI_RELEASE_SHA256_LEN];

        ai_release_sha256(b->canonical, b->canonical_len, d);

        ok(memcmp(d, b->digest, sizeof(d)) == 0
           && strlen(b->canonical) == b->canonical_len,
           "digest is the SHA-256 of the canonical text");
    }

    ok(strstr(b->canonical, "\"eval\"") == NULL
       && strstr(b->canonical, "team-support") == NULL
       && strstr(b->canonical, "\"tool_schema\":\"tools/support.json\"")
          != NULL,
       "canonical text has no eval and no labels");

    b = ai_release_set_find(set, "support-bot@2024.06.1", 21);
    ok(b == ai_release_set_get(set, 0), "find by id");

    ok(ai_release_set_find(set, "support-bot@2024.06.2", 21) == NULL
       && ai_release_set_find(set, "support-bot@2024.06.1", 20) == NULL
       && ai_release_set_find(set, "", 0) == NULL,
       "find of a missing id returns NULL");

    ok(ai_release_set_get(set, 1) == NULL, "get out of range is NULL");

    /* the same file again: a duplicate */

    ai_release_errors_free(&errs);
    rc = ai_release_set_load_file(set, "fixtures/full.yaml", &errs);

    ok(rc == -1 && ai_release_set_count(set) == 1
       && find_error(&errs, 2, 1, "duplicate bundle \"support-bot@2024.06.1\""
                     " (first defined in fixtures/full.yaml:2)") != NULL,
       "loading a file twice is a duplicate");

    for (i = 0; i < errs.n; i++) {
        ok(strcmp(errs.items[i].file, "fixtures/full.yaml") == 0,
           "error names the manifest");
    }

done:

    ai_release_errors_free(&errs);
    ai_release_set_free(set);
}


static void
test_multi(void)
{
    int                   rc;
    ai_release_set_t     *set;
    ai_release_bundle_t  *b;
    ai_release_errors_t   errs;

    set = ai_release_set_create();
    ai_release_errors_init(&errs);

    rc = ai_release_set_load_file(set, "fixtures/multi.yaml", &errs);
    dump_errors(&errs);

    ok(rc == 0 && ai_release_set_count(set) == 3,
       "multi-document file gives three bundles");

    b = ai_release_set_find(set, "alpha@1", 7);
    ok(b != NULL && b->doc_index == 0 && b->line == 2
       && strcmp(b->model, "m-1") == 0, "alpha@1 is document 0 at line 2");

    b = ai_release_set_find(set, "alpha@2", 7);
    ok(b != NULL && b->doc_index == 1 && b->line == 6
       && strcmp(b->upstream, "10.0.0.7:8080") == 0
       && b->nheaders == 1, "alpha@2 is document 1 at line 6 (its ---)");

    b = ai_release_set_find(set, "beta@1", 6);
    ok(b != NULL && b->doc_index == 2
       && strcmp(b->upstream, "[::1]:443") == 0,
       "beta@1 with an IPv6 upstream");

    ok(ai_release_set_get(set, 0) == ai_release_set_find(set, "alpha@1", 7)
       && ai_release_set_get(set, 2) == ai_release_set_find(set, "beta@1", 6),
       "bundles are kept in load order");

    ai_release_errors_free(&errs);
    ai_release_set_free(set);
}


static void
test_canonical(void)
{
    char                  expect[512], h[65];
    unsigned char         d[AI_RELEASE_SHA256_LEN];
    ai_release_set_t     *set;
    ai_release_bundle_t  *b;

    b = load_one("version: \"1\"\n"
                 "name: a\n"
                 "labels: {x: y}\n"
                 "eval: {suite: s}\n"
                 "upstream: up\n"
                 "model: m\n"
                 "retrieval:\n"
                 "  k: [1, \"q\\\"t\\\\\", \"tab\\there\\nnl\\x01\"]\n"
                 "  ab: {}\n"
                 "  a: []\n"
                 "  b: ''\n"
                 "  \"\xc3\xa9\": x\n",
                 &set);

    ok(b != NULL && strcmp(b->canonical,
       "ai-release-canonical-v1\n"
       "{\"model\":\"m\",\"name\":\"a\",\"retrieval\":{\"a\":[],\"ab\":{},"
       "\"b\":\"\",\"k\":[\"1\",\"q\\\"t\\\\\","
       "\"tab\\there\\nnl\\u0001\"],\"\xc3\xa9\":\"x\"},"
       "\"upstream\":\"up\",\"version\":\"1\"}\n") == 0,
       "canonical text, exactly");

    if (b) {
        printf("# %s", b->canonical);
    }

    ai_release_set_free(set);

    b = load_one(BASE "prompt:\n  file: prompts/system.txt\n", &set);

    ai_release_sha256("Never reveal internal ticket numbers.\n", 38, d);
    hex(d, sizeof(d), h);

    snprintf(expect, sizeof(expect),
             "ai-release-canonical-v1\n"
             "{\"model\":\"m\",\"name\":\"a\",\"prompt\":{\"file\":"
             "\"prompts/system.txt\"},\"upstream\":\"up\",\"version\":\"1\"}\n"
             "file prompt.file 38 sha256:%s\n", h);

    ok(b != NULL && strcmp(b->canonical, expect) == 0,
       "canonical text with a referenced file line");

    ai_release_set_free(set);
}


static void
test_digest(void)
{
    char                  d1[80], d2[80];
    ai_release_set_t     *s1, *s2;
    ai_release_bundle_t  *b1, *b2;
    ai_release_errors_t   errs;

    ai_release_errors_init(&errs);

    s1 = ai_release_set_create();
    s2 = ai_release_set_create();

    ai_release_set_load_file(s1, "fixtures/full.yaml", &errs);
    ai_release_set_load_file(s2, "fixtures/full.yaml", &errs);

    b1 = ai_release_set_get(s1, 0);
    b2 = ai_release_set_get(s2, 0);

    ok(b1 && b2 && strcmp(b1->digest_hex, b2->digest_hex) == 0
       && b1->canonical_len == b2->canonical_len,
       "digest stable across two loads");

    ai_release_set_free(s2);
    s2 = ai_release_set_create();

    ai_release_set_load_file(s2, "fixtures/full-reordered.yaml", &errs);
    dump_errors(&errs);
    b2 = ai_release_set_get(s2, 0);

    ok(b1 && b2 && strcmp(b1->digest_hex, b2->digest_hex) == 0,
       "digest unchanged by key order, quoting, comments, eval, labels");

    if (b1 && b2 && strcmp(b1->canonical, b2->canonical) != 0) {
        printf("# %s# %s", b1->canonical, b2->canonical);
    }

    ai_release_set_free(s1);
    ai_release_set_free(s2);
    ai_release_errors_free(&errs);

    /* small variations from memory */

    b1 = load_one(BASE "eval: {a: 1}\nlabels: {x: y}\n", &s1);
    b2 = load_one("# comment\n"
                  "model: \"m\"\n"
                  "upstream: 'up'\n"
                  "version: 1\n"
                  "name: >-\n"
                  "  a\n"
                  "eval: {b: [2]}\n", &s2);

    ok(b1 && b2 && strcmp(b1->digest_hex, b2->digest_hex) == 0,
       "digest unchanged by eval and labels and block scalars");

    snprintf(d1, sizeof(d1), "%s", b1 ? b1->digest_hex : "");
    ai_release_set_free(s1);
    ai_release_set_free(s2);

    b1 = load_one("name: a\nversion: \"1\"\nupstream: up\nmodel: m2\n", &s1);
    ok(b1 && strcmp(b1->digest_hex, d1) != 0, "digest changes with model");
    ai_release_set_free(s1);

    b1 = load_one(BASE "headers: {X-A: b}\n", &s1);
    snprintf(d2, sizeof(d2), "%s", b1 ? b1->digest_hex : "");
    ok(b1 && strcmp(d2, d1) != 0, "digest changes with headers");
    ai_release_set_free(s1);

    b1 = load_one(BASE "retrieval: {k: [\"1\", \"2\"]}\n", &s1);
    b2 = load_one(BASE "retrieval: {k: [\"2\", \"1\"]}\n", &s2);
    ok(b1 && b2 && strcmp(b1->digest_hex, b2->digest_hex) != 0,
       "digest changes with sequence order");
    ai_release_set_free(s1);
    ai_release_set_free(s2);

    b1 = load_one(BASE "retrieval: {k: [a]}\n", &s1);
    b2 = load_one(BASE "retrieval: {k: a}\n", &s2);
    ok(b1 && b2 && strcmp(b1->digest_hex, b2->digest_hex) != 0,
       "digest tells a sequence from a scalar");
    ai_release_set_free(s1);
    ai_release_set_free(s2);
}


static void
test_digest_files(void)
{
    int                   rc;
    char                  dir[64], manifest[128], prompt[128], sub[128];
    char                  d1[80], d2[80], d3[80];
    ai_release_set_t     *set;
    ai_release_bundle_t  *b;
    ai_release_errors_t   errs;

    snprintf(dir, sizeof(dir), "/tmp/ai_release_unit.XXXXXX");

    if (mkdtemp(dir) == NULL) {
        ok(0, "mkdtemp");
        return;
    }

    snprintf(manifest, sizeof(manifest), "%s/bundle.yaml", dir);
    snprintf(prompt, sizeof(prompt), "%s/prompt.txt", dir);
    snprintf(sub, sizeof(sub), "%s/sub", dir);

    rc = write_file(manifest, BASE "prompt:\n  file: prompt.txt\n"
                    "system_instructions: inline text\n");
    rc |= write_file(prompt, "Hello.\n");

    ok(rc == 0, "temporary manifest written");

    ai_release_errors_init(&errs);

    d1[0] = d2[0] = d3[0] = '\0';

    set = ai_release_set_create();
    rc = ai_release_set_load_file(set, manifest, &errs);
    dump_errors(&errs);
    b = ai_release_set_get(set, 0);

    ok(rc == 0 && b && b->nfiles == 1 && b->files[0].size == 7
       && strcmp(b->files[0].full_path, prompt) == 0,
       "prompt file relative to an absolute manifest path");

    if (b) {
        snprintf(d1, sizeof(d1), "%s", b->digest_hex);
    }

    ai_release_set_free(set);

    /* same bytes again: same digest; other bytes: another digest */

    rc = write_file(prompt, "Hello.\n");

    set = ai_release_set_create();
    ai_release_set_load_file(set, manifest, &errs);
    b = ai_release_set_get(set, 0);

    if (b) {
        snprintf(d2, sizeof(d2), "%s", b->digest_hex);
    }

    ai_release_set_free(set);

    ok(d1[0] && strcmp(d1, d2) == 0, "digest stable for the same bytes");

    rc |= write_file(prompt, "Hello!\n");

    set = ai_release_set_create();
    ai_release_set_load_file(set, manifest, &errs);
    b = ai_release_set_get(set, 0);

    if (b) {
        snprintf(d3, sizeof(d3), "%s", b->digest_hex);
    }

    ai_release_set_free(set);

    ok(rc == 0 && d3[0] && strcmp(d1, d3) != 0,
       "digest changes when the prompt file's bytes change");

    /* an unreadable prompt: a directory */

    if (mkdir(sub, 0700) == 0) {
        char  yaml[256];

        snprintf(yaml, sizeof(yaml), BASE "prompt:\n  file: %s\n", sub);

        set = ai_release_set_create();
        ai_release_errors_free(&errs);
        rc = load(set, yaml, &errs);

        ok(rc == -1 && find_error(&errs, 6, 9, "Is a directory") != NULL,
           "a directory as prompt.file, by absolute path");

        ai_release_set_free(set);
        rmdir(sub);
    }

    ai_release_errors_free(&errs);

    unlink(prompt);
    unlink(manifest);
    rmdir(dir);
}


static void
test_manifest_errors(void)
{
    int                  i;
    char                 deep[512], *p;
    ai_release_set_t    *set;
    ai_release_errors_t  errs;

    /* documents */

    expect_error("", 0, 0, "no bundle in manifest");
    expect_error("# just a comment\n", 0, 0, "no bundle in manifest");
    expect_error("---\n", 0, 0, "no bundle in manifest");
    expect_error("- a\n- b\n", 1, 1, "a bundle must be a YAML mapping");
    expect_error(BASE "---\nhello\n", 6, 1,
                 "a bundle must be a YAML mapping");
    expect_error(BASE "--- null\n", 5, 5, "a bundle must be a YAML mapping");

    /* YAML syntax */

    expect_error(BASE "labels: [a, b\n", 6, 1,
                 "did not find expected ',' or ']' (while parsing a flow "
                 "sequence at line 5, column 9)");
    expect_error("name: a\n  bad: x\n", 2, 6,
                 "mapping values are not allowed in this context");
    expect_error("name: \"a\n", 2, 1, "found unexpected end of stream");
    expect_error("name: a\xff\n", 1, 8, "invalid leading UTF-8 octet");
    expect_error("name: a\t\x01\n", 1, 9,
                 "control characters are not allowed");
    expect_error("name: [\n---\n", 2, 1, "YAML syntax error");

    /* keys */

    expect_error(BASE "promt:\n  x: y\n", 5, 1,
                 "unknown key \"promt\", did you mean \"prompt\"?");
    expect_error(BASE "Name: b\n", 5, 1,
                 "unknown key \"Name\", did you mean \"name\"?");
    expect_error(BASE "system_instruction: x\n", 5, 1,
                 "did you mean \"system_instructions\"?");
    expect_error(BASE "zzzzzzzz: 1\n", 5, 1, "unknown key \"zzzzzzzz\"");
    expect_error(BASE "model: n\n", 5, 1,
                 "duplicate key \"model\" (first at line 4)");
    expect_error(BASE "retrieval:\n  a: 1\n  b: 2\n  a: 3\n", 8, 3,
                 "duplicate key \"a\" (first at line 6)");
    expect_error(BASE "labels: {x: 1, y: 2, x: 3}\n", 5, 22,
                 "duplicate key \"x\" (first at line 5)");
    expect_error(BASE "labels:\n  [a]: 1\n", 6, 3,
                 "mapping keys must be scalars");

    /* the required keys */

    expect_error("# c\nname: a\nversion: \"1\"\nupstream: up\n", 2, 1,
                 "missing required key \"model\"");
    expect_error(BASE "---\nname: b\nversion: \"1\"\nmodel: m\n", 5, 1,
                 "missing required key \"upstream\"");
    expect_error("{}\n", 1, 1, "missing required key \"name\"");
    expect_error("name: [a]\nversion: \"1\"\nupstream: up\nmodel: m\n", 1, 7,
                 "\"name\" must be a string");
    expect_error("name: \"\"\nversion: \"1\"\nupstream: up\nmodel: m\n", 1, 7,
                 "\"name\" must be a string");
    expect_error("name:\nversion: \"1\"\nupstream: up\nmodel: m\n", 1, 6,
                 "\"name\" must be a string");
    expect_error("name: a\nversion: {a: b}\nupstream: up\nmodel: m\n", 2, 10,
                 "\"version\" must be a string");
    expect_error("name: \"a b\"\nversion: \"1\"\nupstream: up\nmodel: m\n",
                 1, 7, "invalid name \"a b\": only A-Z a-z 0-9 . _ - are "
                 "allowed");
    expect_error("name: a\nversion: 1/2\nupstream: up\nmodel: m\n", 2, 10,
                 "invalid version \"1/2\"");
    expect_error("name: a\nversion: \"1\"\nupstream: up\nmodel: \"m\\x01\"\n",
                 4, 8, "invalid model \"m\\u0001\"");
    expect_error("name: a\nversion: \"1\"\nupstream: up\nmodel: [m]\n",
                 4, 8, "\"model\" must be a string");

    /* upstream */

    {
        static const char  *bad[] = {
            "host:0", "host:65536", "a b", "[::1]", "host:", ":80",
            "[xyz]:80", "h:8a", "[]:80", "a:b:80", "host:-1", "[::1]80"
        };

        static const char  *good[] = {
            "backend", "10.0.0.1:8080", "[::1]:443", "example.com:1",
            "h:65535", "[fe80::1%]:1"
        };

        char                 yaml[256];
        size_t               j;
        ai_release_bundle_t  *b;

        for (j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
            snprintf(yaml, sizeof(yaml),
                     "name: a\nversion: \"1\"\nupstream: \"%s\"\nmodel: m\n",
                     bad[j]);
            expect_error(yaml, 3, 11, "invalid upstream");
        }

        for (j = 0; j < sizeof(good) / sizeof(good[0]) - 1; j++) {
            snprintf(yaml, sizeof(yaml),
                     "name: a\nversion: \"1\"\nupstream: \"%s\"\nmodel: m\n",
                     good[j]);
            b = load_one(yaml, &set);
            ok(b != NULL && strcmp(b->upstream, good[j]) == 0,
               "upstream \"%s\" is valid", good[j]);
            ai_release_set_free(set);
        }

        snprintf(yaml, sizeof(yaml),
                 "name: a\nversion: \"1\"\nupstream: \"%s\"\nmodel: m\n",
                 good[j]);
        expect_error(yaml, 3, 11, "invalid upstream \"[fe80::1%]:1\"");
    }

    /* sections */

    expect_error(BASE "prompt: hello\n", 5, 9,
                 "\"prompt\" must be a mapping");
    expect_error(BASE "prompt:\n  file: nope.txt\n", 6, 9,
                 "cannot read prompt.file \"nope.txt\": "
                 "No such file or directory");
    expect_error(BASE "prompt:\n  file: \"\"\n", 6, 9,
                 "\"prompt.file\" must not be an empty path");
    expect_error(BASE "prompt:\n  file: [a]\n", 6, 9,
                 "\"prompt.file\" must be a string");
    expect_error(BASE "system_instructions: [a]\n", 5, 22,
                 "\"system_instructions\" must be a string or a mapping");
    expect_error(BASE "system_instructions: {}\n", 5, 22,
                 "\"system_instructions\" must be a string or a mapping");
    expect_error(BASE "system_instructions:\n  file: prompts/system.txt\n"
                 "  extra: 1\n", 7, 3,
                 "unknown key \"extra\" in \"system_instructions\"");
    expect_error(BASE "system_instructions:\n  file: missing.txt\n", 6, 9,
                 "cannot read system_instructions.file \"missing.txt\"");
    expect_error(BASE "tool_schema: tools/bad.json\n", 5, 14,
                 "tool_schema \"tools/bad.json\" is not valid JSON: ");
    expect_error(BASE "tool_schema: tools/bad.json\n", 5, 14,
                 "(line 1, column 17)");
    expect_error(BASE "tool_schema: tools/scalar.json\n", 5, 14,
                 "is not valid JSON");
    expect_error(BASE "tool_schema: prompts/system.txt\n", 5, 14,
                 "is not valid JSON");
    expect_error(BASE "tool_schema:\n  x: 1\n", 6, 3,
                 "\"tool_schema\" must be a string (a file path)");
    expect_error(BASE "tool_schema: nope.json\n", 5, 14,
                 "cannot read tool_schema \"nope.json\"");
    expect_error(BASE "retrieval: yes\n", 5, 12,
                 "\"retrieval\" must be a mapping");
    expect_error(BASE "output_contract: [a]\n", 5, 18,
                 "\"output_contract\" must be a mapping");
    expect_error(BASE "eval: x\n", 5, 7, "\"eval\" must be a mapping");
    expect_error(BASE "labels:\n", 5, 8, "\"labels\" must be a mapping");

    /* headers */

    expect_error(BASE "headers: [a]\n", 5, 10,
                 "\"headers\" must be a mapping");
    expect_error(BASE "headers:\n  X Bad: v\n", 6, 3,
                 "header name \"X Bad\" is not a valid HTTP token");
    expect_error(BASE "headers:\n  \"X:Bad\": v\n", 6, 3,
                 "header name \"X:Bad\" is not a valid HTTP token");
    expect_error(BASE "headers:\n  X-Foo: \"a\\r\\nX-Evil: 1\"\n", 6, 10,
                 "header \"X-Foo\" value contains a control character (CR)");
    expect_error(BASE "headers:\n  X-Foo: \"a\\nb\"\n", 6, 10,
                 "header \"X-Foo\" value contains a control character (LF)");
    expect_error(BASE "headers:\n  X-Foo: \"a\\0b\"\n", 6, 10,
                 "header \"X-Foo\" value contains a control character (NUL)");
    expect_error(BASE "headers:\n  X-Foo: \"a\\x7f\"\n", 6, 10,
                 "value contains a control character (0x7F)");
    expect_error(BASE "headers:\n  X-Foo: [a]\n", 6, 10,
                 "header \"X-Foo\" value must be a string");

    /* aliases and anchors */

    expect_error(BASE "labels:\n  a: &x 1\n  b: *x\n", 6, 6,
                 "YAML aliases and anchors are not supported");
    expect_error(BASE "labels:\n  a: &x 1\n  b: *x\n", 7, 6,
                 "YAML aliases and anchors are not supported");
    expect_error(BASE "retrieval: &r {a: 1}\n", 5, 12,
                 "YAML aliases and anchors are not supported");

    /* depth: the root mapping is level 1, the 64th "[" level 65 */

    p = deep;
    p += sprintf(p, "%s", BASE "labels: {x: ");

    for (i = 0; i < 70; i++) {
        *p++ = '[';
    }

    for (i = 0; i < 70; i++) {
        *p++ = ']';
    }

    strcpy(p, "}\n");

    expect_error(deep, 5, 13 + 62, "YAML nesting is deeper than 64 levels");

    /* 63 levels below the root is fine */

    p = deep;
    p += sprintf(p, "%s", BASE "labels: {x: ");

    for (i = 0; i < 62; i++) {
        *p++ = '[';
    }

    for (i = 0; i < 62; i++) {
        *p++ = ']';
    }

    strcpy(p, "}\n");

    {
        ai_release_bundle_t  *b = load_one(deep, &set);

        ok(b != NULL, "64 levels of nesting are fine");
        ai_release_set_free(set);
    }

    /* every problem of a document is reported */

    set = ai_release_set_create();
    ai_release_errors_init(&errs);

    load(set, "name: \"a b\"\nversion: \"1 0\"\nmodel: m\npromt: {}\n"
         "headers: {X Y: \"\\r\"}\nlabels: x\n", &errs);

    ok(errs.n == 6
       && find_error(&errs, 1, 7, "invalid name") != NULL
       && find_error(&errs, 2, 10, "invalid version") != NULL
       && find_error(&errs, 1, 1, "missing required key \"upstream\"")
       && find_error(&errs, 4, 1, "unknown key \"promt\"") != NULL
       && find_error(&errs, 5, 11, "is not a valid HTTP token") != NULL
       && find_error(&errs, 6, 9, "\"labels\" must be a mapping") != NULL,
       "all problems of a document are reported (%u)", (unsigned) errs.n);

    ai_release_errors_free(&errs);

    /* and of every document, but nothing after a syntax error */

    load(set, "name: \"a b\"\nversion: \"1\"\nupstream: up\nmodel: m\n"
         "---\nname: b\nversion: \"1 0\"\nupstream: up\nmodel: m\n"
         "---\nname: [\n---\nnope: 1\n", &errs);

    ok(errs.n == 3 && find_error(&errs, 1, 7, "invalid name")
       && find_error(&errs, 7, 10, "invalid version")
       && find_error(&errs, 12, 1, "YAML syntax error"),
       "problems of every document, none after a syntax error");

    ok(ai_release_set_count(set) == 0, "nothing was loaded");

    ai_release_errors_free(&errs);

    /* a bare trailing "---" and a "..." are fine */

    load(set, BASE "...\n---\n", &errs);
    ok(errs.n == 0 && ai_release_set_count(set) == 1,
       "an empty trailing document is skipped");

    ai_release_errors_free(&errs);

    /* errors name the buffer */

    load(set, "x", &errs);
    ok(errs.n == 1 && strcmp(errs.items[0].file, INLINE) == 0,
       "errors name the buffer's path");

    ai_release_errors_free(&errs);

    /* a NULL errors list still fails */

    ok(load(set, "x", NULL) == -1, "a NULL errors list still fails");

    ai_release_set_free(set);

    /* manifest files */

    set = ai_release_set_create();

    ok(ai_release_set_load_file(set, "fixtures/nope.yaml", &errs) == -1
       && errs.n == 1 && errs.items[0].line == 0
       && strcmp(errs.items[0].file, "fixtures/nope.yaml") == 0
       && strstr(errs.items[0].message, "cannot read manifest: No such file")
          != NULL,
       "a missing manifest file");

    ai_release_errors_free(&errs);

    ok(ai_release_set_load_file(set, "fixtures", &errs) == -1
       && errs.n == 1
       && strstr(errs.items[0].message, "Is a directory") != NULL,
       "a directory as the manifest");

    ai_release_errors_free(&errs);
    ai_release_set_free(set);
}


static void
test_duplicates(void)
{
    int                  rc;
    ai_release_set_t    *set;
    ai_release_errors_t  errs;

    expect_error(BASE "---\n" BASE, 5, 1,
                 "duplicate bundle \"a@1\" (first defined in "
                 INLINE ":1)");

    expect_error("# first\n" BASE "---\nname: b\nversion: \"1\"\n"
                 "upstream: up\nmodel: m\n--- \n" BASE, 11, 1,
                 "duplicate bundle \"a@1\" (first defined in "
                 INLINE ":2)");

    /* across files */

    set = ai_release_set_create();
    ai_release_errors_init(&errs);

    rc = ai_release_set_load_file(set, "fixtures/dup/one.yaml", &errs);
    ok(rc == 0 && ai_release_set_count(set) == 1, "dup/one.yaml loads");

    rc = ai_release_set_load_file(set, "fixtures/dup/two.yaml", &errs);
    ok(rc == -1 && ai_release_set_count(set) == 1
       && find_error(&errs, 5, 1, "duplicate bundle \"dup@1\" (first "
                     "defined in fixtures/dup/one.yaml:1)") != NULL
       && strcmp(errs.items[0].file, "fixtures/dup/two.yaml") == 0,
       "duplicate id across files");

    ok(ai_release_set_find(set, "other@1", 7) == NULL,
       "nothing of the failed file was added");

    ai_release_errors_free(&errs);

    rc = load(set, "name: dup\nversion: \"1\"\nupstream: up\nmodel: m\n",
              &errs);
    ok(rc == -1 && find_error(&errs, 1, 1, "duplicate bundle \"dup@1\""),
       "duplicate of a set member from a buffer");

    ai_release_errors_free(&errs);
    ai_release_set_free(set);

    /* across files of one glob */

    set = ai_release_set_create();

    rc = ai_release_set_load_glob(set, "fixtures/dup/*.yaml", &errs);
    ok(rc == -1 && ai_release_set_count(set) == 0
       && find_error(&errs, 5, 1, "(first defined in "
                     "fixtures/dup/one.yaml:1)") != NULL,
       "duplicate id across the files of one glob, nothing loaded");

    ai_release_errors_free(&errs);
    ai_release_set_free(set);
}


static void
test_all_or_nothing(void)
{
    int                  rc;
    ai_release_set_t    *set;
    ai_release_errors_t  errs;

    set = ai_release_set_create();
    ai_release_errors_init(&errs);

    rc = ai_release_set_load_file(set, "fixtures/mixed.yaml", &errs);
    ok(rc == -1 && ai_release_set_count(set) == 0
       && ai_release_set_find(set, "good@1", 6) == NULL
       && find_error(&errs, 8, 11, "invalid upstream \"not valid\"") != NULL,
       "a file with a good and a bad document adds nothing");

    ai_release_errors_free(&errs);

    rc = ai_release_set_load_file(set, "fixtures/multi.yaml", &errs);
    ok(rc == 0 && ai_release_set_count(set) == 3, "then a good file loads");

    rc = load(set, "name: n1\nversion: \"1\"\nupstream: up\nmodel: m\n"
              "---\nname: n2\nversion: \"1\"\nupstream: up\nmodel: m\n"
              "---\nname: n3\nversion: \"1\"\nupstream: up\nmodel: m\n"
              "bad: 1\n", &errs);

    ok(rc == -1 && ai_release_set_count(set) == 3
       && ai_release_set_find(set, "n1@1", 4) == NULL
       && ai_release_set_find(set, "n2@1", 4) == NULL
       && ai_release_set_find(set, "alpha@1", 7) != NULL,
       "a failed buffer leaves the set exactly as before");

    ai_release_errors_free(&errs);

    rc = load(set, "name: n1\nversion: \"1\"\nupstream: up\nmodel: m\n",
              &errs);
    ok(rc == 0 && ai_release_set_count(set) == 4
       && ai_release_set_find(set, "n1@1", 4) != NULL,
       "and the good part alone loads afterwards");

    ai_release_errors_free(&errs);
    ai_release_set_free(set);
}


static void
test_glob(void)
{
    int                  rc;
    ai_release_set_t    *set;
    ai_release_errors_t  errs;

    set = ai_release_set_create();
    ai_release_errors_init(&errs);

    rc = ai_release_set_load_glob(set, "fixtures/nothing/*.yaml", &errs);
    ok(rc == -1 && errs.n == 1 && errs.items[0].line == 0
       && strcmp(errs.items[0].file, "fixtures/nothing/*.yaml") == 0
       && strcmp(errs.items[0].message,
                 "no manifest matches \"fixtures/nothing/*.yaml\"") == 0,
       "a glob that matches nothing is an error");

    ai_release_errors_free(&errs);

    rc = ai_release_set_load_glob(set, "fixtures/glob/*.yaml", &errs);
    dump_errors(&errs);

    ok(rc == 0 && ai_release_set_count(set) == 3,
       "glob loads every match");

    ok(ai_release_set_get(set, 0) != NULL
       && strcmp(ai_release_set_get(set, 0)->id, "ga@1") == 0
       && strcmp(ai_release_set_get(set, 1)->id, "ga@2") == 0
       && strcmp(ai_release_set_get(set, 2)->id, "gb@1") == 0
       && strcmp(ai_release_set_get(set, 2)->file,
                 "fixtures/glob/b.yaml") == 0,
       "in sorted order, each bundle naming its file");

    rc = ai_release_set_load_glob(set, "fixtures/full.yaml", &errs);
    ok(rc == 0 && ai_release_set_count(set) == 4, "a plain path as a glob");

    rc = ai_release_set_load_glob(set, "fixtures/[dm]*/*.yaml", &errs);
    ok(rc == -1 && ai_release_set_count(set) == 4,
       "a glob with one bad file adds nothing");

    ai_release_errors_free(&errs);
    ai_release_set_free(set);
}


static void
test_many(void)
{
    int                  rc;
    char                 id[32], *data, *p;
    size_t               i, found, n, len;
    double               ms;
    ai_release_set_t    *set;
    ai_release_bundle_t *b;
    ai_release_errors_t  errs;
    struct timespec      t0, t1;

    n = 30000;

    data = malloc(n * 80);
    if (data == NULL) {
        ok(0, "malloc");
        return;
    }

    p = data;

    for (i = 0; i < n; i++) {
        p += sprintf(p, "%sname: bundle-%u\nversion: v%u\nupstream: up\n"
                     "model: m\n", i ? "---\n" : "", (unsigned) i,
                     (unsigned) (i % 7));
    }

    len = (size_t) (p - data);

    set = ai_release_set_create();
    ai_release_errors_init(&errs);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = ai_release_set_load_buffer(set, "many.yaml", data, len, &errs);
    clock_gettime(CLOCK_MONOTONIC, &t1);

    ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("# loaded %u bundles (%u bytes) in %.1f ms\n", (unsigned) n,
           (unsigned) len, ms);

    dump_errors(&errs);
    ok(rc == 0 && ai_release_set_count(set) == n,
       "%u documents in one buffer load", (unsigned) n);

    found = 0;

    for (i = 0; i < n; i++) {
        len = (size_t) sprintf(id, "bundle-%u@v%u", (unsigned) i,
                               (unsigned) (i % 7));
        b = ai_release_set_find(set, id, len);

        if (b != NULL && strcmp(b->id, id) == 0 && b->doc_index == i) {
            found++;
        }
    }

    ok(found == n, "every id is findable (%u)", (unsigned) found);

    ok(ai_release_set_find(set, "bundle-30000@v0", 15) == NULL
       && ai_release_set_find(set, "bundle-1@v2", 11) == NULL,
       "missing ids are not found");

    /*
     * all-or-nothing at scale: the same buffer again is 30000 duplicate
     * errors, of which the first AI_RELEASE_ERRORS_MAX are kept
     */

    rc = ai_release_set_load_buffer(set, "many.yaml", data,
                                    (size_t) (p - data), &errs);
    ok(rc == -1 && errs.n == AI_RELEASE_ERRORS_MAX + 1
       && strstr(errs.items[0].message, "duplicate bundle") != NULL
       && strcmp(errs.items[errs.n - 1].message, "... and 29950 more errors")
          == 0
       && ai_release_set_count(set) == n,
       "reloading: duplicate errors (50 and a count), adds nothing");

    ai_release_errors_free(&errs);
    ai_release_set_free(set);
    free(data);
}


/* issue 10: "---\nx: 1\n" over and over is 5 errors a document */

static void
test_error_cap(void)
{
    int                   rc;
    char                 *data;
    size_t                n;
    ai_release_set_t     *set;
    ai_release_errors_t   errs;

    n = 20000;

    data = repeat("", "---\nx: 1\n", n, "");
    if (data == NULL) {
        return;
    }

    set = ai_release_set_create();
    ai_release_errors_init(&errs);

    rc = ai_release_set_load_buffer(set, "x.yaml", data, strlen(data), &errs);

    ok(rc == -1 && errs.n == AI_RELEASE_ERRORS_MAX + 1
       && find_error(&errs, 2, 1, "unknown key \"x\"") != NULL
       && errs.items[errs.n - 1].line == 0
       && strcmp(errs.items[errs.n - 1].file, "x.yaml") == 0
       && strcmp(errs.items[errs.n - 1].message,
                 "... and 99950 more errors") == 0
       && ai_release_set_count(set) == 0,
       "20000 bad documents: %d errors, then \"... and 99950 more errors\"",
       AI_RELEASE_ERRORS_MAX);

    ai_release_errors_free(&errs);

    /* the next file has a cap of its own */

    rc = ai_release_set_load_buffer(set, "y.yaml", "x: 1\n", 5, &errs);

    ok(rc == -1 && errs.n == 5 && strcmp(errs.items[0].file, "y.yaml") == 0,
       "the next file: all of its 5 errors");

    ai_release_errors_free(&errs);
    ai_release_set_free(set);
    free(data);
}


/*
 * A rejected document is freed at once: only what the file keeps counts
 * towards AI_RELEASE_MAX_NODES (a node costs some 70 bytes, whatever the
 * length of its text).
 */

static void
test_node_cap(void)
{
    int                   rc;
    char                 *doc, *data, *p;
    size_t                i, n;
    ai_release_set_t     *set;
    ai_release_errors_t   errs;

    set = ai_release_set_create();
    ai_release_errors_init(&errs);

    /* one document of 1000001 scalars */

    n = AI_RELEASE_MAX_NODES + 1;

    data = repeat(BASE "labels:\n  x: [", "a,", n, "a]\n");
    if (data == NULL) {
        ai_release_set_free(set);
        return;
    }

    rc = ai_release_set_load_buffer(set, "nodes.yaml", data, strlen(data),
                                    &errs);

    if (!ok(rc == -1 && errs.n == 1
            && strcmp(errs.items[0].message, "a manifest file holds more "
                      "than 1000000 YAML nodes") == 0
            && ai_release_set_count(set) == 0,
            "a document of a million nodes: refused"))
    {
        dump_errors(&errs);
    }

    ai_release_errors_free(&errs);
    free(data);

    /* 1100 rejected documents of 1003 nodes: every error counted */

    doc = repeat("---\nx: [", "a,", 999, "a]\n");
    data = (doc != NULL) ? repeat("", doc, 1100, "") : NULL;
    free(doc);

    if (data == NULL) {
        ai_release_set_free(set);
        return;
    }

    rc = ai_release_set_load_buffer(set, "bad.yaml", data, strlen(data),
                                    &errs);

    ok(rc == -1 && errs.n == AI_RELEASE_ERRORS_MAX + 1
       && strcmp(errs.items[errs.n - 1].message, "... and 5450 more errors")
          == 0,
       "1100 bad documents of 1003 nodes: read to the end, errors counted");

    ai_release_errors_free(&errs);
    free(data);

    /*
     * bundles are kept: 99 of 10013 nodes are 991287, the 100th is
     * refused at its 8714th node, its 8701st scalar
     */

    doc = repeat("", "a,", 9999, "a]\n");
    data = (doc != NULL) ? malloc(100 * (strlen(doc) + 80)) : NULL;

    if (data == NULL) {
        free(doc);
        ai_release_set_free(set);
        return;
    }

    p = data;

    for (i = 0; i < 100; i++) {
        p += sprintf(p, "---\nname: b%u\nversion: \"1\"\nupstream: up\n"
                     "model: m\nlabels:\n  x: [%s", (unsigned) i, doc);
    }

    rc = ai_release_set_load_buffer(set, "kept.yaml", data,
                                    (size_t) (p - data), &errs);

    if (!ok(rc == -1 && errs.n == 1
            && errs.items[0].line == 700
            && errs.items[0].column == 7 + 2 * 8700
            && strcmp(errs.items[0].message, "a manifest file holds more "
                      "than 1000000 YAML nodes") == 0
            && ai_release_set_count(set) == 0,
            "100 bundles of 10013 nodes: refused in the 100th"))
    {
        dump_errors(&errs);
    }

    ai_release_errors_free(&errs);
    free(doc);
    free(data);
    ai_release_set_free(set);
}


/* head, n times s, tail: malloc()ed */

static char *
repeat(const char *head, const char *s, size_t n, const char *tail)
{
    char    *data, *p;
    size_t   i, len;

    len = strlen(s);

    data = malloc(strlen(head) + n * len + strlen(tail) + 1);
    if (data == NULL) {
        ok(0, "malloc");
        return NULL;
    }

    p = stpcpy(data, head);

    for (i = 0; i < n; i++) {
        memcpy(p, s, len);
        p += len;
    }

    (void) strcpy(p, tail);

    return data;
}


static int
load(ai_release_set_t *set, const char *yaml, ai_release_errors_t *errs)
{
    return ai_release_set_load_buffer(set, INLINE, yaml, strlen(yaml), errs);
}


static void
dump_errors(const ai_release_errors_t *errs)
{
    char    buf[1024];
    size_t  i;

    if (errs == NULL) {
        return;
    }

    for (i = 0; i < errs->n; i++) {
        ai_release_error_format(&errs->items[i], buf, sizeof(buf));
        printf("#   %s\n", buf);
    }
}


static const ai_release_error_t *
find_error(const ai_release_errors_t *errs, unsigned line, unsigned column,
    const char *substr)
{
    size_t  i;

    for (i = 0; i < errs->n; i++) {
        if (errs->items[i].line == line
            && errs->items[i].column == column
            && errs->items[i].message != NULL
            && strstr(errs->items[i].message, substr) != NULL)
        {
            return &errs->items[i];
        }
    }

    return NULL;
}


static void
expect_error(const char *yaml, unsigned line, unsigned column,
    const char *substr)
{
    int                  rc, pass;
    ai_release_set_t    *set;
    ai_release_errors_t  errs;

    set = ai_release_set_create();
    ai_release_errors_init(&errs);

    rc = load(set, yaml, &errs);

    pass = ok(rc == -1 && ai_release_set_count(set) == 0
              && find_error(&errs, line, column, substr) != NULL,
              "error at %u:%u: %s", line, column, substr);

    if (!pass) {
        dump_errors(&errs);
    }

    ai_release_errors_free(&errs);
    ai_release_set_free(set);
}


/* loads yaml into a new set; the bundle, or NULL after printing errors */

static ai_release_bundle_t *
load_one(const char *yaml, ai_release_set_t **set)
{
    ai_release_errors_t  errs;

    *set = ai_release_set_create();
    ai_release_errors_init(&errs);

    if (load(*set, yaml, &errs) != 0) {
        dump_errors(&errs);
    }

    ai_release_errors_free(&errs);

    return ai_release_set_get(*set, 0);
}


static void
hex(const unsigned char *p, size_t len, char *out)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        sprintf(out + 2 * i, "%02x", p[i]);
    }

    out[2 * len] = '\0';
}
