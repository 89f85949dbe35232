/*
 * test_validate.c — what an acceptable input is: cd_event_validate
 * (state/event.c, decisions.md D28) and the contact.v1 → cd_event mapping in
 * front of it (proto/codec.c).
 *
 * Each rule of D28 is checked on both sides of its boundary, and every
 * rejection must name the field, because the message goes into a dead-letter
 * header or a replay report. Through the codec, a rejected CitizenEvent must
 * say which stage refused it: CD_STAGE_DECODE when the bytes are not a
 * CitizenEvent, CD_STAGE_VALIDATE when they are one that D28 refuses. Codec
 * cases are run twice: on a message built here (cd_codec_event_from_pb) and
 * on its packed bytes (cd_codec_decode_event, CD_LOG_PB), so the protobuf-c
 * decoder's handling of odd values (unknown enum numbers) is covered too.
 * cd_codec_decode_event hands the decoded message over even when validation
 * fails (so the caller can report its event_id), and only then.
 *
 * A few timestamps make the codec compute seconds * 1e9 past int64, which the
 * sanitizers turn into an abort; those run in a child process.
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
#include "google/protobuf/timestamp.pb-c.h"
#include "proto/codec.h"
#include "state/date.h"
#include "state/event.h"

/* 2021-03-01T10:00:00Z */
#define T_SECS INT64_C(1614592800)
#define T_NS (T_SECS * CD_NS_PER_SEC)
#define MIN_NS (INT64_C(631152000) * CD_NS_PER_SEC)    /* 1990-01-01T00:00:00Z */
#define MAX_NS (INT64_C(4102444800) * CD_NS_PER_SEC)   /* 2100-01-01T00:00:00Z */

static char long_id[CD_MAX_ID_LEN + 2];   /* 129 'x' */

static int group_setup(void **state)
{
	(void)state;
	memset(long_id, 'x', CD_MAX_ID_LEN + 1);
	long_id[CD_MAX_ID_LEN + 1] = '\0';
	return 0;
}

static void assert_has(const char *msg, const char *want)
{
	if (!strstr(msg, want))
		fail_msg("message lacks \"%s\":\n  %s", want, msg);
}

/* ---- cd_event_validate ---------------------------------------------------- */

static void base(cd_event *ev, cd_event_kind kind)
{
	cd_event_init(ev);
	ev->event_id = "ev-1";
	ev->event_id_len = 4;
	ev->citizen_id = "cit-1";
	ev->citizen_id_len = 5;
	ev->occurred_at = T_NS;
	snprintf(ev->muni, sizeof(ev->muni), "860");
	ev->kind = kind;
	switch (kind) {
	case CD_EV_REGISTRATION:
		ev->benefit = CD_DAGPENGE;
		ev->category = CD_JOBPARAT;
		ev->dp_start = cd_date_from_ymd(2021, 3, 1);
		break;
	case CD_EV_DEREGISTRATION:
		ev->dereg_reason = CD_DEREG_JOB;
		break;
	case CD_EV_CONVERSATION:
		ev->conv_id = "conv-1";
		ev->conv_id_len = 6;
		ev->form = CD_IN_PERSON;
		ev->held_by = CD_JOBCENTER;
		break;
	case CD_EV_BENEFIT_CHANGE:
		ev->benefit = CD_KONTANTHJAELP;
		break;
	case CD_EV_EXEMPTION:
		ev->scope = CD_SCOPE_KOMMUNE;
		break;
	default:
		break;
	}
}

static void assert_valid(const cd_event *ev, const char *what)
{
	cd_err err = { { 0 }, 0 };
	if (cd_event_validate(ev, &err) != 0)
		fail_msg("%s: rejected: %s", what, err.msg);
}

/* Rejected, with `field` in the message. */
static void assert_invalid(const cd_event *ev, const char *field)
{
	cd_err err = { { 0 }, 0 };
	if (cd_event_validate(ev, &err) != -1)
		fail_msg("accepted; expected a rejection naming '%s'", field);
	assert_has(err.msg, field);
}

static void test_a_well_formed_event_of_each_kind_is_valid(void **state)
{
	cd_event ev;
	(void)state;
	for (int k = CD_EV_REGISTRATION; k <= CD_EV_EXEMPTION; k++) {
		base(&ev, (cd_event_kind)k);
		assert_valid(&ev, "base event");
	}
	/* A clock tick for every citizen has no citizen and no municipality. */
	base(&ev, CD_EV_CLOCK_TICK);
	ev.citizen_id = "";
	ev.citizen_id_len = 0;
	ev.muni[0] = '\0';
	assert_valid(&ev, "tick for all citizens");
}

static void test_empty_or_too_long_event_id_is_invalid(void **state)
{
	cd_event ev;
	(void)state;
	base(&ev, CD_EV_CONVERSATION);
	ev.event_id = "";
	ev.event_id_len = 0;
	assert_invalid(&ev, "'event_id'");
	ev.event_id = long_id;
	ev.event_id_len = CD_MAX_ID_LEN + 1;
	assert_invalid(&ev, "'event_id'");
	ev.event_id_len = CD_MAX_ID_LEN;
	assert_valid(&ev, "event_id of 128 bytes");
	base(&ev, CD_EV_CLOCK_TICK);
	ev.event_id_len = 0;
	assert_invalid(&ev, "'event_id'");
}

static void test_empty_or_too_long_citizen_id_is_invalid(void **state)
{
	cd_event ev;
	(void)state;
	for (int k = CD_EV_REGISTRATION; k <= CD_EV_EXEMPTION; k++) {
		if (k == CD_EV_CLOCK_TICK)
			continue;   /* a tick for every citizen has none */
		base(&ev, (cd_event_kind)k);
		ev.citizen_id = "";
		ev.citizen_id_len = 0;
		assert_invalid(&ev, "'citizen_id'");
	}
	for (int k = CD_EV_REGISTRATION; k <= CD_EV_EXEMPTION; k++) {
		base(&ev, (cd_event_kind)k);
		ev.citizen_id = long_id;
		ev.citizen_id_len = CD_MAX_ID_LEN + 1;
		assert_invalid(&ev, "'citizen_id'");
		ev.citizen_id_len = CD_MAX_ID_LEN;
		assert_valid(&ev, "citizen_id of 128 bytes");
	}
}

static void test_missing_occurred_at_is_invalid(void **state)
{
	cd_event ev;
	(void)state;
	for (int k = CD_EV_REGISTRATION; k <= CD_EV_EXEMPTION; k++) {
		base(&ev, (cd_event_kind)k);
		ev.occurred_at = CD_INSTANT_NONE;
		assert_invalid(&ev, "'occurred_at'");
		/* recorded_at does not stand in for it. */
		ev.recorded_at = T_NS;
		assert_invalid(&ev, "'occurred_at'");
	}
}

static void test_occurred_at_outside_1990_to_2100_is_invalid(void **state)
{
	static const cd_instant bad[] = { MIN_NS - 1, MAX_NS, 0, -1, INT64_MAX, INT64_MIN + 1 };
	static const cd_instant good[] = { MIN_NS, MAX_NS - 1, T_NS };
	cd_event ev;
	(void)state;
	base(&ev, CD_EV_CONVERSATION);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ev.occurred_at = bad[i];
		assert_invalid(&ev, "'occurred_at'");
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ev.occurred_at = good[i];
		assert_valid(&ev, "occurred_at in range");
	}
}

static void test_recorded_at_outside_1990_to_2100_is_invalid(void **state)
{
	static const cd_instant bad[] = { MIN_NS - 1, MAX_NS, 0, INT64_MAX };
	cd_event ev;
	(void)state;
	base(&ev, CD_EV_REGISTRATION);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ev.recorded_at = bad[i];
		assert_invalid(&ev, "'recorded_at'");
	}
	ev.recorded_at = MIN_NS;
	assert_valid(&ev, "recorded_at at the lower bound");
	ev.recorded_at = CD_INSTANT_NONE;
	assert_valid(&ev, "no recorded_at");
}

static void test_event_without_payload_is_invalid(void **state)
{
	cd_event ev;
	(void)state;
	base(&ev, CD_EV_NONE);
	assert_invalid(&ev, "payload");
	base(&ev, CD_EV_CONVERSATION);
	ev.kind = (cd_event_kind)(CD_EV_EXEMPTION + 1);
	assert_invalid(&ev, "payload");
}

