/*
 * driver.h — an event log through the engine, on the event clock, with the
 * in-memory store: the loop of `contactd replay`, shared by every command that
 * needs what a replay computes (replay itself, and the audit commands).
 *
 * For each record: frame (eventlog) → decode + validate (codec) → the
 * citizen's record from the store → state/step.c (raise its clock to the
 * latest all-citizen tick, apply) → back into the store with its next firing
 * instant. A ClockTick with an empty citizen_id advances every citizen due,
 * and the aggregate clock with them (cd_driver_advance_all). Outputs go to the
 * caller's sink as the engine makes them, in the order replay writes them.
 *
 * Ownership: the engine and the rules are borrowed and must outlive the
 * driver; everything else it allocates is freed by cd_driver_free. One thread.
 */
#ifndef CD_CMD_DRIVER_H
#define CD_CMD_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/eventlog.h"
#include "state/aggregate.h"
#include "state/citizen.h"
#include "state/engine.h"
#include "state/memstore.h"
#include "state/rules.h"
#include "util/err.h"

typedef struct cd_driver_counts {
	uint64_t records, applied, duplicates, skipped;
	uint64_t deadlines, breaches, aggregates, members;
} cd_driver_counts;

/* Where outputs go. A non-zero return from either fails the driver (cd_driver_failed). */
typedef struct cd_driver_sink {
	cd_output_fn output;          /* deadline and breach events */
	cd_agg_fn aggregate;          /* aggregate events; NULL: aggregates are not evaluated */
	void *ctx;
} cd_driver_sink;

typedef struct cd_driver cd_driver;

/* cfg gives the aggregates' grace and warning lead. NULL when out of memory. */
cd_driver *cd_driver_new(cd_engine *eng, const cd_rules *rules, const cd_engine_config *cfg, cd_driver_sink sink);
void cd_driver_free(cd_driver *d);

/* One decoded, valid input: 0 (applied, or a duplicate), -1 (refused: err says why). */
int cd_driver_apply(cd_driver *d, const cd_event *ev, cd_err *err);
/* Every citizen and the aggregate clock to t (an all-citizen tick, --until). 0 / -1. */
int cd_driver_advance_all(cd_driver *d, cd_instant t, cd_err *err);
/*
 * Every record of rd. A record that does not decode, validate or apply is
 * logged ("record skipped", with `input` and its position) and counted as
 * skipped. -1 when the framing was lost or the sink failed.
 */
int cd_driver_run(cd_driver *d, cd_log_reader *rd, const char *input, cd_err *err);

/* A sink failed (or a member could not be counted): what was produced is incomplete. */
bool cd_driver_failed(const cd_driver *d);
const cd_driver_counts *cd_driver_counts_of(const cd_driver *d);
/* The store (records of every citizen seen), borrowed. */
const cd_memstore *cd_driver_store(const cd_driver *d);
/* Citizen `id`'s state as stored now, into c: 1, 0 when the log never named it, -1 (corrupt). */
int cd_driver_citizen(const cd_driver *d, const char *id, cd_citizen *c, cd_err *err);
/* The latest all-citizen tick (CD_INSTANT_NONE: none yet). */
cd_instant cd_driver_floor(const cd_driver *d);

#endif
