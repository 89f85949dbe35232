/*
 * explain.c — `contactd explain CITIZEN`: why one citizen's obligations stand
 * as they do, for people (text) and machines (--json).
 *
 * The citizen's record comes from one of two places:
 *   --input LOG    the log through the replay driver (cmd/driver.c), then the
 *                  record as the in-memory store holds it; --until advances
 *                  every citizen first, as `replay --until` does;
 *   --redis ADDR   the live processor's record in Redis: the partitions that
 *                  exist (cd_redis_partitions) are tried in turn for the key
 *                  <prefix>:{pN}:c:<citizen>, read only.
 * Either way state/explain.c evaluates it as the engine would at its clock
 * raised to the all-citizen clock (the driver's latest tick, or the
 * partition's stored floor): ticks reach a citizen lazily, when it next has
 * something due, so its own clock may lag behind a tick that changed nothing
 * for it. The engine options (--rules, --grace, --warn-days,
 * --law-transition, overlays) must be those the record was made with.
 *
 * The citizen id is the explanation's subject, so stdout carries it; the
 * log (stderr) never does ("citizen not found" names no one).
 */
#include "cmd/commands.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/driver.h"
#include "cmd/opts.h"
#include "consumer/config.h"
#include "consumer/kafka.h"
#include "consumer/redis_store.h"
#include "proto/eventlog.h"
#include "state/citizen.h"
#include "state/engine.h"
#include "state/explain.h"
#include "util/buf.h"
#include "util/log.h"


/* ---- options --------------------------------------------------------------------- */

enum { OPT_INPUT_FORMAT = CD_OPT_OWN, OPT_UNTIL,
       OPT_JSON, OPT_FORMAT };

static const struct option longopts[] = {
	{ "input", required_argument, NULL, 'i' },
	{ "input-format", required_argument, NULL, OPT_INPUT_FORMAT },
	{ "until", required_argument, NULL, OPT_UNTIL },
	CD_OPT_REDIS_LONGOPTS,
	{ "json", no_argument, NULL, OPT_JSON },
	{ "format", required_argument, NULL, OPT_FORMAT },
	CD_OPT_ENGINE_LONGOPTS,
	CD_OPT_LOG_LEVEL_LONGOPT,
	CD_OPT_HELP_LONGOPT,
	{ NULL, 0, NULL, 0 },
};

typedef struct explain_opts {
	const char *input;
	cd_log_format in_fmt;
	cd_instant until;            /* CD_INSTANT_NONE: not given */
	int redis;                   /* --redis given */
	cd_config cfg;               /* redis address, user, password file, db, prefix: run's rows parse them */
	int json;
	cd_opt_engine eo;
} explain_opts;

static int parse_option(void *ctx, int c, char *arg)
{
	explain_opts *o = ctx;

	switch (c) {
	case 'i':
		o->input = arg;
		return 0;
	case OPT_INPUT_FORMAT:
		return cd_opt_format("--input-format", arg, 1, &o->in_fmt);
	case OPT_UNTIL:
		return cd_opt_until(arg, &o->until);
	case CD_OPT_REDIS:
		o->redis = 1;
		return cd_opt_redis_option(&o->cfg, c, arg);
	case CD_OPT_REDIS_USER:
	case CD_OPT_REDIS_PASSWORD_FILE:
	case CD_OPT_REDIS_DB:
	case CD_OPT_REDIS_PREFIX:
	case CD_OPT_CITIZEN_KEY_FILE:
		return cd_opt_redis_option(&o->cfg, c, arg);
	case OPT_JSON:
		o->json = 1;
		return 0;
	case OPT_FORMAT:
		return cd_opt_text_or_json(arg, &o->json);
	default:
		return cd_opt_engine_option(&o->eo, c, arg);
	}
}

