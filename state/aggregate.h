/*
 * aggregate.h — aggregate obligations: share members' outcomes in, aggregate
 * events out (docs/spec/rules.md §4.1).
 *
 * The engine says each change of a share member's outcome once (cd_member,
 * state/engine.h); the aggregator keeps every decided member in its cohort
 * (aggregate, key kind, key, reporting period holding the member's due date)
 * and, driven by the aggregate clock (the all-citizen clock: cd_agg_advance),
 * emits a cohort's WARNING, its evaluation (MET or BREACHED) and, when a
 * member changes after that, its re-evaluation (RETRACTED and the new status,
 * or an updated status). decisions.md D43–D47 say what the spec leaves open.
 *
 * Pure: no I/O, no wall clock, no globals. Outputs are a function of the set
 * of members known at each advance and of the sequence of advance instants,
 * never of the order in which members arrived between two advances.
 *
 * Ownership: the aggregator borrows `rules` (which must outlive it) and copies
 * everything it keeps from a cd_member. Output records passed to the callback
 * point into aggregator memory and are valid only during the callback. Not
 * thread-safe: one aggregator per thread.
 */
#ifndef CD_STATE_AGGREGATE_H
#define CD_STATE_AGGREGATE_H

#include <stddef.h>

#include "state/date.h"
#include "state/engine.h"
#include "state/event.h"
#include "state/rules.h"
#include "util/err.h"

/* AggregateEvent status: contact.v1 AggregateStatus values. */
enum { CD_AGG_WARNING = 1, CD_AGG_MET = 2, CD_AGG_BREACHED = 3, CD_AGG_RETRACTED = 4 };

/* One benefit's part of an aggregate event (only benefits with members are listed). */
typedef struct cd_agg_benefit {
	int benefit;              /* enum cd_benefit */
	int members, met;
} cd_agg_benefit;

/* One AggregateEvent, flat. */
typedef struct cd_agg_output {
	char event_id[33];        /* 32 hex digits */
	const char *aggregate_id; /* "dk-2026/kommune-share" */
	int key_kind;             /* enum cd_agg_key: contact.v1 AggregateKeyKind */
	const char *key;          /* "101", "A901", "unknown" */
	cd_date period_start, period_end;   /* the reporting period */
	int status;               /* CD_AGG_* */
	int kind;                 /* enum cd_agg_kind: contact.v1 AggregateKind */
	int members, met, lapsed, exempted; /* decided members and their outcomes */
	int required, held;       /* SHARE: counts; AVERAGE: hundredths */
	const cd_agg_benefit *by_benefit;
	size_t n_by_benefit;      /* in enum order */
	int severity;             /* enum cd_severity */
	const char *legal_ref;
	cd_instant detected_at;
	const char *explanation;  /* one line, for people */
} cd_agg_output;

/* Returns 0 to go on; non-zero fails the cd_agg_advance that is emitting. */
typedef int (*cd_agg_fn)(void *ctx, const cd_agg_output *out);

typedef struct cd_aggregator cd_aggregator;

/*
 * `rules` is borrowed. grace_days delays evaluation as it delays breaches;
 * warn_days > 0 asks for a WARNING at the start of the day warn_days before a
 * period's last day (0: none). NULL when out of memory.
 */
cd_aggregator *cd_agg_new(const cd_rules *rules, int grace_days, int warn_days);
void cd_agg_free(cd_aggregator *a);

/*
 * Records a member's outcome (upsert by member_id). MET, LAPSED and EXEMPTED
 * put it in the cohort of (aggregate_id, key_kind, key, reporting period
 * holding m->due), moving it from any cohort it was in; UNDECIDED takes it out;
 * a repeat of what is known, or UNDECIDED for a member not known, changes
 * nothing and returns 1 (else 0). m->as_of (when it came to this
 * outcome) decides whether a WARNING counts it: only members decided at or
 * before the warning's instant are. Nothing is emitted here: a
 * change to a cohort already evaluated is re-evaluated at the next
 * cd_agg_advance. -1 (err says why, nothing changed) for an aggregate the
 * rules do not name, a key kind that is not the aggregate's, a decided member
 * without a due date, or out of memory.
 */
