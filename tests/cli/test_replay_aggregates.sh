# `contactd replay` evaluates the share aggregates (rules.md §4.1): a population with
# dk-2026 periods gives AggregateEvents, in both output forms; the same log gives the
# same ones byte for byte; interleaving the citizens differently between the
# all-citizen ticks changes none of them; --no-aggregates gives none and the same
# per-citizen outputs.
source "$(dirname "$0")/lib.sh"
"$CONTACTD" synth --citizens 1500 --years 3 --from 2024-07-01 --seed 11 --format json \
  --output "$W/in.jsonl" 2>/dev/null || fail "synth failed"
"$CONTACTD" replay --input "$W/in.jsonl" --output "$W/a.jsonl" 2>"$W/a.log" || fail "replay failed"
n=$(grep -c '"aggregate"' "$W/a.jsonl" || true)
[ "$n" -gt 0 ] || fail "no aggregate events from a population with dk-2026 periods"
grep -q 'aggregate_events='"$n" "$W/a.log" || fail "the closing line does not count $n aggregate events"
grep -q '"aggregateId":"dk-2026/kommune-share"' "$W/a.jsonl" || fail "no kommune-share events"
grep -q '"status":"AGGREGATE_STATUS_BREACHED"\|"status":"AGGREGATE_STATUS_MET"' "$W/a.jsonl" ||
  fail "no cohort was evaluated"

# --summary: the aggregate events by status, and the cohorts standing at each
# status per aggregate (a cohort counts once, at its latest status), as read
# from the output file itself.
"$CONTACTD" replay --input "$W/in.jsonl" --output "$W/sum.jsonl" --summary >"$W/summary" 2>/dev/null ||
  fail "replay --summary failed"
/usr/bin/python3 - "$W/sum.jsonl" >"$W/want" <<'EOF'
import collections, json, sys
by, last = collections.Counter(), {}
for l in open(sys.argv[1]):
    a = json.loads(l).get("aggregate")
    if not a:
        continue
    st = a["status"].replace("AGGREGATE_STATUS_", "")
    by[st] += 1
    if st != "WARNING":
        last[(a["aggregateId"], a["key"], a["periodStart"])] = st
print("aggregate events: warnings %d, met %d, breached %d, retracted %d" %
      (by["WARNING"], by["MET"], by["BREACHED"], by["RETRACTED"]))
for want in ("BREACHED", "MET"):
    n = collections.Counter(k[0] for k, st in last.items() if st == want)
    for agg, c in sorted(n.items()):
        print("%s %d %s" % (want, c, agg))
EOF
grep -qF "$(head -1 "$W/want")" "$W/summary" || { cat "$W/summary" >&2; fail "summary: expected '$(head -1 "$W/want")'"; }
tail -n +2 "$W/want" | while read -r st n agg; do
  sed -n "/^cohorts standing $st by aggregate:/,/^\$/p" "$W/summary" | grep -qE "^ +$n  $agg\$" ||
    { cat "$W/summary" >&2; fail "summary: expected $n cohorts of $agg standing $st"; }
done
grep -q "^breached cohorts, for example:" "$W/summary" || fail "summary: no breached cohort explained"

# Deterministic: again, and in the binary form.
"$CONTACTD" replay --input "$W/in.jsonl" --output "$W/b.jsonl" 2>/dev/null || fail "second replay failed"
cmp -s "$W/a.jsonl" "$W/b.jsonl" || fail "the same log gave different outputs"
"$CONTACTD" replay --input "$W/in.jsonl" --output "$W/a.bin" --output-format pb 2>"$W/pb.log" ||
  fail "binary replay failed"
grep -q 'aggregate_events='"$n" "$W/pb.log" || fail "the binary output counts other aggregate events"

# The citizens' records interleaved differently between ticks (each citizen's own
# order kept): the same aggregate events, in the same order.
/usr/bin/python3 - "$W/in.jsonl" "$W/shuffled.jsonl" <<'EOF'
import json, random, sys
lines = open(sys.argv[1]).read().splitlines()
out, seg = [], []
def flush():
    by = {}
    for l in seg:
        by.setdefault(json.loads(l).get("citizenId", ""), []).append(l)
    keys = list(by)
    random.Random(7).shuffle(keys)
    queues = [list(by[k]) for k in keys]
    rng = random.Random(len(seg))
    while queues:
        q = rng.choice(queues)
        out.append(q.pop(0))
        if not q:
            queues.remove(q)
for l in lines:
    if json.loads(l).get("citizenId", "") == "":
        flush(); seg.clear(); out.append(l)
    else:
        seg.append(l)
flush()
open(sys.argv[2], "w").write("\n".join(out) + "\n")
EOF
cmp -s "$W/in.jsonl" "$W/shuffled.jsonl" && fail "the shuffle changed nothing"
"$CONTACTD" replay --input "$W/shuffled.jsonl" --output "$W/s.jsonl" 2>/dev/null || fail "replay of the shuffled log failed"
grep '"aggregate"' "$W/a.jsonl" >"$W/a.agg"
grep '"aggregate"' "$W/s.jsonl" >"$W/s.agg"
cmp -s "$W/a.agg" "$W/s.agg" || { diff "$W/a.agg" "$W/s.agg" | head -4 >&2; fail "the interleaving changed the aggregate events"; }
sort "$W/a.jsonl" >"$W/a.sorted"; sort "$W/s.jsonl" >"$W/s.sorted"
cmp -s "$W/a.sorted" "$W/s.sorted" || fail "the interleaving changed the per-citizen outputs"

# --no-aggregates: none, and the same per-citizen outputs (in another order: with
# aggregates, citizens are advanced through each aggregate instant of a tick).
"$CONTACTD" replay --input "$W/in.jsonl" --no-aggregates --output "$W/n.jsonl" 2>/dev/null || fail "replay --no-aggregates failed"
grep -q '"aggregate"' "$W/n.jsonl" && fail "--no-aggregates still wrote aggregate events"
grep -v '"aggregate"' "$W/a.jsonl" | sort >"$W/a.citizens"
sort "$W/n.jsonl" | cmp -s - "$W/a.citizens" || fail "--no-aggregates changed the per-citizen outputs"
exit 0
