# `contactd explain` on the spec's worked scenarios S1–S11 (rules.md §7): the
# figures below are the spec's, written by hand (due dates, statuses, which
# conversation did not count and why, the restart on a benefit shift, the
# merge); the logs are the scenario files' inputs as the scenario runner
# exports them (tests/scenarios/001…007 are S1–S7, 072 S8, 073 S9, 074 S11),
# and S10's members are tests/fixtures/explain-s10.jsonl. Then the same
# explanation from the live processor's Redis: one log through `contactd run`
# (event clock), and every citizen's --json from Redis equals --json from the
# log.
source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CONTACTD_RULES=${CONTACTD_RULES:-$HERE/../../rules}
SCN=${CD_SCENARIO_BIN:-$(dirname "$CONTACTD")/tests/test_scenarios}
[ -x "$SCN" ] || fail "no scenario runner at $SCN"
mkdir -p "$W/exp"
CD_SCENARIOS="$HERE/../scenarios" CD_RULES="$CONTACTD_RULES" CD_SCENARIO_EXPORT="$W/exp" "$SCN" >/dev/null 2>&1 ||
  fail "the scenario runner failed while exporting"
FIX=$HERE/../fixtures

# explain NAME CITIZEN LOG [options…]: $W/NAME.json and $W/NAME.txt, stderr in $W/NAME.log
explain() {
  local name=$1 cid=$2 log=$3; shift 3
  "$CONTACTD" explain "$cid" --input "$log" --json "$@" >"$W/$name.json" 2>"$W/$name.log" ||
    { cat "$W/$name.log" >&2; fail "explain $name failed"; }
  "$CONTACTD" explain "$cid" --input "$log" "$@" >"$W/$name.txt" 2>>"$W/$name.log" ||
    { cat "$W/$name.log" >&2; fail "explain $name (text) failed"; }
  if grep -q -- "$cid" "$W/$name.log"; then fail "explain $name wrote the citizen id to its log"; fi
}
# scn NAME NNN CITIZEN [options…]: explain a scenario's citizen with the scenario's engine options
scn() {
  local name=$1 n=$2 cid=$3; shift 3
  # shellcheck disable=SC2046
  explain "$name" "$n.$cid" "$W/exp/$n.jsonl" $(cat "$W/exp/$n.flags") "$@"
}

# jcheck NAME EXPR…: each Python expression holds of the JSON (helpers: ob, cv, tl, per, notopened)
jcheck() {
  local name=$1; shift
  /usr/bin/python3 - "$W/$name.json" "$@" <<'PY' || fail "explain $name: the expectations above do not hold"
import json, sys
d = json.load(open(sys.argv[1]))
def per(i): return d["periods"][i]
def ob(oid, period=None):
    ps = d["periods"] if period is None else [d["periods"][period]]
    found = [o for p in ps for o in p["obligations"] if o["obligationId"] == oid]
    if len(found) != 1: raise KeyError("%d obligations %s" % (len(found), oid))
    return found[0]
def cv(o, cid):
    found = [c for c in o["conversations"] if c["conversationId"] == cid]
    if len(found) != 1: raise KeyError("%d conversations %s" % (len(found), cid))
    return found[0]
def tl(eid): return [t for t in d["timeline"] if t["eventId"].endswith(eid)][0]
def notopened(period, did): return [n for n in per(period)["notOpened"] if n["definitionId"] == did]
bad = 0
for e in sys.argv[2:]:
    try:
        ok = eval(e)
    except Exception as x:
        ok = False; e += "  (%s: %s)" % (type(x).__name__, x)
    if not ok:
        print("  not so: " + e, file=sys.stderr); bad += 1
sys.exit(1 if bad else 0)
PY
}

