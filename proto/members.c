/*
 * members.c — records of the internal members topic (members.h).
 */
#include "proto/members.h"

#include <stdlib.h>
#include <string.h>

#include "state/rules.h"

#define MAX_KEY 64               /* the aggregator's longest key */

int cd_members_encode(const cd_member_rec *r, cd_buf *out, cd_err *err)
{
	Contact__V1__MemberRecord rec = CONTACT__V1__MEMBER_RECORD__INIT;
	Contact__V1__Member mem = CONTACT__V1__MEMBER__INIT;
	Contact__V1__Watermark wm = CONTACT__V1__WATERMARK__INIT;
	char due[CD_DATE_STRLEN];
	size_t len, at;

	rec.source_partition = r->source;
	rec.seq = r->seq;
	rec.has_clock = r->clock != CD_INSTANT_NONE;
	rec.clock = rec.has_clock ? r->clock : 0;
	rec.at_tick = r->at_tick;
	if (r->watermark) {
		wm.source_partitions = r->source_partitions;
		rec.body_case = CONTACT__V1__MEMBER_RECORD__BODY_WATERMARK;
		rec.watermark = &wm;
	} else {
		const cd_member *m = &r->m;
		mem.member_id = (char *)m->member_id;
		mem.aggregate_id = (char *)(m->aggregate_id ? m->aggregate_id : "");
		mem.key_kind = (Contact__V1__AggregateKeyKind)m->key_kind;
		mem.key = (char *)(m->key ? m->key : "");
		mem.obligation_id = (char *)(m->obligation_id ? m->obligation_id : "");
		mem.outcome = (Contact__V1__MemberOutcome)m->outcome;
		mem.due = m->due != CD_DATE_NONE ? cd_date_format(m->due, due) : "";
		mem.held = m->held;
		mem.need = m->need;
		mem.benefit = (Contact__V1__Benefit)m->benefit;
		mem.as_of = m->as_of;
		rec.body_case = CONTACT__V1__MEMBER_RECORD__BODY_MEMBER;
		rec.member = &mem;
	}
	len = contact__v1__member_record__get_packed_size(&rec);
	at = out->len;
	if (cd_buf_reserve(out, len) < 0)
		return cd_err_set(err, 1, "out of memory for a member record");
	contact__v1__member_record__pack(&rec, (uint8_t *)out->data + at);
	out->len = at + len;
	return 0;
}

void cd_members_free(Contact__V1__MemberRecord *msg)
{
	if (msg)
		protobuf_c_message_free_unpacked(&msg->base, NULL);
}

static int is_hex32(const char *s)
{
	size_t n = strlen(s);
	if (n != 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static int check_member(const Contact__V1__Member *mem, cd_member *m, cd_err *err)
{
	memset(m, 0, sizeof(*m));
	if (!is_hex32(mem->member_id))
		return cd_err_set(err, 0, "member record: 'member.member_id' is not 32 hex digits");
	memcpy(m->member_id, mem->member_id, 33);
	if ((int)mem->outcome < CD_MEMBER_UNDECIDED || (int)mem->outcome > CD_MEMBER_EXEMPTED)
		return cd_err_set(err, 0, "member record: 'member.outcome' %d is not a known outcome", (int)mem->outcome);
	m->outcome = (int)mem->outcome;
	m->aggregate_id = mem->aggregate_id;
	m->obligation_id = mem->obligation_id;
	m->key = mem->key;
	m->caused_by = "";
	m->citizen_id = "";
	m->as_of = mem->as_of;
	m->due = CD_DATE_NONE;
	if (strlen(mem->aggregate_id) > CD_MAX_OBLIGATION_ID_LEN || strlen(mem->obligation_id) > CD_MAX_OBLIGATION_ID_LEN)
		return cd_err_set(err, 0, "member record: 'member.aggregate_id' or 'member.obligation_id' is longer than %d "
				  "bytes", CD_MAX_OBLIGATION_ID_LEN);
	if (strlen(mem->key) > MAX_KEY)
		return cd_err_set(err, 0, "member record: 'member.key' is longer than %d bytes", MAX_KEY);
	if (m->outcome == CD_MEMBER_UNDECIDED)
		return 0;                       /* it leaves: only its id matters */
	if (!*mem->aggregate_id)
		return cd_err_set(err, 0, "member record: 'member.aggregate_id' is empty");
	if (mem->key_kind != CONTACT__V1__AGGREGATE_KEY_KIND__AGGREGATE_KEY_KIND_MUNICIPALITY &&
	    mem->key_kind != CONTACT__V1__AGGREGATE_KEY_KIND__AGGREGATE_KEY_KIND_AKASSE)
		return cd_err_set(err, 0, "member record: 'member.key_kind' %d is not a known key kind", (int)mem->key_kind);
	m->key_kind = (int)mem->key_kind;
	if (cd_date_parse(mem->due, strlen(mem->due), &m->due) < 0)
		return cd_err_set(err, 0, "member record: 'member.due' '%.16s' is not a date", mem->due);
	if (mem->held < 0 || mem->need < 0 || mem->need > 1000)
		return cd_err_set(err, 0, "member record: 'member.held' or 'member.need' is out of range");
	m->held = mem->held;
	m->need = mem->need;
	if ((int)mem->benefit < 0 || (int)mem->benefit > CD_BENEFIT_MAX)
		return cd_err_set(err, 0, "member record: 'member.benefit' %d is not a known benefit", (int)mem->benefit);
	m->benefit = (int)mem->benefit;
	return 0;
}

int cd_members_decode(const void *p, size_t n, cd_member_rec *r, Contact__V1__MemberRecord **msg, cd_err *err)
{
	Contact__V1__MemberRecord *rec = contact__v1__member_record__unpack(NULL, n, p);

	*msg = NULL;
	memset(r, 0, sizeof(*r));
	if (!rec)
		return cd_err_set(err, 0, "member record: the bytes are not a contact.v1.MemberRecord");
	if (rec->source_partition < 0 || rec->seq == 0) {
		cd_members_free(rec);
		return cd_err_set(err, 0, "member record: 'source_partition' or 'seq' is out of range");
	}
	r->source = rec->source_partition;
	r->seq = rec->seq;
	r->clock = rec->has_clock ? rec->clock : CD_INSTANT_NONE;
	r->at_tick = rec->at_tick;
	switch (rec->body_case) {
	case CONTACT__V1__MEMBER_RECORD__BODY_WATERMARK:
		if (!rec->has_clock || rec->watermark->source_partitions < 1 || rec->watermark->source_partitions > 100000 ||
		    rec->source_partition >= rec->watermark->source_partitions) {
			cd_members_free(rec);
			return cd_err_set(err, 0, "member record: a watermark needs 'clock' and 'source_partitions' above "
					  "'source_partition'");
		}
		r->watermark = true;
		r->source_partitions = rec->watermark->source_partitions;
		break;
	case CONTACT__V1__MEMBER_RECORD__BODY_MEMBER:
		if (check_member(rec->member, &r->m, err) < 0) {
			cd_members_free(rec);
			return -1;
		}
		break;
	default:
		cd_members_free(rec);
		return cd_err_set(err, 0, "member record: neither 'member' nor 'watermark' is set");
	}
	*msg = rec;
	return 0;
}
