/*
 * processor.c — `contactd run`: the live processor. Kafka in, Redis state,
 * Kafka out, effectively once. This file is its map and its loop; the steps
 * live next to it, in data-flow order:
 *
 *   poll ──▶ pending[p] ──(batch full / waited long enough)──▶ batch.c
 *            per processing partition p (the partition number, shared by
 *            co-partitioned input topics)
 *   batch.c  load the batch's citizens (MGETs), apply the inputs one at a
 *            time with the engine (the same engine as replay), turn each
 *            output and each bad input into an outbox entry (outbox.c), then
 *            commit records + timers + outbox + offsets + tick floor in ONE
 *            fenced Lua call (redis_store.c). Nothing reaches Kafka before.
 *            The commits of one turn of the loop are queued and sent together
 *            at its end (proc_commits_finish): one fsync for all of them.
 *            The clocks fire citizens the same way.
 *   relay.c  produce the head of p's outbox with the idempotent producer and
 *            trim it once every entry is delivered; a crash in between sends
 *            the same bytes again (outputs may repeat, never differ).
 *   assign.c partitions taken (fenced, started at the offset stored in Redis)
 *            and given back; Redis recovery.
 *
 * One thread drives everything (librdkafka has its own threads underneath);
 * the rebalance and delivery callbacks run on it too, from the polls.
 * SIGTERM/SIGINT only set a flag: nothing more is polled, the loop finishes
 * the batches it holds, delivers the outbox (up to drain-timeout-ms), commits
 * offsets, closes the group and exits 0.
 */
#include "consumer/commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "consumer/processor_int.h"
#include "proto/codec.h"
#include "proto/rules_json.h"
#include "util/clock.h"
#include "util/log.h"


volatile sig_atomic_t proc_stopping;

static void on_signal(int sig)
{
	(void)sig;
	proc_stopping = 1;
}

/*
 * The wall clock. CONTACTD_WALL_CLOCK_START (RFC 3339) makes it start at that
 * instant and run at real speed from the process's start: the one seam through
 * which tests reach a breach instant on the wall clock (tools that fake the
 * system clock for the whole process break librdkafka's timed waits). Logged
 * at start-up when set; never set in production.
 */
static cd_instant wall_shift;            /* added to the real time; 0 normally */

cd_instant proc_wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (cd_instant)ts.tv_sec * CD_NS_PER_SEC + ts.tv_nsec + wall_shift;
}