# ---- S1: both met --------------------------------------------------------------------
scn s1 001 p1
jcheck s1 'd["citizenId"] == "001.p1"' \
  'ob("dk-2020/first-within")["due"] == "2021-03-08"' 'ob("dk-2020/first-within")["status"] == "MET"' \
  'ob("dk-2020/four-in-six")["due"] == "2021-08-31"' 'ob("dk-2020/four-in-six")["status"] == "MET"' \
  'ob("dk-2020/four-in-six")["held"] == 4 and ob("dk-2020/four-in-six")["required"] == 4' \
  '[c["conversationId"] for c in ob("dk-2020/four-in-six")["conversations"] if c["counted"]] == ["c1","c2","c3","c4"]' \
  'cv(ob("dk-2020/first-within"), "c1")["why"] == "COUNTED"' \
  'ob("dk-2020/four-in-six")["legalRef"] == "LAB § 31 stk. 1" and ob("dk-2020/four-in-six")["severity"] == "LEGAL"' \
  'per(0)["national"]["id"] == "dk-2020" and "governs periods starting 2020-01-01" in per(0)["rulesReason"]' \
  'tl("e1")["effect"] == "STARTED"' 'ob("dk-2020/four-in-six")["reported"]["status"] == "MET"'
expect_grep 'dk-2020/first-within  MET' "$W/s1.txt"
expect_grep 'met by c1 on 2021-03-05' "$W/s1.txt"

# ---- S2: both breached; the 03-10 conversation was too late for first-within -----------
scn s2 002 p1
jcheck s2 'ob("dk-2020/first-within")["status"] == "BREACHED"' \
  'ob("dk-2020/first-within")["breachAt"] == "2021-03-08T23:00:00Z"' \
  'cv(ob("dk-2020/first-within"), "c1")["why"] == "AFTER_WINDOW"' \
  'ob("dk-2020/four-in-six")["status"] == "BREACHED" and ob("dk-2020/four-in-six")["breachAt"] == "2021-08-31T22:00:00Z"' \
  'ob("dk-2020/four-in-six")["required"] == 4 and ob("dk-2020/four-in-six")["held"] == 3'
expect_grep 'not counted: after the window, which ended 2021-03-08' "$W/s2.txt"
expect_grep 'breached at the start of 2021-09-01 (due 2021-08-31, grace 0): held 3 of 4' "$W/s2.txt"

# ---- S3: a benefit shift restarts four-in-six; a category change (008) does not ----------
scn s3 003 p1
jcheck s3 'len(d["periods"]) == 2' 'tl("e4")["effect"] == "SHIFTED" and tl("e4")["startedPeriod"] == 1' \
  'per(0)["endReason"] == "BENEFIT_SHIFT" and per(0)["end"] == "2021-04-01"' \
  'ob("dk-2020/four-in-six", 0)["status"] == "CANCELLED" and ob("dk-2020/four-in-six", 0)["cancelReason"] == "BENEFIT_SHIFT"' \
  'ob("dk-2020/four-in-six", 0)["held"] == 2 and ob("dk-2020/four-in-six", 0)["breachAt"] is None' \
  'per(1)["benefit"] == "RESSOURCEFORLOEB"' \
  'ob("dk-2020/four-in-six", 1)["windowStart"] == "2021-04-01" and ob("dk-2020/four-in-six", 1)["windowEnd"] == "2021-09-30"' \
  'ob("dk-2020/four-in-six", 1)["status"] == "BREACHED" and ob("dk-2020/four-in-six", 1)["held"] == 0' \
  '"benefit shift" in per(1)["benefitNote"]'
expect_grep 'ends period 1 (BENEFIT_SHIFT) and starts period 2' "$W/s3.txt"
scn s3b 008 p1
jcheck s3b 'len(d["periods"]) == 1' 'tl("e3")["effect"] == "CATEGORY"' 'tl("e5")["effect"] == "CATEGORY"' \
  'ob("dk-2020/four-in-six")["status"] == "MET" and ob("dk-2020/four-in-six")["due"] == "2021-07-03"'

# ---- S4: the cumulative clock pauses and moves the windows ----------------------------
scn s4 004 p1
jcheck s4 'tl("e2")["effect"] == "PAUSED"' 'tl("e3")["effect"] == "RESUMED"' \
  'per(0)["registered"] == [{"from": "2020-01-15", "to": "2020-03-01"}, {"from": "2020-03-31", "to": None}]' \
  'ob("dk-2020/four-in-six")["due"] == "2020-08-13" and ob("dk-2020/four-in-six")["clock"] == "CUMULATIVE"' \
  'ob("dk-2020/joint-1")["windowEnd"] == "2020-05-14"'
