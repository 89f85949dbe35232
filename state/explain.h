/*
 * explain.h — why a citizen's obligations stand as they do (`contactd explain`).
 *
 * cd_explain evaluates one citizen at one instant exactly as the engine does
 * (eng_evaluate: the same periods, conversations and eval_* functions; an
 * evaluation is a pure function of history and clock) and describes what it
 * found, for people and machines:
 *   - the timeline: every history entry and what it did (started, paused,
 *     resumed or ended a period, a category change, a merge renaming the
 *     benefit, nothing at all);
 *   - the periods: dates, benefit (and the merge that mapped or renamed it),
 *     category, flags, the national ruleset and why it governs, the overlays
 *     enabled for the municipality and whether they apply, a law reaching the
 *     running period, and the definitions that opened nothing, with why;
 *   - every obligation instance: window, due date, held of required, status
 *     and the reason for it, basis, legal reference, what was last reported,
 *     and each conversation in or near its window, counted or not and why;
 *   - the Exemptions, and whether each changed anything.
 * Nothing is emitted and the citizen is not changed; the engine's scratch is
 * reused (so no apply or advance may run on the same engine meanwhile).
 *
 * Ownership: the explanation borrows the citizen and the rules (pointers into
 * both); cd_explanation_release frees what it allocated. It holds no citizen
 * id: the caller prints it if it wants to.
 */
#ifndef CD_STATE_EXPLAIN_H
#define CD_STATE_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/citizen.h"
#include "state/date.h"
#include "state/rules.h"
#include "util/err.h"

struct cd_engine;

/* Why a conversation does or does not count toward one obligation instance. */
typedef enum cd_why {
	CD_WHY_COUNTED = 0,      /* counted */
	CD_WHY_VOIDED,           /* withdrawn by a void with its conversation_id (rules.md §3.4) */
	CD_WHY_SUPERSEDED,       /* a later version with the same conversation_id replaced it */
	CD_WHY_NO_WINDOW,        /* the window has no start yet (off the register, cumulative clock) */
	CD_WHY_BEFORE_WINDOW,    /* dated before the window */
	CD_WHY_AFTER_WINDOW,     /* dated after the window */
	CD_WHY_AFTER_END,        /* after the input that ended the period (or the opt-out, or the law change) */
	CD_WHY_HELD_BY,          /* held by a party the obligation does not take */
	CD_WHY_FORM,             /* a form the obligation does not take */
	CD_WHY_NOT_JOINT,        /* the obligation needs a joint conversation (a-kasse participating) */
	CD_WHY_TAKEN,            /* taken by a joint obligation of the same ruleset (§4 allocation) */
	CD_WHY_ALREADY_MET,      /* an earlier conversation met it; only one counts */
	CD_WHY_FIRST_FORM,       /* the first conversation decides, and is not of the form required (D15) */
	CD_WHY_DECIDED,          /* after the first conversation, which decided it unmet (D15) */
	CD_WHY_OTHER_SLOT,       /* SCHEDULE: the period's n-th qualifying conversation is slot n's */
	CD_WHY_BEYOND_SLOTS,     /* SCHEDULE: after the last slot's conversation */
	CD_WHY_LATE,             /* SCHEDULE: this slot's conversation, held after its due date */
	CD_WHY_WRONG_ORDINAL,    /* JOINT_AT_ORDINAL: at an ordinal the obligation does not allow */
	CD_WHY_AFTER_ORDINALS,   /* JOINT_AT_ORDINAL: after the last ordinal allowed */
	CD_WHY_MAX = CD_WHY_AFTER_ORDINALS
} cd_why;

