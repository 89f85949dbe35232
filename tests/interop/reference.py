#!/usr/bin/python3
"""reference.py — the reference protobuf runtime (Debian's python3-protobuf) as a
second, independent implementation of contact.v1's binary and JSON forms.

Usage (GEN_DIR holds `protoc --python_out=GEN_DIR -Iproto -I/usr/include proto/contact/v1/*.proto`):
  reference.py GEN_DIR to-json   IN.bin  OUT.jsonl   CitizenEvents: delimited binary -> JSON lines
  reference.py GEN_DIR reencode  IN.bin  OUT.bin     CitizenEvents: parse and write again
  reference.py GEN_DIR same-outputs OUT.pb OUT.jsonl  Output streams (deadline, breach or aggregate):
                                                     the same messages, in order
Exit status 0 on success; 1 with a message on the first difference.
"""
import sys

from google.protobuf import json_format
from google.protobuf.internal.decoder import _DecodeVarint32
from google.protobuf.internal.encoder import _VarintBytes


def read_delimited(path, cls):
    data = open(path, "rb").read()
    pos, out = 0, []
    while pos < len(data):
        n, pos = _DecodeVarint32(data, pos)
        m = cls()
        m.ParseFromString(data[pos:pos + n])
        out.append(m)
        pos += n
    return out


def main():
    sys.path.insert(0, sys.argv[1])
    from contact.v1 import events_pb2, outputs_pb2  # noqa: E402
    cmd = sys.argv[2]
    if cmd == "to-json":
        with open(sys.argv[4], "w") as f:
            for m in read_delimited(sys.argv[3], events_pb2.CitizenEvent):
                f.write(json_format.MessageToJson(m, indent=None) + "\n")
    elif cmd == "reencode":
        with open(sys.argv[4], "wb") as f:
            for m in read_delimited(sys.argv[3], events_pb2.CitizenEvent):
                b = m.SerializeToString()
                f.write(_VarintBytes(len(b)) + b)
    elif cmd == "same-outputs":
        binary = read_delimited(sys.argv[3], outputs_pb2.Output)
        lines = [l for l in open(sys.argv[4]) if l.strip()]
        if len(binary) != len(lines):
            print(f"{len(binary)} binary outputs but {len(lines)} JSON lines")
            return 1
        for i, (b, line) in enumerate(zip(binary, lines)):
            j = json_format.Parse(line, outputs_pb2.Output())
            if b != j:
                print(f"output {i + 1} differs:\n  binary: {b}\n  json:   {j}")
                return 1
        if not binary:
            print("no outputs to compare")
            return 1
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
