/*
 * assign.c — partitions taken and given back, and Redis recovery: everything
 * that decides where a partition starts reading.
 *
 * Position lives in Redis, not in Kafka: on assignment each partition is
 * fenced (its token incremented) and starts at the offset stored with its
 * state, or at the beginning when there is neither state nor Kafka progress.
 * If Redis has no offset but Kafka has committed progress, Redis lost data:
 * the partition is refused (paused, error logged) unless --reset-state. A
 * partition that cannot be taken because Redis errs stays paused and is taken
 * again from the loop, with backoff (proc_retry_take).
 *
 * Redis trouble pauses every partition, drops what was not committed, waits
 * (the backoff outlives one recovery and resets on a commit), reconnects only
 * when the connection itself was lost, then re-seeks every partition to its
 * stored offset: the inputs are processed again, with the same results.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "consumer/outbox.h"
#include "consumer/processor_int.h"
#include "proto/codec.h"
#include "util/clock.h"
#include "util/log.h"

/* librdkafka hands back an error object that is ours to free: log it and free it. */
static void kafka_check(const char *what, rd_kafka_error_t *e)
{
	if (!e)
		return;
	cd_log(CD_LOG_WARN, "kafka call failed", "call", what, "error", rd_kafka_error_string(e), NULL);
	rd_kafka_error_destroy(e);
}

int proc_topic_index(const proc *x, const char *topic)
{
	for (size_t i = 0; i < x->cfg.n_input_topics; i++)
		if (!strcmp(x->cfg.input_topics[i], topic))
			return (int)i;
	return -1;
}

int proc_msg_topic(const proc *x, const rd_kafka_message_t *m)
{
	return x->cfg.n_input_topics == 1 ? 0 : proc_topic_index(x, rd_kafka_topic_name(m->rkt));
}

/* The members topic's sequence number stored with p (members on), so that numbering goes on where it stopped. */
static int load_mseq(proc *x, part *pt, cd_err *err)
{
	int64_t v = 0;
	int found = 0;
	if (!x->members)
		return 0;
	if (cd_redis_meta_get(x->redis, pt->p, "mseq", &v, &found, err) < 0)
		return -1;
	pt->mseq = pt->mseq_committed = found && v > 0 ? (uint64_t)v : 0;
	return 0;
}

/*
 * Takes the partitions of `list`: fences each processing partition, and sets
 * every (topic, partition) to start at the offset stored in Redis. A partition
 * whose Redis state is gone while Kafka has committed progress is refused.
 */
/*
 * A partition taken is brought to the pseudonymous key form first (a no-op
 * once done: redis_store.h, cd_redis_migrate_keys), so that nothing of it is
 * read under a name it does not have.
 */
static int proc_migrate_keys(proc *x, part *pt, const char *ps, cd_err *err)
{
	size_t moved = 0, kept = 0;
	char m[24], k[24];
	if (cd_redis_migrate_keys(x->redis, pt->p, pt->token, &moved, &kept, err) != 0)
		return -1;
	if (moved || kept) {
		snprintf(m, sizeof(m), "%zu", moved);
		snprintf(k, sizeof(k), "%zu", kept);
		cd_log(kept ? CD_LOG_WARN : CD_LOG_INFO, "citizen keys migrated to pseudonyms", "partition", ps,
		       "renamed", m, "left_as_newer_exists", k, NULL);
	}
	return 0;
}

