#!/usr/bin/env python3
"""vllm_fs.py - the system calls of vLLM's fs offload tier for one rank.

  vllm_fs.py ROOT RANK COUNT BLOCK_SIZE [--buffered]

start-up: mkdir -p "<ROOT>/<model>_<hash12>", config.json in it unless it
exists, and the O_DIRECT probe: ".o_direct_probe_<N>.tmp" there,
open(O_CREAT|O_WRONLY|O_TRUNC|O_DIRECT) + one page + close + remove.
Blocks live in "<base>_r<rank>/<hhh>/<hh>_g<g>/<hash>.bin". store: stat
the file (exists), mkdir -p its directory, open "<file>_<N>.tmp" with
O_CREAT|O_EXCL|O_WRONLY|O_TRUNC(|O_DIRECT) + one write + close, replace.
lookup: stat. load: open(O_RDONLY(|O_DIRECT)) + one readv; a short read
removes the file and fails. Every third block is removed afterwards (as
vLLM's eviction does) and must then miss.
"""
import argparse
import hashlib
import json
import mmap
import os
import random

import kvclient as kc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("rank", type=int)
    ap.add_argument("count", type=int)
    ap.add_argument("block_size", type=int)
    ap.add_argument("--buffered", action="store_true")
    a = ap.parse_args()

    rnd = random.Random()
    suffix = f"_{rnd.randint(0, 2**63 - 1)}.tmp"
    base = os.path.join(a.root, "Qwen_Qwen3-8B_0123456789ab")
    os.makedirs(base, exist_ok=True)
    cfg = os.path.join(base, "config.json")
    if not os.path.exists(cfg):
        try:
            with open(cfg, "x") as f:
                json.dump({"model_name": "Qwen/Qwen3-8B"}, f)
        except FileExistsError:
            pass  # another rank was first
    use_odirect = False
    if not a.buffered:
        probe = os.path.join(base, f".o_direct_probe{suffix}")
        page = mmap.mmap(-1, mmap.PAGESIZE)
        try:
            fd = os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_TRUNC |
                         kc.O_DIRECT, 0o644)
            try:
                os.write(fd, page)
            finally:
                os.close(fd)
            use_odirect = True
        except OSError as e:
            kc.fail(f"O_DIRECT probe: {e}")
        finally:
            if os.path.exists(probe):
                os.remove(probe)
    odirect = kc.O_DIRECT if use_odirect else 0

    paths = []
    for i in range(a.count):
        h = hashlib.sha256(f"{a.rank}-{i}".encode()).hexdigest()
        paths.append(f"{base}_r{a.rank}/{h[:3]}/{h[3:5]}_g{i % 2}/{h}.bin")

    for p in paths:  # store
        if os.path.exists(p):
            continue
        tmp = p + suffix
        os.makedirs(os.path.dirname(p), exist_ok=True)
        data = kc.content(os.path.basename(p), a.block_size)
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY |
                     os.O_TRUNC | odirect, 0o644)
        try:
            w = os.write(fd, kc.aligned(data))
        finally:
            os.close(fd)
        if w < len(data):
            kc.fail(f"short write {w}")
        os.replace(tmp, p)

    for p in paths:  # lookup, load
        if not os.path.exists(p):
            kc.fail(f"lookup {p}: a miss after the store")
        buf = kc.aligned_empty(a.block_size)
        fd = os.open(p, os.O_RDONLY | odirect)
        try:
            got = os.readv(fd, [buf])
        finally:
            os.close(fd)
        if got < a.block_size:
            os.remove(p)
            kc.fail(f"load {p}: short read {got}")
        kc.expect(buf, os.path.basename(p), a.block_size, "load")

    for p in paths[::3]:
        os.remove(p)
        if os.path.exists(p):
            kc.fail(f"remove {p}: still there")
    print(f"rank {a.rank}: {len(paths)} stores and loads, "
          f"odirect {bool(odirect)}")


if __name__ == "__main__":
    main()
