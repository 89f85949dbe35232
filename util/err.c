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

int cd_err_prefix(cd_err *err, const char *fmt, ...)
{
	char prefix[256], old[sizeof(err->msg)];
	va_list ap;
	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
	return -1;
}

void cd_err_clear(cd_err *err)
{
	if (err) {
		err->msg[0] = '\0';
		err->retriable = 0;
	}
}
