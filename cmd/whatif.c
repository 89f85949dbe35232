/*
 * whatif.c — `contactd whatif`: one event log under two rule configurations,
 * A and B, and what differs at the end.
 *
 * A is configured by the usual engine options (cmd/opts.h), B by the same
 * options with a `--b-` prefix, each defaulting to A's value: so
 * `--overlays none --b-overlays frikommune-rebild@840` asks "what if Rebild
 * ran its experiment", `--b-law-transition commencement` "what if dk-2026
 * reached running courses". The log is read once; each decoded record goes to
 * two drivers (cmd/driver.h), each with its own engine and store, so a pipe
 * works as well as a file.
 *
 * What is compared is the final standing of every obligation instance: the
 * status each citizen's record says alerting services were last told (OPEN,
 * PAUSED, MET, BREACHED, LAPSED, CANCELLED with its reason), or that it was
 * never opened. An instance is (period, obligation id); the same log gives
 * both sides the same periods (decisions.md D70–D75). Nothing is kept per
 * output: the stores hold the records anyway, and the only extra memory per
 * citizen is its id, kept to walk the stores at the end (they cannot be
 * walked), in citizen-id order so that the report does not depend on the
 * log's order.
 *
 * The report: breaches and lapses by obligation and municipality under A and
 * B with their difference, then the citizens who differ (at most
 * --max-citizens of them, with the total) with a `contactd explain` line for
 * each side. Text, json or csv. Citizen ids appear in the report (stdout or
 * --output), never in the log.
 */
#include "cmd/commands.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cmd/driver.h"
#include "cmd/opts.h"
#include "proto/codec.h"
#include "proto/eventlog.h"
#include "proto/rules_json.h"
#include "util/log.h"
#include "util/pseudonym.h"

/* uthash: an allocation failure leaves the table as it was and sets the caller's `oom`. */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (oom = 1)
#include <uthash.h>

/* The engine options a side takes: CD_OPT_RULES … CD_OPT_LAW_TRANSITION, by offset. */
enum { N_ENG = CD_OPT_LAW_TRANSITION - CD_OPT_RULES + 1 };
static const char *const eng_names[N_ENG] = { "rules", "overlays-config", "overlays", "grace", "warn-days",
					      "max-events", "max-obligations", "max-record-bytes",
					      "law-transition" };
#define IS_READING(i) ((i) == CD_OPT_MAX_RECORD - CD_OPT_RULES)   /* one reader: A's only */

/* ---- the citizens seen: ids in an arena, an open-addressing set over them ------------ */

typedef struct idset {
	cd_buf arena;          /* NUL-terminated ids, back to back */
	uint64_t *slot;        /* offset + 1 into the arena; 0: empty */
	size_t cap, n;
} idset;

static int idset_grow(idset *s)
{
	size_t cap = s->cap ? s->cap * 2 : 1024;
	uint64_t *slot = calloc(cap, sizeof(*slot));

	if (!slot)
		return -1;
	for (size_t i = 0; i < s->cap; i++) {
		const char *id;
		size_t j;
		if (!s->slot[i])
			continue;
		id = s->arena.data + s->slot[i] - 1;
		for (j = XXH3_64bits(id, strlen(id)) & (cap - 1); slot[j]; j = (j + 1) & (cap - 1))
			;
		slot[j] = s->slot[i];
	}
	free(s->slot);
	s->slot = slot;
	s->cap = cap;
	return 0;
}

/* Adds id (len bytes, no NUL inside: validated). 0 / -1 (out of memory). */
static int idset_add(idset *s, const char *id, size_t len)
{
	size_t j;

	if ((s->n + 1) * 2 > s->cap && idset_grow(s) < 0)
		return -1;
	for (j = XXH3_64bits(id, len) & (s->cap - 1); s->slot[j]; j = (j + 1) & (s->cap - 1)) {
		const char *k = s->arena.data + s->slot[j] - 1;
		if (!strncmp(k, id, len) && !k[len])
			return 0;
	}
	s->slot[j] = (uint64_t)s->arena.len + 1;
	if (cd_buf_append(&s->arena, id, len) < 0 || cd_buf_putc(&s->arena, '\0') < 0) {
		s->slot[j] = 0;
		return -1;
	}
	s->n++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The ids in strcmp order (pointers into the arena; *out freed by the caller); frees the set's table. */
static const char **idset_sorted(idset *s)
{
	const char **v = malloc((s->n ? s->n : 1) * sizeof(*v));
	size_t k = 0;

	if (!v)
		return NULL;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slot[i])
			v[k++] = s->arena.data + s->slot[i] - 1;
	free(s->slot);
	s->slot = NULL;
	s->cap = 0;
	qsort(v, k, sizeof(*v), cmp_str);
	return v;
}

/* ---- the table: breaches and lapses by obligation and municipality -------------------- */

typedef struct row_key {
	char oid[CD_MAX_OBLIGATION_ID_LEN + 1];
	char muni[CD_MUNI_LEN + 1];
} row_key;

typedef struct row {
	row_key k;             /* zero-padded: hashed as bytes */
	long breaches[2], lapses[2];
	long citizens;         /* citizens for whom an instance of it differs */
	size_t last;           /* the citizen that last counted in `citizens` (1-based) */
	UT_hash_handle hh;
} row;

