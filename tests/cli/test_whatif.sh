# contactd whatif: one log under two rule configurations, A and B.
#
# whatif-rebild.jsonl: DAGPENGE from Monday 2018-01-08 (dk-2015), advanced to
# 2018-04-01. A: national rules only (--overlays none); B: frikommune-rebild
# enabled for Rebild (840): joint-1 (L = 42, due 2018-02-18) is replaced by
# joint-ordinal {2} (due week 10, 2018-03-18; counts individual conversations,
# D33), and GROUP counts toward the remaining national obligations
# (spec/rules.md §5, S7; scenarios 007, 031, 032). schedule-1 is due
# 2018-02-18, schedule-2 2018-03-18 (D_k + 14 days).
#   r1 (840)  c1 01-22 individual, c2 02-26 joint (the 2nd):
#             A joint-1 BREACHED (no joint by 02-18); B joint-ordinal MET.
#   r2 (840)  c1 01-15 joint (the 1st), c2 02-01 individual:
#             A joint-1 MET; B joint-ordinal BREACHED (no. 2 is not joint, D14).
#   r3 (840)  c1 01-20 GROUP, c2 03-01 individual and joint:
#             A schedule-1 and -2 BREACHED (GROUP does not count; c2 is the 1st,
#             after 02-18), joint-1 BREACHED; B schedule-1 MET (c1), schedule-2
#             MET (c2 by 03-18), joint-ordinal BREACHED (c2 is individual no. 1).
#   r4 (101)  r1's conversations in a municipality without the overlay: alike.
#   r5 (840)  a period from 2017-08-07, before the overlay's first day: alike.
source "$(dirname "$0")/lib.sh"
R=tests/fixtures/whatif-rebild.jsonl
T=tests/fixtures/whatif-transition.jsonl
REB=(--overlays none --b-overlays frikommune-rebild@840 --until 2018-04-01T00:00:00Z)

"$CONTACTD" whatif --input "$R" "${REB[@]}" --format json >"$W/reb.json" 2>"$W/reb.err" || fail "whatif (rebild, json)"
/usr/bin/python3 - "$W/reb.json" <<'EOF' || fail "the Rebild differences are not the ones written from the spec"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["records"] == 14 and d["skipped"] == 0 and d["citizens"] == 5, d
assert d["optionsA"] == "--overlays none", d["optionsA"]
assert d["optionsB"] == "--overlays frikommune-rebild@840", d["optionsB"]
rows = {(r["obligationId"], r["municipality"]): (r["breachesA"], r["breachesB"], r["breachesDiff"],
        r["lapsesA"], r["lapsesB"], r["lapsesDiff"], r["citizens"]) for r in d["rows"]}
want = {
    ("dk-2015/joint-1", "840"): (2, 0, -2, 0, 0, 0, 3),                  # r1, r3 breached; r1-r3 differ
    ("dk-2015/schedule-1", "840"): (1, 0, -1, 0, 0, 0, 1),               # r3
    ("dk-2015/schedule-2", "840"): (2, 1, -1, 0, 0, 0, 1),               # r3, and r5's under both
    ("frikommune-rebild/joint-ordinal", "840"): (0, 2, 2, 0, 0, 0, 3),   # r2, r3
}
assert rows == want, rows
t = d["total"]
assert t["breachesDiff"] == -2 and t["lapsesA"] == 0 and t["lapsesB"] == 0 and t["citizens"] == 3, t
assert d["citizensDiffering"] == 3 and d["citizensListed"] == 3, d
got = {c["citizenId"]: sorted((o["obligationId"], o["municipality"], o["periodStart"], o["statusA"], o["statusB"])
                              for o in c["obligations"]) for c in d["differing"]}
