#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cd_buf_init(cd_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void cd_buf_release(cd_buf *b)
{
	free(b->data);
	cd_buf_init(b, b->max);
}

int cd_buf_reserve(cd_buf *b, size_t extra)
{
	size_t want, ncap;
	char *p;

	if (extra > b->max || b->len > b->max - extra || b->len + extra == SIZE_MAX)
		return -1;
	want = b->len + extra + 1;
	if (want <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 64;
	while (ncap < want)
		ncap = ncap > SIZE_MAX / 2 ? want : ncap * 2;
	if (b->max < SIZE_MAX && ncap > b->max + 1) /* max + 1 wraps to 0 for SIZE_MAX */
		ncap = b->max + 1;
	p = realloc(b->data, ncap);
	if (!p)
		return -1;
	b->data = p;
	b->cap = ncap;
	return 0;
}

int cd_buf_append(cd_buf *b, const void *p, size_t n)
{
	if (cd_buf_reserve(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int cd_buf_puts(cd_buf *b, const char *s)
{
	return cd_buf_append(b, s, strlen(s));
}

int cd_buf_putc(cd_buf *b, char c)
{
	return cd_buf_append(b, &c, 1);
}

int cd_buf_printf(cd_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	char small[256];

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(small))
		return cd_buf_append(b, small, (size_t)n);
	if (cd_buf_reserve(b, (size_t)n) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int cd_buf_put_varint(cd_buf *b, uint64_t v)
{
	uint8_t tmp[CD_VARINT_MAX];
	return cd_buf_append(b, tmp, (size_t)(cd_varint_put(tmp, v) - tmp));
}

int cd_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;
	unsigned shift = 0;
	const uint8_t *q = *p;
	while (q < end) {
		uint8_t c = *q++;
		if (shift == 63 && (c & 0x7e))
			return -1;
		r |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*p = q;
			*v = r;
			return 0;
		}
		shift += 7;
		if (shift > 63)
			return -1;
	}
	return -1;
}

int cd_array_grow(void **p, size_t *cap, size_t want, size_t elem)
{
	size_t ncap;
	void *q;
	if (want <= *cap)
		return 0;
	ncap = *cap ? *cap : 8;
	while (ncap < want) {
		if (ncap > SIZE_MAX / 2 / elem)
			return -1;
		ncap *= 2;
	}
	q = realloc(*p, ncap * elem);
	if (!q)
		return -1;
	*p = q;
	*cap = ncap;
	return 0;
}
