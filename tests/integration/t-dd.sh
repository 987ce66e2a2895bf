#!/usr/bin/env bash
#
# t-dd.sh - data through dd: O_DIRECT and buffered, aligned and odd block
# sizes, overwrites in the middle, appends, truncation up and down, and the
# blocks a file takes on the device.
#
# The reference is a plain file on ext4 built with ordinary buffered I/O; the
# mount must hold the same bytes and report the exact size, and after the
# unmount the backing file must hold them too (its padding trimmed).

# group: slow

. "$(dirname "$0")/lib.sh"

t_setup 3
M=$T/mnt R=$T/ref

# 2 MiB + 12345: neither a multiple of 4096 nor of any block size used here
size=$((2 * 1024 * 1024 + 12345))
t_rand "$T/src" "$size"

# Write SRC to the mount with dd and BS/FLAGS, compare, read it back with
# iflag=direct too.
check_dd() {
	local name=$1 bs=$2
	shift 2
	dd if="$T/src" of="$M/$name" bs="$bs" "$@" status=none ||
		t_fail "dd bs=$bs $* to the mount"
	t_eq "$(t_size "$M/$name")" "$size" "size of $name (bs=$bs $*)"
	t_cmp "$M/$name" "$T/src"
	dd if="$M/$name" of="$T/readback" bs="$bs" iflag=direct status=none ||
		t_fail "dd bs=$bs iflag=direct from the mount"
	t_cmp "$T/readback" "$T/src"
	dd if="$M/$name" of="$T/readback" bs="$bs" status=none
	t_cmp "$T/readback" "$T/src"
}

# dd in and out, O_DIRECT and buffered
mkdir "$M/gpu0" "$M/gpu1" "$M/gpu2"
t_case dd-direct-4k check_dd gpu0/direct-4k 4096 oflag=direct
t_case dd-direct-1m check_dd gpu1/direct-1m 1M oflag=direct
t_case dd-direct-1000 check_dd gpu2/direct-1000 1000 oflag=direct
t_case dd-direct-12345 check_dd gpu0/direct-12345 12345 oflag=direct
t_case dd-buffered-4k check_dd gpu1/buffered-4k 4096
t_case dd-buffered-1m check_dd gpu2/buffered-1m 1M
t_case dd-buffered-1000 check_dd gpu0/buffered-1000 1000
t_case dd-buffered-12345 check_dd gpu1/buffered-12345 12345
t_case dd-direct-sync-1m check_dd gpu2/direct-sync-1m 1M oflag=direct,sync
# exact multiples of the block size, O_DIRECT all the way
dd_aligned() {
	head -c $((4 * 1024 * 1024)) "$T/src" >"$T/src4m"
	dd if="$T/src4m" of="$M/gpu1/aligned" bs=1M oflag=direct status=none
	t_cmp "$M/gpu1/aligned" "$T/src4m"
	dd if="$M/gpu1/aligned" bs=1M iflag=direct status=none | cmp - "$T/src4m" ||
		t_fail "O_DIRECT read of gpu1/aligned"
}
t_case dd-direct-aligned dd_aligned

# LMCache put and get: one O_DIRECT write, one whole-file read
t_rand "$T/kv32" $((32 * 1024 * 1024))
lmcache_put_get() {
	local d f
	for d in "$M" "$R"; do
		mkdir -p "$d/gpu2"
		python3 - "$d/gpu2" "$T/kv32" <<'EOF'
import mmap, os, sys
d = sys.argv[1]
assert os.statvfs(d).f_bsize == 4096, "f_bsize %d" % os.statvfs(d).f_bsize
size = 32 * 1024 * 1024
buf = mmap.mmap(-1, size)	# page aligned, as O_DIRECT wants
with open(sys.argv[2], "rb") as src:
    buf.write(src.read())
for name in ("llama@8@2@aa@bfloat16.pt", "llama@8@2@bb@bfloat16.pt"):
    p = os.path.join(d, name)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o644)
    assert os.writev(fd, [buf]) == size, "short write"
    os.close(fd)
    fd = os.open(p, os.O_RDONLY | os.O_DIRECT)
    st = os.fstat(fd)
    assert st.st_size == size, st.st_size
    out = mmap.mmap(-1, size)
    got = os.readv(fd, [out])
    assert got == size, "short read: %d of %d" % (got, size)
    assert out[:] == buf[:], "content"
    os.close(fd)
# no O_TRUNC: a shorter aligned write over an existing file keeps its size
p = os.path.join(d, "llama@8@2@aa@bfloat16.pt")
small = mmap.mmap(-1, 4096 * 3)
small.write(b"s" * 4096 * 3)
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o644)
assert os.writev(fd, [small]) == 4096 * 3
os.close(fd)
assert os.stat(p).st_size == size, os.stat(p).st_size
# the buffered put: O_TRUNC and one write of any size
p = os.path.join(d, "llama@8@2@cc@bfloat16.pt")
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
assert os.write(fd, buf[:size - 12345]) == size - 12345
os.close(fd)
fd = os.open(p, os.O_RDONLY)
assert len(os.read(fd, size)) == size - 12345, "short buffered read"
os.close(fd)
EOF
	done
	for f in aa bb cc; do
		t_cmp "$M/gpu2/llama@8@2@$f@bfloat16.pt" "$R/gpu2/llama@8@2@$f@bfloat16.pt"
	done
	t_eq "$(t_device_of "gpu2/llama@8@2@aa@bfloat16.pt")" 2 "device of an LMCache file in gpu2/"
}
t_case lmcache-put-get lmcache_put_get

