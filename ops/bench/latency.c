/*
 * latency.c — end-to-end latency of the live pipeline (ops/bench-live.sh).
 *
 *   build/release/bench/latency --brokers ADDR [--topic IN] [--out-topic OUT]
 *                               [--rate R] [--seconds S] [--warmup-s W]
 *                               [--wait-s T] [--tag TAG]
 *
 * Produces Registration events (KONTANTHJAELP, AKTIVITETSPARAT, municipality
 * 101, occurred 2021-03-01T09:00Z: on the event clock each one yields OPENED
 * outputs at once) for fresh citizens "lat-TAG-NNNNNNNN", paced at R per second
 * for S seconds, and records when each was handed to the producer. At the same
 * time it reads OUT (every partition, assigned at its end offset before the
 * first send: no consumer group) and notes, per citizen (the output's key),
 * when its first output arrived. Latency = that arrival minus the send, both on
 * this process' monotonic clock, so it covers the producer's batching, the
 * broker, the processor (batch wait, Redis load and fenced commit, relay) and
 * the broker again.
 *
 * Prints one line:
 *   latency: sent N at R/s (actual A/s) matched M: p50 X ms p90 .. p99 Y ms max Z ms
 * Inputs sent during the first W seconds (warm-up) are left out of the
 * percentiles. Exit status 1 when fewer than 99 % of the measured inputs got
 * an output within T seconds after the last send.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <protobuf-c/protobuf-c.h>

#include "consumer/kafka.h"
#include "contact/v1/events.pb-c.h"

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, "latency: %s: %s\n", what, why);
	exit(2);
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v)
{
	char errstr[256];
	if (rd_kafka_conf_set(c, k, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
		die(k, errstr);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(const int64_t *v, size_t n, double p)
{
	size_t i;
	if (n == 0)
		return 0;
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return (double)v[i] / 1e6;
}

typedef struct state {
	int64_t *sent, *got;     /* per citizen index: send and first-output instants (0: none) */
	size_t n_sent, n_got, first;  /* n_got counts those from index `first` (after the warm-up) */
	char prefix[64];
	size_t prefix_len;
	uint64_t delivered, failed;
} state;

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	state *s = opaque;
	(void)rk;
	if (m->err)
		s->failed++;
	else
		s->delivered++;
}

/* Notes the first output of a citizen of ours. */
static void on_output(state *s, const rd_kafka_message_t *m, int64_t t)
{
	char digits[16];
	size_t dl;
	char *end;
	unsigned long idx;

	if (m->err || !m->key || m->key_len <= s->prefix_len || memcmp(m->key, s->prefix, s->prefix_len))
		return;
	dl = m->key_len - s->prefix_len;
	if (dl >= sizeof(digits))
		return;
	memcpy(digits, (const char *)m->key + s->prefix_len, dl);
	digits[dl] = '\0';
	idx = strtoul(digits, &end, 10);
	if (*end || idx >= s->n_sent || s->got[idx])
		return;
	s->got[idx] = t;
	s->n_got += idx >= s->first;
}

