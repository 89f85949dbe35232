/*
 * aggregate.c — cohorts of share members and their aggregate events.
 *
 * Two hash tables (uthash, Debian's uthash-dev): members by member_id, each
 * pointing at its cohort (and listed in it, utlist), and cohorts by
 * (aggregate id, key kind, key, period start). A cohort keeps its tally up to date as members come, go and change,
 * so a member costs O(1); a cohort also sits in an array sorted by that same
 * tuple, which is the order outputs at one instant come in. Cohorts are never
 * removed (they are few: keys × reporting periods), members are removed when
 * they become UNDECIDED.
 *
 * cd_agg_advance gathers the instants it passes (each cohort's warning and
 * evaluation) and the cohorts to evaluate late or re-evaluate, sorts them by
 * (instant, cohort order), then acts on them one by one.
 */
#include "state/aggregate.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "util/buf.h"
#include "util/varint.h"

/* uthash: an allocation failure leaves the table as it was and sets the caller's `oom`. */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (oom = 1)
#include <uthash.h>
#include <utlist.h>

#define NB (CD_BENEFIT_MAX + 1)
#define MAX_KEY_LEN 64           /* longer than any municipality or a-kasse code (D28: 16) */

typedef struct tally {
	int n, met, lapsed, exempted;
	int64_t sum_held;
	int64_t sum_need;         /* AVERAGE: the members' counts n, summed */
	int ben_n[NB], ben_met[NB];
} tally;

typedef struct cohort {
	char *hkey;               /* owned: the table key, see cohort_key() */
	const cd_aggdef *def;     /* in the borrowed rules */
	int key_kind;
	char *key;                /* owned */
	cd_date ps, pe;
	cd_instant warn_at;       /* CD_INSTANT_NONE: no warning */
	cd_instant eval_at;
	tally cur;                /* the members as known now */
	tally last;               /* as the last MET/BREACHED said */
	int last_status, last_required, last_held;
	bool evaluated, warned, dirty;
	bool changed;             /* since the last cd_agg_changed_cohorts: its saved state is stale */
	uint32_t transitions;     /* events emitted so far: part of each event id */
	struct member *list;      /* its members (utlist), for the warning's count */
	UT_hash_handle hh;
} cohort;

typedef struct member {
	char id[33];
	cohort *c;
	uint8_t outcome, benefit;
	int held;
	int need;                 /* AVERAGE: its n (the aggregate's when the member gave none) */
	cd_instant as_of;         /* when it came to its present outcome */
	struct member *prev, *next;   /* in c->list */
	UT_hash_handle hh;
} member;

enum { ACT_WARN = 0, ACT_EVAL = 1, ACT_LATE = 2 };

typedef struct action {
	cd_instant at;
	size_t rank;              /* the cohort's index in the sorted array */
	int type;
	cohort *c;
} action;

struct cd_aggregator {
	const cd_rules *rules;
	int grace, warn;
	cd_instant now;
	cohort *cohorts;          /* uthash head */
	member *members;          /* uthash head */
	cohort **order;           /* sorted by (aggregate id, key kind, key, period start) */
	size_t n_order, cap_order;
	action *acts;
	size_t cap_acts;
	cd_agg_benefit ben[NB];
	char explain[512];
};

cd_aggregator *cd_agg_new(const cd_rules *rules, int grace_days, int warn_days)
{
	cd_aggregator *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->rules = rules;
	a->grace = grace_days;
	a->warn = warn_days;
	a->now = CD_INSTANT_NONE;
	return a;
}

void cd_agg_free(cd_aggregator *a)
{
	member *m, *mt;
	cohort *c, *ct;

	if (!a)
		return;
	HASH_ITER(hh, a->members, m, mt) {
		HASH_DEL(a->members, m);
		free(m);
	}
	HASH_ITER(hh, a->cohorts, c, ct) {
		HASH_DEL(a->cohorts, c);
		free(c->hkey);
		free(c->key);
		free(c);
	}
	free(a->order);
	free(a->acts);
	free(a);
}

