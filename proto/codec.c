/*
 * codec.c — contact.v1 ⇄ engine types.
 *
 * protobuf-c does not check enum values of proto3 messages (an unknown number
 * arrives as is), and takes any Timestamp; both are checked here, so that
 * everything the engine receives is inside its enums and its date range.
 * Nor does it check that strings are UTF-8, and it keeps an embedded NUL
 * while the unpacked string has no length: every string field is checked
 * against D28's text rule, on the wire bytes for binary input (where a NUL is
 * still visible) and on the unpacked message otherwise.
 * Output messages are built on the stack, pointing at the cd_output's strings,
 * and packed straight into the caller's buffer: no allocation per output.
 */
#include "proto/codec.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "proto/pbjson.h"
#include "util/varint.h"

#define MAX_ABS_SECONDS INT64_C(9000000000)  /* keeps seconds * 1e9 + nanos inside int64 */

/*
 * The engine's output numbers are contact.v1's enum values (engine.h), and
 * outputs are encoded by casting them: these tie the two at compile time.
 */
#define SAME_AS(ours, theirs) _Static_assert((int)(ours) == (int)(theirs), #ours " is " #theirs)
SAME_AS(CD_DL_OPENED, CONTACT__V1__DEADLINE_STATUS__DEADLINE_STATUS_OPENED);
SAME_AS(CD_DL_UPDATED, CONTACT__V1__DEADLINE_STATUS__DEADLINE_STATUS_UPDATED);
SAME_AS(CD_DL_PAUSED, CONTACT__V1__DEADLINE_STATUS__DEADLINE_STATUS_PAUSED);
SAME_AS(CD_DL_WARNING, CONTACT__V1__DEADLINE_STATUS__DEADLINE_STATUS_WARNING);
SAME_AS(CD_DL_MET, CONTACT__V1__DEADLINE_STATUS__DEADLINE_STATUS_MET);
SAME_AS(CD_DL_CANCELLED, CONTACT__V1__DEADLINE_STATUS__DEADLINE_STATUS_CANCELLED);
SAME_AS(CD_DL_LAPSED, CONTACT__V1__DEADLINE_STATUS__DEADLINE_STATUS_LAPSED);
SAME_AS(CD_BR_BREACHED, CONTACT__V1__BREACH_STATUS__BREACH_STATUS_BREACHED);
SAME_AS(CD_BR_RETRACTED, CONTACT__V1__BREACH_STATUS__BREACH_STATUS_RETRACTED);
SAME_AS(CD_KIND_DEADLINE, CONTACT__V1__BREACH_KIND__BREACH_KIND_DEADLINE);
SAME_AS(CD_KIND_CADENCE, CONTACT__V1__BREACH_KIND__BREACH_KIND_CADENCE);
SAME_AS(CD_CANCEL_NONE, CONTACT__V1__CANCEL_REASON__CANCEL_REASON_UNSPECIFIED);
SAME_AS(CD_CANCEL_BENEFIT_SHIFT, CONTACT__V1__CANCEL_REASON__CANCEL_REASON_BENEFIT_SHIFT);
SAME_AS(CD_CANCEL_DEREGISTERED, CONTACT__V1__CANCEL_REASON__CANCEL_REASON_DEREGISTERED);
SAME_AS(CD_CANCEL_PERIOD_ENDED, CONTACT__V1__CANCEL_REASON__CANCEL_REASON_PERIOD_ENDED);
SAME_AS(CD_CANCEL_OPTED_OUT, CONTACT__V1__CANCEL_REASON__CANCEL_REASON_OPTED_OUT);
SAME_AS(CD_CANCEL_SUPERSEDED, CONTACT__V1__CANCEL_REASON__CANCEL_REASON_SUPERSEDED);
SAME_AS(CD_CANCEL_EXEMPTED, CONTACT__V1__CANCEL_REASON__CANCEL_REASON_EXEMPTED);
SAME_AS(CD_CANCEL_LAW_CHANGED, CONTACT__V1__CANCEL_REASON__CANCEL_REASON_LAW_CHANGED);
SAME_AS(CD_SEV_LEGAL, CONTACT__V1__SEVERITY__SEVERITY_LEGAL);
SAME_AS(CD_SEV_POLICY, CONTACT__V1__SEVERITY__SEVERITY_POLICY);
SAME_AS(CD_BASIS_LAW, CONTACT__V1__BASIS__BASIS_LAW);
SAME_AS(CD_BASIS_GUIDANCE, CONTACT__V1__BASIS__BASIS_GUIDANCE);
SAME_AS(CD_BASIS_CARRIED_OVER, CONTACT__V1__BASIS__BASIS_CARRIED_OVER);
SAME_AS(CD_BASIS_INTERPRETATION, CONTACT__V1__BASIS__BASIS_INTERPRETATION);
SAME_AS(CD_SCOPE_KOMMUNE, CONTACT__V1__EXEMPTION_SCOPE__EXEMPTION_SCOPE_KOMMUNE);
SAME_AS(CD_SCOPE_AKASSE, CONTACT__V1__EXEMPTION_SCOPE__EXEMPTION_SCOPE_AKASSE);
SAME_AS(CD_AGG_WARNING, CONTACT__V1__AGGREGATE_STATUS__AGGREGATE_STATUS_WARNING);
SAME_AS(CD_AGG_MET, CONTACT__V1__AGGREGATE_STATUS__AGGREGATE_STATUS_MET);
SAME_AS(CD_AGG_BREACHED, CONTACT__V1__AGGREGATE_STATUS__AGGREGATE_STATUS_BREACHED);
SAME_AS(CD_AGG_RETRACTED, CONTACT__V1__AGGREGATE_STATUS__AGGREGATE_STATUS_RETRACTED);
SAME_AS(CD_AGG_SHARE, CONTACT__V1__AGGREGATE_KIND__AGGREGATE_KIND_SHARE);
SAME_AS(CD_AGG_AVERAGE, CONTACT__V1__AGGREGATE_KIND__AGGREGATE_KIND_AVERAGE);
SAME_AS(CD_AGG_KEY_MUNICIPALITY, CONTACT__V1__AGGREGATE_KEY_KIND__AGGREGATE_KEY_KIND_MUNICIPALITY);
SAME_AS(CD_AGG_KEY_AKASSE, CONTACT__V1__AGGREGATE_KEY_KIND__AGGREGATE_KEY_KIND_AKASSE);

