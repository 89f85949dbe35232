/*
 * test_pbjson.c — the canonical JSON mapping (proto/pbjson.c).
 *
 * Round trips go message -> JSON -> message and compare the two by their
 * binary encoding (protobuf_c_message_pack), which covers every field.
 * Canonical-output tests compare against JSON written by hand here, never
 * produced by the code under test. Failure tests check the exact message
 * (field path included) where the wording is part of the contract.
 * contact.v1 has no int64, bytes or floating-point fields, so a small
 * hand-written descriptor ("test.Scalars") exercises those generic paths.
 * Everything runs under ASan, so each decode failure also checks that the
 * partly built message was freed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contact/v1/events.pb-c.h"
#include "contact/v1/outputs.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "proto/pbjson.h"

#define EVENT_DESC (&contact__v1__citizen_event__descriptor)

/* ---- helpers -------------------------------------------------------------- */

/* Encodes msg; returns a malloc'd copy of the JSON (caller frees). Fails the test on error. */
static char *encode(const ProtobufCMessage *msg)
{
	cd_buf b;
	cd_err err = { { 0 }, 0 };
	char *s;

	cd_buf_init(&b, 1 << 20);
	if (pbjson_encode(msg, &b, &err) < 0)
		fail_msg("encode: %s", err.msg);
	s = strdup(b.data);
	cd_buf_release(&b);
	return s;
}

/* Decodes text; the result is the caller's. Fails the test on error. */
static ProtobufCMessage *decode(const ProtobufCMessageDescriptor *desc, const char *text)
{
	ProtobufCMessage *m = NULL;
	cd_err err = { { 0 }, 0 };

	if (pbjson_decode(desc, text, strlen(text), &m, &err) < 0)
		fail_msg("decode of %s: %s", text, err.msg);
	assert_non_null(m);
	return m;
}

/* Asserts that decoding fails with exactly `want` (or, if prefix, starting with it). */
static void check_decode_error(const ProtobufCMessageDescriptor *desc, const char *text, const char *want, int prefix)
{
	ProtobufCMessage *m = (ProtobufCMessage *)1;
	cd_err err = { { 0 }, 0 };

	assert_int_equal(pbjson_decode(desc, text, strlen(text), &m, &err), -1);
	assert_null(m);
	if (prefix ? strncmp(err.msg, want, strlen(want)) != 0 : strcmp(err.msg, want) != 0)
		fail_msg("decode of %s\n  got:  %s\n  want: %s%s", text, err.msg, want, prefix ? "..." : "");
}

static void assert_decode_error(const char *text, const char *want)
{
	check_decode_error(EVENT_DESC, text, want, 0);
}

/* Asserts a and b have the same binary encoding. */
static void assert_same_message(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t na = protobuf_c_message_get_packed_size(a), nb = protobuf_c_message_get_packed_size(b);
	uint8_t *pa = malloc(na + 1), *pb = malloc(nb + 1);

	assert_int_equal(na, nb);
	protobuf_c_message_pack(a, pa);
	protobuf_c_message_pack(b, pb);
	assert_memory_equal(pa, pb, na);
	free(pa);
	free(pb);
}

/* msg -> JSON -> msg; also JSON -> msg -> JSON gives the same text. */
static void assert_round_trip(const ProtobufCMessage *msg)
{
	char *json = encode(msg), *again;
	ProtobufCMessage *back = decode(msg->descriptor, json);

	assert_same_message(msg, back);
	again = encode(back);
	assert_string_equal(json, again);
	free(again);
	free(json);
	protobuf_c_message_free_unpacked(back, NULL);
}

static void assert_encodes_to(const ProtobufCMessage *msg, const char *want)
{
	char *got = encode(msg);
	assert_string_equal(got, want);
	free(got);
}

/* A fully populated event skeleton (payload left to the caller); all storage static or the caller's. */
static void event_base(Contact__V1__CitizenEvent *e, Google__Protobuf__Timestamp *occ, Google__Protobuf__Timestamp *rec)
{
	contact__v1__citizen_event__init(e);
	google__protobuf__timestamp__init(occ);
	google__protobuf__timestamp__init(rec);
	occ->seconds = 1614834367; /* 2021-03-04T05:06:07Z */
	rec->seconds = 1614834367 + 60;
	rec->nanos = 250000000;
	e->event_id = "e-1";
	e->citizen_id = "c-1";
	e->occurred_at = occ;
	e->recorded_at = rec;
	e->municipality_code = "860";
	e->source = "test";
}

/* ---- round trips of every payload kind ------------------------------------ */

static void test_round_trip_registration(void **state)
{
	Contact__V1__CitizenEvent e;
	Google__Protobuf__Timestamp occ, rec;
	Contact__V1__Registration r = CONTACT__V1__REGISTRATION__INIT;

	(void)state;
	event_base(&e, &occ, &rec);
	r.benefit = CONTACT__V1__BENEFIT__BENEFIT_DAGPENGE;
	r.category = CONTACT__V1__CATEGORY__CATEGORY_JOBPARAT;
	r.first_contact_date = "2021-03-04";
	r.first_absence_date = "2021-03-01";
	r.dagpenge_period_start = "2021-02-01";
	r.prior_unemployment_days = 3650;
	r.akasse_opt_out = 1;
	r.seasonal = 1;
	r.akasse_code = "A901";
	r.municipal_contact_course = 1;
	r.sick_short_absence_expected = 1;
	e.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION;
	e.registration = &r;
	assert_round_trip(&e.base);
}

static void test_round_trip_deregistration(void **state)
{
	Contact__V1__CitizenEvent e;
	Google__Protobuf__Timestamp occ, rec;
	Contact__V1__Deregistration d = CONTACT__V1__DEREGISTRATION__INIT;

	(void)state;
	event_base(&e, &occ, &rec);
	d.reason = CONTACT__V1__DEREGISTRATION_REASON__DEREGISTRATION_REASON_JOB;
	d.ends_dagpenge_period = 1;
	e.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_DEREGISTRATION;
	e.deregistration = &d;
	assert_round_trip(&e.base);
}

static void test_round_trip_conversation(void **state)
{
	Contact__V1__CitizenEvent e;
	Google__Protobuf__Timestamp occ, rec;
	Contact__V1__Conversation c = CONTACT__V1__CONVERSATION__INIT;

	(void)state;
	event_base(&e, &occ, &rec);
	e.recorded_at = NULL;
	c.conversation_id = "conv-9";
	c.form = CONTACT__V1__CONVERSATION_FORM__CONVERSATION_FORM_VIA_OTHER;
	c.held_by = CONTACT__V1__HELD_BY__HELD_BY_AKASSE;
	c.akasse_participated = 1;
	c.voided = 1;
	e.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION;
	e.conversation = &c;
	assert_round_trip(&e.base);
}