/* ---- one obligation instance's final standing on each side --------------------------- */

enum { NOT_OPENED = 0 };

typedef struct standing {
	int status;            /* enum cd_obstatus, or NOT_OPENED */
	int reason;            /* CD_CANCEL_*, for CANCELLED */
} standing;

typedef struct diff {
	const char *oid, *muni;
	cd_date pstart;
	standing s[2];
} diff;

static const char *status_name(int st)
{
	switch (st) {
	case CD_OB_OPEN: return "OPEN";
	case CD_OB_PAUSED: return "PAUSED";
	case CD_OB_MET: return "MET";
	case CD_OB_BREACHED: return "BREACHED";
	case CD_OB_CANCELLED: return "CANCELLED";
	case CD_OB_LAPSED: return "LAPSED";
	default: return "NOT_OPENED";
	}
}

static bool same(standing a, standing b)
{
	return a.status == b.status && (a.status != CD_OB_CANCELLED || a.reason == b.reason);
}

/* ---- options ------------------------------------------------------------------------- */

enum { FMT_TEXT, FMT_JSON, FMT_CSV };

enum { OPT_INPUT_FORMAT = CD_OPT_OWN, OPT_FORMAT, OPT_UNTIL, OPT_MAX_CITIZENS, OPT_ALL_ROWS,
       OPT_B = CD_OPT_OWN + 32 };   /* OPT_B + i: --b-<eng_names[i]> */

static const struct option longopts[] = {
	{ "input", required_argument, NULL, 'i' },
	{ "input-format", required_argument, NULL, OPT_INPUT_FORMAT },
	{ "output", required_argument, NULL, 'o' },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "until", required_argument, NULL, OPT_UNTIL },
	{ "max-citizens", required_argument, NULL, OPT_MAX_CITIZENS },
	{ "all-rows", no_argument, NULL, OPT_ALL_ROWS },
	CD_OPT_ENGINE_LONGOPTS,
	{ "b-rules", required_argument, NULL, OPT_B + CD_OPT_RULES - CD_OPT_RULES },
	{ "b-overlays-config", required_argument, NULL, OPT_B + CD_OPT_OVERLAYS_CONFIG - CD_OPT_RULES },
	{ "b-overlays", required_argument, NULL, OPT_B + CD_OPT_OVERLAYS - CD_OPT_RULES },
	{ "b-grace", required_argument, NULL, OPT_B + CD_OPT_GRACE - CD_OPT_RULES },
	{ "b-warn-days", required_argument, NULL, OPT_B + CD_OPT_WARN - CD_OPT_RULES },
	{ "b-max-events", required_argument, NULL, OPT_B + CD_OPT_MAX_EVENTS - CD_OPT_RULES },
	{ "b-max-obligations", required_argument, NULL, OPT_B + CD_OPT_MAX_OBLIGATIONS - CD_OPT_RULES },
	{ "b-law-transition", required_argument, NULL, OPT_B + CD_OPT_LAW_TRANSITION - CD_OPT_RULES },
	CD_OPT_LOG_LEVEL_LONGOPT,
	CD_OPT_HELP_LONGOPT,
	{ NULL, 0, NULL, 0 },
};

typedef struct whatif_opts {
	const char *input, *output, *in_fmt_arg;
	cd_log_format in_fmt;
	int format, all_rows;
	long max_citizens;
	const char *until_arg;
	cd_instant until;              /* CD_INSTANT_NONE: not given */
	cd_opt_engine eo[2];           /* A, B */
	const char *given[2][N_ENG];   /* the value typed for each engine option (B: --b-), else NULL */
} whatif_opts;

