#!/usr/bin/env bash
# test_redis_auth.sh — contactd against a Redis that asks who it is, with the
# password in a file (redis-password-file), never on the command line:
#   a. requirepass: `contactd run --redis-password-file` processes a log end to end
#      (replay's outputs, the offsets in Redis), the password in no command line and
#      no log; a wrong password, none, the refused --redis-password flag, and a
#      password given twice each stop it with a clear error and status;
#   b. the ACL of ops/redis-credentials.sh (its files, modes and refusals first, and
#      every command consumer/redis_store.c sends is in it): a processor and an
#      aggregate stage as user contactd give replay's outputs and keep every key
#      under contactd:*; the user cannot FLUSHALL, EVAL, read other keys or run
#      admin commands; --reset-state (SCAN, UNLINK) works under it too;
#   c. `contactd aggregates` and `contactd explain` with --redis-password-file (and
#      $CONTACTD_REDIS_PASSWORD) against that server read what an admin reads.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
ROOT=$(cd "$HERE/../.." && pwd)
P=4
for tool in openssl sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed (ops/install-deps.sh installs it)"
done

# like live_lib's redis_start, with the test's config file (requirepass, aclfile) first;
# redis-cli (readiness) must already know how to log in
redis_start_conf() {
  local conf=$1 dir=$2
  mkdir -p "$dir"
  REDIS_PORT=${REDIS_PORT:-$(free_port)}
  redis-server "$conf" --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$dir" --appendonly yes --appendfsync always \
    --save "" --daemonize no --logfile "$dir/redis.log" &
  REDIS_PID=$!
  LIVE_PIDS+=("$REDIS_PID")
  for _ in $(seq 200); do [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && return 0; sleep 0.05; done
  cat "$dir/redis.log" >&2
  fail "redis-server did not start on $REDIS_PORT with $conf"
}
produced_by() { sed -n 's/.* produced=\([0-9]*\).*/\1/p' "$1"; }
# run_once NAME ARGS…: `contactd run` in the foreground against the test's broker and
# Redis (bounded: it must stop by itself); its status in $rc, its log in $W/NAME.log
run_once() {
  local name=$1; shift
  rc=0
  timeout 60 "$CONTACTD" run --brokers "$BROKERS" --redis "127.0.0.1:$REDIS_PORT" --clock event \
    --group "$name" "$@" >"$W/$name.out" 2>"$W/$name.log" || rc=$?
  [ "$rc" -ne 124 ] || fail "$name: contactd run did not stop by itself"
}
# no_errors LOG…: nothing at error level, and no NOPERM anywhere
no_errors() {
  if grep -h 'level=error\|NOPERM' "$@"; then fail "errors logged in $*"; fi
}

"$CONTACTD" synth --citizens 200 --years 2 --from 2026-05-01 --seed 31 --format pb \
  --output "$W/log.pb" 2>/dev/null || fail "synth failed"
"$CONTACTD" replay --input "$W/log.pb" --output "$W/replay-all.jsonl" 2>/dev/null || fail "replay failed"
"$CONTACTD" replay --no-aggregates --input "$W/log.pb" --output "$W/replay-citizens.jsonl" 2>/dev/null ||
  fail "replay --no-aggregates failed"
grep -q '"aggregate"' "$W/replay-all.jsonl" || fail "the log makes no aggregate events: it tests too little"

# ---- a. requirepass ---------------------------------------------------------------------
mkdir -p "$W/a"
pw_a=a-$(openssl rand -hex 16)
printf '%s\n' "$pw_a" >"$W/a/password"             # with the newline an editor or `echo` leaves
chmod 600 "$W/a/password"
printf 'requirepass %s\n' "$pw_a" >"$W/a/redis.conf"
export REDISCLI_AUTH=$pw_a                         # live_lib's redis-cli calls log in with it
redis_start_conf "$W/a/redis.conf" "$W/a/redis"
[ "$(command redis-cli -p "$REDIS_PORT" --no-auth-warning -a '' ping 2>&1)" != PONG ] ||
  fail "redis-server let a client in without the password"
broker_start "$P"
run_start a.run --redis-password-file "$W/a/password" "${GROUP_TIMING[@]}"
# the command line shows the file, never the password (once the child has become contactd)
for _ in $(seq 100); do
  args=$(ps -o args= -p "$RUN_PID" || true)
  case $args in *" run --brokers "*) break ;; esac
  sleep 0.05
