#!/usr/bin/env bash
# bench.sh — the replay benchmark (`make bench` builds release, then runs this).
#
#   1. Generates a synthetic population with `contactd synth` into bench-data/
#      (gitignored), as length-delimited binary and as JSON lines; a data set
#      with the same parameters that was generated completely before is reused.
#   2. Times the input half alone (build/release/bench/decode: frame, decode,
#      validate), to show how the replay's time splits.
#   3. Replays each form under `/usr/bin/time -v`:
#        build/release/contactd replay --input FILE --output /dev/null \
#            --output-format pb --warn-days 7 --stats
#   4. Prints a figures block: events/s (binary, JSON), peak RSS, citizens,
#      bytes per citizen (peak RSS, and the store's own count), outputs, and the
#      issue's targets next to them (printed, not asserted).
#   4b. Aggregates: a population with dk-2026 periods (synth from 2024-07-01)
#      replayed with and without the aggregate stage: the cost it adds, and the
#      share-member outcomes per second of that added time, against the
#      replay's own rate (the stage must not be the bottleneck).
#   3c. Report (run just before the figures): `contactd report --input` over the binary log (the same log as
#      3), `--format csv -o /dev/null`, under /usr/bin/time -v: seconds and peak
#      RSS against the issue's target (under 30 s on one core), and what the
#      report adds to the replay's memory (its tally of obligation instances).
#      Then streaming: a small population's outputs (BENCH_REPORT_CITIZENS,
#      default 20000) reported with `--outputs` once and four times over (four
#      times the length, the same instances): the peak RSS must not grow.
#   3d. Instructions per event, which do not depend on the machine's noise: the
#      replay of `contactd synth --citizens 10000 --years 3 --seed 7 --format pb`
#      (about 94,000 records) under valgrind's callgrind, less the instructions
#      of replaying one record (start-up, rules), over the records; against the
#      target (<= 5,000), with the functions of largest self cost (the profile
#      that says what limits it). BENCH_CALLGRIND=0 skips it.
#   5. Last, runs ops/bench-live.sh (the live pipeline: throughput, latency,
#      Redis memory, ceilings; see there) and adds its figures to the block.
#   6. Cost per history length: one citizen's log (build/release/bench/history:
#      a realistic mix, denser as it grows) of 500, 1,000, 2,000, 4,000 and
#      8,000 records, each replayed with --max-events 8000 (best of three wall
#      times, less the time of a one-record replay, which is start-up), and
#      under callgrind when valgrind is there (instructions, less start-up's):
#      the cost per record, its growth per doubling, and the exponent of that
#      growth against the target "per-event cost at most linear in history"
#      (exponent <= 1: one input costs at most linear time in its citizen's
#      history). Then build/release/bench/input_cost: one input's time at the
#      --max-events bound (10000 records).
#   7. Capacity (ops/bench-capacity.sh): throughput with 1, 2 and 4 processors
#      against a local three-master Redis Cluster, and Redis bytes per citizen
#      there; the figures behind docs/operations.md "Capacity".
#
# Environment (for a quick run): BENCH_CITIZENS (default 1000000), BENCH_EVENTS
# (default 10000000; the log is cut there), BENCH_SEED (default 1),
# BENCH_DATA (default bench-data), BENCH_AGG_CITIZENS (default 200000: the dk-2026
# population of the aggregates figure), BENCH_AGGREGATES=0 (skips it),
# BENCH_REPORT=0 (skips the report's figures), BENCH_REPORT_CITIZENS (default 20000:
# the population of its streaming check),
# BENCH_CAPACITY=0 (skips the cluster capacity runs), BENCH_LIVE=0 (skips the live benchmark; its
# own BENCH_LIVE_* settings are in ops/bench-live.sh), BENCH_HISTORY=0 (skips
# the cost per history length), BENCH_CALLGRIND=0 (no callgrind: the history
# figures in wall time only, and no instructions per event).
# Replay is single-threaded: one core.
set -euo pipefail

cd "$(dirname "$0")/.."
# The bench tools live in build/release/bench/, where no rules directory sits
# beside them: give them the tree's.
export CONTACTD_RULES=${CONTACTD_RULES:-$PWD/rules}

