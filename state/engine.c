/*
 * engine.c — the rules engine: apply and advance, and the outputs that say what changed.
 *
 * Design. Every evaluation starts from the citizen's whole ordered history:
 *
 *   history ──derive_periods──▶ periods (start, end, registered intervals,
 *                                opt-out and seasonal flags)
 *           ──live_conversations──▶ conversations that count (voids applied)
 *   periods × rulesets ──eval_*──▶ obligation instances at clock t, each with a
 *                                status, window, due date, held count, and the
 *                                instants at which it would change by itself
 *                                (breach, warning, opening)
 *   instances × emitted states ──diff──▶ outputs
 *
 * Nothing is incremental, so there is no incremental state to get wrong: late
 * and out-of-order inputs simply re-sort the history. The cost is a pass over
 * one citizen's history per input (tens of entries), which is what makes the
 * benchmark's numbers. That pass must stay linear in the history, because a
 * busy citizen's history is long (--max-events): conversation ids go through
 * a hash table, each obligation scans only the stretch of the date-ordered
 * conversations its window and period allow (cv_range), long stretches are
 * counted from per-filter lists (qlist), emitted states are found through an
 * index, and the cumulative clock is searched, not walked. Nothing in one
 * evaluation loops over the history inside a loop over periods or instances.
 *
 * Invariants. The clock only moves forward. The set of instances at t is a
 * function of (history, t), and grows with t. An emitted state exists for every
 * instance ever reported, and its `transitions` counts the outputs sent for it,
 * which numbers the output event ids (D27). A BREACHED state changes only by a
 * RETRACTED output (docs/spec/rules.md §6; D24).
 *
 * Compaction. A history would grow for as long as a citizen lives; what can
 * no longer change any output is folded away after each step (compact()).
 * A prefix of the history is folded when its periods have all ended, every
 * instance of them is final (MET, BREACHED, CANCELLED, LAPSED, decided), its
 * last business date is at least history_horizon_days before the clock, and
 * nothing kept can reach back into it: no kept period's anchors (start,
 * first contact, the input that started it) lie on or before that date, and
 * no kept conversation shares a conversation_id with a folded one. Periods
 * look back across nothing else (the cumulative clock is per dagpenge
 * period, carried in by prior_unemployment_days; a paused period has not
 * ended). The folded entries and their periods' emitted states are dropped;
 * the record keeps fold_until and the folded conversation ids' hashes, and
 * apply refuses what would need them: an input on or before fold_until
 * (a late one, or a duplicate of a folded one), one whose anchor dates are,
 * and a correction or void of a folded conversation. A folded period may be
 * ended by an entry that is kept (it starts the next period): then inputs up
 * to that entry's instant (fold_at) are refused too, since they would fall
 * inside the folded period.
 *
 * An idle citizen (nothing runs or is due) is given a timer at the instant
 * its last entry passes the horizon, so that a dormant record is folded too.
 *
 * Retention. Once no period runs or is paused and nothing else is due, the
 * citizen's next firing instant is the start of the day retention_days after
 * their last input (or folded date); when the clock reaches it the state is
 * cleared and marked retired, and the driver deletes the record.
 *
 * Scratch memory (periods, conversations, instances) belongs to the engine and
 * is reused across calls; nothing here allocates per input once warm.
 */
#include "state/engine.h"
#include "state/engine_int.h"

#include <assert.h>
#include <endian.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "util/sb.h"

#define T_MIN (INT64_MIN + 1)       /* the clock before a citizen's first input */

_Static_assert(CD_CANCEL_LAW_CHANGED == CD_OB_REASON_MAX, "citizen records check cancel reasons against this");
_Static_assert(CD_MEMBER_EXEMPTED == CD_OB_MEMBER_MAX, "citizen records check member outcomes against this");

void eng_oom(void)
{
	/* Scratch growth is bounded by the configured history limits; running out
	 * of memory there leaves no sane way on. */
	fprintf(stderr, "contactd: out of memory in the rules engine\n");
	abort();
}

void cd_engine_config_default(cd_engine_config *cfg)
{
	cfg->grace_days = 0;
	cfg->warn_lead_days = 7;
	cfg->max_events = 2000;
	cfg->max_obligations = 1000;
	cfg->law_transition = CD_LAW_PERIOD_START;
	cfg->history_horizon_days = 1096;
	cfg->retention_days = 1826;
}

const cd_engine_stats *cd_engine_stats_get(const cd_engine *e)
{
	return &e->stats;
}

cd_engine *cd_engine_new(const cd_rules *rules, const cd_engine_config *cfg)
{
	cd_engine *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->rules = rules;
	if (cfg)
		e->cfg = *cfg;
	else
		cd_engine_config_default(&e->cfg);
	return e;
}

void cd_engine_set_member_fn(cd_engine *e, cd_member_fn fn, void *ctx)
{
	e->member_fn = fn;
	e->member_ctx = ctx;
}

void cd_engine_free(cd_engine *e)
{
	if (!e)
		return;
	free(e->per);
	free(e->iv);
	free(e->ex);
	free(e->cv);
	free(e->in);
	free(e->counted);
	free(e->taken_nat);
	free(e->taken_cur);
	for (size_t i = 0; i < QLISTS; i++)
		free(e->ql[i].ix);
	free(e->tk);
	free(e->cs);
	free(e->cs_tab);
	free(e->cs_of);
	free(e->st);
	free(e->fh);
	free(e);
}

/* ---- emitted states and outputs ------------------------------------------- */

static const char *const dl_names[] = { "?", "OPENED", "UPDATED", "PAUSED", "WARNING", "MET", "CANCELLED",
					"LAPSED" };
static const char *const br_names[] = { "?", "BREACHED", "RETRACTED" };
static const char *const cancel_names[] = { "UNSPECIFIED", "BENEFIT_SHIFT", "DEREGISTERED", "PERIOD_ENDED",
					    "OPTED_OUT", "SUPERSEDED", "EXEMPTED", "LAW_CHANGED" };

#define N_NAMES(t) ((int)(sizeof(t) / sizeof((t)[0])))
_Static_assert(N_NAMES(dl_names) == CD_DL_LAPSED + 1, "a name per deadline status");
_Static_assert(N_NAMES(br_names) == CD_BR_RETRACTED + 1, "a name per breach status");
_Static_assert(N_NAMES(cancel_names) == CD_CANCEL_LAW_CHANGED + 1, "a name per cancel reason");

