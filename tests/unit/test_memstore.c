/*
 * test_memstore.c — the in-memory store: records by citizen id, and the timer
 * index that says who has something due by t, in (instant, citizen id) order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "state/memstore.h"

static void put(cd_memstore *s, const char *id, const char *rec, cd_instant next)
{
	cd_err err;
	assert_int_equal(cd_memstore_put(s, id, strlen(id), (const uint8_t *)rec, strlen(rec), next, &err), 0);
}

static void test_get_returns_the_last_record_put(void **state)
{
	cd_memstore *s = cd_memstore_new(0);
	const uint8_t *p;
	size_t n;
	(void)state;
	assert_int_equal(cd_memstore_get(s, "c1", 2, &p, &n), 0);
	put(s, "c1", "short", CD_INSTANT_NONE);
	put(s, "c1", "a much longer record than before", CD_INSTANT_NONE);
	assert_int_equal(cd_memstore_get(s, "c1", 2, &p, &n), 1);
	assert_int_equal(n, strlen("a much longer record than before"));
	assert_memory_equal(p, "a much longer record than before", n);
	put(s, "c1", "x", CD_INSTANT_NONE);
	assert_int_equal(cd_memstore_get(s, "c1", 2, &p, &n), 1);
	assert_int_equal(n, 1);
	assert_int_equal(cd_memstore_count(s), 1);
	cd_memstore_free(s);
}

static void test_next_due_orders_by_instant_then_citizen_id(void **state)
{
	cd_memstore *s = cd_memstore_new(0);
	const char *id;
	size_t n;
	(void)state;
	put(s, "b", "r", 20);
	put(s, "a", "r", 20);
	put(s, "c", "r", 10);
	put(s, "d", "r", CD_INSTANT_NONE);
	assert_int_equal(cd_memstore_next_due(s, 9, &id, &n), 0);
	assert_int_equal(cd_memstore_next_due(s, 10, &id, &n), 1);
	assert_string_equal(id, "c");
	put(s, "c", "r", 30);                    /* advanced: due later */
	assert_int_equal(cd_memstore_next_due(s, 25, &id, &n), 1);
	assert_true(!strcmp(id, "a") || !strcmp(id, "b"));   /* a and b tie at 20 */
	{
		/* ties are settled by the ids alone, not by the order of insertion */
		cd_memstore *t = cd_memstore_new(0);
		const char *id2;
		put(t, "a", "r", 20);
		put(t, "b", "r", 20);
		assert_int_equal(cd_memstore_next_due(t, 25, &id2, &n), 1);
		assert_string_equal(id, id2);
		cd_memstore_free(t);
	}
	put(s, "a", "r", CD_INSTANT_NONE);       /* nothing more due for a */
	assert_int_equal(cd_memstore_next_due(s, 25, &id, &n), 1);
	assert_string_equal(id, "b");
	put(s, "b", "r", 40);
	assert_int_equal(cd_memstore_next_due(s, 25, &id, &n), 0);
	cd_memstore_free(s);
}

/* Random puts against a brute-force model: the heap always yields the true minimum. */
static void test_timer_index_agrees_with_a_brute_force_model(void **state)
{
	enum { N = 5000, OPS = 60000 };
	cd_memstore *s = cd_memstore_new(0);
	static cd_instant model[N];
	uint64_t x = 88172645463325252ull;
	char id[32];
	(void)state;
	for (int i = 0; i < N; i++)
		model[i] = CD_INSTANT_NONE;
	for (int op = 0; op < OPS; op++) {
		int k;
		cd_instant t;
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		k = (int)(x % N);
		t = (x >> 20) % 7 == 0 ? CD_INSTANT_NONE : (cd_instant)((x >> 24) % 100000);
		snprintf(id, sizeof(id), "c%05d", k);
		put(s, id, "rec", t);
		model[k] = t;
		if (op % 97 == 0) {
			const char *got;
			size_t n;
			int best = -1;
			for (int i = 0; i < N; i++)
				if (model[i] != CD_INSTANT_NONE && (best < 0 || model[i] < model[best]))
					best = i;
			if (best < 0) {
				assert_int_equal(cd_memstore_next_due(s, INT64_MAX, &got, &n), 0);
				continue;
			}
			assert_int_equal(cd_memstore_next_due(s, INT64_MAX, &got, &n), 1);
			/* the citizen returned is one of those due at the earliest instant */
			assert_int_equal(model[atoi(got + 1)], model[best]);
			assert_int_equal(cd_memstore_next_due(s, model[best] - 1, &got, &n), 0);
		}
	}
	assert_true(cd_memstore_count(s) <= N);
	assert_true(cd_memstore_bytes(s) > 0);
	cd_memstore_free(s);
}

static void test_store_refuses_citizens_beyond_its_limit(void **state)
{
	cd_memstore *s = cd_memstore_new(2);
	cd_err err;
	(void)state;
	put(s, "a", "r", 1);
	put(s, "b", "r", 1);
	put(s, "a", "r2", 1);                    /* an existing citizen is fine */
	assert_int_equal(cd_memstore_put(s, "c", 1, (const uint8_t *)"r", 1, 1, &err), -1);
	assert_non_null(strstr(err.msg, "full"));
	assert_int_equal(cd_memstore_count(s), 2);
	cd_memstore_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_returns_the_last_record_put),
		cmocka_unit_test(test_next_due_orders_by_instant_then_citizen_id),
		cmocka_unit_test(test_timer_index_agrees_with_a_brute_force_model),
		cmocka_unit_test(test_store_refuses_citizens_beyond_its_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
