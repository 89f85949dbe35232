/*
 * synth.c — `contactd synth`: a deterministic synthetic population written as
 * an event log of contact.v1 CitizenEvents (length-delimited binary or
 * canonical JSON lines), for the demo, the benchmarks and load tests.
 *
 * Model. Every citizen is a small state machine with its own random stream
 * (splitmix64 seeded from --seed and the citizen's number), so a citizen's
 * story does not depend on the others. A citizen lives through one or more
 * spells (forløb) inside the horizon [--from, --from + --years):
 *
 *   OFF ──Registration──▶ ON ──(conversations ~monthly, category changes)──▶
 *        spell end: final Deregistration   → DONE, or OFF again (a return)
 *                   temporary Deregistration (DAGPENGE) → OFF, resumed later
 *                                              with the same dagpenge_period_start
 *                   BenefitChange to another benefit → ON, a new spell
 *
 * The generator produces each citizen's facts in business-time (occurred_at)
 * order. A fact may be emitted later than it occurred: a conversation recorded
 * late (recorded_at 1–30 days after occurred_at), a void of a conversation (a
 * later Conversation event with the same conversation_id and voided=true), a
 * duplicate (the same bytes sent twice). Those wait in a small per-citizen
 * buffer ordered by event time (recorded_at if set, else occurred_at); when
 * the buffer is nearly full, new facts are plain, so it stays bounded.
 *
 * Output order. A binary heap over the citizens, keyed by (event time of the
 * citizen's earliest buffered emission, citizen number), merges the citizens'
 * streams; every --tick-days a ClockTick with an empty citizen_id (local
 * midnight) is interleaved. The log is therefore in non-decreasing event
 * time, and memory is O(citizens): ~240 bytes per citizen (state and heap entry),
 * never per event.
 *
 * The mix (first spells; shares of the whole stream follow from it):
 *   benefit       DAGPENGE 40 %, KONTANTHJAELP 20 %, SYGEDAGPENGE 20 %,
 *                 UDDANNELSESHJAELP 6 %, INTEGRATIONSYDELSE 4 %, JOBAFKLARING 3.5 %,
 *                 RESSOURCEFORLOEB 3 %, LEDIGHEDSYDELSE 2 %, FOERTIDSPENSION 1 %,
 *                 REVALIDERING 0.5 %. Spell lengths are exponential with a
 *                 per-benefit mean (SYGEDAGPENGE ~3 months, DAGPENGE ~4 months, KH ~7 months
 *                 … RESSOURCEFORLOEB ~14 months);
 *                 FOERTIDSPENSION never ends and has a yearly conversation.
 *   category      KH: JOBPARAT 40 / AKTIVITETSPARAT 60; UH: UDDANNELSESPARAT 55 /
 *                 AKTIVITETSPARAT 45; IY: JOBPARAT 55 / AKTIVITETSPARAT 35 /
 *                 UDDANNELSESPARAT 10. A quarter of their spells change category once
 *                 (BenefitChange to the same or an unspecified benefit).
 *   municipality  34 real kommunekoder weighted by population, including 101
 *                 København, 860 Hjørring, 840 Rebild, 430 Faaborg-Midtfyn, 153
 *                 Brøndby and 766 Hedensted (the overlay municipalities); 5 % of
 *                 returning citizens have moved.
 *   DAGPENGE      dagpenge_period_start always set; 15 % (and every citizen already
 *                 in the caseload at --from) carry prior_unemployment_days 1–300 with
 *                 an earlier period start; 10 % opt out of a-kasse participation; 6 %
 *                 seasonal. Spell ends: 25 % temporary deregistration (back after
 *                 14–100 days, same period start), 10 % shift (to KH 70 %, to
 *                 SYGEDAGPENGE 30 %), else final (half of them end the dagpenge period).
 *   shifts        KH → RESSOURCEFORLOEB / LEDIGHEDSYDELSE / DAGPENGE / FOERTIDSPENSION,
 *                 SYGEDAGPENGE → JOBAFKLARING / DAGPENGE, JOBAFKLARING → RESSOURCEFORLOEB
 *                 / LEDIGHEDSYDELSE / FOERTIDSPENSION, UH / IY / REVALIDERING → KH, …
 *   conversations first one within a week for KH/UH/IY (8 % late), within 1–4 weeks
 *                 otherwise; then every 24–42 days, with a 5 % chance of a 50–120 day
 *                 gap (compliance failures). Weekdays 08–16 local time.
 *                 Job centre: IN_PERSON 50, PHONE 20, VIDEO 12, GROUP 6, OTHER_ACTOR
 *                 in person 5, DIGITAL 4, BRANCH_MEETING 2, VIA_OTHER 1 (%). DAGPENGE
 *                 adds 14 % held by the a-kasse and 12 % joint (fællessamtale) unless
 *                 opted out. 0.5 % of conversations are voided 1–20 days later.
 *   late, dups    --late-ratio of conversations recorded late; --dup-ratio of all
 *                 citizen events sent twice.
 *   volume        a quarter of the citizens are already in the caseload at --from, the
 *                 rest register uniformly over the horizon; 20 % of final
 *                 deregistrations return 2–24 months later. About 10 events per
 *                 citizen over 5 years, ticks aside.
 *
 * Identifiers: citizen "c%010u" of its number; event ids are 20 characters,
 * "<4 base36 characters of the seed>-<a 15-digit base36 counter>"; conversation
 * ids are 16, "cv<citizen in base36>-<conversation number in base36>".
 * All generated events pass the codec's validation.
 */
#include "cmd/commands.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "cmd/opts.h"
#include "contact/v1/events.pb-c.h"
#include "proto/eventlog.h"
#include "proto/pbjson.h"
#include "state/date.h"
#include "state/event.h"
#include "util/buf.h"
#include "util/log.h"

#define NEVER INT64_MAX
#define DAY_SECS 86400
#define PEND_MAX 4                 /* emissions buffered per citizen */
#define VOID_RATIO 0.005           /* of conversations */
#define RETURN_RATIO 0.20          /* of final deregistrations */
#define MOVE_RATIO 0.05            /* of returns */
#define EVENT_ID_LEN 20
#define MAX_MESSAGE 4096

