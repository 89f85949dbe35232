/*
 * test_config.c — consumer/config.c: the option table of `contactd run`, its
 * sources (defaults < file < environment < command line), validation with
 * errors that name where a value came from, list and kafka.* semantics, and
 * the logged line with secrets redacted; the Redis password: refused on the
 * command line, read from a file (redis-password-file) with errors that name it.
 *
 * Environments are passed as envp arrays, not set in the process, except for
 * $CONTACTD_RULES, which the defaults read with getenv. Leaks are ASan's job:
 * build with -fsanitize=address.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "consumer/config.h"
#include "state/engine.h"
#include "util/datadir.h"
#include "util/log.h"

/* ---- helpers --------------------------------------------------------------- */

static char *no_env[] = { NULL };

/* Writes text to a new temporary file; returns its path (owned). */
static char *write_temp(const char *text)
{
	char path[] = "/tmp/test_config_XXXXXX";
	int fd = mkstemp(path);
	size_t len = strlen(text);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return strdup(path);
}

/* Writes len bytes (NULs included) to a new temporary file with the given mode; returns its path (owned). */
static char *write_temp_bytes(const void *bytes, size_t len, mode_t mode)
{
	char path[] = "/tmp/test_config_XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, bytes, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return strdup(path);
}

/* Reads a whole (small) file; owned. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s = calloc(1, 1 << 16);
	size_t n;

	assert_non_null(f);
	assert_non_null(s);
	n = fread(s, 1, (1 << 16) - 1, f);
	s[n] = '\0';
	fclose(f);
	return s;
}

/* Runs cd_config_from_args on "run" followed by the NULL-terminated arguments. */
static int from_args(cd_config *c, char *const *envp, cd_err *err, ...)
{
	char *argv[64] = { "run" };
	int argc = 1;
	va_list ap;

	va_start(ap, err);
	while ((argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	cd_config_init(c);
	cd_err_clear(err);
	return cd_config_from_args(c, argc, argv, envp, err);
}

/* fd redirection to capture what a call prints */
typedef struct capture {
	int fd, saved;
	char path[32];
} capture;

static void capture_start(capture *k, int fd)
{
	int tmp;

	fflush(fd == 1 ? stdout : stderr);
	strcpy(k->path, "/tmp/test_config_out_XXXXXX");
	tmp = mkstemp(k->path);
	assert_true(tmp >= 0);
	k->fd = fd;
	k->saved = dup(fd);
	assert_true(k->saved >= 0);
	dup2(tmp, fd);
	close(tmp);
}

static char *capture_end(capture *k)
{
	char *s;

	fflush(k->fd == 1 ? stdout : stderr);
	dup2(k->saved, k->fd);
	close(k->saved);
	s = slurp(k->path);
	unlink(k->path);
	return s;
}

static const char *kafka_value(const cd_config *c, const char *key)
{
	for (size_t i = 0; i < c->n_kafka; i++)
		if (!strcmp(c->kafka[i].key, key))
			return c->kafka[i].value;
	return NULL;
}

/* ---- defaults ----------------------------------------------------------------------- */

static void test_defaults_are_those_of_the_table(void **state)
{
	cd_config c;
	(void)state;

	unsetenv("CONTACTD_RULES");
	cd_config_init(&c);
	assert_string_equal(c.brokers, "");
	assert_string_equal(c.group, "contactd");
	assert_int_equal(c.n_input_topics, 1);
	assert_string_equal(c.input_topics[0], "contact.events.v1");
	assert_string_equal(c.deadline_topic, "contact.deadlines.v1");
	assert_string_equal(c.breach_topic, "contact.breaches.v1");
	assert_string_equal(c.dlq_topic, "contact.dlq.v1");
	assert_int_equal(c.dlq_max_bytes, 262144);
	assert_int_equal(c.drain_timeout_ms, 15000);
	assert_false(c.event_clock);
	assert_string_equal(c.redis_host, "127.0.0.1");
	assert_int_equal(c.redis_port, 6379);
	assert_string_equal(c.redis_user, "");
	assert_string_equal(c.redis_password, "");
	assert_int_equal(c.redis_db, 0);
	assert_string_equal(c.redis_prefix, "contactd");
	assert_int_equal(c.batch_size, 1000);
	assert_int_equal(c.batch_wait_ms, 50);
	assert_int_equal(c.timer_interval_ms, 1000);
	assert_int_equal(c.outbox_batch, 1000);
	assert_false(c.reset_state);
	assert_int_equal(c.mock_brokers, 1);
	assert_int_equal(c.mock_partitions, 8);
	assert_string_equal(c.rules, cd_datadir_rules());
	assert_string_equal(c.overlays_config, "");
	assert_string_equal(c.overlays, "");
	assert_int_equal(c.grace, 0);
	assert_int_equal(c.warn_days, 7);
	assert_int_equal(c.max_events, 2000);
	assert_int_equal(c.max_obligations, 1000);
	assert_int_equal(c.max_record_bytes, 1048576);
	assert_int_equal(c.log_level, CD_LOG_INFO);
	assert_int_equal(c.n_kafka, 0);
	assert_null(c.config_file);
	cd_config_release(&c);
	cd_config_release(&c);   /* releasing twice is harmless */
}

static void test_rules_default_is_CONTACTD_RULES_else_the_installed_dir(void **state)
{
	cd_config c;
	(void)state;

	setenv("CONTACTD_RULES", "/etc/contactd/rules", 1);
	cd_config_init(&c);
	assert_string_equal(c.rules, "/etc/contactd/rules");
	cd_config_release(&c);
	setenv("CONTACTD_RULES", "", 1);
	cd_config_init(&c);
	/* next to the program: <bindir>/../share/contactd/rules */
	assert_non_null(strstr(c.rules, "/share/contactd/rules"));
	assert_string_equal(c.rules, cd_datadir_rules());
	cd_config_release(&c);
	unsetenv("CONTACTD_RULES");
}

/* ---- types and bounds ----------------------------------------------------------------- */

static void test_int_outside_bounds_is_an_error_naming_origin_and_key(void **state)
{
	cd_config c;
	cd_err err;
	(void)state;

	cd_config_init(&c);
	assert_int_equal(cd_config_set(&c, "batch-size", "0", "file 'contactd.conf' line 12", &err), -1);
	assert_string_equal(err.msg, "file 'contactd.conf' line 12: key 'batch-size': 0 is outside 1 … 100000");
	assert_int_equal(cd_config_set(&c, "batch-size", "100001", "command line", &err), -1);
	assert_string_equal(err.msg, "command line: key 'batch-size': 100001 is outside 1 … 100000");
	assert_int_equal(cd_config_set(&c, "batch-size", "99999999999999999999999", "command line", &err), -1);
	assert_non_null(strstr(err.msg, "is outside 1 … 100000"));
	assert_int_equal(cd_config_set(&c, "redis-db", "-1", "command line", &err), -1);
	assert_string_equal(err.msg, "command line: key 'redis-db': -1 is outside 0 … 1000");
	assert_int_equal(c.batch_size, 1000);   /* a bad value leaves the option as it was */

	assert_int_equal(cd_config_set(&c, "batch-size", "1", "command line", &err), 0);
	assert_int_equal(c.batch_size, 1);
	assert_int_equal(cd_config_set(&c, "batch-size", "100000", "command line", &err), 0);
	assert_int_equal(c.batch_size, 100000);
	assert_int_equal(cd_config_set(&c, "max-record-bytes", "67108864", "command line", &err), 0);
	assert_int_equal(c.max_record_bytes, 67108864);
	/* max-events is bounded because an input costs time linear in its citizen's history */
	assert_int_equal(cd_config_set(&c, "max-events", "10001", "command line", &err), -1);
	assert_string_equal(err.msg, "command line: key 'max-events': 10001 is outside 1 … 10000");
	assert_int_equal(cd_config_set(&c, "max-events", "1000000", "command line", &err), -1);
	assert_int_equal(c.max_events, 2000);
	assert_int_equal(cd_config_set(&c, "max-events", "10000", "command line", &err), 0);
	assert_int_equal(c.max_events, CD_MAX_EVENTS_BOUND);
	assert_int_equal(cd_config_set(&c, "timer-interval-ms", "9", "command line", &err), -1);
	assert_int_equal(cd_config_set(&c, "mock-partitions", "1024", "command line", &err), 0);
	assert_int_equal(c.mock_partitions, 1024);
	cd_config_release(&c);
}

static void test_int_that_is_not_a_whole_number_is_an_error(void **state)
{
	static const char *const bad[] = { "", "abc", "12x", "1.5", " 5", "5 ", "0x10", "+", "-" };
	cd_config c;
	cd_err err;
	(void)state;

	cd_config_init(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cd_config_set(&c, "warn-days", bad[i], "command line", &err), -1);
		assert_non_null(strstr(err.msg, "command line: key 'warn-days': '"));
		assert_non_null(strstr(err.msg, "is not a whole number (0 … 365)"));
	}
	assert_int_equal(c.warn_days, 7);
	cd_config_release(&c);
}

static void test_bool_accepts_true_false_yes_no_1_0(void **state)
{
	static const char *const yes[] = { "true", "yes", "1", "TRUE", "Yes" }, *const no[] = { "false", "no", "0", "No" };
	cd_config c;
	cd_err err;
	(void)state;

	cd_config_init(&c);
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		c.reset_state = false;
		assert_int_equal(cd_config_set(&c, "reset-state", yes[i], "test", &err), 0);
		assert_true(c.reset_state);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		c.reset_state = true;
		assert_int_equal(cd_config_set(&c, "reset-state", no[i], "test", &err), 0);
		assert_false(c.reset_state);
	}
	assert_int_equal(cd_config_set(&c, "reset-state", "maybe", "environment", &err), -1);
	assert_string_equal(err.msg,
			    "environment: key 'reset-state': 'maybe' is not a boolean (true, false, yes, no, 1, 0)");
	assert_int_equal(cd_config_set(&c, "reset-state", "", "test", &err), -1);
	cd_config_release(&c);
}

