#include "util/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int min_level = CD_LOG_INFO;
static const char *const names[] = { "debug", "info", "warn", "error" };

void cd_log_set_level(int level) { min_level = level; }
int cd_log_enabled(int level) { return level >= min_level; }

int cd_log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

/* Values come from input too: control characters are escaped so that a value
 * can never start a line of its own or hide what follows it. */
static bool plain(const char *v)
{
	if (!*v)
		return false;
	for (; *v; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f || *v == ' ' || *v == '"' || *v == '=' || *v == '\\')
			return false;
	return true;
}

static void put_value(FILE *f, const char *v)
{
	if (!v)
		v = "";
	if (plain(v)) {
		fputs(v, f);
		return;
	}
	fputc('"', f);
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void cd_log(int level, const char *msg, ...)
{
	struct timespec ts;
	struct tm tm;
	char when[40];
	va_list ap;
	const char *k;

	if (level < min_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	flockfile(stderr);
	fprintf(stderr, "ts=%s.%03ldZ level=%s msg=", when, ts.tv_nsec / 1000000, names[level & 3]);
	put_value(stderr, msg);
	va_start(ap, msg);
	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);
		fprintf(stderr, " %s=", k);
		put_value(stderr, v);
	}
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}
