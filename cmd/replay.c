/*
 * replay.c — `contactd replay`: an event log in, every output out.
 *
 * The audit path: the same engine as production, on the event clock, with the
 * in-memory store instead of Redis; the loop itself (frame, decode, validate,
 * the citizen's step, the all-citizen ticks and the aggregate clock) is
 * cmd/driver.c, shared with the audit commands. This file writes what the
 * driver produces, in the order it produces it, and reports.
 * --no-aggregates leaves the aggregator out (to compare with a live run
 * that had no aggregate stage).
 *
 * With --brokers the records come from a range of the input topic instead
 * (cmd/topicsrc.c): read only, assign() with no group join and no commit, no
 * Redis; its partitions merged on their all-citizen ticks so that the outputs
 * are those of the file the topic was produced from.
 *
 * Bad records are reported on stderr (position, event_id, stage, error) and
 * skipped; only lost framing, an unwritable output or a member the aggregator
 * cannot take ends the replay early, with status 1. Outputs are written in the
 * order the clock produces them: per input, then per advance (citizens, then
 * aggregates).
 */
#include "cmd/commands.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/driver.h"
#include "cmd/opts.h"
#include "cmd/summary.h"
#include "cmd/topicsrc.h"
#include "proto/codec.h"
#include "proto/eventlog.h"
#include "util/log.h"

typedef struct replayer {
	cd_driver *drv;
	cd_buf out;              /* one encoded output */
	FILE *outf;
	cd_log_format out_fmt;
	cd_summary *summary;     /* NULL unless --summary */
	const cd_engine *eng;
} replayer;

static int write_output(void *ctx, const cd_output *o)
{
	replayer *r = ctx;
	cd_err err;
	cd_buf_reset(&r->out);
	if (cd_codec_output_append(o, r->out_fmt, 1, &r->out, &err) < 0 ||
	    cd_log_write(r->outf, r->out_fmt, r->out.data, r->out.len, &err) < 0) {
		cd_log(CD_LOG_ERROR, "cannot write output", "error", err.msg, NULL);
		return -1;
	}
	if (r->summary)
		cd_summary_add(r->summary, o);
	return 0;
}

static int write_aggregate(void *ctx, const cd_agg_output *a)
{
	replayer *r = ctx;
	cd_err err;
	cd_buf_reset(&r->out);
	if (cd_codec_aggregate_append(a, r->out_fmt, 1, &r->out, &err) < 0 ||
	    cd_log_write(r->outf, r->out_fmt, r->out.data, r->out.len, &err) < 0) {
		cd_log(CD_LOG_ERROR, "cannot write output", "error", err.msg, NULL);
		return -1;
	}
	if (r->summary)
		cd_summary_add_aggregate(r->summary, a);
	return 0;
}

/*
 * The closing log lines, and the summary when asked for. tc: what a topic
 * read counted (records, applied and skipped are its own; the copies of the
 * ticks are the difference with the file's record count), else NULL.
 */
