# `contactd report` counts a hand-written population by hand-counted figures
# (docs/report.md, decisions.md D60–D69), from each source alike, with its filters.
#
# tests/fixtures/report-small.jsonl: dk-2026 KONTANTHJAELP, grace 0, warnings off, no
# overlays. Due dates from rules.md §5 dk-2026 (first-within: first contact + 7 days;
# four-in-six: add_months(start, 6) - 1, a member of kommune-share) and §3.1:
#   municipality 101
#     a1 JOBPARAT 07-01: first-within due 07-08, conversation 07-03        MET          Jul
#                        four-in-six due 12-31, 4th conversation 11-20     MET, held 4  Dec
#     a2 AKTIVITETSPARAT 07-06: first-within due 07-13, conversation 07-20 BREACHED     Jul
#     a3 AKTIVITETSPARAT 08-03: first-within due 08-10, conversation 08-05 MET          Aug
#     a4 JOBPARAT 08-03: first-within due 08-10, conversation 08-12        BREACHED     Aug
#                        four-in-six due 2027-02-02, Exemption 08-05       EXEMPTED     Feb 2027
#   municipality 147
#     b1 JOBPARAT 07-01: first-within due 07-08, conversation on 07-08     MET          Jul
#                        four-in-six due 12-31: 07-08, 09-01 PHONE, 10-01 GROUP (does not
#                        count): held 2 at 2027-01-01                      LAPSED       Dec
#     b2 AKTIVITETSPARAT 07-06: first-within due 07-13, breached at 07-14 (tick 07-20), then a
#                        conversation dated 07-10 recorded 07-25: RETRACTED, MET on time Jul
#     b3 AKTIVITETSPARAT 08-03: first-within due 08-10, no conversation    BREACHED     Aug
#     b4 JOBPARAT 08-03: first-within due 08-10, conversation 08-04        MET          Aug
#                        four-in-six due 2027-02-02, deregistered 09-01    CANCELLED    Feb 2027
#   a tick at 2027-04-02 decides everything: kommune-share 101 Q4 2026 {a1 MET}: 1 of
#   ceil(0.75 × 1) = 1 → MET; 101 Q1 2027 {a4 EXEMPTED, counted as not met} → BREACHED;
#   147 Q4 2026 {b1 LAPSED} → BREACHED.
# Share on time = met / (met + breached + lapsed); conversations = the held counts of the
# decided (held when MET or BREACHED or LAPSED was said).
source "$(dirname "$0")/lib.sh"
trap 'rc=$?; if [ $rc -eq 0 ]; then rm -rf "$W"; else echo "work files: $W" >&2; fi' EXIT
export CONTACTD_RULES=${CONTACTD_RULES:-$(cd "$(dirname "$0")/../.." && pwd)/rules}
LOG=tests/fixtures/report-small.jsonl
ENGINE=(--warn-days 0 --grace 0 --overlays none)

