/*
 * event_check.h — the one property both event harnesses check, from either
 * side: an event decoded from one format decodes from the other format and
 * from its own re-encoding with the same outcome (accepted or refused, and the
 * same validated event), and encoding is stable. This is what finds a field
 * one mapping drops, or a check only one decoder makes.
 *
 * Ownership: everything decoded or encoded here is freed before returning.
 */
#ifndef CD_TESTS_FUZZ_EVENT_CHECK_H
#define CD_TESTS_FUZZ_EVENT_CHECK_H

#include <stdint.h>

#include "proto/codec.h"
#include "proto/pbjson.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_MAX_JSON ((size_t)4 << 20)

typedef struct fuzz_decoded {
	Contact__V1__CitizenEvent *msg;
	cd_event ev;
	cd_codec_stage stage;
	int rc;
	bool wire_refused;        /* refused for its bytes alone (binary strings), not its fields */
	cd_err err;
} fuzz_decoded;

static void fuzz_decode(fuzz_decoded *d, const uint8_t *data, size_t len, cd_log_format fmt)
{
	memset(d, 0, sizeof(*d));
	d->rc = cd_codec_decode_event(data, len, fmt, &d->msg, &d->ev, &d->stage, &d->err);
	FUZZ_CHECK(d->rc == 0 || d->err.msg[0], "a refusal without a reason");
	FUZZ_CHECK(d->rc < 0 || d->msg, "accepted without a message");
	/*
	 * The binary decoder checks strings on the wire (a NUL, bad UTF-8), where
	 * protobuf-c's unpacked copy would hide them: such a message re-encodes
	 * as a different one, so it has no outcome to compare.
	 */
	if (fmt == CD_LOG_PB && d->rc < 0 && d->msg) {
		cd_event ev;
		cd_codec_stage stage;
		cd_err err;
		d->wire_refused = cd_codec_event_from_pb(d->msg, &ev, &stage, &err) == 0;
	}
}

static void fuzz_decoded_free(fuzz_decoded *d)
{
	if (d->msg)
		protobuf_c_message_free_unpacked(&d->msg->base, NULL);
	d->msg = NULL;
}

/* Binary bytes of a message (the caller frees). */
static uint8_t *fuzz_pack(const Contact__V1__CitizenEvent *m, size_t *n)
{
	uint8_t *p;
	*n = protobuf_c_message_get_packed_size(&m->base);
	p = malloc(*n ? *n : 1);
	FUZZ_CHECK(p, "out of memory");
	FUZZ_CHECK(protobuf_c_message_pack(&m->base, p) == *n, "packed size differs from the size announced");
	return p;
}

/* The same message again from fmt's encoding: same outcome, same event, same bytes. */
static void fuzz_recode(const fuzz_decoded *a, cd_log_format fmt)
{
	fuzz_decoded b;
	cd_buf j1, j2;
	uint8_t *p1 = NULL, *p2 = NULL;
	size_t n1 = 0, n2 = 0;

	cd_buf_init(&j1, FUZZ_MAX_JSON);
	cd_buf_init(&j2, FUZZ_MAX_JSON);
	if (fmt == CD_LOG_JSON) {
		cd_err err;
		if (pbjson_encode(&a->msg->base, &j1, &err) < 0)
			goto out;    /* larger than the bound: nothing to compare */
		fuzz_decode(&b, (const uint8_t *)j1.data, j1.len, CD_LOG_JSON);
	} else {
		p1 = fuzz_pack(a->msg, &n1);
		fuzz_decode(&b, p1, n1, CD_LOG_PB);
	}
	/*
	 * An accepted event survives either encoding unchanged; a refused one
	 * stays refused (its encoding may then not even decode: an enum number
	 * the schema lacks is kept by protobuf-c and refused by the JSON parser).
	 */
	if (a->rc == 0) {
		FUZZ_CHECK(b.msg && b.rc == 0, "an accepted event is refused after re-encoding as %s: %s",
			   fmt == CD_LOG_JSON ? "JSON" : "binary", b.err.msg);
		FUZZ_CHECK(fuzz_same_event(&a->ev, &b.ev), "the validated event differs after re-encoding");
	} else if (!a->wire_refused) {
		FUZZ_CHECK(b.rc < 0, "a refused event ('%s') is accepted after re-encoding as %s", a->err.msg,
			   fmt == CD_LOG_JSON ? "JSON" : "binary");
	}
	if (!b.msg)
		goto out;
	if (fmt == CD_LOG_JSON) {
		cd_err err;
		FUZZ_CHECK(pbjson_encode(&b.msg->base, &j2, &err) == 0, "re-encoding failed: %s", err.msg);
		FUZZ_CHECK(fuzz_same_str(j1.data, j1.len, j2.data, j2.len), "JSON encoding is not stable");
	} else {
		p2 = fuzz_pack(b.msg, &n2);
		FUZZ_CHECK(n1 == n2 && memcmp(p1, p2, n1) == 0, "binary encoding is not stable");
	}
	fuzz_decoded_free(&b);
out:
	free(p1);
	free(p2);
	cd_buf_release(&j1);
	cd_buf_release(&j2);
}

static void fuzz_event_one(const uint8_t *data, size_t len, cd_log_format fmt)
{
	fuzz_decoded a;
	fuzz_decode(&a, data, len, fmt);
	if (a.msg) {
		fuzz_recode(&a, CD_LOG_PB);
		fuzz_recode(&a, CD_LOG_JSON);
	}
	fuzz_decoded_free(&a);
}

#endif