static void usage(FILE *f)
{
	long lo, hi;

	cd_opt_run_int("redis-db", NULL, &lo, &hi);
	fprintf(f,
		"usage: contactd explain CITIZEN --input LOG [--until T] [options]\n"
		"       contactd explain CITIZEN --redis HOST:PORT [options]\n"
		"Why one citizen's obligations stand as they do: the timeline of its inputs, its periods with the\n"
		"rules that govern them and why, and each obligation with its window, due date, status and\n"
		"reason, basis and legal reference, and every conversation in or near its window, counted or\n"
		"not and why; the Exemptions and what they changed. Nothing is written anywhere.\n"
		"  -i, --input LOG           an event log, replayed as `contactd replay` does ('-': stdin)\n"
		"      --input-format F      auto, json or pb (default auto)\n"
		"      --until TIMESTAMP     first advance every citizen's clock to this RFC 3339 instant\n"
		"      --redis HOST:PORT     instead, the live processor's Redis ([::1]:6379 for IPv6)\n"
		"      --redis-user USER     Redis ACL user (default: none)\n"
		"      --redis-password-file F\n"
		"                            the file holding the Redis password, one line (default\n"
		"                            $" CD_OPT_REDIS_PASSWORD_FILE_ENV "); without one, the password is\n"
		"                            $" CD_OPT_REDIS_PASSWORD_ENV ". Never the password on the command line\n"
		"      --redis-db N          Redis database number, %ld … %ld (default 0)\n"
		"      --redis-prefix P      prefix of every Redis key (default contactd)\n"
		"      --citizen-key-file F  the key run names citizens' Redis keys with (run's citizen-key-file;\n"
		"                            default $" CD_OPT_CITIZEN_KEY_FILE_ENV ", else the development key)\n"
		"      --json                one JSON document (stable field names) instead of text\n"
		"      --format F            text or json (--json)\n"
		"The engine options must be those the log was replayed, or the processor ran, with:\n",
		lo, hi);
	cd_opt_engine_usage(f);
	fprintf(f, "Exit status 0 when explained; 1 when the citizen is not found or the input, Redis or the\n"
		   "rules cannot be read.\n");
}

static const cd_opt_cmd explain_cmd = { "i:h", longopts, parse_option, usage, 1 };

/* ---- getting the record ----------------------------------------------------------- */

/* Aggregates are evaluated (and dropped) so that members are recorded as said, as live. */
static int drop_aggregate(void *ctx, const cd_agg_output *a)
{
	(void)ctx;
	(void)a;
	return 0;
}

/* The citizen from a log: 1 found, 0 not, -1 failed (logged). *floor: the all-citizen clock. */
static int from_log(explain_opts *o, cd_engine *eng, const char *id, cd_citizen *c, cd_instant *floor)
{
	cd_driver *drv = cd_driver_new(eng, o->eo.rules, &o->eo.cfg, (cd_driver_sink){ NULL, drop_aggregate, NULL });
	cd_log_reader *rd = NULL;
	FILE *inf = NULL;
	cd_err err = { "", 0 };
	int rc = -1;

	if (!drv) {
		cd_log(CD_LOG_ERROR, "out of memory", NULL);
		return -1;
	}
	inf = strcmp(o->input, "-") ? fopen(o->input, "rb") : stdin;
	if (!inf) {
		cd_log(CD_LOG_ERROR, "cannot open input", "input", o->input, "error", strerror(errno), NULL);
		goto out;
	}
	if (!(rd = cd_log_reader_new(inf, o->input, o->in_fmt, o->eo.max_record)))
		goto out;
	if (cd_driver_run(drv, rd, o->input, &err) < 0) {
		cd_log(CD_LOG_ERROR, "cannot replay the input", "input", o->input, "error", err.msg, NULL);
		goto out;
	}
	if (o->until != CD_INSTANT_NONE && cd_driver_advance_all(drv, o->until, &err) < 0) {
		cd_log(CD_LOG_ERROR, "advancing to --until failed", "error", err.msg, NULL);
		goto out;
	}
	*floor = cd_driver_floor(drv);
	rc = cd_driver_citizen(drv, id, c, &err);
	if (rc < 0)
		cd_log(CD_LOG_ERROR, "the citizen's record does not decode", "error", err.msg, NULL);
out:
	cd_log_reader_free(rd);
	if (inf && inf != stdin)
		fclose(inf);
	cd_driver_free(drv);
	return rc;
}

/* The citizen from Redis, read only: 1 found, 0 not, -1 failed (logged). */
static int from_redis(explain_opts *o, const char *id, cd_citizen *c, cd_instant *floor)
{
	cd_redis *redis = NULL;
	int32_t *parts = NULL;
	size_t n_parts = 0;
	cd_buf rec;
	cd_err err = { "", 0 };
	char addr[300];
	int rc = -1;

	cd_buf_init(&rec, (size_t)64 << 20);
	if (!(redis = cd_opt_redis_open(&o->cfg, 'p', addr, sizeof(addr))))
		goto out;
	if (cd_redis_partitions(redis, &parts, &n_parts, &err) < 0) {
		cd_log(CD_LOG_ERROR, "cannot list the processor's partitions", "redis", addr, "error", err.msg, NULL);
		goto out;
	}
	if (!n_parts)
		cd_log(CD_LOG_WARN, "no processor state in Redis (is --redis-prefix or --redis-db the processor's?)",
		       "redis", addr, "prefix", o->cfg.redis_prefix, NULL);
	rc = 0;
	for (size_t i = 0; i < n_parts && rc == 0; i++) {
		int found = 0;
		int64_t off;
		char num[24];

		snprintf(num, sizeof(num), "%d", (int)parts[i]);
		if (cd_redis_load(redis, parts[i], &id, 1, &rec, &found, &err) < 0) {
			cd_log(CD_LOG_ERROR, "cannot read a citizen record", "redis", addr, "partition", num, "error",
			       err.msg, NULL);
			rc = -1;
		} else if (found) {
			if (cd_citizen_decode(c, (const uint8_t *)rec.data, rec.len, &err) < 0) {
				cd_log(CD_LOG_ERROR, "the citizen's record does not decode", "partition", num, "error",
				       err.msg, NULL);
				rc = -1;
			} else if (cd_redis_position(redis, parts[i], CD_TOPIC_EVENTS, &off, floor, &err) < 0) {
				cd_log(CD_LOG_ERROR, "cannot read the partition's clock", "redis", addr, "partition", num,
				       "error", err.msg, NULL);
				rc = -1;
			} else {
				cd_log(CD_LOG_DEBUG, "citizen found", "partition", num, NULL);
				rc = 1;
			}
		}
	}
out:
	free(parts);
	cd_redis_free(redis);
	cd_buf_release(&rec);
	return rc;
}

