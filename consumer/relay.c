/*
 * relay.c — the outbox to Kafka. The head of a partition's outbox (at most
 * outbox-batch entries) is produced with the idempotent producer; once every
 * entry of it is delivered, it is trimmed from Redis with the fencing token.
 * A crash in between sends the same bytes again: outputs may repeat, never
 * differ. A failed delivery sends the same head again.
 *
 * An entry the broker refuses for itself (too large, malformed) would be
 * refused forever and block every entry behind it: it is replaced by a
 * small dead letter that says what it was (mark_undeliverable, send_stub);
 * if even that is refused, it is left out, with an error in the log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "consumer/outbox.h"
#include "consumer/processor_int.h"
#include "proto/codec.h"
#include "util/log.h"

typedef struct tag {
	int32_t p;
	uint32_t gen;
	uint32_t idx;            /* the entry's index in the head batch */
	int kind;                /* the topic it goes to (CD_MT_*), for the metrics */
} tag;

/*
 * Marks entry idx of pt's head batch as one the broker will never take: the
 * next send of the head replaces it by a stub dead letter (level 1) or, when
 * the stub was refused as well, leaves it out (level 2). Either way the
 * entries behind it go on.
 */
static void mark_undeliverable(proc *x, part *pt, uint32_t idx, const char *reason)
{
	char ps[16], is[16];
	size_t k;
	for (k = 0; k < pt->n_undeliverable && pt->undeliverable[k] != idx; k++)
		;
	if (k == UNDELIVERABLE_MAX)
		k = UNDELIVERABLE_MAX - 1;            /* full: the last slot escalates */
	if (k == pt->n_undeliverable) {
		pt->n_undeliverable++;
		pt->undeliverable[k] = idx;
		pt->undeliverable_level[k] = 0;
		snprintf(pt->undeliverable_why[k], sizeof(pt->undeliverable_why[k]), "%s", reason);
	}
	if (pt->undeliverable_level[k] < 2)
		pt->undeliverable_level[k]++;
	snprintf(ps, sizeof(ps), "%d", (int)pt->p);
	snprintf(is, sizeof(is), "%u", idx);
	cd_log(CD_LOG_ERROR, pt->undeliverable_level[k] == 1
		   ? "outbox entry can never be delivered: a dead letter that says so goes in its place"
		   : "outbox entry and its stand-in can never be delivered: left out", "partition", ps,
	       "entry", is, "error", reason, NULL);
	cd_metrics_undeliverable(x->met);
}

static int undeliverable_level(const part *pt, uint32_t idx)
{
	for (size_t k = 0; k < pt->n_undeliverable; k++)
		if (pt->undeliverable[k] == idx)
			return pt->undeliverable_level[k];
	return 0;
}

static const char *undeliverable_why(const part *pt, uint32_t idx)
{
	for (size_t k = 0; k < pt->n_undeliverable; k++)
		if (pt->undeliverable[k] == idx)
			return pt->undeliverable_why[k];
	return "";
}

void proc_on_delivery(void *ctx, void *opaque, rd_kafka_resp_err_t kerr, const char *reason)
{
	proc *x = ctx;
	tag *t = opaque;
	part *pt = t && t->p >= 0 && t->p < MAX_PARTS ? &x->parts[t->p] : NULL;
	if (pt && pt->owned && t->gen == pt->relay_gen) {
		if (kerr)
			pt->delivery_failed = true;
		if (kerr && cd_kafka_undeliverable(kerr))
			mark_undeliverable(x, pt, t->idx, reason);
		pt->delivered++;
	}
	if (kerr && !cd_kafka_undeliverable(kerr))
		cd_log(CD_LOG_WARN, "output delivery failed; it will be sent again", "error", reason, NULL);
	else if (!kerr && t)
		cd_metrics_relayed(x->met, t->kind);
	free(t);
}

/* The stand-in for an entry the broker refuses: what it was, why, and its digest. */
static int send_stub(proc *x, const cd_outbox_entry *e, const char *topic, const char *why, tag *t, cd_err *err)
{
	char len_s[24], digest_s[40];
	XXH128_hash_t h = XXH3_128bits(e->val, e->val_len);
	cd_header hs[4] = {
		{ "contactd.undeliverable.topic", topic, strlen(topic) },
		{ "contactd.undeliverable.reason", why, strlen(why) },
		{ "contactd.undeliverable.length", len_s, 0 },
		{ "contactd.undeliverable.xxh3-128", digest_s, 0 },
	};
	snprintf(len_s, sizeof(len_s), "%zu", e->val_len);
	snprintf(digest_s, sizeof(digest_s), "%016llx%016llx", (unsigned long long)h.high64,
		 (unsigned long long)h.low64);
	hs[2].len = strlen(len_s);
	hs[3].len = strlen(digest_s);
	return cd_producer_send(x->prod, x->cfg.dlq_topic, -1, e->key, e->key_len, NULL, 0, hs, 4, t, err);
}

