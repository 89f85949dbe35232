/*
 * test_citizen.c — the citizen record and its binary codec (state/citizen.c).
 *
 * The record is read back from Redis and from the in-memory store, so decode
 * is an input path: whatever the bytes, it must fail cleanly (an error, an
 * empty citizen, no crash, no leak) or give back exactly what was encoded.
 *
 * Corrupt records are written here by a small writer that follows the format
 * described at the top of citizen.c; the writer is checked once against
 * cd_citizen_encode (same bytes for the same citizen), so each corrupt record
 * differs from a valid one in exactly the byte the test is about. Every
 * decode reads from a heap copy of exactly the given length, so ASan catches
 * any read past the end. Tests that can hit undefined behaviour (which the
 * sanitizers turn into an abort) run the decode in a child process and check
 * how it ended, so one such bug does not take the rest of the suite with it.
 *
 * Decoding is also the engine's precondition: a record that decodes is handed
 * to the engine (inputs, the clock, encoding it back), in a child process,
 * and must never reach an assert, a crash or a sanitizer report there.
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

#include "proto/rules_json.h"
#include "state/citizen.h"
#include "state/date.h"
#include "state/engine.h"
#include "state/event.h"
#include "state/rules.h"
#include "util/buf.h"

#define FORMAT_VERSION 3          /* what cd_citizen_encode writes when nothing is folded */
#define FORMAT_VERSION_FOLDED 4   /* with a summary of folded history (test_history.c) */
#define FORMAT_VERSION_2 2        /* before member outcomes (no agg byte per state): still read */
#define FORMAT_VERSION_1 1        /* the format before the dk-2026 fields: still read */
#define ARENA_MAX ((size_t)16 << 20)   /* citizen.c's arena ceiling */

/* ---- a writer for hand-made records --------------------------------------- */

/*
 * The version the writer writes: FORMAT_VERSION unless a test asks for an
 * older layout: version 2 has no member outcome at the end of a state (agg,
 * and when non-zero agg_due, agg_held, agg_key); version 1 has neither that
 * nor the akasse_code after prior_unemployment_days. The payload of an
 * Exemption (version 2 on) is its scope byte.
 */
static unsigned wver = FORMAT_VERSION;

typedef struct wb {
	uint8_t b[1 << 16];
	size_t n;
} wb;

static uint64_t zz(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }

static void w_u8(wb *w, unsigned v)
{
	assert_true(w->n < sizeof(w->b));
	w->b[w->n++] = (uint8_t)v;
}

static void w_v(wb *w, uint64_t v)
{
	do {
		uint8_t c = v & 0x7f;
		v >>= 7;
		w_u8(w, c | (v ? 0x80 : 0));
	} while (v);
}

