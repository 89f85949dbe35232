/*
 * test_kafka.c — the librdkafka layer (consumer/kafka.c) against librdkafka's
 * own mock cluster: nothing outside the process is needed.
 *
 * Each test starts its own cluster, so tests do not share topics or offsets,
 * and checks at the end that every librdkafka handle was destroyed. The
 * failure tests use the mock API directly (a broker set down, errors pushed
 * onto the Produce request) through cd_mock_cluster.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "consumer/kafka.h"
#include "util/log.h"

#define API_PRODUCE 0   /* Kafka protocol ApiKey of Produce (librdkafka's RD_KAFKAP_Produce) */

/* ---- helpers -------------------------------------------------------------- */

typedef struct reports {
	int n, ok, failed;
	rd_kafka_resp_err_t last_err;
	char last_reason[256];
	void *opaques[64];
} reports;

static void on_delivery(void *ctx, void *opaque, rd_kafka_resp_err_t err, const char *reason)
{
	reports *r = ctx;

	if (r->n < 64)
		r->opaques[r->n] = opaque;
	r->n++;
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		r->ok++;
	} else {
		r->failed++;
		r->last_err = err;
		snprintf(r->last_reason, sizeof(r->last_reason), "%s", reason ? reason : "");
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static cd_mock *start_cluster(int brokers, const char *topic, int partitions)
{
	cd_err err = { "", 0 };
	cd_mock *m = cd_mock_new(brokers, &err);

	if (!m)
		fail_msg("mock cluster: %s", err.msg);
	if (topic && cd_mock_topic_create(m, topic, partitions, &err) < 0)
		fail_msg("topic: %s", err.msg);
	return m;
}

/* Partition count of topic as a client sees it (-1 if unknown). */
static int partitions_of(rd_kafka_t *rk, const char *topic)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	const struct rd_kafka_metadata *md = NULL;
	int n = -1;

	assert_non_null(rkt);
	for (int attempt = 0; attempt < 20 && n < 0; attempt++) {
		if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
			if (md->topic_cnt == 1 && !md->topics[0].err)
				n = md->topics[0].partition_cnt;
			rd_kafka_metadata_destroy(md);
		}
	}
	rd_kafka_topic_destroy(rkt);
	return n;
}

typedef struct got {
	char key[64], value[64], header[64];
	int32_t partition;
} got;

/*
 * Reads up to `want` messages of topic (all `partitions` partitions, from the
 * beginning, no group membership), waiting at most timeout_ms. Returns how many.
 */
static int read_back(const char *brokers, const char *topic, int partitions, got *out, int want, int timeout_ms)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(partitions);
	const cd_kv kv[] = {
		{ "bootstrap.servers", brokers },
		{ "group.id", "test-kafka-reader" },
		{ "enable.auto.commit", "false" },
	};
	cd_err err = { "", 0 };
	char errstr[256];
	rd_kafka_t *rk;
	int n = 0;
	int64_t end = now_ms() + timeout_ms;

	cd_kafka_conf_log_to_stderr(conf);
	assert_int_equal(cd_kafka_conf_apply(conf, kv, 3, &err), 0);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (!rk)
		fail_msg("consumer: %s", errstr);
	for (int p = 0; p < partitions; p++)
		rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
	assert_int_equal(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_topic_partition_list_destroy(parts);

	while (n < want && now_ms() < end) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		rd_kafka_headers_t *hdrs;
		const void *hv;
		size_t hlen;

		if (!m)
			continue;
		if (!m->err) {
			got *g = &out[n++];
			memset(g, 0, sizeof(*g));
			snprintf(g->key, sizeof(g->key), "%.*s", (int)m->key_len, (const char *)m->key);
			snprintf(g->value, sizeof(g->value), "%.*s", (int)m->len, (const char *)m->payload);
			g->partition = m->partition;
			if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
			    rd_kafka_header_get_last(hdrs, "stage", &hv, &hlen) == RD_KAFKA_RESP_ERR_NO_ERROR)
				snprintf(g->header, sizeof(g->header), "%.*s", (int)hlen, (const char *)hv);
		}
		rd_kafka_message_destroy(m);
	}
	/* A little longer: anything beyond `want` would be a duplicate. */
	for (int64_t extra = now_ms() + 300; now_ms() < extra;) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
		if (m) {
			if (!m->err)
				n++;
			rd_kafka_message_destroy(m);
		}
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return n;
}

