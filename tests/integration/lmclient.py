#!/usr/bin/env python3
"""lmclient.py - a KV-cache client as LMCache's fs connector writes one.

  lmclient.py DIR TOTAL_MIB FILE_MIB [START]

Puts keys until TOTAL_MIB are written: each key is written to
"<key>.tmp" (buffered, one write), closed, then os.replace()d to
"<key>". After every put it gets an earlier key picked at random: stat
first, a missing file is a miss (FileNotFoundError at open or read too:
the key went between the stat and the open); a file that is there must
read back whole and exact. After every put it notes the mount's used
bytes (statvfs: f_blocks - f_bfree). Prints one line,
"puts N hits N misses N maxused BYTES", and exits 0; any other error
(ENOSPC, EIO, a short or wrong read) is printed and exits 1.
"""
import hashlib
import os
import random
import sys


def content(key, size):
    seed = hashlib.sha256(key.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def used(path):
    sv = os.statvfs(path)
    return (sv.f_blocks - sv.f_bfree) * sv.f_frsize


def get(path, key, size):
    """True: a hit, False: a miss; raises on anything else."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    if st.st_size != size:
        raise OSError(f"{key}: size {st.st_size}, expected {size}")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return False
    if data != content(key, size):
        raise OSError(f"{key}: read {len(data)} bytes that differ")
    return True


def main():
    top, total, fmib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    start = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    size = fmib << 20
    rnd = random.Random(start)
    puts = hits = misses = maxused = 0
    for i in range(start, start + total // fmib):
        key = f"model@0x01010001@0@{i:016x}"
        final = os.path.join(top, key + ".data")
        tmp = os.path.join(top, key + ".tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(content(key, size))
            os.replace(tmp, final)
            puts += 1
            j = rnd.randrange(start, i + 1)
            k = f"model@0x01010001@0@{j:016x}"
            if get(os.path.join(top, k + ".data"), k, size):
                hits += 1
            else:
                misses += 1
            maxused = max(maxused, used(top))
        except OSError as e:
            print(f"put {i}: {e}", file=sys.stderr)
            return 1
    print(f"puts {puts} hits {hits} misses {misses} maxused {maxused}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
