/*
 * replay.c — `contactd replay`: an event log in, every output out.
 *
 * The audit path: the same engine as production, on the event clock, with the
 * in-memory store instead of Redis. For each record of the log:
 *   frame (eventlog) → decode + validate (codec) → load the citizen's record
 *   (memstore) → raise its clock to the global tick floor → apply (engine) →
 *   store the record and its next firing instant → write the outputs.
 * A ClockTick with an empty citizen_id advances every citizen: those with
 * something due are taken from the timer index one by one, the rest only get
 * the new floor, applied lazily the next time they are touched (nothing can
 * fire for them in between, by definition of the index).
 *
 * Aggregates (rules.md §4.1): the engine tells each share member's outcome
 * to the aggregator (state/aggregate), whose clock is the all-citizen clock:
 * it advances after every all-citizen ClockTick has advanced every citizen,
 * and at --until, and its AggregateEvents go into the same output stream.
 * --no-aggregates leaves the aggregator out (to compare with a live run
 * that had no aggregate stage).
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

#include "cmd/opts.h"
#include "cmd/summary.h"
#include "proto/codec.h"
#include "proto/eventlog.h"
#include "state/aggregate.h"
#include "state/engine.h"
#include "state/step.h"
#include "state/memstore.h"
#include "util/log.h"

typedef struct replayer {
	cd_engine *eng;
	cd_memstore *store;
	cd_citizen cit;
	cd_buf rec;              /* encoded citizen record */
	cd_buf out;              /* one encoded output */
	FILE *outf;
	cd_log_format out_fmt;
	cd_instant floor;        /* the latest all-citizen tick */
	cd_aggregator *agg;      /* NULL with --no-aggregates */
	uint64_t records, applied, duplicates, skipped, outputs, deadlines, breaches, aggregates, members;
	int write_failed;        /* an output could not be written or a member not counted: fatal */
	cd_summary *summary;     /* NULL unless --summary */
} replayer;

static int write_output(void *ctx, const cd_output *o)
{
	replayer *r = ctx;
	cd_err err;
	cd_buf_reset(&r->out);
	if (cd_codec_output_append(o, r->out_fmt, 1, &r->out, &err) < 0 ||
	    cd_log_write(r->outf, r->out_fmt, r->out.data, r->out.len, &err) < 0) {
		cd_log(CD_LOG_ERROR, "cannot write output", "error", err.msg, NULL);
		r->write_failed = 1;
		return -1;
	}
	r->outputs++;
	if (r->summary)
		cd_summary_add(r->summary, o);
	if (o->is_breach)
		r->breaches++;
	else
		r->deadlines++;
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
		r->write_failed = 1;
		return -1;
	}
	r->outputs++;
	r->aggregates++;
	if (r->summary)
		cd_summary_add_aggregate(r->summary, a);
	return 0;
}

/* A share member's outcome, from the engine. A member the aggregator refuses is a bug: fatal. */
static int count_member(void *ctx, const cd_member *m)
{
	replayer *r = ctx;
	cd_err err;
	if (cd_agg_member(r->agg, m, &err) < 0) {
		cd_log(CD_LOG_ERROR, "cannot count aggregate member", "citizen_id", m->citizen_id, "obligation_id",
		       m->obligation_id, "error", err.msg, NULL);
		r->write_failed = 1;
		return -1;
	}
	r->members++;
	return 0;
}

/* Loads citizen `id` into r->cit (empty if new). */
static int load(replayer *r, const char *id, size_t len, cd_err *err)
{
	const uint8_t *p;
	size_t n;
	if (!cd_memstore_get(r->store, id, len, &p, &n)) {
		cd_citizen_clear(&r->cit);
		return 0;
	}
	return cd_citizen_decode(&r->cit, p, n, err);
}