static int parse_option(void *ctx, int c, char *arg)
{
	whatif_opts *o = ctx;
	long v;

	switch (c) {
	case 'i':
		o->input = arg;
		return 0;
	case OPT_INPUT_FORMAT:
		o->in_fmt_arg = arg;
		return cd_opt_format("--input-format", arg, 1, &o->in_fmt);
	case 'o':
		o->output = arg;
		return 0;
	case OPT_FORMAT:
		if (!strcmp(arg, "text"))
			o->format = FMT_TEXT;
		else if (!strcmp(arg, "json"))
			o->format = FMT_JSON;
		else if (!strcmp(arg, "csv"))
			o->format = FMT_CSV;
		else
			return cd_opt_bad("--format", arg, "text, json or csv");
		return 0;
	case OPT_UNTIL:
		if (cd_opt_until(arg, &o->until) < 0)
			return -1;
		o->until_arg = arg;
		return 0;
	case OPT_MAX_CITIZENS:
		if (cd_opt_long("--max-citizens", arg, 0, 100000000, &v) < 0)
			return -1;
		o->max_citizens = v;
		return 0;
	case OPT_ALL_ROWS:
		o->all_rows = 1;
		return 0;
	}
	if (c >= CD_OPT_RULES && c <= CD_OPT_LAW_TRANSITION) {
		if (cd_opt_engine_option(&o->eo[0], c, arg) < 0)
			return -1;
		o->given[0][c - CD_OPT_RULES] = arg;
		return 0;
	}
	if (c >= OPT_B && c < OPT_B + N_ENG) {
		char name[48];
		int i = c - OPT_B;
		snprintf(name, sizeof(name), "--b-%s", eng_names[i]);
		if (cd_opt_engine_option_as(&o->eo[1], CD_OPT_RULES + i, arg, name) < 0)
			return -1;
		o->given[1][i] = arg;
		return 0;
	}
	return -1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: contactd whatif [options] [--b-OPTION VALUE …]\n"
		   "One event log under two rule configurations, A and B: the final standing of every obligation\n"
		   "(BREACHED, LAPSED, MET, …, or not opened) compared, by obligation and municipality and by citizen.\n"
		   "  -i, --input FILE         event log to read once; '-' is stdin (default '-')\n"
		   "      --input-format F     auto, json or pb (default auto)\n"
		   "  -o, --output FILE        where to write the report; '-' is stdout (default '-')\n"
		   "      --format F           text, json or csv (default text)\n"
		   "      --until TIMESTAMP    at the end, advance every citizen's clock to this RFC 3339 instant\n"
		   "      --max-citizens N     list at most N of the citizens who differ, by citizen id\n"
		   "                           (0 … 100000000, default 50); the total is always given\n"
		   "      --all-rows           also the obligations and municipalities whose figures are alike\n"
		   "A is configured by the engine options below; B by the same with a --b- prefix, each\n"
		   "defaulting to A's value:\n"
		   "      --b-rules DIR, --b-overlays-config F, --b-overlays SPEC, --b-grace DAYS, --b-warn-days DAYS,\n"
		   "      --b-max-events N, --b-max-obligations N, --b-law-transition T\n"
		   "  e.g. --overlays none --b-overlays frikommune-rebild@840\n"
		   "       --b-law-transition commencement\n"
		   "(--max-record-bytes reads the log, once, for both.)\n");
	cd_opt_engine_usage(f);
}

static const cd_opt_cmd whatif_cmd = { "i:o:h", longopts, parse_option, usage, 0 };

/* ---- the run ------------------------------------------------------------------------- */

typedef struct side {
	cd_engine *eng;
	cd_driver *drv;
	uint64_t refused;              /* inputs its driver refused (apply) */
	long breaches, lapses;         /* instances standing so at the end */
} side;

typedef struct whatif {
	whatif_opts *o;
	side s[2];
	idset ids;
	uint64_t records, skipped;     /* read; skipped for both (framing, decode, validate) */
	cd_citizen cit[2];
	size_t *ix[2], cap_ix[2];      /* the obligation states of cit[k], in instance order */
	diff *d;                       /* the current citizen's differences */
	size_t n_d, cap_d;
	row *rows;
	long differing;                /* citizens */
	FILE *out;
	char *argv_text[2];            /* each side's options as a command line would give them */
} whatif;

static int apply_both(whatif *w, const cd_event *ev, const char *event_id, const char *pos, cd_err *err)
{
	static const char *const names[2] = { "A", "B" };

	for (int k = 0; k < 2; k++) {
		if (cd_driver_apply(w->s[k].drv, ev, err) == 0)
			continue;
		if (cd_driver_failed(w->s[k].drv)) {
			cd_log(CD_LOG_ERROR, "what-if stopped", "side", names[k], "error", err->msg, NULL);
			return -1;
		}
		/* Each side may refuse what the other takes (its own limits): it says so and goes on. */
		w->s[k].refused++;
		cd_log(CD_LOG_WARN, "record skipped", "side", names[k], "input", w->o->input, "position", pos,
		       "event_id", event_id, "stage", "apply", "error", err->msg, NULL);
	}
	return 0;
}

/*
 * Every record of rd through both drivers; the citizens named are remembered.
 * -1 (logged) when the framing was lost, a driver failed or memory ran out.
 */
static int run(whatif *w, cd_log_reader *rd, cd_err *err)
{
	char pos[128];

	for (;;) {
		const uint8_t *data;
		size_t len;
		cd_log_status st = cd_log_reader_next_logged(rd, &data, &len, &w->records, &w->skipped, err);
		Contact__V1__CitizenEvent *msg = NULL;
		cd_event ev;
		cd_codec_stage stage;
		int rc = 0;

		if (st == CD_LOG_EOF)
			return 0;
		if (st == CD_LOG_LOST)
			return -1;
		cd_log_reader_position(rd, pos, sizeof(pos));
		if (cd_codec_decode_event(data, len, cd_log_reader_format(rd), &msg, &ev, &stage, err) < 0) {
			w->skipped++;
			if (msg && msg->citizen_id)      /* a text quoting the id (in any field) names its pseudonym */
				cd_pseudonym_scrub(NULL, err->msg, sizeof(err->msg), msg->citizen_id,
						   strlen(msg->citizen_id));
			cd_log(CD_LOG_WARN, "record skipped", "input", w->o->input, "position", pos, "event_id",
			       msg ? msg->event_id : "", "stage", cd_codec_stage_name(stage), "error", err->msg, NULL);
		} else if (ev.citizen_id_len && idset_add(&w->ids, ev.citizen_id, ev.citizen_id_len) < 0) {
			cd_log(CD_LOG_ERROR, "what-if stopped", "error", "out of memory for the citizens' ids", NULL);
			rc = -1;
		} else {
			rc = apply_both(w, &ev, msg->event_id, pos, err);
		}
		if (msg)
			protobuf_c_message_free_unpacked(&msg->base, NULL);
		if (rc < 0)
			return -1;
	}
}