cd_instant cd_agg_clock(const cd_aggregator *a)
{
	return a->now;
}

void cd_agg_period(char period, cd_date d, cd_date *start, cd_date *end)
{
	int y, m, day;

	cd_date_to_ymd(d, &y, &m, &day);
	switch (period) {
	case 'm':
		*start = cd_date_from_ymd(y, m, 1);
		*end = *start + cd_days_in_month(y, m) - 1;
		break;
	case 'y':
		*start = cd_date_from_ymd(y, 1, 1);
		*end = cd_date_from_ymd(y, 12, 31);
		break;
	default:   /* 'q', the default of rules.md §4.1 */
		*start = cd_date_from_ymd(y, (m - 1) / 3 * 3 + 1, 1);
		*end = cd_date_add_months(*start, 3) - 1;
		break;
	}
}

const char *cd_agg_status_name(int status)
{
	switch (status) {
	case CD_AGG_WARNING: return "WARNING";
	case CD_AGG_MET: return "MET";
	case CD_AGG_BREACHED: return "BREACHED";
	case CD_AGG_RETRACTED: return "RETRACTED";
	default: return "?";
	}
}

/* ---- cohorts ------------------------------------------------------------------- */

/* aggregate id NUL, key kind (1 byte), key NUL, period start (4 bytes, little-endian). */
static size_t cohort_key(const char *agg, int key_kind, const char *key, cd_date ps, char *buf)
{
	size_t la = strlen(agg) + 1, lk = strlen(key) + 1, n = 0;
	memcpy(buf, agg, la);
	n += la;
	buf[n++] = (char)key_kind;
	memcpy(buf + n, key, lk);
	n += lk;
	for (int i = 0; i < 4; i++)
		buf[n++] = (char)(uint8_t)((uint32_t)ps >> (8 * i));
	return n;
}

static int cohort_cmp(const cohort *x, const cohort *y)
{
	int r = strcmp(x->def->id, y->def->id);
	if (r)
		return r;
	if (x->key_kind != y->key_kind)
		return x->key_kind < y->key_kind ? -1 : 1;
	if ((r = strcmp(x->key, y->key)))
		return r;
	return x->ps < y->ps ? -1 : x->ps > y->ps;
}

/* The cohort of (def, key_kind, key, period of due), created if new; NULL when out of memory. */
static cohort *cohort_get(cd_aggregator *a, const cd_aggdef *def, int key_kind, const char *key, cd_date due)
{
	char buf[CD_MAX_OBLIGATION_ID_LEN + MAX_KEY_LEN + 16];
	cd_date ps, pe;
	size_t n, lo = 0, hi;
	cohort *c = NULL;
	int oom = 0;

	cd_agg_period(def->period, due, &ps, &pe);
	n = cohort_key(def->id, key_kind, key, ps, buf);
	HASH_FIND(hh, a->cohorts, buf, n, c);
	if (c)
		return c;
	if (a->n_order == a->cap_order) {
		size_t cap = a->cap_order ? 2 * a->cap_order : 64;
		cohort **o = realloc(a->order, cap * sizeof(*o));
		if (!o)
			return NULL;
		a->order = o;
		a->cap_order = cap;
	}
	if (!(c = calloc(1, sizeof(*c))) || !(c->hkey = malloc(n)) || !(c->key = strdup(key)))
		goto fail;
	memcpy(c->hkey, buf, n);
	c->def = def;
	c->key_kind = key_kind;
	c->ps = ps;
	c->pe = pe;
	c->eval_at = cd_cph_midnight(pe + 1 + a->grace);
	c->warn_at = a->warn > 0 ? cd_cph_midnight(pe - a->warn) : CD_INSTANT_NONE;
	c->changed = true;
	HASH_ADD_KEYPTR(hh, a->cohorts, c->hkey, n, c);
	if (oom)
		goto fail;
	hi = a->n_order;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cohort_cmp(a->order[mid], c) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(a->order + lo + 1, a->order + lo, (a->n_order - lo) * sizeof(*a->order));
	a->order[lo] = c;
	a->n_order++;
	return c;
fail:
	if (c) {
		free(c->hkey);
		free(c->key);
	}
	free(c);
	return NULL;
}

