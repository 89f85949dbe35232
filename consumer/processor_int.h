/*
 * processor_int.h — what the files of the live processor share (consumer/
 * processor.c, batch.c, relay.c, assign.c), like librdkafka's *_int.h: the
 * processor's state and the functions one file calls in another. Nothing
 * outside consumer/ includes it; cmd/ sees only cd_run_main (commands.h).
 *
 * One thread runs all of it (librdkafka has threads of its own underneath):
 * every function here runs on the processor's loop thread, including the
 * rebalance and delivery callbacks, which librdkafka calls from
 * rd_kafka_consumer_poll and rd_kafka_poll.
 */
#ifndef CD_CONSUMER_PROCESSOR_INT_H
#define CD_CONSUMER_PROCESSOR_INT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>

#include "consumer/config.h"
#include "consumer/kafka.h"
#include "consumer/metrics.h"
#include "consumer/redis_store.h"
#include "state/engine.h"
#include "util/buf.h"
#include "util/err.h"

#define MAX_PARTS 1024           /* partition numbers 0 … MAX_PARTS-1; higher ones are refused */
#define LOAD_CHUNK 512           /* citizens per MGET */
#define TIMER_CHUNK 500          /* due citizens fired and committed at a time (wall clock) */
#define UNDELIVERABLE_MAX 64     /* entries of one relay batch set aside as undeliverable */
#define QUARANTINE_SAID 64       /* quarantined citizens remembered, so each is logged once */
#define BACKOFF_FIRST_MS 100     /* Redis and partition-taking retries: first wait … */
#define BACKOFF_MAX_MS 5000      /* … doubling up to this */
#define KAFKA_TIMEOUT_MS 10000   /* committed-offset look-ups and seeks */
#define POLL_MS 20               /* the loop's consumer poll */
#define POLL_MAX 10000           /* messages taken from the consumer per turn of the loop */
#define QUEUED_MAX 64            /* commits queued before they are sent: bounds the batches held */
#define SPARE_BATCHES QUEUED_MAX /* cleared batches kept for reuse: the peak is QUEUED_MAX held anyway */

typedef struct pending {
	rd_kafka_message_t **m;
	size_t n, cap;
	int64_t first_ms;        /* when the oldest pending message arrived */
} pending;

typedef struct part {
	int32_t p;
	bool owned;
	bool refused;            /* Redis lost its state; waiting for an operator */
	int64_t token;
	cd_instant floor;
	pending pend;
	/* relay */
	bool outbox_maybe;       /* a commit added entries (or we just took p): read the outbox */
	size_t in_flight, delivered;
	bool delivery_failed;
	uint32_t relay_gen;      /* tags delivery reports, so stale ones are ignored */
	/* entries of the head batch that can never be delivered (by index in the batch):
	 * sent again as a small dead letter that says so, so they never block the rest */
	uint32_t undeliverable[UNDELIVERABLE_MAX];
	uint8_t undeliverable_level[UNDELIVERABLE_MAX];   /* 1: send a stub; 2: the stub failed too */
	char undeliverable_why[UNDELIVERABLE_MAX][96];
	size_t n_undeliverable;
	size_t head_entries;     /* outbox entries in the head being relayed (a watermark is several messages) */
	/* assignment that failed on a Redis error: retried from the loop, with backoff */
	bool untaken;
	/* members topic: the sequence number of the last record said, and of the last committed */
	uint64_t mseq, mseq_committed;
	cd_instant wm;           /* wall clock: the last watermark said (tags the members said after it) */
	struct aggpart *agg;     /* stage aggregates: this partition's aggregator and sources (aggstage.c) */
	bool sent;               /* its batch's commit is queued (qbatch), not yet acknowledged: pend is kept */
	bool trim_sent;          /* its delivered head's trim is queued, not yet acknowledged */
	cd_redis_batch *qbatch;  /* the queued commit (owned until its reply is read) */
} part;

typedef struct sent_call {   /* a write sent on the commit connection, its reply not read yet */
	int32_t p;
	bool trim;               /* an outbox trim; else a batch's commit */
} sent_call;

