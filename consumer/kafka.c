/*
 * kafka.c — the thin layer over librdkafka (see kafka.h).
 *
 * Configuration goes straight to rd_kafka_conf_set, as kcat's -X does; a bad
 * pair fails naming the key (and never echoes a secret's value). librdkafka's
 * log lines, which arrive on its internal threads, are routed to util/log,
 * whose writer locks stderr per line.
 *
 * The mock cluster is librdkafka's own (rdkafka_mock.h). It needs an
 * rd_kafka_t to live on: a producer handle with nothing configured but the log
 * routing, which never connects anywhere. The cluster listens on 127.0.0.1
 * (ephemeral ports), runs on its own thread, and keeps every message in
 * memory until it is destroyed.
 *
 * The producer is idempotent (enable.idempotence=true, acks=all) and partitions
 * keyed messages with murmur2_random, the Java client's partitioner. Delivery
 * reports are served only from cd_producer_poll/flush, on the caller's thread.
 */
#include "consumer/kafka.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

/* ---- configuration and logs -------------------------------------------------------- */

int cd_kafka_conf_apply(rd_kafka_conf_t *conf, const cd_kv *kv, size_t n, cd_err *err)
{
	char errstr[512];

	for (size_t i = 0; i < n; i++) {
		if (!kv[i].key || !*kv[i].key)
			return cd_err_set(err, 0, "empty kafka property name");
		errstr[0] = '\0';
		if (rd_kafka_conf_set(conf, kv[i].key, kv[i].value ? kv[i].value : "", errstr, sizeof(errstr)) !=
		    RD_KAFKA_CONF_OK) {
			/* librdkafka's reason may quote the value: keep a secret's out of it. */
			if (cd_kafka_key_is_secret(kv[i].key))
				return cd_err_set(err, 0, "kafka property '%s': invalid value (redacted)", kv[i].key);
			return cd_err_set(err, 0, "kafka property '%s': %s", kv[i].key, errstr);
		}
	}
	return 0;
}

/*
 * @locality any librdkafka thread. Syslog levels: 0-3 error, 4 warning,
 * 5-6 notice/info, 7 debug.
 */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	int lv = level <= 3 ? CD_LOG_ERROR : level == 4 ? CD_LOG_WARN : level <= 6 ? CD_LOG_INFO : CD_LOG_DEBUG;

	if (!cd_log_enabled(lv))
		return;
	cd_log(lv, buf, "source", "librdkafka", "facility", fac ? fac : "", "client", rk ? rd_kafka_name(rk) : "",
	       NULL);
}

void cd_kafka_conf_log_to_stderr(rd_kafka_conf_t *conf)
{
	rd_kafka_conf_set_log_cb(conf, log_cb);
}

/* Case-insensitive strstr. */
static int contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++) {
		size_t i = 0;
		while (i < n && hay[i] && tolower((unsigned char)hay[i]) == needle[i])
			i++;
		if (i == n)
			return 1;
	}
	return 0;
}

int cd_kafka_key_is_secret(const char *key)
{
	static const char *const marks[] = { "password", "secret", "sasl.jaas", "ssl.key", "token",
					     "sasl.oauthbearer.config" };

	if (!key)
		return 0;
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (contains_ci(key, marks[i]))
			return 1;
	return 0;
}

/* ---- metadata ------------------------------------------------------------------- */

#define METADATA_ATTEMPTS 20
#define METADATA_TIMEOUT_MS 5000
#define METADATA_PAUSE_MS 250