static int take(proc *x, rd_kafka_topic_partition_list_t *list, cd_err *err)
{
	rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(list);
	rd_kafka_resp_err_t kerr = rd_kafka_committed(x->rk, committed, KAFKA_TIMEOUT_MS);
	int i_failed = list->cnt;
	int32_t failed_p = -1;

	for (int i = 0; i < list->cnt; i++) {
		rd_kafka_topic_partition_t *tp = &list->elems[i];
		part *pt;
		int64_t next;
		cd_instant floor;
		char ps[16];
		if (tp->partition < 0 || tp->partition >= MAX_PARTS) {
			/* paused by proc_on_rebalance: its lag shows, and so does this */
			char max[16];
			snprintf(ps, sizeof(ps), "%d", (int)tp->partition);
			snprintf(max, sizeof(max), "%d", MAX_PARTS);
			cd_log(CD_LOG_ERROR, "partition refused: its number is beyond what this processor handles",
			       "topic", tp->topic, "partition", ps, "max_partitions", max, NULL);
			continue;
		}
		pt = &x->parts[tp->partition];
		i_failed = i;                   /* for fail: below */
		failed_p = tp->partition;
		snprintf(ps, sizeof(ps), "%d", (int)tp->partition);
		if (!pt->owned) {
			/* Taken (again): a fresh state, but the pending array is kept (it is
			 * empty: freed at exit, not leaked) and the relay generation moves on,
			 * so that delivery reports of what was sent before the partition was
			 * lost do not count for what is sent now. */
			rd_kafka_message_t **pend_m = pt->pend.m;
			size_t pend_cap = pt->pend.cap;
			uint32_t gen = pt->relay_gen;
			agg_part_drop(pt);
			memset(pt, 0, sizeof(*pt));
			pt->pend.m = pend_m;
			pt->pend.cap = pend_cap;
			pt->relay_gen = gen + 1;
			pt->p = tp->partition;
			if (cd_redis_fence_acquire(x->redis, pt->p, &pt->token, err) < 0 ||
			    proc_migrate_keys(x, pt, ps, err) < 0)
				goto fail;
			pt->owned = true;
			pt->outbox_maybe = true;    /* a previous owner may have left entries */
			pt->floor = CD_INSTANT_NONE;
		}
		if (cd_redis_position(x->redis, pt->p, tp->topic, &next, &floor, err) < 0 ||
		    load_mseq(x, pt, err) < 0)
			goto fail;
		pt->floor = floor;
		pt->wm = CD_INSTANT_NONE;
		if (next < 0) {
			int64_t kafka_off = !kerr ? committed->elems[i].offset : RD_KAFKA_OFFSET_INVALID;
			if (kafka_off >= 0 && !x->cfg.reset_state) {
				pt->refused = true;
				cd_log(CD_LOG_ERROR, "partition refused: Redis holds no state for it but Kafka has committed "
				       "progress, so Redis has lost data; restore Redis, or rebuild deliberately with "
				       "--reset-state", "topic", tp->topic, "partition", ps, NULL);
				tp->offset = kafka_off;
				continue;
			}
			if (kafka_off >= 0) {
				/* --reset-state: clear what is left, then take the partition anew (the
				 * reset also deleted the fencing token taken above). */
				cd_log(CD_LOG_WARN, "partition rebuilt from the beginning (--reset-state)", "topic",
				       tp->topic, "partition", ps, NULL);
				if (cd_redis_reset_partition(x->redis, pt->p, err) < 0 ||
				    cd_redis_fence_acquire(x->redis, pt->p, &pt->token, err) < 0 ||
				    proc_migrate_keys(x, pt, ps, err) < 0)
					goto fail;
				pt->floor = CD_INSTANT_NONE;
			}
			tp->offset = RD_KAFKA_OFFSET_BEGINNING;
		} else {
			tp->offset = next;
			cd_metrics_position(x->met, proc_topic_index(x, tp->topic), pt->p, next);
		}
	}
	rd_kafka_topic_partition_list_destroy(committed);
	return 0;
fail:
	/* This partition and every one not taken yet wait for the loop's retry
	 * (proc_retry_take), paused; a partition is taken whole or not at all. */
	for (int k = 0; k < list->cnt; k++) {
		int32_t q = list->elems[k].partition;
		if (q < 0 || q >= MAX_PARTS)
			continue;
		if (k >= i_failed || q == failed_p) {
			x->parts[q].owned = false;
			x->parts[q].untaken = true;
		}
	}
	rd_kafka_topic_partition_list_destroy(committed);
	if (err->retriable)
		proc_redis_trouble(x, err);
	return -1;
}

