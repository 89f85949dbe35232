/*
 * aggregates.c — `contactd aggregates`: the live aggregate stage's cohorts as
 * they stand, read from Redis, for people (and, with --format json, scripts).
 *
 * Read-only: it connects as the stage does (store tag 'a', the same prefix
 * and db), lists the stage's partitions (cd_redis_partitions), reads each back
 * into an aggregator of its own (cd_aggstage_read: HSCANs, nothing written)
 * and walks its cohorts (cd_agg_each_cohort). Every cohort lives in exactly
 * one members partition (the topic is keyed by aggregate key), so the rows of
 * all partitions together are every cohort once; they are printed in cohort
 * order (aggregate id, key kind, key, period start), whatever the partition.
 *
 * A cohort is closed once the stage evaluated it (its standing status, MET or
 * BREACHED, is what the last AggregateEvent said) and open before (with the
 * day it will be evaluated). "Needed" is what would still change a BREACHED
 * into a MET among the members decided so far: SHARE, more MET members
 * (required = ceil(share × decided)); AVERAGE, more conversations held.
 *
 * The rules, --grace and --warn-days must be the stage's: the rules name the
 * aggregates its state refers to, grace sets the evaluation instants shown.
 * The partitions are read one HSCAN at a time, not as one snapshot: on a
 * stage that is committing, a cohort may be a batch behind its members.
 */
#include "cmd/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/opts.h"
#include "consumer/aggstage.h"
#include "consumer/config.h"
#include "consumer/redis_store.h"
#include "proto/codec.h"
#include "proto/rules_json.h"
#include "state/aggregate.h"
#include "state/date.h"
#include "util/buf.h"
#include "util/log.h"


/* ---- options --------------------------------------------------------------------- */

enum { OPT_KEY = CD_OPT_OWN, OPT_PERIOD,
       OPT_AGGREGATE, OPT_OPEN, OPT_CLOSED, OPT_FORMAT };

static const struct option longopts[] = {
	CD_OPT_REDIS_LONGOPTS,
	{ "key", required_argument, NULL, OPT_KEY },
	{ "period", required_argument, NULL, OPT_PERIOD },
	{ "aggregate", required_argument, NULL, OPT_AGGREGATE },
	{ "open", no_argument, NULL, OPT_OPEN },
	{ "closed", no_argument, NULL, OPT_CLOSED },
	{ "format", required_argument, NULL, OPT_FORMAT },
	/* only the engine options that change what the stage's state means */
	{ "rules", required_argument, NULL, CD_OPT_RULES },
	{ "overlays-config", required_argument, NULL, CD_OPT_OVERLAYS_CONFIG },
	{ "overlays", required_argument, NULL, CD_OPT_OVERLAYS },
	{ "grace", required_argument, NULL, CD_OPT_GRACE },
	{ "warn-days", required_argument, NULL, CD_OPT_WARN },
	CD_OPT_LOG_LEVEL_LONGOPT,
	CD_OPT_HELP_LONGOPT,
	{ NULL, 0, NULL, 0 },
};

typedef struct agg_opts {
	cd_config cfg;               /* redis address, user, password file, db, prefix: run's rows parse them */
	cd_opt_engine eo;
	int key_kind;                /* --key kommune:/akasse:; 0: either kind */
	const char *key;             /* NULL: every key */
	char period;                 /* --period: 'q', 'm' or 'y'; 0: every period */
	cd_date period_start;
	const char *aggregate;       /* NULL: every aggregate */
	int open, closed, json;
} agg_opts;

/* "2027-Q1", "2027-03" or "2027": the kind of period and its first day. 0 / -1. */
static int parse_period(const char *s, char *kind, cd_date *start)
{
	size_t n = strlen(s);
	int y;

	if (n < 4 || strspn(s, "0123456789") < 4 || (y = atoi(s)) < 1 || (n > 4 && s[4] != '-'))
		return -1;
	if (n == 4) {
		*kind = 'y';
		*start = cd_date_from_ymd(y, 1, 1);
		return 0;
	}
	if (n == 7 && s[5] == 'Q' && s[6] >= '1' && s[6] <= '4') {
		*kind = 'q';
		*start = cd_date_from_ymd(y, 3 * (s[6] - '1') + 1, 1);
		return 0;
	}
	if (n == 7 && strspn(s + 5, "0123456789") == 2) {
		int m = atoi(s + 5);
		if (m < 1 || m > 12)
			return -1;
		*kind = 'm';
		*start = cd_date_from_ymd(y, m, 1);
		return 0;
	}
	return -1;
}