# while off the register (the log up to the Deregistration): PAUSED, no due date
head -2 "$W/exp/004.jsonl" >"$W/s4-paused.jsonl"
explain s4p 004.p1 "$W/s4-paused.jsonl" --grace 0 --warn-days 0 --overlays none --until 2020-03-15T00:00:00Z
jcheck s4p 'ob("dk-2020/four-in-six")["status"] == "PAUSED" and ob("dk-2020/four-in-six")["due"] is None' \
  'd["asOf"] == "2020-03-15T00:00:00Z"'
expect_grep 'paused: off the register' "$W/s4p.txt"

# ---- S5: opted out: no joint obligation opens; four-in-six counts every conversation ----
scn s5 005 p1
jcheck s5 'per(0)["flags"]["optedOut"] and per(0)["flags"]["optIn"] is None' \
  'all(not o["obligationId"].startswith("dk-2020/joint") for o in per(0)["obligations"])' \
  'all("opted out" in notopened(0, j)[0]["reason"] for j in ("dk-2020/joint-1", "dk-2020/joint-2", "dk-2020/joint-16m"))' \
  'ob("dk-2020/four-in-six")["held"] == 4 and cv(ob("dk-2020/four-in-six"), "c2")["joint"] and cv(ob("dk-2020/four-in-six"), "c2")["counted"]'

# ---- S6: a late-recorded conversation retracted the breach -----------------------------
scn s6 006 p1
jcheck s6 'ob("dk-2020/first-within")["status"] == "MET"' \
  'cv(ob("dk-2020/first-within"), "c0305")["why"] == "COUNTED"' \
  'cv(ob("dk-2020/first-within"), "c0310")["why"] == "AFTER_WINDOW"' \
  'ob("dk-2020/first-within")["reported"] == {"status": "MET", "cancelReason": None, "outputs": 4}' \
  'ob("dk-2020/four-in-six")["status"] == "MET" and ob("dk-2020/four-in-six")["breachAt"] is None'

# ---- S7: frikommune-rebild's joint-ordinal replaces dk-2015's joint-1 -------------------
scn s7 007 p1
jcheck s7 '[o["applies"] for o in per(0)["overlays"] if o["id"] == "frikommune-rebild"] == [True]' \
  'notopened(0, "dk-2015/joint-1")[0]["reason"] == "replaced by overlay frikommune-rebild"' \
  'ob("frikommune-rebild/joint-ordinal")["due"] == "2018-03-18" and ob("frikommune-rebild/joint-ordinal")["status"] == "MET"' \
  'cv(ob("frikommune-rebild/joint-ordinal"), "c1")["why"] == "WRONG_ORDINAL" and cv(ob("frikommune-rebild/joint-ordinal"), "c1")["place"] == 1' \
  'cv(ob("frikommune-rebild/joint-ordinal"), "c2")["why"] == "COUNTED"'

# ---- S8: dk-2026: the GROUP conversation does not count; four-in-six LAPSED, no breach ----
scn s8 072 p1
jcheck s8 'ob("dk-2026/first-within")["due"] == "2026-07-08" and ob("dk-2026/first-within")["status"] == "MET"' \
  'ob("dk-2026/four-in-six")["due"] == "2026-12-31" and ob("dk-2026/four-in-six")["status"] == "LAPSED"' \
  'ob("dk-2026/four-in-six")["held"] == 3 and ob("dk-2026/four-in-six")["aggregateId"] == "dk-2026/kommune-share"' \
  'ob("dk-2026/four-in-six")["breachAt"] == "2026-12-31T23:00:00Z" and ob("dk-2026/four-in-six")["decidedAt"] == "2026-12-31T23:00:00Z"' \
  'cv(ob("dk-2026/four-in-six"), "c4")["why"] == "FORM" and not cv(ob("dk-2026/four-in-six"), "c4")["counted"]' \
  'ob("dk-2026/four-in-six")["basis"] == "GUIDANCE"' 'ob("dk-2026/first-within")["aggregateId"] is None'
expect_grep 'not counted: form GROUP, and it takes only IN_PERSON, PHONE, VIDEO, DIGITAL' "$W/s8.txt"
expect_grep 'not a breach for this citizen' "$W/s8.txt"
scn s8b 072 p2
jcheck s8b 'ob("dk-2026/first-within")["status"] == "BREACHED" and ob("dk-2026/first-within")["breachAt"] == "2026-07-08T22:00:00Z"' \
  'cv(ob("dk-2026/first-within"), "k1")["why"] == "AFTER_WINDOW"'

