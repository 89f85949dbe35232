/*
 * engine.c — periods, clocks, obligations, and the outputs that say what changed.
 *
 * Design. Every evaluation starts from the citizen's whole ordered history:
 *
 *   history ──derive_periods──▶ periods (start, end, registered intervals,
 *                                opt-out and seasonal flags)
 *           ──live_conversations──▶ conversations that count (voids applied)
 *   periods × rulesets ──eval_*──▶ obligation instances at clock t, each with a
 *                                status, window, due date, held count, and the
 *                                instants at which it would change by itself
 *                                (breach, warning, opening)
 *   instances × emitted states ──diff──▶ outputs
 *
 * Nothing is incremental, so there is no incremental state to get wrong: late
 * and out-of-order inputs simply re-sort the history. The cost is a pass over
 * one citizen's history per input (tens of entries), which is what makes the
 * benchmark's numbers. That pass must stay linear in the history, because a
 * busy citizen's history is long (--max-events): conversation ids go through
 * a hash table, each obligation scans only the stretch of the date-ordered
 * conversations its window and period allow (cv_range), long stretches are
 * counted from per-filter lists (qlist), emitted states are found through an
 * index, and the cumulative clock is searched, not walked. Nothing in one
 * evaluation loops over the history inside a loop over periods or instances.
 *
 * Invariants. The clock only moves forward. The set of instances at t is a
 * function of (history, t), and grows with t. An emitted state exists for every
 * instance ever reported, and its `transitions` counts the outputs sent for it,
 * which numbers the output event ids (D27). A BREACHED state changes only by a
 * RETRACTED output (docs/spec/rules.md §6; D24).
 *
 * Scratch memory (periods, conversations, instances) belongs to the engine and
 * is reused across calls; nothing here allocates per input once warm.
 */
#include "state/engine.h"

#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "util/sb.h"

#define CUM_BEFORE (INT32_MIN + 1)  /* a cumulative count reached before the first registration */
#define T_MIN (INT64_MIN + 1)       /* the clock before a citizen's first input */
#define MAX_REPEATS 200             /* repeating windows and gaps per obligation */
#define MAX_COUNTED_LIST 256

_Static_assert(CD_CANCEL_SUPERSEDED == CD_OB_REASON_MAX, "citizen records check cancel reasons against this");

typedef struct conv {
	int ev;                  /* index in the history */
	cd_date date;
	uint8_t form, held_by;
	bool joint;              /* akasse_participated */
	uint32_t id_off;
} conv;

/* One conversation_id of the history: its last version, and whether a void withdraws it. */
typedef struct cslot {
	uint64_t h;
	uint32_t off;            /* the id, in the citizen's arena */
	int last;                /* history index of its last version that is not a void; -1: none */
	bool voided;
} cslot;

/*
 * The conversations that pass one filter (held_by, forms, joint), in history
 * order, as indices in e->cv: listed the first time an evaluation scans a
 * long range with that filter, and kept for the rest of it. When many
 * periods lie within days of each other, every window spans most of the
 * history; with the list a window costs two binary searches and what it
 * records, not a pass over the window.
 */
#define QLISTS 32                /* filters listed per evaluation; others are scanned */
#define QLIST_MIN 32             /* a shorter range is scanned */

typedef struct qlist {
	uint32_t key;            /* held_by | forms << 8 | joint << 16 */
	uint32_t *ix;
	size_t n, cap;
} qlist;

typedef struct ival {
	cd_date from, to;        /* registered [from, to); to == CD_DATE_NONE: still registered */
	int64_t before;          /* days in the period's earlier intervals (index_intervals) */
} ival;

typedef struct period {
	int start_ev;
	int end_ev;              /* -1 while the period runs */
	cd_date start;           /* A */
	cd_date first_contact;
	cd_date end_date;
	uint8_t end_reason;
	uint8_t benefit, category;
	bool by_registration;
	char muni[CD_MUNI_LEN + 1];
	uint64_t pkey;
	/* DAGPENGE: the cumulative clock */
	int prior;
	size_t iv0, n_iv;
	bool iv_ordered;         /* intervals follow each other, only the last runs: searchable */
	cd_date first_reg;
	/* flags (D6) */
	bool optout_start, optout_now, seasonal;
	cd_date optin;           /* first date joint obligations apply; NONE: never */
	cd_date optout;          /* a later opt-out; NONE: none */
	int optout_ev;
} period;

typedef struct inst {
	const cd_obdef *def;     /* what is reported (a mirror reports the overlay's definition) */
	const cd_obdef *rule;    /* what is computed */
	const cd_ruleset *rs;
	const period *p;
	int k;                   /* instance suffix; 0: none */
	uint8_t status;          /* enum cd_obstatus */
	uint8_t reason;
	cd_date ws, we, due;
	int req, held;
	size_t cnt0, n_cnt;      /* the first MAX_COUNTED_LIST counted: e->counted[cnt0 .. cnt0+n_cnt) */
	cd_instant opened_at;    /* CD_INSTANT_NONE: exists as soon as the facts are known */
	cd_instant breach_at, warn_lead_at, warn_pace_at;
	int met_conv;            /* conv index that met it (MAX_GAP anchors), -1 */
	char oid[CD_MAX_OBLIGATION_ID_LEN + 1];
} inst;

/* Where an obligation's period (or, for joint obligations, its opt-in) ends. */
typedef struct endinfo {
	int ev;                  /* -1: not ended */
	cd_date date;
	uint8_t reason;
} endinfo;

struct cd_engine {
	const cd_rules *rules;
	cd_engine_config cfg;
	/* scratch, reused */
	period *per;
	size_t n_per, cap_per;
	ival *iv;
	size_t n_iv, cap_iv;
	conv *cv;
	size_t n_cv, cap_cv;
	inst *in;
	size_t n_in, cap_in;
	int *counted;
	size_t n_counted, cap_counted;
	uint32_t *taken_nat, *taken_cur;  /* a conversation is taken when its stamp is the context's */
	size_t cap_taken;
	uint32_t gen;            /* the last stamp handed out */
	cslot *cs;               /* the conversation ids of the history (live_conversations) */
	size_t cap_cs;
	uint32_t *cs_tab;        /* hash table over cs: index + 1, 0 empty */
	size_t cap_cs_tab;
	uint32_t *cs_of;         /* per history entry: its id's index in cs + 1, 0 when not a conversation */
	size_t cap_cs_of;
	bool cv_sorted;          /* e->cv is in date order (always, unless a record was tampered with) */
	qlist ql[QLISTS];        /* conversations by filter, this evaluation (qlist_get) */
	size_t n_ql;
	struct { uint32_t stamp, ix; } *tk;   /* conversations taken in this period, by stamp */
	size_t n_tk, cap_tk;
	uint64_t *st;            /* emitted states by (period, obligation id): see index_states */
	size_t n_st, cap_st;     /* slots in use (a power of two), allocated */
	const char *cnt_ptrs[MAX_COUNTED_LIST];
	char explain[512];
	/* the evaluation in progress */
	cd_instant t;
	cd_instant next_fire;
	const cd_citizen *c;
};

/* ---- small helpers -------------------------------------------------------- */


#define GROW(arr, n, cap, want) cd_array_grow((void **)&(arr), &(cap), (want), sizeof(*(arr)))

static void oom(void)
{
	/* Scratch growth is bounded by the configured history limits; running out
	 * of memory there leaves no sane way on. */
	fprintf(stderr, "contactd: out of memory in the rules engine\n");
	abort();
}

static void fire_at(cd_engine *e, cd_instant when)
{
	if (when != CD_INSTANT_NONE && when > e->t && (e->next_fire == CD_INSTANT_NONE || when < e->next_fire))
		e->next_fire = when;
}

void cd_engine_config_default(cd_engine_config *cfg)
{
	cfg->grace_days = 0;
	cfg->warn_lead_days = 7;
	cfg->max_events = 2000;
	cfg->max_obligations = 1000;
}

cd_engine *cd_engine_new(const cd_rules *rules, const cd_engine_config *cfg)
{
	cd_engine *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->rules = rules;
	if (cfg)
		e->cfg = *cfg;
	else
		cd_engine_config_default(&e->cfg);
	return e;
}

void cd_engine_free(cd_engine *e)
{
	if (!e)
		return;
	free(e->per);
	free(e->iv);
	free(e->cv);
	free(e->in);
	free(e->counted);
	free(e->taken_nat);
	free(e->taken_cur);
	for (size_t i = 0; i < QLISTS; i++)
		free(e->ql[i].ix);
	free(e->tk);
	free(e->cs);
	free(e->cs_tab);
	free(e->cs_of);
	free(e->st);
	free(e);
}

/* ---- periods (docs/spec/rules.md §3.3) ---------------------------------------------- */

static period *period_new(cd_engine *e, const cd_citizen *c, int i)
{
	const cd_hev *h = &c->ev[i];
	const char *id = cd_citizen_str(c, h->id_off);
	period *p;
	if (GROW(e->per, e->n_per, e->cap_per, e->n_per + 1) < 0)
		oom();
	p = &e->per[e->n_per++];
	memset(p, 0, sizeof(*p));
	p->start_ev = i;
	p->end_ev = -1;
	p->end_date = CD_DATE_NONE;
	p->first_contact = h->first_contact != CD_DATE_NONE ? h->first_contact : h->date;
	p->category = h->category;
	p->benefit = h->benefit;
	memcpy(p->muni, h->muni, sizeof(p->muni));
	p->pkey = XXH3_64bits(id, strlen(id));
	p->optin = p->optout = CD_DATE_NONE;
	p->optout_ev = -1;
	p->iv0 = e->n_iv;
	p->first_reg = h->date;
	return p;
}

