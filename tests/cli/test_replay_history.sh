# Bounded history: a ten-year synthetic population replayed with compaction
# (a horizon longer than the log's lateness) gives exactly the outputs of a
# replay that keeps every input, with smaller records; a horizon shorter than
# the lateness refuses the late inputs with a reason that names no citizen;
# retention deletes citizens and changes no output.
source "$(dirname "$0")/lib.sh"

# late conversations are recorded 1-30 days late (synth --late-ratio)
"$CONTACTD" synth --citizens 400 --years 10 --seed 11 --late-ratio 0.05 --format json \
  --output "$W/log.jsonl" 2>/dev/null || fail "synth failed"

stat_of() { sed -n "s/.*msg=\"$2\".* $3=\([0-9]*\).*/\1/p" "$1"; }

"$CONTACTD" replay --input "$W/log.jsonl" --history-horizon 0 --retention 0 --stats \
  --output "$W/full.jsonl" 2>"$W/full.err" || fail "replay without compaction failed"
"$CONTACTD" replay --input "$W/log.jsonl" --history-horizon 60 --retention 0 --stats \
  --output "$W/folded.jsonl" 2>"$W/folded.err" || fail "replay with compaction failed"

grep -q 'msg="replay history"' "$W/full.err" && fail "nothing may be folded with --history-horizon 0"
expect_grep 'msg="replay history"' "$W/folded.err"
compactions=$(stat_of "$W/folded.err" "replay history" compactions)
folded=$(stat_of "$W/folded.err" "replay history" folded_events)
refused=$(stat_of "$W/folded.err" "replay history" refused_folded)
[ "$compactions" -gt 100 ] || fail "expected many compactions, got $compactions"
[ "$folded" -gt 1000 ] || fail "expected many folded entries, got $folded"
[ "$refused" -eq 0 ] || fail "a horizon past the lateness refuses nothing, refused $refused"

# every output inside the horizon (here: every output) is the same, byte for byte
[ "$(wc -l <"$W/full.jsonl")" -gt 3000 ] || fail "the population must say something"
cmp -s "$W/full.jsonl" "$W/folded.jsonl" || {
  diff "$W/full.jsonl" "$W/folded.jsonl" | head -5 >&2
  fail "compaction changed the outputs"
}

# and the records are smaller
full_b=$(stat_of "$W/full.err" "replay stats" store_bytes_per_citizen)
folded_b=$(stat_of "$W/folded.err" "replay stats" store_bytes_per_citizen)
[ "$folded_b" -gt 0 ] || fail "no store size"
[ $((folded_b * 10)) -lt $((full_b * 7)) ] || fail "records are not smaller: $folded_b vs $full_b bytes per citizen"

# a horizon shorter than the lateness: late inputs that would need folded history are refused, with a reason
"$CONTACTD" replay --input "$W/log.jsonl" --history-horizon 5 --retention 0 \
  --output "$W/short.jsonl" 2>"$W/short.err" || fail "replay with a short horizon failed"
refused=$(stat_of "$W/short.err" "replay history" refused_folded)
[ "$refused" -gt 0 ] || fail "a 5-day horizon must refuse some of the late inputs"
grep 'msg="record skipped"' "$W/short.err" >"$W/skipped"
[ "$(wc -l <"$W/skipped")" -eq "$refused" ] || fail "each refusal is one skipped record"
expect_grep 'is folded (history-horizon)' "$W/skipped"
grep -q 'c00000' "$W/skipped" && fail "a refusal names a citizen"

# retention: citizens idle for a year are deleted; nothing said changes
"$CONTACTD" replay --input "$W/log.jsonl" --history-horizon 60 --retention 365 --stats \
  --output "$W/retained.jsonl" 2>"$W/retained.err" || fail "replay with retention failed"
deleted=$(stat_of "$W/retained.err" "replay history" citizens_deleted)
left=$(stat_of "$W/retained.err" "replay stats" store_citizens)
[ "$deleted" -gt 0 ] || fail "no citizen was deleted"
[ "$left" -lt 400 ] || fail "deleted citizens are still in the store ($left)"
cmp -s "$W/full.jsonl" "$W/retained.jsonl" || fail "retention changed the outputs"
echo "ok: $compactions compactions, $folded entries folded, $full_b -> $folded_b bytes per citizen, $deleted deleted"