/* Instance order: period start, period, obligation id; a and b of citizens ca and cb. */
static int cmp_pair(const cd_citizen *ca, const cd_obst *a, const cd_citizen *cb, const cd_obst *b)
{
	if (a->pstart != b->pstart)
		return a->pstart < b->pstart ? -1 : 1;
	if (a->pkey != b->pkey)
		return a->pkey < b->pkey ? -1 : 1;
	return strcmp(cd_citizen_str(ca, a->oid_off), cd_citizen_str(cb, b->oid_off));
}

static const cd_citizen *sort_cit;   /* qsort has no context argument; one thread */
static int cmp_instance(const void *pa, const void *pb)
{
	return cmp_pair(sort_cit, &sort_cit->ob[*(const size_t *)pa], sort_cit, &sort_cit->ob[*(const size_t *)pb]);
}

static int add_diff(whatif *w, const cd_citizen *c, const cd_obst *ob, standing a, standing b)
{
	diff *d;

	if (w->n_d == w->cap_d && cd_array_grow((void **)&w->d, &w->cap_d, w->n_d + 1, sizeof(*w->d)) < 0)
		return -1;
	d = &w->d[w->n_d++];
	d->oid = cd_citizen_str(c, ob->oid_off);
	d->muni = ob->muni;
	d->pstart = ob->pstart;
	d->s[0] = a;
	d->s[1] = b;
	return 0;
}

/*
 * Loads citizen `id` on both sides and fills w->d with the instances whose
 * standing differs (valid until the next call). 0 / -1 (a corrupt record).
 */
static int compare(whatif *w, const char *id, cd_err *err)
{
	size_t i = 0, j = 0, n[2];

	w->n_d = 0;
	for (int k = 0; k < 2; k++) {
		int rc = cd_driver_citizen(w->s[k].drv, id, &w->cit[k], err);
		if (rc < 0)
			return -1;
		if (rc == 0)
			cd_citizen_clear(&w->cit[k]);
		n[k] = w->cit[k].n_ob;
		if (n[k] > w->cap_ix[k] && cd_array_grow((void **)&w->ix[k], &w->cap_ix[k], n[k], sizeof(size_t)) < 0)
			return cd_err_set(err, 0, "out of memory");
		for (size_t x = 0; x < n[k]; x++)
			w->ix[k][x] = x;
		sort_cit = &w->cit[k];
		qsort(w->ix[k], n[k], sizeof(size_t), cmp_instance);
	}
	/* A merge of the two sorted lists: an instance on one side only was not opened on the other. */
	while (i < n[0] || j < n[1]) {
		const cd_obst *a = i < n[0] ? &w->cit[0].ob[w->ix[0][i]] : NULL;
		const cd_obst *b = j < n[1] ? &w->cit[1].ob[w->ix[1][j]] : NULL;
		int c = !a ? 1 : !b ? -1 : cmp_pair(&w->cit[0], a, &w->cit[1], b);
		standing sa = { NOT_OPENED, 0 }, sb = { NOT_OPENED, 0 };
		if (c <= 0)
			sa = (standing){ a->status, a->reason };
		if (c >= 0)
			sb = (standing){ b->status, b->reason };
		if (!same(sa, sb) && add_diff(w, c <= 0 ? &w->cit[0] : &w->cit[1], c <= 0 ? a : b, sa, sb) < 0)
			return cd_err_set(err, 0, "out of memory");
		i += c <= 0;
		j += c >= 0;
	}
	return 0;
}

static row *row_get(whatif *w, const char *oid, const char *muni)
{
	row_key k;
	row *r;
	int oom = 0;

	memset(&k, 0, sizeof(k));
	snprintf(k.oid, sizeof(k.oid), "%s", oid);
	snprintf(k.muni, sizeof(k.muni), "%s", muni);
	HASH_FIND(hh, w->rows, &k, sizeof(k), r);
	if (r)
		return r;
	if (!(r = calloc(1, sizeof(*r))))
		return NULL;
	r->k = k;
	HASH_ADD(hh, w->rows, k, sizeof(k), r);
	if (oom) {
		free(r);
		return NULL;
	}
	return r;
}

/* Counts citizen number `serial` (1-based) into the table and the totals. */
static int tally(whatif *w, size_t serial)
{
	for (int k = 0; k < 2; k++)
		for (size_t x = 0; x < w->cit[k].n_ob; x++) {
			const cd_obst *ob = &w->cit[k].ob[x];
			row *r;
			if (ob->status != CD_OB_BREACHED && ob->status != CD_OB_LAPSED)
				continue;
			if (!(r = row_get(w, cd_citizen_str(&w->cit[k], ob->oid_off), ob->muni)))
				return -1;
			if (ob->status == CD_OB_BREACHED) {
				r->breaches[k]++;
				w->s[k].breaches++;
			} else {
				r->lapses[k]++;
				w->s[k].lapses++;
			}
		}
	for (size_t x = 0; x < w->n_d; x++) {
		row *r = row_get(w, w->d[x].oid, w->d[x].muni);
		if (!r)
			return -1;
		if (r->last != serial) {
			r->last = serial;
			r->citizens++;
		}
	}
	if (w->n_d)
		w->differing++;
	return 0;
}

