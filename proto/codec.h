/*
 * codec.h — contact.v1 messages to and from the engine's own types.
 *
 * Inputs: bytes (binary protobuf or one canonical-JSON object) → a decoded
 * CitizenEvent → a validated cd_event that borrows the message's strings.
 * Outputs: a cd_output → an Output / DeadlineEvent / BreachEvent message, and
 * a cd_agg_output → an Output / AggregateEvent, packed as binary or canonical JSON.
 *
 * Every failure names the stage (decode or validate) and the field, because
 * the message ends up in a dead-letter header or a replay report.
 */
#ifndef CD_PROTO_CODEC_H
#define CD_PROTO_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "contact/v1/events.pb-c.h"
#include "contact/v1/outputs.pb-c.h"
#include "proto/eventlog.h"
#include "state/aggregate.h"
#include "state/engine.h"
#include "state/event.h"
#include "util/buf.h"
#include "util/err.h"

typedef enum cd_codec_stage {
	CD_STAGE_DECODE = 1,      /* the bytes are not a CitizenEvent */
	CD_STAGE_VALIDATE = 2,    /* a CitizenEvent, but not an acceptable one (D28) */
} cd_codec_stage;

const char *cd_codec_stage_name(cd_codec_stage s);

/*
 * Decodes one record in format fmt (CD_LOG_JSON or CD_LOG_PB) into *msg and
 * fills *ev, which borrows *msg's strings. On failure *stage says which stage
 * refused it. *msg is set whenever the bytes decoded, even when validation
 * then failed (so that the caller can report its event_id): the caller frees a
 * non-NULL *msg with protobuf_c_message_free_unpacked(&(*msg)->base, NULL).
 */
int cd_codec_decode_event(const uint8_t *data, size_t len, cd_log_format fmt,
			  Contact__V1__CitizenEvent **msg, cd_event *ev, cd_codec_stage *stage, cd_err *err);

/* Fills ev from a decoded message (strings borrowed) and validates it. */
int cd_codec_event_from_pb(const Contact__V1__CitizenEvent *m, cd_event *ev, cd_codec_stage *stage,
			   cd_err *err);

/*
 * Appends o to out: as an Output wrapper (replay files) when `wrapped`, else as
 * the bare DeadlineEvent or BreachEvent (Kafka topics). fmt CD_LOG_PB writes
 * the packed message without framing; CD_LOG_JSON writes one JSON object.
 */
int cd_codec_output_append(const cd_output *o, cd_log_format fmt, int wrapped, cd_buf *out, cd_err *err);

/* The same binary bytes through protobuf-c's generic packer (the reference, for tests). */
int cd_codec_output_append_pbc(const cd_output *o, int wrapped, cd_buf *out, cd_err *err);

/*
 * Appends an aggregate event to out, as cd_codec_output_append does: in an
 * Output wrapper (replay files) when `wrapped`, else the bare AggregateEvent
 * (the aggregates topic). Same field order and JSON mapping as the others.
 */
int cd_codec_aggregate_append(const cd_agg_output *a, cd_log_format fmt, int wrapped, cd_buf *out, cd_err *err);

/*
 * The Kafka key of an aggregate event (spec/events.md): "<kind>:<key>", kind
 * "kommune" for municipality keys and "akasse" for a-kasse keys, so codes of
 * the two kinds never collide ("kommune:101", "akasse:A901"). Returns the
 * length written into buf (NUL-terminated, truncated to len - 1).
 */
size_t cd_codec_aggregate_key(int key_kind, const char *key, char *buf, size_t len);

#endif
