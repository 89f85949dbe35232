#!/usr/bin/env bash
# seeds.sh — writes the seed corpora of the fuzz harnesses into BUILD/seeds/,
# one directory per harness, with the project's own tools: `contactd synth`
# for events and event logs, the rule files, and mkseeds (mkseeds.c) for
# citizen records (a replay's, and records at the field limits) and outbox
# entries. Nothing it writes is committed.
#
# usage: tests/fuzz/seeds.sh BUILD     (BUILD: build/fuzz, holding contactd and mkseeds)
set -euo pipefail
B=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
S=$B/seeds
T=$B/seeds.tmp
rm -rf "$S" "$T"
mkdir -p "$S" "$T"
# synth's closing report goes to a file, shown only if it fails
synth() { "$B/contactd" synth "$@" 2>>"$T/synth.err" || { cat "$T/synth.err" >&2; exit 1; }; }

# Events, one a file: a small population over three years, late and duplicated inputs included.
synth -n 30 --years 3 --seed 7 --late-ratio 0.1 --dup-ratio 0.05 --format pb -o "$T/events.pb"
synth -n 30 --years 3 --seed 7 --late-ratio 0.1 --dup-ratio 0.05 --format json -o "$T/events.json"
"$B/mkseeds" split "$T/events.pb" "$S/event_pb"
"$B/mkseeds" split "$T/events.json" "$S/event_json"

# Event logs, whole: the first byte chooses the format (0 auto, 1 JSON, 2 binary) and, in
# bits 2-5, the largest record (16 << k bytes): 4 KiB, and 128 bytes (records skipped).
mkdir -p "$S/eventlog"
for seed in 1 2 3; do
  synth -n 2 --years 1 --max-events 24 --seed "$seed" --format pb -o "$T/log.pb"
  synth -n 2 --years 1 --max-events 24 --seed "$seed" --format json -o "$T/log.json"
  { printf '\x22'; cat "$T/log.pb"; } >"$S/eventlog/pb-$seed"
  { printf '\x21'; cat "$T/log.json"; } >"$S/eventlog/json-$seed"
  { printf '\x20'; cat "$T/log.json"; } >"$S/eventlog/auto-json-$seed"
  { printf '\x20'; cat "$T/log.pb"; } >"$S/eventlog/auto-pb-$seed"
  { printf '\x0e'; cat "$T/log.pb"; } >"$S/eventlog/pb-short-$seed"
  { printf '\x0d'; cat "$T/log.json"; } >"$S/eventlog/json-short-$seed"
done

# Citizen records as the store holds them after a replay, outbox entries around its outputs,
# and records at the field limits (run once each: the largest is 8 MiB).
"$B/mkseeds" replay "$ROOT/rules" "$T/events.pb" "$S/citizen" "$S/outbox"
"$B/mkseeds" limits "$S/citizen-limits"

# Rule files: each ruleset alone; each overlay with an overlay configuration enabling it
# where rules/overlays.json does (or for its first allowed municipality); the latest
# national ruleset with the merges.
mkdir -p "$S/rules"
/usr/bin/python3 - "$ROOT/rules" "$S/rules" <<'PY'
import json, os, sys
src, out = sys.argv[1], sys.argv[2]
where = {}
for e in json.load(open(os.path.join(src, "overlays.json")))["overlays"]:
    where.setdefault(e["overlay"], e["municipalities"])
merges = open(os.path.join(src, "merges.json")).read()
for name in sorted(os.listdir(src)):
    if not name.endswith(".json") or name in ("overlays.json", "merges.json"):
        continue
    text = open(os.path.join(src, name)).read()
    rs = json.loads(text)
    open(os.path.join(out, name), "w").write(text)
    if rs.get("kind") == "overlay":
        munis = where.get(rs["id"]) or rs.get("allowed_municipalities", [])[:1]
        cfg = json.dumps({"overlays": [{"overlay": rs["id"], "municipalities": munis}]})
        open(os.path.join(out, "with-config-" + name), "w").write(text + "\n//overlays.json\n" + cfg)
    elif name == sorted(n for n in os.listdir(src) if n.startswith("dk-"))[-1]:
        open(os.path.join(out, "with-merges-" + name), "w").write(text + "\n//merges.json\n" + merges)
PY
rm -rf "$T"
for d in "$S"/*/; do
  printf 'seeds: %-16s %5d files\n' "$(basename "$d")" "$(find "$d" -type f | wc -l)"
done
