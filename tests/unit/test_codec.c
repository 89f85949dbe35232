/*
 * test_codec.c — the binary output encoder writes exactly the bytes of
 * protobuf-c's generic packer (the reference), for every shape of output:
 * deadline and breach, wrapped and bare, empty and long strings, absent dates,
 * empty and repeated counted ids, negative and large numbers, nanos.
 * And outputs with no aggregate_id and no basis (every output before
 * dk-2026) keep exactly the bytes and the JSON they had before those fields
 * existed: the golden bytes below were written by Google's protobuf runtime
 * (python3-protobuf) for that output with neither field set.
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
		char eid[33], cid[40], muni[5], oid[100], legal[300], cause[40], expl[600], rs[40], agg[40];
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
		rand_str(agg, 40);
		o.aggregate_id = next() % 3 == 0 ? NULL : agg;
		o.basis = (int)(next() % 6) - 1;            /* includes -1 and 0 */
		o.is_breach = next() % 2;
		o.status = (int)(next() % 9) - 1;           /* includes -1, 0 and LAPSED */
		o.breach_kind = (int)(next() % 3);
		o.cancel_reason = (int)(next() % 8);
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

/* A CANCELLED (SUPERSEDED) deadline output of dk-2020/four-in-six. */
static void golden_output(cd_output *o)
{
	static const char *const counted[] = { "c1" };
	memset(o, 0, sizeof(*o));
	snprintf(o->event_id, sizeof(o->event_id), "0123456789abcdef0123456789abcdef");
	snprintf(o->ruleset_id, sizeof(o->ruleset_id), "dk-2020");
	o->citizen_id = "p1";
	o->muni = "101";
	o->benefit = CD_KONTANTHJAELP;
	o->status = CD_DL_CANCELLED;
	o->cancel_reason = CD_CANCEL_SUPERSEDED;
	o->ruleset_version = 1;
	o->obligation_id = o->definition_id = "dk-2020/four-in-six";
	o->severity = CD_SEV_LEGAL;
	o->legal_ref = "LAB \xc2\xa7 1";
	o->window_start = o->period_start = cd_date_from_ymd(2021, 3, 1);
	o->due = o->window_end = cd_date_from_ymd(2021, 8, 31);
	o->required = 4;
	o->held = 1;
	o->counted = counted;
	o->n_counted = 1;
	o->caused_by = "e2";
	o->as_of = INT64_C(1614592800) * CD_NS_PER_SEC;
	o->explanation = "cancelled";
}

/* python3-protobuf's Output(deadline=…).SerializeToString() of golden_output. */
static const char golden_pb[] =
	"\x0a\xc3\x01\x0a\x20\x30\x31\x32\x33\x34\x35\x36\x37\x38\x39\x61\x62\x63\x64\x65\x66\x30\x31"
	"\x32\x33\x34\x35\x36\x37\x38\x39\x61\x62\x63\x64\x65\x66\x12\x02\x70\x31\x1a\x03\x31\x30\x31\x20"
	"\x02\x28\x06\x32\x79\x0a\x07\x64\x6b\x2d\x32\x30\x32\x30\x10\x01\x1a\x13\x64\x6b\x2d\x32\x30\x32"
	"\x30\x2f\x66\x6f\x75\x72\x2d\x69\x6e\x2d\x73\x69\x78\x20\x01\x2a\x08\x4c\x41\x42\x20\xc2\xa7\x20"
	"\x31\x32\x0a\x32\x30\x32\x31\x2d\x30\x33\x2d\x30\x31\x3a\x0a\x32\x30\x32\x31\x2d\x30\x38\x2d\x33"
	"\x31\x40\x04\x48\x01\x52\x02\x63\x31\x5a\x0a\x32\x30\x32\x31\x2d\x30\x33\x2d\x30\x31\x62\x0a\x32"
	"\x30\x32\x31\x2d\x30\x38\x2d\x33\x31\x6a\x13\x64\x6b\x2d\x32\x30\x32\x30\x2f\x66\x6f\x75\x72\x2d"
	"\x69\x6e\x2d\x73\x69\x78\x38\x05\x42\x02\x65\x32\x4a\x06\x08\xa0\xf6\xf2\x81\x06\x52\x09\x63\x61"
	"\x6e\x63\x65\x6c\x6c\x65\x64";

/* The same output in the canonical JSON of replay files, as contactd wrote it before dk-2026. */
static const char golden_json[] =
	"{\"deadline\":{\"eventId\":\"0123456789abcdef0123456789abcdef\",\"citizenId\":\"p1\","
	"\"municipalityCode\":\"101\",\"benefit\":\"BENEFIT_KONTANTHJAELP\",\"status\":\"DEADLINE_STATUS_CANCELLED\","
	"\"obligation\":{\"rulesetId\":\"dk-2020\",\"rulesetVersion\":1,\"obligationId\":\"dk-2020/four-in-six\","
	"\"severity\":\"SEVERITY_LEGAL\",\"legalRef\":\"LAB \xc2\xa7 1\",\"windowStart\":\"2021-03-01\","
	"\"dueDate\":\"2021-08-31\",\"required\":4,\"held\":1,\"countedConversationIds\":[\"c1\"],"
	"\"periodStart\":\"2021-03-01\",\"windowEnd\":\"2021-08-31\",\"definitionId\":\"dk-2020/four-in-six\"},"
	"\"cancelReason\":\"CANCEL_REASON_SUPERSEDED\",\"causedByEventId\":\"e2\",\"asOf\":\"2021-03-01T10:00:00Z\","
	"\"explanation\":\"cancelled\"}}";

