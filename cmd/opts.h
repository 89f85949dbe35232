/*
 * opts.h — how every command in cmd/ reads its options: one loop, one way to
 * refuse a value, and the options several commands share.
 *
 * A command describes itself in a cd_opt_cmd (its getopt_long tables, a
 * function that takes one option, its usage) and calls cd_opt_parse, which
 * runs getopt_long over argv (argv[0] is the command's name):
 *
 *   --help                       (when listed) usage on stdout; returns 1
 *   --log-level LEVEL            (when listed) debug, info, warn or error, set at once
 *   an unknown option or a missing value
 *                                getopt's message, usage on stderr; returns -1
 *   every other option           the command's function: 0, or -1 once it logged why
 *   a positional argument        "unexpected argument", unless the command takes them
 *
 * A bad value is one error line that names the option, the value and what is
 * expected, written by cd_opt_bad:
 *   level=error msg="bad option value" option=--grace value=61 expected="0 … 60"
 * Numbers are whole decimal numbers within bounds typed once (cd_opt_long
 * writes the expected range from them); nothing is clamped. What a command
 * returns for a refused option is its own (synth 2, the others 1).
 *
 * `contactd run` has its own table of options (consumer/config.c: file,
 * environment and command line alike). The engine options below take their
 * bounds, and --max-record-bytes its default, from that table's rows, so
 * `run` and the other commands accept the same values.
 */
#ifndef CD_CMD_OPTS_H
#define CD_CMD_OPTS_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

#include "consumer/config.h"
#include "consumer/kafka.h"
#include "consumer/redis_store.h"
#include "proto/eventlog.h"
#include "state/engine.h"
#include "state/rules.h"
#include "util/err.h"
#include "util/pseudonym.h"

/* getopt_long values of the shared options; a command numbers its own from CD_OPT_OWN. */
enum {
	CD_OPT_LOG_LEVEL = 1001, CD_OPT_RULES, CD_OPT_OVERLAYS_CONFIG, CD_OPT_OVERLAYS, CD_OPT_GRACE, CD_OPT_WARN,
	CD_OPT_MAX_EVENTS, CD_OPT_MAX_OBLIGATIONS, CD_OPT_MAX_RECORD, CD_OPT_LAW_TRANSITION,
	CD_OPT_REDIS, CD_OPT_REDIS_USER, CD_OPT_REDIS_DB, CD_OPT_REDIS_PREFIX, CD_OPT_REDIS_PASSWORD_FILE,
	CD_OPT_HISTORY_HORIZON, CD_OPT_RETENTION, CD_OPT_CITIZEN_KEY_FILE,
	CD_OPT_OWN = 1100,
};

/*
 * The tools that read live state from Redis (aggregates, explain): --redis,
 * --redis-user, --redis-password-file, --redis-db, --redis-prefix, and
 * --citizen-key-file (the key that names citizens in Redis key names).
 */
#define CD_OPT_REDIS_LONGOPTS \
	{ "redis", required_argument, NULL, CD_OPT_REDIS }, \
	{ "redis-user", required_argument, NULL, CD_OPT_REDIS_USER }, \
	{ "redis-password-file", required_argument, NULL, CD_OPT_REDIS_PASSWORD_FILE }, \
	{ "redis-db", required_argument, NULL, CD_OPT_REDIS_DB }, \
	{ "redis-prefix", required_argument, NULL, CD_OPT_REDIS_PREFIX }, \
	{ "citizen-key-file", required_argument, NULL, CD_OPT_CITIZEN_KEY_FILE }
/* Compaction and retention (engine.h), for the commands that keep state over a log: replay. */
#define CD_OPT_HISTORY_LONGOPTS \
	{ "history-horizon", required_argument, NULL, CD_OPT_HISTORY_HORIZON }, \
	{ "retention", required_argument, NULL, CD_OPT_RETENTION }
