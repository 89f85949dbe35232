/*
 * topicsrc.h — a range of the input topic through the driver: what
 * `contactd replay --brokers` reads instead of a file.
 *
 * Every partition is assigned (never a group join, never a commit: a private
 * group.id that librdkafka needs for assign() and nothing else) from its
 * start (the low watermark, or the first record at or after --from) to its
 * end (the high watermark when the read starts, or the first record at or
 * after --to, exclusive). Records are decoded and checked as the live
 * processor does (size, decode, validate, key = citizen_id) and fed to
 * cd_driver_apply in offset order per partition.
 *
 * The partitions are merged on their all-citizen ClockTicks, which
 * `contactd produce` writes once to every partition (the same bytes, so the
 * same event_id): each partition is read up to its next such tick, then the
 * earliest waiting tick is applied once (cd_driver_advance_all) and every
 * partition waiting at that instant goes on. So every input is applied at the
 * same all-citizen clock as in the file the topic was produced from, and the
 * outputs, aggregate events included, are the file's (in another order
 * between citizens of different partitions).
 *
 * One thread; the driver is borrowed.
 */
#ifndef CD_CMD_TOPICSRC_H
#define CD_CMD_TOPICSRC_H

#include <stddef.h>
#include <stdint.h>

#include "cmd/driver.h"
#include "consumer/kafka.h"
#include "state/date.h"
#include "util/err.h"

typedef struct cd_topic_range {
	const char *brokers;
	const char *topic;
	const cd_kv *kv;          /* -X settings */
	size_t n_kv;
	cd_instant from;          /* CD_INSTANT_NONE: the beginning */
	cd_instant to;            /* CD_INSTANT_NONE: the end (high watermarks at the start) */
	size_t max_record;        /* larger records are skipped, as live sets them aside */
} cd_topic_range;

typedef struct cd_topic_counts {
	uint64_t messages;        /* records read in the range, every copy of a tick included */
	uint64_t applied;         /* as replay counts them: each tick once */
	uint64_t skipped;
	uint64_t tick_copies;     /* the other partitions' copies of an applied tick */
	int partitions;
} cd_topic_counts;

/*
 * Every record of the range through d. Bad records are logged ("record
 * skipped", input = the topic, position = partition and offset) and counted.
 * 0; -1 once the reason is logged (the topic cannot be read, a partition
 * stalls, records were deleted under the read, or the driver failed).
 */
int cd_topic_replay(cd_driver *d, const cd_topic_range *r, cd_topic_counts *n);

#endif
