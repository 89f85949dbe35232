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
	assert_int_equal(cd_engine_apply(e, &c, "citizen-x9", &a, NULL, NULL, &err), 0);
	assert_int_equal(cd_engine_apply(e, &c, "citizen-x9", &b, NULL, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "history is full"));
	assert_non_null(strstr(err.msg, "e2"));
	assert_null(strstr(err.msg, "citizen-x9"));   /* messages are logged: they name the event, never the citizen */
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
	char agg[112];            /* obligation.aggregate_id */
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
		snprintf(x->agg, sizeof(x->agg), "%s", o->aggregate_id ? o->aggregate_id : "");
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

/* ---- share members (rules.md §4.1, engine.h cd_member) ------------------------------ */

/*
 * A collecting cd_member_fn, and an output callback on the same sequence, so
 * that a test can see what the aggregate stage was told and in which order.
 */
typedef struct mrec {
	char member_id[33];
	char aggregate_id[64];
	int key_kind;
	char key[CD_MAX_AKASSE_LEN + 8];
	char citizen_id[16];
	char oid[112];
	int outcome;
	cd_date due;
	int held, need, benefit;
	cd_instant as_of;
	char caused_by[64];
	int seq;                  /* position among outputs and member records */
} mrec;

typedef struct mlog {
	int n;
	mrec r[64];
	int seq;                  /* shared by outputs and member records */
	int fail;                 /* non-zero: the member callback returns it */
	recs out;                 /* the outputs, as record() keeps them */
	int out_seq[128];
	char out_caused_by[128][64];
} mlog;

static int on_member(void *ctx, const cd_member *m)
{
	mlog *l = ctx;
	if (l->n < 64) {
		mrec *x = &l->r[l->n];
		snprintf(x->member_id, sizeof(x->member_id), "%s", m->member_id);
		snprintf(x->aggregate_id, sizeof(x->aggregate_id), "%s", m->aggregate_id);
		x->key_kind = m->key_kind;
		snprintf(x->key, sizeof(x->key), "%s", m->key);
		snprintf(x->citizen_id, sizeof(x->citizen_id), "%s", m->citizen_id);
		snprintf(x->oid, sizeof(x->oid), "%s", m->obligation_id);
		x->outcome = m->outcome;
		x->due = m->due;
		x->held = m->held;
		x->need = m->need;
		x->benefit = m->benefit;
		x->as_of = m->as_of;
		snprintf(x->caused_by, sizeof(x->caused_by), "%s", m->caused_by);
		x->seq = l->seq;
	}
	l->n++;
	l->seq++;
	return l->fail;
}

static int on_output(void *ctx, const cd_output *o)
{
	mlog *l = ctx;
	if (l->out.n < 128) {
		l->out_seq[l->out.n] = l->seq;
		snprintf(l->out_caused_by[l->out.n], sizeof(l->out_caused_by[0]), "%s", o->caused_by);
	}
	l->seq++;
	return record(&l->out, o);
}

static cd_instant midnight(int y, int m, int d)
{
	return cd_cph_midnight(cd_date_from_ymd(y, m, d));
}

static cd_date ymd(int y, int m, int d)
{
	return cd_date_from_ymd(y, m, d);
}

static void apply_ok(cd_engine *e, cd_citizen *c, const char *cid, const cd_event *ev, mlog *l)
{
	cd_err err;
	if (cd_engine_apply(e, c, cid, ev, on_output, l, &err) != 0)
		fail_msg("%s: %s", ev->event_id, err.msg);
}

static void advance_ok(cd_engine *e, cd_citizen *c, const char *cid, cd_instant t, mlog *l)
{
	cd_err err;
	if (cd_engine_advance(e, c, cid, t, on_output, l, &err) != 0)
		fail_msg("advance: %s", err.msg);
}

/* A dk-2026 KONTANTHJAELP JOBPARAT first contact, Wednesday 2026-07-01, municipality 101 (S8). */
static cd_event kontant_reg(void)
{
	cd_event ev = reg("k1", at(2026, 7, 1, 10), CD_KONTANTHJAELP);
	ev.category = CD_JOBPARAT;
	return ev;
}

/* A DAGPENGE Registration (muni 101), dagpenge period from the business date unless dp given. */
static cd_event dp_reg(const char *id, cd_instant t, const char *akasse, cd_date dp)
{
	cd_event ev = reg(id, t, CD_DAGPENGE);
	ev.akasse_code = akasse;
	ev.akasse_code_len = strlen(akasse);
	ev.dp_start = dp;
	assert_int_equal(cd_event_validate(&ev, NULL), 0);
	return ev;
}

static cd_event with_recorded(cd_event ev, cd_instant recorded)
{
	ev.recorded_at = recorded;
	assert_int_equal(cd_event_validate(&ev, NULL), 0);
	return ev;
}

static cd_event akasse_conv(const char *id, cd_instant t)
{
	cd_event ev = conv(id, t, CD_PHONE);
	ev.held_by = CD_AKASSE;
	return ev;
}

static cd_event void_of(const char *id, const char *conv_id, cd_instant t)
{
	cd_event ev;
	cd_event_init(&ev);
	ev.event_id = id;
	ev.event_id_len = strlen(id);
	ev.conv_id = conv_id;
	ev.conv_id_len = strlen(conv_id);
	ev.citizen_id = "p1";
	ev.citizen_id_len = 2;
	ev.occurred_at = t;
	ev.kind = CD_EV_CONVERSATION;
	ev.voided = true;
	assert_int_equal(cd_event_validate(&ev, NULL), 0);
	return ev;
}

static cd_event shift_to(const char *id, cd_instant t, int benefit)
{
	cd_event ev;
	cd_event_init(&ev);
	ev.event_id = id;
	ev.event_id_len = strlen(id);
	ev.citizen_id = "p1";
	ev.citizen_id_len = 2;
	ev.occurred_at = t;
	ev.kind = CD_EV_BENEFIT_CHANGE;
	ev.benefit = (uint8_t)benefit;
	strcpy(ev.muni, "101");
	assert_int_equal(cd_event_validate(&ev, NULL), 0);
	return ev;
}

static cd_event exemption(const char *id, cd_instant t, int scope)
{
	cd_event ev;
	cd_event_init(&ev);
	ev.event_id = id;
	ev.event_id_len = strlen(id);
	ev.citizen_id = "p1";
	ev.citizen_id_len = 2;
	ev.occurred_at = t;
	ev.kind = CD_EV_EXEMPTION;
	ev.scope = (uint8_t)scope;
	assert_int_equal(cd_event_validate(&ev, NULL), 0);
	return ev;
}

static cd_engine *member_engine(int grace, mlog *l)
{
	cd_engine_config cfg;
	cd_engine *e;
	cd_engine_config_default(&cfg);
	cfg.grace_days = grace;
	e = cd_engine_new(rules, &cfg);
	assert_non_null(e);
	cd_engine_set_member_fn(e, on_member, l);
	return e;
}

static void print_members(const mlog *l, const char *when)
{
	for (int i = 0; i < l->n && i < 64; i++)
		print_message("%s: member %s %s outcome %d due %d held %d key %s (%d) caused_by '%s'\n", when,
			      l->r[i].oid, l->r[i].member_id, l->r[i].outcome, l->r[i].due, l->r[i].held, l->r[i].key,
			      l->r[i].key_kind, l->r[i].caused_by);
}

/* Exactly n member records; prints them otherwise. */
static void expect_members(const mlog *l, int n, const char *when)
{
	if (l->n != n) {
		print_members(l, when);
		fail_msg("%s: %d member records, expected %d", when, l->n, n);
	}
}

