#!/usr/bin/env bash
# bench-capacity.sh — the figures behind docs/operations.md "Capacity"
# (ops/bench.sh runs it; it also runs alone after `make MODE=release all`).
#
# Starts a local three-master Redis Cluster (ops/redis-cluster.sh: appendonly
# yes, appendfsync always on every master), runs ops/bench-live.sh's throughput
# against it with 1, 2 and 4 processors in one consumer group (BENCH_REDIS,
# BENCH_LIVE_PROCESSORS; the input topic has BENCH_LIVE_PARTITIONS partitions),
# then reports what the masters' used_memory grew by over the citizen records
# the runs left (each run keeps its keys under a prefix of its own). The
# cluster is stopped and its directory removed on exit.
#
# The processors join their group with a short session timeout and heartbeat
# (as the live tests do): with librdkafka's defaults the mock broker's first
# rebalance of four members takes ~40 s, which the figure would count as work.
#
# Environment: BENCH_CAPACITY_CITIZENS (default 50000), BENCH_CAPACITY_PROCESSORS
# (default "1 2 4"), and bench-live's BENCH_LIVE_* settings.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=$(mktemp -d /tmp/contactd-bench-cluster.XXXXXX)
cleanup() { ops/redis-cluster.sh stop "$DIR" >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT

# The masters' used_memory, summed.
used_memory() {
	local port m=0
	while read -r port; do
		m=$((m + $(redis-cli -p "$port" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }')))
	done <"$DIR/ports"
	echo "$m"
}

# The masters' CPU seconds (user + system), summed.
used_cpu() {
	local port
	while read -r port; do
		redis-cli -p "$port" info cpu | tr -d '\r' | awk -F: '$1 == "used_cpu_user" || $1 == "used_cpu_sys" { print $2 }'
	done <"$DIR/ports" | awk '{ s += $1 } END { printf "%.2f", s }'
}

seed=$(ops/redis-cluster.sh start "$DIR" 3)
mem0=$(used_memory)
cpu0=$(used_cpu)
BENCH_LIVE_RUN_ARGS=${BENCH_LIVE_RUN_ARGS:--X session.timeout.ms=6000 -X heartbeat.interval.ms=500} \
BENCH_REDIS=$seed BENCH_LIVE_PROCESSORS=${BENCH_CAPACITY_PROCESSORS:-1 2 4} \
	BENCH_LIVE_CITIZENS=${BENCH_CAPACITY_CITIZENS:-50000} ops/bench-live.sh | tee "$DIR/live.out"
cpu=$(awk -v a="$(used_cpu)" -v b="$cpu0" 'BEGIN { printf "%.2f", a - b }')
mem=$(($(used_memory) - mem0))
# every run processes the whole topic: inputs = runs x the topic's records
inputs=$(awk '/^processors [0-9]+:/ { s += $3 } END { print s + 0 }' "$DIR/live.out")
[[ $inputs -gt 0 ]] && echo "redis CPU: $cpu s on 3 masters for $inputs inputs over the runs = $(awk -v c="$cpu" -v n="$inputs" 'BEGIN { printf "%.1f", c * 1000000 / n }') us/input"
keys=0
while read -r port; do
	keys=$((keys + $(redis-cli -p "$port" --scan --pattern '*:c:*' | wc -l)))
done <"$DIR/ports"
[[ $keys -gt 0 ]] || { echo "bench-capacity: no citizen records in the cluster" >&2; exit 1; }
echo "redis memory: $((mem / 1048576)) MiB more used on 3 masters for $keys citizen records = $((mem / keys)) B/citizen (timers, outboxes, meta and the AOF buffers included)"
