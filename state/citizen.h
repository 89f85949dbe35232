/*
 * citizen.h — one citizen's durable state: ordered history, emitted obligation
 * states, and clock.
 *
 * The history is the source of truth: every accepted input (except clock
 * ticks) is kept, de-duplicated by event_id and ordered by business time
 * (occurred_at, ties by event_id), so that evaluation is a pure function of
 * (history, clock) whatever order the inputs arrived in (docs/spec/rules.md §3.4).
 * The emitted states remember what alerting services were last told about
 * each obligation, so that re-evaluation can say only what changed.
 *
 * The record has one binary form (cd_citizen_encode/decode), compact (varints,
 * delta-coded times) and versioned: it is both the in-memory store's value
 * and the Redis value, so replay and production hold the same bytes.
 *
 * History no longer able to change any output can be folded (engine.c,
 * "Compaction"): the record then keeps a summary in its place (fold_until and
 * the hashes of folded conversation ids), and the engine refuses inputs that
 * would need what was folded.
 *
 * Lifecycle: cd_citizen_init (no allocation), cd_citizen_clear (empty, keeps
 * memory for reuse), cd_citizen_release (frees the contents). Limits are
 * enforced by the engine, which knows the configuration.
 */
#ifndef CD_STATE_CITIZEN_H
#define CD_STATE_CITIZEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/date.h"
#include "state/event.h"
#include "state/rules.h"
#include "util/buf.h"
#include "util/err.h"

/* History entry flags. */
#define CD_HF_OPT_OUT  0x01
#define CD_HF_SEASONAL 0x02
#define CD_HF_JOINT    0x04
#define CD_HF_VOIDED   0x08
#define CD_HF_ENDS_DP  0x10
#define CD_HF_COURSE   0x20   /* municipal_contact_course */
#define CD_HF_SICK_SHORT 0x40 /* sick_short_absence_expected */
#define CD_HF_REVOKED  0x80   /* an Exemption that withdraws an earlier one */

typedef struct cd_hev {
	cd_instant occurred;
	cd_date date;             /* business date: local date of occurred (derived, not stored) */
	uint32_t id_off;          /* event_id: NUL-terminated in the citizen's string arena */
	uint32_t conv_off;        /* conversation_id, or 0 (the arena starts with "") */
	uint8_t id_len;           /* strlen of the event_id (derived; the encoder writes this many bytes) */
	uint8_t kind;             /* enum cd_event_kind */
	uint8_t flags;            /* CD_HF_* */
	uint8_t benefit, category, form, held_by, reason;
	uint8_t scope;            /* Exemption: enum cd_scope */
	uint32_t akasse_off;      /* akasse_code, or 0 ("") */
	char muni[CD_MUNI_LEN + 1];
	cd_date first_contact, first_absence, dp_start;
	int32_t prior_days;
} cd_hev;

/* What alerting services were last told about one obligation. */
enum cd_obstatus {
	CD_OB_OPEN = 1,
	CD_OB_PAUSED = 2,
	CD_OB_MET = 3,
	CD_OB_BREACHED = 4,
	CD_OB_CANCELLED = 5,
	CD_OB_LAPSED = 6,         /* a share member whose window ended unmet (rules.md §4.1) */
};

#define CD_OB_MEMBER_MAX 3         /* the largest member outcome (CD_MEMBER_EXEMPTED, engine.h) */
#define CD_OB_REASON_MAX 7         /* the largest cancel reason (CD_CANCEL_LAW_CHANGED, engine.h) */

#define CD_OF_WARNED_LEAD 0x01
#define CD_OF_WARNED_PACE 0x02
#define CD_OF_SEEN        0x80    /* transient, during one evaluation */

typedef struct cd_obst {
	uint64_t pkey;            /* the period: hash of the event_id that started it */
	cd_date pstart;           /* the period's start date */
	uint32_t oid_off;         /* "dk-2020/four-in-six", in the string arena */
	uint8_t status;           /* enum cd_obstatus */
	uint8_t reason;           /* cancel reason (contact.v1 CancelReason) */
	uint8_t flags;            /* CD_OF_* */
	uint8_t benefit;
	char muni[CD_MUNI_LEN + 1];
	cd_date due, ws, we;
	int32_t required, held;
	uint32_t transitions;     /* outputs emitted so far: numbers the next one (D27) */
	/* A share member: what the aggregate stage was last told (engine.h cd_member). */
	uint8_t agg;              /* CD_MEMBER_*: 0 undecided (or never said) */
	cd_date agg_due;
	int32_t agg_held;
	uint32_t agg_key;         /* hash of the cohort key it was said with */
} cd_obst;

typedef struct cd_citizen {
	cd_instant clock;         /* CD_INSTANT_NONE before the first input */
	cd_instant next_fire;     /* the next instant something fires; CD_INSTANT_NONE: nothing */
	cd_hev *ev;               /* sorted by (occurred, event_id) */
	size_t n_ev, cap_ev;
	cd_obst *ob;
	size_t n_ob, cap_ob;
	cd_buf str;               /* string arena; offset 0 holds "" */
	/* The summary of folded history (none while fold_until is CD_DATE_NONE). */
	cd_date fold_until;       /* the business date of the last folded input: nothing on or before it is held */
	cd_instant fold_at;       /* inputs at or before this instant are refused too: a folded period ended
				   * by an entry that was kept (CD_INSTANT_NONE: none) */
	uint32_t n_folded;        /* inputs folded so far */
	uint64_t *fold_conv;      /* XXH3-64 of folded conversation ids, oldest first (CD_FOLD_CONV_MAX) */
	size_t n_fold_conv, cap_fold_conv;
	bool retired;             /* transient, never encoded: retention deleted the state; the caller deletes the record */
} cd_citizen;

/*
 * Folded conversation ids remembered, so that a correction or void of one is
 * refused; past this the oldest are forgotten (the record stays bounded: 32 KiB).
 */
#define CD_FOLD_CONV_MAX 4096

void cd_citizen_init(cd_citizen *c);
void cd_citizen_clear(cd_citizen *c);
void cd_citizen_release(cd_citizen *c);

static inline const char *cd_citizen_str(const cd_citizen *c, uint32_t off)
{
	return c->str.data ? c->str.data + off : "";
}

/* Appends a string to the arena; returns its offset via *off. -1 past the arena's max. */
int cd_citizen_intern(cd_citizen *c, const char *s, size_t len, uint32_t *off);

/* Grow the arrays to hold at least n entries. -1 when out of memory. */
int cd_citizen_reserve_events(cd_citizen *c, size_t n);
int cd_citizen_reserve_obs(cd_citizen *c, size_t n);

/* Appends a folded conversation id's hash, forgetting the oldest past CD_FOLD_CONV_MAX. -1 out of memory. */
int cd_citizen_fold_conv(cd_citizen *c, uint64_t h);
/* Whether a conversation id with this hash was folded (and is still remembered). */
bool cd_citizen_folded_conv(const cd_citizen *c, uint64_t h);

/* Serialises c into out (appending). */
int cd_citizen_encode(const cd_citizen *c, cd_buf *out);
/* Replaces c's contents with the record in [p, p+n). -1 with err if corrupt. */
int cd_citizen_decode(cd_citizen *c, const uint8_t *p, size_t n, cd_err *err);

#endif
