/*
 * test_rules.c — the ruleset loader and selection (state/rules.c).
 *
 * The shipped rules/ directory must load, and selection must pick the
 * national ruleset by period start and the overlays by municipality, benefit,
 * seasonal flag and start date. Most tests are failure paths of the loader:
 * each writes a small rules directory into a fresh mkdtemp directory (one
 * broken file, usually next to a valid overlays.json), loads it, and checks
 * that the load fails as a whole (-1, *out NULL) with a message naming the
 * file, the line where the loader can tell it, and the field. Expected lines
 * are computed from the fixture text (the line of a marker), never copied
 * from the loader's output. Fixtures live only for the test: the directory is
 * removed in teardown, so nothing is left in tests/fixtures/rules-bad/.
 * Everything runs under ASan, so every failure path is also a leak check.
 *
 * Run from the repository root (rules/ is relative).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/rules_json.h"
#include "state/date.h"
#include "state/event.h"
#include "state/rules.h"

/* ---- helpers -------------------------------------------------------------- */

static cd_date D(const char *s)
{
	cd_date d;
	if (cd_date_parse(s, strlen(s), &d) < 0)
		fail_msg("bad date literal '%s'", s);
	return d;
}

static cd_rules *load_shipped(void)
{
	cd_rules *r = NULL;
	cd_err err = { { 0 }, 0 };
	if (cd_rules_load("rules", NULL, &r, &err) < 0)
		fail_msg("loading rules/: %s", err.msg);
	assert_non_null(r);
	return r;
}

/* The ids of the overlays that apply, comma-separated, in configuration order. */
static const char *overlays_of(const cd_rules *r, const char *muni, int benefit, const char *start,
			       bool seasonal, char *buf, size_t len)
{
	const cd_ruleset *out[16];
	size_t n = cd_rules_overlays(r, muni, benefit, D(start), seasonal, out, 16);
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t used = strlen(buf);
		snprintf(buf + used, len - used, "%s%s", i ? "," : "", out[i]->id);
	}
	return buf;
}

/* A definition by its full id; fails the test when there is none. */
static const cd_obdef *ob(const cd_rules *r, const char *id)
{
	const cd_obdef *d = cd_rules_find_obligation(r, id, NULL);
	if (!d)
		fail_msg("no obligation '%s'", id);
	return d;
}

/* A temporary rules directory, one per test. */
typedef struct tmpdir {
	char dir[512];
} tmpdir;

static int setup_tmp(void **state)
{
	tmpdir *t = calloc(1, sizeof(*t));
	const char *base = getenv("TMPDIR");
	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "%s/cd-rules-bad-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int teardown_tmp(void **state)
{
	tmpdir *t = *state;
	DIR *dh = opendir(t->dir);
	struct dirent *de;
	char path[1024];
	if (dh) {
		while ((de = readdir(dh))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			snprintf(path, sizeof(path), "%s/%s", t->dir, de->d_name);
			unlink(path);
		}
		closedir(dh);
	}
	rmdir(t->dir);
	free(t);
	return 0;
}

static void put_file(const tmpdir *t, const char *name, const char *text)
{
	char path[1024];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", t->dir, name);
	f = fopen(path, "wb");
	if (!f)
		fail_msg("cannot create '%s'", path);
	fputs(text, f);
	fclose(f);
}

static void remove_file(const tmpdir *t, const char *name)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", t->dir, name);
	unlink(path);
}

/* 1-based line of the first occurrence of `marker` in text. */
static int line_of(const char *text, const char *marker)
{
	const char *hit = strstr(text, marker);
	int line = 1;
	if (!hit)
		fail_msg("marker '%s' not in fixture", marker);
	for (const char *p = text; p < hit; p++)
		line += *p == '\n';
	return line;
}

/* Loads t's directory (overlays_path may be NULL); asserts failure; the message goes to msg. */
static void load_must_fail(const tmpdir *t, const char *overlays_path, char *msg, size_t len)
{
	cd_rules *r = (cd_rules *)(uintptr_t)1; /* must be reset to NULL */
	cd_err err = { { 0 }, 0 };
	int rc = cd_rules_load(t->dir, overlays_path, &r, &err);
	if (rc == 0) {
		cd_rules_free(r);
		fail_msg("cd_rules_load of '%s' succeeded; expected a failure", t->dir);
	}
	assert_int_equal(rc, -1);
	assert_null(r);
	if (!err.msg[0])
		fail_msg("cd_rules_load failed with an empty message");
	snprintf(msg, len, "%s", err.msg);
}

static void assert_msg_has(const char *msg, const char *want)
{
	if (!strstr(msg, want))
		fail_msg("message lacks \"%s\":\n  %s", want, msg);
}

/* The message starts with "<dir>/<file>:<line>:". */
static void assert_msg_at(const tmpdir *t, const char *msg, const char *file, int line)
{
	char want[1024];
	snprintf(want, sizeof(want), "%s/%s:%d:", t->dir, file, line);
	if (strncmp(msg, want, strlen(want)))
		fail_msg("message does not start with \"%s\":\n  %s", want, msg);
}

/* Names the file somewhere in the message (full path as given to the loader). */
static void assert_msg_names_file(const tmpdir *t, const char *msg, const char *file)
{
	char want[1024];
	snprintf(want, sizeof(want), "%s/%s", t->dir, file);
	assert_msg_has(msg, want);
}

#define EMPTY_OVERLAYS "{ \"overlays\": [] }\n"

/* A national ruleset with one valid obligation first and `obs` after it. */
#define NATIONAL_WITH(obs)                                                                         \
	"{\n"                                                                                      \
	"  \"id\": \"t-national\",\n"                                                              \
	"  \"version\": 1,\n"                                                                      \
	"  \"kind\": \"national\",\n"                                                              \
	"  \"title\": \"test\",\n"                                                                 \
	"  \"effective\": { \"from\": \"2015-07-01\" },\n"                                         \
	"  \"obligations\": [\n"                                                                   \
	"    { \"name\": \"ok-first\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"1w after\" } },\n" \
	"    " obs "\n"                                                                            \
	"  ]\n"                                                                                    \
	"}\n"

/* NATIONAL_WITH(ob) at run time, into buf. */
static const char *national_with(char *buf, size_t len, const char *ob)
{
	static const char *const head = NATIONAL_WITH("\x01");
	const char *mark = strchr(head, '\x01');
	snprintf(buf, len, "%.*s%s%s", (int)(mark - head), head, ob, mark + 1);
	return buf;
}

/* Writes `text` as bad.json with an empty overlays.json; asserts the load fails. */
static void bad_ruleset(const tmpdir *t, const char *text, char *msg, size_t len)
{
	put_file(t, "bad.json", text);
	put_file(t, "overlays.json", EMPTY_OVERLAYS);
	load_must_fail(t, NULL, msg, len);
	remove_file(t, "bad.json");
	remove_file(t, "overlays.json");
}

/*
 * One broken-obligation case: obligation JSON on one line (inserted as the
 * second obligation of a national ruleset), the field the message must name,
 * and a marker on the offending line (NULL: the obligation's own line).
 */
typedef struct ob_case {
	const char *ob;
	const char *field;
	const char *extra;   /* another substring the message must hold, or NULL */
} ob_case;

static void check_ob_cases(const tmpdir *t, const ob_case *cases, size_t n)
{
	char text[4096], msg[1024], field[128];
	for (size_t i = 0; i < n; i++) {
		national_with(text, sizeof(text), cases[i].ob);
		bad_ruleset(t, text, msg, sizeof(msg));
		print_message("case %zu: %s\n  -> %s\n", i, cases[i].ob, msg);
		assert_msg_at(t, msg, "bad.json", line_of(text, cases[i].ob));
		snprintf(field, sizeof(field), "field '%s'", cases[i].field);
		assert_msg_has(msg, field);
		assert_msg_has(msg, "obligations[1]");
		if (cases[i].extra)
			assert_msg_has(msg, cases[i].extra);
	}
}

/* ---- the shipped rules ---------------------------------------------------- */

static void test_shipped_rules_directory_loads_every_ruleset(void **state)
{
	cd_rules *r = load_shipped();
	static const char *const ids[] = {
		"dk-2015", "dk-2020", "dk-2024", "dk-2026", "frikommune-hjoerring", "frikommune-hjoerring-seasonal",
		"frikommune-nordjylland", "frikommune-rebild", "policy-broendby", "policy-faaborg-midtfyn", "policy-hedensted",
	};
	(void)state;
	assert_int_equal(cd_rules_count(r), sizeof(ids) / sizeof(ids[0]));
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		if (!cd_rules_find(r, ids[i]))
			fail_msg("ruleset '%s' not loaded", ids[i]);
	assert_null(cd_rules_find(r, "overlays"));
	assert_non_null(cd_rules_find_obligation(r, "dk-2020/four-in-six", NULL));
	assert_null(cd_rules_find_obligation(r, "dk-2020/no-such", NULL));
	cd_rules_free(r);
}

static void test_national_ruleset_is_chosen_by_period_start(void **state)
{
	cd_rules *r = load_shipped();
	const cd_ruleset *rs;
	(void)state;
	rs = cd_rules_national(r, D("2019-12-31"));
	assert_non_null(rs);
	assert_string_equal(rs->id, "dk-2015");
	rs = cd_rules_national(r, D("2020-01-01"));
	assert_non_null(rs);
	assert_string_equal(rs->id, "dk-2020");
	rs = cd_rules_national(r, D("2023-12-31"));
	assert_non_null(rs);
	assert_string_equal(rs->id, "dk-2020");
	rs = cd_rules_national(r, D("2024-01-01"));
	assert_non_null(rs);
	assert_string_equal(rs->id, "dk-2024");
	rs = cd_rules_national(r, D("2026-06-30"));
	assert_non_null(rs);
	assert_string_equal(rs->id, "dk-2024");
	rs = cd_rules_national(r, D("2015-07-01"));
	assert_non_null(rs);
	assert_string_equal(rs->id, "dk-2015");
	rs = cd_rules_national(r, D("2026-07-01"));
	assert_non_null(rs);
	assert_string_equal(rs->id, "dk-2026");
	cd_rules_free(r);
}

/* dk-2026 (from 2026-07-01) is open-ended: the only gap left is before dk-2015. */
static void test_no_national_ruleset_before_2015_07_01_and_dk_2026_is_open_ended(void **state)
{
	cd_rules *r = load_shipped();
	const cd_ruleset *rs;
	char buf[512];
	(void)state;
	assert_null(cd_rules_national(r, D("2015-06-30")));
	assert_null(cd_rules_national(r, D("1990-01-01")));
	assert_int_equal(cd_rules_national_gap(r, D("2015-06-30"), buf, sizeof(buf)), 1);
	assert_non_null(strstr(buf, "2015-06-30"));
	rs = cd_rules_find(r, "dk-2024");
	assert_non_null(rs);
	assert_int_equal(rs->to, D("2026-06-30"));
	rs = cd_rules_find(r, "dk-2026");
	assert_non_null(rs);
	assert_false(rs->overlay);
	assert_int_equal(rs->from, D("2026-07-01"));
	assert_int_equal(rs->to, CD_DATE_NONE);
	for (const char *const *d = (const char *const[]){ "2026-07-01", "2030-01-01", "2099-12-31", NULL }; *d; d++) {
		buf[0] = '\0';
		assert_ptr_equal(cd_rules_national(r, D(*d)), rs);
		assert_int_equal(cd_rules_national_gap(r, D(*d), buf, sizeof(buf)), 0);
		assert_string_equal(buf, "");
	}
	cd_rules_free(r);
}

/* cd_rules_national_after: the next national ruleset by effective date; none after an open-ended one. */
static void test_national_after_walks_the_national_rulesets_in_date_order(void **state)
{
	cd_rules *r = load_shipped();
	static const char *const chain[] = { "dk-2015", "dk-2020", "dk-2024", "dk-2026" };
	(void)state;
	for (size_t i = 0; i + 1 < sizeof(chain) / sizeof(chain[0]); i++) {
		const cd_ruleset *next = cd_rules_national_after(r, cd_rules_find(r, chain[i]));
		if (!next)
			fail_msg("nothing after %s", chain[i]);
		assert_string_equal(next->id, chain[i + 1]);
	}
	assert_null(cd_rules_national_after(r, cd_rules_find(r, "dk-2026")));
	assert_null(cd_rules_national_after(r, NULL));
	cd_rules_free(r);
}

/* rules/merges.json: UDDANNELSESHJAELP and INTEGRATIONSYDELSE are KONTANTHJAELP from 2025-07-01. */
static void test_merged_benefit_follows_rules_merges_json(void **state)
{
	cd_rules *r = load_shipped();
	(void)state;
	assert_int_equal(cd_rules_merge_count(r), 2);
	assert_null(cd_rules_merge_at(r, 2));
	assert_int_equal(cd_rules_merged_benefit(r, CD_UDDANNELSESHJAELP, D("2025-06-30")), CD_UDDANNELSESHJAELP);
	assert_int_equal(cd_rules_merged_benefit(r, CD_UDDANNELSESHJAELP, D("2025-07-01")), CD_KONTANTHJAELP);
	assert_int_equal(cd_rules_merged_benefit(r, CD_UDDANNELSESHJAELP, D("2099-12-31")), CD_KONTANTHJAELP);
	assert_int_equal(cd_rules_merged_benefit(r, CD_INTEGRATIONSYDELSE, D("2025-06-30")), CD_INTEGRATIONSYDELSE);
	assert_int_equal(cd_rules_merged_benefit(r, CD_INTEGRATIONSYDELSE, D("2025-07-01")), CD_KONTANTHJAELP);
	for (int b = 1; b <= CD_BENEFIT_MAX; b++) {
		if (b == CD_UDDANNELSESHJAELP || b == CD_INTEGRATIONSYDELSE)
			continue;
		assert_int_equal(cd_rules_merged_benefit(r, b, D("2025-06-30")), b);
		assert_int_equal(cd_rules_merged_benefit(r, b, D("2025-07-01")), b);
	}
	assert_int_equal(cd_rules_merged_benefit(r, CD_DAGPENGE, D("2026-07-01")), CD_DAGPENGE);
	assert_non_null(cd_rules_merge_at(r, 0)->legal_ref);
	cd_rules_free(r);
}

/* dk-2026 as rules/dk-2026.json states it: aggregates, members, period flags, the new top-level keys. */
static void test_dk_2026_aggregates_members_flags_and_top_level_keys(void **state)
{
	cd_rules *r = load_shipped();
	const cd_ruleset *rs = cd_rules_find(r, "dk-2026"), *got = NULL;
	const cd_aggdef *a;
	const cd_obdef *d;
	size_t kommune_two = 0;
	(void)state;
	assert_non_null(rs);
	assert_true(rs->transition);
	assert_false(cd_rules_find(r, "dk-2024")->transition);
	assert_int_equal(rs->default_category, CD_JOBPARAT);
	assert_int_equal(rs->no_obligations, CD_BIT(CD_RESSOURCEFORLOEB) | CD_BIT(CD_REVALIDERING));
	assert_true(strlen(rs->no_obligations_why) > 0);
	assert_string_equal(cd_rules_find(r, "dk-2024")->no_obligations_why, "");
	assert_int_equal(rs->n_aggs, 2);

	a = cd_rules_find_aggregate(r, "dk-2026/kommune-share");
	assert_non_null(a);
	assert_int_equal(a->kind, CD_AGG_SHARE);
	assert_int_equal(a->share_pct, 75);
	assert_int_equal(a->key, CD_AGG_KEY_MUNICIPALITY);
	assert_int_equal(a->scope, CD_SCOPE_KOMMUNE);
	assert_int_equal(a->period, 'q');
	assert_int_equal(a->basis, CD_BASIS_GUIDANCE);
	assert_int_equal(a->severity, CD_SEV_LEGAL);
	a = cd_rules_find_aggregate(r, "dk-2026/akasse-share");
	assert_non_null(a);
	assert_int_equal(a->key, CD_AGG_KEY_AKASSE);
	assert_int_equal(a->scope, CD_SCOPE_AKASSE);
	assert_null(cd_rules_find_aggregate(r, "kommune-share"));
	assert_null(cd_rules_find_aggregate(r, "dk-2024/kommune-share"));

	d = cd_rules_find_obligation(r, "dk-2026/akasse-two", &got);
	assert_non_null(d);
	assert_ptr_equal(got, rs);
	assert_string_equal(d->aggregate, "dk-2026/akasse-share");      /* a bare member_of, resolved */
	assert_int_equal(d->exempt_scope, CD_SCOPE_AKASSE);
	assert_int_equal(d->basis, CD_BASIS_GUIDANCE);
	assert_int_equal(d->flags_clear, CD_PF_COURSE);
	assert_int_equal(d->flags_set, 0);
	assert_true(cd_obdef_applies(d, CD_DAGPENGE, CD_JOBPARAT, true, 0));
	assert_false(cd_obdef_applies(d, CD_DAGPENGE, CD_JOBPARAT, true, CD_PF_COURSE));
	assert_true(cd_obdef_applies(d, CD_DAGPENGE, CD_JOBPARAT, false, CD_PF_SICK_SHORT));

	d = cd_rules_find_obligation(r, "dk-2026/akasse-first", NULL);
	assert_non_null(d);
	assert_int_equal(d->anchor, CD_ANCHOR_START_INPUT);
	assert_string_equal(d->aggregate, "");
	assert_int_equal(d->exempt_scope, 0);

	/* kommune-two: one name, two exclusive definitions (opposite municipal_contact_course). */
	for (size_t i = 0; i < rs->n_obs; i++) {
		d = &rs->obs[i];
		if (strcmp(d->name, "kommune-two"))
			continue;
		kommune_two++;
		assert_string_equal(d->id, "dk-2026/kommune-two");
		assert_string_equal(d->aggregate, "dk-2026/kommune-share");
		assert_int_equal(d->exempt_scope, CD_SCOPE_KOMMUNE);
		assert_true(cd_obdef_applies(d, CD_DAGPENGE, CD_JOBPARAT, true, 0) !=
			    cd_obdef_applies(d, CD_DAGPENGE, CD_JOBPARAT, true, CD_PF_COURSE));
	}
	assert_int_equal(kommune_two, 2);

	d = cd_rules_find_obligation(r, "dk-2026/sick-first", NULL);
	assert_non_null(d);
	assert_int_equal(d->basis, CD_BASIS_CARRIED_OVER);
	assert_true(cd_obdef_applies(d, CD_SYGEDAGPENGE, CD_CATEGORY_NONE, true, 0));
	assert_false(cd_obdef_applies(d, CD_SYGEDAGPENGE, CD_CATEGORY_NONE, true, CD_PF_SICK_SHORT));
	assert_false(cd_obdef_applies(d, CD_DAGPENGE, CD_CATEGORY_NONE, true, 0));

	/* Basis names and words. */
	for (int b = 1; b <= CD_BASIS_MAX; b++) {
		assert_int_equal(cd_basis_parse(cd_basis_name(b)), b);
		assert_true(strlen(cd_basis_words(b)) > 0);
	}
	assert_string_equal(cd_basis_name(CD_BASIS_CARRIED_OVER), "CARRIED_OVER");
	assert_int_equal(cd_basis_parse("law"), -1);
	assert_int_equal(cd_basis_parse(""), -1);
	assert_string_equal(cd_basis_name(CD_BASIS_MAX + 1), "?");
	assert_string_equal(cd_basis_name(-1), "?");
	cd_rules_free(r);
}