static void test_enum_clock_and_log_level_map_to_their_fields(void **state)
{
	cd_config c;
	cd_err err;
	(void)state;

	cd_config_init(&c);
	assert_int_equal(cd_config_set(&c, "clock", "event", "test", &err), 0);
	assert_true(c.event_clock);
	assert_int_equal(cd_config_set(&c, "clock", "wall", "test", &err), 0);
	assert_false(c.event_clock);
	assert_int_equal(cd_config_set(&c, "clock", "sundial", "command line", &err), -1);
	assert_string_equal(err.msg, "command line: key 'clock': 'sundial' is not one of wall, event");

	assert_int_equal(cd_config_set(&c, "log-level", "debug", "test", &err), 0);
	assert_int_equal(c.log_level, CD_LOG_DEBUG);
	assert_int_equal(cd_config_set(&c, "log-level", "warn", "test", &err), 0);
	assert_int_equal(c.log_level, CD_LOG_WARN);
	assert_int_equal(cd_config_set(&c, "log-level", "error", "test", &err), 0);
	assert_int_equal(c.log_level, CD_LOG_ERROR);
	assert_int_equal(cd_config_set(&c, "log-level", "info", "test", &err), 0);
	assert_int_equal(c.log_level, CD_LOG_INFO);
	assert_int_equal(cd_config_set(&c, "log-level", "verbose", "command line", &err), -1);
	assert_string_equal(err.msg, "command line: key 'log-level': 'verbose' is not one of debug, info, warn, error");
	assert_int_equal(c.log_level, CD_LOG_INFO);
	cd_config_release(&c);
}

static void test_string_set_twice_keeps_the_last_and_frees_the_first(void **state)
{
	cd_config c;
	cd_err err;
	(void)state;

	cd_config_init(&c);
	assert_int_equal(cd_config_set(&c, "brokers", "k1:9092", "test", &err), 0);
	assert_int_equal(cd_config_set(&c, "brokers", "k2:9092,k3:9092", "test", &err), 0);
	assert_string_equal(c.brokers, "k2:9092,k3:9092");
	assert_int_equal(cd_config_set(&c, "redis-password", "one", "test", &err), 0);
	assert_int_equal(cd_config_set(&c, "redis-password", "two", "test", &err), 0);
	assert_string_equal(c.redis_password, "two");
	assert_int_equal(cd_config_set(&c, "brokers", "", "test", &err), 0);
	assert_string_equal(c.brokers, "");
	assert_int_equal(cd_config_set(&c, "brokers", NULL, "test", &err), -1);
	assert_string_equal(err.msg, "test: key 'brokers': missing value");
	cd_config_release(&c);
}

static void test_unknown_option_is_an_error_naming_origin(void **state)
{
	cd_config c;
	cd_err err;
	(void)state;

	cd_config_init(&c);
	assert_int_equal(cd_config_set(&c, "bacth-size", "5", "command line", &err), -1);
	assert_string_equal(err.msg, "command line: unknown option 'bacth-size'");
	assert_int_equal(cd_config_set(&c, "kafka.", "5", "command line", &err), -1);
	assert_string_equal(err.msg, "command line: key 'kafka.': no librdkafka property after 'kafka.'");
	cd_config_release(&c);
}

/* ---- redis HOST:PORT ------------------------------------------------------------------ */

static void test_redis_is_host_colon_port_with_ipv6_in_brackets(void **state)
{
	cd_config c;
	cd_err err;
	(void)state;

	cd_config_init(&c);
	assert_int_equal(cd_config_set(&c, "redis", "redis.internal:6380", "test", &err), 0);
	assert_string_equal(c.redis_host, "redis.internal");
	assert_int_equal(c.redis_port, 6380);
	assert_int_equal(cd_config_set(&c, "redis", "[::1]:6379", "test", &err), 0);
	assert_string_equal(c.redis_host, "::1");
	assert_int_equal(c.redis_port, 6379);
	assert_int_equal(cd_config_set(&c, "redis", "[2001:db8::7]:65535", "test", &err), 0);
	assert_string_equal(c.redis_host, "2001:db8::7");
	assert_int_equal(c.redis_port, 65535);
	assert_int_equal(cd_config_set(&c, "redis", "10.0.0.1:1", "test", &err), 0);
	assert_string_equal(c.redis_host, "10.0.0.1");
	assert_int_equal(c.redis_port, 1);
	cd_config_release(&c);
}

static void test_redis_without_a_valid_host_and_port_is_an_error(void **state)
{
	static const char *const bad[] = { "localhost", ":6379", "host:", "host:x", "host:-1", "host:+80",
					   "[::1]", "[::1]6379", "[]:6379", "[::1:6379", "::1:6379" };
	char *env[] = { "CONTACTD_REDIS=localhost", NULL };
	cd_config c;
	cd_err err;
	(void)state;

	cd_config_init(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cd_config_set(&c, "redis", bad[i], "command line", &err), -1);
		assert_non_null(strstr(err.msg, "command line: key 'redis': expected HOST:PORT"));
	}
	assert_int_equal(cd_config_set(&c, "redis", "host:0", "command line", &err), -1);
	assert_string_equal(err.msg, "command line: key 'redis': port 0 is outside 1 … 65535");
	assert_int_equal(cd_config_set(&c, "redis", "[::1]:65536", "command line", &err), -1);
	assert_string_equal(err.msg, "command line: key 'redis': port 65536 is outside 1 … 65535");
	assert_string_equal(c.redis_host, "127.0.0.1");
	assert_int_equal(c.redis_port, 6379);

	assert_int_equal(cd_config_load_env(&c, env, &err), -1);
	assert_string_equal(err.msg, "environment: CONTACTD_REDIS: expected HOST:PORT");
	cd_config_release(&c);
}

/* ---- the file ------------------------------------------------------------------------- */

