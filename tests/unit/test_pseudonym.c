/*
 * test_pseudonym.c — citizen pseudonyms: keyed BLAKE2b, stable for a key,
 * different under another key, never the id, and the values of an
 * independent implementation (Python's hashlib.blake2b).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/pseudonym.h"

static const char SECRET[] = "0123456789abcdef0123456789abcdef";

/* Reference values, from Python:
 *   k = hashlib.blake2b(secret, digest_size=32).digest()
 *   hashlib.blake2b(b'0101701234', digest_size=16, key=k).hexdigest() */
static void test_the_pseudonym_is_keyed_blake2b_as_another_implementation_computes_it(void **state)
{
	cd_pseudonym_key k;
	char p[CD_PSEUDONYM_LEN + 1];
	(void)state;

	assert_int_equal(cd_pseudonym_key_from_secret(&k, "citizen-key-file", SECRET, strlen(SECRET), NULL), 0);
	cd_pseudonym(&k, "0101701234", 10, p);
	assert_string_equal(p, "h:231751318fa742687fc9ef18f0878a5d");
	cd_pseudonym_key_dev(&k);
	assert_true(k.dev);
	cd_pseudonym(&k, "0101701234", 10, p);
	assert_string_equal(p, "h:95bf69e9fb7cf736d572121d83160a99");
}

static void test_a_pseudonym_is_stable_for_a_key_and_differs_under_another(void **state)
{
	cd_pseudonym_key a, b;
	char pa1[CD_PSEUDONYM_LEN + 1], pa2[CD_PSEUDONYM_LEN + 1], pb[CD_PSEUDONYM_LEN + 1], pc[CD_PSEUDONYM_LEN + 1];
	(void)state;

	assert_int_equal(cd_pseudonym_key_from_secret(&a, "k", SECRET, strlen(SECRET), NULL), 0);
	assert_int_equal(cd_pseudonym_key_from_secret(&b, "k", "1123456789abcdef0123456789abcdef", 32, NULL), 0);
	cd_pseudonym(&a, "c-17", 4, pa1);
	cd_pseudonym(&a, "c-17", 4, pa2);
	cd_pseudonym(&b, "c-17", 4, pb);
	cd_pseudonym(&a, "c-18", 4, pc);
	assert_string_equal(pa1, pa2);
	assert_string_not_equal(pa1, pb);
	assert_string_not_equal(pa1, pc);
	assert_true(cd_pseudonym_is(pa1, strlen(pa1)));
	assert_true(cd_pseudonym_is(pb, strlen(pb)));
}

static void test_a_pseudonym_never_holds_the_id(void **state)
{
	cd_pseudonym_key k;
	char p[CD_PSEUDONYM_LEN + 1], buf[CD_PSEUDONYM_LEN + 1];
	/* ids a pseudonym could be mistaken for, or contain */
	const char *ids[] = { "0", "a", "h:", "0101701234", "h:00000000000000000000000000000000" };
	(void)state;

	cd_pseudonym_key_dev(&k);
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		cd_pseudonym(&k, ids[i], strlen(ids[i]), p);
		assert_int_equal(strlen(p), CD_PSEUDONYM_LEN);
		assert_string_not_equal(p, ids[i]);
		if (strlen(ids[i]) > 2)
			assert_null(strstr(p, ids[i]));
		assert_string_equal(cd_pseudonym_log(&k, ids[i], buf), p);
	}
}

static void test_a_short_secret_is_refused_without_showing_it(void **state)
{
	cd_pseudonym_key k;
	cd_err err;
	(void)state;

	assert_int_equal(cd_pseudonym_key_from_secret(&k, "citizen-key-file '/run/k'", "short-secret-xyz", 16, &err), -1);
	assert_non_null(strstr(err.msg, "citizen-key-file '/run/k'"));
	assert_non_null(strstr(err.msg, "at least 32"));
	assert_null(strstr(err.msg, "short-secret-xyz"));
}

static void test_log_citizen_ids_gives_the_raw_id_and_only_then(void **state)
{
	cd_pseudonym_key k;
	char buf[CD_PSEUDONYM_LEN + 1];
	(void)state;

	cd_pseudonym_key_dev(&k);
	assert_true(cd_pseudonym_is(cd_pseudonym_log(&k, "c-1", buf), CD_PSEUDONYM_LEN));
	assert_true(cd_pseudonym_is(cd_pseudonym_log(NULL, "c-1", buf), CD_PSEUDONYM_LEN));
	k.raw_in_logs = true;
	assert_string_equal(cd_pseudonym_log(&k, "c-1", buf), "c-1");
}

static void test_the_form_check_wants_h_colon_and_32_lowercase_hex_digits(void **state)
{
	(void)state;
	assert_true(cd_pseudonym_is("h:0123456789abcdef0123456789abcdef", 34));
	assert_false(cd_pseudonym_is("h:0123456789ABCDEF0123456789abcdef", 34));
	assert_false(cd_pseudonym_is("x:0123456789abcdef0123456789abcdef", 34));
	assert_false(cd_pseudonym_is("h:0123456789abcdef0123456789abcde", 33));
	assert_false(cd_pseudonym_is("0101701234", 10));
}

static void hexof(const char *s, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", (unsigned char)s[i]);
}

