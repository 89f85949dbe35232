/*
 * test_engine.c — engine behaviour the scenario files cannot express: limits
 * that refuse an input leave the citizen unchanged, a failing output callback
 * is an error, duplicates emit nothing, and two engines given the same inputs
 * produce the same output ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/rules_json.h"
#include "state/citizen.h"
#include "state/engine.h"

static cd_rules *rules;

static int setup(void **state)
{
	cd_err err;
	(void)state;
	if (cd_rules_load(getenv("CD_RULES") ? getenv("CD_RULES") : "rules", NULL, &rules, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cd_rules_free(rules);
	return 0;
}

typedef struct sink {
	int n;
	char ids[64][33];
	int fail_after;          /* return non-zero from this output on; 0 = never */
} sink;

static int collect(void *ctx, const cd_output *o)
{
	sink *s = ctx;
	if (s->n < 64)
		memcpy(s->ids[s->n], o->event_id, 33);
	s->n++;
	return s->fail_after && s->n >= s->fail_after;
}

static cd_instant at(int y, int m, int d, int hour)
{
	return cd_cph_midnight(cd_date_from_ymd(y, m, d)) + (cd_instant)hour * 3600 * CD_NS_PER_SEC;
}

static cd_event reg(const char *id, cd_instant t, int benefit)
{
	cd_event ev;
	cd_event_init(&ev);
	ev.event_id = id;
	ev.event_id_len = strlen(id);
	ev.citizen_id = "p1";
	ev.citizen_id_len = 2;
	ev.occurred_at = t;
	ev.kind = CD_EV_REGISTRATION;
	ev.benefit = (uint8_t)benefit;
	strcpy(ev.muni, "101");
	assert_int_equal(cd_event_validate(&ev, NULL), 0);
	return ev;
}

static void test_obligation_limit_refuses_the_input_and_changes_nothing(void **state)
{
	cd_engine_config cfg;
	cd_engine *e;
	cd_citizen c;
	cd_event ev = reg("e1", at(2021, 3, 1, 9), CD_DAGPENGE);   /* dk-2020 DAGPENGE: 4 obligations */
	sink s = { 0 };
	cd_err err;
	(void)state;
	cd_engine_config_default(&cfg);
	cfg.max_obligations = 3;
	e = cd_engine_new(rules, &cfg);
	cd_citizen_init(&c);
	assert_int_equal(cd_engine_apply(e, &c, "p1", &ev, collect, &s, &err), -1);
	assert_non_null(strstr(err.msg, "obligation states"));
	assert_int_equal(c.n_ev, 0);
	assert_int_equal(c.n_ob, 0);
	assert_int_equal(s.n, 0);
	cd_citizen_release(&c);
	cd_engine_free(e);
}

static void test_history_limit_names_the_limit(void **state)
{
	cd_engine_config cfg;
	cd_engine *e;
	cd_citizen c;
	cd_event a = reg("e1", at(2021, 3, 1, 9), CD_KONTANTHJAELP), b = reg("e2", at(2021, 3, 2, 9), CD_KONTANTHJAELP);
	cd_err err;
	(void)state;
	cd_engine_config_default(&cfg);
	cfg.max_events = 1;
	e = cd_engine_new(rules, &cfg);
	cd_citizen_init(&c);
	assert_int_equal(cd_engine_apply(e, &c, "p1", &a, NULL, NULL, &err), 0);
	assert_int_equal(cd_engine_apply(e, &c, "p1", &b, NULL, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "history is full"));
	assert_non_null(strstr(err.msg, "e2"));
	assert_int_equal(c.n_ev, 1);
	cd_citizen_release(&c);
	cd_engine_free(e);
}

static void test_failing_output_callback_is_an_error(void **state)
{
	cd_engine *e = cd_engine_new(rules, NULL);
	cd_citizen c;
	cd_event ev = reg("e1", at(2021, 3, 1, 9), CD_KONTANTHJAELP);
	sink s = { .fail_after = 1 };
	cd_err err;
	(void)state;
	cd_citizen_init(&c);
	assert_int_equal(cd_engine_apply(e, &c, "p1", &ev, collect, &s, &err), -1);
	assert_non_null(strstr(err.msg, "callback"));
	cd_citizen_release(&c);
	cd_engine_free(e);
}

