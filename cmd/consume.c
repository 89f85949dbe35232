/*
 * consume.c — `contactd consume`: the output topics into a replay-style file.
 *
 * Reads the deadline and breach topics from the beginning with a plain
 * consumer: every partition (found in the metadata) is assigned at
 * OFFSET_BEGINNING; nothing joins a group and nothing is committed (librdkafka
 * needs a group.id for assign(); a private one is set unless -X group.id is
 * given). Each message is unpacked as a DeadlineEvent or a BreachEvent by its
 * topic, wrapped in a contact.v1.Output ({"deadline": …} / {"breach": …}) and
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
#include "util/num.h"

#define MAX_KV 128

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Wraps one topic message in an Output and appends it to out in fmt. 0 / -1 (undecodable). */
static int convert(const rd_kafka_message_t *m, int is_breach, cd_log_format fmt, cd_buf *out, cd_summary *sum,
		   cd_err *err)
{
	Contact__V1__Output o = CONTACT__V1__OUTPUT__INIT;
	ProtobufCMessage *inner;
	int rc = -1;

	if (is_breach) {
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
	if (sum && is_breach)
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

static void usage(FILE *f)
{
	fprintf(f, "usage: contactd consume --brokers ADDR [options]\n"
		   "  -b, --brokers ADDR        bootstrap servers (host:port,…)\n"
		   "      --deadline-topic T    (default " CD_TOPIC_DEADLINES ")\n"
		   "      --breach-topic T      (default " CD_TOPIC_BREACHES ")\n"
		   "  -o, --output FILE         '-' is stdout (default '-')\n"
		   "      --output-format F     json or pb, as `contactd replay` writes (default json)\n"
		   "      --idle-ms N           stop after N ms without a message (default 3000)\n"
		   "      --max N               stop after N messages (default 0: no limit)\n"
		   "  -X key=value              a librdkafka property (repeatable; a 'kafka.' prefix is dropped)\n"
		   "      --log-level LEVEL     debug, info, warn, error (default info)\n"
		   "      --summary             at the end, a readable summary (stdout when --output is a file)\n"
		   "Reads both topics from the beginning (every partition, no consumer group) and writes one\n"
		   "contact.v1.Output per message; partitions interleave, so sort before comparing with a replay.\n");
}

int cmd_consume(int argc, char **argv)
{
	enum { OPT_DEADLINE = 2001, OPT_BREACH, OPT_OUTPUT_FORMAT, OPT_IDLE, OPT_MAX, OPT_LOG_LEVEL, OPT_SUMMARY };
	static const struct option longopts[] = {
		{ "brokers", required_argument, NULL, 'b' },
		{ "deadline-topic", required_argument, NULL, OPT_DEADLINE },
		{ "breach-topic", required_argument, NULL, OPT_BREACH },
		{ "output", required_argument, NULL, 'o' },
		{ "output-format", required_argument, NULL, OPT_OUTPUT_FORMAT },
		{ "idle-ms", required_argument, NULL, OPT_IDLE },
		{ "max", required_argument, NULL, OPT_MAX },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "summary", no_argument, NULL, OPT_SUMMARY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *brokers = NULL, *deadline_topic = CD_TOPIC_DEADLINES, *breach_topic = CD_TOPIC_BREACHES;
	const char *output = "-";
	cd_log_format out_fmt = CD_LOG_JSON;
	cd_kv kv[MAX_KV];
	size_t n_kv = 0;
	long idle_ms = 3000, max = 0;
	int c, lv, status = 1, has_group = 0;
	uint64_t messages = 0, written = 0, skipped = 0, deadlines = 0, breaches = 0;
	rd_kafka_conf_t *conf = NULL;
	rd_kafka_t *rk = NULL;
	rd_kafka_topic_partition_list_t *parts = NULL;
	rd_kafka_resp_err_t e;
	FILE *outf = NULL;
	cd_buf buf;
	cd_err err = { "", 0 };
	struct sigaction sa;
	char errstr[512], group[64], num[6][24];
	int64_t last;
	cd_summary *summary = NULL;

	cd_buf_init(&buf, (size_t)64 << 20);
	optind = 1;
	while ((c = getopt_long(argc, argv, "b:o:X:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			brokers = optarg;
			break;
		case OPT_DEADLINE:
			deadline_topic = optarg;
			break;
		case OPT_SUMMARY:
			if (!summary && !(summary = cd_summary_new()))
				goto out;
			break;
		case OPT_BREACH:
			breach_topic = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case OPT_OUTPUT_FORMAT:
			if (cd_log_format_parse(optarg, &out_fmt) < 0 || out_fmt == CD_LOG_AUTO) {
				cd_log(CD_LOG_ERROR, "bad option", "option", "--output-format", "value", optarg, NULL);
				goto out;
			}
			break;
		case OPT_IDLE:
			if (cd_num_parse_range(optarg, 1, 86400000, &idle_ms) < 0) {
				cd_log(CD_LOG_ERROR, "bad option", "option", "--idle-ms", "value", optarg, "expected",
				       "1 … 86400000", NULL);
				goto out;
			}
			break;
		case OPT_MAX:
			if (cd_num_parse_range(optarg, 0, 2000000000, &max) < 0) {
				cd_log(CD_LOG_ERROR, "bad option", "option", "--max", "value", optarg, "expected",
				       "0 … 2000000000", NULL);
				goto out;
			}
			break;
		case 'X':
			if (n_kv == MAX_KV) {
				cd_log(CD_LOG_ERROR, "too many -X settings", "max", "128", NULL);
				goto out;
			}
			if (cd_kafka_kv_parse(optarg, &kv[n_kv]) < 0) {
				/* Not echoed: the argument may hold a secret. */
				cd_log(CD_LOG_ERROR, "bad option", "option", "-X", "expected", "key=value", NULL);
				goto out;
			}
			if (!strcmp(kv[n_kv].key, "group.id"))
				has_group = 1;
			n_kv++;
			break;
		case OPT_LOG_LEVEL:
			if ((lv = cd_log_level_parse(optarg)) < 0) {
				cd_log(CD_LOG_ERROR, "bad option", "option", "--log-level", "value", optarg, NULL);
				goto out;
			}
			cd_log_set_level(lv);
			break;
		case 'h':
			usage(stdout);
			status = 0;
			goto out;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (optind < argc) {
		cd_log(CD_LOG_ERROR, "unexpected argument", "argument", argv[optind], NULL);
		goto out;
	}
	if (!brokers || !*brokers) {
		cd_log(CD_LOG_ERROR, "missing option", "option", "--brokers", NULL);
		goto out;
	}

	conf = rd_kafka_conf_new();
	cd_kafka_conf_log_to_stderr(conf);
	snprintf(group, sizeof(group), "contactd-consume-%ld", (long)getpid());
	{
		/* Before the caller's -X settings, which may override them. */
		const cd_kv base[] = {
			{ "bootstrap.servers", brokers },
			{ "enable.auto.commit", "false" },
			{ "enable.auto.offset.store", "false" },
			{ "auto.offset.reset", "earliest" },
			{ "group.id", group },   /* never joined (assign() only), nothing committed */
		};
		size_t n_base = sizeof(base) / sizeof(base[0]) - (has_group ? 1 : 0);
		if (cd_kafka_conf_apply(conf, base, n_base, &err) < 0 || cd_kafka_conf_apply(conf, kv, n_kv, &err) < 0) {
			cd_log(CD_LOG_ERROR, "bad kafka setting", "error", err.msg, NULL);
			goto out;
		}
	}
	if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr)))) {
		cd_log(CD_LOG_ERROR, "cannot create the consumer", "error", errstr, NULL);
		goto out;
	}
	conf = NULL;   /* owned by rk */

	parts = rd_kafka_topic_partition_list_new(16);
	if (cd_kafka_topic_partitions(rk, deadline_topic, parts, &err) < 0 ||
	    (strcmp(breach_topic, deadline_topic) && cd_kafka_topic_partitions(rk, breach_topic, parts, &err) < 0)) {
		cd_log(CD_LOG_ERROR, "cannot look up the topics", "brokers", brokers, "error", err.msg, NULL);
		goto out;
	}
	for (int i = 0; i < parts->cnt; i++)
		parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
	if ((e = rd_kafka_assign(rk, parts))) {
		cd_log(CD_LOG_ERROR, "cannot assign the partitions", "error", rd_kafka_err2str(e), NULL);
		goto out;
	}
	outf = strcmp(output, "-") ? fopen(output, "wb") : stdout;
	if (!outf) {
		cd_log(CD_LOG_ERROR, "cannot open output", "output", output, "error", strerror(errno), NULL);
		goto out;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	last = cd_clock_mono_ms();
	while (!stop && (max == 0 || messages < (uint64_t)max) && cd_clock_mono_ms() - last < idle_ms) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		const char *topic;
		char where[64];
		int is_breach;

		if (!m)
			continue;
		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				cd_log(CD_LOG_WARN, "consumer error", "error", rd_kafka_message_errstr(m), NULL);
			rd_kafka_message_destroy(m);
			continue;
		}
		last = cd_clock_mono_ms();
		messages++;
		topic = rd_kafka_topic_name(m->rkt);
		is_breach = !strcmp(topic, breach_topic);
		if (convert(m, is_breach, out_fmt, &buf, summary, &err) < 0) {
			skipped++;
			snprintf(where, sizeof(where), "%d", (int)m->partition);
			snprintf(errstr, sizeof(errstr), "%lld", (long long)m->offset);
			cd_log(CD_LOG_WARN, "message skipped", "topic", topic, "partition", where, "offset", errstr,
			       "error", err.msg, NULL);
		} else if (cd_log_write(outf, out_fmt, buf.data, buf.len, &err) < 0) {
			cd_log(CD_LOG_ERROR, "cannot write output", "output", output, "error", err.msg, NULL);
			rd_kafka_message_destroy(m);
			goto out;
		} else {
			written++;
			if (is_breach)
				breaches++;
			else
				deadlines++;
		}
		rd_kafka_message_destroy(m);
	}
	if (fflush(outf) != 0 || ferror(outf)) {
		cd_log(CD_LOG_ERROR, "cannot write output", "output", output, "error", strerror(errno), NULL);
		goto out;
	}
	snprintf(num[0], sizeof(num[0]), "%llu", (unsigned long long)messages);
	snprintf(num[1], sizeof(num[1]), "%llu", (unsigned long long)written);
	snprintf(num[2], sizeof(num[2]), "%llu", (unsigned long long)skipped);
	snprintf(num[3], sizeof(num[3]), "%llu", (unsigned long long)deadlines);
	snprintf(num[4], sizeof(num[4]), "%llu", (unsigned long long)breaches);
	snprintf(num[5], sizeof(num[5]), "%d", parts->cnt);
	cd_log(CD_LOG_INFO, "consume done", "messages", num[0], "written", num[1], "skipped", num[2],
	       "deadline_events", num[3], "breach_events", num[4], "partitions", num[5], NULL);
	if (summary)
		cd_summary_print(summary, outf == stdout ? stderr : stdout);
	status = 0;
out:
	if (outf && outf != stdout)
		fclose(outf);
	if (parts)
		rd_kafka_topic_partition_list_destroy(parts);
	if (rk) {
		rd_kafka_consumer_close(rk);
		rd_kafka_destroy(rk);
		rd_kafka_wait_destroyed(5000);
	}
	if (conf)
		rd_kafka_conf_destroy(conf);
	cd_buf_release(&buf);
	cd_summary_free(summary);
	return status;
}
