/*
 * monitor.c — what the processor tells its operators while it runs: the
 * metrics and the endpoints that serve them (--metrics-addr, httpd.c), the
 * readiness they report, and one progress line every progress-interval.
 *
 * Counting happens where things happen (batch.c, relay.c, …: one atomic add
 * each). What has to be asked for — the consumer lag (librdkafka's cached
 * high watermarks), the outbox depth and the timers due (one pipelined Redis
 * call per held partition), the Redis connections' counters — is refreshed
 * here from the loop, every GAUGES_MS while the endpoints are served and
 * before each progress line otherwise, so that it costs nothing per event.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "consumer/httpd.h"
#include "consumer/processor_int.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/version.h"

#define GAUGES_MS 5000           /* lag, outbox and timers refreshed this often while served */
#define STATE_MS 250             /* readiness and partition counts: cheap, refreshed often */

int proc_monitor_start(proc *x, cd_err *err)
{
	const char *out[CD_MT_N];
	out[CD_MT_DEADLINE] = x->cfg.deadline_topic;
	out[CD_MT_BREACH] = x->cfg.breach_topic;
	out[CD_MT_AGGREGATES] = x->cfg.aggregates_topic;
	out[CD_MT_DLQ] = x->cfg.dlq_topic;
	out[CD_MT_MEMBERS] = x->cfg.stage == CD_STAGE_CITIZENS ? x->cfg.members_topic : "";
	x->met = cd_metrics_new(x->cfg.stage == CD_STAGE_AGGREGATES ? "aggregates" : "citizens", CD_VERSION,
				(const char *const *)x->cfg.input_topics, x->cfg.n_input_topics, out);
	if (!x->met)
		return cd_err_set(err, 0, "out of memory");
	x->progress_ms = cd_clock_mono_ms();
	x->next_progress_ms = x->progress_ms + (int64_t)x->cfg.progress_interval * 1000;
	if (x->cfg.metrics_host && x->cfg.metrics_port) {
		char port[8];
		x->httpd = cd_httpd_start(x->cfg.metrics_host, x->cfg.metrics_port, x->met, err);
		if (!x->httpd)
			return -1;
		snprintf(port, sizeof(port), "%d", cd_httpd_port(x->httpd));
		cd_log(CD_LOG_INFO, "serving /metrics, /healthz and /readyz", "host", x->cfg.metrics_host, "port", port,
		       NULL);
	}
	return 0;
}

void proc_monitor_stop(proc *x)
{
	cd_httpd_stop(x->httpd);         /* before the metrics it reads go */
	x->httpd = NULL;
	cd_metrics_free(x->met);
	x->met = NULL;
}

/* Why the process is not ready (CD_UNREADY_* bits). */
static unsigned unready(const proc *x)
{
	unsigned bits = 0;
	if (!x->joined)
		bits |= CD_UNREADY_STARTING;
	if (x->redis_down)
		bits |= CD_UNREADY_REDIS;
	if (proc_stopping)
		bits |= CD_UNREADY_STOPPING;
	for (int i = 0; i < MAX_PARTS; i++) {
		const part *pt = &x->parts[i];
		if (pt->untaken)
			bits |= CD_UNREADY_UNTAKEN;
		if (pt->owned && pt->refused)
			bits |= CD_UNREADY_REFUSED;
	}
	return bits;
}

/* Held partitions, readiness and the Redis connections' counters. */
static void refresh_state(proc *x)
{
	cd_redis_stats a = { 0 }, b = { 0 };
	int owned = 0, refused = 0;

	for (int i = 0; i < MAX_PARTS; i++) {
		const part *pt = &x->parts[i];
		cd_metrics_part_held(x->met, i, pt->owned);
		owned += pt->owned;
		refused += pt->owned && pt->refused;
	}
	cd_metrics_partitions(x->met, owned, refused);
	cd_metrics_set_ready(x->met, unready(x));
	if (x->redis)
		cd_redis_stats_get(x->redis, &a);
	if (x->wredis)
		cd_redis_stats_get(x->wredis, &b);
	cd_metrics_redis(x->met, a.round_trips + b.round_trips, a.errors + b.errors, a.reconnects + b.reconnects,
			 !x->redis_down && x->redis && cd_redis_connected(x->redis));
	cd_metrics_redis_cluster(x->met, a.moved + a.asks + b.moved + b.asks, a.refreshes + b.refreshes);
}