typedef struct slot {        /* a citizen held during one batch */
	char id[CD_MAX_ID_LEN + 1];
	cd_citizen c;
	bool dirty;
	bool corrupt;            /* its Redis record does not decode: quarantined */
	char why[224];           /* … and why (goes into its inputs' dead letters) */
} slot;

typedef struct proc {
	cd_config cfg;
	cd_rules *rules;
	cd_engine *eng;
	cd_engine_stats eng_said;   /* the engine's counters as last added to the metrics */
	cd_redis *redis;
	cd_pseudonym_key ckey;   /* names citizens in logs, dead-letter texts and Redis keys */
	bool bad_timer_said;     /* a timer member that does not open was logged */
	/* Commits of citizen batches and outbox trims: sent on a connection of their own
	 * and their replies read once per pass of the loop, so that one fsync covers the
	 * writes of every partition of the pass (proc_commits_finish). */
	cd_redis *wredis;
	sent_call sent[2 * MAX_PARTS];   /* in sending order; at most a commit and a trim per partition */
	size_t n_sent;
	cd_redis_batch *spare[SPARE_BATCHES];   /* cleared batches for the next queued commits */
	size_t n_spare;
	rd_kafka_t *rk;
	cd_producer *prod;
	cd_mock *mock;
	char brokers[1024];
	part parts[MAX_PARTS];
	cd_redis_batch *batch;
	slot *slots;
	size_t n_slots, cap_slots;
	uint32_t *slot_ix;       /* open addressing over slots: 0 empty, else index + 1 */
	size_t n_slot_ix;        /* a power of two, >= 2 * cap_slots */
	cd_buf entry;            /* one outbox entry being built */
	cd_buf value;            /* one output message */
	cd_buf *recs;            /* MGET results */
	size_t cap_recs;
	int *found;
	int redis_down;
	char redis_cause[sizeof(((cd_err *)0)->msg)];   /* the error that took Redis down, for the log */
	int redis_backoff_ms;    /* grows while Redis keeps failing; reset by a commit */
	uint64_t quarantine_said[QUARANTINE_SAID];   /* hashes of the citizens last reported */
	int64_t next_take_ms;    /* when to retry partitions that could not be taken */
	int take_backoff_ms;
	int64_t untaken_since_ms;
	bool untaken_reported;
	int64_t next_timer_ms;
	/* share members (stage citizens): where they go, and the step being taken */
	bool members;            /* members-topic set: members and watermarks are written */
	int n_member_parts;      /* partitions of the members topic (a watermark goes to each) */
	int n_src_parts;         /* partitions of the input topic (the stage's sources) */
	part *cur;               /* the partition whose batch or clock is running */
	bool at_tick;            /* … and whether its clock is advancing (members said now are tagged so) */
	cd_instant tick_clock;   /* … to this instant */
	uint64_t n_quarantined;  /* citizens quarantined: the ring index of quarantine_said */
	/* what operators see (monitor.c): the counts, the endpoints, the progress line */
	cd_metrics *met;
	struct cd_httpd *httpd;
	bool joined;             /* the group has assigned partitions at least once */
	int64_t next_state_ms, next_gauges_ms, next_progress_ms;
	int64_t progress_ms;     /* when the last progress line was logged … */
	cd_metrics_totals progress_at;   /* … and the totals then */
	int64_t commit_sent_us;  /* when the queued commits went (commit latency) */
	size_t batch_inputs;     /* input records in the batch proc_commit commits next (the rest: 0) */
} proc;


/* ---- processor.c: clocks, signals, Redis trouble ---------------------------------- */

/* Set by SIGTERM/SIGINT; the loop drains and ends. */
extern volatile sig_atomic_t proc_stopping;
cd_instant proc_wall_now(void);                  /* the wall clock (with the test seam) */
void proc_sleep_unless_stopping(int ms);
/* The next wait of a backoff: BACKOFF_FIRST_MS after 0, then doubling up to BACKOFF_MAX_MS. */
int proc_backoff_next(int ms);
/* Redis failed in a way a retry can outlive: the loop recovers (proc_recover_redis). */
void proc_redis_trouble(proc *x, const cd_err *err);