static void test_round_trip_benefit_change(void **state)
{
	Contact__V1__CitizenEvent e;
	Google__Protobuf__Timestamp occ, rec;
	Contact__V1__BenefitChange b = CONTACT__V1__BENEFIT_CHANGE__INIT;

	(void)state;
	event_base(&e, &occ, &rec);
	b.to_benefit = CONTACT__V1__BENEFIT__BENEFIT_FOERTIDSPENSION;
	b.to_category = CONTACT__V1__CATEGORY__CATEGORY_UDDANNELSESPARAT;
	b.first_absence_date = "2021-01-02";
	b.dagpenge_period_start = "2021-01-03";
	b.akasse_opt_out = 1;
	b.akasse_code = "a-kasse_7";
	b.municipal_contact_course = 1;
	b.sick_short_absence_expected = 1;
	e.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_BENEFIT_CHANGE;
	e.benefit_change = &b;
	assert_round_trip(&e.base);
}

static void test_round_trip_exemption(void **state)
{
	Contact__V1__CitizenEvent e;
	Google__Protobuf__Timestamp occ, rec;
	Contact__V1__Exemption x = CONTACT__V1__EXEMPTION__INIT;

	(void)state;
	event_base(&e, &occ, &rec);
	x.scope = CONTACT__V1__EXEMPTION_SCOPE__EXEMPTION_SCOPE_AKASSE;
	x.revoked = 1;
	e.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_EXEMPTION;
	e.exemption = &x;
	assert_round_trip(&e.base);
	x.scope = CONTACT__V1__EXEMPTION_SCOPE__EXEMPTION_SCOPE_KOMMUNE;
	x.revoked = 0;
	assert_round_trip(&e.base);
	x.scope = CONTACT__V1__EXEMPTION_SCOPE__EXEMPTION_SCOPE_UNSPECIFIED;   /* still the oneof's case */
	assert_round_trip(&e.base);
}

static void test_encode_dk2026_inputs_are_canonical(void **state)
{
	Contact__V1__CitizenEvent e;
	Google__Protobuf__Timestamp occ, rec;
	Contact__V1__Registration r = CONTACT__V1__REGISTRATION__INIT;
	Contact__V1__Exemption x = CONTACT__V1__EXEMPTION__INIT;
	ProtobufCMessage *back;

	(void)state;
	event_base(&e, &occ, &rec);
	e.recorded_at = NULL;
	e.source = "";
	r.benefit = CONTACT__V1__BENEFIT__BENEFIT_DAGPENGE;
	r.akasse_code = "A901";
	r.municipal_contact_course = 1;
	e.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION;
	e.registration = &r;
	assert_encodes_to(&e.base,
			  "{\"eventId\":\"e-1\",\"citizenId\":\"c-1\",\"occurredAt\":\"2021-03-04T05:06:07Z\","
			  "\"municipalityCode\":\"860\",\"registration\":{\"benefit\":\"BENEFIT_DAGPENGE\","
			  "\"akasseCode\":\"A901\",\"municipalContactCourse\":true}}");
	e.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_EXEMPTION;
	e.exemption = &x;
	x.scope = CONTACT__V1__EXEMPTION_SCOPE__EXEMPTION_SCOPE_KOMMUNE;
	x.revoked = 1;
	assert_encodes_to(&e.base,
			  "{\"eventId\":\"e-1\",\"citizenId\":\"c-1\",\"occurredAt\":\"2021-03-04T05:06:07Z\","
			  "\"municipalityCode\":\"860\",\"exemption\":{\"scope\":\"EXEMPTION_SCOPE_KOMMUNE\",\"revoked\":true}}");
	/* proto field names are accepted on input */
	back = decode(EVENT_DESC, "{\"event_id\":\"e\",\"registration\":{\"akasse_code\":\"A1\","
				  "\"sick_short_absence_expected\":true,\"municipal_contact_course\":false}}");
	assert_string_equal(((Contact__V1__CitizenEvent *)back)->registration->akasse_code, "A1");
	assert_true(((Contact__V1__CitizenEvent *)back)->registration->sick_short_absence_expected);
	protobuf_c_message_free_unpacked(back, NULL);
	back = decode(EVENT_DESC, "{\"event_id\":\"e\",\"exemption\":{\"scope\":2}}");
	assert_int_equal(((Contact__V1__CitizenEvent *)back)->payload_case, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_EXEMPTION);
	assert_int_equal(((Contact__V1__CitizenEvent *)back)->exemption->scope,
			 CONTACT__V1__EXEMPTION_SCOPE__EXEMPTION_SCOPE_AKASSE);
	protobuf_c_message_free_unpacked(back, NULL);
	assert_decode_error("{\"exemption\":{\"scope\":\"EXEMPTION_SCOPE_TOWN\"}}",
			    "field 'exemption.scope': unknown enum value 'EXEMPTION_SCOPE_TOWN'");
}

static void test_round_trip_clock_tick(void **state)
{
	Contact__V1__CitizenEvent e;
	Google__Protobuf__Timestamp occ, rec;
	Contact__V1__ClockTick t = CONTACT__V1__CLOCK_TICK__INIT;

	(void)state;
	event_base(&e, &occ, &rec);
	e.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CLOCK_TICK;
	e.clock_tick = &t;
	assert_round_trip(&e.base);
}

static void test_round_trip_event_without_payload(void **state)
{
	Contact__V1__CitizenEvent e;
	Google__Protobuf__Timestamp occ, rec;

	(void)state;
	event_base(&e, &occ, &rec);
	assert_round_trip(&e.base);
}

static void test_round_trip_output_deadline_with_repeated_strings(void **state)
{
	Contact__V1__Output o = CONTACT__V1__OUTPUT__INIT;
	Contact__V1__DeadlineEvent d = CONTACT__V1__DEADLINE_EVENT__INIT;
	Contact__V1__ObligationState ob = CONTACT__V1__OBLIGATION_STATE__INIT;
	Google__Protobuf__Timestamp as_of = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	char *ids[] = { "conv-1", "conv-\"2\"", "" };

	(void)state;
	ob.ruleset_id = "dk-2020";
	ob.ruleset_version = 3;
	ob.obligation_id = "dk-2020/four-in-six";
	ob.severity = CONTACT__V1__SEVERITY__SEVERITY_LEGAL;
	ob.legal_ref = "LAB \xc2\xa7 " "16";
	ob.window_start = "2021-01-01";
	ob.due_date = "2021-02-01";
	ob.required = 4;
	ob.held = 2;
	ob.n_counted_conversation_ids = 3;
	ob.counted_conversation_ids = ids;
	ob.period_start = "2020-12-01";
	ob.window_end = "2021-06-30";
	as_of.seconds = -1;
	as_of.nanos = 1;
	d.event_id = "out-1";
	d.citizen_id = "c-1";
	d.municipality_code = "101";
	d.benefit = CONTACT__V1__BENEFIT__BENEFIT_SYGEDAGPENGE;
	d.status = CONTACT__V1__DEADLINE_STATUS__DEADLINE_STATUS_CANCELLED;
	d.obligation = &ob;
	d.cancel_reason = CONTACT__V1__CANCEL_REASON__CANCEL_REASON_SUPERSEDED;
	d.caused_by_event_id = "e-7";
	d.as_of = &as_of;
	d.explanation = "line with\ttab and \"quotes\" and \\ backslash";
	o.output_case = CONTACT__V1__OUTPUT__OUTPUT_DEADLINE;
	o.deadline = &d;
	assert_round_trip(&o.base);
	/* the dk-2026 fields */
	ob.aggregate_id = "dk-2026/akasse-share";
	ob.basis = CONTACT__V1__BASIS__BASIS_GUIDANCE;
	d.status = CONTACT__V1__DEADLINE_STATUS__DEADLINE_STATUS_LAPSED;
	d.cancel_reason = CONTACT__V1__CANCEL_REASON__CANCEL_REASON_LAW_CHANGED;
	assert_round_trip(&o.base);
}

