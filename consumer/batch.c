/*
 * batch.c — one batch of one partition: pending inputs → the citizens they
 * name, held decoded → the engine, one input at a time → outputs and dead
 * letters as outbox entries → ONE fenced commit of records, timers, outbox,
 * offsets and tick floor (consumer/redis_store.c). Nothing reaches Kafka
 * before that commit: the relay (relay.c) produces what it committed.
 *
 * The clocks live here too, because they are batches of their own: on the
 * wall clock the timer index names the citizens due, which are advanced and
 * committed TIMER_CHUNK at a time (proc_fire_due); on the event clock a
 * ClockTick with an empty citizen id fires its partition's due citizens
 * inside the batch (fire_held) and raises the partition's floor.
 *
 * Bad input never stops the stream: a record over max-record-bytes (before
 * decoding), one that does not decode or validate, one whose key is not its
 * citizen_id, one for a quarantined citizen, or one the engine refuses
 * becomes a dead letter with Kafka Connect's error headers.
 */
#include "consumer/processor_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "consumer/outbox.h"
#include "proto/codec.h"
#include "proto/members.h"
#include "state/step.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/pseudonym.h"

/* ---- outputs of the engine ------------------------------------------------------ */

static int on_output(void *ctx, const cd_output *o)
{
	proc *x = ctx;
	cd_err err;
	cd_buf_reset(&x->value);
	if (cd_codec_output_append(o, CD_LOG_PB, 0, &x->value, &err) < 0 ||
	    cd_outbox_begin(&x->entry, o->is_breach ? CD_OUTBOX_BREACH : CD_OUTBOX_DEADLINE, o->citizen_id,
			    strlen(o->citizen_id), x->value.data, x->value.len, 0) < 0 ||
	    cd_redis_batch_outbox(x->batch, x->entry.data, x->entry.len) < 0)
		return -1;
	cd_metrics_output(x->met, o->is_breach ? CD_MT_BREACH : CD_MT_DEADLINE, cd_output_status_name(o));
	return 0;
}

/*
 * A share member's change of outcome (engine.h cd_member) goes to the members
 * topic, keyed by its aggregate key, for the aggregate stage: numbered per
 * partition (the stage drops numbers it has seen, so a re-sent outbox changes
 * nothing) and tagged with the partition's clock, so that the stage applies it
 * where replay would: before or after the aggregate clock passes that instant
 * (aggstage.c).
 */
static int on_member(void *ctx, const cd_member *m)
{
	proc *x = ctx;
	part *pt = x->cur;
	cd_member_rec r;
	cd_err err;
	char key[96];
	size_t kl;

	if (!pt)
		return -1;
	memset(&r, 0, sizeof(r));
	r.source = pt->p;
	r.seq = ++pt->mseq;
	r.at_tick = x->at_tick;
	r.clock = x->at_tick ? x->tick_clock : x->cfg.event_clock ? pt->floor : pt->wm;
	r.m = *m;
	kl = cd_codec_aggregate_key(m->key_kind, m->key ? m->key : "", key, sizeof(key));
	cd_buf_reset(&x->value);
	/* A member leaving has no key any more (the engine does not keep it): it goes to every
	 * partition, and the one that counts it takes it out. */
	if (cd_members_encode(&r, &x->value, &err) < 0 ||
	    cd_outbox_begin(&x->entry, m->outcome == CD_MEMBER_UNDECIDED ? CD_OUTBOX_MEMBERS_ALL : CD_OUTBOX_MEMBER,
			    m->outcome == CD_MEMBER_UNDECIDED ? NULL : key, kl, x->value.data, x->value.len, 0) < 0 ||
	    cd_redis_batch_outbox(x->batch, x->entry.data, x->entry.len) < 0)
		return -1;
	cd_metrics_member_record(x->met);
	return 0;
}

/* The entry that says pt's clock passed t: relayed to every partition of the members topic. */
static int watermark_entry(proc *x, part *pt, cd_instant t)
{
	cd_member_rec r;
	cd_err err;
	memset(&r, 0, sizeof(r));
	r.source = pt->p;
	r.seq = ++pt->mseq;
	r.clock = t;
	r.at_tick = true;
	r.watermark = true;
	r.source_partitions = x->n_src_parts;
	cd_buf_reset(&x->value);
	if (cd_members_encode(&r, &x->value, &err) < 0 ||
	    cd_outbox_begin(&x->entry, CD_OUTBOX_MEMBERS_ALL, NULL, 0, x->value.data, x->value.len, 0) < 0)
		return -1;
	return cd_redis_batch_outbox(x->batch, x->entry.data, x->entry.len);
}

