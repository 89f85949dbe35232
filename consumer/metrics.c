/*
 * metrics.c — the values behind /metrics, /healthz and /readyz (metrics.h).
 *
 * Every value is a C11 atomic, written by the loop thread with relaxed
 * ordering and read the same way by the HTTP thread: a count costs one
 * uncontended add. The one structure that grows, the status names of a
 * topic's outputs, is published with release/acquire so that a reader never
 * sees a slot before its name. Per-partition values live in arrays indexed by
 * partition (like the processor's own), allocated per input topic.
 *
 * Rendering writes the Prometheus text format by hand: it is a line format
 * of `name{labels} value`, and no Debian package offers a C client for it.
 */
#include "consumer/metrics.h"

#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"

#define N_DLQ_STAGES 6
#define N_STATUS 16                  /* status names per output topic (deadlines have 7) */
#define N_BATCH_BUCKETS 6
#define N_COMMIT_BUCKETS 12

static const char *const dlq_stages[N_DLQ_STAGES] = { "size", "decode", "validate", "state", "apply", "other" };
static const double batch_bounds[N_BATCH_BUCKETS] = { 1, 10, 100, 1000, 10000, 100000 };
/* microseconds; rendered in seconds */
static const int64_t commit_bounds[N_COMMIT_BUCKETS] = { 500,    1000,   2500,   5000,    10000,   25000,
							50000,  100000, 250000, 500000, 1000000, 2500000 };

typedef _Atomic uint64_t counter;
typedef _Atomic int64_t gauge;

typedef struct topic_parts {          /* one input topic, by partition */
	char *name;
	counter consumed[CD_METRICS_MAX_PARTS], applied[CD_METRICS_MAX_PARTS], duplicates[CD_METRICS_MAX_PARTS];
	counter offset_resets[CD_METRICS_MAX_PARTS];
	counter dlq[CD_METRICS_MAX_PARTS][N_DLQ_STAGES];
	gauge position[CD_METRICS_MAX_PARTS], high[CD_METRICS_MAX_PARTS];   /* -1: not known */
} topic_parts;

typedef struct out_topic {
	char *name;
	const char *_Atomic status[N_STATUS];
	counter by_status[N_STATUS];
	_Atomic int n_status;
	counter relayed;
} out_topic;

typedef struct histogram {
	counter bucket[N_COMMIT_BUCKETS + 1];   /* the last: +Inf */
	counter count, sum;                     /* sum in the unit counted (records, microseconds) */
} histogram;

struct cd_metrics {
	char *stage, *version;
	topic_parts **in;
	size_t n_in;
	out_topic out[CD_MT_N];
	_Atomic bool seen[CD_METRICS_MAX_PARTS];     /* taken at least once: its counters are shown */
	_Atomic bool held[CD_METRICS_MAX_PARTS];     /* held now: its gauges are shown */
	counter fencing[CD_METRICS_MAX_PARTS];
	gauge outbox[CD_METRICS_MAX_PARTS], outbox_since_ms[CD_METRICS_MAX_PARTS], timers_due[CD_METRICS_MAX_PARTS];
	counter member_records, commits, undeliverable, quarantined;
	counter compactions, folded_events, citizens_deleted;
	counter redis_round_trips, redis_errors, redis_reconnects;
	counter redis_redirects, redis_map_refreshes;
	histogram batch, commit;
	gauge redis_up, owned, refused, unready, last_commit_ms, loop_turn_ms;
	int64_t start_ms;                /* monotonic, at creation */
	double start_time;               /* the wall clock at creation, seconds since the epoch */
};

/* ---- setup -------------------------------------------------------------------------- */