/* ---- batch.c: pending inputs → held citizens → engine → one commit ---------------- */

/* Processes pt's pending messages and commits them. 0; -1 (Redis trouble: x->redis_down,
 * or a final error); -2 (fenced: the partition was lost). */
int proc_process_batch(proc *x, part *pt, cd_err *err);
/* Wall clock: fires and commits pt's citizens due by t, TIMER_CHUNK at a time. */
int proc_fire_due(proc *x, part *pt, cd_instant t, cd_err *err);
/* Another processor took pt (fenced): forget it and what was pending. */
void proc_part_lost(proc *x, part *pt, const char *why);
/* pt's pending inputs are committed: their offsets go to the consumer (lag tools) and the metrics. */
void proc_offsets_store(proc *x, part *pt);
/* Destroys pt's pending messages. */
void proc_pend_drop(part *pt);

/* A dead letter for message m (its stage and why): 0, or -1 with err (no memory: the batch fails). */
int proc_set_aside(proc *x, const rd_kafka_message_t *m, const char *stage, const char *why, cd_err *err);
/* Commits the batch being built for pt. 0; -1 (Redis trouble: x->redis_down set); -2 (fenced).
 * Commits sent and not yet finished are finished first. */
int proc_commit(proc *x, part *pt, cd_err *err);
/* Sends the commits and trims queued, reads their replies (in order) and does what each says: the
 * partition's inputs are then committed (its head trimmed), lost to another processor
 * (fenced), or, on Redis trouble, read again after recovery. -1 when Redis is down
 * (x->redis_down), else 0. */
int proc_commits_finish(proc *x);

/* Share members' outcomes go to the members topic from now on (the engine's member callback). */
void proc_members_on(proc *x);
/* Wall clock, members on: says pt's clock passed t (a watermark), in a commit of its own. */
int proc_watermark(proc *x, part *pt, cd_instant t, cd_err *err);

/* ---- aggstage.c: the aggregate stage (stage aggregates) ------------------------------ */

/* Processes pt's pending member records and commits them. As proc_process_batch. */
int agg_process_batch(proc *x, part *pt, cd_err *err);
/* Forgets pt's aggregator (lost, given back, or state to be read again from Redis). */
void agg_part_drop(part *pt);
void agg_free_all(proc *x);

/* ---- monitor.c: metrics, endpoints, readiness, progress ------------------------------ */

/* Creates the metrics and, with metrics-addr, starts the endpoints. 0 / -1. */
int proc_monitor_start(proc *x, cd_err *err);
void proc_monitor_stop(proc *x);
/* Once per turn of the loop: liveness, and (when due) gauges, readiness and the progress line. */
void proc_monitor_tick(proc *x);
/* Waiting before the loop (for Redis): alive, not ready for `why` (CD_UNREADY_*). */
void proc_monitor_waiting(proc *x, unsigned why);
/* The index of m's topic among the inputs (0 when there is one). */
int proc_msg_topic(const proc *x, const rd_kafka_message_t *m);

/* ---- relay.c: outbox → Kafka ---------------------------------------------------------- */

/* Produces the head of pt's outbox and, once delivered, sends its trim. 0; -1; -2 (fenced). */
int proc_relay(proc *x, part *pt, cd_err *err);
/* pt's head is trimmed (the reply of its trim): the next head may go. */
void proc_trimmed(part *pt);
/* The producer's delivery report (cd_delivery_fn), opaque is the relay's tag. */
void proc_on_delivery(void *ctx, void *opaque, rd_kafka_resp_err_t kerr, const char *reason);

/* ---- assign.c: partitions taken and given back, Redis recovery ------------------- */

void proc_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t kerr, rd_kafka_topic_partition_list_t *list,
		       void *opaque);
/* Takes again, with backoff, the partitions a Redis error kept us from taking. */
void proc_retry_take(proc *x);
void proc_recover_redis(proc *x);
/* Fetching of `at`'s partitions starts again at their offsets (after an offset-reset error). */
int proc_restart_at(proc *x, rd_kafka_topic_partition_list_t *at);
/* The index of an input topic, or -1. */
int proc_topic_index(const proc *x, const char *topic);

#endif
