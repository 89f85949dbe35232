#!/usr/bin/env bash
# test_live_poison.sh — bad input never stops the stream (docs/spec/events.md "Guarantees"):
# poison records between valid ones go to the dead-letter topic unchanged, with the
# Kafka Connect style headers __connect.errors.{topic,partition,offset,stage,
# exception.message}, one dead letter per poison record, and the valid events around
# them give exactly replay's outputs for the valid events alone.
# Poison: raw garbage bytes and a truncated binary record (kcat -P, keys p1/p2), and
# through `produce --send-invalid` JSON records with an unknown enum value, no
# event_id, a date in 1850 and a 129-byte conversation id.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
IN=contact.events.v1 DLQ=contact.dlq.v1

count() { kcat -b "$BROKERS" -C -t "$1" -e -q -f 'x\n' 2>/dev/null | wc -l; }
alive() { kill -0 "$RUN_PID" 2>/dev/null || { tail -20 "$W/run.log" >&2; fail "the processor died"; }; }

# valid events: a small population, split in two
"$CONTACTD" synth --citizens 40 --years 3 --seed 51 --format json --output "$W/valid.jsonl" 2>/dev/null \
  || fail "synth failed"
half=$(($(wc -l <"$W/valid.jsonl") / 2))
head -n "$half" "$W/valid.jsonl" >"$W/valid1.jsonl"
tail -n "+$((half + 1))" "$W/valid.jsonl" >"$W/valid2.jsonl"
# --no-aggregates: no aggregate stage runs here (test_live_aggregates.sh has one), so the replay leaves them out too
"$CONTACTD" replay --no-aggregates --input "$W/valid.jsonl" --output "$W/replay.jsonl" 2>"$W/replay.log" || fail "replay failed"
want=$(wc -l <"$W/replay.jsonl")

# poison through kcat: garbage, and a binary record cut inside its first field
head -c 200 /dev/urandom >"$W/garbage.bin"
printf '\377\377\377\377\377\377\377\377\377\377garbage' >>"$W/garbage.bin"   # an over-long varint: never decodes
"$CONTACTD" synth --citizens 1 --seed 52 --format pb --output "$W/one.pb" 2>/dev/null || fail "synth of one failed"
/usr/bin/python3 - "$W/one.pb" "$W/truncated.bin" <<'EOF' || fail "cannot cut a record"
import sys
b = open(sys.argv[1], "rb").read()
n = shift = i = 0
while True:                      # the varint length prefix of the first record
    c = b[i]; i += 1
    n |= (c & 0x7F) << shift; shift += 7
    if not c & 0x80:
        break
rec = b[i:i + n]
assert rec[0] == 0x0A and rec[1] > 8, "the record should open with its event_id"
open(sys.argv[2], "wb").write(rec[:8])   # inside event_id: a length that runs past the end
EOF
# poison through produce --send-invalid (JSON that does not decode or does not validate)
long=$(printf 'C%.0s' $(seq 129))
cat >"$W/bad.jsonl" <<EOF
{"eventId":"bad-enum","citizenId":"p3","occurredAt":"2019-03-01T10:00:00Z","municipalityCode":"101","source":"test","registration":{"benefit":"BENEFIT_NOT_A_BENEFIT"}}
{"citizenId":"p4","occurredAt":"2019-03-01T10:00:00Z","municipalityCode":"101","source":"test","registration":{"benefit":"BENEFIT_KONTANTHJAELP"}}
{"eventId":"bad-year","citizenId":"p5","occurredAt":"1850-03-01T10:00:00Z","municipalityCode":"101","source":"test","registration":{"benefit":"BENEFIT_KONTANTHJAELP"}}
{"eventId":"bad-conv-id","citizenId":"p6","occurredAt":"2019-03-01T10:00:00Z","municipalityCode":"101","source":"test","conversation":{"conversationId":"$long","form":"CONVERSATION_FORM_IN_PERSON","heldBy":"HELD_BY_JOBCENTER"}}
EOF
# key → expected stage, for each poison record ("-": no key; a record that does not
# decode is sent by produce as its raw bytes without a key)
declare -A STAGE=([p1]=decode [p2]=decode [-]=decode [p4]=validate [p5]=validate [p6]=validate)
n_poison=6

broker_start 4
redis_start "$W/redis"
run_start run "${GROUP_TIMING[@]}"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/valid1.jsonl" 2>"$W/produce1.log" \
  || { cat "$W/produce1.log" >&2; fail "produce of the first valid half failed"; }
