
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Unit tests of the component-by-component difference of two bundles
 * (ai_release_diff.c), TAP output.  Run from t/unit:
 *
 *   cd t/unit && ../../build/unit_diff
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai_release_diff.h"
#include "tap.h"


/* every component the digest covers, in one bundle */
#define FULL_HEAD                                                            \
    "name: sd\n"                                                             \
    "upstream: up\n"                                                         \
    "prompt:\n"                                                              \
    "  id: p\n"                                                              \
    "  file: prompt.txt\n"                                                   \
    "system_instructions:\n"                                                 \
    "  file: system.txt\n"                                                   \
    "tool_schema: tools.json\n"                                              \
    "headers:\n"                                                             \
    "  X-Route: a\n"                                                         \
    "eval: {set: golden-v1}\n"                                               \
    "labels: {owner: me}\n"

#define FULL_TAIL                                                            \
    "params:\n"                                                              \
    "  temperature: 0.2\n"                                                   \
    "pricing:\n"                                                             \
    "  input_per_mtok: 2.5\n"                                                \
    "  output_per_mtok: 10\n"                                                \
    "output_contract:\n"                                                     \
    "  status: [200]\n"                                                      \
    "  json: true\n"

#define FULL(version, model, retrieval)                                      \
    FULL_HEAD "version: \"" version "\"\nmodel: " model "\n"                 \
    "retrieval:\n  index: kb\n  top_k: " retrieval "\n" FULL_TAIL


static char  dir[] = "/tmp/air-diff-XXXXXX";


static ai_release_bundle_t *load(const char *yaml, ai_release_set_t **set);
static void files(const char *prompt, const char *system, const char *tools);
static size_t diff(const char *old, const char *new, char *buf, size_t size);
static size_t files_diff(const char *old, const char *new, const char *prompt,
    const char *system, const char *tools, char *buf, size_t size);
static void expect(const char *what, const char *old, const char *new,
    const char *text);
static int valid_utf8(const char *s);

static void test_identical(void);
static void test_each_component(void);
static void test_files(void);
static void test_identity(void);
static void test_cut(void);
static void test_small_buffer(void);


int
main(void)
{
    char  cmd[64];

    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }

    files("Draft a reply.\n", "Be polite.\n", "{\"tools\":[]}\n");

    test_identical();
    test_each_component();
    test_files();
    test_identity();
    test_cut();
    test_small_buffer();

    (void) snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);

    if (system(cmd) != 0) {
        printf("# could not remove %s\n", dir);
    }

    return tap_done();
}


static ai_release_bundle_t *
load(const char *yaml, ai_release_set_t **set)
{
    char                 path[128];
    size_t               i;
    ai_release_errors_t  errs;

    (void) snprintf(path, sizeof(path), "%s/bundle.yaml", dir);

    *set = ai_release_set_create();
    ai_release_errors_init(&errs);

    if (ai_release_set_load_buffer(*set, path, yaml, strlen(yaml), &errs)
        != 0)
    {
        for (i = 0; i < errs.n; i++) {
            printf("# %s:%u: %s\n", errs.items[i].file, errs.items[i].line,
                   errs.items[i].message);
        }

        ai_release_errors_free(&errs);
        return NULL;
    }

    ai_release_errors_free(&errs);

    return ai_release_set_get(*set, 0);
}


static void
files(const char *prompt, const char *system, const char *tools)
{
    char  path[128];

    (void) snprintf(path, sizeof(path), "%s/prompt.txt", dir);
    (void) write_file(path, prompt);
    (void) snprintf(path, sizeof(path), "%s/system.txt", dir);
    (void) write_file(path, system);
    (void) snprintf(path, sizeof(path), "%s/tools.json", dir);
    (void) write_file(path, tools);
}


/* the difference of two manifests, loaded from the same directory */

static size_t
diff(const char *old, const char *new, char *buf, size_t size)
{
    size_t                n;
    ai_release_set_t     *so, *sn;
    ai_release_bundle_t  *bo, *bn;

    bo = load(old, &so);
    bn = load(new, &sn);

    n = (size_t) -1;

    if (bo && bn) {
        n = ai_release_diff(bo, bn, buf, size);
    }

    ai_release_set_free(so);
    ai_release_set_free(sn);

    return n;
}


static void
expect(const char *what, const char *old, const char *new, const char *text)
{
    char    buf[1024];
    size_t  n;

    n = diff(old, new, buf, sizeof(buf));

    ok(n == 1 && strcmp(buf, text) == 0, "%s alone: \"%s\"", what, text);

    if (n != 1 || strcmp(buf, text) != 0) {
        printf("# got %zu: \"%s\"\n", n, n == (size_t) -1 ? "" : buf);
    }
}