/* Kafka's murmur2 partitioner (Java's Utils.murmur2 and toPositive), for the key → partition check. */
static int32_t java_partition(const char *key, size_t len, int partitions)
{
	const uint32_t m = 0x5bd1e995;
	const uint8_t *d = (const uint8_t *)key;
	uint32_t h = 0x9747b28cU ^ (uint32_t)len;
	size_t i;

	for (i = 0; i + 4 <= len; i += 4) {
		uint32_t k = (uint32_t)d[i] | (uint32_t)d[i + 1] << 8 | (uint32_t)d[i + 2] << 16 | (uint32_t)d[i + 3] << 24;
		k *= m;
		k ^= k >> 24;
		k *= m;
		h *= m;
		h ^= k;
	}
	switch (len & 3) {
	case 3:
		h ^= (uint32_t)d[i + 2] << 16;
		/* fall through */
	case 2:
		h ^= (uint32_t)d[i + 1] << 8;
		/* fall through */
	case 1:
		h ^= d[i];
		h *= m;
	}
	h ^= h >> 13;
	h *= m;
	h ^= h >> 15;
	return (int32_t)((h & 0x7fffffff) % (uint32_t)partitions);
}

static void all_handles_destroyed(void)
{
	assert_int_equal(rd_kafka_wait_destroyed(5000), 0);
}

/* ---- mock cluster --------------------------------------------------------- */

static void test_mock_cluster_starts_and_reports_a_bootstrap_address(void **state)
{
	cd_err err = { "", 0 };
	cd_mock *m = cd_mock_new(3, &err);
	const char *bs;
	int commas = 0;

	(void)state;
	assert_non_null(m);
	bs = cd_mock_bootstraps(m);
	assert_non_null(bs);
	assert_non_null(strstr(bs, "127.0.0.1:"));
	for (const char *p = bs; *p; p++)
		commas += *p == ',';
	assert_int_equal(commas, 2);   /* one address per broker */
	assert_non_null(cd_mock_cluster(m));
	cd_mock_free(m);

	assert_null(cd_mock_new(0, &err));
	assert_non_null(strstr(err.msg, "brokers"));
	all_handles_destroyed();
}

static void test_created_topic_has_its_partitions_in_the_metadata(void **state)
{
	cd_mock *m = start_cluster(1, "contact.events.v1", 5);
	cd_err err = { "", 0 };
	reports r = { 0 };
	cd_producer *p = cd_producer_new(cd_mock_bootstraps(m), NULL, 0, on_delivery, &r, &err);

	(void)state;
	assert_non_null(p);
	assert_int_equal(cd_mock_topic_create(m, "contact.dlq.v1", 2, &err), 0);
	assert_int_equal(partitions_of(cd_producer_handle(p), "contact.events.v1"), 5);
	assert_int_equal(partitions_of(cd_producer_handle(p), "contact.dlq.v1"), 2);
	assert_int_equal(cd_mock_topic_create(m, "no.partitions", 0, &err), -1);
	assert_non_null(strstr(err.msg, "'no.partitions'"));
	cd_producer_free(p);
	cd_mock_free(m);
	all_handles_destroyed();
}

/* ---- producer ------------------------------------------------------------- */

static void test_producer_delivers_and_a_consumer_reads_it_back_keyed_like_java(void **state)
{
	enum { N = 10, P = 4 };
	cd_mock *m = start_cluster(1, "t.out", P);
	cd_err err = { "", 0 };
	reports r = { 0 };
	cd_producer *p = cd_producer_new(cd_mock_bootstraps(m), NULL, 0, on_delivery, &r, &err);
	static int tags[N];
	got g[N + 4];
	int seen[N] = { 0 };

	(void)state;
	assert_non_null(p);
	for (int i = 0; i < N; i++) {
		char key[32], value[32];
		const cd_header h = { "stage", "decode", 6 };
		snprintf(key, sizeof(key), "citizen-%d", i);
		snprintf(value, sizeof(value), "value-%d", i);
		assert_int_equal(cd_producer_send(p, "t.out", -1, key, strlen(key), value, strlen(value), &h, 1,
						  &tags[i], &err), 0);
	}
	assert_int_equal(cd_producer_flush(p, 10000, &err), 0);
	assert_int_equal(r.n, N);
	assert_int_equal(r.ok, N);
	assert_int_equal(r.failed, 0);
	for (int i = 0; i < N; i++) {
		int found = 0;
		for (int j = 0; j < N; j++)
			found |= r.opaques[j] == &tags[i];
		assert_true(found);   /* each message's opaque came back in its report */
	}
	assert_int_equal(cd_producer_fatal(p, &err), 0);

	assert_int_equal(read_back(cd_mock_bootstraps(m), "t.out", P, g, N, 10000), N);
	for (int i = 0; i < N; i++) {
		int k;
		assert_int_equal(sscanf(g[i].key, "citizen-%d", &k), 1);
		assert_true(k >= 0 && k < N);
		seen[k]++;
		assert_string_equal(g[i].value + 6, g[i].key + 8);   /* "value-K" belongs to "citizen-K" */
		assert_string_equal(g[i].header, "decode");
		assert_int_equal(g[i].partition, java_partition(g[i].key, strlen(g[i].key), P));
	}
	for (int i = 0; i < N; i++)
		assert_int_equal(seen[i], 1);
	cd_producer_free(p);
	cd_mock_free(m);
	all_handles_destroyed();
}

