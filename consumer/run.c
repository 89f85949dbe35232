/*
 * run.c — `contactd run`: the live processor. Kafka in, Redis state, Kafka out,
 * effectively once.
 *
 * One thread drives everything (librdkafka has its own threads underneath):
 *
 *   poll ──▶ pending[p] ──(batch full / waited long enough)──▶ process_batch(p)
 *            per processing partition p (the partition number, shared by
 *            co-partitioned input topics)
 *   process_batch: load the batch's citizens (one MGET), apply the inputs one
 *            at a time with the engine (the same engine as replay), turn each
 *            output and each bad input into an outbox entry, then commit
 *            records + timers + outbox + offsets + tick floor in ONE fenced Lua
 *            call (consumer/redis_store.c). Nothing reaches Kafka before that.
 *   relay:   read the head of p's outbox, produce it with the idempotent
 *            producer, and trim it once every entry is delivered. A crash in
 *            between re-sends the same bytes (outputs may repeat, never differ).
 *   timers:  on the wall clock, citizens whose next firing instant has passed
 *            are advanced and committed the same way; on the event clock a
 *            ClockTick with an empty citizen_id does that for its partition,
 *            inside the batch (the citizens held by the batch decide for
 *            themselves; the stored timer index names the others).
 *
 * Position lives in Redis, not in Kafka: on assignment the consumer starts
 * each partition at the offset stored with the state (or at the beginning when
 * there is neither state nor Kafka progress). Offsets are also stored in
 * librdkafka after each commit so that lag tools see progress. If Redis has no
 * offset but Kafka has committed progress, Redis lost data: the partition is
 * refused (paused, error logged) unless --reset-state.
 *
 * Redis trouble pauses every partition, drops what was not committed, and
 * retries with backoff; then each partition is re-read and re-seeked to its
 * stored offset: the inputs are processed again, with the same results.
 * SIGTERM/SIGINT only set a flag: the loop finishes the current batches,
 * drains the outbox, commits offsets, closes the group and exits 0.
 */
#include "consumer/commands.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "consumer/config.h"
#include "consumer/kafka.h"
#include "consumer/redis_store.h"
#include "proto/codec.h"
#include "state/engine.h"
#include "util/log.h"

#define MAX_PARTS 1024
#define LOAD_CHUNK 512           /* citizens per MGET */
#define OUT_DEADLINE 1
#define OUT_BREACH 2
#define OUT_DLQ 3

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* ---- state -------------------------------------------------------------------- */

typedef struct pending {
	rd_kafka_message_t **m;
	size_t n, cap;
	int64_t first_ms;        /* when the oldest pending message arrived */
} pending;

typedef struct part {
	int32_t p;
	bool owned;
	bool refused;            /* Redis lost its state; waiting for an operator */
	int64_t token;
	cd_instant floor;
	pending pend;
	/* relay */
	bool outbox_maybe;       /* a commit added entries (or we just took p): read the outbox */
	size_t in_flight, delivered;
	bool delivery_failed;
	uint32_t relay_gen;      /* tags delivery reports, so stale ones are ignored */
} part;

typedef struct slot {        /* a citizen held during one batch */
	char id[CD_MAX_ID_LEN + 1];
	cd_citizen c;
	bool dirty;
} slot;

typedef struct proc {
	cd_config cfg;
	cd_rules *rules;
	cd_engine *eng;
	cd_redis *redis;
	rd_kafka_t *rk;
	cd_producer *prod;
	cd_mock *mock;
	char brokers[1024];
	part parts[MAX_PARTS];
	cd_redis_batch *batch;
	slot *slots;
	size_t n_slots, cap_slots;
	uint32_t *slot_ix;       /* open addressing over slots: 0 empty, else index + 1 */
	size_t n_slot_ix;        /* a power of two, >= 2 * cap_slots */
	cd_buf entry;            /* one outbox entry being built */
	cd_buf value;            /* one output message */
	cd_buf *recs;            /* MGET results */
	size_t cap_recs;
	int *found;
	const char *cur_caused;  /* for outputs: nothing */
	int32_t cur_p;
	int redis_down;
	int64_t next_timer_ms;
	uint64_t n_in, n_out, n_dlq, n_commits;
	int fatal;
} proc;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The wall clock. CONTACTD_WALL_CLOCK_START (RFC 3339) makes it start at that
 * instant and run at real speed from the process's start: the one seam through
 * which tests reach a breach instant on the wall clock (tools that fake the
 * system clock for the whole process break librdkafka's timed waits). Logged
 * at start-up when set; never set in production.
 */
static cd_instant wall_shift;            /* added to the real time; 0 normally */

static cd_instant wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (cd_instant)ts.tv_sec * CD_NS_PER_SEC + ts.tv_nsec + wall_shift;
}