void proc_members_on(proc *x)
{
	cd_engine_set_member_fn(x->eng, on_member, x);
}

/*
 * A bad input becomes a dead letter with Kafka Connect's error headers. A dead
 * letter must always be deliverable, or one bad record would stop the stream
 * for good: it carries at most dlq-max-bytes of the record, and when it is cut
 * the headers give the original length and a digest (XXH3-128) so that the
 * record can be found again on the input topic (topic, partition and offset
 * are there too). The key is kept as it was, a missing key stays missing.
 */
static int dead_letter(proc *x, const rd_kafka_message_t *m, const char *stage, const char *error)
{
	char part_s[16], off_s[24], len_s[24], digest_s[40];
	const char *names[] = { "__connect.errors.topic", "__connect.errors.partition", "__connect.errors.offset",
				"__connect.errors.stage", "__connect.errors.exception.message",
				"contactd.errors.original.length", "contactd.errors.original.xxh3-128" };
	const char *vals[7];
	size_t carried = m->len, nh = 5;

	snprintf(part_s, sizeof(part_s), "%d", (int)m->partition);
	snprintf(off_s, sizeof(off_s), "%lld", (long long)m->offset);
	vals[0] = rd_kafka_topic_name(m->rkt);
	vals[1] = part_s;
	vals[2] = off_s;
	vals[3] = stage;
	vals[4] = error;
	if (carried > (size_t)x->cfg.dlq_max_bytes) {
		XXH128_hash_t h = XXH3_128bits(m->payload, m->len);
		carried = (size_t)x->cfg.dlq_max_bytes;
		snprintf(len_s, sizeof(len_s), "%zu", m->len);
		snprintf(digest_s, sizeof(digest_s), "%016llx%016llx", (unsigned long long)h.high64,
			 (unsigned long long)h.low64);
		vals[5] = len_s;
		vals[6] = digest_s;
		nh = 7;
	}
	if (cd_outbox_begin(&x->entry, CD_OUTBOX_DLQ, m->key, m->key_len, m->payload ? m->payload : "", carried,
			    nh) < 0)
		return -1;
	for (size_t i = 0; i < nh; i++)
		if (cd_outbox_header(&x->entry, names[i], vals[i], strlen(vals[i])) < 0)
			return -1;
	cd_metrics_dead_letter(x->met, proc_msg_topic(x, m), m->partition, stage);
	return cd_redis_batch_outbox(x->batch, x->entry.data, x->entry.len);
}

/* A dead letter for m: 0, or -1 with err (no memory: the batch fails). */
int proc_set_aside(proc *x, const rd_kafka_message_t *m, const char *stage, const char *why, cd_err *err)
{
	char reason[512];
	snprintf(reason, sizeof(reason), "%s", why);   /* why may be err->msg itself */
	/* the key is the citizen's id: a text quoting it (in whatever field) names the pseudonym */
	if (m->key && m->key_len)
		cd_pseudonym_scrub(&x->ckey, reason, sizeof(reason), m->key, m->key_len);
	if (dead_letter(x, m, stage, reason) < 0)
		return cd_err_set(err, 1, "out of memory for a dead letter");
	return 0;
}

/* ---- citizens of a batch --------------------------------------------------------- */

static size_t slot_hash(const char *id)
{
	size_t h = 1469598103934665603ull;       /* FNV-1a: short ids, no need for more */
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ull;
	return h;
}

static slot *slot_find(proc *x, const char *id)
{
	size_t mask = x->n_slot_ix - 1, i;
	if (!x->n_slot_ix)
		return NULL;
	for (i = slot_hash(id) & mask; x->slot_ix[i]; i = (i + 1) & mask)
		if (!strcmp(x->slots[x->slot_ix[i] - 1].id, id))
			return &x->slots[x->slot_ix[i] - 1];
	return NULL;
}