/* Consumer lag from librdkafka's cached watermarks; outbox depth and due timers from Redis. */
static void refresh_gauges(proc *x)
{
	cd_instant now = x->cfg.event_clock ? CD_INSTANT_NONE : proc_wall_now();
	for (int i = 0; i < MAX_PARTS && !x->redis_down; i++) {
		part *pt = &x->parts[i];
		int64_t outbox = 0, due = 0;
		cd_err err;
		if (!pt->owned)
			continue;
		for (size_t t = 0; t < x->cfg.n_input_topics; t++) {
			int64_t lo = -1, hi = -1;
			if (rd_kafka_get_watermark_offsets(x->rk, x->cfg.input_topics[t], pt->p, &lo, &hi) ==
			    RD_KAFKA_RESP_ERR_NO_ERROR) {
				cd_metrics_high_watermark(x->met, (int)t, pt->p, hi);
				cd_metrics_position_default(x->met, (int)t, pt->p, lo);
			}
		}
		if (pt->refused)
			continue;
		/* on the event clock "due" is relative to the partition's own floor */
		if (cd_redis_gauges(x->redis, pt->p, x->cfg.event_clock ? pt->floor : now, &outbox, &due, &err) < 0) {
			if (err.retriable)
				proc_redis_trouble(x, &err);
			continue;
		}
		cd_metrics_outbox(x->met, pt->p, outbox);
		cd_metrics_timers_due(x->met, pt->p, x->cfg.event_clock && pt->floor == CD_INSTANT_NONE ? 0 : due);
	}
}

static double per_s(uint64_t now, uint64_t before, int64_t ms)
{
	return ms > 0 ? (double)(now - before) * 1000.0 / (double)ms : 0.0;
}

static void progress(proc *x, int64_t t)
{
	cd_metrics_totals now;
	char in_s[24], out_s[24], dl[24], cm[24], rt[24], lag[24], ob[24], own[16];
	int64_t ms = t - x->progress_ms;
	int owned = 0;

	cd_metrics_totals_get(x->met, &now);
	for (int i = 0; i < MAX_PARTS; i++)
		owned += x->parts[i].owned;
	snprintf(in_s, sizeof(in_s), "%.1f", per_s(now.consumed, x->progress_at.consumed, ms));
	snprintf(out_s, sizeof(out_s), "%.1f", per_s(now.outputs, x->progress_at.outputs, ms));
	snprintf(cm, sizeof(cm), "%.1f", per_s(now.commits, x->progress_at.commits, ms));
	snprintf(rt, sizeof(rt), "%.1f", per_s(now.round_trips, x->progress_at.round_trips, ms));
	snprintf(dl, sizeof(dl), "%" PRIu64, now.dead_letters - x->progress_at.dead_letters);
	snprintf(lag, sizeof(lag), "%" PRId64, now.lag);
	snprintf(ob, sizeof(ob), "%" PRId64, now.outbox);
	snprintf(own, sizeof(own), "%d", owned);
	cd_log(CD_LOG_INFO, "progress", "inputs_per_s", in_s, "outputs_per_s", out_s, "dead_letters", dl,
	       "commits_per_s", cm, "redis_round_trips_per_s", rt, "lag", now.lag < 0 ? "unknown" : lag, "outbox",
	       now.outbox < 0 ? "unknown" : ob, "partitions", own, "redis", x->redis_down ? "down" : "up", NULL);
	x->progress_at = now;
	x->progress_ms = t;
}

void proc_monitor_tick(proc *x)
{
	int64_t t = cd_clock_mono_ms();
	bool progress_due = x->cfg.progress_interval > 0 && t >= x->next_progress_ms;

	cd_metrics_loop_turned(x->met);
	if (t >= x->next_state_ms || progress_due) {
		refresh_state(x);
		x->next_state_ms = t + STATE_MS;
	}
	if ((x->httpd && t >= x->next_gauges_ms) || progress_due) {
		refresh_gauges(x);
		x->next_gauges_ms = t + GAUGES_MS;
	}
	if (progress_due) {
		progress(x, t);
		x->next_progress_ms = t + (int64_t)x->cfg.progress_interval * 1000;
	}
}

/* Waiting (for Redis at start-up): alive, not ready. */
void proc_monitor_waiting(proc *x, unsigned why)
{
	cd_metrics_loop_turned(x->met);
	refresh_state(x);
	cd_metrics_set_ready(x->met, why | unready(x));
}
