#!/usr/bin/env bash
# test_live_pii.sh — no citizen id in a log line, a dead-letter header or a
# Redis key name, with a citizen key file (docs/operations.md, "Personal data"):
#   - the pipeline runs on a synthetic population and hostile inputs that make
#     dead letters (a key that is not the citizen id, an undecodable record, a
#     history over --max-events, the citizen's id as another field's value,
#     which error texts quote, a citizen whose Redis record is corrupt) and
#     error lines (the quarantine, produce's skipped record);
#   - no log line of run, produce or consume, no header value of any dead
#     letter, no Redis key and no timer member holds any citizen id; a citizen
#     is named by its pseudonym, computed here apart from contactd
#     (pseudonym.py), and Redis keys are named by pseudonyms of this key;
#   - every dead letter keeps its original Kafka key, as Kafka Connect does;
#   - consume's output file is 0600;
#   - the negative control: with --log-citizen-ids the quarantine line names
#     the citizen by its id, and the same check finds it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
IN=contact.events.v1 DLQ=contact.dlq.v1 P=4

count() { kcat -b "$BROKERS" -C -t "$1" -e -q -f 'x\n' 2>/dev/null | wc -l; }
alive() { kill -0 "$RUN_PID" 2>/dev/null || { tail -20 "$W/$RUN_NAME.log" >&2; fail "the processor died"; }; }
pseud() { /usr/bin/python3 "$HERE/pseudonym.py" --key-file "$W/citizen.key" "$1"; }
PYGEN="$W/pygen" && mkdir -p "$PYGEN"
protoc --python_out="$PYGEN" -I"$HERE/../../proto" -I/usr/include "$HERE"/../../proto/contact/v1/*.proto \
  || fail "protoc --python_out failed"
record() { /usr/bin/python3 "$HERE/live_tool.py" record "$PYGEN" "$@"; }
ev() {    # ev EVENT_ID CITIZEN_ID DAY PAYLOAD → one input (JSON)
  printf '{"eventId":"%s","citizenId":"%s","occurredAt":"2021-03-%02dT08:00:00Z","municipalityCode":"101","source":"test",%s}\n' "$1" "$2" "$3" "$4"
}
REG='"registration":{"benefit":"BENEFIT_KONTANTHJAELP","category":"CATEGORY_JOBPARAT"}'
conv() { printf '"conversation":{"conversationId":"%s","form":"CONVERSATION_FORM_IN_PERSON","heldBy":"HELD_BY_JOBCENTER"}' "$1"; }

# leaks: the lines of file $2 that hold any id of $1 (one per line); none → exit 1
leaks() { grep -F -f "$1" "$2"; }

# the key: 32 random bytes in hex, one line, readable by its owner only
( umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$W/citizen.key" )
KEYOPT=(--citizen-key-file "$W/citizen.key")

"$CONTACTD" synth --citizens 30 --years 2 --seed 71 --format json --output "$W/valid.jsonl" 2>/dev/null || fail "synth failed"
# CPR-like ids of the hostile inputs
KM_KEY=0101901111 KM_CIT=0101902222 FULL=0101903333 UNDEC=0101904444 MUNI=0101905555 MAXEV=40
{
  ev full-reg "$FULL" 1 "$REG"
  for i in $(seq 1 45); do ev "full-c$i" "$FULL" 2 "$(conv "fc$i")"; done
} >"$W/full.jsonl"
record "$(ev km-1 "$KM_CIT" 1 "$REG")" >"$W/km.bin" || fail "cannot encode"
printf '\377\377\377\377' >"$W/undec.bin"
# the citizen's id where it does not belong: error texts quote the field's value
ev muni-1 "$MUNI" 1 "$REG" | sed "s/\"municipalityCode\":\"101\"/\"municipalityCode\":\"$MUNI\"/" >"$W/muni.jsonl"
record "$(cat "$W/muni.jsonl")" >"$W/muni.bin" || fail "cannot encode"
{ grep -o '"citizenId":"[^"]*"' "$W/valid.jsonl" | cut -d'"' -f4 | sort -u
  printf '%s\n' "$KM_KEY" "$KM_CIT" "$FULL" "$UNDEC" "$MUNI"; } >"$W/ids.txt"
[ "$(wc -l <"$W/ids.txt")" -ge 30 ] || fail "too few citizen ids to look for"

broker_start "$P"
redis_start "$W/redis"
RUN_NAME=run
run_start run "${KEYOPT[@]}" --max-events "$MAXEV" "${GROUP_TIMING[@]}"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/valid.jsonl" 2>"$W/produce1.log" || fail "produce failed"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/full.jsonl" 2>"$W/produce2.log" || fail "produce failed"
kcat -b "$BROKERS" -P -t "$IN" -k "$KM_KEY" "$W/km.bin" || fail "kcat -P failed"
kcat -b "$BROKERS" -P -t "$IN" -k "$UNDEC" "$W/undec.bin" || fail "kcat -P failed"
kcat -b "$BROKERS" -P -t "$IN" -k "$MUNI" "$W/muni.bin" || fail "kcat -P failed"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/muni.jsonl" 2>"$W/produce4.log" || fail "produce failed"
expect_grep 'msg="record skipped".*municipality_code' "$W/produce4.log"
produced_of() { sed -n 's/.* produced=\([0-9]*\).*/\1/p' "$1"; }
wait_drained "$(($(produced_of "$W/produce1.log") + $(produced_of "$W/produce2.log") + 3))" 120
alive