static int cmp_row(const row *a, const row *b)
{
	int c = strcmp(a->k.oid, b->k.oid);
	return c ? c : strcmp(a->k.muni, b->k.muni);
}

static bool row_differs(const row *r)
{
	return r->breaches[0] != r->breaches[1] || r->lapses[0] != r->lapses[1] || r->citizens;
}

/* ---- writing ------------------------------------------------------------------------- */

/* A word as a POSIX shell reads it back: bare when it is safe, else in single quotes. */
static void shell_word(cd_buf *b, const char *s)
{
	if (*s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-") == strlen(s)) {
		cd_buf_puts(b, s);
		return;
	}
	cd_buf_putc(b, '\'');
	for (; *s; s++)
		if (*s == '\'')
			cd_buf_puts(b, "'\\''");
		else
			cd_buf_putc(b, *s);
	cd_buf_putc(b, '\'');
}

/* Side k's engine options as typed (B: its --b- values, else A's), without the prefix. */
static char *side_options(const whatif_opts *o, int k)
{
	cd_buf b;

	cd_buf_init(&b, 1 << 16);
	for (int i = 0; i < N_ENG; i++) {
		const char *v = k && !IS_READING(i) && o->given[1][i] ? o->given[1][i] : o->given[0][i];
		if (!v)
			continue;
		if (b.len)
			cd_buf_putc(&b, ' ');
		cd_buf_printf(&b, "--%s ", eng_names[i]);
		shell_word(&b, v);
	}
	return b.data ? b.data : strdup("");   /* the buffer's memory becomes the caller's */
}

/* `contactd explain ID --input LOG …` for side k. */
static void explain_line(const whatif *w, int k, const char *id, cd_buf *b)
{
	const whatif_opts *o = w->o;

	cd_buf_reset(b);
	cd_buf_puts(b, "contactd explain ");
	shell_word(b, id);
	cd_buf_puts(b, " --input ");
	shell_word(b, strcmp(o->input, "-") ? o->input : "LOG");   /* stdin cannot be read again */
	if (o->in_fmt_arg) {
		cd_buf_puts(b, " --input-format ");
		shell_word(b, o->in_fmt_arg);
	}
	if (*w->argv_text[k]) {
		cd_buf_putc(b, ' ');
		cd_buf_puts(b, w->argv_text[k]);
	}
	if (o->until_arg) {
		cd_buf_puts(b, " --until ");
		shell_word(b, o->until_arg);
	}
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void csv_field(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static const char *signed_str(long v, char *buf)
{
	if (v)
		sprintf(buf, "%+ld", v);
	else
		strcpy(buf, "0");
	return buf;
}

static const char *standing_text(standing s, char *buf, size_t n)
{
	if (s.status == NOT_OPENED)
		snprintf(buf, n, "not opened");
	else if (s.status == CD_OB_CANCELLED)
		snprintf(buf, n, "CANCELLED (%s)", cd_cancel_reason_name(s.reason));
	else
		snprintf(buf, n, "%s", status_name(s.status));
	return buf;
}

/* The municipalities of the current citizen's differences, distinct, in their order. */
static void munis_of(const whatif *w, char *buf, size_t n, const char *sep)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t x = 0; x < w->n_d; x++) {
		bool seen = false;
		for (size_t y = 0; y < x && !seen; y++)
			seen = !strcmp(w->d[y].muni, w->d[x].muni);
		if (seen)
			continue;
		len += (size_t)snprintf(buf + len, len < n ? n - len : 0, "%s%s", len ? sep : "",
					*w->d[x].muni ? w->d[x].muni : "-");
		if (len >= n)
			return;
	}
}

static void write_header(const whatif *w)
{
	FILE *f = w->out;
	const char *input = w->o->input;
	char num[3][32];

	snprintf(num[0], sizeof(num[0]), "%llu", (unsigned long long)w->records);
	snprintf(num[1], sizeof(num[1]), "%llu", (unsigned long long)w->skipped);
	snprintf(num[2], sizeof(num[2]), "%zu", w->ids.n);
	switch (w->o->format) {
	case FMT_TEXT:
		fprintf(f, "what-if over %s: %s records (%s skipped), %s citizens\n", strcmp(input, "-") ? input : "stdin",
			num[0], num[1], num[2]);
		fprintf(f, "  A: %s\n  B: %s\n", *w->argv_text[0] ? w->argv_text[0] : "(the defaults)",
			*w->argv_text[1] ? w->argv_text[1] : "(the defaults)");
		if (w->o->until_arg)
			fprintf(f, "  both advanced to %s\n", w->o->until_arg);
		break;
	case FMT_JSON:
		fputs("{\"input\":", f);
		json_str(f, input);
		fprintf(f, ",\"records\":%s,\"skipped\":%s,\"citizens\":%s,\"until\":", num[0], num[1], num[2]);
		if (w->o->until_arg)
			json_str(f, w->o->until_arg);
		else
			fputs("null", f);
		fputs(",\"optionsA\":", f);
		json_str(f, w->argv_text[0]);
		fputs(",\"optionsB\":", f);
		json_str(f, w->argv_text[1]);
		fputs(",\n\"rows\":[", f);
		break;
	case FMT_CSV:
		fputs("record,obligation_id,municipality,breaches_a,breaches_b,breaches_diff,lapses_a,lapses_b,"
		      "lapses_diff,citizens,citizen_id,period_start,status_a,reason_a,status_b,reason_b\n", f);
		break;
	}
}