static void period_start_dagpenge(cd_engine *e, period *p, const cd_hev *h)
{
	p->start = h->dp_start != CD_DATE_NONE ? h->dp_start : h->date;
	if (h->kind == CD_EV_REGISTRATION)
		p->prior = h->prior_days;
	if (GROW(e->iv, e->n_iv, e->cap_iv, e->n_iv + 1) < 0)
		oom();
	e->iv[e->n_iv++] = (ival){ h->date, CD_DATE_NONE, 0 };
	p->n_iv = 1;
	p->optout_start = p->optout_now = (h->flags & CD_HF_OPT_OUT) != 0;
	p->seasonal = (h->flags & CD_HF_SEASONAL) != 0;
	if (!p->optout_start)
		p->optin = p->start;
}

static void interval_close(cd_engine *e, period *p, cd_date d)
{
	if (p->n_iv && e->iv[p->iv0 + p->n_iv - 1].to == CD_DATE_NONE) {
		ival *v = &e->iv[p->iv0 + p->n_iv - 1];
		v->to = d > v->from ? d : v->from;
	}
}

static void period_end(cd_engine *e, period *p, int i, cd_date d, uint8_t reason)
{
	if (!p || p->end_ev >= 0)
		return;
	p->end_ev = i;
	p->end_date = d;
	p->end_reason = reason;
	interval_close(e, p, d);
}

static void period_resume(cd_engine *e, period *p, const cd_hev *h, int i)
{
	bool opt = (h->flags & CD_HF_OPT_OUT) != 0;
	/* Intervals of one dagpenge period are contiguous in e->iv: only one runs at a time. */
	if (GROW(e->iv, e->n_iv, e->cap_iv, e->n_iv + 1) < 0)
		oom();
	assert(p->iv0 + p->n_iv == e->n_iv);
	e->iv[e->n_iv++] = (ival){ h->date, CD_DATE_NONE, 0 };
	p->n_iv++;
	p->seasonal = (h->flags & CD_HF_SEASONAL) != 0;
	if (p->optout_now && !opt && p->optin == CD_DATE_NONE)
		p->optin = h->date;
	if (!p->optout_now && opt && p->optin != CD_DATE_NONE && p->optout == CD_DATE_NONE) {
		p->optout = h->date;
		p->optout_ev = i;
	}
	p->optout_now = opt;
}

static void derive_periods(cd_engine *e, const cd_citizen *c)
{
	int cur = -1, paused = -1;  /* indices into e->per */

	e->n_per = 0;
	e->n_iv = 0;
	for (size_t i = 0; i < c->n_ev; i++) {
		const cd_hev *h = &c->ev[i];
		period *pc = cur >= 0 ? &e->per[cur] : NULL;
		period *pp = paused >= 0 ? &e->per[paused] : NULL;
		period *np;
		uint8_t prev_cat = pc ? pc->category : pp ? pp->category : CD_CATEGORY_NONE;

		switch (h->kind) {
		case CD_EV_REGISTRATION:
			if (h->benefit == CD_DAGPENGE) {
				cd_date dps = h->dp_start != CD_DATE_NONE ? h->dp_start : h->date;
				period *dp = pc && pc->benefit == CD_DAGPENGE ? pc : pp;
				if (dp && dp->start == dps) {
					if (dp == pp) {          /* resume (docs/spec/rules.md §3.3) */
						period_resume(e, pp, h, (int)i);
						cur = paused;
						paused = -1;
					}
					continue;                /* already registered (D1) */
				}
				period_end(e, pc, (int)i, h->date,
					   pc && pc->benefit == CD_DAGPENGE ? CD_CANCEL_PERIOD_ENDED : CD_CANCEL_BENEFIT_SHIFT);
				period_end(e, pp, (int)i, h->date, CD_CANCEL_PERIOD_ENDED);   /* D2 */
				np = period_new(e, c, (int)i);
				np->by_registration = true;
				period_start_dagpenge(e, np, h);
			} else {
				if (pc && pc->benefit == h->benefit)
					continue;                /* D1 */
				period_end(e, pc, (int)i, h->date, CD_CANCEL_BENEFIT_SHIFT);
				period_end(e, pp, (int)i, h->date, CD_CANCEL_BENEFIT_SHIFT);
				np = period_new(e, c, (int)i);
				np->by_registration = true;
				np->start = h->benefit == CD_SYGEDAGPENGE && h->first_absence != CD_DATE_NONE
						    ? h->first_absence : h->date;
			}
			cur = (int)(np - e->per);
			paused = -1;
			break;

		case CD_EV_DEREGISTRATION:
			if (pc && pc->benefit == CD_DAGPENGE && !(h->flags & CD_HF_ENDS_DP)) {
				interval_close(e, pc, h->date);
				paused = cur;
				cur = -1;
			} else if (pc) {
				period_end(e, pc, (int)i, h->date, pc->benefit == CD_DAGPENGE
							       ? CD_CANCEL_PERIOD_ENDED : CD_CANCEL_DEREGISTERED);
				cur = -1;
			} else if (pp && (h->flags & CD_HF_ENDS_DP)) {
				period_end(e, pp, (int)i, h->date, CD_CANCEL_PERIOD_ENDED);
				paused = -1;
			}
			break;

		case CD_EV_BENEFIT_CHANGE: {
			int curb = pc ? pc->benefit : pp ? CD_DAGPENGE : CD_BENEFIT_NONE;
			if (h->benefit == CD_BENEFIT_NONE || h->benefit == curb)
				continue;                        /* a category change */
			period_end(e, pc, (int)i, h->date, CD_CANCEL_BENEFIT_SHIFT);
			period_end(e, pp, (int)i, h->date, CD_CANCEL_BENEFIT_SHIFT);
			np = period_new(e, c, (int)i);
			np->category = h->category ? h->category : prev_cat;      /* D4 */
			np->first_contact = h->date;
			if (h->benefit == CD_DAGPENGE)
				period_start_dagpenge(e, np, h);
			else
				np->start = h->benefit == CD_SYGEDAGPENGE && h->first_absence != CD_DATE_NONE
						    ? h->first_absence : h->date;
			cur = (int)(np - e->per);
			paused = -1;
			break;
		}
		default:
			break;
		}
	}
}

/* ---- the cumulative clock (docs/spec/rules.md §3.2, D8) ----------------------------- */

/*
 * A dagpenge period that pauses and resumes often has many intervals, and
 * the cumulative clock is asked about them for every obligation instance:
 * with each interval's running total, those questions are binary searches.
 * The plain walks remain for intervals out of order (only a record written
 * by something else could hold them).
 */
static void index_intervals(cd_engine *e)
{
	for (size_t pi = 0; pi < e->n_per; pi++) {
		period *p = &e->per[pi];
		int64_t sum = 0;
		p->iv_ordered = true;
		for (size_t i = 0; i < p->n_iv; i++) {
			ival *v = &e->iv[p->iv0 + i];
			v->before = sum;
			if (v->to == CD_DATE_NONE) {
				p->iv_ordered &= i + 1 == p->n_iv;
				continue;
			}
			p->iv_ordered &= v->to >= v->from && (i == 0 || v->from >= e->iv[p->iv0 + i - 1].to);
			sum += (int64_t)v->to - v->from;
		}
	}
}

/* The date on which the count reaches L: CUM_BEFORE, a date, or NONE (not while off the register). */
static cd_date cum_date(const cd_engine *e, const period *p, int L)
{
	int64_t rem = (int64_t)L - p->prior;
	if (rem <= 0)
		return CUM_BEFORE;
	if (p->iv_ordered) {
		/* the first interval whose end reaches rem */
		const ival *iv = &e->iv[p->iv0];
		size_t a = 0, b = p->n_iv;
		while (a < b) {
			size_t m = a + (b - a) / 2;
			if (iv[m].to != CD_DATE_NONE && iv[m].before + ((int64_t)iv[m].to - iv[m].from) < rem)
				a = m + 1;
			else
				b = m;
		}
		return a < p->n_iv ? (cd_date)(iv[a].from + (rem - iv[a].before) - 1) : CD_DATE_NONE;
	}
	for (size_t i = 0; i < p->n_iv; i++) {
		const ival *v = &e->iv[p->iv0 + i];
		int64_t len = v->to == CD_DATE_NONE ? INT64_MAX : (int64_t)v->to - v->from;
		if (rem <= len)
			return (cd_date)(v->from + rem - 1);
		rem -= len;
	}
	return CD_DATE_NONE;
}

/* c(d - 1): days counted strictly before d. */
static int cum_before(const cd_engine *e, const period *p, cd_date d)
{
	int n = p->prior;
	if (p->iv_ordered) {
		/* intervals before the last one that starts before d end by d */
		const ival *iv = &e->iv[p->iv0];
		size_t a = 0, b = p->n_iv;
		cd_date to;
		while (a < b) {
			size_t m = a + (b - a) / 2;
			if (iv[m].from < d)
				a = m + 1;
			else
				b = m;
		}
		if (!a)
			return n;
		to = iv[a - 1].to == CD_DATE_NONE || iv[a - 1].to > d ? d : iv[a - 1].to;
		n += (int)iv[a - 1].before;
		if (to > iv[a - 1].from)
			n += to - iv[a - 1].from;
		return n;
	}
	for (size_t i = 0; i < p->n_iv; i++) {
		const ival *v = &e->iv[p->iv0 + i];
		cd_date to = v->to == CD_DATE_NONE || v->to > d ? d : v->to;
		if (to > v->from)
			n += to - v->from;
	}
	return n;
}

/* Due date of a duration L measured from anchor date P (D8): NONE while paused. */
static cd_date due_from(const cd_engine *e, const period *p, bool cum, cd_date P, int L)
{
	cd_date d;
	if (!cum)
		return P + L;
	d = cum_date(e, p, cum_before(e, p, P) + 1 + L);
	return d == CUM_BEFORE ? P + L : d;
}

