# `contactd rules check` accepts the shipped rulesets and refuses a broken one,
# naming the file, the line and the field.
source "$(dirname "$0")/lib.sh"

"$CONTACTD" rules check rules >"$W/ok" 2>&1 || { cat "$W/ok"; fail "shipped rules must pass"; }
expect_grep 'ok:' "$W/ok"
expect_grep 'no national ruleset for periods starting after 2026-06-30' "$W/ok"

cp -r rules "$W/broken"
sed -i 's/"kind": "COUNT_IN_WINDOW", "mark": "V",/"kind": "COUNT_IN_WNDOW", "mark": "V",/' "$W/broken/dk-2020.json"
if "$CONTACTD" rules check "$W/broken" 2>"$W/err"; then fail "a broken ruleset must fail"; fi
expect_grep "dk-2020.json:[0-9]*: obligations\[0\] .*field 'kind': unknown kind 'COUNT_IN_WNDOW'" "$W/err"

cp -r rules "$W/badjson"
printf '{ "id": "dk-2020", ' >"$W/badjson/dk-2020.json"
if "$CONTACTD" rules check "$W/badjson" 2>"$W/err2"; then fail "invalid JSON must fail"; fi
expect_grep 'dk-2020.json:1:[0-9]*: invalid JSON' "$W/err2"

# replay refuses to start on broken rules too
if "$CONTACTD" replay --rules "$W/broken" --input tests/fixtures/s2.jsonl 2>"$W/err3"; then fail "replay started on broken rules"; fi
expect_grep "COUNT_IN_WNDOW" "$W/err3"
