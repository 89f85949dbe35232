#!/usr/bin/python3
"""live_tool.py — small checks for the live end-to-end tests (tests/cli/test_live_*.sh).

  keys
      stdin: what `kcat -C -e -f '%K %S\\n%k%s\\n'` prints for an output topic
      (DeadlineEvent or BreachEvent messages, binary protobuf). Checks that every
      message's key is the citizen_id inside it (field 2); prints the number of
      messages checked, or the first mismatches and exits 1.

  dlq
      stdin: what `kcat -C -e -f '%K %S %o\\n%h\\n%k%s\\n'` prints for the dead-letter
      topic. Prints one line per dead letter: key ("-" when none), stage, topic, partition, offset,
      sha1 of the payload, error, then the payload's length and the
      contactd.errors.original.length and .xxh3-128 headers ("-" when absent)
      (tab-separated). Fails when one of the five __connect.errors.* headers is
      missing or empty.

  record PYGEN JSON [CITIZEN_ID_HEX]
      Writes one binary contact.v1.CitizenEvent to stdout: JSON (one event in the
      canonical mapping) encoded by the reference runtime (the modules protoc
      generated into PYGEN). With CITIZEN_ID_HEX the citizen_id field holds those
      raw bytes instead (NUL, control characters, invalid UTF-8: what no JSON
      or reference runtime would write, but a hostile producer can).

  tolog
      stdin: what `kcat -C -e -f '%K %S\n%k%s\n'` prints for one partition of the
      input topic. stdout: the payloads as a length-delimited binary event log,
      in partition order (what `contactd replay --input-format pb` reads).

  sha
      stdin: what `kcat -C -e -f '%K %S\n%k%s\n'` prints. One line per message:
      key ("-" when none) and sha1 of the payload (tab-separated).

  split LOG CONVERSATIONS OTHERS DUP_RATIO SEED
      LOG: a JSON-lines event log. Conversations go to CONVERSATIONS, every other
      record (registrations, deregistrations, benefit changes, clock ticks) to
      OTHERS, each in log order; then a DUP_RATIO share of each file's records,
      picked at random (SEED), is appended again at its end (duplicates, late).

  states FILE
      FILE: outputs as `contactd replay` / `contactd consume` write them (JSON lines).
      Prints, sorted, for each (citizenId, obligationId, periodStart) the last deadline
      status and the last breach status (in file order, which is per-citizen delivery
      order), one line each:  citizen obligation period deadline=STATUS breach=STATUS
      ("-" when there was none).

  compare REPLAY LIVE
      Where every obligation ends, from two output files whose delivery orders
      differ (so transitions, their numbers and event ids may differ): for each
      instance (citizenId, obligationId, periodStart), its final state, and the
      standing breaches. The final state is the instance's last transition over
      both topics, which needs no cross-topic order: while a breach stands the
      engine says nothing more about the instance on the deadline topic (it changes
      only by RETRACTED, which a deadline event follows, decisions.md D24), so
        - a standing breach (last breach event BREACHED) is the state, "BREACHED";
          the BreachEvent carries the obligation's window and due date;
        - else the last deadline event is: OPENED, UPDATED and WARNING read as one
          state, "open" (a warning is a reminder about an open obligation, and one
          whose inputs arrive after its warning instant goes straight to OPENED and
          BREACHED without it), or "paused" when its due date is empty (docs/spec/events.md:
          due_date empty while PAUSED; a paused obligation whose held count changes
          is UPDATED), PAUSED as "paused", MET, CANCELLED with its reason;
        - an instance whose final state is CANCELLED with CANCEL_REASON_SUPERSEDED
          does not exist (decisions.md D7: it existed only while a late input had
          not yet restructured the period).
      Prints the differences and exits 1 if any; else prints the counts compared.
      Also prints (not a failure) how many instances end with a standing breach
      but a different last deadline status in the two files.
"""
import hashlib
import json
import sys


def varint(b, i):
    shift = result = 0
    while True:
        if i >= len(b):
            raise ValueError("truncated varint")
        c = b[i]
        i += 1
        result |= (c & 0x7F) << shift
        if not c & 0x80:
            return result, i
        shift += 7


def fields(b):
    """Top-level (field number, wire type, value) of a protobuf message."""
    i = 0
    while i < len(b):
        tag, i = varint(b, i)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        if i > len(b):
            raise ValueError("truncated field %d" % num)
        yield num, wt, v


