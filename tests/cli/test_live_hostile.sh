#!/usr/bin/env bash
# test_live_hostile.sh — what a hostile or broken producer can send never stops
# the stream, never merges or splits citizens, and never makes a poison message
# for the output topics' consumers:
#   - an undecodable record of 1.5 MB goes to the dead-letter topic cut to
#     dlq-max-bytes, with its original length and digest in headers (it used to
#     be copied whole, refused by the producer, and stop the processor for good,
#     restart after restart);
#   - a record over max-record-bytes goes to the dead-letter topic before it is
#     decoded (stage "size");
#   - a record whose key is not its citizen_id, or that has no key, goes to the
#     dead-letter topic (the key partitions a citizen's inputs); the null key
#     stays null on the dead letter;
#   - ids with a NUL byte, a control character or invalid UTF-8 go to the
#     dead-letter topic (they used to merge citizens and drop events);
#   - a restart reads the same topic and does not loop;
#   - a citizen whose Redis record is corrupt is quarantined: its inputs go to
#     the dead-letter topic (stage "state"), every other citizen goes on.
# The valid events around all of it give exactly replay's outputs.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
IN=contact.events.v1 DLQ=contact.dlq.v1 P=4

count() { kcat -b "$BROKERS" -C -t "$1" -e -q -f 'x\n' 2>/dev/null | wc -l; }
alive() { kill -0 "$RUN_PID" 2>/dev/null || { tail -20 "$W/$RUN_NAME.log" >&2; fail "the processor died"; }; }
big_kcat() { kcat -b "$BROKERS" -X message.max.bytes=10000000 -P -t "$IN" "$@"; }

