/*
 * date.c — calendar dates, instants and Europe/Copenhagen, by arithmetic.
 *
 * Design. A cd_date is a plain day number (days since 1970-01-01, proleptic
 * Gregorian), so every rule's "+ N days" and "A - B" is integer arithmetic and
 * the calendar is only consulted at the edges: when a date is built from or
 * split into year/month/day, when months are added, and when text is parsed or
 * written. Those conversions are Howard Hinnant's days_from_civil and
 * civil_from_days: they shift the year to start on March 1 (so the leap day is
 * the last day of the shifted year), split it into 400-year eras of exactly
 * 146097 days, and solve for the day of the era in closed form. No loops, no
 * tables beyond month lengths and digit pairs, correct for negative day
 * numbers (floor division on the era). Internally everything is int64_t, so no
 * intermediate overflows for any int32 day number; results are narrowed only
 * on return. civil_from_days has a faster 32-bit form (Neri and Schneider) for
 * every day number the rules meet, and falls back to Hinnant's outside it.
 *
 * Europe/Copenhagen is not looked up in tzdata (replays must not depend on
 * the host): the offset at an instant is computed from the UTC year of that
 * instant. Both transitions happen at 01:00 UTC on the last Sunday of a month
 * (March; October since 1996, September 1980–1995), which is found by taking
 * the month's last day and stepping back by its weekday distance to Sunday.
 * Transitions fall well inside the UTC year, so the UTC year is the right one
 * to take the rule from. Local midnight is never in a gap or a fold (the
 * clocks change at 02:00 / 03:00 local), so the midnight of day D is D 00:00
 * minus whichever offset is in force between D-1 22:00 and 23:00 UTC — one
 * hour that contains no transition.
 *
 * Invariants and edges:
 *  - cd_date_to_ymd / cd_date_weekday / cd_date_add_months are total over
 *    int32 day numbers (add_months narrows its result, which only wraps for
 *    results beyond ±5.8 million years).
 *  - cd_date_format writes at most 10 characters plus NUL; a day outside
 *    0001-01-01 … 9999-12-31 (including CD_DATE_NONE) is written as
 *    "0000-00-00", never as a longer number.
 *  - cd_cph_midnight returns CD_INSTANT_NONE for a day whose midnight does not
 *    fit cd_instant (outside 1677-09-22 … 2262-04-11).
 *  - The RFC 3339 parser reads only s[0 .. len-1], writes *out only on
 *    success, and rejects any instant outside int64 nanoseconds as well as the
 *    value INT64_MIN itself (it is CD_INSTANT_NONE).
 *  - Nothing allocates, nothing calls the C library's time-zone functions;
 *    the only state is the Copenhagen summer-time table (built once, then
 *    read-only) and a per-thread cache, neither of which changes a result.
 */
#include "state/date.h"

#include <assert.h>
#include <pthread.h>

#define SECS_PER_DAY INT64_C(86400)

/* floor(a / b) and the matching non-negative remainder, for b > 0. */
static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	if (a % b < 0)
		q -= 1;
	return q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
	int64_t r = a % b;
	return r < 0 ? r + b : r;
}

/* Days since 1970-01-01 of y-m-d (m 1..12, d 1..31); any year. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era;
	unsigned yoe, doy, doe, mp;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = (unsigned)(y - era * 400);                       /* [0, 399] */
	mp = m > 2 ? (unsigned)m - 3 : (unsigned)m + 9;        /* March = 0 */
	doy = (153 * mp + 2) / 5 + (unsigned)d - 1;            /* [0, 365] */
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days_any(int64_t z, int64_t *py, int *pm, int *pd)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;                                           /* from 0000-03-01 */
	era = floor_div(z, 146097);
	doe = (unsigned)(z - era * 146097);                    /* [0, 146096] */
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);         /* [0, 365] */
	mp = (5 * doy + 2) / 153;                              /* [0, 11] */
	*pd = (int)(doy - (153 * mp + 2) / 5 + 1);
	*pm = mp < 10 ? (int)mp + 3 : (int)mp - 9;
	*py = (int64_t)yoe + era * 400 + (*pm <= 2);
}

/*
 * civil_from_days: the same split by Neri and Schneider's 32-bit form
 * ("Euclidean affine functions and their application to calendar
 * algorithms", 2022) for day numbers from year -32800 to about 2.9 million,
 * which is every date the rules and the output see; it trades Hinnant's
 * 64-bit floor division and year-of-era correction for a few multiplications
 * (civil_from_days was 3.5 % of replay, called from every date written).
 * The day number is shifted by 82 eras so that all arithmetic is unsigned
 * and 4 * N + 3 fits 32 bits. Other day numbers take Hinnant's general form
 * above; both agree on every int32 day number (checked exhaustively).
 */