const char *cd_codec_stage_name(cd_codec_stage s)
{
	return s == CD_STAGE_DECODE ? "decode" : s == CD_STAGE_VALIDATE ? "validate" : "unknown";
}

static int ts_to_instant(const Google__Protobuf__Timestamp *ts, cd_instant *out, const char *field,
			 cd_err *err)
{
	if (!ts) {
		*out = CD_INSTANT_NONE;
		return 0;
	}
	if (ts->seconds > MAX_ABS_SECONDS || ts->seconds < -MAX_ABS_SECONDS || ts->nanos < 0 ||
	    ts->nanos >= 1000000000)
		return cd_err_set(err, 0, "field '%s' is not a valid timestamp", field);
	*out = cd_instant_from_ts(ts->seconds, ts->nanos);
	return 0;
}

static int date_field(const char *s, cd_date *out, const char *field, cd_err *err)
{
	size_t n = s ? strlen(s) : 0;
	*out = CD_DATE_NONE;
	if (n == 0)
		return 0;
	if (cd_date_parse(s, n, out) < 0)
		return cd_err_set(err, 0, "field '%s' '%.40s' is not a date YYYY-MM-DD", field, s);
	return 0;
}

static int enum_field(int v, int max, const char *field, uint8_t *out, cd_err *err)
{
	if (v < 0 || v > max)
		return cd_err_set(err, 0, "field '%s' has unknown enum value %d", field, v);
	*out = (uint8_t)v;
	return 0;
}

/* Deeper than any message of contact.v1; a bound on the recursion all the same. */
#define MAX_DEPTH 8

/* The dotted name of the sub-message being walked ("registration"), for error messages. */
typedef struct path {
	char s[128];
	size_t n;
} path;

static size_t path_push(path *pt, const char *name)
{
	size_t was = pt->n, k = strlen(name);
	if (pt->n && pt->n < sizeof(pt->s) - 1)
		pt->s[pt->n++] = '.';
	if (k > sizeof(pt->s) - 1 - pt->n)
		k = sizeof(pt->s) - 1 - pt->n;
	memcpy(pt->s + pt->n, name, k);
	pt->n += k;
	pt->s[pt->n] = '\0';
	return was;
}