static int save(replayer *r, const char *id, size_t len, cd_err *err)
{
	cd_buf_reset(&r->rec);
	if (cd_citizen_encode(&r->cit, &r->rec) < 0)
		return cd_err_set(err, 0, "citizen '%.*s' record exceeds the record limit", (int)len, id);
	return cd_memstore_put(r->store, id, len, (const uint8_t *)r->rec.data, r->rec.len,
			       r->cit.next_fire, err);
}

/* Fires everything due by x, citizen by citizen, in (instant, citizen id) order. */
static int advance_citizens(replayer *r, cd_instant x, cd_err *err)
{
	const char *id;
	size_t len;
	char idbuf[CD_MAX_ID_LEN + 1];

	while (cd_memstore_next_due(r->store, x, &id, &len)) {
		memcpy(idbuf, id, len);    /* ids are validated to CD_MAX_ID_LEN */
		idbuf[len] = '\0';
		if (load(r, idbuf, len, err) < 0 ||
		    cd_engine_advance(r->eng, &r->cit, idbuf, x, write_output, r, err) < 0 ||
		    save(r, idbuf, len, err) < 0)
			return -1;
	}
	return r->write_failed ? -1 : 0;
}

/*
 * Advances every citizen and the aggregate clock to t. The two walk together
 * through the aggregate's instants (warnings, evaluations) up to t: at each,
 * first every citizen (deciding the members decided by then), then the
 * aggregate clock; so an aggregate instant counts the members decided at or
 * before it, and none decided later in the same tick (rules.md §4.1).
 */
static int advance_all(replayer *r, cd_instant t, cd_err *err)
{
	/* A tick that does not move the all-citizen clock is no advance: nothing is due
	 * that was not fired, and the aggregate clock, like the live stage's (the least
	 * of the partitions' floors), does not move either. */
	if (r->floor != CD_INSTANT_NONE && t <= r->floor)
		return 0;
	r->floor = t;
	for (;;) {
		cd_instant x = r->agg ? cd_agg_next(r->agg) : CD_INSTANT_NONE;
		if (x == CD_INSTANT_NONE || x > t)
			x = t;
		if (advance_citizens(r, x, err) < 0)
			return -1;
		if (r->agg && cd_agg_advance(r->agg, x, write_aggregate, r, err) < 0)
			return -1;
		if (r->write_failed)
			return -1;
		if (x == t)
			return 0;
	}
}

static int apply(replayer *r, const cd_event *ev, cd_err *err)
{
	char idbuf[CD_MAX_ID_LEN + 1];
	int rc;

	if (ev->kind == CD_EV_CLOCK_TICK && ev->citizen_id_len == 0)
		return advance_all(r, cd_event_time(ev), err);
	memcpy(idbuf, ev->citizen_id, ev->citizen_id_len);
	idbuf[ev->citizen_id_len] = '\0';
	if (load(r, idbuf, ev->citizen_id_len, err) < 0)
		return -1;
	rc = cd_step_apply(r->eng, &r->cit, idbuf, r->floor, CD_INSTANT_NONE, ev, write_output, r, err);
	if (rc == 1)
		r->duplicates++;
	/* Saved even when the input was refused: the floor advance above may have fired. */
	if (rc < 0) {
		cd_err keep = *err;
		if (save(r, idbuf, ev->citizen_id_len, err) < 0)
			return -1;
		*err = keep;
		return -1;
	}
	return save(r, idbuf, ev->citizen_id_len, err);
}

