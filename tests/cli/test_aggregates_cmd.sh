#!/usr/bin/env bash
# test_aggregates_cmd.sh — `contactd aggregates`: the live aggregate stage's cohorts,
# read from Redis, against replay of the same log. One processor and one stage count a
# dk-2026 population (as test_live_aggregates.sh phase 1); once settled, every cohort
# replay last says MET or BREACHED is closed with that status and replay's members,
# met, lapsed, exempted and required (worked out here from replay's AggregateEvents,
# never from the command's output), and the command wrote nothing to Redis. Then the
# filters (--key in both forms, --period, --open/--closed, --aggregate), the text form,
# and the errors: a malformed --period, Redis not there, a prefix with no stage, state
# that does not decode.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
P=4

"$CONTACTD" synth --citizens 400 --years 2 --from 2026-05-01 --seed 11 --format pb \
  --output "$W/log.pb" 2>/dev/null || fail "synth failed"
"$CONTACTD" replay --input "$W/log.pb" --output "$W/replay.jsonl" 2>"$W/replay.log" || fail "replay failed"

produced_by() { sed -n 's/.* produced=\([0-9]*\).*/\1/p' "$1"; }

broker_start "$P"
redis_start "$W/redis"
R=127.0.0.1:$REDIS_PORT
run_start proc "${GROUP_TIMING[@]}"
PROC_PID=$RUN_PID
run_start stage --stage aggregates "${GROUP_TIMING[@]}"
STAGE_PID=$RUN_PID
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/log.pb" 2>"$W/produce.log" || fail "produce failed"
stage_settled "$(produced_by "$W/produce.log")" 120

# ---- the figures, while the stage runs ----------------------------------------------------
agg() { "$CONTACTD" aggregates --redis "$R" "$@"; }
agg --format json >"$W/all.json" 2>"$W/all.err" || { cat "$W/all.err" >&2; fail "aggregates --format json failed"; }
grep -q 'level=error' "$W/all.err" && { cat "$W/all.err" >&2; fail "aggregates logged an error"; }
# the partitions: each with its clock and nothing pending
[ "$(grep -c 'msg="stage partition" partition=[0-9]* clock=20[0-9-]*T[0-9:]*Z pending=0' "$W/all.err")" -eq "$P" ] ||
  { cat "$W/all.err" >&2; fail "expected $P stage partitions with a clock and nothing pending"; }

/usr/bin/python3 - "$W/replay.jsonl" "$W/all.json" <<'EOF' || fail "the figures differ from replay's"
import json, sys
KIND = {"AGGREGATE_KEY_KIND_MUNICIPALITY": "MUNICIPALITY", "AGGREGATE_KEY_KIND_AKASSE": "AKASSE"}
last = {}
for l in open(sys.argv[1]):
    a = json.loads(l).get("aggregate")
    if a:
        last[(a["aggregateId"], KIND[a["keyKind"]], a["key"], a["periodStart"])] = a
rows = {}
for l in open(sys.argv[2]):
    r = json.loads(l)
    k = (r["aggregateId"], r["keyKind"], r["key"], r["periodStart"])
    if k in rows:
        sys.exit("cohort %s listed twice" % (k,))
    rows[k] = r
bad = []
closed = {k for k, a in last.items() if a["status"] in ("AGGREGATE_STATUS_MET", "AGGREGATE_STATUS_BREACHED")}
if len(closed) < 20:
    bad.append("replay closes only %d cohorts: the log tests too little" % len(closed))
