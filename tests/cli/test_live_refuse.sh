# If Redis holds no offset for a partition that Kafka has committed progress for,
# Redis has lost data: the processor refuses the partition with a clear error
# instead of silently starting over; --reset-state rebuilds it deliberately from
# the beginning of the topic, with the same outputs.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"

redis_start "$W/redis"
broker_start 2
"$CONTACTD" synth --citizens 40 --seed 21 --years 2 --format pb --output "$W/log.bin" 2>/dev/null
"$CONTACTD" produce --brokers "$BROKERS" --topic r.in --input "$W/log.bin" 2>"$W/produce.log" || fail "produce"
produced=$(sed -n 's/.* produced=\([0-9]*\).*/\1/p' "$W/produce.log")
ARGS=(--input-topic r.in --deadline-topic r.dl --breach-topic r.br --dlq-topic r.dlq --group r
      -X session.timeout.ms=3000 -X heartbeat.interval.ms=500)   # the mock keeps a left member until its session times out

caught_up() {   # the offsets stored in Redis add up to what was produced
  local sum=0 o
  for p in $(seq 0 15); do o=$(redis-cli -p "$REDIS_PORT" HGET "contactd:{p$p}:meta" off:r.in); sum=$((sum + ${o:-0})); done
  [ "$sum" -ge "$produced" ]
}

run_start first "${ARGS[@]}"
for _ in $(seq 240); do caught_up && break; sleep 0.25; done
caught_up || fail "the first run did not catch up"
sleep 1
kill "$RUN_PID"; wait "$RUN_PID" || fail "SIGTERM must exit 0"   # commits offsets to Kafka on the way out
"$CONTACTD" consume --brokers "$BROKERS" --deadline-topic r.dl --breach-topic r.br --idle-ms 1500 --output "$W/first.jsonl" 2>>"$W/consume.log"
[ -s "$W/first.jsonl" ] || fail "no outputs"

# Redis loses everything.
redis-cli -p "$REDIS_PORT" FLUSHALL >/dev/null

run_start refused "${ARGS[@]}"
for _ in $(seq 80); do grep -q "partition refused" "$W/refused.log" && break; sleep 0.25; done
expect_grep "partition refused" "$W/refused.log"
expect_grep "reset-state" "$W/refused.log"
sleep 2
[ -z "$(redis-cli -p "$REDIS_PORT" --scan --pattern 'contactd:*:c:*' | head -1)" ] ||
  fail "a refused partition must not be rebuilt silently"
kill "$RUN_PID"; wait "$RUN_PID" || true

run_start rebuilt "${ARGS[@]}" --reset-state
for _ in $(seq 240); do caught_up && break; sleep 0.25; done
caught_up || fail "--reset-state did not rebuild the partitions"
sleep 1
kill "$RUN_PID"; wait "$RUN_PID" || fail "SIGTERM must exit 0"
"$CONTACTD" consume --brokers "$BROKERS" --deadline-topic r.dl --breach-topic r.br --idle-ms 1500 --output "$W/all.jsonl" 2>>"$W/consume.log"
# The rebuild emitted the same outputs again: every line twice, identical.
sort -u "$W/all.jsonl" >"$W/all.u"
sort "$W/first.jsonl" >"$W/first.s"
cmp -s "$W/all.u" "$W/first.s" || fail "the rebuilt outputs differ from the first run's"
[ "$(wc -l <"$W/all.jsonl")" -eq $((2 * $(wc -l <"$W/first.jsonl"))) ] || fail "expected every output exactly twice"