P = "2018-01-08"
assert got == {
    "r1": [("dk-2015/joint-1", "840", P, "BREACHED", "NOT_OPENED"),
           ("frikommune-rebild/joint-ordinal", "840", P, "NOT_OPENED", "MET")],
    "r2": [("dk-2015/joint-1", "840", P, "MET", "NOT_OPENED"),
           ("frikommune-rebild/joint-ordinal", "840", P, "NOT_OPENED", "BREACHED")],
    "r3": [("dk-2015/joint-1", "840", P, "BREACHED", "NOT_OPENED"),
           ("dk-2015/schedule-1", "840", P, "BREACHED", "MET"),
           ("dk-2015/schedule-2", "840", P, "BREACHED", "MET"),
           ("frikommune-rebild/joint-ordinal", "840", P, "NOT_OPENED", "BREACHED")],
}, got
assert [c["citizenId"] for c in d["differing"]] == ["r1", "r2", "r3"]   # by citizen id
for c in d["differing"]:
    assert all(o["reasonA"] is None and o["reasonB"] is None for o in c["obligations"])
    i = c["citizenId"]
    assert c["explainA"] == f"contactd explain {i} --input tests/fixtures/whatif-rebild.jsonl --overlays none --until 2018-04-01T00:00:00Z", c
    assert c["explainB"] == f"contactd explain {i} --input tests/fixtures/whatif-rebild.jsonl --overlays frikommune-rebild@840 --until 2018-04-01T00:00:00Z", c
EOF
expect_grep 'msg="what-if done" records=14 skipped=0 refused_a=0 refused_b=0 citizens=5 citizens_differing=3' "$W/reb.err"
# citizen ids are the report's (stdout), never the log's
if grep -wE 'r[1-5]' "$W/reb.err"; then fail "a citizen id was logged"; fi

# The same as text: the table's rows that differ, the total, and each citizen with how to explain it.
"$CONTACTD" whatif --input "$R" "${REB[@]}" >"$W/reb.txt" 2>/dev/null || fail "whatif (rebild, text)"
cat >"$W/reb.want" <<'EOF'
what-if over tests/fixtures/whatif-rebild.jsonl: 14 records (0 skipped), 5 citizens
  A: --overlays none
  B: --overlays frikommune-rebild@840
  both advanced to 2018-04-01T00:00:00Z

breaches and lapses by obligation and municipality (where A and B differ)
obligation                      muni  breaches A breaches B   diff  lapses A  lapses B   diff  citizens
dk-2015/joint-1                 840            2          0     -2         0         0      0         3
dk-2015/schedule-1              840            1          0     -1         0         0      0         1
dk-2015/schedule-2              840            2          1     -1         0         0      0         1
frikommune-rebild/joint-ordinal 840            0          2     +2         0         0      0         3
total                                         11          9     -2         0         0      0         3

citizens who differ: 3 (all listed)
r1 (municipality 840)
  dk-2015/joint-1: BREACHED under A, not opened under B
  frikommune-rebild/joint-ordinal: not opened under A, MET under B
  under A: contactd explain r1 --input tests/fixtures/whatif-rebild.jsonl --overlays none --until 2018-04-01T00:00:00Z
  under B: contactd explain r1 --input tests/fixtures/whatif-rebild.jsonl --overlays frikommune-rebild@840 --until 2018-04-01T00:00:00Z
r2 (municipality 840)
  dk-2015/joint-1: MET under A, not opened under B
  frikommune-rebild/joint-ordinal: not opened under A, BREACHED under B
  under A: contactd explain r2 --input tests/fixtures/whatif-rebild.jsonl --overlays none --until 2018-04-01T00:00:00Z
  under B: contactd explain r2 --input tests/fixtures/whatif-rebild.jsonl --overlays frikommune-rebild@840 --until 2018-04-01T00:00:00Z
r3 (municipality 840)
  dk-2015/joint-1: BREACHED under A, not opened under B
  dk-2015/schedule-1: BREACHED under A, MET under B
  dk-2015/schedule-2: BREACHED under A, MET under B
  frikommune-rebild/joint-ordinal: not opened under A, BREACHED under B
  under A: contactd explain r3 --input tests/fixtures/whatif-rebild.jsonl --overlays none --until 2018-04-01T00:00:00Z
  under B: contactd explain r3 --input tests/fixtures/whatif-rebild.jsonl --overlays frikommune-rebild@840 --until 2018-04-01T00:00:00Z
EOF
diff -u "$W/reb.want" "$W/reb.txt" >&2 || fail "the text report differs from the one written by hand"