/* ---- shared by both outputs -------------------------------------------------------- */

static const char *severity_name(int s)
{
	return s == CD_SEV_LEGAL ? "LEGAL" : s == CD_SEV_POLICY ? "POLICY" : "UNSPECIFIED";
}

static const char *kind_word(const cd_hev *h)
{
	switch (h->kind) {
	case CD_EV_REGISTRATION:
		return "REGISTRATION";
	case CD_EV_DEREGISTRATION:
		return "DEREGISTRATION";
	case CD_EV_CONVERSATION:
		return (h->flags & CD_HF_VOIDED) ? "VOID" : "CONVERSATION";
	case CD_EV_BENEFIT_CHANGE:
		return "BENEFIT_CHANGE";
	case CD_EV_EXEMPTION:
		return "EXEMPTION";
	default:
		return "?";
	}
}

/* "2021-03-01 09:00", local Europe/Copenhagen time. */
static const char *local_time(cd_instant t, char *buf, size_t len)
{
	int64_t s = t / CD_NS_PER_SEC + cd_cph_utc_offset(t), day, sec;
	char d[CD_DATE_STRLEN];

	if (t % CD_NS_PER_SEC < 0)
		s--;
	day = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
	sec = s - day * 86400;
	snprintf(buf, len, "%s %02d:%02d", cd_date_format((cd_date)day, d), (int)(sec / 3600), (int)(sec / 60 % 60));
	return buf;
}

/* ---- json -------------------------------------------------------------------------- */

static json_t *jstr(const char *s)
{
	json_t *v = s ? json_string(s) : NULL;
	return v ? v : json_null();
}

static json_t *jdate(cd_date d)
{
	char b[CD_DATE_STRLEN];
	return d == CD_DATE_NONE ? json_null() : json_string(cd_date_format(d, b));
}

static json_t *jinstant(cd_instant t)
{
	char b[CD_INSTANT_STRLEN];
	if (t == CD_INSTANT_NONE)
		return json_null();
	cd_instant_format_rfc3339(t, b);
	return json_string(b);
}

static json_t *jlong(long v)
{
	return v < 0 ? json_null() : json_integer(v);
}

#define SET(o, k, v) json_object_set_new((o), (k), (v))

static json_t *json_reported(const cd_obst *ob)
{
	json_t *o;
	if (!ob)
		return json_null();
	o = json_object();
	SET(o, "status", jstr(cd_obstatus_name(ob->status)));
	SET(o, "cancelReason", ob->status == CD_OB_CANCELLED ? jstr(cd_cancel_reason_name(ob->reason)) : json_null());
	SET(o, "outputs", json_integer(ob->transitions));
	return o;
}

static json_t *json_conv(const cd_explanation *x, const cd_xconv *xc)
{
	const cd_citizen *c = x->c;
	const cd_hev *h = &c->ev[xc->ev];
	json_t *o = json_object();
	bool place = xc->why == CD_WHY_OTHER_SLOT || xc->why == CD_WHY_BEYOND_SLOTS || xc->why == CD_WHY_WRONG_ORDINAL ||
		     xc->why == CD_WHY_AFTER_ORDINALS;

	SET(o, "eventId", jstr(cd_citizen_str(c, h->id_off)));
	SET(o, "conversationId", jstr(cd_citizen_str(c, h->conv_off)));
	SET(o, "date", jdate(h->date));
	SET(o, "heldBy", jstr(cd_held_by_name(h->held_by)));
	SET(o, "form", jstr(cd_form_name(h->form)));
	SET(o, "joint", json_boolean(h->flags & CD_HF_JOINT));
	SET(o, "counted", json_boolean(xc->why == CD_WHY_COUNTED));
	SET(o, "why", jstr(cd_why_name(xc->why)));
	SET(o, "place", place ? json_integer(xc->n) : json_null());
	SET(o, "takenBy", xc->by_ob >= 0 ? jstr(x->ob[xc->by_ob].oid) : json_null());
	SET(o, "decidedBy", xc->by_ev >= 0 && xc->why != CD_WHY_SUPERSEDED
				    ? jstr(cd_citizen_str(c, c->ev[xc->by_ev].conv_off)) : json_null());
	SET(o, "replacedBy", xc->by_ev >= 0 && xc->why == CD_WHY_SUPERSEDED
				     ? jstr(cd_citizen_str(c, c->ev[xc->by_ev].id_off)) : json_null());
	SET(o, "note", jstr(xc->note));
	return o;
}

