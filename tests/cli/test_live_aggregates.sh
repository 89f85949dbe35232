#!/usr/bin/env bash
# test_live_aggregates.sh — the aggregate stage (rules.md §4.1, events.md "Aggregates
# are correct at any scale"): a population with dk-2026 periods, produced to a
# devbroker, through citizen processors that say their share members on
# contact.members.v1 and aggregate stages (`contactd run --stage aggregates`) that
# count them, gives exactly replay's outputs: the same AggregateEvents (RETRACTED and
# re-evaluations after late conversations included) and the same per-citizen ones.
#   1. one processor and one stage;
#   2. two processors and two stages, the log streaming in while a stage and a
#      processor are each killed with SIGKILL mid-stream and started again, and
#      Redis is restarted under them;
#   3. the wall clock: cohorts stand where replay --until leaves them;
#   4. the North Jutland averages (frikommune-nordjylland);
# and, after 1, a bad record on the members topic (dead-lettered) and a stage
# partition whose stored state does not decode (refused, the others go on).
# Repeats are allowed, differences are not: the distinct lines equal replay's, and
# there are as many distinct event ids as distinct lines.
# CRASH_SEED=N repeats a run's kill delays.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
P=4
RANDOM=${CRASH_SEED:-$$}
echo "test_live_aggregates: CRASH_SEED=${CRASH_SEED:-$$}"

"$CONTACTD" synth --citizens 800 --years 2 --from 2026-05-01 --seed 11 --late-ratio 0.1 --format pb \
  --output "$W/log.pb" 2>/dev/null || fail "synth failed"
"$CONTACTD" replay --input "$W/log.pb" --output "$W/replay.jsonl" 2>"$W/replay.log" || fail "replay failed"
want=$(sort -u "$W/replay.jsonl" | wc -l)
n_agg=$(grep -c '"aggregate"' "$W/replay.jsonl" || true)
[ "$n_agg" -gt 50 ] || fail "replay gave only $n_agg aggregate events"
# late conversations re-evaluate evaluated cohorts: a RETRACTED, then the new status
/usr/bin/python3 - "$W/replay.jsonl" <<'EOF' || fail "replay has no cohort RETRACTED and then MET: the log tests too little"
import json, sys
last = {}
for l in open(sys.argv[1]):
    a = json.loads(l).get("aggregate")
    if not a:
        continue
    k = (a["aggregateId"], a["key"], a["periodStart"])
    if a["status"] == "AGGREGATE_STATUS_MET" and last.get(k) == "AGGREGATE_STATUS_RETRACTED":
        sys.exit(0)
    last[k] = a["status"]
sys.exit(1)
EOF

compare() {
  local what=$1 total ids
  outputs "$W/live.jsonl"
  sort -u "$W/replay.jsonl" >"$W/replay.sorted"
  sort -u "$W/live.jsonl" >"$W/live.sorted"
  if ! cmp -s "$W/replay.sorted" "$W/live.sorted"; then
    diff <(grep '"aggregate"' "$W/replay.sorted") <(grep '"aggregate"' "$W/live.sorted") | cut -c1-300 | head -10 >&2
    fail "$what: the distinct outputs ($(wc -l <"$W/live.sorted")) differ from replay's ($want)"
  fi
  ids=$(grep -o '"eventId":"[^"]*"' "$W/live.sorted" | sort -u | wc -l)
  [ "$ids" -eq "$want" ] || fail "$what: $ids distinct event ids for $want distinct lines: a repeat differed"
  total=$(wc -l <"$W/live.jsonl")
  echo "$what: $want distinct outputs as replay, $n_agg of them aggregate events ($((total - want)) repeats)"
}

produced_by() { sed -n 's/.* produced=\([0-9]*\).*/\1/p' "$1"; }

# ---- 1. one processor, one stage -------------------------------------------------------
broker_start "$P"
redis_start "$W/redis1"
run_start proc1 "${GROUP_TIMING[@]}"
run_start stage1 --stage aggregates "${GROUP_TIMING[@]}"
STAGE_PID=$RUN_PID
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/log.pb" 2>"$W/produce1.log" || fail "produce failed"
stage_settled "$(produced_by "$W/produce1.log")" 120
# the stage's keys are its own: {aN}, never a citizen's {pN}
[ "$(redis-cli -p "$REDIS_PORT" --scan --pattern 'contactd:{a*}:members' | wc -l)" -gt 0 ] ||
  fail "the stage keeps no members in Redis"
compare "one processor and one stage"
# A record on the members topic that the stage cannot read goes to the dead-letter topic
# with the reason, and counting goes on.
printf 'not a member record' | kcat -P -b "$BROKERS" -t contact.members.v1 -p 0 || fail "kcat could not produce"
limit=$((SECONDS + 30))
until kcat -b "$BROKERS" -C -t contact.dlq.v1 -e -q -f '%h\n' 2>/dev/null |
    grep -q '__connect.errors.topic=contact.members.v1.*__connect.errors.stage=decode'; do
  [ "$SECONDS" -lt "$limit" ] || fail "the stage did not set the bad member record aside on the dead-letter topic"
  sleep 0.5
