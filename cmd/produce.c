/*
 * produce.c — `contactd produce`: an event log into the input topic.
 *
 * Reads a replay file (proto/eventlog.h, binary or JSON lines) and produces
 * each record as binary protobuf, keyed by citizen id, with the idempotent
 * producer of kafka.h (murmur2_random: the partition agrees with Java
 * clients). The record is decoded only to route it: its citizen id is the key,
 * and a ClockTick with an empty citizen_id is produced once to every partition
 * of the topic (docs/spec/events.md "Clock": on Kafka, an all-citizen tick advances the
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
#include "util/pseudonym.h"

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

/* ---- options --------------------------------------------------------------------- */

enum { OPT_INPUT_FORMAT = CD_OPT_OWN, OPT_RATE, OPT_SEND_INVALID, OPT_MAX_RECORD };

static const struct option longopts[] = {
	{ "brokers", required_argument, NULL, 'b' },
	{ "topic", required_argument, NULL, 't' },
	{ "input", required_argument, NULL, 'i' },
	{ "input-format", required_argument, NULL, OPT_INPUT_FORMAT },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "send-invalid", no_argument, NULL, OPT_SEND_INVALID },
	{ "max-record-bytes", required_argument, NULL, OPT_MAX_RECORD },
	CD_OPT_LOG_LEVEL_LONGOPT,
	CD_OPT_HELP_LONGOPT,
	{ NULL, 0, NULL, 0 },
};

typedef struct produce_opts {
	const char *brokers, *topic, *input;
	cd_log_format in_fmt;
	cd_kv kv[CD_KAFKA_MAX_KV];   /* -X */
	size_t n_kv;
	long rate;                   /* records per second; 0: no limit */
	long max_record;
	int send_invalid;
} produce_opts;

static int parse_option(void *ctx, int c, char *arg)
{
	produce_opts *o = ctx;

	switch (c) {
	case 'b':
		o->brokers = arg;
		return 0;
	case 't':
		o->topic = arg;
		return 0;
	case 'i':
		o->input = arg;
		return 0;
	case OPT_INPUT_FORMAT:
		return cd_opt_format("--input-format", arg, 1, &o->in_fmt);
	case 'X':
		return cd_opt_kafka(arg, o->kv, &o->n_kv, CD_KAFKA_MAX_KV);
	case OPT_RATE:
		return cd_opt_long("--rate", arg, 0, 100000000, &o->rate);
	case OPT_SEND_INVALID:
		o->send_invalid = 1;
		return 0;
	case OPT_MAX_RECORD:
		return cd_opt_long_as_run("max-record-bytes", arg, &o->max_record);
	default:
		return -1;
	}
}

static void usage(FILE *f)
{
	long def, lo, hi;

	cd_opt_run_int("max-record-bytes", &def, &lo, &hi);
	fprintf(f,
		"usage: contactd produce --brokers ADDR [options]\n"
		"  -b, --brokers ADDR         bootstrap servers (host:port,…), e.g. the address `contactd devbroker` prints\n"
		"  -t, --topic T              input topic (default " CD_TOPIC_EVENTS ")\n"
		"  -i, --input FILE           event log; '-' is stdin (default '-')\n"
		"      --input-format F       auto, json or pb (default auto); records go out as binary protobuf\n"
		"  -X key=value               a librdkafka property (repeatable; a 'kafka.' prefix is dropped)\n"
		"      --rate N               at most N records per second; 0 is as fast as possible (default 0)\n"
		"      --send-invalid         also send records that do not decode or validate (dead-letter tests)\n"
		"      --max-record-bytes N   largest input record, %ld … %ld (default %ld)\n"
		"      --log-level LEVEL      debug, info, warn, error (default info)\n"
		"Keys are citizen ids (murmur2_random partitioner); a ClockTick with an empty citizen_id\n"
		"goes to every partition. Ends with a summary line; non-zero status if a delivery failed.\n",
		lo, hi, def);
}

static const cd_opt_cmd produce_cmd = { "b:t:i:X:h", longopts, parse_option, usage, 0 };

/* ---- records out ------------------------------------------------------------------- */

typedef struct producing {
	const produce_opts *o;
	cd_producer *p;
	int partitions;          /* of the topic */
	cd_buf pack;             /* the decoded record packed again */
	int64_t start;           /* monotonic ms before the first record (--rate) */
	uint64_t records, sent, skipped, invalid, ticks, paced;
	deliveries d;
} producing;

