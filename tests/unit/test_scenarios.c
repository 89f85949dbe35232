/*
 * test_scenarios.c — runs every scenario file (tests/scenarios/NNN-name.scn, docs/scenarios.md)
 * through the engine on the event clock, one cmocka test per file.
 *
 * Inputs are built as contact.v1 CitizenEvent messages and go through the same
 * codec and validation as production input, so `reject` lines test those too.
 * Expected outputs were written by hand from the spec; the runner only compares.
 *
 * Environment: CD_SCENARIOS (directory, default tests/scenarios), CD_RULES
 * (default rules), CD_SCENARIO (run only files whose name contains this),
 * CD_SCENARIO_EXPORT (a directory: also write each scenario's inputs there as
 * a JSON-lines event log NNN.jsonl, with citizen and event ids prefixed by the
 * file's number so that logs can be mixed, `until` as an all-citizen ClockTick,
 * and NNN.flags holding the engine options of its `config` line; the live
 * end-to-end test feeds these through Kafka). The log is the input message
 * itself through pbjson, so every field the language can set (akasse_code,
 * the Exemption payload, …) is exported as written.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/codec.h"
#include "proto/pbjson.h"
#include "proto/rules_json.h"
#include "state/engine.h"
#include "state/rules.h"

#define MAX_CITIZENS 16
#define MAX_OUT 512
#define MAX_EXP 512
#define MAX_IGNORE 16

typedef struct got {
	bool is_breach;
	int status, kind, reason, severity, req, held, basis, benefit;
	char oid[112], citizen[64], counted[512], agg[112];
	cd_date due, ws, we;
	cd_instant at;
	char event_id[33];
} got;

typedef struct exp_line {
	char text[600];
	int lineno;
	bool is_breach;
	int status;
	char oid[112];
} exp_line;

typedef struct run {
	const char *file;
	FILE *export;            /* CD_SCENARIO_EXPORT: the event log being written */
	char prefix[16];         /* "017." for tests/scenarios/017-….scn */
	cd_rules *rules;
	cd_engine *eng;
	cd_engine_config cfg;
	char overlays[512];
	struct {
		char id[64];
		char muni[8];
		cd_citizen c;
	} cit[MAX_CITIZENS];
	int n_cit;
	char cur_citizen[64];
	got out[MAX_OUT];
	int n_out;
	exp_line exp[MAX_EXP];
	int n_exp;
	char ignore[MAX_IGNORE][112];
	int n_ignore;
	char group[600];       /* the line that produced the current group */
	int group_line;
	char reject_want[256];
	char reject_got[512];
	int rejected;
	/* every output event id of the run, to check they are unique (D27) */
	char (*ids)[33];
	size_t n_ids, cap_ids;
	int failures;
} run;

static void failf(run *r, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s:%d: ", r->file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	r->failures++;
}

/* ---- time ------------------------------------------------------------------ */

/* "YYYY-MM-DD" (12:00 local), "YYYY-MM-DDTHH:MM" (local), or RFC 3339. */
static int parse_time(const char *s, cd_instant *out)
{
	size_t n = strlen(s);
	cd_date d;
	int h = 12, m = 0;
	cd_instant t;

	if (n > 16 && (s[16] == 'Z' || s[16] == '+' || s[16] == '-')) {
		/* "YYYY-MM-DDTHH:MMZ": RFC 3339 without seconds */
		char full[64];
		snprintf(full, sizeof(full), "%.16s:00%s", s, s + 16);
		return cd_instant_parse_rfc3339(full, strlen(full), out);
	}
	if (n > 16 && cd_instant_parse_rfc3339(s, n, out) == 0)
		return 0;
	if (n < 10 || cd_date_parse(s, 10, &d) < 0)
		return -1;
	if (n == 16) {
		if (s[10] != 'T' || sscanf(s + 11, "%2d:%2d", &h, &m) != 2)
			return -1;
	} else if (n != 10)
		return -1;
	/* local wall time: try CET, then CEST */
	t = ((cd_instant)d * 86400 + h * 3600 + m * 60) * CD_NS_PER_SEC;
	if (cd_cph_utc_offset(t - 3600 * CD_NS_PER_SEC) == 3600)
		*out = t - 3600 * CD_NS_PER_SEC;
	else
		*out = t - 7200 * CD_NS_PER_SEC;
	return 0;
}

static void format_local(cd_instant t, char *buf, size_t len)
{
	cd_date d = cd_cph_date(t);
	char ds[CD_DATE_STRLEN];
	int64_t secs = (t - cd_cph_midnight(d)) / CD_NS_PER_SEC;
	snprintf(buf, len, "%sT%02d:%02d", cd_date_format(d, ds), (int)(secs / 3600), (int)(secs / 60 % 60));
}

