/*
 * aggstage.c — the aggregate stage: `contactd run --stage aggregates`.
 *
 * The citizen processors say every share member's change of outcome, keyed by
 * aggregate key, on the members topic (batch.c on_member), and after each
 * advance of a partition's clock a watermark to every partition of that topic.
 * So every member of one municipality or a-kasse reaches one partition of the
 * members topic, whichever input partition its citizen sits on, and each
 * partition of the members topic hears every input partition's clock. This
 * file counts them: one aggregator (state/aggregate.c) per members partition
 * it owns, kept in Redis under the hash tag {aN} and committed per batch with
 * the same fenced call, outbox and relay as the citizen processor (loop,
 * fencing, Redis recovery and drain are processor.c's and assign.c's).
 *
 * Time. The aggregate clock is the least of the input partitions' clocks
 * (their watermarks), as in Flink and Kafka Streams. A member record is tagged
 * with its source's clock when it was said, and whether it was said while
 * that clock advanced (at a tick or a timer scan) or by an input after it.
 * The stage applies each where replay would have: a member said by an input
 * after the source's tick T once the aggregate clock has reached T; members
 * said while the clock advanced to T stepwise with the aggregate's own
 * instants up to T (each decided member before the instant that counts it,
 * as replay's advance_all walks citizens and aggregate together). Records
 * that arrive early wait in a pending set, in Redis too. So the aggregate
 * events are those of replay, whatever the number of processes and however
 * their records interleave (tests/cli/test_live_aggregates.sh).
 *
 * Effectively once. Each record carries its source partition's sequence
 * number; the stage keeps the last one applied per source and drops repeats
 * (a re-sent outbox, a processor that crashed after producing and before
 * trimming). Its own outputs go through its outbox like the processor's.
 *
 * Redis, per members partition N (redis_store.h):
 *   meta      fence, off:<members topic>, clock (the aggregate clock, ns),
 *             nsrc (input partitions), src:<p> = "<last seq> <watermark ns|->"
 *   members   member_id -> the MemberRecord that last changed it
 *   cohorts   cohort key -> its evaluation state (cd_agg_changed_cohorts)
 *   pending   "<p>:<seq>" -> a MemberRecord waiting for the aggregate clock
 * Taking a partition reads all of it back (HSCAN) into a fresh aggregator;
 * any failure to commit drops it, and the next batch reads it again.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer/aggstage.h"
#include "consumer/outbox.h"
#include "consumer/processor_int.h"
#include "proto/codec.h"
#include "proto/members.h"
#include "state/aggregate.h"
#include "util/log.h"

typedef struct pend_rec {
	int32_t src;
	uint64_t seq;
	cd_instant clock, as_of;
	bool at_tick;
	uint8_t *bytes;               /* the MemberRecord, owned */
	size_t len;
} pend_rec;

typedef struct src_state {
	uint64_t seq;                 /* the last sequence number applied */
	cd_instant wm;                /* the source's clock; CD_INSTANT_NONE until its first watermark */
	bool dirty;
} src_state;

struct aggpart {
	cd_aggregator *agg;
	src_state src[MAX_PARTS];
	int nsrc;                     /* input partitions, from the latest watermark; 0: not known yet */
	bool meta_dirty;              /* clock or nsrc changed */
	pend_rec *pend;
	size_t n_pend, cap_pend;
};

/* ---- lifetime --------------------------------------------------------------------- */

static void pend_free(struct aggpart *a)
{
	for (size_t i = 0; i < a->n_pend; i++)
		free(a->pend[i].bytes);
	free(a->pend);
}

void agg_part_drop(part *pt)
{
	if (!pt->agg)
		return;
	cd_agg_free(pt->agg->agg);
	pend_free(pt->agg);
	free(pt->agg);
	pt->agg = NULL;
}

void agg_free_all(proc *x)
{
	for (int i = 0; i < MAX_PARTS; i++)
		agg_part_drop(&x->parts[i]);
}

