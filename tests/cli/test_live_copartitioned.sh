#!/usr/bin/env bash
# test_live_copartitioned.sh — inputs over two topics co-partitioned by citizen id
# (docs/spec/events.md "Topics"): registrations, deregistrations, benefit changes and clock
# ticks on one, conversations on the other, both with 4 partitions. The first topic
# is produced and processed in full before the second is produced (conversations
# arrive late with respect to business time), each with 10% of its records produced
# a second time; the processor reads both (`--input-topic A --input-topic B`: the
# range assignor), two of them in one group, each with the same partitions of both
# topics. Delivery order differs from the log's, so transitions, their numbers and
# event ids may differ from replay's; what must agree is where every obligation
# ends: for each (citizen, obligation, period) its final state from the last
# deadline and breach events (tests/cli/live_tool.py compare), and the standing
# breaches. Compaction is off (--history-horizon 0): the conversations arrive years
# after the registrations in business time, beyond any horizon, and would be refused
# (docs/operations.md "Retention").
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
P=4 A=contact.registrations.v1 B=contact.conversations.v1
TOOL=(/usr/bin/python3 "$HERE/live_tool.py")

consumed() {   # consumed TOPIC…: input offsets committed to Redis, every partition
  redis-cli -p "$REDIS_PORT" EVAL "local s = 0
    for p = 0, $((P - 1)) do
      for _, t in ipairs(ARGV) do s = s + (tonumber(redis.call('HGET', 'contactd:{p' .. p .. '}:meta', 'off:' .. t)) or 0) end
    end
    return s" 0 "$@"
}
# wait_consumed N SECONDS TOPIC…
wait_consumed() {
  local want=$1 limit=$((SECONDS + $2)) n; shift 2
  while n=$(consumed "$@"); [ "$n" -lt "$want" ]; do
    alive
    [ "$SECONDS" -lt "$limit" ] || { tail -20 "$W/one.log" "$W/two.log" >&2; fail "only $n of $want inputs of $* processed"; }
    sleep 0.5
  done
}
alive() {
  local name
  for name in one two; do
    kill -0 "${PIDS[$name]}" 2>/dev/null || { tail -20 "$W/$name.log" >&2; fail "processor $name died"; }
  done
}

"$CONTACTD" synth --citizens 300 --years 4 --seed 71 --format json --output "$W/log.jsonl" 2>/dev/null \
  || fail "synth failed"
# --no-aggregates: no aggregate stage runs here (test_live_aggregates.sh has one), so the replay leaves them out too
"$CONTACTD" replay --no-aggregates --input "$W/log.jsonl" --output "$W/replay.jsonl" 2>"$W/replay.log" || fail "replay failed"
"${TOOL[@]}" split "$W/log.jsonl" "$W/conv.jsonl" "$W/other.jsonl" 0.1 7 >"$W/split.txt" || fail "split failed"
[ "$(wc -l <"$W/conv.jsonl")" -gt 1000 ] || fail "too few conversations: $(cat "$W/split.txt")"

"$CONTACTD" devbroker --partitions "$P" --topic "$A" --topic "$B" >"$W/broker.out" 2>"$W/broker.log" &
BROKER_PID=$!
LIVE_PIDS+=("$BROKER_PID")
for _ in $(seq 200); do [ -s "$W/broker.out" ] && break; sleep 0.05; done
BROKERS=$(head -1 "$W/broker.out")
[ -n "$BROKERS" ] || fail "devbroker did not print its address"
redis_start "$W/redis"

produced_of() { sed -n 's/.* produced=\([0-9]*\).*/\1/p' "$1"; }
"$CONTACTD" produce --brokers "$BROKERS" --topic "$A" --input "$W/other.jsonl" 2>"$W/produce-a.log" \
  || { cat "$W/produce-a.log" >&2; fail "produce to $A failed"; }

# two processors in one group: the range assignor gives each the same partition
# numbers of both topics (otherwise they would fight over the Redis partitions)
declare -A PIDS
for name in one two; do
  run_start "$name" --input-topic "$A" --input-topic "$B" --history-horizon 0 "${GROUP_TIMING[@]}"
  PIDS[$name]=$RUN_PID
done
wait_consumed "$(produced_of "$W/produce-a.log")" 60 "$A"

# then, once everything else is processed, the conversations
"$CONTACTD" produce --brokers "$BROKERS" --topic "$B" --input "$W/conv.jsonl" 2>"$W/produce-b.log" \
  || { cat "$W/produce-b.log" >&2; fail "produce to $B failed"; }
# a citizen's records sit on the same partition number in both topics
kcat -b "$BROKERS" -C -t "$A" -e -q -f '%p %k\n' 2>/dev/null | awk 'NF == 2' | sort -u >"$W/parts-a"
kcat -b "$BROKERS" -C -t "$B" -e -q -f '%p %k\n' 2>/dev/null | awk 'NF == 2' | sort -u >"$W/parts-b"
awk 'NR == FNR { p[$2] = $1; next } ($2 in p) && p[$2] != $1 { bad++ } END { exit bad > 0 }' "$W/parts-a" "$W/parts-b" \
  || fail "the two topics are not co-partitioned by citizen id"
wait_drained "$(($(produced_of "$W/produce-a.log") + $(produced_of "$W/produce-b.log")))" 60 "$A" "$B"
outputs "$W/live.jsonl"
if grep -q 'level=error' "$W/one.log" "$W/two.log"; then
  grep 'level=error' "$W/one.log" "$W/two.log" | head -5 >&2
  fail "a processor logged errors"
fi
if grep -q 'partition lost' "$W/one.log" "$W/two.log"; then fail "the processors fought over a partition"; fi

# where every obligation ends (live_tool.py compare says how states are read)
"${TOOL[@]}" compare "$W/replay.jsonl" "$W/live.jsonl" >"$W/compare.txt" \
  || fail "final obligation states or standing breaches differ from replay's"
read -r n_states _ _ n_breaches _ <"$W/compare.txt"
[ "$n_states" -gt 1000 ] && [ "$n_breaches" -gt 50 ] || fail "too little compared: $(cat "$W/compare.txt")"

# one leaves; two takes over all partitions (the eager range protocol revokes and
# re-assigns two's own as well: taken again, they must not leak), then two stops
fences() {
  redis-cli -p "$REDIS_PORT" EVAL "local s = 0
    for p = 0, $((P - 1)) do s = s + (tonumber(redis.call('HGET', 'contactd:{p' .. p .. '}:meta', 'fence')) or 0) end
    return s" 0
}
before=$(fences)
for name in one two; do
  pid=${PIDS[$name]}
  kill -TERM "$pid"
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || { tail -30 "$W/$name.log" >&2; fail "processor $name exited with $rc on SIGTERM"; }
  inputs=$(sed -n 's/.*msg=stopped inputs=\([0-9]*\).*/\1/p' "$W/$name.log")
  [ "${inputs:-0}" -gt 0 ] || fail "processor $name processed nothing: the range assignor should share the partitions"
  if [ "$name" = one ]; then
    limit=$((SECONDS + 30))
    until [ "$(fences)" -ge $((before + P)) ]; do
      kill -0 "${PIDS[two]}" 2>/dev/null || { tail -20 "$W/two.log" >&2; fail "processor two died"; }
      [ "$SECONDS" -lt "$limit" ] || fail "two did not take the partitions over after one left"
      sleep 0.2
    done
  fi
done
echo "copartitioned: $(cat "$W/compare.txt"), as replay ($(wc -l <"$W/live.jsonl") outputs live, $(wc -l <"$W/replay.jsonl") in replay)"
