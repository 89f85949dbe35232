/*
 * config.c — the options of `contactd run`, kept in one table.
 *
 * Like redis's config.c, every option is one row of `options[]`: its name, its
 * type, its default (as text), its bounds, its help and the field of
 * cd_config it fills. Nothing else in this file knows any option by name:
 * defaults, the file, the environment, the command line, the logged line and
 * the --help table are all loops over the rows, and what happens to a value
 * is decided by the row's type alone:
 *
 *   string, secret   an owned copy replaces the old one (a secret is logged as "***");
 *                    a secret is never taken from the command line, where every user
 *                    of the machine can read it (ps, /proc/PID/cmdline)
 *   secret file      the path of a file that holds the secret of the row it names
 *                    (redis-password-file: redis-password); logged as the path
 *   int              a whole decimal number within [lo, hi]; nothing is clamped
 *   bool             true/false/yes/no/1/0 (any case); a bare --flag means true
 *   enum             one of the row's choices, stored as its value (int or bool field)
 *   host:port        HOST:PORT or [IPv6]:PORT, port 1 … 65535; the host is kept
 *                    without brackets (what hiredis wants)
 *   list             repeatable (and comma-separated); the first value a source gives
 *                    replaces the list, later values from the same source append
 *   kafka            `kafka.<property>`: a key already present takes the new value,
 *                    any other is appended; the "kafka." prefix is not stored
 *
 * A source is one file, the environment, the command line, or a single
 * cd_config_set call (which therefore replaces a list). Error messages start
 * with the source ("file 'x.conf' line 12", "environment", "command line"),
 * then name the key (in the environment: the variable), then the problem.
 * A value that fails validation leaves the option as it was. Once every
 * source is loaded, cd_config_from_args reads the secret files
 * (read_secret_files), whose errors name the option and the path: a secret
 * given both itself and as a file is an error naming both options.
 *
 * Ownership: every string in cd_config is owned by it; cd_config_release frees
 * them all and leaves the struct zeroed (releasing twice is harmless).
 * cd_config_from_args expects a config filled by cd_config_init; whatever it
 * returns, the caller releases the config.
 */
#include "consumer/config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state/engine.h"
#include "util/datadir.h"
#include "util/log.h"
#include "util/num.h"

extern char **environ;

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define KAFKA_PREFIX "kafka."
#define KAFKA_PREFIX_LEN (sizeof(KAFKA_PREFIX) - 1)
#define ENV_PREFIX "CONTACTD_"
#define FILE_LINE_MAX 4096       /* bytes in one line of the file, without its newline */
#define SPACE " \t\r\n\f\v"

/* ---- the table ------------------------------------------------------------------ */

typedef enum opt_type {
	T_STRING, T_SECRET, T_SECRET_FILE, T_INT, T_BOOL, T_ENUM, T_HOSTPORT, T_LIST, T_KAFKA
} opt_type;

static const char *const type_names[] = { "string", "secret", "secret file", "int", "bool", "enum", "host:port",
					  "list", "kafka" };

typedef struct choice {
	const char *name;
	int value;
} choice;

static const choice stage_choices[] = {
	{ "citizens", CD_STAGE_CITIZENS }, { "aggregates", CD_STAGE_AGGREGATES }, { NULL, 0 }
};
static const choice clock_choices[] = { { "wall", 0 }, { "event", 1 }, { NULL, 0 } };
static const choice transition_choices[] = {
	{ "period-start", CD_LAW_PERIOD_START }, { "commencement", CD_LAW_COMMENCEMENT }, { NULL, 0 }
};
static const choice level_choices[] = {
	{ "debug", CD_LOG_DEBUG }, { "info", CD_LOG_INFO }, { "warn", CD_LOG_WARN }, { "error", CD_LOG_ERROR }, { NULL, 0 },
};

typedef struct option_def {
	const char *name;
	opt_type type;
	const char *def;          /* the default, as text, set like any other value; NULL: none */
	const char *def_env;      /* if this variable is set and not empty, its value is the default */
	const char *(*def_fn)(void); /* instead of def: a default found at run time */
	long lo, hi;              /* int: the bounds; list, kafka: hi is the most entries */
	const choice *choices;    /* enum: ends with a NULL name */
	const char *secret;       /* secret file: the name of the secret row the file fills */
	size_t off;               /* the field: char * (string, secret, secret file, host), int or bool
	                             (int, bool, enum), char *[] (list), cd_kv[] (kafka) */
	size_t size;              /* sizeof the field at off */
	size_t off2;              /* host:port: the int port; list, kafka: the size_t count */
	const char *help;
} option_def;

#define FIELD(f) .off = offsetof(cd_config, f), .size = sizeof(((cd_config *)0)->f)
#define STRING(n, f, d, h) { .name = n, .type = T_STRING, .def = d, FIELD(f), .help = h }
#define SECRET(n, f, d, h) { .name = n, .type = T_SECRET, .def = d, FIELD(f), .help = h }
#define SECRET_FILE(n, f, s, h) \
	{ .name = n, .type = T_SECRET_FILE, .def = "", .secret = s, FIELD(f), .help = h }
#define INT(n, f, d, l, u, h) { .name = n, .type = T_INT, .def = d, .lo = l, .hi = u, FIELD(f), .help = h }
#define BOOL(n, f, d, h) { .name = n, .type = T_BOOL, .def = d, FIELD(f), .help = h }
#define ENUM(n, f, d, c, h) { .name = n, .type = T_ENUM, .def = d, .choices = c, FIELD(f), .help = h }
#define HOSTPORT(n, f, p, d, h) \
	{ .name = n, .type = T_HOSTPORT, .def = d, FIELD(f), .off2 = offsetof(cd_config, p), .help = h }
/* a host:port that may be empty (off): lo = 1 */
#define HOSTPORT_OFF(n, f, p, d, h) \
	{ .name = n, .type = T_HOSTPORT, .def = d, .lo = 1, FIELD(f), .off2 = offsetof(cd_config, p), .help = h }
