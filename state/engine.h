/*
 * engine.h — the rules engine: inputs in, deadline and breach events out.
 *
 * The engine is pure: no I/O, no wall clock, no globals. For one citizen it
 * (1) inserts an input into the ordered history (or ignores a duplicate),
 * (2) re-evaluates every obligation of every period from the whole history at
 *     the citizen's current clock and emits what changed (outputs caused by the
 *     input, as_of = the input's event time), then
 * (3) advances the clock to the input's event time one firing instant at a
 *     time (breaches, warnings, windows that begin), emitting each change with
 *     its own instant (docs/spec/events.md "Clock").
 * Because evaluation is a function of (history, clock) and the emitted states
 * record what was already said, late, duplicated and out-of-order inputs end
 * in the same obligation states as in-order ones (within history_horizon_days:
 * older history that can no longer change an output is folded, engine.c).
 *
 * Ownership: the engine borrows `rules` (which must outlive it) and owns only
 * scratch memory. A cd_engine is not thread-safe: use one per thread. Output
 * records passed to the callback point into engine and citizen memory and are
 * valid only during the callback.
 */
#ifndef CD_STATE_ENGINE_H
#define CD_STATE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "state/citizen.h"
#include "state/event.h"
#include "state/rules.h"
#include "util/err.h"

/*
 * The most history entries per citizen the options allow. An input costs
 * time linear in its citizen's history (it is evaluated whole); at 10000
 * entries that is about a millisecond (ops/bench.sh, "cost per history
 * length"), well under the live processor's batch time, so one busy or
 * hostile citizen cannot stall a partition.
 */
#define CD_MAX_EVENTS_BOUND 10000

typedef struct cd_engine_config {
	int grace_days;           /* breaches at the start of D + 1 + grace; default 0 */
	int warn_lead_days;       /* WARNING this many days before D; 0 turns warnings off; default 7 */
	size_t max_events;        /* history entries per citizen; default 2000, options allow 1 … CD_MAX_EVENTS_BOUND */
	size_t max_obligations;   /* obligation states per citizen; default 1000 */
	int law_transition;       /* enum cd_law_transition; default CD_LAW_PERIOD_START */
	int history_horizon_days; /* fold history that can no longer change an output and ended this many
				   * days before the clock; 0: never (engine.c "Compaction"); default 1096 */
	int retention_days;       /* delete a citizen's state this many days after their last period ended
				   * (and their last input); 0: keep forever; default 1826 */
} cd_engine_config;

/* What compaction and retention did, counted since cd_engine_new (the caller turns them into metrics). */
typedef struct cd_engine_stats {
	uint64_t compactions;     /* times a citizen's history was folded */
	uint64_t folded_events;   /* history entries folded */
	uint64_t folded_states;   /* emitted obligation states dropped with them */
	uint64_t retired;         /* citizens whose state retention deleted */
	uint64_t refused_folded;  /* inputs refused because they needed folded history */
} cd_engine_stats;

/*
 * When a law that declares a configurable transition reaches courses already
 * running on its commencement (rules.md §5 dk-2026 "Transition"):
 * PERIOD_START: never (every period stays on the law in force on its start);
 * COMMENCEMENT: at the start of its first day, their old obligations that are
 * still undecided are CANCELLED (LAW_CHANGED) and the new law's open.
 */
enum cd_law_transition { CD_LAW_PERIOD_START = 0, CD_LAW_COMMENCEMENT = 1 };

void cd_engine_config_default(cd_engine_config *cfg);

/* Output status codes are contact.v1's enum values. */
enum { CD_DL_OPENED = 1, CD_DL_UPDATED = 2, CD_DL_PAUSED = 3, CD_DL_WARNING = 4, CD_DL_MET = 5,
       CD_DL_CANCELLED = 6, CD_DL_LAPSED = 7 };
enum { CD_BR_BREACHED = 1, CD_BR_RETRACTED = 2 };
enum { CD_KIND_DEADLINE = 1, CD_KIND_CADENCE = 2 };
enum { CD_CANCEL_NONE = 0, CD_CANCEL_BENEFIT_SHIFT = 1, CD_CANCEL_DEREGISTERED = 2,
       CD_CANCEL_PERIOD_ENDED = 3, CD_CANCEL_OPTED_OUT = 4, CD_CANCEL_SUPERSEDED = 5,
       CD_CANCEL_EXEMPTED = 6, CD_CANCEL_LAW_CHANGED = 7 };

