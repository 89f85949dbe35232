#!/usr/bin/env bash
# test_live_redis_oom.sh — a Redis that refuses writes (maxmemory reached under
# noeviction: "OOM command not allowed …") is trouble a retry outlives, and the
# processor must say so and wait for it politely:
#   1. while taking its partitions (the fencing INCR fails): the partitions are
#      retried with backoff, never silently abandoned (it used to log "cannot
#      take partitions" once and process nothing, forever), and are taken once
#      memory returns;
#   2. in the middle of the stream (every commit fails): the log carries
#      Redis's own error (OOM), the retries back off, and the connection, which
#      is still good, is kept (it used to cycle "redis unavailable"/"redis back"
#      dozens of times, with a new connection each time, and never say why).
# Either way, once memory returns, the outputs are replay's.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
P=4

alive() { kill -0 "$RUN_PID" 2>/dev/null || { tail -20 "$W/$RUN_NAME.log" >&2; fail "the processor died"; }; }
R() { redis-cli -p "$REDIS_PORT" "$@"; }
connections() { R INFO stats | tr -d '\r' | sed -n 's/^total_connections_received://p'; }

"$CONTACTD" synth --citizens 300 --years 3 --seed 91 --format pb --output "$W/events.bin" 2>/dev/null || fail "synth failed"
# --no-aggregates: no aggregate stage runs here (test_live_aggregates.sh has one), so the replay leaves them out too
"$CONTACTD" replay --no-aggregates --input "$W/events.bin" --input-format pb --output "$W/replay.jsonl" 2>/dev/null || fail "replay failed"
total=$("$CONTACTD" replay --input "$W/events.bin" --input-format pb --stats 2>&1 >/dev/null | sed -n 's/.* records=\([0-9]*\).*/\1/p')
# the first third of the log's records, then the rest; prints how many the first holds
n1=$(/usr/bin/python3 - "$W/events.bin" "$W/part1.bin" "$W/part2.bin" <<'EOF'
import sys
b = open(sys.argv[1], "rb").read()
i = n = 0
cuts = []
while i < len(b):
    l = shift = 0
    while True:
        c = b[i]; i += 1
        l |= (c & 0x7F) << shift; shift += 7
        if not c & 0x80:
            break
    i += l
    cuts.append(i)
k = len(cuts) // 3
open(sys.argv[2], "wb").write(b[:cuts[k - 1]]); open(sys.argv[3], "wb").write(b[cuts[k - 1]:])
print(k)
EOF
) || fail "cannot split the log"

broker_start "$P"
redis_start "$W/redis"
R CONFIG SET maxmemory-policy noeviction >/dev/null
R CONFIG SET maxmemory 1 >/dev/null            # every write: OOM
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/part1.bin" --input-format pb 2>"$W/produce1.log" || fail "produce failed"
c0=$(connections)
RUN_NAME=run
run_start run "${GROUP_TIMING[@]}"

# 1. the partitions cannot be taken: retried, said, and nothing processed
limit=$((SECONDS + 30))
until [ "$(grep -c 'msg="cannot take partitions yet: retrying with backoff"' "$W/run.log")" -ge 3 ]; do
  alive; [ "$SECONDS" -lt "$limit" ] || { tail -20 "$W/run.log" >&2; fail "no retries of the partitions after 30 s"; }
  sleep 0.2
done
expect_grep 'msg="cannot take partitions yet: retrying with backoff".*OOM' "$W/run.log"
[ "$(consumed)" -eq 0 ] || fail "inputs were committed while Redis refused writes"
R CONFIG SET maxmemory 0 >/dev/null
wait_drained "$n1" 60
expect_grep 'msg="partitions taken after retrying"' "$W/run.log"

# 2. memory runs out mid-stream
R CONFIG SET maxmemory 1 >/dev/null
c1=$(connections)
n_before=$(grep -c 'msg="redis unavailable' "$W/run.log" || true)
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/part2.bin" --input-format pb 2>"$W/produce2.log" || fail "produce failed"
sleep 10
alive
c2=$(connections)
cycles=$(( $(grep -c 'msg="redis unavailable' "$W/run.log") - n_before ))
[ "$cycles" -ge 1 ] || fail "the commits did not fail: is maxmemory enforced?"
expect_grep 'msg="redis unavailable: consumption paused, retrying" error=".*OOM command not allowed' "$W/run.log"
# with backoff (100 ms doubling to 5 s) 10 s hold at most 8 retries
[ "$cycles" -le 8 ] || fail "$cycles recoveries in 10 s: no backoff"
# (the one allowed is the test's own redis-cli reading the count)
[ $((c2 - c1)) -le 1 ] || fail "$((c2 - c1)) new connections while the connection was good"
R CONFIG SET maxmemory 0 >/dev/null
wait_drained "$total" 60
outputs "$W/live.jsonl"
want=$(sort -u "$W/replay.jsonl" | wc -l)
same_as_replay "after the OOM spells"
kill -TERM "$RUN_PID"; wait "$RUN_PID" || fail "the processor exited non-zero on SIGTERM"
echo "redis oom: partitions retried and taken; $cycles backed-off recoveries and $((c2 - c1)) new connections in 10 s of OOM; outputs as replay"
