/*
 * explain.c — the engine's evaluation of one citizen, described (explain.h).
 *
 * Nothing here decides anything. It runs eng_evaluate, the evaluation every
 * apply and advance runs, with one recording hook set (e->fx: what each
 * history entry did to the periods), then reads what the evaluation left in
 * the engine's scratch: the periods, the live conversations, the instances
 * with their windows, counts, statuses, ends and allocation contexts. Why a
 * conversation did not count is asked of its kind's own function next to its
 * evaluator (eng_why_not, obligations.c). What is not an evaluation result
 * (why a ruleset governs, why an overlay does or does not apply, why a
 * definition opened nothing, what an Exemption changed) is said from the same
 * selection calls the evaluation makes (cd_rules_national, cd_rules_overlays,
 * eng_law_reaching, cd_obdef_applies, eng_window_of).
 */
#include "state/explain.h"
#include "state/engine_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names ------------------------------------------------------------------ */

static const char *const why_names[] = { "COUNTED", "VOIDED", "SUPERSEDED", "NO_WINDOW", "BEFORE_WINDOW",
					 "AFTER_WINDOW", "AFTER_END", "HELD_BY", "FORM", "NOT_JOINT", "TAKEN",
					 "ALREADY_MET", "FIRST_FORM", "DECIDED", "OTHER_SLOT", "BEYOND_SLOTS", "LATE",
					 "WRONG_ORDINAL", "AFTER_ORDINALS" };
static const char *const fx_names[] = { "NONE", "STARTED", "ENDED", "SHIFTED", "PAUSED", "RESUMED", "ALREADY",
					"CATEGORY", "RENAMED", "EXEMPTION", "IGNORED" };
static const char *const status_names[] = { "?", "OPEN", "PAUSED", "MET", "BREACHED", "CANCELLED", "LAPSED" };

_Static_assert(sizeof(why_names) / sizeof(why_names[0]) == CD_WHY_MAX + 1, "a name per why");
_Static_assert(sizeof(fx_names) / sizeof(fx_names[0]) == CD_FX_MAX + 1, "a name per effect");
_Static_assert(sizeof(status_names) / sizeof(status_names[0]) == CD_OB_LAPSED + 1, "a name per status");

const char *cd_why_name(int why)
{
	return why >= 0 && why <= CD_WHY_MAX ? why_names[why] : "?";
}

const char *cd_fx_name(int fx)
{
	return fx >= 0 && fx <= CD_FX_MAX ? fx_names[fx] : "?";
}

const char *cd_obstatus_name(int status)
{
	return status >= 1 && status <= CD_OB_LAPSED ? status_names[status] : "?";
}

/* ---- the explanation's arrays ---------------------------------------------------- */

void cd_explanation_init(cd_explanation *x)
{
	memset(x, 0, sizeof(*x));
}

void cd_explanation_release(cd_explanation *x)
{
	free(x->tl);
	free(x->per);
	free(x->iv);
	free(x->ovl);
	free(x->ob);
	free(x->nop);
	free(x->conv);
	free(x->ex);
	free(x->gone);
	cd_explanation_init(x);
}

/* A new zeroed element at the end of an array; NULL when out of memory. */
#define PUSH(arr, n, cap) \
	(GROW(arr, n, cap, (n) + 1) < 0 ? NULL : memset(&(arr)[(n)++], 0, sizeof(*(arr))))

/* ---- sentences --------------------------------------------------------------------- */

typedef struct say {
	char *p;
	size_t cap, n;
} say;

static say say_on(char *p, size_t cap)
{
	p[0] = '\0';
	return (say){ p, cap, 0 };
}

/* Cuts a character that a full buffer split, so that a sentence stays UTF-8 (JSON needs it). */
static void utf8_tidy(char *p, size_t *n)
{
	size_t i = *n, back = 0;
	unsigned char lead;
	while (i > 0 && back < 4 && ((unsigned char)p[i - 1] & 0xC0) == 0x80) {
		i--;
		back++;
	}
	if (i == 0)
		return;
	lead = (unsigned char)p[i - 1];
	if (lead >= 0xC0) {
		size_t want = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : 1;
		if (back < want) {
			*n = i - 1;
			p[*n] = '\0';
		}
	}
}

static void sayf(say *s, const char *fmt, ...) CD_PRINTF(2, 3);
static void sayf(say *s, const char *fmt, ...)
{
	va_list ap;
	int k;
	if (s->n + 1 >= s->cap)
		return;
	va_start(ap, fmt);
	k = vsnprintf(s->p + s->n, s->cap - s->n, fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	if (s->n + (size_t)k < s->cap)
		s->n += (size_t)k;
	else {
		s->n = s->cap - 1;
		utf8_tidy(s->p, &s->n);
	}
}

/* Dates for sentences: "none" for NONE. */
static const char *D(cd_date d, char buf[CD_DATE_STRLEN])
{
	if (d == CD_DATE_NONE)
		return strcpy(buf, "none");
	return cd_date_format(d, buf);
}

/* "IN_PERSON, PHONE" from a bit set of forms (or held_by, with names = cd_held_by_name). */
static const char *bits(uint8_t set, int max, const char *(*name)(int), char *buf, size_t len)
{
	say s = say_on(buf, len);
	for (int b = 1; b <= max; b++)
		if (set & CD_BIT(b))
			sayf(&s, "%s%s", s.n ? ", " : "", name(b));
	if (!s.n)
		sayf(&s, "none");
	return buf;
}

static const char *ev_id(const cd_citizen *c, long ev)
{
	return ev >= 0 && (size_t)ev < c->n_ev ? cd_citizen_str(c, c->ev[ev].id_off) : "";
}

static const char *conv_id(const cd_citizen *c, long ev)
{
	return ev >= 0 && (size_t)ev < c->n_ev ? cd_citizen_str(c, c->ev[ev].conv_off) : "";
}

static const char *ordinal(int n, char *buf, size_t len)
{
	const char *suf = (n % 100 >= 11 && n % 100 <= 13) ? "th" : n % 10 == 1 ? "st" : n % 10 == 2 ? "nd"
					: n % 10 == 3 ? "rd" : "th";
	snprintf(buf, len, "%d%s", n, suf);
	return buf;
}

/* ---- the evaluation's context, as the evaluation chose it ---------------------------- */

typedef struct ctx {
	cd_engine *e;
	const cd_citizen *c;
	cd_explanation *x;
	cd_err *err;
	const uint8_t *fx;       /* what each history entry did (the hook's record) */
} ctx;

static int oom(ctx *k)
{
	return cd_err_set(k->err, 0, "out of memory explaining a citizen");
}

static long period_index(const cd_engine *e, const period *p)
{
	return p ? (long)(p - e->per) : -1;
}

/* The period running at history entry i (paused included): the one it started before and did not end by. */
static long running_at(const cd_engine *e, size_t i)
{
	for (size_t pi = 0; pi < e->n_per; pi++) {
		const period *p = &e->per[pi];
		if ((size_t)p->start_ev < i && (p->end_ev < 0 || (size_t)p->end_ev > i))
			return (long)pi;
	}
	return -1;
}

static bool replaced_by(const cd_ruleset *const *ovl, size_t n, const char *name, const cd_ruleset **by)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < ovl[i]->n_replaces; j++)
			if (!strcmp(ovl[i]->replaces[j], name)) {
				*by = ovl[i];
				return true;
			}
	return false;
}

