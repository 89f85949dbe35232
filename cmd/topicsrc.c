/*
 * topicsrc.c — a range of the input topic through the driver (topicsrc.h).
 *
 * Each partition has its own queue (rd_kafka_queue_get_partition, detached
 * from the consumer queue before assign()), so that one partition can be read
 * up to its next all-citizen tick while librdkafka prefetches the others, each
 * within its own fetch limits. The merge (cd_topic_replay) applies the
 * earliest waiting tick once every partition still in range waits at a tick.
 *
 * Offsets: the range is fixed when the read starts. --from is looked up with
 * rd_kafka_offsets_for_times. A broker that cannot look offsets up by time
 * (librdkafka's mock cluster, which is `contactd devbroker`, says "end" for
 * any timestamp) is caught by asking for timestamp 0 too, which a real
 * broker answers with an offset on a non-empty partition; such a partition is
 * read from its start and its records before --from are passed over. --to is
 * found while reading: the first record at or after it ends its partition,
 * which is the offset rd_kafka_offsets_for_times would give.
 */
#include "cmd/topicsrc.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/codec.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/pseudonym.h"

#define QUERY_TIMEOUT_MS 10000   /* watermarks and offsets by time */
#define STALL_MS 60000           /* a partition that gives nothing this long ends the replay */
#define POLL_MS 100
#define MAIN_POLL_EVERY 1024     /* records between servings of the client's own queue */

typedef struct tpart {
	int32_t id;
	rd_kafka_queue_t *q;      /* its own queue, not forwarded to the consumer's */
	int64_t next;             /* the next offset to read */
	int64_t end;              /* exclusive */
	bool seeking;             /* passing over records before --from */
	bool done;
	bool at_tick;             /* read up to an all-citizen tick, which waits for the others */
	cd_instant tick;
	int64_t tick_offset;
} tpart;

typedef struct topicsrc {
	const cd_topic_range *r;
	cd_driver *d;
	cd_topic_counts *n;
	rd_kafka_t *rk;
	tpart *p;
	int np;
	uint64_t since_poll;
} topicsrc;

/* ---- the consumer and the range ------------------------------------------------------ */

/*
 * A consumer that only assigns. librdkafka needs a group.id for assign(): a
 * private one unless -X gives one; it is never joined. The settings the read
 * depends on come after -X, so no setting can make a replay commit.
 */
static rd_kafka_t *open_consumer(const cd_topic_range *r)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	cd_err err = { "", 0 };
	char errstr[512], group[64];
	const cd_kv base[] = {
		{ "bootstrap.servers", r->brokers },
		{ "group.id", group },
	};
	const cd_kv fixed[] = {
		{ "enable.auto.commit", "false" },
		{ "enable.auto.offset.store", "false" },
		{ "enable.partition.eof", "true" },     /* how a partition's end is seen past gaps */
		{ "auto.offset.reset", "error" },       /* records deleted under the read end it */
	};

	cd_kafka_conf_log_to_stderr(conf);
	snprintf(group, sizeof(group), "contactd-replay-%ld", (long)getpid());
	if (cd_kafka_conf_apply(conf, base, sizeof(base) / sizeof(base[0]), &err) < 0 ||
	    cd_kafka_conf_apply(conf, r->kv, r->n_kv, &err) < 0 ||
	    cd_kafka_conf_apply(conf, fixed, sizeof(fixed) / sizeof(fixed[0]), &err) < 0) {
		cd_log(CD_LOG_ERROR, "bad kafka setting", "error", err.msg, NULL);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr)))) {
		cd_log(CD_LOG_ERROR, "cannot create the consumer", "error", errstr, NULL);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	return rk;
}

static void log_partition_error(const char *msg, const cd_topic_range *r, int32_t part, const char *error)
{
	char num[16];

	snprintf(num, sizeof(num), "%d", (int)part);
	cd_log(CD_LOG_ERROR, msg, "topic", r->topic, "partition", num, "error", error, NULL);
}