# the device holds the blocks ext4 would: none claimed and left over
# a long stream claims blocks ahead of itself; at close only what was
# written stays allocated (st_blocks, what du adds up), a hole stays a hole
# Blocks as ext4's, give or take a few extent-tree blocks (a file claimed
# in steps may take more extents): what is left claimed is megabytes.
same_blocks() {
	local got want
	read -r got want <<<"$(stat -c '%b' "$1" "$2" | tr '\n' ' ')"
	[ "$got" -ge "$want" ] && [ "$got" -le $((want + 64)) ] ||
		t_fail "$3: $got blocks of 512 bytes, ext4 has $want"
}
blocks() {
	local d f
	for d in "$M" "$R"; do
		dd if="$T/kv32" of="$d/gpu2/sparse" bs=1M seek=5 count=6 oflag=direct \
			status=none || t_fail "dd seek=5 to $d"
		dd if="$T/kv32" of="$d/gpu2/sparse" bs=1M seek=20 count=3 \
			conv=notrunc status=none || t_fail "dd seek=20 to $d"
	done
	for f in llama@8@2@aa@bfloat16.pt llama@8@2@cc@bfloat16.pt sparse; do
		t_eq "$(t_size "$M/gpu2/$f")" "$(t_size "$R/gpu2/$f")" "size of gpu2/$f"
		same_blocks "$M/gpu2/$f" "$R/gpu2/$f" "gpu2/$f"
		same_blocks "$(t_backing "gpu2/$f")" "$R/gpu2/$f" "the backing gpu2/$f"
	done
	t_cmp "$M/gpu2/sparse" "$R/gpu2/sparse"
}
T_AFTER=lmcache-put-get t_case blocks-as-ext4 blocks

# a file's mtime is its last write's, not its close's or a stat's
# (write-behind holds a short tail until the stream ends)
mtime_last_write() {
	python3 - "$M/gpu0" "$R" <<'EOF' || t_fail "see above"
import os, sys, time
bad = []
for d in sys.argv[1:]:
    for stat_first in (False, True):
        p = os.path.join(d, "late-%d" % stat_first)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, b"x" * 4096)		# a stream's start: staged
        os.write(fd, b"y" * 1000)
        t = time.time()
        time.sleep(1.2)
        if stat_first:
            os.stat(p)
            time.sleep(0.5)
        os.close(fd)
        late = os.stat(p).st_mtime - t
        if abs(late) > 0.3:
            bad.append(f"{p}: mtime {late:+.2f} s from the last write")
for line in bad:
    print("    " + line)
sys.exit(1 if bad else 0)
EOF
}
t_case mtime-last-write mtime_last_write

# overwrite in the middle with conv=notrunc
notrunc() {
	local args
	cp "$T/src" "$R/patched"
	cp "$T/src" "$M/patched"
	t_rand "$T/patch" 70000
	for args in "bs=1 seek=5 count=3000" "bs=1000 seek=7" \
		"bs=4096 seek=3 oflag=direct" "bs=1 seek=$((size - 100)) count=3000" \
		"bs=12345 seek=100"; do
		# shellcheck disable=SC2086 # word splitting of $args is wanted
		dd if="$T/patch" of="$M/patched" conv=notrunc $args status=none ||
			t_fail "dd conv=notrunc $args"
		# shellcheck disable=SC2086
		dd if="$T/patch" of="$R/patched" conv=notrunc ${args/oflag=direct/} status=none
		t_eq "$(t_size "$M/patched")" "$(t_size "$R/patched")" "size after notrunc $args"
		t_cmp "$M/patched" "$R/patched"
	done
}
t_case overwrite-notrunc notrunc

# append with >>
append() {
	local n
	: >"$M/appended"
	: >"$R/appended"
	for n in 1 4095 1 4096 511 100000; do
		head -c "$n" /dev/urandom >"$T/piece"
		cat "$T/piece" >>"$M/appended"
		cat "$T/piece" >>"$R/appended"
		t_eq "$(t_size "$M/appended")" "$(t_size "$R/appended")" "size after append of $n"
	done
	t_cmp "$M/appended" "$R/appended"
}
t_case append append

# truncate up and down
truncate_up_down() {
	local s
	cp "$T/src" "$M/trunc"
	cp "$T/src" "$R/trunc"
	for s in $((size + 10000)) 5000 4096 4097 1 0 $((3 * 1024 * 1024 + 1)) 12345; do
		truncate -s "$s" "$M/trunc"
		truncate -s "$s" "$R/trunc"
		t_eq "$(t_size "$M/trunc")" "$s" "size after truncate -s $s"
		t_cmp "$M/trunc" "$R/trunc"
		# writing after the truncation must not bring old bytes back
		printf 'tail' >>"$M/trunc"
		printf 'tail' >>"$R/trunc"
		t_cmp "$M/trunc" "$R/trunc"
	done
	truncate -s 3M "$M/grown"
	truncate -s 3M "$R/grown"
	t_cmp "$M/grown" "$R/grown"
}
t_case truncate truncate_up_down

# after the unmount the backing files hold exactly the data
t_umount_check
T_AFTER=dd-direct-12345 t_case backing-direct-12345 \
	t_cmp "$(t_backing gpu0/direct-12345)" "$T/src"
T_AFTER=dd-direct-1000 t_case backing-direct-1000 \
	t_cmp "$(t_backing gpu2/direct-1000)" "$T/src"
T_AFTER=dd-buffered-12345 t_case backing-buffered-12345 \
	t_cmp "$(t_backing gpu1/buffered-12345)" "$T/src"
T_AFTER=overwrite-notrunc t_case backing-patched \
	t_cmp "$(t_backing patched)" "$R/patched"
T_AFTER=append t_case backing-appended t_cmp "$(t_backing appended)" "$R/appended"
T_AFTER=truncate t_case backing-trunc t_cmp "$(t_backing trunc)" "$R/trunc"