/* Reads every record, decodes it and applies it. -1 when framing was lost or an output could not be written. */
static int replay_stream(replayer *r, cd_log_reader *rd, const char *input, cd_err *err)
{
	char pos[128];

	for (;;) {
		const uint8_t *data;
		size_t len;
		cd_log_status st = cd_log_reader_next_logged(rd, &data, &len, &r->records, &r->skipped, err);
		Contact__V1__CitizenEvent *msg = NULL;
		cd_event ev;
		cd_codec_stage stage;
		uint64_t dups = r->duplicates;

		if (st == CD_LOG_EOF)
			return 0;
		if (st == CD_LOG_LOST)
			return -1;
		cd_log_reader_position(rd, pos, sizeof(pos));
		if (cd_codec_decode_event(data, len, cd_log_reader_format(rd), &msg, &ev, &stage, err) < 0) {
			r->skipped++;
			cd_log(CD_LOG_WARN, "record skipped", "input", input, "position", pos, "event_id",
			       msg ? msg->event_id : "", "stage", cd_codec_stage_name(stage), "error", err->msg, NULL);
		} else if (apply(r, &ev, err) < 0) {
			if (r->write_failed) {
				protobuf_c_message_free_unpacked(&msg->base, NULL);
				return -1;
			}
			r->skipped++;
			cd_log(CD_LOG_WARN, "record skipped", "input", input, "position", pos, "event_id", msg->event_id,
			       "stage", "apply", "error", err->msg, NULL);
		} else if (r->duplicates == dups) {
			r->applied++;
		}
		if (msg)
			protobuf_c_message_free_unpacked(&msg->base, NULL);
	}
}

/* The closing log lines, and the summary when asked for. */
static void report(const replayer *r, int stats)
{
	char num[9][32];
	size_t bytes = cd_memstore_bytes(r->store), count = cd_memstore_count(r->store);

	snprintf(num[0], sizeof(num[0]), "%llu", (unsigned long long)r->records);
	snprintf(num[1], sizeof(num[1]), "%llu", (unsigned long long)r->applied);
	snprintf(num[2], sizeof(num[2]), "%llu", (unsigned long long)r->duplicates);
	snprintf(num[3], sizeof(num[3]), "%llu", (unsigned long long)r->skipped);
	snprintf(num[4], sizeof(num[4]), "%llu", (unsigned long long)r->deadlines);
	snprintf(num[5], sizeof(num[5]), "%llu", (unsigned long long)r->breaches);
	snprintf(num[6], sizeof(num[6]), "%zu", count);
	snprintf(num[7], sizeof(num[7]), "%llu", (unsigned long long)r->aggregates);
	snprintf(num[8], sizeof(num[8]), "%llu", (unsigned long long)r->members);
	cd_log(CD_LOG_INFO, "replay done", "records", num[0], "applied", num[1], "duplicates", num[2],
	       "skipped", num[3], "deadline_events", num[4], "breach_events", num[5], "aggregate_events", num[7],
	       "member_outcomes", num[8], "citizens", num[6], NULL);
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

enum { OPT_INPUT_FORMAT = CD_OPT_OWN, OPT_OUTPUT_FORMAT, OPT_UNTIL, OPT_STATS, OPT_SUMMARY, OPT_NO_AGGREGATES };

static const struct option longopts[] = {
	{ "input", required_argument, NULL, 'i' },
	{ "input-format", required_argument, NULL, OPT_INPUT_FORMAT },
	{ "output", required_argument, NULL, 'o' },
	{ "output-format", required_argument, NULL, OPT_OUTPUT_FORMAT },
	{ "until", required_argument, NULL, OPT_UNTIL },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "summary", no_argument, NULL, OPT_SUMMARY },
	{ "no-aggregates", no_argument, NULL, OPT_NO_AGGREGATES },
	CD_OPT_ENGINE_LONGOPTS,
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
} replay_opts;

