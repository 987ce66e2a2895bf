#!/usr/bin/env bash
#
# t-readcache.sh - buffered readers read past the kernel's page cache by
# default (read_cache=no): an open for reading alone of a file of 1 MiB
# and more gets direct_io while no handle is open for writing. Checked: the bytes a reader gets (large
# and small reads), that nothing of the file lands in the page cache, that
# shared mappings still work and see a writer's mapped stores, that a
# reader opened beside a writer reads through the cache (so it sees what
# a shared writable mapping dirtied), that a program on the mount runs,
# and that -o read_cache brings the page cache back.

# group: quick

. "$(dirname "$0")/lib.sh"

t_setup 2
M=$T/mnt
mkdir "$M/gpu0" "$T/ref/gpu0"

# resident FILE: bytes of FILE in the page cache
resident() {
	fincore -nb -o RES "$1" | tr -d " "
}

# put FILE MIB: FILE of MIB MiB of random bytes, its reference copy in ref/
put() {
	head -c "$(($2 << 20))" /dev/urandom >"$T/ref/gpu0/$1"
	cp "$T/ref/gpu0/$1" "$M/gpu0/$1"
}

# A KV get (one read of the whole file) and small reads return the bytes
# written, and leave none of them in the page cache; a small file's stay.
past_cache() {
	put chunk 16
	echo 3 >/proc/sys/vm/drop_caches
	python3 -c 'import sys; sys.stdout.buffer.write(open(sys.argv[1], "rb").read())' \
		"$M/gpu0/chunk" | cmp - "$T/ref/gpu0/chunk"
	dd if="$M/gpu0/chunk" bs=4k status=none | cmp - "$T/ref/gpu0/chunk"
	dd if="$M/gpu0/chunk" bs=3000 skip=7 status=none |
		cmp - <(dd if="$T/ref/gpu0/chunk" bs=3000 skip=7 status=none)
	t_eq "$(resident "$M/gpu0/chunk")" 0 "bytes of a read file cached"
}
t_case past-cache past_cache

# A file smaller than one READ (1 MiB) keeps the page cache: read again,
# or in small pieces, it costs no round trips.
small_cached() {
	head -c 65536 /dev/urandom >"$T/ref/gpu0/small"
	cp "$T/ref/gpu0/small" "$M/gpu0/small"
	echo 3 >/proc/sys/vm/drop_caches
	cmp "$M/gpu0/small" "$T/ref/gpu0/small"
	t_eq "$(resident "$M/gpu0/small")" 65536 "bytes of a small file cached"
}
t_case small-cached small_cached

# Mappings, on the mount and on the reference: a shared read-only map of
# a reader's open, a writer's shared map, and a reader opened while that
# map holds unwritten stores must see them.
maps() {
	python3 - "$1/gpu0/map" <<'EOF'
import mmap, os, sys
p = sys.argv[1]
with open(p, "wb") as f:
    f.write(bytes(range(256)) * 64)
r = os.open(p, os.O_RDONLY)
m = mmap.mmap(r, 0, mmap.MAP_SHARED, mmap.PROT_READ)
print("ro map", m[:4].hex(), len(m))
w = os.open(p, os.O_RDWR)
mw = mmap.mmap(w, 0, mmap.MAP_SHARED)
mw[100:105] = b"HELLO"
print("ro map sees", bytes(m[100:105]))
r2 = os.open(p, os.O_RDONLY)
print("new reader sees", os.pread(r2, 5, 100))
os.close(r2)
mw.close()
os.close(w)
r3 = os.open(p, os.O_RDONLY)
print("after unmap", os.pread(r3, 5, 100))
os.close(r3)
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

# A reader opened while a writer holds the file open reads through the
# page cache; once the writer is gone, readers read past it again.
beside_writer() {
	put w 4
	exec {wfd}<>"$M/gpu0/w"
	echo 3 >/proc/sys/vm/drop_caches
	cmp "$M/gpu0/w" "$T/ref/gpu0/w"
	[ "$(resident "$M/gpu0/w")" -gt 0 ] ||
		t_fail "a reader beside a writer did not read through the cache"
	exec {wfd}>&-
	echo 3 >/proc/sys/vm/drop_caches
	cmp "$M/gpu0/w" "$T/ref/gpu0/w"
	t_eq "$(resident "$M/gpu0/w")" 0 "bytes cached after the writer closed"
}
t_case beside-writer beside_writer

# A program on the mount runs (exec maps it privately), one of 2 MiB too,
# whose opens read past the page cache (padding after an ELF is ignored).
run_from_mount() {
	cp /bin/echo "$M/gpu0/echo"
	cp /bin/echo "$M/gpu0/echo2m"
	truncate -s 2M "$M/gpu0/echo2m"
	t_eq "$("$M/gpu0/echo" ran)" ran "a program on the mount"
	t_eq "$("$M/gpu0/echo2m" ran)" ran "a 2 MiB program on the mount"
}
t_case exec run_from_mount

t_umount_check

# -o read_cache: buffered reads fill the page cache again.
t_mount "$T_SRC" -o read_cache
cached() {
	echo 3 >/proc/sys/vm/drop_caches
	cmp "$M/gpu0/chunk" "$T/ref/gpu0/chunk"
	[ "$(resident "$M/gpu0/chunk")" -gt 0 ] ||
		t_fail "read_cache: nothing of a read file in the page cache"
}
t_case read-cache cached

t_umount_check
