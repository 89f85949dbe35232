#!/usr/bin/env bash
# test_live_drain.sh — SIGTERM drains (docs/operations.md): sent in the middle
# of a stream, the processor logs that it is stopping, finishes and commits the
# batches it holds, delivers everything in its outboxes and exits 0 with every
# outbox empty. (The signal used to land during the consumer poll and end the
# process within milliseconds, leaving thousands of outputs in Redis.) A second
# processor then finishes the stream and the outputs are replay's.
# Also: SIGTERM while waiting for Redis at start-up is a clean exit (0).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
P=4

alive() { kill -0 "$RUN_PID" 2>/dev/null || { tail -20 "$W/$RUN_NAME.log" >&2; fail "the processor died"; }; }
outboxes() {
  redis-cli -p "$REDIS_PORT" EVAL "local q = 0
    for p = 0, $((P - 1)) do q = q + redis.call('LLEN', 'contactd:{p' .. p .. '}:outbox') end
    return q" 0
}

# SIGTERM before Redis is there: nothing to drain, exit 0
RUN_NAME=early
: >"$W/early.log"
"$CONTACTD" run --brokers 127.0.0.1:1 --redis "127.0.0.1:$(free_port)" --log-level info >"$W/early.out" 2>>"$W/early.log" &
RUN_PID=$!
LIVE_PIDS+=("$RUN_PID")
limit=$((SECONDS + 20))
until grep -q 'msg="waiting for redis"' "$W/early.log"; do
  alive; [ "$SECONDS" -lt "$limit" ] || fail "no 'waiting for redis' after 20 s"; sleep 0.1
done
kill -TERM "$RUN_PID"
rc=0; wait "$RUN_PID" || rc=$?
[ "$rc" -eq 0 ] || { cat "$W/early.log" >&2; fail "SIGTERM while waiting for redis exited $rc, not 0"; }
expect_grep 'msg="stopped before start' "$W/early.log"

"$CONTACTD" synth --citizens 3000 --years 3 --seed 81 --format pb --output "$W/events.bin" 2>/dev/null || fail "synth failed"
# --no-aggregates: no aggregate stage runs here (test_live_aggregates.sh has one), so the replay leaves them out too
"$CONTACTD" replay --no-aggregates --input "$W/events.bin" --input-format pb --output "$W/replay.jsonl" 2>/dev/null || fail "replay failed"
want=$(sort -u "$W/replay.jsonl" | wc -l)
total=$("$CONTACTD" replay --input "$W/events.bin" --input-format pb --stats 2>&1 >/dev/null | sed -n 's/.* records=\([0-9]*\).*/\1/p')

broker_start "$P"
redis_start "$W/redis"
RUN_NAME=A
run_start A --batch-size 200 "${GROUP_TIMING[@]}"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/events.bin" --input-format pb 2>"$W/produce.log" &
PRODUCE_PID=$!
LIVE_PIDS+=("$PRODUCE_PID")
# mid-stream: some inputs committed, outputs flowing, more to come
limit=$((SECONDS + 60))
until [ "$(consumed)" -gt 2000 ]; do
  alive; [ "$SECONDS" -lt "$limit" ] || fail "nothing committed after 60 s"; sleep 0.05
done
kill -TERM "$RUN_PID"
rc=0; wait "$RUN_PID" || rc=$?
[ "$rc" -eq 0 ] || { tail -20 "$W/A.log" >&2; fail "SIGTERM exited $rc"; }
expect_grep 'msg="stopping: finishing batches and draining the outbox"' "$W/A.log"
expect_grep 'msg="drained: every batch committed and every output delivered"' "$W/A.log"
left=$(outboxes)
[ "$left" -eq 0 ] || fail "$left outputs left in the outboxes after the drain"
done_a=$(consumed)
echo "drained at $done_a inputs committed"
[ "$done_a" -lt "$total" ] || echo "note: the stream had ended when the signal came" >&2

wait "$PRODUCE_PID" || fail "produce failed"
RUN_NAME=B
run_start B "${GROUP_TIMING[@]}"
wait_drained "$total" 120
outputs "$W/live.jsonl"
same_as_replay "after the drain and a restart"
kill -TERM "$RUN_PID"; wait "$RUN_PID" || fail "B exited non-zero on SIGTERM"
echo "drain: SIGTERM mid-stream left 0 outputs in the outboxes; the outputs are replay's ($want)"
