# lib.sh — shared by the command-line tests (sourced). Each test is one script
# that exits non-zero on the first broken expectation, saying which.
set -euo pipefail
: "${CONTACTD:?run through tests/run.sh (CONTACTD names the binary)}"
CD_WORK=${CD_WORK:-/tmp}
W=$(mktemp -d "$CD_WORK/cli.XXXXXX")
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_grep() { grep -q -- "$1" "$2" || { echo "--- $2:" >&2; cat "$2" >&2; fail "expected '$1' in $2"; }; }