static void path_pop(path *pt, size_t was)
{
	pt->n = was;
	pt->s[was] = '\0';
}

static int field_text(const path *pt, const ProtobufCFieldDescriptor *f, const char *s, size_t n, cd_err *err)
{
	return cd_event_check_text(s, n, pt->n ? pt->s : NULL, f->name, err);
}

/*
 * The text rule for every string field of an unpacked message, found through
 * its descriptor. Strings are measured with strlen: an embedded NUL is
 * invisible here, which is why binary input is checked on the wire as well.
 */
static int msg_strings(const ProtobufCMessage *m, path *pt, int depth, cd_err *err)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	if (depth > MAX_DEPTH)
		return cd_err_set(err, 0, "field '%s' is nested too deeply", pt->s);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)m;
		void *const *vals = (void *const *)(base + f->offset);  /* char * or a sub-message */
		size_t n = 1;

		if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)(base + f->quantifier_offset) != f->id)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)(base + f->quantifier_offset);
			vals = *(void *const *const *)vals;
		}
		for (size_t k = 0; k < n; k++) {
			int rc;
			size_t was;
			if (!vals[k])
				continue;
			if (f->type == PROTOBUF_C_TYPE_STRING) {
				if (field_text(pt, f, vals[k], strlen(vals[k]), err) < 0)
					return -1;
				continue;
			}
			was = path_push(pt, f->name);
			rc = msg_strings(vals[k], pt, depth + 1, err);
			path_pop(pt, was);
			if (rc < 0)
				return -1;
		}
	}
	return 0;
}

/* Tags and lengths of an event mostly fit one byte. */
static inline int wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	if (*p < end && **p < 0x80) {
		*v = *(*p)++;
		return 0;
	}
	return cd_varint_get(p, end, v);
}

/*
 * The same on the wire bytes of a message that protobuf-c has unpacked, so
 * well-formed: each length-delimited field that the descriptor calls a string
 * is checked with its real length, each sub-message is walked in turn.
 * Returns 0, -1 (a string breaks the rule; err says which), or 1 for bytes
 * that protobuf-c accepted but this walk cannot follow: refused rather than
 * skipped, so that no string goes unchecked.
 */
static int wire_strings(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, path *pt, int depth,
			cd_err *err)
{
	const uint8_t *end = p + len;

	if (depth > MAX_DEPTH)
		return 1;
	while (p < end) {
		const ProtobufCFieldDescriptor *f = NULL;
		uint64_t key, n;

		/* Field number 0 is never valid; protobuf-c refuses it only in a one-byte tag. */
		if (wire_varint(&p, end, &key) < 0 || key >> 3 == 0)
			return 1;
		switch (key & 7) {
		case 0:
			if (wire_varint(&p, end, &n) < 0)
				return 1;
			continue;
		case 1:
			n = 8;
			break;
		case 5:
			n = 4;
			break;
		case 2:
			if (wire_varint(&p, end, &n) < 0)
				return 1;
			if (key >> 3 <= UINT32_MAX)
				f = protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3));
			break;
		default:
			return 1;
		}
		if (n > (uint64_t)(end - p))
			return 1;
		if (f && f->type == PROTOBUF_C_TYPE_STRING) {
			if (field_text(pt, f, (const char *)p, (size_t)n, err) < 0)
				return -1;
		} else if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
			size_t was = path_push(pt, f->name);
			int rc = wire_strings(f->descriptor, p, (size_t)n, pt, depth + 1, err);
			path_pop(pt, was);
			if (rc)
				return rc;
		}
		p += n;
	}
	return 0;
}

