#!/usr/bin/env bash
# bench-live.sh — the live pipeline benchmark (ops/bench.sh runs it last; it
# also runs alone after `make MODE=release all build/release/bench/latency`).
#
# Everything runs on this machine, started here and killed on exit: a private
# redis-server configured by ops/redis.conf (appendonly yes, appendfsync
# always; port, bind and dir overridden), `contactd devbroker` (librdkafka's
# mock cluster; it keeps only ~5 MB per partition, hence 64 partitions) and
# `contactd run`. Measured in the same run:
#
#   1. Throughput. `contactd synth` (BENCH_LIVE_CITIZENS citizens, ~10 events
#      each, weekly all-citizen ClockTicks) is produced to the input topic
#      BEFORE the processor starts, so the processor is the bottleneck. Then
#      `contactd run --clock event` is timed from its start until the offsets it
#      has committed to Redis (HGET contactd:{pN}:meta off:<topic>, summed over
#      the partitions by one EVAL, polled every 0.1 s) reach the topic's end
#      offsets: events/s = records / elapsed. Repeated with appendfsync everysec
#      on an emptied Redis and a new group (BENCH_LIVE_EVERYSEC=0 skips it).
#      Then twice more with appendfsync always: without --metrics-addr, and with
#      it, /metrics scraped every second (BENCH_LIVE_METRICS=0 skips them): the
#      cost of the metrics, beside the spread of two runs without them.
#      Run 1 is also the rebuild figure (a new deployment processing the topic
#      from the beginning), and gives per event: Redis's CPU, contactd's CPU,
#      and Redis round trips (contactd's calls by INFO commandstats; it waits
#      for each reply, so calls are round trips).
#   2. Latency. build/release/bench/latency produces Registrations of fresh
#      citizens at BENCH_LIVE_RATE/s for BENCH_LIVE_LATENCY_S seconds to topics
#      of their own, through a processor (event clock, appendfsync always) that
#      has already taken its partitions, and times each input's first output
#      on the deadline topic (ops/bench/latency.c): p50/p90/p99/max; then
#      the same at BENCH_LIVE_RATE_HIGH/s (default 20,000). That
#      processor gets -X fetch.wait.max.ms=10 (the mock broker's fetch wait; below).
#   3. Redis memory per citizen: after run 1 has drained (SIGTERM), used_memory
#      minus the empty server's, over the citizen records (keys *:c:*).
#   4. Ceilings, same broker and server: kcat alone reading the input topic;
#      redis-benchmark -P 16 SET, and EVALSHA of a SET+ZADD script (one
#      citizen update, as the commit script does per record); and the Redis
#      write ceiling as contactd writes: one client, one call at a time, each
#      call writing as many records (SET + ZADD) of run 1's mean record size
#      as run 1's commits held on average.
#   5. Targets printed next to the figures (not asserted): live throughput
#      >= 100,000 events/s and >= half of the lower ceiling (kcat, or the
#      Redis writes as contactd makes them); latency p99 <= 50 ms at 2,000/s.
#   6. The aggregate stage: a population with dk-2026 periods
#      (BENCH_LIVE_AGG_CITIZENS, default 50000; 0 skips), on topics of its
#      own, through a processor without share members (--members-topic "")
#      and one with them, timed as in 1 (the processor's added cost); then
#      `contactd run --stage aggregates` over the members topic so written,
#      timed until its committed offsets reach the topic's end: member
#      records (members and watermarks) per second, against the processor's
#      own rate (the stage must not be the bottleneck).
#
# The figures block goes to stdout; progress to stderr. Environment:
# BENCH_LIVE_CITIZENS (default 100000), BENCH_SEED (1), BENCH_LIVE_PARTITIONS
# (64), BENCH_LIVE_RATE (2000), BENCH_LIVE_LATENCY_S (15), BENCH_LIVE_EVERYSEC
# (1), BENCH_LIVE_METRICS (1), BENCH_LIVE_RUN_ARGS (extra `contactd run` flags, e.g. "--batch-size
# 2000"), BENCH_LIVE_PERF (a file: perf record -g the throughput run into it),
# BENCH_LIVE_KEEP (keep the work directory with the logs and the AOF).
#
# Against a Redis of your own, e.g. a cluster of ops/redis-cluster.sh:
# BENCH_REDIS=HOST:PORT (a seed address) runs only the throughput of 1, with
# BENCH_LIVE_PROCESSORS processors in one group (a list, default "1": "1 2 4"
# runs three times), each run under a key prefix of its own (the keys stay:
# use a throwaway Redis); events/s and contactd's CPU per run. Redis's own
# figures (CPU, calls, memory) and the ceilings need the private server.
set -euo pipefail

