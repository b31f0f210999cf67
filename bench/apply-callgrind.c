
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Instructions per body byte of the apply plan (ai_release_apply.c, with
 * the JSON scanner it drives), counted by callgrind around plan_body():
 * plan_init, plan_feed in 4 KB chunks (as nginx's client body buffers
 * come), plan_finish; the names looked for are those of a bundle with a
 * model, tools and six params.
 *
 *   cc -O2 -g -std=c99 -D_GNU_SOURCE -I ngx_ai_release_module \
 *       bench/apply-callgrind.c ngx_ai_release_module/ai_release_*.c \
 *       -lyaml -ljansson -lm -o build/apply-callgrind
 *   valgrind --tool=callgrind --toggle-collect=plan_body \
 *       build/apply-callgrind SIZE [KIND]
 *
 * A chat body of about SIZE bytes: a system message, then messages of
 * KIND: "text" (the default: about 250 bytes of prose with escapes and
 * UTF-8), "plain" (250 bytes of ASCII prose), "long" (4 KB of it),
 * "tokens" (tool results: short strings, numbers, literals, objects);
 * or, with KIND "-", the body read from the standard input (SIZE is then
 * its most), e.g. the one make bench's apply phase sends:
 *
 *   perl bench/lib/client.pl body 65536 \
 *   | valgrind --tool=callgrind --toggle-collect=plan_body \
 *       build/apply-callgrind 65536 -
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai_release_apply.h"


#define CHUNK  4096


int plan_body(const char *b, size_t len);


static const char  *names_text[] = {
    "model", "tools", "temperature", "max_tokens", "top_p", "logprobs",
    "user", "stop"
};

static ai_release_member_t  names[8];


static const char  text[] =
    "Please summarise the following support ticket in two sentences. "
    "The customer says the order #4411 arrived late and the box was "
    "damaged; they want a refund or a replacement, whichever is faster. "
    "Caf\xc3\xa9 \\\"quoted\\\" text and a newline\\n too. ";

static const char  plain[] =
    "Please summarise the following support ticket in two sentences. "
    "The customer says the order 4411 arrived late and the box was "
    "damaged; they want a refund or a replacement, whichever is faster. "
    "Thank you very much for your help with this matter, kind regards. ";


static size_t
build(char *b, size_t size, const char *kind)
{
    char         *p;
    size_t        n, i, k, room;
    const char   *t;
    static char   longtext[4096];

    t = text;

    if (strcmp(kind, "plain") == 0) {
        t = plain;

    } else if (strcmp(kind, "long") == 0) {
        for (k = 0; k + sizeof(plain) <= sizeof(longtext);
             k += sizeof(plain) - 1)
        {
            memcpy(longtext + k, plain, sizeof(plain));
        }

        t = longtext;
    }

    p = b;
    p += sprintf(p, "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":"
                 "\"system\",\"content\":\"You are helpful.\"}");

    for (i = 0; (size_t) (p - b) + 80 < size; i++) {
        if (strcmp(kind, "tokens") == 0) {
            p += sprintf(p, ",{\"role\":\"tool\",\"tool_call_id\":\"c%zu\","
                         "\"content\":\"{\\\"a\\\":[1,2,3]}\","
                         "\"x\":[1,2.5,-3e2,true,false,null,{\"k\":\"v\"}]}",
                         i);
            continue;
        }

        room = size - 80 - (p - b);
        n = strlen(t) < room ? strlen(t) : room;

        p += sprintf(p, ",{\"role\":\"%s\",\"content\":\"%.*s\"}",
                     (i & 1) ? "assistant" : "user", (int) n, t);
    }

    p += sprintf(p, "],\"temperature\":0.7,\"max_tokens\":600,"
                 "\"stream\":true}");

    return p - b;
}


__attribute__((noinline)) int
plan_body(const char *b, size_t len)
{
    size_t                           i, k;
    ai_release_span_t                found[8];
    static ai_release_apply_plan_t   p;

    ai_release_apply_plan_init(&p, AI_RELEASE_FORMAT_OPENAI_CHAT, names, 8,
                               found);

    for (i = 0; i < len; i += k) {
        k = (len - i < CHUNK) ? len - i : CHUNK;

        if (ai_release_apply_plan_feed(&p, (const unsigned char *) b + i, k)
            != 0)
        {
            return -1;
        }
    }

    return ai_release_apply_plan_finish(&p);
}


int
main(int argc, char **argv)
{
    char    *b;
    size_t   i, len, size;

    if (argc < 2) {
        fprintf(stderr, "usage: %s SIZE [text|plain|long|tokens]\n",
                argv[0]);
        return 2;
    }

    size = strtoul(argv[1], NULL, 10);

    b = malloc(size + 8192);
    if (b == NULL) {
        return 1;
    }

    for (i = 0; i < 8; i++) {
        names[i].name = (char *) names_text[i];
        names[i].name_len = strlen(names_text[i]);
    }

    if (argc > 2 && strcmp(argv[2], "-") == 0) {
        len = fread(b, 1, size, stdin);

    } else {
        len = build(b, size, argc > 2 ? argv[2] : "text");
    }

    if (plan_body(b, len) != 0) {
        fprintf(stderr, "the body was refused\n");
        return 1;
    }

    printf("%zu bytes\n", len);

    free(b);

    return 0;
}