#define CD_OPT_HELP_LONGOPT { "help", no_argument, NULL, 'h' }
#define CD_OPT_LOG_LEVEL_LONGOPT { "log-level", required_argument, NULL, CD_OPT_LOG_LEVEL }
#define CD_OPT_ENGINE_LONGOPTS \
	{ "rules", required_argument, NULL, CD_OPT_RULES }, \
	{ "overlays-config", required_argument, NULL, CD_OPT_OVERLAYS_CONFIG }, \
	{ "overlays", required_argument, NULL, CD_OPT_OVERLAYS }, \
	{ "grace", required_argument, NULL, CD_OPT_GRACE }, \
	{ "warn-days", required_argument, NULL, CD_OPT_WARN }, \
	{ "max-events", required_argument, NULL, CD_OPT_MAX_EVENTS }, \
	{ "max-obligations", required_argument, NULL, CD_OPT_MAX_OBLIGATIONS }, \
	{ "max-record-bytes", required_argument, NULL, CD_OPT_MAX_RECORD }, \
	{ "law-transition", required_argument, NULL, CD_OPT_LAW_TRANSITION }

typedef struct cd_opt_cmd {
	const char *shortopts;               /* getopt_long's optstring */
	const struct option *longopts;       /* ends with a zeroed row */
	int (*option)(void *ctx, int c, char *arg);   /* one option: 0, or -1 once it logged why */
	void (*usage)(FILE *f);
	int args;                            /* 1: takes positional arguments (argv[optind] on) */
} cd_opt_cmd;

/* The loop above. 0 when every option was taken (optind is at the arguments), 1 after --help, -1. */
int cd_opt_parse(const cd_opt_cmd *cmd, int argc, char **argv, void *ctx);

/* Logs that option `name` ("--format") refuses `value`, and what it expects. Returns -1. */
int cd_opt_bad(const char *name, const char *value, const char *expected);
/*
 * A whole number within [lo, hi] for option `name` into *out; else logs it
 * with the range ("lo … hi", or "a whole number >= lo" when hi is LONG_MAX)
 * and returns -1.
 */
int cd_opt_long(const char *name, const char *arg, long lo, long hi, long *out);
/* The default and bounds of run's int option `key` (consumer/config.c's table); any may be NULL. */
void cd_opt_run_int(const char *key, long *def, long *lo, long *hi);
/* cd_opt_long for option --<key>, within the bounds of run's option `key`. */
int cd_opt_long_as_run(const char *key, const char *arg, long *out);
/*
 * An event-log format for option `name`: "json" or "pb", and also "auto" (the
 * reader's detection) when `input`. 0 / -1 (logged).
 */
int cd_opt_format(const char *name, const char *arg, int input, cd_log_format *out);
/* --until: an RFC 3339 instant. 0 / -1 (logged). */
int cd_opt_until(const char *arg, cd_instant *out);
/* --format of the tools that print for people or machines: "text" or "json" (*json). 0 / -1 (logged). */
int cd_opt_text_or_json(const char *arg, int *json);
/* --log-level: sets the process-wide level. 0 / -1 (logged). */
int cd_opt_log_level(const char *arg);
/*
 * -X key=value: split in place (arg is modified; kv points into it) by
 * cd_kafka_kv_parse and appended to kv[*n] if fewer than `max` are there.
 * 0 / -1 (logged; the argument is never echoed: it may hold a secret).
 */
int cd_opt_kafka(char *arg, cd_kv *kv, size_t *n, size_t max);

/* ---- the engine options (replay, rules list) -------------------------------------- */

/*
 *   --rules DIR               ruleset directory (default $CONTACTD_RULES, else the installed
 *                             PREFIX/share/contactd/rules: util/datadir.h)
 *   --overlays-config FILE    overlay configuration (default DIR/overlays.json)
 *   --overlays SPEC           instead: "none" or OVERLAY@MUNI,… (replaces the file's)
 *   --grace, --warn-days, --max-events, --max-obligations
 *                             the engine's limits (defaults: cd_engine_config_default)
 *   --max-record-bytes N      largest input record
 * Compaction and retention are off (whole histories) unless the command
 * takes CD_OPT_HISTORY_LONGOPTS and sets them (replay: run's defaults).
 * Bounds as run's table has them; cd_opt_engine_usage prints them for --help.
 */