# a corrupt record quarantines its citizen: an error line and a dead letter
victim=$(sed -n '1s/.*"citizenId":"\([^"]*\)".*/\1/p' "$W/valid.jsonl")
vkey=$(redis-cli -p "$REDIS_PORT" --scan --pattern "contactd:{p*}:c:$(pseud "$victim")")
[ -n "$vkey" ] || fail "no Redis record named by the pseudonym of $victim under this key"
redis-cli -p "$REDIS_PORT" SET "$vkey" "not a citizen record" >/dev/null
ev q-1 "$victim" 20 "$(conv q-c1)" >"$W/q.jsonl"
n_dlq=$(count "$DLQ")
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/q.jsonl" 2>"$W/produce3.log" || fail "produce failed"
limit=$((SECONDS + 40))
until [ "$(count "$DLQ")" -gt "$n_dlq" ]; do
  alive; [ "$SECONDS" -lt "$limit" ] || fail "the quarantined citizen's input is not on the DLQ after 40 s"; sleep 1
done
expect_grep 'msg="citizen quarantined' "$W/run.log"
expect_grep "citizen=$(pseud "$victim")" "$W/run.log"
outputs "$W/live.jsonl"
[ -s "$W/live.jsonl" ] || fail "no outputs"
[ "$(stat -c %a "$W/live.jsonl")" = 600 ] || fail "consume's output is $(stat -c %a "$W/live.jsonl"), not 600"

# (1) no log line holds a citizen id
cat "$W"/run.log "$W"/produce*.log "$W"/consume.log >"$W/all.log"
[ "$(wc -l <"$W/all.log")" -gt 5 ] || fail "too few log lines to mean anything"
if leaks "$W/ids.txt" "$W/all.log" >"$W/leak.log"; then head -5 "$W/leak.log" >&2; fail "a log line holds a citizen id"; fi
grep -q 'no citizen-key-file' "$W/run.log" && fail "the development-key warning with a key file given"

# (2) dead letters: original key kept, no id in any header value
kcat -b "$BROKERS" -C -t "$DLQ" -e -q -f '%k\t%h\n' 2>/dev/null >"$W/dlq.txt"
cut -c1-200 "$W/dlq.txt" >&2
cut -f1 "$W/dlq.txt" | sort | uniq -c >&2
for k in "$KM_KEY" "$UNDEC" "$FULL" "$MUNI" "$victim"; do
  grep -q "^$k"$'\t' "$W/dlq.txt" || fail "no dead letter keyed '$k' (the original key)"
