/*
 * produce.c — `contactd produce`: an event log into the input topic.
 *
 * Reads a replay file (proto/eventlog.h, binary or JSON lines) and produces
 * each record as binary protobuf, keyed by citizen id, with the idempotent
 * producer of kafka.h (murmur2_random: the partition agrees with Java
 * clients). The record is decoded only to route it: its citizen id is the key,
 * and a ClockTick with an empty citizen_id is produced once to every partition
 * of the topic (events.md "Clock": on Kafka, an all-citizen tick advances the
 * citizens of the partition it was produced to). The bytes on the wire are the
 * decoded message packed again, so JSON input becomes binary.
 *
 * Records that do not decode or do not validate are counted and reported;
 * they are skipped unless --send-invalid, which sends them to test the
 * processor's dead-letter path: a record that decoded but failed validation
 * is packed and keyed like any other, one that did not decode goes out as its
 * raw bytes with a null key. Lost framing stops reading (what was read is
 * still delivered) and the status is non-zero, as is any failed delivery.
 */
#include "cmd/commands.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/opts.h"
#include "consumer/kafka.h"
#include "proto/codec.h"
#include "proto/eventlog.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/num.h"

#define MAX_KV 128
#define MAX_FAILURES_LOGGED 10

typedef struct deliveries {
	uint64_t delivered, failed;
} deliveries;

/* @locality the main thread, from cd_producer_poll/flush. */
static void on_delivery(void *ctx, void *opaque, rd_kafka_resp_err_t e, const char *reason)
{
	deliveries *d = ctx;

	(void)opaque;
	if (!e) {
		d->delivered++;
		return;
	}
	if (d->failed++ < MAX_FAILURES_LOGGED)
		cd_log(CD_LOG_ERROR, "delivery failed", "error", rd_kafka_err2name(e), "reason", reason ? reason : "",
		       NULL);
	else if (d->failed == MAX_FAILURES_LOGGED + 1)
		cd_log(CD_LOG_ERROR, "more deliveries failed; only the count is reported from here", NULL);
}

/* Queues one message, waiting while the local queue is full. */
static int send_one(cd_producer *p, const char *topic, int32_t partition, const char *key, size_t key_len,
		    const void *value, size_t len, cd_err *err)
{
	for (;;) {
		if (cd_producer_send(p, topic, partition, key, key_len, value, len, NULL, 0, NULL, err) == 0)
			return 0;
		if (!err->retriable)
			return -1;
		cd_producer_poll(p, 100);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: contactd produce --brokers ADDR [options]\n"
		   "  -b, --brokers ADDR         bootstrap servers (host:port,…), e.g. the address `contactd devbroker` prints\n"
		   "  -t, --topic T              input topic (default " CD_TOPIC_EVENTS ")\n"
		   "  -i, --input FILE           event log; '-' is stdin (default '-')\n"
		   "      --input-format F       auto, json or pb (default auto); records go out as binary protobuf\n"
		   "  -X key=value               a librdkafka property (repeatable; a 'kafka.' prefix is dropped)\n"
		   "      --rate N               at most N records per second; 0 is as fast as possible (default 0)\n"
		   "      --send-invalid         also send records that do not decode or validate (dead-letter tests)\n"
		   "      --max-record-bytes N   largest input record, 64 … 67108864 (default 1048576)\n"
		   "      --log-level LEVEL      debug, info, warn, error (default info)\n"
		   "Keys are citizen ids (murmur2_random partitioner); a ClockTick with an empty citizen_id\n"
		   "goes to every partition. Ends with a summary line; non-zero status if a delivery failed.\n");
}

