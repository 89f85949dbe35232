/*
 * fuzz_citizen.c — bytes as Redis holds them through the citizen record
 * decoder (cd_citizen_decode, what a batch calls for every stored record),
 * then the round trip: a record that decodes encodes to bytes that decode to
 * the same record (encoding the two gives the same bytes), and a record of
 * the current version with every varint at its shortest encodes to itself. The seeds include
 * records built at every field limit (tests/fuzz/mkseeds.c limits) and records holding a
 * summary of folded history (mkseeds replays with a short history horizon).
 */
#include <stdint.h>

#include "state/citizen.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cd_citizen c, back;
	cd_buf b1, b2;
	cd_err err;

	cd_citizen_init(&c);
	cd_citizen_init(&back);
	cd_buf_init(&b1, (size_t)64 << 20);
	cd_buf_init(&b2, (size_t)64 << 20);
	if (cd_citizen_decode(&c, data, size, &err) < 0) {
		FUZZ_CHECK(err.msg[0] && c.n_ev == 0 && c.n_ob == 0, "a refused record left contents or no reason");
		goto out;
	}
	FUZZ_CHECK(cd_citizen_encode(&c, &b1) == 0, "a decoded record does not encode");
	/*
	 * The format has one way to write each value, but the decoder takes
	 * varints written longer than needed: a record of the current version
	 * whose encoding is as long as it was is the same bytes.
	 */
	if (data[0] == (uint8_t)b1.data[0] && b1.len == size)
		FUZZ_CHECK(!memcmp(b1.data, data, size), "a record encoded again differs from the record decoded");
	FUZZ_CHECK(cd_citizen_decode(&back, (const uint8_t *)b1.data, b1.len, &err) == 0,
		   "its own encoding does not decode: %s", err.msg);
	FUZZ_CHECK(back.n_ev == c.n_ev && back.n_ob == c.n_ob && back.clock == c.clock &&
		   back.next_fire == c.next_fire, "counts or clocks differ after the round trip");
	/* the summary of folded history (record format 4) */
	FUZZ_CHECK(back.fold_until == c.fold_until && back.fold_at == c.fold_at && back.n_folded == c.n_folded &&
		   back.n_fold_conv == c.n_fold_conv &&
		   (c.n_fold_conv == 0 || !memcmp(back.fold_conv, c.fold_conv, c.n_fold_conv * sizeof(*c.fold_conv))),
		   "the summary of folded history differs after the round trip");
	for (size_t i = 0; i < c.n_ev; i++) {
		const cd_hev *x = &c.ev[i], *y = &back.ev[i];
		FUZZ_CHECK(x->occurred == y->occurred && x->date == y->date && x->kind == y->kind &&
			   x->flags == y->flags && x->id_len == y->id_len &&
			   !strcmp(cd_citizen_str(&c, x->id_off), cd_citizen_str(&back, y->id_off)) &&
			   !strcmp(cd_citizen_str(&c, x->conv_off), cd_citizen_str(&back, y->conv_off)) &&
			   !strcmp(cd_citizen_str(&c, x->akasse_off), cd_citizen_str(&back, y->akasse_off)) &&
			   !strcmp(x->muni, y->muni) && x->benefit == y->benefit && x->category == y->category &&
			   x->form == y->form && x->held_by == y->held_by && x->reason == y->reason &&
			   x->scope == y->scope && x->first_contact == y->first_contact &&
			   x->first_absence == y->first_absence && x->dp_start == y->dp_start &&
			   x->prior_days == y->prior_days,
			   "history entry %zu differs after the round trip", i);
	}
	for (size_t i = 0; i < c.n_ob; i++) {
		const cd_obst *x = &c.ob[i], *y = &back.ob[i];
		FUZZ_CHECK(x->pkey == y->pkey && x->pstart == y->pstart &&
			   !strcmp(cd_citizen_str(&c, x->oid_off), cd_citizen_str(&back, y->oid_off)) &&
			   x->status == y->status && x->reason == y->reason && x->flags == y->flags &&
			   x->benefit == y->benefit && !strcmp(x->muni, y->muni) && x->due == y->due &&
			   x->ws == y->ws && x->we == y->we && x->required == y->required && x->held == y->held &&
			   x->transitions == y->transitions && x->agg == y->agg && x->agg_due == y->agg_due &&
			   x->agg_held == y->agg_held && x->agg_key == y->agg_key,
			   "obligation state %zu differs after the round trip", i);
	}
	FUZZ_CHECK(cd_citizen_encode(&back, &b2) == 0 && b1.len == b2.len && !memcmp(b1.data, b2.data, b1.len),
		   "encoding is not stable");
out:
	cd_citizen_release(&c);
	cd_citizen_release(&back);
	cd_buf_release(&b1);
	cd_buf_release(&b2);
	return 0;
}