static void w_bytes(wb *w, const void *p, size_t n)
{
	assert_true(w->n + n <= sizeof(w->b));
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void w_strn(wb *w, const char *s, size_t n)
{
	w_v(w, n);
	w_bytes(w, s, n);
}

static void w_str(wb *w, const char *s) { w_strn(w, s, strlen(s)); }
static void w_date(wb *w, cd_date d) { w_v(w, d == CD_DATE_NONE ? 0 : zz(d) + 1); }
static void w_inst(wb *w, cd_instant t) { w_v(w, t == CD_INSTANT_NONE ? 0 : zz(t) + 1); }

static void w_header(wb *w, cd_instant clock, cd_instant next_fire, uint64_t n_ev)
{
	w_u8(w, wver);
	w_inst(w, clock);
	w_inst(w, next_fire);
	w_v(w, n_ev);
}

static void w_ev_head(wb *w, int64_t delta, unsigned kind, unsigned flags, const char *id)
{
	w_v(w, zz(delta));
	w_u8(w, kind);
	w_u8(w, flags);
	w_str(w, id);
}

/* Version 2 has akasse_code after prior_unemployment_days; version 1 has nothing. */
static void w_akasse(wb *w, const char *akasse)
{
	if (wver >= 2)
		w_str(w, akasse);
}

static void w_reg_body_ak(wb *w, unsigned benefit, unsigned category, const char *muni, cd_date fc, cd_date fa,
			  cd_date dp, int32_t prior, const char *akasse)
{
	w_u8(w, benefit);
	w_u8(w, category);
	w_str(w, muni);
	w_date(w, fc);
	w_date(w, fa);
	w_date(w, dp);
	w_v(w, (uint64_t)(int64_t)prior);
	w_akasse(w, akasse);
}

static void w_reg_body(wb *w, unsigned benefit, unsigned category, const char *muni, cd_date fc, cd_date fa,
		       cd_date dp, int32_t prior)
{
	w_reg_body_ak(w, benefit, category, muni, fc, fa, dp, prior, "");
}

static void w_conv_body(wb *w, const char *conv, unsigned form, unsigned held_by)
{
	w_str(w, conv);
	w_u8(w, form);
	w_u8(w, held_by);
}

typedef struct ob_spec {
	uint64_t pkey;
	cd_date pstart;
	const char *oid;
	unsigned status, reason, flags, benefit;
	const char *muni;
	cd_date due, ws, we;
	int32_t required, held;
	uint32_t transitions;
	/* version 3: what the aggregate stage was told (CD_MEMBER_*); the rest only when agg != 0 */
	unsigned agg;
	cd_date agg_due;
	int64_t agg_held;         /* wide, so that a test can write a value past the field's range */
	uint64_t agg_key;
} ob_spec;

static void w_ob(wb *w, const ob_spec *o)
{
	for (int k = 0; k < 8; k++)
		w_u8(w, (unsigned)(o->pkey >> (8 * k)) & 0xff);
	w_date(w, o->pstart);
	w_str(w, o->oid);
	w_u8(w, o->status);
	w_u8(w, o->reason);
	w_u8(w, o->flags);
	w_u8(w, o->benefit);
	w_str(w, o->muni);
	w_date(w, o->due);
	w_date(w, o->ws);
	w_date(w, o->we);
	w_v(w, (uint64_t)(int64_t)o->required);
	w_v(w, (uint64_t)(int64_t)o->held);
	w_v(w, o->transitions);
	if (wver >= 3) {
		w_u8(w, o->agg);
		if (o->agg) {
			w_date(w, o->agg_due);
			w_v(w, (uint64_t)o->agg_held);
			w_v(w, o->agg_key);
		}
	}
}

/* The member-outcome fields of a state that was never said to the aggregate stage. */
#define NO_MEMBER CD_MEMBER_UNDECIDED, CD_DATE_NONE, 0, 0

static const ob_spec BASE_OB = {
	0x0123456789abcdefULL, 18262, "dk-2020/four-in-six", CD_OB_OPEN, 0, 0, CD_DAGPENGE, "860",
	18444, 18262, 18444, 4, 1, 2, NO_MEMBER,
};

#define T0 (INT64_C(1577836800) * CD_NS_PER_SEC) /* 2020-01-01T00:00:00Z */

/* The small valid record the corrupt variants are made from: one conversation, one state. */
static void w_base(wb *w)
{
	w->n = 0;
	w_header(w, T0 + 5, CD_INSTANT_NONE, 1);
	w_ev_head(w, T0, CD_EV_CONVERSATION, CD_HF_JOINT, "ev-1");
	w_conv_body(w, "conv-1", CD_IN_PERSON, CD_JOBCENTER);
	w_v(w, 1);
	w_ob(w, &BASE_OB);
}

/* ---- decode helpers ------------------------------------------------------- */

static void assert_empty(const cd_citizen *c)
{
	assert_int_equal(c->n_ev, 0);
	assert_int_equal(c->n_ob, 0);
	assert_true(c->clock == CD_INSTANT_NONE);
	assert_true(c->next_fire == CD_INSTANT_NONE);
	assert_int_equal(c->str.len, 0);
}

/* Decodes a heap copy of exactly n bytes (so ASan sees any over-read). */
static int decode_copy(cd_citizen *c, const uint8_t *p, size_t n, cd_err *err)
{
	uint8_t *copy = malloc(n ? n : 1);
	int rc;
	assert_non_null(copy);
	if (n)
		memcpy(copy, p, n);
	rc = cd_citizen_decode(c, copy, n, err);
	free(copy);
	return rc;
}

/* Fills c with the base record, so that a failing decode has something to clear. */
static void fill_with_base(cd_citizen *c)
{
	wb w;
	cd_err err = { { 0 }, 0 };
	w_base(&w);
	if (decode_copy(c, w.b, w.n, &err) < 0)
		fail_msg("base record does not decode: %s", err.msg);
	assert_int_equal(c->n_ev, 1);
}

/* Asserts that decoding w fails cleanly: -1, a message, an empty citizen. */
static void assert_rejected(const wb *w, const char *what)
{
	cd_citizen c;
	cd_err err = { { 0 }, 0 };
	cd_citizen_init(&c);
	fill_with_base(&c);
	if (decode_copy(&c, w->b, w->n, &err) != -1)
		fail_msg("%s: a corrupt record was accepted", what);
	if (!err.msg[0])
		fail_msg("%s: rejected without a message", what);
	assert_empty(&c);
	cd_citizen_release(&c);
}

static void assert_accepted(const wb *w, const char *what)
{
	cd_citizen c;
	cd_err err = { { 0 }, 0 };
	cd_citizen_init(&c);
	if (decode_copy(&c, w->b, w->n, &err) != 0)
		fail_msg("%s: rejected: %s", what, err.msg);
	cd_citizen_release(&c);
}

/* ---- building citizens ---------------------------------------------------- */

static uint32_t intern(cd_citizen *c, const char *s)
{
	uint32_t off = 0;
	assert_int_equal(cd_citizen_intern(c, s, strlen(s), &off), 0);
	return off;
}

static cd_hev *add_ev(cd_citizen *c, cd_instant occurred, int kind, int flags, const char *id)
{
	cd_hev *e;
	assert_int_equal(cd_citizen_reserve_events(c, c->n_ev + 1), 0);
	e = &c->ev[c->n_ev++];
	memset(e, 0, sizeof(*e));
	e->occurred = occurred;
	e->date = cd_cph_date(occurred);
	e->kind = (uint8_t)kind;
	e->flags = (uint8_t)flags;
	e->id_off = intern(c, id);
	e->id_len = (uint8_t)strlen(id);   /* as the engine and the decoder set it */
	e->first_contact = e->first_absence = e->dp_start = CD_DATE_NONE;
	return e;
}

static cd_obst *add_ob(cd_citizen *c, const ob_spec *s)
{
	cd_obst *o;
	assert_int_equal(cd_citizen_reserve_obs(c, c->n_ob + 1), 0);
	o = &c->ob[c->n_ob++];
	memset(o, 0, sizeof(*o));
	o->pkey = s->pkey;
	o->pstart = s->pstart;
	o->oid_off = intern(c, s->oid);
	o->status = (uint8_t)s->status;
	o->reason = (uint8_t)s->reason;
	o->flags = (uint8_t)s->flags;
	o->benefit = (uint8_t)s->benefit;
	snprintf(o->muni, sizeof(o->muni), "%s", s->muni);
	o->due = s->due;
	o->ws = s->ws;
	o->we = s->we;
	o->required = s->required;
	o->held = s->held;
	o->transitions = s->transitions;
	o->agg = (uint8_t)s->agg;
	o->agg_due = s->agg ? s->agg_due : CD_DATE_NONE;
	o->agg_held = s->agg ? (int32_t)s->agg_held : 0;
	o->agg_key = s->agg ? (uint32_t)s->agg_key : 0;
	return o;
}

/* A citizen with every kind of history entry, values at the limits included. */
static void build_rich(cd_citizen *c)
{
	cd_hev *e;
	static const ob_spec ob2 = {
		UINT64_MAX, -719162, "policy-broendby/schedule", CD_OB_BREACHED, CD_OB_REASON_MAX, 0x7f | CD_OF_SEEN,
		CD_FOERTIDSPENSION, "0860", CD_DATE_NONE, -1, 2932896, CD_MAX_REQUIRED, INT32_MAX, UINT32_MAX,
		CD_MEMBER_EXEMPTED, -1000000, INT32_MAX, UINT32_MAX,     /* version 3: a member outcome at its limits */
	};
	static const ob_spec ob3 = {
		0, CD_DATE_NONE, "x", CD_OB_CANCELLED, 0, 0, CD_BENEFIT_NONE, "",
		CD_DATE_NONE, CD_DATE_NONE, CD_DATE_NONE, 0, 0, 0,
		CD_MEMBER_MET, CD_DATE_NONE, 0, 0,                       /* decided, its due date none */
	};
	static const ob_spec ob4 = {
		7, 20635, "dk-2026/a-kasse-share", CD_OB_LAPSED, 0, 0, CD_DAGPENGE, "101",
		20665, 20635, 20665, 1, 0, 3,
		CD_MEMBER_LAPSED, 20665, 0, 0x9e3779b9u,
	};
	static const ob_spec ob5 = {
		7, 20635, "dk-2024/four-in-six", CD_OB_CANCELLED, CD_CANCEL_LAW_CHANGED, 0, CD_KONTANTHJAELP, "101",
		20760, 20578, 20760, 4, 2, 2, NO_MEMBER,
	};

	c->clock = INT64_MAX;
	c->next_fire = INT64_MIN + 1;

	/* The first instant and the dates that validation (D28) allows. */
	e = add_ev(c, CD_EVENT_MIN_INSTANT, CD_EV_REGISTRATION, CD_HF_OPT_OUT | CD_HF_SEASONAL, "reg-1");
	e->benefit = CD_DAGPENGE;
	e->category = CD_UDDANNELSESPARAT;
	snprintf(e->muni, sizeof(e->muni), "0860");
	e->first_contact = CD_EVENT_MIN_DATE;    /* 1990-01-01 */
	e->first_absence = CD_EVENT_MAX_DATE;    /* 2099-12-31 */
	e->dp_start = 18262;
	e->prior_days = CD_MAX_PRIOR_DAYS;

	e = add_ev(c, T0, CD_EV_CONVERSATION, CD_HF_JOINT | CD_HF_VOIDED, "conv-ev-1");
	e->conv_off = intern(c, "conversation-\xc3\xa6\xc3\xb8\xc3\xa5");
	e->form = CD_VIA_OTHER;
	e->held_by = CD_OTHER_ACTOR;

	e = add_ev(c, T0, CD_EV_CONVERSATION, CD_HF_VOIDED, "conv-ev-0");  /* same instant: delta 0 */
	e->conv_off = intern(c, "c");
	e->form = CD_FORM_NONE;                   /* a void carries only the id */
	e->held_by = CD_HELD_NONE;

	e = add_ev(c, T0 - 1, CD_EV_BENEFIT_CHANGE, 0x1f, "bc-1");  /* delta -1 */
	e->benefit = CD_FOERTIDSPENSION;
	e->category = CD_CATEGORY_NONE;
	e->prior_days = 0;
	e->dp_start = CD_DATE_NONE;
	e->first_contact = 18262;

	/* Version 2: akasse codes (16 bytes, and empty), the new flag bits, Exemptions. */
	c->ev[0].akasse_off = intern(c, "AK-0123456789_ab");
	e = add_ev(c, T0 + 7, CD_EV_BENEFIT_CHANGE, CD_HF_COURSE | CD_HF_SICK_SHORT, "bc-2");
	e->benefit = CD_SYGEDAGPENGE;
	e->category = CD_JOBPARAT;
	e = add_ev(c, T0 + 8, CD_EV_EXEMPTION, 0, "ex-1");
	e->scope = CD_SCOPE_KOMMUNE;
	e = add_ev(c, T0 + 8, CD_EV_EXEMPTION, CD_HF_REVOKED, "ex-2");
	e->scope = CD_SCOPE_AKASSE;
	e = add_ev(c, T0 + 9, CD_EV_REGISTRATION, 0xff, "reg-ak");
	e->benefit = CD_DAGPENGE;
	e->category = CD_JOBPARAT;
	e->akasse_off = intern(c, "x");

	e = add_ev(c, INT64_C(4000000000000000000), CD_EV_DEREGISTRATION, CD_HF_ENDS_DP, "dereg-1"); /* 2096 */
	e->reason = CD_DEREG_OTHER;

	e = add_ev(c, CD_EVENT_MAX_INSTANT - 1, CD_EV_DEREGISTRATION, 0, "dereg-2");
	e->reason = CD_DEREG_NONE;

	add_ob(c, &BASE_OB);
	add_ob(c, &ob2);
	add_ob(c, &ob3);
	add_ob(c, &ob4);
	add_ob(c, &ob5);
}

static void assert_same_citizen(const cd_citizen *a, const cd_citizen *b)
{
	assert_true(a->clock == b->clock);
	assert_true(a->next_fire == b->next_fire);
	assert_int_equal(a->n_ev, b->n_ev);
	assert_int_equal(a->n_ob, b->n_ob);
	for (size_t i = 0; i < a->n_ev; i++) {
		const cd_hev *x = &a->ev[i], *y = &b->ev[i];
		assert_true(x->occurred == y->occurred);
		assert_int_equal(x->date, y->date);
		assert_int_equal(x->kind, y->kind);
		assert_int_equal(x->flags, y->flags);
		assert_string_equal(cd_citizen_str(a, x->id_off), cd_citizen_str(b, y->id_off));
		switch (x->kind) {
		case CD_EV_REGISTRATION:
		case CD_EV_BENEFIT_CHANGE:
			assert_int_equal(x->benefit, y->benefit);
			assert_int_equal(x->category, y->category);
			assert_string_equal(x->muni, y->muni);
			assert_int_equal(x->first_contact, y->first_contact);
			assert_int_equal(x->first_absence, y->first_absence);
			assert_int_equal(x->dp_start, y->dp_start);
			assert_int_equal(x->prior_days, y->prior_days);
			assert_string_equal(cd_citizen_str(a, x->akasse_off), cd_citizen_str(b, y->akasse_off));
			break;
		case CD_EV_EXEMPTION:
			assert_int_equal(x->scope, y->scope);
			break;
		case CD_EV_DEREGISTRATION:
			assert_int_equal(x->reason, y->reason);
			break;
		case CD_EV_CONVERSATION:
			assert_string_equal(cd_citizen_str(a, x->conv_off), cd_citizen_str(b, y->conv_off));
			assert_int_equal(x->form, y->form);
			assert_int_equal(x->held_by, y->held_by);
			break;
		default:
			fail_msg("unexpected kind %d", x->kind);
		}
	}
	for (size_t i = 0; i < a->n_ob; i++) {
		const cd_obst *x = &a->ob[i], *y = &b->ob[i];
		assert_true(x->pkey == y->pkey);
		assert_int_equal(x->pstart, y->pstart);
		assert_string_equal(cd_citizen_str(a, x->oid_off), cd_citizen_str(b, y->oid_off));
		assert_int_equal(x->status, y->status);
		assert_int_equal(x->reason, y->reason);
		assert_int_equal(x->flags & ~CD_OF_SEEN, y->flags);
		assert_int_equal(x->benefit, y->benefit);
		assert_string_equal(x->muni, y->muni);
		assert_int_equal(x->due, y->due);
		assert_int_equal(x->ws, y->ws);
		assert_int_equal(x->we, y->we);
		assert_int_equal(x->required, y->required);
		assert_int_equal(x->held, y->held);
		assert_int_equal(x->transitions, y->transitions);
		assert_int_equal(x->agg, y->agg);
		if (x->agg) {             /* the rest is stored only for a decided member */
			assert_int_equal(x->agg_due, y->agg_due);
			assert_int_equal(x->agg_held, y->agg_held);
			assert_int_equal(x->agg_key, y->agg_key);
		}
	}
}

/* ---- round trips ---------------------------------------------------------- */

static void test_the_test_writer_produces_the_same_bytes_as_cd_citizen_encode(void **state)
{
	cd_citizen c;
	cd_buf out;
	cd_hev *e;
	wb w;
	(void)state;
	cd_citizen_init(&c);
	cd_buf_init(&out, 1 << 20);
	c.clock = T0 + 5;
	e = add_ev(&c, T0, CD_EV_CONVERSATION, CD_HF_JOINT, "ev-1");
	e->conv_off = intern(&c, "conv-1");
	e->form = CD_IN_PERSON;
	e->held_by = CD_JOBCENTER;
	add_ob(&c, &BASE_OB);
	assert_int_equal(cd_citizen_encode(&c, &out), 0);
	w_base(&w);
	assert_int_equal(out.len, w.n);
	assert_memory_equal(out.data, w.b, w.n);
	cd_buf_release(&out);
	cd_citizen_release(&c);
}

static void test_record_with_every_kind_and_extreme_values_round_trips(void **state)
{
	cd_citizen a, b;
	cd_buf out1, out2;
	cd_err err = { { 0 }, 0 };
	(void)state;
	cd_citizen_init(&a);
	cd_citizen_init(&b);
	cd_buf_init(&out1, 1 << 20);
	cd_buf_init(&out2, 1 << 20);
	build_rich(&a);
	assert_int_equal(cd_citizen_encode(&a, &out1), 0);
	fill_with_base(&b); /* decode replaces whatever was there */
	if (decode_copy(&b, (const uint8_t *)out1.data, out1.len, &err) < 0)
		fail_msg("decode: %s", err.msg);
	assert_same_citizen(&a, &b);
	/* The transient SEEN flag is not stored. */
	assert_int_equal(b.ob[1].flags, 0x7f);
	/* Re-encoding gives the same bytes. */
	assert_int_equal(cd_citizen_encode(&b, &out2), 0);
	assert_int_equal(out1.len, out2.len);
	assert_memory_equal(out1.data, out2.data, out1.len);
	cd_buf_release(&out1);
	cd_buf_release(&out2);
	cd_citizen_release(&a);
	cd_citizen_release(&b);
}

static void test_empty_citizen_round_trips_with_none_clock(void **state)
{
	cd_citizen a, b;
	cd_buf out;
	cd_err err = { { 0 }, 0 };
	(void)state;
	cd_citizen_init(&a);
	cd_citizen_init(&b);
	cd_buf_init(&out, 1024);
	assert_int_equal(cd_citizen_encode(&a, &out), 0);
	fill_with_base(&b);
	if (decode_copy(&b, (const uint8_t *)out.data, out.len, &err) < 0)
		fail_msg("decode: %s", err.msg);
	assert_empty(&b);
	cd_buf_release(&out);
	cd_citizen_release(&a);
	cd_citizen_release(&b);
}

static void test_encode_into_a_full_buffer_fails(void **state)
{
	cd_citizen c;
	cd_buf out;
	(void)state;
	cd_citizen_init(&c);
	build_rich(&c);
	cd_buf_init(&out, 16);
	assert_int_equal(cd_citizen_encode(&c, &out), -1);
	cd_buf_release(&out);
	cd_citizen_release(&c);
}

/* ---- version 1 ------------------------------------------------------------ */

static void assert_usable(const wb *w, const char *what);
static void assert_refused_naming(const wb *w, const char *field, const char *what);

static const ob_spec SAMPLE_OB2 = {
	42, 18300, "dk-2020/first-within", CD_OB_CANCELLED, CD_CANCEL_SUPERSEDED, CD_OF_WARNED_LEAD, CD_KONTANTHJAELP,
	"0101", 18400, 18300, 18400, 1, 0, 5, NO_MEMBER,
};

/* Everything version 1 could hold: a history of each of its kinds and two states (wver's layout). */
static void w_sample(wb *w)
{
	w->n = 0;
	w_header(w, T0 + 100, T0 + 200, 4);
	w_ev_head(w, T0, CD_EV_REGISTRATION, CD_HF_OPT_OUT | CD_HF_SEASONAL, "r1");
	w_reg_body(w, CD_DAGPENGE, CD_JOBPARAT, "860", 18262, CD_DATE_NONE, 18262, 40);
	w_ev_head(w, 10, CD_EV_CONVERSATION, CD_HF_JOINT, "c1");
	w_conv_body(w, "conv-1", CD_PHONE, CD_AKASSE);
	w_ev_head(w, 20, CD_EV_BENEFIT_CHANGE, 0x1f, "b1");
	w_reg_body(w, CD_KONTANTHJAELP, CD_AKTIVITETSPARAT, "0101", CD_DATE_NONE, 18300, CD_DATE_NONE, 0);
	w_ev_head(w, 30, CD_EV_DEREGISTRATION, CD_HF_ENDS_DP, "d1");
	w_u8(w, CD_DEREG_JOB);
	w_v(w, 2);
	w_ob(w, &BASE_OB);
	w_ob(w, &SAMPLE_OB2);
}

static void build_sample(cd_citizen *c)
{
	cd_hev *e;
	c->clock = T0 + 100;
	c->next_fire = T0 + 200;
	e = add_ev(c, T0, CD_EV_REGISTRATION, CD_HF_OPT_OUT | CD_HF_SEASONAL, "r1");
	e->benefit = CD_DAGPENGE;
	e->category = CD_JOBPARAT;
	snprintf(e->muni, sizeof(e->muni), "860");
	e->first_contact = 18262;
	e->dp_start = 18262;
	e->prior_days = 40;
	e = add_ev(c, T0 + 10, CD_EV_CONVERSATION, CD_HF_JOINT, "c1");
	e->conv_off = intern(c, "conv-1");
	e->form = CD_PHONE;
	e->held_by = CD_AKASSE;
	e = add_ev(c, T0 + 30, CD_EV_BENEFIT_CHANGE, 0x1f, "b1");
	e->benefit = CD_KONTANTHJAELP;
	e->category = CD_AKTIVITETSPARAT;
	snprintf(e->muni, sizeof(e->muni), "0101");
	e->first_absence = 18300;
	e = add_ev(c, T0 + 60, CD_EV_DEREGISTRATION, CD_HF_ENDS_DP, "d1");
	e->reason = CD_DEREG_JOB;
	add_ob(c, &BASE_OB);
	add_ob(c, &SAMPLE_OB2);
}

/*
 * Records in Redis outlive a deployment: a version-1 record (no akasse_code,
 * no member outcome) and a version-2 record (no member outcome) each decode
 * to exactly what they held, and are written back as version 3, byte for
 * byte what the writer makes of the same citizen in version 3.
 */
static void test_version_1_and_2_records_decode_to_the_same_citizen_and_re_encode_as_version_3(void **state)
{
	cd_citizen want, got;
	cd_buf out;
	cd_err err = { { 0 }, 0 };
	wb wv[4];                                 /* wv[v]: the sample in version v's layout */
	(void)state;
	cd_citizen_init(&want);
	cd_citizen_init(&got);
	cd_buf_init(&out, 1 << 20);
	build_sample(&want);

	for (unsigned v = FORMAT_VERSION_1; v <= FORMAT_VERSION; v++) {
		wver = v;
		w_sample(&wv[v]);
		assert_int_equal(wv[v].b[0], v);
	}
	wver = FORMAT_VERSION;
	assert_int_equal(wv[1].n + 2, wv[2].n);   /* one empty akasse_code per Registration/BenefitChange */
	assert_int_equal(wv[2].n + 2, wv[3].n);   /* one member outcome 0 per state */

	for (unsigned v = FORMAT_VERSION_1; v <= FORMAT_VERSION; v++) {
		fill_with_base(&got);
		if (decode_copy(&got, wv[v].b, wv[v].n, &err) < 0)
			fail_msg("version %u: %s", v, err.msg);
		assert_same_citizen(&want, &got);
		assert_string_equal(cd_citizen_str(&got, got.ev[0].akasse_off), "");
		for (size_t i = 0; i < got.n_ob; i++) {
			assert_int_equal(got.ob[i].agg, CD_MEMBER_UNDECIDED);
			assert_int_equal(got.ob[i].agg_due, CD_DATE_NONE);
			assert_int_equal(got.ob[i].agg_held, 0);
			assert_int_equal(got.ob[i].agg_key, 0);
		}
		out.len = 0;
		assert_int_equal(cd_citizen_encode(&got, &out), 0);
		if (out.len != wv[3].n || memcmp(out.data, wv[3].b, wv[3].n))
			fail_msg("version %u re-encoded: %zu bytes, not the %zu of version 3", v, out.len, wv[3].n);
	}

	/* The version byte decides the layout: each layout under another known version byte is refused. */
	for (unsigned v = FORMAT_VERSION_1; v <= FORMAT_VERSION; v++)
		for (unsigned u = FORMAT_VERSION_1; u <= FORMAT_VERSION; u++) {
			wb w = wv[v];
			char what[64];
			if (u == v)
				continue;
			w.b[0] = (uint8_t)u;
			snprintf(what, sizeof(what), "version-%u layout under version byte %u", v, u);
			assert_rejected(&w, what);
		}

	cd_buf_release(&out);
	cd_citizen_release(&want);
	cd_citizen_release(&got);
}

/* The citizen of the version-2 additions, in wver's layout (2 or later). */
static void w_v2_sample(wb *w, const char *ak16, const ob_spec *o1, const ob_spec *o2, const ob_spec *o3)
{
	w->n = 0;
	w_header(w, T0 + 50, CD_INSTANT_NONE, 4);
	w_ev_head(w, T0, CD_EV_REGISTRATION, CD_HF_COURSE, "r1");
	w_reg_body_ak(w, CD_DAGPENGE, CD_UDDANNELSESPARAT, "", CD_DATE_NONE, CD_DATE_NONE, CD_DATE_NONE, 0, ak16);
	w_ev_head(w, 1, CD_EV_EXEMPTION, 0, "x1");
	w_u8(w, CD_SCOPE_KOMMUNE);
	w_ev_head(w, 1, CD_EV_EXEMPTION, CD_HF_REVOKED, "x2");
	w_u8(w, CD_SCOPE_AKASSE);
	w_ev_head(w, 1, CD_EV_BENEFIT_CHANGE, CD_HF_SICK_SHORT, "b1");
	w_reg_body(w, CD_SYGEDAGPENGE, 0, "", CD_DATE_NONE, CD_DATE_NONE, CD_DATE_NONE, 0);
	w_v(w, 3);
	w_ob(w, o1);
	w_ob(w, o2);
	w_ob(w, o3);
}

/* Every version-2 addition round-trips, and the writer agrees with the encoder on each. */
static void test_version_2_fields_round_trip_and_match_the_writer(void **state)
{
	static const ob_spec lapsed = {
		9, 20635, "dk-2026/a-kasse-share", CD_OB_LAPSED, 0, 0, CD_DAGPENGE, "101", 20665, 20635, 20665, 1, 0, 3,
		NO_MEMBER,
	};
	static const ob_spec law_changed = {
		9, 20577, "dk-2024/four-in-six", CD_OB_CANCELLED, CD_CANCEL_LAW_CHANGED, 0, CD_KONTANTHJAELP, "101",
		20760, 20577, 20760, 4, 1, 2, NO_MEMBER,
	};
	static const ob_spec exempted = {
		9, 20635, "dk-2026/jobcenter-share", CD_OB_CANCELLED, CD_CANCEL_EXEMPTED, 0, CD_DAGPENGE, "101",
		20665, 20635, 20665, 1, 0, 2, NO_MEMBER,
	};
	char ak16[CD_MAX_AKASSE_LEN + 1];
	cd_citizen a, b;
	cd_hev *e;
	cd_buf out;
	cd_err err = { { 0 }, 0 };
	wb w;
	(void)state;
	memcpy(ak16, "Ab0_-Ab0_-Ab0_-Z", CD_MAX_AKASSE_LEN);
	ak16[CD_MAX_AKASSE_LEN] = '\0';
	cd_citizen_init(&a);
	cd_citizen_init(&b);
	cd_buf_init(&out, 1 << 20);
	a.clock = T0 + 50;
	e = add_ev(&a, T0, CD_EV_REGISTRATION, CD_HF_COURSE, "r1");
	e->benefit = CD_DAGPENGE;
	e->category = CD_UDDANNELSESPARAT;
	e->akasse_off = intern(&a, ak16);
	e = add_ev(&a, T0 + 1, CD_EV_EXEMPTION, 0, "x1");
	e->scope = CD_SCOPE_KOMMUNE;
	e = add_ev(&a, T0 + 2, CD_EV_EXEMPTION, CD_HF_REVOKED, "x2");
	e->scope = CD_SCOPE_AKASSE;
	e = add_ev(&a, T0 + 3, CD_EV_BENEFIT_CHANGE, CD_HF_SICK_SHORT, "b1");
	e->benefit = CD_SYGEDAGPENGE;
	add_ob(&a, &lapsed);
	add_ob(&a, &law_changed);
	add_ob(&a, &exempted);
	assert_int_equal(cd_citizen_encode(&a, &out), 0);

	w_v2_sample(&w, ak16, &lapsed, &law_changed, &exempted);
	assert_int_equal(out.len, w.n);
	assert_memory_equal(out.data, w.b, w.n);

	if (decode_copy(&b, (const uint8_t *)out.data, out.len, &err) < 0)
		fail_msg("decode: %s", err.msg);
	assert_same_citizen(&a, &b);
	assert_string_equal(cd_citizen_str(&b, b.ev[0].akasse_off), ak16);
	assert_int_equal(b.ev[0].flags, CD_HF_COURSE);
	assert_int_equal(b.ev[1].scope, CD_SCOPE_KOMMUNE);
	assert_int_equal(b.ev[2].flags, CD_HF_REVOKED);
	assert_int_equal(b.ev[2].scope, CD_SCOPE_AKASSE);
	assert_int_equal(b.ev[3].flags, CD_HF_SICK_SHORT);
	assert_int_equal(b.ob[0].status, CD_OB_LAPSED);
	assert_int_equal(b.ob[1].reason, CD_CANCEL_LAW_CHANGED);
	assert_int_equal(b.ob[2].reason, CD_CANCEL_EXEMPTED);
	assert_usable(&w, "version-2 fields");
	/* The same citizen in the version-2 layout (no member outcomes) decodes to the same. */
	wver = FORMAT_VERSION_2;
	w_v2_sample(&w, ak16, &lapsed, &law_changed, &exempted);
	wver = FORMAT_VERSION;
	assert_int_equal(w.b[0], 2);
	assert_int_equal(w.n + 3, out.len);      /* one member outcome byte per state */
	fill_with_base(&b);
	if (decode_copy(&b, w.b, w.n, &err) < 0)
		fail_msg("version 2: %s", err.msg);
	assert_same_citizen(&a, &b);
	cd_buf_release(&out);
	cd_citizen_release(&a);
	cd_citizen_release(&b);
}

/*
 * Version 3: each state ends with what the aggregate stage was told (engine.h
 * cd_member). Undecided is one byte 0; a decided member (MET, LAPSED,
 * EXEMPTED) adds its due date, held and key hash. States with each outcome
 * round-trip, the writer agrees with the encoder, and the engine takes them.
 */
static void test_member_outcomes_of_each_kind_round_trip_and_match_the_writer(void **state)
{
	static const ob_spec obs[] = {
		{ 11, 20635, "dk-2026/four-in-six", CD_OB_OPEN, 0, 0, CD_KONTANTHJAELP, "101", 20818, 20635, 20818, 4, 1, 1,
		  CD_MEMBER_UNDECIDED, CD_DATE_NONE, 0, 0 },
		{ 12, 20635, "dk-2026/four-in-six", CD_OB_MET, 0, 0, CD_KONTANTHJAELP, "101", 20818, 20635, 20818, 4, 5, 2,
		  CD_MEMBER_MET, 20818, 5, 0x12345678u },
		{ 13, 20668, "dk-2026/akasse-two", CD_OB_LAPSED, 0, 0, CD_DAGPENGE, "101", 20759, 20668, 20759, 2, 1, 2,
		  CD_MEMBER_LAPSED, 20759, 1, 1 },
		{ 14, 20635, "dk-2026/four-in-six", CD_OB_CANCELLED, CD_CANCEL_EXEMPTED, 0, CD_KONTANTHJAELP, "0101",
		  20818, 20635, 20818, 4, 0, 2, CD_MEMBER_EXEMPTED, 20818, 0, UINT32_MAX },
	};
	cd_citizen a, b;
	cd_buf out, again;
	cd_err err = { { 0 }, 0 };
	wb w;
	(void)state;
	cd_citizen_init(&a);
	cd_citizen_init(&b);
	cd_buf_init(&out, 1 << 20);
	cd_buf_init(&again, 1 << 20);
	a.clock = T0 + 50;
	for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
		add_ob(&a, &obs[i]);
	assert_int_equal(cd_citizen_encode(&a, &out), 0);

	w.n = 0;
	w_header(&w, T0 + 50, CD_INSTANT_NONE, 0);
	w_v(&w, sizeof(obs) / sizeof(obs[0]));
	for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
		w_ob(&w, &obs[i]);
	assert_int_equal(w.b[0], 3);
	assert_int_equal(out.len, w.n);
	assert_memory_equal(out.data, w.b, w.n);

	fill_with_base(&b);
	if (decode_copy(&b, (const uint8_t *)out.data, out.len, &err) < 0)
		fail_msg("decode: %s", err.msg);
	assert_same_citizen(&a, &b);
	assert_int_equal(b.ob[0].agg, CD_MEMBER_UNDECIDED);
	assert_int_equal(b.ob[0].agg_due, CD_DATE_NONE);
	assert_int_equal(b.ob[1].agg, CD_MEMBER_MET);
	assert_int_equal(b.ob[1].agg_due, 20818);
	assert_int_equal(b.ob[1].agg_held, 5);
	assert_int_equal(b.ob[1].agg_key, 0x12345678u);
	assert_int_equal(b.ob[2].agg, CD_MEMBER_LAPSED);
	assert_int_equal(b.ob[2].agg_due, 20759);
	assert_int_equal(b.ob[2].agg_held, 1);
	assert_int_equal(b.ob[3].agg, CD_MEMBER_EXEMPTED);
	assert_int_equal(b.ob[3].agg_key, UINT32_MAX);
	assert_int_equal(cd_citizen_encode(&b, &again), 0);
	assert_int_equal(again.len, out.len);
	assert_memory_equal(again.data, out.data, out.len);

	/* An undecided state is one byte: no due date, held or key follows. */
	{
		wb u, u2;
		ob_spec o = obs[0];
		o.agg_due = 20818;           /* ignored by the writer, as by the encoder, when agg is 0 */
		o.agg_held = 7;
		u.n = u2.n = 0;
		w_ob(&u, &o);
		wver = FORMAT_VERSION_2;
		w_ob(&u2, &o);
		wver = FORMAT_VERSION;
		assert_int_equal(u2.n + 1, u.n);
		assert_memory_equal(u.b, u2.b, u2.n);
		assert_int_equal(u.b[u.n - 1], 0);
	}

	/* A decided member cut short after its outcome byte, or inside its fields, is refused naming them. */
	{
		wb t;
		w.n = 0;
		w_header(&w, T0 + 50, CD_INSTANT_NONE, 0);
		w_v(&w, 1);
		w_ob(&w, &obs[3]);            /* ends: 3, due (3 bytes), held 0 (1 byte), key (5 bytes) */
		assert_accepted(&w, "a decided member");
		t = w;
		t.n -= 1;
		assert_refused_naming(&t, "'obligations[0].member_key' is truncated", "member key cut short");
		t = w;
		t.n -= 5;
		assert_refused_naming(&t, "'obligations[0].member_key' is truncated", "member key missing");
		t = w;
		t.n -= 6;
		assert_refused_naming(&t, "'obligations[0].member_held' is truncated", "member held missing");
		t = w;
		t.n -= 8;
		assert_refused_naming(&t, "'obligations[0].member_due_date' is truncated", "member due date cut short");
		t = w;
		t.n -= 10;
		assert_refused_naming(&t, "'obligations[0].member_outcome' is truncated", "member outcome missing");
	}

	assert_usable(&w, "a decided member");
	cd_buf_release(&out);
	cd_buf_release(&again);
	cd_citizen_release(&a);
	cd_citizen_release(&b);
}

/* ---- truncation ----------------------------------------------------------- */

static void test_every_truncation_of_a_valid_record_fails_and_leaves_an_empty_citizen(void **state)
{
	cd_citizen a, c;
	cd_buf out;
	(void)state;
	cd_citizen_init(&a);
	cd_citizen_init(&c);
	cd_buf_init(&out, 1 << 20);
	build_rich(&a);
	assert_int_equal(cd_citizen_encode(&a, &out), 0);
	for (size_t n = 0; n < out.len; n++) {
		cd_err err = { { 0 }, 0 };
		fill_with_base(&c);
		if (decode_copy(&c, (const uint8_t *)out.data, n, &err) != -1)
			fail_msg("a record truncated to %zu of %zu bytes was accepted", n, out.len);
		if (!err.msg[0])
			fail_msg("truncation to %zu: no message", n);
		assert_empty(&c);
	}
	cd_buf_release(&out);
	cd_citizen_release(&a);
	cd_citizen_release(&c);
}

static void test_every_truncation_of_the_small_record_fails(void **state)
{
	wb w, t;
	(void)state;
	w_base(&w);
	for (size_t n = 0; n < w.n; n++) {
		char what[64];
		t = w;
		t.n = n;
		snprintf(what, sizeof(what), "truncated to %zu", n);
		assert_rejected(&t, what);
	}
}

/* ---- corrupt headers ------------------------------------------------------ */

static void test_record_with_wrong_version_byte_is_rejected(void **state)
{
	static const unsigned versions[] = { 0, FORMAT_VERSION_FOLDED + 1, 0x7f, 0xff };
	(void)state;
	/* The base record (a conversation and a state) in each known version's layout. */
	for (unsigned v = FORMAT_VERSION_1; v <= FORMAT_VERSION; v++) {
		wb w;
		wver = v;
		w_base(&w);
		wver = FORMAT_VERSION;
		assert_int_equal(w.b[0], v);
		assert_accepted(&w, "a known version");
	}
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		wb w;
		cd_citizen c;
		cd_err err = { { 0 }, 0 };
		w_base(&w);
		w.b[0] = (uint8_t)versions[i];
		assert_rejected(&w, "version");
		cd_citizen_init(&c);
		assert_int_equal(decode_copy(&c, w.b, w.n, &err), -1);
		assert_non_null(strstr(err.msg, "version"));
		cd_citizen_release(&c);
	}
}

