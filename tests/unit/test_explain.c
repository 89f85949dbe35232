/*
 * test_explain.c — state/explain.c: why a conversation did or did not count,
 * one case per reason, from citizens built input by input on the engine; what
 * each history entry did to the periods; Exemptions with and without effect;
 * and that explaining changes nothing (the citizen's record, and the outputs
 * of the engine afterwards).
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
#include "state/engine_int.h"
#include "state/explain.h"

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

/* ---- a citizen, input by input ---------------------------------------------------------- */

typedef struct tc {
	cd_engine *e;
	cd_citizen c;
	cd_explanation x;
} tc;

static cd_instant at(int y, int m, int d, int hour)
{
	return cd_cph_midnight(cd_date_from_ymd(y, m, d)) + (cd_instant)hour * 3600 * CD_NS_PER_SEC;
}

static cd_event base(const char *id, cd_instant t, cd_event_kind kind)
{
	cd_event ev;
	cd_event_init(&ev);
	ev.event_id = id;
	ev.event_id_len = strlen(id);
	ev.citizen_id = "p1";
	ev.citizen_id_len = 2;
	ev.occurred_at = t;
	ev.kind = kind;
	strcpy(ev.muni, "101");
	return ev;
}

static cd_event reg(const char *id, cd_instant t, int benefit, int category)
{
	cd_event ev = base(id, t, CD_EV_REGISTRATION);
	ev.benefit = (uint8_t)benefit;
	ev.category = (uint8_t)category;
	return ev;
}

static cd_event talk(const char *id, cd_instant t, const char *cid, int held_by, int form, bool joint)
{
	cd_event ev = base(id, t, CD_EV_CONVERSATION);
	ev.conv_id = cid;
	ev.conv_id_len = strlen(cid);
	ev.held_by = (uint8_t)held_by;
	ev.form = (uint8_t)form;
	ev.joint = joint;
	return ev;
}

static cd_event change(const char *id, cd_instant t, int benefit, int category)
{
	cd_event ev = base(id, t, CD_EV_BENEFIT_CHANGE);
	ev.benefit = (uint8_t)benefit;
	ev.category = (uint8_t)category;
	return ev;
}

static void start(tc *t, const cd_rules *r, const char *overlays)
{
	cd_engine_config cfg;
	cd_err err;
	if (overlays)
		assert_int_equal(cd_rules_set_overlays((cd_rules *)r, overlays, &err), 0);
	cd_engine_config_default(&cfg);
	cfg.warn_lead_days = 0;
	cfg.history_horizon_days = 0;   /* the timelines span years: nothing folded away */
	t->e = cd_engine_new(r, &cfg);
	assert_non_null(t->e);
	cd_citizen_init(&t->c);
	cd_explanation_init(&t->x);
}

static void in(tc *t, cd_event ev)
{
	cd_err err;
	assert_int_equal(cd_event_validate(&ev, &err), 0);
	assert_true(cd_engine_apply(t->e, &t->c, "p1", &ev, NULL, NULL, &err) >= 0);
}

static void explain(tc *t, cd_instant when)
{
	cd_err err;
	cd_err e2;
	assert_int_equal(cd_engine_advance(t->e, &t->c, "p1", when, NULL, NULL, &e2), 0);
	assert_int_equal(cd_explain(t->e, &t->c, when, &t->x, &err), 0);
}

static void stop(tc *t)
{
	cd_explanation_release(&t->x);
	cd_citizen_release(&t->c);
	cd_engine_free(t->e);
}

static const cd_xob *ob(const tc *t, const char *oid, size_t pi)
{
	for (size_t i = 0; i < t->x.n_ob; i++)
		if (!strcmp(t->x.ob[i].oid, oid) && t->x.ob[i].period == pi)
			return &t->x.ob[i];
	fail_msg("no obligation %s in period %zu", oid, pi + 1);
	return NULL;
}

/* How obligation `o` saw conversation cid (its first version listed, or the n-th). */
static const cd_xconv *seen_as(const tc *t, const cd_xob *o, const char *cid, int nth)
{
	for (size_t i = 0; i < o->n_cv; i++) {
		const cd_xconv *xc = &t->x.conv[o->cv0 + i];
		if (!strcmp(cd_citizen_str(&t->c, t->c.ev[xc->ev].conv_off), cid) && nth-- == 0)
			return xc;
	}
	fail_msg("%s does not list conversation %s", o->oid, cid);
	return NULL;
}