static const cd_merge *merge_of(const cd_rules *r, int benefit, int into)
{
	for (size_t i = 0; i < cd_rules_merge_count(r); i++) {
		const cd_merge *m = cd_rules_merge_at(r, i);
		if (m->benefit == benefit && m->into == into)
			return m;
	}
	return NULL;
}

static bool muni_enabled(const cd_rules *r, const cd_ruleset *ovl, const char *muni)
{
	const char *m[64];
	size_t n = cd_rules_enabled_for(r, ovl, m, 64);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(m[i], muni))
			return true;
	return false;
}

/* "periods starting 2020-01-01 … 2023-12-31" */
static void say_effective(say *s, const cd_ruleset *rs)
{
	char a[CD_DATE_STRLEN], b[CD_DATE_STRLEN];
	if (rs->to == CD_DATE_NONE)
		sayf(s, "periods starting %s … (open)", D(rs->from, a));
	else
		sayf(s, "periods starting %s … %s", D(rs->from, a), D(rs->to, b));
}

/* ---- periods ------------------------------------------------------------------------ */

/* Why the national ruleset (and a law reaching the period) governs; the overlays enabled for its municipality. */
static int period_rules(ctx *k, const period *p, cd_xperiod *xp, const cd_ruleset *const *ovl, size_t n_ovl)
{
	cd_engine *e = k->e;
	cd_explanation *x = k->x;
	const cd_rules *r = e->rules;
	const cd_ruleset *nat = xp->national;
	char a[CD_DATE_STRLEN], b[CD_DATE_STRLEN];
	say s = say_on(xp->rules_why, sizeof(xp->rules_why));

	if (!nat) {
		cd_rules_national_gap(r, p->start, xp->rules_why, sizeof(xp->rules_why));
		s.n = strlen(xp->rules_why);
	} else {
		sayf(&s, "%s (version %d, %s) governs ", nat->id, nat->version, nat->title ? nat->title : "");
		say_effective(&s, nat);
		sayf(&s, ", and this period starts %s: a period keeps the law in force on its start", D(p->start, a));
		if (xp->law) {
			sayf(&s, "; with --law-transition commencement %s %s this running period on %s: %s's "
				 "undecided obligations end there (LAW_CHANGED) and %s's open with the period's own anchors",
			     xp->law->id, xp->law_cut ? "reached" : "will reach", D(xp->law->from, a), nat->id,
			     xp->law->id);
		} else {
			const cd_ruleset *next = cd_rules_national_after(r, nat);
			cd_date now = cd_cph_date(x->at);
			if (next && next->from <= now && (p->end_ev < 0 || p->end_date >= next->from))
				sayf(&s, "; %s began on %s while it ran, and it stays on %s%s", next->id,
				     D(next->from, b), nat->id,
				     next->transition ? " (--law-transition period-start)" : "");
		}
	}
	/* every overlay enabled for the municipality, applying or not */
	xp->ov0 = x->n_ovl;
	for (size_t i = 0; p->muni[0] && i < cd_rules_count(r); i++) {
		const cd_ruleset *rs = cd_rules_at(r, i);
		cd_xovl *o;
		bool applies = false;
		say w;
		char f[96];

		if (!rs->overlay || !muni_enabled(r, rs, p->muni))
			continue;
		for (size_t j = 0; j < n_ovl; j++)
			applies |= ovl[j] == rs;
		if (!(o = PUSH(x->ovl, x->n_ovl, x->cap_ovl)))
			return oom(k);
		o->rs = rs;
		o->applies = applies;
		w = say_on(o->why, sizeof(o->why));
		sayf(&w, "enabled for municipality %s; ", p->muni);
		if (applies) {
			sayf(&w, "applies to ");
			say_effective(&w, rs);
			for (int bn = 1, n = 0; rs->benefits && bn <= CD_BENEFIT_MAX; bn++)
				if (rs->benefits & CD_BIT(bn))
					sayf(&w, "%s%s", n++ ? ", " : " of ", cd_benefit_name(bn));
			for (size_t j = 0; j < rs->n_replaces; j++)
				sayf(&w, "%s%s/%s", j ? ", " : "; replaces ", nat ? nat->id : "national", rs->replaces[j]);
			if (rs->widen_forms)
				sayf(&w, "; widens the national filters by %s",
				     bits(rs->widen_forms, CD_FORM_MAX, cd_form_name, f, sizeof(f)));
			for (int kd = 1; kd <= CD_OB_KIND_MAX; kd++)
				if (rs->lifts_kinds & CD_BIT(kd))
					sayf(&w, "; lifts the national %s obligations", cd_ob_kind_name(kd));
			if (rs->members_kind)
				sayf(&w, "; makes national %s counts of %d or more members of its %s",
				     cd_ob_kind_name(rs->members_kind), rs->members_min_required, rs->members_of);
		} else if (p->start < rs->from || (rs->to != CD_DATE_NONE && p->start > rs->to)) {
			sayf(&w, "does not apply: it covers ");
			say_effective(&w, rs);
			sayf(&w, ", and this period starts %s", D(p->start, a));
		} else if (rs->benefits && !(rs->benefits & CD_BIT(p->benefit)))
			sayf(&w, "does not apply: not for %s", cd_benefit_name(p->benefit));
		else if (rs->seasonal >= 0 && rs->seasonal != (int)p->seasonal)
			sayf(&w, "does not apply: only for %s periods", rs->seasonal ? "seasonal" : "non-seasonal");
		else
			sayf(&w, "does not apply: more overlays apply than a period takes (%d)", CD_MAX_OVERLAYS);
		o->why[sizeof(o->why) - 1] = '\0';
	}
	xp->n_ov = x->n_ovl - xp->ov0;
	return 0;
}

