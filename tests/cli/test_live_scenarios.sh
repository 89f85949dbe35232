# The spec's scenarios through Kafka produce the same outputs as `contactd replay`
# on the same log. The scenario runner exports every tests/scenarios file
# as an event log (ids prefixed per file, `until` as an all-citizen ClockTick) with
# its engine options; files with the same options are mixed into one log, produced
# to its own topics, processed by `contactd run --clock event` against a real
# redis-server, read back, and compared, sorted, with replay of that log.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
SCN=${CD_SCENARIO_BIN:-$(dirname "$CONTACTD")/tests/test_scenarios}
[ -x "$SCN" ] || fail "no scenario runner at $SCN"
mkdir -p "$W/exp"
CD_SCENARIO_EXPORT="$W/exp" "$SCN" >/dev/null 2>&1 || fail "the scenario runner failed while exporting"

redis_start "$W/redis"
broker_start 4
groups=0
while IFS= read -r flags; do
  groups=$((groups + 1))
  g=g$groups
  : >"$W/$g.jsonl"
  for f in "$W"/exp/*.flags; do
    [ "$(cat "$f")" = "$flags" ] && cat "${f%.flags}.jsonl" >>"$W/$g.jsonl"
  done
  # --no-aggregates: no aggregate stage runs here (test_live_aggregates.sh has one), so the replay leaves them out too
  # shellcheck disable=SC2086
  "$CONTACTD" replay --no-aggregates --input "$W/$g.jsonl" $flags --output "$W/$g.replay.jsonl" 2>"$W/$g.replay.log" ||
    fail "replay of group $g failed"
  "$CONTACTD" produce --brokers "$BROKERS" --topic "$g.in" --input "$W/$g.jsonl" 2>"$W/$g.produce.log" ||
    fail "produce of group $g failed"
  produced=$(sed -n 's/.* produced=\([0-9]*\).*/\1/p' "$W/$g.produce.log")
  # shellcheck disable=SC2086
  run_start "$g" --input-topic "$g.in" --deadline-topic "$g.dl" --breach-topic "$g.br" --dlq-topic "$g.dlq" \
    --group "$g" --redis-prefix "$g" $flags
  # caught up: the offsets stored with the state add up to what was produced, outboxes empty
  ok=""
  for _ in $(seq 240); do
    sum=0 waiting=0
    for p in 0 1 2 3; do
      o=$(redis-cli -p "$REDIS_PORT" HGET "$g:{p$p}:meta" "off:$g.in")
      w=$(redis-cli -p "$REDIS_PORT" LLEN "$g:{p$p}:outbox")
      sum=$((sum + ${o:-0})) waiting=$((waiting + ${w:-0}))
    done
    [ "$sum" -ge "$produced" ] && [ "$waiting" -eq 0 ] && { ok=1; break; }
    sleep 0.25
  done
  [ -n "$ok" ] || { tail -20 "$W/$g.log" >&2; fail "group $g ($flags) did not catch up: $sum of $produced"; }
  kill "$RUN_PID"; wait "$RUN_PID" || fail "the processor of group $g did not exit 0 on SIGTERM"
  "$CONTACTD" consume --brokers "$BROKERS" --deadline-topic "$g.dl" --breach-topic "$g.br" --idle-ms 1500 \
    --output "$W/$g.live.jsonl" 2>>"$W/consume.log"
  sort "$W/$g.live.jsonl" >"$W/$g.live.sorted"
  sort "$W/$g.replay.jsonl" >"$W/$g.replay.sorted"
  [ -s "$W/$g.replay.sorted" ] || fail "group $g: replay gave no outputs"
  diff -q "$W/$g.live.sorted" "$W/$g.replay.sorted" >/dev/null ||
    { diff "$W/$g.live.sorted" "$W/$g.replay.sorted" | head -5 >&2; fail "group $g ($flags): live outputs differ from replay"; }
done < <(cat "$W"/exp/*.flags | sort -u)
[ "$groups" -ge 5 ] || fail "expected the scenarios' several configurations, got $groups"