static void test_registration_without_benefit_is_invalid(void **state)
{
	cd_event ev;
	(void)state;
	base(&ev, CD_EV_REGISTRATION);
	ev.benefit = CD_BENEFIT_NONE;
	assert_invalid(&ev, "'registration.benefit'");
	/* A BenefitChange without a benefit is a category change: valid. */
	base(&ev, CD_EV_BENEFIT_CHANGE);
	ev.benefit = CD_BENEFIT_NONE;
	ev.category = CD_AKTIVITETSPARAT;
	assert_valid(&ev, "category change");
}

static void test_prior_unemployment_days_outside_0_to_3650_is_invalid(void **state)
{
	static const int32_t bad[] = { -1, 3651, INT32_MIN, INT32_MAX };
	cd_event ev;
	(void)state;
	base(&ev, CD_EV_REGISTRATION);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ev.prior_days = bad[i];
		assert_invalid(&ev, "'registration.prior_unemployment_days'");
	}
	ev.prior_days = 0;
	assert_valid(&ev, "0 prior days");
	ev.prior_days = 3650;
	assert_valid(&ev, "3650 prior days");
}

static void test_conversation_without_id_is_invalid_even_when_voided(void **state)
{
	cd_event ev;
	(void)state;
	base(&ev, CD_EV_CONVERSATION);
	ev.conv_id = "";
	ev.conv_id_len = 0;
	assert_invalid(&ev, "'conversation.conversation_id'");
	ev.voided = true;
	assert_invalid(&ev, "'conversation.conversation_id'");
	base(&ev, CD_EV_CONVERSATION);
	ev.conv_id = long_id;
	ev.conv_id_len = CD_MAX_ID_LEN + 1;
	assert_invalid(&ev, "'conversation.conversation_id'");
	ev.conv_id_len = CD_MAX_ID_LEN;
	assert_valid(&ev, "conversation_id of 128 bytes");
}

static void test_conversation_not_voided_needs_form_and_held_by(void **state)
{
	cd_event ev;
	(void)state;
	base(&ev, CD_EV_CONVERSATION);
	ev.form = CD_FORM_NONE;
	assert_invalid(&ev, "'conversation.form'");
	base(&ev, CD_EV_CONVERSATION);
	ev.held_by = CD_HELD_NONE;
	assert_invalid(&ev, "'conversation.held_by'");
}

static void test_void_of_a_conversation_needs_only_its_id(void **state)
{
	cd_event ev;
	(void)state;
	base(&ev, CD_EV_CONVERSATION);
	ev.form = CD_FORM_NONE;
	ev.held_by = CD_HELD_NONE;
	ev.voided = true;
	assert_valid(&ev, "void with only the id");
	/* ...but what it does carry must still be in range. */
	ev.form = CD_FORM_MAX + 1;
	assert_invalid(&ev, "'conversation.form'");
}

static void test_municipality_code_must_be_three_or_four_digits(void **state)
{
	static const char *const bad[] = { "86", "86a", "abc", "8 60", "8", "-860", "+86" };
	static const char *const good[] = { "860", "0860", "101", "9999", "" };
	cd_event ev;
	(void)state;
	base(&ev, CD_EV_REGISTRATION);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(ev.muni, sizeof(ev.muni), "%s", bad[i]);
		assert_invalid(&ev, "'municipality_code'");
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(ev.muni, sizeof(ev.muni), "%s", good[i]);
		assert_valid(&ev, good[i]);
	}
}

static void test_enum_values_outside_the_schema_are_invalid(void **state)
{
	cd_event ev;
	(void)state;
	base(&ev, CD_EV_REGISTRATION);
	ev.benefit = CD_BENEFIT_MAX + 1;
	assert_invalid(&ev, "'benefit'");
	base(&ev, CD_EV_REGISTRATION);
	ev.category = CD_CATEGORY_MAX + 1;
	assert_invalid(&ev, "'category'");
	base(&ev, CD_EV_BENEFIT_CHANGE);
	ev.benefit = 0xff;
	assert_invalid(&ev, "'benefit'");
	base(&ev, CD_EV_DEREGISTRATION);
	ev.dereg_reason = CD_DEREG_MAX + 1;
	assert_invalid(&ev, "'deregistration.reason'");
	base(&ev, CD_EV_CONVERSATION);
	ev.form = CD_FORM_MAX + 1;
	assert_invalid(&ev, "'conversation.form'");
	base(&ev, CD_EV_CONVERSATION);
	ev.held_by = CD_HELD_MAX + 1;
	assert_invalid(&ev, "'conversation.held_by'");
}

static void test_dates_outside_1990_to_2099_are_invalid_naming_the_date_field(void **state)
{
	cd_event ev;
	cd_date before = cd_date_from_ymd(1989, 12, 31), after = cd_date_from_ymd(2100, 1, 1);
	(void)state;
	base(&ev, CD_EV_REGISTRATION);
	ev.first_contact = cd_date_from_ymd(1990, 1, 1);
	ev.first_absence = cd_date_from_ymd(2099, 12, 31);
	assert_valid(&ev, "dates on the bounds");

	base(&ev, CD_EV_REGISTRATION);
	ev.first_contact = before;
	assert_invalid(&ev, "first_contact_date");
	base(&ev, CD_EV_REGISTRATION);
	ev.first_absence = after;
	assert_invalid(&ev, "first_absence_date");
	base(&ev, CD_EV_REGISTRATION);
	ev.dp_start = before;
	assert_invalid(&ev, "dagpenge_period_start");
}

static void test_exemption_needs_a_known_scope(void **state)
{
	cd_event ev;
	(void)state;
	base(&ev, CD_EV_EXEMPTION);
	ev.scope = CD_SCOPE_NONE;
	assert_invalid(&ev, "field 'exemption.scope' is unspecified");
	ev.revoked = true;
	assert_invalid(&ev, "field 'exemption.scope' is unspecified");
	ev.scope = CD_SCOPE_MAX + 1;
	assert_invalid(&ev, "field 'exemption.scope' has unknown value 3");
	ev.scope = CD_SCOPE_AKASSE;
	assert_valid(&ev, "revoked AKASSE exemption");
	ev.scope = CD_SCOPE_KOMMUNE;
	ev.revoked = false;
	assert_valid(&ev, "KOMMUNE exemption");
}

static void test_sick_short_absence_expected_needs_sygedagpenge(void **state)
{
	cd_event ev;
	(void)state;
	base(&ev, CD_EV_REGISTRATION);
	ev.sick_short = true;
	assert_invalid(&ev, "field 'registration.sick_short_absence_expected' is set but 'registration.benefit' is "
			    "DAGPENGE, not SYGEDAGPENGE");
	ev.benefit = CD_SYGEDAGPENGE;
	assert_valid(&ev, "sick_short on SYGEDAGPENGE");
	base(&ev, CD_EV_BENEFIT_CHANGE);
	ev.sick_short = true;
	assert_invalid(&ev, "field 'benefit_change.sick_short_absence_expected'");
	ev.benefit = CD_BENEFIT_NONE;   /* a category change */
	assert_invalid(&ev, "'benefit_change.to_benefit' is UNSPECIFIED");
	ev.benefit = CD_SYGEDAGPENGE;
	assert_valid(&ev, "shift into SYGEDAGPENGE, short absence");
}

static void test_municipal_contact_course_needs_dagpenge(void **state)
{
	cd_event ev;
	(void)state;
	base(&ev, CD_EV_REGISTRATION);
	ev.municipal_course = true;
	assert_valid(&ev, "course on DAGPENGE");
	ev.benefit = CD_KONTANTHJAELP;
	assert_invalid(&ev, "field 'registration.municipal_contact_course' is set but 'registration.benefit' is "
			    "KONTANTHJAELP, not DAGPENGE");
	base(&ev, CD_EV_BENEFIT_CHANGE);
	ev.municipal_course = true;
	assert_invalid(&ev, "field 'benefit_change.municipal_contact_course'");
	ev.benefit = CD_DAGPENGE;
	assert_valid(&ev, "shift into DAGPENGE in a course");
}

