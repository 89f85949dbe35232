# The reference protobuf runtime and contactd agree on contact.v1: a log written
# by the reference runtime replays to byte-identical outputs in JSON and binary,
# and contactd's JSON and binary outputs decode to the same messages there.
source "$(dirname "$0")/lib.sh"
: "${CD_PYGEN:?needs the reference-runtime code from tests/run.sh}"
REF="/usr/bin/python3 tests/interop/reference.py $CD_PYGEN"

"$CONTACTD" synth --citizens 300 --seed 11 --years 4 --format pb --output "$W/ours.bin" 2>/dev/null
$REF reencode "$W/ours.bin" "$W/ref.bin"
$REF to-json "$W/ours.bin" "$W/ref.jsonl"

for input in ours.bin ref.bin ref.jsonl; do
  "$CONTACTD" replay --input "$W/$input" --until 2030-01-01T00:00:00Z --output "$W/$input.out.jsonl" \
    2>"$W/$input.err" || fail "replay of $input failed"
  expect_grep 'skipped=0' "$W/$input.err"
done
cmp "$W/ours.bin.out.jsonl" "$W/ref.bin.out.jsonl" || fail "binary from the reference runtime replays differently"
cmp "$W/ours.bin.out.jsonl" "$W/ref.jsonl.out.jsonl" || fail "JSON from the reference runtime replays differently"
[ "$(wc -l <"$W/ours.bin.out.jsonl")" -gt 100 ] || fail "too few outputs to mean anything"

"$CONTACTD" replay --input "$W/ref.jsonl" --until 2030-01-01T00:00:00Z --output-format pb \
  --output "$W/out.pb" 2>/dev/null
$REF same-outputs "$W/out.pb" "$W/ref.jsonl.out.jsonl" || fail "binary and JSON outputs differ"