cd_metrics *cd_metrics_new(const char *stage, const char *version, const char *const *in_topics, size_t n_in,
			   const char *const out_topics[CD_MT_N])
{
	cd_metrics *m = calloc(1, sizeof(*m));
	struct timespec ts;
	bool ok;

	if (!m)
		return NULL;
	m->stage = strdup(stage);
	m->version = strdup(version);
	m->in = calloc(n_in ? n_in : 1, sizeof(*m->in));
	ok = m->stage && m->version && m->in;
	m->n_in = n_in;
	for (size_t i = 0; ok && i < n_in; i++) {
		ok = (m->in[i] = calloc(1, sizeof(*m->in[i]))) && (m->in[i]->name = strdup(in_topics[i]));
		for (int p = 0; ok && p < CD_METRICS_MAX_PARTS; p++)
			m->in[i]->position[p] = m->in[i]->high[p] = -1;
	}
	for (int k = 0; ok && k < CD_MT_N; k++)
		ok = (m->out[k].name = strdup(out_topics[k] ? out_topics[k] : "")) != NULL;
	if (!ok) {
		cd_metrics_free(m);
		return NULL;
	}
	m->start_ms = cd_clock_mono_ms();
	m->last_commit_ms = m->loop_turn_ms = m->start_ms;
	m->unready = CD_UNREADY_STARTING;
	clock_gettime(CLOCK_REALTIME, &ts);
	m->start_time = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	return m;
}

void cd_metrics_free(cd_metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; m->in && i < m->n_in; i++) {
		if (m->in[i])
			free(m->in[i]->name);
		free(m->in[i]);
	}
	free(m->in);
	for (int k = 0; k < CD_MT_N; k++)
		free(m->out[k].name);
	free(m->stage);
	free(m->version);
	free(m);
}

/* ---- writers (the loop thread) -------------------------------------------------------- */

#define ADD(c, n) atomic_fetch_add_explicit(&(c), (n), memory_order_relaxed)
#define SET(g, v) atomic_store_explicit(&(g), (v), memory_order_relaxed)
#define GET(g) atomic_load_explicit(&(g), memory_order_relaxed)

static topic_parts *tp(cd_metrics *m, int ti, int32_t p)
{
	return m && ti >= 0 && (size_t)ti < m->n_in && p >= 0 && p < CD_METRICS_MAX_PARTS ? m->in[ti] : NULL;
}

void cd_metrics_consumed(cd_metrics *m, int ti, int32_t p)
{
	topic_parts *t = tp(m, ti, p);
	if (t)
		ADD(t->consumed[p], 1);
}

void cd_metrics_applied(cd_metrics *m, int ti, int32_t p, bool duplicate)
{
	topic_parts *t = tp(m, ti, p);
	if (t)
		ADD(*(duplicate ? &t->duplicates[p] : &t->applied[p]), 1);
}

void cd_metrics_dead_letter(cd_metrics *m, int ti, int32_t p, const char *stage)
{
	topic_parts *t = tp(m, ti, p);
	int s = 0;
	if (!t)
		return;
	while (s < N_DLQ_STAGES - 1 && strcmp(dlq_stages[s], stage))
		s++;
	ADD(t->dlq[p][s], 1);
}

void cd_metrics_output(cd_metrics *m, int kind, const char *status)
{
	out_topic *o;
	int n, i;
	if (!m || kind < 0 || kind >= CD_MT_N)
		return;
	o = &m->out[kind];
	n = atomic_load_explicit(&o->n_status, memory_order_relaxed);
	/* status names are static strings: the pointer finds them, strcmp is the fallback */
	for (i = 0; i < n && o->status[i] != status; i++)
		;
	if (i == n)
		for (i = 0; i < n && strcmp(o->status[i], status); i++)
			;
	if (i == n) {
		if (n == N_STATUS)
			return;
		o->status[n] = status;
		atomic_store_explicit(&o->n_status, n + 1, memory_order_release);
	}
	ADD(o->by_status[i], 1);
}

void cd_metrics_relayed(cd_metrics *m, int kind)
{
	if (m && kind >= 0 && kind < CD_MT_N)
		ADD(m->out[kind].relayed, 1);
}

void cd_metrics_member_record(cd_metrics *m)
{
	ADD(m->member_records, 1);
}

static void observe(histogram *h, const int64_t *bounds_i, const double *bounds_d, int n, int64_t v)
{
	int b = 0;
	while (b < n && (bounds_i ? v > bounds_i[b] : (double)v > bounds_d[b]))
		b++;
	ADD(h->bucket[b], 1);
	ADD(h->count, 1);
	ADD(h->sum, (uint64_t)(v > 0 ? v : 0));
}