done
case $args in *"--redis-password-file $W/a/password"*) ;; *) fail "unexpected command line: $args" ;; esac
case $args in *"$pw_a"*) fail "the password is on the command line" ;; esac
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/log.pb" 2>"$W/a.produce.log" || fail "a: produce failed"
alive() { kill -0 "$RUN_PID" 2>/dev/null || { tail -5 "$W/a.run.log" >&2; fail "a: the processor died"; }; }
wait_drained "$(produced_by "$W/a.produce.log")" 120
outputs "$W/live.jsonl"
cp "$W/replay-citizens.jsonl" "$W/replay.jsonl"
want=$(sort -u "$W/replay.jsonl" | wc -l)
same_as_replay "a: requirepass"
# state in Redis: every citizen's record, under the default prefix
n_keys=$(redis-cli -p "$REDIS_PORT" --scan --pattern 'contactd:{p*}:c:*' | wc -l)
[ "$n_keys" -ge 200 ] || fail "a: $n_keys citizen records in Redis, expected one per citizen (200)"
kill -TERM "$RUN_PID"
rc=0; wait "$RUN_PID" || rc=$?
[ "$rc" -eq 0 ] || fail "a: the processor exited with $rc on SIGTERM"
no_errors "$W/a.run.log"
if grep -q -- "$pw_a" "$W/a.run.log"; then fail "a: the password is in the log"; fi
expect_grep "msg=configuration .* redis-password=\*\*\* redis-password-file=$W/a/password " "$W/a.run.log"
echo "a. requirepass: $want outputs as replay, $n_keys citizen records in Redis"

# a wrong password: a final error, status 1, that says what Redis said
printf 'not-the-password\n' >"$W/a/wrong"
chmod 600 "$W/a/wrong"
run_once a.wrong --redis-password-file "$W/a/wrong"
[ "$rc" -eq 1 ] || fail "a: a wrong password: status $rc, expected 1"
expect_grep "level=error msg=\"cannot start\" error=\"redis '127.0.0.1:$REDIS_PORT' AUTH as user 'default': WRONGPASS invalid username-password pair or user is disabled\"" "$W/a.wrong.log"
if grep -q not-the-password "$W/a.wrong.log"; then fail "a: the wrong password is in the log"; fi
# no password at all
run_once a.none
[ "$rc" -eq 1 ] || fail "a: no password: status $rc, expected 1"
expect_grep "level=error msg=\"cannot start\" error=\".*NOAUTH Authentication required\"" "$W/a.none.log"
# the flag: refused before anything starts (status 2, a bad configuration), saying why and what instead
run_once a.flag --redis-password "$pw_a"
[ "$rc" -eq 2 ] || fail "a: --redis-password: status $rc, expected 2"
expect_grep 'level=error msg="bad configuration" error="command line: --redis-password is refused: every user of the machine can read a command line (ps, /proc/PID/cmdline); use --redis-password-file FILE, the environment variable CONTACTD_REDIS_PASSWORD, or `redis-password` in the --config file"' "$W/a.flag.log"
if grep -q -- "$pw_a" "$W/a.flag.log"; then fail "a: the refused password was echoed"; fi
# the password twice: the environment and the file
rc=0
CONTACTD_REDIS_PASSWORD=$pw_a timeout 60 "$CONTACTD" run --brokers "$BROKERS" --redis "127.0.0.1:$REDIS_PORT" \
  --redis-password-file "$W/a/password" 2>"$W/a.twice.log" || rc=$?