#define NS_ERAS 82                                             /* shift: 82 eras of 400 years */
#define NS_K (719468 + 146097 * NS_ERAS)                       /* 0000-03-01, shifted */
#define NS_MIN (-(int64_t)NS_K)
#define NS_MAX ((INT64_C(1) << 30) - NS_K - 1)                 /* 4 * N + 3 < 2^32 */

static void civil_from_days(int64_t z, int64_t *py, int *pm, int *pd)
{
	uint32_t n, n1, c, nc, n2, z2, ny, n3, m, d, j;
	uint64_t p2;

	if (z < NS_MIN || z > NS_MAX) {
		civil_from_days_any(z, py, pm, pd);
		return;
	}
	n = (uint32_t)(z + NS_K);                              /* days since -32800-03-01 */
	n1 = 4 * n + 3;
	c = n1 / 146097;                                       /* century */
	nc = n1 % 146097 / 4;                                  /* day of the century */
	n2 = 4 * nc + 3;
	p2 = UINT64_C(2939745) * n2;
	z2 = (uint32_t)(p2 >> 32);                             /* year of the century */
	ny = (uint32_t)p2 / 2939745 / 4;                       /* day of the year, March = 0 */
	n3 = 2141 * ny + 197913;
	m = n3 >> 16;                                          /* 3 … 14 */
	d = (n3 & 0xffff) / 2141;
	j = ny >= 306;                                         /* January or February */
	*py = (int64_t)(100 * c + z2) - 400 * NS_ERAS + j;
	*pm = (int)(j ? m - 12 : m);
	*pd = (int)d + 1;
}