#define LIST(n, f, cnt, d, max, h) \
	{ .name = n, .type = T_LIST, .def = d, .hi = max, FIELD(f), .off2 = offsetof(cd_config, cnt), .help = h }
#define KAFKA(n, f, cnt, max, h) \
	{ .name = n, .type = T_KAFKA, .hi = max, FIELD(f), .off2 = offsetof(cd_config, cnt), .help = h }

static const option_def options[] = {
	STRING("brokers", brokers, "", "Kafka bootstrap servers (empty: the embedded mock cluster)"),
	STRING("group", group, "contactd", "consumer group id"),
	LIST("input-topic", input_topics, n_input_topics, CD_TOPIC_EVENTS, CD_CONFIG_MAX_TOPICS,
	     "input topics, co-partitioned (repeatable or comma-separated)"),
	STRING("deadline-topic", deadline_topic, CD_TOPIC_DEADLINES, "topic of deadline outputs"),
	STRING("breach-topic", breach_topic, CD_TOPIC_BREACHES, "topic of breach outputs"),
	STRING("dlq-topic", dlq_topic, CD_TOPIC_DLQ, "dead-letter topic"),
	ENUM("stage", stage, "citizens", stage_choices,
	     "what runs: the citizen processor, or the aggregate stage (reads members-topic, group <group>-aggregates)"),
	STRING("members-topic", members_topic, CD_TOPIC_MEMBERS,
	       "internal topic of share members and clock watermarks, keyed by aggregate key (empty: not written)"),
	STRING("aggregates-topic", aggregates_topic, CD_TOPIC_AGGREGATES, "topic of aggregate outputs (stage aggregates)"),
	INT("dlq-max-bytes", dlq_max_bytes, "262144", 0, 900000,
	    "most bytes of a bad input a dead letter carries (longer: cut, with length and digest in headers)"),
	INT("drain-timeout-ms", drain_timeout_ms, "15000", 0, 600000,
	    "on SIGTERM: longest wait to finish batches and empty the outbox"),
	ENUM("clock", event_clock, "wall", clock_choices, "what drives timers: the wall clock or event time"),
	HOSTPORT("redis", redis_host, redis_port, "127.0.0.1:6379", "Redis address ([::1]:6379 for IPv6)"),
	STRING("redis-user", redis_user, "", "Redis ACL user (empty: none)"),
	SECRET("redis-password", redis_password, "",
	       "Redis password (empty: none); refused on the command line (ps shows it): use the config file, "
	       "CONTACTD_REDIS_PASSWORD or redis-password-file"),
	SECRET_FILE("redis-password-file", redis_password_file, "redis-password",
		    "file holding the Redis password, one line (empty: none); at most 4096 bytes"),
	SECRET("citizen-key", citizen_key, "",
	       "key of the citizen pseudonyms in logs, dead-letter texts and Redis key names (empty: the built-in "
	       "development key, with a warning); refused on the command line: use citizen-key-file"),
	SECRET_FILE("citizen-key-file", citizen_key_file, "citizen-key",
		    "file holding the citizen pseudonym key, one line of at least 32 bytes (empty: none)"),
	BOOL("log-citizen-ids", log_citizen_ids, "false",
	     "debugging only: log raw citizen ids instead of their pseudonyms (warned at start)"),
	INT("redis-db", redis_db, "0", 0, 1000, "Redis database number"),
	STRING("redis-prefix", redis_prefix, "contactd", "prefix of every Redis key"),
	INT("batch-size", batch_size, "1000", 1, 100000, "messages per partition batch"),
	INT("batch-wait-ms", batch_wait_ms, "50", 0, 10000, "longest wait to fill a batch"),
	INT("timer-interval-ms", timer_interval_ms, "1000", 10, 600000, "wall clock: how often timers are scanned"),
	INT("outbox-batch", outbox_batch, "1000", 1, 100000, "entries the relay sends at once"),
	BOOL("reset-state", reset_state, "false", "deliberately rebuild partitions whose Redis state is gone"),
	BOOL("check-config", check_config, "false", "load every source, log the effective configuration, and exit"),
	INT("mock-brokers", mock_brokers, "1", 1, 9, "embedded mock cluster: brokers"),
	INT("mock-partitions", mock_partitions, "8", 1, 1024, "embedded mock cluster: partitions per topic"),
	{ .name = "rules", .type = T_STRING, .def_fn = cd_datadir_rules, .def_env = "CONTACTD_RULES", FIELD(rules),
	  .help = "ruleset directory (installed default: PREFIX/share/contactd/rules)" },
	STRING("overlays-config", overlays_config, "", "overlay configuration (empty: RULES/overlays.json)"),
	STRING("overlays", overlays, "", "'none' or OVERLAY@MUNI,... instead of the file (empty: use the file)"),
	INT("grace", grace, "0", 0, 60, "breach grace period, days"),
	INT("warn-days", warn_days, "7", 0, 365, "warning lead time, days (0: no warnings)"),
	ENUM("law-transition", law_transition, "period-start", transition_choices,
	     "does a new law reach courses running on its first day: period-start (no) or commencement"),
	INT("max-events", max_events, "2000", 1, CD_MAX_EVENTS_BOUND,
	    "history entries per citizen (an input costs time linear in them: ~1 ms at the bound)"),
	INT("max-obligations", max_obligations, "1000", 1, 1000000, "obligation states per citizen"),
	INT("history-horizon", history_horizon, "1096", 0, 36500,
	    "fold a citizen's ended, decided periods this many days before the clock into a summary (0: never)"),
	INT("retention", retention, "1826", 0, 36500,
	    "delete a citizen's state this many days after their last period ended (0: never)"),
	INT("max-record-bytes", max_record_bytes, "1048576", 64, 67108864, "largest input record, bytes"),
	ENUM("log-level", log_level, "info", level_choices, "least severe level logged"),
	INT("progress-interval", progress_interval, "30", 0, 86400,
	    "seconds between progress lines at info: rates, lag, outbox depth (0: none)"),
	HOSTPORT_OFF("metrics-addr", metrics_host, metrics_port, "",
		     "serve /metrics (Prometheus), /healthz and /readyz on HOST:PORT (empty: not served)"),
	KAFKA("kafka.<property>", kafka, n_kafka, CD_CONFIG_MAX_KAFKA,
	      "passed to librdkafka, consumer and producer (-X on the command line)"),
};

