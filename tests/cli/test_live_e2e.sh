#!/usr/bin/env bash
# test_live_e2e.sh — the live pipeline end to end: a synthetic log produced to a
# devbroker and processed by `contactd run --clock event` (Redis state) gives exactly
# the outputs `contactd replay` gives for the same log (sorted lines: the same event
# ids and the same bytes, no more, no fewer), every output is keyed by its citizen
# id, and the processor stops cleanly (status 0) on SIGTERM.
# Twice: a plain log, and one heavy with late, out-of-order and duplicate records.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
trap 'rc=$?; live_cleanup; if [ $rc -eq 0 ]; then rm -rf "$W"; else echo "work files: $W" >&2; fi' EXIT

# outputs on both output topics now
count_outputs() {
  local n=0 t
  for t in contact.deadlines.v1 contact.breaches.v1; do
    n=$((n + $(kcat -b "$BROKERS" -C -t "$t" -e -q -f 'x\n' 2>/dev/null | wc -l)))
  done
  echo "$n"
}
# wait_count N SECONDS: until the topics hold at least N outputs; the processor must stay up
wait_count() {
  local want=$1 limit=$((SECONDS + $2)) n
  while n=$(count_outputs); [ "$n" -lt "$want" ]; do
    kill -0 "$RUN_PID" 2>/dev/null || { tail -20 "$W/$RUN_NAME.log" >&2; fail "the processor died ($n of $want outputs)"; }
    [ "$SECONDS" -lt "$limit" ] || { tail -20 "$W/$RUN_NAME.log" >&2; fail "only $n of $want outputs after $2 s"; }
    sleep 1
  done
}

# one_log NAME SYNTH_ARGS…: a fresh broker, Redis and processor for one log
one_log() {
  local name=$1; shift
  local d=$W/$name
  mkdir -p "$d"
  "$CONTACTD" synth "$@" --format pb --output "$d/log.pb" 2>"$d/synth.log" || fail "$name: synth failed"
  # --no-aggregates: no aggregate stage runs here (test_live_aggregates.sh has one), so the replay leaves them out too
  "$CONTACTD" replay --no-aggregates --input "$d/log.pb" --output "$d/replay.jsonl" 2>"$d/replay.log" || fail "$name: replay failed"
  local want
  want=$(wc -l <"$d/replay.jsonl")
  [ "$want" -gt 1000 ] || fail "$name: replay gave only $want outputs"

  broker_start 4
  unset REDIS_PORT
  redis_start "$d/redis"
  RUN_NAME=$name.run
  run_start "$RUN_NAME" "${GROUP_TIMING[@]}"
  "$CONTACTD" produce --brokers "$BROKERS" --input "$d/log.pb" 2>"$d/produce.log" \
    || { cat "$d/produce.log" >&2; fail "$name: produce failed"; }
  wait_count "$want" 60
  outputs "$d/live.jsonl"

  sort "$d/replay.jsonl" >"$d/replay.sorted"
  sort "$d/live.jsonl" >"$d/live.sorted"
  if ! cmp -s "$d/replay.sorted" "$d/live.sorted"; then
    diff "$d/replay.sorted" "$d/live.sorted" | cut -c1-300 | head -20 >&2
    fail "$name: live outputs ($(wc -l <"$d/live.jsonl")) differ from replay's ($want)"
  fi
  # the event ids are unique: nothing was delivered twice
  n_ids=$(grep -o '"eventId":"[^"]*"' "$d/live.jsonl" | sort -u | wc -l)
  [ "$n_ids" -eq "$want" ] || fail "$name: $n_ids distinct event ids for $want outputs"

  # every output is keyed by its citizen id
  local t n total=0
  for t in contact.deadlines.v1 contact.breaches.v1; do
    n=$(kcat -b "$BROKERS" -C -t "$t" -e -q -f '%K %S\n%k%s\n' 2>/dev/null | /usr/bin/python3 "$HERE/live_tool.py" keys) \
      || fail "$name: outputs on $t not keyed by their citizen id"
    total=$((total + n))
  done
  [ "$total" -eq "$want" ] || fail "$name: checked the keys of $total messages, expected $want"

  # SIGTERM: finish, drain, exit 0 (and no error logged on the way)
  kill -TERM "$RUN_PID"
  local rc=0
  wait "$RUN_PID" || rc=$?
  [ "$rc" -eq 0 ] || { tail -30 "$W/$RUN_NAME.log" >&2; fail "$name: the processor exited with $rc on SIGTERM"; }
  expect_grep 'msg=stopped' "$W/$RUN_NAME.log"
  if grep -q 'level=error' "$W/$RUN_NAME.log"; then
    grep 'level=error' "$W/$RUN_NAME.log" | head -5 >&2
    fail "$name: the processor logged errors"
  fi
  redis_stop
  kill "$BROKER_PID" 2>/dev/null || true
  wait "$BROKER_PID" 2>/dev/null || true
  echo "$name: $want outputs, as replay"
}

one_log plain --citizens 300 --years 4 --seed 11
one_log late-dups --citizens 300 --years 4 --seed 12 --late-ratio 0.3 --dup-ratio 0.2