cd "$(dirname "$0")/.."

CITIZENS=${BENCH_LIVE_CITIZENS:-100000}
SEED=${BENCH_SEED:-1}
PARTS=${BENCH_LIVE_PARTITIONS:-64}
RATE=${BENCH_LIVE_RATE:-2000}
RATE_HIGH=${BENCH_LIVE_RATE_HIGH:-20000}
LAT_S=${BENCH_LIVE_LATENCY_S:-15}
EVERYSEC=${BENCH_LIVE_EVERYSEC:-1}
RUN_ARGS=${BENCH_LIVE_RUN_ARGS:-}
PERF_OUT=${BENCH_LIVE_PERF:-}
BIN=build/release/contactd
LATENCY=build/release/bench/latency
TOPIC=contact.events.v1
LAT_TOPICS=(bench.latency.events bench.latency.deadlines bench.latency.breaches bench.latency.dlq)
AGG_TOPICS=(bench.agg.events bench.agg.members bench.agg.aggregates)
AGG_CITIZENS=${BENCH_LIVE_AGG_CITIZENS:-50000}
TARGET_EPS=100000
TARGET_P99_MS=50
RUN_TIMEOUT_S=240

die() { echo "bench-live: $*" >&2; exit 1; }
say() { echo "bench-live: $*" >&2; }

[[ -x $BIN ]] || die "$BIN is missing; run 'make bench' (or 'make MODE=release all')"
EXT_REDIS=${BENCH_REDIS:-}
[[ -n $EXT_REDIS || -x $LATENCY ]] || die "$LATENCY is missing; run 'make bench' (or 'make MODE=release build/release/bench/latency')"
for t in redis-server redis-cli redis-benchmark kcat python3; do
	command -v "$t" >/dev/null || die "$t is missing (ops/install-deps.sh)"
done

WORK=$(mktemp -d)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	sleep 0.2
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [[ -n ${BENCH_LIVE_KEEP:-} ]]; then echo "bench-live: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# CPU seconds (user + system) a process has used so far.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# ---- redis-server (ops/redis.conf, private port and directory) ------------------------
if [[ -z $EXT_REDIS ]]; then
PORT=$(free_port)
mkdir -p "$WORK/redis"
grep -v -E '^(dir|port|bind) ' ops/redis.conf >"$WORK/redis.conf"
redis-server "$WORK/redis.conf" --port "$PORT" --bind 127.0.0.1 --dir "$WORK/redis" --daemonize no \
	--logfile "$WORK/redis/redis.log" &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
