/*
 * test_redis_cluster.c — the store against a real three-master Redis Cluster
 * (ops/redis-cluster.sh: redis-server in cluster mode on loopback ports,
 * `redis-cli --cluster create`, appendonly yes, appendfsync always): the slot
 * of a key is the server's own CLUSTER KEYSLOT, every partition's commands go
 * to the master of its slot, pipelined commits to several masters are read in
 * order, and the store follows a slot moved (MOVED), a slot half moved (ASK,
 * TRYAGAIN waited out) and a master killed and restarted. The redirect parser
 * is tested on its own. Run from the repository root (tests/run.sh does).
 */
#include <pthread.h>
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

#include "consumer/redis_cluster.h"
#include "consumer/redis_store.h"
#include "tests/support/store.h"

#define T0 (INT64_C(1767222000) * CD_NS_PER_SEC)     /* 2026-01-01 00:00 Copenhagen */
#define NPORT 3

static char dir[512];
static int port[NPORT];

/* ---- helpers ------------------------------------------------------------------------- */

/* A command on a fresh plain connection (no redirects followed); NULL when the server is not there. */
static redisReply *try_raw(int p, const char *fmt, ...)
{
	struct timeval tv = { 5, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", p, tv);
	redisReply *rep = NULL;
	va_list ap;
	if (!c || c->err) {
		redisFree(c);
		return NULL;
	}
	va_start(ap, fmt);
	rep = redisvCommand(c, fmt, ap);
	va_end(ap);
	redisFree(c);
	return rep;
}

#define raw(...) raw_ok(try_raw(__VA_ARGS__), __LINE__)
static redisReply *raw_ok(redisReply *rep, int line)
{
	if (!rep)
		fail_msg("line %d: no reply from Redis", line);
	return rep;
}

/* Runs ops/redis-cluster.sh with the arguments after the command; its first output line in out (if given). */
static void script(char *out, size_t cap, const char *fmt, ...)
{
	char cmd[1024], line[256] = "";
	va_list ap;
	FILE *f;
	int n = snprintf(cmd, sizeof(cmd), "ops/redis-cluster.sh ");
	va_start(ap, fmt);
	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	f = popen(cmd, "r");
	assert_non_null(f);
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	while (fgetc(f) != EOF)
		;
	if (pclose(f) != 0)
		fail_msg("%s failed", cmd);
	line[strcspn(line, "\n")] = '\0';
	if (out)
		snprintf(out, cap, "%s", line);
}

static int owner(int slot)
{
	char out[32];
	script(out, sizeof(out), "owner %s %d", dir, slot);
	return atoi(out);
}

/* A node's id (for CLUSTER SETSLOT). */
static void node_id(int p, char *id, size_t cap)
{
	redisReply *rep = raw(p, "CLUSTER MYID");
	assert_int_equal(rep->type, REDIS_REPLY_STRING);
	snprintf(id, cap, "%s", rep->str);
	freeReplyObject(rep);
}

static cd_redis *open_store(int seed)
{
	cd_redis_opts o;
	cd_redis_opts_default(&o);
	o.port = seed;
	return cd_test_store_open(&o);
}

/* A batch of one citizen's record, one outbox entry and the offset `off`. */
static cd_redis_batch *batch(const char *id, const char *rec, int64_t off)
{
	cd_redis_batch *b = cd_redis_batch_new();
	assert_non_null(b);
	assert_int_equal(cd_redis_batch_record(b, id, rec, strlen(rec), T0), 0);
	assert_int_equal(cd_redis_batch_outbox(b, rec, strlen(rec)), 0);
	assert_int_equal(cd_redis_batch_offset(b, "in", off), 0);
	return b;
}

static void commit_ok(cd_redis *r, int32_t p, int64_t token, const char *id, const char *rec, int64_t off)
{
	cd_redis_batch *b = batch(id, rec, off);
	cd_err err;
	int rc = cd_redis_commit(r, p, token, b, &err);
	cd_redis_batch_free(b);
	if (rc != 0)
		fail_msg("commit %d: %d: %s", (int)p, rc, err.msg);
}

static int64_t offset_of(cd_redis *r, int32_t p)
{
	int64_t off;
	cd_instant floor;
	cd_err err;
	if (cd_redis_position(r, p, "in", &off, &floor, &err) < 0)
		fail_msg("position %d: %s", (int)p, err.msg);
	return off;
}

/* 1 with the record in out, or 0. */
static int get(cd_redis *r, int32_t p, const char *id, cd_buf *out)
{
	const char *ids[1] = { id };
	int found = -1;
	cd_err err;
	if (cd_redis_load(r, p, ids, 1, out, &found, &err) < 0)
		fail_msg("load %d: %s", (int)p, err.msg);
	return found;
}

/* The port of the master that holds key (EXISTS on each: only one answers without MOVED). */
static int holder(const char *key)
{
	int at = 0;
	for (int i = 0; i < NPORT; i++) {
		redisReply *rep = raw(port[i], "EXISTS %s", key);
		if (rep->type == REDIS_REPLY_INTEGER && rep->integer == 1) {
			assert_int_equal(at, 0);
			at = port[i];
		}
		freeReplyObject(rep);
	}
	return at;
}

/* A partition whose slot's master is (want) or is not (!want) on port q. */
static int32_t partition_on(int q, int want, int32_t from)
{
	for (int32_t p = from; p < 1024; p++)
		if ((owner(cd_cluster_tag_slot('p', p)) == q) == want)
			return p;
	fail_msg("no partition %s on %d", want ? "is" : "is not", q);
	return -1;
}

static int other_port(int a, int b)
{
	for (int i = 0; i < NPORT; i++)
		if (port[i] != a && port[i] != b)
			return port[i];
	return -1;
}

static int group_setup(void **state)
{
	const char *work = getenv("CD_WORK");
	char seed[600];
	FILE *f;
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "%s/redis-cluster-%d", work && *work ? work : "/tmp", (int)getpid());
	script(seed, sizeof(seed), "start %s", dir);
	snprintf(seed, sizeof(seed), "%s/ports", dir);
	f = fopen(seed, "r");
	if (!f)
		return -1;
	for (int i = 0; i < NPORT; i++)
		if (fscanf(f, "%d", &port[i]) != 1) {
			fclose(f);
			return -1;
		}
	fclose(f);
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[1100];
	(void)state;
	snprintf(cmd, sizeof(cmd), "ops/redis-cluster.sh stop %s && rm -rf %s", dir, dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- slots ---------------------------------------------------------------------------- */

static void test_key_slots_are_the_servers_own(void **state)
{
	static const char *const keys[] = {
		"123456789", "", "contactd:{p0}:meta", "contactd:{p1023}:c:0101901234", "foo{}{bar}", "foo{{bar}}zap",
		"foo{bar}{zap}", "{user1000}.following", "no tag at all", "{", "}", "a{b", "x:{a7}:cohorts",
	};
	(void)state;
	assert_int_equal(cd_cluster_crc16("123456789", 9), 0x31C3);   /* the spec's check value */
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		redisReply *rep = raw(port[0], "CLUSTER KEYSLOT %b", keys[i], strlen(keys[i]));
		assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
		if (cd_cluster_keyslot(keys[i], strlen(keys[i])) != rep->integer)
			fail_msg("key '%s': slot %d, the server says %lld", keys[i],
				 cd_cluster_keyslot(keys[i], strlen(keys[i])), rep->integer);
		freeReplyObject(rep);
	}
	for (int32_t p = 0; p < 1024; p++) {
		char key[64];
		redisReply *rep;
		snprintf(key, sizeof(key), "contactd:{%c%d}:meta", p % 2 ? 'a' : 'p', (int)p);
		rep = raw(port[0], "CLUSTER KEYSLOT %s", key);
		assert_int_equal(cd_cluster_tag_slot(p % 2 ? 'a' : 'p', p), rep->integer);
		freeReplyObject(rep);
	}
}

static void test_redirect_replies_are_parsed_and_malformed_ones_refused(void **state)
{
	static const char *const bad[] = {
		"MOVED", "MOVED 3999", "MOVED 3999 127.0.0.1", "MOVED x 127.0.0.1:1", "MOVED 16384 h:1",
		"MOVED -1 h:1", "MOVED 1 h:0", "MOVED 1 h:70000", "MOVED 1 h:1x", "ASK1 h:1", "TRYAGAIN", "ERR x",
	};
	cd_cluster_redirect rd;
	(void)state;
	assert_int_equal(cd_cluster_parse_redirect("MOVED 3999 127.0.0.1:6381", 25, &rd), 0);
	assert_int_equal(rd.ask, 0);
	assert_int_equal(rd.slot, 3999);
	assert_string_equal(rd.host, "127.0.0.1");
	assert_int_equal(rd.port, 6381);
	assert_int_equal(cd_cluster_parse_redirect("ASK 16383 ::1:7000", 18, &rd), 0);
	assert_int_equal(rd.ask, 1);
	assert_int_equal(rd.slot, 16383);
	assert_string_equal(rd.host, "::1");
	assert_int_equal(rd.port, 7000);
	assert_int_equal(cd_cluster_parse_redirect("MOVED 0 :7001", 13, &rd), 0);
	assert_string_equal(rd.host, "");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cd_cluster_parse_redirect(bad[i], strlen(bad[i]), &rd) == 0)
			fail_msg("'%s' was taken for a redirect", bad[i]);
}