cat >"$W/expected.csv" <<'EOF'
kind,municipality,benefit,month,rule,due,met_on_time,breached,lapsed,exempted,cancelled,open,decided,share_on_time,retracted,conversations,conversations_per_obligation,late_changes,aggregate_id,key,period_start,period_end,status,members,met,required,held
total,,,,,12,6,3,1,1,1,0,10,0.6000,1,11,1.10,0,,,,,,,,,
obligations,101,KONTANTHJAELP,2026-07,,2,1,1,0,0,0,0,2,0.5000,0,1,0.50,0,,,,,,,,,
obligations,101,KONTANTHJAELP,2026-08,,2,1,1,0,0,0,0,2,0.5000,0,1,0.50,0,,,,,,,,,
obligations,101,KONTANTHJAELP,2026-12,,1,1,0,0,0,0,0,1,1.0000,0,4,4.00,0,,,,,,,,,
obligations,101,KONTANTHJAELP,2027-02,,1,0,0,0,1,0,0,0,,0,0,,0,,,,,,,,,
obligations,147,KONTANTHJAELP,2026-07,,2,2,0,0,0,0,0,2,1.0000,1,2,1.00,0,,,,,,,,,
obligations,147,KONTANTHJAELP,2026-08,,2,1,1,0,0,0,0,2,0.5000,0,1,0.50,0,,,,,,,,,
obligations,147,KONTANTHJAELP,2026-12,,1,0,0,1,0,0,0,1,0.0000,0,2,2.00,0,,,,,,,,,
obligations,147,KONTANTHJAELP,2027-02,,1,0,0,0,0,1,0,0,,0,0,,0,,,,,,,,,
rule,,,,dk-2026/first-within,8,5,3,0,0,0,0,8,0.6250,1,5,0.62,0,,,,,,,,,
rule,,,,dk-2026/four-in-six,4,1,0,1,1,1,0,2,0.5000,0,6,3.00,0,,,,,,,,,
aggregate,101,,2026-12,,,,,0,0,,,,,,,,,dk-2026/kommune-share,kommune:101,2026-10-01,2026-12-31,MET,1,1,1,1
aggregate,101,,2027-03,,,,,0,1,,,,,,,,,dk-2026/kommune-share,kommune:101,2027-01-01,2027-03-31,BREACHED,1,0,1,0
aggregate,147,,2026-12,,,,,1,0,,,,,,,,,dk-2026/kommune-share,kommune:147,2026-10-01,2026-12-31,BREACHED,1,0,1,0
EOF

same_csv() {  # what the report printed ($1) against what was counted by hand ($2)
  if ! cmp -s "$1" "$2"; then diff "$2" "$1" >&2; fail "$3: the report differs from the hand count (< hand, > report)"; fi
}

# ---- --input: the log replayed in-process ------------------------------------------------
"$CONTACTD" report --input "$LOG" "${ENGINE[@]}" -o "$W/input.csv" 2>"$W/input.err" || { cat "$W/input.err" >&2; fail "report --input failed"; }
same_csv "$W/input.csv" "$W/expected.csv" "--input, CSV"
expect_grep 'msg="report done" source=input records=25 skipped=0 outputs=35 instances=12 rows=8 undated=0 cohorts=3' "$W/input.err"
# no citizen id in what the command logs
! grep -Eq '\b[ab][1-4]\b' "$W/input.err" || fail "the log names a citizen: $(cat "$W/input.err")"

# ---- JSON: the same figures --------------------------------------------------------------
"$CONTACTD" report --input "$LOG" "${ENGINE[@]}" --format json -o "$W/input.json" 2>/dev/null || fail "report --format json failed"
/usr/bin/python3 - "$W/input.json" <<'EOF' || fail "the JSON report is not the hand count"
import json, sys
r = json.load(open(sys.argv[1]))
def check(what, got, want):
    if got != want:
        sys.exit("%s: %r, expected %r" % (what, got, want))
t = r["total"]
check("total", {k: t[k] for k in ("due", "met_on_time", "breached", "lapsed", "exempted", "cancelled", "open",
                                  "decided", "share_on_time", "retracted", "conversations")},
      {"due": 12, "met_on_time": 6, "breached": 3, "lapsed": 1, "exempted": 1, "cancelled": 1, "open": 0,
       "decided": 10, "share_on_time": 0.6, "retracted": 1, "conversations": 11})
check("source", r["source"], {"kind": "input", "name": "tests/fixtures/report-small.jsonl"})
check("rows", [(x["municipality"], x["benefit"], x["month"], x["due"], x["met_on_time"], x["breached"], x["lapsed"],
                x["exempted"], x["cancelled"], x["share_on_time"]) for x in r["rows"]],
      [("101", "KONTANTHJAELP", "2026-07", 2, 1, 1, 0, 0, 0, 0.5),
       ("101", "KONTANTHJAELP", "2026-08", 2, 1, 1, 0, 0, 0, 0.5),
       ("101", "KONTANTHJAELP", "2026-12", 1, 1, 0, 0, 0, 0, 1.0),
       ("101", "KONTANTHJAELP", "2027-02", 1, 0, 0, 0, 1, 0, None),
       ("147", "KONTANTHJAELP", "2026-07", 2, 2, 0, 0, 0, 0, 1.0),
       ("147", "KONTANTHJAELP", "2026-08", 2, 1, 1, 0, 0, 0, 0.5),
       ("147", "KONTANTHJAELP", "2026-12", 1, 0, 0, 1, 0, 0, 0.0),
       ("147", "KONTANTHJAELP", "2027-02", 1, 0, 0, 0, 0, 1, None)])