static int wall_clock_init(cd_err *err)
{
	const char *start = getenv("CONTACTD_WALL_CLOCK_START");
	cd_instant t;
	if (!start || !*start)
		return 0;
	if (cd_instant_parse_rfc3339(start, strlen(start), &t) < 0)
		return cd_err_set(err, 0, "CONTACTD_WALL_CLOCK_START '%s' is not an RFC 3339 instant", start);
	wall_shift = t - wall_now();
	cd_log(CD_LOG_WARN, "the wall clock is shifted (CONTACTD_WALL_CLOCK_START): for tests only", "start", start, NULL);
	return 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ---- outbox entries ------------------------------------------------------------ */

/*
 * Envelope of one outbox entry (consumer-internal, stored in Redis):
 *   u8 kind (OUT_*), key, value, n_headers, then name/value pairs;
 *   every byte string is a varint length and the bytes.
 */
static int put_bytes(cd_buf *b, const void *p, size_t n)
{
	return cd_buf_put_varint(b, n) < 0 || cd_buf_append(b, p, n) < 0 ? -1 : 0;
}

static int entry_begin(cd_buf *b, int kind, const void *key, size_t key_len, const void *val, size_t val_len)
{
	uint8_t k = (uint8_t)kind;
	cd_buf_reset(b);
	return cd_buf_append(b, &k, 1) < 0 || put_bytes(b, key, key_len) < 0 || put_bytes(b, val, val_len) < 0 ? -1 : 0;
}

typedef struct entry {
	int kind;
	const uint8_t *key, *val;
	size_t key_len, val_len;
	cd_header h[8];
	char names[8][64];       /* the header names, NUL-terminated copies */
	size_t n_h;
} entry;

static int get_bytes(const uint8_t **p, const uint8_t *end, const uint8_t **out, size_t *n)
{
	uint64_t len;
	if (cd_varint_get(p, end, &len) < 0 || len > (uint64_t)(end - *p))
		return -1;
	*out = *p;
	*n = (size_t)len;
	*p += len;
	return 0;
}

static int entry_parse(const uint8_t *p, size_t n, entry *e)
{
	const uint8_t *end = p + n;
	uint64_t nh;
	if (n < 1)
		return -1;
	e->kind = *p++;
	if (get_bytes(&p, end, &e->key, &e->key_len) < 0 || get_bytes(&p, end, &e->val, &e->val_len) < 0 ||
	    cd_varint_get(&p, end, &nh) < 0 || nh > 8)
		return -1;
	e->n_h = (size_t)nh;
	for (size_t i = 0; i < e->n_h; i++) {
		const uint8_t *name, *val;
		size_t nl, vl;
		if (get_bytes(&p, end, &name, &nl) < 0 || get_bytes(&p, end, &val, &vl) < 0 || nl > 63)
			return -1;
		memcpy(e->names[i], name, nl);
		e->names[i][nl] = '\0';
		e->h[i].name = e->names[i];
		e->h[i].value = val;
		e->h[i].len = vl;
	}
	return p == end ? 0 : -1;
}

/* ---- outputs of the engine ------------------------------------------------------ */

static int on_output(void *ctx, const cd_output *o)
{
	proc *x = ctx;
	cd_err err;
	uint8_t zero = 0;
	cd_buf_reset(&x->value);
	if (cd_codec_output_append(o, CD_LOG_PB, 0, &x->value, &err) < 0 ||
	    entry_begin(&x->entry, o->is_breach ? OUT_BREACH : OUT_DEADLINE, o->citizen_id, strlen(o->citizen_id),
			x->value.data, x->value.len) < 0 ||
	    cd_buf_append(&x->entry, &zero, 1) < 0 ||
	    cd_redis_batch_outbox(x->batch, x->entry.data, x->entry.len) < 0)
		return -1;
	x->n_out++;
	return 0;
}

static int dead_letter(proc *x, const rd_kafka_message_t *m, const char *stage, const char *error)
{
	char part_s[16], off_s[24];
	const char *names[] = { "__connect.errors.topic", "__connect.errors.partition", "__connect.errors.offset",
				"__connect.errors.stage", "__connect.errors.exception.message" };
	const char *vals[5];
	uint8_t nh = 5;

	snprintf(part_s, sizeof(part_s), "%d", (int)m->partition);
	snprintf(off_s, sizeof(off_s), "%lld", (long long)m->offset);
	vals[0] = rd_kafka_topic_name(m->rkt);
	vals[1] = part_s;
	vals[2] = off_s;
	vals[3] = stage;
	vals[4] = error;
	if (entry_begin(&x->entry, OUT_DLQ, m->key ? m->key : "", m->key_len, m->payload ? m->payload : "",
			m->len) < 0 || cd_buf_append(&x->entry, &nh, 1) < 0)
		return -1;
	for (int i = 0; i < 5; i++)
		if (put_bytes(&x->entry, names[i], strlen(names[i])) < 0 ||
		    put_bytes(&x->entry, vals[i], strlen(vals[i])) < 0)
			return -1;
	x->n_dlq++;
	return cd_redis_batch_outbox(x->batch, x->entry.data, x->entry.len);
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
	slot_index(x, x->n_slots++);
	return s;
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
		if (slot_find(x, ids[i]))
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
		if (x->found[i] && cd_citizen_decode(&s->c, (const uint8_t *)x->recs[i].data, x->recs[i].len, err) < 0) {
			/* A corrupt record is not retriable: say whose it is and stop. */
			cd_err_prefix(err, "citizen '%s' in Redis partition %d", s->id, (int)p);
			err->retriable = 0;
			goto out;
		}
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
		if (cd_citizen_encode(&s->c, &rec) < 0 ||
		    cd_redis_batch_record(x->batch, s->id, rec.data, rec.len, s->c.next_fire) < 0)
			result = cd_err_set(err, 0, "citizen '%s' record exceeds the limits", s->id);
	}
	cd_buf_release(&rec);
	return result;
}

