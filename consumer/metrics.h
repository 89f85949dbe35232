/*
 * metrics.h — what `contactd run` counts, for Prometheus (/metrics), the
 * health endpoints (/healthz, /readyz) and the progress line.
 *
 * One writer, many readers: the processor's loop thread updates the values
 * (every count is one relaxed atomic add: no lock on the hot path), and the
 * HTTP server's thread renders them at any time. A scrape therefore sees each
 * value as it was at some instant, not all of them at one instant, which is
 * what Prometheus expects of a target.
 *
 * The names follow Prometheus conventions (base units, `_total` counters,
 * `_seconds`); docs/operations.md lists them and what each means. Labels:
 * `topic` and `partition` where a value belongs to one; partitions never
 * taken by this process are not shown, and per-partition gauges only while
 * the partition is held.
 *
 * Ownership: the processor owns its cd_metrics (cd_metrics_new / _free); the
 * HTTP server only reads it, and must be stopped before it is freed.
 */
#ifndef CD_CONSUMER_METRICS_H
#define CD_CONSUMER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define CD_METRICS_MAX_PARTS 1024    /* partitions 0 … 1023, as the processor (MAX_PARTS) */
#define CD_LIVENESS_STALL_MS 60000   /* /healthz fails when the loop has not turned for this long */

/* The topics outputs go to (outbox entry kinds). */
enum { CD_MT_DEADLINE, CD_MT_BREACH, CD_MT_AGGREGATES, CD_MT_DLQ, CD_MT_MEMBERS, CD_MT_N };

/* Why /readyz says not ready (bits of cd_metrics_set_ready). */
enum {
	CD_UNREADY_STARTING = 1 << 0,    /* no assignment received from the group yet */
	CD_UNREADY_UNTAKEN = 1 << 1,     /* an assigned partition could not be taken (Redis error) */
	CD_UNREADY_REFUSED = 1 << 2,     /* a partition's Redis state is gone: an operator must act */
	CD_UNREADY_REDIS = 1 << 3,       /* Redis does not answer */
	CD_UNREADY_STOPPING = 1 << 4,    /* SIGTERM: draining */
};

typedef struct cd_metrics cd_metrics;

/* Totals for the progress line and the stop line (read by the loop thread). */
typedef struct cd_metrics_totals {
	uint64_t consumed, applied, duplicates, dead_letters, outputs, relayed, member_records, commits;
	uint64_t round_trips, fencing_losses, undeliverable, quarantined, offset_resets, aggregate_events;
	int64_t lag, outbox;             /* sums over held partitions; -1 when not known yet */
} cd_metrics_totals;

/*
 * stage: "citizens" or "aggregates"; in_topics: the input topics (their index
 * is the `ti` below); out_topics: the topic of each CD_MT_* kind. The strings
 * are copied. NULL when out of memory.
 */
cd_metrics *cd_metrics_new(const char *stage, const char *version, const char *const *in_topics, size_t n_in,
			   const char *const out_topics[CD_MT_N]);
void cd_metrics_free(cd_metrics *m);

/* ---- the loop thread: counts ------------------------------------------------------- */

void cd_metrics_consumed(cd_metrics *m, int ti, int32_t p);
void cd_metrics_applied(cd_metrics *m, int ti, int32_t p, bool duplicate);
/* stage: size, decode, validate, state, apply (anything else counts as "other"). */
void cd_metrics_dead_letter(cd_metrics *m, int ti, int32_t p, const char *stage);
/* An output committed to the outbox, by topic kind (deadline, breach, aggregates: dead letters and
 * member records are counted by their own functions) and status name (a static string). */
void cd_metrics_output(cd_metrics *m, int kind, const char *status);
void cd_metrics_relayed(cd_metrics *m, int kind);
void cd_metrics_member_record(cd_metrics *m);
/* A commit acknowledged: its batch's records, and how long from send to reply. */
void cd_metrics_commit(cd_metrics *m, size_t records, int64_t usec);
void cd_metrics_fencing_loss(cd_metrics *m, int32_t p);
void cd_metrics_undeliverable(cd_metrics *m);
void cd_metrics_quarantined(cd_metrics *m);
void cd_metrics_offset_reset(cd_metrics *m, int ti, int32_t p);
/* History folded (compactions, entries) and citizens deleted by retention (state/engine.h). */
void cd_metrics_history(cd_metrics *m, uint64_t compactions, uint64_t folded_events, uint64_t deleted);

/* ---- the loop thread: state --------------------------------------------------------- */

/* The partition is held (true) or not; a held partition's gauges are shown. */
void cd_metrics_part_held(cd_metrics *m, int32_t p, bool held);
/* The next offset to process of (ti, p): what the consumer lag is measured from. */
void cd_metrics_position(cd_metrics *m, int ti, int32_t p, int64_t next);
/* The same, only while no position is known (a partition started at the earliest offset). */
void cd_metrics_position_default(cd_metrics *m, int ti, int32_t p, int64_t next);
/* The topic's high watermark, as the consumer last saw it (-1: not known). */
void cd_metrics_high_watermark(cd_metrics *m, int ti, int32_t p, int64_t high);
void cd_metrics_outbox(cd_metrics *m, int32_t p, int64_t entries);
/* The outbox of p was read empty (false) or not (true): relay lag counts from the first non-empty read. */
void cd_metrics_outbox_pending(cd_metrics *m, int32_t p, bool pending);
void cd_metrics_timers_due(cd_metrics *m, int32_t p, int64_t due);
/* Redis's counters, as the two connections report them (cd_redis_stats). */
void cd_metrics_redis(cd_metrics *m, uint64_t round_trips, uint64_t errors, uint64_t reconnects, bool up);
/* A Redis Cluster's redirects followed (MOVED + ASK) and slot maps read, both connections together. */
void cd_metrics_redis_cluster(cd_metrics *m, uint64_t redirects, uint64_t map_refreshes);
void cd_metrics_partitions(cd_metrics *m, int owned, int refused);
void cd_metrics_set_ready(cd_metrics *m, unsigned unready_bits);
/* The loop turned: /healthz is fine for CD_LIVENESS_STALL_MS from now. */
void cd_metrics_loop_turned(cd_metrics *m);
void cd_metrics_totals_get(const cd_metrics *m, cd_metrics_totals *t);

/* ---- any thread: what the endpoints say ----------------------------------------------- */

/* The Prometheus text exposition (format 0.0.4), appended to out. 0, or -1 when out of memory. */
int cd_metrics_render(const cd_metrics *m, cd_buf *out);
/* /healthz: true while the loop turns. */
bool cd_metrics_live(const cd_metrics *m);
/* /readyz: the bits of why not ready (0: ready), and their words, one line each, into why. */
unsigned cd_metrics_unready(const cd_metrics *m, char *why, size_t cap);

#endif