PYGEN=${CD_PYGEN:-}
if [ -z "$PYGEN" ]; then
  PYGEN="$W/pygen" && mkdir -p "$PYGEN"
  protoc --python_out="$PYGEN" -I"$HERE/../../proto" -I/usr/include "$HERE"/../../proto/contact/v1/*.proto \
    || fail "protoc --python_out failed"
fi
record() { /usr/bin/python3 "$HERE/live_tool.py" record "$PYGEN" "$@"; }
reg() {   # reg EVENT_ID CITIZEN_ID → a valid KONTANTHJAELP registration (JSON)
  printf '{"eventId":"%s","citizenId":"%s","occurredAt":"2021-03-01T08:00:00Z","municipalityCode":"101","source":"test","registration":{"benefit":"BENEFIT_KONTANTHJAELP","category":"CATEGORY_JOBPARAT"}}' "$1" "$2"
}

"$CONTACTD" synth --citizens 40 --years 3 --seed 61 --format json --output "$W/valid.jsonl" 2>/dev/null || fail "synth failed"
half=$(($(wc -l <"$W/valid.jsonl") / 2))
head -n "$half" "$W/valid.jsonl" >"$W/valid1.jsonl"
tail -n "+$((half + 1))" "$W/valid.jsonl" >"$W/valid2.jsonl"

# the hostile records
head -c 1500000 /dev/zero | tr '\0' '\377' >"$W/big.bin"                       # 1.5 MB of 0xff
/usr/bin/python3 -c 'import sys; sys.stdout.buffer.write(b"\xa0\x06\x01" * 1000000)' >"$W/huge.bin"  # 3 MB of unknown fields
record "$(reg km-1 km-cit)" >"$W/km.bin" || fail "cannot encode"                  # sent with another key
record "$(reg nk-1 nk1)" >"$W/nk.bin" || fail "cannot encode"                     # sent with no key
record "$(reg nul-1 x)" 6e756c310041 >"$W/nul.bin" || fail "cannot encode"        # citizen_id "nul1\0A"
record "$(reg ctl-1 x)" 6374016c >"$W/ctl.bin" || fail "cannot encode"            # citizen_id "ct\x01l"
record "$(reg utf-1 x)" 7574ff38 >"$W/utf.bin" || fail "cannot encode"            # citizen_id "ut\xff8"
# key → expected stage of its dead letter
declare -A STAGE=([big1]=decode [huge1]=size [other-key]=validate [NULL]=validate [nulkey]=validate
                  [ctlkey]=validate [utfkey]=validate)
n_bad=${#STAGE[@]}

broker_start "$P"
redis_start "$W/redis"
RUN_NAME=run
run_start run --max-record-bytes 2097152 "${GROUP_TIMING[@]}"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/valid1.jsonl" 2>"$W/produce1.log" || fail "produce failed"
big_kcat -p 0 -k big1 "$W/big.bin" || fail "kcat -P of the 1.5 MB record failed"
big_kcat -p 1 -k huge1 "$W/huge.bin" || fail "kcat -P of the 3 MB record failed"
kcat -b "$BROKERS" -P -t "$IN" -k other-key "$W/km.bin" || fail "kcat -P failed"
kcat -b "$BROKERS" -P -t "$IN" "$W/nk.bin" || fail "kcat -P failed"
kcat -b "$BROKERS" -P -t "$IN" -k nulkey "$W/nul.bin" || fail "kcat -P failed"
kcat -b "$BROKERS" -P -t "$IN" -k ctlkey "$W/ctl.bin" || fail "kcat -P failed"
kcat -b "$BROKERS" -P -t "$IN" -k utfkey "$W/utf.bin" || fail "kcat -P failed"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/valid2.jsonl" 2>"$W/produce2.log" || fail "produce failed"

# --no-aggregates: no aggregate stage runs here (test_live_aggregates.sh has one), so the replay leaves them out too
"$CONTACTD" replay --no-aggregates --input "$W/valid.jsonl" --output "$W/replay.jsonl" 2>"$W/replay.log" || fail "replay failed"
want=$(wc -l <"$W/replay.jsonl")
limit=$((SECONDS + 90))
while n=$(count "$DLQ"); o=$(($(count contact.deadlines.v1) + $(count contact.breaches.v1)));
      [ "$n" -lt "$n_bad" ] || [ "$o" -lt "$want" ]; do
  alive
  [ "$SECONDS" -lt "$limit" ] || { tail -20 "$W/run.log" >&2; fail "after 90 s: $n of $n_bad dead letters, $o of $want outputs"; }
  sleep 1
done
sleep 2
alive
[ "$(count "$DLQ")" -eq "$n_bad" ] || fail "$(count "$DLQ") dead letters for $n_bad bad records"

kcat -b "$BROKERS" -C -t "$DLQ" -Z -e -q -f '%K %S %o\n%h\n%k%s\n' 2>/dev/null \
  | /usr/bin/python3 "$HERE/live_tool.py" dlq >"$W/dlq.tsv" || fail "a dead letter lacks a header"
cut -c1-250 "$W/dlq.tsv" >&2
declare -A seen=()
while IFS=$'\t' read -r key stage topic part off sha msg len olen odigest; do
  [ -n "${STAGE[$key]+x}" ] || fail "a dead letter with an unexpected key '$key'"
  [ -z "${seen[$key]+x}" ] || fail "two dead letters with key '$key'"
  seen[$key]=1
  [ "$stage" = "${STAGE[$key]}" ] || fail "dead letter '$key': stage '$stage', expected '${STAGE[$key]}' ($msg)"
  case $key in
    big1) [ "$len" -eq 262144 ] || fail "the 1.5 MB record's dead letter carries $len bytes, not the 262144 of dlq-max-bytes"
          [ "$olen" = 1500000 ] || fail "the cut dead letter says the original had '$olen' bytes"
          [[ $odigest =~ ^[0-9a-f]{32}$ ]] || fail "the cut dead letter has no digest ('$odigest')" ;;
    huge1) [[ $msg == *"3000000 bytes exceeds max-record-bytes (2097152)"* ]] || fail "oversized: '$msg'"
           [ "$olen" = 3000000 ] || fail "the oversized record's dead letter says '$olen'" ;;
    other-key) [[ $msg == *"key is not the event's citizen_id"* ]] || fail "key mismatch: '$msg'" ;;
    NULL) [[ $msg == *"no key"* ]] || fail "null key: '$msg'" ;;
    nulkey|ctlkey) [[ $msg == *citizen_id*control* ]] || fail "$key: '$msg'" ;;
    utfkey) [[ $msg == *citizen_id*UTF-8* ]] || fail "$key: '$msg'" ;;
  esac
  if [ "$len" -lt 262144 ] && [ "$olen" != - ]; then fail "dead letter '$key' was not cut but has a length header"; fi
done <"$W/dlq.tsv"
[ ${#seen[@]} -eq "$n_bad" ] || fail "dead letters for ${!seen[*]}, expected ${!STAGE[*]}"

outputs "$W/live.jsonl"
sort "$W/replay.jsonl" >"$W/replay.sorted"
sort -u "$W/live.jsonl" >"$W/live.sorted"
if ! cmp -s "$W/replay.sorted" "$W/live.sorted"; then
  diff "$W/replay.sorted" "$W/live.sorted" | cut -c1-300 | head -20 >&2
  fail "the valid events' outputs differ from replay's ($want)"
fi
if grep -q '"citizenId":"\(km-cit\|nk1\|nul1\|x\)"' "$W/live.jsonl"; then fail "a bad record produced an output"; fi

# A restart reads the same topic again and goes on (it used to exit within
# seconds on the same outbox head, for good).
kill -TERM "$RUN_PID"; wait "$RUN_PID" || fail "the processor exited non-zero on SIGTERM"
RUN_NAME=run2
run_start run2 --max-record-bytes 2097152 "${GROUP_TIMING[@]}"
sleep 6
alive
[ "$(count "$DLQ")" -eq "$n_bad" ] || fail "the restart made more dead letters"

# A corrupt Redis record quarantines its citizen alone.
victim=$(sed -n '1s/.*"citizenId":"\([^"]*\)".*/\1/p' "$W/valid.jsonl")
vkey=$(redis-cli -p "$REDIS_PORT" --scan --pattern "contactd:{p*}:c:$(/usr/bin/python3 "$HERE/pseudonym.py" "$victim")")
[ -n "$vkey" ] || fail "no Redis record for citizen $victim"
redis-cli -p "$REDIS_PORT" SET "$vkey" "not a citizen record" >/dev/null
printf '%s\n' \
  "{\"eventId\":\"q-conv\",\"citizenId\":\"$victim\",\"occurredAt\":\"2024-06-03T09:00:00Z\",\"municipalityCode\":\"101\",\"source\":\"test\",\"conversation\":{\"conversationId\":\"q-c1\",\"form\":\"CONVERSATION_FORM_IN_PERSON\",\"heldBy\":\"HELD_BY_JOBCENTER\"}}" \
  "$(reg q-fresh-1 q-fresh)" >"$W/after.jsonl"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/after.jsonl" 2>"$W/produce3.log" || fail "produce failed"
