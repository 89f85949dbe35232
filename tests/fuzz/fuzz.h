/*
 * fuzz.h — what the libFuzzer harnesses (tests/fuzz/fuzz_*.c) share: a check
 * that aborts with a message (libFuzzer then keeps the input as a crash), and
 * the comparison of two validated events used by the round-trip checks.
 *
 * Header-only, static functions: each harness is one translation unit.
 * Ownership: nothing here allocates.
 */
#ifndef CD_TESTS_FUZZ_H
#define CD_TESTS_FUZZ_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/event.h"

/* A broken invariant is a finding: abort, so that libFuzzer saves the input. */
#define FUZZ_CHECK(cond, ...)                                                           \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                   \
			fputc('\n', stderr);                                            \
			abort();                                                        \
		}                                                                       \
	} while (0)

static inline bool fuzz_same_str(const char *a, size_t an, const char *b, size_t bn)
{
	return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* Every field the engine reads from an event (strings by content). */
static inline bool fuzz_same_event(const cd_event *a, const cd_event *b)
{
	return fuzz_same_str(a->event_id, a->event_id_len, b->event_id, b->event_id_len) &&
	       fuzz_same_str(a->citizen_id, a->citizen_id_len, b->citizen_id, b->citizen_id_len) &&
	       a->occurred_at == b->occurred_at && a->recorded_at == b->recorded_at &&
	       strcmp(a->muni, b->muni) == 0 && a->kind == b->kind && a->benefit == b->benefit &&
	       a->category == b->category && a->first_contact == b->first_contact &&
	       a->first_absence == b->first_absence && a->dp_start == b->dp_start &&
	       a->prior_days == b->prior_days && a->opt_out == b->opt_out && a->seasonal == b->seasonal &&
	       fuzz_same_str(a->akasse_code, a->akasse_code_len, b->akasse_code, b->akasse_code_len) &&
	       a->municipal_course == b->municipal_course && a->sick_short == b->sick_short &&
	       a->dereg_reason == b->dereg_reason && a->ends_dp == b->ends_dp &&
	       fuzz_same_str(a->conv_id, a->conv_id_len, b->conv_id, b->conv_id_len) && a->form == b->form &&
	       a->held_by == b->held_by && a->joint == b->joint && a->voided == b->voided &&
	       a->scope == b->scope && a->revoked == b->revoked;
}

#endif
