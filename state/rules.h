/*
 * rules.h — rulesets: what the law (and each municipality) demands, as data.
 *
 * A ruleset is a JSON file under rules/ (see docs/rules.md for the format and
 * every shipped obligation). National rulesets are chosen by the period's start
 * date; overlays are enabled per municipality by rules/overlays.json and
 * apply when their benefits, seasonal flag and effective dates match the
 * period (docs/spec/rules.md §5). Overlays replace named national obligations, lift
 * national obligations of named kinds, widen the forms of the remaining ones, make some
 * of them members of the overlay's own aggregates, and add their own.
 *
 * The files are read by proto/rules_json.h (cd_rules_load); this is the
 * model and the selection, with no I/O.
 *
 * Ownership: a cd_rules is freed with cd_rules_free; every pointer handed out
 * by the lookup functions points into it and lives as long as it does. A
 * loaded cd_rules is immutable, so the engine may share it between threads.
 */
#ifndef CD_STATE_RULES_H
#define CD_STATE_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/date.h"
#include "state/event.h"

typedef enum cd_ob_kind {
	CD_FIRST_WITHIN = 1,
	CD_COUNT_IN_WINDOW = 2,
	CD_JOINT_IN_WINDOW = 3,
	CD_JOINT_AT_ORDINAL = 4,
	CD_SCHEDULE = 5,
	CD_MAX_GAP = 6,
} cd_ob_kind;
#define CD_OB_KIND_MAX CD_MAX_GAP

enum cd_severity { CD_SEV_NONE = 0, CD_SEV_LEGAL = 1, CD_SEV_POLICY = 2 };
/* How sure a rule is (contact.v1 Basis): what the rule data says it rests on. */
enum cd_basis { CD_BASIS_NONE = 0, CD_BASIS_LAW = 1, CD_BASIS_GUIDANCE = 2, CD_BASIS_CARRIED_OVER = 3,
	CD_BASIS_INTERPRETATION = 4, CD_BASIS_MAX = 4 };

typedef enum cd_clock_kind {
	CD_CLOCK_BENEFIT = 0,     /* cumulative for DAGPENGE, calendar otherwise (docs/spec/rules.md §3.2) */
	CD_CLOCK_CALENDAR = 1,
	CD_CLOCK_CUMULATIVE = 2,
} cd_clock_kind;

/*
 * A length measured from an anchor A, as docs/spec/rules.md §3.1 words it. The window
 * ends on the day the count of days (A being day 1; on the cumulative clock,
 * days registered) reaches L:
 *   "Nd" / "Nw" / "Nm": within the first N days / weeks / months:
 *        L = N, 7N, add_months(A, N) - A
 *   "Nd after" / "Nw after": N days / weeks after A: L = N + 1, 7N + 1
 * n == 0 means "no bound".
 */
typedef struct cd_span {
	int16_t n;
	char unit;      /* 'd', 'w', 'm' */
	bool after;
} cd_span;

typedef struct cd_filter {
	uint8_t held_by;  /* bit per enum cd_held_by */
	uint8_t forms;    /* bit per enum cd_form */
} cd_filter;

#define CD_BIT(x) (1u << (x))
/*
 * Obligation ids: a definition's "dk-2020/four-in-six", an instance's
 * "dk-2015/schedule-3". Every buffer that holds one is
 * char[CD_MAX_OBLIGATION_ID_LEN + 1]; citizen records refuse longer ones.
 */
#define CD_MAX_OBLIGATION_ID_LEN 111
#define CD_MAX_SLOTS 12
#define CD_MAX_REQUIRED 100      /* "required": conversations an obligation can ask for */
#define CD_MAX_OVERLAYS 8        /* overlays enabled for one municipality (so at most that many apply) */

/* Flags of a period, read from the input that started it (rules.md §5 dk-2024, dk-2026). */
#define CD_PF_COURSE     0x01    /* municipal_contact_course: DAGPENGE youth in a municipal course */
#define CD_PF_SICK_SHORT 0x02    /* sick_short_absence_expected */

typedef enum cd_anchor {
	CD_ANCHOR_PERIOD_START = 0,  /* A: the period start (dagpenge_period_start, first absence day, …) */
	CD_ANCHOR_FIRST_CONTACT = 1, /* the first contact date (første henvendelse) */
	CD_ANCHOR_START_INPUT = 2,   /* the business date of the Registration/BenefitChange that started it */
} cd_anchor;