static void report(const replayer *r, int stats, const cd_topic_counts *tc)
{
	const cd_driver_counts *n = cd_driver_counts_of(r->drv);
	const cd_memstore *store = cd_driver_store(r->drv);
	char num[11][32];
	size_t bytes = cd_memstore_bytes(store), count = cd_memstore_count(store);

	snprintf(num[0], sizeof(num[0]), "%llu", (unsigned long long)(tc ? tc->messages : n->records));
	snprintf(num[1], sizeof(num[1]), "%llu", (unsigned long long)(tc ? tc->applied : n->applied));
	snprintf(num[2], sizeof(num[2]), "%llu", (unsigned long long)n->duplicates);
	snprintf(num[3], sizeof(num[3]), "%llu", (unsigned long long)(tc ? tc->skipped : n->skipped));
	snprintf(num[4], sizeof(num[4]), "%llu", (unsigned long long)n->deadlines);
	snprintf(num[5], sizeof(num[5]), "%llu", (unsigned long long)n->breaches);
	snprintf(num[6], sizeof(num[6]), "%zu", count);
	snprintf(num[7], sizeof(num[7]), "%llu", (unsigned long long)n->aggregates);
	snprintf(num[8], sizeof(num[8]), "%llu", (unsigned long long)n->members);
	snprintf(num[9], sizeof(num[9]), "%llu", (unsigned long long)(tc ? tc->tick_copies : 0));
	snprintf(num[10], sizeof(num[10]), "%d", tc ? tc->partitions : 0);
	/* a file's line ends at citizens (the NULL key); a topic's goes on */
	cd_log(CD_LOG_INFO, "replay done", "records", num[0], "applied", num[1], "duplicates", num[2],
	       "skipped", num[3], "deadline_events", num[4], "breach_events", num[5], "aggregate_events", num[7],
	       "member_outcomes", num[8], "citizens", num[6], tc ? "tick_copies" : NULL, num[9], "partitions",
	       num[10], NULL);
	{
		const cd_engine_stats *es = cd_engine_stats_get(r->eng);
		if (es->compactions || es->retired || es->refused_folded) {
			snprintf(num[0], sizeof(num[0]), "%llu", (unsigned long long)es->compactions);
			snprintf(num[1], sizeof(num[1]), "%llu", (unsigned long long)es->folded_events);
			snprintf(num[2], sizeof(num[2]), "%llu", (unsigned long long)es->folded_states);
			snprintf(num[3], sizeof(num[3]), "%llu", (unsigned long long)es->refused_folded);
			snprintf(num[4], sizeof(num[4]), "%llu", (unsigned long long)es->retired);
			cd_log(CD_LOG_INFO, "replay history", "compactions", num[0], "folded_events", num[1],
			       "folded_states", num[2], "refused_folded", num[3], "citizens_deleted", num[4], NULL);
		}
	}
	if (stats) {
		snprintf(num[0], sizeof(num[0]), "%zu", bytes);
		snprintf(num[1], sizeof(num[1]), "%zu", count);
		snprintf(num[2], sizeof(num[2]), "%zu", count ? bytes / count : 0);
		cd_log(CD_LOG_INFO, "replay stats", "store_bytes", num[0], "store_citizens", num[1],
		       "store_bytes_per_citizen", num[2], NULL);
	}
	if (r->summary)
		cd_summary_print(r->summary, r->outf == stdout ? stderr : stdout);
}

/* ---- options --------------------------------------------------------------------- */

enum {
	OPT_INPUT_FORMAT = CD_OPT_OWN, OPT_OUTPUT_FORMAT, OPT_UNTIL, OPT_STATS, OPT_SUMMARY, OPT_NO_AGGREGATES,
	OPT_FROM, OPT_TO,
};

static const struct option longopts[] = {
	{ "input", required_argument, NULL, 'i' },
	{ "input-format", required_argument, NULL, OPT_INPUT_FORMAT },
	{ "output", required_argument, NULL, 'o' },
	{ "output-format", required_argument, NULL, OPT_OUTPUT_FORMAT },
	{ "until", required_argument, NULL, OPT_UNTIL },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "summary", no_argument, NULL, OPT_SUMMARY },
	{ "no-aggregates", no_argument, NULL, OPT_NO_AGGREGATES },
	{ "brokers", required_argument, NULL, 'b' },
	{ "topic", required_argument, NULL, 't' },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "to", required_argument, NULL, OPT_TO },
	CD_OPT_ENGINE_LONGOPTS,
	CD_OPT_HISTORY_LONGOPTS,
	CD_OPT_LOG_LEVEL_LONGOPT,
	CD_OPT_HELP_LONGOPT,
	{ NULL, 0, NULL, 0 },
};

typedef struct replay_opts {
	const char *input, *output;
	cd_log_format in_fmt, out_fmt;
	cd_instant until;              /* CD_INSTANT_NONE: not given */
	int stats, summary, no_aggregates;
	cd_opt_engine eo;
	/* a topic instead of --input */
	const char *brokers, *topic;
	const char *from_arg, *to_arg, *topic_only;   /* as given (errors), and one topic-only option seen */
	cd_instant from, to;           /* CD_INSTANT_NONE: beginning, end */
	cd_kv kv[CD_KAFKA_MAX_KV];     /* -X */
	size_t n_kv;
	int input_given;               /* --input or --input-format */
} replay_opts;

/* --from beginning|TIMESTAMP, --to end|TIMESTAMP. 0 / -1 (logged). */
static int parse_bound(const char *name, const char *arg, const char *open_word, cd_instant *out)
{
	char expected[96];

	if (!strcmp(arg, open_word)) {
		*out = CD_INSTANT_NONE;
		return 0;
	}
	if (cd_instant_parse_rfc3339(arg, strlen(arg), out) == 0)
		return 0;
	snprintf(expected, sizeof(expected), "%s or RFC 3339, e.g. 2026-05-01T00:00:00Z", open_word);
	return cd_opt_bad(name, arg, expected);
}

