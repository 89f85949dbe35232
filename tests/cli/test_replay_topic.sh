#!/usr/bin/env bash
# test_replay_topic.sh — `contactd replay --brokers` (a range of the input topic) gives the
# outputs `contactd replay --input` gives for the file the topic was produced from: the
# same lines once sorted (citizens of different partitions interleave), the same count,
# the same closing counts. A plain log; a dk-2026 log with aggregates and late records,
# whose AggregateEvents only agree when the partitions are merged on their all-citizen
# ticks; ranges chosen by --from/--to between produce runs (Kafka timestamps are produce
# time); bad records on the topic; nothing joined or committed; the errors.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"

# fresh_broker P: a new devbroker with P partitions per topic (the last one stopped)
fresh_broker() {
  if [ -n "${BROKER_PID:-}" ]; then kill "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; fi
  : >"$W/broker.out"
  broker_start "$1"
}

# done_field FIELD LOG: a number from the closing "replay done" line
done_field() { grep 'msg="replay done"' "$2" | grep -o " $1=[0-9]*" | cut -d= -f2; }

# same NAME FILE_LOG_DIR: $d/file.jsonl (replay --input) and $d/topic.jsonl (replay --brokers)
# hold the same lines, and the closing lines count the same (records: the topic's less the
# other partitions' copies of the ticks)
same() {
  local name=$1 d=$2 f
  sort "$d/file.jsonl" >"$d/file.sorted"
  sort "$d/topic.jsonl" >"$d/topic.sorted"
  if ! cmp -s "$d/file.sorted" "$d/topic.sorted"; then
    diff "$d/file.sorted" "$d/topic.sorted" | cut -c1-300 | head -20 >&2
    fail "$name: the topic's outputs ($(wc -l <"$d/topic.jsonl")) differ from the file's ($(wc -l <"$d/file.jsonl"))"
  fi
  [ "$(wc -l <"$d/topic.jsonl")" -eq "$(wc -l <"$d/file.jsonl")" ] || fail "$name: not the same count"
  for f in applied duplicates skipped deadline_events breach_events aggregate_events member_outcomes citizens; do
    [ "$(done_field "$f" "$d/topic.log")" = "$(done_field "$f" "$d/file.log")" ] ||
      fail "$name: $f=$(done_field "$f" "$d/topic.log") from the topic, $(done_field "$f" "$d/file.log") from the file"
  done
  [ $(( $(done_field records "$d/topic.log") - $(done_field tick_copies "$d/topic.log") )) -eq \
    "$(done_field records "$d/file.log")" ] || fail "$name: records less tick copies is not the file's record count"
}

# one_log NAME PARTITIONS SYNTH_ARGS…: synth, replay the file, produce it to a fresh broker,
# replay the topic (default topic name), compare
one_log() {
  local name=$1 parts=$2; shift 2
  local d=$W/$name
  mkdir -p "$d"
  "$CONTACTD" synth "$@" --output "$d/log" 2>/dev/null || fail "$name: synth failed"
  "$CONTACTD" replay --input "$d/log" --output "$d/file.jsonl" 2>"$d/file.log" || fail "$name: file replay failed"
  fresh_broker "$parts"
  "$CONTACTD" produce --brokers "$BROKERS" --input "$d/log" 2>"$d/produce.log" ||
    { cat "$d/produce.log" >&2; fail "$name: produce failed"; }
  "$CONTACTD" replay --brokers "$BROKERS" --output "$d/topic.jsonl" 2>"$d/topic.log" ||
    { cat "$d/topic.log" >&2; fail "$name: topic replay failed"; }
  same "$name" "$d"
  [ "$(done_field tick_copies "$d/topic.log")" -gt 0 ] || fail "$name: no tick was fanned out"
  echo "$name: $(wc -l <"$d/topic.jsonl") outputs ($(grep -c '"aggregate"' "$d/topic.jsonl" || true) aggregate events) over $parts partitions, as the file's"
}

one_log plain 4 --citizens 300 --years 4 --seed 21 --format pb
n=$(done_field deadline_events "$W/plain/file.log")
[ "$n" -gt 1000 ] || fail "plain: only $n deadline events"