static void tally_add(tally *t, const member *m, int sign)
{
	t->n += sign;
	t->sum_held += (int64_t)sign * m->held;
	t->sum_need += (int64_t)sign * m->need;
	t->ben_n[m->benefit] += sign;
	switch (m->outcome) {
	case CD_MEMBER_MET:
		t->met += sign;
		t->ben_met[m->benefit] += sign;
		break;
	case CD_MEMBER_LAPSED:
		t->lapsed += sign;
		break;
	default:
		t->exempted += sign;
		break;
	}
}

/* A member joins or leaves c: an evaluated cohort is re-evaluated at the next advance (D43). */
static void touch(cohort *c, member *m, int sign)
{
	tally_add(&c->cur, m, sign);
	c->changed = true;
	if (sign > 0)
		DL_APPEND(c->list, m);
	else
		DL_DELETE(c->list, m);
	if (c->evaluated)
		c->dirty = true;
}

/* ---- members ------------------------------------------------------------------- */

int cd_agg_member(cd_aggregator *a, const cd_member *m, cd_err *err)
{
	const cd_aggdef *def;
	const char *key = m->key ? m->key : "";
	size_t lid = strnlen(m->member_id, sizeof(m->member_id));
	member *e = NULL;
	cohort *c;
	int oom = 0, need;

	if (lid == 0 || lid >= sizeof(m->member_id))
		return cd_err_set(err, 0, "member of '%.120s' has no member id", m->aggregate_id ? m->aggregate_id : "");
	HASH_FIND(hh, a->members, m->member_id, lid, e);
	if (m->outcome == CD_MEMBER_UNDECIDED) {
		if (!e)
			return 1;   /* not a member here: nothing changes */
		touch(e->c, e, -1);
		HASH_DEL(a->members, e);
		free(e);
		return 0;
	}
	if (m->outcome != CD_MEMBER_MET && m->outcome != CD_MEMBER_LAPSED && m->outcome != CD_MEMBER_EXEMPTED)
		return cd_err_set(err, 0, "member '%s' has unknown outcome %d", m->member_id, m->outcome);
	if (!m->aggregate_id || !(def = cd_rules_find_aggregate(a->rules, m->aggregate_id)))
		return cd_err_set(err, 0, "member '%s' names aggregate '%.120s', which no ruleset defines",
				  m->member_id, m->aggregate_id ? m->aggregate_id : "");
	if (m->key_kind != def->key)
		return cd_err_set(err, 0, "member '%s' of '%s' has key kind %d, not the aggregate's %d", m->member_id,
				  def->id, m->key_kind, def->key);
	if (strlen(key) > MAX_KEY_LEN)
		return cd_err_set(err, 0, "member '%s' of '%s' has a key longer than %d bytes", m->member_id, def->id,
				  MAX_KEY_LEN);
	if (m->due == CD_DATE_NONE)
		return cd_err_set(err, 0, "decided member '%s' of '%s' has no due date", m->member_id, def->id);
	if (m->benefit < 0 || m->benefit > CD_BENEFIT_MAX)
		return cd_err_set(err, 0, "member '%s' has unknown benefit %d", m->member_id, m->benefit);
	if (m->held < 0)
		return cd_err_set(err, 0, "member '%s' has held %d", m->member_id, m->held);
	if (m->need < 0 || m->need > 1000)
		return cd_err_set(err, 0, "member '%s' has need %d", m->member_id, m->need);
	need = m->need ? m->need : def->required;
	if (!(c = cohort_get(a, def, m->key_kind, key, m->due)))
		return cd_err_set(err, 1, "out of memory for the cohort of member '%s'", m->member_id);
	if (e && e->c == c && e->outcome == m->outcome && e->held == m->held && e->benefit == m->benefit &&
	    e->need == need)
		return 1;   /* a repeat (its as_of stays that of the first saying) */
	if (!e) {
		if (!(e = calloc(1, sizeof(*e))))
			return cd_err_set(err, 1, "out of memory for member '%s'", m->member_id);
		memcpy(e->id, m->member_id, lid);
		HASH_ADD(hh, a->members, id, lid, e);
		if (oom) {
			free(e);
			return cd_err_set(err, 1, "out of memory for member '%s'", m->member_id);
		}
	} else {
		touch(e->c, e, -1);
	}
	e->c = c;
	e->outcome = (uint8_t)m->outcome;
	e->benefit = (uint8_t)m->benefit;
	e->held = m->held;
	e->need = need;
	e->as_of = m->as_of;
	touch(c, e, +1);
	return 0;
}

