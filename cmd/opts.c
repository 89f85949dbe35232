/*
 * opts.c — the commands' option loop and shared options (see opts.h). Every
 * bad value is an error that names the option and what it accepts; nothing
 * is silently clamped.
 */
#include "cmd/opts.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "consumer/config.h"
#include "proto/rules_json.h"
#include "util/datadir.h"
#include "util/log.h"
#include "util/num.h"
#include "util/pseudonym.h"

int cd_opt_parse(const cd_opt_cmd *cmd, int argc, char **argv, void *ctx)
{
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, cmd->shortopts, cmd->longopts, NULL)) != -1) {
		if (c == 'h') {
			cmd->usage(stdout);
			return 1;
		}
		if (c == '?' || c == ':') {
			cmd->usage(stderr);   /* after getopt's own message */
			return -1;
		}
		if (c == CD_OPT_LOG_LEVEL ? cd_opt_log_level(optarg) < 0 : cmd->option(ctx, c, optarg) < 0)
			return -1;
	}
	if (!cmd->args && optind < argc) {
		cd_log(CD_LOG_ERROR, "unexpected argument", "argument", argv[optind], NULL);
		return -1;
	}
	return 0;
}

int cd_opt_bad(const char *name, const char *value, const char *expected)
{
	cd_log(CD_LOG_ERROR, "bad option value", "option", name, "value", value, "expected", expected, NULL);
	return -1;
}

int cd_opt_long(const char *name, const char *arg, long lo, long hi, long *out)
{
	char range[64];

	if (cd_num_parse_range(arg, lo, hi, out) == 0)
		return 0;
	if (hi == LONG_MAX)
		snprintf(range, sizeof(range), "a whole number >= %ld", lo);
	else
		snprintf(range, sizeof(range), "%ld … %ld", lo, hi);
	return cd_opt_bad(name, arg, range);
}

void cd_opt_run_int(const char *key, long *def, long *lo, long *hi)
{
	int found = cd_config_int_option(key, def, lo, hi) == 0;

	assert(found);   /* asking for a key run's table does not have is a bug */
	(void)found;
}

int cd_opt_long_as_run(const char *key, const char *arg, long *out)
{
	char name[64];
	long lo, hi;

	cd_opt_run_int(key, NULL, &lo, &hi);
	snprintf(name, sizeof(name), "--%s", key);
	return cd_opt_long(name, arg, lo, hi, out);
}

int cd_opt_format(const char *name, const char *arg, int input, cd_log_format *out)
{
	cd_log_format f;

	if (cd_log_format_parse(arg, &f) < 0 || (!input && f == CD_LOG_AUTO))
		return cd_opt_bad(name, arg, input ? "auto, json or pb" : "json or pb");
	*out = f;
	return 0;
}

int cd_opt_log_level(const char *arg)
{
	int level = cd_log_level_parse(arg);

	if (level < 0)
		return cd_opt_bad("--log-level", arg, "debug, info, warn or error");
	cd_log_set_level(level);
	return 0;
}

int cd_opt_kafka(char *arg, cd_kv *kv, size_t *n, size_t max)
{
	char num[24];

	if (*n == max) {
		snprintf(num, sizeof(num), "%zu", max);
		cd_log(CD_LOG_ERROR, "too many -X settings", "max", num, NULL);
		return -1;
	}
	if (cd_kafka_kv_parse(arg, &kv[*n]) < 0) {
		cd_log(CD_LOG_ERROR, "bad option value", "option", "-X", "expected", "key=value", NULL);
		return -1;
	}
	(*n)++;
	return 0;
}

/* ---- the engine options -------------------------------------------------------------- */

void cd_opt_engine_init(cd_opt_engine *o)
{
	const char *env = getenv("CONTACTD_RULES");
	long def;

	cd_opt_run_int("max-record-bytes", &def, NULL, NULL);
	memset(o, 0, sizeof(*o));
	o->rules_dir = env && *env ? env : cd_datadir_rules();
	cd_engine_config_default(&o->cfg);
	/* explain, whatif and report look at whole histories: only replay (as run) folds and forgets */
	o->cfg.history_horizon_days = 0;
	o->cfg.retention_days = 0;
	o->max_record = (size_t)def;
}

