#!/usr/bin/env bash
#
# t-flip.sh - a byte flipped by hand in the backing file of a closed file
# is never served. Two files of 5 MiB + 1234 bytes (cp, one O_DIRECT
# write) are written through the mount onto an ext4 on a loop device (the
# daemon reads it O_DIRECT); unmounted, one byte in chunk 2 (of 1 MiB
# chunks) of each backing file is flipped, the page cache dropped, and
# through a new mount: every READ covering that byte fails with EIO
# (O_DIRECT 1 MiB and 4 KiB, a buffered read of the whole file, a KV
# reader's one read of the size), the other chunks read back exact
# (O_DIRECT and buffered), the daemon logs a line naming each file, not
# one for each READ, and `kvstripe fsck` reports both as corrupt and
# --repair removes them. A file made by hand in a backing directory has
# no record: it reads as it is (unverified). With -o verify=no the
# flipped files read without EIO, flipped byte included. (t-sums covers
# the record itself, a tmpfs device and units past 256 MiB.)
# The fsck part runs where `kvstripe fsck --help` shows an fsck.

# group: fault loopdev

. "$(dirname "$0")/lib.sh"

t_init
M=$T/mnt
MIB=$((1024 * 1024))
SIZE=$((5 * MIB + 1234))
FLIP=$((2 * MIB + 12345))	# in chunk 2

[ -e /dev/loop-control ] || t_skip "no /dev/loop-control"
t_ext4 "$T/b0" 256M 4096 -b 4096
t_mount "$T/b0"
mkdir "$M/gpu0" "$M/gpu1"

# gpu0/flip-a: cp; gpu1/flip-b: one O_DIRECT write; gpu0/keep-c: left alone
for n in a b c; do
	t_rand "$T/ref/$n" "$SIZE"
done
cp "$T/ref/a" "$M/gpu0/flip-a"
dd if="$T/ref/b" of="$M/gpu1/flip-b" bs=8M oflag=direct status=none
cp "$T/ref/c" "$M/gpu0/keep-c"
FLIPPED="gpu0/flip-a gpu1/flip-b"

BACK_A=$(t_backing gpu0/flip-a)
BACK_B=$(t_backing gpu1/flip-b)
t_umount_check

# flip_byte FILE OFFSET: invert the byte at OFFSET of FILE, in place
flip_byte() {
	python3 - "$1" "$2" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
off = int(sys.argv[2])
b = os.pread(fd, 1, off)
os.pwrite(fd, bytes([b[0] ^ 0xff]), off)
os.fsync(fd)
os.close(fd)
PY
}
for f in "$BACK_A" "$BACK_B" "$T/ref/a.flipped" "$T/ref/b.flipped"; do
	[ -e "$f" ] || cp "${f%.flipped}" "$f"
	flip_byte "$f" "$FLIP"
done
# by hand, beside the others: no record, no mark
cp "$T/ref/c" "$T/b0/gpu0/hand-d"
echo 3 >/proc/sys/vm/drop_caches
t_remount

# chunk N of FILE, as dd reads it with its other arguments
chunk() {
	local f=$1 k=$2
	shift 2
	dd if="$f" bs=1M skip="$k" count=1 status=none "$@"
}

flipped_eio() {
	local f
	for f in $FLIPPED; do
		t_expect_err "Input/output error" \
			dd if="$M/$f" of=/dev/null bs=1M skip=2 count=1 iflag=direct status=none
		t_expect_err "Input/output error" \
			dd if="$M/$f" of=/dev/null bs=4096 skip=$((FLIP / 4096)) count=1 \
			iflag=direct status=none
		t_expect_err "Input/output error" \
			dd if="$M/$f" of=/dev/null bs=1M status=none
		# a KV reader: fstat, one read of the whole size; EIO, or the
		# bytes before chunk 2 (a short read), never the size
		python3 - "$M/$f" <<'PY' || t_fail "$f: a whole-file read returned the whole size"
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
try:
    n = len(os.read(fd, size))
except OSError as e:
    sys.exit(0 if e.errno == errno.EIO else 1)
sys.exit(0 if n <= 2 << 20 else 1)
PY
	done
}
t_case flipped-chunk-eio flipped_eio

