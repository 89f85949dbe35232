/*
 * buf.h — a growable byte buffer with a hard maximum.
 *
 * Every buffer that input can grow has a ceiling (`max`); growing past it is
 * an error the caller reports, never a crash and never silent truncation.
 * Invariants: len <= cap <= max (when cap > 0); data is NUL-terminated after
 * every append, so text users may read data as a C string.
 * Lifecycle (git's strbuf verbs): cd_buf_init allocates nothing;
 * cd_buf_reset empties but keeps memory; cd_buf_release frees the contents.
 */
#ifndef CD_UTIL_BUF_H
#define CD_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/varint.h"

typedef struct cd_buf {
	char *data;   /* owned; NULL until the first append */
	size_t len;
	size_t cap;
	size_t max;   /* ceiling on len; appends beyond it fail */
} cd_buf;

void cd_buf_init(cd_buf *b, size_t max);
void cd_buf_release(cd_buf *b);
static inline void cd_buf_reset(cd_buf *b) { b->len = 0; if (b->data) b->data[0] = '\0'; }

/* Makes room for `extra` more bytes (plus the terminating NUL). -1 past max. */
int cd_buf_reserve(cd_buf *b, size_t extra);
int cd_buf_append(cd_buf *b, const void *p, size_t n);
int cd_buf_puts(cd_buf *b, const char *s);
int cd_buf_putc(cd_buf *b, char c);
int cd_buf_printf(cd_buf *b, const char *fmt, ...) CD_PRINTF(2, 3);
/* Appends an unsigned LEB128 varint (protobuf's encoding). */
int cd_buf_put_varint(cd_buf *b, uint64_t v);

/*
 * Grows an array *p of *cap elements of `elem` bytes to hold at least `want`
 * (doubling). 0, or -1 when out of memory (then *p and *cap are unchanged).
 */
int cd_array_grow(void **p, size_t *cap, size_t want, size_t elem);

#endif