static int parse_option(void *ctx, int c, char *arg)
{
	replay_opts *o = ctx;

	switch (c) {
	case 'i':
		o->input = arg;
		o->input_given = 1;
		return 0;
	case OPT_INPUT_FORMAT:
		o->input_given = 1;
		return cd_opt_format("--input-format", arg, 1, &o->in_fmt);
	case 'b':
		o->brokers = arg;
		return 0;
	case 't':
		o->topic = o->topic_only = arg;
		return 0;
	case OPT_FROM:
		o->topic_only = o->from_arg = arg;
		return parse_bound("--from", arg, "beginning", &o->from);
	case OPT_TO:
		o->topic_only = o->to_arg = arg;
		return parse_bound("--to", arg, "end", &o->to);
	case 'X':
		o->topic_only = "-X";
		return cd_opt_kafka(arg, o->kv, &o->n_kv, CD_KAFKA_MAX_KV);
	case 'o':
		o->output = arg;
		return 0;
	case OPT_OUTPUT_FORMAT:
		return cd_opt_format("--output-format", arg, 0, &o->out_fmt);
	case OPT_UNTIL:
		return cd_opt_until(arg, &o->until);
	case OPT_STATS:
		o->stats = 1;
		return 0;
	case OPT_SUMMARY:
		o->summary = 1;
		return 0;
	case OPT_NO_AGGREGATES:
		o->no_aggregates = 1;
		return 0;
	default:
		return cd_opt_engine_option(&o->eo, c, arg);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: contactd replay [options]\n"
		   "       contactd replay --brokers ADDR [--topic T] [--from beginning|TIMESTAMP] [--to end|TIMESTAMP]\n"
		   "  -i, --input FILE         event log to read; '-' is stdin (default '-')\n"
		   "      --input-format F     auto, json or pb (default auto)\n"
		   "  -b, --brokers ADDR       instead of --input, read the input topic from these bootstrap servers\n"
		   "                           (host:port,…); read only, see below\n"
		   "  -t, --topic T            the input topic (default " CD_TOPIC_EVENTS ")\n"
		   "      --from beginning|TIMESTAMP\n"
		   "                           from each partition's first record whose Kafka timestamp is at or\n"
		   "                           after this RFC 3339 instant (default beginning)\n"
		   "      --to end|TIMESTAMP   up to each partition's first record at or after this instant, which is\n"
		   "                           left out; end: the partition's end when the replay starts (default end)\n"
		   "  -X key=value             a librdkafka property, e.g. security settings (repeatable; a 'kafka.'\n"
		   "                           prefix is dropped); none can make the replay commit\n"
		   "  -o, --output FILE        where to write outputs; '-' is stdout (default '-')\n"
		   "      --output-format F    json or pb (default json)\n"
		   "      --until TIMESTAMP    at the end, advance every citizen's clock to this RFC 3339 instant\n"
		   "      --stats              at the end, also log the store's size (bytes and citizens)\n"
		   "      --summary            at the end, print a readable summary (stdout when --output is a file,\n"
		   "                           else stderr): breaches by rule and municipality, cohorts of the\n"
		   "                           aggregates by status, explained examples\n"
		   "      --no-aggregates      evaluate no aggregate obligations (dk-2026 shares, averages): no\n"
		   "                           AggregateEvents, as a live run without the aggregate stage\n");
	cd_opt_engine_usage(f);
	cd_opt_history_usage(f);
	fprintf(f, "A topic is read without touching live state: every partition is assigned (no consumer group\n"
		   "is joined, nothing is committed) and Redis is not used. Records are checked as `contactd run`\n"
		   "checks them and the partitions are merged on their all-citizen ClockTicks (which `contactd\n"
		   "produce` writes to every partition), so the outputs are those of a replay of the file the topic\n"
		   "was produced from; citizens of different partitions interleave, so sort before comparing.\n");
}

static const cd_opt_cmd replay_cmd = { "i:o:b:t:X:h", longopts, parse_option, usage, 0 };