/* ---- citizens and outputs -------------------------------------------------- */

static int citizen_index(run *r, const char *id)
{
	for (int i = 0; i < r->n_cit; i++)
		if (!strcmp(r->cit[i].id, id))
			return i;
	assert_true(r->n_cit < MAX_CITIZENS);
	snprintf(r->cit[r->n_cit].id, sizeof(r->cit[r->n_cit].id), "%s", id);
	r->cit[r->n_cit].muni[0] = '\0';
	cd_citizen_init(&r->cit[r->n_cit].c);
	return r->n_cit++;
}

static int collect(void *ctx, const cd_output *o)
{
	run *r = ctx;
	got *g;
	size_t off = 0;

	for (size_t i = 0; i < r->n_ids; i++)
		if (!strcmp(r->ids[i], o->event_id))
			failf(r, r->group_line, "output event id %s repeats (%s %s)", o->event_id,
			      cd_output_status_name(o), o->obligation_id);
	if (r->n_ids == r->cap_ids) {
		r->cap_ids = r->cap_ids ? r->cap_ids * 2 : 256;
		r->ids = realloc(r->ids, r->cap_ids * sizeof(*r->ids));
		assert_non_null(r->ids);
	}
	memcpy(r->ids[r->n_ids++], o->event_id, 33);

	if (r->n_out >= MAX_OUT) {
		failf(r, r->group_line, "more than %d outputs from one input", MAX_OUT);
		return 0;
	}
	g = &r->out[r->n_out++];
	memset(g, 0, sizeof(*g));
	g->is_breach = o->is_breach;
	g->status = o->status;
	g->kind = o->breach_kind;
	g->reason = o->cancel_reason;
	g->severity = o->severity;
	g->req = o->required;
	g->held = o->held;
	g->basis = o->basis;
	g->benefit = o->benefit;
	snprintf(g->agg, sizeof(g->agg), "%s", o->aggregate_id ? o->aggregate_id : "");
	g->due = o->due;
	g->ws = o->window_start;
	g->we = o->window_end;
	g->at = o->as_of;
	snprintf(g->oid, sizeof(g->oid), "%s", o->obligation_id);
	snprintf(g->citizen, sizeof(g->citizen), "%s", o->citizen_id);
	memcpy(g->event_id, o->event_id, 33);
	for (size_t i = 0; i < o->n_counted && off < sizeof(g->counted) - 1; i++)
		off += (size_t)snprintf(g->counted + off, sizeof(g->counted) - off, "%s%s", i ? "," : "",
					o->counted[i]);
	return 0;
}

/* contact.v1 Basis without its prefix; "none" for unspecified. */
static const char *const basis_names[] = { "none", "LAW", "GUIDANCE", "CARRIED_OVER", "INTERPRETATION" };
_Static_assert(sizeof(basis_names) / sizeof(basis_names[0]) == CD_BASIS_MAX + 1, "a name for every basis");

static int basis_parse(const char *v)
{
	for (int i = 0; i <= CD_BASIS_MAX; i++)
		if (!strcmp(v, basis_names[i]))
			return i;
	return -1;
}

static const char *basis_name(int b)
{
	return b >= 0 && b <= CD_BASIS_MAX ? basis_names[b] : "?";
}

static void describe(const got *g, char *buf, size_t len)
{
	char due[CD_DATE_STRLEN], ws[CD_DATE_STRLEN], we[CD_DATE_STRLEN], at[32];
	cd_output o = { .is_breach = g->is_breach, .status = g->status };
	format_local(g->at, at, sizeof(at));
	snprintf(buf, len, "%s %s benefit=%s due=%s ws=%s we=%s req=%d held=%d at=%s citizen=%s%s%s%s%s%s%s%s%s counted=%s",
		 cd_output_status_name(&o), g->oid, cd_benefit_name(g->benefit), g->due == CD_DATE_NONE ? "none" : cd_date_format(g->due, due),
		 g->ws == CD_DATE_NONE ? "none" : cd_date_format(g->ws, ws),
		 g->we == CD_DATE_NONE ? "none" : cd_date_format(g->we, we), g->req, g->held, at, g->citizen,
		 g->reason ? " reason=" : "", g->reason ? cd_cancel_reason_name(g->reason) : "",
		 g->is_breach ? " kind=" : "", g->is_breach ? (g->kind == 2 ? "CADENCE" : "DEADLINE") : "",
		 g->agg[0] ? " agg=" : "", g->agg, g->basis ? " basis=" : "", g->basis ? basis_name(g->basis) : "",
		 g->counted);
}