static void write_row(const whatif *w, const char *oid, const char *muni, const long br[2], const long la[2],
		      long citizens, bool total, bool first, int width)
{
	FILE *f = w->out;
	char d1[24], d2[24];

	switch (w->o->format) {
	case FMT_TEXT:
		fprintf(f, "%-*s %-5s %10ld %10ld %6s %9ld %9ld %6s %9ld\n", width, oid, muni, br[0], br[1],
			signed_str(br[1] - br[0], d1), la[0], la[1], signed_str(la[1] - la[0], d2), citizens);
		break;
	case FMT_JSON:
		if (total) {
			fputs(first ? "],\n\"total\":{" : "\n],\n\"total\":{", f);
		} else {
			fputs(first ? "\n{\"obligationId\":" : ",\n{\"obligationId\":", f);
			json_str(f, oid);
			fputs(",\"municipality\":", f);
			json_str(f, muni);
			fputc(',', f);
		}
		fprintf(f, "\"breachesA\":%ld,\"breachesB\":%ld,\"breachesDiff\":%ld,\"lapsesA\":%ld,\"lapsesB\":%ld,"
			   "\"lapsesDiff\":%ld,\"citizens\":%ld}", br[0], br[1], br[1] - br[0], la[0], la[1],
			la[1] - la[0], citizens);
		if (total)
			fputs(",\n", f);
		break;
	case FMT_CSV:
		fputs(total ? "total" : "row", f);
		fputc(',', f);
		csv_field(f, oid);
		fputc(',', f);
		csv_field(f, muni);
		fprintf(f, ",%ld,%ld,%ld,%ld,%ld,%ld,%ld,,,,,,\n", br[0], br[1], br[1] - br[0], la[0], la[1],
			la[1] - la[0], citizens);
		break;
	}
}

static void write_table(whatif *w)
{
	long br[2] = { w->s[0].breaches, w->s[1].breaches }, la[2] = { w->s[0].lapses, w->s[1].lapses };
	int width = (int)strlen("obligation");
	bool first = true;
	row *r, *tmp;

	HASH_SORT(w->rows, cmp_row);
	HASH_ITER(hh, w->rows, r, tmp)
		if ((w->o->all_rows || row_differs(r)) && (int)strlen(r->k.oid) > width)
			width = (int)strlen(r->k.oid);
	if (w->o->format == FMT_TEXT)
		fprintf(w->out, "\nbreaches and lapses by obligation and municipality%s\n%-*s %-5s %10s %10s %6s %9s "
				"%9s %6s %9s\n", w->o->all_rows ? "" : " (where A and B differ)", width, "obligation",
			"muni", "breaches A", "breaches B", "diff", "lapses A", "lapses B", "diff", "citizens");
	HASH_ITER(hh, w->rows, r, tmp) {
		if (!w->o->all_rows && !row_differs(r))
			continue;
		write_row(w, r->k.oid, *r->k.muni ? r->k.muni : "-", r->breaches, r->lapses, r->citizens, false, first,
			  width);
		first = false;
	}
	write_row(w, w->o->format == FMT_CSV ? "" : "total", "", br, la, w->differing, true, first, width);
}

/* The current citizen's differences, and how to explain them under each side. */
static void write_citizen(const whatif *w, const char *id, bool first, cd_buf *line)
{
	FILE *f = w->out;
	char munis[128], sa[64], sb[64], ps[CD_DATE_STRLEN];

	switch (w->o->format) {
	case FMT_TEXT:
		munis_of(w, munis, sizeof(munis), ",");
		fprintf(f, "%s (municipality %s)\n", id, munis);
		for (size_t x = 0; x < w->n_d; x++)
			fprintf(f, "  %s: %s under A, %s under B\n", w->d[x].oid,
				standing_text(w->d[x].s[0], sa, sizeof(sa)), standing_text(w->d[x].s[1], sb, sizeof(sb)));
		for (int k = 0; k < 2; k++) {
			explain_line(w, k, id, line);
			fprintf(f, "  under %c: %s\n", "AB"[k], line->data);
		}
		break;
	case FMT_JSON:
		fputs(first ? "\n{\"citizenId\":" : ",\n{\"citizenId\":", f);
		json_str(f, id);
		fputs(",\"obligations\":[", f);
		for (size_t x = 0; x < w->n_d; x++) {
			fputs(x ? ",{\"obligationId\":" : "{\"obligationId\":", f);
			json_str(f, w->d[x].oid);
			fputs(",\"municipality\":", f);
			json_str(f, w->d[x].muni);
			fprintf(f, ",\"periodStart\":\"%s\"", cd_date_format(w->d[x].pstart, ps));
			for (int k = 0; k < 2; k++) {
				fprintf(f, ",\"status%c\":\"%s\",\"reason%c\":", "AB"[k], status_name(w->d[x].s[k].status),
					"AB"[k]);
				if (w->d[x].s[k].status == CD_OB_CANCELLED)
					fprintf(f, "\"%s\"", cd_cancel_reason_name(w->d[x].s[k].reason));
				else
					fputs("null", f);
			}
			fputc('}', f);
		}
		fputc(']', f);
		for (int k = 0; k < 2; k++) {
			explain_line(w, k, id, line);
			fprintf(f, ",\"explain%c\":", "AB"[k]);
			json_str(f, line->data);
		}
		fputc('}', f);
		break;
	case FMT_CSV:
		for (size_t x = 0; x < w->n_d; x++) {
			fputs("citizen,", f);
			csv_field(f, w->d[x].oid);
			fputc(',', f);
			csv_field(f, w->d[x].muni);
			fputs(",,,,,,,,", f);
			csv_field(f, id);
			fprintf(f, ",%s", cd_date_format(w->d[x].pstart, ps));
			for (int k = 0; k < 2; k++)
				fprintf(f, ",%s,%s", status_name(w->d[x].s[k].status),
					w->d[x].s[k].status == CD_OB_CANCELLED ? cd_cancel_reason_name(w->d[x].s[k].reason)
									       : "");
			fputc('\n', f);
		}
		break;
	}
}