[ "$rc" -eq 2 ] || fail "a: a password twice: status $rc, expected 2"
expect_grep 'error="redis-password and redis-password-file are both set: give the password once, in one of them"' "$W/a.twice.log"
# a file others can read: it works, with one warning
cp "$W/a/password" "$W/a/loose" && chmod 644 "$W/a/loose"
rc=0
timeout 60 "$CONTACTD" run --redis-password-file "$W/a/loose" --check-config 2>"$W/a.loose.log" || rc=$?
[ "$rc" -eq 0 ] || fail "a: --check-config with a loose password file: status $rc"
[ "$(grep -c 'level=warn msg="password file is open to other users" option=redis-password-file' "$W/a.loose.log")" -eq 1 ] ||
  { cat "$W/a.loose.log" >&2; fail "a: expected one warning for a password file of mode 0644"; }
expect_grep "file=$W/a/loose mode=0644" "$W/a.loose.log"
echo "a. requirepass: a wrong password, none, the flag and the password twice are refused"
redis_stop
live_cleanup
LIVE_PIDS=()
unset REDISCLI_AUTH REDIS_PORT

# ---- b. the ACL of ops/redis-credentials.sh ------------------------------------------------
creds=$W/b/creds
mkdir -p "$W/b"
"$ROOT/ops/redis-credentials.sh" "$creds" 2>"$W/b.creds.log" || { cat "$W/b.creds.log" >&2; fail "redis-credentials.sh failed"; }
expect_grep "kubectl create secret generic contactd-redis --from-file=$creds/password --from-file=$creds/users.acl" "$W/b.creds.log"
[ "$(stat -c %a "$creds")" = 700 ] || fail "b: the credentials directory has mode $(stat -c %a "$creds"), expected 700"
for f in password users.acl; do
  [ "$(stat -c %a "$creds/$f")" = 600 ] || fail "b: $f has mode $(stat -c %a "$creds/$f"), expected 600"
done
pw_b=$(cat "$creds/password")
[[ $pw_b =~ ^[0-9a-f]{64}$ ]] || fail "b: the password is not 64 hex digits: '$pw_b'"
[ "$(wc -c <"$creds/password")" -eq 64 ] || fail "b: the password file is not the password alone"
hash=$(printf '%s' "$pw_b" | sha256sum | cut -d' ' -f1)
[ "$(sed -n 1p "$creds/users.acl")" = "user default off" ] || fail "b: users.acl does not turn the default user off"
sed -n 2p "$creds/users.acl" | grep -q "^user contactd on #$hash resetchannels ~contactd:\* -@all +" ||
  { cat "$creds/users.acl" >&2; fail "b: users.acl has no contactd user with the password's SHA-256 and the key pattern"; }
[ "$(wc -l <"$creds/users.acl")" -eq 2 ] || fail "b: users.acl has more than two users"
if grep -q -- "$pw_b" "$creds/users.acl"; then fail "b: users.acl holds the password itself"; fi
# never replaces what exists (the password may be in use), unless --force
if "$ROOT/ops/redis-credentials.sh" "$creds" 2>"$W/b.again.log"; then fail "b: a second run replaced the credentials"; fi
expect_grep "'$creds/password' exists: not replaced" "$W/b.again.log"
[ "$(cat "$creds/password")" = "$pw_b" ] || fail "b: the refused run changed the password"
cp -r "$creds" "$W/b/forced"
"$ROOT/ops/redis-credentials.sh" --force --prefix other "$W/b/forced" ops 2>/dev/null || fail "b: --force failed"
[ "$(cat "$W/b/forced/password")" != "$pw_b" ] || fail "b: --force kept the old password"
grep -q '^user ops on #[0-9a-f]\{64\} resetchannels ~other:\* ' "$W/b/forced/users.acl" || fail "b: USER and --prefix were not used"
if "$ROOT/ops/redis-credentials.sh" "$W/b/x" 'bad user' 2>/dev/null; then fail "b: a user name with a space was taken"; fi