static void test_record_with_trailing_garbage_is_rejected(void **state)
{
	static const uint8_t tails[][3] = { { 0x00 }, { 0x01 }, { 0xff }, { 0x00, 0x00, 0x00 } };
	static const size_t lens[] = { 1, 1, 1, 3 };
	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		wb w;
		w_base(&w);
		w_bytes(&w, tails[i], lens[i]);
		assert_rejected(&w, "trailing garbage");
	}
}

static void test_record_with_absurd_counts_is_rejected(void **state)
{
	wb w;
	(void)state;
	/* n_ev far larger than the record could hold. */
	w.n = 0;
	w_header(&w, T0, CD_INSTANT_NONE, UINT64_MAX);
	assert_rejected(&w, "n_ev UINT64_MAX");
	w.n = 0;
	w_header(&w, T0, CD_INSTANT_NONE, 1000);
	w_v(&w, 0);
	assert_rejected(&w, "n_ev 1000");
	/* n_ob likewise. */
	w.n = 0;
	w_header(&w, T0, CD_INSTANT_NONE, 0);
	w_v(&w, UINT64_MAX);
	assert_rejected(&w, "n_ob UINT64_MAX");
	/* An over-long varint (11 bytes). */
	w.n = 0;
	w_u8(&w, FORMAT_VERSION);
	for (int i = 0; i < 10; i++)
		w_u8(&w, 0xff);
	w_u8(&w, 0x01);
	w_v(&w, 0);
	w_v(&w, 0);
	w_v(&w, 0);
	assert_rejected(&w, "11-byte varint");
}