int cd_opt_engine_option(cd_opt_engine *o, int c, const char *arg)
{
	long v;

	switch (c) {
	case CD_OPT_RULES:
		o->rules_dir = arg;
		return 0;
	case CD_OPT_OVERLAYS_CONFIG:
		o->overlays_config = arg;
		return 0;
	case CD_OPT_OVERLAYS:
		o->overlays = arg;
		return 0;
	case CD_OPT_GRACE:
		if (cd_opt_long_as_run("grace", arg, &v) < 0)
			return -1;
		o->cfg.grace_days = (int)v;
		return 0;
	case CD_OPT_WARN:
		if (cd_opt_long_as_run("warn-days", arg, &v) < 0)
			return -1;
		o->cfg.warn_lead_days = (int)v;
		return 0;
	case CD_OPT_MAX_EVENTS:
		if (cd_opt_long_as_run("max-events", arg, &v) < 0)
			return -1;
		o->cfg.max_events = (size_t)v;
		return 0;
	case CD_OPT_MAX_OBLIGATIONS:
		if (cd_opt_long_as_run("max-obligations", arg, &v) < 0)
			return -1;
		o->cfg.max_obligations = (size_t)v;
		return 0;
	case CD_OPT_MAX_RECORD:
		if (cd_opt_long_as_run("max-record-bytes", arg, &v) < 0)
			return -1;
		o->max_record = (size_t)v;
		return 0;
	case CD_OPT_HISTORY_HORIZON:
		if (cd_opt_long_as_run("history-horizon", arg, &v) < 0)
			return -1;
		o->cfg.history_horizon_days = (int)v;
		return 0;
	case CD_OPT_RETENTION:
		if (cd_opt_long_as_run("retention", arg, &v) < 0)
			return -1;
		o->cfg.retention_days = (int)v;
		return 0;
	case CD_OPT_LAW_TRANSITION: {
		cd_err err;
		if (cd_config_enum_option("law-transition", arg, &o->cfg.law_transition, &err) < 0)
			return cd_opt_bad("--law-transition", arg, "period-start or commencement");
		return 0;
	}
	}
	return -1;
}

int cd_opt_engine_option_as(cd_opt_engine *o, int c, const char *arg, const char *name)
{
	static const struct { int c; const char *key; } bounded[] = {
		{ CD_OPT_GRACE, "grace" }, { CD_OPT_WARN, "warn-days" }, { CD_OPT_MAX_EVENTS, "max-events" },
		{ CD_OPT_MAX_OBLIGATIONS, "max-obligations" }, { CD_OPT_MAX_RECORD, "max-record-bytes" },
	};
	long v, lo, hi;
	int t;
	cd_err err;

	/* Checked here under `name`, so that cd_opt_engine_option below cannot refuse it under its own. */
	for (size_t i = 0; i < sizeof(bounded) / sizeof(bounded[0]); i++)
		if (bounded[i].c == c) {
			cd_opt_run_int(bounded[i].key, NULL, &lo, &hi);
			if (cd_opt_long(name, arg, lo, hi, &v) < 0)
				return -1;
		}
	if (c == CD_OPT_LAW_TRANSITION && cd_config_enum_option("law-transition", arg, &t, &err) < 0)
		return cd_opt_bad(name, arg, "period-start or commencement");
	return cd_opt_engine_option(o, c, arg);
}

int cd_opt_engine_open(cd_opt_engine *o, cd_engine **out, cd_err *err)
{
	*out = NULL;
	if (cd_rules_load(o->rules_dir, o->overlays_config, &o->rules, err) < 0)
		return -1;
	if (o->overlays && cd_rules_set_overlays(o->rules, o->overlays, err) < 0)
		return -1;
	*out = cd_engine_new(o->rules, &o->cfg);
	if (!*out)
		return cd_err_set(err, 0, "out of memory");
	return 0;
}

void cd_opt_engine_release(cd_opt_engine *o)
{
	cd_rules_free(o->rules);
	o->rules = NULL;
}