static int pend_add(struct aggpart *a, const cd_member_rec *r, const void *bytes, size_t len)
{
	pend_rec *p;
	if (cd_array_grow((void **)&a->pend, &a->cap_pend, a->n_pend + 1, sizeof(*a->pend)) < 0)
		return -1;
	p = &a->pend[a->n_pend];
	if (!(p->bytes = malloc(len ? len : 1)))
		return -1;
	memcpy(p->bytes, bytes, len);
	p->len = len;
	p->src = r->source;
	p->seq = r->seq;
	p->clock = r->clock;
	p->as_of = r->m.as_of;
	p->at_tick = r->at_tick;
	a->n_pend++;
	return 0;
}

/* ---- loading from Redis ------------------------------------------------------------ */

typedef struct loader {
	proc *x;                      /* unused by the readers; NULL outside the stage */
	struct aggpart *a;
	int32_t p;
} loader;

static int load_member(void *ctx, const char *f, size_t fl, const char *v, size_t vl, cd_err *err)
{
	loader *l = ctx;
	cd_member_rec r;
	Contact__V1__MemberRecord *msg;
	int rc;
	(void)f;
	(void)fl;
	if (cd_members_decode(v, vl, &r, &msg, err) < 0 || r.watermark)
		return cd_err_set(err, 0, "members partition %d: a stored member does not decode (%s)", (int)l->p,
				  r.watermark ? "a watermark" : err->msg);
	rc = cd_agg_member(l->a->agg, &r.m, err);
	cd_members_free(msg);
	return rc < 0 ? -1 : 0;
}

static int load_cohort(void *ctx, const char *f, size_t fl, const char *v, size_t vl, cd_err *err)
{
	loader *l = ctx;
	(void)f;
	(void)fl;
	return cd_agg_restore_cohort(l->a->agg, v, vl, err);
}

static int load_pending(void *ctx, const char *f, size_t fl, const char *v, size_t vl, cd_err *err)
{
	loader *l = ctx;
	cd_member_rec r;
	Contact__V1__MemberRecord *msg;
	int rc;
	(void)f;
	(void)fl;
	if (cd_members_decode(v, vl, &r, &msg, err) < 0)
		return cd_err_set(err, 0, "members partition %d: a pending record does not decode (%s)", (int)l->p, err->msg);
	rc = pend_add(l->a, &r, v, vl);
	cd_members_free(msg);
	return rc < 0 ? cd_err_set(err, 1, "out of memory") : 0;
}

static int parse_i64(const char *s, size_t n, int64_t *out)
{
	char tmp[32], *end;
	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	*out = strtoll(tmp, &end, 10);
	return *end ? -1 : 0;
}

static int load_meta(void *ctx, const char *f, size_t fl, const char *v, size_t vl, cd_err *err)
{
	loader *l = ctx;
	int64_t n;
	char buf[64];

	if (fl == 5 && !memcmp(f, "clock", 5)) {
		if (parse_i64(v, vl, &n) < 0)
			return cd_err_set(err, 0, "members partition %d: stored 'clock' is not an instant", (int)l->p);
		cd_agg_restore_clock(l->a->agg, n);
	} else if (fl == 4 && !memcmp(f, "nsrc", 4)) {
		if (parse_i64(v, vl, &n) < 0 || n < 0 || n > MAX_PARTS)
			return cd_err_set(err, 0, "members partition %d: stored 'nsrc' is out of range", (int)l->p);
		l->a->nsrc = (int)n;
	} else if (fl > 4 && !memcmp(f, "src:", 4)) {
		unsigned long long seq;
		long long wm;
		int p;
		if (fl - 4 >= sizeof(buf) || vl >= sizeof(buf) || parse_i64(f + 4, fl - 4, &n) < 0 || n < 0 ||
		    n >= MAX_PARTS)
			return cd_err_set(err, 0, "members partition %d: stored source '%.*s' is out of range", (int)l->p,
					  (int)(fl < 40 ? fl : 40), f);
		p = (int)n;
		memcpy(buf, v, vl);
		buf[vl] = '\0';
		if (sscanf(buf, "%llu %lld", &seq, &wm) == 2)
			l->a->src[p].wm = (cd_instant)wm;
		else if (sscanf(buf, "%llu -", &seq) == 1)
			l->a->src[p].wm = CD_INSTANT_NONE;
		else
			return cd_err_set(err, 0, "members partition %d: stored source %d is not '<seq> <clock>'", (int)l->p, p);
		l->a->src[p].seq = seq;
	}
	return 0;
}