static void test_explicit_partition_is_kept(void **state)
{
	cd_mock *m = start_cluster(1, "t.tick", 3);
	cd_err err = { "", 0 };
	reports r = { 0 };
	cd_producer *p = cd_producer_new(cd_mock_bootstraps(m), NULL, 0, on_delivery, &r, &err);
	got g[6];
	int per[3] = { 0 };

	(void)state;
	assert_non_null(p);
	for (int32_t part = 0; part < 3; part++)
		assert_int_equal(cd_producer_send(p, "t.tick", part, NULL, 0, "tick", 4, NULL, 0, NULL, &err), 0);
	assert_int_equal(cd_producer_flush(p, 10000, &err), 0);
	assert_int_equal(r.ok, 3);
	assert_int_equal(read_back(cd_mock_bootstraps(m), "t.tick", 3, g, 3, 10000), 3);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(g[i].key, "");
		per[g[i].partition]++;
	}
	assert_int_equal(per[0] + per[1] + per[2], 3);
	assert_true(per[0] == 1 && per[1] == 1 && per[2] == 1);
	cd_producer_free(p);
	cd_mock_free(m);
	all_handles_destroyed();
}

/* ---- configuration -------------------------------------------------------- */

static void test_a_bad_kafka_property_fails_naming_the_key(void **state)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const cd_kv unknown[] = { { "linger.ms", "1" }, { "no.such.property", "1" } };
	const cd_kv bad_value[] = { { "linger.ms", "soon" } };
	const cd_kv good[] = { { "client.id", "x" }, { "sasl.password", "hunter2" } };
	cd_err err = { "", 0 };
	reports r = { 0 };

	(void)state;
	assert_int_equal(cd_kafka_conf_apply(conf, unknown, 2, &err), -1);
	assert_non_null(strstr(err.msg, "'no.such.property'"));
	assert_int_equal(cd_kafka_conf_apply(conf, bad_value, 1, &err), -1);
	assert_non_null(strstr(err.msg, "'linger.ms'"));
	assert_int_equal(cd_kafka_conf_apply(conf, good, 2, &err), 0);
	rd_kafka_conf_destroy(conf);

	/* The producer refuses them the same way, and creates nothing. */
	assert_null(cd_producer_new("127.0.0.1:9", unknown, 2, on_delivery, &r, &err));
	assert_non_null(strstr(err.msg, "'no.such.property'"));
	all_handles_destroyed();
}

static void test_secret_keys_are_detected(void **state)
{
	(void)state;
	assert_true(cd_kafka_key_is_secret("sasl.password"));
	assert_true(cd_kafka_key_is_secret("ssl.key.password"));
	assert_true(cd_kafka_key_is_secret("ssl.keystore.password"));
	assert_true(cd_kafka_key_is_secret("ssl.key.pem"));
	assert_true(cd_kafka_key_is_secret("sasl.jaas.config"));
	assert_true(cd_kafka_key_is_secret("sasl.oauthbearer.client.secret"));
	assert_true(cd_kafka_key_is_secret("sasl.oauthbearer.token.endpoint.url"));
	assert_true(cd_kafka_key_is_secret("SASL.PASSWORD"));
	assert_false(cd_kafka_key_is_secret("bootstrap.servers"));
	assert_false(cd_kafka_key_is_secret("sasl.username"));
	assert_false(cd_kafka_key_is_secret("ssl.ca.location"));
	assert_false(cd_kafka_key_is_secret("linger.ms"));
	assert_false(cd_kafka_key_is_secret(""));
	assert_false(cd_kafka_key_is_secret(NULL));
}