/* The merge that mapped or renamed the period's benefit, its default category, a benefit given nothing. */
static void period_benefit(ctx *k, const period *p, cd_xperiod *xp)
{
	const cd_rules *r = k->e->rules;
	char a[CD_DATE_STRLEN], b[CD_DATE_STRLEN];
	say s = say_on(xp->benefit_why, sizeof(xp->benefit_why));

	if (xp->named != p->benefit && (xp->merge = merge_of(r, xp->named, p->benefit)))
		sayf(&s, "the input that started it named %s, which is processed as %s from %s (%s)",
		     cd_benefit_name(xp->named), cd_benefit_name(p->benefit), D(xp->merge->from, a),
		     xp->merge->legal_ref ? xp->merge->legal_ref : "");
	if (p->shown_from != CD_DATE_NONE) {
		const cd_merge *m = merge_of(r, p->benefit, p->shown_benefit);
		if (m)
			xp->merge = m;
		sayf(&s, "%sfrom %s an input named it %s: %s is paid as %s from %s (%s); a category change, not a "
			 "benefit shift, so nothing restarted, and outputs name %s from then on",
		     s.n ? "; " : "", D(p->shown_from, a), cd_benefit_name(p->shown_benefit), cd_benefit_name(p->benefit),
		     cd_benefit_name(p->shown_benefit), m ? D(m->from, b) : "its date",
		     m && m->legal_ref ? m->legal_ref : "", cd_benefit_name(p->shown_benefit));
	}
	if (!p->category && xp->category_used)
		sayf(&s, "%sno category given: %s treats the period as %s (its default category)", s.n ? "; " : "",
		     xp->national ? xp->national->id : "the ruleset", cd_category_name(xp->category_used));
	if (xp->national && (xp->national->no_obligations & CD_BIT(p->benefit)))
		sayf(&s, "%s%s gives %s no obligations: %s", s.n ? "; " : "", xp->national->id,
		     cd_benefit_name(p->benefit), xp->national->no_obligations_why);
}

/* ---- definitions that opened nothing --------------------------------------------------- */

static bool has_instance(const cd_engine *e, const period *p, const cd_obdef *d)
{
	for (size_t i = 0; i < e->n_in; i++)
		if (e->in[i].p == p && (e->in[i].rule == d || !strcmp(e->in[i].def->id, d->id)))
			return true;
	return false;
}

/*
 * Why definition d of ruleset rs opened nothing in period p: eval_ruleset's
 * tests in its order, then the evaluators' own reasons to open nothing
 * (joint_waived, a window ended before the first registration, a gap or
 * window not begun). 0 when it does not concern the period's benefit.
 */
static int why_not_opened(ctx *k, const period *p, const cd_ruleset *rs, const cd_obdef *d,
			  const cd_ruleset *const *ovl, size_t n_ovl, uint8_t benefit, uint8_t category, bool transition,
			  const cd_ruleset *national, char *buf, size_t len)
{
	cd_engine *e = k->e;
	const cd_obdef *rule = d;
	const cd_ruleset *by;
	char a[CD_DATE_STRLEN], f[96];
	say s = say_on(buf, len);

	if (d->mirror[0]) {
		rule = NULL;
		for (size_t j = 0; national && j < national->n_obs && !rule; j++)
			if (!strcmp(national->obs[j].name, d->mirror) &&
			    cd_obdef_applies(&national->obs[j], benefit, category, p->by_registration, p->flags))
				rule = &national->obs[j];
		if (!rule)
			return 0;
		if (replaced_by(ovl, n_ovl, rule->name, &by)) {
			sayf(&s, "the national %s it follows is replaced by %s", rule->name, by->id);
			return 1;
		}
	}
	if (rule->benefits && !(rule->benefits & CD_BIT(benefit)))
		return 0;
	if (has_instance(e, p, d) || has_instance(e, p, rule))
		return 0;
	if ((p->flags & rule->flags_set) != rule->flags_set)
		sayf(&s, "only for periods whose starting input says %s",
		     (rule->flags_set & ~p->flags & CD_PF_COURSE) ? "municipal_contact_course" : "sick_short_absence_expected");
	else if (p->flags & rule->flags_clear)
		sayf(&s, "not for periods whose starting input says %s",
		     (p->flags & rule->flags_clear & CD_PF_COURSE) ? "municipal_contact_course" : "sick_short_absence_expected");
	else if (rule->categories && !(rule->categories & CD_BIT(category)))
		sayf(&s, "only for category %s, and the period's is %s",
		     bits(rule->categories, CD_CATEGORY_MAX, cd_category_name, f, sizeof(f)),
		     category ? cd_category_name(category) : "none");
	else if (rule->registration_only && !p->by_registration)
		sayf(&s, "opens on a Registration only, and this period began with a BenefitChange (the person is "
			 "already in contact)");
	else if (transition && rule->registration_only)
		sayf(&s, "not opened for a running period a later law reached (it opens on a Registration)");
	else if (!rs->overlay && replaced_by(ovl, n_ovl, d->name, &by))
		sayf(&s, "replaced by overlay %s", by->id);
	else if (!rs->overlay && !transition && n_ovl && cd_rules_lifted(ovl, n_ovl, rule->kind)) {
		for (size_t i = 0; i < n_ovl; i++)
			if (ovl[i]->lifts_kinds & CD_BIT(rule->kind)) {
				sayf(&s, "lifted by overlay %s (its %s obligations are not opened)", ovl[i]->id,
				     cd_ob_kind_name(rule->kind));
				break;
			}
	} else {
		win w = eng_window_of(e, p, rule);
		if ((rule->kind == CD_FIRST_WITHIN || rule->kind == CD_COUNT_IN_WINDOW ||
		     rule->kind == CD_JOINT_IN_WINDOW) && !rule->repeat_months && w.skip)
			sayf(&s, "its window had ended before the first Registration seen (%d days carried over)",
			     p->prior);
		else if (rule->joint && p->optin == CD_DATE_NONE)
			sayf(&s, "waived: the citizen opted out of a-kasse participation (D6)");
		else if (rule->joint && w.we != CD_DATE_NONE && w.we < p->optin)
			sayf(&s, "waived: opted in only on %s, after its window ended", D(p->optin, a));
		else if (transition)
			sayf(&s, "its window ended before the law that reached the period began");
		else if (rule->kind == CD_MAX_GAP && rule->gap_start == CD_GAP_AFTER_MET)
			sayf(&s, "its first gap runs from the conversation that meets %s, which is not met", rule->start_ref);
		else if (rule->kind == CD_MAX_GAP)
			sayf(&s, "its first gap has not begun (it begins after %s)",
			     cd_span_format(rule->start_after, f, sizeof(f)));
		else if (rule->kind == CD_SCHEDULE)
			sayf(&s, "its slots fell before the first Registration seen (%d days carried over)", p->prior);
		else
			sayf(&s, "nothing to open at this instant");
	}
	return 1;
}