/* ---- routing ---------------------------------------------------------------------------- */

/*
 * Sixteen partitions over three masters: each partition's keys are on the
 * master of its slot, commits sent together to several masters are answered
 * in sending order, each for itself, and SCAN finds every partition.
 */
static void test_partitions_go_to_the_masters_of_their_slots(void **state)
{
	cd_redis *r = open_store(port[0]), *w = open_store(port[1]);
	cd_redis_batch *b[16];
	int64_t token[16];
	int32_t *ps = NULL;
	size_t n = 0;
	int used[NPORT] = { 0 };
	cd_redis_stats st;
	cd_err err;
	(void)state;

	for (int32_t p = 100; p < 116; p++) {
		char key[64];
		token[p - 100] = cd_test_take(r, p);
		b[p - 100] = batch("c1", "first", 10 + p);
		assert_int_equal(cd_redis_commit_send(w, p, token[p - 100], b[p - 100], &err), 0);
		snprintf(key, sizeof(key), "contactd:{p%d}:meta", (int)p);
		assert_int_equal(holder(key), owner(cd_cluster_tag_slot('p', p)));
		for (int i = 0; i < NPORT; i++)
			used[i] |= holder(key) == port[i];
	}
	for (int i = 0; i < NPORT; i++)
		assert_true(used[i]);                   /* the sixteen spread over every master */
	assert_int_equal(cd_redis_unread(w), 16);
	/* a stale token in the middle: only its own reply says so */
	assert_int_equal(cd_redis_trim_send(w, 107, token[7] - 1, 1, &err), 0);
	for (int32_t p = 100; p < 116; p++) {
		int rc = cd_redis_sent_recv(w, p, token[p - 100], "commit", &err);
		if (rc != 0)
			fail_msg("partition %d: %d: %s", (int)p, rc, err.msg);
	}
	assert_int_equal(cd_redis_sent_recv(w, 107, token[7] - 1, "outbox trim", &err), CD_REDIS_FENCED);
	assert_int_equal(cd_redis_unread(w), 0);
	for (int32_t p = 100; p < 116; p++) {
		assert_int_equal(offset_of(r, p), 10 + p);
		cd_redis_batch_free(b[p - 100]);
	}
	assert_int_equal(cd_redis_partitions(r, &ps, &n, &err), 0);
	for (int32_t p = 100; p < 116; p++) {
		size_t i = 0;
		while (i < n && ps[i] != p)
			i++;
		assert_true(i < n);
	}
	free(ps);
	/* reset finds a partition's keys on its master */
	assert_int_equal(cd_redis_reset_partition(r, 105, &err), 0);
	assert_int_equal(offset_of(r, 105), -1);
	assert_int_equal(offset_of(r, 106), 116);
	cd_redis_stats_get(w, &st);
	assert_int_equal(st.moved, 0);
	assert_int_equal(st.asks, 0);
	cd_redis_free(r);
	cd_redis_free(w);
}

