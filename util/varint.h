/*
 * varint.h — protobuf's unsigned LEB128 varint, the one writer and reader
 * every encoder in contactd uses (the citizen record, the output encoder,
 * event-log framing, cd_buf, the outbox envelope).
 */
#ifndef CD_UTIL_VARINT_H
#define CD_UTIL_VARINT_H

#include <stdint.h>

#define CD_VARINT_MAX 10          /* bytes of the longest (a uint64_t) */

/* Writes v at p (room for CD_VARINT_MAX bytes); returns the byte after it. */
static inline uint8_t *cd_varint_put(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* Reads a varint from [*p, end); advances *p. -1 on truncation or overflow (util/buf.c). */
int cd_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v);

#endif
