/*
 * test_aggregate.c — the aggregate stage (state/aggregate.c, rules.md §4.1):
 * cohort arithmetic at its boundaries, reporting periods by due date, members
 * that move, leave or repeat, AVERAGE in hundredths, scenario S10 as §7 states
 * it, warnings, re-evaluation, order independence and event ids.
 *
 * Every expected value is written here by hand from the spec (instants as UTC
 * text, counts, required = ceil(0.75 N), explanations), never taken from the
 * code under test. The rules are built in memory: two dk-2026 shares and an
 * AVERAGE like frikommune-nordjylland's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "state/aggregate.h"

#define KOMMUNE "dk-2026/kommune-share"
#define AKASSE "dk-2026/akasse-share"
#define AVERAGE "frikommune-nordjylland/average-kontanthjaelp"

static cd_rules *rules;

static void add_agg(cd_ruleset *rs, size_t i, const char *set, const char *name, int kind, int key, int pct,
		    int required)
{
	cd_aggdef *d = &rs->aggs[i];
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->id, sizeof(d->id), "%s/%s", set, name);
	d->kind = (uint8_t)kind;
	d->key = (uint8_t)key;
	d->severity = CD_SEV_LEGAL;
	d->share_pct = pct;
	d->required = required;
	d->period = 'q';
	d->legal_ref = strdup("lov nr. 1750 af 29/12/2025");
	d->description = strdup("test aggregate");
}

static int setup(void **state)
{
	cd_ruleset *rs;
	(void)state;
	rules = cd_rules_new();
	rs = cd_rules_add(rules);
	snprintf(rs->id, sizeof(rs->id), "dk-2026");
	rs->aggs = calloc(2, sizeof(*rs->aggs));
	rs->n_aggs = 2;
	add_agg(rs, 0, "dk-2026", "kommune-share", CD_AGG_SHARE, CD_AGG_KEY_MUNICIPALITY, 75, 0);
	add_agg(rs, 1, "dk-2026", "akasse-share", CD_AGG_SHARE, CD_AGG_KEY_AKASSE, 75, 0);
	rs = cd_rules_add(rules);
	snprintf(rs->id, sizeof(rs->id), "frikommune-nordjylland");
	rs->overlay = true;
	rs->aggs = calloc(1, sizeof(*rs->aggs));
	rs->n_aggs = 1;
	add_agg(rs, 0, "frikommune-nordjylland", "average-kontanthjaelp", CD_AGG_AVERAGE, CD_AGG_KEY_MUNICIPALITY, 0, 4);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cd_rules_free(rules);
	return 0;
}

/* ---- helpers ---------------------------------------------------------------------- */

typedef struct rec {
	char id[33], agg[128], key[32], expl[512];
	int key_kind, status, kind, members, met, lapsed, exempted, required, held, severity;
	cd_date ps, pe;
	cd_agg_benefit ben[CD_BENEFIT_MAX + 1];
	size_t nb;
	cd_instant at;
} rec;

typedef struct sink {
	rec r[512];
	size_t n;
} sink;

