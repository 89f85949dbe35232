/*
 * summary.c — counts outputs as they pass and prints a short report.
 *
 * A breach counts while it stands: BREACHED adds one to its rule and
 * municipality, RETRACTED takes one away. Rules are counted by their
 * definition (schedule slots, repeating windows and gaps together:
 * "dk-2015/schedule").
 */
#include "cmd/summary.h"

#include <stdlib.h>
#include <string.h>

typedef struct counter {
	char key[CD_MAX_OBLIGATION_ID_LEN + 1];
	long n;
} counter;

struct cd_summary {
	long deadline[CD_DL_LAPSED + 1], breach[3], aggregate[CD_AGG_RETRACTED + 1];
	counter rules[CD_SUMMARY_KEYS + 1], munis[CD_SUMMARY_KEYS + 1];
	counter agg_breached[CD_SUMMARY_KEYS + 1], agg_met[CD_SUMMARY_KEYS + 1];
	size_t n_rules, n_munis, n_agg_breached, n_agg_met;
	char examples[CD_SUMMARY_EXAMPLES][700];
	int n_examples;
	char agg_examples[CD_SUMMARY_EXAMPLES][700];
	int n_agg_examples;
	/* Each cohort's standing status (n: CD_AGG_MET or CD_AGG_BREACHED, 0 retracted), so that an
	 * updated status replaces the one before instead of counting twice. */
	counter cohorts[CD_SUMMARY_COHORTS];
	size_t n_cohorts;
};

cd_summary *cd_summary_new(void)
{
	return calloc(1, sizeof(cd_summary));
}

void cd_summary_free(cd_summary *s)
{
	free(s);
}

static void bump(counter *tab, size_t *n, const char *key, long by)
{
	size_t i;
	for (i = 0; i < *n; i++)
		if (!strcmp(tab[i].key, key))
			break;
	if (i == *n) {
		if (*n == CD_SUMMARY_KEYS) {
			i = CD_SUMMARY_KEYS;             /* the overflow bucket */
			snprintf(tab[i].key, sizeof(tab[i].key), "(other)");
		} else {
			snprintf(tab[i].key, sizeof(tab[i].key), "%s", key);
			tab[i].n = 0;
			(*n)++;
		}
	}
	tab[i].n += by;
}

void cd_summary_add_fields(cd_summary *s, bool is_breach, int status, const char *definition_id,
			   const char *muni, const char *citizen_id, const char *explanation)
{
	long by;

	if (!is_breach) {
		if (status >= 1 && status <= CD_DL_LAPSED)
			s->deadline[status]++;
		return;
	}
	if (status < 1 || status > 2)
		return;
	s->breach[status]++;
	by = status == CD_BR_BREACHED ? 1 : -1;
	bump(s->rules, &s->n_rules, definition_id && *definition_id ? definition_id : "(unknown)", by);
	bump(s->munis, &s->n_munis, muni && *muni ? muni : "(none)", by);
	if (by > 0 && s->n_examples < CD_SUMMARY_EXAMPLES)
		snprintf(s->examples[s->n_examples++], sizeof(s->examples[0]), "citizen %s, municipality %s: %s",
			 citizen_id, muni && *muni ? muni : "-", explanation);
}

void cd_summary_add(cd_summary *s, const cd_output *o)
{
	cd_summary_add_fields(s, o->is_breach, o->status, o->definition_id, o->muni, o->citizen_id,
			      o->explanation);
}

static void standing(cd_summary *s, const char *aggregate_id, long status, long by)
{
	if (status == CD_AGG_BREACHED)
		bump(s->agg_breached, &s->n_agg_breached, aggregate_id, by);
	else if (status == CD_AGG_MET)
		bump(s->agg_met, &s->n_agg_met, aggregate_id, by);
}