static int parse_option(void *ctx, int c, char *arg)
{
	agg_opts *o = ctx;

	switch (c) {
	case CD_OPT_REDIS:
	case CD_OPT_REDIS_USER:
	case CD_OPT_REDIS_PASSWORD_FILE:
	case CD_OPT_REDIS_DB:
	case CD_OPT_REDIS_PREFIX:
	case CD_OPT_CITIZEN_KEY_FILE:
		return cd_opt_redis_option(&o->cfg, c, arg);
	case OPT_KEY:
		o->key_kind = 0;
		o->key = arg;
		if (!strncmp(arg, "kommune:", 8)) {
			o->key_kind = CD_AGG_KEY_MUNICIPALITY;
			o->key = arg + 8;
		} else if (!strncmp(arg, "akasse:", 7)) {
			o->key_kind = CD_AGG_KEY_AKASSE;
			o->key = arg + 7;
		}
		if (!*o->key)
			return cd_opt_bad("--key", arg, "a code (101, A901) or kommune:CODE / akasse:CODE");
		return 0;
	case OPT_PERIOD:
		if (parse_period(arg, &o->period, &o->period_start) < 0)
			return cd_opt_bad("--period", arg, "a quarter YYYY-Qn (2027-Q1), a month YYYY-MM (2027-03) "
							   "or a year YYYY (2027)");
		return 0;
	case OPT_AGGREGATE:
		o->aggregate = arg;
		return 0;
	case OPT_OPEN:
		o->open = 1;
		return 0;
	case OPT_CLOSED:
		o->closed = 1;
		return 0;
	case OPT_FORMAT:
		return cd_opt_text_or_json(arg, &o->json);
	default:
		return cd_opt_engine_option(&o->eo, c, arg);
	}
}

static void usage(FILE *f)
{
	long def[2], lo[3], hi[3];

	cd_opt_run_int("grace", &def[0], &lo[0], &hi[0]);
	cd_opt_run_int("warn-days", &def[1], &lo[1], &hi[1]);
	cd_opt_run_int("redis-db", NULL, &lo[2], &hi[2]);
	fprintf(f,
		"usage: contactd aggregates [--redis HOST:PORT] [--key K] [--period P] [--aggregate ID]\n"
		"                           [--open | --closed] [--format text|json]\n"
		"The live aggregate stage's cohorts as they stand in Redis (read only): per cohort its\n"
		"members decided, met, lapsed and exempted, the share met (or the average held) so far,\n"
		"what is required and what is still needed; per stage partition its aggregate clock and\n"
		"the member records still waiting for it.\n"
		"      --redis HOST:PORT     the stage's Redis ([::1]:6379 for IPv6; default 127.0.0.1:6379)\n"
		"      --redis-user USER     Redis ACL user (default: none)\n"
		"      --redis-password-file F\n"
		"                            the file holding the Redis password, one line (default\n"
		"                            $" CD_OPT_REDIS_PASSWORD_FILE_ENV "); without one, the password is\n"
		"                            $" CD_OPT_REDIS_PASSWORD_ENV ". Never the password on the command line\n"
		"      --redis-db N          Redis database number, %ld … %ld (default 0)\n"
		"      --redis-prefix P      prefix of every Redis key (default contactd)\n"
		"      --key K               one key: a code (101, A901: either kind) or kommune:101, akasse:A901\n"
		"      --period P            cohorts of exactly this reporting period: a quarter 2027-Q1,\n"
		"                            a month 2027-03 or a year 2027\n"
		"      --aggregate ID        one aggregate, e.g. dk-2026/kommune-share\n"
		"      --open                only cohorts not evaluated yet\n"
		"      --closed              only cohorts evaluated (standing status MET or BREACHED)\n"
		"      --format F            text (aligned columns and totals) or json (one object per cohort\n"
		"                            and line; the partitions are then logged on stderr) (default text)\n"
		"      --rules DIR           the stage's ruleset directory (default $CONTACTD_RULES, else the\n"
		"                            installed one)\n"
		"      --overlays-config F   the stage's overlay configuration (default DIR/overlays.json)\n"
		"      --overlays SPEC       'none' or OVERLAY@MUNI,... as the stage takes them (overlays change\n"
		"                            no aggregate figure: accepted so that the stage's options can be reused)\n"
		"      --grace DAYS          the stage's grace, %ld … %ld: sets the evaluation instants (default %ld)\n"
		"      --warn-days DAYS      the stage's warning lead time, %ld … %ld (default %ld)\n"
		"      --log-level LEVEL     debug, info, warn, error (default info)\n"
		"Exit status 0, also when no cohort matches (\"no cohorts\"); 1 when Redis cannot be reached,\n"
		"holds no aggregate stage, or its state does not decode.\n",
		lo[2], hi[2], lo[0], hi[0], def[0], lo[1], hi[1], def[1]);
}