# csv: the same figures, one record per row, the total, and one per differing obligation of a citizen
"$CONTACTD" whatif --input "$R" "${REB[@]}" --format csv --output "$W/reb.csv" 2>/dev/null || fail "whatif (csv)"
/usr/bin/python3 - "$W/reb.csv" "$W/reb.json" <<'EOF' || fail "the csv report does not say what the json one says"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
d = json.load(open(sys.argv[2]))
assert list(rows[0].keys()) == ["record", "obligation_id", "municipality", "breaches_a", "breaches_b", "breaches_diff",
    "lapses_a", "lapses_b", "lapses_diff", "citizens", "citizen_id", "period_start", "status_a", "reason_a",
    "status_b", "reason_b"], rows[0].keys()
table = [(r["obligation_id"], r["municipality"], int(r["breaches_a"]), int(r["breaches_b"]), int(r["lapses_a"]),
          int(r["lapses_b"]), int(r["citizens"])) for r in rows if r["record"] == "row"]
assert table == [(r["obligationId"], r["municipality"], r["breachesA"], r["breachesB"], r["lapsesA"], r["lapsesB"],
                  r["citizens"]) for r in d["rows"]], table
total = [r for r in rows if r["record"] == "total"]
assert len(total) == 1 and int(total[0]["breaches_diff"]) == -2 and int(total[0]["citizens"]) == 3, total
cit = sorted((r["citizen_id"], r["obligation_id"], r["status_a"], r["status_b"]) for r in rows if r["record"] == "citizen")
assert cit == sorted((c["citizenId"], o["obligationId"], o["statusA"], o["statusB"])
                     for c in d["differing"] for o in c["obligations"]), cit
EOF

# B and A swapped: the same citizens, every difference the other way round
"$CONTACTD" whatif --input "$R" --overlays frikommune-rebild@840 --b-overlays none --until 2018-04-01T00:00:00Z \
  --format json >"$W/swap.json" 2>/dev/null || fail "whatif (swapped)"
/usr/bin/python3 - "$W/reb.json" "$W/swap.json" <<'EOF' || fail "swapping A and B does not swap the report"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
ra = {(r["obligationId"], r["municipality"]): r for r in a["rows"]}
rb = {(r["obligationId"], r["municipality"]): r for r in b["rows"]}
assert ra.keys() == rb.keys()
for k in ra:
    assert (ra[k]["breachesA"], ra[k]["breachesB"], ra[k]["breachesDiff"]) == \
           (rb[k]["breachesB"], rb[k]["breachesA"], -rb[k]["breachesDiff"]), k
    assert ra[k]["citizens"] == rb[k]["citizens"]
sa = {(c["citizenId"], o["obligationId"], o["statusA"], o["statusB"]) for c in a["differing"] for o in c["obligations"]}
sb = {(c["citizenId"], o["obligationId"], o["statusB"], o["statusA"]) for c in b["differing"] for o in c["obligations"]}
assert sa == sb
EOF

# Read from stdin in another order (the log reversed): the same standings, the same report;
# the explain lines then name no file (stdin cannot be read again)
tac "$R" | "$CONTACTD" whatif "${REB[@]}" --format json >"$W/rev.json" 2>/dev/null || fail "whatif (stdin)"
/usr/bin/python3 - "$W/reb.json" "$W/rev.json" <<'EOF' || fail "the report depends on the log's order"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a["rows"] == b["rows"] and a["total"] == b["total"]
strip = lambda d: [{k: v for k, v in c.items() if not k.startswith("explain")} for c in d["differing"]]
assert strip(a) == strip(b)
assert b["differing"][0]["explainA"] == "contactd explain r1 --input LOG --overlays none --until 2018-04-01T00:00:00Z"
EOF

# --max-citizens: the first N by citizen id, and the total
"$CONTACTD" whatif --input "$R" "${REB[@]}" --max-citizens 1 >"$W/max.txt" 2>/dev/null || fail "--max-citizens 1"
expect_grep '^citizens who differ: 3$' "$W/max.txt"
expect_grep '^(the first 1 by citizen id listed: --max-citizens)$' "$W/max.txt"
expect_grep '^r1 (municipality 840)$' "$W/max.txt"
if grep -q '^r2 ' "$W/max.txt"; then fail "--max-citizens 1 listed a second citizen"; fi
"$CONTACTD" whatif --input "$R" "${REB[@]}" --max-citizens 0 --format json 2>/dev/null |
  /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert (d["citizensDiffering"], d["citizensListed"], d["differing"]) == (3, 0, [])' ||
  fail "--max-citizens 0"