/* Pass 1 tallies every citizen; pass 2 writes the first --max-citizens who differ. */
static int report(whatif *w, cd_err *err)
{
	const char **ids = idset_sorted(&w->ids);
	long listed = 0;
	cd_buf line;
	int status = -1;

	cd_buf_init(&line, 1 << 20);
	if (!ids) {
		cd_err_set(err, 0, "out of memory");
		goto out;
	}
	for (size_t x = 0; x < w->ids.n; x++)
		if (compare(w, ids[x], err) < 0)
			goto out;
		else if (tally(w, x + 1) < 0) {
			cd_err_set(err, 0, "out of memory");
			goto out;
		}
	write_header(w);
	write_table(w);
	if (w->o->format == FMT_TEXT)
		fprintf(w->out, "\ncitizens who differ: %ld%s\n", w->differing,
			w->differing > w->o->max_citizens ? "" : w->differing ? " (all listed)" : "");
	if (w->o->format == FMT_TEXT && w->differing > w->o->max_citizens)
		fprintf(w->out, "(the first %ld by citizen id listed: --max-citizens)\n", w->o->max_citizens);
	if (w->o->format == FMT_JSON)
		fprintf(w->out, "\"citizensDiffering\":%ld,\"citizensListed\":%ld,\n\"differing\":[",
			w->differing, w->differing < w->o->max_citizens ? w->differing : w->o->max_citizens);
	for (size_t x = 0; x < w->ids.n && listed < w->o->max_citizens; x++) {
		if (compare(w, ids[x], err) < 0)
			goto out;
		if (!w->n_d)
			continue;
		write_citizen(w, ids[x], listed == 0, &line);
		listed++;
	}
	if (w->o->format == FMT_JSON)
		fputs("]}\n", w->out);
	status = 0;
out:
	free(ids);
	cd_buf_release(&line);
	return status;
}

/* The option that gave side k its value of engine option i (offset from CD_OPT_RULES): B's own --b-, else A's. */
static const char *given_by(const whatif_opts *o, int k, int i, char *buf, size_t n)
{
	snprintf(buf, n, "--%s%s", k && o->given[1][i] ? "b-" : "", eng_names[i]);
	return buf;
}

/* Loads side k's rules and engine; a refused value names the option that gave it. */
static int open_side(whatif_opts *o, int k, cd_engine **eng)
{
	enum { RU = CD_OPT_RULES - CD_OPT_RULES, OC = CD_OPT_OVERLAYS_CONFIG - CD_OPT_RULES,
	       OV = CD_OPT_OVERLAYS - CD_OPT_RULES };
	cd_opt_engine *eo = &o->eo[k];
	const char *name = k ? "B" : "A";
	char by[48];
	cd_err err = { "", 0 };

	if (cd_rules_load(eo->rules_dir, eo->overlays_config, &eo->rules, &err) < 0) {
		/* the directory or the overlay file: the one this side was given last by its own options */
		int i = (k ? o->given[1][OC] && !o->given[1][RU] : o->given[0][OC] && !o->given[0][RU]) ? OC : RU;
		cd_log(CD_LOG_ERROR, "cannot load the rules", "side", name, "option", given_by(o, k, i, by, sizeof(by)),
		       "rules", eo->rules_dir, "error", err.msg, NULL);
		return -1;
	}
	if (eo->overlays && cd_rules_set_overlays(eo->rules, eo->overlays, &err) < 0) {
		cd_log(CD_LOG_ERROR, "bad option value", "option", given_by(o, k, OV, by, sizeof(by)), "value",
		       eo->overlays, "error", err.msg, NULL);
		return -1;
	}
	if (!(*eng = cd_engine_new(eo->rules, &eo->cfg))) {
		cd_log(CD_LOG_ERROR, "cannot start", "side", name, "error", "out of memory", NULL);
		return -1;
	}
	return 0;
}