static void append(const cd_output *o, cd_log_format fmt, cd_buf *b)
{
	cd_err err;
	cd_buf_reset(b);
	if (cd_codec_output_append(o, fmt, 1, b, &err) < 0)
		fail_msg("%s", err.msg);
}

static void test_no_aggregate_id_and_no_basis_give_the_old_bytes_and_json(void **state)
{
	const char *const unset[] = { NULL, "" };
	cd_output o;
	cd_buf b;
	(void)state;
	cd_buf_init(&b, 1 << 16);
	for (size_t i = 0; i < 2; i++) {
		golden_output(&o);
		o.aggregate_id = unset[i];
		append(&o, CD_LOG_PB, &b);
		assert_int_equal(b.len, sizeof(golden_pb) - 1);
		assert_memory_equal(b.data, golden_pb, b.len);
		append(&o, CD_LOG_JSON, &b);
		assert_string_equal(b.data, golden_json);
	}
	cd_buf_release(&b);
}

static void test_aggregate_id_and_basis_are_written_into_the_obligation(void **state)
{
	cd_output o;
	cd_buf b;
	Contact__V1__Output *m;
	(void)state;
	cd_buf_init(&b, 1 << 16);
	golden_output(&o);
	o.status = CD_DL_LAPSED;
	o.cancel_reason = CD_CANCEL_NONE;
	o.aggregate_id = "dk-2026/kommune-share";
	o.basis = CD_BASIS_CARRIED_OVER;
	append(&o, CD_LOG_PB, &b);
	m = contact__v1__output__unpack(NULL, b.len, (const uint8_t *)b.data);
	assert_non_null(m);
	assert_int_equal(m->output_case, CONTACT__V1__OUTPUT__OUTPUT_DEADLINE);
	assert_int_equal(m->deadline->status, CONTACT__V1__DEADLINE_STATUS__DEADLINE_STATUS_LAPSED);
	assert_string_equal(m->deadline->obligation->aggregate_id, "dk-2026/kommune-share");
	assert_int_equal(m->deadline->obligation->basis, CONTACT__V1__BASIS__BASIS_CARRIED_OVER);
	assert_string_equal(m->deadline->obligation->definition_id, "dk-2020/four-in-six");
	contact__v1__output__free_unpacked(m, NULL);
	append(&o, CD_LOG_JSON, &b);
	assert_non_null(strstr(b.data, "\"definitionId\":\"dk-2020/four-in-six\",\"aggregateId\":\"dk-2026/kommune-share\","
				       "\"basis\":\"BASIS_CARRIED_OVER\"}"));
	assert_non_null(strstr(b.data, "\"status\":\"DEADLINE_STATUS_LAPSED\""));
	/* the new cancel reasons are names too */
	o.status = CD_DL_CANCELLED;
	o.cancel_reason = CD_CANCEL_EXEMPTED;
	append(&o, CD_LOG_JSON, &b);
	assert_non_null(strstr(b.data, "\"cancelReason\":\"CANCEL_REASON_EXEMPTED\""));
	o.cancel_reason = CD_CANCEL_LAW_CHANGED;
	append(&o, CD_LOG_JSON, &b);
	assert_non_null(strstr(b.data, "\"cancelReason\":\"CANCEL_REASON_LAW_CHANGED\""));
	/* basis alone, on a breach */
	o.is_breach = true;
	o.status = CD_BR_BREACHED;
	o.breach_kind = CD_KIND_DEADLINE;
	o.aggregate_id = "";
	o.basis = CD_BASIS_INTERPRETATION;
	append(&o, CD_LOG_JSON, &b);
	assert_null(strstr(b.data, "aggregateId"));
	assert_non_null(strstr(b.data, "\"basis\":\"BASIS_INTERPRETATION\"}"));
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

/* S10's BREACHED, as an aggregate output. */
static void s10_aggregate(cd_agg_output *a, cd_agg_benefit *ben)
{
	memset(a, 0, sizeof(*a));
	strcpy(a->event_id, "00112233445566778899aabbccddeeff");
	a->aggregate_id = "dk-2026/kommune-share";
	a->key_kind = CD_AGG_KEY_MUNICIPALITY;
	a->key = "101";
	a->period_start = cd_date_from_ymd(2027, 1, 1);
	a->period_end = cd_date_from_ymd(2027, 3, 31);
	a->status = CD_AGG_BREACHED;
	a->kind = CD_AGG_SHARE;
	a->members = 40;
	a->met = 29;
	a->lapsed = 9;
	a->exempted = 2;
	a->required = 30;
	a->held = 29;
	ben[0] = (cd_agg_benefit){ CD_DAGPENGE, 6, 4 };
	ben[1] = (cd_agg_benefit){ CD_KONTANTHJAELP, 30, 22 };
	a->by_benefit = ben;
	a->n_by_benefit = 2;
	a->severity = CD_SEV_LEGAL;
	a->legal_ref = "LAB \xc2\xa7 31";
	a->detected_at = cd_instant_from_ts(1806530400, 0);   /* 2027-03-31T22:00:00Z */
	a->explanation = "breached";
}

static void test_aggregate_events_in_json_and_binary(void **state)
{
	cd_agg_output a;
	cd_agg_benefit ben[2];
	cd_buf b;
	cd_err err;
	Contact__V1__Output *m;
	Contact__V1__AggregateEvent *e;
	char key[32];
	(void)state;
	cd_buf_init(&b, 1 << 16);
	s10_aggregate(&a, ben);
	assert_int_equal(cd_codec_aggregate_append(&a, CD_LOG_JSON, 1, &b, &err), 0);
	assert_string_equal(b.data,
		"{\"aggregate\":{\"eventId\":\"00112233445566778899aabbccddeeff\",\"aggregateId\":\"dk-2026/kommune-share\","
		"\"keyKind\":\"AGGREGATE_KEY_KIND_MUNICIPALITY\",\"key\":\"101\",\"periodStart\":\"2027-01-01\","
		"\"periodEnd\":\"2027-03-31\",\"status\":\"AGGREGATE_STATUS_BREACHED\",\"kind\":\"AGGREGATE_KIND_SHARE\","
		"\"members\":40,\"met\":29,\"lapsed\":9,\"exempted\":2,\"required\":30,\"held\":29,"
		"\"byBenefit\":[{\"benefit\":\"BENEFIT_DAGPENGE\",\"members\":6,\"met\":4},"
		"{\"benefit\":\"BENEFIT_KONTANTHJAELP\",\"members\":30,\"met\":22}],"
		"\"severity\":\"SEVERITY_LEGAL\",\"legalRef\":\"LAB \xc2\xa7 31\",\"detectedAt\":\"2027-03-31T22:00:00Z\","
		"\"explanation\":\"breached\"}}");
	cd_buf_reset(&b);
	assert_int_equal(cd_codec_aggregate_append(&a, CD_LOG_PB, 1, &b, &err), 0);
	m = contact__v1__output__unpack(NULL, b.len, (const uint8_t *)b.data);
	assert_non_null(m);
	assert_int_equal(m->output_case, CONTACT__V1__OUTPUT__OUTPUT_AGGREGATE);
	e = m->aggregate;
	assert_string_equal(e->event_id, "00112233445566778899aabbccddeeff");
	assert_string_equal(e->key, "101");
	assert_string_equal(e->period_end, "2027-03-31");
	assert_int_equal(e->status, CONTACT__V1__AGGREGATE_STATUS__AGGREGATE_STATUS_BREACHED);
	assert_int_equal(e->required, 30);
	assert_int_equal(e->held, 29);
	assert_int_equal(e->n_by_benefit, 2);
	assert_int_equal(e->by_benefit[1]->benefit, CONTACT__V1__BENEFIT__BENEFIT_KONTANTHJAELP);
	assert_int_equal(e->by_benefit[1]->met, 22);
	assert_int_equal(e->detected_at->seconds, 1806530400);
	contact__v1__output__free_unpacked(m, NULL);
	/* bare, for the aggregates topic; no benefits, an a-kasse key */
	a.key_kind = CD_AGG_KEY_AKASSE;
	a.key = "A901";
	a.n_by_benefit = 0;
	cd_buf_reset(&b);
	assert_int_equal(cd_codec_aggregate_append(&a, CD_LOG_JSON, 0, &b, &err), 0);
	assert_true(!strncmp(b.data, "{\"eventId\":", 11));
	assert_null(strstr(b.data, "byBenefit"));
	assert_non_null(strstr(b.data, "\"keyKind\":\"AGGREGATE_KEY_KIND_AKASSE\",\"key\":\"A901\""));
	assert_int_equal(cd_codec_aggregate_key(CD_AGG_KEY_AKASSE, "A901", key, sizeof(key)), 11);
	assert_string_equal(key, "akasse:A901");
	assert_int_equal(cd_codec_aggregate_key(CD_AGG_KEY_MUNICIPALITY, "101", key, sizeof(key)), 11);
	assert_string_equal(key, "kommune:101");
	cd_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_direct_encoder_writes_the_reference_bytes),
		cmocka_unit_test(test_no_aggregate_id_and_no_basis_give_the_old_bytes_and_json),
		cmocka_unit_test(test_aggregate_id_and_basis_are_written_into_the_obligation),
		cmocka_unit_test(test_output_larger_than_the_buffer_limit_fails),
		cmocka_unit_test(test_aggregate_events_in_json_and_binary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