const char *cd_output_status_name(const cd_output *o)
{
	if (o->is_breach)
		return o->status >= 1 && o->status < N_NAMES(br_names) ? br_names[o->status] : "?";
	return o->status >= 1 && o->status < N_NAMES(dl_names) ? dl_names[o->status] : "?";
}

const char *cd_cancel_reason_name(int r)
{
	return r >= 0 && r < N_NAMES(cancel_names) ? cancel_names[r] : "?";
}

int cd_output_status_parse(const char *s, bool *is_breach)
{
	for (int i = 1; i < N_NAMES(dl_names); i++)
		if (!strcmp(s, dl_names[i])) {
			*is_breach = false;
			return i;
		}
	for (int i = 1; i < N_NAMES(br_names); i++)
		if (!strcmp(s, br_names[i])) {
			*is_breach = true;
			return i;
		}
	return -1;
}

int cd_cancel_reason_parse(const char *s)
{
	for (int i = 0; i < N_NAMES(cancel_names); i++)
		if (!strcmp(s, cancel_names[i]))
			return i;
	return -1;
}

typedef struct emitter {
	cd_engine *e;
	cd_citizen *c;
	const char *cid;
	const char *caused_by;
	cd_instant as_of;
	cd_output_fn fn;
	void *ctx;
	int failed;
} emitter;

/*
 * Eight lowercase hex digits of u, most significant first: its nibbles spread
 * one to a byte, then each byte made a digit at once ('0' + n, plus 39 more
 * from 'a' on). A digit at a time was a third of event_id.
 */
static void hex8(char *out, uint32_t u)
{
	uint64_t x = u;
	x = (x | x << 16) & UINT64_C(0x0000ffff0000ffff);
	x = (x | x << 8) & UINT64_C(0x00ff00ff00ff00ff);
	x = (x | x << 4) & UINT64_C(0x0f0f0f0f0f0f0f0f);            /* nibble i in byte i */
	x += UINT64_C(0x3030303030303030) +
	     (((x + UINT64_C(0x0606060606060606)) >> 4) & UINT64_C(0x0101010101010101)) * ('a' - '0' - 10);
	x = htobe64(x);                                              /* nibble 7 first */
	memcpy(out, &x, 8);
}

static void event_id(const emitter *em, const cd_obst *ob, int status, bool breach, char out[33])
{
	/* citizen \0 pstart(4) pkey(8) oid \0 transitions(4) status(1) breach(1), little-endian */
	uint8_t buf[2 * CD_MAX_ID_LEN + 160];
	const char *oid = cd_citizen_str(em->c, ob->oid_off);
	size_t n = 0, lc = strlen(em->cid), lo = strlen(oid);
	uint32_t ps, tr;
	uint64_t pk;
	XXH128_hash_t h;

	assert(lc <= CD_MAX_ID_LEN && lo <= CD_MAX_OBLIGATION_ID_LEN);
	memcpy(buf, em->cid, lc + 1);
	n = lc + 1;
	/* the integers stored whole, as little-endian words (byte loops were a tenth of this function) */
	ps = htole32((uint32_t)ob->pstart);
	memcpy(buf + n, &ps, 4);
	pk = htole64(ob->pkey);
	memcpy(buf + n + 4, &pk, 8);
	n += 12;
	memcpy(buf + n, oid, lo + 1);
	n += lo + 1;
	tr = htole32(ob->transitions);
	memcpy(buf + n, &tr, 4);
	n += 4;
	buf[n++] = (uint8_t)status;
	buf[n++] = breach;
	h = XXH3_128bits(buf, n);
	hex8(out, (uint32_t)(h.high64 >> 32));
	hex8(out + 8, (uint32_t)h.high64);
	hex8(out + 16, (uint32_t)(h.low64 >> 32));
	hex8(out + 24, (uint32_t)h.low64);
	out[32] = '\0';
}

static void explain(cd_engine *e, const cd_output *o, const char *desc, int basis)
{
	char d[CD_DATE_STRLEN];
	cd_sb b = cd_sb_on(e->explain, sizeof(e->explain));

	cd_sb_puts(&b, o->obligation_id);
	cd_sb_put(&b, " ", 1);
	cd_sb_puts(&b, cd_output_status_name(o));
	cd_sb_puts(&b, ": held ");
	cd_sb_int(&b, o->held);
	cd_sb_puts(&b, " of ");
	cd_sb_int(&b, o->required);
	if (o->window_start != CD_DATE_NONE && o->window_end != CD_DATE_NONE) {
		cd_sb_puts(&b, " in ");
		cd_sb_puts(&b, cd_date_format(o->window_start, d));
		cd_sb_puts(&b, " … ");
		cd_sb_puts(&b, cd_date_format(o->window_end, d));
	}
	if (o->due != CD_DATE_NONE) {
		cd_sb_puts(&b, ", due ");
		cd_sb_puts(&b, cd_date_format(o->due, d));
	} else
		cd_sb_puts(&b, ", no due date while paused or unknown");
	if (o->cancel_reason) {
		cd_sb_puts(&b, " (");
		cd_sb_puts(&b, cd_cancel_reason_name(o->cancel_reason));
		cd_sb_put(&b, ")", 1);
	}
	if (desc && *desc) {
		cd_sb_puts(&b, " — ");
		cd_sb_puts(&b, desc);
	}
	if (o->legal_ref && *o->legal_ref) {
		cd_sb_puts(&b, " (");
		cd_sb_puts(&b, o->legal_ref);
		cd_sb_put(&b, ")", 1);
	}
	if (basis) {
		cd_sb_puts(&b, "; ");
		cd_sb_puts(&b, cd_basis_words(basis));
	}
	if (o->aggregate_id && *o->aggregate_id) {
		cd_sb_puts(&b, "; counts toward ");
		cd_sb_puts(&b, o->aggregate_id);
		if (!o->is_breach && o->status == CD_DL_LAPSED)
			cd_sb_puts(&b, ", not a breach for this citizen");
	}
}

/*
 * The definition of emitted state ob when no instance says it (an obligation
 * that no longer exists, D7): by its id, less an instance suffix ("-3"). A
 * national obligation that an overlay enabled for its period makes a member
 * (frikommune-nordjylland, D21) is that overlay's copy, so that it still names
 * its aggregate; the period's seasonal flag is not kept, so either is tried.
 */
