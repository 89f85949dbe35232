#!/usr/bin/env bash
# test_live_undeliverable.sh — an outbox entry the producer can never deliver
# (here: producers limited to 4000-byte messages, and a bad input of 20 kB
# whose dead letter carries it whole) does not block the entries behind it:
# a small stand-in dead letter saying what it was and why goes in its place,
# the error is logged, and everything after it is delivered. (A refusal used
# to be fatal: the processor exited, and every restart met the same outbox
# head again.)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
IN=contact.events.v1 DLQ=contact.dlq.v1 P=2

count() { kcat -b "$BROKERS" -C -t "$1" -e -q -f 'x\n' 2>/dev/null | wc -l; }
alive() { kill -0 "$RUN_PID" 2>/dev/null || { tail -20 "$W/run.log" >&2; fail "the processor died"; }; }

"$CONTACTD" synth --citizens 20 --years 2 --seed 101 --format json --output "$W/valid.jsonl" 2>/dev/null || fail "synth failed"
# --no-aggregates: no aggregate stage runs here (test_live_aggregates.sh has one), so the replay leaves them out too
"$CONTACTD" replay --no-aggregates --input "$W/valid.jsonl" --output "$W/replay.jsonl" 2>/dev/null || fail "replay failed"
want=$(wc -l <"$W/replay.jsonl")
head -c 20000 /dev/zero | tr '\0' '\377' >"$W/bad.bin"

broker_start "$P"
redis_start "$W/redis"
run_start run -X message.max.bytes=4000 "${GROUP_TIMING[@]}"
kcat -b "$BROKERS" -P -t "$IN" -p 0 -k bad-1 "$W/bad.bin" || fail "kcat -P failed"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/valid.jsonl" 2>"$W/produce.log" || fail "produce failed"

limit=$((SECONDS + 60))
while n=$(count "$DLQ"); o=$(($(count contact.deadlines.v1) + $(count contact.breaches.v1)));
      [ "$n" -lt 1 ] || [ "$o" -lt "$want" ]; do
  alive
  [ "$SECONDS" -lt "$limit" ] || { tail -20 "$W/run.log" >&2; fail "after 60 s: $n dead letters, $o of $want outputs"; }
  sleep 1
done
alive
expect_grep 'level=error msg="outbox entry can never be delivered: a dead letter that says so goes in its place"' "$W/run.log"
kcat -b "$BROKERS" -C -t "$DLQ" -Z -e -q -f '%k|%S|%h\n' 2>/dev/null >"$W/dlq.txt"
[ "$(wc -l <"$W/dlq.txt")" -eq 1 ] || fail "expected one stand-in dead letter: $(cat "$W/dlq.txt")"
expect_grep '^bad-1|-1|.*contactd.undeliverable.topic=contact.dlq.v1' "$W/dlq.txt"
expect_grep 'contactd.undeliverable.reason=.*too large' "$W/dlq.txt"
expect_grep 'contactd.undeliverable.length=[0-9]' "$W/dlq.txt"
outputs "$W/live.jsonl"
sort -u "$W/replay.jsonl" >"$W/replay.sorted"
sort -u "$W/live.jsonl" >"$W/live.sorted"
cmp -s "$W/replay.sorted" "$W/live.sorted" || fail "the outputs behind the undeliverable entry differ from replay's"
kill -TERM "$RUN_PID"; wait "$RUN_PID" || fail "the processor exited non-zero on SIGTERM"
expect_grep 'msg=stopped .* undeliverable=1 ' "$W/run.log"
echo "undeliverable: one entry replaced by its stand-in; $want outputs behind it delivered"