/* ---- evaluation ---------------------------------------------------------------- */

/* required, held and whether t meets c's aggregate (rules.md §4.1). */
static bool judge(const cohort *c, const tally *t, int *required, int *held)
{
	if (c->def->kind == CD_AGG_AVERAGE) {
		/* Members may owe different counts (D21): the cohort owes their sum, and
		 * reports it as an average; with one n for all it is exactly 100 n. */
		*required = t->n ? (int)(100 * t->sum_need / t->n) : 100 * c->def->required;
		*held = t->n ? (int)(100 * t->sum_held / t->n) : 0;
		return t->sum_held >= t->sum_need;
	}
	*required = (int)(((int64_t)c->def->share_pct * t->n + 99) / 100);
	*held = t->met;
	return t->met >= *required;
}

static void event_id(const cohort *c, int status, char out[33])
{
	/* aggregate id NUL, key kind, key NUL, period start (4), transition (4), status (1); little-endian */
	uint8_t buf[CD_MAX_OBLIGATION_ID_LEN + MAX_KEY_LEN + 32];
	size_t n = cohort_key(c->def->id, c->key_kind, c->key, c->ps, (char *)buf);
	XXH128_hash_t h;

	for (int i = 0; i < 4; i++)
		buf[n++] = (uint8_t)(c->transitions >> (8 * i));
	buf[n++] = (uint8_t)status;
	h = XXH3_128bits(buf, n);
	for (int i = 0; i < 16; i++) {
		static const char hex[] = "0123456789abcdef";
		out[i] = hex[(h.high64 >> (60 - 4 * i)) & 15];
		out[16 + i] = hex[(h.low64 >> (60 - 4 * i)) & 15];
	}
	out[32] = '\0';
}

/* "4.25" from hundredths. */
static const char *hundredths(int v, char *buf, size_t len)
{
	snprintf(buf, len, "%d.%02d", v / 100, v % 100);
	return buf;
}

/* The one line for people; `was` is the retracted status for RETRACTED. */
static void explain(cd_aggregator *a, const cohort *c, const cd_agg_output *o, int was)
{
	char ps[CD_DATE_STRLEN], pe[CD_DATE_STRLEN], st[32], h1[24], h2[24];
	const char *who = c->key_kind == CD_AGG_KEY_AKASSE ? "a-kasse" : "municipality";
	bool warning = o->status == CD_AGG_WARNING;
	int n;

	if (o->status == CD_AGG_RETRACTED)
		snprintf(st, sizeof(st), "RETRACTED (was %s)", cd_agg_status_name(was));
	else
		snprintf(st, sizeof(st), "%s", cd_agg_status_name(o->status));
	n = snprintf(a->explain, sizeof(a->explain), "%s for %s %s, %s \xe2\x80\xa6 %s: %s, ", c->def->id, who, c->key,
		     cd_date_format(c->ps, ps), cd_date_format(c->pe, pe), st);
	if (n < 0 || (size_t)n >= sizeof(a->explain))
		return;
	if (c->def->kind == CD_AGG_AVERAGE)
		snprintf(a->explain + n, sizeof(a->explain) - (size_t)n,
			 "%s conversations on average over %d %s members (%s required); %d met, %d exempted, %d lapsed",
			 hundredths(o->held, h1, sizeof(h1)), o->members, warning ? "decided so far" : "decided",
			 hundredths(o->required, h2, sizeof(h2)), o->met, o->exempted, o->lapsed);
	else
		snprintf(a->explain + n, sizeof(a->explain) - (size_t)n,
			 "%d of %d %s met (%d required, %d %%); %d exempted, %d lapsed", o->met, o->members,
			 warning ? "members decided so far" : "decided members", o->required, c->def->share_pct,
			 o->exempted, o->lapsed);
}

