/*
 * test_codec.c — the binary output encoder writes exactly the bytes of
 * protobuf-c's generic packer (the reference), for every shape of output:
 * deadline and breach, wrapped and bare, empty and long strings, absent dates,
 * empty and repeated counted ids, negative and large numbers, nanos.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/codec.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void rand_str(char *buf, size_t max)
{
	size_t n = next() % 4 == 0 ? 0 : next() % max;
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)('a' + next() % 26);
	buf[n] = '\0';
}

static cd_date rand_date(void)
{
	return next() % 5 == 0 ? CD_DATE_NONE : (cd_date)(7000 + next() % 30000);
}

static void test_direct_encoder_writes_the_reference_bytes(void **state)
{
	cd_buf a, b;
	cd_err err;
	(void)state;
	cd_buf_init(&a, 1 << 20);
	cd_buf_init(&b, 1 << 20);
	for (int i = 0; i < 20000; i++) {
		char eid[33], cid[40], muni[5], oid[100], legal[300], cause[40], expl[600], rs[40];
		char counted_s[8][40];
		const char *counted[8];
		cd_output o;
		memset(&o, 0, sizeof(o));
		rand_str(eid, 33);
		rand_str(cid, 40);
		rand_str(muni, 5);
		rand_str(oid, 100);
		rand_str(legal, 300);
		rand_str(cause, 40);
		rand_str(expl, 600);
		rand_str(rs, 40);
		memcpy(o.event_id, eid, sizeof(eid));
		memcpy(o.ruleset_id, rs, sizeof(rs));
		o.citizen_id = cid;
		o.muni = muni;
		o.obligation_id = oid;
		o.definition_id = next() % 5 == 0 ? NULL : next() % 2 ? oid : rs;
		o.legal_ref = next() % 7 == 0 ? NULL : legal;
		o.caused_by = cause;
		o.explanation = expl;
		o.is_breach = next() % 2;
		o.status = (int)(next() % 8) - 1;           /* includes -1 and 0 */
		o.breach_kind = (int)(next() % 3);
		o.cancel_reason = (int)(next() % 6);
		o.benefit = (int)(next() % 11);
		o.severity = (int)(next() % 3);
		o.ruleset_version = next() % 3 == 0 ? -(int)(next() % 1000) : (int)(next() % 100000);
		o.required = (int)(next() % 200);
		o.held = (int)(next() % 300);
		o.window_start = rand_date();
		o.window_end = rand_date();
		o.due = rand_date();
		o.period_start = rand_date();
		o.n_counted = next() % 9;
		for (size_t k = 0; k < o.n_counted && k < 8; k++) {
			rand_str(counted_s[k], 40);
			counted[k] = counted_s[k];
		}
		if (o.n_counted > 8)
			o.n_counted = 8;
		o.counted = counted;
		switch (next() % 4) {
		case 0: o.as_of = 0; break;
		case 1: o.as_of = -(cd_instant)(next() % 1000000000000000000ull); break;
		case 2: o.as_of = (cd_instant)(next() % 4000000000ull) * CD_NS_PER_SEC; break;
		default: o.as_of = (cd_instant)(next() % 4000000000000000000ull); break;
		}
		for (int wrapped = 0; wrapped < 2; wrapped++) {
			cd_buf_reset(&a);
			cd_buf_reset(&b);
			assert_int_equal(cd_codec_output_append(&o, CD_LOG_PB, wrapped, &a, &err), 0);
			assert_int_equal(cd_codec_output_append_pbc(&o, wrapped, &b, &err), 0);
			if (a.len != b.len || memcmp(a.data, b.data, a.len))
				fail_msg("case %d (wrapped %d, breach %d): %zu bytes, reference %zu", i, wrapped,
					 o.is_breach, a.len, b.len);
		}
	}
	cd_buf_release(&a);
	cd_buf_release(&b);
}

static void test_output_larger_than_the_buffer_limit_fails(void **state)
{
	cd_buf a;
	cd_err err;
	char big[5000];
	cd_output o;
	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memset(&o, 0, sizeof(o));
	o.citizen_id = o.muni = o.obligation_id = o.caused_by = "";
	o.explanation = big;
	o.window_start = o.window_end = o.due = o.period_start = CD_DATE_NONE;
	cd_buf_init(&a, 1000);
	assert_int_equal(cd_codec_output_append(&o, CD_LOG_PB, 1, &a, &err), -1);
	assert_non_null(strstr(err.msg, "limit"));
	cd_buf_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_direct_encoder_writes_the_reference_bytes),
		cmocka_unit_test(test_output_larger_than_the_buffer_limit_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
