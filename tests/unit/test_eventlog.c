/*
 * test_eventlog.c — framing of event logs (proto/eventlog.c).
 *
 * Inputs are built byte by byte here and fed through tmpfile() (a seekable
 * file) or a pipe with a forked writer (non-seekable, arriving in pieces).
 * Each test drains the reader and compares what came out, record by record,
 * with its status, bytes and position string.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "contact/v1/events.pb-c.h"
#include "proto/eventlog.h"

/* ---- helpers -------------------------------------------------------------- */

/* A read-only stream holding data; the caller fcloses it. */
static FILE *stream_of(const void *data, size_t len)
{
	FILE *f = tmpfile();

	assert_non_null(f);
	if (len)
		assert_int_equal(fwrite(data, 1, len, f), len);
	rewind(f);
	return f;
}

/* A pipe whose far end a child process fills with data, then closes. */
static FILE *pipe_of(const void *data, size_t len, pid_t *child)
{
	int fds[2];

	assert_int_equal(pipe(fds), 0);
	*child = fork();
	assert_true(*child >= 0);
	if (*child == 0) {
		const char *p = data;
		close(fds[0]);
		while (len > 0) {
			size_t chunk = len < 1000 ? len : 1000; /* small writes: the reader sees pieces */
			ssize_t n = write(fds[1], p, chunk);
			if (n <= 0)
				_exit(1);
			p += n;
			len -= (size_t)n;
		}
		_exit(0);
	}
	close(fds[1]);
	return fdopen(fds[0], "r");
}