/* Where one record goes and with what bytes. */
typedef struct route {
	const void *value;
	size_t len;
	const char *key;         /* NULL: a null key */
	int fan_out;             /* an all-citizen ClockTick: once to every partition */
} route;

/*
 * Decodes a record to route it: the key is its citizen id, and the bytes are
 * the decoded message packed again (JSON in, binary out). 1 with *rt set (and
 * *msg, which the caller frees after sending); 0 when the record is skipped
 * (logged and counted). With --send-invalid a record that did not validate is
 * routed like any other, and one that did not decode goes out as its raw
 * bytes with a null key.
 */
static int route_record(producing *x, const uint8_t *data, size_t len, cd_log_format fmt, const char *pos,
			Contact__V1__CitizenEvent **msg, route *rt)
{
	const char *input = x->o->input;
	cd_event ev;
	cd_codec_stage stage;
	cd_err err;
	int ok = cd_codec_decode_event(data, len, fmt, msg, &ev, &stage, &err) == 0;

	*rt = (route){ data, len, NULL, 0 };   /* --send-invalid and undecodable: unchanged, null key */
	if (!ok) {
		x->invalid++;
		if (*msg && (*msg)->citizen_id)   /* a text quoting the id (in any field) names its pseudonym */
			cd_pseudonym_scrub(NULL, err.msg, sizeof(err.msg), (*msg)->citizen_id, strlen((*msg)->citizen_id));
		cd_log(CD_LOG_WARN, x->o->send_invalid ? "invalid record sent" : "record skipped", "input", input,
		       "position", pos, "event_id", *msg ? (*msg)->event_id : "", "stage", cd_codec_stage_name(stage),
		       "error", err.msg, NULL);
		if (!x->o->send_invalid) {
			x->skipped++;
			return 0;
		}
	}
	if (!*msg)
		return 1;
	cd_buf_reset(&x->pack);
	if (cd_buf_reserve(&x->pack, protobuf_c_message_get_packed_size(&(*msg)->base)) < 0) {
		cd_log(CD_LOG_WARN, "record skipped", "input", input, "position", pos, "error", "packed record too large",
		       NULL);
		x->skipped++;
		return 0;
	}
	x->pack.len = protobuf_c_message_pack(&(*msg)->base, (uint8_t *)x->pack.data);
	rt->value = x->pack.data;
	rt->len = x->pack.len;
	if ((*msg)->citizen_id && *(*msg)->citizen_id)
		rt->key = (*msg)->citizen_id;
	rt->fan_out = ok && (*msg)->payload_case == CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CLOCK_TICK && !rt->key;
	return 1;
}

