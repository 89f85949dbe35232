/*
 * report_tally.c — outputs in, compliance figures out (report_tally.h).
 *
 * Instances live in one open-addressing table (linear probing) of 32-byte
 * slots keyed by 96 bits of an XXH3-128 hash of (citizen id, NUL, period
 * start, obligation id): no string of an instance is kept, so a slot costs
 * the same for any id length. The table doubles when it would be more than
 * 80 % full: 40 to 80 bytes per instance (and 120 while it doubles). Two
 * names colliding in 96 bits is a chance of about n² / 2^97 (10^-15 for ten
 * million instances). Names that
 * many instances share (municipalities, rules) are interned once and referred
 * to by a 16-bit index. Rows, rules and cohorts are few: uthash.
 *
 * Two statuses per instance, one per stream: the deadline stream's latest and
 * the breach stream's latest. Within one stream a citizen's outputs keep their
 * order (a replay file, and one Kafka partition per citizen per topic), but the
 * live topics interleave the two streams arbitrarily; the final outcome is a
 * function of the two latest statuses only, so it does not depend on that
 * interleaving (decisions.md D61).
 *
 * Settling (D69): the stream clock is the latest as_of / detected_at seen;
 * the cutoff, settle_days before its day, only moves forward. An instance
 * whose counted due date is before the cutoff is settled: counted into the
 * rows as the end would count it, and taken out of the table. That happens
 * in sweeps, when the table would grow (it is rebuilt without the settled
 * ones, and doubles only if it would still be more than 60 % full, so sweeps
 * cost O(1) per insert over time), and whenever an output finds its instance
 * past the cutoff still in the table: so where a sweep happens to fall
 * changes no figure. An output for an instance not in the table whose due
 * date is before the cutoff is a late change: counted as such in its month's
 * row, never as an obligation (the instance was settled, or first seen after
 * its horizon; which, the tally cannot know without memory per instance).
 */
#include "cmd/report_tally.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

#include "state/date.h"

/* uthash: an allocation failure leaves the table as it was and sets `oom`. */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (t->oom = 1)
#include <uthash.h>

enum { OUT_MET, OUT_BREACHED, OUT_LAPSED, OUT_EXEMPTED, OUT_CANCELLED, OUT_OPEN };

#define EX_PER_RULE 3           /* breach examples followed per rule */
#define EX_MAX 512              /* … and in all */
#define EXPLANATION_MAX 1000
#define NAMES_MAX (CD_REPORT_MAX_MUNIS + CD_REPORT_MAX_RULES + 2)   /* interned names, "(other)"s included */

/* An instance's name: 96 bits of its XXH3-128 hash ({0, 0}: an empty slot). */
typedef struct ikey {
	uint64_t lo;
	uint32_t hi;
} ikey;

typedef struct inst {
	uint64_t h;              /* key.lo */
	uint32_t h2;             /* key.hi */
	cd_date due_dl, due_br;  /* the due date the latest deadline event / the latest BREACHED carried;
				    due_dl with ST_UNDATED: the day the instance last said it had none */
	uint16_t rule, muni;     /* interned names */
	uint16_t held_dl, held_br;
	uint8_t benefit;         /* the latest deadline event's (a RETRACTED names the breach's) */
	uint8_t st;              /* ST_DL: the latest deadline status, ST_BR: the latest breach status (0: none yet) */
	uint8_t reason;          /* the latest CANCELLED's reason */
} inst;
_Static_assert(sizeof(inst) == 32, "an instance costs 32 bytes");

/* inst.st: three fields in a byte */
#define ST_DL(s) ((s)->st & 7)
#define ST_BR(s) (((s)->st >> 3) & 3)
#define ST_RETRACTED 0x20       /* a breach of it was retracted */
#define ST_UNDATED 0x40         /* no due date (paused, cancelled while paused): due_dl is the day of that word */
static void set_dl(inst *s, int v) { s->st = (uint8_t)((s->st & ~7) | (v & 7)); }
static void set_br(inst *s, int v) { s->st = (uint8_t)((s->st & ~0x18) | (v & 3) << 3); }
_Static_assert(CD_DL_LAPSED < 8 && CD_BR_RETRACTED < 4, "statuses fit inst.st");

typedef struct name {
	UT_hash_handle hh;
	uint32_t idx;
	char s[];
} name;

typedef struct row_e {
	UT_hash_handle hh;
	uint64_t key;            /* muni << 40 | benefit << 32 | month number */
	cd_report_counts n;
} row_e;

#define COHORT_KEY_LEN (CD_MAX_OBLIGATION_ID_LEN + CD_MAX_AKASSE_LEN + 24)

typedef struct cohort_e {
	UT_hash_handle hh;
	char k[COHORT_KEY_LEN];
	cd_report_cohort c;
} cohort_e;