static int why(const tc *t, const char *oid, size_t pi, const char *cid)
{
	return seen_as(t, ob(t, oid, pi), cid, 0)->why;
}

static const cd_xev *entry(const tc *t, const char *eid)
{
	for (size_t i = 0; i < t->x.n_tl; i++)
		if (!strcmp(cd_citizen_str(&t->c, t->c.ev[t->x.tl[i].ev].id_off), eid))
			return &t->x.tl[i];
	fail_msg("no history entry %s", eid);
	return NULL;
}

/* ---- the filter ------------------------------------------------------------------------- */

/* eng_filter_why says why exactly when eng_passes says no, for every conversation and filter. */
static void test_filter_why_agrees_with_the_filter(void **state)
{
	(void)state;
	for (int held = 0; held <= CD_HELD_MAX; held++)
		for (int form = 0; form <= CD_FORM_MAX; form++)
			for (int joint = 0; joint < 2; joint++)
				for (unsigned hb = 0; hb < 1u << (CD_HELD_MAX + 1); hb++)
					for (unsigned fm = 0; fm < 1u << (CD_FORM_MAX + 1); fm += 3)
						for (int need = 0; need < 2; need++) {
							conv cv = { 0, 0, (uint8_t)form, (uint8_t)held, joint, 0 };
							bool pass = eng_passes(&cv, (uint8_t)hb, (uint8_t)fm, need);
							uint8_t w = eng_filter_why(&cv, (uint8_t)hb, (uint8_t)fm, need);
							assert_int_equal(pass, w == CD_WHY_COUNTED);
							if (!(hb & CD_BIT(held)))
								assert_int_equal(w, CD_WHY_HELD_BY);
						}
}

/* ---- one reason at a time ---------------------------------------------------------------- */

/* S8's GROUP conversation and an a-kasse conversation on kontanthjælp: the filter. */
static void test_form_and_holder(void **state)
{
	tc t;
	(void)state;
	start(&t, rules, "none");
	in(&t, reg("e1", at(2026, 7, 1, 9), CD_KONTANTHJAELP, CD_JOBPARAT));
	in(&t, talk("e2", at(2026, 7, 7, 10), "c1", CD_JOBCENTER, CD_IN_PERSON, false));
	in(&t, talk("e3", at(2026, 8, 25, 10), "c2", CD_AKASSE, CD_PHONE, false));
	in(&t, talk("e4", at(2026, 12, 15, 10), "c4", CD_JOBCENTER, CD_GROUP, false));
	explain(&t, at(2027, 1, 2, 12));
	assert_int_equal(why(&t, "dk-2026/four-in-six", 0, "c1"), CD_WHY_COUNTED);
	assert_int_equal(why(&t, "dk-2026/four-in-six", 0, "c2"), CD_WHY_HELD_BY);
	assert_int_equal(why(&t, "dk-2026/four-in-six", 0, "c4"), CD_WHY_FORM);
	assert_non_null(strstr(seen_as(&t, ob(&t, "dk-2026/four-in-six", 0), "c4", 0)->note, "form GROUP"));
	assert_int_equal(ob(&t, "dk-2026/four-in-six", 0)->status, CD_OB_LAPSED);
	/* first-within: c1 met it; c2 (08-25) is not near its window, c1 is */
	assert_int_equal(why(&t, "dk-2026/first-within", 0, "c1"), CD_WHY_COUNTED);
	stop(&t);
}