/* The one record of S8's four-in-six as the clock decides it with outcome, held, at `as_of`. */
static void expect_four_in_six(const mrec *r, int outcome, int held, cd_instant as_of, const char *caused_by)
{
	assert_int_equal(r->outcome, outcome);
	assert_string_equal(r->aggregate_id, "dk-2026/kommune-share");
	assert_int_equal(r->key_kind, CD_AGG_KEY_MUNICIPALITY);
	assert_string_equal(r->key, "101");
	assert_string_equal(r->citizen_id, "p1");
	assert_string_equal(r->oid, "dk-2026/four-in-six");
	assert_int_equal(r->due, ymd(2026, 12, 31));
	assert_int_equal(r->held, held);
	assert_int_equal(r->need, 0);             /* a SHARE member: what it owes is the share's */
	assert_int_equal(r->benefit, CD_KONTANTHJAELP);
	if (r->as_of != as_of)
		fail_msg("as_of %lld, expected %lld", (long long)r->as_of, (long long)as_of);
	assert_string_equal(r->caused_by, caused_by);
	assert_int_equal(strlen(r->member_id), 32);
}

/* S8 with no conversation: silent until 2027-01-01T00:00 Copenhagen, then one LAPSED record, then silent. */
static void test_an_unmet_four_in_six_member_is_decided_lapsed_at_the_start_of_the_day_after_its_due_date(void **state)
{
	static mlog l;
	cd_engine *e;
	cd_citizen c;
	cd_event ev = kontant_reg();
	(void)state;
	memset(&l, 0, sizeof(l));
	e = member_engine(0, &l);
	cd_citizen_init(&c);
	apply_ok(e, &c, "p1", &ev, &l);
	assert_non_null(find_rec(&l.out, "dk-2026/four-in-six", false, CD_DL_OPENED));
	advance_ok(e, &c, "p1", midnight(2027, 1, 1) - 1, &l);
	expect_members(&l, 0, "before 2027-01-01T00:00");
	advance_ok(e, &c, "p1", midnight(2027, 1, 1), &l);
	expect_members(&l, 1, "at 2027-01-01T00:00");
	assert_non_null(find_rec(&l.out, "dk-2026/four-in-six", false, CD_DL_LAPSED));
	expect_four_in_six(&l.r[0], CD_MEMBER_LAPSED, 0, midnight(2027, 1, 1), "");
	/* 2027-01-01T00:00 Copenhagen (CET) is 2026-12-31T23:00Z */
	assert_true(midnight(2027, 1, 1) == INT64_C(1798758000) * CD_NS_PER_SEC);
	advance_ok(e, &c, "p1", at(2027, 12, 31, 0), &l);
	expect_members(&l, 1, "the year after");
	cd_citizen_release(&c);
	cd_engine_free(e);
}

/* Met early by its 4th conversation: still nothing until the decision, then MET with every qualifying one held. */
static void test_a_member_met_early_is_decided_met_only_at_its_decision_instant_with_every_conversation_held(void **state)
{
	static const struct { const char *id; int m, d, form; } cv[] = {
		{ "c1", 7, 7, CD_IN_PERSON }, { "c2", 8, 25, CD_PHONE }, { "c3", 10, 20, CD_VIDEO },
		{ "c4", 11, 10, CD_IN_PERSON }, { "g1", 11, 20, CD_GROUP }, { "c5", 12, 15, CD_PHONE },
	};
	static mlog l;
	cd_engine *e;
	cd_citizen c;
	cd_event ev = kontant_reg();
	(void)state;
	memset(&l, 0, sizeof(l));
	e = member_engine(0, &l);
	cd_citizen_init(&c);
	apply_ok(e, &c, "p1", &ev, &l);
	for (size_t i = 0; i < sizeof(cv) / sizeof(cv[0]); i++) {
		ev = conv(cv[i].id, at(2026, cv[i].m, cv[i].d, 10), cv[i].form);
		apply_ok(e, &c, "p1", &ev, &l);
		if (!strcmp(cv[i].id, "c4"))
			assert_non_null(find_rec(&l.out, "dk-2026/four-in-six", false, CD_DL_MET));
	}
	advance_ok(e, &c, "p1", midnight(2027, 1, 1) - 1, &l);
	expect_members(&l, 0, "met, before the decision");
	advance_ok(e, &c, "p1", midnight(2027, 1, 1), &l);
	expect_members(&l, 1, "at the decision");
	/* five individual conversations in the window; GROUP does not count (S8) */
	expect_four_in_six(&l.r[0], CD_MEMBER_MET, 5, midnight(2027, 1, 1), "");
	/* a conversation after the window changes nothing */
	ev = conv("c6", at(2027, 1, 5, 10), CD_IN_PERSON);
	apply_ok(e, &c, "p1", &ev, &l);
	advance_ok(e, &c, "p1", at(2027, 6, 1, 0), &l);
	expect_members(&l, 1, "after a conversation outside the window");
	cd_citizen_release(&c);
	cd_engine_free(e);
}

/* LAPSED → MET by a late conversation dated in the window: a new record, as_of its event time, caused_by its id. */
static void test_a_late_conversation_in_the_window_turns_a_lapsed_member_met(void **state)
{
	static mlog l;
	cd_engine *e;
	cd_citizen c;
	cd_event ev = kontant_reg();
	const cd_instant late = at(2027, 1, 10, 9);
	(void)state;
	memset(&l, 0, sizeof(l));
	e = member_engine(0, &l);
	cd_citizen_init(&c);
	apply_ok(e, &c, "p1", &ev, &l);
	ev = conv("c1", at(2026, 7, 7, 10), CD_IN_PERSON);
	apply_ok(e, &c, "p1", &ev, &l);
	ev = conv("c2", at(2026, 8, 25, 10), CD_PHONE);
	apply_ok(e, &c, "p1", &ev, &l);
	ev = conv("c3", at(2026, 10, 20, 10), CD_VIDEO);
	apply_ok(e, &c, "p1", &ev, &l);
	advance_ok(e, &c, "p1", at(2027, 1, 5, 0), &l);
	expect_members(&l, 1, "decided");
	expect_four_in_six(&l.r[0], CD_MEMBER_LAPSED, 3, midnight(2027, 1, 1), "");
	ev = with_recorded(conv("late", at(2026, 12, 20, 10), CD_IN_PERSON), late);
	apply_ok(e, &c, "p1", &ev, &l);
	expect_members(&l, 2, "after the late conversation");
	assert_non_null(find_rec(&l.out, "dk-2026/four-in-six", false, CD_DL_MET));
	expect_four_in_six(&l.r[1], CD_MEMBER_MET, 4, late, "late");
	assert_string_equal(l.r[1].member_id, l.r[0].member_id);
	/* the same input again says nothing new */
	assert_int_equal(cd_engine_apply(e, &c, "p1", &ev, on_output, &l, &(cd_err){ { 0 }, 0 }), 1);
	advance_ok(e, &c, "p1", at(2027, 6, 1, 0), &l);
	expect_members(&l, 2, "after the duplicate");
	cd_citizen_release(&c);
	cd_engine_free(e);
}