static void schedule_take_retry(proc *x)
{
	if (!x->untaken_since_ms) {
		x->untaken_since_ms = cd_clock_mono_ms();
		x->take_backoff_ms = 0;
		x->untaken_reported = false;
	}
	x->take_backoff_ms = proc_backoff_next(x->take_backoff_ms);
	x->next_take_ms = cd_clock_mono_ms() + x->take_backoff_ms;
}

/*
 * Partitions assigned to us that could not be taken (a Redis error on the
 * fence or the stored position: OOM, a restart, a failover) stay paused and
 * are taken again from here, with backoff, until it works: never a silent
 * stall. Past UNTAKEN_REPORT_MS it is an error in the log (and the process is
 * not ready).
 */
#define UNTAKEN_REPORT_MS 30000
void proc_retry_take(proc *x)
{
	rd_kafka_topic_partition_list_t *asg = NULL, *sub;
	cd_err err;
	char secs[24];

	if (!x->untaken_since_ms || cd_clock_mono_ms() < x->next_take_ms || x->redis_down)
		return;
	if (rd_kafka_assignment(x->rk, &asg) || !asg)
		return;
	sub = rd_kafka_topic_partition_list_new(asg->cnt);
	for (int i = 0; i < asg->cnt; i++) {
		int32_t p = asg->elems[i].partition;
		if (p >= 0 && p < MAX_PARTS && x->parts[p].untaken)
			rd_kafka_topic_partition_list_add(sub, asg->elems[i].topic, p);
	}
	for (int i = 0; i < sub->cnt; i++)
		x->parts[sub->elems[i].partition].untaken = false;
	if (sub->cnt == 0) {
		x->untaken_since_ms = 0;
		goto out;
	}
	if (take(x, sub, &err) < 0) {
		snprintf(secs, sizeof(secs), "%lld", (long long)((cd_clock_mono_ms() - x->untaken_since_ms) / 1000));
		if (!x->untaken_reported && cd_clock_mono_ms() - x->untaken_since_ms >= UNTAKEN_REPORT_MS) {
			cd_log(CD_LOG_ERROR, "partitions still cannot be taken: nothing is processed for them",
			       "seconds", secs, "error", err.msg, NULL);
			x->untaken_reported = true;
		} else
			cd_log(CD_LOG_WARN, "cannot take partitions yet: retrying with backoff", "seconds", secs,
			       "error", err.msg, NULL);
		schedule_take_retry(x);
		goto out;
	}
	kafka_check("seek", rd_kafka_seek_partitions(x->rk, sub, KAFKA_TIMEOUT_MS));
	{
		rd_kafka_topic_partition_list_t *res = rd_kafka_topic_partition_list_new(sub->cnt);
		for (int i = 0; i < sub->cnt; i++)
			if (!x->parts[sub->elems[i].partition].refused)
				rd_kafka_topic_partition_list_add(res, sub->elems[i].topic, sub->elems[i].partition);
		rd_kafka_resume_partitions(x->rk, res);
		rd_kafka_topic_partition_list_destroy(res);
	}
	snprintf(secs, sizeof(secs), "%d", sub->cnt);
	cd_log(CD_LOG_INFO, "partitions taken after retrying", "partitions", secs, NULL);
	x->untaken_since_ms = 0;
out:
	rd_kafka_topic_partition_list_destroy(sub);
	rd_kafka_topic_partition_list_destroy(asg);
}