int cd_kafka_topic_partitions(rd_kafka_t *rk, const char *topic, rd_kafka_topic_partition_list_t *add,
			      cd_err *err)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	int n = -1;

	if (!rkt)
		return cd_err_set(err, 0, "topic '%s': %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
	cd_err_set(err, 1, "topic '%s': no metadata", topic);
	for (int attempt = 0; attempt < METADATA_ATTEMPTS && n < 0; attempt++) {
		const struct rd_kafka_metadata *md = NULL;
		rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, METADATA_TIMEOUT_MS);

		if (e) {
			cd_err_set(err, 1, "metadata for topic '%s': %s", topic, rd_kafka_err2str(e));
			if (e == RD_KAFKA_RESP_ERR__TRANSPORT || e == RD_KAFKA_RESP_ERR__TIMED_OUT)
				break;   /* no broker answered: give up */
		} else {
			if (md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0) {
				n = md->topics[0].partition_cnt;
				for (int i = 0; add && i < n; i++)
					rd_kafka_topic_partition_list_add(add, topic, md->topics[0].partitions[i].id);
			} else if (md->topic_cnt == 1) {
				cd_err_set(err, 1, "topic '%s': %s", topic, rd_kafka_err2str(md->topics[0].err));
			}
			rd_kafka_metadata_destroy(md);
		}
		if (n < 0) {
			struct timespec ts = { 0, METADATA_PAUSE_MS * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	rd_kafka_topic_destroy(rkt);
	return n;
}

/* ---- mock cluster --------------------------------------------------------------- */

struct cd_mock {
	rd_kafka_t *rk;                  /* the handle the cluster lives on (owned) */
	rd_kafka_mock_cluster_t *mc;     /* owned; destroyed before rk */
	int brokers;
};

cd_mock *cd_mock_new(int brokers, cd_err *err)
{
	rd_kafka_conf_t *conf = NULL;
	cd_mock *m = NULL;
	char errstr[512];

	if (brokers < 1) {
		cd_err_set(err, 0, "mock cluster: %d brokers (at least 1)", brokers);
		goto fail;
	}
	if (!(m = calloc(1, sizeof(*m)))) {
		cd_err_set(err, 0, "out of memory");
		goto fail;
	}
	m->brokers = brokers;
	conf = rd_kafka_conf_new();
	cd_kafka_conf_log_to_stderr(conf);
	/* The handle connects nowhere: keep out its notice about the missing bootstrap.servers. */
	if (rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "client.id", "contactd-mock", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		cd_err_set(err, 0, "mock cluster: %s", errstr);
		goto fail;
	}
	if (!(m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr)))) {
		cd_err_set(err, 0, "mock cluster: cannot create its handle: %s", errstr);
		goto fail;
	}
	conf = NULL;   /* owned by m->rk now */
	if (!(m->mc = rd_kafka_mock_cluster_new(m->rk, brokers))) {
		cd_err_set(err, 0, "mock cluster: cannot start %d brokers", brokers);
		goto fail;
	}
	return m;
fail:
	if (conf)
		rd_kafka_conf_destroy(conf);
	cd_mock_free(m);
	return NULL;
}

void cd_mock_free(cd_mock *m)
{
	if (!m)
		return;
	if (m->mc)
		rd_kafka_mock_cluster_destroy(m->mc);
	if (m->rk)
		rd_kafka_destroy(m->rk);
	free(m);
}

const char *cd_mock_bootstraps(const cd_mock *m)
{
	return rd_kafka_mock_cluster_bootstraps(m->mc);
}

int cd_mock_topic_create(cd_mock *m, const char *topic, int partitions, cd_err *err)
{
	rd_kafka_resp_err_t e;
	int rf = m->brokers < 3 ? m->brokers : 3;

	if (partitions < 1)
		return cd_err_set(err, 0, "topic '%s': %d partitions (at least 1)", topic, partitions);
	e = rd_kafka_mock_topic_create(m->mc, topic, partitions, rf);
	if (e)
		return cd_err_set(err, 0, "topic '%s': %s", topic, rd_kafka_err2str(e));
	return 0;
}

rd_kafka_mock_cluster_t *cd_mock_cluster(cd_mock *m)
{
	return m->mc;
}

/* ---- producer ------------------------------------------------------------------- */

struct cd_producer {
	rd_kafka_t *rk;
	cd_delivery_fn fn;
	void *ctx;
};

/*
 * @locality the thread calling cd_producer_poll/flush. Not
 * rd_kafka_message_errstr: in a delivery report the payload is the message's
 * value, not an error string.
 */
static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	cd_producer *p = opaque;

	(void)rk;
	if (p && p->fn)
		p->fn(p->ctx, msg->_private, msg->err, msg->err ? rd_kafka_err2str(msg->err) : NULL);
}