/* S2: the 03-10 conversation is after first-within's window; a second one in it is not needed. */
static void test_window_and_already_met(void **state)
{
	tc t;
	const cd_xconv *xc;
	(void)state;
	start(&t, rules, "none");
	in(&t, reg("e1", at(2021, 3, 1, 9), CD_KONTANTHJAELP, CD_AKTIVITETSPARAT));
	in(&t, talk("e2", at(2021, 3, 3, 10), "c1", CD_JOBCENTER, CD_IN_PERSON, false));
	in(&t, talk("e3", at(2021, 3, 5, 10), "c2", CD_JOBCENTER, CD_PHONE, false));
	in(&t, talk("e4", at(2021, 3, 10, 10), "c3", CD_JOBCENTER, CD_IN_PERSON, false));
	explain(&t, at(2021, 4, 1, 12));
	assert_int_equal(why(&t, "dk-2020/first-within", 0, "c1"), CD_WHY_COUNTED);
	xc = seen_as(&t, ob(&t, "dk-2020/first-within", 0), "c2", 0);
	assert_int_equal(xc->why, CD_WHY_ALREADY_MET);
	assert_string_equal(cd_citizen_str(&t.c, t.c.ev[xc->by_ev].conv_off), "c1");
	assert_int_equal(why(&t, "dk-2020/first-within", 0, "c3"), CD_WHY_AFTER_WINDOW);
	assert_int_equal(why(&t, "dk-2020/four-in-six", 0, "c3"), CD_WHY_COUNTED);
	stop(&t);
}

/* A void withdraws a conversation; a second version with the same id replaces the first. */
static void test_voided_and_superseded(void **state)
{
	tc t;
	cd_event v;
	const cd_xconv *xc;
	(void)state;
	start(&t, rules, "none");
	in(&t, reg("e1", at(2021, 3, 1, 9), CD_KONTANTHJAELP, CD_AKTIVITETSPARAT));
	in(&t, talk("e2", at(2021, 3, 5, 10), "c1", CD_JOBCENTER, CD_IN_PERSON, false));
	in(&t, talk("e3", at(2021, 4, 5, 10), "c2", CD_JOBCENTER, CD_IN_PERSON, false));
	in(&t, talk("e4", at(2021, 4, 6, 10), "c2", CD_JOBCENTER, CD_VIDEO, false));   /* corrects c2 */
	v = talk("e5", at(2021, 3, 20, 10), "c1", CD_JOBCENTER, CD_IN_PERSON, false);
	v.voided = true;
	in(&t, v);
	explain(&t, at(2021, 5, 1, 12));
	assert_int_equal(why(&t, "dk-2020/four-in-six", 0, "c1"), CD_WHY_VOIDED);
	xc = seen_as(&t, ob(&t, "dk-2020/four-in-six", 0), "c2", 0);
	assert_int_equal(xc->why, CD_WHY_SUPERSEDED);
	assert_string_equal(cd_citizen_str(&t.c, t.c.ev[xc->by_ev].id_off), "e4");
	assert_int_equal(seen_as(&t, ob(&t, "dk-2020/four-in-six", 0), "c2", 1)->why, CD_WHY_COUNTED);
	assert_int_equal(ob(&t, "dk-2020/four-in-six", 0)->held, 1);
	/* the void itself is in the timeline, not among the conversations */
	assert_int_equal(ob(&t, "dk-2020/four-in-six", 0)->n_cv, 3);
	stop(&t);
}

/* dk-2020 dagpenge: joint-1 takes the joint conversation, which the four then do not count
 * (in addition, rules.md §4); joint-1 does not take an ordinary one; joint-2's window is later. */