typedef struct cd_opt_engine {
	const char *rules_dir;
	const char *overlays_config;   /* NULL: <rules_dir>/overlays.json */
	const char *overlays;          /* NULL: use the file */
	cd_engine_config cfg;
	size_t max_record;
	cd_rules *rules;               /* owned, after cd_opt_engine_open */
} cd_opt_engine;

/* The defaults; allocates nothing. */
void cd_opt_engine_init(cd_opt_engine *o);
/* One getopt_long result: 0 when it was an engine option and valid; -1 otherwise (a bad value logged). */
int cd_opt_engine_option(cd_opt_engine *o, int c, const char *arg);
/*
 * cd_opt_engine_option for an engine option given under another name: a
 * command that configures a second engine (`contactd whatif`'s --b-grace,
 * --b-overlays …) passes the shared option's getopt value c and the name the
 * user typed, which a refused value's error line then names.
 */
int cd_opt_engine_option_as(cd_opt_engine *o, int c, const char *arg, const char *name);
/* Loads the rules and creates the engine (*out owned by the caller; the rules stay in o). */
int cd_opt_engine_open(cd_opt_engine *o, cd_engine **out, cd_err *err);
/* Frees the rules (after the engine that uses them). */
void cd_opt_engine_release(cd_opt_engine *o);
/* Prints the --help lines of the engine options and --log-level, bounds and defaults included. */
/* The usage lines of CD_OPT_HISTORY_LONGOPTS. */
void cd_opt_history_usage(FILE *f);
void cd_opt_engine_usage(FILE *f);

/*
 * The Redis options (CD_OPT_REDIS_LONGOPTS), set on run's configuration table so
 * that they take run's forms and bounds. 0, or -1 once cd_opt_bad said why.
 */
int cd_opt_redis_option(cd_config *cfg, int c, const char *arg);
#define CD_OPT_REDIS_PASSWORD_ENV "CONTACTD_REDIS_PASSWORD"
#define CD_OPT_REDIS_PASSWORD_FILE_ENV "CONTACTD_REDIS_PASSWORD_FILE"
#define CD_OPT_CITIZEN_KEY_FILE_ENV "CONTACTD_CITIZEN_KEY_FILE"
/*
 * Connects, read only by intent, to the Redis cfg names, with hash tag `tag`
 * ('p' the processor's keys, 'a' the aggregate stage's). The password, never
 * from the command line itself: the file --redis-password-file names (else
 * $CONTACTD_REDIS_PASSWORD_FILE), read as `run` reads its redis-password-file
 * (cd_config_read_secret_file), or $CONTACTD_REDIS_PASSWORD; a file and that
 * variable together are refused. The citizen key likewise from
 * --citizen-key-file (else $CONTACTD_CITIZEN_KEY_FILE; neither: the development
 * key, as run). addr receives "host:port" for messages.
 * NULL once the reason is logged.
 */
cd_redis *cd_opt_redis_open(const cd_config *cfg, char tag, char *addr, size_t len);
/* The citizen key of --citizen-key-file (else $CONTACTD_CITIZEN_KEY_FILE, else the
 * development key) into *key. 0, or -1 once the reason is logged (never the key). */
int cd_opt_citizen_key(const cd_config *cfg, cd_pseudonym_key *key);

/*
 * Opens an output file that holds personal data (citizen ids: replay, consume,
 * synth and whatif outputs) for writing, "-" being stdout. Created 0600 by the
 * open itself (O_CREAT, mode 0600), never widened by the umask; an existing
 * regular file is truncated and its mode narrowed to 0600 before a byte is
 * written (a FIFO or a device, e.g. /dev/null, is left as it is). NULL with
 * errno set, as fopen.
 */
FILE *cd_opt_output_private(const char *path);

#endif