static int leap64(int64_t y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int dim64(int64_t y, int m)
{
	static const unsigned char len[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};
	if (m < 1 || m > 12)
		return 0;
	return len[m - 1] + (m == 2 && leap64(y));
}

/* ISO weekday of a day number held in int64: 1 = Monday … 7 = Sunday. */
static int weekday64(int64_t day)
{
	return (int)floor_mod(day + 3, 7) + 1;                 /* 1970-01-01: Thursday */
}

int cd_is_leap_year(int y)
{
	return leap64(y);
}

int cd_days_in_month(int y, int m)
{
	return dim64(y, m);
}

cd_date cd_date_from_ymd(int y, int m, int d)
{
	assert(m >= 1 && m <= 12 && d >= 1 && d <= dim64(y, m));
	return (cd_date)days_from_civil(y, m, d);
}

void cd_date_to_ymd(cd_date day, int *y, int *m, int *d)
{
	int64_t yy;

	civil_from_days(day, &yy, m, d);
	*y = (int)yy;                  /* |yy| < 6 million for any int32 day */
}

int cd_date_weekday(cd_date day)
{
	return weekday64(day);
}

cd_date cd_date_add_months(cd_date day, int months)
{
	int64_t y, total, ny;
	int m, d, nm, last;

	civil_from_days(day, &y, &m, &d);
	total = y * 12 + (m - 1) + months;
	ny = floor_div(total, 12);
	nm = (int)(total - ny * 12) + 1;
	last = dim64(ny, nm);
	if (d > last)
		d = last;
	return (cd_date)days_from_civil(ny, nm, d);
}

/* ---- text ---------------------------------------------------------------- */

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* n digits at s as a number, or -1 if any is not a digit. */
static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static void put_digits(char *p, unsigned v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

/* "YYYY-MM-DD" at s (10 characters available); 0 and the parts, or -1. */
static int parse_ymd(const char *s, int *py, int *pm, int *pd)
{
	int y, m, d;

	if (s[4] != '-' || s[7] != '-')
		return -1;
	y = digits(s, 4);
	m = digits(s + 5, 2);
	d = digits(s + 8, 2);
	if (y < 0 || m < 1 || m > 12 || d < 1 || d > dim64(y, m))
		return -1;
	*py = y;
	*pm = m;
	*pd = d;
	return 0;
}

int cd_date_parse(const char *s, size_t len, cd_date *out)
{
	int y, m, d;

	if (len != 10 || parse_ymd(s, &y, &m, &d) < 0 || y < 1)
		return -1;
	*out = (cd_date)days_from_civil(y, m, d);
	return 0;
}

/*
 * Two decimal digits at a time from a table: format_ymd wrote a date digit by
 * digit (eight divisions) and was 2 % of replay, called for every date written.
 */
static const char digit_pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

static void put2(char *p, unsigned v)                 /* v in [0, 99] */
{
	p[0] = digit_pairs[2 * v];
	p[1] = digit_pairs[2 * v + 1];
}

/* y in [0, 9999]. */
static void format_ymd(char *buf, int64_t y, int m, int d)
{
	put2(buf, (unsigned)y / 100);
	put2(buf + 2, (unsigned)y % 100);
	buf[4] = '-';
	put2(buf + 5, (unsigned)m);
	buf[7] = '-';
	put2(buf + 8, (unsigned)d);
}

char *cd_date_format(cd_date day, char *buf)
{
	int64_t y;
	int m, d;

	civil_from_days(day, &y, &m, &d);
	if (y < 1 || y > 9999)
		y = m = d = 0;
	format_ymd(buf, y, m, d);
	buf[10] = '\0';
	return buf;
}

/* ---- Europe/Copenhagen ----------------------------------------------------- */

/* The day number of the last Sunday of month m (31 or 30 days) of year y. */
static int64_t last_sunday(int64_t y, int m)
{
	int64_t last = days_from_civil(y, m, dim64(y, m));
	return last - weekday64(last) % 7;                     /* Sunday is 7 -> 0 */
}

/* The summer-time interval [*start, *end) in UTC seconds of UTC year y; start == end: none. */
static void year_summer(int64_t y, int64_t *start, int64_t *end)
{
	if (y < 1980) {
		*start = *end = 0;
		return;
	}
	*start = last_sunday(y, 3) * SECS_PER_DAY + 3600;
	*end = last_sunday(y, y <= 1995 ? 9 : 10) * SECS_PER_DAY + 3600;
}

/*
 * The summer-time intervals of the UTC years 1970 … 2199, computed once per
 * process: replay asks about instants in these years hundreds of thousands
 * of times, over several years at once (history decoding walks a citizen's
 * events, deadlines reach into the next year), so a one-year cache missed
 * about a fifth of the time and the year arithmetic of each miss showed in
 * the profile. A year is found from the instant by the mean Gregorian year
 * and corrected by at most one step against the table's year starts. Other
 * years go through the per-thread one-year cache below. Neither changes a
 * result.
 */
#define TAB_Y0 1970
#define TAB_YEARS 230                                          /* 1970 … 2199 */
#define MEAN_YEAR_SECS INT64_C(31556952)                       /* 365.2425 days */

static struct {
	int64_t lo;              /* the year's first second; tab[TAB_YEARS].lo: the end */
	int64_t start, end;      /* summer time [start, end) */
} dst_tab[TAB_YEARS + 1];
static pthread_once_t dst_tab_once = PTHREAD_ONCE_INIT;

static void dst_tab_build(void)
{
	for (int i = 0; i <= TAB_YEARS; i++) {
		dst_tab[i].lo = days_from_civil(TAB_Y0 + i, 1, 1) * SECS_PER_DAY;
		year_summer(TAB_Y0 + i, &dst_tab[i].start, &dst_tab[i].end);
	}
}

typedef struct year_dst {
	int64_t lo, hi;          /* the UTC year [lo, hi) in seconds */
	int64_t start, end;      /* summer time [start, end); start == end: none */
} year_dst;

static _Thread_local year_dst dst_cache = { 1, 0, 0, 0 };   /* empty: lo > hi */

/* Offset in seconds at UTC second `secs`. */
static int cph_offset_secs(int64_t secs)
{
	year_dst *c = &dst_cache;

	pthread_once(&dst_tab_once, dst_tab_build);
	if (secs >= dst_tab[0].lo && secs < dst_tab[TAB_YEARS].lo) {
		int64_t i = secs / MEAN_YEAR_SECS;             /* secs >= 0 here */
		if (i >= TAB_YEARS)
			i = TAB_YEARS - 1;
		while (secs < dst_tab[i].lo)
			i--;
		while (secs >= dst_tab[i + 1].lo)
			i++;
		return secs >= dst_tab[i].start && secs < dst_tab[i].end ? 7200 : 3600;
	}
	if (secs < c->lo || secs >= c->hi) {
		int64_t y;
		int m, d;
		civil_from_days(floor_div(secs, SECS_PER_DAY), &y, &m, &d);
		c->lo = days_from_civil(y, 1, 1) * SECS_PER_DAY;
		c->hi = days_from_civil(y + 1, 1, 1) * SECS_PER_DAY;
		year_summer(y, &c->start, &c->end);
	}
	return secs >= c->start && secs < c->end ? 7200 : 3600;
}

static int64_t instant_secs(cd_instant t)
{
	return floor_div(t, CD_NS_PER_SEC);
}

int cd_cph_utc_offset(cd_instant t)
{
	return cph_offset_secs(instant_secs(t));
}

cd_date cd_cph_date(cd_instant t)
{
	int64_t secs = instant_secs(t);
	return (cd_date)floor_div(secs + cph_offset_secs(secs), SECS_PER_DAY);
}

/* cd_instant spans [LO_SECS s + LO_NS, HI_SECS s + HI_NS]; the low end is the sentinel. */
#define HI_SECS (INT64_MAX / CD_NS_PER_SEC)                    /* 9223372036 */
#define HI_NS (INT64_MAX % CD_NS_PER_SEC)                      /* 854775807 */
#define LO_SECS (INT64_MIN / CD_NS_PER_SEC - 1)                /* -9223372037 */
#define LO_NS (INT64_MIN % CD_NS_PER_SEC + CD_NS_PER_SEC)      /* 145224192 */

cd_instant cd_cph_midnight(cd_date day)
{
	int64_t d0 = (int64_t)day * SECS_PER_DAY;
	int64_t secs = d0 - cph_offset_secs(d0 - 7200);

	if (secs > HI_SECS || secs <= LO_SECS)
		return CD_INSTANT_NONE;
	return secs * CD_NS_PER_SEC;
}

/* ---- RFC 3339 ------------------------------------------------------------- */

int cd_instant_parse_rfc3339(const char *s, size_t len, cd_instant *out)
{
	int y, mo, d, h, mi, sec, sign, oh, om;
	int64_t frac = 0, secs;
	size_t i;

	/* Shortest form: "YYYY-MM-DDTHH:MM:SSZ". */
	if (len < 20 || parse_ymd(s, &y, &mo, &d) < 0)
		return -1;
	if (s[10] != 'T' && s[10] != 't')
		return -1;
	if (s[13] != ':' || s[16] != ':')
		return -1;
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	sec = digits(s + 17, 2);
	if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59)
		return -1;

	i = 19;
	if (s[i] == '.') {
		size_t start = ++i;
		int64_t scale = CD_NS_PER_SEC;

		while (i < len && is_digit(s[i]) && i - start < 9) {
			frac = frac * 10 + (s[i] - '0');
			scale /= 10;
			i++;
		}
		if (i == start || (i < len && is_digit(s[i])))
			return -1;                             /* no digits, or more than 9 */
		frac *= scale;
	}

	if (i >= len)
		return -1;                                     /* no zone */
	if (s[i] == 'Z' || s[i] == 'z') {
		sign = 0;
		oh = om = 0;
		i += 1;
	} else if (s[i] == '+' || s[i] == '-') {
		if (len - i < 6 || s[i + 3] != ':')
			return -1;
		sign = s[i] == '+' ? 1 : -1;
		oh = digits(s + i + 1, 2);
		om = digits(s + i + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -1;
		i += 6;
	} else {
		return -1;
	}
	if (i != len)
		return -1;                                     /* trailing characters */

	secs = days_from_civil(y, mo, d) * SECS_PER_DAY + h * 3600 + mi * 60 + sec
	       - sign * (oh * 3600 + om * 60);
	if (secs > HI_SECS || (secs == HI_SECS && frac > HI_NS))
		return -1;
	if (secs < LO_SECS || (secs == LO_SECS && frac <= LO_NS))
		return -1;
	if (secs < 0 && frac > 0)                              /* avoid overflow near the low end */
		*out = (secs + 1) * CD_NS_PER_SEC - (CD_NS_PER_SEC - frac);
	else
		*out = secs * CD_NS_PER_SEC + frac;
	return 0;
}

size_t cd_instant_format_rfc3339(cd_instant t, char *buf)
{
	int64_t secs, days, sod, y;
	int32_t ns;
	int m, d, n;
	size_t len;

	cd_instant_to_ts(t, &secs, &ns);
	days = floor_div(secs, SECS_PER_DAY);
	sod = secs - days * SECS_PER_DAY;
	civil_from_days(days, &y, &m, &d);     /* 1677 … 2262: always four digits */

	format_ymd(buf, y, m, d);
	buf[10] = 'T';
	put_digits(buf + 11, (unsigned)(sod / 3600), 2);
	buf[13] = ':';
	put_digits(buf + 14, (unsigned)(sod / 60 % 60), 2);
	buf[16] = ':';
	put_digits(buf + 17, (unsigned)(sod % 60), 2);
	len = 19;

	if (ns != 0) {
		unsigned v = (unsigned)ns;

		if (ns % 1000000 == 0) {
			v /= 1000000;
			n = 3;
		} else if (ns % 1000 == 0) {
			v /= 1000;
			n = 6;
		} else {
			n = 9;
		}
		buf[len++] = '.';
		put_digits(buf + len, v, n);
		len += (size_t)n;
	}
	buf[len++] = 'Z';
	buf[len] = '\0';
	return len;
}
