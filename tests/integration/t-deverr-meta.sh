#!/usr/bin/env bash
#
# t-deverr-meta.sh - metadata operations on a failing device: device 1's
# ext4 (mounted sync, errors=remount-ro) sits on a loop device over a
# faultfs file switched to EIO. A directory's copy made there (for a file
# below a new directory: mkdir makes its one copy on device 0), rmdir,
# rename, link, readlink, setfattr, chmod, chown, touch -d, truncate, rm,
# and a stat of a name no cache holds each fail to the client (EIO, or
# EROFS once ext4 has turned read-only), and the daemon's log names each
# operation, its file below the device root, and the device. Once its
# probe finds the device read-only, a new symlink for it is made on
# device 0 instead. 200 more failing operations add a summary line or
# two, never a line each. (statfs reads no block on ext4: it keeps
# working, and is not tried here.) Device 2, a second such ext4 failing
# writes alone beforehand: a write to one of its files fails, and the
# log names it wherever on the write's way the error came.

# group: loopdev fault

. "$(dirname "$0")/lib.sh"

t_init
M=$T/mnt

[ -e /dev/loop-control ] || t_skip "no /dev/loop-control"
for tool in losetup mkfs.ext4 mount umount setfattr; do
	command -v "$tool" >/dev/null || t_skip "no $tool"
done
mkdir "$T/b0"
rc=0
# sync: a directory's or inode's change is written before the call
# returns, so the write's failure reaches the daemon's call. Device 2
# fails alone, for the write's case: its first failure turns its ext4
# read-only, which device 1's cases must meet later.
for b in b2 b1; do
	T_FAULTEXT4_OPTS=sync,errors=remount-ro t_faultext4 "$T/$b" 64M ||
		rc=$?
	[ "$rc" != 2 ] || t_skip "$T_WHY"
	[ "$rc" = 0 ] || t_fail "$T_WHY"
done
CTL2=${T_FAULTMNTS[0]}/ctl	# device 2's; t_fault's own is device 1's
t_mount "$T/b0,$T/b1,$T/b2"

G=$M/gpu1
LONG=$(printf 'target%0100d' 0)	# past the inode: read from a block
mkdir "$G"
for i in $(seq 0 9); do
	mkdir "$G/d$i"
	# a copy of d$i on device 1 too: mkdir made one on device 0
	: >"$G/d$i/.x"
	rm "$G/d$i/.x"
	echo "$i" >"$G/f$i"
	ln -s "$LONG" "$G/l$i"
	setfattr -n user.k -v "$i" "$G/f$i"
done
ln -s f7 "$G/d7/ln"	# one device's, never opened by the daemon
mkdir "$M/gpu2"
: >"$M/gpu2/w"
sync
# every name is held beside the daemon: else under memory pressure (or
# another test's drop_caches) the ext4 could forget a name, and a lookup
# before the operation would meet the device first. Not d7/ln: the
# lookup case.
t_hold "$T/b1/gpu1" $(find "$T/b1/gpu1" -mindepth 1 ! -path '*/d7/ln') \
	"$T/b2/gpu2" "$T/b2/gpu2/w"

# a write to a closed file marks its backing file (an xattr) first; its
# short tail goes through the page cache, by a second descriptor opened
# then, at the close, which also removes the mark: a device error in any
# of them fails the write or the close, and the log names it
write_marks() {
	t_fault eio-writes "$CTL2"
	fails dd if=/dev/zero of="$M/gpu2/w" bs=4096 count=1 conv=notrunc
	grep -qE "^kvstripe: device 2: (write|open|removing the write mark) of 'gpu2/w' failed: (Input/output error|Read-only file system)" \
		"$T/log" || t_fail "no error of gpu2/w in the log: $(cat "$T/err")"
}
# writes fail, reads work: each call meets the device in its own write
# (sync); the first failed write turns ext4 read-only (EROFS after it)
t_fault eio-writes

# fails CMD...: CMD fails with EIO or EROFS, after the page cache (also of
# the ext4's blocks, not its dentries) was dropped
fails() {
	echo 1 >/proc/sys/vm/drop_caches
	if "$@" >/dev/null 2>"$T/err"; then
		t_fail "'$*' succeeded on the failing device"
	fi
	grep -qE "Input/output error|Read-only file system" "$T/err" ||
		[ "$1" = readlink ] ||
		t_fail "'$*' failed otherwise: $(cat "$T/err")"
}