/* ---- options ------------------------------------------------------------ */

typedef struct synth_opts {
	long citizens;
	uint64_t seed;
	cd_date from;
	long years;
	cd_log_format format;
	const char *output;
	long tick_days;
	double late_ratio, dup_ratio;
	uint64_t max_events;          /* 0: no limit */
} synth_opts;

/* ---- random numbers (splitmix64: one word of state) ---------------------- */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t rng_next(uint64_t *s)
{
	*s += UINT64_C(0x9e3779b97f4a7c15);
	return mix64(*s);
}

static double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

/* Uniform in [lo, hi]. */
static int rng_range(uint64_t *s, int lo, int hi)
{
	return lo + (int)(rng_unit(s) * (double)(hi - lo + 1));
}

static int rng_chance(uint64_t *s, double p)
{
	return rng_unit(s) < p;
}

/* An exponentially distributed whole number of days with the given mean. */
static int rng_exp_days(uint64_t *s, int mean)
{
	double d = -log(1.0 - rng_unit(s)) * mean;
	return d > 20.0 * mean ? 20 * mean : (int)d;
}

typedef struct weighted {
	int value;
	int weight;
} weighted;

static int rng_pick(uint64_t *s, const weighted *w, size_t n)
{
	int total = 0, r;
	for (size_t i = 0; i < n; i++)
		total += w[i].weight;
	r = rng_range(s, 0, total - 1);
	for (size_t i = 0; i < n; i++) {
		if (r < w[i].weight)
			return w[i].value;
		r -= w[i].weight;
	}
	return w[n - 1].value;
}

#define PICK(s, table) rng_pick((s), (table), sizeof(table) / sizeof((table)[0]))

/* ---- the mix -------------------------------------------------------------- */

typedef struct municipality {
	const char *code;
	int weight;                  /* population, thousands (approximate) */
} municipality;

static const municipality MUNIS[] = {
	{ "101", 650 }, { "751", 360 }, { "851", 220 }, { "461", 205 }, { "561", 115 },
	{ "630", 118 }, { "147", 104 }, { "730", 98 },  { "791", 97 },  { "621", 93 },
	{ "615", 90 },  { "657", 89 },  { "265", 88 },  { "330", 79 },  { "157", 75 },
	{ "540", 74 },  { "860", 64 },  { "259", 61 },  { "376", 61 },  { "813", 60 },
	{ "167", 54 },  { "173", 56 },  { "510", 56 },  { "169", 51 },  { "430", 51 },
	{ "766", 47 },  { "787", 43 },  { "846", 42 },  { "360", 41 },  { "400", 39 },
	{ "849", 38 },  { "153", 35 },  { "840", 30 },  { "253", 49 },
};
#define N_MUNIS (sizeof(MUNIS) / sizeof(MUNIS[0]))

static const weighted FIRST_BENEFIT[] = {
	{ CD_DAGPENGE, 400 }, { CD_KONTANTHJAELP, 200 }, { CD_SYGEDAGPENGE, 200 },
	{ CD_UDDANNELSESHJAELP, 60 }, { CD_INTEGRATIONSYDELSE, 40 }, { CD_JOBAFKLARING, 35 },
	{ CD_RESSOURCEFORLOEB, 30 }, { CD_LEDIGHEDSYDELSE, 20 }, { CD_FOERTIDSPENSION, 10 },
	{ CD_REVALIDERING, 5 },
};

static const weighted CATEGORY_KH[] = { { CD_JOBPARAT, 40 }, { CD_AKTIVITETSPARAT, 60 } };
static const weighted CATEGORY_UH[] = { { CD_UDDANNELSESPARAT, 55 }, { CD_AKTIVITETSPARAT, 45 } };
static const weighted CATEGORY_IY[] = { { CD_JOBPARAT, 55 }, { CD_AKTIVITETSPARAT, 35 },
					{ CD_UDDANNELSESPARAT, 10 } };

static const weighted DEREG_REASON[] = { { CD_DEREG_JOB, 60 }, { CD_DEREG_EDUCATION, 15 },
					 { CD_DEREG_OTHER, 25 } };

/* How a spell on a benefit goes: its length, how it ends, where a shift leads. */
typedef struct benefit_profile {
	int mean_days, min_days;     /* spell length; mean 0: the spell never ends */
	int temp_pct, shift_pct;     /* of spell ends: temporary deregistration, benefit shift */
	weighted shift_to[4];        /* weight 0 ends the list */
} benefit_profile;

static const benefit_profile PROFILES[CD_BENEFIT_MAX + 1] = {
	[CD_DAGPENGE] = { 115, 14, 25, 10, { { CD_KONTANTHJAELP, 70 }, { CD_SYGEDAGPENGE, 30 } } },
	[CD_KONTANTHJAELP] = { 210, 30, 0, 15, { { CD_RESSOURCEFORLOEB, 50 }, { CD_LEDIGHEDSYDELSE, 20 },
						 { CD_DAGPENGE, 20 }, { CD_FOERTIDSPENSION, 10 } } },
	[CD_UDDANNELSESHJAELP] = { 240, 30, 0, 10, { { CD_KONTANTHJAELP, 100 } } },
	[CD_INTEGRATIONSYDELSE] = { 280, 30, 0, 15, { { CD_KONTANTHJAELP, 100 } } },
	[CD_SYGEDAGPENGE] = { 95, 21, 0, 25, { { CD_JOBAFKLARING, 70 }, { CD_DAGPENGE, 30 } } },
	[CD_JOBAFKLARING] = { 220, 30, 0, 30, { { CD_RESSOURCEFORLOEB, 60 }, { CD_LEDIGHEDSYDELSE, 20 },
						{ CD_FOERTIDSPENSION, 20 } } },
	[CD_RESSOURCEFORLOEB] = { 420, 60, 0, 25, { { CD_FOERTIDSPENSION, 50 }, { CD_LEDIGHEDSYDELSE, 50 } } },
	[CD_LEDIGHEDSYDELSE] = { 220, 30, 0, 5, { { CD_FOERTIDSPENSION, 100 } } },
	[CD_REVALIDERING] = { 330, 60, 0, 10, { { CD_KONTANTHJAELP, 100 } } },
	[CD_FOERTIDSPENSION] = { 0, 0, 0, 0, { { 0, 0 } } },
};

