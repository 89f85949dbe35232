#!/usr/bin/env bash
# test_live_broker_errors.sh — Kafka trouble mid-stream: a 3-broker devbroker (4
# partitions, replication factor 3) and, while the log streams in and is processed,
# bursts of retriable request errors (SIGUSR1: NOT_LEADER_FOR_PARTITION on Produce,
# REQUEST_TIMED_OUT on Fetch) and broker 1 down for 3 s (SIGUSR2). The processor must
# ride through it all and end with exactly replay's distinct outputs (a repeat is
# byte-identical), then stop cleanly.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
P=4

alive() {
  kill -0 "$RUN_PID" 2>/dev/null || { tail -20 "$W/run.log" >&2; fail "the processor died: $1"; }
  kill -0 "$BROKER_PID" 2>/dev/null || { tail -20 "$W/broker.log" >&2; fail "the devbroker died: $1"; }
}

"$CONTACTD" synth --citizens 300 --years 4 --seed 61 --late-ratio 0.1 --dup-ratio 0.05 --format pb \
  --output "$W/log.pb" 2>/dev/null || fail "synth failed"

# three brokers (broker_start starts one)
"$CONTACTD" devbroker --brokers 3 --partitions "$P" >"$W/broker.out" 2>"$W/broker.log" &
BROKER_PID=$!
LIVE_PIDS+=("$BROKER_PID")
for _ in $(seq 200); do [ -s "$W/broker.out" ] && break; sleep 0.05; done
BROKERS=$(head -1 "$W/broker.out")
[ -n "$BROKERS" ] || fail "devbroker did not print its address"
[ "$(tr ',' '\n' <<<"$BROKERS" | wc -l)" -eq 3 ] || fail "expected three bootstrap addresses: $BROKERS"
kcat -b "$BROKERS" -L -t contact.events.v1 >"$W/meta" 2>&1 || fail "kcat -L failed: $(cat "$W/meta")"
expect_grep '3 brokers' "$W/meta"
grep -q 'partition 0, leader 1,' "$W/meta" || fail "broker 1 should lead partition 0: $(cat "$W/meta")"

redis_start "$W/redis"
run_start run --batch-size 50 "${GROUP_TIMING[@]}"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/log.pb" --rate 350 2>"$W/produce.log" &
PRODUCE_PID=$!
LIVE_PIDS+=("$PRODUCE_PID")

limit=$((SECONDS + 30))
while n=$(consumed); [ "$n" -lt 200 ]; do
  alive "before the errors"
  [ "$SECONDS" -lt "$limit" ] || fail "the processor made no progress ($n inputs)"
  sleep 0.1
done
# mid-stream: errors, broker 1 down, errors again while it is down, and once more after
from=$(consumed)
kill -USR1 "$BROKER_PID"; sleep 1.5
kill -USR2 "$BROKER_PID"; sleep 1
kill -USR1 "$BROKER_PID"; sleep 3
kill -USR1 "$BROKER_PID"; sleep 0.5
alive "during the errors"
kill -0 "$PRODUCE_PID" 2>/dev/null || fail "the log was already produced: the errors were not mid-stream"
to=$(consumed)
for _ in $(seq 20); do grep -q 'broker 1 up again' "$W/broker.log" && break; sleep 0.1; done
[ "$(grep -c 'msg="devbroker: request errors injected (SIGUSR1)"' "$W/broker.log")" -eq 3 ] \
  || { cat "$W/broker.log" >&2; fail "devbroker did not log three bursts of errors"; }
expect_grep 'msg="devbroker: broker 1 down (SIGUSR2)"' "$W/broker.log"
expect_grep 'msg="devbroker: broker 1 up again"' "$W/broker.log"

wait "$PRODUCE_PID" || { tail -20 "$W/produce.log" >&2; fail "produce failed"; }
produced=$(sed -n 's/.* produced=\([0-9]*\).*/\1/p' "$W/produce.log")
# What reached the topic is what the processor is judged on: librdkafka 2.0.2's
# mock cluster can lose a few records it acknowledged while a broker is down and
# errors are injected (the topic ends short of what the producer was told). So
# the reference is replay of each partition's records as they are on the topic,
# partition by partition (a partition's citizens see its own copy of every
# all-citizen tick, as they do live).
on_topic=0
: >"$W/replay.jsonl"
for p in $(seq 0 $((P - 1))); do
  # The topic's end, then exactly that many records.
  end=
  for _ in $(seq 20); do
    end=$(kcat -b "$BROKERS" -Q -t "contact.events.v1:$p:-1" 2>/dev/null | awk '{print $NF}')
    [[ $end =~ ^[0-9]+$ ]] && break
    sleep 0.5
  done
  [[ $end =~ ^[0-9]+$ ]] || fail "cannot read the end of partition $p"
  : >"$W/topic-$p.pb"
  # kcat still gives up on a fetch error, and the injected errors are served to
  # whoever asks next: read again until they are used up.
  for try in $(seq 15); do
    [ "$end" -gt 0 ] || break
    timeout 60 kcat -b "$BROKERS" -C -t contact.events.v1 -p "$p" -o beginning -c "$end" -q -E \
      -f '%K %S\n%k%s\n' 2>"$W/kcat-$p.log" \
      | /usr/bin/python3 "$HERE/live_tool.py" tolog >"$W/topic-$p.pb" && break
    [ "$try" -lt 15 ] || { cat "$W/kcat-$p.log" >&2; fail "cannot read partition $p back"; }
    sleep 0.5
  done
  # --no-aggregates: no aggregate stage runs here (test_live_aggregates.sh has one), so the replay leaves them out too
  n=$("$CONTACTD" replay --no-aggregates --input "$W/topic-$p.pb" --input-format pb --output "$W/replay-$p.jsonl" 2>&1 >/dev/null \
        | sed -n 's/.*msg="replay done" records=\([0-9]*\).*/\1/p')
  on_topic=$((on_topic + ${n:-0}))
  cat "$W/replay-$p.jsonl" >>"$W/replay.jsonl"
done
[ "$on_topic" -eq "$produced" ] || echo "devbroker: $((produced - on_topic)) of $produced acknowledged records are not on the topic" >&2
[ "$on_topic" -ge $((produced - 20)) ] || fail "the topic holds $on_topic of $produced records: too many lost to judge"
want=$(sort -u "$W/replay.jsonl" | wc -l)
wait_drained "$on_topic" 40
outputs "$W/live.jsonl"

same_as_replay "after the broker errors"

kill -TERM "$RUN_PID"
rc=0
wait "$RUN_PID" || rc=$?
[ "$rc" -eq 0 ] || { tail -30 "$W/run.log" >&2; fail "the processor exited with $rc on SIGTERM"; }
kill -TERM "$BROKER_PID"
rc=0
wait "$BROKER_PID" || rc=$?
[ "$rc" -eq 0 ] || fail "devbroker exited with $rc on SIGTERM"
echo "broker errors: injected while inputs $from … $to of $produced were processed; $want distinct outputs as replay ($(($(wc -l <"$W/live.jsonl") - want)) repeats)"