CITIZENS=${BENCH_CITIZENS:-1000000}
EVENTS=${BENCH_EVENTS:-10000000}
SEED=${BENCH_SEED:-1}
DATA=${BENCH_DATA:-bench-data}
BIN=build/release/contactd
DECODE=build/release/bench/decode
HISTORY=build/release/bench/history
INPUT_COST=build/release/bench/input_cost
TARGET_EPS=1000000
TARGET_INSTR=5000
TARGET_JSON_SHARE=80
TARGET_BYTES=1024

die() { echo "bench: $*" >&2; exit 1; }

[[ -x $BIN ]] || die "$BIN is missing; run 'make bench' (or 'make MODE=release')"
mkdir -p "$DATA"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# ---- measuring: GNU time, else a /proc poller ----------------------------
TIMER=gnu
if [[ ! -x /usr/bin/time ]]; then
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
		echo "bench: installing GNU time (Debian package 'time')" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null 2>&1 ||
			{ apt-get update -qq >/dev/null 2>&1 &&
			  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null 2>&1; } || true
	fi
	[[ -x /usr/bin/time ]] || TIMER=proc
fi

now() { date +%s.%N; }

# Runs "$@" with stderr to $1's log; sets WALL (s), RSS_KB (peak resident set).
# Usage: measure LOGFILE CMD...
measure() {
	local log=$1 t0 t1 pid hwm peak=0 rc=0
	shift
	if [[ $TIMER == gnu ]]; then
		t0=$(now)
		/usr/bin/time -v -o "$log.time" "$@" 2>"$log" || rc=$?
		t1=$(now)
		RSS_KB=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$log.time")
	else
		t0=$(now)
		"$@" 2>"$log" &
		pid=$!
		while kill -0 "$pid" 2>/dev/null; do
			hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
			[[ -n $hwm && $hwm -gt $peak ]] && peak=$hwm
			sleep 0.05
		done
		wait "$pid" || rc=$?
		t1=$(now)
		RSS_KB=$peak
	fi
	WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	[[ $rc -eq 0 ]] || { cat "$log" >&2; die "command failed ($rc): $*"; }
}

# The value of key=value in the last log line matching msg="$2".
logval() { grep "msg=\"$2\"" "$1" | tail -1 | tr ' ' '\n' | awk -F= -v k="$3" '$1 == k { print $2 }'; }

# ---- 1. the data set -------------------------------------------------------
tag="c${CITIZENS}-e${EVENTS}-s${SEED}"
generate() {  # FORMAT FILE
	local fmt=$1 file=$2
	if [[ -s $file && -s $file.done ]]; then
		echo "bench: reusing $file" >&2
		return
	fi
	rm -f "$file" "$file.done"
	echo "bench: generating $file ($CITIZENS citizens, up to $EVENTS events, $fmt)" >&2
	measure "$WORK/synth-$fmt.log" "$BIN" synth --citizens "$CITIZENS" --seed "$SEED" \
		--max-events "$EVENTS" --format "$fmt" --output "$file"
	{ cat "$WORK/synth-$fmt.log"; echo "generation_seconds=$WALL"; } >"$file.done"
}
PB=$DATA/$tag.pb
JSON=$DATA/$tag.jsonl
generate pb "$PB"
generate json "$JSON"
GEN_PB=$(awk -F= '/^generation_seconds=/ { print $2 }' "$PB.done")
GEN_JSON=$(awk -F= '/^generation_seconds=/ { print $2 }' "$JSON.done")
GEN_EVENTS=$(logval "$PB.done" "synth done" events)

# ---- 2. decode alone -----------------------------------------------------------
DEC_PB="" DEC_JSON=""
if [[ -x $DECODE ]]; then
	echo "bench: decode only (binary, JSON)" >&2
	DEC_PB=$("$DECODE" "$PB")
	DEC_JSON=$("$DECODE" "$JSON")
fi