cd_producer *cd_producer_new(const char *brokers, const cd_kv *kv, size_t n, cd_delivery_fn fn, void *ctx,
			     cd_err *err)
{
	static const cd_kv defaults[] = {
		{ "enable.idempotence", "true" },
		{ "acks", "all" },
		{ "linger.ms", "5" },
		{ "partitioner", "murmur2_random" },
	};
	rd_kafka_conf_t *conf;
	cd_producer *p;
	char errstr[512];

	if (!(p = calloc(1, sizeof(*p)))) {
		cd_err_set(err, 0, "out of memory");
		return NULL;
	}
	p->fn = fn;
	p->ctx = ctx;
	conf = rd_kafka_conf_new();
	cd_kafka_conf_log_to_stderr(conf);
	rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
	rd_kafka_conf_set_opaque(conf, p);
	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers ? brokers : "", errstr, sizeof(errstr)) !=
	    RD_KAFKA_CONF_OK) {
		cd_err_set(err, 0, "kafka property 'bootstrap.servers': %s", errstr);
		goto fail;
	}
	/* Defaults first, then the caller's settings, which may override them. */
	if (cd_kafka_conf_apply(conf, defaults, sizeof(defaults) / sizeof(defaults[0]), err) < 0 ||
	    cd_kafka_conf_apply(conf, kv, n, err) < 0)
		goto fail;
	if (!(p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr)))) {
		cd_err_set(err, 0, "cannot create the producer: %s", errstr);
		goto fail;
	}
	return p;   /* conf is owned by p->rk */
fail:
	rd_kafka_conf_destroy(conf);
	free(p);
	return NULL;
}

void cd_producer_free(cd_producer *p)
{
	if (!p)
		return;
	if (p->rk)
		rd_kafka_destroy(p->rk);
	free(p);
}

int cd_producer_send(cd_producer *p, const char *topic, int32_t partition, const void *key, size_t key_len,
		     const void *value, size_t value_len, const cd_header *headers, size_t n_headers,
		     void *opaque, cd_err *err)
{
	rd_kafka_headers_t *hdrs = NULL;
	rd_kafka_resp_err_t e;

	if (n_headers) {
		hdrs = rd_kafka_headers_new(n_headers);
		for (size_t i = 0; i < n_headers; i++)
			rd_kafka_header_add(hdrs, headers[i].name, -1, headers[i].value, (ssize_t)headers[i].len);
	}
	e = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic),
			      RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
			      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key ? key_len : 0),
			      RD_KAFKA_V_VALUE((void *)value, value_len),
			      RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
	if (e) {
		/* On failure the headers stay ours. */
		if (hdrs)
			rd_kafka_headers_destroy(hdrs);
		cd_err_set(err, e == RD_KAFKA_RESP_ERR__QUEUE_FULL, "producing to '%s': %s", topic,
			   rd_kafka_err2str(e));
		return cd_kafka_undeliverable(e) ? -2 : -1;
	}
	return 0;
}

int cd_kafka_undeliverable(rd_kafka_resp_err_t e)
{
	switch (e) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
	case RD_KAFKA_RESP_ERR_INVALID_MSG:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
		return 1;
	default:
		return 0;
	}
}

int cd_producer_poll(cd_producer *p, int timeout_ms)
{
	return rd_kafka_poll(p->rk, timeout_ms);
}

int cd_producer_flush(cd_producer *p, int timeout_ms, cd_err *err)
{
	rd_kafka_resp_err_t e = rd_kafka_flush(p->rk, timeout_ms);

	if (e == RD_KAFKA_RESP_ERR__TIMED_OUT)
		return cd_err_set(err, 1, "flush timed out after %d ms with %d messages in flight", timeout_ms,
				  rd_kafka_outq_len(p->rk));
	if (e)
		return cd_err_set(err, 0, "flush: %s", rd_kafka_err2str(e));
	return 0;
}

int cd_producer_fatal(cd_producer *p, cd_err *err)
{
	char errstr[512];
	rd_kafka_resp_err_t e = rd_kafka_fatal_error(p->rk, errstr, sizeof(errstr));

	if (!e)
		return 0;
	return cd_err_set(err, 0, "fatal producer error %s: %s", rd_kafka_err2name(e), errstr);
}

rd_kafka_t *cd_producer_handle(cd_producer *p)
{
	return p->rk;
}

int cd_kafka_kv_parse(char *arg, cd_kv *kv)
{
	char *eq = strchr(arg, '=');
	char *key = strncmp(arg, "kafka.", 6) ? arg : arg + 6;

	if (!eq || eq <= key)
		return -1;
	*eq = '\0';
	kv->key = key;
	kv->value = eq + 1;
	return 0;
}