done
grep -q "^$FULL"$'\t'".*history is full" "$W/dlq.txt" || fail "the full history's dead letter does not say so"
grep -q "^$MUNI"$'\t'".*municipality_code.*$(pseud "$MUNI")" "$W/dlq.txt" || fail "the id quoted as a field's value is not its pseudonym"
cut -f2- "$W/dlq.txt" >"$W/dlq-headers.txt"
if leaks "$W/ids.txt" "$W/dlq-headers.txt" >"$W/leak.dlq"; then head -5 "$W/leak.dlq" >&2; fail "a dead-letter header holds a citizen id"; fi

# (3) Redis: no key name and no timer member holds an id; records are named by this key's pseudonyms
redis_names() {
  redis-cli -p "$REDIS_PORT" --scan
  redis-cli -p "$REDIS_PORT" --scan --pattern '*:timers' | while read -r t; do redis-cli -p "$REDIS_PORT" ZRANGE "$t" 0 -1; done
}
redis_names >"$W/redis-names.txt"
n_rec=$(grep -c ':c:h:[0-9a-f]\{32\}$' "$W/redis-names.txt" || true)
[ "$n_rec" -ge 30 ] || fail "only $n_rec pseudonymous records in Redis"
[ "$(grep -c ':timers$' "$W/redis-names.txt")" -ge 1 ] || fail "no timer index to look into"
if leaks "$W/ids.txt" "$W/redis-names.txt" >"$W/leak.redis"; then head -5 "$W/leak.redis" >&2; fail "a Redis key or timer member holds a citizen id"; fi
for id in "$victim" "$FULL"; do
  grep -q ":c:$(pseud "$id")$" "$W/redis-names.txt" || fail "citizen $id's record is not named by its pseudonym"
done

# (4) the negative control: --log-citizen-ids names citizens in logs, and the check above sees it
kill -TERM "$RUN_PID"; wait "$RUN_PID" || fail "the processor exited non-zero on SIGTERM"
RUN_NAME=run2
run_start run2 "${KEYOPT[@]}" --max-events "$MAXEV" --log-citizen-ids "${GROUP_TIMING[@]}"
ev q-2 "$victim" 21 "$(conv q-c2)" >"$W/q2.jsonl"
n_dlq=$(count "$DLQ")
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/q2.jsonl" 2>>"$W/produce3.log" || fail "produce failed"
limit=$((SECONDS + 40))
until [ "$(count "$DLQ")" -gt "$n_dlq" ]; do
  alive; [ "$SECONDS" -lt "$limit" ] || fail "with --log-citizen-ids: no dead letter after 40 s"; sleep 1
done
expect_grep 'log-citizen-ids is on' "$W/run2.log"

# (5) a timer member that does not open (a hand edit) is skipped and said; the others' timers go on
tkey=$(redis-cli -p "$REDIS_PORT" --scan --pattern 'contactd:*:timers' | head -1)
redis-cli -p "$REDIS_PORT" ZADD "$tkey" 0 "hand-edited-member" >/dev/null
printf '{"eventId":"pii-tick","occurredAt":"2030-01-01T00:00:00Z","source":"clock","clockTick":{}}\n' >"$W/tick.jsonl"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/tick.jsonl" 2>>"$W/produce3.log" || fail "produce failed"
limit=$((SECONDS + 40))
until grep -q 'timer index member is not sealed' "$W/run2.log"; do
  alive; [ "$SECONDS" -lt "$limit" ] || fail "the hand-edited timer member was not reported"; sleep 0.5
done
sleep 2
alive
expect_grep "citizen=$victim" "$W/run2.log"
leaks "$W/ids.txt" "$W/run2.log" >/dev/null || fail "the leak check does not see the id that --log-citizen-ids logs"
echo "pii: $(wc -l <"$W/ids.txt") ids, $(wc -l <"$W/all.log") log lines, $(wc -l <"$W/dlq.txt") dead letters, $(wc -l <"$W/redis-names.txt") Redis names: no id; --log-citizen-ids shows it"
