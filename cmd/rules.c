/*
 * rules.c — `contactd rules check [DIR]` and `contactd rules list [DIR]`.
 *
 * check: loads a ruleset directory exactly as start-up does; any error names
 * the file, line and field, and the exit status is 1. It also warns about
 * dates no national ruleset covers (D20), since a period starting there gets
 * no national obligations.
 * list: what applies to which municipality, benefit and dates, as text or as
 * a Markdown table (docs/rules.md is checked against the latter by the tests).
 */
#include "cmd/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmd/opts.h"
#include "proto/rules_json.h"
#include "state/event.h"
#include "state/rules.h"
#include "util/log.h"

static void mask_names(unsigned mask, int max, const char *(*name)(int), char *buf, size_t len,
		       const char *all)
{
	size_t n = 0;
	int count = 0;
	buf[0] = '\0';
	for (int i = 1; i <= max; i++)
		count += (mask & CD_BIT(i)) != 0;
	if (!mask || count == max) {
		snprintf(buf, len, "%s", all);
		return;
	}
	for (int i = 1; i <= max && n < len; i++)
		if (mask & CD_BIT(i))
			n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "", name(i));
}

/* One line saying what the obligation demands. */
static void describe(const cd_obdef *d, char *buf, size_t len)
{
	char a[32], b[32], forms[128], held[64];
	const char *clock = d->clock == CD_CLOCK_CALENDAR ? "calendar days"
			    : d->clock == CD_CLOCK_CUMULATIVE ? "days of unemployment"
							      : "days of unemployment for DAGPENGE, else calendar days";
	size_t n = 0;

	cd_span_format(d->from, a, sizeof(a));
	cd_span_format(d->to, b, sizeof(b));
	if (d->mirror[0]) {
		snprintf(buf, len, "the national %s, as a local target", d->mirror);
		return;
	}
	switch (d->kind) {
	case CD_FIRST_WITHIN:
		n = (size_t)snprintf(buf, len, d->to.after ? "a conversation by %s the %s"
							   : "a conversation within the first %s from the %s",
				     b, d->anchor == CD_ANCHOR_FIRST_CONTACT ? "first contact"
					: d->anchor == CD_ANCHOR_START_INPUT ? "registration" : "period start");
		if (d->first_must_forms) {
			mask_names(d->first_must_forms, CD_FORM_MAX, cd_form_name, forms, sizeof(forms), "any form");
			n += (size_t)snprintf(buf + n, len - n, "; the first one must be %s", forms);
		}
		break;
	case CD_COUNT_IN_WINDOW:
		if (d->repeat_months)
			n = (size_t)snprintf(buf, len, "%d in every %d months", d->required, d->repeat_months);
		else if (d->from.n)
			n = (size_t)snprintf(buf, len, "%d in (%s, %s]", d->required, a, b);
		else
			n = (size_t)snprintf(buf, len, "%d within the first %s", d->required, b);
		break;
	case CD_JOINT_IN_WINDOW:
		n = d->from.n ? (size_t)snprintf(buf, len, "a joint conversation in (%s, %s]", a, b)
			      : (size_t)snprintf(buf, len, "a joint conversation within the first %s", b);
		break;
	case CD_JOINT_AT_ORDINAL: {
		size_t m = 0;
		char ords[64] = "";
		for (int k = 1; k <= 15; k++)
			if (d->ordinals & CD_BIT(k))
				m += (size_t)snprintf(ords + m, sizeof(ords) - m, "%s%d", m ? " or " : "", k);
		n = (size_t)snprintf(buf, len, "the first joint conversation is conversation %s%s%s", ords,
				     d->to.n ? ", by " : "", d->to.n ? b : "");
		break;
	}
	case CD_SCHEDULE: {
		char e[32];
		n = (size_t)snprintf(buf, len, "%d slots, one every %s, tolerance", d->slots,
				     cd_span_format(d->every, e, sizeof(e)));
		for (int k = 0; k < d->slots; k++)
			n += (size_t)snprintf(buf + n, len - n, "%s%d", k ? "/" : " ", d->tolerance[k]);
		n += (size_t)snprintf(buf + n, len - n, " days");
		if (d->joint_slots) {
			n += (size_t)snprintf(buf + n, len - n, "; joint slots");
			for (int k = 0; k < d->slots; k++)
				if (d->joint_slots & CD_BIT(k))
					n += (size_t)snprintf(buf + n, len - n, " %d", k + 1);
		}
		break;
	}
	case CD_MAX_GAP: {
		char g[32], s[32];
		if (d->gap_start == CD_GAP_AFTER_WINDOW)
			n = (size_t)snprintf(buf, len, "at most %s between conversations, from the day after %s",
					     cd_span_format(d->gap, g, sizeof(g)),
					     cd_span_format(d->start_after, s, sizeof(s)));
		else
			n = (size_t)snprintf(buf, len, "at most %s between conversations, from the one that met %s",
					     cd_span_format(d->gap, g, sizeof(g)), d->start_ref);
		break;
	}
	}
	mask_names(d->filter.forms, CD_FORM_MAX, cd_form_name, forms, sizeof(forms), "any form");
	mask_names(d->filter.held_by, CD_HELD_MAX, cd_held_by_name, held, sizeof(held), "anyone");
	if (n < len)
		n += (size_t)snprintf(buf + n, len - n, "; held by %s; %s; counted in %s", held, forms, clock);
	if (n < len && (d->flags_set & CD_PF_COURSE))
		n += (size_t)snprintf(buf + n, len - n, "; only youth in a municipal contact course");
	if (n < len && (d->flags_clear & CD_PF_COURSE))
		n += (size_t)snprintf(buf + n, len - n, "; not for youth in a municipal contact course");
	if (n < len && (d->flags_clear & CD_PF_SICK_SHORT))
		n += (size_t)snprintf(buf + n, len - n, "; none when a short absence is expected");
	if (n < len && (d->flags_set & CD_PF_SICK_SHORT))
		n += (size_t)snprintf(buf + n, len - n, "; only when a short absence is expected");
	if (n < len && d->aggregate[0])
		snprintf(buf + n, len - n, "; member of %s: LAPSES when unmet, never a breach for one citizen",
			 d->aggregate);
}

