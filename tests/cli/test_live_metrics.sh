#!/usr/bin/env bash
# test_live_metrics.sh — what an operator sees of a running processor:
#   /metrics parses as Prometheus text (python3-prometheus-client's parser), and its
#   counters agree with what the test produced and consumed: records consumed per
#   topic and partition, applied, duplicates, dead letters by stage, outputs by topic
#   and status (the same as replay's), messages relayed (what the output topics hold),
#   commits and the batch histogram; lag and outbox gauges fall to 0 once drained;
#   /healthz answers while the loop turns; /readyz is 200 once partitions are taken,
#   503 naming Redis while Redis is down (the loop alive all along), 200 after;
#   other paths 404, other methods 405; a progress line every progress-interval;
#   an address in use is refused at start-up with the system's words.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
trap 'rc=$?; live_cleanup; if [ $rc -eq 0 ]; then rm -rf "$W"; else echo "work files: $W" >&2; fi' EXIT

P=4
MP=$(free_port)
URL="http://127.0.0.1:$MP"
alive() { kill -0 "$RUN_PID" 2>/dev/null || { tail -20 "$W/run.log" >&2; fail "the processor died"; }; }
# code PATH [METHOD]: the HTTP status of a request
code() { curl -s -o "$W/body" -w '%{http_code}' -X "${2:-GET}" "$URL$1"; }
# wait_code PATH CODE SECONDS
wait_code() {
  local limit=$((SECONDS + $3)) c
  while c=$(code "$1"); [ "$c" != "$2" ]; do
    alive
    [ "$SECONDS" -lt "$limit" ] || { cat "$W/body" >&2; fail "$1 answered $c, not $2, after $3 s"; }
    sleep 0.2
  done
}
scrape() { curl -sf "$URL/metrics" >"$W/$1.prom" || fail "GET /metrics failed"; }
# metric FILE EXPR: a sum over the scrape's samples (EXPR selects them; see metrics_tool below)
metric() { /usr/bin/python3 "$W/m.py" "$W/$1.prom" "$2"; }
cat >"$W/m.py" <<'PY'
# m.py FILE 'name{label=value,…}': the sum of the samples of that name whose labels
# include those given (a missing label matches all). The file must parse as the
# Prometheus text format: the parser raises on anything else.
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
want = sys.argv[2]
name, _, labels = want.partition("{")
sel = dict(kv.split("=", 1) for kv in labels.rstrip("}").split(",") if kv)
total, seen = 0.0, False
for fam in text_string_to_metric_families(text):
    for s in fam.samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in sel.items()):
            total += s.value
            seen = True
if not seen:
    sys.exit(f"no sample {want}")
print(int(total) if total == int(total) else total)
PY

"$CONTACTD" synth --citizens 300 --years 1 --seed 11 --format pb --output "$W/log.pb" 2>"$W/synth.log" || fail "synth failed"
"$CONTACTD" replay --no-aggregates --input "$W/log.pb" --output "$W/replay.jsonl" 2>"$W/replay.log" || fail "replay failed"

broker_start "$P"
redis_start "$W/redis"
run_start run --metrics-addr "127.0.0.1:$MP" --progress-interval 1
wait_code /healthz 200 30
wait_code /readyz 200 30
[ "$(cat "$W/body")" = "ready" ] || fail "/readyz body: $(cat "$W/body")"
[ "$(code /nope)" = 404 ] || fail "an unknown path must be 404"
[ "$(code /metrics POST)" = 405 ] || fail "POST must be 405"

"$CONTACTD" produce --brokers "$BROKERS" --input "$W/log.pb" 2>"$W/produce.log" || { cat "$W/produce.log" >&2; fail "produce failed"; }
# five records that do not decode, keyed, on partition 2
for i in 1 2 3 4 5; do printf 'not-protobuf-%s\xff\xff' "$i" | kcat -b "$BROKERS" -P -t contact.events.v1 -p 2 -k "bad$i" 2>/dev/null; done
produced=$(kcat -b "$BROKERS" -C -t contact.events.v1 -e -q -f 'x\n' 2>/dev/null | wc -l)
ticks=$(kcat -b "$BROKERS" -C -t contact.events.v1 -e -q -f '%K\n' 2>/dev/null | grep -cxE -- '-1|0' || true)
wait_drained "$produced" 90
sleep 6     # the gauges are refreshed every 5 s while served
scrape drained

# inputs: per partition as on the topic, and every one accounted for
for p in $(seq 0 $((P - 1))); do
  on_topic=$(kcat -b "$BROKERS" -C -t contact.events.v1 -p "$p" -e -q -f 'x\n' 2>/dev/null | wc -l)
  got=$(metric drained "contactd_records_consumed_total{topic=contact.events.v1,partition=$p}")
  [ "$got" -eq "$on_topic" ] || fail "partition $p: consumed $got, the topic holds $on_topic"
done
consumed=$(metric drained contactd_records_consumed_total)
applied=$(metric drained contactd_records_applied_total)
dups=$(metric drained contactd_records_duplicate_total)
dlq=$(metric drained contactd_dead_letters_total)
[ "$consumed" -eq "$produced" ] || fail "consumed $consumed of $produced"
[ $((applied + dups + dlq)) -eq "$consumed" ] || fail "applied $applied + duplicates $dups + dead letters $dlq != consumed $consumed"
want_dups=$(grep -o 'duplicates=[0-9]*' "$W/replay.log" | tail -1 | cut -d= -f2)
[ "$dups" -eq "$want_dups" ] || fail "duplicates $dups, replay found $want_dups"
[ "$(metric drained 'contactd_dead_letters_total{stage=decode,partition=2}')" -eq 5 ] || fail "5 decode dead letters on partition 2 expected"
[ "$dlq" -eq 5 ] || fail "dead letters: $dlq, 5 expected"
[ "$ticks" -gt 0 ] || fail "the log has no clock ticks (the applied count would not cover them)"

