# `make install` puts the program and its rules where the program finds them:
# installed under any PREFIX (and DESTDIR), it runs from any directory with no
# --rules; --rules and $CONTACTD_RULES still come first, in that order.
source "$(dirname "$0")/lib.sh"
TOP=$PWD
MODE=$(basename "$(dirname "$CONTACTD")")
unset CONTACTD_RULES

make -s MODE="$MODE" install DESTDIR="$W/dest" PREFIX=/opt/contactd >"$W/install.log" 2>&1 \
  || { cat "$W/install.log" >&2; fail "make install failed"; }
BIN="$W/dest/opt/contactd/bin/contactd"
[ -x "$BIN" ] || fail "no $BIN"
[ -f "$W/dest/opt/contactd/share/contactd/rules/dk-2024.json" ] || fail "rules not installed"
[ -f "$W/dest/opt/contactd/share/contactd/rules/overlays.json" ] || fail "overlays.json not installed"

mkdir -p "$W/elsewhere"
cd "$W/elsewhere"
"$BIN" replay --input "$TOP/tests/fixtures/s2.jsonl" >"$W/out.jsonl" 2>"$W/err" || { cat "$W/err" >&2; fail "installed replay failed outside the tree"; }
"$CONTACTD" replay --rules "$TOP/rules" --input "$TOP/tests/fixtures/s2.jsonl" >"$W/want.jsonl" 2>/dev/null
cmp -s "$W/out.jsonl" "$W/want.jsonl" || fail "installed replay differs from the tree's"
"$BIN" rules check >"$W/check" 2>&1 || { cat "$W/check" >&2; fail "installed rules check failed"; }
expect_grep "ok: '$W/dest/opt/contactd/share/contactd/rules'" "$W/check"
# reached through a symlink on PATH, it still finds its own prefix
mkdir -p "$W/bin" && ln -s "$BIN" "$W/bin/contactd"
PATH="$W/bin:$PATH" contactd rules check >"$W/check2" 2>&1 || fail "rules check through a symlink failed"
expect_grep "ok: '$W/dest/opt/contactd/share/contactd/rules'" "$W/check2"

# precedence: --rules over $CONTACTD_RULES over the installed default
mkdir -p "$W/env-rules" "$W/flag-rules"
cp "$TOP"/rules/*.json "$W/env-rules/" && cp "$TOP"/rules/*.json "$W/flag-rules/"
CONTACTD_RULES="$W/env-rules" "$BIN" rules check >"$W/env" 2>&1 || fail "rules check with CONTACTD_RULES failed"
expect_grep "ok: '$W/env-rules'" "$W/env"
CONTACTD_RULES="$W/env-rules" "$BIN" replay --rules "$W/nowhere" --input "$TOP/tests/fixtures/s2.jsonl" >/dev/null 2>"$W/flag" \
  && fail "--rules did not take precedence over CONTACTD_RULES"
expect_grep "$W/nowhere" "$W/flag"
CONTACTD_RULES="$W/env-rules" "$BIN" run --check-config >"$W/cfg" 2>&1 || { cat "$W/cfg" >&2; fail "run --check-config failed"; }
expect_grep "rules=$W/env-rules" "$W/cfg"
"$BIN" run --check-config >"$W/cfg2" 2>&1 || { cat "$W/cfg2" >&2; fail "run --check-config failed"; }
expect_grep "rules=$W/dest/opt/contactd/share/contactd/rules" "$W/cfg2"

# uninstall removes what install put there
cd "$TOP"
make -s MODE="$MODE" uninstall DESTDIR="$W/dest" PREFIX=/opt/contactd >/dev/null 2>&1 || fail "make uninstall failed"
[ ! -e "$BIN" ] && [ ! -e "$W/dest/opt/contactd/share/contactd" ] || fail "uninstall left files"