# ---- S9: dk-2026 dagpenge ---------------------------------------------------------------
scn s9 073 p1
jcheck s9 'ob("dk-2026/akasse-first")["due"] == "2026-08-17" and ob("dk-2026/akasse-first")["status"] == "MET"' \
  'ob("dk-2026/akasse-two")["windowEnd"] == "2026-11-02" and ob("dk-2026/akasse-two")["status"] == "MET"' \
  'ob("dk-2026/akasse-two")["aggregateId"] == "dk-2026/akasse-share"' \
  'ob("dk-2026/kommune-two")["windowStart"] == "2026-11-03" and ob("dk-2026/kommune-two")["windowEnd"] == "2027-02-02"' \
  'ob("dk-2026/joint-16m")["due"] == "2027-12-02"' \
  '[c["counted"] for c in ob("dk-2026/akasse-two")["conversations"]] == [True, True]' \
  'cv(ob("dk-2026/kommune-two"), "c2")["why"] == "BEFORE_WINDOW"'

# ---- S10: members of kommune-share, municipality 101, 2027-Q1 ----------------------------
explain s10a s10-late "$FIX/explain-s10.jsonl" --overlays none --grace 0 --warn-days 0
jcheck s10a 'ob("dk-2026/four-in-six")["due"] == "2027-03-31" and ob("dk-2026/four-in-six")["status"] == "MET"' \
  'ob("dk-2026/four-in-six")["held"] == 4 and cv(ob("dk-2026/four-in-six"), "a-0330")["counted"]' \
  'ob("dk-2026/four-in-six")["decidedAt"] == "2027-03-31T22:00:00Z"' \
  'ob("dk-2026/four-in-six")["reported"]["status"] == "MET"'
explain s10b s10-exempt "$FIX/explain-s10.jsonl" --overlays none --grace 0 --warn-days 0
jcheck s10b 'ob("dk-2026/four-in-six")["status"] == "CANCELLED" and ob("dk-2026/four-in-six")["cancelReason"] == "EXEMPTED"' \
  'ob("dk-2026/first-within")["status"] == "MET"' \
  'd["exemptions"][0]["effect"] and d["exemptions"][0]["members"] == 1 and d["exemptions"][0]["period"] == 0'
explain s10c s10-shift "$FIX/explain-s10.jsonl" --overlays none --grace 0 --warn-days 0
jcheck s10c 'ob("dk-2026/four-in-six", 0)["cancelReason"] == "BENEFIT_SHIFT"' \
  '"does not count it" in ob("dk-2026/four-in-six", 0)["reason"]' 'per(1)["benefit"] == "FOERTIDSPENSION" and per(1)["obligations"] == []'

# ---- S11: the merge: a category change, outputs name KONTANTHJAELP --------------------------
scn s11 074 p1
jcheck s11 'len(d["periods"]) == 1' 'tl("e4")["effect"] == "RENAMED"' \
  'per(0)["benefit"] == "UDDANNELSESHJAELP" and per(0)["benefitShown"] == "KONTANTHJAELP" and per(0)["renamedFrom"] == "2025-07-01"' \
  'per(0)["merge"]["from"] == "2025-07-01" and per(0)["merge"]["into"] == "KONTANTHJAELP"' \
  'ob("dk-2024/four-in-six")["due"] == "2025-09-02" and ob("dk-2024/four-in-six")["windowStart"] == "2025-03-03"' \
  'ob("dk-2024/four-in-six")["held"] == 3' \
  'all(o["status"] != "CANCELLED" for o in per(0)["obligations"])'
expect_grep 'a category change, not a benefit shift' "$W/s11.txt"

# ---- Exemptions that changed nothing (rules.md §3.3: "explain shows it") ----------------------
scn x1 090 p1
jcheck x1 'len(d["exemptions"]) == 2 and not any(x["effect"] for x in d["exemptions"])' \
  '"dk-2024" in d["exemptions"][0]["reason"]'
scn x2 090 p2
jcheck x2 'd["periods"] == [] and d["exemptions"][0]["period"] is None and "no period was running" in d["exemptions"][0]["reason"]'

# ---- refusals: one error line, never the id ---------------------------------------------------
if "$CONTACTD" explain nobody-here --input "$W/exp/001.jsonl" --overlays none >"$W/none.out" 2>"$W/none.log"; then
  fail "explain of an unknown citizen succeeded"
