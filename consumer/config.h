/*
 * config.h — `contactd run` configuration: one table of options, set from (in
 * increasing precedence) built-in defaults, an optional file, the environment,
 * and the command line. Later sources override earlier ones.
 *
 * File format (like redis.conf): one `key value` or `key = value` per line,
 * `#` comments, blank lines ignored; `kafka.<property> value` lines pass
 * straight to librdkafka; repeatable keys (input-topic, kafka.*) may appear
 * several times. A bad line is an error naming the file, the line and the key.
 * Environment: CONTACTD_<KEY> with '-' as '_' and upper case (CONTACTD_BROKERS,
 * CONTACTD_REDIS_PASSWORD); kafka.* is not read from the environment.
 * Command line: --<key> value, --<flag> for booleans, -X kafka.key=value or
 * -X key=value (kcat style) for librdkafka, --config FILE. A secret
 * (redis-password) is refused there: `ps` shows every command line to every
 * user. It comes from the file, the environment, or a file of its own
 * (redis-password-file), read once every source is loaded.
 *
 * The options themselves (name, type, default, bounds, help) are the rows of
 * `options[]` in config.c and nowhere else: `contactd run --help` prints them,
 * and the other commands take the bounds of the options they share with run
 * from them (cd_config_int_option, used by cmd/opts.c).
 */
#ifndef CD_CONSUMER_CONFIG_H
#define CD_CONSUMER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "consumer/kafka.h"
#include "util/err.h"

#define CD_CONFIG_MAX_TOPICS 16
/* The largest secret file (redis-password-file), bytes: a password, not a document. */
#define CD_CONFIG_SECRET_FILE_MAX 4096

/* What `contactd run` runs (the stage option). */
enum { CD_STAGE_CITIZENS = 0, CD_STAGE_AGGREGATES = 1 };
#define CD_CONFIG_MAX_KAFKA CD_KAFKA_MAX_KV

typedef struct cd_config {
	char *brokers, *group;
	char *input_topics[CD_CONFIG_MAX_TOPICS];
	size_t n_input_topics;
	char *deadline_topic, *breach_topic, *dlq_topic;
	int stage;                       /* CD_STAGE_CITIZENS or CD_STAGE_AGGREGATES */
	char *members_topic;             /* "" : share members are not written */
	char *aggregates_topic;
	int dlq_max_bytes, drain_timeout_ms;
	bool event_clock;                /* clock = event */
	char *redis_host;
	int redis_port;
	char *redis_user, *redis_password;
	char *redis_password_file;       /* "" : none; else cd_config_from_args read redis_password from it */
	char *citizen_key;               /* "" : the development key (util/pseudonym.h) */
	char *citizen_key_file;          /* "" : none; else cd_config_from_args read citizen_key from it */
	bool log_citizen_ids;            /* debugging only: raw ids in logs */
	int redis_db;
	char *redis_prefix;
	int batch_size, batch_wait_ms, timer_interval_ms, outbox_batch;
	bool reset_state;
	bool check_config;               /* --check-config: validate, log, exit */
	int mock_brokers, mock_partitions;
	char *rules, *overlays_config, *overlays;
	int grace, warn_days, max_events, max_obligations, max_record_bytes;
	int history_horizon, retention;  /* days; 0: never (state/engine.h) */
	int law_transition;              /* enum cd_law_transition (state/engine.h) */
	int log_level;
	int progress_interval;           /* seconds; 0: no progress lines */
	char *metrics_host;              /* "" : no metrics server */
	int metrics_port;
	cd_kv kafka[CD_CONFIG_MAX_KAFKA];   /* key without "kafka.", both strings owned */
	size_t n_kafka;
	char *config_file;               /* the file read, if any */
} cd_config;

/* Fills the defaults. */
void cd_config_init(cd_config *c);
void cd_config_release(cd_config *c);

/* Sets one option by name ("batch-size", "kafka.security.protocol"); `origin`
 * ("file x.conf:12", "environment", "command line") goes into error messages. */
int cd_config_set(cd_config *c, const char *key, const char *value, const char *origin, cd_err *err);
int cd_config_load_file(cd_config *c, const char *path, cd_err *err);
int cd_config_load_env(cd_config *c, char *const *envp, cd_err *err);

/*
 * The whole sequence for `contactd run`: defaults, --config FILE (found first
 * on the command line, else CONTACTD_CONFIG), environment, command line; then
 * the password file, if one is set, is read into redis_password (an error when
 * redis-password is set too). argv[0] is "run". Returns 0, -1 with err, or 1
 * when --help was given (usage printed to stdout).
 */
int cd_config_from_args(cd_config *c, int argc, char **argv, char *const *envp, cd_err *err);

/*
 * The default and bounds of the int option `name` ("max-record-bytes"), for
 * the commands that take the same option outside `run` (cmd/opts.c): the
 * table stays its one definition. Any of def, lo, hi may be NULL. 0, or -1
 * when the table has no int option of that name.
 */
int cd_config_int_option(const char *name, long *def, long *lo, long *hi);
/* The value of enum option `name` named `value` (for commands that share the table). -1 with err. */
int cd_config_enum_option(const char *name, const char *value, int *out, cd_err *err);

/*
 * Reads the password in the file at path, for the option `name` (which error
 * messages name with the path: "redis-password-file '/run/secrets/x': empty:
 * ..."). The password is the whole file but one trailing "\n" or "\r\n";
 * nothing else is stripped. Refused: a file that cannot be opened or read (with
 * the system's reason), that is empty, larger than CD_CONFIG_SECRET_FILE_MAX,
 * or holds a NUL or a line break before its end. When `warn`, a regular file
 * that others can access, or its group write, is logged at warn level (once per
 * call). The one reader of `contactd run` (redis-password-file) and of the tools
 * (cmd/opts.c, --redis-password-file). 0 with *out an owned copy (the caller
 * frees it), or -1 with err and *out NULL.
 */
int cd_config_read_secret_file(const char *name, const char *path, bool warn, char **out, cd_err *err);

/* Logs the effective configuration at info level, one line, secrets as "***". */
void cd_config_log(const cd_config *c);
/* Prints the options table (for --help). */
void cd_config_usage(FILE *f);

#endif