R() { redis-cli -p "$PORT" "$@"; }
for _ in $(seq 200); do R ping >/dev/null 2>&1 && break; sleep 0.05; done
R ping >/dev/null 2>&1 || die "redis-server did not start (log: $(tail -3 "$WORK/redis/redis.log"))"
[[ $(R config get appendfsync | tail -1) == always ]] || die "ops/redis.conf no longer sets appendfsync always"
aof_rewrites() { R info persistence | tr -d '\r' | awk -F: '$1 == "aof_rewrites" { print $2 }'; }
mem_used() { R info memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'; }
MEM0=$(mem_used)
fi
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- devbroker ------------------------------------------------------------------------
topic_args=()
for t in "${LAT_TOPICS[@]}" "${AGG_TOPICS[@]}"; do topic_args+=(--topic "$t"); done
"$BIN" devbroker --partitions "$PARTS" "${topic_args[@]}" --log-level warn >"$WORK/broker.out" 2>"$WORK/broker.log" &
PIDS+=("$!")
for _ in $(seq 200); do [[ -s $WORK/broker.out ]] && break; sleep 0.05; done
BROKERS=$(head -1 "$WORK/broker.out")
[[ -n $BROKERS ]] || die "devbroker did not print its address"

# ---- the input ----------------------------------------------------------------------------
say "synth $CITIZENS citizens (seed $SEED) and produce them to $TOPIC ($PARTS partitions)"
"$BIN" synth --citizens "$CITIZENS" --seed "$SEED" --format pb --output "$WORK/in.pb" 2>"$WORK/synth.log"
"$BIN" produce --brokers "$BROKERS" --topic "$TOPIC" --input "$WORK/in.pb" 2>"$WORK/produce.log" ||
	{ cat "$WORK/produce.log" >&2; die "produce failed"; }
PRODUCED=$(grep 'msg="produce done"' "$WORK/produce.log" | tr ' ' '\n' | awk -F= '$1 == "produced" { print $2 }')
# The topic's end offsets: the offset after each partition's last record.
END_SUM=$(kcat -b "$BROKERS" -C -t "$TOPIC" -o -1 -e -q -f '%o\n' | awk '{ s += $1 + 1 } END { print s + 0 }')
[[ $END_SUM -eq $PRODUCED ]] || say "WARNING: end offsets sum to $END_SUM but produce reported $PRODUCED"
rm -f "$WORK/in.pb"

# ---- BENCH_REDIS: throughput against a Redis of one's own (a cluster), 1 … N processors -------
# committed_ext PREFIX: the offsets committed over the partitions, one HGET each on one redis-cli -c
# (the meta keys live on several masters: no EVAL can reach them all)
committed_ext() {
	local p
	for p in $(seq 0 $((PARTS - 1))); do echo "HGET $1:{p$p}:meta off:$TOPIC"; done |
		redis-cli -c -h "${EXT_REDIS%:*}" -p "${EXT_REDIS##*:}" 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'
}
if [[ -n $EXT_REDIS ]]; then
	redis-cli -h "${EXT_REDIS%:*}" -p "${EXT_REDIS##*:}" ping >/dev/null 2>&1 || die "no Redis answers at $EXT_REDIS"
	EXT_LINES=""
	for n in ${BENCH_LIVE_PROCESSORS:-1}; do
		prefix=bench$$n$n
		say "throughput against $EXT_REDIS: $n processor(s) until $END_SUM offsets of $TOPIC are committed"
		pids=()
		t0=$(now)
		for i in $(seq "$n"); do
			# shellcheck disable=SC2086  # RUN_ARGS is a list of flags
			"$BIN" run --brokers "$BROKERS" --redis "$EXT_REDIS" --clock event --log-level info --group "$prefix" \
				--redis-prefix "$prefix" $RUN_ARGS >"$WORK/$prefix-$i.out" 2>"$WORK/$prefix-$i.log" &
			pids+=("$!")
			PIDS+=("$!")
		done
		while c=$(committed_ext "$prefix"); [[ $c -lt $END_SUM ]]; do
			for p in "${pids[@]}"; do
				kill -0 "$p" 2>/dev/null || { tail -5 "$WORK/$prefix"-*.log >&2; die "a processor exited"; }
			done
			[[ $(calc %.0f "$(now) - $t0") -lt $RUN_TIMEOUT_S ]] ||
				{ say "WARNING: only $c of $END_SUM committed after ${RUN_TIMEOUT_S}s"; break; }
			sleep 0.2
		done
		t1=$(now)
		cpu=0
		for p in "${pids[@]}"; do cpu=$(calc %.2f "$cpu + $(cpu_s "$p")"); done
		for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
		for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
		EXT_LINES="$EXT_LINES
processors $n: $c events in $(calc %.2f "$t1 - $t0") s = $(calc %.0f "$c / ($t1 - $t0)") events/s; contactd CPU $cpu s ($(calc %.1f "$cpu * 1000000 / ($c > 0 ? $c : 1)") us/event)"
	done
	echo "bench-live against $EXT_REDIS ($(redis-cli -h "${EXT_REDIS%:*}" -p "${EXT_REDIS##*:}" cluster info 2>/dev/null |
		tr -d '\r' | awk -F: '$1 == "cluster_size" { print $2 " masters" }' | grep . || echo "standalone")), \