# outputs by topic and status: exactly replay's
/usr/bin/python3 - "$W/replay.jsonl" >"$W/want.txt" <<'PY'
import collections, json, sys
c = collections.Counter()
for line in open(sys.argv[1]):
    o = json.loads(line)
    kind, body = next(iter(o.items()))
    topic = {"deadline": "contact.deadlines.v1", "breach": "contact.breaches.v1"}[kind]
    c[(topic, body["status"].split("_STATUS_")[-1].lower())] += 1
for (t, s), n in sorted(c.items()):
    print(t, s, n)
PY
[ "$(wc -l <"$W/want.txt")" -ge 4 ] || fail "replay gave too few kinds of output"
while read -r t s n; do
  got=$(metric drained "contactd_outputs_total{topic=$t,status=$s}")
  [ "$got" -eq "$n" ] || fail "outputs on $t with status $s: $got, replay gives $n"
done <"$W/want.txt"
[ "$(metric drained contactd_outputs_total)" -eq "$(wc -l <"$W/replay.jsonl")" ] || fail "more kinds of output than replay's"
# relayed: what the topics hold
for t in contact.deadlines.v1 contact.breaches.v1 contact.dlq.v1; do
  on=$(kcat -b "$BROKERS" -C -t "$t" -e -q -f 'x\n' 2>/dev/null | wc -l)
  got=$(metric drained "contactd_relayed_total{topic=$t}")
  [ "$got" -eq "$on" ] || fail "relayed to $t: $got, the topic holds $on"
done
# commits: the histograms count each one; the batch sizes add up to what was consumed
commits=$(metric drained contactd_commits_total)
[ "$commits" -gt 0 ] || fail "no commits counted"
[ "$(metric drained contactd_commit_duration_seconds_count)" -eq "$commits" ] || fail "commit histogram count != commits"
[ "$(metric drained contactd_batch_records_count)" -eq "$commits" ] || fail "batch histogram count != commits"
[ "$(metric drained contactd_batch_records_sum)" -eq "$consumed" ] || fail "batch sizes do not add up to the records consumed"
[ "$(metric drained 'contactd_commit_duration_seconds_bucket{le=+Inf}')" -eq "$commits" ] || fail "+Inf bucket != commits"
# drained: no lag, empty outboxes, every partition held, Redis up, ready
[ "$(metric drained contactd_consumer_lag_records)" -eq 0 ] || fail "lag after drain: $(metric drained contactd_consumer_lag_records)"
[ "$(metric drained contactd_outbox_entries)" -eq 0 ] || fail "outbox entries after drain"
[ "$(metric drained contactd_partitions_owned)" -eq "$P" ] || fail "partitions owned"
[ "$(metric drained contactd_redis_up)" -eq 1 ] || fail "redis_up"
[ "$(metric drained contactd_ready)" -eq 1 ] || fail "ready"
[ "$(metric drained contactd_redis_round_trips_total)" -gt "$commits" ] || fail "round trips must exceed commits (loads, reads)"
[ "$(metric drained contactd_redis_errors_total)" -eq 0 ] || fail "redis errors without a failure"
[ "$(metric drained process_resident_memory_bytes)" -gt 1000000 ] || fail "RSS"
[ "$(metric drained process_open_fds)" -gt 3 ] || fail "open fds"
[ "$(metric drained 'contactd_build_info{stage=citizens}')" -eq 1 ] || fail "build_info"
grep -q '^# TYPE contactd_records_consumed_total counter$' "$W/drained.prom" || fail "TYPE line of a counter"
expect_grep 'msg=progress inputs_per_s=' "$W/run.log"
expect_grep 'lag=0 outbox=0 partitions=4 redis=up' "$W/run.log"

# Redis down: alive, not ready, and it says why; back: ready again
redis_stop
wait_code /readyz 503 30
expect_grep 'redis is not reachable' "$W/body"
[ "$(code /healthz)" = 200 ] || fail "/healthz must stay 200 while Redis is down (the loop is alive)"
scrape down
[ "$(metric down contactd_redis_up)" -eq 0 ] || fail "redis_up while Redis is down"
[ "$(metric down contactd_ready)" -eq 0 ] || fail "ready while Redis is down"
redis_start "$W/redis"
wait_code /readyz 200 60
scrape back
[ "$(metric back contactd_redis_reconnects_total)" -ge 1 ] || fail "no reconnect counted"
[ "$(metric back contactd_redis_errors_total)" -ge 1 ] || fail "no redis error counted"

# SIGTERM: the stop line says what the metrics said
kill -TERM "$RUN_PID"
rc=0; wait "$RUN_PID" || rc=$?
[ "$rc" -eq 0 ] || { tail -20 "$W/run.log" >&2; fail "exit $rc on SIGTERM"; }
expect_grep "msg=stopped inputs=$consumed " "$W/run.log"

# an address in use: refused at start-up, with the system's reason
/usr/bin/python3 -c 'import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(30)' "$MP" &
LIVE_PIDS+=("$!")
sleep 0.5
rc=0
"$CONTACTD" run --brokers "$BROKERS" --redis "127.0.0.1:$REDIS_PORT" --metrics-addr "127.0.0.1:$MP" >/dev/null 2>"$W/inuse.log" || rc=$?
[ "$rc" -ne 0 ] || fail "a metrics address in use must stop start-up"
expect_grep "metrics-addr 127.0.0.1:$MP: cannot listen: Address already in use" "$W/inuse.log"
echo "ok: /metrics, /healthz and /readyz"