static void test_round_trip_output_aggregate(void **state)
{
	Contact__V1__Output o = CONTACT__V1__OUTPUT__INIT;
	Contact__V1__AggregateEvent a = CONTACT__V1__AGGREGATE_EVENT__INIT;
	Contact__V1__BenefitCount c1 = CONTACT__V1__BENEFIT_COUNT__INIT, c2 = CONTACT__V1__BENEFIT_COUNT__INIT;
	Contact__V1__BenefitCount *by[] = { &c1, &c2 };
	Google__Protobuf__Timestamp at = GOOGLE__PROTOBUF__TIMESTAMP__INIT;

	(void)state;
	at.seconds = 1798761600;   /* 2027-01-01T00:00:00Z */
	c1.benefit = CONTACT__V1__BENEFIT__BENEFIT_DAGPENGE;
	c1.members = 30;
	c1.met = 20;
	c2.benefit = CONTACT__V1__BENEFIT__BENEFIT_KONTANTHJAELP;
	c2.members = 10;
	c2.met = 9;
	a.event_id = "agg-1";
	a.aggregate_id = "dk-2026/kommune-share";
	a.key_kind = CONTACT__V1__AGGREGATE_KEY_KIND__AGGREGATE_KEY_KIND_MUNICIPALITY;
	a.key = "101";
	a.period_start = "2026-10-01";
	a.period_end = "2026-12-31";
	a.status = CONTACT__V1__AGGREGATE_STATUS__AGGREGATE_STATUS_BREACHED;
	a.kind = CONTACT__V1__AGGREGATE_KIND__AGGREGATE_KIND_SHARE;
	a.members = 40;
	a.met = 29;
	a.lapsed = 8;
	a.exempted = 3;
	a.required = 30;
	a.held = 29;
	a.n_by_benefit = 2;
	a.by_benefit = by;
	a.severity = CONTACT__V1__SEVERITY__SEVERITY_LEGAL;
	a.legal_ref = "LAB \xc2\xa7 31";
	a.detected_at = &at;
	a.explanation = "29 of 40 met, 30 required";
	o.output_case = CONTACT__V1__OUTPUT__OUTPUT_AGGREGATE;
	o.aggregate = &a;
	assert_round_trip(&o.base);
	assert_encodes_to(&c1.base, "{\"benefit\":\"BENEFIT_DAGPENGE\",\"members\":30,\"met\":20}");
	a.status = CONTACT__V1__AGGREGATE_STATUS__AGGREGATE_STATUS_RETRACTED;
	a.kind = CONTACT__V1__AGGREGATE_KIND__AGGREGATE_KIND_AVERAGE;
	a.key_kind = CONTACT__V1__AGGREGATE_KEY_KIND__AGGREGATE_KEY_KIND_AKASSE;
	a.n_by_benefit = 0;
	assert_round_trip(&o.base);
}

static void test_round_trip_output_breach(void **state)
{
	Contact__V1__Output o = CONTACT__V1__OUTPUT__INIT;
	Contact__V1__BreachEvent b = CONTACT__V1__BREACH_EVENT__INIT;
	Google__Protobuf__Timestamp at = GOOGLE__PROTOBUF__TIMESTAMP__INIT;

	(void)state;
	at.seconds = 253402300799; /* 9999-12-31T23:59:59Z, the last valid second */
	at.nanos = 999999999;
	b.event_id = "out-2";
	b.status = CONTACT__V1__BREACH_STATUS__BREACH_STATUS_RETRACTED;
	b.kind = CONTACT__V1__BREACH_KIND__BREACH_KIND_CADENCE;
	b.detected_at = &at;
	o.output_case = CONTACT__V1__OUTPUT__OUTPUT_BREACH;
	o.breach = &b;
	assert_round_trip(&o.base);
}

/* ---- canonical output, written by hand ------------------------------------ */

static void test_encode_registration_is_canonical(void **state)
{
	Contact__V1__CitizenEvent e;
	Google__Protobuf__Timestamp occ, rec;
	Contact__V1__Registration r = CONTACT__V1__REGISTRATION__INIT;

	(void)state;
	event_base(&e, &occ, &rec);
	r.benefit = CONTACT__V1__BENEFIT__BENEFIT_DAGPENGE;
	r.category = CONTACT__V1__CATEGORY__CATEGORY_JOBPARAT;
	r.first_contact_date = "2021-03-04";
	r.prior_unemployment_days = 12;
	r.akasse_opt_out = 1;
	e.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION;
	e.registration = &r;
	assert_encodes_to(&e.base,
			  "{\"eventId\":\"e-1\",\"citizenId\":\"c-1\",\"occurredAt\":\"2021-03-04T05:06:07Z\","
			  "\"recordedAt\":\"2021-03-04T05:07:07.250Z\",\"municipalityCode\":\"860\",\"source\":\"test\","
			  "\"registration\":{\"benefit\":\"BENEFIT_DAGPENGE\",\"category\":\"CATEGORY_JOBPARAT\","
			  "\"firstContactDate\":\"2021-03-04\",\"priorUnemploymentDays\":12,\"akasseOptOut\":true}}");
}

static void test_encode_clock_tick_prints_empty_object(void **state)
{
	Contact__V1__CitizenEvent e = CONTACT__V1__CITIZEN_EVENT__INIT;
	Contact__V1__ClockTick t = CONTACT__V1__CLOCK_TICK__INIT;

	(void)state;
	e.citizen_id = "c-2";
	e.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CLOCK_TICK;
	e.clock_tick = &t;
	assert_encodes_to(&e.base, "{\"citizenId\":\"c-2\",\"clockTick\":{}}");
}

static void test_encode_oneof_member_with_only_defaults_is_printed(void **state)
{
	Contact__V1__CitizenEvent e = CONTACT__V1__CITIZEN_EVENT__INIT;
	Contact__V1__Deregistration d = CONTACT__V1__DEREGISTRATION__INIT;

	(void)state;
	e.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_DEREGISTRATION;
	e.deregistration = &d;
	assert_encodes_to(&e.base, "{\"deregistration\":{}}");
}