static void test_duplicate_input_emits_nothing_and_keeps_the_clock(void **state)
{
	cd_engine *e = cd_engine_new(rules, NULL);
	cd_citizen c;
	cd_event ev = reg("e1", at(2021, 3, 1, 9), CD_KONTANTHJAELP);
	sink s = { 0 };
	cd_err err;
	cd_instant clock;
	(void)state;
	cd_citizen_init(&c);
	assert_int_equal(cd_engine_apply(e, &c, "p1", &ev, collect, &s, &err), 0);
	assert_true(s.n > 0);
	clock = c.clock;
	s.n = 0;
	ev.recorded_at = at(2021, 6, 1, 9);       /* same id, even if it claims a later time */
	assert_int_equal(cd_engine_apply(e, &c, "p1", &ev, collect, &s, &err), 1);
	assert_int_equal(s.n, 0);
	assert_int_equal(c.clock, clock);
	cd_citizen_release(&c);
	cd_engine_free(e);
}

static void test_two_engines_give_the_same_output_ids(void **state)
{
	sink s1 = { 0 }, s2 = { 0 };
	cd_err err;
	(void)state;
	for (int run = 0; run < 2; run++) {
		cd_engine *e = cd_engine_new(rules, NULL);
		cd_citizen c;
		cd_event ev = reg("e1", at(2021, 3, 1, 9), CD_KONTANTHJAELP);
		cd_citizen_init(&c);
		assert_int_equal(cd_engine_apply(e, &c, "p1", &ev, collect, run ? &s2 : &s1, &err), 0);
		assert_int_equal(cd_engine_advance(e, &c, "p1", at(2022, 1, 1, 0), collect, run ? &s2 : &s1, &err), 0);
		cd_citizen_release(&c);
		cd_engine_free(e);
	}
	assert_true(s1.n >= 4);   /* two OPENED, two BREACHED */
	assert_int_equal(s1.n, s2.n);
	for (int i = 0; i < s1.n && i < 64; i++) {
		assert_string_equal(s1.ids[i], s2.ids[i]);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(s1.ids[i], s1.ids[j]);
	}
}

/* ---- the law transition (rules.md §5 dk-2026 "Transition") ---------------------- */

typedef struct rec {
	bool is_breach;
	int status, reason, benefit;
	char oid[112];
	cd_date due;
	cd_instant as_of;
} rec;

typedef struct recs {
	int n;
	rec r[128];
} recs;

static int record(void *ctx, const cd_output *o)
{
	recs *s = ctx;
	if (s->n < 128) {
		rec *x = &s->r[s->n++];
		x->is_breach = o->is_breach;
		x->status = o->status;
		x->reason = o->cancel_reason;
		x->benefit = o->benefit;
		snprintf(x->oid, sizeof(x->oid), "%s", o->obligation_id);
		x->due = o->due;
		x->as_of = o->as_of;
	}
	return 0;
}

static const rec *find_rec(const recs *s, const char *oid, bool is_breach, int status)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->r[i].oid, oid) && s->r[i].is_breach == is_breach && s->r[i].status == status)
			return &s->r[i];
	return NULL;
}

static int count_prefix(const recs *s, const char *prefix)
{
	int n = 0;
	for (int i = 0; i < s->n; i++)
		n += !strncmp(s->r[i].oid, prefix, strlen(prefix));
	return n;
}

/* A dk-2024 KONTANTHJAELP JOBPARAT period from 2026-05-04, to the instant before 2026-07-01. */
static void kontant_2026(cd_engine *e, cd_citizen *c, recs *s)
{
	cd_err err;
	cd_event ev = reg("k1", at(2026, 5, 4, 10), CD_KONTANTHJAELP);
	ev.category = CD_JOBPARAT;
	assert_int_equal(cd_engine_apply(e, c, "p1", &ev, record, s, &err), 0);
	assert_non_null(find_rec(s, "dk-2024/four-in-six", false, CD_DL_OPENED));
	s->n = 0;
	assert_int_equal(cd_engine_advance(e, c, "p1", cd_cph_midnight(cd_date_from_ymd(2026, 7, 1)) - 1, record, s,
					   &err), 0);
	assert_int_equal(count_prefix(s, "dk-2026/"), 0);
	assert_null(find_rec(s, "dk-2024/four-in-six", false, CD_DL_CANCELLED));
}

