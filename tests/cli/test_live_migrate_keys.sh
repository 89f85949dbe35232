#!/usr/bin/env bash
# test_live_migrate_keys.sh — state of the old key form (a citizen's raw id as
# its record's key suffix and as its timer member, no key fingerprint in
# meta, as the store wrote it before pseudonyms) is migrated when run takes
# its partitions, and the stream goes on with replay's outputs:
#   - a processor runs the first half of a log, stops; its state is turned
#     into the old form (the record bytes are the same in both forms), and the
#     leak check sees the ids there (the negative control);
#   - a new processor takes the partitions: it renames every record and timer
#     member (logged), runs the second half through event-clock ticks that
#     fire from the timer index, and the outputs of both halves are replay's;
#     no key name or timer member holds an id afterwards;
#   - a processor given another citizen key refuses the partitions (every
#     citizen would look new) and says why, and changes nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
P=4

alive() { kill -0 "$RUN_PID" 2>/dev/null || { tail -20 "$W/$RUN_NAME.log" >&2; fail "the processor died"; }; }
produced_of() { sed -n 's/.* produced=\([0-9]*\).*/\1/p' "$1"; }
redis_names() {
  redis-cli -p "$REDIS_PORT" --scan
  redis-cli -p "$REDIS_PORT" --scan --pattern '*:timers' | while read -r t; do redis-cli -p "$REDIS_PORT" ZRANGE "$t" 0 -1; done
}

"$CONTACTD" synth --citizens 40 --years 2 --seed 23 --format json --output "$W/log.jsonl" 2>/dev/null || fail "synth failed"
half=$(($(wc -l <"$W/log.jsonl") / 2))
head -n "$half" "$W/log.jsonl" >"$W/a.jsonl"
tail -n "+$((half + 1))" "$W/log.jsonl" >"$W/b.jsonl"
grep -o '"citizenId":"[^"]*"' "$W/log.jsonl" | cut -d'"' -f4 | sort -u >"$W/ids.txt"
# id → pseudonym (the development key: run is given none), computed apart from contactd
/usr/bin/python3 "$HERE/pseudonym.py" <"$W/ids.txt" >"$W/map.tsv"
"$CONTACTD" replay --no-aggregates --input "$W/log.jsonl" --output "$W/replay.jsonl" 2>"$W/replay.log" || fail "replay failed"
want=$(sort -u "$W/replay.jsonl" | wc -l)

broker_start "$P"
redis_start "$W/redis"
RUN_NAME=run1
run_start run1 "${GROUP_TIMING[@]}"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/a.jsonl" 2>"$W/produce1.log" || fail "produce failed"
wait_drained "$(produced_of "$W/produce1.log")" 120
expect_grep 'no citizen-key-file' "$W/run1.log"
kill -TERM "$RUN_PID"; wait "$RUN_PID" || fail "the processor exited non-zero on SIGTERM"

# the old form: c:<id> and the id as timer member, no fingerprint
n_old=0
while IFS=$'\t' read -r id ps; do
  for p in $(seq 0 $((P - 1))); do
    if [ "$(redis-cli -p "$REDIS_PORT" EXISTS "contactd:{p$p}:c:$ps")" = 1 ]; then
      redis-cli -p "$REDIS_PORT" RENAME "contactd:{p$p}:c:$ps" "contactd:{p$p}:c:$id" >/dev/null
      n_old=$((n_old + 1))
    fi
    redis-cli -p "$REDIS_PORT" ZRANGE "contactd:{p$p}:timers" 0 -1 WITHSCORES | paste - - | while IFS=$'\t' read -r m s; do
      if [ "${m:0:34}" = "$ps" ]; then
        redis-cli -p "$REDIS_PORT" ZREM "contactd:{p$p}:timers" "$m" >/dev/null
        redis-cli -p "$REDIS_PORT" ZADD "contactd:{p$p}:timers" "$s" "$id" >/dev/null
      fi
    done
  done
done <"$W/map.tsv"
for p in $(seq 0 $((P - 1))); do redis-cli -p "$REDIS_PORT" HDEL "contactd:{p$p}:meta" ckey >/dev/null; done
[ "$n_old" -ge 20 ] || fail "only $n_old records to turn into the old form"
redis_names >"$W/names-old.txt"
grep -qF -f "$W/ids.txt" "$W/names-old.txt" || fail "the leak check does not see the ids of the old form"
n_timers_old=$(grep -cxF -f "$W/ids.txt" "$W/names-old.txt" || true)
[ "$n_timers_old" -ge 1 ] || fail "no timer member of the old form"

RUN_NAME=run2
run_start run2 "${GROUP_TIMING[@]}"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/b.jsonl" 2>"$W/produce2.log" || fail "produce failed"
wait_drained "$(($(produced_of "$W/produce1.log") + $(produced_of "$W/produce2.log")))" 120
alive
expect_grep 'msg="citizen keys migrated to pseudonyms"' "$W/run2.log"
renamed=$(sed -n 's/.*msg="citizen keys migrated to pseudonyms".* renamed=\([0-9]*\).*/\1/p' "$W/run2.log" | awk '{ s += $1 } END { print s + 0 }')
[ "$renamed" -eq "$n_old" ] || fail "$renamed citizens renamed, $n_old were of the old form"
redis_names >"$W/names-new.txt"
if grep -F -f "$W/ids.txt" "$W/names-new.txt" >"$W/leak.txt"; then head -5 "$W/leak.txt" >&2; fail "an id is left in a Redis name after the migration"; fi
outputs "$W/live.jsonl"
same_as_replay "across the migration"
kill -TERM "$RUN_PID"; wait "$RUN_PID" || fail "the processor exited non-zero on SIGTERM"

# another key: refused, said, nothing changed
( umask 077; printf 'another-key-another-key-another-key-0123\n' >"$W/other.key" )
redis-cli -p "$REDIS_PORT" --scan | sort >"$W/keys-before.txt"
RUN_NAME=run3
run_start run3 --citizen-key-file "$W/other.key" "${GROUP_TIMING[@]}"
limit=$((SECONDS + 40))
until grep -q 'another citizen key' "$W/run3.log"; do
  alive; [ "$SECONDS" -lt "$limit" ] || { tail -5 "$W/run3.log" >&2; fail "another key: no refusal after 40 s"; }; sleep 0.5
done
redis-cli -p "$REDIS_PORT" --scan | sort >"$W/keys-after.txt"
cmp -s "$W/keys-before.txt" "$W/keys-after.txt" || fail "a processor with another key changed the key names"
echo "migrate keys: $n_old old-form records and $n_timers_old timer members renamed on take, $want outputs as replay, another key refused"