static bool ignored(const run *r, const char *oid)
{
	for (int i = 0; i < r->n_ignore; i++)
		if (!strncmp(oid, r->ignore[i], strlen(r->ignore[i])))
			return true;
	return false;
}

static bool date_matches(const char *v, cd_date d)
{
	cd_date x;
	if (!strcmp(v, "none"))
		return d == CD_DATE_NONE;
	return cd_date_parse(v, strlen(v), &x) == 0 && x == d;
}

/* Does output g satisfy expectation e (all its keys)? Explains the first mismatch. */
static bool matches(const run *r, const exp_line *e, const got *g, char *why, size_t len)
{
	char buf[sizeof(e->text)], *save = NULL, *tok;
	snprintf(buf, sizeof(buf), "%s", e->text);
	strtok_r(buf, " ", &save);   /* out */
	strtok_r(NULL, " ", &save);  /* STATUS */
	strtok_r(NULL, " ", &save);  /* OBLIGATION */
	if (e->is_breach != g->is_breach || e->status != g->status) {
		snprintf(why, len, "status");
		return false;
	}
	while ((tok = strtok_r(NULL, " ", &save))) {
		char *eq = strchr(tok, '=');
		const char *k = tok, *v;
		bool ok = true;
		if (!eq) {
			snprintf(why, len, "bad key '%s'", tok);
			return false;
		}
		*eq = '\0';
		v = eq + 1;
		if (!strcmp(k, "due"))
			ok = date_matches(v, g->due);
		else if (!strcmp(k, "ws"))
			ok = date_matches(v, g->ws);
		else if (!strcmp(k, "we"))
			ok = date_matches(v, g->we);
		else if (!strcmp(k, "req"))
			ok = atoi(v) == g->req;
		else if (!strcmp(k, "held"))
			ok = atoi(v) == g->held;
		else if (!strcmp(k, "reason"))
			ok = cd_cancel_reason_parse(v) == g->reason;
		else if (!strcmp(k, "kind"))
			ok = (!strcmp(v, "CADENCE") ? 2 : !strcmp(v, "DEADLINE") ? 1 : -1) == g->kind;
		else if (!strcmp(k, "sev"))
			ok = (!strcmp(v, "POLICY") ? 2 : !strcmp(v, "LEGAL") ? 1 : -1) == g->severity;
		else if (!strcmp(k, "counted"))
			ok = !strcmp(v, g->counted);
		else if (!strcmp(k, "citizen"))
			ok = !strcmp(v, g->citizen);
		else if (!strcmp(k, "agg"))
			ok = !strcmp(v, "none") ? !g->agg[0] : !strcmp(v, g->agg);
		else if (!strcmp(k, "basis"))
			ok = basis_parse(v) == g->basis;
		else if (!strcmp(k, "benefit"))
			ok = cd_benefit_parse(v) == g->benefit;
		else if (!strcmp(k, "at")) {
			cd_instant t;
			if (strlen(v) == 10) {
				cd_date d;
				ok = cd_date_parse(v, 10, &d) == 0 && cd_cph_date(g->at) == d;
			} else
				ok = parse_time(v, &t) == 0 && t == g->at;
		} else {
			snprintf(why, len, "unknown key '%s'", k);
			return false;
		}
		if (!ok) {
			snprintf(why, len, "%s", k);
			return false;
		}
	}
	(void)r;
	return true;
}

/* The citizen an expectation names with `citizen=`, or "" when it names none. */
static void exp_citizen(const exp_line *e, char *buf, size_t len)
{
	const char *k = strstr(e->text, " citizen=");
	size_t n = 0;
	buf[0] = '\0';
	if (!k)
		return;
	k += 9;
	while (k[n] && k[n] != ' ')
		n++;
	snprintf(buf, len, "%.*s", (int)n, k);
}

/*
 * When every expectation of an obligation names its citizen, the outputs are
 * compared citizen by citizen, in the order the expectations name them: the
 * order between citizens (an `until` advances them one after another) is not
 * part of what a scenario says.
 */