static int has_category(int benefit)
{
	return benefit == CD_KONTANTHJAELP || benefit == CD_UDDANNELSESHJAELP ||
	       benefit == CD_INTEGRATIONSYDELSE;
}

static int draw_category(uint64_t *rng, int benefit)
{
	switch (benefit) {
	case CD_KONTANTHJAELP:
		return PICK(rng, CATEGORY_KH);
	case CD_UDDANNELSESHJAELP:
		return PICK(rng, CATEGORY_UH);
	case CD_INTEGRATIONSYDELSE:
		return PICK(rng, CATEGORY_IY);
	default:
		return CD_CATEGORY_NONE;
	}
}

static int draw_muni(uint64_t *rng)
{
	int total = 0, r;
	for (size_t i = 0; i < N_MUNIS; i++)
		total += MUNIS[i].weight;
	r = rng_range(rng, 0, total - 1);
	for (size_t i = 0; i < N_MUNIS; i++) {
		if (r < MUNIS[i].weight)
			return (int)i;
		r -= MUNIS[i].weight;
	}
	return 0;
}

static int draw_shift_target(uint64_t *rng, const benefit_profile *p)
{
	size_t n = 0;
	while (n < 4 && p->shift_to[n].weight > 0)
		n++;
	return rng_pick(rng, p->shift_to, n);
}

/* ---- time ------------------------------------------------------------------ */

static int64_t at_local(cd_date day, int secs)
{
	return cd_cph_midnight(day) / CD_NS_PER_SEC + secs;
}

static cd_date local_day(int64_t t)
{
	return cd_cph_date(t * CD_NS_PER_SEC);
}

static cd_date workday(cd_date d)
{
	int w = cd_date_weekday(d);
	return w == 6 ? d + 2 : w == 7 ? d + 1 : d;
}

/* A random instant in office hours (08–16 local) on the first workday from `day`. */
static int64_t office_time(uint64_t *rng, cd_date day)
{
	return at_local(workday(day), rng_range(rng, 8 * 3600, 16 * 3600 - 1));
}

/* ---- emissions: what a citizen will write, in event-time order ------------ */

enum { K_REGISTRATION = 1, K_DEREGISTRATION, K_CONVERSATION, K_BENEFIT_CHANGE };

enum {                                /* emission flags */
	EM_OPT_OUT = 1, EM_SEASONAL = 2, EM_ENDS_DP = 4, EM_JOINT = 8, EM_VOIDED = 16,
	EM_RESUME = 32, EM_DUP = 64, EM_CATEGORY_CHANGE = 128,
};

typedef struct emission {
	int64_t occurred;             /* seconds since the epoch */
	int64_t recorded;             /* 0: not set */
	uint64_t serial;              /* the event id's counter */
	cd_date date;                 /* dagpenge_period_start, first_absence_date or
					 first_contact_date, by benefit; CD_DATE_NONE */
	uint16_t conv_seq;
	int16_t prior_days;
	uint8_t kind, muni, benefit, category;
	uint8_t code;                 /* form (conversation) or reason (deregistration) */
	uint8_t held_by, flags;
} emission;

static int64_t event_time(const emission *e)
{
	return e->recorded ? e->recorded : e->occurred;
}

/* ---- citizens ---------------------------------------------------------------- */

enum { PH_OFF = 0, PH_ON, PH_DONE };
enum { END_FINAL = 0, END_TEMP, END_SHIFT };

typedef struct citizen {
	emission pend[PEND_MAX];      /* sorted by event time; equal times keep insertion order */
	uint64_t rng;
	int64_t wake;                 /* OFF: when the next Registration happens */
	int64_t spell_end, next_conv, next_cat;   /* ON; NEVER when none */
	cd_date dp_start;             /* the dagpenge period (active or paused); CD_DATE_NONE */
	uint16_t conv_seq;
	uint8_t npend, phase, muni, benefit, category;
	uint8_t end_kind, shift_to;
	uint8_t resume;               /* OFF after a temporary deregistration */
	uint8_t first;                /* the first registration is still to come */
	uint8_t opt_out, seasonal;
} citizen;

typedef struct synth_counts {
	uint64_t events, registrations, resumes, deregistrations, conversations, late, voids;
	uint64_t duplicates, benefit_shifts, category_changes, ticks, bytes;
} synth_counts;

typedef struct heap_entry {
	int64_t key;                  /* event time of the citizen's next emission */
	uint32_t idx;
} heap_entry;

typedef struct synth {
	synth_opts o;
	citizen *cit;
	heap_entry *heap;
	size_t heap_len;
	int64_t start, end;           /* the horizon, seconds */
	int64_t next_tick;            /* NEVER when ticks are off or done */
	cd_date tick_day;
	uint64_t serial;
	char prefix[5];
	FILE *out;
	cd_buf buf;
	synth_counts n;
} synth;

static void push_pending(citizen *c, const emission *e)
{
	int64_t t = event_time(e);
	size_t i = c->npend;
	while (i > 0 && event_time(&c->pend[i - 1]) > t) {
		c->pend[i] = c->pend[i - 1];
		i--;
	}
	c->pend[i] = *e;
	c->npend++;
}

static emission new_fact(synth *s, const citizen *c, int kind, int64_t t)
{
	emission e;
	memset(&e, 0, sizeof(e));
	e.occurred = t;
	e.serial = s->serial++;
	e.date = CD_DATE_NONE;
	e.kind = (uint8_t)kind;
	e.muni = c->muni;
	e.benefit = c->benefit;
	return e;
}

