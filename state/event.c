/*
 * event.c — validation and names of input events.
 *
 * Validation is the one place that decides what an acceptable fact is
 * (decisions.md D28). Everything it rejects goes to the dead-letter topic (live)
 * or is reported and skipped (replay); everything it accepts the engine must
 * handle without failing, so the checks here are the engine's preconditions.
 */
#include "state/event.h"

#include <string.h>

static const char *const benefit_names[] = {
	"UNSPECIFIED", "DAGPENGE", "KONTANTHJAELP", "UDDANNELSESHJAELP", "INTEGRATIONSYDELSE",
	"SYGEDAGPENGE", "JOBAFKLARING", "RESSOURCEFORLOEB", "LEDIGHEDSYDELSE", "REVALIDERING",
	"FOERTIDSPENSION",
};
static const char *const category_names[] = {
	"UNSPECIFIED", "JOBPARAT", "AKTIVITETSPARAT", "UDDANNELSESPARAT",
};
static const char *const form_names[] = {
	"UNSPECIFIED", "IN_PERSON", "PHONE", "VIDEO", "DIGITAL", "GROUP", "BRANCH_MEETING",
	"VIA_OTHER",
};
static const char *const held_by_names[] = {
	"UNSPECIFIED", "JOBCENTER", "AKASSE", "OTHER_ACTOR",
};
static const char *const scope_names[] = {
	"UNSPECIFIED", "KOMMUNE", "AKASSE",
};
_Static_assert(sizeof(scope_names) / sizeof(scope_names[0]) == CD_SCOPE_MAX + 1, "a name for every scope");

#define NAME_OF(tab, v) ((v) >= 0 && (size_t)(v) < sizeof(tab) / sizeof(tab[0]) ? tab[v] : "?")

const char *cd_benefit_name(int b) { return NAME_OF(benefit_names, b); }
const char *cd_category_name(int c) { return NAME_OF(category_names, c); }
const char *cd_form_name(int f) { return NAME_OF(form_names, f); }
const char *cd_held_by_name(int h) { return NAME_OF(held_by_names, h); }
const char *cd_scope_name(int s) { return NAME_OF(scope_names, s); }

static int parse_name(const char *const *tab, size_t n, const char *s)
{
	for (size_t i = 1; i < n; i++)
		if (!strcmp(tab[i], s))
			return (int)i;
	return -1;
}

#define PARSE(tab, s) parse_name(tab, sizeof(tab) / sizeof(tab[0]), s)
int cd_benefit_parse(const char *s) { return PARSE(benefit_names, s); }
int cd_category_parse(const char *s) { return PARSE(category_names, s); }
int cd_form_parse(const char *s) { return PARSE(form_names, s); }
int cd_held_by_parse(const char *s) { return PARSE(held_by_names, s); }
int cd_scope_parse(const char *s) { return PARSE(scope_names, s); }

void cd_event_init(cd_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->event_id = ev->citizen_id = ev->conv_id = ev->akasse_code = "";
	ev->occurred_at = CD_INSTANT_NONE;
	ev->recorded_at = CD_INSTANT_NONE;
	ev->first_contact = ev->first_absence = ev->dp_start = CD_DATE_NONE;
}

/* Business dates outside 1990 … 2099 are absurd. */
static int instant_ok(cd_instant t)
{
	return t >= CD_EVENT_MIN_INSTANT && t < CD_EVENT_MAX_INSTANT;
}

static int date_ok(cd_date d)
{
	return d == CD_DATE_NONE || (d >= CD_EVENT_MIN_DATE && d <= CD_EVENT_MAX_DATE);
}

/*
 * Strict UTF-8 (Unicode table 3-7: no overlong forms, no surrogates, nothing
 * past U+10FFFF) without control characters. Ids are compared and stored as
 * C strings, so an embedded NUL would merge two ids; other control characters
 * and broken UTF-8 would be passed on into outputs that proto3 readers refuse.
 */