/* Timestamps: ms for Kafka, rounded up so that "at or after" keeps its meaning. */
static int64_t instant_to_ms_ceil(cd_instant t)
{
	return t / 1000000 + (t % 1000000 > 0 ? 1 : 0);
}

/*
 * Start offsets for --from (x->p[i].next holds the low watermark, end the
 * high one). 0 / -1 (logged).
 */
static int lookup_from(topicsrc *x)
{
	const cd_topic_range *r = x->r;
	rd_kafka_topic_partition_list_t *byt = rd_kafka_topic_partition_list_new(x->np);
	rd_kafka_topic_partition_list_t *zero = NULL;
	rd_kafka_resp_err_t e;
	char num[16];
	int rc = -1, scanned = 0;

	for (int i = 0; i < x->np; i++)
		rd_kafka_topic_partition_list_add(byt, r->topic, x->p[i].id)->offset = instant_to_ms_ceil(r->from);
	if ((e = rd_kafka_offsets_for_times(x->rk, byt, QUERY_TIMEOUT_MS))) {
		cd_log(CD_LOG_ERROR, "cannot look up --from", "topic", r->topic, "error", rd_kafka_err2str(e), NULL);
		goto out;
	}
	for (int i = 0; i < x->np; i++) {
		tpart *p = &x->p[i];
		rd_kafka_topic_partition_t *t = &byt->elems[i];

		if (t->err) {
			log_partition_error("cannot look up --from", r, p->id, rd_kafka_err2str(t->err));
			goto out;
		}
		p->seeking = true;   /* a no-op after a lookup: its first record is at or after --from */
		if (t->offset >= 0) {
			p->next = t->offset > p->next ? t->offset : p->next;
		} else if (p->next < p->end) {
			/* "nothing at or after --from": true, or a broker that cannot look up by time */
			if (!zero)
				zero = rd_kafka_topic_partition_list_new(x->np);
			rd_kafka_topic_partition_list_add(zero, r->topic, p->id)->offset = 0;
		}
	}
	if (zero && (e = rd_kafka_offsets_for_times(x->rk, zero, QUERY_TIMEOUT_MS))) {
		cd_log(CD_LOG_ERROR, "cannot look up --from", "topic", r->topic, "error", rd_kafka_err2str(e), NULL);
		goto out;
	}
	for (int i = 0; zero && i < zero->cnt; i++) {
		rd_kafka_topic_partition_t *t = &zero->elems[i];

		for (int j = 0; j < x->np; j++) {
			if (x->p[j].id != t->partition)
				continue;
			if (!t->err && t->offset >= 0)
				x->p[j].next = x->p[j].end;   /* the broker answered: every record is older */
			else
				scanned++;
		}
	}
	if (scanned) {
		snprintf(num, sizeof(num), "%d", scanned);
		cd_log(CD_LOG_INFO, "the broker does not look up offsets by time: partitions read from their start "
		       "for --from", "topic", r->topic, "partitions", num, NULL);
	}
	rc = 0;
out:
	rd_kafka_topic_partition_list_destroy(byt);
	if (zero)
		rd_kafka_topic_partition_list_destroy(zero);
	return rc;
}

/*
 * Whether the cluster has `topic`, from the metadata of all topics: a request
 * naming it would create it on a broker that auto-creates topics for older
 * metadata requests (librdkafka's mock cluster, the devbroker, does), and a
 * read-only replay must not create anything. 1, 0, or -1 with err.
 */
static int topic_exists(rd_kafka_t *rk, const char *topic, cd_err *err)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, QUERY_TIMEOUT_MS);
	int found = 0;

	if (e)
		return cd_err_set(err, 1, "metadata: %s", rd_kafka_err2str(e));
	for (int i = 0; i < md->topic_cnt && !found; i++)
		found = !strcmp(md->topics[i].topic, topic);
	rd_kafka_metadata_destroy(md);
	return found;
}

/*
 * The partitions, their ranges, and the assignment. 0 / -1 (logged). The
 * queues are detached from the consumer's before assign() so that nothing is
 * forwarded there.
 */
