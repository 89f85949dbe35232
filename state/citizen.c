/*
 * citizen.c — the citizen record and its binary form.
 *
 * Format (version 2), all integers varints, dates as zigzag(day)+1 with 0 for
 * "none", instants as zigzag:
 *   u8 version
 *   clock, next_fire            (0 = none, else zigzag(t)+1... see w_instant)
 *   n_ev, then per event: zigzag(occurred - previous occurred), kind, flags,
 *       event_id, and the payload fields of its kind
 *       (Registration, BenefitChange: … prior_days, akasse_code; Exemption: scope)
 *   n_ob, then per obligation state: pkey (8 bytes LE), pstart, oid, status,
 *       reason, flags, benefit, muni, due, ws, we, required, held, transitions,
 *       and (version 3) what the aggregate stage was told: agg, agg_due, agg_held, agg_key
 *   (version 4) the summary of folded history: fold_until, fold_at, n_folded,
 *       n_fold_conv, then that many 8-byte LE hashes. A record with nothing
 *       folded is still written as version 3, which an older build reads.
 * Strings are a varint length and bytes. Decoding checks every length against
 * the buffer and every field against the limits the engine relies on: a
 * corrupt record is an error naming the field, never a crash, and never a
 * citizen that the engine cannot take.
 */
#include "state/citizen.h"

#include <assert.h>
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "state/rules.h"
#include "util/varint.h"

#define FORMAT_VERSION 4
#define FORMAT_VERSION_UNFOLDED 3
/* Version 1 (before the dk-2026 fields) is still read: records in Redis outlive a deployment. */
#define FORMAT_VERSION_MIN 1
#define ARENA_MAX ((size_t)16 << 20)

void cd_citizen_init(cd_citizen *c)
{
	memset(c, 0, sizeof(*c));
	c->clock = CD_INSTANT_NONE;
	c->next_fire = CD_INSTANT_NONE;
	c->fold_until = CD_DATE_NONE;
	c->fold_at = CD_INSTANT_NONE;
	cd_buf_init(&c->str, ARENA_MAX);
}

void cd_citizen_clear(cd_citizen *c)
{
	c->clock = CD_INSTANT_NONE;
	c->next_fire = CD_INSTANT_NONE;
	c->n_ev = 0;
	c->n_ob = 0;
	cd_buf_reset(&c->str);
	c->fold_until = CD_DATE_NONE;
	c->fold_at = CD_INSTANT_NONE;
	c->n_folded = 0;
	c->n_fold_conv = 0;
	c->retired = false;
}

void cd_citizen_release(cd_citizen *c)
{
	free(c->ev);
	free(c->ob);
	free(c->fold_conv);
	cd_buf_release(&c->str);
	cd_citizen_init(c);
}

int cd_citizen_intern(cd_citizen *c, const char *s, size_t len, uint32_t *off)
{
	if (c->str.len == 0 && cd_buf_putc(&c->str, '\0') < 0)  /* offset 0 is "" */
		return -1;
	if (len == 0) {
		*off = 0;
		return 0;
	}
	if (cd_buf_reserve(&c->str, len + 1) < 0)   /* all or nothing: no half-written string */
		return -1;
	*off = (uint32_t)c->str.len;
	cd_buf_append(&c->str, s, len);
	cd_buf_putc(&c->str, '\0');
	return 0;
}

int cd_citizen_fold_conv(cd_citizen *c, uint64_t h)
{
	if (c->n_fold_conv == CD_FOLD_CONV_MAX) {
		memmove(c->fold_conv, c->fold_conv + 1, (CD_FOLD_CONV_MAX - 1) * sizeof(*c->fold_conv));
		c->n_fold_conv--;
	}
	if (cd_array_grow((void **)&c->fold_conv, &c->cap_fold_conv, c->n_fold_conv + 1, sizeof(*c->fold_conv)) < 0)
		return -1;
	c->fold_conv[c->n_fold_conv++] = h;
	return 0;
}

