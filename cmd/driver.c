/*
 * driver.c — an event log through the engine with the in-memory store
 * (driver.h). Aggregates (rules.md §4.1): the engine tells each share member's
 * outcome to the aggregator, whose clock is the all-citizen clock; it
 * advances with the citizens at every all-citizen tick (advance_all).
 */
#include "cmd/driver.h"

#include <stdlib.h>
#include <string.h>

#include "proto/codec.h"
#include "state/step.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/pseudonym.h"

struct cd_driver {
	cd_engine *eng;
	cd_memstore *store;
	cd_citizen cit;
	cd_buf rec;                   /* one encoded citizen record */
	cd_instant floor;             /* the latest all-citizen tick */
	cd_aggregator *agg;           /* NULL when the sink takes no aggregates */
	cd_driver_sink sink;
	cd_driver_counts n;
	bool failed;
};

static int on_output(void *ctx, const cd_output *o)
{
	cd_driver *d = ctx;
	if (d->sink.output && d->sink.output(d->sink.ctx, o) != 0) {
		d->failed = true;
		return -1;
	}
	if (o->is_breach)
		d->n.breaches++;
	else
		d->n.deadlines++;
	return 0;
}

static int on_aggregate(void *ctx, const cd_agg_output *a)
{
	cd_driver *d = ctx;
	if (d->sink.aggregate(d->sink.ctx, a) != 0) {
		d->failed = true;
		return -1;
	}
	d->n.aggregates++;
	return 0;
}

/* A share member's outcome, from the engine. A member the aggregator refuses is a bug: fatal. */
static int count_member(void *ctx, const cd_member *m)
{
	cd_driver *d = ctx;
	cd_err err;
	if (cd_agg_member(d->agg, m, &err) < 0) {
		cd_log(CD_LOG_ERROR, "cannot count aggregate member", "obligation_id", m->obligation_id, "error", err.msg,
		       NULL);
		d->failed = true;
		return -1;
	}
	d->n.members++;
	return 0;
}

cd_driver *cd_driver_new(cd_engine *eng, const cd_rules *rules, const cd_engine_config *cfg, cd_driver_sink sink)
{
	cd_driver *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->eng = eng;
	d->sink = sink;
	d->floor = CD_INSTANT_NONE;
	cd_citizen_init(&d->cit);
	cd_buf_init(&d->rec, (size_t)64 << 20);
	if (!(d->store = cd_memstore_new(0))) {
		cd_driver_free(d);
		return NULL;
	}
	if (sink.aggregate) {
		if (!(d->agg = cd_agg_new(rules, cfg->grace_days, cfg->warn_lead_days))) {
			cd_driver_free(d);
			return NULL;
		}
		cd_engine_set_member_fn(eng, count_member, d);
	}
	return d;
}

void cd_driver_free(cd_driver *d)
{
	if (!d)
		return;
	if (d->agg)
		cd_engine_set_member_fn(d->eng, NULL, NULL);
	cd_memstore_free(d->store);
	cd_agg_free(d->agg);
	cd_citizen_release(&d->cit);
	cd_buf_release(&d->rec);
	free(d);
}

bool cd_driver_failed(const cd_driver *d)
{
	return d->failed;
}

const cd_driver_counts *cd_driver_counts_of(const cd_driver *d)
{
	return &d->n;
}

const cd_memstore *cd_driver_store(const cd_driver *d)
{
	return d->store;
}

cd_instant cd_driver_floor(const cd_driver *d)
{
	return d->floor;
}

/* Loads citizen `id` into d->cit (empty if new). */
static int load(cd_driver *d, const char *id, size_t len, cd_err *err)
{
	const uint8_t *p;
	size_t n;
	if (!cd_memstore_get(d->store, id, len, &p, &n)) {
		cd_citizen_clear(&d->cit);
		return 0;
	}
	return cd_citizen_decode(&d->cit, p, n, err);
}

static int save(cd_driver *d, const char *id, size_t len, cd_err *err)
{
	if (d->cit.retired) {       /* retention: the state goes, with its timer */
		cd_memstore_del(d->store, id, len);
		return 0;
	}
	cd_buf_reset(&d->rec);
	if (cd_citizen_encode(&d->cit, &d->rec) < 0)
		return cd_err_set(err, 0, "the citizen's record exceeds the record limit");   /* no id: it is logged */
	return cd_memstore_put(d->store, id, len, (const uint8_t *)d->rec.data, d->rec.len, d->cit.next_fire, err);
}

int cd_driver_citizen(const cd_driver *d, const char *id, cd_citizen *c, cd_err *err)
{
	const uint8_t *p;
	size_t n;
	if (!cd_memstore_get(d->store, id, strlen(id), &p, &n))
		return 0;
	return cd_citizen_decode(c, p, n, err) < 0 ? -1 : 1;
}

