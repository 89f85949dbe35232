/*
 * eventlog.c — framing of event logs: length-delimited binary and JSON lines.
 *
 * Design. The reader owns one byte buffer, filled with fread and consumed
 * from the front: [start, end) is unread input, base is the input offset of
 * buf[0]. It never seeks, so pipes and stdin work. The buffer starts small
 * and grows only up to max_record plus a few bytes of framing (limit), so
 * input can never make it grow without bound: a JSON line that does not fit
 * is skipped by discarding bytes up to its newline; a binary record that is
 * too long is skipped by reading its announced length and throwing it away.
 * Records are handed out as pointers into the buffer (valid until the next
 * call); the buffer is compacted only when more input is needed, so each
 * byte is copied at most once more in the common case.
 *
 * JSON: a line ends at '\n' (a '\r' before it is dropped); blank lines are
 * skipped; the last line may lack its newline. `scanned` remembers how much
 * of the unread input is known to hold no newline, so long lines arriving
 * in pieces are not rescanned.
 *
 * Binary: a varint length, then that many bytes. A length over max_record is
 * skipped (SKIPPED); a short prefix or a short body at end of input, or a
 * read error, loses the framing (LOST) and the reader stays stopped.
 *
 * AUTO looks at the first bytes without consuming them: the first byte that
 * is not whitespace is '{', and the next that is not a space or tab is '"'
 * or '}', means JSON lines. Only spaces and tabs may sit between the two,
 * because a JSON line holds its whole object: this keeps a binary log whose
 * first record is 123 bytes long ('{') with a first field tag 0x0a ('\n')
 * from looking like JSON. Input that is only whitespace counts as JSON.
 *
 * Ownership: the reader borrows its FILE and owns its name copy and buffer;
 * static helpers borrow every pointer they are given for the call only.
 * Note that fread on a pipe returns only when its request is filled or the
 * writer closes, so a live, slow producer is seen in buffer-sized batches.
 */
#include "proto/eventlog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/varint.h"

#define FRAMING_SLACK 16          /* varint prefix (<= 10) or "\r\n" on top of max_record */
#define INITIAL_CAP (64 * 1024)

struct cd_log_reader {
	FILE *f;                  /* borrowed */
	char *name;               /* owned copy */
	cd_log_format fmt;        /* AUTO until detected */
	size_t max_record;
	uint8_t *buf;             /* owned */
	size_t cap, limit;        /* cap <= limit = max_record + FRAMING_SLACK */
	size_t start, end;        /* unread input is buf[start, end) */
	size_t scanned;           /* JSON: buf[start, start + scanned) has no '\n' */
	uint64_t base;            /* input offset of buf[0] */
	uint64_t line;            /* JSON: lines consumed */
	uint64_t record_no;       /* records returned or skipped */
	uint64_t pos;             /* line (JSON) or byte offset (binary) of the last record */
	int eof;
	int lost;                 /* framing lost or read error: sticky */
};

int cd_log_format_parse(const char *s, cd_log_format *out)
{
	if (strcmp(s, "json") == 0)
		*out = CD_LOG_JSON;
	else if (strcmp(s, "pb") == 0 || strcmp(s, "binary") == 0)
		*out = CD_LOG_PB;
	else if (strcmp(s, "auto") == 0)
		*out = CD_LOG_AUTO;
	else
		return -1;
	return 0;
}

/* f and name are borrowed; name is copied. The reader is the caller's (cd_log_reader_free). */
cd_log_reader *cd_log_reader_new(FILE *f, const char *name, cd_log_format fmt, size_t max_record)
{
	cd_log_reader *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	if (max_record > SIZE_MAX / 2)
		max_record = SIZE_MAX / 2;
	r->f = f;
	r->fmt = fmt;
	r->max_record = max_record;
	r->limit = max_record + FRAMING_SLACK;
	r->cap = r->limit < INITIAL_CAP ? r->limit : INITIAL_CAP;
	r->name = strdup(name ? name : "(input)");
	r->buf = malloc(r->cap);
	if (!r->name || !r->buf) {
		cd_log_reader_free(r);
		return NULL;
	}
	return r;
}