# Every command consumer/redis_store.c sends, and every one its Lua scripts call (Redis
# checks those against the caller's ACL too), is one the ACL allows. AUTH needs no rule.
# The negative control: the check must notice a command going missing.
check_commands() {
  /usr/bin/python3 - "$ROOT/consumer/redis_store.c" "$1" <<'EOF'
import re, sys
src, acl = open(sys.argv[1]).read(), open(sys.argv[2]).read()
allowed = {w[1:].lower() for w in acl.split() if w.startswith("+")}
used = set(re.findall(r"redis\.call\('([A-Z]+)'", src))
# a command built with args_begin: its first argument
used |= set(re.findall(r'args_begin\([^;]*<\s*0\)\s*(?:return -1|goto out);\s*arg_str\(r, "([A-Z]+)"\)', src))
# a command written out: const char *argv[N] = { "SCRIPT", "LOAD", … } (a subcommand joins with '|')
for first, second in re.findall(r'\*argv\[\d+\]\s*=\s*\{\s*"([A-Z]+)"(?:,\s*"([A-Z]+)")?', src):
    used.add(first + "|" + second if first in ("SCRIPT", "CLIENT", "CONFIG", "OBJECT", "MEMORY", "CLUSTER") else first)
used |= set(re.findall(r'redisCommand\w*\([^,]+,\s*"([A-Z]+)', src))
used.discard("AUTH")
used = {u.lower() for u in used}
for must in ("evalsha", "script|load", "set", "hincrby", "unlink", "select", "cluster|slots", "asking"):
    if must not in used:
        sys.exit("the check found no %s in redis_store.c: it reads the file wrong" % must)
missing = sorted(used - allowed)
if missing:
    sys.exit("consumer/redis_store.c sends %s, which ops/redis-credentials.sh's ACL does not allow: add them to COMMANDS"
             % ", ".join(missing))
print("the ACL allows the %d commands redis_store.c sends: %s" % (len(used), " ".join(sorted(used))))
EOF
}
check_commands "$creds/users.acl" || fail "b: the ACL misses commands contactd sends"
sed 's/ +unlink / /' "$creds/users.acl" >"$W/b/less.acl"
if check_commands "$W/b/less.acl" 2>"$W/b.less.log"; then fail "b: the command check passed an ACL without unlink"; fi
expect_grep "redis_store.c sends unlink, which ops/redis-credentials.sh's ACL does not allow" "$W/b.less.log"

# The server reads the generated users.acl plus one line of the test's own: an admin, for
# live_lib's checks (they EVAL, which contactd may not). contactd's line is the script's.
admin_pw=admin-$(openssl rand -hex 16)
{ cat "$creds/users.acl"; printf 'user admin on >%s ~* &* +@all\n' "$admin_pw"; } >"$W/b/server.acl"
chmod 600 "$W/b/server.acl"
printf 'aclfile %s\n' "$W/b/server.acl" >"$W/b/redis.conf"
redis-cli() { command redis-cli --user admin "$@"; }     # live_lib's calls, as the admin
export REDISCLI_AUTH=$admin_pw
redis_start_conf "$W/b/redis.conf" "$W/b/redis"
[ "$(redis-cli -p "$REDIS_PORT" ACL GETUSER contactd | grep -c 'resetchannels\|~contactd:\*')" -ge 1 ] ||
  fail "b: the server has no contactd user"
as_contactd() { REDISCLI_AUTH=$pw_b command redis-cli -p "$REDIS_PORT" --user contactd "$@" 2>&1; }
[ "$(as_contactd ping)" = PONG ] || fail "b: user contactd cannot log in with the generated password"
[ "$(REDISCLI_AUTH='' command redis-cli -p "$REDIS_PORT" ping 2>&1)" != PONG ] || fail "b: the default user is not off"
AS_B=(--redis-user contactd --redis-password-file "$creds/password")
broker_start "$P"
run_start b.proc "${AS_B[@]}" "${GROUP_TIMING[@]}"
PROC_PID=$RUN_PID
run_start b.stage --stage aggregates "${AS_B[@]}" "${GROUP_TIMING[@]}"
STAGE_PID=$RUN_PID
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/log.pb" 2>"$W/b.produce.log" || fail "b: produce failed"
alive() { kill -0 "$PROC_PID" 2>/dev/null && kill -0 "$STAGE_PID" 2>/dev/null || { tail -5 "$W"/b.*.log >&2; fail "b: a process died"; }; }
DRAIN_CHECK=alive stage_settled "$(produced_by "$W/b.produce.log")" 120
outputs "$W/live.jsonl"
cp "$W/replay-all.jsonl" "$W/replay.jsonl"
want=$(sort -u "$W/replay.jsonl" | wc -l)
same_as_replay "b: ACL user contactd"
# both kinds of keys, and no key outside the user's pattern
for tag in p a; do
  [ -n "$(redis-cli -p "$REDIS_PORT" --scan --pattern "contactd:{$tag*}:*" | head -1)" ] || fail "b: no {$tag…} keys in Redis"