static int emit(cd_aggregator *a, cohort *c, int status, const tally *t, int required, int held, int was,
		cd_instant at, cd_agg_fn fn, void *ctx, cd_err *err)
{
	cd_agg_output o;
	size_t nb = 0;

	memset(&o, 0, sizeof(o));
	event_id(c, status, o.event_id);
	c->transitions++;
	o.aggregate_id = c->def->id;
	o.key_kind = c->key_kind;
	o.key = c->key;
	o.period_start = c->ps;
	o.period_end = c->pe;
	o.status = status;
	o.kind = c->def->kind;
	o.members = t->n;
	o.met = t->met;
	o.lapsed = t->lapsed;
	o.exempted = t->exempted;
	o.required = required;
	o.held = held;
	for (int b = 0; b < NB; b++)
		if (t->ben_n[b]) {
			a->ben[nb].benefit = b;
			a->ben[nb].members = t->ben_n[b];
			a->ben[nb].met = t->ben_met[b];
			nb++;
		}
	o.by_benefit = a->ben;
	o.n_by_benefit = nb;
	o.severity = c->def->severity;
	o.legal_ref = c->def->legal_ref;
	o.detected_at = at;
	explain(a, c, &o, was);
	o.explanation = a->explain;
	if (fn && fn(ctx, &o) != 0)
		return cd_err_set(err, 0, "aggregate output of '%s' for '%s' was refused", c->def->id, c->key);
	return 0;
}

/* The first evaluation (scheduled or late): MET or BREACHED, unless no member is decided yet. */
static int evaluate(cd_aggregator *a, cohort *c, cd_instant at, cd_agg_fn fn, void *ctx, cd_err *err)
{
	int required, held, status;

	if (c->cur.n == 0)
		return 0;   /* evaluated when it gets a member (D44) */
	status = judge(c, &c->cur, &required, &held) ? CD_AGG_MET : CD_AGG_BREACHED;
	c->evaluated = true;
	c->dirty = false;
	c->changed = true;
	c->last = c->cur;
	c->last_status = status;
	c->last_required = required;
	c->last_held = held;
	return emit(a, c, status, &c->cur, required, held, 0, at, fn, ctx, err);
}

static int reevaluate(cd_aggregator *a, cohort *c, cd_instant at, cd_agg_fn fn, void *ctx, cd_err *err)
{
	int required, held, status;
	tally was;
	int was_status, was_required, was_held;

	c->dirty = false;
	c->changed = true;
	was = c->last;
	was_status = c->last_status;
	was_required = c->last_required;
	was_held = c->last_held;
	if (c->cur.n == 0) {
		/* every member left (late cancellations): what was said no longer stands, and
		 * nothing is owed; members that come back are evaluated anew (D45) */
		if (!was_status)
			return 0;
		memset(&c->last, 0, sizeof(c->last));
		c->last_status = c->last_required = c->last_held = 0;
		return emit(a, c, CD_AGG_RETRACTED, &was, was_required, was_held, was_status, at, fn, ctx, err);
	}
	status = judge(c, &c->cur, &required, &held) ? CD_AGG_MET : CD_AGG_BREACHED;
	if (status == c->last_status && required == c->last_required && held == c->last_held)
		return 0;
	c->last = c->cur;
	c->last_status = status;
	c->last_required = required;
	c->last_held = held;
	if (was_status && status != was_status &&
	    emit(a, c, CD_AGG_RETRACTED, &was, was_required, was_held, was_status, at, fn, ctx, err) < 0)
		return -1;
	return emit(a, c, status, &c->cur, required, held, 0, at, fn, ctx, err);
}

