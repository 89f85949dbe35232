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
# Strings must be UTF-8 text without control characters (D28). A NUL inside an
# id is kept on the wire but lost after unpacking: "dup\0first" and
# "dup\0second" must not both become "dup" (one dropped as a duplicate), nor
# "nul1\0A" and "nul1\0B" one citizen.
fld() { printf "$2" >"$W/fld"; printf "\\x$1\\x$(printf %02x "$(stat -c %s "$W/fld")")"; cat "$W/fld"; }
frame() { printf "\\x$(printf %02x "$(stat -c %s "$1")")"; cat "$1"; }
MAR1='\x08\x80\xbe\xf2\x81\x06'    # 2021-03-01T08:00:00Z
MAR10='\x08\x90\x95\xa2\x82\x06'   # 2021-03-10T09:00:00Z
REG='\x08\x02'                     # KONTANTHJAELP
CONV='\x0a\x02c1\x10\x01\x18\x01'  # c1, IN_PERSON, JOBCENTER
{ fld 0a 'dup\x00first'; fld 12 'p1'; fld 1a "$MAR1"; fld 2a '101'; fld 52 "$REG"; } >"$W/r1"
{ fld 0a 'dup\x00second'; fld 12 'p1'; fld 1a "$MAR10"; fld 62 "$CONV"; } >"$W/r2"
{ fld 0a 'e3'; fld 12 'nul1\x00A'; fld 1a "$MAR1"; fld 2a '101'; fld 52 "$REG"; } >"$W/r3"
{ fld 0a 'e4'; fld 12 'nul1\x00B'; fld 1a "$MAR1"; fld 2a '101'; fld 52 "$REG"; } >"$W/r4"
{ fld 0a 'e5'; fld 12 'p\xff'; fld 1a "$MAR1"; fld 2a '101'; fld 52 "$REG"; } >"$W/r5"
{ fld 0a 'e6'; fld 12 'p6'; fld 1a "$MAR1"; fld 2a '101'; fld 32 'src\xc2\x85'; fld 52 "$REG"; } >"$W/r6"
{ fld 0a 'e7'; fld 12 'p7'; fld 1a "$MAR1"; fld 2a '101'; fld 52 "$REG"; } >"$W/r7"
for r in 1 2 3 4 5 6 7; do frame "$W/r$r"; done >"$W/text.bin"
"$CONTACTD" replay --input "$W/text.bin" --input-format pb --output "$W/text.out" 2>"$W/text.err" ||
  fail "records with bad text must be skipped, not fail the replay"
expect_grep 'position="record 1 .*stage=validate error="field '"'event_id'"' contains a control character (0x00) at byte 3"' "$W/text.err"
expect_grep 'position="record 2 .*stage=validate error="field '"'event_id'"' contains a control character (0x00) at byte 3"' "$W/text.err"
expect_grep 'position="record 3 .*stage=validate error="field '"'citizen_id'"' contains a control character (0x00) at byte 4"' "$W/text.err"
expect_grep 'position="record 4 .*stage=validate error="field '"'citizen_id'"' contains a control character (0x00) at byte 4"' "$W/text.err"
expect_grep 'position="record 5 .*stage=validate error="field '"'citizen_id'"' is not valid UTF-8 at byte 1"' "$W/text.err"
expect_grep 'position="record 6 .*stage=validate error="field '"'source'"' contains a control character (U+0085) at byte 3"' "$W/text.err"
expect_grep 'records=7 applied=1 duplicates=0 skipped=6' "$W/text.err"
expect_grep 'citizens=1' "$W/text.err"

# The same rule for JSON input: jansson refuses \u0000, validation the rest.
cat >"$W/text.jsonl" <<'JSON'
{"eventId":"j1","citizenId":"p\u0000x","occurredAt":"2021-03-01T08:00:00Z","registration":{"benefit":"BENEFIT_KONTANTHJAELP"}}
{"eventId":"j2","citizenId":"p\u0001x","occurredAt":"2021-03-01T08:00:00Z","registration":{"benefit":"BENEFIT_KONTANTHJAELP"}}
{"eventId":"j3","citizenId":"p3","occurredAt":"2021-03-01T08:00:00Z","conversation":{"conversationId":"c\u007f","form":"CONVERSATION_FORM_PHONE","heldBy":"HELD_BY_JOBCENTER"}}
{"eventId":"j4","citizenId":"p4","occurredAt":"2021-03-01T08:00:00Z","registration":{"benefit":"BENEFIT_KONTANTHJAELP"}}
JSON
"$CONTACTD" replay --input "$W/text.jsonl" --output "$W/text-json.out" 2>"$W/text-json.err" ||
  fail "JSON records with bad text must be skipped, not fail the replay"
expect_grep 'position="record 1 (line 1)" .*stage=decode' "$W/text-json.err"
expect_grep 'position="record 2 (line 2)" event_id=j2 stage=validate error="field '"'citizen_id'"' contains a control character (0x01) at byte 1"' "$W/text-json.err"
expect_grep 'position="record 3 (line 3)" event_id=j3 stage=validate error="field '"'conversation.conversation_id'"' contains a control character (0x7f) at byte 1"' "$W/text-json.err"
expect_grep 'records=4 applied=1 duplicates=0 skipped=3' "$W/text-json.err"
