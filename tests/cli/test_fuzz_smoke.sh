# test_fuzz_smoke.sh — the fuzz harnesses (tests/fuzz/) as a regression test:
# builds them with clang (make fuzz-build: libFuzzer, ASan, UBSan), runs each
# over its whole seed corpus and then fuzzes it for a few seconds. A decoder
# that crashes, leaks or breaks a round trip on any of these inputs fails the
# suite. clang is installed by ops/install-deps.sh, so its absence fails too.
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
FUZZ_SMOKE_SECONDS=${FUZZ_SMOKE_SECONDS:-3}

clang --version >/dev/null 2>&1 || fail "clang is not installed (ops/install-deps.sh installs it): the fuzz harnesses cannot be built"
make -s fuzz-build >"$W/build.log" 2>&1 || { tail -40 "$W/build.log" >&2; fail "make fuzz-build failed"; }

names=()
for src in tests/fuzz/fuzz_*.c; do
  n=$(basename "$src" .c)
  names+=("${n#fuzz_}")
done
[ ${#names[@]} -ge 6 ] || fail "expected at least six harnesses in tests/fuzz, found ${#names[@]}"

# Into the test's own directory: the smoke run must not grow the corpora of `make fuzz`.
mkdir -p "$W/fuzz"
ln -s "$PWD/build/fuzz/seeds" "$W/fuzz/seeds"
for n in "${names[@]}"; do
  ln -s "$PWD/build/fuzz/fuzz_$n" "$W/fuzz/fuzz_$n"
  [ "$(find "build/fuzz/seeds/$n" -type f | wc -l)" -gt 0 ] || fail "no seeds for $n"
done
tests/fuzz/run.sh "$W/fuzz" "$FUZZ_SMOKE_SECONDS" "${names[@]}" >"$W/run.log" 2>&1 || {
  cat "$W/run.log" >&2; fail "a fuzz harness failed (inputs kept under $W/fuzz/crashes)"; }
cat "$W/run.log"
for n in "${names[@]}"; do
  expect_grep "^$n .* ok$" "$W/run.log"
done
expect_grep "0 failed" "$W/run.log"