/* Waits for --rate: the n-th record leaves no earlier than n / rate seconds after the start. */
static void pace(producing *x)
{
	double due = (double)x->start + 1000.0 * (double)x->paced / (double)x->o->rate;   /* ms */
	double wait;

	while ((wait = due - (double)cd_clock_mono_ms()) > 0)
		cd_producer_poll(x->p, wait > 100 ? 100 : (int)wait + 1);
	x->paced++;
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

/* Queues a routed record: by key, or once to every partition. 0 / -1 (err). */
static int send_record(producing *x, const route *rt, cd_err *err)
{
	const char *topic = x->o->topic;

	if (x->o->rate > 0)
		pace(x);
	if (!rt->fan_out) {
		if (send_one(x->p, topic, -1, rt->key, rt->key ? strlen(rt->key) : 0, rt->value, rt->len, err) < 0)
			return -1;
		x->sent++;
		return 0;
	}
	x->ticks++;
	for (int32_t part = 0; part < x->partitions; part++) {
		if (send_one(x->p, topic, part, NULL, 0, rt->value, rt->len, err) < 0)
			return -1;
		x->sent++;
	}
	return 0;
}

/* Every record of the log out. -1 when framing was lost or a record could not be queued. */
static int produce_all(producing *x, cd_log_reader *rd, cd_err *err)
{
	char pos[128];

	for (;;) {
		const uint8_t *data;
		size_t len;
		Contact__V1__CitizenEvent *msg = NULL;
		route rt;
		int rc = 0;
		cd_log_status st = cd_log_reader_next_logged(rd, &data, &len, &x->records, &x->skipped, err);

		if (st == CD_LOG_EOF)
			return 0;
		if (st == CD_LOG_LOST)
			return -1;
		cd_log_reader_position(rd, pos, sizeof(pos));
		if (route_record(x, data, len, cd_log_reader_format(rd), pos, &msg, &rt))
			rc = send_record(x, &rt, err);
		if (msg)
			protobuf_c_message_free_unpacked(&msg->base, NULL);
		if (rc < 0) {
			cd_log(CD_LOG_ERROR, "cannot produce", "position", pos, "error", err->msg, NULL);
			return -1;
		}
		cd_producer_poll(x->p, 0);
		if (cd_producer_fatal(x->p, err) < 0)
			return 0;   /* reported after the flush */
	}
}

/* The closing line: what was read, produced, failed and skipped. */
static void report(const producing *x, int status)
{
	char num[7][24];

	snprintf(num[0], sizeof(num[0]), "%llu", (unsigned long long)x->records);
	snprintf(num[1], sizeof(num[1]), "%llu", (unsigned long long)x->d.delivered);
	snprintf(num[2], sizeof(num[2]), "%llu", (unsigned long long)x->d.failed);
	snprintf(num[3], sizeof(num[3]), "%llu", (unsigned long long)x->skipped);
	snprintf(num[4], sizeof(num[4]), "%llu", (unsigned long long)x->invalid);
	snprintf(num[5], sizeof(num[5]), "%llu", (unsigned long long)x->ticks);
	snprintf(num[6], sizeof(num[6]), "%d", x->partitions);
	cd_log(status == 0 ? CD_LOG_INFO : CD_LOG_ERROR, status == 0 ? "produce done" : "produce failed", "topic",
	       x->o->topic, "records", num[0], "produced", num[1], "failed", num[2], "skipped", num[3], "invalid",
	       num[4], "ticks_fanned_out", num[5], "partitions", num[6], NULL);
}

int cmd_produce(int argc, char **argv)
{
	produce_opts o = { .topic = CD_TOPIC_EVENTS, .input = "-", .in_fmt = CD_LOG_AUTO };
	producing x = { .o = &o };
	cd_log_reader *rd = NULL;
	FILE *inf = NULL;
	cd_err err = { "", 0 };
	int rc, status = 1, ended;

	cd_opt_run_int("max-record-bytes", &o.max_record, NULL, NULL);
	cd_buf_init(&x.pack, (size_t)64 << 20);
	if ((rc = cd_opt_parse(&produce_cmd, argc, argv, &o)) != 0) {
		status = rc > 0 ? 0 : 1;
		goto out;
	}
	if (!o.brokers || !*o.brokers) {
		cd_log(CD_LOG_ERROR, "missing option", "option", "--brokers", NULL);
		goto out;
	}
	inf = strcmp(o.input, "-") ? fopen(o.input, "rb") : stdin;
	if (!inf) {
		cd_log(CD_LOG_ERROR, "cannot open input", "input", o.input, "error", strerror(errno), NULL);
		goto out;
	}
	if (!(rd = cd_log_reader_new(inf, o.input, o.in_fmt, (size_t)o.max_record)))
		goto out;
	if (!(x.p = cd_producer_new(o.brokers, o.kv, o.n_kv, on_delivery, &x.d, &err))) {
		cd_log(CD_LOG_ERROR, "cannot create the producer", "error", err.msg, NULL);
		goto out;
	}
	if ((x.partitions = cd_kafka_topic_partitions(cd_producer_handle(x.p), o.topic, NULL, &err)) < 0) {
		cd_log(CD_LOG_ERROR, "cannot look up the topic", "brokers", o.brokers, "topic", o.topic, "error",
		       err.msg, NULL);
		goto out;
	}

	x.start = cd_clock_mono_ms();
	ended = produce_all(&x, rd, &err) == 0;   /* what was queued is still delivered */

	/* Every queued message ends delivered or failed (message.timeout.ms bounds the wait). */
	while (rd_kafka_outq_len(cd_producer_handle(x.p)) > 0 && cd_producer_fatal(x.p, NULL) == 0)
		cd_producer_flush(x.p, 1000, NULL);
	if (cd_producer_fatal(x.p, &err) < 0)
		cd_log(CD_LOG_ERROR, "producer failed", "error", err.msg, NULL);
	else if (ended && x.d.failed == 0 && x.d.delivered == x.sent)
		status = 0;
	report(&x, status);
out:
	cd_producer_free(x.p);
	cd_log_reader_free(rd);
	if (inf && inf != stdin)
		fclose(inf);
	cd_buf_release(&x.pack);
	if (x.p)
		rd_kafka_wait_destroyed(5000);
	return status;
}
