/*
 * mkseeds.c — writes the seed corpora of the fuzz harnesses from the
 * project's own code, so that the seeds are what contactd really reads and
 * writes (tests/fuzz/seeds.sh runs it; nothing it writes is committed).
 *
 *   mkseeds split LOG DIR
 *       every record of an event log (binary or JSON lines) as one file:
 *       the inputs of the event decoders, as a Kafka message holds them.
 *   mkseeds replay RULES_DIR LOG CITIZEN_DIR OUTBOX_DIR
 *       replays LOG through the driver (cmd/driver.h) and writes every
 *       citizen's record as the store holds it, and outbox entries made the
 *       way the processor makes them (batch.c) around the outputs produced.
 *   mkseeds limits DIR
 *       citizen records built at the limits the decoder enforces: every
 *       field at its largest value and string length, the most history
 *       entries the options allow, the most obligation states by default,
 *       and records of the largest size the arena takes (and one byte more).
 *
 * Each file written is checked against its decoder first (except the one
 * meant to be refused), so a seed is never silently a rejected input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd/driver.h"
#include "consumer/outbox.h"
#include "proto/codec.h"
#include "proto/eventlog.h"
#include "proto/rules_json.h"
#include "state/citizen.h"
#include "state/engine.h"
#include "util/log.h"

#define ARENA_MAX ((size_t)16 << 20)   /* state/citizen.c: decoding reserves twice a record's size in it */

static void die(const char *what, const char *why)
{
	fprintf(stderr, "mkseeds: %s: %s\n", what, why);
	exit(1);
}

static void write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "wb")) || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		die(path, strerror(errno));
}

static void make_dir(const char *dir)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		die(dir, strerror(errno));
}

/* ---- split ------------------------------------------------------------------ */

static int split(const char *log, const char *dir)
{
	FILE *f = fopen(log, "rb");
	cd_log_reader *rd = NULL;
	const uint8_t *data;
	size_t len;
	cd_err err;
	cd_log_status st;
	unsigned n = 0;
	char name[32];

	if (!f)
		die(log, strerror(errno));
	if (!(rd = cd_log_reader_new(f, log, CD_LOG_AUTO, (size_t)1 << 20)))
		die(log, "out of memory");
	make_dir(dir);
	while ((st = cd_log_reader_next(rd, &data, &len, &err)) != CD_LOG_EOF) {
		if (st != CD_LOG_RECORD)
			die(log, err.msg);
		snprintf(name, sizeof(name), "rec-%05u", n++);
		write_file(dir, name, data, len);
	}
	cd_log_reader_free(rd);
	fclose(f);
	printf("mkseeds: %u records of %s in %s\n", n, log, dir);
	return 0;
}

/* ---- replay ----------------------------------------------------------------- */

typedef struct seen {
	char **ids;
	size_t n;
	const char *outbox_dir;
	cd_buf val, entry;
	unsigned n_entries, n_outputs;
} seen;

static void outbox_file(seen *s)
{
	char name[32];
	cd_outbox_entry e;
	if (cd_outbox_parse((const uint8_t *)s->entry.data, s->entry.len, &e) < 0)
		die("outbox entry", "the parser refuses what cd_outbox_begin wrote");
	snprintf(name, sizeof(name), "entry-%05u", s->n_entries++);
	write_file(s->outbox_dir, name, s->entry.data, s->entry.len);
}

/* Each output: its citizen remembered, and an outbox entry as batch.c writes one (every fifth). */
static int on_output(void *ctx, const cd_output *o)
{
	seen *s = ctx;
	cd_err err;
	size_t i;

	for (i = 0; i < s->n && strcmp(s->ids[i], o->citizen_id); i++)
		;
	if (i == s->n) {
		char **nn = realloc(s->ids, (s->n + 1) * sizeof(*nn));
		if (!nn || !(nn[s->n] = strdup(o->citizen_id)))
			die("replay", "out of memory");
		s->ids = nn;
		s->n++;
	}
	if (s->n_entries >= 200 || s->n_outputs++ % 5 != 0)
		return 0;
	cd_buf_reset(&s->val);
	if (cd_codec_output_append(o, CD_LOG_PB, 0, &s->val, &err) < 0)
		die("output", err.msg);
	if (cd_outbox_begin(&s->entry, o->is_breach ? CD_OUTBOX_BREACH : CD_OUTBOX_DEADLINE, o->citizen_id,
			    strlen(o->citizen_id), s->val.data, s->val.len, 0) < 0)
		die("outbox entry", "too large");
	outbox_file(s);
	return 0;
}