def framed(stream, header_lines=1):
    """kcat output framed as: 'KLEN SLEN [more]\\n' [header line\\n]* key payload '\\n'."""
    data = stream.read()
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        head = data[i:nl].decode().split(" ")
        i = nl + 1
        extra = []
        for _ in range(header_lines - 1):
            nl = data.index(b"\n", i)
            extra.append(data[i:nl].decode("utf-8", "replace"))
            i = nl + 1
        klen, slen = int(head[0]), int(head[1])
        # -1: null; kcat -Z then prints the word NULL in its place
        key = b"NULL" if klen < 0 and data[i:i + 4] == b"NULL" else data[i:i + max(klen, 0)]
        i += len(key)
        payload = b"" if slen < 0 and data[i:i + 4] == b"NULL" else data[i:i + max(slen, 0)]
        i += 4 if slen < 0 and data[i:i + 4] == b"NULL" else len(payload)
        if data[i:i + 1] != b"\n":
            raise ValueError("framing lost at byte %d" % i)
        i += 1
        yield head, extra, key, payload


def cmd_keys():
    n = 0
    bad = []
    for _, _, key, payload in framed(sys.stdin.buffer):
        cid = None
        for num, wt, v in fields(payload):
            if num == 2 and wt == 2:
                cid = v
        n += 1
        if cid is None or cid != key:
            bad.append((key, cid))
    if bad:
        for k, c in bad[:10]:
            print("key %r but citizen_id %r" % (k, c), file=sys.stderr)
        print("%d of %d messages keyed wrongly" % (len(bad), n), file=sys.stderr)
        return 1
    print(n)
    return 0


EXTRA = ["contactd.errors.original.length", "contactd.errors.original.xxh3-128"]
NAMES = ["__connect.errors.topic", "__connect.errors.partition", "__connect.errors.offset",
         "__connect.errors.stage", "__connect.errors.exception.message"]


def cmd_dlq():
    rc = 0
    for head, extra, key, payload in framed(sys.stdin.buffer, header_lines=2):
        # kcat prints headers as name=value,name=value (values may hold commas: split on names)
        h = {}
        line = extra[0]
        positions = sorted((line.find(name + "="), name) for name in NAMES + EXTRA if line.find(name + "=") >= 0)
        for j, (pos, name) in enumerate(positions):
            end = positions[j + 1][0] - 1 if j + 1 < len(positions) else len(line)
            h[name] = line[pos + len(name) + 1:end]
        missing = [name for name in NAMES if not h.get(name)]
        if missing:
            print("dead letter at offset %s (key %r) lacks %s; headers: %s" % (head[2], key, missing, line),
                  file=sys.stderr)
            rc = 1
            continue
        print("\t".join([key.decode("utf-8", "replace") or "-", h[NAMES[3]], h[NAMES[0]], h[NAMES[1]], h[NAMES[2]],
                         hashlib.sha1(payload).hexdigest(), h[NAMES[4]], str(len(payload)),
                         h.get(EXTRA[0], "-"), h.get(EXTRA[1], "-")]))
    return rc


def cmd_record(pygen, text, cid_hex=None):
    sys.path.insert(0, pygen)
    from google.protobuf import json_format
    from contact.v1 import events_pb2
    msg = json_format.Parse(text, events_pb2.CitizenEvent())
    out = b""
    if cid_hex is not None:
        msg.ClearField("citizen_id")
        raw = bytes.fromhex(cid_hex)
        out = b"\x12" + enc_varint(len(raw)) + raw     # field 2, length-delimited
    sys.stdout.buffer.write(msg.SerializeToString() + out)
    return 0


def enc_varint(n):
    b = bytearray()
    while True:
        c = n & 0x7F
        n >>= 7
        b.append(c | (0x80 if n else 0))
        if not n:
            return bytes(b)


def cmd_tolog():
    out = sys.stdout.buffer
    for _, _, _, payload in framed(sys.stdin.buffer):
        out.write(enc_varint(len(payload)) + payload)
    return 0


def cmd_sha():
    for _, _, key, payload in framed(sys.stdin.buffer):
        print("%s\t%s" % (key.decode("utf-8", "replace") or "-", hashlib.sha1(payload).hexdigest()))
    return 0


