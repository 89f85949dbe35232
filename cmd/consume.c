/*
 * consume.c — `contactd consume`: the output topics into a replay-style file.
 *
 * Reads the deadline, breach and aggregate topics from the beginning with a plain
 * consumer: every partition (found in the metadata) is assigned at
 * OFFSET_BEGINNING; nothing joins a group and nothing is committed (librdkafka
 * needs a group.id for assign(); a private one is set unless -X group.id is
 * given). Each message is unpacked as a DeadlineEvent, a BreachEvent or an
 * AggregateEvent by its topic, wrapped in a contact.v1.Output ({"deadline": …} /
 * {"breach": …} / {"aggregate": …}) and
 * written as `contactd replay` writes its outputs (JSON lines or
 * length-delimited binary), so that a live run can be compared with a replay
 * of the same log (after sorting: partitions interleave here).
 *
 * Stops after --idle-ms without a message, or after --max messages, or on
 * SIGINT/SIGTERM. Messages that do not decode are reported with their topic,
 * partition and offset, and skipped.
 */
#include "cmd/commands.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/opts.h"
#include "cmd/summary.h"
#include "consumer/kafka.h"
#include "contact/v1/outputs.pb-c.h"
#include "proto/eventlog.h"
#include "proto/pbjson.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

enum { K_DEADLINE, K_BREACH, K_AGGREGATE };

/* Wraps one topic message in an Output and appends it to out in fmt. 0 / -1 (undecodable). */
static int convert(const rd_kafka_message_t *m, int kind, cd_log_format fmt, cd_buf *out, cd_summary *sum,
		   cd_err *err)
{
	Contact__V1__Output o = CONTACT__V1__OUTPUT__INIT;
	ProtobufCMessage *inner;
	int rc = -1, is_breach = kind == K_BREACH;

	if (kind == K_AGGREGATE) {
		Contact__V1__AggregateEvent *a = contact__v1__aggregate_event__unpack(NULL, m->len, m->payload);
		if (!a)
			return cd_err_set(err, 0, "not a valid contact.v1.AggregateEvent (%zu bytes)", m->len);
		inner = &a->base;
		o.output_case = CONTACT__V1__OUTPUT__OUTPUT_AGGREGATE;
		o.aggregate = a;
	} else if (is_breach) {
		Contact__V1__BreachEvent *b = contact__v1__breach_event__unpack(NULL, m->len, m->payload);
		inner = b ? &b->base : NULL;
		o.output_case = CONTACT__V1__OUTPUT__OUTPUT_BREACH;
		o.breach = b;
	} else {
		Contact__V1__DeadlineEvent *dl = contact__v1__deadline_event__unpack(NULL, m->len, m->payload);
		inner = dl ? &dl->base : NULL;
		o.output_case = CONTACT__V1__OUTPUT__OUTPUT_DEADLINE;
		o.deadline = dl;
	}
	if (!inner)
		return cd_err_set(err, 0, "not a valid contact.v1.%s (%zu bytes)",
				  is_breach ? "BreachEvent" : "DeadlineEvent", m->len);
	if (kind == K_AGGREGATE)
		;                       /* the summary counts citizens' outputs */
	else if (sum && is_breach)
		cd_summary_add_fields(sum, true, o.breach->status,
				      o.breach->obligation ? o.breach->obligation->definition_id : "",
				      o.breach->municipality_code, o.breach->citizen_id, o.breach->explanation);
	else if (sum)
		cd_summary_add_fields(sum, false, o.deadline->status,
				      o.deadline->obligation ? o.deadline->obligation->definition_id : "",
				      o.deadline->municipality_code, o.deadline->citizen_id, o.deadline->explanation);
	cd_buf_reset(out);
	if (fmt == CD_LOG_JSON) {
		rc = pbjson_encode(&o.base, out, err);
	} else {
		size_t need = protobuf_c_message_get_packed_size(&o.base);
		if (cd_buf_reserve(out, need) < 0) {
			cd_err_set(err, 0, "output of %zu bytes exceeds the buffer", need);
		} else {
			out->len = protobuf_c_message_pack(&o.base, (uint8_t *)out->data);
			rc = 0;
		}
	}
	protobuf_c_message_free_unpacked(inner, NULL);
	return rc;
}