/* An aggregate obligation, in one line. */
static void describe_aggregate(const cd_aggdef *a, char *buf, size_t len)
{
	const char *per = a->period == 'm' ? "month" : a->period == 'y' ? "year" : "quarter";
	const char *key = a->key == CD_AGG_KEY_AKASSE ? "a-kasse" : "municipality";
	size_t n;
	if (a->kind == CD_AGG_SHARE)
		n = (size_t)snprintf(buf, len, "SHARE: at least %d %% of the decided members met, per %s and %s",
				     a->share_pct, key, per);
	else if (a->required > 0)
		n = (size_t)snprintf(buf, len, "AVERAGE: at least %d conversations per decided member, per %s and %s",
				     a->required, key, per);
	else   /* each member owes its own obligation's count; the cohort owes their sum (D21) */
		n = (size_t)snprintf(buf, len, "AVERAGE: on average at least each decided member's own count of "
				     "conversations, per %s and %s", key, per);
	if (a->scope && n < len)
		snprintf(buf + n, len - n, "; an Exemption of scope %s leaves a member out (counted as not met)",
			 cd_scope_name(a->scope));
}

static void print_ruleset(FILE *f, const cd_rules *rules, const cd_ruleset *rs, int benefit, bool md)
{
	char from[CD_DATE_STRLEN], to[CD_DATE_STRLEN], ben[256], cat[128], what[512];
	const char *munis[64];
	size_t n_m = cd_rules_enabled_for(rules, rs, munis, 64);

	cd_date_format(rs->from, from);
	if (rs->to != CD_DATE_NONE)
		cd_date_format(rs->to, to);
	else
		snprintf(to, sizeof(to), "open");
	if (md)
		fprintf(f, "\n### %s (version %d)\n\n%s\n\n- kind: %s\n- periods starting %s … %s\n", rs->id,
			rs->version, rs->title, rs->overlay ? "municipal overlay" : "national", from, to);
	else
		fprintf(f, "\n%s v%d  %s  %s … %s\n  %s\n", rs->id, rs->version, rs->overlay ? "overlay" : "national",
			from, to, rs->title);
	if (rs->overlay) {
		char ms[256] = "";
		size_t k = 0;
		for (size_t i = 0; i < n_m; i++)
			k += (size_t)snprintf(ms + k, sizeof(ms) - k, "%s%s", i ? ", " : "", munis[i]);
		mask_names(rs->benefits, CD_BENEFIT_MAX, cd_benefit_name, ben, sizeof(ben), "every benefit");
		fprintf(f, md ? "- enabled for municipalities: %s\n- benefits: %s%s\n" : "  municipalities: %s; benefits: %s%s\n",
			n_m ? ms : "(none)", ben,
			rs->seasonal < 0 ? "" : rs->seasonal ? " (seasonal only)" : " (not seasonal)");
		if (rs->n_replaces) {
			fprintf(f, md ? "- replaces national:" : "  replaces national:");
			for (size_t i = 0; i < rs->n_replaces; i++)
				fprintf(f, " %s", rs->replaces[i]);
			fprintf(f, "\n");
		}
		if (rs->widen_forms) {
			mask_names(rs->widen_forms, CD_FORM_MAX, cd_form_name, ben, sizeof(ben), "all forms");
			fprintf(f, md ? "- widens the forms of the remaining national obligations to: %s\n"
				      : "  widens national forms to: %s\n", ben);
		}
	} else {
		if (rs->joint_in_addition)
			fprintf(f, md ? "- joint conversations are in addition to the counts\n"
				      : "  joint conversations are in addition to the counts\n");
		if (rs->default_category)
			fprintf(f, md ? "- a period with no category is treated as %s\n"
				      : "  a period with no category is treated as %s\n",
				cd_category_name(rs->default_category));
		if (rs->transition)
			fprintf(f, md ? "- reaches courses running on %s with `--law-transition commencement` "
					"(default: only periods starting from then)\n"
				      : "  reaches courses running on %s with --law-transition commencement "
					"(default: only periods starting from then)\n", from);
		if (rs->no_obligations) {
			mask_names(rs->no_obligations, CD_BENEFIT_MAX, cd_benefit_name, ben, sizeof(ben), "");
			fprintf(f, md ? "- no obligations for %s: %s\n" : "  no obligations for %s: %s\n", ben,
				rs->no_obligations_why);
		}
	}
	if (rs->n_aggs) {
		if (md)
			fprintf(f, "\n| aggregate | what | severity | basis | legal reference |\n|---|---|---|---|---|\n");
		else
			fprintf(f, "  aggregates:\n");
		for (size_t i = 0; i < rs->n_aggs; i++) {
			const cd_aggdef *a = &rs->aggs[i];
			describe_aggregate(a, what, sizeof(what));
			if (md)
				fprintf(f, "| `%s` | %s | %s | %s | %s |\n", a->id, what,
					a->severity == CD_SEV_POLICY ? "POLICY" : "LEGAL", cd_basis_name(a->basis),
					a->legal_ref);
			else
				fprintf(f, "  %-44s %s\n      %s; basis %s; %s\n", a->id, a->description, what,
					cd_basis_name(a->basis), a->legal_ref);
		}
	}
	if (md && rs->n_obs)
		fprintf(f, "\n| obligation | kind | benefits | category | what | severity | mark | basis | legal reference |\n"
			   "|---|---|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < rs->n_obs; i++) {
		const cd_obdef *d = &rs->obs[i];
		char id[CD_MAX_OBLIGATION_ID_LEN + 16]; /* the id and its instances, "… -12" */
		if (benefit && d->benefits && !(d->benefits & CD_BIT(benefit)))
			continue;
		if (d->kind == CD_SCHEDULE)
			snprintf(id, sizeof(id), "%s-1 … -%d", d->id, d->slots);
		else if (d->repeat_months || d->kind == CD_MAX_GAP)
			snprintf(id, sizeof(id), "%s-<k>", d->id);
		else
			snprintf(id, sizeof(id), "%s", d->id);
		mask_names(d->benefits, CD_BENEFIT_MAX, cd_benefit_name, ben, sizeof(ben),
			   d->mirror[0] ? "as the national" : "every benefit");
		mask_names(d->categories, CD_CATEGORY_MAX, cd_category_name, cat, sizeof(cat), "any");
		describe(d, what, sizeof(what));
		if (md)
			fprintf(f, "| `%s` | %s | %s | %s | %s | %s | %c | %s | %s |\n", id,
				d->mirror[0] ? "mirror" : cd_ob_kind_name(d->kind), ben, cat, what,
				d->severity == CD_SEV_POLICY ? "POLICY" : "LEGAL", d->mark,
				d->basis ? cd_basis_name(d->basis) : "-", d->legal_ref);
		else
			fprintf(f, "  %-44s %-16s %s\n      %s; %s [%c] basis %s: %s\n", id,
				d->mirror[0] ? "mirror" : cd_ob_kind_name(d->kind), ben, what,
				d->severity == CD_SEV_POLICY ? "POLICY" : "LEGAL", d->mark,
				d->basis ? cd_basis_name(d->basis) : "-", d->legal_ref);
	}
}

