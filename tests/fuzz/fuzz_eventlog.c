/*
 * fuzz_eventlog.c — a whole event log through the reader (proto/eventlog.c,
 * read through a FILE as replay reads a file or a pipe), each record on to
 * the event decoder as replay hands it on. Checks: every record fits the
 * reader's maximum and a JSON record holds no newline; and the records read,
 * written again with cd_log_write in the format detected, read back as the
 * same records (JSON ones but for '\r's at their end: the reader drops one
 * before a newline, and a JSON text ends the same without them).
 *
 * The first input byte chooses the format (auto, JSON, binary) and the
 * maximum record size (small, so that records too long are skipped often);
 * the rest is the log.
 */
#include <stdint.h>
#include <stdio.h>

#include "proto/codec.h"
#include "proto/eventlog.h"
#include "tests/fuzz/fuzz.h"

#define MAX_RECORDS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A JSON record's length without the '\r's at its end. */
static size_t trimmed(const char *p, size_t n, cd_log_format fmt)
{
	while (fmt == CD_LOG_JSON && n > 0 && p[n - 1] == '\r')
		n--;
	return n;
}

typedef struct rec {
	size_t off, len;
} rec;

/* Reads every record of [p, p+n) into out (copied, offsets in recs). Returns the count. */
static size_t read_all(const uint8_t *p, size_t n, cd_log_format fmt, size_t max, cd_buf *out, rec *recs,
		       cd_log_format *detected, bool decode)
{
	FILE *f = fmemopen((void *)p, n, "rb");
	cd_log_reader *r;
	const uint8_t *d;
	size_t len, k = 0;
	cd_err err;
	cd_log_status st;

	FUZZ_CHECK(f, "fmemopen failed");
	r = cd_log_reader_new(f, "fuzz", fmt, max);
	FUZZ_CHECK(r, "out of memory");
	while (k < MAX_RECORDS && (st = cd_log_reader_next(r, &d, &len, &err)) != CD_LOG_EOF && st != CD_LOG_LOST) {
		char pos[64];
		cd_log_reader_position(r, pos, sizeof(pos));
		if (st == CD_LOG_SKIPPED) {
			FUZZ_CHECK(err.msg[0], "skipped without a reason");
			continue;
		}
		FUZZ_CHECK(len <= max, "a record of %zu bytes, the maximum is %zu", len, max);
		FUZZ_CHECK(cd_log_reader_format(r) != CD_LOG_AUTO, "a record before the format is known");
		if (cd_log_reader_format(r) == CD_LOG_JSON)
			FUZZ_CHECK(!memchr(d, '\n', len), "a JSON record holds a newline");
		if (decode) {
			Contact__V1__CitizenEvent *m = NULL;
			cd_event ev;
			cd_codec_stage stage;
			cd_codec_decode_event(d, len, cd_log_reader_format(r), &m, &ev, &stage, &err);
			if (m)
				protobuf_c_message_free_unpacked(&m->base, NULL);
		}
		recs[k].off = out->len;
		recs[k].len = len;
		FUZZ_CHECK(cd_buf_append(out, d, len) == 0, "out of memory");
		k++;
	}
	*detected = cd_log_reader_format(r);
	cd_log_reader_free(r);
	fclose(f);
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const cd_log_format fmts[] = { CD_LOG_AUTO, CD_LOG_JSON, CD_LOG_PB, CD_LOG_AUTO };
	static rec a[MAX_RECORDS], b[MAX_RECORDS];
	cd_log_format fmt, detected, again;
	size_t max, na, nb;
	cd_buf ra, rb;
	char *text = NULL;
	size_t text_len = 0;
	FILE *w;

	if (size < 2)
		return 0;
	fmt = fmts[data[0] & 3];
	max = (size_t)16 << ((data[0] >> 2) & 15);      /* 16 bytes … 512 KiB */
	cd_buf_init(&ra, (size_t)64 << 20);
	cd_buf_init(&rb, (size_t)64 << 20);
	na = read_all(data + 1, size - 1, fmt, max, &ra, a, &detected, true);
	if (na == 0)
		goto out;

	/* Written again in the format read, the records read back the same. */
	w = open_memstream(&text, &text_len);
	FUZZ_CHECK(w, "open_memstream failed");
	for (size_t i = 0; i < na; i++) {
		cd_err err;
		FUZZ_CHECK(cd_log_write(w, detected, ra.data + a[i].off, a[i].len, &err) == 0, "write: %s", err.msg);
	}
	FUZZ_CHECK(fclose(w) == 0, "fclose failed");
	nb = read_all((const uint8_t *)text, text_len, detected, max, &rb, b, &again, false);
	FUZZ_CHECK(nb == na, "%zu records read, %zu after writing them again", na, nb);
	for (size_t i = 0; i < na; i++)
		FUZZ_CHECK(fuzz_same_str(ra.data + a[i].off, trimmed(ra.data + a[i].off, a[i].len, detected),
					 rb.data + b[i].off, trimmed(rb.data + b[i].off, b[i].len, detected)),
			   "record %zu differs after writing it again", i + 1);
out:
	free(text);
	cd_buf_release(&ra);
	cd_buf_release(&rb);
	return 0;
}