static void test_file_takes_comments_quotes_and_both_separators(void **state)
{
	char *path = write_temp("# contactd.conf\n"
				"\n"
				"   # an indented comment\n"
				"brokers k1:9092,k2:9092\n"
				"group = contactd-blue   # trailing comment\n"
				"batch-size=500\n"
				"\tbatch-wait-ms\t \t20\r\n"
				"redis \"[::1]:6390\"\n"
				"redis-password \"pass word # not a comment\"\n"
				"redis-prefix \"with \\\"quotes\\\" and \\\\\"\n"
				"overlays \"\"\n"
				"reset-state yes\n"
				"clock event\n"
				"kafka.security.protocol = SASL_SSL\n"
				"kafka.sasl.jaas.config \"a b=c\"\n"
				"log-level warn");   /* no newline at the end */
	cd_config c;
	cd_err err;
	(void)state;

	cd_config_init(&c);
	assert_int_equal(cd_config_load_file(&c, path, &err), 0);
	assert_string_equal(c.brokers, "k1:9092,k2:9092");
	assert_string_equal(c.group, "contactd-blue");
	assert_int_equal(c.batch_size, 500);
	assert_int_equal(c.batch_wait_ms, 20);
	assert_string_equal(c.redis_host, "::1");
	assert_int_equal(c.redis_port, 6390);
	assert_string_equal(c.redis_password, "pass word # not a comment");
	assert_string_equal(c.redis_prefix, "with \"quotes\" and \\");
	assert_string_equal(c.overlays, "");
	assert_true(c.reset_state);
	assert_true(c.event_clock);
	assert_int_equal(c.log_level, CD_LOG_WARN);
	assert_int_equal(c.n_kafka, 2);
	assert_string_equal(c.kafka[0].key, "security.protocol");
	assert_string_equal(c.kafka[0].value, "SASL_SSL");
	assert_string_equal(c.kafka[1].key, "sasl.jaas.config");
	assert_string_equal(c.kafka[1].value, "a b=c");
	assert_string_equal(c.config_file, path);
	cd_config_release(&c);
	unlink(path);
	free(path);
}

/* Loads text as a file; expects failure with the message "file '<path>' line <rest>". */
static void assert_file_error(const char *text, const char *rest)
{
	char *path = write_temp(text), want[600];
	cd_config c;
	cd_err err;

	cd_config_init(&c);
	assert_int_equal(cd_config_load_file(&c, path, &err), -1);
	snprintf(want, sizeof(want), "file '%s' line %s", path, rest);
	assert_string_equal(err.msg, want);
	assert_null(c.config_file);
	cd_config_release(&c);
	unlink(path);
	free(path);
}

static void test_file_errors_name_the_file_the_line_and_the_key(void **state)
{
	(void)state;
	assert_file_error("# ok\nbrokers x\nbacth-size 5\n", "3: unknown option 'bacth-size'");
	assert_file_error("\n\nbatch-size 0\n", "3: key 'batch-size': 0 is outside 1 … 100000");
	assert_file_error("group\n", "1: key 'group': missing value");
	assert_file_error("group =   # nothing\n", "1: key 'group': missing value");
	assert_file_error("a 1\n", "1: unknown option 'a'");
	assert_file_error("group \"open\n", "1: key 'group': unterminated quote");
	assert_file_error("group two words\n",
			  "1: key 'group': more than one value (quote a value that holds spaces or '#')");
	assert_file_error("group \"x\" y\n",
			  "1: key 'group': more than one value (quote a value that holds spaces or '#')");
	assert_file_error("= x\n", "1: missing key");
	assert_file_error("redis localhost\n", "1: key 'redis': expected HOST:PORT");
	assert_file_error("kafka.acks\n", "1: key 'kafka.acks': missing value");
}

static void test_file_line_longer_than_4096_bytes_is_an_error(void **state)
{
	char *text = malloc(3 * 4200), *p = text;
	char *path;
	cd_config c;
	cd_err err;
	(void)state;

	/* line 1: exactly 4096 bytes is fine; line 2: 4097 is not */
	p += sprintf(p, "group ");
	memset(p, 'g', 4096 - 6);
	p += 4096 - 6;
	*p++ = '\n';
	p += sprintf(p, "group ");
	memset(p, 'h', 4097 - 6);
	p += 4097 - 6;
	*p++ = '\n';
	*p = '\0';
	path = write_temp(text);
	cd_config_init(&c);
	assert_int_equal(cd_config_load_file(&c, path, &err), -1);
	assert_non_null(strstr(err.msg, "line 2: line longer than 4096 bytes"));
	assert_int_equal(strlen(c.group), 4096 - 6);
	cd_config_release(&c);
	unlink(path);
	free(path);
	free(text);
}

static void test_missing_file_is_an_error_naming_it(void **state)
{
	cd_config c;
	cd_err err;
	(void)state;

	cd_config_init(&c);
	assert_int_equal(cd_config_load_file(&c, "/nonexistent/contactd.conf", &err), -1);
	assert_non_null(strstr(err.msg, "file '/nonexistent/contactd.conf': "));
	cd_config_release(&c);
}

/* ---- the environment ------------------------------------------------------------------ */

static void test_environment_is_CONTACTD_UPPER_SNAKE_of_every_option(void **state)
{
	char *env[] = { "PATH=/usr/bin",
			"CONTACTD_BATCH_SIZE=250",
			"CONTACTD_TIMER_INTERVAL_MS=5000",
			"CONTACTD_REDIS_PASSWORD=hunter2",
			"CONTACTD_REDIS=[::1]:7000",
			"CONTACTD_RESET_STATE=yes",
			"CONTACTD_CLOCK=event",
			"CONTACTD_RULES=/srv/rules",
			"CONTACTD_INPUT_TOPIC=a.v1,b.v1",
			"CONTACTD_BROKERS=",
			"CONTACTD_LOG_LEVEL=debug",
			"CONTACTD_CONFIG=/nonexistent.conf",   /* known, but for cd_config_from_args */
			"CONTACTD_NOT_AN_OPTION=1",            /* ignored */
			"CONTACTD_KAFKA_ACKS=all",             /* kafka.* is not read from the environment */
			"CONTACTD_batch_size=0",               /* names are upper case */
			"contactd_group=x",
			"CONTACTD_GROUP",                      /* no '=': not a variable */
			NULL };
	cd_config c;
	cd_err err;
	(void)state;

	cd_config_init(&c);
	assert_int_equal(cd_config_set(&c, "brokers", "k:9092", "test", &err), 0);
	assert_int_equal(cd_config_load_env(&c, env, &err), 0);
	assert_int_equal(c.batch_size, 250);
	assert_int_equal(c.timer_interval_ms, 5000);
	assert_string_equal(c.redis_password, "hunter2");
	assert_string_equal(c.redis_host, "::1");
	assert_int_equal(c.redis_port, 7000);
	assert_true(c.reset_state);
	assert_true(c.event_clock);
	assert_string_equal(c.rules, "/srv/rules");
	assert_int_equal(c.n_input_topics, 2);
	assert_string_equal(c.input_topics[0], "a.v1");
	assert_string_equal(c.input_topics[1], "b.v1");
	assert_string_equal(c.brokers, "");
	assert_string_equal(c.group, "contactd");
	assert_int_equal(c.log_level, CD_LOG_DEBUG);
	assert_int_equal(c.n_kafka, 0);
	assert_null(c.config_file);
	cd_config_release(&c);
}

static void test_environment_error_names_the_variable(void **state)
{
	char *env[] = { "CONTACTD_BATCH_SIZE=0", NULL };
	cd_config c;
	cd_err err;
	(void)state;

	cd_config_init(&c);
	assert_int_equal(cd_config_load_env(&c, env, &err), -1);
	assert_string_equal(err.msg, "environment: CONTACTD_BATCH_SIZE: 0 is outside 1 … 100000");
	cd_config_release(&c);
}

/* ---- the command line and precedence ---------------------------------------------------- */

static void test_precedence_is_defaults_then_file_then_environment_then_command_line(void **state)
{
	char *path = write_temp("batch-size 10\n"
				"batch-wait-ms 11\n"
				"outbox-batch 12\n"
				"group from-file\n");
	char env_config[128];
	char *env[] = { env_config, "CONTACTD_BATCH_WAIT_MS=21", "CONTACTD_BATCH_SIZE=20", NULL };
	cd_config c;
	cd_err err;
	(void)state;

	snprintf(env_config, sizeof(env_config), "CONTACTD_CONFIG=%s", path);
	assert_int_equal(from_args(&c, env, &err, "--batch-size", "30", NULL), 0);
	assert_int_equal(c.batch_size, 30);        /* command line over environment over file */
	assert_int_equal(c.batch_wait_ms, 21);     /* environment over file */
	assert_int_equal(c.outbox_batch, 12);      /* file over default */
	assert_string_equal(c.group, "from-file");
	assert_int_equal(c.timer_interval_ms, 1000);   /* default */
	assert_string_equal(c.config_file, path);
	cd_config_release(&c);
	unlink(path);
	free(path);
}