/* ---- options --------------------------------------------------------------------- */

enum { OPT_DEADLINE = CD_OPT_OWN, OPT_BREACH, OPT_AGGREGATE, OPT_OUTPUT_FORMAT, OPT_IDLE, OPT_MAX, OPT_SUMMARY };

static const struct option longopts[] = {
	{ "brokers", required_argument, NULL, 'b' },
	{ "deadline-topic", required_argument, NULL, OPT_DEADLINE },
	{ "breach-topic", required_argument, NULL, OPT_BREACH },
	{ "aggregate-topic", required_argument, NULL, OPT_AGGREGATE },
	{ "output", required_argument, NULL, 'o' },
	{ "output-format", required_argument, NULL, OPT_OUTPUT_FORMAT },
	{ "idle-ms", required_argument, NULL, OPT_IDLE },
	{ "max", required_argument, NULL, OPT_MAX },
	CD_OPT_LOG_LEVEL_LONGOPT,
	{ "summary", no_argument, NULL, OPT_SUMMARY },
	CD_OPT_HELP_LONGOPT,
	{ NULL, 0, NULL, 0 },
};

typedef struct consume_opts {
	const char *brokers, *deadline_topic, *breach_topic, *aggregate_topic, *output;
	cd_log_format out_fmt;
	long idle_ms, max;           /* max 0: no limit */
	cd_kv kv[CD_KAFKA_MAX_KV];   /* -X */
	size_t n_kv;
	int has_group;               /* -X group.id was given */
	int summary;
} consume_opts;

static int parse_option(void *ctx, int c, char *arg)
{
	consume_opts *o = ctx;

	switch (c) {
	case 'b':
		o->brokers = arg;
		return 0;
	case OPT_DEADLINE:
		o->deadline_topic = arg;
		return 0;
	case OPT_BREACH:
		o->breach_topic = arg;
		return 0;
	case OPT_AGGREGATE:
		o->aggregate_topic = arg;
		return 0;
	case 'o':
		o->output = arg;
		return 0;
	case OPT_OUTPUT_FORMAT:
		return cd_opt_format("--output-format", arg, 0, &o->out_fmt);
	case OPT_IDLE:
		return cd_opt_long("--idle-ms", arg, 1, 86400000, &o->idle_ms);
	case OPT_MAX:
		return cd_opt_long("--max", arg, 0, 2000000000, &o->max);
	case 'X':
		if (cd_opt_kafka(arg, o->kv, &o->n_kv, CD_KAFKA_MAX_KV) < 0)
			return -1;
		if (!strcmp(o->kv[o->n_kv - 1].key, "group.id"))
			o->has_group = 1;
		return 0;
	case OPT_SUMMARY:
		o->summary = 1;
		return 0;
	default:
		return -1;
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: contactd consume --brokers ADDR [options]\n"
		   "  -b, --brokers ADDR        bootstrap servers (host:port,…)\n"
		   "      --deadline-topic T    (default " CD_TOPIC_DEADLINES ")\n"
		   "      --breach-topic T      (default " CD_TOPIC_BREACHES ")\n"
		   "      --aggregate-topic T   (default " CD_TOPIC_AGGREGATES "; '' for none; read when it exists)\n"
		   "  -o, --output FILE         '-' is stdout (default '-')\n"
		   "      --output-format F     json or pb, as `contactd replay` writes (default json)\n"
		   "      --idle-ms N           stop after N ms without a message (default 3000)\n"
		   "      --max N               stop after N messages (default 0: no limit)\n"
		   "  -X key=value              a librdkafka property (repeatable; a 'kafka.' prefix is dropped)\n"
		   "      --log-level LEVEL     debug, info, warn, error (default info)\n"
		   "      --summary             at the end, a readable summary (stdout when --output is a file)\n"
		   "Reads the topics from the beginning (every partition, no consumer group) and writes one\n"
		   "contact.v1.Output per message; partitions interleave, so sort before comparing with a replay.\n");
}

static const cd_opt_cmd consume_cmd = { "b:o:X:h", longopts, parse_option, usage, 0 };

