/*
 * test_log.c — log records are single lines whatever their values hold: values
 * come from input (event ids, error messages quoting it), and a control
 * character must never start a line of its own or hide what follows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/log.h"

/* Runs cd_log with stderr sent to a file; returns what was written (caller frees). */
static char *logged(const char *key, const char *value)
{
	char path[] = "/tmp/cd-log-XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	char *buf = calloc(1, 4096);
	FILE *f;

	assert_true(fd >= 0 && saved >= 0 && buf);
	fflush(stderr);
	dup2(fd, 2);
	cd_log(CD_LOG_ERROR, "record skipped", key, value, NULL);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	f = fdopen(fd, "r");
	rewind(f);
	assert_true(fread(buf, 1, 4095, f) > 0);
	fclose(f);
	unlink(path);
	return buf;
}

static void test_control_characters_in_values_are_escaped_on_one_line(void **state)
{
	char *out = logged("event_id", "a\rb\x01" "c\nd\te\x7f");
	(void)state;
	assert_non_null(strstr(out, "event_id=\"a\\x0db\\x01c\\nd\\te\\x7f\""));
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);   /* one line */
	assert_null(strchr(out, '\r'));
	free(out);
}

static void test_plain_values_stay_unquoted_and_quotes_are_escaped(void **state)
{
	char *a = logged("k", "plain-value_1"), *b = logged("k", "say \"hi\"=x\\y");
	(void)state;
	assert_non_null(strstr(a, " k=plain-value_1\n"));
	assert_non_null(strstr(b, " k=\"say \\\"hi\\\"=x\\\\y\"\n"));
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_control_characters_in_values_are_escaped_on_one_line),
		cmocka_unit_test(test_plain_values_stay_unquoted_and_quotes_are_escaped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