typedef struct win {
	cd_date ws, we;
	bool paused;             /* a bound is not known while off the register */
	bool skip;               /* the window ended before the first registration seen */
} win;

static win window_of(const cd_engine *e, const period *p, const cd_obdef *d)
{
	win w = { CD_DATE_NONE, CD_DATE_NONE, false, false };
	cd_date a = d->anchor_first_contact ? p->first_contact : p->start;
	int lto, lfrom;

	if (!cd_obdef_cumulative(d, p->benefit)) {
		w.ws = d->from.n ? a + cd_span_length(d->from, a) : a;
		w.we = d->to.n ? a + cd_span_length(d->to, a) - 1 : CD_DATE_NONE;
		return w;
	}
	lto = d->to.n ? cd_span_length(d->to, p->start) : 0;
	if (lto && lto <= p->prior) {
		w.skip = true;
		return w;
	}
	w.ws = p->start;                                     /* D12 */
	if (d->from.n) {
		cd_date f;
		lfrom = cd_span_length(d->from, p->start);
		f = cum_date(e, p, lfrom);
		if (f == CUM_BEFORE)
			w.ws = p->first_reg;                 /* D8 */
		else if (f == CD_DATE_NONE) {
			w.ws = CD_DATE_NONE;
			w.paused = true;
		} else
			w.ws = f + 1;
	}
	if (lto) {
		cd_date t = cum_date(e, p, lto);
		if (t == CD_DATE_NONE)
			w.paused = true;
		else
			w.we = t;
	}
	return w;
}

/* ---- conversations -------------------------------------------------------- */

/*
 * The conversations that count: not withdrawn by a void with the same
 * conversation_id (whatever the order, docs/spec/rules.md §3.4); a conversation_id seen
 * twice counts once, as its last version in history order, at that version's
 * place. One pass files every id in a hash table (its last version, whether a
 * void names it), a second keeps the versions that are last and not voided:
 * linear in the history, however many versions and voids it holds.
 */
static void live_conversations(cd_engine *e, const cd_citizen *c)
{
	size_t n_conv = 0, n_ids = 0, mask;

	e->n_cv = 0;
	for (size_t i = 0; i < c->n_ev; i++)
		n_conv += c->ev[i].kind == CD_EV_CONVERSATION;
	if (!n_conv)
		return;
	mask = 16;
	while (mask < 2 * n_conv)
		mask <<= 1;
	if (GROW(e->cs_of, c->n_ev, e->cap_cs_of, c->n_ev) < 0 || GROW(e->cs, 0, e->cap_cs, n_conv) < 0 ||
	    GROW(e->cs_tab, 0, e->cap_cs_tab, mask) < 0 || GROW(e->cv, e->n_cv, e->cap_cv, n_conv) < 0)
		oom();
	memset(e->cs_tab, 0, mask * sizeof(*e->cs_tab));
	mask--;
	for (size_t i = 0; i < c->n_ev; i++) {
		const cd_hev *h = &c->ev[i];
		const char *id;
		uint64_t hv;
		size_t k;
		cslot *s;

		e->cs_of[i] = 0;
		if (h->kind != CD_EV_CONVERSATION)
			continue;
		id = cd_citizen_str(c, h->conv_off);
		hv = XXH3_64bits(id, strlen(id));
		for (k = (size_t)hv & mask; e->cs_tab[k]; k = (k + 1) & mask) {
			s = &e->cs[e->cs_tab[k] - 1];
			if (s->h == hv && !strcmp(cd_citizen_str(c, s->off), id))
				break;
		}
		if (!e->cs_tab[k]) {
			e->cs[n_ids] = (cslot){ hv, h->conv_off, -1, false };
			e->cs_tab[k] = (uint32_t)++n_ids;
		}
		s = &e->cs[e->cs_tab[k] - 1];
		if (h->flags & CD_HF_VOIDED)
			s->voided = true;
		else
			s->last = (int)i;
		e->cs_of[i] = e->cs_tab[k];
	}
	e->cv_sorted = true;
	for (size_t i = 0; i < c->n_ev; i++) {
		const cd_hev *h = &c->ev[i];
		const cslot *s;
		if (!e->cs_of[i])
			continue;
		s = &e->cs[e->cs_of[i] - 1];
		if (s->voided || s->last != (int)i)
			continue;
		if (e->n_cv && h->date < e->cv[e->n_cv - 1].date)
			e->cv_sorted = false;
		e->cv[e->n_cv++] = (conv){ (int)i, h->date, h->form, h->held_by,
					   (h->flags & CD_HF_JOINT) != 0, h->conv_off };
	}
}

/*
 * The conversations a scan can count lie in one stretch of e->cv, which is in
 * history order: from the first dated on or after `from` to the last dated on
 * or before `to` (NONE: no bound) and before the event that ends the
 * obligation. Scans start and stop there instead of testing every
 * conversation of the history, so an obligation costs what its own window
 * holds. The tests inside the loops stay: they decide, the range only skips
 * what they would reject.
 */
typedef struct cvrange {
	size_t lo, hi;
} cvrange;

static cvrange cv_range(const cd_engine *e, cd_date from, cd_date to, const endinfo *end)
{
	cvrange r = { 0, e->n_cv };
	size_t a, b;

	if (!e->cv_sorted)
		return r;
	for (a = 0, b = e->n_cv; a < b;) {           /* first with date >= from */
		size_t m = a + (b - a) / 2;
		if (e->cv[m].date < from)
			a = m + 1;
		else
			b = m;
	}
	r.lo = a;
	if (to != CD_DATE_NONE) {
		for (b = e->n_cv; a < b;) {           /* first with date > to */
			size_t m = a + (b - a) / 2;
			if (e->cv[m].date <= to)
				a = m + 1;
			else
				b = m;
		}
		r.hi = a;
	}
	if (end->ev >= 0) {
		for (a = r.lo, b = r.hi; a < b;) {    /* first at or after the ending event */
			size_t m = a + (b - a) / 2;
			if (e->cv[m].ev < end->ev)
				a = m + 1;
			else
				b = m;
		}
		r.hi = a;
	}
	return r;
}

static bool passes(const conv *cv, uint8_t held_by, uint8_t forms, bool need_joint)
{
	if (!(held_by & CD_BIT(cv->held_by)))
		return false;
	if (!(forms & CD_BIT(cv->form)))
		return false;
	if (need_joint && !(cv->joint && (cv->held_by == CD_JOBCENTER || cv->held_by == CD_OTHER_ACTOR)))
		return false;
	return true;
}

static bool qualifies(const conv *cv, const cd_obdef *d, uint8_t widen, bool need_joint)
{
	return passes(cv, d->filter.held_by, (uint8_t)(d->filter.forms | widen), need_joint);
}

/* The list for a filter, made on first use in this evaluation; NULL when QLISTS are in use. */
static const qlist *qlist_get(cd_engine *e, uint8_t held_by, uint8_t forms, bool joint)
{
	uint32_t key = held_by | (uint32_t)forms << 8 | (uint32_t)joint << 16;
	qlist *l;
	for (size_t i = 0; i < e->n_ql; i++)
		if (e->ql[i].key == key)
			return &e->ql[i];
	if (e->n_ql == QLISTS)
		return NULL;
	l = &e->ql[e->n_ql++];
	if (GROW(l->ix, 0, l->cap, e->n_cv) < 0)
		oom();
	l->key = key;
	l->n = 0;
	for (size_t i = 0; i < e->n_cv; i++)
		if (passes(&e->cv[i], held_by, forms, joint))
			l->ix[l->n++] = (uint32_t)i;
	return l;
}

/* The first position in ix[0 .. n) holding v or more. */
static size_t lower(const uint32_t *ix, size_t n, size_t v)
{
	size_t a = 0, b = n;
	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (ix[m] < v)
			a = m + 1;
		else
			b = m;
	}
	return a;
}

/*
 * The conversations of a range that pass a filter, in order: from the
 * filter's list when the range is long, else by testing each. The callers
 * keep their own tests of dates and end, which decide when the conversation
 * list is not in date order (then the range is all of it and no list is used).
 */
typedef struct qcur {
	const conv *cv;
	const uint32_t *ix;      /* the filter's list; NULL: test each conversation */
	size_t at, end;          /* positions in ix, or indices in e->cv */
	uint8_t held_by, forms;
	bool joint;
} qcur;

static void qcur_open(cd_engine *e, qcur *q, const cd_obdef *d, uint8_t widen, bool joint, cvrange r)
{
	const qlist *l;
	q->cv = e->cv;
	q->ix = NULL;
	q->at = r.lo;
	q->end = r.hi;
	q->held_by = d->filter.held_by;
	q->forms = (uint8_t)(d->filter.forms | widen);
	q->joint = joint;
	if (e->cv_sorted && r.hi - r.lo >= QLIST_MIN && (l = qlist_get(e, q->held_by, q->forms, joint))) {
		q->ix = l->ix;
		q->at = lower(l->ix, l->n, r.lo);
		q->end = lower(l->ix, l->n, r.hi);
	}
}

static bool qcur_next(qcur *q, size_t *i)
{
	if (q->ix) {
		if (q->at >= q->end)
			return false;
		*i = q->ix[q->at++];
		return true;
	}
	while (q->at < q->end) {
		size_t k = q->at++;
		if (passes(&q->cv[k], q->held_by, q->forms, q->joint)) {
			*i = k;
			return true;
		}
	}
	return false;
}

static bool before_end(const conv *cv, const endinfo *end)
{
	return end->ev < 0 || cv->ev < end->ev;
}

/* ---- instances ------------------------------------------------------------ */

