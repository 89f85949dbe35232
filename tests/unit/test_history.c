/*
 * test_history.c — bounded history: compaction folds what can no longer change
 * an output (and refuses the inputs that would need it), retention deletes a
 * citizen's state a configured time after their last period ended, and the
 * record's summary survives its binary form. Each engine test runs the same
 * inputs through an engine that compacts and one that never does: what the
 * first emits must be what the second emits.
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
#include "state/memstore.h"

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

/* ---- inputs -------------------------------------------------------------------------- */

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
	ev.citizen_id = "citizen-7";
	ev.citizen_id_len = strlen(ev.citizen_id);
	ev.occurred_at = t;
	ev.kind = kind;
	return ev;
}

static cd_event reg(const char *id, cd_instant t, int benefit, int category)
{
	cd_event ev = base(id, t, CD_EV_REGISTRATION);
	ev.benefit = (uint8_t)benefit;
	ev.category = (uint8_t)category;
	strcpy(ev.muni, "101");
	return ev;
}

static cd_event dereg(const char *id, cd_instant t, bool ends_dp)
{
	cd_event ev = base(id, t, CD_EV_DEREGISTRATION);
	ev.dereg_reason = CD_DEREG_JOB;
	ev.ends_dp = ends_dp;
	return ev;
}

static cd_event conv(const char *id, cd_instant t, const char *cv)
{
	cd_event ev = base(id, t, CD_EV_CONVERSATION);
	ev.conv_id = cv;
	ev.conv_id_len = strlen(cv);
	ev.form = CD_IN_PERSON;
	ev.held_by = CD_JOBCENTER;
	return ev;
}

static cd_event tick(cd_instant t)
{
	cd_event ev = base("", t, CD_EV_CLOCK_TICK);
	ev.event_id = "tick";
	ev.event_id_len = 4;
	return ev;
}

/* ---- two engines in step --------------------------------------------------------------- */

typedef struct outs {
	int n;
	char line[256][160];
} outs;

static int keep(void *ctx, const cd_output *o)
{
	outs *s = ctx;
	char d[CD_DATE_STRLEN];
	if (s->n < 256)
		snprintf(s->line[s->n], sizeof(s->line[0]), "%s %s %s due=%s held=%d as_of=%lld", o->event_id,
			 cd_output_status_name(o), o->obligation_id, o->due == CD_DATE_NONE ? "-" : cd_date_format(o->due, d),
			 o->held, (long long)o->as_of);
	s->n++;
	return 0;
}

typedef struct pair {
	cd_engine *e[2];         /* [0] compacts (and retains), [1] never does */
	cd_citizen c[2];
	outs o[2];
	cd_err err;
} pair;

static void pair_new(pair *p, int horizon, int retention)
{
	cd_engine_config cfg;
	memset(p, 0, sizeof(*p));
	cd_engine_config_default(&cfg);
	cfg.warn_lead_days = 0;
	cfg.history_horizon_days = horizon;
	cfg.retention_days = retention;
	p->e[0] = cd_engine_new(rules, &cfg);
	cfg.history_horizon_days = 0;
	cfg.retention_days = 0;
	p->e[1] = cd_engine_new(rules, &cfg);
	assert_non_null(p->e[0]);
	assert_non_null(p->e[1]);
	cd_citizen_init(&p->c[0]);
	cd_citizen_init(&p->c[1]);
}

static void pair_free(pair *p)
{
	for (int i = 0; i < 2; i++) {
		cd_citizen_release(&p->c[i]);
		cd_engine_free(p->e[i]);
	}
}

/* Applies ev to both; both must accept it and say the same. */
static void both(pair *p, cd_event ev)
{
	int n0 = p->o[0].n, n1 = p->o[1].n;
	cd_err err;
	assert_int_equal(cd_event_validate(&ev, &err), 0);
	for (int i = 0; i < 2; i++)
		if (cd_engine_apply(p->e[i], &p->c[i], "citizen-7", &ev, keep, &p->o[i], &err) < 0)
			fail_msg("engine %d refused %s: %s", i, ev.event_id, err.msg);
	assert_int_equal(p->o[0].n - n0, p->o[1].n - n1);
	for (int k = 0; k < p->o[0].n - n0 && n0 + k < 256; k++)
		assert_string_equal(p->o[0].line[n0 + k], p->o[1].line[n1 + k]);
}