/* ---- the consumer ------------------------------------------------------------------- */

/*
 * A consumer with every partition of both topics assigned at the beginning.
 * Nothing joins a group and nothing is committed, but librdkafka needs a
 * group.id for assign(): a private one, unless -X group.id was given. 0, or
 * -1 once the reason is logged; *rk and *parts are the caller's to free either way.
 */
static int open_assigned(const consume_opts *o, rd_kafka_t **rk, rd_kafka_topic_partition_list_t **parts)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_resp_err_t e;
	cd_err err = { "", 0 };
	char errstr[512], group[64];
	const cd_kv base[] = {   /* before the caller's -X settings, which may override them */
		{ "bootstrap.servers", o->brokers },
		{ "enable.auto.commit", "false" },
		{ "enable.auto.offset.store", "false" },
		{ "auto.offset.reset", "earliest" },
		{ "group.id", group },   /* never joined (assign() only), nothing committed */
	};
	size_t n_base = sizeof(base) / sizeof(base[0]) - (o->has_group ? 1 : 0);

	cd_kafka_conf_log_to_stderr(conf);
	snprintf(group, sizeof(group), "contactd-consume-%ld", (long)getpid());
	if (cd_kafka_conf_apply(conf, base, n_base, &err) < 0 || cd_kafka_conf_apply(conf, o->kv, o->n_kv, &err) < 0) {
		cd_log(CD_LOG_ERROR, "bad kafka setting", "error", err.msg, NULL);
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	if (!(*rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr)))) {
		cd_log(CD_LOG_ERROR, "cannot create the consumer", "error", errstr, NULL);
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	/* conf is owned by *rk now */
	*parts = rd_kafka_topic_partition_list_new(16);
	if (cd_kafka_topic_partitions(*rk, o->deadline_topic, *parts, &err) < 0 ||
	    (strcmp(o->breach_topic, o->deadline_topic) &&
	     cd_kafka_topic_partitions(*rk, o->breach_topic, *parts, &err) < 0)) {
		cd_log(CD_LOG_ERROR, "cannot look up the topics", "brokers", o->brokers, "error", err.msg, NULL);
		return -1;
	}
	/* aggregate events only come from an aggregate stage: a cluster without the topic is fine */
	if (*o->aggregate_topic && cd_kafka_topic_partitions(*rk, o->aggregate_topic, *parts, &err) < 0)
		cd_log(CD_LOG_INFO, "no aggregate topic: reading deadlines and breaches only", "topic", o->aggregate_topic,
		       "error", err.msg, NULL);
	for (int i = 0; i < (*parts)->cnt; i++)
		(*parts)->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
	if ((e = rd_kafka_assign(*rk, *parts))) {
		cd_log(CD_LOG_ERROR, "cannot assign the partitions", "error", rd_kafka_err2str(e), NULL);
		return -1;
	}
	return 0;
}

typedef struct consuming {
	const consume_opts *o;
	FILE *outf;
	cd_buf buf;              /* one converted message */
	cd_summary *summary;     /* NULL unless --summary */
	uint64_t messages, written, skipped, deadlines, breaches, aggregates;
} consuming;

