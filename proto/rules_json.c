/*
 * rules_json.c — reading rulesets from their JSON files, strictly.
 *
 * Rulesets are data (one JSON file each under rules/), parsed with jansson
 * into the model of state/rules.h. The loader is strict on purpose: an
 * unknown key, a misspelt enum name or a bound that does not parse fails
 * start-up, because a silently ignored typo in a legal rule is a wrong
 * deadline for thousands of people. Errors name the file, a line and the
 * field. jansson keeps no positions for values, so the line is found by
 * searching the file text for the field's key after the obligation's name:
 * good enough to put an editor on the right spot, and syntax errors carry
 * jansson's exact line and column.
 */
#include "proto/rules_json.h"

#include <dirent.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state/event.h"
#include "util/sb.h"

/* ---- loader context and errors ------------------------------------------ */

typedef struct loader {
	const char *file;
	char *text;            /* the file's text, for finding lines */
	const char *anchor;    /* current obligation's name, to search from */
	char where[160];       /* "obligations[2] 'four-in-six': " */
	cd_err *err;
} loader;

static int find_line(const loader *ld, const char *key)
{
	char pat[96];
	const char *from = ld->text, *hit;
	int line = 1;

	if (!ld->text)
		return 0;
	if (ld->anchor) {
		/* The anchor is a name: prefer the place where it is the value of "name" or
		 * "overlay", not a mention elsewhere (e.g. in an overlay's "replaces"). */
		const char *first = NULL;
		snprintf(pat, sizeof(pat), "\"%s\"", ld->anchor);
		for (hit = strstr(ld->text, pat); hit; hit = strstr(hit + 1, pat)) {
			const char *q = hit;
			if (!first)
				first = hit;
			while (q > ld->text && (q[-1] == ' ' || q[-1] == '\t' || q[-1] == '\n' || q[-1] == '\r'))
				q--;
			if (q > ld->text && q[-1] == ':') {
				q--;
				while (q > ld->text && (q[-1] == ' ' || q[-1] == '\t'))
					q--;
				if ((q - ld->text >= 6 && !strncmp(q - 6, "\"name\"", 6)) ||
				    (q - ld->text >= 9 && !strncmp(q - 9, "\"overlay\"", 9))) {
					first = hit;
					break;
				}
			}
		}
		if (first)
			from = first;
	}
	if (key) {
		snprintf(pat, sizeof(pat), "\"%s\"", key);
		hit = strstr(from, pat);
		if (hit)
			from = hit;
	}
	for (const char *p = ld->text; p < from; p++)
		if (*p == '\n')
			line++;
	return line;
}

/* Fails the load: "<file>:<line>: <where>field '<field>': <message>". */
static int fail(loader *ld, const char *field, const char *fmt, ...) CD_PRINTF(3, 4);
static int fail(loader *ld, const char *field, const char *fmt, ...)
{
	char msg[256];
	const char *key = field ? strrchr(field, '.') : NULL;
	va_list ap;
	int line;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	key = key ? key + 1 : field;
	line = find_line(ld, key);
	if (field)
		return cd_err_set(ld->err, 0, "%s:%d: %sfield '%s': %s", ld->file, line, ld->where, field, msg);
	return cd_err_set(ld->err, 0, "%s:%d: %s%s", ld->file, line, ld->where, msg);
}

/* Rejects keys outside `allowed` (a NULL-terminated list). */
static int check_keys(loader *ld, json_t *obj, const char *prefix, const char *const *allowed)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v) {
		int ok = 0;
		for (const char *const *a = allowed; *a; a++)
			if (!strcmp(*a, key))
				ok = 1;
		if (!ok) {
			char f[96];
			snprintf(f, sizeof(f), "%s%s", prefix, key);
			return fail(ld, f, "unknown field");
		}
	}
	return 0;
}

static int get_string(loader *ld, json_t *obj, const char *key, const char **out, int required)
{
	json_t *v = json_object_get(obj, key);
	if (!v) {
		if (required)
			return fail(ld, key, "is required");
		return 0;
	}
	if (!json_is_string(v))
		return fail(ld, key, "expected a string");
	*out = json_string_value(v);
	return 0;
}

static int get_int(loader *ld, json_t *obj, const char *key, int *out, int lo, int hi)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return fail(ld, key, "expected an integer");
	if (json_integer_value(v) < lo || json_integer_value(v) > hi)
		return fail(ld, key, "%lld is outside %d … %d", (long long)json_integer_value(v), lo, hi);
	*out = (int)json_integer_value(v);
	return 0;
}

static int get_bool(loader *ld, json_t *obj, const char *key, bool *out)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return fail(ld, key, "expected true or false");
	*out = json_is_true(v);
	return 0;
}

static int get_date(loader *ld, json_t *obj, const char *key, const char *field, cd_date *out)
{
	const char *s = NULL;
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_string(v))
		return fail(ld, field, "expected a date YYYY-MM-DD");
	s = json_string_value(v);
	if (cd_date_parse(s, strlen(s), out) < 0)
		return fail(ld, field, "'%s' is not a date YYYY-MM-DD", s);
	return 0;
}

/* Parses "6m", "8w", "42d", "1w after". */
static int parse_span(const char *s, cd_span *out)
{
	char *end;
	long n = strtol(s, &end, 10);
	if (end == s || n <= 0 || n > 1000)
		return -1;
	if (*end != 'd' && *end != 'w' && *end != 'm')
		return -1;
	out->n = (int16_t)n;
	out->unit = *end++;
	out->after = false;
	if (!strcmp(end, " after") && out->unit != 'm')
		out->after = true;
	else if (*end)
		return -1;
	return 0;
}

static int get_span(loader *ld, json_t *obj, const char *key, const char *field, cd_span *out)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_string(v))
		return fail(ld, field, "expected a length such as \"6m\", \"8w\", \"42d\" or \"1w after\"");
	if (parse_span(json_string_value(v), out) < 0)
		return fail(ld, field, "bad length '%s' (expected e.g. \"6m\", \"8w\", \"42d\" or \"1w after\")",
			    json_string_value(v));
	return 0;
}

typedef int (*name_parser)(const char *);

/* An array of enum names into a bit mask; "all" (a string) sets every bit 1..max. */
static int get_mask(loader *ld, json_t *obj, const char *key, name_parser parse, int max,
		    uint32_t *out, const char *what)
{
	json_t *v = json_object_get(obj, key), *e;
	size_t i;
	uint32_t m = 0;
	if (!v)
		return 0;
	if (json_is_string(v) && !strcmp(json_string_value(v), "all")) {
		for (int b = 1; b <= max; b++)
			m |= CD_BIT(b);
		*out = m;
		return 0;
	}
	if (!json_is_array(v))
		return fail(ld, key, "expected an array of %s names or \"all\"", what);
	json_array_foreach(v, i, e) {
		int b = json_is_string(e) ? parse(json_string_value(e)) : -1;
		if (b < 1)
			return fail(ld, key, "unknown %s '%s'", what,
				    json_is_string(e) ? json_string_value(e) : "(not a string)");
		m |= CD_BIT(b);
	}
	*out = m;
	return 0;
}

static int parse_severity(const char *s)
{
	if (!strcmp(s, "LEGAL"))
		return CD_SEV_LEGAL;
	if (!strcmp(s, "POLICY"))
		return CD_SEV_POLICY;
	return -1;
}