/* Applies ev to the compacting engine, which must refuse it; nothing is emitted or changed. */
static void refused(pair *p, cd_event ev, const char *why)
{
	int n0 = p->o[0].n;
	size_t n_ev = p->c[0].n_ev;
	assert_int_equal(cd_event_validate(&ev, &p->err), 0);
	assert_int_equal(cd_engine_apply(p->e[0], &p->c[0], "citizen-7", &ev, keep, &p->o[0], &p->err), -1);
	assert_non_null(strstr(p->err.msg, why));
	assert_null(strstr(p->err.msg, "citizen-7"));     /* reasons reach logs and dead letters */
	assert_int_equal(p->o[0].n, n0);
	assert_int_equal(p->c[0].n_ev, n_ev);
}

/* A kontanthjælp period in 2021, ended, every obligation decided; then years pass. */
static void ended_period(pair *p)
{
	both(p, reg("r1", at(2021, 3, 1, 9), CD_KONTANTHJAELP, CD_JOBPARAT));
	both(p, conv("k1", at(2021, 3, 10, 9), "cv-1"));
	both(p, conv("k2", at(2021, 4, 20, 9), "cv-2"));
	both(p, dereg("d1", at(2021, 6, 1, 9), false));
	both(p, tick(at(2023, 7, 1, 0)));           /* 2021-06-01 is past a 730-day horizon from here */
}

/* ---- compaction ------------------------------------------------------------------------ */

static void test_an_ended_decided_period_past_the_horizon_is_folded(void **state)
{
	pair p;
	const cd_engine_stats *st;
	(void)state;
	pair_new(&p, 730, 0);
	ended_period(&p);
	assert_int_equal(p.c[0].n_ev, 0);
	assert_int_equal(p.c[0].n_ob, 0);
	assert_int_equal(p.c[0].n_folded, 4);
	assert_int_equal(p.c[0].fold_until, cd_date_from_ymd(2021, 6, 1));
	assert_int_equal(p.c[0].n_fold_conv, 2);
	assert_int_equal(p.c[1].n_ev, 4);
	assert_true(p.c[1].n_ob > 0);
	st = cd_engine_stats_get(p.e[0]);
	assert_int_equal(st->compactions, 1);
	assert_int_equal(st->folded_events, 4);
	assert_int_equal(st->folded_states, p.c[1].n_ob);
	/* What comes after is said exactly as by the engine that kept everything. */
	both(&p, reg("r2", at(2023, 8, 1, 9), CD_KONTANTHJAELP, CD_JOBPARAT));
	both(&p, conv("k3", at(2023, 8, 15, 9), "cv-3"));
	both(&p, tick(at(2024, 3, 1, 0)));
	assert_true(p.o[0].n > 8);
	pair_free(&p);
}

static void test_nothing_is_folded_inside_the_horizon_or_while_a_period_runs(void **state)
{
	pair p;
	(void)state;
	/* ended, but only 18 months ago */
	pair_new(&p, 730, 0);
	both(&p, reg("r1", at(2021, 3, 1, 9), CD_KONTANTHJAELP, CD_JOBPARAT));
	both(&p, dereg("d1", at(2021, 6, 1, 9), false));
	both(&p, tick(at(2022, 12, 1, 0)));
	assert_int_equal(p.c[0].n_ev, 2);
	assert_int_equal(p.c[0].fold_until, CD_DATE_NONE);
	pair_free(&p);
	/* old, but still running */
	pair_new(&p, 30, 0);
	both(&p, reg("r1", at(2021, 3, 1, 9), CD_KONTANTHJAELP, CD_JOBPARAT));
	both(&p, conv("k1", at(2021, 3, 10, 9), "cv-1"));
	both(&p, tick(at(2024, 1, 1, 0)));
	assert_int_equal(p.c[0].n_ev, 2);
	assert_int_equal(p.c[0].fold_until, CD_DATE_NONE);
	pair_free(&p);
}

