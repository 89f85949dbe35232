#!/usr/bin/env bash
# test_live_history.sh — compaction and retention live: `contactd run` with a short
# horizon and a one-year retention gives the outputs replay gives with the same
# settings, deletes from Redis exactly the citizens replay deletes (record and
# timer, in its commits), and counts compactions and deletions in /metrics.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
trap 'rc=$?; live_cleanup; if [ $rc -eq 0 ]; then rm -rf "$W"; else echo "work files: $W" >&2; fi' EXIT

SETTINGS=(--history-horizon 60 --retention 365)
"$CONTACTD" synth --citizens 200 --years 6 --seed 21 --format pb --output "$W/log.pb" 2>"$W/synth.log" \
  || fail "synth failed"
# --no-aggregates: no aggregate stage runs here
"$CONTACTD" replay --no-aggregates "${SETTINGS[@]}" --stats --input "$W/log.pb" --output "$W/replay.jsonl" \
  2>"$W/replay.log" || fail "replay failed"
want=$(wc -l <"$W/replay.jsonl")
left=$(sed -n 's/.*msg="replay stats".* store_citizens=\([0-9]*\).*/\1/p' "$W/replay.log")
deleted=$(sed -n 's/.*msg="replay history".* citizens_deleted=\([0-9]*\).*/\1/p' "$W/replay.log")
compactions=$(sed -n 's/.*msg="replay history".* compactions=\([0-9]*\).*/\1/p' "$W/replay.log")
[ "$deleted" -gt 20 ] && [ "$left" -gt 0 ] || fail "the log must delete some citizens and keep some ($deleted, $left)"

broker_start 4
redis_start "$W/redis"
MP=$(free_port)
run_start hist.run "${GROUP_TIMING[@]}" "${SETTINGS[@]}" --metrics-addr "127.0.0.1:$MP"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/log.pb" 2>"$W/produce.log" \
  || { cat "$W/produce.log" >&2; fail "produce failed"; }

citizen_keys() { redis-cli -p "$REDIS_PORT" --scan --pattern 'contactd:*:c:*' | wc -l; }
timers() {
  local p n=0
  for p in 0 1 2 3; do n=$((n + $(redis-cli -p "$REDIS_PORT" ZCARD "contactd:{p$p}:timers"))); done
  echo "$n"
}
# the last tick's deletions are committed once every input is: wait for the keys to settle on replay's count
for _ in $(seq 90); do
  kill -0 "$RUN_PID" 2>/dev/null || { tail -20 "$W/hist.run.log" >&2; fail "the processor died"; }
  [ "$(citizen_keys)" -eq "$left" ] && break
  sleep 1
done
[ "$(citizen_keys)" -eq "$left" ] || fail "Redis holds $(citizen_keys) citizens, replay kept $left"
[ "$(timers)" -le "$left" ] || fail "timers of deleted citizens are left: $(timers) for $left citizens"

outputs "$W/live.jsonl"
same_as_replay "with compaction and retention"

curl -sf "http://127.0.0.1:$MP/metrics" >"$W/metrics" || fail "GET /metrics failed"
expect_grep "^contactd_citizens_deleted_total $deleted\$" "$W/metrics"
n=$(sed -n 's/^contactd_history_compactions_total \([0-9]*\)$/\1/p' "$W/metrics")
[ "${n:-0}" -ge "$compactions" ] || fail "contactd_history_compactions_total is ${n:-none}, replay folded $compactions times"
expect_grep '^contactd_history_folded_events_total [1-9]' "$W/metrics"

kill -TERM "$RUN_PID"
rc=0
wait "$RUN_PID" || rc=$?
[ "$rc" -eq 0 ] || { tail -30 "$W/hist.run.log" >&2; fail "the processor exited with $rc on SIGTERM"; }
echo "ok: $want outputs as replay; $deleted citizens deleted, $left kept; $compactions compactions"