static void order_by_citizen(const run *r, const int *ei, int ne, int *gi, int ng)
{
	char want[MAX_EXP][64];
	int sorted[MAX_OUT], n = 0;
	for (int i = 0; i < ne; i++) {
		exp_citizen(&r->exp[ei[i]], want[i], sizeof(want[i]));
		if (!want[i][0])
			return;
	}
	for (int i = 0; i < ne; i++) {
		bool first = true;
		for (int j = 0; j < i; j++)
			first &= strcmp(want[j], want[i]) != 0;
		for (int k = 0; first && k < ng; k++)
			if (!strcmp(r->out[gi[k]].citizen, want[i]))
				sorted[n++] = gi[k];
	}
	for (int k = 0; k < ng; k++) {   /* citizens no expectation names, last */
		bool named = false;
		for (int i = 0; i < ne; i++)
			named |= !strcmp(r->out[gi[k]].citizen, want[i]);
		if (!named)
			sorted[n++] = gi[k];
	}
	memcpy(gi, sorted, (size_t)ng * sizeof(*gi));
}

/* Compares the outputs of one group with its expectations (order matters per obligation). */
static void check_group(run *r)
{
	char seen[MAX_EXP + MAX_OUT][112];
	int n_seen = 0;
	bool bad = false;

	if (r->reject_want[0] && !r->rejected) {
		failf(r, r->group_line, "expected the input to be rejected with '%s', but it was accepted",
		      r->reject_want);
		bad = true;
	} else if (r->rejected && !r->reject_want[0]) {
		failf(r, r->group_line, "input rejected: %s", r->reject_got);
		bad = true;
	} else if (r->rejected && !strstr(r->reject_got, r->reject_want)) {
		failf(r, r->group_line, "rejected with '%s', expected '%s'", r->reject_got, r->reject_want);
		bad = true;
	}
	for (int pass = 0; pass < 2; pass++) {
		int n = pass ? r->n_out : r->n_exp;
		for (int i = 0; i < n; i++) {
			const char *oid = pass ? r->out[i].oid : r->exp[i].oid;
			int dup = 0;
			for (int j = 0; j < n_seen; j++)
				dup |= !strcmp(seen[j], oid);
			if (!dup)
				snprintf(seen[n_seen++], sizeof(seen[0]), "%s", oid);
		}
	}
	for (int s = 0; s < n_seen; s++) {
		const char *oid = seen[s];
		int ei[MAX_EXP], gi[MAX_OUT], ne = 0, ng = 0;
		if (ignored(r, oid))
			continue;
		for (int i = 0; i < r->n_exp; i++)
			if (!strcmp(r->exp[i].oid, oid))
				ei[ne++] = i;
		for (int i = 0; i < r->n_out; i++)
			if (!strcmp(r->out[i].oid, oid))
				gi[ng++] = i;
		order_by_citizen(r, ei, ne, gi, ng);
		for (int i = 0; i < (ne > ng ? ne : ng); i++) {
			char why[128] = "", desc[700];
			if (i < ne && i < ng && matches(r, &r->exp[ei[i]], &r->out[gi[i]], why, sizeof(why)))
				continue;
			bad = true;
			if (i < ng)
				describe(&r->out[gi[i]], desc, sizeof(desc));
			if (i < ne && i < ng)
				failf(r, r->exp[ei[i]].lineno, "mismatch on '%s':\n    expected: %s\n    got:      %s",
				      why, r->exp[ei[i]].text, desc);
			else if (i < ne)
				failf(r, r->exp[ei[i]].lineno, "expected but not emitted: %s", r->exp[ei[i]].text);
			else
				failf(r, r->group_line, "emitted but not expected (after '%s'): %s", r->group, desc);
		}
	}
	if (bad) {
		fprintf(stderr, "    all outputs after '%s':\n", r->group);
		for (int i = 0; i < r->n_out; i++) {
			char desc[700];
			describe(&r->out[i], desc, sizeof(desc));
			fprintf(stderr, "      %s\n", desc);
		}
	}
	r->n_out = 0;
	r->n_exp = 0;
	r->reject_want[0] = '\0';
	r->rejected = 0;
}

/* ---- inputs ---------------------------------------------------------------- */

static Google__Protobuf__Timestamp *ts_new(cd_instant t)
{
	Google__Protobuf__Timestamp *ts = malloc(sizeof(*ts));
	int64_t s;
	int32_t ns;
	assert_non_null(ts);
	google__protobuf__timestamp__init(ts);
	cd_instant_to_ts(t, &s, &ns);
	ts->seconds = s;
	ts->nanos = ns;
	return ts;
}

static int enum_arg(const char *v, int (*parse)(const char *))
{
	int x = parse(v);
	return x < 0 ? 99 : x;   /* an unknown name becomes an unknown number: validation rejects it */
}