other_chunks() {
	local f n k
	echo 3 >/proc/sys/vm/drop_caches
	for f in $FLIPPED; do
		n=${f##*-}
		for k in 0 1 3 4 5; do
			cmp <(chunk "$M/$f" "$k" iflag=direct) <(chunk "$T/ref/$n" "$k") ||
				t_fail "$f: chunk $k read with O_DIRECT differs"
			cmp <(chunk "$M/$f" "$k") <(chunk "$T/ref/$n" "$k") ||
				t_fail "$f: chunk $k read through the page cache differs"
		done
		t_eq "$(t_size "$M/$f")" "$SIZE" "$f: size"
	done
	t_cmp "$M/gpu0/keep-c" "$T/ref/c"
}
t_case other-chunks-exact other_chunks

# one line for a file, not one for each READ that failed: ten O_DIRECT
# READs of chunk 2 in a row add one line at most (none if the mismatch
# was logged while the daemon still held the file open)
lines_naming() {
	awk '/^=== mount /{ n = 0; next } index($0, f) { n++ } END { print n + 0 }' \
		f="$1" "$T/log"
}
logged_once() {
	local f n0 n1
	for f in $FLIPPED; do
		n0=$(lines_naming "$f")
		python3 - "$M/$f" <<'PY' || t_fail "$f: a READ of chunk 2 did not fail with EIO"
import errno, mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 1 << 20)
for _ in range(10):
    try:
        os.preadv(fd, [buf], 2 << 20)
        sys.exit(1)
    except OSError as e:
        if e.errno != errno.EIO:
            raise
PY
		n1=$(lines_naming "$f")
		[ "$n1" -ge 1 ] || t_fail "no log line names $f"
		[ $((n1 - n0)) -le 1 ] ||
			t_fail "$((n1 - n0)) log lines name $f for ten failed READs"
	done
}
T_AFTER=flipped-chunk-eio t_case logged-once logged_once

unverified() {
	t_cmp "$M/gpu0/hand-d" "$T/ref/c"
	cmp <(dd if="$M/gpu0/hand-d" bs=1M iflag=direct status=none) "$T/ref/c" ||
		t_fail "hand-d read with O_DIRECT differs"
}
t_case unverified-reads unverified
t_umount_check

# -o verify=no: the bytes as they are on the device
t_mount "$T_SOURCES" -o verify=no
verify_off() {
	local f
	for f in $FLIPPED; do
		t_cmp "$M/$f" "$T/ref/${f##*-}.flipped"
	done
}
t_case verify-no-serves-the-bytes verify_off
t_umount_check

# fsck names both as corrupt (hand-d, if at all, as unverified) and
# --repair removes them, and only them
check_fsck() {
	local f
	t_fsck corrupt >"$T/fsck.corrupt"
	t_eq "$(tr '\n' ' ' <"$T/fsck.corrupt")" "$FLIPPED " "files fsck calls corrupt"
	t_eq "$(cat "$T/fsck.rc")" 4 "fsck exit status"
	t_fsck 'torn|corrupt|unverified|stale' >"$T/fsck.all"
	t_eq "$(grep -v -e flip- -e hand-d "$T/fsck.all" | tr '\n' ' ')" "" \
		"other files fsck named"
	t_fsck unverified >"$T/fsck.unverified"
	t_eq "$(grep -c hand-d "$T/fsck.all")" "$(grep -c hand-d "$T/fsck.unverified")" \
		"hand-d named, but not as unverified"
	t_fsck corrupt --repair >/dev/null
	t_eq "$(cat "$T/fsck.rc")" 1 "fsck --repair exit status"
	for f in $FLIPPED; do
		t_nowhere "$f"
	done
	[ -f "$T/b0/gpu0/keep-c" ] && [ -f "$T/b0/gpu0/hand-d" ] ||
		t_fail "fsck --repair removed a file that was not corrupt"
	t_fsck 'corrupt|torn' >"$T/fsck.left"
	t_eq "$(grep -c . <"$T/fsck.left")" 0 "corrupt or torn files after --repair"
}
t_case fsck-corrupt check_fsck