void cd_opt_engine_usage(FILE *f)
{
	cd_engine_config d;
	long def, lo[3], hi[3];

	cd_engine_config_default(&d);
	cd_opt_run_int("grace", NULL, &lo[0], &hi[0]);
	cd_opt_run_int("warn-days", NULL, &lo[1], &hi[1]);
	cd_opt_run_int("max-events", NULL, &lo[2], &hi[2]);
	cd_opt_run_int("max-record-bytes", &def, NULL, NULL);
	fprintf(f,
		"      --rules DIR          ruleset directory (default $CONTACTD_RULES, else the installed one)\n"
		"      --overlays-config F  overlay configuration file (default DIR/overlays.json)\n"
		"      --overlays SPEC      'none' or OVERLAY@MUNI,... instead of the file\n"
		"      --grace DAYS         breach grace period, %ld … %ld (default %d)\n"
		"      --warn-days DAYS     warning lead time, %ld … %ld, 0 = off (default %d)\n"
		"      --max-events N       history entries per citizen, %ld … %ld (default %zu);\n"
		"                           an input costs time linear in its citizen's history: ~1 ms at the bound\n"
		"      --max-obligations N  obligation states per citizen (default %zu)\n"
		"      --max-record-bytes N largest input record (default %ld)\n"
		"      --law-transition T   period-start or commencement: does a new law reach courses\n"
		"                           running on its first day (default period-start)\n"
		"      --log-level LEVEL    debug, info, warn, error (default info)\n",
		lo[0], hi[0], d.grace_days, lo[1], hi[1], d.warn_lead_days, lo[2], hi[2], d.max_events,
		d.max_obligations, def);
}

void cd_opt_history_usage(FILE *f)
{
	cd_engine_config d;
	long lo[2], hi[2];

	cd_engine_config_default(&d);
	cd_opt_run_int("history-horizon", NULL, &lo[0], &hi[0]);
	cd_opt_run_int("retention", NULL, &lo[1], &hi[1]);
	fprintf(f,
		"      --history-horizon DAYS\n"
		"                           fold a citizen's ended, decided periods this many days before\n"
		"                           the clock into a summary, %ld … %ld, 0 = never (default %d)\n"
		"      --retention DAYS     delete a citizen's state this many days after their last period\n"
		"                           ended, %ld … %ld, 0 = never (default %d)\n",
		lo[0], hi[0], d.history_horizon_days, lo[1], hi[1], d.retention_days);
}

/* ---- Redis (the tools that read live state) --------------------------------------- */

int cd_opt_redis_option(cd_config *cfg, int c, const char *arg)
{
	cd_err err;
	long v;

	switch (c) {
	case CD_OPT_REDIS:
		return cd_config_set(cfg, "redis", arg, "command line", &err) < 0
			       ? cd_opt_bad("--redis", arg, "HOST:PORT or [IPv6]:PORT, port 1 … 65535")
			       : 0;
	case CD_OPT_REDIS_USER:
		return cd_config_set(cfg, "redis-user", arg, "command line", &err) < 0
			       ? cd_opt_bad("--redis-user", arg, "an ACL user name")
			       : 0;
	case CD_OPT_REDIS_PASSWORD_FILE:
		/* read when connecting, as run reads it once every option is known */
		return cd_config_set(cfg, "redis-password-file", arg, "command line", &err) < 0
			       ? cd_opt_bad("--redis-password-file", arg, "a file holding the password")
			       : 0;
	case CD_OPT_CITIZEN_KEY_FILE:
		return cd_config_set(cfg, "citizen-key-file", arg, "command line", &err) < 0
			       ? cd_opt_bad("--citizen-key-file", arg, "a file holding the citizen key")
			       : 0;
	case CD_OPT_REDIS_DB:
		if (cd_opt_long_as_run("redis-db", arg, &v) < 0)
			return -1;
		cfg->redis_db = (int)v;
		return 0;
	case CD_OPT_REDIS_PREFIX:
		if (strchr(arg, '{') || strchr(arg, '}'))
			return cd_opt_bad("--redis-prefix", arg, "a prefix without '{' or '}' (they make hash tags)");
		return cd_config_set(cfg, "redis-prefix", arg, "command line", &err) < 0
			       ? cd_opt_bad("--redis-prefix", arg, "a key prefix")
			       : 0;
	default:
		return -1;
	}
}

