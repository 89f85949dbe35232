# live_lib.sh — starts and stops the live pipeline's pieces for end-to-end tests
# (sourced after lib.sh). Real components only: a throwaway redis-server on a
# private loopback port, `contactd devbroker` (librdkafka's mock cluster, which
# kcat and any Kafka client can reach on loopback), and `contactd run`.
# Everything started is killed on exit.

LIVE_PIDS=()
# Only processes that are still this shell's children: the pid of one that exited
# and was reaped may already belong to another process (pids wrap around).
live_cleanup() {
  local p
  for p in "${LIVE_PIDS[@]}"; do
    [ "$(ps -o ppid= -p "$p" 2>/dev/null | tr -d ' ')" = "$$" ] && kill -9 "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
# On success the work files go; on failure (or with KEEP=1) they stay, and the
# test says where.
live_exit() {
  local rc=$?
  live_cleanup
  if [ "$rc" -eq 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$W"; else echo "work files: $W" >&2; fi
}
trap live_exit EXIT

# This directory (helpers such as live_tool.py live here) and the shipped rules,
# whatever the test's working directory.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CONTACTD_RULES=${CONTACTD_RULES:-$HERE/../../rules}

# Real peers only: a test never pretends they are there (ops/install-deps.sh installs them).
for tool in kcat redis-server redis-cli; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed (ops/install-deps.sh installs it)"
done

# A member the coordinator still counts (a dead one, or one that re-joined under a
# new id) holds a rebalance up for a whole session timeout: 45 s by default.
GROUP_TIMING=(-X session.timeout.ms=6000 -X heartbeat.interval.ms=500)

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# redis_start DIR → sets REDIS_PORT (reuses it when already set: a restart), REDIS_PID
redis_start() {
  local dir=$1
  mkdir -p "$dir"
  REDIS_PORT=${REDIS_PORT:-$(free_port)}
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$dir" --appendonly yes --appendfsync always \
    --save "" --daemonize no --logfile "$dir/redis.log" &
  REDIS_PID=$!
  LIVE_PIDS+=("$REDIS_PID")
  for _ in $(seq 200); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
  fail "redis-server did not start on $REDIS_PORT"
}

redis_stop() { kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; }

# broker_start PARTITIONS → sets BROKERS, BROKER_PID
broker_start() {
  "$CONTACTD" devbroker --partitions "${1:-4}" >"$W/broker.out" 2>"$W/broker.log" &
  BROKER_PID=$!
  LIVE_PIDS+=("$BROKER_PID")
  for _ in $(seq 200); do [ -s "$W/broker.out" ] && break; sleep 0.05; done
  BROKERS=$(head -1 "$W/broker.out")
  [ -n "$BROKERS" ] || fail "devbroker did not print its address"
}

# run_start NAME [extra args…] → sets RUN_PID; logs in $W/NAME.log
run_start() {
  local name=$1; shift
  "$CONTACTD" run --brokers "$BROKERS" --redis "127.0.0.1:$REDIS_PORT" --clock event \
    --group "${GROUP:-contactd-test}" --batch-wait-ms 20 --log-level info "$@" >"$W/$name.out" 2>>"$W/$name.log" &
  RUN_PID=$!
  LIVE_PIDS+=("$RUN_PID")
}

# outputs FILE: every output on the output topics, once the topics are quiet
outputs() { "$CONTACTD" consume --brokers "$BROKERS" --idle-ms "${IDLE_MS:-4000}" --output "$1" 2>>"$W/consume.log"; }

# Waits until the processor has consumed everything produced (group lag 0 in Redis terms:
# the outputs topics stop growing), bounded.
wait_quiet() {
  local last=-1 n
  for _ in $(seq "${1:-120}"); do
    n=$(kcat -b "$BROKERS" -C -t contact.deadlines.v1 -e -q -f 'x\n' 2>/dev/null | wc -l)
    [ "$n" -eq "$last" ] && [ "$n" -gt 0 ] && return 0
    last=$n
    sleep 1
  done
  fail "outputs did not settle"
}

# same_as_replay WHEN: the distinct live outputs ($W/live.jsonl) are exactly the
# distinct replay outputs ($W/replay.jsonl; $want of them), and every repeat of an
# output is byte-identical (one line per event id).
same_as_replay() {
  local ids
  sort -u "$W/replay.jsonl" >"$W/replay.sorted"
  sort -u "$W/live.jsonl" >"$W/live.sorted"
  if ! cmp -s "$W/replay.sorted" "$W/live.sorted"; then
    diff "$W/replay.sorted" "$W/live.sorted" | cut -c1-300 | head -20 >&2
    fail "$1, the distinct outputs ($(wc -l <"$W/live.sorted")) differ from replay's ($want)"
  fi
  ids=$(grep -o '"eventId":"[^"]*"' "$W/live.sorted" | sort -u | wc -l)
  [ "$ids" -eq "$want" ] || fail "$ids distinct event ids for $want distinct lines: a repeat differed"
}

# consumed: the input offsets committed to Redis over partitions 0 … P-1.
consumed() {
  redis-cli -p "$REDIS_PORT" EVAL "local s = 0
    for p = 0, $((P - 1)) do s = s + (tonumber(redis.call('HGET', 'contactd:{p' .. p .. '}:meta', 'off:contact.events.v1')) or 0) end
    return s" 0
}
# For a failure: per partition, the offset committed to Redis and the topic's end.
drain_report() {
  local p t
  for t in "$@"; do
    for p in $(seq 0 $((P - 1))); do
      echo "  $t/$p: committed $(redis-cli -p "$REDIS_PORT" HGET "contactd:{p$p}:meta" "off:$t"), end $(kcat -b "$BROKERS" -Q -t "$t:$p:-1" 2>/dev/null | awk '{print $NF}')" >&2
    done
  done
}
# drained N SECONDS [TOPIC…]: every input (N in all) committed to Redis and every
# outbox empty, so every output is on its topic (the relay trims after delivery).
# While waiting it calls the test's liveness check: alive, or DRAIN_CHECK.
wait_drained() {
  local want=$1 secs=$2 limit=$((SECONDS + $2)) r; shift 2
  [ $# -gt 0 ] || set -- contact.events.v1
  while r=$(redis-cli -p "$REDIS_PORT" EVAL "local s, q = 0, 0
      for p = 0, $((P - 1)) do
        for _, t in ipairs(ARGV) do s = s + (tonumber(redis.call('HGET', 'contactd:{p' .. p .. '}:meta', 'off:' .. t)) or 0) end
        q = q + redis.call('LLEN', 'contactd:{p' .. p .. '}:outbox')
      end
      return s .. ' ' .. q" 0 "$@"); [ "${r% *}" -lt "$want" ] || [ "${r#* }" -ne 0 ]; do
    "${DRAIN_CHECK:-alive}"     # the test's own liveness check: each test defines alive
    [ "$SECONDS" -lt "$limit" ] || { drain_report "$@"; fail "not drained after $secs s: ${r% *} of $want inputs committed, ${r#* } outputs in the outboxes"; }
    sleep 0.2
  done
}

# stage_settled PRODUCED SECONDS (P partitions, the aggregate stage running): every
# input committed by the processors and every outbox of theirs delivered; then every
# record on the members topic consumed and committed by the stages, nothing pending
# there, and their outboxes delivered. The members topic is counted only once the
# processors' outboxes are empty: counted before, it can miss what is delivered in
# between, and a stage that has read only the first records would pass.
# DRAIN_CHECK, when set, is called on each round (a liveness check).
stage_settled() {
  local produced=$1 limit=$((SECONDS + $2)) members=0 r s=0 q=0 m=0 w=0 qa=0
  while :; do
    "${DRAIN_CHECK:-true}"
    r=$(redis-cli -p "$REDIS_PORT" EVAL "local s, q = 0, 0
      for p = 0, $((P - 1)) do
        s = s + (tonumber(redis.call('HGET', 'contactd:{p' .. p .. '}:meta', 'off:contact.events.v1')) or 0)
        q = q + redis.call('LLEN', 'contactd:{p' .. p .. '}:outbox')
      end
      return s .. ' ' .. q" 0)
    read -r s q <<<"$r"
    if [ "$s" -ge "$produced" ] && [ "$q" -eq 0 ]; then
      members=$(kcat -b "$BROKERS" -C -t contact.members.v1 -e -q -f 'x\n' 2>/dev/null | wc -l)
      r=$(redis-cli -p "$REDIS_PORT" EVAL "local m, w, q = 0, 0, 0
        for p = 0, $((P - 1)) do
          m = m + (tonumber(redis.call('HGET', 'contactd:{a' .. p .. '}:meta', 'off:contact.members.v1')) or 0)
          w = w + redis.call('HLEN', 'contactd:{a' .. p .. '}:pending')
          q = q + redis.call('LLEN', 'contactd:{a' .. p .. '}:outbox')
        end
        return m .. ' ' .. w .. ' ' .. q" 0)
      read -r m w qa <<<"$r"
      [ "$m" -ge "$members" ] && [ "$w" -eq 0 ] && [ "$qa" -eq 0 ] && [ "$members" -gt 0 ] && return 0
    fi
    [ "$SECONDS" -lt "$limit" ] || fail "not settled after $2 s: $s of $produced inputs, $q outbox entries \
of the processors; $m of $members member records, $w pending, $qa outbox entries of the stages"
    sleep 0.5
  done
}