static void test_akasse_code_is_short_plain_text_and_needs_dagpenge(void **state)
{
	static const char *const good[] = { "A901", "1", "a-kasse_2", "0123456789abcdef" };
	static const char *const bad_chars[] = { "A 901", "A.901", "A/901", "akasse:1", "\xc3\xa6", "A901\"" };
	char long_code[CD_MAX_AKASSE_LEN + 2];
	cd_event ev;
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		base(&ev, CD_EV_REGISTRATION);
		ev.akasse_code = good[i];
		ev.akasse_code_len = strlen(good[i]);
		assert_valid(&ev, good[i]);
		base(&ev, CD_EV_BENEFIT_CHANGE);
		ev.benefit = CD_DAGPENGE;
		ev.akasse_code = good[i];
		ev.akasse_code_len = strlen(good[i]);
		assert_valid(&ev, good[i]);
	}
	for (size_t i = 0; i < sizeof(bad_chars) / sizeof(bad_chars[0]); i++) {
		base(&ev, CD_EV_REGISTRATION);
		ev.akasse_code = bad_chars[i];
		ev.akasse_code_len = strlen(bad_chars[i]);
		assert_invalid(&ev, "field 'registration.akasse_code'");
		assert_invalid(&ev, "outside A-Z a-z 0-9 _ -");
	}
	memset(long_code, 'A', sizeof(long_code) - 1);
	long_code[sizeof(long_code) - 1] = '\0';
	base(&ev, CD_EV_REGISTRATION);
	ev.akasse_code = long_code;
	ev.akasse_code_len = CD_MAX_AKASSE_LEN + 1;
	assert_invalid(&ev, "field 'registration.akasse_code' is longer than 16 bytes");
	ev.akasse_code_len = CD_MAX_AKASSE_LEN;
	assert_valid(&ev, "akasse_code of 16 bytes");
	/* the text rule first: a control character is named as such */
	ev.akasse_code = "A9\x01";
	ev.akasse_code_len = 3;
	assert_invalid(&ev, "field 'registration.akasse_code' contains a control character (0x01) at byte 2");
	ev.akasse_code = "A9\0x";
	ev.akasse_code_len = 4;
	assert_invalid(&ev, "field 'registration.akasse_code' contains a control character (0x00) at byte 2");
	ev.akasse_code = "A9\xff";
	ev.akasse_code_len = 3;
	assert_invalid(&ev, "field 'registration.akasse_code' is not valid UTF-8 at byte 2");
	/* DAGPENGE only */
	base(&ev, CD_EV_REGISTRATION);
	ev.benefit = CD_SYGEDAGPENGE;
	ev.akasse_code = "A901";
	ev.akasse_code_len = 4;
	assert_invalid(&ev, "field 'registration.akasse_code' is set but 'registration.benefit' is SYGEDAGPENGE, "
			    "not DAGPENGE");
	base(&ev, CD_EV_BENEFIT_CHANGE);
	ev.akasse_code = "A901";
	ev.akasse_code_len = 4;
	assert_invalid(&ev, "field 'benefit_change.akasse_code' is set but 'benefit_change.to_benefit' is KONTANTHJAELP");
}

/* ---- through the codec: messages built here ------------------------------- */

typedef struct msg {
	Contact__V1__CitizenEvent ev;
	Google__Protobuf__Timestamp occ, rec;
	Contact__V1__Registration reg;
	Contact__V1__Deregistration dereg;
	Contact__V1__Conversation conv;
	Contact__V1__BenefitChange bc;
	Contact__V1__ClockTick tick;
	Contact__V1__Exemption ex;
} msg;

static void msg_init(msg *m, Contact__V1__CitizenEvent__PayloadCase payload)
{
	memset(m, 0, sizeof(*m));
	contact__v1__citizen_event__init(&m->ev);
	google__protobuf__timestamp__init(&m->occ);
	google__protobuf__timestamp__init(&m->rec);
	contact__v1__registration__init(&m->reg);
	contact__v1__deregistration__init(&m->dereg);
	contact__v1__conversation__init(&m->conv);
	contact__v1__benefit_change__init(&m->bc);
	contact__v1__clock_tick__init(&m->tick);
	contact__v1__exemption__init(&m->ex);
	m->ev.event_id = "ev-1";
	m->ev.citizen_id = "cit-1";
	m->ev.municipality_code = "860";
	m->occ.seconds = T_SECS;
	m->ev.occurred_at = &m->occ;
	m->ev.payload_case = payload;
	switch (payload) {
	case CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION:
		m->reg.benefit = CONTACT__V1__BENEFIT__BENEFIT_DAGPENGE;
		m->reg.dagpenge_period_start = "2021-03-01";
		m->ev.registration = &m->reg;
		break;
	case CONTACT__V1__CITIZEN_EVENT__PAYLOAD_DEREGISTRATION:
		m->dereg.reason = CONTACT__V1__DEREGISTRATION_REASON__DEREGISTRATION_REASON_JOB;
		m->ev.deregistration = &m->dereg;
		break;
	case CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION:
		m->conv.conversation_id = "conv-1";
		m->conv.form = CONTACT__V1__CONVERSATION_FORM__CONVERSATION_FORM_PHONE;
		m->conv.held_by = CONTACT__V1__HELD_BY__HELD_BY_AKASSE;
		m->ev.conversation = &m->conv;
		break;
	case CONTACT__V1__CITIZEN_EVENT__PAYLOAD_BENEFIT_CHANGE:
		m->bc.to_benefit = CONTACT__V1__BENEFIT__BENEFIT_SYGEDAGPENGE;
		m->bc.first_absence_date = "2021-02-20";
		m->ev.benefit_change = &m->bc;
		break;
	case CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CLOCK_TICK:
		m->ev.clock_tick = &m->tick;
		break;
	case CONTACT__V1__CITIZEN_EVENT__PAYLOAD_EXEMPTION:
		m->ex.scope = CONTACT__V1__EXEMPTION_SCOPE__EXEMPTION_SCOPE_AKASSE;
		m->ev.exemption = &m->ex;
		break;
	default:
		break;
	}
}

/* Packs m into a malloc'd buffer. */
static uint8_t *pack(const msg *m, size_t *len)
{
	uint8_t *p;
	*len = contact__v1__citizen_event__get_packed_size(&m->ev);
	p = malloc(*len ? *len : 1);
	assert_non_null(p);
	assert_int_equal(contact__v1__citizen_event__pack(&m->ev, p), *len);
	return p;
}

/* Both paths accept m; ev_out (from the message path) is filled. */
static void codec_accepts(const msg *m, cd_event *ev_out)
{
	cd_codec_stage stage = 0;
	cd_err err = { { 0 }, 0 };
	Contact__V1__CitizenEvent *dm = NULL;
	cd_event ev2;
	size_t len;
	uint8_t *p;

	if (cd_codec_event_from_pb(&m->ev, ev_out, &stage, &err) != 0)
		fail_msg("from_pb rejected (%s): %s", cd_codec_stage_name(stage), err.msg);
	p = pack(m, &len);
	if (cd_codec_decode_event(p, len, CD_LOG_PB, &dm, &ev2, &stage, &err) != 0)
		fail_msg("decode_event rejected (%s): %s", cd_codec_stage_name(stage), err.msg);
	assert_non_null(dm);
	assert_int_equal(ev2.kind, ev_out->kind);
	protobuf_c_message_free_unpacked(&dm->base, NULL);
	free(p);
}

/* Both paths reject m at the validate stage, naming `field`. */
static void codec_rejects(const msg *m, const char *field)
{
	cd_codec_stage stage = 0;
	cd_err err = { { 0 }, 0 };
	Contact__V1__CitizenEvent *dm = (Contact__V1__CitizenEvent *)(uintptr_t)1;
	cd_event ev;
	size_t len;
	uint8_t *p;

	if (cd_codec_event_from_pb(&m->ev, &ev, &stage, &err) != -1)
		fail_msg("from_pb accepted; expected a rejection naming '%s'", field);
	assert_int_equal(stage, CD_STAGE_VALIDATE);
	assert_has(err.msg, field);

	memset(&err, 0, sizeof(err));
	stage = 0;
	p = pack(m, &len);
	if (cd_codec_decode_event(p, len, CD_LOG_PB, &dm, &ev, &stage, &err) != -1)
		fail_msg("decode_event (pb) accepted; expected a rejection naming '%s'", field);
	free(p);
	/* Validation failed: the decoded message is handed over, for its event_id. */
	assert_non_null(dm);
	assert_string_equal(dm->event_id, m->ev.event_id);
	protobuf_c_message_free_unpacked(&dm->base, NULL);
	assert_int_equal(stage, CD_STAGE_VALIDATE);
	assert_has(err.msg, field);
}