done
others=$(redis-cli -p "$REDIS_PORT" --scan | grep -cv '^contactd:' || true)
[ "$others" -eq 0 ] || fail "b: $others keys outside contactd:*"
no_errors "$W/b.proc.log" "$W/b.stage.log"

# what the ACL refuses to user contactd
must_refuse() {
  local want=$1 out; shift
  out=$(as_contactd "$@")
  case $out in *"$want"*) ;; *) fail "b: user contactd ran '$*': '$out', expected '$want'" ;; esac
}
[ -n "$(as_contactd HGET 'contactd:{p0}:meta' fence)" ] || fail "b: user contactd cannot read its own keys"
must_refuse "NOPERM this user has no permissions to run the 'flushall' command" FLUSHALL
must_refuse "NOPERM this user has no permissions to run the 'keys' command" KEYS '*'
must_refuse "NOPERM this user has no permissions to run the 'eval' command" EVAL "return 1" 0
must_refuse "NOPERM this user has no permissions to run the 'config|get' command" CONFIG GET requirepass
must_refuse "NOPERM this user has no permissions to run the 'acl|list' command" ACL LIST
must_refuse "NOPERM this user has no permissions to run the 'del' command" DEL 'contactd:{p0}:meta'
must_refuse "NOPERM this user has no permissions to access one of the keys" HGET 'other:{p0}:meta' fence
must_refuse "NOPERM this user has no permissions to access one of the keys" SET 'elsewhere' x
echo "b. ACL: $want outputs as replay as user contactd; FLUSHALL, KEYS, EVAL, CONFIG, ACL, DEL and other keys refused"

# ---- c. the tools, with --redis-password-file -----------------------------------------------
R=127.0.0.1:$REDIS_PORT
printf '%s\n' "$admin_pw" >"$W/b/admin.pw" && chmod 600 "$W/b/admin.pw"
"$CONTACTD" aggregates --redis "$R" --redis-user admin --redis-password-file "$W/b/admin.pw" --format json \
  >"$W/c.agg-admin.json" 2>"$W/c.agg-admin.log" || { cat "$W/c.agg-admin.log" >&2; fail "c: aggregates as admin failed"; }
"$CONTACTD" aggregates --redis "$R" "${AS_B[@]}" --format json >"$W/c.agg.json" 2>"$W/c.agg.log" ||
  { cat "$W/c.agg.log" >&2; fail "c: aggregates as contactd failed"; }
no_errors "$W/c.agg.log"
[ "$(wc -l <"$W/c.agg.json")" -gt 0 ] || fail "c: aggregates printed no cohorts"
cmp -s "$W/c.agg-admin.json" "$W/c.agg.json" || fail "c: aggregates as contactd differs from as admin"
cid=$(grep -m1 -o '"citizenId":"[^"]*"' "$W/replay-all.jsonl" | head -1 | cut -d'"' -f4)
[ -n "$cid" ] || fail "c: no citizen id in the outputs"
"$CONTACTD" explain "$cid" --input "$W/log.pb" --json >"$W/c.explain-log.json" 2>/dev/null || fail "c: explain --input failed"
"$CONTACTD" explain "$cid" --redis "$R" "${AS_B[@]}" --json >"$W/c.explain.json" 2>"$W/c.explain.log" ||
  { cat "$W/c.explain.log" >&2; fail "c: explain as contactd failed"; }
cmp -s "$W/c.explain-log.json" "$W/c.explain.json" ||
  { diff "$W/c.explain-log.json" "$W/c.explain.json" | head >&2; fail "c: explain from Redis differs from the log's"; }
