/*
 * history.c — an event log of ONE citizen with a long history, for measuring
 * how the cost of an input grows with the citizen's history (ops/bench.sh,
 * "cost per history length").
 *
 *   build/release/bench/history N [SEED [DAYS]]  > log.jsonl
 *
 * Writes N records (JSON lines, the canonical protobuf JSON mapping) for the
 * citizen "busy-1": a registration first, then a mix drawn per record from
 * one random stream (splitmix64 of SEED, default 1):
 *
 *   conversations 76 % (late 4 %: occurred up to 30 days before the previous
 *   record, recorded now, so they are inserted inside the history; voids of
 *   an earlier conversation 1.5 %), deregistrations or registrations 5 %
 *   (DAGPENGE deregistrations are temporary half of the time and resumed
 *   with the same dagpenge_period_start), benefit or category changes 3 %,
 *   ClockTicks for this citizen 7 % and for every citizen 2 %, duplicates of
 *   the previous record 1.5 %.
 *
 * The records span 2016-01-04 … 2026-01-01 (the rulesets shipped in rules/),
 * or DAYS days from 2016-01-04, so their density grows with N: a busy or
 * hostile citizen, not a typical one. A short span (DAYS 1) puts every
 * obligation window over most of the history: the worst case for
 * evaluation. Every record passes validation; replay it with --max-events N.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T0 1451894400LL          /* 2016-01-04T08:00:00Z */
#define T1 1767225600LL          /* 2026-01-01T00:00:00Z */
#define DAY 86400LL

static uint64_t rng;

static uint64_t next(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double uni(void) { return (double)(next() >> 11) / 9007199254740992.0; }
static int pick(int n) { return (int)(uni() * n); }

static const char *stamp(long long t, char *buf)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static const char *day(long long t, char *buf)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, 32, "%Y-%m-%d", &tm);
	return buf;
}

static const char *const munis[] = { "101", "860", "840", "430", "153", "766", "751", "461" };
static const char *const forms[] = { "IN_PERSON", "IN_PERSON", "IN_PERSON", "PHONE", "VIDEO", "GROUP", "DIGITAL" };
static const char *const cats[] = { "JOBPARAT", "AKTIVITETSPARAT", "UDDANNELSESPARAT" };

typedef struct state {
	int registered;           /* 0: off the register */
	int benefit;              /* 0 DAGPENGE, 1 KONTANTHJAELP, 2 SYGEDAGPENGE, 3 UDDANNELSESHJAELP, 4 JOBAFKLARING */
	long long dp_start;       /* DAGPENGE: the period's start (seconds), 0: none */
	int dp_paused;            /* a temporary deregistration: the next registration resumes */
	const char *muni;
	unsigned n_conv, n_ev;
} state;

static const char *const benefits[] = { "DAGPENGE", "KONTANTHJAELP", "SYGEDAGPENGE", "UDDANNELSESHJAELP",
					"JOBAFKLARING" };

static int pick_benefit(void)
{
	double u = uni();
	return u < 0.40 ? 0 : u < 0.65 ? 1 : u < 0.85 ? 2 : u < 0.95 ? 3 : 4;
}

/* The head of a record: id, citizen, times, municipality. */
static void head(char *line, size_t n, state *s, const char *cid, long long occ, long long rec)
{
	char a[32], b[32];
	int k = snprintf(line, n, "{\"eventId\":\"b%07u\",\"citizenId\":\"%s\",\"occurredAt\":\"%s\"", ++s->n_ev, cid,
			 stamp(occ, a));
	if (rec)
		k += snprintf(line + k, n - (size_t)k, ",\"recordedAt\":\"%s\"", stamp(rec, b));
	if (s->muni)
		snprintf(line + k, n - (size_t)k, ",\"municipalityCode\":\"%s\"", s->muni);
}

static void registration(char *line, size_t n, state *s, long long t, int benefit)
{
	char d[32], extra[160] = "";
	head(line, n, s, "busy-1", t, 0);
	if (benefit == 0) {
		if (!s->dp_paused || !s->dp_start)
			s->dp_start = t;
		snprintf(extra, sizeof(extra), ",\"dagpengePeriodStart\":\"%s\"%s%s", day(s->dp_start, d),
			 uni() < 0.1 ? ",\"akasseOptOut\":true" : "", uni() < 0.05 ? ",\"seasonal\":true" : "");
	} else if (benefit == 2)
		snprintf(extra, sizeof(extra), ",\"firstAbsenceDate\":\"%s\"", day(t - DAY * pick(20), d));
	else
		snprintf(extra, sizeof(extra), ",\"category\":\"CATEGORY_%s\"", cats[pick(3)]);
	snprintf(line + strlen(line), n - strlen(line), ",\"registration\":{\"benefit\":\"BENEFIT_%s\"%s}}",
		 benefits[benefit], extra);
	s->registered = 1;
	s->benefit = benefit;
	s->dp_paused = 0;
}