/*
 * Buffers a fact, and maybe its late recording, its duplicate and (for a
 * conversation) its later void. Extras only while the buffer has room for all
 * of them, which bounds it at PEND_MAX.
 */
static void commit(synth *s, citizen *c, emission *e)
{
	int room = c->npend + 3 <= PEND_MAX;
	int conv = e->kind == K_CONVERSATION;

	if (conv && room && rng_chance(&c->rng, s->o.late_ratio))
		e->recorded = office_time(&c->rng, local_day(e->occurred) + rng_range(&c->rng, 1, 30));
	push_pending(c, e);
	if (room && rng_chance(&c->rng, s->o.dup_ratio)) {
		emission d = *e;
		d.flags |= EM_DUP;
		push_pending(c, &d);
	}
	if (conv && room && rng_chance(&c->rng, VOID_RATIO)) {
		emission v = new_fact(s, c, K_CONVERSATION,
				      office_time(&c->rng, local_day(e->occurred) + rng_range(&c->rng, 1, 20)));
		v.conv_seq = e->conv_seq;
		v.flags = EM_VOIDED;
		push_pending(c, &v);
	}
}

/* Starts a spell on c->benefit on `day`: when it ends and how, the first conversation. */
static void start_spell(citizen *c, cd_date day, int registration)
{
	const benefit_profile *p = &PROFILES[c->benefit];
	int len = p->mean_days ? p->min_days + rng_exp_days(&c->rng, p->mean_days) : 0;
	int r = rng_range(&c->rng, 0, 99), first;

	c->spell_end = len ? office_time(&c->rng, day + len) : NEVER;
	c->end_kind = r < p->temp_pct ? END_TEMP : r < p->temp_pct + p->shift_pct ? END_SHIFT : END_FINAL;
	c->shift_to = c->end_kind == END_SHIFT ? (uint8_t)draw_shift_target(&c->rng, p) : 0;

	if (c->benefit == CD_FOERTIDSPENSION)
		first = rng_range(&c->rng, 60, 360);
	else if (registration && has_category(c->benefit))
		first = rng_chance(&c->rng, 0.08) ? rng_range(&c->rng, 8, 20) : rng_range(&c->rng, 1, 6);
	else if (c->benefit == CD_SYGEDAGPENGE)
		first = rng_range(&c->rng, 3, 21);
	else
		first = rng_range(&c->rng, 5, 28);
	c->next_conv = office_time(&c->rng, day + first);
	c->next_cat = has_category(c->benefit) && len > 40 && rng_chance(&c->rng, 0.25)
			      ? office_time(&c->rng, day + rng_range(&c->rng, 20, len - 1))
			      : NEVER;
}

/* A new DAGPENGE period starting around `day`; sometimes with days carried over. */
static void new_dagpenge_period(citizen *c, cd_date day, int in_caseload, emission *e)
{
	if (in_caseload || rng_chance(&c->rng, 0.15)) {
		e->prior_days = (int16_t)rng_range(&c->rng, 1, 300);
		c->dp_start = day - e->prior_days - rng_range(&c->rng, 0, 60);
	} else {
		c->dp_start = day;
	}
	c->opt_out = rng_chance(&c->rng, 0.10);
	c->seasonal = rng_chance(&c->rng, 0.06);
}

static void set_dagpenge_fields(const citizen *c, emission *e)
{
	e->date = c->dp_start;
	e->flags |= (c->opt_out ? EM_OPT_OUT : 0) | (c->seasonal ? EM_SEASONAL : 0);
}

static void registration(synth *s, citizen *c, int64_t t)
{
	cd_date day = local_day(t);
	int in_caseload = c->first && t < s->start + 30 * DAY_SECS;
	emission e;

	if (c->resume) {                               /* back from a temporary deregistration */
		if (rng_chance(&c->rng, 0.03))
			c->opt_out = !c->opt_out;
		e = new_fact(s, c, K_REGISTRATION, t);
		set_dagpenge_fields(c, &e);
		e.flags |= EM_RESUME;
	} else {
		if (!c->first && rng_chance(&c->rng, MOVE_RATIO))
			c->muni = (uint8_t)draw_muni(&c->rng);
		c->benefit = (uint8_t)PICK(&c->rng, FIRST_BENEFIT);
		c->category = (uint8_t)draw_category(&c->rng, c->benefit);
		e = new_fact(s, c, K_REGISTRATION, t);
		e.category = c->category;
		if (c->benefit == CD_DAGPENGE) {
			int resume = c->dp_start != CD_DATE_NONE && rng_chance(&c->rng, 0.5);
			if (!resume)
				new_dagpenge_period(c, day, in_caseload, &e);
			set_dagpenge_fields(c, &e);
			e.flags |= resume ? EM_RESUME : 0;
		} else {
			c->dp_start = CD_DATE_NONE;     /* another benefit ends a paused period */
			if (c->benefit == CD_SYGEDAGPENGE)
				e.date = day - rng_range(&c->rng, 14, 45);
			else if (has_category(c->benefit) && rng_chance(&c->rng, 0.6))
				e.date = day - rng_range(&c->rng, 0, 4);
		}
	}
	c->phase = PH_ON;
	c->resume = 0;
	c->first = 0;
	start_spell(c, day, 1);
	commit(s, c, &e);
}

static void deregistration(synth *s, citizen *c, int64_t t, int temporary)
{
	cd_date day = local_day(t);
	emission e = new_fact(s, c, K_DEREGISTRATION, t);

	e.code = (uint8_t)(temporary ? CD_DEREG_JOB : PICK(&c->rng, DEREG_REASON));
	if (c->benefit == CD_DAGPENGE && !temporary && rng_chance(&c->rng, 0.5)) {
		e.flags |= EM_ENDS_DP;
		c->dp_start = CD_DATE_NONE;
	}
	c->next_conv = c->next_cat = c->spell_end = NEVER;
	if (temporary) {
		c->phase = PH_OFF;
		c->resume = 1;
		c->wake = office_time(&c->rng, day + rng_range(&c->rng, 14, 100));
	} else if (rng_chance(&c->rng, RETURN_RATIO)) {
		c->phase = PH_OFF;
		c->wake = office_time(&c->rng, day + rng_range(&c->rng, 60, 720));
	} else {
		c->phase = PH_DONE;
	}
	commit(s, c, &e);
}

