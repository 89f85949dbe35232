/*
 * redis_store.h — per-citizen state in Redis, committed atomically per batch
 * and partition (docs/spec/events.md "Guarantees").
 *
 * Keys of one processing partition p share a Redis Cluster slot through the
 * hash tag {p<N>} (N = the input partition number):
 *   <prefix>:{pN}:c:<pseudonym>    the citizen record (state/citizen.h bytes)
 *   <prefix>:{pN}:timers           ZSET sealed citizen id -> next firing instant (ms)
 *   <prefix>:{pN}:outbox           LIST of pending outputs (opaque entries)
 *   <prefix>:{pN}:meta             HASH: fence, floor, off:<topic> (next offset),
 *                                  mseq (the last members-topic sequence number)
 * The aggregate stage's partitions (of the members topic) use the tag {a<N>}
 * (opts.tag 'a') and hashes of their own (consumer/aggstage.c):
 *   <prefix>:{aN}:meta             HASH: fence, off:<topic>, clock, src:<p>
 *   <prefix>:{aN}:members|cohorts|pending   HASHes written by hash operations
 *
 * No key name or timer member holds a citizen id (they are visible to SCAN,
 * MONITOR and SLOWLOG): a record's key names the citizen by its pseudonym,
 * a timer member is the sealed id, which only the citizen key opens
 * (util/pseudonym.h). The API still speaks of citizen ids; the store hashes
 * and seals them. cd_redis_migrate_keys renames state of the old form
 * (the raw id in both places).
 *
 * One commit = one EVALSHA of a Lua script (loaded with SCRIPT LOAD, re-loaded
 * on NOSCRIPT) that checks the fencing token, then writes records, timers,
 * outbox entries, offsets and the tick floor together. A processor that lost
 * the partition (another one took a newer token) cannot write: CD_REDIS_FENCED.
 *
 * Errors: every call returns 0 or -1; err->retriable is 1 for connection and
 * server-side transient failures (the caller pauses, backs off, reconnects
 * with cd_redis_connect, and re-reads its position), 0 otherwise. A fenced
 * commit returns CD_REDIS_FENCED (-2).
 *
 * Redis Cluster: the same calls work against a cluster, found by asking the
 * configured address CLUSTER SLOTS at connect (redis_store.c's essay, "Redis
 * Cluster"): one connection per master, opened on first use, and each call
 * sent to the master of its partition's slot; MOVED, ASK, TRYAGAIN and
 * CLUSTERDOWN are followed there. A cluster has only db 0.
 *
 * Not thread-safe: one cd_redis per thread. Ownership: the store copies what
 * it is given; buffers it fills belong to the caller.
 */
#ifndef CD_CONSUMER_REDIS_STORE_H
#define CD_CONSUMER_REDIS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "state/date.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/pseudonym.h"

#define CD_REDIS_FENCED (-2)

typedef struct cd_redis_opts {
	const char *host;            /* default "127.0.0.1"; a cluster: any node of it */
	int port;                    /* default 6379 */
	const char *password;        /* NULL: none (AUTH when set) */
	const char *user;            /* NULL: default user (ACL AUTH user password when set) */
	int db;                      /* SELECT db, default 0 */
	int connect_timeout_ms;      /* default 2000 */
	int command_timeout_ms;      /* default 5000 */
	const char *prefix;          /* key prefix, default "contactd" */
	size_t max_reply_bytes;      /* largest reply accepted (records, outbox entries), default 64 MiB */
	char tag;                    /* the hash tag's letter: 'p' (citizens, default) or 'a' (aggregate stage) */
	const cd_pseudonym_key *citizen_key;   /* names citizens in keys and timers; NULL: the development key (copied) */
} cd_redis_opts;

void cd_redis_opts_default(cd_redis_opts *o);

typedef struct cd_redis cd_redis;

/* Allocates; does not connect. The strings of opts are copied. */
cd_redis *cd_redis_new(const cd_redis_opts *opts);
void cd_redis_free(cd_redis *r);

/* (Re)connects, authenticates, selects the db and loads the scripts; in a cluster, reads the slot map
 * (the other masters are connected on first use). 0 / -1 (retriable). */
int cd_redis_connect(cd_redis *r, cd_err *err);
/*
 * Whether the connection is still usable: an error reply (OOM, BUSY, …) leaves
 * it so, a failure of the connection itself does not. A caller recovering from
 * an error reconnects only when this says no.
 */