void cd_summary_add_aggregate(cd_summary *s, const cd_agg_output *a)
{
	char key[CD_MAX_OBLIGATION_ID_LEN + 1], d[CD_DATE_STRLEN];
	counter *c = NULL;

	if (a->status < CD_AGG_WARNING || a->status > CD_AGG_RETRACTED)
		return;
	s->aggregate[a->status]++;
	if (a->status == CD_AGG_WARNING)
		return;
	snprintf(key, sizeof(key), "%s %s %s", a->aggregate_id, a->key, cd_date_format(a->period_start, d));
	for (size_t i = 0; i < s->n_cohorts && !c; i++)
		if (!strcmp(s->cohorts[i].key, key))
			c = &s->cohorts[i];
	if (!c && s->n_cohorts < CD_SUMMARY_COHORTS) {
		c = &s->cohorts[s->n_cohorts++];
		snprintf(c->key, sizeof(c->key), "%s", key);
		c->n = 0;
	}
	if (c) {
		standing(s, a->aggregate_id, c->n, -1);    /* what it stood at before, if anything */
		c->n = a->status == CD_AGG_RETRACTED ? 0 : a->status;
	}
	standing(s, a->aggregate_id, a->status, 1);
	if (a->status == CD_AGG_BREACHED && s->n_agg_examples < CD_SUMMARY_EXAMPLES)
		snprintf(s->agg_examples[s->n_agg_examples++], sizeof(s->agg_examples[0]), "%s", a->explanation);
}

static int by_count(const void *a, const void *b)
{
	const counter *x = a, *y = b;
	if (x->n != y->n)
		return x->n < y->n ? 1 : -1;
	return strcmp(x->key, y->key);
}

static void print_table(FILE *f, const char *title, const counter *tab, size_t n, size_t top)
{
	counter *sorted = malloc((n + 1) * sizeof(*sorted));
	if (!sorted)
		return;
	memcpy(sorted, tab, (n + 1) * sizeof(*sorted));
	if (tab[CD_SUMMARY_KEYS].n)
		sorted[n++] = tab[CD_SUMMARY_KEYS];
	qsort(sorted, n, sizeof(*sorted), by_count);
	fprintf(f, "\n%s\n", title);
	for (size_t i = 0; i < n && i < top; i++)
		if (sorted[i].n > 0)
			fprintf(f, "  %8ld  %s\n", sorted[i].n, sorted[i].key);
	free(sorted);
}

void cd_summary_print(const cd_summary *s, FILE *f)
{
	static const char *const dl[] = { "", "opened", "updated", "paused", "warnings", "met", "cancelled",
					  "lapsed" };
	_Static_assert(sizeof(dl) / sizeof(dl[0]) == CD_DL_LAPSED + 1, "a name for every DeadlineStatus");
	fprintf(f, "\n== summary ==\ndeadline events:");
	for (int i = 1; i <= CD_DL_LAPSED; i++)
		fprintf(f, " %s %ld%s", dl[i], s->deadline[i], i < CD_DL_LAPSED ? "," : "\n");
	fprintf(f, "breach events: breached %ld, retracted %ld (standing: %ld)\n", s->breach[1], s->breach[2],
		s->breach[1] - s->breach[2]);
	print_table(f, "standing breaches by rule:", s->rules, s->n_rules, 25);
	print_table(f, "standing breaches by municipality (top 10):", s->munis, s->n_munis, 10);
	if (s->n_examples) {
		fprintf(f, "\nexamples:\n");
		for (int i = 0; i < s->n_examples; i++)
			fprintf(f, "  - %s\n", s->examples[i]);
	}
	if (!s->aggregate[CD_AGG_WARNING] && !s->aggregate[CD_AGG_MET] && !s->aggregate[CD_AGG_BREACHED])
		return;
	fprintf(f, "\naggregate events: warnings %ld, met %ld, breached %ld, retracted %ld\n",
		s->aggregate[CD_AGG_WARNING], s->aggregate[CD_AGG_MET], s->aggregate[CD_AGG_BREACHED],
		s->aggregate[CD_AGG_RETRACTED]);
	print_table(f, "cohorts standing BREACHED by aggregate:", s->agg_breached, s->n_agg_breached, 25);
	print_table(f, "cohorts standing MET by aggregate:", s->agg_met, s->n_agg_met, 25);
	if (s->n_agg_examples) {
		fprintf(f, "\nbreached cohorts, for example:\n");
		for (int i = 0; i < s->n_agg_examples; i++)
			fprintf(f, "  - %s\n", s->agg_examples[i]);
	}
}