/* ---- corrupt events ------------------------------------------------------- */

/* One event of the given kind byte with a valid payload for it (if any), then no states. */
static void w_one_event(wb *w, unsigned kind, unsigned flags, const char *id)
{
	w->n = 0;
	w_header(w, T0, CD_INSTANT_NONE, 1);
	w_ev_head(w, T0, kind, flags, id);
	switch (kind) {
	case CD_EV_REGISTRATION:
	case CD_EV_BENEFIT_CHANGE:
		w_reg_body(w, CD_DAGPENGE, CD_JOBPARAT, "860", CD_DATE_NONE, CD_DATE_NONE, 18262, 0);
		break;
	case CD_EV_DEREGISTRATION:
		w_u8(w, CD_DEREG_JOB);
		break;
	case CD_EV_CONVERSATION:
		w_conv_body(w, "c", CD_PHONE, CD_AKASSE);
		break;
	case CD_EV_EXEMPTION:
		w_u8(w, CD_SCOPE_AKASSE);
		break;
	}
	w_v(w, 0);
}

static void test_event_with_out_of_range_kind_is_rejected(void **state)
{
	/* A clock tick (5) is an input, never a history entry, even between valid kinds. */
	static const unsigned kinds[] = { CD_EV_NONE, CD_EV_CLOCK_TICK, CD_EV_EXEMPTION + 1, 0xff };
	static const unsigned kinds_v1[] = { CD_EV_NONE, CD_EV_CLOCK_TICK, CD_EV_EXEMPTION, CD_EV_EXEMPTION + 1, 0xff };
	wb w;
	(void)state;
	for (int k = CD_EV_REGISTRATION; k <= CD_EV_EXEMPTION; k++) {
		if (k == CD_EV_CLOCK_TICK)
			continue;
		w_one_event(&w, (unsigned)k, 0, "e");
		assert_accepted(&w, "valid kind");
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		w_one_event(&w, kinds[i], 0, "e");
		assert_rejected(&w, "kind");
	}
	/* Version 1 knew kinds 1 … 4 only. */
	wver = FORMAT_VERSION_1;
	for (int k = CD_EV_REGISTRATION; k <= CD_EV_BENEFIT_CHANGE; k++) {
		w_one_event(&w, (unsigned)k, 0, "e");
		assert_accepted(&w, "valid version-1 kind");
	}
	for (size_t i = 0; i < sizeof(kinds_v1) / sizeof(kinds_v1[0]); i++) {
		w_one_event(&w, kinds_v1[i], 0, "e");
		assert_rejected(&w, "version-1 kind");
	}
	wver = FORMAT_VERSION;
}

static void test_event_with_unknown_flag_bits_is_rejected(void **state)
{
	wb w;
	(void)state;
	/* Version 2 uses all eight bits (0x20 COURSE, 0x40 SICK_SHORT, 0x80 REVOKED). */
	w_one_event(&w, CD_EV_CONVERSATION, 0x1f, "e");
	assert_accepted(&w, "the version-1 flags");
	w_one_event(&w, CD_EV_REGISTRATION, CD_HF_COURSE, "e");
	assert_accepted(&w, "flag 0x20");
	w_one_event(&w, CD_EV_REGISTRATION, CD_HF_SICK_SHORT, "e");
	assert_accepted(&w, "flag 0x40");
	w_one_event(&w, CD_EV_EXEMPTION, CD_HF_REVOKED, "e");
	assert_accepted(&w, "flag 0x80");
	w_one_event(&w, CD_EV_CONVERSATION, 0xff, "e");
	assert_accepted(&w, "every flag");
	/* Version 1 knew 0x1f only. */
	wver = FORMAT_VERSION_1;
	w_one_event(&w, CD_EV_CONVERSATION, 0x1f, "e");
	assert_accepted(&w, "all version-1 flags");
	w_one_event(&w, CD_EV_CONVERSATION, 0x20, "e");
	assert_rejected(&w, "version-1 flag 0x20");
	w_one_event(&w, CD_EV_REGISTRATION, 0x40, "e");
	assert_rejected(&w, "version-1 flag 0x40");
	w_one_event(&w, CD_EV_CONVERSATION, 0x80, "e");
	assert_rejected(&w, "version-1 flag 0x80");
	wver = FORMAT_VERSION;
}

static void test_registration_with_out_of_range_enum_byte_is_rejected(void **state)
{
	static const unsigned bad[][2] = {
		{ CD_BENEFIT_MAX + 1, CD_JOBPARAT }, { 0xff, CD_JOBPARAT },
		{ CD_DAGPENGE, CD_CATEGORY_MAX + 1 }, { CD_DAGPENGE, 0xff },
	};
	(void)state;
	for (int kind = CD_EV_REGISTRATION; kind <= CD_EV_BENEFIT_CHANGE; kind += CD_EV_BENEFIT_CHANGE - CD_EV_REGISTRATION) {
		wb w;
		w.n = 0;
		w_header(&w, T0, CD_INSTANT_NONE, 1);
		w_ev_head(&w, T0, (unsigned)kind, 0, "e");
		w_reg_body(&w, CD_BENEFIT_MAX, CD_CATEGORY_MAX, "860", CD_EVENT_MIN_DATE, CD_EVENT_MAX_DATE, 18262, 3650);
		w_v(&w, 0);
		assert_accepted(&w, "largest enum values");
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			w.n = 0;
			w_header(&w, T0, CD_INSTANT_NONE, 1);
			w_ev_head(&w, T0, (unsigned)kind, 0, "e");
			w_reg_body(&w, bad[i][0], bad[i][1], "860", CD_EVENT_MIN_DATE, CD_EVENT_MAX_DATE, 18262, 0);
			w_v(&w, 0);
			assert_rejected(&w, "benefit/category");
		}
	}
}

static void test_deregistration_with_out_of_range_reason_is_rejected(void **state)
{
	wb w;
	(void)state;
	w.n = 0;
	w_header(&w, T0, CD_INSTANT_NONE, 1);
	w_ev_head(&w, T0, CD_EV_DEREGISTRATION, 0, "e");
	w_u8(&w, CD_DEREG_MAX + 1);
	w_v(&w, 0);
	assert_rejected(&w, "reason");
}

static void test_conversation_with_out_of_range_form_or_held_by_is_rejected(void **state)
{
	static const unsigned bad[][2] = {
		{ CD_FORM_MAX + 1, CD_JOBCENTER }, { 99, CD_JOBCENTER }, { CD_IN_PERSON, CD_HELD_MAX + 1 },
		{ CD_IN_PERSON, 0xff },
	};
	wb w;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		w.n = 0;
		w_header(&w, T0, CD_INSTANT_NONE, 1);
		w_ev_head(&w, T0, CD_EV_CONVERSATION, 0, "e");
		w_conv_body(&w, "c", bad[i][0], bad[i][1]);
		w_v(&w, 0);
		assert_rejected(&w, "form/held_by");
	}
}

static void test_event_with_over_long_or_broken_strings_is_rejected(void **state)
{
	char id[300];
	wb w;
	(void)state;
	memset(id, 'x', sizeof(id));

	/* event_id: 128 bytes is the limit. */
	w.n = 0;
	w_header(&w, T0, CD_INSTANT_NONE, 1);
	w_v(&w, zz(T0)); w_u8(&w, CD_EV_DEREGISTRATION); w_u8(&w, 0);
	w_strn(&w, id, CD_MAX_ID_LEN);
	w_u8(&w, 0); w_v(&w, 0);
	assert_accepted(&w, "event_id of 128 bytes");
	w.n = 0;
	w_header(&w, T0, CD_INSTANT_NONE, 1);
	w_v(&w, zz(T0)); w_u8(&w, CD_EV_DEREGISTRATION); w_u8(&w, 0);
	w_strn(&w, id, CD_MAX_ID_LEN + 1);
	w_u8(&w, 0); w_v(&w, 0);
	assert_rejected(&w, "event_id of 129 bytes");

	/* conversation_id likewise. */
	w.n = 0;
	w_header(&w, T0, CD_INSTANT_NONE, 1);
	w_ev_head(&w, T0, CD_EV_CONVERSATION, 0, "e");
	w_strn(&w, id, CD_MAX_ID_LEN + 1); w_u8(&w, 1); w_u8(&w, 1);
	w_v(&w, 0);
	assert_rejected(&w, "conversation_id of 129 bytes");

	/* An embedded NUL would silently shorten the string. */
	w.n = 0;
	w_header(&w, T0, CD_INSTANT_NONE, 1);
	w_v(&w, zz(T0)); w_u8(&w, CD_EV_DEREGISTRATION); w_u8(&w, 0);
	w_strn(&w, "ab\0cd", 5);
	w_u8(&w, 0); w_v(&w, 0);
	assert_rejected(&w, "NUL in event_id");

	/* A length beyond the end of the record, and an absurd one. */
	w.n = 0;
	w_header(&w, T0, CD_INSTANT_NONE, 1);
	w_v(&w, zz(T0)); w_u8(&w, CD_EV_DEREGISTRATION); w_u8(&w, 0);
	w_v(&w, 100); w_bytes(&w, "abc", 3);
	assert_rejected(&w, "length past the end");
	w.n = 0;
	w_header(&w, T0, CD_INSTANT_NONE, 1);
	w_v(&w, zz(T0)); w_u8(&w, CD_EV_DEREGISTRATION); w_u8(&w, 0);
	w_v(&w, UINT64_MAX); w_bytes(&w, "abc", 3);
	assert_rejected(&w, "length UINT64_MAX");

	/* Municipality: at most four bytes. */
	w.n = 0;
	w_header(&w, T0, CD_INSTANT_NONE, 1);
	w_ev_head(&w, T0, CD_EV_REGISTRATION, 0, "e");
	w_reg_body(&w, CD_DAGPENGE, 0, "12345", CD_DATE_NONE, CD_DATE_NONE, CD_DATE_NONE, 0);
	w_v(&w, 0);
	assert_rejected(&w, "municipality of 5 bytes");
}

static void test_event_with_out_of_range_date_is_rejected(void **state)
{
	static const int64_t days[] = { 3000001, -1000001, INT32_MAX, INT64_C(1) << 40 };
	(void)state;
	for (size_t i = 0; i < sizeof(days) / sizeof(days[0]); i++) {
		wb w;
		w.n = 0;
		w_header(&w, T0, CD_INSTANT_NONE, 1);
		w_ev_head(&w, T0, CD_EV_REGISTRATION, 0, "e");
		w_u8(&w, CD_DAGPENGE); w_u8(&w, 0); w_str(&w, "860");
		w_v(&w, zz(days[i]) + 1);                 /* first_contact */
		w_date(&w, CD_DATE_NONE); w_date(&w, CD_DATE_NONE); w_v(&w, 0);
		w_akasse(&w, "");
		w_v(&w, 0);
		assert_rejected(&w, "date");
	}
}