/*
 * The WARNING counts the members decided at or before its instant (D46): a
 * member the engine said later (as_of after it) was not decided then, even
 * when a coarse tick fed it before the aggregate clock reached the instant.
 */
static int warn(cd_aggregator *a, cohort *c, cd_instant at, cd_agg_fn fn, void *ctx, cd_err *err)
{
	int required, held;
	tally t;
	const member *m;

	c->warned = true;
	c->changed = true;
	memset(&t, 0, sizeof(t));
	DL_FOREACH(c->list, m)
		if (m->as_of <= at)
			tally_add(&t, m, +1);
	if (t.n == 0 || judge(c, &t, &required, &held))
		return 0;
	return emit(a, c, CD_AGG_WARNING, &t, required, held, 0, at, fn, ctx, err);
}

cd_instant cd_agg_next(const cd_aggregator *a)
{
	cd_instant best = CD_INSTANT_NONE;
	for (size_t i = 0; i < a->n_order; i++) {
		const cohort *c = a->order[i];
		cd_instant x[2] = { c->warned ? CD_INSTANT_NONE : c->warn_at, c->eval_at };
		if (c->evaluated)
			continue;
		for (int k = 0; k < 2; k++)
			if (x[k] != CD_INSTANT_NONE && (a->now == CD_INSTANT_NONE || x[k] > a->now) &&
			    (best == CD_INSTANT_NONE || x[k] < best))
				best = x[k];
	}
	return best;
}

static int act_cmp(const void *x, const void *y)
{
	const action *p = x, *q = y;
	if (p->at != q->at)
		return p->at < q->at ? -1 : 1;
	if (p->rank != q->rank)
		return p->rank < q->rank ? -1 : 1;
	return (p->type > q->type) - (p->type < q->type);
}

static int push(cd_aggregator *a, size_t *n, cd_instant at, size_t rank, int type, cohort *c)
{
	if (*n == a->cap_acts) {
		size_t cap = a->cap_acts ? 2 * a->cap_acts : 64;
		action *p = realloc(a->acts, cap * sizeof(*p));
		if (!p)
			return -1;
		a->acts = p;
		a->cap_acts = cap;
	}
	a->acts[(*n)++] = (action){ at, rank, type, c };
	return 0;
}

