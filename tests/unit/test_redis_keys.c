/*
 * test_redis_keys.c — no citizen id in a Redis key name or a timer member:
 * a record's key names the citizen by its keyed pseudonym, a timer member is
 * the sealed id, the store still answers by id, state written with another
 * key is refused, and state of the old form (raw ids) is migrated when a
 * partition is taken: renamed, idempotent, bounded per call, fenced. Against
 * a private redis-server (tests/support/redis_server.c).
 */
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "consumer/redis_store.h"
#include "tests/support/redis_server.h"
#include "tests/support/store.h"
#include "util/pseudonym.h"

#define MS INT64_C(1000000)
#define T0 (INT64_C(1767222000) * CD_NS_PER_SEC)

static cd_test_redis srv;
static const char *const IDS[] = { "0101701234", "c-17", "x" };
#define N_IDS (sizeof(IDS) / sizeof(IDS[0]))

static redisReply *raw(const char *fmt, ...)
{
	struct timeval tv = { 5, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", srv.port, tv);
	redisReply *rep;
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

/* The key's pseudonym of id, computed here with libsodium itself (not util/pseudonym.c). */
static void expected_pseudonym(const char *secret, const char *id, char out[35])
{
	unsigned char k[32], h[16];
	crypto_generichash(k, sizeof(k), (const unsigned char *)secret, strlen(secret), NULL, 0);
	crypto_generichash(h, sizeof(h), (const unsigned char *)id, strlen(id), k, sizeof(k));
	strcpy(out, "h:");
	for (size_t i = 0; i < sizeof(h); i++)
		sprintf(out + 2 + 2 * i, "%02x", h[i]);
}

static cd_redis *open_store(const char *secret)
{
	cd_redis_opts o;
	cd_pseudonym_key k;
	cd_err err;
	cd_redis_opts_default(&o);
	o.port = srv.port;
	if (secret) {
		assert_int_equal(cd_pseudonym_key_from_secret(&k, "test", secret, strlen(secret), &err), 0);
		o.citizen_key = &k;
	}
	return cd_test_store_open(&o);          /* copies the key */
}

static void put(cd_redis *r, int32_t p, int64_t token, const char *id, const char *rec, cd_instant next_fire)
{
	cd_redis_batch *b = cd_redis_batch_new();
	cd_err err;
	assert_int_equal(cd_redis_batch_record(b, id, rec, strlen(rec), next_fire), 0);
	if (cd_redis_commit(r, p, token, b, &err) != 0)
		fail_msg("commit: %s", err.msg);
	cd_redis_batch_free(b);
}

/* 1 and the record in out, or 0. */
static int get(cd_redis *r, int32_t p, const char *id, cd_buf *out)
{
	const char *ids[1] = { id };
	int found = -1;
	cd_err err;
	if (cd_redis_load(r, p, ids, 1, out, &found, &err) < 0)
		fail_msg("load: %s", err.msg);
	return found;
}

/* Every key name in Redis and every member of every timer index, one string each. */
static size_t all_names(char names[][256], size_t cap)
{
	redisReply *keys = raw("KEYS *");
	size_t n = 0;
	for (size_t i = 0; i < keys->elements; i++) {
		assert_true(n < cap);
		snprintf(names[n++], 256, "%s", keys->element[i]->str);
		if (strstr(keys->element[i]->str, ":timers")) {
			redisReply *m = raw("ZRANGE %s 0 -1", keys->element[i]->str);
			for (size_t j = 0; j < m->elements; j++) {
				assert_true(n < cap);
				snprintf(names[n++], 256, "%s", m->element[j]->str);
			}
			freeReplyObject(m);
		}
	}
	freeReplyObject(keys);
	return n;
}

static int group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	memset(&srv, 0, sizeof(srv));
	return cd_test_redis_start(&srv);
}

static int group_teardown(void **state)
{
	(void)state;
	cd_test_redis_cleanup(&srv);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	freeReplyObject(raw("FLUSHALL"));
	return 0;
}

/* ---- the new form ----------------------------------------------------------------------- */

static const char SECRET[] = "0123456789abcdef0123456789abcdef-test";

static void test_no_key_name_or_timer_member_holds_a_citizen_id(void **state)
{
	cd_redis *r = open_store(SECRET);
	int64_t token = cd_test_take(r, 1);
	char names[64][256], want[35], key[128];
	size_t n;
	(void)state;

	for (size_t i = 0; i < N_IDS; i++)
		put(r, 1, token, IDS[i], "rec", T0 + (int64_t)i * MS);
	n = all_names(names, 64);
	assert_int_equal(n, 2 + N_IDS + N_IDS);      /* meta, timers, the records, the members */
	for (size_t k = 0; k < n; k++)
		for (size_t i = 0; i < N_IDS; i++)
			if (strlen(IDS[i]) > 1)          /* "x" is in "contactd" */
				assert_null(strstr(names[k], IDS[i]));
	for (size_t i = 0; i < N_IDS; i++) {
		redisReply *rep;
		expected_pseudonym(SECRET, IDS[i], want);
		snprintf(key, sizeof(key), "contactd:{p1}:c:%s", want);
		rep = raw("GET %s", key);
		assert_int_equal(rep->type, REDIS_REPLY_STRING);
		assert_string_equal(rep->str, "rec");
		freeReplyObject(rep);
	}
	cd_redis_free(r);
}

static void test_the_store_still_answers_by_id_and_due_timers_give_the_ids_back(void **state)
{
	cd_redis *r = open_store(SECRET);
	int64_t token = cd_test_take(r, 2);
	cd_buf rec;
	char **due;
	size_t n;
	cd_err err;
	(void)state;

	cd_buf_init(&rec, 1 << 20);
	put(r, 2, token, "0101701234", "first", T0 + 2 * MS);
	put(r, 2, token, "c-17", "second", T0 + MS);
	assert_int_equal(get(r, 2, "0101701234", &rec), 1);
	assert_memory_equal(rec.data, "first", 5);
	assert_int_equal(get(r, 2, "nobody", &rec), 0);
	assert_int_equal(cd_redis_timers_due(r, 2, T0 + 10 * MS, 10, &due, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(due[0], "c-17");
	assert_string_equal(due[1], "0101701234");
	cd_redis_free_ids(due, n);
	/* a new instant replaces the member's score: the sealed member is the same each time */
	put(r, 2, token, "c-17", "second", T0 + 5 * MS);
	assert_int_equal(cd_redis_timers_due(r, 2, T0 + 10 * MS, 10, &due, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(due[0], "0101701234");
	cd_redis_free_ids(due, n);
	cd_buf_release(&rec);
	cd_redis_free(r);
}

static void test_state_written_with_another_key_is_refused_not_taken_for_new(void **state)
{
	cd_redis *a = open_store(SECRET), *b;
	int64_t token = cd_test_take(a, 3);
	size_t moved, kept;
	char **due;
	size_t n;
	cd_buf rec;
	cd_err err;
	(void)state;

	assert_int_equal(cd_redis_migrate_keys(a, 3, token, &moved, &kept, &err), 0);
	put(a, 3, token, "0101701234", "rec", T0);
	cd_redis_free(a);
	b = open_store(NULL);                    /* the development key */
	token = cd_test_take(b, 3);
	assert_int_equal(cd_redis_migrate_keys(b, 3, token, &moved, &kept, &err), -1);
	assert_false(err.retriable);
	freeReplyObject(raw("ZADD contactd:{p3}:timers 0 garbage-member"));   /* a hand edit */
	assert_non_null(strstr(err.msg, "another citizen key"));
	cd_buf_init(&rec, 1 << 20);
	assert_int_equal(get(b, 3, "0101701234", &rec), 0);
	/* members sealed under another key, or garbage, are not opened: NULL in their places,
	 * counted in n (paging is by members), and the others go on */
	put(b, 3, token, "c-2", "rec", T0);
	assert_int_equal(cd_redis_timers_due(b, 3, T0, 10, &due, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_null(due[0]);                                     /* garbage-member, score 0 */
	assert_true((due[1] == NULL) != (due[2] == NULL));       /* A's member and c-2, both at T0 */
	assert_string_equal(due[1] ? due[1] : due[2], "c-2");
	cd_redis_free_ids(due, n);
	cd_buf_release(&rec);
	cd_redis_free(b);
}

/* ---- migration of the old form ---------------------------------------------------------- */

/* What the previous version wrote: the raw id as key suffix and timer member. */
static void put_old(int32_t p, const char *id, const char *rec, long long score_ms)
{
	freeReplyObject(raw("SET contactd:{p%d}:c:%s %s", (int)p, id, rec));
	if (score_ms != LLONG_MIN)
		freeReplyObject(raw("ZADD contactd:{p%d}:timers %lld %s", (int)p, score_ms, id));
}

static void test_old_form_state_is_renamed_when_the_partition_is_taken_and_reads_as_before(void **state)
{
	cd_redis *r = open_store(SECRET);
	int64_t token;
	size_t moved = 99, kept = 99;
	char names[64][256], **due;
	size_t n;
	cd_buf rec;
	cd_err err;
	long long t0_ms = T0 / MS;
	(void)state;

	put_old(4, "0101701234", "first", t0_ms + 2);
	put_old(4, "c-17", "second", t0_ms + 1);
	put_old(4, "no-timer", "third", LLONG_MIN);
	put_old(5, "other-partition", "x", t0_ms);   /* another partition: not this call's */
	token = cd_test_take(r, 4);
	assert_int_equal(cd_redis_migrate_keys(r, 4, token, &moved, &kept, &err), 0);
	assert_int_equal(moved, 3);
	assert_int_equal(kept, 0);
	n = all_names(names, 64);
	for (size_t k = 0; k < n; k++) {
		assert_null(strstr(names[k], "0101701234"));
		assert_null(strstr(names[k], "c-17"));
		assert_null(strstr(names[k], "no-timer"));
	}
	cd_buf_init(&rec, 1 << 20);
	assert_int_equal(get(r, 4, "0101701234", &rec), 1);
	assert_memory_equal(rec.data, "first", 5);
	assert_int_equal(get(r, 4, "no-timer", &rec), 1);
	assert_memory_equal(rec.data, "third", 5);
	assert_int_equal(cd_redis_timers_due(r, 4, T0 + 10 * MS, 10, &due, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(due[0], "c-17");
	assert_string_equal(due[1], "0101701234");
	cd_redis_free_ids(due, n);
	/* partition 5 was not touched */
	{
		redisReply *rep = raw("EXISTS contactd:{p5}:c:other-partition");
		assert_int_equal(rep->integer, 1);
		freeReplyObject(rep);
	}
	/* done once: the next take finds the fingerprint and renames nothing, even a stray old key */
	put_old(4, "late-old", "x", LLONG_MIN);
	token = cd_test_take(r, 4);
	assert_int_equal(cd_redis_migrate_keys(r, 4, token, &moved, &kept, &err), 0);
	assert_int_equal(moved, 0);
	cd_buf_release(&rec);
	cd_redis_free(r);
}

static void test_migration_is_bounded_per_call_and_finishes_a_large_partition(void **state)
{
	cd_redis *r = open_store(SECRET);
	int64_t token;
	size_t moved, kept;
	char id[32], **due;
	size_t n;
	cd_buf rec;
	cd_err err;
	redisReply *rep;
	(void)state;

	for (int i = 0; i < 700; i++) {           /* more than two script calls' worth */
		snprintf(id, sizeof(id), "cit-%04d", i);
		put_old(6, id, "r", T0 / MS + i);
	}
	token = cd_test_take(r, 6);
	freeReplyObject(raw("CONFIG RESETSTAT"));
	assert_int_equal(cd_redis_migrate_keys(r, 6, token, &moved, &kept, &err), 0);
	assert_int_equal(moved, 700);
	rep = raw("INFO commandstats");                 /* 256 + 256 + 188: three script calls */
	assert_non_null(strstr(rep->str, "cmdstat_evalsha:calls=3,"));
	freeReplyObject(rep);
	rep = raw("KEYS contactd:{p6}:c:cit-*");
	assert_int_equal(rep->elements, 0);
	freeReplyObject(rep);
	rep = raw("ZCARD contactd:{p6}:timers");
	assert_int_equal(rep->integer, 700);
	freeReplyObject(rep);
	cd_buf_init(&rec, 1 << 20);
	assert_int_equal(get(r, 6, "cit-0699", &rec), 1);
	assert_int_equal(cd_redis_timers_due(r, 6, T0 + 1000 * MS, 1000, &due, &n, &err), 0);
	assert_int_equal(n, 700);
	assert_string_equal(due[0], "cit-0000");
	assert_string_equal(due[699], "cit-0699");
	cd_redis_free_ids(due, n);
	cd_buf_release(&rec);
	cd_redis_free(r);
}

static void test_a_newer_record_under_the_new_name_wins_over_an_old_one(void **state)
{
	cd_redis *r = open_store(SECRET);
	int64_t token = cd_test_take(r, 7);
	size_t moved, kept;
	cd_buf rec;
	cd_err err;
	(void)state;

	put(r, 7, token, "c-1", "new", T0);
	freeReplyObject(raw("HDEL contactd:{p7}:meta ckey"));   /* as if written before the fingerprint */
	put_old(7, "c-1", "old", T0 / MS);
	assert_int_equal(cd_redis_migrate_keys(r, 7, token, &moved, &kept, &err), 0);
	assert_int_equal(moved, 0);
	assert_int_equal(kept, 1);
	cd_buf_init(&rec, 1 << 20);
	assert_int_equal(get(r, 7, "c-1", &rec), 1);
	assert_memory_equal(rec.data, "new", 3);
	cd_buf_release(&rec);
	cd_redis_free(r);
}

static void test_a_superseded_token_cannot_migrate(void **state)
{
	cd_redis *r = open_store(SECRET);
	int64_t old = cd_test_take(r, 8);
	size_t moved, kept;
	cd_err err;
	redisReply *rep;
	(void)state;

	put_old(8, "c-1", "old", T0 / MS);
	cd_test_take(r, 8);                               /* another processor took it */
	assert_int_equal(cd_redis_migrate_keys(r, 8, old, &moved, &kept, &err), CD_REDIS_FENCED);
	rep = raw("EXISTS contactd:{p8}:c:c-1");
	assert_int_equal(rep->integer, 1);
	freeReplyObject(rep);
	cd_redis_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_no_key_name_or_timer_member_holds_a_citizen_id, setup),
		cmocka_unit_test_setup(test_the_store_still_answers_by_id_and_due_timers_give_the_ids_back, setup),
		cmocka_unit_test_setup(test_state_written_with_another_key_is_refused_not_taken_for_new, setup),
		cmocka_unit_test_setup(test_old_form_state_is_renamed_when_the_partition_is_taken_and_reads_as_before,
				       setup),
		cmocka_unit_test_setup(test_migration_is_bounded_per_call_and_finishes_a_large_partition, setup),
		cmocka_unit_test_setup(test_a_newer_record_under_the_new_name_wins_over_an_old_one, setup),
		cmocka_unit_test_setup(test_a_superseded_token_cannot_migrate, setup),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