typedef struct example {
	ikey k;
	uint16_t rule, muni;
	uint8_t benefit;
	cd_date due;
	bool settled;            /* its instance was settled standing breached, and kept by the filters */
	char obligation_id[CD_MAX_OBLIGATION_ID_LEN + 1];
	char *explanation;
} example;

struct cd_tally {
	cd_report_filter f;
	size_t max_instances;
	inst *tab;
	size_t cap, n;           /* cap a power of two, or 0 */
	name *munis_h, *rules_h; /* uthash heads */
	char **names;            /* every interned name, by idx */
	size_t n_names, cap_names;
	uint16_t n_munis, n_rules;
	uint16_t other_muni, other_rule;   /* "(other)", interned when first needed; 0xffff: not yet */
	cohort_e *cohorts;
	size_t n_cohorts;
	uint64_t cohorts_dropped, outputs;
	example ex[EX_MAX];
	size_t n_ex;
	uint8_t *ex_per_rule;    /* by name idx (a rule's): examples followed */
	/* the counts so far: settled instances, late changes; the end adds the table's */
	row_e *rows;
	cd_report_counts *per_rule;   /* by name idx (a rule's), NAMES_MAX */
	cd_report_counts total;
	uint64_t undated, settled, late;
	size_t peak;             /* the most instances the table held at once */
	/* the settle horizon (D69) */
	int settle_days;         /* 0: never settle */
	cd_instant clock;        /* the latest as_of / detected_at seen */
	cd_instant next_day;     /* the clock's next local midnight: the cutoff moves then */
	cd_date cutoff;          /* instances due before it are settled; CD_DATE_NONE: none yet */
	ikey last_late;          /* the instance of the output just taken, if it was a late one ({0, 0}: not) */
	int oom;
};

static void table_free(inst *tab, size_t cap);

void cd_report_filter_init(cd_report_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->from = f->to = CD_DATE_NONE;
}

uint64_t cd_report_decided(const cd_report_counts *c)
{
	return c->met + c->breached + c->lapsed;
}

double cd_report_share(const cd_report_counts *c)
{
	uint64_t d = cd_report_decided(c);
	return d ? (double)c->met / (double)d : -1.0;
}

cd_tally *cd_tally_new(const cd_report_filter *f, size_t max_instances, int settle_days)
{
	cd_tally *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->f = *f;
	t->max_instances = max_instances;
	t->other_muni = t->other_rule = 0xffff;
	t->settle_days = settle_days;
	t->clock = t->next_day = CD_INSTANT_NONE;
	t->cutoff = CD_DATE_NONE;
	if (!(t->ex_per_rule = calloc(NAMES_MAX, 1)) || !(t->per_rule = calloc(NAMES_MAX, sizeof(*t->per_rule)))) {
		free(t->ex_per_rule);
		free(t);
		return NULL;
	}
	return t;
}

void cd_tally_free(cd_tally *t)
{
	name *nm, *tmp;
	cohort_e *c, *ct;
	row_e *re, *rt;
	if (!t)
		return;
	HASH_ITER(hh, t->rows, re, rt) {
		HASH_DEL(t->rows, re);
		free(re);
	}
	free(t->per_rule);
	HASH_ITER(hh, t->munis_h, nm, tmp) {
		HASH_DEL(t->munis_h, nm);
		free(nm);
	}
	HASH_ITER(hh, t->rules_h, nm, tmp) {
		HASH_DEL(t->rules_h, nm);
		free(nm);
	}
	HASH_ITER(hh, t->cohorts, c, ct) {
		HASH_DEL(t->cohorts, c);
		free(c);
	}
	for (size_t i = 0; i < t->n_names; i++)
		free(t->names[i]);
	free(t->names);
	for (size_t i = 0; i < t->n_ex; i++)
		free(t->ex[i].explanation);
	free(t->ex_per_rule);
	table_free(t->tab, t->cap);
	free(t);
}

size_t cd_tally_instances(const cd_tally *t)
{
	return t->n;
}

size_t cd_tally_peak_instances(const cd_tally *t)
{
	return t->peak;
}

size_t cd_tally_bytes(const cd_tally *t)
{
	return t->cap * sizeof(inst);
}

/* ---- names ------------------------------------------------------------------------ */

