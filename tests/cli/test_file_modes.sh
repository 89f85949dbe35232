# Files that hold citizen ids (synth, replay and whatif outputs; consume's is
# checked in test_live_pii.sh) are created 0600 whatever the umask, an
# existing file is narrowed to 0600 before it is written, and a FIFO keeps
# its mode (the output may be a pipe).
source "$(dirname "$0")/lib.sh"
umask 022
mode() { stat -c %a "$1"; }

"$CONTACTD" synth --citizens 20 --years 1 --seed 3 --format json --output "$W/log.jsonl" 2>/dev/null || fail "synth failed"
[ "$(mode "$W/log.jsonl")" = 600 ] || fail "synth output is $(mode "$W/log.jsonl"), not 600"
grep -q '"citizenId"' "$W/log.jsonl" || fail "synth wrote no citizen ids (the file checked holds none)"

"$CONTACTD" replay --input "$W/log.jsonl" --output "$W/out.jsonl" --output-format json 2>/dev/null || fail "replay failed"
[ "$(mode "$W/out.jsonl")" = 600 ] || fail "replay output is $(mode "$W/out.jsonl"), not 600"
grep -q '"citizenId"' "$W/out.jsonl" || fail "replay wrote no citizen ids"

# an existing world-readable file: narrowed before the ids are written
printf 'old\n' >"$W/existing.jsonl"
chmod 644 "$W/existing.jsonl"
"$CONTACTD" replay --input "$W/log.jsonl" --output "$W/existing.jsonl" --output-format json 2>/dev/null || fail "replay over an existing file failed"
[ "$(mode "$W/existing.jsonl")" = 600 ] || fail "an existing output file stayed $(mode "$W/existing.jsonl")"
grep -q '^old$' "$W/existing.jsonl" && fail "the existing file was not truncated"

"$CONTACTD" whatif --input "$W/log.jsonl" --overlays none --output "$W/whatif.txt" 2>/dev/null || fail "whatif failed"
[ "$(mode "$W/whatif.txt")" = 600 ] || fail "whatif output is $(mode "$W/whatif.txt"), not 600"

# a FIFO (a pipeline) is written as it is, its mode left alone
mkfifo -m 644 "$W/pipe"
cat "$W/pipe" >"$W/from-pipe.jsonl" &
"$CONTACTD" replay --input "$W/log.jsonl" --output "$W/pipe" --output-format json 2>/dev/null || fail "replay into a FIFO failed"
wait
[ "$(mode "$W/pipe")" = 644 ] || fail "the FIFO's mode was changed to $(mode "$W/pipe")"
cmp -s "$W/from-pipe.jsonl" "$W/out.jsonl" || fail "the FIFO got other bytes than the file"

# an output that cannot be opened is a clear error, as before
"$CONTACTD" replay --input "$W/log.jsonl" --output "$W/no/such/dir/out" 2>"$W/err.log" && fail "replay into a missing directory succeeded"
expect_grep 'cannot open output' "$W/err.log"
echo "file modes: synth, replay, whatif outputs 0600; existing file narrowed; FIFO left alone"
