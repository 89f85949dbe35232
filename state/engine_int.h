/*
 * engine_int.h — the rules engine's internal types, shared by its files.
 *
 * The engine is one module in four files, in the order an evaluation runs:
 *   periods.c        history → periods, the cumulative clock, windows
 *   conversations.c  history → the conversations that count, and scans over them
 *   obligations.c    periods × rulesets → obligation instances (eval_* per kind,
 *                    the table of kinds)
 *   engine.c         the public API: apply / advance, and the diff of instances
 *                    against emitted states into outputs
 * Nothing here is for use outside state/engine*.c, state/periods.c,
 * state/conversations.c and state/obligations.c, and state/explain.c, which
 * runs the same evaluation and reads what it left (never changing it).
 */
#ifndef CD_STATE_ENGINE_INT_H
#define CD_STATE_ENGINE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/citizen.h"
#include "state/engine.h"
#include "state/explain.h"
#include "state/rules.h"
#include "util/buf.h"

#define CUM_BEFORE (INT32_MIN + 1)  /* a cumulative count reached before the first registration */
#define MAX_COUNTED_LIST 256        /* counted conversations an output lists */

typedef struct conv {
	int ev;                  /* index in the history */
	cd_date date;
	uint8_t form, held_by;
	bool joint;              /* akasse_participated */
	uint32_t id_off;
} conv;

/* One conversation_id of the history: its last version, and whether a void withdraws it. */
typedef struct cslot {
	uint64_t h;
	uint32_t off;            /* the id, in the citizen's arena */
	int last;                /* history index of its last version that is not a void; -1: none */
	bool voided;
} cslot;

/*
 * The conversations that pass one filter (held_by, forms, joint), in history
 * order, as indices in e->cv: listed the first time an evaluation scans a
 * long range with that filter, and kept for the rest of it. When many
 * periods lie within days of each other, every window spans most of the
 * history; with the list a window costs two binary searches and what it
 * records, not a pass over the window.
 */
#define QLISTS 32                /* filters listed per evaluation; others are scanned */
#define QLIST_MIN 32             /* a shorter range is scanned */

typedef struct qlist {
	uint32_t key;            /* held_by | forms << 8 | joint << 16 */
	uint32_t *ix;
	size_t n, cap;
} qlist;

typedef struct ival {
	cd_date from, to;        /* registered [from, to); to == CD_DATE_NONE: still registered */
	int64_t before;          /* days in the period's earlier intervals (index_intervals) */
} ival;

typedef struct period {
	int start_ev;
	int end_ev;              /* -1 while the period runs */
	cd_date start;           /* A */
	cd_date first_contact;
	cd_date end_date;
	uint8_t end_reason;
	uint8_t benefit, category;
	bool by_registration;
	uint8_t shown_benefit;   /* what it became by a merge (rules.md §3.3), from shown_from on */
	cd_date shown_from;      /* business date of the first input that named it so; NONE: never */
	uint8_t flags;           /* CD_PF_*, from the input that started it */
	cd_date input_date;      /* business date of the input that started it (anchor start_input) */
	size_t ex0, n_ex;        /* its Exemptions: e->ex[ex0 .. ex0 + n_ex), in history order */
	char muni[CD_MUNI_LEN + 1];
	uint64_t pkey;
	/* DAGPENGE: the cumulative clock */
	int prior;
	size_t iv0, n_iv;
	bool iv_ordered;         /* intervals follow each other, only the last runs: searchable */
	cd_date first_reg;
	/* flags (D6) */
	bool optout_start, optout_now, seasonal;
	cd_date optin;           /* first date joint obligations apply; NONE: never */
	cd_date optout;          /* a later opt-out; NONE: none */
	int optout_ev;
} period;

/* An Exemption (or its revocation) of a period, from its business date (rules.md §3.3). */
typedef struct exempt {
	cd_date date;
	uint8_t scope;           /* enum cd_scope */
	bool revoked;
	int ev;                  /* its history entry (explain.c) */
} exempt;

/* Where an obligation's period (or, for joint obligations, its opt-in) ends. */
typedef struct endinfo {
	int ev;                  /* -1: not ended */
	cd_date date;
	uint8_t reason;
} endinfo;

