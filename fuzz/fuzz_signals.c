
/*
 * Copyright (C) ngx_ai_release authors
 *
 * libFuzzer target: behaviour signals (ai_release_signals.c) of arbitrary
 * bodies and event streams.  The first byte chooses the format (bits 0-1),
 * a stream (bit 2) and a complete answer (bit 3); the second where to cut
 * the body in two and the seed of random chunk sizes; the rest is the
 * body.  The signals must be the same whole, cut in two, in random chunks
 * and a byte at a time, and hold together: answer_bytes is the body's
 * length, the first text is a closing quote inside it, a body has no
 * events, and so on.  The histogram's bucket of a value drawn from the
 * input must hold it.
 */


#include "fuzz.h"
#include "ai_release_signals.h"
#include "ai_release_apply.h"


static void fuzz_signals_run(ai_release_signals_t *s, const uint8_t *head,
    const uint8_t *body, size_t len, size_t cut, unsigned step,
    unsigned seed, ai_release_signals_result_t *r);
static int fuzz_signals_same(const ai_release_signals_result_t *a,
    const ai_release_signals_result_t *b);
static void fuzz_signals_hist(const uint8_t *data, size_t size);


int
fuzz_one_signals(const uint8_t *data, size_t size)
{
    size_t                       len, cut;
    const uint8_t               *body;
    ai_release_signals_result_t  whole, other;

    static ai_release_signals_t  s;

    if (size < 2) {
        return 0;
    }

    body = data + 2;
    len = size - 2;

    fuzz_signals_run(&s, data, body, len, len, 0, 0, &whole);

    FUZZ_CHECK(whole.answer_bytes == len);
    FUZZ_CHECK(whole.ending < AI_RELEASE_END_N);
    FUZZ_CHECK(whole.cut == !(data[0] & 8));
    FUZZ_CHECK(whole.first_text_offset >= -1
               && whole.first_text_offset < (int64_t) len);
    FUZZ_CHECK((whole.first_text_offset >= 0) == (whole.text_bytes > 0));

    if (whole.first_text_offset >= 0) {
        FUZZ_CHECK(body[whole.first_text_offset] == '"');
        FUZZ_CHECK(whole.text_bytes > 0);
    }

    if (!(data[0] & 4)) {
        FUZZ_CHECK(whole.events == 0 && whole.first_text_event == 0);

    } else {
        FUZZ_CHECK(whole.first_text_event <= whole.events);
        FUZZ_CHECK((whole.first_text_event > 0)
                   == (whole.first_text_offset >= 0));
    }

    if ((data[0] & 3) == AI_RELEASE_FORMAT_NONE) {
        FUZZ_CHECK(whole.text_bytes == 0 && whole.ending == 0
                   && !whole.has_output && !whole.has_input
                   && whole.tool_calls == 0 && !whole.refused
                   && !whole.invalid);
    }

    /* the same however the body is split */

    cut = len * data[1] / 255;

    fuzz_signals_run(&s, data, body, len, cut, 0, 0, &other);
    FUZZ_CHECK(fuzz_signals_same(&whole, &other));

    fuzz_signals_run(&s, data, body, len, len, 16, data[1] | 1u, &other);
    FUZZ_CHECK(fuzz_signals_same(&whole, &other));

    fuzz_signals_run(&s, data, body, len, len, 1, 0, &other);
    FUZZ_CHECK(fuzz_signals_same(&whole, &other));

    fuzz_signals_hist(data, size);

    return 0;
}


/*
 * The signals of body: in two at cut when step is 0, else in chunks of
 * step bytes, or of 1 to step bytes drawn from seed when seed is not 0;
 * each chunk in memory of its own
 */

static void
fuzz_signals_run(ai_release_signals_t *s, const uint8_t *head,
    const uint8_t *body, size_t len, size_t cut, unsigned step,
    unsigned seed, ai_release_signals_result_t *r)
{
    size_t    pos, n;
    uint8_t  *copy;

    ai_release_signals_init(s, head[0] & 3, (head[0] & 4) != 0);

    for (pos = 0; pos < len; pos += n) {

        if (step == 0) {
            n = (pos < cut) ? cut - pos : len - pos;

        } else if (seed) {
            seed = seed * 1103515245 + 12345;
            n = 1 + (seed >> 16) % step;

        } else {
            n = step;
        }

        if (n > len - pos) {
            n = len - pos;
        }

        copy = malloc(n);
        FUZZ_CHECK(copy != NULL);

        memcpy(copy, body + pos, n);
        ai_release_signals_feed(s, copy, n);
        free(copy);
    }

    *r = *ai_release_signals_finish(s, (head[0] & 8) != 0);
}


static int
fuzz_signals_same(const ai_release_signals_result_t *a,
    const ai_release_signals_result_t *b)
{
    return a->output_tokens == b->output_tokens
           && a->input_tokens == b->input_tokens
           && a->answer_bytes == b->answer_bytes
           && a->text_bytes == b->text_bytes
           && a->tool_calls == b->tool_calls
           && a->events == b->events
           && a->first_text_offset == b->first_text_offset
           && a->first_text_event == b->first_text_event
           && a->ending == b->ending
           && a->has_output == b->has_output
           && a->has_input == b->has_input
           && a->refused == b->refused
           && a->invalid == b->invalid
           && a->cut == b->cut;
}


/* a value from the input's last 8 bytes in its bucket's bounds */

static void
fuzz_signals_hist(const uint8_t *data, size_t size)
{
    size_t    i;
    unsigned  b;
    uint64_t  v;

    v = 0;

    for (i = size > 8 ? size - 8 : 0; i < size; i++) {
        v = (v << 8) | data[i];
    }

    b = ai_release_hist_bucket(v);

    FUZZ_CHECK(b < AI_RELEASE_HIST_BUCKETS);
    FUZZ_CHECK(v <= ai_release_hist_le(b));
    FUZZ_CHECK(b == 0 || v > ai_release_hist_le(b - 1));
}


#ifndef AI_RELEASE_NO_LIBFUZZER_MAIN

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_one_signals(data, size);
}

#endif
