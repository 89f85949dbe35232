/*
 * members.h — the records of the internal members topic (contact/v1/
 * members.proto): share members' outcomes and source clocks, from the citizen
 * processor to the aggregate stage (docs/ARCHITECTURE.md §11a).
 *
 * Encoding packs with protobuf-c (they are few: a member changes a handful of
 * times in its life). Decoding checks everything the aggregator relies on and
 * names the field, because a bad record becomes a dead letter.
 */
#ifndef CD_PROTO_MEMBERS_H
#define CD_PROTO_MEMBERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "contact/v1/members.pb-c.h"
#include "state/engine.h"
#include "util/buf.h"
#include "util/err.h"

typedef struct cd_member_rec {
	int32_t source;              /* the input partition that said it */
	uint64_t seq;                /* its sequence number there, from 1 */
	cd_instant clock;            /* the source's clock when said; CD_INSTANT_NONE: none yet */
	bool at_tick;                /* said while the source's clock advanced to `clock` */
	bool watermark;              /* a watermark (the source's clock passed `clock`); else a member */
	int source_partitions;       /* watermark: the number of input partitions */
	cd_member m;                 /* member: decoded strings point into the message */
} cd_member_rec;

/* Appends r's bytes to out. 0 / -1 (out of memory or out's maximum). */
int cd_members_encode(const cd_member_rec *r, cd_buf *out, cd_err *err);

/*
 * Decodes and checks one record. On success *msg holds the message r's
 * strings point into: the caller frees it with cd_members_free. -1 with err
 * naming the field; *msg is then NULL.
 */
int cd_members_decode(const void *p, size_t n, cd_member_rec *r, Contact__V1__MemberRecord **msg, cd_err *err);
void cd_members_free(Contact__V1__MemberRecord *msg);

#endif
