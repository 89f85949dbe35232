/*
 * rules.c — the ruleset model, and selecting what applies to a period.
 *
 * Rulesets are data: proto/rules_json.c reads them from their JSON files
 * into a cd_rules through the few building calls below, strictly, and
 * nothing changes them after that. Selection (national by period start,
 * overlays by municipality/benefit/seasonal/start) is a linear scan over a
 * few dozen entries, done once per period evaluation.
 */
#include "state/rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/event.h"

struct enable {
	size_t set;
	char muni[CD_MUNI_LEN + 1];
};

struct cd_rules {
	cd_ruleset *sets;
	size_t n, cap;
	struct enable *en;
	size_t n_en;
	cd_merge *merges;
	size_t n_merges;
};

/* ---- building ------------------------------------------------------------- */

cd_rules *cd_rules_new(void)
{
	cd_rules *r = calloc(1, sizeof(*r));
	if (!r)
		abort(); /* start-up only; out of memory here is not recoverable */
	return r;
}

cd_ruleset *cd_rules_add(cd_rules *r)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 8;
		cd_ruleset *ns = realloc(r->sets, cap * sizeof(*ns));
		if (!ns)
			abort();
		r->sets = ns;
		r->cap = cap;
	}
	memset(&r->sets[r->n], 0, sizeof(r->sets[r->n]));
	return &r->sets[r->n++];
}

size_t cd_rules_enable(cd_rules *r, size_t set, const char *muni)
{
	struct enable *ne = realloc(r->en, (r->n_en + 1) * sizeof(*r->en));
	size_t n = 0;
	if (!ne)
		abort();
	r->en = ne;
	r->en[r->n_en].set = set;
	snprintf(r->en[r->n_en].muni, sizeof(r->en[r->n_en].muni), "%s", muni);
	r->n_en++;
	/* distinct overlays enabled for muni: a set enabled twice is selected once */
	for (size_t i = 0; i < r->n_en; i++) {
		bool first = !strcmp(r->en[i].muni, muni);
		for (size_t k = 0; k < i && first; k++)
			first = strcmp(r->en[k].muni, muni) || r->en[k].set != r->en[i].set;
		n += first;
	}
	return n;
}

void cd_rules_disable_all(cd_rules *r)
{
	free(r->en);
	r->en = NULL;
	r->n_en = 0;
}

void cd_rules_add_merge(cd_rules *r, cd_merge m)
{
	cd_merge *nm = realloc(r->merges, (r->n_merges + 1) * sizeof(*nm));
	if (!nm)
		abort();
	r->merges = nm;
	r->merges[r->n_merges++] = m;
}

static void ruleset_release(cd_ruleset *rs)
{
	for (size_t i = 0; i < rs->n_obs; i++) {
		free(rs->obs[i].legal_ref);
		free(rs->obs[i].description);
	}
	for (size_t i = 0; i < rs->n_aggs; i++) {
		free(rs->aggs[i].legal_ref);
		free(rs->aggs[i].description);
	}
	free(rs->aggs);
	free(rs->nmembers);           /* the copies borrow the national definitions' strings */
	free(rs->allowed);
	free(rs->no_obligations_why);
	free(rs->obs);
	free(rs->replaces);
	free(rs->title);
	free(rs->file);
	memset(rs, 0, sizeof(*rs));
}

void cd_rules_free(cd_rules *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		ruleset_release(&r->sets[i]);
	for (size_t i = 0; i < r->n_merges; i++)
		free(r->merges[i].legal_ref);
	free(r->merges);
	free(r->sets);
	free(r->en);
	free(r);
}

/* ---- lookups -------------------------------------------------------------- */

size_t cd_rules_count(const cd_rules *r) { return r->n; }
const cd_ruleset *cd_rules_at(const cd_rules *r, size_t i) { return i < r->n ? &r->sets[i] : NULL; }

const cd_ruleset *cd_rules_find(const cd_rules *r, const char *id)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->sets[i].id, id))
			return &r->sets[i];
	return NULL;
}