/* Reads members partition p's aggregator, sources and pending records back from Redis into a. */
static int read_state(cd_redis *redis, int32_t p, const cd_rules *rules, int grace, int warn, struct aggpart *a,
		      cd_err *err)
{
	loader l = { NULL, a, p };

	if (!(a->agg = cd_agg_new(rules, grace, warn)))
		return cd_err_set(err, 1, "out of memory");
	for (int i = 0; i < MAX_PARTS; i++)
		a->src[i].wm = CD_INSTANT_NONE;
	/* members before cohorts: a cohort's restored evaluation state sits on its members' tally */
	if (cd_redis_hash_scan(redis, p, "members", load_member, &l, err) < 0 ||
	    cd_redis_hash_scan(redis, p, "cohorts", load_cohort, &l, err) < 0 ||
	    cd_redis_hash_scan(redis, p, "meta", load_meta, &l, err) < 0 ||
	    cd_redis_hash_scan(redis, p, "pending", load_pending, &l, err) < 0)
		return -1;
	/* pending records in the order they came: by source, then sequence number */
	for (size_t i = 1; i < a->n_pend; i++)
		for (size_t j = i; j > 0 && (a->pend[j - 1].src > a->pend[j].src ||
					     (a->pend[j - 1].src == a->pend[j].src && a->pend[j - 1].seq > a->pend[j].seq)); j--) {
			pend_rec t = a->pend[j];
			a->pend[j] = a->pend[j - 1];
			a->pend[j - 1] = t;
		}
	cd_agg_forget_changes(a->agg);
	return 0;
}

static int load(proc *x, part *pt, cd_err *err)
{
	struct aggpart *a = calloc(1, sizeof(*a));
	if (!a)
		return cd_err_set(err, 1, "out of memory");
	pt->agg = a;
	if (read_state(x->redis, pt->p, x->rules, x->cfg.grace, x->cfg.warn_days, a, err) < 0) {
		agg_part_drop(pt);
		return -1;
	}
	return 0;
}

int cd_aggstage_read(cd_redis *redis, int32_t p, const cd_rules *rules, int grace_days, int warn_days,
		     cd_aggregator **agg, size_t *n_pending, cd_err *err)
{
	struct aggpart *a = calloc(1, sizeof(*a));
	int rc;
	*agg = NULL;
	if (!a)
		return cd_err_set(err, 1, "out of memory");
	rc = read_state(redis, p, rules, grace_days, warn_days, a, err);
	if (rc == 0) {
		*agg = a->agg;
		*n_pending = a->n_pend;
		a->agg = NULL;
	}
	cd_agg_free(a->agg);
	pend_free(a);
	free(a);
	return rc;
}

/* ---- applying ---------------------------------------------------------------------- */

static int on_aggregate(void *ctx, const cd_agg_output *o)
{
	proc *x = ctx;
	cd_err err;
	char key[96];
	size_t kl = cd_codec_aggregate_key(o->key_kind, o->key, key, sizeof(key));
	cd_buf_reset(&x->value);
	if (cd_codec_aggregate_append(o, CD_LOG_PB, 0, &x->value, &err) < 0 ||
	    cd_outbox_begin(&x->entry, CD_OUTBOX_AGGREGATE, key, kl, x->value.data, x->value.len, 0) < 0 ||
	    cd_redis_batch_outbox(x->batch, x->entry.data, x->entry.len) < 0)
		return -1;
	cd_metrics_output(x->met, CD_MT_AGGREGATES, cd_agg_status_name(o->status));
	return 0;
}