#define N_OPTIONS ARRAY_LEN(options)

/* ---- sources and errors ----------------------------------------------------------- */

typedef struct source {
	const char *origin;         /* "command line", "environment", …; unused for a file */
	const char *file;           /* a file: its path and the line being read */
	long line;
	const char *var;            /* environment: the variable read, named instead of the key */
	bool started[N_OPTIONS];    /* list options this source has set (the first value replaces) */
} source;

/* Fails with "<origin>: key '<key>': <problem>" (no key part when key is NULL). */
static int fail(cd_err *err, const source *src, const char *key, const char *fmt, ...) CD_PRINTF(4, 5);

static int fail(cd_err *err, const source *src, const char *key, const char *fmt, ...)
{
	char problem[400], where[300];
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(problem, sizeof(problem), fmt, ap);
	va_end(ap);
	if (src->file)
		snprintf(where, sizeof(where), "file '%s' line %ld", src->file, src->line);
	else
		snprintf(where, sizeof(where), "%s", src->origin ? src->origin : "configuration");
	if (src->var)
		return cd_err_set(err, 0, "%s: %s: %s", where, src->var, problem);
	if (key)
		return cd_err_set(err, 0, "%s: key '%s': %s", where, key, problem);
	return cd_err_set(err, 0, "%s: %s", where, problem);
}

/* ---- field access ------------------------------------------------------------------ */

static char **str_field(cd_config *c, size_t off)
{
	return (char **)(void *)((char *)c + off);
}

static void put_int(cd_config *c, const option_def *o, int v)
{
	void *p = (char *)c + o->off;
	if (o->size == sizeof(bool))
		*(bool *)p = v != 0;
	else
		*(int *)p = v;
}

static int get_int(const cd_config *c, const option_def *o)
{
	const void *p = (const char *)c + o->off;
	return o->size == sizeof(bool) ? *(const bool *)p : *(const int *)p;
}

static size_t *count_field(cd_config *c, const option_def *o)
{
	return (size_t *)(void *)((char *)c + o->off2);
}

/* ---- values by type ------------------------------------------------------------------ */

static int set_string(cd_config *c, const source *src, const option_def *o, const char *value, cd_err *err)
{
	char **p = str_field(c, o->off);
	char *copy = strdup(value);

	if (!copy)
		return fail(err, src, o->name, "out of memory");
	if (o->type == T_SECRET && *p)
		explicit_bzero(*p, strlen(*p));
	free(*p);
	*p = copy;
	return 0;
}

static int set_int(cd_config *c, const source *src, const option_def *o, const char *value, cd_err *err)
{
	long v;
	int rc = cd_num_parse_long(value, &v);

	if (rc < 0)
		return fail(err, src, o->name, "'%s' is not a whole number (%ld … %ld)", value, o->lo, o->hi);
	if (rc > 0 || v < o->lo || v > o->hi)
		return fail(err, src, o->name, "%s is outside %ld … %ld", value, o->lo, o->hi);
	put_int(c, o, (int)v);
	return 0;
}

static int set_bool(cd_config *c, const source *src, const option_def *o, const char *value, cd_err *err)
{
	static const char *const yes[] = { "true", "yes", "1" }, *const no[] = { "false", "no", "0" };

	for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
		if (!strcasecmp(value, yes[i])) {
			put_int(c, o, 1);
			return 0;
		}
		if (!strcasecmp(value, no[i])) {
			put_int(c, o, 0);
			return 0;
		}
	}
	return fail(err, src, o->name, "'%s' is not a boolean (true, false, yes, no, 1, 0)", value);
}

static void choices_text(const choice *ch, const char *sep, char *out, size_t cap)
{
	size_t n = 0;
	out[0] = '\0';
	for (; ch->name; ch++)
		n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%s", n ? sep : "", ch->name);
}

static int set_enum(cd_config *c, const source *src, const option_def *o, const char *value, cd_err *err)
{
	char names[128];

	for (const choice *ch = o->choices; ch->name; ch++)
		if (!strcmp(value, ch->name)) {
			put_int(c, o, ch->value);
			return 0;
		}
	choices_text(o->choices, ", ", names, sizeof(names));
	return fail(err, src, o->name, "'%s' is not one of %s", value, names);
}

static int set_hostport(cd_config *c, const source *src, const option_def *o, const char *value, cd_err *err)
{
	const char *host = value, *host_end, *port;
	char **p = str_field(c, o->off), *copy;
	long v;

	if (!*value && o->lo) {
		/* empty: off (an option that allows it) */
		if (!(copy = strdup("")))
			return fail(err, src, o->name, "out of memory");
		free(*p);
		*p = copy;
		*(int *)(void *)((char *)c + o->off2) = 0;
		return 0;
	}
	if (*value == '[') {
		host = value + 1;
		host_end = strchr(host, ']');
		if (!host_end || host_end[1] != ':')
			return fail(err, src, o->name, "expected HOST:PORT");
		port = host_end + 2;
	} else {
		host_end = strrchr(value, ':');
		if (!host_end)
			return fail(err, src, o->name, "expected HOST:PORT");
		if (memchr(value, ':', (size_t)(host_end - value)))
			return fail(err, src, o->name, "expected HOST:PORT (an IPv6 address in brackets: [::1]:6379)");
		port = host_end + 1;
	}
	if (host_end == host || !*port || strspn(port, "0123456789") != strlen(port))
		return fail(err, src, o->name, "expected HOST:PORT");
	if (cd_num_parse_long(port, &v) != 0 || v < 1 || v > 65535)
		return fail(err, src, o->name, "port %s is outside 1 … 65535", port);
	copy = strndup(host, (size_t)(host_end - host));
	if (!copy)
		return fail(err, src, o->name, "out of memory");
	free(*p);
	*p = copy;
	*(int *)(void *)((char *)c + o->off2) = (int)v;
	return 0;
}