int cd_agg_advance(cd_aggregator *a, cd_instant t, cd_agg_fn fn, void *ctx, cd_err *err)
{
	cd_instant prev = a->now, to = (prev == CD_INSTANT_NONE || t > prev) ? t : prev;
	size_t n = 0;

#define PASSES(x) ((x) != CD_INSTANT_NONE && (x) <= to && (prev == CD_INSTANT_NONE || (x) > prev))
	for (size_t i = 0; i < a->n_order; i++) {
		cohort *c = a->order[i];
		int rc = 0;
		if (c->evaluated) {
			if (c->dirty)
				rc = push(a, &n, to, i, ACT_LATE, c);
		} else {
			if (!c->warned && PASSES(c->warn_at))
				rc = push(a, &n, c->warn_at, i, ACT_WARN, c);
			if (rc == 0 && PASSES(c->eval_at))
				rc = push(a, &n, c->eval_at, i, ACT_EVAL, c);
			else if (rc == 0 && c->eval_at <= prev && prev != CD_INSTANT_NONE && c->cur.n > 0)
				rc = push(a, &n, to, i, ACT_LATE, c);
		}
		if (rc < 0)
			return cd_err_set(err, 1, "out of memory advancing the aggregate clock");
	}
#undef PASSES
	if (n > 1)
		qsort(a->acts, n, sizeof(*a->acts), act_cmp);
	a->now = to;
	for (size_t i = 0; i < n; i++) {
		const action *x = &a->acts[i];
		int rc;
		if (x->type == ACT_WARN)
			rc = warn(a, x->c, x->at, fn, ctx, err);
		else if (x->c->evaluated)
			rc = reevaluate(a, x->c, x->at, fn, ctx, err);
		else
			rc = evaluate(a, x->c, x->at, fn, ctx, err);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ---- persistence --------------------------------------------------------------- */

/*
 * A cohort's saved state, version 1: u8 1, then varints (dates and signed
 * numbers zigzagged): aggregate id and key (length, bytes), key kind, period
 * start, flags (1 evaluated, 2 warned, 4 dirty), transitions, the last
 * evaluation's tally (n, met, lapsed, exempted, sum_held, sum_need, then
 * n and met per benefit), its status, required and held. The current tally
 * is not saved: it is the members', restored before.
 */
#define STATE_VERSION 1

static uint64_t zz(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzz(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static int put_str(cd_buf *b, const char *s)
{
	size_t n = strlen(s);
	return cd_buf_put_varint(b, n) < 0 || cd_buf_append(b, s, n) < 0 ? -1 : 0;
}

static int cohort_encode(const cohort *c, cd_buf *b)
{
	const tally *t = &c->last;
	uint64_t v[] = { (uint64_t)c->key_kind, zz(c->ps),
			 (uint64_t)(c->evaluated | c->warned << 1 | c->dirty << 2), c->transitions,
			 zz(t->n), zz(t->met), zz(t->lapsed), zz(t->exempted), zz(t->sum_held), zz(t->sum_need) };
	uint8_t ver = STATE_VERSION;

	cd_buf_reset(b);
	if (cd_buf_append(b, &ver, 1) < 0 || put_str(b, c->def->id) < 0 || put_str(b, c->key) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (cd_buf_put_varint(b, v[i]) < 0)
			return -1;
	for (int i = 0; i < NB; i++)
		if (cd_buf_put_varint(b, zz(t->ben_n[i])) < 0 || cd_buf_put_varint(b, zz(t->ben_met[i])) < 0)
			return -1;
	return cd_buf_put_varint(b, zz(c->last_status)) < 0 || cd_buf_put_varint(b, zz(c->last_required)) < 0 ||
	       cd_buf_put_varint(b, zz(c->last_held)) < 0 ? -1 : 0;
}

int cd_agg_changed_cohorts(cd_aggregator *a, cd_agg_state_fn fn, void *ctx, cd_err *err)
{
	cd_buf b;
	int rc = 0;

	cd_buf_init(&b, 1 << 16);
	for (size_t i = 0; i < a->n_order && rc == 0; i++) {
		cohort *c = a->order[i];
		if (!c->changed)
			continue;
		if (cohort_encode(c, &b) < 0)
			rc = cd_err_set(err, 1, "out of memory saving a cohort");
		else if (fn(ctx, c->hkey, (size_t)c->hh.keylen, b.data, b.len) != 0)
			rc = cd_err_set(err, 0, "saving the cohort of '%s' for '%s' failed", c->def->id, c->key);
		else
			c->changed = false;
	}
	cd_buf_release(&b);
	return rc;
}

static int get_str(const uint8_t **p, const uint8_t *end, char *out, size_t cap)
{
	uint64_t n;
	if (cd_varint_get(p, end, &n) < 0 || n >= cap || n > (uint64_t)(end - *p))
		return -1;
	memcpy(out, *p, n);
	out[n] = '\0';
	*p += n;
	return 0;
}

int cd_agg_restore_cohort(cd_aggregator *a, const void *state, size_t n, cd_err *err)
{
	const uint8_t *p = state, *end = p + n;
	char id[CD_MAX_OBLIGATION_ID_LEN + 1], key[MAX_KEY_LEN + 1];
	uint64_t v[10 + 2 * NB + 3];
	const cd_aggdef *def;
	cohort *c;

	if (n < 1 || *p++ != STATE_VERSION || get_str(&p, end, id, sizeof(id)) < 0 ||
	    get_str(&p, end, key, sizeof(key)) < 0)
		return cd_err_set(err, 0, "saved cohort state is corrupt (version or names)");
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (cd_varint_get(&p, end, &v[i]) < 0)
			return cd_err_set(err, 0, "saved cohort state of '%s' for '%s' is cut short", id, key);
	if (p != end)
		return cd_err_set(err, 0, "saved cohort state of '%s' for '%s' has bytes after its end", id, key);
	if (!(def = cd_rules_find_aggregate(a->rules, id)))
		return cd_err_set(err, 0, "saved cohort names aggregate '%s', which no ruleset defines", id);
	if (v[0] != def->key)
		return cd_err_set(err, 0, "saved cohort of '%s' has key kind %d, not the aggregate's", id, (int)v[0]);
	if (!(c = cohort_get(a, def, (int)v[0], key, (cd_date)unzz(v[1]))))
		return cd_err_set(err, 1, "out of memory restoring a cohort");
	if (c->ps != (cd_date)unzz(v[1]))
		return cd_err_set(err, 0, "saved cohort of '%s' for '%s' starts on no reporting period's first day", id, key);
	c->evaluated = v[2] & 1;
	c->warned = (v[2] & 2) != 0;
	c->dirty = (v[2] & 4) != 0;
	c->transitions = (uint32_t)v[3];
	c->last.n = (int)unzz(v[4]);
	c->last.met = (int)unzz(v[5]);
	c->last.lapsed = (int)unzz(v[6]);
	c->last.exempted = (int)unzz(v[7]);
	c->last.sum_held = unzz(v[8]);
	c->last.sum_need = unzz(v[9]);
	for (int i = 0; i < NB; i++) {
		c->last.ben_n[i] = (int)unzz(v[10 + 2 * i]);
		c->last.ben_met[i] = (int)unzz(v[11 + 2 * i]);
	}
	c->last_status = (int)unzz(v[10 + 2 * NB]);
	c->last_required = (int)unzz(v[11 + 2 * NB]);
	c->last_held = (int)unzz(v[12 + 2 * NB]);
	c->changed = false;
	return 0;
}

void cd_agg_restore_clock(cd_aggregator *a, cd_instant now)
{
	a->now = now;
}

void cd_agg_forget_changes(cd_aggregator *a)
{
	for (size_t i = 0; i < a->n_order; i++)
		a->order[i]->changed = false;
}

void cd_agg_each_cohort(const cd_aggregator *a, void (*fn)(void *ctx, const cd_agg_cohort *c), void *ctx)
{
	for (size_t i = 0; i < a->n_order; i++) {
		const cohort *c = a->order[i];
		cd_agg_cohort v;
		memset(&v, 0, sizeof(v));
		v.def = c->def;
		v.key_kind = c->key_kind;
		v.key = c->key;
		v.period_start = c->ps;
		v.period_end = c->pe;
		v.warn_at = c->warn_at;
		v.eval_at = c->eval_at;
		v.members = c->cur.n;
		v.met = c->cur.met;
		v.lapsed = c->cur.lapsed;
		v.exempted = c->cur.exempted;
		v.sum_held = c->cur.sum_held;
		v.sum_need = c->cur.sum_need;
		v.meets = judge(c, &c->cur, &v.required, &v.held);
		v.evaluated = c->evaluated;
		v.last_status = c->evaluated ? c->last_status : 0;
		fn(ctx, &v);
	}
}
