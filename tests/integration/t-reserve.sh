#!/usr/bin/env bash
#
# t-reserve.sh - the blocks ext4 keeps for root (5 % by default) are not
# spent for a caller who is not root: writes through the mount stop where
# the same writes straight onto the same ext4 as the same user stop.
# Device 0 is a 64 MiB ext4 on a loop device; a twin ext4, made the same
# way, takes the writes straight. As nobody, in a directory nobody owns,
# buffered and O_DIRECT writers fill each until ENOSPC (1 MiB writes, then
# 4 KiB ones for what is left, twice), and the bytes accepted must match
# within 4 blocks: the twin holds the same directories (b0/kv) and the
# daemon's claims are exact this near full (the totals are mostly equal),
# but ext4 itself, given the same writes again, may end a block apart
# (a delayed allocation's worst-case reservation is given back when its
# pages are written out, which the next failing write may or may not
# have waited for). Once nobody is stopped, nobody's mkdir fails, and
# root, through the mount, still makes a directory and writes into the
# reserve; the same without write-behind, where the io_uring request
# allocates the blocks itself. With ext4's resuid naming nobody, nobody gets the reserve
# through the mount too: the daemon asks what ext4 asks, with the
# caller's identity.

# group: loopdev fault

. "$(dirname "$0")/lib.sh"

t_init
NOBODY=$(id -u nobody)
# twin ext4s: the kvstripe device and the one written straight
mkext() {
	local rc=0
	t_loopfs "$1" 64M 4096 -b 4096 || rc=$?
	[ "$rc" != 2 ] || t_skip "$T_WHY"
	[ "$rc" = 0 ] || t_fail "$T_WHY"
}
mkext "$T/ext"
mkext "$T/ref4"
mkdir "$T/ext/b0"
t_mount "$T/ext/b0"
mkdir "$T/ref4/b0"
REF=$T/ref4/b0
mkdir "$T/mnt/kv" "$REF/kv"
chown nobody:nogroup "$T/mnt/kv" "$REF/kv"

# fill FILE [DD-FLAGS]: as nobody, write FILE until ENOSPC, in 1 MiB
# writes then 4 KiB ones (twice: see above); print the size it ends with. Every write but
# the last must have been accepted, and the last must fail with ENOSPC.
fill() {
	local f=$1 bs out
	shift
	for bs in 1M 4k 4k; do
		out=$(t_as_nobody dd if=/dev/zero of="$f" bs="$bs" "$@" \
			oflag=append conv=notrunc status=none 2>&1) &&
			t_fail "dd bs=$bs $* onto $f ended without ENOSPC"
		case $out in
		*"No space left on device"*) ;;
		*) t_fail "dd bs=$bs $* onto $f: $out (expected ENOSPC)" ;;
		esac
	done
	t_size "$f"
}

# same FLAGS...: the writers' totals on the mount and on the twin match
same() {
	local m r d
	m=$(fill "$T/mnt/kv/f" "$@")
	r=$(fill "$REF/kv/f" "$@")
	t_log "bytes accepted: mount $m, ext4 $r ($*)"
	d=$((m > r ? m - r : r - m))
	[ "$d" -le $((4 * 4096)) ] ||
		t_fail "nobody wrote $m bytes through the mount, $r onto ext4"
}

# once stopped, nobody cannot make a directory either (its block would
# come from the reserve); root can (root_reserve). Not compared with the
# twin, which may have the block left over that ext4 keeps above.
stopped_mkdir() {
	t_expect_err "No space left on device" t_as_nobody mkdir "$T/mnt/kv/d"
}

root_reserve() {
	mkdir "$T/mnt/kv/d" || t_fail "root cannot mkdir in the reserve"
	dd if=/dev/zero of="$T/mnt/root" bs=1M count=1 status=none ||
		t_fail "root cannot write into the reserve through the mount"
	dd if=/dev/zero of="$T/mnt/root-direct" bs=1M count=1 oflag=direct \
		status=none ||
		t_fail "root cannot write O_DIRECT into the reserve"
	t_eq "$(t_size "$T/mnt/root")" 1048576 "root's file"
	rm -rf "$T/mnt/root" "$T/mnt/root-direct" "$T/mnt/kv/d"
}

empty() {
	rm -rf "$T/mnt/kv/f" "$T/mnt/kv/d" "$REF/kv/f" "$REF/kv/d"
	sync
}

t_case buffered same
t_case stopped-mkdir stopped_mkdir
T_AFTER=buffered t_case root-writes-reserve root_reserve
empty
t_case direct same iflag=fullblock oflag=direct
T_AFTER=direct t_case root-writes-reserve-direct root_reserve
empty
t_umount_check

# without write-behind, an O_DIRECT write claims nothing first: its blocks
# are allocated by the io_uring request itself (inline, or in an io-wq
# worker with the credentials the request was submitted with)
t_remount -o write_buffers=0
t_case direct-unstaged same iflag=fullblock oflag=direct
t_case buffered-unstaged same
empty
t_umount_check

# resuid=nobody: ext4 gives nobody the reserve, and so does the mount
mount -o remount,resuid="$NOBODY" "$T/ext" || t_fail "remount resuid"
mount -o remount,resuid="$NOBODY" "$T/ref4" || t_fail "remount resuid"
t_mount "$T_SOURCES"
t_case resuid same
empty
t_umount_check