/* ---- corrupt obligation states -------------------------------------------- */

static void w_with_ob(wb *w, const ob_spec *o)
{
	w->n = 0;
	w_header(w, T0, CD_INSTANT_NONE, 0);
	w_v(w, 1);
	w_ob(w, o);
}

static void test_obligation_state_with_out_of_range_enum_byte_is_rejected(void **state)
{
	ob_spec o;
	wb w;
	(void)state;
	assert_int_equal(CD_OB_REASON_MAX, CD_CANCEL_LAW_CHANGED);
	o = BASE_OB; o.status = CD_OB_LAPSED; o.reason = CD_OB_REASON_MAX; o.flags = 0x7f; o.benefit = CD_BENEFIT_MAX;
	w_with_ob(&w, &o);
	assert_accepted(&w, "largest values");
	o = BASE_OB; o.status = CD_OB_CANCELLED; o.reason = CD_CANCEL_EXEMPTED; w_with_ob(&w, &o);
	assert_accepted(&w, "reason EXEMPTED");
	o = BASE_OB; o.status = CD_OB_LAPSED + 1; w_with_ob(&w, &o); assert_rejected(&w, "status");
	o = BASE_OB; o.status = 0; w_with_ob(&w, &o); assert_rejected(&w, "status 0");
	o = BASE_OB; o.reason = CD_OB_REASON_MAX + 1; w_with_ob(&w, &o); assert_rejected(&w, "reason");
	/* Version 1 knew the statuses up to CANCELLED and the reasons up to SUPERSEDED. */
	wver = FORMAT_VERSION_1;
	o = BASE_OB; o.status = CD_OB_CANCELLED; o.reason = CD_CANCEL_SUPERSEDED; w_with_ob(&w, &o);
	assert_accepted(&w, "largest version-1 values");
	o = BASE_OB; o.status = CD_OB_LAPSED; w_with_ob(&w, &o); assert_rejected(&w, "version-1 status LAPSED");
	o = BASE_OB; o.status = CD_OB_CANCELLED; o.reason = CD_CANCEL_EXEMPTED; w_with_ob(&w, &o);
	assert_rejected(&w, "version-1 reason EXEMPTED");
	o = BASE_OB; o.status = CD_OB_CANCELLED; o.reason = CD_CANCEL_LAW_CHANGED; w_with_ob(&w, &o);
	assert_rejected(&w, "version-1 reason LAW_CHANGED");
	wver = FORMAT_VERSION;
	o = BASE_OB; o.flags = 0x80; w_with_ob(&w, &o); assert_rejected(&w, "flags");
	o = BASE_OB; o.benefit = CD_BENEFIT_MAX + 1; w_with_ob(&w, &o); assert_rejected(&w, "benefit");
	o = BASE_OB; o.due = 3000001; w_with_ob(&w, &o); assert_rejected(&w, "due");
	o = BASE_OB; o.pstart = -1000001; w_with_ob(&w, &o); assert_rejected(&w, "pstart");
}

static void test_obligation_state_with_over_long_strings_is_rejected(void **state)
{
	char oid[CD_MAX_OBLIGATION_ID_LEN + 2];
	ob_spec o;
	wb w;
	(void)state;
	memset(oid, 'o', sizeof(oid));
	oid[CD_MAX_OBLIGATION_ID_LEN] = '\0';
	o = BASE_OB; o.oid = oid;
	w_with_ob(&w, &o);
	assert_accepted(&w, "obligation id of 111 bytes");
	oid[CD_MAX_OBLIGATION_ID_LEN] = 'o';
	oid[CD_MAX_OBLIGATION_ID_LEN + 1] = '\0';
	w_with_ob(&w, &o);
	assert_rejected(&w, "obligation id of 112 bytes");
	o = BASE_OB; o.muni = "12345";
	w_with_ob(&w, &o);
	assert_rejected(&w, "municipality of 5 bytes");
	/* Fewer than 8 bytes of period key. */
	w.n = 0;
	w_header(&w, T0, CD_INSTANT_NONE, 0);
	w_v(&w, 1);
	w_bytes(&w, "\x01\x02\x03", 3);
	assert_rejected(&w, "short pkey");
}

/* ---- crash safety --------------------------------------------------------- */

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

static int decode_overflowing_deltas(void)
{
	wb w;
	cd_citizen c;
	cd_err err = { { 0 }, 0 };
	uint8_t *p;
	int rc;
	w.n = 0;
	w_header(&w, T0, CD_INSTANT_NONE, 2);
	w_ev_head(&w, INT64_MAX, CD_EV_DEREGISTRATION, 0, "a");   /* occurred = INT64_MAX */
	w_u8(&w, 0);
	w_ev_head(&w, INT64_MAX, CD_EV_DEREGISTRATION, 0, "b");   /* INT64_MAX + INT64_MAX */
	w_u8(&w, 0);
	w_v(&w, 0);
	/* No cmocka assertions in a child process: plain calls only. */
	p = malloc(w.n);
	if (!p)
		return 2;
	memcpy(p, w.b, w.n);
	cd_citizen_init(&c);
	rc = cd_citizen_decode(&c, p, w.n, &err);
	cd_citizen_release(&c);
	free(p);
	return rc == -1 ? 0 : 10;
}

/*
 * Event times are delta-coded: occurred = previous + delta. A corrupt record
 * whose deltas add up past int64 must be rejected, not overflow (undefined
 * behaviour; an abort under UBSan).
 */
static void test_record_whose_time_deltas_overflow_is_rejected_without_undefined_behaviour(void **state)
{
	int status;
	(void)state;
	status = in_child(decode_overflowing_deltas);
	if (WIFSIGNALED(status))
		fail_msg("decode crashed with signal %d (signed overflow in prev + delta?)", WTERMSIG(status));
	if (WEXITSTATUS(status) == 10)
		fail_msg("a record whose event times overflow int64 was accepted");
	if (WEXITSTATUS(status) != 0)
		fail_msg("decode of overflowing deltas died (exit %d; sanitizer report above)", WEXITSTATUS(status));
}

#ifndef ROUNDS
#define ROUNDS 200000
#endif

static uint32_t rng_state = 12345;
static uint32_t rng(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return rng_state >> 8;
}

static int decode_mutations(void)
{
	cd_citizen a, c;
	cd_buf out;
	uint8_t *p;
	cd_citizen_init(&a);
	cd_citizen_init(&c);
	cd_buf_init(&out, 1 << 20);
	build_rich(&a);
	if (cd_citizen_encode(&a, &out) < 0)
		return 2;
	p = malloc(out.len);
	if (!p)
		return 2;
	for (int round = 0; round < ROUNDS; round++) {
		cd_err err = { { 0 }, 0 };
		memcpy(p, out.data, out.len);
		for (int k = 1 + (int)(rng() % 3); k > 0; k--)
			p[rng() % out.len] = (uint8_t)rng();
		if (cd_citizen_decode(&c, p, out.len, &err) < 0 &&
		    (c.n_ev || c.n_ob || c.str.len || c.clock != CD_INSTANT_NONE))
			return 13;
	}
	free(p);
	cd_buf_release(&out);
	cd_citizen_release(&a);
	cd_citizen_release(&c);
	return 0;
}

/* Random byte flips in a valid record: every decode either succeeds or fails cleanly. */
static void test_randomly_corrupted_records_never_crash_the_decoder(void **state)
{
	int status;
	(void)state;
	status = in_child(decode_mutations);
	if (WIFSIGNALED(status))
		fail_msg("decode crashed with signal %d", WTERMSIG(status));
	if (WEXITSTATUS(status) == 13)
		fail_msg("a failed decode left a non-empty citizen");
	if (WEXITSTATUS(status) != 0)
		fail_msg("the decoder died on a corrupted record (exit %d; sanitizer report above)", WEXITSTATUS(status));
}

/* ---- limits the engine relies on ------------------------------------------ */

/*
 * A record that decodes must be one the engine can take: its history entries
 * are inputs that passed validation (D28) and its obligation states carry the
 * engine's own values. Each field is tried at its limit (accepted, and then
 * used by the engine) and just past it (refused, naming the field).
 */

static cd_rules *rules;
static cd_engine *engine;
static char long_id[CD_MAX_ID_LEN + 2];              /* 129 'x' */
static char long_oid[CD_MAX_OBLIGATION_ID_LEN + 2];  /* "dk-2020/ooo…" of 112 bytes */

