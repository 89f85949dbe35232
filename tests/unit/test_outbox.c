/*
 * test_outbox.c — the outbox entry envelope: what a batch commits to Redis
 * comes back from the relay exactly, from this version and the one before it
 * (entries left in Redis across an upgrade), and anything else is refused,
 * never read past its end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "consumer/outbox.h"

static void test_an_entry_round_trips_with_key_value_and_headers(void **state)
{
	cd_buf b;
	cd_outbox_entry e;
	(void)state;

	cd_buf_init(&b, 1 << 20);
	assert_int_equal(cd_outbox_begin(&b, CD_OUTBOX_DLQ, "p1", 2, "\x00\xff", 2, 2), 0);
	assert_int_equal(cd_outbox_header(&b, "__connect.errors.stage", "decode", 6), 0);
	assert_int_equal(cd_outbox_header(&b, "empty", "", 0), 0);
	assert_int_equal((uint8_t)b.data[0], CD_OUTBOX_VERSION);
	assert_int_equal(cd_outbox_parse((const uint8_t *)b.data, b.len, &e), 0);
	assert_int_equal(e.kind, CD_OUTBOX_DLQ);
	assert_int_equal(e.key_len, 2);
	assert_memory_equal(e.key, "p1", 2);
	assert_int_equal(e.val_len, 2);
	assert_memory_equal(e.val, "\x00\xff", 2);
	assert_int_equal(e.n_h, 2);
	assert_string_equal(e.h[0].name, "__connect.errors.stage");
	assert_int_equal(e.h[0].len, 6);
	assert_memory_equal(e.h[0].value, "decode", 6);
	assert_string_equal(e.h[1].name, "empty");
	assert_int_equal(e.h[1].len, 0);
	cd_buf_release(&b);
}

static void test_a_missing_key_stays_missing_and_an_empty_one_stays_empty(void **state)
{
	cd_buf b;
	cd_outbox_entry e;
	(void)state;

	cd_buf_init(&b, 1 << 20);
	assert_int_equal(cd_outbox_begin(&b, CD_OUTBOX_DEADLINE, NULL, 0, "v", 1, 0), 0);
	assert_int_equal(cd_outbox_parse((const uint8_t *)b.data, b.len, &e), 0);
	assert_null(e.key);
	assert_int_equal(cd_outbox_begin(&b, CD_OUTBOX_BREACH, "", 0, "v", 1, 0), 0);
	assert_int_equal(cd_outbox_parse((const uint8_t *)b.data, b.len, &e), 0);
	assert_non_null(e.key);
	assert_int_equal(e.key_len, 0);
	assert_int_equal(e.kind, CD_OUTBOX_BREACH);
	cd_buf_release(&b);
}

static void test_entries_written_before_the_version_byte_are_read(void **state)
{
	/* version 0: kind, key, value, header count, headers */
	static const uint8_t v0[] = { 2, 2, 'p', '9', 3, 'a', 'b', 'c', 1, 1, 'n', 1, 'v' };
	static const uint8_t v0_null_key[] = { 0x83, 0, 1, 'x', 0 };
	cd_outbox_entry e;
	(void)state;

	assert_int_equal(cd_outbox_parse(v0, sizeof(v0), &e), 0);
	assert_int_equal(e.kind, CD_OUTBOX_BREACH);
	assert_memory_equal(e.key, "p9", 2);
	assert_memory_equal(e.val, "abc", 3);
	assert_int_equal(e.n_h, 1);
	assert_string_equal(e.h[0].name, "n");
	assert_int_equal(cd_outbox_parse(v0_null_key, sizeof(v0_null_key), &e), 0);
	assert_int_equal(e.kind, CD_OUTBOX_DLQ);
	assert_null(e.key);
}

static void test_truncated_padded_or_unknown_entries_are_refused(void **state)
{
	cd_buf b;
	cd_outbox_entry e;
	static const uint8_t bad_kind[] = { CD_OUTBOX_VERSION, 7, 0, 0, 0 };
	static const uint8_t too_many[] = { CD_OUTBOX_VERSION, 1, 0, 0, CD_OUTBOX_MAX_HEADERS + 1 };
	static const uint8_t only_version[] = { CD_OUTBOX_VERSION };
	(void)state;

	cd_buf_init(&b, 1 << 20);
	assert_int_equal(cd_outbox_begin(&b, CD_OUTBOX_DLQ, "key", 3, "value", 5, 1), 0);
	assert_int_equal(cd_outbox_header(&b, "name", "val", 3), 0);
	for (size_t n = 0; n < b.len; n++)
		assert_int_equal(cd_outbox_parse((const uint8_t *)b.data, n, &e), -1);
	assert_int_equal(cd_buf_append(&b, "x", 1), 0);            /* a byte too many */
	assert_int_equal(cd_outbox_parse((const uint8_t *)b.data, b.len, &e), -1);
	assert_int_equal(cd_outbox_parse(bad_kind, sizeof(bad_kind), &e), -1);
	assert_int_equal(cd_outbox_parse(too_many, sizeof(too_many), &e), -1);
	assert_int_equal(cd_outbox_parse(only_version, sizeof(only_version), &e), -1);
	cd_buf_release(&b);
}

static void test_a_header_name_over_the_limit_is_refused(void **state)
{
	char name[CD_OUTBOX_MAX_NAME + 2];
	cd_buf b;
	(void)state;

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	cd_buf_init(&b, 1 << 20);
	assert_int_equal(cd_outbox_begin(&b, CD_OUTBOX_DLQ, "k", 1, "v", 1, 1), 0);
	assert_int_equal(cd_outbox_header(&b, name, "v", 1), -1);
	name[CD_OUTBOX_MAX_NAME] = '\0';
	assert_int_equal(cd_outbox_header(&b, name, "v", 1), 0);
	cd_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_an_entry_round_trips_with_key_value_and_headers),
		cmocka_unit_test(test_a_missing_key_stays_missing_and_an_empty_one_stays_empty),
		cmocka_unit_test(test_entries_written_before_the_version_byte_are_read),
		cmocka_unit_test(test_truncated_padded_or_unknown_entries_are_refused),
		cmocka_unit_test(test_a_header_name_over_the_limit_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