void cd_log_reader_free(cd_log_reader *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->buf);
	free(r);
}

cd_log_format cd_log_reader_format(const cd_log_reader *r)
{
	return r->fmt;
}

uint64_t cd_log_reader_record_no(const cd_log_reader *r)
{
	return r->record_no;
}

/* Writes into the caller's buf and returns it. */
const char *cd_log_reader_position(const cd_log_reader *r, char *buf, size_t buflen)
{
	snprintf(buf, buflen, "record %" PRIu64 " (%s %" PRIu64 ")", r->record_no,
		 r->fmt == CD_LOG_JSON ? "line" : "byte", r->pos);
	return buf;
}

/* ---- buffer --------------------------------------------------------------- */

/* Moves unread input to the front of the buffer. */
static void compact(cd_log_reader *r)
{
	if (r->start == 0)
		return;
	memmove(r->buf, r->buf + r->start, r->end - r->start);
	r->base += r->start;
	r->end -= r->start;
	r->start = 0;
}

/* Makes the buffer hold at least `want` bytes (want <= limit). */
static int grow(cd_log_reader *r, size_t want)
{
	size_t ncap = r->cap;
	uint8_t *p;

	if (want > r->limit)
		return -1;
	while (ncap < want)
		ncap = ncap > r->limit / 2 ? r->limit : ncap * 2;
	if (ncap == r->cap)
		return 0;
	p = realloc(r->buf, ncap);
	if (!p)
		return -1;
	r->buf = p;
	r->cap = ncap;
	return 0;
}

static cd_log_status lose(cd_log_reader *r, cd_err *err, const char *what, uint64_t at)
{
	r->lost = 1;
	cd_err_set(err, 0, "'%s': %s at byte %" PRIu64, r->name, what, at);
	return CD_LOG_LOST;
}

/*
 * Reads more input after compacting (and growing up to `want` bytes of
 * buffer). 0 also at end of input (r->eof set); -1 on a read error or out of
 * memory, with err set and the reader lost.
 */
static int fill(cd_log_reader *r, size_t want, cd_err *err)
{
	size_t room, n;

	compact(r);
	if (want > r->cap && grow(r, want) < 0) {
		lose(r, err, "out of memory reading", r->base + r->end);
		return -1;
	}
	room = r->cap - r->end;
	if (r->eof || room == 0)
		return 0;
	n = fread(r->buf + r->end, 1, room, r->f);
	r->end += n;
	if (n < room) {
		if (ferror(r->f)) {
			char what[128];
			snprintf(what, sizeof(what), "read error (%s)", strerror(errno));
			lose(r, err, what, r->base + r->end);
			return -1;
		}
		r->eof = 1;
	}
	return 0;
}

/* Makes n bytes of unread input available unless the input ends first (n <= limit). */
static int ensure(cd_log_reader *r, size_t n, cd_err *err)
{
	while (r->end - r->start < n && !r->eof)
		if (fill(r, n, err) < 0)
			return -1;
	return 0;
}

/* ---- JSON lines ------------------------------------------------------------- */

static int is_blank(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	return 1;
}

/*
 * Finds the end of the current line: *len is its length (without "\n"),
 * *next how much to consume. 1 found, 0 need more input.
 */
static int find_line(cd_log_reader *r, size_t *len, size_t *next)
{
	const uint8_t *p = r->buf + r->start, *nl;
	size_t avail = r->end - r->start;

	nl = memchr(p + r->scanned, '\n', avail - r->scanned);
	if (nl) {
		*len = (size_t)(nl - p);
		*next = *len + 1;
		return 1;
	}
	r->scanned = avail;
	if (r->eof && avail > 0) {
		*len = *next = avail;
		return 1;
	}
	return 0;
}

static cd_log_status skipped_line(cd_log_reader *r, cd_err *err)
{
	r->record_no++;
	r->pos = r->line;
	cd_err_set(err, 0, "'%s': record %" PRIu64 " (line %" PRIu64 ") is longer than %zu bytes, skipped",
		   r->name, r->record_no, r->line, r->max_record);
	return CD_LOG_SKIPPED;
}