static int group_setup(void **state)
{
	cd_err err;
	(void)state;
	memset(long_id, 'x', CD_MAX_ID_LEN + 1);
	memset(long_oid, 'o', CD_MAX_OBLIGATION_ID_LEN + 1);
	memcpy(long_oid, "dk-2020/", 8);
	if (cd_rules_load(getenv("CD_RULES") ? getenv("CD_RULES") : "rules", NULL, &rules, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	engine = cd_engine_new(rules, NULL);
	return engine ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	cd_engine_free(engine);
	cd_rules_free(rules);
	return 0;
}

static cd_instant at(int y, int m, int d)
{
	return cd_cph_midnight(cd_date_from_ymd(y, m, d)) + INT64_C(10) * 3600 * CD_NS_PER_SEC;
}

static cd_event input(const char *id, cd_instant t, cd_event_kind kind)
{
	cd_event ev;
	cd_event_init(&ev);
	ev.event_id = id;
	ev.event_id_len = strlen(id);
	ev.citizen_id = "p1";
	ev.citizen_id_len = 2;
	ev.occurred_at = t;
	ev.kind = kind;
	snprintf(ev.muni, sizeof(ev.muni), "860");
	switch (kind) {
	case CD_EV_REGISTRATION:
		ev.benefit = CD_DAGPENGE;
		ev.category = CD_JOBPARAT;
		ev.prior_days = 40;
		break;
	case CD_EV_CONVERSATION:
		ev.conv_id = id;
		ev.conv_id_len = ev.event_id_len;
		ev.form = CD_IN_PERSON;
		ev.held_by = CD_JOBCENTER;
		break;
	case CD_EV_BENEFIT_CHANGE:
		ev.benefit = CD_KONTANTHJAELP;
		break;
	default:
		break;
	}
	return ev;
}

/*
 * What the stores do with a decoded citizen: inputs, the clock, encode. No
 * cmocka assertions (it also runs in child processes): 0, or what went wrong.
 * An assert, a sanitizer report or a crash in the engine ends the process.
 */
static int use_with_engine(cd_citizen *c)
{
	cd_event evs[4];
	cd_buf out;
	cd_citizen back;
	cd_err err;
	int rc = 0;

	/* A store writes the citizen back even when an input changed nothing (a duplicate). */
	cd_buf_init(&out, (size_t)64 << 20);
	rc = cd_citizen_encode(c, &out) < 0 ? 21 : 0;
	cd_buf_release(&out);
	if (rc)
		return rc;
	evs[0] = input("use-reg", at(2021, 3, 1), CD_EV_REGISTRATION);
	evs[1] = input("use-conv", at(2021, 4, 1), CD_EV_CONVERSATION);
	evs[2] = input("use-bc", at(2021, 6, 1), CD_EV_BENEFIT_CHANGE);
	evs[3] = input("use-dereg", at(2022, 1, 1), CD_EV_DEREGISTRATION);
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
		if (cd_event_validate(&evs[i], &err) < 0)
			return 20;
		(void)cd_engine_apply(engine, c, "p1", &evs[i], NULL, NULL, &err);   /* a refusal is fine */
	}
	(void)cd_engine_advance(engine, c, "p1", at(2023, 6, 1), NULL, NULL, &err);
	/* What the engine writes back decodes again. */
	cd_buf_init(&out, (size_t)64 << 20);
	cd_citizen_init(&back);
	if (cd_citizen_encode(c, &out) < 0)
		rc = 21;
	else if (cd_citizen_decode(&back, (const uint8_t *)out.data, out.len, &err) < 0) {
		fprintf(stderr, "the engine's record does not decode: %s\n", err.msg);
		rc = 22;
	}
	cd_citizen_release(&back);
	cd_buf_release(&out);
	return rc;
}

/* Runs fn(arg) in a child process; returns its wait status. */
static int in_child_arg(int (*fn)(const void *), const void *arg)
{
	int status = 0;
	pid_t pid;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(arg));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

/* In a child: decodes the record (exactly its length on the heap) and uses it. 0 ok, 30 refused. */
static int child_decode_and_use(const void *arg)
{
	const wb *w = arg;
	cd_citizen c;
	cd_err err = { { 0 }, 0 };
	uint8_t *p = malloc(w->n ? w->n : 1);
	int rc;
	if (!p)
		return 2;
	memcpy(p, w->b, w->n);
	cd_citizen_init(&c);
	if (cd_citizen_decode(&c, p, w->n, &err) < 0) {
		fprintf(stderr, "refused: %s\n", err.msg);
		rc = 30;
	} else {
		rc = use_with_engine(&c);
	}
	cd_citizen_release(&c);
	free(p);
	return rc;
}

static void assert_usable(const wb *w, const char *what)
{
	int status = in_child_arg(child_decode_and_use, w);
	if (WIFSIGNALED(status))
		fail_msg("%s: decoded, then the engine crashed (signal %d)", what, WTERMSIG(status));
	if (WEXITSTATUS(status) == 30)
		fail_msg("%s: refused (message above)", what);
	if (WEXITSTATUS(status) != 0)
		fail_msg("%s: decoded, then using it failed (exit %d; report above)", what, WEXITSTATUS(status));
}

/* Decoded and used, or refused: anything but a crash, an assert or a sanitizer report. */
static void assert_no_crash(const wb *w, const char *what)
{
	int status = in_child_arg(child_decode_and_use, w);
	if (WIFSIGNALED(status))
		fail_msg("%s: decoding or using it died (signal %d)", what, WTERMSIG(status));
	if (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 30)
		fail_msg("%s: decoding or using it failed (exit %d; report above)", what, WEXITSTATUS(status));
}

static void assert_refused_naming(const wb *w, const char *field, const char *what)
{
	cd_citizen c;
	cd_err err = { { 0 }, 0 };
	cd_citizen_init(&c);
	fill_with_base(&c);
	if (decode_copy(&c, w->b, w->n, &err) != -1)
		fail_msg("%s: accepted; expected a refusal naming %s", what, field);
	if (strncmp(err.msg, "citizen record is corrupt: ", 27) || !strstr(err.msg, field))
		fail_msg("%s: message does not name %s: %s", what, field, err.msg);
	assert_empty(&c);
	cd_citizen_release(&c);
}

/* An event record: one entry written by fn, then no states. */
typedef struct ev_case {
	const char *what, *field;
	void (*write)(wb *w, int past);
} ev_case;

static void w_ev_record(wb *w, int64_t occurred, unsigned kind, unsigned flags, const char *id, size_t id_len)
{
	w->n = 0;
	w_header(w, CD_INSTANT_NONE, CD_INSTANT_NONE, 1);
	w_v(w, zz(occurred));
	w_u8(w, kind);
	w_u8(w, flags);
	w_strn(w, id, id_len);
}

static void w_reg(wb *w, unsigned benefit, unsigned category, const char *muni, cd_date fc, cd_date fa, cd_date dp,
		  uint64_t prior)
{
	w_ev_record(w, T0, CD_EV_REGISTRATION, 0, "e", 1);
	w_u8(w, benefit);
	w_u8(w, category);
	w_str(w, muni);
	w_date(w, fc);
	w_date(w, fa);
	w_date(w, dp);
	w_v(w, prior);
	w_akasse(w, "");
	w_v(w, 0);
}

static void w_conv(wb *w, unsigned flags, const char *conv, size_t conv_len, unsigned form, unsigned held_by)
{
	w_ev_record(w, T0, CD_EV_CONVERSATION, flags, "e", 1);
	w_strn(w, conv, conv_len);
	w_u8(w, form);
	w_u8(w, held_by);
	w_v(w, 0);
}


static void c_occurred_low(wb *w, int past)
{
	w_ev_record(w, CD_EVENT_MIN_INSTANT - past, CD_EV_DEREGISTRATION, 0, "e", 1);
	w_u8(w, 0);
	w_v(w, 0);
}

static void c_occurred_high(wb *w, int past)
{
	w_ev_record(w, CD_EVENT_MAX_INSTANT - 1 + past, CD_EV_DEREGISTRATION, 0, "e", 1);
	w_u8(w, 0);
	w_v(w, 0);
}

static void c_event_id_long(wb *w, int past)
{
	w_ev_record(w, T0, CD_EV_DEREGISTRATION, 0, long_id, CD_MAX_ID_LEN + (size_t)past);
	w_u8(w, 0);
	w_v(w, 0);
}

static void c_event_id_empty(wb *w, int past)
{
	w_ev_record(w, T0, CD_EV_DEREGISTRATION, 0, "e", past ? 0 : 1);
	w_u8(w, 0);
	w_v(w, 0);
}

static void c_kind_low(wb *w, int past)
{
	w_ev_record(w, T0, past ? CD_EV_NONE : CD_EV_REGISTRATION, 0, "e", 1);
	if (!past) {
		w_u8(w, CD_DAGPENGE); w_u8(w, 0); w_str(w, ""); w_date(w, CD_DATE_NONE); w_date(w, CD_DATE_NONE);
		w_date(w, CD_DATE_NONE); w_v(w, 0); w_akasse(w, "");
	}
	w_v(w, 0);
}

static void c_kind_high(wb *w, int past)
{
	w_ev_record(w, T0, past ? CD_EV_CLOCK_TICK : CD_EV_BENEFIT_CHANGE, 0, "e", 1);
	if (!past) {
		w_u8(w, CD_DAGPENGE); w_u8(w, 0); w_str(w, ""); w_date(w, CD_DATE_NONE); w_date(w, CD_DATE_NONE);
		w_date(w, CD_DATE_NONE); w_v(w, 0); w_akasse(w, "");
	}
	w_v(w, 0);
}

/* Version 2 uses every bit of the flags byte: "past" is 0x20 in a version-1 record. */
static void c_flags(wb *w, int past)
{
	if (past)
		wver = FORMAT_VERSION_1;
	w_ev_record(w, T0, CD_EV_DEREGISTRATION, past ? 0x20 : 0xff, "e", 1);
	w_u8(w, 0);
	w_v(w, 0);
	wver = FORMAT_VERSION;
}

static void c_kind_exemption(wb *w, int past)
{
	w_ev_record(w, T0, past ? CD_EV_EXEMPTION + 1 : CD_EV_EXEMPTION, 0, "e", 1);
	if (!past)
		w_u8(w, CD_SCOPE_KOMMUNE);
	w_v(w, 0);
}

static void c_scope_low(wb *w, int past)
{
	w_ev_record(w, T0, CD_EV_EXEMPTION, CD_HF_REVOKED, "e", 1);
	w_u8(w, past ? CD_SCOPE_NONE : CD_SCOPE_KOMMUNE);
	w_v(w, 0);
}

static void c_scope_high(wb *w, int past)
{
	w_ev_record(w, T0, CD_EV_EXEMPTION, 0, "e", 1);
	w_u8(w, CD_SCOPE_MAX + (unsigned)past);
	w_v(w, 0);
}

static void c_akasse_long(wb *w, int past)
{
	static const char ak[] = "AK-0123456789_abX";   /* 17 bytes */
	w_ev_record(w, T0, CD_EV_REGISTRATION, 0, "e", 1);
	w_reg_body(w, CD_DAGPENGE, CD_JOBPARAT, "860", CD_DATE_NONE, CD_DATE_NONE, CD_DATE_NONE, 0);
	w->n -= 1;                                 /* the empty akasse_code */
	w_strn(w, ak, CD_MAX_AKASSE_LEN + (size_t)past);
	w_v(w, 0);
}

static void c_reg_benefit_none(wb *w, int past)
{
	w_reg(w, past ? CD_BENEFIT_NONE : 1, 0, "", CD_DATE_NONE, CD_DATE_NONE, CD_DATE_NONE, 0);
}

static void c_reg_benefit_max(wb *w, int past)
{
	w_reg(w, CD_BENEFIT_MAX + (unsigned)past, 0, "", CD_DATE_NONE, CD_DATE_NONE, CD_DATE_NONE, 0);
}

static void c_category(wb *w, int past)
{
	w_reg(w, CD_DAGPENGE, CD_CATEGORY_MAX + (unsigned)past, "", CD_DATE_NONE, CD_DATE_NONE, CD_DATE_NONE, 0);
}

static void c_muni_long(wb *w, int past)
{
	w_reg(w, CD_DAGPENGE, 0, past ? "99999" : "9999", CD_DATE_NONE, CD_DATE_NONE, CD_DATE_NONE, 0);
}

static void c_muni_short(wb *w, int past)
{
	w_reg(w, CD_DAGPENGE, 0, past ? "10" : "100", CD_DATE_NONE, CD_DATE_NONE, CD_DATE_NONE, 0);
}

static void c_muni_digits(wb *w, int past)
{
	w_reg(w, CD_DAGPENGE, 0, past ? "86/" : "860", CD_DATE_NONE, CD_DATE_NONE, CD_DATE_NONE, 0);
}

static void c_first_contact_low(wb *w, int past)
{
	w_reg(w, CD_DAGPENGE, 0, "", CD_EVENT_MIN_DATE - past, CD_DATE_NONE, CD_DATE_NONE, 0);
}

static void c_first_absence_high(wb *w, int past)
{
	w_reg(w, CD_SYGEDAGPENGE, 0, "", CD_DATE_NONE, CD_EVENT_MAX_DATE + past, CD_DATE_NONE, 0);
}

static void c_dp_start_low(wb *w, int past)
{
	w_reg(w, CD_DAGPENGE, 0, "", CD_DATE_NONE, CD_DATE_NONE, CD_EVENT_MIN_DATE - past, 0);
}

static void c_dp_start_high(wb *w, int past)
{
	w_reg(w, CD_DAGPENGE, 0, "", CD_DATE_NONE, CD_DATE_NONE, CD_EVENT_MAX_DATE + past, 0);
}

static void c_prior(wb *w, int past)
{
	w_reg(w, CD_DAGPENGE, 0, "", CD_DATE_NONE, CD_DATE_NONE, CD_DATE_NONE, CD_MAX_PRIOR_DAYS + (uint64_t)past);
}

static void c_prior_int32(wb *w, int past)
{
	/* INT32_MAX days would overflow the cumulative clock's int arithmetic */
	w_reg(w, CD_DAGPENGE, 0, "", CD_DATE_NONE, CD_DATE_NONE, CD_DATE_NONE, past ? INT32_MAX : 0);
}

static void c_prior_negative(wb *w, int past)
{
	w_reg(w, CD_DAGPENGE, 0, "", CD_DATE_NONE, CD_DATE_NONE, CD_DATE_NONE, past ? UINT64_MAX : 0);
}

static void c_dereg_reason(wb *w, int past)
{
	w_ev_record(w, T0, CD_EV_DEREGISTRATION, CD_HF_ENDS_DP, "e", 1);
	w_u8(w, CD_DEREG_MAX + (unsigned)past);
	w_v(w, 0);
}

static void c_conv_id_long(wb *w, int past)
{
	w_conv(w, 0, long_id, CD_MAX_ID_LEN + (size_t)past, CD_IN_PERSON, CD_JOBCENTER);
}

static void c_conv_id_empty(wb *w, int past)
{
	w_conv(w, CD_HF_VOIDED, "c", past ? 0 : 1, 0, 0);
}

static void c_form(wb *w, int past)
{
	w_conv(w, 0, "c", 1, CD_FORM_MAX + (unsigned)past, CD_JOBCENTER);
}

static void c_form_unspecified(wb *w, int past)
{
	w_conv(w, past ? 0 : CD_HF_VOIDED, "c", 1, CD_FORM_NONE, CD_JOBCENTER);
}

static void c_held_by(wb *w, int past)
{
	w_conv(w, 0, "c", 1, CD_IN_PERSON, CD_HELD_MAX + (unsigned)past);
}

static void c_held_by_unspecified(wb *w, int past)
{
	w_conv(w, past ? CD_HF_JOINT : CD_HF_JOINT | CD_HF_VOIDED, "c", 1, CD_IN_PERSON, CD_HELD_NONE);
}

static const ev_case ev_cases[] = {
	{ "occurred_at at 1990-01-01", "'events[0].occurred_at'", c_occurred_low },
	{ "occurred_at before 2100-01-01", "'events[0].occurred_at'", c_occurred_high },
	{ "event_id of 128 bytes", "'events[0].event_id'", c_event_id_long },
	{ "event_id of 1 byte", "'events[0].event_id'", c_event_id_empty },
	{ "kind registration", "'events[0].kind'", c_kind_low },
	{ "kind benefit change", "'events[0].kind'", c_kind_high },
	{ "flags 0xff", "'events[0].flags'", c_flags },
	{ "kind exemption", "'events[0].kind'", c_kind_exemption },
	{ "exemption scope KOMMUNE", "'events[0].scope'", c_scope_low },
	{ "exemption scope AKASSE", "'events[0].scope'", c_scope_high },
	{ "akasse_code of 16 bytes", "'events[0].akasse_code'", c_akasse_long },
	{ "registration benefit 1", "'events[0].benefit'", c_reg_benefit_none },
	{ "benefit max", "'events[0].benefit'", c_reg_benefit_max },
	{ "category max", "'events[0].category'", c_category },
	{ "municipality of four digits", "'events[0].municipality_code'", c_muni_long },
	{ "municipality of three digits", "'events[0].municipality_code'", c_muni_short },
	{ "municipality of digits", "'events[0].municipality_code'", c_muni_digits },
	{ "first_contact_date 1990-01-01", "'events[0].first_contact_date'", c_first_contact_low },
	{ "first_absence_date 2099-12-31", "'events[0].first_absence_date'", c_first_absence_high },
	{ "dagpenge_period_start 1990-01-01", "'events[0].dagpenge_period_start'", c_dp_start_low },
	{ "dagpenge_period_start 2099-12-31", "'events[0].dagpenge_period_start'", c_dp_start_high },
	{ "prior days 3650", "'events[0].prior_unemployment_days'", c_prior },
	{ "prior days INT32_MAX", "'events[0].prior_unemployment_days'", c_prior_int32 },
	{ "prior days -1", "'events[0].prior_unemployment_days'", c_prior_negative },
	{ "deregistration reason max", "'events[0].reason'", c_dereg_reason },
	{ "conversation_id of 128 bytes", "'events[0].conversation_id'", c_conv_id_long },
	{ "conversation_id of 1 byte", "'events[0].conversation_id'", c_conv_id_empty },
	{ "form max", "'events[0].form'", c_form },
	{ "form unspecified on a void only", "'events[0].form'", c_form_unspecified },
	{ "held_by max", "'events[0].held_by'", c_held_by },
	{ "held_by unspecified on a void only", "'events[0].held_by'", c_held_by_unspecified },
};

static void test_history_entries_at_their_limits_are_usable_and_past_them_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ev_cases) / sizeof(ev_cases[0]); i++) {
		wb w;
		char what[128];
		ev_cases[i].write(&w, 0);
		assert_usable(&w, ev_cases[i].what);
		ev_cases[i].write(&w, 1);
		snprintf(what, sizeof(what), "just past: %s", ev_cases[i].what);
		assert_refused_naming(&w, ev_cases[i].field, what);
	}
}