static int not_opened(ctx *k, const period *p, cd_xperiod *xp, const cd_ruleset *rs, const cd_ruleset *const *ovl,
		      size_t n_ovl, uint8_t benefit, uint8_t category, bool transition, const cd_ruleset *national)
{
	cd_explanation *x = k->x;
	for (size_t i = 0; i < rs->n_obs; i++) {
		cd_xnot tmp;
		cd_xnot *n;
		if (!why_not_opened(k, p, rs, &rs->obs[i], ovl, n_ovl, benefit, category, transition, national, tmp.why,
				    sizeof(tmp.why)))
			continue;
		if (!(n = PUSH(x->nop, x->n_nop, x->cap_nop)))
			return oom(k);
		memcpy(n->why, tmp.why, sizeof(n->why));
		n->def = &rs->obs[i];
		n->rs = rs;
		xp->n_no++;
	}
	return 0;
}

/* ---- obligations ---------------------------------------------------------------------- */

/* The sentence for one conversation as instance `in` saw it. */
static void conv_note(ctx *k, const inst *in, cd_xconv *xc)
{
	const cd_citizen *c = k->c;
	const cd_obdef *rule = in->rule;
	const cd_hev *h = &c->ev[xc->ev];
	char a[CD_DATE_STRLEN], f[96], o[16];
	say s = say_on(xc->note, sizeof(xc->note));

	switch (xc->why) {
	case CD_WHY_COUNTED:
		sayf(&s, "counted");
		break;
	case CD_WHY_VOIDED:
		sayf(&s, "not counted: voided (a void with its conversation_id withdraws every version)");
		break;
	case CD_WHY_SUPERSEDED:
		sayf(&s, "not counted: replaced by a later version with the same conversation_id (event %s)",
		     ev_id(c, xc->by_ev));
		break;
	case CD_WHY_NO_WINDOW:
		sayf(&s, "not counted: the window has no start yet (off the register, the cumulative clock stands "
			 "still)");
		break;
	case CD_WHY_BEFORE_WINDOW:
		sayf(&s, "not counted: before the window, which opens %s", D(in->ws, a));
		break;
	case CD_WHY_AFTER_WINDOW:
		sayf(&s, "not counted: after the window, which ended %s", D(in->we, a));
		break;
	case CD_WHY_AFTER_END:
		if (in->end.reason == CD_CANCEL_OPTED_OUT)
			sayf(&s, "not counted: after the opt-out of a-kasse participation on %s (event %s)",
			     D(in->end.date, a), ev_id(c, in->end.ev));
		else if (in->end.reason == CD_CANCEL_LAW_CHANGED)
			sayf(&s, "not counted: after a later law took over the period on %s", D(in->end.date, a));
		else
			sayf(&s, "not counted: after the period ended (%s on %s, event %s)",
			     cd_cancel_reason_name(in->end.reason), D(in->end.date, a), ev_id(c, in->end.ev));
		break;
	case CD_WHY_HELD_BY:
		sayf(&s, "not counted: held by %s, and it takes only %s", cd_held_by_name(h->held_by),
		     bits(rule->filter.held_by, CD_HELD_MAX, cd_held_by_name, f, sizeof(f)));
		break;
	case CD_WHY_FORM:
		sayf(&s, "not counted: form %s, and it takes only %s", cd_form_name(h->form),
		     bits((uint8_t)(rule->filter.forms | in->widen), CD_FORM_MAX, cd_form_name, f, sizeof(f)));
		break;
	case CD_WHY_NOT_JOINT:
		sayf(&s, "not counted: not joint (it needs the a-kasse taking part in a job-centre conversation)");
		break;
	case CD_WHY_TAKEN:
		if (xc->by_ob >= 0 && rule->kind != CD_COUNT_IN_WINDOW)
			sayf(&s, "not counted: taken by %s (each joint obligation takes the earliest joint conversation "
				 "no other took, rules.md §4)", k->x->ob[xc->by_ob].oid);
		else if (xc->by_ob >= 0)
			sayf(&s, "not counted: taken by %s, and %s's joint conversations come in addition to its counts "
				 "(rules.md §4)", k->x->ob[xc->by_ob].oid, in->rs->id);
		else
			sayf(&s, "not counted: taken by a joint obligation of the same ruleset (rules.md §4)");
		break;
	case CD_WHY_ALREADY_MET:
		sayf(&s, "not needed: %s on %s met it, and only one counts", conv_id(c, xc->by_ev),
		     xc->by_ev >= 0 ? D(c->ev[xc->by_ev].date, a) : "?");
		break;
	case CD_WHY_FIRST_FORM:
		sayf(&s, "not counted: the first conversation decides and must be %s (D15); this one, %s, decided it "
			 "unmet on %s", bits(rule->first_must_forms, CD_FORM_MAX, cd_form_name, f, sizeof(f)),
		     cd_form_name(h->form), D(h->date, a));
		break;
	case CD_WHY_DECIDED:
		sayf(&s, "not counted: the first conversation (%s on %s) had already decided it (D15)",
		     conv_id(c, xc->by_ev), xc->by_ev >= 0 ? D(c->ev[xc->by_ev].date, a) : "?");
		break;
	case CD_WHY_OTHER_SLOT:
		sayf(&s, "the period's %s qualifying conversation: slot %d's", ordinal(xc->n, o, sizeof(o)), xc->n);
		break;
	case CD_WHY_BEYOND_SLOTS:
		sayf(&s, "the period's %s qualifying conversation: after the last slot", ordinal(xc->n, o, sizeof(o)));
		break;
	case CD_WHY_LATE:
		sayf(&s, "not counted: this slot's conversation, but held after its due date %s", D(in->we, a));
		break;
	case CD_WHY_WRONG_ORDINAL: {
		say t = say_on(f, sizeof(f));
		for (int b = 1; b < 16; b++)
			if (rule->ordinals & CD_BIT(b))
				sayf(&t, "%s%s", t.n ? ", " : "", ordinal(b, o, sizeof(o)));
		sayf(&s, "not counted: the period's %s qualifying conversation, and it allows only the %s",
		     ordinal(xc->n, o, sizeof(o)), f);
		break;
	}
	case CD_WHY_AFTER_ORDINALS:
		sayf(&s, "not counted: after the last ordinal allowed (the %s)", ordinal(xc->n, o, sizeof(o)));
		break;
	default:
		sayf(&s, "?");
	}
}

/*
 * Every conversation of the history dated in or near in's window, classified.
 * ins[0 .. n_ins) are the period's instances, reported as x->ob[ob0 ..].
 */
