/*
 * obligations.c — obligation instances: one evaluator per kind, the table of
 * kinds, and the evaluation of every period against its rulesets.
 *
 * Each eval_* turns one definition and one period into instances with a
 * status, window, due date, held count and the instants at which they would
 * change by themselves (breach, warning, opening); finalize decides the
 * status the same way for every kind.
 */
#include "state/engine_int.h"

#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "util/sb.h"

#define MAX_REPEATS 200             /* repeating windows and gaps per obligation */

static void fire_at(cd_engine *e, cd_instant when)
{
	if (when != CD_INSTANT_NONE && when > e->t && (e->next_fire == CD_INSTANT_NONE || when < e->next_fire))
		e->next_fire = when;
}

/* ---- instances ------------------------------------------------------------ */

static bool taken(const evctx *x, size_t i)
{
	return x->taken[i] == x->stamp;
}

/* Marks conversation i taken, and notes it for counts that leave taken ones out (taken_in). */
static void take(cd_engine *e, const evctx *x, size_t i)
{
	x->taken[i] = x->stamp;
	if (GROW(e->tk, e->n_tk, e->cap_tk, e->n_tk + 1) < 0)
		eng_oom();
	e->tk[e->n_tk].stamp = x->stamp;
	e->tk[e->n_tk++].ix = (uint32_t)i;
}

/* How many of the conversations of q's range that x took pass q's filter. */
static size_t taken_in(const cd_engine *e, const evctx *x, const qcur *q, cvrange r)
{
	size_t n = 0;
	for (size_t k = 0; k < e->n_tk; k++)
		n += e->tk[k].stamp == x->stamp && e->tk[k].ix >= r.lo && e->tk[k].ix < r.hi &&
		     eng_passes(&e->cv[e->tk[k].ix], q->held_by, q->forms, q->joint);
	return n;
}

static inst *inst_new(cd_engine *e, const evctx *x, const cd_obdef *def, const cd_obdef *rule,
		      const cd_ruleset *rs, int k)
{
	inst *in;
	if (GROW(e->in, e->n_in, e->cap_in, e->n_in + 1) < 0)
		eng_oom();
	in = &e->in[e->n_in++];
	/* all but the id buffer, a C string written below (zeroing its 100-odd bytes was most of the memset) */
	memset(in, 0, offsetof(inst, oid));
	in->paused = false;
	in->def = def;
	in->rule = rule;
	e->n_member_in += def->aggregate[0] != '\0';
	in->rs = rs;
	in->p = x->p;
	in->k = k;
	in->ws = in->we = in->due = CD_DATE_NONE;
	in->req = rule->required;
	in->cnt0 = e->n_counted;
	in->opened_at = in->breach_at = in->warn_lead_at = in->warn_pace_at = in->decided_at = CD_INSTANT_NONE;
	in->met_conv = -1;
	in->stamp = x->stamp;
	in->widen = x->widen;
	in->in_addition = x->in_addition;
	in->end = (endinfo){ -1, CD_DATE_NONE, 0 };
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
		eng_oom();
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
	cvrange r = eng_cv_range(e, from, to, end);
	qcur q;
	size_t i;

	eng_qcur_open(e, &q, d, x->widen, false, r);
	if (q.ix) {
		int held = in->held + (int)(q.end - q.at - (x->in_addition ? taken_in(e, x, &q, r) : 0));
		while (in->n_cnt < MAX_COUNTED_LIST && eng_qcur_next(&q, &i))
			if (!(x->in_addition && taken(x, i)))
				count_conv(e, in, i);
		in->held = held;
		return;
	}
	while (eng_qcur_next(&q, &i)) {
		const conv *cv = &e->cv[i];
		if (cv->date < from || (to != CD_DATE_NONE && cv->date > to) || !eng_before_end(cv, end) ||
		    (x->in_addition && taken(x, i)))
			continue;
		count_conv(e, in, i);
	}
}

static inline endinfo end_of(const evctx *x, const cd_obdef *rule)
{
	const period *p = x->p;
	endinfo end = { p->end_ev, p->end_date, p->end_reason };
	if (rule->joint && p->optout != CD_DATE_NONE && (end.ev < 0 || p->optout_ev < end.ev)) {
		end.ev = p->optout_ev;
		end.date = p->optout;
		end.reason = CD_CANCEL_OPTED_OUT;
	}
	if (x->cut.ev >= 0 && (end.ev < 0 || x->cut.ev <= end.ev))
		end = x->cut;
	return end;
}

