/*
 * sb.h — a string builder over a fixed array, for hot paths where snprintf's
 * format parsing dominated the profile (output ids, explanations). Appends
 * past the end are dropped (the text is truncated, never overflowed); the
 * result is always NUL-terminated.
 */
#ifndef CD_UTIL_SB_H
#define CD_UTIL_SB_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct cd_sb {
	char *p;      /* next write position */
	char *end;    /* the last byte, reserved for the NUL */
} cd_sb;

static inline cd_sb cd_sb_on(char *buf, size_t size)
{
	cd_sb b = { buf, buf + size - 1 };
	*buf = '\0';
	return b;
}

static inline void cd_sb_put(cd_sb *b, const char *s, size_t n)
{
	size_t room = (size_t)(b->end - b->p);
	if (n > room)
		n = room;
	memcpy(b->p, s, n);
	b->p += n;
	*b->p = '\0';
}

static inline void cd_sb_puts(cd_sb *b, const char *s)
{
	cd_sb_put(b, s, strlen(s));
}

static inline void cd_sb_uint(cd_sb *b, uint64_t v)
{
	char tmp[24], *q = tmp + sizeof(tmp);
	do {
		*--q = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	cd_sb_put(b, q, (size_t)(tmp + sizeof(tmp) - q));
}

static inline void cd_sb_int(cd_sb *b, int64_t v)
{
	if (v < 0) {
		cd_sb_put(b, "-", 1);
		cd_sb_uint(b, (uint64_t)0 - (uint64_t)v);
	} else
		cd_sb_uint(b, (uint64_t)v);
}

#endif
