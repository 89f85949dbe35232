/*
 * kafka.h — the project's thin layer over librdkafka: configuration pass-through,
 * log routing, the idempotent producer of outputs and dead letters, and the
 * mock cluster that serves as the embedded default broker.
 *
 * kcat is the model: `-X key=value` pairs go straight to rd_kafka_conf_set and
 * a bad one is an error naming the key; librdkafka's logs go to util/log.
 * The consumer itself is driven by consumer/processor.c and assign.c with librdkafka's own API.
 */
#ifndef CD_CONSUMER_KAFKA_H
#define CD_CONSUMER_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/*
 * The default topics, the same for every command: run's configuration,
 * produce, consume, devbroker (which creates them all) and the benchmarks.
 */
#define CD_TOPIC_EVENTS "contact.events.v1"
#define CD_TOPIC_DEADLINES "contact.deadlines.v1"
#define CD_TOPIC_BREACHES "contact.breaches.v1"
#define CD_TOPIC_DLQ "contact.dlq.v1"
#define CD_TOPIC_AGGREGATES "contact.aggregates.v1"
/* Internal: share members and watermarks from the processor to the aggregate stage. */
#define CD_TOPIC_MEMBERS "contact.members.v1"

/* The most librdkafka settings (-X, kafka.*) one command takes. */
#define CD_KAFKA_MAX_KV 128

/* One key=value setting for librdkafka (the "kafka." prefix already removed). */
typedef struct cd_kv {
	const char *key;
	const char *value;
} cd_kv;

/*
 * Splits a kcat-style "-X key=value" argument in place (arg is modified; kv
 * points into it); a leading "kafka." is dropped. 0, or -1 when there is no
 * '=' or no key.
 */
int cd_kafka_kv_parse(char *arg, cd_kv *kv);
/* Sets each pair on conf; fails naming the key and librdkafka's reason. */
int cd_kafka_conf_apply(rd_kafka_conf_t *conf, const cd_kv *kv, size_t n, cd_err *err);
/* Routes librdkafka's log lines into util/log (level mapped from syslog levels). */
void cd_kafka_conf_log_to_stderr(rd_kafka_conf_t *conf);
/*
 * Is this librdkafka property a secret? The one list: run's logged configuration
 * and cd_kafka_conf_apply's errors redact the same keys.
 */
int cd_kafka_key_is_secret(const char *key);

/*
 * The partitions of `topic` from the cluster's metadata. A topic just created,
 * or whose leaders are not elected yet, is asked for again: up to 20 requests
 * of at most 5 s each, 250 ms apart; a request that reaches no broker
 * (transport error, timeout) ends the lookup at once. Returns the partition
 * count, and when `add` is not NULL appends every partition to it (offsets
 * left for the caller); -1 with err when the topic cannot be found.
 */
int cd_kafka_topic_partitions(rd_kafka_t *rk, const char *topic, rd_kafka_topic_partition_list_t *add,
			      cd_err *err);

/* ---- mock cluster --------------------------------------------------------------- */

typedef struct cd_mock cd_mock;

/* Starts an in-process mock cluster of `brokers` brokers. NULL with err on failure. */
cd_mock *cd_mock_new(int brokers, cd_err *err);
void cd_mock_free(cd_mock *m);
/*
 * "127.0.0.1:port,…": any Kafka client on this host can connect (kcat,
 * confluent-kafka). The string belongs to the cluster: valid until cd_mock_free.
 */
const char *cd_mock_bootstraps(const cd_mock *m);
int cd_mock_topic_create(cd_mock *m, const char *topic, int partitions, cd_err *err);
/* For tests that inject errors with librdkafka's mock API. Borrowed: valid until cd_mock_free. */
rd_kafka_mock_cluster_t *cd_mock_cluster(cd_mock *m);

/* ---- producer ------------------------------------------------------------------- */

typedef struct cd_producer cd_producer;

/*
 * Called from cd_producer_poll/flush (the caller's thread) for every message:
 * err is RD_KAFKA_RESP_ERR_NO_ERROR when delivered. `opaque` is what was given
 * to cd_producer_send.
 */
typedef void (*cd_delivery_fn)(void *ctx, void *opaque, rd_kafka_resp_err_t err, const char *reason);

/*
 * An idempotent producer (enable.idempotence=true, acks=all) to `brokers`,
 * with the extra settings kv. `fn`/`ctx` receive delivery reports.
 */
cd_producer *cd_producer_new(const char *brokers, const cd_kv *kv, size_t n, cd_delivery_fn fn, void *ctx,
			     cd_err *err);
void cd_producer_free(cd_producer *p);

typedef struct cd_header {
	const char *name;
	const void *value;
	size_t len;
} cd_header;

/*
 * Queues one message (key/value/headers copied). partition -1: by key (the
 * default partitioner, murmur2-compatible with Java clients: "murmur2_random").
 * 0; -1 with err (err->retriable when the local queue is full); -2 when this
 * message can never be delivered, whatever is retried (cd_kafka_undeliverable).
 */
int cd_producer_send(cd_producer *p, const char *topic, int32_t partition, const void *key, size_t key_len,
		     const void *value, size_t value_len, const cd_header *headers, size_t n_headers,
		     void *opaque, cd_err *err);
/*
 * Errors that belong to one message, not to the connection or the topic: the
 * message is too large or malformed for the broker, so sending it again can
 * never succeed (a caller must set it aside rather than retry it forever).
 */
int cd_kafka_undeliverable(rd_kafka_resp_err_t e);
/* Serves delivery reports; returns how many were served. */
int cd_producer_poll(cd_producer *p, int timeout_ms);
/* Waits until everything queued is delivered (or failed). 0 / -1 on timeout. */
int cd_producer_flush(cd_producer *p, int timeout_ms, cd_err *err);
/* A fatal error of the idempotent producer ends the process (the caller exits). */
int cd_producer_fatal(cd_producer *p, cd_err *err);
/* The producer's own librdkafka handle, borrowed: valid until cd_producer_free, never destroyed by the caller. */
rd_kafka_t *cd_producer_handle(cd_producer *p);

#endif