/* aggregate_id "" and basis UNSPECIFIED are defaults: an output without them prints as before. */
static void test_encode_omits_unset_aggregate_id_and_basis(void **state)
{
	Contact__V1__ObligationState ob = CONTACT__V1__OBLIGATION_STATE__INIT;

	(void)state;
	ob.obligation_id = "dk-2020/first-within";
	assert_encodes_to(&ob.base, "{\"obligationId\":\"dk-2020/first-within\"}");
	ob.aggregate_id = "dk-2026/kommune-share";
	ob.basis = CONTACT__V1__BASIS__BASIS_LAW;
	assert_encodes_to(&ob.base, "{\"obligationId\":\"dk-2020/first-within\","
				    "\"aggregateId\":\"dk-2026/kommune-share\",\"basis\":\"BASIS_LAW\"}");
}

static void test_encode_omits_default_values(void **state)
{
	Contact__V1__CitizenEvent e = CONTACT__V1__CITIZEN_EVENT__INIT;
	Contact__V1__ObligationState ob = CONTACT__V1__OBLIGATION_STATE__INIT;

	(void)state;
	assert_encodes_to(&e.base, "{}");
	assert_encodes_to(&ob.base, "{}");
}

static void test_encode_timestamp_uses_0_3_6_or_9_fraction_digits(void **state)
{
	static const struct {
		int64_t seconds;
		int32_t nanos;
		const char *want;
	} cases[] = {
		{ 0, 0, "\"1970-01-01T00:00:00Z\"" },
		{ 0, 500000000, "\"1970-01-01T00:00:00.500Z\"" },
		{ 0, 123456000, "\"1970-01-01T00:00:00.123456Z\"" },
		{ 0, 1, "\"1970-01-01T00:00:00.000000001Z\"" },
		{ -1, 0, "\"1969-12-31T23:59:59Z\"" },
		{ 1583020799, 10000000, "\"2020-02-29T23:59:59.010Z\"" },
		{ -62135596800, 0, "\"0001-01-01T00:00:00Z\"" },
		{ 253402300799, 999999999, "\"9999-12-31T23:59:59.999999999Z\"" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
		ts.seconds = cases[i].seconds;
		ts.nanos = cases[i].nanos;
		assert_encodes_to(&ts.base, cases[i].want);
	}
}

static void test_encode_escapes_strings(void **state)
{
	Contact__V1__CitizenEvent e = CONTACT__V1__CITIZEN_EVENT__INIT;

	(void)state;
	e.source = "q\" b\\ n\n t\t c\x01 \xc3\xa6\xc3\xb8\xc3\xa5 \xf0\x9f\x98\x80";
	assert_encodes_to(&e.base,
			  "{\"source\":\"q\\\" b\\\\ n\\n t\\t c\\u0001 \xc3\xa6\xc3\xb8\xc3\xa5 \xf0\x9f\x98\x80\"}");
}

static void test_encode_rejects_invalid_utf8(void **state)
{
	Contact__V1__CitizenEvent e = CONTACT__V1__CITIZEN_EVENT__INIT;
	Contact__V1__Conversation c = CONTACT__V1__CONVERSATION__INIT;
	cd_buf b;
	cd_err err;

	(void)state;
	c.conversation_id = "bad \xc3 byte";
	e.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION;
	e.conversation = &c;
	cd_buf_init(&b, 4096);
	assert_int_equal(pbjson_encode(&e.base, &b, &err), -1);
	assert_string_equal(err.msg, "field 'conversation.conversationId': string is not valid UTF-8");
	cd_buf_release(&b);
}

static void test_encode_rejects_timestamp_out_of_range(void **state)
{
	Contact__V1__CitizenEvent e = CONTACT__V1__CITIZEN_EVENT__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	cd_buf b;
	cd_err err;

	(void)state;
	ts.seconds = 253402300800;
	e.occurred_at = &ts;
	cd_buf_init(&b, 4096);
	assert_int_equal(pbjson_encode(&e.base, &b, &err), -1);
	assert_string_equal(err.msg, "field 'occurredAt': timestamp out of range (seconds 253402300800, nanos 0)");
	ts.seconds = 0;
	ts.nanos = 1000000000;
	assert_int_equal(pbjson_encode(&e.base, &b, &err), -1);
	cd_buf_release(&b);
}

static void test_encode_unknown_enum_number_prints_the_number(void **state)
{
	Contact__V1__Deregistration d = CONTACT__V1__DEREGISTRATION__INIT;

	(void)state;
	d.reason = 42;
	assert_encodes_to(&d.base, "{\"reason\":42}");
}

static void test_encode_fails_at_buffer_max_and_restores_the_buffer(void **state)
{
	Contact__V1__CitizenEvent e = CONTACT__V1__CITIZEN_EVENT__INIT;
	cd_buf b;
	cd_err err;

	(void)state;
	e.event_id = "0123456789012345678901234567890123456789";
	cd_buf_init(&b, 40);
	assert_int_equal(cd_buf_puts(&b, "prefix"), 0);
	assert_int_equal(pbjson_encode(&e.base, &b, &err), -1);
	assert_string_equal(err.msg, "JSON of 'contact.v1.CitizenEvent' longer than the output maximum of 40 bytes");
	assert_int_equal(b.len, 6);
	assert_string_equal(b.data, "prefix");
	e.event_id = "x";
	assert_int_equal(pbjson_encode(&e.base, &b, &err), 0);
	assert_string_equal(b.data, "prefix{\"eventId\":\"x\"}");
	cd_buf_release(&b);
}

/* ---- decoding: accepted forms --------------------------------------------- */

static void test_decode_accepts_json_and_proto_field_names(void **state)
{
	Contact__V1__CitizenEvent *a, *b;

	(void)state;
	a = (Contact__V1__CitizenEvent *)decode(EVENT_DESC,
		"{\"eventId\":\"e\",\"citizenId\":\"c\",\"occurredAt\":\"2021-06-01T10:00:00Z\","
		"\"benefitChange\":{\"toBenefit\":\"BENEFIT_DAGPENGE\",\"akasseOptOut\":true}}");
	b = (Contact__V1__CitizenEvent *)decode(EVENT_DESC,
		"{\"event_id\":\"e\",\"citizen_id\":\"c\",\"occurred_at\":\"2021-06-01T10:00:00Z\","
		"\"benefit_change\":{\"to_benefit\":\"BENEFIT_DAGPENGE\",\"akasse_opt_out\":true}}");
	assert_same_message(&a->base, &b->base);
	assert_string_equal(a->event_id, "e");
	assert_int_equal(a->occurred_at->seconds, 1622541600);
	assert_int_equal(a->payload_case, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_BENEFIT_CHANGE);
	assert_int_equal(a->benefit_change->to_benefit, CONTACT__V1__BENEFIT__BENEFIT_DAGPENGE);
	assert_true(a->benefit_change->akasse_opt_out);
	protobuf_c_message_free_unpacked(&a->base, NULL);
	protobuf_c_message_free_unpacked(&b->base, NULL);
}

static void test_decode_accepts_enum_numbers(void **state)
{
	Contact__V1__CitizenEvent *e;

	(void)state;
	e = (Contact__V1__CitizenEvent *)decode(EVENT_DESC, "{\"registration\":{\"benefit\":5,\"category\":0}}");
	assert_int_equal(e->registration->benefit, CONTACT__V1__BENEFIT__BENEFIT_SYGEDAGPENGE);
	protobuf_c_message_free_unpacked(&e->base, NULL);
}

static void test_decode_accepts_quoted_and_integral_real_integers(void **state)
{
	static const char *const texts[] = {
		"{\"registration\":{\"priorUnemploymentDays\":\"12\"}}",
		"{\"registration\":{\"priorUnemploymentDays\":12.0}}",
		"{\"registration\":{\"priorUnemploymentDays\":1.2e1}}",
	};
	(void)state;
	for (size_t i = 0; i < 3; i++) {
		Contact__V1__CitizenEvent *e = (Contact__V1__CitizenEvent *)decode(EVENT_DESC, texts[i]);
		assert_int_equal(e->registration->prior_unemployment_days, 12);
		protobuf_c_message_free_unpacked(&e->base, NULL);
	}
}

static void test_decode_accepts_int32_limits(void **state)
{
	Contact__V1__ObligationState *o;

	(void)state;
	o = (Contact__V1__ObligationState *)decode(&contact__v1__obligation_state__descriptor,
						   "{\"required\":2147483647,\"held\":-2147483648}");
	assert_int_equal(o->required, INT32_MAX);
	assert_int_equal(o->held, INT32_MIN);
	protobuf_c_message_free_unpacked(&o->base, NULL);
}

static void test_decode_null_means_default(void **state)
{
	Contact__V1__CitizenEvent *e;

	(void)state;
	e = (Contact__V1__CitizenEvent *)decode(EVENT_DESC,
		"{\"eventId\":null,\"occurredAt\":null,\"registration\":null,\"clockTick\":{}}");
	assert_ptr_equal(e->event_id, protobuf_c_empty_string);
	assert_null(e->occurred_at);
	assert_int_equal(e->payload_case, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CLOCK_TICK);
	assert_non_null(e->clock_tick);
	protobuf_c_message_free_unpacked(&e->base, NULL);
}

static void test_decode_unset_strings_keep_the_descriptor_default(void **state)
{
	Contact__V1__CitizenEvent *e;

	(void)state;
	e = (Contact__V1__CitizenEvent *)decode(EVENT_DESC, "{\"citizenId\":\"c\",\"registration\":{}}");
	assert_ptr_equal(e->event_id, protobuf_c_empty_string);
	assert_ptr_equal(e->source, protobuf_c_empty_string);
	assert_ptr_equal(e->registration->first_contact_date, protobuf_c_empty_string);
	assert_string_equal(e->citizen_id, "c");
	protobuf_c_message_free_unpacked(&e->base, NULL);
}

static void test_decode_ignores_unknown_fields(void **state)
{
	Contact__V1__CitizenEvent *e;

	(void)state;
	e = (Contact__V1__CitizenEvent *)decode(EVENT_DESC,
		"{\"future\":{\"a\":[1,{\"b\":null}]},\"eventId\":\"e\",\"x\":1,"
		"\"conversation\":{\"newThing\":\"y\",\"voided\":true}}");
	assert_string_equal(e->event_id, "e");
	assert_true(e->conversation->voided);
	protobuf_c_message_free_unpacked(&e->base, NULL);
}

static void test_decode_timestamp_offsets_and_fractions(void **state)
{
	static const struct {
		const char *text;
		int64_t seconds;
		int32_t nanos;
	} cases[] = {
		{ "2021-06-01T10:00:00Z", 1622541600, 0 },
		{ "2021-06-01T12:00:00+02:00", 1622541600, 0 },
		{ "2021-06-01T04:30:00-05:30", 1622541600, 0 },
		{ "2021-06-01T10:00:00.5Z", 1622541600, 500000000 },
		{ "2021-06-01T10:00:00.123456789Z", 1622541600, 123456789 },
		{ "2021-06-01T10:00:00.000001+00:00", 1622541600, 1000 },
		{ "2020-02-29T23:59:59Z", 1583020799, 0 },
		{ "1969-12-31T23:59:59Z", -1, 0 },
		{ "0001-01-01T00:00:00Z", -62135596800, 0 },
		{ "9999-12-31T23:59:59.999999999Z", 253402300799, 999999999 },
		{ "0001-01-01T00:30:00+00:30", -62135596800, 0 },
	};
	char text[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Contact__V1__CitizenEvent *e;
		snprintf(text, sizeof(text), "{\"occurredAt\":\"%s\"}", cases[i].text);
		e = (Contact__V1__CitizenEvent *)decode(EVENT_DESC, text);
		assert_int_equal(e->occurred_at->seconds, cases[i].seconds);
		assert_int_equal(e->occurred_at->nanos, cases[i].nanos);
		protobuf_c_message_free_unpacked(&e->base, NULL);
	}
}

/* ---- decoding: every failure ---------------------------------------------- */

static void test_decode_rejects_invalid_json(void **state)
{
	(void)state;
	check_decode_error(EVENT_DESC, "{\"eventId\": \"e\",,}", "invalid JSON at line 1 column 17: ", 1);
	check_decode_error(EVENT_DESC, "", "invalid JSON at line 1 column 0: ", 1);
	check_decode_error(EVENT_DESC, "{\"eventId\":\"e\"} trailing", "invalid JSON at line 1 column ", 1);
	check_decode_error(EVENT_DESC, "{\"eventId\":\"e\"", "invalid JSON at line 1 column ", 1);
}

static void test_decode_rejects_a_root_that_is_not_an_object(void **state)
{
	(void)state;
	assert_decode_error("[1,2]", "expected a JSON object for 'contact.v1.CitizenEvent'");
	assert_decode_error("\"x\"", "expected a JSON object for 'contact.v1.CitizenEvent'");
}

static void test_decode_rejects_duplicate_keys(void **state)
{
	(void)state;
	check_decode_error(EVENT_DESC, "{\"eventId\":\"a\",\"eventId\":\"b\"}", "invalid JSON at line 1 column ", 1);
}

static void test_decode_rejects_a_field_given_by_both_names(void **state)
{
	(void)state;
	assert_decode_error("{\"eventId\":\"a\",\"event_id\":\"b\"}",
			    "field 'event_id': field given twice (as json name and proto name)");
	check_decode_error(EVENT_DESC, "{\"registration\":{\"benefit\":1},\"registration\":{}}",
			   "invalid JSON at line 1 column ", 1);
}

static void test_decode_rejects_two_members_of_a_oneof(void **state)
{
	(void)state;
	assert_decode_error("{\"registration\":{},\"clockTick\":{}}",
			    "field 'clockTick': another field of the same oneof is already set");
	assert_decode_error("{\"clock_tick\":{},\"clockTick\":{}}",
			    "field 'clockTick': field given twice (as json name and proto name)");
}

static void test_decode_rejects_unknown_enum_name(void **state)
{
	(void)state;
	assert_decode_error("{\"eventId\":\"e\",\"registration\":{\"firstContactDate\":\"2021-01-01\",\"benefit\":\"BENEFIT_X\"}}",
			    "field 'registration.benefit': unknown enum value 'BENEFIT_X'");
	assert_decode_error("{\"registration\":{\"category\":\"BENEFIT_DAGPENGE\"}}",
			    "field 'registration.category': unknown enum value 'BENEFIT_DAGPENGE'");
}

static void test_decode_rejects_unknown_enum_number(void **state)
{
	(void)state;
	assert_decode_error("{\"registration\":{\"benefit\":11}}", "field 'registration.benefit': unknown enum value 11");
	assert_decode_error("{\"registration\":{\"benefit\":-1}}", "field 'registration.benefit': unknown enum value -1");
	assert_decode_error("{\"registration\":{\"benefit\":4294967297}}",
			    "field 'registration.benefit': unknown enum value 4294967297");
}

static void test_decode_rejects_wrong_enum_types(void **state)
{
	(void)state;
	assert_decode_error("{\"registration\":{\"benefit\":true}}",
			    "field 'registration.benefit': expected an enum name or number");
	assert_decode_error("{\"registration\":{\"benefit\":1.5}}",
			    "field 'registration.benefit': expected an enum name or number");
}

static void test_decode_rejects_wrong_integer_types(void **state)
{
	(void)state;
	assert_decode_error("{\"registration\":{\"priorUnemploymentDays\":true}}",
			    "field 'registration.priorUnemploymentDays': expected an integer");
	assert_decode_error("{\"registration\":{\"priorUnemploymentDays\":{}}}",
			    "field 'registration.priorUnemploymentDays': expected an integer");
	assert_decode_error("{\"registration\":{\"priorUnemploymentDays\":1.5}}",
			    "field 'registration.priorUnemploymentDays': expected an integer");
	assert_decode_error("{\"registration\":{\"priorUnemploymentDays\":\"ten\"}}",
			    "field 'registration.priorUnemploymentDays': invalid integer 'ten'");
	assert_decode_error("{\"registration\":{\"priorUnemploymentDays\":\" 1\"}}",
			    "field 'registration.priorUnemploymentDays': invalid integer ' 1'");
	assert_decode_error("{\"registration\":{\"prior_unemployment_days\":\"\"}}",
			    "field 'registration.prior_unemployment_days': invalid integer ''");
}

static void test_decode_rejects_int32_out_of_range(void **state)
{
	(void)state;
	assert_decode_error("{\"registration\":{\"priorUnemploymentDays\":2147483648}}",
			    "field 'registration.priorUnemploymentDays': value '2147483648' out of range for int32");
	assert_decode_error("{\"registration\":{\"priorUnemploymentDays\":\"-2147483649\"}}",
			    "field 'registration.priorUnemploymentDays': value '-2147483649' out of range for int32");
	assert_decode_error("{\"registration\":{\"priorUnemploymentDays\":\"99999999999999999999\"}}",
			    "field 'registration.priorUnemploymentDays': value '99999999999999999999' out of range for int32");
	assert_decode_error("{\"registration\":{\"priorUnemploymentDays\":1e10}}",
			    "field 'registration.priorUnemploymentDays': value '10000000000' out of range for int32");
}

static void test_decode_rejects_wrong_types(void **state)
{
	(void)state;
	assert_decode_error("{\"eventId\":1}", "field 'eventId': expected a string");
	assert_decode_error("{\"conversation\":{\"voided\":\"true\"}}", "field 'conversation.voided': expected a boolean");
	assert_decode_error("{\"conversation\":{\"voided\":1}}", "field 'conversation.voided': expected a boolean");
	assert_decode_error("{\"registration\":[]}", "field 'registration': expected an object");
	assert_decode_error("{\"clockTick\":\"now\"}", "field 'clockTick': expected an object");
	check_decode_error(&contact__v1__obligation_state__descriptor, "{\"countedConversationIds\":\"c1\"}",
			   "field 'countedConversationIds': expected an array", 0);
	check_decode_error(&contact__v1__obligation_state__descriptor, "{\"countedConversationIds\":[\"a\",2]}",
			   "field 'countedConversationIds[1]': expected a string", 0);
	check_decode_error(&contact__v1__obligation_state__descriptor, "{\"countedConversationIds\":[\"a\",null]}",
			   "field 'countedConversationIds[1]': null is not allowed in a repeated field", 0);
	check_decode_error(&contact__v1__output__descriptor,
			   "{\"deadline\":{\"obligation\":{\"countedConversationIds\":[\"a\",\"b\",{}]}}}",
			   "field 'deadline.obligation.countedConversationIds[2]': expected a string", 0);
}

static void test_decode_rejects_bad_timestamps(void **state)
{
	static const char *const bad[] = {
		"2021-13-01T00:00:00Z",          /* month */
		"2021-02-29T00:00:00Z",          /* not a leap year */
		"2021-04-31T00:00:00Z",          /* day of month */
		"2021-00-10T00:00:00Z",
		"2021-01-01 00:00:00Z",          /* separator */
		"2021-01-01t00:00:00Z",
		"2021-01-01T00:00:00",           /* no offset */
		"2021-01-01T00:00:00z",
		"2021-01-01T24:00:00Z",          /* hour */
		"2021-01-01T00:60:00Z",
		"2021-01-01T00:00:60Z",          /* no leap seconds */
		"2021-01-01T00:00:00.Z",         /* empty fraction */
		"2021-01-01T00:00:00.1234567891Z",
		"2021-01-01T00:00:00+24:00",
		"2021-01-01T00:00:00+01",
		"2021-01-01T00:00:00+0100",
		"2021-01-01T00:00:00Zjunk",
		"2021-1-01T00:00:00Z",
		"0000-01-01T00:00:00Z",          /* year 0 */
		"0001-01-01T00:00:00+00:01",     /* before 0001-01-01T00:00:00Z */
		"9999-12-31T23:59:59-00:01",     /* after 9999-12-31T23:59:59Z */
		"",
	};
	char text[128], want[160];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "{\"occurredAt\":\"%s\"}", bad[i]);
		snprintf(want, sizeof(want), "field 'occurredAt': invalid timestamp '%s'", bad[i]);
		assert_decode_error(text, want);
	}
	assert_decode_error("{\"occurredAt\":1614834367}", "field 'occurredAt': expected a timestamp string");
	assert_decode_error("{\"occurredAt\":{\"seconds\":1}}", "field 'occurredAt': expected a timestamp string");
}