typedef struct evctx {
	const period *p;
	const cd_ruleset *rs;    /* the ruleset whose allocation applies */
	uint8_t widen;           /* forms added by overlays (national obligations only) */
	uint32_t *taken;         /* joint conversations taken within this ruleset: taken[i] == stamp */
	uint32_t stamp;
	bool in_addition;        /* taken conversations do not count toward counts */
	size_t first_inst;       /* this ruleset's instances start here (AFTER_MET lookups) */
	const struct evctx *national; /* the national ruleset's context, for mirrors (D17) */
} evctx;

/*
 * One row per kind. `eval` computes the instances of `rule` in a period and
 * reports them as `def` (they differ for a mirror, D17); the cadence and
 * ordinal evaluators report the rule itself.
 */
typedef struct ob_kind {
	const char *name;        /* as rulesets spell it */
	bool joint;              /* joint by default, allocated first (docs/spec/rules.md §4) */
	int breach_kind;         /* CD_KIND_* of its BreachEvents */
	bool paces;              /* warns when behind pace (D26) */
	bool repeats;            /* may take repeat_months */
	const char *(*check)(const cd_obdef *d, const char **field);
	void (*eval)(cd_engine *e, const evctx *x, const cd_obdef *def, const cd_obdef *rule);
} ob_kind;

static const ob_kind *kind_of(int kind);

static bool taken(const evctx *x, size_t i)
{
	return x->taken[i] == x->stamp;
}

/* Marks conversation i taken, and notes it for counts that leave taken ones out (taken_in). */
static void take(cd_engine *e, const evctx *x, size_t i)
{
	x->taken[i] = x->stamp;
	if (GROW(e->tk, e->n_tk, e->cap_tk, e->n_tk + 1) < 0)
		oom();
	e->tk[e->n_tk].stamp = x->stamp;
	e->tk[e->n_tk++].ix = (uint32_t)i;
}

/* How many of the conversations of q's range that x took pass q's filter. */
static size_t taken_in(const cd_engine *e, const evctx *x, const qcur *q, cvrange r)
{
	size_t n = 0;
	for (size_t k = 0; k < e->n_tk; k++)
		n += e->tk[k].stamp == x->stamp && e->tk[k].ix >= r.lo && e->tk[k].ix < r.hi &&
		     passes(&e->cv[e->tk[k].ix], q->held_by, q->forms, q->joint);
	return n;
}

static inst *inst_new(cd_engine *e, const evctx *x, const cd_obdef *def, const cd_obdef *rule,
		      const cd_ruleset *rs, int k)
{
	inst *in;
	if (GROW(e->in, e->n_in, e->cap_in, e->n_in + 1) < 0)
		oom();
	in = &e->in[e->n_in++];
	memset(in, 0, sizeof(*in));
	in->def = def;
	in->rule = rule;
	in->rs = rs;
	in->p = x->p;
	in->k = k;
	in->ws = in->we = in->due = CD_DATE_NONE;
	in->req = rule->required;
	in->cnt0 = e->n_counted;
	in->opened_at = in->breach_at = in->warn_lead_at = in->warn_pace_at = CD_INSTANT_NONE;
	in->met_conv = -1;
	{
		cd_sb b = cd_sb_on(in->oid, sizeof(in->oid));
		cd_sb_puts(&b, def->id);
		if (k) {
			cd_sb_put(&b, "-", 1);
			cd_sb_uint(&b, (uint64_t)k);
		}
	}
	return in;
}

/* Counts conversation ci for in; outputs list the first MAX_COUNTED_LIST, so only those are kept. */
static void count_conv(cd_engine *e, inst *in, size_t ci)
{
	in->held++;
	if (in->n_cnt >= MAX_COUNTED_LIST)
		return;
	if (e->n_counted == e->cap_counted && GROW(e->counted, e->n_counted, e->cap_counted, e->n_counted + 1) < 0)
		oom();
	e->counted[e->n_counted++] = (int)ci;
	in->n_cnt++;
}

/*
 * Counts for in the conversations dated from .. to (NONE: open) before the
 * end that pass d's filter, less those taken in this ruleset when it counts
 * joint conversations in addition. With a filter list the count is the
 * distance between two positions less the few taken ones, and only the
 * conversations kept for outputs are visited.
 */
static void count_range(cd_engine *e, const evctx *x, inst *in, const cd_obdef *d, cd_date from, cd_date to,
			const endinfo *end)
{
	cvrange r = cv_range(e, from, to, end);
	qcur q;
	size_t i;

	qcur_open(e, &q, d, x->widen, false, r);
	if (q.ix) {
		int held = in->held + (int)(q.end - q.at - (x->in_addition ? taken_in(e, x, &q, r) : 0));
		while (in->n_cnt < MAX_COUNTED_LIST && qcur_next(&q, &i))
			if (!(x->in_addition && taken(x, i)))
				count_conv(e, in, i);
		in->held = held;
		return;
	}
	while (qcur_next(&q, &i)) {
		const conv *cv = &e->cv[i];
		if (cv->date < from || (to != CD_DATE_NONE && cv->date > to) || !before_end(cv, end) ||
		    (x->in_addition && taken(x, i)))
			continue;
		count_conv(e, in, i);
	}
}

static endinfo end_of(const period *p, const cd_obdef *rule)
{
	endinfo end = { p->end_ev, p->end_date, p->end_reason };
	if (rule->joint && p->optout != CD_DATE_NONE && (end.ev < 0 || p->optout_ev < end.ev)) {
		end.ev = p->optout_ev;
		end.date = p->optout;
		end.reason = CD_CANCEL_OPTED_OUT;
	}
	return end;
}

/* Earliest day on which held < floor(n × elapsed / length) (D26), or NONE. */
static cd_date pace_day(const cd_engine *e, const inst *in)
{
	int64_t len = (int64_t)in->we - in->ws + 1, n = in->req;
	cd_date first = in->ws;
	if (n < 2 || len <= 0 || in->held >= n)
		return CD_DATE_NONE;
	assert((size_t)in->held <= in->n_cnt);   /* required counts are at most 100: all kept */
	for (int j = 0; j <= in->held; j++) {
		cd_date last = j < in->held ? e->cv[e->counted[in->cnt0 + (size_t)j]].date : in->we;
		int64_t need = ((int64_t)(j + 1) * len + n - 1) / n;   /* ceil((j+1)·len / n) */
		cd_date thr = (cd_date)(in->ws + need);
		cd_date d = thr > first ? thr : first;
		if (d <= last && d <= in->we)
			return d;
		first = last + 1;
	}
	return CD_DATE_NONE;
}

/*
 * Decides an instance's status from whether it is met, the date whose passing
 * breaches it, and how its period ended (docs/spec/rules.md §3, §6).
 */
static void finalize(cd_engine *e, inst *in, bool met, cd_date eff_due, bool paused, const endinfo *end)
{
	int lead = e->cfg.warn_lead_days;
	cd_date bd;

	in->due = paused ? CD_DATE_NONE : eff_due;
	if (met) {
		in->status = CD_OB_MET;
		return;
	}
	if (paused || eff_due == CD_DATE_NONE) {
		if (end->ev >= 0) {
			in->status = CD_OB_CANCELLED;
			in->reason = end->reason;
		} else
			in->status = paused ? CD_OB_PAUSED : CD_OB_OPEN;
		return;
	}
	bd = eff_due + 1 + e->cfg.grace_days;
	if (end->ev >= 0 && bd > end->date) {
		in->status = CD_OB_CANCELLED;
		in->reason = end->reason;
		return;
	}
	in->breach_at = cd_cph_midnight(bd);
	if (e->t >= in->breach_at) {
		in->status = CD_OB_BREACHED;
		return;
	}
	in->status = CD_OB_OPEN;
	fire_at(e, in->breach_at);
	if (lead > 0) {
		cd_date wd = eff_due - lead;
		if (in->ws != CD_DATE_NONE && wd < in->ws)
			wd = in->ws;
		in->warn_lead_at = cd_cph_midnight(wd);
		fire_at(e, in->warn_lead_at);
	}
	if (lead > 0 && kind_of(in->rule->kind)->paces && in->ws != CD_DATE_NONE &&
	    in->we != CD_DATE_NONE) {
		cd_date pd = pace_day(e, in);
		if (pd != CD_DATE_NONE) {
			in->warn_pace_at = cd_cph_midnight(pd);
			fire_at(e, in->warn_pace_at);
		}
	}
}

/* Joint obligations: waived unless the period is opted in before the window ends (D6). */
static bool joint_waived(const period *p, const cd_obdef *rule, const win *w)
{
	if (!rule->joint)
		return false;
	if (p->optin == CD_DATE_NONE)
		return true;
	return w->we != CD_DATE_NONE && w->we < p->optin;
}

static void eval_window_kind(cd_engine *e, const evctx *x, const cd_obdef *def, const cd_obdef *rule)
{
	const period *p = x->p;
	win w = window_of(e, p, rule);
	endinfo end = end_of(p, rule);
	inst *in;
	bool met = false;
	cd_date eff = w.we;

	if (w.skip || joint_waived(p, rule, &w))
		return;
	in = inst_new(e, x, def, rule, x->rs, 0);
	in->ws = w.ws;
	in->we = w.we;
	if (w.ws == CD_DATE_NONE) {
		finalize(e, in, false, CD_DATE_NONE, true, &end);
		return;
	}
	if (rule->kind == CD_COUNT_IN_WINDOW) {
		count_range(e, x, in, rule, w.ws, w.we, &end);
		met = in->held >= in->req;
	} else if (rule->kind == CD_FIRST_WITHIN || rule->kind == CD_JOINT_IN_WINDOW) {
		bool joint = rule->kind == CD_JOINT_IN_WINDOW || rule->joint;
		qcur q;
		size_t i;
		qcur_open(e, &q, rule, x->widen, joint, cv_range(e, w.ws, w.we, &end));
		while (qcur_next(&q, &i)) {
			const conv *cv = &e->cv[i];
			if (cv->date < w.ws || (w.we != CD_DATE_NONE && cv->date > w.we) || !before_end(cv, &end))
				continue;
			if (rule->kind == CD_JOINT_IN_WINDOW) {
				if (taken(x, i))
					continue;
				take(e, x, i);
			} else if (rule->first_must_forms && !(rule->first_must_forms & CD_BIT(cv->form))) {
				eff = cv->date;          /* D15: the first candidate decides */
				break;
			}
			count_conv(e, in, i);
			met = true;
			break;
		}
	}
	finalize(e, in, met, eff, w.paused, &end);
}