int cd_opt_citizen_key(const cd_config *cfg, cd_pseudonym_key *key)
{
	const char *file = cfg->citizen_key_file, *opt = "--citizen-key-file";
	char *secret = NULL;
	cd_err err = { "", 0 };
	int rc;

	if (!file || !*file) {
		file = getenv(CD_OPT_CITIZEN_KEY_FILE_ENV);
		opt = CD_OPT_CITIZEN_KEY_FILE_ENV;
	}
	if (!file || !*file) {
		cd_pseudonym_key_dev(key);
		return 0;
	}
	rc = cd_config_read_secret_file(opt, file, true, &secret, &err);
	if (rc == 0)
		rc = cd_pseudonym_key_from_secret(key, opt, secret, strlen(secret), &err);
	if (secret) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	if (rc < 0)
		cd_log(CD_LOG_ERROR, "cannot read the citizen key", "error", err.msg, NULL);
	return rc;
}

cd_redis *cd_opt_redis_open(const cd_config *cfg, char tag, char *addr, size_t len)
{
	const char *password = getenv(CD_OPT_REDIS_PASSWORD_ENV), *file = cfg->redis_password_file;
	const char *file_opt = "--redis-password-file", *hint;
	char *from_file = NULL;
	cd_pseudonym_key ckey;
	cd_redis_opts ro;
	cd_redis *redis = NULL;
	cd_err err = { "", 0 };

	if (!file || !*file) {
		file = getenv(CD_OPT_REDIS_PASSWORD_FILE_ENV);
		file_opt = CD_OPT_REDIS_PASSWORD_FILE_ENV;
	}
	if (file && *file && password && *password) {
		cd_log(CD_LOG_ERROR, "options exclude each other", "option", file_opt, "other", CD_OPT_REDIS_PASSWORD_ENV,
		       NULL);
		return NULL;
	}
	if (file && *file && cd_config_read_secret_file(file_opt, file, true, &from_file, &err) < 0) {
		cd_log(CD_LOG_ERROR, "cannot read the Redis password", "error", err.msg, NULL);
		return NULL;
	}
	if (cd_opt_citizen_key(cfg, &ckey) < 0) {
		free(from_file);
		return NULL;
	}
	cd_redis_opts_default(&ro);
	ro.citizen_key = &ckey;
	ro.host = cfg->redis_host;
	ro.port = cfg->redis_port;
	ro.user = *cfg->redis_user ? cfg->redis_user : NULL;
	ro.password = from_file ? from_file : password && *password ? password : NULL;
	ro.db = cfg->redis_db;
	ro.prefix = cfg->redis_prefix;
	ro.tag = tag;
	snprintf(addr, len, strchr(ro.host, ':') ? "[%s]:%d" : "%s:%d", ro.host, ro.port);
	redis = cd_redis_new(&ro);   /* copies the password */
	if (from_file) {
		explicit_bzero(from_file, strlen(from_file));
		free(from_file);
	}
	if (!redis) {
		cd_log(CD_LOG_ERROR, "out of memory", NULL);
		return NULL;
	}
	if (cd_redis_connect(redis, &err) < 0) {
		if ((hint = cd_redis_connect_hint(&err)))
			cd_log(CD_LOG_ERROR, "cannot connect to Redis", "redis", addr, "error", err.msg, "hint", hint, NULL);
		else
			cd_log(CD_LOG_ERROR, "cannot connect to Redis", "redis", addr, "error", err.msg, NULL);
		cd_redis_free(redis);
		return NULL;
	}
	return redis;
}

int cd_opt_until(const char *arg, cd_instant *out)
{
	if (cd_instant_parse_rfc3339(arg, strlen(arg), out) < 0)
		return cd_opt_bad("--until", arg, "RFC 3339, e.g. 2030-01-01T00:00:00Z");
	return 0;
}

int cd_opt_text_or_json(const char *arg, int *json)
{
	if (strcmp(arg, "text") && strcmp(arg, "json"))
		return cd_opt_bad("--format", arg, "text or json");
	*json = !strcmp(arg, "json");
	return 0;
}

FILE *cd_opt_output_private(const char *path)
{
	struct stat st;
	FILE *f;
	int fd, e;

	if (!strcmp(path, "-"))
		return stdout;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0600)) < 0)
		return NULL;
	/* a file that was there before keeps its mode under O_CREAT: narrow it */
	if (fstat(fd, &st) < 0 || (S_ISREG(st.st_mode) && (st.st_mode & 077) && fchmod(fd, 0600) < 0) ||
	    !(f = fdopen(fd, "wb"))) {
		e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	return f;
}