typedef struct inst {
	const cd_obdef *def;     /* what is reported (a mirror reports the overlay's definition) */
	const cd_obdef *rule;    /* what is computed */
	const cd_ruleset *rs;
	const period *p;
	int k;                   /* instance suffix; 0: none */
	uint8_t status;          /* enum cd_obstatus */
	uint8_t reason;
	cd_date ws, we, due;
	int req, held;
	size_t cnt0, n_cnt;      /* the first MAX_COUNTED_LIST counted: e->counted[cnt0 .. cnt0+n_cnt) */
	cd_instant opened_at;    /* CD_INSTANT_NONE: exists as soon as the facts are known */
	cd_instant breach_at, warn_lead_at, warn_pace_at;
	cd_instant decided_at;   /* a share member: its decision instant (§4.1); NONE while unknown */
	int met_conv;            /* conv index that met it (MAX_GAP anchors), -1 */
	char oid[CD_MAX_OBLIGATION_ID_LEN + 1];
	/* What its evaluation saw, kept for explain.c (eng_why_not); nothing else reads them. */
	uint32_t stamp;          /* its allocation context (evctx.stamp) */
	uint8_t widen;           /* forms its context added */
	bool in_addition;        /* its context leaves taken conversations out of counts */
	bool paused;             /* finalize's `paused` */
	endinfo end;             /* finalize's end */
} inst;

struct cd_engine {
	const cd_rules *rules;
	cd_engine_config cfg;
	cd_member_fn member_fn;  /* where member outcomes go; NULL: nowhere */
	void *member_ctx;
	/* scratch, reused */
	period *per;
	size_t n_per, cap_per;
	ival *iv;
	size_t n_iv, cap_iv;
	exempt *ex;
	size_t n_ex, cap_ex;
	conv *cv;
	size_t n_cv, cap_cv;
	inst *in;
	size_t n_in, cap_in;
	size_t n_member_in;      /* instances of share members this evaluation (none: nothing to tell) */
	int *counted;
	size_t n_counted, cap_counted;
	uint32_t *taken_nat, *taken_cur;  /* a conversation is taken when its stamp is the context's */
	size_t cap_taken;
	uint32_t gen;            /* the last stamp handed out */
	cslot *cs;               /* the conversation ids of the history (live_conversations) */
	size_t cap_cs;
	uint32_t *cs_tab;        /* hash table over cs: index + 1, 0 empty */
	size_t cap_cs_tab;
	uint32_t *cs_of;         /* per history entry: its id's index in cs + 1, 0 when not a conversation */
	size_t cap_cs_of;
	bool cv_sorted;          /* e->cv is in date order (always, unless a record was tampered with) */
	qlist ql[QLISTS];        /* conversations by filter, this evaluation (qlist_get) */
	size_t n_ql;
	struct { uint32_t stamp, ix; } *tk;   /* conversations taken in this period, by stamp */
	size_t n_tk, cap_tk;
	uint64_t *st;            /* emitted states by (period, obligation id): see index_states */
	size_t n_st, cap_st;     /* slots in use (a power of two), allocated */
	uint8_t *fx;             /* explain.c: what each history entry did (enum cd_fx), NULL otherwise */
	const char *cnt_ptrs[MAX_COUNTED_LIST];
	char explain[1024];     /* one explanation: description, legal reference, basis, aggregate */
	cd_engine_stats stats;
	uint64_t *fh;            /* compaction: hashes of the conversation ids it would fold, sorted */
	size_t cap_fh;
	/* the evaluation in progress */
	cd_instant t;
	cd_instant next_fire;
	const cd_citizen *c;
};

#define GROW(arr, n, cap, want) cd_array_grow((void **)&(arr), &(cap), (want), sizeof(*(arr)))

/* Scratch growth failed: aborts (see engine.h). */
void eng_oom(void);

/* ---- periods.c ------------------------------------------------------------ */

typedef struct win {
	cd_date ws, we;
	bool paused;             /* a bound is not known while off the register */
	bool skip;               /* the window ended before the first registration seen */
} win;

void eng_derive_periods(cd_engine *e, const cd_citizen *c);
/* The benefit outputs name for period p on date d (rules.md §3.3 merges). */
uint8_t eng_benefit_on(const period *p, cd_date d);
void eng_index_intervals(cd_engine *e);
/* The date on which the count reaches L: CUM_BEFORE, a date, or NONE (not while off the register). */
cd_date eng_cum_date(const cd_engine *e, const period *p, int L);
/* Due date of a duration L measured from anchor date P (D8): NONE while paused. */
cd_date eng_due_from(const cd_engine *e, const period *p, bool cum, cd_date P, int L);
win eng_window_of(const cd_engine *e, const period *p, const cd_obdef *d);

/* ---- conversations.c ------------------------------------------------------ */

typedef struct cvrange {
	size_t lo, hi;
} cvrange;

/*
 * The conversations of a range that pass a filter, in order: from the
 * filter's list when the range is long, else by testing each. The callers
 * keep their own tests of dates and end, which decide when the conversation
 * list is not in date order (then the range is all of it and no list is used).
 */
