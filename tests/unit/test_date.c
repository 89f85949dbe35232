/*
 * test_date.c — state/date.c: the calendar, add_months, Europe/Copenhagen and
 * the RFC 3339 / YYYY-MM-DD text forms.
 *
 * Parsers are always fed a heap copy of exactly `len` bytes with no NUL after
 * it, so AddressSanitizer catches any read past `len`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "state/date.h"

#define CPH_ZONEINFO "/usr/share/zoneinfo/Europe/Copenhagen"

/* ---- helpers --------------------------------------------------------------- */

static cd_date D(int y, int m, int d)
{
	return cd_date_from_ymd(y, m, d);
}

/* The UTC instant y-m-d h:mi:s.000000000Z. */
static cd_instant utc(int y, int m, int d, int h, int mi, int s)
{
	int64_t secs = (int64_t)D(y, m, d) * 86400 + h * 3600 + mi * 60 + s;
	return cd_instant_from_ts(secs, 0);
}

static void assert_ymd(cd_date day, int y, int m, int d)
{
	int yy, mm, dd;

	cd_date_to_ymd(day, &yy, &mm, &dd);
	assert_int_equal(yy, y);
	assert_int_equal(mm, m);
	assert_int_equal(dd, d);
}

/* Parse the first len bytes of s from an exact-size heap copy. */
static int date_parse_n(const char *s, size_t len, cd_date *out)
{
	char *p = malloc(len ? len : 1);
	int rc;

	assert_non_null(p);
	memcpy(p, s, len);
	rc = cd_date_parse(p, len, out);
	free(p);
	return rc;
}

static int date_parse(const char *s, cd_date *out)
{
	return date_parse_n(s, strlen(s), out);
}

static int instant_parse_n(const char *s, size_t len, cd_instant *out)
{
	char *p = malloc(len ? len : 1);
	int rc;

	assert_non_null(p);
	memcpy(p, s, len);
	rc = cd_instant_parse_rfc3339(p, len, out);
	free(p);
	return rc;
}

static int instant_parse(const char *s, cd_instant *out)
{
	return instant_parse_n(s, strlen(s), out);
}

static void assert_date_rejected(const char *s)
{
	cd_date out = 12345;

	if (date_parse(s, &out) != -1)
		fail_msg("accepted \"%s\"", s);
	assert_int_equal(out, 12345);                  /* untouched on failure */
}

static void assert_instant_rejected(const char *s)
{
	cd_instant out = 12345;

	if (instant_parse(s, &out) != -1)
		fail_msg("accepted \"%s\"", s);
	assert_int_equal(out, 12345);
}

static cd_instant instant_ok(const char *s)
{
	cd_instant out = 0;

	if (instant_parse(s, &out) != 0)
		fail_msg("rejected \"%s\"", s);
	return out;
}

static void assert_formats_as(cd_instant t, const char *want)
{
	char buf[CD_INSTANT_STRLEN];
	size_t n;

	memset(buf, 'x', sizeof buf);
	n = cd_instant_format_rfc3339(t, buf);
	assert_string_equal(buf, want);
	assert_int_equal(n, strlen(want));
}

/* ---- calendar -------------------------------------------------------------- */

static void test_leap_years_follow_the_gregorian_rule(void **state)
{
	(void)state;
	assert_true(cd_is_leap_year(2000));            /* divisible by 400 */
	assert_false(cd_is_leap_year(1900));           /* by 100, not 400 */
	assert_false(cd_is_leap_year(2100));
	assert_true(cd_is_leap_year(2020));
	assert_true(cd_is_leap_year(2024));
	assert_false(cd_is_leap_year(2021));
	assert_true(cd_is_leap_year(1600));
	assert_false(cd_is_leap_year(1));
	assert_true(cd_is_leap_year(4));
}