/* The aggregate stage's partitions ({aN}, hash operations) are routed by their own tag. */
static void test_the_aggregate_stages_partitions_route_by_their_tag(void **state)
{
	cd_redis_opts o;
	cd_redis *r;
	cd_redis_batch *b = cd_redis_batch_new();
	int64_t token;
	cd_err err;
	(void)state;
	cd_redis_opts_default(&o);
	o.port = port[2];
	o.tag = 'a';
	r = cd_redis_new(&o);
	assert_int_equal(cd_redis_connect(r, &err), 0);
	for (int32_t p = 0; p < 6; p++) {
		char key[64];
		redisReply *rep;
		token = cd_test_take(r, p);
		cd_redis_batch_clear(b);
		assert_int_equal(cd_redis_batch_hset(b, "cohorts", "k", 1, "v", 1), 0);
		if (cd_redis_commit(r, p, token, b, &err) != 0)
			fail_msg("commit {a%d}: %s", (int)p, err.msg);
		snprintf(key, sizeof(key), "contactd:{a%d}:cohorts", (int)p);
		assert_int_equal(holder(key), owner(cd_cluster_tag_slot('a', p)));
		rep = raw(holder(key), "HGET %s k", key);
		assert_int_equal(rep->type, REDIS_REPLY_STRING);
		assert_string_equal(rep->str, "v");
		freeReplyObject(rep);
	}
	cd_redis_batch_free(b);
	cd_redis_free(r);
}