static void test_hjoerring_dagpenge_gets_the_frikommune_overlay_by_seasonal_flag(void **state)
{
	cd_rules *r = load_shipped();
	char buf[256];
	(void)state;
	assert_string_equal(overlays_of(r, "860", CD_DAGPENGE, "2017-09-01", false, buf, sizeof(buf)),
			    "frikommune-hjoerring");
	assert_string_equal(overlays_of(r, "860", CD_DAGPENGE, "2017-09-01", true, buf, sizeof(buf)),
			    "frikommune-hjoerring-seasonal");
	assert_string_equal(overlays_of(r, "860", CD_DAGPENGE, "2020-12-31", false, buf, sizeof(buf)),
			    "frikommune-hjoerring");
	cd_rules_free(r);
}

static void test_hjoerring_overlay_does_not_apply_before_its_start_or_to_other_benefits(void **state)
{
	cd_rules *r = load_shipped();
	char buf[256];
	(void)state;
	assert_string_equal(overlays_of(r, "860", CD_DAGPENGE, "2017-08-31", false, buf, sizeof(buf)), "");
	assert_string_equal(overlays_of(r, "860", CD_DAGPENGE, "2017-08-31", true, buf, sizeof(buf)), "");
	assert_string_equal(overlays_of(r, "860", CD_DAGPENGE, "2021-01-01", false, buf, sizeof(buf)), "");
	assert_string_equal(overlays_of(r, "860", CD_KONTANTHJAELP, "2017-09-01", false, buf, sizeof(buf)), "");
	assert_string_equal(overlays_of(r, "860", CD_KONTANTHJAELP, "2018-09-01", true, buf, sizeof(buf)), "");
	/* Another municipality, or none. */
	assert_string_equal(overlays_of(r, "861", CD_DAGPENGE, "2017-09-01", false, buf, sizeof(buf)), "");
	assert_string_equal(overlays_of(r, "", CD_DAGPENGE, "2017-09-01", false, buf, sizeof(buf)), "");
	cd_rules_free(r);
}

static void test_hedensted_overlay_applies_to_any_benefit_from_2020_01_01(void **state)
{
	cd_rules *r = load_shipped();
	char buf[256];
	(void)state;
	for (int b = 1; b <= CD_BENEFIT_MAX; b++) {
		assert_string_equal(overlays_of(r, "766", b, "2020-01-01", false, buf, sizeof(buf)),
				    "policy-hedensted");
		assert_string_equal(overlays_of(r, "766", b, "2025-03-01", true, buf, sizeof(buf)),
				    "policy-hedensted");
		assert_string_equal(overlays_of(r, "766", b, "2019-12-31", false, buf, sizeof(buf)), "");
	}
	cd_rules_free(r);
}

/*
 * frikommune-nordjylland (rules.md §5, seed 003; D21) as rules/frikommune-nordjylland.json
 * states it: enabled for no municipality by default, only for its ten; all forms count;
 * national FIRST_WITHIN lifted; national counts of at least 2 (dk-2015's jobparat-first-3m
 * and count-12m, dk-2020's four-in-six and sick-four-in-six: the national rulesets its
 * dates overlap) members of average-<benefit>.
 */
static void test_nordjylland_overlay_as_shipped(void **state)
{
	static const char *const ten[] = { "810", "813", "860", "849", "825", "846", "773", "840", "787", "820" };
	static const struct { const char *national; int benefit; const char *aggregate; } members[] = {
		{ "dk-2015/jobparat-first-3m", CD_KONTANTHJAELP, "frikommune-nordjylland/average-kontanthjaelp" },
		{ "dk-2015/jobparat-first-3m", CD_UDDANNELSESHJAELP, "frikommune-nordjylland/average-uddannelseshjaelp" },
		{ "dk-2015/jobparat-first-3m", CD_INTEGRATIONSYDELSE, "frikommune-nordjylland/average-integrationsydelse" },
		{ "dk-2015/count-12m", CD_KONTANTHJAELP, "frikommune-nordjylland/average-kontanthjaelp" },
		{ "dk-2015/count-12m", CD_UDDANNELSESHJAELP, "frikommune-nordjylland/average-uddannelseshjaelp" },
		{ "dk-2015/count-12m", CD_INTEGRATIONSYDELSE, "frikommune-nordjylland/average-integrationsydelse" },
		{ "dk-2020/four-in-six", CD_DAGPENGE, "frikommune-nordjylland/average-dagpenge" },
		{ "dk-2020/four-in-six", CD_KONTANTHJAELP, "frikommune-nordjylland/average-kontanthjaelp" },
		{ "dk-2020/four-in-six", CD_UDDANNELSESHJAELP, "frikommune-nordjylland/average-uddannelseshjaelp" },
		{ "dk-2020/four-in-six", CD_INTEGRATIONSYDELSE, "frikommune-nordjylland/average-integrationsydelse" },
		{ "dk-2020/four-in-six", CD_JOBAFKLARING, "frikommune-nordjylland/average-jobafklaring" },
		{ "dk-2020/four-in-six", CD_RESSOURCEFORLOEB, "frikommune-nordjylland/average-ressourceforloeb" },
		{ "dk-2020/four-in-six", CD_LEDIGHEDSYDELSE, "frikommune-nordjylland/average-ledighedsydelse" },
		{ "dk-2020/sick-four-in-six", CD_SYGEDAGPENGE, "frikommune-nordjylland/average-sygedagpenge" },
	};
	static const struct { const char *national; int benefit; } not_members[] = {
		{ "dk-2020/four-in-six", CD_REVALIDERING },       /* not one of its benefits */
		{ "dk-2020/first-within", CD_KONTANTHJAELP },     /* lifted, not a member */
		{ "dk-2015/schedule", CD_DAGPENGE },              /* SCHEDULE: per citizen */
		{ "dk-2015/after-six-gap", CD_DAGPENGE },
		{ "dk-2020/joint-1", CD_DAGPENGE },
		{ "dk-2024/four-in-six", CD_KONTANTHJAELP },      /* dk-2024's periods start after it ended */
		{ "dk-2024/akasse-three", CD_DAGPENGE },
		{ "dk-2026/four-in-six", CD_JOBAFKLARING },
	};
	static const char *const averages[] = { "dagpenge", "kontanthjaelp", "uddannelseshjaelp", "integrationsydelse",
						"sygedagpenge", "jobafklaring", "ressourceforloeb", "ledighedsydelse" };
	cd_rules *r = load_shipped();
	const cd_ruleset *rs = cd_rules_find(r, "frikommune-nordjylland");
	const char *munis[16];
	cd_err err = { { 0 }, 0 };
	char buf[256], spec[64];
	(void)state;

	assert_non_null(rs);
	assert_true(rs->overlay);
	assert_int_equal(rs->from, D("2017-09-01"));
	assert_int_equal(rs->to, D("2020-12-31"));
	assert_int_equal(rs->benefits, CD_BIT(CD_DAGPENGE) | CD_BIT(CD_KONTANTHJAELP) | CD_BIT(CD_UDDANNELSESHJAELP) |
				       CD_BIT(CD_INTEGRATIONSYDELSE) | CD_BIT(CD_SYGEDAGPENGE) | CD_BIT(CD_JOBAFKLARING) |
				       CD_BIT(CD_RESSOURCEFORLOEB) | CD_BIT(CD_LEDIGHEDSYDELSE));
	assert_int_equal(rs->seasonal, -1);
	assert_int_equal(rs->n_replaces, 0);
	assert_int_equal(rs->n_obs, 0);
	for (int f = 1; f <= CD_FORM_MAX; f++)
		assert_true(rs->widen_forms & CD_BIT(f));
	assert_int_equal(rs->lifts_kinds, CD_BIT(CD_FIRST_WITHIN));
	assert_int_equal(rs->members_kind, CD_COUNT_IN_WINDOW);
	assert_int_equal(rs->members_min_required, 2);

	/* Its ten municipalities, and no other. */
	assert_int_equal(rs->n_allowed, 10);
	for (size_t i = 0; i < 10; i++)
		assert_true(cd_ruleset_allows(rs, ten[i]));
	for (const char *const *m = (const char *const[]){ "101", "851", "766", "8130", "0813", NULL }; *m; m++)
		assert_false(cd_ruleset_allows(rs, *m));

	/* One AVERAGE per benefit, by municipality and quarter, with no "required": each member owes its own count. */
	assert_int_equal(rs->n_aggs, 8);
	for (size_t i = 0; i < 8; i++) {
		char id[96];
		const cd_aggdef *a;
		snprintf(id, sizeof(id), "frikommune-nordjylland/average-%s", averages[i]);
		a = cd_rules_find_aggregate(r, id);
		if (!a)
			fail_msg("no aggregate %s", id);
		assert_int_equal(a->kind, CD_AGG_AVERAGE);
		assert_int_equal(a->key, CD_AGG_KEY_MUNICIPALITY);
		assert_int_equal(a->period, 'q');
		assert_int_equal(a->scope, 0);
		assert_int_equal(a->severity, CD_SEV_LEGAL);
		assert_int_equal(a->required, 0);
	}

	assert_int_equal(rs->n_nmembers, sizeof(members) / sizeof(members[0]));
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		const cd_obdef *nat = ob(r, members[i].national);
		const cd_obdef *m = cd_rules_national_member(&rs, 1, nat, members[i].benefit);
		if (!m)
			fail_msg("%s is no member for %s", members[i].national, cd_benefit_name(members[i].benefit));
		assert_string_equal(m->id, members[i].national);
		assert_string_equal(m->aggregate, members[i].aggregate);
		assert_int_equal(m->agg_kind, CD_AGG_AVERAGE);
		assert_int_equal(m->required, nat->required);
		assert_string_equal(nat->aggregate, "");
	}
	for (size_t i = 0; i < sizeof(not_members) / sizeof(not_members[0]); i++)
		if (cd_rules_national_member(&rs, 1, ob(r, not_members[i].national), not_members[i].benefit))
			fail_msg("%s is a member for %s", not_members[i].national, cd_benefit_name(not_members[i].benefit));
	assert_true(cd_rules_lifted(&rs, 1, CD_FIRST_WITHIN));
	assert_false(cd_rules_lifted(&rs, 1, CD_COUNT_IN_WINDOW));

	/* Enabled for none by default (rules/overlays.json). */
	assert_int_equal(cd_rules_enabled_for(r, rs, munis, 16), 0);
	for (size_t i = 0; i < 10; i++)
		if (strstr(overlays_of(r, ten[i], CD_KONTANTHJAELP, "2020-03-02", false, buf, sizeof(buf)), "nordjylland"))
			fail_msg("enabled by default for %s", ten[i]);

	/* --overlays frikommune-nordjylland@813: every benefit of the row, periods starting 2017-09-01 … 2020-12-31. */
	if (cd_rules_set_overlays(r, "frikommune-nordjylland@813", &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(overlays_of(r, "813", CD_KONTANTHJAELP, "2020-03-02", false, buf, sizeof(buf)),
			    "frikommune-nordjylland");
	assert_string_equal(overlays_of(r, "813", CD_DAGPENGE, "2017-09-01", true, buf, sizeof(buf)),
			    "frikommune-nordjylland");
	assert_string_equal(overlays_of(r, "813", CD_LEDIGHEDSYDELSE, "2020-12-31", false, buf, sizeof(buf)),
			    "frikommune-nordjylland");
	assert_string_equal(overlays_of(r, "813", CD_KONTANTHJAELP, "2017-08-31", false, buf, sizeof(buf)), "");
	assert_string_equal(overlays_of(r, "813", CD_KONTANTHJAELP, "2021-01-01", false, buf, sizeof(buf)), "");
	assert_string_equal(overlays_of(r, "813", CD_REVALIDERING, "2020-03-02", false, buf, sizeof(buf)), "");
	assert_string_equal(overlays_of(r, "813", CD_FOERTIDSPENSION, "2020-03-02", false, buf, sizeof(buf)), "");
	assert_string_equal(overlays_of(r, "810", CD_KONTANTHJAELP, "2020-03-02", false, buf, sizeof(buf)), "");

	/* Each of the ten may have it; any other municipality is a configuration error naming it. */
	for (size_t i = 0; i < 10; i++) {
		snprintf(spec, sizeof(spec), "frikommune-nordjylland@%s", ten[i]);
		if (cd_rules_set_overlays(r, spec, &err) < 0)
			fail_msg("%s: %s", spec, err.msg);
	}
	for (const char *const *m = (const char *const[]){ "101", "851", "0813", NULL }; *m; m++) {
		snprintf(spec, sizeof(spec), "frikommune-nordjylland@%s", *m);
		assert_int_equal(cd_rules_set_overlays(r, spec, &err), -1);
		assert_msg_has(err.msg, spec);
		snprintf(buf, sizeof(buf), "may not be enabled for municipality %s", *m);
		assert_msg_has(err.msg, buf);
		assert_msg_has(err.msg, "frikommune-nordjylland.json allows only 810, 813, 860, 849, 825, 846, 773, 840, 787, 820");
	}
	cd_rules_free(r);
}

static void test_set_overlays_none_disables_every_overlay(void **state)
{
	cd_rules *r = load_shipped();
	cd_err err = { { 0 }, 0 };
	char buf[256];
	(void)state;
	assert_int_equal(cd_rules_set_overlays(r, "none", &err), 0);
	assert_string_equal(overlays_of(r, "860", CD_DAGPENGE, "2018-01-01", false, buf, sizeof(buf)), "");
	assert_string_equal(overlays_of(r, "766", CD_KONTANTHJAELP, "2021-01-01", false, buf, sizeof(buf)), "");
	assert_int_equal(cd_rules_set_overlays(r, "", &err), 0);
	assert_string_equal(overlays_of(r, "840", CD_DAGPENGE, "2018-01-01", false, buf, sizeof(buf)), "");
	cd_rules_free(r);
}

static void test_set_overlays_list_enables_exactly_those_pairs(void **state)
{
	cd_rules *r = load_shipped();
	cd_err err = { { 0 }, 0 };
	const char *munis[8];
	char buf[256];
	(void)state;
	if (cd_rules_set_overlays(r, "frikommune-rebild@840,policy-hedensted@0860", &err) < 0)
		fail_msg("set_overlays: %s", err.msg);
	assert_string_equal(overlays_of(r, "840", CD_DAGPENGE, "2018-01-01", false, buf, sizeof(buf)),
			    "frikommune-rebild");
	assert_string_equal(overlays_of(r, "860", CD_DAGPENGE, "2018-01-01", false, buf, sizeof(buf)), "");
	assert_string_equal(overlays_of(r, "0860", CD_KONTANTHJAELP, "2021-01-01", false, buf, sizeof(buf)),
			    "policy-hedensted");
	assert_string_equal(overlays_of(r, "766", CD_KONTANTHJAELP, "2021-01-01", false, buf, sizeof(buf)), "");
	assert_int_equal(cd_rules_enabled_for(r, cd_rules_find(r, "frikommune-rebild"), munis, 8), 1);
	assert_string_equal(munis[0], "840");
	assert_int_equal(cd_rules_enabled_for(r, cd_rules_find(r, "frikommune-hjoerring"), munis, 8), 0);
	cd_rules_free(r);
}

static void test_set_overlays_rejects_a_bad_item_naming_it_and_keeps_the_old_configuration(void **state)
{
	static const char *const bad[][2] = {
		{ "frikommune-rebild@840,no-such-overlay@860", "no-such-overlay@860" },
		{ "dk-2020@860", "dk-2020@860" },                 /* a national ruleset */
		{ "frikommune-rebild@86", "frikommune-rebild@86" },
		{ "frikommune-rebild@86a", "frikommune-rebild@86a" },
		{ "frikommune-rebild@12345", "frikommune-rebild@12345" },
		{ "frikommune-rebild@", "frikommune-rebild@" },
		{ "policy-hedensted@766,frikommune-rebild", "'frikommune-rebild'" },  /* no @ */
		{ "@840", "'@840'" },
	};
	cd_rules *r = load_shipped();
	char buf[256];
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cd_err err = { { 0 }, 0 };
		if (cd_rules_set_overlays(r, bad[i][0], &err) != -1)
			fail_msg("set_overlays(\"%s\") was accepted", bad[i][0]);
		assert_msg_has(err.msg, bad[i][1]);
		/* The shipped configuration is still in force. */
		assert_string_equal(overlays_of(r, "860", CD_DAGPENGE, "2018-01-01", false, buf, sizeof(buf)),
				    "frikommune-hjoerring");
		assert_string_equal(overlays_of(r, "840", CD_DAGPENGE, "2018-01-01", false, buf, sizeof(buf)),
				    "frikommune-rebild");
	}
	cd_rules_free(r);
}