static int entry_metric_kind(int kind)
{
	switch (kind) {
	case CD_OUTBOX_DEADLINE: return CD_MT_DEADLINE;
	case CD_OUTBOX_BREACH: return CD_MT_BREACH;
	case CD_OUTBOX_MEMBER:
	case CD_OUTBOX_MEMBERS_ALL: return CD_MT_MEMBERS;
	case CD_OUTBOX_AGGREGATE: return CD_MT_AGGREGATES;
	default: return CD_MT_DLQ;
	}
}

static const char *entry_topic(const proc *x, int kind)
{
	switch (kind) {
	case CD_OUTBOX_DEADLINE: return x->cfg.deadline_topic;
	case CD_OUTBOX_BREACH: return x->cfg.breach_topic;
	case CD_OUTBOX_MEMBER:
	case CD_OUTBOX_MEMBERS_ALL: return x->cfg.members_topic;
	case CD_OUTBOX_AGGREGATE: return x->cfg.aggregates_topic;
	default: return x->cfg.dlq_topic;
	}
}

void proc_trimmed(part *pt)
{
	pt->n_undeliverable = 0;                /* they were indices into the batch just trimmed */
	pt->in_flight = pt->delivered = 0;
	pt->relay_gen++;
	pt->outbox_maybe = true;                /* there may be more behind what was trimmed */
}

int proc_relay(proc *x, part *pt, cd_err *err)
{
	cd_buf *entries = NULL;
	size_t n = 0;
	int rc = 0;

	if (pt->in_flight) {
		if (pt->delivered < pt->in_flight)
			return 0;
		if (pt->delivery_failed) {
			pt->in_flight = pt->delivered = 0;      /* send the same head again */
			pt->delivery_failed = false;
			pt->relay_gen++;
			pt->outbox_maybe = true;
			return 0;
		}
		/* the trim goes with the pass's commits (proc_commits_finish) */
		if (pt->trim_sent)
			return 0;
		pt->trim_sent = true;
		x->sent[x->n_sent++] = (sent_call){ pt->p, true };
		return 0;
	}
	if (!pt->outbox_maybe)
		return 0;
	entries = calloc((size_t)x->cfg.outbox_batch, sizeof(*entries));
	if (!entries)
		return cd_err_set(err, 1, "out of memory");
	for (int i = 0; i < x->cfg.outbox_batch; i++)
		cd_buf_init(&entries[i], (size_t)64 << 20);
	if (cd_redis_outbox_read(x->redis, pt->p, (size_t)x->cfg.outbox_batch, entries, &n, err) < 0) {
		proc_redis_trouble(x, err);
		rc = -1;
		goto out;
	}
	if (n == 0)
		pt->outbox_maybe = false;
	cd_metrics_outbox_pending(x->met, pt->p, n > 0);
	pt->head_entries = 0;
	for (size_t i = 0; i < n; i++) {
		cd_outbox_entry e;
		const char *topic;
		int src = 0;
		/* a watermark goes to every partition of the members topic, one message each */
		int copies = 1, level;
		if (cd_outbox_parse((const uint8_t *)entries[i].data, entries[i].len, &e) < 0) {
			rc = cd_err_set(err, 0, "partition %d: corrupt outbox entry", (int)pt->p);
			goto out;
		}
		topic = entry_topic(x, e.kind);
		if (e.kind == CD_OUTBOX_MEMBERS_ALL)
			copies = x->n_member_parts > 0 ? x->n_member_parts : 1;
		pt->head_entries++;
		level = undeliverable_level(pt, (uint32_t)i);
		if (level == 2) {
			pt->in_flight++;                /* left out: counts as delivered */
			pt->delivered++;
			continue;
		}
		for (int c = 0; c < copies && src == 0; c++) {
			tag *t = malloc(sizeof(*t));
			if (!t) {
				rc = cd_err_set(err, 1, "out of memory");
				goto out;
			}
			t->p = pt->p;
			t->gen = pt->relay_gen;
			t->idx = (uint32_t)i;
			t->kind = level == 1 ? CD_MT_DLQ : entry_metric_kind(e.kind);
			if (level == 1)
				src = send_stub(x, &e, topic, undeliverable_why(pt, (uint32_t)i), t, err);
			else
				src = cd_producer_send(x->prod, topic, e.kind == CD_OUTBOX_MEMBERS_ALL ? c : -1, e.key,
						       e.key_len, e.val, e.val_len, e.h, e.n_h, t, err);
			if (src == 0)
				pt->in_flight++;
			else
				free(t);
		}
		if (src == -2) {
			/* refused before it was queued: set aside like a refused delivery */
			mark_undeliverable(x, pt, (uint32_t)i, err->msg);
			pt->delivery_failed = true;
			pt->in_flight++;
			pt->delivered++;
			continue;
		}
		if (src < 0) {
			if (err->retriable) {
				/* the local queue is full: deliver what is queued, then send this head again */
				pt->delivery_failed = true;
				pt->in_flight++;            /* so that the head is looked at again */
				pt->delivered++;
				break;
			}
			rc = -1;
			goto out;
		}
	}
out:
	for (int i = 0; i < x->cfg.outbox_batch; i++)
		cd_buf_release(&entries[i]);
	free(entries);
	return rc;
}