static bool has_benefit(const cd_ruleset *rs, int benefit)
{
	for (size_t i = 0; i < rs->n_obs; i++)
		if (!rs->obs[i].benefits || (rs->obs[i].benefits & CD_BIT(benefit)))
			return true;
	return false;
}

/* ---- rules list: options ------------------------------------------------------------ */

enum { OPT_FORMAT = CD_OPT_OWN, OPT_DATE, OPT_MUNICIPALITY, OPT_BENEFIT };

static const struct option list_longopts[] = {
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "date", required_argument, NULL, OPT_DATE },
	{ "municipality", required_argument, NULL, OPT_MUNICIPALITY },
	{ "benefit", required_argument, NULL, OPT_BENEFIT },
	CD_OPT_ENGINE_LONGOPTS,
	CD_OPT_LOG_LEVEL_LONGOPT,
	{ NULL, 0, NULL, 0 },
};

typedef struct list_opts {
	cd_opt_engine eo;
	cd_date date;        /* CD_DATE_NONE: every date */
	const char *muni;    /* NULL: every municipality */
	int benefit;         /* 0: every benefit */
	bool md;
} list_opts;

static int list_option(void *ctx, int c, char *arg)
{
	list_opts *o = ctx;

	switch (c) {
	case OPT_FORMAT:
		if (strcmp(arg, "markdown") && strcmp(arg, "text"))
			return cd_opt_bad("--format", arg, "text or markdown");
		o->md = !strcmp(arg, "markdown");
		return 0;
	case OPT_DATE:
		return cd_date_parse(arg, strlen(arg), &o->date) < 0 ? cd_opt_bad("--date", arg, "YYYY-MM-DD") : 0;
	case OPT_MUNICIPALITY:
		o->muni = arg;
		return 0;
	case OPT_BENEFIT:
		return (o->benefit = cd_benefit_parse(arg)) <= 0 ? cd_opt_bad("--benefit", arg, "a benefit, e.g. DAGPENGE")
								 : 0;
	default:
		return cd_opt_engine_option(&o->eo, c, arg);
	}
}