/* MET → LAPSED by a void after the decision. */
static void test_a_void_after_the_decision_turns_a_met_member_lapsed(void **state)
{
	static mlog l;
	cd_engine *e;
	cd_citizen c;
	cd_event ev = kontant_reg();
	const cd_instant t = at(2027, 1, 5, 11);
	(void)state;
	memset(&l, 0, sizeof(l));
	e = member_engine(0, &l);
	cd_citizen_init(&c);
	apply_ok(e, &c, "p1", &ev, &l);
	ev = conv("c1", at(2026, 7, 7, 10), CD_IN_PERSON);
	apply_ok(e, &c, "p1", &ev, &l);
	ev = conv("c2", at(2026, 8, 25, 10), CD_PHONE);
	apply_ok(e, &c, "p1", &ev, &l);
	ev = conv("c3", at(2026, 10, 20, 10), CD_VIDEO);
	apply_ok(e, &c, "p1", &ev, &l);
	ev = conv("c4", at(2026, 12, 15, 10), CD_IN_PERSON);
	apply_ok(e, &c, "p1", &ev, &l);
	advance_ok(e, &c, "p1", at(2027, 1, 2, 0), &l);
	expect_members(&l, 1, "decided");
	expect_four_in_six(&l.r[0], CD_MEMBER_MET, 4, midnight(2027, 1, 1), "");
	ev = void_of("v2", "c2", t);
	apply_ok(e, &c, "p1", &ev, &l);
	expect_members(&l, 2, "after the void");
	assert_non_null(find_rec(&l.out, "dk-2026/four-in-six", false, CD_DL_LAPSED));
	expect_four_in_six(&l.r[1], CD_MEMBER_LAPSED, 3, t, "v2");
	assert_string_equal(l.r[1].member_id, l.r[0].member_id);
	assert_int_equal(cd_engine_apply(e, &c, "p1", &ev, on_output, &l, &(cd_err){ { 0 }, 0 }), 1);
	expect_members(&l, 2, "after the duplicate void");
	cd_citizen_release(&c);
	cd_engine_free(e);
}

/* Grace 2: decided at the start of 2027-01-03 (D + 1 + grace), due date unchanged. */
static void test_grace_moves_the_decision_to_the_start_of_d_plus_1_plus_grace(void **state)
{
	static mlog l;
	cd_engine *e;
	cd_citizen c;
	cd_event ev = kontant_reg();
	(void)state;
	memset(&l, 0, sizeof(l));
	e = member_engine(2, &l);
	cd_citizen_init(&c);
	apply_ok(e, &c, "p1", &ev, &l);
	advance_ok(e, &c, "p1", midnight(2027, 1, 3) - 1, &l);
	expect_members(&l, 0, "before 2027-01-03T00:00");
	advance_ok(e, &c, "p1", midnight(2027, 1, 3), &l);
	expect_members(&l, 1, "at 2027-01-03T00:00");
	expect_four_in_six(&l.r[0], CD_MEMBER_LAPSED, 0, midnight(2027, 1, 3), "");
	cd_citizen_release(&c);
	cd_engine_free(e);
}

/* An Exemption (KOMMUNE) before the due date: CANCELLED at once, EXEMPTED member at the decision instant. */
static void test_an_exempted_member_is_decided_exempted_at_its_decision_instant_not_at_the_exemption(void **state)
{
	static mlog l;
	cd_engine *e;
	cd_citizen c;
	cd_event ev = kontant_reg();
	const rec *x;
	(void)state;
	memset(&l, 0, sizeof(l));
	e = member_engine(0, &l);
	cd_citizen_init(&c);
	apply_ok(e, &c, "p1", &ev, &l);
	ev = conv("c1", at(2026, 7, 7, 10), CD_IN_PERSON);
	apply_ok(e, &c, "p1", &ev, &l);
	ev = exemption("x1", at(2026, 9, 1, 10), CD_SCOPE_KOMMUNE);
	apply_ok(e, &c, "p1", &ev, &l);
	x = find_rec(&l.out, "dk-2026/four-in-six", false, CD_DL_CANCELLED);
	if (!x)
		fail_msg("the Exemption did not cancel four-in-six");
	assert_int_equal(x->reason, CD_CANCEL_EXEMPTED);
	expect_members(&l, 0, "at the exemption");
	advance_ok(e, &c, "p1", midnight(2027, 1, 1) - 1, &l);
	expect_members(&l, 0, "before the decision");
	advance_ok(e, &c, "p1", midnight(2027, 1, 1), &l);
	expect_members(&l, 1, "at the decision");
	expect_four_in_six(&l.r[0], CD_MEMBER_EXEMPTED, 1, midnight(2027, 1, 1), "");
	advance_ok(e, &c, "p1", at(2027, 6, 1, 0), &l);
	expect_members(&l, 1, "after");
	cd_citizen_release(&c);
	cd_engine_free(e);
}

/* A benefit shift before the decision: the member is never decided, and says nothing. */
static void test_a_member_cancelled_by_a_benefit_shift_before_its_decision_says_nothing(void **state)
{
	static mlog l;
	cd_engine *e;
	cd_citizen c;
	cd_event ev = kontant_reg();
	const rec *x;
	(void)state;
	memset(&l, 0, sizeof(l));
	e = member_engine(0, &l);
	cd_citizen_init(&c);
	apply_ok(e, &c, "p1", &ev, &l);
	ev = shift_to("b1", at(2026, 10, 1, 10), CD_FOERTIDSPENSION);
	apply_ok(e, &c, "p1", &ev, &l);
	x = find_rec(&l.out, "dk-2026/four-in-six", false, CD_DL_CANCELLED);
	if (!x)
		fail_msg("the shift did not cancel four-in-six");
	assert_int_equal(x->reason, CD_CANCEL_BENEFIT_SHIFT);
	advance_ok(e, &c, "p1", at(2027, 12, 1, 0), &l);
	expect_members(&l, 0, "a year later");
	cd_citizen_release(&c);
	cd_engine_free(e);
}

/* A late benefit shift dated before the due date, delivered after the decision: the member leaves (UNDECIDED). */
static void test_a_late_benefit_shift_after_the_decision_makes_the_member_undecided(void **state)
{
	static mlog l;
	cd_engine *e;
	cd_citizen c;
	cd_event ev = kontant_reg();
	const cd_instant late = at(2027, 1, 5, 9);
	(void)state;
	memset(&l, 0, sizeof(l));
	e = member_engine(0, &l);
	cd_citizen_init(&c);
	apply_ok(e, &c, "p1", &ev, &l);
	advance_ok(e, &c, "p1", at(2027, 1, 2, 0), &l);
	expect_members(&l, 1, "decided");
	assert_int_equal(l.r[0].outcome, CD_MEMBER_LAPSED);
	ev = with_recorded(shift_to("b1", at(2026, 10, 1, 10), CD_FOERTIDSPENSION), late);
	apply_ok(e, &c, "p1", &ev, &l);
	expect_members(&l, 2, "after the late shift");
	assert_int_equal(l.r[1].outcome, CD_MEMBER_UNDECIDED);
	assert_string_equal(l.r[1].member_id, l.r[0].member_id);
	assert_string_equal(l.r[1].aggregate_id, "dk-2026/kommune-share");
	assert_string_equal(l.r[1].oid, "dk-2026/four-in-six");
	assert_true(l.r[1].as_of == late);
	assert_string_equal(l.r[1].caused_by, "b1");
	advance_ok(e, &c, "p1", at(2027, 12, 1, 0), &l);
	expect_members(&l, 2, "a year later");
	cd_citizen_release(&c);
	cd_engine_free(e);
}

/* The first record of obligation `oid` from index `from`, or NULL. */
static const mrec *find_member(const mlog *l, const char *oid, int from)
{
	for (int i = from; i < l->n && i < 64; i++)
		if (!strcmp(l->r[i].oid, oid))
			return &l->r[i];
	return NULL;
}

