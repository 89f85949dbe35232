/*
 * outbox.c — the outbox entry envelope (outbox.h). The relay must never choke
 * on what a batch wrote, even one written by an older version: the parser
 * checks every length against what is left and accepts exactly one whole
 * entry.
 */
#include "consumer/outbox.h"

#include <stdbool.h>
#include <string.h>

static int put_bytes(cd_buf *b, const void *p, size_t n)
{
	return cd_buf_put_varint(b, n) < 0 || cd_buf_append(b, p, n) < 0 ? -1 : 0;
}

int cd_outbox_begin(cd_buf *b, int kind, const void *key, size_t key_len, const void *val, size_t val_len,
		    size_t n_headers)
{
	uint8_t head[2] = { CD_OUTBOX_VERSION, (uint8_t)(kind | (key ? 0 : CD_OUTBOX_NULL_KEY)) };
	cd_buf_reset(b);
	return cd_buf_append(b, head, 2) < 0 || put_bytes(b, key ? key : "", key ? key_len : 0) < 0 ||
	       put_bytes(b, val, val_len) < 0 || cd_buf_put_varint(b, n_headers) < 0 ? -1 : 0;
}

int cd_outbox_header(cd_buf *b, const char *name, const void *val, size_t len)
{
	size_t nl = strlen(name);
	if (nl > CD_OUTBOX_MAX_NAME)
		return -1;
	return put_bytes(b, name, nl) < 0 || put_bytes(b, val, len) < 0 ? -1 : 0;
}

static int get_bytes(const uint8_t **p, const uint8_t *end, const uint8_t **out, size_t *n)
{
	uint64_t len;
	if (cd_varint_get(p, end, &len) < 0 || len > (uint64_t)(end - *p))
		return -1;
	*out = *p;
	*n = (size_t)len;
	*p += len;
	return 0;
}

int cd_outbox_parse(const uint8_t *p, size_t n, cd_outbox_entry *e)
{
	const uint8_t *end = p + n;
	uint64_t nh;
	bool null_key;

	if (n >= 1 && *p == CD_OUTBOX_VERSION)
		p++;                            /* version 1; without it, version 0 */
	if (p >= end)
		return -1;
	e->kind = *p & ~CD_OUTBOX_NULL_KEY;
	null_key = (*p++ & CD_OUTBOX_NULL_KEY) != 0;
	if (e->kind < CD_OUTBOX_DEADLINE || e->kind > CD_OUTBOX_AGGREGATE)
		return -1;
	if (get_bytes(&p, end, &e->key, &e->key_len) < 0 || get_bytes(&p, end, &e->val, &e->val_len) < 0 ||
	    cd_varint_get(&p, end, &nh) < 0 || nh > CD_OUTBOX_MAX_HEADERS)
		return -1;
	if (null_key)
		e->key = NULL;
	e->n_h = (size_t)nh;
	for (size_t i = 0; i < e->n_h; i++) {
		const uint8_t *name, *val;
		size_t nl, vl;
		if (get_bytes(&p, end, &name, &nl) < 0 || get_bytes(&p, end, &val, &vl) < 0 ||
		    nl > CD_OUTBOX_MAX_NAME)
			return -1;
		memcpy(e->names[i], name, nl);
		e->names[i][nl] = '\0';
		e->h[i].name = e->names[i];
		e->h[i].value = val;
		e->h[i].len = vl;
	}
	return p == end ? 0 : -1;
}