/* Aggregate obligations (rules.md §4.1): what a member's `aggregate` names. */
typedef enum cd_agg_kind { CD_AGG_SHARE = 1, CD_AGG_AVERAGE = 2 } cd_agg_kind;
typedef enum cd_agg_key { CD_AGG_KEY_MUNICIPALITY = 1, CD_AGG_KEY_AKASSE = 2 } cd_agg_key;

typedef struct cd_aggdef {
	char name[48];            /* "kommune-share" */
	char id[CD_MAX_OBLIGATION_ID_LEN + 1];   /* "dk-2026/kommune-share" */
	uint8_t kind;             /* enum cd_agg_kind */
	uint8_t key;              /* enum cd_agg_key */
	uint8_t scope;            /* enum cd_scope (event.h): the Exemption that leaves members out; 0: none */
	uint8_t severity;
	uint8_t basis;            /* enum cd_basis */
	int share_pct;            /* SHARE: s in per cent (75) */
	int required;             /* AVERAGE: the n every member owes (checked at load); 0: each member owes its own */
	char period;              /* reporting period: 'q' quarter, 'm' month, 'y' year */
	char *legal_ref;          /* owned; never NULL */
	char *description;        /* owned; never NULL */
} cd_aggdef;

typedef enum cd_gap_start {
	CD_GAP_AFTER_WINDOW = 1,  /* from the day after the count reaches `start_after` */
	CD_GAP_AFTER_MET = 2,     /* from the conversation that met obligation `start_ref` */
} cd_gap_start;

typedef struct cd_obdef {
	char name[48];            /* "four-in-six" */
	char id[CD_MAX_OBLIGATION_ID_LEN + 1]; /* "dk-2020/four-in-six" */
	cd_ob_kind kind;
	uint8_t severity;         /* enum cd_severity */
	char mark;                /* 'V' verified, 'S' seed, 'I' interpretation */
	char *legal_ref;          /* owned; never NULL */
	char *description;        /* owned; never NULL */
	uint16_t benefits;        /* bit per enum cd_benefit; 0 = every benefit */
	uint8_t categories;       /* bit per enum cd_category; 0 = any */
	bool registration_only;   /* opens only on a period started by a Registration */
	uint8_t flags_set;        /* CD_PF_*: opens only on periods with all of these */
	uint8_t flags_clear;      /* CD_PF_*: opens only on periods with none of these */
	uint8_t clock;            /* enum cd_clock_kind */
	uint8_t anchor;           /* enum cd_anchor: A of the window */
	uint8_t basis;            /* enum cd_basis: what the rule rests on; 0 when the data says nothing */
	char aggregate[CD_MAX_OBLIGATION_ID_LEN + 1]; /* a share member: its aggregate's id; "" otherwise */
	uint8_t exempt_scope;     /* a member: the Exemption scope of its aggregate (enum cd_scope), 0: none */
	uint8_t agg_key;          /* a member: its aggregate's key (enum cd_agg_key), resolved at load */
	uint8_t agg_kind;         /* a member: its aggregate's kind (enum cd_agg_kind), resolved at load */
	cd_span from;             /* lower bound (window starts the day after), or none */
	cd_span to;               /* the window's end (the due date), or none */
	int required;             /* COUNT: n; others 1 */
	cd_filter filter;
	bool joint;               /* JOINT_*: needs a joint conversation; waived on opt-out */
	uint8_t first_must_forms; /* FIRST_WITHIN: the first candidate must have one of these forms */
	int repeat_months;        /* COUNT: repeating windows of this many months (calendar) */
	int slots;                /* SCHEDULE */
	cd_span every;            /* SCHEDULE: slot k due at L = k * L(every) */
	int16_t tolerance[CD_MAX_SLOTS];
	uint16_t joint_slots;     /* SCHEDULE: bit k-1 set: slot k must be joint */
	cd_span gap;              /* MAX_GAP */
	uint8_t gap_start;        /* enum cd_gap_start */
	cd_span start_after;      /* MAX_GAP, AFTER_WINDOW */
	char start_ref[48];       /* MAX_GAP, AFTER_MET: name of an obligation of the same ruleset */
	uint16_t ordinals;        /* JOINT_AT_ORDINAL: bit k set: ordinal k allowed */
	char mirror[48];          /* non-empty: evaluate the national obligation of this name */
} cd_obdef;