/* A dead letter with the headers batch.c gives one, the long form (digest of a cut payload). */
static void dead_letters(seen *s)
{
	static const char *const names[] = { "__connect.errors.topic", "__connect.errors.partition",
					     "__connect.errors.offset", "__connect.errors.stage",
					     "__connect.errors.exception.message", "contactd.errors.original.length",
					     "contactd.errors.original.xxh3-128" };
	static const char *const vals[] = { "contact.events.v1", "3", "4711", "validate",
					    "field 'registration.benefit': unknown enum value 'BENEFIT_X'", "2000000",
					    "0123456789abcdef0123456789abcdef" };
	static const uint8_t payload[] = { 0x0a, 0x03, 'e', '-', '1', 0x12, 0x02, 'c', '1' };
	for (size_t nh = 5; nh <= 7; nh += 2) {
		if (cd_outbox_begin(&s->entry, CD_OUTBOX_DLQ, "c1", 2, payload, sizeof(payload), nh) < 0)
			die("outbox entry", "too large");
		for (size_t i = 0; i < nh; i++)
			if (cd_outbox_header(&s->entry, names[i], vals[i], strlen(vals[i])) < 0)
				die("outbox entry", "header too large");
		outbox_file(s);
	}
	/* No key (a watermark to every partition), and an empty key: different entries. */
	if (cd_outbox_begin(&s->entry, CD_OUTBOX_MEMBERS_ALL, NULL, 0, payload, sizeof(payload), 0) < 0)
		die("outbox entry", "too large");
	outbox_file(s);
	if (cd_outbox_begin(&s->entry, CD_OUTBOX_AGGREGATE, "", 0, payload, sizeof(payload), 0) < 0)
		die("outbox entry", "too large");
	outbox_file(s);
	/* Version 0, before the version byte (still read): the same bytes without 0xF1. */
	if (cd_outbox_begin(&s->entry, CD_OUTBOX_MEMBER, "kommune:101", 11, payload, sizeof(payload), 1) < 0 ||
	    cd_outbox_header(&s->entry, "a", "b", 1) < 0)
		die("outbox entry", "too large");
	memmove(s->entry.data, s->entry.data + 1, --s->entry.len);
	outbox_file(s);
}

static int replay(const char *rules_dir, const char *log, const char *cit_dir, const char *outbox_dir)
{
	cd_rules *rules = NULL;
	cd_engine *eng = NULL;
	cd_engine_config cfg;
	cd_driver *drv = NULL;
	cd_log_reader *rd = NULL;
	cd_citizen c;
	cd_buf rec;
	cd_err err;
	seen s = { .outbox_dir = outbox_dir };
	FILE *f = fopen(log, "rb");
	char name[32];

	if (!f)
		die(log, strerror(errno));
	if (cd_rules_load(rules_dir, NULL, &rules, &err) < 0)
		die(rules_dir, err.msg);
	cd_engine_config_default(&cfg);
	/* a short horizon: records holding a summary of folded history (format 4) are seeds too */
	cfg.history_horizon_days = 60;
	if (!(eng = cd_engine_new(rules, &cfg)) ||
	    !(drv = cd_driver_new(eng, rules, &cfg, (cd_driver_sink){ on_output, NULL, &s })) ||
	    !(rd = cd_log_reader_new(f, log, CD_LOG_AUTO, (size_t)1 << 20)))
		die("replay", "out of memory");
	make_dir(cit_dir);
	make_dir(outbox_dir);
	cd_buf_init(&s.val, (size_t)1 << 20);
	cd_buf_init(&s.entry, (size_t)2 << 20);
	if (cd_driver_run(drv, rd, log, &err) < 0)
		die(log, err.msg);
	dead_letters(&s);

	cd_citizen_init(&c);
	cd_buf_init(&rec, (size_t)64 << 20);
	for (size_t i = 0; i < s.n; i++) {
		if (cd_driver_citizen(drv, s.ids[i], &c, &err) != 1)
			die("citizen record", err.msg);
		cd_buf_reset(&rec);
		if (cd_citizen_encode(&c, &rec) < 0)
			die("citizen record", "too large");
		snprintf(name, sizeof(name), "citizen-%05zu", i);
		write_file(cit_dir, name, rec.data, rec.len);
		free(s.ids[i]);
	}
	printf("mkseeds: %zu citizen records in %s, %u outbox entries in %s\n", s.n, cit_dir, s.n_entries,
	       outbox_dir);
	free(s.ids);
	cd_buf_release(&rec);
	cd_citizen_release(&c);
	cd_buf_release(&s.val);
	cd_buf_release(&s.entry);
	cd_log_reader_free(rd);
	fclose(f);
	cd_driver_free(drv);
	cd_engine_free(eng);
	cd_rules_free(rules);
	return 0;
}