const cd_obdef *cd_rules_find_obligation(const cd_rules *r, const char *id, const cd_ruleset **set)
{
	for (size_t i = 0; i < r->n; i++)
		for (size_t j = 0; j < r->sets[i].n_obs; j++)
			if (!strcmp(r->sets[i].obs[j].id, id)) {
				if (set)
					*set = &r->sets[i];
				return &r->sets[i].obs[j];
			}
	return NULL;
}

const cd_aggdef *cd_rules_find_aggregate(const cd_rules *r, const char *id)
{
	for (size_t i = 0; i < r->n; i++)
		for (size_t j = 0; j < r->sets[i].n_aggs; j++)
			if (!strcmp(r->sets[i].aggs[j].id, id))
				return &r->sets[i].aggs[j];
	return NULL;
}

int cd_rules_merged_benefit(const cd_rules *r, int benefit, cd_date d)
{
	/* Merges do not chain: each names what a benefit became on its date. */
	for (size_t i = 0; i < r->n_merges; i++)
		if (r->merges[i].benefit == benefit && d >= r->merges[i].from)
			return r->merges[i].into;
	return benefit;
}

size_t cd_rules_merge_count(const cd_rules *r) { return r->n_merges; }
const cd_merge *cd_rules_merge_at(const cd_rules *r, size_t i) { return i < r->n_merges ? &r->merges[i] : NULL; }

const cd_ruleset *cd_rules_national_after(const cd_rules *r, const cd_ruleset *rs)
{
	const cd_ruleset *best = NULL;
	if (!rs || rs->to == CD_DATE_NONE)
		return NULL;
	for (size_t i = 0; i < r->n; i++)
		if (!r->sets[i].overlay && r->sets[i].from > rs->to && (!best || r->sets[i].from < best->from))
			best = &r->sets[i];
	return best;
}

static bool in_effect(const cd_ruleset *rs, cd_date start)
{
	return start >= rs->from && (rs->to == CD_DATE_NONE || start <= rs->to);
}

const cd_ruleset *cd_rules_national(const cd_rules *r, cd_date start)
{
	for (size_t i = 0; i < r->n; i++)
		if (!r->sets[i].overlay && in_effect(&r->sets[i], start))
			return &r->sets[i];
	return NULL;
}

int cd_rules_national_gap(const cd_rules *r, cd_date start, char *buf, size_t len)
{
	const cd_ruleset *before = NULL, *after = NULL;
	char d[CD_DATE_STRLEN], e[CD_DATE_STRLEN];
	size_t n;

	if (cd_rules_national(r, start))
		return 0;
	for (size_t i = 0; i < r->n; i++) {
		const cd_ruleset *rs = &r->sets[i];
		if (rs->overlay)
			continue;
		if (rs->to != CD_DATE_NONE && rs->to < start && (!before || rs->to > before->to))
			before = rs;
		if (rs->from > start && (!after || rs->from < after->from))
			after = rs;
	}
	n = (size_t)snprintf(buf, len, "no national ruleset covers periods starting %s", cd_date_format(start, d));
	if (before && after && n < len)
		n += (size_t)snprintf(buf + n, len - n, " (%s covers up to %s, %s from %s)", before->id,
				      cd_date_format(before->to, d), after->id, cd_date_format(after->from, e));
	else if (before && n < len)
		n += (size_t)snprintf(buf + n, len - n, " (the latest, %s, covers up to %s)", before->id,
				      cd_date_format(before->to, d));
	else if (after && n < len)
		n += (size_t)snprintf(buf + n, len - n, " (the earliest, %s, covers from %s)", after->id,
				      cd_date_format(after->from, d));
	if (n < len)
		snprintf(buf + n, len - n, ": such periods get no national obligations");
	return 1;
}