void cd_metrics_commit(cd_metrics *m, size_t records, int64_t usec)
{
	ADD(m->commits, 1);
	observe(&m->batch, NULL, batch_bounds, N_BATCH_BUCKETS, (int64_t)records);
	observe(&m->commit, commit_bounds, NULL, N_COMMIT_BUCKETS, usec);
	SET(m->last_commit_ms, cd_clock_mono_ms());
}

void cd_metrics_fencing_loss(cd_metrics *m, int32_t p)
{
	if (p >= 0 && p < CD_METRICS_MAX_PARTS)
		ADD(m->fencing[p], 1);
}

void cd_metrics_undeliverable(cd_metrics *m)
{
	ADD(m->undeliverable, 1);
}

void cd_metrics_history(cd_metrics *m, uint64_t compactions, uint64_t folded_events, uint64_t deleted)
{
	ADD(m->compactions, compactions);
	ADD(m->folded_events, folded_events);
	ADD(m->citizens_deleted, deleted);
}

void cd_metrics_quarantined(cd_metrics *m)
{
	ADD(m->quarantined, 1);
}

void cd_metrics_offset_reset(cd_metrics *m, int ti, int32_t p)
{
	topic_parts *t = tp(m, ti, p);
	if (t)
		ADD(t->offset_resets[p], 1);
}

void cd_metrics_part_held(cd_metrics *m, int32_t p, bool held)
{
	if (p < 0 || p >= CD_METRICS_MAX_PARTS || GET(m->held[p]) == held)
		return;
	if (held) {
		SET(m->seen[p], true);
		SET(m->outbox[p], -1);
		SET(m->timers_due[p], -1);
	} else
		for (size_t i = 0; i < m->n_in; i++)
			SET(m->in[i]->position[p], -1);   /* the next owner's; ours again from the next take */
	SET(m->outbox_since_ms[p], 0);
	SET(m->held[p], held);
}

void cd_metrics_position(cd_metrics *m, int ti, int32_t p, int64_t next)
{
	topic_parts *t = tp(m, ti, p);
	if (t)
		SET(t->position[p], next);
}

void cd_metrics_position_default(cd_metrics *m, int ti, int32_t p, int64_t next)
{
	topic_parts *t = tp(m, ti, p);
	if (t && GET(t->position[p]) < 0)
		SET(t->position[p], next);
}

void cd_metrics_high_watermark(cd_metrics *m, int ti, int32_t p, int64_t high)
{
	topic_parts *t = tp(m, ti, p);
	if (t)
		SET(t->high[p], high);
}

void cd_metrics_outbox(cd_metrics *m, int32_t p, int64_t entries)
{
	if (p >= 0 && p < CD_METRICS_MAX_PARTS)
		SET(m->outbox[p], entries);
}

void cd_metrics_outbox_pending(cd_metrics *m, int32_t p, bool pending)
{
	if (p < 0 || p >= CD_METRICS_MAX_PARTS)
		return;
	if (!pending)
		SET(m->outbox_since_ms[p], 0);
	else if (!GET(m->outbox_since_ms[p]))
		SET(m->outbox_since_ms[p], cd_clock_mono_ms());
}

void cd_metrics_timers_due(cd_metrics *m, int32_t p, int64_t due)
{
	if (p >= 0 && p < CD_METRICS_MAX_PARTS)
		SET(m->timers_due[p], due);
}

void cd_metrics_redis(cd_metrics *m, uint64_t round_trips, uint64_t errors, uint64_t reconnects, bool up)
{
	SET(m->redis_round_trips, round_trips);
	SET(m->redis_errors, errors);
	SET(m->redis_reconnects, reconnects);
	SET(m->redis_up, up);
}

void cd_metrics_redis_cluster(cd_metrics *m, uint64_t redirects, uint64_t map_refreshes)
{
	SET(m->redis_redirects, redirects);
	SET(m->redis_map_refreshes, map_refreshes);
}

void cd_metrics_partitions(cd_metrics *m, int owned, int refused)
{
	SET(m->owned, owned);
	SET(m->refused, refused);
}

void cd_metrics_set_ready(cd_metrics *m, unsigned unready_bits)
{
	SET(m->unready, (int64_t)unready_bits);
}

