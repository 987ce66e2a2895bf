#!/usr/bin/env python3
"""check.py - after the clients of tests/clients/ ran: every file they
left under ROOT holds exactly the bytes its name says (kvclient.content),
no temporary file is left, and each file's expected device is printed.

  check.py ROOT SCHEME NDEV SIZE

SCHEME is inproc, mp or vllm; the rank comes from the name as the client
wrote it (an oracle independent of kvstripe's parser): the worker id, the
local_rank byte of kv_rank, the "_r<rank>" directory. Prints one line
per file, "RELPATH DEVICE", DEVICE "-" where the name carries no rank
(multi-process names of world_size 1, placed by a hash). Exits 1 on the
first bad file.
"""
import os
import re
import sys

import kvclient as kc


def expected(scheme, rel, ndev):
    name = os.path.basename(rel)
    if scheme == "inproc":
        return str(int(name.split("@")[2]) % ndev)
    if scheme == "mp":
        kv = int(name.split("@")[1], 16)
        return "-" if kv >> 24 <= 1 else str((kv & 0xff) % ndev)
    m = re.search(r"_r([0-9]+)/[0-9a-f]{3}/[0-9a-f]{2}_g[0-9]+/", rel)
    if not m:
        kc.fail(f"{rel}: no _r<rank> directory")
    return str(int(m.group(1)) % ndev)


def main():
    root, scheme, ndev, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
        int(sys.argv[4])
    n = 0
    for d, _, files in os.walk(root):
        for f in sorted(files):
            path = os.path.join(d, f)
            rel = os.path.relpath(path, root)
            if f.endswith(".tmp"):
                kc.fail(f"{rel}: a temporary file is left")
            if f == "config.json":
                continue
            with open(path, "rb") as fh:
                data = fh.read()
            kc.expect(data, f, size, "check")
            print(rel, expected(scheme, rel, ndev))
            n += 1
    if not n:
        kc.fail(f"no files under {root}")


if __name__ == "__main__":
    main()