static const cd_obdef *state_def(const cd_engine *e, const cd_citizen *c, const cd_obst *ob, const cd_ruleset **rs)
{
	char base[CD_MAX_OBLIGATION_ID_LEN + 1];
	const cd_ruleset *set = NULL;
	const cd_obdef *def;

	snprintf(base, sizeof(base), "%s", cd_citizen_str(c, ob->oid_off));
	def = cd_rules_find_obligation(e->rules, base, &set);
	if (!def) {
		char *dash = strrchr(base, '-');
		if (dash) {
			*dash = '\0';
			def = cd_rules_find_obligation(e->rules, base, &set);
		}
	}
	if (def && set && !set->overlay && !def->aggregate[0]) {
		const cd_ruleset *ovl[CD_MAX_OVERLAYS];
		for (int seasonal = 0; seasonal < 2; seasonal++) {
			size_t n = cd_rules_overlays(e->rules, ob->muni, ob->benefit, ob->pstart, seasonal, ovl,
						     CD_MAX_OVERLAYS);
			const cd_obdef *m = cd_rules_national_member(ovl, n, def, ob->benefit);
			if (m) {
				def = m;
				break;
			}
		}
	}
	if (rs)
		*rs = set;
	return def;
}

/*
 * Sends one output about emitted state ob. `in` is the current instance, or
 * NULL for an obligation that no longer exists (D7). `when` overrides as_of.
 */
static void emit(emitter *em, cd_obst *ob, const inst *in, bool breach, int status, cd_instant when)
{
	cd_engine *e = em->e;
	cd_output o;
	const cd_obdef *def = in ? in->def : NULL;
	const cd_ruleset *rs = in ? in->rs : NULL;
	const char *oid = cd_citizen_str(em->c, ob->oid_off);
	const char *slash = strchr(oid, '/');

	if (em->failed)
		return;
	memset(&o, 0, sizeof(o));
	if (!def)
		def = state_def(e, em->c, ob, &rs);
	o.is_breach = breach;
	o.status = status;
	o.citizen_id = em->cid;
	o.muni = ob->muni;
	o.as_of = when != CD_INSTANT_NONE ? when : em->as_of;
	/* What the period is on at the output's instant (a merge renames it from its date on);
	 * a RETRACTED names what the breach it withdraws named. */
	if (in && !(breach && status == CD_BR_RETRACTED))
		ob->benefit = in->p->shown_from == CD_DATE_NONE ? in->p->benefit
								: eng_benefit_on(in->p, cd_cph_date(o.as_of));
	o.benefit = ob->benefit;
	{
		size_t rl = slash ? (size_t)(slash - oid) : 0;
		if (rl >= sizeof(o.ruleset_id))
			rl = sizeof(o.ruleset_id) - 1;
		memcpy(o.ruleset_id, oid, rl);
		o.ruleset_id[rl] = '\0';
	}
	o.ruleset_version = rs ? rs->version : 0;
	o.obligation_id = oid;
	o.definition_id = def ? def->id : oid;
	o.severity = def ? def->severity : 0;
	o.legal_ref = def ? def->legal_ref : "";
	o.breach_kind = def ? eng_kind_of(def->kind)->breach_kind : CD_KIND_DEADLINE;
	o.period_start = ob->pstart;
	o.window_start = ob->ws;
	o.window_end = ob->we;
	o.due = ob->due;
	o.required = ob->required;
	o.held = ob->held;
	o.cancel_reason = !breach && status == CD_DL_CANCELLED ? ob->reason : 0;
	if (in) {
		size_t n = in->n_cnt < MAX_COUNTED_LIST ? in->n_cnt : MAX_COUNTED_LIST;
		for (size_t i = 0; i < n; i++)
			e->cnt_ptrs[i] = cd_citizen_str(em->c, e->cv[e->counted[in->cnt0 + i]].id_off);
		o.counted = e->cnt_ptrs;
		o.n_counted = n;
	}
	o.caused_by = em->caused_by;
	o.aggregate_id = def ? def->aggregate : "";
	o.basis = def ? def->basis : 0;
	event_id(em, ob, status, breach, o.event_id);
	explain(e, &o, def ? def->description : "", o.basis);
	o.explanation = e->explain;
	ob->transitions++;
	if (em->fn && em->fn(em->ctx, &o) != 0)
		em->failed = 1;
}

static void copy_state(cd_obst *ob, const inst *in)
{
	ob->due = in->due;
	ob->ws = in->ws;
	ob->we = in->we;
	ob->required = in->req;
	ob->held = in->held;
	ob->reason = in->reason;
}

static bool state_differs(const cd_obst *ob, const inst *in)
{
	return ob->due != in->due || ob->ws != in->ws || ob->we != in->we || ob->held != in->held ||
	       ob->required != in->req;
}

/*
 * The emitted state of an instance. Instances come out of every evaluation in
 * nearly the order in which their states were created, so the state after
 * the previous match (*hint) is tried first. Otherwise a citizen with few
 * states is scanned; one with many has its states indexed by (period,
 * obligation id) in an open-addressing table built for the diff, so that a
 * long history does not make every miss cost a scan. A slot holds the
 * state's index + 1 in its low half and the key's hash in its high half
 * (0: empty).
 */
#define STATE_SCAN_MAX 64

static uint64_t state_key(uint64_t pkey, const char *oid)
{
	return XXH3_64bits_withSeed(oid, strlen(oid), pkey);
}

static bool state_is(const cd_citizen *c, const cd_obst *ob, uint64_t pkey, const char *oid)
{
	return ob->pkey == pkey && !strcmp(cd_citizen_str(c, ob->oid_off), oid);
}

static cd_obst *lookup_state(const cd_engine *e, cd_citizen *c, uint64_t pkey, const char *oid, uint64_t h)
{
	size_t mask = e->n_st - 1;
	uint32_t tag = (uint32_t)(h >> 32);
	for (size_t k = (size_t)h & mask; e->st[k]; k = (k + 1) & mask) {
		cd_obst *ob = &c->ob[(uint32_t)e->st[k] - 1];
		if ((uint32_t)(e->st[k] >> 32) == tag && state_is(c, ob, pkey, oid))
			return ob;
	}
	return NULL;
}