static int open_range(topicsrc *x)
{
	const cd_topic_range *r = x->r;
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(16), *assign = NULL;
	rd_kafka_resp_err_t e;
	cd_err err = { "", 0 };
	char num[3][24];
	int64_t total = 0;
	int rc = -1;

	if ((rc = topic_exists(x->rk, r->topic, &err)) <= 0) {
		if (rc == 0)
			cd_err_set(&err, 0, "topic '%s' does not exist", r->topic);
		cd_log(CD_LOG_ERROR, "cannot look up the topic", "brokers", r->brokers, "topic", r->topic, "error",
		       err.msg, NULL);
		rc = -1;
		goto out;
	}
	rc = -1;
	if (cd_kafka_topic_partitions(x->rk, r->topic, parts, &err) < 0) {
		cd_log(CD_LOG_ERROR, "cannot look up the topic", "brokers", r->brokers, "topic", r->topic, "error",
		       err.msg, NULL);
		goto out;
	}
	if (!(x->p = calloc((size_t)parts->cnt, sizeof(*x->p)))) {
		cd_log(CD_LOG_ERROR, "cannot read the topic", "error", "out of memory", NULL);
		goto out;
	}
	x->np = parts->cnt;
	for (int i = 0; i < x->np; i++) {
		tpart *p = &x->p[i];
		int64_t lo, hi;

		p->id = parts->elems[i].partition;
		if ((e = rd_kafka_query_watermark_offsets(x->rk, r->topic, p->id, &lo, &hi, QUERY_TIMEOUT_MS))) {
			log_partition_error("cannot read the partition's offsets", r, p->id, rd_kafka_err2str(e));
			goto out;
		}
		p->next = lo;
		p->end = hi;    /* the end as the read starts: later records are not in the range */
	}
	if (r->from != CD_INSTANT_NONE && lookup_from(x) < 0)
		goto out;
	assign = rd_kafka_topic_partition_list_new(x->np);
	for (int i = 0; i < x->np; i++) {
		tpart *p = &x->p[i];

		if (p->next >= p->end) {
			p->done = true;
			continue;
		}
		total += p->end - p->next;
		if (!(p->q = rd_kafka_queue_get_partition(x->rk, r->topic, p->id))) {
			log_partition_error("cannot read the partition", r, p->id, "no queue for it");
			goto out;
		}
		rd_kafka_queue_forward(p->q, NULL);
		rd_kafka_topic_partition_list_add(assign, r->topic, p->id)->offset = p->next;
	}
	if ((e = rd_kafka_assign(x->rk, assign))) {
		cd_log(CD_LOG_ERROR, "cannot assign the partitions", "topic", r->topic, "error", rd_kafka_err2str(e),
		       NULL);
		goto out;
	}
	snprintf(num[0], sizeof(num[0]), "%d", x->np);
	snprintf(num[1], sizeof(num[1]), "%d", assign->cnt);
	snprintf(num[2], sizeof(num[2]), "%lld", (long long)total);
	/* offsets from the start positions to the ends: --to may end a partition sooner */
	cd_log(CD_LOG_INFO, "reading topic", "topic", r->topic, "partitions", num[0], "partitions_in_range", num[1],
	       "offsets_to_end", num[2], NULL);
	x->n->partitions = x->np;
	rc = 0;
out:
	rd_kafka_topic_partition_list_destroy(parts);
	if (assign)
		rd_kafka_topic_partition_list_destroy(assign);
	return rc;
}

/* ---- records ------------------------------------------------------------------------- */

static void skipped(topicsrc *x, const char *pos, const char *event_id, const char *stage, const char *error)
{
	x->n->skipped++;
	cd_log(CD_LOG_WARN, "record skipped", "input", x->r->topic, "position", pos, "event_id", event_id, "stage",
	       stage, "error", error, NULL);
}

/*
 * One record of p's range, checked as the live processor checks it (size,
 * decode and validate, key = citizen_id: consumer/batch.c) and applied, or,
 * when it is an all-citizen tick, left waiting for the other partitions.
 * 0; -1 when the driver failed.
 */