static void test_an_input_on_the_boundary_is_refused_and_the_day_after_is_not(void **state)
{
	pair p;
	(void)state;
	pair_new(&p, 730, 0);
	ended_period(&p);
	/* the boundary day itself, late in the evening: it would have been inside the folded period's day */
	refused(&p, conv("k9", at(2021, 6, 1, 22), "cv-9"), "history through 2021-06-01 is folded");
	/* a duplicate of a folded input is refused, not taken for new */
	refused(&p, conv("k1", at(2021, 3, 10, 9), "cv-1"), "a late input or a duplicate");
	/* an input whose anchor lies in the folded stretch */
	{
		cd_event r = reg("r3", at(2023, 8, 1, 9), CD_SYGEDAGPENGE, 0);
		r.first_absence = cd_date_from_ymd(2021, 5, 1);
		refused(&p, r, "first_absence_date");
	}
	/* the day after the boundary is inside the kept history: accepted by both alike */
	both(&p, conv("k8", at(2021, 6, 2, 9), "cv-8"));
	assert_int_equal(cd_engine_stats_get(p.e[0])->refused_folded, 3);
	pair_free(&p);
}

static void test_a_void_or_correction_of_a_folded_conversation_is_refused(void **state)
{
	pair p;
	cd_event v;
	(void)state;
	pair_new(&p, 730, 0);
	ended_period(&p);
	v = base("v1", at(2023, 8, 1, 9), CD_EV_CONVERSATION);
	v.conv_id = "cv-2";
	v.conv_id_len = 4;
	v.voided = true;
	refused(&p, v, "the conversation it voids is in the citizen's folded history");
	refused(&p, conv("k2b", at(2023, 8, 1, 9), "cv-1"), "the conversation it corrects");
	/* a new conversation id is nobody's correction */
	both(&p, conv("k4", at(2023, 8, 2, 9), "cv-4"));
	pair_free(&p);
}

static void test_a_kept_conversation_sharing_an_id_stops_the_fold_before_it(void **state)
{
	pair p;
	(void)state;
	pair_new(&p, 60, 0);
	both(&p, conv("k0", at(2021, 2, 1, 9), "cv-x"));       /* before any period */
	both(&p, reg("r1", at(2021, 3, 1, 9), CD_KONTANTHJAELP, CD_JOBPARAT));
	both(&p, dereg("d1", at(2021, 4, 1, 9), false));
	both(&p, conv("k5", at(2021, 9, 1, 9), "cv-x"));       /* a later version of the same conversation */
	both(&p, tick(at(2021, 10, 1, 0)));
	both(&p, conv("k6", at(2021, 10, 2, 9), "cv-y"));      /* a step at 10-01: k5 inside the horizon, the rest not */
	/* folding k0 would change which version counts: nothing before it goes */
	assert_int_equal(p.c[0].n_folded, 0);
	assert_int_equal(p.c[0].n_ev, 5);
	both(&p, tick(at(2022, 6, 1, 0)));                     /* once k5 is past it too, all of it goes */
	assert_int_equal(p.c[0].n_folded, 5);
	assert_int_equal(p.c[0].n_ev, 0);
	pair_free(&p);
}

static void test_a_new_dagpenge_period_after_compaction_keeps_its_cumulative_clock(void **state)
{
	pair p;
	cd_event r;
	(void)state;
	pair_new(&p, 365, 0);
	r = reg("r1", at(2020, 1, 15, 9), CD_DAGPENGE, 0);
	both(&p, r);
	both(&p, dereg("d1", at(2020, 3, 1, 9), true));           /* ends the dagpenge period */
	both(&p, tick(at(2021, 6, 1, 0)));
	assert_int_equal(p.c[0].n_folded, 2);
	/* a new dagpenge period carrying days over: its clock, pauses and resumes, as without compaction */
	r = reg("r2", at(2021, 7, 1, 9), CD_DAGPENGE, 0);
	r.prior_days = 40;
	both(&p, r);
	both(&p, dereg("d2", at(2021, 8, 1, 9), false));          /* a pause */
	both(&p, tick(at(2022, 10, 1, 0)));                        /* far past the horizon, but paused: kept */
	r = reg("r3", at(2022, 10, 3, 9), CD_DAGPENGE, 0);
	r.dp_start = cd_date_from_ymd(2021, 7, 1);                  /* resumes it */
	both(&p, r);
	both(&p, tick(at(2023, 6, 1, 0)));
	assert_int_equal(p.c[0].n_folded, 2);
	assert_int_equal(p.c[0].n_ev, 3);
	pair_free(&p);
}

