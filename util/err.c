#include "util/err.h"

#include <stdio.h>
#include <string.h>

int cd_err_vset(cd_err *err, int retriable, const char *fmt, va_list ap)
{
	if (!err)
		return -1;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	err->retriable = retriable;
	return -1;
}

int cd_err_set(cd_err *err, int retriable, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cd_err_vset(err, retriable, fmt, ap);
	va_end(ap);
	return -1;
}

/* Copies s into dst at `at`, truncating to cap; returns the new length. */
static size_t append_str(char *dst, size_t cap, size_t at, const char *s)
{
	while (*s && at + 1 < cap)
		dst[at++] = *s++;
	dst[at] = '\0';
	return at;
}

int cd_err_prefix(cd_err *err, const char *fmt, ...)
{
	char prefix[256], old[sizeof(err->msg)];
	size_t n;
	va_list ap;
	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* not snprintf("%s: %s"): GCC's -Wformat-truncation flags it; truncating is intended */
	n = append_str(err->msg, sizeof(err->msg), 0, prefix);
	n = append_str(err->msg, sizeof(err->msg), n, ": ");
	append_str(err->msg, sizeof(err->msg), n, old);
	return -1;
}

void cd_err_clear(cd_err *err)
{
	if (err) {
		err->msg[0] = '\0';
		err->retriable = 0;
	}
}