/* cd_codec_event_from_pb; the strings' text is already checked when text_checked. */
static int event_from_pb(const Contact__V1__CitizenEvent *m, cd_event *ev, cd_codec_stage *stage, int text_checked,
			 cd_err *err)
{
	*stage = CD_STAGE_VALIDATE;
	cd_event_init(ev);
	if (!text_checked) {
		path pt = { "", 0 };
		if (msg_strings(&m->base, &pt, 0, err) < 0)
			return -1;
	}
	ev->event_id = m->event_id;
	ev->event_id_len = strlen(m->event_id);
	ev->citizen_id = m->citizen_id;
	ev->citizen_id_len = strlen(m->citizen_id);
	if (ts_to_instant(m->occurred_at, &ev->occurred_at, "occurred_at", err) < 0 ||
	    ts_to_instant(m->recorded_at, &ev->recorded_at, "recorded_at", err) < 0)
		return -1;
	if (strlen(m->municipality_code) > CD_MUNI_LEN)
		return cd_err_set(err, 0, "field 'municipality_code' '%.20s' is not three or four digits",
				  m->municipality_code);
	memcpy(ev->muni, m->municipality_code, strlen(m->municipality_code) + 1);

	switch (m->payload_case) {
	case CONTACT__V1__CITIZEN_EVENT__PAYLOAD_REGISTRATION: {
		const Contact__V1__Registration *r = m->registration;
		ev->kind = CD_EV_REGISTRATION;
		if (enum_field(r->benefit, CD_BENEFIT_MAX, "registration.benefit", &ev->benefit, err) < 0 ||
		    enum_field(r->category, CD_CATEGORY_MAX, "registration.category", &ev->category, err) < 0 ||
		    date_field(r->first_contact_date, &ev->first_contact, "registration.first_contact_date", err) < 0 ||
		    date_field(r->first_absence_date, &ev->first_absence, "registration.first_absence_date", err) < 0 ||
		    date_field(r->dagpenge_period_start, &ev->dp_start, "registration.dagpenge_period_start", err) < 0)
			return -1;
		ev->prior_days = r->prior_unemployment_days;
		ev->opt_out = r->akasse_opt_out;
		ev->seasonal = r->seasonal;
		ev->akasse_code = r->akasse_code;
		ev->akasse_code_len = strlen(r->akasse_code);
		ev->municipal_course = r->municipal_contact_course;
		ev->sick_short = r->sick_short_absence_expected;
		break;
	}
	case CONTACT__V1__CITIZEN_EVENT__PAYLOAD_DEREGISTRATION:
		ev->kind = CD_EV_DEREGISTRATION;
		if (enum_field(m->deregistration->reason, CD_DEREG_MAX, "deregistration.reason",
			       &ev->dereg_reason, err) < 0)
			return -1;
		ev->ends_dp = m->deregistration->ends_dagpenge_period;
		break;
	case CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CONVERSATION: {
		const Contact__V1__Conversation *cv = m->conversation;
		ev->kind = CD_EV_CONVERSATION;
		ev->conv_id = cv->conversation_id;
		ev->conv_id_len = strlen(cv->conversation_id);
		if (enum_field(cv->form, CD_FORM_MAX, "conversation.form", &ev->form, err) < 0 ||
		    enum_field(cv->held_by, CD_HELD_MAX, "conversation.held_by", &ev->held_by, err) < 0)
			return -1;
		ev->joint = cv->akasse_participated;
		ev->voided = cv->voided;
		break;
	}
	case CONTACT__V1__CITIZEN_EVENT__PAYLOAD_BENEFIT_CHANGE: {
		const Contact__V1__BenefitChange *b = m->benefit_change;
		ev->kind = CD_EV_BENEFIT_CHANGE;
		if (enum_field(b->to_benefit, CD_BENEFIT_MAX, "benefit_change.to_benefit", &ev->benefit, err) < 0 ||
		    enum_field(b->to_category, CD_CATEGORY_MAX, "benefit_change.to_category", &ev->category, err) < 0 ||
		    date_field(b->first_absence_date, &ev->first_absence, "benefit_change.first_absence_date", err) < 0 ||
		    date_field(b->dagpenge_period_start, &ev->dp_start, "benefit_change.dagpenge_period_start", err) < 0)
			return -1;
		ev->opt_out = b->akasse_opt_out;
		ev->akasse_code = b->akasse_code;
		ev->akasse_code_len = strlen(b->akasse_code);
		ev->municipal_course = b->municipal_contact_course;
		ev->sick_short = b->sick_short_absence_expected;
		break;
	}
	case CONTACT__V1__CITIZEN_EVENT__PAYLOAD_CLOCK_TICK:
		ev->kind = CD_EV_CLOCK_TICK;
		break;
	case CONTACT__V1__CITIZEN_EVENT__PAYLOAD_EXEMPTION:
		ev->kind = CD_EV_EXEMPTION;
		/* UNSPECIFIED and unknown numbers are validation's (a message naming the field) */
		if (enum_field(m->exemption->scope, CD_SCOPE_MAX, "exemption.scope", &ev->scope, err) < 0)
			return -1;
		ev->revoked = m->exemption->revoked;
		break;
	default:
		ev->kind = CD_EV_NONE;
		break;
	}
	return cd_event_validate_checked_text(ev, err);   /* checked just above, or on the wire */
}