static void eval_repeating(cd_engine *e, const evctx *x, const cd_obdef *def)
{
	const period *p = x->p;
	endinfo end = end_of(p, def);
	cd_date a = p->start;

	for (int k = 1; k <= MAX_REPEATS; k++) {
		cd_date ws = cd_date_add_months(a, def->repeat_months * (k - 1));
		cd_date we = cd_date_add_months(a, def->repeat_months * k) - 1;
		cd_instant opened = k == 1 ? CD_INSTANT_NONE : cd_cph_midnight(ws);
		inst *in;
		if (end.ev >= 0 && k > 1 && ws >= end.date)
			break;
		if (opened != CD_INSTANT_NONE && opened > e->t) {
			fire_at(e, opened);
			break;
		}
		in = inst_new(e, x, def, def, x->rs, k);
		in->opened_at = opened;
		in->ws = ws;
		in->we = we;
		count_range(e, x, in, def, ws, we, &end);
		finalize(e, in, in->held >= in->req, we, false, &end);
	}
}

static void eval_schedule(cd_engine *e, const evctx *x, const cd_obdef *shown, const cd_obdef *def)
{
	const period *p = x->p;
	endinfo end = end_of(p, def);
	bool cum = cd_obdef_cumulative(def, p->benefit);
	int every = cd_span_length(def->every, p->start);
	size_t cand[CD_MAX_SLOTS];
	int n_cand = 0;
	qcur q;
	size_t i;

	qcur_open(e, &q, def, x->widen, false, cv_range(e, p->start, CD_DATE_NONE, &end));
	while (n_cand < def->slots && qcur_next(&q, &i)) {
		const conv *cv = &e->cv[i];
		if (cv->date >= p->start && before_end(cv, &end))
			cand[n_cand++] = i;
	}
	for (int k = 1; k <= def->slots; k++) {
		int L = k * every;
		cd_date dk = cum ? cum_date(e, p, L) : p->start + L - 1;
		bool paused = dk == CD_DATE_NONE, met = false;
		cd_date due = paused ? CD_DATE_NONE : dk + def->tolerance[k - 1];
		inst *in;
		if (dk == CUM_BEFORE)
			continue;
		in = inst_new(e, x, def, def, x->rs, k);
		in->ws = p->start;
		in->we = due;
		if (k <= n_cand) {
			/* While the due date is not yet known (paused), it lies after any held conversation. */
			const conv *cv = &e->cv[cand[k - 1]];
			bool joint_ok = !(def->joint_slots & CD_BIT(k - 1)) || p->optout_now ||
					qualifies(cv, def, x->widen, true);
			if ((paused || cv->date <= due) && joint_ok) {
				count_conv(e, in, cand[k - 1]);
				met = true;
			}
		}
		finalize(e, in, met, due, paused, &end);
	}
}

static void eval_ordinal(cd_engine *e, const evctx *x, const cd_obdef *shown, const cd_obdef *def)
{
	const period *p = x->p;
	win w = { p->start, CD_DATE_NONE, false, false };
	endinfo end = end_of(p, def);
	int max_ord = 0, ord = 0;
	cd_date eff;
	bool met = false;
	inst *in;
	qcur q;
	size_t i;

	if (def->to.n) {
		win dw = window_of(e, p, def);
		if (dw.skip)
			return;
		w.we = dw.we;
		w.paused = dw.paused;
	}
	if (joint_waived(p, def, &w))
		return;
	for (int b = 15; b > 0 && !max_ord; b--)
		if (def->ordinals & CD_BIT(b))
			max_ord = b;
	in = inst_new(e, x, def, def, x->rs, 0);
	in->ws = w.ws;
	in->we = w.we;
	eff = w.we;
	qcur_open(e, &q, def, x->widen, false, cv_range(e, p->start, CD_DATE_NONE, &end));
	while (ord < max_ord && qcur_next(&q, &i)) {
		const conv *cv = &e->cv[i];
		if (cv->date < p->start || !before_end(cv, &end))
			continue;
		ord++;
		if ((def->ordinals & CD_BIT(ord)) && qualifies(cv, def, x->widen, true) &&
		    (w.we == CD_DATE_NONE || cv->date <= w.we) && !taken(x, i)) {
			take(e, x, i);
			count_conv(e, in, i);
			in->held = 1;
			met = true;
			break;
		}
		if (ord == max_ord && (eff == CD_DATE_NONE || cv->date < eff))
			eff = cv->date;                          /* D14 */
	}
	in->req = 1;
	finalize(e, in, met, eff, w.paused && eff == CD_DATE_NONE, &end);
}

static const inst *find_in_ruleset(const cd_engine *e, const evctx *x, const char *name)
{
	for (size_t i = x->first_inst; i < e->n_in; i++)
		if (e->in[i].p == x->p && !strcmp(e->in[i].rule->name, name) && e->in[i].k == 0)
			return &e->in[i];
	return NULL;
}

static void eval_gaps(cd_engine *e, const evctx *x, const cd_obdef *shown, const cd_obdef *def)
{
	const period *p = x->p;
	endinfo end = end_of(p, def);
	bool cum = cd_obdef_cumulative(def, p->benefit);
	int g = cd_span_length(def->gap, p->start);
	cd_date ws, anchor;
	cd_instant opened = CD_INSTANT_NONE;

	if (def->gap_start == CD_GAP_AFTER_WINDOW) {
		int L = cd_span_length(def->start_after, p->start);
		cd_date r = cum ? cum_date(e, p, L) : p->start + L - 1;
		if (r == CD_DATE_NONE)
			return;                         /* not begun: off the register before month 6 */
		ws = r == CUM_BEFORE ? p->first_reg : r + 1;
		anchor = ws;
		opened = cd_cph_midnight(ws);
	} else {
		const inst *ref = find_in_ruleset(e, x, def->start_ref);
		if (!ref || ref->status != CD_OB_MET || !ref->n_cnt)
			return;
		anchor = e->cv[e->counted[ref->cnt0]].date;
		ws = anchor + 1;
	}
	for (int k = 1; k <= MAX_REPEATS; k++) {
		cd_date due;
		inst *in;
		bool met = false;
		if (end.ev >= 0 && ws >= end.date)
			break;
		if (opened != CD_INSTANT_NONE && opened > e->t) {
			fire_at(e, opened);
			break;
		}
		due = due_from(e, p, cum, anchor, g);
		in = inst_new(e, x, def, def, x->rs, k);
		in->opened_at = opened;
		in->ws = ws;
		in->we = due;
		qcur q;
		size_t i;
		qcur_open(e, &q, def, x->widen, false, cv_range(e, ws, due, &end));
		while (qcur_next(&q, &i)) {
			const conv *cv = &e->cv[i];
			if (cv->date < ws || (due != CD_DATE_NONE && cv->date > due) || !before_end(cv, &end))
				continue;
			count_conv(e, in, i);
			in->met_conv = (int)i;
			met = true;
			break;
		}
		finalize(e, in, met, due, due == CD_DATE_NONE, &end);
		if (met) {
			anchor = e->cv[in->met_conv].date;
			opened = CD_INSTANT_NONE;
		} else if (in->status == CD_OB_BREACHED) {
			anchor = due;
			opened = in->breach_at;
		} else
			break;
		ws = anchor + 1;
	}
}

static void eval_count(cd_engine *e, const evctx *x, const cd_obdef *def, const cd_obdef *rule)
{
	if (rule->repeat_months)
		eval_repeating(e, x, rule);
	else
		eval_window_kind(e, x, def, rule);
}

/* ---- obligation kinds ----------------------------------------------------- */

static const char *need_window_to(const cd_obdef *d, const char **field)
{
	*field = "window.to";
	return d->to.n ? NULL : "is required for this kind";
}

static const char *need_count(const cd_obdef *d, const char **field)
{
	if (!d->to.n && !d->repeat_months) {
		*field = "window.to";
		return "is required (or repeat_months)";
	}
	*field = "repeat_months";
	return d->repeat_months && (d->from.n || d->to.n) ? "repeating windows take no window bounds" : NULL;
}

static const char *need_ordinals(const cd_obdef *d, const char **field)
{
	*field = "ordinals";
	return d->ordinals ? NULL : "is required for JOINT_AT_ORDINAL";
}

static const char *need_slots(const cd_obdef *d, const char **field)
{
	*field = "slots";
	return d->slots && d->every.n ? NULL : "SCHEDULE needs slots and every";
}

static const char *need_gap(const cd_obdef *d, const char **field)
{
	*field = "gap";
	return d->gap.n && d->gap_start ? NULL : "MAX_GAP needs gap and start";
}