static void slot_index(proc *x, size_t k)
{
	size_t mask = x->n_slot_ix - 1, i;
	for (i = slot_hash(x->slots[k].id) & mask; x->slot_ix[i]; i = (i + 1) & mask)
		;
	x->slot_ix[i] = (uint32_t)(k + 1);
}

/* Forgets the citizens held (their memory is kept for the next batch). */
static void slots_reset(proc *x)
{
	x->n_slots = 0;
	if (x->slot_ix)
		memset(x->slot_ix, 0, x->n_slot_ix * sizeof(*x->slot_ix));
}

static slot *slot_add(proc *x, const char *id)
{
	slot *s;
	if (x->n_slots == x->cap_slots) {
		size_t ncap = x->cap_slots ? x->cap_slots * 2 : 64;
		slot *ns = realloc(x->slots, ncap * sizeof(*ns));
		uint32_t *ix;
		if (!ns)
			return NULL;
		for (size_t i = x->cap_slots; i < ncap; i++)
			cd_citizen_init(&ns[i].c);
		x->slots = ns;
		x->cap_slots = ncap;
		ix = calloc(2 * ncap, sizeof(*ix));
		if (!ix)
			return NULL;
		free(x->slot_ix);
		x->slot_ix = ix;
		x->n_slot_ix = 2 * ncap;
		for (size_t k = 0; k < x->n_slots; k++)
			slot_index(x, k);
	}
	s = &x->slots[x->n_slots];
	snprintf(s->id, sizeof(s->id), "%s", id);
	cd_citizen_clear(&s->c);
	s->dirty = false;
	s->corrupt = false;
	slot_index(x, x->n_slots++);
	return s;
}

/*
 * A citizen whose stored record does not decode is quarantined, never a crash
 * and never a stop: its inputs go to the dead-letter topic with the reason,
 * its record is left as it is for an operator to repair or delete
 * (docs/operations.md), and every other citizen goes on. The log names it by
 * its pseudonym (its Redis key's name) and the Redis partition, not by the id.
 */
static void quarantine(proc *x, slot *s, int32_t p, const char *why)
{
	char ps[16], hs[CD_PSEUDONYM_LEN + 1];
	uint64_t h = XXH3_64bits(s->id, strlen(s->id));   /* remembered, never shown */
	bool said = false;

	snprintf(ps, sizeof(ps), "%d", (int)p);
	snprintf(s->why, sizeof(s->why), "the citizen's state in Redis is corrupt (%.120s): its inputs are set aside "
		 "until it is repaired or reset", why);
	cd_citizen_clear(&s->c);
	s->corrupt = true;
	/* Each batch (and each timer scan) meets it again: say it once per citizen
	 * among the last QUARANTINE_SAID ones, not once a second. */
	for (size_t i = 0; i < QUARANTINE_SAID; i++)
		said |= x->quarantine_said[i] == h;
	if (said)
		return;
	x->quarantine_said[x->n_quarantined++ % QUARANTINE_SAID] = h;
	cd_metrics_quarantined(x->met);
	cd_log(CD_LOG_ERROR, "citizen quarantined: its Redis record is corrupt", "partition", ps, "citizen",
	       cd_pseudonym_log(&x->ckey, s->id, hs),
	       "error", why, NULL);
}

/*
 * Loads the citizens named in ids[0..n) that are not held yet, with one MGET:
 * each is added to the held set first (which also de-duplicates the list), then
 * filled from its record.
 */