fi
expect_grep 'citizen not found' "$W/none.log"
if grep -q nobody-here "$W/none.log"; then fail "the unknown citizen's id was logged"; fi
if "$CONTACTD" explain 001.p1 >/dev/null 2>"$W/noinput.log"; then fail "explain without --input or --redis succeeded"; fi
expect_grep 'one of the options is required' "$W/noinput.log"
if "$CONTACTD" explain --input "$W/exp/001.jsonl" >/dev/null 2>"$W/noarg.log"; then fail "explain without CITIZEN succeeded"; fi
expect_grep 'missing argument: CITIZEN' "$W/noarg.log"

# ---- from Redis: the live processor's records explain as the log does ---------------------------
source "$HERE/live_lib.sh"
: >"$W/live.jsonl"
for n in 001 002 003 006 072 074; do cat "$W/exp/$n.jsonl" >>"$W/live.jsonl"; done
FLAGS=$(cat "$W/exp/001.flags")
for n in 002 003 006 072 074; do [ "$(cat "$W/exp/$n.flags")" = "$FLAGS" ] || fail "scenario $n has other engine options"; done
redis_start "$W/redis"
broker_start 4
"$CONTACTD" produce --brokers "$BROKERS" --topic x.in --input "$W/live.jsonl" 2>"$W/produce.log" || fail "produce failed"
produced=$(sed -n 's/.* produced=\([0-9]*\).*/\1/p' "$W/produce.log")
# shellcheck disable=SC2086
run_start run --input-topic x.in --deadline-topic x.dl --breach-topic x.br --dlq-topic x.dlq --group x \
  --redis-prefix x $FLAGS
ok=""
for _ in $(seq 240); do
  sum=0
  for p in 0 1 2 3; do
    o=$(redis-cli -p "$REDIS_PORT" HGET "x:{p$p}:meta" "off:x.in")
    sum=$((sum + ${o:-0}))
  done
  [ "$sum" -ge "$produced" ] && { ok=1; break; }
  sleep 0.25
done
[ -n "$ok" ] || { tail -20 "$W/run.log" >&2; fail "the processor did not catch up: $sum of $produced"; }
kill "$RUN_PID"; wait "$RUN_PID" || fail "the processor did not exit 0 on SIGTERM"
for cid in 001.p1 002.p1 003.p1 006.p1 072.p1 072.p2 074.p1; do
  # shellcheck disable=SC2086
  "$CONTACTD" explain "$cid" --input "$W/live.jsonl" --json $FLAGS >"$W/log-$cid.json" 2>"$W/log-$cid.log" ||
    fail "explain $cid from the log failed"
  # shellcheck disable=SC2086
  "$CONTACTD" explain "$cid" --redis "127.0.0.1:$REDIS_PORT" --redis-prefix x --json $FLAGS \
    >"$W/redis-$cid.json" 2>"$W/redis-$cid.log" || { cat "$W/redis-$cid.log" >&2; fail "explain $cid from Redis failed"; }
  cmp -s "$W/log-$cid.json" "$W/redis-$cid.json" ||
    { diff "$W/log-$cid.json" "$W/redis-$cid.json" | head -20 >&2; fail "explain $cid: Redis and the log differ"; }
  if grep -q -- "$cid" "$W/redis-$cid.log"; then fail "explain --redis wrote the citizen id to its log"; fi
done
# the text from Redis says the same as S8's above
# shellcheck disable=SC2086
"$CONTACTD" explain 072.p1 --redis "127.0.0.1:$REDIS_PORT" --redis-prefix x $FLAGS >"$W/redis-s8.txt" 2>/dev/null ||
  fail "explain S8 from Redis (text) failed"
expect_grep 'not counted: form GROUP' "$W/redis-s8.txt"
# shellcheck disable=SC2086
if "$CONTACTD" explain nobody-here --redis "127.0.0.1:$REDIS_PORT" --redis-prefix x $FLAGS >/dev/null 2>"$W/rnone.log"; then
  fail "explain --redis of an unknown citizen succeeded"
fi
expect_grep 'citizen not found' "$W/rnone.log"
if grep -q nobody-here "$W/rnone.log"; then fail "the unknown citizen's id was logged"; fi
