/*
 * date.h — calendar dates and instants in Europe/Copenhagen: the rules' time arithmetic.
 *
 * All rule arithmetic is on calendar dates in Europe/Copenhagen (docs/spec/rules.md §3).
 * A cd_date is a day number: days since 1970-01-01 in the proleptic Gregorian
 * calendar (so differences and "+ N days" are plain integer arithmetic). A
 * cd_instant is nanoseconds since the Unix epoch, UTC (int64: years 1678–2261).
 *
 * Europe/Copenhagen is computed, not looked up: CET (UTC+1) with CEST (UTC+2)
 * from the last Sunday of March 01:00 UTC to the last Sunday of October 01:00
 * UTC (EU rule, in force since 1996); 1980–1995 summer time ended on the last
 * Sunday of September 01:00 UTC; no summer time before 1980. Replays therefore
 * never depend on the host's tzdata.
 *
 * Nothing here allocates; nothing here fails except the parsers (0 / -1).
 */
#ifndef CD_STATE_DATE_H
#define CD_STATE_DATE_H

#include <stddef.h>
#include <stdint.h>

typedef int32_t cd_date;     /* days since 1970-01-01 */
typedef int64_t cd_instant;  /* ns since 1970-01-01T00:00:00Z */

#define CD_DATE_NONE INT32_MIN           /* "no date" (e.g. due date while PAUSED) */
#define CD_INSTANT_NONE INT64_MIN
#define CD_NS_PER_SEC INT64_C(1000000000)
#define CD_DATE_STRLEN 11                /* "YYYY-MM-DD" + NUL */
#define CD_INSTANT_STRLEN 40             /* "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" + NUL, with room */

/* y/m/d must form a valid date (year 1..9999). */
cd_date cd_date_from_ymd(int y, int m, int d);
void cd_date_to_ymd(cd_date day, int *y, int *m, int *d);
int cd_days_in_month(int y, int m);
int cd_is_leap_year(int y);
/* ISO weekday: 1 = Monday … 7 = Sunday. */
int cd_date_weekday(cd_date day);

/* add_months of docs/spec/rules.md §3.1: keeps the day of month, clamps to the month's last day. */
cd_date cd_date_add_months(cd_date day, int months);

/* Strict "YYYY-MM-DD" (exactly 10 characters, a real calendar date). 0 / -1. */
int cd_date_parse(const char *s, size_t len, cd_date *out);
/* Writes "YYYY-MM-DD" and a NUL into buf (CD_DATE_STRLEN bytes). Returns buf. */
char *cd_date_format(cd_date day, char *buf);

/* Europe/Copenhagen: UTC offset in seconds (3600 or 7200) in force at instant t. */
int cd_cph_utc_offset(cd_instant t);
/* The local calendar date of instant t in Europe/Copenhagen (the business date). */
cd_date cd_cph_date(cd_instant t);
/* The instant of local midnight (00:00 Europe/Copenhagen) starting `day`. */
cd_instant cd_cph_midnight(cd_date day);

/*
 * RFC 3339 as used by protobuf's JSON mapping of google.protobuf.Timestamp:
 * "YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)". 0 / -1 (malformed, out of range).
 */
int cd_instant_parse_rfc3339(const char *s, size_t len, cd_instant *out);
/* Canonical form: UTC, "Z", fractional digits 0, 3, 6 or 9 as needed. Returns length. */
size_t cd_instant_format_rfc3339(cd_instant t, char *buf);

/* Conversions to and from protobuf Timestamp's (seconds, nanos). */
static inline cd_instant cd_instant_from_ts(int64_t seconds, int32_t nanos)
{
	return seconds * CD_NS_PER_SEC + nanos;
}
static inline void cd_instant_to_ts(cd_instant t, int64_t *seconds, int32_t *nanos)
{
	int64_t s = t / CD_NS_PER_SEC, n = t % CD_NS_PER_SEC;
	if (n < 0) { n += CD_NS_PER_SEC; s -= 1; }
	*seconds = s;
	*nanos = (int32_t)n;
}

#endif