bool cd_citizen_folded_conv(const cd_citizen *c, uint64_t h)
{
	for (size_t i = 0; i < c->n_fold_conv; i++)
		if (c->fold_conv[i] == h)
			return true;
	return false;
}

/* ---- encoding ------------------------------------------------------------- */

static uint64_t zz(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static int64_t unzz(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

/*
 * Encoding writes through a raw pointer into space reserved once for the
 * worst case (the profile showed per-field bounds checks dominating): every
 * field has a fixed maximum size, because ids are validated to
 * CD_MAX_ID_LEN bytes and obligation ids are built by the engine.
 */
#define MAX_EVENT_BYTES (10 + 2 + (2 + CD_MAX_ID_LEN) + (2 + CD_MAX_ID_LEN) + 2 + (1 + CD_MAX_MUNI) + 3 * 5 + 5 + (1 + CD_MAX_AKASSE_LEN))
#define MAX_OB_BYTES (8 + 5 + (2 + CD_MAX_OBLIGATION_ID_LEN) + 4 + (1 + CD_MAX_MUNI) + 3 * 5 + 3 * 5 + 5 + 1 + 3 * 5)
#define CD_MAX_MUNI CD_MUNI_LEN

static inline uint8_t *w_varint(uint8_t *p, uint64_t v)
{
	return cd_varint_put(p, v);
}

static inline uint8_t *w_str(uint8_t *p, const char *s, size_t n)
{
	p = w_varint(p, n);
	memcpy(p, s, n);
	return p + n;
}

static inline uint8_t *w_date(uint8_t *p, cd_date d)
{
	return w_varint(p, d == CD_DATE_NONE ? 0 : zz(d) + 1);
}

static inline uint8_t *w_instant(uint8_t *p, cd_instant t)
{
	return w_varint(p, t == CD_INSTANT_NONE ? 0 : zz(t) + 1);
}

int cd_citizen_encode(const cd_citizen *c, cd_buf *b)
{
	cd_instant prev = 0;
	size_t bound = 64 + c->n_ev * MAX_EVENT_BYTES + c->n_ob * MAX_OB_BYTES + 40 + 8 * c->n_fold_conv;
	bool folded = c->fold_until != CD_DATE_NONE;
	uint8_t *p, *start;

	if (cd_buf_reserve(b, bound) < 0)
		return -1;
	start = p = (uint8_t *)b->data + b->len;
	*p++ = folded ? FORMAT_VERSION : FORMAT_VERSION_UNFOLDED;
	p = w_instant(p, c->clock);
	p = w_instant(p, c->next_fire);
	p = w_varint(p, c->n_ev);
	for (size_t i = 0; i < c->n_ev; i++) {
		const cd_hev *e = &c->ev[i];
		p = w_varint(p, zz(e->occurred - prev));
		prev = e->occurred;
		*p++ = e->kind;
		*p++ = e->flags;
		p = w_str(p, cd_citizen_str(c, e->id_off), e->id_len);   /* every builder sets id_len */
		switch (e->kind) {
		case CD_EV_REGISTRATION:
		case CD_EV_BENEFIT_CHANGE:
			*p++ = e->benefit;
			*p++ = e->category;
			p = w_str(p, e->muni, strlen(e->muni));
			p = w_date(p, e->first_contact);
			p = w_date(p, e->first_absence);
			p = w_date(p, e->dp_start);
			p = w_varint(p, (uint64_t)e->prior_days);
			{
				const char *ak = cd_citizen_str(c, e->akasse_off);
				p = w_str(p, ak, strlen(ak));
			}
			break;
		case CD_EV_EXEMPTION:
			*p++ = e->scope;
			break;
		case CD_EV_DEREGISTRATION:
			*p++ = e->reason;
			break;
		case CD_EV_CONVERSATION: {
			const char *cid = cd_citizen_str(c, e->conv_off);
			p = w_str(p, cid, strlen(cid));
			*p++ = e->form;
			*p++ = e->held_by;
			break;
		}
		}
	}
	p = w_varint(p, c->n_ob);
	for (size_t i = 0; i < c->n_ob; i++) {
		const cd_obst *o = &c->ob[i];
		const char *oid = cd_citizen_str(c, o->oid_off);
		uint64_t pkey = htole64(o->pkey);   /* one store, not eight */
		memcpy(p, &pkey, 8);
		p += 8;
		p = w_date(p, o->pstart);
		p = w_str(p, oid, strlen(oid));
		*p++ = o->status;
		*p++ = o->reason;
		*p++ = (uint8_t)(o->flags & ~CD_OF_SEEN);
		*p++ = o->benefit;
		p = w_str(p, o->muni, strlen(o->muni));
		p = w_date(p, o->due);
		p = w_date(p, o->ws);
		p = w_date(p, o->we);
		p = w_varint(p, (uint64_t)o->required);
		p = w_varint(p, (uint64_t)o->held);
		p = w_varint(p, o->transitions);
		*p++ = o->agg;
		if (o->agg) {
			p = w_date(p, o->agg_due);
			p = w_varint(p, (uint64_t)o->agg_held);
			p = w_varint(p, o->agg_key);
		}
	}
	if (folded) {
		p = w_date(p, c->fold_until);
		p = w_instant(p, c->fold_at);
		p = w_varint(p, c->n_folded);
		p = w_varint(p, c->n_fold_conv);
		for (size_t i = 0; i < c->n_fold_conv; i++) {
			uint64_t h = htole64(c->fold_conv[i]);
			memcpy(p, &h, 8);
			p += 8;
		}
	}
	assert((size_t)(p - start) <= bound);
	b->len += (size_t)(p - start);
	b->data[b->len] = '\0';
	return 0;
}

/* ---- decoding ------------------------------------------------------------- */

/*
 * A record holds only what the engine wrote: history entries are inputs that
 * passed validation (D28), obligation states carry the engine's own values.
 * The engine relies on both (dates and day counts inside D28's range keep its
 * arithmetic in bounds, obligation ids fit its buffers), so decoding checks
 * every field against those limits: anything outside is corruption, refused
 * here with the field's name, never handed on.
 */

/* The fewest bytes an entry takes: bounds a count by the record's size before reserving. */
#define MIN_EVENT_BYTES 6       /* delta, kind, flags, a one-byte id, a reason */
#define MIN_OB_BYTES 22         /* pkey, pstart, a one-byte id, four bytes, muni, three dates, three counts */
/* Dates of obligation states: the engine's own arithmetic on D28 dates, with room to spare. */
#define OB_DATE_MIN (-1000000)
#define OB_DATE_MAX 3000000

#define STR_(x) #x
#define STR(x) STR_(x)

typedef struct rd {
	const uint8_t *p, *end;
	const char *field;       /* the first field found wrong; NULL: none */
	const char *why;
} rd;

static void bad(rd *r, const char *field, const char *why)
{
	if (!r->field) {
		r->field = field;
		r->why = why;
	}
	r->p = r->end;           /* nothing more is read */
}

/*
 * A varint of up to nine bytes from one 64-bit load (and the ninth byte): the
 * continuation bits find its end, then the 7-bit groups close up pairwise
 * (times are deltas in nanoseconds, seven bytes, dates three, the clock nine).
 * 0 when it is longer or the record ends first: the caller reads it byte by byte.
 */
static inline unsigned varint_word(const uint8_t *q, const uint8_t *end, uint64_t *v)
{
	uint64_t w, stop, x;
	if (end - q < 8)
		return 0;
	memcpy(&w, q, 8);
	w = le64toh(w);
	stop = ~w & UINT64_C(0x8080808080808080);   /* the high bit of each last byte */
	x = w & (stop ^ (stop - 1)) & UINT64_C(0x7f7f7f7f7f7f7f7f);   /* stop 0: all eight */
	x = (x & UINT64_C(0x007f007f007f007f)) | ((x & UINT64_C(0x7f007f007f007f00)) >> 1);
	x = (x & UINT64_C(0x00003fff00003fff)) | ((x & UINT64_C(0x3fff00003fff0000)) >> 2);
	x = (x & UINT64_C(0x000000000fffffff)) | ((x & UINT64_C(0x0fffffff00000000)) >> 4);
	if (stop) {
		*v = x;
		return (unsigned)__builtin_ctzll(stop) / 8 + 1;
	}
	if (end - q < 9 || q[8] >= 0x80)            /* ten bytes, or past the end */
		return 0;
	*v = x | (uint64_t)q[8] << 56;               /* nine: an absolute instant (clock, next_fire) */
	return 9;
}

static inline uint64_t get_v(rd *r, const char *field)
{
	uint64_t v = 0;
	unsigned n;
	if (r->p < r->end && *r->p < 0x80)       /* most fields fit one byte */
		return *r->p++;
	if ((n = varint_word(r->p, r->end, &v)) != 0) {
		r->p += n;
		return v;
	}
	if (r->field || cd_varint_get(&r->p, r->end, &v) < 0) {
		bad(r, field, "is truncated or malformed");
		return 0;
	}
	return v;
}

/* A varint in [0, max]. */
static uint64_t get_max(rd *r, const char *field, uint64_t max, const char *why)
{
	uint64_t v = get_v(r, field);
	if (v > max) {
		bad(r, field, why);
		return 0;
	}
	return v;
}

static uint8_t get_u8(rd *r, const char *field, uint8_t min, uint8_t max)
{
	if (r->p >= r->end) {
		bad(r, field, "is truncated");
		return 0;
	}
	if (*r->p < min || *r->p > max) {
		bad(r, field, "is out of range");
		return 0;
	}
	return *r->p++;
}

/* A date in [lo, hi], or none. Inline: four or five per obligation state (the call cost a sixth of it). */
static inline cd_date get_date(rd *r, const char *field, int64_t lo, int64_t hi, const char *why)
{
	uint64_t v = get_v(r, field);
	int64_t d;
	if (v == 0)
		return CD_DATE_NONE;
	d = unzz(v - 1);
	if (d < lo || d > hi) {
		bad(r, field, why);
		return CD_DATE_NONE;
	}
	return (cd_date)d;
}

static cd_date get_ev_date(rd *r, const char *field)
{
	return get_date(r, field, CD_EVENT_MIN_DATE, CD_EVENT_MAX_DATE, "is outside 1990-01-01 … 2099-12-31");
}

static cd_date get_ob_date(rd *r, const char *field)
{
	return get_date(r, field, OB_DATE_MIN, OB_DATE_MAX, "is outside the engine's dates");
}

static cd_instant get_instant(rd *r, const char *field)
{
	uint64_t v = get_v(r, field);
	return v == 0 ? CD_INSTANT_NONE : unzz(v - 1);
}

/*
 * Reads a string of 1 to max bytes (every string of a record is an id) into
 * the arena, reserved by the caller for the whole record: the strings and
 * their NULs cannot exceed twice the record's size; *off = its offset. A NUL
 * inside a string marks the record corrupt (not a shorter string).
 */
static inline size_t get_str_or_empty(rd *r, cd_citizen *c, uint32_t *off, const char *field, size_t max,
				      const char *too_long, bool empty_ok)
{
	uint64_t n = get_v(r, field);
	if (r->field)
		return 0;
	if (n > max) {
		bad(r, field, too_long);
		return 0;
	}
	if (n > (uint64_t)(r->end - r->p)) {
		bad(r, field, "is truncated");
		return 0;
	}
	if (n == 0) {
		*off = 0;
		if (!empty_ok)
			bad(r, field, "is empty");
		return 0;
	}
	if (memchr(r->p, '\0', (size_t)n)) {
		bad(r, field, "contains a NUL");
		return 0;
	}
	if (c->str.len == 0)
		c->str.data[c->str.len++] = '\0';     /* offset 0 is "" */
	*off = (uint32_t)c->str.len;
	memcpy(c->str.data + c->str.len, r->p, (size_t)n);
	c->str.len += (size_t)n;
	c->str.data[c->str.len++] = '\0';
	r->p += n;
	return (size_t)n;
}

#define get_str(r, c, off, field, max, too_long) get_str_or_empty(r, c, off, field, max, too_long, false)

/* Empty, or three or four digits (D28). */
static void get_muni(rd *r, char *muni, const char *field)
{
	uint64_t n = get_v(r, field);
	if (r->field)
		return;
	if (n > (uint64_t)(r->end - r->p)) {
		bad(r, field, "is truncated");
		return;
	}
	if (n == 1 || n == 2 || n > CD_MUNI_LEN) {
		bad(r, field, "is not three or four digits");
		return;
	}
	for (size_t i = 0; i < n; i++) {      /* checked and copied in one pass */
		if (r->p[i] < '0' || r->p[i] > '9') {
			bad(r, field, "is not three or four digits");
			return;
		}
		muni[i] = (char)r->p[i];
	}
	muni[n] = '\0';
	r->p += n;
}

int cd_citizen_reserve_events(cd_citizen *c, size_t n)
{
	return cd_array_grow((void **)&c->ev, &c->cap_ev, n, sizeof(*c->ev));
}

int cd_citizen_reserve_obs(cd_citizen *c, size_t n)
{
	return cd_array_grow((void **)&c->ob, &c->cap_ob, n, sizeof(*c->ob));
}

static void get_event(rd *r, cd_citizen *c, cd_hev *e, cd_instant *prev, int version)
{
	memset(e, 0, sizeof(*e));
	e->first_contact = e->first_absence = e->dp_start = CD_DATE_NONE;
	if (__builtin_add_overflow(*prev, unzz(get_v(r, "occurred_at")), &e->occurred) ||
	    e->occurred < CD_EVENT_MIN_INSTANT || e->occurred >= CD_EVENT_MAX_INSTANT) {
		bad(r, "occurred_at", "is outside 1990-01-01 … 2100-01-01");
		return;
	}
	*prev = e->occurred;
	e->date = cd_cph_date(e->occurred);
	e->kind = get_u8(r, "kind", CD_EV_REGISTRATION, version >= 2 ? CD_EV_EXEMPTION : CD_EV_BENEFIT_CHANGE);
	if (e->kind == CD_EV_CLOCK_TICK)
		bad(r, "kind", "is a clock tick, which histories never hold");
	e->flags = get_u8(r, "flags", 0, version >= 2 ? 0xff : 0x1f);
	e->id_len = (uint8_t)get_str(r, c, &e->id_off, "event_id", CD_MAX_ID_LEN,
				     "is longer than " STR(CD_MAX_ID_LEN) " bytes");
	switch (e->kind) {
	case CD_EV_REGISTRATION:
	case CD_EV_BENEFIT_CHANGE:
		e->benefit = get_u8(r, "benefit", e->kind == CD_EV_REGISTRATION ? 1 : 0, CD_BENEFIT_MAX);
		e->category = get_u8(r, "category", 0, CD_CATEGORY_MAX);
		get_muni(r, e->muni, "municipality_code");
		e->first_contact = get_ev_date(r, "first_contact_date");
		e->first_absence = get_ev_date(r, "first_absence_date");
		e->dp_start = get_ev_date(r, "dagpenge_period_start");
		e->prior_days = (int32_t)get_max(r, "prior_unemployment_days", CD_MAX_PRIOR_DAYS,
						 "is outside 0 … " STR(CD_MAX_PRIOR_DAYS));
		if (version >= 2)
			get_str_or_empty(r, c, &e->akasse_off, "akasse_code", CD_MAX_AKASSE_LEN,
					 "is longer than " STR(CD_MAX_AKASSE_LEN) " bytes", true);
		break;
	case CD_EV_EXEMPTION:
		e->scope = get_u8(r, "scope", 1, CD_SCOPE_MAX);
		break;
	case CD_EV_DEREGISTRATION:
		e->reason = get_u8(r, "reason", 0, CD_DEREG_MAX);
		break;
	case CD_EV_CONVERSATION: {
		/* a void carries only the id; anything else says how and by whom (D28) */
		uint8_t min = (e->flags & CD_HF_VOIDED) ? 0 : 1;
		get_str(r, c, &e->conv_off, "conversation_id", CD_MAX_ID_LEN,
			"is longer than " STR(CD_MAX_ID_LEN) " bytes");
		e->form = get_u8(r, "form", min, CD_FORM_MAX);
		e->held_by = get_u8(r, "held_by", min, CD_HELD_MAX);
		break;
	}
	}
}

static void get_ob(rd *r, cd_citizen *c, cd_obst *o, int version)
{
	memset(o, 0, sizeof(*o));
	if (r->end - r->p < 8) {
		bad(r, "period_key", "is truncated");
		return;
	}
	memcpy(&o->pkey, r->p, 8);
	o->pkey = le64toh(o->pkey);
	r->p += 8;
	o->pstart = get_ob_date(r, "period_start");
	get_str(r, c, &o->oid_off, "obligation_id", CD_MAX_OBLIGATION_ID_LEN,
		"is longer than " STR(CD_MAX_OBLIGATION_ID_LEN) " bytes");
	o->status = get_u8(r, "status", CD_OB_OPEN, version >= 2 ? CD_OB_LAPSED : CD_OB_CANCELLED);
	o->reason = get_u8(r, "cancel_reason", 0, version >= 2 ? CD_OB_REASON_MAX : 5);
	o->flags = get_u8(r, "flags", 0, 0x7f);
	o->benefit = get_u8(r, "benefit", 0, CD_BENEFIT_MAX);
	get_muni(r, o->muni, "municipality_code");
	o->due = get_ob_date(r, "due_date");
	o->ws = get_ob_date(r, "window_start");
	o->we = get_ob_date(r, "window_end");
	o->required = (int32_t)get_max(r, "required", CD_MAX_REQUIRED, "is outside 0 … " STR(CD_MAX_REQUIRED));
	o->held = (int32_t)get_max(r, "held", INT32_MAX, "is outside 0 … 2147483647");
	o->transitions = (uint32_t)get_max(r, "transitions", UINT32_MAX, "is outside 0 … 4294967295");
	o->agg_due = CD_DATE_NONE;
	if (version >= 3) {
		o->agg = get_u8(r, "member_outcome", 0, CD_OB_MEMBER_MAX);
		if (o->agg) {
			o->agg_due = get_ob_date(r, "member_due_date");
			o->agg_held = (int32_t)get_max(r, "member_held", INT32_MAX, "is outside 0 … 2147483647");
			o->agg_key = (uint32_t)get_max(r, "member_key", UINT32_MAX, "is outside 0 … 4294967295");
		}
	}
}

int cd_citizen_decode(cd_citizen *c, const uint8_t *p, size_t n, cd_err *err)
{
	rd r = { p, p + n, NULL, NULL };
	uint64_t n_ev, n_ob;
	cd_instant prev = 0;
	size_t i = 0;
	const char *where = "";
	int version;

	cd_citizen_clear(c);
	if (n == 0 || p[0] < FORMAT_VERSION_MIN || p[0] > FORMAT_VERSION)
		return cd_err_set(err, 0, "citizen record has unknown format version %d", n ? p[0] : -1);
	version = p[0];
	r.p++;
	if (cd_buf_reserve(&c->str, 2 * n + 2) < 0)
		return cd_err_set(err, 0, "citizen record of %zu bytes is larger than the arena allows", n);
	c->str.data[0] = '\0';
	/* Any instant: --until and the wall clock put the clock anywhere. */
	c->clock = get_instant(&r, "clock");
	c->next_fire = get_instant(&r, "next_fire");
	n_ev = get_v(&r, "n_events");
	if (n_ev > (uint64_t)(r.end - r.p) / MIN_EVENT_BYTES)
		bad(&r, "n_events", "exceeds what the record holds");
	if (!r.field && cd_citizen_reserve_events(c, (size_t)n_ev) < 0)
		bad(&r, "n_events", "exceeds the memory available");
	if (r.field)
		goto bad;
	for (i = 0; i < n_ev && !r.field; i++) {
		get_event(&r, c, &c->ev[i], &prev, version);
		c->n_ev = i + 1;
	}
	if (r.field) {
		where = "events";
		goto bad;
	}
	n_ob = get_v(&r, "n_obligations");
	if (n_ob > (uint64_t)(r.end - r.p) / MIN_OB_BYTES)
		bad(&r, "n_obligations", "exceeds what the record holds");
	if (!r.field && cd_citizen_reserve_obs(c, (size_t)n_ob) < 0)
		bad(&r, "n_obligations", "exceeds the memory available");
	if (r.field)
		goto bad;
	for (i = 0; i < n_ob && !r.field; i++) {
		get_ob(&r, c, &c->ob[i], version);
		c->n_ob = i + 1;
	}
	if (r.field) {
		where = "obligations";
		goto bad;
	}
	if (version >= 4) {
		uint64_t nh;
		c->fold_until = get_ev_date(&r, "fold_until");
		if (!r.field && c->fold_until == CD_DATE_NONE)
			bad(&r, "fold_until", "is missing");
		if (!r.field && c->n_ev && c->ev[0].date <= c->fold_until)
			bad(&r, "fold_until", "is not before the first history entry");
		c->fold_at = get_instant(&r, "fold_at");
		if (!r.field && c->fold_at != CD_INSTANT_NONE && c->n_ev && c->ev[0].occurred < c->fold_at)
			bad(&r, "fold_at", "is after the first history entry");
		c->n_folded = (uint32_t)get_max(&r, "n_folded", UINT32_MAX, "is outside 0 … 4294967295");
		nh = get_max(&r, "n_fold_conv", CD_FOLD_CONV_MAX, "is more than " STR(CD_FOLD_CONV_MAX));
		if (!r.field && nh > (uint64_t)(r.end - r.p) / 8)
			bad(&r, "n_fold_conv", "exceeds what the record holds");
		if (!r.field && cd_array_grow((void **)&c->fold_conv, &c->cap_fold_conv, (size_t)nh,
					      sizeof(*c->fold_conv)) < 0)
			bad(&r, "n_fold_conv", "exceeds the memory available");
		for (uint64_t k = 0; k < nh && !r.field; k++) {
			uint64_t h;
			memcpy(&h, r.p, 8);
			r.p += 8;
			c->fold_conv[c->n_fold_conv++] = le64toh(h);
		}
		if (r.field)
			goto bad;
	}
	if (r.p != r.end) {
		cd_citizen_clear(c);
		return cd_err_set(err, 0, "citizen record is corrupt: %zu bytes after its end", (size_t)(r.end - r.p));
	}
	return 0;
bad:
	cd_citizen_clear(c);
	if (*where)   /* i is one past the entry that failed */
		return cd_err_set(err, 0, "citizen record is corrupt: '%s[%zu].%s' %s", where, i - 1, r.field, r.why);
	return cd_err_set(err, 0, "citizen record is corrupt: '%s' %s", r.field, r.why);
}