/*
 * Is a share member of scope `scope` left out by an Exemption (rules.md §3.3)?
 * Its fate is the Exemption state on the last day of its window: exempted
 * from a date on or before it and not revoked by then. A paused member's
 * window has not ended, so every Exemption so far counts.
 */
static bool exempted(const cd_engine *e, const period *p, uint8_t scope, cd_date we)
{
	bool ex = false;
	for (size_t i = 0; i < p->n_ex; i++) {
		const exempt *x = &e->ex[p->ex0 + i];
		if (x->scope == scope && (we == CD_DATE_NONE || x->date <= we))
			ex = !x->revoked;
	}
	return ex;
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

	in->paused = paused;
	in->end = *end;
	in->due = paused ? CD_DATE_NONE : eff_due;
	if (in->def->aggregate[0] && !paused && eff_due != CD_DATE_NONE) {
		/* Decided at the start of D + 1 + grace, whatever its outcome (§4.1). */
		in->decided_at = cd_cph_midnight(eff_due + 1 + e->cfg.grace_days);
		fire_at(e, in->decided_at);
	}
	if (in->def->exempt_scope && in->p->n_ex &&
	    exempted(e, in->p, in->def->exempt_scope, paused ? CD_DATE_NONE : in->we != CD_DATE_NONE ? in->we : eff_due)) {
		/* Left out of the share: counted as decided and not met (§4.1), unless its period
		 * ended first, which takes it out of the share altogether. */
		bool ended = end->ev >= 0 && (paused || eff_due == CD_DATE_NONE ||
					       eff_due + 1 + e->cfg.grace_days > end->date);
		in->status = CD_OB_CANCELLED;
		in->reason = ended && !met ? end->reason : CD_CANCEL_EXEMPTED;
		return;
	}
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
		/* A share member is owed to no one citizen: its window ends LAPSED, not breached (§4.1). */
		in->status = in->def->aggregate[0] ? CD_OB_LAPSED : CD_OB_BREACHED;
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
	if (lead > 0 && eng_kind_of(in->rule->kind)->paces && in->ws != CD_DATE_NONE &&
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
	win w = eng_window_of(e, p, rule);
	endinfo end = end_of(x, rule);
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
		eng_qcur_open(e, &q, rule, x->widen, joint, eng_cv_range(e, w.ws, w.we, &end));
		while (eng_qcur_next(&q, &i)) {
			const conv *cv = &e->cv[i];
			if (cv->date < w.ws || (w.we != CD_DATE_NONE && cv->date > w.we) || !eng_before_end(cv, &end))
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
	endinfo end = end_of(x, def);
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
	endinfo end = end_of(x, def);
	bool cum = cd_obdef_cumulative(def, p->benefit);
	int every = cd_span_length(def->every, p->start);
	size_t cand[CD_MAX_SLOTS];
	int n_cand = 0;
	qcur q;
	size_t i;

	eng_qcur_open(e, &q, def, x->widen, false, eng_cv_range(e, p->start, CD_DATE_NONE, &end));
	while (n_cand < def->slots && eng_qcur_next(&q, &i)) {
		const conv *cv = &e->cv[i];
		if (cv->date >= p->start && eng_before_end(cv, &end))
			cand[n_cand++] = i;
	}
	for (int k = 1; k <= def->slots; k++) {
		int L = k * every;
		cd_date dk = cum ? eng_cum_date(e, p, L) : p->start + L - 1;
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
					eng_qualifies(cv, def, x->widen, true);
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
	endinfo end = end_of(x, def);
	int max_ord = 0, ord = 0;
	cd_date eff;
	bool met = false;
	inst *in;
	qcur q;
	size_t i;

	if (def->to.n) {
		win dw = eng_window_of(e, p, def);
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
	eng_qcur_open(e, &q, def, x->widen, false, eng_cv_range(e, p->start, CD_DATE_NONE, &end));
	while (ord < max_ord && eng_qcur_next(&q, &i)) {
		const conv *cv = &e->cv[i];
		if (cv->date < p->start || !eng_before_end(cv, &end))
			continue;
		ord++;
		if ((def->ordinals & CD_BIT(ord)) && eng_qualifies(cv, def, x->widen, true) &&
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
	endinfo end = end_of(x, def);
	bool cum = cd_obdef_cumulative(def, p->benefit);
	int g = cd_span_length(def->gap, p->start);
	cd_date ws, anchor;
	cd_instant opened = CD_INSTANT_NONE;

	if (def->gap_start == CD_GAP_AFTER_WINDOW) {
		int L = cd_span_length(def->start_after, p->start);
		cd_date r = cum ? eng_cum_date(e, p, L) : p->start + L - 1;
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
		due = eng_due_from(e, p, cum, anchor, g);
		in = inst_new(e, x, def, def, x->rs, k);
		in->opened_at = opened;
		in->ws = ws;
		in->we = due;
		qcur q;
		size_t i;
		eng_qcur_open(e, &q, def, x->widen, false, eng_cv_range(e, ws, due, &end));
		while (eng_qcur_next(&q, &i)) {
			const conv *cv = &e->cv[i];
			if (cv->date < ws || (due != CD_DATE_NONE && cv->date > due) || !eng_before_end(cv, &end))
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

/* ---- why a conversation did not count (explain.c) -------------------------- */

/*
 * One function per kind, next to its evaluator and making the same tests in
 * the same order, on what the evaluation left: the instance (its window, end,
 * context) and the conversations it counted. They change nothing.
 */
static eng_why why_is(uint8_t why)
{
	return (eng_why){ why, 0, NULL, -1 };
}

static bool counted_by(const cd_engine *e, const inst *in, size_t ci)
{
	for (size_t j = 0; j < in->n_cnt; j++)
		if ((size_t)e->counted[in->cnt0 + j] == ci)
			return true;
	return false;
}

/* The tests of a scan over [from, to] (NONE: open) before in's end, with in's filter. */
static uint8_t why_scan(const cd_engine *e, const inst *in, size_t ci, cd_date from, cd_date to, bool joint)
{
	const conv *cv = &e->cv[ci];
	if (from == CD_DATE_NONE)
		return CD_WHY_NO_WINDOW;
	if (cv->date < from)
		return CD_WHY_BEFORE_WINDOW;
	if (to != CD_DATE_NONE && cv->date > to)
		return CD_WHY_AFTER_WINDOW;
	if (!eng_before_end(cv, &in->end))
		return CD_WHY_AFTER_END;
	return eng_filter_why(cv, in->rule->filter.held_by, (uint8_t)(in->rule->filter.forms | in->widen), joint);
}

/* The joint instance of in's allocation, evaluated before in, that took ci (take() counts what it takes). */
static const inst *taker(const cd_engine *e, const inst *in, size_t ci)
{
	for (const inst *o = e->in; o < in; o++)
		if (o->p == in->p && o->stamp == in->stamp &&
		    (o->rule->kind == CD_JOINT_IN_WINDOW || o->rule->kind == CD_JOINT_AT_ORDINAL) && counted_by(e, o, ci))
			return o;
	return NULL;
}

/* How many conversations before ci pass a scan over [from, to]: its place among them, less one. */
static int passing_before(const cd_engine *e, const inst *in, size_t ci, cd_date from, cd_date to, bool joint)
{
	cvrange r = eng_cv_range(e, from, to, &in->end);   /* the stretch the scan itself covers */
	int n = 0;
	for (size_t j = r.lo; j < ci && j < r.hi; j++)
		n += why_scan(e, in, j, from, to, joint) == CD_WHY_COUNTED;
	return n;
}

static eng_why why_count(const cd_engine *e, const inst *in, size_t ci)
{
	eng_why w = why_is(CD_WHY_COUNTED);
	if (counted_by(e, in, ci) || (w.why = why_scan(e, in, ci, in->ws, in->we, false)))
		return w;
	if (in->in_addition) {
		w.by = taker(e, in, ci);
		if (w.by || in->n_cnt == (size_t)in->held)
			w.why = CD_WHY_TAKEN;      /* taken by a joint instance no longer reported when not found */
	}
	return w;                          /* else counted, past the MAX_COUNTED_LIST kept */
}

static eng_why why_window_kind(const cd_engine *e, const inst *in, size_t ci)
{
	const cd_obdef *rule = in->rule;
	bool joint = rule->kind == CD_JOINT_IN_WINDOW || rule->joint;
	eng_why w = why_is(CD_WHY_COUNTED);

	if (counted_by(e, in, ci) || (w.why = why_scan(e, in, ci, in->ws, in->we, joint)))
		return w;
	if (rule->kind == CD_JOINT_IN_WINDOW && (w.by = taker(e, in, ci))) {
		w.why = CD_WHY_TAKEN;
		return w;
	}
	/* Only the first candidate decides: the one counted, or (D15) one of the wrong form. */
	for (size_t j = eng_cv_range(e, in->ws, in->we, &in->end).lo; j < ci; j++) {
		if (why_scan(e, in, j, in->ws, in->we, joint) || (rule->kind == CD_JOINT_IN_WINDOW && taker(e, in, j)))
			continue;
		w.by_conv = (int)j;
		w.why = in->n_cnt ? CD_WHY_ALREADY_MET : CD_WHY_DECIDED;
		return w;
	}
	w.why = CD_WHY_FIRST_FORM;
	return w;
}

static eng_why why_schedule(const cd_engine *e, const inst *in, size_t ci)
{
	eng_why w = why_is(CD_WHY_COUNTED);
	if (counted_by(e, in, ci) || (w.why = why_scan(e, in, ci, in->p->start, CD_DATE_NONE, false)))
		return w;
	w.n = passing_before(e, in, ci, in->p->start, CD_DATE_NONE, false) + 1;
	if (w.n > in->rule->slots)
		w.why = CD_WHY_BEYOND_SLOTS;
	else if (w.n != in->k)
		w.why = CD_WHY_OTHER_SLOT;
	else if (in->we != CD_DATE_NONE && e->cv[ci].date > in->we)
		w.why = CD_WHY_LATE;
	else
		w.why = CD_WHY_NOT_JOINT;     /* the slot must be joint */
	return w;
}

static eng_why why_ordinal(const cd_engine *e, const inst *in, size_t ci)
{
	const cd_obdef *rule = in->rule;
	eng_why w = why_is(CD_WHY_COUNTED);
	int max_ord = 0;

	if (counted_by(e, in, ci) || (w.why = why_scan(e, in, ci, in->p->start, CD_DATE_NONE, false)))
		return w;
	for (int b = 15; b > 0 && !max_ord; b--)
		if (rule->ordinals & CD_BIT(b))
			max_ord = b;
	w.n = passing_before(e, in, ci, in->p->start, CD_DATE_NONE, false) + 1;
	if (in->n_cnt && (size_t)e->counted[in->cnt0] < ci) {
		w.why = CD_WHY_ALREADY_MET;
		w.by_conv = e->counted[in->cnt0];
	} else if (w.n > max_ord) {
		w.why = CD_WHY_AFTER_ORDINALS;
		w.n = max_ord;
	} else if (!(rule->ordinals & CD_BIT(w.n)))
		w.why = CD_WHY_WRONG_ORDINAL;
	else if (!eng_qualifies(&e->cv[ci], rule, in->widen, true))
		w.why = CD_WHY_NOT_JOINT;
	else if (in->we != CD_DATE_NONE && e->cv[ci].date > in->we)
		w.why = CD_WHY_AFTER_WINDOW;
	else {
		w.why = CD_WHY_TAKEN;
		w.by = taker(e, in, ci);
	}
	return w;
}

static eng_why why_gap(const cd_engine *e, const inst *in, size_t ci)
{
	eng_why w = why_is(CD_WHY_COUNTED);
	if (counted_by(e, in, ci) || (w.why = why_scan(e, in, ci, in->ws, in->we, false)))
		return w;
	w.why = CD_WHY_ALREADY_MET;        /* the first in the gap met it */
	w.by_conv = in->met_conv;
	return w;
}

eng_why eng_why_not(const cd_engine *e, const inst *in, size_t ci)
{
	const ob_kind *k = eng_kind_of(in->rule->kind);
	return k->why ? k->why(e, in, ci) : why_is(CD_WHY_COUNTED);
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
	[0] = { "?", false, CD_KIND_DEADLINE, false, false, NULL, NULL, NULL },
	[CD_FIRST_WITHIN] = { "FIRST_WITHIN", false, CD_KIND_DEADLINE, false, false, need_window_to,
			      eval_window_kind, why_window_kind },
	[CD_COUNT_IN_WINDOW] = { "COUNT_IN_WINDOW", false, CD_KIND_DEADLINE, true, true, need_count, eval_count,
				 why_count },
	[CD_JOINT_IN_WINDOW] = { "JOINT_IN_WINDOW", true, CD_KIND_DEADLINE, false, false, need_window_to,
				 eval_window_kind, why_window_kind },
	[CD_JOINT_AT_ORDINAL] = { "JOINT_AT_ORDINAL", true, CD_KIND_DEADLINE, false, false, need_ordinals,
				  eval_ordinal, why_ordinal },
	[CD_SCHEDULE] = { "SCHEDULE", false, CD_KIND_CADENCE, false, false, need_slots, eval_schedule, why_schedule },
	[CD_MAX_GAP] = { "MAX_GAP", false, CD_KIND_CADENCE, false, false, need_gap, eval_gaps, why_gap },
};
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))
_Static_assert(N_KINDS == CD_OB_KIND_MAX + 1, "one row per obligation kind");

/* The row of a kind; row 0 (no kind: a mirror's own definition) for anything else. */
const ob_kind *eng_kind_of(int kind)
{
	return kind > 0 && (size_t)kind < N_KINDS ? &kinds[kind] : &kinds[0];
}

const char *cd_ob_kind_name(int kind)
{
	return eng_kind_of(kind)->name;
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
	return eng_kind_of(kind)->joint;
}

const char *cd_ob_kind_check(const cd_obdef *d, const char **field)
{
	const ob_kind *k = eng_kind_of(d->kind);
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
				/* The national obligation of that name that applies to this period
				 * (one name may have different terms per group, rules_json.c exclusive()). */
				rule = NULL;
				for (size_t j = 0; national && j < national->n_obs && !rule; j++)
					if (!strcmp(national->obs[j].name, d->mirror) &&
					    cd_obdef_applies(&national->obs[j], x->benefit, x->category, p->by_registration,
							     p->flags))
						rule = &national->obs[j];
				if (!rule || replaced(ovl, n_ovl, rule->name))
					continue;
			}
			if ((pass == 0) != eng_kind_of(rule->kind)->joint)
				continue;
			if (!cd_obdef_applies(rule, x->benefit, x->category, p->by_registration, p->flags))
				continue;
			if (x->transition && rule->registration_only)
				continue;
			if (!rs->overlay && replaced(ovl, n_ovl, d->name))
				continue;
			if (!rs->overlay && !x->transition && n_ovl) {
				/* An overlay may lift national obligations of a kind, or make them members of
				 * its aggregates (frikommune-nordjylland, D21); not those of a later law
				 * reaching the running period (D42: overlays follow the period start). */
				const cd_obdef *m;
				if (cd_rules_lifted(ovl, n_ovl, rule->kind))
					continue;
				if ((m = cd_rules_national_member(ovl, n_ovl, d, x->benefit)))
					d = rule = m;
			}
			if (d->mirror[0] && x->national) {
				/* Computed as the national obligation is, in its allocation (D17). */
				evctx mx = *x->national;
				mx.rs = rs;
				mx.first_inst = x->first_inst;
				mx.cut = x->cut;           /* overlays keep to the period (a law change is national) */
				eng_kind_of(rule->kind)->eval(e, &mx, d, rule);
			} else
				eng_kind_of(rule->kind)->eval(e, x, d, rule);
		}
}

/*
 * The law that reaches a running period on its commencement (--law-transition
 * commencement, rules.md §5 dk-2026 "Transition"): the next national
 * ruleset after the period's own, when it says its transition is
 * configurable, gives this benefit obligations at all, and the period is
 * still running at the start of its first day. NULL otherwise.
 */
const cd_ruleset *eng_law_reaching(const cd_engine *e, const cd_ruleset *nat, const period *p)
{
	const cd_ruleset *next;
	if (e->cfg.law_transition != CD_LAW_COMMENCEMENT || !nat)
		return NULL;
	next = cd_rules_national_after(e->rules, nat);
	if (!next || !next->transition || p->start >= next->from)
		return NULL;
	if (next->no_obligations & CD_BIT(cd_rules_merged_benefit(e->rules, p->benefit, next->from)))
		return NULL;             /* running courses keep the old law's obligations */
	if (p->end_ev >= 0 && p->end_date < next->from)
		return NULL;
	return next;
}

/* The first history entry at or after instant t (c->n_ev when none): where a cut falls. */
static int first_at_or_after(const cd_citizen *c, cd_instant t)
{
	size_t a = 0, b = c->n_ev;
	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (c->ev[m].occurred < t)
			a = m + 1;
		else
			b = m;
	}
	return (int)a;
}

/*
 * The new law's obligations of a period it reached while running: with the
 * period's own anchors, for the benefit the period has become by then, in
 * their own allocation; not those that open on a Registration (the person
 * is long in contact), nor those whose window had ended before the law began.
 */
static void eval_transition(cd_engine *e, const period *p, const cd_ruleset *next, const cd_ruleset *const *ovl,
			    size_t n_ovl, uint8_t widen)
{
	size_t from = e->n_in, keep = e->n_in;
	evctx nx = { .p = p, .rs = next, .benefit = (uint8_t)cd_rules_merged_benefit(e->rules, p->benefit, next->from),
		     .cut = { -1, CD_DATE_NONE, 0 }, .transition = true, .widen = widen, .taken = e->taken_nat,
		     .stamp = ++e->gen, .in_addition = next->joint_in_addition };

	nx.category = p->category ? p->category : next->default_category;
	eval_ruleset(e, &nx, next, ovl, n_ovl, next);
	for (size_t i = from; i < e->n_in; i++)
		if (e->in[i].we == CD_DATE_NONE || e->in[i].we >= next->from)
			e->in[keep++] = e->in[i];
	e->n_in = keep;
}

void eng_evaluate(cd_engine *e, const cd_citizen *c, cd_instant t)
{
	e->t = t;
	e->next_fire = CD_INSTANT_NONE;
	e->c = c;
	e->n_in = 0;
	e->n_member_in = 0;
	e->n_counted = 0;
	eng_derive_periods(e, c);
	eng_index_intervals(e);
	eng_live_conversations(e, c);
	e->n_ql = 0;
	if (e->n_cv > e->cap_taken || (uint64_t)e->gen + (e->n_per + 1) * (CD_MAX_OVERLAYS + 2) > UINT32_MAX) {
		/* Zeroed, and stamps start again: no stale stamp can equal a new one. */
		size_t n = e->n_cv > e->cap_taken ? e->n_cv * 2 : e->cap_taken + 16;
		free(e->taken_nat);
		free(e->taken_cur);
		e->taken_nat = calloc(n, sizeof(*e->taken_nat));
		e->taken_cur = calloc(n, sizeof(*e->taken_cur));
		if (!e->taken_nat || !e->taken_cur)
			eng_oom();
		e->cap_taken = n;
		e->gen = 0;
	}
	for (size_t pi = 0; pi < e->n_per; pi++) {
		const period *p = &e->per[pi];
		const cd_ruleset *nat = cd_rules_national(e->rules, p->start);
		const cd_ruleset *next = eng_law_reaching(e, nat, p);
		const cd_ruleset *ovl[CD_MAX_OVERLAYS];
		size_t n_ovl = cd_rules_overlays(e->rules, p->muni, p->benefit, p->start, p->seasonal, ovl,
						 CD_MAX_OVERLAYS);
		uint8_t widen = 0;
		evctx x = { .p = p, .benefit = p->benefit, .cut = { -1, CD_DATE_NONE, 0 } };

		for (size_t i = 0; i < n_ovl; i++)
			widen |= ovl[i]->widen_forms;
		e->n_tk = 0;             /* takes are per period (their stamps are) */
		if (next) {
			cd_instant at = cd_cph_midnight(next->from);
			if (e->t >= at)
				x.cut = (endinfo){ first_at_or_after(e->c, at), next->from, CD_CANCEL_LAW_CHANGED };
			else {
				fire_at(e, at);
				next = NULL;
			}
		}
		if (nat) {
			/* A fresh stamp instead of clearing the marks: a period costs what it uses. */
			x.rs = nat;
			x.category = p->category ? p->category : nat->default_category;
			x.widen = widen;
			x.taken = e->taken_nat;
			x.stamp = ++e->gen;
			x.in_addition = nat->joint_in_addition;
			eval_ruleset(e, &x, nat, ovl, n_ovl, nat);
		}
		if (next)
			eval_transition(e, p, next, ovl, n_ovl, widen);
		for (size_t i = 0; i < n_ovl; i++) {
			evctx ox = { .p = p, .rs = ovl[i], .benefit = p->benefit, .category = x.category,
				     .cut = { -1, CD_DATE_NONE, 0 }, .taken = e->taken_cur, .stamp = ++e->gen,
				     .in_addition = ovl[i]->joint_in_addition, .national = nat ? &x : NULL };
			eval_ruleset(e, &ox, ovl[i], ovl, n_ovl, nat);
		}
	}
}
