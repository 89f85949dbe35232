#!/usr/bin/env bash
# demo-replay.sh — `make run-replay`: the same synthetic population as the live
# demo, replayed through the rules by `contactd replay` alone (no Kafka, no
# Redis), with a readable summary. Outputs are kept in build/demo/outputs.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CONTACTD:-build/release/contactd}
OUT=build/demo
CITIZENS=${DEMO_CITIZENS:-5000}
mkdir -p "$OUT"
[ -x "$BIN" ] || make -s all

echo "demo: generating $CITIZENS citizens over 3 years (contactd synth) ..."
"$BIN" synth --citizens "$CITIZENS" --years 3 --from 2024-07-01 --seed 2026 --format pb \
  --output "$OUT/events.bin" 2>"$OUT/synth.log"
echo "demo: replaying through rules/ (contactd replay --until 2024-06-30) ..."
"$BIN" replay --input "$OUT/events.bin" --until 2024-06-30T00:00:00Z \
  --output "$OUT/outputs.jsonl" --summary 2>"$OUT/replay.log"
tail -1 "$OUT/replay.log"
echo
echo "demo: every output is in $OUT/outputs.jsonl (one contact.v1.Output per line);"
echo "      inspect a citizen with: grep '\"citizenId\":\"c0000000042\"' $OUT/outputs.jsonl"