def cmd_split(log, conv_path, other_path, ratio, seed):
    import random
    rnd = random.Random(int(seed))
    conv, other = [], []
    with open(log) as f:
        for line in f:
            (conv if '"conversation":' in line else other).append(line)
    for path, lines in ((conv_path, conv), (other_path, other)):
        dups = [line for line in lines if rnd.random() < float(ratio)]
        with open(path, "w") as f:
            f.writelines(lines + dups)
        print("%s %d %d" % (path, len(lines), len(dups)))
    return 0


OPEN = {"DEADLINE_STATUS_OPENED", "DEADLINE_STATUS_UPDATED", "DEADLINE_STATUS_WARNING"}
SUPERSEDED = "DEADLINE_STATUS_CANCELLED/CANCEL_REASON_SUPERSEDED"


def final_states(path):
    """(final state by instance, standing breaches, last deadline state by instance)"""
    dl, br = {}, {}
    with open(path) as f:
        for line in f:
            o = json.loads(line)
            kind, e = ("deadline", o["deadline"]) if "deadline" in o else ("breach", o["breach"])
            ob = e.get("obligation", {})
            k = (e["citizenId"], ob.get("obligationId", ""), ob.get("periodStart", ""))
            if kind == "deadline":
                st = e.get("status", "")
                if st in OPEN:
                    st = "open" if ob.get("dueDate") else "paused"
                elif st == "DEADLINE_STATUS_PAUSED":
                    st = "paused"
                elif e.get("cancelReason"):
                    st += "/" + e["cancelReason"]
                dl[k] = st
            else:
                br[k] = e.get("status", "")
    standing = {k for k, v in br.items() if v == "BREACH_STATUS_BREACHED"}
    states = {}
    for k in set(dl) | set(br):
        st = "BREACHED" if k in standing else dl.get(k, "(no deadline event)")
        if st != SUPERSEDED:
            states[k] = st
    return states, standing, dl


def cmd_compare(replay, live):
    rs, rb, rd = final_states(replay)
    ls, lb, ld = final_states(live)
    bad = 0
    for k in sorted(set(rs) | set(ls)):
        if rs.get(k) != ls.get(k):
            bad += 1
            if bad <= 20:
                print("state %s: replay %s, live %s" % (" ".join(k), rs.get(k, "(none)"), ls.get(k, "(none)")),
                      file=sys.stderr)
    for k in sorted(rb ^ lb):
        bad += 1
        if bad <= 40:
            print("breach %s: standing in %s only" % (" ".join(k), "replay" if k in rb else "live"), file=sys.stderr)
    if bad:
        print("%d differences" % bad, file=sys.stderr)
        return 1
    hidden = sum(1 for k in rb if rd.get(k) != ld.get(k))
    print("%d obligation states, %d standing breaches (%d of them end with different last deadline events)"
          % (len(rs), len(rb), hidden))
    return 0


def cmd_states(path):
    dl, br = {}, {}
    with open(path) as f:
        for line in f:
            o = json.loads(line)
            kind, e = ("deadline", o["deadline"]) if "deadline" in o else ("breach", o["breach"])
            ob = e.get("obligation", {})
            k = (e["citizenId"], ob.get("obligationId", ""), ob.get("periodStart", ""))
            (dl if kind == "deadline" else br)[k] = e.get("status", "")
    for k in sorted(set(dl) | set(br)):
        print("%s %s %s deadline=%s breach=%s" % (k[0], k[1], k[2], dl.get(k, "-"), br.get(k, "-")))
    return 0


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "keys":
        return cmd_keys()
    if len(sys.argv) >= 2 and sys.argv[1] == "dlq":
        return cmd_dlq()
    if len(sys.argv) in (4, 5) and sys.argv[1] == "record":
        return cmd_record(*sys.argv[2:])
    if len(sys.argv) == 2 and sys.argv[1] == "tolog":
        return cmd_tolog()
    if len(sys.argv) >= 2 and sys.argv[1] == "sha":
        return cmd_sha()
    if len(sys.argv) == 7 and sys.argv[1] == "split":
        return cmd_split(*sys.argv[2:])
    if len(sys.argv) == 4 and sys.argv[1] == "compare":
        return cmd_compare(sys.argv[2], sys.argv[3])
    if len(sys.argv) == 3 and sys.argv[1] == "states":
        return cmd_states(sys.argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