static json_t *json_ob(const cd_explanation *x, const cd_xob *xo)
{
	json_t *o = json_object(), *cv = json_array();
	const cd_obdef *def = xo->def;

	SET(o, "obligationId", jstr(xo->oid));
	SET(o, "definitionId", jstr(def->id));
	SET(o, "ruleset", jstr(xo->rs ? xo->rs->id : ""));
	SET(o, "rulesetVersion", json_integer(xo->rs ? xo->rs->version : 0));
	SET(o, "kind", jstr(cd_ob_kind_name(xo->rule->kind)));
	SET(o, "severity", jstr(severity_name(def->severity)));
	SET(o, "basis", def->basis ? jstr(cd_basis_name(def->basis)) : json_null());
	SET(o, "legalRef", jstr(def->legal_ref));
	SET(o, "description", jstr(def->description));
	SET(o, "aggregateId", def->aggregate[0] ? jstr(def->aggregate) : json_null());
	SET(o, "clock", jstr(xo->cumulative ? "CUMULATIVE" : "CALENDAR"));
	SET(o, "windowStart", jdate(xo->ws));
	SET(o, "windowEnd", jdate(xo->we));
	SET(o, "due", jdate(xo->due));
	SET(o, "required", json_integer(xo->required));
	SET(o, "held", json_integer(xo->held));
	SET(o, "status", jstr(cd_obstatus_name(xo->status)));
	SET(o, "cancelReason", xo->status == CD_OB_CANCELLED ? jstr(cd_cancel_reason_name(xo->reason)) : json_null());
	SET(o, "breachAt", jinstant(xo->breach_at));
	SET(o, "decidedAt", jinstant(xo->decided_at));
	SET(o, "reason", jstr(xo->why));
	SET(o, "reported", json_reported(xo->said));
	for (size_t i = 0; i < xo->n_cv; i++)
		json_array_append_new(cv, json_conv(x, &x->conv[xo->cv0 + i]));
	SET(o, "conversations", cv);
	SET(o, "conversationsNotListed", json_integer((json_int_t)xo->n_cv_more));
	return o;
}

