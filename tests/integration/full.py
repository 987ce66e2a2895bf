# full.py MOUNT_DIR REF_DIR FS: what t-full.sh checks on a device running
# full, each case on MOUNT_DIR (on the mount, its device 0 being the ext4
# FS) and on REF_DIR (a directory of FS itself), which must agree: ENOSPC
# from the write itself and the file exactly what was acknowledged, the
# space back after unlink; near full, a write past the end, a trimmed
# file's next write, the 1 MiB pieces of an 8 MiB O_DIRECT write and an
# overwrite of a punched hole; EFBIG past the largest file. Every
# difference is printed (all cases run); exits 1 if there was any.

import ctypes, errno, mmap, os, sys

mount_dir, ref_dir, fs = sys.argv[1:]
bad = []
libc = ctypes.CDLL(None, use_errno=True)

# a random block a little over 1 MiB long, repeated: misplaced data shows
PERIOD = (1 << 20) + 7
BASE = os.urandom(PERIOD) * 2

def pattern(off, n):
    out = bytearray()
    while n:
        k = min(n, PERIOD)
        s = (off % PERIOD)
        out += BASE[s:s + k]
        off += k
        n -= k
    return bytes(out)

def free_blocks():
    os.sync()
    return os.statvfs(fs).f_bfree