/* The index of s among the names of *head, added if new; `other` past `max` distinct. -1: out of memory. */
static int intern(cd_tally *t, name **head, uint16_t *count, uint16_t *other, size_t max, const char *s)
{
	name *nm;
	size_t len = strlen(s);

	HASH_FIND(hh, *head, s, len, nm);
	if (nm)
		return (int)nm->idx;
	if (*count >= max) {
		if (*other == 0xffff) {
			int o = intern(t, head, count, other, max + 1, "(other)");
			if (o < 0)
				return -1;
			*other = (uint16_t)o;
		}
		return *other;
	}
	if (t->n_names == t->cap_names) {
		size_t cap = t->cap_names ? 2 * t->cap_names : 64;
		char **p = realloc(t->names, cap * sizeof(*p));
		if (!p)
			return -1;
		t->names = p;
		t->cap_names = cap;
	}
	if (!(nm = malloc(sizeof(*nm) + len + 1)))
		return -1;
	if (!(t->names[t->n_names] = strdup(s))) {
		free(nm);
		return -1;
	}
	memcpy(nm->s, s, len + 1);
	nm->idx = (uint32_t)t->n_names;
	HASH_ADD(hh, *head, s[0], len, nm);
	if (t->oom) {
		free(nm);
		free(t->names[t->n_names]);
		return -1;
	}
	t->n_names++;
	(*count)++;
	return (int)nm->idx;
}

/* ---- outcomes ------------------------------------------------------------------------ */

static int outcome(const inst *s)
{
	if (ST_BR(s) == CD_BR_BREACHED)
		return OUT_BREACHED;
	switch (ST_DL(s)) {
	case CD_DL_MET:
		return OUT_MET;
	case CD_DL_LAPSED:
		return OUT_LAPSED;
	case CD_DL_CANCELLED:
		return s->reason == CD_CANCEL_EXEMPTED ? OUT_EXEMPTED : OUT_CANCELLED;
	default:
		return OUT_OPEN;
	}
}

/*
 * The due date an instance is counted by: the one its latest word carried (the
 * breach's when it stands breached). None for an instance PAUSED at the end, or
 * cancelled while paused: its window closed in no month (D63).
 */
static cd_date due_of(const inst *s, int out)
{
	if (out == OUT_BREACHED)
		return s->due_br;
	return s->st & ST_UNDATED ? CD_DATE_NONE : s->due_dl;
}

static void count(cd_report_counts *c, int out, int held, bool retracted)
{
	c->due++;
	switch (out) {
	case OUT_MET: c->met++; break;
	case OUT_BREACHED: c->breached++; break;
	case OUT_LAPSED: c->lapsed++; break;
	case OUT_EXEMPTED: c->exempted++; break;
	case OUT_CANCELLED: c->cancelled++; break;
	default: c->open++; break;
	}
	if (out == OUT_MET || out == OUT_BREACHED || out == OUT_LAPSED)
		c->held += (uint64_t)held;
	if (retracted)
		c->retracted++;
}

static bool kept(const cd_report_filter *f, int benefit, cd_date due)
{
	if (f->benefits && (benefit < 0 || benefit >= 32 || !(f->benefits & (1u << benefit))))
		return false;
	if (f->from != CD_DATE_NONE && due < f->from)
		return false;
	if (f->to != CD_DATE_NONE && due > f->to)
		return false;
	return true;
}

/* The counts of row (muni, benefit, month of due), made when new. NULL: out of memory. */
static cd_report_counts *row_counts(cd_tally *t, uint16_t muni, int benefit, cd_date due)
{
	int y, m, d;
	uint64_t key;
	row_e *re;

	cd_date_to_ymd(due, &y, &m, &d);
	key = (uint64_t)muni << 40 | (uint64_t)(uint8_t)benefit << 32 | (uint32_t)(y * 12 + m - 1);
	HASH_FIND(hh, t->rows, &key, sizeof(key), re);
	if (re)
		return &re->n;
	if (!(re = calloc(1, sizeof(*re))))
		return NULL;
	re->key = key;
	HASH_ADD(hh, t->rows, key, sizeof(re->key), re);
	if (t->oom) {
		free(re);
		return NULL;
	}
	return &re->n;
}

/* Counts one instance by its outcome now: the end's counting, and a settlement's. 0 / -1 (out of memory). */
static int tally_inst(cd_tally *t, const inst *s)
{
	int out = outcome(s), held = out == OUT_BREACHED ? s->held_br : s->held_dl;
	cd_date due = due_of(s, out);
	bool retracted = s->st & ST_RETRACTED;
	cd_report_counts *c;

	if (due == CD_DATE_NONE) {
		t->undated++;
		return 0;
	}
	if (!kept(&t->f, s->benefit, due))
		return 0;
	if (!(c = row_counts(t, s->muni, s->benefit, due)))
		return -1;
	count(c, out, held, retracted);
	count(&t->per_rule[s->rule], out, held, retracted);
	count(&t->total, out, held, retracted);
	return 0;
}

/*
 * Past the horizon (D69): due (as it would be counted) before the cutoff; or,
 * without a due date, undated since before it (paused, or cancelled while
 * paused, for longer than the horizon: such instances would otherwise pile up).
 */
static bool settleable(const cd_tally *t, const inst *s)
{
	cd_date due;
	if (t->cutoff == CD_DATE_NONE)
		return false;
	due = due_of(s, outcome(s));
	if (due == CD_DATE_NONE && (s->st & ST_UNDATED))
		due = s->due_dl;
	return due != CD_DATE_NONE && due < t->cutoff;
}

