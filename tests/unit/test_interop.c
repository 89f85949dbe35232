/*
 * test_interop.c — the C reader and decoders against Google's Python runtime.
 *
 * tests/interop/make_log.py writes the same CitizenEvents as a binary log
 * (events.bin) and as JSON lines (events.jsonl) with python3-protobuf; the
 * directory holding both is named by CD_INTEROP_DIR (see the script's header
 * for the exact commands). Without that variable the test is skipped.
 *
 * Both files are read with format AUTO (so detection is checked too), the
 * binary records decoded with protobuf-c and the JSON lines with pbjson, and
 * the two messages compared by their packed bytes; the JSON side must also
 * pack to exactly the bytes Python wrote, and pbjson's own output of each
 * event must decode back to the same message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contact/v1/events.pb-c.h"
#include "proto/eventlog.h"
#include "proto/pbjson.h"

#define EVENT_DESC (&contact__v1__citizen_event__descriptor)
#define MAX_RECORD 65536

/* Opens dir/name for reading; the caller fcloses. */
static FILE *open_in(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open '%s'", path);
	return f;
}

/* The next record's bytes copied into *out (malloc'd, caller frees); 0 at EOF. */
static int next_record(cd_log_reader *r, uint8_t **out, size_t *len)
{
	const uint8_t *data;
	cd_err err = { { 0 }, 0 };
	cd_log_status st = cd_log_reader_next(r, &data, len, &err);

	if (st == CD_LOG_EOF)
		return 0;
	if (st != CD_LOG_RECORD)
		fail_msg("reading: status %d: %s", st, err.msg);
	*out = malloc(*len + 1);
	if (*len)
		memcpy(*out, data, *len);
	return 1;
}

/* Packs m into a new buffer (caller frees). */
static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
	uint8_t *p;

	*len = protobuf_c_message_get_packed_size(m);
	p = malloc(*len + 1);
	protobuf_c_message_pack(m, p);
	return p;
}

static void assert_packs_to(const ProtobufCMessage *m, const uint8_t *want, size_t want_len, size_t record)
{
	size_t n;
	uint8_t *got = pack(m, &n);

	if (n != want_len || memcmp(got, want, n) != 0)
		fail_msg("record %zu: packed messages differ (%zu vs %zu bytes)", record, n, want_len);
	free(got);
}

/* pbjson's own JSON of m decodes back to the same message. */
static void assert_own_round_trip(const ProtobufCMessage *m, const uint8_t *want, size_t want_len, size_t record)
{
	cd_buf b;
	cd_err err = { { 0 }, 0 };
	ProtobufCMessage *back = NULL;

	cd_buf_init(&b, MAX_RECORD);
	if (pbjson_encode(m, &b, &err) < 0 || pbjson_decode(EVENT_DESC, b.data, b.len, &back, &err) < 0)
		fail_msg("record %zu: %s", record, err.msg);
	assert_packs_to(back, want, want_len, record);
	protobuf_c_message_free_unpacked(back, NULL);
	cd_buf_release(&b);
}

static void compare_record(size_t i, const uint8_t *bin, size_t bin_len, const uint8_t *json, size_t json_len)
{
	ProtobufCMessage *from_bin, *from_json = NULL;
	cd_err err = { { 0 }, 0 };

	from_bin = protobuf_c_message_unpack(EVENT_DESC, NULL, bin_len, bin);
	if (!from_bin)
		fail_msg("record %zu: protobuf-c cannot unpack the binary record", i);
	if (pbjson_decode(EVENT_DESC, (const char *)json, json_len, &from_json, &err) < 0)
		fail_msg("record %zu: %s", i, err.msg);
	assert_packs_to(from_json, bin, bin_len, i);
	assert_packs_to(from_bin, bin, bin_len, i);
	assert_own_round_trip(from_bin, bin, bin_len, i);
	protobuf_c_message_free_unpacked(from_bin, NULL);
	protobuf_c_message_free_unpacked(from_json, NULL);
}

static void test_python_binary_and_json_logs_decode_to_equal_messages(void **state)
{
	const char *dir = getenv("CD_INTEROP_DIR");
	FILE *fb, *fj;
	cd_log_reader *rb, *rj;
	size_t count = 0;

	(void)state;
	if (!dir || !*dir)
		skip();
	fb = open_in(dir, "events.bin");
	fj = open_in(dir, "events.jsonl");
	rb = cd_log_reader_new(fb, "events.bin", CD_LOG_AUTO, MAX_RECORD);
	rj = cd_log_reader_new(fj, "events.jsonl", CD_LOG_AUTO, MAX_RECORD);
	for (;;) {
		uint8_t *bin = NULL, *json = NULL;
		size_t bin_len, json_len;
		int more_bin = next_record(rb, &bin, &bin_len), more_json = next_record(rj, &json, &json_len);
		assert_int_equal(more_bin, more_json);
		if (!more_bin)
			break;
		compare_record(++count, bin, bin_len, json, json_len);
		free(bin);
		free(json);
	}
	assert_true(count >= 10);
	assert_int_equal(cd_log_reader_format(rb), CD_LOG_PB);
	assert_int_equal(cd_log_reader_format(rj), CD_LOG_JSON);
	cd_log_reader_free(rb);
	cd_log_reader_free(rj);
	fclose(fb);
	fclose(fj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_python_binary_and_json_logs_decode_to_equal_messages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