static void test_config_flag_overrides_CONTACTD_CONFIG(void **state)
{
	char *path = write_temp("group from-flag-file\n");
	char *env[] = { "CONTACTD_CONFIG=/nonexistent/env.conf", NULL };
	cd_config c;
	cd_err err;
	(void)state;

	assert_int_equal(from_args(&c, env, &err, "--config", path, NULL), 0);
	assert_string_equal(c.group, "from-flag-file");
	assert_string_equal(c.config_file, path);
	cd_config_release(&c);

	assert_int_equal(from_args(&c, env, &err, NULL), -1);   /* the environment's file is missing */
	assert_non_null(strstr(err.msg, "file '/nonexistent/env.conf'"));
	cd_config_release(&c);

	assert_int_equal(from_args(&c, no_env, &err, NULL), 0);   /* no file at all */
	assert_null(c.config_file);
	cd_config_release(&c);
	unlink(path);
	free(path);
}

static void test_command_line_forms(void **state)
{
	cd_config c;
	cd_err err;
	(void)state;

	assert_int_equal(from_args(&c, no_env, &err, "--batch-size=7", "--group", "g1", "--reset-state", "--clock",
				   "event", "--redis", "[::1]:6400", NULL),
			 0);
	assert_int_equal(c.batch_size, 7);
	assert_string_equal(c.group, "g1");
	assert_true(c.reset_state);
	assert_true(c.event_clock);
	assert_string_equal(c.redis_host, "::1");
	assert_int_equal(c.redis_port, 6400);
	cd_config_release(&c);

	assert_int_equal(from_args(&c, no_env, &err, "--reset-state", "--reset-state=no", NULL), 0);
	assert_false(c.reset_state);
	cd_config_release(&c);
}

static void test_command_line_errors_name_the_command_line(void **state)
{
	cd_config c;
	cd_err err;
	(void)state;

	assert_int_equal(from_args(&c, no_env, &err, "--bacth-size", "5", NULL), -1);
	assert_string_equal(err.msg, "command line: unknown option 'bacth-size'");
	cd_config_release(&c);
	assert_int_equal(from_args(&c, no_env, &err, "--bacth-size=5", NULL), -1);
	assert_string_equal(err.msg, "command line: unknown option 'bacth-size'");
	cd_config_release(&c);
	assert_int_equal(from_args(&c, no_env, &err, "--reset", NULL), -1);
	assert_string_equal(err.msg, "command line: unknown option 'reset' (options are not abbreviated)");
	cd_config_release(&c);
	assert_int_equal(from_args(&c, no_env, &err, "--batch-size=5", "--brok=x", NULL), -1);
	assert_string_equal(err.msg, "command line: unknown option 'brok' (options are not abbreviated)");
	cd_config_release(&c);
	assert_int_equal(from_args(&c, no_env, &err, "--batch", "5", NULL), -1);   /* ambiguous too */
	assert_non_null(strstr(err.msg, "command line: unknown option 'batch'"));
	cd_config_release(&c);
	assert_int_equal(from_args(&c, no_env, &err, "-q", NULL), -1);
	assert_string_equal(err.msg, "command line: unknown option '-q'");
	cd_config_release(&c);
	assert_int_equal(from_args(&c, no_env, &err, "--batch-size", "0", NULL), -1);
	assert_string_equal(err.msg, "command line: key 'batch-size': 0 is outside 1 … 100000");
	cd_config_release(&c);
	assert_int_equal(from_args(&c, no_env, &err, "--group", NULL), -1);
	assert_string_equal(err.msg, "command line: key 'group': missing value");
	cd_config_release(&c);
	assert_int_equal(from_args(&c, no_env, &err, "--reset-state", "maybe", NULL), -1);
	assert_string_equal(err.msg, "command line: unexpected argument 'maybe'");
	cd_config_release(&c);
	assert_int_equal(from_args(&c, no_env, &err, "--reset-state=maybe", NULL), -1);
	assert_non_null(strstr(err.msg, "command line: key 'reset-state': 'maybe' is not a boolean"));
	cd_config_release(&c);
	assert_int_equal(from_args(&c, no_env, &err, "-X", NULL), -1);
	assert_string_equal(err.msg, "command line: -X expects a value");
	cd_config_release(&c);
	assert_int_equal(from_args(&c, no_env, &err, "-X", "acks", NULL), -1);
	assert_string_equal(err.msg, "command line: -X expects KEY=VALUE (a librdkafka property)");
	cd_config_release(&c);
}

static void test_help_prints_the_table_and_returns_1(void **state)
{
	capture k;
	cd_config c;
	cd_err err;
	char *out;
	(void)state;

	capture_start(&k, 1);
	assert_int_equal(from_args(&c, no_env, &err, "--batch-size", "5", "--help", NULL), 1);
	out = capture_end(&k);
	assert_non_null(strstr(out, "usage: contactd run"));
	assert_non_null(strstr(out, "batch-size"));
	cd_config_release(&c);
	free(out);

	capture_start(&k, 1);
	assert_int_equal(from_args(&c, no_env, &err, "-h", NULL), 1);
	free(capture_end(&k));
	cd_config_release(&c);
}

static void test_usage_lists_every_option_with_type_default_and_bounds(void **state)
{
	static const char *const names[] = {
		"brokers", "group", "input-topic", "deadline-topic", "breach-topic", "dlq-topic", "clock", "redis",
		"redis-user", "redis-password", "redis-password-file", "redis-db", "redis-prefix", "batch-size",
		"batch-wait-ms",
		"timer-interval-ms", "outbox-batch", "reset-state", "mock-brokers", "mock-partitions", "rules",
		"overlays-config", "overlays", "grace", "warn-days", "max-events", "max-obligations",
		"max-record-bytes", "log-level", "kafka.<property>",
	};
	char path[] = "/tmp/test_config_usage_XXXXXX", *out;
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	(void)state;

	assert_non_null(f);
	cd_config_usage(f);
	fclose(f);
	out = slurp(path);
	unlink(path);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char want[64];
		snprintf(want, sizeof(want), "\n  %s ", names[i]);
		assert_non_null(strstr(out, want));
	}
	assert_non_null(strstr(out, "1 … 100000"));
	assert_non_null(strstr(out, "wall | event"));
	assert_non_null(strstr(out, "debug | info | warn | error"));
	assert_non_null(strstr(out, "$CONTACTD_RULES or installed"));
	assert_non_null(strstr(out, "127.0.0.1:6379"));
	assert_non_null(strstr(out, "secret"));
	assert_non_null(strstr(out, "\n  redis-password-file "));
	assert_non_null(strstr(out, "secret file"));
	free(out);
}

/* ---- input-topic and kafka.* ---------------------------------------------------------- */