static void test_taken_and_not_joint(void **state)
{
	tc t;
	const cd_xconv *xc;
	(void)state;
	start(&t, rules, "none");
	in(&t, reg("e1", at(2020, 1, 6, 9), CD_DAGPENGE, 0));
	in(&t, talk("e2", at(2020, 1, 20, 10), "c1", CD_JOBCENTER, CD_IN_PERSON, false));
	in(&t, talk("e3", at(2020, 2, 10, 10), "c2", CD_JOBCENTER, CD_IN_PERSON, true));
	in(&t, talk("e4", at(2020, 3, 20, 10), "c3", CD_JOBCENTER, CD_IN_PERSON, true));
	explain(&t, at(2020, 3, 25, 12));
	assert_int_equal(why(&t, "dk-2020/joint-1", 0, "c1"), CD_WHY_NOT_JOINT);
	assert_int_equal(why(&t, "dk-2020/joint-1", 0, "c2"), CD_WHY_COUNTED);
	xc = seen_as(&t, ob(&t, "dk-2020/four-in-six", 0), "c2", 0);
	assert_int_equal(xc->why, CD_WHY_TAKEN);
	assert_true(xc->by_ob >= 0);
	assert_string_equal(t.x.ob[xc->by_ob].oid, "dk-2020/joint-1");
	assert_int_equal(why(&t, "dk-2020/four-in-six", 0, "c1"), CD_WHY_COUNTED);
	/* c3, joint too: joint-1 was met by c2; joint-2's window (from 3 months, 2020-04-06) is later */
	xc = seen_as(&t, ob(&t, "dk-2020/joint-1", 0), "c3", 0);
	assert_int_equal(xc->why, CD_WHY_ALREADY_MET);
	assert_string_equal(cd_citizen_str(&t.c, t.c.ev[xc->by_ev].conv_off), "c2");
	assert_int_equal(why(&t, "dk-2020/joint-2", 0, "c3"), CD_WHY_BEFORE_WINDOW);
	assert_int_equal(why(&t, "dk-2020/four-in-six", 0, "c3"), CD_WHY_COUNTED);
	assert_int_equal(ob(&t, "dk-2020/four-in-six", 0)->held, 2);
	stop(&t);
}

/* S3: after a benefit shift the old period's obligations see nothing more. */
static void test_after_end(void **state)
{
	tc t;
	(void)state;
	start(&t, rules, "none");
	in(&t, reg("e1", at(2021, 1, 4, 9), CD_KONTANTHJAELP, CD_JOBPARAT));
	in(&t, talk("e2", at(2021, 1, 8, 10), "c1", CD_JOBCENTER, CD_IN_PERSON, false));
	in(&t, change("e3", at(2021, 4, 1, 9), CD_RESSOURCEFORLOEB, 0));
	in(&t, talk("e4", at(2021, 4, 12, 10), "c2", CD_JOBCENTER, CD_IN_PERSON, false));
	explain(&t, at(2021, 5, 1, 12));
	assert_int_equal(why(&t, "dk-2020/four-in-six", 0, "c2"), CD_WHY_AFTER_END);
	assert_non_null(strstr(seen_as(&t, ob(&t, "dk-2020/four-in-six", 0), "c2", 0)->note, "BENEFIT_SHIFT"));
	assert_int_equal(ob(&t, "dk-2020/four-in-six", 0)->status, CD_OB_CANCELLED);
	assert_int_equal(why(&t, "dk-2020/four-in-six", 1, "c2"), CD_WHY_COUNTED);
	assert_int_equal(entry(&t, "e3")->fx, CD_FX_SHIFTED);
	stop(&t);
}

/* dk-2015 dagpenge: slot k takes the period's k-th conversation; one held after D_k + t_k is late. */
static void test_schedule_slots(void **state)
{
	tc t;
	const cd_xconv *xc;
	(void)state;
	start(&t, rules, "none");
	in(&t, reg("e1", at(2018, 1, 8, 9), CD_DAGPENGE, 0));
	/* slot 1 due at L = 28 (2018-02-04) + 14 = 2018-02-18: held on 02-20, late */
	in(&t, talk("e2", at(2018, 2, 20, 10), "c1", CD_JOBCENTER, CD_IN_PERSON, false));
	in(&t, talk("e3", at(2018, 3, 1, 10), "c2", CD_JOBCENTER, CD_IN_PERSON, false));
	explain(&t, at(2018, 3, 5, 12));
	assert_int_equal(why(&t, "dk-2015/schedule-1", 0, "c1"), CD_WHY_LATE);
	xc = seen_as(&t, ob(&t, "dk-2015/schedule-1", 0), "c2", 0);
	assert_int_equal(xc->why, CD_WHY_OTHER_SLOT);
	assert_int_equal(xc->n, 2);
	assert_int_equal(why(&t, "dk-2015/schedule-2", 0, "c2"), CD_WHY_COUNTED);
	assert_int_equal(ob(&t, "dk-2015/schedule-1", 0)->status, CD_OB_BREACHED);
	stop(&t);
}

