/*
 * report_source.c — outputs already made, into the report's tally
 * (report_source.h): a file in replay's output format, or the live topics.
 *
 * The topics are read as `contactd consume` reads them (every partition
 * assigned at its beginning, no group joined, nothing committed), but to a
 * fixed end: each partition's high watermark when the report started, so
 * that a report of a running system is the report of one moment, and ends.
 */
#include "cmd/report_source.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/pbjson.h"
#include "util/clock.h"
#include "util/log.h"

#define WATERMARK_TIMEOUT_MS 10000

/* ---- one output ------------------------------------------------------------------------ */

static int date_field(const char *s, const char *field, bool required, cd_date *out, cd_err *err)
{
	*out = CD_DATE_NONE;
	if (!s || !*s)
		return required ? cd_err_set(err, 0, "field '%s' is empty", field) : 0;
	if (cd_date_parse(s, strlen(s), out) < 0)
		return cd_err_set(err, 0, "field '%s' is not a date (YYYY-MM-DD)", field);
	return 0;
}

/* A Timestamp as the stream clock takes it (D69): none when absent or out of range. */
static cd_instant instant_of(const Google__Protobuf__Timestamp *ts)
{
	if (!ts || ts->seconds > INT64_C(9000000000) || ts->seconds < -INT64_C(9000000000) || ts->nanos < 0 ||
	    ts->nanos >= 1000000000)
		return CD_INSTANT_NONE;
	return cd_instant_from_ts(ts->seconds, ts->nanos);
}

/* What a deadline and a breach event share. 0, or -1 (err) when the tally could not count it. */
static int citizen_output(const char *citizen_id, const char *muni, int benefit, const Contact__V1__ObligationState *ob,
			  const char *explanation, const char *what, cd_output *o, cd_err *err)
{
	if (!citizen_id || !*citizen_id || strlen(citizen_id) > CD_MAX_ID_LEN)
		return cd_err_set(err, 0, "%s: field 'citizen_id' is empty or longer than %d bytes", what, CD_MAX_ID_LEN);
	if (!ob)
		return cd_err_set(err, 0, "%s: field 'obligation' is missing", what);
	if (!ob->obligation_id || !*ob->obligation_id || strlen(ob->obligation_id) > CD_MAX_OBLIGATION_ID_LEN)
		return cd_err_set(err, 0, "%s: field 'obligation.obligation_id' is empty or longer than %d bytes", what,
				  CD_MAX_OBLIGATION_ID_LEN);
	if (muni && strlen(muni) > CD_MUNI_LEN)
		return cd_err_set(err, 0, "%s: field 'municipality_code' is longer than %d bytes", what, CD_MUNI_LEN);
	if (benefit < 0 || benefit > CD_BENEFIT_MAX)
		return cd_err_set(err, 0, "%s: field 'benefit' is out of range", what);
	if (date_field(ob->period_start, "obligation.period_start", true, &o->period_start, err) < 0 ||
	    date_field(ob->due_date, "obligation.due_date", false, &o->due, err) < 0)
		return -1;
	o->citizen_id = citizen_id;
	o->muni = muni ? muni : "";
	o->benefit = benefit;
	o->obligation_id = ob->obligation_id;
	o->definition_id = ob->definition_id ? ob->definition_id : "";
	o->aggregate_id = ob->aggregate_id ? ob->aggregate_id : "";
	o->required = ob->required;
	o->held = ob->held;
	o->explanation = explanation ? explanation : "";
	return 0;
}