static void test_input_topic_first_value_of_a_source_replaces_later_ones_append(void **state)
{
	char *path = write_temp("input-topic file.a\ninput-topic file.b\n");
	char config[128];
	char *env_one[] = { config, "CONTACTD_INPUT_TOPIC=env.a", NULL };
	char *env_none[] = { config, NULL };
	cd_config c;
	cd_err err;
	(void)state;

	snprintf(config, sizeof(config), "CONTACTD_CONFIG=%s", path);

	/* the file replaces the default and appends its second line */
	assert_int_equal(from_args(&c, env_none, &err, NULL), 0);
	assert_int_equal(c.n_input_topics, 2);
	assert_string_equal(c.input_topics[0], "file.a");
	assert_string_equal(c.input_topics[1], "file.b");
	cd_config_release(&c);

	/* the environment replaces the file's list */
	assert_int_equal(from_args(&c, env_one, &err, NULL), 0);
	assert_int_equal(c.n_input_topics, 1);
	assert_string_equal(c.input_topics[0], "env.a");
	cd_config_release(&c);

	/* the command line replaces again, then appends (also comma-separated values) */
	assert_int_equal(from_args(&c, env_one, &err, "--input-topic", "cli.a", "--input-topic", "cli.b,cli.c", NULL),
			 0);
	assert_int_equal(c.n_input_topics, 3);
	assert_string_equal(c.input_topics[0], "cli.a");
	assert_string_equal(c.input_topics[1], "cli.b");
	assert_string_equal(c.input_topics[2], "cli.c");
	cd_config_release(&c);

	/* a single cd_config_set is a source of its own */
	cd_config_init(&c);
	assert_int_equal(cd_config_set(&c, "input-topic", "x", "test", &err), 0);
	assert_int_equal(cd_config_set(&c, "input-topic", "y", "test", &err), 0);
	assert_int_equal(c.n_input_topics, 1);
	assert_string_equal(c.input_topics[0], "y");
	assert_int_equal(cd_config_set(&c, "input-topic", "p, q", "test", &err), 0);
	assert_int_equal(c.n_input_topics, 2);
	assert_string_equal(c.input_topics[1], "q");
	assert_int_equal(cd_config_set(&c, "input-topic", "a,,b", "test", &err), -1);
	assert_string_equal(err.msg, "test: key 'input-topic': empty value in 'a,,b'");
	assert_int_equal(cd_config_set(&c, "input-topic", "", "test", &err), -1);
	assert_int_equal(c.n_input_topics, 2);   /* unchanged */
	cd_config_release(&c);
	unlink(path);
	free(path);
}

static void test_input_topic_holds_at_most_16(void **state)
{
	char *argv[2 + 2 * (CD_CONFIG_MAX_TOPICS + 1)] = { "run" }, names[CD_CONFIG_MAX_TOPICS + 1][16];
	int argc = 1;
	cd_config c;
	cd_err err;
	(void)state;

	for (int i = 0; i < CD_CONFIG_MAX_TOPICS; i++) {
		snprintf(names[i], sizeof(names[i]), "t%d", i);
		argv[argc++] = "--input-topic";
		argv[argc++] = names[i];
	}
	cd_config_init(&c);
	assert_int_equal(cd_config_from_args(&c, argc, argv, no_env, &err), 0);
	assert_int_equal(c.n_input_topics, CD_CONFIG_MAX_TOPICS);
	assert_string_equal(c.input_topics[CD_CONFIG_MAX_TOPICS - 1], "t15");
	cd_config_release(&c);

	argv[argc++] = "--input-topic";
	argv[argc++] = "one-too-many";
	cd_config_init(&c);
	assert_int_equal(cd_config_from_args(&c, argc, argv, no_env, &err), -1);
	assert_string_equal(err.msg, "command line: key 'input-topic': more than 16 values");
	cd_config_release(&c);
}

static void test_kafka_later_source_overrides_the_same_key_else_appends(void **state)
{
	char *path = write_temp("kafka.acks 1\n"
				"kafka.client.id contactd-file\n"
				"kafka.acks 0\n");   /* the same key again: the last value */
	cd_config c;
	cd_err err;
	(void)state;

	assert_int_equal(from_args(&c, no_env, &err, "--config", path, "-X", "acks=all", "-X", "kafka.linger.ms=5",
				   NULL),
			 0);
	assert_int_equal(c.n_kafka, 3);
	assert_string_equal(c.kafka[0].key, "acks");
	assert_string_equal(c.kafka[0].value, "all");
	assert_string_equal(c.kafka[1].key, "client.id");
	assert_string_equal(c.kafka[1].value, "contactd-file");
	assert_string_equal(c.kafka[2].key, "linger.ms");
	assert_string_equal(c.kafka[2].value, "5");
	cd_config_release(&c);
	unlink(path);
	free(path);
}

static void test_X_takes_keys_with_and_without_the_kafka_prefix(void **state)
{
	cd_config c;
	cd_err err;
	(void)state;

	assert_int_equal(from_args(&c, no_env, &err, "-X", "security.protocol=SASL_SSL", "-X",
				   "kafka.sasl.mechanism=PLAIN", "-Xsasl.username=u", "-X", "kafka.sasl.password=a=b",
				   "-X", "debug=", NULL),
			 0);
	assert_int_equal(c.n_kafka, 5);
	assert_string_equal(kafka_value(&c, "security.protocol"), "SASL_SSL");
	assert_string_equal(kafka_value(&c, "sasl.mechanism"), "PLAIN");
	assert_string_equal(kafka_value(&c, "sasl.username"), "u");
	assert_string_equal(kafka_value(&c, "sasl.password"), "a=b");   /* split at the first '=' */
	assert_string_equal(kafka_value(&c, "debug"), "");
	assert_null(kafka_value(&c, "kafka.sasl.mechanism"));
	cd_config_release(&c);
}

static void test_kafka_holds_at_most_128_properties(void **state)
{
	cd_config c;
	cd_err err;
	char key[32];
	(void)state;

	cd_config_init(&c);
	for (int i = 0; i < CD_CONFIG_MAX_KAFKA; i++) {
		snprintf(key, sizeof(key), "kafka.p%d", i);
		assert_int_equal(cd_config_set(&c, key, "v", "test", &err), 0);
	}
	assert_int_equal(cd_config_set(&c, "kafka.p0", "again", "test", &err), 0);   /* overriding still works */
	assert_int_equal(cd_config_set(&c, "kafka.one.more", "v", "test", &err), -1);
	assert_string_equal(err.msg, "test: key 'kafka.one.more': more than 128 librdkafka properties");
	assert_int_equal(c.n_kafka, CD_CONFIG_MAX_KAFKA);
	assert_string_equal(kafka_value(&c, "p0"), "again");
	cd_config_release(&c);
}

/* ---- the logged line ------------------------------------------------------------------ */

static void test_log_is_one_info_line_with_secrets_redacted(void **state)
{
	char *env[] = { "CONTACTD_REDIS_PASSWORD=hunter2", NULL };
	capture k;
	cd_config c;
	cd_err err;
	char *out, *nl;
	(void)state;

	cd_log_set_level(CD_LOG_INFO);
	assert_int_equal(from_args(&c, env, &err, "--redis", "[::1]:6379",
				   "--redis-user", "svc", "--input-topic", "a.v1,b.v1", "-X", "sasl.password=s3cret",
				   "-X", "sasl.jaas.config=jaas-s3cret", "-X", "ssl.key.pem=pem-s3cret", "-X",
				   "sasl.oauthbearer.client.secret=oauth-s3cret", "-X", "acks=all", NULL),
			 0);
	capture_start(&k, 2);
	cd_config_log(&c);
	out = capture_end(&k);
	nl = strchr(out, '\n');
	assert_non_null(nl);
	assert_string_equal(nl + 1, "");   /* one line */
	assert_non_null(strstr(out, "level=info"));
	assert_null(strstr(out, "s3cret"));
	assert_null(strstr(out, "hunter2"));
	assert_non_null(strstr(out, " redis-password=*** "));
	assert_non_null(strstr(out, " kafka.sasl.password=*** "));
	assert_non_null(strstr(out, " kafka.sasl.jaas.config=*** "));
	assert_non_null(strstr(out, " kafka.ssl.key.pem=*** "));
	assert_non_null(strstr(out, " kafka.sasl.oauthbearer.client.secret=*** "));
	assert_non_null(strstr(out, " kafka.acks=all "));
	assert_non_null(strstr(out, " redis-user=svc "));
	assert_non_null(strstr(out, " redis=[::1]:6379 "));
	assert_non_null(strstr(out, " input-topic=a.v1,b.v1 "));
	assert_non_null(strstr(out, " batch-size=1000 "));
	assert_non_null(strstr(out, " clock=wall "));
	assert_non_null(strstr(out, " reset-state=false "));
	assert_non_null(strstr(out, " log-level=info "));
	assert_non_null(strstr(out, " brokers=\"\" "));
	assert_non_null(strstr(out, " max-record-bytes=1048576 "));
	free(out);
	cd_config_release(&c);
}

static void test_log_is_silent_below_its_level(void **state)
{
	capture k;
	cd_config c;
	char *out;
	(void)state;

	cd_config_init(&c);
	cd_log_set_level(CD_LOG_WARN);
	capture_start(&k, 2);
	cd_config_log(&c);
	out = capture_end(&k);
	cd_log_set_level(CD_LOG_INFO);
	assert_string_equal(out, "");
	free(out);
	cd_config_release(&c);
}