static const cd_opt_cmd aggregates_cmd = { "h", longopts, parse_option, usage, 0 };

/* ---- the cohorts ------------------------------------------------------------------- */

typedef struct row {
	cd_agg_cohort c;             /* c.key and c.def point into the partition's aggregator and the rules */
	int32_t part;
	cd_instant clock;            /* the partition's aggregate clock */
} row;

/* One stage partition as read. */
typedef struct stage_part {
	int32_t p;
	cd_instant clock;            /* its aggregate clock */
	size_t pending;              /* member records waiting for that clock */
} stage_part;

typedef struct collect {
	const agg_opts *o;
	int32_t part;
	cd_instant clock;
	row *rows;
	size_t n, cap;
	int oom;
} collect;

static bool wanted(const agg_opts *o, const cd_agg_cohort *c)
{
	if (o->aggregate && strcmp(c->def->id, o->aggregate))
		return false;
	if (o->key && (strcmp(c->key, o->key) || (o->key_kind && c->key_kind != o->key_kind)))
		return false;
	if (o->period && (c->def->period != o->period || c->period_start != o->period_start))
		return false;
	if ((o->open && c->evaluated) || (o->closed && !c->evaluated))
		return false;
	return true;
}

static void on_cohort(void *ctx, const cd_agg_cohort *c)
{
	collect *x = ctx;

	if (x->oom || !wanted(x->o, c))
		return;
	if (cd_array_grow((void **)&x->rows, &x->cap, x->n + 1, sizeof(*x->rows)) < 0) {
		x->oom = 1;
		return;
	}
	x->rows[x->n++] = (row){ *c, x->part, x->clock };
}

static int row_cmp(const void *pa, const void *pb)
{
	const cd_agg_cohort *a = &((const row *)pa)->c, *b = &((const row *)pb)->c;
	int r = strcmp(a->def->id, b->def->id);

	if (r)
		return r;
	if (a->key_kind != b->key_kind)
		return a->key_kind < b->key_kind ? -1 : 1;
	if ((r = strcmp(a->key, b->key)))
		return r;
	return a->period_start < b->period_start ? -1 : a->period_start > b->period_start;
}

/* "2027-Q1", "2027-03" or "2027". */
static const char *period_name(const cd_agg_cohort *c, char *buf, size_t len)
{
	int y, m, d;

	cd_date_to_ymd(c->period_start, &y, &m, &d);
	if (c->def->period == 'm')
		snprintf(buf, len, "%04d-%02d", y, m);
	else if (c->def->period == 'y')
		snprintf(buf, len, "%04d", y);
	else
		snprintf(buf, len, "%04d-Q%d", y, (m - 1) / 3 + 1);
	return buf;
}

/* What would still make it MET among the members decided so far (see the top). */
static int64_t needed(const cd_agg_cohort *c)
{
	int64_t n = c->def->kind == CD_AGG_AVERAGE ? c->sum_need - c->sum_held : (int64_t)c->required - c->met;
	return n > 0 ? n : 0;
}

/* The share met in tenths of a per cent, rounded half up; -1 without members. */
static int share_tenths(const cd_agg_cohort *c)
{
	return c->members ? (int)((2000 * (int64_t)c->met + c->members) / (2 * (int64_t)c->members)) : -1;
}

static const char *instant_name(cd_instant t, char *buf)
{
	if (t == CD_INSTANT_NONE)
		return strcpy(buf, "none");
	cd_instant_format_rfc3339(t, buf);
	return buf;
}

