/*
 * input_cost.c — what one input costs at the end of a long history.
 *
 *   build/release/bench/input_cost FILE [MAX_EVENTS]
 *
 * Replays an event log the way `contactd replay` does (in-memory store:
 * decode the citizen's record, raise it to the tick floor, apply, encode and
 * store it back; all-citizen ticks fire every citizen due), with the shipped
 * rules ($CONTACTD_RULES, which ops/bench.sh sets to the tree's rules/) and --max-events MAX_EVENTS (default
 * 1000000), and times each record with the monotonic clock. Outputs are
 * counted, not encoded. Prints one line about the last twentieth of the
 * records (at least 50), where the history is longest:
 *
 *   input_cost: N records, history H events: last K records p50 X µs p90 Y µs max Z µs
 *
 * ops/bench.sh runs it on a bench/history log of one citizen at the
 * --max-events bound, to show the worst a single busy citizen costs the live
 * processor per input. Exit status 1 when the log cannot be read or replayed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/opts.h"
#include "proto/codec.h"
#include "proto/eventlog.h"
#include "state/engine.h"
#include "state/memstore.h"

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int count_output(void *ctx, const cd_output *o)
{
	(void)o;
	++*(unsigned long *)ctx;
	return 0;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

typedef struct bench {
	cd_engine *eng;
	cd_memstore *store;
	cd_citizen cit;
	cd_buf rec;
	cd_instant floor;
	unsigned long outputs;
} bench;

static int load(bench *b, const char *id, size_t len, cd_err *err)
{
	const uint8_t *p;
	size_t n;
	if (!cd_memstore_get(b->store, id, len, &p, &n)) {
		cd_citizen_clear(&b->cit);
		return 0;
	}
	return cd_citizen_decode(&b->cit, p, n, err);
}

static int save(bench *b, const char *id, size_t len, cd_err *err)
{
	cd_buf_reset(&b->rec);
	if (cd_citizen_encode(&b->cit, &b->rec) < 0)
		return cd_err_set(err, 0, "record too large");
	return cd_memstore_put(b->store, id, len, (const uint8_t *)b->rec.data, b->rec.len, b->cit.next_fire, err);
}

/* One record, as replay applies it. 0, or -1 when it was refused (a limit) or failed. */
static int apply(bench *b, const cd_event *ev, cd_err *err)
{
	char id[CD_MAX_ID_LEN + 1];
	const char *due;
	size_t len;
	int rc;

	if (ev->kind == CD_EV_CLOCK_TICK && ev->citizen_id_len == 0) {
		cd_instant t = cd_event_time(ev);
		if (b->floor == CD_INSTANT_NONE || t > b->floor)
			b->floor = t;
		while (cd_memstore_next_due(b->store, t, &due, &len)) {
			memcpy(id, due, len);
			id[len] = '\0';
			if (load(b, id, len, err) < 0 ||
			    cd_engine_advance(b->eng, &b->cit, id, t, count_output, &b->outputs, err) < 0 ||
			    save(b, id, len, err) < 0)
				return -1;
		}
		return 0;
	}
	memcpy(id, ev->citizen_id, ev->citizen_id_len);
	id[ev->citizen_id_len] = '\0';
	if (load(b, id, ev->citizen_id_len, err) < 0)
		return -1;
	if (b->floor != CD_INSTANT_NONE &&
	    cd_engine_advance(b->eng, &b->cit, id, b->floor, count_output, &b->outputs, err) < 0)
		return -1;
	rc = cd_engine_apply(b->eng, &b->cit, id, ev, count_output, &b->outputs, err);
	if (save(b, id, ev->citizen_id_len, err) < 0)
		return -1;
	return rc < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	cd_opt_engine eo;
	bench b;
	cd_err err = { "", 0 };
	cd_log_reader *rd;
	FILE *f;
	double *us = NULL;
	size_t n = 0, cap = 0, refused = 0, k, hist = 0;
	int status = 1;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s FILE [MAX_EVENTS]\n", argv[0]);
		return 2;
	}
	memset(&b, 0, sizeof(b));
	b.floor = CD_INSTANT_NONE;
	cd_citizen_init(&b.cit);
	cd_buf_init(&b.rec, (size_t)64 << 20);
	cd_opt_engine_init(&eo);
	/* Set directly, not through the option: this also measures histories beyond its bound. */
	eo.cfg.max_events = argc == 3 ? strtoul(argv[2], NULL, 10) : 1000000;
	if (cd_opt_engine_open(&eo, &b.eng, &err) < 0 || !(b.store = cd_memstore_new(0))) {
		fprintf(stderr, "input_cost: %s\n", err.msg);
		return 1;
	}
	if (!(f = fopen(argv[1], "rb"))) {
		perror(argv[1]);
		return 1;
	}
	rd = cd_log_reader_new(f, argv[1], CD_LOG_AUTO, (size_t)1 << 20);
	for (;;) {
		const uint8_t *data;
		size_t len;
		Contact__V1__CitizenEvent *msg = NULL;
		cd_event ev;
		cd_codec_stage stage;
		cd_log_status st = cd_log_reader_next(rd, &data, &len, &err);
		double t0;

		if (st == CD_LOG_EOF)
			break;
		if (st != CD_LOG_RECORD ||
		    cd_codec_decode_event(data, len, cd_log_reader_format(rd), &msg, &ev, &stage, &err) < 0) {
			fprintf(stderr, "input_cost: record %zu: %s\n", n + 1, err.msg);
			goto out;
		}
		t0 = now_us();
		if (apply(&b, &ev, &err) < 0)
			refused++;
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			if (!(us = realloc(us, cap * sizeof(*us))))
				goto out;
		}
		us[n++] = now_us() - t0;
		hist = b.cit.n_ev;
		protobuf_c_message_free_unpacked(&msg->base, NULL);
	}
	if (!n)
		goto out;
	k = n / 20 > 50 ? n / 20 : n < 50 ? n : 50;
	qsort(us + n - k, k, sizeof(*us), cmp_d);
	printf("input_cost: %zu records, history %zu events: last %zu records p50 %.0f µs p90 %.0f µs max %.0f µs"
	       ", %zu refused by a limit\n", n, hist, k, us[n - k + k / 2], us[n - k + k * 9 / 10], us[n - 1], refused);
	status = 0;
out:
	free(us);
	cd_log_reader_free(rd);
	fclose(f);
	cd_memstore_free(b.store);
	cd_engine_free(b.eng);
	cd_opt_engine_release(&eo);
	cd_citizen_release(&b.cit);
	cd_buf_release(&b.rec);
	return status;
}