/* Items are separated by commas, with blanks around them ignored; none may be empty. */
static int set_list(cd_config *c, source *src, const option_def *o, const char *value, cd_err *err)
{
	char **list = str_field(c, o->off), *items[CD_CONFIG_MAX_TOPICS + 1];
	size_t *n = count_field(c, o), base = src->started[o - options] ? *n : 0, k = 0;
	const char *s = value;
	int rc = -1;

	for (;;) {
		size_t len = strcspn(s, ",");
		const char *a = s, *b = s + len;
		while (a < b && strchr(SPACE, *a))
			a++;
		while (b > a && strchr(SPACE, b[-1]))
			b--;
		if (a == b) {
			fail(err, src, o->name, "empty value in '%s'", value);
			goto out;
		}
		if (base + k >= (size_t)o->hi || k >= ARRAY_LEN(items)) {
			fail(err, src, o->name, "more than %ld values", o->hi);
			goto out;
		}
		if (!(items[k] = strndup(a, (size_t)(b - a)))) {
			fail(err, src, o->name, "out of memory");
			goto out;
		}
		k++;
		if (!s[len])
			break;
		s += len + 1;
	}
	if (!src->started[o - options]) {
		for (size_t i = 0; i < *n; i++) {
			free(list[i]);
			list[i] = NULL;
		}
		*n = 0;
		src->started[o - options] = true;
	}
	for (size_t i = 0; i < k; i++)
		list[(*n)++] = items[i];
	k = 0;
	rc = 0;
out:
	while (k > 0)
		free(items[--k]);
	return rc;
}

/* key is "kafka.<property>". */
static int set_kafka(cd_config *c, const source *src, const option_def *o, const char *key, const char *value,
		     cd_err *err)
{
	cd_kv *kv = (cd_kv *)(void *)((char *)c + o->off);
	size_t *n = count_field(c, o), i;
	const char *prop = key + KAFKA_PREFIX_LEN;
	char *k, *v;

	if (!*prop)
		return fail(err, src, key, "no librdkafka property after 'kafka.'");
	for (i = 0; i < *n; i++)
		if (!strcmp(kv[i].key, prop))
			break;
	if (i == *n && *n >= (size_t)o->hi)
		return fail(err, src, key, "more than %ld librdkafka properties", o->hi);
	if (!(v = strdup(value)))
		return fail(err, src, key, "out of memory");
	if (i < *n) {
		free((char *)kv[i].value);
		kv[i].value = v;
		return 0;
	}
	if (!(k = strdup(prop))) {
		free(v);
		return fail(err, src, key, "out of memory");
	}
	kv[i].key = k;
	kv[i].value = v;
	(*n)++;
	return 0;
}

static int set_option(cd_config *c, source *src, const option_def *o, const char *key, const char *value,
		      cd_err *err)
{
	if (!value)
		return fail(err, src, key, "missing value");
	switch (o->type) {
	case T_STRING:
	case T_SECRET:
	case T_SECRET_FILE:
		return set_string(c, src, o, value, err);
	case T_INT:
		return set_int(c, src, o, value, err);
	case T_BOOL:
		return set_bool(c, src, o, value, err);
	case T_ENUM:
		return set_enum(c, src, o, value, err);
	case T_HOSTPORT:
		return set_hostport(c, src, o, value, err);
	case T_LIST:
		return set_list(c, src, o, value, err);
	case T_KAFKA:
		return set_kafka(c, src, o, key, value, err);
	}
	return fail(err, src, key, "unknown option type");
}

static const option_def *find_option(const char *key)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const option_def *o = &options[i];
		if (o->type == T_KAFKA ? !strncmp(key, KAFKA_PREFIX, KAFKA_PREFIX_LEN) : !strcmp(key, o->name))
			return o;
	}
	return NULL;
}

static int set_key(cd_config *c, source *src, const char *key, const char *value, cd_err *err)
{
	const option_def *o = find_option(key);
	if (!o)
		return fail(err, src, NULL, "unknown option '%s'", key);
	return set_option(c, src, o, key, value, err);
}

/* ---- lifecycle ------------------------------------------------------------------ */

void cd_config_init(cd_config *c)
{
	source src = { .origin = "defaults" };
	cd_err err;

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const option_def *o = &options[i];
		const char *v = o->def_fn ? o->def_fn() : o->def, *e = o->def_env ? getenv(o->def_env) : NULL;
		if (e && *e)
			v = e;
		if (v && set_option(c, &src, o, o->name, v, &err) < 0) {
			fprintf(stderr, "contactd: %s\n", err.msg);   /* a broken table, or no memory */
			abort();
		}
	}
}

void cd_config_release(cd_config *c)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const option_def *o = &options[i];
		char **list = str_field(c, o->off);
		cd_kv *kv = (cd_kv *)(void *)list;
		size_t n;

		switch (o->type) {
		case T_SECRET:
			if (*list)
				explicit_bzero(*list, strlen(*list));   /* no copy of a password left in freed memory */
			free(*list);
			break;
		case T_STRING:
		case T_SECRET_FILE:
		case T_HOSTPORT:
			free(*list);
			break;
		case T_LIST:
			for (n = 0; n < *count_field(c, o); n++)
				free(list[n]);
			break;
		case T_KAFKA:
			for (n = 0; n < *count_field(c, o); n++) {
				free((char *)kv[n].key);
				free((char *)kv[n].value);
			}
			break;
		default:
			break;
		}
	}
	free(c->config_file);
	memset(c, 0, sizeof(*c));
}