int cmd_produce(int argc, char **argv)
{
	enum { OPT_INPUT_FORMAT = 2001, OPT_RATE, OPT_SEND_INVALID, OPT_MAX_RECORD, OPT_LOG_LEVEL };
	static const struct option longopts[] = {
		{ "brokers", required_argument, NULL, 'b' },
		{ "topic", required_argument, NULL, 't' },
		{ "input", required_argument, NULL, 'i' },
		{ "input-format", required_argument, NULL, OPT_INPUT_FORMAT },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "send-invalid", no_argument, NULL, OPT_SEND_INVALID },
		{ "max-record-bytes", required_argument, NULL, OPT_MAX_RECORD },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *brokers = NULL, *topic = CD_TOPIC_EVENTS, *input = "-";
	cd_log_format in_fmt = CD_LOG_AUTO;
	cd_kv kv[MAX_KV];
	size_t n_kv = 0;
	long rate = 0, max_record = 1048576;
	int send_invalid = 0, partitions = 0, c, lv, status = 1, lost = 0, send_failed = 0;
	uint64_t records = 0, sent = 0, skipped = 0, invalid = 0, ticks = 0, paced = 0;
	deliveries d = { 0, 0 };
	cd_producer *p = NULL;
	cd_log_reader *rd = NULL;
	FILE *inf = NULL;
	cd_buf pack;
	cd_err err = { "", 0 };
	char pos[128], num[8][24];
	int64_t start;

	cd_buf_init(&pack, (size_t)64 << 20);
	optind = 1;
	while ((c = getopt_long(argc, argv, "b:t:i:X:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			brokers = optarg;
			break;
		case 't':
			topic = optarg;
			break;
		case 'i':
			input = optarg;
			break;
		case OPT_INPUT_FORMAT:
			if (cd_log_format_parse(optarg, &in_fmt) < 0) {
				cd_log(CD_LOG_ERROR, "bad option", "option", "--input-format", "value", optarg, NULL);
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
			n_kv++;
			break;
		case OPT_RATE:
			if (cd_num_parse_range(optarg, 0, 100000000, &rate) < 0) {
				cd_log(CD_LOG_ERROR, "bad option", "option", "--rate", "value", optarg, "expected",
				       "0 … 100000000", NULL);
				goto out;
			}
			break;
		case OPT_SEND_INVALID:
			send_invalid = 1;
			break;
		case OPT_MAX_RECORD:
			if (cd_num_parse_range(optarg, 64, 67108864, &max_record) < 0) {
				cd_log(CD_LOG_ERROR, "bad option", "option", "--max-record-bytes", "value", optarg,
				       "expected", "64 … 67108864", NULL);
				goto out;
			}
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
	inf = strcmp(input, "-") ? fopen(input, "rb") : stdin;
	if (!inf) {
		cd_log(CD_LOG_ERROR, "cannot open input", "input", input, "error", strerror(errno), NULL);
		goto out;
	}
	if (!(rd = cd_log_reader_new(inf, input, in_fmt, (size_t)max_record)))
		goto out;
	if (!(p = cd_producer_new(brokers, kv, n_kv, on_delivery, &d, &err))) {
		cd_log(CD_LOG_ERROR, "cannot create the producer", "error", err.msg, NULL);
		goto out;
	}
	if ((partitions = cd_kafka_topic_partitions(cd_producer_handle(p), topic, NULL, &err)) < 0) {
		cd_log(CD_LOG_ERROR, "cannot look up the topic", "brokers", brokers, "topic", topic, "error", err.msg,
		       NULL);
		goto out;
	}

	start = cd_clock_mono_ms();
	for (;;) {
		const uint8_t *data;
		size_t len;
		cd_log_status st = cd_log_reader_next_logged(rd, &data, &len, &records, &skipped, &err);
		Contact__V1__CitizenEvent *msg = NULL;
		cd_event ev;
		cd_codec_stage stage;
		const void *value;
		size_t value_len;
		const char *key = NULL;
		int ok, rc;

		if (st == CD_LOG_EOF)
			break;
		if (st == CD_LOG_LOST) {
			lost = 1;
			break;
		}
		cd_log_reader_position(rd, pos, sizeof(pos));
		ok = cd_codec_decode_event(data, len, cd_log_reader_format(rd), &msg, &ev, &stage, &err) == 0;
		if (!ok) {
			invalid++;
			cd_log(CD_LOG_WARN, send_invalid ? "invalid record sent" : "record skipped", "input", input,
			       "position", pos, "event_id", msg ? msg->event_id : "", "stage",
			       cd_codec_stage_name(stage), "error", err.msg, NULL);
			if (!send_invalid) {
				skipped++;
				if (msg)
					protobuf_c_message_free_unpacked(&msg->base, NULL);
				continue;
			}
		}
		if (msg) {
			size_t need = protobuf_c_message_get_packed_size(&msg->base);
			cd_buf_reset(&pack);
			if (cd_buf_reserve(&pack, need) < 0) {
				cd_log(CD_LOG_WARN, "record skipped", "input", input, "position", pos, "error",
				       "packed record too large", NULL);
				skipped++;
				protobuf_c_message_free_unpacked(&msg->base, NULL);
				continue;
			}
			pack.len = protobuf_c_message_pack(&msg->base, (uint8_t *)pack.data);
			value = pack.data;
			value_len = pack.len;
			if (msg->citizen_id && *msg->citizen_id)
				key = msg->citizen_id;
		} else {
			value = data;   /* --send-invalid and undecodable: unchanged, null key */
			value_len = len;
		}

		if (rate > 0) {
			double due = (double)start + 1000.0 * (double)paced / (double)rate;   /* ms */
			double wait;
			while ((wait = due - (double)cd_clock_mono_ms()) > 0)
				cd_producer_poll(p, wait > 100 ? 100 : (int)wait + 1);
			paced++;
		}
		if (ok && msg->payload_case == CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CLOCK_TICK && !key) {
			ticks++;
			rc = 0;
			for (int32_t part = 0; part < partitions && rc == 0; part++)
				if ((rc = send_one(p, topic, part, NULL, 0, value, value_len, &err)) == 0)
					sent++;
		} else {
			rc = send_one(p, topic, -1, key, key ? strlen(key) : 0, value, value_len, &err);
			if (rc == 0)
				sent++;
		}
		if (msg)
			protobuf_c_message_free_unpacked(&msg->base, NULL);
		if (rc < 0) {
			cd_log(CD_LOG_ERROR, "cannot produce", "position", pos, "error", err.msg, NULL);
			send_failed = 1;
			break;
		}
		cd_producer_poll(p, 0);
		if (cd_producer_fatal(p, &err) < 0)
			break;
	}

	/* Every queued message ends delivered or failed (message.timeout.ms bounds the wait). */
	while (rd_kafka_outq_len(cd_producer_handle(p)) > 0 && cd_producer_fatal(p, NULL) == 0)
		cd_producer_flush(p, 1000, NULL);
	if (cd_producer_fatal(p, &err) < 0)
		cd_log(CD_LOG_ERROR, "producer failed", "error", err.msg, NULL);
	else if (!lost && !send_failed && d.failed == 0 && d.delivered == sent)
		status = 0;

	snprintf(num[0], sizeof(num[0]), "%llu", (unsigned long long)records);
	snprintf(num[1], sizeof(num[1]), "%llu", (unsigned long long)d.delivered);
	snprintf(num[2], sizeof(num[2]), "%llu", (unsigned long long)d.failed);
	snprintf(num[3], sizeof(num[3]), "%llu", (unsigned long long)skipped);
	snprintf(num[4], sizeof(num[4]), "%llu", (unsigned long long)invalid);
	snprintf(num[5], sizeof(num[5]), "%llu", (unsigned long long)ticks);
	snprintf(num[6], sizeof(num[6]), "%d", partitions);
	cd_log(status == 0 ? CD_LOG_INFO : CD_LOG_ERROR, status == 0 ? "produce done" : "produce failed", "topic",
	       topic, "records", num[0], "produced", num[1], "failed", num[2], "skipped", num[3], "invalid", num[4],
	       "ticks_fanned_out", num[5], "partitions", num[6], NULL);
out:
	cd_producer_free(p);
	cd_log_reader_free(rd);
	if (inf && inf != stdin)
		fclose(inf);
	cd_buf_release(&pack);
	if (p)
		rd_kafka_wait_destroyed(5000);
	return status;
}