static const ob_kind kinds[] = {
	[0] = { "?", false, CD_KIND_DEADLINE, false, false, NULL, NULL },
	[CD_FIRST_WITHIN] = { "FIRST_WITHIN", false, CD_KIND_DEADLINE, false, false, need_window_to,
			      eval_window_kind },
	[CD_COUNT_IN_WINDOW] = { "COUNT_IN_WINDOW", false, CD_KIND_DEADLINE, true, true, need_count, eval_count },
	[CD_JOINT_IN_WINDOW] = { "JOINT_IN_WINDOW", true, CD_KIND_DEADLINE, false, false, need_window_to,
				 eval_window_kind },
	[CD_JOINT_AT_ORDINAL] = { "JOINT_AT_ORDINAL", true, CD_KIND_DEADLINE, false, false, need_ordinals,
				  eval_ordinal },
	[CD_SCHEDULE] = { "SCHEDULE", false, CD_KIND_CADENCE, false, false, need_slots, eval_schedule },
	[CD_MAX_GAP] = { "MAX_GAP", false, CD_KIND_CADENCE, false, false, need_gap, eval_gaps },
};
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))
_Static_assert(N_KINDS == CD_OB_KIND_MAX + 1, "one row per obligation kind");

/* The row of a kind; row 0 (no kind: a mirror's own definition) for anything else. */
static const ob_kind *kind_of(int kind)
{
	return kind > 0 && (size_t)kind < N_KINDS ? &kinds[kind] : &kinds[0];
}

const char *cd_ob_kind_name(int kind)
{
	return kind_of(kind)->name;
}

int cd_ob_kind_parse(const char *s)
{
	for (size_t k = 1; k < N_KINDS; k++)
		if (!strcmp(s, kinds[k].name))
			return (int)k;
	return -1;
}

bool cd_ob_kind_joint(int kind)
{
	return kind_of(kind)->joint;
}

const char *cd_ob_kind_check(const cd_obdef *d, const char **field)
{
	const ob_kind *k = kind_of(d->kind);
	const char *msg = k->check ? k->check(d, field) : NULL;
	if (msg)
		return msg;
	*field = "repeat_months";
	return d->repeat_months && !k->repeats ? "only COUNT_IN_WINDOW repeats" : NULL;
}

static bool replaced(const cd_ruleset *const *ovl, size_t n_ovl, const char *name)
{
	for (size_t i = 0; i < n_ovl; i++)
		for (size_t j = 0; j < ovl[i]->n_replaces; j++)
			if (!strcmp(ovl[i]->replaces[j], name))
				return true;
	return false;
}

/* Evaluates one ruleset's obligations for a period: joint ones first (allocation, docs/spec/rules.md §4). */
static void eval_ruleset(cd_engine *e, evctx *x, const cd_ruleset *rs, const cd_ruleset *const *ovl,
			 size_t n_ovl, const cd_ruleset *national)
{
	const period *p = x->p;
	x->first_inst = e->n_in;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < rs->n_obs; i++) {
			const cd_obdef *d = &rs->obs[i], *rule = d;
			if (d->mirror[0]) {
				rule = NULL;
				for (size_t j = 0; national && j < national->n_obs && !rule; j++)
					if (!strcmp(national->obs[j].name, d->mirror))
						rule = &national->obs[j];
				if (!rule || replaced(ovl, n_ovl, rule->name))
					continue;
			}
			if ((pass == 0) != kind_of(rule->kind)->joint)
				continue;
			if (!cd_obdef_applies(rule, p->benefit, p->category, p->by_registration))
				continue;
			if (!rs->overlay && replaced(ovl, n_ovl, d->name))
				continue;
			if (d->mirror[0] && x->national) {
				/* Computed as the national obligation is, in its allocation (D17). */
				evctx mx = *x->national;
				mx.rs = rs;
				mx.first_inst = x->first_inst;
				kind_of(rule->kind)->eval(e, &mx, d, rule);
			} else
				kind_of(rule->kind)->eval(e, x, d, rule);
		}
}

static void evaluate(cd_engine *e, const cd_citizen *c, cd_instant t)
{
	e->t = t;
	e->next_fire = CD_INSTANT_NONE;
	e->c = c;
	e->n_in = 0;
	e->n_counted = 0;
	derive_periods(e, c);
	index_intervals(e);
	live_conversations(e, c);
	e->n_ql = 0;
	if (e->n_cv > e->cap_taken || (uint64_t)e->gen + (e->n_per + 1) * (CD_MAX_OVERLAYS + 1) > UINT32_MAX) {
		/* Zeroed, and stamps start again: no stale stamp can equal a new one. */
		size_t n = e->n_cv > e->cap_taken ? e->n_cv * 2 : e->cap_taken + 16;
		free(e->taken_nat);
		free(e->taken_cur);
		e->taken_nat = calloc(n, sizeof(*e->taken_nat));
		e->taken_cur = calloc(n, sizeof(*e->taken_cur));
		if (!e->taken_nat || !e->taken_cur)
			oom();
		e->cap_taken = n;
		e->gen = 0;
	}
	for (size_t pi = 0; pi < e->n_per; pi++) {
		const period *p = &e->per[pi];
		const cd_ruleset *nat = cd_rules_national(e->rules, p->start);
		const cd_ruleset *ovl[CD_MAX_OVERLAYS];
		size_t n_ovl = cd_rules_overlays(e->rules, p->muni, p->benefit, p->start, p->seasonal, ovl,
						 CD_MAX_OVERLAYS);
		uint8_t widen = 0;
		evctx x = { .p = p };

		for (size_t i = 0; i < n_ovl; i++)
			widen |= ovl[i]->widen_forms;
		e->n_tk = 0;             /* takes are per period (their stamps are) */
		if (nat) {
			/* A fresh stamp instead of clearing the marks: a period costs what it uses. */
			x.rs = nat;
			x.widen = widen;
			x.taken = e->taken_nat;
			x.stamp = ++e->gen;
			x.in_addition = nat->joint_in_addition;
			eval_ruleset(e, &x, nat, ovl, n_ovl, nat);
		}
		for (size_t i = 0; i < n_ovl; i++) {
			evctx ox = { .p = p, .rs = ovl[i], .taken = e->taken_cur, .stamp = ++e->gen,
				   .in_addition = ovl[i]->joint_in_addition, .national = nat ? &x : NULL };
			eval_ruleset(e, &ox, ovl[i], ovl, n_ovl, nat);
		}
	}
}

/* ---- emitted states and outputs ------------------------------------------- */

static const char *const dl_names[] = { "?", "OPENED", "UPDATED", "PAUSED", "WARNING", "MET", "CANCELLED" };
static const char *const br_names[] = { "?", "BREACHED", "RETRACTED" };
static const char *const cancel_names[] = { "UNSPECIFIED", "BENEFIT_SHIFT", "DEREGISTERED", "PERIOD_ENDED",
					    "OPTED_OUT", "SUPERSEDED" };

const char *cd_output_status_name(const cd_output *o)
{
	if (o->is_breach)
		return o->status >= 1 && o->status <= 2 ? br_names[o->status] : "?";
	return o->status >= 1 && o->status <= 6 ? dl_names[o->status] : "?";
}

const char *cd_cancel_reason_name(int r)
{
	return r >= 0 && r <= 5 ? cancel_names[r] : "?";
}

int cd_output_status_parse(const char *s, bool *is_breach)
{
	for (int i = 1; i <= 6; i++)
		if (!strcmp(s, dl_names[i])) {
			*is_breach = false;
			return i;
		}
	for (int i = 1; i <= 2; i++)
		if (!strcmp(s, br_names[i])) {
			*is_breach = true;
			return i;
		}
	return -1;
}

int cd_cancel_reason_parse(const char *s)
{
	for (int i = 0; i <= 5; i++)
		if (!strcmp(s, cancel_names[i]))
			return i;
	return -1;
}

typedef struct emitter {
	cd_engine *e;
	cd_citizen *c;
	const char *cid;
	const char *caused_by;
	cd_instant as_of;
	cd_output_fn fn;
	void *ctx;
	int failed;
} emitter;

static void event_id(const emitter *em, const cd_obst *ob, int status, bool breach, char out[33])
{
	/* citizen \0 pstart(4) pkey(8) oid \0 transitions(4) status(1) breach(1), little-endian */
	uint8_t buf[2 * CD_MAX_ID_LEN + 160];
	const char *oid = cd_citizen_str(em->c, ob->oid_off);
	size_t n = 0, lc = strlen(em->cid), lo = strlen(oid);
	XXH128_hash_t h;

	assert(lc <= CD_MAX_ID_LEN && lo <= CD_MAX_OBLIGATION_ID_LEN);
	memcpy(buf, em->cid, lc + 1);
	n = lc + 1;
	for (int i = 0; i < 4; i++)
		buf[n++] = (uint8_t)((uint32_t)ob->pstart >> (8 * i));
	for (int i = 0; i < 8; i++)
		buf[n++] = (uint8_t)(ob->pkey >> (8 * i));
	memcpy(buf + n, oid, lo + 1);
	n += lo + 1;
	for (int i = 0; i < 4; i++)
		buf[n++] = (uint8_t)(ob->transitions >> (8 * i));
	buf[n++] = (uint8_t)status;
	buf[n++] = breach;
	h = XXH3_128bits(buf, n);
	for (int i = 0; i < 16; i++) {
		static const char hex[] = "0123456789abcdef";
		out[i] = hex[(h.high64 >> (60 - 4 * i)) & 15];
		out[16 + i] = hex[(h.low64 >> (60 - 4 * i)) & 15];
	}
	out[32] = '\0';
}

