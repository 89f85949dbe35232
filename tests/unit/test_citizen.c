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

#include "state/citizen.h"
#include "state/date.h"
#include "state/event.h"
#include "util/buf.h"

#define FORMAT_VERSION 1
#define ARENA_MAX ((size_t)16 << 20)   /* citizen.c's arena ceiling */

/* ---- a writer for hand-made records --------------------------------------- */

typedef struct wb {
	uint8_t b[8192];
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
	w_u8(w, FORMAT_VERSION);
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

static void w_reg_body(wb *w, unsigned benefit, unsigned category, const char *muni, cd_date fc, cd_date fa,
		       cd_date dp, int32_t prior)
{
	w_u8(w, benefit);
	w_u8(w, category);
	w_str(w, muni);
	w_date(w, fc);
	w_date(w, fa);
	w_date(w, dp);
	w_v(w, (uint64_t)(int64_t)prior);
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
}

static const ob_spec BASE_OB = {
	0x0123456789abcdefULL, 18262, "dk-2020/four-in-six", CD_OB_OPEN, 0, 0, CD_DAGPENGE, "860",
	18444, 18262, 18444, 4, 1, 2,
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
	return o;
}

/* A citizen with every kind of history entry, odd values included. */
static void build_rich(cd_citizen *c)
{
	cd_hev *e;
	static const ob_spec ob2 = {
		UINT64_MAX, -719162, "policy-broendby/schedule", CD_OB_BREACHED, 16, 0x7f | CD_OF_SEEN,
		CD_FOERTIDSPENSION, "0860", CD_DATE_NONE, -1, 2932896, -1, INT32_MAX, UINT32_MAX,
	};
	static const ob_spec ob3 = {
		0, CD_DATE_NONE, "x", CD_OB_CANCELLED, 0, 0, CD_BENEFIT_NONE, "",
		CD_DATE_NONE, CD_DATE_NONE, CD_DATE_NONE, 0, 0, 0,
	};

	c->clock = INT64_MAX;
	c->next_fire = INT64_MIN + 1;

	/* 1938: before the epoch, so the first delta is negative. */
	e = add_ev(c, -INT64_C(1000000000000000000), CD_EV_REGISTRATION, CD_HF_OPT_OUT | CD_HF_SEASONAL, "reg-1");
	e->benefit = CD_DAGPENGE;
	e->category = CD_UDDANNELSESPARAT;
	snprintf(e->muni, sizeof(e->muni), "0860");
	e->first_contact = -719162;          /* 0001-01-01 */
	e->first_absence = 2932896;          /* 9999-12-31 */
	e->dp_start = 0;
	e->prior_days = -5;

	e = add_ev(c, T0, CD_EV_CONVERSATION, CD_HF_JOINT | CD_HF_VOIDED, "conv-ev-1");
	e->conv_off = intern(c, "conversation-\xc3\xa6\xc3\xb8\xc3\xa5");
	e->form = CD_VIA_OTHER;
	e->held_by = CD_OTHER_ACTOR;

	e = add_ev(c, T0, CD_EV_CONVERSATION, 0, "conv-ev-0");  /* same instant: delta 0 */
	e->form = CD_FORM_NONE;
	e->held_by = CD_HELD_NONE;                                /* conv_off 0: "" */

	e = add_ev(c, T0 - 1, CD_EV_BENEFIT_CHANGE, 0x1f, "bc-1");  /* delta -1 */
	e->benefit = CD_FOERTIDSPENSION;
	e->category = CD_CATEGORY_NONE;
	e->prior_days = INT32_MAX;
	e->dp_start = CD_DATE_NONE;
	e->first_contact = 18262;

	e = add_ev(c, INT64_C(4000000000000000000), CD_EV_DEREGISTRATION, CD_HF_ENDS_DP, "dereg-1"); /* 2096 */
	e->reason = CD_DEREG_OTHER;

	e = add_ev(c, INT64_C(4000000000000000001), CD_EV_DEREGISTRATION, 0, "dereg-2");
	e->reason = CD_DEREG_NONE;

	add_ob(c, &BASE_OB);
	add_ob(c, &ob2);
	add_ob(c, &ob3);
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
	static const unsigned versions[] = { 0, 2, 0x7f, 0xff };
	(void)state;
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
	}
	w_v(w, 0);
}

static void test_event_with_out_of_range_kind_is_rejected(void **state)
{
	static const unsigned kinds[] = { CD_EV_NONE, CD_EV_CLOCK_TICK, 6, 0xff };
	wb w;
	(void)state;
	for (int k = CD_EV_REGISTRATION; k <= CD_EV_BENEFIT_CHANGE; k++) {
		w_one_event(&w, (unsigned)k, 0, "e");
		assert_accepted(&w, "valid kind");
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		w_one_event(&w, kinds[i], 0, "e");
		assert_rejected(&w, "kind");
	}
}

static void test_event_with_unknown_flag_bits_is_rejected(void **state)
{
	wb w;
	(void)state;
	w_one_event(&w, CD_EV_CONVERSATION, 0x1f, "e");
	assert_accepted(&w, "all known flags");
	w_one_event(&w, CD_EV_CONVERSATION, 0x20, "e");
	assert_rejected(&w, "flag 0x20");
	w_one_event(&w, CD_EV_CONVERSATION, 0x80, "e");
	assert_rejected(&w, "flag 0x80");
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
		w_reg_body(&w, CD_BENEFIT_MAX, CD_CATEGORY_MAX, "860", 1, 2, 3, 3650);
		w_v(&w, 0);
		assert_accepted(&w, "largest enum values");
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			w.n = 0;
			w_header(&w, T0, CD_INSTANT_NONE, 1);
			w_ev_head(&w, T0, (unsigned)kind, 0, "e");
			w_reg_body(&w, bad[i][0], bad[i][1], "860", 1, 2, 3, 0);
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
	o = BASE_OB; o.status = CD_OB_CANCELLED; o.reason = 16; o.flags = 0x7f; o.benefit = CD_BENEFIT_MAX;
	w_with_ob(&w, &o);
	assert_accepted(&w, "largest values");
	o = BASE_OB; o.status = CD_OB_CANCELLED + 1; w_with_ob(&w, &o); assert_rejected(&w, "status");
	o = BASE_OB; o.reason = 17; w_with_ob(&w, &o); assert_rejected(&w, "reason");
	o = BASE_OB; o.flags = 0x80; w_with_ob(&w, &o); assert_rejected(&w, "flags");
	o = BASE_OB; o.benefit = CD_BENEFIT_MAX + 1; w_with_ob(&w, &o); assert_rejected(&w, "benefit");
	o = BASE_OB; o.due = 3000001; w_with_ob(&w, &o); assert_rejected(&w, "due");
	o = BASE_OB; o.pstart = -1000001; w_with_ob(&w, &o); assert_rejected(&w, "pstart");
}

static void test_obligation_state_with_over_long_strings_is_rejected(void **state)
{
	char oid[202];
	ob_spec o;
	wb w;
	(void)state;
	memset(oid, 'o', sizeof(oid));
	oid[200] = '\0';
	o = BASE_OB; o.oid = oid;
	w_with_ob(&w, &o);
	assert_accepted(&w, "obligation id of 200 bytes");
	oid[200] = 'o';
	oid[201] = '\0';
	w_with_ob(&w, &o);
	assert_rejected(&w, "obligation id of 201 bytes");
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
		cmocka_unit_test(test_intern_of_the_empty_string_is_offset_zero),
		cmocka_unit_test(test_intern_beyond_the_arena_max_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