check("rules", [(x["rule"], x["due"], x["met_on_time"], x["breached"], x["share_on_time"]) for x in r["rules"]],
      [("dk-2026/first-within", 8, 5, 3, 0.625), ("dk-2026/four-in-six", 4, 1, 0, 0.5)])
check("aggregates", [(a["key"], a["period_start"], a["status"], a["members"], a["met"], a["lapsed"], a["exempted"],
                      a["required"], a["held"]) for a in r["aggregates"]],
      [("kommune:101", "2026-10-01", "MET", 1, 1, 0, 0, 1, 1),
       ("kommune:101", "2027-01-01", "BREACHED", 1, 0, 0, 1, 1, 0),
       ("kommune:147", "2026-10-01", "BREACHED", 1, 0, 1, 0, 1, 0)])
# the standing breaches are a2's, a4's and b3's first-within; b2's was retracted
check("examples", sorted((e["municipality"], e["due"], e["obligation_id"]) for e in r["examples"]),
      [("101", "2026-07-13", "dk-2026/first-within"), ("101", "2026-08-10", "dk-2026/first-within"),
       ("147", "2026-08-10", "dk-2026/first-within")])
for e in r["examples"]:
    if "BREACHED" not in e["explanation"]:
        sys.exit("an example explains no breach: %r" % e)
EOF

# ---- --outputs: replay's own output file gives the same report, JSON lines and binary -----
"$CONTACTD" replay --input "$LOG" "${ENGINE[@]}" --output "$W/out.jsonl" 2>/dev/null || fail "replay failed"
"$CONTACTD" replay --input "$LOG" "${ENGINE[@]}" --output "$W/out.pb" --output-format pb 2>/dev/null || fail "replay (pb) failed"
"$CONTACTD" report --outputs "$W/out.jsonl" -o "$W/outputs.csv" 2>"$W/outputs.err" || { cat "$W/outputs.err" >&2; fail "report --outputs failed"; }
same_csv "$W/outputs.csv" "$W/expected.csv" "--outputs (JSON lines)"
"$CONTACTD" report --outputs "$W/out.pb" -o "$W/outputs-pb.csv" 2>/dev/null || fail "report --outputs (pb) failed"
same_csv "$W/outputs-pb.csv" "$W/expected.csv" "--outputs (binary)"
"$CONTACTD" report --outputs - <"$W/out.jsonl" >"$W/stdin.csv" 2>/dev/null || fail "report --outputs - failed"
same_csv "$W/stdin.csv" "$W/expected.csv" "--outputs from stdin"
# JSON and HTML alike, but for the source they name
"$CONTACTD" report --outputs "$W/out.jsonl" --format json -o "$W/outputs.json" 2>/dev/null || fail "report --outputs --format json failed"
diff <(sed 1d "$W/input.json") <(sed 1d "$W/outputs.json") >&2 || fail "--outputs and --input give different JSON"

# The live topics interleave the deadline and the breach streams any way: the report must
# not depend on it (D61). Every deadline event first, then every breach, then aggregates:
grep '^{"deadline"' "$W/out.jsonl" >"$W/split.jsonl"
grep '^{"breach"' "$W/out.jsonl" >>"$W/split.jsonl"
grep '^{"aggregate"' "$W/out.jsonl" >>"$W/split.jsonl"
"$CONTACTD" report --outputs "$W/split.jsonl" -o "$W/split.csv" 2>/dev/null || fail "report of the split streams failed"
same_csv "$W/split.csv" "$W/expected.csv" "deadline and breach streams apart"
# … and breaches first
{ grep '^{"breach"' "$W/out.jsonl"; grep -v '^{"breach"' "$W/out.jsonl"; } >"$W/split2.jsonl"
"$CONTACTD" report --outputs "$W/split2.jsonl" -o "$W/split2.csv" 2>/dev/null || fail "report of the split streams failed"
same_csv "$W/split2.csv" "$W/expected.csv" "breaches before deadlines"