static void test_days_in_month_knows_month_ends_and_leap_februaries(void **state)
{
	static const int len2021[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	(void)state;
	for (int m = 1; m <= 12; m++)
		assert_int_equal(cd_days_in_month(2021, m), len2021[m - 1]);
	assert_int_equal(cd_days_in_month(2020, 2), 29);
	assert_int_equal(cd_days_in_month(2000, 2), 29);
	assert_int_equal(cd_days_in_month(1900, 2), 28);
	assert_int_equal(cd_days_in_month(2100, 2), 28);
	assert_int_equal(cd_days_in_month(2021, 0), 0);
	assert_int_equal(cd_days_in_month(2021, 13), 0);
}

static void test_day_numbers_count_from_1970_including_negatives(void **state)
{
	(void)state;
	assert_int_equal(D(1970, 1, 1), 0);
	assert_int_equal(D(1970, 1, 2), 1);
	assert_int_equal(D(1969, 12, 31), -1);
	assert_int_equal(D(2000, 3, 1), 11017);
	assert_int_equal(D(2020, 3, 2), 18323);
	assert_int_equal(D(1900, 1, 1), -25567);
	assert_int_equal(D(1, 1, 1), -719162);
	assert_int_equal(D(9999, 12, 31), 2932896);

	assert_ymd(-1, 1969, 12, 31);
	assert_ymd(-25567, 1900, 1, 1);
	assert_ymd(-719162, 1, 1, 1);
	assert_ymd(2932896, 9999, 12, 31);
	assert_ymd(11016, 2000, 2, 29);
	assert_ymd(D(1900, 3, 1) - 1, 1900, 2, 28);    /* no 1900-02-29 */
	assert_ymd(D(2100, 3, 1) - 1, 2100, 2, 28);
	assert_ymd(D(2000, 3, 1) - 1, 2000, 2, 29);
}

static void test_weekday_is_iso_monday_1_to_sunday_7(void **state)
{
	(void)state;
	assert_int_equal(cd_date_weekday(D(2020, 3, 2)), 1);   /* Monday */
	assert_int_equal(cd_date_weekday(D(1970, 1, 1)), 4);   /* Thursday */
	assert_int_equal(cd_date_weekday(D(1969, 12, 28)), 7); /* Sunday, negative day */
	assert_int_equal(cd_date_weekday(D(1969, 12, 29)), 1);
	assert_int_equal(cd_date_weekday(D(2021, 3, 28)), 7);
	assert_int_equal(cd_date_weekday(D(1, 1, 1)), 1);
	assert_int_equal(cd_date_weekday(INT32_MIN), cd_date_weekday(INT32_MIN + 7));
	assert_int_equal(cd_date_weekday(INT32_MAX),
	                 cd_date_weekday(INT32_MAX - 1) % 7 + 1);
}

static void test_every_day_1900_to_2300_round_trips_and_advances_the_weekday(void **state)
{
	cd_date first = D(1900, 1, 1), last = D(2300, 12, 31);
	int py = 1899, pm = 12, pd = 31, pw = cd_date_weekday(first - 1);

	(void)state;
	for (cd_date d = first; d <= last; d++) {
		int y, m, dd, w;

		cd_date_to_ymd(d, &y, &m, &dd);
		assert_int_equal(cd_date_from_ymd(y, m, dd), d);
		assert_in_range(dd, 1, cd_days_in_month(y, m));
		/* the previous day is the calendar's previous day */
		if (dd == 1) {
			assert_int_equal(pd, cd_days_in_month(py, pm));
			assert_int_equal(m, pm % 12 + 1);
			assert_int_equal(y, m == 1 ? py + 1 : py);
		} else {
			assert_int_equal(dd, pd + 1);
			assert_int_equal(m, pm);
			assert_int_equal(y, py);
		}
		w = cd_date_weekday(d);
		assert_int_equal(w, pw % 7 + 1);
		py = y, pm = m, pd = dd, pw = w;
	}
	assert_int_equal(py, 2300);
}

/* ---- add_months ------------------------------------------------------------ */

static void test_add_months_keeps_the_day_of_month(void **state)
{
	(void)state;
	assert_int_equal(cd_date_add_months(D(2020, 1, 15), 1), D(2020, 2, 15));
	assert_int_equal(cd_date_add_months(D(2020, 1, 15), 6), D(2020, 7, 15));
	assert_int_equal(cd_date_add_months(D(2020, 11, 30), 2), D(2021, 1, 30));
	assert_int_equal(cd_date_add_months(D(2020, 1, 15), 0), D(2020, 1, 15));
	assert_int_equal(cd_date_add_months(D(2020, 1, 15), 120), D(2030, 1, 15));
	assert_int_equal(cd_date_add_months(D(1969, 12, 31), 1), D(1970, 1, 31));
}

static void test_add_months_clamps_to_last_day_of_month(void **state)
{
	(void)state;
	assert_int_equal(cd_date_add_months(D(2020, 1, 31), 1), D(2020, 2, 29));
	assert_int_equal(cd_date_add_months(D(2021, 1, 31), 1), D(2021, 2, 28));
	assert_int_equal(cd_date_add_months(D(2020, 8, 31), 6), D(2021, 2, 28));
	assert_int_equal(cd_date_add_months(D(2020, 3, 31), 1), D(2020, 4, 30));
	assert_int_equal(cd_date_add_months(D(2020, 2, 29), 12), D(2021, 2, 28));
	assert_int_equal(cd_date_add_months(D(2020, 2, 29), 48), D(2024, 2, 29));
	assert_int_equal(cd_date_add_months(D(1999, 12, 31), 2), D(2000, 2, 29));
	assert_int_equal(cd_date_add_months(D(2099, 12, 31), 2), D(2100, 2, 28));
}

static void test_add_months_accepts_negative_months(void **state)
{
	(void)state;
	assert_int_equal(cd_date_add_months(D(2020, 3, 31), -1), D(2020, 2, 29));
	assert_int_equal(cd_date_add_months(D(2021, 3, 31), -1), D(2021, 2, 28));
	assert_int_equal(cd_date_add_months(D(2020, 1, 15), -1), D(2019, 12, 15));
	assert_int_equal(cd_date_add_months(D(2020, 1, 15), -12), D(2019, 1, 15));
	assert_int_equal(cd_date_add_months(D(2020, 1, 15), -13), D(2018, 12, 15));
	assert_int_equal(cd_date_add_months(D(2021, 2, 28), -6), D(2020, 8, 28));
	assert_int_equal(cd_date_add_months(D(1970, 1, 31), -11), D(1969, 2, 28));
}

static void test_window_ends_from_the_spec_examples(void **state)
{
	(void)state;
	/* "the first 6 months" from A ends on add_months(A, 6) - 1 */
	assert_int_equal(cd_date_add_months(D(2020, 1, 15), 6) - 1, D(2020, 7, 14));
	assert_int_equal(cd_date_add_months(D(2020, 8, 31), 6) - 1, D(2021, 2, 27));
	/* "by the end of week 8" from a Monday A is A + 55, a Sunday */
	assert_int_equal(D(2020, 3, 2) + 55, D(2020, 4, 26));
	assert_int_equal(cd_date_weekday(D(2020, 3, 2) + 55), 7);
}

/* ---- YYYY-MM-DD ------------------------------------------------------------ */

static void test_date_parse_accepts_real_dates(void **state)
{
	cd_date d = 0;

	(void)state;
	assert_int_equal(date_parse("2020-02-29", &d), 0);
	assert_int_equal(d, D(2020, 2, 29));
	assert_int_equal(date_parse("2000-02-29", &d), 0);
	assert_int_equal(d, D(2000, 2, 29));
	assert_int_equal(date_parse("1970-01-01", &d), 0);
	assert_int_equal(d, 0);
	assert_int_equal(date_parse("1969-12-31", &d), 0);
	assert_int_equal(d, -1);
	assert_int_equal(date_parse("0001-01-01", &d), 0);
	assert_int_equal(d, D(1, 1, 1));
	assert_int_equal(date_parse("9999-12-31", &d), 0);
	assert_int_equal(d, D(9999, 12, 31));
}

static void test_date_parse_rejects_malformed_and_unreal_dates(void **state)
{
	static const char *bad[] = {
		"",
		"2021-02-29",          /* not a leap year */
		"1900-02-29",
		"2100-02-29",
		"2021-04-31",
		"2021-13-01",
		"2021-00-10",
		"2021-01-00",
		"2021-01-32",
		"0000-01-01",          /* year 0 */
		"2021-1-01",
		"2021-01-1",
		"21-01-01",
		"2021/01/01",
		"2021-01-01 ",
		" 2021-01-01",
		"2021-01-01T00:00:00Z",
		"+021-01-01",
		"-021-01-01",
		"2021-0a-01",
		"2021-01-0a",
		"2O21-01-01",
		"20210101",
		"2021--01-01",
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_date_rejected(bad[i]);
}

static void test_date_parse_reads_only_len_bytes(void **state)
{
	cd_date d = 7;

	(void)state;
	/* the content goes on, len says where it ends */
	assert_int_equal(date_parse_n("2021-01-015", 10, &d), 0);
	assert_int_equal(d, D(2021, 1, 1));
	d = 7;
	assert_int_equal(date_parse_n("2021-01-01", 9, &d), -1);
	assert_int_equal(date_parse_n("2021-01-01", 0, &d), -1);
	assert_int_equal(d, 7);
	/* an embedded NUL is just a bad character */
	assert_int_equal(date_parse_n("2021-01\0001", 10, &d), -1);
	assert_int_equal(d, 7);
}

static void test_date_format_writes_yyyy_mm_dd_and_round_trips(void **state)
{
	char buf[CD_DATE_STRLEN];

	(void)state;
	assert_string_equal(cd_date_format(0, buf), "1970-01-01");
	assert_string_equal(cd_date_format(-1, buf), "1969-12-31");
	assert_string_equal(cd_date_format(D(2020, 2, 29), buf), "2020-02-29");
	assert_string_equal(cd_date_format(D(1, 1, 1), buf), "0001-01-01");
	assert_string_equal(cd_date_format(D(9999, 12, 31), buf), "9999-12-31");
	assert_ptr_equal(cd_date_format(0, buf), buf);

	for (cd_date d = D(1, 1, 1); d <= D(9999, 12, 31); d += 997) {
		cd_date back = 0;

		cd_date_format(d, buf);
		assert_int_equal(strlen(buf), 10);
		assert_int_equal(date_parse(buf, &back), 0);
		assert_int_equal(back, d);
	}
}

static void test_date_format_never_overflows_for_out_of_range_days(void **state)
{
	char buf[CD_DATE_STRLEN];

	(void)state;
	assert_string_equal(cd_date_format(D(1, 1, 1) - 1, buf), "0000-00-00");
	assert_string_equal(cd_date_format(D(9999, 12, 31) + 1, buf), "0000-00-00");
	assert_string_equal(cd_date_format(CD_DATE_NONE, buf), "0000-00-00");
	assert_string_equal(cd_date_format(INT32_MAX, buf), "0000-00-00");
}

/* ---- Europe/Copenhagen ------------------------------------------------------- */

static void test_cph_summer_time_starts_last_sunday_of_march_0100_utc(void **state)
{
	cd_instant t;

	(void)state;
	t = utc(2021, 3, 28, 0, 30, 0);
	assert_int_equal(cd_cph_utc_offset(t), 3600);
	assert_int_equal(cd_cph_date(t), D(2021, 3, 28));
	assert_int_equal(cd_cph_utc_offset(utc(2021, 3, 28, 1, 0, 0) - 1), 3600);
	assert_int_equal(cd_cph_utc_offset(utc(2021, 3, 28, 1, 0, 0)), 7200);
	/* a week earlier is still winter */
	assert_int_equal(cd_cph_utc_offset(utc(2021, 3, 21, 12, 0, 0)), 3600);
	/* 2020: last Sunday of March is the 29th */
	assert_int_equal(cd_cph_utc_offset(utc(2020, 3, 29, 0, 59, 59)), 3600);
	assert_int_equal(cd_cph_utc_offset(utc(2020, 3, 29, 1, 0, 0)), 7200);
}

static void test_cph_summer_time_ends_last_sunday_of_october_0100_utc(void **state)
{
	(void)state;
	assert_int_equal(cd_cph_utc_offset(utc(2021, 10, 31, 0, 59, 59)), 7200);
	assert_int_equal(cd_cph_utc_offset(utc(2021, 10, 31, 1, 0, 0)), 3600);
	assert_int_equal(cd_cph_utc_offset(utc(2021, 10, 31, 1, 0, 0) - 1), 7200);
	assert_int_equal(cd_cph_utc_offset(utc(2021, 7, 1, 12, 0, 0)), 7200);
	assert_int_equal(cd_cph_utc_offset(utc(2021, 1, 1, 12, 0, 0)), 3600);
	assert_int_equal(cd_cph_utc_offset(utc(2021, 12, 31, 23, 59, 59)), 3600);
	/* 1996 is the first year of the October rule */
	assert_int_equal(cd_cph_utc_offset(utc(1996, 9, 29, 12, 0, 0)), 7200);
	assert_int_equal(cd_cph_utc_offset(utc(1996, 10, 27, 0, 59, 59)), 7200);
	assert_int_equal(cd_cph_utc_offset(utc(1996, 10, 27, 1, 0, 0)), 3600);
}

static void test_cph_summer_time_1980_to_1995_ends_last_sunday_of_september(void **state)
{
	(void)state;
	/* 1995-09-24 is the last Sunday of September 1995 */
	assert_int_equal(cd_date_weekday(D(1995, 9, 24)), 7);
	assert_int_equal(cd_cph_utc_offset(utc(1995, 9, 24, 0, 59, 59)), 7200);
	assert_int_equal(cd_cph_utc_offset(utc(1995, 9, 24, 1, 0, 0)), 3600);
	assert_int_equal(cd_cph_utc_offset(utc(1995, 10, 15, 12, 0, 0)), 3600);
	assert_int_equal(cd_cph_utc_offset(utc(1995, 3, 26, 1, 0, 0)), 7200);
	assert_int_equal(cd_cph_date(utc(1995, 9, 23, 22, 30, 0)), D(1995, 9, 24));
	assert_int_equal(cd_cph_date(utc(1995, 9, 24, 22, 30, 0)), D(1995, 9, 24));
	/* 1980 as the header states it: last Sunday of March (the 30th) */
	assert_int_equal(cd_cph_utc_offset(utc(1980, 3, 30, 0, 59, 59)), 3600);
	assert_int_equal(cd_cph_utc_offset(utc(1980, 3, 30, 1, 0, 0)), 7200);
	assert_int_equal(cd_cph_utc_offset(utc(1980, 9, 28, 1, 0, 0)), 3600);
}

static void test_cph_has_no_summer_time_before_1980(void **state)
{
	(void)state;
	assert_int_equal(cd_cph_utc_offset(utc(1979, 7, 1, 12, 0, 0)), 3600);
	assert_int_equal(cd_cph_utc_offset(utc(1970, 7, 1, 12, 0, 0)), 3600);
	assert_int_equal(cd_cph_utc_offset(utc(1900, 7, 1, 12, 0, 0)), 3600);
	assert_int_equal(cd_cph_utc_offset(INT64_MIN), 3600);
	assert_int_equal(cd_cph_utc_offset(-1), 3600);
	assert_int_equal(cd_cph_date(-1), 0);          /* 1970-01-01 00:59:59 CET */
	assert_int_equal(cd_cph_date(utc(1969, 12, 31, 23, 0, 0)), 0);
	assert_int_equal(cd_cph_date(utc(1969, 12, 31, 23, 0, 0) - 1), -1);
}

static void test_cph_date_is_the_local_calendar_date(void **state)
{
	(void)state;
	assert_int_equal(cd_cph_date(utc(2021, 6, 30, 22, 30, 0)), D(2021, 7, 1));
	assert_int_equal(cd_cph_date(utc(2021, 6, 30, 21, 59, 59)), D(2021, 6, 30));
	assert_int_equal(cd_cph_date(utc(2021, 6, 30, 22, 0, 0)), D(2021, 7, 1));
	assert_int_equal(cd_cph_date(utc(2021, 12, 31, 23, 0, 0)), D(2022, 1, 1));
	assert_int_equal(cd_cph_date(utc(2021, 12, 31, 22, 59, 59)), D(2021, 12, 31));
	assert_int_equal(cd_cph_date(INT64_MAX), D(2262, 4, 12));
}

static void test_cph_midnight_uses_the_offset_in_force_that_night(void **state)
{
	(void)state;
	assert_int_equal(cd_cph_midnight(D(2021, 3, 28)), utc(2021, 3, 27, 23, 0, 0));
	assert_int_equal(cd_cph_midnight(D(2021, 3, 29)), utc(2021, 3, 28, 22, 0, 0));
	assert_int_equal(cd_cph_midnight(D(2021, 10, 31)), utc(2021, 10, 30, 22, 0, 0));
	assert_int_equal(cd_cph_midnight(D(2021, 11, 1)), utc(2021, 10, 31, 23, 0, 0));
	assert_int_equal(cd_cph_midnight(D(1970, 1, 1)), utc(1969, 12, 31, 23, 0, 0));
	assert_int_equal(cd_cph_midnight(D(1995, 9, 25)), utc(1995, 9, 24, 23, 0, 0));
}

static void test_cph_midnight_and_date_agree_on_every_day_1970_to_2100(void **state)
{
	(void)state;
	for (cd_date d = D(1970, 1, 1); d <= D(2100, 12, 31); d++) {
		cd_instant m = cd_cph_midnight(d), next = cd_cph_midnight(d + 1);
		int64_t len = next - m, hour = 3600 * CD_NS_PER_SEC;

		assert_int_equal(cd_cph_date(m), d);
		assert_int_equal(cd_cph_date(m - 1), d - 1);
		/* local days are 23, 24 or 25 hours long */
		assert_true(len == 23 * hour || len == 24 * hour || len == 25 * hour);
	}
}

static void test_cph_midnight_outside_instant_range_is_none(void **state)
{
	(void)state;
	assert_int_equal(cd_cph_midnight(CD_DATE_NONE), CD_INSTANT_NONE);
	assert_int_equal(cd_cph_midnight(INT32_MAX), CD_INSTANT_NONE);
	assert_int_equal(cd_cph_midnight(D(2262, 4, 13)), CD_INSTANT_NONE);
	assert_int_equal(cd_cph_midnight(D(1677, 9, 21)), CD_INSTANT_NONE);
	assert_int_equal(cd_cph_midnight(D(2262, 4, 12)), utc(2262, 4, 11, 22, 0, 0));
	assert_int_equal(cd_cph_midnight(D(1677, 9, 22)), utc(1677, 9, 21, 23, 0, 0));
}

/* The computed rule against the system's tzdata, every hour 1981..2040. */
static void test_cph_offset_matches_system_tzdata_every_hour_1981_to_2040(void **state)
{
	const char *old = getenv("TZ");
	char *saved = old ? strdup(old) : NULL;
	int64_t from = (int64_t)D(1981, 1, 1) * 86400, to = (int64_t)D(2041, 1, 1) * 86400;

	(void)state;
	if (access(CPH_ZONEINFO, R_OK) != 0) {
		free(saved);
		skip();
	}
	if (sizeof(time_t) < 8) {
		free(saved);
		skip();
	}
	setenv("TZ", "Europe/Copenhagen", 1);
	tzset();
	for (int64_t s = from; s < to; s += 3600) {
		/* on the hour and just before it, so both sides of 01:00 UTC are seen */
		for (int k = 0; k < 2; k++) {
			time_t tt = (time_t)(s - k);
			struct tm tm;
			cd_instant t = cd_instant_from_ts(s - k, 0);

			assert_non_null(localtime_r(&tt, &tm));
			if (tm.tm_gmtoff != cd_cph_utc_offset(t))
				fail_msg("offset at %lld: tzdata %ld, computed %d",
				         (long long)(s - k), (long)tm.tm_gmtoff,
				         cd_cph_utc_offset(t));
			assert_int_equal(cd_cph_date(t),
			                 D(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday));
		}
	}
	if (saved)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved);
}

/* ---- RFC 3339 -------------------------------------------------------------- */

static void test_rfc3339_parses_utc_offsets_and_fractions(void **state)
{
	(void)state;
	assert_int_equal(instant_ok("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(instant_ok("1970-01-01t00:00:00z"), 0);
	assert_int_equal(instant_ok("2021-03-28T01:00:00Z"), utc(2021, 3, 28, 1, 0, 0));
	assert_int_equal(instant_ok("2021-03-28T03:00:00+02:00"), utc(2021, 3, 28, 1, 0, 0));
	assert_int_equal(instant_ok("2021-03-27T20:00:00-05:00"), utc(2021, 3, 28, 1, 0, 0));
	assert_int_equal(instant_ok("2021-03-28T06:30:00+05:30"), utc(2021, 3, 28, 1, 0, 0));
	assert_int_equal(instant_ok("2021-03-28T01:00:00+00:00"), utc(2021, 3, 28, 1, 0, 0));
	assert_int_equal(instant_ok("2021-03-28T01:00:00-00:00"), utc(2021, 3, 28, 1, 0, 0));
	assert_int_equal(instant_ok("2021-01-01T00:30:00+23:59"), utc(2020, 12, 31, 0, 31, 0));
	assert_int_equal(instant_ok("1970-01-01T00:00:00.5Z"), 500000000);
	assert_int_equal(instant_ok("1970-01-01T00:00:00.05Z"), 50000000);
	assert_int_equal(instant_ok("1970-01-01T00:00:00.123Z"), 123000000);
	assert_int_equal(instant_ok("1970-01-01T00:00:00.123456Z"), 123456000);
	assert_int_equal(instant_ok("1970-01-01T00:00:00.123456789Z"), 123456789);
	assert_int_equal(instant_ok("1970-01-01T00:00:00.000000001Z"), 1);
	assert_int_equal(instant_ok("1969-12-31T23:59:59.999999999Z"), -1);
	assert_int_equal(instant_ok("1970-01-01T01:00:00.25+01:00"), 250000000);
	assert_int_equal(instant_ok("2020-02-29T23:59:59Z"), utc(2020, 2, 29, 23, 59, 59));
}

static void test_rfc3339_accepts_exactly_the_int64_nanosecond_range(void **state)
{
	(void)state;
	assert_int_equal(instant_ok("2262-04-11T23:47:16.854775807Z"), INT64_MAX);
	assert_int_equal(instant_ok("1677-09-21T00:12:43.145224193Z"), INT64_MIN + 1);
	assert_int_equal(instant_ok("2262-04-12T00:47:16.854775807+01:00"), INT64_MAX);
	assert_int_equal(instant_ok("1677-09-20T23:12:43.145224193-01:00"), INT64_MIN + 1);
	assert_int_equal(instant_ok("1677-09-21T00:12:44Z"), INT64_C(-9223372036000000000));
	/* one past either end; INT64_MIN itself is CD_INSTANT_NONE */
	assert_instant_rejected("2262-04-11T23:47:16.854775808Z");
	assert_instant_rejected("2262-04-11T23:47:17Z");
	assert_instant_rejected("2262-04-11T23:47:16.854775807-00:01");
	assert_instant_rejected("1677-09-21T00:12:43.145224192Z");
	assert_instant_rejected("1677-09-21T00:12:43Z");
	assert_instant_rejected("1677-09-21T00:12:43.145224193+00:01");
	assert_instant_rejected("2262-04-12T00:00:00Z");
	assert_instant_rejected("1677-01-01T00:00:00Z");
	assert_instant_rejected("1600-01-01T00:00:00Z");
	assert_instant_rejected("9999-12-31T23:59:59Z");
	assert_instant_rejected("0000-01-01T00:00:00Z");
	assert_instant_rejected("0001-01-01T00:00:00Z");
}

static void test_rfc3339_rejects_each_malformed_form(void **state)
{
	static const char *bad[] = {
		"",
		"Z",
		"2021-01-01",
		"2021-01-01T00:00:00",          /* missing zone */
		"2021-01-01T00:00:00.5",        /* missing zone after fraction */
		"2021-13-01T00:00:00Z",         /* bad month */
		"2021-00-01T00:00:00Z",
		"2021-04-31T00:00:00Z",         /* bad day */
		"2021-01-00T00:00:00Z",
		"2021-02-29T00:00:00Z",         /* not a leap year */
		"2021-01-01T25:00:00Z",
		"2021-01-01T24:00:00Z",
		"2021-01-01T23:60:00Z",
		"2021-01-01T23:59:60Z",         /* leap seconds are not representable */
		"2021-01-01T00:00:00.1234567890Z", /* 10 fractional digits */
		"2021-01-01T00:00:00.Z",        /* dot without digits */
		"2021-01-01T00:00:00,5Z",
		"2021-01-01T00:00:00Zjunk",     /* trailing garbage */
		"2021-01-01T00:00:00Z ",
		"2021-01-01T00:00:00+01:00Z",
		" 2021-01-01T00:00:00Z",
		"2021-01-01 00:00:00Z",         /* only T or t separates */
		"2021-01-01x00:00:00Z",
		"2021-01-01T0:00:00Z",
		"2021-1-01T00:00:00Z",
		"2021-01-01T00:00Z",
		"2021-01-01T00-00-00Z",
		"2021-01-01T00:00:00+24:00",    /* offset hours */
		"2021-01-01T00:00:00+01:60",
		"2021-01-01T00:00:00+0100",
		"2021-01-01T00:00:00+01",
		"2021-01-01T00:00:00+1:00",
		"2021-01-01T00:00:00+01:0",
		"2021-01-01T00:00:00+01:000",
		"2021-01-01T00:00:00 +01:00",
		"2021-01-01T00:00:00UTC",
		"2021-01-01T00:00:00GMT",
		"2021-01-01T00:00:00X",
		"2021-01-01T00:00:00.+01:00",
		"2021-01-01T00:00:00.1a",
		"2021-01-01T0a:00:00Z",
		"+2021-01-01T00:00:00Z",
		"20210101T000000Z",
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_instant_rejected(bad[i]);
}

static void test_rfc3339_reads_only_len_bytes(void **state)
{
	const char *s = "2021-01-01T00:00:00.123456789+01:00";
	cd_instant t = 7;

	(void)state;
	/* every proper prefix is rejected, without reading past it */
	for (size_t n = 0; n < strlen(s); n++) {
		if (instant_parse_n(s, n, &t) != -1)
			fail_msg("accepted prefix of length %zu", n);
		assert_int_equal(t, 7);
	}
	/* len ends the string even when the content goes on */
	assert_int_equal(instant_parse_n("2021-01-01T00:00:00Zjunk", 20, &t), 0);
	assert_int_equal(t, utc(2021, 1, 1, 0, 0, 0));
	assert_int_equal(instant_parse_n("2021-01-01T00:00:00.5Z9", 22, &t), 0);
	assert_int_equal(t, utc(2021, 1, 1, 0, 0, 0) + 500000000);
	/* a fraction that runs to the end of len has no zone */
	assert_int_equal(instant_parse_n("2021-01-01T00:00:00.5Z", 21, &t), -1);
	assert_int_equal(instant_parse_n("2021-01-01T00:00:00.123456789Z", 29, &t), -1);
	assert_int_equal(instant_parse_n("2021-01-01T00:00:00+01:00", 24, &t), -1);
	assert_int_equal(instant_parse_n("2021-01-01T00:00:00\0", 20, &t), -1);
}

static void test_rfc3339_formats_utc_with_0_3_6_or_9_fraction_digits(void **state)
{
	(void)state;
	assert_formats_as(0, "1970-01-01T00:00:00Z");
	assert_formats_as(utc(2021, 3, 28, 1, 0, 0), "2021-03-28T01:00:00Z");
	assert_formats_as(500000000, "1970-01-01T00:00:00.500Z");
	assert_formats_as(1000000, "1970-01-01T00:00:00.001Z");
	assert_formats_as(1000, "1970-01-01T00:00:00.000001Z");
	assert_formats_as(123456000, "1970-01-01T00:00:00.123456Z");
	assert_formats_as(1, "1970-01-01T00:00:00.000000001Z");
	assert_formats_as(123456789, "1970-01-01T00:00:00.123456789Z");
	assert_formats_as(-1, "1969-12-31T23:59:59.999999999Z");
	assert_formats_as(-CD_NS_PER_SEC, "1969-12-31T23:59:59Z");
	assert_formats_as(-500000000, "1969-12-31T23:59:59.500Z");
	assert_formats_as(utc(2020, 2, 29, 23, 59, 59), "2020-02-29T23:59:59Z");
	assert_formats_as(INT64_MAX, "2262-04-11T23:47:16.854775807Z");
	assert_formats_as(INT64_MIN + 1, "1677-09-21T00:12:43.145224193Z");
	assert_formats_as(INT64_MIN, "1677-09-21T00:12:43.145224192Z");
}

static void test_rfc3339_round_trips_canonical_text_and_instants(void **state)
{
	static const char *canonical[] = {
		"1970-01-01T00:00:00Z",
		"2021-10-31T01:00:00Z",
		"2021-06-30T22:30:00.100Z",
		"1999-12-31T23:59:59.999999Z",
		"2100-02-28T12:00:00.000000001Z",
		"1900-01-01T00:00:00Z",
		"2262-04-11T23:47:16.854775807Z",
	};
	static const struct { const char *in, *out; } normalised[] = {
		{ "2021-03-28T03:00:00+02:00", "2021-03-28T01:00:00Z" },
		{ "2021-03-28t01:00:00z", "2021-03-28T01:00:00Z" },
		{ "2021-03-28T01:00:00.50Z", "2021-03-28T01:00:00.500Z" },
		{ "2021-03-28T01:00:00.1234Z", "2021-03-28T01:00:00.123400Z" },
		{ "2021-03-28T01:00:00.000000000Z", "2021-03-28T01:00:00Z" },
		{ "2021-01-01T00:30:00+01:00", "2020-12-31T23:30:00Z" },
	};
	char buf[CD_INSTANT_STRLEN];
	uint64_t x = 0x9e3779b97f4a7c15u;

	(void)state;
	for (size_t i = 0; i < sizeof canonical / sizeof canonical[0]; i++) {
		cd_instant_format_rfc3339(instant_ok(canonical[i]), buf);
		assert_string_equal(buf, canonical[i]);
	}
	for (size_t i = 0; i < sizeof normalised / sizeof normalised[0]; i++) {
		cd_instant_format_rfc3339(instant_ok(normalised[i].in), buf);
		assert_string_equal(buf, normalised[i].out);
	}
	/* pseudo-random instants over the whole range, at each precision */
	for (int i = 0; i < 200000; i++) {
		cd_instant t, back = 0;
		size_t n;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		t = (cd_instant)x;
		switch (i % 4) {
		case 1: t -= t % CD_NS_PER_SEC; break;
		case 2: t -= t % 1000000; break;
		case 3: t -= t % 1000; break;
		}
		if (t == CD_INSTANT_NONE)
			continue;
		n = cd_instant_format_rfc3339(t, buf);
		assert_int_equal(n, strlen(buf));
		assert_true(n < CD_INSTANT_STRLEN);
		assert_int_equal(instant_parse(buf, &back), 0);
		assert_int_equal(back, t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_leap_years_follow_the_gregorian_rule),
		cmocka_unit_test(test_days_in_month_knows_month_ends_and_leap_februaries),
		cmocka_unit_test(test_day_numbers_count_from_1970_including_negatives),
		cmocka_unit_test(test_weekday_is_iso_monday_1_to_sunday_7),
		cmocka_unit_test(test_every_day_1900_to_2300_round_trips_and_advances_the_weekday),
		cmocka_unit_test(test_add_months_keeps_the_day_of_month),
		cmocka_unit_test(test_add_months_clamps_to_last_day_of_month),
		cmocka_unit_test(test_add_months_accepts_negative_months),
		cmocka_unit_test(test_window_ends_from_the_spec_examples),
		cmocka_unit_test(test_date_parse_accepts_real_dates),
		cmocka_unit_test(test_date_parse_rejects_malformed_and_unreal_dates),
		cmocka_unit_test(test_date_parse_reads_only_len_bytes),
		cmocka_unit_test(test_date_format_writes_yyyy_mm_dd_and_round_trips),
		cmocka_unit_test(test_date_format_never_overflows_for_out_of_range_days),
		cmocka_unit_test(test_cph_summer_time_starts_last_sunday_of_march_0100_utc),
		cmocka_unit_test(test_cph_summer_time_ends_last_sunday_of_october_0100_utc),
		cmocka_unit_test(test_cph_summer_time_1980_to_1995_ends_last_sunday_of_september),
		cmocka_unit_test(test_cph_has_no_summer_time_before_1980),
		cmocka_unit_test(test_cph_date_is_the_local_calendar_date),
		cmocka_unit_test(test_cph_midnight_uses_the_offset_in_force_that_night),
		cmocka_unit_test(test_cph_midnight_and_date_agree_on_every_day_1970_to_2100),
		cmocka_unit_test(test_cph_midnight_outside_instant_range_is_none),
		cmocka_unit_test(test_cph_offset_matches_system_tzdata_every_hour_1981_to_2040),
		cmocka_unit_test(test_rfc3339_parses_utc_offsets_and_fractions),
		cmocka_unit_test(test_rfc3339_accepts_exactly_the_int64_nanosecond_range),
		cmocka_unit_test(test_rfc3339_rejects_each_malformed_form),
		cmocka_unit_test(test_rfc3339_reads_only_len_bytes),
		cmocka_unit_test(test_rfc3339_formats_utc_with_0_3_6_or_9_fraction_digits),
		cmocka_unit_test(test_rfc3339_round_trips_canonical_text_and_instants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
