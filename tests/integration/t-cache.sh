#!/usr/bin/env bash
#
# t-cache.sh - the kernel keeps a file's pages across opens (keep_cache):
# whatever changes a file must still be seen by the next reader. Replaced
# files (whose backing inode numbers get reused), O_DIRECT writes under
# cached pages, truncation and rename-over.

. "$(dirname "$0")/lib.sh"

t_setup 2
M=$T/mnt
mkdir "$M/gpu0"

python3 - "$M/gpu0" <<'EOF2'
import os, sys, mmap
d = sys.argv[1]
p = os.path.join(d, "chunk")

def put(path, data, direct=False):
    flags = os.O_WRONLY | os.O_CREAT | (0 if direct else os.O_TRUNC)
    if direct:
        flags |= os.O_DIRECT
        buf = mmap.mmap(-1, len(data))
        buf[:] = data
        data = memoryview(buf)
    fd = os.open(path, flags, 0o644)
    os.write(fd, data)
    os.close(fd)

def get(path):
    with open(path, "rb") as f:
        return f.read()

# 1. unlink and recreate: inode numbers are reused, pages must not be
for i in range(200):
    data = bytes([i % 251]) * 8192
    put(p, data)
    if get(p) != data or get(p) != data:
        sys.exit(f"round {i}: recreated file shows old content")
    os.unlink(p)

# 2. an O_DIRECT write under pages another reader cached
put(p, b"a" * 65536)
assert get(p) == b"a" * 65536
put(p, b"b" * 65536, direct=True)
if get(p) != b"b" * 65536:
    sys.exit("O_DIRECT write not seen by a buffered reader")

# 3. truncate and rewrite shorter
put(p, b"c" * 1000)
if get(p) != b"c" * 1000:
    sys.exit("truncated rewrite shows stale bytes")

# 4. rename over a cached file
q = os.path.join(d, "other")
put(q, b"d" * 3000)
get(p)
os.rename(q, p)
if get(p) != b"d" * 3000:
    sys.exit("rename over a cached file shows the old file")
EOF2
t_umount_check