void cd_metrics_loop_turned(cd_metrics *m)
{
	SET(m->loop_turn_ms, cd_clock_mono_ms());
}

static int64_t lag_of(const topic_parts *t, int p)
{
	int64_t pos = GET(t->position[p]), hi = GET(t->high[p]);
	return pos < 0 || hi < 0 ? -1 : hi > pos ? hi - pos : 0;
}

void cd_metrics_totals_get(const cd_metrics *m, cd_metrics_totals *t)
{
	cd_metrics *w = (cd_metrics *)(uintptr_t)m;   /* atomics are read through a mutable pointer */
	bool lag_known = false, outbox_known = false;

	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < w->n_in; i++)
		for (int p = 0; p < CD_METRICS_MAX_PARTS; p++) {
			topic_parts *tpp = w->in[i];
			if (!GET(w->seen[p]))
				continue;
			t->consumed += GET(tpp->consumed[p]);
			t->applied += GET(tpp->applied[p]);
			t->duplicates += GET(tpp->duplicates[p]);
			t->offset_resets += GET(tpp->offset_resets[p]);
			for (int s = 0; s < N_DLQ_STAGES; s++)
				t->dead_letters += GET(tpp->dlq[p][s]);
			if (GET(w->held[p]) && lag_of(tpp, p) >= 0) {
				t->lag += lag_of(tpp, p);
				lag_known = true;
			}
		}
	for (int p = 0; p < CD_METRICS_MAX_PARTS; p++) {
		t->fencing_losses += GET(w->fencing[p]);
		if (GET(w->held[p]) && GET(w->outbox[p]) >= 0) {
			t->outbox += GET(w->outbox[p]);
			outbox_known = true;
		}
	}
	for (int k = 0; k < CD_MT_N; k++) {
		int n = atomic_load_explicit(&w->out[k].n_status, memory_order_acquire);
		uint64_t sum = 0;
		t->relayed += GET(w->out[k].relayed);
		for (int s = 0; s < n; s++)
			sum += GET(w->out[k].by_status[s]);
		t->outputs += sum;
		if (k == CD_MT_AGGREGATES)
			t->aggregate_events = sum;
	}
	t->member_records = GET(w->member_records);
	t->commits = GET(w->commits);
	t->round_trips = GET(w->redis_round_trips);
	t->undeliverable = GET(w->undeliverable);
	t->quarantined = GET(w->quarantined);
	if (!lag_known)
		t->lag = -1;
	if (!outbox_known)
		t->outbox = -1;
}

/* ---- readers (any thread) ------------------------------------------------------------- */

bool cd_metrics_live(const cd_metrics *m)
{
	cd_metrics *w = (cd_metrics *)(uintptr_t)m;
	return cd_clock_mono_ms() - GET(w->loop_turn_ms) < CD_LIVENESS_STALL_MS;
}

unsigned cd_metrics_unready(const cd_metrics *m, char *why, size_t cap)
{
	static const char *const words[] = {
		"starting: no partitions assigned by the consumer group yet",
		"a partition could not be taken (Redis error; retrying)",
		"a partition's state is gone from Redis: an operator must act (see --reset-state)",
		"redis is not reachable",
		"stopping: draining",
	};
	cd_metrics *w = (cd_metrics *)(uintptr_t)m;
	unsigned bits = (unsigned)GET(w->unready);
	size_t len = 0;

	if (!cd_metrics_live(m))
		bits |= 1u << 5;
	if (why && cap)
		why[0] = '\0';
	for (unsigned b = 0; b < 6 && why; b++)
		if (bits & (1u << b)) {
			int k = snprintf(why + len, cap - len, "%s\n", b < 5 ? words[b] : "the processing loop has stalled");
			if (k < 0 || (size_t)k >= cap - len)
				break;
			len += (size_t)k;
		}
	return bits;
}

/* Label values: backslash, double quote and newline escaped, as the format asks; lower case if asked. */
static int put_label_case(cd_buf *b, const char *s, bool lower)
{
	for (; *s; s++) {
		const char *e = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : *s == '\n' ? "\\n" : NULL;
		char c = lower && *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
		if (e ? cd_buf_puts(b, e) < 0 : cd_buf_putc(b, c) < 0)
			return -1;
	}
	return 0;
}

