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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_obligation_limit_refuses_the_input_and_changes_nothing),
		cmocka_unit_test(test_history_limit_names_the_limit),
		cmocka_unit_test(test_failing_output_callback_is_an_error),
		cmocka_unit_test(test_duplicate_input_emits_nothing_and_keeps_the_clock),
		cmocka_unit_test(test_two_engines_give_the_same_output_ids),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