/* The stream clock moves to `at` if later; the cutoff with its day. */
static void advance(cd_tally *t, cd_instant at)
{
	cd_date day;
	if (!t->settle_days || at == CD_INSTANT_NONE || at <= t->clock)
		return;
	t->clock = at;
	if (t->next_day != CD_INSTANT_NONE && at < t->next_day)
		return;
	day = cd_cph_date(at);
	t->next_day = cd_cph_midnight(day + 1);
	t->cutoff = day - t->settle_days;
}

/* ---- the instance table ------------------------------------------------------------- */

static int settle(cd_tally *t, const inst *s);

static ikey name_hash(const cd_output *o)
{
	char buf[CD_MAX_ID_LEN + CD_MAX_OBLIGATION_ID_LEN + 8];
	size_t cl = strlen(o->citizen_id), ol = strlen(o->obligation_id), n = 0;
	XXH128_hash_t x;
	int32_t ps = o->period_start;

	if (cl + ol + 5 <= sizeof(buf)) {
		memcpy(buf, o->citizen_id, cl + 1);
		n = cl + 1;
		memcpy(buf + n, &ps, 4);
		n += 4;
		memcpy(buf + n, o->obligation_id, ol);
		n += ol;
		x = XXH3_128bits(buf, n);
	} else {                     /* longer than the engine makes them: hashed in pieces, the same name either way */
		XXH3_state_t *st = XXH3_createState();
		if (!st)
			abort();             /* a few hundred bytes: nothing sane is left to do */
		XXH3_128bits_reset(st);
		XXH3_128bits_update(st, o->citizen_id, cl + 1);
		XXH3_128bits_update(st, &ps, 4);
		XXH3_128bits_update(st, o->obligation_id, ol);
		x = XXH3_128bits_digest(st);
		XXH3_freeState(st);
	}
	if (!x.low64 && !(uint32_t)x.high64)
		x.low64 = 1;         /* {0, 0} marks an empty slot */
	return (ikey){ x.low64, (uint32_t)x.high64 };
}

static bool empty(const inst *s)
{
	return !s->h && !s->h2;
}

static inst *slot_of(inst *tab, size_t cap, ikey k)
{
	size_t mask = cap - 1;
	for (size_t i = (size_t)k.lo & mask;; i = (i + 1) & mask)
		if ((tab[i].h == k.lo && tab[i].h2 == k.hi) || empty(&tab[i]))
			return &tab[i];
}

/*
 * The table's memory: zeroed pages straight from the kernel, asked for as huge
 * pages where the kernel gives them on request (transparent huge pages,
 * "madvise"). Every output is a lookup at a random place in a table of up to
 * hundreds of megabytes; with 4 KiB pages most of them also miss the TLB,
 * which was half of the lookup's time.
 */
static inst *table_new(size_t cap)
{
	void *p = mmap(NULL, cap * sizeof(inst), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	(void)madvise(p, cap * sizeof(inst), MADV_HUGEPAGE);   /* advice: without it, ordinary pages */
#endif
	return p;
}

static void table_free(inst *tab, size_t cap)
{
	if (tab)
		munmap(tab, cap * sizeof(inst));
}

/* The table anew with `cap` slots, less the instances past the horizon, which are settled. 0 / -1. */
static int rebuild(cd_tally *t, size_t cap)
{
	inst *tab = table_new(cap);
	size_t n = 0;
	if (!tab)
		return -1;
	for (size_t i = 0; i < t->cap; i++) {
		const inst *s = &t->tab[i];
		if (empty(s))
			continue;
		if (settleable(t, s)) {
			if (settle(t, s) < 0) {
				table_free(tab, cap);
				return -1;       /* the report fails: what was settled is no matter */
			}
			continue;
		}
		*slot_of(tab, cap, (ikey){ s->h, s->h2 }) = *s;
		n++;
	}
	table_free(t->tab, t->cap);
	t->tab = tab;
	t->cap = cap;
	t->n = n;
	return 0;
}

/*
 * Room for one more: a sweep, where a horizon is set and the table is not
 * new; it doubles only when the instances left would fill it past 60 %, so
 * that at least a fifth of it fills before the next sweep (a sweep is O(cap)).
 */
static int make_room(cd_tally *t)
{
	size_t left = 0;
	if (!t->cap)
		return rebuild(t, 1024);
	if (t->settle_days && t->cutoff != CD_DATE_NONE) {
		for (size_t i = 0; i < t->cap; i++)
			if (!empty(&t->tab[i]) && !settleable(t, &t->tab[i]))
				left++;
		return rebuild(t, (left + 1) * 5 > t->cap * 3 ? 2 * t->cap : t->cap);
	}
	return rebuild(t, 2 * t->cap);
}

/* Takes the instance at s out of the table (linear probing: the run after it moves back). */
static void remove_slot(cd_tally *t, inst *s)
{
	size_t mask = t->cap - 1, i = (size_t)(s - t->tab), j = i;
	for (;;) {
		size_t home;
		j = (j + 1) & mask;
		if (empty(&t->tab[j]))
			break;
		home = (size_t)t->tab[j].h & mask;
		/* tab[j] may fill the hole at i unless its home lies cyclically in (i, j] */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			t->tab[i] = t->tab[j];
			i = j;
		}
	}
	memset(&t->tab[i], 0, sizeof(t->tab[i]));
	t->n--;
}