/* Files state i when the states are indexed (the first of equal keys wins, as a scan finds it). */
static void index_state(cd_engine *e, cd_citizen *c, size_t i)
{
	const cd_obst *ob = &c->ob[i];
	const char *oid = cd_citizen_str(c, ob->oid_off);
	uint64_t h;
	size_t mask = e->n_st - 1, k;
	if (!e->n_st)
		return;
	h = state_key(ob->pkey, oid);
	if (lookup_state(e, c, ob->pkey, oid, h))
		return;
	for (k = (size_t)h & mask; e->st[k]; k = (k + 1) & mask)
		;
	e->st[k] = (h & 0xffffffff00000000ULL) | (uint64_t)(i + 1);
}

/* Indexes the states when there are many: room for them and `more` new ones, at most half full. */
static void index_states(cd_engine *e, cd_citizen *c, size_t more)
{
	size_t n = 16;
	e->n_st = 0;
	if (c->n_ob + more <= STATE_SCAN_MAX)
		return;
	while (n < 2 * (c->n_ob + more))
		n <<= 1;
	if (n > e->cap_st) {
		free(e->st);
		if (!(e->st = malloc(n * sizeof(*e->st))))
			eng_oom();
		e->cap_st = n;
	}
	e->n_st = n;
	memset(e->st, 0, n * sizeof(*e->st));
	for (size_t i = 0; i < c->n_ob; i++)
		index_state(e, c, i);
}

static cd_obst *find_state(const cd_engine *e, cd_citizen *c, const inst *in, size_t *hint)
{
	cd_obst *ob = NULL;
	if (*hint < c->n_ob && state_is(c, &c->ob[*hint], in->p->pkey, in->oid))
		ob = &c->ob[*hint];
	else if (e->n_st)
		ob = lookup_state(e, c, in->p->pkey, in->oid, state_key(in->p->pkey, in->oid));
	else
		for (size_t i = 0; i < c->n_ob && !ob; i++)
			if (state_is(c, &c->ob[i], in->p->pkey, in->oid))
				ob = &c->ob[i];
	if (ob)
		*hint = (size_t)(ob - c->ob) + 1;
	return ob;
}

/* Checks the limit on obligation states before anything is said, so that a refusal changes nothing. */
static int check_room(emitter *em, cd_err *err)
{
	cd_engine *e = em->e;
	cd_citizen *c = em->c;
	size_t fresh = 0, hint = 0;

	index_states(e, c, e->n_in);
	for (size_t i = 0; i < e->n_in; i++)
		if (!find_state(e, c, &e->in[i], &hint))
			fresh++;
	if (c->n_ob + fresh > e->cfg.max_obligations)
		/* no citizen id in the message: it ends up in logs (the caller knows whose it is) */
		return cd_err_set(err, 0, "the citizen would have %zu obligation states, more than the limit of %zu "
				  "(limits.max_obligations_per_citizen)", c->n_ob + fresh, e->cfg.max_obligations);
	if (fresh && cd_citizen_reserve_obs(c, c->n_ob + fresh) < 0)
		eng_oom();
	return 0;
}

/* A new emitted state for in (room is reserved), said OPENED. NULL when the record is full. */
static cd_obst *open_state(emitter *em, const inst *in)
{
	cd_citizen *c = em->c;
	cd_obst *ob;
	uint32_t off;

	if (cd_citizen_intern(c, in->oid, strlen(in->oid), &off) < 0)
		return NULL;
	ob = &c->ob[c->n_ob++];
	memset(ob, 0, sizeof(*ob));
	ob->pkey = in->p->pkey;
	ob->pstart = in->p->start;
	ob->oid_off = off;
	ob->benefit = in->p->benefit;
	memcpy(ob->muni, in->p->muni, sizeof(ob->muni));
	ob->status = CD_OB_OPEN;
	copy_state(ob, in);
	ob->reason = 0;
	index_state(em->e, c, c->n_ob - 1);
	emit(em, ob, in, false, CD_DL_OPENED, CD_INSTANT_NONE);
	return ob;
}

/* Moves emitted state ob to in's status, saying what changed. A breach changes only by RETRACTED. */
static void transition(emitter *em, cd_obst *ob, const inst *in, bool opened_now)
{
	uint8_t prev = ob->status;

	if (prev == CD_OB_BREACHED) {
		if (in->status == CD_OB_BREACHED)
			return;
		copy_state(ob, in);
		emit(em, ob, in, true, CD_BR_RETRACTED, CD_INSTANT_NONE);
		prev = CD_OB_OPEN;
		ob->status = CD_OB_OPEN;
		if (in->status == CD_OB_OPEN) {
			emit(em, ob, in, false, CD_DL_UPDATED, CD_INSTANT_NONE);
			return;
		}
	}
	switch (in->status) {
	case CD_OB_OPEN:
	case CD_OB_PAUSED:
		if (prev == CD_OB_CANCELLED && ob->reason == CD_CANCEL_EXEMPTED) {
			/* An Exemption revoked in time: the member is OPENED again (rules.md §3.3). */
			copy_state(ob, in);
			emit(em, ob, in, false, CD_DL_OPENED, CD_INSTANT_NONE);
		} else if (prev != in->status && in->status == CD_OB_PAUSED) {
			copy_state(ob, in);
			emit(em, ob, in, false, CD_DL_PAUSED, CD_INSTANT_NONE);
		} else if (prev != in->status || (!opened_now && state_differs(ob, in))) {
			copy_state(ob, in);
			emit(em, ob, in, false, CD_DL_UPDATED, CD_INSTANT_NONE);
		}
		break;
	case CD_OB_MET:
		if (prev != CD_OB_MET) {
			copy_state(ob, in);
			emit(em, ob, in, false, CD_DL_MET, CD_INSTANT_NONE);
		}
		break;
	case CD_OB_CANCELLED:
		if (prev != CD_OB_CANCELLED) {
			copy_state(ob, in);
			emit(em, ob, in, false, CD_DL_CANCELLED, CD_INSTANT_NONE);
		}
		break;
	case CD_OB_LAPSED:
		if (prev != CD_OB_LAPSED) {
			copy_state(ob, in);
			emit(em, ob, in, false, CD_DL_LAPSED, CD_INSTANT_NONE);
		}
		break;
	case CD_OB_BREACHED:
		if (prev == CD_OB_MET) {
			copy_state(ob, in);
			emit(em, ob, in, false, CD_DL_UPDATED, CD_INSTANT_NONE);
		}
		copy_state(ob, in);
		emit(em, ob, in, true, CD_BR_BREACHED, in->breach_at);
		break;
	}
	ob->status = in->status;
	copy_state(ob, in);
}

