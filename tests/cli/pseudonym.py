#!/usr/bin/python3
"""pseudonym.py [--key-file F] [ID…] — citizen pseudonyms computed apart from
contactd (hashlib's BLAKE2b), as util/pseudonym.h defines them: the key is
BLAKE2b-256 of the key file's one line (without --key-file: the development
key's public secret), the pseudonym "h:" and 128 bits of BLAKE2b keyed with
it. With no ID, reads ids one per line from stdin; prints "ID<TAB>PSEUDONYM"
then, else one pseudonym per ID."""
import hashlib
import sys

DEV_SECRET = b"contactd development key: not a secret, never for personal data"


def key(path):
    if path is None:
        secret = DEV_SECRET
    else:
        secret = open(path, "rb").read()
        if secret.endswith(b"\r\n"):
            secret = secret[:-2]
        elif secret.endswith(b"\n"):
            secret = secret[:-1]
    return hashlib.blake2b(secret, digest_size=32).digest()


def pseudonym(k, cid):
    return "h:" + hashlib.blake2b(cid, digest_size=16, key=k).hexdigest()


def main():
    args = sys.argv[1:]
    path = None
    if len(args) >= 2 and args[0] == "--key-file":
        path, args = args[1], args[2:]
    k = key(path)
    if args:
        for a in args:
            print(pseudonym(k, a.encode()))
    else:
        for line in sys.stdin.buffer:
            cid = line.rstrip(b"\n")
            if cid:
                print("%s\t%s" % (cid.decode(), pseudonym(k, cid)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