/* frikommune-rebild: the first joint conversation must be the period's 2nd. */
static void test_ordinals(void **state)
{
	tc t;
	cd_event r;
	const cd_xconv *xc;
	(void)state;
	start(&t, rules, "frikommune-rebild@840");
	r = reg("e1", at(2018, 1, 8, 9), CD_DAGPENGE, 0);
	strcpy(r.muni, "840");
	in(&t, r);
	in(&t, talk("e2", at(2018, 1, 22, 10), "c1", CD_JOBCENTER, CD_IN_PERSON, true));
	in(&t, talk("e3", at(2018, 2, 5, 10), "c2", CD_JOBCENTER, CD_IN_PERSON, false));
	in(&t, talk("e4", at(2018, 2, 19, 10), "c3", CD_JOBCENTER, CD_IN_PERSON, true));
	explain(&t, at(2018, 3, 1, 12));
	xc = seen_as(&t, ob(&t, "frikommune-rebild/joint-ordinal", 0), "c1", 0);
	assert_int_equal(xc->why, CD_WHY_WRONG_ORDINAL);
	assert_int_equal(xc->n, 1);
	assert_int_equal(why(&t, "frikommune-rebild/joint-ordinal", 0, "c2"), CD_WHY_NOT_JOINT);
	xc = seen_as(&t, ob(&t, "frikommune-rebild/joint-ordinal", 0), "c3", 0);
	assert_int_equal(xc->why, CD_WHY_AFTER_ORDINALS);
	assert_int_equal(xc->n, 2);
	assert_int_equal(ob(&t, "frikommune-rebild/joint-ordinal", 0)->status, CD_OB_BREACHED);
	/* dk-2015's joint-1 is replaced: said among what opened nothing */
	{
		bool found = false;
		for (size_t i = 0; i < t.x.n_nop; i++)
			found |= !strcmp(t.x.nop[i].def->id, "dk-2015/joint-1") && strstr(t.x.nop[i].why, "frikommune-rebild");
		assert_true(found);
	}
	stop(&t);
}

/* D15 on a ruleset of its own: the first conversation decides, and must be in person. */
static void test_first_conversation_decides(void **state)
{
	cd_rules *r = cd_rules_new();
	cd_ruleset *rs = cd_rules_add(r);
	cd_obdef *d;
	tc t;
	const cd_xconv *xc;
	(void)state;
	snprintf(rs->id, sizeof(rs->id), "t-2020");
	rs->version = 1;
	rs->from = cd_date_from_ymd(2020, 1, 1);
	rs->to = CD_DATE_NONE;
	rs->title = strdup("a test ruleset");
	rs->no_obligations_why = strdup("");
	rs->obs = calloc(1, sizeof(*rs->obs));
	rs->n_obs = 1;
	d = &rs->obs[0];
	snprintf(d->name, sizeof(d->name), "first");
	snprintf(d->id, sizeof(d->id), "t-2020/first");
	d->kind = CD_FIRST_WITHIN;
	d->severity = CD_SEV_LEGAL;
	d->legal_ref = strdup("none");
	d->description = strdup("a first conversation within 14 days, in person");
	d->to = (cd_span){ 14, 'd', false };
	d->required = 1;
	d->filter.held_by = CD_BIT(CD_JOBCENTER) | CD_BIT(CD_OTHER_ACTOR);
	d->filter.forms = CD_BIT(CD_IN_PERSON) | CD_BIT(CD_PHONE) | CD_BIT(CD_VIDEO) | CD_BIT(CD_DIGITAL);
	d->first_must_forms = CD_BIT(CD_IN_PERSON);
	start(&t, r, NULL);
	in(&t, reg("e1", at(2021, 3, 1, 9), CD_KONTANTHJAELP, 0));
	in(&t, talk("e2", at(2021, 3, 3, 10), "c1", CD_JOBCENTER, CD_PHONE, false));
	in(&t, talk("e3", at(2021, 3, 5, 10), "c2", CD_JOBCENTER, CD_IN_PERSON, false));
	explain(&t, at(2021, 4, 1, 12));
	assert_int_equal(why(&t, "t-2020/first", 0, "c1"), CD_WHY_FIRST_FORM);
	xc = seen_as(&t, ob(&t, "t-2020/first", 0), "c2", 0);
	assert_int_equal(xc->why, CD_WHY_DECIDED);
	assert_string_equal(cd_citizen_str(&t.c, t.c.ev[xc->by_ev].conv_off), "c1");
	assert_int_equal(ob(&t, "t-2020/first", 0)->status, CD_OB_BREACHED);
	assert_int_equal(ob(&t, "t-2020/first", 0)->due, cd_date_from_ymd(2021, 3, 3));
	stop(&t);
	cd_rules_free(r);
}