/* Applies one member record (bytes, decoded as r) to the aggregator and to the members hash. */
static int apply(proc *x, struct aggpart *a, const cd_member_rec *r, const void *bytes, size_t len, cd_err *err)
{
	int rc = cd_agg_member(a->agg, &r->m, err);
	if (rc < 0)
		return -1;
	if (rc == 1)
		return 0;                       /* a repeat: nothing changed */
	if (r->m.outcome == CD_MEMBER_UNDECIDED)
		rc = cd_redis_batch_hdel(x->batch, "members", r->m.member_id, strlen(r->m.member_id));
	else
		rc = cd_redis_batch_hset(x->batch, "members", r->m.member_id, strlen(r->m.member_id), bytes, len);
	return rc < 0 ? cd_err_set(err, 1, "out of memory") : 0;
}

/* Applies pending record i (and forgets it). */
static int apply_pending(proc *x, struct aggpart *a, size_t i, cd_err *err)
{
	pend_rec *p = &a->pend[i];
	cd_member_rec r;
	Contact__V1__MemberRecord *msg;
	char field[48];
	int rc;

	if (cd_members_decode(p->bytes, p->len, &r, &msg, err) < 0)
		return -1;
	rc = apply(x, a, &r, p->bytes, p->len, err);
	cd_members_free(msg);
	snprintf(field, sizeof(field), "%d:%llu", (int)p->src, (unsigned long long)p->seq);
	if (rc == 0 && cd_redis_batch_hdel(x->batch, "pending", field, strlen(field)) < 0)
		rc = cd_err_set(err, 1, "out of memory");
	free(p->bytes);
	p->bytes = NULL;
	return rc;
}

/* Applies, in the order they came, the pending records `take` accepts, and compacts the set. */
static int apply_where(proc *x, struct aggpart *a, bool (*take)(const pend_rec *, cd_instant, cd_instant),
		       cd_instant c, cd_instant upto, cd_err *err)
{
	size_t k = 0;
	int rc = 0;
	for (size_t i = 0; i < a->n_pend; i++) {
		if (rc == 0 && take(&a->pend[i], c, upto)) {
			rc = apply_pending(x, a, i, err);
			continue;
		}
		a->pend[k++] = a->pend[i];
	}
	a->n_pend = k;
	return rc;
}

/* Said by an input after its source's clock reached a point the aggregate clock c has reached. */
static bool after_reached(const pend_rec *p, cd_instant c, cd_instant upto)
{
	(void)upto;
	return !p->at_tick && (p->clock == CD_INSTANT_NONE || (c != CD_INSTANT_NONE && p->clock <= c));
}

/* Said while its source's clock advanced to at most t (upto is t), and decided by the instant c. */
static bool at_tick_by(const pend_rec *p, cd_instant c, cd_instant t)
{
	return p->at_tick && p->clock <= t && (p->as_of <= c || c == t);
}

/* A member record can be applied now: see after_reached (at_tick ones wait for their advance). */
static bool ready(const cd_member_rec *r, cd_instant c)
{
	if (r->clock == CD_INSTANT_NONE)
		return true;
	return c != CD_INSTANT_NONE && r->clock <= c;
}

/*
 * The aggregate clock follows the least watermark M: to each point T on the
 * way (the clocks records were tagged with, then M), first the members said
 * while sources advanced to T, stepwise with the aggregate's instants, then
 * the members said by inputs after T.
 */