/* The warnings of an open instance whose instants have come, each said once. */
static void warn(emitter *em, cd_obst *ob, const inst *in)
{
	cd_instant t = em->e->t;

	if (in->status != CD_OB_OPEN)
		return;
	if (in->warn_lead_at != CD_INSTANT_NONE && t >= in->warn_lead_at && !(ob->flags & CD_OF_WARNED_LEAD)) {
		ob->flags |= CD_OF_WARNED_LEAD;
		emit(em, ob, in, false, CD_DL_WARNING, in->warn_lead_at);
	}
	if (in->warn_pace_at != CD_INSTANT_NONE && t >= in->warn_pace_at && !(ob->flags & CD_OF_WARNED_PACE)) {
		ob->flags |= CD_OF_WARNED_PACE;
		emit(em, ob, in, false, CD_DL_WARNING, in->warn_pace_at);
	}
}

/*
 * Obligations that no longer exist (D7): retracted if breached, then cancelled
 * as SUPERSEDED. Returns how many of them were decided share members, which
 * leave their cohorts (members()).
 */
static size_t supersede_unseen(emitter *em)
{
	cd_citizen *c = em->c;
	size_t leaving = 0;

	for (size_t i = 0; i < c->n_ob; i++) {
		cd_obst *ob = &c->ob[i];
		if (ob->flags & CD_OF_SEEN)
			continue;
		leaving += ob->agg != 0;
		if (ob->status == CD_OB_BREACHED)
			emit(em, ob, NULL, true, CD_BR_RETRACTED, CD_INSTANT_NONE);
		if (ob->status != CD_OB_CANCELLED) {
			ob->status = CD_OB_CANCELLED;
			ob->reason = CD_CANCEL_SUPERSEDED;
			emit(em, ob, NULL, false, CD_DL_CANCELLED, CD_INSTANT_NONE);
		} else
			ob->reason = CD_CANCEL_SUPERSEDED;  /* already cancelled: say nothing twice (D7) */
	}
	return leaving;
}

/* ---- share members (rules.md §4.1) ---------------------------------------- */

/* The member's identity: citizen, period and obligation, as 32 hex digits. */
static void member_id(const emitter *em, const cd_obst *ob, char out[33])
{
	const char *oid = cd_citizen_str(em->c, ob->oid_off);
	XXH3_state_t *st = XXH3_createState();
	XXH128_hash_t h;
	uint8_t k[8];
	if (!st)
		eng_oom();
	for (int i = 0; i < 8; i++)
		k[i] = (uint8_t)(ob->pkey >> (8 * i));
	XXH3_128bits_reset(st);
	XXH3_128bits_update(st, em->cid, strlen(em->cid) + 1);
	XXH3_128bits_update(st, k, sizeof(k));
	XXH3_128bits_update(st, oid, strlen(oid) + 1);
	h = XXH3_128bits_digest(st);
	XXH3_freeState(st);
	for (int i = 0; i < 16; i++) {
		static const char hex[] = "0123456789abcdef";
		out[i] = hex[(h.high64 >> (60 - 4 * i)) & 15];
		out[16 + i] = hex[(h.low64 >> (60 - 4 * i)) & 15];
	}
	out[32] = '\0';
}

/*
 * The a-kasse a member's cohort is keyed by: the latest akasse_code the
 * period's inputs carried before its decision, or "unknown" (§4.1).
 */
static const char *akasse_key(const cd_engine *e, const inst *in)
{
	const cd_citizen *c = e->c;
	const period *p = in->p;
	size_t end = p->end_ev >= 0 ? (size_t)p->end_ev : c->n_ev;
	const char *key = "unknown";
	for (size_t i = (size_t)p->start_ev; i < end; i++) {
		const cd_hev *h = &c->ev[i];
		if (h->occurred >= in->decided_at)
			break;
		if ((h->kind == CD_EV_REGISTRATION || h->kind == CD_EV_BENEFIT_CHANGE) && h->akasse_off)
			key = cd_citizen_str(c, h->akasse_off);
	}
	return key;
}

static int say_member(emitter *em, cd_obst *ob, const cd_obdef *def, int outcome, cd_date due, int held,
		      int need, int benefit, const char *key, uint32_t key_hash)
{
	cd_engine *e = em->e;
	cd_member m;

	if (ob->agg == outcome && (!outcome || (ob->agg_due == due && ob->agg_held == held && ob->agg_key == key_hash)))
		return 0;
	/* A decided member whose key changes leaves its old cohort first, said as such:
	 * live, its old and new keys may be counted in different partitions of the
	 * aggregate stage, and only the old one knows it. */
	if (ob->agg && outcome && ob->agg_key != key_hash)
		say_member(em, ob, def, CD_MEMBER_UNDECIDED, CD_DATE_NONE, 0, 0, benefit, "", 0);
	ob->agg = (uint8_t)outcome;
	ob->agg_due = outcome ? due : CD_DATE_NONE;
	ob->agg_held = outcome ? held : 0;
	ob->agg_key = outcome ? key_hash : 0;
	memset(&m, 0, sizeof(m));
	member_id(em, ob, m.member_id);
	m.aggregate_id = def->aggregate;
	m.key_kind = def->agg_key;
	m.key = key;
	m.citizen_id = em->cid;
	m.obligation_id = cd_citizen_str(em->c, ob->oid_off);
	m.outcome = outcome;
	m.due = due;
	m.held = held;
	m.need = need;
	m.benefit = benefit;
	m.as_of = em->as_of;
	m.caused_by = em->caused_by;
	if (e->member_fn(e->member_ctx, &m) != 0)
		em->failed = 1;
	return 0;
}

