/*
 * rules_json.h — reading rulesets and the overlay configuration from files.
 *
 * The JSON face of state/rules.h: the rulesets (rules/NAME.json) and
 * rules/overlays.json (see docs/rules.md for the format) become an immutable
 * cd_rules. The loader is strict: any problem fails the whole load.
 *
 * Ownership: cd_rules_load returns a cd_rules the caller frees with
 * cd_rules_free (state/rules.h).
 */
#ifndef CD_PROTO_RULES_JSON_H
#define CD_PROTO_RULES_JSON_H

#include "state/rules.h"
#include "util/err.h"

/*
 * Loads every "*.json" ruleset in `dir` (except overlays.json) and the overlay
 * configuration `overlays_path` (NULL: "<dir>/overlays.json"). Any problem fails
 * the whole load with err naming the file, the line where it could be found,
 * and the field, e.g.
 *   "rules/dk-2020.json:41: obligations[1] 'four-in-six': field 'window.to': bad length '6x'"
 * A configuration that enables more than CD_MAX_OVERLAYS overlays for one
 * municipality fails naming the file and the municipality.
 * On success *out is owned by the caller.
 */
int cd_rules_load(const char *dir, const char *overlays_path, cd_rules **out, cd_err *err);

/*
 * Replaces the overlay configuration with `spec`: "none", or a comma-separated
 * list of OVERLAY@MUNI (e.g. "frikommune-rebild@840,policy-hedensted@766").
 * For tests and the --overlays option. -1 with err naming the bad item (the
 * configuration is then unchanged).
 */
int cd_rules_set_overlays(cd_rules *rules, const char *spec, cd_err *err);

#endif