static int on_record(topicsrc *x, tpart *p, const rd_kafka_message_t *m)
{
	const cd_topic_range *r = x->r;
	int64_t ms = rd_kafka_message_timestamp(m, NULL);
	cd_instant ts = ms >= 0 ? ms * 1000000 : CD_INSTANT_NONE;   /* none: taken as in range */
	Contact__V1__CitizenEvent *msg = NULL;
	cd_event ev;
	cd_codec_stage stage;
	cd_err err = { "", 0 };
	char pos[64];
	uint64_t dups;
	int rc = 0;

	if (r->to != CD_INSTANT_NONE && ts != CD_INSTANT_NONE && ts >= r->to) {
		p->end = m->offset;    /* --to is exclusive: this record is the partition's end */
		p->done = true;
		return 0;
	}
	if (p->seeking) {
		if (ts != CD_INSTANT_NONE && ts < r->from)
			return 0;      /* before --from, on a broker that could not look it up */
		p->seeking = false;
	}
	x->n->messages++;
	snprintf(pos, sizeof(pos), "partition %d offset %lld", (int)p->id, (long long)m->offset);
	if (m->len > r->max_record) {
		/* before decoding: a huge record of unknown fields costs memory to decode */
		snprintf(err.msg, sizeof(err.msg), "record of %zu bytes exceeds max-record-bytes (%zu)", m->len,
			 r->max_record);
		skipped(x, pos, "", "size", err.msg);
		return 0;
	}
	if (cd_codec_decode_event(m->payload, m->len, CD_LOG_PB, &msg, &ev, &stage, &err) < 0) {
		if (m->key && m->key_len)      /* the key is the citizen's id: a text quoting it names its pseudonym */
			cd_pseudonym_scrub(NULL, err.msg, sizeof(err.msg), m->key, m->key_len);
		skipped(x, pos, msg ? msg->event_id : "", cd_codec_stage_name(stage), err.msg);
		goto out;
	}
	if (ev.citizen_id_len &&
	    (!m->key || m->key_len != ev.citizen_id_len || memcmp(m->key, ev.citizen_id, ev.citizen_id_len))) {
		/* live sets these aside: the key is what brings a citizen's inputs to one partition */
		skipped(x, pos, msg->event_id, "validate",
			!m->key ? "record has no key: inputs are keyed by citizen_id"
				: "record key is not the event's citizen_id: inputs are keyed by citizen_id");
		goto out;
	}
	if (ev.kind == CD_EV_CLOCK_TICK && ev.citizen_id_len == 0) {
		p->at_tick = true;
		p->tick = cd_event_time(&ev);
		p->tick_offset = m->offset;
		goto out;
	}
	dups = cd_driver_counts_of(x->d)->duplicates;
	if (cd_driver_apply(x->d, &ev, &err) < 0) {
		if (cd_driver_failed(x->d))
			rc = -1;
		else
			skipped(x, pos, msg->event_id, "apply", err.msg);
	} else if (cd_driver_counts_of(x->d)->duplicates == dups) {
		x->n->applied++;
	}
out:
	if (msg)
		protobuf_c_message_free_unpacked(&msg->base, NULL);
	return rc;
}

/* A consumer error on p's queue: its end, records deleted under the read (fatal), or passing trouble. */
static int on_error(topicsrc *x, tpart *p, const rd_kafka_message_t *m)
{
	char num[2][24];

	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		if (m->offset >= p->end)
			p->done = true;   /* past the range's last record (gaps: compaction, markers) */
		return 0;
	}
	if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET || m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
		snprintf(num[0], sizeof(num[0]), "%d", (int)p->id);
		snprintf(num[1], sizeof(num[1]), "%lld", (long long)p->next);
		cd_log(CD_LOG_ERROR, "records were deleted before they were read (retention?)", "topic", x->r->topic,
		       "partition", num[0], "offset", num[1], "error", rd_kafka_message_errstr(m), NULL);
		return -1;
	}
	snprintf(num[0], sizeof(num[0]), "%d", (int)p->id);
	cd_log(CD_LOG_WARN, "consumer error", "topic", x->r->topic, "partition", num[0], "error",
	       rd_kafka_message_errstr(m), NULL);
	return 0;
}

