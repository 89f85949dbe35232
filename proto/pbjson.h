/*
 * pbjson.h — protobuf's canonical JSON mapping for protobuf-c messages.
 *
 * protobuf-c has no JSON support, so this module maps JSON to and from any
 * message by walking its generated ProtobufCMessageDescriptor: one mapping for
 * all messages, never a hand-written one per message.
 *
 * Supported (what contact.v1 uses, and the general cases around it): scalar
 * fields (string, bool, int32/sint32/sfixed32, uint32, int64/uint64 as JSON
 * strings or numbers, float/double, bytes as base64), enums (by name; numbers
 * accepted on input), nested messages, repeated fields, oneofs, proto3
 * optional, and google.protobuf.Timestamp as an RFC 3339 string.
 * Output is canonical: lowerCamelCase json names, default values omitted,
 * enums by name, one line. Input accepts the json name or the proto field name;
 * unknown fields are ignored (as the binary decoder does, for forward
 * compatibility); `null` means the default.
 *
 * Uses jansson (Debian's libjansson) for the JSON text itself.
 */
#ifndef CD_PROTO_PBJSON_H
#define CD_PROTO_PBJSON_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

/*
 * Parses `len` bytes of JSON text holding one object into a newly allocated
 * message of type `desc`. On success *out is owned by the caller and freed
 * with protobuf_c_message_free_unpacked(*out, NULL). On failure *out is NULL
 * and err names the field path and the problem, e.g.
 * "field 'registration.benefit': unknown enum value 'BENEFIT_X'".
 */
int pbjson_decode(const ProtobufCMessageDescriptor *desc, const char *text, size_t len,
		  ProtobufCMessage **out, cd_err *err);

/* Appends msg as canonical one-line JSON (no newline) to out. -1 if out's max is hit. */
int pbjson_encode(const ProtobufCMessage *msg, cd_buf *out, cd_err *err);

#endif
