#!/usr/bin/env bash
# test_live_crash.sh — effectively once across crashes: while the log streams in, the
# processor is killed with SIGKILL six times, each a random 1–4 s after it took its
# partitions, and restarted (same group, same Redis), then left to finish. The
# outputs may repeat but never differ: the distinct lines equal replay's outputs
# exactly, and there are as many distinct event ids as distinct lines (a repeat is
# byte-identical).
# CRASH_SEED=N repeats a run's kill delays.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
P=4
RANDOM=${CRASH_SEED:-$$}
echo "test_live_crash: CRASH_SEED=${CRASH_SEED:-$$}"

count_outputs() {
  local n=0 t
  for t in contact.deadlines.v1 contact.breaches.v1; do
    n=$((n + $(kcat -b "$BROKERS" -C -t "$t" -e -q -f 'x\n' 2>/dev/null | wc -l)))
  done
  echo "$n"
}

"$CONTACTD" synth --citizens 300 --years 4 --seed 21 --late-ratio 0.1 --dup-ratio 0.05 --format pb \
  --output "$W/log.pb" 2>/dev/null || fail "synth failed"
# --no-aggregates: no aggregate stage runs here (test_live_aggregates.sh has one), so the replay leaves them out too
"$CONTACTD" replay --no-aggregates --input "$W/log.pb" --output "$W/replay.jsonl" 2>"$W/replay.log" || fail "replay failed"
want=$(wc -l <"$W/replay.jsonl")

broker_start "$P"
redis_start "$W/redis"
# The log streams in over ~30 s while the processor is killed and restarted: once it
# has joined, the processor goes through a backlog in well under a second, so with
# the whole log produced up front every kill would find it idle.
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/log.pb" --rate 100 2>"$W/produce.log" &
PRODUCE_PID=$!
LIVE_PIDS+=("$PRODUCE_PID")

# progress in Redis: "inputs committed (all partitions) outbox entries (all partitions) fences taken"
progress() {
  redis-cli -p "$REDIS_PORT" EVAL "local s, q, f = 0, 0, 0
    for p = 0, $((P - 1)) do
      local meta = 'contactd:{p' .. p .. '}:meta'
      s = s + (tonumber(redis.call('HGET', meta, 'off:contact.events.v1')) or 0)
      q = q + redis.call('LLEN', 'contactd:{p' .. p .. '}:outbox')
      f = f + (tonumber(redis.call('HGET', meta, 'fence')) or 0)
    end
    return s .. ' ' .. q .. ' ' .. f" 0
}

# A short session timeout, so that the group does not wait long for the killed member;
# outputs linger 1 s in the producer, so that kills often find committed outputs not
# yet delivered (the next processor sends them again: repeats).
FAST_GROUP=(-X session.timeout.ms=3000 -X heartbeat.interval.ms=500 -X linger.ms=1000)
# Six rounds: start, wait until the processor has taken every partition (the fences
# rise by P), sleep a random 1–4 s, SIGKILL.
mid=0
for round in 1 2 3 4 5 6; do
  read -r _ _ f0 <<<"$(progress)"
  run_start "round$round" --batch-size 50 "${FAST_GROUP[@]}"
  limit=$((SECONDS + 25))
  while read -r _ _ f <<<"$(progress)"; [ "$f" -lt $((f0 + P)) ]; do
    kill -0 "$RUN_PID" 2>/dev/null || { tail -20 "$W/round$round.log" >&2; fail "round $round: the processor died by itself"; }
    [ "$SECONDS" -lt "$limit" ] || { tail -20 "$W/round$round.log" >&2; fail "round $round: the partitions were not taken"; }
    sleep 0.1
  done
  ms=$((1000 + RANDOM % 3001))
  sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
  kill -0 "$RUN_PID" 2>/dev/null || { tail -20 "$W/round$round.log" >&2; fail "round $round: the processor died by itself"; }
  kill -9 "$RUN_PID"
  wait "$RUN_PID" 2>/dev/null || true
  read -r n q _ <<<"$(progress)"
  streaming=no
  kill -0 "$PRODUCE_PID" 2>/dev/null && streaming=yes && mid=$((mid + 1))
  echo "round $round: killed $ms ms after taking the partitions; $n inputs committed, $q outputs in the outboxes, $(count_outputs) on the topics; still streaming: $streaming"
done
# most kills must have hit the stream before its end, or this tested little
[ "$mid" -ge 3 ] || fail "only $mid of 6 kills came before the end of the stream"
wait "$PRODUCE_PID" || { tail -5 "$W/produce.log" >&2; fail "produce failed"; }
produced=$(sed -n 's/.* produced=\([0-9]*\).*/\1/p' "$W/produce.log")
[ -n "$produced" ] && [ "$produced" -gt 0 ] || fail "produce reported nothing: $(cat "$W/produce.log")"
run_start final --batch-size 50 "${FAST_GROUP[@]}"
final_alive() { kill -0 "$RUN_PID" 2>/dev/null || { tail -20 "$W/final.log" >&2; fail "the final processor died"; }; }
DRAIN_CHECK=final_alive wait_drained "$produced" 60
outputs "$W/live.jsonl"

sort -u "$W/replay.jsonl" >"$W/replay.sorted"
[ "$(wc -l <"$W/replay.sorted")" -eq "$want" ] || fail "replay's outputs are not distinct"
sort -u "$W/live.jsonl" >"$W/live.sorted"
if ! cmp -s "$W/replay.sorted" "$W/live.sorted"; then
  diff "$W/replay.sorted" "$W/live.sorted" | cut -c1-300 | head -20 >&2
  fail "after crashes, the distinct outputs ($(wc -l <"$W/live.sorted")) differ from replay's ($want)"
fi
total=$(wc -l <"$W/live.jsonl")
ids=$(grep -o '"eventId":"[^"]*"' "$W/live.sorted" | sort -u | wc -l)
[ "$ids" -eq "$want" ] || fail "$ids distinct event ids for $want distinct lines: a repeat differed"
kill -0 "$RUN_PID" 2>/dev/null || fail "the final processor died"
echo "crash: $want distinct outputs as replay ($((total - want)) repeats)"