static void test_codec_maps_each_payload_to_its_kind(void **state)
{
	static const struct { Contact__V1__CitizenEvent__PayloadCase pc; cd_event_kind kind; } map[] = {
		{ CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION, CD_EV_REGISTRATION },
		{ CONTACT__V1__CITIZEN_EVENT__PAYLOAD_DEREGISTRATION, CD_EV_DEREGISTRATION },
		{ CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION, CD_EV_CONVERSATION },
		{ CONTACT__V1__CITIZEN_EVENT__PAYLOAD_BENEFIT_CHANGE, CD_EV_BENEFIT_CHANGE },
		{ CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CLOCK_TICK, CD_EV_CLOCK_TICK },
		{ CONTACT__V1__CITIZEN_EVENT__PAYLOAD_EXEMPTION, CD_EV_EXEMPTION },
	};
	msg m;
	cd_event ev;
	(void)state;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		msg_init(&m, map[i].pc);
		codec_accepts(&m, &ev);
		assert_int_equal(ev.kind, map[i].kind);
		assert_true(ev.occurred_at == T_NS);
		assert_true(ev.recorded_at == CD_INSTANT_NONE);
		assert_string_equal(ev.muni, "860");
		assert_int_equal(ev.event_id_len, 4);
		assert_memory_equal(ev.event_id, "ev-1", 4);
	}
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION);
	codec_accepts(&m, &ev);
	assert_int_equal(ev.dp_start, cd_date_from_ymd(2021, 3, 1));
	assert_true(ev.first_contact == CD_DATE_NONE);
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_BENEFIT_CHANGE);
	codec_accepts(&m, &ev);
	assert_int_equal(ev.benefit, CD_SYGEDAGPENGE);
	assert_int_equal(ev.first_absence, cd_date_from_ymd(2021, 2, 20));
	/* the dk-2026 fields: absent, "" and false */
	assert_string_equal(ev.akasse_code, "");
	assert_int_equal(ev.akasse_code_len, 0);
	assert_false(ev.municipal_course);
	assert_false(ev.sick_short);
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_EXEMPTION);
	codec_accepts(&m, &ev);
	assert_int_equal(ev.scope, CD_SCOPE_AKASSE);
	assert_false(ev.revoked);
}

static void test_codec_maps_the_dk2026_fields_and_exemptions(void **state)
{
	msg m;
	cd_event ev;
	(void)state;
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION);
	m.reg.akasse_code = "A901";
	m.reg.municipal_contact_course = 1;
	codec_accepts(&m, &ev);
	assert_true(ev.akasse_code == m.reg.akasse_code);   /* borrowed */
	assert_int_equal(ev.akasse_code_len, 4);
	assert_true(ev.municipal_course);
	assert_false(ev.sick_short);
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION);
	m.reg.benefit = CONTACT__V1__BENEFIT__BENEFIT_SYGEDAGPENGE;
	m.reg.sick_short_absence_expected = 1;
	codec_accepts(&m, &ev);
	assert_true(ev.sick_short);
	assert_int_equal(ev.akasse_code_len, 0);
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_BENEFIT_CHANGE);
	m.bc.sick_short_absence_expected = 1;
	codec_accepts(&m, &ev);
	assert_true(ev.sick_short);
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_BENEFIT_CHANGE);
	m.bc.to_benefit = CONTACT__V1__BENEFIT__BENEFIT_DAGPENGE;
	m.bc.first_absence_date = "";
	m.bc.akasse_code = "a-kasse_7";
	m.bc.municipal_contact_course = 1;
	codec_accepts(&m, &ev);
	assert_int_equal(ev.akasse_code_len, 9);
	assert_memory_equal(ev.akasse_code, "a-kasse_7", 9);
	assert_true(ev.municipal_course);
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_EXEMPTION);
	m.ex.scope = CONTACT__V1__EXEMPTION_SCOPE__EXEMPTION_SCOPE_KOMMUNE;
	m.ex.revoked = 1;
	codec_accepts(&m, &ev);
	assert_int_equal(ev.kind, CD_EV_EXEMPTION);
	assert_int_equal(ev.scope, CD_SCOPE_KOMMUNE);
	assert_true(ev.revoked);
}

static void test_codec_applies_the_dk2026_rules(void **state)
{
	msg m;
	(void)state;
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_EXEMPTION);
	m.ex.scope = CONTACT__V1__EXEMPTION_SCOPE__EXEMPTION_SCOPE_UNSPECIFIED;
	codec_rejects(&m, "field 'exemption.scope' is unspecified");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_EXEMPTION);
	m.ex.scope = (Contact__V1__ExemptionScope)3;
	codec_rejects(&m, "'exemption.scope'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_EXEMPTION);
	m.ex.scope = (Contact__V1__ExemptionScope)257;   /* would be 1 if narrowed to a byte */
	codec_rejects(&m, "'exemption.scope'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_EXEMPTION);
	m.ev.citizen_id = "";
	codec_rejects(&m, "'citizen_id'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_EXEMPTION);
	m.ev.occurred_at = NULL;
	codec_rejects(&m, "'occurred_at'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION);
	m.reg.sick_short_absence_expected = 1;
	codec_rejects(&m, "'registration.sick_short_absence_expected'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_BENEFIT_CHANGE);
	m.bc.municipal_contact_course = 1;
	codec_rejects(&m, "'benefit_change.municipal_contact_course'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_BENEFIT_CHANGE);
	m.bc.akasse_code = "A901";
	codec_rejects(&m, "'benefit_change.akasse_code' is set but");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION);
	m.reg.akasse_code = "A901-and-much-longer";
	codec_rejects(&m, "'registration.akasse_code' is longer than 16 bytes");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION);
	m.reg.akasse_code = "A 901";
	codec_rejects(&m, "'registration.akasse_code' 'A 901' has a character outside");
}

static void test_codec_rejects_unknown_enum_numbers_naming_the_field(void **state)
{
	msg m;
	(void)state;
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION);
	m.conv.form = (Contact__V1__ConversationForm)99;
	codec_rejects(&m, "'conversation.form'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION);
	m.conv.form = (Contact__V1__ConversationForm)-1;
	codec_rejects(&m, "'conversation.form'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION);
	m.conv.held_by = (Contact__V1__HeldBy)4;
	codec_rejects(&m, "'conversation.held_by'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION);
	m.reg.benefit = (Contact__V1__Benefit)11;
	codec_rejects(&m, "'registration.benefit'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION);
	m.reg.category = (Contact__V1__Category)256;   /* would be 0 if narrowed to a byte */
	codec_rejects(&m, "'registration.category'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_DEREGISTRATION);
	m.dereg.reason = (Contact__V1__DeregistrationReason)4;
	codec_rejects(&m, "'deregistration.reason'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_BENEFIT_CHANGE);
	m.bc.to_benefit = (Contact__V1__Benefit)INT32_MAX;
	codec_rejects(&m, "'benefit_change.to_benefit'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_BENEFIT_CHANGE);
	m.bc.to_category = (Contact__V1__Category)INT32_MIN;
	codec_rejects(&m, "'benefit_change.to_category'");
}

static void test_codec_rejects_dates_that_are_not_real_yyyy_mm_dd(void **state)
{
	static const char *const bad[] = {
		"2021-02-30", "2021-2-3", "2021-02-03T00:00:00Z", "20210203", " 2021-02-03", "2021-13-01",
		"2021-00-10", "2021-02-29", "0000-01-01", "yesterday",
	};
	msg m;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION);
		m.reg.first_contact_date = (char *)bad[i];
		codec_rejects(&m, "'registration.first_contact_date'");
		msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION);
		m.reg.first_absence_date = (char *)bad[i];
		codec_rejects(&m, "'registration.first_absence_date'");
		msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION);
		m.reg.dagpenge_period_start = (char *)bad[i];
		codec_rejects(&m, "'registration.dagpenge_period_start'");
		msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_BENEFIT_CHANGE);
		m.bc.first_absence_date = (char *)bad[i];
		codec_rejects(&m, "'benefit_change.first_absence_date'");
		msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_BENEFIT_CHANGE);
		m.bc.dagpenge_period_start = (char *)bad[i];
		codec_rejects(&m, "'benefit_change.dagpenge_period_start'");
	}
}

static void test_codec_rejects_timestamps_with_nanos_out_of_range(void **state)
{
	static const int32_t nanos[] = { -1, 1000000000, INT32_MIN, INT32_MAX };
	msg m;
	cd_event ev;
	(void)state;
	for (size_t i = 0; i < sizeof(nanos) / sizeof(nanos[0]); i++) {
		msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION);
		m.occ.nanos = nanos[i];
		codec_rejects(&m, "'occurred_at'");
		msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION);
		m.rec.seconds = T_SECS;
		m.rec.nanos = nanos[i];
		m.ev.recorded_at = &m.rec;
		codec_rejects(&m, "'recorded_at'");
	}
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION);
	m.occ.nanos = 999999999;
	codec_accepts(&m, &ev);
	assert_true(ev.occurred_at == T_NS + 999999999);
}

