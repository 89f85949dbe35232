#!/usr/bin/env bash
# redis-cluster.sh — a local Redis Cluster of masters on loopback ports, for the
# cluster tests and the benchmark (not for production: no replicas, no
# protected network).
#
#   ops/redis-cluster.sh start DIR [N]    N masters (default 3) on free ports, each in
#                                         DIR/<port>/ with appendonly yes and
#                                         appendfsync always (ops/redis.conf's
#                                         durability), slots spread by
#                                         `redis-cli --cluster create`; prints the
#                                         seed address (127.0.0.1:PORT) and writes
#                                         every port, one a line, to DIR/ports
#   ops/redis-cluster.sh stop DIR         stops every master started in DIR
#   ops/redis-cluster.sh kill DIR PORT    kill -9 of one master (a crash)
#   ops/redis-cluster.sh restart DIR PORT that master again, same port and files
#   ops/redis-cluster.sh move DIR SLOT PORT
#                                         migrates SLOT to the master on PORT by
#                                         hand (IMPORTING/MIGRATING, MIGRATE the
#                                         keys 10 at a time, SETSLOT NODE on every
#                                         master); MOVE_PAUSE=S sleeps S seconds
#                                         after the first batch, so that clients
#                                         meet the slot half moved (ASK, TRYAGAIN)
#   ops/redis-cluster.sh owner DIR SLOT   the port of the master serving SLOT
#
# The servers are daemons (their pids in DIR/<port>/redis.pid); `stop` is what
# ends them. The cluster bus of each master is another free port.
set -euo pipefail

usage() { sed -n '4,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "redis-cluster: $*" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cli() { local port=$1; shift; redis-cli -h 127.0.0.1 -p "$port" "$@"; }

# server DIR PORT BUS: one master, daemonized; returns once it answers PING.
server() {
  local d=$1/$2
  mkdir -p "$d"
  redis-server --port "$2" --bind 127.0.0.1 --dir "$d" --daemonize yes --pidfile "$d/redis.pid" \
    --logfile "$d/redis.log" --appendonly yes --appendfsync always --save "" \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-port "$3" --cluster-node-timeout 3000
  echo "$3" >"$d/bus"
  for _ in $(seq 200); do cli "$2" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
  die "redis-server did not start on $2 (see $d/redis.log)"
}

# Every master says cluster_state:ok and agrees on who serves every slot.
wait_ok() {
  local dir=$1 port ok
  for _ in $(seq 300); do
    ok=1
    while read -r port; do
      cli "$port" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || ok=0
    done <"$dir/ports"
    if [ "$ok" -eq 1 ] && redis-cli --cluster check "127.0.0.1:$(head -1 "$dir/ports")" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  die "the cluster in $dir is not ok"
}

node_id() { cli "$1" cluster myid; }

# owner DIR SLOT: the port of the master serving SLOT, from CLUSTER NODES
owner() {
  local seed
  seed=$(head -1 "$1/ports")
  cli "$seed" cluster nodes | awk -v s="$2" '$3 ~ /master/ {
    for (i = 9; i <= NF; i++) {
      if ($i ~ /^\[/) continue
      n = split($i, r, "-"); lo = r[1]; hi = n > 1 ? r[2] : r[1]
      if (s + 0 >= lo + 0 && s + 0 <= hi + 0) { split($2, a, "[:@]"); print a[2]; exit }
    }
  }'
}

cmd=${1:-}; [ -n "$cmd" ] || usage; shift
# redis-server changes into its --dir before it opens the log: DIR made absolute
if [ $# -ge 1 ]; then d=$(realpath -m "$1"); shift; set -- "$d" "$@"; fi
case $cmd in
  start)
    [ $# -ge 1 ] || usage
    dir=$1 n=${2:-3}
    [ "$n" -ge 3 ] || die "a cluster needs at least 3 masters"
    mkdir -p "$dir"
    : >"$dir/ports"
    addrs=()
    for _ in $(seq "$n"); do
      port=$(free_port) bus=$(free_port)
      server "$dir" "$port" "$bus"
      echo "$port" >>"$dir/ports"
      addrs+=("127.0.0.1:$port")
    done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1 ||
      { cat "$dir/create.log" >&2; die "redis-cli --cluster create failed"; }
    wait_ok "$dir"
    echo "127.0.0.1:$(head -1 "$dir/ports")"
    ;;
  stop)
    [ $# -eq 1 ] || usage
    [ -f "$1/ports" ] || exit 0
    while read -r port; do
      pid=$(cat "$1/$port/redis.pid" 2>/dev/null || true)
      [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done <"$1/ports"
    while read -r port; do
      pid=$(cat "$1/$port/redis.pid" 2>/dev/null || true)
      for _ in $(seq 100); do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    done <"$1/ports"
    ;;
  kill)
    [ $# -eq 2 ] || usage
    pid=$(cat "$1/$2/redis.pid") || die "no master on $2 in $1"
    kill -9 "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    ;;
  restart)
    [ $# -eq 2 ] || usage
    [ -d "$1/$2" ] || die "no master on $2 in $1"
    server "$1" "$2" "$(cat "$1/$2/bus")"
    wait_ok "$1"
    ;;
  move)
    [ $# -eq 3 ] || usage
    dir=$1 slot=$2 to=$3
    from=$(owner "$dir" "$slot")
    [ -n "$from" ] || die "no master serves slot $slot"
    [ "$from" != "$to" ] || die "slot $slot is already on $to"
    to_id=$(node_id "$to") from_id=$(node_id "$from")
    cli "$to" cluster setslot "$slot" importing "$from_id" >/dev/null
    cli "$from" cluster setslot "$slot" migrating "$to_id" >/dev/null
    first=1
    while keys=$(cli "$from" cluster getkeysinslot "$slot" 10) && [ -n "$keys" ]; do
      mapfile -t batch <<<"$keys"
      out=$(cli "$from" migrate 127.0.0.1 "$to" "" 0 5000 keys "${batch[@]}")
      [ "$out" = OK ] || die "MIGRATE of slot $slot: $out"
      if [ "$first" -eq 1 ] && [ -n "${MOVE_PAUSE:-}" ]; then sleep "$MOVE_PAUSE"; fi
      first=0
    done
    # the new owner first, then the old one (the order of the cluster spec), then the rest
    cli "$to" cluster setslot "$slot" node "$to_id" >/dev/null
    cli "$from" cluster setslot "$slot" node "$to_id" >/dev/null
    while read -r port; do
      [ "$port" = "$to" ] || [ "$port" = "$from" ] || cli "$port" cluster setslot "$slot" node "$to_id" >/dev/null
    done <"$dir/ports"
    wait_ok "$dir"
    ;;
  owner)
    [ $# -eq 2 ] || usage
    owner "$1" "$2"
    ;;
  *) usage ;;
esac