/* Fires everything due by x, citizen by citizen, in (instant, citizen id) order. */
static int advance_citizens(cd_driver *d, cd_instant x, cd_err *err)
{
	const char *id;
	size_t len;
	char idbuf[CD_MAX_ID_LEN + 1];

	while (cd_memstore_next_due(d->store, x, &id, &len)) {
		memcpy(idbuf, id, len);    /* ids are validated to CD_MAX_ID_LEN */
		idbuf[len] = '\0';
		if (load(d, idbuf, len, err) < 0 || cd_engine_advance(d->eng, &d->cit, idbuf, x, on_output, d, err) < 0 ||
		    save(d, idbuf, len, err) < 0)
			return -1;
	}
	return d->failed ? -1 : 0;
}

/*
 * Advances every citizen and the aggregate clock to t. The two walk together
 * through the aggregate's instants (warnings, evaluations) up to t: at each,
 * first every citizen (deciding the members decided by then), then the
 * aggregate clock; so an aggregate instant counts the members decided at or
 * before it, and none decided later in the same tick (rules.md §4.1). A tick
 * that does not move the all-citizen clock is no advance (decisions.md D49).
 */
int cd_driver_advance_all(cd_driver *d, cd_instant t, cd_err *err)
{
	if (d->floor != CD_INSTANT_NONE && t <= d->floor)
		return 0;
	d->floor = t;
	for (;;) {
		cd_instant x = d->agg ? cd_agg_next(d->agg) : CD_INSTANT_NONE;
		if (x == CD_INSTANT_NONE || x > t)
			x = t;
		if (advance_citizens(d, x, err) < 0)
			return -1;
		if (d->agg && cd_agg_advance(d->agg, x, on_aggregate, d, err) < 0)
			return -1;
		if (d->failed)
			return -1;
		if (x == t)
			return 0;
	}
}

int cd_driver_apply(cd_driver *d, const cd_event *ev, cd_err *err)
{
	char idbuf[CD_MAX_ID_LEN + 1];
	int rc;

	if (ev->kind == CD_EV_CLOCK_TICK && ev->citizen_id_len == 0)
		return cd_driver_advance_all(d, cd_event_time(ev), err);
	memcpy(idbuf, ev->citizen_id, ev->citizen_id_len);
	idbuf[ev->citizen_id_len] = '\0';
	if (load(d, idbuf, ev->citizen_id_len, err) < 0)
		return -1;
	rc = cd_step_apply(d->eng, &d->cit, idbuf, d->floor, CD_INSTANT_NONE, ev, on_output, d, err);
	if (rc == 1)
		d->n.duplicates++;
	/* Saved even when the input was refused: the floor advance above may have fired. */
	if (rc < 0) {
		cd_err keep = *err;
		if (save(d, idbuf, ev->citizen_id_len, err) < 0)
			return -1;
		*err = keep;
		return -1;
	}
	return save(d, idbuf, ev->citizen_id_len, err);
}

int cd_driver_run(cd_driver *d, cd_log_reader *rd, const char *input, cd_err *err)
{
	char pos[128];

	for (;;) {
		const uint8_t *data;
		size_t len;
		cd_log_status st = cd_log_reader_next_logged(rd, &data, &len, &d->n.records, &d->n.skipped, err);
		Contact__V1__CitizenEvent *msg = NULL;
		cd_event ev;
		cd_codec_stage stage;
		uint64_t dups = d->n.duplicates;

		if (st == CD_LOG_EOF)
			return 0;
		if (st == CD_LOG_LOST)
			return -1;
		/*
		 * The position is formatted only for a warning (snprintf per record
		 * was 4 % of replay): decoding and applying never move the reader,
		 * so it still names this record then.
		 */
		if (cd_codec_decode_event(data, len, cd_log_reader_format(rd), &msg, &ev, &stage, err) < 0) {
			d->n.skipped++;
			cd_log_reader_position(rd, pos, sizeof(pos));
			if (msg && msg->citizen_id)      /* a text quoting the id (in any field) names its pseudonym */
				cd_pseudonym_scrub(NULL, err->msg, sizeof(err->msg), msg->citizen_id,
						   strlen(msg->citizen_id));
			cd_log(CD_LOG_WARN, "record skipped", "input", input, "position", pos, "event_id",
			       msg ? msg->event_id : "", "stage", cd_codec_stage_name(stage), "error", err->msg, NULL);
		} else if (cd_driver_apply(d, &ev, err) < 0) {
			if (d->failed) {
				protobuf_c_message_free_unpacked(&msg->base, NULL);
				return -1;
			}
			d->n.skipped++;
			cd_log_reader_position(rd, pos, sizeof(pos));
			cd_log(CD_LOG_WARN, "record skipped", "input", input, "position", pos, "event_id", msg->event_id,
			       "stage", "apply", "error", err->msg, NULL);
		} else if (d->n.duplicates == dups) {
			d->n.applied++;
		}
		if (msg)
			protobuf_c_message_free_unpacked(&msg->base, NULL);
	}
}
