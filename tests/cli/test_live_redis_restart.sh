#!/usr/bin/env bash
# test_live_redis_restart.sh — Redis goes away mid-stream and comes back: the log
# streams in (produce --rate), the processor works through it, Redis is stopped
# (SIGTERM; AOF with appendfsync always, so every commit survives) for 3 s and then
# restarted on the same port and directory. The processor must stay up, say that
# Redis is unavailable and that it resumed, and end with exactly replay's distinct
# outputs (a repeat is byte-identical).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
P=4

alive() { kill -0 "$RUN_PID" 2>/dev/null || { tail -20 "$W/run.log" >&2; fail "the processor died: $1"; }; }

"$CONTACTD" synth --citizens 300 --years 4 --seed 41 --late-ratio 0.1 --dup-ratio 0.05 --format pb \
  --output "$W/log.pb" 2>/dev/null || fail "synth failed"
# --no-aggregates: no aggregate stage runs here (test_live_aggregates.sh has one), so the replay leaves them out too
"$CONTACTD" replay --no-aggregates --input "$W/log.pb" --output "$W/replay.jsonl" 2>"$W/replay.log" || fail "replay failed"
want=$(wc -l <"$W/replay.jsonl")

broker_start "$P"
redis_start "$W/redis"
run_start run --batch-size 50 "${GROUP_TIMING[@]}"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/log.pb" --rate 350 2>"$W/produce.log" &
PRODUCE_PID=$!
LIVE_PIDS+=("$PRODUCE_PID")

# mid-stream: the processor has committed a few hundred inputs, the producer is still going
limit=$((SECONDS + 30))
while n=$(consumed); [ "$n" -lt 300 ]; do
  alive "before the outage"
  [ "$SECONDS" -lt "$limit" ] || fail "the processor made no progress ($n inputs)"
  sleep 0.1
done
kill -0 "$PRODUCE_PID" 2>/dev/null || fail "the log was already produced: the outage would not be mid-stream"
at=$(consumed)
redis_stop
sleep 3
alive "while Redis was down"
expect_grep 'msg="redis unavailable: consumption paused, retrying"' "$W/run.log"
if grep -q 'msg="redis back' "$W/run.log"; then fail "the processor claims Redis is back while it is down"; fi
redis_start "$W/redis"   # REDIS_PORT is still set: the same port, the same AOF

wait "$PRODUCE_PID" || { cat "$W/produce.log" >&2; fail "produce failed"; }
produced=$(sed -n 's/.* produced=\([0-9]*\).*/\1/p' "$W/produce.log")
wait_drained "$produced" 40
expect_grep 'msg="redis back: consumption resumed from the stored offsets"' "$W/run.log"
outputs "$W/live.jsonl"

same_as_replay "after the Redis restart"

kill -TERM "$RUN_PID"
rc=0
wait "$RUN_PID" || rc=$?
[ "$rc" -eq 0 ] || { tail -30 "$W/run.log" >&2; fail "the processor exited with $rc on SIGTERM"; }
echo "redis restart: outage at $at of $produced inputs; $want distinct outputs as replay ($(($(wc -l <"$W/live.jsonl") - want)) repeats)"