/* ---- the Redis password: never on the command line; a file ------------------------------ */

#define REFUSED_MSG                                                                                              \
	"command line: --redis-password is refused: every user of the machine can read a command line (ps, "  \
	"/proc/PID/cmdline); use --redis-password-file FILE, the environment variable CONTACTD_REDIS_PASSWORD, " \
	"or `redis-password` in the --config file"

static void test_redis_password_on_the_command_line_is_refused_saying_why_and_what_instead(void **state)
{
	cd_config c;
	cd_err err;
	(void)state;

	assert_int_equal(from_args(&c, no_env, &err, "--redis-password", "hunter2", NULL), -1);
	assert_string_equal(err.msg, REFUSED_MSG);
	assert_string_equal(c.redis_password, "");
	cd_config_release(&c);
	assert_int_equal(from_args(&c, no_env, &err, "--group", "g", "--redis-password=hunter2", NULL), -1);
	assert_string_equal(err.msg, REFUSED_MSG);
	cd_config_release(&c);
	assert_int_equal(from_args(&c, no_env, &err, "--redis-password", NULL), -1);   /* without a value too */
	assert_string_equal(err.msg, REFUSED_MSG);
	cd_config_release(&c);
}

/* The environment and the config file still give the password, and nothing is logged for them. */
static void test_redis_password_from_the_environment_or_the_config_file_is_accepted_quietly(void **state)
{
	char *path = write_temp("redis-password \"from file\"\n");
	char env_config[128];
	char *env[] = { "CONTACTD_REDIS_PASSWORD=from-env", NULL }, *env_file[] = { env_config, NULL };
	capture k;
	cd_config c;
	cd_err err;
	char *out;
	(void)state;

	capture_start(&k, 2);
	assert_int_equal(from_args(&c, env, &err, "--group", "g", NULL), 0);
	assert_string_equal(c.redis_password, "from-env");
	cd_config_release(&c);
	snprintf(env_config, sizeof(env_config), "CONTACTD_CONFIG=%s", path);
	assert_int_equal(from_args(&c, env_file, &err, NULL), 0);
	assert_string_equal(c.redis_password, "from file");
	cd_config_release(&c);
	out = capture_end(&k);
	assert_string_equal(out, "");
	free(out);
	unlink(path);
	free(path);
}

/* from_args with --redis-password-file <a file holding len bytes>; the file is removed after. */
static int from_password_file(cd_config *c, cd_err *err, const void *bytes, size_t len)
{
	char *path = write_temp_bytes(bytes, len, 0600);
	int rc = from_args(c, no_env, err, "--redis-password-file", path, NULL);

	if (rc == 0)
		assert_string_equal(c->redis_password_file, path);
	unlink(path);
	free(path);
	return rc;
}

static void test_password_file_is_the_password_without_one_trailing_newline(void **state)
{
	static const struct { const char *text, *want; } cases[] = {
		{ "s3cret", "s3cret" },
		{ "s3cret\n", "s3cret" },
		{ "s3cret\r\n", "s3cret" },
		{ " s3 cret\t\n", " s3 cret\t" },               /* blanks are the password's own */
		{ "\"quoted\" # not a comment\n", "\"quoted\" # not a comment" },
	};
	cd_config c;
	cd_err err;
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(from_password_file(&c, &err, cases[i].text, strlen(cases[i].text)), 0);
		assert_string_equal(c.redis_password, cases[i].want);
		cd_config_release(&c);
	}
}

/* The same option from the environment and from the config file. */
static void test_password_file_comes_from_every_source(void **state)
{
	char *pw = write_temp_bytes("pw-in-file\n", 11, 0400);
	char *conf, line[160], env_pw[160], env_config[160];
	char *env[] = { env_pw, NULL }, *env_conf[] = { env_config, NULL };
	cd_config c;
	cd_err err;
	(void)state;

	snprintf(env_pw, sizeof(env_pw), "CONTACTD_REDIS_PASSWORD_FILE=%s", pw);
	assert_int_equal(from_args(&c, env, &err, NULL), 0);
	assert_string_equal(c.redis_password, "pw-in-file");
	assert_string_equal(c.redis_password_file, pw);
	cd_config_release(&c);

	snprintf(line, sizeof(line), "redis-user contactd\nredis-password-file %s\n", pw);
	conf = write_temp(line);
	snprintf(env_config, sizeof(env_config), "CONTACTD_CONFIG=%s", conf);
	assert_int_equal(from_args(&c, env_conf, &err, NULL), 0);
	assert_string_equal(c.redis_password, "pw-in-file");
	assert_string_equal(c.redis_user, "contactd");
	cd_config_release(&c);

	/* a later source names another file: that one is read (here a missing one) */
	assert_int_equal(from_args(&c, env_conf, &err, "--redis-password-file", "/nonexistent/pw", NULL), -1);
	assert_string_equal(err.msg, "redis-password-file '/nonexistent/pw': cannot open: No such file or directory");
	cd_config_release(&c);
	unlink(conf);
	free(conf);
	unlink(pw);
	free(pw);
}

/* A pipe is read too: --redis-password-file <(pass show redis). */
static void test_password_file_may_be_a_pipe(void **state)
{
	int fds[2];
	char path[64];
	cd_config c;
	cd_err err;
	(void)state;

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "from-a-pipe\n", 12), 12);
	close(fds[1]);
	snprintf(path, sizeof(path), "/dev/fd/%d", fds[0]);
	assert_int_equal(from_args(&c, no_env, &err, "--redis-password-file", path, NULL), 0);
	assert_string_equal(c.redis_password, "from-a-pipe");
	cd_config_release(&c);
	close(fds[0]);
}

/* Each refused file gives err "redis-password-file '<path>': <rest>". */
static void assert_password_file_refused(const void *bytes, size_t len, const char *rest)
{
	char *path = write_temp_bytes(bytes, len, 0600), want[512];
	cd_config c;
	cd_err err;

	assert_int_equal(from_args(&c, no_env, &err, "--redis-password-file", path, NULL), -1);
	snprintf(want, sizeof(want), "redis-password-file '%s': %s", path, rest);
	assert_string_equal(err.msg, want);
	assert_string_equal(c.redis_password, "");
	cd_config_release(&c);
	unlink(path);
	free(path);
}

static void test_password_file_errors_name_the_file_and_the_problem(void **state)
{
	static const char lines[] = "holds more than one line: the password is the whole file, with at most one "
				    "line break at its end";
	char big[CD_CONFIG_SECRET_FILE_MAX + 2];
	cd_config c;
	cd_err err;
	(void)state;

	assert_password_file_refused("", 0, "empty: the file holds no password");
	assert_password_file_refused("\n", 1, "empty: the file holds no password");
	assert_password_file_refused("\r\n", 2, "empty: the file holds no password");
	assert_password_file_refused("pass\nword\n", 10, lines);
	assert_password_file_refused("password\n\n", 10, lines);   /* only one line break is stripped */
	assert_password_file_refused("pass\rword", 9, lines);
	assert_password_file_refused("pass\0word\n", 10, "holds a NUL byte: not a password file");

	/* at most 4096 bytes, the line break included */
	memset(big, 'x', sizeof(big));
	assert_password_file_refused(big, CD_CONFIG_SECRET_FILE_MAX + 1, "larger than 4096 bytes: not a password file");
	big[CD_CONFIG_SECRET_FILE_MAX - 1] = '\n';
	assert_int_equal(from_password_file(&c, &err, big, CD_CONFIG_SECRET_FILE_MAX), 0);
	assert_int_equal(strlen(c.redis_password), CD_CONFIG_SECRET_FILE_MAX - 1);
	cd_config_release(&c);

	assert_int_equal(from_args(&c, no_env, &err, "--redis-password-file", "/nonexistent/redis/password", NULL), -1);
	assert_string_equal(err.msg,
			    "redis-password-file '/nonexistent/redis/password': cannot open: No such file or directory");
	cd_config_release(&c);
	assert_int_equal(from_args(&c, no_env, &err, "--redis-password-file", "/tmp", NULL), -1);
	assert_string_equal(err.msg, "redis-password-file '/tmp': cannot read: Is a directory");
	cd_config_release(&c);
}