/* Tells the aggregate stage what changed about the member `in` (emitted state ob). */
static void member_update(emitter *em, cd_obst *ob, const inst *in)
{
	cd_engine *e = em->e;
	int outcome = CD_MEMBER_UNDECIDED;
	const char *key = "";
	cd_date due = in->we != CD_DATE_NONE ? in->we : in->due;

	if (!e->member_fn || em->failed || !in->def->aggregate[0])
		return;
	if (in->decided_at != CD_INSTANT_NONE && e->t >= in->decided_at) {
		if (in->status == CD_OB_MET)
			outcome = CD_MEMBER_MET;
		else if (in->status == CD_OB_LAPSED)
			outcome = CD_MEMBER_LAPSED;
		else if (in->status == CD_OB_CANCELLED && in->reason == CD_CANCEL_EXEMPTED)
			outcome = CD_MEMBER_EXEMPTED;
	}
	if (outcome) {
		key = in->def->agg_key == CD_AGG_KEY_AKASSE ? akasse_key(e, in) : in->p->muni;
		if (!*key)
			key = "unknown";
	}
	/* A member of an AVERAGE owes its own count, which may differ between members (D21). */
	say_member(em, ob, in->def, outcome, due, in->held, outcome && in->def->agg_kind == CD_AGG_AVERAGE ? in->req : 0,
		   eng_benefit_on(in->p, cd_cph_date(in->decided_at == CD_INSTANT_NONE ? em->as_of : in->decided_at)),
		   key, outcome ? (uint32_t)XXH3_64bits(key, strlen(key)) : 0);
}

/*
 * What changed about the share members, after the step's outputs (engine.h):
 * each instance's outcome, then decided members that no longer exist, which
 * leave their cohorts.
 */
static void members(emitter *em, size_t leaving)
{
	cd_engine *e = em->e;
	cd_citizen *c = em->c;
	size_t hint = 0;

	if (!e->member_fn)
		return;
	for (size_t i = 0; i < e->n_in && e->n_member_in && !em->failed; i++) {
		const inst *in = &e->in[i];
		cd_obst *ob;
		if (!in->def->aggregate[0] || !(ob = find_state(e, c, in, &hint)))
			continue;
		member_update(em, ob, in);
	}
	for (size_t i = 0; i < c->n_ob && leaving && !em->failed; i++) {
		cd_obst *ob = &c->ob[i];
		const cd_obdef *def;
		if ((ob->flags & CD_OF_SEEN) || !ob->agg)
			continue;
		def = state_def(e, c, ob, NULL);
		if (def && def->aggregate[0])
			say_member(em, ob, def, CD_MEMBER_UNDECIDED, CD_DATE_NONE, 0, 0, ob->benefit, "", 0);
	}
}

/* Says what changed between the emitted states and the instances just evaluated. */
static int diff(emitter *em, cd_err *err)
{
	cd_engine *e = em->e;
	cd_citizen *c = em->c;
	size_t hint = 0;

	for (size_t i = 0; i < c->n_ob; i++)
		c->ob[i].flags &= (uint8_t)~CD_OF_SEEN;
	if (check_room(em, err) < 0)
		return -1;
	for (size_t i = 0; i < e->n_in; i++) {
		const inst *in = &e->in[i];
		cd_obst *ob = find_state(e, c, in, &hint);
		bool opened_now = !ob;

		if (!ob && !(ob = open_state(em, in)))
			return cd_err_set(err, 0, "the citizen's record is too large");
		ob->flags |= CD_OF_SEEN;
		transition(em, ob, in, opened_now);
		warn(em, ob, in);
	}
	members(em, supersede_unseen(em));
	if (em->failed)
		return cd_err_set(err, 0, "the output callback failed");
	return 0;
}

/* ---- history -------------------------------------------------------------- */

static int hev_cmp(const cd_citizen *c, const cd_hev *a, cd_instant occurred, const char *id)
{
	if (a->occurred != occurred)
		return a->occurred < occurred ? -1 : 1;
	return strcmp(cd_citizen_str(c, a->id_off), id);
}

static bool seen(const cd_citizen *c, const char *id, size_t len)
{
	for (size_t i = 0; i < c->n_ev; i++) {
		const cd_hev *h = &c->ev[i];
		const char *s;
		if (h->id_len != len)
			continue;
		s = cd_citizen_str(c, h->id_off);
		/* ids often share long prefixes: the last byte rules most out at once */
		if (s[len - 1] == id[len - 1] && !memcmp(s, id, len))
			return true;
	}
	return false;
}

/* Inserts ev in order. Returns its index. */
static int history_insert(cd_citizen *c, const cd_event *ev, cd_err *err)
{
	cd_hev h;
	size_t pos;
	const char *id;

	memset(&h, 0, sizeof(h));
	h.occurred = ev->occurred_at;
	h.date = cd_cph_date(ev->occurred_at);
	h.kind = (uint8_t)ev->kind;
	h.flags = (uint8_t)((ev->opt_out ? CD_HF_OPT_OUT : 0) | (ev->seasonal ? CD_HF_SEASONAL : 0) |
			    (ev->joint ? CD_HF_JOINT : 0) | (ev->voided ? CD_HF_VOIDED : 0) |
			    (ev->ends_dp ? CD_HF_ENDS_DP : 0) | (ev->municipal_course ? CD_HF_COURSE : 0) |
			    (ev->sick_short ? CD_HF_SICK_SHORT : 0) | (ev->revoked ? CD_HF_REVOKED : 0));
	h.scope = ev->scope;
	h.benefit = ev->benefit;
	h.category = ev->category;
	h.form = ev->form;
	h.held_by = ev->held_by;
	h.reason = ev->dereg_reason;
	memcpy(h.muni, ev->muni, sizeof(h.muni));
	h.first_contact = ev->first_contact;
	h.first_absence = ev->first_absence;
	h.dp_start = ev->dp_start;
	h.prior_days = ev->prior_days;
	h.id_len = (uint8_t)ev->event_id_len;
	if (cd_citizen_intern(c, ev->event_id, ev->event_id_len, &h.id_off) < 0 ||
	    (ev->kind == CD_EV_CONVERSATION && cd_citizen_intern(c, ev->conv_id, ev->conv_id_len, &h.conv_off) < 0) ||
	    (ev->akasse_code_len && cd_citizen_intern(c, ev->akasse_code, ev->akasse_code_len, &h.akasse_off) < 0))
		return cd_err_set(err, 0, "citizen record is too large");
	if (cd_citizen_reserve_events(c, c->n_ev + 1) < 0)
		eng_oom();
	id = cd_citizen_str(c, h.id_off);
	pos = c->n_ev;
	while (pos > 0 && hev_cmp(c, &c->ev[pos - 1], h.occurred, id) > 0)
		pos--;
	memmove(&c->ev[pos + 1], &c->ev[pos], (c->n_ev - pos) * sizeof(*c->ev));
	c->ev[pos] = h;
	c->n_ev++;
	return (int)pos;
}

