#!/usr/bin/env bash
#
# t-sums.sh - chunk checksums as writers and readers meet them: every way
# of writing a file (cp, dd with O_DIRECT, 4 KiB writes, random pwrites,
# an O_TRUNC rewrite, an append) leaves a record of the file's size on
# its backing file that matches every byte after a remount; a file
# changed through a shared mapping is left unverified and reads right; a
# byte changed on a page-cache device (tmpfs, whose reads are otherwise
# spliced) and in a 520 MiB file (2 MiB units: ext4 keeps no record of
# 520 hashes) fails the READs of
# its unit only; -o verify=no stores nothing and drops a record a change
# made stale; READs through the io_uring transport are checked too.

# group: fault

. "$(dirname "$0")/lib.sh"

MIB=$((1024 * 1024))
t_init
t_ext4 "$T/e0" 700M 4096 -b 4096
t_ext4 "$T/e1" 700M 4096 -b 4096
t_tmpfs "$T/t2" 64M || t_fail "cannot mount a tmpfs"
mkdir "$T/e0/b" "$T/e1/b" "$T/t2/b"
SRC=$T/e0/b,$T/e1/b,$T/t2/b
t_mount "$SRC"
M=$T/mnt
R=$T/ref
mkdir "$M/gpu0" "$M/gpu1" "$M/gpu2"

# record FILE: the size the checksum record of FILE's backing file covers
# (bytes 8-15, little-endian); fails if it has none.
record() {
	local b
	b=$(t_backing "$1")
	getfattr --absolute-names -e hex -n trusted.kvstripe.sums "$b" \
		2>/dev/null | python3 -c 'import sys
h = [l for l in sys.stdin if l.startswith("trusted.kvstripe.sums=0x")]
assert h, "no record"
b = bytes.fromhex(h[0].strip().split("=0x")[1])
print(int.from_bytes(b[8:16], "little"))'
}
has_record() {
	getfattr -n trusted.kvstripe.sums "$(t_backing "$1")" >/dev/null 2>&1
}
# expect_record FILE: FILE has a record covering exactly its size.
expect_record() {
	local got
	got=$(record "$1") || t_fail "$1: no checksum record"
	t_eq "$got" "$(t_size "$1")" "$1: size the record covers"
}
drop() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}
# flip FILE OFFSET: change one byte of FILE's backing file by hand.
flip() {
	local b
	b=$(t_backing "$1")
	python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
b = os.pread(fd, 1, int(sys.argv[2]))
os.pwrite(fd, bytes([b[0] ^ 0x5a]), int(sys.argv[2]))
os.close(fd)' "$b" "$2"
}
# reads_unit FILE BS K: whether the BS-byte O_DIRECT READ K of FILE works
reads_unit() {
	dd if="$1" of=/dev/null bs="$2" skip="$3" count=1 iflag=direct \
		status=none 2>/dev/null
}

t_rand "$R/cp" $((5 * MIB + 1234))
t_rand "$R/dd" $((6 * MIB))
t_rand "$R/small" $((3 * MIB + 4095))
t_rand "$R/tmp" $((4 * MIB + 100))
writes() {
	cp "$R/cp" "$M/gpu0/cp"
	dd if="$R/dd" of="$M/gpu1/dd" bs=1M oflag=direct status=none
	dd if="$R/small" of="$M/gpu0/small" bs=4k status=none
	cp "$R/tmp" "$M/gpu2/tmp"
	# random pwrites over a 4 MiB file, a model beside it
	python3 - "$M/gpu1/rand" "$R/rand" <<'PY'
import os, random, sys
rng = random.Random(7)
d = bytearray(rng.randbytes(4 << 20))
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.pwrite(fd, d, 0)
for _ in range(200):
    off, n = rng.randrange(len(d) + 100000), rng.randrange(1, 70000)
    b = rng.randbytes(n)
    os.pwrite(fd, b, off)
    if off + n > len(d):
        d.extend(bytes(off + n - len(d)))
    d[off:off + n] = b
os.close(fd)
open(sys.argv[2], "wb").write(d)
PY
	for f in gpu0/cp gpu1/dd gpu0/small gpu2/tmp gpu1/rand; do
		expect_record "$M/$f"
	done
}
t_case every-writer-leaves-a-record writes

rewrite() {
	t_rand "$R/cp" $((2 * MIB + 7))
	cp "$R/cp" "$M/gpu0/cp"		# O_TRUNC
	head -c 1000000 /dev/urandom >>"$R/dd"
	tail -c 1000000 "$R/dd" >>"$M/gpu1/dd"
	expect_record "$M/gpu0/cp"
	expect_record "$M/gpu1/dd"
}
T_AFTER=every-writer-leaves-a-record t_case a-rewrite-and-an-append-reseal rewrite

