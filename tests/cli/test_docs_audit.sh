# docs/audit.md's commands run as written: every ```sh block of the guide, in order, in
# one shell (set -e: a failing command fails the test), in a work directory, with this
# build's contactd first on PATH. Background jobs the guide starts are killed at the end.
source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
DOC=$HERE/../../docs/audit.md
export CONTACTD_RULES=${CONTACTD_RULES:-$HERE/../../rules}
mkdir -p "$W/bin"
ln -s "$CONTACTD" "$W/bin/contactd"
/usr/bin/python3 - "$DOC" >"$W/guide.sh" <<'PY' || fail "cannot read the guide's sh blocks"
import sys
out, inside, n = [], False, 0
for line in open(sys.argv[1]):
    if line.rstrip() == "```sh":
        inside, n = True, n + 1
        out.append("echo '--- block %d' >&2" % n)
    elif inside and line.rstrip() == "```":
        inside = False
    elif inside:
        out.append(line.rstrip("\n"))
if n == 0 or inside:
    sys.exit(1)
print("\n".join(out))
PY
[ "$(grep -c '^echo .--- block' "$W/guide.sh")" -ge 5 ] || fail "the guide has fewer sh blocks than expected"
(
  cd "$W"
  export PATH="$W/bin:$PATH"
  trap 'jobs -p | xargs -r kill 2>/dev/null' EXIT
  bash -e "$W/guide.sh"
) >"$W/guide.out" 2>"$W/guide.err" || {
  tail -20 "$W/guide.err" >&2
  fail "a command of docs/audit.md failed (the block is the last '--- block' above)"
}
expect_grep "the topic gives the file's outputs" "$W/guide.out"
expect_grep "citizens who differ" "$W/guide.out"