static void test_decode_rejects_too_deep_nesting(void **state)
{
	char *text = malloc(20000);
	size_t n = 0;

	(void)state;
	n += (size_t)sprintf(text, "{\"unknown\":");
	for (int i = 0; i < 5000; i++)
		text[n++] = '[';
	for (int i = 0; i < 5000; i++)
		text[n++] = ']';
	text[n++] = '}';
	text[n] = '\0';
	check_decode_error(EVENT_DESC, text, "invalid JSON at line 1 column ", 1);
	free(text);
}

static void test_decode_accepts_moderate_nesting_in_unknown_fields(void **state)
{
	char text[1024];
	size_t n = 0;
	ProtobufCMessage *m;

	(void)state;
	n += (size_t)sprintf(text, "{\"unknown\":");
	for (int i = 0; i < 200; i++)
		text[n++] = '[';
	for (int i = 0; i < 200; i++)
		text[n++] = ']';
	text[n++] = '}';
	text[n] = '\0';
	m = decode(EVENT_DESC, text);
	protobuf_c_message_free_unpacked(m, NULL);
}

static void test_decode_failure_after_allocations_frees_everything(void **state)
{
	(void)state;
	/* strings, a timestamp, a oneof sub-message and a repeated array exist when the error hits */
	assert_decode_error("{\"eventId\":\"e\",\"source\":\"s\",\"occurredAt\":\"2021-06-01T10:00:00Z\","
			    "\"registration\":{\"firstContactDate\":\"2021-01-01\",\"seasonal\":\"no\"}}",
			    "field 'registration.seasonal': expected a boolean");
	check_decode_error(&contact__v1__output__descriptor,
			   "{\"deadline\":{\"eventId\":\"x\",\"obligation\":{\"countedConversationIds\":[\"a\",\"b\"],"
			   "\"severity\":\"NOPE\"}}}",
			   "field 'deadline.obligation.severity': unknown enum value 'NOPE'", 0);
}