static void reap(pid_t child)
{
	int status;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Asserts the next status and, for records, the bytes; for others the error text. */
static void expect(cd_log_reader *r, cd_log_status want, const char *text, size_t len, const char *pos)
{
	const uint8_t *data;
	size_t n;
	cd_err err = { { 0 }, 0 };
	char buf[64];
	cd_log_status got = cd_log_reader_next(r, &data, &n, &err);

	if (got != want)
		fail_msg("status %d, want %d (%s)", got, want, err.msg);
	if (want == CD_LOG_RECORD) {
		assert_int_equal(n, len);
		assert_memory_equal(data, text, len);
	} else if (text) {
		assert_string_equal(err.msg, text);
	}
	if (pos)
		assert_string_equal(cd_log_reader_position(r, buf, sizeof(buf)), pos);
}

static void expect_record(cd_log_reader *r, const char *text, const char *pos)
{
	expect(r, CD_LOG_RECORD, text, strlen(text), pos);
}

/* Appends a binary record (varint length + body) to buf at *n. */
static void put_pb(uint8_t *buf, size_t *n, const void *body, size_t len)
{
	size_t v = len;
	do {
		buf[(*n)++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	memcpy(buf + *n, body, len);
	*n += len;
}

/* ---- format names ----------------------------------------------------------- */

static void test_format_parse_accepts_the_documented_names(void **state)
{
	cd_log_format f;

	(void)state;
	assert_int_equal(cd_log_format_parse("json", &f), 0);
	assert_int_equal(f, CD_LOG_JSON);
	assert_int_equal(cd_log_format_parse("pb", &f), 0);
	assert_int_equal(f, CD_LOG_PB);
	assert_int_equal(cd_log_format_parse("binary", &f), 0);
	assert_int_equal(f, CD_LOG_PB);
	assert_int_equal(cd_log_format_parse("auto", &f), 0);
	assert_int_equal(f, CD_LOG_AUTO);
	assert_int_equal(cd_log_format_parse("JSON", &f), -1);
	assert_int_equal(cd_log_format_parse("", &f), -1);
}

/* ---- JSON lines --------------------------------------------------------------- */

static void test_json_skips_blank_lines_and_tolerates_crlf_and_no_final_newline(void **state)
{
	static const char in[] = "\n{\"a\":1}\r\n\r\n  \t\n{\"b\":2}\n{\"c\":3}";
	FILE *f = stream_of(in, sizeof(in) - 1);
	cd_log_reader *r = cd_log_reader_new(f, "t.jsonl", CD_LOG_JSON, 1024);

	(void)state;
	expect_record(r, "{\"a\":1}", "record 1 (line 2)");
	expect_record(r, "{\"b\":2}", "record 2 (line 5)");
	expect_record(r, "{\"c\":3}", "record 3 (line 6)");
	assert_int_equal(cd_log_reader_record_no(r), 3);
	expect(r, CD_LOG_EOF, NULL, 0, NULL);
	expect(r, CD_LOG_EOF, NULL, 0, NULL);
	cd_log_reader_free(r);
	fclose(f);
}

static void test_json_oversized_line_is_skipped_and_reading_continues(void **state)
{
	static const char in[] = "{\"a\":1}\n{\"long\":\"0123456789012345678901234567890\"}\n{\"b\":2}\n";
	FILE *f = stream_of(in, sizeof(in) - 1);
	cd_log_reader *r = cd_log_reader_new(f, "t.jsonl", CD_LOG_JSON, 16);

	(void)state;
	expect_record(r, "{\"a\":1}", "record 1 (line 1)");
	expect(r, CD_LOG_SKIPPED, "'t.jsonl': record 2 (line 2) is longer than 16 bytes, skipped", 0, "record 2 (line 2)");
	expect_record(r, "{\"b\":2}", "record 3 (line 3)");
	expect(r, CD_LOG_EOF, NULL, 0, NULL);
	cd_log_reader_free(r);
	fclose(f);
}

static void test_json_line_far_longer_than_the_buffer_is_skipped(void **state)
{
	size_t big = 300000, n = 0;
	char *in = malloc(big + 128);
	FILE *f;
	cd_log_reader *r;

	(void)state;
	n += (size_t)sprintf(in, "{\"a\":1}\n{\"x\":\"");
	memset(in + n, 'x', big);
	n += big;
	n += (size_t)sprintf(in + n, "\"}\n\n{\"b\":2}\n{\"tail\":\"yyyyyyyyyyyyyyyyyyyyyyyyyyyyy\"}");
	f = stream_of(in, n);
	r = cd_log_reader_new(f, "t.jsonl", CD_LOG_JSON, 32);
	expect_record(r, "{\"a\":1}", "record 1 (line 1)");
	expect(r, CD_LOG_SKIPPED, "'t.jsonl': record 2 (line 2) is longer than 32 bytes, skipped", 0, NULL);
	expect_record(r, "{\"b\":2}", "record 3 (line 4)");
	/* an oversized last line without a newline */
	expect(r, CD_LOG_SKIPPED, "'t.jsonl': record 4 (line 5) is longer than 32 bytes, skipped", 0, NULL);
	expect(r, CD_LOG_EOF, NULL, 0, NULL);
	cd_log_reader_free(r);
	fclose(f);
	free(in);
}

static void test_json_line_of_exactly_max_record_bytes_is_kept_with_crlf(void **state)
{
	static const char in[] = "{\"k\":\"12345678\"}\r\n{\"k\":\"123456789\"}\r\n{\"k\":\"12345678\"}";
	FILE *f = stream_of(in, sizeof(in) - 1);
	cd_log_reader *r = cd_log_reader_new(f, "t.jsonl", CD_LOG_JSON, 16);

	(void)state;
	expect_record(r, "{\"k\":\"12345678\"}", "record 1 (line 1)");
	expect(r, CD_LOG_SKIPPED, NULL, 0, "record 2 (line 2)");
	expect_record(r, "{\"k\":\"12345678\"}", "record 3 (line 3)");
	expect(r, CD_LOG_EOF, NULL, 0, NULL);
	cd_log_reader_free(r);
	fclose(f);
}

static void test_json_empty_and_blank_inputs_are_clean_eof(void **state)
{
	static const char *const inputs[] = { "", "\n", "  \r\n\t\n" };

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		FILE *f = stream_of(inputs[i], strlen(inputs[i]));
		cd_log_reader *r = cd_log_reader_new(f, "t", i == 2 ? CD_LOG_AUTO : CD_LOG_JSON, 64);
		expect(r, CD_LOG_EOF, NULL, 0, NULL);
		cd_log_reader_free(r);
		fclose(f);
	}
}

/* ---- binary --------------------------------------------------------------------- */

static void test_binary_records_and_byte_positions(void **state)
{
	uint8_t in[600];
	char body[300];
	size_t n = 0;
	FILE *f;
	cd_log_reader *r;

	(void)state;
	memset(body, 'b', sizeof(body));
	put_pb(in, &n, "abc", 3);
	put_pb(in, &n, "", 0);
	put_pb(in, &n, body, 300); /* two-byte length prefix */
	put_pb(in, &n, "z", 1);
	f = stream_of(in, n);
	r = cd_log_reader_new(f, "t.bin", CD_LOG_PB, 1024);
	expect(r, CD_LOG_RECORD, "abc", 3, "record 1 (byte 0)");
	expect(r, CD_LOG_RECORD, "", 0, "record 2 (byte 4)");
	expect(r, CD_LOG_RECORD, body, 300, "record 3 (byte 5)");
	expect(r, CD_LOG_RECORD, "z", 1, "record 4 (byte 307)");
	expect(r, CD_LOG_EOF, NULL, 0, NULL);
	cd_log_reader_free(r);
	fclose(f);
}

static void test_binary_truncated_length_prefix_is_lost(void **state)
{
	uint8_t in[16];
	size_t n = 0;
	FILE *f;
	cd_log_reader *r;

	(void)state;
	put_pb(in, &n, "abc", 3);
	in[n++] = 0x80; /* a varint that never ends */
	f = stream_of(in, n);
	r = cd_log_reader_new(f, "t.bin", CD_LOG_PB, 1024);
	expect(r, CD_LOG_RECORD, "abc", 3, NULL);
	expect(r, CD_LOG_LOST, "'t.bin': truncated length prefix at byte 4", 0, "record 2 (byte 4)");
	expect(r, CD_LOG_LOST, "'t.bin': reading stopped after an earlier error", 0, NULL);
	cd_log_reader_free(r);
	fclose(f);
}

static void test_binary_overlong_length_prefix_is_lost(void **state)
{
	uint8_t in[16];
	FILE *f;
	cd_log_reader *r;

	(void)state;
	memset(in, 0xff, sizeof(in));
	f = stream_of(in, sizeof(in));
	r = cd_log_reader_new(f, "t.bin", CD_LOG_PB, 1024);
	expect(r, CD_LOG_LOST, "'t.bin': invalid length prefix at byte 0", 0, NULL);
	cd_log_reader_free(r);
	fclose(f);
}

static void test_binary_truncated_record_is_lost(void **state)
{
	uint8_t in[32];
	size_t n = 0;
	FILE *f;
	cd_log_reader *r;

	(void)state;
	put_pb(in, &n, "ab", 2);
	in[n++] = 5;
	memcpy(in + n, "xy", 2);
	n += 2;
	f = stream_of(in, n);
	r = cd_log_reader_new(f, "events.bin", CD_LOG_PB, 1024);
	expect(r, CD_LOG_RECORD, "ab", 2, NULL);
	expect(r, CD_LOG_LOST, "'events.bin': truncated record at byte 3: 2 of 5 bytes", 0, "record 2 (byte 3)");
	cd_log_reader_free(r);
	fclose(f);
}

static void test_binary_oversized_record_is_skipped(void **state)
{
	uint8_t in[64];
	size_t n = 0;
	FILE *f;
	cd_log_reader *r;

	(void)state;
	put_pb(in, &n, "ok", 2);
	put_pb(in, &n, "this one is too long", 20);
	put_pb(in, &n, "ok2", 3);
	f = stream_of(in, n);
	r = cd_log_reader_new(f, "t.bin", CD_LOG_PB, 8);
	expect(r, CD_LOG_RECORD, "ok", 2, NULL);
	expect(r, CD_LOG_SKIPPED, "'t.bin': record 2 (byte 3) is 20 bytes, longer than the maximum of 8, skipped", 0,
	       "record 2 (byte 3)");
	expect(r, CD_LOG_RECORD, "ok2", 3, "record 3 (byte 24)");
	expect(r, CD_LOG_EOF, NULL, 0, NULL);
	cd_log_reader_free(r);
	fclose(f);
}

static void test_binary_oversized_and_truncated_record_is_lost(void **state)
{
	uint8_t in[64];
	size_t n = 0;
	FILE *f;
	cd_log_reader *r;

	(void)state;
	in[n++] = 100;
	memset(in + n, 'q', 30);
	n += 30;
	f = stream_of(in, n);
	r = cd_log_reader_new(f, "t.bin", CD_LOG_PB, 8);
	expect(r, CD_LOG_LOST, "'t.bin': truncated record at byte 0: 30 of 100 bytes", 0, NULL);
	cd_log_reader_free(r);
	fclose(f);
}

static void test_binary_huge_length_is_skipped_then_lost_at_end(void **state)
{
	uint8_t in[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 'a' };
	FILE *f = stream_of(in, sizeof(in));
	cd_log_reader *r = cd_log_reader_new(f, "t.bin", CD_LOG_PB, 8);

	(void)state;
	expect(r, CD_LOG_LOST, "'t.bin': truncated record at byte 0: 1 of 18446744073709551615 bytes", 0, NULL);
	cd_log_reader_free(r);
	fclose(f);
}

static void test_binary_large_records_grow_the_buffer(void **state)
{
	size_t big = 200000, n = 0;
	uint8_t *in = malloc(2 * big + 32);
	char *body = malloc(big);
	FILE *f;
	cd_log_reader *r;

	(void)state;
	for (size_t i = 0; i < big; i++)
		body[i] = (char)(i * 7);
	put_pb(in, &n, body, big);
	put_pb(in, &n, body, big - 1);
	f = stream_of(in, n);
	r = cd_log_reader_new(f, "t.bin", CD_LOG_PB, big);
	expect(r, CD_LOG_RECORD, body, big, NULL);
	expect(r, CD_LOG_RECORD, body, big - 1, NULL);
	expect(r, CD_LOG_EOF, NULL, 0, NULL);
	cd_log_reader_free(r);
	fclose(f);
	free(in);
	free(body);
}

/* ---- AUTO detection ------------------------------------------------------------- */

static void check_auto(const void *in, size_t n, cd_log_format want)
{
	FILE *f = stream_of(in, n);
	cd_log_reader *r = cd_log_reader_new(f, "t", CD_LOG_AUTO, 4096);
	const uint8_t *data;
	size_t len;
	cd_err err;

	assert_int_equal(cd_log_reader_format(r), CD_LOG_AUTO);
	assert_int_equal(cd_log_reader_next(r, &data, &len, &err), CD_LOG_RECORD);
	assert_int_equal(cd_log_reader_format(r), want);
	cd_log_reader_free(r);
	fclose(f);
}

static void test_auto_detects_json(void **state)
{
	(void)state;
	static const char *const texts[] = {
		"{\"eventId\":\"e\"}\n", "\r\n  {  \"eventId\":\"e\"}\n", "{\t\"a\":1}", "{}\n", "{ }",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		check_auto(texts[i], strlen(texts[i]), CD_LOG_JSON);
}

static void test_auto_detects_binary(void **state)
{
	uint8_t in[64];
	size_t n = 0;

	(void)state;
	put_pb(in, &n, "\x0a\x01" "e", 3);
	check_auto(in, n, CD_LOG_PB);
}

/* A CitizenEvent packed to exactly 123 bytes (length prefix '{'), its event_id `id_len` bytes long. */
static size_t event_of_123_bytes(uint8_t *out, size_t id_len)
{
	Contact__V1__CitizenEvent e = CONTACT__V1__CITIZEN_EVENT__INIT;
	char id[64], src[128];
	size_t n = 0, body;

	memset(id, 'i', id_len);
	id[id_len] = '\0';
	e.event_id = id;
	e.source = src;
	src[0] = '\0';
	body = contact__v1__citizen_event__get_packed_size(&e);
	/* source adds a tag, a length byte and its text */
	memset(src, 's', 123 - body - 2);
	src[123 - body - 2] = '\0';
	assert_int_equal(contact__v1__citizen_event__get_packed_size(&e), 123);
	out[n++] = 123;
	n += contact__v1__citizen_event__pack(&e, out + n);
	return n;
}

static void test_auto_detects_binary_whose_first_record_is_123_bytes(void **state)
{
	uint8_t in[256];
	size_t n;

	(void)state;
	n = event_of_123_bytes(in, 2);
	assert_int_equal(in[0], '{');
	check_auto(in, n, CD_LOG_PB);
	/* event_id of 34 bytes: the input starts '{', '\n', '"' */
	n = event_of_123_bytes(in, 34);
	assert_memory_equal(in, "{\n\"", 3);
	check_auto(in, n, CD_LOG_PB);
}

/* ---- pipes, read errors, writing -------------------------------------------------- */

static void test_reads_json_and_binary_from_a_pipe(void **state)
{
	enum { N = 3000 };
	char *in = malloc(N * 64);
	uint8_t *bin = malloc(N * 64);
	size_t n = 0, bn = 0;
	char line[64];
	pid_t child;
	FILE *f;
	cd_log_reader *r;

	(void)state;
	for (int i = 0; i < N; i++) {
		int k = snprintf(line, sizeof(line), "{\"eventId\":\"event-%d\"}", i);
		memcpy(in + n, line, (size_t)k);
		n += (size_t)k;
		in[n++] = '\n';
		put_pb(bin, &bn, line, (size_t)k);
	}
	f = pipe_of(in, n, &child);
	r = cd_log_reader_new(f, "pipe", CD_LOG_AUTO, 100);
	for (int i = 0; i < N; i++) {
		snprintf(line, sizeof(line), "{\"eventId\":\"event-%d\"}", i);
		expect_record(r, line, NULL);
	}
	expect(r, CD_LOG_EOF, NULL, 0, "record 3000 (line 3000)");
	cd_log_reader_free(r);
	fclose(f);
	reap(child);

	f = pipe_of(bin, bn, &child);
	r = cd_log_reader_new(f, "pipe", CD_LOG_AUTO, 100);
	for (int i = 0; i < N; i++) {
		int k = snprintf(line, sizeof(line), "{\"eventId\":\"event-%d\"}", i);
		expect(r, CD_LOG_RECORD, line, (size_t)k, NULL);
	}
	expect(r, CD_LOG_EOF, NULL, 0, NULL);
	assert_int_equal(cd_log_reader_format(r), CD_LOG_PB);
	cd_log_reader_free(r);
	fclose(f);
	reap(child);
	free(in);
	free(bin);
}

static void test_read_error_is_lost(void **state)
{
	FILE *f = fopen("/dev/null", "w"); /* reading a write-only stream fails */
	cd_log_reader *r;
	const uint8_t *data;
	size_t len;
	cd_err err;

	(void)state;
	assert_non_null(f);
	r = cd_log_reader_new(f, "w.bin", CD_LOG_PB, 64);
	assert_int_equal(cd_log_reader_next(r, &data, &len, &err), CD_LOG_LOST);
	assert_true(strncmp(err.msg, "'w.bin': read error (", 21) == 0);
	cd_log_reader_free(r);
	fclose(f);
}

static void test_write_then_read_both_formats(void **state)
{
	static const cd_log_format fmts[] = { CD_LOG_JSON, CD_LOG_PB };
	char big[200];
	cd_err err;

	(void)state;
	memset(big, 'x', sizeof(big));
	big[0] = '{';
	big[1] = '}';
	for (size_t i = 0; i < 2; i++) {
		FILE *f = tmpfile();
		cd_log_reader *r;
		assert_int_equal(cd_log_write(f, fmts[i], "{\"a\":1}", 7, &err), 0);
		assert_int_equal(cd_log_write(f, fmts[i], big, sizeof(big), &err), 0);
		rewind(f);
		r = cd_log_reader_new(f, "t", CD_LOG_AUTO, 1024);
		expect(r, CD_LOG_RECORD, "{\"a\":1}", 7, NULL);
		expect(r, CD_LOG_RECORD, big, sizeof(big), fmts[i] == CD_LOG_PB ? "record 2 (byte 8)" : "record 2 (line 2)");
		expect(r, CD_LOG_EOF, NULL, 0, NULL);
		assert_int_equal(cd_log_reader_format(r), fmts[i]);
		cd_log_reader_free(r);
		fclose(f);
	}
}

static void test_write_json_rejects_a_newline_in_the_record(void **state)
{
	FILE *f = tmpfile();
	cd_err err;

	(void)state;
	assert_int_equal(cd_log_write(f, CD_LOG_JSON, "{\n}", 3, &err), -1);
	assert_string_equal(err.msg, "JSON record contains a newline");
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_parse_accepts_the_documented_names),
		cmocka_unit_test(test_json_skips_blank_lines_and_tolerates_crlf_and_no_final_newline),
		cmocka_unit_test(test_json_oversized_line_is_skipped_and_reading_continues),
		cmocka_unit_test(test_json_line_far_longer_than_the_buffer_is_skipped),
		cmocka_unit_test(test_json_line_of_exactly_max_record_bytes_is_kept_with_crlf),
		cmocka_unit_test(test_json_empty_and_blank_inputs_are_clean_eof),
		cmocka_unit_test(test_binary_records_and_byte_positions),
		cmocka_unit_test(test_binary_truncated_length_prefix_is_lost),
		cmocka_unit_test(test_binary_overlong_length_prefix_is_lost),
		cmocka_unit_test(test_binary_truncated_record_is_lost),
		cmocka_unit_test(test_binary_oversized_record_is_skipped),
		cmocka_unit_test(test_binary_oversized_and_truncated_record_is_lost),
		cmocka_unit_test(test_binary_huge_length_is_skipped_then_lost_at_end),
		cmocka_unit_test(test_binary_large_records_grow_the_buffer),
		cmocka_unit_test(test_auto_detects_json),
		cmocka_unit_test(test_auto_detects_binary),
		cmocka_unit_test(test_auto_detects_binary_whose_first_record_is_123_bytes),
		cmocka_unit_test(test_reads_json_and_binary_from_a_pipe),
		cmocka_unit_test(test_read_error_is_lost),
		cmocka_unit_test(test_write_then_read_both_formats),
		cmocka_unit_test(test_write_json_rejects_a_newline_in_the_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
