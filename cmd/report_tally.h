/*
 * report_tally.h — the counting half of `contactd report`: a stream of
 * outputs in (deadline, breach and aggregate events, in the order a citizen's
 * outputs were made), compliance figures out (docs/report.md).
 *
 * The unit is an obligation instance, named by (citizen, period start,
 * obligation id). For each the tally keeps only its latest deadline status and
 * its latest breach status, apart, so that the result does not depend on how
 * the deadline and breach streams were interleaved (the live topics are two
 * topics); its due date, held count, benefit, rule and municipality; in 32
 * bytes, under a 96-bit hash of its name. Memory is therefore bounded by the
 * number of instances (and by `max_instances`), never by the number of
 * outputs; with a settle horizon, by the instances due within it (D69). Each
 * instance counts once, by its final outcome (at the end, or when it is
 * settled), in the row (municipality, benefit, month of its due date) it
 * belongs to (decisions.md D60–D69):
 *
 *   breached     its latest breach event is BREACHED (a RETRACTED takes it back)
 *   met_on_time  else its latest deadline event is MET (MET is only ever said
 *                for a window met by conversations dated on or before its due date)
 *   lapsed       LAPSED (a share member whose window ended unmet)
 *   exempted     CANCELLED with reason EXEMPTED
 *   cancelled    CANCELLED for any other reason
 *   open         anything else (undecided when the outputs end)
 *
 * Aggregate events are kept per cohort (aggregate, key kind, key, period
 * start): its latest standing (MET or BREACHED, WARNING before an evaluation,
 * nothing after a lone RETRACTED) with the counts that event carried.
 *
 * Ownership: the tally copies what it keeps; a cd_report it builds is the
 * caller's, freed by cd_report_free. Not thread-safe.
 */
#ifndef CD_CMD_REPORT_TALLY_H
#define CD_CMD_REPORT_TALLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/aggregate.h"
#include "state/date.h"
#include "state/engine.h"
#include "util/err.h"

#define CD_REPORT_MAX_MUNIS 4096     /* distinct municipalities counted apart; more: "(other)" */
#define CD_REPORT_MAX_RULES 4096     /* distinct rules (definition ids) counted apart; more: "(other)" */
#define CD_REPORT_MAX_COHORTS 100000 /* aggregate cohorts followed; more are counted, not kept */
#define CD_REPORT_MAX_FILTER 64      /* municipalities one --municipality may list */
#define CD_REPORT_EXAMPLES 8         /* explained breaches in a report */

/* What to count. Empty fields filter nothing. */
typedef struct cd_report_filter {
	char munis[CD_REPORT_MAX_FILTER][CD_MUNI_LEN + 1];
	size_t n_munis;
	uint32_t benefits;           /* bit per enum cd_benefit; 0: every benefit */
	const char *ruleset;         /* a prefix of obligation ids ("dk-2026"); NULL: any */
	cd_date from, to;            /* due dates in [from, to]; CD_DATE_NONE: open */
} cd_report_filter;

void cd_report_filter_init(cd_report_filter *f);

/* One row's counts: the instances whose final outcome is each, and what they held. */
typedef struct cd_report_counts {
	uint64_t due;                /* every instance counted in the row */
	uint64_t met, breached, lapsed, exempted, cancelled, open;
	uint64_t retracted;          /* of them, instances with a breach that was retracted */
	uint64_t held;               /* conversations held, summed over met, breached and lapsed */
	uint64_t late_changes;       /* late inputs' outputs for settled instances (D69): not in `due` */
} cd_report_counts;

/* decided = met + breached + lapsed: the denominator of the share on time (D62). */
uint64_t cd_report_decided(const cd_report_counts *c);
/* met / decided, or -1 when nothing was decided. */
double cd_report_share(const cd_report_counts *c);

typedef struct cd_report_row {
	const char *muni;            /* "" when the outputs named none */
	int benefit;                 /* enum cd_benefit */
	int year, month;             /* of the due date */
	cd_report_counts n;
} cd_report_row;

typedef struct cd_report_rule {
	const char *rule;            /* definition id, "dk-2020/four-in-six" */
	cd_report_counts n;
} cd_report_rule;

typedef struct cd_report_cohort {
	char aggregate_id[CD_MAX_OBLIGATION_ID_LEN + 1];
	int key_kind;                /* enum cd_agg_key */
	char key[CD_MAX_AKASSE_LEN + 1];
	cd_date period_start, period_end;
	int status;                  /* CD_AGG_WARNING, _MET, _BREACHED; 0: retracted, nothing stands */
	int kind;                    /* enum cd_agg_kind */
	int members, met, lapsed, exempted, required, held;
	uint32_t benefits;           /* bit per benefit with members */
} cd_report_cohort;

typedef struct cd_report_example {
	const char *muni;
	int benefit;
	char obligation_id[CD_MAX_OBLIGATION_ID_LEN + 1];
	const char *rule;
	cd_date due;
	char *explanation;           /* owned */
} cd_report_example;

/* A finished report: every array sorted as it is written (docs/report.md). */
typedef struct cd_report {
	cd_report_row *rows;         /* by municipality, benefit, month */
	size_t n_rows;
	cd_report_rule *rules;       /* by rule id */
	size_t n_rules;
	cd_report_cohort *cohorts;   /* by aggregate id, key kind, key, period start */
	size_t n_cohorts;
	cd_report_example *examples; /* standing breaches, rules with the most breaches first */
	size_t n_examples;
	cd_report_counts total;
	uint64_t outputs;            /* records taken (outputs of every kind) */
	uint64_t instances;          /* instances counted: settled, and in the table at the end (before the filters) */
	uint64_t settled;            /* of them, settled before the end (D69) */
	uint64_t late_changes;       /* late changes, before the filters */
	uint64_t undated;            /* instances without a due date at the end (paused, cancelled while paused): in no row */
	uint64_t cohorts_dropped;    /* cohorts past CD_REPORT_MAX_COHORTS */
	char **strings;              /* owned: the names rows and rules point to */
	size_t n_strings;
} cd_report;

void cd_report_free(cd_report *r);

typedef struct cd_tally cd_tally;

/*
 * `f` is copied. max_instances bounds the instance table. settle_days: an
 * instance due more than this many days before the stream clock (the latest
 * as_of / detected_at seen) is settled: counted by its outcome then and taken
 * out of the table; a later output for it is a late change (D69). 0: never
 * settle. NULL when out of memory.
 */
cd_tally *cd_tally_new(const cd_report_filter *f, size_t max_instances, int settle_days);
void cd_tally_free(cd_tally *t);

/*
 * One deadline or breach event. Its strings are copied where kept. -1 (err
 * says why) when the instance table is full or memory ran out: the tally
 * cannot go on.
 */
int cd_tally_output(cd_tally *t, const cd_output *o, cd_err *err);
/* One aggregate event. 0 / -1 as above. */
int cd_tally_aggregate(cd_tally *t, const cd_agg_output *a, cd_err *err);

/* Applies the filters and counts. *out is the caller's (cd_report_free). 0 / -1 (out of memory). */
int cd_tally_finish(cd_tally *t, cd_report *out, cd_err *err);

/* Instances in the table now, the most it held at once, and the bytes it holds (for --stats). */
size_t cd_tally_instances(const cd_tally *t);
size_t cd_tally_peak_instances(const cd_tally *t);
size_t cd_tally_bytes(const cd_tally *t);

#endif