/* What --brokers and the topic options need of each other. 0 / -1 (logged). */
static int check_source(const replay_opts *o)
{
	if (o->brokers && o->input_given)
		return cd_opt_bad("--brokers", o->brokers, "no --input or --input-format: a replay reads a file or a topic");
	if (o->brokers && !*o->brokers)
		return cd_opt_bad("--brokers", o->brokers, "host:port,…");
	if (!o->brokers && o->topic_only) {
		cd_log(CD_LOG_ERROR, "missing option", "option", "--brokers", "error",
		       "--topic, --from, --to and -X read a topic: give --brokers", NULL);
		return -1;
	}
	if (o->from != CD_INSTANT_NONE && o->to != CD_INSTANT_NONE && o->to <= o->from)
		return cd_opt_bad("--to", o->to_arg, "an instant after --from");
	return 0;
}

int cmd_replay(int argc, char **argv)
{
	replay_opts o = { .input = "-", .output = "-", .in_fmt = CD_LOG_AUTO, .out_fmt = CD_LOG_JSON,
			  .until = CD_INSTANT_NONE, .topic = CD_TOPIC_EVENTS, .from = CD_INSTANT_NONE,
			  .to = CD_INSTANT_NONE };
	replayer r;
	cd_topic_counts tc;
	cd_engine *eng = NULL;
	cd_log_reader *rd = NULL;
	FILE *inf = NULL;
	cd_err err = { "", 0 };
	int status = 1, rc;

	memset(&r, 0, sizeof(r));
	cd_buf_init(&r.out, (size_t)16 << 20);
	cd_opt_engine_init(&o.eo);
	{
		/* replay is the reference for run: the same compaction and retention by default */
		cd_engine_config d;
		cd_engine_config_default(&d);
		o.eo.cfg.history_horizon_days = d.history_horizon_days;
		o.eo.cfg.retention_days = d.retention_days;
	}

	if ((rc = cd_opt_parse(&replay_cmd, argc, argv, &o)) != 0) {
		status = rc > 0 ? 0 : 1;
		goto out;
	}
	if (check_source(&o) < 0)
		goto out;
	r.out_fmt = o.out_fmt;
	if (o.summary && !(r.summary = cd_summary_new()))
		goto out;
	if (cd_opt_engine_open(&o.eo, &eng, &err) < 0) {
		cd_log(CD_LOG_ERROR, "cannot start", "error", err.msg, NULL);
		goto out;
	}
	r.eng = eng;
	r.drv = cd_driver_new(eng, o.eo.rules, &o.eo.cfg,
			      (cd_driver_sink){ write_output, o.no_aggregates ? NULL : write_aggregate, &r });
	if (!r.drv) {
		cd_log(CD_LOG_ERROR, "cannot start", "error", "out of memory", NULL);
		goto out;
	}
	if (!o.brokers) {
		inf = strcmp(o.input, "-") ? fopen(o.input, "rb") : stdin;
		if (!inf) {
			cd_log(CD_LOG_ERROR, "cannot open input", "input", o.input, "error", strerror(errno), NULL);
			goto out;
		}
	}
	r.outf = cd_opt_output_private(o.output);   /* citizen ids: 0600 */
	if (!r.outf) {
		cd_log(CD_LOG_ERROR, "cannot open output", "output", o.output, "error", strerror(errno), NULL);
		goto out;
	}
	if (o.brokers) {
		cd_topic_range tr = { o.brokers, o.topic, o.kv, o.n_kv, o.from, o.to, o.eo.max_record };
		if (cd_topic_replay(r.drv, &tr, &tc) < 0)
			goto out;
	} else {
		if (!(rd = cd_log_reader_new(inf, o.input, o.in_fmt, o.eo.max_record)))
			goto out;
		if (cd_driver_run(r.drv, rd, o.input, &err) < 0)
			goto out;
	}
	if (o.until != CD_INSTANT_NONE && cd_driver_advance_all(r.drv, o.until, &err) < 0) {
		cd_log(CD_LOG_ERROR, "advancing to --until failed", "error", err.msg, NULL);
		goto out;
	}
	if (fflush(r.outf) != 0 || ferror(r.outf)) {
		cd_log(CD_LOG_ERROR, "cannot write output", "output", o.output, "error", strerror(errno), NULL);
		goto out;
	}
	report(&r, o.stats, o.brokers ? &tc : NULL);
	status = 0;
out:
	cd_log_reader_free(rd);
	if (inf && inf != stdin)
		fclose(inf);
	if (r.outf && r.outf != stdout)
		fclose(r.outf);
	cd_driver_free(r.drv);
	cd_summary_free(r.summary);
	cd_engine_free(eng);
	cd_opt_engine_release(&o.eo);
	cd_buf_release(&r.out);
	return status;
}