done
kill -0 "$STAGE_PID" 2>/dev/null || fail "the stage died on a bad member record"
# … and so does a well-formed watermark that names more input partitions than the stage handles
printf 'source_partition: 0 seq: 999999 has_clock: true clock: 1 watermark { source_partitions: 2000 }' |
  protoc --encode=contact.v1.MemberRecord -I"$HERE/../../proto" -I/usr/include "$HERE/../../proto/contact/v1/members.proto" \
  >"$W/wm.bin" || fail "protoc could not encode the watermark"
kcat -P -b "$BROKERS" -t contact.members.v1 -p 1 "$W/wm.bin" || fail "kcat could not produce"
limit=$((SECONDS + 30))
until kcat -b "$BROKERS" -C -t contact.dlq.v1 -e -q -f '%h\n' 2>/dev/null |
    grep -q '__connect.errors.stage=validate.*source_partitions'; do
  [ "$SECONDS" -lt "$limit" ] || fail "the stage did not set aside a watermark naming 2000 input partitions"
  sleep 0.5
done
kill -0 "$STAGE_PID" 2>/dev/null || fail "the stage died on a watermark naming 2000 input partitions"
kill -TERM "$STAGE_PID"
rc=0
wait "$STAGE_PID" || rc=$?
[ "$rc" -eq 0 ] || fail "the stage exited with $rc on SIGTERM"
expect_grep 'msg=stopped .* stage=aggregates' "$W/stage1.log"
grep -q 'level=error' "$W/stage1.log" "$W/proc1.log" && { grep 'level=error' "$W"/*.log | head >&2; fail "errors logged"; }
# A stage partition whose stored state does not decode is refused (paused, said at error),
# never a crash loop: the stage stays up and the other partitions go on.
redis-cli -p "$REDIS_PORT" HSET 'contactd:{a0}:members' 0123456789abcdef0123456789abcdef 'not a member record' >/dev/null
run_start stage1b --stage aggregates "${GROUP_TIMING[@]}"
STAGE_PID=$RUN_PID
printf '{"eventId":"late-tick","citizenId":"","occurredAt":"2028-06-01T00:00:00Z","clockTick":{}}\n' >"$W/tick.jsonl"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/tick.jsonl" 2>/dev/null || fail "produce (tick) failed"
limit=$((SECONDS + 60))
until grep -q 'aggregate partition refused.*partition=0' "$W/stage1b.log"; do
  kill -0 "$STAGE_PID" 2>/dev/null || { tail -5 "$W/stage1b.log" >&2; fail "the stage died on a corrupt partition"; }
  [ "$SECONDS" -lt "$limit" ] || fail "the stage did not refuse the partition with corrupt state"
  sleep 0.5
done
for q in 1 2 3; do       # the others took the tick's watermarks
  limit=$((SECONDS + 30))
  until [ "$(redis-cli -p "$REDIS_PORT" HGET "contactd:{a$q}:meta" clock)" = 1843430400000000000 ]; do
    [ "$SECONDS" -lt "$limit" ] || fail "stage partition $q did not advance to the tick while 0 was refused"
    sleep 0.5
  done
done
kill -0 "$STAGE_PID" 2>/dev/null || fail "the stage died"
live_cleanup
LIVE_PIDS=()

# ---- 2. two processors, two stages, SIGKILL mid-stream ---------------------------------
unset REDIS_PORT
broker_start "$P"
redis_start "$W/redis2"
FAST_GROUP=(-X session.timeout.ms=3000 -X heartbeat.interval.ms=500 -X linger.ms=500)
run_start procA --batch-size 50 "${FAST_GROUP[@]}"
PROC_A=$RUN_PID
run_start procB --batch-size 50 "${FAST_GROUP[@]}"
run_start stageA --stage aggregates --batch-size 50 "${FAST_GROUP[@]}"
STAGE_A=$RUN_PID
run_start stageB --stage aggregates --batch-size 50 "${FAST_GROUP[@]}"

fences() { redis-cli -p "$REDIS_PORT" EVAL "local f = 0
  for p = 0, $((P - 1)) do f = f + (tonumber(redis.call('HGET', 'contactd:{$1' .. p .. '}:meta', 'fence')) or 0) end
  return f" 0; }
# once the stages hold their partitions, the log streams in (about 17 s at 400 records/s)
# and, while it does, one stage is killed, then a processor, then Redis restarts. The
# stream starts only now, so that a slow start cannot use it up before the kills.
limit=$((SECONDS + 60))
while [ "$(fences a)" -lt "$P" ]; do
  [ "$SECONDS" -lt "$limit" ] || fail "the stages did not take the members partitions"
  sleep 0.2
done
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/log.pb" --rate 400 2>"$W/produce2.log" &
PRODUCE_PID=$!
LIVE_PIDS+=("$PRODUCE_PID")
ms=$((1000 + RANDOM % 3001))
sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
kill -0 "$PRODUCE_PID" 2>/dev/null || fail "the stream ended before the first kill: it tested little"
kill -9 "$STAGE_A"
echo "killed stage A $ms ms after the stream began"
sleep 1
run_start stageA2 --stage aggregates --batch-size 50 "${FAST_GROUP[@]}"
ms=$((500 + RANDOM % 2001))
sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
kill -0 "$PRODUCE_PID" 2>/dev/null || fail "the stream ended before the second kill: it tested little"
kill -9 "$PROC_A"
echo "killed processor A $ms ms later"
run_start procA2 --batch-size 50 "${FAST_GROUP[@]}"
# and Redis restarts under all four (AOF, appendfsync always: nothing acknowledged is lost)
sleep 1
kill -0 "$PRODUCE_PID" 2>/dev/null || fail "the stream ended before Redis restarted: it tested little"
redis_stop
redis_start "$W/redis2"
echo "restarted Redis"
wait "$PRODUCE_PID" || fail "produce failed"
stage_settled "$(produced_by "$W/produce2.log")" 120
compare "two processors and two stages, with SIGKILLs"
live_cleanup
LIVE_PIDS=()

# ---- 3. the wall clock -------------------------------------------------------------------
# No ticks: each processor's clock is its wall clock (shifted to 2027-08-01 for the test),
# said to the stage as a watermark after each timer scan. What the stage says on the way
# depends on when members arrive, but once everything is in, every cohort stands where
# replay --until the same instant leaves it.
unset REDIS_PORT
"$CONTACTD" synth --citizens 400 --years 1 --from 2026-05-01 --seed 12 --tick-days 0 --format pb \
  --output "$W/wall.pb" 2>/dev/null || fail "synth (wall) failed"
"$CONTACTD" replay --input "$W/wall.pb" --until 2027-08-01T00:00:00Z --output "$W/wall-replay.jsonl" \
  2>/dev/null || fail "replay (wall) failed"
broker_start "$P"
redis_start "$W/redis3"
export CONTACTD_WALL_CLOCK_START=2027-08-01T00:00:00Z
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/wall.pb" 2>"$W/produce3.log" || fail "produce (wall) failed"
run_start wallproc --clock wall --timer-interval-ms 200 "${GROUP_TIMING[@]}"
run_start wallstage --stage aggregates "${GROUP_TIMING[@]}"
unset CONTACTD_WALL_CLOCK_START
stage_settled "$(produced_by "$W/produce3.log")" 120
sleep 2                     # a last watermark after the last input
outputs "$W/wall-live.jsonl"
standing() {
  /usr/bin/python3 - "$1" <<'PY'
import json, sys
last = {}
for l in open(sys.argv[1]):
    a = json.loads(l).get("aggregate")
    if a and a["status"] != "AGGREGATE_STATUS_WARNING":
        last[(a["aggregateId"], a["key"], a["periodStart"])] = (a["status"], a.get("members", 0), a.get("met", 0))
# a cohort whose last event is RETRACTED stands nowhere (every member left: D45)
for k in sorted(last):
    if last[k][0] != "AGGREGATE_STATUS_RETRACTED":
        print(*k, *last[k])
PY
}
standing "$W/wall-replay.jsonl" >"$W/wall-replay.standing"
standing "$W/wall-live.jsonl" >"$W/wall-live.standing"
[ "$(wc -l <"$W/wall-replay.standing")" -gt 5 ] || fail "wall clock: replay evaluates too few cohorts"
cmp -s "$W/wall-replay.standing" "$W/wall-live.standing" ||
  { diff "$W/wall-replay.standing" "$W/wall-live.standing" | head >&2; fail "wall clock: cohorts stand elsewhere than in replay"; }
echo "wall clock: $(wc -l <"$W/wall-live.standing") cohorts stand as replay --until leaves them"
live_cleanup
LIVE_PIDS=()

# ---- 4. the North Jutland averages --------------------------------------------------------
# frikommune-nordjylland enabled for Frederikshavn and Hjørring (2017-09 … 2020): their
# count obligations are members of an AVERAGE per benefit, counted by the stage as
# replay counts them.
unset REDIS_PORT
NJ=(--overlays frikommune-nordjylland@813,frikommune-nordjylland@860)
"$CONTACTD" synth --citizens 1500 --years 2 --from 2018-01-01 --seed 13 --format pb --output "$W/nj.pb" 2>/dev/null ||
  fail "synth (nordjylland) failed"
"$CONTACTD" replay "${NJ[@]}" --input "$W/nj.pb" --output "$W/replay.jsonl" 2>/dev/null || fail "replay (nordjylland) failed"
want=$(sort -u "$W/replay.jsonl" | wc -l)
n_agg=$(grep -c '"aggregate"' "$W/replay.jsonl" || true)
grep -q '"aggregateId":"frikommune-nordjylland/average-' "$W/replay.jsonl" ||
  fail "replay gave no frikommune-nordjylland average events: the log tests too little"
broker_start "$P"
redis_start "$W/redis4"
run_start njproc "${NJ[@]}" "${GROUP_TIMING[@]}"
run_start njstage --stage aggregates "${NJ[@]}" "${GROUP_TIMING[@]}"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/nj.pb" 2>"$W/produce4.log" || fail "produce (nordjylland) failed"
stage_settled "$(produced_by "$W/produce4.log")" 120
compare "frikommune-nordjylland averages"
