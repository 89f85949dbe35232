/*
 * fuzz_outbox.c — bytes as Redis holds them through the outbox entry parser
 * (cd_outbox_parse, what the relay calls for every entry), then the round
 * trip: an entry that parses, written again with cd_outbox_begin and
 * cd_outbox_header (as a batch writes one, in version 1), parses to the same
 * kind, key, value and headers, and is the same bytes when nothing in the
 * entry could be written shorter.
 */
#include <stdint.h>

#include "consumer/outbox.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_bytes(const void *a, size_t an, const void *b, size_t bn)
{
	return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cd_outbox_entry e, back;
	cd_buf b;

	if (cd_outbox_parse(data, size, &e) < 0)
		return 0;
	FUZZ_CHECK(e.kind >= CD_OUTBOX_DEADLINE && e.kind <= CD_OUTBOX_AGGREGATE, "kind %d", e.kind);
	FUZZ_CHECK(e.n_h <= CD_OUTBOX_MAX_HEADERS, "%zu headers", e.n_h);
	FUZZ_CHECK(e.val >= data && e.val + e.val_len <= data + size, "the value points outside the entry");
	FUZZ_CHECK(!e.key || (e.key >= data && e.key + e.key_len <= data + size), "the key points outside the entry");

	cd_buf_init(&b, size + 64);
	FUZZ_CHECK(cd_outbox_begin(&b, e.kind, e.key, e.key_len, e.val, e.val_len, e.n_h) == 0, "begin failed");
	/* The relay hands names on as C strings: that is what a header's name is. */
	for (size_t i = 0; i < e.n_h; i++)
		FUZZ_CHECK(cd_outbox_header(&b, e.h[i].name, e.h[i].value, e.h[i].len) == 0, "header %zu failed", i);
	FUZZ_CHECK(cd_outbox_parse((const uint8_t *)b.data, b.len, &back) == 0, "its own writing does not parse");
	/*
	 * Written again, a version 1 entry can only lose bytes (a varint written
	 * longer than needed, a name cut at a NUL): of the same length, it is
	 * the same bytes.
	 */
	if (data[0] == CD_OUTBOX_VERSION && b.len == size)
		FUZZ_CHECK(!memcmp(b.data, data, size), "an entry written again differs from the entry parsed");
	FUZZ_CHECK(back.kind == e.kind && back.n_h == e.n_h && !back.key == !e.key &&
		   same_bytes(back.val, back.val_len, e.val, e.val_len) &&
		   (!e.key || same_bytes(back.key, back.key_len, e.key, e.key_len)),
		   "kind, key or value differ after the round trip");
	for (size_t i = 0; i < e.n_h; i++)
		FUZZ_CHECK(!strcmp(back.h[i].name, e.h[i].name) &&
			   same_bytes(back.h[i].value, back.h[i].len, e.h[i].value, e.h[i].len),
			   "header %zu differs after the round trip", i);
	cd_buf_release(&b);
	return 0;
}
