#!/usr/bin/env bash
# test_redis_cluster.sh — contactd run against a three-master Redis Cluster
# (ops/redis-cluster.sh: appendonly yes, appendfsync always). The log streams in
# (produce --rate); mid-stream the slot of one partition's {pN} tag is migrated
# to another master by hand, pausing after the first keys so that the processor
# meets the slot half moved (ASK, TRYAGAIN); later a master holding two other
# partitions is killed (kill -9) and restarted on its port and files. The
# processor must stay up, say Redis was unavailable and that it resumed, keep
# every partition's keys on the master of its slot, and end with exactly
# replay's distinct outputs (a repeat is byte-identical).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
P=4
CLUSTER=$HERE/../../ops/redis-cluster.sh

cluster_exit() {
  local rc=$?
  "$CLUSTER" stop "$W/cluster" || true
  (exit "$rc")
  live_exit
}
trap cluster_exit EXIT

alive() { kill -0 "$RUN_PID" 2>/dev/null || { tail -20 "$W/run.log" >&2; fail "the processor died: $1"; }; }
slot_of() { redis-cli -p "$REDIS_PORT" cluster keyslot "{p$1}"; }
# meta FIELD P: a partition's meta field, wherever its slot lives (-c follows redirects)
meta() { redis-cli -c -p "$REDIS_PORT" hget "contactd:{p$2}:meta" "$1"; }
# consumed: the input offsets committed over partitions 0 … P-1 (keys on several masters: one at a time)
consumed() {
  local p s=0 v
  for p in $(seq 0 $((P - 1))); do v=$(meta off:contact.events.v1 "$p"); s=$((s + ${v:-0})); done
  echo "$s"
}
outboxed() {
  local p s=0
  for p in $(seq 0 $((P - 1))); do s=$((s + $(redis-cli -c -p "$REDIS_PORT" llen "contactd:{p$p}:outbox"))); done
  echo "$s"
}

"$CONTACTD" synth --citizens 300 --years 4 --seed 43 --late-ratio 0.1 --dup-ratio 0.05 --format pb \
  --output "$W/log.pb" 2>/dev/null || fail "synth failed"
"$CONTACTD" replay --no-aggregates --input "$W/log.pb" --output "$W/replay.jsonl" 2>"$W/replay.log" || fail "replay failed"
want=$(wc -l <"$W/replay.jsonl")

broker_start "$P"
seed=$("$CLUSTER" start "$W/cluster") || fail "the cluster did not start"
REDIS_PORT=${seed##*:}
mapfile -t ports <"$W/cluster/ports"
MP=$(free_port)
run_start run --batch-size 50 --metrics-addr "127.0.0.1:$MP" "${GROUP_TIMING[@]}"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/log.pb" --rate 300 2>"$W/produce.log" &
PRODUCE_PID=$!
LIVE_PIDS+=("$PRODUCE_PID")

# wait_consumed N: until N inputs are committed
wait_consumed() {
  local limit=$((SECONDS + 40)) n
  while n=$(consumed); [ "$n" -lt "$1" ]; do
    alive "before $1 inputs"
    [ "$SECONDS" -lt "$limit" ] || fail "the processor made no progress ($n inputs)"
    sleep 0.1
  done
}

# 1. mid-stream, the slot of {p3} moves to another master, half moved for a second
wait_consumed 200
kill -0 "$PRODUCE_PID" 2>/dev/null || fail "the log was already produced: the move would not be mid-stream"
slot=$(slot_of 3)
from=$("$CLUSTER" owner "$W/cluster" "$slot")
to=${ports[0]}; [ "$to" != "$from" ] || to=${ports[1]}
at_move=$(consumed)
MOVE_PAUSE=1 "$CLUSTER" move "$W/cluster" "$slot" "$to" || fail "the slot did not move"
[ "$("$CLUSTER" owner "$W/cluster" "$slot")" = "$to" ] || fail "slot $slot is not on $to"
alive "after the slot moved"

# 2. a master holding other partitions (not {p3}'s new one) dies and comes back
wait_consumed $((at_move + 200))
kill -0 "$PRODUCE_PID" 2>/dev/null || fail "the log was already produced: the crash would not be mid-stream"
victim=$("$CLUSTER" owner "$W/cluster" "$(slot_of 0)")
[ "$victim" != "$to" ] || victim=$("$CLUSTER" owner "$W/cluster" "$(slot_of 2)")
at_kill=$(consumed)
"$CLUSTER" kill "$W/cluster" "$victim"
sleep 2
alive "while a master was down"
expect_grep 'msg="redis unavailable: consumption paused, retrying"' "$W/run.log"
"$CLUSTER" restart "$W/cluster" "$victim" || fail "the master did not come back"

wait "$PRODUCE_PID" || { cat "$W/produce.log" >&2; fail "produce failed"; }
produced=$(sed -n 's/.* produced=\([0-9]*\).*/\1/p' "$W/produce.log")
limit=$((SECONDS + 60))
while [ "$(consumed)" -lt "$produced" ] || [ "$(outboxed)" -ne 0 ]; do
  alive "while draining"
  [ "$SECONDS" -lt "$limit" ] || fail "not drained after 60 s: $(consumed) of $produced inputs, $(outboxed) outputs in the outboxes"
  sleep 0.2
done
expect_grep 'msg="redis back: consumption resumed from the stored offsets"' "$W/run.log"
outputs "$W/live.jsonl"
same_as_replay "after a slot migration and a master restart"

# the redirects were followed and counted (metrics refresh each loop turn: read twice, a second apart)
curl -sf "http://127.0.0.1:$MP/metrics" >/dev/null; sleep 1
curl -sf "http://127.0.0.1:$MP/metrics" >"$W/metrics.prom" || fail "no /metrics"
redirects=$(awk '$1 == "contactd_redis_cluster_redirects_total" {print $2}' "$W/metrics.prom")
refreshes=$(awk '$1 == "contactd_redis_cluster_map_refreshes_total" {print $2}' "$W/metrics.prom")
[ "${redirects:-0}" -ge 1 ] || fail "no cluster redirect counted: $(grep redis "$W/metrics.prom")"
[ "${refreshes:-0}" -ge 2 ] || fail "the slot map was not read again after the move"

# every partition's keys on the master of its slot, and {p3}'s on the new one
for p in $(seq 0 $((P - 1))); do
  o=$("$CLUSTER" owner "$W/cluster" "$(slot_of "$p")")
  [ "$(redis-cli -p "$o" exists "contactd:{p$p}:meta")" = 1 ] || fail "partition $p's meta is not on $o"
done
[ "$(redis-cli -p "$to" cluster countkeysinslot "$slot")" -gt 2 ] || fail "{p3}'s citizens are not on $to"
[ "$(redis-cli -p "$from" cluster countkeysinslot "$slot")" -eq 0 ] || fail "keys of {p3} stayed on $from"

kill -TERM "$RUN_PID"
rc=0
wait "$RUN_PID" || rc=$?
[ "$rc" -eq 0 ] || { tail -30 "$W/run.log" >&2; fail "the processor exited with $rc on SIGTERM"; }
echo "redis cluster: $redirects redirects followed, $refreshes slot maps read; slot $slot of {p3} moved $from -> $to at $at_move inputs, master $victim killed at $at_kill of $produced; $want distinct outputs as replay ($(($(wc -l <"$W/live.jsonl") - want)) repeats)"
