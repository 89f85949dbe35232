/*
 * test_redis_store.c — per-citizen state in Redis: a commit writes records,
 * timers, outbox, offsets and floor together or not at all, only under the
 * current fencing token, and survives a Redis restart; errors say whether a
 * retry can help. Every test talks to a private redis-server started by
 * tests/support/redis_server.c (appendonly yes, appendfsync always).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <hiredis/hiredis.h>

#include "consumer/redis_store.h"
#include "tests/support/redis_server.h"
#include "tests/support/store.h"

#define MS INT64_C(1000000)
#define T0 (INT64_C(1767222000) * CD_NS_PER_SEC)     /* 2026-01-01 00:00 Copenhagen */

static cd_test_redis srv;

/* ---- helpers ------------------------------------------------------------------------- */

/* A command on a fresh plain connection to `port`; the caller frees the reply. */
static redisReply *raw(int port, const char *fmt, ...)
{
	struct timeval tv = { 5, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
	redisReply *rep = NULL;
	va_list ap;
	assert_non_null(c);
	assert_int_equal(c->err, 0);
	va_start(ap, fmt);
	rep = redisvCommand(c, fmt, ap);
	va_end(ap);
	redisFree(c);
	assert_non_null(rep);
	return rep;
}

static long long raw_int(int port, const char *cmd, const char *key)
{
	redisReply *rep = raw(port, "%s %s", cmd, key);
	long long v;
	assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
	v = rep->integer;
	freeReplyObject(rep);
	return v;
}

static cd_redis *open_store(int port, const char *prefix, size_t max_reply)
{
	cd_redis_opts o;
	cd_redis_opts_default(&o);
	o.port = port;
	if (prefix)
		o.prefix = prefix;
	if (max_reply)
		o.max_reply_bytes = max_reply;
	return cd_test_store_open(&o);
}

static void commit_ok(cd_redis *r, int32_t p, int64_t token, const cd_redis_batch *b)
{
	cd_err err;
	int rc = cd_redis_commit(r, p, token, b, &err);
	if (rc != 0)
		fail_msg("commit: %d: %s", rc, err.msg);
}

/* Commits one citizen's record (a C string) and timer. */
static void put(cd_redis *r, int32_t p, int64_t token, const char *id, const char *rec, cd_instant next_fire)
{
	cd_redis_batch *b = cd_redis_batch_new();
	assert_non_null(b);
	assert_int_equal(cd_redis_batch_record(b, id, rec, strlen(rec), next_fire), 0);
	commit_ok(r, p, token, b);
	cd_redis_batch_free(b);
}

/* Loads one citizen: 1 and the record in out, or 0. */
static int get(cd_redis *r, int32_t p, const char *id, cd_buf *out)
{
	const char *ids[1] = { id };
	int found = -1;
	cd_err err;
	if (cd_redis_load(r, p, ids, 1, out, &found, &err) < 0)
		fail_msg("load: %s", err.msg);
	return found;
}

static size_t outbox_len(cd_redis *r, int32_t p)
{
	size_t n = 99;
	cd_err err;
	if (cd_redis_outbox_len(r, p, &n, &err) < 0)
		fail_msg("outbox_len: %s", err.msg);
	return n;
}

static int group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);   /* as the program does: a write to a dead server is an error, not a signal */
	memset(&srv, 0, sizeof(srv));
	return cd_test_redis_start(&srv);
}

static int group_teardown(void **state)
{
	(void)state;
	cd_test_redis_cleanup(&srv);
	return 0;
}

/* Every test starts with a running, empty server. */
static int setup(void **state)
{
	redisReply *rep;
	(void)state;
	if (!srv.pid && cd_test_redis_restart(&srv) < 0)
		return -1;
	rep = raw(srv.port, "FLUSHALL");
	freeReplyObject(rep);
	return 0;
}

/* ---- round trip ----------------------------------------------------------------------- */