/* ---- the timeline and the Exemptions ---------------------------------------------------- */

static void test_timeline_effects(void **state)
{
	tc t;
	cd_event d, ex, r1b, r2;
	(void)state;
	start(&t, rules, "none");
	ex = base("x0", at(2020, 1, 2, 9), CD_EV_EXEMPTION);
	ex.scope = CD_SCOPE_KOMMUNE;
	in(&t, ex);                                                   /* nothing running */
	in(&t, reg("e1", at(2020, 1, 6, 9), CD_DAGPENGE, 0));
	r1b = reg("e2", at(2020, 1, 7, 9), CD_DAGPENGE, 0);            /* the same dagpenge period: D1 */
	r1b.dp_start = cd_date_from_ymd(2020, 1, 6);
	in(&t, r1b);
	d = base("e3", at(2020, 2, 3, 9), CD_EV_DEREGISTRATION);
	in(&t, d);
	r2 = reg("e4", at(2020, 2, 17, 9), CD_DAGPENGE, 0);
	r2.dp_start = cd_date_from_ymd(2020, 1, 6);
	in(&t, r2);
	in(&t, change("e5", at(2020, 6, 1, 9), CD_UDDANNELSESHJAELP, CD_UDDANNELSESPARAT));
	in(&t, change("e6", at(2025, 7, 1, 9), CD_KONTANTHJAELP, 0));  /* the merge (rules.md §3.3) */
	in(&t, change("e7", at(2025, 8, 1, 9), 0, CD_JOBPARAT));
	explain(&t, at(2025, 8, 2, 12));
	assert_int_equal(entry(&t, "x0")->fx, CD_FX_IGNORED);
	assert_int_equal(entry(&t, "e1")->fx, CD_FX_STARTED);
	assert_int_equal(entry(&t, "e2")->fx, CD_FX_ALREADY);
	assert_int_equal(entry(&t, "e3")->fx, CD_FX_PAUSED);
	assert_int_equal(entry(&t, "e4")->fx, CD_FX_RESUMED);
	assert_int_equal(entry(&t, "e5")->fx, CD_FX_SHIFTED);
	assert_int_equal(entry(&t, "e6")->fx, CD_FX_RENAMED);
	assert_int_equal(entry(&t, "e7")->fx, CD_FX_CATEGORY);
	assert_int_equal(t.x.n_per, 2);
	assert_int_equal(t.x.per[1].benefit, CD_UDDANNELSESHJAELP);
	assert_int_equal(t.x.per[1].shown, CD_KONTANTHJAELP);
	assert_non_null(t.x.per[1].merge);
	assert_non_null(strstr(t.x.per[1].benefit_why, "not a benefit shift"));
	assert_int_equal(t.x.per[0].n_iv, 2);
	assert_int_equal(t.x.n_ex, 1);
	assert_false(t.x.ex[0].effect);
	assert_int_equal(t.x.ex[0].period, -1);
	stop(&t);
}