int cd_config_set(cd_config *c, const char *key, const char *value, const char *origin, cd_err *err)
{
	source src = { .origin = origin };
	return set_key(c, &src, key, value, err);
}

int cd_config_enum_option(const char *name, const char *value, int *out, cd_err *err)
{
	const option_def *o = find_option(name);
	source src = { .origin = "command line" };
	char flag[80];

	if (!o || o->type != T_ENUM)
		return cd_err_set(err, 0, "no enum option '%s'", name);
	snprintf(flag, sizeof(flag), "--%s", name);
	for (const choice *ch = o->choices; ch->name; ch++)
		if (!strcmp(value, ch->name)) {
			*out = ch->value;
			return 0;
		}
	{
		char names[128];
		choices_text(o->choices, ", ", names, sizeof(names));
		return fail(err, &src, flag, "'%s' is not one of %s", value, names);
	}
}

int cd_config_int_option(const char *name, long *def, long *lo, long *hi)
{
	const option_def *o = find_option(name);
	long v;

	if (!o || o->type != T_INT || !o->def || cd_num_parse_long(o->def, &v) != 0)
		return -1;
	if (def)
		*def = v;
	if (lo)
		*lo = o->lo;
	if (hi)
		*hi = o->hi;
	return 0;
}

/* ---- the file ------------------------------------------------------------------ */

/*
 * Splits one line (modified in place) into *key and *value. Blank and comment
 * lines give *key NULL. On a bad line returns -1 with *problem (and *key when
 * one was read).
 */
static int parse_line(char *s, char **key, char **value, const char **problem)
{
	char *kend, *dst;

	*key = *value = NULL;
	s += strspn(s, SPACE);
	if (!*s || *s == '#')
		return 0;
	if (*s == '=') {
		*problem = "missing key";
		return -1;
	}
	*key = s;
	s += strcspn(s, SPACE "=");
	kend = s;
	s += strspn(s, SPACE);
	if (*s == '=')
		s += 1 + strspn(s + 1, SPACE);
	*kend = '\0';
	if (!*s || *s == '#') {
		*problem = "missing value";
		return -1;
	}
	if (*s == '"') {
		*value = dst = ++s;
		for (; *s && *s != '"'; s++) {
			if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
				s++;
			*dst++ = *s;
		}
		if (*s != '"') {
			*problem = "unterminated quote";
			return -1;
		}
		s++;
		*dst = '\0';
	} else {
		*value = s;
		s += strcspn(s, SPACE "#");
		if (*s == '#') {
			*s = '\0';
			return 0;
		}
		if (*s)
			*s++ = '\0';
	}
	s += strspn(s, SPACE);
	if (*s && *s != '#') {
		*problem = "more than one value (quote a value that holds spaces or '#')";
		return -1;
	}
	return 0;
}

int cd_config_load_file(cd_config *c, const char *path, cd_err *err)
{
	source src = { .file = path };
	char line[FILE_LINE_MAX + 2], *key, *value, *copy;
	const char *problem;
	FILE *f = fopen(path, "r");
	int rc = -1;

	if (!f)
		return cd_err_set(err, 0, "file '%s': %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		src.line++;
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			fail(err, &src, NULL, "line longer than %d bytes", FILE_LINE_MAX);
			goto out;
		}
		if (parse_line(line, &key, &value, &problem) < 0) {
			fail(err, &src, key, "%s", problem);
			goto out;
		}
		if (key && set_key(c, &src, key, value, err) < 0)
			goto out;
	}
	if (ferror(f)) {
		cd_err_set(err, 0, "file '%s': %s", path, strerror(errno));
		goto out;
	}
	if (!(copy = strdup(path))) {
		cd_err_set(err, 0, "file '%s': out of memory", path);
		goto out;
	}
	free(c->config_file);
	c->config_file = copy;
	rc = 0;
out:
	fclose(f);
	return rc;
}

/* ---- the environment ------------------------------------------------------------------ */

/* CONTACTD_<NAME> with '-' as '_', upper case; "" for an option not read from the environment. */
static void env_name(const option_def *o, char *out, size_t cap)
{
	size_t n = strlen(ENV_PREFIX);

	out[0] = '\0';
	if (o->type == T_KAFKA || cap <= n + strlen(o->name))
		return;
	memcpy(out, ENV_PREFIX, n);
	for (const char *s = o->name; *s; s++)
		out[n++] = *s == '-' ? '_' : (char)toupper((unsigned char)*s);
	out[n] = '\0';
}

int cd_config_load_env(cd_config *c, char *const *envp, cd_err *err)
{
	source src = { .origin = "environment" };
	char name[64];

	if (!envp)
		envp = environ;
	for (char *const *p = envp; *p; p++) {
		const char *eq = strchr(*p, '=');
		size_t len = eq ? (size_t)(eq - *p) : 0;
		if (!eq || strncmp(*p, ENV_PREFIX, strlen(ENV_PREFIX)))
			continue;
		for (size_t i = 0; i < N_OPTIONS; i++) {
			env_name(&options[i], name, sizeof(name));
			if (strlen(name) != len || strncmp(name, *p, len))
				continue;
			src.var = name;
			if (set_option(c, &src, &options[i], options[i].name, eq + 1, err) < 0)
				return -1;
			break;
		}
	}
	return 0;
}

/* ---- secret files ------------------------------------------------------------------ */

/*
 * Which mode bits of a secret file draw a warning: any access by others, and
 * write access by the group. Group read is accepted on purpose: it is how a
 * secret is handed to a service's group (root:contactd 0640), and how
 * Kubernetes delivers a secret volume to a pod with an fsGroup (the kubelet
 * adds group read, so defaultMode 0400 arrives as 0440, group fsGroup).
 * Kubernetes' own default, defaultMode 0644, is readable by others and warns.
 */