static void test_a_redis_cluster_has_only_db_0(void **state)
{
	cd_redis_opts o;
	cd_redis *r;
	cd_err err;
	(void)state;
	cd_redis_opts_default(&o);
	o.port = port[0];
	o.db = 2;
	r = cd_redis_new(&o);
	assert_int_equal(cd_redis_connect(r, &err), -1);
	assert_false(err.retriable);
	assert_non_null(strstr(err.msg, "a Redis Cluster has only database 0, and redis-db is 2"));
	cd_redis_free(r);
}

/*
 * A slot moved to another master (ops/redis-cluster.sh move: keys migrated,
 * CLUSTER SETSLOT … NODE everywhere) under a store that knew the old map: a
 * plain call follows MOVED; a pipelined commit whose reply is MOVED is sent
 * again on the new master after that master's own owed reply is read ahead,
 * and both come back in order.
 */
static void test_a_moved_slot_is_followed_by_calls_and_pipelined_commits(void **state)
{
	cd_redis *r = open_store(port[0]), *w = open_store(port[0]), *g = open_store(port[0]);
	int32_t p = 200, q;
	int64_t outbox = -1, due = -1;
	int from, to, slot;
	int64_t tp, tq;
	cd_redis_batch *bp, *bq;
	cd_redis_stats st;
	cd_buf rec;
	cd_err err;
	(void)state;

	cd_buf_init(&rec, 1024);
	slot = cd_cluster_tag_slot('p', p);
	from = owner(slot);
	to = other_port(from, -1);
	q = partition_on(to, 1, 300);               /* a partition already on the master p moves to */
	tp = cd_test_take(r, p);
	tq = cd_test_take(r, q);
	commit_ok(r, p, tp, "c1", "before", 1);
	assert_int_equal(cd_redis_commit_send(w, p, tp, (bp = batch("c1", "piped", 2)), &err), 0);
	cd_redis_batch_free(bp);
	/* the first commit went; the slot moves before the next two are sent */
	assert_int_equal(cd_redis_sent_recv(w, p, tp, "commit", &err), 0);
	script(NULL, 0, "move %s %d %d", dir, slot, to);
	assert_int_equal(owner(slot), to);
	/* the monitoring gauges do not follow: skipped once (not Redis trouble), then the map is read again */
	assert_int_equal(cd_redis_gauges(g, p, T0, &outbox, &due, &err), -1);
	assert_false(err.retriable);
	assert_non_null(strstr(err.msg, "slot is moving"));
	assert_true(cd_redis_connected(g));
	assert_int_equal(cd_redis_gauges(g, p, T0, &outbox, &due, &err), 0);
	assert_int_equal(outbox, 2);                 /* "before" and "piped" */
	assert_int_equal(due, 1);                    /* c1, due at T0 */
	bp = batch("c1", "after the move", 3);
	bq = batch("c9", "on the target", 7);
	assert_int_equal(cd_redis_commit_send(w, p, tp, bp, &err), 0);   /* to the old master: MOVED */
	assert_int_equal(cd_redis_commit_send(w, q, tq, bq, &err), 0);   /* to the new one */
	assert_int_equal(cd_redis_sent_recv(w, p, tp, "commit", &err), 0);
	assert_int_equal(cd_redis_sent_recv(w, q, tq, "commit", &err), 0);
	cd_redis_batch_free(bp);
	cd_redis_batch_free(bq);
	cd_redis_stats_get(w, &st);
	assert_int_equal(st.moved, 1);
	assert_true(st.refreshes >= 2);

	assert_int_equal(get(r, p, "c1", &rec), 1);     /* r still has the old map: MOVED */
	assert_int_equal(rec.len, strlen("after the move"));
	assert_memory_equal(rec.data, "after the move", rec.len);
	assert_int_equal(offset_of(r, p), 3);
	assert_int_equal(offset_of(r, q), 7);
	cd_redis_stats_get(r, &st);
	assert_int_equal(st.moved, 1);
	{
		char key[64];
		snprintf(key, sizeof(key), "contactd:{p%d}:meta", (int)p);
		assert_int_equal(holder(key), to);
	}
	cd_buf_release(&rec);
	cd_redis_free(r);
	cd_redis_free(w);
	cd_redis_free(g);
}