/* S9: DAGPENGE from Monday 2026-08-03; akasse-two ends 2026-11-02 (L = 92), decided 2026-11-03T00:00. */
static void test_an_akasse_two_member_is_keyed_by_the_akasse_code_of_its_registration(void **state)
{
	static mlog l;
	cd_engine *e;
	cd_citizen c;
	cd_event ev = dp_reg("r1", at(2026, 8, 3, 9), "AK1", CD_DATE_NONE);
	const mrec *m;
	(void)state;
	memset(&l, 0, sizeof(l));
	e = member_engine(0, &l);
	cd_citizen_init(&c);
	apply_ok(e, &c, "p1", &ev, &l);
	advance_ok(e, &c, "p1", midnight(2026, 11, 3) - 1, &l);
	expect_members(&l, 0, "before 2026-11-03T00:00");
	advance_ok(e, &c, "p1", midnight(2026, 11, 3), &l);
	expect_members(&l, 1, "at 2026-11-03T00:00");
	m = &l.r[0];
	assert_string_equal(m->oid, "dk-2026/akasse-two");
	assert_string_equal(m->aggregate_id, "dk-2026/akasse-share");
	assert_int_equal(m->key_kind, CD_AGG_KEY_AKASSE);
	assert_string_equal(m->key, "AK1");
	assert_int_equal(m->outcome, CD_MEMBER_LAPSED);
	assert_int_equal(m->due, ymd(2026, 11, 2));
	assert_int_equal(m->held, 0);
	assert_int_equal(m->benefit, CD_DAGPENGE);
	assert_true(m->as_of == midnight(2026, 11, 3));
	assert_string_equal(m->caused_by, "");
	cd_citizen_release(&c);
	cd_engine_free(e);
}

/* A resuming Registration with another code before the decision: the latest code keys the cohort. */
static void test_a_resuming_registration_with_another_akasse_code_before_the_decision_changes_the_key(void **state)
{
	static mlog l;
	cd_engine *e;
	cd_citizen c;
	cd_event ev = dp_reg("r1", at(2026, 8, 3, 9), "AK1", CD_DATE_NONE);
	const mrec *m;
	(void)state;
	memset(&l, 0, sizeof(l));
	e = member_engine(0, &l);
	cd_citizen_init(&c);
	apply_ok(e, &c, "p1", &ev, &l);
	cd_event_init(&ev);
	ev.event_id = "d1";
	ev.event_id_len = 2;
	ev.citizen_id = "p1";
	ev.citizen_id_len = 2;
	ev.occurred_at = at(2026, 9, 1, 9);
	ev.kind = CD_EV_DEREGISTRATION;
	assert_int_equal(cd_event_validate(&ev, NULL), 0);
	apply_ok(e, &c, "p1", &ev, &l);
	ev = dp_reg("r2", at(2026, 9, 11, 9), "AK2", ymd(2026, 8, 3));   /* resumes: 10 days paused */
	apply_ok(e, &c, "p1", &ev, &l);
	/* the window (cumulative clock) now ends 2026-11-12 (S4: a pause moves it by its length) */
	advance_ok(e, &c, "p1", midnight(2026, 11, 13) - 1, &l);
	expect_members(&l, 0, "before 2026-11-13T00:00");
	advance_ok(e, &c, "p1", midnight(2026, 11, 13), &l);
	expect_members(&l, 1, "at 2026-11-13T00:00");
	m = &l.r[0];
	assert_string_equal(m->oid, "dk-2026/akasse-two");
	assert_int_equal(m->due, ymd(2026, 11, 12));
	assert_int_equal(m->key_kind, CD_AGG_KEY_AKASSE);
	assert_string_equal(m->key, "AK2");
	cd_citizen_release(&c);
	cd_engine_free(e);
}

/*
 * A decided member whose key changes (a late input dated before its decision carries
 * another a-kasse code) is said to leave first, then to be decided under its new key:
 * live, the two keys may be counted by different partitions of the aggregate stage,
 * and only the old one can take it out of its cohort.
 */
static void test_a_decided_member_whose_key_changes_leaves_before_it_is_said_again(void **state)
{
	static mlog l;
	cd_engine *e;
	cd_citizen c;
	cd_event ev = dp_reg("r1", at(2026, 8, 3, 9), "AK1", CD_DATE_NONE);
	(void)state;
	memset(&l, 0, sizeof(l));
	e = member_engine(0, &l);
	cd_citizen_init(&c);
	apply_ok(e, &c, "p1", &ev, &l);
	advance_ok(e, &c, "p1", midnight(2026, 11, 4), &l);
	expect_members(&l, 1, "decided");
	assert_string_equal(l.r[0].oid, "dk-2026/akasse-two");
	assert_string_equal(l.r[0].key, "AK1");
	/* a BenefitChange to the benefit it is on changes no period, only the a-kasse code */
	ev = shift_to("b1", at(2026, 9, 1, 9), CD_DAGPENGE);
	ev.akasse_code = "AK9";
	ev.akasse_code_len = 3;
	ev = with_recorded(ev, at(2026, 11, 20, 9));
	apply_ok(e, &c, "p1", &ev, &l);
	if (l.n < 3) {
		print_members(&l, "after the late registration");
		fail_msg("%d member records: expected the old key's leaving and the new key's", l.n);
	}
	assert_string_equal(l.r[1].member_id, l.r[0].member_id);
	assert_int_equal(l.r[1].outcome, CD_MEMBER_UNDECIDED);
	assert_string_equal(l.r[2].member_id, l.r[0].member_id);
	assert_int_equal(l.r[2].outcome, l.r[0].outcome);
	assert_string_equal(l.r[2].key, "AK9");
	cd_citizen_release(&c);
	cd_engine_free(e);
}

/* No akasse_code on any input of the period: the key is "unknown". */
static void test_an_akasse_two_member_without_a_code_is_keyed_unknown(void **state)
{
	static mlog l;
	cd_engine *e;
	cd_citizen c;
	cd_event ev = dp_reg("r1", at(2026, 8, 3, 9), "", CD_DATE_NONE);
	(void)state;
	memset(&l, 0, sizeof(l));
	e = member_engine(0, &l);
	cd_citizen_init(&c);
	apply_ok(e, &c, "p1", &ev, &l);
	advance_ok(e, &c, "p1", midnight(2026, 11, 3), &l);
	expect_members(&l, 1, "at 2026-11-03T00:00");
	assert_string_equal(l.r[0].oid, "dk-2026/akasse-two");
	assert_int_equal(l.r[0].key_kind, CD_AGG_KEY_AKASSE);
	assert_string_equal(l.r[0].key, "unknown");
	cd_citizen_release(&c);
	cd_engine_free(e);
}

/*
 * A code carried only after the decision changes nothing: no record when it
 * arrives, and a later change of the outcome (two late a-kasse conversations
 * dated in the window) still names the code of before the decision.
 */