# --all-rows: also the rows where A and B agree (r4's joint-1 in 101, r5's later slots)
"$CONTACTD" whatif --input "$R" "${REB[@]}" --all-rows >"$W/all.txt" 2>/dev/null || fail "--all-rows"
expect_grep '^dk-2015/joint-1 *101 *1 *1 *0 *0 *0 *0 *0$' "$W/all.txt"
expect_grep '^dk-2015/schedule-6 *840 *1 *1 *0 ' "$W/all.txt"
if grep -q '101' "$W/reb.txt"; then fail "a row where A and B agree is shown without --all-rows"; fi

# A and B configured alike: said, and nothing differs
"$CONTACTD" whatif --input "$R" --overlays none --b-overlays none >"$W/alike.txt" 2>"$W/alike.err" || fail "alike"
expect_grep 'level=warn msg="A and B are configured alike: nothing can differ"' "$W/alike.err"
expect_grep '^citizens who differ: 0$' "$W/alike.txt"

# A record neither side can read is skipped once, for both
{ cat "$R"; echo 'not json'; } >"$W/bad.jsonl"
"$CONTACTD" whatif --input "$W/bad.jsonl" "${REB[@]}" >"$W/bad.txt" 2>"$W/bad.err" || fail "a bad record must be skipped"
expect_grep 'position="record 15 (line 15)"' "$W/bad.err"
expect_grep '^what-if over .*: 15 records (1 skipped), 5 citizens$' "$W/bad.txt"
expect_grep '^citizens who differ: 3 (all listed)$' "$W/bad.txt"

# --law-transition: a log of periods around 2026-07-01 (dk-2024 → dk-2026), advanced to 2027-03-01.
# Under commencement the reform reaches exactly the periods running on that day:
#   t-across-dp   DAGPENGE from 2026-03-02, running          differs
#   t-across-kh   KONTANTHJAELP JOBPARAT from 2026-05-04     differs
#   t-paused-dp   DAGPENGE from 2026-01-05, paused 04-01     differs (a paused period still runs)
#   t-ended-dp    DAGPENGE 2025-09-01, ended 2026-03-02      alike
#   t-ended-kh    KONTANTHJAELP 2025-01-06 … 2025-12-01      alike
#   t-running-rf  RESSOURCEFORLOEB from 2026-02-02, running  alike (dk-2026 gives it nothing: it keeps dk-2024, D42)
#   t-after-dp    DAGPENGE from 2026-08-03 (dk-2026 anyway)  alike
# t-across-kh: dk-2024's four-in-six (due 2026-11-03, one conversation) is BREACHED under A;
# under B it is CANCELLED (LAW_CHANGED) on 07-01 and dk-2026's four-in-six, a share member, LAPSES.
# t-across-dp: jobcenter-three ((3, 6 months], to 2026-09-01) BREACHED under A, CANCELLED under B.
TR=(--until 2027-03-01T00:00:00Z)
"$CONTACTD" whatif --input "$T" "${TR[@]}" --b-law-transition commencement --format json >"$W/tr.json" 2>"$W/tr.err" ||
  fail "whatif (law transition)"
"$CONTACTD" whatif --input "$T" "${TR[@]}" --law-transition commencement --b-law-transition period-start \
  --format json >"$W/tr-swap.json" 2>/dev/null || fail "whatif (law transition, swapped)"
/usr/bin/python3 - "$W/tr.json" "$W/tr-swap.json" <<'EOF' || fail "the law transition's differences"
import json, sys
d, s = (json.load(open(p)) for p in sys.argv[1:])
assert d["optionsA"] == "" and d["optionsB"] == "--law-transition commencement", d
ids = [c["citizenId"] for c in d["differing"]]
assert ids == ["t-across-dp", "t-across-kh", "t-paused-dp"], ids
assert [c["citizenId"] for c in s["differing"]] == ids
ob = {(c["citizenId"], o["obligationId"]): (o["statusA"], o["reasonA"], o["statusB"], o["reasonB"])
      for c in d["differing"] for o in c["obligations"]}