static int parse_option(void *ctx, int c, char *arg)
{
	replay_opts *o = ctx;

	switch (c) {
	case 'i':
		o->input = arg;
		return 0;
	case OPT_INPUT_FORMAT:
		return cd_opt_format("--input-format", arg, 1, &o->in_fmt);
	case 'o':
		o->output = arg;
		return 0;
	case OPT_OUTPUT_FORMAT:
		return cd_opt_format("--output-format", arg, 0, &o->out_fmt);
	case OPT_UNTIL:
		if (cd_instant_parse_rfc3339(arg, strlen(arg), &o->until) < 0)
			return cd_opt_bad("--until", arg, "RFC 3339, e.g. 2030-01-01T00:00:00Z");
		return 0;
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
		   "  -i, --input FILE         event log to read; '-' is stdin (default '-')\n"
		   "      --input-format F     auto, json or pb (default auto)\n"
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
}

static const cd_opt_cmd replay_cmd = { "i:o:h", longopts, parse_option, usage, 0 };

int cmd_replay(int argc, char **argv)
{
	replay_opts o = { .input = "-", .output = "-", .in_fmt = CD_LOG_AUTO, .out_fmt = CD_LOG_JSON,
			  .until = CD_INSTANT_NONE };
	replayer r;
	cd_log_reader *rd = NULL;
	FILE *inf = NULL;
	cd_err err = { "", 0 };
	int status = 1, rc;

	memset(&r, 0, sizeof(r));
	r.floor = CD_INSTANT_NONE;
	cd_citizen_init(&r.cit);
	cd_buf_init(&r.rec, (size_t)64 << 20);
	cd_buf_init(&r.out, (size_t)16 << 20);
	cd_opt_engine_init(&o.eo);

	if ((rc = cd_opt_parse(&replay_cmd, argc, argv, &o)) != 0) {
		status = rc > 0 ? 0 : 1;
		goto out;
	}
	r.out_fmt = o.out_fmt;
	if (o.summary && !(r.summary = cd_summary_new()))
		goto out;
	if (cd_opt_engine_open(&o.eo, &r.eng, &err) < 0) {
		cd_log(CD_LOG_ERROR, "cannot start", "error", err.msg, NULL);
		goto out;
	}
	if (!o.no_aggregates) {
		r.agg = cd_agg_new(o.eo.rules, o.eo.cfg.grace_days, o.eo.cfg.warn_lead_days);
		if (!r.agg) {
			cd_log(CD_LOG_ERROR, "cannot start", "error", "out of memory", NULL);
			goto out;
		}
		cd_engine_set_member_fn(r.eng, count_member, &r);
	}
	r.store = cd_memstore_new(0);
	inf = strcmp(o.input, "-") ? fopen(o.input, "rb") : stdin;
	if (!inf) {
		cd_log(CD_LOG_ERROR, "cannot open input", "input", o.input, "error", strerror(errno), NULL);
		goto out;
	}
	r.outf = strcmp(o.output, "-") ? fopen(o.output, "wb") : stdout;
	if (!r.outf || !r.store) {
		cd_log(CD_LOG_ERROR, "cannot open output", "output", o.output, "error", strerror(errno), NULL);
		goto out;
	}
	if (!(rd = cd_log_reader_new(inf, o.input, o.in_fmt, o.eo.max_record)))
		goto out;
	if (replay_stream(&r, rd, o.input, &err) < 0)
		goto out;
	if (o.until != CD_INSTANT_NONE && advance_all(&r, o.until, &err) < 0) {
		cd_log(CD_LOG_ERROR, "advancing to --until failed", "error", err.msg, NULL);
		goto out;
	}
	if (fflush(r.outf) != 0 || ferror(r.outf)) {
		cd_log(CD_LOG_ERROR, "cannot write output", "output", o.output, "error", strerror(errno), NULL);
		goto out;
	}
	report(&r, o.stats);
	status = 0;
out:
	cd_log_reader_free(rd);
	if (inf && inf != stdin)
		fclose(inf);
	if (r.outf && r.outf != stdout)
		fclose(r.outf);
	cd_memstore_free(r.store);
	cd_summary_free(r.summary);
	cd_engine_free(r.eng);
	cd_agg_free(r.agg);
	cd_opt_engine_release(&o.eo);
	cd_citizen_release(&r.cit);
	cd_buf_release(&r.rec);
	cd_buf_release(&r.out);
	return status;
}