static void test_an_akasse_code_carried_only_after_the_decision_does_not_change_the_key(void **state)
{
	static mlog l;
	cd_engine *e;
	cd_citizen c;
	cd_event ev = dp_reg("r1", at(2026, 8, 3, 9), "AK1", CD_DATE_NONE);
	(void)state;
	memset(&l, 0, sizeof(l));
	e = member_engine(0, &l);
	cd_citizen_init(&c);
	apply_ok(e, &c, "p1", &ev, &l);
	advance_ok(e, &c, "p1", at(2026, 11, 5, 0), &l);
	expect_members(&l, 1, "decided");
	assert_string_equal(l.r[0].key, "AK1");
	ev = dp_reg("r2", at(2026, 11, 10, 9), "AK9", ymd(2026, 8, 3));    /* already registered (D1): carries AK9 */
	apply_ok(e, &c, "p1", &ev, &l);
	expect_members(&l, 1, "after a code carried after the decision");
	ev = with_recorded(akasse_conv("a1", at(2026, 9, 1, 10)), at(2026, 11, 20, 9));
	apply_ok(e, &c, "p1", &ev, &l);
	/* held is part of what is said: LAPSED with held 1 */
	expect_members(&l, 2, "after a late a-kasse conversation");
	assert_int_equal(l.r[1].outcome, CD_MEMBER_LAPSED);
	assert_int_equal(l.r[1].held, 1);
	assert_string_equal(l.r[1].key, "AK1");
	assert_string_equal(l.r[1].caused_by, "a1");
	ev = with_recorded(akasse_conv("a2", at(2026, 10, 1, 10)), at(2026, 11, 21, 9));
	apply_ok(e, &c, "p1", &ev, &l);
	expect_members(&l, 3, "after two late a-kasse conversations");
	assert_string_equal(l.r[2].oid, "dk-2026/akasse-two");
	assert_int_equal(l.r[2].outcome, CD_MEMBER_MET);
	assert_int_equal(l.r[2].held, 2);
	assert_string_equal(l.r[2].key, "AK1");
	assert_string_equal(l.r[2].caused_by, "a2");
	assert_true(l.r[2].as_of == at(2026, 11, 21, 9));
	for (int i = 1; i < 3; i++)
		assert_string_equal(l.r[i].member_id, l.r[0].member_id);
	cd_citizen_release(&c);
	cd_engine_free(e);
}

/* S8 with a late conversation and a void: every kind of output. */
static void s8_with_changes(cd_engine *e, cd_citizen *c, mlog *l)
{
	cd_event ev = kontant_reg();
	apply_ok(e, c, "p1", &ev, l);
	ev = conv("c1", at(2026, 7, 9, 10), CD_IN_PERSON);
	apply_ok(e, c, "p1", &ev, l);
	ev = conv("c2", at(2026, 8, 25, 10), CD_PHONE);
	apply_ok(e, c, "p1", &ev, l);
	ev = conv("c3", at(2026, 10, 20, 10), CD_VIDEO);
	apply_ok(e, c, "p1", &ev, l);
	advance_ok(e, c, "p1", at(2027, 1, 5, 0), l);
	ev = with_recorded(conv("late", at(2026, 12, 20, 10), CD_IN_PERSON), at(2027, 1, 10, 9));
	apply_ok(e, c, "p1", &ev, l);
	ev = void_of("v3", "c3", at(2027, 1, 12, 9));
	apply_ok(e, c, "p1", &ev, l);
	advance_ok(e, c, "p1", at(2027, 6, 1, 0), l);
}

/* Without a member callback nothing is called, nothing is recorded as said, and the outputs are the same. */
static void test_without_a_member_callback_nothing_is_called_and_the_outputs_are_the_same(void **state)
{
	static mlog with, without;
	cd_engine *e;
	cd_citizen c;
	(void)state;
	memset(&with, 0, sizeof(with));
	memset(&without, 0, sizeof(without));

	e = member_engine(0, &with);
	cd_citizen_init(&c);
	s8_with_changes(e, &c, &with);
	cd_citizen_release(&c);
	cd_engine_free(e);
	expect_members(&with, 3, "with a callback");      /* LAPSED, MET, LAPSED */

	e = member_engine(0, &without);
	cd_engine_set_member_fn(e, NULL, NULL);
	cd_citizen_init(&c);
	s8_with_changes(e, &c, &without);
	assert_int_equal(without.n, 0);
	for (size_t i = 0; i < c.n_ob; i++)
		assert_int_equal(c.ob[i].agg, CD_MEMBER_UNDECIDED);
	cd_citizen_release(&c);
	cd_engine_free(e);

	assert_true(with.out.n > 0);
	assert_int_equal(with.out.n, without.out.n);
	for (int i = 0; i < with.out.n; i++) {
		const rec *a = &with.out.r[i], *b = &without.out.r[i];
		assert_string_equal(a->oid, b->oid);
		assert_int_equal(a->is_breach, b->is_breach);
		assert_int_equal(a->status, b->status);
		assert_int_equal(a->reason, b->reason);
		assert_int_equal(a->due, b->due);
		assert_true(a->as_of == b->as_of);
		assert_string_equal(with.out_caused_by[i], without.out_caused_by[i]);
	}
}

/* member_id: the same for every record of one member; different for another obligation, or another citizen. */
static void test_member_ids_are_stable_per_member_and_differ_between_members(void **state)
{
	static mlog l, l2;
	cd_engine *e;
	cd_citizen c;
	cd_event ev;
	const mrec *a, *k, *a2;
	(void)state;
	memset(&l, 0, sizeof(l));
	memset(&l2, 0, sizeof(l2));
	for (int who = 0; who < 2; who++) {
		mlog *lg = who ? &l2 : &l;
		const char *cid = who ? "p2" : "p1";
		e = member_engine(0, lg);
		cd_citizen_init(&c);
		ev = dp_reg("r1", at(2026, 8, 3, 9), "AK1", CD_DATE_NONE);
		apply_ok(e, &c, cid, &ev, lg);
		/* kommune-two's window (2026-11-03, 2027-02-02]: decided 2027-02-03T00:00 */
		advance_ok(e, &c, cid, midnight(2027, 2, 3), lg);
		ev = with_recorded(akasse_conv("a1", at(2026, 9, 1, 10)), at(2027, 2, 10, 9));
		apply_ok(e, &c, cid, &ev, lg);
		ev = with_recorded(akasse_conv("a2", at(2026, 10, 1, 10)), at(2027, 2, 11, 9));
		apply_ok(e, &c, cid, &ev, lg);
		cd_citizen_release(&c);
		cd_engine_free(e);
	}
	/* akasse-two LAPSED (held 0), kommune-two LAPSED, akasse-two LAPSED (held 1), akasse-two MET (held 2) */
	expect_members(&l, 4, "p1");
	a = find_member(&l, "dk-2026/akasse-two", 0);
	k = find_member(&l, "dk-2026/kommune-two", 0);
	assert_non_null(a);
	assert_non_null(k);
	assert_string_equal(k->aggregate_id, "dk-2026/kommune-share");
	assert_int_equal(k->key_kind, CD_AGG_KEY_MUNICIPALITY);
	assert_string_equal(k->key, "101");
	assert_int_equal(k->due, ymd(2027, 2, 2));
	assert_string_not_equal(a->member_id, k->member_id);
	for (int from = (int)(a - l.r) + 1; (a2 = find_member(&l, "dk-2026/akasse-two", from)) != NULL;
	     from = (int)(a2 - l.r) + 1)
		assert_string_equal(a2->member_id, a->member_id);
	assert_int_equal(l.r[3].outcome, CD_MEMBER_MET);
	/* the same inputs for another citizen: other members */
	expect_members(&l2, 4, "p2");
	for (int i = 0; i < 4; i++) {
		assert_string_equal(l2.r[i].citizen_id, "p2");
		for (int j = 0; j < 4; j++)
			assert_string_not_equal(l2.r[i].member_id, l.r[j].member_id);
	}
}

/* engine.h: a non-zero return from the member callback fails the call like a failing output callback. */
static void test_a_failing_member_callback_fails_the_call(void **state)
{
	static mlog l;
	cd_engine *e;
	cd_citizen c;
	cd_event ev = kontant_reg();
	cd_err err;
	(void)state;
	memset(&l, 0, sizeof(l));
	l.fail = 1;
	e = member_engine(0, &l);
	cd_citizen_init(&c);
	apply_ok(e, &c, "p1", &ev, &l);
	assert_int_equal(cd_engine_advance(e, &c, "p1", at(2027, 1, 2, 0), on_output, &l, &err), -1);
	assert_non_null(strstr(err.msg, "callback"));
	assert_int_equal(l.n, 1);
	cd_citizen_release(&c);
	cd_engine_free(e);
}