#define SECRET_FILE_LOOSE_MODE (S_IRWXO | S_IWGRP)

int cd_config_read_secret_file(const char *name, const char *path, bool warn, char **out, cd_err *err)
{
	char buf[CD_CONFIG_SECRET_FILE_MAX + 1], mode[8];
	size_t n = 0;
	ssize_t got = 0;
	struct stat st;
	int fd, rc = -1;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return cd_err_set(err, 0, "%s '%s': cannot open: %s", name, path, strerror(errno));
	/* one byte more than the bound: a file that fills it is too large */
	while (n < sizeof(buf) && ((got = read(fd, buf + n, sizeof(buf) - n)) > 0 || (got < 0 && errno == EINTR)))
		n += got > 0 ? (size_t)got : 0;
	if (got < 0) {
		cd_err_set(err, 0, "%s '%s': cannot read: %s", name, path, strerror(errno));
		goto out;
	}
	if (n > CD_CONFIG_SECRET_FILE_MAX) {
		cd_err_set(err, 0, "%s '%s': larger than %d bytes: not a password file", name, path,
			   CD_CONFIG_SECRET_FILE_MAX);
		goto out;
	}
	/* one trailing line break is how editors and `echo` end a file; nothing else is changed */
	if (n > 0 && buf[n - 1] == '\n')
		n -= n > 1 && buf[n - 2] == '\r' ? 2 : 1;
	if (n == 0) {
		cd_err_set(err, 0, "%s '%s': empty: the file holds no password", name, path);
		goto out;
	}
	if (memchr(buf, '\0', n)) {
		cd_err_set(err, 0, "%s '%s': holds a NUL byte: not a password file", name, path);
		goto out;
	}
	if (memchr(buf, '\n', n) || memchr(buf, '\r', n)) {
		cd_err_set(err, 0, "%s '%s': holds more than one line: the password is the whole file, "
			   "with at most one line break at its end", name, path);
		goto out;
	}
	if (!(*out = strndup(buf, n))) {
		cd_err_set(err, 0, "%s '%s': out of memory", name, path);
		goto out;
	}
	if (warn && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & SECRET_FILE_LOOSE_MODE)) {
		snprintf(mode, sizeof(mode), "%04o", (unsigned)(st.st_mode & 07777));
		cd_log(CD_LOG_WARN, "password file is open to other users", "option", name, "file", path, "mode", mode,
		       "fix", "chmod 600 (or 640 for a group), in Kubernetes defaultMode 0400", NULL);
	}
	rc = 0;
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

/*
 * After every source: each secret file given is read into the secret row it
 * names. A secret set as well (from any source) is an error naming both: which
 * of the two was meant cannot be guessed.
 */
static int read_secret_files(cd_config *c, cd_err *err)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const option_def *o = &options[i], *s;
		const char *path;
		char **secret, *value;

		if (o->type != T_SECRET_FILE)
			continue;
		s = find_option(o->secret);
		assert(s && s->type == T_SECRET);   /* a broken table */
		path = *str_field(c, o->off);
		secret = str_field(c, s->off);
		if (!path || !*path)
			continue;
		if (*secret && **secret)
			return cd_err_set(err, 0, "%s and %s are both set: give the password once, in one of them",
					  s->name, o->name);
		if (cd_config_read_secret_file(o->name, path, c->log_level <= CD_LOG_WARN, &value, err) < 0)
			return -1;
		free(*secret);
		*secret = value;
	}
	return 0;
}

/* ---- the command line ------------------------------------------------------------------ */

enum { OPT_CONFIG = 'C', OPT_HELP = 'h', OPT_KAFKA = 'X', OPT_TABLE = 1000 };

typedef struct arg {
	const option_def *o;     /* NULL: -X */
	const char *value;
} arg;

/* -X [kafka.]key=value, split as every command splits it (cd_kafka_kv_parse). */
static int set_x(cd_config *c, source *src, const char *text, cd_err *err)
{
	char *copy = strdup(text), *key = NULL;
	cd_kv kv;
	int rc = -1;

	if (!copy)
		return fail(err, src, NULL, "out of memory");
	if (cd_kafka_kv_parse(copy, &kv) < 0) {
		fail(err, src, NULL, "-X expects KEY=VALUE (a librdkafka property)");
		goto out;
	}
	if (!(key = malloc(KAFKA_PREFIX_LEN + strlen(kv.key) + 1))) {
		fail(err, src, NULL, "out of memory");
		goto out;
	}
	strcpy(key, KAFKA_PREFIX);
	strcat(key, kv.key);
	rc = set_key(c, src, key, kv.value, err);
out:
	free(key);
	free(copy);
	return rc;
}

/* Is text "--name" or "--name=…"? (getopt_long would also take an abbreviation.) */
static bool long_option_is(const char *text, const char *name)
{
	size_t len = strlen(name);
	return !strncmp(text, "--", 2) && !strncmp(text + 2, name, len) && (!text[2 + len] || text[2 + len] == '=');
}

/*
 * A secret on the command line is readable by every user of the machine (ps,
 * /proc/PID/cmdline) for as long as the process runs: refused, saying what
 * to use instead.
 */
static int refuse_secret(cd_err *err, const source *src, const option_def *o)
{
	const char *file = NULL;
	char env[64];

	for (size_t i = 0; i < N_OPTIONS; i++)
		if (options[i].type == T_SECRET_FILE && !strcmp(options[i].secret, o->name))
			file = options[i].name;
	env_name(o, env, sizeof(env));
	return fail(err, src, NULL,
		    "--%s is refused: every user of the machine can read a command line (ps, /proc/PID/cmdline); "
		    "use %s%s%sthe environment variable %s, or `%s` in the --config file", o->name, file ? "--" : "",
		    file ? file : "", file ? " FILE, " : "", env, o->name);
}

