/*
 * opts.c — shared engine options. Every bad value is an error that names the
 * option and the accepted range; nothing is silently clamped.
 */
#include "cmd/opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/datadir.h"
#include "util/log.h"
#include "util/num.h"

void cd_cli_engine_init(cd_cli_engine *o)
{
	memset(o, 0, sizeof(*o));
	o->rules_dir = getenv("CONTACTD_RULES") && *getenv("CONTACTD_RULES") ? getenv("CONTACTD_RULES")
									  : cd_datadir_rules();
	cd_engine_config_default(&o->cfg);
	o->max_record = (size_t)1 << 20;
}

static int bounded(const char *opt, const char *arg, long lo, long hi, long *out)
{
	char range[64];
	if (cd_num_parse_range(arg, lo, hi, out) == 0)
		return 0;
	snprintf(range, sizeof(range), "%ld … %ld", lo, hi);
	cd_log(CD_LOG_ERROR, "bad option value", "option", opt, "value", arg, "expected", range, NULL);
	return -1;
}

int cd_cli_engine_option(cd_cli_engine *o, int c, const char *arg)
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
		if (bounded("--grace", arg, 0, 60, &v) < 0)
			return -1;
		o->cfg.grace_days = (int)v;
		return 0;
	case CD_OPT_WARN:
		if (bounded("--warn-days", arg, 0, 365, &v) < 0)
			return -1;
		o->cfg.warn_lead_days = (int)v;
		return 0;
	case CD_OPT_MAX_EVENTS:
		if (bounded("--max-events", arg, 1, 1000000, &v) < 0)
			return -1;
		o->cfg.max_events = (size_t)v;
		return 0;
	case CD_OPT_MAX_OBLIGATIONS:
		if (bounded("--max-obligations", arg, 1, 1000000, &v) < 0)
			return -1;
		o->cfg.max_obligations = (size_t)v;
		return 0;
	case CD_OPT_MAX_RECORD:
		if (bounded("--max-record-bytes", arg, 64, 64L << 20, &v) < 0)
			return -1;
		o->max_record = (size_t)v;
		return 0;
	case CD_OPT_LOG_LEVEL:
		if ((v = cd_log_level_parse(arg)) < 0) {
			cd_log(CD_LOG_ERROR, "bad option value", "option", "--log-level", "value", arg, "expected",
			       "debug, info, warn or error", NULL);
			return -1;
		}
		cd_log_set_level((int)v);
		return 0;
	}
	return -1;
}

int cd_cli_engine_open(cd_cli_engine *o, cd_engine **out, cd_err *err)
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

void cd_cli_engine_release(cd_cli_engine *o)
{
	cd_rules_free(o->rules);
	o->rules = NULL;
}

const char *cd_cli_engine_usage(void)
{
	return "      --rules DIR          ruleset directory (default $CONTACTD_RULES, else the installed one)\n"
	       "      --overlays-config F  overlay configuration file (default DIR/overlays.json)\n"
	       "      --overlays SPEC      'none' or OVERLAY@MUNI,... instead of the file\n"
	       "      --grace DAYS         breach grace period, 0 … 60 (default 0)\n"
	       "      --warn-days DAYS     warning lead time, 0 … 365, 0 = off (default 7)\n"
	       "      --max-events N       history entries per citizen (default 2000)\n"
	       "      --max-obligations N  obligation states per citizen (default 1000)\n"
	       "      --max-record-bytes N largest input record (default 1048576)\n"
	       "      --log-level LEVEL    debug, info, warn, error (default info)\n";
}