mapped() {
	cp "$R/small" "$M/gpu0/mapped"
	python3 - "$M/gpu0/mapped" <<'PY'
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
m = mmap.mmap(fd, 0)
m[100:105] = b"hello"
m.flush()
m.close()
os.close(fd)
PY
	python3 -c 'import sys
d = bytearray(open(sys.argv[1], "rb").read()); d[100:105] = b"hello"
open(sys.argv[2], "wb").write(d)' "$R/small" "$R/mapped"
	! has_record "$M/gpu0/mapped" ||
		t_fail "a record outlived a change through a mapping"
}
t_case a-mapped-change-leaves-it-unverified mapped

t_umount_check
drop
t_remount

read_back() {
	local f
	drop
	for f in gpu0/cp gpu1/dd gpu0/small gpu2/tmp gpu1/rand gpu0/mapped; do
		t_cmp "$R/${f#*/}" "$M/$f"
	done
	t_eq "$(getfattr --only-values -n user.kvstripe.corrupt "$M")" "0 0" \
		"mismatches"
}
T_AFTER="a-rewrite-and-an-append-reseal a-mapped-change-leaves-it-unverified" \
	t_case all-read-back-checked read_back

tmpfs_flip() {
	flip "$M/gpu2/tmp" $((MIB + 5))
	! cat "$M/gpu2/tmp" >/dev/null 2>&1 || t_fail "a flipped tmpfs file read whole"
	! reads_unit "$M/gpu2/tmp" 1M 1 || t_fail "the flipped unit read"
	reads_unit "$M/gpu2/tmp" 1M 0 || t_fail "unit 0 failed"
	reads_unit "$M/gpu2/tmp" 1M 2 || t_fail "unit 2 failed"
	grep -q "'.*gpu2/tmp': checksum mismatch at offset $MIB" "$T/log" ||
		t_fail "no log line for the flipped file"
}
T_AFTER=all-read-back-checked t_case page-cache-device-reads-are-checked tmpfs_flip

large() {
	# 520 hashes of 1 MiB do not fit ext4's one block of attributes
	t_rand "$R/large" $((520 * MIB + 3))
	cp "$R/large" "$M/gpu0/large"
	expect_record "$M/gpu0/large"
	flip "$M/gpu0/large" $((200 * MIB + 1 * MIB + 17))
	drop
	# units of 2 MiB: the MiB before the flipped one fails with it
	! reads_unit "$M/gpu0/large" 1M 200 || t_fail "MiB 200 read"
	! reads_unit "$M/gpu0/large" 1M 201 || t_fail "MiB 201 read"
	reads_unit "$M/gpu0/large" 1M 199 || t_fail "MiB 199 failed"
	reads_unit "$M/gpu0/large" 1M 202 || t_fail "MiB 202 failed"
	reads_unit "$M/gpu0/large" 1M 520 || t_fail "the last MiB failed"
	rm "$M/gpu0/large" "$R/large"
}
t_case a-large-file-checks-2-MiB-units large

t_umount_check
t_mount "$SRC" -o verify=no

off() {
	t_rand "$R/off" $((2 * MIB))
	cp "$R/off" "$M/gpu1/off"
	! has_record "$M/gpu1/off" || t_fail "verify=no stored a record"
	echo more >>"$M/gpu1/dd"
	echo more >>"$R/dd"
	! has_record "$M/gpu1/dd" || t_fail "a stale record outlived a write"
	cat "$M/gpu2/tmp" >/dev/null || t_fail "verify=no checked a read"
}
t_case verify-no-stores-and-checks-nothing off

t_umount_check
P=/sys/module/fuse/parameters/enable_uring
if [ -w "$P" ]; then
	t_param "$P" Y
	t_mount "$SRC" -o io_uring
	uring() {
		local n
		drop
		t_cmp "$R/dd" "$M/gpu1/dd"
		t_cmp "$R/off" "$M/gpu1/off"
		! reads_unit "$M/gpu2/tmp" 1M 1 || t_fail "the flipped unit read"
		n=$(getfattr --only-values -n user.kvstripe.ring "$M")
		[ "$n" -gt 0 ] || t_fail "nothing went through the ring"
	}
	T_AFTER=page-cache-device-reads-are-checked \
		t_case io_uring-reads-are-checked uring
fi