static int collect(void *ctx, const cd_agg_output *o)
{
	sink *s = ctx;
	rec *r;
	assert_true(s->n < sizeof(s->r) / sizeof(s->r[0]));
	r = &s->r[s->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", o->event_id);
	snprintf(r->agg, sizeof(r->agg), "%s", o->aggregate_id);
	snprintf(r->key, sizeof(r->key), "%s", o->key);
	snprintf(r->expl, sizeof(r->expl), "%s", o->explanation);
	r->key_kind = o->key_kind;
	r->status = o->status;
	r->kind = o->kind;
	r->members = o->members;
	r->met = o->met;
	r->lapsed = o->lapsed;
	r->exempted = o->exempted;
	r->required = o->required;
	r->held = o->held;
	r->severity = o->severity;
	r->ps = o->period_start;
	r->pe = o->period_end;
	r->nb = o->n_by_benefit;
	memcpy(r->ben, o->by_benefit, o->n_by_benefit * sizeof(*o->by_benefit));
	r->at = o->detected_at;
	return 0;
}

static sink *sink_new(void)
{
	sink *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	return s;
}

static cd_instant at(const char *rfc3339)
{
	cd_instant t;
	assert_int_equal(cd_instant_parse_rfc3339(rfc3339, strlen(rfc3339), &t), 0);
	return t;
}

static cd_date day(const char *s)
{
	cd_date d;
	assert_int_equal(cd_date_parse(s, strlen(s), &d), 0);
	return d;
}

/* Member number k of citizen-less tests (a 32-hex-digit id), decided at as_of. */
static void feed_at(cd_aggregator *a, const char *agg, const char *key, int k, int outcome, const char *due, int held,
		    int benefit, cd_instant as_of)
{
	cd_member m;
	cd_err err;
	memset(&m, 0, sizeof(m));
	snprintf(m.member_id, sizeof(m.member_id), "%032x", (unsigned)k);
	m.aggregate_id = agg;
	m.key_kind = strcmp(agg, AKASSE) ? CD_AGG_KEY_MUNICIPALITY : CD_AGG_KEY_AKASSE;
	m.key = key;
	m.citizen_id = "c";
	m.obligation_id = "dk-2026/four-in-six";
	m.outcome = outcome;
	m.due = due ? day(due) : CD_DATE_NONE;
	m.held = held;
	m.benefit = benefit;
	m.as_of = as_of;
	m.caused_by = "";
	if (cd_agg_member(a, &m, &err) < 0)
		fail_msg("cd_agg_member: %s", err.msg);
}

/* The same, decided long before anything here (as_of 1970). */
static void feed(cd_aggregator *a, const char *agg, const char *key, int k, int outcome, const char *due, int held,
		 int benefit)
{
	feed_at(a, agg, key, k, outcome, due, held, benefit, 0);
}

static void advance(cd_aggregator *a, const char *t, sink *s)
{
	cd_err err;
	if (cd_agg_advance(a, at(t), collect, s, &err) < 0)
		fail_msg("cd_agg_advance: %s", err.msg);
}

static void assert_rec(const rec *r, int status, int members, int met, int lapsed, int exempted, int required,
		       int held, const char *detected)
{
	assert_int_equal(r->status, status);
	assert_int_equal(r->members, members);
	assert_int_equal(r->met, met);
	assert_int_equal(r->lapsed, lapsed);
	assert_int_equal(r->exempted, exempted);
	assert_int_equal(r->required, required);
	assert_int_equal(r->held, held);
	assert_true(r->at == at(detected));
}

static void assert_same(const sink *x, const sink *y)
{
	assert_int_equal(x->n, y->n);
	for (size_t i = 0; i < x->n; i++)
		assert_memory_equal(&x->r[i], &y->r[i], sizeof(rec));
}

/* Q1 2027 ends on 2027-03-31; its evaluation is at the start of 2027-04-01 in
 * Copenhagen, summer time since 2027-03-28: 2027-03-31T22:00:00Z. */
#define Q1_EVAL "2027-03-31T22:00:00Z"

/* ---- cohort arithmetic -------------------------------------------------------------- */

static void test_share_required_is_ceil_of_three_quarters(void **state)
{
	/* ceil(0.75 N), by hand */
	static const struct { int n, required; } table[] = {
		{ 1, 1 }, { 2, 2 }, { 3, 3 }, { 4, 3 }, { 5, 4 }, { 6, 5 }, { 7, 6 }, { 8, 6 }, { 40, 30 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		cd_aggregator *a = cd_agg_new(rules, 0, 0);
		sink *s = sink_new();
		int n = table[i].n, req = table[i].required, k = 0;
		/* municipality 101: exactly `required` met; 102: one fewer */
		for (int j = 0; j < n; j++)
			feed(a, KOMMUNE, "101", k++, j < req ? CD_MEMBER_MET : CD_MEMBER_LAPSED, "2027-02-15", 0, CD_KONTANTHJAELP);
		for (int j = 0; j < n; j++)
			feed(a, KOMMUNE, "102", k++, j < req - 1 ? CD_MEMBER_MET : CD_MEMBER_LAPSED, "2027-02-15", 0,
			     CD_KONTANTHJAELP);
		advance(a, "2027-03-31T21:59:59Z", s);
		assert_int_equal(s->n, 0);
		advance(a, Q1_EVAL, s);
		assert_int_equal(s->n, 2);
		assert_string_equal(s->r[0].key, "101");
		assert_rec(&s->r[0], CD_AGG_MET, n, req, n - req, 0, req, req, Q1_EVAL);
		assert_string_equal(s->r[1].key, "102");
		assert_rec(&s->r[1], CD_AGG_BREACHED, n, req - 1, n - req + 1, 0, req, req - 1, Q1_EVAL);
		cd_agg_free(a);
		free(s);
	}
}

static void test_no_decided_member_emits_nothing_until_one_comes(void **state)
{
	cd_aggregator *a = cd_agg_new(rules, 0, 7);
	sink *s = sink_new();
	(void)state;
	advance(a, "2027-06-01T00:00:00Z", s);
	assert_int_equal(s->n, 0);
	/* a member that joins and is cancelled again leaves an empty cohort */
	feed(a, KOMMUNE, "101", 1, CD_MEMBER_LAPSED, "2027-08-10", 0, CD_DAGPENGE);
	feed(a, KOMMUNE, "101", 1, CD_MEMBER_UNDECIDED, NULL, 0, CD_DAGPENGE);
	advance(a, "2027-10-02T00:00:00Z", s);     /* past Q3's warning and evaluation */
	assert_int_equal(s->n, 0);
	/* a member decided late: evaluated at the next advance, stamped with it */
	feed(a, KOMMUNE, "101", 2, CD_MEMBER_LAPSED, "2027-09-30", 1, CD_DAGPENGE);
	advance(a, "2027-10-05T10:00:00Z", s);
	assert_int_equal(s->n, 1);
	assert_rec(&s->r[0], CD_AGG_BREACHED, 1, 0, 1, 0, 1, 0, "2027-10-05T10:00:00Z");
	assert_true(s->r[0].ps == day("2027-07-01") && s->r[0].pe == day("2027-09-30"));
	cd_agg_free(a);
	free(s);
}

static void test_members_fall_in_the_quarter_of_their_due_date(void **state)
{
	cd_aggregator *a = cd_agg_new(rules, 0, 0);
	sink *s = sink_new();
	(void)state;
	feed(a, KOMMUNE, "101", 1, CD_MEMBER_MET, "2027-03-31", 4, CD_KONTANTHJAELP);
	feed(a, KOMMUNE, "101", 2, CD_MEMBER_LAPSED, "2027-04-01", 2, CD_KONTANTHJAELP);
	advance(a, Q1_EVAL, s);
	assert_int_equal(s->n, 1);
	assert_true(s->r[0].ps == day("2027-01-01") && s->r[0].pe == day("2027-03-31"));
	assert_rec(&s->r[0], CD_AGG_MET, 1, 1, 0, 0, 1, 1, Q1_EVAL);
	/* Q2 ends 2027-06-30: the start of 07-01 is 2027-06-30T22:00:00Z */
	advance(a, "2027-06-30T21:59:59Z", s);
	assert_int_equal(s->n, 1);
	advance(a, "2027-06-30T22:00:00Z", s);
	assert_int_equal(s->n, 2);
	assert_true(s->r[1].ps == day("2027-04-01") && s->r[1].pe == day("2027-06-30"));
	assert_rec(&s->r[1], CD_AGG_BREACHED, 1, 0, 1, 0, 1, 0, "2027-06-30T22:00:00Z");
	cd_agg_free(a);
	free(s);
}

static void test_a_member_whose_due_date_changes_moves_quarter(void **state)
{
	cd_aggregator *a = cd_agg_new(rules, 0, 0);
	sink *s = sink_new();
	(void)state;
	/* before evaluation: it simply belongs to the new quarter */
	feed(a, KOMMUNE, "101", 1, CD_MEMBER_MET, "2027-03-31", 4, CD_DAGPENGE);
	feed(a, KOMMUNE, "101", 1, CD_MEMBER_MET, "2027-04-02", 4, CD_DAGPENGE);
	advance(a, Q1_EVAL, s);
	assert_int_equal(s->n, 0);
	/* after Q2's evaluation (MET 1 of 1), a LAPSED member of Q2 moves into Q3 and back */
	feed(a, KOMMUNE, "101", 2, CD_MEMBER_LAPSED, "2027-05-01", 0, CD_DAGPENGE);
	advance(a, "2027-06-30T22:00:00Z", s);
	assert_int_equal(s->n, 1);
	assert_rec(&s->r[0], CD_AGG_BREACHED, 2, 1, 1, 0, 2, 1, "2027-06-30T22:00:00Z");
	feed(a, KOMMUNE, "101", 2, CD_MEMBER_LAPSED, "2027-07-01", 0, CD_DAGPENGE);
	advance(a, "2027-07-10T08:00:00Z", s);
	/* Q2 is now 1 of 1 met, required 1: RETRACTED (the BREACHED's counts), then MET */
	assert_int_equal(s->n, 3);
	assert_rec(&s->r[1], CD_AGG_RETRACTED, 2, 1, 1, 0, 2, 1, "2027-07-10T08:00:00Z");
	assert_rec(&s->r[2], CD_AGG_MET, 1, 1, 0, 0, 1, 1, "2027-07-10T08:00:00Z");
	assert_true(s->r[2].ps == day("2027-04-01"));
	cd_agg_free(a);
	free(s);
}

static void test_cancelled_members_leave_and_exempted_count_as_not_met(void **state)
{
	cd_aggregator *a = cd_agg_new(rules, 0, 0);
	sink *s = sink_new();
	(void)state;
	/* 101: 3 MET + 1 LAPSED would be MET (3 of 4, 3 required); one MET is cancelled:
	 * 2 of 3, required ceil(2.25) = 3: BREACHED */
	feed(a, KOMMUNE, "101", 1, CD_MEMBER_MET, "2027-01-10", 4, CD_KONTANTHJAELP);
	feed(a, KOMMUNE, "101", 2, CD_MEMBER_MET, "2027-01-11", 4, CD_KONTANTHJAELP);
	feed(a, KOMMUNE, "101", 3, CD_MEMBER_MET, "2027-01-12", 4, CD_KONTANTHJAELP);
	feed(a, KOMMUNE, "101", 4, CD_MEMBER_LAPSED, "2027-01-13", 1, CD_KONTANTHJAELP);
	feed(a, KOMMUNE, "101", 3, CD_MEMBER_UNDECIDED, NULL, 0, CD_KONTANTHJAELP);
	/* 102: 2 MET, 1 EXEMPTED, 1 LAPSED: 4 decided, 3 required, 2 held */
	feed(a, KOMMUNE, "102", 5, CD_MEMBER_MET, "2027-02-01", 4, CD_KONTANTHJAELP);
	feed(a, KOMMUNE, "102", 6, CD_MEMBER_MET, "2027-02-01", 4, CD_LEDIGHEDSYDELSE);
	feed(a, KOMMUNE, "102", 7, CD_MEMBER_EXEMPTED, "2027-02-01", 0, CD_KONTANTHJAELP);
	feed(a, KOMMUNE, "102", 8, CD_MEMBER_LAPSED, "2027-02-01", 3, CD_DAGPENGE);
	advance(a, Q1_EVAL, s);
	assert_int_equal(s->n, 2);
	assert_rec(&s->r[0], CD_AGG_BREACHED, 3, 2, 1, 0, 3, 2, Q1_EVAL);
	assert_rec(&s->r[1], CD_AGG_BREACHED, 4, 2, 1, 1, 3, 2, Q1_EVAL);
	assert_int_equal(s->r[1].nb, 3);   /* DAGPENGE, KONTANTHJAELP, LEDIGHEDSYDELSE */
	assert_int_equal(s->r[1].ben[0].benefit, CD_DAGPENGE);
	assert_int_equal(s->r[1].ben[0].members, 1);
	assert_int_equal(s->r[1].ben[0].met, 0);
	assert_int_equal(s->r[1].ben[1].benefit, CD_KONTANTHJAELP);
	assert_int_equal(s->r[1].ben[1].members, 2);
	assert_int_equal(s->r[1].ben[1].met, 1);
	assert_int_equal(s->r[1].ben[2].benefit, CD_LEDIGHEDSYDELSE);
	assert_int_equal(s->r[1].ben[2].members, 1);
	assert_int_equal(s->r[1].ben[2].met, 1);
	cd_agg_free(a);
	free(s);
}

static void test_duplicates_change_nothing(void **state)
{
	cd_aggregator *a = cd_agg_new(rules, 0, 0);
	sink *s = sink_new();
	(void)state;
	feed(a, KOMMUNE, "101", 1, CD_MEMBER_MET, "2027-01-10", 4, CD_KONTANTHJAELP);
	feed(a, KOMMUNE, "101", 1, CD_MEMBER_MET, "2027-01-10", 4, CD_KONTANTHJAELP);
	feed(a, KOMMUNE, "101", 2, CD_MEMBER_LAPSED, "2027-01-10", 1, CD_KONTANTHJAELP);
	feed(a, KOMMUNE, "101", 3, CD_MEMBER_UNDECIDED, NULL, 0, CD_KONTANTHJAELP);  /* never decided */
	advance(a, Q1_EVAL, s);
	assert_int_equal(s->n, 1);
	assert_rec(&s->r[0], CD_AGG_BREACHED, 2, 1, 1, 0, 2, 1, Q1_EVAL);
	feed(a, KOMMUNE, "101", 1, CD_MEMBER_MET, "2027-01-10", 4, CD_KONTANTHJAELP);
	feed(a, KOMMUNE, "101", 2, CD_MEMBER_LAPSED, "2027-01-10", 1, CD_KONTANTHJAELP);
	feed(a, KOMMUNE, "101", 3, CD_MEMBER_UNDECIDED, NULL, 0, CD_KONTANTHJAELP);
	advance(a, "2027-04-05T00:00:00Z", s);
	assert_int_equal(s->n, 1);
	cd_agg_free(a);
	free(s);
}

static void test_average_is_reported_in_hundredths(void **state)
{
	cd_aggregator *a = cd_agg_new(rules, 0, 0);
	sink *s = sink_new();
	(void)state;
	/* n = 4. 813: held 5 + 4 + 4 = 13 over 3: 433 hundredths (4.333…), 13 >= 12: MET */
	feed(a, AVERAGE, "813", 1, CD_MEMBER_MET, "2019-03-01", 5, CD_KONTANTHJAELP);
	feed(a, AVERAGE, "813", 2, CD_MEMBER_MET, "2019-03-02", 4, CD_KONTANTHJAELP);
	feed(a, AVERAGE, "813", 3, CD_MEMBER_MET, "2019-03-03", 4, CD_KONTANTHJAELP);
	/* 860: 4 + 4 + 3 = 11 over 3: 366 hundredths (floor of 366.67), 11 < 12: BREACHED */
	feed(a, AVERAGE, "860", 4, CD_MEMBER_MET, "2019-01-05", 4, CD_KONTANTHJAELP);
	feed(a, AVERAGE, "860", 5, CD_MEMBER_MET, "2019-01-06", 4, CD_KONTANTHJAELP);
	feed(a, AVERAGE, "860", 6, CD_MEMBER_LAPSED, "2019-01-07", 3, CD_KONTANTHJAELP);
	/* 2019-04-01 00:00 Copenhagen (summer time since 03-31) = 2019-03-31T22:00:00Z */
	advance(a, "2019-03-31T22:00:00Z", s);
	assert_int_equal(s->n, 2);
	assert_string_equal(s->r[0].key, "813");
	assert_int_equal(s->r[0].kind, CD_AGG_AVERAGE);
	assert_rec(&s->r[0], CD_AGG_MET, 3, 3, 0, 0, 400, 433, "2019-03-31T22:00:00Z");
	assert_string_equal(s->r[1].key, "860");
	assert_rec(&s->r[1], CD_AGG_BREACHED, 3, 2, 1, 0, 400, 366, "2019-03-31T22:00:00Z");
	assert_string_equal(s->r[1].expl,
			    AVERAGE " for municipality 860, 2019-01-01 \xe2\x80\xa6 2019-03-31: BREACHED, 3.66 conversations "
			    "on average over 3 decided members (4.00 required); 2 met, 0 exempted, 1 lapsed");
	/* exactly n on average is enough: a late conversation gives 860's LAPSED member 4 (12 >= 12) */
	feed(a, AVERAGE, "860", 6, CD_MEMBER_MET, "2019-01-07", 4, CD_KONTANTHJAELP);
	advance(a, "2019-04-02T00:00:00Z", s);
	assert_int_equal(s->n, 4);
	assert_rec(&s->r[2], CD_AGG_RETRACTED, 3, 2, 1, 0, 400, 366, "2019-04-02T00:00:00Z");
	assert_rec(&s->r[3], CD_AGG_MET, 3, 3, 0, 0, 400, 400, "2019-04-02T00:00:00Z");
	cd_agg_free(a);
	free(s);
}

/*
 * Members owing different counts (D21: frikommune-nordjylland's four-in-six, n = 4,
 * and a count-12m with n = 2 in one AVERAGE per benefit): the cohort owes the sum of
 * their counts. Held 3 + 2 = 5 against 4 + 2 = 6: BREACHED, required reported as
 * the average 300, held 250; one more conversation (4 + 2 = 6) meets it.
 */
static void test_average_of_members_owing_different_counts(void **state)
{
	cd_aggregator *a = cd_agg_new(rules, 0, 0);
	sink *s = sink_new();
	cd_member m;
	cd_err err;
	(void)state;
	memset(&m, 0, sizeof(m));
	m.aggregate_id = AVERAGE;
	m.key_kind = CD_AGG_KEY_MUNICIPALITY;
	m.key = "813";
	m.citizen_id = "c";
	m.obligation_id = "dk-2015/four-in-six";
	m.outcome = CD_MEMBER_MET;
	m.due = day("2019-02-01");
	m.held = 3;
	m.need = 4;
	m.benefit = CD_KONTANTHJAELP;
	m.caused_by = "";
	snprintf(m.member_id, sizeof(m.member_id), "%032x", 1u);
	assert_int_equal(cd_agg_member(a, &m, &err), 0);
	m.obligation_id = "dk-2015/count-12m";
	m.held = 2;
	m.need = 2;
	snprintf(m.member_id, sizeof(m.member_id), "%032x", 2u);
	assert_int_equal(cd_agg_member(a, &m, &err), 0);
	advance(a, "2019-03-31T22:00:00Z", s);
	assert_int_equal(s->n, 1);
	assert_rec(&s->r[0], CD_AGG_BREACHED, 2, 2, 0, 0, 300, 250, "2019-03-31T22:00:00Z");
	/* a need outside 0 … 1000 is refused */
	m.need = -1;
	assert_int_equal(cd_agg_member(a, &m, &err), -1);
	assert_non_null(strstr(err.msg, "need"));
	m.need = 2;
	m.held = 3;
	assert_int_equal(cd_agg_member(a, &m, &err), 0);
	advance(a, "2019-04-02T00:00:00Z", s);
	assert_int_equal(s->n, 3);
	assert_rec(&s->r[1], CD_AGG_RETRACTED, 2, 2, 0, 0, 300, 250, "2019-04-02T00:00:00Z");
	assert_rec(&s->r[2], CD_AGG_MET, 2, 2, 0, 0, 300, 300, "2019-04-02T00:00:00Z");
	cd_agg_free(a);
	free(s);
}

/* ---- persistence (the live stage's save and restore) ------------------------------ */

typedef struct saved {
	uint8_t key[256][160], st[256][512];
	size_t kl[256], sl[256], n;
} saved;

static int save_cohort(void *ctx, const void *key, size_t klen, const void *state, size_t n)
{
	saved *sv = ctx;
	size_t i;
	assert_true(klen <= sizeof(sv->key[0]) && n <= sizeof(sv->st[0]));
	for (i = 0; i < sv->n; i++)            /* a later save of the same cohort replaces it, as HSET does */
		if (sv->kl[i] == klen && !memcmp(sv->key[i], key, klen))
			break;
	if (i == sv->n)
		assert_true(sv->n++ < 256);
	memcpy(sv->key[i], key, klen);
	memcpy(sv->st[i], state, n);
	sv->kl[i] = klen;
	sv->sl[i] = n;
	return 0;
}

/* Feeds the members of the scenario below: k = 1 … 8 in 101's 2027-Q1, MET for k <= met. */
static void feed_eight(cd_aggregator *a, int met)
{
	for (int k = 1; k <= 8; k++)
		feed(a, KOMMUNE, "101", k, k <= met ? CD_MEMBER_MET : CD_MEMBER_LAPSED, "2027-02-10", 4, CD_KONTANTHJAELP);
}

/*
 * An aggregator saved after an evaluation and a change (members as last applied,
 * changed cohorts, the clock) and restored elsewhere goes on exactly as the
 * original: the same re-evaluation with the same event ids. Only changed
 * cohorts are handed out, once; a repeat says so (1); corrupt state is refused.
 */
static void test_saved_and_restored_aggregator_goes_on_the_same(void **state)
{
	cd_aggregator *a = cd_agg_new(rules, 0, 7), *b;
	sink *s1 = sink_new(), *s2 = sink_new();
	saved *sv = calloc(1, sizeof(*sv));
	cd_err err;
	cd_member m;
	(void)state;
	assert_non_null(sv);
	feed_eight(a, 5);                                  /* 5 of 8: 6 required, BREACHED */
	advance(a, "2027-04-01T00:00:00Z", s1);
	assert_int_equal(s1->n, 2);                        /* WARNING on 03-24, BREACHED on 04-01 */
	assert_int_equal(s1->r[1].status, CD_AGG_BREACHED);
	feed(a, KOMMUNE, "101", 6, CD_MEMBER_MET, "2027-02-10", 4, CD_KONTANTHJAELP);   /* now 6 of 8: dirty */
	assert_int_equal(cd_agg_changed_cohorts(a, save_cohort, sv, &err), 0);
	assert_int_equal(sv->n, 1);
	assert_int_equal(cd_agg_changed_cohorts(a, save_cohort, sv, &err), 0);
	assert_int_equal(sv->n, 1);                        /* nothing changed since */

	b = cd_agg_new(rules, 0, 7);
	feed_eight(b, 6);
	for (size_t i = 0; i < sv->n; i++)
		assert_int_equal(cd_agg_restore_cohort(b, sv->st[i], sv->sl[i], &err), 0);
	cd_agg_restore_clock(b, cd_agg_clock(a));
	cd_agg_forget_changes(b);

	advance(a, "2027-04-02T00:00:00Z", s1);
	advance(b, "2027-04-02T00:00:00Z", s2);
	assert_int_equal(s1->n, 4);                        /* RETRACTED, MET */
	assert_int_equal(s2->n, 2);
	for (int i = 0; i < 2; i++) {
		assert_string_equal(s2->r[i].id, s1->r[2 + i].id);
		assert_int_equal(s2->r[i].status, s1->r[2 + i].status);
		assert_int_equal(s2->r[i].met, s1->r[2 + i].met);
		assert_int_equal(s2->r[i].required, s1->r[2 + i].required);
		assert_int_equal(s2->r[i].at, s1->r[2 + i].at);
	}
	assert_int_equal(s2->r[0].status, CD_AGG_RETRACTED);
	assert_int_equal(s2->r[0].held, 5);
	assert_int_equal(s2->r[1].status, CD_AGG_MET);

	/* a repeat changes nothing and says so */
	memset(&m, 0, sizeof(m));
	snprintf(m.member_id, sizeof(m.member_id), "%032x", 6u);
	m.aggregate_id = KOMMUNE;
	m.key_kind = CD_AGG_KEY_MUNICIPALITY;
	m.key = "101";
	m.outcome = CD_MEMBER_MET;
	m.due = day("2027-02-10");
	m.held = 4;
	m.benefit = CD_KONTANTHJAELP;
	assert_int_equal(cd_agg_member(b, &m, &err), 1);
	/* corrupt or cut state is refused, never half-applied into a crash */
	assert_int_equal(cd_agg_restore_cohort(b, sv->st[0], sv->sl[0] - 1, &err), -1);
	sv->st[0][0] = 9;
	assert_int_equal(cd_agg_restore_cohort(b, sv->st[0], sv->sl[0], &err), -1);
	assert_int_equal(cd_agg_restore_cohort(b, "", 0, &err), -1);
	cd_agg_free(a);
	cd_agg_free(b);
	free(s1);
	free(s2);
	free(sv);
}

/* ---- S10 -------------------------------------------------------------------------- */

/*
 * rules.md §7 S10: kommune-share, municipality 101, 2027-Q1: 40 decided members
 * (30 four-in-six of kontanthjælp, 4 of ledighedsydelse, 6 kommune-two of
 * dagpenge; 3 more cancelled by benefit shifts), 29 MET, 2 EXEMPTED, 9 LAPSED.
 * The split by benefit is ours: kontanthjælp 22 MET, 1 EXEMPTED, 7 LAPSED;
 * ledighedsydelse 3 MET, 1 LAPSED; dagpenge 4 MET, 1 EXEMPTED, 1 LAPSED.
 */
static void s10_members(cd_aggregator *a, int reversed)
{
	struct { int benefit, outcome, count; } groups[] = {
		{ CD_KONTANTHJAELP, CD_MEMBER_MET, 22 }, { CD_KONTANTHJAELP, CD_MEMBER_EXEMPTED, 1 },
		{ CD_KONTANTHJAELP, CD_MEMBER_LAPSED, 7 }, { CD_LEDIGHEDSYDELSE, CD_MEMBER_MET, 3 },
		{ CD_LEDIGHEDSYDELSE, CD_MEMBER_LAPSED, 1 }, { CD_DAGPENGE, CD_MEMBER_MET, 4 },
		{ CD_DAGPENGE, CD_MEMBER_EXEMPTED, 1 }, { CD_DAGPENGE, CD_MEMBER_LAPSED, 1 },
	};
	struct { int k, benefit, outcome; char due[16]; } list[43];
	int n = 0;
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
		for (int j = 0; j < groups[g].count; j++, n++) {
			list[n].k = n;
			list[n].benefit = groups[g].benefit;
			list[n].outcome = groups[g].outcome;
			/* windows ended 2027-01-01 … 2027-03-31 */
			snprintf(list[n].due, sizeof(list[n].due), "2027-%02d-%02d", 1 + n % 3, 1 + n % 28);
		}
	assert_int_equal(n, 40);
	for (; n < 43; n++) {   /* cancelled by benefit shifts before their decision: never decided */
		list[n].k = n;
		list[n].benefit = CD_KONTANTHJAELP;
		list[n].outcome = CD_MEMBER_UNDECIDED;
		snprintf(list[n].due, sizeof(list[n].due), "2027-03-31");
	}
	strcpy(list[0].due, "2027-01-01");
	strcpy(list[1].due, "2027-03-31");
	for (int i = 0; i < 43; i++) {
		int j = reversed ? 42 - i : i;
		feed(a, KOMMUNE, "101", list[j].k, list[j].outcome,
		     list[j].outcome == CD_MEMBER_UNDECIDED ? NULL : list[j].due, 0, list[j].benefit);
	}
}

static void test_s10_breached_then_retracted_and_met(void **state)
{
	cd_aggregator *a = cd_agg_new(rules, 0, 0);   /* §7: grace 0, warnings off */
	sink *s = sink_new();
	(void)state;
	s10_members(a, 0);
	advance(a, "2027-01-15T12:00:00Z", s);
	advance(a, "2027-03-31T21:00:00Z", s);
	assert_int_equal(s->n, 0);
	advance(a, "2027-04-01T06:00:00Z", s);   /* a tick after the start of 04-01 */
	assert_int_equal(s->n, 1);
	assert_string_equal(s->r[0].agg, KOMMUNE);
	assert_int_equal(s->r[0].key_kind, CD_AGG_KEY_MUNICIPALITY);
	assert_string_equal(s->r[0].key, "101");
	assert_true(s->r[0].ps == day("2027-01-01") && s->r[0].pe == day("2027-03-31"));
	assert_int_equal(s->r[0].kind, CD_AGG_SHARE);
	assert_int_equal(s->r[0].severity, CD_SEV_LEGAL);
	/* ceil(0.75 × 40) = 30 > 29; detected at the start of 2027-04-01 Copenhagen */
	assert_rec(&s->r[0], CD_AGG_BREACHED, 40, 29, 9, 2, 30, 29, "2027-03-31T22:00:00Z");
	assert_int_equal(s->r[0].nb, 3);
	assert_int_equal(s->r[0].ben[0].benefit, CD_DAGPENGE);
	assert_int_equal(s->r[0].ben[0].members, 6);
	assert_int_equal(s->r[0].ben[0].met, 4);
	assert_int_equal(s->r[0].ben[1].benefit, CD_KONTANTHJAELP);
	assert_int_equal(s->r[0].ben[1].members, 30);
	assert_int_equal(s->r[0].ben[1].met, 22);
	assert_int_equal(s->r[0].ben[2].benefit, CD_LEDIGHEDSYDELSE);
	assert_int_equal(s->r[0].ben[2].members, 4);
	assert_int_equal(s->r[0].ben[2].met, 3);
	assert_string_equal(s->r[0].expl, "dk-2026/kommune-share for municipality 101, 2027-01-01 \xe2\x80\xa6 2027-03-31: "
					  "BREACHED, 29 of 40 decided members met (30 required, 75 %); 2 exempted, 9 lapsed");
	/* a conversation dated 2027-03-30, recorded 2027-04-10, turns a LAPSED member (number 25,
	 * kontanthjælp, due 2027-02-26) into MET */
	feed(a, KOMMUNE, "101", 25, CD_MEMBER_MET, "2027-02-26", 4, CD_KONTANTHJAELP);
	advance(a, "2027-04-10T10:00:00Z", s);
	assert_int_equal(s->n, 3);
	assert_rec(&s->r[1], CD_AGG_RETRACTED, 40, 29, 9, 2, 30, 29, "2027-04-10T10:00:00Z");
	assert_string_equal(s->r[1].expl, "dk-2026/kommune-share for municipality 101, 2027-01-01 \xe2\x80\xa6 2027-03-31: "
					  "RETRACTED (was BREACHED), 29 of 40 decided members met (30 required, 75 %); "
					  "2 exempted, 9 lapsed");
	assert_rec(&s->r[2], CD_AGG_MET, 40, 30, 8, 2, 30, 30, "2027-04-10T10:00:00Z");
	assert_int_equal(s->r[2].ben[1].met, 23);
	assert_string_not_equal(s->r[0].id, s->r[1].id);
	assert_string_not_equal(s->r[1].id, s->r[2].id);
	/* nothing more */
	advance(a, "2027-05-01T00:00:00Z", s);
	assert_int_equal(s->n, 3);
	cd_agg_free(a);
	free(s);
}

/* ---- warnings ----------------------------------------------------------------------- */

static void test_warning_before_evaluation_once(void **state)
{
	cd_aggregator *a = cd_agg_new(rules, 0, 7);
	sink *s = sink_new();
	(void)state;
	/* 101 decided so far: 2 MET, 2 LAPSED: 2 < ceil(0.75 × 4) = 3 → WARNING.
	 * 102: 3 MET, 1 LAPSED: not short → none. */
	feed(a, KOMMUNE, "101", 1, CD_MEMBER_MET, "2027-01-10", 2, CD_DAGPENGE);
	feed(a, KOMMUNE, "101", 2, CD_MEMBER_MET, "2027-01-11", 2, CD_DAGPENGE);
	feed(a, KOMMUNE, "101", 3, CD_MEMBER_LAPSED, "2027-01-12", 1, CD_DAGPENGE);
	feed(a, KOMMUNE, "101", 4, CD_MEMBER_LAPSED, "2027-01-13", 0, CD_DAGPENGE);
	feed(a, KOMMUNE, "102", 5, CD_MEMBER_MET, "2027-02-10", 2, CD_DAGPENGE);
	feed(a, KOMMUNE, "102", 6, CD_MEMBER_MET, "2027-02-10", 2, CD_DAGPENGE);
	feed(a, KOMMUNE, "102", 7, CD_MEMBER_MET, "2027-02-10", 2, CD_DAGPENGE);
	feed(a, KOMMUNE, "102", 8, CD_MEMBER_LAPSED, "2027-02-10", 0, CD_DAGPENGE);
	/* W = start of 2027-03-24 (31 − 7) Copenhagen, winter time: 2027-03-23T23:00:00Z */
	advance(a, "2027-03-23T22:59:59Z", s);
	assert_int_equal(s->n, 0);
	advance(a, "2027-03-23T23:00:00Z", s);
	assert_int_equal(s->n, 1);
	assert_string_equal(s->r[0].key, "101");
	assert_rec(&s->r[0], CD_AGG_WARNING, 4, 2, 2, 0, 3, 2, "2027-03-23T23:00:00Z");
	assert_string_equal(s->r[0].expl, "dk-2026/kommune-share for municipality 101, 2027-01-01 \xe2\x80\xa6 2027-03-31: "
					  "WARNING, 2 of 4 members decided so far met (3 required, 75 %); 0 exempted, 2 lapsed");
	/* once: a member that makes it worse before the evaluation warns no more */
	feed(a, KOMMUNE, "101", 9, CD_MEMBER_LAPSED, "2027-03-20", 0, CD_DAGPENGE);
	advance(a, "2027-03-28T00:00:00Z", s);
	assert_int_equal(s->n, 1);
	advance(a, Q1_EVAL, s);
	assert_int_equal(s->n, 3);
	assert_rec(&s->r[1], CD_AGG_BREACHED, 5, 2, 3, 0, 4, 2, Q1_EVAL);
	assert_rec(&s->r[2], CD_AGG_MET, 4, 3, 1, 0, 3, 3, Q1_EVAL);
	cd_agg_free(a);
	free(s);
}

static void test_warning_counts_only_members_decided_by_its_instant(void **state)
{
	cd_aggregator *a = cd_agg_new(rules, 0, 7);
	sink *s = sink_new();
	(void)state;
	/* W = 2027-03-23T23:00:00Z. 101: a MET member decided before it, a LAPSED one after it
	 * (fed before the aggregate clock got there, as a coarse tick does): 1 of 1, no warning.
	 * 102: a LAPSED one before, a MET one after: 0 of 1, required 1: WARNING. */
	feed_at(a, KOMMUNE, "101", 1, CD_MEMBER_MET, "2027-01-10", 4, CD_DAGPENGE, at("2027-01-11T00:00:00Z"));
	feed_at(a, KOMMUNE, "101", 2, CD_MEMBER_LAPSED, "2027-03-24", 0, CD_DAGPENGE, at("2027-03-24T23:00:00Z"));
	feed_at(a, KOMMUNE, "102", 3, CD_MEMBER_LAPSED, "2027-01-10", 0, CD_DAGPENGE, at("2027-03-23T23:00:00Z"));
	feed_at(a, KOMMUNE, "102", 4, CD_MEMBER_MET, "2027-03-24", 4, CD_DAGPENGE, at("2027-03-24T23:00:00Z"));
	advance(a, "2027-03-26T00:00:00Z", s);
	assert_int_equal(s->n, 1);
	assert_string_equal(s->r[0].key, "102");
	assert_rec(&s->r[0], CD_AGG_WARNING, 1, 0, 1, 0, 1, 0, "2027-03-23T23:00:00Z");
	cd_agg_free(a);
	free(s);
}

static void test_one_advance_equals_every_step_on_the_way(void **state)
{
	cd_aggregator *one = cd_agg_new(rules, 2, 7), *steps = cd_agg_new(rules, 2, 7);
	sink *s1 = sink_new(), *s2 = sink_new();
	char t[32];
	(void)state;
	for (int pass = 0; pass < 2; pass++) {
		cd_aggregator *a = pass ? steps : one;
		feed(a, KOMMUNE, "101", 1, CD_MEMBER_LAPSED, "2027-01-10", 0, CD_DAGPENGE);
		feed(a, KOMMUNE, "101", 2, CD_MEMBER_MET, "2027-01-11", 2, CD_DAGPENGE);
		feed(a, AKASSE, "A901", 3, CD_MEMBER_LAPSED, "2027-02-11", 0, CD_DAGPENGE);
		feed(a, KOMMUNE, "101", 4, CD_MEMBER_LAPSED, "2027-05-11", 0, CD_DAGPENGE);
		feed(a, KOMMUNE, "101", 5, CD_MEMBER_MET, "2027-06-11", 2, CD_DAGPENGE);
	}
	advance(one, "2027-08-01T00:00:00Z", s1);
	for (int d = 1; d <= 31 + 28 + 31 + 30 + 31 + 30 + 31; d++) {   /* 2027-01-01 … 2027-07-31, each day's noon */
		cd_date dd = day("2027-01-01") + d - 1;
		char ds[CD_DATE_STRLEN];
		snprintf(t, sizeof(t), "%sT12:00:00Z", cd_date_format(dd, ds));
		advance(steps, t, s2);
	}
	advance(steps, "2027-08-01T00:00:00Z", s2);
	/* by hand: Q1 warns at W 2027-03-23T23:00Z (101 then A901, cohort order: akasse-share < kommune-share),
	 * then evaluates at the start of 04-03 (grace 2): 2027-04-02T22:00Z; Q2 the same at
	 * 2027-06-22T22:00Z (start of 06-23, summer time) and 2027-07-02T22:00Z */
	assert_int_equal(s1->n, 6);
	assert_string_equal(s1->r[0].agg, AKASSE);
	assert_rec(&s1->r[0], CD_AGG_WARNING, 1, 0, 1, 0, 1, 0, "2027-03-23T23:00:00Z");
	assert_string_equal(s1->r[1].agg, KOMMUNE);
	assert_rec(&s1->r[1], CD_AGG_WARNING, 2, 1, 1, 0, 2, 1, "2027-03-23T23:00:00Z");
	assert_string_equal(s1->r[2].agg, AKASSE);
	assert_rec(&s1->r[2], CD_AGG_BREACHED, 1, 0, 1, 0, 1, 0, "2027-04-02T22:00:00Z");
	assert_rec(&s1->r[3], CD_AGG_BREACHED, 2, 1, 1, 0, 2, 1, "2027-04-02T22:00:00Z");
	assert_rec(&s1->r[4], CD_AGG_WARNING, 2, 1, 1, 0, 2, 1, "2027-06-22T22:00:00Z");
	assert_rec(&s1->r[5], CD_AGG_BREACHED, 2, 1, 1, 0, 2, 1, "2027-07-02T22:00:00Z");
	assert_same(s1, s2);
	cd_agg_free(one);
	cd_agg_free(steps);
	free(s1);
	free(s2);
}

/* ---- re-evaluation ------------------------------------------------------------------ */

static void test_reevaluation_without_status_change(void **state)
{
	cd_aggregator *a = cd_agg_new(rules, 0, 0);
	sink *s = sink_new();
	(void)state;
	for (int k = 1; k <= 4; k++)
		feed(a, KOMMUNE, "101", k, CD_MEMBER_MET, "2027-02-01", 2, CD_DAGPENGE);
	advance(a, Q1_EVAL, s);
	assert_int_equal(s->n, 1);
	assert_rec(&s->r[0], CD_AGG_MET, 4, 4, 0, 0, 3, 4, Q1_EVAL);
	/* a void: one MET member becomes LAPSED; 3 of 4 still meet 3: an updated MET, held 3 */
	feed(a, KOMMUNE, "101", 4, CD_MEMBER_LAPSED, "2027-02-01", 1, CD_DAGPENGE);
	advance(a, "2027-04-03T00:00:00Z", s);
	assert_int_equal(s->n, 2);
	assert_rec(&s->r[1], CD_AGG_MET, 4, 3, 1, 0, 3, 3, "2027-04-03T00:00:00Z");
	assert_string_not_equal(s->r[0].id, s->r[1].id);
	/* LAPSED → EXEMPTED changes neither required nor held: nothing */
	feed(a, KOMMUNE, "101", 4, CD_MEMBER_EXEMPTED, "2027-02-01", 1, CD_DAGPENGE);
	advance(a, "2027-04-04T00:00:00Z", s);
	assert_int_equal(s->n, 2);
	/* a change and its undoing between two advances: nothing */
	feed(a, KOMMUNE, "101", 1, CD_MEMBER_LAPSED, "2027-02-01", 1, CD_DAGPENGE);
	feed(a, KOMMUNE, "101", 1, CD_MEMBER_MET, "2027-02-01", 2, CD_DAGPENGE);
	advance(a, "2027-04-05T00:00:00Z", s);
	assert_int_equal(s->n, 2);
	/* every member leaves: the standing MET is retracted, and nothing stands (D45) */
	for (int k = 1; k <= 4; k++)
		feed(a, KOMMUNE, "101", k, CD_MEMBER_UNDECIDED, NULL, 0, CD_DAGPENGE);
	advance(a, "2027-04-06T00:00:00Z", s);
	assert_int_equal(s->n, 3);
	assert_rec(&s->r[2], CD_AGG_RETRACTED, 4, 3, 1, 0, 3, 3, "2027-04-06T00:00:00Z");
	advance(a, "2027-04-07T00:00:00Z", s);
	assert_int_equal(s->n, 3);
	/* one comes back: evaluated anew, with no RETRACTED of what was already retracted */
	feed(a, KOMMUNE, "101", 2, CD_MEMBER_LAPSED, "2027-02-01", 0, CD_DAGPENGE);
	advance(a, "2027-04-08T00:00:00Z", s);
	assert_int_equal(s->n, 4);
	assert_rec(&s->r[3], CD_AGG_BREACHED, 1, 0, 1, 0, 1, 0, "2027-04-08T00:00:00Z");
	/* an earlier t does not move the clock back */
	advance(a, "2027-01-01T00:00:00Z", s);
	assert_true(cd_agg_clock(a) == at("2027-04-08T00:00:00Z"));
	cd_agg_free(a);
	free(s);
}

/* ---- determinism -------------------------------------------------------------------- */

static void order_run(sink *s, int reversed)
{
	cd_aggregator *a = cd_agg_new(rules, 0, 7);
	/* interval 1: S10's members and some of other cohorts */
	s10_members(a, reversed);
	for (int i = 0; i < 6; i++) {
		int k = reversed ? 5 - i : i;
		feed(a, k % 2 ? AKASSE : KOMMUNE, k % 3 ? "A901" : "102", 100 + k, k % 2 ? CD_MEMBER_MET : CD_MEMBER_LAPSED,
		     k < 3 ? "2027-02-14" : "2027-04-14", k, CD_DAGPENGE);
	}
	advance(a, "2027-04-02T00:00:00Z", s);
	/* interval 2: late changes to evaluated cohorts, a move, a cancellation, a new member */
	for (int i = 0; i < 4; i++) {
		int k = reversed ? 3 - i : i;
		switch (k) {
		case 0: feed(a, KOMMUNE, "101", 25, CD_MEMBER_MET, "2027-02-26", 4, CD_KONTANTHJAELP); break;
		case 1: feed(a, KOMMUNE, "101", 26, CD_MEMBER_MET, "2027-03-27", 4, CD_KONTANTHJAELP); break;
		case 2: feed(a, KOMMUNE, "101", 0, CD_MEMBER_UNDECIDED, NULL, 0, CD_KONTANTHJAELP); break;
		default: feed(a, AKASSE, "A901", 101, CD_MEMBER_MET, "2027-05-01", 3, CD_DAGPENGE); break;
		}
	}
	advance(a, "2027-07-02T00:00:00Z", s);
	cd_agg_free(a);
}

static void test_outputs_do_not_depend_on_member_order(void **state)
{
	sink *x = sink_new(), *y = sink_new();
	(void)state;
	order_run(x, 0);
	order_run(y, 1);
	assert_true(x->n >= 5);
	assert_same(x, y);
	free(x);
	free(y);
}

/* The id as decisions.md D47 defines it, computed here from the layout, not by the module. */
static void expected_id(const char *agg, int key_kind, const char *key, const char *ps, uint32_t transition,
			int status, char out[33])
{
	uint8_t buf[256];
	size_t n = 0;
	uint32_t d = (uint32_t)day(ps);
	XXH128_hash_t h;
	memcpy(buf, agg, strlen(agg) + 1);
	n += strlen(agg) + 1;
	buf[n++] = (uint8_t)key_kind;
	memcpy(buf + n, key, strlen(key) + 1);
	n += strlen(key) + 1;
	for (int i = 0; i < 4; i++)
		buf[n++] = (uint8_t)(d >> (8 * i));
	for (int i = 0; i < 4; i++)
		buf[n++] = (uint8_t)(transition >> (8 * i));
	buf[n++] = (uint8_t)status;
	h = XXH3_128bits(buf, n);
	snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.high64, (unsigned long long)h.low64);
}

static void test_event_ids_are_stable(void **state)
{
	sink *x = sink_new(), *y = sink_new();
	cd_aggregator *a = cd_agg_new(rules, 0, 0), *b = cd_agg_new(rules, 0, 0);
	char id[33];
	(void)state;
	s10_members(a, 0);
	s10_members(b, 1);
	advance(a, Q1_EVAL, x);
	advance(b, "2027-04-01T06:00:00Z", y);   /* a later tick: same event, same id */
	assert_int_equal(x->n, 1);
	assert_int_equal(y->n, 1);
	assert_string_equal(x->r[0].id, y->r[0].id);
	expected_id(KOMMUNE, CD_AGG_KEY_MUNICIPALITY, "101", "2027-01-01", 0, CD_AGG_BREACHED, id);
	assert_string_equal(x->r[0].id, id);
	feed(a, KOMMUNE, "101", 25, CD_MEMBER_MET, "2027-02-26", 4, CD_KONTANTHJAELP);
	advance(a, "2027-04-10T10:00:00Z", x);
	assert_int_equal(x->n, 3);
	expected_id(KOMMUNE, CD_AGG_KEY_MUNICIPALITY, "101", "2027-01-01", 1, CD_AGG_RETRACTED, id);
	assert_string_equal(x->r[1].id, id);
	expected_id(KOMMUNE, CD_AGG_KEY_MUNICIPALITY, "101", "2027-01-01", 2, CD_AGG_MET, id);
	assert_string_equal(x->r[2].id, id);
	for (size_t i = 0; i < 32; i++)
		assert_non_null(strchr("0123456789abcdef", x->r[2].id[i]));
	cd_agg_free(a);
	cd_agg_free(b);
	free(x);
	free(y);
}

static void test_bad_members_are_refused(void **state)
{
	cd_aggregator *a = cd_agg_new(rules, 0, 0);
	cd_member m;
	cd_err err;
	(void)state;
	memset(&m, 0, sizeof(m));
	snprintf(m.member_id, sizeof(m.member_id), "%032x", 1u);
	m.aggregate_id = "dk-2026/no-such-share";
	m.key_kind = CD_AGG_KEY_MUNICIPALITY;
	m.key = "101";
	m.outcome = CD_MEMBER_MET;
	m.due = day("2027-01-01");
	m.benefit = CD_DAGPENGE;
	assert_int_equal(cd_agg_member(a, &m, &err), -1);
	assert_non_null(strstr(err.msg, "no-such-share"));
	m.aggregate_id = KOMMUNE;
	m.key_kind = CD_AGG_KEY_AKASSE;
	assert_int_equal(cd_agg_member(a, &m, &err), -1);
	m.key_kind = CD_AGG_KEY_MUNICIPALITY;
	m.due = CD_DATE_NONE;
	assert_int_equal(cd_agg_member(a, &m, &err), -1);
	assert_non_null(strstr(err.msg, "due date"));
	m.due = day("2027-01-01");
	assert_int_equal(cd_agg_member(a, &m, &err), 0);
	cd_agg_free(a);
}

static void test_reporting_periods(void **state)
{
	cd_date s, e;
	(void)state;
	cd_agg_period('q', day("2027-05-17"), &s, &e);
	assert_true(s == day("2027-04-01") && e == day("2027-06-30"));
	cd_agg_period('q', day("2027-12-31"), &s, &e);
	assert_true(s == day("2027-10-01") && e == day("2027-12-31"));
	cd_agg_period('m', day("2028-02-10"), &s, &e);
	assert_true(s == day("2028-02-01") && e == day("2028-02-29"));
	cd_agg_period('y', day("2027-05-17"), &s, &e);
	assert_true(s == day("2027-01-01") && e == day("2027-12-31"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_share_required_is_ceil_of_three_quarters),
		cmocka_unit_test(test_no_decided_member_emits_nothing_until_one_comes),
		cmocka_unit_test(test_members_fall_in_the_quarter_of_their_due_date),
		cmocka_unit_test(test_a_member_whose_due_date_changes_moves_quarter),
		cmocka_unit_test(test_cancelled_members_leave_and_exempted_count_as_not_met),
		cmocka_unit_test(test_duplicates_change_nothing),
		cmocka_unit_test(test_average_is_reported_in_hundredths),
		cmocka_unit_test(test_s10_breached_then_retracted_and_met),
		cmocka_unit_test(test_warning_before_evaluation_once),
		cmocka_unit_test(test_warning_counts_only_members_decided_by_its_instant),
		cmocka_unit_test(test_one_advance_equals_every_step_on_the_way),
		cmocka_unit_test(test_reevaluation_without_status_change),
		cmocka_unit_test(test_outputs_do_not_depend_on_member_order),
		cmocka_unit_test(test_event_ids_are_stable),
		cmocka_unit_test(test_bad_members_are_refused),
		cmocka_unit_test(test_reporting_periods),
		cmocka_unit_test(test_average_of_members_owing_different_counts),
		cmocka_unit_test(test_saved_and_restored_aggregator_goes_on_the_same),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