kcat -b "$BROKERS" -P -t "$IN" -k p1 "$W/garbage.bin" 2>"$W/kcat1.log" || fail "kcat -P failed: $(cat "$W/kcat1.log")"
kcat -b "$BROKERS" -P -t "$IN" -k p2 "$W/truncated.bin" 2>"$W/kcat2.log" || fail "kcat -P failed: $(cat "$W/kcat2.log")"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/bad.jsonl" --send-invalid 2>"$W/produce-bad.log" \
  || { cat "$W/produce-bad.log" >&2; fail "produce --send-invalid failed"; }
expect_grep 'msg="produce done" .* produced=4 .* invalid=4' "$W/produce-bad.log"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/valid2.jsonl" 2>"$W/produce2.log" \
  || { cat "$W/produce2.log" >&2; fail "produce of the second valid half failed"; }

# the dead letters, and the outputs of the valid events after them
limit=$((SECONDS + 60))
while n=$(count "$DLQ"); o=$(($(count contact.deadlines.v1) + $(count contact.breaches.v1)));
      [ "$n" -lt "$n_poison" ] || [ "$o" -lt "$want" ]; do
  alive
  [ "$SECONDS" -lt "$limit" ] || fail "after 60 s: $n of $n_poison dead letters, $o of $want outputs"
  sleep 1
done
sleep 2
n=$(count "$DLQ")
[ "$n" -eq "$n_poison" ] || fail "$n dead letters for $n_poison poison records"
alive

kcat -b "$BROKERS" -C -t "$DLQ" -e -q -f '%K %S %o\n%h\n%k%s\n' 2>/dev/null \
  | /usr/bin/python3 "$HERE/live_tool.py" dlq >"$W/dlq.tsv" || fail "a dead letter lacks a header"
cat "$W/dlq.tsv" >&2
[ "$(wc -l <"$W/dlq.tsv")" -eq "$n_poison" ] || fail "expected $n_poison dead letters in $W/dlq.tsv"
kcat -b "$BROKERS" -C -t "$IN" -e -q -f '%K %S\n%k%s\n' 2>/dev/null | /usr/bin/python3 "$HERE/live_tool.py" sha \
  | sort -u >"$W/inputs.sha"
declare -A seen=()
while IFS=$'\t' read -r key stage topic part off sha msg; do
  [ -n "${STAGE[$key]+x}" ] || fail "a dead letter with an unexpected key '$key'"
  [ -z "${seen[$key]+x}" ] || fail "two dead letters with key '$key'"
  seen[$key]=1
  [ "$stage" = "${STAGE[$key]}" ] || fail "dead letter '$key': stage '$stage', expected '${STAGE[$key]}' ($msg)"
  [ "$topic" = "$IN" ] || fail "dead letter '$key': topic header '$topic'"
  [[ "$part" =~ ^[0-3]$ ]] || fail "dead letter '$key': partition header '$part'"
  [[ "$off" =~ ^[0-9]+$ ]] || fail "dead letter '$key': offset header '$off'"
  [ -n "$msg" ] || fail "dead letter '$key': no exception message"
  # the headers point at the original record, and the dead letter carries it unchanged
  orig=$(kcat -b "$BROKERS" -C -t "$topic" -p "$part" -o "$off" -c 1 -e -q -f '%K %S\n%k%s\n' 2>/dev/null \
    | /usr/bin/python3 "$HERE/live_tool.py" sha)
  [ "$orig" = "$key"$'\t'"$sha" ] || fail "dead letter '$key' is not the record at $topic/$part@$off"
done <"$W/dlq.tsv"
grep -q $'\tvalidate\t.*event_id' "$W/dlq.tsv" || fail "the missing event_id is not named"
grep -q $'\tvalidate\t.*occurred_at' "$W/dlq.tsv" || fail "the date in 1850 is not named"
grep -q $'\tvalidate\t.*conversation_id' "$W/dlq.tsv" || fail "the long conversation id is not named"

# the stream went on: the valid events' outputs, exactly
outputs "$W/live.jsonl"
sort "$W/replay.jsonl" >"$W/replay.sorted"
sort "$W/live.jsonl" >"$W/live.sorted"
if ! cmp -s "$W/replay.sorted" "$W/live.sorted"; then
  diff "$W/replay.sorted" "$W/live.sorted" | cut -c1-300 | head -20 >&2
  fail "the valid events' outputs ($(wc -l <"$W/live.jsonl")) differ from replay's ($want)"
fi
if grep -q '"citizenId":"p[0-9]"' "$W/live.jsonl"; then fail "a poison record produced an output"; fi

kill -TERM "$RUN_PID"
rc=0
wait "$RUN_PID" || rc=$?
[ "$rc" -eq 0 ] || { tail -30 "$W/run.log" >&2; fail "the processor exited with $rc on SIGTERM"; }
expect_grep "msg=stopped .* dead_letters=$n_poison " "$W/run.log"
echo "poison: $n_poison dead letters with their headers; $want outputs of the valid events, as replay"