static void apply_event(run *r, int lineno, Contact__V1__CitizenEvent *m, int ci)
{
	cd_event ev;
	cd_codec_stage stage;
	cd_err err = { "", 0 };
	int rc;

	if (cd_codec_event_from_pb(m, &ev, &stage, &err) < 0) {
		r->rejected = 1;
		snprintf(r->reject_got, sizeof(r->reject_got), "%s", err.msg);
		return;
	}
	if (ci < 0) {   /* tick all */
		for (int i = 0; i < r->n_cit; i++)
			if (cd_engine_advance(r->eng, &r->cit[i].c, r->cit[i].id, cd_event_time(&ev), collect, r,
					      &err) < 0)
				failf(r, lineno, "advance failed: %s", err.msg);
		return;
	}
	rc = cd_engine_apply(r->eng, &r->cit[ci].c, r->cit[ci].id, &ev, collect, r, &err);
	if (rc < 0) {
		r->rejected = 1;
		snprintf(r->reject_got, sizeof(r->reject_got), "%s", err.msg);
	}
}

/* Round-trips the citizen record through its binary form, as a store would. */
static void store_roundtrip(run *r, int ci, int lineno)
{
	cd_buf b;
	cd_err err;
	cd_buf_init(&b, (size_t)1 << 26);
	assert_int_equal(cd_citizen_encode(&r->cit[ci].c, &b), 0);
	if (cd_citizen_decode(&r->cit[ci].c, (const uint8_t *)b.data, b.len, &err) < 0)
		failf(r, lineno, "citizen record does not decode: %s", err.msg);
	cd_buf_release(&b);
}

