/*
 * eventlog.h — framing of event logs on disk (docs/spec/events.md "Replay files").
 *
 * Two framings: length-delimited binary (a varint length, then the message,
 * as protobuf's writeDelimitedTo/parseDelimitedFrom) and JSON lines (one
 * object per line, canonical protobuf JSON). This module only frames: it hands
 * out each record's bytes and its position; decoding is the caller's.
 *
 * Framing errors are distinguished from record errors: a record longer than
 * the reader's maximum is reported and skipped (its frame is intact); a
 * truncated length prefix, a truncated record or a read error loses the
 * framing, and the reader stops.
 */
#ifndef CD_PROTO_EVENTLOG_H
#define CD_PROTO_EVENTLOG_H

#include <stdint.h>
#include <stdio.h>

#include "util/buf.h"
#include "util/err.h"

typedef enum cd_log_format {
	CD_LOG_AUTO = 0,  /* reader only: JSON if the first bytes look like '{"' or '{ ', else binary */
	CD_LOG_JSON = 1,
	CD_LOG_PB = 2,
} cd_log_format;

/* Parses "json", "pb" (also "binary"), "auto". 0 / -1. */
int cd_log_format_parse(const char *s, cd_log_format *out);

typedef struct cd_log_reader cd_log_reader;

typedef enum cd_log_status {
	CD_LOG_RECORD = 1,     /* data and len hold one record */
	CD_LOG_EOF = 0,        /* clean end of input */
	CD_LOG_SKIPPED = 2,    /* a well-framed record was skipped (too long); err says why */
	CD_LOG_LOST = -1,      /* framing lost or read error; err says where; stop reading */
} cd_log_status;

/*
 * Opens a reader on f (borrowed: the caller closes it, after cd_log_reader_free).
 * `max_record` bounds one record's size in bytes. `name` is used in messages.
 * Returns NULL only when out of memory.
 */
cd_log_reader *cd_log_reader_new(FILE *f, const char *name, cd_log_format fmt, size_t max_record);
void cd_log_reader_free(cd_log_reader *r);

/*
 * Reads the next record. On CD_LOG_RECORD, *data and *len point into the
 * reader's own buffer, valid until the next call. The record's position is
 * available from cd_log_reader_position.
 */
cd_log_status cd_log_reader_next(cd_log_reader *r, const uint8_t **data, size_t *len, cd_err *err);

/*
 * cd_log_reader_next for a loop that reads a whole log (replay, produce): what
 * the reader cannot hand out is dealt with here, the same way for every such
 * loop. A record the reader skips (too long) is logged at warn ("record
 * skipped" with the input, its position, stage=decode and why) and passed
 * over; lost framing is logged at error ("event log framing lost; reading
 * stops"). Each record read or skipped adds one to *records, each skipped one
 * to *skipped (a caller adds the records it skips itself to the same count).
 * Returns CD_LOG_RECORD, CD_LOG_EOF or CD_LOG_LOST (err, which must not be
 * NULL, says where), never CD_LOG_SKIPPED.
 */
cd_log_status cd_log_reader_next_logged(cd_log_reader *r, const uint8_t **data, size_t *len, uint64_t *records,
					uint64_t *skipped, cd_err *err);

/* The format in use (after AUTO detection, once the first record was read). */
cd_log_format cd_log_reader_format(const cd_log_reader *r);

/*
 * Position of the last record returned or skipped, for messages:
 * record number (1-based) and, for JSON, its line number; for binary, the byte
 * offset of its length prefix. Formatted as "record 12 (line 12)" or
 * "record 12 (byte 4711)".
 */
uint64_t cd_log_reader_record_no(const cd_log_reader *r);
const char *cd_log_reader_position(const cd_log_reader *r, char *buf, size_t buflen);

/* Writes one record: binary gets a varint length prefix; JSON gets a newline. */
int cd_log_write(FILE *f, cd_log_format fmt, const void *data, size_t len, cd_err *err);

#endif