int cd_report_take_output(cd_tally *t, const Contact__V1__Output *m, cd_err *err)
{
	cd_output o;
	cd_agg_output a;
	cd_agg_benefit by[CD_BENEFIT_MAX + 1];
	cd_err terr;

	memset(&o, 0, sizeof(o));
	switch (m->output_case) {
	case CONTACT__V1__OUTPUT__OUTPUT_DEADLINE: {
		const Contact__V1__DeadlineEvent *d = m->deadline;
		if ((int)d->status < CD_DL_OPENED || (int)d->status > CD_DL_LAPSED)
			return cd_err_set(err, 0, "deadline: field 'status' is out of range"), 1;
		if (citizen_output(d->citizen_id, d->municipality_code, d->benefit, d->obligation, d->explanation,
				   "deadline", &o, err) < 0)
			return 1;
		o.status = d->status;
		o.cancel_reason = d->cancel_reason;
		o.as_of = instant_of(d->as_of);
		break;
	}
	case CONTACT__V1__OUTPUT__OUTPUT_BREACH: {
		const Contact__V1__BreachEvent *b = m->breach;
		if ((int)b->status < CD_BR_BREACHED || (int)b->status > CD_BR_RETRACTED)
			return cd_err_set(err, 0, "breach: field 'status' is out of range"), 1;
		if (citizen_output(b->citizen_id, b->municipality_code, b->benefit, b->obligation, b->explanation,
				   "breach", &o, err) < 0)
			return 1;
		o.is_breach = true;
		o.status = b->status;
		o.breach_kind = b->kind;
		o.as_of = instant_of(b->detected_at);
		break;
	}
	case CONTACT__V1__OUTPUT__OUTPUT_AGGREGATE: {
		const Contact__V1__AggregateEvent *g = m->aggregate;
		size_t n = 0;
		memset(&a, 0, sizeof(a));
		if ((int)g->status < CD_AGG_WARNING || (int)g->status > CD_AGG_RETRACTED)
			return cd_err_set(err, 0, "aggregate: field 'status' is out of range"), 1;
		if (!g->aggregate_id || !*g->aggregate_id || strlen(g->aggregate_id) > CD_MAX_OBLIGATION_ID_LEN)
			return cd_err_set(err, 0, "aggregate: field 'aggregate_id' is empty or longer than %d bytes",
					  CD_MAX_OBLIGATION_ID_LEN), 1;
		if (!g->key || strlen(g->key) > CD_MAX_AKASSE_LEN)
			return cd_err_set(err, 0, "aggregate: field 'key' is longer than %d bytes", CD_MAX_AKASSE_LEN), 1;
		if (date_field(g->period_start, "period_start", true, &a.period_start, err) < 0 ||
		    date_field(g->period_end, "period_end", true, &a.period_end, err) < 0)
			return 1;
		for (size_t i = 0; i < g->n_by_benefit && n < CD_BENEFIT_MAX + 1; i++)
			if (g->by_benefit[i]) {
				by[n].benefit = g->by_benefit[i]->benefit;
				by[n].members = g->by_benefit[i]->members;
				by[n].met = g->by_benefit[i]->met;
				n++;
			}
		a.aggregate_id = g->aggregate_id;
		a.key_kind = g->key_kind;
		a.key = g->key;
		a.status = g->status;
		a.kind = g->kind;
		a.members = g->members;
		a.met = g->met;
		a.lapsed = g->lapsed;
		a.exempted = g->exempted;
		a.required = g->required;
		a.held = g->held;
		a.by_benefit = by;
		a.n_by_benefit = n;
		a.explanation = g->explanation;
		if (cd_tally_aggregate(t, &a, &terr) < 0) {
			*err = terr;
			return -1;
		}
		return 0;
	}
	default:
		return cd_err_set(err, 0, "an Output with none of deadline, breach, aggregate"), 1;
	}
	if (cd_tally_output(t, &o, &terr) < 0) {
		*err = terr;
		return -1;
	}
	return 0;
}

/* ---- a file ---------------------------------------------------------------------------- */

int cd_report_read_outputs(cd_log_reader *rd, const char *name, cd_tally *t, cd_report_read *n)
{
	char pos[128];
	cd_err err = { "", 0 };

	for (;;) {
		const uint8_t *data;
		size_t len;
		Contact__V1__Output *m = NULL;
		cd_log_status st = cd_log_reader_next_logged(rd, &data, &len, &n->records, &n->skipped, &err);
		int rc;

		if (st == CD_LOG_EOF)
			return 0;
		if (st == CD_LOG_LOST)
			return -1;
		cd_log_reader_position(rd, pos, sizeof(pos));
		if (cd_log_reader_format(rd) == CD_LOG_JSON) {
			ProtobufCMessage *pm = NULL;
			if (pbjson_decode(&contact__v1__output__descriptor, (const char *)data, len, &pm, &err) == 0)
				m = (Contact__V1__Output *)pm;
		} else if (!(m = contact__v1__output__unpack(NULL, len, data))) {
			cd_err_set(&err, 0, "not a valid contact.v1.Output (%zu bytes)", len);
		}
		rc = m ? cd_report_take_output(t, m, &err) : 1;
		if (m)
			protobuf_c_message_free_unpacked(&m->base, NULL);
		if (rc < 0) {
			cd_log(CD_LOG_ERROR, "cannot count outputs", "input", name, "position", pos, "error", err.msg, NULL);
			return -1;
		}
		if (rc > 0) {
			n->skipped++;
			cd_log(CD_LOG_WARN, "record skipped", "input", name, "position", pos, "error", err.msg, NULL);
		}
	}
}

