#!/usr/bin/env python3
"""fsx.py - random file operations on a kvstripe file and an ext4 file.

Usage: fsx.py MOUNT_FILE REF_FILE SEED NOPS

Runs the same seeded sequence of writes (buffered, O_APPEND, O_DIRECT),
reads, truncates, mmap reads and writes, reopens and closes against both
files and against an in-memory model, and checks after every read and at
the end that all three agree. O_DIRECT is used aligned on both files and,
on the mount only, with unaligned buffers, offsets and lengths (the daemon
realigns them; ext4 would refuse). Exits 1 on the first difference.
"""
import mmap
import os
import random
import sys

MAX_SIZE = 3 << 20
ALIGN = 4096


class Files:
    """One path opened several ways; the descriptors come and go."""

    def __init__(self, path):
        self.path = path
        self.fds = {}

    def fd(self, kind):
        if kind not in self.fds:
            flags = {
                "rw": os.O_RDWR,
                "append": os.O_WRONLY | os.O_APPEND,
                "direct": os.O_RDWR | os.O_DIRECT,
            }[kind]
            self.fds[kind] = os.open(self.path, flags)
        return self.fds[kind]

    def close(self, kind=None):
        for k in list(self.fds):
            if kind is None or k == kind:
                os.close(self.fds.pop(k))


def fail(step, what):
    print(f"fsx: step {step}: {what}", file=sys.stderr)
    sys.exit(1)


def aligned_buf(data):
    """A page-aligned buffer holding data (for O_DIRECT)."""
    m = mmap.mmap(-1, max(len(data), 1))
    m[: len(data)] = data
    return m


def check_read(step, mnt, ref, model, off, length):
    want = bytes(model[off : off + length])
    got_m = os.pread(mnt.fd("rw"), length, off)
    got_r = os.pread(ref.fd("rw"), length, off)
    if got_r != want:
        fail(step, f"reference disagrees with model at {off}+{length}")
    if got_m != want:
        first = next(
            (i for i in range(min(len(got_m), len(want))) if got_m[i] != want[i]),
            min(len(got_m), len(want)),
        )
        fail(
            step,
            f"read {off}+{length}: got {len(got_m)} bytes, want {len(want)}; "
            f"first difference at {off + first}",
        )


def main():
    mpath, rpath, seed, nops = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    rnd = random.Random(seed)
    for p in (mpath, rpath):
        os.close(os.open(p, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o644))
    mnt, ref = Files(mpath), Files(rpath)
    model = bytearray()

    for step in range(nops):
        op = rnd.choice(
            ["write"] * 6 + ["append", "direct", "direct_odd", "read", "read",
             "trunc", "mmap_read", "mmap_write", "reopen", "stat"]
        )
        if op == "write":
            off = rnd.randrange(0, MAX_SIZE)
            data = rnd.randbytes(rnd.choice([1, 7, 511, 4095, 4097, rnd.randrange(1, 300000)]))
            for f in (mnt, ref):
                os.pwrite(f.fd("rw"), data, off)
            if off > len(model):
                model.extend(bytes(off - len(model)))
            model[off : off + len(data)] = data
        elif op == "append":
            data = rnd.randbytes(rnd.randrange(1, 70000))
            for f in (mnt, ref):
                os.write(f.fd("append"), data)
            model.extend(data)
        elif op == "direct":
            off = rnd.randrange(0, MAX_SIZE // ALIGN) * ALIGN
            n = rnd.randrange(1, 64) * ALIGN
            if rnd.random() < 0.5:
                data = rnd.randbytes(n)
                buf = aligned_buf(data)
                for f in (mnt, ref):
                    os.pwrite(f.fd("direct"), memoryview(buf)[:n], off)
                if off > len(model):
                    model.extend(bytes(off - len(model)))
                model[off : off + n] = data
            else:
                want = bytes(model[off : off + n])
                for f, name in ((mnt, "mount"), (ref, "ref")):
                    buf = aligned_buf(bytes(n))
                    got = os.preadv(f.fd("direct"), [memoryview(buf)[:n]], off)
                    if bytes(buf[:got]) != want:
                        fail(step, f"O_DIRECT read on {name} at {off}+{n} differs")
        elif op == "direct_odd":
            # unaligned O_DIRECT: the mount must take it; ext4 would not
            off = rnd.randrange(0, MAX_SIZE)
            data = rnd.randbytes(rnd.randrange(1, 200000))
            buf = bytearray(len(data) + 1)
            buf[1:] = data
            os.pwrite(mnt.fd("direct"), memoryview(buf)[1:], off)
            os.pwrite(ref.fd("rw"), data, off)
            if off > len(model):
                model.extend(bytes(off - len(model)))
            model[off : off + len(data)] = data
        elif op == "read":
            off = rnd.randrange(0, len(model) + 4096)
            check_read(step, mnt, ref, model, off, rnd.randrange(1, 400000))
        elif op == "trunc":
            size = rnd.choice([0, rnd.randrange(0, MAX_SIZE), len(model) + rnd.randrange(1, 10000)])
            for f in (mnt, ref):
                os.ftruncate(f.fd("rw"), size)
            if size < len(model):
                del model[size:]
            else:
                model.extend(bytes(size - len(model)))
        elif op in ("mmap_read", "mmap_write") and len(model) > 0:
            off = rnd.randrange(0, len(model))
            n = rnd.randrange(1, min(len(model) - off, 100000) + 1)
            if op == "mmap_write":
                data = rnd.randbytes(n)
                for f in (mnt, ref):
                    with mmap.mmap(f.fd("rw"), len(model)) as m:
                        m[off : off + n] = data
                        m.flush()
                model[off : off + n] = data
            for f, name in ((mnt, "mount"), (ref, "ref")):
                with mmap.mmap(f.fd("rw"), len(model), prot=mmap.PROT_READ) as m:
                    if m[off : off + n] != model[off : off + n]:
                        fail(step, f"mmap read on {name} at {off}+{n} differs")
        elif op == "reopen":
            which = rnd.choice([None, "rw", "append", "direct"])
            mnt.close(which)
            ref.close(which)
        elif op == "stat":
            for f, name in ((mnt, "mount"), (ref, "ref")):
                size = os.fstat(f.fd("rw")).st_size
                if size != len(model):
                    fail(step, f"fstat on {name}: size {size}, model {len(model)}")

    mnt.close()
    ref.close()
    if os.stat(mpath).st_size != len(model):
        fail(nops, f"final size {os.stat(mpath).st_size}, model {len(model)}")
    with open(mpath, "rb") as f:
        if f.read() != model:
            fail(nops, "final content differs")
    with open(rpath, "rb") as f:
        if f.read() != model:
            fail(nops, "reference final content differs")


if __name__ == "__main__":
    main()
