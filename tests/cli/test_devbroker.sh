# `contactd devbroker` serves any Kafka client (kcat here), and `contactd produce`
# puts an event log into the input topic: one message per record, keyed by
# citizen id, and a ClockTick with an empty citizen_id once on every partition.
source "$(dirname "$0")/lib.sh"

if ! command -v kcat >/dev/null 2>&1; then
  echo "test_devbroker: kcat not installed; skipped"
  exit 0
fi

P=4
broker_pid=
cleanup() {
  if [ -n "$broker_pid" ]; then
    kill "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
  rm -rf "$W"
}
trap cleanup EXIT

"$CONTACTD" devbroker --partitions "$P" >"$W/addr" 2>"$W/broker.err" &
broker_pid=$!
# The address comes alone on the first line, as soon as the cluster is up.
ADDR=
for _ in $(seq 300); do
  if [ -s "$W/addr" ] && [ "$(tail -c 1 "$W/addr" | od -An -c | tr -d ' ')" = '\n' ]; then
    ADDR=$(head -n 1 "$W/addr"); break
  fi
  kill -0 "$broker_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$ADDR" ] || fail "devbroker printed no address (stderr: $(cat "$W/broker.err"))"
[[ "$ADDR" =~ ^127\.0\.0\.1:[0-9]+$ ]] || fail "not a bootstrap address: '$ADDR'"
for _ in $(seq 50); do grep -q 'devbroker ready' "$W/broker.err" && break; sleep 0.1; done
expect_grep 'msg="devbroker ready" bootstrap=' "$W/broker.err"

# kcat sees the default topics with P partitions
kcat -b "$ADDR" -L -m 10 >"$W/meta" 2>&1 || fail "kcat -L failed: $(cat "$W/meta")"
for t in contact.events.v1 contact.deadlines.v1 contact.breaches.v1 contact.dlq.v1; do
  expect_grep "topic \"$t\" with $P partitions" "$W/meta"
done

# a synthetic log, through produce
"$CONTACTD" synth --citizens 50 --format pb --output "$W/log.pb" 2>/dev/null
"$CONTACTD" produce --brokers "$ADDR" --input - <"$W/log.pb" 2>"$W/produce.err" \
  || { cat "$W/produce.err" >&2; fail "produce failed"; }
expect_grep 'msg="produce done"' "$W/produce.err"
summary=$(grep 'msg="produce done"' "$W/produce.err")
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$summary"; }
records=$(field records) produced=$(field produced) ticks=$(field ticks_fanned_out) skipped=$(field skipped)
[ "$records" -gt 0 ] && [ "$ticks" -gt 0 ] || fail "expected records and ticks: $summary"
[ "$skipped" -eq 0 ] || fail "a synthetic log has no bad records: $summary"
[ "$produced" -eq $((records - ticks + ticks * P)) ] || fail "ticks not fanned out to $P partitions: $summary"

# kcat reads back exactly what was produced
kcat -b "$ADDR" -C -t contact.events.v1 -o beginning -e -q -f '%p %k\n' >"$W/consumed" 2>"$W/kcat.err" \
  || fail "kcat -C failed: $(cat "$W/kcat.err")"
n=$(wc -l <"$W/consumed")
[ "$n" -eq "$produced" ] || fail "kcat read $n messages, produce reported $produced"
# keyless messages are the all-citizen ticks: as many on each partition
for p in $(seq 0 $((P - 1))); do
  c=$(awk -v p="$p" '$1 == p && NF == 1' "$W/consumed" | wc -l)
  [ "$c" -eq "$ticks" ] || fail "partition $p holds $c all-citizen ticks, expected $ticks"
done
# a citizen's records all sit on one partition
awk 'NF == 2 { if (($2 in part) && part[$2] != $1) bad = 1; part[$2] = $1 } END { exit bad }' "$W/consumed" \
  || fail "a citizen's records are spread over several partitions"

# JSON input goes out as binary protobuf: kcat -P of the raw JSON would differ
"$CONTACTD" synth --citizens 5 --seed 9 --format json --output "$W/small.jsonl" 2>/dev/null
"$CONTACTD" produce --brokers "$ADDR" --topic contact.dlq.v1 --input "$W/small.jsonl" 2>"$W/p2.err" \
  || fail "produce of a JSON log failed: $(cat "$W/p2.err")"
kcat -b "$ADDR" -C -t contact.dlq.v1 -o beginning -e -q -f '%s\n' >"$W/dlq" 2>/dev/null
if grep -q '"eventId"' "$W/dlq"; then fail "JSON records must be produced as binary protobuf"; fi

# stop the broker: SIGTERM ends it cleanly with status 0
kill "$broker_pid"
rc=0; wait "$broker_pid" || rc=$?
broker_pid=
[ "$rc" -eq 0 ] || fail "devbroker exited with $rc on SIGTERM"
expect_grep 'devbroker stopping' "$W/broker.err"

# bad options
if "$CONTACTD" produce --input "$W/log.pb" 2>"$W/nb.err"; then fail "produce without --brokers must fail"; fi
expect_grep 'option=--brokers' "$W/nb.err"
if "$CONTACTD" devbroker --partitions 0 2>"$W/np.err"; then fail "--partitions 0 accepted"; fi
expect_grep 'option=--partitions' "$W/np.err"
true