static int obligation_convs(ctx *k, const inst *in, cd_xob *xo, const inst *const *ins, size_t n_ins, size_t ob0)
{
	cd_engine *e = k->e;
	const cd_citizen *c = k->c;
	cd_explanation *x = k->x;
	cd_date lo = (in->ws != CD_DATE_NONE ? in->ws : in->p->start) - CD_EXPLAIN_NEAR_DAYS;
	cd_date hi = in->we != CD_DATE_NONE ? in->we : in->due;

	if (hi != CD_DATE_NONE)
		hi += CD_EXPLAIN_NEAR_DAYS;
	xo->cv0 = x->n_conv;
	if (in->ws == CD_DATE_NONE)
		return 0;                   /* no window yet: nothing could count, and its status says so */
	for (size_t i = 0; i < c->n_ev; i++) {
		const cd_hev *h = &c->ev[i];
		cd_xconv *xc;
		size_t ci = 0;
		int by = -1;
		uint8_t fate;

		if (h->kind != CD_EV_CONVERSATION || (h->flags & CD_HF_VOIDED) || h->date < lo ||
		    (hi != CD_DATE_NONE && h->date > hi))
			continue;
		if (xo->n_cv >= CD_EXPLAIN_MAX_CONV) {
			xo->n_cv_more++;
			continue;
		}
		if (!(xc = PUSH(x->conv, x->n_conv, x->cap_conv)))
			return oom(k);
		xo->n_cv++;
		xc->ev = i;
		xc->by_ob = xc->by_ev = -1;
		fate = eng_conv_fate(e, i, &ci, &by);
		if (fate != CD_WHY_COUNTED) {
			xc->why = fate;
			xc->by_ev = by;
		} else {
			eng_why w = eng_why_not(e, in, ci);
			xc->why = w.why;
			xc->n = w.n;
			xc->by_ev = w.by_conv >= 0 ? e->cv[w.by_conv].ev : -1;
			for (size_t q = 0; w.by && q < n_ins; q++)
				if (ins[q] == w.by)
					xc->by_ob = (long)(ob0 + q);
		}
		conv_note(k, in, xc);
	}
	return 0;
}

/* The status in words. */
static void obligation_why(ctx *k, const inst *in, cd_xob *xo)
{
	cd_engine *e = k->e;
	const cd_citizen *c = k->c;
	const cd_obdef *def = in->def;
	char a[CD_DATE_STRLEN], b[CD_DATE_STRLEN], t[CD_INSTANT_STRLEN];
	say s = say_on(xo->why, sizeof(xo->why));
	const char *agg = def->aggregate[0] ? def->aggregate : NULL;
	long first = in->n_cnt ? e->cv[e->counted[in->cnt0]].ev : -1;
	bool one = in->rule->kind != CD_COUNT_IN_WINDOW;

	switch (in->status) {
	case CD_OB_MET:
		if (one)
			sayf(&s, "met by %s on %s", conv_id(c, first), first >= 0 ? D(c->ev[first].date, a) : "?");
		else if (in->req > 0 && in->n_cnt >= (size_t)in->req)
			sayf(&s, "met on %s: held %d of %d in the window",
			     D(c->ev[e->cv[e->counted[in->cnt0 + (size_t)in->req - 1]].ev].date, a), in->held, in->req);
		else
			sayf(&s, "met: held %d of %d in the window", in->held, in->req);
		break;
	case CD_OB_OPEN:
		sayf(&s, "open: held %d of %d", in->held, in->req);
		if (in->opened_at != CD_INSTANT_NONE && in->opened_at > e->t) {
			cd_instant_format_rfc3339(in->opened_at, t);
			sayf(&s, "; its window opens at %s", t);
		}
		if (in->due != CD_DATE_NONE)
			sayf(&s, "; due %s: %s at the start of %s unless met by then", D(in->due, a),
			     agg ? "goes LAPSED (a share member: no breach)" : "breached",
			     D(in->due + 1 + e->cfg.grace_days, b));
		else
			sayf(&s, "; no due date yet");
		break;
	case CD_OB_PAUSED:
		sayf(&s, "paused: off the register, the cumulative clock stands still and the due date is not known "
			 "(it moves later by the days off, rules.md §3.2); held %d of %d", in->held, in->req);
		break;
	case CD_OB_BREACHED:
	case CD_OB_LAPSED:
		sayf(&s, "%s at the start of %s (due %s, grace %d): held %d of %d", in->status == CD_OB_BREACHED
			 ? "breached" : "lapsed", D(cd_cph_date(in->breach_at), a), D(in->due, b), e->cfg.grace_days,
		     in->held, in->req);
		if (in->rule->first_must_forms && in->we != CD_DATE_NONE && in->due != in->we)
			sayf(&s, "; the first conversation, on %s, was not of the form required and decided it (D15)",
			     D(in->due, a));
		if (in->rule->kind == CD_JOINT_AT_ORDINAL && in->we == CD_DATE_NONE)
			sayf(&s, "; the last ordinal allowed passed without a joint conversation (D14)");
		if (in->status == CD_OB_LAPSED)
			sayf(&s, "; a member of %s: owed to the group, not a breach for this citizen; counted in the share "
				 "as not met", agg ? agg : "?");
		break;
	case CD_OB_CANCELLED:
		if (in->reason == CD_CANCEL_EXEMPTED) {
			const period *p = in->p;
			long ev = -1;
			cd_date we = in->paused ? CD_DATE_NONE : in->we != CD_DATE_NONE ? in->we : in->due;
			for (size_t i = 0; i < p->n_ex; i++) {
				const exempt *ex = &e->ex[p->ex0 + i];
				if (ex->scope == def->exempt_scope && (we == CD_DATE_NONE || ex->date <= we))
					ev = ex->ev;
			}
			sayf(&s, "cancelled (EXEMPTED): an Exemption (%s, %s, event %s) leaves it out of %s; counted in "
				 "the share as decided and not met", cd_scope_name(def->exempt_scope),
			     ev >= 0 ? D(c->ev[ev].date, a) : "?", ev_id(c, ev), agg ? agg : "its share");
		} else if (in->reason == CD_CANCEL_OPTED_OUT)
			sayf(&s, "cancelled (OPTED_OUT): the citizen opted out of a-kasse participation on %s (event %s): "
				 "joint obligations are waived", D(in->end.date, a), ev_id(c, in->end.ev));
		else if (in->reason == CD_CANCEL_LAW_CHANGED)
			sayf(&s, "cancelled (LAW_CHANGED): a later law reached the running period on %s "
				 "(--law-transition commencement)", D(in->end.date, a));
		else
			sayf(&s, "cancelled (%s): the period ended on %s (event %s) before it was decided: never "
				 "breached", cd_cancel_reason_name(in->reason), D(in->end.date, a), ev_id(c, in->end.ev));
		if (agg && in->reason != CD_CANCEL_EXEMPTED)
			sayf(&s, "; it leaves %s, which does not count it", agg);
		break;
	default:
		sayf(&s, "?");
	}
}