static void benefit_shift(synth *s, citizen *c, int64_t t)
{
	cd_date day = local_day(t);
	emission e;

	c->benefit = c->shift_to;
	c->category = (uint8_t)draw_category(&c->rng, c->benefit);
	e = new_fact(s, c, K_BENEFIT_CHANGE, t);
	e.category = c->category;
	if (c->benefit == CD_DAGPENGE) {
		c->dp_start = day;
		c->opt_out = rng_chance(&c->rng, 0.10);
		c->seasonal = 0;
		e.date = day;
		e.flags |= c->opt_out ? EM_OPT_OUT : 0;
	} else {
		c->dp_start = CD_DATE_NONE;             /* a shift ends the dagpenge period */
		if (c->benefit == CD_SYGEDAGPENGE)
			e.date = day - rng_range(&c->rng, 0, 10);
	}
	start_spell(c, day, 0);
	commit(s, c, &e);
}

static void category_change(synth *s, citizen *c, int64_t t)
{
	emission e;
	int to;

	do
		to = draw_category(&c->rng, c->benefit);
	while (to == c->category);
	c->category = (uint8_t)to;
	c->next_cat = NEVER;
	e = new_fact(s, c, K_BENEFIT_CHANGE, t);
	e.benefit = rng_chance(&c->rng, 0.5) ? c->benefit : CD_BENEFIT_NONE;
	e.category = c->category;
	e.flags |= EM_CATEGORY_CHANGE;
	commit(s, c, &e);
}

/* Form, who held it, joint or not: the job centre's mix, plus the a-kasse for DAGPENGE. */
static void draw_conversation(citizen *c, emission *e)
{
	static const weighted JOBCENTER_FORM[] = {
		{ CD_IN_PERSON, 50 }, { CD_PHONE, 20 }, { CD_VIDEO, 12 }, { CD_GROUP, 6 },
		{ -CD_IN_PERSON, 5 } /* other actor */, { CD_DIGITAL, 4 }, { CD_BRANCH_MEETING, 2 },
		{ CD_VIA_OTHER, 1 },
	};
	static const weighted AKASSE_FORM[] = { { CD_IN_PERSON, 60 }, { CD_PHONE, 30 }, { CD_VIDEO, 10 } };
	int r = rng_range(&c->rng, 0, 99), form;

	if (c->benefit == CD_DAGPENGE && r < 14) {
		e->held_by = CD_AKASSE;
		e->code = (uint8_t)PICK(&c->rng, AKASSE_FORM);
		return;
	}
	if (c->benefit == CD_DAGPENGE && r < 26 && !c->opt_out) {
		e->held_by = CD_JOBCENTER;
		e->code = rng_chance(&c->rng, 0.8) ? CD_IN_PERSON : CD_VIDEO;
		e->flags |= EM_JOINT;
		return;
	}
	form = PICK(&c->rng, JOBCENTER_FORM);
	e->held_by = form < 0 ? CD_OTHER_ACTOR : CD_JOBCENTER;
	e->code = (uint8_t)(form < 0 ? -form : form);
}

static void conversation(synth *s, citizen *c, int64_t t)
{
	cd_date day = local_day(t);
	emission e = new_fact(s, c, K_CONVERSATION, t);
	int gap;

	e.conv_seq = ++c->conv_seq;
	draw_conversation(c, &e);
	if (c->benefit == CD_FOERTIDSPENSION)
		gap = rng_range(&c->rng, 250, 400);
	else if (rng_chance(&c->rng, 0.05))
		gap = rng_range(&c->rng, 50, 120);      /* a compliance failure */
	else
		gap = rng_range(&c->rng, 24, 42);
	c->next_conv = office_time(&c->rng, day + gap);
	commit(s, c, &e);
}

static int64_t min3(int64_t a, int64_t b, int64_t c)
{
	int64_t m = a < b ? a : b;
	return m < c ? m : c;
}

/* When the citizen's next fact happens; NEVER when it has no more inside the horizon. */
static int64_t next_fact_time(const synth *s, const citizen *c)
{
	int64_t t;
	if (c->phase == PH_DONE)
		return NEVER;
	t = c->phase == PH_OFF ? c->wake : min3(c->spell_end, c->next_cat, c->next_conv);
	return t < s->end ? t : NEVER;
}

static void next_fact(synth *s, citizen *c, int64_t t)
{
	if (c->phase == PH_OFF)
		registration(s, c, t);
	else if (t == c->spell_end && c->end_kind == END_SHIFT)
		benefit_shift(s, c, t);
	else if (t == c->spell_end)
		deregistration(s, c, t, c->end_kind == END_TEMP);
	else if (t == c->next_cat)
		category_change(s, c, t);
	else
		conversation(s, c, t);
}

/*
 * Generates facts until the earliest buffered emission can safely go out:
 * every later fact occurs, and so has its event time, no earlier than it.
 */
static void fill(synth *s, citizen *c)
{
	for (;;) {
		int64_t t = next_fact_time(s, c);
		if (t == NEVER) {
			c->phase = PH_DONE;
			return;
		}
		if (c->npend > 0 && t >= event_time(&c->pend[0]))
			return;
		next_fact(s, c, t);
	}
}

static void citizen_init(const synth *s, citizen *c, uint32_t idx)
{
	int span_days = (int)((s->end - s->start) / DAY_SECS) - 60;
	cd_date day;

	memset(c, 0, sizeof(*c));
	c->rng = mix64(s->o.seed ^ mix64((uint64_t)idx + 1));
	c->dp_start = CD_DATE_NONE;
	c->first = 1;
	c->muni = (uint8_t)draw_muni(&c->rng);
	c->phase = PH_OFF;
	if (rng_chance(&c->rng, 0.25))               /* already in the caseload */
		day = s->o.from + rng_range(&c->rng, 0, 27);
	else
		day = s->o.from + rng_range(&c->rng, 0, span_days > 0 ? span_days : 0);
	c->wake = office_time(&c->rng, day);
	c->next_conv = c->next_cat = c->spell_end = NEVER;
}

