
/*
 * Copyright (C) ngx_ai_release authors
 */


#include <stdarg.h>
#include <stdio.h>

#include "tap.h"


static int  tap_run;
static int  tap_failed;


int
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
    va_list  args;

    tap_run++;

    printf("%s %d - ", pass ? "ok" : "not ok", tap_run);

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");

    if (!pass) {
        tap_failed++;
        printf("#   failed at %s line %d\n", file, line);
    }

    /* a crash in the next test must not hide the lines of this one */
    (void) fflush(stdout);

    return pass;
}


int
tap_done(void)
{
    printf("1..%d\n", tap_run);

    if (tap_failed) {
        printf("# failed %d of %d tests\n", tap_failed, tap_run);
        return 1;
    }

    return 0;
}