int cd_codec_event_from_pb(const Contact__V1__CitizenEvent *m, cd_event *ev, cd_codec_stage *stage,
			   cd_err *err)
{
	return event_from_pb(m, ev, stage, 0, err);
}

int cd_codec_decode_event(const uint8_t *data, size_t len, cd_log_format fmt,
			  Contact__V1__CitizenEvent **msg, cd_event *ev, cd_codec_stage *stage, cd_err *err)
{
	ProtobufCMessage *m = NULL;
	path pt = { "", 0 };
	int rc;

	*msg = NULL;
	*stage = CD_STAGE_DECODE;
	if (fmt == CD_LOG_JSON) {
		if (pbjson_decode(&contact__v1__citizen_event__descriptor, (const char *)data, len, &m, err) < 0)
			return -1;
		*msg = (Contact__V1__CitizenEvent *)m;
		return event_from_pb(*msg, ev, stage, 0, err);
	}
	m = (ProtobufCMessage *)contact__v1__citizen_event__unpack(NULL, len, data);
	if (!m)
		return cd_err_set(err, 0, "not a valid contact.v1.CitizenEvent (%zu bytes)", len);
	rc = wire_strings(m->descriptor, data, len, &pt, 0, err);
	if (rc > 0) {
		protobuf_c_message_free_unpacked(m, NULL);
		return cd_err_set(err, 0, "not a valid contact.v1.CitizenEvent (%zu bytes)", len);
	}
	/* Handed over even when validation fails: the caller reports its event_id. */
	*msg = (Contact__V1__CitizenEvent *)m;
	if (rc < 0) {
		*stage = CD_STAGE_VALIDATE;
		return -1;
	}
	return event_from_pb(*msg, ev, stage, 1, err);
}

/* ---- outputs -------------------------------------------------------------- */

typedef struct outmsg {
	char ws[CD_DATE_STRLEN], we[CD_DATE_STRLEN], due[CD_DATE_STRLEN], ps[CD_DATE_STRLEN];
	Google__Protobuf__Timestamp ts;
	Contact__V1__ObligationState ob;
	Contact__V1__DeadlineEvent dl;
	Contact__V1__BreachEvent br;
	Contact__V1__Output out;
} outmsg;

static char *date_or_empty(cd_date d, char *buf)
{
	if (d == CD_DATE_NONE) {
		buf[0] = '\0';
		return buf;
	}
	return cd_date_format(d, buf);
}

static void build(const cd_output *o, outmsg *m)
{
	int64_t s;
	int32_t ns;

	contact__v1__obligation_state__init(&m->ob);
	m->ob.ruleset_id = (char *)o->ruleset_id;
	m->ob.ruleset_version = o->ruleset_version;
	m->ob.obligation_id = (char *)o->obligation_id;
	m->ob.severity = (Contact__V1__Severity)o->severity;
	m->ob.legal_ref = (char *)(o->legal_ref ? o->legal_ref : "");
	m->ob.window_start = date_or_empty(o->window_start, m->ws);
	m->ob.due_date = date_or_empty(o->due, m->due);
	m->ob.required = o->required;
	m->ob.held = o->held;
	m->ob.n_counted_conversation_ids = o->n_counted;
	m->ob.counted_conversation_ids = (char **)o->counted;
	m->ob.period_start = date_or_empty(o->period_start, m->ps);
	m->ob.window_end = date_or_empty(o->window_end, m->we);
	m->ob.definition_id = (char *)(o->definition_id ? o->definition_id : "");
	m->ob.aggregate_id = (char *)(o->aggregate_id ? o->aggregate_id : "");
	m->ob.basis = (Contact__V1__Basis)o->basis;

	google__protobuf__timestamp__init(&m->ts);
	cd_instant_to_ts(o->as_of, &s, &ns);
	m->ts.seconds = s;
	m->ts.nanos = ns;

	contact__v1__output__init(&m->out);
	if (o->is_breach) {
		contact__v1__breach_event__init(&m->br);
		m->br.event_id = (char *)o->event_id;
		m->br.citizen_id = (char *)o->citizen_id;
		m->br.municipality_code = (char *)o->muni;
		m->br.benefit = (Contact__V1__Benefit)o->benefit;
		m->br.status = (Contact__V1__BreachStatus)o->status;
		m->br.kind = (Contact__V1__BreachKind)o->breach_kind;
		m->br.obligation = &m->ob;
		m->br.caused_by_event_id = (char *)o->caused_by;
		m->br.detected_at = &m->ts;
		m->br.explanation = (char *)o->explanation;
		m->out.output_case = CONTACT__V1__OUTPUT__OUTPUT_BREACH;
		m->out.breach = &m->br;
	} else {
		contact__v1__deadline_event__init(&m->dl);
		m->dl.event_id = (char *)o->event_id;
		m->dl.citizen_id = (char *)o->citizen_id;
		m->dl.municipality_code = (char *)o->muni;
		m->dl.benefit = (Contact__V1__Benefit)o->benefit;
		m->dl.status = (Contact__V1__DeadlineStatus)o->status;
		m->dl.obligation = &m->ob;
		m->dl.cancel_reason = (Contact__V1__CancelReason)o->cancel_reason;
		m->dl.caused_by_event_id = (char *)o->caused_by;
		m->dl.as_of = &m->ts;
		m->dl.explanation = (char *)o->explanation;
		m->out.output_case = CONTACT__V1__OUTPUT__OUTPUT_DEADLINE;
		m->out.deadline = &m->dl;
	}
}