int cd_agg_member(cd_aggregator *a, const cd_member *m, cd_err *err);

/*
 * Advances the aggregate clock to t (the clock never goes back: an earlier t
 * is taken as the clock's current instant) and emits, in time order and, at
 * one instant, in cohort order (aggregate id, key kind, key, period start):
 * each WARNING and evaluation whose instant it passes, then, stamped t, the
 * late evaluation of cohorts whose instant passed while they had no member
 * and the re-evaluation of evaluated cohorts that changed since the last
 * advance. Advancing once to t gives what advancing through every instant on
 * the way would give for WARNINGs and evaluations. 0, or -1 when fn failed
 * (the event it refused counts as emitted).
 */
int cd_agg_advance(cd_aggregator *a, cd_instant t, cd_agg_fn fn, void *ctx, cd_err *err);

/*
 * The earliest WARNING or evaluation instant after the aggregate clock
 * (CD_INSTANT_NONE: none scheduled). A driver that also advances citizens
 * walks both clocks through these instants together, so that a WARNING
 * counts only the members decided by its instant (cmd/replay.c advance_all).
 */
cd_instant cd_agg_next(const cd_aggregator *a);

/* The aggregate clock: the latest t advanced to, CD_INSTANT_NONE before the first advance. */
cd_instant cd_agg_clock(const cd_aggregator *a);

/*
 * Persistence: the live aggregate stage keeps its aggregators in Redis
 * (consumer/aggstage.c). What it saves is each member as it last applied it
 * and each cohort's evaluation state; it restores them in that order: every
 * member with cd_agg_member, then every cohort with cd_agg_restore_cohort,
 * then the clock, then cd_agg_forget_changes.
 */
typedef int (*cd_agg_state_fn)(void *ctx, const void *key, size_t klen, const void *state, size_t n);
/* Calls fn with the key and the state bytes of every cohort changed since the last call, and
 * forgets the changes. 0, or -1 (fn failed, or out of memory). */
int cd_agg_changed_cohorts(cd_aggregator *a, cd_agg_state_fn fn, void *ctx, cd_err *err);
/* Restores one cohort's saved state (creating the cohort when no member made it). 0 / -1 (corrupt). */
int cd_agg_restore_cohort(cd_aggregator *a, const void *state, size_t n, cd_err *err);
void cd_agg_restore_clock(cd_aggregator *a, cd_instant now);
void cd_agg_forget_changes(cd_aggregator *a);

/* One cohort as it stands now, for people (`contactd aggregates`). */
typedef struct cd_agg_cohort {
	const cd_aggdef *def;
	int key_kind;
	const char *key;
	cd_date period_start, period_end;
	cd_instant warn_at, eval_at;  /* warn_at CD_INSTANT_NONE: no warning */
	int members, met, lapsed, exempted;   /* the decided members known now */
	int required, held;           /* as an evaluation now would say them (SHARE: counts; AVERAGE: hundredths) */
	int64_t sum_held, sum_need;   /* AVERAGE: conversations held and owed by the members decided */
	bool meets;                   /* would an evaluation now say MET */
	bool evaluated;               /* its evaluation instant has passed (with a member) */
	int last_status;              /* evaluated: the standing status (CD_AGG_MET or CD_AGG_BREACHED) */
} cd_agg_cohort;

/* Calls fn for every cohort, in cohort order (aggregate id, key kind, key, period start). */
void cd_agg_each_cohort(const cd_aggregator *a, void (*fn)(void *ctx, const cd_agg_cohort *c), void *ctx);

/* The reporting period ('q', 'm' or 'y') that holds day d: *start and *end. */
void cd_agg_period(char period, cd_date d, cd_date *start, cd_date *end);

/* "WARNING", "MET", "BREACHED", "RETRACTED"; "?" otherwise. */
const char *cd_agg_status_name(int status);

#endif