/* ---- committing ------------------------------------------------------------------- */

static void part_lost(proc *x, part *pt, const char *why)
{
	char p[16];
	snprintf(p, sizeof(p), "%d", (int)pt->p);
	cd_log(CD_LOG_WARN, "partition lost: another processor holds it", "partition", p, "reason", why, NULL);
	pt->owned = false;
	for (size_t i = 0; i < pt->pend.n; i++)
		rd_kafka_message_destroy(pt->pend.m[i]);
	pt->pend.n = 0;
	(void)x;
}

/* Commits the batch for pt. 0; -1 (Redis trouble: x->redis_down set); -2 (fenced: partition dropped). */
static int commit(proc *x, part *pt, cd_err *err)
{
	int rc;
	if (slots_to_batch(x, err) < 0)
		return -1;
	if (cd_redis_batch_empty(x->batch))
		return 0;
	rc = cd_redis_commit(x->redis, pt->p, pt->token, x->batch, err);
	cd_redis_batch_clear(x->batch);
	for (size_t i = 0; i < x->n_slots; i++)
		x->slots[i].dirty = false;
	if (rc == CD_REDIS_FENCED) {
		part_lost(x, pt, err->msg);
		return -2;
	}
	if (rc < 0) {
		x->redis_down = 1;
		return -1;
	}
	pt->outbox_maybe = true;
	x->n_commits++;
	return 0;
}

/* ---- clocks ----------------------------------------------------------------------- */

/* Fires everything of partition pt due by t, in chunks; commits each chunk. */
static int fire_due(proc *x, part *pt, cd_instant t, cd_err *err)
{
	for (;;) {
		char **ids = NULL;
		size_t n = 0;
		int rc = 0;
		if (cd_redis_timers_due(x->redis, pt->p, t, 500, &ids, &n, err) < 0) {
			x->redis_down = err->retriable;
			return -1;
		}
		if (n == 0)
			return 0;
		slots_reset(x);
		if (slots_load(x, pt->p, (const char *const *)ids, n, err) < 0) {
			x->redis_down = err->retriable;
			rc = -1;
		}
		for (size_t i = 0; i < x->n_slots && rc == 0; i++) {
			slot *s = &x->slots[i];
			if (cd_engine_advance(x->eng, &s->c, s->id, t, on_output, x, err) < 0)
				rc = -1;
			s->dirty = true;
		}
		cd_redis_free_ids(ids, n);
		if (rc == 0)
			rc = commit(x, pt, err);
		slots_reset(x);
		if (rc < 0)
			return rc;
		if (n < 500)
			return 0;
	}
}

/*
 * An all-citizen tick inside a batch: fires every citizen of partition pt due by
 * t, without committing first. Due are the citizens held in this batch whose own
 * (newer) state says so, and those the stored timer index names that are not
 * held; the latter are loaded and held, so that everything is committed with
 * the rest of the batch, in one call.
 */