/* ---- the merge heap ------------------------------------------------------------ */

static int heap_less(const heap_entry *a, const heap_entry *b)
{
	return a->key < b->key || (a->key == b->key && a->idx < b->idx);
}

static void heap_sift_down(heap_entry *h, size_t n, size_t i)
{
	heap_entry e = h[i];
	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= n)
			break;
		if (child + 1 < n && heap_less(&h[child + 1], &h[child]))
			child++;
		if (!heap_less(&h[child], &e))
			break;
		h[i] = h[child];
		i = child;
	}
	h[i] = e;
}

static void heap_build(heap_entry *h, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		heap_sift_down(h, n, i);
}

/* ---- writing ------------------------------------------------------------------- */

static void base36(uint64_t v, char *out, int width)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	for (int i = width - 1; i >= 0; i--) {
		out[i] = digits[v % 36];
		v /= 36;
	}
	out[width] = '\0';
}

static void format_event_id(const synth *s, uint64_t serial, char *out)
{
	memcpy(out, s->prefix, 4);
	out[4] = '-';
	base36(serial, out + 5, EVENT_ID_LEN - 5);
}

static void set_timestamp(Google__Protobuf__Timestamp *ts, int64_t secs)
{
	google__protobuf__timestamp__init(ts);
	ts->seconds = secs;
}

/* One CitizenEvent with everything it points to. Not copyable (it points into itself). */
typedef struct message {
	Contact__V1__CitizenEvent ev;
	Google__Protobuf__Timestamp occurred, recorded;
	Contact__V1__Registration reg;
	Contact__V1__Deregistration dereg;
	Contact__V1__Conversation conv;
	Contact__V1__BenefitChange change;
	Contact__V1__ClockTick tick;
	char event_id[EVENT_ID_LEN + 1], citizen_id[16], conv_id[20], muni[8], date[CD_DATE_STRLEN];
} message;

static char *date_or_empty(cd_date d, char *buf)
{
	if (d == CD_DATE_NONE)
		return (char *)protobuf_c_empty_string;
	return cd_date_format(d, buf);
}

static void build_registration(const emission *e, message *m)
{
	contact__v1__registration__init(&m->reg);
	m->reg.benefit = (Contact__V1__Benefit)e->benefit;
	m->reg.category = (Contact__V1__Category)e->category;
	if (e->benefit == CD_DAGPENGE) {
		m->reg.dagpenge_period_start = date_or_empty(e->date, m->date);
		m->reg.prior_unemployment_days = e->prior_days;
	} else if (e->benefit == CD_SYGEDAGPENGE) {
		m->reg.first_absence_date = date_or_empty(e->date, m->date);
	} else {
		m->reg.first_contact_date = date_or_empty(e->date, m->date);
	}
	m->reg.akasse_opt_out = (e->flags & EM_OPT_OUT) != 0;
	m->reg.seasonal = (e->flags & EM_SEASONAL) != 0;
	m->ev.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION;
	m->ev.registration = &m->reg;
}

static void build_benefit_change(const emission *e, message *m)
{
	contact__v1__benefit_change__init(&m->change);
	m->change.to_benefit = (Contact__V1__Benefit)e->benefit;
	m->change.to_category = (Contact__V1__Category)e->category;
	if (e->benefit == CD_DAGPENGE)
		m->change.dagpenge_period_start = date_or_empty(e->date, m->date);
	else if (e->benefit == CD_SYGEDAGPENGE)
		m->change.first_absence_date = date_or_empty(e->date, m->date);
	m->change.akasse_opt_out = (e->flags & EM_OPT_OUT) != 0;
	m->ev.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_BENEFIT_CHANGE;
	m->ev.benefit_change = &m->change;
}

static void build_conversation(const emission *e, uint32_t idx, message *m)
{
	contact__v1__conversation__init(&m->conv);
	memcpy(m->conv_id, "cv", 2);
	base36(idx, m->conv_id + 2, 8);
	m->conv_id[10] = '-';
	base36(e->conv_seq, m->conv_id + 11, 5);
	m->conv.conversation_id = m->conv_id;
	m->conv.form = (Contact__V1__ConversationForm)e->code;
	m->conv.held_by = (Contact__V1__HeldBy)e->held_by;
	m->conv.akasse_participated = (e->flags & EM_JOINT) != 0;
	m->conv.voided = (e->flags & EM_VOIDED) != 0;
	m->ev.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION;
	m->ev.conversation = &m->conv;
}

static const char *source_of(const emission *e)
{
	switch (e->kind) {
	case K_CONVERSATION:
		return e->held_by == CD_AKASSE ? "akasse" : e->held_by == CD_OTHER_ACTOR ? "anden-aktoer" : "jobcenter";
	case K_BENEFIT_CHANGE:
		return "ydelse";
	default:
		return "jobnet";
	}
}

static void build_event(const synth *s, const emission *e, uint32_t idx, message *m)
{
	contact__v1__citizen_event__init(&m->ev);
	format_event_id(s, e->serial, m->event_id);
	snprintf(m->citizen_id, sizeof(m->citizen_id), "c%010u", idx);
	snprintf(m->muni, sizeof(m->muni), "%s", MUNIS[e->muni].code);
	m->ev.event_id = m->event_id;
	m->ev.citizen_id = m->citizen_id;
	m->ev.municipality_code = m->muni;
	m->ev.source = (char *)source_of(e);
	set_timestamp(&m->occurred, e->occurred);
	m->ev.occurred_at = &m->occurred;
	if (e->recorded) {
		set_timestamp(&m->recorded, e->recorded);
		m->ev.recorded_at = &m->recorded;
	}
	switch (e->kind) {
	case K_REGISTRATION:
		build_registration(e, m);
		break;
	case K_DEREGISTRATION:
		contact__v1__deregistration__init(&m->dereg);
		m->dereg.reason = (Contact__V1__DeregistrationReason)e->code;
		m->dereg.ends_dagpenge_period = (e->flags & EM_ENDS_DP) != 0;
		m->ev.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_DEREGISTRATION;
		m->ev.deregistration = &m->dereg;
		break;
	case K_CONVERSATION:
		build_conversation(e, idx, m);
		break;
	default:
		build_benefit_change(e, m);
		break;
	}
}

