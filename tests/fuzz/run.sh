#!/usr/bin/env bash
# run.sh — runs fuzz harnesses, each for SECONDS, and says per harness what it
# tried and found: inputs run, execs/s, coverage (libFuzzer's cov: edges and
# ft: features), corpus size and the result. Exits non-zero if any harness
# crashed, leaked or broke a check; the input is kept under BUILD/crashes/NAME/.
#
# The corpus each run grows is BUILD/corpus/NAME (kept between runs, never
# committed); the seeds (BUILD/seeds/NAME, from seeds.sh) are read only.
# Extra seeds too large to mutate (BUILD/seeds/NAME-limits) are run once each.
#
# usage: tests/fuzz/run.sh BUILD SECONDS NAME...     (`make fuzz` runs it)
set -uo pipefail
B=$1 SECONDS_EACH=$2
shift 2
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
summary=()

# The last value of "key: N" in a libFuzzer log.
field() { grep -o "$1: *[0-9A-Za-z/]*" "$2" | tail -1 | sed "s/^$1: *//"; }
stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -1; }

for name in "$@"; do
  bin=$B/fuzz_$name
  seeds=$B/seeds/$name
  corpus=$B/corpus/$name
  crashes=$B/crashes/$name
  log=$B/logs/$name.log
  if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
    echo "fuzz: no harness or seeds for '$name' (make fuzz-build)" >&2
    failed+=("$name"); continue
  fi
  mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
  : >"$log"
  result=ok
  if [ -d "$seeds-limits" ]; then
    "$bin" -artifact_prefix="$crashes/" "$seeds-limits"/* >>"$log" 2>&1 || result="failed on a limits seed"
  fi
  if [ "$result" = ok ]; then
    "$bin" -max_total_time="$SECONDS_EACH" -timeout=60 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="$crashes/" "$corpus" "$seeds" >>"$log" 2>&1 || result="FAILED"
  fi
  execs=$(stat number_of_executed_units "$log")
  line=$(printf '%-11s %4ss  inputs %-10s exec/s %-7s cov %-5s ft %-6s corpus %-6s %s' "$name" "$SECONDS_EACH" \
    "${execs:-?}" "$(stat average_exec_per_sec "$log")" "$(field cov "$log")" "$(field ft "$log")" \
    "$(field corp "$log")" "$result")
  if [ "$result" != ok ]; then
    failed+=("$name")
    line="$line: $(ls -t "$crashes" 2>/dev/null | head -1 | sed "s|^|$crashes/|") (log: $log)"
    grep -m3 -E 'fuzz check failed|ERROR: |runtime error' "$log" | sed 's/^/    /' >&2
  fi
  echo "$line"
  summary+=("$line")
done

echo "fuzz: ${#summary[@]} harness(es) run, ${#failed[@]} failed${failed:+: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]