# ---- filters ---------------------------------------------------------------------------------
total_of() { grep '^total,' "$1"; }
check_total() {  # NAME WANT ARGS…
  local name=$1 want=$2; shift 2
  "$CONTACTD" report --outputs "$W/out.jsonl" "$@" -o "$W/f.csv" 2>"$W/f.err" || { cat "$W/f.err" >&2; fail "$name: report failed"; }
  [ "$(total_of "$W/f.csv")" = "$want" ] || fail "$name: total is '$(total_of "$W/f.csv")', expected '$want'"
}
# 147: b1, b2, b4 first-within met; b3 breached; b1 four-in-six lapsed; b4 cancelled: 3 of 5
check_total "--municipality 147" "total,,,,,6,3,1,1,0,1,0,5,0.6000,1,5,1.00,0,,,,,,,,," --municipality 147
[ "$(grep -c '^obligations,147,' "$W/f.csv")" -eq 4 ] && ! grep -q '^obligations,101,' "$W/f.csv" || fail "--municipality 147 must keep 147's rows only"
[ "$(grep '^aggregate,' "$W/f.csv" | cut -d, -f20 | tr '\n' ' ')" = "kommune:147 " ] || fail "--municipality 147 must keep 147's cohort only"
check_total "--municipality 101,147" "$(total_of "$W/expected.csv")" --municipality 101,147
check_total "--benefit DAGPENGE" "total,,,,,0,0,0,0,0,0,0,0,,0,0,,0,,,,,,,,," --benefit DAGPENGE
[ "$(wc -l <"$W/f.csv")" -eq 2 ] || fail "--benefit DAGPENGE must leave no rows and no cohorts"
check_total "--benefit kontanthjaelp" "$(total_of "$W/expected.csv")" --benefit kontanthjaelp
check_total "--ruleset dk-2026/four-in-six" "total,,,,,4,1,0,1,1,1,0,2,0.5000,0,6,3.00,0,,,,,,,,," --ruleset dk-2026/four-in-six
! grep -q '^aggregate,' "$W/f.csv" || fail "--ruleset dk-2026/four-in-six names no aggregate"
check_total "--ruleset dk-2026" "$(total_of "$W/expected.csv")" --ruleset dk-2026
check_total "--ruleset dk-2024" "total,,,,,0,0,0,0,0,0,0,0,,0,0,,0,,,,,,,,," --ruleset dk-2024
# August: a3, b4 met, a4, b3 breached
check_total "--from/--to 2026-08" "total,,,,,4,2,2,0,0,0,0,4,0.5000,0,2,0.50,0,,,,,,,,," --from 2026-08 --to 2026-08
! grep -q '^aggregate,' "$W/f.csv" || fail "no cohort's period ends in August"
check_total "--from 2026-08-10 --to 2026-08-10" "total,,,,,4,2,2,0,0,0,0,4,0.5000,0,2,0.50,0,,,,,,,,," --from 2026-08-10 --to 2026-08-10
# the four-in-six months, and the three cohorts, whose periods end 2026-12-31 and 2027-03-31
check_total "--from 2026-12-31" "total,,,,,4,1,0,1,1,1,0,2,0.5000,0,6,3.00,0,,,,,,,,," --from 2026-12-31 --to 2027-03-31
[ "$(grep -c '^aggregate,' "$W/f.csv")" -eq 3 ] || fail "--from 2026-12-31 --to 2027-03-31 must keep the three cohorts"
check_total "combined" "total,,,,,2,1,1,0,0,0,0,2,0.5000,0,1,0.50,0,,,,,,,,," --municipality 147 --benefit KONTANTHJAELP --ruleset dk-2026/first --from 2026-08
# filters apply to --input as to --outputs
"$CONTACTD" report --input "$LOG" "${ENGINE[@]}" --municipality 147 -o "$W/fi.csv" 2>/dev/null || fail "report --input --municipality failed"
"$CONTACTD" report --outputs "$W/out.jsonl" --municipality 147 -o "$W/fo.csv" 2>/dev/null || fail "report --outputs --municipality failed"
cmp -s "$W/fi.csv" "$W/fo.csv" || fail "--municipality gives different reports from --input and --outputs"