static void test_compaction_off_folds_nothing(void **state)
{
	pair p;
	(void)state;
	pair_new(&p, 0, 0);
	ended_period(&p);
	both(&p, tick(at(2030, 1, 1, 0)));
	assert_int_equal(p.c[0].n_ev, 4);
	assert_int_equal(p.c[0].fold_until, CD_DATE_NONE);
	assert_int_equal(cd_engine_stats_get(p.e[0])->compactions, 0);
	pair_free(&p);
}

/* ---- the record ------------------------------------------------------------------------ */

static void test_a_folded_record_round_trips_and_an_old_one_is_still_read(void **state)
{
	pair p;
	cd_buf b3, b4, again;
	cd_citizen d;
	cd_err err;
	(void)state;
	pair_new(&p, 730, 0);
	both(&p, reg("r1", at(2021, 3, 1, 9), CD_KONTANTHJAELP, CD_JOBPARAT));
	both(&p, conv("k1", at(2021, 3, 10, 9), "cv-1"));
	both(&p, dereg("d1", at(2021, 6, 1, 9), false));
	cd_buf_init(&b3, 1 << 20);
	cd_buf_init(&b4, 1 << 20);
	cd_buf_init(&again, 1 << 20);
	cd_citizen_init(&d);
	/* nothing folded yet: the record is written in the version an older build reads */
	assert_int_equal(cd_citizen_encode(&p.c[0], &b3), 0);
	assert_int_equal((uint8_t)b3.data[0], 3);
	/* decoded from that form, the engine folds it as it would have folded its own */
	assert_int_equal(cd_citizen_decode(&d, (const uint8_t *)b3.data, b3.len, &err), 0);
	assert_int_equal(cd_engine_advance(p.e[0], &d, "citizen-7", at(2023, 7, 1, 0), keep, &p.o[0], &err), 0);
	assert_int_equal(d.n_ev, 0);
	assert_int_equal(d.n_folded, 3);
	assert_int_equal(cd_citizen_encode(&d, &b4), 0);
	assert_int_equal((uint8_t)b4.data[0], 4);
	assert_true(b4.len < b3.len);
	assert_int_equal(cd_citizen_decode(&d, (const uint8_t *)b4.data, b4.len, &err), 0);
	assert_int_equal(d.fold_until, cd_date_from_ymd(2021, 6, 1));
	assert_int_equal(d.n_folded, 3);
	assert_int_equal(d.n_fold_conv, 1);
	assert_true(cd_citizen_folded_conv(&d, d.fold_conv[0]));
	assert_int_equal(cd_citizen_encode(&d, &again), 0);
	assert_int_equal(again.len, b4.len);
	assert_memory_equal(again.data, b4.data, b4.len);
	/* a summary that says the kept history lies inside the folded stretch is corrupt */
	{
		cd_citizen x;
		cd_buf bad;
		cd_citizen_init(&x);
		cd_buf_init(&bad, 1 << 20);
		assert_int_equal(cd_citizen_decode(&x, (const uint8_t *)b3.data, b3.len, &err), 0);
		x.fold_until = cd_date_from_ymd(2021, 3, 1);           /* on the first kept entry's day */
		assert_int_equal(cd_citizen_encode(&x, &bad), 0);
		assert_int_equal(cd_citizen_decode(&x, (const uint8_t *)bad.data, bad.len, &err), -1);
		assert_non_null(strstr(err.msg, "fold_until"));
		/* and a hash count past its bound */
		cd_buf_reset(&bad);
		assert_int_equal(cd_citizen_decode(&x, (const uint8_t *)b4.data, b4.len, &err), 0);
		assert_int_equal(cd_citizen_encode(&x, &bad), 0);
		bad.data[bad.len - 9] = (char)0xff;  /* n_fold_conv (1, one byte) before the one 8-byte hash */
		assert_int_equal(cd_citizen_decode(&x, (const uint8_t *)bad.data, bad.len, &err), -1);
		assert_non_null(strstr(err.msg, "n_fold_conv"));
		cd_buf_release(&bad);
		cd_citizen_release(&x);
	}
	cd_citizen_release(&d);
	cd_buf_release(&b3);
	cd_buf_release(&b4);
	cd_buf_release(&again);
	pair_free(&p);
}

