/*
 * err.h — the error record passed down every fallible call.
 *
 * Convention (whole project): a fallible function returns 0 on success and -1
 * on failure, and fills the cd_err it was given (which may be NULL when the
 * caller does not care). `retriable` tells the caller whether trying again
 * later can succeed (a Redis connection refused) or not (a malformed record).
 * Messages are lowercase, quote their subject, and end without a full stop.
 */
#ifndef CD_UTIL_ERR_H
#define CD_UTIL_ERR_H

#include <stdarg.h>

typedef struct cd_err {
	char msg[512];
	int retriable;           /* 1: a later retry may succeed; 0: final */
} cd_err;

#if defined(__GNUC__)
#define CD_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CD_PRINTF(a, b)
#endif

/* Sets err (if not NULL) and returns -1, so that `return cd_err_set(...)` reads well. */
int cd_err_set(cd_err *err, int retriable, const char *fmt, ...) CD_PRINTF(3, 4);
int cd_err_vset(cd_err *err, int retriable, const char *fmt, va_list ap);
/* Prefixes an existing message with context: "reading 'x': <old message>". */
int cd_err_prefix(cd_err *err, const char *fmt, ...) CD_PRINTF(2, 3);
void cd_err_clear(cd_err *err);

#endif
