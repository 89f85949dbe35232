# `contactd replay` with frikommune-nordjylland enabled for Frederikshavn (813) gives the
# AVERAGE aggregate events of frikommune-nordjylland/average-kontanthjaelp (rules.md §5 row
# frikommune-nordjylland, §4.1 AVERAGE; D21, D43–D47) for a small hand-written log, with
# every number worked out by hand below; the national counts of those citizens go LAPSED,
# never BREACHED. Enabling the overlay outside its ten municipalities refuses to start.
#
# Cohort 2019-Q2 (dk-2015 periods; members owing different counts, summed per cohort):
#   e KONTANTHJAELP AKTIVITETSPARAT from Monday 2018-05-07: count-12m-1 (n = 4)
#     2018-05-07 … 2019-05-06, held 2 (PHONE, GROUP) -> LAPSED, decided 2019-05-07T00:00
#     Copenhagen = 2019-05-06T22:00:00Z; deregistered 2019-06-03 (count-12m-2 cancelled).
#   d KONTANTHJAELP JOBPARAT from Monday 2019-04-01: jobparat-first-3m (n = 2)
#     2019-04-01 … 2019-06-30, held 3 (IN_PERSON, VIDEO, BRANCH_MEETING) -> MET, decided
#     2019-07-01T00:00 = 2019-06-30T22:00:00Z; deregistered 2019-07-15 (count-12m-1 cancelled).
#   WARNING at 2019-06-23T00:00 (warn-days 7 before 06-30) = 2019-06-22T22:00:00Z, counting
#     the members decided by then: e alone: held 2 < 4 -> required 400, held 200.
#   BREACHED at 2019-06-30T22:00:00Z: N = 2, need 2 + 4 = 6, held 3 + 2 = 5 < 6:
#     required floor(100 × 6 / 2) = 300, held floor(100 × 5 / 2) = 250; met 1, lapsed 1.
# Cohort 2020-Q3 (dk-2020 four-in-six, n = 4 each):
#   a from Monday 2020-01-06 (window to 2020-07-05): 5 conversations (PHONE, GROUP,
#     VIA_OTHER, IN_PERSON, DIGITAL) -> MET; b from 2020-01-13 (to 07-12): 3 -> LAPSED;
#     c from 2020-01-20 (to 07-19): 2 -> LAPSED. All decided by 2020-07-20.
#   WARNING at 2020-09-22T22:00:00Z and BREACHED at 2020-09-30T22:00:00Z: N = 3, need 12,
#     held 10: required 400, held floor(1000 / 3) = 333; met 1, lapsed 2.
#   c's conversation of 2020-06-29, recorded 2020-10-03: held 11 -> at the next tick
#     (2020-10-05T00:00:00Z) an updated BREACHED, held floor(1100 / 3) = 366 (D43).
#   b's conversation of 2020-07-10, recorded 2020-10-08: b MET, held 12 >= 12 -> at the tick
#     2020-10-10T00:00:00Z RETRACTED (carrying 400 / 366, met 1, lapsed 2) and MET 400 / 400,
#     met 2, lapsed 1.
# x in Aalborg (851), where the overlay is not enabled: the national four-in-six, a breach
#   of its own, and no aggregate.
source "$(dirname "$0")/lib.sh"

/usr/bin/python3 - "$W/in.jsonl" <<'EOF'
import json, sys
out = []
def ev(eid, cid, t, payload, muni=None, recorded=None):
    e = {"eventId": eid, "citizenId": cid, "occurredAt": t}
    if recorded:
        e["recordedAt"] = recorded
    if muni:
        e["municipalityCode"] = muni
    e.update(payload)
    out.append(e)
def reg(eid, cid, t, muni, cat):
    ev(eid, cid, t, {"registration": {"benefit": "BENEFIT_KONTANTHJAELP", "category": "CATEGORY_" + cat}}, muni)
def conv(eid, cid, t, form, recorded=None):
    ev(eid, cid, t, {"conversation": {"conversationId": "c-" + eid, "form": "CONVERSATION_FORM_" + form,
                                      "heldBy": "HELD_BY_JOBCENTER"}}, recorded=recorded)
def dereg(eid, cid, t):
    ev(eid, cid, t, {"deregistration": {}})
def tick(t):
    out.append({"eventId": "tick-" + t, "occurredAt": t, "clockTick": {}})

reg("e1", "e", "2018-05-07T07:00:00Z", "813", "AKTIVITETSPARAT")
conv("e2", "e", "2018-06-11T08:00:00Z", "PHONE")
conv("e3", "e", "2018-10-15T08:00:00Z", "GROUP")
reg("d1", "d", "2019-04-01T07:00:00Z", "813", "JOBPARAT")
conv("d2", "d", "2019-04-10T08:00:00Z", "IN_PERSON")
conv("d3", "d", "2019-05-15T08:00:00Z", "VIDEO")
tick("2019-06-01T00:00:00Z")
dereg("e4", "e", "2019-06-03T08:00:00Z")
conv("d4", "d", "2019-06-20T08:00:00Z", "BRANCH_MEETING")
tick("2019-07-01T00:00:00Z")
dereg("d5", "d", "2019-07-15T08:00:00Z")