/* An obligation-state record: one conversation, then one state as o says. */
static void w_ob_record(wb *w, const ob_spec *o)
{
	w->n = 0;
	w_header(w, T0 + 5, CD_INSTANT_NONE, 1);
	w_ev_head(w, T0, CD_EV_CONVERSATION, 0, "ev-1");
	w_conv_body(w, "conv-1", CD_IN_PERSON, CD_JOBCENTER);
	w_v(w, 1);
	w_ob(w, o);
}


static void test_obligation_states_at_their_limits_are_usable_and_past_them_refused(void **state)
{
	static const struct {
		const char *what, *field;
		ob_spec at, past;
	} cases[] = {
#define OB(...) { 0x0123456789abcdefULL, 18262, "dk-2020/four-in-six", __VA_ARGS__, NO_MEMBER }
/* A decided dk-2026 four-in-six (2026-07-01 … 2026-12-31) with the member outcome given. */
#define MEMBER(...) { 0x0123456789abcdefULL, 20635, "dk-2026/four-in-six", CD_OB_LAPSED, 0, 0, CD_KONTANTHJAELP, \
		      "101", 20818, 20635, 20818, 4, 3, 2, __VA_ARGS__ }
		{ "status OPEN", "'obligations[0].status'",
		  OB(CD_OB_OPEN, 0, 0, CD_DAGPENGE, "860", 18444, 18262, 18444, 4, 1, 2),
		  OB(0, 0, 0, CD_DAGPENGE, "860", 18444, 18262, 18444, 4, 1, 2) },
		{ "status LAPSED", "'obligations[0].status'",
		  OB(CD_OB_LAPSED, 0, 0, CD_DAGPENGE, "860", 18444, 18262, 18444, 4, 1, 2),
		  OB(CD_OB_LAPSED + 1, 0, 0, CD_DAGPENGE, "860", 18444, 18262, 18444, 4, 1, 2) },
		{ "cancel reason max", "'obligations[0].cancel_reason'",
		  OB(CD_OB_CANCELLED, CD_OB_REASON_MAX, 0, CD_DAGPENGE, "860", 18444, 18262, 18444, 4, 1, 2),
		  OB(CD_OB_CANCELLED, CD_OB_REASON_MAX + 1, 0, CD_DAGPENGE, "860", 18444, 18262, 18444, 4, 1, 2) },
		{ "flags 0x7f", "'obligations[0].flags'",
		  OB(CD_OB_OPEN, 0, 0x7f, CD_DAGPENGE, "860", 18444, 18262, 18444, 4, 1, 2),
		  OB(CD_OB_OPEN, 0, 0x80, CD_DAGPENGE, "860", 18444, 18262, 18444, 4, 1, 2) },
		{ "benefit max", "'obligations[0].benefit'",
		  OB(CD_OB_OPEN, 0, 0, CD_BENEFIT_MAX, "860", 18444, 18262, 18444, 4, 1, 2),
		  OB(CD_OB_OPEN, 0, 0, CD_BENEFIT_MAX + 1, "860", 18444, 18262, 18444, 4, 1, 2) },
		{ "municipality of four digits", "'obligations[0].municipality_code'",
		  OB(CD_OB_OPEN, 0, 0, CD_DAGPENGE, "0860", 18444, 18262, 18444, 4, 1, 2),
		  OB(CD_OB_OPEN, 0, 0, CD_DAGPENGE, "08a0", 18444, 18262, 18444, 4, 1, 2) },
		{ "due date at the low end", "'obligations[0].due_date'",
		  OB(CD_OB_OPEN, 0, 0, CD_DAGPENGE, "860", -1000000, 18262, 18444, 4, 1, 2),
		  OB(CD_OB_OPEN, 0, 0, CD_DAGPENGE, "860", -1000001, 18262, 18444, 4, 1, 2) },
		{ "window end at the high end", "'obligations[0].window_end'",
		  OB(CD_OB_OPEN, 0, 0, CD_DAGPENGE, "860", 18444, 18262, 3000000, 4, 1, 2),
		  OB(CD_OB_OPEN, 0, 0, CD_DAGPENGE, "860", 18444, 18262, 3000001, 4, 1, 2) },
		{ "required 100", "'obligations[0].required'",
		  OB(CD_OB_OPEN, 0, 0, CD_DAGPENGE, "860", 18444, 18262, 18444, CD_MAX_REQUIRED, 1, 2),
		  OB(CD_OB_OPEN, 0, 0, CD_DAGPENGE, "860", 18444, 18262, 18444, CD_MAX_REQUIRED + 1, 1, 2) },
		{ "required 0", "'obligations[0].required'",
		  OB(CD_OB_OPEN, 0, 0, CD_DAGPENGE, "860", 18444, 18262, 18444, 0, 1, 2),
		  OB(CD_OB_OPEN, 0, 0, CD_DAGPENGE, "860", 18444, 18262, 18444, -1, 1, 2) },
		{ "held INT32_MAX", "'obligations[0].held'",
		  OB(CD_OB_OPEN, 0, 0, CD_DAGPENGE, "860", 18444, 18262, 18444, 4, INT32_MAX, 2),
		  OB(CD_OB_OPEN, 0, 0, CD_DAGPENGE, "860", 18444, 18262, 18444, 4, -1, 2) },
		/* version 3: the member outcome (0 … 3) and, when decided, its due date, held and key */
		{ "member outcome EXEMPTED", "'obligations[0].member_outcome' is out of range",
		  MEMBER(CD_MEMBER_EXEMPTED, 20818, 3, 12345),
		  MEMBER(CD_OB_MEMBER_MAX + 1, 20818, 3, 12345) },
		{ "member outcome below 0xff", "'obligations[0].member_outcome' is out of range",
		  MEMBER(CD_MEMBER_MET, 20818, 4, 12345),
		  MEMBER(0xff, 20818, 4, 12345) },
		{ "member due date at the low end", "'obligations[0].member_due_date' is outside the engine's dates",
		  MEMBER(CD_MEMBER_LAPSED, -1000000, 3, 12345),
		  MEMBER(CD_MEMBER_LAPSED, -1000001, 3, 12345) },
		{ "member due date at the high end", "'obligations[0].member_due_date' is outside the engine's dates",
		  MEMBER(CD_MEMBER_LAPSED, 3000000, 3, 12345),
		  MEMBER(CD_MEMBER_LAPSED, 3000001, 3, 12345) },
		{ "member held INT32_MAX", "'obligations[0].member_held' is outside 0 … 2147483647",
		  MEMBER(CD_MEMBER_MET, 20818, INT32_MAX, 12345),
		  MEMBER(CD_MEMBER_MET, 20818, (int64_t)INT32_MAX + 1, 12345) },
		{ "member held 0", "'obligations[0].member_held' is outside 0 … 2147483647",
		  MEMBER(CD_MEMBER_LAPSED, 20818, 0, 12345),
		  MEMBER(CD_MEMBER_LAPSED, 20818, -1, 12345) },
		{ "member key UINT32_MAX", "'obligations[0].member_key' is outside 0 … 4294967295",
		  MEMBER(CD_MEMBER_EXEMPTED, 20818, 3, UINT32_MAX),
		  MEMBER(CD_MEMBER_EXEMPTED, 20818, 3, (uint64_t)UINT32_MAX + 1) },
#undef MEMBER
#undef OB
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		wb w;
		char what[128];
		w_ob_record(&w, &cases[i].at);
		assert_usable(&w, cases[i].what);
		w_ob_record(&w, &cases[i].past);
		snprintf(what, sizeof(what), "just past: %s", cases[i].what);
		assert_refused_naming(&w, cases[i].field, what);
	}
}

/* The fields the spec cannot express: ids, the period start, varints past 32 bits. */
static void test_obligation_ids_and_wide_counts_at_their_limits(void **state)
{
	ob_spec o;
	wb w;
	(void)state;

	/* The engine builds obligation ids into char[112] and asserts that they fit. */
	o = BASE_OB;
	o.oid = long_oid;
	assert_int_equal(strlen(long_oid), CD_MAX_OBLIGATION_ID_LEN + 1);
	w_ob_record(&w, &o);
	assert_refused_naming(&w, "'obligations[0].obligation_id' is longer than 111 bytes", "obligation id of 112 bytes");
	{
		char oid[CD_MAX_OBLIGATION_ID_LEN + 1];
		memcpy(oid, long_oid, CD_MAX_OBLIGATION_ID_LEN);
		oid[CD_MAX_OBLIGATION_ID_LEN] = '\0';
		o.oid = oid;
		w_ob_record(&w, &o);
		assert_usable(&w, "obligation id of 111 bytes");
	}
	o = BASE_OB;
	o.oid = "";
	w_ob_record(&w, &o);
	assert_refused_naming(&w, "'obligations[0].obligation_id' is empty", "empty obligation id");
	o = BASE_OB;
	o.pstart = -1000001;
	w_ob_record(&w, &o);
	assert_refused_naming(&w, "'obligations[0].period_start'", "period start");

	/* held and transitions: 32 bits, no wider. */
	o = BASE_OB;
	o.transitions = UINT32_MAX;
	w_ob_record(&w, &o);
	assert_usable(&w, "transitions UINT32_MAX");
	w.n -= 6;                                 /* transitions (5 bytes), then the member outcome 0 */
	w_v(&w, (uint64_t)UINT32_MAX + 1);
	w_u8(&w, 0);
	assert_refused_naming(&w, "'obligations[0].transitions'", "transitions 2^32");
	o = BASE_OB;
	w_ob_record(&w, &o);
	w.n -= 3;                                 /* held, transitions and the member outcome, one byte each */
	w_v(&w, (uint64_t)INT32_MAX + 1);
	w_v(&w, 0);
	w_u8(&w, 0);
	assert_refused_naming(&w, "'obligations[0].held'", "held 2^31");
}

static void test_counts_past_what_the_record_holds_are_refused_before_reserving(void **state)
{
	static const uint64_t counts[] = { 1000, UINT64_C(1) << 32, UINT64_MAX };
	wb w;
	(void)state;
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		w.n = 0;
		w_header(&w, T0, CD_INSTANT_NONE, counts[i]);
		w_ev_head(&w, T0, CD_EV_DEREGISTRATION, 0, "e");
		w_u8(&w, 0);
		w_v(&w, 0);
		assert_refused_naming(&w, "'n_events' exceeds what the record holds", "n_events");
		w.n = 0;
		w_header(&w, T0, CD_INSTANT_NONE, 0);
		w_v(&w, counts[i] * 40);
		w_ob(&w, &BASE_OB);
		assert_refused_naming(&w, "'n_obligations' exceeds what the record holds", "n_obligations");
	}
	/* An entry cut short is named too. */
	w_base(&w);
	w.n -= 3;
	assert_refused_naming(&w, "'obligations[0].", "cut short");
}

/*
 * The encoder writes into space reserved once for the worst case, which holds
 * only for values inside the limits: a state whose counts were negative (10-byte
 * varints) and whose id took 200 bytes overran it. A record with many states at
 * every limit decodes, re-encodes to the same bytes, and the engine takes it.
 */
static void test_a_record_at_every_limit_re_encodes_within_the_encoders_bound(void **state)
{
	static wb w;
	ob_spec o = BASE_OB;
	cd_citizen c;
	cd_buf out;
	cd_err err = { { 0 }, 0 };
	char oid[CD_MAX_OBLIGATION_ID_LEN + 1];
	(void)state;
	memcpy(oid, long_oid, CD_MAX_OBLIGATION_ID_LEN);
	oid[CD_MAX_OBLIGATION_ID_LEN] = '\0';
	o.oid = oid;
	o.pstart = o.due = o.ws = o.we = 3000000;
	o.muni = "0860";
	o.required = CD_MAX_REQUIRED;
	o.held = INT32_MAX;
	o.transitions = UINT32_MAX;
	o.agg = CD_OB_MEMBER_MAX;                /* version 3: a decided member at every limit */
	o.agg_due = 3000000;
	o.agg_held = INT32_MAX;
	o.agg_key = UINT32_MAX;
	w.n = 0;
	w_header(&w, INT64_MAX, INT64_MAX, 2);
	w_v(&w, zz(CD_EVENT_MAX_INSTANT - 1));
	w_u8(&w, CD_EV_REGISTRATION); w_u8(&w, 0x1f); w_strn(&w, long_id, CD_MAX_ID_LEN);
	w_reg_body(&w, CD_BENEFIT_MAX, CD_CATEGORY_MAX, "9999", CD_EVENT_MAX_DATE, CD_EVENT_MAX_DATE,
		   CD_EVENT_MAX_DATE, CD_MAX_PRIOR_DAYS);
	w_v(&w, zz(CD_EVENT_MIN_INSTANT - (CD_EVENT_MAX_INSTANT - 1)));
	w_u8(&w, CD_EV_CONVERSATION); w_u8(&w, 0x1f); w_strn(&w, long_id, CD_MAX_ID_LEN);
	w_strn(&w, long_id, CD_MAX_ID_LEN); w_u8(&w, CD_FORM_MAX); w_u8(&w, CD_HELD_MAX);
	w_v(&w, 40);
	for (int i = 0; i < 40; i++)
		w_ob(&w, &o);
	cd_citizen_init(&c);
	cd_buf_init(&out, 1 << 20);
	if (decode_copy(&c, w.b, w.n, &err) < 0)
		fail_msg("refused: %s", err.msg);
	assert_int_equal(cd_citizen_encode(&c, &out), 0);
	assert_int_equal(out.len, w.n);
	assert_memory_equal(out.data, w.b, w.n);
	cd_buf_release(&out);
	cd_citizen_release(&c);
	assert_usable(&w, "a record at every limit");
}

