# `contactd replay --summary` counts standing breaches by rule and municipality
# (a retraction takes its breach back) and explains examples.
source "$(dirname "$0")/lib.sh"
"$CONTACTD" replay --input tests/fixtures/s2.jsonl --until 2022-01-01T00:00:00Z --warn-days 0 \
  --output "$W/out.jsonl" --summary >"$W/summary" 2>"$W/err" || fail "replay failed"
expect_grep 'breach events: breached 2, retracted 0 (standing: 2)' "$W/summary"
expect_grep '^ *1  dk-2020/four-in-six$' "$W/summary"
expect_grep '^ *1  dk-2020/first-within$' "$W/summary"
expect_grep '^ *2  101$' "$W/summary"
expect_grep 'citizen p1, municipality 101: dk-2020/first-within BREACHED' "$W/summary"
[ "$(grep -c '"breach"' "$W/out.jsonl")" -eq 2 ] || fail "the output file must hold the two breaches"