static void test_span_lengths_follow_rules_md_3_1(void **state)
{
	cd_span six_m = { 6, 'm', false }, one_w_after = { 1, 'w', true }, eight_w = { 8, 'w', false };
	cd_span two_d_after = { 2, 'd', true }, none = { 0, 'd', false };
	char buf[32];
	(void)state;
	assert_int_equal(cd_span_length(six_m, D("2020-01-15")), 182);
	assert_int_equal(cd_span_length(one_w_after, D("2020-01-15")), 8);
	assert_int_equal(cd_span_length(eight_w, D("2020-01-15")), 56);
	assert_int_equal(cd_span_length(two_d_after, D("2020-01-15")), 3);
	assert_int_equal(cd_span_length(none, D("2020-01-15")), 0);
	assert_string_equal(cd_span_format(one_w_after, buf, sizeof(buf)), "1w after");
	assert_string_equal(cd_span_format(none, buf, sizeof(buf)), "-");
}

/* ---- directory and file level failures ------------------------------------ */

static void test_missing_rules_directory_fails_naming_it(void **state)
{
	tmpdir *t = *state;
	char dir[1024];
	cd_rules *r = (cd_rules *)(uintptr_t)1;
	cd_err err = { { 0 }, 0 };
	snprintf(dir, sizeof(dir), "%s/no-such-dir", t->dir);
	assert_int_equal(cd_rules_load(dir, NULL, &r, &err), -1);
	assert_null(r);
	assert_msg_has(err.msg, dir);
}

static void test_missing_overlays_json_fails_naming_it(void **state)
{
	tmpdir *t = *state;
	char msg[1024];
	put_file(t, "nat.json", NATIONAL_WITH("{ \"name\": \"x\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" } }"));
	load_must_fail(t, NULL, msg, sizeof(msg));
	assert_msg_names_file(t, msg, "overlays.json");
}

static void test_missing_explicit_overlays_path_fails_naming_it(void **state)
{
	tmpdir *t = *state;
	char msg[1024], path[1024];
	put_file(t, "nat.json", NATIONAL_WITH("{ \"name\": \"x\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" } }"));
	put_file(t, "overlays.json", EMPTY_OVERLAYS);
	snprintf(path, sizeof(path), "%s/elsewhere.json", t->dir);
	load_must_fail(t, path, msg, sizeof(msg));
	assert_msg_has(msg, path);
}

static void test_a_valid_temporary_directory_loads(void **state)
{
	/* The fixture scaffolding itself is sound: the base texts load. */
	tmpdir *t = *state;
	cd_rules *r = NULL;
	cd_err err = { { 0 }, 0 };
	put_file(t, "nat.json", NATIONAL_WITH("{ \"name\": \"x\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" } }"));
	put_file(t, "overlays.json", EMPTY_OVERLAYS);
	if (cd_rules_load(t->dir, NULL, &r, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(cd_rules_count(r), 1);
	cd_rules_free(r);
}

static void test_invalid_json_fails_with_file_line_and_column(void **state)
{
	tmpdir *t = *state;
	const char *text = "{\n  \"id\": \"t\",\n  \"kind\": ,\n  \"obligations\": []\n}\n";
	char msg[1024], want[1024];
	int line = 0, col = 0;
	bad_ruleset(t, text, msg, sizeof(msg));
	snprintf(want, sizeof(want), "%s/bad.json:", t->dir);
	if (strncmp(msg, want, strlen(want)))
		fail_msg("message does not start with \"%s\": %s", want, msg);
	if (sscanf(msg + strlen(want), "%d:%d:", &line, &col) != 2)
		fail_msg("no line:column after the file name: %s", msg);
	assert_int_equal(line, 3);
	assert_true(col > 0);
	assert_msg_has(msg, "invalid JSON");
}

static void test_duplicate_key_in_json_is_invalid_json(void **state)
{
	tmpdir *t = *state;
	char msg[1024];
	bad_ruleset(t, "{\n \"id\": \"a\",\n \"id\": \"b\"\n}\n", msg, sizeof(msg));
	assert_msg_names_file(t, msg, "bad.json");
	assert_msg_has(msg, "invalid JSON");
	assert_msg_has(msg, "id");
}

static void test_ruleset_that_is_not_an_object_fails_naming_the_file(void **state)
{
	tmpdir *t = *state;
	char msg[1024];
	bad_ruleset(t, "[1, 2]\n", msg, sizeof(msg));
	assert_msg_at(t, msg, "bad.json", 1);
	assert_msg_has(msg, "object");
}

/* ---- ruleset level failures ----------------------------------------------- */

static void test_ruleset_with_unknown_top_level_key_fails_naming_file_line_and_field(void **state)
{
	tmpdir *t = *state;
	const char *text =
		"{\n"
		"  \"id\": \"t-national\",\n"
		"  \"kind\": \"national\",\n"
		"  \"effective\": { \"from\": \"2015-07-01\" },\n"
		"  \"colour\": \"blue\",\n"
		"  \"obligations\": []\n"
		"}\n";
	char msg[1024];
	bad_ruleset(t, text, msg, sizeof(msg));
	assert_msg_at(t, msg, "bad.json", line_of(text, "colour"));
	assert_msg_has(msg, "field 'colour'");
}

static void test_ruleset_missing_a_required_top_level_field_fails_naming_it(void **state)
{
	static const struct { const char *text; const char *field; } cases[] = {
		{ "{\n \"kind\": \"national\",\n \"effective\": { \"from\": \"2015-07-01\" },\n \"obligations\": []\n}\n", "id" },
		{ "{\n \"id\": \"t\",\n \"effective\": { \"from\": \"2015-07-01\" },\n \"obligations\": []\n}\n", "kind" },
		{ "{\n \"id\": \"t\",\n \"kind\": \"national\",\n \"obligations\": []\n}\n", "effective" },
		{ "{\n \"id\": \"t\",\n \"kind\": \"national\",\n \"effective\": { \"to\": \"2015-07-01\" },\n \"obligations\": []\n}\n", "effective" },
		{ "{\n \"id\": \"t\",\n \"kind\": \"national\",\n \"effective\": { \"from\": \"2015-07-01\" }\n}\n", "obligations" },
		{ "{\n \"id\": \"t\",\n \"kind\": \"national\",\n \"effective\": { \"from\": \"2015-07-01\" },\n \"obligations\": {}\n}\n", "obligations" },
		{ "{\n \"id\": \"T_Upper\",\n \"kind\": \"national\",\n \"effective\": { \"from\": \"2015-07-01\" },\n \"obligations\": []\n}\n", "id" },
		{ "{\n \"id\": \"t\",\n \"kind\": \"regional\",\n \"effective\": { \"from\": \"2015-07-01\" },\n \"obligations\": []\n}\n", "kind" },
		{ "{\n \"id\": \"t\",\n \"kind\": \"national\",\n \"severity\": \"FATAL\",\n \"effective\": { \"from\": \"2015-07-01\" },\n \"obligations\": []\n}\n", "severity" },
		{ "{\n \"id\": \"t\",\n \"version\": 0,\n \"kind\": \"national\",\n \"effective\": { \"from\": \"2015-07-01\" },\n \"obligations\": []\n}\n", "version" },
		{ "{\n \"id\": \"t\",\n \"kind\": \"national\",\n \"effective\": { \"from\": \"2015-07-01\", \"until\": \"2016-01-01\" },\n \"obligations\": []\n}\n", "effective.until" },
		{ "{\n \"id\": \"t\",\n \"kind\": \"national\",\n \"joint_in_addition\": \"yes\",\n \"effective\": { \"from\": \"2015-07-01\" },\n \"obligations\": []\n}\n", "joint_in_addition" },
	};
	tmpdir *t = *state;
	char msg[1024], field[128];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bad_ruleset(t, cases[i].text, msg, sizeof(msg));
		print_message("case %zu -> %s\n", i, msg);
		assert_msg_names_file(t, msg, "bad.json");
		snprintf(field, sizeof(field), "field '%s'", cases[i].field);
		assert_msg_has(msg, field);
	}
}

static void test_ruleset_with_bad_effective_date_fails_naming_effective_from(void **state)
{
	static const char *const dates[] = { "2020-02-30", "2020-1-1", "01-01-2020", "" };
	tmpdir *t = *state;
	char text[1024], msg[1024];
	for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
		snprintf(text, sizeof(text),
			 "{\n  \"id\": \"t\",\n  \"kind\": \"national\",\n"
			 "  \"effective\": { \"from\": \"%s\" },\n  \"obligations\": []\n}\n", dates[i]);
		bad_ruleset(t, text, msg, sizeof(msg));
		assert_msg_at(t, msg, "bad.json", 4);
		assert_msg_has(msg, "field 'effective.from'");
	}
	/* A non-string date too. */
	bad_ruleset(t, "{\n  \"id\": \"t\",\n  \"kind\": \"national\",\n"
		       "  \"effective\": { \"from\": \"2015-07-01\", \"to\": 20160101 },\n  \"obligations\": []\n}\n",
		    msg, sizeof(msg));
	assert_msg_at(t, msg, "bad.json", 4);
	assert_msg_has(msg, "field 'effective.to'");
}

static void test_ruleset_whose_effective_to_is_before_from_fails_naming_effective_to(void **state)
{
	tmpdir *t = *state;
	const char *text = "{\n  \"id\": \"t\",\n  \"kind\": \"national\",\n"
			   "  \"effective\": { \"from\": \"2020-01-01\", \"to\": \"2019-12-31\" },\n"
			   "  \"obligations\": []\n}\n";
	char msg[1024];
	bad_ruleset(t, text, msg, sizeof(msg));
	assert_msg_at(t, msg, "bad.json", 4);
	assert_msg_has(msg, "field 'effective.to'");
}

static void test_national_ruleset_with_overlay_only_keys_fails_naming_the_key_and_its_line(void **state)
{
	static const char *const keys[][2] = {
		{ "benefits", "\"benefits\": [\"DAGPENGE\"]" },
		{ "seasonal", "\"seasonal\": true" },
		{ "replaces", "\"replaces\": [\"ok-first\"]" },
		{ "widen_forms", "\"widen_forms\": [\"GROUP\"]" },
		{ "lifts_kinds", "\"lifts_kinds\": [\"FIRST_WITHIN\"]" },
		{ "national_members", "\"national_members\": { \"kind\": \"COUNT_IN_WINDOW\", \"member_of\": \"a\" }" },
		{ "allowed_municipalities", "\"allowed_municipalities\": [\"813\"]" },
	};
	tmpdir *t = *state;
	char text[2048], msg[1024];
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(text, sizeof(text),
			 "{\n  \"id\": \"t-national\",\n  \"kind\": \"national\",\n"
			 "  \"effective\": { \"from\": \"2015-07-01\" },\n"
			 "  %s,\n"
			 "  \"obligations\": []\n}\n", keys[i][1]);
		bad_ruleset(t, text, msg, sizeof(msg));
		print_message("case %s -> %s\n", keys[i][0], msg);
		assert_msg_has(msg, keys[i][0]);
		assert_msg_at(t, msg, "bad.json", line_of(text, keys[i][1]));
	}
}

static void test_overlay_with_bad_benefits_seasonal_or_replaces_fails_naming_the_field(void **state)
{
	static const char *const cases[][2] = {
		{ "\"benefits\": [\"DAGPENGEX\"]", "benefits" },
		{ "\"benefits\": \"some\"", "benefits" },
		{ "\"seasonal\": \"yes\"", "seasonal" },
		{ "\"replaces\": \"joint-1\"", "replaces" },
		{ "\"replaces\": [\"Joint 1\"]", "replaces" },
		{ "\"widen_forms\": [\"SMOKE_SIGNAL\"]", "widen_forms" },
	};
	tmpdir *t = *state;
	char text[2048], msg[1024], field[64];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text),
			 "{\n  \"id\": \"t-overlay\",\n  \"kind\": \"overlay\",\n"
			 "  \"effective\": { \"from\": \"2015-07-01\" },\n"
			 "  %s,\n"
			 "  \"obligations\": []\n}\n", cases[i][0]);
		bad_ruleset(t, text, msg, sizeof(msg));
		print_message("case %s -> %s\n", cases[i][0], msg);
		assert_msg_at(t, msg, "bad.json", 5);
		snprintf(field, sizeof(field), "field '%s'", cases[i][1]);
		assert_msg_has(msg, field);
	}
}

/* ---- obligation level failures -------------------------------------------- */