reg("a1", "a", "2020-01-06T08:00:00Z", "813", "JOBPARAT")
reg("b1", "b", "2020-01-13T08:00:00Z", "813", "JOBPARAT")
reg("c1", "c", "2020-01-20T08:00:00Z", "813", "JOBPARAT")
reg("x1", "x", "2020-01-20T08:00:00Z", "851", "JOBPARAT")
conv("a2", "a", "2020-01-20T09:00:00Z", "PHONE")
conv("x2", "x", "2020-01-24T09:00:00Z", "IN_PERSON")
conv("b2", "b", "2020-02-03T09:00:00Z", "PHONE")
conv("c2", "c", "2020-02-10T09:00:00Z", "BRANCH_MEETING")
conv("x3", "x", "2020-02-14T09:00:00Z", "GROUP")
conv("a3", "a", "2020-02-17T09:00:00Z", "GROUP")
conv("b3", "b", "2020-03-02T09:00:00Z", "GROUP")
conv("a4", "a", "2020-03-16T09:00:00Z", "VIA_OTHER")
conv("c3", "c", "2020-04-06T08:00:00Z", "PHONE")
conv("a5", "a", "2020-04-20T08:00:00Z", "IN_PERSON")
conv("b4", "b", "2020-05-04T08:00:00Z", "VIDEO")
conv("a6", "a", "2020-06-15T08:00:00Z", "DIGITAL")
tick("2020-08-01T00:00:00Z")
tick("2020-10-01T00:00:00Z")
conv("c4", "c", "2020-06-29T08:00:00Z", "PHONE", recorded="2020-10-03T08:00:00Z")
tick("2020-10-05T00:00:00Z")
conv("b5", "b", "2020-07-10T08:00:00Z", "PHONE", recorded="2020-10-08T08:00:00Z")
tick("2020-10-10T00:00:00Z")
with open(sys.argv[1], "w") as f:
    for e in out:
        f.write(json.dumps(e) + "\n")
EOF

"$CONTACTD" replay --overlays frikommune-nordjylland@813 --input "$W/in.jsonl" --output "$W/out.jsonl" \
  2>"$W/out.log" || { cat "$W/out.log" >&2; fail "replay failed"; }
grep -q "skipped=0" "$W/out.log" || { cat "$W/out.log" >&2; fail "records were skipped"; }
grep -q "aggregate_events=7 " "$W/out.log" || { cat "$W/out.log" >&2; fail "expected 7 aggregate events"; }

/usr/bin/python3 - "$W/out.jsonl" <<'EOF' || fail "the outputs differ from the hand-computed ones"
import json, sys
AVG = "frikommune-nordjylland/average-kontanthjaelp"
# status, period start, period end, members, met, lapsed, required, held, detected at
want = [
    ("WARNING",   "2019-04-01", "2019-06-30", 1, 0, 1, 400, 200, "2019-06-22T22:00:00Z"),
    ("BREACHED",  "2019-04-01", "2019-06-30", 2, 1, 1, 300, 250, "2019-06-30T22:00:00Z"),
    ("WARNING",   "2020-07-01", "2020-09-30", 3, 1, 2, 400, 333, "2020-09-22T22:00:00Z"),
    ("BREACHED",  "2020-07-01", "2020-09-30", 3, 1, 2, 400, 333, "2020-09-30T22:00:00Z"),
    ("BREACHED",  "2020-07-01", "2020-09-30", 3, 1, 2, 400, 366, "2020-10-05T00:00:00Z"),
    ("RETRACTED", "2020-07-01", "2020-09-30", 3, 1, 2, 400, 366, "2020-10-10T00:00:00Z"),
    ("MET",       "2020-07-01", "2020-09-30", 3, 2, 1, 400, 400, "2020-10-10T00:00:00Z"),
]
got, bad = [], []
deadlines = []
for line in open(sys.argv[1]):
    o = json.loads(line)
    if "aggregate" in o:
        a = o["aggregate"]
        if a["aggregateId"] != AVG or a["key"] != "813" or a["kind"] != "AGGREGATE_KIND_AVERAGE" \
           or a["keyKind"] != "AGGREGATE_KEY_KIND_MUNICIPALITY" or a.get("exempted", 0) != 0:
            bad.append("unexpected aggregate event: " + line.strip())
        ben = a.get("byBenefit", [])
        if len(ben) != 1 or ben[0]["benefit"] != "BENEFIT_KONTANTHJAELP" or ben[0].get("members", 0) != a.get("members", 0) \
           or ben[0].get("met", 0) != a.get("met", 0):
            bad.append("by benefit: " + json.dumps(ben))
        got.append((a["status"].replace("AGGREGATE_STATUS_", ""), a["periodStart"], a["periodEnd"],
                    a.get("members", 0), a.get("met", 0), a.get("lapsed", 0), a.get("required", 0),
                    a.get("held", 0), a["detectedAt"]))
    elif "breach" in o:
        b = o["breach"]
        if b["citizenId"] != "x" and b["status"] == "BREACH_STATUS_BREACHED":
            bad.append("a breach in 813: " + line.strip())
        deadlines.append((b["citizenId"], b["obligation"]["obligationId"], b["status"]))
    elif "deadline" in o:
        d = o["deadline"]
        deadlines.append((d["citizenId"], d["obligation"]["obligationId"], d["status"],
                          d["obligation"].get("aggregateId", "")))