/* ---- a hand-written descriptor for the types contact.v1 lacks ------------- */

typedef struct Scalars {
	ProtobufCMessage base;
	int64_t big_int;
	uint64_t big_uint;
	double ratio;
	float weight;
	ProtobufCBinaryData raw_data;
	uint32_t count;
	size_t n_nums;
	int32_t *nums;
	protobuf_c_boolean has_opt_value;
	int32_t opt_value;
	size_t n_blobs;
	ProtobufCBinaryData *blobs;
} Scalars;

static void scalars_init(ProtobufCMessage *m);

#define SCALAR_FIELD(name, id, label, type, q) \
	{ #name, id, PROTOBUF_C_LABEL_##label, PROTOBUF_C_TYPE_##type, q, offsetof(Scalars, name), \
	  NULL, NULL, 0, 0, NULL, NULL }

static const ProtobufCFieldDescriptor scalars_fields[] = {
	SCALAR_FIELD(big_int, 1, NONE, INT64, 0),
	SCALAR_FIELD(big_uint, 2, NONE, UINT64, 0),
	SCALAR_FIELD(ratio, 3, NONE, DOUBLE, 0),
	SCALAR_FIELD(weight, 4, NONE, FLOAT, 0),
	SCALAR_FIELD(raw_data, 5, NONE, BYTES, 0),
	SCALAR_FIELD(count, 6, NONE, UINT32, 0),
	SCALAR_FIELD(nums, 7, REPEATED, INT32, offsetof(Scalars, n_nums)),
	SCALAR_FIELD(opt_value, 8, OPTIONAL, INT32, offsetof(Scalars, has_opt_value)),
	SCALAR_FIELD(blobs, 9, REPEATED, BYTES, offsetof(Scalars, n_blobs)),
};
static const unsigned scalars_by_name[] = { 0, 1, 8, 5, 6, 7, 2, 4, 3 };
static const ProtobufCIntRange scalars_ranges[] = { { 1, 0 }, { 0, 9 } };
static const ProtobufCMessageDescriptor scalars_desc = {
	PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC, "test.Scalars", "Scalars", "Scalars", "test",
	sizeof(Scalars), 9, scalars_fields, scalars_by_name, 1, scalars_ranges,
	scalars_init, NULL, NULL, NULL
};