static int fire_held(proc *x, part *pt, cd_instant t, cd_err *err)
{
	char **ids = NULL;
	const char *chunk[LOAD_CHUNK];
	size_t n = 0, k = 0;
	int rc = 0;

	if (cd_redis_timers_due(x->redis, pt->p, t, (size_t)1 << 20, &ids, &n, err) < 0) {
		x->redis_down = err->retriable;
		return -1;
	}
	for (size_t i = 0; i <= n && rc == 0; i++) {
		if (i < n && !slot_find(x, ids[i]))
			chunk[k++] = ids[i];
		if ((k == LOAD_CHUNK || (i == n && k)) && (rc = slots_load(x, pt->p, chunk, k, err)) < 0)
			x->redis_down = err->retriable;
		if (k == LOAD_CHUNK)
			k = 0;
	}
	for (size_t i = 0; i < x->n_slots && rc == 0; i++) {
		slot *s = &x->slots[i];
		if (s->c.next_fire == CD_INSTANT_NONE || s->c.next_fire > t)
			continue;
		if (cd_engine_advance(x->eng, &s->c, s->id, t, on_output, x, err) < 0)
			rc = -1;
		s->dirty = true;
	}
	cd_redis_free_ids(ids, n);
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
static int process_batch(proc *x, part *pt, cd_err *err)
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
			x->redis_down = err->retriable;
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
			int arc;

			x->n_in++;
			if (cd_codec_decode_event(m->payload, m->len, CD_LOG_PB, &msg, &ev, &stage, err) < 0) {
				if (dead_letter(x, m, cd_codec_stage_name(stage), err->msg) < 0)
					rc = cd_err_set(err, 0, "dead letter too large");
				goto next;
			}
			if (ev.kind == CD_EV_CLOCK_TICK && ev.citizen_id_len == 0) {
				cd_instant t = cd_event_time(&ev);
				if (!x->cfg.event_clock)
					goto next;      /* on the wall clock a tick changes nothing */
				if ((rc = fire_held(x, pt, t, err)) < 0)
					goto next;
				if (t > pt->floor || pt->floor == CD_INSTANT_NONE)
					pt->floor = t;
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
					x->redis_down = err->retriable;
					rc = -1;
					goto next;
				}
				s = slot_find(x, cid);
			}
			if (pt->floor != CD_INSTANT_NONE &&
			    cd_engine_advance(x->eng, &s->c, s->id, pt->floor, on_output, x, err) < 0) {
				rc = -1;
				goto next;
			}
			if (!x->cfg.event_clock &&
			    cd_engine_advance(x->eng, &s->c, s->id, wall_now(), on_output, x, err) < 0) {
				rc = -1;
				goto next;
			}
			s->dirty = true;
			arc = cd_engine_apply(x->eng, &s->c, s->id, &ev, on_output, x, err);
			if (arc < 0 && dead_letter(x, m, "apply", err->msg) < 0)
				rc = cd_err_set(err, 0, "dead letter too large");
next:
			if (msg)
				protobuf_c_message_free_unpacked(&msg->base, NULL);
			if (rc == 0 && cd_redis_batch_offset(x->batch, msg_topic(m), m->offset + 1) < 0)
				rc = cd_err_set(err, 1, "out of memory");
		}
		start = end;
	}
	if (rc == 0)
		rc = commit(x, pt, err);
	if (rc == 0) {
		/* Progress for lag tools: the offsets now stored in Redis. */
		for (size_t i = 0; i < pd->n; i++)
			rd_kafka_offset_store(pd->m[i]->rkt, pd->m[i]->partition, pd->m[i]->offset + 1);
	}
	if (rc != -2) {
		for (size_t i = 0; i < pd->n; i++)
			rd_kafka_message_destroy(pd->m[i]);
		pd->n = 0;
	}
	slots_reset(x);
	free(ids);
	return rc;
}

/* ---- relay ------------------------------------------------------------------------ */

typedef struct tag {
	int32_t p;
	uint32_t gen;
} tag;

static void on_delivery(void *ctx, void *opaque, rd_kafka_resp_err_t kerr, const char *reason)
{
	proc *x = ctx;
	tag *t = opaque;
	part *pt = t && t->p >= 0 && t->p < MAX_PARTS ? &x->parts[t->p] : NULL;
	if (pt && pt->owned && t->gen == pt->relay_gen) {
		if (kerr)
			pt->delivery_failed = true;
		pt->delivered++;
	}
	if (kerr)
		cd_log(CD_LOG_WARN, "output delivery failed; it will be sent again", "error", reason, NULL);
	free(t);
}

static int relay(proc *x, part *pt, cd_err *err)
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
		rc = cd_redis_outbox_trim(x->redis, pt->p, pt->token, pt->in_flight, err);
		if (rc == CD_REDIS_FENCED) {
			part_lost(x, pt, err->msg);
			return -2;
		}
		if (rc < 0) {
			x->redis_down = 1;
			return -1;
		}
		pt->in_flight = pt->delivered = 0;
		pt->relay_gen++;
		pt->outbox_maybe = true;                /* there may be more behind what was trimmed */
	}
	if (!pt->outbox_maybe)
		return 0;
	entries = calloc((size_t)x->cfg.outbox_batch, sizeof(*entries));
	if (!entries)
		return cd_err_set(err, 1, "out of memory");
	for (int i = 0; i < x->cfg.outbox_batch; i++)
		cd_buf_init(&entries[i], (size_t)64 << 20);
	if (cd_redis_outbox_read(x->redis, pt->p, (size_t)x->cfg.outbox_batch, entries, &n, err) < 0) {
		x->redis_down = 1;
		rc = -1;
		goto out;
	}
	if (n == 0)
		pt->outbox_maybe = false;
	for (size_t i = 0; i < n; i++) {
		entry e;
		const char *topic;
		tag *t = malloc(sizeof(*t));
		if (!t || entry_parse((const uint8_t *)entries[i].data, entries[i].len, &e) < 0) {
			free(t);
			rc = cd_err_set(err, 0, "partition %d: corrupt outbox entry", (int)pt->p);
			goto out;
		}
		topic = e.kind == OUT_DEADLINE ? x->cfg.deadline_topic
		      : e.kind == OUT_BREACH ? x->cfg.breach_topic : x->cfg.dlq_topic;
		t->p = pt->p;
		t->gen = pt->relay_gen;
		if (cd_producer_send(x->prod, topic, -1, e.key, e.key_len, e.val, e.val_len, e.h, e.n_h, t, err) < 0) {
			free(t);
			if (err->retriable) {
				/* the local queue is full: deliver what is queued, then send this head again */
				pt->delivery_failed = true;
				break;
			}
			rc = -1;
			goto out;
		}
		pt->in_flight++;
	}
