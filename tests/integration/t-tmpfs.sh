#!/usr/bin/env bash
#
# t-tmpfs.sh - devices on tmpfs, whose storage is the page cache: reads
# are spliced from the backing file's pages instead of copied out with
# O_DIRECT, and writes are stored with pwrite when answered. The same
# random I/O checker as t-fsx (buffered, O_DIRECT, mmap, truncate) against
# ext4, large files read back buffered and O_DIRECT, reads racing writers,
# an unlinked open file, and a tmpfs running full.

# group: quick

. "$(dirname "$0")/lib.sh"

# tmpfs_at N SIZE: a tmpfs of SIZE at $T/tN, unmounted by the cleanup.
tmpfs_at() {
	t_tmpfs "$T/t$1" "$2" || t_fail "mounting a tmpfs at $T/t$1"
}

t_init
tmpfs_at 0 512m
tmpfs_at 1 512m
t_mount "$T/t0,$T/t1"
M=$T/mnt
t_case probed-page-cache \
	t_eq "$(grep -c 'page cache: reads spliced' "$T/log")" 2 "devices probed as page cache"
mkdir "$M/gpu0" "$M/gpu1"

# 1. random I/O on both devices at once, checked against ext4 and a model
t_case fsx t_fsx tmpfs- gpu0/a gpu1/b

# 2. whole files, odd sizes, read buffered and O_DIRECT
whole_file() {
	local size=$1
	t_rand "$T/ref/src" "$size"
	cp "$T/ref/src" "$M/gpu1/f$size"
	t_cmp "$M/gpu1/f$size" "$T/ref/src"
	echo 3 >/proc/sys/vm/drop_caches
	dd if="$M/gpu1/f$size" of="$T/ref/back" bs=1M iflag=direct status=none
	t_cmp "$T/ref/back" "$T/ref/src"
	t_eq "$(stat -c %s "${T_BACK[1]}/gpu1/f$size")" "$size" "backing size"
}
for size in 1 4095 1048577 9437185; do
	t_case "whole-file-$size" whole_file "$size"
done

# 3. readers see every byte a writer has had acknowledged
reads_behind_appends() {
	python3 - "$M/gpu0/race" <<'PY'
import os, sys
p = sys.argv[1]
fd = os.open(p, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)
r = os.open(p, os.O_RDONLY)
for i in range(300):
    chunk = bytes([i % 251]) * (4096 * (i % 7) + 1000)
    off = os.lseek(fd, 0, os.SEEK_END)
    os.write(fd, chunk)
    got = os.pread(r, len(chunk), off)
    if got != chunk:
        sys.exit("round %d: read %d bytes, differing from what was written" % (i, len(got)))
os.close(fd)
os.close(r)
PY
}
t_case reads-behind-appends reads_behind_appends

# 4. an unlinked open file still reads through its descriptor
unlinked_open() {
	t_rand "$T/ref/u" 3000000
	cp "$T/ref/u" "$M/gpu0/u"
	exec 3<"$M/gpu0/u"
	rm "$M/gpu0/u"
	echo 3 >/proc/sys/vm/drop_caches
	cmp - "$T/ref/u" <&3 || t_fail "unlinked open file reads wrong"
	exec 3<&-
}
t_case unlinked-open-file unlinked_open
t_umount_check

# 5. a max_read of the user's own (libfuse insists kernel and init agree)
t_mount "$T/t0,$T/t1" -o max_read=65536
max_read() {
	t_rand "$T/ref/m" 5000000
	cp "$T/ref/m" "$M/gpu1/m"
	echo 3 >/proc/sys/vm/drop_caches
	t_cmp "$M/gpu1/m" "$T/ref/m"
}
t_case max-read max_read
t_umount_check

# 6. a full tmpfs: the write that does not fit fails itself with ENOSPC
#    (on the tmpfs directly it is first short), buffered and O_DIRECT; the
#    file is exactly what was acknowledged
tmpfs_at 2 3m
tmpfs_at 3 3m
mkdir "$T/t3/ref"
t_mount "$T/t2,$T/t1"
mkdir -p "$M/gpu0"
full_tmpfs() {
	python3 - "$M/gpu0" "$T/t3/ref" <<'PY' || t_fail "see above"
import errno, mmap, os, sys

CHUNK = 200 * 4096	# the device's 3 MiB end in the middle of one

def fill(d, direct):
    p = os.path.join(d, "full-%d" % direct)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC |
                 (os.O_DIRECT if direct else 0), 0o644)
    buf = mmap.mmap(-1, CHUNK)
    acked, err, i = 0, None, 0
    while acked < (8 << 20):
        buf[:] = bytes([65 + i % 26]) * CHUNK
        try:
            n = os.write(fd, buf)
        except OSError as e:
            err = e.errno
            break
        acked += n		# a short write: the next one fails
        i += 1
    try:
        os.close(fd)
        cerr = None
    except OSError as e:
        cerr = e.errno
    with open(p, "rb") as f:
        data = f.read()
    ok = len(data) == acked and all(
        data[k] == 65 + (k // CHUNK) % 26 for k in range(0, len(data), 4096))
    os.unlink(p)
    return err, cerr, acked, ok

for direct in (0, 1):
    got = fill(sys.argv[1], direct)
    ref = fill(sys.argv[2], direct)
    print("direct=%d mount: errno %s, close %s, %d bytes, intact %s; tmpfs: errno %s, close %s, %d bytes, intact %s"
          % ((direct,) + got + ref))
    if got[0] != errno.ENOSPC or got[1] is not None or not got[3]:
        sys.exit("a full tmpfs device: the mount differs from tmpfs")
    if ref[0] != errno.ENOSPC or not ref[3]:
        sys.exit("the reference tmpfs did not behave as expected")
PY
}
t_case full-tmpfs full_tmpfs
t_umount_check