/* ---- json ---------------------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_instant(FILE *f, cd_instant t)
{
	char buf[CD_INSTANT_STRLEN];

	if (t == CD_INSTANT_NONE) {
		fputs("null", f);
		return;
	}
	cd_instant_format_rfc3339(t, buf);
	json_str(f, buf);
}

/*
 * One cohort, one line. Field names are stable: scripts read them. SHARE:
 * sharePct, targetPct, required (members), needed (members); AVERAGE: average
 * and required (conversations per member), conversationsHeld, conversationsOwed,
 * needed (conversations).
 */
static void print_json(FILE *f, const row *r)
{
	const cd_agg_cohort *c = &r->c;
	char key[96], per[16], ps[CD_DATE_STRLEN], pe[CD_DATE_STRLEN];
	int t = share_tenths(c);

	cd_codec_aggregate_key(c->key_kind, c->key, key, sizeof(key));
	fputs("{\"aggregateId\":", f);
	json_str(f, c->def->id);
	fprintf(f, ",\"kind\":\"%s\",\"keyKind\":\"%s\",\"key\":", c->def->kind == CD_AGG_AVERAGE ? "AVERAGE" : "SHARE",
		c->key_kind == CD_AGG_KEY_AKASSE ? "AKASSE" : "MUNICIPALITY");
	json_str(f, c->key);
	fputs(",\"aggregateKey\":", f);
	json_str(f, key);
	fprintf(f, ",\"period\":\"%s\",\"periodStart\":\"%s\",\"periodEnd\":\"%s\",\"state\":\"%s\",\"status\":",
		period_name(c, per, sizeof(per)), cd_date_format(c->period_start, ps), cd_date_format(c->period_end, pe),
		c->evaluated ? "closed" : "open");
	if (c->evaluated)
		fprintf(f, "\"%s\"", cd_agg_status_name(c->last_status));
	else
		fputs("null", f);
	fputs(",\"evalAt\":", f);
	json_instant(f, c->eval_at);
	fputs(",\"warnAt\":", f);
	json_instant(f, c->warn_at);
	fprintf(f, ",\"members\":%d,\"met\":%d,\"lapsed\":%d,\"exempted\":%d", c->members, c->met, c->lapsed,
		c->exempted);
	if (c->def->kind == CD_AGG_AVERAGE) {
		fputs(",\"average\":", f);
		if (c->members)
			fprintf(f, "%d.%02d", c->held / 100, c->held % 100);
		else
			fputs("null", f);
		fprintf(f, ",\"required\":%d.%02d,\"conversationsHeld\":%lld,\"conversationsOwed\":%lld",
			c->required / 100, c->required % 100, (long long)c->sum_held, (long long)c->sum_need);
	} else {
		fputs(",\"sharePct\":", f);
		if (t >= 0)
			fprintf(f, "%d.%d", t / 10, t % 10);
		else
			fputs("null", f);
		fprintf(f, ",\"targetPct\":%d,\"required\":%d", c->def->share_pct, c->required);
	}
	fprintf(f, ",\"needed\":%lld,\"meetsNow\":%s,\"partition\":%d,\"clock\":", (long long)needed(c),
		c->meets ? "true" : "false", (int)r->part);
	json_instant(f, r->clock);
	fputs("}\n", f);
}

/* ---- text ------------------------------------------------------------------------------ */

enum { N_COLS = 13 };

static const char *const headers[N_COLS] = { "aggregate", "key", "period", "state", "status", "evaluation",
					     "members", "met", "lapsed", "exempted", "so far", "required", "needed" };
/* numbers right-aligned */
static const bool right[N_COLS] = { false, false, false, false, false, false, true, true, true, true, true, true, true };

typedef char cells[N_COLS][160];   /* room for the longest aggregate id and key */