/*
 * Records crafted against the engine, each of which the decoder used to take:
 * an obligation id past the engine's buffer (its assert aborts), DAGPENGE
 * prior days that overflow the cumulative clock's int arithmetic (an abort
 * under UBSan), and states whose negative counts take 10-byte varints, so
 * that re-encoding overruns the encoder's reservation. Each must be refused
 * naming the field, without reaching the engine.
 */
static void test_records_crafted_against_the_engine_are_refused_before_it_sees_them(void **state)
{
	static wb w;
	ob_spec o = BASE_OB;
	char oid[201];
	(void)state;

	memset(oid, 'o', 150);
	oid[150] = '\0';
	memcpy(oid, "dk-2020/", 8);
	o.oid = oid;
	w_ob_record(&w, &o);
	assert_no_crash(&w, "obligation id of 150 bytes");
	assert_refused_naming(&w, "'obligations[0].obligation_id' is longer than 111 bytes", "obligation id of 150 bytes");

	w.n = 0;
	w_header(&w, T0, CD_INSTANT_NONE, 1);
	w_ev_head(&w, at(2016, 2, 1), CD_EV_REGISTRATION, 0, "r");     /* dk-2015: a cumulative MAX_GAP */
	w_reg_body(&w, CD_DAGPENGE, CD_JOBPARAT, "860", CD_DATE_NONE, CD_DATE_NONE, cd_date_from_ymd(2016, 2, 1),
		   INT32_MAX);
	w_v(&w, 0);
	assert_no_crash(&w, "prior days INT32_MAX");
	assert_refused_naming(&w, "'events[0].prior_unemployment_days' is outside 0 … 3650", "prior days INT32_MAX");

	memset(oid, 'o', 200);
	oid[200] = '\0';
	o = BASE_OB;
	o.oid = oid;
	o.status = CD_OB_CANCELLED;              /* not emitted again, so the engine's assert stays quiet */
	o.muni = "0860";
	o.pstart = o.due = o.ws = o.we = 3000000;
	o.required = o.held = -1;
	o.transitions = UINT32_MAX;
	w.n = 0;
	w_header(&w, T0, CD_INSTANT_NONE, 0);
	w_v(&w, 100);
	for (int i = 0; i < 100; i++)
		w_ob(&w, &o);
	assert_no_crash(&w, "states with negative counts");
	assert_refused_naming(&w, "'obligations[0].", "states with negative counts");
}

/* A history the engine built itself: every kind of entry, and obligation states of each status. */
static void engine_record(cd_buf *out)
{
	static const struct { const char *id; int y, m, d; cd_event_kind kind; } in[] = {
		{ "r1", 2021, 3, 1, CD_EV_REGISTRATION }, { "c1", 2021, 3, 20, CD_EV_CONVERSATION },
		{ "c2", 2021, 5, 2, CD_EV_CONVERSATION }, { "d1", 2021, 7, 1, CD_EV_DEREGISTRATION },
		{ "r2", 2021, 8, 1, CD_EV_REGISTRATION }, { "c3", 2021, 9, 15, CD_EV_CONVERSATION },
		{ "b1", 2022, 2, 1, CD_EV_BENEFIT_CHANGE }, { "c4", 2022, 3, 1, CD_EV_CONVERSATION },
		{ "x1", 2021, 4, 10, CD_EV_EXEMPTION }, { "x2", 2021, 4, 20, CD_EV_EXEMPTION },
	};
	cd_citizen c;
	cd_err err;
	cd_citizen_init(&c);
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		cd_event ev = input(in[i].id, at(in[i].y, in[i].m, in[i].d), in[i].kind);
		if (in[i].kind == CD_EV_REGISTRATION) {
			ev.dp_start = cd_date_from_ymd(2021, 3, 1);       /* the second one resumes */
			ev.akasse_code = "AK-12";                         /* version 2: an akasse_code */
			ev.akasse_code_len = 5;
		}
		if (in[i].kind == CD_EV_EXEMPTION) {                      /* version 2: an Exemption, then its revocation */
			ev.scope = CD_SCOPE_KOMMUNE;
			ev.revoked = !strcmp(in[i].id, "x2");
		}
		if (!strcmp(in[i].id, "c2"))
			ev.voided = true;                                 /* withdraws nothing: a void of itself */
		assert_int_equal(cd_event_validate(&ev, &err), 0);
		if (cd_engine_apply(engine, &c, "p1", &ev, NULL, NULL, &err) < 0)
			fail_msg("%s: %s", in[i].id, err.msg);
	}
	assert_int_equal(cd_engine_advance(engine, &c, "p1", at(2022, 9, 1), NULL, NULL, &err), 0);
	assert_true(c.n_ob >= 4);
	assert_int_equal(cd_citizen_encode(&c, out), 0);
	cd_citizen_release(&c);
}

typedef struct mutation_run {
	const uint8_t *rec;
	size_t n;
	long decoded, refused;
} mutation_run;

/* In a child: 0, or 13 (a refusal left a non-empty citizen / no message) or what use_with_engine said. */
static int check_one(const uint8_t *rec, size_t n, mutation_run *mr)
{
	cd_citizen c;
	cd_err err = { { 0 }, 0 };
	uint8_t *p = malloc(n ? n : 1);
	int rc = 0;
	if (!p)
		return 2;
	memcpy(p, rec, n);
	cd_citizen_init(&c);
	if (cd_citizen_decode(&c, p, n, &err) < 0) {
		mr->refused++;
		if (c.n_ev || c.n_ob || c.str.len || strncmp(err.msg, "citizen record ", 15))
			rc = 13;
	} else {
		mr->decoded++;
		rc = use_with_engine(&c);
	}
	cd_citizen_release(&c);
	free(p);
	return rc;
}

static int child_mutations(const void *arg)
{
	mutation_run *mr = (mutation_run *)arg;
	uint8_t *p = malloc(mr->n);
	int rc = 0;
	if (!p)
		return 2;
	/* every truncation */
	for (size_t k = 0; k < mr->n && !rc; k++)
		rc = check_one(mr->rec, k, mr);
	/* every byte, set to edge values and flipped */
	for (size_t i = 0; i < mr->n && !rc; i++) {
		uint8_t b = mr->rec[i];
		const uint8_t vals[] = { 0x00, 0x01, 0x02, 0x7f, 0x80, 0xff, (uint8_t)(b ^ 0x01), (uint8_t)(b ^ 0x40),
					 (uint8_t)(b ^ 0x80), (uint8_t)(b + 1), (uint8_t)(b - 1) };
		for (size_t v = 0; v < sizeof(vals) && !rc; v++) {
			memcpy(p, mr->rec, mr->n);
			p[i] = vals[v];
			rc = check_one(p, mr->n, mr);
		}
	}
	/* random multi-byte damage */
	for (int round = 0; round < 3000 && !rc; round++) {
		memcpy(p, mr->rec, mr->n);
		for (int k = 1 + (int)(rng() % 4); k > 0; k--)
			p[rng() % mr->n] = (uint8_t)rng();
		rc = check_one(p, mr->n, mr);
	}
	free(p);
	if (!rc)
		fprintf(stderr, "mutations: %ld decoded and used, %ld refused\n", mr->decoded, mr->refused);
	return rc;
}

/*
 * An engine-written record, truncated at every length, each byte set to edge
 * values, and damaged at random: each decode either refuses cleanly or gives a
 * citizen that the engine takes (inputs, clock, encode, decode again) without
 * an assert, a crash or a sanitizer report.
 */
static void test_damaged_engine_records_are_refused_or_usable(void **state)
{
	cd_buf out;
	mutation_run mr = { 0 };
	int status;
	(void)state;
	cd_buf_init(&out, 1 << 20);
	engine_record(&out);
	mr.rec = (const uint8_t *)out.data;
	mr.n = out.len;
	status = in_child_arg(child_mutations, &mr);
	cd_buf_release(&out);
	if (WIFSIGNALED(status))
		fail_msg("a damaged record crashed the decoder or the engine (signal %d)", WTERMSIG(status));
	if (WEXITSTATUS(status) == 13)
		fail_msg("a refused record left a non-empty citizen or no message");
	if (WEXITSTATUS(status) != 0)
		fail_msg("a damaged record broke the decoder or the engine (exit %d; report above)", WEXITSTATUS(status));
}

/* ---- the string arena ----------------------------------------------------- */

static void test_intern_of_the_empty_string_is_offset_zero(void **state)
{
	cd_citizen c;
	uint32_t off = 99;
	(void)state;
	cd_citizen_init(&c);
	assert_int_equal(cd_citizen_intern(&c, "", 0, &off), 0);
	assert_int_equal(off, 0);
	assert_string_equal(cd_citizen_str(&c, 0), "");
	assert_int_equal(cd_citizen_intern(&c, "abc", 3, &off), 0);
	assert_int_not_equal(off, 0);
	assert_string_equal(cd_citizen_str(&c, off), "abc");
	cd_citizen_release(&c);
}

static void test_intern_beyond_the_arena_max_fails(void **state)
{
	cd_citizen c;
	const size_t chunk = (size_t)1 << 20;
	char *big = malloc(ARENA_MAX + 1);
	uint32_t off = 0, first = 0;
	size_t ok = 0;
	(void)state;
	assert_non_null(big);
	memset(big, 'a', ARENA_MAX + 1);

	/* One string larger than the whole arena. */
	cd_citizen_init(&c);
	assert_int_equal(cd_citizen_intern(&c, big, ARENA_MAX + 1, &off), -1);
	assert_int_equal(cd_citizen_intern(&c, big, ARENA_MAX, &off), -1);
	cd_citizen_release(&c);

	/* Filling it up in 1 MiB steps: fails before 17 steps, earlier strings intact. */
	cd_citizen_init(&c);
	assert_int_equal(cd_citizen_intern(&c, "first", 5, &first), 0);
	for (;;) {
		if (cd_citizen_intern(&c, big, chunk - 1, &off) < 0)
			break;
		ok++;
		assert_true(ok <= ARENA_MAX / chunk);
	}
	assert_true(ok >= ARENA_MAX / chunk - 1);
	assert_true(c.str.len <= ARENA_MAX);
	assert_string_equal(cd_citizen_str(&c, first), "first");
	/* Still full. */
	assert_int_equal(cd_citizen_intern(&c, big, chunk, &off), -1);
	cd_citizen_release(&c);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_test_writer_produces_the_same_bytes_as_cd_citizen_encode),
		cmocka_unit_test(test_record_with_every_kind_and_extreme_values_round_trips),
		cmocka_unit_test(test_empty_citizen_round_trips_with_none_clock),
		cmocka_unit_test(test_encode_into_a_full_buffer_fails),
		cmocka_unit_test(test_version_1_and_2_records_decode_to_the_same_citizen_and_re_encode_as_version_3),
		cmocka_unit_test(test_version_2_fields_round_trip_and_match_the_writer),
		cmocka_unit_test(test_member_outcomes_of_each_kind_round_trip_and_match_the_writer),
		cmocka_unit_test(test_every_truncation_of_a_valid_record_fails_and_leaves_an_empty_citizen),
		cmocka_unit_test(test_every_truncation_of_the_small_record_fails),
		cmocka_unit_test(test_record_with_wrong_version_byte_is_rejected),
		cmocka_unit_test(test_record_with_trailing_garbage_is_rejected),
		cmocka_unit_test(test_record_with_absurd_counts_is_rejected),
		cmocka_unit_test(test_event_with_out_of_range_kind_is_rejected),
		cmocka_unit_test(test_event_with_unknown_flag_bits_is_rejected),
		cmocka_unit_test(test_registration_with_out_of_range_enum_byte_is_rejected),
		cmocka_unit_test(test_deregistration_with_out_of_range_reason_is_rejected),
		cmocka_unit_test(test_conversation_with_out_of_range_form_or_held_by_is_rejected),
		cmocka_unit_test(test_event_with_over_long_or_broken_strings_is_rejected),
		cmocka_unit_test(test_event_with_out_of_range_date_is_rejected),
		cmocka_unit_test(test_obligation_state_with_out_of_range_enum_byte_is_rejected),
		cmocka_unit_test(test_obligation_state_with_over_long_strings_is_rejected),
		cmocka_unit_test(test_record_whose_time_deltas_overflow_is_rejected_without_undefined_behaviour),
		cmocka_unit_test(test_randomly_corrupted_records_never_crash_the_decoder),
		cmocka_unit_test(test_history_entries_at_their_limits_are_usable_and_past_them_refused),
		cmocka_unit_test(test_obligation_states_at_their_limits_are_usable_and_past_them_refused),
		cmocka_unit_test(test_obligation_ids_and_wide_counts_at_their_limits),
		cmocka_unit_test(test_counts_past_what_the_record_holds_are_refused_before_reserving),
		cmocka_unit_test(test_a_record_at_every_limit_re_encodes_within_the_encoders_bound),
		cmocka_unit_test(test_records_crafted_against_the_engine_are_refused_before_it_sees_them),
		cmocka_unit_test(test_damaged_engine_records_are_refused_or_usable),
		cmocka_unit_test(test_intern_of_the_empty_string_is_offset_zero),
		cmocka_unit_test(test_intern_beyond_the_arena_max_fails),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