static void
test_identical(void)
{
    char    buf[64];
    size_t  n;

    memset(buf, 'x', sizeof(buf));

    n = diff(FULL("4", "gpt-x", "8"), FULL("4", "gpt-x", "8"), buf,
             sizeof(buf));

    ok(n == 0 && buf[0] == '\0', "identical bundles: no difference");

    /* what the digest leaves out, and formatting, say nothing */

    n = diff(FULL("4", "gpt-x", "8"),
             "# another layout, the same behaviour\n"
             "labels: {owner: you}\n"
             "eval: {set: golden-v2}\n"
             FULL_TAIL
             "retrieval: {top_k: '8', index: \"kb\"}\n"
             "model: 'gpt-x'\nversion: \"4\"\n"
             "tool_schema: \"tools.json\"\n"
             "system_instructions: {file: system.txt}\n"
             "prompt: {file: prompt.txt, id: p}\n"
             "headers: {X-Route: a}\n"
             "upstream: up\nname: sd\n", buf, sizeof(buf));

    ok(n == 0 && buf[0] == '\0',
       "eval, labels, key order and quoting: no difference (\"%s\")", buf);
}


static void
test_each_component(void)
{
    const char  *base;

    base = FULL("4", "gpt-x", "8");

    expect("model", base, FULL("4", "gpt-y", "8"), "model gpt-x -> gpt-y");
    expect("retrieval", base, FULL("4", "gpt-x", "12"),
           "retrieval.top_k 8 -> 12");

    expect("params", base,
           FULL_HEAD "version: \"4\"\nmodel: gpt-x\n"
           "retrieval:\n  index: kb\n  top_k: 8\n"
           "params:\n  temperature: 0.7\n"
           "pricing:\n  input_per_mtok: 2.5\n  output_per_mtok: 10\n"
           "output_contract:\n  status: [200]\n  json: true\n",
           "params.temperature 0.2 -> 0.7");

    expect("params quoting", base,
           FULL_HEAD "version: \"4\"\nmodel: gpt-x\n"
           "retrieval:\n  index: kb\n  top_k: 8\n"
           "params:\n  temperature: \"0.2\"\n"
           "pricing:\n  input_per_mtok: 2.5\n  output_per_mtok: 10\n"
           "output_contract:\n  status: [200]\n  json: true\n",
           "params.temperature 0.2 -> \"0.2\"");

    expect("a param added", base,
           FULL_HEAD "version: \"4\"\nmodel: gpt-x\n"
           "retrieval:\n  index: kb\n  top_k: 8\n"
           "params:\n  temperature: 0.2\n  seed: 7\n"
           "pricing:\n  input_per_mtok: 2.5\n  output_per_mtok: 10\n"
           "output_contract:\n  status: [200]\n  json: true\n",
           "params.seed (none) -> 7");

    expect("pricing", base,
           FULL_HEAD "version: \"4\"\nmodel: gpt-x\n"
           "retrieval:\n  index: kb\n  top_k: 8\n"
           "params:\n  temperature: 0.2\n"
           "pricing:\n  input_per_mtok: 3\n  output_per_mtok: 10\n"
           "output_contract:\n  status: [200]\n  json: true\n",
           "pricing.input_per_mtok 2.5 -> 3");

    expect("output contract", base,
           FULL_HEAD "version: \"4\"\nmodel: gpt-x\n"
           "retrieval:\n  index: kb\n  top_k: 8\n"
           "params:\n  temperature: 0.2\n"
           "pricing:\n  input_per_mtok: 2.5\n  output_per_mtok: 10\n"
           "output_contract:\n  status: [200, 201]\n  json: true\n",
           "output_contract.status [200] -> [200,201]");

    expect("output contract removed", base,
           FULL_HEAD "version: \"4\"\nmodel: gpt-x\n"
           "retrieval:\n  index: kb\n  top_k: 8\n"
           "params:\n  temperature: 0.2\n"
           "pricing:\n  input_per_mtok: 2.5\n  output_per_mtok: 10\n",
           "output_contract {status:[200],json:true} -> (none)");

    expect("headers", base,
           "name: sd\nupstream: up\nprompt:\n  id: p\n  file: prompt.txt\n"
           "system_instructions:\n  file: system.txt\n"
           "tool_schema: tools.json\nheaders:\n  X-Route: b\n"
           "version: \"4\"\nmodel: gpt-x\n"
           "retrieval:\n  index: kb\n  top_k: 8\n" FULL_TAIL,
           "headers.X-Route a -> b");

    expect("prompt key", base,
           "name: sd\nupstream: up\nprompt:\n  id: q\n  file: prompt.txt\n"
           "system_instructions:\n  file: system.txt\n"
           "tool_schema: tools.json\nheaders:\n  X-Route: a\n"
           "version: \"4\"\nmodel: gpt-x\n"
           "retrieval:\n  index: kb\n  top_k: 8\n" FULL_TAIL,
           "prompt.id p -> q");

    expect("upstream", base,
           "name: sd\nupstream: up2\nprompt:\n  id: p\n  file: prompt.txt\n"
           "system_instructions:\n  file: system.txt\n"
           "tool_schema: tools.json\nheaders:\n  X-Route: a\n"
           "version: \"4\"\nmodel: gpt-x\n"
           "retrieval:\n  index: kb\n  top_k: 8\n" FULL_TAIL,
           "upstream up -> up2");

    expect("system instructions inline", base,
           "name: sd\nupstream: up\nprompt:\n  id: p\n  file: prompt.txt\n"
           "system_instructions: Be brief.\n"
           "tool_schema: tools.json\nheaders:\n  X-Route: a\n"
           "version: \"4\"\nmodel: gpt-x\n"
           "retrieval:\n  index: kb\n  top_k: 8\n" FULL_TAIL,
           "system_instructions {file:system.txt} -> Be brief.");
}