typedef struct qcur {
	const conv *cv;
	const uint32_t *ix;      /* the filter's list; NULL: test each conversation */
	size_t at, end;          /* positions in ix, or indices in e->cv */
	uint8_t held_by, forms;
	bool joint;
} qcur;

void eng_live_conversations(cd_engine *e, const cd_citizen *c);
cvrange eng_cv_range(const cd_engine *e, cd_date from, cd_date to, const endinfo *end);
bool eng_passes(const conv *cv, uint8_t held_by, uint8_t forms, bool need_joint);
bool eng_qualifies(const conv *cv, const cd_obdef *d, uint8_t widen, bool need_joint);
void eng_qcur_open(cd_engine *e, qcur *q, const cd_obdef *d, uint8_t widen, bool joint, cvrange r);
bool eng_qcur_next(qcur *q, size_t *i);
bool eng_before_end(const conv *cv, const endinfo *end);
/* Why cv fails the filter eng_passes applies (enum cd_why), CD_WHY_COUNTED when it passes. */
uint8_t eng_filter_why(const conv *cv, uint8_t held_by, uint8_t forms, bool need_joint);
/*
 * What became of history entry ev, a conversation (explain.c): CD_WHY_COUNTED
 * with *ci its index in e->cv when it is live, else CD_WHY_VOIDED or
 * CD_WHY_SUPERSEDED (*by: the history index of the version that replaced it).
 */
uint8_t eng_conv_fate(const cd_engine *e, size_t ev, size_t *ci, int *by);

/* ---- obligations.c -------------------------------------------------------- */

typedef struct evctx {
	const period *p;
	const cd_ruleset *rs;    /* the ruleset whose allocation applies */
	uint8_t benefit;         /* the benefit whose obligations apply (the period's, or what it merged into) */
	uint8_t category;        /* the category that decides, after the ruleset's default */
	endinfo cut;             /* a law change ends this ruleset's part of the period (ev -1: none) */
	bool transition;         /* the new law reaching a running period: opens no registration-only
				  * obligation, and none whose window ended before cut.date */
	uint8_t widen;           /* forms added by overlays (national obligations only) */
	uint32_t *taken;         /* joint conversations taken within this ruleset: taken[i] == stamp */
	uint32_t stamp;
	bool in_addition;        /* taken conversations do not count toward counts */
	size_t first_inst;       /* this ruleset's instances start here (AFTER_MET lookups) */
	const struct evctx *national; /* the national ruleset's context, for mirrors (D17) */
} evctx;

/* Why instance `in` did not count conversation ci (an index in e->cv): see eng_why_not. */
typedef struct eng_why {
	uint8_t why;             /* enum cd_why */
	int n;                   /* a slot or ordinal (cd_xconv.n) */
	const inst *by;          /* TAKEN: the joint instance that took it, NULL when not known */
	int by_conv;             /* ALREADY_MET, DECIDED: the conversation (index in e->cv) that decided; -1 */
} eng_why;

/*
 * One row per kind. `eval` computes the instances of `rule` in a period and
 * reports them as `def` (they differ for a mirror, D17); the cadence and
 * ordinal evaluators report the rule itself.
 */
typedef struct ob_kind {
	const char *name;        /* as rulesets spell it */
	bool joint;              /* joint by default, allocated first (docs/spec/rules.md §4) */
	int breach_kind;         /* CD_KIND_* of its BreachEvents */
	bool paces;              /* warns when behind pace (D26) */
	bool repeats;            /* may take repeat_months */
	const char *(*check)(const cd_obdef *d, const char **field);
	void (*eval)(cd_engine *e, const evctx *x, const cd_obdef *def, const cd_obdef *rule);
	eng_why (*why)(const cd_engine *e, const inst *in, size_t ci);
} ob_kind;

/* The row of a kind; row 0 (no kind: a mirror's own definition) for anything else. */
const ob_kind *eng_kind_of(int kind);
/* Evaluates every obligation of every period of c at clock t into e->in. */
void eng_evaluate(cd_engine *e, const cd_citizen *c, cd_instant t);
/*
 * After eng_evaluate: why instance `in` (in e->in) did or did not count live
 * conversation ci, by the tests its kind's evaluator makes (explain.c).
 */
eng_why eng_why_not(const cd_engine *e, const inst *in, size_t ci);
/* The law reaching running period p from national ruleset nat (--law-transition commencement), or NULL. */
const cd_ruleset *eng_law_reaching(const cd_engine *e, const cd_ruleset *nat, const period *p);

#endif