static void parse_in(run *r, int lineno, char *line)
{
	char *save = NULL, *tok, *kind;
	Contact__V1__CitizenEvent m;
	Contact__V1__Registration reg;
	Contact__V1__Deregistration dereg;
	Contact__V1__Conversation conv;
	Contact__V1__BenefitChange chg;
	Contact__V1__ClockTick tick;
	Contact__V1__Exemption ex;
	cd_instant occ, rec = CD_INSTANT_NONE;
	char muni[8] = "", *cid_override = NULL;
	bool all = false;
	int ci;

	contact__v1__citizen_event__init(&m);
	contact__v1__registration__init(&reg);
	contact__v1__deregistration__init(&dereg);
	contact__v1__conversation__init(&conv);
	contact__v1__benefit_change__init(&chg);
	contact__v1__clock_tick__init(&tick);
	contact__v1__exemption__init(&ex);

	strtok_r(line, " ", &save);                 /* in */
	m.event_id = strtok_r(NULL, " ", &save);
	tok = strtok_r(NULL, " ", &save);
	if (!m.event_id || !tok || parse_time(tok, &occ) < 0) {
		failf(r, lineno, "bad 'in' line");
		return;
	}
	while ((kind = strtok_r(NULL, " ", &save))) {
		if (!strncmp(kind, "rec=", 4)) {
			if (parse_time(kind + 4, &rec) < 0)
				failf(r, lineno, "bad rec=");
		} else if (!strncmp(kind, "muni=", 5))
			snprintf(muni, sizeof(muni), "%s", kind + 5);
		else if (!strncmp(kind, "citizen=", 8))
			cid_override = kind + 8;
		else
			break;
	}
	if (!kind) {
		failf(r, lineno, "no input kind");
		return;
	}
	ci = citizen_index(r, cid_override ? cid_override : r->cur_citizen);
	if (muni[0])
		snprintf(r->cit[ci].muni, sizeof(r->cit[ci].muni), "%s", muni);
	m.citizen_id = r->cit[ci].id;
	m.municipality_code = r->cit[ci].muni;
	m.occurred_at = ts_new(occ);
	if (rec != CD_INSTANT_NONE)
		m.recorded_at = ts_new(rec);

	if (!strcmp(kind, "reg") || !strcmp(kind, "change")) {
		bool is_reg = !strcmp(kind, "reg");
		while ((tok = strtok_r(NULL, " ", &save))) {
			char *eq = strchr(tok, '=');
			const char *v = eq ? eq + 1 : "";
			if (!eq && cd_benefit_parse(tok) >= 0) {
				if (is_reg)
					reg.benefit = (Contact__V1__Benefit)cd_benefit_parse(tok);
				else
					chg.to_benefit = (Contact__V1__Benefit)cd_benefit_parse(tok);
			} else if (!strncmp(tok, "cat=", 4)) {
				int c = enum_arg(v, cd_category_parse);
				if (is_reg)
					reg.category = (Contact__V1__Category)c;
				else
					chg.to_category = (Contact__V1__Category)c;
			} else if (!strncmp(tok, "first_contact=", 14))
				reg.first_contact_date = (char *)v;
			else if (!strncmp(tok, "first_absence=", 14)) {
				if (is_reg)
					reg.first_absence_date = (char *)v;
				else
					chg.first_absence_date = (char *)v;
			} else if (!strncmp(tok, "dp_start=", 9)) {
				if (is_reg)
					reg.dagpenge_period_start = (char *)v;
				else
					chg.dagpenge_period_start = (char *)v;
			} else if (!strncmp(tok, "prior=", 6))
				reg.prior_unemployment_days = atoi(v);
			else if (!strcmp(tok, "optout")) {
				reg.akasse_opt_out = 1;
				chg.akasse_opt_out = 1;
			} else if (!strcmp(tok, "seasonal"))
				reg.seasonal = 1;
			else if (!strncmp(tok, "akasse=", 7)) {
				reg.akasse_code = (char *)v;
				chg.akasse_code = (char *)v;
			} else if (!strcmp(tok, "course")) {
				reg.municipal_contact_course = 1;
				chg.municipal_contact_course = 1;
			} else if (!strcmp(tok, "sick_short")) {
				reg.sick_short_absence_expected = 1;
				chg.sick_short_absence_expected = 1;
			}
			else if (is_reg && !eq)
				reg.benefit = (Contact__V1__Benefit)99;   /* unknown benefit name */
			else
				failf(r, lineno, "unknown argument '%s'", tok);
		}
		if (is_reg) {
			m.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION;
			m.registration = &reg;
		} else {
			m.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_BENEFIT_CHANGE;
			m.benefit_change = &chg;
		}
	} else if (!strcmp(kind, "dereg")) {
		while ((tok = strtok_r(NULL, " ", &save))) {
			if (!strncmp(tok, "reason=", 7)) {
				const char *v = tok + 7;
				dereg.reason = (Contact__V1__DeregistrationReason)(!strcmp(v, "JOB") ? 1
						 : !strcmp(v, "EDUCATION") ? 2 : !strcmp(v, "OTHER") ? 3 : 99);
			} else if (!strcmp(tok, "ends"))
				dereg.ends_dagpenge_period = 1;
			else
				failf(r, lineno, "unknown argument '%s'", tok);
		}
		m.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_DEREGISTRATION;
		m.deregistration = &dereg;
	} else if (!strcmp(kind, "conv") || !strcmp(kind, "void")) {
		tok = strtok_r(NULL, " ", &save);
		/* "" (or -) writes an empty conversation id */
		conv.conversation_id = (char *)(tok && strcmp(tok, "-") && strcmp(tok, "\"\"") ? tok : "");
		if (!strcmp(kind, "void"))
			conv.voided = 1;
		else {
			const char *h = strtok_r(NULL, " ", &save), *f = strtok_r(NULL, " ", &save);
			conv.held_by = (Contact__V1__HeldBy)(h ? enum_arg(h, cd_held_by_parse) : 0);
			conv.form = (Contact__V1__ConversationForm)(f ? enum_arg(f, cd_form_parse) : 0);
			while ((tok = strtok_r(NULL, " ", &save))) {
				if (!strcmp(tok, "joint"))
					conv.akasse_participated = 1;
				else
					failf(r, lineno, "unknown argument '%s'", tok);
			}
		}
		m.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION;
		m.conversation = &conv;
	} else if (!strcmp(kind, "exempt")) {
		/* "-" (or no word) writes UNSPECIFIED, an unknown word an unknown number (for reject tests) */
		tok = strtok_r(NULL, " ", &save);
		ex.scope = (Contact__V1__ExemptionScope)(tok && strcmp(tok, "-") ? enum_arg(tok, cd_scope_parse) : 0);
		while ((tok = strtok_r(NULL, " ", &save))) {
			if (!strcmp(tok, "revoked"))
				ex.revoked = 1;
			else
				failf(r, lineno, "unknown argument '%s'", tok);
		}
		m.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_EXEMPTION;
		m.exemption = &ex;
	} else if (!strcmp(kind, "tick")) {
		tok = strtok_r(NULL, " ", &save);
		all = tok && !strcmp(tok, "all");
		if (all)
			m.citizen_id = (char *)"";
		m.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CLOCK_TICK;
		m.clock_tick = &tick;
	} else
		failf(r, lineno, "unknown input kind '%s'", kind);

	if (r->export) {
		/* the same input, with ids prefixed so that the logs of all files can be mixed */
		char cid[160], eid[160];
		char *keep_c = m.citizen_id, *keep_e = m.event_id;
		cd_buf b;
		cd_err e2;
		snprintf(cid, sizeof(cid), "%s%s", all ? "" : r->prefix, m.citizen_id);
		snprintf(eid, sizeof(eid), "%s%s", r->prefix, m.event_id);
		m.citizen_id = cid;
		m.event_id = eid;
		cd_buf_init(&b, 1 << 20);
		if (pbjson_encode(&m.base, &b, &e2) == 0)
			fprintf(r->export, "%s\n", b.data);
		cd_buf_release(&b);
		m.citizen_id = keep_c;
		m.event_id = keep_e;
	}
	apply_event(r, lineno, &m, all ? -1 : ci);
	if (!all)
		store_roundtrip(r, ci, lineno);
	free(m.occurred_at);
	free(m.recorded_at);
}

