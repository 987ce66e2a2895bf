#!/usr/bin/env bash
#
# t-tmpfs.sh - devices on tmpfs, whose storage is the page cache: reads
# are spliced from the backing file's pages instead of copied out with
# O_DIRECT. The same random I/O checker as t-fsx (buffered, O_DIRECT, mmap,
# truncate, write-behind in flight) against ext4, large files read back
# buffered and O_DIRECT, reads racing writers, and an unlinked open file.

. "$(dirname "$0")/lib.sh"

t_init
for i in 0 1; do
	mkdir "$T/t$i"
	mount -t tmpfs -o size=512m "kvstripe-test-$i" "$T/t$i"
	T_FSMOUNTS+=("$T/t$i")
done
t_mount "$T/t0,$T/t1"
M=$T/mnt
t_eq "$(grep -c 'page cache: reads spliced' "$T/log")" 2 "devices probed as page cache"
mkdir "$M/gpu0" "$M/gpu1"

# 1. random I/O on both devices at once, checked against ext4 and a model
t_fsx tmpfs- gpu0/a gpu1/b

# 2. whole files, odd sizes, read buffered and O_DIRECT
for size in 1 4095 1048577 9437185; do
	t_rand "$T/ref/src" "$size"
	cp "$T/ref/src" "$M/gpu1/f$size"
	t_cmp "$M/gpu1/f$size" "$T/ref/src"
	echo 3 >/proc/sys/vm/drop_caches
	dd if="$M/gpu1/f$size" of="$T/ref/back" bs=1M iflag=direct status=none
	t_cmp "$T/ref/back" "$T/ref/src"
	t_eq "$(stat -c %s "${T_BACK[1]}/gpu1/f$size")" "$size" "backing size"
done

# 3. readers see every byte a writer has had acknowledged
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

# 4. an unlinked open file still reads through its descriptor
t_rand "$T/ref/u" 3000000
cp "$T/ref/u" "$M/gpu0/u"
exec 3<"$M/gpu0/u"
rm "$M/gpu0/u"
echo 3 >/proc/sys/vm/drop_caches
cmp - "$T/ref/u" <&3 || t_fail "unlinked open file reads wrong"
exec 3<&-
t_umount_check

# 5. a max_read of the user's own (libfuse insists kernel and init agree)
t_mount "$T/t0,$T/t1" -o max_read=65536
t_rand "$T/ref/m" 5000000
cp "$T/ref/m" "$M/gpu1/m"
echo 3 >/proc/sys/vm/drop_caches
t_cmp "$M/gpu1/m" "$T/ref/m"
t_umount_check
