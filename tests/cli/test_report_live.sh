#!/usr/bin/env bash
# test_report_live.sh — `contactd report --brokers` reads the live output topics (every
# partition from its beginning to the end it had when the report started) and gives the
# report `--input` gives for the same log: the hand-counted population of
# tests/fixtures/report-small.jsonl (test_report.sh) through a citizen processor and an
# aggregate stage on a devbroker, reported from the deadline, breach and aggregate
# topics, which interleave the streams as they please. Then: a report of a running
# system ends (it stops at the ends taken at its start), and a cluster that cannot be
# reached is an error.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
P=2
LOG=tests/fixtures/report-small.jsonl
ENGINE=(--warn-days 0 --grace 0 --overlays none)

"$CONTACTD" report --input "$LOG" "${ENGINE[@]}" -o "$W/input.csv" 2>/dev/null || fail "report --input failed"
grep -q '^aggregate,' "$W/input.csv" || fail "the population has no aggregate rows: the test tests too little"

broker_start "$P"
redis_start "$W/redis"
run_start proc "${GROUP_TIMING[@]}" "${ENGINE[@]}"
run_start stage --stage aggregates "${GROUP_TIMING[@]}" "${ENGINE[@]}"
"$CONTACTD" produce --brokers "$BROKERS" --input "$LOG" 2>"$W/produce.log" || fail "produce failed"
produced=$(sed -n 's/.* produced=\([0-9]*\).*/\1/p' "$W/produce.log")

# every input committed and every outbox empty (processor and stage), and the three
# cohorts evaluated on the aggregates topic
limit=$((SECONDS + 90))
while :; do
  r=$(redis-cli -p "$REDIS_PORT" EVAL "local s, q = 0, 0
    for p = 0, $((P - 1)) do
      s = s + (tonumber(redis.call('HGET', 'contactd:{p' .. p .. '}:meta', 'off:contact.events.v1')) or 0)
      q = q + redis.call('LLEN', 'contactd:{p' .. p .. '}:outbox') + redis.call('LLEN', 'contactd:{a' .. p .. '}:outbox')
    end
    return s .. ' ' .. q" 0)
  n_agg=$(kcat -b "$BROKERS" -C -t contact.aggregates.v1 -e -q -f 'x\n' 2>/dev/null | wc -l)
  [ "${r% *}" -ge "$produced" ] && [ "${r#* }" -eq 0 ] && [ "$n_agg" -ge 3 ] && break
  [ "$SECONDS" -lt "$limit" ] || fail "not settled after 90 s: inputs and outboxes '$r' (of $produced), $n_agg aggregate events"
  sleep 0.5
done

"$CONTACTD" report --brokers "$BROKERS" -o "$W/brokers.csv" 2>"$W/brokers.err" \
  || { cat "$W/brokers.err" >&2; fail "report --brokers failed"; }
if ! cmp -s "$W/brokers.csv" "$W/input.csv"; then
  diff "$W/input.csv" "$W/brokers.csv" >&2
  fail "report --brokers differs from report --input (< input, > brokers)"
fi
expect_grep 'msg="report done" source=brokers records=35 skipped=0 outputs=35 instances=12' "$W/brokers.err"
# the same with filters, and as JSON (but for the source it names)
"$CONTACTD" report --brokers "$BROKERS" --municipality 147 --format json -o "$W/brokers.json" 2>/dev/null || fail "report --brokers --format json failed"
"$CONTACTD" report --input "$LOG" "${ENGINE[@]}" --municipality 147 --format json -o "$W/input.json" 2>/dev/null || fail "report --input --format json failed"
diff <(sed 1d "$W/input.json") <(sed 1d "$W/brokers.json") >&2 || fail "--brokers and --input give different JSON for municipality 147"

# A report is of one moment: outputs produced after it started are not waited for, and
# it ends even while the processor keeps writing.
printf '{"eventId":"late-1","citizenId":"c9","occurredAt":"2027-04-03T09:00:00Z","municipalityCode":"101","registration":{"benefit":"BENEFIT_KONTANTHJAELP","category":"CATEGORY_AKTIVITETSPARAT"}}\n' >"$W/more.jsonl"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/more.jsonl" 2>/dev/null || fail "produce (more) failed"
timeout 60 "$CONTACTD" report --brokers "$BROKERS" -o "$W/later.csv" 2>"$W/later.err" || { cat "$W/later.err" >&2; fail "a report of a running system must end"; }
grep -q '^total,,,,,1[23],' "$W/later.csv" || fail "a report of a running system: $(grep '^total' "$W/later.csv")"

# A cluster that cannot be reached, or topics that never reach their ends, is an error.
port=$(free_port)
if timeout 60 "$CONTACTD" report --brokers "127.0.0.1:$port" -X socket.timeout.ms=2000 -o "$W/none.csv" 2>"$W/none.err"; then
  fail "a report from a cluster that is not there must fail"
fi
expect_grep 'msg="cannot look up the topics"' "$W/none.err"
echo "test_report_live: ok"