static void test_folded_conversation_ids_are_bounded(void **state)
{
	cd_citizen c;
	(void)state;
	cd_citizen_init(&c);
	for (uint64_t h = 1; h <= CD_FOLD_CONV_MAX + 10; h++)
		assert_int_equal(cd_citizen_fold_conv(&c, h), 0);
	assert_int_equal(c.n_fold_conv, CD_FOLD_CONV_MAX);
	assert_false(cd_citizen_folded_conv(&c, 10));              /* the oldest are forgotten */
	assert_true(cd_citizen_folded_conv(&c, 11));
	assert_true(cd_citizen_folded_conv(&c, CD_FOLD_CONV_MAX + 10));
	cd_citizen_release(&c);
}

/* ---- retention ------------------------------------------------------------------------- */

static void test_retention_deletes_the_state_when_its_instant_comes(void **state)
{
	cd_engine_config cfg;
	cd_engine *e;
	cd_citizen c;
	cd_event ev;
	cd_err err;
	cd_instant gone = cd_cph_midnight(cd_date_from_ymd(2021, 6, 1) + 100);
	(void)state;
	cd_engine_config_default(&cfg);
	cfg.retention_days = 100;
	cfg.history_horizon_days = 0;
	e = cd_engine_new(rules, &cfg);
	cd_citizen_init(&c);
	ev = reg("r1", at(2021, 3, 1, 9), CD_KONTANTHJAELP, CD_JOBPARAT);
	assert_int_equal(cd_engine_apply(e, &c, "citizen-7", &ev, NULL, NULL, &err), 0);
	assert_true(c.next_fire < gone);                             /* the period runs: its own instants */
	ev = dereg("d1", at(2021, 6, 1, 9), false);
	assert_int_equal(cd_engine_apply(e, &c, "citizen-7", &ev, NULL, NULL, &err), 0);
	assert_int_equal(cd_engine_advance(e, &c, "citizen-7", at(2021, 7, 1, 0), NULL, NULL, &err), 0);
	assert_int_equal(c.next_fire, gone);                        /* nothing runs: the deletion is its timer */
	assert_int_equal(cd_engine_advance(e, &c, "citizen-7", gone - 1, NULL, NULL, &err), 0);
	assert_false(c.retired);
	assert_int_equal(c.n_ev, 2);
	assert_int_equal(cd_engine_advance(e, &c, "citizen-7", gone, NULL, NULL, &err), 0);
	assert_true(c.retired);
	assert_int_equal(c.n_ev, 0);
	assert_int_equal(c.n_ob, 0);
	assert_int_equal(c.next_fire, CD_INSTANT_NONE);
	assert_int_equal(cd_engine_stats_get(e)->retired, 1);
	/* a later input starts a new record */
	ev = reg("r2", at(2021, 10, 1, 9), CD_KONTANTHJAELP, CD_JOBPARAT);
	assert_int_equal(cd_engine_apply(e, &c, "citizen-7", &ev, NULL, NULL, &err), 0);
	assert_false(c.retired);
	assert_int_equal(c.n_ev, 1);
	cd_citizen_release(&c);
	cd_engine_free(e);
}