static const char *env_lookup(char *const *envp, const char *name)
{
	size_t len = strlen(name);
	for (; envp && *envp; envp++)
		if (!strncmp(*envp, name, len) && (*envp)[len] == '=')
			return *envp + len + 1;
	return NULL;
}

int cd_config_from_args(cd_config *c, int argc, char **argv, char *const *envp, cd_err *err)
{
	source src = { .origin = "command line" };
	struct option *longopts = calloc(N_OPTIONS + 3, sizeof(*longopts));
	arg *args = calloc(argc > 0 ? (size_t)argc : 1, sizeof(*args));
	const char *config = NULL;
	size_t n_long = 0, n_args = 0;
	int ch, rc = -1;

	if (!envp)
		envp = environ;
	if (!longopts || !args) {
		fail(err, &src, NULL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (options[i].type != T_KAFKA)
			longopts[n_long++] = (struct option){ options[i].name,
							      options[i].type == T_BOOL ? optional_argument
											: required_argument,
							      NULL, OPT_TABLE + (int)i };
	longopts[n_long++] = (struct option){ "config", required_argument, NULL, OPT_CONFIG };
	longopts[n_long++] = (struct option){ "help", no_argument, NULL, OPT_HELP };

	optind = 0;   /* glibc: start afresh (tests parse several command lines) */
	opterr = 0;
	for (;;) {
		int at = optind > 0 ? optind : 1, li = -1;   /* a long option is the whole of argv[at] */
		if ((ch = getopt_long(argc, argv, "+:hX:", longopts, &li)) == -1)
			break;
		if (li >= 0 && !long_option_is(argv[at], longopts[li].name)) {
			const char *t = argv[at] + strspn(argv[at], "-");
			fail(err, &src, NULL, "unknown option '%.*s' (options are not abbreviated)", (int)strcspn(t, "="), t);
			goto out;
		}
		if (ch == OPT_HELP) {
			cd_config_usage(stdout);
			rc = 1;
			goto out;
		} else if (ch == OPT_CONFIG) {
			config = optarg;
		} else if (ch == OPT_KAFKA) {
			args[n_args++] = (arg){ NULL, optarg };
		} else if (ch >= OPT_TABLE && ch < OPT_TABLE + (int)N_OPTIONS) {
			const option_def *o = &options[ch - OPT_TABLE];
			if (o->type == T_SECRET) {
				refuse_secret(err, &src, o);
				goto out;
			}
			args[n_args++] = (arg){ o, optarg ? optarg : o->type == T_BOOL ? "true" : NULL };
		} else if (ch == ':') {
			if (optopt >= OPT_TABLE && options[optopt - OPT_TABLE].type == T_SECRET)
				refuse_secret(err, &src, &options[optopt - OPT_TABLE]);
			else if (optopt >= OPT_TABLE)
				fail(err, &src, options[optopt - OPT_TABLE].name, "missing value");
			else if (optopt == OPT_CONFIG)
				fail(err, &src, "config", "missing value");
			else
				fail(err, &src, NULL, "-%c expects a value", optopt);
			goto out;
		} else {
			const char *t = optind > 0 && optind <= argc ? argv[optind - 1] : "";
			if (optopt == OPT_HELP)
				fail(err, &src, NULL, "option 'help' takes no value");
			else if (optopt && optopt < OPT_TABLE)
				fail(err, &src, NULL, "unknown option '-%c'", optopt);
			else {
				t += strspn(t, "-");
				fail(err, &src, NULL, "unknown option '%.*s'", (int)strcspn(t, "="), t);
			}
			goto out;
		}
	}
	if (optind < argc) {
		fail(err, &src, NULL, "unexpected argument '%s'", argv[optind]);
		goto out;
	}

	if (!config && (config = env_lookup(envp, ENV_PREFIX "CONFIG")) && !*config)
		config = NULL;
	if (config && cd_config_load_file(c, config, err) < 0)
		goto out;
	if (cd_config_load_env(c, envp, err) < 0)
		goto out;
	for (size_t i = 0; i < n_args; i++)
		if (args[i].o ? set_option(c, &src, args[i].o, args[i].o->name, args[i].value, err) < 0
			      : set_x(c, &src, args[i].value, err) < 0)
			goto out;
	if (read_secret_files(c, err) < 0)
		goto out;
	rc = 0;
out:
	free(longopts);
	free(args);
	return rc;
}

/* ---- the logged line and the --help table ------------------------------------------------ */

static char *alloc_printf(const char *fmt, ...) CD_PRINTF(1, 2);

static char *alloc_printf(const char *fmt, ...)
{
	va_list ap;
	int n;
	char *s;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !(s = malloc((size_t)n + 1)))
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

/* The value of a table option as text (owned by the caller; NULL when out of memory). */
static char *format_value(const cd_config *c, const option_def *o)
{
	cd_config *m = (cd_config *)(uintptr_t)c;   /* the field helpers take a mutable config; nothing is written */
	const char *s = NULL;
	char *out;

	if (o->type == T_STRING || o->type == T_SECRET || o->type == T_SECRET_FILE || o->type == T_HOSTPORT)
		s = *str_field(m, o->off);
	switch (o->type) {
	case T_STRING:
	case T_SECRET_FILE:   /* the path, never what the file holds */
		return strdup(s ? s : "");
	case T_SECRET:
		return strdup(s && *s ? "***" : "");
	case T_INT:
		return alloc_printf("%d", get_int(c, o));
	case T_BOOL:
		return strdup(get_int(c, o) ? "true" : "false");
	case T_ENUM:
		for (const choice *ch = o->choices; ch->name; ch++)
			if (ch->value == get_int(c, o))
				return strdup(ch->name);
		return alloc_printf("%d", get_int(c, o));
	case T_HOSTPORT: {
		int port = *(const int *)(const void *)((const char *)c + o->off2);
		s = s ? s : "";
		if (!port)
			return strdup("");
		return alloc_printf(strchr(s, ':') ? "[%s]:%d" : "%s:%d", s, port);
	}
	case T_LIST: {
		char **list = str_field(m, o->off);
		size_t n = *count_field(m, o), len = 1;
		for (size_t i = 0; i < n; i++)
			len += strlen(list[i]) + 1;
		if (!(out = malloc(len)))
			return NULL;
		out[0] = '\0';
		for (size_t i = 0; i < n; i++) {
			if (i)
				strcat(out, ",");
			strcat(out, list[i]);
		}
		return out;
	}
	case T_KAFKA:
		break;
	}
	return NULL;
}

/*
 * cd_log takes its key/value pairs as arguments and stops at the first NULL:
 * LOG_ARGS passes every slot of an array whose unused tail is NULL, so one
 * call logs any number of pairs up to LOG_SLOTS / 2.
 */
#define LOG_SLOTS 352
#define A4(a, i) (a)[(i)], (a)[(i) + 1], (a)[(i) + 2], (a)[(i) + 3]
#define A16(a, i) A4(a, i), A4(a, (i) + 4), A4(a, (i) + 8), A4(a, (i) + 12)
#define A64(a, i) A16(a, i), A16(a, (i) + 16), A16(a, (i) + 32), A16(a, (i) + 48)
#define LOG_ARGS(a) A64(a, 0), A64(a, 64), A64(a, 128), A64(a, 192), A64(a, 256)
_Static_assert(2 * (N_OPTIONS + 1 + CD_CONFIG_MAX_KAFKA) < LOG_SLOTS, "LOG_SLOTS too small for every option");

void cd_config_log(const cd_config *c)
{
	const char *pairs[LOG_SLOTS] = { NULL };
	char *owned[LOG_SLOTS];
	size_t n = 0, n_owned = 0;

	if (!cd_log_enabled(CD_LOG_INFO))
		return;
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const option_def *o = &options[i];
		if (o->type == T_KAFKA) {
			for (size_t k = 0; k < c->n_kafka; k++) {
				char *key = alloc_printf("%s%s", KAFKA_PREFIX, c->kafka[k].key);
				if (!key)
					continue;
				pairs[n++] = owned[n_owned++] = key;
				pairs[n++] = cd_kafka_key_is_secret(c->kafka[k].key) && *c->kafka[k].value ? "***"
													: c->kafka[k].value;
			}
			continue;
		}
		pairs[n++] = o->name;
		if ((owned[n_owned] = format_value(c, o)))
			pairs[n++] = owned[n_owned++];
		else
			pairs[n++] = "?";
	}
	pairs[n++] = "config";
	pairs[n++] = c->config_file ? c->config_file : "";
	cd_log(CD_LOG_INFO, "configuration", LOG_ARGS(pairs), NULL);
	while (n_owned > 0)
		free(owned[--n_owned]);
}

/* Columns printed on a terminal: UTF-8 continuation bytes take no room ("…"). */
static size_t text_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xC0) != 0x80;
	return w;
}