int cd_codec_output_append_pbc(const cd_output *o, int wrapped, cd_buf *out, cd_err *err)
{
	outmsg m;
	const ProtobufCMessage *msg;
	size_t n;

	build(o, &m);
	msg = wrapped ? &m.out.base : o->is_breach ? &m.br.base : &m.dl.base;
	n = protobuf_c_message_get_packed_size(msg);
	if (cd_buf_reserve(out, n) < 0)
		return cd_err_set(err, 0, "output of %zu bytes exceeds the buffer limit", n);
	protobuf_c_message_pack(msg, (uint8_t *)out->data + out->len);
	out->len += n;
	out->data[out->len] = '\0';
	return 0;
}

/*
 * The binary encoder of the output path. protobuf-c's generic packer walks a
 * message twice (size, then pack) and measures every string both times, which
 * made it the largest single cost of a replay. This writes the same bytes as
 * protobuf-c would (fields in number order, proto3 defaults omitted, present
 * sub-messages always written), in one pass: the nested messages are written
 * first into the tail of the buffer's reserved space and their lengths are
 * then known. test_codec.c checks the bytes against protobuf-c's packer.
 */
typedef struct wr {
	uint8_t *p;
} wr;

static inline void w_varint(wr *w, uint64_t v)
{
	w->p = cd_varint_put(w->p, v);
}

static inline void w_tag(wr *w, unsigned field, unsigned wire)
{
	w_varint(w, (uint64_t)(field << 3 | wire));
}

static inline void w_bytes(wr *w, unsigned field, const char *s, size_t n)
{
	if (!n)
		return;
	w_tag(w, field, 2);
	w_varint(w, n);
	memcpy(w->p, s, n);
	w->p += n;
}

/* int32 and enums: negative values are sign-extended to 64 bits, as protobuf does. */
static inline void w_int32(wr *w, unsigned field, int32_t v)
{
	if (!v)
		return;
	w_tag(w, field, 0);
	w_varint(w, (uint64_t)(int64_t)v);
}

static inline void w_date(wr *w, unsigned field, cd_date d)
{
	char buf[CD_DATE_STRLEN];
	if (d != CD_DATE_NONE)
		w_bytes(w, field, cd_date_format(d, buf), 10);
}

/* A sub-message already written at [start, w->p): moves it behind its tag and length. */
static void w_wrap(wr *w, unsigned field, uint8_t *start)
{
	size_t len = (size_t)(w->p - start);
	uint8_t hdr[16];
	wr h = { hdr };
	w_tag(&h, field, 2);
	w_varint(&h, len);
	memmove(start + (h.p - hdr), start, len);
	memcpy(start, hdr, (size_t)(h.p - hdr));
	w->p += h.p - hdr;
}

/*
 * The lengths of an output's strings, measured once: they size the buffer and
 * are written with the strings (measuring twice was half of the strlen calls
 * of replay). A NULL string has length 0 and, like "", writes nothing.
 */