/*
 * A national obligation that an overlay makes a member of one of its own
 * aggregates ("national_members", rules.md §5 frikommune-nordjylland), for
 * periods of one benefit: a copy of the national definition (same id, window,
 * filter and count) that names the aggregate. Built at load, once every file
 * is read; the copy's strings are the national definition's (not owned).
 */
typedef struct cd_national_member {
	const cd_obdef *national;  /* what it is a copy of (in another ruleset of the same cd_rules) */
	uint8_t benefit;           /* enum cd_benefit: the periods it is for */
	cd_obdef def;
} cd_national_member;

typedef struct cd_ruleset {
	char id[40];
	int version;
	bool overlay;
	char *title;              /* owned */
	char *file;               /* owned: where it was loaded from */
	cd_date from, to;         /* effective period starts; to == CD_DATE_NONE: open-ended */
	uint16_t benefits;        /* overlays: benefits it applies to; 0 = any */
	int seasonal;             /* overlays: -1 any, 0 only non-seasonal, 1 only seasonal */
	bool joint_in_addition;   /* conversations taken by joint obligations do not count */
	char (*replaces)[48];     /* overlays: names of national obligations replaced */
	size_t n_replaces;
	uint8_t widen_forms;      /* overlays: forms added to the remaining national filters */
	uint8_t lifts_kinds;      /* overlays: bit per cd_ob_kind: national obligations of these kinds are not opened */
	uint8_t members_kind;     /* overlays, "national_members": national obligations of this kind (0: none) … */
	int members_min_required; /* … owing at least this many conversations … */
	char members_of[48];      /* … become members of this aggregate of the overlay ("{benefit}": its lowercase name) */
	cd_national_member *nmembers;   /* those copies, per benefit (resolved at load) */
	size_t n_nmembers;
	char (*allowed)[CD_MUNI_LEN + 1]; /* overlays: the only municipalities it may be enabled for */
	size_t n_allowed;         /* 0: any */
	uint8_t default_category; /* a period with no category is treated as this one (0: none) */
	bool transition;          /* national: may reach running courses (--law-transition commencement) */
	uint16_t no_obligations;  /* national: benefits it deliberately gives nothing (bit per cd_benefit) */
	char *no_obligations_why; /* owned; never NULL: why, for `rules list` and explanations */
	cd_obdef *obs;
	size_t n_obs;
	cd_aggdef *aggs;          /* aggregate obligations its members belong to */
	size_t n_aggs;
} cd_ruleset;

/* A benefit the law merged into another (rules.md §3.3): inputs dated `from` on name `into`. */
typedef struct cd_merge {
	uint8_t benefit, into;
	cd_date from;
	char *legal_ref;          /* owned */
} cd_merge;

typedef struct cd_rules cd_rules;

void cd_rules_free(cd_rules *rules);

/*
 * Building a cd_rules: what the loader (proto/rules_json.c) uses. Every
 * ruleset and string belongs to the cd_rules. Out of memory aborts: rules are
 * built once, at start-up.
 */
cd_rules *cd_rules_new(void);
/* A new zeroed ruleset after the others; the pointer is valid until the next cd_rules_add. */
cd_ruleset *cd_rules_add(cd_rules *rules);
/* Enables overlay ruleset number `set` for muni, after those enabled before. Returns how
 * many distinct overlays muni now has enabled. */
size_t cd_rules_enable(cd_rules *rules, size_t set, const char *muni);
/* Enables no overlay anywhere. */
void cd_rules_disable_all(cd_rules *rules);
/* Adds a benefit merge (owned by rules from then on: legal_ref is taken). */
void cd_rules_add_merge(cd_rules *rules, cd_merge m);

size_t cd_rules_count(const cd_rules *rules);
const cd_ruleset *cd_rules_at(const cd_rules *rules, size_t i);
const cd_ruleset *cd_rules_find(const cd_rules *rules, const char *id);
/* Finds a definition by its full id "ruleset/name". NULL if none. */
const cd_obdef *cd_rules_find_obligation(const cd_rules *rules, const char *id, const cd_ruleset **set);