static void explain(cd_engine *e, const cd_output *o, const char *desc)
{
	char d[CD_DATE_STRLEN];
	cd_sb b = cd_sb_on(e->explain, sizeof(e->explain));

	cd_sb_puts(&b, o->obligation_id);
	cd_sb_put(&b, " ", 1);
	cd_sb_puts(&b, cd_output_status_name(o));
	cd_sb_puts(&b, ": held ");
	cd_sb_int(&b, o->held);
	cd_sb_puts(&b, " of ");
	cd_sb_int(&b, o->required);
	if (o->window_start != CD_DATE_NONE && o->window_end != CD_DATE_NONE) {
		cd_sb_puts(&b, " in ");
		cd_sb_puts(&b, cd_date_format(o->window_start, d));
		cd_sb_puts(&b, " … ");
		cd_sb_puts(&b, cd_date_format(o->window_end, d));
	}
	if (o->due != CD_DATE_NONE) {
		cd_sb_puts(&b, ", due ");
		cd_sb_puts(&b, cd_date_format(o->due, d));
	} else
		cd_sb_puts(&b, ", no due date while paused or unknown");
	if (o->cancel_reason) {
		cd_sb_puts(&b, " (");
		cd_sb_puts(&b, cd_cancel_reason_name(o->cancel_reason));
		cd_sb_put(&b, ")", 1);
	}
	if (desc && *desc) {
		cd_sb_puts(&b, " — ");
		cd_sb_puts(&b, desc);
	}
	if (o->legal_ref && *o->legal_ref) {
		cd_sb_puts(&b, " (");
		cd_sb_puts(&b, o->legal_ref);
		cd_sb_put(&b, ")", 1);
	}
}

/*
 * Sends one output about emitted state ob. `in` is the current instance, or
 * NULL for an obligation that no longer exists (D7). `when` overrides as_of.
 */
static void emit(emitter *em, cd_obst *ob, const inst *in, bool breach, int status, cd_instant when)
{
	cd_engine *e = em->e;
	cd_output o;
	const cd_obdef *def = in ? in->def : NULL;
	const cd_ruleset *rs = in ? in->rs : NULL;
	const char *oid = cd_citizen_str(em->c, ob->oid_off);
	const char *slash = strchr(oid, '/');

	if (em->failed)
		return;
	memset(&o, 0, sizeof(o));
	if (!def) {
		/* Look the definition up by id, without the instance suffix. */
		char base[CD_MAX_OBLIGATION_ID_LEN + 1];
		snprintf(base, sizeof(base), "%s", oid);
		def = cd_rules_find_obligation(e->rules, base, &rs);
		if (!def) {
			char *dash = strrchr(base, '-');
			if (dash) {
				*dash = '\0';
				def = cd_rules_find_obligation(e->rules, base, &rs);
			}
		}
	}
	o.is_breach = breach;
	o.status = status;
	o.citizen_id = em->cid;
	o.muni = ob->muni;
	o.benefit = ob->benefit;
	{
		size_t rl = slash ? (size_t)(slash - oid) : 0;
		if (rl >= sizeof(o.ruleset_id))
			rl = sizeof(o.ruleset_id) - 1;
		memcpy(o.ruleset_id, oid, rl);
		o.ruleset_id[rl] = '\0';
	}
	o.ruleset_version = rs ? rs->version : 0;
	o.obligation_id = oid;
	o.definition_id = def ? def->id : oid;
	o.severity = def ? def->severity : 0;
	o.legal_ref = def ? def->legal_ref : "";
	o.breach_kind = def ? kind_of(def->kind)->breach_kind : CD_KIND_DEADLINE;
	o.period_start = ob->pstart;
	o.window_start = ob->ws;
	o.window_end = ob->we;
	o.due = ob->due;
	o.required = ob->required;
	o.held = ob->held;
	o.cancel_reason = !breach && status == CD_DL_CANCELLED ? ob->reason : 0;
	if (in) {
		size_t n = in->n_cnt < MAX_COUNTED_LIST ? in->n_cnt : MAX_COUNTED_LIST;
		for (size_t i = 0; i < n; i++)
			e->cnt_ptrs[i] = cd_citizen_str(em->c, e->cv[e->counted[in->cnt0 + i]].id_off);
		o.counted = e->cnt_ptrs;
		o.n_counted = n;
	}
	o.caused_by = em->caused_by;
	o.as_of = when != CD_INSTANT_NONE ? when : em->as_of;
	event_id(em, ob, status, breach, o.event_id);
	explain(e, &o, def ? def->description : "");
	o.explanation = e->explain;
	ob->transitions++;
	if (em->fn && em->fn(em->ctx, &o) != 0)
		em->failed = 1;
}

static void copy_state(cd_obst *ob, const inst *in)
{
	ob->due = in->due;
	ob->ws = in->ws;
	ob->we = in->we;
	ob->required = in->req;
	ob->held = in->held;
	ob->reason = in->reason;
}

static bool state_differs(const cd_obst *ob, const inst *in)
{
	return ob->due != in->due || ob->ws != in->ws || ob->we != in->we || ob->held != in->held ||
	       ob->required != in->req;
}

/*
 * The emitted state of an instance. Instances come out of every evaluation in
 * nearly the order in which their states were created, so the state after
 * the previous match (*hint) is tried first. Otherwise a citizen with few
 * states is scanned; one with many has its states indexed by (period,
 * obligation id) in an open-addressing table built for the diff, so that a
 * long history does not make every miss cost a scan. A slot holds the
 * state's index + 1 in its low half and the key's hash in its high half
 * (0: empty).
 */
#define STATE_SCAN_MAX 64

static uint64_t state_key(uint64_t pkey, const char *oid)
{
	return XXH3_64bits_withSeed(oid, strlen(oid), pkey);
}

static bool state_is(const cd_citizen *c, const cd_obst *ob, uint64_t pkey, const char *oid)
{
	return ob->pkey == pkey && !strcmp(cd_citizen_str(c, ob->oid_off), oid);
}

static cd_obst *lookup_state(const cd_engine *e, cd_citizen *c, uint64_t pkey, const char *oid, uint64_t h)
{
	size_t mask = e->n_st - 1;
	uint32_t tag = (uint32_t)(h >> 32);
	for (size_t k = (size_t)h & mask; e->st[k]; k = (k + 1) & mask) {
		cd_obst *ob = &c->ob[(uint32_t)e->st[k] - 1];
		if ((uint32_t)(e->st[k] >> 32) == tag && state_is(c, ob, pkey, oid))
			return ob;
	}
	return NULL;
}

/* Files state i when the states are indexed (the first of equal keys wins, as a scan finds it). */
static void index_state(cd_engine *e, cd_citizen *c, size_t i)
{
	const cd_obst *ob = &c->ob[i];
	const char *oid = cd_citizen_str(c, ob->oid_off);
	uint64_t h;
	size_t mask = e->n_st - 1, k;
	if (!e->n_st)
		return;
	h = state_key(ob->pkey, oid);
	if (lookup_state(e, c, ob->pkey, oid, h))
		return;
	for (k = (size_t)h & mask; e->st[k]; k = (k + 1) & mask)
		;
	e->st[k] = (h & 0xffffffff00000000ULL) | (uint64_t)(i + 1);
}

/* Indexes the states when there are many: room for them and `more` new ones, at most half full. */
static void index_states(cd_engine *e, cd_citizen *c, size_t more)
{
	size_t n = 16;
	e->n_st = 0;
	if (c->n_ob + more <= STATE_SCAN_MAX)
		return;
	while (n < 2 * (c->n_ob + more))
		n <<= 1;
	if (n > e->cap_st) {
		free(e->st);
		if (!(e->st = malloc(n * sizeof(*e->st))))
			oom();
		e->cap_st = n;
	}
	e->n_st = n;
	memset(e->st, 0, n * sizeof(*e->st));
	for (size_t i = 0; i < c->n_ob; i++)
		index_state(e, c, i);
}

static cd_obst *find_state(const cd_engine *e, cd_citizen *c, const inst *in, size_t *hint)
{
	cd_obst *ob = NULL;
	if (*hint < c->n_ob && state_is(c, &c->ob[*hint], in->p->pkey, in->oid))
		ob = &c->ob[*hint];
	else if (e->n_st)
		ob = lookup_state(e, c, in->p->pkey, in->oid, state_key(in->p->pkey, in->oid));
	else
		for (size_t i = 0; i < c->n_ob && !ob; i++)
			if (state_is(c, &c->ob[i], in->p->pkey, in->oid))
				ob = &c->ob[i];
	if (ob)
		*hint = (size_t)(ob - c->ob) + 1;
	return ob;
}

