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
 *
 * The same for replay Outputs (outputs.bin, outputs.jsonl: a deadline with
 * aggregate_id and basis, an AggregateEvent, …). The first output is also
 * built as a cd_output here: contactd's own output encoder must write
 * Python's bytes for it. With CD_PYGEN (the reference runtime's generated
 * code) set, contactd's JSON and binary of those outputs are then handed to
 * tests/interop/reference.py, which must read them as the messages it wrote.
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
#include "contact/v1/outputs.pb-c.h"
#include "proto/codec.h"
#include "proto/eventlog.h"
#include "proto/pbjson.h"
#include "util/varint.h"

#define EVENT_DESC (&contact__v1__citizen_event__descriptor)
#define OUTPUT_DESC (&contact__v1__output__descriptor)
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
	if (pbjson_encode(m, &b, &err) < 0 || pbjson_decode(m->descriptor, b.data, b.len, &back, &err) < 0)
		fail_msg("record %zu: %s", record, err.msg);
	assert_packs_to(back, want, want_len, record);
	protobuf_c_message_free_unpacked(back, NULL);
	cd_buf_release(&b);
}

static void compare_record(const ProtobufCMessageDescriptor *desc, size_t i, const uint8_t *bin, size_t bin_len,
			   const uint8_t *json, size_t json_len)
{
	ProtobufCMessage *from_bin, *from_json = NULL;
	cd_err err = { { 0 }, 0 };

	from_bin = protobuf_c_message_unpack(desc, NULL, bin_len, bin);
	if (!from_bin)
		fail_msg("record %zu: protobuf-c cannot unpack the binary record", i);
	if (pbjson_decode(desc, (const char *)json, json_len, &from_json, &err) < 0)
		fail_msg("record %zu: %s", i, err.msg);
	assert_packs_to(from_json, bin, bin_len, i);
	assert_packs_to(from_bin, bin, bin_len, i);
	assert_own_round_trip(from_bin, bin, bin_len, i);
	protobuf_c_message_free_unpacked(from_bin, NULL);
	protobuf_c_message_free_unpacked(from_json, NULL);
}

/* Compares dir/NAME.bin with dir/NAME.jsonl record by record; returns the number of records. */
static size_t compare_files(const ProtobufCMessageDescriptor *desc, const char *dir, const char *name)
{
	char bin_name[64], json_name[64];
	FILE *fb, *fj;
	cd_log_reader *rb, *rj;
	size_t count = 0;

	snprintf(bin_name, sizeof(bin_name), "%s.bin", name);
	snprintf(json_name, sizeof(json_name), "%s.jsonl", name);
	fb = open_in(dir, bin_name);
	fj = open_in(dir, json_name);
	rb = cd_log_reader_new(fb, bin_name, CD_LOG_AUTO, MAX_RECORD);
	rj = cd_log_reader_new(fj, json_name, CD_LOG_AUTO, MAX_RECORD);
	for (;;) {
		uint8_t *bin = NULL, *json = NULL;
		size_t bin_len, json_len;
		int more_bin = next_record(rb, &bin, &bin_len), more_json = next_record(rj, &json, &json_len);
		assert_int_equal(more_bin, more_json);
		if (!more_bin)
			break;
		compare_record(desc, ++count, bin, bin_len, json, json_len);
		free(bin);
		free(json);
	}
	assert_int_equal(cd_log_reader_format(rb), CD_LOG_PB);
	assert_int_equal(cd_log_reader_format(rj), CD_LOG_JSON);
	cd_log_reader_free(rb);
	cd_log_reader_free(rj);
	fclose(fb);
	fclose(fj);
	return count;
}

static void test_python_binary_and_json_logs_decode_to_equal_messages(void **state)
{
	const char *dir = getenv("CD_INTEROP_DIR");

	(void)state;
	if (!dir || !*dir)
		skip();
	assert_true(compare_files(EVENT_DESC, dir, "events") >= 15);
}

static void test_python_binary_and_json_outputs_decode_to_equal_messages(void **state)
{
	const char *dir = getenv("CD_INTEROP_DIR");

	(void)state;
	if (!dir || !*dir)
		skip();
	assert_true(compare_files(OUTPUT_DESC, dir, "outputs") >= 6);
}