typedef struct out_lens {
	size_t event_id, citizen_id, muni, ruleset_id, obligation_id, legal_ref;
	size_t definition_id, aggregate_id, caused_by, explanation;
} out_lens;

static size_t slen(const char *s)
{
	return s ? strlen(s) : 0;
}

static size_t bound_of(const cd_output *o, out_lens *l)
{
	size_t n = 256 + 4 * 16;

	l->event_id = slen(o->event_id);
	l->citizen_id = slen(o->citizen_id);
	l->muni = slen(o->muni);
	l->ruleset_id = slen(o->ruleset_id);
	l->obligation_id = slen(o->obligation_id);
	l->legal_ref = slen(o->legal_ref);
	l->definition_id = slen(o->definition_id);
	l->aggregate_id = slen(o->aggregate_id);
	l->caused_by = slen(o->caused_by);
	l->explanation = slen(o->explanation);
	n += l->citizen_id + l->muni + l->obligation_id + l->ruleset_id;
	n += l->legal_ref + l->caused_by + l->explanation;
	n += l->definition_id + l->aggregate_id;
	for (size_t i = 0; i < o->n_counted; i++)
		n += strlen(o->counted[i]) + 12;
	return 2 * n;   /* room for the moves of w_wrap, generously */
}

static int pack_direct(const cd_output *o, int wrapped, cd_buf *out, cd_err *err)
{
	out_lens l;
	size_t bound = bound_of(o, &l);
	uint8_t *base, *ev, *ob, *ts;
	int64_t secs;
	int32_t nanos;
	wr w;

	if (cd_buf_reserve(out, bound) < 0)
		return cd_err_set(err, 0, "output exceeds the buffer limit");
	base = (uint8_t *)out->data + out->len;
	w.p = base;
	ev = w.p;
	w_bytes(&w, 1, o->event_id, l.event_id);
	w_bytes(&w, 2, o->citizen_id, l.citizen_id);
	w_bytes(&w, 3, o->muni, l.muni);
	w_int32(&w, 4, o->benefit);
	w_int32(&w, 5, o->status);
	if (o->is_breach)
		w_int32(&w, 6, o->breach_kind);
	ob = w.p;
	w_bytes(&w, 1, o->ruleset_id, l.ruleset_id);
	w_int32(&w, 2, o->ruleset_version);
	w_bytes(&w, 3, o->obligation_id, l.obligation_id);
	w_int32(&w, 4, o->severity);
	w_bytes(&w, 5, o->legal_ref, l.legal_ref);
	w_date(&w, 6, o->window_start);
	w_date(&w, 7, o->due);
	w_int32(&w, 8, o->required);
	w_int32(&w, 9, o->held);
	for (size_t i = 0; i < o->n_counted; i++) {
		size_t n = strlen(o->counted[i]);
		w_tag(&w, 10, 2);           /* repeated: empty strings are written too */
		w_varint(&w, n);
		memcpy(w.p, o->counted[i], n);
		w.p += n;
	}
	w_date(&w, 11, o->period_start);
	w_date(&w, 12, o->window_end);
	w_bytes(&w, 13, o->definition_id, l.definition_id);
	w_bytes(&w, 14, o->aggregate_id, l.aggregate_id);     /* "" / NULL and basis 0 write nothing: old outputs keep their bytes */
	w_int32(&w, 15, o->basis);
	w_wrap(&w, o->is_breach ? 7 : 6, ob);
	if (!o->is_breach)
		w_int32(&w, 7, o->cancel_reason);
	w_bytes(&w, 8, o->caused_by, l.caused_by);
	ts = w.p;
	cd_instant_to_ts(o->as_of, &secs, &nanos);
	if (secs) {
		w_tag(&w, 1, 0);
		w_varint(&w, (uint64_t)secs);
	}
	w_int32(&w, 2, nanos);
	w_wrap(&w, 9, ts);
	w_bytes(&w, 10, o->explanation, l.explanation);
	if (wrapped)
		w_wrap(&w, o->is_breach ? 2 : 1, ev);
	assert((size_t)(w.p - base) <= bound);
	out->len += (size_t)(w.p - base);
	out->data[out->len] = '\0';
	return 0;
}