/*
 * The difference of old, loaded with the files as they are, and of new,
 * loaded after the files were written anew
 */

static size_t
files_diff(const char *old, const char *new, const char *prompt,
    const char *system, const char *tools, char *buf, size_t size)
{
    size_t                n;
    ai_release_set_t     *so, *sn;
    ai_release_bundle_t  *bo, *bn;

    bo = load(old, &so);
    files(prompt, system, tools);
    bn = load(new, &sn);

    n = (bo && bn) ? ai_release_diff(bo, bn, buf, size) : (size_t) -1;

    if (n == (size_t) -1 && size > 0) {
        buf[0] = '\0';
    }

    ai_release_set_free(so);
    ai_release_set_free(sn);

    return n;
}


/* a file's bytes change under the same name: only its key is named */

static void
test_files(void)
{
    char         buf[256];
    size_t       n;
    const char  *m;

    m = FULL("4", "gpt-x", "8");

    n = files_diff(m, m, "Draft a better reply.\n", "Be polite.\n",
                   "{\"tools\":[]}\n", buf, sizeof(buf));
    ok(n == 1 && strcmp(buf, "prompt.file changed") == 0,
       "prompt file contents alone: \"%s\"", buf);

    n = files_diff(m, m, "Draft a better reply.\n", "Be very polite.\n",
                   "{\"tools\":[]}\n", buf, sizeof(buf));
    ok(n == 1 && strcmp(buf, "system_instructions.file changed") == 0,
       "system instructions file alone: \"%s\"", buf);

    n = files_diff(m, m, "Draft a better reply.\n", "Be very polite.\n",
                   "{\"tools\":[{\"name\":\"lookup\"}]}\n", buf,
                   sizeof(buf));
    ok(n == 1 && strcmp(buf, "tool_schema changed") == 0,
       "tool schema alone: \"%s\"", buf);

    /* all three at once, in order, with the model */

    n = files_diff(m, FULL("4", "gpt-y", "8"), "v3\n", "v3\n",
                   "{\"v\":3}\n", buf, sizeof(buf));
    ok(n == 4 && strcmp(buf, "model gpt-x -> gpt-y, prompt.file changed, "
                             "system_instructions.file changed, "
                             "tool_schema changed") == 0,
       "several components, in order: \"%s\"", buf);

    /* another file named */

    n = diff(m,
             "name: sd\nupstream: up\nprompt:\n  id: p\n  file: system.txt\n"
             "system_instructions:\n  file: system.txt\n"
             "tool_schema: tools.json\nheaders:\n  X-Route: a\n"
             "version: \"4\"\nmodel: gpt-x\n"
             "retrieval:\n  index: kb\n  top_k: 8\n" FULL_TAIL,
             buf, sizeof(buf));
    ok(n == 1 && strcmp(buf, "prompt.file prompt.txt -> system.txt") == 0,
       "another prompt file: \"%s\"", buf);
}


static void
test_identity(void)
{
    char                  buf[128];
    size_t                n;
    ai_release_set_t     *so, *sn;
    ai_release_bundle_t  *bo, *bn;

    bo = load(FULL("4", "gpt-x", "8"), &so);
    bn = load(FULL("5", "gpt-x", "8"), &sn);

    n = (bo && bn) ? ai_release_diff(bo, bn, buf, sizeof(buf)) : 1;
    ok(n == 0 && buf[0] == '\0',
       "a new version alone is no component");

    if (bo && bn) {
        ai_release_diff_ids(bo, bn, buf, sizeof(buf));
        ok(strcmp(buf, "sd@4 -> @5") == 0, "ids: \"%s\"", buf);

        ai_release_diff_ids(bo, bo, buf, sizeof(buf));
        ok(strcmp(buf, "sd@4") == 0, "the same id: \"%s\"", buf);

        ai_release_diff_ids(bo, bn, buf, 6);
        ok(strcmp(buf, "sd@4 ") == 0, "ids cut to the buffer");
    }

    ai_release_set_free(so);
    ai_release_set_free(sn);
}