static void row_cells(const row *r, cells out)
{
	const cd_agg_cohort *c = &r->c;
	char d[CD_DATE_STRLEN];
	int t = share_tenths(c);

	snprintf(out[0], sizeof(out[0]), "%s", c->def->id);
	cd_codec_aggregate_key(c->key_kind, c->key, out[1], sizeof(out[1]));
	period_name(c, out[2], sizeof(out[2]));
	snprintf(out[3], sizeof(out[3]), "%s", c->evaluated ? "closed" : "open");
	snprintf(out[4], sizeof(out[4]), "%s", c->evaluated ? cd_agg_status_name(c->last_status) : "-");
	snprintf(out[5], sizeof(out[5]), "%s", c->eval_at == CD_INSTANT_NONE ? "-" : cd_date_format(cd_cph_date(c->eval_at), d));
	snprintf(out[6], sizeof(out[6]), "%d", c->members);
	snprintf(out[7], sizeof(out[7]), "%d", c->met);
	snprintf(out[8], sizeof(out[8]), "%d", c->lapsed);
	snprintf(out[9], sizeof(out[9]), "%d", c->exempted);
	if (c->def->kind == CD_AGG_AVERAGE) {
		if (c->members)
			snprintf(out[10], sizeof(out[10]), "%d.%02d", c->held / 100, c->held % 100);
		else
			snprintf(out[10], sizeof(out[10]), "-");
		snprintf(out[11], sizeof(out[11]), "%d.%02d", c->required / 100, c->required % 100);
	} else {
		if (t >= 0)
			snprintf(out[10], sizeof(out[10]), "%d.%d%%", t / 10, t % 10);
		else
			snprintf(out[10], sizeof(out[10]), "-");
		snprintf(out[11], sizeof(out[11]), "%d", c->required);
	}
	snprintf(out[12], sizeof(out[12]), "%lld", (long long)needed(c));
}

static void print_line(FILE *f, const char *const *v, const int *w)
{
	for (int i = 0; i < N_COLS; i++)
		fprintf(f, right[i] ? "%s%*s" : "%s%-*s", i ? "  " : "", w[i], v[i]);
	fputc('\n', f);
}

/* The header, a line per cohort, the totals. 0 / -1 (out of memory, logged). */
static int print_text(FILE *f, const row *rows, size_t n)
{
	int w[N_COLS];
	const char *v[N_COLS];
	cells *all = NULL;
	long long need_members = 0, need_conv = 0, members = 0, met = 0, lapsed = 0, exempted = 0;
	size_t closed = 0, n_met = 0;

	for (int i = 0; i < N_COLS; i++)
		w[i] = (int)strlen(headers[i]);
	if (n && !(all = calloc(n, sizeof(*all)))) {
		cd_log(CD_LOG_ERROR, "out of memory", NULL);
		return -1;
	}
	for (size_t k = 0; k < n; k++) {
		const cd_agg_cohort *c = &rows[k].c;
		row_cells(&rows[k], all[k]);
		for (int i = 0; i < N_COLS; i++)
			if ((int)strlen(all[k][i]) > w[i])
				w[i] = (int)strlen(all[k][i]);
		closed += c->evaluated;
		n_met += c->evaluated && c->last_status == CD_AGG_MET;
		members += c->members;
		met += c->met;
		lapsed += c->lapsed;
		exempted += c->exempted;
		if (c->def->kind == CD_AGG_AVERAGE)
			need_conv += needed(c);
		else
			need_members += needed(c);
	}
	print_line(f, headers, w);
	for (size_t k = 0; k < n; k++) {
		for (int i = 0; i < N_COLS; i++)
			v[i] = all[k][i];
		print_line(f, v, w);
	}
	fprintf(f, "total: %zu cohort%s (%zu closed: %zu MET, %zu BREACHED; %zu open); %lld member%s decided: "
		   "%lld met, %lld lapsed, %lld exempted; still needed: %lld member%s",
		n, n == 1 ? "" : "s", closed, n_met, closed - n_met, n - closed, members, members == 1 ? "" : "s", met,
		lapsed, exempted, need_members, need_members == 1 ? "" : "s");
	if (need_conv)
		fprintf(f, ", %lld conversation%s", need_conv, need_conv == 1 ? "" : "s");
	fputc('\n', f);
	free(all);
	return 0;
}

/* ---- the command ---------------------------------------------------------------------- */

