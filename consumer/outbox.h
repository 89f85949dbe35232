/*
 * outbox.h — the persisted envelope of one outbox entry: what a batch commits
 * to Redis for the relay to produce later (an output or a dead letter), and
 * what the relay reads back, possibly after an upgrade. It lives in Redis
 * across restarts, so it is versioned.
 *
 * Version 1:
 *   u8 0xF1 (the version), u8 kind (CD_OUTBOX_*, | CD_OUTBOX_NULL_KEY when the
 *   record has no key rather than an empty one), key, value, varint
 *   n_headers, then n_headers name/value pairs; every byte string is a varint
 *   length and its bytes.
 * Version 0 (before the version byte, still read): the same without the 0xF1;
 *   its kind byte (1…3, or 0x81…0x83) can never be 0xF1.
 *
 * Pure: no I/O, nothing allocated except in the caller's cd_buf.
 */
#ifndef CD_CONSUMER_OUTBOX_H
#define CD_CONSUMER_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "consumer/kafka.h"
#include "util/buf.h"

enum {
	CD_OUTBOX_DEADLINE = 1, CD_OUTBOX_BREACH = 2, CD_OUTBOX_DLQ = 3,
	CD_OUTBOX_MEMBER = 4,       /* to the members topic, by key */
	CD_OUTBOX_MEMBERS_ALL = 5,  /* to every partition of the members topic: a watermark, or a member leaving */
	CD_OUTBOX_AGGREGATE = 6,    /* an AggregateEvent (the aggregate stage) */
};
#define CD_OUTBOX_VERSION 0xF1
#define CD_OUTBOX_NULL_KEY 0x80
#define CD_OUTBOX_MAX_HEADERS 12
#define CD_OUTBOX_MAX_NAME 63

/* A parsed entry: key, value and header values point into the parsed bytes. */
typedef struct cd_outbox_entry {
	int kind;                     /* CD_OUTBOX_* */
	const uint8_t *key, *val;     /* key NULL: the record has no key */
	size_t key_len, val_len;
	cd_header h[CD_OUTBOX_MAX_HEADERS];
	char names[CD_OUTBOX_MAX_HEADERS][CD_OUTBOX_MAX_NAME + 1];   /* NUL-terminated copies */
	size_t n_h;
} cd_outbox_entry;

/*
 * Writes the envelope up to its headers into b (reset first): kind, key (NULL:
 * no key), value, and the number of headers that cd_outbox_header calls will
 * add next. 0 / -1 (b's maximum reached).
 */
int cd_outbox_begin(cd_buf *b, int kind, const void *key, size_t key_len, const void *val, size_t val_len,
		    size_t n_headers);
/* Appends one header (name at most CD_OUTBOX_MAX_NAME bytes). 0 / -1. */
int cd_outbox_header(cd_buf *b, const char *name, const void *val, size_t len);
/* Parses version 1 or 0 into e. 0; -1 when the bytes are not a whole, valid entry. */
int cd_outbox_parse(const uint8_t *p, size_t n, cd_outbox_entry *e);

#endif