static void setup_engine(run *r, int lineno)
{
	cd_err err;
	const char *dir = getenv("CD_RULES") ? getenv("CD_RULES") : "rules";
	if (r->eng)
		return;
	if (cd_rules_load(dir, NULL, &r->rules, &err) < 0) {
		failf(r, lineno, "rules: %s", err.msg);
		fail();
	}
	if (strcmp(r->overlays, "default") && cd_rules_set_overlays(r->rules, r->overlays, &err) < 0) {
		failf(r, lineno, "overlays: %s", err.msg);
		fail();
	}
	r->eng = cd_engine_new(r->rules, &r->cfg);
	assert_non_null(r->eng);
}

static void until_all(run *r, int lineno, const char *arg)
{
	cd_instant t;
	cd_err err;
	if (!arg || parse_time(arg, &t) < 0) {
		failf(r, lineno, "bad until");
		return;
	}
	if (r->export) {
		char ts[CD_INSTANT_STRLEN];
		cd_instant_format_rfc3339(t, ts);
		fprintf(r->export, "{\"eventId\":\"%suntil-%d\",\"occurredAt\":\"%s\",\"clockTick\":{}}\n",
			r->prefix, lineno, ts);
	}
	for (int i = 0; i < r->n_cit; i++)
		if (cd_engine_advance(r->eng, &r->cit[i].c, r->cit[i].id, t, collect, r, &err) < 0)
			failf(r, lineno, "advance failed: %s", err.msg);
}