/* Says what changed between the emitted states and the instances just evaluated. */
static int diff(emitter *em, cd_err *err)
{
	cd_engine *e = em->e;
	cd_citizen *c = em->c;
	size_t fresh = 0;

	for (size_t i = 0; i < c->n_ob; i++)
		c->ob[i].flags &= (uint8_t)~CD_OF_SEEN;
	/* Check the limit before saying anything, so that a refusal changes nothing. */
	size_t hint = 0;
	index_states(e, c, e->n_in);
	for (size_t i = 0; i < e->n_in; i++)
		if (!find_state(e, c, &e->in[i], &hint))
			fresh++;
	if (c->n_ob + fresh > e->cfg.max_obligations)
		return cd_err_set(err, 0, "citizen '%s' would have %zu obligation states, more than the limit of %zu "
				  "(limits.max_obligations_per_citizen)", em->cid, c->n_ob + fresh,
				  e->cfg.max_obligations);
	if (fresh && cd_citizen_reserve_obs(c, c->n_ob + fresh) < 0)
		oom();

	hint = 0;
	for (size_t i = 0; i < e->n_in; i++) {
		const inst *in = &e->in[i];
		cd_obst *ob = find_state(e, c, in, &hint);
		uint8_t prev;
		bool opened_now = false;

		if (!ob) {
			uint32_t off;
			if (cd_citizen_intern(c, in->oid, strlen(in->oid), &off) < 0)
				return cd_err_set(err, 0, "citizen '%s' record is too large", em->cid);
			ob = &c->ob[c->n_ob++];
			memset(ob, 0, sizeof(*ob));
			ob->pkey = in->p->pkey;
			ob->pstart = in->p->start;
			ob->oid_off = off;
			ob->benefit = in->p->benefit;
			memcpy(ob->muni, in->p->muni, sizeof(ob->muni));
			ob->status = CD_OB_OPEN;
			copy_state(ob, in);
			ob->reason = 0;
			index_state(e, c, c->n_ob - 1);
			emit(em, ob, in, false, CD_DL_OPENED, CD_INSTANT_NONE);
			opened_now = true;
		}
		ob->flags |= CD_OF_SEEN;
		prev = ob->status;
		if (prev == CD_OB_BREACHED) {
			if (in->status == CD_OB_BREACHED)
				continue;                /* a breach changes only by RETRACTED */
			copy_state(ob, in);
			emit(em, ob, in, true, CD_BR_RETRACTED, CD_INSTANT_NONE);
			prev = CD_OB_OPEN;
			ob->status = CD_OB_OPEN;
			if (in->status == CD_OB_OPEN) {
				emit(em, ob, in, false, CD_DL_UPDATED, CD_INSTANT_NONE);
				goto warnings;
			}
		}
		switch (in->status) {
		case CD_OB_OPEN:
		case CD_OB_PAUSED:
			if (prev != in->status && in->status == CD_OB_PAUSED) {
				copy_state(ob, in);
				emit(em, ob, in, false, CD_DL_PAUSED, CD_INSTANT_NONE);
			} else if (prev != in->status || (!opened_now && state_differs(ob, in))) {
				copy_state(ob, in);
				emit(em, ob, in, false, CD_DL_UPDATED, CD_INSTANT_NONE);
			}
			break;
		case CD_OB_MET:
			if (prev != CD_OB_MET) {
				copy_state(ob, in);
				emit(em, ob, in, false, CD_DL_MET, CD_INSTANT_NONE);
			}
			break;
		case CD_OB_CANCELLED:
			if (prev != CD_OB_CANCELLED) {
				copy_state(ob, in);
				emit(em, ob, in, false, CD_DL_CANCELLED, CD_INSTANT_NONE);
			}
			break;
		case CD_OB_BREACHED:
			if (prev == CD_OB_MET) {
				copy_state(ob, in);
				emit(em, ob, in, false, CD_DL_UPDATED, CD_INSTANT_NONE);
			}
			copy_state(ob, in);
			emit(em, ob, in, true, CD_BR_BREACHED, in->breach_at);
			break;
		}
		ob->status = in->status;
		copy_state(ob, in);
warnings:
		if (in->status != CD_OB_OPEN)
			continue;
		if (in->warn_lead_at != CD_INSTANT_NONE && e->t >= in->warn_lead_at &&
		    !(ob->flags & CD_OF_WARNED_LEAD)) {
			ob->flags |= CD_OF_WARNED_LEAD;
			emit(em, ob, in, false, CD_DL_WARNING, in->warn_lead_at);
		}
		if (in->warn_pace_at != CD_INSTANT_NONE && e->t >= in->warn_pace_at &&
		    !(ob->flags & CD_OF_WARNED_PACE)) {
			ob->flags |= CD_OF_WARNED_PACE;
			emit(em, ob, in, false, CD_DL_WARNING, in->warn_pace_at);
		}
	}
	/* Obligations that no longer exist (D7). */
	for (size_t i = 0; i < c->n_ob; i++) {
		cd_obst *ob = &c->ob[i];
		if (ob->flags & CD_OF_SEEN)
			continue;
		if (ob->status == CD_OB_BREACHED)
			emit(em, ob, NULL, true, CD_BR_RETRACTED, CD_INSTANT_NONE);
		if (ob->status != CD_OB_CANCELLED) {
			ob->status = CD_OB_CANCELLED;
			ob->reason = CD_CANCEL_SUPERSEDED;
			emit(em, ob, NULL, false, CD_DL_CANCELLED, CD_INSTANT_NONE);
		} else
			ob->reason = CD_CANCEL_SUPERSEDED;  /* already cancelled: say nothing twice (D7) */
	}
	if (em->failed)
		return cd_err_set(err, 0, "the output callback failed");
	return 0;
}

/* ---- history -------------------------------------------------------------- */

static int hev_cmp(const cd_citizen *c, const cd_hev *a, cd_instant occurred, const char *id)
{
	if (a->occurred != occurred)
		return a->occurred < occurred ? -1 : 1;
	return strcmp(cd_citizen_str(c, a->id_off), id);
}

static bool seen(const cd_citizen *c, const char *id, size_t len)
{
	for (size_t i = 0; i < c->n_ev; i++) {
		const cd_hev *h = &c->ev[i];
		const char *s;
		if (h->id_len != len)
			continue;
		s = cd_citizen_str(c, h->id_off);
		/* ids often share long prefixes: the last byte rules most out at once */
		if (s[len - 1] == id[len - 1] && !memcmp(s, id, len))
			return true;
	}
	return false;
}

/* Inserts ev in order. Returns its index. */
static int history_insert(cd_citizen *c, const cd_event *ev, cd_err *err)
{
	cd_hev h;
	size_t pos;
	const char *id;

	memset(&h, 0, sizeof(h));
	h.occurred = ev->occurred_at;
	h.date = cd_cph_date(ev->occurred_at);
	h.kind = (uint8_t)ev->kind;
	h.flags = (uint8_t)((ev->opt_out ? CD_HF_OPT_OUT : 0) | (ev->seasonal ? CD_HF_SEASONAL : 0) |
			    (ev->joint ? CD_HF_JOINT : 0) | (ev->voided ? CD_HF_VOIDED : 0) |
			    (ev->ends_dp ? CD_HF_ENDS_DP : 0));
	h.benefit = ev->benefit;
	h.category = ev->category;
	h.form = ev->form;
	h.held_by = ev->held_by;
	h.reason = ev->dereg_reason;
	memcpy(h.muni, ev->muni, sizeof(h.muni));
	h.first_contact = ev->first_contact;
	h.first_absence = ev->first_absence;
	h.dp_start = ev->dp_start;
	h.prior_days = ev->prior_days;
	h.id_len = (uint8_t)ev->event_id_len;
	if (cd_citizen_intern(c, ev->event_id, ev->event_id_len, &h.id_off) < 0 ||
	    (ev->kind == CD_EV_CONVERSATION && cd_citizen_intern(c, ev->conv_id, ev->conv_id_len, &h.conv_off) < 0))
		return cd_err_set(err, 0, "citizen record is too large");
	if (cd_citizen_reserve_events(c, c->n_ev + 1) < 0)
		oom();
	id = cd_citizen_str(c, h.id_off);
	pos = c->n_ev;
	while (pos > 0 && hev_cmp(c, &c->ev[pos - 1], h.occurred, id) > 0)
		pos--;
	memmove(&c->ev[pos + 1], &c->ev[pos], (c->n_ev - pos) * sizeof(*c->ev));
	c->ev[pos] = h;
	c->n_ev++;
	return (int)pos;
}

/* ---- the clock ------------------------------------------------------------ */

static int step(cd_engine *e, cd_citizen *c, const char *cid, cd_instant t, const char *caused_by,
		cd_instant as_of, cd_output_fn fn, void *ctx, cd_err *err)
{
	emitter em = { e, c, cid, caused_by, as_of, fn, ctx, 0 };
	evaluate(e, c, t);
	if (diff(&em, err) < 0)
		return -1;
	c->next_fire = e->next_fire;
	return 0;
}

int cd_engine_advance(cd_engine *e, cd_citizen *c, const char *cid, cd_instant t, cd_output_fn fn,
		      void *ctx, cd_err *err)
{
	while (c->next_fire != CD_INSTANT_NONE && c->next_fire <= t) {
		cd_instant tf = c->next_fire;
		if (step(e, c, cid, tf, "", tf, fn, ctx, err) < 0)
			return -1;
		if (c->clock == CD_INSTANT_NONE || tf > c->clock)
			c->clock = tf;
		assert(c->next_fire == CD_INSTANT_NONE || c->next_fire > tf);
	}
	if (c->clock == CD_INSTANT_NONE || t > c->clock)
		c->clock = t;
	return 0;
}

int cd_engine_apply(cd_engine *e, cd_citizen *c, const char *cid, const cd_event *ev, cd_output_fn fn,
		    void *ctx, cd_err *err)
{
	cd_instant t_prev = c->clock == CD_INSTANT_NONE ? T_MIN : c->clock;
	char idbuf[CD_MAX_ID_LEN + 1];
	int pos;

	if (ev->kind == CD_EV_CLOCK_TICK)
		return cd_engine_advance(e, c, cid, cd_event_time(ev), fn, ctx, err);
	if (seen(c, ev->event_id, ev->event_id_len))
		return 1;
	if (c->n_ev >= e->cfg.max_events)
		return cd_err_set(err, 0, "citizen '%s' history is full: %zu events (limits.max_events_per_citizen); "
				  "event '%.*s' not applied", cid, c->n_ev, (int)ev->event_id_len, ev->event_id);
	pos = history_insert(c, ev, err);
	if (pos < 0)
		return -1;
	memcpy(idbuf, ev->event_id, ev->event_id_len);   /* validated: <= CD_MAX_ID_LEN */
	idbuf[ev->event_id_len] = '\0';
	if (step(e, c, cid, t_prev, idbuf, cd_event_time(ev), fn, ctx, err) < 0) {
		/* Refused (a limit): take the input back out, so the citizen is unchanged. */
		memmove(&c->ev[pos], &c->ev[pos + 1], (c->n_ev - (size_t)pos - 1) * sizeof(*c->ev));
		c->n_ev--;
		return -1;
	}
	return cd_engine_advance(e, c, cid, cd_event_time(ev), fn, ctx, err);
}