/* ---- compaction and retention (see the opening comment) -------------------- */

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t conv_hash(const cd_citizen *c, const cd_hev *h)
{
	const char *id = cd_citizen_str(c, h->conv_off);
	return XXH3_64bits(id, strlen(id));
}

static bool inst_final(const inst *in, cd_instant t)
{
	if (in->status == CD_OB_OPEN || in->status == CD_OB_PAUSED)
		return false;
	return (in->decided_at == CD_INSTANT_NONE || in->decided_at <= t) &&
	       (in->breach_at == CD_INSTANT_NONE || in->breach_at <= t);
}

/* The earliest date a period's windows can start: its anchors. */
static cd_date period_reach(const period *p)
{
	cd_date d = p->start;
	if (p->first_contact != CD_DATE_NONE && p->first_contact < d)
		d = p->first_contact;
	if (p->input_date < d)
		d = p->input_date;
	if (p->first_reg < d)
		d = p->first_reg;
	return d;
}

/* Entry k, which ended the period before it, starts its own period the same way once that period is gone. */
static bool starts_alone(const cd_hev *h)
{
	return h->kind == CD_EV_REGISTRATION || h->kind == CD_EV_DEREGISTRATION ||
	       (h->kind == CD_EV_BENEFIT_CHANGE && h->category != CD_CATEGORY_NONE);
}

/* How many leading entries may be folded at t (after eng_evaluate at t): 0 when none. */
static size_t fold_point(cd_engine *e, const cd_citizen *c, cd_instant t)
{
	cd_date limit = cd_cph_date(t) - e->cfg.history_horizon_days;
	size_t k = 0, prev;

	while (k < c->n_ev && c->ev[k].date <= limit)
		k++;
	do {
		prev = k;
		while (k > 0 && k < c->n_ev && c->ev[k].date == c->ev[k - 1].date)
			k--;                                 /* a day is folded whole */
		if (!k)
			return 0;
		for (size_t pi = 0; pi < e->n_per && k; pi++) {
			const period *p = &e->per[pi];
			if ((size_t)p->start_ev < k) {
				if (p->end_ev < 0 || (size_t)p->end_ev > k ||
				    ((size_t)p->end_ev == k && (!starts_alone(&c->ev[k]) || c->ev[k].date > limit)))
					k = (size_t)p->start_ev;
			} else if (period_reach(p) <= c->ev[k - 1].date) {
				while (k > 0 && c->ev[k - 1].date >= period_reach(p))
					k--;
			}
		}
		for (size_t i = 0; i < e->n_in && k; i++)
			if ((size_t)e->in[i].p->start_ev < k && !inst_final(&e->in[i], t))
				k = (size_t)e->in[i].p->start_ev;
		if (k && k == prev) {
			/* no kept conversation may share an id with a folded one */
			size_t n = 0;
			if (GROW(e->fh, 0, e->cap_fh, k) < 0)
				eng_oom();
			for (size_t i = 0; i < k; i++)
				if (c->ev[i].kind == CD_EV_CONVERSATION)
					e->fh[n++] = conv_hash(c, &c->ev[i]);
			qsort(e->fh, n, sizeof(*e->fh), u64_cmp);
			for (size_t i = k; i < c->n_ev && n; i++) {
				uint64_t h;
				if (c->ev[i].kind != CD_EV_CONVERSATION)
					continue;
				h = conv_hash(c, &c->ev[i]);
				if (bsearch(&h, e->fh, n, sizeof(h), u64_cmp)) {
					for (size_t j = 0; j < k; j++)
						if (c->ev[j].kind == CD_EV_CONVERSATION && conv_hash(c, &c->ev[j]) == h) {
							k = j;
							break;
						}
					break;
				}
			}
		}
	} while (k != prev);
	return k;
}

/* Folds the first k entries and their periods' emitted states into the summary. */
static void fold(cd_engine *e, cd_citizen *c, size_t k)
{
	size_t kept = 0;

	c->fold_at = CD_INSTANT_NONE;
	for (size_t pi = 0; pi < e->n_per; pi++)
		if ((size_t)e->per[pi].start_ev < k && (size_t)e->per[pi].end_ev == k)
			c->fold_at = c->ev[k].occurred;   /* what lies before the kept end would still be that period's */
	for (size_t i = 0; i < k; i++)
		if (c->ev[i].kind == CD_EV_CONVERSATION && cd_citizen_fold_conv(c, conv_hash(c, &c->ev[i])) < 0)
			eng_oom();
	for (size_t i = 0; i < c->n_ob; i++) {
		bool gone = false;
		for (size_t pi = 0; pi < e->n_per && !gone; pi++)
			gone = (size_t)e->per[pi].start_ev < k && e->per[pi].pkey == c->ob[i].pkey;
		if (!gone)
			c->ob[kept++] = c->ob[i];
	}
	e->stats.folded_states += c->n_ob - kept;
	c->n_ob = kept;
	c->fold_until = c->ev[k - 1].date;
	c->n_folded += (uint32_t)k;
	memmove(c->ev, c->ev + k, (c->n_ev - k) * sizeof(*c->ev));
	c->n_ev -= k;
	e->stats.compactions++;
	e->stats.folded_events += k;
}

/* Folds what can be folded after an evaluation and diff at t; re-evaluates when it did. */
static void compact(cd_engine *e, cd_citizen *c, cd_instant t)
{
	size_t k;
	if (e->cfg.history_horizon_days <= 0 || !c->n_ev ||
	    c->ev[0].date > cd_cph_date(t) - e->cfg.history_horizon_days)
		return;
	k = fold_point(e, c, t);
	if (!k)
		return;
	fold(e, c, k);
	eng_evaluate(e, c, t);   /* the same instances less the folded ones: next_fire from what is kept */
}

/* When retention deletes c (after an evaluation at t): CD_INSTANT_NONE while anything runs or is due. */
static cd_instant expiry(const cd_engine *e, const cd_citizen *c)
{
	cd_date last = c->fold_until;
	if (e->cfg.retention_days <= 0 || e->next_fire != CD_INSTANT_NONE || (!c->n_ev && last == CD_DATE_NONE))
		return CD_INSTANT_NONE;
	for (size_t i = 0; i < e->n_per; i++)
		if (e->per[i].end_ev < 0)
			return CD_INSTANT_NONE;
	if (c->n_ev && (last == CD_DATE_NONE || c->ev[c->n_ev - 1].date > last))
		last = c->ev[c->n_ev - 1].date;
	return cd_cph_midnight(last + e->cfg.retention_days);
}