out:
	for (int i = 0; i < x->cfg.outbox_batch; i++)
		cd_buf_release(&entries[i]);
	free(entries);
	return rc;
}

/* ---- assignment --------------------------------------------------------------------- */

static int topic_index(const proc *x, const char *topic)
{
	for (size_t i = 0; i < x->cfg.n_input_topics; i++)
		if (!strcmp(x->cfg.input_topics[i], topic))
			return (int)i;
	return -1;
}

/*
 * Takes the partitions of `list`: fences each processing partition, and sets
 * every (topic, partition) to start at the offset stored in Redis. A partition
 * whose Redis state is gone while Kafka has committed progress is refused.
 */
static int take(proc *x, rd_kafka_topic_partition_list_t *list, cd_err *err)
{
	rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(list);
	rd_kafka_resp_err_t kerr = rd_kafka_committed(x->rk, committed, 10000);

	for (int i = 0; i < list->cnt; i++) {
		rd_kafka_topic_partition_t *tp = &list->elems[i];
		part *pt;
		int64_t next;
		cd_instant floor;
		char ps[16];
		if (tp->partition < 0 || tp->partition >= MAX_PARTS)
			continue;
		pt = &x->parts[tp->partition];
		snprintf(ps, sizeof(ps), "%d", (int)tp->partition);
		if (!pt->owned) {
			/* Taken (again): a fresh state, but the pending array is kept (it is
			 * empty: freed at exit, not leaked) and the relay generation moves on,
			 * so that delivery reports of what was sent before the partition was
			 * lost do not count for what is sent now. */
			rd_kafka_message_t **pend_m = pt->pend.m;
			size_t pend_cap = pt->pend.cap;
			uint32_t gen = pt->relay_gen;
			memset(pt, 0, sizeof(*pt));
			pt->pend.m = pend_m;
			pt->pend.cap = pend_cap;
			pt->relay_gen = gen + 1;
			pt->p = tp->partition;
			if (cd_redis_fence_acquire(x->redis, pt->p, &pt->token, err) < 0)
				goto fail;
			pt->owned = true;
			pt->outbox_maybe = true;    /* a previous owner may have left entries */
			pt->floor = CD_INSTANT_NONE;
		}
		if (cd_redis_position(x->redis, pt->p, tp->topic, &next, &floor, err) < 0)
			goto fail;
		pt->floor = floor;
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
				    cd_redis_fence_acquire(x->redis, pt->p, &pt->token, err) < 0)
					goto fail;
				pt->floor = CD_INSTANT_NONE;
			}
			tp->offset = RD_KAFKA_OFFSET_BEGINNING;
		} else
			tp->offset = next;
	}
	rd_kafka_topic_partition_list_destroy(committed);
	return 0;
fail:
	rd_kafka_topic_partition_list_destroy(committed);
	x->redis_down = err->retriable;
	return -1;
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
		if (!pt->refused && !x->redis_down)
			process_batch(x, pt, &err);
		for (size_t k = 0; k < pt->pend.n; k++)
			rd_kafka_message_destroy(pt->pend.m[k]);
		pt->pend.n = 0;
		pt->owned = false;
	}
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t kerr, rd_kafka_topic_partition_list_t *list,
			 void *opaque)
{
	proc *x = opaque;
	bool coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
	cd_err err;

	if (kerr == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		if (take(x, list, &err) < 0)
			cd_log(CD_LOG_ERROR, "cannot take partitions", "error", err.msg, NULL);
		if (coop)
			rd_kafka_incremental_assign(rk, list);
		else
			rd_kafka_assign(rk, list);
		for (int i = 0; i < list->cnt; i++) {
			int32_t p = list->elems[i].partition;
			if (p >= 0 && p < MAX_PARTS && x->parts[p].refused) {
				rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
				rd_kafka_topic_partition_list_add(one, list->elems[i].topic, p);
				rd_kafka_pause_partitions(rk, one);
				rd_kafka_topic_partition_list_destroy(one);
			}
		}
	} else {
		give_back(x, list);
		if (coop)
			rd_kafka_incremental_unassign(rk, list);
		else
			rd_kafka_assign(rk, NULL);
	}
}

