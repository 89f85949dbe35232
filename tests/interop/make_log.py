#!/usr/bin/python3
"""make_log.py — writes the same CitizenEvents with Google's own protobuf runtime
as a length-delimited binary log and as JSON lines, so that the C reader and
decoders (proto/eventlog.c, proto/pbjson.c) can be checked against an
independent implementation (tests/unit/test_interop.c).

How to call it (from the repository root; Debian's python3-protobuf, so
/usr/bin/python3, not a pyenv python3 that may be first on PATH):

    mkdir -p build/interop/py
    protoc --python_out=build/interop/py -Iproto -I/usr/include proto/contact/v1/*.proto
    /usr/bin/python3 tests/interop/make_log.py build/interop/py \\
        build/interop/events.bin build/interop/events.jsonl
    CD_INTEROP_DIR=build/interop build/asan/tests/test_interop

Arguments: GEN_DIR (where protoc --python_out wrote contact/v1/*_pb2.py),
OUT_BIN (length-delimited binary), OUT_JSON (JSON lines). Exit status 0 on
success, 2 on a usage error; anything else raises.
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
    return out


def main(argv):
    if len(argv) != 4:
        sys.stderr.write("usage: make_log.py GEN_DIR OUT_BIN OUT_JSON\n")
        return 2
    gen_dir, out_bin, out_json = argv[1:]
    sys.path.insert(0, gen_dir)
    from google.protobuf import json_format, timestamp_pb2
    from contact.v1 import events_pb2

    evs = events(events_pb2, timestamp_pb2)
    with open(out_bin, "wb") as fb:
        for e in evs:
            body = e.SerializeToString()
            fb.write(varint(len(body)))
            fb.write(body)
    with open(out_json, "w", encoding="utf-8") as fj:
        for e in evs:
            line = json_format.MessageToJson(e, indent=None, preserving_proto_field_name=False)
            if "\n" in line:
                raise SystemExit("make_log.py: MessageToJson produced more than one line")
            fj.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
