#!/usr/bin/env bash
# test_live_retention.sh — inputs deleted by retention before they were
# processed are a loss an operator must hear of: with the processor stopped,
# the topic grows past what the broker keeps (librdkafka's mock cluster keeps
# about 5 MB a partition), so the stored offset is gone when it restarts. The
# processor logs an error naming the topic, the partition, the stored and the
# earliest offset, counts it, and goes on from the earliest offset (it used to
# be a librdkafka warning only).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
IN=contact.events.v1 P=1

alive() { kill -0 "$RUN_PID" 2>/dev/null || { tail -20 "$W/$RUN_NAME.log" >&2; fail "the processor died"; }; }
"$CONTACTD" synth --citizens 5 --years 1 --seed 71 --format json --output "$W/first.jsonl" 2>/dev/null || fail "synth failed"
n_first=$(wc -l <"$W/first.jsonl")

broker_start "$P"
redis_start "$W/redis"
RUN_NAME=run1
run_start run1 "${GROUP_TIMING[@]}"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/first.jsonl" 2>"$W/produce1.log" || fail "produce failed"
wait_drained "$n_first" 60
kill -TERM "$RUN_PID"; wait "$RUN_PID" || fail "the processor exited non-zero on SIGTERM"

# 12 MB of filler while it is stopped: the broker drops the oldest records
head -c 100000 /dev/zero | tr '\0' 'x' >"$W/filler.bin"
for i in $(seq 120); do printf 'filler-%d\n' "$i"; done | while read -r k; do
  kcat -b "$BROKERS" -P -t "$IN" -k "$k" "$W/filler.bin" || exit 1
done || fail "kcat -P of the filler failed"
lo=$(kcat -b "$BROKERS" -Q -t "$IN:0:-2" 2>/dev/null | awk '{print $NF}')
[ "${lo:-0}" -gt "$n_first" ] || fail "the broker kept everything (earliest offset ${lo:-?}): no retention to test"

RUN_NAME=run2
run_start run2 "${GROUP_TIMING[@]}"
limit=$((SECONDS + 60))
until grep -q 'msg="inputs lost: the stored offset is no longer on the topic' "$W/run2.log"; do
  alive
  [ "$SECONDS" -lt "$limit" ] || { tail -20 "$W/run2.log" >&2; fail "no error about the lost inputs after 60 s"; }
  sleep 0.5
done
expect_grep "level=error msg=\"inputs lost: .*topic=$IN partition=0 stored_offset=$n_first earliest_offset=$lo" "$W/run2.log"
# it goes on from the earliest offset: the filler that is left reaches the DLQ
left=$((n_first + 120 - lo))
limit=$((SECONDS + 60))
until [ "$(kcat -b "$BROKERS" -C -t contact.dlq.v1 -e -q -f 'x\n' 2>/dev/null | wc -l)" -ge "$left" ]; do
  alive
  [ "$SECONDS" -lt "$limit" ] || fail "the $left filler records left did not reach the DLQ"
  sleep 0.5
done
kill -TERM "$RUN_PID"; wait "$RUN_PID" || fail "the processor exited non-zero on SIGTERM"
expect_grep "msg=stopped .* offset_resets=1" "$W/run2.log"
echo "retention: the loss of offsets $n_first … $((lo - 1)) was logged as an error; the processor went on"