/* The instance named h, or NULL. */
static inst *find(const cd_tally *t, ikey k)
{
	inst *s;
	if (!t->cap)
		return NULL;
	s = slot_of(t->tab, t->cap, k);
	return empty(s) ? NULL : s;
}

/* ---- outputs ------------------------------------------------------------------------- */

static bool muni_selected(const cd_report_filter *f, const char *muni)
{
	if (!f->n_munis)
		return true;
	for (size_t i = 0; i < f->n_munis; i++)
		if (!strcmp(f->munis[i], muni))
			return true;
	return false;
}

static bool ruleset_selected(const cd_report_filter *f, const char *id)
{
	return !f->ruleset || !strncmp(id, f->ruleset, strlen(f->ruleset));
}

/* The rule an instance belongs to: its definition id, or its id less an instance suffix ("-3"). */
static void rule_of(const cd_output *o, char *buf, size_t len)
{
	size_t n;
	if (o->definition_id && *o->definition_id) {
		snprintf(buf, len, "%s", o->definition_id);
		return;
	}
	snprintf(buf, len, "%s", o->obligation_id);
	n = strlen(buf);
	while (n && buf[n - 1] >= '0' && buf[n - 1] <= '9')
		n--;
	if (n && n < strlen(buf) && buf[n - 1] == '-')
		buf[n - 1] = '\0';
}

static uint16_t clamp16(int v)
{
	return v < 0 ? 0 : v > 0xffff ? 0xffff : (uint16_t)v;
}

/* Follows a BREACHED as an example of its rule (at most EX_PER_RULE per rule, EX_MAX in all). */
static void follow_example(cd_tally *t, const inst *s, const cd_output *o)
{
	example *e;
	if (t->ex_per_rule[s->rule] >= EX_PER_RULE || t->n_ex == EX_MAX)
		return;
	for (size_t i = 0; i < t->n_ex; i++)
		if (t->ex[i].k.lo == s->h && t->ex[i].k.hi == s->h2)
			return;                  /* the same breach said again (a relay's resend) */
	e = &t->ex[t->n_ex];
	if (!(e->explanation = strndup(o->explanation ? o->explanation : "", EXPLANATION_MAX)))
		return;                      /* an example less: nothing is counted wrong */
	e->k = (ikey){ s->h, s->h2 };
	e->rule = s->rule;
	e->muni = s->muni;
	e->benefit = (uint8_t)o->benefit;
	e->due = o->due;
	e->settled = false;
	snprintf(e->obligation_id, sizeof(e->obligation_id), "%s", o->obligation_id);
	t->ex_per_rule[s->rule]++;
	t->n_ex++;
}

/* A RETRACTED: the breach is no example any more, which makes room for another of its rule. */
static void drop_example(cd_tally *t, ikey k)
{
	for (size_t i = 0; i < t->n_ex; i++)
		if (t->ex[i].k.lo == k.lo && t->ex[i].k.hi == k.hi) {
			free(t->ex[i].explanation);
			t->ex_per_rule[t->ex[i].rule]--;
			memmove(&t->ex[i], &t->ex[i + 1], (t->n_ex - i - 1) * sizeof(t->ex[0]));
			t->n_ex--;
			return;
		}
}

/*
 * Settles s: counted by its outcome now, as the end would count it. A standing
 * breach keeps its example, marked settled (the instance will not be found
 * again). The caller takes s out of the table. 0 / -1 (out of memory).
 */
static int settle(cd_tally *t, const inst *s)
{
	int out = outcome(s);
	if (tally_inst(t, s) < 0)
		return -1;
	t->settled++;
	if (out == OUT_BREACHED)
		for (size_t i = 0; i < t->n_ex; i++)
			if (t->ex[i].k.lo == s->h && t->ex[i].k.hi == s->h2)
				t->ex[i].settled = kept(&t->f, s->benefit, due_of(s, out));
	return 0;
}

/* The interned municipality and rule of an output. -1: out of memory. */
static int names_of(cd_tally *t, const cd_output *o, int *mi, int *ri)
{
	char rule[CD_MAX_OBLIGATION_ID_LEN + 1];
	rule_of(o, rule, sizeof(rule));
	*mi = intern(t, &t->munis_h, &t->n_munis, &t->other_muni, CD_REPORT_MAX_MUNIS, o->muni ? o->muni : "");
	*ri = intern(t, &t->rules_h, &t->n_rules, &t->other_rule, CD_REPORT_MAX_RULES, rule);
	return *mi < 0 || *ri < 0 ? -1 : 0;
}