static void put_cell(FILE *f, const char *s, size_t width)
{
	fputs(s, f);
	for (size_t w = text_width(s); w < width; w++)
		fputc(' ', f);
	fputs("  ", f);
}

static void usage_cells(const option_def *o, char *def, size_t def_cap, char *bounds, size_t bounds_cap)
{
	const char *d = o->def_fn ? "installed" : o->def ? (*o->def ? o->def : "\"\"") : "";

	if (o->def_env)
		snprintf(def, def_cap, "$%s or %s", o->def_env, d);
	else
		snprintf(def, def_cap, "%s", d);
	bounds[0] = '\0';
	switch (o->type) {
	case T_INT:
		snprintf(bounds, bounds_cap, "%ld … %ld", o->lo, o->hi);
		break;
	case T_BOOL:
		snprintf(bounds, bounds_cap, "true | false");
		break;
	case T_ENUM:
		choices_text(o->choices, " | ", bounds, bounds_cap);
		break;
	case T_HOSTPORT:
		snprintf(bounds, bounds_cap, "port 1 … 65535");
		break;
	case T_LIST:
	case T_KAFKA:
		snprintf(bounds, bounds_cap, "at most %ld", o->hi);
		break;
	default:
		break;
	}
}

void cd_config_usage(FILE *f)
{
	static const char *const head[] = { "option", "type", "default", "bounds" };
	size_t w[4];
	char def[128], bounds[128];

	for (size_t j = 0; j < 4; j++)
		w[j] = text_width(head[j]);
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const option_def *o = &options[i];
		const char *cell[4] = { o->name, type_names[o->type], def, bounds };
		usage_cells(o, def, sizeof(def), bounds, sizeof(bounds));
		for (size_t j = 0; j < 4; j++)
			if (text_width(cell[j]) > w[j])
				w[j] = text_width(cell[j]);
	}
	fputs("usage: contactd run [--config FILE] [--OPTION VALUE | --FLAG]... [-X [kafka.]PROPERTY=VALUE]...\n"
	      "\n"
	      "Each option is read, in increasing precedence, from its default, the file given by\n"
	      "--config FILE (else $CONTACTD_CONFIG) as `option value` lines, the environment as\n"
	      "CONTACTD_<OPTION> ('-' as '_', upper case; kafka.* excepted) and the command line\n"
	      "as --option VALUE (a bool also as a bare --option) or -X for kafka.*.\n"
	      "\n",
	      f);
	fputs("  ", f);
	for (size_t j = 0; j < 4; j++)
		put_cell(f, head[j], w[j]);
	fputs("help\n", f);
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const option_def *o = &options[i];
		usage_cells(o, def, sizeof(def), bounds, sizeof(bounds));
		fputs("  ", f);
		put_cell(f, o->name, w[0]);
		put_cell(f, type_names[o->type], w[1]);
		put_cell(f, def, w[2]);
		put_cell(f, bounds, w[3]);
		fprintf(f, "%s\n", o->help);
	}
}