static void test_ruleset_with_unknown_kind_fails_naming_file_line_and_field(void **state)
{
	static const ob_case cases[] = {
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHOUT\", \"window\": { \"to\": \"8w\" } }", "kind", "FIRST_WITHOUT" },
		{ "{ \"name\": \"bad\", \"kind\": \"first_within\", \"window\": { \"to\": \"8w\" } }", "kind", "first_within" },
		{ "{ \"name\": \"bad\", \"kind\": 1, \"window\": { \"to\": \"8w\" } }", "kind", NULL },
	};
	check_ob_cases(*state, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_obligation_with_unknown_key_fails_naming_the_key(void **state)
{
	static const ob_case cases[] = {
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"colour\": 1, \"window\": { \"to\": \"8w\" } }", "colour", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\", \"til\": \"9w\" } }", "window.til", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" }, \"first_must_be\": { \"form\": [\"PHONE\"] } }", "first_must_be.form", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"MAX_GAP\", \"gap\": \"3m\", \"start\": { \"after\": \"6m\" } }", "start.after", NULL },
	};
	check_ob_cases(*state, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_obligation_with_unknown_enum_name_fails_naming_the_field_and_the_name(void **state)
{
	static const ob_case cases[] = {
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"benefits\": [\"DAGPENGE\", \"DOLE\"], \"window\": { \"to\": \"8w\" } }", "benefits", "DOLE" },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"benefits\": [\"UNSPECIFIED\"], \"window\": { \"to\": \"8w\" } }", "benefits", "UNSPECIFIED" },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"benefits\": [1], \"window\": { \"to\": \"8w\" } }", "benefits", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"forms\": [\"TELEPATHY\"], \"window\": { \"to\": \"8w\" } }", "forms", "TELEPATHY" },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"forms\": \"any\", \"window\": { \"to\": \"8w\" } }", "forms", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"held_by\": [\"UNION\"], \"window\": { \"to\": \"8w\" } }", "held_by", "UNION" },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"categories\": [\"LAZY\"], \"window\": { \"to\": \"8w\" } }", "categories", "LAZY" },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" }, \"first_must_be\": { \"forms\": [\"FAX\"] } }", "forms", "FAX" },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"severity\": \"MEDIUM\", \"window\": { \"to\": \"8w\" } }", "severity", "MEDIUM" },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"mark\": \"X\", \"window\": { \"to\": \"8w\" } }", "mark", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"clock\": \"lunar\", \"window\": { \"to\": \"8w\" } }", "clock", "lunar" },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"anchor\": \"birthday\", \"window\": { \"to\": \"8w\" } }", "anchor", "birthday" },
	};
	check_ob_cases(*state, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_obligation_with_bad_span_fails_naming_the_field(void **state)
{
	static const ob_case cases[] = {
		{ "{ \"name\": \"bad\", \"kind\": \"COUNT_IN_WINDOW\", \"required\": 4, \"window\": { \"to\": \"6x\" } }", "window.to", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"COUNT_IN_WINDOW\", \"required\": 4, \"window\": { \"from\": \"0m\", \"to\": \"6m\" } }", "window.from", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"COUNT_IN_WINDOW\", \"required\": 4, \"window\": { \"to\": \"6m after\" } }", "window.to", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"COUNT_IN_WINDOW\", \"required\": 4, \"window\": { \"to\": \"-6m\" } }", "window.to", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"COUNT_IN_WINDOW\", \"required\": 4, \"window\": { \"to\": \"1001d\" } }", "window.to", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"COUNT_IN_WINDOW\", \"required\": 4, \"window\": { \"to\": \"6mm\" } }", "window.to", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"COUNT_IN_WINDOW\", \"required\": 4, \"window\": { \"to\": 6 } }", "window.to", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"COUNT_IN_WINDOW\", \"required\": 4, \"window\": \"6m\" }", "window", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"SCHEDULE\", \"slots\": 2, \"every\": \"4\" }", "every", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"MAX_GAP\", \"gap\": \"3y\", \"start\": { \"after_window\": \"6m\" } }", "gap", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"MAX_GAP\", \"gap\": \"3m\", \"start\": { \"after_window\": \"6 months\" } }", "start.after_window", NULL },
	};
	check_ob_cases(*state, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_obligation_with_out_of_range_number_fails_naming_the_field(void **state)
{
	static const ob_case cases[] = {
		{ "{ \"name\": \"bad\", \"kind\": \"COUNT_IN_WINDOW\", \"required\": 0, \"window\": { \"to\": \"6m\" } }", "required", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"COUNT_IN_WINDOW\", \"required\": \"4\", \"window\": { \"to\": \"6m\" } }", "required", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"COUNT_IN_WINDOW\", \"required\": 4, \"repeat_months\": 121 }", "repeat_months", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"SCHEDULE\", \"slots\": 13, \"every\": \"4w\" }", "slots", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"SCHEDULE\", \"slots\": 2, \"every\": \"4w\", \"tolerance_days\": [1] }", "tolerance_days", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"SCHEDULE\", \"slots\": 2, \"every\": \"4w\", \"tolerance_days\": [1, 366] }", "tolerance_days", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"SCHEDULE\", \"slots\": 2, \"every\": \"4w\", \"tolerance_days\": [1, -1] }", "tolerance_days", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"SCHEDULE\", \"slots\": 2, \"every\": \"4w\", \"joint_slots\": [3] }", "joint_slots", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"SCHEDULE\", \"slots\": 2, \"every\": \"4w\", \"joint_slots\": 1 }", "joint_slots", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"JOINT_AT_ORDINAL\", \"ordinals\": [16] }", "ordinals", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"JOINT_AT_ORDINAL\", \"ordinals\": [0] }", "ordinals", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"JOINT_AT_ORDINAL\", \"ordinals\": [] }", "ordinals", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"joint\": 1, \"window\": { \"to\": \"8w\" } }", "joint", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"registration_only\": \"true\", \"window\": { \"to\": \"8w\" } }", "registration_only", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"legal_ref\": 42, \"window\": { \"to\": \"8w\" } }", "legal_ref", NULL },
	};
	check_ob_cases(*state, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_obligation_missing_what_its_kind_requires_fails_naming_the_field(void **state)
{
	static const ob_case cases[] = {
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\" }", "window.to", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"from\": \"1w\" } }", "window.to", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"JOINT_IN_WINDOW\" }", "window.to", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"COUNT_IN_WINDOW\", \"required\": 4 }", "window.to", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"COUNT_IN_WINDOW\", \"required\": 4, \"repeat_months\": 12, \"window\": { \"to\": \"6m\" } }", "repeat_months", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"JOINT_AT_ORDINAL\" }", "ordinals", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"SCHEDULE\", \"slots\": 6 }", "slots", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"SCHEDULE\", \"every\": \"4w\" }", "slots", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"MAX_GAP\", \"gap\": \"3m\" }", "gap", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"MAX_GAP\", \"start\": { \"after_window\": \"6m\" } }", "gap", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"MAX_GAP\", \"gap\": \"3m\", \"start\": {} }", "start", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"MAX_GAP\", \"gap\": \"3m\", \"start\": { \"after_window\": \"6m\", \"after_met\": \"ok-first\" } }", "start", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"repeat_months\": 12, \"window\": { \"to\": \"8w\" } }", "repeat_months", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"COUNT_IN_WINDOW\", \"required\": 2, \"window\": { \"to\": \"6m\" }, \"first_must_be\": { \"forms\": [\"IN_PERSON\"] } }", "first_must_be", NULL },
		{ "{ \"name\": \"bad\", \"window\": { \"to\": \"8w\" } }", "kind", NULL },
		{ "{ \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" } }", "name", NULL },
		{ "{ \"name\": \"Bad Name\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" } }", "name", NULL },
		{ "\"just a string\"", "", "object" },
	};
	tmpdir *t = *state;
	char text[4096], msg[1024], field[128];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		national_with(text, sizeof(text), cases[i].ob);
		bad_ruleset(t, text, msg, sizeof(msg));
		print_message("case %zu: %s\n  -> %s\n", i, cases[i].ob, msg);
		assert_msg_names_file(t, msg, "bad.json");
		assert_msg_has(msg, "obligations[1]");
		if (cases[i].field[0]) {
			snprintf(field, sizeof(field), "field '%s'", cases[i].field);
			assert_msg_has(msg, field);
		}
		if (cases[i].extra)
			assert_msg_has(msg, cases[i].extra);
	}
}

static void test_duplicate_obligation_name_fails_naming_the_name(void **state)
{
	tmpdir *t = *state;
	const char *text = NATIONAL_WITH("{ \"name\": \"ok-first\", \"kind\": \"JOINT_IN_WINDOW\", \"window\": { \"to\": \"6w\" } }");
	char msg[1024], at1[1024], at2[1024];
	bad_ruleset(t, text, msg, sizeof(msg));
	assert_msg_has(msg, "field 'name'");
	assert_msg_has(msg, "'ok-first'");
	assert_msg_has(msg, "obligations[1]");
	/* The line is one of the two definitions. */
	snprintf(at1, sizeof(at1), "%s/bad.json:%d:", t->dir, line_of(text, "\"ok-first\""));
	snprintf(at2, sizeof(at2), "%s/bad.json:%d:", t->dir, line_of(text, "JOINT_IN_WINDOW"));
	if (strncmp(msg, at1, strlen(at1)) && strncmp(msg, at2, strlen(at2)))
		fail_msg("message does not start with \"%s\" or \"%s\": %s", at1, at2, msg);
}

static void test_mirror_on_a_national_ruleset_fails_naming_mirror(void **state)
{
	static const ob_case cases[] = {
		{ "{ \"name\": \"bad\", \"mirror\": \"ok-first\" }", "mirror", NULL },
		{ "{ \"name\": \"bad\", \"mirror\": \"Four In Six\" }", "mirror", NULL },
	};
	check_ob_cases(*state, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_max_gap_after_met_naming_a_missing_obligation_fails_naming_start_after_met(void **state)
{
	tmpdir *t = *state;
	const char *text = NATIONAL_WITH(
		"{ \"name\": \"gap\", \"kind\": \"MAX_GAP\", \"gap\": \"4w\", \"start\": { \"after_met\": \"sick-first\" } }");
	char msg[1024];
	bad_ruleset(t, text, msg, sizeof(msg));
	assert_msg_at(t, msg, "bad.json", line_of(text, "after_met"));
	assert_msg_has(msg, "field 'start.after_met'");
	assert_msg_has(msg, "'sick-first'");
	assert_msg_has(msg, "obligations[1] 'gap'");
}

static void test_max_gap_after_met_referencing_a_later_obligation_loads(void **state)
{
	/* References are resolved after the whole list is read. */
	tmpdir *t = *state;
	cd_rules *r = NULL;
	cd_err err = { { 0 }, 0 };
	put_file(t, "nat.json", NATIONAL_WITH(
		"{ \"name\": \"gap\", \"kind\": \"MAX_GAP\", \"gap\": \"4w\", \"start\": { \"after_met\": \"later\" } },\n"
		"    { \"name\": \"later\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" } }"));
	put_file(t, "overlays.json", EMPTY_OVERLAYS);
	if (cd_rules_load(t->dir, NULL, &r, &err) < 0)
		fail_msg("%s", err.msg);
	cd_rules_free(r);
}

/*
 * The line of an obligation's error is the obligation's, even when its name
 * was mentioned earlier in the file (an overlay that replaces the national
 * obligation of the same name, the usual way to redefine one).
 */
static void test_error_line_is_the_failing_obligations_even_if_its_name_appears_earlier(void **state)
{
	tmpdir *t = *state;
	const char *text =
		"{\n"
		"  \"id\": \"t-overlay\",\n"
		"  \"kind\": \"overlay\",\n"
		"  \"effective\": { \"from\": \"2018-01-01\" },\n"
		"  \"replaces\": [\"four-in-six\"],\n"
		"  \"obligations\": [\n"
		"    { \"name\": \"first\", \"kind\": \"FIRST_WITHIN\",\n"
		"      \"window\": { \"to\": \"4w\" } },\n"
		"    { \"name\": \"four-in-six\", \"kind\": \"COUNT_IN_WINDOW\", \"required\": 4,\n"
		"      \"window\": { \"to\": \"6x\" } }\n"
		"  ]\n"
		"}\n";
	char msg[1024];
	bad_ruleset(t, text, msg, sizeof(msg));
	assert_msg_has(msg, "field 'window.to'");
	assert_msg_at(t, msg, "bad.json", line_of(text, "\"6x\""));
}

/*
 * rules.h's own example: an error inside an obligation names the obligation
 * (index and name) and quotes the bad value:
 *   "rules/dk-2020.json:41: obligations[1] 'four-in-six': field 'window.to': bad length '6x'"
 */
static void test_obligation_error_names_the_obligation_and_the_bad_value_as_documented(void **state)
{
	tmpdir *t = *state;
	char text[4096], msg[1024];
	national_with(text, sizeof(text),
		      "{ \"name\": \"four-in-six\", \"kind\": \"COUNT_IN_WINDOW\", \"required\": 4, \"window\": { \"to\": \"6x\" } }");
	bad_ruleset(t, text, msg, sizeof(msg));
	assert_msg_at(t, msg, "bad.json", line_of(text, "\"6x\""));
	assert_msg_has(msg, "obligations[1] 'four-in-six': field 'window.to': ");
	assert_msg_has(msg, "'6x'");
}

/* ---- cross-file failures -------------------------------------------------- */

static void test_duplicate_ruleset_id_across_files_fails_naming_both_files(void **state)
{
	tmpdir *t = *state;
	char msg[1024];
	put_file(t, "a.json", "{ \"id\": \"same\", \"kind\": \"overlay\", \"effective\": { \"from\": \"2018-01-01\" }, \"obligations\": [] }\n");
	put_file(t, "b.json", "{ \"id\": \"same\", \"kind\": \"overlay\", \"effective\": { \"from\": \"2019-01-01\" }, \"obligations\": [] }\n");
	put_file(t, "overlays.json", EMPTY_OVERLAYS);
	load_must_fail(t, NULL, msg, sizeof(msg));
	assert_msg_names_file(t, msg, "b.json");
	assert_msg_names_file(t, msg, "a.json");
	assert_msg_has(msg, "id");
	assert_msg_has(msg, "'same'");
}

static void test_two_overlapping_national_rulesets_fail_naming_both_files_and_effective(void **state)
{
	static const char *const ranges[][2] = {
		{ "\"from\": \"2015-07-01\", \"to\": \"2020-01-01\"", "\"from\": \"2020-01-01\"" },   /* share one day */
		{ "\"from\": \"2015-07-01\"", "\"from\": \"2030-01-01\", \"to\": \"2031-01-01\"" },   /* open-ended */
		{ "\"from\": \"2020-01-01\", \"to\": \"2020-12-31\"", "\"from\": \"2015-01-01\", \"to\": \"2025-01-01\"" }, /* inside */
	};
	tmpdir *t = *state;
	char a[512], b[512], msg[1024];
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		snprintf(a, sizeof(a), "{ \"id\": \"nat-a\", \"kind\": \"national\", \"effective\": { %s }, \"obligations\": [] }\n", ranges[i][0]);
		snprintf(b, sizeof(b), "{ \"id\": \"nat-b\", \"kind\": \"national\", \"effective\": { %s }, \"obligations\": [] }\n", ranges[i][1]);
		put_file(t, "a.json", a);
		put_file(t, "b.json", b);
		put_file(t, "overlays.json", EMPTY_OVERLAYS);
		load_must_fail(t, NULL, msg, sizeof(msg));
		print_message("case %zu -> %s\n", i, msg);
		assert_msg_names_file(t, msg, "a.json");
		assert_msg_names_file(t, msg, "b.json");
		assert_msg_has(msg, "'nat-a'");
		assert_msg_has(msg, "'nat-b'");
		assert_msg_has(msg, "effective");
	}
}

static void test_adjacent_national_rulesets_do_not_overlap(void **state)
{
	tmpdir *t = *state;
	cd_rules *r = NULL;
	cd_err err = { { 0 }, 0 };
	put_file(t, "a.json", "{ \"id\": \"nat-a\", \"kind\": \"national\", \"effective\": { \"from\": \"2015-07-01\", \"to\": \"2019-12-31\" }, \"obligations\": [] }\n");
	put_file(t, "b.json", "{ \"id\": \"nat-b\", \"kind\": \"national\", \"effective\": { \"from\": \"2020-01-01\" }, \"obligations\": [] }\n");
	put_file(t, "overlays.json", EMPTY_OVERLAYS);
	if (cd_rules_load(t->dir, NULL, &r, &err) < 0)
		fail_msg("%s", err.msg);
	cd_rules_free(r);
}

/* ---- overlays.json failures ----------------------------------------------- */

#define OVERLAY_FILE \
	"{ \"id\": \"t-overlay\", \"kind\": \"overlay\", \"effective\": { \"from\": \"2018-01-01\" }, \"obligations\": [] }\n"
#define NATIONAL_FILE \
	"{ \"id\": \"t-national\", \"kind\": \"national\", \"effective\": { \"from\": \"2015-07-01\" }, \"obligations\": [] }\n"

static void overlays_must_fail(const tmpdir *t, const char *cfg, char *msg, size_t len)
{
	put_file(t, "ov.json", OVERLAY_FILE);
	put_file(t, "nat.json", NATIONAL_FILE);
	put_file(t, "overlays.json", cfg);
	load_must_fail(t, NULL, msg, len);
	print_message("%s\n  -> %s\n", cfg, msg);
}

static void test_overlays_json_naming_an_unknown_overlay_fails_naming_file_line_and_field(void **state)
{
	tmpdir *t = *state;
	const char *cfg = "{\n  \"overlays\": [\n"
			  "    { \"overlay\": \"t-overlay\", \"municipalities\": [\"860\"] },\n"
			  "    { \"overlay\": \"frikommune-nowhere\", \"municipalities\": [\"860\"] }\n"
			  "  ]\n}\n";
	char msg[1024];
	overlays_must_fail(t, cfg, msg, sizeof(msg));
	assert_msg_at(t, msg, "overlays.json", line_of(cfg, "frikommune-nowhere"));
	assert_msg_has(msg, "field 'overlay'");
	assert_msg_has(msg, "overlays[1]");
	assert_msg_has(msg, "'frikommune-nowhere'");
}

static void test_overlays_json_naming_a_national_ruleset_fails_naming_the_field(void **state)
{
	tmpdir *t = *state;
	const char *cfg = "{\n  \"overlays\": [\n"
			  "    { \"overlay\": \"t-national\", \"municipalities\": [\"860\"] }\n"
			  "  ]\n}\n";
	char msg[1024];
	overlays_must_fail(t, cfg, msg, sizeof(msg));
	assert_msg_at(t, msg, "overlays.json", 3);
	assert_msg_has(msg, "field 'overlay'");
	assert_msg_has(msg, "'t-national'");
}

static void test_overlays_json_with_a_bad_municipality_code_fails_naming_the_code(void **state)
{
	static const char *const codes[] = { "\"86\"", "\"86a\"", "\"12345\"", "\"\"", "860", "\" 860\"" };
	tmpdir *t = *state;
	char cfg[1024], msg[1024];
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		snprintf(cfg, sizeof(cfg),
			 "{\n  \"overlays\": [\n"
			 "    { \"overlay\": \"t-overlay\",\n"
			 "      \"municipalities\": [\"840\", %s] }\n"
			 "  ]\n}\n", codes[i]);
		overlays_must_fail(t, cfg, msg, sizeof(msg));
		assert_msg_at(t, msg, "overlays.json", 4);
		assert_msg_has(msg, "field 'municipalities'");
		assert_msg_has(msg, "overlays[0]");
		if (codes[i][0] == '"') {
			char quoted[32];
			snprintf(quoted, sizeof(quoted), "'%.*s'", (int)strlen(codes[i]) - 2, codes[i] + 1);
			assert_msg_has(msg, quoted);
		}
	}
}

static void test_overlays_json_with_bad_structure_fails_naming_the_field(void **state)
{
	static const char *const cases[][2] = {
		{ "{\n \"overlays\": [],\n \"enabled\": true\n}\n", "field 'enabled'" },
		{ "{\n \"overlays\": {}\n}\n", "field 'overlays'" },
		{ "{\n \"comment\": \"no list\"\n}\n", "field 'overlays'" },
		{ "{\n \"overlays\": [\n  { \"overlay\": \"t-overlay\", \"municipalities\": [\"860\"], \"from\": \"2018\" }\n ]\n}\n", "field 'from'" },
		{ "{\n \"overlays\": [\n  { \"municipalities\": [\"860\"] }\n ]\n}\n", "field 'overlay'" },
		{ "{\n \"overlays\": [\n  { \"overlay\": \"t-overlay\" }\n ]\n}\n", "field 'municipalities'" },
		{ "{\n \"overlays\": [\n  { \"overlay\": \"t-overlay\", \"municipalities\": \"860\" }\n ]\n}\n", "field 'municipalities'" },
		{ "{\n \"overlays\": [\n  \"t-overlay@860\"\n ]\n}\n", "overlays[0]" },
		{ "[]\n", "object" },
		{ "{\n \"overlays\": [\n", "invalid JSON" },
	};
	tmpdir *t = *state;
	char msg[1024];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		overlays_must_fail(t, cases[i][0], msg, sizeof(msg));
		assert_msg_names_file(t, msg, "overlays.json");
		assert_msg_has(msg, cases[i][1]);
	}
}