int cd_redis_connected(const cd_redis *r);

/*
 * Takes partition p: increments its fencing token and returns the new value.
 * From then on commits with an older token fail with CD_REDIS_FENCED.
 */
int cd_redis_fence_acquire(cd_redis *r, int32_t p, int64_t *token, cd_err *err);

/*
 * The stored position of partition p: the next offset to consume for `topic`
 * (-1: none stored) and the all-citizen tick floor (CD_INSTANT_NONE: none).
 */
int cd_redis_position(cd_redis *r, int32_t p, const char *topic, int64_t *next_offset,
		      cd_instant *floor, cd_err *err);

/*
 * Loads the records of n citizens of partition p (one MGET). recs[i] receives
 * citizen i's record (reset first); found[i] is 1 when it exists.
 */
int cd_redis_load(cd_redis *r, int32_t p, const char *const *ids, size_t n, cd_buf *recs, int *found,
		  cd_err *err);

/* ---- a batch, committed atomically ------------------------------------------- */

typedef struct cd_redis_batch cd_redis_batch;

cd_redis_batch *cd_redis_batch_new(void);
void cd_redis_batch_free(cd_redis_batch *b);
void cd_redis_batch_clear(cd_redis_batch *b);
/* A citizen's new record and next firing instant (CD_INSTANT_NONE: no timer). Copied. */
int cd_redis_batch_record(cd_redis_batch *b, const char *id, const void *rec, size_t n, cd_instant next_fire);
/* Retention: the citizen's record and timer are deleted in the same commit. Copied. */
int cd_redis_batch_delete(cd_redis_batch *b, const char *id);
/* An outbox entry (opaque bytes), appended after the existing ones. Copied. */
int cd_redis_batch_outbox(cd_redis_batch *b, const void *entry, size_t n);
/* The next offset to consume for `topic` after this batch. */
int cd_redis_batch_offset(cd_redis_batch *b, const char *topic, int64_t next_offset);
/* Sets meta field `field` (not "fence", "floor" or "off:…") to value. Copied. */
int cd_redis_batch_meta(cd_redis_batch *b, const char *field, const char *value);
/* HSET / HDEL on the partition's hash `hash` ("members", …; at most 8 hashes per batch). Copied. */
int cd_redis_batch_hset(cd_redis_batch *b, const char *hash, const void *field, size_t flen, const void *val,
			size_t vlen);
int cd_redis_batch_hdel(cd_redis_batch *b, const char *hash, const void *field, size_t flen);
/* A new all-citizen tick floor. */
void cd_redis_batch_floor(cd_redis_batch *b, cd_instant floor);
int cd_redis_batch_empty(const cd_redis_batch *b);

/* Commits b for partition p with fencing token `token`. 0, -1, or CD_REDIS_FENCED. */
int cd_redis_commit(cd_redis *r, int32_t p, int64_t token, const cd_redis_batch *b, cd_err *err);
/*
 * Commits and outbox trims in two halves, so that several partitions' writes
 * travel together and Redis makes them durable with one fsync (appendfsync
 * always syncs once per event-loop turn, whatever it ran in it): _send writes
 * the call and returns (b may be cleared); cd_redis_sent_recv reads the reply
 * of the oldest call sent and not yet read, in sending order ("commit" or
 * "outbox trim" names it): 0, -1, or CD_REDIS_FENCED. Nothing else may be
 * called on r while replies are owed (cd_redis_unread). A connection error
 * drops them: whether those calls happened is then read back from Redis (each
 * is atomic, a commit's offsets included).
 */
int cd_redis_commit_send(cd_redis *r, int32_t p, int64_t token, const cd_redis_batch *b, cd_err *err);
int cd_redis_trim_send(cd_redis *r, int32_t p, int64_t token, size_t k, cd_err *err);
int cd_redis_sent_recv(cd_redis *r, int32_t p, int64_t token, const char *what, cd_err *err);
size_t cd_redis_unread(const cd_redis *r);
/* Closes the connection (replies owed are dropped); cd_redis_connect opens it again. */
void cd_redis_disconnect(cd_redis *r);

/* ---- timers and outbox -------------------------------------------------------- */