static int valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= 40)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/* "FIRST_WITHIN, COUNT_IN_WINDOW, …": every obligation kind, for messages. */
static const char *kind_names(char *buf, size_t len)
{
	cd_sb b = cd_sb_on(buf, len);
	for (int k = 1; k <= CD_OB_KIND_MAX; k++) {
		if (k > 1)
			cd_sb_puts(&b, ", ");
		cd_sb_puts(&b, cd_ob_kind_name(k));
	}
	return buf;
}

/* A three- or four-digit municipality code. */
static bool muni_code(const char *m)
{
	size_t n = strlen(m);
	return n >= 3 && n <= CD_MUNI_LEN && strspn(m, "0123456789") == n;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");
	if (!p)
		abort(); /* start-up only; out of memory here is not recoverable */
	return p;
}

/* ---- obligations ---------------------------------------------------------- */

static const char *const ob_keys[] = {
	"name", "kind", "severity", "mark", "legal_ref", "description", "benefits", "categories",
	"registration_only", "clock", "anchor", "window", "required", "held_by", "forms", "joint",
	"first_must_be", "repeat_months", "slots", "every", "tolerance_days", "joint_slots", "gap",
	"start", "ordinals", "mirror", "basis", "member_of", "when", NULL
};

/* Period flags an obligation can be conditional on ("when"), as the inputs name them. */
static const struct { const char *key; uint8_t flag; } period_flags[] = {
	{ "municipal_contact_course", CD_PF_COURSE },
	{ "sick_short_absence_expected", CD_PF_SICK_SHORT },
};

#define DEFAULT_FORMS (CD_BIT(CD_IN_PERSON) | CD_BIT(CD_PHONE) | CD_BIT(CD_VIDEO) | CD_BIT(CD_DIGITAL))
#define DEFAULT_HELD (CD_BIT(CD_JOBCENTER) | CD_BIT(CD_OTHER_ACTOR))

static int load_obligation(loader *ld, const cd_ruleset *rs, int default_sev, json_t *o, cd_obdef *d,
			   size_t idx)
{
	const char *s = NULL, *field;
	uint32_t m;
	json_t *w, *v, *e;
	size_t i;
	int k;

	if (!json_is_object(o))
		return fail(ld, NULL, "expected an object");
	if (check_keys(ld, o, "", ob_keys) < 0)
		return -1;
	if (get_string(ld, o, "name", &s, 1) < 0)
		return -1;
	if (!valid_name(s))
		return fail(ld, "name", "'%s' is not a lowercase name (a-z, 0-9, -)", s);
	snprintf(d->name, sizeof(d->name), "%s", s);
	snprintf(d->id, sizeof(d->id), "%s/%s", rs->id, s);
	ld->anchor = d->name;
	snprintf(ld->where, sizeof(ld->where), "obligations[%zu] '%s': ", idx, d->name);

	d->severity = (uint8_t)default_sev;
	d->mark = 'I';
	d->filter.forms = DEFAULT_FORMS;
	d->filter.held_by = DEFAULT_HELD;
	d->required = 1;

	s = NULL;
	if (get_string(ld, o, "mirror", &s, 0) < 0)
		return -1;
	if (s) {
		if (!valid_name(s))
			return fail(ld, "mirror", "'%s' is not an obligation name", s);
		snprintf(d->mirror, sizeof(d->mirror), "%s", s);
	}

	s = NULL;
	if (get_string(ld, o, "kind", &s, !d->mirror[0]) < 0)
		return -1;
	if (s) {
		k = cd_ob_kind_parse(s);
		if (k < 0) {
			char known[160];
			return fail(ld, "kind", "unknown kind '%s' (%s)", s, kind_names(known, sizeof(known)));
		}
		d->kind = (cd_ob_kind)k;
	}
	s = NULL;
	if (get_string(ld, o, "severity", &s, 0) < 0)
		return -1;
	if (s) {
		k = parse_severity(s);
		if (k < 0)
			return fail(ld, "severity", "unknown severity '%s' (LEGAL, POLICY)", s);
		d->severity = (uint8_t)k;
	}
	s = NULL;
	if (get_string(ld, o, "mark", &s, 0) < 0)
		return -1;
	if (s) {
		if (strcmp(s, "V") && strcmp(s, "S") && strcmp(s, "I"))
			return fail(ld, "mark", "'%s' is not V, S or I", s);
		d->mark = s[0];
	}
	s = NULL;
	if (get_string(ld, o, "legal_ref", &s, 0) < 0)
		return -1;
	d->legal_ref = xstrdup(s);
	s = NULL;
	if (get_string(ld, o, "description", &s, 0) < 0)
		return -1;
	d->description = xstrdup(s);

	m = 0;
	if (get_mask(ld, o, "benefits", cd_benefit_parse, CD_BENEFIT_MAX, &m, "benefit") < 0)
		return -1;
	d->benefits = (uint16_t)m;
	m = 0;
	if (get_mask(ld, o, "categories", cd_category_parse, CD_CATEGORY_MAX, &m, "category") < 0)
		return -1;
	d->categories = (uint8_t)m;
	m = d->filter.held_by;
	if (get_mask(ld, o, "held_by", cd_held_by_parse, CD_HELD_MAX, &m, "held-by") < 0)
		return -1;
	d->filter.held_by = (uint8_t)m;
	m = d->filter.forms;
	if (get_mask(ld, o, "forms", cd_form_parse, CD_FORM_MAX, &m, "form") < 0)
		return -1;
	d->filter.forms = (uint8_t)m;
	if (get_bool(ld, o, "registration_only", &d->registration_only) < 0)
		return -1;

	s = NULL;
	if (get_string(ld, o, "clock", &s, 0) < 0)
		return -1;
	if (s) {
		if (!strcmp(s, "benefit"))
			d->clock = CD_CLOCK_BENEFIT;
		else if (!strcmp(s, "calendar"))
			d->clock = CD_CLOCK_CALENDAR;
		else if (!strcmp(s, "cumulative"))
			d->clock = CD_CLOCK_CUMULATIVE;
		else
			return fail(ld, "clock", "'%s' is not benefit, calendar or cumulative", s);
	}
	s = NULL;
	if (get_string(ld, o, "anchor", &s, 0) < 0)
		return -1;
	if (s) {
		if (!strcmp(s, "first_contact"))
			d->anchor = CD_ANCHOR_FIRST_CONTACT;
		else if (!strcmp(s, "start_input"))
			d->anchor = CD_ANCHOR_START_INPUT;
		else if (strcmp(s, "period_start"))
			return fail(ld, "anchor", "'%s' is not period_start, first_contact or start_input", s);
	}
	s = NULL;
	if (get_string(ld, o, "basis", &s, 0) < 0)
		return -1;
	if (s) {
		k = cd_basis_parse(s);
		if (k < 0)
			return fail(ld, "basis", "'%s' is not LAW, GUIDANCE, CARRIED_OVER or INTERPRETATION", s);
		d->basis = (uint8_t)k;
	}
	s = NULL;
	if (get_string(ld, o, "member_of", &s, 0) < 0)
		return -1;
	if (s) {
		/* A bare name is an aggregate of this ruleset; checked once the aggregates are read. */
		if (strchr(s, '/'))
			snprintf(d->aggregate, sizeof(d->aggregate), "%s", s);
		else
			snprintf(d->aggregate, sizeof(d->aggregate), "%s/%s", rs->id, s);
	}
	v = json_object_get(o, "when");
	if (v) {
		const char *key;
		if (!json_is_object(v))
			return fail(ld, "when", "expected an object of period flags, e.g. {\"municipal_contact_course\": true}");
		json_object_foreach(v, key, e) {
			size_t f = 0;
			while (f < sizeof(period_flags) / sizeof(period_flags[0]) && strcmp(period_flags[f].key, key))
				f++;
			if (f == sizeof(period_flags) / sizeof(period_flags[0]))
				return fail(ld, "when", "unknown period flag '%s' (municipal_contact_course, "
					    "sick_short_absence_expected)", key);
			if (!json_is_boolean(e))
				return fail(ld, "when", "'%s' must be true or false", key);
			if (json_is_true(e))
				d->flags_set |= period_flags[f].flag;
			else
				d->flags_clear |= period_flags[f].flag;
		}
	}

	w = json_object_get(o, "window");
	if (w) {
		static const char *const wkeys[] = { "from", "to", NULL };
		if (!json_is_object(w))
			return fail(ld, "window", "expected an object {\"from\": …, \"to\": …}");
		if (check_keys(ld, w, "window.", wkeys) < 0)
			return -1;
		if (get_span(ld, w, "from", "window.from", &d->from) < 0 ||
		    get_span(ld, w, "to", "window.to", &d->to) < 0)
			return -1;
	}
	if (get_int(ld, o, "required", &d->required, 1, CD_MAX_REQUIRED) < 0)
		return -1;
	d->joint = cd_ob_kind_joint(d->kind);
	if (get_bool(ld, o, "joint", &d->joint) < 0)
		return -1;

	v = json_object_get(o, "first_must_be");
	if (v) {
		static const char *const fkeys[] = { "forms", NULL };
		if (d->kind != CD_FIRST_WITHIN || !json_is_object(v))
			return fail(ld, "first_must_be", "expected an object {\"forms\": […]} on a FIRST_WITHIN");
		if (check_keys(ld, v, "first_must_be.", fkeys) < 0)
			return -1;
		m = 0;
		if (get_mask(ld, v, "forms", cd_form_parse, CD_FORM_MAX, &m, "form") < 0)
			return -1;
		d->first_must_forms = (uint8_t)m;
	}
	if (get_int(ld, o, "repeat_months", &d->repeat_months, 1, 120) < 0)
		return -1;
	if (get_int(ld, o, "slots", &d->slots, 1, CD_MAX_SLOTS) < 0)
		return -1;
	if (get_span(ld, o, "every", "every", &d->every) < 0)
		return -1;
	v = json_object_get(o, "tolerance_days");
	if (v) {
		if (!json_is_array(v) || (int)json_array_size(v) != d->slots)
			return fail(ld, "tolerance_days", "expected an array of %d integers, one per slot", d->slots);
		json_array_foreach(v, i, e) {
			if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > 365)
				return fail(ld, "tolerance_days", "expected integers 0 … 365");
			d->tolerance[i] = (int16_t)json_integer_value(e);
		}
	}
	v = json_object_get(o, "joint_slots");
	if (v) {
		if (!json_is_array(v))
			return fail(ld, "joint_slots", "expected an array of slot numbers");
		json_array_foreach(v, i, e) {
			if (!json_is_integer(e) || json_integer_value(e) < 1 || json_integer_value(e) > d->slots)
				return fail(ld, "joint_slots", "expected slot numbers 1 … %d", d->slots);
			d->joint_slots |= (uint16_t)CD_BIT(json_integer_value(e) - 1);
		}
	}
	if (get_span(ld, o, "gap", "gap", &d->gap) < 0)
		return -1;
	v = json_object_get(o, "start");
	if (v) {
		static const char *const skeys[] = { "after_window", "after_met", NULL };
		if (!json_is_object(v) || json_object_size(v) != 1)
			return fail(ld, "start", "expected {\"after_window\": \"6m\"} or {\"after_met\": \"name\"}");
		if (check_keys(ld, v, "start.", skeys) < 0)
			return -1;
		if (json_object_get(v, "after_window")) {
			d->gap_start = CD_GAP_AFTER_WINDOW;
			if (get_span(ld, v, "after_window", "start.after_window", &d->start_after) < 0)
				return -1;
		} else {
			s = NULL;
			if (get_string(ld, v, "after_met", &s, 1) < 0)
				return -1;
			d->gap_start = CD_GAP_AFTER_MET;
			snprintf(d->start_ref, sizeof(d->start_ref), "%s", s);
		}
	}
	v = json_object_get(o, "ordinals");
	if (v) {
		if (!json_is_array(v) || json_array_size(v) == 0)
			return fail(ld, "ordinals", "expected a non-empty array of ordinals");
		json_array_foreach(v, i, e) {
			if (!json_is_integer(e) || json_integer_value(e) < 1 || json_integer_value(e) > 15)
				return fail(ld, "ordinals", "expected ordinals 1 … 15");
			d->ordinals |= (uint16_t)CD_BIT(json_integer_value(e));
		}
	}

	/* What its kind needs. */
	if (d->mirror[0])
		return 0;
	s = cd_ob_kind_check(d, &field);
	if (s)
		return fail(ld, field, "%s", s);
	return 0;
}