/* n overlay rulesets t-ov-1 … t-ov-n, and overlays.json enabling each for 840 (and t-ov-1 twice more). */
static void put_many_overlays(const tmpdir *t, int n, char *cfg, size_t len)
{
	size_t used;
	char name[32], text[256];
	put_file(t, "nat.json", NATIONAL_FILE);
	used = (size_t)snprintf(cfg, len, "{\n  \"overlays\": [\n");
	for (int i = 1; i <= n; i++) {
		snprintf(name, sizeof(name), "ov%d.json", i);
		snprintf(text, sizeof(text), "{ \"id\": \"t-ov-%d\", \"kind\": \"overlay\", "
			 "\"effective\": { \"from\": \"2018-01-01\" }, \"obligations\": [] }\n", i);
		put_file(t, name, text);
		used += (size_t)snprintf(cfg + used, len - used, "    { \"overlay\": \"t-ov-%d\", "
					 "\"municipalities\": [\"840\", \"860\"] },\n", i);
	}
	snprintf(cfg + used, len - used, "    { \"overlay\": \"t-ov-1\", \"municipalities\": [\"840\", \"840\"] }\n"
		 "  ]\n}\n");
	put_file(t, "overlays.json", cfg);
}

static void test_overlays_json_enabling_more_overlays_for_one_municipality_than_apply_fails_naming_it(
	void **state)
{
	tmpdir *t = *state;
	char cfg[4096], msg[1024];
	cd_rules *r = NULL;
	cd_err err = { { 0 }, 0 };
	const cd_ruleset *out[CD_MAX_OVERLAYS + 1];

	/* CD_MAX_OVERLAYS is allowed, an overlay named again counts once */
	put_many_overlays(t, CD_MAX_OVERLAYS, cfg, sizeof(cfg));
	if (cd_rules_load(t->dir, NULL, &r, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(cd_rules_overlays(r, "840", CD_DAGPENGE, D("2019-01-01"), false, out, CD_MAX_OVERLAYS + 1),
			 CD_MAX_OVERLAYS);
	cd_rules_free(r);

	/* one more is refused, not dropped */
	put_many_overlays(t, CD_MAX_OVERLAYS + 1, cfg, sizeof(cfg));
	load_must_fail(t, NULL, msg, sizeof(msg));
	print_message("%s\n", msg);
	assert_msg_names_file(t, msg, "overlays.json");
	assert_msg_has(msg, "field 'municipalities'");
	assert_msg_has(msg, "municipality 840");
	assert_msg_has(msg, "overlays[8]");
}

static void test_set_overlays_enabling_more_overlays_for_one_municipality_than_apply_fails_naming_it(
	void **state)
{
	tmpdir *t = *state;
	char cfg[4096], spec[1024];
	size_t used = 0;
	cd_rules *r = NULL;
	cd_err err = { { 0 }, 0 };
	const cd_ruleset *out[CD_MAX_OVERLAYS + 1];

	put_many_overlays(t, CD_MAX_OVERLAYS + 1, cfg, sizeof(cfg));
	put_file(t, "few.cfg", "{ \"overlays\": [ { \"overlay\": \"t-ov-1\", \"municipalities\": [\"840\"] } ] }\n");
	snprintf(cfg, sizeof(cfg), "%s/few.cfg", t->dir);
	if (cd_rules_load(t->dir, cfg, &r, &err) < 0)
		fail_msg("%s", err.msg);
	for (int i = 1; i <= CD_MAX_OVERLAYS + 1; i++)
		used += (size_t)snprintf(spec + used, sizeof(spec) - used, "%st-ov-%d@840", i > 1 ? "," : "", i);
	assert_int_equal(cd_rules_set_overlays(r, spec, &err), -1);
	assert_msg_has(err.msg, "municipality 840");
	/* the configuration in force is unchanged */
	assert_int_equal(cd_rules_overlays(r, "840", CD_DAGPENGE, D("2019-01-01"), false, out, CD_MAX_OVERLAYS + 1), 1);
	cd_rules_free(r);
	remove_file(t, "few.cfg");
}

/* ---- dk-2026 keys: obligations ------------------------------------------- */

/* A national ruleset with `top` (top-level keys, each ending in ",\n") and obligations `obs`. */
static const char *nat_top(char *buf, size_t len, const char *top, const char *obs)
{
	snprintf(buf, len,
		 "{\n  \"id\": \"t-national\",\n  \"version\": 1,\n  \"kind\": \"national\",\n  \"title\": \"test\",\n"
		 "  \"effective\": { \"from\": \"2015-07-01\" },\n"
		 "%s"
		 "  \"obligations\": [\n    %s\n  ]\n}\n", top, obs);
	return buf;
}

#define AGGS "  \"aggregates\": [\n" \
	"    { \"name\": \"ks\", \"kind\": \"SHARE\", \"share\": 75, \"key\": \"MUNICIPALITY\", \"exemption_scope\": \"KOMMUNE\" },\n" \
	"    { \"name\": \"avg\", \"kind\": \"AVERAGE\", \"required\": 3, \"key\": \"AKASSE\", \"reporting_period\": \"month\",\n" \
	"      \"severity\": \"POLICY\", \"basis\": \"INTERPRETATION\", \"legal_ref\": \"L\", \"description\": \"D\" }\n" \
	"  ],\n"

static cd_rules *load_ok(const tmpdir *t)
{
	cd_rules *r = NULL;
	cd_err err = { { 0 }, 0 };
	if (cd_rules_load(t->dir, NULL, &r, &err) < 0)
		fail_msg("%s", err.msg);
	assert_non_null(r);
	return r;
}

/* Every new key, at its valid values, is read into the model. */
static void test_dk_2026_keys_load_into_the_model(void **state)
{
	tmpdir *t = *state;
	char text[8192];
	cd_rules *r;
	const cd_ruleset *rs;
	const cd_aggdef *a;
	const cd_obdef *d;
	nat_top(text, sizeof(text),
		AGGS
		"  \"default_category\": \"AKTIVITETSPARAT\",\n"
		"  \"transition\": \"configurable\",\n"
		"  \"no_obligations\": { \"benefits\": [\"REVALIDERING\"], \"why\": \"abolished\" },\n",
		"{ \"name\": \"m1\", \"kind\": \"COUNT_IN_WINDOW\", \"required\": 2, \"window\": { \"to\": \"3m\" },\n"
		"      \"basis\": \"LAW\", \"member_of\": \"ks\", \"when\": { \"municipal_contact_course\": true } },\n"
		"    { \"name\": \"m1\", \"kind\": \"COUNT_IN_WINDOW\", \"required\": 3, \"window\": { \"to\": \"3m\" },\n"
		"      \"basis\": \"CARRIED_OVER\", \"member_of\": \"t-national/avg\", \"when\": { \"municipal_contact_course\": false,\n"
		"      \"sick_short_absence_expected\": false } },\n"
		"    { \"name\": \"f1\", \"kind\": \"FIRST_WITHIN\", \"anchor\": \"start_input\", \"window\": { \"to\": \"2w after\" },\n"
		"      \"when\": { \"sick_short_absence_expected\": true }, \"basis\": \"GUIDANCE\" },\n"
		"    { \"name\": \"f2\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"2w after\" } }");
	put_file(t, "nat.json", text);
	put_file(t, "overlays.json", EMPTY_OVERLAYS);
	r = load_ok(t);
	rs = cd_rules_find(r, "t-national");
	assert_non_null(rs);
	assert_int_equal(rs->default_category, CD_AKTIVITETSPARAT);
	assert_true(rs->transition);
	assert_int_equal(rs->no_obligations, CD_BIT(CD_REVALIDERING));
	assert_string_equal(rs->no_obligations_why, "abolished");
	assert_int_equal(rs->n_aggs, 2);
	a = cd_rules_find_aggregate(r, "t-national/ks");
	assert_non_null(a);
	assert_string_equal(a->name, "ks");
	assert_int_equal(a->kind, CD_AGG_SHARE);
	assert_int_equal(a->share_pct, 75);
	assert_int_equal(a->key, CD_AGG_KEY_MUNICIPALITY);
	assert_int_equal(a->scope, CD_SCOPE_KOMMUNE);
	assert_int_equal(a->period, 'q');                 /* the default */
	assert_int_equal(a->basis, CD_BASIS_NONE);
	assert_string_equal(a->legal_ref, "");
	assert_string_equal(a->description, "");
	a = cd_rules_find_aggregate(r, "t-national/avg");
	assert_non_null(a);
	assert_int_equal(a->kind, CD_AGG_AVERAGE);
	assert_int_equal(a->required, 3);
	assert_int_equal(a->key, CD_AGG_KEY_AKASSE);
	assert_int_equal(a->scope, 0);
	assert_int_equal(a->period, 'm');
	assert_int_equal(a->severity, CD_SEV_POLICY);
	assert_int_equal(a->basis, CD_BASIS_INTERPRETATION);
	assert_string_equal(a->legal_ref, "L");
	assert_string_equal(a->description, "D");

	assert_int_equal(rs->n_obs, 4);
	d = &rs->obs[0];
	assert_int_equal(d->basis, CD_BASIS_LAW);
	assert_string_equal(d->aggregate, "t-national/ks");
	assert_int_equal(d->exempt_scope, CD_SCOPE_KOMMUNE);
	assert_int_equal(d->flags_set, CD_PF_COURSE);
	assert_int_equal(d->flags_clear, 0);
	assert_int_equal(d->agg_kind, CD_AGG_SHARE);
	d = &rs->obs[1];
	assert_int_equal(d->basis, CD_BASIS_CARRIED_OVER);
	assert_string_equal(d->aggregate, "t-national/avg");
	assert_int_equal(d->exempt_scope, 0);
	assert_int_equal(d->agg_kind, CD_AGG_AVERAGE);
	assert_int_equal(d->agg_key, CD_AGG_KEY_AKASSE);
	assert_int_equal(d->flags_set, 0);
	assert_int_equal(d->flags_clear, CD_PF_COURSE | CD_PF_SICK_SHORT);
	d = &rs->obs[2];
	assert_int_equal(d->anchor, CD_ANCHOR_START_INPUT);
	assert_int_equal(d->flags_set, CD_PF_SICK_SHORT);
	assert_int_equal(d->basis, CD_BASIS_GUIDANCE);
	assert_string_equal(d->aggregate, "");
	assert_true(cd_obdef_applies(d, CD_SYGEDAGPENGE, 0, false, CD_PF_SICK_SHORT | CD_PF_COURSE));
	assert_false(cd_obdef_applies(d, CD_SYGEDAGPENGE, 0, false, CD_PF_COURSE));
	d = &rs->obs[3];
	assert_int_equal(d->basis, CD_BASIS_NONE);        /* the data says nothing */
	assert_int_equal(d->anchor, CD_ANCHOR_PERIOD_START);
	assert_int_equal(rs->obs[0].flags_set | rs->obs[0].flags_clear, CD_PF_COURSE);
	cd_rules_free(r);

	/* Without the optional keys: no aggregates, no default category, period-start, nothing abolished. */
	nat_top(text, sizeof(text), "  \"transition\": \"period-start\",\n",
		"{ \"name\": \"f2\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"2w after\" } }");
	put_file(t, "nat.json", text);
	r = load_ok(t);
	rs = cd_rules_find(r, "t-national");
	assert_false(rs->transition);
	assert_int_equal(rs->default_category, 0);
	assert_int_equal(rs->no_obligations, 0);
	assert_string_equal(rs->no_obligations_why, "");
	assert_int_equal(rs->n_aggs, 0);
	assert_int_equal(cd_rules_merge_count(r), 0);     /* no merges.json: nothing merged */
	assert_int_equal(cd_rules_merged_benefit(r, CD_UDDANNELSESHJAELP, D("2030-01-01")), CD_UDDANNELSESHJAELP);
	cd_rules_free(r);
}

static void test_obligation_with_bad_basis_when_or_anchor_fails_naming_the_field(void **state)
{
	static const ob_case cases[] = {
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" }, \"basis\": \"law\" }",
		  "basis", "'law'" },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" }, \"basis\": \"NONE\" }",
		  "basis", "INTERPRETATION" },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" }, \"basis\": 1 }",
		  "basis", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" }, \"when\": true }",
		  "when", "object" },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" }, \"when\": [\"municipal_contact_course\"] }",
		  "when", NULL },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" }, \"when\": { \"seasonal\": true } }",
		  "when", "'seasonal'" },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" }, \"when\": { \"municipal_contact_course\": 1 } }",
		  "when", "true or false" },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" }, \"when\": { \"sick_short_absence_expected\": \"no\" } }",
		  "when", "sick_short_absence_expected" },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" }, \"anchor\": \"registration\" }",
		  "anchor", "start_input" },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" }, \"member_of\": 7 }",
		  "member_of", NULL },
	};
	check_ob_cases(*state, cases, sizeof(cases) / sizeof(cases[0]));
}

/* member_of is resolved once every file is loaded: an unknown aggregate names file, line, obligation and field. */
static void test_member_of_an_unknown_aggregate_fails_naming_file_obligation_and_member_of(void **state)
{
	static const ob_case cases[] = {
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" }, \"member_of\": \"no-such\" }",
		  "member_of", "'t-national/no-such'" },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" }, \"member_of\": \"dk-2026/kommune-share\" }",
		  "member_of", "'dk-2026/kommune-share'" },
		{ "{ \"name\": \"bad\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" }, \"member_of\": \"t-national/ok-first\" }",
		  "member_of", "'t-national/ok-first'" },
	};
	check_ob_cases(*state, cases, sizeof(cases) / sizeof(cases[0]));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[4096], msg[1024];
		national_with(text, sizeof(text), cases[i].ob);
		bad_ruleset(*state, text, msg, sizeof(msg));
		assert_msg_has(msg, "'bad'");
	}
}

/* member_of may name another file's aggregate by its full id, whatever the order the files load in. */
static void test_member_of_resolves_across_files_by_full_id(void **state)
{
	tmpdir *t = *state;
	char text[4096];
	cd_rules *r;
	const cd_obdef *d;
	static const char *const overlay =
		"{\n  \"id\": \"a-overlay\",\n  \"version\": 1,\n  \"kind\": \"overlay\",\n  \"title\": \"o\",\n"
		"  \"effective\": { \"from\": \"2015-07-01\" },\n"
		"  \"obligations\": [\n"
		"    { \"name\": \"mem\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" }, \"member_of\": \"t-national/ks\" }\n"
		"  ]\n}\n";
	nat_top(text, sizeof(text), AGGS, "{ \"name\": \"f\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" } }");
	put_file(t, "z-nat.json", text);
	put_file(t, "a-overlay.json", overlay);
	put_file(t, "overlays.json", EMPTY_OVERLAYS);
	r = load_ok(t);
	d = cd_rules_find_obligation(r, "a-overlay/mem", NULL);
	assert_non_null(d);
	assert_string_equal(d->aggregate, "t-national/ks");
	assert_int_equal(d->exempt_scope, CD_SCOPE_KOMMUNE);
	cd_rules_free(r);
}