static void test_codec_rejects_absurd_seconds_naming_the_field(void **state)
{
	static const int64_t secs[] = {
		INT64_C(100000000001), -INT64_C(100000000001), INT64_MAX, INT64_MIN,
		INT64_C(631151999),     /* 1989-12-31T23:59:59Z: representable, outside D28 */
		INT64_C(4102444800),    /* 2100-01-01T00:00:00Z */
		INT64_C(9000000000),    /* year 2255: still fits int64 nanoseconds */
		-INT64_C(9000000000),
	};
	msg m;
	(void)state;
	for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
		msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION);
		m.occ.seconds = secs[i];
		codec_rejects(&m, "'occurred_at'");
		msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION);
		m.rec.seconds = secs[i];
		m.ev.recorded_at = &m.rec;
		codec_rejects(&m, "'recorded_at'");
	}
}

/* Runs fn in a child process; returns its wait status. */
static int in_child(int (*fn)(void))
{
	int status = 0;
	pid_t pid;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static int64_t child_seconds;
static int child_recorded;

/* In the child: no cmocka assertions. 0: rejected as it should be; 10: accepted; 11: wrong stage or field. */
static int child_from_pb(void)
{
	msg m;
	cd_event ev;
	cd_codec_stage stage = 0;
	cd_err err = { { 0 }, 0 };
	const char *field = child_recorded ? "'recorded_at'" : "'occurred_at'";
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION);
	if (child_recorded) {
		m.rec.seconds = child_seconds;
		m.ev.recorded_at = &m.rec;
	} else {
		m.occ.seconds = child_seconds;
	}
	if (cd_codec_event_from_pb(&m.ev, &ev, &stage, &err) == 0) {
		fprintf(stderr, "seconds %lld accepted as instant %lld ns\n", (long long)child_seconds,
			(long long)(child_recorded ? ev.recorded_at : ev.occurred_at));
		return 10;
	}
	if (stage != CD_STAGE_VALIDATE || !strstr(err.msg, field))
		return 11;
	return 0;
}

static void check_seconds_in_child(int64_t seconds, int recorded)
{
	int status;
	child_seconds = seconds;
	child_recorded = recorded;
	status = in_child(child_from_pb);
	if (WIFSIGNALED(status))
		fail_msg("seconds %lld: the codec crashed (signal %d)", (long long)seconds, WTERMSIG(status));
	if (WEXITSTATUS(status) == 10)
		fail_msg("seconds %lld in %s was accepted", (long long)seconds, recorded ? "recorded_at" : "occurred_at");
	if (WEXITSTATUS(status) == 11)
		fail_msg("seconds %lld: rejected without naming the field or at the wrong stage", (long long)seconds);
	if (WEXITSTATUS(status) != 0)
		fail_msg("seconds %lld: the codec died (exit %d; sanitizer report above: seconds * 1e9 overflows int64)",
			 (long long)seconds, WEXITSTATUS(status));
}

/*
 * Seconds whose nanoseconds do not fit an int64 (beyond ±9223372036 s, year
 * 2262) must be refused before the multiplication. 19946744074 s (year 2602)
 * is the nasty one: times 1e9 it wraps to 1500000000.29 s, 2017-07-14, well
 * inside D28's range, so without the sanitizers it would be accepted as a
 * 2017 event.
 */
static void test_codec_rejects_seconds_whose_nanoseconds_overflow_int64(void **state)
{
	static const int64_t secs[] = {
		INT64_C(9223372037), INT64_C(10000000000), INT64_C(19946744074), INT64_C(100000000000),
		-INT64_C(9223372037), -INT64_C(100000000000),
	};
	(void)state;
	for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
		check_seconds_in_child(secs[i], 0);
		check_seconds_in_child(secs[i], 1);
	}
}

static void test_codec_rejects_missing_occurred_at_and_missing_payload(void **state)
{
	msg m;
	(void)state;
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION);
	m.ev.occurred_at = NULL;
	codec_rejects(&m, "'occurred_at'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD__NOT_SET);
	codec_rejects(&m, "payload");
}

static void test_codec_rejects_bad_municipality_codes(void **state)
{
	static const char *const bad[] = { "86", "86a", "12345", "0860 ", "860860860" };
	msg m;
	cd_event ev;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION);
		m.ev.municipality_code = (char *)bad[i];
		codec_rejects(&m, "'municipality_code'");
	}
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION);
	m.ev.municipality_code = "0860";
	codec_accepts(&m, &ev);
	assert_string_equal(ev.muni, "0860");
}