/* ---- ruleset files -------------------------------------------------------- */

static const char *const rs_keys[] = {
	"id", "version", "kind", "title", "effective", "severity", "joint_in_addition", "benefits",
	"seasonal", "replaces", "widen_forms", "obligations", "comment", "aggregates", "default_category",
	"transition", "no_obligations", "lifts_kinds", "national_members", "allowed_municipalities", NULL
};

static const char *const agg_keys[] = {
	"name", "kind", "share", "required", "key", "exemption_scope", "reporting_period", "severity",
	"basis", "legal_ref", "description", NULL
};

/* One aggregate obligation (rules.md §4.1). */
static int load_aggregate(loader *ld, const cd_ruleset *rs, int default_sev, json_t *o, cd_aggdef *a)
{
	const char *s = NULL;
	int k;

	if (!json_is_object(o))
		return fail(ld, NULL, "expected an object");
	if (check_keys(ld, o, "", agg_keys) < 0 || get_string(ld, o, "name", &s, 1) < 0)
		return -1;
	if (!valid_name(s))
		return fail(ld, "name", "'%s' is not a lowercase name (a-z, 0-9, -)", s);
	snprintf(a->name, sizeof(a->name), "%s", s);
	snprintf(a->id, sizeof(a->id), "%s/%s", rs->id, s);
	ld->anchor = a->name;
	a->severity = (uint8_t)default_sev;
	if (get_string(ld, o, "kind", &s, 1) < 0)
		return -1;
	if (!strcmp(s, "SHARE"))
		a->kind = CD_AGG_SHARE;
	else if (!strcmp(s, "AVERAGE"))
		a->kind = CD_AGG_AVERAGE;
	else
		return fail(ld, "kind", "'%s' is not SHARE or AVERAGE", s);
	if (json_object_get(o, a->kind == CD_AGG_SHARE ? "required" : "share"))
		return fail(ld, a->kind == CD_AGG_SHARE ? "required" : "share", "is for %s aggregates only",
			    a->kind == CD_AGG_SHARE ? "AVERAGE" : "SHARE");
	if (a->kind == CD_AGG_SHARE) {
		if (get_int(ld, o, "share", &a->share_pct, 1, 100) < 0)
			return -1;
		if (!a->share_pct)
			return fail(ld, "share", "is required for a SHARE (per cent, e.g. 75)");
	} else if (get_int(ld, o, "required", &a->required, 1, CD_MAX_REQUIRED) < 0) {
		/* Optional: without it every member owes its own count, and a cohort their sum (D21). */
		return -1;
	}
	if (get_string(ld, o, "key", &s, 1) < 0)
		return -1;
	if (!strcmp(s, "MUNICIPALITY"))
		a->key = CD_AGG_KEY_MUNICIPALITY;
	else if (!strcmp(s, "AKASSE"))
		a->key = CD_AGG_KEY_AKASSE;
	else
		return fail(ld, "key", "'%s' is not MUNICIPALITY or AKASSE", s);
	s = NULL;
	if (get_string(ld, o, "exemption_scope", &s, 0) < 0)
		return -1;
	if (s && (k = cd_scope_parse(s)) < 1)
		return fail(ld, "exemption_scope", "'%s' is not KOMMUNE or AKASSE", s);
	a->scope = s ? (uint8_t)k : 0;
	s = NULL;
	if (get_string(ld, o, "reporting_period", &s, 0) < 0)
		return -1;
	a->period = 'q';
	if (s) {
		if (!strcmp(s, "quarter"))
			a->period = 'q';
		else if (!strcmp(s, "month"))
			a->period = 'm';
		else if (!strcmp(s, "year"))
			a->period = 'y';
		else
			return fail(ld, "reporting_period", "'%s' is not quarter, month or year", s);
	}
	s = NULL;
	if (get_string(ld, o, "severity", &s, 0) < 0)
		return -1;
	if (s) {
		if ((k = parse_severity(s)) < 0)
			return fail(ld, "severity", "unknown severity '%s' (LEGAL, POLICY)", s);
		a->severity = (uint8_t)k;
	}
	s = NULL;
	if (get_string(ld, o, "basis", &s, 0) < 0)
		return -1;
	if (s) {
		if ((k = cd_basis_parse(s)) < 0)
			return fail(ld, "basis", "'%s' is not LAW, GUIDANCE, CARRIED_OVER or INTERPRETATION", s);
		a->basis = (uint8_t)k;
	}
	s = NULL;
	if (get_string(ld, o, "legal_ref", &s, 0) < 0)
		return -1;
	a->legal_ref = xstrdup(s);
	s = NULL;
	if (get_string(ld, o, "description", &s, 0) < 0)
		return -1;
	a->description = xstrdup(s);
	return 0;
}