static void list_usage(FILE *f)
{
	fprintf(f, "usage: contactd rules list [DIR] [--date YYYY-MM-DD] [--municipality CODE] "
		   "[--benefit BENEFIT] [--format text|markdown]\n");
}

static const cd_opt_cmd list_cmd = { "", list_longopts, list_option, list_usage, 1 };

/* ---- rules list ----------------------------------------------------------------------- */

static int rules_list(int argc, char **argv)
{
	list_opts o = { .date = CD_DATE_NONE };
	cd_err err;
	size_t n_nat = 0, n_ovl = 0;
	char note[256], d[CD_DATE_STRLEN];
	int status = 1;

	cd_opt_engine_init(&o.eo);
	if (cd_opt_parse(&list_cmd, argc, argv, &o) != 0)
		goto out;
	if (optind < argc)
		o.eo.rules_dir = argv[optind];
	if (cd_rules_load(o.eo.rules_dir, o.eo.overlays_config, &o.eo.rules, &err) < 0) {
		fprintf(stderr, "contactd: %s\n", err.msg);
		goto out;
	}
	if (o.md)
		printf("## National rulesets\n\nSelected by the period's start date (docs/spec/rules.md §5).\n");
	else
		printf("national rulesets (selected by the period's start date):\n");
	for (size_t i = 0; i < cd_rules_count(o.eo.rules); i++) {
		const cd_ruleset *rs = cd_rules_at(o.eo.rules, i);
		if (rs->overlay || (o.date != CD_DATE_NONE && cd_rules_national(o.eo.rules, o.date) != rs))
			continue;
		print_ruleset(stdout, o.eo.rules, rs, o.benefit, o.md);
		n_nat++;
		if (o.benefit && !has_benefit(rs, o.benefit))
			printf(o.md ? "\n**%s has no obligations for %s%s%s.**\n" : "  (%s has no obligations for %s%s%s)\n",
			       rs->id, cd_benefit_name(o.benefit),
			       (rs->no_obligations & CD_BIT(o.benefit)) ? ": " : "",
			       (rs->no_obligations & CD_BIT(o.benefit)) ? rs->no_obligations_why : "");
	}
	if (cd_rules_merge_count(o.eo.rules)) {
		printf(o.md ? "\n## Benefits merged by law\n\nAn input naming the benefit on or after the date is processed "
			      "as the one it became (docs/spec/rules.md §3.3; `rules/merges.json`).\n\n"
			      "| benefit | becomes | from | legal reference |\n|---|---|---|---|\n"
			    : "\nbenefits merged by law (an input on or after the date is processed as the new one):\n");
		for (size_t i = 0; i < cd_rules_merge_count(o.eo.rules); i++) {
			const cd_merge *m = cd_rules_merge_at(o.eo.rules, i);
			if (o.benefit && m->benefit != o.benefit && m->into != o.benefit)
				continue;
			printf(o.md ? "| %s | %s | %s | %s |\n" : "  %-20s -> %-14s from %s  %s\n", cd_benefit_name(m->benefit),
			       cd_benefit_name(m->into), cd_date_format(m->from, d), m->legal_ref);
		}
	}
	if (o.date != CD_DATE_NONE && cd_rules_national_gap(o.eo.rules, o.date, note, sizeof(note)))
		printf(o.md ? "\n**Warning: %s.**\n" : "\n  warning: %s\n", note);
	printf(o.md ? "\n## Municipal overlays\n\nEnabled per municipality by `rules/overlays.json`.\n"
		  : "\nmunicipal overlays:\n");
	for (size_t i = 0; i < cd_rules_count(o.eo.rules); i++) {
		const cd_ruleset *rs = cd_rules_at(o.eo.rules, i);
		const char *munis[64];
		size_t n = cd_rules_enabled_for(o.eo.rules, rs, munis, 64);
		bool hit = !o.muni;
		if (!rs->overlay)
			continue;
		for (size_t k = 0; k < n; k++)
			hit |= o.muni && !strcmp(munis[k], o.muni);
		if (!hit || (o.date != CD_DATE_NONE && (o.date < rs->from || (rs->to != CD_DATE_NONE && o.date > rs->to))))
			continue;
		if (o.benefit && rs->benefits && !(rs->benefits & CD_BIT(o.benefit)))
			continue;
		print_ruleset(stdout, o.eo.rules, rs, o.benefit, o.md);
		n_ovl++;
	}
	if (!n_ovl && (o.muni || o.benefit || o.date != CD_DATE_NONE)) {
		printf(o.md ? "\nNo municipal overlay applies" : "  none applies");
		if (o.muni)
			printf(" to municipality %s", o.muni);
		if (o.benefit)
			printf("%s %s", o.muni ? " and" : " to", cd_benefit_name(o.benefit));
		if (o.date != CD_DATE_NONE)
			printf(" for periods starting %s", cd_date_format(o.date, d));
		printf(n_nat ? ": the national rules apply alone%s\n" : "%s\n", o.md ? "." : "");
	}
	status = 0;
out:
	cd_opt_engine_release(&o.eo);
	return status;
}

