#!/usr/bin/env bash
# run.sh — runs the whole test suite against build/$MODE (default asan):
# every cmocka binary build/$MODE/tests/test_*, then the command-line tests in
# tests/cli/*.sh. Prints one closing line: "tests: N passed, N failed, N skipped".
# Exits non-zero when anything failed; what each failure printed is repeated at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
MODE=${MODE:-asan}
BUILD=build/$MODE
export CONTACTD="$PWD/$BUILD/contactd"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export CD_WORK="$PWD/build/test-work"
rm -rf "$CD_WORK" && mkdir -p "$CD_WORK"

passed=0 failed=0 skipped=0
failures=()

# The interop fixture: a log and replay outputs written by the reference protobuf runtime (python3-protobuf).
PYGEN="$CD_WORK/pygen"
mkdir -p "$PYGEN"
if protoc --python_out="$PYGEN" -Iproto -I/usr/include proto/contact/v1/*.proto &&
   /usr/bin/python3 tests/interop/make_log.py "$PYGEN" "$CD_WORK/events.bin" "$CD_WORK/events.jsonl" \
     "$CD_WORK/outputs.bin" "$CD_WORK/outputs.jsonl"; then
  export CD_INTEROP_DIR="$CD_WORK"
  export CD_PYGEN="$PYGEN"
else
  echo "run.sh: could not build the reference-runtime fixture (protoc, python3-protobuf)" >&2
  failed=$((failed + 1)); failures+=("interop fixture")
fi

for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  out=$("$t" 2>&1); rc=$?
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  s=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | tail -1)
  p=${p:-0} f=${f:-0} s=${s:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # a crash or sanitizer abort
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  if [ "$rc" -ne 0 ]; then
    failures+=("$name")
    printf '%s\n' "$out" | tail -60 >"$CD_WORK/failed.$name.log"
  fi
  printf '%-28s %4d passed %3d failed %3d skipped\n' "$name" "$p" "$f" "$s"
done

for t in tests/cli/test_*.sh; do
  [ -f "$t" ] || continue
  name=$(basename "$t" .sh)
  if out=$(bash "$t" 2>&1); then
    passed=$((passed + 1))
    printf '%-28s pass\n' "$name"
  else
    failed=$((failed + 1)); failures+=("$name")
    printf '%s\n' "$out" | tail -40 >"$CD_WORK/failed.$name.log"
    printf '%-28s FAIL\n' "$name"
  fi
done

# What each failure said comes last, next to the count: CI keeps only the end of the output.
for name in "${failures[@]}"; do
  [ -f "$CD_WORK/failed.$name.log" ] || continue
  echo "---- $name, its last lines:"
  cat "$CD_WORK/failed.$name.log"
done
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