# ---- 3. replay -------------------------------------------------------------------
replay() {  # NAME FILE; sets R_* for it
	local name=$1 file=$2 log=$WORK/replay-$1.log
	echo "bench: replay $name ($file)" >&2
	measure "$log" "$BIN" replay --input "$file" --output /dev/null --output-format pb --warn-days 7 --stats
	R_RECORDS=$(logval "$log" "replay done" records)
	R_SKIPPED=$(logval "$log" "replay done" skipped)
	R_CITIZENS=$(logval "$log" "replay done" citizens)
	R_DEADLINES=$(logval "$log" "replay done" deadline_events)
	R_BREACHES=$(logval "$log" "replay done" breach_events)
	R_STORE=$(logval "$log" "replay stats" store_bytes)
	R_WALL=$WALL
	R_RSS_KB=$RSS_KB
	[[ $R_SKIPPED == 0 ]] || echo "bench: WARNING: $name replay skipped $R_SKIPPED records" >&2
}
replay binary "$PB"
B_RECORDS=$R_RECORDS B_WALL=$R_WALL B_RSS_KB=$R_RSS_KB B_CITIZENS=$R_CITIZENS B_STORE=$R_STORE
B_DEADLINES=$R_DEADLINES B_BREACHES=$R_BREACHES B_SKIPPED=$R_SKIPPED
replay json "$JSON"
J_RECORDS=$R_RECORDS J_WALL=$R_WALL J_RSS_KB=$R_RSS_KB J_SKIPPED=$R_SKIPPED

# ---- 3b. aggregates: a population with dk-2026 periods, replayed with and without ---
# the aggregate stage (state/aggregate): its added cost, and share-member outcomes
# per second of that added time, against the replay's own rate.
AGG=""
aggregates_cost() {
	local n=${BENCH_AGG_CITIZENS:-200000} file log_on=$WORK/agg-on.log log_off=$WORK/agg-off.log
	local w_on w_off rec members aggs eps_on eps_off added mps ok
	file=$DATA/agg-c$n-s$SEED.pb
	if [[ ! -s $file.done ]]; then
		echo "bench: generating $file ($n citizens, 3 years from 2024-07-01: dk-2024, dk-2026)" >&2
		"$BIN" synth --citizens "$n" --seed "$SEED" --years 3 --from 2024-07-01 --format pb --output "$file" \
			2>/dev/null && touch "$file.done"
	fi
	echo "bench: replay with and without aggregates ($file)" >&2
	measure "$log_off" "$BIN" replay --input "$file" --output /dev/null --output-format pb --no-aggregates
	w_off=$WALL
	measure "$log_on" "$BIN" replay --input "$file" --output /dev/null --output-format pb
	w_on=$WALL
	rec=$(logval "$log_on" "replay done" records)
	members=$(logval "$log_on" "replay done" member_outcomes)
	aggs=$(logval "$log_on" "replay done" aggregate_events)
	eps_on=$(awk -v n="$rec" -v s="$w_on" 'BEGIN { printf "%.0f", n / s }')
	eps_off=$(awk -v n="$rec" -v s="$w_off" 'BEGIN { printf "%.0f", n / s }')
	added=$(awk -v a="$w_on" -v b="$w_off" 'BEGIN { printf "%.1f", (a - b) * 100 / b }')
	mps=$(awk -v m="$members" -v a="$w_on" -v b="$w_off" 'BEGIN { d = a - b; if (d <= 0.01) print "unmeasurable (within noise)"; else printf "%.0f member outcomes/s", m / d }')
	ok=$(awk -v m="$members" -v a="$w_on" -v b="$w_off" -v e="$eps_off" 'BEGIN { d = a - b; print (d <= 0.01 || m / d >= e) ? "met" : "MISSED" }')
	AGG="aggregates:    $n citizens from 2024-07-01, $rec events: $eps_off events/s without, $eps_on with ($added % added)
               $members member outcomes, $aggs aggregate events: $mps of added time   target >= the replay's own rate ($eps_off/s): $ok"
}
if [[ ${BENCH_AGGREGATES:-1} != 0 ]]; then
	aggregates_cost
fi