limit=$((SECONDS + 40))
until [ "$(count "$DLQ")" -gt "$n_bad" ]; do
  alive
  [ "$SECONDS" -lt "$limit" ] || { tail -20 "$W/run2.log" >&2; fail "after 40 s: the quarantined citizen's input is not on the DLQ"; }
  sleep 1
done
sleep 1
IDLE_MS=2000 outputs "$W/after-out.jsonl"
grep -q '"citizenId":"q-fresh"' "$W/after-out.jsonl" || fail "the citizen after the quarantined one got no output"
alive
kcat -b "$BROKERS" -C -t "$DLQ" -Z -e -q -f '%K %S %o\n%h\n%k%s\n' 2>/dev/null \
  | /usr/bin/python3 "$HERE/live_tool.py" dlq | grep -F "$victim"$'\t' >"$W/q.tsv" || fail "no dead letter for the quarantined citizen"
expect_grep $'\tstate\t.*state in Redis is corrupt' "$W/q.tsv"
expect_grep 'msg="citizen quarantined: its Redis record is corrupt"' "$W/run2.log"
if grep -qF "$victim" "$W/run2.log"; then fail "the log names the citizen"; fi
expect_grep "citizen=$(/usr/bin/python3 "$HERE/pseudonym.py" "$victim")" "$W/run2.log"
echo "hostile: $n_bad bad records on the DLQ as expected, one citizen quarantined, $want outputs as replay"