int main(int argc, char **argv)
{
	char line[1024], prev[1024] = "", a[32];
	long n, gap;
	long long t = T0;
	state s = { 0 };

	if (argc < 2 || argc > 4 || (n = atol(argv[1])) < 1 || (argc == 4 && atol(argv[3]) < 1)) {
		fprintf(stderr, "usage: %s N [SEED [DAYS]]\n", argv[0]);
		return 2;
	}
	rng = argc >= 3 ? strtoull(argv[2], NULL, 10) : 1;
	gap = (long)((argc == 4 ? atol(argv[3]) * DAY : T1 - T0) / n);
	s.muni = munis[pick(8)];
	registration(line, sizeof(line), &s, t, pick_benefit());
	puts(line);
	strcpy(prev, line);
	for (long i = 1; i < n; i++) {
		double u = uni();
		t += gap / 5 + (long long)(uni() * 1.6 * (double)gap);
		if (u < 0.015 && prev[0]) {              /* a duplicate: the same bytes again */
			puts(prev);
			continue;
		}
		if (u < 0.035) {                          /* a tick for every citizen: local midnight */
			printf("{\"eventId\":\"g%07ld\",\"occurredAt\":\"%s\",\"clockTick\":{}}\n", i,
			       stamp(t - t % DAY - 3600, a));
			continue;
		}
		if (u < 0.105) {                          /* a tick for this citizen */
			head(line, sizeof(line), &s, "busy-1", t, 0);
			strcat(line, ",\"clockTick\":{}}");
		} else if (u < 0.155) {                   /* off or on the register */
			if (s.registered) {
				int temp = s.benefit == 0 && uni() < 0.5;
				head(line, sizeof(line), &s, "busy-1", t, 0);
				snprintf(line + strlen(line), sizeof(line) - strlen(line),
					 ",\"deregistration\":{\"reason\":\"DEREGISTRATION_REASON_%s\"%s}}",
					 uni() < 0.6 ? "JOB" : "OTHER",
					 s.benefit == 0 && !temp ? ",\"endsDagpengePeriod\":true" : "");
				s.registered = 0;
				s.dp_paused = temp;
			} else {
				if (uni() < 0.2)
					s.muni = munis[pick(8)];
				registration(line, sizeof(line), &s, t, s.dp_paused ? 0 : pick_benefit());
			}
		} else if (u < 0.185 && s.registered) {   /* a benefit or category change */
			int b = pick_benefit();
			char d[32];
			head(line, sizeof(line), &s, "busy-1", t, 0);
			if (b == s.benefit || uni() < 0.3)
				snprintf(line + strlen(line), sizeof(line) - strlen(line),
					 ",\"benefitChange\":{\"toCategory\":\"CATEGORY_%s\"}}", cats[pick(3)]);
			else {
				snprintf(line + strlen(line), sizeof(line) - strlen(line),
					 ",\"benefitChange\":{\"toBenefit\":\"BENEFIT_%s\"%s%s%s}}", benefits[b],
					 b == 0 ? ",\"dagpengePeriodStart\":\"" : b == 2 ? ",\"firstAbsenceDate\":\"" : "",
					 b == 0 || b == 2 ? day(t, d) : "", b == 0 || b == 2 ? "\"" : "");
				s.benefit = b;
				s.dp_start = b == 0 ? t : 0;
			}
		} else if (u < 0.200 && s.n_conv) {       /* a void of an earlier conversation */
			head(line, sizeof(line), &s, "busy-1", t, 0);
			snprintf(line + strlen(line), sizeof(line) - strlen(line),
				 ",\"conversation\":{\"conversationId\":\"cv%u\",\"voided\":true}}",
				 s.n_conv - (unsigned)pick((int)(s.n_conv < 20 ? s.n_conv : 20)));
		} else {                                  /* a conversation, 1 in 25 recorded late */
			int late = uni() < 0.04;
			double h = uni();
			long long occ = late ? t - DAY * (1 + pick(30)) : t;
			head(line, sizeof(line), &s, "busy-1", occ, late ? t : 0);
			snprintf(line + strlen(line), sizeof(line) - strlen(line),
				 ",\"conversation\":{\"conversationId\":\"cv%u\",\"form\":\"CONVERSATION_FORM_%s\","
				 "\"heldBy\":\"HELD_BY_%s\"%s}}",
				 ++s.n_conv, forms[pick(7)], h < 0.8 ? "JOBCENTER" : h < 0.95 ? "AKASSE" : "OTHER_ACTOR",
				 s.benefit == 0 && uni() < 0.12 ? ",\"akasseParticipated\":true" : "");
		}
		puts(line);
		strcpy(prev, line);
	}
	return ferror(stdout) ? 1 : 0;
}