typedef struct finisher {
	int slot, from, to, third;
	char to_id[64];
} finisher;

/* Completes a half-done migration by hand after 300 ms: the remaining keys, then SETSLOT NODE everywhere. */
static void *finish_migration(void *arg)
{
	finisher *f = arg;
	redisReply *keys, *rep;
	usleep(300 * 1000);
	while ((keys = try_raw(f->from, "CLUSTER GETKEYSINSLOT %d 100", f->slot)) && keys->type == REDIS_REPLY_ARRAY &&
	       keys->elements > 0) {
		for (size_t i = 0; i < keys->elements; i++)
			freeReplyObject(try_raw(f->from, "MIGRATE 127.0.0.1 %d %b 0 5000", f->to, keys->element[i]->str,
						keys->element[i]->len));
		freeReplyObject(keys);
	}
	freeReplyObject(keys);
	rep = try_raw(f->to, "CLUSTER SETSLOT %d NODE %s", f->slot, f->to_id);
	freeReplyObject(rep);
	rep = try_raw(f->from, "CLUSTER SETSLOT %d NODE %s", f->slot, f->to_id);
	freeReplyObject(rep);
	rep = try_raw(f->third, "CLUSTER SETSLOT %d NODE %s", f->slot, f->to_id);
	freeReplyObject(rep);
	return NULL;
}

/*
 * A slot half moved (IMPORTING on the target, MIGRATING on the source, the
 * meta key already moved): a read of the moved key is asked of the target
 * (ASK), the map unchanged; a commit, whose keys are now on both masters, is
 * TRYAGAIN and waited out with backoff, and is a retriable error when the
 * migration does not end; when it ends during the waits, the commit goes
 * through on the new master.
 */
static void test_a_half_moved_slot_is_asked_and_waited_out(void **state)
{
	cd_redis *r = open_store(port[0]);
	int32_t p = 400;
	int64_t tp;
	cd_redis_batch *b;
	cd_redis_stats st0, st;
	char from_id[64], meta[64];
	finisher f;
	pthread_t th;
	cd_buf rec;
	cd_err err;
	redisReply *rep;
	(void)state;

	cd_buf_init(&rec, 1024);
	f.slot = cd_cluster_tag_slot('p', p);
	f.from = owner(f.slot);
	f.to = other_port(f.from, -1);
	f.third = other_port(f.from, f.to);
	node_id(f.to, f.to_id, sizeof(f.to_id));
	node_id(f.from, from_id, sizeof(from_id));
	tp = cd_test_take(r, p);
	commit_ok(r, p, tp, "c1", "one", 1);
	snprintf(meta, sizeof(meta), "contactd:{p%d}:meta", (int)p);

	freeReplyObject(raw(f.to, "CLUSTER SETSLOT %d IMPORTING %s", f.slot, from_id));
	freeReplyObject(raw(f.from, "CLUSTER SETSLOT %d MIGRATING %s", f.slot, f.to_id));
	rep = raw(f.from, "MIGRATE 127.0.0.1 %d %s 0 5000", f.to, meta);
	assert_int_equal(rep->type, REDIS_REPLY_STATUS);
	freeReplyObject(rep);

	cd_redis_stats_get(r, &st0);
	assert_int_equal(offset_of(r, p), 1);       /* meta is on the target: ASK */
	cd_redis_stats_get(r, &st);
	assert_int_equal(st.asks, st0.asks + 1);
	assert_int_equal(st.moved, st0.moved);
	assert_int_equal(st.refreshes, st0.refreshes);   /* ASK leaves the map alone */
	assert_int_equal(owner(f.slot), f.from);

	b = batch("c1", "two", 2);
	assert_int_equal(cd_redis_commit(r, p, tp, b, &err), -1);   /* keys on both sides: TRYAGAIN, to the end */
	assert_true(err.retriable);
	assert_non_null(strstr(err.msg, "TRYAGAIN"));
	cd_redis_stats_get(r, &st0);
	assert_true(st0.waits >= 8);
	assert_true(cd_redis_connected(r));

	assert_int_equal(pthread_create(&th, NULL, finish_migration, &f), 0);
	assert_int_equal(cd_redis_commit(r, p, tp, b, &err), 0);    /* waits until the move is done */
	assert_int_equal(pthread_join(th, NULL), 0);
	cd_redis_stats_get(r, &st);
	assert_true(st.waits > st0.waits);
	assert_int_equal(get(r, p, "c1", &rec), 1);
	assert_memory_equal(rec.data, "two", 3);
	assert_int_equal(offset_of(r, p), 2);
	assert_int_equal(holder(meta), f.to);
	cd_redis_batch_free(b);
	cd_buf_release(&rec);
	cd_redis_free(r);
}