/* ---- limits ----------------------------------------------------------------- */

/* A string of exactly n bytes: a prefix, then a letter repeated (ids are any non-empty text). */
static const char *str_of(char *buf, size_t n, char fill, unsigned k)
{
	size_t p = (size_t)snprintf(buf, n + 1, "%u-", k);
	if (p < n)
		memset(buf + p, fill, n - p);
	buf[n] = '\0';
	return buf;
}

static void intern(cd_citizen *c, const char *s, uint32_t *off)
{
	if (cd_citizen_intern(c, s, strlen(s), off) < 0)
		die("limits", "arena full");
}

/* History entry k: of `kind`, every field at its largest value, strings at their longest. */
static void add_event(cd_citizen *c, int kind, unsigned k, cd_instant t)
{
	char id[CD_MAX_ID_LEN + 1];
	cd_hev *e;
	if (cd_citizen_reserve_events(c, c->n_ev + 1) < 0)
		die("limits", "out of memory");
	e = &c->ev[c->n_ev++];
	memset(e, 0, sizeof(*e));
	e->occurred = t;
	e->date = cd_cph_date(t);
	e->kind = (uint8_t)kind;
	e->flags = 0xff;
	intern(c, str_of(id, CD_MAX_ID_LEN, 'e', k), &e->id_off);
	e->id_len = CD_MAX_ID_LEN;
	e->first_contact = e->first_absence = e->dp_start = CD_DATE_NONE;
	switch (kind) {
	case CD_EV_REGISTRATION:
	case CD_EV_BENEFIT_CHANGE:
		e->benefit = CD_BENEFIT_MAX;
		e->category = CD_CATEGORY_MAX;
		strcpy(e->muni, "9999");
		e->first_contact = CD_EVENT_MAX_DATE;
		e->first_absence = CD_EVENT_MIN_DATE;
		e->dp_start = CD_EVENT_MAX_DATE;
		e->prior_days = CD_MAX_PRIOR_DAYS;
		intern(c, str_of(id, CD_MAX_AKASSE_LEN, 'A', k), &e->akasse_off);
		break;
	case CD_EV_EXEMPTION:
		e->scope = CD_SCOPE_MAX;
		break;
	case CD_EV_DEREGISTRATION:
		e->reason = CD_DEREG_MAX;
		break;
	case CD_EV_CONVERSATION:
		intern(c, str_of(id, CD_MAX_ID_LEN, 'v', k), &e->conv_off);
		e->form = CD_FORM_MAX;
		e->held_by = CD_HELD_MAX;
		break;
	}
}

/* Obligation state k, every field at its largest value the decoder takes. */
static void add_ob(cd_citizen *c, unsigned k)
{
	char id[CD_MAX_OBLIGATION_ID_LEN + 1];
	cd_obst *o;
	if (cd_citizen_reserve_obs(c, c->n_ob + 1) < 0)
		die("limits", "out of memory");
	o = &c->ob[c->n_ob++];
	memset(o, 0, sizeof(*o));
	o->pkey = UINT64_MAX - k;
	o->pstart = 3000000;            /* citizen.c OB_DATE_MAX */
	intern(c, str_of(id, CD_MAX_OBLIGATION_ID_LEN, 'o', k), &o->oid_off);
	o->status = CD_OB_LAPSED;
	o->reason = CD_OB_REASON_MAX;
	o->flags = 0x7f;
	o->benefit = CD_BENEFIT_MAX;
	strcpy(o->muni, "9999");
	o->due = 3000000;
	o->ws = -1000000;               /* citizen.c OB_DATE_MIN */
	o->we = 3000000;
	o->required = CD_MAX_REQUIRED;
	o->held = INT32_MAX;
	o->transitions = UINT32_MAX;
	o->agg = CD_OB_MEMBER_MAX;
	o->agg_due = 3000000;
	o->agg_held = INT32_MAX;
	o->agg_key = UINT32_MAX;
}