/* ---- dk-2026 keys: aggregates --------------------------------------------- */

static void test_aggregate_errors_name_file_line_aggregate_and_field(void **state)
{
	static const struct { const char *agg, *field, *extra; } cases[] = {
		{ "{ \"name\": \"a1\", \"kind\": \"MEDIAN\", \"share\": 75, \"key\": \"AKASSE\" }", "kind", "'MEDIAN'" },
		{ "{ \"name\": \"a1\", \"share\": 75, \"key\": \"AKASSE\" }", "kind", "required" },
		{ "{ \"name\": \"a1\", \"kind\": \"SHARE\", \"key\": \"AKASSE\" }", "share", "required" },
		{ "{ \"name\": \"a1\", \"kind\": \"SHARE\", \"share\": 0, \"key\": \"AKASSE\" }", "share", NULL },
		{ "{ \"name\": \"a1\", \"kind\": \"SHARE\", \"share\": 101, \"key\": \"AKASSE\" }", "share", NULL },
		{ "{ \"name\": \"a1\", \"kind\": \"SHARE\", \"share\": \"75\", \"key\": \"AKASSE\" }", "share", NULL },
		{ "{ \"name\": \"a1\", \"kind\": \"AVERAGE\", \"required\": 101, \"key\": \"AKASSE\" }", "required", NULL },
		{ "{ \"name\": \"a1\", \"kind\": \"AVERAGE\", \"required\": 0, \"key\": \"AKASSE\" }", "required", NULL },
		{ "{ \"name\": \"a1\", \"kind\": \"AVERAGE\", \"share\": 75, \"key\": \"AKASSE\" }", "share",
		  "SHARE aggregates only" },
		{ "{ \"name\": \"a1\", \"kind\": \"SHARE\", \"share\": 75, \"required\": 4, \"key\": \"AKASSE\" }",
		  "required", "AVERAGE aggregates only" },
		{ "{ \"name\": \"a1\", \"kind\": \"SHARE\", \"share\": 75 }", "key", "required" },
		{ "{ \"name\": \"a1\", \"kind\": \"SHARE\", \"share\": 75, \"key\": \"CITIZEN\" }", "key", "'CITIZEN'" },
		{ "{ \"name\": \"a1\", \"kind\": \"SHARE\", \"share\": 75, \"key\": \"AKASSE\", \"exemption_scope\": \"STATE\" }",
		  "exemption_scope", "'STATE'" },
		{ "{ \"name\": \"a1\", \"kind\": \"SHARE\", \"share\": 75, \"key\": \"AKASSE\", \"exemption_scope\": \"NONE\" }",
		  "exemption_scope", "'NONE'" },
		{ "{ \"name\": \"a1\", \"kind\": \"SHARE\", \"share\": 75, \"key\": \"AKASSE\", \"reporting_period\": \"week\" }",
		  "reporting_period", "'week'" },
		{ "{ \"name\": \"a1\", \"kind\": \"SHARE\", \"share\": 75, \"key\": \"AKASSE\", \"severity\": \"HIGH\" }",
		  "severity", "'HIGH'" },
		{ "{ \"name\": \"a1\", \"kind\": \"SHARE\", \"share\": 75, \"key\": \"AKASSE\", \"basis\": \"FAITH\" }",
		  "basis", "'FAITH'" },
		{ "{ \"name\": \"a1\", \"kind\": \"SHARE\", \"share\": 75, \"key\": \"AKASSE\", \"members\": [] }",
		  "members", "unknown field" },
		{ "{ \"name\": \"a1\", \"kind\": \"SHARE\", \"share\": 75, \"key\": \"AKASSE\", \"legal_ref\": 3 }",
		  "legal_ref", NULL },
	};
	tmpdir *t = *state;
	char top[2048], text[8192], msg[1024], field[96];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(top, sizeof(top), "  \"aggregates\": [\n    { \"name\": \"a0\", \"kind\": \"SHARE\", \"share\": 50, "
			 "\"key\": \"MUNICIPALITY\" },\n    %s\n  ],\n", cases[i].agg);
		nat_top(text, sizeof(text), top, "{ \"name\": \"f\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" } }");
		bad_ruleset(t, text, msg, sizeof(msg));
		print_message("case %zu: %s\n  -> %s\n", i, cases[i].agg, msg);
		/* A missing key has no line of its own (the loader's line search can land elsewhere). */
		if (cases[i].extra && !strcmp(cases[i].extra, "required"))
			assert_msg_names_file(t, msg, "bad.json");
		else
			assert_msg_at(t, msg, "bad.json", line_of(text, cases[i].agg));
		snprintf(field, sizeof(field), "field '%s'", cases[i].field);
		assert_msg_has(msg, field);
		assert_msg_has(msg, "aggregates[1]");
		if (cases[i].extra)
			assert_msg_has(msg, cases[i].extra);
	}
}

static void test_aggregate_name_array_and_duplicates_fail_naming_the_field(void **state)
{
	static const struct { const char *top, *marker, *field, *extra; } cases[] = {
		{ "  \"aggregates\": { \"name\": \"a\" },\n", "\"aggregates\"", "aggregates", "array" },
		{ "  \"aggregates\": [\n    \"a\"\n  ],\n", NULL, NULL, "aggregates[0]" },   /* no name: no line */
		{ "  \"aggregates\": [\n    { \"name\": \"Big Name\", \"kind\": \"SHARE\", \"share\": 1, \"key\": \"AKASSE\" }\n  ],\n",
		  "Big Name", "name", "'Big Name'" },
		{ "  \"aggregates\": [\n    { \"kind\": \"SHARE\", \"share\": 1, \"key\": \"AKASSE\" }\n  ],\n",
		  NULL, "name", "required" },
		{ "  \"aggregates\": [\n    { \"name\": \"a\", \"kind\": \"SHARE\", \"share\": 1, \"key\": \"AKASSE\" },\n"
		  "    { \"name\": \"a\", \"kind\": \"AVERAGE\", \"required\": 1, \"key\": \"AKASSE\" }\n  ],\n",
		  "\"AVERAGE\"", "name", "defined twice" },
	};
	tmpdir *t = *state;
	char text[8192], msg[1024], field[96];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		nat_top(text, sizeof(text), cases[i].top,
			"{ \"name\": \"f\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" } }");
		bad_ruleset(t, text, msg, sizeof(msg));
		print_message("case %zu -> %s\n", i, msg);
		if (cases[i].marker)
			assert_msg_at(t, msg, "bad.json", line_of(text, cases[i].marker));
		else
			assert_msg_names_file(t, msg, "bad.json");
		if (cases[i].field) {
			snprintf(field, sizeof(field), "field '%s'", cases[i].field);
			assert_msg_has(msg, field);
		}
		assert_msg_has(msg, cases[i].extra);
	}
}

/* ---- dk-2026 keys: the ruleset ------------------------------------------- */

static void test_bad_default_category_transition_or_no_obligations_fail_naming_the_field(void **state)
{
	static const struct { const char *line, *field, *extra; } cases[] = {
		{ "\"default_category\": \"LAZY\"", "default_category", "'LAZY'" },
		{ "\"default_category\": \"CATEGORY_UNSPECIFIED\"", "default_category", NULL },
		{ "\"default_category\": 1", "default_category", NULL },
		{ "\"transition\": \"commencement\"", "transition", "period-start or configurable" },
		{ "\"transition\": true", "transition", NULL },
		{ "\"no_obligations\": [\"REVALIDERING\"]", "no_obligations", NULL },
		{ "\"no_obligations\": { \"benefits\": [\"REVALIDERING\"] }", "why", "required" },
		{ "\"no_obligations\": { \"benefits\": [\"PENSION\"], \"why\": \"w\" }", "benefits", "'PENSION'" },
		{ "\"no_obligations\": { \"benefits\": [\"REVALIDERING\"], \"why\": \"w\", \"since\": \"2026-07-01\" }",
		  "no_obligations", NULL },
	};
	tmpdir *t = *state;
	char top[1024], text[8192], msg[1024], field[96];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(top, sizeof(top), "  %s,\n", cases[i].line);
		nat_top(text, sizeof(text), top, "{ \"name\": \"f\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" } }");
		bad_ruleset(t, text, msg, sizeof(msg));
		print_message("case %s -> %s\n", cases[i].line, msg);
		if (cases[i].extra && !strcmp(cases[i].extra, "required"))
			assert_msg_names_file(t, msg, "bad.json");     /* a missing key has no line */
		else
			assert_msg_at(t, msg, "bad.json", line_of(text, cases[i].line));
		snprintf(field, sizeof(field), "field '%s", cases[i].field);  /* "no_obligations.since" too */
		assert_msg_has(msg, field);
		if (cases[i].extra)
			assert_msg_has(msg, cases[i].extra);
	}
}

static void test_overlay_with_national_only_keys_fails_naming_the_key_and_its_line(void **state)
{
	static const char *const keys[][2] = {
		{ "transition", "\"transition\": \"configurable\"" },
		{ "transition", "\"transition\": \"period-start\"" },
		{ "no_obligations", "\"no_obligations\": { \"benefits\": [\"REVALIDERING\"], \"why\": \"w\" }" },
		{ "default_category", "\"default_category\": \"JOBPARAT\"" },
	};
	tmpdir *t = *state;
	char text[2048], msg[1024], field[96];
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(text, sizeof(text),
			 "{\n  \"id\": \"t-overlay\",\n  \"kind\": \"overlay\",\n"
			 "  \"effective\": { \"from\": \"2015-07-01\" },\n"
			 "  %s,\n"
			 "  \"obligations\": []\n}\n", keys[i][1]);
		bad_ruleset(t, text, msg, sizeof(msg));
		print_message("case %s -> %s\n", keys[i][0], msg);
		snprintf(field, sizeof(field), "field '%s'", keys[i][0]);
		assert_msg_has(msg, field);
		assert_msg_has(msg, "national");
		assert_msg_at(t, msg, "bad.json", line_of(text, keys[i][1]));
	}
}

/* An overlay may have aggregates and members (the keys are not national-only). */
static void test_overlay_may_define_aggregates_and_members(void **state)
{
	tmpdir *t = *state;
	cd_rules *r;
	static const char *const overlay =
		"{\n  \"id\": \"t-overlay\",\n  \"version\": 1,\n  \"kind\": \"overlay\",\n  \"title\": \"o\",\n"
		"  \"effective\": { \"from\": \"2015-07-01\" },\n"
		"  \"aggregates\": [ { \"name\": \"os\", \"kind\": \"SHARE\", \"share\": 10, \"key\": \"MUNICIPALITY\" } ],\n"
		"  \"obligations\": [\n"
		"    { \"name\": \"mem\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"8w\" }, \"member_of\": \"os\" }\n"
		"  ]\n}\n";
	put_file(t, "o.json", overlay);
	put_file(t, "overlays.json", EMPTY_OVERLAYS);
	r = load_ok(t);
	assert_non_null(cd_rules_find_aggregate(r, "t-overlay/os"));
	assert_string_equal(cd_rules_find_obligation(r, "t-overlay/mem", NULL)->aggregate, "t-overlay/os");
	cd_rules_free(r);
}

/* ---- overlay keys: lifts_kinds, national_members, allowed_municipalities (D21) ---- */

/*
 * Three national rulesets (two of them overlap the overlay's dates) and an
 * overlay that lifts two kinds, makes national counts of at least 2 members of
 * its aggregate per benefit, and may be enabled in two municipalities only.
 */
#define NAT_OLD "{\n  \"id\": \"t-old\",\n  \"kind\": \"national\",\n  \"effective\": { \"from\": \"2015-07-01\", \"to\": \"2019-12-31\" },\n" \
	"  \"aggregates\": [ { \"name\": \"old-share\", \"kind\": \"SHARE\", \"share\": 75, \"key\": \"MUNICIPALITY\" } ],\n" \
	"  \"obligations\": [\n" \
	"    { \"name\": \"first\", \"kind\": \"FIRST_WITHIN\", \"benefits\": [\"KONTANTHJAELP\"], \"window\": { \"to\": \"1w after\" } },\n" \
	"    { \"name\": \"two\", \"kind\": \"COUNT_IN_WINDOW\", \"benefits\": [\"KONTANTHJAELP\"], \"required\": 2, \"window\": { \"to\": \"3m\" } },\n" \
	"    { \"name\": \"one\", \"kind\": \"COUNT_IN_WINDOW\", \"benefits\": [\"KONTANTHJAELP\"], \"window\": { \"to\": \"6m\" } },\n" \
	"    { \"name\": \"rep\", \"kind\": \"COUNT_IN_WINDOW\", \"benefits\": [\"KONTANTHJAELP\", \"SYGEDAGPENGE\"], \"required\": 4, \"repeat_months\": 12 },\n" \
	"    { \"name\": \"already\", \"kind\": \"COUNT_IN_WINDOW\", \"required\": 4, \"window\": { \"to\": \"6m\" }, \"member_of\": \"old-share\" }\n" \
	"  ]\n}\n"
#define NAT_NEW "{\n  \"id\": \"t-new\",\n  \"kind\": \"national\",\n  \"effective\": { \"from\": \"2020-01-01\", \"to\": \"2029-12-31\" },\n" \
	"  \"obligations\": [\n" \
	"    { \"name\": \"four\", \"kind\": \"COUNT_IN_WINDOW\", \"required\": 4, \"window\": { \"to\": \"6m\" } }\n" \
	"  ]\n}\n"
#define NAT_LATER "{\n  \"id\": \"t-later\",\n  \"kind\": \"national\",\n  \"effective\": { \"from\": \"2030-01-01\" },\n" \
	"  \"obligations\": [\n" \
	"    { \"name\": \"later\", \"kind\": \"COUNT_IN_WINDOW\", \"benefits\": [\"KONTANTHJAELP\"], \"required\": 3, \"window\": { \"to\": \"6m\" } }\n" \
	"  ]\n}\n"

/* The overlay t-ov with `keys` (top-level lines, each ending in ",\n"). */
static const char *overlay_with(char *buf, size_t len, const char *keys)
{
	snprintf(buf, len,
		 "{\n  \"id\": \"t-ov\",\n  \"kind\": \"overlay\",\n"
		 "  \"effective\": { \"from\": \"2017-09-01\", \"to\": \"2020-12-31\" },\n"
		 "  \"benefits\": [\"KONTANTHJAELP\", \"SYGEDAGPENGE\"],\n"
		 "  \"aggregates\": [\n"
		 "    { \"name\": \"avg-kontanthjaelp\", \"kind\": \"AVERAGE\", \"key\": \"MUNICIPALITY\" },\n"
		 "    { \"name\": \"avg-sygedagpenge\", \"kind\": \"AVERAGE\", \"required\": 4, \"key\": \"MUNICIPALITY\", \"reporting_period\": \"month\" },\n"
		 "    { \"name\": \"avg\", \"kind\": \"SHARE\", \"share\": 50, \"key\": \"MUNICIPALITY\" }\n"
		 "  ],\n"
		 "%s"
		 "  \"obligations\": []\n}\n", keys);
	return buf;
}