/* ---- Redis trouble ---------------------------------------------------------------- */

/*
 * Pauses everything, drops what was not committed, reconnects with backoff,
 * then re-reads each owned partition's stored offset and seeks there.
 */
static void recover_redis(proc *x)
{
	rd_kafka_topic_partition_list_t *asg = NULL;
	cd_err err;
	int backoff = 100;

	if (rd_kafka_assignment(x->rk, &asg) || !asg)
		return;
	rd_kafka_pause_partitions(x->rk, asg);
	for (int i = 0; i < MAX_PARTS; i++) {
		for (size_t k = 0; k < x->parts[i].pend.n; k++)
			rd_kafka_message_destroy(x->parts[i].pend.m[k]);
		x->parts[i].pend.n = 0;
		x->parts[i].in_flight = x->parts[i].delivered = 0;
		x->parts[i].relay_gen++;
		x->parts[i].outbox_maybe = true;
	}
	cd_log(CD_LOG_WARN, "redis unavailable: consumption paused, retrying", NULL);
	while (!stopping) {
		if (cd_redis_connect(x->redis, &err) == 0)
			break;
		cd_log(CD_LOG_WARN, "redis still unavailable", "error", err.msg, NULL);
		sleep_ms(backoff);
		backoff = backoff < 5000 ? backoff * 2 : 5000;
	}
	if (stopping)
		goto out;
	for (int i = 0; i < asg->cnt; i++) {
		rd_kafka_topic_partition_t *tp = &asg->elems[i];
		part *pt = tp->partition >= 0 && tp->partition < MAX_PARTS ? &x->parts[tp->partition] : NULL;
		int64_t next;
		cd_instant floor;
		if (!pt || !pt->owned || pt->refused)
			continue;
		if (cd_redis_position(x->redis, pt->p, tp->topic, &next, &floor, &err) < 0)
			goto out;   /* still down: the main loop comes back here */
		pt->floor = floor;
		tp->offset = next >= 0 ? next : RD_KAFKA_OFFSET_BEGINNING;
	}
	rd_kafka_seek_partitions(x->rk, asg, 10000);
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

/* ---- setup ----------------------------------------------------------------------- */

static int setup(proc *x, cd_err *err)
{
	cd_engine_config ecfg;
	cd_redis_opts ro;
	rd_kafka_conf_t *conf;
	char errstr[512];
	rd_kafka_topic_partition_list_t *subs;

	if (cd_rules_load(x->cfg.rules, x->cfg.overlays_config && *x->cfg.overlays_config ? x->cfg.overlays_config : NULL,
			  &x->rules, err) < 0)
		return -1;
	if (x->cfg.overlays && *x->cfg.overlays && cd_rules_set_overlays(x->rules, x->cfg.overlays, err) < 0)
		return -1;
	{
		char gap[256];
		if (cd_rules_national_gap(x->rules, cd_cph_date(wall_now()), gap, sizeof(gap)))
			cd_log(CD_LOG_WARN, "the law data does not cover today", "rules", x->cfg.rules,
			       "detail", gap, NULL);
	}
	cd_engine_config_default(&ecfg);
	ecfg.grace_days = x->cfg.grace;
	ecfg.warn_lead_days = x->cfg.warn_days;
	ecfg.max_events = (size_t)x->cfg.max_events;
	ecfg.max_obligations = (size_t)x->cfg.max_obligations;
	x->eng = cd_engine_new(x->rules, &ecfg);
	x->batch = cd_redis_batch_new();
	if (!x->eng || !x->batch)
		return cd_err_set(err, 0, "out of memory");

	cd_redis_opts_default(&ro);
	ro.host = x->cfg.redis_host;
	ro.port = x->cfg.redis_port;
	ro.user = x->cfg.redis_user && *x->cfg.redis_user ? x->cfg.redis_user : NULL;
	ro.password = x->cfg.redis_password && *x->cfg.redis_password ? x->cfg.redis_password : NULL;
	ro.db = x->cfg.redis_db;
	ro.prefix = x->cfg.redis_prefix;
	x->redis = cd_redis_new(&ro);
	if (!x->redis)
		return cd_err_set(err, 0, "out of memory");
	for (int backoff = 100; cd_redis_connect(x->redis, err) < 0;) {
		if (!err->retriable || stopping)
			return -1;
		cd_log(CD_LOG_WARN, "waiting for redis", "error", err->msg, NULL);
		sleep_ms(backoff);
		backoff = backoff < 5000 ? backoff * 2 : 5000;
	}

	if (!x->cfg.brokers || !*x->cfg.brokers) {
		/* The embedded default: librdkafka's mock cluster, in this process. */
		x->mock = cd_mock_new(x->cfg.mock_brokers, err);
		if (!x->mock)
			return -1;
		for (size_t i = 0; i < x->cfg.n_input_topics; i++)
			if (cd_mock_topic_create(x->mock, x->cfg.input_topics[i], x->cfg.mock_partitions, err) < 0)
				return -1;
		if (cd_mock_topic_create(x->mock, x->cfg.deadline_topic, x->cfg.mock_partitions, err) < 0 ||
		    cd_mock_topic_create(x->mock, x->cfg.breach_topic, x->cfg.mock_partitions, err) < 0 ||
		    cd_mock_topic_create(x->mock, x->cfg.dlq_topic, x->cfg.mock_partitions, err) < 0)
			return -1;
		snprintf(x->brokers, sizeof(x->brokers), "%s", cd_mock_bootstraps(x->mock));
		/* First line of stdout: where producers and consumers can connect. */
		printf("%s\n", x->brokers);
		fflush(stdout);
		cd_log(CD_LOG_INFO, "embedded mock cluster started", "bootstrap", x->brokers, NULL);
	} else
		snprintf(x->brokers, sizeof(x->brokers), "%s", x->cfg.brokers);

	x->prod = cd_producer_new(x->brokers, x->cfg.kafka, x->cfg.n_kafka, on_delivery, x, err);
	if (!x->prod)
		return -1;

	conf = rd_kafka_conf_new();
	cd_kafka_conf_log_to_stderr(conf);
	if (rd_kafka_conf_set(conf, "bootstrap.servers", x->brokers, errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "group.id", x->cfg.group, errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "true", errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "enable.partition.eof", "false", errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "partition.assignment.strategy",
			      x->cfg.n_input_topics > 1 ? "range" : "cooperative-sticky", errstr, sizeof(errstr))) {
		rd_kafka_conf_destroy(conf);
		return cd_err_set(err, 0, "kafka consumer configuration: %s", errstr);
	}
	if (cd_kafka_conf_apply(conf, x->cfg.kafka, x->cfg.n_kafka, err) < 0) {
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
	rd_kafka_conf_set_opaque(conf, x);
	x->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (!x->rk)
		return cd_err_set(err, 0, "cannot create the kafka consumer: %s", errstr);
	rd_kafka_poll_set_consumer(x->rk);
	subs = rd_kafka_topic_partition_list_new((int)x->cfg.n_input_topics);
	for (size_t i = 0; i < x->cfg.n_input_topics; i++)
		rd_kafka_topic_partition_list_add(subs, x->cfg.input_topics[i], RD_KAFKA_PARTITION_UA);
	if (rd_kafka_subscribe(x->rk, subs)) {
		rd_kafka_topic_partition_list_destroy(subs);
		return cd_err_set(err, 0, "cannot subscribe to the input topics");
	}
	rd_kafka_topic_partition_list_destroy(subs);
	return 0;
}

static void teardown(proc *x)
{
	if (x->rk) {
		rd_kafka_consumer_close(x->rk);
		rd_kafka_destroy(x->rk);
	}
	cd_producer_free(x->prod);
	cd_mock_free(x->mock);
	for (int i = 0; i < MAX_PARTS; i++) {
		for (size_t k = 0; k < x->parts[i].pend.n; k++)
			rd_kafka_message_destroy(x->parts[i].pend.m[k]);
		free(x->parts[i].pend.m);
	}
	for (size_t i = 0; i < x->cap_slots; i++)
		cd_citizen_release(&x->slots[i].c);
	free(x->slots);
	free(x->slot_ix);
	for (size_t i = 0; i < x->cap_recs; i++)
		cd_buf_release(&x->recs[i]);
	free(x->recs);
	free(x->found);
	cd_redis_batch_free(x->batch);
	cd_redis_free(x->redis);
	cd_engine_free(x->eng);
	cd_rules_free(x->rules);
	cd_buf_release(&x->entry);
	cd_buf_release(&x->value);
	cd_config_release(&x->cfg);
}

/* ---- the loop --------------------------------------------------------------------- */

static int pend_add(part *pt, rd_kafka_message_t *m)
{
	if (pt->pend.n == pt->pend.cap) {
		size_t ncap = pt->pend.cap ? pt->pend.cap * 2 : 256;
		rd_kafka_message_t **nm = realloc(pt->pend.m, ncap * sizeof(*nm));
		if (!nm)
			return -1;
		pt->pend.m = nm;
		pt->pend.cap = ncap;
	}
	if (pt->pend.n == 0)
		pt->pend.first_ms = now_ms();
	pt->pend.m[pt->pend.n++] = m;
	return 0;
}

static bool outbox_idle(proc *x)
{
	for (int i = 0; i < MAX_PARTS; i++)
		if (x->parts[i].owned && (x->parts[i].in_flight || x->parts[i].pend.n))
			return false;
	return true;
}

static int loop(proc *x)
{
	cd_err err;
	int64_t drain_until = 0;

	x->next_timer_ms = now_ms() + x->cfg.timer_interval_ms;
	for (;;) {
		rd_kafka_message_t *m;
		int64_t t = now_ms();

		if (stopping && !drain_until) {
			cd_log(CD_LOG_INFO, "stopping: finishing batches and draining the outbox", NULL);
			drain_until = t + 15000;
		}
		if (x->redis_down)
			recover_redis(x);
		m = stopping ? NULL : rd_kafka_consumer_poll(x->rk, 20);
		if (m) {
			if (m->err) {
				if (rd_kafka_fatal_error(x->rk, NULL, 0)) {
					cd_log(CD_LOG_ERROR, "fatal kafka error", "error", rd_kafka_message_errstr(m), NULL);
					rd_kafka_message_destroy(m);
					return 1;
				}
				if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
					cd_log(CD_LOG_WARN, "kafka consumer error", "error", rd_kafka_message_errstr(m), NULL);
				rd_kafka_message_destroy(m);
			} else if (m->partition >= 0 && m->partition < MAX_PARTS && x->parts[m->partition].owned &&
				   topic_index(x, rd_kafka_topic_name(m->rkt)) >= 0) {
				if (pend_add(&x->parts[m->partition], m) < 0)
					rd_kafka_message_destroy(m);
			} else
				rd_kafka_message_destroy(m);
		}
		for (int i = 0; i < MAX_PARTS && !x->redis_down; i++) {
			part *pt = &x->parts[i];
			if (!pt->owned || pt->refused)
				continue;
			if (pt->pend.n && ((int)pt->pend.n >= x->cfg.batch_size || stopping || !m ||
					    t - pt->pend.first_ms >= x->cfg.batch_wait_ms)) {
				if (process_batch(x, pt, &err) == -1 && !x->redis_down) {
					cd_log(CD_LOG_ERROR, "batch failed", "error", err.msg, NULL);
					return 1;
				}
			}
			if (!x->redis_down && pt->owned && relay(x, pt, &err) == -1 && !x->redis_down) {
				cd_log(CD_LOG_ERROR, "relay failed", "error", err.msg, NULL);
				return 1;
			}
		}
		if (!x->cfg.event_clock && t >= x->next_timer_ms && !x->redis_down) {
			cd_instant wall = wall_now();
			for (int i = 0; i < MAX_PARTS && !x->redis_down; i++)
				if (x->parts[i].owned && !x->parts[i].refused && fire_due(x, &x->parts[i], wall, &err) == -1 &&
				    !x->redis_down) {
					cd_log(CD_LOG_ERROR, "timers failed", "error", err.msg, NULL);
					return 1;
				}
			x->next_timer_ms = t + x->cfg.timer_interval_ms;
		}
		cd_producer_poll(x->prod, 0);
		if (cd_producer_fatal(x->prod, &err)) {
			cd_log(CD_LOG_ERROR, "fatal producer error", "error", err.msg, NULL);
			return 1;
		}
		if (stopping && (outbox_idle(x) || t > drain_until))
			return 0;
	}
}

int cd_run_main(int argc, char **argv)
{
	proc *x = calloc(1, sizeof(*x));
	cd_err err = { "", 0 };
	extern char **environ;
	struct sigaction sa;
	int rc, status = 1;
	char n[4][24];

	if (!x)
		return 1;
	cd_buf_init(&x->entry, (size_t)64 << 20);
	cd_buf_init(&x->value, (size_t)64 << 20);
	cd_config_init(&x->cfg);
	rc = cd_config_from_args(&x->cfg, argc, argv, environ, &err);
	if (rc == 1) {
		status = 0;
		goto out;
	}
	if (rc < 0) {
		cd_log(CD_LOG_ERROR, "bad configuration", "error", err.msg, NULL);
		status = 2;
		goto out;
	}
	cd_log_set_level(x->cfg.log_level);
	cd_config_log(&x->cfg);
	if (x->cfg.check_config) {
		status = 0;
		goto out;
	}
	if (wall_clock_init(&err) < 0) {
		cd_log(CD_LOG_ERROR, "bad environment", "error", err.msg, NULL);
		status = 2;
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (setup(x, &err) < 0) {
		cd_log(CD_LOG_ERROR, "cannot start", "error", err.msg, NULL);
		goto out;
	}
	status = loop(x);
	if (x->rk && status == 0)
		rd_kafka_commit(x->rk, NULL, 0);
	snprintf(n[0], sizeof(n[0]), "%llu", (unsigned long long)x->n_in);
	snprintf(n[1], sizeof(n[1]), "%llu", (unsigned long long)x->n_out);
	snprintf(n[2], sizeof(n[2]), "%llu", (unsigned long long)x->n_dlq);
	snprintf(n[3], sizeof(n[3]), "%llu", (unsigned long long)x->n_commits);
	cd_log(CD_LOG_INFO, "stopped", "inputs", n[0], "outputs", n[1], "dead_letters", n[2], "commits", n[3], NULL);
out:
	teardown(x);
	free(x);
	return status;
}