/*
 * An output for an instance settled (or first seen past its horizon): counted
 * as a late change in the row of its own municipality and benefit and of `due`
 * (the output's, or the one its instance was settled by when it has none),
 * never as an obligation; a late RETRACTED also ends its breach's example.
 * Without any due date (settled undated, and undated still) it is in no row:
 * the rule's and the total's only.
 */
static int late_change(cd_tally *t, const cd_output *o, ikey k, ikey prev, cd_date due, cd_err *err)
{
	cd_report_counts *c;
	int mi, ri;
	bool again = prev.lo == k.lo && prev.hi == k.hi;

	if (o->is_breach && o->status == CD_BR_RETRACTED)
		drop_example(t, k);
	t->last_late = k;
	if (again)
		return 0;            /* one late input's outputs for one instance (a RETRACTED and its MET) are one change */
	t->late++;
	if (!kept(&t->f, o->benefit, due))
		return 0;
	if (names_of(t, o, &mi, &ri) < 0)
		return cd_err_set(err, 0, "out of memory");
	if (due != CD_DATE_NONE) {
		if (!(c = row_counts(t, (uint16_t)mi, o->benefit, due)))
			return cd_err_set(err, 0, "out of memory");
		c->late_changes++;
	}
	t->per_rule[ri].late_changes++;
	t->total.late_changes++;
	return 0;
}

int cd_tally_output(cd_tally *t, const cd_output *o, cd_err *err)
{
	ikey k, prev;
	inst *s;
	bool settled = false;
	cd_date settled_due = CD_DATE_NONE;

	t->outputs++;
	advance(t, o->as_of);        /* the stream's clock, whatever the filters keep */
	prev = t->last_late;
	t->last_late = (ikey){ 0, 0 };
	if (!ruleset_selected(&t->f, o->obligation_id) || !muni_selected(&t->f, o->muni ? o->muni : ""))
		return 0;
	k = name_hash(o);
	s = find(t, k);
	if (s && settleable(t, s)) {
		/* settled now, as a sweep would have: where sweeps fall changes no figure */
		if (settle(t, s) < 0)
			return cd_err_set(err, 0, "out of memory");
		settled_due = due_of(s, outcome(s));
		remove_slot(t, s);
		s = NULL;
		settled = true;      /* late, whatever due date this output brings */
	}
	/* not in the table and due past the horizon, or undated (new instances open with a due date) */
	if (settled || (!s && t->cutoff != CD_DATE_NONE && (o->due == CD_DATE_NONE || o->due < t->cutoff)))
		return late_change(t, o, k, prev, o->due != CD_DATE_NONE ? o->due : settled_due, err);
	if (!s) {
		int mi, ri;
		if (t->n >= t->max_instances && t->settle_days && rebuild(t, t->cap) < 0)   /* a sweep may make room */
			return cd_err_set(err, 0, "out of memory");
		if (t->n >= t->max_instances)
			return cd_err_set(err, 0, "more than %zu obligation instances (--max-instances)", t->max_instances);
		if ((t->n + 1) * 5 > t->cap * 4 && make_room(t) < 0)     /* at most 80 % full */
			return cd_err_set(err, 0, "out of memory for %zu obligation instances", t->n + 1);
		if (names_of(t, o, &mi, &ri) < 0)
			return cd_err_set(err, 0, "out of memory");
		s = slot_of(t->tab, t->cap, k);
		memset(s, 0, sizeof(*s));
		s->h = k.lo;
		s->h2 = k.hi;
		s->due_dl = s->due_br = CD_DATE_NONE;
		s->muni = (uint16_t)mi;
		s->rule = (uint16_t)ri;
		s->benefit = (uint8_t)o->benefit;
		if (++t->n > t->peak)
			t->peak = t->n;
	}
	if (o->is_breach) {
		set_br(s, o->status);
		if (o->status == CD_BR_BREACHED) {
			s->due_br = o->due;
			s->held_br = clamp16(o->held);
			follow_example(t, s, o);
		} else if (o->status == CD_BR_RETRACTED) {
			s->st |= ST_RETRACTED;
			drop_example(t, (ikey){ s->h, s->h2 });
		}
		if (!ST_DL(s))
			s->benefit = (uint8_t)o->benefit;
		return 0;
	}
	set_dl(s, o->status);
	s->benefit = (uint8_t)o->benefit;
	s->due_dl = o->due;          /* none while PAUSED: a paused window has not closed in any month */
	s->st &= (uint8_t)~ST_UNDATED;
	if (o->due == CD_DATE_NONE && t->settle_days && o->as_of != CD_INSTANT_NONE) {
		s->due_dl = cd_cph_date(o->as_of);   /* since when: so that it settles too */
		s->st |= ST_UNDATED;
	}
	s->held_dl = clamp16(o->held);
	if (o->status == CD_DL_CANCELLED)
		s->reason = (uint8_t)o->cancel_reason;
	return 0;
}