static void test_exemptions(void **state)
{
	tc t;
	cd_event x1, x2;
	(void)state;
	start(&t, rules, "none");
	in(&t, reg("e1", at(2026, 8, 3, 9), CD_KONTANTHJAELP, CD_JOBPARAT));
	x1 = base("x1", at(2026, 8, 5, 10), CD_EV_EXEMPTION);
	x1.scope = CD_SCOPE_KOMMUNE;
	in(&t, x1);
	x2 = base("x2", at(2026, 8, 6, 10), CD_EV_EXEMPTION);
	x2.scope = CD_SCOPE_AKASSE;                                /* no a-kasse member on kontanthjælp */
	in(&t, x2);
	explain(&t, at(2026, 9, 1, 12));
	assert_int_equal(ob(&t, "dk-2026/four-in-six", 0)->status, CD_OB_CANCELLED);
	assert_int_equal(ob(&t, "dk-2026/four-in-six", 0)->reason, CD_CANCEL_EXEMPTED);
	assert_int_equal(ob(&t, "dk-2026/first-within", 0)->status, CD_OB_BREACHED);   /* LEGAL: never exempted */
	assert_int_equal(t.x.n_ex, 2);
	assert_true(t.x.ex[0].effect);
	assert_int_equal(t.x.ex[0].n_members, 1);
	assert_false(t.x.ex[1].effect);
	assert_non_null(strstr(t.x.ex[1].why, "akasse-share"));
	assert_int_equal(entry(&t, "x1")->fx, CD_FX_EXEMPTION);
	stop(&t);
}

/* ---- explaining changes nothing ---------------------------------------------------------- */

typedef struct outs {
	int n;
	char ids[64][33];
} outs;

static int keep(void *ctx, const cd_output *o)
{
	outs *s = ctx;
	if (s->n < 64)
		memcpy(s->ids[s->n], o->event_id, 33);
	s->n++;
	return 0;
}

static void test_explaining_changes_nothing(void **state)
{
	tc t;
	cd_engine_config cfg;
	cd_engine *fresh;
	cd_citizen other;
	cd_buf before, after;
	outs a = { 0 }, b = { 0 };
	cd_event late = talk("e9", at(2021, 3, 4, 10), "c9", CD_JOBCENTER, CD_IN_PERSON, false);
	cd_err err;
	(void)state;
	start(&t, rules, "none");
	cd_engine_config_default(&cfg);
	cfg.warn_lead_days = 0;                  /* as start() */
	fresh = cd_engine_new(rules, &cfg);
	in(&t, reg("e1", at(2021, 3, 1, 9), CD_KONTANTHJAELP, CD_AKTIVITETSPARAT));
	in(&t, talk("e2", at(2021, 3, 10, 10), "c1", CD_JOBCENTER, CD_IN_PERSON, false));
	cd_engine_advance(t.e, &t.c, "p1", at(2021, 3, 20, 0), NULL, NULL, &err);
	cd_buf_init(&before, 1 << 20);
	cd_buf_init(&after, 1 << 20);
	assert_int_equal(cd_citizen_encode(&t.c, &before), 0);
	assert_int_equal(cd_explain(t.e, &t.c, t.c.clock, &t.x, &err), 0);
	assert_int_equal(cd_citizen_encode(&t.c, &after), 0);
	assert_int_equal(before.len, after.len);
	assert_memory_equal(before.data, after.data, before.len);
	/* the same input afterwards, on this engine and on a fresh one from the same record */
	cd_citizen_init(&other);
	assert_int_equal(cd_citizen_decode(&other, (const uint8_t *)before.data, before.len, &err), 0);
	late.recorded_at = at(2021, 3, 21, 9);
	assert_int_equal(cd_engine_apply(t.e, &t.c, "p1", &late, keep, &a, &err), 0);
	assert_int_equal(cd_engine_apply(fresh, &other, "p1", &late, keep, &b, &err), 0);
	assert_true(a.n > 0);
	assert_int_equal(a.n, b.n);
	assert_memory_equal(a.ids, b.ids, sizeof(a.ids[0]) * (size_t)(a.n < 64 ? a.n : 64));
	cd_citizen_release(&other);
	cd_buf_release(&before);
	cd_buf_release(&after);
	cd_engine_free(fresh);
	stop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_why_agrees_with_the_filter),
		cmocka_unit_test(test_form_and_holder),
		cmocka_unit_test(test_window_and_already_met),
		cmocka_unit_test(test_voided_and_superseded),
		cmocka_unit_test(test_taken_and_not_joint),
		cmocka_unit_test(test_after_end),
		cmocka_unit_test(test_schedule_slots),
		cmocka_unit_test(test_ordinals),
		cmocka_unit_test(test_first_conversation_decides),
		cmocka_unit_test(test_timeline_effects),
		cmocka_unit_test(test_exemptions),
		cmocka_unit_test(test_explaining_changes_nothing),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