# ---- bad records in an output file are skipped and said, with their position -------------------
{ head -3 "$W/out.jsonl"; echo 'this is not json'; echo '{"deadline":{"status":"DEADLINE_STATUS_MET","obligation":{"obligationId":"x/y","periodStart":"2026-07-01"}}}'; tail -n +4 "$W/out.jsonl"; } >"$W/bad.jsonl"
"$CONTACTD" report --outputs "$W/bad.jsonl" -o "$W/bad.csv" 2>"$W/bad.err" || { cat "$W/bad.err" >&2; fail "bad records must be skipped, not fail the report"; }
same_csv "$W/bad.csv" "$W/expected.csv" "an output file with bad records"
expect_grep 'msg="record skipped".*position="record 4 (line 4)"' "$W/bad.err"
expect_grep "record 5 (line 5)\".*field 'citizen_id' is empty" "$W/bad.err"
expect_grep 'records=37 skipped=2' "$W/bad.err"

# ---- options -------------------------------------------------------------------------------------
refused() {  # WHAT EXPECTED-GREP ARGS…
  local what=$1 want=$2; shift 2
  if "$CONTACTD" report "$@" >"$W/r.out" 2>"$W/r.err"; then fail "$what must be refused"; fi
  expect_grep "$want" "$W/r.err"
}
refused "--format pdf" 'option=--format value=pdf expected="csv, json or html"' --outputs "$W/out.jsonl" --format pdf
refused "--municipality abc" 'option=--municipality value=abc' --outputs "$W/out.jsonl" --municipality abc
refused "--benefit foo" 'option=--benefit value=foo' --outputs "$W/out.jsonl" --benefit foo
refused "--from 2026-13" 'option=--from value=2026-13' --outputs "$W/out.jsonl" --from 2026-13
refused "--from after --to" 'option=--from expected="not after --to"' --outputs "$W/out.jsonl" --from 2027-01 --to 2026-12
refused "no source" 'missing option' --format csv
refused "two sources" 'more than one source' --input "$LOG" --outputs "$W/out.jsonl"
refused "engine options without --input" 'engine options apply to --input only' --outputs "$W/out.jsonl" --grace 3
refused "--until without --input" 'until applies to --input only' --outputs "$W/out.jsonl" --until 2030-01-01T00:00:00Z
refused "--max-instances 0" 'option=--max-instances value=0' --outputs "$W/out.jsonl" --max-instances 0
# a bound is an error, never a wrong count
refused "more instances than --max-instances" 'more than 5 obligation instances (--max-instances)' --outputs "$W/out.jsonl" --max-instances 5
# ---- the settle horizon (D69) --------------------------------------------------------------------
# tests/fixtures/report-settle.jsonl: s1 (147, AKTIVITETSPARAT 07-06) first-within due 07-13, breached at
# the 07-20 tick; s2 registers 09-01 and meets its own 09-03 (the stream clock reaches 09-03); then a
# conversation of s1 dated 07-10 is recorded 09-05: RETRACTED and MET, 54 days after the due date.
SETTLE=tests/fixtures/report-settle.jsonl
row_of() { grep "^obligations,147,KONTANTHJAELP,$2," "$1" | cut -d, -f6-18; }   # due … late_changes
# never settled: the retraction counts, the month is met (and retracted)
"$CONTACTD" report --input "$SETTLE" "${ENGINE[@]}" --settle-days 0 -o "$W/s0.csv" 2>"$W/s0.err" || { cat "$W/s0.err" >&2; fail "--settle-days 0 failed"; }
[ "$(row_of "$W/s0.csv" 2026-07)" = "1,1,0,0,0,0,0,1,1.0000,1,1,1.00,0" ] || fail "--settle-days 0: 2026-07 is '$(row_of "$W/s0.csv" 2026-07)', expected met"
# the default horizon (180 days) is far: the same figures
"$CONTACTD" report --input "$SETTLE" "${ENGINE[@]}" -o "$W/s180.csv" 2>/dev/null || fail "report of $SETTLE failed"
cmp -s "$W/s0.csv" "$W/s180.csv" || fail "the default horizon must not settle $SETTLE"
# 30 days: s1 was settled breached when the clock passed 08-12; the retraction (its RETRACTED and its MET,
# one change) is a late change of July, not lost, not counted twice
for src in "--input $SETTLE ${ENGINE[*]}" "--outputs $W/settle-out.jsonl"; do
  [ -s "$W/settle-out.jsonl" ] || "$CONTACTD" replay --input "$SETTLE" "${ENGINE[@]}" --output "$W/settle-out.jsonl" 2>/dev/null
  # shellcheck disable=SC2086
  "$CONTACTD" report $src --settle-days 30 -o "$W/s30.csv" 2>"$W/s30.err" || { cat "$W/s30.err" >&2; fail "--settle-days 30 ($src) failed"; }
  [ "$(row_of "$W/s30.csv" 2026-07)" = "1,0,1,0,0,0,0,1,0.0000,0,0,0.00,1" ] || fail "--settle-days 30 ($src): 2026-07 is '$(row_of "$W/s30.csv" 2026-07)', expected breached with one late change"
  [ "$(row_of "$W/s30.csv" 2026-09)" = "1,1,0,0,0,0,0,1,1.0000,0,1,1.00,0" ] || fail "--settle-days 30 ($src): 2026-09 is '$(row_of "$W/s30.csv" 2026-09)'"
  [ "$(grep '^total,' "$W/s30.csv" | cut -d, -f6,18)" = "2,1" ] || fail "--settle-days 30 ($src): total is '$(grep '^total,' "$W/s30.csv")'"
  expect_grep 'instances=2 rows=2 undated=0 cohorts=0 settled=1 late_changes=1' "$W/s30.err"