def fill(path, chunk, direct):
    """Write CHUNK bytes at a time until a write fails."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (os.O_DIRECT if direct else 0)
    fd = os.open(path, flags, 0o644)
    buf = mmap.mmap(-1, chunk) if direct else None
    acked, err = 0, None
    while acked < (64 << 20):
        data = pattern(acked, chunk)
        try:
            if buf is not None:
                buf[:] = data
                n = os.write(fd, buf)
            else:
                n = os.write(fd, data)
        except OSError as e:
            err = e.errno
            break
        acked += n
    try:
        os.close(fd)
        close_err = None
    except OSError as e:
        close_err = e.errno
    return acked, err, close_err

def check_content(where, path, acked):
    size = os.stat(path).st_size
    if size != acked:
        bad.append(f"{where}: size {size}, but the writer was told {acked} bytes were written")
    with open(path, "rb") as f:
        got = f.read()
    want = pattern(0, acked)
    if got[:acked] != want:
        at = next((i for i in range(min(len(got), acked)) if got[i] != want[i]), min(len(got), acked))
        bad.append(f"{where}: content differs from what was written at byte {at}")

name = lambda e: errno.errorcode.get(e, e) if e else "no error"

for label, chunk, direct in (("1 MiB writes", 1 << 20, False),
                             ("1000-byte writes", 1000, False),
                             ("1 MiB O_DIRECT writes", 1 << 20, True)):
    for side, d in (("mount", mount_dir), ("ext4", ref_dir)):
        where = f"{label}, {side}"
        path = os.path.join(d, "fill")
        before = free_blocks()
        acked, err, close_err = fill(path, chunk, direct)
        if err != errno.ENOSPC:
            bad.append(f"{where}: the failing write gave {name(err)}, expected ENOSPC")
        if close_err is not None:
            bad.append(f"{where}: close gave {name(close_err)} after the write had failed")
        check_content(where, path, acked)
        os.unlink(path)
        after = free_blocks()
        if after + 4 < before:
            bad.append(f"{where}: {before - after} blocks of the device not given back after unlink")

# near full, what ext4 takes the mount takes: a stream that starts past the
# end (claiming the gap below it first would not fit), and a stream whose
# file a failed write trimmed (what it had claimed is gone with the trim)
def fill_to(left_blocks):
    p = os.path.join(fs, "filler")
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
    n = free_blocks() - left_blocks
    while n > 0:		# less what the filler's own extents take
        try:
            os.posix_fallocate(fd, os.fstat(fd).st_size, n * 4096)
            break
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
            n -= 4
    os.close(fd)
    os.sync()

def written(where, write):
    """The bytes write() made, 0 if the device was full (else noted)."""
    try:
        return write()
    except OSError as e:
        if e.errno != errno.ENOSPC:
            bad.append(f"{where} gave {name(e.errno)}")
        return 0

def close_clean(fd, where):
    """Close @fd: a failure here means a write was answered, then lost."""
    try:
        os.close(fd)
    except OSError as e:
        bad.append(f"{where}: close gave {name(e.errno)}")

def unfill():
    try:
        os.unlink(os.path.join(fs, "filler"))
    except FileNotFoundError:
        pass
    os.sync()

for side, d in (("mount", mount_dir), ("ext4", ref_dir)):
    path = os.path.join(d, "gap")
    fill_to(256)		# 1 MiB
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.pwrite(fd, pattern(0, 256 << 10), 1 << 20)
        os.close(fd)
        if os.stat(path).st_size != (1 << 20) + (256 << 10):
            bad.append(f"{side}: a write past the end, near full: wrong size")
    except OSError as e:
        bad.append(f"{side}: a write past the end, near full, gave {name(e.errno)}")
    os.unlink(path)
    unfill()

    path = os.path.join(d, "trimmed")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, pattern(0, 1 << 20))
    fill_to(0)
    try:
        os.pwrite(fd, b"x" * 100, (10 << 20) + 1)
        bad.append(f"{side}: a write onto a full device succeeded")
    except OSError as e:
        if e.errno != errno.ENOSPC:
            bad.append(f"{side}: a write onto a full device gave {name(e.errno)}")
    fill_to(0)
    acked = 1 << 20
    acked += written(f"{side}: the next write",
                     lambda: os.pwrite(fd, pattern(acked, 1 << 20), acked))
    close_clean(fd, f"{side}, after a trimmed write")
    check_content(f"{side}, after a trimmed write", path, acked)
    os.unlink(path)
    unfill()

# near full, the 1 MiB pieces of a client's 8 MiB O_DIRECT write come in
# any order: a piece answered must have its blocks, whichever came first
buf = mmap.mmap(-1, 8 << 20)
buf[:] = pattern(0, 8 << 20)
for i in range(8):
    path = os.path.join(mount_dir, "pieces")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o644)
    fill_to(1024 + (i % 4) * 128)	# 4-6 MiB left
    acked = written("8 MiB O_DIRECT write, near full", lambda: os.write(fd, buf))
    close_clean(fd, f"8 MiB O_DIRECT write of {acked} bytes, near full")
    with open(path, "rb") as f:
        got = f.read()
    if got != pattern(0, len(got)):
        bad.append(f"8 MiB O_DIRECT write of {acked} bytes, near full: {len(got)} bytes, not what was written")
    os.unlink(path)
    unfill()

# an overwrite needs no new blocks, but one into a hole punched since the
# file was last overwritten does: near full it fails at the write, as on
# ext4, and is not answered and then lost
blk = mmap.mmap(-1, 1 << 20)
blk[:] = pattern(7, 1 << 20)
for side, d in (("mount", mount_dir), ("ext4", ref_dir)):
    path = os.path.join(d, "punched")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o644)
    for off in range(0, 4 << 20, 1 << 20):
        os.pwrite(fd, blk, off)
    os.fsync(fd)
    os.pwrite(fd, blk, 0)		# an overwrite of blocks the file has
    libc.fallocate(fd, 3, ctypes.c_long(1 << 20), ctypes.c_long(2 << 20))
    fill_to(0)
    try:
        os.pwrite(fd, blk, 1 << 20)
        bad.append(f"{side}: an overwrite of a punched hole on a full device succeeded")
    except OSError as e:
        if e.errno != errno.ENOSPC:
            bad.append(f"{side}: an overwrite of a punched hole on a full device gave {name(e.errno)}")
    close_clean(fd, f"{side}, after an overwrite of a punched hole")
    os.unlink(path)
    unfill()

# past the backing filesystem's largest file (ext4 with 4 KiB blocks: 16 TiB)
for side, d in (("mount", mount_dir), ("ext4", ref_dir)):
    path = os.path.join(d, "big")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, b"head")
    for off in (16 << 40, (16 << 40) - 4096):
        try:
            os.pwrite(fd, b"HELLO", off)
            bad.append(f"{side}: a write at {off} succeeded, expected EFBIG")
        except OSError as e:
            if e.errno != errno.EFBIG:
                bad.append(f"{side}: a write at {off} gave {name(e.errno)}, expected EFBIG")
    try:
        os.ftruncate(fd, 17 << 40)
        bad.append(f"{side}: truncate to 17 TiB succeeded, expected EFBIG")
    except OSError as e:
        if e.errno != errno.EFBIG:
            bad.append(f"{side}: truncate to 17 TiB gave {name(e.errno)}, expected EFBIG")
    try:
        os.fsync(fd)
        os.close(fd)
    except OSError as e:
        bad.append(f"{side}: fsync or close gave {name(e.errno)} after the refused writes")
    size = os.stat(path).st_size
    if size != 4:
        bad.append(f"{side}: size {size} after refused writes, expected 4")
    os.unlink(path)

for line in bad:
    print("    " + line)
sys.exit(1 if bad else 0)