/* The current line is longer than the buffer may grow: discards up to its newline. */
static cd_log_status skip_long_line(cd_log_reader *r, cd_err *err)
{
	const uint8_t *nl;

	r->line++;
	for (;;) {
		nl = memchr(r->buf + r->start, '\n', r->end - r->start);
		if (nl) {
			r->start = (size_t)(nl - r->buf) + 1;
			break;
		}
		r->start = r->end;
		if (r->eof)
			break;
		if (fill(r, 0, err) < 0)
			return CD_LOG_LOST;
	}
	r->scanned = 0;
	return skipped_line(r, err);
}

static cd_log_status next_json(cd_log_reader *r, const uint8_t **data, size_t *len, cd_err *err)
{
	size_t n, next;
	const uint8_t *p;

	for (;;) {
		if (!find_line(r, &n, &next)) {
			if (r->eof)
				return CD_LOG_EOF;
			if (r->end - r->start >= r->max_record + 2)
				return skip_long_line(r, err);
			if (fill(r, r->end - r->start + 1, err) < 0)
				return CD_LOG_LOST;
			continue;
		}
		p = r->buf + r->start;
		r->start += next;
		r->scanned = 0;
		r->line++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (is_blank(p, n))
			continue;
		if (n > r->max_record)
			return skipped_line(r, err);
		r->record_no++;
		r->pos = r->line;
		*data = p;
		*len = n;
		return CD_LOG_RECORD;
	}
}

/* ---- binary ----------------------------------------------------------------- */

/* Discards `n` bytes of input (a record too long to keep). -1 if the input ends first. */
static int discard(cd_log_reader *r, uint64_t n, uint64_t *got, cd_err *err)
{
	*got = 0;
	for (;;) {
		size_t avail = r->end - r->start;
		size_t take = n - *got < avail ? (size_t)(n - *got) : avail;
		r->start += take;
		*got += take;
		if (*got == n)
			return 0;
		if (r->eof)
			return -1;
		if (fill(r, 0, err) < 0)
			return -2;
	}
}

static cd_log_status truncated_record(cd_log_reader *r, cd_err *err, uint64_t got, uint64_t want)
{
	r->lost = 1;
	cd_err_set(err, 0, "'%s': truncated record at byte %" PRIu64 ": %" PRIu64 " of %" PRIu64 " bytes",
		   r->name, r->pos, got, want);
	return CD_LOG_LOST;
}

static cd_log_status skip_record(cd_log_reader *r, uint64_t n, cd_err *err)
{
	uint64_t got;
	int rc = discard(r, n, &got, err);

	if (rc == -2)
		return CD_LOG_LOST;
	if (rc < 0)
		return truncated_record(r, err, got, n);
	cd_err_set(err, 0, "'%s': record %" PRIu64 " (byte %" PRIu64 ") is %" PRIu64
		   " bytes, longer than the maximum of %zu, skipped",
		   r->name, r->record_no, r->pos, n, r->max_record);
	return CD_LOG_SKIPPED;
}

/* Reads the length prefix at start into *n, its size into *plen. -1 (lost, err set) if bad. */
static int read_prefix(cd_log_reader *r, uint64_t *n, size_t *plen, cd_err *err)
{
	const uint8_t *p = r->buf + r->start, *q = p;
	size_t avail = r->end - r->start;

	if (cd_varint_get(&q, p + avail, n) == 0) {
		*plen = (size_t)(q - p);
		return 0;
	}
	for (size_t i = 0; i < avail; i++) {
		if (!(p[i] & 0x80) || i + 1 == CD_VARINT_MAX) {
			lose(r, err, "invalid length prefix", r->pos);
			return -1;
		}
	}
	lose(r, err, "truncated length prefix", r->pos);
	return -1;
}

static cd_log_status next_pb(cd_log_reader *r, const uint8_t **data, size_t *len, cd_err *err)
{
	uint64_t n;
	size_t plen;

	if (ensure(r, CD_VARINT_MAX, err) < 0)
		return CD_LOG_LOST;
	if (r->start == r->end)
		return CD_LOG_EOF;
	r->record_no++;
	r->pos = r->base + r->start;
	if (read_prefix(r, &n, &plen, err) < 0)
		return CD_LOG_LOST;
	if (n > r->max_record) {
		r->start += plen;
		return skip_record(r, n, err);
	}
	if (ensure(r, plen + (size_t)n, err) < 0)
		return CD_LOG_LOST;
	if (r->end - r->start < plen + n)
		return truncated_record(r, err, r->end - r->start - plen, n);
	*data = r->buf + r->start + plen;
	*len = (size_t)n;
	r->start += plen + (size_t)n;
	return CD_LOG_RECORD;
}