static void test_a_commit_writes_records_timers_outbox_offsets_and_floor(void **state)
{
	cd_redis *r = open_store(srv.port, NULL, 0);
	cd_redis_batch *b = cd_redis_batch_new();
	const char *ids[3] = { "c1", "c2", "c3" };
	static const char rec1[] = { 'a', '\0', 'b', '\xff' };    /* records are bytes, NULs included */
	static const char entry1[] = { '\0', 'e', '1' };
	cd_buf recs[3], ent[4];
	int found[3];
	int64_t token, next;
	cd_instant floor;
	char **due = NULL;
	size_t n = 0;
	cd_err err;
	(void)state;

	for (int i = 0; i < 3; i++)
		cd_buf_init(&recs[i], 1 << 20);
	for (int i = 0; i < 4; i++)
		cd_buf_init(&ent[i], 1 << 20);
	token = cd_test_take(r, 3);
	assert_int_equal(token, 1);
	assert_true(cd_redis_batch_empty(b));
	assert_int_equal(cd_redis_batch_record(b, "c1", rec1, sizeof(rec1), T0 + 5 * MS + 999999), 0);
	assert_int_equal(cd_redis_batch_record(b, "c2", "r2", 2, CD_INSTANT_NONE), 0);
	assert_int_equal(cd_redis_batch_outbox(b, entry1, sizeof(entry1)), 0);
	assert_int_equal(cd_redis_batch_outbox(b, "e2", 2), 0);
	assert_int_equal(cd_redis_batch_offset(b, "contact.events.v1", 41), 0);
	assert_int_equal(cd_redis_batch_offset(b, "contact.ticks.v1", 7), 0);
	assert_int_equal(cd_redis_batch_offset(b, "contact.events.v1", 42), 0);   /* the last one counts */
	cd_redis_batch_floor(b, T0 + 123456789);
	assert_false(cd_redis_batch_empty(b));
	commit_ok(r, 3, token, b);

	assert_int_equal(cd_redis_load(r, 3, ids, 3, recs, found, &err), 0);
	assert_int_equal(found[0], 1);
	assert_int_equal(recs[0].len, sizeof(rec1));
	assert_memory_equal(recs[0].data, rec1, sizeof(rec1));
	assert_int_equal(found[1], 1);
	assert_string_equal(recs[1].data, "r2");
	assert_int_equal(found[2], 0);
	assert_int_equal(recs[2].len, 0);

	assert_int_equal(cd_redis_position(r, 3, "contact.events.v1", &next, &floor, &err), 0);
	assert_int_equal(next, 42);
	assert_int_equal(floor, T0 + 123456789);
	assert_int_equal(cd_redis_position(r, 3, "contact.ticks.v1", &next, &floor, &err), 0);
	assert_int_equal(next, 7);
	assert_int_equal(cd_redis_position(r, 3, "contact.other.v1", &next, &floor, &err), 0);
	assert_int_equal(next, -1);

	assert_int_equal(cd_redis_timers_due(r, 3, T0 + 10 * MS, 10, &due, &n, &err), 0);
	assert_int_equal(n, 1);                       /* c2 has no timer */
	assert_string_equal(due[0], "c1");
	cd_redis_free_ids(due, n);

	assert_int_equal(outbox_len(r, 3), 2);
	assert_int_equal(cd_redis_outbox_read(r, 3, 4, ent, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ent[0].len, sizeof(entry1));
	assert_memory_equal(ent[0].data, entry1, sizeof(entry1));
	assert_string_equal(ent[1].data, "e2");
	assert_int_equal(cd_redis_outbox_trim(r, 3, token, 1, &err), 0);
	assert_int_equal(cd_redis_outbox_read(r, 3, 4, ent, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ent[0].data, "e2");

	/* nothing leaked into another partition */
	assert_int_equal(outbox_len(r, 4), 0);
	assert_int_equal(get(r, 4, "c1", &recs[0]), 0);

	for (int i = 0; i < 3; i++)
		cd_buf_release(&recs[i]);
	for (int i = 0; i < 4; i++)
		cd_buf_release(&ent[i]);
	cd_redis_batch_free(b);
	cd_redis_free(r);
}

static void test_a_partition_never_committed_has_no_position(void **state)
{
	cd_redis *r = open_store(srv.port, NULL, 0);
	int64_t next = 5;
	cd_instant floor = 5;
	cd_err err;
	(void)state;
	assert_int_equal(cd_redis_position(r, 0, "contact.events.v1", &next, &floor, &err), 0);
	assert_int_equal(next, -1);
	assert_int_equal(floor, CD_INSTANT_NONE);
	cd_redis_free(r);
}

static void test_timer_scores_are_whole_milliseconds_rounded_down(void **state)
{
	cd_redis *r = open_store(srv.port, NULL, 0);
	int64_t token = cd_test_take(r, 1);
	redisReply *rep;
	(void)state;
	put(r, 1, token, "late", "x", T0 + 1999999);
	put(r, 1, token, "old", "x", -1);             /* before 1970: floor, not truncation */
	/* members are sealed ids (test_redis_keys.c): the scores, in order, are old's and late's */
	rep = raw(srv.port, "ZRANGE contactd:{p1}:timers 0 -1 WITHSCORES");
	assert_int_equal(rep->elements, 4);
	assert_string_equal(rep->element[1]->str, "-1");
	assert_string_equal(rep->element[3]->str, "1767222000001");
	freeReplyObject(rep);
	cd_redis_free(r);
}

static void test_a_record_without_a_timer_leaves_the_timer_index(void **state)
{
	cd_redis *r = open_store(srv.port, NULL, 0);
	int64_t token = cd_test_take(r, 1);
	char **due;
	size_t n;
	cd_err err;
	(void)state;
	put(r, 1, token, "c1", "a", T0);
	put(r, 1, token, "c1", "b", CD_INSTANT_NONE);
	assert_int_equal(cd_redis_timers_due(r, 1, T0 + 1000 * MS, 10, &due, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_null(due);
	cd_redis_free(r);
}

/* Retention: a deletion takes the record and its timer in the same commit, and only under the fence. */
static void test_a_deletion_removes_the_record_and_its_timer_in_the_commit(void **state)
{
	cd_redis *r = open_store(srv.port, NULL, 0);
	int64_t token = cd_test_take(r, 4), stale;
	cd_redis_batch *b = cd_redis_batch_new();
	cd_buf rec;
	char **due;
	size_t n;
	cd_err err;
	(void)state;
	cd_buf_init(&rec, 1 << 20);
	put(r, 4, token, "c1", "one", T0 + 10 * MS);
	put(r, 4, token, "c2", "two", T0 + 20 * MS);
	assert_non_null(b);
	assert_int_equal(cd_redis_batch_delete(b, "c1"), 0);
	assert_int_equal(cd_redis_batch_record(b, "c3", "three", 5, T0 + 30 * MS), 0);
	assert_int_equal(cd_redis_batch_delete(b, "c9"), 0);            /* never stored: nothing to delete */
	assert_int_equal(cd_redis_batch_offset(b, "contact.events.v1", 7), 0);
	commit_ok(r, 4, token, b);
	assert_int_equal(get(r, 4, "c1", &rec), 0);
	assert_int_equal(get(r, 4, "c2", &rec), 1);
	assert_int_equal(get(r, 4, "c3", &rec), 1);
	assert_int_equal(cd_redis_timers_due(r, 4, T0 + 1000 * MS, 10, &due, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(due[0], "c2");
	assert_string_equal(due[1], "c3");
	cd_redis_free_ids(due, n);
	cd_redis_batch_free(b);

	/* Under a superseded token a deletion changes nothing. */
	stale = token;
	token = cd_test_take(r, 4);
	assert_true(token != stale);
	b = cd_redis_batch_new();
	assert_int_equal(cd_redis_batch_delete(b, "c2"), 0);
	assert_int_equal(cd_redis_commit(r, 4, stale, b, &err), CD_REDIS_FENCED);
	assert_int_equal(get(r, 4, "c2", &rec), 1);
	assert_string_equal(rec.data, "two");
	assert_int_equal(cd_redis_timers_due(r, 4, T0 + 20 * MS, 10, &due, &n, &err), 0);
	assert_int_equal(n, 1);
	cd_redis_free_ids(due, n);
	cd_redis_batch_free(b);
	cd_buf_release(&rec);
	cd_redis_free(r);
}

static void test_due_timers_come_earliest_first_and_at_most_max(void **state)
{
	cd_redis *r = open_store(srv.port, NULL, 0);
	cd_redis_batch *b = cd_redis_batch_new();
	int64_t token = cd_test_take(r, 2);
	char **due;
	size_t n;
	cd_err err;
	(void)state;
	assert_int_equal(cd_redis_batch_record(b, "d", "r", 1, T0 + 40 * MS), 0);
	assert_int_equal(cd_redis_batch_record(b, "a", "r", 1, T0 + 30 * MS), 0);
	assert_int_equal(cd_redis_batch_record(b, "c", "r", 1, T0 + 10 * MS), 0);
	assert_int_equal(cd_redis_batch_record(b, "b", "r", 1, T0 + 20 * MS), 0);
	assert_int_equal(cd_redis_batch_record(b, "e", "r", 1, CD_INSTANT_NONE), 0);
	commit_ok(r, 2, token, b);

	assert_int_equal(cd_redis_timers_due(r, 2, T0 + 30 * MS, 2, &due, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(due[0], "c");
	assert_string_equal(due[1], "b");
	cd_redis_free_ids(due, n);

	/* an instant exactly at t is due; one millisecond later is not */
	assert_int_equal(cd_redis_timers_due(r, 2, T0 + 30 * MS, 10, &due, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(due[2], "a");
	cd_redis_free_ids(due, n);

	assert_int_equal(cd_redis_timers_due(r, 2, T0 + 10 * MS - 1, 10, &due, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(cd_redis_timers_due(r, 2, T0 + 40 * MS, 0, &due, &n, &err), 0);
	assert_int_equal(n, 0);
	cd_redis_batch_free(b);
	cd_redis_free(r);
}

/* The monitoring call: outbox depth and citizens due, in one round trip; the counters of the connection. */
static void test_gauges_count_the_outbox_and_the_due_timers_in_one_round_trip(void **state)
{
	cd_redis *r = open_store(srv.port, NULL, 0);
	cd_redis_batch *b = cd_redis_batch_new();
	int64_t token = cd_test_take(r, 3), outbox = -1, due = -1;
	cd_redis_stats before, after;
	cd_err err;
	(void)state;
	assert_int_equal(cd_redis_batch_record(b, "a", "r", 1, T0 + 10 * MS), 0);
	assert_int_equal(cd_redis_batch_record(b, "b", "r", 1, T0 + 20 * MS), 0);
	assert_int_equal(cd_redis_batch_record(b, "c", "r", 1, T0 + 30 * MS), 0);
	assert_int_equal(cd_redis_batch_outbox(b, "e1", 2), 0);
	assert_int_equal(cd_redis_batch_outbox(b, "e2", 2), 0);
	commit_ok(r, 3, token, b);

	cd_redis_stats_get(r, &before);
	assert_int_equal(cd_redis_gauges(r, 3, T0 + 20 * MS, &outbox, &due, &err), 0);
	cd_redis_stats_get(r, &after);
	assert_int_equal(outbox, 2);
	assert_int_equal(due, 2);                          /* a and b: due at or before t */
	assert_int_equal(after.round_trips, before.round_trips + 1);
	assert_int_equal(after.errors, before.errors);
	assert_int_equal(cd_redis_gauges(r, 7, T0 + 20 * MS, &outbox, &due, &err), 0);   /* a partition never used */
	assert_int_equal(outbox, 0);
	assert_int_equal(due, 0);

	/* a failure counts as an error; connecting again counts as a reconnect */
	assert_int_equal(cd_test_redis_stop(&srv), 0);
	assert_int_equal(cd_redis_gauges(r, 3, T0, &outbox, &due, &err), -1);
	assert_int_equal(err.retriable, 1);
	cd_redis_stats_get(r, &after);
	assert_true(after.errors > before.errors);
	assert_int_equal(cd_test_redis_restart(&srv), 0);
	assert_int_equal(cd_redis_connect(r, &err), 0);
	cd_redis_stats_get(r, &after);
	assert_int_equal(after.reconnects, before.reconnects + 1);
	cd_redis_batch_free(b);
	cd_redis_free(r);
}

/* ---- fencing and atomicity -------------------------------------------------------- */

static void test_a_superseded_token_cannot_commit_and_changes_nothing(void **state)
{
	cd_redis *old = open_store(srv.port, NULL, 0), *cur = open_store(srv.port, NULL, 0);
	cd_redis_batch *b = cd_redis_batch_new();
	int64_t t1, t2, next;
	cd_instant floor;
	cd_buf rec;
	cd_err err;
	(void)state;

	cd_buf_init(&rec, 1 << 20);
	t1 = cd_test_take(old, 5);
	put(old, 5, t1, "c1", "v1", T0);
	t2 = cd_test_take(cur, 5);
	assert_true(t2 > t1);

	assert_int_equal(cd_redis_batch_record(b, "c1", "v2", 2, T0 + 99 * MS), 0);
	assert_int_equal(cd_redis_batch_record(b, "c9", "new", 3, T0), 0);
	assert_int_equal(cd_redis_batch_outbox(b, "out", 3), 0);
	assert_int_equal(cd_redis_batch_offset(b, "contact.events.v1", 20), 0);
	cd_redis_batch_floor(b, T0);
	assert_int_equal(cd_redis_commit(old, 5, t1, b, &err), CD_REDIS_FENCED);
	assert_int_equal(err.retriable, 0);
	assert_non_null(strstr(err.msg, "fenced"));

	assert_int_equal(get(cur, 5, "c1", &rec), 1);
	assert_string_equal(rec.data, "v1");
	assert_int_equal(get(cur, 5, "c9", &rec), 0);
	assert_int_equal(outbox_len(cur, 5), 0);
	assert_int_equal(cd_redis_position(cur, 5, "contact.events.v1", &next, &floor, &err), 0);
	assert_int_equal(next, -1);
	assert_int_equal(floor, CD_INSTANT_NONE);
	assert_int_equal(raw_int(srv.port, "ZCARD", "contactd:{p5}:timers"), 1);

	/* the holder of the current token writes the same batch */
	commit_ok(cur, 5, t2, b);
	assert_int_equal(get(cur, 5, "c9", &rec), 1);
	/* a partition nobody has taken refuses every token */
	assert_int_equal(cd_redis_commit(cur, 6, 1, b, &err), CD_REDIS_FENCED);

	cd_buf_release(&rec);
	cd_redis_batch_free(b);
	cd_redis_free(old);
	cd_redis_free(cur);
}

static void test_a_superseded_token_cannot_trim_the_outbox(void **state)
{
	cd_redis *old = open_store(srv.port, NULL, 0), *cur = open_store(srv.port, NULL, 0);
	cd_redis_batch *b = cd_redis_batch_new();
	int64_t t1, t2;
	cd_err err;
	(void)state;

	t1 = cd_test_take(old, 5);
	assert_int_equal(cd_redis_batch_outbox(b, "o1", 2), 0);
	assert_int_equal(cd_redis_batch_outbox(b, "o2", 2), 0);
	commit_ok(old, 5, t1, b);
	t2 = cd_test_take(cur, 5);
	assert_int_equal(cd_redis_outbox_trim(old, 5, t1, 2, &err), CD_REDIS_FENCED);
	assert_int_equal(err.retriable, 0);
	assert_int_equal(outbox_len(cur, 5), 2);
	assert_int_equal(cd_redis_outbox_trim(cur, 5, t2, 2, &err), 0);
	assert_int_equal(outbox_len(cur, 5), 0);
	cd_redis_batch_free(b);
	cd_redis_free(old);
	cd_redis_free(cur);
}

static void test_a_commit_that_cannot_complete_writes_nothing(void **state)
{
	cd_redis *r = open_store(srv.port, NULL, 0);
	cd_redis_batch *b = cd_redis_batch_new();
	int64_t token = cd_test_take(r, 8), next;
	cd_instant floor;
	redisReply *rep;
	cd_buf rec;
	cd_err err;
	(void)state;

	cd_buf_init(&rec, 1 << 20);
	/* the outbox key holds a string: its RPUSH, late in the script, would fail */
	rep = raw(srv.port, "SET contactd:{p8}:outbox not-a-list");
	freeReplyObject(rep);
	assert_int_equal(cd_redis_batch_record(b, "c1", "v1", 2, T0), 0);
	assert_int_equal(cd_redis_batch_outbox(b, "o", 1), 0);
	assert_int_equal(cd_redis_batch_offset(b, "contact.events.v1", 3), 0);
	assert_int_equal(cd_redis_commit(r, 8, token, b, &err), -1);
	assert_int_equal(err.retriable, 0);
	assert_non_null(strstr(err.msg, "WRONGTYPE"));

	assert_int_equal(get(r, 8, "c1", &rec), 0);
	assert_int_equal(raw_int(srv.port, "EXISTS", "contactd:{p8}:timers"), 0);
	assert_int_equal(cd_redis_position(r, 8, "contact.events.v1", &next, &floor, &err), 0);
	assert_int_equal(next, -1);
	cd_buf_release(&rec);
	cd_redis_batch_free(b);
	cd_redis_free(r);
}

/* ---- hashes (the aggregate stage's state) --------------------------------------------- */

typedef struct fields {
	char f[16][64], v[16][64];
	size_t n;
} fields;

static int collect_field(void *ctx, const char *f, size_t fl, const char *v, size_t vl, cd_err *err)
{
	fields *x = ctx;
	(void)err;
	assert_true(x->n < 16 && fl < 64 && vl < 64);
	memcpy(x->f[x->n], f, fl);
	x->f[x->n][fl] = '\0';
	memcpy(x->v[x->n], v, vl);
	x->v[x->n][vl] = '\0';
	x->n++;
	return 0;
}

static const char *field_of(const fields *x, const char *f)
{
	for (size_t i = 0; i < x->n; i++)
		if (!strcmp(x->f[i], f))
			return x->v[i];
	return NULL;
}

/*
 * The stage's commit: HSETs and HDELs on its hashes, meta fields and the outbox, in one
 * fenced call under its own tag ({a3}, never the citizens' {p3}); read back with HSCAN
 * and HGET. A hash key holding another type fails the commit before any write.
 */
static void test_hash_operations_commit_with_the_rest_under_the_stage_tag(void **state)
{
	cd_redis_opts o;
	cd_redis *r;
	cd_redis_batch *b = cd_redis_batch_new();
	fields got;
	int64_t token, v;
	int found;
	cd_err err;
	redisReply *rep;
	(void)state;
	cd_redis_opts_default(&o);
	o.port = srv.port;
	o.tag = 'a';
	r = cd_redis_new(&o);
	assert_non_null(r);
	assert_int_equal(cd_redis_connect(r, &err), 0);
	token = cd_test_take(r, 3);
	assert_int_equal(raw_int(srv.port, "EXISTS", "contactd:{a3}:meta"), 1);
	assert_int_equal(raw_int(srv.port, "EXISTS", "contactd:{p3}:meta"), 0);

	assert_int_equal(cd_redis_batch_hset(b, "members", "m1", 2, "one", 3), 0);
	assert_int_equal(cd_redis_batch_hset(b, "members", "m2", 2, "two", 3), 0);
	assert_int_equal(cd_redis_batch_hset(b, "cohorts", "c\0x", 3, "st", 2), 0);
	assert_int_equal(cd_redis_batch_meta(b, "src:7", "12 34"), 0);
	assert_int_equal(cd_redis_batch_outbox(b, "e", 1), 0);
	assert_int_equal(cd_redis_batch_offset(b, "contact.members.v1", 9), 0);
	assert_int_equal(cd_redis_batch_empty(b), 0);
	commit_ok(r, 3, token, b);
	cd_redis_batch_clear(b);
	assert_int_equal(cd_redis_batch_empty(b), 1);
	assert_int_equal(cd_redis_batch_hdel(b, "members", "m1", 2), 0);
	assert_int_equal(cd_redis_batch_hset(b, "members", "m2", 2, "TWO", 3), 0);
	commit_ok(r, 3, token, b);

	memset(&got, 0, sizeof(got));
	assert_int_equal(cd_redis_hash_scan(r, 3, "members", collect_field, &got, &err), 0);
	assert_int_equal(got.n, 1);
	assert_string_equal(field_of(&got, "m2"), "TWO");
	memset(&got, 0, sizeof(got));
	assert_int_equal(cd_redis_hash_scan(r, 3, "meta", collect_field, &got, &err), 0);
	assert_string_equal(field_of(&got, "src:7"), "12 34");
	assert_string_equal(field_of(&got, "off:contact.members.v1"), "9");
	assert_int_equal(raw_int(srv.port, "HLEN", "contactd:{a3}:cohorts"), 1);
	assert_int_equal(outbox_len(r, 3), 1);
	assert_int_equal(cd_redis_meta_get(r, 3, "fence", &v, &found, &err), 0);
	assert_int_equal(found, 1);
	assert_int_equal(v, token);
	assert_int_equal(cd_redis_meta_get(r, 3, "nothing", &v, &found, &err), 0);
	assert_int_equal(found, 0);

	/* a hash key of another type: nothing of the batch is written */
	rep = raw(srv.port, "SET contactd:{a3}:pending not-a-hash");
	freeReplyObject(rep);
	cd_redis_batch_clear(b);
	assert_int_equal(cd_redis_batch_hset(b, "members", "m3", 2, "three", 5), 0);
	assert_int_equal(cd_redis_batch_hset(b, "pending", "p", 1, "x", 1), 0);
	assert_int_equal(cd_redis_commit(r, 3, token, b, &err), -1);
	assert_non_null(strstr(err.msg, "WRONGTYPE"));
	assert_int_equal(raw_int(srv.port, "HLEN", "contactd:{a3}:members"), 1);
	/* and a superseded token cannot write them either */
	rep = raw(srv.port, "DEL contactd:{a3}:pending");
	freeReplyObject(rep);
	cd_test_take(r, 3);
	assert_int_equal(cd_redis_commit(r, 3, token, b, &err), CD_REDIS_FENCED);
	assert_int_equal(raw_int(srv.port, "HLEN", "contactd:{a3}:members"), 1);
	cd_redis_batch_free(b);
	cd_redis_free(r);
}

static void test_a_commit_after_the_script_cache_was_flushed_reloads_the_script(void **state)
{
	cd_redis *r = open_store(srv.port, NULL, 0);
	int64_t token = cd_test_take(r, 1);
	cd_redis_batch *b = cd_redis_batch_new();
	redisReply *rep;
	cd_buf rec;
	cd_err err;
	(void)state;

	cd_buf_init(&rec, 1 << 20);
	rep = raw(srv.port, "SCRIPT FLUSH");
	freeReplyObject(rep);
	put(r, 1, token, "c1", "after flush", T0);
	assert_int_equal(get(r, 1, "c1", &rec), 1);
	assert_string_equal(rec.data, "after flush");

	assert_int_equal(cd_redis_batch_outbox(b, "o", 1), 0);
	commit_ok(r, 1, token, b);
	rep = raw(srv.port, "SCRIPT FLUSH");
	freeReplyObject(rep);
	assert_int_equal(cd_redis_outbox_trim(r, 1, token, 1, &err), 0);
	assert_int_equal(outbox_len(r, 1), 0);
	cd_buf_release(&rec);
	cd_redis_batch_free(b);
	cd_redis_free(r);
}

/*
 * Commits and trims sent ahead of their replies (the loop sends a turn's writes
 * together): the replies come back in sending order, each saying what happened
 * to its own call (a fenced one in the middle changes nothing and stops no other),
 * and while replies are owed no other command may go on the connection.
 */
static void test_sent_commits_and_trims_reply_in_order_each_for_itself(void **state)
{
	cd_redis *w = open_store(srv.port, NULL, 0), *r = open_store(srv.port, NULL, 0);
	cd_redis_batch *b1 = cd_redis_batch_new(), *b2 = cd_redis_batch_new(), *b3 = cd_redis_batch_new();
	int64_t t1 = cd_test_take(r, 1), t2 = cd_test_take(r, 2), t3, next;
	cd_instant floor;
	cd_buf rec;
	cd_err err;
	(void)state;

	cd_buf_init(&rec, 1 << 20);
	assert_int_equal(cd_redis_batch_record(b1, "c1", "one", 3, T0), 0);
	assert_int_equal(cd_redis_batch_outbox(b1, "o1", 2), 0);
	assert_int_equal(cd_redis_batch_outbox(b1, "o2", 2), 0);
	assert_int_equal(cd_redis_batch_offset(b1, "contact.events.v1", 11), 0);
	assert_int_equal(cd_redis_batch_record(b2, "c2", "two", 3, T0), 0);
	assert_int_equal(cd_redis_batch_offset(b2, "contact.events.v1", 22), 0);
	assert_int_equal(cd_redis_batch_record(b3, "c3", "three", 5, T0), 0);
	assert_int_equal(cd_redis_batch_offset(b3, "contact.events.v1", 33), 0);

	/* partition 2 is taken by another holder before its commit goes: that one is fenced */
	t3 = cd_test_take(r, 2);
	assert_true(t3 > t2);
	assert_int_equal(cd_redis_commit_send(w, 1, t1, b1, &err), 0);
	assert_int_equal(cd_redis_commit_send(w, 2, t2, b2, &err), 0);
	assert_int_equal(cd_redis_trim_send(w, 1, t1, 1, &err), 0);
	assert_int_equal(cd_redis_commit_send(w, 3, 1, b3, &err), 0);    /* partition 3: never taken */
	assert_int_equal(cd_redis_unread(w), 4);
	/* a command of its own would read a commit's reply: refused, nothing lost */
	assert_int_equal(cd_redis_outbox_len(w, 1, &(size_t){ 0 }, &err), -1);
	assert_non_null(strstr(err.msg, "still to be read"));

	assert_int_equal(cd_redis_sent_recv(w, 1, t1, "commit", &err), 0);
	assert_int_equal(cd_redis_sent_recv(w, 2, t2, "commit", &err), CD_REDIS_FENCED);
	assert_non_null(strstr(err.msg, "partition 2 commit: fenced"));
	assert_int_equal(cd_redis_sent_recv(w, 1, t1, "outbox trim", &err), 0);
	assert_int_equal(cd_redis_sent_recv(w, 3, 1, "commit", &err), CD_REDIS_FENCED);
	assert_int_equal(cd_redis_unread(w), 0);
	assert_int_equal(cd_redis_sent_recv(w, 3, 1, "commit", &err), -1);   /* none owed */

	assert_int_equal(get(r, 1, "c1", &rec), 1);
	assert_string_equal(rec.data, "one");
	assert_int_equal(outbox_len(r, 1), 1);                              /* o1 trimmed, o2 left */
	assert_int_equal(cd_redis_position(r, 1, "contact.events.v1", &next, &floor, &err), 0);
	assert_int_equal(next, 11);
	assert_int_equal(get(r, 2, "c2", &rec), 0);
	assert_int_equal(cd_redis_position(r, 2, "contact.events.v1", &next, &floor, &err), 0);
	assert_int_equal(next, -1);
	/* the connection is usable again */
	assert_int_equal(outbox_len(w, 1), 1);

	cd_buf_release(&rec);
	cd_redis_batch_free(b1);
	cd_redis_batch_free(b2);
	cd_redis_batch_free(b3);
	cd_redis_free(w);
	cd_redis_free(r);
}

/*
 * A sent commit whose script the server no longer has (SCRIPT FLUSH, a failover)
 * did not happen: a retriable error, and the connection is closed so that
 * connecting again loads the scripts; the commit then goes through.
 */
static void test_a_sent_commit_after_the_script_cache_was_flushed_is_retriable(void **state)
{
	cd_redis *w = open_store(srv.port, NULL, 0), *r = open_store(srv.port, NULL, 0);
	cd_redis_batch *b = cd_redis_batch_new();
	int64_t t = cd_test_take(r, 4);
	redisReply *rep;
	cd_buf rec;
	cd_err err;
	(void)state;

	cd_buf_init(&rec, 1 << 20);
	assert_int_equal(cd_redis_batch_record(b, "c1", "v", 1, T0), 0);
	rep = raw(srv.port, "SCRIPT FLUSH");
	freeReplyObject(rep);
	assert_int_equal(cd_redis_commit_send(w, 4, t, b, &err), 0);
	assert_int_equal(cd_redis_sent_recv(w, 4, t, "commit", &err), -1);
	assert_int_equal(err.retriable, 1);
	assert_non_null(strstr(err.msg, "NOSCRIPT"));
	assert_false(cd_redis_connected(w));
	assert_int_equal(get(r, 4, "c1", &rec), 0);
	if (cd_redis_connect(w, &err) < 0)
		fail_msg("connect: %s", err.msg);
	assert_int_equal(cd_redis_commit_send(w, 4, t, b, &err), 0);
	assert_int_equal(cd_redis_sent_recv(w, 4, t, "commit", &err), 0);
	assert_int_equal(get(r, 4, "c1", &rec), 1);
	cd_buf_release(&rec);
	cd_redis_batch_free(b);
	cd_redis_free(w);
	cd_redis_free(r);
}

/* A server that goes away while replies are owed: a retriable error, and none is owed any more. */
static void test_replies_owed_when_the_server_dies_are_a_retriable_error(void **state)
{
	cd_redis *w = open_store(srv.port, NULL, 0);
	cd_redis_batch *b = cd_redis_batch_new();
	int64_t t = cd_test_take(w, 7);
	cd_err err;
	(void)state;

	assert_int_equal(cd_redis_batch_record(b, "c1", "v", 1, T0), 0);
	cd_test_redis_kill(&srv);
	/* the send may still reach the socket's buffer; the reply cannot come */
	if (cd_redis_commit_send(w, 7, t, b, &err) == 0)
		assert_int_equal(cd_redis_sent_recv(w, 7, t, "commit", &err), -1);
	assert_int_equal(err.retriable, 1);
	assert_int_equal(cd_redis_unread(w), 0);
	assert_false(cd_redis_connected(w));
	cd_redis_batch_free(b);
	cd_redis_free(w);
}

static void test_a_batch_of_5000_records_commits_in_one_call(void **state)
{
	enum { N = 5000 };
	cd_redis *r = open_store(srv.port, NULL, 0);
	cd_redis_batch *b = cd_redis_batch_new();
	int64_t token = cd_test_take(r, 9);
	char id[32], body[200];
	char **due;
	size_t n;
	cd_buf rec;
	cd_err err;
	(void)state;

	cd_buf_init(&rec, 1 << 20);
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "citizen-%05d", i);
		memset(body, 'a' + i % 26, sizeof(body));
		assert_int_equal(cd_redis_batch_record(b, id, body, sizeof(body), T0 + (int64_t)i * MS), 0);
		assert_int_equal(cd_redis_batch_outbox(b, id, strlen(id)), 0);
	}
	assert_int_equal(cd_redis_batch_offset(b, "contact.events.v1", N), 0);
	commit_ok(r, 9, token, b);

	assert_int_equal(outbox_len(r, 9), N);
	assert_int_equal(raw_int(srv.port, "ZCARD", "contactd:{p9}:timers"), N);
	assert_int_equal(get(r, 9, "citizen-04999", &rec), 1);
	assert_int_equal(rec.len, sizeof(body));
	assert_int_equal(rec.data[0], 'a' + 4999 % 26);
	assert_int_equal(cd_redis_timers_due(r, 9, T0 + (N - 1) * MS, 2 * N, &due, &n, &err), 0);
	assert_int_equal(n, N);
	assert_string_equal(due[0], "citizen-00000");
	assert_string_equal(due[N - 1], "citizen-04999");
	cd_redis_free_ids(due, n);
	cd_buf_release(&rec);
	cd_redis_batch_free(b);
	cd_redis_free(r);
}

static void test_a_cleared_batch_is_empty_and_reusable(void **state)
{
	cd_redis *r = open_store(srv.port, NULL, 0);
	cd_redis_batch *b = cd_redis_batch_new();
	int64_t token = cd_test_take(r, 1), next;
	cd_instant floor;
	cd_buf rec;
	cd_err err;
	(void)state;

	cd_buf_init(&rec, 1 << 20);
	assert_int_equal(cd_redis_batch_record(b, "gone", "x", 1, T0), 0);
	assert_int_equal(cd_redis_batch_outbox(b, "gone", 4), 0);
	assert_int_equal(cd_redis_batch_offset(b, "contact.events.v1", 99), 0);
	cd_redis_batch_floor(b, T0);
	cd_redis_batch_clear(b);
	assert_true(cd_redis_batch_empty(b));
	assert_int_equal(cd_redis_batch_record(b, "kept", "y", 1, CD_INSTANT_NONE), 0);
	commit_ok(r, 1, token, b);
	assert_int_equal(get(r, 1, "gone", &rec), 0);
	assert_int_equal(get(r, 1, "kept", &rec), 1);
	assert_int_equal(outbox_len(r, 1), 0);
	assert_int_equal(cd_redis_position(r, 1, "contact.events.v1", &next, &floor, &err), 0);
	assert_int_equal(next, -1);
	assert_int_equal(floor, CD_INSTANT_NONE);
	cd_buf_release(&rec);
	cd_redis_batch_free(b);
	cd_redis_free(r);
}

/* ---- failures --------------------------------------------------------------------------- */

static void test_committed_state_survives_a_redis_restart_and_the_client_reconnects(void **state)
{
	cd_redis *r = open_store(srv.port, NULL, 0);
	int64_t token = cd_test_take(r, 4), again;
	cd_buf rec;
	cd_err err;
	(void)state;

	cd_buf_init(&rec, 1 << 20);
	put(r, 4, token, "c1", "before restart", T0);
	assert_int_equal(cd_test_redis_stop(&srv), 0);
	assert_int_equal(cd_test_redis_restart(&srv), 0);

	/* the old connection is gone: a retriable error, then "not connected" until connect */
	assert_int_equal(cd_redis_fence_acquire(r, 4, &again, &err), -1);
	assert_int_equal(err.retriable, 1);
	assert_int_equal(cd_redis_fence_acquire(r, 4, &again, &err), -1);
	assert_int_equal(err.retriable, 1);
	assert_non_null(strstr(err.msg, "not connected"));
	assert_int_equal(cd_redis_connect(r, &err), 0);

	assert_int_equal(get(r, 4, "c1", &rec), 1);
	assert_string_equal(rec.data, "before restart");
	put(r, 4, token, "c1", "after restart", T0);   /* the fence survived too */

	/* a crash (SIGKILL) keeps what was acknowledged: appendfsync always */
	assert_int_equal(cd_test_redis_kill(&srv), 0);
	assert_int_equal(cd_test_redis_restart(&srv), 0);
	assert_int_equal(cd_redis_connect(r, &err), 0);
	assert_int_equal(get(r, 4, "c1", &rec), 1);
	assert_string_equal(rec.data, "after restart");
	cd_buf_release(&rec);
	cd_redis_free(r);
}

static void test_redis_down_is_a_retriable_error_not_a_crash(void **state)
{
	cd_redis *r = open_store(srv.port, NULL, 0);
	cd_redis_batch *b = cd_redis_batch_new();
	int64_t token = cd_test_take(r, 1);
	char **due;
	size_t n;
	cd_err err;
	(void)state;

	assert_int_equal(cd_redis_batch_record(b, "c1", "v", 1, T0), 0);
	assert_int_equal(cd_test_redis_kill(&srv), 0);
	assert_int_equal(cd_redis_commit(r, 1, token, b, &err), -1);
	assert_int_equal(err.retriable, 1);
	assert_int_equal(cd_redis_timers_due(r, 1, T0, 10, &due, &n, &err), -1);
	assert_int_equal(err.retriable, 1);
	assert_int_equal(cd_redis_connect(r, &err), -1);
	assert_int_equal(err.retriable, 1);
	assert_non_null(strstr(err.msg, "connection refused"));
	assert_int_equal(cd_redis_commit(r, 1, token, b, &err), -1);
	assert_int_equal(err.retriable, 1);

	assert_int_equal(cd_test_redis_restart(&srv), 0);
	assert_int_equal(cd_redis_connect(r, &err), 0);
	commit_ok(r, 1, token, b);
	cd_redis_batch_free(b);
	cd_redis_free(r);
}

static cd_redis *store_as(int port, const char *user, const char *password)
{
	cd_redis_opts o;
	cd_redis_opts_default(&o);
	o.port = port;
	o.user = user;
	o.password = password;
	return cd_redis_new(&o);
}

static void test_a_wrong_password_is_a_final_error_and_acl_users_work(void **state)
{
	/* the ACL user of ops/redis.conf */
	static const char *const extra[] = {
		"--requirepass", "s3cret",
		"--user", "contactd", "on", ">pw2", "~contactd:*", "-@all", "+@read", "+@write", "+@scripting",
		"+ping", "+select",
		NULL,
	};
	cd_test_redis sec;
	cd_redis *r;
	cd_redis_batch *b = cd_redis_batch_new();
	cd_buf rec;
	cd_err err;
	(void)state;

	memset(&sec, 0, sizeof(sec));
	sec.extra = extra;
	assert_int_equal(cd_test_redis_start(&sec), 0);
	cd_buf_init(&rec, 1 << 20);

	r = store_as(sec.port, NULL, "hunter2-not-it");
	assert_int_equal(cd_redis_connect(r, &err), -1);
	assert_int_equal(err.retriable, 0);
	assert_non_null(strstr(err.msg, "AUTH"));
	assert_null(strstr(err.msg, "hunter2"));      /* the password is never in a message */
	cd_redis_free(r);

	r = store_as(sec.port, "contactd", "s3cret");
	assert_int_equal(cd_redis_connect(r, &err), -1);
	assert_int_equal(err.retriable, 0);
	assert_non_null(strstr(err.msg, "'contactd'"));
	cd_redis_free(r);

	r = store_as(sec.port, NULL, NULL);         /* none at all */
	assert_int_equal(cd_redis_connect(r, &err), -1);
	assert_int_equal(err.retriable, 0);
	assert_non_null(strstr(err.msg, "NOAUTH"));
	cd_redis_free(r);

	r = store_as(sec.port, NULL, "s3cret");     /* the default user */
	assert_int_equal(cd_redis_connect(r, &err), 0);
	cd_redis_free(r);

	r = store_as(sec.port, "contactd", "pw2");  /* everything the store does, as the ACL user */
	assert_int_equal(cd_redis_connect(r, &err), 0);
	assert_int_equal(cd_redis_batch_record(b, "c1", "v", 1, T0), 0);
	commit_ok(r, 1, cd_test_take(r, 1), b);
	assert_int_equal(get(r, 1, "c1", &rec), 1);
	assert_int_equal(cd_redis_reset_partition(r, 1, &err), 0);
	assert_int_equal(get(r, 1, "c1", &rec), 0);
	cd_redis_free(r);

	cd_buf_release(&rec);
	cd_redis_batch_free(b);
	cd_test_redis_cleanup(&sec);
}

static void test_a_reply_over_max_reply_bytes_fails_without_reading_it(void **state)
{
	enum { MAX = 30000, BIG = 100000, ENTRIES = 20000 };
	cd_redis *r = open_store(srv.port, NULL, MAX);
	cd_redis_batch *b = cd_redis_batch_new();
	int64_t token = cd_test_take(r, 1);
	char *big = malloc(BIG);
	cd_buf rec, ent[1];
	size_t n;
	cd_err err;
	(void)state;

	assert_non_null(big);
	memset(big, 'x', BIG);
	cd_buf_init(&rec, 1 << 20);
	cd_buf_init(&ent[0], 1 << 20);
	assert_int_equal(cd_redis_batch_record(b, "big", big, BIG, CD_INSTANT_NONE), 0);
	assert_int_equal(cd_redis_batch_record(b, "small", "s", 1, CD_INSTANT_NONE), 0);
	commit_ok(r, 1, token, b);               /* sending is not bounded; the reply is small */

	/* a large string */
	{
		const char *ids[1] = { "big" };
		int found;
		assert_int_equal(cd_redis_load(r, 1, ids, 1, &rec, &found, &err), -1);
		assert_int_equal(err.retriable, 0);
		assert_non_null(strstr(err.msg, "max_reply_bytes"));
	}
	/* the connection was dropped mid-reply: reconnect, and small replies still work */
	assert_int_equal(cd_redis_outbox_len(r, 1, &n, &err), -1);
	assert_int_equal(err.retriable, 1);
	assert_int_equal(cd_redis_connect(r, &err), 0);
	assert_int_equal(get(r, 1, "small", &rec), 1);

	/* an array announcing more elements than MAX bytes could hold: refused at its header */
	cd_redis_batch_clear(b);
	for (int i = 0; i < ENTRIES; i++)
		assert_int_equal(cd_redis_batch_outbox(b, "", 0), 0);
	commit_ok(r, 1, token, b);
	{
		cd_buf *many = calloc(ENTRIES, sizeof(*many));
		assert_non_null(many);
		for (int i = 0; i < ENTRIES; i++)
			cd_buf_init(&many[i], 16);
		assert_int_equal(cd_redis_outbox_read(r, 1, ENTRIES, many, &n, &err), -1);
		assert_int_equal(err.retriable, 0);
		assert_non_null(strstr(err.msg, "max_reply_bytes"));
		for (int i = 0; i < ENTRIES; i++)
			cd_buf_release(&many[i]);
		free(many);
	}
	assert_int_equal(cd_redis_connect(r, &err), 0);
	assert_int_equal(cd_redis_outbox_read(r, 1, 1, ent, &n, &err), 0);
	assert_int_equal(n, 1);

	free(big);
	cd_buf_release(&rec);
	cd_buf_release(&ent[0]);
	cd_redis_batch_free(b);
	cd_redis_free(r);
}

/* ---- keys ------------------------------------------------------------------------------- */

static void test_reset_removes_every_key_of_its_partition_and_no_other(void **state)
{
	enum { N = 2500 };              /* several SCAN pages */
	cd_redis *r = open_store(srv.port, NULL, 0), *other = open_store(srv.port, "other", 0);
	cd_redis_batch *b = cd_redis_batch_new();
	static const int32_t parts[] = { 1, 10, 2 };
	redisReply *rep;
	char id[32];
	cd_err err;
	(void)state;

	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "c%d", i);
		assert_int_equal(cd_redis_batch_record(b, id, "r", 1, T0), 0);
	}
	assert_int_equal(cd_redis_batch_outbox(b, "o", 1), 0);
	assert_int_equal(cd_redis_batch_offset(b, "contact.events.v1", 1), 0);
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		commit_ok(r, parts[i], cd_test_take(r, parts[i]), b);
	commit_ok(other, 1, cd_test_take(other, 1), b);

	assert_int_equal(cd_redis_reset_partition(r, 1, &err), 0);
	rep = raw(srv.port, "KEYS contactd:{p1}:*");
	assert_int_equal(rep->elements, 0);
	freeReplyObject(rep);
	rep = raw(srv.port, "KEYS contactd:{p10}:*");
	assert_int_equal(rep->elements, N + 3);      /* citizens, meta, timers, outbox */
	freeReplyObject(rep);
	rep = raw(srv.port, "KEYS contactd:{p2}:*");
	assert_int_equal(rep->elements, N + 3);
	freeReplyObject(rep);
	rep = raw(srv.port, "KEYS other:{p1}:*");
	assert_int_equal(rep->elements, N + 3);
	freeReplyObject(rep);

	cd_redis_batch_free(b);
	cd_redis_free(r);
	cd_redis_free(other);
}

static void test_all_keys_of_one_partition_hash_to_one_cluster_slot(void **state)
{
	/* the cluster bus defaults to port + 10000, which may not exist: choose it */
	char bus[16];
	const char *const extra[] = { "--cluster-enabled", "yes", "--cluster-port", bus, NULL };
	cd_test_redis cl;
	cd_redis *r = open_store(srv.port, NULL, 0);
	cd_redis_batch *b = cd_redis_batch_new();
	long long slot[2] = { -1, -1 };
	(void)state;

	snprintf(bus, sizeof(bus), "%d", cd_test_redis_free_port());
	memset(&cl, 0, sizeof(cl));
	cl.extra = extra;
	assert_int_equal(cd_test_redis_start(&cl), 0);
	assert_int_equal(cd_redis_batch_record(b, "c1", "r", 1, T0), 0);
	assert_int_equal(cd_redis_batch_record(b, "other-citizen", "r", 1, T0), 0);
	assert_int_equal(cd_redis_batch_outbox(b, "o", 1), 0);
	for (int32_t p = 7; p <= 8; p++) {
		char pattern[32];
		redisReply *keys;
		commit_ok(r, p, cd_test_take(r, p), b);
		snprintf(pattern, sizeof(pattern), "contactd:{p%d}:*", (int)p);
		keys = raw(srv.port, "KEYS %s", pattern);
		assert_int_equal(keys->elements, 5);     /* two citizens, meta, timers, outbox */
		for (size_t i = 0; i < keys->elements; i++) {
			redisReply *s = raw(cl.port, "CLUSTER KEYSLOT %b", keys->element[i]->str, keys->element[i]->len);
			assert_int_equal(s->type, REDIS_REPLY_INTEGER);
			if (i == 0)
				slot[p - 7] = s->integer;
			assert_int_equal(s->integer, slot[p - 7]);
			freeReplyObject(s);
		}
		freeReplyObject(keys);
	}
	assert_true(slot[0] != slot[1]);                 /* partitions can spread over a cluster */
	cd_test_redis_cleanup(&cl);
	cd_redis_batch_free(b);
	cd_redis_free(r);
}

/*
 * Pointed at a Cluster node, contactd reads the slot map and sends a
 * partition's commands to the master of its slot. A user whom the ACL denies
 * CLUSTER SLOTS (an ACL written before) is taken for a standalone Redis: the
 * MOVED reply is then a final error that says what is wrong, never something
 * retried forever in silence. (test_redis_cluster.c follows a cluster further.)
 */
static void test_a_cluster_node_is_followed_unless_it_hides_its_slot_map(void **state)
{
	char bus[2][16];
	const char *const extra0[] = { "--cluster-enabled", "yes", "--cluster-port", bus[0], NULL };
	const char *const extra1[] = { "--cluster-enabled", "yes", "--cluster-port", bus[1], NULL };
	cd_test_redis a, b;
	cd_redis_opts o;
	cd_redis_stats st;
	cd_redis *r;
	redisReply *rep;
	int32_t p;
	int64_t token;
	cd_err err;
	(void)state;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	snprintf(bus[0], sizeof(bus[0]), "%d", cd_test_redis_free_port());
	snprintf(bus[1], sizeof(bus[1]), "%d", cd_test_redis_free_port());
	a.extra = extra0;
	b.extra = extra1;
	assert_int_equal(cd_test_redis_start(&a), 0);
	assert_int_equal(cd_test_redis_start(&b), 0);
	freeReplyObject(raw(a.port, "CLUSTER ADDSLOTSRANGE 0 8191"));
	freeReplyObject(raw(b.port, "CLUSTER ADDSLOTSRANGE 8192 16383"));
	freeReplyObject(raw(a.port, "CLUSTER MEET 127.0.0.1 %d %s", b.port, bus[1]));
	for (int i = 0; i < 400; i++) {          /* until a knows who serves b's slots, and says so */
		int ok;
		rep = raw(a.port, "CLUSTER INFO");
		ok = rep->type == REDIS_REPLY_STRING && strstr(rep->str, "cluster_state:ok") != NULL;
		freeReplyObject(rep);
		if (ok)
			break;
		usleep(50000);
	}
	/* a partition whose meta key lives on b */
	for (p = 0;; p++) {
		rep = raw(a.port, "CLUSTER KEYSLOT contactd:{p%d}:meta", (int)p);
		if (rep->integer >= 8192) {
			freeReplyObject(rep);
			break;
		}
		freeReplyObject(rep);
	}
	freeReplyObject(raw(a.port, "ACL SETUSER nomap on >pw ~* +@all -cluster"));
	cd_redis_opts_default(&o);
	o.port = a.port;
	o.user = "nomap";
	o.password = "pw";
	r = cd_redis_new(&o);
	assert_non_null(r);
	assert_int_equal(cd_redis_connect(r, &err), 0);
	assert_int_equal(cd_redis_fence_acquire(r, p, &token, &err), -1);
	assert_false(err.retriable);
	assert_non_null(strstr(err.msg, "MOVED"));
	assert_non_null(strstr(err.msg, "did not say so to CLUSTER SLOTS"));
	assert_true(cd_redis_connected(r));      /* an error reply: the connection is still good */
	cd_redis_free(r);

	r = open_store(a.port, NULL, 0);        /* the default user may read the map */
	assert_int_equal(cd_redis_fence_acquire(r, p, &token, &err), 0);
	assert_int_equal(token, 1);
	rep = raw(b.port, "HGET contactd:{p%d}:meta fence", (int)p);
	assert_int_equal(rep->type, REDIS_REPLY_STRING);
	assert_string_equal(rep->str, "1");
	freeReplyObject(rep);
	cd_redis_stats_get(r, &st);
	assert_int_equal(st.moved, 0);           /* routed by the map, not by a redirect */
	assert_true(st.refreshes >= 1);          /* more if b said CLUSTERDOWN before it knew a */
	cd_redis_free(r);
	cd_test_redis_cleanup(&a);
	cd_test_redis_cleanup(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_a_commit_writes_records_timers_outbox_offsets_and_floor, setup),
		cmocka_unit_test_setup(test_a_partition_never_committed_has_no_position, setup),
		cmocka_unit_test_setup(test_timer_scores_are_whole_milliseconds_rounded_down, setup),
		cmocka_unit_test_setup(test_a_record_without_a_timer_leaves_the_timer_index, setup),
		cmocka_unit_test_setup(test_due_timers_come_earliest_first_and_at_most_max, setup),
		cmocka_unit_test_setup(test_gauges_count_the_outbox_and_the_due_timers_in_one_round_trip, setup),
		cmocka_unit_test_setup(test_a_superseded_token_cannot_commit_and_changes_nothing, setup),
		cmocka_unit_test_setup(test_a_superseded_token_cannot_trim_the_outbox, setup),
		cmocka_unit_test_setup(test_a_commit_that_cannot_complete_writes_nothing, setup),
		cmocka_unit_test_setup(test_hash_operations_commit_with_the_rest_under_the_stage_tag, setup),
		cmocka_unit_test_setup(test_a_commit_after_the_script_cache_was_flushed_reloads_the_script, setup),
		cmocka_unit_test_setup(test_sent_commits_and_trims_reply_in_order_each_for_itself, setup),
		cmocka_unit_test_setup(test_a_sent_commit_after_the_script_cache_was_flushed_is_retriable, setup),
		cmocka_unit_test_setup(test_replies_owed_when_the_server_dies_are_a_retriable_error, setup),
		cmocka_unit_test_setup(test_a_batch_of_5000_records_commits_in_one_call, setup),
		cmocka_unit_test_setup(test_a_cleared_batch_is_empty_and_reusable, setup),
		cmocka_unit_test_setup(test_committed_state_survives_a_redis_restart_and_the_client_reconnects, setup),
		cmocka_unit_test_setup(test_redis_down_is_a_retriable_error_not_a_crash, setup),
		cmocka_unit_test_setup(test_a_cluster_node_is_followed_unless_it_hides_its_slot_map, setup),
		cmocka_unit_test_setup(test_a_wrong_password_is_a_final_error_and_acl_users_work, setup),
		cmocka_unit_test_setup(test_a_reply_over_max_reply_bytes_fails_without_reading_it, setup),
		cmocka_unit_test_setup(test_reset_removes_every_key_of_its_partition_and_no_other, setup),
		cmocka_unit_test_setup(test_all_keys_of_one_partition_hash_to_one_cluster_slot, setup),
		cmocka_unit_test_setup(test_a_deletion_removes_the_record_and_its_timer_in_the_commit, setup),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