# ---- 3c. contactd report: over the binary log, and streaming -------------------------
# Sets REPORT (the lines of its figures).
REPORT=""
TARGET_REPORT_S=30
report_cost() {
	local log=$WORK/report.log n=${BENCH_REPORT_CITIZENS:-20000} small out w rss inst table one four events
	echo "bench: report --input ($PB)" >&2
	measure "$log" "$BIN" report --input "$PB" --format csv -o /dev/null --stats
	w=$WALL rss=$RSS_KB
	inst=$(logval "$log" "report done" instances)
	events=$(logval "$log" "report done" records)
	table=$(logval "$log" "report stats" instance_table_bytes)
	# streaming: the same outputs once and four times over (four times the log, the same instances)
	small=$DATA/report-c$n-s$SEED.pb
	out=$DATA/report-c$n-s$SEED.out.pb
	if [[ ! -s $out.done ]]; then
		echo "bench: generating $small and its outputs ($n citizens)" >&2
		"$BIN" synth --citizens "$n" --seed "$SEED" --format pb --output "$small" 2>/dev/null &&
			"$BIN" replay --input "$small" --output "$out" --output-format pb 2>/dev/null && touch "$out.done"
	fi
	echo "bench: report --outputs, once and four times over ($out)" >&2
	measure "$WORK/report-once.log" "$BIN" report --outputs "$out" -o /dev/null
	one=$RSS_KB
	local o1 i1
	o1=$(logval "$WORK/report-once.log" "report done" outputs)
	i1=$(logval "$WORK/report-once.log" "report done" instances)
	measure "$WORK/report-four.log" "$BIN" report --outputs <(cat "$out" "$out" "$out" "$out") -o /dev/null
	four=$RSS_KB
	REPORT="report:        contactd report --input (binary) --format csv: $events events in $w s = $(eps "$events" "$w") events/s   target < $TARGET_REPORT_S s (one core): $(verdict "$(awk -v w="$w" -v t="$TARGET_REPORT_S" 'BEGIN { print (w < t) ? "ok" : "no" }')")
               peak RSS $((rss / 1024)) MiB (replay's $((B_RSS_KB / 1024)) MiB): $inst obligation instances, table $((table / 1048576)) MiB = $((inst ? table / inst : 0)) B/instance
streaming:     report --outputs, $n citizens: $o1 outputs ($i1 instances) peak RSS $((one / 1024)) MiB; four times over ($((o1 * 4)) outputs, the same instances) $((four / 1024)) MiB   target: memory independent of the log's length: $(verdict "$(awk -v a="$one" -v b="$four" 'BEGIN { print (b <= a + 8192) ? "ok" : "no" }')")"
}

# ---- 3d. instructions per event (callgrind) -----------------------------------------
# Sets INSTR (the lines of its figures).
INSTR=""
instructions_per_event() {
	local file=$DATA/cg-c10000-y3-s7.pb out=$WORK/cg.out one=$WORK/cg-one.jsonl base total rec per top
	if [[ ! -s $file.done ]]; then
		"$BIN" synth --citizens 10000 --years 3 --seed 7 --format pb --output "$file" 2>/dev/null && touch "$file.done"
	fi
	echo "bench: replay under callgrind ($file)" >&2
	printf '{"eventId":"cg-1","citizenId":"cg-1","occurredAt":"2020-01-06T09:00:00Z","registration":{"benefit":"BENEFIT_DAGPENGE","municipalityCode":"101"}}\n' >"$one"
	base=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" replay --input "$one" --output /dev/null \
		--output-format pb 2>&1 | awk '/Collected :/ { print $NF }')
	total=$(valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN" replay --input "$file" --output /dev/null \
		--output-format pb 2>"$WORK/cg.log"; awk '/Collected :/ { print $NF }' "$WORK/cg.log")
	rec=$(grep 'msg="replay done"' "$WORK/cg.log" | tr ' ' '\n' | awk -F= '$1 == "records" { print $2 }')
	[[ -n $base && -n $total && -n $rec && $rec -gt 0 ]] || { INSTR="instructions:  FAILED (callgrind: $(tail -1 "$WORK/cg.log"))"; return; }
	per=$(( (total - base) / rec ))
	top=$(callgrind_annotate "$out" 2>/dev/null | grep -v 'PROGRAM TOTALS' | sed -n 's/^ *[0-9,]* *( *\([0-9.]*%\)) *[^ ]*:\([^ ]*\).*/\2 \1/p' |
		head -10 | sed "s/\.lto_priv\.[0-9]*//" | paste -sd, - | sed "s/,/, /g")
	INSTR="instructions:  replay of synth --citizens 10000 --years 3 --seed 7 (pb) under callgrind: $((total - base)) instructions for $rec events = $per per event (start-up's $base excluded)   target <= $TARGET_INSTR: $(verdict "$([[ $per -le $TARGET_INSTR ]] && echo ok || echo no)")
               largest self costs: $top"
}

# ---- 6. cost per history length (one citizen); figures below ----------------------
# Sets HIST (the lines of its block).
HIST=""
history_cost() {
	local sizes=(500 1000 2000 4000 8000) n f w best base ir base_ir prev="" prev_ir="" ratio e
	local cg=0 e_wall="" e_ir="" line
	[[ ${BENCH_CALLGRIND:-1} != 0 ]] && command -v valgrind >/dev/null && cg=1
	# the best of three wall times of a replay, in seconds
	best_wall() {
		best=""
		for _ in 1 2 3; do
			local t0 t1
			t0=$(now)
			"$BIN" replay --input "$1" --output /dev/null --output-format pb --max-events 8000 2>/dev/null ||
				die "history replay of $1 failed"
			t1=$(now)
			best=$(awk -v a="$t0" -v b="$t1" -v m="$best" 'BEGIN { d = b - a; print (m == "" || d < m) ? d : m }')
		done
	}
	instructions() {
		valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" replay --input "$1" --output /dev/null \
			--output-format pb --max-events 8000 2>&1 | awk '/Collected :/ { print $NF }'
	}
	"$HISTORY" 1 >"$WORK/hist-1.jsonl"
	best_wall "$WORK/hist-1.jsonl"
	base=$best
	[[ $cg == 1 ]] && base_ir=$(instructions "$WORK/hist-1.jsonl")
	HIST=$(printf '  %7s  %12s  %7s  %14s  %7s\n' records "wall µs/rec" growth "instr/record" growth)
	for n in "${sizes[@]}"; do
		f=$WORK/hist-$n.jsonl
		"$HISTORY" "$n" >"$f"
		echo "bench: history cost, one citizen, $n records" >&2
		best_wall "$f"
		w=$(awk -v b="$best" -v z="$base" -v n="$n" 'BEGIN { printf "%.1f", (b - z) * 1e6 / n }')
		ir="-"
		[[ $cg == 1 ]] && ir=$(awk -v i="$(instructions "$f")" -v z="$base_ir" -v n="$n" 'BEGIN { printf "%.0f", (i - z) / n }')
		ratio=$([[ -n $prev ]] && awk -v a="$w" -v b="$prev" 'BEGIN { printf "x%.2f", a / b }' || echo "")
		e=$([[ -n $prev_ir && $ir != - ]] && awk -v a="$ir" -v b="$prev_ir" 'BEGIN { printf "x%.2f", a / b }' || echo "")
		line=$(printf '  %7s  %12s  %7s  %14s  %7s' "$n" "$w" "$ratio" "$ir" "$e")
		HIST+=$'\n'"$line"
		[[ -n $prev ]] && e_wall=$(awk -v a="$w" -v b="$prev" 'BEGIN { printf "%.2f", log(a / b) / log(2) }')
		[[ -n $prev_ir && $ir != - ]] && e_ir=$(awk -v a="$ir" -v b="$prev_ir" 'BEGIN { printf "%.2f", log(a / b) / log(2) }')
		prev=$w
		[[ $ir != - ]] && prev_ir=$ir
	done
	# The verdict reads instructions when there are some (wall times share the machine).
	e=${e_ir:-$e_wall}
	HIST+=$'\n'"  growth 4,000 -> 8,000: per-record cost x2^$e (exponent $e; wall $e_wall${e_ir:+, instructions $e_ir})"
	HIST+="   target: per-event cost at most linear in history (exponent <= 1.1): $(verdict "$(awk -v e="$e" 'BEGIN { print (e <= 1.1) ? "ok" : "no" }')")"
	if [[ -x $INPUT_COST ]]; then
		"$HISTORY" 10000 >"$WORK/hist-10000.jsonl"
		HIST+=$'\n'"  at the bound: $("$INPUT_COST" "$WORK/hist-10000.jsonl" 10000 | sed 's/^input_cost: //')"
	fi
}
verdict() { if [[ $1 == ok ]]; then echo "met"; else echo "MISSED"; fi; }
if [[ ${BENCH_HISTORY:-1} != 0 && -x $HISTORY ]]; then
	history_cost
fi
if [[ ${BENCH_CALLGRIND:-1} != 0 ]] && command -v valgrind >/dev/null; then
	instructions_per_event
fi

# ---- 5. the live pipeline, last (ops/bench-live.sh; BENCH_LIVE=0 skips it); figures below
LIVE=""
if [[ ${BENCH_LIVE:-1} != 0 ]]; then
	echo "bench: live pipeline (ops/bench-live.sh)" >&2
	LIVE=$(ops/bench-live.sh) || LIVE="live:          FAILED (ops/bench-live.sh exited with status $?; see its messages above)"
fi

# ---- 7. capacity against a three-master cluster (ops/bench-capacity.sh; BENCH_CAPACITY=0 skips it)
CAPACITY=""
if [[ ${BENCH_CAPACITY:-1} != 0 ]]; then
	echo "bench: capacity (ops/bench-capacity.sh)" >&2
	CAPACITY=$(ops/bench-capacity.sh) ||
		CAPACITY="capacity:      FAILED (ops/bench-capacity.sh exited with status $?; see its messages above)"
fi

# ---- 4. figures --------------------------------------------------------------------
eps() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }
if [[ ${BENCH_REPORT:-1} != 0 ]]; then
	report_cost
fi
B_EPS=$(eps "$B_RECORDS" "$B_WALL")
J_EPS=$(eps "$J_RECORDS" "$J_WALL")
RSS_KB=$((B_RSS_KB > J_RSS_KB ? B_RSS_KB : J_RSS_KB))
RSS_MIB=$((RSS_KB / 1024))
RSS_PER=$((RSS_KB * 1024 / B_CITIZENS))
STORE_PER=$((B_STORE / B_CITIZENS))
eps_ok=$([[ $B_EPS -ge $TARGET_EPS ]] && echo ok || echo no)
# JSON replay against JSON decode alone (the decoder's rate is the ceiling of the replay's)
J_SHARE=""
J_DEC_EPS=$(sed -n 's/.* = \([0-9]*\) records\/s.*/\1/p' <<<"$DEC_JSON")
[[ -n $J_DEC_EPS && $J_DEC_EPS -gt 0 ]] && J_SHARE=$((J_EPS * 100 / J_DEC_EPS))
mem_ok=$([[ $RSS_PER -lt $TARGET_BYTES ]] && echo ok || echo no)

cat <<EOF

==== contactd replay benchmark ($(uname -m), $(nproc) cores; replay is single-threaded) ====
data:          $CITIZENS citizens, $GEN_EVENTS events, seed $SEED ($DATA/$tag.{pb,jsonl}; $(du -h "$PB" | cut -f1) / $(du -h "$JSON" | cut -f1))
generation:    binary $GEN_PB s, JSON $GEN_JSON s (contactd synth)
${DEC_PB:+decode-only:   binary ${DEC_PB#decode: }
               json   ${DEC_JSON#decode: }
}replay-binary: $B_RECORDS events in $B_WALL s = $B_EPS events/s (one core)   target >= $TARGET_EPS events/s: $(verdict "$eps_ok")
replay-json:   $J_RECORDS events in $J_WALL s = $J_EPS events/s (one core)${J_SHARE:+, $J_SHARE % of JSON decode alone   target >= $TARGET_JSON_SHARE %: $(verdict "$([[ $J_SHARE -ge $TARGET_JSON_SHARE ]] && echo ok || echo no)")}
${INSTR:+$INSTR
}memory:        peak RSS $RSS_MIB MiB for $B_CITIZENS citizens = $RSS_PER B/citizen (store: $STORE_PER B/citizen)   target < $TARGET_BYTES B/citizen: $(verdict "$mem_ok")
               (peak RSS binary $((B_RSS_KB / 1024)) MiB, JSON $((J_RSS_KB / 1024)) MiB; store $((B_STORE / 1048576)) MiB)
outputs:       $B_DEADLINES deadline events, $B_BREACHES breach events (binary run); skipped: binary $B_SKIPPED, JSON $J_SKIPPED
timer:         $([[ $TIMER == gnu ]] && echo "/usr/bin/time -v" || echo "VmHWM polled from /proc")
${AGG}
${REPORT}
EOF
if [[ -n $HIST ]]; then
	printf '\n==== cost per history length (one citizen, bench/history; replay --max-events 8000) ====\n%s\n' "$HIST"
fi
if [[ -n $LIVE ]]; then
	printf '\n==== contactd live pipeline (ops/bench-live.sh: devbroker mock Kafka, private redis-server) ====\n%s\n' \
		"$LIVE"
fi
if [[ -n $CAPACITY ]]; then
	printf '\n==== capacity (ops/bench-live.sh against a local three-master Redis Cluster) ====\n%s\n' "$CAPACITY"
fi
