#!/usr/bin/env bash
# demo-live.sh — the live pipeline on its embedded default, on one machine:
#   a private redis-server (AOF, ops/redis.conf settings) on a free loopback port,
#   `contactd run` with no broker configured (librdkafka's mock cluster in-process,
#   event clock), the aggregate stage (`contactd run --stage aggregates`, counting
#   the 75 % shares from the members topic of that cluster), a demo producer
#   streaming a synthetic population over three simulated years from 2024-07-01
#   (dk-2024, the 2025 benefit merge and the law in force today, dk-2026), then the
#   outputs read back from the output topics with a summary, and the shares' live
#   figures (`contactd aggregates`).
# Everything it starts is stopped on exit. Work files: build/demo-live/.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CONTACTD:-$PWD/build/release/contactd}
OUT=$PWD/build/demo-live
CITIZENS=${DEMO_CITIZENS:-5000}
rm -rf "$OUT" && mkdir -p "$OUT/redis"
[ -x "$BIN" ] || make -s all

pids=()
# Stopped in the reverse order of their start, each waited for: the stage leaves its
# group while the processor's embedded cluster still answers, and both commit while
# Redis still runs.
cleanup() {
  local p
  for p in $(printf '%s\n' "${pids[@]}" | tac); do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$OUT/redis" --appendonly yes --appendfsync always \
  --save "" --daemonize no --logfile "$OUT/redis.log" &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
echo "demo: redis-server on 127.0.0.1:$port (AOF, appendfsync always)"

"$BIN" run --clock event --redis "127.0.0.1:$port" --mock-partitions 8 >"$OUT/run.out" 2>"$OUT/run.log" &
pids+=($!)
for _ in $(seq 200); do [ -s "$OUT/run.out" ] && break; sleep 0.05; done
brokers=$(head -1 "$OUT/run.out")
[ -n "$brokers" ] || { echo "demo: the processor did not start; see $OUT/run.log" >&2; exit 1; }
echo "demo: contactd run (embedded mock cluster at $brokers, event clock)"
"$BIN" run --stage aggregates --brokers "$brokers" --redis "127.0.0.1:$port" >"$OUT/stage.out" 2>"$OUT/stage.log" &
pids+=($!)
echo "demo: contactd run --stage aggregates (the 75 % shares, from contact.members.v1)"

echo "demo: streaming $CITIZENS synthetic citizens over 3 simulated years ..."
"$BIN" synth --citizens "$CITIZENS" --years 3 --from 2024-07-01 --seed 2026 --format pb 2>/dev/null |
  "$BIN" produce --brokers "$brokers" --input - 2>"$OUT/produce.log"
tail -1 "$OUT/produce.log"
produced=$(sed -n 's/.* produced=\([0-9]*\).*/\1/p' "$OUT/produce.log" | tail -1)

# Caught up: the offsets committed with the state in Redis add up to what was
# produced (a partition's next offset counts its records), and no outbox holds
# anything still to be sent.
echo "demo: waiting for the processor to catch up ($produced records) ..."
for _ in $(seq 600); do
  done_n=0 waiting=0
  for p in $(seq 0 7); do
    o=$(redis-cli -p "$port" HGET "contactd:{p$p}:meta" off:contact.events.v1)
    w=$(redis-cli -p "$port" LLEN "contactd:{p$p}:outbox")
    done_n=$((done_n + ${o:-0})) waiting=$((waiting + ${w:-0}))
  done
  [ "$done_n" -ge "$produced" ] && [ "$waiting" -eq 0 ] && break
  kill -0 "${pids[1]}" 2>/dev/null || { echo "demo: the processor stopped; see $OUT/run.log" >&2; exit 1; }
  sleep 0.5
done
echo "demo: processed $done_n of $produced records"

# The stage has caught up when it has committed every member record the processor
# wrote (a partition's next offset counts its records) and its outboxes are empty.
members=$(kcat -b "$brokers" -C -t contact.members.v1 -e -q -f 'x\n' 2>/dev/null | wc -l)
echo "demo: waiting for the aggregate stage ($members member records) ..."
for _ in $(seq 600); do
  done_n=0 waiting=0
  for p in $(seq 0 7); do
    o=$(redis-cli -p "$port" HGET "contactd:{a$p}:meta" off:contact.members.v1)
    w=$(redis-cli -p "$port" LLEN "contactd:{a$p}:outbox")
    done_n=$((done_n + ${o:-0})) waiting=$((waiting + ${w:-0}))
  done
  [ "$done_n" -ge "$members" ] && [ "$waiting" -eq 0 ] && break
  kill -0 "${pids[2]}" 2>/dev/null || { echo "demo: the aggregate stage stopped; see $OUT/stage.log" >&2; exit 1; }
  sleep 0.5
done

echo "demo: reading the output topics ..."
"$BIN" consume --brokers "$brokers" --idle-ms 4000 --output "$OUT/outputs.jsonl" --summary
echo
echo "demo: $(grep -c '"aggregate"' "$OUT/outputs.jsonl" || true) aggregate events among them (contact.aggregates.v1)"
echo
echo "demo: the 75 % share of municipality 101 as the aggregate stage counts it (contactd aggregates --key 101):"
"$BIN" aggregates --redis "127.0.0.1:$port" --key 101 --log-level warn
echo "demo: outputs in $OUT/outputs.jsonl; processor log in $OUT/run.log, aggregate stage log in $OUT/stage.log"