done
refused "--settle-days -1" 'option=--settle-days value=-1' --outputs "$W/out.jsonl" --settle-days -1

# Memory: the same 2,000 citizens over 2 years, and over 6 (three consecutive 2-year logs of those ids,
# other seeds). synth --years spreads a fixed number of citizens over its span, so it does not make a
# longer log of one population. The instance table's peak (--stats) must not grow with the log under the
# default horizon (< 1.5 x), and does grow without one (> 2 x).
for i in 1 2 3; do
  "$CONTACTD" synth --citizens 2000 --years 2 --from $((2017 + 2 * i))-01-01 --seed "$i" --output "$W/mem$i.pb" 2>/dev/null || fail "synth failed"
done
cat "$W/mem1.pb" "$W/mem2.pb" "$W/mem3.pb" >"$W/mem6y.pb"
peak() {  # LOG SETTLE-DAYS
  "$CONTACTD" report --input "$1" --settle-days "$2" --stats -o /dev/null 2>"$W/peak.err" || { cat "$W/peak.err" >&2; fail "report --stats of $1 failed"; }
  sed -n 's/.*msg="report stats".* peak_instances=\([0-9]*\).*/\1/p' "$W/peak.err"
}
p2=$(peak "$W/mem1.pb" 180) p6=$(peak "$W/mem6y.pb" 180) q2=$(peak "$W/mem1.pb" 0) q6=$(peak "$W/mem6y.pb" 0)
echo "test_report: peak instances, 2 years / 6 years: settle 180 days $p2 / $p6, never $q2 / $q6" >&2
[ -n "$p2" ] && [ -n "$q6" ] || fail "--stats logs no peak_instances"
[ $((p6 * 2)) -lt $((p2 * 3)) ] || fail "with the default horizon the peak grew with the log: $p2 -> $p6"
[ "$q6" -gt $((q2 * 2)) ] || fail "without a horizon the peak should grow with the log: $q2 -> $q6"
"$CONTACTD" report --help >"$W/help" || fail "--help failed"
expect_grep 'usage: contactd report' "$W/help"
expect_grep 'municipality LIST' "$W/help"
"$CONTACTD" help | grep -q '^  report ' || fail "contactd help must list report"
echo "test_report: ok"