static json_t *json_period(const cd_explanation *x, size_t pi)
{
	const cd_xperiod *p = &x->per[pi];
	const cd_citizen *c = x->c;
	json_t *o = json_object(), *a, *fl = json_object();

	SET(o, "index", json_integer((json_int_t)pi));
	SET(o, "start", jdate(p->start));
	SET(o, "end", jdate(p->end));
	SET(o, "endReason", p->end_ev >= 0 ? jstr(cd_cancel_reason_name(p->end_reason)) : json_null());
	SET(o, "startEventId", jstr(cd_citizen_str(c, c->ev[p->start_ev].id_off)));
	SET(o, "endEventId", p->end_ev >= 0 ? jstr(cd_citizen_str(c, c->ev[p->end_ev].id_off)) : json_null());
	SET(o, "startedBy", jstr(p->by_registration ? "REGISTRATION" : "BENEFIT_CHANGE"));
	SET(o, "benefitNamed", jstr(cd_benefit_name(p->named)));
	SET(o, "benefit", jstr(cd_benefit_name(p->benefit)));
	SET(o, "benefitShown", jstr(cd_benefit_name(p->shown)));
	SET(o, "renamedFrom", jdate(p->shown_from));
	if (p->merge) {
		a = json_object();
		SET(a, "benefit", jstr(cd_benefit_name(p->merge->benefit)));
		SET(a, "into", jstr(cd_benefit_name(p->merge->into)));
		SET(a, "from", jdate(p->merge->from));
		SET(a, "legalRef", jstr(p->merge->legal_ref));
		SET(o, "merge", a);
	} else
		SET(o, "merge", json_null());
	SET(o, "category", p->category ? jstr(cd_category_name(p->category)) : json_null());
	SET(o, "categoryUsed", p->category_used ? jstr(cd_category_name(p->category_used)) : json_null());
	SET(o, "municipality", jstr(p->muni));
	SET(o, "firstContact", jdate(p->first_contact));
	SET(fl, "municipalContactCourse", json_boolean(p->flags & CD_PF_COURSE));
	SET(fl, "sickShortAbsenceExpected", json_boolean(p->flags & CD_PF_SICK_SHORT));
	SET(fl, "seasonal", json_boolean(p->seasonal));
	SET(fl, "optedOutAtStart", json_boolean(p->optout_start));
	SET(fl, "optedOut", json_boolean(p->optout_now));
	SET(fl, "optIn", jdate(p->optin));
	SET(fl, "optOut", jdate(p->optout));
	SET(o, "flags", fl);
	a = json_array();
	for (size_t i = 0; i < p->n_iv; i++) {
		json_t *v = json_object();
		SET(v, "from", jdate(x->iv[p->iv0 + i].from));
		SET(v, "to", jdate(x->iv[p->iv0 + i].to));
		json_array_append_new(a, v);
	}
	SET(o, "registered", a);
	SET(o, "priorDays", json_integer(p->prior_days));
	if (p->national) {
		a = json_object();
		SET(a, "id", jstr(p->national->id));
		SET(a, "version", json_integer(p->national->version));
		SET(a, "title", jstr(p->national->title));
		SET(o, "national", a);
	} else
		SET(o, "national", json_null());
	if (p->law) {
		a = json_object();
		SET(a, "id", jstr(p->law->id));
		SET(a, "from", jdate(p->law->from));
		SET(a, "reached", json_boolean(p->law_cut));
		SET(o, "lawReaching", a);
	} else
		SET(o, "lawReaching", json_null());
	SET(o, "rulesReason", jstr(p->rules_why));
	SET(o, "benefitNote", *p->benefit_why ? jstr(p->benefit_why) : json_null());
	a = json_array();
	for (size_t i = 0; i < p->n_ov; i++) {
		const cd_xovl *v = &x->ovl[p->ov0 + i];
		json_t *ov = json_object();
		SET(ov, "id", jstr(v->rs->id));
		SET(ov, "applies", json_boolean(v->applies));
		SET(ov, "reason", jstr(v->why));
		json_array_append_new(a, ov);
	}
	SET(o, "overlays", a);
	a = json_array();
	for (size_t i = 0; i < p->n_ob; i++)
		json_array_append_new(a, json_ob(x, &x->ob[p->ob0 + i]));
	SET(o, "obligations", a);
	a = json_array();
	for (size_t i = 0; i < p->n_no; i++) {
		const cd_xnot *n = &x->nop[p->no0 + i];
		json_t *v = json_object();
		SET(v, "definitionId", jstr(n->def->id));
		SET(v, "ruleset", jstr(n->rs->id));
		SET(v, "reason", jstr(n->why));
		json_array_append_new(a, v);
	}
	SET(o, "notOpened", a);
	return o;
}

static int print_json(FILE *f, const char *id, const cd_explanation *x)
{
	const cd_citizen *c = x->c;
	json_t *root = json_object(), *a, *cfg = json_object();
	char *s;
	int rc;

	SET(root, "citizenId", jstr(id));
	SET(root, "asOf", jinstant(x->at));
	SET(root, "clock", jinstant(c->clock));
	SET(root, "nextChange", jinstant(x->next_fire));
	SET(cfg, "graceDays", json_integer(x->grace_days));
	SET(cfg, "warnDays", json_integer(x->warn_lead_days));
	SET(cfg, "lawTransition", jstr(x->law_transition == CD_LAW_COMMENCEMENT ? "commencement" : "period-start"));
	SET(root, "config", cfg);
	a = json_array();
	for (size_t i = 0; i < x->n_tl; i++) {
		const cd_xev *t = &x->tl[i];
		const cd_hev *h = &c->ev[t->ev];
		json_t *v = json_object();
		SET(v, "eventId", jstr(cd_citizen_str(c, h->id_off)));
		SET(v, "occurredAt", jinstant(h->occurred));
		SET(v, "date", jdate(h->date));
		SET(v, "kind", jstr(kind_word(h)));
		SET(v, "effect", jstr(cd_fx_name(t->fx)));
		SET(v, "period", jlong(t->period));
		SET(v, "startedPeriod", jlong(t->period2));
		SET(v, "text", jstr(t->what));
		json_array_append_new(a, v);
	}
	SET(root, "timeline", a);
	a = json_array();
	for (size_t i = 0; i < x->n_per; i++)
		json_array_append_new(a, json_period(x, i));
	SET(root, "periods", a);
	a = json_array();
	for (size_t i = 0; i < x->n_ex; i++) {
		const cd_xex *xe = &x->ex[i];
		json_t *v = json_object();
		SET(v, "eventId", jstr(cd_citizen_str(c, c->ev[xe->ev].id_off)));
		SET(v, "date", jdate(c->ev[xe->ev].date));
		SET(v, "scope", jstr(cd_scope_name(xe->scope)));
		SET(v, "revoked", json_boolean(xe->revoked));
		SET(v, "period", jlong(xe->period));
		SET(v, "effect", json_boolean(xe->effect));
		SET(v, "members", json_integer((json_int_t)xe->n_members));
		SET(v, "reason", jstr(xe->why));
		json_array_append_new(a, v);
	}
	SET(root, "exemptions", a);
	a = json_array();
	for (size_t i = 0; i < x->n_gone; i++) {
		const cd_obst *ob = &c->ob[x->gone[i]];
		json_t *v = json_object();
		SET(v, "obligationId", jstr(cd_citizen_str(c, ob->oid_off)));
		SET(v, "periodStart", jdate(ob->pstart));
		SET(v, "reported", json_reported(ob));
		json_array_append_new(a, v);
	}
	SET(root, "noLongerObligations", a);
	s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!s) {
		cd_log(CD_LOG_ERROR, "out of memory", NULL);
		return -1;
	}
	rc = fputs(s, f) < 0 || fputc('\n', f) == EOF ? -1 : 0;
	free(s);
	return rc;
}