/* The benefit an input naming `benefit` on business date `d` is processed as (rules.md §3.3). */
int cd_rules_merged_benefit(const cd_rules *rules, int benefit, cd_date d);
size_t cd_rules_merge_count(const cd_rules *rules);
const cd_merge *cd_rules_merge_at(const cd_rules *rules, size_t i);
/* An aggregate by its full id "ruleset/name". NULL if none. */
const cd_aggdef *cd_rules_find_aggregate(const cd_rules *rules, const char *id);
/* The next national ruleset after `rs` (by effective date), or NULL. */
const cd_ruleset *cd_rules_national_after(const cd_rules *rules, const cd_ruleset *rs);

/* The national ruleset in force for periods starting on `start`, or NULL (D20). */
const cd_ruleset *cd_rules_national(const cd_rules *rules, cd_date start);
/*
 * When no national ruleset covers periods starting on `start`: 1, with a
 * sentence for people in buf saying so and what the nearest rulesets cover
 * ("no national ruleset covers periods starting 2026-11-29 (dk-2024 covers
 * up to 2026-06-30): such periods get no national obligations"). 0 when one
 * does (buf untouched). A gap in the law data must never be silent.
 */
int cd_rules_national_gap(const cd_rules *rules, cd_date start, char *buf, size_t len);
/*
 * The overlays that apply to a period: enabled for `muni`, matching benefit,
 * seasonal flag and start date. Fills out[0..max) in configuration order and
 * returns how many apply.
 */
size_t cd_rules_overlays(const cd_rules *rules, const char *muni, int benefit, cd_date start,
			 bool seasonal, const cd_ruleset **out, size_t max);

/*
 * What an obligation of `national` is in a period of `benefit` to which the
 * overlays ovl[0..n) apply: the member copy the first of them that makes it a
 * member of its aggregate holds ("national_members"), or NULL when none does.
 */
const cd_obdef *cd_rules_national_member(const cd_ruleset *const *ovl, size_t n, const cd_obdef *national,
					 int benefit);
/* Do the overlays ovl[0..n) lift national obligations of this kind ("lifts_kinds")? */
bool cd_rules_lifted(const cd_ruleset *const *ovl, size_t n, int kind);
/* May overlay rs be enabled for muni ("allowed_municipalities"; none listed: anywhere)? */
bool cd_ruleset_allows(const cd_ruleset *rs, const char *muni);

/* The municipalities an overlay is enabled for (for `rules list`). */
size_t cd_rules_enabled_for(const cd_rules *rules, const cd_ruleset *overlay,
			    const char **munis, size_t max);

/*
 * Obligation kinds. Everything that depends on the kind is one row of the
 * table in state/obligations.c: its name, whether it is a joint kind, how it
 * breaches, whether it warns on pace, what a definition of it must give, and
 * its evaluator. A new kind is an enum value above, a row there and its
 * functions.
 */
/* "COUNT_IN_WINDOW", as rulesets spell it; "?" for a value that is no kind. */
const char *cd_ob_kind_name(int kind);
/* The kind named s, or -1. */
int cd_ob_kind_parse(const char *s);
/* A joint kind: joint by default, and allocated first (docs/spec/rules.md §4). */
bool cd_ob_kind_joint(int kind);
/*
 * What a definition lacks for its kind: NULL when it is complete, else a
 * message about the field named in *field ("window.to": "is required for
 * this kind").
 */
const char *cd_ob_kind_check(const cd_obdef *d, const char **field);

/* Does a definition apply to this benefit, category, kind of start and period flags (CD_PF_*)?
 * Inline: asked for every definition of every period of every evaluation. */
static inline bool cd_obdef_applies(const cd_obdef *d, int benefit, int category, bool by_registration,
				    unsigned flags)
{
	if ((flags & d->flags_set) != d->flags_set || (flags & d->flags_clear))
		return false;
	if (d->benefits && !(d->benefits & CD_BIT(benefit)))
		return false;
	if (d->categories && !(d->categories & CD_BIT(category)))
		return false;
	return !d->registration_only || by_registration;
}

/* Basis names as the rule data spells them ("GUIDANCE"), and in plain words for explanations. */
const char *cd_basis_name(int basis);
int cd_basis_parse(const char *s);
const char *cd_basis_words(int basis);
/* The cumulative/calendar choice for a benefit. */
bool cd_obdef_cumulative(const cd_obdef *d, int benefit);
/* L of a span (docs/spec/rules.md §3.1) for anchor a. 0 when the span is none. */
int cd_span_length(cd_span s, cd_date a);
/* "6m", "1w after", for messages and `rules list`. */
const char *cd_span_format(cd_span s, char *buf, size_t len);

#endif