/* Writes every message until --idle-ms pass without one, --max, or a signal. -1 when the output fails (logged). */
static int consume_all(consuming *x, rd_kafka_t *rk)
{
	const consume_opts *o = x->o;
	int64_t last = cd_clock_mono_ms();
	cd_err err = { "", 0 };

	while (!stop && (o->max == 0 || x->messages < (uint64_t)o->max) && cd_clock_mono_ms() - last < o->idle_ms) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		const char *topic;
		char part[24], offset[24];
		int kind;

		if (!m)
			continue;
		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				cd_log(CD_LOG_WARN, "consumer error", "error", rd_kafka_message_errstr(m), NULL);
			rd_kafka_message_destroy(m);
			continue;
		}
		last = cd_clock_mono_ms();
		x->messages++;
		topic = rd_kafka_topic_name(m->rkt);
		kind = !strcmp(topic, o->breach_topic) ? K_BREACH
		     : *o->aggregate_topic && !strcmp(topic, o->aggregate_topic) ? K_AGGREGATE : K_DEADLINE;
		if (convert(m, kind, o->out_fmt, &x->buf, x->summary, &err) < 0) {
			x->skipped++;
			snprintf(part, sizeof(part), "%d", (int)m->partition);
			snprintf(offset, sizeof(offset), "%lld", (long long)m->offset);
			cd_log(CD_LOG_WARN, "message skipped", "topic", topic, "partition", part, "offset", offset, "error",
			       err.msg, NULL);
		} else if (cd_log_write(x->outf, o->out_fmt, x->buf.data, x->buf.len, &err) < 0) {
			cd_log(CD_LOG_ERROR, "cannot write output", "output", o->output, "error", err.msg, NULL);
			rd_kafka_message_destroy(m);
			return -1;
		} else {
			x->written++;
			if (kind == K_BREACH)
				x->breaches++;
			else if (kind == K_AGGREGATE)
				x->aggregates++;
			else
				x->deadlines++;
		}
		rd_kafka_message_destroy(m);
	}
	return 0;
}

int cmd_consume(int argc, char **argv)
{
	consume_opts o = { .deadline_topic = CD_TOPIC_DEADLINES, .breach_topic = CD_TOPIC_BREACHES,
			   .aggregate_topic = CD_TOPIC_AGGREGATES, .output = "-",
			   .out_fmt = CD_LOG_JSON, .idle_ms = 3000 };
	consuming x = { .o = &o };
	rd_kafka_t *rk = NULL;
	rd_kafka_topic_partition_list_t *parts = NULL;
	struct sigaction sa;
	char num[7][24];
	int rc, status = 1;

	cd_buf_init(&x.buf, (size_t)64 << 20);
	if ((rc = cd_opt_parse(&consume_cmd, argc, argv, &o)) != 0) {
		status = rc > 0 ? 0 : 1;
		goto out;
	}
	if (o.summary && !(x.summary = cd_summary_new()))
		goto out;
	if (!o.brokers || !*o.brokers) {
		cd_log(CD_LOG_ERROR, "missing option", "option", "--brokers", NULL);
		goto out;
	}
	if (open_assigned(&o, &rk, &parts) < 0)
		goto out;
	x.outf = cd_opt_output_private(o.output);   /* citizen ids: 0600 */
	if (!x.outf) {
		cd_log(CD_LOG_ERROR, "cannot open output", "output", o.output, "error", strerror(errno), NULL);
		goto out;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (consume_all(&x, rk) < 0)
		goto out;
	if (fflush(x.outf) != 0 || ferror(x.outf)) {
		cd_log(CD_LOG_ERROR, "cannot write output", "output", o.output, "error", strerror(errno), NULL);
		goto out;
	}
	snprintf(num[0], sizeof(num[0]), "%llu", (unsigned long long)x.messages);
	snprintf(num[1], sizeof(num[1]), "%llu", (unsigned long long)x.written);
	snprintf(num[2], sizeof(num[2]), "%llu", (unsigned long long)x.skipped);
	snprintf(num[3], sizeof(num[3]), "%llu", (unsigned long long)x.deadlines);
	snprintf(num[4], sizeof(num[4]), "%llu", (unsigned long long)x.breaches);
	snprintf(num[5], sizeof(num[5]), "%d", parts->cnt);
	snprintf(num[6], sizeof(num[6]), "%llu", (unsigned long long)x.aggregates);
	cd_log(CD_LOG_INFO, "consume done", "messages", num[0], "written", num[1], "skipped", num[2],
	       "deadline_events", num[3], "breach_events", num[4], "aggregate_events", num[6], "partitions", num[5], NULL);
	if (x.summary)
		cd_summary_print(x.summary, x.outf == stdout ? stderr : stdout);
	status = 0;
out:
	if (x.outf && x.outf != stdout)
		fclose(x.outf);
	if (parts)
		rd_kafka_topic_partition_list_destroy(parts);
	if (rk) {
		rd_kafka_consumer_close(rk);
		rd_kafka_destroy(rk);
		rd_kafka_wait_destroyed(5000);
	}
	cd_buf_release(&x.buf);
	cd_summary_free(x.summary);
	return status;
}
