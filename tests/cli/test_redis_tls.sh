#!/usr/bin/env bash
# test_redis_tls.sh — Redis over TLS through a stunnel client, as docs/operations.md
# ("Securing Redis") deploys it: contactd (hiredis 0.14, plain TCP) talks to a local
# stunnel, which verifies the server's certificate (chain and host name) and carries
# the connection to a redis-server that listens on TLS only, with a password.
#   1. a log end to end through the tunnel gives replay's outputs, and `redis-cli --tls`
#      straight to the server sees the state;
#   2. contactd pointed at the TLS port itself cannot talk to it: `run` keeps waiting
#      for Redis and says the server reset the connection, `explain` stops with a hint;
#   3. a stunnel that does not trust the server's certificate (another CA, another host
#      name) refuses it: nothing gets through, and stunnel's log says why.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
P=4
for tool in openssl stunnel; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed (ops/install-deps.sh installs it)"
done

# ---- certificates: a CA, the server's (localhost, 127.0.0.1), and a CA that signed nothing ----
T=$W/tls
mkdir -p "$T"
cert() {   # cert NAME SUBJECT [CA]: a key and a certificate, self-signed or signed by CA
  local name=$1 subj=$2 ca=${3:-}
  if [ -z "$ca" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "$subj" -keyout "$T/$name.key" -out "$T/$name.crt" \
      2>>"$T/openssl.log" || fail "openssl: cannot make $name"
  else
    openssl req -newkey rsa:2048 -nodes -subj "$subj" -keyout "$T/$name.key" -out "$T/$name.csr" 2>>"$T/openssl.log" &&
      printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$T/$name.ext" &&
      openssl x509 -req -days 2 -in "$T/$name.csr" -CA "$T/$ca.crt" -CAkey "$T/$ca.key" -CAcreateserial \
        -extfile "$T/$name.ext" -out "$T/$name.crt" 2>>"$T/openssl.log" || fail "openssl: cannot make $name"
  fi
}
cert ca "/CN=contactd test CA"
cert server "/CN=localhost" ca
cert other-ca "/CN=another CA"
openssl verify -CAfile "$T/ca.crt" "$T/server.crt" >/dev/null || fail "the server certificate does not verify"

# ---- the server: TLS only, a password -----------------------------------------------------------
pw=tls-$(openssl rand -hex 16)
printf '%s\n' "$pw" >"$W/password" && chmod 600 "$W/password"
printf 'requirepass %s\n' "$pw" >"$W/redis.conf"
export REDISCLI_AUTH=$pw
TLS_PORT=$(free_port)
TLS_CLI=(--tls --cacert "$T/ca.crt" -h localhost -p "$TLS_PORT")   # redis-cli verifies the server too
mkdir -p "$W/redis"
redis-server "$W/redis.conf" --port 0 --tls-port "$TLS_PORT" --bind 127.0.0.1 --tls-cert-file "$T/server.crt" \
  --tls-key-file "$T/server.key" --tls-ca-cert-file "$T/ca.crt" --tls-auth-clients no --dir "$W/redis" \
  --appendonly yes --appendfsync always --save "" --daemonize no --logfile "$W/redis/redis.log" &
LIVE_PIDS+=($!)
for _ in $(seq 200); do [ "$(redis-cli "${TLS_CLI[@]}" ping 2>/dev/null)" = PONG ] && break; sleep 0.05; done
[ "$(redis-cli "${TLS_CLI[@]}" ping 2>/dev/null)" = PONG ] || { cat "$W/redis/redis.log" >&2; fail "redis-server did not start on TLS port $TLS_PORT"; }
[ "$(redis-cli -p "$TLS_PORT" ping 2>&1)" != PONG ] || fail "the TLS port answered plain TCP"

# stunnel_start NAME CAFILE HOST → sets TUNNEL_PORT: a client tunnel 127.0.0.1:TUNNEL_PORT → the TLS port
stunnel_start() {
  local name=$1 cafile=$2 host=$3
  TUNNEL_PORT=$(free_port)
  cat >"$W/$name.conf" <<EOF
foreground = yes
pid = $W/$name.pid
output = $W/$name.log
debug = notice

[redis]
client = yes
accept = 127.0.0.1:$TUNNEL_PORT
connect = 127.0.0.1:$TLS_PORT
verifyChain = yes
CAfile = $cafile
checkHost = $host
EOF
  stunnel "$W/$name.conf" 2>>"$W/$name.log" &
  LIVE_PIDS+=($!)
  for _ in $(seq 200); do
    /usr/bin/python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' \
      "$TUNNEL_PORT" 2>/dev/null && return 0
    sleep 0.05
  done
  cat "$W/$name.log" >&2
  fail "stunnel $name did not listen on $TUNNEL_PORT"
}

# ---- 1. end to end through the tunnel -----------------------------------------------------------
stunnel_start tunnel "$T/ca.crt" localhost
REDIS_PORT=$TUNNEL_PORT          # what contactd and live_lib's redis-cli calls use
[ "$(redis-cli -p "$REDIS_PORT" ping 2>&1)" = PONG ] || fail "redis-cli through the tunnel: no PONG"
"$CONTACTD" synth --citizens 150 --years 2 --from 2026-05-01 --seed 41 --format pb --output "$W/log.pb" 2>/dev/null ||
  fail "synth failed"
"$CONTACTD" replay --no-aggregates --input "$W/log.pb" --output "$W/replay.jsonl" 2>/dev/null || fail "replay failed"
want=$(sort -u "$W/replay.jsonl" | wc -l)
broker_start "$P"
run_start run --redis-password-file "$W/password" "${GROUP_TIMING[@]}"
"$CONTACTD" produce --brokers "$BROKERS" --input "$W/log.pb" 2>"$W/produce.log" || fail "produce failed"
produced=$(sed -n 's/.* produced=\([0-9]*\).*/\1/p' "$W/produce.log")
alive() { kill -0 "$RUN_PID" 2>/dev/null || { tail -5 "$W/run.log" >&2; fail "the processor died"; }; }
wait_drained "$produced" 120
outputs "$W/live.jsonl"
same_as_replay "through stunnel"
# the server itself, over TLS: the offsets and every citizen's record
sum=0
for p in $(seq 0 $((P - 1))); do
  o=$(redis-cli "${TLS_CLI[@]}" HGET "contactd:{p$p}:meta" off:contact.events.v1)
  sum=$((sum + ${o:-0}))
done
[ "$sum" -eq "$produced" ] || fail "redis-cli --tls sees $sum inputs committed, $produced were produced"
n=$(redis-cli "${TLS_CLI[@]}" --scan --pattern 'contactd:{p*}:c:*' | wc -l)
[ "$n" -eq 150 ] || fail "redis-cli --tls sees $n citizen records, expected 150"
"$CONTACTD" explain "$(grep -m1 -o '"citizenId":"[^"]*"' "$W/replay.jsonl" | cut -d'"' -f4)" \
  --redis "127.0.0.1:$TUNNEL_PORT" --redis-password-file "$W/password" >/dev/null 2>"$W/explain.log" ||
  { cat "$W/explain.log" >&2; fail "explain through the tunnel failed"; }
kill -TERM "$RUN_PID"
rc=0; wait "$RUN_PID" || rc=$?
[ "$rc" -eq 0 ] || fail "the processor exited with $rc on SIGTERM"
if grep -q 'level=error' "$W/run.log"; then grep 'level=error' "$W/run.log" | head -5 >&2; fail "the processor logged errors"; fi
echo "1. through stunnel: $want outputs as replay; redis-cli --tls sees $produced inputs and $n citizens"

# ---- 2. contactd straight at the TLS port ----------------------------------------------------------
# A TLS server closes a plain connection at its first bytes, which hiredis reports as a
# reset (or closed) connection: `run` takes that for a Redis that went away and waits,
# saying so with a hint at a TLS port; SIGTERM still stops it cleanly. Nothing reaches Redis.
REDIS_PORT=$TLS_PORT
before=$(redis-cli "${TLS_CLI[@]}" DBSIZE)
run_start direct --redis-password-file "$W/password"
limit=$((SECONDS + 30))
until [ "$(grep -c 'msg="waiting for redis"' "$W/direct.log")" -ge 2 ]; do
  kill -0 "$RUN_PID" 2>/dev/null || { cat "$W/direct.log" >&2; fail "run at the TLS port exited"; }
  [ "$SECONDS" -lt "$limit" ] || { cat "$W/direct.log" >&2; fail "run at the TLS port did not say it waits for Redis"; }
  sleep 0.2
done
grep 'msg="waiting for redis"' "$W/direct.log" | head -1 |
  grep -q "error=\"redis '127.0.0.1:$TLS_PORT' AUTH as user 'default': \(connection reset by peer\|server closed the connection\)\" hint=\"the server closed the connection at once: a TLS port?" ||
  { cat "$W/direct.log" >&2; fail "run at the TLS port: not the expected message"; }
kill -TERM "$RUN_PID"
rc=0; wait "$RUN_PID" || rc=$?
[ "$rc" -eq 0 ] || fail "run at the TLS port exited with $rc on SIGTERM"
[ "$(redis-cli "${TLS_CLI[@]}" DBSIZE)" = "$before" ] || fail "run at the TLS port changed Redis"
# the tools stop, with a hint at the likely cause
rc=0
"$CONTACTD" aggregates --redis "127.0.0.1:$TLS_PORT" --redis-password-file "$W/password" >/dev/null 2>"$W/agg-direct.log" || rc=$?
[ "$rc" -eq 1 ] || fail "aggregates at the TLS port: status $rc, expected 1"
expect_grep "msg=\"cannot connect to Redis\" redis=127.0.0.1:$TLS_PORT error=\"redis '127.0.0.1:$TLS_PORT' AUTH as user 'default': .*\" hint=\"the server closed the connection at once: a TLS port? contactd speaks plain TCP to Redis" "$W/agg-direct.log"
echo "2. at the TLS port: run waits (\"$(grep -m1 -o 'AUTH as user .default.: [a-z ]*' "$W/direct.log")\"), aggregates stops with a hint"

# ---- 3. a tunnel that does not trust the server --------------------------------------------------
# NAME CAFILE HOST WHY (what stunnel logs)
for bad in "other-ca|$T/other-ca.crt|localhost|Rejected by CERT at depth=1: CN=contactd test CA" \
           "other-host|$T/ca.crt|redis.example.org|CERT: Subject checks failed"; do
  IFS='|' read -r name cafile host why <<<"$bad"
  stunnel_start "$name" "$cafile" "$host"
  out=$(redis-cli -p "$TUNNEL_PORT" ping 2>&1 || true)
  [ "$out" != PONG ] || fail "$name: the tunnel let a connection through"
  rc=0
  "$CONTACTD" explain x --redis "127.0.0.1:$TUNNEL_PORT" --redis-password-file "$W/password" >/dev/null 2>"$W/$name.explain.log" || rc=$?
  [ "$rc" -eq 1 ] || fail "$name: explain through the tunnel: status $rc, expected 1"
  expect_grep 'msg="cannot connect to Redis" .* hint=".*a TLS proxy already? see its log: it may refuse the server.s certificate"' \
    "$W/$name.explain.log"
  REDIS_PORT=$TUNNEL_PORT
  run_start "$name.run" --redis-password-file "$W/password"
  limit=$((SECONDS + 30))
  until grep -q 'msg="waiting for redis"' "$W/$name.run.log"; do
    kill -0 "$RUN_PID" 2>/dev/null || { cat "$W/$name.run.log" >&2; fail "$name: run exited"; }
    [ "$SECONDS" -lt "$limit" ] || fail "$name: run did not say it waits for Redis"
    sleep 0.2
  done
  kill -TERM "$RUN_PID"; wait "$RUN_PID" || fail "$name: run did not exit 0 on SIGTERM"
  expect_grep "$why" "$W/$name.log"
  expect_grep 'SSL_connect: .*certificate verify failed' "$W/$name.log"
  echo "3. $name: stunnel refused the server: $why"
done