static int advance(proc *x, struct aggpart *a, cd_err *err)
{
	for (;;) {
		cd_instant c = cd_agg_clock(a->agg), m = CD_INSTANT_NONE, t;
		if (a->nsrc <= 0)
			return 0;
		for (int p = 0; p < a->nsrc; p++) {
			if (a->src[p].wm == CD_INSTANT_NONE)
				return 0;           /* a source not heard from: the clock waits for it */
			if (m == CD_INSTANT_NONE || a->src[p].wm < m)
				m = a->src[p].wm;
		}
		if (c != CD_INSTANT_NONE && m <= c)
			return 0;
		t = m;
		for (size_t i = 0; i < a->n_pend; i++) {
			cd_instant pc = a->pend[i].clock;
			if (pc != CD_INSTANT_NONE && (c == CD_INSTANT_NONE || pc > c) && pc < t)
				t = pc;
		}
		for (;;) {
			cd_instant step = cd_agg_next(a->agg);
			if (step == CD_INSTANT_NONE || step > t)
				step = t;
			if (apply_where(x, a, at_tick_by, step, t, err) < 0 ||
			    cd_agg_advance(a->agg, step, on_aggregate, x, err) < 0)
				return -1;
			if (step == t)
				break;
		}
		a->meta_dirty = true;
		if (apply_where(x, a, after_reached, cd_agg_clock(a->agg), CD_INSTANT_NONE, err) < 0)
			return -1;
	}
}

/* ---- one batch --------------------------------------------------------------------- */

static int save_cohort(void *ctx, const void *key, size_t klen, const void *state, size_t n)
{
	proc *x = ctx;
	return cd_redis_batch_hset(x->batch, "cohorts", key, klen, state, n) < 0 ? -1 : 0;
}

/* Cohorts, sources and the clock that changed, into the batch. */
static int stage_state(proc *x, struct aggpart *a, cd_err *err)
{
	char f[24], v[64];
	if (cd_agg_changed_cohorts(a->agg, save_cohort, x, err) < 0)
		return -1;
	for (int p = 0; p < MAX_PARTS; p++) {
		src_state *s = &a->src[p];
		if (!s->dirty)
			continue;
		snprintf(f, sizeof(f), "src:%d", p);
		if (s->wm == CD_INSTANT_NONE)
			snprintf(v, sizeof(v), "%llu -", (unsigned long long)s->seq);
		else
			snprintf(v, sizeof(v), "%llu %lld", (unsigned long long)s->seq, (long long)s->wm);
		if (cd_redis_batch_meta(x->batch, f, v) < 0)
			return cd_err_set(err, 1, "out of memory");
		s->dirty = false;
	}
	if (a->meta_dirty) {
		cd_instant c = cd_agg_clock(a->agg);
		if (c != CD_INSTANT_NONE) {
			snprintf(v, sizeof(v), "%lld", (long long)c);
			if (cd_redis_batch_meta(x->batch, "clock", v) < 0)
				return cd_err_set(err, 1, "out of memory");
		}
		snprintf(v, sizeof(v), "%d", a->nsrc);
		if (cd_redis_batch_meta(x->batch, "nsrc", v) < 0)
			return cd_err_set(err, 1, "out of memory");
		a->meta_dirty = false;
	}
	return 0;
}

