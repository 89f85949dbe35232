#!/usr/bin/env bash
# test_live_rebalance.sh — two processors in one consumer group (cooperative-sticky):
# A runs alone through the first half of the log; B joins while the second half is
# streaming in; A is then stopped gracefully (SIGTERM: finish, drain, leave the group,
# exit 0) while B carries on alone. Both must have done work, and the distinct outputs
# must equal replay's exactly (a repeat after a handover is byte-identical).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
P=4

# Sums a field of every partition's meta hash in Redis (fence: how many times
# partitions were taken; off:…: input offsets committed).
meta_sum() {
  redis-cli -p "$REDIS_PORT" EVAL "local s = 0
    for p = 0, $((P - 1)) do s = s + (tonumber(redis.call('HGET', 'contactd:{p' .. p .. '}:meta', ARGV[1])) or 0) end
    return s" 0 "$1"
}
alive() { kill -0 "$1" 2>/dev/null || { tail -20 "$W/$2.log" >&2; fail "processor $2 died"; }; }
# wait_for WHAT SECONDS CONDITION…: polls the condition (a command) every 0.1 s
wait_for() {
  local what=$1 limit=$((SECONDS + $2)); shift 2
  until "$@"; do
    [ "$SECONDS" -lt "$limit" ] || fail "timed out waiting for $what"
    sleep 0.1
  done
}

"$CONTACTD" synth --citizens 300 --years 4 --seed 31 --late-ratio 0.1 --dup-ratio 0.05 --format json \
  --output "$W/log.jsonl" 2>/dev/null || fail "synth failed"
# --no-aggregates: no aggregate stage runs here (test_live_aggregates.sh has one), so the replay leaves them out too
"$CONTACTD" replay --no-aggregates --input "$W/log.jsonl" --output "$W/replay.jsonl" 2>"$W/replay.log" || fail "replay failed"
want=$(wc -l <"$W/replay.jsonl")
half=$(($(wc -l <"$W/log.jsonl") / 2))
head -n "$half" "$W/log.jsonl" >"$W/first.jsonl"
tail -n "+$((half + 1))" "$W/log.jsonl" >"$W/second.jsonl"

broker_start "$P"
redis_start "$W/redis"
FAST_GROUP=(-X session.timeout.ms=3000 -X heartbeat.interval.ms=500)

run_start A --batch-size 50 "${FAST_GROUP[@]}"
A=$RUN_PID
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/first.jsonl" 2>"$W/produce1.log" \
  || { cat "$W/produce1.log" >&2; fail "produce of the first half failed"; }
first=$(sed -n 's/.* produced=\([0-9]*\).*/\1/p' "$W/produce1.log")
# A alone takes every partition and goes through the first half
a_done() { alive "$A" A; [ "$(meta_sum off:contact.events.v1)" -ge "$first" ]; }
wait_for "A to process the first half" 30 a_done
fences_a=$(meta_sum fence)
[ "$fences_a" -eq "$P" ] || fail "A alone took partitions $fences_a times, expected $P"

# the second half streams in over ~10 s; B joins meanwhile, and A leaves before its end
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/second.jsonl" --rate 200 2>"$W/produce2.log" &
PRODUCE_PID=$!
LIVE_PIDS+=("$PRODUCE_PID")
sleep 0.5
run_start B --batch-size 50 "${FAST_GROUP[@]}"
B=$RUN_PID
# B has joined once it took some partitions away from A (the fence counters rise)
b_joined() { alive "$A" A; alive "$B" B; [ "$(meta_sum fence)" -gt "$fences_a" ]; }
wait_for "B to take partitions" 30 b_joined
moved=$(($(meta_sum fence) - fences_a))
[ "$moved" -lt "$P" ] || fail "B took all $moved partitions: cooperative-sticky should have shared them"
streaming=$(meta_sum off:contact.events.v1)

# A leaves gracefully while the stream goes on
kill -0 "$PRODUCE_PID" 2>/dev/null || fail "the second half was already produced: A would not leave mid-stream"
kill -TERM "$A"
rc=0
wait "$A" || rc=$?
[ "$rc" -eq 0 ] || { tail -30 "$W/A.log" >&2; fail "A exited with $rc on SIGTERM"; }
expect_grep 'msg=stopped' "$W/A.log"
wait "$PRODUCE_PID" || { cat "$W/produce2.log" >&2; fail "produce of the second half failed"; }
total=$((first + $(sed -n 's/.* produced=\([0-9]*\).*/\1/p' "$W/produce2.log")))
[ "$streaming" -lt "$total" ] || fail "the stream had ended before A was stopped"

# B takes A's partitions and finishes
b_alive() { alive "$B" B; }
DRAIN_CHECK=b_alive wait_drained "$total" 45
[ "$(meta_sum fence)" -ge $((fences_a + P)) ] || fail "B did not take all of A's partitions"
outputs "$W/live.jsonl"

same_as_replay "after the rebalance"

kill -TERM "$B"
rc=0
wait "$B" || rc=$?
[ "$rc" -eq 0 ] || { tail -30 "$W/B.log" >&2; fail "B exited with $rc on SIGTERM"; }
in_a=$(sed -n 's/.*msg=stopped inputs=\([0-9]*\).*/\1/p' "$W/A.log")
in_b=$(sed -n 's/.*msg=stopped inputs=\([0-9]*\).*/\1/p' "$W/B.log")
[ "${in_a:-0}" -gt 0 ] && [ "${in_b:-0}" -gt 0 ] || fail "both processors must have worked (A: $in_a, B: $in_b inputs)"
echo "rebalance: $want distinct outputs as replay ($(($(wc -l <"$W/live.jsonl") - want)) repeats); A $in_a, B $in_b inputs"