static void give_back(proc *x, rd_kafka_topic_partition_list_t *list)
{
	cd_err err;
	for (int i = 0; i < list->cnt; i++) {
		int32_t p = list->elems[i].partition;
		part *pt;
		if (p < 0 || p >= MAX_PARTS || !x->parts[p].owned)
			continue;
		pt = &x->parts[p];
		/* Finish what was received while we held it; the next owner relays the rest. */
		if (!pt->refused && !x->redis_down) {
			if (x->cfg.stage == CD_STAGE_AGGREGATES)
				agg_process_batch(x, pt, &err);
			else
				proc_process_batch(x, pt, &err);
		}
		proc_pend_drop(pt);
		agg_part_drop(pt);
		pt->owned = false;
	}
	for (int i = 0; i < list->cnt; i++)
		if (list->elems[i].partition >= 0 && list->elems[i].partition < MAX_PARTS)
			x->parts[list->elems[i].partition].untaken = false;
}

void proc_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t kerr, rd_kafka_topic_partition_list_t *list,
			 void *opaque)
{
	proc *x = opaque;
	bool coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
	cd_err err;

	/* The loop reads every reply before it polls; should one still be owed, it belongs
	 * to the ownership being changed now. */
	if (x->n_sent)
		proc_commits_finish(x);
	if (kerr == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		x->joined = true;
		if (take(x, list, &err) < 0) {
			cd_log(CD_LOG_WARN, "cannot take partitions yet: retrying with backoff", "error", err.msg, NULL);
			schedule_take_retry(x);
		}
		if (coop)
			kafka_check("incremental assign", rd_kafka_incremental_assign(rk, list));
		else
			rd_kafka_assign(rk, list);
		for (int i = 0; i < list->cnt; i++) {
			int32_t p = list->elems[i].partition;
			if (p < 0 || p >= MAX_PARTS || x->parts[p].refused || x->parts[p].untaken) {
				rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
				rd_kafka_topic_partition_list_add(one, list->elems[i].topic, p);
				rd_kafka_pause_partitions(rk, one);
				rd_kafka_topic_partition_list_destroy(one);
			}
		}
	} else {
		give_back(x, list);
		if (coop)
			kafka_check("incremental unassign", rd_kafka_incremental_unassign(rk, list));
		else
			rd_kafka_assign(rk, NULL);
	}
}



/*
 * Pauses everything, drops what was not committed, waits, reconnects when the
 * connection itself was lost (an error reply such as OOM leaves it usable),
 * then re-reads each owned partition's stored offset and seeks there.
 *
 * The backoff outlives one recovery: a server that answers every commit with
 * OOM would otherwise be hit again at once after each "redis back". It grows
 * (100 ms … 5 s) while failures follow each other and starts small again
 * after a successful commit.
 */