for k in sorted(closed):
    a, r = last[k], rows.get(k)
    if r is None:
        bad.append("%s: closed in replay, not listed" % (k,))
        continue
    y, m = int(a["periodStart"][:4]), int(a["periodStart"][5:7])
    want = {"state": "closed", "status": a["status"].replace("AGGREGATE_STATUS_", ""),
            "members": a.get("members", 0), "met": a.get("met", 0), "lapsed": a.get("lapsed", 0),
            "exempted": a.get("exempted", 0), "required": a.get("required", 0),
            "periodEnd": a["periodEnd"], "period": "%04d-Q%d" % (y, (m - 1) // 3 + 1),
            "aggregateKey": ("akasse:" if k[1] == "AKASSE" else "kommune:") + k[2],
            "needed": max(0, a.get("required", 0) - a.get("met", 0))}
    got = {f: r.get(f) for f in want}
    if got != want:
        bad.append("%s: %s, replay says %s" % (k, got, want))
    share = round(1000 * want["met"] / want["members"]) / 10 if want["members"] else None
    if r.get("sharePct") is None or abs(r["sharePct"] - share) > 0.051:
        bad.append("%s: sharePct %s, expected %s" % (k, r.get("sharePct"), share))
for k, r in rows.items():
    if r["state"] == "closed" and k not in closed:
        bad.append("%s: closed, but replay's last word on it is %s" % (k, last.get(k, {}).get("status")))
    if r["state"] == "open" and (r["status"] is not None or k in closed):
        bad.append("%s: open with status %s" % (k, r["status"]))
if not any(r["state"] == "open" for r in rows.values()):
    bad.append("no open cohort: the log tests too little")
for b in bad[:10]:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
n_all=$(wc -l <"$W/all.json")
echo "aggregates: $n_all cohorts, the closed ones as replay closes them"

# ---- read only: stop the pipeline, then nothing below may change Redis --------------------
kill -TERM "$STAGE_PID" "$PROC_PID"
wait "$STAGE_PID" || fail "the stage exited badly on SIGTERM"
wait "$PROC_PID" || fail "the processor exited badly on SIGTERM"
changes() { redis-cli -p "$REDIS_PORT" INFO persistence | tr -d '\r' | sed -n 's/^rdb_changes_since_last_save://p'; }
before=$(changes)
agg --format json >"$W/again.json" 2>/dev/null || fail "aggregates failed with the pipeline stopped"
cmp -s "$W/all.json" "$W/again.json" || fail "the figures changed once the pipeline stopped"

# ---- filters -------------------------------------------------------------------------------
# rows of all.json that satisfy a python condition on r
expect_rows() {
  /usr/bin/python3 - "$W/all.json" "$1" "$2" <<'EOF'
import json, sys
rows = [l for l in open(sys.argv[1]) if eval(sys.argv[3], {"r": json.loads(l)})]
got = open(sys.argv[2]).readlines()
if not rows or got != rows:
    sys.exit("%s: %d rows, expected %d" % (sys.argv[3], len(got), len(rows)))
EOF
}
agg --format json --key 101 >"$W/k1.json" 2>/dev/null || fail "--key 101 failed"
expect_rows "$W/k1.json" 'r["key"] == "101"' || fail "--key 101"
agg --format json --key kommune:101 >"$W/k2.json" 2>/dev/null || fail "--key kommune:101 failed"
cmp -s "$W/k1.json" "$W/k2.json" || fail "--key kommune:101 differs from --key 101"
agg --format json --key akasse:unknown >"$W/k3.json" 2>/dev/null || fail "--key akasse:unknown failed"
expect_rows "$W/k3.json" 'r["aggregateKey"] == "akasse:unknown"' || fail "--key akasse:unknown"
agg --key akasse:101 >"$W/none.txt" 2>/dev/null || fail "a key with no cohort is not an error"
expect_grep '^no cohorts$' "$W/none.txt"
agg --format json --key akasse:101 >"$W/none.json" 2>/dev/null || fail "a key with no cohort is not an error (json)"
[ ! -s "$W/none.json" ] || fail "json with no cohorts wrote something"

# the quarter of a cohort replay evaluated for municipality 101
q=$(/usr/bin/python3 -c '
import json, sys
for l in open(sys.argv[1]):
    a = json.loads(l).get("aggregate")
    if a and a["key"] == "101" and a["status"] == "AGGREGATE_STATUS_MET":
        y, m = int(a["periodStart"][:4]), int(a["periodStart"][5:7])
        print("%04d-Q%d" % (y, (m - 1) // 3 + 1)); break' "$W/replay.jsonl")
[ -n "$q" ] || fail "replay evaluates no cohort of municipality 101"
agg --format json --period "$q" >"$W/p.json" 2>/dev/null || fail "--period $q failed"
expect_rows "$W/p.json" "r[\"period\"] == \"$q\"" || fail "--period $q"
agg --format json --period "$q" --key 101 --closed >"$W/pk.json" 2>/dev/null || fail "--period $q --key 101 failed"
expect_rows "$W/pk.json" "r[\"period\"] == \"$q\" and r[\"key\"] == \"101\" and r[\"status\"] == \"MET\"" ||
  fail "--period $q --key 101 --closed"
agg --format json --period "${q%-Q*}" >"$W/y.json" 2>/dev/null || fail "--period ${q%-Q*} failed"
[ ! -s "$W/y.json" ] || fail "--period YYYY matched quarterly cohorts"
agg --format json --closed >"$W/c.json" 2>/dev/null || fail "--closed failed"
expect_rows "$W/c.json" 'r["state"] == "closed"' || fail "--closed"
agg --format json --open >"$W/o.json" 2>/dev/null || fail "--open failed"
expect_rows "$W/o.json" 'r["state"] == "open"' || fail "--open"
agg --format json --aggregate dk-2026/kommune-share >"$W/a.json" 2>/dev/null || fail "--aggregate failed"
expect_rows "$W/a.json" 'r["aggregateId"] == "dk-2026/kommune-share"' || fail "--aggregate dk-2026/kommune-share"

# ---- the text form ---------------------------------------------------------------------------
agg >"$W/all.txt" 2>"$W/text.err" || fail "aggregates (text) failed"
expect_grep '^aggregate  *key  *period  *state  *status  *evaluation  *members  *met  *lapsed  *exempted  *so far  *required  *needed$' "$W/all.txt"
[ "$(grep -c '^dk-2026/' "$W/all.txt")" -eq "$n_all" ] || fail "the text form does not list $n_all cohorts"
closed=$(grep -c '"state":"closed"' "$W/all.json")
expect_grep "^total: $n_all cohorts ($closed closed: [0-9]* MET, [0-9]* BREACHED; $((n_all - closed)) open); [0-9]* members decided" "$W/all.txt"
[ "$(grep -c '^  [0-9]*: aggregate clock 20.*Z, 0 member records pending$' "$W/all.txt")" -eq "$P" ] ||
  fail "the text form does not show the $P partitions' clocks"
agg --key 101 --period "$q" >"$W/one.txt" 2>/dev/null || fail "aggregates --key 101 --period $q failed"
expect_grep "^dk-2026/kommune-share  kommune:101  $q  closed  MET " "$W/one.txt"
expect_grep '^total: 1 cohort (1 closed: 1 MET, 0 BREACHED; 0 open)' "$W/one.txt"

# ---- errors ----------------------------------------------------------------------------------
bad() {   # bad PATTERN ARGS…: exit 1 and one error line matching PATTERN
  local pattern=$1 rc=0; shift
  agg "$@" >"$W/bad.out" 2>"$W/bad.err" || rc=$?
  [ "$rc" -eq 1 ] || fail "aggregates $* exited $rc, expected 1"
  [ "$(grep -c 'level=error' "$W/bad.err")" -eq 1 ] || { cat "$W/bad.err" >&2; fail "aggregates $*: expected one error line"; }
  expect_grep "$pattern" "$W/bad.err"
}
bad 'option=--period value=2027-Q5 expected="a quarter YYYY-Qn (2027-Q1), a month YYYY-MM (2027-03) or a year YYYY (2027)"' \
  --period 2027-Q5
bad 'option=--period value=x expected=' --period x
bad 'option=--period value=2027-13 expected=' --period 2027-13
bad 'option=--format value=yaml expected="text or json"' --format yaml
bad 'option=--aggregate value=dk-2026/nothing' --aggregate dk-2026/nothing
bad 'msg="options exclude each other"' --open --closed
closed_port=$(free_port)
bad "msg=\"cannot connect to Redis\" redis=127.0.0.1:$closed_port error=.*connection refused" --redis "127.0.0.1:$closed_port"
bad 'option=--redis value=localhost expected="HOST:PORT' --redis localhost
bad 'msg="no aggregate stage in Redis' --redis-prefix elsewhere
[ "$(changes)" = "$before" ] || fail "aggregates wrote to Redis ($before changes before, $(changes) after)"

# state that does not decode (under a prefix of its own, written here)
redis-cli -p "$REDIS_PORT" HSET 'broken:{a0}:meta' fence 1 >/dev/null
redis-cli -p "$REDIS_PORT" HSET 'broken:{a0}:cohorts' x 'not a cohort' >/dev/null
bad 'msg="cannot read the aggregate stage.s partition" .*partition=0 error=.*corrupt' --redis-prefix broken
echo "aggregates: filters, text form and errors as documented; nothing written to Redis"
