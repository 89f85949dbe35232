/*
 * opts.h — the engine options every command shares (rules, overlays, limits),
 * parsed the same way everywhere.
 *
 *   --rules DIR               ruleset directory (default $CONTACTD_RULES, else the installed
 *                             PREFIX/share/contactd/rules: util/datadir.h)
 *   --overlays-config FILE    overlay configuration (default DIR/overlays.json)
 *   --overlays SPEC           instead: "none" or OVERLAY@MUNI,… (replaces the file's)
 *   --grace DAYS              0 … 60 (default 0)
 *   --warn-days DAYS          0 … 365, 0 turns warnings off (default 7)
 *   --max-events N            history entries per citizen (default 2000)
 *   --max-obligations N       obligation states per citizen (default 1000)
 *   --max-record-bytes N      largest input record (default 1 MiB)
 *   --log-level LEVEL         debug, info, warn, error (default info)
 */
#ifndef CD_CMD_OPTS_H
#define CD_CMD_OPTS_H

#include <getopt.h>
#include <stddef.h>

#include "state/engine.h"
#include "state/rules.h"
#include "util/err.h"

enum {
	CD_OPT_RULES = 1001, CD_OPT_OVERLAYS_CONFIG, CD_OPT_OVERLAYS, CD_OPT_GRACE, CD_OPT_WARN,
	CD_OPT_MAX_EVENTS, CD_OPT_MAX_OBLIGATIONS, CD_OPT_MAX_RECORD, CD_OPT_LOG_LEVEL,
};

#define CD_CLI_ENGINE_LONGOPTS \
	{ "rules", required_argument, NULL, CD_OPT_RULES }, \
	{ "overlays-config", required_argument, NULL, CD_OPT_OVERLAYS_CONFIG }, \
	{ "overlays", required_argument, NULL, CD_OPT_OVERLAYS }, \
	{ "grace", required_argument, NULL, CD_OPT_GRACE }, \
	{ "warn-days", required_argument, NULL, CD_OPT_WARN }, \
	{ "max-events", required_argument, NULL, CD_OPT_MAX_EVENTS }, \
	{ "max-obligations", required_argument, NULL, CD_OPT_MAX_OBLIGATIONS }, \
	{ "max-record-bytes", required_argument, NULL, CD_OPT_MAX_RECORD }, \
	{ "log-level", required_argument, NULL, CD_OPT_LOG_LEVEL }

typedef struct cd_cli_engine {
	const char *rules_dir;
	const char *overlays_config;   /* NULL: <rules_dir>/overlays.json */
	const char *overlays;          /* NULL: use the file */
	cd_engine_config cfg;
	size_t max_record;
	cd_rules *rules;               /* owned, after cd_cli_engine_open */
} cd_cli_engine;

void cd_cli_engine_init(cd_cli_engine *o);
/* Handles one getopt_long result. 0 when it was an engine option and valid; -1 otherwise (logged). */
int cd_cli_engine_option(cd_cli_engine *o, int c, const char *arg);
/* Loads the rules and creates the engine (*out owned by the caller; the rules stay in o). */
int cd_cli_engine_open(cd_cli_engine *o, cd_engine **out, cd_err *err);
void cd_cli_engine_release(cd_cli_engine *o);
const char *cd_cli_engine_usage(void);

#endif