/* What was said is kept in the citizen record (version 3): a citizen read back says nothing twice. */
static void test_a_decided_member_read_back_from_its_record_is_not_said_again(void **state)
{
	static mlog l;
	cd_engine *e;
	cd_citizen c, back;
	cd_buf out;
	cd_err err;
	cd_event ev = kontant_reg();
	(void)state;
	memset(&l, 0, sizeof(l));
	e = member_engine(0, &l);
	cd_citizen_init(&c);
	cd_citizen_init(&back);
	cd_buf_init(&out, 1 << 20);
	apply_ok(e, &c, "p1", &ev, &l);
	ev = conv("c1", at(2026, 7, 7, 10), CD_IN_PERSON);
	apply_ok(e, &c, "p1", &ev, &l);
	advance_ok(e, &c, "p1", at(2027, 1, 2, 0), &l);
	expect_members(&l, 1, "decided");
	assert_int_equal(cd_citizen_encode(&c, &out), 0);
	assert_int_equal(cd_citizen_decode(&back, (const uint8_t *)out.data, out.len, &err), 0);
	cd_engine_free(e);
	e = member_engine(0, &l);             /* another engine, as after a restart */
	advance_ok(e, &back, "p1", at(2027, 6, 1, 0), &l);
	ev = conv("c9", at(2027, 2, 1, 10), CD_IN_PERSON);   /* any input: a full re-evaluation */
	apply_ok(e, &back, "p1", &ev, &l);
	expect_members(&l, 1, "read back, re-evaluated");
	ev = with_recorded(conv("late", at(2026, 12, 20, 10), CD_IN_PERSON), at(2027, 6, 2, 9));
	apply_ok(e, &back, "p1", &ev, &l);
	expect_members(&l, 2, "read back, a late conversation");
	expect_four_in_six(&l.r[1], CD_MEMBER_LAPSED, 2, at(2027, 6, 2, 9), "late");
	cd_buf_release(&out);
	cd_citizen_release(&c);
	cd_citizen_release(&back);
	cd_engine_free(e);
}

/* A late Exemption dated before the due date, delivered after the decision: LAPSED → EXEMPTED. */
static void test_a_late_exemption_turns_a_lapsed_member_exempted(void **state)
{
	static mlog l;
	cd_engine *e;
	cd_citizen c;
	cd_event ev = kontant_reg();
	const cd_instant late = at(2027, 1, 7, 9);
	(void)state;
	memset(&l, 0, sizeof(l));
	e = member_engine(0, &l);
	cd_citizen_init(&c);
	apply_ok(e, &c, "p1", &ev, &l);
	advance_ok(e, &c, "p1", at(2027, 1, 2, 0), &l);
	expect_members(&l, 1, "decided");
	ev = with_recorded(exemption("x1", at(2026, 11, 1, 10), CD_SCOPE_KOMMUNE), late);
	apply_ok(e, &c, "p1", &ev, &l);
	expect_members(&l, 2, "after the late exemption");
	expect_four_in_six(&l.r[1], CD_MEMBER_EXEMPTED, 0, late, "x1");
	cd_citizen_release(&c);
	cd_engine_free(e);
}

/* D35: an exempted member whose period then ends by a shift before its window does is out of the share. */
static void test_an_exempted_member_whose_period_ends_first_is_never_decided(void **state)
{
	static mlog l;
	cd_engine *e;
	cd_citizen c;
	cd_event ev = kontant_reg();
	(void)state;
	memset(&l, 0, sizeof(l));
	e = member_engine(0, &l);
	cd_citizen_init(&c);
	apply_ok(e, &c, "p1", &ev, &l);
	ev = exemption("x1", at(2026, 9, 1, 10), CD_SCOPE_KOMMUNE);
	apply_ok(e, &c, "p1", &ev, &l);
	ev = shift_to("b1", at(2026, 10, 1, 10), CD_FOERTIDSPENSION);
	apply_ok(e, &c, "p1", &ev, &l);
	advance_ok(e, &c, "p1", at(2027, 6, 1, 0), &l);
	expect_members(&l, 0, "exempted, then shifted");
	cd_citizen_release(&c);
	cd_engine_free(e);
}

/*
 * D36: an input that moves a decided member's window later makes it undecided
 * again. A late deregistration (dated before akasse-two's due date, delivered
 * after its decision) pauses the dagpenge period: the member leaves its cohort
 * (UNDECIDED); the resuming Registration gives it a new due date, and it is
 * decided again at the start of the day after.
 */
static void test_a_late_pause_undecides_a_member_and_the_resumed_window_decides_it_again(void **state)
{
	static mlog l;
	cd_engine *e;
	cd_citizen c;
	cd_event ev = dp_reg("r1", at(2026, 8, 3, 9), "AK1", CD_DATE_NONE);
	(void)state;
	memset(&l, 0, sizeof(l));
	e = member_engine(0, &l);
	cd_citizen_init(&c);
	apply_ok(e, &c, "p1", &ev, &l);
	advance_ok(e, &c, "p1", at(2026, 11, 4, 0), &l);
	expect_members(&l, 1, "decided");
	assert_int_equal(l.r[0].due, ymd(2026, 11, 2));
	cd_event_init(&ev);
	ev.event_id = "d1";
	ev.event_id_len = 2;
	ev.citizen_id = "p1";
	ev.citizen_id_len = 2;
	ev.occurred_at = at(2026, 10, 1, 9);
	ev.recorded_at = at(2026, 11, 4, 9);
	ev.kind = CD_EV_DEREGISTRATION;
	assert_int_equal(cd_event_validate(&ev, NULL), 0);
	apply_ok(e, &c, "p1", &ev, &l);
	expect_members(&l, 2, "after the late deregistration");
	assert_int_equal(l.r[1].outcome, CD_MEMBER_UNDECIDED);
	assert_string_equal(l.r[1].caused_by, "d1");
	assert_string_equal(l.r[1].member_id, l.r[0].member_id);
	/* resumed on 2026-11-10: 40 days paused, so the window ends 2026-12-12 */
	ev = dp_reg("r2", at(2026, 11, 10, 9), "AK1", ymd(2026, 8, 3));
	apply_ok(e, &c, "p1", &ev, &l);
	advance_ok(e, &c, "p1", midnight(2026, 12, 13) - 1, &l);
	expect_members(&l, 2, "before the new decision");
	advance_ok(e, &c, "p1", midnight(2026, 12, 13), &l);
	expect_members(&l, 3, "at the new decision");
	assert_int_equal(l.r[2].outcome, CD_MEMBER_LAPSED);
	assert_int_equal(l.r[2].due, ymd(2026, 12, 12));
	assert_string_equal(l.r[2].key, "AK1");
	assert_true(l.r[2].as_of == midnight(2026, 12, 13));
	cd_citizen_release(&c);
	cd_engine_free(e);
}

/*
 * engine.h: member outcomes are "called during apply/advance, after the
 * outputs of the same step". A late benefit shift out of DAGPENGE, dated
 * before akasse-two's due date and delivered after its decision, cancels
 * akasse-two (the member leaves: UNDECIDED) and the period's other
 * obligations (kommune-two, joint-16m) in one step: the member record must
 * come after every output that input caused.
 */
