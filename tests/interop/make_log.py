#!/usr/bin/python3
"""make_log.py — writes the same CitizenEvents with Google's own protobuf runtime
as a length-delimited binary log and as JSON lines, so that the C reader and
decoders (proto/eventlog.c, proto/pbjson.c) can be checked against an
independent implementation (tests/unit/test_interop.c); and, given two more
file names, the same for a few replay Outputs (a deadline with aggregate_id
and basis, a breach, an AggregateEvent).

How to call it (from the repository root; Debian's python3-protobuf, so
/usr/bin/python3, not a pyenv python3 that may be first on PATH):

    mkdir -p build/interop/py
    protoc --python_out=build/interop/py -Iproto -I/usr/include proto/contact/v1/*.proto
    /usr/bin/python3 tests/interop/make_log.py build/interop/py \\
        build/interop/events.bin build/interop/events.jsonl \\
        build/interop/outputs.bin build/interop/outputs.jsonl
    CD_INTEROP_DIR=build/interop build/asan/tests/test_interop

Arguments: GEN_DIR (where protoc --python_out wrote contact/v1/*_pb2.py),
OUT_BIN (length-delimited binary), OUT_JSON (JSON lines), and optionally
OUTPUTS_BIN and OUTPUTS_JSON (Outputs in the same two forms). Exit status 0
on success, 2 on a usage error; anything else raises.
"""
import sys


def varint(n):
    """protobuf's base-128 varint, as writeDelimitedTo puts before each record."""
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def ts(pb, seconds, nanos=0):
    t = pb.Timestamp()
    t.seconds = seconds
    t.nanos = nanos
    return t


def events(ev, tspb):
    """About ten events: every payload kind, recorded_at on some, nanos on some."""
    out = []

    def base(i, seconds, nanos=0, recorded=None):
        e = ev.CitizenEvent(event_id="evt-%03d" % i, citizen_id="cit-%d" % (i % 3),
                            municipality_code="860" if i % 2 else "0101",
                            source="interop-" + ("æøå" if i == 4 else "py"))
        e.occurred_at.CopyFrom(ts(tspb, seconds, nanos))
        if recorded is not None:
            e.recorded_at.CopyFrom(ts(tspb, *recorded))
        return e

    e = base(1, 1614834367)
    e.registration.benefit = ev.BENEFIT_DAGPENGE
    e.registration.category = ev.CATEGORY_JOBPARAT
    e.registration.first_contact_date = "2021-03-04"
    e.registration.dagpenge_period_start = "2021-03-01"
    e.registration.prior_unemployment_days = 120
    e.registration.akasse_opt_out = True
    out.append(e)

    e = base(2, 1614834367, 500000000, recorded=(1614834400, 123000000))
    e.registration.benefit = ev.BENEFIT_SYGEDAGPENGE
    e.registration.first_absence_date = "2021-02-20"
    e.registration.seasonal = True
    out.append(e)

    e = base(3, 1617000000, 1)
    e.conversation.conversation_id = "conv-\"quoted\"\\path"
    e.conversation.form = ev.CONVERSATION_FORM_VIDEO
    e.conversation.held_by = ev.HELD_BY_AKASSE
    e.conversation.akasse_participated = True
    out.append(e)

    e = base(4, 1617000000, recorded=(1617000005, 0))
    e.conversation.conversation_id = "conv-1"
    e.conversation.voided = True
    out.append(e)

    e = base(5, 1620000000, 999999999)
    e.deregistration.reason = ev.DEREGISTRATION_REASON_JOB
    e.deregistration.ends_dagpenge_period = True
    out.append(e)

    e = base(6, 1620000000)
    e.deregistration.SetInParent()          # all defaults: still the oneof's case
    out.append(e)

    e = base(7, 1625000000, 250000, recorded=(1625000001, 1000))
    e.benefit_change.to_benefit = ev.BENEFIT_KONTANTHJAELP
    e.benefit_change.to_category = ev.CATEGORY_AKTIVITETSPARAT
    e.benefit_change.dagpenge_period_start = "2021-06-29"
    e.benefit_change.akasse_opt_out = True
    out.append(e)

    e = base(8, 1625000000)
    e.benefit_change.first_absence_date = "2021-06-01"
    out.append(e)

    e = base(9, 1640995199)
    e.clock_tick.SetInParent()              # an empty message: "clockTick": {}
    out.append(e)

    e = base(10, -62135596800)              # 0001-01-01T00:00:00Z, no payload
    out.append(e)

    e = ev.CitizenEvent()                   # everything default: "{}" / zero bytes
    out.append(e)

    # dk-2026 additions
    e = base(11, 1798794000)
    e.registration.benefit = ev.BENEFIT_DAGPENGE
    e.registration.dagpenge_period_start = "2027-01-01"
    e.registration.akasse_code = "A901"
    e.registration.municipal_contact_course = True
    out.append(e)

    e = base(12, 1798794000, recorded=(1798794060, 0))
    e.benefit_change.to_benefit = ev.BENEFIT_SYGEDAGPENGE
    e.benefit_change.first_absence_date = "2026-12-28"
    e.benefit_change.sick_short_absence_expected = True
    e.benefit_change.akasse_code = "a-kasse_7"
    e.benefit_change.municipal_contact_course = True
    out.append(e)

    e = base(13, 1800000000)
    e.exemption.scope = ev.EXEMPTION_SCOPE_KOMMUNE
    out.append(e)

    e = base(14, 1800000000, 5)
    e.exemption.scope = ev.EXEMPTION_SCOPE_AKASSE
    e.exemption.revoked = True
    out.append(e)

    e = base(15, 1800000000)
    e.exemption.SetInParent()               # scope unspecified: still the oneof's case
    out.append(e)
    return out


