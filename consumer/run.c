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
#include <xxhash.h>

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
#define OUT_KIND_MASK 0x7f
#define OUT_NULL_KEY 0x80        /* in the kind byte: the record has no key (not an empty one) */
#define OUT_MAX_HEADERS 12
#define UNDELIVERABLE_MAX 64     /* entries of one relay batch set aside as undeliverable */
#define QUARANTINE_SAID 64

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
	/* entries of the head batch that can never be delivered (by index in the batch):
	 * sent again as a small dead letter that says so, so they never block the rest */
	uint32_t undeliverable[UNDELIVERABLE_MAX];
	uint8_t undeliverable_level[UNDELIVERABLE_MAX];   /* 1: send a stub; 2: the stub failed too */
	char undeliverable_why[UNDELIVERABLE_MAX][96];
	size_t n_undeliverable;
	/* assignment that failed on a Redis error: retried from the loop, with backoff */
	bool untaken;
} part;

typedef struct slot {        /* a citizen held during one batch */
	char id[CD_MAX_ID_LEN + 1];
	cd_citizen c;
	bool dirty;
	bool corrupt;            /* its Redis record does not decode: quarantined */
	char why[224];           /* … and why (goes into its inputs' dead letters) */
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
	char redis_cause[sizeof(((cd_err *)0)->msg)];   /* the error that took Redis down, for the log */
	int redis_backoff_ms;    /* grows while Redis keeps failing; reset by a commit */
	uint64_t quarantine_said[QUARANTINE_SAID];   /* hashes of the citizens last reported */
	int64_t next_take_ms;    /* when to retry partitions that could not be taken */
	int take_backoff_ms;
	int64_t untaken_since_ms;
	bool untaken_reported;
	int64_t next_timer_ms;
	uint64_t n_in, n_out, n_dlq, n_commits, n_undeliverable, n_quarantined, n_offset_resets;
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
 *   u8 kind (OUT_*, | OUT_NULL_KEY when the record has no key), key, value,
 *   varint n_headers, then name/value pairs;
 *   every byte string is a varint length and the bytes.
 */
static int put_bytes(cd_buf *b, const void *p, size_t n)
{
	return cd_buf_put_varint(b, n) < 0 || cd_buf_append(b, p, n) < 0 ? -1 : 0;
}

static int entry_begin(cd_buf *b, int kind, const void *key, size_t key_len, const void *val, size_t val_len)
{
	uint8_t k = (uint8_t)(kind | (key ? 0 : OUT_NULL_KEY));
	cd_buf_reset(b);
	if (!key)
		key = "";
	return cd_buf_append(b, &k, 1) < 0 || put_bytes(b, key, key_len) < 0 || put_bytes(b, val, val_len) < 0 ? -1 : 0;
}

typedef struct entry {
	int kind;
	const uint8_t *key, *val;    /* key NULL: the record has no key */
	size_t key_len, val_len;
	cd_header h[OUT_MAX_HEADERS];
	char names[OUT_MAX_HEADERS][64];   /* the header names, NUL-terminated copies */
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
	bool null_key;
	if (n < 1)
		return -1;
	e->kind = *p & OUT_KIND_MASK;
	null_key = (*p++ & OUT_NULL_KEY) != 0;
	if (get_bytes(&p, end, &e->key, &e->key_len) < 0 || get_bytes(&p, end, &e->val, &e->val_len) < 0 ||
	    cd_varint_get(&p, end, &nh) < 0 || nh > OUT_MAX_HEADERS)
		return -1;
	if (null_key)
		e->key = NULL;
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
	cd_buf_reset(&x->value);
	if (cd_codec_output_append(o, CD_LOG_PB, 0, &x->value, &err) < 0 ||
	    entry_begin(&x->entry, o->is_breach ? OUT_BREACH : OUT_DEADLINE, o->citizen_id, strlen(o->citizen_id),
			x->value.data, x->value.len) < 0 ||
	    cd_buf_put_varint(&x->entry, 0) < 0 ||
	    cd_redis_batch_outbox(x->batch, x->entry.data, x->entry.len) < 0)
		return -1;
	x->n_out++;
	return 0;
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
	if (entry_begin(&x->entry, OUT_DLQ, m->key, m->key_len, m->payload ? m->payload : "", carried) < 0 ||
	    cd_buf_put_varint(&x->entry, nh) < 0)
		return -1;
	for (size_t i = 0; i < nh; i++)
		if (put_bytes(&x->entry, names[i], strlen(names[i])) < 0 ||
		    put_bytes(&x->entry, vals[i], strlen(vals[i])) < 0)
			return -1;
	x->n_dlq++;
	return cd_redis_batch_outbox(x->batch, x->entry.data, x->entry.len);
}

/* A dead letter for m: 0, or -1 with err (no memory: the batch fails). */
static int set_aside(proc *x, const rd_kafka_message_t *m, const char *stage, const char *why, cd_err *err)
{
	char reason[512];
	snprintf(reason, sizeof(reason), "%s", why);   /* why may be err->msg itself */
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
 * a hash of its id and the Redis partition, not by the id itself.
 */
static void quarantine(proc *x, slot *s, int32_t p, const char *why)
{
	char ps[16], hs[24];
	uint64_t h = XXH3_64bits(s->id, strlen(s->id));
	bool said = false;

	snprintf(ps, sizeof(ps), "%d", (int)p);
	snprintf(hs, sizeof(hs), "%016llx", (unsigned long long)h);
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
	cd_log(CD_LOG_ERROR, "citizen quarantined: its Redis record is corrupt", "partition", ps, "citizen_hash", hs,
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
		if (cd_citizen_encode(&s->c, &rec) < 0 ||
		    cd_redis_batch_record(x->batch, s->id, rec.data, rec.len, s->c.next_fire) < 0)
			result = cd_err_set(err, 0, "citizen '%s' record exceeds the limits", s->id);
	}
	cd_buf_release(&rec);
	return result;
}

/* ---- committing ------------------------------------------------------------------- */

/*
 * Redis failed in a way a retry can outlive: consumption pauses and the loop
 * recovers (recover_redis). The cause is kept for the log: "redis unavailable"
 * without the server's own words (OOM, LOADING, …) leaves an operator guessing.
 */
static void redis_trouble(proc *x, const cd_err *err)
{
	x->redis_down = 1;
	snprintf(x->redis_cause, sizeof(x->redis_cause), "%s", err->msg);
}

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
		redis_trouble(x, err);
		return -1;
	}
	pt->outbox_maybe = true;
	x->n_commits++;
	x->redis_backoff_ms = 0;                 /* Redis works again: the next trouble starts small */
	return 0;
}