/* Today in Copenhagen: the date a period starting now gets. */
static cd_date today(void)
{
	return cd_cph_date((cd_instant)time(NULL) * CD_NS_PER_SEC);
}

static int rules_check(int argc, char **argv)
{
	cd_opt_engine eo;
	cd_err err;
	size_t n_obs = 0, n_nat = 0, n_ovl = 0;
	cd_date last = CD_DATE_NONE;
	char d[CD_DATE_STRLEN], note[256];
	int status = 1;

	cd_opt_engine_init(&eo);
	if (argc > 1)
		eo.rules_dir = argv[1];
	if (cd_rules_load(eo.rules_dir, NULL, &eo.rules, &err) < 0) {
		fprintf(stderr, "contactd: rules check failed: %s\n", err.msg);
		goto out;
	}
	for (size_t i = 0; i < cd_rules_count(eo.rules); i++) {
		const cd_ruleset *rs = cd_rules_at(eo.rules, i);
		n_obs += rs->n_obs;
		if (rs->overlay) {
			n_ovl++;
			continue;
		}
		n_nat++;
		if (rs->to == CD_DATE_NONE)
			last = INT32_MAX;
		else if (last != INT32_MAX && (last == CD_DATE_NONE || rs->to > last))
			last = rs->to;
	}
	/* Gaps between national rulesets, from the first start. */
	for (size_t i = 0; i < cd_rules_count(eo.rules); i++) {
		const cd_ruleset *rs = cd_rules_at(eo.rules, i);
		if (!rs->overlay && rs->to != CD_DATE_NONE && rs->to != last &&
		    !cd_rules_national(eo.rules, rs->to + 1))
			printf("warning: no national ruleset for periods starting %s (after %s)\n",
			       cd_date_format(rs->to + 1, d), rs->id);
	}
	if (last != INT32_MAX && last != CD_DATE_NONE)
		printf("warning: no national ruleset for periods starting after %s: such periods get no national "
		       "obligations (decisions.md D20)\n", cd_date_format(last, d));
	if (cd_rules_national_gap(eo.rules, today(), note, sizeof(note)))
		printf("warning: today: %s\n", note);
	printf("ok: '%s': %zu national and %zu overlay rulesets, %zu obligation definitions\n", eo.rules_dir,
	       n_nat, n_ovl, n_obs);
	status = 0;
out:
	cd_opt_engine_release(&eo);
	return status;
}

int cmd_rules(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "check"))
		return rules_check(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "list"))
		return rules_list(argc - 1, argv + 1);
	fprintf(stderr, "usage: contactd rules check [DIR]\n"
			"       contactd rules list [DIR] [--date YYYY-MM-DD] [--municipality CODE] "
			"[--benefit BENEFIT] [--format text|markdown]\n");
	return 2;
}