static const cd_obst *said_state(const cd_citizen *c, const inst *in, bool *seen)
{
	for (size_t i = 0; i < c->n_ob; i++) {
		const cd_obst *ob = &c->ob[i];
		if (ob->pkey == in->p->pkey && !strcmp(cd_citizen_str(c, ob->oid_off), in->oid)) {
			seen[i] = true;
			return ob;
		}
	}
	return NULL;
}

static int obligations(ctx *k, const period *p, cd_xperiod *xp, bool *seen)
{
	cd_engine *e = k->e;
	cd_explanation *x = k->x;
	const inst **ins = malloc((e->n_in ? e->n_in : 1) * sizeof(*ins));
	size_t n_ins = 0;
	int rc = -1;

	if (!ins)
		return oom(k);
	xp->ob0 = x->n_ob;
	for (size_t i = 0; i < e->n_in; i++)
		if (e->in[i].p == p)
			ins[n_ins++] = &e->in[i];
	for (size_t i = 0; i < n_ins; i++) {
		const inst *in = ins[i];
		cd_xob *xo;
		if (!(xo = PUSH(x->ob, x->n_ob, x->cap_ob))) {
			oom(k);
			goto out;
		}
		memcpy(xo->oid, in->oid, sizeof(xo->oid));
		xo->def = in->def;
		xo->rule = in->rule;
		xo->rs = in->rs;
		xo->period = (size_t)period_index(e, p);
		xo->k = in->k;
		xo->status = in->status;
		xo->reason = in->status == CD_OB_CANCELLED ? in->reason : 0;
		xo->cumulative = cd_obdef_cumulative(in->rule, p->benefit);
		xo->paused = in->paused;
		xo->ws = in->ws;
		xo->we = in->we;
		xo->due = in->due;
		xo->required = in->req;
		xo->held = in->held;
		xo->breach_at = in->breach_at;
		xo->decided_at = in->decided_at;
		xo->said = said_state(k->c, in, seen);
		obligation_why(k, in, xo);
	}
	xp->n_ob = n_ins;
	/* the conversations, once every instance of the period is listed (TAKEN names another) */
	for (size_t i = 0; i < n_ins; i++)
		if (obligation_convs(k, ins[i], &x->ob[xp->ob0 + i], ins, n_ins, xp->ob0) < 0)
			goto out;
	rc = 0;
out:
	free(ins);
	return rc;
}

/* ---- Exemptions ------------------------------------------------------------------------ */

static int exemptions(ctx *k)
{
	cd_engine *e = k->e;
	const cd_citizen *c = k->c;
	cd_explanation *x = k->x;
	char a[CD_DATE_STRLEN];

	for (size_t i = 0; i < c->n_ev; i++) {
		const cd_hev *h = &c->ev[i];
		cd_xex *xe;
		const period *p = NULL;
		size_t members = 0, later = 0, ended = 0;
		long later_ev = -1;
		say s;

		if (h->kind != CD_EV_EXEMPTION)
			continue;
		if (!(xe = PUSH(x->ex, x->n_ex, x->cap_ex)))
			return oom(k);
		xe->ev = i;
		xe->scope = h->scope;
		xe->revoked = (h->flags & CD_HF_REVOKED) != 0;
		xe->period = -1;
		for (size_t pi = 0; pi < e->n_per && !p; pi++)
			for (size_t j = 0; j < e->per[pi].n_ex; j++)
				if (e->ex[e->per[pi].ex0 + j].ev == (int)i)
					p = &e->per[pi];
		s = say_on(xe->why, sizeof(xe->why));
		if (!p) {
			sayf(&s, "no period was running on its date: it changed nothing (rules.md §3.3)");
			continue;
		}
		xe->period = period_index(e, p);
		/* The members of its scope, and which entry decides each: exempted() of obligations.c. */
		for (size_t q = 0; q < e->n_in; q++) {
			const inst *in = &e->in[q];
			cd_date we;
			int decider = -1;
			bool state = false, before = false;
			if (in->p != p || in->def->exempt_scope != h->scope)
				continue;
			members++;
			we = in->paused ? CD_DATE_NONE : in->we != CD_DATE_NONE ? in->we : in->due;
			for (size_t j = 0; j < p->n_ex; j++) {
				const exempt *ex = &e->ex[p->ex0 + j];
				if (ex->scope == h->scope && (we == CD_DATE_NONE || ex->date <= we)) {
					before = state;
					state = !ex->revoked;
					decider = ex->ev;
				}
			}
			if (decider == (int)i && ((!xe->revoked && in->status == CD_OB_CANCELLED &&
						    in->reason == CD_CANCEL_EXEMPTED) || (xe->revoked && before)))
				xe->n_members++;
			else if (we != CD_DATE_NONE && we < h->date)
				ended++;
			else if (decider > (int)i) {
				later++;
				later_ev = decider;
			}
		}
		xe->effect = xe->n_members > 0;
		if (xe->effect)
			sayf(&s, "%s %zu member%s of the %s share of period %ld", xe->revoked ? "opened again" : "exempted",
			     xe->n_members, xe->n_members == 1 ? "" : "s", cd_scope_name(h->scope), xe->period + 1);
		else if (!members) {
			const cd_ruleset *nat = cd_rules_national(e->rules, p->start);
			const cd_aggdef *agg = NULL;
			for (size_t j = 0; nat && j < nat->n_aggs && !agg; j++)
				if (nat->aggs[j].scope == h->scope)
					agg = &nat->aggs[j];
			if (agg)
				sayf(&s, "no effect: no obligation of period %ld is a member of %s (none of its members "
					 "applies to %s%s%s)", xe->period + 1, agg->id, cd_benefit_name(p->benefit),
				     p->category ? " " : "", p->category ? cd_category_name(p->category) : "");
			else
				sayf(&s, "no effect: period %ld is governed by %s, which has no share obligation that an "
					 "Exemption of scope %s leaves it out of", xe->period + 1, nat ? nat->id : "no ruleset",
				     cd_scope_name(h->scope));
		}
		else if (xe->revoked)
			sayf(&s, "no effect: nothing to withdraw (no member of the %s share was exempted by %s)",
			     cd_scope_name(h->scope), D(h->date, a));
		else if (ended == members)
			sayf(&s, "no effect: every member of the %s share had been decided before %s (decided members "
				 "are untouched)", cd_scope_name(h->scope), D(h->date, a));
		else if (later_ev >= 0)
			sayf(&s, "no lasting effect: a later entry of the same scope (event %s, %s%s) decides its members",
			     ev_id(c, later_ev), D(c->ev[later_ev].date, a),
			     (c->ev[later_ev].flags & CD_HF_REVOKED) ? ", a revocation" : "");
		else
			sayf(&s, "no effect on any member");
	}
	return 0;
}