static int put_label(cd_buf *b, const char *s)
{
	return put_label_case(b, s, false);
}

static int head(cd_buf *b, const char *name, const char *type, const char *help)
{
	return cd_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{topic="…",partition="p"} v, the topic label left out when topic is NULL. */
static int tp_line(cd_buf *b, const char *name, const char *topic, int p, const char *extra_k, const char *extra_v,
		   long long v)
{
	int rc = cd_buf_printf(b, "%s{", name);
	if (topic)
		rc |= cd_buf_puts(b, "topic=\"") | put_label(b, topic) | cd_buf_puts(b, "\",");
	rc |= cd_buf_printf(b, "partition=\"%d\"", p);
	if (extra_k)
		rc |= cd_buf_printf(b, ",%s=\"", extra_k) | put_label(b, extra_v) | cd_buf_putc(b, '"');
	return rc | cd_buf_printf(b, "} %lld\n", v);
}

typedef enum { F_CONSUMED, F_APPLIED, F_DUPLICATES, F_RESETS } tp_field;

static int tp_family(cd_buf *b, cd_metrics *m, const char *name, const char *help, tp_field f)
{
	int rc = head(b, name, "counter", help);
	for (size_t i = 0; i < m->n_in; i++)
		for (int p = 0; p < CD_METRICS_MAX_PARTS; p++) {
			topic_parts *t = m->in[i];
			counter *c = f == F_CONSUMED ? t->consumed : f == F_APPLIED ? t->applied
						     : f == F_DUPLICATES ? t->duplicates : t->offset_resets;
			if (GET(m->seen[p]))
				rc |= tp_line(b, name, t->name, p, NULL, NULL, (long long)GET(c[p]));
		}
	return rc;
}

static int histogram_family(cd_buf *b, const char *name, const char *help, histogram *h, const int64_t *bi,
			    const double *bd, int n, double scale)
{
	uint64_t cum = 0;
	int rc = head(b, name, "histogram", help);
	for (int k = 0; k <= n; k++) {
		cum += GET(h->bucket[k]);
		if (k < n)
			rc |= cd_buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, bi ? (double)bi[k] * scale : bd[k],
					    (unsigned long long)cum);
		else
			rc |= cd_buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
	}
	return rc | cd_buf_printf(b, "%s_sum %.6f\n%s_count %llu\n", name, (double)GET(h->sum) * scale, name,
				  (unsigned long long)GET(h->count));
}

static int scalar(cd_buf *b, const char *name, const char *type, const char *help, double v)
{
	return head(b, name, type, help) | cd_buf_printf(b, "%s %.17g\n", name, v);
}