int cd_codec_output_append(const cd_output *o, cd_log_format fmt, int wrapped, cd_buf *out, cd_err *err)
{
	outmsg m;
	const ProtobufCMessage *msg;

	if (fmt != CD_LOG_JSON)
		return pack_direct(o, wrapped, out, err);
	build(o, &m);
	msg = wrapped ? &m.out.base : o->is_breach ? &m.br.base : &m.dl.base;
	return pbjson_encode(msg, out, err);
}

/* ---- aggregate events ---------------------------------------------------------- */

/*
 * Built on the stack like the others and packed by protobuf-c: an aggregate
 * event is rare (one per cohort and transition), so it needs no direct packer.
 */
typedef struct aggmsg {
	char ps[CD_DATE_STRLEN], pe[CD_DATE_STRLEN];
	Google__Protobuf__Timestamp ts;
	Contact__V1__BenefitCount bc[CD_BENEFIT_MAX + 1];
	Contact__V1__BenefitCount *bcp[CD_BENEFIT_MAX + 1];
	Contact__V1__AggregateEvent ag;
	Contact__V1__Output out;
} aggmsg;

static int build_aggregate(const cd_agg_output *a, aggmsg *m, cd_err *err)
{
	int64_t s;
	int32_t ns;

	if (a->n_by_benefit > CD_BENEFIT_MAX + 1)
		return cd_err_set(err, 0, "aggregate event with %zu benefits", a->n_by_benefit);
	contact__v1__aggregate_event__init(&m->ag);
	m->ag.event_id = (char *)a->event_id;
	m->ag.aggregate_id = (char *)a->aggregate_id;
	m->ag.key_kind = (Contact__V1__AggregateKeyKind)a->key_kind;
	m->ag.key = (char *)a->key;
	m->ag.period_start = date_or_empty(a->period_start, m->ps);
	m->ag.period_end = date_or_empty(a->period_end, m->pe);
	m->ag.status = (Contact__V1__AggregateStatus)a->status;
	m->ag.kind = (Contact__V1__AggregateKind)a->kind;
	m->ag.members = a->members;
	m->ag.met = a->met;
	m->ag.lapsed = a->lapsed;
	m->ag.exempted = a->exempted;
	m->ag.required = a->required;
	m->ag.held = a->held;
	for (size_t i = 0; i < a->n_by_benefit; i++) {
		contact__v1__benefit_count__init(&m->bc[i]);
		m->bc[i].benefit = (Contact__V1__Benefit)a->by_benefit[i].benefit;
		m->bc[i].members = a->by_benefit[i].members;
		m->bc[i].met = a->by_benefit[i].met;
		m->bcp[i] = &m->bc[i];
	}
	m->ag.n_by_benefit = a->n_by_benefit;
	m->ag.by_benefit = a->n_by_benefit ? m->bcp : NULL;
	m->ag.severity = (Contact__V1__Severity)a->severity;
	m->ag.legal_ref = (char *)(a->legal_ref ? a->legal_ref : "");
	google__protobuf__timestamp__init(&m->ts);
	cd_instant_to_ts(a->detected_at, &s, &ns);
	m->ts.seconds = s;
	m->ts.nanos = ns;
	m->ag.detected_at = &m->ts;
	m->ag.explanation = (char *)(a->explanation ? a->explanation : "");
	contact__v1__output__init(&m->out);
	m->out.output_case = CONTACT__V1__OUTPUT__OUTPUT_AGGREGATE;
	m->out.aggregate = &m->ag;
	return 0;
}

int cd_codec_aggregate_append(const cd_agg_output *a, cd_log_format fmt, int wrapped, cd_buf *out, cd_err *err)
{
	aggmsg m;
	const ProtobufCMessage *msg;
	size_t n;

	if (build_aggregate(a, &m, err) < 0)
		return -1;
	msg = wrapped ? &m.out.base : &m.ag.base;
	if (fmt == CD_LOG_JSON)
		return pbjson_encode(msg, out, err);
	n = protobuf_c_message_get_packed_size(msg);
	if (cd_buf_reserve(out, n) < 0)
		return cd_err_set(err, 0, "output of %zu bytes exceeds the buffer limit", n);
	protobuf_c_message_pack(msg, (uint8_t *)out->data + out->len);
	out->len += n;
	out->data[out->len] = '\0';
	return 0;
}

size_t cd_codec_aggregate_key(int key_kind, const char *key, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s:%s", key_kind == CD_AGG_KEY_AKASSE ? "akasse" : "kommune", key ? key : "");
	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : len ? len - 1 : 0;
}