# $CONTACTD_REDIS_PASSWORD still works for the tools; with a file as well it is refused
CONTACTD_REDIS_PASSWORD=$pw_b "$CONTACTD" explain "$cid" --redis "$R" --redis-user contactd --json \
  >"$W/c.explain-env.json" 2>/dev/null || fail "c: explain with \$CONTACTD_REDIS_PASSWORD failed"
cmp -s "$W/c.explain.json" "$W/c.explain-env.json" || fail "c: explain with the environment's password differs"
if CONTACTD_REDIS_PASSWORD=$pw_b "$CONTACTD" explain "$cid" --redis "$R" "${AS_B[@]}" >/dev/null 2>"$W/c.twice.log"; then
  fail "c: explain took a password from both the environment and a file"
fi
expect_grep 'msg="options exclude each other" option=--redis-password-file other=CONTACTD_REDIS_PASSWORD' "$W/c.twice.log"
# refusals name the file; a wrong password says what Redis said
rc=0
"$CONTACTD" aggregates --redis "$R" --redis-user contactd --redis-password-file "$W/b/nonexistent" >/dev/null 2>"$W/c.missing.log" || rc=$?
[ "$rc" -eq 1 ] || fail "c: aggregates with a missing password file: status $rc"
expect_grep "msg=\"cannot read the Redis password\" error=\"--redis-password-file '$W/b/nonexistent': cannot open: No such file or directory\"" "$W/c.missing.log"
: >"$W/b/empty.pw"
rc=0
"$CONTACTD" explain "$cid" --redis "$R" --redis-password-file "$W/b/empty.pw" >/dev/null 2>"$W/c.empty.log" || rc=$?
[ "$rc" -eq 1 ] || fail "c: explain with an empty password file: status $rc"
expect_grep "error=\"--redis-password-file '$W/b/empty.pw': empty: the file holds no password\"" "$W/c.empty.log"
rc=0
"$CONTACTD" explain "$cid" --redis "$R" --redis-user contactd --redis-password-file "$W/a/wrong" >/dev/null 2>"$W/c.wrong.log" || rc=$?
[ "$rc" -eq 1 ] || fail "c: explain with a wrong password: status $rc"
expect_grep "msg=\"cannot connect to Redis\" redis=$R error=\"redis '$R' AUTH as user 'contactd': WRONGPASS" "$W/c.wrong.log"
echo "c. aggregates and explain as user contactd with --redis-password-file read what the admin and the log read"

# ---- b, again: --reset-state (SCAN, UNLINK) under the ACL ------------------------------------------
# Partition 0 of the processor loses its meta (offsets, fence) but keeps its other keys:
# the rebuild deletes them (SCAN MATCH, UNLINK) and reads the partition again.
kill -TERM "$PROC_PID"
rc=0; wait "$PROC_PID" || rc=$?
[ "$rc" -eq 0 ] || fail "b: the processor exited with $rc on SIGTERM"
[ -n "$(redis-cli -p "$REDIS_PORT" --scan --pattern 'contactd:{p0}:c:*' | head -1)" ] || fail "b: partition 0 holds no citizens"
redis-cli -p "$REDIS_PORT" DEL 'contactd:{p0}:meta' >/dev/null
run_start b.reset --reset-state "${AS_B[@]}" "${GROUP_TIMING[@]}"
limit=$((SECONDS + 60))
until [ "$(redis-cli -p "$REDIS_PORT" HGET 'contactd:{p0}:meta' off:contact.events.v1)" = \
        "$(kcat -b "$BROKERS" -Q -t contact.events.v1:0:-1 2>/dev/null | awk '{print $NF}')" ]; do
  kill -0 "$RUN_PID" 2>/dev/null || { tail -5 "$W/b.reset.log" >&2; fail "b: the processor died on --reset-state"; }
  [ "$SECONDS" -lt "$limit" ] || { tail -5 "$W/b.reset.log" >&2; fail "b: partition 0 was not rebuilt"; }
  sleep 0.25
done
expect_grep 'msg="partition rebuilt from the beginning (--reset-state)" topic=contact.events.v1 partition=0' "$W/b.reset.log"
no_errors "$W/b.reset.log"
echo "b. ACL: --reset-state rebuilt a partition as user contactd"