static void test_a_sealed_id_opens_under_its_key_and_hides_the_id(void **state)
{
	cd_pseudonym_key k;
	char sealed[CD_PSEUDONYM_SEALED_MAX(200) + 1], id[201], plain_hex[401], p[CD_PSEUDONYM_LEN + 1];
	char longid[151];
	const char *ids[] = { "0101701234", "x", longid };
	(void)state;

	memset(longid, 'q', 150);   /* longer than one 64-byte block */
	longid[150] = '\0';
	cd_pseudonym_key_dev(&k);
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(ids[i]);
		assert_int_equal(cd_pseudonym_seal(&k, ids[i], n, sealed), CD_PSEUDONYM_SEALED_MAX(n));
		assert_int_equal(strlen(sealed), CD_PSEUDONYM_SEALED_MAX(n));
		cd_pseudonym(&k, ids[i], n, p);
		assert_memory_equal(sealed, p, CD_PSEUDONYM_LEN);       /* starts with the pseudonym */
		assert_null(strstr(sealed, ids[i]));
		hexof(ids[i], n, plain_hex);
		assert_null(strstr(sealed, plain_hex));                  /* not merely the id in hex */
		assert_int_equal(cd_pseudonym_open(&k, sealed, strlen(sealed), id, sizeof(id)), (long)n);
		assert_string_equal(id, ids[i]);
	}
}

static void test_a_sealed_id_is_the_same_each_time_so_zadd_updates_it(void **state)
{
	cd_pseudonym_key k;
	char a[CD_PSEUDONYM_SEALED_MAX(10) + 1], b[CD_PSEUDONYM_SEALED_MAX(10) + 1];
	(void)state;

	cd_pseudonym_key_dev(&k);
	cd_pseudonym_seal(&k, "0101701234", 10, a);
	cd_pseudonym_seal(&k, "0101701234", 10, b);
	assert_string_equal(a, b);
}

static void test_another_key_or_a_changed_text_does_not_open(void **state)
{
	cd_pseudonym_key a, b;
	char sealed[CD_PSEUDONYM_SEALED_MAX(10) + 1], id[64];
	size_t n;
	(void)state;

	cd_pseudonym_key_dev(&a);
	assert_int_equal(cd_pseudonym_key_from_secret(&b, "k", SECRET, strlen(SECRET), NULL), 0);
	n = cd_pseudonym_seal(&a, "0101701234", 10, sealed);
	assert_int_equal(cd_pseudonym_open(&b, sealed, n, id, sizeof(id)), -1);
	sealed[n - 1] = sealed[n - 1] == '0' ? '1' : '0';          /* one bit of the id changed */
	assert_int_equal(cd_pseudonym_open(&a, sealed, n, id, sizeof(id)), -1);
	cd_pseudonym_seal(&a, "0101701234", 10, sealed);
	assert_int_equal(cd_pseudonym_open(&a, sealed, n, id, 10), -1); /* no room for the NUL */
	assert_int_equal(cd_pseudonym_open(&a, sealed, n - 1, id, sizeof(id)), -1);
	assert_int_equal(cd_pseudonym_open(&a, "0101701234", 10, id, sizeof(id)), -1);   /* an id, not sealed */
	assert_int_equal(cd_pseudonym_open(&a, sealed, CD_PSEUDONYM_LEN, id, sizeof(id)), -1);
}

static void test_scrub_replaces_every_occurrence_of_the_id_and_only_ids_long_enough(void **state)
{
	cd_pseudonym_key k;
	char text[512], p[CD_PSEUDONYM_LEN + 1], want[512];
	(void)state;

	cd_pseudonym_key_dev(&k);
	cd_pseudonym(&k, "0101701234", 10, p);
	snprintf(text, sizeof(text), "field 'occurredAt': invalid timestamp '0101701234', not 0101701234x");
	cd_pseudonym_scrub(&k, text, sizeof(text), "0101701234", 10);
	snprintf(want, sizeof(want), "field 'occurredAt': invalid timestamp '%s', not %sx", p, p);
	assert_string_equal(text, want);
	/* a short id is left: it would match inside the message */
	snprintf(text, sizeof(text), "record of 1500000 bytes");
	cd_pseudonym_scrub(&k, text, sizeof(text), "150", 3);
	assert_string_equal(text, "record of 1500000 bytes");
	/* nothing to replace: unchanged */
	cd_pseudonym_scrub(&k, text, sizeof(text), "0101701234", 10);
	assert_string_equal(text, "record of 1500000 bytes");
	/* cut at cap, never past it, and the id is not left half */
	snprintf(text, 24, "ab 0101701234 cd");
	cd_pseudonym_scrub(&k, text, 24, "0101701234", 10);
	assert_int_equal(strlen(text), 23);
	assert_null(strstr(text, "0101701234"));
	assert_memory_equal(text, "ab h:", 5);
	/* --log-citizen-ids: left as it is */
	k.raw_in_logs = true;
	snprintf(text, sizeof(text), "id 0101701234");
	cd_pseudonym_scrub(&k, text, sizeof(text), "0101701234", 10);
	assert_string_equal(text, "id 0101701234");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_pseudonym_is_keyed_blake2b_as_another_implementation_computes_it),
		cmocka_unit_test(test_a_pseudonym_is_stable_for_a_key_and_differs_under_another),
		cmocka_unit_test(test_a_pseudonym_never_holds_the_id),
		cmocka_unit_test(test_a_short_secret_is_refused_without_showing_it),
		cmocka_unit_test(test_log_citizen_ids_gives_the_raw_id_and_only_then),
		cmocka_unit_test(test_the_form_check_wants_h_colon_and_32_lowercase_hex_digits),
		cmocka_unit_test(test_a_sealed_id_opens_under_its_key_and_hides_the_id),
		cmocka_unit_test(test_a_sealed_id_is_the_same_each_time_so_zadd_updates_it),
		cmocka_unit_test(test_another_key_or_a_changed_text_does_not_open),
		cmocka_unit_test(test_scrub_replaces_every_occurrence_of_the_id_and_only_ids_long_enough),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