/* ---- the live topics ------------------------------------------------------------------- */

enum { K_DEADLINE, K_BREACH, K_AGGREGATE, N_KINDS };

typedef struct topic_end {
	const char *topic;
	int64_t *end;                /* by partition: the high watermark at the start; -1 once reached */
	int n;
} topic_end;

/* Partition p of topic k has reached its end (or had nothing). */
static void reached(topic_end *te, int p, int *left)
{
	if (p >= 0 && p < te->n && te->end[p] >= 0) {
		te->end[p] = -1;
		(*left)--;
	}
}

static int open_assigned(const cd_report_brokers *o, rd_kafka_t **rk, rd_kafka_topic_partition_list_t **parts)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_resp_err_t e;
	cd_err err = { "", 0 };
	char errstr[512], group[64];
	const cd_kv base[] = {   /* before the caller's -X settings, which may override them */
		{ "bootstrap.servers", o->brokers },
		{ "enable.auto.commit", "false" },
		{ "enable.auto.offset.store", "false" },
		{ "enable.partition.eof", "true" },      /* an end reached at an offset no message has */
		{ "auto.offset.reset", "earliest" },
		{ "group.id", group },                   /* never joined (assign() only), nothing committed */
	};
	size_t n_base = sizeof(base) / sizeof(base[0]) - (o->has_group ? 1 : 0);

	cd_kafka_conf_log_to_stderr(conf);
	snprintf(group, sizeof(group), "contactd-report-%ld", (long)getpid());
	if (cd_kafka_conf_apply(conf, base, n_base, &err) < 0 || cd_kafka_conf_apply(conf, o->kv, o->n_kv, &err) < 0) {
		cd_log(CD_LOG_ERROR, "bad kafka setting", "error", err.msg, NULL);
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	if (!(*rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr)))) {
		cd_log(CD_LOG_ERROR, "cannot create the consumer", "error", errstr, NULL);
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	*parts = rd_kafka_topic_partition_list_new(16);
	if (cd_kafka_topic_partitions(*rk, o->deadline_topic, *parts, &err) < 0 ||
	    (strcmp(o->breach_topic, o->deadline_topic) && cd_kafka_topic_partitions(*rk, o->breach_topic, *parts, &err) < 0)) {
		cd_log(CD_LOG_ERROR, "cannot look up the topics", "brokers", o->brokers, "error", err.msg, NULL);
		return -1;
	}
	/* aggregate events only come from an aggregate stage: a cluster without the topic is fine */
	if (*o->aggregate_topic && cd_kafka_topic_partitions(*rk, o->aggregate_topic, *parts, &err) < 0)
		cd_log(CD_LOG_INFO, "no aggregate topic: reading deadlines and breaches only", "topic", o->aggregate_topic,
		       "error", err.msg, NULL);
	for (int i = 0; i < (*parts)->cnt; i++)
		(*parts)->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
	if ((e = rd_kafka_assign(*rk, *parts))) {
		cd_log(CD_LOG_ERROR, "cannot assign the partitions", "error", rd_kafka_err2str(e), NULL);
		return -1;
	}
	return 0;
}

/* Each partition's end: its high watermark now. Returns the partitions that have something to read, or -1. */
static int take_ends(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *parts, topic_end *te)
{
	int left = 0;
	for (int i = 0; i < parts->cnt; i++) {
		const rd_kafka_topic_partition_t *tp = &parts->elems[i];
		int64_t lo, hi;
		rd_kafka_resp_err_t e;
		topic_end *x = NULL;
		for (int k = 0; k < N_KINDS && !x; k++)
			if (te[k].topic && !strcmp(te[k].topic, tp->topic))
				x = &te[k];
		if (!x)
			continue;
		if (tp->partition >= x->n) {
			int64_t *p = realloc(x->end, (size_t)(tp->partition + 1) * sizeof(*p));
			if (!p)
				return -1;
			for (int j = x->n; j <= tp->partition; j++)
				p[j] = -1;
			x->end = p;
			x->n = tp->partition + 1;
		}
		if ((e = rd_kafka_query_watermark_offsets(rk, tp->topic, tp->partition, &lo, &hi, WATERMARK_TIMEOUT_MS))) {
			char part[16];
			snprintf(part, sizeof(part), "%d", (int)tp->partition);
			cd_log(CD_LOG_ERROR, "cannot read a partition's end offset", "topic", tp->topic, "partition", part,
			       "error", rd_kafka_err2str(e), NULL);
			return -1;
		}
		if (hi > lo && hi > 0) {
			x->end[tp->partition] = hi;
			left++;
		}
	}
	return left;
}