int cmd_aggregates(int argc, char **argv)
{
	agg_opts o = { 0 };
	cd_redis *redis = NULL;
	cd_aggregator **aggs = NULL;
	stage_part *sp = NULL;
	int32_t *parts = NULL;
	size_t n_parts = 0, n_aggs = 0;
	collect x = { .o = &o };
	cd_err err = { "", 0 };
	char addr[300];
	int rc, status = 1;

	cd_config_init(&o.cfg);
	cd_opt_engine_init(&o.eo);
	if ((rc = cd_opt_parse(&aggregates_cmd, argc, argv, &o)) != 0) {
		status = rc > 0 ? 0 : 1;
		goto out;
	}
	if (o.open && o.closed) {
		cd_log(CD_LOG_ERROR, "options exclude each other", "option", "--open", "other", "--closed", NULL);
		goto out;
	}
	if (cd_rules_load(o.eo.rules_dir, o.eo.overlays_config, &o.eo.rules, &err) < 0 ||
	    (o.eo.overlays && cd_rules_set_overlays(o.eo.rules, o.eo.overlays, &err) < 0)) {
		cd_log(CD_LOG_ERROR, "cannot load the rules", "rules", o.eo.rules_dir, "error", err.msg, NULL);
		goto out;
	}
	if (o.aggregate && !cd_rules_find_aggregate(o.eo.rules, o.aggregate)) {
		cd_opt_bad("--aggregate", o.aggregate, "an aggregate the rules define, e.g. dk-2026/kommune-share");
		goto out;
	}

	if (!(redis = cd_opt_redis_open(&o.cfg, 'a', addr, sizeof(addr))))
		goto out;
	if (cd_redis_partitions(redis, &parts, &n_parts, &err) < 0) {
		cd_log(CD_LOG_ERROR, "cannot list the aggregate stage's partitions", "redis", addr, "error", err.msg, NULL);
		goto out;
	}
	if (!n_parts) {
		cd_log(CD_LOG_ERROR, "no aggregate stage in Redis (is --redis-prefix or --redis-db the stage's?)",
		       "redis", addr, "prefix", o.cfg.redis_prefix, NULL);
		goto out;
	}
	if (!(aggs = calloc(n_parts, sizeof(*aggs))) || !(sp = calloc(n_parts, sizeof(*sp)))) {
		cd_log(CD_LOG_ERROR, "out of memory", NULL);
		goto out;
	}
	/* everything is read before anything is printed: a failure prints no half report */
	for (size_t i = 0; i < n_parts; i++) {
		char num[24];

		if (i && parts[i] == parts[i - 1])
			continue;                   /* SCAN may return a key twice */
		if (cd_aggstage_read(redis, parts[i], o.eo.rules, o.eo.cfg.grace_days, o.eo.cfg.warn_lead_days,
				     &aggs[n_aggs], &sp[n_aggs].pending, &err) < 0) {
			snprintf(num, sizeof(num), "%d", (int)parts[i]);
			cd_log(CD_LOG_ERROR, "cannot read the aggregate stage's partition", "redis", addr, "partition",
			       num, "error", err.msg, NULL);
			goto out;
		}
		sp[n_aggs].p = x.part = parts[i];
		sp[n_aggs].clock = x.clock = cd_agg_clock(aggs[n_aggs]);
		cd_agg_each_cohort(aggs[n_aggs], on_cohort, &x);
		n_aggs++;
		if (x.oom) {
			cd_log(CD_LOG_ERROR, "out of memory", NULL);
			goto out;
		}
	}
	if (x.n > 1)
		qsort(x.rows, x.n, sizeof(*x.rows), row_cmp);
	if (!o.json)
		printf("stage partitions:\n");
	for (size_t i = 0; i < n_aggs; i++) {
		char clock[CD_INSTANT_STRLEN], num[2][24];

		instant_name(sp[i].clock, clock);
		if (o.json) {
			snprintf(num[0], sizeof(num[0]), "%d", (int)sp[i].p);
			snprintf(num[1], sizeof(num[1]), "%zu", sp[i].pending);
			cd_log(CD_LOG_INFO, "stage partition", "partition", num[0], "clock", clock, "pending", num[1], NULL);
		} else {
			printf("  %d: aggregate clock %s, %zu member record%s pending\n", (int)sp[i].p, clock,
			       sp[i].pending, sp[i].pending == 1 ? "" : "s");
		}
	}
	if (!o.json)
		putchar('\n');
	if (!x.n && o.json)
		cd_log(CD_LOG_INFO, "no cohorts", NULL);   /* stdout stays one object per cohort: none */
	else if (!x.n)
		printf("no cohorts\n");
	else if (o.json)
		for (size_t k = 0; k < x.n; k++)
			print_json(stdout, &x.rows[k]);
	else if (print_text(stdout, x.rows, x.n) < 0)
		goto out;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cd_log(CD_LOG_ERROR, "cannot write output", NULL);
		goto out;
	}
	status = 0;
out:
	free(x.rows);
	for (size_t i = 0; i < n_aggs; i++)
		cd_agg_free(aggs[i]);
	free(aggs);
	free(sp);
	free(parts);
	cd_redis_free(redis);
	cd_opt_engine_release(&o.eo);
	cd_config_release(&o.cfg);
	return status;
}