static void test_commencement_moves_a_running_course_to_dk_2026_at_its_first_instant(void **state)
{
	cd_engine_config cfg;
	cd_engine *e;
	cd_citizen c;
	cd_err err;
	recs s = { 0 };
	const rec *x;
	const cd_instant t = cd_cph_midnight(cd_date_from_ymd(2026, 7, 1));   /* 2026-06-30T22:00Z */
	(void)state;
	cd_engine_config_default(&cfg);
	cfg.law_transition = CD_LAW_COMMENCEMENT;
	e = cd_engine_new(rules, &cfg);
	assert_non_null(e);
	cd_citizen_init(&c);
	kontant_2026(e, &c, &s);
	s.n = 0;
	assert_int_equal(cd_engine_advance(e, &c, "p1", t, record, &s, &err), 0);
	for (int i = 0; i < s.n; i++)
		print_message("at 2026-07-01T00:00: %s %s %d reason %d\n", s.r[i].oid, s.r[i].is_breach ? "breach" : "deadline",
			      s.r[i].status, s.r[i].reason);
	x = find_rec(&s, "dk-2024/four-in-six", false, CD_DL_CANCELLED);
	if (!x)
		fail_msg("dk-2024/four-in-six was not CANCELLED at 2026-07-01T00:00");
	assert_int_equal(x->reason, CD_CANCEL_LAW_CHANGED);
	assert_int_equal(x->due, cd_date_from_ymd(2026, 11, 3));
	assert_true(x->as_of == t);
	x = find_rec(&s, "dk-2026/four-in-six", false, CD_DL_OPENED);
	if (!x)
		fail_msg("dk-2026/four-in-six was not OPENED at 2026-07-01T00:00");
	assert_true(x->as_of == t);
	/* first-within opens on a Registration under the new law only: not for a running course */
	assert_int_equal(count_prefix(&s, "dk-2026/first-within"), 0);
	s.n = 0;
	assert_int_equal(cd_engine_advance(e, &c, "p1", at(2026, 8, 1, 0), record, &s, &err), 0);
	assert_int_equal(count_prefix(&s, "dk-2026/first-within"), 0);
	assert_null(find_rec(&s, "dk-2024/four-in-six", true, CD_BR_BREACHED));
	cd_citizen_release(&c);
	cd_engine_free(e);
}

static void test_period_start_keeps_a_running_course_on_dk_2024(void **state)
{
	cd_engine_config cfg;
	cd_engine *e;
	cd_citizen c;
	cd_err err;
	recs s = { 0 };
	(void)state;
	cd_engine_config_default(&cfg);
	e = cd_engine_new(rules, &cfg);
	assert_non_null(e);
	cd_citizen_init(&c);
	kontant_2026(e, &c, &s);
	s.n = 0;
	assert_int_equal(cd_engine_advance(e, &c, "p1", at(2026, 7, 2, 0), record, &s, &err), 0);
	/* at most a pace WARNING of the running dk-2024 obligation: nothing cancelled, nothing of dk-2026 */
	for (int i = 0; i < s.n; i++) {
		print_message("to 2026-07-02: %s status %d reason %d\n", s.r[i].oid, s.r[i].status, s.r[i].reason);
		assert_int_equal(s.r[i].is_breach, false);
		assert_int_equal(s.r[i].status, CD_DL_WARNING);
	}
	assert_int_equal(count_prefix(&s, "dk-2026/"), 0);
	cd_citizen_release(&c);
	cd_engine_free(e);
}

/* engine.h documents law_transition's default: a caller's stack garbage must not decide it. */
static void test_engine_config_default_sets_law_transition_to_period_start(void **state)
{
	cd_engine_config cfg;
	(void)state;
	memset(&cfg, 0xff, sizeof(cfg));
	cfg.law_transition = CD_LAW_COMMENCEMENT;
	cd_engine_config_default(&cfg);
	assert_int_equal(cfg.grace_days, 0);
	assert_int_equal(cfg.warn_lead_days, 7);
	if (cfg.law_transition != CD_LAW_PERIOD_START)
		fail_msg("cd_engine_config_default left law_transition at %d", cfg.law_transition);
}

/* ---- merges and breaches ----------------------------------------------------------- */

static cd_event conv(const char *id, cd_instant t, int form)
{
	cd_event ev;
	cd_event_init(&ev);
	ev.event_id = ev.conv_id = id;
	ev.event_id_len = ev.conv_id_len = strlen(id);
	ev.citizen_id = "p1";
	ev.citizen_id_len = 2;
	ev.occurred_at = t;
	ev.kind = CD_EV_CONVERSATION;
	ev.form = (uint8_t)form;
	ev.held_by = CD_JOBCENTER;
	strcpy(ev.muni, "101");
	assert_int_equal(cd_event_validate(&ev, NULL), 0);
	return ev;
}