/* The aggregate of this ruleset named `name`, or NULL. */
static const cd_aggdef *own_aggregate(const cd_ruleset *rs, const char *name)
{
	for (size_t i = 0; i < rs->n_aggs; i++)
		if (!strcmp(rs->aggs[i].name, name))
			return &rs->aggs[i];
	return NULL;
}

#define BENEFIT_PLACEHOLDER "{benefit}"

/*
 * The aggregate name a "national_members.member_of" pattern gives for a
 * benefit: "{benefit}" becomes the benefit's lowercase name without prefix
 * ("average-{benefit}" -> "average-kontanthjaelp"). "" when it does not fit.
 */
static const char *members_of_name(const char *pattern, int benefit, char *buf, size_t len)
{
	const char *ph = strstr(pattern, BENEFIT_PLACEHOLDER);
	char lower[32];
	size_t i;
	if (!ph) {
		snprintf(buf, len, "%s", pattern);
		return buf;
	}
	for (i = 0; i + 1 < sizeof(lower) && cd_benefit_name(benefit)[i]; i++) {
		char ch = cd_benefit_name(benefit)[i];
		lower[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
	}
	lower[i] = '\0';
	if ((size_t)snprintf(buf, len, "%.*s%s%s", (int)(ph - pattern), pattern, lower,
			     ph + strlen(BENEFIT_PLACEHOLDER)) >= len)
		buf[0] = '\0';
	return buf;
}

/*
 * The overlay keys that change national obligations and where an overlay may
 * be enabled (rules.md §5 frikommune-nordjylland; docs/law-changes.md):
 *   "lifts_kinds": ["FIRST_WITHIN"]   national obligations of these kinds are not opened;
 *   "national_members": { "kind": "COUNT_IN_WINDOW", "min_required": 2,
 *                         "member_of": "average-{benefit}" }
 *                                     national obligations of that kind owing at least
 *                                     min_required conversations become members of the
 *                                     overlay's aggregate of the period's benefit;
 *   "allowed_municipalities": ["810", …]   the only municipalities it may be enabled for.
 * Only the syntax and the overlay's own aggregates are checked here; the copies
 * of national obligations are made once every file is read (resolve_national_members).
 */
static int load_overlay_keys(loader *ld, json_t *root, cd_ruleset *rs)
{
	char known[160], name[64];
	json_t *v, *e;
	size_t i;

	v = json_object_get(root, "lifts_kinds");
	if (v) {
		if (!json_is_array(v) || json_array_size(v) == 0)
			return fail(ld, "lifts_kinds", "expected a non-empty array of obligation kinds, e.g. [\"FIRST_WITHIN\"]");
		json_array_foreach(v, i, e) {
			int k = json_is_string(e) ? cd_ob_kind_parse(json_string_value(e)) : -1;
			if (k < 1)
				return fail(ld, "lifts_kinds", "unknown kind '%s' (%s)",
					    json_is_string(e) ? json_string_value(e) : "(not a string)",
					    kind_names(known, sizeof(known)));
			rs->lifts_kinds |= (uint8_t)CD_BIT(k);
		}
	}

	v = json_object_get(root, "national_members");
	if (v) {
		static const char *const mkeys[] = { "kind", "min_required", "member_of", NULL };
		json_t *kv, *mv, *nv;
		const char *pat, *ph;
		int k;

		ld->anchor = "national_members";   /* lines of its keys, not of the ruleset's own "kind" */
		if (!json_is_object(v))
			return fail(ld, "national_members", "expected {\"kind\": \"COUNT_IN_WINDOW\", \"min_required\": 2, "
				    "\"member_of\": \"average-{benefit}\"}");
		if (check_keys(ld, v, "national_members.", mkeys) < 0)
			return -1;
		kv = json_object_get(v, "kind");
		if (!kv)
			return fail(ld, "national_members.kind", "is required");
		k = json_is_string(kv) ? cd_ob_kind_parse(json_string_value(kv)) : -1;
		if (k < 1)
			return fail(ld, "national_members.kind", "unknown kind '%s' (%s)",
				    json_is_string(kv) ? json_string_value(kv) : "(not a string)", kind_names(known, sizeof(known)));
		if (rs->lifts_kinds & CD_BIT(k))
			return fail(ld, "national_members.kind", "%s obligations are lifted (lifts_kinds): they cannot "
				    "also become members", cd_ob_kind_name(k));
		rs->members_kind = (uint8_t)k;
		rs->members_min_required = 1;
		nv = json_object_get(v, "min_required");
		if (nv) {
			if (!json_is_integer(nv) || json_integer_value(nv) < 1 || json_integer_value(nv) > CD_MAX_REQUIRED)
				return fail(ld, "national_members.min_required", "expected an integer 1 … %d", CD_MAX_REQUIRED);
			rs->members_min_required = (int)json_integer_value(nv);
		}
		mv = json_object_get(v, "member_of");
		if (!mv)
			return fail(ld, "national_members.member_of", "is required");
		if (!json_is_string(mv))
			return fail(ld, "national_members.member_of", "expected the name of an aggregate of this overlay, "
				    "\"%s\" standing for the period's benefit", BENEFIT_PLACEHOLDER);
		pat = json_string_value(mv);
		ph = strstr(pat, BENEFIT_PLACEHOLDER);
		if (strlen(pat) >= sizeof(rs->members_of) || (ph && strstr(ph + 1, BENEFIT_PLACEHOLDER)) ||
		    strchr(pat, '/'))
			return fail(ld, "national_members.member_of", "'%s' is not the name of an aggregate of this overlay "
				    "(at most one \"%s\")", pat, BENEFIT_PLACEHOLDER);
		snprintf(rs->members_of, sizeof(rs->members_of), "%s", pat);
		for (int b = 1; b <= CD_BENEFIT_MAX; b++) {
			const cd_aggdef *a;
			if (rs->benefits && !(rs->benefits & CD_BIT(b)))
				continue;
			members_of_name(pat, b, name, sizeof(name));
			if (!valid_name(name))
				return fail(ld, "national_members.member_of", "'%s' does not make a lowercase name (a-z, 0-9, -) "
					    "for %s", pat, cd_benefit_name(b));
			if (!(a = own_aggregate(rs, name)))
				return fail(ld, "national_members.member_of", "no aggregate '%s' in this overlay's "
					    "\"aggregates\" (the one of %s periods)", name, cd_benefit_name(b));
		}
		ld->anchor = NULL;
	}

	v = json_object_get(root, "allowed_municipalities");
	if (v) {
		if (!json_is_array(v) || json_array_size(v) == 0)
			return fail(ld, "allowed_municipalities", "expected a non-empty array of municipality codes");
		rs->allowed = calloc(json_array_size(v), sizeof(*rs->allowed));
		if (!rs->allowed)
			abort();
		json_array_foreach(v, i, e) {
			const char *m = json_is_string(e) ? json_string_value(e) : "";
			if (!muni_code(m))
				return fail(ld, "allowed_municipalities", "'%s' is not a three- or four-digit municipality code",
					    m);
			for (size_t j = 0; j < i; j++)
				if (!strcmp(rs->allowed[j], m))
					return fail(ld, "allowed_municipalities", "'%s' is listed twice", m);
			snprintf(rs->allowed[i], sizeof(rs->allowed[i]), "%s", m);
			rs->n_allowed = i + 1;
		}
	}
	return 0;
}

/*
 * Two definitions may share a name only where no period can open both: they
 * differ in benefits, categories or a period flag. Then the name is one
 * obligation of the law with different terms per group (dk-2026/kommune-two).
 */
static bool exclusive(const cd_obdef *a, const cd_obdef *b)
{
	if (a->benefits && b->benefits && !(a->benefits & b->benefits))
		return true;
	if (a->categories && b->categories && !(a->categories & b->categories))
		return true;
	return (a->flags_set & b->flags_clear) || (a->flags_clear & b->flags_set);
}

static int load_ruleset(loader *ld, json_t *root, cd_ruleset *rs)
{
	const char *s = NULL;
	json_t *v, *e;
	size_t i;
	int sev = CD_SEV_LEGAL;
	uint32_t m;

	if (!json_is_object(root))
		return fail(ld, NULL, "expected a JSON object");
	if (check_keys(ld, root, "", rs_keys) < 0)
		return -1;
	if (get_string(ld, root, "id", &s, 1) < 0)
		return -1;
	if (!valid_name(s))
		return fail(ld, "id", "'%s' is not a lowercase name", s);
	snprintf(rs->id, sizeof(rs->id), "%s", s);
	rs->version = 1;
	if (get_int(ld, root, "version", &rs->version, 1, 1000000) < 0)
		return -1;
	s = NULL;
	if (get_string(ld, root, "kind", &s, 1) < 0)
		return -1;
	if (!strcmp(s, "overlay"))
		rs->overlay = true;
	else if (strcmp(s, "national"))
		return fail(ld, "kind", "'%s' is not national or overlay", s);
	s = NULL;
	if (get_string(ld, root, "title", &s, 0) < 0)
		return -1;
	rs->title = xstrdup(s);
	s = NULL;
	if (get_string(ld, root, "severity", &s, 0) < 0)
		return -1;
	if (s && (sev = parse_severity(s)) < 0)
		return fail(ld, "severity", "unknown severity '%s'", s);

	v = json_object_get(root, "effective");
	if (!json_is_object(v) || !json_object_get(v, "from"))
		return fail(ld, "effective", "expected {\"from\": \"YYYY-MM-DD\", \"to\": …}");
	{
		static const char *const ekeys[] = { "from", "to", NULL };
		if (check_keys(ld, v, "effective.", ekeys) < 0)
			return -1;
	}
	rs->to = CD_DATE_NONE;
	if (get_date(ld, v, "from", "effective.from", &rs->from) < 0 ||
	    get_date(ld, v, "to", "effective.to", &rs->to) < 0)
		return -1;
	if (rs->to != CD_DATE_NONE && rs->to < rs->from)
		return fail(ld, "effective.to", "is before effective.from");
	if (get_bool(ld, root, "joint_in_addition", &rs->joint_in_addition) < 0)
		return -1;

	m = 0;
	if (get_mask(ld, root, "benefits", cd_benefit_parse, CD_BENEFIT_MAX, &m, "benefit") < 0)
		return -1;
	rs->benefits = (uint16_t)m;
	rs->seasonal = -1;
	v = json_object_get(root, "seasonal");
	if (v) {
		if (!json_is_boolean(v))
			return fail(ld, "seasonal", "expected true or false");
		rs->seasonal = json_is_true(v);
	}
	m = 0;
	if (get_mask(ld, root, "widen_forms", cd_form_parse, CD_FORM_MAX, &m, "form") < 0)
		return -1;
	rs->widen_forms = (uint8_t)m;
	v = json_object_get(root, "replaces");
	if (v) {
		if (!json_is_array(v))
			return fail(ld, "replaces", "expected an array of obligation names");
		rs->replaces = calloc(json_array_size(v) + 1, sizeof(*rs->replaces));
		if (!rs->replaces)
			abort();
		json_array_foreach(v, i, e) {
			if (!json_is_string(e) || !valid_name(json_string_value(e)))
				return fail(ld, "replaces", "expected obligation names");
			snprintf(rs->replaces[i], sizeof(rs->replaces[i]), "%s", json_string_value(e));
		}
		rs->n_replaces = json_array_size(v);
	}
	if (!rs->overlay) {
		static const char *const overlay_only[] = { "benefits", "seasonal", "replaces", "widen_forms", "lifts_kinds",
							    "national_members", "allowed_municipalities" };
		for (size_t k = 0; k < sizeof(overlay_only) / sizeof(overlay_only[0]); k++)
			if (json_object_get(root, overlay_only[k]))
				return fail(ld, overlay_only[k], "is for overlays only (this ruleset's kind is national)");
	} else {
		static const char *const national_only[] = { "transition", "no_obligations", "default_category" };
		for (size_t k = 0; k < 3; k++)
			if (json_object_get(root, national_only[k]))
				return fail(ld, national_only[k], "is for national rulesets only (this one is an overlay)");
	}
	s = NULL;
	if (get_string(ld, root, "default_category", &s, 0) < 0)
		return -1;
	if (s) {
		int c = cd_category_parse(s);
		if (c < 1)
			return fail(ld, "default_category", "unknown category '%s'", s);
		rs->default_category = (uint8_t)c;
	}
	s = NULL;
	if (get_string(ld, root, "transition", &s, 0) < 0)
		return -1;
	if (s) {
		if (!strcmp(s, "configurable"))
			rs->transition = true;
		else if (strcmp(s, "period-start"))
			return fail(ld, "transition", "'%s' is not period-start or configurable", s);
	}
	v = json_object_get(root, "no_obligations");
	rs->no_obligations_why = NULL;
	if (v) {
		static const char *const nkeys[] = { "benefits", "why", NULL };
		const char *why = NULL;
		if (!json_is_object(v) || check_keys(ld, v, "no_obligations.", nkeys) < 0)
			return fail(ld, "no_obligations", "expected {\"benefits\": […], \"why\": \"…\"}");
		m = 0;
		if (get_mask(ld, v, "benefits", cd_benefit_parse, CD_BENEFIT_MAX, &m, "benefit") < 0 ||
		    get_string(ld, v, "why", &why, 1) < 0)
			return -1;
		rs->no_obligations = (uint16_t)m;
		rs->no_obligations_why = xstrdup(why);
	}
	if (!rs->no_obligations_why)
		rs->no_obligations_why = xstrdup("");
	v = json_object_get(root, "aggregates");
	if (v) {
		if (!json_is_array(v))
			return fail(ld, "aggregates", "expected an array");
		rs->aggs = calloc(json_array_size(v) + 1, sizeof(*rs->aggs));
		if (!rs->aggs)
			abort();
		json_array_foreach(v, i, e) {
			snprintf(ld->where, sizeof(ld->where), "aggregates[%zu] ", i);
			rs->n_aggs = i + 1;
			if (load_aggregate(ld, rs, sev, e, &rs->aggs[i]) < 0)
				return -1;
			for (size_t j = 0; j < i; j++)
				if (!strcmp(rs->aggs[j].name, rs->aggs[i].name))
					return fail(ld, "name", "aggregate '%s' is defined twice", rs->aggs[i].name);
		}
		ld->where[0] = '\0';
		ld->anchor = NULL;
	}
	if (load_overlay_keys(ld, root, rs) < 0)
		return -1;

	v = json_object_get(root, "obligations");
	if (!json_is_array(v))
		return fail(ld, "obligations", "expected an array");
	rs->obs = calloc(json_array_size(v) + 1, sizeof(*rs->obs));
	if (!rs->obs)
		abort();
	json_array_foreach(v, i, e) {
		snprintf(ld->where, sizeof(ld->where), "obligations[%zu] ", i);
		rs->n_obs = i + 1;
		if (load_obligation(ld, rs, sev, e, &rs->obs[i], i) < 0)
			return -1;
		snprintf(ld->where, sizeof(ld->where), "obligations[%zu] '%s': ", i, rs->obs[i].name);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(rs->obs[j].name, rs->obs[i].name) && !exclusive(&rs->obs[j], &rs->obs[i]))
				return fail(ld, "name", "'%s' is defined twice for periods that could open both "
					    "(definitions of one name must differ in benefits, categories or \"when\")",
					    rs->obs[i].name);
		if (rs->obs[i].mirror[0] && !rs->overlay)
			return fail(ld, "mirror", "only overlays mirror national obligations");
	}
	/* References inside the ruleset. */
	for (i = 0; i < rs->n_obs; i++) {
		cd_obdef *d = &rs->obs[i];
		int found = 0;
		if (d->gap_start != CD_GAP_AFTER_MET)
			continue;
		for (size_t j = 0; j < rs->n_obs; j++)
			found |= !strcmp(rs->obs[j].name, d->start_ref);
		snprintf(ld->where, sizeof(ld->where), "obligations[%zu] '%s': ", i, d->name);
		ld->anchor = d->name;
		if (!found)
			return fail(ld, "start.after_met", "no obligation '%s' in this ruleset", d->start_ref);
	}
	ld->where[0] = '\0';
	ld->anchor = NULL;
	return 0;
}