$CITIZENS citizens, $END_SUM inputs on $PARTS partitions, $(nproc) cores, load before $LOAD0:$EXT_LINES"
	exit 0
fi

# ---- ceiling (a): kcat alone -----------------------------------------------------------------
say "kcat alone: reading $TOPIC from the beginning"
t0=$(now)
kcat -b "$BROKERS" -C -t "$TOPIC" -e -q -o beginning >/dev/null
t1=$(now)
KCAT_S=$(calc %.2f "$t1 - $t0")
KCAT_N=$(kcat -b "$BROKERS" -C -t "$TOPIC" -e -q -o beginning -f '%p\n' | wc -l)
KCAT_EPS=$(calc %.0f "$END_SUM / ($t1 - $t0)")
[[ $KCAT_N -eq $END_SUM ]] ||
	say "WARNING: the broker holds $KCAT_N of $END_SUM records (mock retention; raise BENCH_LIVE_PARTITIONS)"

# ---- the processor -----------------------------------------------------------------------------
# Sum of the offsets committed to Redis for topic $2 under prefix $1, over the partitions.
SUM_LUA="local s = 0 for p = 0, tonumber(ARGV[3]) - 1 do
  local v = redis.call('HGET', ARGV[1] .. ':{' .. ARGV[4] .. p .. '}:meta', 'off:' .. ARGV[2])
  if v then s = s + tonumber(v) end end return s"
# committed PREFIX TOPIC [TAG]: TAG p (citizens, default) or a (the aggregate stage)
committed() { R eval "$SUM_LUA" 0 "$1" "$2" "$PARTS" "${3:-p}"; }
# Partitions whose fence a processor holds (under prefix $1).
FENCED_LUA="local n = 0 for p = 0, tonumber(ARGV[2]) - 1 do
  if redis.call('HEXISTS', ARGV[1] .. ':{p' .. p .. '}:meta', 'fence') == 1 then n = n + 1 end end return n"
fenced() { R eval "$FENCED_LUA" 0 "$1" "$PARTS"; }

# run_start NAME ARGS… → RUN_PID; log in $WORK/NAME.log
run_start() {
	local name=$1
	shift
	# shellcheck disable=SC2086  # RUN_ARGS is a list of flags
	"$BIN" run --brokers "$BROKERS" --redis "127.0.0.1:$PORT" --clock event --log-level info "$@" $RUN_ARGS \
		>"$WORK/$name.out" 2>"$WORK/$name.log" &
	RUN_PID=$!
	PIDS+=("$RUN_PID")
}
# run_stop: SIGTERM (finish the batches, drain the outbox), wait.
run_stop() {
	kill -TERM "$RUN_PID" 2>/dev/null || true
	wait "$RUN_PID" 2>/dev/null || true
}
stat_of() { grep 'msg=stopped' "$1" | tail -1 | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'; }
redis_calls() {  # the processor's calls since CONFIG RESETSTAT (commands inside scripts aside), by command
	R info commandstats | tr -d '\r' | sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),.*/\1 \2/p' |
		grep -E '^(evalsha|mget|zrangebyscore|lrange|llen|hmget|hincrby) ' | sort -k2 -nr |
		awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }'
}
# Their sum: contactd sends one command and waits for its reply, so this is its round trips.
redis_round_trips() { sed 's/[^0-9 ,]//g' <<<"$1" | tr ',' '\n' | awk '{ s += $NF } END { print s + 0 }'; }