static int wall_clock_init(cd_err *err)
{
	const char *start = getenv("CONTACTD_WALL_CLOCK_START");
	cd_instant t;
	if (!start || !*start)
		return 0;
	if (cd_instant_parse_rfc3339(start, strlen(start), &t) < 0)
		return cd_err_set(err, 0, "CONTACTD_WALL_CLOCK_START '%s' is not an RFC 3339 instant", start);
	wall_shift = t - proc_wall_now();
	cd_log(CD_LOG_WARN, "the wall clock is shifted (CONTACTD_WALL_CLOCK_START): for tests only", "start", start, NULL);
	return 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/*
 * Redis failed in a way a retry can outlive: consumption pauses and the loop
 * recovers (proc_recover_redis). The cause is kept for the log: "redis unavailable"
 * without the server's own words (OOM, LOADING, …) leaves an operator guessing.
 */
void proc_redis_trouble(proc *x, const cd_err *err)
{
	x->redis_down = 1;
	snprintf(x->redis_cause, sizeof(x->redis_cause), "%s", err->msg);
}

/* Sleeps ms, in slices, returning early when the process is told to stop. */
int proc_backoff_next(int ms)
{
	return ms <= 0 ? BACKOFF_FIRST_MS : ms < BACKOFF_MAX_MS / 2 ? ms * 2 : BACKOFF_MAX_MS;
}

void proc_sleep_unless_stopping(int ms)
{
	for (int slept = 0; slept < ms && !proc_stopping; slept += 50)
		sleep_ms(ms - slept < 50 ? ms - slept : 50);
}

/* ---- setup ----------------------------------------------------------------------- */

/*
 * The citizen key (util/pseudonym.h): from citizen-key / citizen-key-file, or
 * the built-in development key, loudly: its pseudonyms can be recomputed by
 * anyone (docs/decisions.md, "Citizen pseudonyms"). Never logged.
 */
static int citizen_key_setup(proc *x, cd_err *err)
{
	if (x->cfg.citizen_key && *x->cfg.citizen_key) {
		if (cd_pseudonym_key_from_secret(&x->ckey, *x->cfg.citizen_key_file ? "citizen-key-file" : "citizen-key",
						 x->cfg.citizen_key, strlen(x->cfg.citizen_key), err) < 0)
			return -1;
	} else {
		cd_pseudonym_key_dev(&x->ckey);
		if (x->cfg.stage == CD_STAGE_CITIZENS)
			cd_log(CD_LOG_WARN, "no citizen-key-file: citizens are named by pseudonyms of the built-in "
			       "development key, which anyone can recompute; set citizen-key-file for personal data",
			       NULL);
	}
	x->ckey.raw_in_logs = x->cfg.log_citizen_ids;
	if (x->cfg.log_citizen_ids)
		cd_log(CD_LOG_WARN, "log-citizen-ids is on: log lines and dead-letter texts name citizens by their ids; "
		       "for debugging only, never with personal data in production", NULL);
	return 0;
}

static int setup(proc *x, cd_err *err)
{
	cd_engine_config ecfg;
	cd_redis_opts ro;
	rd_kafka_conf_t *conf;
	char errstr[512];
	rd_kafka_topic_partition_list_t *subs;

	if (cd_rules_load(x->cfg.rules, x->cfg.overlays_config && *x->cfg.overlays_config ? x->cfg.overlays_config : NULL,
			  &x->rules, err) < 0)
		return -1;
	if (x->cfg.overlays && *x->cfg.overlays && cd_rules_set_overlays(x->rules, x->cfg.overlays, err) < 0)
		return -1;
	{
		char gap[256];
		if (cd_rules_national_gap(x->rules, cd_cph_date(proc_wall_now()), gap, sizeof(gap)))
			cd_log(CD_LOG_WARN, "the law data does not cover today", "rules", x->cfg.rules,
			       "detail", gap, NULL);
	}
	if (x->cfg.stage == CD_STAGE_AGGREGATES) {
		/* The stage reads the members topic, in a group of its own, and keeps its
		 * partitions under the hash tag {aN}. */
		char group[512];
		snprintf(group, sizeof(group), "%s-aggregates", x->cfg.group);
		free(x->cfg.group);
		x->cfg.group = strdup(group);
		for (size_t i = 0; i < x->cfg.n_input_topics; i++)
			free(x->cfg.input_topics[i]);
		x->cfg.input_topics[0] = strdup(x->cfg.members_topic);
		x->cfg.n_input_topics = 1;
		if (!x->cfg.group || !x->cfg.input_topics[0])
			return cd_err_set(err, 0, "out of memory");
		if (!*x->cfg.members_topic)
			return cd_err_set(err, 0, "stage aggregates needs members-topic");
	}
	x->members = x->cfg.stage == CD_STAGE_CITIZENS && *x->cfg.members_topic;
	/* the endpoints answer from here on: alive while Redis is awaited, not ready */
	if (proc_monitor_start(x, err) < 0)
		return -1;
	cd_engine_config_default(&ecfg);
	ecfg.grace_days = x->cfg.grace;
	ecfg.law_transition = x->cfg.law_transition;
	ecfg.warn_lead_days = x->cfg.warn_days;
	ecfg.max_events = (size_t)x->cfg.max_events;
	ecfg.history_horizon_days = x->cfg.history_horizon;
	ecfg.retention_days = x->cfg.retention;
	ecfg.max_obligations = (size_t)x->cfg.max_obligations;
	x->eng = cd_engine_new(x->rules, &ecfg);
	x->batch = cd_redis_batch_new();
	if (!x->eng || !x->batch)
		return cd_err_set(err, 0, "out of memory");

	cd_redis_opts_default(&ro);
	ro.host = x->cfg.redis_host;
	ro.port = x->cfg.redis_port;
	ro.user = x->cfg.redis_user && *x->cfg.redis_user ? x->cfg.redis_user : NULL;
	ro.password = x->cfg.redis_password && *x->cfg.redis_password ? x->cfg.redis_password : NULL;
	ro.db = x->cfg.redis_db;
	ro.prefix = x->cfg.redis_prefix;
	ro.tag = x->cfg.stage == CD_STAGE_AGGREGATES ? 'a' : 'p';
	ro.citizen_key = &x->ckey;
	x->redis = cd_redis_new(&ro);
	x->wredis = cd_redis_new(&ro);          /* connected on the first commit */
	if (!x->redis || !x->wredis)
		return cd_err_set(err, 0, "out of memory");
	for (int backoff = BACKOFF_FIRST_MS; cd_redis_connect(x->redis, err) < 0;) {
		if (proc_stopping)
			return 1;                   /* told to stop before there was anything to do */
		if (!err->retriable)
			return -1;
		if (cd_redis_connect_hint(err))
			cd_log(CD_LOG_WARN, "waiting for redis", "error", err->msg, "hint", cd_redis_connect_hint(err), NULL);
		else
			cd_log(CD_LOG_WARN, "waiting for redis", "error", err->msg, NULL);
		proc_monitor_waiting(x, CD_UNREADY_REDIS);
		sleep_ms(backoff);
		backoff = proc_backoff_next(backoff);
	}

	if (!x->cfg.brokers || !*x->cfg.brokers) {
		/* The embedded default: librdkafka's mock cluster, in this process. */
		x->mock = cd_mock_new(x->cfg.mock_brokers, err);
		if (!x->mock)
			return -1;
		for (size_t i = 0; i < x->cfg.n_input_topics; i++)
			if (cd_mock_topic_create(x->mock, x->cfg.input_topics[i], x->cfg.mock_partitions, err) < 0)
				return -1;
		if (cd_mock_topic_create(x->mock, x->cfg.deadline_topic, x->cfg.mock_partitions, err) < 0 ||
		    cd_mock_topic_create(x->mock, x->cfg.breach_topic, x->cfg.mock_partitions, err) < 0 ||
		    cd_mock_topic_create(x->mock, x->cfg.dlq_topic, x->cfg.mock_partitions, err) < 0 ||
		    cd_mock_topic_create(x->mock, x->cfg.aggregates_topic, x->cfg.mock_partitions, err) < 0 ||
		    (*x->cfg.members_topic && x->cfg.stage == CD_STAGE_CITIZENS &&
		     cd_mock_topic_create(x->mock, x->cfg.members_topic, x->cfg.mock_partitions, err) < 0))
			return -1;
		snprintf(x->brokers, sizeof(x->brokers), "%s", cd_mock_bootstraps(x->mock));
		/* First line of stdout: where producers and consumers can connect. */
		printf("%s\n", x->brokers);
		fflush(stdout);
		cd_log(CD_LOG_INFO, "embedded mock cluster started", "bootstrap", x->brokers, NULL);
	} else
		snprintf(x->brokers, sizeof(x->brokers), "%s", x->cfg.brokers);

	x->prod = cd_producer_new(x->brokers, x->cfg.kafka, x->cfg.n_kafka, proc_on_delivery, x, err);
	if (!x->prod)
		return -1;
	if (x->members) {
		/* A watermark goes to every partition of the members topic, and says how many
		 * input partitions there are (the stage's clock is the least of theirs). */
		x->n_member_parts = cd_kafka_topic_partitions(cd_producer_handle(x->prod), x->cfg.members_topic, NULL, err);
		if (x->n_member_parts < 0)
			return cd_err_prefix(err, "members topic '%s' (create it, or set members-topic to \"\" to "
					     "write no share members)", x->cfg.members_topic);
		x->n_src_parts = cd_kafka_topic_partitions(cd_producer_handle(x->prod), x->cfg.input_topics[0], NULL, err);
		if (x->n_src_parts < 0)
			return cd_err_prefix(err, "input topic '%s'", x->cfg.input_topics[0]);
		proc_members_on(x);
	}

	conf = rd_kafka_conf_new();
	cd_kafka_conf_log_to_stderr(conf);
	if (rd_kafka_conf_set(conf, "bootstrap.servers", x->brokers, errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "group.id", x->cfg.group, errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "true", errstr, sizeof(errstr)) ||
	    /* "error": a position deleted by retention is reported to us (consumer_error),
	     * which logs the loss and then starts at the earliest offset itself */
	    rd_kafka_conf_set(conf, "auto.offset.reset", "error", errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "enable.partition.eof", "false", errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "partition.assignment.strategy",
			      x->cfg.n_input_topics > 1 ? "range" : "cooperative-sticky", errstr, sizeof(errstr))) {
		rd_kafka_conf_destroy(conf);
		return cd_err_set(err, 0, "kafka consumer configuration: %s", errstr);
	}
	if (cd_kafka_conf_apply(conf, x->cfg.kafka, x->cfg.n_kafka, err) < 0) {
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	rd_kafka_conf_set_rebalance_cb(conf, proc_on_rebalance);
	rd_kafka_conf_set_opaque(conf, x);
	x->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (!x->rk)
		return cd_err_set(err, 0, "cannot create the kafka consumer: %s", errstr);
	rd_kafka_poll_set_consumer(x->rk);
	subs = rd_kafka_topic_partition_list_new((int)x->cfg.n_input_topics);
	for (size_t i = 0; i < x->cfg.n_input_topics; i++)
		rd_kafka_topic_partition_list_add(subs, x->cfg.input_topics[i], RD_KAFKA_PARTITION_UA);
	if (rd_kafka_subscribe(x->rk, subs)) {
		rd_kafka_topic_partition_list_destroy(subs);
		return cd_err_set(err, 0, "cannot subscribe to the input topics");
	}
	rd_kafka_topic_partition_list_destroy(subs);
	return 0;
}

/*
 * Leaves the group, for at most KAFKA_TIMEOUT_MS: rd_kafka_consumer_close waits
 * for the group coordinator without a bound, so a stop while Kafka is
 * unreachable would never end. Past the bound the handle is destroyed without
 * the leave; the group notices at its session timeout.
 */
static void consumer_close(proc *x)
{
	rd_kafka_queue_t *q = rd_kafka_queue_new(x->rk);
	rd_kafka_error_t *e = rd_kafka_consumer_close_queue(x->rk, q);
	int64_t until = cd_clock_mono_ms() + KAFKA_TIMEOUT_MS;
	bool closed = false;

	if (e) {
		cd_log(CD_LOG_WARN, "cannot leave the consumer group", "error", rd_kafka_error_string(e), NULL);
		rd_kafka_error_destroy(e);
	} else {
		/* the last give-back comes here as an event, and goes where the callback would take it;
		 * anything else (a message fetched meanwhile, an error) is dropped */
		while (!(closed = rd_kafka_consumer_closed(x->rk)) && cd_clock_mono_ms() < until) {
			rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
			if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
				proc_on_rebalance(x->rk, rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev),
						  x);
			rd_kafka_event_destroy(ev);
		}
		if (!closed)
			cd_log(CD_LOG_WARN, "leaving the consumer group timed out (Kafka unreachable?): the group "
			       "reassigns the partitions at its session timeout", NULL);
	}
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy_flags(x->rk, closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

static void teardown(proc *x)
{
	if (x->rk)
		consumer_close(x);
	cd_producer_free(x->prod);
	cd_mock_free(x->mock);
	for (int i = 0; i < MAX_PARTS; i++) {
		proc_pend_drop(&x->parts[i]);
		free(x->parts[i].pend.m);
		cd_redis_batch_free(x->parts[i].qbatch);
	}
	for (size_t i = 0; i < x->n_spare; i++)
		cd_redis_batch_free(x->spare[i]);
	for (size_t i = 0; i < x->cap_slots; i++)
		cd_citizen_release(&x->slots[i].c);
	free(x->slots);
	free(x->slot_ix);
	for (size_t i = 0; i < x->cap_recs; i++)
		cd_buf_release(&x->recs[i]);
	free(x->recs);
	free(x->found);
	agg_free_all(x);
	cd_redis_batch_free(x->batch);
	cd_redis_free(x->redis);
	cd_redis_free(x->wredis);
	cd_engine_free(x->eng);
	cd_rules_free(x->rules);
	proc_monitor_stop(x);
	cd_buf_release(&x->entry);
	cd_buf_release(&x->value);
	cd_config_release(&x->cfg);
}

/* ---- the loop --------------------------------------------------------------------- */

static int pend_add(part *pt, rd_kafka_message_t *m)
{
	if (pt->pend.n == pt->pend.cap) {
		size_t ncap = pt->pend.cap ? pt->pend.cap * 2 : 256;
		rd_kafka_message_t **nm = realloc(pt->pend.m, ncap * sizeof(*nm));
		if (!nm)
			return -1;
		pt->pend.m = nm;
		pt->pend.cap = ncap;
	}
	if (pt->pend.n == 0)
		pt->pend.first_ms = cd_clock_mono_ms();
	pt->pend.m[pt->pend.n++] = m;
	return 0;
}

/*
 * Drained: nothing pending, nothing in flight, every outbox read empty since
 * the last commit or trim (outbox_maybe), and the producer's queue empty.
 * Refused and untaken partitions hold nothing of ours.
 */
static bool drained(proc *x)
{
	for (int i = 0; i < MAX_PARTS; i++) {
		const part *pt = &x->parts[i];
		if (pt->owned && !pt->refused && (pt->in_flight || pt->pend.n || pt->outbox_maybe))
			return false;
	}
	if (x->n_sent)
		return false;
	return rd_kafka_outq_len(cd_producer_handle(x->prod)) == 0;
}

/* A consumer error event: the kinds an operator must hear of, loudly. */
static void consumer_error(proc *x, const rd_kafka_message_t *m)
{
	char ps[16];
	snprintf(ps, sizeof(ps), "%d", (int)m->partition);
	if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET && m->rkt) {
		/* The stored position was deleted by retention before it was processed:
		 * the inputs between it and the earliest offset still there are lost. */
		const char *topic = rd_kafka_topic_name(m->rkt);
		int64_t lo = -1, hi = -1;
		char los[24], offs[24];
		rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
		rd_kafka_query_watermark_offsets(x->rk, topic, m->partition, &lo, &hi, KAFKA_TIMEOUT_MS);
		snprintf(los, sizeof(los), "%lld", (long long)lo);
		snprintf(offs, sizeof(offs), "%lld", (long long)m->offset);
		cd_metrics_offset_reset(x->met, proc_topic_index(x, topic), m->partition);
		cd_log(CD_LOG_ERROR, "inputs lost: the stored offset is no longer on the topic (deleted by retention "
		       "before it was processed); going on from the earliest offset", "topic", topic, "partition", ps,
		       "stored_offset", offs, "earliest_offset", los, "error", rd_kafka_message_errstr(m), NULL);
		rd_kafka_topic_partition_list_add(one, topic, m->partition)->offset = lo >= 0 ? lo : RD_KAFKA_OFFSET_BEGINNING;
		if (proc_restart_at(x, one) < 0)
			cd_log(CD_LOG_ERROR, "cannot restart the partition at the earliest offset", "topic", topic,
			       "partition", ps, NULL);
		rd_kafka_topic_partition_list_destroy(one);
		return;
	}
	if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
		cd_log(CD_LOG_WARN, "kafka consumer error", "error", rd_kafka_message_errstr(m), NULL);
}

static int loop(proc *x)
{
	cd_err err;
	int64_t drain_until = 0;
	bool relaying = false;       /* some partition's head is out, its delivery not yet reported */

	x->next_timer_ms = cd_clock_mono_ms() + x->cfg.timer_interval_ms;
	for (;;) {
		rd_kafka_message_t *m;
		bool idle;
		int64_t t = cd_clock_mono_ms();

		if (proc_stopping && !drain_until) {
			/* from here on nothing is polled: what is pending is processed,
			 * committed and relayed, then the loop ends (below) */
			cd_log(CD_LOG_INFO, "stopping: finishing batches and draining the outbox", NULL);
			drain_until = t + x->cfg.drain_timeout_ms;
		}
		if (x->redis_down) {
			if (proc_stopping) {
				cd_log(CD_LOG_WARN, "stopping while Redis is unavailable: what was not committed is "
				       "processed again by the next owner", "error", x->redis_cause, NULL);
				return 0;
			}
			proc_recover_redis(x);
		}
		proc_retry_take(x);
		/* Everything already fetched, up to POLL_MAX messages, then the batches: one
		 * message per turn of the loop would make the loop's own work (relays, the
		 * pass over the partitions) a cost per message. Idle: nothing more was there. */
		idle = true;
		for (int k = 0; !proc_stopping && k < POLL_MAX; k++) {
			/* while outputs await their delivery reports (served by cd_producer_poll
			 * below), the wait is short: the next head of an outbox waits for them */
			m = rd_kafka_consumer_poll(x->rk, k > 0 ? 0 : relaying ? 1 : POLL_MS);
			if (!m)
				break;
			if (k == POLL_MAX - 1)
				idle = false;
			if (m->err) {
				if (rd_kafka_fatal_error(x->rk, NULL, 0)) {
					cd_log(CD_LOG_ERROR, "fatal kafka error", "error", rd_kafka_message_errstr(m), NULL);
					rd_kafka_message_destroy(m);
					return 1;
				}
				consumer_error(x, m);
				rd_kafka_message_destroy(m);
			} else if (m->partition >= 0 && m->partition < MAX_PARTS && x->parts[m->partition].owned &&
				   proc_topic_index(x, rd_kafka_topic_name(m->rkt)) >= 0) {
				if (pend_add(&x->parts[m->partition], m) < 0)
					rd_kafka_message_destroy(m);
			} else
				rd_kafka_message_destroy(m);
			if (x->redis_down)
				break;      /* a rebalance met Redis trouble: recover first */
		}
		t = cd_clock_mono_ms();
		for (int i = 0; i < MAX_PARTS && !x->redis_down; i++) {
			part *pt = &x->parts[i];
			if (!pt->owned || pt->refused)
				continue;
			if (pt->pend.n && ((int)pt->pend.n >= x->cfg.batch_size || proc_stopping || idle ||
					    t - pt->pend.first_ms >= x->cfg.batch_wait_ms)) {
				int brc = x->cfg.stage == CD_STAGE_AGGREGATES ? agg_process_batch(x, pt, &err)
									      : proc_process_batch(x, pt, &err);
				if (brc == -1 && !x->redis_down) {
					cd_log(CD_LOG_ERROR, "batch failed", "error", err.msg, NULL);
					return 1;
				}
				if (x->n_sent >= QUEUED_MAX)
					proc_commits_finish(x);
			}
			if (!x->redis_down && pt->owned && proc_relay(x, pt, &err) == -1 && !x->redis_down) {
				cd_log(CD_LOG_ERROR, "relay failed", "error", err.msg, NULL);
				return 1;
			}
		}
		/* The pass's commits, made durable together; then what they added is relayed at once. */
		if (!x->n_sent || proc_commits_finish(x) == 0) {
			for (int i = 0; i < MAX_PARTS && !x->redis_down; i++) {
				part *pt = &x->parts[i];
				if (pt->owned && !pt->refused && pt->outbox_maybe && !pt->in_flight &&
				    proc_relay(x, pt, &err) == -1 && !x->redis_down) {
					cd_log(CD_LOG_ERROR, "relay failed", "error", err.msg, NULL);
					return 1;
				}
			}
		}
		if (!x->cfg.event_clock && x->cfg.stage == CD_STAGE_CITIZENS && t >= x->next_timer_ms && !x->redis_down) {
			cd_instant wall = proc_wall_now();
			for (int i = 0; i < MAX_PARTS && !x->redis_down; i++) {
				part *pt = &x->parts[i];
				int frc;
				if (!pt->owned || pt->refused)
					continue;
				frc = proc_fire_due(x, pt, wall, &err);
				/* then the aggregate stage hears that this partition's clock passed wall */
				if (frc == 0 && x->members && pt->owned)
					frc = proc_watermark(x, pt, wall, &err);
				if (frc == -1 && !x->redis_down) {
					cd_log(CD_LOG_ERROR, "timers failed", "error", err.msg, NULL);
					return 1;
				}
			}
			x->next_timer_ms = t + x->cfg.timer_interval_ms;
		}
		proc_monitor_tick(x);
		relaying = false;
		for (int i = 0; i < MAX_PARTS && !relaying; i++)
			relaying = x->parts[i].owned && x->parts[i].in_flight > x->parts[i].delivered;
		cd_producer_poll(x->prod, proc_stopping ? 5 : 0);
		if (cd_producer_fatal(x->prod, &err)) {
			cd_log(CD_LOG_ERROR, "fatal producer error", "error", err.msg, NULL);
			return 1;
		}
		if (proc_stopping && drain_until && drained(x)) {
			cd_log(CD_LOG_INFO, "drained: every batch committed and every output delivered", NULL);
			return 0;
		}
		if (proc_stopping && drain_until && cd_clock_mono_ms() > drain_until) {
			char q[16];
			snprintf(q, sizeof(q), "%d", rd_kafka_outq_len(cd_producer_handle(x->prod)));
			cd_log(CD_LOG_WARN, "drain timed out: the next owner relays what is left in the outbox",
			       "producer_queue", q, NULL);
			return 0;
		}
	}
}

int cd_run_main(int argc, char **argv)
{
	proc *x = calloc(1, sizeof(*x));
	cd_err err = { "", 0 };
	extern char **environ;
	struct sigaction sa;
	int rc, status = 1;
	char n[9][24];
	cd_metrics_totals tot;

	if (!x)
		return 1;
	cd_buf_init(&x->entry, (size_t)64 << 20);
	cd_buf_init(&x->value, (size_t)64 << 20);
	cd_config_init(&x->cfg);
	rc = cd_config_from_args(&x->cfg, argc, argv, environ, &err);
	if (rc == 1) {
		status = 0;
		goto out;
	}
	if (rc < 0) {
		cd_log(CD_LOG_ERROR, "bad configuration", "error", err.msg, NULL);
		status = 2;
		goto out;
	}
	cd_log_set_level(x->cfg.log_level);
	cd_config_log(&x->cfg);
	if (citizen_key_setup(x, &err) < 0) {      /* a bad key is a configuration error, --check-config too */
		cd_log(CD_LOG_ERROR, "bad configuration", "error", err.msg, NULL);
		status = 2;
		goto out;
	}
	if (x->cfg.check_config) {
		status = 0;
		goto out;
	}
	if (wall_clock_init(&err) < 0) {
		cd_log(CD_LOG_ERROR, "bad environment", "error", err.msg, NULL);
		status = 2;
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = setup(x, &err);
	if (rc == 1) {
		cd_log(CD_LOG_INFO, "stopped before start (signal while waiting for redis)", NULL);
		status = 0;
		goto out;
	}
	if (rc < 0) {
		cd_log(CD_LOG_ERROR, "cannot start", "error", err.msg, NULL);
		goto out;
	}
	status = loop(x);
	if (x->rk && status == 0)
		rd_kafka_commit(x->rk, NULL, 0);
	cd_metrics_totals_get(x->met, &tot);
	snprintf(n[0], sizeof(n[0]), "%llu", (unsigned long long)tot.consumed);
	snprintf(n[1], sizeof(n[1]), "%llu", (unsigned long long)tot.outputs);
	snprintf(n[2], sizeof(n[2]), "%llu", (unsigned long long)tot.dead_letters);
	snprintf(n[3], sizeof(n[3]), "%llu", (unsigned long long)tot.commits);
	snprintf(n[4], sizeof(n[4]), "%llu", (unsigned long long)tot.quarantined);
	snprintf(n[5], sizeof(n[5]), "%llu", (unsigned long long)tot.undeliverable);
	snprintf(n[6], sizeof(n[6]), "%llu", (unsigned long long)tot.offset_resets);
	snprintf(n[7], sizeof(n[7]), "%llu", (unsigned long long)tot.member_records);
	snprintf(n[8], sizeof(n[8]), "%llu", (unsigned long long)tot.aggregate_events);
	cd_log(CD_LOG_INFO, "stopped", "inputs", n[0], "outputs", n[1], "dead_letters", n[2], "commits", n[3],
	       "quarantined", n[4], "undeliverable", n[5], "offset_resets", n[6], "member_records", n[7],
	       "aggregate_events", n[8], "stage", x->cfg.stage == CD_STAGE_AGGREGATES ? "aggregates" : "citizens", NULL);
out:
	teardown(x);
	free(x);
	return status;
}