size_t cd_rules_overlays(const cd_rules *r, const char *muni, int benefit, cd_date start,
			 bool seasonal, const cd_ruleset **out, size_t max)
{
	size_t n = 0;
	if (!muni[0])
		return 0;
	for (size_t i = 0; i < r->n_en && n < max; i++) {
		const cd_ruleset *rs = &r->sets[r->en[i].set];
		bool dup = false;
		if (strcmp(r->en[i].muni, muni) || !in_effect(rs, start))
			continue;
		if (rs->benefits && !(rs->benefits & CD_BIT(benefit)))
			continue;
		if (rs->seasonal >= 0 && rs->seasonal != (int)seasonal)
			continue;
		for (size_t k = 0; k < n; k++)
			dup |= out[k] == rs;
		if (!dup)
			out[n++] = rs;
	}
	return n;
}

const cd_obdef *cd_rules_national_member(const cd_ruleset *const *ovl, size_t n, const cd_obdef *national,
					 int benefit)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < ovl[i]->n_nmembers; j++)
			if (ovl[i]->nmembers[j].national == national && ovl[i]->nmembers[j].benefit == benefit)
				return &ovl[i]->nmembers[j].def;
	return NULL;
}

bool cd_rules_lifted(const cd_ruleset *const *ovl, size_t n, int kind)
{
	for (size_t i = 0; i < n; i++)
		if (ovl[i]->lifts_kinds & CD_BIT(kind))
			return true;
	return false;
}

bool cd_ruleset_allows(const cd_ruleset *rs, const char *muni)
{
	if (!rs->n_allowed)
		return true;
	for (size_t i = 0; i < rs->n_allowed; i++)
		if (!strcmp(rs->allowed[i], muni))
			return true;
	return false;
}

size_t cd_rules_enabled_for(const cd_rules *r, const cd_ruleset *overlay, const char **munis, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_en && n < max; i++)
		if (&r->sets[r->en[i].set] == overlay)
			munis[n++] = r->en[i].muni;
	return n;
}


bool cd_obdef_cumulative(const cd_obdef *d, int benefit)
{
	if (d->clock == CD_CLOCK_CALENDAR)
		return false;
	if (d->clock == CD_CLOCK_CUMULATIVE)
		return true;
	return benefit == CD_DAGPENGE;
}

int cd_span_length(cd_span s, cd_date a)
{
	int base;
	if (!s.n)
		return 0;
	switch (s.unit) {
	case 'd':
		base = s.n;
		break;
	case 'w':
		base = 7 * s.n;
		break;
	default:
		base = cd_date_add_months(a, s.n) - a;
		break;
	}
	return base + (s.after ? 1 : 0);
}

const char *cd_span_format(cd_span s, char *buf, size_t len)
{
	if (!s.n)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%d%c%s", s.n, s.unit, s.after ? " after" : "");
	return buf;
}

static const char *const basis_names[] = { "UNSPECIFIED", "LAW", "GUIDANCE", "CARRIED_OVER", "INTERPRETATION" };
static const char *const basis_words[] = {
	"",
	"per the enacted text",
	"per STAR guidance; the enacted text is not yet verified",
	"carried over from the previous law, which the reform did not change as far as published",
	"our interpretation where the law and guidance are silent (docs/decisions.md)",
};
_Static_assert(sizeof(basis_names) / sizeof(basis_names[0]) == CD_BASIS_MAX + 1, "a name per basis");
_Static_assert(sizeof(basis_words) / sizeof(basis_words[0]) == CD_BASIS_MAX + 1, "words per basis");

const char *cd_basis_name(int b)
{
	return b >= 0 && b <= CD_BASIS_MAX ? basis_names[b] : "?";
}

int cd_basis_parse(const char *s)
{
	for (int b = 1; b <= CD_BASIS_MAX; b++)
		if (!strcmp(s, basis_names[b]))
			return b;
	return -1;
}

const char *cd_basis_words(int b)
{
	return b >= 0 && b <= CD_BASIS_MAX ? basis_words[b] : "";
}
