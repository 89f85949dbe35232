/*
 * event.h — one input fact, in the domain's own terms.
 *
 * The engine never sees protobuf: proto/codec.c turns a CitizenEvent into a
 * cd_event (parsing its date strings and enum values), and cd_event_validate
 * applies the rules of docs/decisions.md D28. Enum fields hold the numeric
 * values of contact.v1's enums, which are also the values named below.
 *
 * Strings are borrowed (pointer + length, not NUL-terminated): a cd_event
 * never owns memory and is only valid while its source message is.
 */
#ifndef CD_STATE_EVENT_H
#define CD_STATE_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/date.h"
#include "util/err.h"

enum cd_benefit {
	CD_BENEFIT_NONE = 0, CD_DAGPENGE = 1, CD_KONTANTHJAELP = 2, CD_UDDANNELSESHJAELP = 3,
	CD_INTEGRATIONSYDELSE = 4, CD_SYGEDAGPENGE = 5, CD_JOBAFKLARING = 6,
	CD_RESSOURCEFORLOEB = 7, CD_LEDIGHEDSYDELSE = 8, CD_REVALIDERING = 9,
	CD_FOERTIDSPENSION = 10,
	CD_BENEFIT_MAX = 10
};
enum cd_category { CD_CATEGORY_NONE = 0, CD_JOBPARAT = 1, CD_AKTIVITETSPARAT = 2,
	CD_UDDANNELSESPARAT = 3, CD_CATEGORY_MAX = 3 };
enum cd_form { CD_FORM_NONE = 0, CD_IN_PERSON = 1, CD_PHONE = 2, CD_VIDEO = 3, CD_DIGITAL = 4,
	CD_GROUP = 5, CD_BRANCH_MEETING = 6, CD_VIA_OTHER = 7, CD_FORM_MAX = 7 };
enum cd_held_by { CD_HELD_NONE = 0, CD_JOBCENTER = 1, CD_AKASSE = 2, CD_OTHER_ACTOR = 3,
	CD_HELD_MAX = 3 };
enum cd_dereg_reason { CD_DEREG_NONE = 0, CD_DEREG_JOB = 1, CD_DEREG_EDUCATION = 2,
	CD_DEREG_OTHER = 3, CD_DEREG_MAX = 3 };
/* Whose share obligations an Exemption leaves the citizen out of (rules.md §3.3). */
enum cd_scope { CD_SCOPE_NONE = 0, CD_SCOPE_KOMMUNE = 1, CD_SCOPE_AKASSE = 2, CD_SCOPE_MAX = 2 };

typedef enum cd_event_kind {
	CD_EV_NONE = 0,
	CD_EV_REGISTRATION = 1,
	CD_EV_DEREGISTRATION = 2,
	CD_EV_CONVERSATION = 3,
	CD_EV_BENEFIT_CHANGE = 4,
	CD_EV_CLOCK_TICK = 5,
	CD_EV_EXEMPTION = 6,
} cd_event_kind;

#define CD_MAX_ID_LEN 128        /* event_id, citizen_id, conversation_id */
#define CD_MUNI_LEN 4            /* kommunekode: three or four digits */
#define CD_MAX_PRIOR_DAYS 3650   /* registration.prior_unemployment_days */
#define CD_MAX_AKASSE_LEN 16     /* akasse_code: the key of a-kasse aggregates */

/* D28's range of times: instants in [MIN, MAX), dates in [MIN, MAX]. */
#define CD_EVENT_MIN_INSTANT (INT64_C(631152000) * CD_NS_PER_SEC)    /* 1990-01-01T00:00:00Z */
#define CD_EVENT_MAX_INSTANT (INT64_C(4102444800) * CD_NS_PER_SEC)   /* 2100-01-01T00:00:00Z */
#define CD_EVENT_MIN_DATE 7305                                        /* 1990-01-01 */
#define CD_EVENT_MAX_DATE 47481                                       /* 2099-12-31 */

typedef struct cd_event {
	const char *event_id;
	size_t event_id_len;
	const char *citizen_id;      /* empty on a ClockTick for every citizen */
	size_t citizen_id_len;
	cd_instant occurred_at;      /* CD_INSTANT_NONE when absent (invalid) */
	cd_instant recorded_at;      /* CD_INSTANT_NONE when absent */
	char muni[CD_MUNI_LEN + 1];  /* NUL-terminated; "" when absent */
	cd_event_kind kind;

	/* Registration / BenefitChange */
	uint8_t benefit;             /* enum cd_benefit */
	uint8_t category;            /* enum cd_category */
	cd_date first_contact;       /* CD_DATE_NONE when absent */
	cd_date first_absence;
	cd_date dp_start;            /* dagpenge_period_start */
	int32_t prior_days;
	bool opt_out;
	bool seasonal;
	const char *akasse_code;     /* "" when absent; DAGPENGE only */
	size_t akasse_code_len;
	bool municipal_course;       /* municipal_contact_course: DAGPENGE youth in a municipal course */
	bool sick_short;             /* sick_short_absence_expected: SYGEDAGPENGE only */

	/* Deregistration */
	uint8_t dereg_reason;
	bool ends_dp;                /* ends_dagpenge_period */

	/* Conversation */
	const char *conv_id;
	size_t conv_id_len;
	uint8_t form;                /* enum cd_form */
	uint8_t held_by;             /* enum cd_held_by */
	bool joint;                  /* akasse_participated */
	bool voided;

	/* Exemption */
	uint8_t scope;               /* enum cd_scope */
	bool revoked;
} cd_event;

/* Sets every field to its absent value (dates NONE, strings empty). */
void cd_event_init(cd_event *ev);

/* The event time (docs/spec/events.md): recorded_at if set, else occurred_at. */
static inline cd_instant cd_event_time(const cd_event *ev)
{
	return ev->recorded_at != CD_INSTANT_NONE ? ev->recorded_at : ev->occurred_at;
}

/* Checks the rules of decisions.md D28. 0, or -1 with err naming the field. */
int cd_event_validate(const cd_event *ev, cd_err *err);
/*
 * The same for an event whose every string field has passed
 * cd_event_check_text (the codec checks them all, on the wire or unpacked):
 * the ids' text is not checked twice. Same results, same messages.
 */
int cd_event_validate_checked_text(const cd_event *ev, cd_err *err);

/*
 * The text rule of D28 for one string field: s[0 .. n) is valid UTF-8 and has
 * no control character (C0 including NUL, DEL, C1). 0, or -1 with err naming
 * the field ("prefix.field" when prefix is not NULL) and the byte offset.
 */
int cd_event_check_text(const char *s, size_t n, const char *prefix, const char *field, cd_err *err);

/* Names for messages and the scenario language: "DAGPENGE", "JOBCENTER", … */
const char *cd_benefit_name(int b);
const char *cd_category_name(int c);
const char *cd_form_name(int f);
const char *cd_held_by_name(int h);
const char *cd_scope_name(int s);
/* Parses those names (without the enum prefix). -1 when unknown. */
int cd_benefit_parse(const char *s);
int cd_category_parse(const char *s);
int cd_form_parse(const char *s);
int cd_held_by_parse(const char *s);
int cd_scope_parse(const char *s);

#endif
