/*
 * clock.h — the monotonic clock, for timeouts, idle limits and rates: it
 * never jumps with the wall clock. Never for dates (state/date.h has those).
 */
#ifndef CD_UTIL_CLOCK_H
#define CD_UTIL_CLOCK_H

#include <stdint.h>

/* Milliseconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
int64_t cd_clock_mono_ms(void);
/* Microseconds, the same clock. */
int64_t cd_clock_mono_us(void);

#endif