/*
 * Found by test_property (default seed, case 282). A dk-2024 UDDANNELSESHJAELP period from 2025-04-03 with three conversations
 * and a BenefitChange to UDDANNELSESHJAELP on 2025-10-01 (merged: renames the
 * period KONTANTHJAELP from that day) breaches four-in-six (due 2025-10-02)
 * on 2025-10-03 naming KONTANTHJAELP. A fourth conversation dated 2025-09-07,
 * delivered afterwards, retracts the breach. Its as_of is 2025-09-07, before
 * the rename; still, the RETRACTED must name the breach it withdraws,
 * benefit included.
 */
static void test_a_retraction_names_the_benefit_of_the_breach_it_withdraws(void **state)
{
	cd_engine *e = cd_engine_new(rules, NULL);
	cd_citizen c;
	cd_err err;
	recs s = { 0 };
	cd_event ev;
	const rec *br, *rt;
	(void)state;
	assert_non_null(e);
	cd_citizen_init(&c);
	ev = reg("r1", at(2025, 4, 3, 9), CD_UDDANNELSESHJAELP);
	ev.category = CD_AKTIVITETSPARAT;
	assert_int_equal(cd_engine_apply(e, &c, "p1", &ev, record, &s, &err), 0);
	ev = conv("c1", at(2025, 6, 15, 10), CD_IN_PERSON);
	assert_int_equal(cd_engine_apply(e, &c, "p1", &ev, record, &s, &err), 0);
	ev = conv("c2", at(2025, 7, 17, 10), CD_IN_PERSON);
	assert_int_equal(cd_engine_apply(e, &c, "p1", &ev, record, &s, &err), 0);
	ev = conv("c4", at(2025, 9, 22, 10), CD_VIDEO);
	assert_int_equal(cd_engine_apply(e, &c, "p1", &ev, record, &s, &err), 0);
	cd_event_init(&ev);
	ev.event_id = "b1";
	ev.event_id_len = 2;
	ev.citizen_id = "p1";
	ev.citizen_id_len = 2;
	ev.occurred_at = at(2025, 10, 1, 10);
	ev.kind = CD_EV_BENEFIT_CHANGE;
	ev.benefit = CD_UDDANNELSESHJAELP;
	ev.category = CD_AKTIVITETSPARAT;
	strcpy(ev.muni, "101");
	assert_int_equal(cd_engine_apply(e, &c, "p1", &ev, record, &s, &err), 0);
	assert_int_equal(cd_engine_advance(e, &c, "p1", at(2025, 12, 1, 0), record, &s, &err), 0);
	br = find_rec(&s, "dk-2024/four-in-six", true, CD_BR_BREACHED);
	if (!br)
		fail_msg("no breach of dk-2024/four-in-six (the fixture no longer reproduces)");
	assert_int_equal(br->benefit, CD_KONTANTHJAELP);
	ev = conv("c3", at(2025, 9, 7, 10), CD_PHONE);       /* late: dated before the breach and the rename */
	assert_int_equal(cd_engine_apply(e, &c, "p1", &ev, record, &s, &err), 0);
	rt = find_rec(&s, "dk-2024/four-in-six", true, CD_BR_RETRACTED);
	if (!rt)
		fail_msg("the late conversation did not retract the breach (the fixture no longer reproduces)");
	{
		int want = br->benefit, got = rt->benefit;
		cd_citizen_release(&c);
		cd_engine_free(e);
		if (got != want)
			fail_msg("BREACHED named %s, its RETRACTED names %s", cd_benefit_name(want),
				 cd_benefit_name(got));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_obligation_limit_refuses_the_input_and_changes_nothing),
		cmocka_unit_test(test_history_limit_names_the_limit),
		cmocka_unit_test(test_failing_output_callback_is_an_error),
		cmocka_unit_test(test_duplicate_input_emits_nothing_and_keeps_the_clock),
		cmocka_unit_test(test_two_engines_give_the_same_output_ids),
		cmocka_unit_test(test_commencement_moves_a_running_course_to_dk_2026_at_its_first_instant),
		cmocka_unit_test(test_period_start_keeps_a_running_course_on_dk_2024),
		cmocka_unit_test(test_engine_config_default_sets_law_transition_to_period_start),
		cmocka_unit_test(test_a_retraction_names_the_benefit_of_the_breach_it_withdraws),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
