/*
 * aggstage.h — what the aggregate stage (consumer/aggstage.c, `contactd run
 * --stage aggregates`) offers outside the live processor: reading one of its
 * partitions back from Redis, for `contactd aggregates` (cmd/aggregates.c).
 */
#ifndef CD_CONSUMER_AGGSTAGE_H
#define CD_CONSUMER_AGGSTAGE_H

#include <stddef.h>
#include <stdint.h>

#include "consumer/redis_store.h"
#include "state/aggregate.h"
#include "state/rules.h"
#include "util/err.h"

/*
 * Reads members partition p as the stage holds it (the store must have been
 * made with opts.tag 'a'): a new aggregator with its members, cohorts and
 * clock (the caller frees it with cd_agg_free), and how many member records
 * wait for the aggregate clock. grace_days and warn_days must be the stage's.
 * 0 / -1 (Redis, or stored state that does not decode: err says which).
 */
int cd_aggstage_read(cd_redis *redis, int32_t p, const cd_rules *rules, int grace_days, int warn_days,
		     cd_aggregator **agg, size_t *n_pending, cd_err *err);

#endif