static void
test_cut(void)
{
    char    buf[512], old[2048], new[2048], longv[256];
    size_t  n, i;

    /* 60 ASCII bytes: 40 shown, then "..." */

    for (i = 0; i < 60; i++) {
        longv[i] = (char) ('a' + i % 26);
    }

    longv[60] = '\0';

    (void) snprintf(old, sizeof(old), "%s", FULL("4", "gpt-x", "8"));
    (void) snprintf(new, sizeof(new),
                    FULL_HEAD "version: \"4\"\nmodel: %s\n"
                    "retrieval:\n  index: kb\n  top_k: 8\n" FULL_TAIL,
                    longv);

    n = diff(old, new, buf, sizeof(buf));
    ok(n == 1 && strncmp(buf, "model gpt-x -> ", 15) == 0
       && strlen(buf) == 15 + AI_RELEASE_DIFF_VALUE_MAX + 3
       && strncmp(buf + 15, longv, AI_RELEASE_DIFF_VALUE_MAX) == 0
       && strcmp(buf + 15 + AI_RELEASE_DIFF_VALUE_MAX, "...") == 0,
       "a long value is cut to %d bytes and \"...\": \"%s\"",
       AI_RELEASE_DIFF_VALUE_MAX, buf);

    /* 20 euro signs (3 bytes each): never cut inside one */

    longv[0] = '\0';

    for (i = 0; i < 20; i++) {
        strcat(longv, "\xe2\x82\xac");
    }

    (void) snprintf(new, sizeof(new),
                    FULL_HEAD "version: \"4\"\nmodel: gpt-x\n"
                    "retrieval:\n  index: \"%s\"\n  top_k: 8\n" FULL_TAIL,
                    longv);

    n = diff(old, new, buf, sizeof(buf));
    ok(n == 1 && valid_utf8(buf)
       && strlen(buf) == sizeof("retrieval.index kb -> ") - 1 + 13 * 3 + 3,
       "a cut never splits a UTF-8 character: \"%s\"", buf);

    /* control bytes are escaped: one line in the log */

    (void) snprintf(new, sizeof(new),
                    FULL_HEAD "version: \"4\"\nmodel: gpt-x\n"
                    "retrieval:\n  index: \"k\\nb\\x01\\t\"\n  top_k: 8\n"
                    FULL_TAIL);

    n = diff(old, new, buf, sizeof(buf));
    ok(n == 1 && strcmp(buf, "retrieval.index kb -> k\\nb\\x01\\t") == 0,
       "control bytes escaped: \"%s\"", buf);
}


static void
test_small_buffer(void)
{
    char    buf[40];
    size_t  n;

    files("Draft a reply.\n", "Be polite.\n", "{\"tools\":[]}\n");

    memset(buf, 'x', sizeof(buf));

    n = diff(FULL("4", "gpt-x", "8"),
             "name: sd\nupstream: up2\nprompt:\n  id: q\n  file: prompt.txt\n"
             "system_instructions:\n  file: system.txt\n"
             "tool_schema: tools.json\nheaders:\n  X-Route: b\n"
             "version: \"4\"\nmodel: gpt-y\n"
             "retrieval:\n  index: kb\n  top_k: 12\n" FULL_TAIL,
             buf, sizeof(buf));

    ok(n == 5 && strcmp(buf, "headers.X-Route a -> b, ...") == 0,
       "what does not fit ends in \"...\", the count is whole: %zu \"%s\"",
       n, buf);

    n = diff(FULL("4", "gpt-x", "8"), FULL("4", "gpt-yyyyyyyyyyyyyy", "8"),
             buf, 8);
    ok(n == 1 && strcmp(buf, "...") == 0,
       "a first component that does not fit: \"...\"");

    n = diff(FULL("4", "gpt-x", "8"), FULL("4", "gpt-y", "8"), buf, 0);
    ok(n == 1, "a buffer of 0 bytes: only the count");
}


static int
valid_utf8(const char *s)
{
    size_t               i, need;
    const unsigned char  *p;

    p = (const unsigned char *) s;

    while (*p) {
        need = (*p >= 0xf0) ? 3 : (*p >= 0xe0) ? 2 : (*p >= 0xc0) ? 1
               : (*p >= 0x80) ? (size_t) -1 : 0;

        if (need == (size_t) -1) {
            return 0;
        }

        for (i = 1; i <= need; i++) {
            if ((p[i] & 0xc0) != 0x80) {
                return 0;
            }
        }

        p += need + 1;
    }

    return 1;
}