static void run_file(void **state)
{
	const char *path = *state;
	FILE *f = fopen(path, "r");
	run *r = calloc(1, sizeof(*r));
	char line[600];
	int lineno = 0;
	bool any = false;

	assert_non_null(f);
	assert_non_null(r);
	r->file = path;
	if (getenv("CD_SCENARIO_EXPORT")) {
		const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		char out[4096];
		snprintf(r->prefix, sizeof(r->prefix), "%.3s.", base);
		snprintf(out, sizeof(out), "%s/%.3s.jsonl", getenv("CD_SCENARIO_EXPORT"), base);
		r->export = fopen(out, "w");
		assert_non_null(r->export);
	}
	cd_engine_config_default(&r->cfg);
	r->cfg.warn_lead_days = 0;
	snprintf(r->overlays, sizeof(r->overlays), "none");
	snprintf(r->cur_citizen, sizeof(r->cur_citizen), "p1");

	while (fgets(line, sizeof(line), f)) {
		char *p = line, *nl = strchr(line, '\n'), work[600], *save = NULL, *w;
		lineno++;
		if (nl)
			*nl = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '#')
			continue;
		snprintf(work, sizeof(work), "%s", p);
		w = strtok_r(work, " ", &save);
		if (!strcmp(w, "config")) {
			while ((w = strtok_r(NULL, " ", &save))) {
				if (!strncmp(w, "grace=", 6))
					r->cfg.grace_days = atoi(w + 6);
				else if (!strncmp(w, "warn=", 5))
					r->cfg.warn_lead_days = atoi(w + 5);
				else if (!strncmp(w, "overlays=", 9))
					snprintf(r->overlays, sizeof(r->overlays), "%s", w + 9);
				else if (!strncmp(w, "max_events=", 11))
					r->cfg.max_events = (size_t)atoi(w + 11);
				else if (!strcmp(w, "law_transition=period-start"))
					r->cfg.law_transition = CD_LAW_PERIOD_START;
				else if (!strcmp(w, "law_transition=commencement"))
					r->cfg.law_transition = CD_LAW_COMMENCEMENT;
				else
					failf(r, lineno, "unknown config '%s'", w);
			}
		} else if (!strcmp(w, "citizen")) {
			w = strtok_r(NULL, " ", &save);
			snprintf(r->cur_citizen, sizeof(r->cur_citizen), "%s", w ? w : "p1");
		} else if (!strcmp(w, "ignore")) {
			w = strtok_r(NULL, " ", &save);
			if (w && r->n_ignore < MAX_IGNORE)
				snprintf(r->ignore[r->n_ignore++], sizeof(r->ignore[0]), "%s", w);
		} else if (!strcmp(w, "out")) {
			exp_line *e = &r->exp[r->n_exp];
			const char *st = strtok_r(NULL, " ", &save), *oid = strtok_r(NULL, " ", &save);
			if (!any || !st || !oid || r->n_exp >= MAX_EXP) {
				failf(r, lineno, "bad 'out' line (or before any input)");
				continue;
			}
			snprintf(e->text, sizeof(e->text), "%s", p);
			e->lineno = lineno;
			e->status = cd_output_status_parse(st, &e->is_breach);
			if (e->status < 0)
				failf(r, lineno, "unknown status '%s'", st);
			snprintf(e->oid, sizeof(e->oid), "%s", oid);
			r->n_exp++;
		} else if (!strcmp(w, "reject")) {
			snprintf(r->reject_want, sizeof(r->reject_want), "%s", p + 7);
		} else if (!strcmp(w, "in") || !strcmp(w, "until")) {
			setup_engine(r, lineno);
			if (any)
				check_group(r);
			any = true;
			snprintf(r->group, sizeof(r->group), "%s", p);
			r->group_line = lineno;
			if (!strcmp(w, "in"))
				parse_in(r, lineno, p);
			else
				until_all(r, lineno, strtok_r(NULL, " ", &save));
		} else
			failf(r, lineno, "unknown line '%s'", w);
	}
	if (any)
		check_group(r);
	else
		failf(r, lineno, "no inputs");
	fclose(f);
	if (r->export) {
		char out[4096];
		FILE *ff;
		fclose(r->export);
		snprintf(out, sizeof(out), "%s/%.3s.flags", getenv("CD_SCENARIO_EXPORT"), r->prefix);
		ff = fopen(out, "w");
		assert_non_null(ff);
		/* --law-transition only when not the default, so the flags of older files stay as they were */
		/* overlays=default: no --overlays, so the shipped configuration applies */
		fprintf(ff, "--grace %d --warn-days %d --max-events %zu%s%s%s\n", r->cfg.grace_days,
			r->cfg.warn_lead_days, r->cfg.max_events,
			r->cfg.law_transition == CD_LAW_COMMENCEMENT ? " --law-transition commencement" : "",
			strcmp(r->overlays, "default") ? " --overlays " : "",
			strcmp(r->overlays, "default") ? r->overlays : "");
		fclose(ff);
	}
	for (int i = 0; i < r->n_cit; i++)
		cd_citizen_release(&r->cit[i].c);
	cd_engine_free(r->eng);
	cd_rules_free(r->rules);
	free(r->ids);
	{
		int failures = r->failures;
		free(r);
		if (failures > 0)
			fail_msg("%s: %d mismatch(es), see above", path, failures);
	}
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct CMUnitTest *)a)->name, ((const struct CMUnitTest *)b)->name);
}

int main(void)
{
	const char *dir = getenv("CD_SCENARIOS") ? getenv("CD_SCENARIOS") : "tests/scenarios";
	const char *only = getenv("CD_SCENARIO");
	DIR *d = opendir(dir);
	struct dirent *de;
	struct CMUnitTest *tests = NULL;
	size_t n = 0;
	int rc;

	if (!d) {
		fprintf(stderr, "cannot open scenario directory '%s'\n", dir);
		return 1;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char *path;
		if (len < 5 || strcmp(de->d_name + len - 4, ".scn") || (only && !strstr(de->d_name, only)))
			continue;
		tests = realloc(tests, (n + 1) * sizeof(*tests));
		path = malloc(strlen(dir) + len + 2);
		if (!tests || !path)
			return 1;
		sprintf(path, "%s/%s", dir, de->d_name);
		memset(&tests[n], 0, sizeof(tests[n]));
		tests[n].name = path;
		tests[n].test_func = run_file;
		tests[n].initial_state = path;
		n++;
	}
	closedir(d);
	if (n == 0) {
		fprintf(stderr, "no scenario files in '%s'\n", dir);
		return 1;
	}
	qsort(tests, n, sizeof(*tests), by_name);
	rc = _cmocka_run_group_tests("scenarios", tests, n, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		free((void *)tests[i].name);
	free(tests);
	return rc;
}