static void test_password_and_password_file_together_is_an_error_naming_both(void **state)
{
	static const char both[] = "redis-password and redis-password-file are both set: give the password once, "
				   "in one of them";
	char *pw = write_temp_bytes("pw\n", 3, 0600), *conf, line[160], env_file[160], env_config[160];
	char *env[] = { "CONTACTD_REDIS_PASSWORD=hunter2", NULL }, *env2[] = { env_file, env_config, NULL };
	char *env_empty[] = { "CONTACTD_REDIS_PASSWORD=", NULL };
	cd_config c;
	cd_err err;
	(void)state;

	assert_int_equal(from_args(&c, env, &err, "--redis-password-file", pw, NULL), -1);
	assert_string_equal(err.msg, both);
	cd_config_release(&c);

	snprintf(line, sizeof(line), "redis-password hunter2\n");
	conf = write_temp(line);
	snprintf(env_file, sizeof(env_file), "CONTACTD_REDIS_PASSWORD_FILE=%s", pw);
	snprintf(env_config, sizeof(env_config), "CONTACTD_CONFIG=%s", conf);
	assert_int_equal(from_args(&c, env2, &err, NULL), -1);
	assert_string_equal(err.msg, both);
	cd_config_release(&c);

	/* checked before the file is read: a missing file still says both */
	assert_int_equal(from_args(&c, env, &err, "--redis-password-file", "/nonexistent/pw", NULL), -1);
	assert_string_equal(err.msg, both);
	cd_config_release(&c);

	/* an empty password is none: no conflict */
	assert_int_equal(from_args(&c, env_empty, &err, "--redis-password-file", pw, NULL), 0);
	assert_string_equal(c.redis_password, "pw");
	cd_config_release(&c);
	unlink(conf);
	free(conf);
	unlink(pw);
	free(pw);
}

/* from_args with a password file of this mode and these extra arguments: what it logged. */
static char *mode_warning(mode_t mode, const char *arg)
{
	char *path = write_temp_bytes("pw\n", 3, mode), *out;
	capture k;
	cd_config c;
	cd_err err;

	capture_start(&k, 2);
	assert_int_equal(from_args(&c, no_env, &err, "--redis-password-file", path, arg, NULL), 0);
	out = capture_end(&k);
	assert_string_equal(c.redis_password, "pw");
	cd_config_release(&c);
	unlink(path);
	free(path);
	return out;
}

static void test_password_file_open_to_others_or_group_writable_warns_once(void **state)
{
	static const mode_t quiet[] = { 0400, 0600, 0440, 0640, 0700 }, loud[] = { 0644, 0604, 0620, 0666, 0601 };
	char *out, want[32], *nl;
	(void)state;

	cd_log_set_level(CD_LOG_INFO);
	for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++) {
		out = mode_warning(quiet[i], NULL);
		assert_string_equal(out, "");
		free(out);
	}
	for (size_t i = 0; i < sizeof(loud) / sizeof(loud[0]); i++) {
		out = mode_warning(loud[i], NULL);
		snprintf(want, sizeof(want), " mode=%04o ", (unsigned)loud[i]);
		assert_non_null(strstr(out, "level=warn msg=\"password file is open to other users\" "
					    "option=redis-password-file file=/tmp/test_config_"));
		assert_non_null(strstr(out, want));
		assert_null(strstr(out, "pw\n"));
		nl = strchr(out, '\n');
		assert_non_null(nl);
		assert_string_equal(nl + 1, "");   /* once */
		free(out);
	}
	/* log-level error: no warning */
	out = mode_warning(0644, "--log-level=error");
	assert_string_equal(out, "");
	free(out);
}

/* The logged configuration names the file, never the password it holds. */
static void test_log_shows_the_password_file_not_the_password(void **state)
{
	char *pw = write_temp_bytes("pw-Zq81x\n", 9, 0600), want[128];
	capture k;
	cd_config c;
	cd_err err;
	char *out;
	(void)state;

	cd_log_set_level(CD_LOG_INFO);
	assert_int_equal(from_args(&c, no_env, &err, "--redis-password-file", pw, "--redis-user", "contactd", NULL), 0);
	capture_start(&k, 2);
	cd_config_log(&c);
	out = capture_end(&k);
	assert_null(strstr(out, "pw-Zq81x"));
	snprintf(want, sizeof(want), " redis-password-file=%s ", pw);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, " redis-password=*** "));
	free(out);
	cd_config_release(&c);
	unlink(pw);
	free(pw);
}

/* The citizen key: a secret as the Redis password is (file, never the command line, never logged). */
static void test_citizen_key_comes_from_its_file_is_never_logged_and_never_on_the_command_line(void **state)
{
	char *key = write_temp_bytes("ck-0123456789abcdef0123456789abcdef-Zq\n", 38, 0600), want[160];
	capture k;
	cd_config c;
	cd_err err;
	char *out;
	(void)state;

	assert_int_equal(from_args(&c, no_env, &err, NULL), 0);
	assert_string_equal(c.citizen_key, "");          /* none: the development key (processor.c) */
	assert_false(c.log_citizen_ids);
	cd_config_release(&c);
	assert_int_equal(from_args(&c, no_env, &err, "--citizen-key-file", key, "--log-citizen-ids", NULL), 0);
	assert_string_equal(c.citizen_key, "ck-0123456789abcdef0123456789abcdef-Zq");
	assert_true(c.log_citizen_ids);
	cd_log_set_level(CD_LOG_INFO);
	capture_start(&k, 2);
	cd_config_log(&c);
	out = capture_end(&k);
	assert_null(strstr(out, "ck-0123456789abcdef"));
	snprintf(want, sizeof(want), " citizen-key-file=%s ", key);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, " citizen-key=*** "));
	free(out);
	cd_config_release(&c);
	assert_int_equal(from_args(&c, no_env, &err, "--citizen-key", "ck-on-the-command-line", NULL), -1);
	assert_non_null(strstr(err.msg, "--citizen-key is refused"));
	assert_null(strstr(err.msg, "ck-on-the-command-line"));
	cd_config_release(&c);
	unlink(key);
	free(key);
}

/* The tools' reader: the same rules, under the name the tool gives. */
static void test_read_secret_file_names_the_option_it_is_given(void **state)
{
	char *path = write_temp_bytes("tool-pw\r\n", 9, 0600), *pw = (char *)"x", want[256];
	cd_err err;
	(void)state;

	assert_int_equal(cd_config_read_secret_file("--redis-password-file", path, false, &pw, &err), 0);
	assert_string_equal(pw, "tool-pw");
	free(pw);
	unlink(path);
	pw = (char *)"x";
	assert_int_equal(cd_config_read_secret_file("--redis-password-file", path, false, &pw, &err), -1);
	assert_null(pw);
	snprintf(want, sizeof(want), "--redis-password-file '%s': cannot open: No such file or directory", path);
	assert_string_equal(err.msg, want);
	free(path);
}

/* ---- law-transition ------------------------------------------------------------------- */

