
/*
 * Copyright (C) ngx_ai_release authors
 *
 * What every unit test program shares: the few lines of TAP (ok() numbers
 * a result and says where a failure is, tap_done() prints the plan and gives
 * the program's exit status) and writing a fixture file.
 */


#ifndef _AI_RELEASE_TAP_H_INCLUDED_
#define _AI_RELEASE_TAP_H_INCLUDED_


#define ok(cond, ...)                                                        \
    tap_ok((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)


int tap_ok(int pass, const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
int tap_done(void);

/* writes data to path; 0, or -1 on an error */
int write_file(const char *path, const char *data);


#endif /* _AI_RELEASE_TAP_H_INCLUDED_ */