/* RSS, open and allowed file descriptors and CPU time, from /proc and getrusage. */
static int process_family(cd_buf *b, const cd_metrics *m)
{
	long rss_pages = -1, fds = 0;
	struct rlimit rl;
	struct rusage ru;
	FILE *f = fopen("/proc/self/statm", "r");
	DIR *d = opendir("/proc/self/fd");
	int rc = 0;

	if (f) {
		if (fscanf(f, "%*s %ld", &rss_pages) != 1)
			rss_pages = -1;
		fclose(f);
	}
	if (d) {
		for (struct dirent *e; (e = readdir(d));)
			fds += e->d_name[0] != '.';
		closedir(d);
		fds--;                           /* the directory's own descriptor */
	}
	getrusage(RUSAGE_SELF, &ru);
	rc |= scalar(b, "process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.",
		     (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
			     (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	if (rss_pages >= 0)
		rc |= scalar(b, "process_resident_memory_bytes", "gauge", "Resident memory size, in bytes.",
			     (double)rss_pages * (double)sysconf(_SC_PAGESIZE));
	if (d)
		rc |= scalar(b, "process_open_fds", "gauge", "Open file descriptors.", (double)fds);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		rc |= scalar(b, "process_max_fds", "gauge", "The most file descriptors the process may open.",
			     rl.rlim_cur == RLIM_INFINITY ? -1.0 : (double)rl.rlim_cur);
	return rc | scalar(b, "process_start_time_seconds", "gauge", "Start time of the process, in seconds since the epoch.",
			   m->start_time);
}

int cd_metrics_render(const cd_metrics *cm, cd_buf *b)
{
	cd_metrics *m = (cd_metrics *)(uintptr_t)cm;
	int64_t now = cd_clock_mono_ms();
	int rc = 0;

	rc |= head(b, "contactd_build_info", "gauge", "Always 1: the version and the stage this process runs.");
	rc |= cd_buf_puts(b, "contactd_build_info{version=\"") | put_label(b, m->version) |
	      cd_buf_puts(b, "\",stage=\"") | put_label(b, m->stage) | cd_buf_puts(b, "\"} 1\n");

	rc |= tp_family(b, m, "contactd_records_consumed_total", "Input records taken into a batch.", F_CONSUMED);
	rc |= tp_family(b, m, "contactd_records_applied_total", "Input records the engine applied.", F_APPLIED);
	rc |= tp_family(b, m, "contactd_records_duplicate_total",
			"Input records already applied before (no outputs).", F_DUPLICATES);
	rc |= tp_family(b, m, "contactd_offset_resets_total",
			"Stored offsets deleted by retention before they were processed: inputs lost.", F_RESETS);

	rc |= head(b, "contactd_dead_letters_total", "counter", "Input records set aside to the dead-letter topic, by stage.");
	for (size_t i = 0; i < m->n_in; i++)
		for (int p = 0; p < CD_METRICS_MAX_PARTS; p++)
			for (int s = 0; s < N_DLQ_STAGES && GET(m->seen[p]); s++)
				if (GET(m->in[i]->dlq[p][s]) || s < N_DLQ_STAGES - 1)
					rc |= tp_line(b, "contactd_dead_letters_total", m->in[i]->name, p, "stage",
						      dlq_stages[s], (long long)GET(m->in[i]->dlq[p][s]));

	rc |= head(b, "contactd_outputs_total", "counter", "Outputs committed to the outbox, by topic and status.");
	for (int k = 0; k < CD_MT_N; k++) {
		out_topic *o = &m->out[k];
		int n = atomic_load_explicit(&o->n_status, memory_order_acquire);
		for (int s = 0; s < n; s++)
			rc |= cd_buf_puts(b, "contactd_outputs_total{topic=\"") | put_label(b, o->name) |
			      cd_buf_puts(b, "\",status=\"") | put_label_case(b, o->status[s], true) |
			      cd_buf_printf(b, "\"} %llu\n", (unsigned long long)GET(o->by_status[s]));
	}
	rc |= head(b, "contactd_relayed_total", "counter", "Outbox messages delivered to Kafka, by topic.");
	for (int k = 0; k < CD_MT_N; k++)
		if (*m->out[k].name)
			rc |= cd_buf_puts(b, "contactd_relayed_total{topic=\"") | put_label(b, m->out[k].name) |
			      cd_buf_printf(b, "\"} %llu\n", (unsigned long long)GET(m->out[k].relayed));

	rc |= scalar(b, "contactd_member_records_total", "counter",
		     "Share-member records written for the aggregate stage.", (double)GET(m->member_records));
	rc |= scalar(b, "contactd_commits_total", "counter", "Atomic Redis commits acknowledged.", (double)GET(m->commits));
	rc |= histogram_family(b, "contactd_batch_records", "Input records per committed batch.", &m->batch, NULL,
			       batch_bounds, N_BATCH_BUCKETS, 1.0);
	rc |= histogram_family(b, "contactd_commit_duration_seconds", "From sending a commit to reading its reply.",
			       &m->commit, commit_bounds, NULL, N_COMMIT_BUCKETS, 1e-6);
	rc |= scalar(b, "contactd_redis_round_trips_total", "counter", "Redis calls (a pipelined group counts once).",
		     (double)GET(m->redis_round_trips));
	rc |= scalar(b, "contactd_redis_errors_total", "counter", "Redis calls that failed.", (double)GET(m->redis_errors));
	rc |= scalar(b, "contactd_redis_reconnects_total", "counter", "Redis connections made again after the first.",
		     (double)GET(m->redis_reconnects));
	rc |= scalar(b, "contactd_redis_up", "gauge", "1 when Redis answers.", (double)GET(m->redis_up));
	rc |= scalar(b, "contactd_redis_cluster_redirects_total", "counter",
		     "Redis Cluster MOVED and ASK replies followed.", (double)GET(m->redis_redirects));
	rc |= scalar(b, "contactd_redis_cluster_map_refreshes_total", "counter",
		     "Redis Cluster slot maps read (CLUSTER SLOTS).", (double)GET(m->redis_map_refreshes));

	rc |= head(b, "contactd_fencing_losses_total", "counter",
		   "Partitions lost because another processor took them (fenced).");
	for (int p = 0; p < CD_METRICS_MAX_PARTS; p++)
		if (GET(m->seen[p]))
			rc |= tp_line(b, "contactd_fencing_losses_total", NULL, p, NULL, NULL, (long long)GET(m->fencing[p]));
	rc |= scalar(b, "contactd_undeliverable_total", "counter",
		     "Outbox entries Kafka refused for good (sent as stand-in dead letters).", (double)GET(m->undeliverable));
	rc |= scalar(b, "contactd_quarantined_citizens_total", "counter", "Citizens whose Redis record does not decode.",
		     (double)GET(m->quarantined));
	rc |= scalar(b, "contactd_history_compactions_total", "counter",
		     "Times a citizen's history was folded into its summary (history-horizon).", (double)GET(m->compactions));
	rc |= scalar(b, "contactd_history_folded_events_total", "counter", "History entries folded into summaries.",
		     (double)GET(m->folded_events));
	rc |= scalar(b, "contactd_citizens_deleted_total", "counter",
		     "Citizens whose state retention deleted.", (double)GET(m->citizens_deleted));

	rc |= head(b, "contactd_consumer_lag_records", "gauge", "Records on the topic not yet processed (high watermark - position).");
	for (size_t i = 0; i < m->n_in; i++)
		for (int p = 0; p < CD_METRICS_MAX_PARTS; p++)
			if (GET(m->held[p]) && lag_of(m->in[i], p) >= 0)
				rc |= tp_line(b, "contactd_consumer_lag_records", m->in[i]->name, p, NULL, NULL,
					      (long long)lag_of(m->in[i], p));
	rc |= head(b, "contactd_outbox_entries", "gauge", "Entries in the partition's Redis outbox, not yet delivered.");
	for (int p = 0; p < CD_METRICS_MAX_PARTS; p++)
		if (GET(m->held[p]) && GET(m->outbox[p]) >= 0)
			rc |= tp_line(b, "contactd_outbox_entries", NULL, p, NULL, NULL, (long long)GET(m->outbox[p]));
	rc |= head(b, "contactd_relay_lag_seconds", "gauge", "How long the partition's outbox has not been empty.");
	for (int p = 0; p < CD_METRICS_MAX_PARTS; p++)
		if (GET(m->held[p])) {
			int64_t since = GET(m->outbox_since_ms[p]);
			rc |= cd_buf_printf(b, "contactd_relay_lag_seconds{partition=\"%d\"} %.3f\n", p,
					    since ? (double)(now - since) / 1000.0 : 0.0);
		}
	rc |= head(b, "contactd_timers_due", "gauge", "Citizens whose timer is due and not yet fired.");
	for (int p = 0; p < CD_METRICS_MAX_PARTS; p++)
		if (GET(m->held[p]) && GET(m->timers_due[p]) >= 0)
			rc |= tp_line(b, "contactd_timers_due", NULL, p, NULL, NULL, (long long)GET(m->timers_due[p]));

	rc |= scalar(b, "contactd_partitions_owned", "gauge", "Partitions this process holds.", (double)GET(m->owned));
	rc |= scalar(b, "contactd_partitions_refused", "gauge",
		     "Partitions whose Redis state is gone, waiting for an operator.", (double)GET(m->refused));
	rc |= scalar(b, "contactd_ready", "gauge", "1 when /readyz says ready.",
		     cd_metrics_unready(m, NULL, 0) ? 0.0 : 1.0);
	rc |= scalar(b, "contactd_seconds_since_last_commit", "gauge",
		     "Seconds since the last acknowledged commit (since the start before the first).",
		     (double)(now - GET(m->last_commit_ms)) / 1000.0);
	rc |= process_family(b, m);
	return rc ? -1 : 0;
}