one_log aggregates 3 --citizens 800 --years 2 --from 2026-05-01 --seed 7 --late-ratio 0.1 --format json
n=$(grep -c '"aggregate"' "$W/aggregates/topic.jsonl" || true)
[ "$n" -gt 20 ] || fail "aggregates: only $n aggregate events; the log must have some to compare"

# ---- ranges: three produce runs, an instant noted between them -----------------------
# stamp: an RFC 3339 instant after the timestamps of every record produced so far, and
# (once it returns) before those of every record produced next
stamp() {
  local t=$(( $(date +%s) + 1 ))
  while [ "$(date +%s)" -lt "$t" ]; do sleep 0.1; done
  date -u -d "@$t" +%FT%TZ
}
d=$W/ranges
mkdir -p "$d"
lines=$(wc -l <"$W/aggregates/log")
head -n $((lines / 3)) "$W/aggregates/log" >"$d/p1"
sed -n "$((lines / 3 + 1)),$((2 * lines / 3))p" "$W/aggregates/log" >"$d/p2"
tail -n +$((2 * lines / 3 + 1)) "$W/aggregates/log" >"$d/p3"
cat "$d/p2" "$d/p3" >"$d/p23"
fresh_broker 4
"$CONTACTD" produce --brokers "$BROKERS" --topic contact.events.v1 --input "$d/p1" 2>>"$d/produce.log" || fail "produce p1"
T1=$(stamp)
"$CONTACTD" produce --brokers "$BROKERS" --input "$d/p2" 2>>"$d/produce.log" || fail "produce p2"
T2=$(stamp)
"$CONTACTD" produce --brokers "$BROKERS" --input "$d/p3" 2>>"$d/produce.log" || fail "produce p3"

# range NAME FILE [replay options…]: the topic range equals a replay of FILE
range() {
  local name=$1 file=$2; shift 2
  local r=$d/$name
  mkdir -p "$r"
  "$CONTACTD" replay --input "$file" --output "$r/file.jsonl" 2>"$r/file.log" || fail "$name: file replay failed"
  "$CONTACTD" replay --brokers "$BROKERS" --topic contact.events.v1 "$@" --output "$r/topic.jsonl" 2>"$r/topic.log" ||
    { cat "$r/topic.log" >&2; fail "$name: topic replay failed"; }
  same "$name" "$r"
  [ "$(wc -l <"$r/topic.jsonl")" -gt 100 ] || fail "$name: only $(wc -l <"$r/topic.jsonl") outputs"
  echo "$name: $(wc -l <"$r/topic.jsonl") outputs, as the file's"
}
range to-T1 "$d/p1" --to "$T1"
range T1-to-T2 "$d/p2" --from "$T1" --to "$T2"
range from-T2 "$d/p3" --from "$T2" --to end
range from-T1 "$d/p23" --from "$T1"
range everything "$W/aggregates/log" --from beginning --to end
# the devbroker cannot look offsets up by time (librdkafka's mock cluster): --from reads
# each partition from its start and passes over what is older, and says so
expect_grep 'does not look up offsets by time' "$d/T1-to-T2/topic.log"
# a range with nothing in it: no output, no error
"$CONTACTD" replay --brokers "$BROKERS" --from 2099-01-01T00:00:00Z --output "$d/none.jsonl" 2>"$d/none.log" ||
  fail "an empty range failed"
[ ! -s "$d/none.jsonl" ] || fail "a range after every record gave outputs"
expect_grep 'records=0' "$d/none.log"

# ---- read only: no group joined, nothing committed ----------------------------------
# librdkafka's protocol debug lists every request sent: only metadata, offsets and fetches
"$CONTACTD" replay --log-level debug -X debug=protocol --brokers "$BROKERS" --from "$T2" --output "$d/ro.jsonl" \
  2>"$d/ro.log" || fail "read-only replay failed"
grep -o 'Sent [A-Za-z]*Request' "$d/ro.log" | sort -u >"$d/requests"
grep -q 'Sent FetchRequest' "$d/requests" || fail "no FetchRequest in the protocol debug: the check would prove nothing"
if grep -v -e ApiVersion -e Metadata -e FindCoordinator -e ListOffsets -e Fetch "$d/requests"; then
  fail "a topic replay sent requests beyond metadata, offsets and fetches (above)"