/* One record of the members topic. 0, or -1 (err: out of memory, or the aggregator failed). */
static int one(proc *x, part *pt, const rd_kafka_message_t *m, cd_err *err)
{
	struct aggpart *a = pt->agg;
	cd_member_rec r;
	Contact__V1__MemberRecord *msg = NULL;
	src_state *s;
	int rc = 0;

	if (m->len > (size_t)x->cfg.max_record_bytes)
		return proc_set_aside(x, m, "size", "record exceeds max-record-bytes", err);
	if (cd_members_decode(m->payload, m->len, &r, &msg, err) < 0)
		return proc_set_aside(x, m, "decode", err->msg, err);
	if (r.source >= MAX_PARTS || (r.watermark && r.source_partitions > MAX_PARTS)) {
		cd_members_free(msg);
		return proc_set_aside(x, m, "validate", "member record: 'source_partition' or 'source_partitions' is "
				      "beyond what the stage handles", err);
	}
	if (!r.watermark && r.m.outcome != CD_MEMBER_UNDECIDED) {
		/* what the aggregator would refuse later, refused now, while there is a record to set aside */
		const cd_aggdef *def = cd_rules_find_aggregate(x->rules, r.m.aggregate_id);
		if (!def || def->key != r.m.key_kind) {
			cd_members_free(msg);
			return proc_set_aside(x, m, "validate", "member record names an aggregate (or key kind) that the "
					      "stage's rules do not define: are the processor and the stage on the same rules?",
					      err);
		}
	}
	s = &a->src[r.source];
	if (r.seq <= s->seq) {
		cd_members_free(msg);
		cd_metrics_applied(x->met, 0, pt->p, true);
		return 0;                       /* seen: a re-sent record */
	}
	cd_metrics_applied(x->met, 0, pt->p, false);
	s->seq = r.seq;
	s->dirty = true;
	if (r.watermark) {
		if (s->wm == CD_INSTANT_NONE || r.clock > s->wm)
			s->wm = r.clock;
		if (a->nsrc != r.source_partitions)
			a->meta_dirty = true;
		a->nsrc = r.source_partitions;
		rc = advance(x, a, err);
	} else if (!r.at_tick && ready(&r, cd_agg_clock(a->agg))) {
		rc = apply(x, a, &r, m->payload, m->len, err);
	} else {
		char field[48];
		snprintf(field, sizeof(field), "%d:%llu", (int)r.source, (unsigned long long)r.seq);
		if (pend_add(a, &r, m->payload, m->len) < 0 ||
		    cd_redis_batch_hset(x->batch, "pending", field, strlen(field), m->payload, m->len) < 0)
			rc = cd_err_set(err, 1, "out of memory");
	}
	cd_members_free(msg);
	return rc;
}

/*
 * A partition whose stored state does not decode (a bad restore, a hand edit, a
 * bug) is refused, as the processor refuses one whose state Redis lost: paused
 * and logged, never a crash loop, never counted around. The other partitions go
 * on. docs/operations.md says how to rebuild it.
 */
static void refuse(proc *x, part *pt, const rd_kafka_message_t *m, const char *why)
{
	char ps[16];
	rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
	snprintf(ps, sizeof(ps), "%d", (int)pt->p);
	cd_log(CD_LOG_ERROR, "aggregate partition refused: its state in Redis does not decode; restore it, or delete "
	       "its keys and rebuild it with --reset-state", "partition", ps, "error", why, NULL);
	rd_kafka_topic_partition_list_add(one, rd_kafka_topic_name(m->rkt), pt->p);
	rd_kafka_pause_partitions(x->rk, one);
	rd_kafka_topic_partition_list_destroy(one);
	pt->refused = true;
	proc_pend_drop(pt);
}

int agg_process_batch(proc *x, part *pt, cd_err *err)
{
	pending *pd = &pt->pend;
	int rc = 0;

	if (pd->n == 0)
		return 0;
	cd_redis_batch_clear(x->batch);
	if (!pt->agg && load(x, pt, err) < 0) {
		if (err->retriable) {
			proc_redis_trouble(x, err);
			proc_pend_drop(pt);
			return -1;
		}
		refuse(x, pt, pd->m[0], err->msg);
		return 0;
	}
	for (size_t i = 0; i < pd->n && rc == 0; i++) {
		rd_kafka_message_t *m = pd->m[i];
		cd_metrics_consumed(x->met, 0, pt->p);
		rc = one(x, pt, m, err);
		if (rc == 0 && cd_redis_batch_offset(x->batch, rd_kafka_topic_name(m->rkt), m->offset + 1) < 0)
			rc = cd_err_set(err, 1, "out of memory");
	}
	if (rc == 0)
		rc = stage_state(x, pt->agg, err);
	if (rc == 0) {
		x->batch_inputs = pd->n;
		rc = proc_commit(x, pt, err);
	}
	if (rc == 0)
		proc_offsets_store(x, pt);
	else {
		/* what the aggregator holds is ahead of Redis: read it again before the next batch */
		agg_part_drop(pt);
	}
	if (rc != -2)
		proc_pend_drop(pt);
	return rc;
}