/* ---- clocks ----------------------------------------------------------------------- */

/* Fires everything of partition pt due by t, in chunks; commits each chunk. */
static int fire_due(proc *x, part *pt, cd_instant t, cd_err *err)
{
	for (;;) {
		char **ids = NULL;
		size_t n = 0, quarantined = 0;
		int rc = 0;
		if (cd_redis_timers_due(x->redis, pt->p, t, 500, &ids, &n, err) < 0) {
			if (err->retriable)
				redis_trouble(x, err);
			return -1;
		}
		if (n == 0)
			return 0;
		slots_reset(x);
		if (slots_load(x, pt->p, (const char *const *)ids, n, err) < 0) {
			if (err->retriable)
				redis_trouble(x, err);
			rc = -1;
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
			rc = commit(x, pt, err);
		slots_reset(x);
		if (rc < 0)
			return rc;
		/* a quarantined citizen stays due: stop when a chunk held only such ones */
		if (n < 500 || quarantined == n)
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
		if (err->retriable)
			redis_trouble(x, err);
		return -1;
	}
	for (size_t i = 0; i <= n && rc == 0; i++) {
		if (i < n && !slot_find(x, ids[i]))
			chunk[k++] = ids[i];
		if ((k == LOAD_CHUNK || (i == n && k)) && (rc = slots_load(x, pt->p, chunk, k, err)) < 0 &&
		    err->retriable)
			redis_trouble(x, err);
		if (k == LOAD_CHUNK)
			k = 0;
	}
	for (size_t i = 0; i < x->n_slots && rc == 0; i++) {
		slot *s = &x->slots[i];
		if (s->corrupt || s->c.next_fire == CD_INSTANT_NONE || s->c.next_fire > t)
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
			if (err->retriable)
				redis_trouble(x, err);
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
			if (m->len > (size_t)x->cfg.max_record_bytes) {
				/* before decoding: a huge record of unknown fields costs memory to decode */
				char why[128];
				snprintf(why, sizeof(why), "record of %zu bytes exceeds max-record-bytes (%d)", m->len,
					 x->cfg.max_record_bytes);
				rc = set_aside(x, m, "size", why, err);
				goto next;
			}
			if (cd_codec_decode_event(m->payload, m->len, CD_LOG_PB, &msg, &ev, &stage, err) < 0) {
				rc = set_aside(x, m, cd_codec_stage_name(stage), err->msg, err);
				goto next;
			}
			if (ev.citizen_id_len && (!m->key || m->key_len != ev.citizen_id_len ||
						  memcmp(m->key, ev.citizen_id, ev.citizen_id_len))) {
				/* A citizen's inputs must all reach the partition that holds the
				 * citizen: the key is what partitions them. */
				rc = set_aside(x, m, "validate",
					       !m->key ? "record has no key: inputs are keyed by citizen_id"
						       : "record key is not the event's citizen_id: inputs are keyed by "
							 "citizen_id", err);
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
					if (err->retriable)
						redis_trouble(x, err);
					rc = -1;
					goto next;
				}
				s = slot_find(x, cid);
			}
			if (s->corrupt) {
				rc = set_aside(x, m, "state", s->why, err);
				goto next;
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
			if (arc < 0)
				rc = set_aside(x, m, "apply", err->msg, err);
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
	uint32_t idx;            /* the entry's index in the head batch */
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
	x->n_undeliverable++;
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

static void on_delivery(void *ctx, void *opaque, rd_kafka_resp_err_t kerr, const char *reason)
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
	free(t);
}

/* The stand-in for an entry the broker refuses: what it was, why, and its digest. */
static int send_stub(proc *x, const entry *e, const char *topic, const char *why, tag *t, cd_err *err)
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
			redis_trouble(x, err);
			return -1;
		}
		pt->n_undeliverable = 0;                /* they were indices into the batch just trimmed */
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
		redis_trouble(x, err);
		rc = -1;
		goto out;
	}
	if (n == 0)
		pt->outbox_maybe = false;
	for (size_t i = 0; i < n; i++) {
		entry e;
		const char *topic;
		int src;
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
		t->idx = (uint32_t)i;
		switch (undeliverable_level(pt, (uint32_t)i)) {
		case 2:
			free(t);                        /* left out: counts as delivered */
			pt->in_flight++;
			pt->delivered++;
			continue;
		case 1:
			src = send_stub(x, &e, topic, undeliverable_why(pt, (uint32_t)i), t, err);
			break;
		default:
			src = cd_producer_send(x->prod, topic, -1, e.key, e.key_len, e.val, e.val_len, e.h, e.n_h, t, err);
		}
		if (src == -2) {
			/* refused before it was queued: set aside like a refused delivery */
			free(t);
			mark_undeliverable(x, pt, (uint32_t)i, err->msg);
			pt->delivery_failed = true;
			pt->in_flight++;
			pt->delivered++;
			continue;
		}
		if (src < 0) {
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
	int i_failed = list->cnt;
	int32_t failed_p = -1;

	for (int i = 0; i < list->cnt; i++) {
		rd_kafka_topic_partition_t *tp = &list->elems[i];
		part *pt;
		int64_t next;
		cd_instant floor;
		char ps[16];
		if (tp->partition < 0 || tp->partition >= MAX_PARTS)
			continue;
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
	/* This partition and every one not taken yet wait for the loop's retry
	 * (retry_take), paused; a partition is taken whole or not at all. */
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
		redis_trouble(x, err);
	return -1;
}

static void schedule_take_retry(proc *x)
{
	if (!x->untaken_since_ms) {
		x->untaken_since_ms = now_ms();
		x->take_backoff_ms = 0;
		x->untaken_reported = false;
	}
	x->take_backoff_ms = !x->take_backoff_ms ? 200 : x->take_backoff_ms < 5000 ? x->take_backoff_ms * 2 : 5000;
	x->next_take_ms = now_ms() + x->take_backoff_ms;
}

/*
 * Partitions assigned to us that could not be taken (a Redis error on the
 * fence or the stored position: OOM, a restart, a failover) stay paused and
 * are taken again from here, with backoff, until it works: never a silent
 * stall. Past UNTAKEN_REPORT_MS it is an error in the log (and the process is
 * not ready).
 */
#define UNTAKEN_REPORT_MS 30000
static void retry_take(proc *x)
{
	rd_kafka_topic_partition_list_t *asg = NULL, *sub;
	cd_err err;
	char secs[24];

	if (!x->untaken_since_ms || now_ms() < x->next_take_ms || x->redis_down)
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
		snprintf(secs, sizeof(secs), "%lld", (long long)((now_ms() - x->untaken_since_ms) / 1000));
		if (!x->untaken_reported && now_ms() - x->untaken_since_ms >= UNTAKEN_REPORT_MS) {
			cd_log(CD_LOG_ERROR, "partitions still cannot be taken: nothing is processed for them",
			       "seconds", secs, "error", err.msg, NULL);
			x->untaken_reported = true;
		} else
			cd_log(CD_LOG_WARN, "cannot take partitions yet: retrying with backoff", "seconds", secs,
			       "error", err.msg, NULL);
		schedule_take_retry(x);
		goto out;
	}
	rd_kafka_seek_partitions(x->rk, sub, 10000);
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
		if (!pt->refused && !x->redis_down)
			process_batch(x, pt, &err);
		for (size_t k = 0; k < pt->pend.n; k++)
			rd_kafka_message_destroy(pt->pend.m[k]);
		pt->pend.n = 0;
		pt->owned = false;
	}
	for (int i = 0; i < list->cnt; i++)
		if (list->elems[i].partition >= 0 && list->elems[i].partition < MAX_PARTS)
			x->parts[list->elems[i].partition].untaken = false;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t kerr, rd_kafka_topic_partition_list_t *list,
			 void *opaque)
{
	proc *x = opaque;
	bool coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
	cd_err err;

	if (kerr == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		if (take(x, list, &err) < 0) {
			cd_log(CD_LOG_WARN, "cannot take partitions yet: retrying with backoff", "error", err.msg, NULL);
			schedule_take_retry(x);
		}
		if (coop)
			rd_kafka_incremental_assign(rk, list);
		else
			rd_kafka_assign(rk, list);
		for (int i = 0; i < list->cnt; i++) {
			int32_t p = list->elems[i].partition;
			if (p >= 0 && p < MAX_PARTS && (x->parts[p].refused || x->parts[p].untaken)) {
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

/* Sleeps ms, in slices, returning early when the process is told to stop. */
static void sleep_unless_stopping(int ms)
{
	for (int slept = 0; slept < ms && !stopping; slept += 50)
		sleep_ms(ms - slept < 50 ? ms - slept : 50);
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
static void recover_redis(proc *x)
{
	rd_kafka_topic_partition_list_t *asg = NULL;
	cd_err err;

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
	x->redis_backoff_ms = !x->redis_backoff_ms ? 100 : x->redis_backoff_ms < 5000 ? x->redis_backoff_ms * 2 : 5000;
	{
		char ms[16];
		snprintf(ms, sizeof(ms), "%d", x->redis_backoff_ms);
		cd_log(CD_LOG_WARN, "redis unavailable: consumption paused, retrying", "error", x->redis_cause,
		       "retry_in_ms", ms, NULL);
	}
	sleep_unless_stopping(x->redis_backoff_ms);
	while (!stopping && !cd_redis_connected(x->redis)) {
		if (cd_redis_connect(x->redis, &err) == 0)
			break;
		cd_log(CD_LOG_WARN, "redis still unavailable", "error", err.msg, NULL);
		x->redis_backoff_ms = x->redis_backoff_ms < 5000 ? x->redis_backoff_ms * 2 : 5000;
		sleep_unless_stopping(x->redis_backoff_ms);
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
		if (cd_redis_position(x->redis, pt->p, tp->topic, &next, &floor, &err) < 0) {
			redis_trouble(x, &err);
			goto out;   /* still down: the main loop comes back here */
		}
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
		if (stopping)
			return 1;                   /* told to stop before there was anything to do */
		if (!err->retriable)
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
	    /* "error": a position deleted by retention is reported to us (consumer_error),
	     * which logs the loss and then starts at the earliest offset itself */
	    rd_kafka_conf_set(conf, "auto.offset.reset", "error", errstr, sizeof(errstr)) ||
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

/*
 * Drained: nothing pending, nothing in flight, every outbox read empty since
 * the last commit or trim (outbox_maybe), and the producer's queue empty.
 * Refused and untaken partitions hold nothing of ours.
 */
static bool drained(proc *x)
{
	for (int i = 0; i < MAX_PARTS; i++) {
		const part *pt = &x->parts[i];
		if (pt->owned && !pt->refused && (pt->in_flight || pt->pend.n || pt->outbox_maybe))
			return false;
	}
	return rd_kafka_outq_len(cd_producer_handle(x->prod)) == 0;
}

/*
 * Restarts fetching of the partitions in `at` at their offsets. After an
 * offset-reset error the partition's fetcher is stopped and a seek is refused
 * ("erroneous state"), so the partition is assigned anew: unassigned and
 * assigned (cooperative), or the whole assignment given again with every other
 * partition at its current position (eager; paused ones paused again).
 */
static int restart_at(proc *x, rd_kafka_topic_partition_list_t *at)
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

/* A consumer error event: the kinds an operator must hear of, loudly. */
static void consumer_error(proc *x, const rd_kafka_message_t *m)
{
	char ps[16];
	snprintf(ps, sizeof(ps), "%d", (int)m->partition);
	if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET && m->rkt) {
		/* The stored position was deleted by retention before it was processed:
		 * the inputs between it and the earliest offset still there are lost. */
		const char *topic = rd_kafka_topic_name(m->rkt);
		int64_t lo = -1, hi = -1;
		char los[24], offs[24];
		rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
		rd_kafka_query_watermark_offsets(x->rk, topic, m->partition, &lo, &hi, 5000);
		snprintf(los, sizeof(los), "%lld", (long long)lo);
		snprintf(offs, sizeof(offs), "%lld", (long long)m->offset);
		x->n_offset_resets++;
		cd_log(CD_LOG_ERROR, "inputs lost: the stored offset is no longer on the topic (deleted by retention "
		       "before it was processed); going on from the earliest offset", "topic", topic, "partition", ps,
		       "stored_offset", offs, "earliest_offset", los, "error", rd_kafka_message_errstr(m), NULL);
		rd_kafka_topic_partition_list_add(one, topic, m->partition)->offset = lo >= 0 ? lo : RD_KAFKA_OFFSET_BEGINNING;
		if (restart_at(x, one) < 0)
			cd_log(CD_LOG_ERROR, "cannot restart the partition at the earliest offset", "topic", topic,
			       "partition", ps, NULL);
		rd_kafka_topic_partition_list_destroy(one);
		return;
	}
	if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
		cd_log(CD_LOG_WARN, "kafka consumer error", "error", rd_kafka_message_errstr(m), NULL);
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
			/* from here on nothing is polled: what is pending is processed,
			 * committed and relayed, then the loop ends (below) */
			cd_log(CD_LOG_INFO, "stopping: finishing batches and draining the outbox", NULL);
			drain_until = t + x->cfg.drain_timeout_ms;
		}
		if (x->redis_down) {
			if (stopping) {
				cd_log(CD_LOG_WARN, "stopping while Redis is unavailable: what was not committed is "
				       "processed again by the next owner", "error", x->redis_cause, NULL);
				return 0;
			}
			recover_redis(x);
		}
		retry_take(x);
		m = stopping ? NULL : rd_kafka_consumer_poll(x->rk, 20);
		if (m) {
			if (m->err) {
				if (rd_kafka_fatal_error(x->rk, NULL, 0)) {
					cd_log(CD_LOG_ERROR, "fatal kafka error", "error", rd_kafka_message_errstr(m), NULL);
					rd_kafka_message_destroy(m);
					return 1;
				}
				consumer_error(x, m);
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
		cd_producer_poll(x->prod, stopping ? 5 : 0);
		if (cd_producer_fatal(x->prod, &err)) {
			cd_log(CD_LOG_ERROR, "fatal producer error", "error", err.msg, NULL);
			return 1;
		}
		if (stopping && drain_until && drained(x)) {
			cd_log(CD_LOG_INFO, "drained: every batch committed and every output delivered", NULL);
			return 0;
		}
		if (stopping && drain_until && now_ms() > drain_until) {
			char q[16];
			snprintf(q, sizeof(q), "%d", rd_kafka_outq_len(cd_producer_handle(x->prod)));
			cd_log(CD_LOG_WARN, "drain timed out: the next owner relays what is left in the outbox",
			       "producer_queue", q, NULL);
			return 0;
		}
	}
}

int cd_run_main(int argc, char **argv)
{
	proc *x = calloc(1, sizeof(*x));
	cd_err err = { "", 0 };
	extern char **environ;
	struct sigaction sa;
	int rc, status = 1;
	char n[7][24];

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
	rc = setup(x, &err);
	if (rc == 1) {
		cd_log(CD_LOG_INFO, "stopped before start (signal while waiting for redis)", NULL);
		status = 0;
		goto out;
	}
	if (rc < 0) {
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
	snprintf(n[4], sizeof(n[4]), "%llu", (unsigned long long)x->n_quarantined);
	snprintf(n[5], sizeof(n[5]), "%llu", (unsigned long long)x->n_undeliverable);
	snprintf(n[6], sizeof(n[6]), "%llu", (unsigned long long)x->n_offset_resets);
	cd_log(CD_LOG_INFO, "stopped", "inputs", n[0], "outputs", n[1], "dead_letters", n[2], "commits", n[3],
	       "quarantined", n[4], "undeliverable", n[5], "offset_resets", n[6], NULL);
out:
	teardown(x);
	free(x);
	return status;
}
