
/*
 * Copyright (C) ngx_ai_release authors
 *
 * Fuzz target: the state file of ai_release_state, through
 * ai_release_state_parse().  What parses must survive a round trip: the
 * text ai_release_state_format() writes parses back to the same entries.
 */


#include "fuzz.h"


int
fuzz_one_state(const uint8_t *data, size_t size)
{
    int                 rc;
    char               *text, *copy, err[128];
    size_t              len, i;
    ai_release_state_t  st, back;

    /* exactly the input, not NUL-terminated: reading past it is caught */

    copy = malloc(size ? size : 1);
    FUZZ_CHECK(copy != NULL);

    if (size) {
        memcpy(copy, data, size);
    }

    memset(err, 'e', sizeof(err));

    rc = ai_release_state_parse(copy, size, &st, err, sizeof(err));

    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);

    free(copy);

    if (rc != 0) {
        FUZZ_CHECK(err[0] != '\0');
        FUZZ_CHECK(st.entries == NULL && st.n == 0);
        return 0;
    }

    text = ai_release_state_format(&st, FUZZ_NOW, &len);
    FUZZ_CHECK(text != NULL);

    rc = ai_release_state_parse(text, len, &back, err, sizeof(err));
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(back.n == st.n);

    for (i = 0; i < st.n; i++) {
        FUZZ_CHECK(memcmp(&st.entries[i], &back.entries[i],
                          sizeof(ai_release_state_entry_t)) == 0);
    }

    free(text);
    ai_release_state_free(&back);
    ai_release_state_free(&st);

    return 0;
}


#ifndef AI_RELEASE_NO_LIBFUZZER_MAIN

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_one_state(data, size);
}

#endif