/* ---- text -------------------------------------------------------------------------- */

static void print_conv(FILE *f, const cd_explanation *x, const cd_xconv *xc)
{
	const cd_hev *h = &x->c->ev[xc->ev];
	char d[CD_DATE_STRLEN];

	fprintf(f, "        %s  %-10s %-12s %-14s %-5s  %s\n", cd_date_format(h->date, d),
		cd_citizen_str(x->c, h->conv_off), cd_held_by_name(h->held_by), cd_form_name(h->form),
		(h->flags & CD_HF_JOINT) ? "joint" : "", xc->note);
}

static void print_ob(FILE *f, const cd_explanation *x, const cd_xob *xo)
{
	const cd_obdef *def = xo->def;
	char a[CD_DATE_STRLEN], b[CD_DATE_STRLEN], t[40];
	size_t hidden = 0;

	fprintf(f, "    %s  %s", xo->oid, cd_obstatus_name(xo->status));
	if (xo->status == CD_OB_CANCELLED)
		fprintf(f, " (%s)", cd_cancel_reason_name(xo->reason));
	fputc('\n', f);
	fprintf(f, "      window %s … %s, due %s, held %d of %d (%s clock)\n",
		xo->ws == CD_DATE_NONE ? "not begun" : cd_date_format(xo->ws, a),
		xo->we == CD_DATE_NONE ? "open" : cd_date_format(xo->we, b),
		xo->due == CD_DATE_NONE ? "none yet" : cd_date_format(xo->due, t), xo->held, xo->required,
		xo->cumulative ? "cumulative" : "calendar");
	fprintf(f, "      %s\n", xo->why);
	fprintf(f, "      rule: %s, %s", cd_ob_kind_name(xo->rule->kind), severity_name(def->severity));
	if (def->aggregate[0])
		fprintf(f, ", a member of %s", def->aggregate);
	if (strcmp(def->id, xo->oid))
		fprintf(f, " (an instance of %s)", def->id);
	fprintf(f, ": %s\n", def->description);
	fprintf(f, "      basis: %s\n", def->basis ? cd_basis_words(def->basis) : "not stated by the rule data");
	fprintf(f, "      legal reference: %s\n", *def->legal_ref ? def->legal_ref : "none given");
	if (xo->said) {
		fprintf(f, "      reported: %s", cd_obstatus_name(xo->said->status));
		if (xo->said->status == CD_OB_CANCELLED)
			fprintf(f, " (%s)", cd_cancel_reason_name(xo->said->reason));
		fprintf(f, ", %u output%s\n", xo->said->transitions, xo->said->transitions == 1 ? "" : "s");
	} else
		fprintf(f, "      reported: never\n");
	if (!xo->n_cv) {
		fprintf(f, "      conversations: %s\n", xo->ws == CD_DATE_NONE ? "none can count until its window begins"
									 : "none in or near its window");
		return;
	}
	fprintf(f, "      conversations:\n");
	for (size_t i = 0; i < xo->n_cv; i++) {
		const cd_xconv *xc = &x->conv[xo->cv0 + i];
		/* a schedule slot lists the other slots' conversations in JSON only */
		if (xc->why == CD_WHY_OTHER_SLOT || xc->why == CD_WHY_BEYOND_SLOTS) {
			hidden++;
			continue;
		}
		print_conv(f, x, xc);
	}
	if (hidden)
		fprintf(f, "        (%zu conversation%s of other slots)\n", hidden, hidden == 1 ? "" : "s");
	if (xo->n_cv_more)
		fprintf(f, "        (%zu more not listed)\n", xo->n_cv_more);
}

