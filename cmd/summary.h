/*
 * summary.h — a readable account of a stream of outputs, for people: totals by
 * status, standing breaches by rule and by municipality, and a few explained
 * examples. Used by `contactd replay --summary` and `contactd consume --summary`
 * (the two demos).
 *
 * Aggregate events (replay) are counted too: cohorts standing BREACHED and
 * MET per aggregate (a cohort counts once, at its latest status; a RETRACTED
 * takes it back), with a few breached cohorts explained.
 *
 * Memory is bounded: at most CD_SUMMARY_KEYS distinct rules, municipalities
 * and aggregates are counted separately; the rest are counted under "(other)".
 */
#ifndef CD_CMD_SUMMARY_H
#define CD_CMD_SUMMARY_H

#include <stdbool.h>
#include <stdio.h>

#include "state/aggregate.h"
#include "state/engine.h"

#define CD_SUMMARY_KEYS 256
#define CD_SUMMARY_EXAMPLES 3
#define CD_SUMMARY_COHORTS 4096      /* cohorts whose standing status is followed (more: counted, not replaced) */

typedef struct cd_summary cd_summary;

cd_summary *cd_summary_new(void);
void cd_summary_free(cd_summary *s);
void cd_summary_add(cd_summary *s, const cd_output *o);
/*
 * The same from an output's fields (for outputs read back from Kafka):
 * status is the DeadlineStatus or BreachStatus value.
 */
void cd_summary_add_fields(cd_summary *s, bool is_breach, int status, const char *definition_id,
			   const char *muni, const char *citizen_id, const char *explanation);
void cd_summary_add_aggregate(cd_summary *s, const cd_agg_output *a);
void cd_summary_print(const cd_summary *s, FILE *f);

#endif