/*
 * A master killed (kill -9) and restarted on its port and files: calls on its
 * partitions are retriable errors and the store says it is disconnected;
 * reconnecting works while it is down (the other masters serve theirs), and
 * after the restart everything committed before is there. The seed itself
 * killed: connecting goes through another master it knew.
 */
static void test_a_master_down_is_retriable_and_recovers_after_restart(void **state)
{
	cd_redis *r = open_store(port[0]);
	int victim = port[1];
	int32_t p = partition_on(victim, 1, 500), q = partition_on(victim, 0, 500);
	int64_t tp, tq;
	cd_redis_stats st;
	cd_err err;
	(void)state;

	tp = cd_test_take(r, p);
	tq = cd_test_take(r, q);
	commit_ok(r, p, tp, "c1", "kept", 5);
	commit_ok(r, q, tq, "c2", "other", 0);
	script(NULL, 0, "kill %s %d", dir, victim);
	assert_int_equal(cd_redis_fence_acquire(r, p, &tp, &err), -1);
	assert_true(err.retriable);
	assert_false(cd_redis_connected(r));
	assert_int_equal(cd_redis_connect(r, &err), 0);             /* the seed is up */
	assert_int_equal(offset_of(r, q), 0);               /* q's master answers */
	assert_int_equal(cd_redis_position(r, p, "in", &tp, &(cd_instant){ 0 }, &err), -1);
	assert_true(err.retriable);
	script(NULL, 0, "restart %s %d", dir, victim);
	assert_int_equal(cd_redis_connect(r, &err), 0);
	assert_int_equal(offset_of(r, p), 5);                       /* on disk before the kill */
	tp = cd_test_take(r, p);
	commit_ok(r, p, tp, "c1", "again", 6);

	/* the seed down: another master it knows lets it in */
	script(NULL, 0, "kill %s %d", dir, port[0]);
	cd_redis_disconnect(r);
	assert_int_equal(cd_redis_connect(r, &err), 0);
	assert_int_equal(offset_of(r, p), 6);
	script(NULL, 0, "restart %s %d", dir, port[0]);
	cd_redis_stats_get(r, &st);
	assert_true(st.reconnects >= 3);
	cd_redis_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_slots_are_the_servers_own),
		cmocka_unit_test(test_redirect_replies_are_parsed_and_malformed_ones_refused),
		cmocka_unit_test(test_partitions_go_to_the_masters_of_their_slots),
		cmocka_unit_test(test_the_aggregate_stages_partitions_route_by_their_tag),
		cmocka_unit_test(test_a_redis_cluster_has_only_db_0),
		cmocka_unit_test(test_a_moved_slot_is_followed_by_calls_and_pipelined_commits),
		cmocka_unit_test(test_a_half_moved_slot_is_asked_and_waited_out),
		cmocka_unit_test(test_a_master_down_is_retriable_and_recovers_after_restart),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