static void test_retention_waits_for_a_paused_period_and_late_inputs(void **state)
{
	cd_engine_config cfg;
	cd_engine *e;
	cd_citizen c;
	cd_event ev;
	cd_err err;
	(void)state;
	cd_engine_config_default(&cfg);
	cfg.retention_days = 30;
	e = cd_engine_new(rules, &cfg);
	cd_citizen_init(&c);
	ev = reg("r1", at(2021, 3, 1, 9), CD_DAGPENGE, 0);
	assert_int_equal(cd_engine_apply(e, &c, "citizen-7", &ev, NULL, NULL, &err), 0);
	ev = dereg("d1", at(2021, 4, 1, 9), false);                  /* paused, not ended */
	assert_int_equal(cd_engine_apply(e, &c, "citizen-7", &ev, NULL, NULL, &err), 0);
	assert_int_equal(cd_engine_advance(e, &c, "citizen-7", at(2023, 1, 1, 0), NULL, NULL, &err), 0);
	assert_false(c.retired);
	assert_int_equal(c.n_ev, 2);
	ev = dereg("d2", at(2023, 1, 2, 9), true);                   /* now it ends */
	assert_int_equal(cd_engine_apply(e, &c, "citizen-7", &ev, NULL, NULL, &err), 0);
	assert_int_equal(c.next_fire, cd_cph_midnight(cd_date_from_ymd(2023, 1, 2) + 30));
	ev = conv("k1", at(2023, 1, 20, 9), "cv-1");                  /* a later input moves it on */
	assert_int_equal(cd_engine_apply(e, &c, "citizen-7", &ev, NULL, NULL, &err), 0);
	assert_int_equal(c.next_fire, cd_cph_midnight(cd_date_from_ymd(2023, 1, 20) + 30));
	assert_int_equal(cd_engine_advance(e, &c, "citizen-7", at(2023, 3, 1, 0), NULL, NULL, &err), 0);
	assert_true(c.retired);
	cd_citizen_release(&c);
	cd_engine_free(e);
}

static void test_the_memory_store_deletes_a_citizen_and_keeps_the_others_in_order(void **state)
{
	cd_memstore *s = cd_memstore_new(0);
	const uint8_t *rec;
	const char *id;
	size_t n, len;
	char key[16];
	cd_err err;
	(void)state;
	assert_non_null(s);
	/* enough citizens that probe chains form and the table grows */
	for (int i = 0; i < 3000; i++) {
		snprintf(key, sizeof(key), "c%04d", i);
		assert_int_equal(cd_memstore_put(s, key, strlen(key), (const uint8_t *)key, strlen(key),
						 (cd_instant)(3000 - i), &err), 0);
	}
	for (int i = 0; i < 3000; i += 2) {
		snprintf(key, sizeof(key), "c%04d", i);
		assert_int_equal(cd_memstore_del(s, key, strlen(key)), 1);
		assert_int_equal(cd_memstore_del(s, key, strlen(key)), 0);
	}
	assert_int_equal(cd_memstore_count(s), 1500);
	for (int i = 0; i < 3000; i++) {
		snprintf(key, sizeof(key), "c%04d", i);
		assert_int_equal(cd_memstore_get(s, key, strlen(key), &rec, &n), i % 2);
		if (i % 2) {
			assert_int_equal(n, strlen(key));
			assert_memory_equal(rec, key, n);
		}
	}
	/* the timers of those left come out earliest first: c2999 (1), c2997 (3), … */
	for (int i = 2999; i > 0; i -= 2) {
		char want[16];
		snprintf(want, sizeof(want), "c%04d", i);
		assert_int_equal(cd_memstore_next_due(s, INT64_MAX - 1, &id, &len), 1);
		assert_string_equal(id, want);
		assert_int_equal(cd_memstore_put(s, id, len, (const uint8_t *)"x", 1, CD_INSTANT_NONE, &err), 0);
	}
	assert_int_equal(cd_memstore_next_due(s, INT64_MAX - 1, &id, &len), 0);
	cd_memstore_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_an_ended_decided_period_past_the_horizon_is_folded),
		cmocka_unit_test(test_nothing_is_folded_inside_the_horizon_or_while_a_period_runs),
		cmocka_unit_test(test_an_input_on_the_boundary_is_refused_and_the_day_after_is_not),
		cmocka_unit_test(test_a_void_or_correction_of_a_folded_conversation_is_refused),
		cmocka_unit_test(test_a_kept_conversation_sharing_an_id_stops_the_fold_before_it),
		cmocka_unit_test(test_a_new_dagpenge_period_after_compaction_keeps_its_cumulative_clock),
		cmocka_unit_test(test_compaction_off_folds_nothing),
		cmocka_unit_test(test_a_folded_record_round_trips_and_an_old_one_is_still_read),
		cmocka_unit_test(test_folded_conversation_ids_are_bounded),
		cmocka_unit_test(test_retention_deletes_the_state_when_its_instant_comes),
		cmocka_unit_test(test_retention_waits_for_a_paused_period_and_late_inputs),
		cmocka_unit_test(test_the_memory_store_deletes_a_citizen_and_keeps_the_others_in_order),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
