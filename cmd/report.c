/*
 * report.c — `contactd report`: compliance per municipality × benefit × month
 * (issue 10; docs/report.md says what every figure means, decisions.md
 * D60–D69 why).
 *
 * Three sources, one tally (cmd/report_tally.c):
 *   --input LOG      the log through the engine here (cmd/driver.c, as
 *                    replay), its outputs counted as they are made and never
 *                    written: the engine options apply, so rules, overlays
 *                    and grace match the run being reported on;
 *   --outputs FILE   outputs already written (replay's output file, or
 *                    consume's), read as cd_log_reader reads them;
 *   --brokers ADDR   the live output topics, from the beginning to where
 *                    they ended when the report started (report_source.c).
 * Then the filters, and one of three forms (cmd/report_format.c): CSV,
 * JSON, or one self-contained HTML page.
 *
 * Memory is the driver's (with --input) plus the tally's, which grows with
 * the obligation instances due within the settle horizon (--settle-days,
 * D69), not with the length of the log (report_tally.h).
 */
#include "cmd/commands.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/driver.h"
#include "cmd/opts.h"
#include "cmd/report_format.h"
#include "cmd/report_source.h"
#include "cmd/report_tally.h"
#include "util/log.h"

#define DEFAULT_MAX_INSTANCES 50000000L
#define DEFAULT_SETTLE_DAYS 180L

/* ---- --input: the driver's outputs into the tally ---------------------------------------- */

static int count_output(void *ctx, const cd_output *o)
{
	cd_err err;
	if (cd_tally_output(ctx, o, &err) < 0) {
		cd_log(CD_LOG_ERROR, "cannot count outputs", "error", err.msg, NULL);
		return -1;
	}
	return 0;
}

static int count_aggregate(void *ctx, const cd_agg_output *a)
{
	cd_err err;
	if (cd_tally_aggregate(ctx, a, &err) < 0) {
		cd_log(CD_LOG_ERROR, "cannot count outputs", "error", err.msg, NULL);
		return -1;
	}
	return 0;
}

/* ---- options --------------------------------------------------------------------- */

enum {
	OPT_INPUT_FORMAT = CD_OPT_OWN, OPT_UNTIL, OPT_OUTPUTS, OPT_DEADLINE, OPT_BREACH, OPT_AGGREGATE, OPT_IDLE,
	OPT_MUNI, OPT_BENEFIT, OPT_RULESET, OPT_FROM, OPT_TO, OPT_FORMAT, OPT_TITLE, OPT_MAX_INSTANCES, OPT_STATS,
	OPT_SETTLE_DAYS,
};

static const struct option longopts[] = {
	{ "input", required_argument, NULL, 'i' },
	{ "input-format", required_argument, NULL, OPT_INPUT_FORMAT },
	{ "until", required_argument, NULL, OPT_UNTIL },
	{ "outputs", required_argument, NULL, OPT_OUTPUTS },
	{ "brokers", required_argument, NULL, 'b' },
	{ "deadline-topic", required_argument, NULL, OPT_DEADLINE },
	{ "breach-topic", required_argument, NULL, OPT_BREACH },
	{ "aggregate-topic", required_argument, NULL, OPT_AGGREGATE },
	{ "idle-ms", required_argument, NULL, OPT_IDLE },
	{ "municipality", required_argument, NULL, OPT_MUNI },
	{ "benefit", required_argument, NULL, OPT_BENEFIT },
	{ "ruleset", required_argument, NULL, OPT_RULESET },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "to", required_argument, NULL, OPT_TO },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "output", required_argument, NULL, 'o' },
	{ "title", required_argument, NULL, OPT_TITLE },
	{ "max-instances", required_argument, NULL, OPT_MAX_INSTANCES },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "settle-days", required_argument, NULL, OPT_SETTLE_DAYS },
	CD_OPT_ENGINE_LONGOPTS,
	CD_OPT_LOG_LEVEL_LONGOPT,
	CD_OPT_HELP_LONGOPT,
	{ NULL, 0, NULL, 0 },
};

typedef struct report_opts {
	const char *input, *outputs, *output, *title;
	cd_log_format in_fmt;
	cd_instant until;
	cd_report_brokers bk;
	cd_kv kv[CD_KAFKA_MAX_KV];
	cd_report_filter f;
	cd_report_format fmt;
	long max_instances, settle_days;
	int stats;
	cd_opt_engine eo;
	int engine_opts;             /* an engine option was given (they need --input) */
} report_opts;