static void print_period(FILE *f, const cd_explanation *x, size_t pi)
{
	const cd_xperiod *p = &x->per[pi];
	const cd_citizen *c = x->c;
	char a[CD_DATE_STRLEN], b[CD_DATE_STRLEN];

	fprintf(f, "\nperiod %zu: %s", pi + 1, cd_benefit_name(p->benefit));
	if (p->shown_from != CD_DATE_NONE)
		fprintf(f, " (named %s from %s)", cd_benefit_name(p->shown), cd_date_format(p->shown_from, a));
	fprintf(f, ", %s … ", cd_date_format(p->start, a));
	if (p->end_ev >= 0)
		fprintf(f, "%s (%s, event %s)\n", cd_date_format(p->end, b), cd_cancel_reason_name(p->end_reason),
			cd_citizen_str(c, c->ev[p->end_ev].id_off));
	else
		fprintf(f, "(running)\n");
	fprintf(f, "  started by %s (%s)", cd_citizen_str(c, c->ev[p->start_ev].id_off),
		p->by_registration ? "a Registration" : "a BenefitChange");
	if (p->muni[0])
		fprintf(f, ", municipality %s", p->muni);
	fprintf(f, ", category %s", p->category ? cd_category_name(p->category) : "none");
	if (p->benefit != CD_DAGPENGE)
		fprintf(f, ", first contact %s", cd_date_format(p->first_contact, a));
	fputc('\n', f);
	if (p->benefit == CD_DAGPENGE) {
		fprintf(f, "  registered:");
		for (size_t i = 0; i < p->n_iv; i++) {
			const cd_xiv *v = &x->iv[p->iv0 + i];
			fprintf(f, "%s %s … %s", i ? "," : "", cd_date_format(v->from, a),
				v->to == CD_DATE_NONE ? "" : cd_date_format(v->to, b));
		}
		fprintf(f, "; %d day%s carried over\n", p->prior_days, p->prior_days == 1 ? "" : "s");
		if (p->optout_now || p->optout_start || p->optout != CD_DATE_NONE)
			fprintf(f, "  a-kasse participation: %s%s%s\n",
				p->optout_now ? "opted out" : "opted in",
				p->optin != CD_DATE_NONE ? ", joint obligations from " : ", no joint obligations",
				p->optin != CD_DATE_NONE ? cd_date_format(p->optin, a) : "");
		if (p->seasonal)
			fprintf(f, "  seasonal\n");
	}
	if (p->flags & CD_PF_COURSE)
		fprintf(f, "  in a municipal contact course (from its starting input)\n");
	if (p->flags & CD_PF_SICK_SHORT)
		fprintf(f, "  a short absence is expected (from its starting input)\n");
	fprintf(f, "  rules: %s\n", p->rules_why);
	if (*p->benefit_why)
		fprintf(f, "  benefit: %s\n", p->benefit_why);
	if (!p->n_ov)
		fprintf(f, "  overlays: none enabled for municipality %s\n", p->muni[0] ? p->muni : "(none given)");
	for (size_t i = 0; i < p->n_ov; i++) {
		const cd_xovl *v = &x->ovl[p->ov0 + i];
		fprintf(f, "  overlay %s: %s\n", v->rs->id, v->why);
	}
	fprintf(f, "  obligations:%s\n", p->n_ob ? "" : " none");
	for (size_t i = 0; i < p->n_ob; i++)
		print_ob(f, x, &x->ob[p->ob0 + i]);
	if (p->n_no) {
		fprintf(f, "  not opened:\n");
		for (size_t i = 0; i < p->n_no; i++)
			fprintf(f, "    %s: %s\n", x->nop[p->no0 + i].def->id, x->nop[p->no0 + i].why);
	}
}