if got != want:
    bad.append("aggregate events:\n  got  %s\n  want %s" % ("\n       ".join(map(str, got)), "\n       ".join(map(str, want))))
def has(*k):
    return any(d[:len(k)] == k for d in deadlines)
for k in [("e", "dk-2015/count-12m-1", "DEADLINE_STATUS_LAPSED", AVG),
          ("d", "dk-2015/jobparat-first-3m", "DEADLINE_STATUS_MET", AVG),
          ("b", "dk-2020/four-in-six", "DEADLINE_STATUS_LAPSED", AVG),
          ("b", "dk-2020/four-in-six", "DEADLINE_STATUS_MET", AVG),
          ("c", "dk-2020/four-in-six", "DEADLINE_STATUS_LAPSED", AVG),
          ("x", "dk-2020/first-within", "DEADLINE_STATUS_MET", ""),
          ("x", "dk-2020/four-in-six", "BREACH_STATUS_BREACHED")]:
    if not has(*k):
        bad.append("missing output %s" % (k,))
for d in deadlines:
    if d[0] != "x" and "first-within" in d[1]:
        bad.append("a first-within in 813: %s" % (d,))
if bad:
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
EOF

# The same in the binary form, and again: the same aggregate events.
"$CONTACTD" replay --overlays frikommune-nordjylland@813 --input "$W/in.jsonl" --output "$W/out.bin" \
  --output-format pb 2>"$W/pb.log" || fail "binary replay failed"
grep -q "aggregate_events=7 " "$W/pb.log" || fail "the binary output counts other aggregate events"
"$CONTACTD" replay --overlays frikommune-nordjylland@813 --input "$W/in.jsonl" --output "$W/again.jsonl" 2>/dev/null ||
  fail "second replay failed"
cmp -s "$W/out.jsonl" "$W/again.jsonl" || fail "the same log gave different outputs"

# Without the overlay (the shipped configuration enables it nowhere): national rules, no aggregate events.
"$CONTACTD" replay --input "$W/in.jsonl" --output "$W/national.jsonl" 2>"$W/national.log" ||
  fail "replay without the overlay failed"
grep -q "aggregate_events=0 " "$W/national.log" || fail "aggregate events without the overlay"
grep -q '"obligationId":"dk-2020/first-within"' "$W/national.jsonl" || fail "no first-within without the overlay"
grep -q '"citizenId":"c".*"BREACH_STATUS_BREACHED"\|"BREACH_STATUS_BREACHED".*"citizenId":"c"' "$W/national.jsonl" ||
  fail "c's four-in-six was not breached without the overlay"

# Only its ten municipalities may enable it.
if "$CONTACTD" replay --overlays frikommune-nordjylland@851 --input "$W/in.jsonl" --output "$W/no.jsonl" 2>"$W/err"; then
  fail "frikommune-nordjylland@851 was accepted"
fi
expect_grep "overlay 'frikommune-nordjylland@851': frikommune-nordjylland may not be enabled for municipality 851" "$W/err"
expect_grep "allows only 810, 813, 860, 849, 825, 846, 773, 840, 787, 820 (allowed_municipalities)" "$W/err"
cp -r rules "$W/rules"
sed -i 's/{ "overlay": "frikommune-rebild", "municipalities": \["840"\] },/&\n    { "overlay": "frikommune-nordjylland", "municipalities": ["813", "101"] },/' "$W/rules/overlays.json"
grep -q '"frikommune-nordjylland", "municipalities"' "$W/rules/overlays.json" || fail "could not edit the copy of overlays.json"
if "$CONTACTD" rules check "$W/rules" 2>"$W/err2"; then fail "overlays.json enabling it for 101 was accepted"; fi
expect_grep "overlays.json:[0-9]*: overlays\[3\] field 'municipalities': 'frikommune-nordjylland' may not be enabled for municipality 101" "$W/err2"
exit 0