/* What one history entry did (the timeline). */
typedef enum cd_fx {
	CD_FX_NONE = 0,          /* a conversation, a void: see the obligations */
	CD_FX_STARTED,           /* started a period */
	CD_FX_ENDED,             /* ended a period */
	CD_FX_SHIFTED,           /* ended a period and started the next (a benefit shift) */
	CD_FX_PAUSED,            /* paused a dagpenge period (off the register) */
	CD_FX_RESUMED,           /* resumed a paused dagpenge period */
	CD_FX_ALREADY,           /* a Registration of the running period: nothing new (D1) */
	CD_FX_CATEGORY,          /* a BenefitChange within the period's benefit: a category change */
	CD_FX_RENAMED,           /* named a benefit the period's merged into: renamed, nothing restarted */
	CD_FX_EXEMPTION,         /* an Exemption of the running period (see exemptions) */
	CD_FX_IGNORED,           /* nothing was running for it to act on */
	CD_FX_MAX = CD_FX_IGNORED
} cd_fx;

/* Stable names, as --json writes them: "COUNTED", "FORM", …; "STARTED", … */
const char *cd_why_name(int why);
const char *cd_fx_name(int fx);
/* "OPEN", "PAUSED", "MET", "BREACHED", "CANCELLED", "LAPSED" (enum cd_obstatus). */
const char *cd_obstatus_name(int status);

#define CD_EXPLAIN_NEAR_DAYS 31  /* conversations this close to a window are listed with it */
#define CD_EXPLAIN_MAX_CONV 64   /* conversations listed per obligation instance; more are counted */
#define CD_EXPLAIN_TEXT 320      /* one sentence */

/* One history entry. */
typedef struct cd_xev {
	size_t ev;               /* index in the citizen's history */
	uint8_t fx;              /* enum cd_fx */
	long period;             /* the period it concerns, -1: none */
	long period2;            /* CD_FX_SHIFTED: the period it started */
	char what[CD_EXPLAIN_TEXT];
} cd_xev;

/* A conversation as one obligation instance saw it. */
typedef struct cd_xconv {
	size_t ev;               /* its history entry */
	uint8_t why;             /* enum cd_why */
	int n;                   /* OTHER_SLOT, BEYOND_SLOTS, WRONG_ORDINAL: its place; AFTER_ORDINALS: the last allowed */
	long by_ob;              /* TAKEN: the obligation (index in ob) that took it, -1: not listed */
	long by_ev;              /* SUPERSEDED: the version that replaced it; ALREADY_MET, DECIDED: the deciding
				  * conversation (history indices); -1: none */
	char note[CD_EXPLAIN_TEXT];
} cd_xconv;

/* One obligation instance. */
typedef struct cd_xob {
	char oid[CD_MAX_OBLIGATION_ID_LEN + 1];  /* "dk-2015/schedule-3" */
	const cd_obdef *def;     /* what outputs report (an overlay's definition for a mirror) */
	const cd_obdef *rule;    /* what is computed */
	const cd_ruleset *rs;
	size_t period;
	int k;                   /* instance suffix; 0: none */
	uint8_t status;          /* enum cd_obstatus */
	uint8_t reason;          /* cancel reason when CANCELLED */
	bool cumulative;         /* measured on the cumulative clock */
	bool paused;
	cd_date ws, we, due;
	int required, held;
	cd_instant breach_at;    /* the instant it breaches (or lapses): CD_INSTANT_NONE when none */
	cd_instant decided_at;   /* a share member's decision instant, or NONE */
	const cd_obst *said;     /* what was last reported (borrowed from the citizen), NULL: never */
	char why[CD_EXPLAIN_TEXT];
	size_t cv0, n_cv;        /* its conversations: conv[cv0 .. cv0 + n_cv) */
	size_t n_cv_more;        /* in range but not listed (CD_EXPLAIN_MAX_CONV) */
} cd_xob;

/* A definition of a ruleset that applies to the period's benefit and opened nothing. */
typedef struct cd_xnot {
	const cd_obdef *def;
	const cd_ruleset *rs;
	char why[CD_EXPLAIN_TEXT];
} cd_xnot;

/* An overlay enabled for the period's municipality. */
typedef struct cd_xovl {
	const cd_ruleset *rs;
	bool applies;
	char why[CD_EXPLAIN_TEXT];
} cd_xovl;