static int print_text(FILE *f, const char *id, const cd_explanation *x)
{
	const cd_citizen *c = x->c;
	char t[40], u[40];

	fprintf(f, "citizen %s, as of %s Europe/Copenhagen", id, local_time(x->at, t, sizeof(t)));
	if (c->clock != CD_INSTANT_NONE && c->clock != x->at)
		fprintf(f, " (its own clock: %s)", local_time(c->clock, u, sizeof(u)));
	fprintf(f, "\nengine: grace %d day%s, warnings %s, law transition %s\n", x->grace_days,
		x->grace_days == 1 ? "" : "s", x->warn_lead_days ? "on" : "off",
		x->law_transition == CD_LAW_COMMENCEMENT ? "commencement" : "period-start");
	if (x->warn_lead_days)
		fprintf(f, "        (warnings %d days before a due date)\n", x->warn_lead_days);
	if (x->next_fire != CD_INSTANT_NONE)
		fprintf(f, "next change by itself: %s\n", local_time(x->next_fire, t, sizeof(t)));
	else
		fprintf(f, "nothing changes by itself from here\n");
	fprintf(f, "\ntimeline:\n");
	for (size_t i = 0; i < x->n_tl; i++) {
		const cd_hev *h = &c->ev[x->tl[i].ev];
		fprintf(f, "  %s  %-8s %s\n", local_time(h->occurred, t, sizeof(t)), cd_citizen_str(c, h->id_off),
			x->tl[i].what);
	}
	if (!x->n_per)
		fprintf(f, "\nno periods: nothing has started one\n");
	for (size_t i = 0; i < x->n_per; i++)
		print_period(f, x, i);
	if (x->n_ex) {
		fprintf(f, "\nexemptions:\n");
		for (size_t i = 0; i < x->n_ex; i++) {
			const cd_xex *xe = &x->ex[i];
			char d[CD_DATE_STRLEN];
			fprintf(f, "  %s  %-8s %s%s: %s\n", cd_date_format(c->ev[xe->ev].date, d),
				cd_citizen_str(c, c->ev[xe->ev].id_off), cd_scope_name(xe->scope),
				xe->revoked ? " revoked" : "", xe->why);
		}
	}
	if (x->n_gone) {
		fprintf(f, "\nreported earlier, no longer obligations (superseded by later input, D7):\n");
		for (size_t i = 0; i < x->n_gone; i++) {
			const cd_obst *ob = &c->ob[x->gone[i]];
			char d[CD_DATE_STRLEN];
			fprintf(f, "  %s (period starting %s): last reported %s", cd_citizen_str(c, ob->oid_off),
				cd_date_format(ob->pstart, d), cd_obstatus_name(ob->status));
			if (ob->status == CD_OB_CANCELLED)
				fprintf(f, " (%s)", cd_cancel_reason_name(ob->reason));
			fputc('\n', f);
		}
	}
	return ferror(f) ? -1 : 0;
}

/* ---- the command ------------------------------------------------------------------- */

int cmd_explain(int argc, char **argv)
{
	explain_opts o = { .in_fmt = CD_LOG_AUTO, .until = CD_INSTANT_NONE };
	cd_engine *eng = NULL;
	cd_citizen c;
	cd_explanation x;
	cd_instant floor = CD_INSTANT_NONE, at;
	cd_err err = { "", 0 };
	const char *id;
	int status = 1, rc;

	cd_citizen_init(&c);
	cd_explanation_init(&x);
	cd_config_init(&o.cfg);
	cd_opt_engine_init(&o.eo);
	if ((rc = cd_opt_parse(&explain_cmd, argc, argv, &o)) != 0) {
		status = rc > 0 ? 0 : 1;
		goto out;
	}
	if (optind + 1 != argc) {
		/* the id itself is never logged */
		cd_log(CD_LOG_ERROR, optind >= argc ? "missing argument: CITIZEN" : "more than one argument: one CITIZEN",
		       NULL);
		usage(stderr);
		goto out;
	}
	id = argv[optind];
	if (!*id || strlen(id) > CD_MAX_ID_LEN) {
		cd_log(CD_LOG_ERROR, "bad argument: CITIZEN must be 1 … 128 bytes", NULL);
		goto out;
	}
	if (!!o.input == !!o.redis) {
		cd_log(CD_LOG_ERROR, o.input ? "options exclude each other" : "one of the options is required", "option",
		       "--input", "other", "--redis", NULL);
		goto out;
	}
	if (o.redis && o.until != CD_INSTANT_NONE) {
		cd_log(CD_LOG_ERROR, "option only with --input", "option", "--until", NULL);
		goto out;
	}
	if (cd_opt_engine_open(&o.eo, &eng, &err) < 0) {
		cd_log(CD_LOG_ERROR, "cannot start", "error", err.msg, NULL);
		goto out;
	}
	rc = o.input ? from_log(&o, eng, id, &c, &floor) : from_redis(&o, id, &c, &floor);
	if (rc < 0)
		goto out;
	if (rc == 0) {
		cd_log(CD_LOG_ERROR, "citizen not found", "source", o.input ? "input" : "redis", NULL);
		goto out;
	}
	at = c.clock;
	if (floor != CD_INSTANT_NONE && (at == CD_INSTANT_NONE || floor > at))
		at = floor;
	if (cd_explain(eng, &c, at, &x, &err) < 0) {
		cd_log(CD_LOG_ERROR, "cannot explain", "error", err.msg, NULL);
		goto out;
	}
	if ((o.json ? print_json(stdout, id, &x) : print_text(stdout, id, &x)) < 0 || fflush(stdout) != 0 ||
	    ferror(stdout)) {
		cd_log(CD_LOG_ERROR, "cannot write output", NULL);
		goto out;
	}
	status = 0;
out:
	cd_explanation_release(&x);
	cd_citizen_release(&c);
	cd_engine_free(eng);
	cd_opt_engine_release(&o.eo);
	cd_config_release(&o.cfg);
	return status;
}
