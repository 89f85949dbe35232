/*
 * conversations.c — the conversations that count, and the scans over them.
 *
 * A history's conversations, voids applied, in history order (e->cv), with
 * what keeps an obligation's scan linear in what its own window holds: the
 * stretch a window and period allow (cv_range), per-filter lists for long
 * stretches (qlist) and a cursor over either (qcur).
 */
#include "state/engine_int.h"

#include <string.h>
#include <xxhash.h>

/* ---- conversations -------------------------------------------------------- */

/*
 * The conversations that count: not withdrawn by a void with the same
 * conversation_id (whatever the order, docs/spec/rules.md §3.4); a conversation_id seen
 * twice counts once, as its last version in history order, at that version's
 * place. One pass files every id in a hash table (its last version, whether a
 * void names it), a second keeps the versions that are last and not voided:
 * linear in the history, however many versions and voids it holds.
 */
void eng_live_conversations(cd_engine *e, const cd_citizen *c)
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
		eng_oom();
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
cvrange eng_cv_range(const cd_engine *e, cd_date from, cd_date to, const endinfo *end)
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

bool eng_passes(const conv *cv, uint8_t held_by, uint8_t forms, bool need_joint)
{
	if (!(held_by & CD_BIT(cv->held_by)))
		return false;
	if (!(forms & CD_BIT(cv->form)))
		return false;
	if (need_joint && !(cv->joint && (cv->held_by == CD_JOBCENTER || cv->held_by == CD_OTHER_ACTOR)))
		return false;
	return true;
}

bool eng_qualifies(const conv *cv, const cd_obdef *d, uint8_t widen, bool need_joint)
{
	return eng_passes(cv, d->filter.held_by, (uint8_t)(d->filter.forms | widen), need_joint);
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
		eng_oom();
	l->key = key;
	l->n = 0;
	for (size_t i = 0; i < e->n_cv; i++)
		if (eng_passes(&e->cv[i], held_by, forms, joint))
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

void eng_qcur_open(cd_engine *e, qcur *q, const cd_obdef *d, uint8_t widen, bool joint, cvrange r)
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

bool eng_qcur_next(qcur *q, size_t *i)
{
	if (q->ix) {
		if (q->at >= q->end)
			return false;
		*i = q->ix[q->at++];
		return true;
	}
	while (q->at < q->end) {
		size_t k = q->at++;
		if (eng_passes(&q->cv[k], q->held_by, q->forms, q->joint)) {
			*i = k;
			return true;
		}
	}
	return false;
}

bool eng_before_end(const conv *cv, const endinfo *end)
{
	return end->ev < 0 || cv->ev < end->ev;
}


/* ---- why not (explain.c) -------------------------------------------------- */

/* eng_passes, saying which test fails; test_explain.c checks that the two agree. */
uint8_t eng_filter_why(const conv *cv, uint8_t held_by, uint8_t forms, bool need_joint)
{
	if (!(held_by & CD_BIT(cv->held_by)))
		return CD_WHY_HELD_BY;
	if (!(forms & CD_BIT(cv->form)))
		return CD_WHY_FORM;
	if (need_joint && !(cv->joint && (cv->held_by == CD_JOBCENTER || cv->held_by == CD_OTHER_ACTOR)))
		return CD_WHY_NOT_JOINT;
	return CD_WHY_COUNTED;
}

uint8_t eng_conv_fate(const cd_engine *e, size_t ev, size_t *ci, int *by)
{
	const cslot *s = &e->cs[e->cs_of[ev] - 1];
	size_t a = 0, b = e->n_cv;

	if (s->voided)
		return CD_WHY_VOIDED;
	if (s->last != (int)ev) {
		*by = s->last;
		return CD_WHY_SUPERSEDED;
	}
	while (a < b) {                     /* e->cv is in history order, whatever the dates */
		size_t m = a + (b - a) / 2;
		if (e->cv[m].ev < (int)ev)
			a = m + 1;
		else
			b = m;
	}
	*ci = a;
	return CD_WHY_COUNTED;
}
