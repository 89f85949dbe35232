# A bad record is reported with its position and event_id and skipped (exit 0);
# lost framing or an unreadable file ends the replay with a non-zero status,
# after writing the outputs of the records before it.
source "$(dirname "$0")/lib.sh"

# well-framed but bad records are skipped
"$CONTACTD" replay --input tests/fixtures/s2.jsonl --output "$W/out" 2>"$W/err" || fail "skips must not fail the replay"
expect_grep 'position="record 3 (line 3)" event_id=bad1 stage=validate' "$W/err"
expect_grep 'position="record 4 (line 4)"' "$W/err"
expect_grep 'skipped=2' "$W/err"
expect_grep 'duplicates=1' "$W/err"

# a truncated binary log: the records before the cut are replayed, then status 1
"$CONTACTD" synth --citizens 20 --seed 3 --format pb --output "$W/full.bin" 2>/dev/null
size=$(stat -c %s "$W/full.bin")
head -c $((size - 7)) "$W/full.bin" >"$W/cut.bin"
if "$CONTACTD" replay --input "$W/cut.bin" --output "$W/cut.out" 2>"$W/cut.err"; then
  fail "a truncated log must end the replay with a non-zero status"
fi
expect_grep 'framing lost' "$W/cut.err"
expect_grep 'truncated' "$W/cut.err"
[ -s "$W/cut.out" ] || fail "outputs before the cut must be written"

# an unreadable file
if "$CONTACTD" replay --input "$W/does-not-exist" 2>"$W/nf.err"; then fail "a missing input must fail"; fi
expect_grep 'cannot open input' "$W/nf.err"

# bad options name the option
if "$CONTACTD" replay --grace -1 --input tests/fixtures/s2.jsonl 2>"$W/opt.err"; then fail "--grace -1 accepted"; fi
expect_grep 'option=--grace' "$W/opt.err"
if "$CONTACTD" replay --until yesterday --input tests/fixtures/s2.jsonl 2>"$W/until.err"; then fail "bad --until accepted"; fi
expect_grep 'option=--until' "$W/until.err"

# --max-events is bounded (an input costs time linear in its citizen's history):
# above the bound is refused, naming the option and the range; the bound itself is accepted
if "$CONTACTD" replay --max-events 10001 --input tests/fixtures/s2.jsonl --output "$W/me.out" 2>"$W/me.err"; then
  fail "--max-events above its bound accepted"
fi
expect_grep 'option=--max-events value=10001 expected="1 … 10000"' "$W/me.err"
if "$CONTACTD" replay --max-events 1000000 --input tests/fixtures/s2.jsonl --output "$W/me.out" 2>"$W/me.err"; then
  fail "--max-events 1000000 accepted"
fi
expect_grep 'option=--max-events' "$W/me.err"
"$CONTACTD" replay --max-events 10000 --input tests/fixtures/s2.jsonl --output "$W/me.out" 2>"$W/me.err" ||
  fail "--max-events 10000 (the bound) refused"
"$CONTACTD" rules list --max-events 10001 2>"$W/me-rules.err" && fail "rules list: --max-events above its bound accepted"
expect_grep 'option=--max-events' "$W/me-rules.err"