static void build_tick(synth *s, int64_t t, message *m)
{
	contact__v1__citizen_event__init(&m->ev);
	format_event_id(s, s->serial++, m->event_id);
	m->ev.event_id = m->event_id;
	m->ev.source = (char *)"clock";
	set_timestamp(&m->occurred, t);
	m->ev.occurred_at = &m->occurred;
	contact__v1__clock_tick__init(&m->tick);
	m->ev.payload_case = CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CLOCK_TICK;
	m->ev.clock_tick = &m->tick;
}

static int write_message(synth *s, const message *m)
{
	cd_err err;
	size_t len;

	cd_buf_reset(&s->buf);
	if (s->o.format == CD_LOG_JSON) {
		if (pbjson_encode(&m->ev.base, &s->buf, &err) < 0)
			goto fail;
		len = s->buf.len;
	} else {
		len = protobuf_c_message_get_packed_size(&m->ev.base);
		if (cd_buf_reserve(&s->buf, len) < 0) {
			cd_err_set(&err, 0, "message of %zu bytes exceeds the buffer", len);
			goto fail;
		}
		protobuf_c_message_pack(&m->ev.base, (uint8_t *)s->buf.data);
	}
	if (cd_log_write(s->out, s->o.format, s->buf.data, len, &err) < 0)
		goto fail;
	s->n.events++;
	s->n.bytes += len;
	return 0;
fail:
	cd_log(CD_LOG_ERROR, "cannot write event", "output", s->o.output, "error", err.msg, NULL);
	return -1;
}

static void count(synth_counts *n, const emission *e)
{
	if (e->flags & EM_DUP) {
		n->duplicates++;
		return;
	}
	switch (e->kind) {
	case K_REGISTRATION:
		n->registrations++;
		n->resumes += (e->flags & EM_RESUME) != 0;
		break;
	case K_DEREGISTRATION:
		n->deregistrations++;
		break;
	case K_CONVERSATION:
		n->conversations++;
		n->voids += (e->flags & EM_VOIDED) != 0;
		n->late += e->recorded != 0;
		break;
	default:
		if (e->flags & EM_CATEGORY_CHANGE)
			n->category_changes++;
		else
			n->benefit_shifts++;
	}
}

/* Writes the citizen at the top of the heap's next emission and re-keys it. */
static int emit_citizen(synth *s)
{
	uint32_t idx = s->heap[0].idx;
	citizen *c = &s->cit[idx];
	message m;

	build_event(s, &c->pend[0], idx, &m);
	if (write_message(s, &m) < 0)
		return -1;
	count(&s->n, &c->pend[0]);
	memmove(&c->pend[0], &c->pend[1], (size_t)(c->npend - 1) * sizeof(c->pend[0]));
	c->npend--;
	fill(s, c);
	if (c->npend > 0)
		s->heap[0].key = event_time(&c->pend[0]);
	else
		s->heap[0] = s->heap[--s->heap_len];
	heap_sift_down(s->heap, s->heap_len, 0);
	return 0;
}

static int emit_tick(synth *s)
{
	message m;
	build_tick(s, s->next_tick, &m);
	if (write_message(s, &m) < 0)
		return -1;
	s->n.ticks++;
	s->tick_day += (cd_date)s->o.tick_days;
	s->next_tick = at_local(s->tick_day, 0);
	if (s->next_tick > s->end)
		s->next_tick = NEVER;
	return 0;
}

static int limit_reached(const synth *s)
{
	return s->o.max_events && s->n.events >= s->o.max_events;
}