/*
 * When an idle citizen's history passes the horizon (after an evaluation at
 * t): nothing runs or is due, so no input or timer would step it there, and
 * a dormant record would keep what could be folded until retention.
 */
static cd_instant fold_due(const cd_engine *e, const cd_citizen *c, cd_instant t)
{
	cd_instant x;
	if (e->cfg.history_horizon_days <= 0 || !c->n_ev || e->next_fire != CD_INSTANT_NONE)
		return CD_INSTANT_NONE;
	for (size_t i = 0; i < e->n_per; i++)
		if (e->per[i].end_ev < 0)
			return CD_INSTANT_NONE;
	x = cd_cph_midnight(c->ev[c->n_ev - 1].date + e->cfg.history_horizon_days);
	return x > t ? x : CD_INSTANT_NONE;
}

static void retire(cd_engine *e, cd_citizen *c)
{
	cd_citizen_clear(c);
	c->retired = true;
	e->stats.retired++;
}

/* ---- the clock ------------------------------------------------------------ */

/* One evaluation and diff at t. 1 when retention deleted the citizen (only when may_retire). */
static int step(cd_engine *e, cd_citizen *c, const char *cid, cd_instant t, const char *caused_by,
		cd_instant as_of, bool may_retire, cd_output_fn fn, void *ctx, cd_err *err)
{
	emitter em = { e, c, cid, caused_by, as_of, fn, ctx, 0 };
	cd_instant x;
	eng_evaluate(e, c, t);
	if (diff(&em, err) < 0)
		return -1;
	compact(e, c, t);
	c->next_fire = e->next_fire;
	if ((x = expiry(e, c)) != CD_INSTANT_NONE) {
		if (x <= t && may_retire) {
			retire(e, c);
			return 1;
		}
		c->next_fire = x;        /* already past during an input (a late one): the next advance deletes */
	}
	if ((x = fold_due(e, c, t)) != CD_INSTANT_NONE && (c->next_fire == CD_INSTANT_NONE || x < c->next_fire))
		c->next_fire = x;
	return 0;
}

int cd_engine_advance(cd_engine *e, cd_citizen *c, const char *cid, cd_instant t, cd_output_fn fn,
		      void *ctx, cd_err *err)
{
	while (c->next_fire != CD_INSTANT_NONE && c->next_fire <= t) {
		cd_instant tf = c->next_fire;
		int r = step(e, c, cid, tf, "", tf, true, fn, ctx, err);
		if (r < 0)
			return -1;
		if (r > 0)
			break;
		if (c->clock == CD_INSTANT_NONE || tf > c->clock)
			c->clock = tf;
		assert(c->next_fire == CD_INSTANT_NONE || c->next_fire > tf);
	}
	if (c->clock == CD_INSTANT_NONE || t > c->clock)
		c->clock = t;
	return 0;
}

/* Whether ev needs history that was folded; err says why (no ids: the text reaches logs and dead letters). */
static int needs_folded(cd_engine *e, const cd_citizen *c, const cd_event *ev, cd_err *err)
{
	char d[CD_DATE_STRLEN];
	const char *what = NULL;

	if (c->fold_until == CD_DATE_NONE)
		return 0;
	if (cd_cph_date(ev->occurred_at) <= c->fold_until ||
	    (c->fold_at != CD_INSTANT_NONE && ev->occurred_at <= c->fold_at))
		what = "it occurred";
	else if (ev->first_contact != CD_DATE_NONE && ev->first_contact <= c->fold_until)
		what = "its first_contact_date is";
	else if (ev->first_absence != CD_DATE_NONE && ev->first_absence <= c->fold_until)
		what = "its first_absence_date is";
	else if (ev->dp_start != CD_DATE_NONE && ev->dp_start <= c->fold_until)
		what = "its dagpenge_period_start is";
	if (what) {
		e->stats.refused_folded++;
		return cd_err_set(err, 0, "the citizen's history through %s is folded (history-horizon) and %s on or "
				  "before that date: a late input or a duplicate of a folded one, not applied",
				  cd_date_format(c->fold_until, d), what);
	}
	if (ev->kind == CD_EV_CONVERSATION &&
	    cd_citizen_folded_conv(c, XXH3_64bits(ev->conv_id, ev->conv_id_len))) {
		e->stats.refused_folded++;
		return cd_err_set(err, 0, "the conversation it %s is in the citizen's folded history (history-horizon) "
				  "through %s, not applied", ev->voided ? "voids" : "corrects",
				  cd_date_format(c->fold_until, d));
	}
	return 0;
}

int cd_engine_apply(cd_engine *e, cd_citizen *c, const char *cid, const cd_event *ev, cd_output_fn fn,
		    void *ctx, cd_err *err)
{
	cd_instant t_prev = c->clock == CD_INSTANT_NONE ? T_MIN : c->clock;
	char idbuf[CD_MAX_ID_LEN + 1];
	int pos;

	if (ev->kind == CD_EV_CLOCK_TICK)
		return cd_engine_advance(e, c, cid, cd_event_time(ev), fn, ctx, err);
	if (seen(c, ev->event_id, ev->event_id_len))
		return 1;
	if (needs_folded(e, c, ev, err) < 0)
		return -1;
	if (c->n_ev >= e->cfg.max_events)
		return cd_err_set(err, 0, "the citizen's history is full: %zu events (limits.max_events_per_citizen); "
				  "event '%.*s' not applied", c->n_ev, (int)ev->event_id_len, ev->event_id);
	pos = history_insert(c, ev, err);
	if (pos < 0)
		return -1;
	c->retired = false;
	memcpy(idbuf, ev->event_id, ev->event_id_len);   /* validated: <= CD_MAX_ID_LEN */
	idbuf[ev->event_id_len] = '\0';
	if (step(e, c, cid, t_prev, idbuf, cd_event_time(ev), false, fn, ctx, err) < 0) {
		/* Refused (a limit): take the input back out, so the citizen is unchanged. */
		memmove(&c->ev[pos], &c->ev[pos + 1], (c->n_ev - (size_t)pos - 1) * sizeof(*c->ev));
		c->n_ev--;
		return -1;
	}
	return cd_engine_advance(e, c, cid, cd_event_time(ev), fn, ctx, err);
}
