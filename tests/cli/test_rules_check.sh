# `contactd rules check` accepts the shipped rulesets and refuses a broken one,
# naming the file, the line and the field.
source "$(dirname "$0")/lib.sh"

"$CONTACTD" rules check rules >"$W/ok" 2>&1 || { cat "$W/ok"; fail "shipped rules must pass"; }
expect_grep 'ok:' "$W/ok"
if grep -q warning "$W/ok"; then cat "$W/ok" >&2; fail "the shipped rules leave a date uncovered"; fi

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

# The law in force today, with the basis of each rule.
"$CONTACTD" rules list rules --date 2026-11-29 >"$W/now" 2>&1 || fail "rules list failed"
expect_grep "^dk-2026 v1  national  2026-07-01 … open" "$W/now"
expect_grep "dk-2026/kommune-share .*the kommune holds the conversations with at least 75 %" "$W/now"
expect_grep "member of dk-2026/kommune-share: LAPSES when unmet.*basis GUIDANCE" "$W/now"
expect_grep "basis CARRIED_OVER: sygedagpengeloven § 13 b" "$W/now"
expect_grep "basis INTERPRETATION: LAB § 27 stk. 3" "$W/now"
expect_grep "UDDANNELSESHJAELP    -> KONTANTHJAELP  from 2025-07-01" "$W/now"
if grep -q "^dk-2024" "$W/now"; then fail "rules list --date 2026-11-29 showed dk-2024"; fi
"$CONTACTD" rules list rules --date 2026-11-29 --benefit RESSOURCEFORLOEB >"$W/abol" 2>&1 || fail "rules list failed"
expect_grep "dk-2026 has no obligations for RESSOURCEFORLOEB: abolished for new courses by lov nr. 1750" "$W/abol"

# A date, benefit or municipality the rules do not cover is said plainly.
cp -r rules "$W/upto2026" && rm "$W/upto2026/dk-2026.json"
"$CONTACTD" rules list "$W/upto2026" --date 2026-11-29 --municipality 101 --benefit KONTANTHJAELP >"$W/gap" 2>&1 || fail "rules list failed"
expect_grep "warning: no national ruleset covers periods starting 2026-11-29 (the latest, dk-2024, covers up to 2026-06-30): such periods get no national obligations" "$W/gap"
expect_grep "none applies to municipality 101 and KONTANTHJAELP for periods starting 2026-11-29" "$W/gap"
"$CONTACTD" rules list rules --date 2025-03-01 --benefit FOERTIDSPENSION >"$W/nob" 2>&1 || fail "rules list failed"
expect_grep "dk-2024 has no obligations for FOERTIDSPENSION" "$W/nob"
"$CONTACTD" rules list rules --date 2025-03-01 --municipality 101 --benefit KONTANTHJAELP >"$W/cov" 2>&1 || fail "rules list failed"
if grep -q "no national ruleset covers" "$W/cov"; then fail "a covered date was reported as a gap"; fi
expect_grep "the national rules apply alone" "$W/cov"
"$CONTACTD" rules list rules --date 2010-01-01 >"$W/early" 2>&1 || fail "rules list failed"
expect_grep "no national ruleset covers periods starting 2010-01-01 (the earliest, dk-2015, covers from 2015-07-01)" "$W/early"

# rules check names today when today is not covered (an open-ended copy is).
today=$(TZ=Europe/Copenhagen date +%F)
cp -r rules "$W/ended" && sed -i 's/"to": "2026-06-30"/"to": "2020-12-31"/; s/"from": "2024-01-01"/"from": "2020-01-01"/' "$W/ended/dk-2024.json"
rm "$W/ended/dk-2020.json" "$W/ended/dk-2026.json"
"$CONTACTD" rules check "$W/ended" >"$W/today" 2>&1 || { cat "$W/today" >&2; fail "rules check failed"; }
expect_grep "warning: today: no national ruleset covers periods starting $today (the latest, dk-2024, covers up to 2020-12-31)" "$W/today"
cp -r rules "$W/open" && sed -i 's/, "to": "2026-06-30"//' "$W/open/dk-2024.json" && rm "$W/open/dk-2026.json"
"$CONTACTD" rules check "$W/open" >"$W/open.out" 2>&1 || { cat "$W/open.out" >&2; fail "rules check failed"; }
if grep -q "warning: today" "$W/open.out"; then fail "an open-ended ruleset still left today uncovered"; fi

# contactd run warns at start-up when today is not covered (the log is read
# before it reaches Redis, which is not there).
CONTACTD_WALL_CLOCK_START=2026-11-29T09:00:00Z timeout 5 "$CONTACTD" run --rules "$W/ended" --redis 127.0.0.1:1 \
  --brokers 127.0.0.1:1 >"$W/run.log" 2>&1 || true
expect_grep 'msg="the law data does not cover today".*no national ruleset covers periods starting 2026-11-29' "$W/run.log"
CONTACTD_WALL_CLOCK_START=2020-06-01T09:00:00Z timeout 5 "$CONTACTD" run --rules "$W/ended" --redis 127.0.0.1:1 \
  --brokers 127.0.0.1:1 >"$W/run2.log" 2>&1 || true
if grep -q "does not cover today" "$W/run2.log"; then fail "run warned on a covered day"; fi