/* ---- failures ------------------------------------------------------------- */

static void test_delivery_fails_when_the_broker_is_down(void **state)
{
	cd_mock *m = start_cluster(1, "t.down", 1);
	const cd_kv kv[] = { { "message.timeout.ms", "1500" } };
	cd_err err = { "", 0 };
	reports r = { 0 };
	cd_producer *p;
	int64_t end;

	(void)state;
	assert_int_equal(rd_kafka_mock_broker_set_down(cd_mock_cluster(m), 1), RD_KAFKA_RESP_ERR_NO_ERROR);
	p = cd_producer_new(cd_mock_bootstraps(m), kv, 1, on_delivery, &r, &err);
	assert_non_null(p);
	assert_int_equal(cd_producer_send(p, "t.down", -1, "k", 1, "v", 1, NULL, 0, NULL, &err), 0);

	/* Not delivered in time: flush says so and the message is still in flight. */
	assert_int_equal(cd_producer_flush(p, 300, &err), -1);
	assert_true(err.retriable);
	assert_non_null(strstr(err.msg, "timed out"));
	assert_int_equal(r.n, 0);

	/* Then message.timeout.ms passes and the report says it failed. */
	for (end = now_ms() + 10000; r.n == 0 && now_ms() < end;)
		cd_producer_poll(p, 100);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.failed, 1);
	assert_int_equal(r.last_err, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT);
	assert_true(r.last_reason[0] != '\0');
	assert_int_equal(cd_producer_flush(p, 1000, &err), 0);   /* nothing left in flight */
	cd_producer_free(p);
	cd_mock_free(m);
	all_handles_destroyed();
}

static void test_injected_produce_errors_are_retried_and_the_message_arrives_once(void **state)
{
	cd_mock *m = start_cluster(1, "t.retry", 1);
	cd_err err = { "", 0 };
	reports r = { 0 };
	cd_producer *p = cd_producer_new(cd_mock_bootstraps(m), NULL, 0, on_delivery, &r, &err);
	got g[4];

	(void)state;
	assert_non_null(p);
	/* Wait until the producer has its id, so that the errors hit the Produce request. */
	assert_int_equal(partitions_of(cd_producer_handle(p), "t.retry"), 1);
	rd_kafka_mock_push_request_errors(cd_mock_cluster(m), API_PRODUCE, 3, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
					  RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
					  RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
	assert_int_equal(cd_producer_send(p, "t.retry", -1, "c1", 2, "once", 4, NULL, 0, NULL, &err), 0);
	assert_int_equal(cd_producer_flush(p, 20000, &err), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ok, 1);
	assert_int_equal(cd_producer_fatal(p, &err), 0);
	assert_int_equal(read_back(cd_mock_bootstraps(m), "t.retry", 1, g, 1, 10000), 1);   /* exactly once */
	assert_string_equal(g[0].value, "once");
	cd_producer_free(p);
	cd_mock_free(m);
	all_handles_destroyed();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mock_cluster_starts_and_reports_a_bootstrap_address),
		cmocka_unit_test(test_created_topic_has_its_partitions_in_the_metadata),
		cmocka_unit_test(test_producer_delivers_and_a_consumer_reads_it_back_keyed_like_java),
		cmocka_unit_test(test_explicit_partition_is_kept),
		cmocka_unit_test(test_a_bad_kafka_property_fails_naming_the_key),
		cmocka_unit_test(test_secret_keys_are_detected),
		cmocka_unit_test(test_delivery_fails_when_the_broker_is_down),
		cmocka_unit_test(test_injected_produce_errors_are_retried_and_the_message_arrives_once),
	};

	/*
	 * librdkafka's connection errors in the failure tests are expected: stderr
	 * stays quiet unless TEST_KAFKA_LOG names a level (debug, info, warn, error).
	 */
	const char *lv = getenv("TEST_KAFKA_LOG");
	cd_log_set_level(lv && cd_log_level_parse(lv) >= 0 ? cd_log_level_parse(lv) : CD_LOG_ERROR + 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