int cd_event_check_text(const char *text, size_t n, const char *prefix, const char *field, cd_err *err)
{
	const uint8_t *s = (const uint8_t *)text;
	size_t i = 0;

	/*
	 * Printable ASCII eight bytes at a time (ids are, and every string of an
	 * event is checked here: the byte loop was 2 % of replay).
	 * A word passes only when no byte is >= 0x7f (+1 carries into the top
	 * bit) and none is < 0x20 (the borrow test, exact about whether any is).
	 * Whatever fails goes to the byte loop below, which finds the same first
	 * fault and writes the same message as without this.
	 */
	while (n - i >= 8) {
		const uint64_t ones = UINT64_C(0x0101010101010101), highs = ones * 0x80;
		uint64_t w;

		memcpy(&w, s + i, 8);
		if ((((w + ones) | w) & highs) || ((w - ones * 0x20) & ~w & highs))
			break;
		i += 8;
	}
	while (i < n) {
		uint8_t c, lo = 0x80, hi = 0xbf;
		size_t len;

		while (i < n && (uint8_t)(s[i] - 0x20) < 0x5f)   /* printable ASCII: the common case */
			i++;
		if (i == n)
			break;
		c = s[i];
		if (c < 0x80)
			return cd_err_set(err, 0, "field '%s%s%s' contains a control character (0x%02x) at byte %zu",
					  prefix ? prefix : "", prefix ? "." : "", field, c, i);
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			if (c == 0xe0)
				lo = 0xa0;           /* overlong */
			else if (c == 0xed)
				hi = 0x9f;           /* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			if (c == 0xf0)
				lo = 0x90;           /* overlong */
			else if (c == 0xf4)
				hi = 0x8f;           /* past U+10FFFF */
		} else {
			goto bad;
		}
		if (n - i < len || s[i + 1] < lo || s[i + 1] > hi)
			goto bad;
		for (size_t k = 2; k < len; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				goto bad;
		if (c == 0xc2 && s[i + 1] < 0xa0)
			return cd_err_set(err, 0, "field '%s%s%s' contains a control character (U+%04X) at byte %zu",
					  prefix ? prefix : "", prefix ? "." : "", field, (unsigned)s[i + 1], i);
		i += len;
	}
	return 0;
bad:
	return cd_err_set(err, 0, "field '%s%s%s' is not valid UTF-8 at byte %zu", prefix ? prefix : "",
			  prefix ? "." : "", field, i);
}

/*
 * The dk-2026 fields of a Registration or BenefitChange (`payload` names it in
 * messages): each belongs to one benefit, and akasse_code is an aggregate key,
 * so it is short and plain (it ends up in Kafka keys such as "akasse:A901").
 */
