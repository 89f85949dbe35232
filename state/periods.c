/*
 * periods.c — the engine's view of a history: benefit periods, the
 * cumulative clock of a dagpenge period, and the window of an obligation
 * within a period (docs/spec/rules.md §3).
 */
#include "state/engine_int.h"

#include <assert.h>
#include <limits.h>
#include <string.h>
#include <xxhash.h>

/* ---- periods (docs/spec/rules.md §3.3) ---------------------------------------------- */

static period *period_new(cd_engine *e, const cd_citizen *c, int i)
{
	const cd_hev *h = &c->ev[i];
	const char *id = cd_citizen_str(c, h->id_off);
	period *p;
	if (GROW(e->per, e->n_per, e->cap_per, e->n_per + 1) < 0)
		eng_oom();
	p = &e->per[e->n_per++];
	memset(p, 0, sizeof(*p));
	p->start_ev = i;
	p->end_ev = -1;
	p->end_date = CD_DATE_NONE;
	p->first_contact = h->first_contact != CD_DATE_NONE ? h->first_contact : h->date;
	p->category = h->category;
	p->benefit = p->shown_benefit = (uint8_t)cd_rules_merged_benefit(e->rules, h->benefit, h->date);
	p->shown_from = CD_DATE_NONE;
	p->flags = (uint8_t)(((h->flags & CD_HF_COURSE) ? CD_PF_COURSE : 0) |
			     ((h->flags & CD_HF_SICK_SHORT) ? CD_PF_SICK_SHORT : 0));
	p->input_date = h->date;
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
		eng_oom();
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
		eng_oom();
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

/*
 * An input names the running period's benefit by what it merged into: from
 * that input's date, outputs name the new benefit. Merges do not chain, so a
 * period is renamed at most once.
 */
static bool period_rename(period *p, int benefit, cd_date d)
{
	if (benefit == p->benefit || p->shown_from != CD_DATE_NONE)
		return false;
	p->shown_benefit = (uint8_t)benefit;
	p->shown_from = d;
	return true;
}

uint8_t eng_benefit_on(const period *p, cd_date d)
{
	return p->shown_from != CD_DATE_NONE && d >= p->shown_from ? p->shown_benefit : p->benefit;
}

/* What entry i did, for explain.c (starts and ends it reads from the periods). */
#define FX(what) do { if (e->fx) e->fx[i] = (uint8_t)(what); } while (0)

void eng_derive_periods(cd_engine *e, const cd_citizen *c)
{
	int cur = -1, paused = -1;  /* indices into e->per */

	e->n_per = 0;
	e->n_iv = 0;
	e->n_ex = 0;
	for (size_t i = 0; i < c->n_ev; i++) {
		const cd_hev *h = &c->ev[i];
		period *pc = cur >= 0 ? &e->per[cur] : NULL;
		period *pp = paused >= 0 ? &e->per[paused] : NULL;
		period *np;
		uint8_t prev_cat = pc ? pc->category : pp ? pp->category : CD_CATEGORY_NONE;
		/* What the input's benefit is on its date (rules.md §3.3 merges), and the running one's. */
		int hb = h->kind == CD_EV_REGISTRATION || h->kind == CD_EV_BENEFIT_CHANGE
				 ? cd_rules_merged_benefit(e->rules, h->benefit, h->date) : CD_BENEFIT_NONE;

		FX(CD_FX_NONE);

		switch (h->kind) {
		case CD_EV_REGISTRATION:
			if (hb == CD_DAGPENGE) {
				cd_date dps = h->dp_start != CD_DATE_NONE ? h->dp_start : h->date;
				period *dp = pc && pc->benefit == CD_DAGPENGE ? pc : pp;
				if (dp && dp->start == dps) {
					if (dp == pp) {          /* resume (docs/spec/rules.md §3.3) */
						period_resume(e, pp, h, (int)i);
						cur = paused;
						paused = -1;
						FX(CD_FX_RESUMED);
					} else
						FX(CD_FX_ALREADY);
					continue;                /* already registered (D1) */
				}
				period_end(e, pc, (int)i, h->date,
					   pc && pc->benefit == CD_DAGPENGE ? CD_CANCEL_PERIOD_ENDED : CD_CANCEL_BENEFIT_SHIFT);
				period_end(e, pp, (int)i, h->date, CD_CANCEL_PERIOD_ENDED);   /* D2 */
				np = period_new(e, c, (int)i);
				np->by_registration = true;
				period_start_dagpenge(e, np, h);
			} else {
				if (pc && cd_rules_merged_benefit(e->rules, pc->benefit, h->date) == hb) {
					FX(period_rename(pc, hb, h->date) ? CD_FX_RENAMED : CD_FX_ALREADY);
					continue;                /* D1 */
				}
				period_end(e, pc, (int)i, h->date, CD_CANCEL_BENEFIT_SHIFT);
				period_end(e, pp, (int)i, h->date, CD_CANCEL_BENEFIT_SHIFT);
				np = period_new(e, c, (int)i);
				np->by_registration = true;
				np->start = hb == CD_SYGEDAGPENGE && h->first_absence != CD_DATE_NONE
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
				FX(CD_FX_PAUSED);
			} else if (pc) {
				period_end(e, pc, (int)i, h->date, pc->benefit == CD_DAGPENGE
							       ? CD_CANCEL_PERIOD_ENDED : CD_CANCEL_DEREGISTERED);
				cur = -1;
			} else if (pp && (h->flags & CD_HF_ENDS_DP)) {
				period_end(e, pp, (int)i, h->date, CD_CANCEL_PERIOD_ENDED);
				paused = -1;
			} else
				FX(CD_FX_IGNORED);
			break;

		case CD_EV_BENEFIT_CHANGE: {
			int curb = pc ? pc->benefit : pp ? CD_DAGPENGE : CD_BENEFIT_NONE;
			if (hb == CD_BENEFIT_NONE || hb == cd_rules_merged_benefit(e->rules, curb, h->date)) {
				if (pc && hb != CD_BENEFIT_NONE && period_rename(pc, hb, h->date))
					FX(CD_FX_RENAMED);
				else
					FX(pc || pp ? CD_FX_CATEGORY : CD_FX_IGNORED);
				continue;                        /* a category change */
			}
			period_end(e, pc, (int)i, h->date, CD_CANCEL_BENEFIT_SHIFT);
			period_end(e, pp, (int)i, h->date, CD_CANCEL_BENEFIT_SHIFT);
			np = period_new(e, c, (int)i);
			np->category = h->category ? h->category : prev_cat;      /* D4 */
			np->first_contact = h->date;
			if (hb == CD_DAGPENGE)
				period_start_dagpenge(e, np, h);
			else
				np->start = hb == CD_SYGEDAGPENGE && h->first_absence != CD_DATE_NONE
						    ? h->first_absence : h->date;
			cur = (int)(np - e->per);
			paused = -1;
			break;
		}
		case CD_EV_EXEMPTION: {
			/* The period running on its date; a paused dagpenge period still runs (rules.md §3.3). */
			period *t = pc ? pc : pp;
			if (!t) {
				FX(CD_FX_IGNORED);
				break;
			}
			if (GROW(e->ex, e->n_ex, e->cap_ex, e->n_ex + 1) < 0)
				eng_oom();
			if (!t->n_ex)
				t->ex0 = e->n_ex;
			/* Only one period runs at a time, so each period's entries are contiguous. */
			assert(t->ex0 + t->n_ex == e->n_ex);
			e->ex[e->n_ex++] = (exempt){ h->date, h->scope, (h->flags & CD_HF_REVOKED) != 0, (int)i };
			FX(CD_FX_EXEMPTION);
			t->n_ex++;
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
void eng_index_intervals(cd_engine *e)
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
cd_date eng_cum_date(const cd_engine *e, const period *p, int L)
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
cd_date eng_due_from(const cd_engine *e, const period *p, bool cum, cd_date P, int L)
{
	cd_date d;
	if (!cum)
		return P + L;
	d = eng_cum_date(e, p, cum_before(e, p, P) + 1 + L);
	return d == CUM_BEFORE ? P + L : d;
}

win eng_window_of(const cd_engine *e, const period *p, const cd_obdef *d)
{
	win w = { CD_DATE_NONE, CD_DATE_NONE, false, false };
	cd_date a = d->anchor == CD_ANCHOR_FIRST_CONTACT ? p->first_contact
		    : d->anchor == CD_ANCHOR_START_INPUT ? p->input_date : p->start;
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
		f = eng_cum_date(e, p, lfrom);
		if (f == CUM_BEFORE)
			w.ws = p->first_reg;                 /* D8 */
		else if (f == CD_DATE_NONE) {
			w.ws = CD_DATE_NONE;
			w.paused = true;
		} else
			w.ws = f + 1;
	}
	if (lto) {
		cd_date t = eng_cum_date(e, p, lto);
		if (t == CD_DATE_NONE)
			w.paused = true;
		else
			w.we = t;
	}
	return w;
}