static int slots_load(proc *x, int32_t p, const char *const *ids, size_t n, cd_err *err)
{
	const char **want = malloc((n ? n : 1) * sizeof(*want));
	size_t *at = malloc((n ? n : 1) * sizeof(*at));
	size_t k = 0;
	int result = -1;

	if (!want || !at) {
		cd_err_set(err, 1, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		slot *s;
		if (!ids[i] || slot_find(x, ids[i]))   /* NULL: a timer member not sealed with our key */
			continue;
		if (!(s = slot_add(x, ids[i]))) {
			cd_err_set(err, 1, "out of memory");
			goto out;
		}
		at[k] = (size_t)(s - x->slots);
		want[k++] = ids[i];
	}
	if (k == 0) {
		result = 0;
		goto out;
	}
	if (k > x->cap_recs) {
		cd_buf *nr = realloc(x->recs, k * sizeof(*nr));
		int *nf;
		if (nr)
			x->recs = nr;
		nf = realloc(x->found, k * sizeof(*nf));
		if (nf)
			x->found = nf;
		if (!nr || !nf) {
			cd_err_set(err, 1, "out of memory");
			goto out;
		}
		for (size_t i = x->cap_recs; i < k; i++)
			cd_buf_init(&x->recs[i], (size_t)64 << 20);
		x->cap_recs = k;
	}
	if (cd_redis_load(x->redis, p, want, k, x->recs, x->found, err) < 0)
		goto out;
	for (size_t i = 0; i < k; i++) {
		slot *s = &x->slots[at[i]];
		cd_err derr;
		if (x->found[i] && cd_citizen_decode(&s->c, (const uint8_t *)x->recs[i].data, x->recs[i].len, &derr) < 0)
			quarantine(x, s, p, derr.msg);
	}
	result = 0;
out:
	free(want);
	free(at);
	return result;
}

static int slots_to_batch(proc *x, cd_err *err)
{
	cd_buf rec;
	int result = 0;
	cd_buf_init(&rec, (size_t)64 << 20);
	for (size_t i = 0; i < x->n_slots && result == 0; i++) {
		slot *s = &x->slots[i];
		if (!s->dirty)
			continue;
		cd_buf_reset(&rec);
		if (s->c.retired) {      /* retention: the record and its timer go in this commit */
			if (cd_redis_batch_delete(x->batch, s->id) < 0)
				result = cd_err_set(err, 1, "out of memory");
			continue;
		}
		if (cd_citizen_encode(&s->c, &rec) < 0 ||
		    cd_redis_batch_record(x->batch, s->id, rec.data, rec.len, s->c.next_fire) < 0) {
			char hs[CD_PSEUDONYM_LEN + 1];
			result = cd_err_set(err, 0, "a citizen's record exceeds the limits (citizen %s)",
					    cd_pseudonym_log(&x->ckey, s->id, hs));
		}
	}
	cd_buf_release(&rec);
	{
		/* what compaction and retention did since the last batch */
		const cd_engine_stats *es = cd_engine_stats_get(x->eng);
		cd_metrics_history(x->met, es->compactions - x->eng_said.compactions,
				   es->folded_events - x->eng_said.folded_events, es->retired - x->eng_said.retired);
		x->eng_said = *es;
	}
	return result;
}

/* ---- committing ------------------------------------------------------------------- */

void proc_part_lost(proc *x, part *pt, const char *why)
{
	char p[16];
	snprintf(p, sizeof(p), "%d", (int)pt->p);
	cd_log(CD_LOG_WARN, "partition lost: another processor holds it", "partition", p, "reason", why, NULL);
	pt->owned = false;
	cd_metrics_fencing_loss(x->met, pt->p);
	proc_pend_drop(pt);
	agg_part_drop(pt);
}

void proc_pend_drop(part *pt)
{
	for (size_t i = 0; i < pt->pend.n; i++)
		rd_kafka_message_destroy(pt->pend.m[i]);
	pt->pend.n = 0;
}

/* The held citizens and the members' sequence number into the batch. 0 / -1. */
static int batch_finish(proc *x, part *pt, cd_err *err)
{
	if (slots_to_batch(x, err) < 0)
		return -1;
	if (pt->mseq != pt->mseq_committed) {
		char v[24];
		snprintf(v, sizeof(v), "%llu", (unsigned long long)pt->mseq);
		if (cd_redis_batch_meta(x->batch, "mseq", v) < 0)
			return cd_err_set(err, 1, "out of memory");
	}
	return 0;
}

/* A commit of pt, of `inputs` input records, is acknowledged usec after it was sent: what it numbered is said for good. */
static void committed(proc *x, part *pt, size_t inputs, int64_t usec)
{
	pt->mseq_committed = pt->mseq;
	pt->outbox_maybe = true;
	cd_metrics_commit(x->met, inputs, usec);
	x->redis_backoff_ms = 0;                 /* Redis works again: the next trouble starts small */
}

/* Commits the batch for pt. 0; -1 (Redis trouble: x->redis_down set); -2 (fenced: partition dropped). */
int proc_commit(proc *x, part *pt, cd_err *err)
{
	int rc;
	int64_t t0;
	size_t inputs = x->batch_inputs;

	x->batch_inputs = 0;
	if (x->n_sent && proc_commits_finish(x) < 0)
		return cd_err_set(err, 1, "%s", x->redis_cause);
	if (batch_finish(x, pt, err) < 0)
		return -1;
	if (cd_redis_batch_empty(x->batch))
		return 0;
	t0 = cd_clock_mono_us();
	rc = cd_redis_commit(x->redis, pt->p, pt->token, x->batch, err);
	cd_redis_batch_clear(x->batch);
	for (size_t i = 0; i < x->n_slots; i++)
		x->slots[i].dirty = false;
	if (rc == CD_REDIS_FENCED) {
		proc_part_lost(x, pt, err->msg);
		return -2;
	}
	if (rc < 0) {
		pt->mseq = pt->mseq_committed;      /* what was numbered is said again after recovery */
		proc_redis_trouble(x, err);
		return -1;
	}
	committed(x, pt, inputs, cd_clock_mono_us() - t0);
	return 0;
}

/*
 * Queues the batch for pt: it is sent with the pass's other writes, and its
 * reply read, by proc_commits_finish. Sent at the end, not now: a write sent
 * now would make the next partition's reads wait for its fsync. pt keeps the
 * batch (x->batch becomes pt's spare one). 1 queued; 0 nothing to commit; -1.
 */
static int commit_queue(proc *x, part *pt, cd_err *err)
{
	cd_redis_batch *next;
	if (batch_finish(x, pt, err) < 0)
		return -1;
	if (cd_redis_batch_empty(x->batch))
		return 0;
	next = x->n_spare ? x->spare[--x->n_spare] : cd_redis_batch_new();
	if (!next)
		return cd_err_set(err, 1, "out of memory");
	pt->qbatch = x->batch;
	x->batch = next;
	for (size_t i = 0; i < x->n_slots; i++)
		x->slots[i].dirty = false;
	pt->sent = true;
	x->sent[x->n_sent++] = (sent_call){ pt->p, false };
	return 1;
}

/* Sends the queued writes on the commit connection (connected if it is not): how many
 * went; fewer than queued with err set (the connection is then closed). */
static size_t send_queued(proc *x, cd_err *err)
{
	size_t i;
	if (!cd_redis_connected(x->wredis) && cd_redis_connect(x->wredis, err) < 0)
		return 0;
	for (i = 0; i < x->n_sent; i++) {
		part *pt = &x->parts[x->sent[i].p];
		int rc = x->sent[i].trim ? cd_redis_trim_send(x->wredis, pt->p, pt->token, pt->head_entries, err)
					 : cd_redis_commit_send(x->wredis, pt->p, pt->token, pt->qbatch, err);
		if (rc < 0)
			break;
	}
	return i;
}

/* pt's queued batch, sent or dropped: kept cleared for reuse, or freed. */
static void batch_release(proc *x, part *pt)
{
	if (x->n_spare < SPARE_BATCHES) {
		cd_redis_batch_clear(pt->qbatch);
		x->spare[x->n_spare++] = pt->qbatch;
	} else
		cd_redis_batch_free(pt->qbatch);
	pt->qbatch = NULL;
}

/* Progress for lag tools (and the consumer lag metric): the offsets of pt's pending inputs, now stored in Redis. */
void proc_offsets_store(proc *x, part *pt)
{
	for (size_t i = 0; i < pt->pend.n; i++) {
		const rd_kafka_message_t *m = pt->pend.m[i];
		rd_kafka_offset_store(m->rkt, m->partition, m->offset + 1);
		cd_metrics_position(x->met, proc_msg_topic(x, m), m->partition, m->offset + 1);
	}
}

int proc_commits_finish(proc *x)
{
	cd_err serr;
	size_t went = 0;
	/* Redis down already: nothing goes (recovery reads back what did). Every reply owed
	 * is read, even after an error reply: such a reply (OOM, say) leaves the connection
	 * good, and each call succeeded or failed on its own. */
	x->commit_sent_us = cd_clock_mono_us();
	if (!x->redis_down && (went = send_queued(x, &serr)) < x->n_sent)
		proc_redis_trouble(x, &serr);
	for (size_t i = 0; i < x->n_sent; i++) {
		part *pt = &x->parts[x->sent[i].p];
		cd_err err;
		int rc = -1;
		if (i < went && cd_redis_unread(x->wredis))
			rc = cd_redis_sent_recv(x->wredis, pt->p, pt->token, x->sent[i].trim ? "outbox trim" : "commit",
						&err);
		else
			cd_err_set(&err, 1, "%s", x->redis_cause);
		if (x->sent[i].trim) {
			pt->trim_sent = false;
			if (!pt->owned)
				continue;
			if (rc == CD_REDIS_FENCED)
				proc_part_lost(x, pt, err.msg);
			else if (rc < 0) {
				if (!x->redis_down)
					proc_redis_trouble(x, &err);   /* recovery relays the head again */
			} else
				proc_trimmed(pt);
			continue;
		}
		pt->sent = false;
		batch_release(x, pt);
		if (!pt->owned) {
			/* lost meanwhile (fenced on an earlier reply): nothing of it is ours */
		} else if (rc == CD_REDIS_FENCED) {
			proc_part_lost(x, pt, err.msg);
		} else if (rc < 0) {
			/* Unknown whether it happened: recovery reads the position back from Redis. */
			pt->mseq = pt->mseq_committed;
			if (!x->redis_down)
				proc_redis_trouble(x, &err);
		} else {
			committed(x, pt, pt->pend.n, cd_clock_mono_us() - x->commit_sent_us);
			proc_offsets_store(x, pt);
		}
		proc_pend_drop(pt);
	}
	x->n_sent = 0;
	return x->redis_down ? -1 : 0;
}

/* ---- clocks ----------------------------------------------------------------------- */

/* A timer member not sealed with our citizen key: said once per process, then counted in silence. */
static void bad_timer(proc *x, int32_t p)
{
	char ps[16];
	if (x->bad_timer_said)
		return;
	x->bad_timer_said = true;
	snprintf(ps, sizeof(ps), "%d", (int)p);
	cd_log(CD_LOG_ERROR, "a timer index member is not sealed with this citizen key: skipped, left in Redis",
	       "partition", ps, "fix", "ZRANGE the partition's timers and ZREM what is not h:<32 hex>.<hex> (a hand edit, or another key's)",
	       NULL);
}

/* Fires everything of partition pt due by t, in chunks; commits each chunk. */
int proc_fire_due(proc *x, part *pt, cd_instant t, cd_err *err)
{
	for (;;) {
		char **ids = NULL;
		size_t n = 0, quarantined = 0;
		int rc = 0;
		if (cd_redis_timers_due(x->redis, pt->p, t, TIMER_CHUNK, &ids, &n, err) < 0) {
			if (err->retriable)
				proc_redis_trouble(x, err);
			return -1;
		}
		if (n == 0)
			return 0;
		slots_reset(x);
		pt->mseq = pt->mseq_committed;
		x->cur = pt;
		x->at_tick = true;
		x->tick_clock = t;
		if (slots_load(x, pt->p, (const char *const *)ids, n, err) < 0) {
			if (err->retriable)
				proc_redis_trouble(x, err);
			rc = -1;
		}
		for (size_t i = 0; i < n; i++)
			if (!ids[i]) {
				bad_timer(x, pt->p);
				quarantined++;      /* stays due: counted so that a chunk of them ends the scan */
			}
		for (size_t i = 0; i < x->n_slots && rc == 0; i++) {
			slot *s = &x->slots[i];
			if (s->corrupt) {
				quarantined++;
				continue;
			}
			if (cd_engine_advance(x->eng, &s->c, s->id, t, on_output, x, err) < 0)
				rc = -1;
			s->dirty = true;
		}
		cd_redis_free_ids(ids, n);
		if (rc == 0)
			rc = proc_commit(x, pt, err);
		x->at_tick = false;
		slots_reset(x);
		if (rc < 0)
			return rc;
		/* a quarantined citizen stays due: stop when a chunk held only such ones */
		if (n < TIMER_CHUNK || quarantined == n)
			return 0;
	}
}

int proc_watermark(proc *x, part *pt, cd_instant t, cd_err *err)
{
	int rc;
	cd_redis_batch_clear(x->batch);
	slots_reset(x);
	pt->mseq = pt->mseq_committed;
	if (watermark_entry(x, pt, t) < 0)
		return cd_err_set(err, 1, "out of memory");
	rc = proc_commit(x, pt, err);
	if (rc == 0)
		pt->wm = t;
	return rc;
}

/*
 * An all-citizen tick inside a batch: fires every citizen of partition pt due by
 * t, without committing first. Due are the citizens held in this batch whose own
 * (newer) state says so, and those the stored timer index names that are not
 * held; the latter are loaded (a page of LOAD_CHUNK ids and one MGET at a time,
 * as many pages as there are) and held, so that everything is committed with
 * the rest of the batch, in one call. Nothing is committed in between, so the
 * pages of the timer index stay put while they are read.
 */
static int fire_held(proc *x, part *pt, cd_instant t, cd_err *err)
{
	size_t skip = 0, n;
	int rc = 0;

	do {
		char **ids = NULL;
		const char *want[LOAD_CHUNK];
		size_t k = 0;
		if (cd_redis_timers_page(x->redis, pt->p, t, skip, LOAD_CHUNK, &ids, &n, err) < 0) {
			if (err->retriable)
				proc_redis_trouble(x, err);
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			if (!ids[i])
				bad_timer(x, pt->p);
			else if (!slot_find(x, ids[i]))
				want[k++] = ids[i];
		if (k && (rc = slots_load(x, pt->p, want, k, err)) < 0 && err->retriable)
			proc_redis_trouble(x, err);
		cd_redis_free_ids(ids, n);
		skip += n;
	} while (rc == 0 && n == LOAD_CHUNK);
	for (size_t i = 0; i < x->n_slots && rc == 0; i++) {
		slot *s = &x->slots[i];
		if (s->corrupt || s->c.next_fire == CD_INSTANT_NONE || s->c.next_fire > t)
			continue;
		if (cd_engine_advance(x->eng, &s->c, s->id, t, on_output, x, err) < 0)
			rc = -1;
		s->dirty = true;
	}
	return rc;
}

/* ---- one batch -------------------------------------------------------------------- */

static const char *msg_topic(const rd_kafka_message_t *m)
{
	return rd_kafka_topic_name(m->rkt);
}

/*
 * Processes pt's pending messages in arrival order and commits them in one
 * call. A ClockTick for the whole partition fires the partition's due citizens
 * inside the batch (fire_held) and raises the floor.
 */
int proc_process_batch(proc *x, part *pt, cd_err *err)
{
	pending *pd = &pt->pend;
	const char **ids;
	size_t n_ids = 0, start = 0;
	int rc = 0;

	if (pd->n == 0)
		return 0;
	ids = malloc(pd->n * sizeof(*ids));
	if (!ids)
		return cd_err_set(err, 1, "out of memory");
	slots_reset(x);
	cd_redis_batch_clear(x->batch);
	pt->mseq = pt->mseq_committed;
	x->cur = pt;
	x->at_tick = false;

	while (start < pd->n && rc == 0) {
		size_t end = start;
		static char idbufs[LOAD_CHUNK][CD_MAX_ID_LEN + 1];   /* one thread: static is fine */
		int lrc = 0;
		/* Citizens of the run up to the next all-citizen tick: peek ids to load them in MGETs of
		 * up to LOAD_CHUNK (one round trip per LOAD_CHUNK citizens). */
		n_ids = 0;
		for (; end < pd->n; end++) {
			rd_kafka_message_t *m = pd->m[end];
			if (m->key_len == 0) {
				if (end == start)
					end++;       /* the tick itself */
				break;
			}
			if (m->key_len <= CD_MAX_ID_LEN) {
				if (n_ids == LOAD_CHUNK) {
					if ((lrc = slots_load(x, pt->p, ids, n_ids, err)) < 0)
						break;
					n_ids = 0;
				}
				memcpy(idbufs[n_ids], m->key, m->key_len);
				idbufs[n_ids][m->key_len] = '\0';
				ids[n_ids] = idbufs[n_ids];
				n_ids++;
			}
		}
		if (lrc < 0 || slots_load(x, pt->p, ids, n_ids, err) < 0) {
			if (err->retriable)
				proc_redis_trouble(x, err);
			rc = -1;
			break;
		}
		for (size_t i = start; i < end && rc == 0; i++) {
			rd_kafka_message_t *m = pd->m[i];
			Contact__V1__CitizenEvent *msg = NULL;
			cd_event ev;
			cd_codec_stage stage;
			char cid[CD_MAX_ID_LEN + 1];
			slot *s;
			int arc, ti = proc_msg_topic(x, m);

			cd_metrics_consumed(x->met, ti, pt->p);
			if (m->len > (size_t)x->cfg.max_record_bytes) {
				/* before decoding: a huge record of unknown fields costs memory to decode */
				char why[128];
				snprintf(why, sizeof(why), "record of %zu bytes exceeds max-record-bytes (%d)", m->len,
					 x->cfg.max_record_bytes);
				rc = proc_set_aside(x, m, "size", why, err);
				goto next;
			}
			if (cd_codec_decode_event(m->payload, m->len, CD_LOG_PB, &msg, &ev, &stage, err) < 0) {
				rc = proc_set_aside(x, m, cd_codec_stage_name(stage), err->msg, err);
				goto next;
			}
			if (ev.citizen_id_len && (!m->key || m->key_len != ev.citizen_id_len ||
						  memcmp(m->key, ev.citizen_id, ev.citizen_id_len))) {
				/* A citizen's inputs must all reach the partition that holds the
				 * citizen: the key is what partitions them. */
				rc = proc_set_aside(x, m, "validate",
					       !m->key ? "record has no key: inputs are keyed by citizen_id"
						       : "record key is not the event's citizen_id: inputs are keyed by "
							 "citizen_id", err);
				goto next;
			}
			if (ev.kind == CD_EV_CLOCK_TICK && ev.citizen_id_len == 0) {
				cd_instant t = cd_event_time(&ev);
				cd_metrics_applied(x->met, ti, pt->p, false);   /* as replay counts it */
				if (!x->cfg.event_clock)
					goto next;      /* on the wall clock a tick changes nothing */
				x->at_tick = true;
				x->tick_clock = t;
				rc = fire_held(x, pt, t, err);
				x->at_tick = false;
				if (rc < 0)
					goto next;
				if (t > pt->floor || pt->floor == CD_INSTANT_NONE) {
					/* the clock moved: the aggregate stage hears it after the members
					 * the tick decided (a tick that does not move it is no advance) */
					pt->floor = t;
					if (x->members && watermark_entry(x, pt, t) < 0)
						rc = cd_err_set(err, 1, "out of memory");
				}
				cd_redis_batch_floor(x->batch, pt->floor);
				goto next;
			}
			memcpy(cid, ev.citizen_id, ev.citizen_id_len);
			cid[ev.citizen_id_len] = '\0';
			s = slot_find(x, cid);
			if (!s) {
				/* not pre-loaded (a tick in the run): load it alone */
				const char *one = cid;
				if (slots_load(x, pt->p, &one, 1, err) < 0) {
					if (err->retriable)
						proc_redis_trouble(x, err);
					rc = -1;
					goto next;
				}
				s = slot_find(x, cid);
			}
			if (s->corrupt) {
				rc = proc_set_aside(x, m, "state", s->why, err);
				goto next;
			}
			s->dirty = true;
			arc = cd_step_apply(x->eng, &s->c, s->id, pt->floor,
					    x->cfg.event_clock ? CD_INSTANT_NONE : proc_wall_now(), &ev, on_output, x, err);
			if (arc < 0)
				rc = proc_set_aside(x, m, "apply", err->msg, err);
			else
				cd_metrics_applied(x->met, ti, pt->p, arc == 1);
next:
			if (msg)
				protobuf_c_message_free_unpacked(&msg->base, NULL);
			if (rc == 0 && cd_redis_batch_offset(x->batch, msg_topic(m), m->offset + 1) < 0)
				rc = cd_err_set(err, 1, "out of memory");
		}
		start = end;
	}
	if (rc == 0) {
		/* queued: sent, its reply read and pd settled with the other partitions' (proc_commits_finish) */
		rc = commit_queue(x, pt, err);
		if (rc == 1) {
			slots_reset(x);
			free(ids);
			return 0;
		}
	}
	if (rc == 0)
		proc_offsets_store(x, pt);
	if (rc != -2)
		proc_pend_drop(pt);
	slots_reset(x);
	free(ids);
	return rc;
}
