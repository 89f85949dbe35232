# docs/rules.md shows the shipped rulesets as they are: its generated part equals
# `contactd rules list --format markdown` (regenerate with ops/gen-rules-doc.sh).
source "$(dirname "$0")/lib.sh"
"$CONTACTD" rules list --format markdown >"$W/now.md"
sed -n '/<!-- rules list begin -->/,/<!-- rules list end -->/p' docs/rules.md | sed '1d;$d' >"$W/doc.md"
diff -u "$W/doc.md" "$W/now.md" >&2 || fail "docs/rules.md is out of date: run ops/gen-rules-doc.sh"
