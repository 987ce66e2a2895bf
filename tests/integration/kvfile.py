#!/usr/bin/env python3
"""kvfile.py - KV files whose content follows from their names.

A file is named W-I-SIZE: writer W's I-th file, SIZE bytes. Its content is
pattern(name, size): chunk k (1 MiB, the last one shorter) is a slice of
seeded random bytes at an offset set by the name and k, so a chunk in the
wrong place, zeros or a prefix never pass for the file.

  kvfile.py put DIR LIST W DIRECT STYLE
      Write files W-0-*, W-1-*, ... into DIR until an error; sizes 4 to
      80 MiB (some a multiple of 1 MiB, some of 4 KiB only, most of
      neither). DIRECT 1: O_DIRECT (page-aligned buffers), else buffered.
      STYLE whole: one write() a file; small: many writes (O_DIRECT: 4 KiB
      to 1 MiB, multiples of 4 KiB; buffered: 1 byte to 256 KiB). Each
      file whose close() returned 0 is appended to LIST, fsync'd. Exits 0
      when the daemon goes away (ENOTCONN, ECONNABORTED, EIO), 1 on any
      other error.
  kvfile.py check MNT TORN LIST... [-- BACKING...]
      Read back every file below MNT whose name has the W-I-SIZE form
      (half of them with O_DIRECT, by name): a file named in a LIST must
      read back exact; any other must read back exact or fail with EIO
      (or, empty, say "torn" in user.kvstripe.state); a file that fails
      is never larger than SIZE. With BACKING directories, the files
      listed through MNT must be those on them. Writes the torn ones
      (their paths below MNT) to TORN, sorted, the empty ones to
      TORN.empty. Exits 1 on any breach.
"""
import errno
import mmap
import os
import random
import sys
import zlib

MIB = 1 << 20
GONE = (errno.ENOTCONN, errno.ECONNABORTED, errno.EIO)


_base = []