t_case write write_marks

# logged OP FILE: the log names operation OP of FILE on device 1
logged() {
	grep -qE "^kvstripe: device 1: ($1) of '$2' failed: (Input/output error|Read-only file system)" \
		"$T/log" || t_fail "no '$1 of $2' line in the log"
}

op_case() {
	local op=$1 file=$2
	shift 2
	fails "$@"
	logged "$op" "$file"
}
# mkdir makes gpu1/new on device 0; a file below it needs its copy on
# device 1
t_case mkdir op_case mkdir gpu1/new sh -c 'mkdir "$1" && : >"$1/f"' sh "$G/new"
# an rmdir first reads the directory (is it empty?), then removes it
t_case rmdir op_case "rmdir|listing" gpu1/d2 rmdir "$G/d2"
t_case rename op_case rename gpu1/f3 mv "$G/f3" "$G/g3"
t_case link op_case link gpu1/h4 ln "$G/f4" "$G/h4"
# the first failed write turned ext4 read-only; the probe that error set
# off says so, and new names for device 1 go to device 0
read_only_spills() {
	local i st=
	for ((i = 0; i < 50; i++)); do
		st=$(getfattr --only-values -n user.kvstripe.device.1.state "$M")
		[ "$st" = read-only ] && break
		sleep 0.1
	done
	t_eq "$st" read-only "device 1's state"
	ln -s "$LONG" "$G/s5" || t_fail "symlink for a read-only device"
	t_eq "$(t_device_of gpu1/s5)" 0 "device of gpu1/s5"
}
t_case symlink read_only_spills
t_case setfattr op_case setxattr gpu1/f7 setfattr -n user.k -v x "$G/f7"
t_case chmod op_case chmod gpu1/f8 chmod 600 "$G/f8"
t_case chown op_case chown gpu1/f9 chown 1:1 "$G/f9"
t_case utimes op_case utimes gpu1/f0 touch -d 2001-01-01 "$G/f0"
t_case truncate op_case truncate gpu1/f1 truncate -s 0 "$G/f1"
t_case unlink op_case unlink gpu1/f5 rm "$G/f5"

# reads fail too: a symlink's target outside its inode, a name not cached
t_fault eio
t_case readlink op_case readlink gpu1/l6 readlink "$G/l6"
# no cache holds the name (nor its directories: no file of theirs is
# open), the lookup meets the device
stat_uncached() {
	echo 3 >/proc/sys/vm/drop_caches
	fails stat "$G/d7/ln"
	logged lookup "gpu1(/d7(/ln)?)?"
}
t_case lookup stat_uncached

# 200 more failing operations of the kinds above: a summary line or two
many_bounded() {
	local before after i
	before=$(wc -l <"$T/log")
	for ((i = 0; i < 50; i++)); do
		chown 2:2 "$G/f9" 2>/dev/null && t_fail "chown $i succeeded"
		chmod 600 "$G/f8" 2>/dev/null && t_fail "chmod $i succeeded"
		setfattr -n user.k -v "$i" "$G/f7" 2>/dev/null &&
			t_fail "setfattr $i succeeded"
		mv "$G/f3" "$G/g$i" 2>/dev/null && t_fail "rename $i succeeded"
	done
	# the repeats are told within 10 s (+ the 5 s tick)
	for ((i = 0; i < 200; i++)); do
		[ "$(tail -n +$((before + 1)) "$T/log" | grep -c 'more error')" \
			-ge 1 ] && break
		sleep 0.1
	done
	after=$(wc -l <"$T/log")
	tail -n +$((before + 1)) "$T/log" | grep -qE \
		"^kvstripe: device 1: [0-9]+ more errors in the last [0-9]+ s:.* metadata \((EIO|EROFS)\)" ||
		t_fail "no summary of the repeats"
	[ $((after - before)) -le 4 ] ||
		t_fail "$((after - before)) log lines for 200 failures"
	t_eq "$(grep -c "device 1 is failing" "$T/log")" 1 "'failing' lines"
	grep -q "device 0: .* failed" "$T/log" && t_fail "device 0 named"
	return 0
}
T_AFTER="chown chmod setfattr rename lookup" t_case log-bounded many_bounded

t_fault ok
t_umount_check
