/*
 * num.c — strict whole decimal numbers (see num.h).
 */
#include "util/num.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

int cd_num_parse_long(const char *s, long *out)
{
	char *end;
	long v;

	if (!(isdigit((unsigned char)*s) || ((*s == '-' || *s == '+') && isdigit((unsigned char)s[1]))))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end)
		return -1;
	if (errno == ERANGE)
		return 1;
	*out = v;
	return 0;
}

int cd_num_parse_range(const char *s, long lo, long hi, long *out)
{
	long v;

	if (cd_num_parse_long(s, &v) != 0 || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}