static int check_benefit_flags(const cd_event *ev, const char *payload, const char *benefit_field, cd_err *err)
{
	if (ev->sick_short && ev->benefit != CD_SYGEDAGPENGE)
		return cd_err_set(err, 0, "field '%s.sick_short_absence_expected' is set but '%s.%s' is %s, not SYGEDAGPENGE",
				  payload, payload, benefit_field, cd_benefit_name(ev->benefit));
	if (ev->municipal_course && ev->benefit != CD_DAGPENGE)
		return cd_err_set(err, 0, "field '%s.municipal_contact_course' is set but '%s.%s' is %s, not DAGPENGE",
				  payload, payload, benefit_field, cd_benefit_name(ev->benefit));
	if (ev->akasse_code_len == 0)
		return 0;
	if (ev->akasse_code_len > CD_MAX_AKASSE_LEN)
		return cd_err_set(err, 0, "field '%s.akasse_code' is longer than %d bytes", payload, CD_MAX_AKASSE_LEN);
	if (cd_event_check_text(ev->akasse_code, ev->akasse_code_len, payload, "akasse_code", err) < 0)
		return -1;
	for (size_t i = 0; i < ev->akasse_code_len; i++) {
		char c = ev->akasse_code[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return cd_err_set(err, 0, "field '%s.akasse_code' '%.*s' has a character outside A-Z a-z 0-9 _ - at byte %zu",
					  payload, (int)ev->akasse_code_len, ev->akasse_code, i);
	}
	if (ev->benefit != CD_DAGPENGE)
		return cd_err_set(err, 0, "field '%s.akasse_code' is set but '%s.%s' is %s, not DAGPENGE", payload,
				  payload, benefit_field, cd_benefit_name(ev->benefit));
	return 0;
}

/* text_checked: the caller has checked every string field's text already (the ids' checks here would pass). */
static int validate(const cd_event *ev, int text_checked, cd_err *err)
{
	if (ev->event_id_len == 0)
		return cd_err_set(err, 0, "field 'event_id' is empty");
	if (ev->event_id_len > CD_MAX_ID_LEN)
		return cd_err_set(err, 0, "field 'event_id' is longer than %d bytes", CD_MAX_ID_LEN);
	if (!text_checked && cd_event_check_text(ev->event_id, ev->event_id_len, NULL, "event_id", err) < 0)
		return -1;
	if (ev->kind != CD_EV_CLOCK_TICK && ev->citizen_id_len == 0)
		return cd_err_set(err, 0, "field 'citizen_id' is empty");
	if (ev->citizen_id_len > CD_MAX_ID_LEN)
		return cd_err_set(err, 0, "field 'citizen_id' is longer than %d bytes", CD_MAX_ID_LEN);
	if (!text_checked && cd_event_check_text(ev->citizen_id, ev->citizen_id_len, NULL, "citizen_id", err) < 0)
		return -1;
	if (ev->occurred_at == CD_INSTANT_NONE)
		return cd_err_set(err, 0, "field 'occurred_at' is missing");
	if (!instant_ok(ev->occurred_at))
		return cd_err_set(err, 0, "field 'occurred_at' is outside 1990-01-01 … 2100-01-01");
	if (ev->recorded_at != CD_INSTANT_NONE && !instant_ok(ev->recorded_at))
		return cd_err_set(err, 0, "field 'recorded_at' is outside 1990-01-01 … 2100-01-01");
	if (ev->muni[0]) {
		size_t n = strlen(ev->muni);
		for (size_t i = 0; i < n; i++)
			if (ev->muni[i] < '0' || ev->muni[i] > '9')
				n = 0;
		if (n < 3 || n > 4)
			return cd_err_set(err, 0, "field 'municipality_code' '%s' is not three or four digits", ev->muni);
	}
	if (!date_ok(ev->first_contact))
		return cd_err_set(err, 0, "field 'first_contact_date' is outside 1990-01-01 … 2099-12-31");
	if (!date_ok(ev->first_absence))
		return cd_err_set(err, 0, "field 'first_absence_date' is outside 1990-01-01 … 2099-12-31");
	if (!date_ok(ev->dp_start))
		return cd_err_set(err, 0, "field 'dagpenge_period_start' is outside 1990-01-01 … 2099-12-31");
	if (ev->benefit > CD_BENEFIT_MAX)
		return cd_err_set(err, 0, "field 'benefit' has unknown value %d", ev->benefit);
	if (ev->category > CD_CATEGORY_MAX)
		return cd_err_set(err, 0, "field 'category' has unknown value %d", ev->category);

	switch (ev->kind) {
	case CD_EV_REGISTRATION:
		if (ev->benefit == CD_BENEFIT_NONE)
			return cd_err_set(err, 0, "field 'registration.benefit' is unspecified");
		if (ev->prior_days < 0 || ev->prior_days > CD_MAX_PRIOR_DAYS)
			return cd_err_set(err, 0, "field 'registration.prior_unemployment_days' %d is outside 0 … %d",
					  ev->prior_days, CD_MAX_PRIOR_DAYS);
		if (check_benefit_flags(ev, "registration", "benefit", err) < 0)
			return -1;
		break;
	case CD_EV_DEREGISTRATION:
		if (ev->dereg_reason > CD_DEREG_MAX)
			return cd_err_set(err, 0, "field 'deregistration.reason' has unknown value %d", ev->dereg_reason);
		break;
	case CD_EV_CONVERSATION:
		if (ev->conv_id_len == 0)
			return cd_err_set(err, 0, "field 'conversation.conversation_id' is empty");
		if (ev->conv_id_len > CD_MAX_ID_LEN)
			return cd_err_set(err, 0, "field 'conversation.conversation_id' is longer than %d bytes",
					  CD_MAX_ID_LEN);
		if (!text_checked &&
		    cd_event_check_text(ev->conv_id, ev->conv_id_len, "conversation", "conversation_id", err) < 0)
			return -1;
		if (ev->form > CD_FORM_MAX)
			return cd_err_set(err, 0, "field 'conversation.form' has unknown value %d", ev->form);
		if (ev->held_by > CD_HELD_MAX)
			return cd_err_set(err, 0, "field 'conversation.held_by' has unknown value %d", ev->held_by);
		if (!ev->voided && ev->form == CD_FORM_NONE)
			return cd_err_set(err, 0, "field 'conversation.form' is unspecified");
		if (!ev->voided && ev->held_by == CD_HELD_NONE)
			return cd_err_set(err, 0, "field 'conversation.held_by' is unspecified");
		break;
	case CD_EV_BENEFIT_CHANGE:
		if (check_benefit_flags(ev, "benefit_change", "to_benefit", err) < 0)
			return -1;
		break;
	case CD_EV_CLOCK_TICK:
		break;
	case CD_EV_EXEMPTION:
		if (ev->scope == CD_SCOPE_NONE)
			return cd_err_set(err, 0, "field 'exemption.scope' is unspecified");
		if (ev->scope > CD_SCOPE_MAX)
			return cd_err_set(err, 0, "field 'exemption.scope' has unknown value %d", ev->scope);
		break;
	default:
		return cd_err_set(err, 0, "the event has no payload");
	}
	return 0;
}

int cd_event_validate(const cd_event *ev, cd_err *err)
{
	return validate(ev, 0, err);
}

int cd_event_validate_checked_text(const cd_event *ev, cd_err *err)
{
	return validate(ev, 1, err);
}