/* ---- aggregates ------------------------------------------------------------------------ */

int cd_tally_aggregate(cd_tally *t, const cd_agg_output *a, cd_err *err)
{
	char k[COHORT_KEY_LEN];
	cohort_e *c;
	cd_report_cohort *r;
	int n;

	t->outputs++;
	if (!ruleset_selected(&t->f, a->aggregate_id))
		return 0;
	if (t->f.n_munis && (a->key_kind != CD_AGG_KEY_MUNICIPALITY || !muni_selected(&t->f, a->key)))
		return 0;
	n = snprintf(k, sizeof(k), "%s%c%d%c%s%c%d", a->aggregate_id, 0, a->key_kind, 0, a->key, 0,
		     (int)a->period_start);
	if (n < 0 || (size_t)n >= sizeof(k))
		return 0;                    /* longer than any the engine makes: not a cohort of ours */
	memset(k + n, 0, sizeof(k) - (size_t)n);
	HASH_FIND(hh, t->cohorts, k, sizeof(k), c);
	if (!c) {
		if (t->n_cohorts >= CD_REPORT_MAX_COHORTS) {
			t->cohorts_dropped++;
			return 0;
		}
		if (!(c = calloc(1, sizeof(*c))))
			return cd_err_set(err, 0, "out of memory");
		memcpy(c->k, k, sizeof(k));
		snprintf(c->c.aggregate_id, sizeof(c->c.aggregate_id), "%s", a->aggregate_id);
		snprintf(c->c.key, sizeof(c->c.key), "%s", a->key);
		c->c.key_kind = a->key_kind;
		c->c.period_start = a->period_start;
		HASH_ADD(hh, t->cohorts, k, sizeof(c->k), c);
		if (t->oom) {
			free(c);
			return cd_err_set(err, 0, "out of memory");
		}
		t->n_cohorts++;
	}
	r = &c->c;
	/* A WARNING says where a cohort stands only until it is evaluated. */
	if (a->status == CD_AGG_WARNING && (r->status == CD_AGG_MET || r->status == CD_AGG_BREACHED))
		return 0;
	r->status = a->status == CD_AGG_RETRACTED ? 0 : a->status;
	r->period_end = a->period_end;
	r->kind = a->kind;
	r->members = a->members;
	r->met = a->met;
	r->lapsed = a->lapsed;
	r->exempted = a->exempted;
	r->required = a->required;
	r->held = a->held;
	r->benefits = 0;
	for (size_t i = 0; i < a->n_by_benefit; i++)
		if (a->by_benefit[i].members > 0 && a->by_benefit[i].benefit >= 0 && a->by_benefit[i].benefit < 32)
			r->benefits |= 1u << a->by_benefit[i].benefit;
	return 0;
}

/* ---- the end ------------------------------------------------------------------------------ */

static int by_row(const void *a, const void *b)
{
	const cd_report_row *x = a, *y = b;
	int c = strcmp(x->muni, y->muni);
	if (c)
		return c;
	if (x->benefit != y->benefit)
		return x->benefit < y->benefit ? -1 : 1;
	if (x->year != y->year)
		return x->year < y->year ? -1 : 1;
	return x->month < y->month ? -1 : x->month > y->month;
}

static int by_rule(const void *a, const void *b)
{
	return strcmp(((const cd_report_rule *)a)->rule, ((const cd_report_rule *)b)->rule);
}

static int by_cohort(const void *a, const void *b)
{
	const cd_report_cohort *x = a, *y = b;
	int c = strcmp(x->aggregate_id, y->aggregate_id);
	if (c)
		return c;
	if (x->key_kind != y->key_kind)
		return x->key_kind < y->key_kind ? -1 : 1;
	if ((c = strcmp(x->key, y->key)))
		return c;
	return x->period_start < y->period_start ? -1 : x->period_start > y->period_start;
}