static void test_overlay_keys_load_into_the_model(void **state)
{
	tmpdir *t = *state;
	char text[4096];
	cd_rules *r;
	const cd_ruleset *ov, *other;
	const cd_obdef *m;
	put_file(t, "old.json", NAT_OLD);
	put_file(t, "new.json", NAT_NEW);
	put_file(t, "later.json", NAT_LATER);
	put_file(t, "overlays.json", EMPTY_OVERLAYS);
	put_file(t, "ov.json", overlay_with(text, sizeof(text),
		"  \"allowed_municipalities\": [\"813\", \"0825\"],\n"
		"  \"lifts_kinds\": [\"FIRST_WITHIN\", \"MAX_GAP\"],\n"
		"  \"national_members\": { \"kind\": \"COUNT_IN_WINDOW\", \"min_required\": 2, \"member_of\": \"avg-{benefit}\" },\n"));
	put_file(t, "other.json", "{ \"id\": \"t-other\", \"kind\": \"overlay\", \"effective\": { \"from\": \"2018-01-01\" }, \"obligations\": [] }\n");
	r = load_ok(t);
	ov = cd_rules_find(r, "t-ov");
	other = cd_rules_find(r, "t-other");
	assert_non_null(ov);
	assert_int_equal(ov->lifts_kinds, CD_BIT(CD_FIRST_WITHIN) | CD_BIT(CD_MAX_GAP));
	assert_int_equal(ov->members_kind, CD_COUNT_IN_WINDOW);
	assert_int_equal(ov->members_min_required, 2);
	assert_string_equal(ov->members_of, "avg-{benefit}");
	assert_int_equal(ov->n_allowed, 2);
	assert_true(cd_ruleset_allows(ov, "813"));
	assert_true(cd_ruleset_allows(ov, "0825"));
	assert_false(cd_ruleset_allows(ov, "825"));
	assert_false(cd_ruleset_allows(ov, "101"));
	assert_true(cd_ruleset_allows(other, "101"));           /* no list: anywhere */
	assert_int_equal(other->lifts_kinds, 0);
	assert_int_equal(other->members_kind, 0);
	assert_int_equal(other->n_nmembers, 0);

	assert_true(cd_rules_lifted(&ov, 1, CD_FIRST_WITHIN));
	assert_true(cd_rules_lifted(&ov, 1, CD_MAX_GAP));
	assert_false(cd_rules_lifted(&ov, 1, CD_COUNT_IN_WINDOW));
	assert_false(cd_rules_lifted(&other, 1, CD_FIRST_WITHIN));
	assert_false(cd_rules_lifted(NULL, 0, CD_FIRST_WITHIN));

	/* two (K), rep (K, S) and four (K, S: the overlay's benefits); not one (n = 1), not
	 * already (a member of its own), not later (t-later's periods start after the overlay's). */
	assert_int_equal(ov->n_nmembers, 5);
	m = cd_rules_national_member(&ov, 1, ob(r, "t-old/two"), CD_KONTANTHJAELP);
	assert_non_null(m);
	assert_string_equal(m->id, "t-old/two");
	assert_string_equal(m->name, "two");
	assert_string_equal(m->aggregate, "t-ov/avg-kontanthjaelp");
	assert_int_equal(m->agg_kind, CD_AGG_AVERAGE);
	assert_int_equal(m->agg_key, CD_AGG_KEY_MUNICIPALITY);
	assert_int_equal(m->exempt_scope, 0);
	assert_int_equal(m->required, 2);
	assert_int_equal(m->kind, CD_COUNT_IN_WINDOW);
	assert_int_equal(m->to.n, 3);
	assert_int_equal(m->to.unit, 'm');
	assert_int_equal(m->filter.forms, ob(r, "t-old/two")->filter.forms);
	assert_ptr_equal(m->legal_ref, ob(r, "t-old/two")->legal_ref);  /* borrowed */
	assert_string_equal(ob(r, "t-old/two")->aggregate, "");       /* the national one is untouched */
	assert_null(cd_rules_national_member(&ov, 1, ob(r, "t-old/two"), CD_SYGEDAGPENGE));
	m = cd_rules_national_member(&ov, 1, ob(r, "t-old/rep"), CD_SYGEDAGPENGE);
	assert_non_null(m);
	assert_string_equal(m->aggregate, "t-ov/avg-sygedagpenge");
	assert_int_equal(m->repeat_months, 12);
	assert_string_equal(cd_rules_national_member(&ov, 1, ob(r, "t-old/rep"), CD_KONTANTHJAELP)->aggregate,
			    "t-ov/avg-kontanthjaelp");
	assert_string_equal(cd_rules_national_member(&ov, 1, ob(r, "t-new/four"), CD_SYGEDAGPENGE)->aggregate,
			    "t-ov/avg-sygedagpenge");
	assert_null(cd_rules_national_member(&ov, 1, ob(r, "t-new/four"), CD_DAGPENGE));
	assert_null(cd_rules_national_member(&ov, 1, ob(r, "t-old/one"), CD_KONTANTHJAELP));
	assert_null(cd_rules_national_member(&ov, 1, ob(r, "t-old/already"), CD_KONTANTHJAELP));
	assert_null(cd_rules_national_member(&ov, 1, ob(r, "t-old/first"), CD_KONTANTHJAELP));
	assert_null(cd_rules_national_member(&ov, 1, ob(r, "t-later/later"), CD_KONTANTHJAELP));
	assert_null(cd_rules_national_member(&other, 1, ob(r, "t-old/two"), CD_KONTANTHJAELP));
	assert_null(cd_rules_national_member(NULL, 0, ob(r, "t-old/two"), CD_KONTANTHJAELP));
	assert_string_equal(ob(r, "t-old/already")->aggregate, "t-old/old-share");
	cd_rules_free(r);

	/* min_required defaults to 1; a member_of without "{benefit}" names one aggregate for all. */
	put_file(t, "ov.json", overlay_with(text, sizeof(text),
		"  \"national_members\": { \"kind\": \"COUNT_IN_WINDOW\", \"member_of\": \"avg-kontanthjaelp\" },\n"));
	r = load_ok(t);
	ov = cd_rules_find(r, "t-ov");
	assert_int_equal(ov->members_min_required, 1);
	assert_int_equal(ov->n_allowed, 0);
	assert_int_equal(ov->n_nmembers, 6);                  /* and one (K) */
	assert_string_equal(cd_rules_national_member(&ov, 1, ob(r, "t-old/one"), CD_KONTANTHJAELP)->aggregate,
			    "t-ov/avg-kontanthjaelp");
	assert_string_equal(cd_rules_national_member(&ov, 1, ob(r, "t-new/four"), CD_SYGEDAGPENGE)->aggregate,
			    "t-ov/avg-kontanthjaelp");
	cd_rules_free(r);
}

static void test_overlay_key_errors_name_file_line_and_field(void **state)
{
	static const struct { const char *line, *field, *extra; } cases[] = {
		{ "\"lifts_kinds\": [\"FIRST_WITHN\"]", "lifts_kinds", "unknown kind 'FIRST_WITHN' (FIRST_WITHIN, COUNT_IN_WINDOW" },
		{ "\"lifts_kinds\": [7]", "lifts_kinds", "(not a string)" },
		{ "\"lifts_kinds\": []", "lifts_kinds", "non-empty" },
		{ "\"lifts_kinds\": \"FIRST_WITHIN\"", "lifts_kinds", "array" },
		{ "\"national_members\": [\"COUNT_IN_WINDOW\"]", "national_members", "expected {" },
		{ "\"national_members\": { \"kind\": \"COUNT\", \"member_of\": \"avg\" }", "national_members.kind", "'COUNT'" },
		{ "\"national_members\": { \"member_of\": \"avg\" }", "national_members.kind", "is required" },
		{ "\"national_members\": { \"kind\": \"COUNT_IN_WINDOW\" }", "national_members.member_of", "is required" },
		{ "\"national_members\": { \"kind\": \"COUNT_IN_WINDOW\", \"member_of\": \"avg\", \"min\": 2 }",
		  "national_members.min", "unknown field" },
		{ "\"national_members\": { \"kind\": \"COUNT_IN_WINDOW\", \"member_of\": \"avg\", \"min_required\": 0 }",
		  "national_members.min_required", "1 … 100" },
		{ "\"national_members\": { \"kind\": \"COUNT_IN_WINDOW\", \"member_of\": \"avg\", \"min_required\": \"2\" }",
		  "national_members.min_required", NULL },
		{ "\"national_members\": { \"kind\": \"COUNT_IN_WINDOW\", \"member_of\": 7 }", "national_members.member_of",
		  "{benefit}" },
		{ "\"national_members\": { \"kind\": \"COUNT_IN_WINDOW\", \"member_of\": \"avg-{benefit}-{benefit}\" }",
		  "national_members.member_of", "at most one" },
		{ "\"national_members\": { \"kind\": \"COUNT_IN_WINDOW\", \"member_of\": \"t-ov/avg\" }",
		  "national_members.member_of", "'t-ov/avg'" },
		{ "\"national_members\": { \"kind\": \"COUNT_IN_WINDOW\", \"member_of\": \"Avg-{benefit}\" }",
		  "national_members.member_of", "lowercase" },
		{ "\"national_members\": { \"kind\": \"COUNT_IN_WINDOW\", \"member_of\": \"avg-{benefit}x\" }",
		  "national_members.member_of", "no aggregate 'avg-kontanthjaelpx'" },
		{ "\"national_members\": { \"kind\": \"COUNT_IN_WINDOW\", \"member_of\": \"no-such\" }",
		  "national_members.member_of", "no aggregate 'no-such'" },
		{ "\"lifts_kinds\": [\"COUNT_IN_WINDOW\"], \"national_members\": { \"kind\": \"COUNT_IN_WINDOW\", \"member_of\": \"avg\" }",
		  "national_members.kind", "lifted" },
		{ "\"allowed_municipalities\": []", "allowed_municipalities", "non-empty" },
		{ "\"allowed_municipalities\": \"813\"", "allowed_municipalities", "array" },
		{ "\"allowed_municipalities\": [\"81\"]", "allowed_municipalities", "'81'" },
		{ "\"allowed_municipalities\": [\"813\", \"8130a\"]", "allowed_municipalities", "'8130a'" },
		{ "\"allowed_municipalities\": [813]", "allowed_municipalities", "''" },
		{ "\"allowed_municipalities\": [\"813\", \"810\", \"813\"]", "allowed_municipalities", "'813' is listed twice" },
	};
	tmpdir *t = *state;
	char keys[1024], text[4096], msg[1024], field[96];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(keys, sizeof(keys), "  %s,\n", cases[i].line);
		overlay_with(text, sizeof(text), keys);
		bad_ruleset(t, text, msg, sizeof(msg));
		print_message("case %zu: %s\n  -> %s\n", i, cases[i].line, msg);
		assert_msg_at(t, msg, "bad.json", line_of(text, cases[i].line));
		snprintf(field, sizeof(field), "field '%s'", cases[i].field);
		assert_msg_has(msg, field);
		if (cases[i].extra)
			assert_msg_has(msg, cases[i].extra);
	}
}

/*
 * An AVERAGE that states "required" is owed exactly that by every member: one
 * declared with member_of, and one an overlay's national_members makes. Without
 * it, members owe their own counts (D21).
 */
static void test_an_average_with_required_refuses_a_member_owing_another_count(void **state)
{
	tmpdir *t = *state;
	char text[4096], msg[1024];
	cd_rules *r;

	nat_top(text, sizeof(text), AGGS,
		"{ \"name\": \"m2\", \"kind\": \"COUNT_IN_WINDOW\", \"required\": 2, \"window\": { \"to\": \"3m\" }, \"member_of\": \"avg\" }");
	bad_ruleset(t, text, msg, sizeof(msg));
	print_message("member_of -> %s\n", msg);
	assert_msg_at(t, msg, "bad.json", line_of(text, "\"m2\""));
	assert_msg_has(msg, "obligations[0] 'm2'");
	assert_msg_has(msg, "field 'member_of'");
	assert_msg_has(msg, "owes 2");
	assert_msg_has(msg, "'t-national/avg' requires 3");

	/* national_members: t-old/two (n = 2) would join avg-sygedagpenge (required 4) … */
	put_file(t, "old.json", NAT_OLD);
	put_file(t, "overlays.json", EMPTY_OVERLAYS);
	put_file(t, "ov.json", overlay_with(text, sizeof(text),
		"  \"national_members\": { \"kind\": \"COUNT_IN_WINDOW\", \"member_of\": \"avg-sygedagpenge\" },\n"));
	load_must_fail(t, NULL, msg, sizeof(msg));
	print_message("national_members -> %s\n", msg);
	assert_msg_at(t, msg, "ov.json", line_of(text, "\"avg-sygedagpenge\", \"kind\""));
	assert_msg_has(msg, "aggregates[1]");
	assert_msg_has(msg, "field 'required'");
	assert_msg_has(msg, "t-old/two");
	assert_msg_names_file(t, msg, "old.json");
	/* … but with min_required 4 only counts of 4 join it: it loads. */
	put_file(t, "ov.json", overlay_with(text, sizeof(text),
		"  \"national_members\": { \"kind\": \"COUNT_IN_WINDOW\", \"min_required\": 3, \"member_of\": \"avg-sygedagpenge\" },\n"));
	r = load_ok(t);
	assert_int_equal(cd_rules_find(r, "t-ov")->n_nmembers, 2);   /* rep (K, S); already is a member */
	cd_rules_free(r);

	/* An AVERAGE without "required": members owing 2 and 4 load. */
	put_file(t, "ov.json", overlay_with(text, sizeof(text),
		"  \"national_members\": { \"kind\": \"COUNT_IN_WINDOW\", \"min_required\": 2, \"member_of\": \"avg-kontanthjaelp\" },\n"));
	r = load_ok(t);
	assert_int_equal(cd_rules_find_aggregate(r, "t-ov/avg-kontanthjaelp")->required, 0);
	assert_int_equal(cd_rules_national_member((const cd_ruleset *const[]){ cd_rules_find(r, "t-ov") }, 1,
						  ob(r, "t-old/two"), CD_KONTANTHJAELP)->required, 2);
	assert_int_equal(cd_rules_national_member((const cd_ruleset *const[]){ cd_rules_find(r, "t-ov") }, 1,
						  ob(r, "t-old/rep"), CD_KONTANTHJAELP)->required, 4);
	cd_rules_free(r);
}

/* allowed_municipalities: enabling the overlay anywhere else, by overlays.json or --overlays, is refused. */
static void test_enabling_an_overlay_outside_its_allowed_municipalities_fails_naming_the_municipality(void **state)
{
	tmpdir *t = *state;
	char text[4096], msg[1024], ovpath[1024];
	const char *cfg = "{\n  \"overlays\": [\n"
			  "    { \"overlay\": \"t-other\", \"municipalities\": [\"101\"] },\n"
			  "    { \"overlay\": \"t-ov\",\n"
			  "      \"municipalities\": [\"813\", \"101\"] }\n"
			  "  ]\n}\n";
	const cd_ruleset *out[4];
	cd_rules *r;
	cd_err err = { { 0 }, 0 };

	put_file(t, "ov.json", overlay_with(text, sizeof(text), "  \"allowed_municipalities\": [\"810\", \"813\"],\n"));
	put_file(t, "other.json", "{ \"id\": \"t-other\", \"kind\": \"overlay\", \"effective\": { \"from\": \"2018-01-01\" }, \"obligations\": [] }\n");
	put_file(t, "overlays.json", cfg);
	load_must_fail(t, NULL, msg, sizeof(msg));
	print_message("%s\n", msg);
	snprintf(ovpath, sizeof(ovpath), "%s/ov.json", t->dir);
	assert_msg_at(t, msg, "overlays.json", line_of(cfg, "[\"813\", \"101\"]"));
	assert_msg_has(msg, "overlays[1]");
	assert_msg_has(msg, "field 'municipalities'");
	assert_msg_has(msg, "'t-ov' may not be enabled for municipality 101");
	assert_msg_has(msg, ovpath);
	assert_msg_has(msg, "allows only 810, 813 (allowed_municipalities)");

	/* Inside the list it loads; --overlays is held to the same list. */
	put_file(t, "overlays.json", "{ \"overlays\": [ { \"overlay\": \"t-ov\", \"municipalities\": [\"813\", \"810\"] } ] }\n");
	r = load_ok(t);
	assert_int_equal(cd_rules_overlays(r, "813", CD_KONTANTHJAELP, D("2018-01-01"), false, out, 4), 1);
	assert_int_equal(cd_rules_set_overlays(r, "t-other@101,t-ov@101", &err), -1);
	print_message("%s\n", err.msg);
	assert_msg_has(err.msg, "overlay 't-ov@101'");
	assert_msg_has(err.msg, "t-ov may not be enabled for municipality 101");
	assert_msg_has(err.msg, ovpath);
	assert_msg_has(err.msg, "allows only 810, 813");
	/* the configuration in force is unchanged */
	assert_int_equal(cd_rules_overlays(r, "813", CD_KONTANTHJAELP, D("2018-01-01"), false, out, 4), 1);
	assert_int_equal(cd_rules_overlays(r, "101", CD_KONTANTHJAELP, D("2018-01-01"), false, out, 4), 0);
	assert_int_equal(cd_rules_set_overlays(r, "t-other@101,t-ov@810", &err), 0);
	assert_int_equal(cd_rules_overlays(r, "810", CD_KONTANTHJAELP, D("2018-01-01"), false, out, 4), 1);
	assert_int_equal(cd_rules_overlays(r, "813", CD_KONTANTHJAELP, D("2018-01-01"), false, out, 4), 0);
	cd_rules_free(r);
}

/* ---- one name, exclusive definitions -------------------------------------- */