/* Default period-start; both values from every source, as the other enum options. */
static void test_law_transition_defaults_to_period_start_and_takes_both_values_from_every_source(void **state)
{
	char *path;
	char *env_c[] = { "CONTACTD_LAW_TRANSITION=commencement", NULL };
	char *env_p[] = { "CONTACTD_LAW_TRANSITION=period-start", NULL };
	cd_config c;
	cd_err err;
	int v = -1;
	(void)state;

	cd_config_init(&c);
	assert_int_equal(c.law_transition, CD_LAW_PERIOD_START);
	assert_int_equal(cd_config_set(&c, "law-transition", "commencement", "test", &err), 0);
	assert_int_equal(c.law_transition, CD_LAW_COMMENCEMENT);
	assert_int_equal(cd_config_set(&c, "law-transition", "period-start", "test", &err), 0);
	assert_int_equal(c.law_transition, CD_LAW_PERIOD_START);
	cd_config_release(&c);

	/* file */
	path = write_temp("# the 2026 reform reaches running courses\nlaw-transition commencement\n");
	cd_config_init(&c);
	assert_int_equal(cd_config_load_file(&c, path, &err), 0);
	assert_int_equal(c.law_transition, CD_LAW_COMMENCEMENT);
	cd_config_release(&c);
	unlink(path);
	free(path);
	path = write_temp("law-transition = \"period-start\"\n");
	cd_config_init(&c);
	assert_int_equal(cd_config_set(&c, "law-transition", "commencement", "test", &err), 0);
	assert_int_equal(cd_config_load_file(&c, path, &err), 0);
	assert_int_equal(c.law_transition, CD_LAW_PERIOD_START);
	cd_config_release(&c);
	unlink(path);
	free(path);

	/* environment */
	cd_config_init(&c);
	assert_int_equal(cd_config_load_env(&c, env_c, &err), 0);
	assert_int_equal(c.law_transition, CD_LAW_COMMENCEMENT);
	assert_int_equal(cd_config_load_env(&c, env_p, &err), 0);
	assert_int_equal(c.law_transition, CD_LAW_PERIOD_START);
	cd_config_release(&c);

	/* command line, both forms, and over the environment */
	assert_int_equal(from_args(&c, no_env, &err, "--law-transition", "commencement", NULL), 0);
	assert_int_equal(c.law_transition, CD_LAW_COMMENCEMENT);
	cd_config_release(&c);
	assert_int_equal(from_args(&c, env_c, &err, "--law-transition=period-start", NULL), 0);
	assert_int_equal(c.law_transition, CD_LAW_PERIOD_START);
	cd_config_release(&c);
	assert_int_equal(from_args(&c, env_c, &err, NULL), 0);
	assert_int_equal(c.law_transition, CD_LAW_COMMENCEMENT);
	cd_config_release(&c);

	/* cd_config_enum_option: what replay's --law-transition uses */
	assert_int_equal(cd_config_enum_option("law-transition", "commencement", &v, &err), 0);
	assert_int_equal(v, CD_LAW_COMMENCEMENT);
	assert_int_equal(cd_config_enum_option("law-transition", "period-start", &v, &err), 0);
	assert_int_equal(v, CD_LAW_PERIOD_START);
	assert_int_equal(cd_config_enum_option("clock", "event", &v, &err), 0);
	assert_int_equal(v, 1);
}

/* A bad value names the source, the key and the choices, and changes nothing. */
static void test_law_transition_bad_value_names_the_key_and_the_choices(void **state)
{
	char *env[] = { "CONTACTD_LAW_TRANSITION=immediately", NULL };
	cd_config c;
	cd_err err;
	int v = 7;
	(void)state;

	cd_config_init(&c);
	assert_int_equal(cd_config_set(&c, "law-transition", "commencement", "test", &err), 0);
	assert_int_equal(cd_config_set(&c, "law-transition", "Commencement", "command line", &err), -1);
	assert_string_equal(err.msg,
			    "command line: key 'law-transition': 'Commencement' is not one of period-start, commencement");
	assert_int_equal(c.law_transition, CD_LAW_COMMENCEMENT);
	assert_int_equal(cd_config_set(&c, "law-transition", "", "command line", &err), -1);
	assert_non_null(strstr(err.msg, "law-transition"));
	cd_config_release(&c);

	assert_file_error("\nlaw-transition period_start\n",
			  "2: key 'law-transition': 'period_start' is not one of period-start, commencement");

	cd_config_init(&c);
	assert_int_equal(cd_config_load_env(&c, env, &err), -1);
	assert_non_null(strstr(err.msg, "CONTACTD_LAW_TRANSITION"));
	assert_non_null(strstr(err.msg, "'immediately' is not one of period-start, commencement"));
	assert_int_equal(c.law_transition, CD_LAW_PERIOD_START);
	cd_config_release(&c);

	assert_int_equal(from_args(&c, no_env, &err, "--law-transition", "now", NULL), -1);
	assert_string_equal(err.msg, "command line: key 'law-transition': 'now' is not one of period-start, commencement");
	cd_config_release(&c);
	assert_int_equal(from_args(&c, no_env, &err, "--law-transition", NULL), -1);
	assert_string_equal(err.msg, "command line: key 'law-transition': missing value");
	cd_config_release(&c);

	assert_int_equal(cd_config_enum_option("law-transition", "now", &v, &err), -1);
	assert_int_equal(v, 7);
	assert_string_equal(err.msg, "command line: key '--law-transition': 'now' is not one of period-start, commencement");
	assert_int_equal(cd_config_enum_option("batch-size", "1", &v, &err), -1);
	assert_string_equal(err.msg, "no enum option 'batch-size'");
	assert_int_equal(cd_config_enum_option("no-such", "1", &v, &err), -1);
	assert_int_equal(v, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_are_those_of_the_table),
		cmocka_unit_test(test_rules_default_is_CONTACTD_RULES_else_the_installed_dir),
		cmocka_unit_test(test_int_outside_bounds_is_an_error_naming_origin_and_key),
		cmocka_unit_test(test_int_that_is_not_a_whole_number_is_an_error),
		cmocka_unit_test(test_bool_accepts_true_false_yes_no_1_0),
		cmocka_unit_test(test_enum_clock_and_log_level_map_to_their_fields),
		cmocka_unit_test(test_law_transition_defaults_to_period_start_and_takes_both_values_from_every_source),
		cmocka_unit_test(test_law_transition_bad_value_names_the_key_and_the_choices),
		cmocka_unit_test(test_string_set_twice_keeps_the_last_and_frees_the_first),
		cmocka_unit_test(test_unknown_option_is_an_error_naming_origin),
		cmocka_unit_test(test_redis_is_host_colon_port_with_ipv6_in_brackets),
		cmocka_unit_test(test_redis_without_a_valid_host_and_port_is_an_error),
		cmocka_unit_test(test_file_takes_comments_quotes_and_both_separators),
		cmocka_unit_test(test_file_errors_name_the_file_the_line_and_the_key),
		cmocka_unit_test(test_file_line_longer_than_4096_bytes_is_an_error),
		cmocka_unit_test(test_missing_file_is_an_error_naming_it),
		cmocka_unit_test(test_environment_is_CONTACTD_UPPER_SNAKE_of_every_option),
		cmocka_unit_test(test_environment_error_names_the_variable),
		cmocka_unit_test(test_precedence_is_defaults_then_file_then_environment_then_command_line),
		cmocka_unit_test(test_config_flag_overrides_CONTACTD_CONFIG),
		cmocka_unit_test(test_command_line_forms),
		cmocka_unit_test(test_command_line_errors_name_the_command_line),
		cmocka_unit_test(test_help_prints_the_table_and_returns_1),
		cmocka_unit_test(test_usage_lists_every_option_with_type_default_and_bounds),
		cmocka_unit_test(test_input_topic_first_value_of_a_source_replaces_later_ones_append),
		cmocka_unit_test(test_input_topic_holds_at_most_16),
		cmocka_unit_test(test_kafka_later_source_overrides_the_same_key_else_appends),
		cmocka_unit_test(test_X_takes_keys_with_and_without_the_kafka_prefix),
		cmocka_unit_test(test_kafka_holds_at_most_128_properties),
		cmocka_unit_test(test_log_is_one_info_line_with_secrets_redacted),
		cmocka_unit_test(test_log_is_silent_below_its_level),
		cmocka_unit_test(test_redis_password_on_the_command_line_is_refused_saying_why_and_what_instead),
		cmocka_unit_test(test_redis_password_from_the_environment_or_the_config_file_is_accepted_quietly),
		cmocka_unit_test(test_password_file_is_the_password_without_one_trailing_newline),
		cmocka_unit_test(test_password_file_comes_from_every_source),
		cmocka_unit_test(test_password_file_may_be_a_pipe),
		cmocka_unit_test(test_password_file_errors_name_the_file_and_the_problem),
		cmocka_unit_test(test_password_and_password_file_together_is_an_error_naming_both),
		cmocka_unit_test(test_password_file_open_to_others_or_group_writable_warns_once),
		cmocka_unit_test(test_log_shows_the_password_file_not_the_password),
		cmocka_unit_test(test_citizen_key_comes_from_its_file_is_never_logged_and_never_on_the_command_line),
		cmocka_unit_test(test_read_secret_file_names_the_option_it_is_given),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