int main(int argc, char **argv)
{
	const char *brokers = NULL, *topic = CD_TOPIC_EVENTS, *out_topic = CD_TOPIC_DEADLINES, *tag = "1";
	double rate = 2000, seconds = 15, warmup = 1, wait_s = 15;
	static const struct option opts[] = {
		{ "brokers", required_argument, NULL, 'b' }, { "topic", required_argument, NULL, 't' },
		{ "out-topic", required_argument, NULL, 'o' }, { "rate", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' }, { "warmup-s", required_argument, NULL, 'w' },
		{ "wait-s", required_argument, NULL, 'W' }, { "tag", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 }
	};
	char errstr[512];
	rd_kafka_conf_t *pc, *cc;
	rd_kafka_t *prod, *cons;
	const struct rd_kafka_metadata *md;
	rd_kafka_topic_partition_list_t *asg;
	state s;
	size_t total, n_meas = 0, i;
	int64_t t0, t_end, *lat;
	int c, nparts = -1;

	while ((c = getopt_long(argc, argv, "b:t:o:r:s:w:W:T:", opts, NULL)) != -1) {
		switch (c) {
		case 'b': brokers = optarg; break;
		case 't': topic = optarg; break;
		case 'o': out_topic = optarg; break;
		case 'r': rate = atof(optarg); break;
		case 's': seconds = atof(optarg); break;
		case 'w': warmup = atof(optarg); break;
		case 'W': wait_s = atof(optarg); break;
		case 'T': tag = optarg; break;
		default:
			fprintf(stderr, "usage: %s --brokers ADDR [--topic IN] [--out-topic OUT] [--rate R] "
				"[--seconds S] [--warmup-s W] [--wait-s T] [--tag TAG]\n", argv[0]);
			return 2;
		}
	}
	if (!brokers || rate <= 0 || seconds <= 0 || warmup < 0 || warmup >= seconds)
		die("arguments", "--brokers is required; rate, seconds > 0; warmup < seconds");

	memset(&s, 0, sizeof(s));
	total = (size_t)(rate * seconds);
	s.sent = calloc(total, sizeof(int64_t));
	s.got = calloc(total, sizeof(int64_t));
	lat = calloc(total, sizeof(int64_t));
	if (!s.sent || !s.got || !lat)
		die("memory", "out of memory");
	s.first = (size_t)(rate * warmup);
	s.prefix_len = (size_t)snprintf(s.prefix, sizeof(s.prefix), "lat-%s-", tag);

	/* The consumer: every partition of OUT from its current end, no group. */
	cc = rd_kafka_conf_new();
	set(cc, "bootstrap.servers", brokers);
	set(cc, "group.id", "contactd-bench-latency");  /* required by the API; never joined (assign only) */
	set(cc, "enable.auto.commit", "false");
	set(cc, "enable.partition.eof", "false");
	set(cc, "fetch.wait.max.ms", "5");
	set(cc, "log_level", "3");
	cons = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, sizeof(errstr));
	if (!cons)
		die("consumer", errstr);
	{
		rd_kafka_topic_t *rkt = rd_kafka_topic_new(cons, out_topic, NULL);
		if (rd_kafka_metadata(cons, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1 ||
		    md->topics[0].err)
			die(out_topic, "no metadata for the output topic");
		nparts = md->topics[0].partition_cnt;
		rd_kafka_metadata_destroy(md);
		rd_kafka_topic_destroy(rkt);
	}
	asg = rd_kafka_topic_partition_list_new(nparts);
	for (int p = 0; p < nparts; p++) {
		int64_t lo, hi;
		if (rd_kafka_query_watermark_offsets(cons, out_topic, p, &lo, &hi, 10000))
			die(out_topic, "cannot read the end offsets");
		rd_kafka_topic_partition_list_add(asg, out_topic, p)->offset = hi;
	}
	if (rd_kafka_assign(cons, asg))
		die(out_topic, "cannot assign");
	rd_kafka_topic_partition_list_destroy(asg);

	/* The producer: idempotent like `contactd produce`, with a short linger (its own share of the latency). */
	pc = rd_kafka_conf_new();
	set(pc, "bootstrap.servers", brokers);
	set(pc, "enable.idempotence", "true");
	set(pc, "linger.ms", "1");
	set(pc, "partitioner", "murmur2_random");
	set(pc, "log_level", "3");
	rd_kafka_conf_set_dr_msg_cb(pc, on_dr);
	rd_kafka_conf_set_opaque(pc, &s);
	prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof(errstr));
	if (!prod)
		die("producer", errstr);

	/* Let the consumer reach its partitions before the clock starts. */
	for (int k = 0; k < 50; k++) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 10);
		if (m)
			rd_kafka_message_destroy(m);
	}

	t0 = now_ns();
	while (s.n_sent < total) {
		int64_t t = now_ns();
		int64_t due = t0 + (int64_t)((double)s.n_sent * 1e9 / rate);
		rd_kafka_message_t *m;
		if (t >= due) {
			Contact__V1__CitizenEvent ev = CONTACT__V1__CITIZEN_EVENT__INIT;
			Contact__V1__Registration reg = CONTACT__V1__REGISTRATION__INIT;
			Google__Protobuf__Timestamp at = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
			char cid[96], eid[104];
			uint8_t buf[512];
			size_t len;
			rd_kafka_resp_err_t e;

			snprintf(cid, sizeof(cid), "%s%08zu", s.prefix, s.n_sent);
			snprintf(eid, sizeof(eid), "ev-%s", cid);
			at.seconds = 1614589200;     /* 2021-03-01T09:00:00Z */
			reg.benefit = CONTACT__V1__BENEFIT__BENEFIT_KONTANTHJAELP;
			reg.category = CONTACT__V1__CATEGORY__CATEGORY_AKTIVITETSPARAT;
			ev.event_id = eid;
			ev.citizen_id = cid;
			ev.occurred_at = &at;
			ev.municipality_code = (char *)"101";
			ev.source = (char *)"bench-latency";
			ev.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION;
			ev.registration = &reg;
			len = protobuf_c_message_get_packed_size(&ev.base);
			if (len > sizeof(buf))
				die("event", "too large");
			protobuf_c_message_pack(&ev.base, buf);
			s.sent[s.n_sent] = now_ns();
			e = rd_kafka_producev(prod, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(cid, strlen(cid)),
					      RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					      RD_KAFKA_V_END);
			if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
				rd_kafka_poll(prod, 1);
				continue;
			}
			if (e)
				die("produce", rd_kafka_err2str(e));
			s.n_sent++;
			continue;
		}
		rd_kafka_poll(prod, 0);
		/* wait for outputs until the next send is due (at most 1 ms) */
		m = rd_kafka_consumer_poll(cons, (due - t) / 1000000 >= 1 ? 1 : 0);
		if (m) {
			on_output(&s, m, now_ns());
			rd_kafka_message_destroy(m);
		}
	}
	t_end = now_ns();
	{
		size_t first = s.first, want = total - first;
		int64_t stop_at = t_end + (int64_t)(wait_s * 1e9);
		while (now_ns() < stop_at) {
			rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 10);
			rd_kafka_poll(prod, 0);
			if (m) {
				on_output(&s, m, now_ns());
				rd_kafka_message_destroy(m);
			}
			if (s.n_got == want)
				break;
		}
		for (i = first; i < total; i++)
			if (s.got[i])
				lat[n_meas++] = s.got[i] - s.sent[i];
		qsort(lat, n_meas, sizeof(*lat), cmp_i64);
		printf("latency: sent %zu at %.0f/s (actual %.0f/s) over %.1f s, measured %zu after %.1f s warm-up, "
		       "matched %zu: p50 %.1f ms p90 %.1f ms p99 %.1f ms max %.1f ms (delivered %" PRIu64
		       ", failed %" PRIu64 ")\n",
		       total, rate, (double)total / ((double)(t_end - t0) / 1e9), (double)(t_end - t0) / 1e9, want,
		       warmup, n_meas, pct(lat, n_meas, 0.50), pct(lat, n_meas, 0.90), pct(lat, n_meas, 0.99),
		       n_meas ? (double)lat[n_meas - 1] / 1e6 : 0.0, s.delivered, s.failed);
		rd_kafka_flush(prod, 5000);
		rd_kafka_consumer_close(cons);
		rd_kafka_destroy(cons);
		rd_kafka_destroy(prod);
		free(s.sent);
		free(s.got);
		free(lat);
		return n_meas * 100 >= want * 99 ? 0 : 1;
	}
}