static char *read_file(const char *path, cd_err *err)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;
	if (!f) {
		cd_err_set(err, 0, "cannot open '%s': %m", path);
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || n > (1L << 24) || fseek(f, 0, SEEK_SET) < 0) {
		cd_err_set(err, 0, "cannot read '%s' (or it is larger than 16 MiB)", path);
		goto out;
	}
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		cd_err_set(err, 0, "cannot read '%s'", path);
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = '\0';
out:
	fclose(f);
	return buf;
}

static json_t *parse_json(loader *ld)
{
	json_error_t je;
	json_t *root = json_loads(ld->text, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		cd_err_set(ld->err, 0, "%s:%d:%d: invalid JSON: %s", ld->file, je.line, je.column, je.text);
	return root;
}

static int load_ruleset_file(const char *path, cd_ruleset *rs, cd_err *err)
{
	loader ld = { .file = path, .err = err };
	json_t *root = NULL;
	int result = -1;

	ld.text = read_file(path, err);
	if (!ld.text)
		goto out;
	root = parse_json(&ld);
	if (!root)
		goto out;
	rs->file = xstrdup(path);
	if (load_ruleset(&ld, root, rs) < 0)
		goto out;
	result = 0;
out:
	json_decref(root);
	free(ld.text);
	return result;
}

/*
 * The common shape of rules/overlays.json and rules/merges.json: a JSON
 * object with `comment` and one array `key`. Reads and checks it; returns the
 * parsed root (the caller decrefs it) with *arr set, or NULL after failing
 * with the file, line and field.
 */
static json_t *load_list(loader *ld, const char *key, const char *const *top_keys, const char *shape, json_t **arr)
{
	json_t *root;

	ld->text = read_file(ld->file, ld->err);
	if (!ld->text)
		return NULL;
	root = parse_json(ld);
	if (!root)
		return NULL;
	if (!json_is_object(root))
		fail(ld, NULL, "expected a JSON object");
	else if (check_keys(ld, root, "", top_keys) == 0) {
		*arr = json_object_get(root, key);
		if (json_is_array(*arr))
			return root;
		fail(ld, key, "expected an array of %s", shape);
	}
	json_decref(root);
	return NULL;
}

/* "810, 813, …": the municipalities an overlay may be enabled for, for messages. */
static const char *allowed_list(const cd_ruleset *rs, char *buf, size_t len)
{
	cd_sb b = cd_sb_on(buf, len);
	for (size_t i = 0; i < rs->n_allowed; i++) {
		if (i)
			cd_sb_puts(&b, ", ");
		cd_sb_puts(&b, rs->allowed[i]);
	}
	return buf;
}

static int load_overlay_config(cd_rules *r, const char *path, cd_err *err)
{
	loader ld = { .file = path, .err = err };
	json_t *root = NULL, *arr, *e, *munis, *mv;
	size_t i, j;
	int result = -1;
	static const char *const top_keys[] = { "overlays", "comment", NULL };
	static const char *const ent_keys[] = { "overlay", "municipalities", "comment", NULL };

	root = load_list(&ld, "overlays", top_keys, "{\"overlay\": …, \"municipalities\": […]}", &arr);
	if (!root)
		goto out;
	json_array_foreach(arr, i, e) {
		const char *id = NULL;
		size_t set = cd_rules_count(r);
		snprintf(ld.where, sizeof(ld.where), "overlays[%zu] ", i);
		if (!json_is_object(e)) {
			fail(&ld, NULL, "expected an object");
			goto out;
		}
		if (check_keys(&ld, e, "", ent_keys) < 0 || get_string(&ld, e, "overlay", &id, 1) < 0)
			goto out;
		ld.anchor = id;
		for (size_t k = 0; k < cd_rules_count(r); k++)
			if (!strcmp(cd_rules_at(r, k)->id, id))
				set = k;
		if (set == cd_rules_count(r) || !cd_rules_at(r, set)->overlay) {
			fail(&ld, "overlay", "'%s' is not a loaded overlay ruleset", id);
			goto out;
		}
		munis = json_object_get(e, "municipalities");
		if (!json_is_array(munis)) {
			fail(&ld, "municipalities", "expected an array of municipality codes");
			goto out;
		}
		json_array_foreach(munis, j, mv) {
			const char *m = json_is_string(mv) ? json_string_value(mv) : "";
			char allowed[256];
			if (!muni_code(m)) {
				fail(&ld, "municipalities", "'%s' is not a three- or four-digit municipality code", m);
				goto out;
			}
			if (!cd_ruleset_allows(cd_rules_at(r, set), m)) {
				fail(&ld, "municipalities", "'%s' may not be enabled for municipality %s: %s allows only %s "
				     "(allowed_municipalities)", id, m, cd_rules_at(r, set)->file,
				     allowed_list(cd_rules_at(r, set), allowed, sizeof(allowed)));
				goto out;
			}
			if (cd_rules_enable(r, set, m) > CD_MAX_OVERLAYS) {
				fail(&ld, "municipalities", "municipality %s has more than %d overlays enabled "
				     "(CD_MAX_OVERLAYS: at most that many apply to one period)", m, CD_MAX_OVERLAYS);
				goto out;
			}
		}
	}
	result = 0;
out:
	json_decref(root);
	free(ld.text);
	return result;
}

/* rules/merges.json: benefits merged by law (rules.md §3.3). A missing file merges nothing. */
static int load_merges(cd_rules *r, const char *path, cd_err *err)
{
	loader ld = { .file = path, .err = err };
	json_t *root = NULL, *arr, *e;
	size_t i;
	int result = -1;
	static const char *const top_keys[] = { "merges", "comment", NULL };
	static const char *const ent_keys[] = { "benefit", "into", "from", "legal_ref", "comment", NULL };

	if (access(path, F_OK) != 0)
		return 0;
	root = load_list(&ld, "merges", top_keys, "{\"benefit\", \"into\", \"from\", \"legal_ref\"}", &arr);
	if (!root)
		goto out;
	json_array_foreach(arr, i, e) {
		const char *b = NULL, *into = NULL, *ref = NULL;
		cd_merge m = { .from = CD_DATE_NONE };
		int bb, ib;
		snprintf(ld.where, sizeof(ld.where), "merges[%zu] ", i);
		if (!json_is_object(e)) {
			fail(&ld, NULL, "expected an object");
			goto out;
		}
		if (check_keys(&ld, e, "", ent_keys) < 0 || get_string(&ld, e, "benefit", &b, 1) < 0 ||
		    get_string(&ld, e, "into", &into, 1) < 0 || get_string(&ld, e, "legal_ref", &ref, 0) < 0 ||
		    get_date(&ld, e, "from", "from", &m.from) < 0)
			goto out;
		ld.anchor = b;
		if ((bb = cd_benefit_parse(b)) < 1 || (ib = cd_benefit_parse(into)) < 1) {
			fail(&ld, bb < 1 ? "benefit" : "into", "unknown benefit '%s'", bb < 1 ? b : into);
			goto out;
		}
		if (bb == ib || m.from == CD_DATE_NONE) {
			fail(&ld, bb == ib ? "into" : "from", bb == ib ? "a benefit cannot merge into itself"
								      : "is required");
			goto out;
		}
		for (size_t k = 0; k < cd_rules_merge_count(r); k++)
			if (cd_rules_merge_at(r, k)->benefit == bb || cd_rules_merge_at(r, k)->benefit == ib ||
			    cd_rules_merge_at(r, k)->into == bb) {
				fail(&ld, "benefit", "merges must not chain or repeat a benefit (%s)", b);
				goto out;
			}
		m.benefit = (uint8_t)bb;
		m.into = (uint8_t)ib;
		m.legal_ref = xstrdup(ref);
		cd_rules_add_merge(r, m);
	}
	result = 0;
out:
	json_decref(root);
	free(ld.text);
	return result;
}

/* Every member names an aggregate that is loaded; it takes that aggregate's Exemption scope. */
static int resolve_members(cd_rules *r, cd_err *err)
{
	for (size_t i = 0; i < cd_rules_count(r); i++) {
		cd_ruleset *rs = (cd_ruleset *)cd_rules_at(r, i);   /* still being built */
		for (size_t j = 0; j < rs->n_obs; j++) {
			cd_obdef *d = &rs->obs[j];
			const cd_aggdef *a;
			if (!d->aggregate[0])
				continue;
			a = cd_rules_find_aggregate(r, d->aggregate);
			if (!a) {
				loader ld = { .file = rs->file, .err = err, .anchor = d->name };
				ld.text = read_file(rs->file, NULL);
				snprintf(ld.where, sizeof(ld.where), "obligations[%zu] '%s': ", j, d->name);
				fail(&ld, "member_of", "no aggregate '%s' is defined (in \"aggregates\" of its ruleset)",
				     d->aggregate);
				free(ld.text);
				return -1;
			}
			if (a->kind == CD_AGG_AVERAGE && a->required && d->required != a->required) {
				loader ld = { .file = rs->file, .err = err, .anchor = d->name };
				ld.text = read_file(rs->file, NULL);
				snprintf(ld.where, sizeof(ld.where), "obligations[%zu] '%s': ", j, d->name);
				fail(&ld, "member_of", "owes %d conversations, but the AVERAGE '%s' requires %d of every member "
				     "(leave its \"required\" out where members owe different counts)", d->required, a->id,
				     a->required);
				free(ld.text);
				return -1;
			}
			d->exempt_scope = a->scope;
			d->agg_key = a->key;
			d->agg_kind = a->kind;
		}
	}
	return 0;
}

/* Do the periods whose start selects rulesets a and b overlap? */
static bool overlap(const cd_ruleset *a, const cd_ruleset *b)
{
	return (a->to == CD_DATE_NONE || b->from <= a->to) && (b->to == CD_DATE_NONE || a->from <= b->to);
}

/*
 * An overlay's "national_members": a member copy of every national
 * obligation of that kind owing at least min_required conversations, per
 * benefit the overlay and the obligation share, for the national rulesets
 * whose periods the overlay's dates overlap (the period start selects both).
 * An obligation that is a member already keeps its own aggregate. The
 * overlay's AVERAGE aggregate that states a "required" must be owed exactly
 * that by every obligation it gets.
 */
static int resolve_national_members(cd_rules *r, cd_err *err)
{
	for (size_t i = 0; i < cd_rules_count(r); i++) {
		cd_ruleset *ov = (cd_ruleset *)cd_rules_at(r, i);   /* still being built */
		size_t cap = 0;
		if (!ov->overlay || !ov->members_kind)
			continue;
		for (size_t n = 0; n < cd_rules_count(r); n++) {
			const cd_ruleset *nat = cd_rules_at(r, n);
			if (nat->overlay || !overlap(ov, nat))
				continue;
			for (size_t j = 0; j < nat->n_obs; j++) {
				const cd_obdef *d = &nat->obs[j];
				if (d->kind != (cd_ob_kind)ov->members_kind || d->required < ov->members_min_required ||
				    d->aggregate[0] || d->mirror[0])
					continue;
				for (int b = 1; b <= CD_BENEFIT_MAX; b++) {
					char name[64];
					const cd_aggdef *a;
					cd_national_member *m;
					if ((ov->benefits && !(ov->benefits & CD_BIT(b))) || (d->benefits && !(d->benefits & CD_BIT(b))))
						continue;
					a = own_aggregate(ov, members_of_name(ov->members_of, b, name, sizeof(name)));
					if (!a)
						continue;          /* checked when the overlay was read */
					if (a->kind == CD_AGG_AVERAGE && a->required && d->required != a->required) {
						loader ld = { .file = ov->file, .err = err, .anchor = a->name };
						ld.text = read_file(ov->file, NULL);
						snprintf(ld.where, sizeof(ld.where), "aggregates[%zu] ", (size_t)(a - ov->aggs));
						fail(&ld, "required", "'%s' requires %d of every member, but national_members makes "
						     "%s (%s), which owes %d, one (leave \"required\" out where members owe "
						     "different counts)", a->name, a->required, d->id, nat->file, d->required);
						free(ld.text);
						return -1;
					}
					if (ov->n_nmembers == cap) {
						cd_national_member *nm;
						cap = cap ? 2 * cap : 16;
						nm = realloc(ov->nmembers, cap * sizeof(*nm));
						if (!nm)
							abort();
						ov->nmembers = nm;
					}
					m = &ov->nmembers[ov->n_nmembers++];
					m->national = d;
					m->benefit = (uint8_t)b;
					m->def = *d;
					snprintf(m->def.aggregate, sizeof(m->def.aggregate), "%s", a->id);
					m->def.exempt_scope = a->scope;
					m->def.agg_key = a->key;
					m->def.agg_kind = a->kind;
				}
			}
		}
	}
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int cd_rules_load(const char *dir, const char *overlays_path, cd_rules **out, cd_err *err)
{
	cd_rules *r = cd_rules_new();
	DIR *dh = NULL;
	struct dirent *de;
	char **names = NULL, path[4096], cfg[4096];
	size_t n_names = 0;
	int result = -1;

	*out = NULL;
	dh = opendir(dir);
	if (!dh) {
		cd_err_set(err, 0, "cannot open rules directory '%s': %m", dir);
		goto out;
	}
	/* Sorted, so that load order (and `rules list`) never depends on the filesystem. */
	while ((de = readdir(dh))) {
		size_t n = strlen(de->d_name);
		char **nn;
		if (n < 6 || strcmp(de->d_name + n - 5, ".json") || !strcmp(de->d_name, "overlays.json") ||
		    !strcmp(de->d_name, "merges.json"))
			continue;
		nn = realloc(names, (n_names + 1) * sizeof(*names));
		if (!nn)
			abort();
		names = nn;
		names[n_names++] = xstrdup(de->d_name);
	}
	qsort(names, n_names, sizeof(*names), by_name);
	for (size_t i = 0; i < n_names; i++) {
		const cd_ruleset *rs;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (load_ruleset_file(path, cd_rules_add(r), err) < 0)
			goto out;
		rs = cd_rules_at(r, i);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(cd_rules_at(r, j)->id, rs->id)) {
				cd_err_set(err, 0, "%s: ruleset id '%s' is also used by '%s'", path, rs->id,
					   cd_rules_at(r, j)->file);
				goto out;
			}
	}
	/* National rulesets must not overlap: a period start selects exactly one. */
	for (size_t i = 0; i < cd_rules_count(r); i++)
		for (size_t j = 0; j < cd_rules_count(r); j++) {
			const cd_ruleset *a = cd_rules_at(r, i), *b = cd_rules_at(r, j);
			if (i == j || a->overlay || b->overlay)
				continue;
			if (a->from <= b->from && (a->to == CD_DATE_NONE || a->to >= b->from)) {
				loader ld = { .file = b->file, .err = err };
				ld.text = read_file(b->file, NULL);
				fail(&ld, "effective", "national ruleset '%s' overlaps '%s' (%s): a period start "
				     "must select exactly one", b->id, a->id, a->file);
				free(ld.text);
				goto out;
			}
		}
	if (resolve_members(r, err) < 0 || resolve_national_members(r, err) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/merges.json", dir);
	if (load_merges(r, path, err) < 0)
		goto out;
	if (!overlays_path) {
		snprintf(cfg, sizeof(cfg), "%s/overlays.json", dir);
		overlays_path = cfg;
	}
	if (load_overlay_config(r, overlays_path, err) < 0)
		goto out;
	*out = r;
	r = NULL;
	result = 0;
out:
	if (dh)
		closedir(dh);
	for (size_t i = 0; i < n_names; i++)
		free(names[i]);
	free(names);
	cd_rules_free(r);
	return result;
}

/* More than CD_MAX_OVERLAYS distinct overlays for the municipality of item k, among items 0 … k? */
static bool crowded(const size_t *set, char (*muni)[CD_MUNI_LEN + 1], size_t k)
{
	size_t n = 0;
	for (size_t i = 0; i <= k; i++) {
		bool first = !strcmp(muni[i], muni[k]);
		for (size_t j = 0; j < i && first; j++)
			first = strcmp(muni[j], muni[k]) || set[j] != set[i];
		n += first;
	}
	return n > CD_MAX_OVERLAYS;
}

int cd_rules_set_overlays(cd_rules *r, const char *spec, cd_err *err)
{
	const char *p = spec;
	size_t *set = NULL, n = 0, n_sets = cd_rules_count(r);
	char (*muni)[CD_MUNI_LEN + 1] = NULL;
	int result = -1;

	if (!strcmp(spec, "none") || !*spec)
		p = "";
	while (*p) {
		const char *comma = strchr(p, ','), *at;
		size_t len = comma ? (size_t)(comma - p) : strlen(p), k = n_sets, mlen;
		char item[128];
		snprintf(item, sizeof(item), "%.*s", (int)len, p);
		if (len == 0 || (comma && comma[1] == '\0')) {
			cd_err_set(err, 0, "overlay list '%s' has an empty item", spec);
			goto out;
		}
		at = strchr(item, '@');
		if (at) {
			for (size_t i = 0; i < n_sets; i++) {
				const cd_ruleset *rs = cd_rules_at(r, i);
				if (rs->overlay && strlen(rs->id) == (size_t)(at - item) &&
				    !strncmp(rs->id, item, (size_t)(at - item)))
					k = i;
			}
		}
		mlen = at ? strlen(at + 1) : 0;
		if (!at || k == n_sets || mlen < 3 || mlen > CD_MUNI_LEN || strspn(at + 1, "0123456789") != mlen) {
			cd_err_set(err, 0, "overlay '%s' is not OVERLAY@MUNI with a loaded overlay and a "
				   "three- or four-digit municipality code", item);
			goto out;
		}
		set = realloc(set, (n + 1) * sizeof(*set));
		muni = realloc(muni, (n + 1) * sizeof(*muni));
		if (!set || !muni)
			abort();
		if (!cd_ruleset_allows(cd_rules_at(r, k), at + 1)) {
			char allowed[256];
			cd_err_set(err, 0, "overlay '%s': %s may not be enabled for municipality %s: %s allows only %s "
				   "(allowed_municipalities)", item, cd_rules_at(r, k)->id, at + 1, cd_rules_at(r, k)->file,
				   allowed_list(cd_rules_at(r, k), allowed, sizeof(allowed)));
			goto out;
		}
		set[n] = k;
		snprintf(muni[n], sizeof(muni[n]), "%s", at + 1);
		if (crowded(set, muni, n)) {
			cd_err_set(err, 0, "overlay list '%s' enables more than %d overlays for municipality %s "
				   "(CD_MAX_OVERLAYS: at most that many apply to one period)", spec, CD_MAX_OVERLAYS,
				   muni[n]);
			goto out;
		}
		n++;
		p += len + (comma ? 1 : 0);
	}
	cd_rules_disable_all(r);
	for (size_t i = 0; i < n; i++)
		cd_rules_enable(r, set[i], muni[i]);
	result = 0;
out:
	free(set);
	free(muni);
	return result;
}
