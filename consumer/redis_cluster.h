/*
 * redis_cluster.h — the pure parts of following a Redis Cluster: which slot a
 * key lives in, and what a redirect reply says. No I/O; the connections, the
 * slot map and the retries are consumer/redis_store.c's.
 *
 * A key's slot is CRC16(key) mod 16384, where CRC16 is the XMODEM/CCITT CRC of
 * the Redis Cluster specification (polynomial 0x1021, initial value 0) and
 * only the hash tag is hashed when the key has one: the bytes between the
 * first '{' and the next '}', if that is not empty. Every key of one contactd
 * partition carries the tag {pN} (or {aN}), so a partition is one slot.
 *
 * Ownership: nothing is allocated; the caller's buffers are only read.
 */
#ifndef CD_CONSUMER_REDIS_CLUSTER_H
#define CD_CONSUMER_REDIS_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#define CD_CLUSTER_SLOTS 16384

/* CRC16/XMODEM of n bytes. */
uint16_t cd_cluster_crc16(const void *buf, size_t n);
/* The slot of a key (hash tag rules above). */
int cd_cluster_keyslot(const void *key, size_t n);
/* The slot of every key of partition p under hash tag letter `tag` ('p' or 'a'): that of "{pN}". */
int cd_cluster_tag_slot(char tag, int32_t p);

/* A redirect reply: "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>". */
typedef struct cd_cluster_redirect {
	int ask;               /* 1: ASK (once, map unchanged); 0: MOVED */
	int slot;
	char host[256];        /* empty when the reply gives none ("MOVED 5 :6380": the node asked) */
	int port;
} cd_cluster_redirect;

/* Parses an error reply's text; 0 when it is a well-formed redirect, -1 otherwise. */
int cd_cluster_parse_redirect(const char *s, size_t n, cd_cluster_redirect *out);

#endif