fi

# ---- bad records on the topic: skipped as the file's are, with partition and offset --
d=$W/bad
mkdir -p "$d"
fresh_broker 2
"$CONTACTD" replay --input tests/fixtures/s2.jsonl --output "$d/file.jsonl" 2>"$d/file.log" || fail "bad: file replay"
"$CONTACTD" produce --brokers "$BROKERS" --send-invalid --input tests/fixtures/s2.jsonl 2>"$d/produce.log" ||
  fail "bad: produce --send-invalid"
"$CONTACTD" replay --brokers "$BROKERS" --output "$d/topic.jsonl" 2>"$d/topic.log" || fail "bad: skips must not fail the replay"
same bad "$d"
expect_grep 'skipped=2' "$d/topic.log"
expect_grep 'msg="record skipped" input=contact.events.v1 position="partition [0-9] offset [0-9]*" event_id=bad1 stage=validate' "$d/topic.log"
expect_grep 'msg="record skipped" input=contact.events.v1 position="partition [0-9] offset [0-9]*" event_id="" stage=decode' "$d/topic.log"

# ---- errors: one line each, status 1 ---------------------------------------------------
# error CASE LOG PATTERN: the replay failed with exactly one error line, holding PATTERN
error() {
  [ "$(grep -c 'level=error' "$2")" -eq 1 ] || { cat "$2" >&2; fail "$1: expected one error line"; }
  expect_grep "$3" "$2"
}
if "$CONTACTD" replay --brokers "$BROKERS" --topic no.such.topic --output "$W/e.jsonl" 2>"$W/e1.log"; then
  fail "an unknown topic was replayed"
fi
error "unknown topic" "$W/e1.log" "msg=\"cannot look up the topic\".*topic 'no.such.topic' does not exist"
# looking it up created nothing (a broker that auto-creates topics would have)
kcat -b "$BROKERS" -L 2>/dev/null | grep -q no.such.topic && fail "the lookup created the unknown topic"
if "$CONTACTD" replay --brokers "$BROKERS" --input tests/fixtures/s2.jsonl 2>"$W/e2.log" >/dev/null; then
  fail "--input with --brokers accepted"
fi
error "--input and --brokers" "$W/e2.log" 'option=--brokers .*expected="no --input or --input-format: a replay reads a file or a topic"'
if "$CONTACTD" replay --brokers "$BROKERS" --from yesterday 2>"$W/e3.log" >/dev/null; then fail "--from yesterday accepted"; fi
error "bad --from" "$W/e3.log" 'msg="bad option value" option=--from value=yesterday expected="beginning or RFC 3339'
if "$CONTACTD" replay --brokers "$BROKERS" --to soon 2>"$W/e4.log" >/dev/null; then fail "--to soon accepted"; fi
error "bad --to" "$W/e4.log" 'option=--to value=soon expected="end or RFC 3339'
if "$CONTACTD" replay --brokers "$BROKERS" --from "$T2" --to "$T1" 2>"$W/e5.log" >/dev/null; then
  fail "--to before --from accepted"
fi
error "--to before --from" "$W/e5.log" 'option=--to .*expected="an instant after --from"'
if "$CONTACTD" replay --from "$T1" --input tests/fixtures/s2.jsonl 2>"$W/e6.log" >/dev/null; then
  fail "--from without --brokers accepted"
fi
error "--from without --brokers" "$W/e6.log" 'msg="missing option" option=--brokers'
if "$CONTACTD" replay --brokers "$BROKERS" -X no.such.property=1 2>"$W/e7.log" >/dev/null; then fail "a bad -X accepted"; fi
error "bad -X" "$W/e7.log" "kafka property 'no.such.property'"
"$CONTACTD" replay --help >"$W/help" || fail "replay --help"
expect_grep 'no consumer group' "$W/help"
expect_grep '\-\-from beginning|TIMESTAMP' "$W/help"
echo "replay from a topic: as from the file; ranges, bad records, read only and errors as expected"