def outputs(op, ev):
    """Outputs: the first must stay equal to test_interop.c's interop_deadline()."""
    out = []
    o = op.Output()
    d = o.deadline
    d.event_id = "0123456789abcdef0123456789abcdef"
    d.citizen_id = "p1"
    d.municipality_code = "101"
    d.benefit = ev.BENEFIT_DAGPENGE
    d.status = op.DEADLINE_STATUS_LAPSED
    ob = d.obligation
    ob.ruleset_id = "dk-2026"
    ob.ruleset_version = 1
    ob.obligation_id = "dk-2026/jobcenter-six-month"
    ob.severity = op.SEVERITY_LEGAL
    ob.legal_ref = "LAB \u00a7 31"
    ob.window_start = "2027-01-01"
    ob.due_date = "2027-06-30"
    ob.required = 1
    ob.period_start = "2027-01-01"
    ob.window_end = "2027-06-30"
    ob.definition_id = "dk-2026/jobcenter-six-month"
    ob.aggregate_id = "dk-2026/kommune-share"
    ob.basis = op.BASIS_GUIDANCE
    d.as_of.seconds = 1814392800                # 2027-07-01T00:00:00+02:00
    d.explanation = "window ended unmet"
    out.append(o)

    o = op.Output()
    d = o.deadline
    d.event_id = "fedcba9876543210fedcba9876543210"
    d.citizen_id = "p2"
    d.status = op.DEADLINE_STATUS_CANCELLED
    d.cancel_reason = op.CANCEL_REASON_LAW_CHANGED
    d.obligation.obligation_id = "dk-2024/jobcenter-first"
    d.obligation.basis = op.BASIS_CARRIED_OVER
    out.append(o)

    o = op.Output()
    b = o.breach
    b.event_id = "b1"
    b.status = op.BREACH_STATUS_BREACHED
    b.kind = op.BREACH_KIND_DEADLINE
    b.obligation.obligation_id = "dk-2026/jobcenter-first"
    b.obligation.basis = op.BASIS_INTERPRETATION
    b.detected_at.seconds = 1800000000
    out.append(o)

    o = op.Output()
    a = o.aggregate
    a.event_id = "a1"
    a.aggregate_id = "dk-2026/kommune-share"
    a.key_kind = op.AGGREGATE_KEY_KIND_MUNICIPALITY
    a.key = "101"
    a.period_start = "2027-04-01"
    a.period_end = "2027-06-30"
    a.status = op.AGGREGATE_STATUS_BREACHED
    a.kind = op.AGGREGATE_KIND_SHARE
    a.members = 40
    a.met = 29
    a.lapsed = 8
    a.exempted = 3
    a.required = 30
    a.held = 29
    for benefit, members, met in ((ev.BENEFIT_DAGPENGE, 30, 20), (ev.BENEFIT_KONTANTHJAELP, 10, 9)):
        c = a.by_benefit.add()
        c.benefit = benefit
        c.members = members
        c.met = met
    a.severity = op.SEVERITY_LEGAL
    a.legal_ref = "LAB \u00a7 31"
    a.detected_at.seconds = 1814392800
    a.detected_at.nanos = 1000
    a.explanation = "29 of 40 met, 30 required"
    out.append(o)

    o = op.Output()
    a = o.aggregate
    a.event_id = "a2"
    a.key_kind = op.AGGREGATE_KEY_KIND_AKASSE
    a.key = "unknown"
    a.status = op.AGGREGATE_STATUS_RETRACTED
    a.kind = op.AGGREGATE_KIND_AVERAGE
    out.append(o)

    o = op.Output()
    o.aggregate.SetInParent()               # all defaults: still the oneof's case
    out.append(o)
    return out


def write_both(msgs, out_bin, out_json):
    with open(out_bin, "wb") as fb:
        for e in msgs:
            body = e.SerializeToString()
            fb.write(varint(len(body)))
            fb.write(body)
    with open(out_json, "w", encoding="utf-8") as fj:
        for e in msgs:
            line = _json_format.MessageToJson(e, indent=None, preserving_proto_field_name=False)
            if "\n" in line:
                raise SystemExit("make_log.py: MessageToJson produced more than one line")
            fj.write(line + "\n")


_json_format = None


def main(argv):
    global _json_format
    if len(argv) not in (4, 6):
        sys.stderr.write("usage: make_log.py GEN_DIR OUT_BIN OUT_JSON [OUTPUTS_BIN OUTPUTS_JSON]\n")
        return 2
    gen_dir, out_bin, out_json = argv[1:4]
    sys.path.insert(0, gen_dir)
    from google.protobuf import json_format, timestamp_pb2
    from contact.v1 import events_pb2, outputs_pb2
    _json_format = json_format

    write_both(events(events_pb2, timestamp_pb2), out_bin, out_json)
    if len(argv) == 6:
        write_both(outputs(outputs_pb2, events_pb2), argv[4], argv[5])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