/* Up to max citizen ids of partition p whose next firing instant is <= t, earliest first.
 * (*ids)[i] is NULL for a member that was not sealed with this store's citizen key
 * (corrupt state): it counts in *n, and stays in the index for an operator. */
int cd_redis_timers_due(cd_redis *r, int32_t p, cd_instant t, size_t max, char ***ids, size_t *n,
			cd_err *err);
/* The same, past the first `skip` of them: pages through a long list of due
 * citizens that nothing changes in between. */
int cd_redis_timers_page(cd_redis *r, int32_t p, cd_instant t, size_t skip, size_t max, char ***ids, size_t *n,
			 cd_err *err);
void cd_redis_free_ids(char **ids, size_t n);

/* Up to max outbox entries of partition p from the head (oldest first). entries[i] is reset and filled. */
int cd_redis_outbox_read(cd_redis *r, int32_t p, size_t max, cd_buf *entries, size_t *n, cd_err *err);
/* Removes the first k entries (delivered), if the token still holds. 0, -1, CD_REDIS_FENCED. */
int cd_redis_outbox_trim(cd_redis *r, int32_t p, int64_t token, size_t k, cd_err *err);
/* Number of entries waiting in partition p's outbox. */
int cd_redis_outbox_len(cd_redis *r, int32_t p, size_t *n, cd_err *err);
/* For monitoring, in one round trip: entries in p's outbox, and citizens due by t and not yet fired. 0 / -1. */
int cd_redis_gauges(cd_redis *r, int32_t p, cd_instant t, int64_t *outbox, int64_t *due, cd_err *err);

/* What a connection did, for monitoring. */
typedef struct cd_redis_stats {
	uint64_t round_trips;    /* commands sent together and answered count once */
	uint64_t errors;         /* connection failures and error replies (fencing and NOSCRIPT not counted) */
	uint64_t connects, reconnects;
	uint64_t moved, asks;    /* cluster redirects followed */
	uint64_t waits;          /* TRYAGAIN / CLUSTERDOWN replies waited out and retried */
	uint64_t refreshes;      /* cluster slot maps read (CLUSTER SLOTS) */
} cd_redis_stats;
void cd_redis_stats_get(const cd_redis *r, cd_redis_stats *st);

/* ---- hashes ------------------------------------------------------------------ */

/* Called with each field and value of a hash (valid during the call); non-zero return stops with that error. */
typedef int (*cd_redis_field_fn)(void *ctx, const char *field, size_t flen, const char *val, size_t vlen,
				 cd_err *err);
/* Every field of partition p's hash `hash` ("meta", "members", …), HSCAN page by page. 0 / -1. */
int cd_redis_hash_scan(cd_redis *r, int32_t p, const char *hash, cd_redis_field_fn fn, void *ctx, cd_err *err);
/* Meta field `field` of partition p as a number: *found 0 when absent. 0 / -1. */
int cd_redis_meta_get(cd_redis *r, int32_t p, const char *field, int64_t *v, int *found, cd_err *err);

/* The partitions (of this store's tag) that have a meta hash in Redis, ascending; *ps is the caller's to free. */
int cd_redis_partitions(cd_redis *r, int32_t **ps, size_t *n, cd_err *err);

/* For an error of cd_redis_connect: a hint at the likelier causes when the server
 * closed the connection at once (a TLS port, a TLS proxy refusing its server), else NULL. */
const char *cd_redis_connect_hint(const cd_err *err);

/*
 * Brings partition p's citizens to the pseudonymous key form, under fencing
 * token `token` (call it when the partition is taken, before anything is read).
 * meta.ckey holds the citizen key's fingerprint once a partition is done: then
 * this is one HGET. A fingerprint of another key is a final error (every
 * citizen would look new). Otherwise the old-form records (SCAN of
 * "<prefix>:{pN}:c:*") are renamed with their timer members, at most 256 per
 * script call, and the fingerprint is stored with the last call. *moved counts
 * the citizens renamed, *kept those left because their new key existed already.
 * Nothing for the aggregate stage's tag. 0, -1, or CD_REDIS_FENCED.
 */
int cd_redis_migrate_keys(cd_redis *r, int32_t p, int64_t token, size_t *moved, size_t *kept, cd_err *err);

/* Deletes every key of partition p (for --reset-state). */
int cd_redis_reset_partition(cd_redis *r, int32_t p, cd_err *err);

#endif