/* ---- the timeline ----------------------------------------------------------------------- */

static void entry_facts(const cd_citizen *c, const cd_hev *h, say *s)
{
	char a[CD_DATE_STRLEN];
	switch (h->kind) {
	case CD_EV_REGISTRATION:
	case CD_EV_BENEFIT_CHANGE:
		sayf(s, "%s", h->kind == CD_EV_REGISTRATION ? "Registration" : "BenefitChange");
		if (h->benefit)
			sayf(s, " %s", cd_benefit_name(h->benefit));
		if (h->category)
			sayf(s, " %s", cd_category_name(h->category));
		if (h->muni[0])
			sayf(s, ", municipality %s", h->muni);
		if (h->first_contact != CD_DATE_NONE)
			sayf(s, ", first contact %s", D(h->first_contact, a));
		if (h->first_absence != CD_DATE_NONE)
			sayf(s, ", first absence %s", D(h->first_absence, a));
		if (h->dp_start != CD_DATE_NONE)
			sayf(s, ", dagpenge period start %s", D(h->dp_start, a));
		if (h->prior_days)
			sayf(s, ", %d days carried over", (int)h->prior_days);
		if (h->flags & CD_HF_OPT_OUT)
			sayf(s, ", opted out of a-kasse participation");
		if (h->flags & CD_HF_SEASONAL)
			sayf(s, ", seasonal");
		if (h->akasse_off)
			sayf(s, ", a-kasse %s", cd_citizen_str(c, h->akasse_off));
		if (h->flags & CD_HF_COURSE)
			sayf(s, ", municipal contact course");
		if (h->flags & CD_HF_SICK_SHORT)
			sayf(s, ", short absence expected");
		break;
	case CD_EV_DEREGISTRATION:
		sayf(s, "Deregistration");
		if (h->reason)
			sayf(s, " (%s)", h->reason == CD_DEREG_JOB ? "JOB" : h->reason == CD_DEREG_EDUCATION ? "EDUCATION"
												    : "OTHER");
		if (h->flags & CD_HF_ENDS_DP)
			sayf(s, ", ends the dagpenge period");
		break;
	case CD_EV_CONVERSATION:
		if (h->flags & CD_HF_VOIDED)
			sayf(s, "void of conversation %s: withdraws every version of it", cd_citizen_str(c, h->conv_off));
		else
			sayf(s, "Conversation %s held by %s, %s%s", cd_citizen_str(c, h->conv_off), cd_held_by_name(h->held_by),
			     cd_form_name(h->form), (h->flags & CD_HF_JOINT) ? ", joint (a-kasse taking part)" : "");
		break;
	case CD_EV_EXEMPTION:
		sayf(s, "Exemption %s%s", cd_scope_name(h->scope), (h->flags & CD_HF_REVOKED) ? " revoked" : "");
		break;
	default:
		sayf(s, "input");
	}
}

/* Who counted which conversation: (history entry, instance) pairs in history order. */
typedef struct counted_by {
	size_t ev, in;
} counted_by;

static int by_ev(const void *a, const void *b)
{
	const counted_by *p = a, *q = b;
	if (p->ev != q->ev)
		return p->ev < q->ev ? -1 : 1;
	return p->in < q->in ? -1 : p->in > q->in;
}

static int timeline(ctx *k)
{
	cd_engine *e = k->e;
	const cd_citizen *c = k->c;
	cd_explanation *x = k->x;
	counted_by *by = NULL;
	size_t n_by = 0, cap_by = 0, at = 0;
	char f[CD_EXPLAIN_TEXT];

	/* the instances' own counted lists (every instance, whatever the listing shows) */
	for (size_t q = 0; q < e->n_in; q++)
		for (size_t j = 0; j < e->in[q].n_cnt; j++) {
			counted_by *b = PUSH(by, n_by, cap_by);
			if (!b) {
				free(by);
				return oom(k);
			}
			b->ev = (size_t)e->cv[e->counted[e->in[q].cnt0 + j]].ev;
			b->in = q;
		}
	if (n_by > 1)
		qsort(by, n_by, sizeof(*by), by_ev);
	for (size_t i = 0; i < c->n_ev; i++) {
		const cd_hev *h = &c->ev[i];
		cd_xev *t;
		long started = -1, ended = -1;
		say s;

		if (!(t = PUSH(x->tl, x->n_tl, x->cap_tl))) {
			free(by);
			return oom(k);
		}
		t->ev = i;
		t->fx = k->fx[i];
		t->period = t->period2 = -1;
		for (size_t pi = 0; pi < e->n_per; pi++) {
			if ((size_t)e->per[pi].start_ev == i)
				started = (long)pi;
			if (e->per[pi].end_ev >= 0 && (size_t)e->per[pi].end_ev == i)
				ended = (long)pi;
		}
		if (started >= 0 && ended >= 0) {
			t->fx = CD_FX_SHIFTED;
			t->period = ended;
			t->period2 = started;
		} else if (started >= 0) {
			t->fx = CD_FX_STARTED;
			t->period = started;
		} else if (ended >= 0) {
			t->fx = CD_FX_ENDED;
			t->period = ended;
		} else if (t->fx != CD_FX_IGNORED)
			t->period = running_at(e, i);
		s = say_on(t->what, sizeof(t->what));
		entry_facts(c, h, &s);
		switch (t->fx) {
		case CD_FX_STARTED:
			sayf(&s, ": starts period %ld", t->period + 1);
			break;
		case CD_FX_SHIFTED:
			sayf(&s, ": ends period %ld (%s) and starts period %ld", t->period + 1,
			     cd_cancel_reason_name(e->per[t->period].end_reason), t->period2 + 1);
			break;
		case CD_FX_ENDED:
			sayf(&s, ": ends period %ld (%s)", t->period + 1, cd_cancel_reason_name(e->per[t->period].end_reason));
			break;
		case CD_FX_PAUSED:
			sayf(&s, ": pauses period %ld (off the register: the cumulative clock stops)", t->period + 1);
			break;
		case CD_FX_RESUMED:
			sayf(&s, ": resumes period %ld", t->period + 1);
			break;
		case CD_FX_ALREADY:
			sayf(&s, ": period %ld already runs, nothing new (D1)", t->period + 1);
			break;
		case CD_FX_CATEGORY:
			sayf(&s, ": a category change in period %ld: nothing restarts (obligations follow the category at "
				 "the period's start)", t->period + 1);
			break;
		case CD_FX_RENAMED:
			sayf(&s, ": names period %ld's benefit by what it merged into: a category change, nothing restarts",
			     t->period + 1);
			break;
		case CD_FX_IGNORED:
			sayf(&s, ": no period was running, it changed nothing");
			break;
		case CD_FX_EXEMPTION:
			for (size_t j = 0; j < x->n_ex; j++)
				if (x->ex[j].ev == i)
					sayf(&s, ": %s", x->ex[j].why);
			break;
		default:
			if (h->kind == CD_EV_CONVERSATION && !(h->flags & CD_HF_VOIDED)) {
				say w = say_on(f, sizeof(f));
				for (; at < n_by && by[at].ev < i; at++)
					;
				for (; at < n_by && by[at].ev == i; at++)
					sayf(&w, "%s%s", w.n ? ", " : "", e->in[by[at].in].oid);
				if (w.n)
					sayf(&s, ": counted by %s", f);
				else if (e->cs_of[i] && e->cs[e->cs_of[i] - 1].voided)
					sayf(&s, ": voided");
				else if (e->cs_of[i] && e->cs[e->cs_of[i] - 1].last != (int)i)
					sayf(&s, ": replaced by a later version (event %s)",
					     ev_id(c, e->cs[e->cs_of[i] - 1].last));
				else
					sayf(&s, ": counted by no obligation");
			}
		}
	}
	free(by);
	return 0;
}