void proc_recover_redis(proc *x)
{
	rd_kafka_topic_partition_list_t *asg = NULL;
	cd_err err;

	if (x->n_sent)
		proc_commits_finish(x);            /* with Redis down: drops them, read back below */
	if (rd_kafka_assignment(x->rk, &asg) || !asg)
		return;
	rd_kafka_pause_partitions(x->rk, asg);
	for (int i = 0; i < MAX_PARTS; i++) {
		proc_pend_drop(&x->parts[i]);
		agg_part_drop(&x->parts[i]);       /* what it held may not be committed: read it again */
		x->parts[i].in_flight = x->parts[i].delivered = 0;
		x->parts[i].relay_gen++;
		x->parts[i].outbox_maybe = true;
	}
	x->redis_backoff_ms = proc_backoff_next(x->redis_backoff_ms);
	{
		char ms[16];
		snprintf(ms, sizeof(ms), "%d", x->redis_backoff_ms);
		cd_log(CD_LOG_WARN, "redis unavailable: consumption paused, retrying", "error", x->redis_cause,
		       "retry_in_ms", ms, NULL);
	}
	proc_monitor_waiting(x, CD_UNREADY_REDIS);     /* the loop waits here: alive, not ready */
	proc_sleep_unless_stopping(x->redis_backoff_ms);
	while (!proc_stopping && !cd_redis_connected(x->redis)) {
		if (cd_redis_connect(x->redis, &err) == 0)
			break;
		proc_monitor_waiting(x, CD_UNREADY_REDIS);
		cd_log(CD_LOG_WARN, "redis still unavailable", "error", err.msg, NULL);
		x->redis_backoff_ms = proc_backoff_next(x->redis_backoff_ms);
		proc_sleep_unless_stopping(x->redis_backoff_ms);
	}
	if (proc_stopping)
		goto out;
	for (int i = 0; i < asg->cnt; i++) {
		rd_kafka_topic_partition_t *tp = &asg->elems[i];
		part *pt = tp->partition >= 0 && tp->partition < MAX_PARTS ? &x->parts[tp->partition] : NULL;
		int64_t next;
		cd_instant floor;
		if (!pt || !pt->owned || pt->refused)
			continue;
		if (cd_redis_position(x->redis, pt->p, tp->topic, &next, &floor, &err) < 0 ||
		    load_mseq(x, pt, &err) < 0) {
			proc_redis_trouble(x, &err);
			goto out;   /* still down: the main loop comes back here */
		}
		pt->floor = floor;
		tp->offset = next >= 0 ? next : RD_KAFKA_OFFSET_BEGINNING;
	}
	kafka_check("seek", rd_kafka_seek_partitions(x->rk, asg, KAFKA_TIMEOUT_MS));
	{
		/* resume all but refused partitions */
		rd_kafka_topic_partition_list_t *res = rd_kafka_topic_partition_list_new(asg->cnt);
		for (int i = 0; i < asg->cnt; i++) {
			int32_t p = asg->elems[i].partition;
			if (p >= 0 && p < MAX_PARTS && x->parts[p].owned && !x->parts[p].refused)
				rd_kafka_topic_partition_list_add(res, asg->elems[i].topic, p);
		}
		rd_kafka_resume_partitions(x->rk, res);
		rd_kafka_topic_partition_list_destroy(res);
	}
	x->redis_down = 0;
	cd_log(CD_LOG_INFO, "redis back: consumption resumed from the stored offsets", NULL);
out:
	rd_kafka_topic_partition_list_destroy(asg);
}

/*
 * Restarts fetching of the partitions in `at` at their offsets. After an
 * offset-reset error the partition's fetcher is stopped and a seek is refused
 * ("erroneous state"), so the partition is assigned anew: unassigned and
 * assigned (cooperative), or the whole assignment given again with every other
 * partition at its current position (eager; paused ones paused again).
 */
int proc_restart_at(proc *x, rd_kafka_topic_partition_list_t *at)
{
	rd_kafka_topic_partition_list_t *asg = NULL;
	rd_kafka_error_t *e;
	int rc = -1;

	if (!strcmp(rd_kafka_rebalance_protocol(x->rk), "COOPERATIVE")) {
		if ((e = rd_kafka_incremental_unassign(x->rk, at)) || (e = rd_kafka_incremental_assign(x->rk, at))) {
			rd_kafka_error_destroy(e);
			return -1;
		}
		return 0;
	}
	if (rd_kafka_assignment(x->rk, &asg) || !asg)
		return -1;
	rd_kafka_position(x->rk, asg);
	for (int i = 0; i < at->cnt; i++) {
		rd_kafka_topic_partition_t *tp =
			rd_kafka_topic_partition_list_find(asg, at->elems[i].topic, at->elems[i].partition);
		if (tp)
			tp->offset = at->elems[i].offset;
	}
	if (!rd_kafka_assign(x->rk, asg)) {
		rd_kafka_topic_partition_list_t *paused = rd_kafka_topic_partition_list_new(asg->cnt);
		for (int i = 0; i < asg->cnt; i++) {
			int32_t q = asg->elems[i].partition;
			if (q >= 0 && q < MAX_PARTS && (x->parts[q].refused || x->parts[q].untaken))
				rd_kafka_topic_partition_list_add(paused, asg->elems[i].topic, q);
		}
		rd_kafka_pause_partitions(x->rk, paused);
		rd_kafka_topic_partition_list_destroy(paused);
		rc = 0;
	}
	rd_kafka_topic_partition_list_destroy(asg);
	return rc;
}