/* Examples: a standing breach of each rule in turn, the rules with most breaches first. */
static int pick_examples(cd_tally *t, cd_report *r, const cd_report_counts *per_rule)
{
	size_t order[EX_MAX], n = 0;
	bool used[EX_MAX] = { false };

	if (!(r->examples = calloc(CD_REPORT_EXAMPLES, sizeof(*r->examples))))
		return -1;
	for (size_t i = 0; i < t->n_ex; i++) {
		const example *e = &t->ex[i];
		const inst *s = find(t, e->k);
		if (s ? outcome(s) == OUT_BREACHED && kept(&t->f, s->benefit, due_of(s, OUT_BREACHED)) : e->settled)
			order[n++] = i;
	}
	/* stable by the rule's breaches, descending: insertion sort over at most EX_MAX */
	for (size_t i = 1; i < n; i++) {
		size_t v = order[i], j = i;
		while (j > 0 && per_rule[t->ex[order[j - 1]].rule].breached < per_rule[t->ex[v].rule].breached) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = v;
	}
	for (int round = 0; round < EX_PER_RULE && r->n_examples < CD_REPORT_EXAMPLES; round++) {
		uint8_t taken[NAMES_MAX] = { 0 };
		for (size_t i = 0; i < n && r->n_examples < CD_REPORT_EXAMPLES; i++) {
			example *e = &t->ex[order[i]];
			cd_report_example *x;
			if (used[order[i]] || taken[e->rule])
				continue;
			used[order[i]] = true;
			taken[e->rule] = 1;
			x = &r->examples[r->n_examples++];
			x->muni = t->names[e->muni];
			x->rule = t->names[e->rule];
			x->benefit = e->benefit;
			x->due = e->due;
			memcpy(x->obligation_id, e->obligation_id, sizeof(x->obligation_id));
			x->explanation = e->explanation;
			e->explanation = NULL;       /* the report's now */
		}
	}
	return 0;
}

int cd_tally_finish(cd_tally *t, cd_report *r, cd_err *err)
{
	row_e *re, *rt;
	cohort_e *c, *ct;
	size_t i;

	memset(r, 0, sizeof(*r));
	/* what is still in the table counts as it stands now; the settled were counted already */
	for (i = 0; i < t->cap; i++)
		if (!empty(&t->tab[i]) && tally_inst(t, &t->tab[i]) < 0)
			goto oom;
	r->outputs = t->outputs;
	r->instances = t->n + t->settled;
	r->settled = t->settled;
	r->late_changes = t->late;
	r->undated = t->undated;
	r->total = t->total;
	r->cohorts_dropped = t->cohorts_dropped;
	r->n_rows = HASH_COUNT(t->rows);
	if (r->n_rows && !(r->rows = calloc(r->n_rows, sizeof(*r->rows))))
		goto oom;
	i = 0;
	HASH_ITER(hh, t->rows, re, rt) {
		cd_report_row *x = &r->rows[i++];
		uint32_t mn = (uint32_t)re->key;
		x->muni = t->names[re->key >> 40];
		x->benefit = (int)((re->key >> 32) & 0xff);
		x->year = (int)(mn / 12);
		x->month = (int)(mn % 12) + 1;
		x->n = re->n;
	}
	if (r->n_rows)
		qsort(r->rows, r->n_rows, sizeof(*r->rows), by_row);

	for (i = 0; i < t->n_names; i++)
		if (t->per_rule[i].due || t->per_rule[i].late_changes)
			r->n_rules++;
	if (r->n_rules && !(r->rules = calloc(r->n_rules, sizeof(*r->rules))))
		goto oom;
	r->n_rules = 0;
	for (i = 0; i < t->n_names; i++)
		if (t->per_rule[i].due || t->per_rule[i].late_changes) {
			r->rules[r->n_rules].rule = t->names[i];
			r->rules[r->n_rules++].n = t->per_rule[i];
		}
	if (r->n_rules)
		qsort(r->rules, r->n_rules, sizeof(*r->rules), by_rule);

	if (t->n_cohorts && !(r->cohorts = calloc(t->n_cohorts, sizeof(*r->cohorts))))
		goto oom;
	HASH_ITER(hh, t->cohorts, c, ct) {
		const cd_report_cohort *x = &c->c;
		if (t->f.benefits && !(x->benefits & t->f.benefits))
			continue;
		if ((t->f.from != CD_DATE_NONE && x->period_end < t->f.from) ||
		    (t->f.to != CD_DATE_NONE && x->period_end > t->f.to))
			continue;
		r->cohorts[r->n_cohorts++] = *x;
	}
	if (r->n_cohorts)
		qsort(r->cohorts, r->n_cohorts, sizeof(*r->cohorts), by_cohort);

	if (pick_examples(t, r, t->per_rule) < 0)
		goto oom;
	/* the names rows, rules and examples point to are the report's now */
	r->strings = t->names;
	r->n_strings = t->n_names;
	t->names = NULL;
	t->n_names = t->cap_names = 0;
	return 0;
oom:
	cd_report_free(r);
	return cd_err_set(err, 0, "out of memory");
}

void cd_report_free(cd_report *r)
{
	free(r->rows);
	free(r->rules);
	free(r->cohorts);
	for (size_t i = 0; i < r->n_examples; i++)
		free(r->examples[i].explanation);
	free(r->examples);
	for (size_t i = 0; i < r->n_strings; i++)
		free(r->strings[i]);
	free(r->strings);
	memset(r, 0, sizeof(*r));
}