assert ob[("t-across-kh", "dk-2024/four-in-six")] == ("BREACHED", None, "CANCELLED", "LAW_CHANGED"), ob
assert ob[("t-across-kh", "dk-2026/four-in-six")] == ("NOT_OPENED", None, "LAPSED", None), ob
assert ob[("t-across-dp", "dk-2024/jobcenter-three")] == ("BREACHED", None, "CANCELLED", "LAW_CHANGED"), ob
assert all(k[1].startswith("dk-2024/") and v[2:] == ("CANCELLED", "LAW_CHANGED") or
           k[1].startswith("dk-2026/") and v[0] == "NOT_OPENED" for k, v in ob.items()), ob
assert not any(k[1] == "dk-2026/first-within" for k in ob)   # not opened for running periods
rows = {(r["obligationId"], r["municipality"]): r for r in d["rows"]}
assert (rows[("dk-2024/four-in-six", "101")]["breachesDiff"], rows[("dk-2026/four-in-six", "101")]["lapsesDiff"]) == (-1, 1)
assert d["differing"][0]["explainB"].endswith(" --law-transition commencement --until 2027-03-01T00:00:00Z")
EOF
if grep -E 't-(across|paused|ended|running|after)' "$W/tr.err"; then fail "a citizen id was logged"; fi

# Errors: one line naming the option (a --b- one by its own name), status 1, nothing on stdout
bad() {   # bad EXPECTED-ERROR-LINE ARGS…
  local want=$1; shift
  if "$CONTACTD" whatif --input "$R" "$@" >"$W/bad.out" 2>"$W/bad.err"; then fail "accepted: $*"; fi
  [ "$(grep -c 'level=error' "$W/bad.err")" -eq 1 ] || { cat "$W/bad.err" >&2; fail "not one error line: $*"; }
  expect_grep "$want" "$W/bad.err"
  [ ! -s "$W/bad.out" ] || fail "a report was written although the options were refused: $*"
}
bad 'option=--b-grace value=61 expected="0 … 60"' --b-grace 61
bad 'option=--b-law-transition value=sometimes expected="period-start or commencement"' --b-law-transition sometimes
bad 'option=--b-max-events value=0 expected="1 … 10000"' --b-max-events 0
bad 'option=--b-warn-days value=x' --b-warn-days x
bad 'option=--b-overlays value=nosuch@840 error=' --b-overlays nosuch@840
bad 'option=--b-overlays value=frikommune-nordjylland@101 error=.*allowed_municipalities' --b-overlays frikommune-nordjylland@101
bad 'side=B option=--b-rules rules=/nonexistent' --b-rules /nonexistent
bad 'side=B option=--b-overlays-config' --b-overlays-config "$W/nonexistent.json"
bad 'option=--overlays value=nosuch@840' --overlays nosuch@840
bad 'option=--grace value=-1' --grace -1
bad 'option=--format value=xml expected="text, json or csv"' --format xml
bad 'option=--max-citizens value=-1' --max-citizens -1
bad 'option=--until value=yesterday' --until yesterday
# --max-record-bytes is the reading's, once for both: there is no --b- form
if "$CONTACTD" whatif --input "$R" --b-max-record-bytes 10 >/dev/null 2>"$W/mr.err"; then fail "--b-max-record-bytes accepted"; fi
expect_grep "unrecognized option '--b-max-record-bytes'" "$W/mr.err"
# A binary log is read as replay reads it; one whose framing is lost gives no report
# (a comparison of half a log would pass for a whole one), status 1
"$CONTACTD" synth --citizens 20 --seed 3 --format pb --output "$W/full.bin" 2>/dev/null
"$CONTACTD" whatif --input "$W/full.bin" --b-grace 5 >"$W/pb.txt" 2>/dev/null || fail "whatif on a binary log"
expect_grep '^citizens who differ: ' "$W/pb.txt"
head -c $(($(stat -c %s "$W/full.bin") - 7)) "$W/full.bin" >"$W/cut.bin"
if "$CONTACTD" whatif --input "$W/cut.bin" --b-grace 5 >"$W/cut.txt" 2>"$W/cut.err"; then fail "a truncated log must fail"; fi
expect_grep 'framing lost' "$W/cut.err"
[ ! -s "$W/cut.txt" ] || fail "a report was written for a log whose framing was lost"
if "$CONTACTD" whatif --input "$W/nonexistent.jsonl" 2>"$W/nf.err"; then fail "a missing input must fail"; fi
expect_grep 'cannot open input' "$W/nf.err"
echo "test_whatif: ok"