/* Encodes c into DIR/name; the record must decode again unless `refused`. */
static void write_record(const char *dir, const char *name, const cd_citizen *c, bool refused)
{
	cd_buf b;
	cd_citizen back;
	cd_err err;
	int rc;
	cd_buf_init(&b, (size_t)64 << 20);
	cd_citizen_init(&back);
	if (cd_citizen_encode(c, &b) < 0)
		die(name, "does not encode");
	rc = cd_citizen_decode(&back, (const uint8_t *)b.data, b.len, &err);
	if (refused ? rc == 0 : rc < 0)
		die(name, refused ? "was meant to be refused" : err.msg);
	write_file(dir, name, b.data, b.len);
	printf("mkseeds: %s/%s: %zu bytes, %zu history entries, %zu obligation states%s\n", dir, name, b.len,
	       c->n_ev, c->n_ob, refused ? " (refused: larger than the arena)" : "");
	cd_citizen_release(&back);
	cd_buf_release(&b);
}

static size_t encoded_size(const cd_citizen *c)
{
	cd_buf b;
	size_t n;
	cd_buf_init(&b, (size_t)64 << 20);
	if (cd_citizen_encode(c, &b) < 0)
		die("limits", "does not encode");
	n = b.len;
	cd_buf_release(&b);
	return n;
}

static int limits(const char *dir)
{
	static const int kinds[] = { CD_EV_REGISTRATION, CD_EV_DEREGISTRATION, CD_EV_CONVERSATION,
				     CD_EV_BENEFIT_CHANGE, CD_EV_EXEMPTION };
	const cd_instant first = CD_EVENT_MIN_INSTANT, last = CD_EVENT_MAX_INSTANT - 1;
	const size_t target = ARENA_MAX / 2 - 1;
	cd_citizen c;
	size_t per, n;
	unsigned k;

	make_dir(dir);
	cd_citizen_init(&c);

	/* Every kind with every field at its largest, the first and last instants allowed. */
	for (k = 0; k < 5; k++)
		add_event(&c, kinds[k], k, k == 0 ? first : last);
	add_ob(&c, 0);
	c.clock = INT64_MAX;
	c.next_fire = INT64_MIN;
	write_record(dir, "fields-max", &c, false);

	/* The most history entries the options allow (--max-events), strings at their longest. */
	cd_citizen_clear(&c);
	for (k = 0; k < CD_MAX_EVENTS_BOUND; k++)
		add_event(&c, kinds[k % 5], k, first + (last - first) / CD_MAX_EVENTS_BOUND * (cd_instant)k);
	write_record(dir, "events-max", &c, false);

	/* The default --max-obligations, every state at its largest. */
	cd_citizen_clear(&c);
	for (k = 0; k < 1000; k++)
		add_ob(&c, k);
	write_record(dir, "obligations-max", &c, false);

	/* The largest record the arena takes (decoding reserves 2n + 2 bytes), then one byte more. */
	cd_citizen_clear(&c);
	add_ob(&c, 0);
	per = encoded_size(&c);
	add_ob(&c, 1);
	per = encoded_size(&c) - per;            /* one more full obligation state */
	for (k = 2; (n = encoded_size(&c)) <= target;)
		for (unsigned j = 0; j < 1000; j++)
			add_ob(&c, k++);
	c.n_ob -= (n - target + per - 1) / per;
	add_ob(&c, k++);                         /* over by less than one state: shorten ids to fit */
	for (size_t i = c.n_ob, over = encoded_size(&c) - target; over > 0 && i-- > 0;) {
		size_t cut = over < CD_MAX_OBLIGATION_ID_LEN - 1 ? over : CD_MAX_OBLIGATION_ID_LEN - 1;
		char id[CD_MAX_OBLIGATION_ID_LEN + 1];
		intern(&c, str_of(id, CD_MAX_OBLIGATION_ID_LEN - cut, 'o', (unsigned)i), &c.ob[i].oid_off);
		over -= cut;
	}
	if (encoded_size(&c) != target)
		die("limits", "the largest record is not of the largest size");
	write_record(dir, "record-bytes-max", &c, false);
	c.clock = 100;                           /* a clock of two bytes instead of one */
	write_record(dir, "record-bytes-over", &c, true);

	cd_citizen_release(&c);
	return 0;
}

int main(int argc, char **argv)
{
	cd_log_set_level(CD_LOG_ERROR);
	if (argc == 4 && !strcmp(argv[1], "split"))
		return split(argv[2], argv[3]);
	if (argc == 6 && !strcmp(argv[1], "replay"))
		return replay(argv[2], argv[3], argv[4], argv[5]);
	if (argc == 3 && !strcmp(argv[1], "limits"))
		return limits(argv[2]);
	fprintf(stderr, "usage: mkseeds split LOG DIR | replay RULES_DIR LOG CITIZEN_DIR OUTBOX_DIR | limits DIR\n");
	return 2;
}
