# On the wall clock a deadline fires when the machine's clock passes it, with no
# input traffic at all (docs/spec/events.md "Clock"). The processor's wall clock is started
# just before a breach instant with CONTACTD_WALL_CLOCK_START (it then runs at real
# speed); everything else (Kafka, Redis, the timer scan) is real.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"

redis_start "$W/redis"
broker_start 2
# KONTANTHJAELP, first contact Monday 2021-03-01: first-within is due 2021-03-08 and is
# breached at local midnight starting 2021-03-09 = 2021-03-08T23:00:00Z.
cat >"$W/in.jsonl" <<'JSON'
{"eventId":"w1","citizenId":"p1","occurredAt":"2021-03-01T08:00:00Z","municipalityCode":"101","registration":{"benefit":"BENEFIT_KONTANTHJAELP","category":"CATEGORY_AKTIVITETSPARAT"}}
JSON
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/in.jsonl" 2>>"$W/produce.log" || fail "produce failed"

# The processor's wall clock starts 8 s before the breach instant.
CONTACTD_WALL_CLOCK_START=2021-03-08T22:59:52Z \
  "$CONTACTD" run --brokers "$BROKERS" --redis "127.0.0.1:$REDIS_PORT" --clock wall --group wall \
  --timer-interval-ms 200 --batch-wait-ms 20 --warn-days 0 >"$W/run.out" 2>"$W/run.log" &
RUN_PID=$!
LIVE_PIDS+=("$RUN_PID")

# Wait (bounded) for the breach; no input is produced meanwhile.
found=""
for _ in $(seq 25); do
  "$CONTACTD" consume --brokers "$BROKERS" --idle-ms 1500 --output "$W/out.jsonl" 2>/dev/null || true
  if grep -q '"BREACH_STATUS_BREACHED"' "$W/out.jsonl"; then found=1; break; fi
  sleep 1
done
[ -n "$found" ] || { cat "$W/run.log" >&2; fail "no breach fired on the wall clock"; }
expect_grep '"obligationId":"dk-2020/first-within"' "$W/out.jsonl"
expect_grep '"detectedAt":"2021-03-08T23:00:00Z"' "$W/out.jsonl"
# The OPENED outputs came from the input; the breach came from the timer, by itself.
[ "$(grep -c '"DEADLINE_STATUS_OPENED"' "$W/out.jsonl")" -eq 2 ] || fail "expected the two OPENED outputs"
grep '"BREACH_STATUS_BREACHED"' "$W/out.jsonl" | grep -q '"causedByEventId"' && fail "a clock-fired breach has no causing input"
kill "$RUN_PID"; wait "$RUN_PID" || fail "the processor must exit 0 on SIGTERM"