static int run(synth *s)
{
	while (!limit_reached(s)) {
		int rc;
		if (s->next_tick != NEVER && (s->heap_len == 0 || s->next_tick <= s->heap[0].key))
			rc = emit_tick(s);
		else if (s->heap_len > 0)
			rc = emit_citizen(s);
		else
			break;
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int synth_init(synth *s, const synth_opts *o)
{
	uint64_t h = mix64(o->seed ^ UINT64_C(0x5eed));

	memset(s, 0, sizeof(*s));
	s->o = *o;
	s->start = at_local(o->from, 0);
	s->end = at_local(cd_date_add_months(o->from, (int)(12 * o->years)), 0);
	s->tick_day = o->from + (cd_date)o->tick_days;
	s->next_tick = o->tick_days > 0 ? at_local(s->tick_day, 0) : NEVER;
	base36(h % (36ULL * 36 * 36 * 36), s->prefix, 4);
	cd_buf_init(&s->buf, MAX_MESSAGE);
	s->cit = calloc((size_t)o->citizens, sizeof(*s->cit));
	s->heap = calloc((size_t)o->citizens, sizeof(*s->heap));
	if (!s->cit || !s->heap)
		return -1;
	for (uint32_t i = 0; i < (uint32_t)o->citizens; i++) {
		citizen *c = &s->cit[i];
		citizen_init(s, c, i);
		fill(s, c);
		if (c->npend > 0)
			s->heap[s->heap_len++] = (heap_entry){ event_time(&c->pend[0]), i };
	}
	heap_build(s->heap, s->heap_len);
	return 0;
}

static void synth_release(synth *s)
{
	free(s->cit);
	free(s->heap);
	cd_buf_release(&s->buf);
}

static void log_counts(const synth *s)
{
	const uint64_t v[] = { (uint64_t)s->o.citizens, s->n.events, s->n.registrations, s->n.resumes,
			       s->n.deregistrations, s->n.conversations, s->n.late, s->n.voids,
			       s->n.benefit_shifts, s->n.category_changes, s->n.duplicates, s->n.ticks,
			       s->n.bytes };
	char num[13][24];
	for (size_t i = 0; i < 13; i++)
		snprintf(num[i], sizeof(num[i]), "%llu", (unsigned long long)v[i]);
	cd_log(CD_LOG_INFO, "synth done", "format", s->o.format == CD_LOG_JSON ? "json" : "pb", "citizens",
	       num[0], "events", num[1], "registrations", num[2], "resumes", num[3], "deregistrations", num[4],
	       "conversations", num[5], "late", num[6], "voided", num[7], "benefit_shifts", num[8],
	       "category_changes", num[9], "duplicates", num[10], "ticks", num[11], "bytes", num[12], NULL);
}

/* ---- the command ------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: contactd synth [options]\n"
		"  -n, --citizens N        citizens (default 1000)\n"
		"      --seed S            random seed (default 1); the same seed gives the same log\n"
		"      --from YYYY-MM-DD   start of the simulated time (default 2019-01-01)\n"
		"      --years Y           length of the simulated time, 1 … 10 (default 5)\n"
		"      --format F          pb (length-delimited binary) or json (JSON lines) (default pb)\n"
		"  -o, --output FILE       '-' is stdout (default '-')\n"
		"      --tick-days D       a ClockTick for every citizen each D days; 0: none (default 7)\n"
		"      --late-ratio R      share of conversations recorded 1–30 days late (default 0.02)\n"
		"      --dup-ratio R       share of events sent twice (default 0.01)\n"
		"      --max-events N      stop after N events (default: no limit)\n");
}

static int parse_ratio(const char *opt, const char *s, double *out)
{
	char *end;
	double v;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0.0 && v <= 1.0))
		return cd_opt_bad(opt, s, "0 … 1");
	*out = v;
	return 0;
}

enum { OPT_SEED = CD_OPT_OWN, OPT_FROM, OPT_YEARS, OPT_FORMAT, OPT_TICK_DAYS, OPT_LATE, OPT_DUP, OPT_MAX_EVENTS };

static const struct option longopts[] = {
	{ "citizens", required_argument, NULL, 'n' },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "years", required_argument, NULL, OPT_YEARS },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "output", required_argument, NULL, 'o' },
	{ "tick-days", required_argument, NULL, OPT_TICK_DAYS },
	{ "late-ratio", required_argument, NULL, OPT_LATE },
	{ "dup-ratio", required_argument, NULL, OPT_DUP },
	{ "max-events", required_argument, NULL, OPT_MAX_EVENTS },
	CD_OPT_HELP_LONGOPT,
	{ NULL, 0, NULL, 0 },
};

static int parse_option(void *ctx, int c, char *arg)
{
	synth_opts *o = ctx;
	long v;

	switch (c) {
	case 'n':
		return cd_opt_long("--citizens", arg, 1, 100000000, &o->citizens);
	case OPT_SEED:
		if (cd_opt_long("--seed", arg, 0, LONG_MAX, &v) < 0)
			return -1;
		o->seed = (uint64_t)v;
		return 0;
	case OPT_FROM:
		if (cd_date_parse(arg, strlen(arg), &o->from) < 0 || o->from < cd_date_from_ymd(1992, 1, 1) ||
		    o->from > cd_date_from_ymd(2080, 12, 31))
			return cd_opt_bad("--from", arg, "a date YYYY-MM-DD in 1992 … 2080");
		return 0;
	case OPT_YEARS:
		return cd_opt_long("--years", arg, 1, 10, &o->years);
	case OPT_FORMAT:
		return cd_opt_format("--format", arg, 0, &o->format);
	case 'o':
		o->output = arg;
		return 0;
	case OPT_TICK_DAYS:
		return cd_opt_long("--tick-days", arg, 0, 3650, &o->tick_days);
	case OPT_LATE:
		return parse_ratio("--late-ratio", arg, &o->late_ratio);
	case OPT_DUP:
		return parse_ratio("--dup-ratio", arg, &o->dup_ratio);
	case OPT_MAX_EVENTS:
		if (cd_opt_long("--max-events", arg, 1, LONG_MAX, &v) < 0)
			return -1;
		o->max_events = (uint64_t)v;
		return 0;
	default:
		return -1;
	}
}

static const cd_opt_cmd synth_cmd = { "n:o:h", longopts, parse_option, usage, 0 };

int cmd_synth(int argc, char **argv)
{
	synth_opts o = {
		.citizens = 1000, .seed = 1, .from = cd_date_from_ymd(2019, 1, 1), .years = 5,
		.format = CD_LOG_PB, .output = "-", .tick_days = 7, .late_ratio = 0.02, .dup_ratio = 0.01,
	};
	synth s;
	int rc, status = 1;

	if ((rc = cd_opt_parse(&synth_cmd, argc, argv, &o)) != 0)
		return rc > 0 ? 0 : 2;
	if (synth_init(&s, &o) < 0) {
		cd_log(CD_LOG_ERROR, "out of memory", NULL);
		goto out;
	}
	s.out = cd_opt_output_private(o.output);   /* citizen ids: 0600 */
	if (!s.out) {
		cd_log(CD_LOG_ERROR, "cannot open output", "output", o.output, "error", strerror(errno), NULL);
		goto out;
	}
	setvbuf(s.out, NULL, _IOFBF, (size_t)1 << 20);
	if (run(&s) < 0)
		goto out;
	if (fflush(s.out) != 0 || ferror(s.out)) {
		cd_log(CD_LOG_ERROR, "cannot write output", "output", o.output, "error", strerror(errno), NULL);
		goto out;
	}
	log_counts(&s);
	status = 0;
out:
	if (s.out && s.out != stdout && fclose(s.out) != 0 && status == 0) {
		cd_log(CD_LOG_ERROR, "cannot write output", "output", o.output, "error", strerror(errno), NULL);
		status = 1;
	}
	synth_release(&s);
	return status;
}
