/*
 * report_source.h — where `contactd report` reads outputs that were already
 * made: a file in replay's output format (--outputs), or the live output
 * topics (--brokers). (--input, a replay in-process, is cmd/report.c's.)
 *
 * Every record becomes a cd_output or cd_agg_output and goes to the tally. A
 * record that is not a usable contact.v1 output (it does not decode, or lacks
 * what the tally needs: a citizen, an obligation id, a period start, a status
 * in range) is logged with its position and skipped, as replay skips bad
 * inputs; no log line names a citizen.
 */
#ifndef CD_CMD_REPORT_SOURCE_H
#define CD_CMD_REPORT_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cmd/report_tally.h"
#include "consumer/kafka.h"
#include "contact/v1/outputs.pb-c.h"
#include "proto/eventlog.h"

typedef struct cd_report_read {
	uint64_t records, skipped;
} cd_report_read;

/*
 * Every record of rd (contact.v1.Output, JSON lines or length-delimited pb,
 * as cd_log_reader reads them) into t. 0, or -1 when the framing was lost or
 * the tally failed (logged).
 */
int cd_report_read_outputs(cd_log_reader *rd, const char *name, cd_tally *t, cd_report_read *n);

typedef struct cd_report_brokers {
	const char *brokers;
	const char *deadline_topic, *breach_topic, *aggregate_topic;   /* aggregate "": none */
	long idle_ms;                /* give up after this long without progress */
	const cd_kv *kv;             /* -X settings */
	size_t n_kv;
	int has_group;               /* -X group.id was given */
} cd_report_brokers;

/*
 * Every partition of the output topics from its beginning to the end offset
 * it had when this started (the high watermark), into t. Nothing joins a
 * group, nothing is committed. 0, or -1 (logged): the cluster or a topic
 * cannot be reached, the tally failed, or --idle-ms passed before every
 * partition reached its end (the report would be incomplete).
 */
int cd_report_read_brokers(const cd_report_brokers *o, cd_tally *t, cd_report_read *n);

/* One message into t by kind: an Output wrapper, or a bare topic message. 0 (taken), 1 (unusable: err), -1 (tally failed). */
int cd_report_take_output(cd_tally *t, const Contact__V1__Output *o, cd_err *err);

#endif