static void test_codec_applies_d28_to_ids_benefit_prior_days_and_conversations(void **state)
{
	msg m;
	cd_event ev;
	(void)state;
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION);
	m.ev.event_id = "";
	codec_rejects(&m, "'event_id'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION);
	m.ev.event_id = long_id;
	codec_rejects(&m, "'event_id'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION);
	m.ev.citizen_id = "";
	codec_rejects(&m, "'citizen_id'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION);
	m.ev.citizen_id = long_id;
	codec_rejects(&m, "'citizen_id'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION);
	m.reg.benefit = CONTACT__V1__BENEFIT__BENEFIT_UNSPECIFIED;
	codec_rejects(&m, "'registration.benefit'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION);
	m.reg.prior_unemployment_days = -1;
	codec_rejects(&m, "'registration.prior_unemployment_days'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION);
	m.reg.prior_unemployment_days = 3651;
	codec_rejects(&m, "'registration.prior_unemployment_days'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION);
	m.conv.conversation_id = "";
	codec_rejects(&m, "'conversation.conversation_id'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION);
	m.conv.form = CONTACT__V1__CONVERSATION_FORM__CONVERSATION_FORM_UNSPECIFIED;
	codec_rejects(&m, "'conversation.form'");
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION);
	m.conv.held_by = CONTACT__V1__HELD_BY__HELD_BY_UNSPECIFIED;
	codec_rejects(&m, "'conversation.held_by'");
	/* A void carries only the id. */
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION);
	m.conv.form = CONTACT__V1__CONVERSATION_FORM__CONVERSATION_FORM_UNSPECIFIED;
	m.conv.held_by = CONTACT__V1__HELD_BY__HELD_BY_UNSPECIFIED;
	m.conv.voided = 1;
	codec_accepts(&m, &ev);
	assert_true(ev.voided);
	/* A tick for every citizen. */
	msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CLOCK_TICK);
	m.ev.citizen_id = "";
	m.ev.municipality_code = "";
	codec_accepts(&m, &ev);
}

/* ---- through the codec: bytes and text ------------------------------------ */

static void decode_rejects(const void *data, size_t len, cd_log_format fmt, cd_codec_stage want_stage,
			   const char *want, const char *what)
{
	cd_codec_stage stage = 0;
	cd_err err = { { 0 }, 0 };
	Contact__V1__CitizenEvent *m = (Contact__V1__CitizenEvent *)(uintptr_t)1;
	cd_event ev;
	uint8_t *copy = malloc(len ? len : 1);   /* exact length, for ASan */
	int rc;
	assert_non_null(copy);
	if (len)
		memcpy(copy, data, len);
	rc = cd_codec_decode_event(copy, len, fmt, &m, &ev, &stage, &err);
	free(copy);
	if (m == (Contact__V1__CitizenEvent *)(uintptr_t)1)
		fail_msg("%s: *msg was not set", what);
	/* *msg is set exactly when the bytes decoded (validate-stage failures); the caller frees it. */
	if (m)
		protobuf_c_message_free_unpacked(&m->base, NULL);
	if (rc != -1)
		fail_msg("%s: accepted", what);
	if (want_stage == CD_STAGE_DECODE && m)
		fail_msg("%s: *msg set although the bytes did not decode", what);
	if (want_stage == CD_STAGE_VALIDATE && !m)
		fail_msg("%s: *msg not handed over after a validate-stage failure", what);
	if (stage != want_stage)
		fail_msg("%s: stage %s, want %s (%s)", what, cd_codec_stage_name(stage),
			 cd_codec_stage_name(want_stage), err.msg);
	if (!err.msg[0])
		fail_msg("%s: no message", what);
	if (want)
		assert_has(err.msg, want);
}

static void test_garbage_bytes_are_rejected_at_the_decode_stage(void **state)
{
	static const struct { uint8_t b[16]; size_t n; } cases[] = {
		{ { 0x0f }, 1 },                                   /* field 1, wire type 7 */
		{ { 0x0a, 0x10, 'a' }, 3 },                        /* string of 16 bytes, 1 present */
		{ { 0x08 }, 1 },                                   /* varint field with no value */
		{ { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 }, 12 }, /* 11-byte varint */
		{ { 0x62, 0x03, 0x0a, 0x05, 'x' }, 5 },            /* conversation with a truncated id */
		{ { 0x1a, 0x02, 0x08 }, 3 },                       /* occurred_at with a truncated field */
		{ { 0x00 }, 1 },                                   /* field number 0 */
		/* field number 0 in a two-byte tag, which protobuf-c lets through */
		{ { 0x80, 0x00, 0x00 }, 3 },
		{ { 0x62, 0x03, 0x80, 0x00, 0x00 }, 5 },           /* the same inside the conversation */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char what[32];
		snprintf(what, sizeof(what), "pb case %zu", i);
		decode_rejects(cases[i].b, cases[i].n, CD_LOG_PB, CD_STAGE_DECODE, NULL, what);
	}
}

static void test_empty_record_decodes_but_is_rejected_at_the_validate_stage(void **state)
{
	/* Zero bytes are a valid (all-default) CitizenEvent, which D28 refuses. */
	(void)state;
	decode_rejects("", 0, CD_LOG_PB, CD_STAGE_VALIDATE, "'event_id'", "empty pb");
	decode_rejects("{}", 2, CD_LOG_JSON, CD_STAGE_VALIDATE, "'event_id'", "empty json object");
}

static void test_bad_json_is_rejected_at_the_decode_stage(void **state)
{
	static const char *const cases[] = {
		"",
		"{",
		"not json",
		"[]",
		"null",
		"{\"eventId\": 5}",
		"{\"eventId\": \"e\"} trailing",
		"{\"eventId\": \"e\", \"occurredAt\": \"2021-02-30T10:00:00Z\"}",
		"{\"eventId\": \"e\", \"occurredAt\": 1614592800}",
		"{\"eventId\": \"e\", \"conversation\": {\"form\": \"CONVERSATION_FORM_NOPE\"}}",
		"{\"eventId\": \"e\", \"conversation\": \"x\"}",
		"{\"eventId\": \"e\", \"registration\": {}, \"conversation\": {}}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		decode_rejects(cases[i], strlen(cases[i]), CD_LOG_JSON, CD_STAGE_DECODE, NULL, cases[i]);
}

static void test_json_with_an_unknown_enum_number_is_rejected_naming_the_field(void **state)
{
	static const char *const text =
		"{\"eventId\":\"e\",\"citizenId\":\"c\",\"occurredAt\":\"2021-03-01T10:00:00Z\","
		"\"conversation\":{\"conversationId\":\"x\",\"form\":99,\"heldBy\":\"HELD_BY_JOBCENTER\"}}";
	/* The JSON mapping itself refuses numbers the enum does not name. */
	(void)state;
	decode_rejects(text, strlen(text), CD_LOG_JSON, CD_STAGE_DECODE, "conversation.form", "form 99");
}

static void test_json_that_d28_refuses_is_rejected_at_the_validate_stage(void **state)
{
	static const char *const cases[][2] = {
		{ "{\"eventId\":\"e\",\"citizenId\":\"c\",\"occurredAt\":\"2021-03-01T10:00:00Z\","
		  "\"registration\":{\"benefit\":\"BENEFIT_DAGPENGE\",\"firstContactDate\":\"2021-02-30\"}}",
		  "'registration.first_contact_date'" },
		{ "{\"eventId\":\"e\",\"citizenId\":\"c\",\"occurredAt\":\"2021-03-01T10:00:00Z\","
		  "\"registration\":{\"benefit\":\"BENEFIT_DAGPENGE\",\"dagpengePeriodStart\":\"2021-2-3\"}}",
		  "'registration.dagpenge_period_start'" },
		{ "{\"eventId\":\"e\",\"citizenId\":\"c\",\"occurredAt\":\"1989-12-31T23:59:59Z\","
		  "\"clockTick\":{}}",
		  "'occurred_at'" },
		{ "{\"eventId\":\"e\",\"citizenId\":\"c\",\"occurredAt\":\"2021-03-01T10:00:00Z\","
		  "\"recordedAt\":\"2100-01-01T00:00:00Z\",\"clockTick\":{}}",
		  "'recorded_at'" },
		{ "{\"eventId\":\"e\",\"citizenId\":\"c\",\"occurredAt\":\"2021-03-01T10:00:00Z\","
		  "\"municipalityCode\":\"12345\",\"clockTick\":{}}",
		  "'municipality_code'" },
		{ "{\"eventId\":\"e\",\"citizenId\":\"c\",\"occurredAt\":\"2021-03-01T10:00:00Z\"}",
		  "payload" },
		{ "{\"eventId\":\"e\",\"citizenId\":\"c\",\"occurredAt\":\"2021-03-01T10:00:00Z\","
		  "\"conversation\":{\"form\":\"CONVERSATION_FORM_PHONE\",\"heldBy\":\"HELD_BY_AKASSE\"}}",
		  "'conversation.conversation_id'" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		decode_rejects(cases[i][0], strlen(cases[i][0]), CD_LOG_JSON, CD_STAGE_VALIDATE, cases[i][1],
			       cases[i][0]);
}

static void test_valid_json_and_pb_records_decode(void **state)
{
	static const char *const text =
		"{\"eventId\":\"e-9\",\"citizenId\":\"c-9\",\"occurredAt\":\"2021-03-01T10:00:00Z\","
		"\"municipalityCode\":\"0860\",\"conversation\":{\"conversationId\":\"x\","
		"\"form\":\"CONVERSATION_FORM_VIDEO\",\"heldBy\":\"HELD_BY_JOBCENTER\",\"voided\":false}}";
	cd_codec_stage stage = 0;
	cd_err err = { { 0 }, 0 };
	Contact__V1__CitizenEvent *m = NULL;
	cd_event ev;
	(void)state;
	if (cd_codec_decode_event((const uint8_t *)text, strlen(text), CD_LOG_JSON, &m, &ev, &stage, &err) < 0)
		fail_msg("%s: %s", cd_codec_stage_name(stage), err.msg);
	assert_non_null(m);
	assert_int_equal(ev.kind, CD_EV_CONVERSATION);
	assert_int_equal(ev.form, CD_VIDEO);
	assert_int_equal(ev.held_by, CD_JOBCENTER);
	assert_true(ev.occurred_at == T_NS);
	assert_string_equal(ev.muni, "0860");
	assert_int_equal(ev.conv_id_len, 1);
	protobuf_c_message_free_unpacked(&m->base, NULL);
	assert_string_equal(cd_codec_stage_name(CD_STAGE_DECODE), "decode");
	assert_string_equal(cd_codec_stage_name(CD_STAGE_VALIDATE), "validate");
}

/* ---- text: UTF-8 without control characters -------------------------------- */

/* Every string field of contact.v1.CitizenEvent, with a valid value and the message it needs. */
static const struct str_field {
	const char *name;
	Contact__V1__CitizenEvent__PayloadCase payload;
	const char *valid;
} str_fields[] = {
	{ "event_id", CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION, "ev-1" },
	{ "citizen_id", CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION, "cit-1" },
	{ "municipality_code", CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION, "860" },
	{ "source", CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION, "src" },
	{ "registration.first_contact_date", CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION, "2021-03-01" },
	{ "registration.first_absence_date", CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION, "2021-03-01" },
	{ "registration.dagpenge_period_start", CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION, "2021-03-01" },
	{ "conversation.conversation_id", CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION, "conv-1" },
	{ "benefit_change.first_absence_date", CONTACT__V1__CITIZEN_EVENT__PAYLOAD_BENEFIT_CHANGE, "2021-02-20" },
	{ "benefit_change.dagpenge_period_start", CONTACT__V1__CITIZEN_EVENT__PAYLOAD_BENEFIT_CHANGE, "2021-02-20" },
	{ "registration.akasse_code", CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION, "A901" },
	{ "benefit_change.akasse_code", CONTACT__V1__CITIZEN_EVENT__PAYLOAD_BENEFIT_CHANGE, "A901" },
};
#define N_STR_FIELDS (sizeof(str_fields) / sizeof(str_fields[0]))

/* The member of m that holds str_fields[i]. */
static char **str_member(msg *m, size_t i)
{
	char **const at[] = {
		&m->ev.event_id, &m->ev.citizen_id, &m->ev.municipality_code, &m->ev.source,
		&m->reg.first_contact_date, &m->reg.first_absence_date, &m->reg.dagpenge_period_start,
		&m->conv.conversation_id, &m->bc.first_absence_date, &m->bc.dagpenge_period_start,
		&m->reg.akasse_code, &m->bc.akasse_code,
	};
	_Static_assert(sizeof(at) / sizeof(at[0]) == N_STR_FIELDS, "one member per field");
	return at[i];
}

/* The schema has no string field that the table above lacks. */
static void test_the_table_names_every_string_field_of_citizen_event(void **state)
{
	const ProtobufCMessageDescriptor *const descs[] = {
		&contact__v1__citizen_event__descriptor, &contact__v1__registration__descriptor,
		&contact__v1__deregistration__descriptor, &contact__v1__conversation__descriptor,
		&contact__v1__benefit_change__descriptor, &contact__v1__clock_tick__descriptor,
		&contact__v1__exemption__descriptor,
	};
	const char *const prefix[] = { "", "registration.", "deregistration.", "conversation.", "benefit_change.",
				       "clock_tick.", "exemption." };
	size_t n = 0;
	(void)state;
	for (size_t d = 0; d < sizeof(descs) / sizeof(descs[0]); d++)
		for (unsigned f = 0; f < descs[d]->n_fields; f++) {
			char name[96];
			int found = 0;
			if (descs[d]->fields[f].type != PROTOBUF_C_TYPE_STRING)
				continue;
			snprintf(name, sizeof(name), "%s%s", prefix[d], descs[d]->fields[f].name);
			for (size_t i = 0; i < N_STR_FIELDS; i++)
				found |= !strcmp(str_fields[i].name, name);
			if (!found)
				fail_msg("string field %s is not in the table", name);
			n++;
		}
	assert_int_equal(n, N_STR_FIELDS);
}

/* Field i set to valid + bad + tail: rejected on both paths, naming the field, `why` and the byte. */
static void text_rejected(size_t i, const char *bad, const char *why)
{
	char value[64], want[160];
	msg m;
	snprintf(value, sizeof(value), "%s%sx", str_fields[i].valid, bad);
	msg_init(&m, str_fields[i].payload);
	*str_member(&m, i) = value;
	snprintf(want, sizeof(want), "field '%s' %s", str_fields[i].name, why);
	codec_rejects(&m, want);
	snprintf(want, sizeof(want), "at byte %zu", strlen(str_fields[i].valid));
	codec_rejects(&m, want);
}

static void test_control_characters_in_any_string_field_are_invalid(void **state)
{
	static const struct { const char *bytes, *why; } bad[] = {
		{ "\x01", "contains a control character (0x01)" },
		{ "\t", "contains a control character (0x09)" },
		{ "\n", "contains a control character (0x0a)" },
		{ "\x1b", "contains a control character (0x1b)" },
		{ "\x1f", "contains a control character (0x1f)" },
		{ "\x7f", "contains a control character (0x7f)" },
		{ "\xc2\x80", "contains a control character (U+0080)" },
		{ "\xc2\x85", "contains a control character (U+0085)" },
		{ "\xc2\x9f", "contains a control character (U+009F)" },
	};
	(void)state;
	for (size_t i = 0; i < N_STR_FIELDS; i++)
		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
			text_rejected(i, bad[k].bytes, bad[k].why);
}

static void test_invalid_utf8_in_any_string_field_is_invalid(void **state)
{
	static const char *const bad[] = {
		"\x80",                 /* a continuation byte alone */
		"\xbf",
		"\xc0\xaf",             /* overlong '/' */
		"\xc1\xbf",
		"\xe0\x80\xaf",         /* overlong, three bytes */
		"\xe0\x9f\xbf",
		"\xf0\x80\x80\xaf",     /* overlong, four bytes */
		"\xf0\x8f\xbf\xbf",
		"\xed\xa0\x80",         /* a UTF-16 surrogate, U+D800 */
		"\xed\xbf\xbf",         /* U+DFFF */
		"\xf4\x90\x80\x80",     /* U+110000 */
		"\xf5\x80\x80\x80",
		"\xf8\x88\x80\x80\x80", /* five bytes */
		"\xfe", "\xff",
		"\xc3(",                /* a lead byte without its continuation */
		"\xe2\x82(",
		"\xf0\x9f\x98(",
	};
	(void)state;
	for (size_t i = 0; i < N_STR_FIELDS; i++)
		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
			text_rejected(i, bad[k], "is not valid UTF-8");
}

static void test_utf8_cut_at_the_end_of_a_field_is_invalid(void **state)
{
	static const char *const cut[] = { "\xc3", "\xe2\x82", "\xf0\x9f\x98" };
	msg m;
	char value[32];
	(void)state;
	for (size_t k = 0; k < sizeof(cut) / sizeof(cut[0]); k++) {
		snprintf(value, sizeof(value), "cit-%s", cut[k]);
		msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION);
		m.ev.citizen_id = value;
		codec_rejects(&m, "field 'citizen_id' is not valid UTF-8 at byte 4");
	}
}

static void test_utf8_text_is_valid_in_ids_and_source(void **state)
{
	static const char *const good[] = {
		"s\xc3\xb8ren-\xc3\xa6\xc3\xb8\xc3\xa5",   /* søren-æøå */
		"\xc2\xa0",                                 /* U+00A0, just past C1 */
		"\xc3\xbf",                                 /* U+00FF */
		"\xe0\xa0\x80",                             /* U+0800 */
		"\xed\x9f\xbf",                             /* U+D7FF, below the surrogates */
		"\xee\x80\x80",                             /* U+E000, above them */
		"\xef\xbf\xbd",                             /* U+FFFD */
		"\xf0\x90\x80\x80",                         /* U+10000 */
		"\xf0\x9f\x98\x80",                         /* U+1F600 */
		"\xf4\x8f\xbf\xbf",                         /* U+10FFFF */
		" ~",                                       /* the printable ASCII bounds */
	};
	msg m;
	cd_event ev;
	(void)state;
	for (size_t k = 0; k < sizeof(good) / sizeof(good[0]); k++) {
		msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION);
		m.ev.event_id = (char *)good[k];
		m.ev.citizen_id = (char *)good[k];
		m.ev.source = (char *)good[k];
		m.conv.conversation_id = (char *)good[k];
		codec_accepts(&m, &ev);
		assert_int_equal(ev.citizen_id_len, strlen(good[k]));
	}
}

/* Ids with explicit lengths: cd_event_validate itself sees an embedded NUL. */
static void test_ids_with_an_embedded_nul_are_invalid(void **state)
{
	cd_event ev;
	(void)state;
	base(&ev, CD_EV_CONVERSATION);
	ev.event_id = "dup\0first";
	ev.event_id_len = 9;
	assert_invalid(&ev, "field 'event_id' contains a control character (0x00) at byte 3");
	base(&ev, CD_EV_CONVERSATION);
	ev.citizen_id = "nul1\0A";
	ev.citizen_id_len = 6;
	assert_invalid(&ev, "field 'citizen_id' contains a control character (0x00) at byte 4");
	base(&ev, CD_EV_CONVERSATION);
	ev.conv_id = "c\0";
	ev.conv_id_len = 2;
	assert_invalid(&ev, "field 'conversation.conversation_id' contains a control character (0x00) at byte 1");
	base(&ev, CD_EV_CONVERSATION);
	ev.citizen_id = "\xc3\xa6\xff";
	ev.citizen_id_len = 3;
	assert_invalid(&ev, "field 'citizen_id' is not valid UTF-8 at byte 2");
}

/*
 * protobuf-c keeps a NUL inside a string but the unpacked string has no
 * length, so "dup\0first" and "dup\0second" would both read as "dup": the
 * second event would be dropped as a duplicate, two citizens would merge.
 * Packed with a marker byte that is then turned into a NUL on the wire.
 */
static void test_a_nul_on_the_wire_in_any_string_field_is_invalid(void **state)
{
	msg m;
	(void)state;
	for (size_t i = 0; i < N_STR_FIELDS; i++) {
		char value[64], want[160];
		uint8_t *p, *hash;
		size_t len;

		snprintf(value, sizeof(value), "%s#tail", str_fields[i].valid);
		msg_init(&m, str_fields[i].payload);
		*str_member(&m, i) = value;
		p = pack(&m, &len);
		hash = memchr(p, '#', len);
		assert_non_null(hash);
		assert_null(memchr(hash + 1, '#', len - (size_t)(hash + 1 - p)));
		*hash = '\0';
		snprintf(want, sizeof(want), "field '%s' contains a control character (0x00) at byte %zu",
			 str_fields[i].name, strlen(str_fields[i].valid));
		decode_rejects(p, len, CD_LOG_PB, CD_STAGE_VALIDATE, want, str_fields[i].name);
		free(p);
	}
}

static void test_ids_that_differ_only_after_a_nul_do_not_merge(void **state)
{
	static const char *const ids[][2] = {
		{ "dup#first", "event_id" }, { "dup#second", "event_id" },
		{ "nul1#A", "citizen_id" }, { "nul1#B", "citizen_id" },
		{ "conv#1", "conversation.conversation_id" },
	};
	msg m;
	(void)state;
	for (size_t k = 0; k < sizeof(ids) / sizeof(ids[0]); k++) {
		char value[32], want[128];
		uint8_t *p;
		size_t len;
		snprintf(value, sizeof(value), "%s", ids[k][0]);
		msg_init(&m, CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION);
		if (!strcmp(ids[k][1], "event_id"))
			m.ev.event_id = value;
		else if (!strcmp(ids[k][1], "citizen_id"))
			m.ev.citizen_id = value;
		else
			m.conv.conversation_id = value;
		p = pack(&m, &len);
		*(uint8_t *)memchr(p, '#', len) = '\0';
		snprintf(want, sizeof(want), "field '%s' contains a control character (0x00) at byte %zu", ids[k][1],
			 (size_t)(strchr(ids[k][0], '#') - ids[k][0]));
		decode_rejects(p, len, CD_LOG_PB, CD_STAGE_VALIDATE, want, ids[k][0]);
		free(p);
	}
}

static void test_json_strings_follow_the_same_text_rule(void **state)
{
	/* citizenId, source, conversationId */
	static const char *const fmt =
		"{\"eventId\":\"e\",\"citizenId\":\"%s\",\"occurredAt\":\"2021-03-01T10:00:00Z\",\"source\":\"%s\","
		"\"conversation\":{\"conversationId\":\"%s\",\"form\":\"CONVERSATION_FORM_VIDEO\","
		"\"heldBy\":\"HELD_BY_JOBCENTER\"}}";
	static const struct {
		const char *cid, *src, *conv;
		cd_codec_stage stage;
		const char *want;
	} cases[] = {
		/* jansson refuses these: the JSON text itself is broken */
		{ "c\\u0000d", "s", "x", CD_STAGE_DECODE, NULL },
		{ "c\xff", "s", "x", CD_STAGE_DECODE, NULL },
		{ "c\xc3", "s", "x", CD_STAGE_DECODE, NULL },
		{ "c\\ud800", "s", "x", CD_STAGE_DECODE, NULL },
		{ "c", "s\\u0000", "x", CD_STAGE_DECODE, NULL },
		/* well-formed JSON, but not text that D28 accepts */
		{ "c\\u0001", "s", "x", CD_STAGE_VALIDATE, "field 'citizen_id' contains a control character (0x01) at byte 1" },
		{ "c\\t", "s", "x", CD_STAGE_VALIDATE, "field 'citizen_id' contains a control character (0x09) at byte 1" },
		{ "c\\u001f", "s", "x", CD_STAGE_VALIDATE, "field 'citizen_id' contains a control character (0x1f) at byte 1" },
		{ "c\\u007f", "s", "x", CD_STAGE_VALIDATE, "field 'citizen_id' contains a control character (0x7f) at byte 1" },
		{ "c\\u0085", "s", "x", CD_STAGE_VALIDATE,
		  "field 'citizen_id' contains a control character (U+0085) at byte 1" },
		{ "c", "s\\u0002", "x", CD_STAGE_VALIDATE, "field 'source' contains a control character (0x02) at byte 1" },
		{ "c", "s", "x\\u0085", CD_STAGE_VALIDATE,
		  "field 'conversation.conversation_id' contains a control character (U+0085) at byte 1" },
	};
	static const char *const ok = "s\xc3\xb8ren-\xc3\xa6-\xf0\x9f\x98\x80";
	char text[512];
	cd_codec_stage stage = 0;
	cd_err err = { { 0 }, 0 };
	Contact__V1__CitizenEvent *m = NULL;
	cd_event ev;
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), fmt, cases[i].cid, cases[i].src, cases[i].conv);
		decode_rejects(text, strlen(text), CD_LOG_JSON, cases[i].stage, cases[i].want, text);
	}
	/* UTF-8 text passes, escaped or not. */
	snprintf(text, sizeof(text), fmt, "s\xc3\xb8ren-\\u00e6-\\ud83d\\ude00", "s\xc3\xb8", "x");
	if (cd_codec_decode_event((const uint8_t *)text, strlen(text), CD_LOG_JSON, &m, &ev, &stage, &err) < 0)
		fail_msg("%s: %s", cd_codec_stage_name(stage), err.msg);
	assert_int_equal(ev.citizen_id_len, strlen(ok));
	assert_memory_equal(ev.citizen_id, ok, ev.citizen_id_len);
	protobuf_c_message_free_unpacked(&m->base, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_well_formed_event_of_each_kind_is_valid),
		cmocka_unit_test(test_empty_or_too_long_event_id_is_invalid),
		cmocka_unit_test(test_empty_or_too_long_citizen_id_is_invalid),
		cmocka_unit_test(test_missing_occurred_at_is_invalid),
		cmocka_unit_test(test_occurred_at_outside_1990_to_2100_is_invalid),
		cmocka_unit_test(test_recorded_at_outside_1990_to_2100_is_invalid),
		cmocka_unit_test(test_event_without_payload_is_invalid),
		cmocka_unit_test(test_registration_without_benefit_is_invalid),
		cmocka_unit_test(test_prior_unemployment_days_outside_0_to_3650_is_invalid),
		cmocka_unit_test(test_conversation_without_id_is_invalid_even_when_voided),
		cmocka_unit_test(test_conversation_not_voided_needs_form_and_held_by),
		cmocka_unit_test(test_void_of_a_conversation_needs_only_its_id),
		cmocka_unit_test(test_municipality_code_must_be_three_or_four_digits),
		cmocka_unit_test(test_enum_values_outside_the_schema_are_invalid),
		cmocka_unit_test(test_dates_outside_1990_to_2099_are_invalid_naming_the_date_field),
		cmocka_unit_test(test_exemption_needs_a_known_scope),
		cmocka_unit_test(test_sick_short_absence_expected_needs_sygedagpenge),
		cmocka_unit_test(test_municipal_contact_course_needs_dagpenge),
		cmocka_unit_test(test_akasse_code_is_short_plain_text_and_needs_dagpenge),
		cmocka_unit_test(test_codec_maps_each_payload_to_its_kind),
		cmocka_unit_test(test_codec_maps_the_dk2026_fields_and_exemptions),
		cmocka_unit_test(test_codec_applies_the_dk2026_rules),
		cmocka_unit_test(test_codec_rejects_unknown_enum_numbers_naming_the_field),
		cmocka_unit_test(test_codec_rejects_dates_that_are_not_real_yyyy_mm_dd),
		cmocka_unit_test(test_codec_rejects_timestamps_with_nanos_out_of_range),
		cmocka_unit_test(test_codec_rejects_absurd_seconds_naming_the_field),
		cmocka_unit_test(test_codec_rejects_seconds_whose_nanoseconds_overflow_int64),
		cmocka_unit_test(test_codec_rejects_missing_occurred_at_and_missing_payload),
		cmocka_unit_test(test_codec_rejects_bad_municipality_codes),
		cmocka_unit_test(test_codec_applies_d28_to_ids_benefit_prior_days_and_conversations),
		cmocka_unit_test(test_garbage_bytes_are_rejected_at_the_decode_stage),
		cmocka_unit_test(test_empty_record_decodes_but_is_rejected_at_the_validate_stage),
		cmocka_unit_test(test_bad_json_is_rejected_at_the_decode_stage),
		cmocka_unit_test(test_json_with_an_unknown_enum_number_is_rejected_naming_the_field),
		cmocka_unit_test(test_json_that_d28_refuses_is_rejected_at_the_validate_stage),
		cmocka_unit_test(test_valid_json_and_pb_records_decode),
		cmocka_unit_test(test_the_table_names_every_string_field_of_citizen_event),
		cmocka_unit_test(test_control_characters_in_any_string_field_are_invalid),
		cmocka_unit_test(test_invalid_utf8_in_any_string_field_is_invalid),
		cmocka_unit_test(test_utf8_cut_at_the_end_of_a_field_is_invalid),
		cmocka_unit_test(test_utf8_text_is_valid_in_ids_and_source),
		cmocka_unit_test(test_ids_with_an_embedded_nul_are_invalid),
		cmocka_unit_test(test_a_nul_on_the_wire_in_any_string_field_is_invalid),
		cmocka_unit_test(test_ids_that_differ_only_after_a_nul_do_not_merge),
		cmocka_unit_test(test_json_strings_follow_the_same_text_rule),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