static void test_member_records_come_after_the_outputs_of_the_same_step(void **state)
{
	static mlog l;
	cd_engine *e;
	cd_citizen c;
	cd_event ev = dp_reg("r1", at(2026, 8, 3, 9), "AK1", CD_DATE_NONE);
	const mrec *m;
	int last_out = -1, n_out = 0;
	(void)state;
	memset(&l, 0, sizeof(l));
	e = member_engine(0, &l);
	cd_citizen_init(&c);
	apply_ok(e, &c, "p1", &ev, &l);
	advance_ok(e, &c, "p1", midnight(2026, 11, 5), &l);
	expect_members(&l, 1, "decided");
	l.out.n = 0;
	ev = with_recorded(shift_to("b1", at(2026, 10, 1, 10), CD_FOERTIDSPENSION), at(2026, 11, 5, 9));
	apply_ok(e, &c, "p1", &ev, &l);
	expect_members(&l, 2, "after the late shift");
	m = &l.r[1];
	assert_int_equal(m->outcome, CD_MEMBER_UNDECIDED);
	assert_string_equal(m->caused_by, "b1");
	for (int i = 0; i < l.out.n; i++) {
		print_message("output %d: %s status %d reason %d caused_by '%s'\n", l.out_seq[i], l.out.r[i].oid,
			      l.out.r[i].status, l.out.r[i].reason, l.out_caused_by[i]);
		if (!strcmp(l.out_caused_by[i], "b1")) {
			n_out++;
			if (l.out_seq[i] > last_out)
				last_out = l.out_seq[i];
		}
	}
	print_message("member record: %d\n", m->seq);
	assert_true(n_out >= 2);
	{
		int seq = m->seq;
		cd_citizen_release(&c);
		cd_engine_free(e);
		if (seq < last_out)
			fail_msg("the member record (position %d) came before an output of the same step (position %d)", seq,
				 last_out);
	}
}

/* ---- frikommune-nordjylland: national counts as AVERAGE members (D21) -------------- */

/* The shipped rules with only frikommune-nordjylland, for Frederikshavn (813). */
static cd_rules *nordjylland_rules(void)
{
	cd_rules *r = NULL;
	cd_err err;
	if (cd_rules_load(getenv("CD_RULES") ? getenv("CD_RULES") : "rules", NULL, &r, &err) < 0 ||
	    cd_rules_set_overlays(r, "frikommune-nordjylland@813", &err) < 0)
		fail_msg("%s", err.msg);
	return r;
}

static cd_event in_813(cd_event ev)
{
	strcpy(ev.muni, "813");
	assert_int_equal(cd_event_validate(&ev, NULL), 0);
	return ev;
}

/*
 * dk-2020 KONTANTHJAELP JOBPARAT from Monday 2020-03-02 in 813, one GROUP conversation
 * (it counts: every form does): four-in-six (window to add_months(03-02, 6) - 1 =
 * 2020-09-01) is a member of average-kontanthjaelp and tells the aggregate stage it
 * owes 4 (need), LAPSED with held 1 at the start of 2020-09-02, never BREACHED;
 * first-within is never opened.
 */
static void test_a_nordjylland_member_owes_its_own_count(void **state)
{
	static mlog l;
	cd_rules *r = nordjylland_rules();
	cd_engine_config cfg;
	cd_engine *e;
	cd_citizen c;
	cd_event ev = in_813(reg("n1", at(2020, 3, 2, 9), CD_KONTANTHJAELP));
	(void)state;
	memset(&l, 0, sizeof(l));
	cd_engine_config_default(&cfg);
	e = cd_engine_new(r, &cfg);
	cd_engine_set_member_fn(e, on_member, &l);
	cd_citizen_init(&c);
	ev.category = CD_JOBPARAT;
	apply_ok(e, &c, "p1", &ev, &l);
	ev = in_813(conv("g1", at(2020, 3, 20, 10), CD_GROUP));
	apply_ok(e, &c, "p1", &ev, &l);
	advance_ok(e, &c, "p1", midnight(2020, 9, 2) - 1, &l);
	expect_members(&l, 0, "before 2020-09-02T00:00");
	advance_ok(e, &c, "p1", midnight(2020, 9, 2), &l);
	expect_members(&l, 1, "at 2020-09-02T00:00");
	assert_int_equal(l.r[0].outcome, CD_MEMBER_LAPSED);
	assert_string_equal(l.r[0].aggregate_id, "frikommune-nordjylland/average-kontanthjaelp");
	assert_int_equal(l.r[0].key_kind, CD_AGG_KEY_MUNICIPALITY);
	assert_string_equal(l.r[0].key, "813");
	assert_string_equal(l.r[0].oid, "dk-2020/four-in-six");
	assert_int_equal(l.r[0].due, ymd(2020, 9, 1));
	assert_int_equal(l.r[0].held, 1);
	assert_int_equal(l.r[0].need, 4);
	assert_int_equal(l.r[0].benefit, CD_KONTANTHJAELP);
	assert_true(l.r[0].as_of == midnight(2020, 9, 2));
	assert_non_null(find_rec(&l.out, "dk-2020/four-in-six", false, CD_DL_LAPSED));
	assert_null(find_rec(&l.out, "dk-2020/four-in-six", true, CD_BR_BREACHED));
	for (int i = 0; i < l.out.n; i++)
		if (!strcmp(l.out.r[i].oid, "dk-2020/first-within"))
			fail_msg("first-within was said (status %d)", l.out.r[i].status);
	cd_citizen_release(&c);
	cd_engine_free(e);
	cd_rules_free(r);
}

/*
 * dk-2015 KONTANTHJAELP JOBPARAT from Monday 2019-02-04 in 813: jobparat-first-3m (2 in
 * 2019-02-04 … 2019-05-03) and count-12m-1 (4 in 2019-02-04 … 2020-02-03) are members of
 * the same average-kontanthjaelp, each owing its own count: 2 and 4. Three PHONE
 * conversations (03-01, 04-01, 04-29): the second meets jobparat-first-3m, which is
 * decided MET with all 3 of its window held; count-12m-1 lapses with 3.
 */
static void test_nordjylland_members_of_one_average_owe_different_counts(void **state)
{
	static mlog l;
	cd_rules *r = nordjylland_rules();
	cd_engine_config cfg;
	cd_engine *e;
	cd_citizen c;
	cd_event ev = in_813(reg("n1", at(2019, 2, 4, 9), CD_KONTANTHJAELP));
	const mrec *m;
	(void)state;
	memset(&l, 0, sizeof(l));
	cd_engine_config_default(&cfg);
	cfg.warn_lead_days = 0;
	e = cd_engine_new(r, &cfg);
	cd_engine_set_member_fn(e, on_member, &l);
	cd_citizen_init(&c);
	ev.category = CD_JOBPARAT;
	apply_ok(e, &c, "p1", &ev, &l);
	ev = in_813(conv("c1", at(2019, 3, 1, 10), CD_PHONE));
	apply_ok(e, &c, "p1", &ev, &l);
	ev = in_813(conv("c2", at(2019, 4, 1, 10), CD_PHONE));
	apply_ok(e, &c, "p1", &ev, &l);
	ev = in_813(conv("c3", at(2019, 4, 29, 10), CD_PHONE));
	apply_ok(e, &c, "p1", &ev, &l);
	advance_ok(e, &c, "p1", midnight(2020, 2, 4), &l);
	expect_members(&l, 2, "at 2020-02-04T00:00");
	m = find_member(&l, "dk-2015/jobparat-first-3m", 0);
	assert_non_null(m);
	assert_int_equal(m->outcome, CD_MEMBER_MET);
	assert_string_equal(m->aggregate_id, "frikommune-nordjylland/average-kontanthjaelp");
	assert_int_equal(m->due, ymd(2019, 5, 3));
	assert_int_equal(m->held, 3);
	assert_int_equal(m->need, 2);
	assert_true(m->as_of == midnight(2019, 5, 4));
	m = find_member(&l, "dk-2015/count-12m-1", 0);
	assert_non_null(m);
	assert_int_equal(m->outcome, CD_MEMBER_LAPSED);
	assert_string_equal(m->aggregate_id, "frikommune-nordjylland/average-kontanthjaelp");
	assert_int_equal(m->due, ymd(2020, 2, 3));
	assert_int_equal(m->held, 3);
	assert_int_equal(m->need, 4);
	assert_true(m->as_of == midnight(2020, 2, 4));
	assert_null(find_rec(&l.out, "dk-2015/count-12m-1", true, CD_BR_BREACHED));
	assert_null(find_rec(&l.out, "dk-2015/first-within", false, CD_DL_OPENED));
	cd_citizen_release(&c);
	cd_engine_free(e);
	cd_rules_free(r);
}

