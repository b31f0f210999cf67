
/*
 * Copyright (C) ngx_ai_release authors
 */


#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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


int
write_file(const char *path, const char *data)
{
    FILE    *f;
    size_t   len;

    f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }

    len = strlen(data);

    if (fwrite(data, 1, len, f) != len) {
        fclose(f);
        return -1;
    }

    return fclose(f) == 0 ? 0 : -1;
}