/* ---- detection and dispatch ------------------------------------------------- */

/* Byte i of unread input, -1 past the end of input or of the buffer's limit, -2 on error. */
static int peek(cd_log_reader *r, size_t i, cd_err *err)
{
	if (i >= r->limit)
		return -1;
	if (ensure(r, i + 1, err) < 0)
		return -2;
	return i < r->end - r->start ? r->buf[r->start + i] : -1;
}

/* Sets r->fmt from the first bytes. -1 on a read error. */
static int detect(cd_log_reader *r, cd_err *err)
{
	size_t i = 0;
	int c;

	while ((c = peek(r, i, err)) == ' ' || c == '\t' || c == '\r' || c == '\n')
		i++;
	if (c == -2)
		return -1;
	if (c != '{') {
		r->fmt = c == -1 ? CD_LOG_JSON : CD_LOG_PB;
		return 0;
	}
	while ((c = peek(r, ++i, err)) == ' ' || c == '\t')
		;
	if (c == -2)
		return -1;
	r->fmt = c == '"' || c == '}' ? CD_LOG_JSON : CD_LOG_PB;
	return 0;
}

cd_log_status cd_log_reader_next(cd_log_reader *r, const uint8_t **data, size_t *len, cd_err *err)
{
	*data = NULL;
	*len = 0;
	if (r->lost) {
		cd_err_set(err, 0, "'%s': reading stopped after an earlier error", r->name);
		return CD_LOG_LOST;
	}
	if (r->fmt == CD_LOG_AUTO && detect(r, err) < 0)
		return CD_LOG_LOST;
	if (r->fmt == CD_LOG_JSON)
		return next_json(r, data, len, err);
	return next_pb(r, data, len, err);
}

cd_log_status cd_log_reader_next_logged(cd_log_reader *r, const uint8_t **data, size_t *len, uint64_t *records,
					uint64_t *skipped, cd_err *err)
{
	char pos[128];

	for (;;) {
		cd_log_status st = cd_log_reader_next(r, data, len, err);

		if (st == CD_LOG_LOST)
			cd_log(CD_LOG_ERROR, "event log framing lost; reading stops", "input", r->name, "error",
			       err->msg, NULL);
		if (st == CD_LOG_EOF || st == CD_LOG_LOST)
			return st;
		(*records)++;
		if (st == CD_LOG_RECORD)
			return st;
		(*skipped)++;
		cd_log(CD_LOG_WARN, "record skipped", "input", r->name, "position",
		       cd_log_reader_position(r, pos, sizeof(pos)), "stage", "decode", "error", err->msg, NULL);
	}
}

/* ---- writing ---------------------------------------------------------------- */

/* f and data are borrowed. */
int cd_log_write(FILE *f, cd_log_format fmt, const void *data, size_t len, cd_err *err)
{
	uint8_t prefix[CD_VARINT_MAX];
	size_t plen;
	uint64_t v = len;

	if (fmt == CD_LOG_JSON) {
		if (len > 0 && memchr(data, '\n', len))
			return cd_err_set(err, 0, "JSON record contains a newline");
		if ((len > 0 && fwrite(data, 1, len, f) != len) || fputc('\n', f) == EOF)
			return cd_err_set(err, 0, "writing record: %s", strerror(errno));
		return 0;
	}
	if (fmt != CD_LOG_PB)
		return cd_err_set(err, 0, "writing record: no format given");
	plen = (size_t)(cd_varint_put(prefix, v) - prefix);
	if (fwrite(prefix, 1, plen, f) != plen || (len > 0 && fwrite(data, 1, len, f) != len))
		return cd_err_set(err, 0, "writing record: %s", strerror(errno));
	return 0;
}
