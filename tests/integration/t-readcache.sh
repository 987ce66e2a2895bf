#!/usr/bin/env bash
#
# t-readcache.sh - buffered readers read past the kernel's page cache by
# default (read_cache=no): an open for reading alone of a file of 1 MiB
# and more gets direct_io. Checked: the bytes a reader gets (large and
# small reads), that nothing of such a file lands in the page cache while
# a small file's pages stay, that its st_blksize is the largest READ,
# that shared mappings of a reader's open work and that its reads see a
# writer's mapped stores at once (as on the reference directory), that
# programs on the mount run, and that -o read_cache brings the page
# cache and the backing st_blksize back. The page cache is measured
# with cachestat(2), which maps nothing: a mapping through a direct_io
# open (fincore's) would empty the file's cache as it looks.

# group: quick

. "$(dirname "$0")/lib.sh"

t_setup 2
M=$T/mnt
mkdir "$M/gpu0" "$T/ref/gpu0"

# resident FILE: bytes of FILE in the page cache
resident() {
	python3 - "$1" <<'EOF'
import ctypes, os, sys
class Range(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]
class Stat(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in
                ("cache", "dirty", "writeback", "evicted", "recent")]
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(sys.argv[1], os.O_RDONLY)
st = Stat()
if libc.syscall(451, fd, ctypes.byref(Range(0, 0)), ctypes.byref(st), 0):
    sys.exit("cachestat: " + os.strerror(ctypes.get_errno()))
print(st.cache * os.sysconf("SC_PAGE_SIZE"))
EOF
}

# read_cached NAME: read gpu0/NAME (checking its bytes), then print how
# much of it is cached. Another process's drop_caches between the two
# would read as nothing cached: up to 5 tries until some is.
read_cached() {
	local i n
	for ((i = 0; i < 5; i++)); do
		cmp "$M/gpu0/$1" "$T/ref/gpu0/$1"
		n=$(resident "$M/gpu0/$1")
		[ "$n" = 0 ] || break
	done
	echo "$n"
}

# put FILE BYTES: FILE of BYTES random bytes, its reference copy in ref/
put() {
	head -c "$2" /dev/urandom >"$T/ref/gpu0/$1"
	cp "$T/ref/gpu0/$1" "$M/gpu0/$1"
}

# A KV get (one read of the whole file) and small reads return the bytes
# written and leave none of them in the page cache.
past_cache() {
	put chunk $((16 << 20))
	echo 3 >/proc/sys/vm/drop_caches
	python3 -c 'import sys; sys.stdout.buffer.write(open(sys.argv[1], "rb").read())' \
		"$M/gpu0/chunk" | cmp - "$T/ref/gpu0/chunk"
	dd if="$M/gpu0/chunk" bs=4k status=none | cmp - "$T/ref/gpu0/chunk"
	dd if="$M/gpu0/chunk" bs=3000 skip=7 status=none |
		cmp - <(dd if="$T/ref/gpu0/chunk" bs=3000 skip=7 status=none)
	t_eq "$(resident "$M/gpu0/chunk")" 0 "bytes of a read file cached"
	# its preferred I/O size is the largest READ, so cat reads 1 MiB
	t_eq "$(stat -c %o "$M/gpu0/chunk")" 1048576 "st_blksize"
}
t_case past-cache past_cache

# A file smaller than one READ (1 MiB) keeps the page cache: read again,
# or in small pieces, it costs no round trips.
small_cached() {
	put small 65536
	echo 3 >/proc/sys/vm/drop_caches
	t_eq "$(read_cached small)" 65536 "bytes of a small file cached"
	t_eq "$(stat -c %o "$M/gpu0/small")" "$(stat -c %o "$T/b0")" \
		"st_blksize of a small file"
}
t_case small-cached small_cached

# Mappings of a 4 MiB file, on the mount and on the reference: a shared
# read-only map of a reader's open (refused without the kernel's
# FUSE_DIRECT_IO_ALLOW_MMAP), a writer's shared map whose stores the
# reader's reads and map see at once, and after the writer is gone.
maps() {
	python3 - "$1/gpu0/map" <<'EOF'
import mmap, os, sys
p = sys.argv[1]
with open(p, "wb") as f:
    f.write(bytes(range(256)) * 16384)
r = os.open(p, os.O_RDONLY)
print("read", os.pread(r, 4, 1 << 20).hex())
m = mmap.mmap(r, 0, mmap.MAP_SHARED, mmap.PROT_READ)
print("ro map", m[:4].hex(), len(m))
w = os.open(p, os.O_RDWR)
mw = mmap.mmap(w, 0, mmap.MAP_SHARED)
mw[100:105] = b"HELLO"
mw[(3 << 20) + 7:(3 << 20) + 12] = b"WORLD"
print("reader sees", os.pread(r, 5, 100), os.pread(r, 5, (3 << 20) + 7))
print("ro map sees", bytes(m[100:105]))
r2 = os.open(p, os.O_RDONLY)
print("new reader sees", os.pread(r2, 5, 100))
os.close(r2)
mw.close()
os.close(w)
print("after unmap", os.pread(r, 5, (3 << 20) + 7))
m.close()
os.close(r)
EOF
}
shared_maps() {
	local want got
	want=$(maps "$T/ref")
	got=$(maps "$M")
	t_eq "$got" "$want" "mappings"
}
t_case shared-maps shared_maps

# Programs on the mount run (execve maps them), one of 2 MiB too (padding
# after an ELF is ignored).
run_from_mount() {
	cp /bin/echo "$M/gpu0/echo"
	cp /bin/echo "$M/gpu0/echo2m"
	truncate -s 2M "$M/gpu0/echo2m"
	t_eq "$("$M/gpu0/echo" ran)" ran "a program on the mount"
	t_eq "$("$M/gpu0/echo2m" ran)" ran "a 2 MiB program on the mount"
	t_eq "$("$M/gpu0/echo2m" again)" again "a 2 MiB program run again"
}
t_case exec run_from_mount

t_umount_check

# -o read_cache: buffered reads fill the page cache again.
t_mount "$T_SRC" -o read_cache
cached() {
	echo 3 >/proc/sys/vm/drop_caches
	[ "$(read_cached chunk)" -gt 0 ] ||
		t_fail "read_cache: nothing of a read file in the page cache"
	t_eq "$(stat -c %o "$M/gpu0/chunk")" "$(stat -c %o "$T/b0")" \
		"read_cache: st_blksize"
}
t_case read-cache cached

t_umount_check