typedef struct cd_xperiod {
	size_t start_ev;
	long end_ev;             /* -1 while it runs */
	cd_date start, end;      /* end: NONE while it runs */
	uint8_t end_reason;      /* cancel reason of its end */
	uint8_t named;           /* the benefit the input that started it named */
	uint8_t benefit;         /* what it is processed as (rules.md §3.3 merges) */
	uint8_t shown;           /* what outputs name at the explanation's instant */
	cd_date shown_from;      /* from when a later input named it by what it merged into; NONE */
	const cd_merge *merge;   /* the merge that mapped `named` or renamed it, or NULL */
	uint8_t category;        /* as at its start; 0: none */
	uint8_t category_used;   /* the category that decides (a ruleset's default when none) */
	uint8_t flags;           /* CD_PF_* */
	bool by_registration;
	bool seasonal, optout_start, optout_now;
	cd_date optin, optout, first_contact;
	char muni[CD_MUNI_LEN + 1];
	int prior_days;          /* DAGPENGE */
	size_t iv0, n_iv;        /* registered intervals: iv[iv0 .. iv0 + n_iv), as [from, to) */
	const cd_ruleset *national;       /* NULL: none covers its start */
	const cd_ruleset *law;   /* a later law reaching it while it runs (--law-transition commencement) */
	bool law_cut;            /* that law has begun by the explanation's instant */
	char rules_why[CD_EXPLAIN_TEXT * 2];  /* why these rules, in words */
	char benefit_why[CD_EXPLAIN_TEXT];    /* a merge, a default category, benefits with no obligations; "" */
	size_t ov0, n_ov;        /* overlays enabled for its municipality: ovl[ov0 .. ov0 + n_ov) */
	size_t ob0, n_ob;        /* its obligation instances: ob[ob0 .. ob0 + n_ob) */
	size_t no0, n_no;        /* definitions that opened nothing: nop[no0 .. no0 + n_no) */
} cd_xperiod;

typedef struct cd_xiv {
	cd_date from, to;        /* to: NONE while registered */
} cd_xiv;

/* An Exemption and what it changed. */
typedef struct cd_xex {
	size_t ev;
	long period;             /* the period running on its date, -1: none */
	uint8_t scope;           /* enum cd_scope */
	bool revoked;
	bool effect;             /* it decided at least one member (exempted it, or opened it again) */
	size_t n_members;        /* the members it decided */
	char why[CD_EXPLAIN_TEXT];
} cd_xex;

typedef struct cd_explanation {
	const cd_citizen *c;
	const cd_rules *rules;
	int grace_days, warn_lead_days, law_transition;
	cd_instant at;           /* the instant evaluated */
	cd_instant next_fire;    /* the next instant something changes by itself, or NONE */
	cd_xev *tl;
	size_t n_tl, cap_tl;
	cd_xperiod *per;
	size_t n_per, cap_per;
	cd_xiv *iv;
	size_t n_iv, cap_iv;
	cd_xovl *ovl;
	size_t n_ovl, cap_ovl;
	cd_xob *ob;
	size_t n_ob, cap_ob;
	cd_xnot *nop;
	size_t n_nop, cap_nop;
	cd_xconv *conv;
	size_t n_conv, cap_conv;
	cd_xex *ex;
	size_t n_ex, cap_ex;
	size_t *gone;            /* reported obligations that no longer exist (superseded, D7): indices in c->ob */
	size_t n_gone, cap_gone;
} cd_explanation;

void cd_explanation_init(cd_explanation *x);
void cd_explanation_release(cd_explanation *x);

/*
 * Explains citizen c at instant `at` (its clock, or later: nothing it had not
 * fired is due before `at` when the caller passes the all-citizen clock).
 * Fills x (emptied first). 0, or -1 with err when out of memory.
 */
int cd_explain(struct cd_engine *e, const cd_citizen *c, cd_instant at, cd_explanation *x, cd_err *err);

#endif