static void scalars_init(ProtobufCMessage *m)
{
	memset(m, 0, sizeof(Scalars));
	m->descriptor = &scalars_desc;
}

static void test_encode_int64_as_strings_bytes_as_base64(void **state)
{
	Scalars s;
	int32_t nums[] = { 1, -2, 2147483647 };
	uint8_t raw[] = { 0xfb, 0xff, 'a' };
	ProtobufCBinaryData blobs[] = { { 1, (uint8_t *)"M" }, { 2, (uint8_t *)"Ma" }, { 0, NULL } };

	(void)state;
	scalars_init(&s.base);
	s.big_int = INT64_MIN;
	s.big_uint = UINT64_MAX;
	s.ratio = 0.1;
	s.weight = 1.5f;
	s.raw_data.data = raw;
	s.raw_data.len = 3;
	s.count = 4000000000u;
	s.n_nums = 3;
	s.nums = nums;
	s.n_blobs = 3;
	s.blobs = blobs;
	assert_encodes_to(&s.base,
			  "{\"bigInt\":\"-9223372036854775808\",\"bigUint\":\"18446744073709551615\",\"ratio\":0.1,"
			  "\"weight\":1.5,\"rawData\":\"+/9h\",\"count\":4000000000,\"nums\":[1,-2,2147483647],"
			  "\"blobs\":[\"TQ==\",\"TWE=\",\"\"]}");
	assert_round_trip(&s.base);
}

static void test_encode_optional_field_is_printed_when_present_even_if_zero(void **state)
{
	Scalars s;

	(void)state;
	scalars_init(&s.base);
	assert_encodes_to(&s.base, "{}");
	s.has_opt_value = 1;
	assert_encodes_to(&s.base, "{\"optValue\":0}");
	assert_round_trip(&s.base);
}

static void test_floating_point_special_values(void **state)
{
	Scalars s, *d;

	(void)state;
	scalars_init(&s.base);
	s.ratio = NAN;
	s.weight = -INFINITY;
	assert_encodes_to(&s.base, "{\"ratio\":\"NaN\",\"weight\":\"-Infinity\"}");
	d = (Scalars *)decode(&scalars_desc, "{\"ratio\":\"Infinity\",\"weight\":\"NaN\"}");
	assert_true(isinf(d->ratio) && d->ratio > 0);
	assert_true(isnan(d->weight));
	protobuf_c_message_free_unpacked(&d->base, NULL);
	d = (Scalars *)decode(&scalars_desc, "{\"ratio\":\"2.5e3\",\"weight\":3}");
	assert_true(d->ratio == 2500.0);
	assert_true(d->weight == 3.0f);
	protobuf_c_message_free_unpacked(&d->base, NULL);
	check_decode_error(&scalars_desc, "{\"weight\":1e39}", "field 'weight': value '1e+39' out of range for float", 0);
	check_decode_error(&scalars_desc, "{\"ratio\":\"inf\"}", "field 'ratio': invalid number 'inf'", 0);
	check_decode_error(&scalars_desc, "{\"ratio\":true}", "field 'ratio': expected a number", 0);
}