/*
 * A decided Nordjylland member whose period a late input restructures (D7): a
 * Registration dated 2020-02-03, recorded 2020-09-10, makes the 2020-03-02 one a
 * continuation (D1), so the 2020-03-02 period and its members no longer exist. The
 * member that was decided LAPSED must leave its cohort (UNDECIDED) and its
 * CANCELLED (SUPERSEDED) must name its aggregate, as every event of a member does;
 * the same for a repeating window (dk-2015 count-12m-1, an instance id with a suffix).
 */
static void test_a_superseded_nordjylland_member_leaves_its_cohort(void **state)
{
	static const struct {
		int y, m, d;             /* the first Registration (JOBPARAT KONTANTHJAELP, 813) */
		int ly, lm, ld;          /* the late one, dated before it */
		const char *oid;
		cd_date due;             /* of the superseded member */
		int dy, dm, dd;          /* advanced to: after its decision */
	} cases[] = {
		{ 2020, 3, 2, 2020, 2, 3, "dk-2020/four-in-six", 0, 2020, 9, 5 },
		{ 2018, 3, 5, 2018, 2, 5, "dk-2015/count-12m-1", 0, 2019, 3, 8 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		static mlog l;
		cd_rules *r = nordjylland_rules();
		cd_engine_config cfg;
		cd_engine *e;
		cd_citizen c;
		cd_event ev = in_813(reg("n1", at(cases[i].y, cases[i].m, cases[i].d, 9), CD_KONTANTHJAELP));
		const mrec *first, *gone = NULL;
		const rec *cancelled = NULL;
		memset(&l, 0, sizeof(l));
		cd_engine_config_default(&cfg);
		cfg.warn_lead_days = 0;
		e = cd_engine_new(r, &cfg);
		cd_engine_set_member_fn(e, on_member, &l);
		cd_citizen_init(&c);
		ev.category = CD_JOBPARAT;
		apply_ok(e, &c, "p1", &ev, &l);
		advance_ok(e, &c, "p1", midnight(cases[i].dy, cases[i].dm, cases[i].dd), &l);
		first = find_member(&l, cases[i].oid, 0);
		if (!first)
			fail_msg("case %zu: %s was not decided", i, cases[i].oid);
		assert_int_equal(first->outcome, CD_MEMBER_LAPSED);
		l.out.n = 0;
		ev = in_813(reg("n0", at(cases[i].ly, cases[i].lm, cases[i].ld, 9), CD_KONTANTHJAELP));
		ev.category = CD_JOBPARAT;
		ev = with_recorded(ev, midnight(cases[i].dy, cases[i].dm, cases[i].dd) + 3600 * CD_NS_PER_SEC);
		apply_ok(e, &c, "p1", &ev, &l);
		print_members(&l, "after the late registration");
		for (int k = 0; k < l.n; k++)
			if (!strcmp(l.r[k].member_id, first->member_id) && k > (int)(first - l.r))
				gone = &l.r[k];
		if (!gone)
			fail_msg("case %zu: the superseded %s never left its cohort", i, cases[i].oid);
		assert_int_equal(gone->outcome, CD_MEMBER_UNDECIDED);
		assert_string_equal(gone->aggregate_id, "frikommune-nordjylland/average-kontanthjaelp");
		assert_string_equal(gone->caused_by, "n0");
		for (int k = 0; k < l.out.n; k++)
			if (l.out.r[k].status == CD_DL_CANCELLED && l.out.r[k].reason == CD_CANCEL_SUPERSEDED &&
			    !strcmp(l.out.r[k].oid, cases[i].oid) && !cancelled)
				cancelled = &l.out.r[k];
		if (!cancelled)
			fail_msg("case %zu: no CANCELLED SUPERSEDED for %s", i, cases[i].oid);
		assert_string_equal(cancelled->agg, "frikommune-nordjylland/average-kontanthjaelp");
		cd_citizen_release(&c);
		cd_engine_free(e);
		cd_rules_free(r);
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
		cmocka_unit_test(test_an_unmet_four_in_six_member_is_decided_lapsed_at_the_start_of_the_day_after_its_due_date),
		cmocka_unit_test(test_a_member_met_early_is_decided_met_only_at_its_decision_instant_with_every_conversation_held),
		cmocka_unit_test(test_a_late_conversation_in_the_window_turns_a_lapsed_member_met),
		cmocka_unit_test(test_a_void_after_the_decision_turns_a_met_member_lapsed),
		cmocka_unit_test(test_grace_moves_the_decision_to_the_start_of_d_plus_1_plus_grace),
		cmocka_unit_test(test_an_exempted_member_is_decided_exempted_at_its_decision_instant_not_at_the_exemption),
		cmocka_unit_test(test_a_member_cancelled_by_a_benefit_shift_before_its_decision_says_nothing),
		cmocka_unit_test(test_a_late_benefit_shift_after_the_decision_makes_the_member_undecided),
		cmocka_unit_test(test_an_akasse_two_member_is_keyed_by_the_akasse_code_of_its_registration),
		cmocka_unit_test(test_a_resuming_registration_with_another_akasse_code_before_the_decision_changes_the_key),
		cmocka_unit_test(test_a_decided_member_whose_key_changes_leaves_before_it_is_said_again),
		cmocka_unit_test(test_an_akasse_two_member_without_a_code_is_keyed_unknown),
		cmocka_unit_test(test_an_akasse_code_carried_only_after_the_decision_does_not_change_the_key),
		cmocka_unit_test(test_without_a_member_callback_nothing_is_called_and_the_outputs_are_the_same),
		cmocka_unit_test(test_member_ids_are_stable_per_member_and_differ_between_members),
		cmocka_unit_test(test_a_failing_member_callback_fails_the_call),
		cmocka_unit_test(test_a_decided_member_read_back_from_its_record_is_not_said_again),
		cmocka_unit_test(test_a_late_exemption_turns_a_lapsed_member_exempted),
		cmocka_unit_test(test_an_exempted_member_whose_period_ends_first_is_never_decided),
		cmocka_unit_test(test_a_late_pause_undecides_a_member_and_the_resumed_window_decides_it_again),
		cmocka_unit_test(test_member_records_come_after_the_outputs_of_the_same_step),
		cmocka_unit_test(test_a_nordjylland_member_owes_its_own_count),
		cmocka_unit_test(test_nordjylland_members_of_one_average_owe_different_counts),
		cmocka_unit_test(test_a_superseded_nordjylland_member_leaves_its_cohort),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