static void test_one_name_may_be_defined_twice_only_for_exclusive_periods(void **state)
{
	static const char *const ok[] = {
		"{ \"name\": \"ok-first\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"2w\" }, \"benefits\": [\"DAGPENGE\"] }",
		"{ \"name\": \"ok-first\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"2w\" }, \"benefits\": [\"KONTANTHJAELP\"] }",
		"{ \"name\": \"ok-first\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"2w\" }, \"categories\": [\"JOBPARAT\"] }",
		"{ \"name\": \"ok-first\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"2w\" }, \"categories\": [\"AKTIVITETSPARAT\"] }",
		"{ \"name\": \"ok-first\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"2w\" }, \"when\": { \"municipal_contact_course\": true } }",
		"{ \"name\": \"ok-first\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"2w\" }, \"when\": { \"municipal_contact_course\": false } }",
		"{ \"name\": \"ok-first\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"2w\" }, \"when\": { \"sick_short_absence_expected\": false } }",
		"{ \"name\": \"ok-first\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"2w\" }, \"when\": { \"sick_short_absence_expected\": true } }",
	};
	/* Overlapping: same benefits, overlapping categories, one unconditional, the same flag value, different flags. */
	static const char *const bad[][2] = {
		{ "{ \"name\": \"x\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"2w\" }, \"benefits\": [\"DAGPENGE\", \"KONTANTHJAELP\"] }",
		  "{ \"name\": \"x\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"2w\" }, \"benefits\": [\"KONTANTHJAELP\"] }" },
		{ "{ \"name\": \"x\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"2w\" }, \"categories\": [\"JOBPARAT\", \"UDDANNELSESPARAT\"] }",
		  "{ \"name\": \"x\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"2w\" }, \"categories\": [\"UDDANNELSESPARAT\"] }" },
		{ "{ \"name\": \"x\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"2w\" }, \"benefits\": [\"DAGPENGE\"] }",
		  "{ \"name\": \"x\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"2w\" } }" },
		{ "{ \"name\": \"x\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"2w\" }, \"when\": { \"municipal_contact_course\": true } }",
		  "{ \"name\": \"x\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"2w\" } }" },
		{ "{ \"name\": \"x\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"2w\" }, \"when\": { \"municipal_contact_course\": false } }",
		  "{ \"name\": \"x\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"2w\" }, \"when\": { \"municipal_contact_course\": false } }" },
		{ "{ \"name\": \"x\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"2w\" }, \"when\": { \"municipal_contact_course\": true } }",
		  "{ \"name\": \"x\", \"kind\": \"FIRST_WITHIN\", \"window\": { \"to\": \"2w\" }, \"when\": { \"sick_short_absence_expected\": false } }" },
	};
	tmpdir *t = *state;
	char text[8192], obs[2048], msg[1024];
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i += 2) {
		cd_rules *r;
		const cd_ruleset *rs;
		snprintf(obs, sizeof(obs), "%s,\n    %s", ok[i], ok[i + 1]);
		nat_top(text, sizeof(text), "", obs);
		put_file(t, "nat.json", text);
		put_file(t, "overlays.json", EMPTY_OVERLAYS);
		r = load_ok(t);
		rs = cd_rules_find(r, "t-national");
		assert_int_equal(rs->n_obs, 2);
		assert_string_equal(rs->obs[0].id, rs->obs[1].id);
		cd_rules_free(r);
		remove_file(t, "nat.json");
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(obs, sizeof(obs), "%s,\n    %s", bad[i][0], bad[i][1]);
		nat_top(text, sizeof(text), "", obs);
		bad_ruleset(t, text, msg, sizeof(msg));
		print_message("case %zu -> %s\n", i, msg);
		assert_msg_has(msg, "field 'name'");
		assert_msg_has(msg, "'x' is defined twice");
		assert_msg_has(msg, "obligations[1]");
		assert_msg_names_file(t, msg, "bad.json");
	}
}

/* ---- rules/merges.json ----------------------------------------------------- */

#define NAT_MIN "{\n  \"id\": \"t-national\",\n  \"version\": 1,\n  \"kind\": \"national\",\n  \"title\": \"t\",\n" \
	"  \"effective\": { \"from\": \"2015-07-01\" },\n  \"obligations\": []\n}\n"

static void test_merges_json_is_read_and_applied_from_its_date(void **state)
{
	tmpdir *t = *state;
	cd_rules *r;
	put_file(t, "nat.json", NAT_MIN);
	put_file(t, "overlays.json", EMPTY_OVERLAYS);
	put_file(t, "merges.json",
		 "{ \"comment\": \"c\", \"merges\": [\n"
		 "  { \"benefit\": \"REVALIDERING\", \"into\": \"JOBAFKLARING\", \"from\": \"2020-02-29\", \"legal_ref\": \"x\" },\n"
		 "  { \"benefit\": \"LEDIGHEDSYDELSE\", \"into\": \"JOBAFKLARING\", \"from\": \"2021-01-01\", \"comment\": \"no ref\" }\n"
		 "] }\n");
	r = load_ok(t);
	assert_int_equal(cd_rules_count(r), 1);            /* merges.json is not a ruleset */
	assert_int_equal(cd_rules_merge_count(r), 2);
	assert_int_equal(cd_rules_merge_at(r, 0)->benefit, CD_REVALIDERING);
	assert_int_equal(cd_rules_merge_at(r, 0)->into, CD_JOBAFKLARING);
	assert_int_equal(cd_rules_merge_at(r, 0)->from, D("2020-02-29"));
	assert_string_equal(cd_rules_merge_at(r, 0)->legal_ref, "x");
	assert_string_equal(cd_rules_merge_at(r, 1)->legal_ref, "");
	assert_int_equal(cd_rules_merged_benefit(r, CD_REVALIDERING, D("2020-02-28")), CD_REVALIDERING);
	assert_int_equal(cd_rules_merged_benefit(r, CD_REVALIDERING, D("2020-02-29")), CD_JOBAFKLARING);
	assert_int_equal(cd_rules_merged_benefit(r, CD_LEDIGHEDSYDELSE, D("2020-12-31")), CD_LEDIGHEDSYDELSE);
	assert_int_equal(cd_rules_merged_benefit(r, CD_LEDIGHEDSYDELSE, D("2021-01-01")), CD_JOBAFKLARING);
	assert_int_equal(cd_rules_merged_benefit(r, CD_JOBAFKLARING, D("2021-01-01")), CD_JOBAFKLARING);
	cd_rules_free(r);
	/* An empty list merges nothing. */
	put_file(t, "merges.json", "{ \"merges\": [] }\n");
	r = load_ok(t);
	assert_int_equal(cd_rules_merge_count(r), 0);
	cd_rules_free(r);
}

static void test_bad_merges_json_fails_naming_file_line_and_field(void **state)
{
	static const struct { const char *entries, *marker, *field, *extra; } cases[] = {
		/* unknown benefit / into */
		{ "  { \"benefit\": \"STUDIEGAELD\", \"into\": \"KONTANTHJAELP\", \"from\": \"2025-07-01\" }\n",
		  "STUDIEGAELD", "benefit", "'STUDIEGAELD'" },
		{ "  { \"benefit\": \"UDDANNELSESHJAELP\", \"into\": \"PENSION\", \"from\": \"2025-07-01\" }\n",
		  "PENSION", "into", "'PENSION'" },
		{ "  { \"benefit\": \"BENEFIT_UNSPECIFIED\", \"into\": \"KONTANTHJAELP\", \"from\": \"2025-07-01\" }\n",
		  "BENEFIT_UNSPECIFIED", "benefit", NULL },
		/* self-merge */
		{ "  { \"benefit\": \"KONTANTHJAELP\", \"into\": \"KONTANTHJAELP\", \"from\": \"2025-07-01\" }\n",
		  "\"benefit\"", "into", "itself" },
		/* a chain, either way round */
		{ "  { \"benefit\": \"UDDANNELSESHJAELP\", \"into\": \"KONTANTHJAELP\", \"from\": \"2025-07-01\" },\n"
		  "  { \"benefit\": \"KONTANTHJAELP\", \"into\": \"DAGPENGE\", \"from\": \"2025-07-01\" }\n",
		  "\"KONTANTHJAELP\", \"into\": \"DAGPENGE\"", "benefit", "chain" },
		{ "  { \"benefit\": \"KONTANTHJAELP\", \"into\": \"DAGPENGE\", \"from\": \"2025-07-01\" },\n"
		  "  { \"benefit\": \"UDDANNELSESHJAELP\", \"into\": \"KONTANTHJAELP\", \"from\": \"2025-07-01\" }\n",
		  "\"UDDANNELSESHJAELP\"", "benefit", "chain" },
		/* a repeat */
		{ "  { \"benefit\": \"UDDANNELSESHJAELP\", \"into\": \"KONTANTHJAELP\", \"from\": \"2025-07-01\" },\n"
		  "  { \"benefit\": \"UDDANNELSESHJAELP\", \"into\": \"DAGPENGE\", \"from\": \"2026-07-01\" }\n",
		  "\"DAGPENGE\"", "benefit", "repeat" },
		/* from: missing or bad */
		{ "  { \"benefit\": \"UDDANNELSESHJAELP\", \"into\": \"KONTANTHJAELP\" }\n",
		  "\"UDDANNELSESHJAELP\"", "from", "required" },
		{ "  { \"benefit\": \"UDDANNELSESHJAELP\", \"into\": \"KONTANTHJAELP\", \"from\": \"2025-13-01\" }\n",
		  "2025-13-01", "from", NULL },
		/* required strings, unknown keys, shapes */
		{ "  { \"into\": \"KONTANTHJAELP\", \"from\": \"2025-07-01\" }\n", "\"into\"", "benefit", "required" },
		{ "  { \"benefit\": \"UDDANNELSESHJAELP\", \"from\": \"2025-07-01\" }\n", "\"benefit\"", "into", "required" },
		{ "  { \"benefit\": \"UDDANNELSESHJAELP\", \"into\": \"KONTANTHJAELP\", \"from\": \"2025-07-01\", \"until\": \"2030-01-01\" }\n",
		  "\"until\"", "until", "unknown field" },
		{ "  { \"benefit\": \"UDDANNELSESHJAELP\", \"into\": \"KONTANTHJAELP\", \"from\": \"2025-07-01\", \"legal_ref\": 5 }\n",
		  "\"legal_ref\"", "legal_ref", NULL },
		{ "  \"UDDANNELSESHJAELP\"\n", NULL, NULL, "merges[0]" },   /* not an object: no line */
	};
	tmpdir *t = *state;
	char text[4096], msg[1024], field[96];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "{\n\"merges\": [\n%s] }\n", cases[i].entries);
		put_file(t, "nat.json", NAT_MIN);
		put_file(t, "overlays.json", EMPTY_OVERLAYS);
		put_file(t, "merges.json", text);
		load_must_fail(t, NULL, msg, sizeof(msg));
		print_message("case %zu -> %s\n", i, msg);
		if (!cases[i].marker || (cases[i].extra && !strcmp(cases[i].extra, "required")))
			assert_msg_names_file(t, msg, "merges.json");  /* a missing key has no line */
		else
			assert_msg_at(t, msg, "merges.json", line_of(text, cases[i].marker));
		if (cases[i].field) {
			snprintf(field, sizeof(field), "field '%s'", cases[i].field);
			assert_msg_has(msg, field);
		}
		if (cases[i].extra)
			assert_msg_has(msg, cases[i].extra);
		if (strchr(cases[i].entries, '{'))
			assert_msg_has(msg, "merges[");
	}
	/* The file's own shape. */
	{
		static const char *const shapes[][2] = {
			{ "[]\n", NULL },
			{ "{ \"merges\": {} }\n", "merges" },
			{ "{ \"comment\": \"no list\" }\n", "merges" },
			{ "{ \"merges\": [], \"extra\": 1 }\n", "extra" },
			{ "{ \"merges\": [ }\n", NULL },
		};
		for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
			put_file(t, "merges.json", shapes[i][0]);
			load_must_fail(t, NULL, msg, sizeof(msg));
			print_message("shape %zu -> %s\n", i, msg);
			assert_msg_names_file(t, msg, "merges.json");
			if (shapes[i][1]) {
				snprintf(field, sizeof(field), "field '%s'", shapes[i][1]);
				assert_msg_has(msg, field);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_rules_directory_loads_every_ruleset),
		cmocka_unit_test(test_national_ruleset_is_chosen_by_period_start),
		cmocka_unit_test(test_no_national_ruleset_before_2015_07_01_and_dk_2026_is_open_ended),
		cmocka_unit_test(test_national_after_walks_the_national_rulesets_in_date_order),
		cmocka_unit_test(test_merged_benefit_follows_rules_merges_json),
		cmocka_unit_test(test_dk_2026_aggregates_members_flags_and_top_level_keys),
		cmocka_unit_test(test_hjoerring_dagpenge_gets_the_frikommune_overlay_by_seasonal_flag),
		cmocka_unit_test(test_hjoerring_overlay_does_not_apply_before_its_start_or_to_other_benefits),
		cmocka_unit_test(test_hedensted_overlay_applies_to_any_benefit_from_2020_01_01),
		cmocka_unit_test(test_nordjylland_overlay_as_shipped),
		cmocka_unit_test(test_set_overlays_none_disables_every_overlay),
		cmocka_unit_test(test_set_overlays_list_enables_exactly_those_pairs),
		cmocka_unit_test(test_set_overlays_rejects_a_bad_item_naming_it_and_keeps_the_old_configuration),
		cmocka_unit_test(test_span_lengths_follow_rules_md_3_1),
#define T(f) cmocka_unit_test_setup_teardown(f, setup_tmp, teardown_tmp)
		T(test_dk_2026_keys_load_into_the_model),
		T(test_obligation_with_bad_basis_when_or_anchor_fails_naming_the_field),
		T(test_member_of_an_unknown_aggregate_fails_naming_file_obligation_and_member_of),
		T(test_member_of_resolves_across_files_by_full_id),
		T(test_aggregate_errors_name_file_line_aggregate_and_field),
		T(test_aggregate_name_array_and_duplicates_fail_naming_the_field),
		T(test_bad_default_category_transition_or_no_obligations_fail_naming_the_field),
		T(test_overlay_with_national_only_keys_fails_naming_the_key_and_its_line),
		T(test_overlay_may_define_aggregates_and_members),
		T(test_overlay_keys_load_into_the_model),
		T(test_overlay_key_errors_name_file_line_and_field),
		T(test_an_average_with_required_refuses_a_member_owing_another_count),
		T(test_enabling_an_overlay_outside_its_allowed_municipalities_fails_naming_the_municipality),
		T(test_one_name_may_be_defined_twice_only_for_exclusive_periods),
		T(test_merges_json_is_read_and_applied_from_its_date),
		T(test_bad_merges_json_fails_naming_file_line_and_field),
		T(test_a_valid_temporary_directory_loads),
		T(test_missing_rules_directory_fails_naming_it),
		T(test_missing_overlays_json_fails_naming_it),
		T(test_missing_explicit_overlays_path_fails_naming_it),
		T(test_invalid_json_fails_with_file_line_and_column),
		T(test_duplicate_key_in_json_is_invalid_json),
		T(test_ruleset_that_is_not_an_object_fails_naming_the_file),
		T(test_ruleset_with_unknown_top_level_key_fails_naming_file_line_and_field),
		T(test_ruleset_missing_a_required_top_level_field_fails_naming_it),
		T(test_ruleset_with_bad_effective_date_fails_naming_effective_from),
		T(test_ruleset_whose_effective_to_is_before_from_fails_naming_effective_to),
		T(test_national_ruleset_with_overlay_only_keys_fails_naming_the_key_and_its_line),
		T(test_overlay_with_bad_benefits_seasonal_or_replaces_fails_naming_the_field),
		T(test_ruleset_with_unknown_kind_fails_naming_file_line_and_field),
		T(test_obligation_with_unknown_key_fails_naming_the_key),
		T(test_obligation_with_unknown_enum_name_fails_naming_the_field_and_the_name),
		T(test_obligation_with_bad_span_fails_naming_the_field),
		T(test_obligation_with_out_of_range_number_fails_naming_the_field),
		T(test_obligation_missing_what_its_kind_requires_fails_naming_the_field),
		T(test_duplicate_obligation_name_fails_naming_the_name),
		T(test_mirror_on_a_national_ruleset_fails_naming_mirror),
		T(test_max_gap_after_met_naming_a_missing_obligation_fails_naming_start_after_met),
		T(test_max_gap_after_met_referencing_a_later_obligation_loads),
		T(test_error_line_is_the_failing_obligations_even_if_its_name_appears_earlier),
		T(test_obligation_error_names_the_obligation_and_the_bad_value_as_documented),
		T(test_duplicate_ruleset_id_across_files_fails_naming_both_files),
		T(test_two_overlapping_national_rulesets_fail_naming_both_files_and_effective),
		T(test_adjacent_national_rulesets_do_not_overlap),
		T(test_overlays_json_naming_an_unknown_overlay_fails_naming_file_line_and_field),
		T(test_overlays_json_naming_a_national_ruleset_fails_naming_the_field),
		T(test_overlays_json_with_a_bad_municipality_code_fails_naming_the_code),
		T(test_overlays_json_with_bad_structure_fails_naming_the_field),
		T(test_overlays_json_enabling_more_overlays_for_one_municipality_than_apply_fails_naming_it),
		T(test_set_overlays_enabling_more_overlays_for_one_municipality_than_apply_fails_naming_it),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