static void test_decode_64_bit_integers(void **state)
{
	Scalars *d;

	(void)state;
	d = (Scalars *)decode(&scalars_desc,
			      "{\"bigInt\":\"-9223372036854775808\",\"bigUint\":\"18446744073709551615\",\"count\":\"4294967295\"}");
	assert_true(d->big_int == INT64_MIN);
	assert_true(d->big_uint == UINT64_MAX);
	assert_true(d->count == UINT32_MAX);
	protobuf_c_message_free_unpacked(&d->base, NULL);
	d = (Scalars *)decode(&scalars_desc, "{\"big_int\":9223372036854775807,\"big_uint\":42}");
	assert_true(d->big_int == INT64_MAX);
	assert_true(d->big_uint == 42);
	protobuf_c_message_free_unpacked(&d->base, NULL);
	check_decode_error(&scalars_desc, "{\"bigInt\":\"9223372036854775808\"}",
			   "field 'bigInt': value '9223372036854775808' out of range for int64", 0);
	check_decode_error(&scalars_desc, "{\"bigUint\":\"-1\"}", "field 'bigUint': value '-1' out of range for uint64", 0);
	check_decode_error(&scalars_desc, "{\"bigUint\":-1}", "field 'bigUint': value '-1' out of range for uint64", 0);
	check_decode_error(&scalars_desc, "{\"bigUint\":\"18446744073709551616\"}",
			   "field 'bigUint': value '18446744073709551616' out of range for uint64", 0);
	check_decode_error(&scalars_desc, "{\"count\":4294967296}", "field 'count': value '4294967296' out of range for uint32", 0);
	check_decode_error(&scalars_desc, "{\"nums\":[1,\"x\"]}", "field 'nums[1]': invalid integer 'x'", 0);
}

static void test_decode_bytes_accepts_both_base64_alphabets(void **state)
{
	static const char *const texts[] = {
		"{\"rawData\":\"+/9h\"}", "{\"rawData\":\"-_9h\"}",
	};
	Scalars *d;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		d = (Scalars *)decode(&scalars_desc, texts[i]);
		assert_int_equal(d->raw_data.len, 3);
		assert_memory_equal(d->raw_data.data, "\xfb\xff" "a", 3);
		protobuf_c_message_free_unpacked(&d->base, NULL);
	}
	d = (Scalars *)decode(&scalars_desc, "{\"blobs\":[\"TQ\",\"TWE=\",\"TQ==\",\"\"]}");
	assert_int_equal(d->n_blobs, 4);
	assert_int_equal(d->blobs[0].len, 1);
	assert_int_equal(d->blobs[1].len, 2);
	assert_int_equal(d->blobs[2].len, 1);
	assert_int_equal(d->blobs[3].len, 0);
	protobuf_c_message_free_unpacked(&d->base, NULL);
	check_decode_error(&scalars_desc, "{\"rawData\":\"T\"}", "field 'rawData': invalid base64 'T'", 0);
	check_decode_error(&scalars_desc, "{\"rawData\":\"T*==\"}", "field 'rawData': invalid base64 'T*=='", 0);
	check_decode_error(&scalars_desc, "{\"rawData\":7}", "field 'rawData': expected a base64 string", 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_registration),
		cmocka_unit_test(test_round_trip_deregistration),
		cmocka_unit_test(test_round_trip_conversation),
		cmocka_unit_test(test_round_trip_benefit_change),
		cmocka_unit_test(test_round_trip_clock_tick),
		cmocka_unit_test(test_round_trip_exemption),
		cmocka_unit_test(test_encode_dk2026_inputs_are_canonical),
		cmocka_unit_test(test_round_trip_event_without_payload),
		cmocka_unit_test(test_round_trip_output_deadline_with_repeated_strings),
		cmocka_unit_test(test_round_trip_output_breach),
		cmocka_unit_test(test_round_trip_output_aggregate),
		cmocka_unit_test(test_encode_registration_is_canonical),
		cmocka_unit_test(test_encode_clock_tick_prints_empty_object),
		cmocka_unit_test(test_encode_oneof_member_with_only_defaults_is_printed),
		cmocka_unit_test(test_encode_omits_unset_aggregate_id_and_basis),
		cmocka_unit_test(test_encode_omits_default_values),
		cmocka_unit_test(test_encode_timestamp_uses_0_3_6_or_9_fraction_digits),
		cmocka_unit_test(test_encode_escapes_strings),
		cmocka_unit_test(test_encode_rejects_invalid_utf8),
		cmocka_unit_test(test_encode_rejects_timestamp_out_of_range),
		cmocka_unit_test(test_encode_unknown_enum_number_prints_the_number),
		cmocka_unit_test(test_encode_fails_at_buffer_max_and_restores_the_buffer),
		cmocka_unit_test(test_decode_accepts_json_and_proto_field_names),
		cmocka_unit_test(test_decode_accepts_enum_numbers),
		cmocka_unit_test(test_decode_accepts_quoted_and_integral_real_integers),
		cmocka_unit_test(test_decode_accepts_int32_limits),
		cmocka_unit_test(test_decode_null_means_default),
		cmocka_unit_test(test_decode_unset_strings_keep_the_descriptor_default),
		cmocka_unit_test(test_decode_ignores_unknown_fields),
		cmocka_unit_test(test_decode_timestamp_offsets_and_fractions),
		cmocka_unit_test(test_decode_rejects_invalid_json),
		cmocka_unit_test(test_decode_rejects_a_root_that_is_not_an_object),
		cmocka_unit_test(test_decode_rejects_duplicate_keys),
		cmocka_unit_test(test_decode_rejects_a_field_given_by_both_names),
		cmocka_unit_test(test_decode_rejects_two_members_of_a_oneof),
		cmocka_unit_test(test_decode_rejects_unknown_enum_name),
		cmocka_unit_test(test_decode_rejects_unknown_enum_number),
		cmocka_unit_test(test_decode_rejects_wrong_enum_types),
		cmocka_unit_test(test_decode_rejects_wrong_integer_types),
		cmocka_unit_test(test_decode_rejects_int32_out_of_range),
		cmocka_unit_test(test_decode_rejects_wrong_types),
		cmocka_unit_test(test_decode_rejects_bad_timestamps),
		cmocka_unit_test(test_decode_rejects_too_deep_nesting),
		cmocka_unit_test(test_decode_accepts_moderate_nesting_in_unknown_fields),
		cmocka_unit_test(test_decode_failure_after_allocations_frees_everything),
		cmocka_unit_test(test_encode_int64_as_strings_bytes_as_base64),
		cmocka_unit_test(test_encode_optional_field_is_printed_when_present_even_if_zero),
		cmocka_unit_test(test_floating_point_special_values),
		cmocka_unit_test(test_decode_64_bit_integers),
		cmocka_unit_test(test_decode_bytes_accepts_both_base64_alphabets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
