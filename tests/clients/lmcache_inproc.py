#!/usr/bin/env python3
"""lmcache_inproc.py - the system calls of LMCache's in-process
LocalDiskBackend for one worker (one GPU's process).

  lmcache_inproc.py DIR WORKER WORLD_SIZE COUNT SIZE [--odirect]
                    [--layerwise] [--tags]

start-up: mkdir -p DIR, statvfs(DIR) (f_bsize decides whether O_DIRECT
is used: only for sizes that are a multiple of it); put: open(O_WRONLY|
O_CREAT|O_TRUNC) + one write + close, or with O_DIRECT open(O_WRONLY|
O_CREAT|O_DIRECT) (no O_TRUNC) + one aligned write; get: open(O_RDONLY
[|O_DIRECT]) + fstat + one read of the whole file; evict: unlink. Key
file names "model@world_size@worker@hash@dtype[@layer][@tag%value].pt".
Puts COUNT keys, gets each back, evicts every third and checks it is
gone; the others stay for check.py. Exits 0, or 1 with the reason.
"""
import argparse
import os

import kvclient as kc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("worker", type=int)
    ap.add_argument("world_size", type=int)
    ap.add_argument("count", type=int)
    ap.add_argument("size", type=int)
    ap.add_argument("--odirect", action="store_true")
    ap.add_argument("--layerwise", action="store_true")
    ap.add_argument("--tags", action="store_true")
    a = ap.parse_args()

    os.makedirs(a.dir, exist_ok=True)
    bs = os.statvfs(a.dir).f_bsize
    odirect = a.odirect and bs > 0 and a.size % bs == 0
    if a.odirect and not odirect:
        kc.fail(f"f_bsize {bs} does not divide {a.size}: no O_DIRECT")
    model = "meta-llama-Llama-3.1-8B-Instruct"
    names = []
    for i in range(a.count):
        key = f"{model}@{a.world_size}@{a.worker}@{(a.worker << 32) + i:x}@bfloat16"
        if a.layerwise:
            key += f"@{i % 32}"
        if a.tags:
            key += "@user%alice@lora%adapter.v2"
        names.append(key + ".pt")

    for n in names:  # put
        path = os.path.join(a.dir, n)
        data = kc.content(n, a.size)
        if odirect:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | kc.O_DIRECT, 0o644)
            try:
                w = os.write(fd, kc.aligned(data))
            finally:
                os.close(fd)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                w = os.write(fd, data)
            finally:
                os.close(fd)
        if w != a.size:
            kc.fail(f"put {n}: wrote {w} of {a.size}")

    for n in names:  # get
        path = os.path.join(a.dir, n)
        fd = os.open(path, os.O_RDONLY | (kc.O_DIRECT if odirect else 0))
        try:
            size = os.fstat(fd).st_size
            buf = kc.aligned_empty(size)
            got = os.readv(fd, [buf])
        finally:
            os.close(fd)
        kc.expect(buf[:got], n, a.size, "get")

    for n in names[::3]:  # evict
        path = os.path.join(a.dir, n)
        os.unlink(path)
        if os.path.exists(path):
            kc.fail(f"evict {n}: still there")
    print(f"worker {a.worker}: {len(names)} puts and gets, "
          f"{len(names[::3])} evictions, odirect {odirect}")


if __name__ == "__main__":
    main()
