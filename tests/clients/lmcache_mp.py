#!/usr/bin/env python3
"""lmcache_mp.py - the system calls of the LMCache multi-process server's
fs and fs_native L2 adapters, for the keys of one worker.

  lmcache_mp.py DIR WORLD_SIZE RANK LOCAL_WORLD_SIZE LOCAL_RANK COUNT SIZE
                [--odirect] [--native] [--tmp-dir REL] [--salt S]

start-up: mkdir -p DIR (and DIR/REL), statvfs(DIR) for O_DIRECT, and the
recovery scan (scandir + lstat of every entry). Names
"<model>@0x<kv_rank:08x>@<group hex>@<hash hex>[@salt].data" (fs_native's
older "<model>@0x<kv_rank:08x>@<hash hex>[@salt].data" with --native),
kv_rank = (world_size << 24) | (rank << 16) | (local_world_size << 8) |
local_rank. put: stat the final name (exists), write "<name>.tmp" (or
REL/<name>.data) - fs: open("wb") + write, or open(O_CREAT|O_WRONLY|
O_DIRECT) + one write; fs_native: open(O_CREAT|O_WRONLY|O_TRUNC[|O_DIRECT])
+ a write loop - then replace it over the final name. lookup: stat.
get: open + readinto until full (or O_DIRECT). evict: unlink. Every third
key is evicted and must then miss; a key never written must miss.
"""
import argparse
import os

import kvclient as kc


def write_loop(fd, view):
    done = 0
    while done < len(view):
        n = os.write(fd, view[done:])
        if n <= 0:
            kc.fail("write returned 0")
        done += n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    for f in ("world_size", "rank", "local_world_size", "local_rank",
              "count", "size"):
        ap.add_argument(f, type=int)
    ap.add_argument("--odirect", action="store_true")
    ap.add_argument("--native", action="store_true")
    ap.add_argument("--tmp-dir")
    ap.add_argument("--salt")
    a = ap.parse_args()

    os.makedirs(a.dir, exist_ok=True)
    if a.tmp_dir:
        os.makedirs(os.path.join(a.dir, a.tmp_dir), exist_ok=True)
    bs = os.statvfs(a.dir).f_bsize if a.odirect else 0
    odirect = a.odirect and bs > 0 and a.size % bs == 0
    if a.odirect and not odirect:
        kc.fail(f"f_bsize {bs} does not divide {a.size}: no O_DIRECT")
    with os.scandir(a.dir) as it:  # recover_on_start
        for e in it:
            # as the adapter does: a file another worker removed between
            # the listing and the stat is skipped
            try:
                if e.is_file(follow_symlinks=False):
                    e.stat(follow_symlinks=False)
            except OSError:
                continue

    kv = (a.world_size << 24) | (a.rank << 16) | \
        (a.local_world_size << 8) | a.local_rank
    model = "Qwen-SEP-Qwen3-8B"
    names = []
    for i in range(a.count):
        h = f"{(a.rank << 40) + i:064x}"
        if a.native:
            n = f"{model}@0x{kv:08x}@{h}"
        else:
            n = f"{model}@0x{kv:08x}@{i % 3:x}@{h}"
        if a.salt:
            n += f"@{a.salt}"
        names.append(n + ".data")

    for n in names:  # store
        final = os.path.join(a.dir, n)
        if os.path.exists(final):
            continue
        if a.tmp_dir:
            tmp = os.path.join(a.dir, a.tmp_dir, n)
        else:
            tmp = final[: -len(".data")] + ".tmp"
        data = kc.content(n, a.size)
        if a.native:
            flags = os.O_CREAT | os.O_WRONLY | os.O_TRUNC
            fd = os.open(tmp, flags | (kc.O_DIRECT if odirect else 0), 0o644)
            try:
                write_loop(fd, kc.aligned(data) if odirect else memoryview(data))
            finally:
                os.close(fd)
        elif odirect:
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | kc.O_DIRECT, 0o644)
            try:
                os.write(fd, kc.aligned(data))
            finally:
                os.close(fd)
        else:
            with open(tmp, "wb") as f:
                f.write(data)
        os.replace(tmp, final)

    for n in names:  # lookup (stat), then load
        final = os.path.join(a.dir, n)
        if not os.path.exists(final):
            kc.fail(f"lookup {n}: a miss after the store")
        buf = kc.aligned_empty(a.size)
        if odirect:
            fd = os.open(final, os.O_RDONLY | kc.O_DIRECT)
            with os.fdopen(fd, "rb", buffering=0) as f:
                got = 0
                while got < a.size:
                    r = f.readinto(buf[got:])
                    if not r:
                        break
                    got += r
        else:
            with open(final, "rb") as f:
                got = 0
                while got < a.size:
                    r = f.readinto(buf[got:])
                    if not r:
                        break
                    got += r
        kc.expect(buf[:got], n, a.size, "load")

    missing = os.path.join(a.dir, f"{model}@0x{kv:08x}@0@{'f' * 64}.data")
    if os.path.exists(missing):
        kc.fail("lookup of a key never stored: a hit")
    for n in names[::3]:  # delete
        final = os.path.join(a.dir, n)
        os.unlink(final)
        if os.path.exists(final):
            kc.fail(f"delete {n}: still there")
    print(f"kv_rank 0x{kv:08x}: {len(names)} stores and loads, "
          f"{len(names[::3])} deletes, odirect {odirect}, "
          f"native {a.native}")


if __name__ == "__main__":
    main()
