#!/usr/bin/env bash
# gen-rules-doc.sh — refreshes the generated part of docs/rules.md from rules/
# (between the "rules list" markers), so the user documentation cannot drift
# from the rulesets the program loads. tests/cli/test_docs_rules.sh checks it.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CONTACTD:-build/release/contactd}
[ -x "$bin" ] || make -s all
tmp=$(mktemp)
{
  sed '/<!-- rules list begin -->/q' docs/rules.md
  "$bin" rules list --format markdown
  sed -n '/<!-- rules list end -->/,$p' docs/rules.md
} >"$tmp"
mv "$tmp" docs/rules.md