/* Reads p up to its next all-citizen tick or the end of its range. 0 / -1 (logged). */
static int read_to_tick(topicsrc *x, tpart *p)
{
	int64_t last = cd_clock_mono_ms();

	rd_kafka_poll(x->rk, 0);   /* the client's own errors and logs */
	while (!p->done && !p->at_tick) {
		rd_kafka_message_t *m;
		int rc = 0;

		if (p->next >= p->end) {
			p->done = true;
			break;
		}
		if (!(m = rd_kafka_consume_queue(p->q, POLL_MS))) {
			rd_kafka_poll(x->rk, 0);
			if (cd_clock_mono_ms() - last > STALL_MS) {
				char num[3][24];
				snprintf(num[0], sizeof(num[0]), "%d", (int)p->id);
				snprintf(num[1], sizeof(num[1]), "%lld", (long long)p->next);
				snprintf(num[2], sizeof(num[2]), "%lld", (long long)p->end);
				cd_log(CD_LOG_ERROR, "no record from the partition for 60 s; the replay is incomplete", "topic",
				       x->r->topic, "partition", num[0], "offset", num[1], "end", num[2], NULL);
				return -1;
			}
			continue;
		}
		last = cd_clock_mono_ms();
		if (m->err) {
			rc = on_error(x, p, m);
		} else if (m->offset >= p->end) {
			p->done = true;   /* produced after the read started */
		} else {
			p->next = m->offset + 1;
			rc = on_record(x, p, m);
			if (++x->since_poll >= MAIN_POLL_EVERY) {
				x->since_poll = 0;
				rd_kafka_poll(x->rk, 0);
			}
		}
		rd_kafka_message_destroy(m);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ---- the merge ----------------------------------------------------------------------- */

/*
 * Reads every partition to its next all-citizen tick, applies the earliest
 * waiting tick once and lets every partition waiting at that instant go on,
 * until every partition is at its end. A partition that lacks a tick the
 * others have (a topic not written by `contactd produce`) holds nothing up:
 * the earliest waiting tick goes first, and a later one waits its turn.
 */
static int merge(topicsrc *x)
{
	cd_err err = { "", 0 };

	for (;;) {
		tpart *first = NULL;
		uint64_t waiting = 0;

		for (int i = 0; i < x->np; i++)
			if (!x->p[i].done && !x->p[i].at_tick && read_to_tick(x, &x->p[i]) < 0)
				return -1;
		for (int i = 0; i < x->np; i++)
			if (x->p[i].at_tick && (!first || x->p[i].tick < first->tick))
				first = &x->p[i];
		if (!first)
			return 0;
		if (cd_driver_advance_all(x->d, first->tick, &err) < 0) {
			char pos[64];
			if (cd_driver_failed(x->d))
				return -1;
			snprintf(pos, sizeof(pos), "partition %d offset %lld", (int)first->id,
				 (long long)first->tick_offset);
			skipped(x, pos, "", "apply", err.msg);
		} else {
			x->n->applied++;
		}
		for (int i = 0; i < x->np; i++) {
			if (x->p[i].at_tick && x->p[i].tick == first->tick) {
				x->p[i].at_tick = false;
				waiting++;
			}
		}
		x->n->tick_copies += waiting - 1;
	}
}

int cd_topic_replay(cd_driver *d, const cd_topic_range *r, cd_topic_counts *n)
{
	topicsrc x = { .r = r, .d = d, .n = n };
	int rc = -1;

	memset(n, 0, sizeof(*n));
	if (!(x.rk = open_consumer(r)))
		return -1;
	if (open_range(&x) == 0)
		rc = merge(&x);
	for (int i = 0; i < x.np; i++)
		if (x.p[i].q)
			rd_kafka_queue_destroy(x.p[i].q);
	free(x.p);
	rd_kafka_consumer_close(x.rk);
	rd_kafka_destroy(x.rk);
	rd_kafka_wait_destroyed(5000);
	return rc;
}
