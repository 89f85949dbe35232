/*
 * test_members.c — the records of the internal members topic (proto/members.c):
 * what the processor encodes the stage decodes to the same member, and every
 * record the stage could not count is refused with the field named (it becomes
 * a dead letter), never half-read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/members.h"

static cd_member_rec member_rec(void)
{
	cd_member_rec r;
	memset(&r, 0, sizeof(r));
	r.source = 3;
	r.seq = 42;
	r.clock = INT64_C(1798758000) * CD_NS_PER_SEC;
	r.at_tick = true;
	snprintf(r.m.member_id, sizeof(r.m.member_id), "%s", "0123456789abcdef0123456789abcdef");
	r.m.aggregate_id = "dk-2026/kommune-share";
	r.m.key_kind = CD_AGG_KEY_MUNICIPALITY;
	r.m.key = "101";
	r.m.citizen_id = "c1";        /* never encoded: no citizen id travels on the topic */
	r.m.obligation_id = "dk-2026/four-in-six";
	r.m.outcome = CD_MEMBER_LAPSED;
	r.m.due = cd_date_from_ymd(2026, 12, 31);
	r.m.held = 3;
	r.m.need = 0;
	r.m.benefit = CD_KONTANTHJAELP;
	r.m.as_of = r.clock;
	r.m.caused_by = "";
	return r;
}

static void encode(const cd_member_rec *r, cd_buf *b)
{
	cd_err err;
	cd_buf_reset(b);
	if (cd_members_encode(r, b, &err) < 0)
		fail_msg("encode: %s", err.msg);
}

/* Decodes b; expects failure naming `field` when field is not NULL. */
static void expect_refused(const cd_buf *b, const char *field)
{
	cd_member_rec r;
	Contact__V1__MemberRecord *msg = (void *)1;
	cd_err err;
	assert_int_equal(cd_members_decode(b->data, b->len, &r, &msg, &err), -1);
	assert_null(msg);
	if (!strstr(err.msg, field))
		fail_msg("error '%s' does not name '%s'", err.msg, field);
}

static void test_a_member_and_a_watermark_round_trip(void **state)
{
	cd_member_rec in = member_rec(), out;
	Contact__V1__MemberRecord *msg;
	cd_buf b;
	cd_err err;
	(void)state;
	cd_buf_init(&b, 1 << 16);
	encode(&in, &b);
	for (size_t i = 0; i + 1 < b.len; i++)
		assert_false(b.data[i] == 'c' && b.data[i + 1] == '1');
	assert_int_equal(cd_members_decode(b.data, b.len, &out, &msg, &err), 0);
	assert_int_equal(out.source, 3);
	assert_true(out.seq == 42 && out.clock == in.clock && out.at_tick && !out.watermark);
	assert_string_equal(out.m.member_id, in.m.member_id);
	assert_string_equal(out.m.aggregate_id, "dk-2026/kommune-share");
	assert_string_equal(out.m.key, "101");
	assert_string_equal(out.m.obligation_id, "dk-2026/four-in-six");
	assert_int_equal(out.m.key_kind, CD_AGG_KEY_MUNICIPALITY);
	assert_int_equal(out.m.outcome, CD_MEMBER_LAPSED);
	assert_int_equal(out.m.due, in.m.due);
	assert_int_equal(out.m.held, 3);
	assert_int_equal(out.m.benefit, CD_KONTANTHJAELP);
	assert_true(out.m.as_of == in.m.as_of);
	cd_members_free(msg);

	/* before the source's first tick: no clock */
	in.clock = CD_INSTANT_NONE;
	encode(&in, &b);
	assert_int_equal(cd_members_decode(b.data, b.len, &out, &msg, &err), 0);
	assert_true(out.clock == CD_INSTANT_NONE);
	cd_members_free(msg);

	/* a member leaving needs its id only */
	memset(&in.m, 0, sizeof(in.m));
	snprintf(in.m.member_id, sizeof(in.m.member_id), "%s", "ffffffffffffffffffffffffffffffff");
	in.m.due = CD_DATE_NONE;
	encode(&in, &b);
	assert_int_equal(cd_members_decode(b.data, b.len, &out, &msg, &err), 0);
	assert_int_equal(out.m.outcome, CD_MEMBER_UNDECIDED);
	cd_members_free(msg);

	in = member_rec();
	in.watermark = true;
	in.source_partitions = 8;
	encode(&in, &b);
	assert_int_equal(cd_members_decode(b.data, b.len, &out, &msg, &err), 0);
	assert_true(out.watermark && out.source_partitions == 8 && out.clock == in.clock && out.source == 3);
	cd_members_free(msg);
	cd_buf_release(&b);
}

static void test_records_the_stage_cannot_count_are_refused_naming_the_field(void **state)
{
	cd_member_rec r;
	cd_buf b;
	(void)state;
	cd_buf_init(&b, 1 << 16);
	cd_buf_reset(&b);
	cd_buf_append(&b, "\xff\xff\xff", 3);
	expect_refused(&b, "not a contact.v1.MemberRecord");

	r = member_rec();
	r.seq = 0;
	encode(&r, &b);
	expect_refused(&b, "'seq'");

	r = member_rec();
	r.watermark = true;
	r.source_partitions = 3;          /* source 3 of 3 partitions: beyond them */
	encode(&r, &b);
	expect_refused(&b, "'source_partitions'");
	r.source_partitions = 8;
	r.clock = CD_INSTANT_NONE;
	encode(&r, &b);
	expect_refused(&b, "'clock'");

	r = member_rec();
	snprintf(r.m.member_id, sizeof(r.m.member_id), "%s", "not-hex");
	encode(&r, &b);
	expect_refused(&b, "'member.member_id'");

	r = member_rec();
	r.m.outcome = 9;
	encode(&r, &b);
	expect_refused(&b, "'member.outcome'");

	r = member_rec();
	r.m.due = CD_DATE_NONE;
	encode(&r, &b);
	expect_refused(&b, "'member.due'");

	r = member_rec();
	r.m.aggregate_id = "";
	encode(&r, &b);
	expect_refused(&b, "'member.aggregate_id'");

	r = member_rec();
	r.m.key_kind = 7;
	encode(&r, &b);
	expect_refused(&b, "'member.key_kind'");

	r = member_rec();
	r.m.need = 1001;
	encode(&r, &b);
	expect_refused(&b, "'member.need'");

	r = member_rec();
	r.m.benefit = 99;
	encode(&r, &b);
	expect_refused(&b, "'member.benefit'");

	r = member_rec();
	r.m.key = "01234567890123456789012345678901234567890123456789012345678901234567890";
	encode(&r, &b);
	expect_refused(&b, "'member.key'");
	cd_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_member_and_a_watermark_round_trip),
		cmocka_unit_test(test_records_the_stage_cannot_count_are_refused_naming_the_field),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