int cd_report_read_brokers(const cd_report_brokers *o, cd_tally *t, cd_report_read *n)
{
	rd_kafka_t *rk = NULL;
	rd_kafka_topic_partition_list_t *parts = NULL;
	topic_end te[N_KINDS] = { { o->deadline_topic, NULL, 0 }, { o->breach_topic, NULL, 0 },
				  { *o->aggregate_topic ? o->aggregate_topic : NULL, NULL, 0 } };
	int64_t last;
	int left, status = -1;
	cd_err err = { "", 0 };

	if (open_assigned(o, &rk, &parts) < 0 || (left = take_ends(rk, parts, te)) < 0)
		goto out;
	last = cd_clock_mono_ms();
	while (left > 0) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		const char *topic;
		int k;
		if (!m) {
			if (cd_clock_mono_ms() - last >= o->idle_ms) {
				char num[16];
				snprintf(num, sizeof(num), "%d", left);
				cd_log(CD_LOG_ERROR, "the output topics did not reach their end offsets: the report would be "
				       "incomplete", "partitions_short", num, NULL);
				goto out;
			}
			continue;
		}
		topic = rd_kafka_topic_name(m->rkt);
		for (k = 0; k < N_KINDS; k++)
			if (te[k].topic && !strcmp(te[k].topic, topic))
				break;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if (k < N_KINDS && m->partition < te[k].n && te[k].end[m->partition] >= 0 &&
			    m->offset >= te[k].end[m->partition])
				reached(&te[k], m->partition, &left);
			rd_kafka_message_destroy(m);
			continue;
		}
		if (m->err) {
			cd_log(CD_LOG_WARN, "consumer error", "error", rd_kafka_message_errstr(m), NULL);
			rd_kafka_message_destroy(m);
			continue;
		}
		last = cd_clock_mono_ms();
		if (k == N_KINDS || m->partition >= te[k].n || te[k].end[m->partition] < 0 ||
		    m->offset >= te[k].end[m->partition]) {
			rd_kafka_message_destroy(m);   /* after the report's moment, or a partition already done */
			continue;
		}
		n->records++;
		{
			Contact__V1__Output w = CONTACT__V1__OUTPUT__INIT;
			ProtobufCMessage *inner = NULL;
			int rc = 1;
			if (k == K_AGGREGATE) {
				if ((w.aggregate = contact__v1__aggregate_event__unpack(NULL, m->len, m->payload)))
					inner = &w.aggregate->base;
				w.output_case = CONTACT__V1__OUTPUT__OUTPUT_AGGREGATE;
			} else if (k == K_BREACH) {
				if ((w.breach = contact__v1__breach_event__unpack(NULL, m->len, m->payload)))
					inner = &w.breach->base;
				w.output_case = CONTACT__V1__OUTPUT__OUTPUT_BREACH;
			} else {
				if ((w.deadline = contact__v1__deadline_event__unpack(NULL, m->len, m->payload)))
					inner = &w.deadline->base;
				w.output_case = CONTACT__V1__OUTPUT__OUTPUT_DEADLINE;
			}
			if (inner)
				rc = cd_report_take_output(t, &w, &err);
			else
				cd_err_set(&err, 0, "not a valid %s message (%zu bytes)", topic, m->len);
			if (inner)
				protobuf_c_message_free_unpacked(inner, NULL);
			if (rc < 0) {
				cd_log(CD_LOG_ERROR, "cannot count outputs", "error", err.msg, NULL);
				rd_kafka_message_destroy(m);
				goto out;
			}
			if (rc > 0) {
				char part[16], off[24];
				n->skipped++;
				snprintf(part, sizeof(part), "%d", (int)m->partition);
				snprintf(off, sizeof(off), "%lld", (long long)m->offset);
				cd_log(CD_LOG_WARN, "message skipped", "topic", topic, "partition", part, "offset", off, "error",
				       err.msg, NULL);
			}
		}
		if (m->offset + 1 >= te[k].end[m->partition])
			reached(&te[k], m->partition, &left);
		rd_kafka_message_destroy(m);
	}
	status = 0;
out:
	for (int k = 0; k < N_KINDS; k++)
		free(te[k].end);
	if (parts)
		rd_kafka_topic_partition_list_destroy(parts);
	if (rk) {
		rd_kafka_consumer_close(rk);
		rd_kafka_destroy(rk);
		rd_kafka_wait_destroyed(5000);
	}
	return status;
}