/* "101,147": kommunekoder of 1 … CD_MUNI_LEN digits. */
static int parse_munis(report_opts *o, char *arg)
{
	char *save = NULL, *tok;
	for (tok = strtok_r(arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t n = strlen(tok);
		bool digits = n > 0 && n <= CD_MUNI_LEN;
		for (size_t i = 0; digits && i < n; i++)
			digits = isdigit((unsigned char)tok[i]) != 0;
		if (!digits)
			return cd_opt_bad("--municipality", tok, "kommunekoder of 3 or 4 digits, comma-separated (e.g. 101,147)");
		if (o->f.n_munis == CD_REPORT_MAX_FILTER)
			return cd_opt_bad("--municipality", tok, "at most 64 municipalities");
		memcpy(o->f.munis[o->f.n_munis++], tok, n + 1);
	}
	if (!o->f.n_munis)
		return cd_opt_bad("--municipality", arg, "kommunekoder, comma-separated (e.g. 101,147)");
	return 0;
}

/* "dagpenge,KONTANTHJAELP": benefit names, any case, with or without BENEFIT_. */
static int parse_benefits(report_opts *o, char *arg)
{
	char *save = NULL, *tok;
	for (tok = strtok_r(arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char up[64];
		size_t n = 0;
		int b;
		for (; tok[n] && n < sizeof(up) - 1; n++)
			up[n] = (char)toupper((unsigned char)tok[n]);
		up[n] = '\0';
		b = cd_benefit_parse(strncmp(up, "BENEFIT_", 8) ? up : up + 8);
		if (b <= 0)
			return cd_opt_bad("--benefit", tok, "benefit names, comma-separated (DAGPENGE, KONTANTHJAELP, …)");
		o->f.benefits |= 1u << b;
	}
	if (!o->f.benefits)
		return cd_opt_bad("--benefit", arg, "benefit names, comma-separated (DAGPENGE, KONTANTHJAELP, …)");
	return 0;
}

/* YYYY-MM-DD, or YYYY-MM: its first day (from) or last day (to). */
static int parse_day(const char *name, const char *arg, bool end, cd_date *out)
{
	int y, m;
	char tail;
	if (strlen(arg) == 10 && cd_date_parse(arg, 10, out) == 0)
		return 0;
	if (strlen(arg) == 7 && sscanf(arg, "%4d-%2d%c", &y, &m, &tail) == 2 && m >= 1 && m <= 12 && y >= 1900 &&
	    y <= 2200) {
		*out = cd_date_from_ymd(y, m, 1);
		if (end)
			*out = cd_date_add_months(*out, 1) - 1;
		return 0;
	}
	return cd_opt_bad(name, arg, "a date, YYYY-MM-DD, or a month, YYYY-MM");
}

static int parse_option(void *ctx, int c, char *arg)
{
	report_opts *o = ctx;

	switch (c) {
	case 'i':
		o->input = arg;
		return 0;
	case OPT_INPUT_FORMAT:
		return cd_opt_format("--input-format", arg, 1, &o->in_fmt);
	case OPT_UNTIL:
		return cd_opt_until(arg, &o->until);
	case OPT_OUTPUTS:
		o->outputs = arg;
		return 0;
	case 'b':
		o->bk.brokers = arg;
		return 0;
	case OPT_DEADLINE:
		o->bk.deadline_topic = arg;
		return 0;
	case OPT_BREACH:
		o->bk.breach_topic = arg;
		return 0;
	case OPT_AGGREGATE:
		o->bk.aggregate_topic = arg;
		return 0;
	case OPT_IDLE:
		return cd_opt_long("--idle-ms", arg, 1, 86400000, &o->bk.idle_ms);
	case 'X':
		if (cd_opt_kafka(arg, o->kv, &o->bk.n_kv, CD_KAFKA_MAX_KV) < 0)
			return -1;
		if (!strcmp(o->kv[o->bk.n_kv - 1].key, "group.id"))
			o->bk.has_group = 1;
		return 0;
	case OPT_MUNI:
		return parse_munis(o, arg);
	case OPT_BENEFIT:
		return parse_benefits(o, arg);
	case OPT_RULESET:
		if (!*arg || strlen(arg) > CD_MAX_OBLIGATION_ID_LEN)
			return cd_opt_bad("--ruleset", arg, "the start of obligation ids, e.g. dk-2026");
		o->f.ruleset = arg;
		return 0;
	case OPT_FROM:
		return parse_day("--from", arg, false, &o->f.from);
	case OPT_TO:
		return parse_day("--to", arg, true, &o->f.to);
	case OPT_FORMAT:
		if (!strcmp(arg, "csv"))
			o->fmt = CD_REPORT_CSV;
		else if (!strcmp(arg, "json"))
			o->fmt = CD_REPORT_JSON;
		else if (!strcmp(arg, "html"))
			o->fmt = CD_REPORT_HTML;
		else
			return cd_opt_bad("--format", arg, "csv, json or html");
		return 0;
	case 'o':
		o->output = arg;
		return 0;
	case OPT_TITLE:
		o->title = arg;
		return 0;
	case OPT_MAX_INSTANCES:
		return cd_opt_long("--max-instances", arg, 1, 1000000000L, &o->max_instances);
	case OPT_STATS:
		o->stats = 1;
		return 0;
	case OPT_SETTLE_DAYS:
		return cd_opt_long("--settle-days", arg, 0, 36500, &o->settle_days);
	default:
		o->engine_opts = 1;
		return cd_opt_engine_option(&o->eo, c, arg);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: contactd report (--input LOG | --outputs FILE | --brokers ADDR) [options]\n"
		   "Compliance per municipality × benefit × month of the due date: obligations due, met on time,\n"
		   "breached, lapsed, exempted, the share on time, conversations, and the aggregates (docs/report.md).\n"
		   "source (one):\n"
		   "  -i, --input LOG          replay an event log here (the engine options below apply); '-' is stdin\n"
		   "      --input-format F     auto, json or pb (default auto)\n"
		   "      --until TIMESTAMP    with --input: at the end, advance every clock to this RFC 3339 instant\n"
		   "      --outputs FILE       outputs already written: replay's (or consume's) output file, json or pb;\n"
		   "                           '-' is stdin\n"
		   "  -b, --brokers ADDR       the live output topics, each partition from its beginning to its end when\n"
		   "                           the report starts (no consumer group, nothing committed)\n"
		   "      --deadline-topic T   (default " CD_TOPIC_DEADLINES ")\n"
		   "      --breach-topic T     (default " CD_TOPIC_BREACHES ")\n"
		   "      --aggregate-topic T  (default " CD_TOPIC_AGGREGATES "; '' for none; read when it exists)\n"
		   "      --idle-ms N          fail when the topics stay silent this long short of their ends\n"
		   "                           (default 10000)\n"
		   "  -X key=value             a librdkafka property (repeatable; a 'kafka.' prefix is dropped)\n"
		   "filters:\n"
		   "      --municipality LIST  kommunekoder, comma-separated (e.g. 101,147)\n"
		   "      --benefit LIST       benefits, comma-separated (e.g. DAGPENGE,KONTANTHJAELP; any case)\n"
		   "      --ruleset PREFIX     obligations whose id starts with PREFIX (e.g. dk-2026)\n"
		   "      --from DATE          due dates on or after DATE (YYYY-MM-DD, or YYYY-MM: its first day)\n"
		   "      --to DATE            due dates on or before DATE (YYYY-MM-DD, or YYYY-MM: its last day)\n"
		   "output:\n"
		   "      --format F           csv, json or html (default csv)\n"
		   "  -o, --output FILE        '-' is stdout (default '-')\n"
		   "      --title TEXT         the HTML page's title\n"
		   "      --max-instances N    obligation instances followed, 1 … 1000000000 (default %ld,\n"
		   "                           40 to 80 bytes each): more is an error, never a wrong count\n"
		   "      --settle-days N      settle an obligation due more than N days before the stream clock\n"
		   "                           (the latest as_of seen): count it then and forget it, so memory does\n"
		   "                           not grow with the log; later outputs for it are late_changes\n"
		   "                           (default %ld; 0: never settle, count everything at the end)\n"
		   "      --stats              at the end, also log the instance table's size and peak\n"
		   "engine options (with --input):\n",
		DEFAULT_MAX_INSTANCES, DEFAULT_SETTLE_DAYS);
	cd_opt_engine_usage(f);
}

static const cd_opt_cmd report_cmd = { "i:o:b:X:h", longopts, parse_option, usage, 0 };

/* ---- the command ---------------------------------------------------------------------- */

/* --input: the log through the driver, every output counted. 0 / -1 (logged). */
static int from_input(report_opts *o, cd_tally *t, cd_report_read *n)
{
	cd_engine *eng = NULL;
	cd_driver *drv = NULL;
	cd_log_reader *rd = NULL;
	FILE *inf = NULL;
	cd_err err = { "", 0 };
	int status = -1;

	if (cd_opt_engine_open(&o->eo, &eng, &err) < 0) {
		cd_log(CD_LOG_ERROR, "cannot start", "error", err.msg, NULL);
		goto out;
	}
	if (!(drv = cd_driver_new(eng, o->eo.rules, &o->eo.cfg, (cd_driver_sink){ count_output, count_aggregate, t }))) {
		cd_log(CD_LOG_ERROR, "cannot start", "error", "out of memory", NULL);
		goto out;
	}
	if (!(inf = strcmp(o->input, "-") ? fopen(o->input, "rb") : stdin)) {
		cd_log(CD_LOG_ERROR, "cannot open input", "input", o->input, "error", strerror(errno), NULL);
		goto out;
	}
	if (!(rd = cd_log_reader_new(inf, o->input, o->in_fmt, o->eo.max_record)))
		goto out;
	if (cd_driver_run(drv, rd, o->input, &err) < 0)
		goto out;
	if (o->until != CD_INSTANT_NONE && cd_driver_advance_all(drv, o->until, &err) < 0) {
		if (!cd_driver_failed(drv))
			cd_log(CD_LOG_ERROR, "advancing to --until failed", "error", err.msg, NULL);
		goto out;
	}
	n->records = cd_driver_counts_of(drv)->records;
	n->skipped = cd_driver_counts_of(drv)->skipped;
	status = 0;
out:
	cd_log_reader_free(rd);
	if (inf && inf != stdin)
		fclose(inf);
	cd_driver_free(drv);
	cd_engine_free(eng);
	return status;
}

/* --outputs. 0 / -1 (logged). */
static int from_outputs(const report_opts *o, cd_tally *t, cd_report_read *n)
{
	FILE *inf = strcmp(o->outputs, "-") ? fopen(o->outputs, "rb") : stdin;
	cd_log_reader *rd;
	long def;
	int rc = -1;

	if (!inf) {
		cd_log(CD_LOG_ERROR, "cannot open outputs", "outputs", o->outputs, "error", strerror(errno), NULL);
		return -1;
	}
	cd_opt_run_int("max-record-bytes", &def, NULL, NULL);
	/* an output is larger than the input that caused it (it lists what it counted): allow more */
	if ((rd = cd_log_reader_new(inf, o->outputs, CD_LOG_AUTO, (size_t)def * 16))) {
		rc = cd_report_read_outputs(rd, o->outputs, t, n);
		cd_log_reader_free(rd);
	}
	if (inf != stdin)
		fclose(inf);
	return rc;
}

int cmd_report(int argc, char **argv)
{
	report_opts o;
	cd_tally *t = NULL;
	cd_report rep;
	cd_report_read n = { 0, 0 };
	FILE *outf = NULL;
	cd_err err = { "", 0 };
	int status = 1, rc, sources;
	const char *source, *source_name;

	memset(&o, 0, sizeof(o));
	memset(&rep, 0, sizeof(rep));
	o.in_fmt = CD_LOG_AUTO;
	o.until = CD_INSTANT_NONE;
	o.output = "-";
	o.max_instances = DEFAULT_MAX_INSTANCES;
	o.settle_days = DEFAULT_SETTLE_DAYS;
	o.bk = (cd_report_brokers){ .deadline_topic = CD_TOPIC_DEADLINES, .breach_topic = CD_TOPIC_BREACHES,
				    .aggregate_topic = CD_TOPIC_AGGREGATES, .idle_ms = 10000, .kv = o.kv };
	cd_report_filter_init(&o.f);
	cd_opt_engine_init(&o.eo);

	if ((rc = cd_opt_parse(&report_cmd, argc, argv, &o)) != 0) {
		status = rc > 0 ? 0 : 1;
		goto out;
	}
	sources = !!o.input + !!o.outputs + !!o.bk.brokers;
	if (sources != 1) {
		cd_log(CD_LOG_ERROR, sources ? "more than one source" : "missing option", "option",
		       "--input, --outputs or --brokers (one)", NULL);
		goto out;
	}
	if (o.bk.brokers && !*o.bk.brokers) {
		cd_log(CD_LOG_ERROR, "bad option value", "option", "--brokers", "value", "", "expected",
		       "bootstrap servers, host:port,…", NULL);
		goto out;
	}
	if (o.engine_opts && !o.input) {
		cd_log(CD_LOG_ERROR, "engine options apply to --input only", "option", "--rules, --overlays, --grace, …",
		       NULL);
		goto out;
	}
	if (o.until != CD_INSTANT_NONE && !o.input) {
		cd_log(CD_LOG_ERROR, "--until applies to --input only", "option", "--until", NULL);
		goto out;
	}
	if (o.f.from != CD_DATE_NONE && o.f.to != CD_DATE_NONE && o.f.from > o.f.to) {
		cd_log(CD_LOG_ERROR, "bad option value", "option", "--from", "expected", "not after --to", NULL);
		goto out;
	}
	if (!(t = cd_tally_new(&o.f, (size_t)o.max_instances, (int)o.settle_days))) {
		cd_log(CD_LOG_ERROR, "cannot start", "error", "out of memory", NULL);
		goto out;
	}
	/* The output is opened first: a report that cannot be written is not worth a replay. */
	if (!(outf = strcmp(o.output, "-") ? fopen(o.output, "wb") : stdout)) {
		cd_log(CD_LOG_ERROR, "cannot open output", "output", o.output, "error", strerror(errno), NULL);
		goto out;
	}
	if (o.input) {
		source = "input";
		source_name = o.input;
		rc = from_input(&o, t, &n);
	} else if (o.outputs) {
		source = "outputs";
		source_name = o.outputs;
		rc = from_outputs(&o, t, &n);
	} else {
		source = "brokers";
		source_name = o.bk.brokers;
		rc = cd_report_read_brokers(&o.bk, t, &n);
	}
	if (rc < 0)
		goto out;
	if (cd_tally_finish(t, &rep, &err) < 0) {
		cd_log(CD_LOG_ERROR, "cannot finish the report", "error", err.msg, NULL);
		goto out;
	}
	{
		cd_report_meta meta = { source, source_name, &o.f, o.title };
		if (cd_report_write(outf, o.fmt, &rep, &meta) < 0) {
			cd_log(CD_LOG_ERROR, "cannot write output", "output", o.output, "error", strerror(errno), NULL);
			goto out;
		}
	}
	{
		char num[10][32];
		snprintf(num[0], sizeof(num[0]), "%llu", (unsigned long long)n.records);
		snprintf(num[1], sizeof(num[1]), "%llu", (unsigned long long)n.skipped);
		snprintf(num[2], sizeof(num[2]), "%llu", (unsigned long long)rep.outputs);
		snprintf(num[3], sizeof(num[3]), "%llu", (unsigned long long)rep.instances);
		snprintf(num[4], sizeof(num[4]), "%zu", rep.n_rows);
		snprintf(num[5], sizeof(num[5]), "%llu", (unsigned long long)rep.undated);
		snprintf(num[6], sizeof(num[6]), "%zu", rep.n_cohorts);
		snprintf(num[8], sizeof(num[8]), "%llu", (unsigned long long)rep.settled);
		snprintf(num[9], sizeof(num[9]), "%llu", (unsigned long long)rep.late_changes);
		cd_log(CD_LOG_INFO, "report done", "source", source, "records", num[0], "skipped", num[1], "outputs", num[2],
		       "instances", num[3], "rows", num[4], "undated", num[5], "cohorts", num[6], "settled", num[8],
		       "late_changes", num[9], NULL);
		if (rep.cohorts_dropped) {
			snprintf(num[7], sizeof(num[7]), "%llu", (unsigned long long)rep.cohorts_dropped);
			cd_log(CD_LOG_WARN, "more aggregate cohorts than the report keeps: some are left out", "dropped",
			       num[7], NULL);
		}
		if (o.stats) {
			size_t bytes = cd_tally_bytes(t), inst = cd_tally_instances(t);
			snprintf(num[0], sizeof(num[0]), "%zu", bytes);
			snprintf(num[1], sizeof(num[1]), "%zu", inst);
			snprintf(num[2], sizeof(num[2]), "%zu", inst ? bytes / inst : 0);
			snprintf(num[3], sizeof(num[3]), "%zu", cd_tally_peak_instances(t));
			snprintf(num[4], sizeof(num[4]), "%ld", o.settle_days);
			/* instances: in the table at the end; peak_instances: the most it held at once */
			cd_log(CD_LOG_INFO, "report stats", "instance_table_bytes", num[0], "instances", num[1],
			       "bytes_per_instance", num[2], "peak_instances", num[3], "settle_days", num[4], NULL);
		}
	}
	status = 0;
out:
	if (outf && outf != stdout && fclose(outf) != 0 && status == 0) {
		cd_log(CD_LOG_ERROR, "cannot write output", "output", o.output, "error", strerror(errno), NULL);
		status = 1;
	}
	cd_report_free(&rep);
	cd_tally_free(t);
	cd_opt_engine_release(&o.eo);
	return status;
}