int cmd_whatif(int argc, char **argv)
{
	whatif_opts o;
	whatif w;
	cd_log_reader *rd = NULL;
	FILE *inf = NULL;
	cd_err err = { "", 0 };
	int status = 1, rc;
	char num[10][32];

	memset(&o, 0, sizeof(o));
	memset(&w, 0, sizeof(w));
	o.input = "-";
	o.output = "-";
	o.in_fmt = CD_LOG_AUTO;
	o.until = CD_INSTANT_NONE;
	o.max_citizens = 50;
	cd_opt_engine_init(&o.eo[0]);
	cd_opt_engine_init(&o.eo[1]);
	w.o = &o;
	cd_buf_init(&w.ids.arena, (size_t)8 << 30);
	cd_citizen_init(&w.cit[0]);
	cd_citizen_init(&w.cit[1]);

	if ((rc = cd_opt_parse(&whatif_cmd, argc, argv, &o)) != 0) {
		status = rc > 0 ? 0 : 1;
		goto out;
	}
	/* B takes every engine option it was not given from A. */
	for (int i = 0; i < N_ENG; i++)
		if (o.given[0][i] && !o.given[1][i])
			cd_opt_engine_option(&o.eo[1], CD_OPT_RULES + i, o.given[0][i]);
	w.argv_text[0] = side_options(&o, 0);
	w.argv_text[1] = side_options(&o, 1);
	if (!w.argv_text[0] || !w.argv_text[1])
		goto out;
	for (int k = 0; k < 2; k++) {
		if (open_side(&o, k, &w.s[k].eng) < 0)
			goto out;
		if (!(w.s[k].drv = cd_driver_new(w.s[k].eng, o.eo[k].rules, &o.eo[k].cfg,
						 (cd_driver_sink){ NULL, NULL, NULL }))) {
			cd_log(CD_LOG_ERROR, "cannot start", "error", "out of memory", NULL);
			goto out;
		}
	}
	if (!strcmp(w.argv_text[0], w.argv_text[1]))
		cd_log(CD_LOG_WARN, "A and B are configured alike: nothing can differ", NULL);
	inf = strcmp(o.input, "-") ? fopen(o.input, "rb") : stdin;
	if (!inf) {
		cd_log(CD_LOG_ERROR, "cannot open input", "input", o.input, "error", strerror(errno), NULL);
		goto out;
	}
	w.out = cd_opt_output_private(o.output);   /* citizen ids: 0600 */
	if (!w.out) {
		cd_log(CD_LOG_ERROR, "cannot open output", "output", o.output, "error", strerror(errno), NULL);
		goto out;
	}
	if (!(rd = cd_log_reader_new(inf, o.input, o.in_fmt, o.eo[0].max_record)))
		goto out;
	if (run(&w, rd, &err) < 0)
		goto out;
	for (int k = 0; o.until != CD_INSTANT_NONE && k < 2; k++)
		if (cd_driver_advance_all(w.s[k].drv, o.until, &err) < 0) {
			cd_log(CD_LOG_ERROR, "advancing to --until failed", "side", k ? "B" : "A", "error", err.msg, NULL);
			goto out;
		}
	if (report(&w, &err) < 0) {
		cd_log(CD_LOG_ERROR, "cannot compare", "error", err.msg, NULL);
		goto out;
	}
	if (fflush(w.out) != 0 || ferror(w.out)) {
		cd_log(CD_LOG_ERROR, "cannot write output", "output", o.output, "error", strerror(errno), NULL);
		goto out;
	}
	snprintf(num[0], sizeof(num[0]), "%llu", (unsigned long long)w.records);
	snprintf(num[1], sizeof(num[1]), "%llu", (unsigned long long)w.skipped);
	snprintf(num[2], sizeof(num[2]), "%zu", w.ids.n);
	snprintf(num[3], sizeof(num[3]), "%ld", w.differing);
	snprintf(num[4], sizeof(num[4]), "%ld", w.s[0].breaches);
	snprintf(num[5], sizeof(num[5]), "%ld", w.s[1].breaches);
	snprintf(num[6], sizeof(num[6]), "%ld", w.s[0].lapses);
	snprintf(num[7], sizeof(num[7]), "%ld", w.s[1].lapses);
	snprintf(num[8], sizeof(num[8]), "%llu", (unsigned long long)w.s[0].refused);
	snprintf(num[9], sizeof(num[9]), "%llu", (unsigned long long)w.s[1].refused);
	cd_log(CD_LOG_INFO, "what-if done", "records", num[0], "skipped", num[1], "refused_a", num[8], "refused_b",
	       num[9], "citizens", num[2], "citizens_differing", num[3], "breaches_a", num[4], "breaches_b", num[5],
	       "lapses_a", num[6], "lapses_b", num[7], NULL);
	status = 0;
out:
	cd_log_reader_free(rd);
	if (inf && inf != stdin)
		fclose(inf);
	if (w.out && w.out != stdout)
		fclose(w.out);
	for (int k = 0; k < 2; k++) {
		cd_driver_free(w.s[k].drv);
		cd_engine_free(w.s[k].eng);
		cd_opt_engine_release(&o.eo[k]);
		cd_citizen_release(&w.cit[k]);
		free(w.ix[k]);
		free(w.argv_text[k]);
	}
	{
		row *r, *tmp;
		HASH_ITER(hh, w.rows, r, tmp) {
			HASH_DEL(w.rows, r);
			free(r);
		}
	}
	free(w.d);
	free(w.ids.slot);
	cd_buf_release(&w.ids.arena);
	return status;
}