# throughput NAME GROUP [PREFIX TOPIC END TAG RUN-ARGS…] → T_* figures (default: the main input)
throughput() {
	local name=$1 group=$2 prefix=${3:-contactd} topic=${4:-$TOPIC} end=${5:-$END_SUM} tag=${6:-p}
	local t0 t1 tf="" n=0 rcpu0 rw0 perf_pid=""
	shift $(($# < 6 ? $# : 6))
	R config resetstat >/dev/null
	rcpu0=$(cpu_s "$REDIS_PID")
	rw0=$(aof_rewrites)
	say "throughput ($name): contactd run --clock event until $end offsets of $topic are committed"
	t0=$(now)
	run_start "$name" --group "$group" --redis-prefix "$prefix" "$@"
	if [[ -n $PERF_OUT && $name == always ]] && command -v perf >/dev/null; then
		perf record -g -o "$PERF_OUT" -p "$RUN_PID" >/dev/null 2>"$WORK/perf.log" &
		perf_pid=$!
		PIDS+=("$perf_pid")
	fi
	while :; do
		n=$(committed "$prefix" "$topic" "$tag")
		[[ -z $tf && $n -gt 0 ]] && tf=$(now)
		[[ $n -ge $end ]] && break
		kill -0 "$RUN_PID" 2>/dev/null || { tail -5 "$WORK/$name.log" >&2; die "contactd run ($name) exited"; }
		[[ $(calc %.0f "$(now) - $t0") -lt $RUN_TIMEOUT_S ]] ||
			{ say "WARNING: $name: only $n of $end committed after ${RUN_TIMEOUT_S}s"; break; }
		sleep 0.1
	done
	t1=$(now)
	T_N=$n
	T_S=$(calc %.2f "$t1 - $t0")
	T_EPS=$(calc %.0f "$n / ($t1 - $t0)")
	T_FIRST_S=$(calc %.2f "${tf:-$t1} - $t0")
	T_STEADY=$(calc %.0f "$n / ($t1 - ${tf:-$t0})")
	T_CPU=$(cpu_s "$RUN_PID")
	T_RCPU=$(calc %.2f "$(cpu_s "$REDIS_PID") - $rcpu0")
	T_CALLS=$(redis_calls)
	T_RT=$(redis_round_trips "$T_CALLS")
	T_RW=$(( $(aof_rewrites) - rw0 ))
	if [[ -n $perf_pid ]]; then
		kill -INT "$perf_pid" 2>/dev/null || true
		wait "$perf_pid" 2>/dev/null || true
	fi
	run_stop
	T_OUT=$(stat_of "$WORK/$name.log" outputs)
	T_COMMITS=$(stat_of "$WORK/$name.log" commits)
}

# ---- 1. throughput, appendfsync always -----------------------------------------------------
throughput always bench-live-always
A_N=$T_N A_S=$T_S A_EPS=$T_EPS A_FIRST=$T_FIRST_S A_STEADY=$T_STEADY A_CPU=$T_CPU A_RCPU=$T_RCPU
A_CALLS=$T_CALLS A_RT=$T_RT A_OUT=$T_OUT A_COMMITS=$T_COMMITS A_RW=$T_RW

# ---- 3. memory per citizen (the drained state of run 1) -------------------------------------
MEM1=$(mem_used)
KEYS_ALL=$(R dbsize)
KEYS_CIT=$(R --scan --pattern 'contactd:*:c:*' | wc -l)
MEM_PER=$(calc %.0f "($MEM1 - $MEM0) / ($KEYS_CIT > 0 ? $KEYS_CIT : 1)")
# The mean size of a citizen record (a sample of 2,000): the ceiling below writes records of it.
REC_BYTES=$(R --scan --pattern 'contactd:*:c:*' | awk 'NR <= 2000' | sed 's/^/STRLEN /' | R | awk '{ s += $1; n++ } END { printf "%.0f", n ? s / n : 200 }')

# ---- 1c. metrics served and scraped: the same run with --metrics-addr and a scrape every second,
# next to a run without them made just before (the two runs without show the noise) ----------------
M_LINE=""
if [[ ${BENCH_LIVE_METRICS:-1} != 0 ]]; then
	R flushall >/dev/null
	throughput metrics-off bench-live-metrics-off
	MO_EPS=$T_EPS
	R flushall >/dev/null
	MPORT=$(free_port)
	(while sleep 1; do curl -s -o /dev/null "http://127.0.0.1:$MPORT/metrics"; done) &
	SCRAPER=$!
	PIDS+=("$SCRAPER")
	throughput metrics-on bench-live-metrics-on contactd "$TOPIC" "$END_SUM" p --metrics-addr "127.0.0.1:$MPORT"
	MON_EPS=$T_EPS
	kill "$SCRAPER" 2>/dev/null || true
	M_LINE="metrics:       without /metrics $A_EPS and $MO_EPS events/s (two runs: the noise); with it served and scraped every second $MON_EPS events/s ($(calc %+.1f "($MON_EPS - ($A_EPS + $MO_EPS) / 2) * 100 / (($A_EPS + $MO_EPS) / 2)") % against their mean)
"
fi

# ---- 1b. throughput, appendfsync everysec -------------------------------------------------------
E_EPS=""
if [[ $EVERYSEC != 0 ]]; then
	R flushall >/dev/null
	R config set appendfsync everysec >/dev/null
	throughput everysec bench-live-everysec
	E_N=$T_N E_S=$T_S E_EPS=$T_EPS E_FIRST=$T_FIRST_S E_STEADY=$T_STEADY E_CPU=$T_CPU E_RCPU=$T_RCPU E_COMMITS=$T_COMMITS E_RW=$T_RW
	R config set appendfsync always >/dev/null
fi
R flushall >/dev/null

# ---- 2. latency ------------------------------------------------------------------------------------
say "latency: $RATE events/s for ${LAT_S}s through a running processor"
# fetch.wait.max.ms: librdkafka's mock broker answers a fetch that finds no data only after the
# whole wait (default 500 ms) even when records arrive meanwhile (rdkafka_mock_handlers.c says so);
# a real broker answers as soon as data arrives. 10 ms takes that artefact out of the figure.
run_start latency --group bench-live-latency --redis-prefix benchlat --input-topic "${LAT_TOPICS[0]}" \
	--deadline-topic "${LAT_TOPICS[1]}" --breach-topic "${LAT_TOPICS[2]}" --dlq-topic "${LAT_TOPICS[3]}" \
	-X fetch.wait.max.ms=10
for _ in $(seq 300); do
	[[ $(fenced benchlat) -ge $PARTS ]] && break
	kill -0 "$RUN_PID" 2>/dev/null || { tail -5 "$WORK/latency.log" >&2; die "contactd run (latency) exited"; }
	sleep 0.1
done
[[ $(fenced benchlat) -ge $PARTS ]] || say "WARNING: the latency processor holds only $(fenced benchlat) partitions"
sleep 1
LAT_LINE=$("$LATENCY" --brokers "$BROKERS" --topic "${LAT_TOPICS[0]}" --out-topic "${LAT_TOPICS[1]}" \
	--rate "$RATE" --seconds "$LAT_S" --warmup-s 1 --tag "$$" 2>"$WORK/latency-tool.log") ||
	say "WARNING: latency: not every input got an output ($LAT_LINE)"
# and at ten times the rate (other citizens), through the same processor
say "latency: $RATE_HIGH events/s for ${LAT_S}s through the same processor"
LAT_HIGH_LINE=$("$LATENCY" --brokers "$BROKERS" --topic "${LAT_TOPICS[0]}" --out-topic "${LAT_TOPICS[1]}" \
	--rate "$RATE_HIGH" --seconds "$LAT_S" --warmup-s 1 --tag "$$-high" 2>"$WORK/latency-high-tool.log") ||
	say "WARNING: latency at $RATE_HIGH/s: not every input got an output ($LAT_HIGH_LINE)"
run_stop
R flushall >/dev/null
lat_val() { sed -n "s/.* $1 \([0-9.]*\) ms.*/\1/p" <<<"${2:-$LAT_LINE}"; }
L_P50=$(lat_val p50) L_P90=$(lat_val p90) L_P99=$(lat_val p99) L_MAX=$(lat_val max)
H_P50=$(lat_val p50 "$LAT_HIGH_LINE") H_P99=$(lat_val p99 "$LAT_HIGH_LINE")

# ---- 4b. ceiling (b): redis-benchmark on the same server (appendfsync always) ------------------------
say "redis-benchmark -P 16: SET, EVALSHA SET+ZADD"
rb_rps() { tr '\r' '\n' | awk -F'"' 'NR > 1 && $4 != "" { v = $4 } END { printf "%.0f", v }'; }
RB_SET=$(redis-benchmark -p "$PORT" -q --csv -n 1000000 -P 16 -t set 2>/dev/null | rb_rps)
SHA=$(R script load "redis.call('SET', KEYS[1], ARGV[1]) redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3]) return 1")
VAL=$(printf 'v%.0s' $(seq 200))
RB_LUA=$(redis-benchmark -p "$PORT" -q --csv -n 500000 -P 16 -r 100000 \
	evalsha "$SHA" 2 "bench:c:__rand_int__" bench:timers "$VAL" __rand_int__ "m__rand_int__" 2>/dev/null | rb_rps)
# The write ceiling as contactd writes: one client, one script call at a time (-c 1 -P 1),
# each writing as many records of the measured mean size as a commit of run 1 did
# (SET + ZADD each, as the commit script does per citizen; outputs and offsets aside).
PER_COMMIT=$(( A_COMMITS > 0 ? A_N / A_COMMITS : 1 ))
PER_COMMIT=$(( PER_COMMIT > 0 ? PER_COMMIT : 1 ))
say "redis-benchmark -c 1 -P 1: EVALSHA of $PER_COMMIT records of $REC_BYTES bytes"
SHA_K=$(R script load "for i = 1, tonumber(ARGV[3]) do local k = KEYS[1] .. ':' .. i
  redis.call('SET', k, ARGV[1]) redis.call('ZADD', KEYS[2], ARGV[2], k) end return 1")
VAL_K=$(head -c "$REC_BYTES" /dev/zero | tr '\0' 'v')
RB_REAL=$(redis-benchmark -p "$PORT" -q --csv -n 3000 -c 1 -P 1 -r 100000 \
	evalsha "$SHA_K" 2 "bench:c:__rand_int__" bench:timers "$VAL_K" __rand_int__ "$PER_COMMIT" 2>/dev/null | rb_rps)
RB_REAL_EPS=$(( RB_REAL * PER_COMMIT ))
R flushall >/dev/null

verdict() { [[ $1 -ge $2 ]] && echo met || echo MISSED; }
verdict_le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a != "" && a + 0 <= b) ? "met" : "MISSED" }'; }

# ---- 6. the aggregate stage ------------------------------------------------------------------------
AGG=""
if [[ $AGG_CITIZENS != 0 ]]; then
	say "aggregates: synth $AGG_CITIZENS citizens from 2024-07-01 (dk-2026 periods) to ${AGG_TOPICS[0]}"
	"$BIN" synth --citizens "$AGG_CITIZENS" --seed "$SEED" --from 2024-07-01 --years 3 --format pb \
		--output "$WORK/agg.pb" 2>"$WORK/agg-synth.log"
	"$BIN" produce --brokers "$BROKERS" --topic "${AGG_TOPICS[0]}" --input "$WORK/agg.pb" 2>"$WORK/agg-produce.log" ||
		{ cat "$WORK/agg-produce.log" >&2; die "produce (aggregates) failed"; }
	rm -f "$WORK/agg.pb"
	AGG_END=$(kcat -b "$BROKERS" -C -t "${AGG_TOPICS[0]}" -o -1 -e -q -f '%o\n' | awk '{ s += $1 + 1 } END { print s + 0 }')
	throughput agg-off bench-agg-off benchaggoff "${AGG_TOPICS[0]}" "$AGG_END" p \
		--input-topic "${AGG_TOPICS[0]}" --members-topic ""
	OFF_EPS=$T_EPS OFF_S=$T_S
	throughput agg-on bench-agg-on benchaggon "${AGG_TOPICS[0]}" "$AGG_END" p \
		--input-topic "${AGG_TOPICS[0]}" --members-topic "${AGG_TOPICS[1]}"
	ON_EPS=$T_EPS ON_S=$T_S
	MEMBERS_SAID=$(stat_of "$WORK/agg-on.log" member_records)
	M_END=$(kcat -b "$BROKERS" -C -t "${AGG_TOPICS[1]}" -o -1 -e -q -f '%o\n' | awk '{ s += $1 + 1 } END { print s + 0 }')
	throughput agg-stage bench-agg-on benchaggon "${AGG_TOPICS[1]}" "$M_END" a \
		--stage aggregates --members-topic "${AGG_TOPICS[1]}" --aggregates-topic "${AGG_TOPICS[2]}"
	ST_RPS=$T_EPS ST_S=$T_S ST_CPU=$T_CPU
	ST_AGG=$(stat_of "$WORK/agg-stage.log" aggregate_events)
	ADDED=$(calc %.1f "($ON_S - $OFF_S) / $OFF_S * 100")
	AGG="aggregates:    $AGG_CITIZENS citizens from 2024-07-01, $AGG_END records: processor $OFF_EPS events/s without share members, $ON_EPS with ($ADDED % added time; $MEMBERS_SAID member outcomes)
               stage: $M_END member records (members and watermarks) in $ST_S s = $ST_RPS records/s, $ST_AGG aggregate events, CPU $ST_CPU s
               target: the stage at least the processor's rate ($ON_EPS events/s): $(verdict "$ST_RPS" "$ON_EPS")"
	R flushall >/dev/null
fi

# ---- figures ------------------------------------------------------------------------------------------
LOWER=$((KCAT_EPS < RB_REAL_EPS ? KCAT_EPS : RB_REAL_EPS))
LOWER_WHAT=$([[ $KCAT_EPS -le $RB_REAL_EPS ]] && echo kcat || echo "redis writes as contactd makes them")
HALF=$((LOWER / 2))
cat <<EOF
live:          (load average at start: $LOAD0; other work on this machine skews these figures)
               $CITIZENS citizens, $END_SUM records on $PARTS partitions (synth seed $SEED, produced before the processor starts); contactd run --clock event${RUN_ARGS:+ $RUN_ARGS}
live-always:   $A_N events in $A_S s = $A_EPS events/s (appendfsync always; from process start; first commit after $A_FIRST s, $A_STEADY events/s from there)
               target >= $TARGET_EPS events/s: $(verdict "$A_EPS" $TARGET_EPS); >= half the lower ceiling ($LOWER_WHAT $LOWER / 2 = $HALF): $(verdict "$A_EPS" $HALF)
               $A_COMMITS commits, $A_OUT outputs; CPU: contactd $A_CPU s, redis-server $A_RCPU s; AOF rewrites during the run: $A_RW
               redis calls: $A_CALLS
               per event: Redis CPU $(calc %.1f "$A_RCPU * 1000000 / ($A_N > 0 ? $A_N : 1)") µs, contactd CPU $(calc %.1f "$A_CPU * 1000000 / ($A_N > 0 ? $A_N : 1)") µs; $(calc %.1f "$A_RT * 1000 / ($A_N > 0 ? $A_N : 1)") Redis round trips per 1,000 events ($(calc %.0f "$A_N / ($A_COMMITS > 0 ? $A_COMMITS : 1)") events per commit)
${M_LINE}rebuild:       the whole topic from the beginning by a new deployment (new group, empty Redis): $A_N events in $A_S s
${E_EPS:+live-everysec: $E_N events in $E_S s = $E_EPS events/s (appendfsync everysec; first commit after $E_FIRST s, $E_STEADY events/s from there)
               $E_COMMITS commits; CPU: contactd $E_CPU s, redis-server $E_RCPU s; AOF rewrites during the run: $E_RW
}latency:       at $RATE events/s: p50 $L_P50 ms, p90 $L_P90 ms, p99 $L_P99 ms, max $L_MAX ms (input produced -> first output on the deadline topic; appendfsync always)   target p99 <= $TARGET_P99_MS ms: $(verdict_le "$L_P99" $TARGET_P99_MS)
               ${LAT_LINE#latency: }
               at $RATE_HIGH events/s: p50 $H_P50 ms, p99 $H_P99 ms
               ${LAT_HIGH_LINE#latency: }
redis-memory:  $(( (MEM1 - MEM0) / 1048576 )) MiB over the empty server for $KEYS_CIT citizen records = $MEM_PER B/citizen (used_memory; $KEYS_ALL keys in all)
ceilings:      kcat alone: $END_SUM records in $KCAT_S s = $KCAT_EPS records/s (same broker and topic)
               redis-benchmark -P 16 (appendfsync always): SET $RB_SET req/s; EVALSHA SET+ZADD $RB_LUA calls/s
               redis writes as contactd makes them (-c 1 -P 1, appendfsync always): EVALSHA of $PER_COMMIT records of $REC_BYTES B, $RB_REAL calls/s = $RB_REAL_EPS records/s
${AGG}
EOF