/* make_log.py's first output, as the engine would hand it over. */
static void interop_deadline(cd_output *o)
{
	memset(o, 0, sizeof(*o));
	snprintf(o->event_id, sizeof(o->event_id), "0123456789abcdef0123456789abcdef");
	snprintf(o->ruleset_id, sizeof(o->ruleset_id), "dk-2026");
	o->citizen_id = "p1";
	o->muni = "101";
	o->benefit = CD_DAGPENGE;
	o->status = CD_DL_LAPSED;
	o->ruleset_version = 1;
	o->obligation_id = o->definition_id = "dk-2026/jobcenter-six-month";
	o->severity = CD_SEV_LEGAL;
	o->legal_ref = "LAB \xc2\xa7 31";
	o->window_start = o->period_start = cd_date_from_ymd(2027, 1, 1);
	o->due = o->window_end = cd_date_from_ymd(2027, 6, 30);
	o->required = 1;
	o->caused_by = "";
	o->as_of = INT64_C(1814392800) * CD_NS_PER_SEC;
	o->explanation = "window ended unmet";
	o->aggregate_id = "dk-2026/kommune-share";
	o->basis = CD_BASIS_GUIDANCE;
}

/* Appends m's bytes, length-prefixed, to f. */
static void write_delimited(FILE *f, const void *data, size_t len)
{
	uint8_t pre[10];
	size_t n = (size_t)(cd_varint_put(pre, len) - pre);
	assert_int_equal(fwrite(pre, 1, n, f), n);
	assert_int_equal(fwrite(data, 1, len, f), len);
}

static void test_our_output_encoders_agree_with_python(void **state)
{
	const char *dir = getenv("CD_INTEROP_DIR"), *pygen = getenv("CD_PYGEN");
	FILE *fb, *ob, *oj;
	cd_log_reader *rb;
	cd_buf ours;
	cd_err err = { { 0 }, 0 };
	cd_output o;
	uint8_t *bin;
	size_t bin_len, count = 0;
	char path_pb[4096], path_json[4096], cmd[3 * 4096];

	(void)state;
	if (!dir || !*dir)
		skip();
	fb = open_in(dir, "outputs.bin");
	rb = cd_log_reader_new(fb, "outputs.bin", CD_LOG_PB, MAX_RECORD);
	assert_true(next_record(rb, &bin, &bin_len));
	cd_buf_init(&ours, MAX_RECORD);
	interop_deadline(&o);
	if (cd_codec_output_append(&o, CD_LOG_PB, 1, &ours, &err) < 0)
		fail_msg("%s", err.msg);
	if (ours.len != bin_len || memcmp(ours.data, bin, bin_len) != 0)
		fail_msg("contactd's encoder wrote %zu bytes, python %zu, or other bytes", ours.len, bin_len);
	free(bin);

	/* contactd's binary and JSON of every output, for the reference runtime to read */
	snprintf(path_pb, sizeof(path_pb), "%s/ours-outputs.bin", dir);
	snprintf(path_json, sizeof(path_json), "%s/ours-outputs.jsonl", dir);
	ob = fopen(path_pb, "wb");
	oj = fopen(path_json, "w");
	assert_non_null(ob);
	assert_non_null(oj);
	cd_buf_reset(&ours);
	if (cd_codec_output_append(&o, CD_LOG_JSON, 1, &ours, &err) < 0)
		fail_msg("%s", err.msg);
	fprintf(oj, "%s\n", ours.data);
	cd_buf_reset(&ours);
	assert_int_equal(cd_codec_output_append(&o, CD_LOG_PB, 1, &ours, &err), 0);
	write_delimited(ob, ours.data, ours.len);
	count = 1;
	while (next_record(rb, &bin, &bin_len)) {
		ProtobufCMessage *m = protobuf_c_message_unpack(OUTPUT_DESC, NULL, bin_len, bin);
		size_t n;
		uint8_t *packed;
		assert_non_null(m);
		cd_buf_reset(&ours);
		if (pbjson_encode(m, &ours, &err) < 0)
			fail_msg("output %zu: %s", count + 1, err.msg);
		fprintf(oj, "%s\n", ours.data);
		n = protobuf_c_message_get_packed_size(m);
		packed = malloc(n + 1);
		protobuf_c_message_pack(m, packed);
		write_delimited(ob, packed, n);
		free(packed);
		protobuf_c_message_free_unpacked(m, NULL);
		free(bin);
		count++;
	}
	assert_true(count >= 6);
	assert_int_equal(fclose(ob), 0);
	assert_int_equal(fclose(oj), 0);
	cd_log_reader_free(rb);
	fclose(fb);
	cd_buf_release(&ours);
	if (!pygen || !*pygen)
		return;
	/* python reads our JSON as its binary, and our binary as its JSON */
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 tests/interop/reference.py '%s' same-outputs '%s/outputs.bin' '%s' && "
		 "/usr/bin/python3 tests/interop/reference.py '%s' same-outputs '%s' '%s/outputs.jsonl'",
		 pygen, dir, path_json, pygen, path_pb, dir);
	if (system(cmd) != 0)
		fail_msg("the reference runtime disagrees with contactd's outputs: %s", cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_python_binary_and_json_logs_decode_to_equal_messages),
		cmocka_unit_test(test_python_binary_and_json_outputs_decode_to_equal_messages),
		cmocka_unit_test(test_our_output_encoders_agree_with_python),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