def pattern(name, size):
    """The content of file NAME of SIZE bytes: chunk k is 1 MiB (or what
    is left) of one block of seeded random bytes, from an offset set by
    the name and k (cheap to make: the writers spend their time writing)."""
    if not _base:
        _base.append(random.Random("kvfile").randbytes(5 * MIB))
    base, h = _base[0], zlib.crc32(name.encode())
    out = bytearray(size)
    for k in range(0, (size + MIB - 1) // MIB):
        n = min(MIB, size - k * MIB)
        off = (h + k * (MIB + 4099)) % (4 * MIB)
        out[k * MIB:k * MIB + n] = base[off:off + n]
    return out


def pick_size(rng):
    kind = rng.randrange(3)
    if kind == 0:
        return rng.randrange(4, 81) * MIB
    if kind == 1:
        return rng.randrange(4 * MIB // 4096, 80 * MIB // 4096) * 4096
    return rng.randrange(4 * MIB, 80 * MIB)


def put_one(path, size, direct, whole, rng):
    buf = mmap.mmap(-1, (size + 4095) // 4096 * 4096)
    buf.write(pattern(os.path.basename(path), size))
    view = memoryview(buf)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_DIRECT if direct else os.O_TRUNC)
    fd = os.open(path, flags, 0o644)
    off = 0
    while off < size:
        if whole:
            n = size - off
        elif direct:
            n = min(rng.randrange(1, 257) * 4096, size - off)
        else:
            n = min(rng.randrange(1, 256 << 10), size - off)
        got = os.write(fd, view[off:off + n])
        if got <= 0:
            raise OSError(errno.EIO, f"write returned {got}")
        off += got
    os.close(fd)


def put(d, listf, w, direct, style):
    rng = random.Random(f"put/{w}/{direct}/{style}")
    out = os.open(listf, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    i = 0
    while True:
        size = pick_size(rng)
        name = f"{w}-{i}-{size}"
        try:
            put_one(os.path.join(d, name), size, direct == "1",
                    style == "whole", rng)
        except OSError as e:
            if e.errno in GONE:
                return 0
            print(f"{name}: {e}", file=sys.stderr)
            return 1
        os.write(out, f"{name}\n".encode())
        os.fsync(out)
        i += 1


def read_all(path, direct, size):
    """The bytes a reader gets from PATH until end of file."""
    if not direct:
        with open(path, "rb", buffering=0) as f:
            out = bytearray()
            while True:
                b = f.read(4 * MIB)
                if not b:
                    return bytes(out)
                out += b
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    try:
        buf = mmap.mmap(-1, (size + MIB) // 4096 * 4096 + 4096)
        off = 0
        while True:
            n = os.preadv(fd, [memoryview(buf)[off:]], off)
            if n == 0 or off + n >= len(buf):
                return bytes(buf[:off + n])
            off += n
    finally:
        os.close(fd)


def first_diff(a, b):
    n = min(len(a), len(b))
    blk = next((i for i in range(0, n, 4096)
                if a[i:i + 4096] != b[i:i + 4096]), n)
    return next((i for i in range(blk, min(n, blk + 4096))
                 if a[i] != b[i]), n)


def parse(name):
    w = name.rsplit("-", 2)
    if len(w) != 3 or not (w[1].isdigit() and w[2].isdigit()):
        return None
    return int(w[2])


def check(mnt, tornf, lists, backing):
    closed = set()
    for listf in lists:
        with open(listf) as f:
            closed.update(line.strip() for line in f if line.strip())
    bad, torn, empty, whole, seen = [], [], [], 0, set()
    for root, _, files in os.walk(mnt):
        for name in sorted(files):
            size = parse(name)
            if size is None:
                continue
            p = os.path.join(root, name)
            rel = os.path.relpath(p, mnt)
            seen.add(name)
            direct = zlib.crc32(name.encode()) & 1
            how = "O_DIRECT" if direct else "buffered"
            tag = " (closed)" if name in closed else ""
            try:
                got = read_all(p, direct, size)
            except OSError as e:
                if e.errno != errno.EIO or name in closed:
                    bad.append(f"{rel}: {how} read: {e}{tag}")
                    continue
                st = os.stat(p).st_size
                if st > size:
                    bad.append(f"{rel}: torn, size {st} past the {size} meant")
                torn.append(rel)
                continue
            if got == pattern(name, size):
                st = os.stat(p).st_size
                if st != size:
                    bad.append(f"{rel}: read back whole, but its size is {st}")
                whole += 1
                continue
            state = os.getxattr(p, "user.kvstripe.state").decode()
            if not got and name not in closed and state == "torn":
                torn.append(rel)
                continue
            # Killed between the backing file's create and its mark: an
            # empty file no reader of that size takes, but not torn.
            if not got and name not in closed and state == "closed":
                empty.append(rel)
                continue
            want = pattern(name, size)
            at = first_diff(got, want)
            zeros = got[at:].count(0) == len(got) - at
            bad.append(f"{rel}: {how} read {len(got)} bytes of {size}, "
                       f"first wrong at {at}{' (zeros from there)' if zeros else ''}"
                       f", state {state}{tag}")
    for name in sorted(closed - seen):
        bad.append(f"{name}: closed, but not listed")
    if backing:
        on_dev = set()
        for b in backing:
            for _, _, files in os.walk(b):
                on_dev.update(n for n in files if parse(n) is not None)
        if on_dev != seen:
            bad.append(f"listed through the mount but on no device: "
                       f"{sorted(seen - on_dev)}; on a device, not listed: "
                       f"{sorted(on_dev - seen)}")
    with open(tornf, "w") as f:
        f.writelines(f"{t}\n" for t in sorted(torn))
    with open(tornf + ".empty", "w") as f:
        f.writelines(f"{t}\n" for t in sorted(empty))
    for b in bad:
        print(b)
    for e in empty:
        print(f"{e}: empty and unmarked (killed between create and mark)")
    print(f"whole {whole} torn {len(torn)} empty {len(empty)} "
          f"closed {len(closed)} bad {len(bad)}")
    return 1 if bad else 0


def main(argv):
    if len(argv) == 6 and argv[0] == "put":
        return put(*argv[1:])
    if len(argv) >= 3 and argv[0] == "check":
        rest = argv[3:]
        backing = []
        if "--" in rest:
            backing = rest[rest.index("--") + 1:]
            rest = rest[:rest.index("--")]
        return check(argv[1], argv[2], rest, backing)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
