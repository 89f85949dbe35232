# contactd pseudonym: the pseudonyms of ids under a key file, as an
# independent implementation (pseudonym.py, hashlib) computes them; from
# arguments and from stdin; the development key without a file; a key file
# that is missing or too short is an error that never shows the key, for
# `run --check-config` too, and run without a key warns.
source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
( umask 077; printf 'k-0123456789abcdef0123456789abcdef-xyz\n' >"$W/key" )
printf '%s\n' 0101701234 c0000000007 "with space" >"$W/ids"

"$CONTACTD" pseudonym --citizen-key-file "$W/key" 0101701234 c0000000007 "with space" >"$W/args.out" || fail "pseudonym (arguments) failed"
"$CONTACTD" pseudonym --citizen-key-file "$W/key" <"$W/ids" >"$W/stdin.out" || fail "pseudonym (stdin) failed"
/usr/bin/python3 "$HERE/pseudonym.py" --key-file "$W/key" <"$W/ids" | cut -f2 >"$W/want"
cmp -s "$W/args.out" "$W/want" || { paste "$W/args.out" "$W/want" >&2; fail "pseudonyms differ from hashlib's"; }
cmp -s "$W/stdin.out" "$W/want" || fail "pseudonyms from stdin differ"
CONTACTD_CITIZEN_KEY_FILE="$W/key" "$CONTACTD" pseudonym 0101701234 >"$W/env.out" || fail "pseudonym (key from the environment) failed"
[ "$(cat "$W/env.out")" = "$(head -1 "$W/want")" ] || fail "the key file from the environment is not used"
[ "$("$CONTACTD" pseudonym 0101701234)" = "$(/usr/bin/python3 "$HERE/pseudonym.py" 0101701234)" ] || fail "the development key differs"
[ "$("$CONTACTD" pseudonym 0101701234)" != "$(head -1 "$W/want")" ] || fail "the key file made no difference"

printf 'short-key\n' >"$W/short"
"$CONTACTD" pseudonym --citizen-key-file "$W/short" x >"$W/out" 2>"$W/err" && fail "a short key was accepted"
expect_grep 'at least 32' "$W/err"
grep -q short-key "$W/err" && fail "the error shows the key"
"$CONTACTD" pseudonym --citizen-key-file "$W/missing" x 2>"$W/err2" && fail "a missing key file was accepted"
expect_grep "citizen-key-file '$W/missing'" "$W/err2"
# run checks its key with the rest of the configuration
rc=0; "$CONTACTD" run --check-config --citizen-key-file "$W/short" 2>"$W/run.err" || rc=$?
[ "$rc" -eq 2 ] || fail "run --check-config with a short key: status $rc, not 2"
expect_grep 'msg="bad configuration" error="citizen-key-file: the key is 9 bytes' "$W/run.err"
grep -q short-key "$W/run.err" && fail "run's error shows the key"
"$CONTACTD" run --check-config --citizen-key-file "$W/key" 2>"$W/run.ok" || fail "run --check-config with a good key failed"
grep -q 'no citizen-key-file' "$W/run.ok" && fail "the development-key warning with a key file given"
"$CONTACTD" run --check-config 2>"$W/run.dev" || fail "run --check-config without a key failed"
expect_grep 'level=warn msg="no citizen-key-file' "$W/run.dev"
echo "pseudonym: as hashlib computes them, from arguments, stdin and the environment; bad keys refused"