/* ---- the whole ------------------------------------------------------------------------- */

int cd_explain(cd_engine *e, const cd_citizen *c, cd_instant at, cd_explanation *x, cd_err *err)
{
	uint8_t *fx = calloc(c->n_ev ? c->n_ev : 1, 1);
	ctx k = { e, c, x, err, fx };
	bool *seen = calloc(c->n_ob ? c->n_ob : 1, sizeof(*seen));
	int rc = -1;

	cd_explanation_release(x);
	if (!fx || !seen) {
		oom(&k);
		goto out;
	}
	x->c = c;
	x->rules = e->rules;
	x->grace_days = e->cfg.grace_days;
	x->warn_lead_days = e->cfg.warn_lead_days;
	x->law_transition = e->cfg.law_transition;
	x->at = at;
	/* The evaluation apply and advance run, with the timeline hook set. */
	e->fx = fx;
	eng_evaluate(e, c, at);
	e->fx = NULL;
	x->next_fire = e->next_fire;

	for (size_t pi = 0; pi < e->n_per; pi++) {
		const period *p = &e->per[pi];
		const cd_ruleset *ovl[CD_MAX_OVERLAYS];
		size_t n_ovl = cd_rules_overlays(e->rules, p->muni, p->benefit, p->start, p->seasonal, ovl,
						 CD_MAX_OVERLAYS);
		cd_xperiod *xp;

		if (!(xp = PUSH(x->per, x->n_per, x->cap_per))) {
			oom(&k);
			goto out;
		}
		xp->start_ev = (size_t)p->start_ev;
		xp->end_ev = p->end_ev;
		xp->start = p->start;
		xp->end = p->end_date;
		xp->end_reason = p->end_reason;
		xp->named = c->ev[p->start_ev].benefit;
		xp->benefit = p->benefit;
		xp->shown = eng_benefit_on(p, cd_cph_date(at));
		xp->shown_from = p->shown_from;
		xp->category = p->category;
		xp->flags = p->flags;
		xp->by_registration = p->by_registration;
		xp->seasonal = p->seasonal;
		xp->optout_start = p->optout_start;
		xp->optout_now = p->optout_now;
		xp->optin = p->optin;
		xp->optout = p->optout;
		xp->first_contact = p->first_contact;
		memcpy(xp->muni, p->muni, sizeof(xp->muni));
		xp->prior_days = p->prior;
		xp->iv0 = x->n_iv;
		for (size_t i = 0; i < p->n_iv; i++) {
			cd_xiv *v = PUSH(x->iv, x->n_iv, x->cap_iv);
			if (!v) {
				oom(&k);
				goto out;
			}
			v->from = e->iv[p->iv0 + i].from;
			v->to = e->iv[p->iv0 + i].to;
		}
		xp->n_iv = p->n_iv;
		xp->national = cd_rules_national(e->rules, p->start);
		xp->category_used = p->category ? p->category : xp->national ? xp->national->default_category : 0;
		xp->law = eng_law_reaching(e, xp->national, p);
		xp->law_cut = xp->law && at >= cd_cph_midnight(xp->law->from);
		period_benefit(&k, p, xp);
		if (pi > 0 && e->per[pi - 1].end_ev == p->start_ev && e->per[pi - 1].end_reason == CD_CANCEL_BENEFIT_SHIFT) {
			say s = say_on(xp->benefit_why + strlen(xp->benefit_why),
				       sizeof(xp->benefit_why) - strlen(xp->benefit_why));
			char a[CD_DATE_STRLEN];
			sayf(&s, "%sbegun by a benefit shift from %s: its obligations start afresh with nothing held, and "
				 "what was held before %s counted for period %zu only (rules.md §3.3)",
			     *xp->benefit_why ? "; " : "", cd_benefit_name(e->per[pi - 1].benefit), D(p->start, a), pi);
		}
		if (period_rules(&k, p, xp, ovl, n_ovl) < 0 || obligations(&k, p, xp, seen) < 0)
			goto out;
		/* what opened nothing: the national ruleset, a law reaching it, the overlays */
		xp->no0 = x->n_nop;
		if (xp->national && not_opened(&k, p, xp, xp->national, ovl, n_ovl, p->benefit, xp->category_used, false,
					       xp->national) < 0)
			goto out;
		if (xp->law && xp->law_cut) {
			uint8_t b = (uint8_t)cd_rules_merged_benefit(e->rules, p->benefit, xp->law->from);
			if (not_opened(&k, p, xp, xp->law, ovl, n_ovl, b,
				       p->category ? p->category : xp->law->default_category, true, xp->law) < 0)
				goto out;
		}
		for (size_t i = 0; i < n_ovl; i++)
			if (not_opened(&k, p, xp, ovl[i], ovl, n_ovl, p->benefit, xp->category_used, false,
				       xp->national) < 0)
				goto out;
		if (!xp->n_ob && !xp->n_no && xp->national) {
			size_t n = strlen(xp->benefit_why);
			say s = say_on(xp->benefit_why + n, sizeof(xp->benefit_why) - n);
			sayf(&s, "%sno obligation of %s%s applies to %s", n ? "; " : "", xp->national->id,
			     n_ovl ? " or its overlays" : "", cd_benefit_name(p->benefit));
		}
	}
	if (exemptions(&k) < 0 || timeline(&k) < 0)
		goto out;
	for (size_t i = 0; i < c->n_ob; i++)
		if (!seen[i]) {
			size_t *g = PUSH(x->gone, x->n_gone, x->cap_gone);
			if (!g) {
				oom(&k);
				goto out;
			}
			*g = i;
		}
	rc = 0;
out:
	e->fx = NULL;
	free(fx);
	free(seen);
	return rc;
}