/* One DeadlineEvent or BreachEvent, flat. Strings are NUL-terminated. */
typedef struct cd_output {
	bool is_breach;
	int status;               /* CD_DL_* or CD_BR_* */
	int breach_kind;          /* CD_KIND_* (breach only) */
	int cancel_reason;        /* CD_CANCEL_* */
	char event_id[33];        /* 32 hex digits */
	const char *citizen_id;
	const char *muni;
	int benefit;
	char ruleset_id[40];
	int ruleset_version;
	const char *obligation_id;   /* "dk-2015/schedule-3": the instance */
	const char *definition_id;   /* "dk-2015/schedule": the rule it is an instance of */
	int severity;
	const char *legal_ref;
	cd_date window_start, window_end, due, period_start;
	int required, held;
	const char *const *counted;  /* conversation ids */
	size_t n_counted;
	const char *caused_by;    /* "" when the clock fired it */
	cd_instant as_of;         /* as_of, or detected_at of a breach */
	const char *explanation;
	const char *aggregate_id;    /* the aggregate a share member belongs to, else "" */
	int basis;                   /* enum cd_basis (rules.h); 0 when the rule data gives none */
} cd_output;

/* Returns 0 to go on; non-zero aborts the call that is emitting (its return becomes -1). */
typedef int (*cd_output_fn)(void *ctx, const cd_output *out);

/*
 * A share member's outcome, as the aggregate stage counts it (rules.md §4.1).
 * A member is decided at the start of day D + 1 + grace (D the last day of
 * its window) as MET, LAPSED or EXEMPTED; before that, or once cancelled for
 * another reason or superseded, it is UNDECIDED and belongs to no cohort. The
 * engine says each change of (outcome, due date, held, key) once.
 */
enum { CD_MEMBER_UNDECIDED = 0, CD_MEMBER_MET = 1, CD_MEMBER_LAPSED = 2, CD_MEMBER_EXEMPTED = 3 };

typedef struct cd_member {
	char member_id[33];       /* 32 hex digits: citizen, period and obligation; stable for the member's life */
	const char *aggregate_id; /* "dk-2026/kommune-share" */
	int key_kind;             /* enum cd_agg_key (rules.h) */
	const char *key;          /* the municipality code, the a-kasse code, or "unknown" */
	const char *citizen_id;
	const char *obligation_id;
	int outcome;              /* CD_MEMBER_* */
	cd_date due;              /* the last day of its window as decided (its cohort's period holds it) */
	int held;                 /* every qualifying conversation in its window */
	int need;                 /* AVERAGE: the member's own count n (its obligation's); 0: the aggregate's */
	int benefit;              /* the period's benefit at the decision */
	cd_instant as_of;         /* the decision instant, or the event time of the input that changed it */
	const char *caused_by;    /* "" when the clock decided it */
} cd_member;

typedef int (*cd_member_fn)(void *ctx, const cd_member *m);

typedef struct cd_engine cd_engine;

/* `rules` is borrowed. NULL when out of memory. */
cd_engine *cd_engine_new(const cd_rules *rules, const cd_engine_config *cfg);
/*
 * Where member outcomes go (NULL: nowhere, and none is recorded as said).
 * Called during apply/advance, after the outputs of the same step; a
 * non-zero return fails the call like a failing output callback.
 */
void cd_engine_set_member_fn(cd_engine *e, cd_member_fn fn, void *ctx);
void cd_engine_free(cd_engine *e);

/*
 * Applies one input to citizen c (whose id is citizen_id). ClockTicks advance
 * the clock only. Returns 0 when applied, 1 when it was a duplicate (nothing
 * changed, nothing emitted), -1 when it could not be applied (err says why).
 * An input refused by a limit (history or obligation states) leaves c
 * unchanged and emits nothing. After a failing callback, c is in an
 * unspecified state: the caller must discard it (reload from its store), never
 * store it. The input must have passed cd_event_validate.
 */
int cd_engine_apply(cd_engine *e, cd_citizen *c, const char *citizen_id, const cd_event *ev,
		    cd_output_fn fn, void *ctx, cd_err *err);

/* Advances c's clock to t (if later), firing what falls due. 0 / -1. */
int cd_engine_advance(cd_engine *e, cd_citizen *c, const char *citizen_id, cd_instant t,
		      cd_output_fn fn, void *ctx, cd_err *err);

/*
 * Counters of compaction and retention. A citizen whose state retention
 * deleted comes back from apply/advance empty with `retired` set: the caller
 * deletes its record (and timer) instead of storing it.
 */
const cd_engine_stats *cd_engine_stats_get(const cd_engine *e);

/* Names for messages: "OPENED", "BREACHED", "BENEFIT_SHIFT", … */
const char *cd_output_status_name(const cd_output *o);
const char *cd_cancel_reason_name(int r);
int cd_output_status_parse(const char *s, bool *is_breach);
int cd_cancel_reason_parse(const char *s);

#endif
