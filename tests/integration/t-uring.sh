#!/usr/bin/env bash
#
# t-uring.sh - -o io_uring: with the kernel's FUSE over io_uring switched on
# (fuse.enable_uring), requests are taken through the ring (the root's
# user.kvstripe.ring counts them) and every kind of operation behaves as
# on ext4: random I/O with O_DIRECT and mmap (fsx), names, listings, xattrs,
# errors, large buffered and O_DIRECT files, parallel writers; unmounting
# ends the daemon. With the parameter off, the option falls back to
# /dev/fuse with a warning and the mount works the same.

# group: uring

. "$(dirname "$0")/lib.sh"

P=/sys/module/fuse/parameters/enable_uring
t_init
[ -w "$P" ] || t_skip "kernel without FUSE over io_uring ($P)"
t_param "$P" Y
t_mkback 2
t_mount "$T_SRC" -o io_uring
M=$T/mnt
R=$T/ref
mkdir "$M/gpu0" "$M/gpu1" "$R/gpu0" "$R/gpu1"

ring() { getfattr --only-values -n user.kvstripe.ring "$M"; }
n0=$(ring)
through_ring() {
	[ "$n0" -gt 0 ] || t_fail "no request went through the ring ($n0)"
}
t_case requests-through-ring through_ring

# 1. random I/O against ext4 and a model, files on both devices at once
t_case fsx t_fsx uring gpu0/a gpu1/b gpu0/c

# 2. names and listings, compared with ext4 (exit status and errno text)
t_case names-and-links t_parity 'cd {} && mkdir -p gpu0/d/e && touch gpu0/d/f gpu1/g &&
	ln gpu0/d/f gpu0/d/h && ln -s f gpu0/d/l && mv gpu0/d/h gpu0/d/e/h &&
	rm gpu0/d/f && ls -lnR --time-style=+ gpu0/d | sed "s/^total.*//" |
	awk "{print \$1, \$2, \$5, \$NF}"'
T_AFTER=names-and-links t_case name-errors t_parity 'cd {} && rmdir gpu0/d; echo $?; mkdir gpu0/d; echo $?;
	cat gpu0/nothing; echo $?; ln -s x gpu0/d/l; echo $?'
T_AFTER=names-and-links t_case xattrs t_parity 'cd {} && setfattr -n user.k -v v gpu1/g && getfattr -d gpu1/g;
	getfattr -n user.none gpu1/g; echo $?'

# 3. large files: buffered and O_DIRECT, read back by other processes
t_rand "$T/src" $((24 << 20 | 4321))
large_files() {
	cp "$T/src" "$M/gpu0/big"
	t_cmp "$T/src" "$M/gpu0/big"
	dd if="$T/src" of="$M/gpu1/direct" bs=1M count=16 oflag=direct status=none
	dd if="$M/gpu1/direct" of="$T/back" bs=4M iflag=direct status=none
	cmp <(head -c $((16 << 20)) "$T/src") "$T/back" ||
		t_fail "O_DIRECT file read back wrong"
	echo 3 >/proc/sys/vm/drop_caches
	t_cmp "$T/src" "$M/gpu0/big"
	# O_DIRECT at offsets no device block starts at: through the bounce buffer
	dd if="$M/gpu0/big" bs=10000 skip=1 iflag=direct status=none |
		cmp - <(tail -c +10001 "$T/src") ||
		t_fail "unaligned O_DIRECT reads through the ring"
}
t_case large-files large_files

# 4. parallel writers and readers (requests spread over the queues)
parallel() {
	local i p pids=() bad=
	for i in 0 1 2 3 4 5 6 7; do
		(head -c $((3 << 20)) "$T/src" >"$M/gpu$((i % 2))/p$i" &&
			cmp -s "$T/back" "$M/gpu$((i % 2))/p$i" -n $((3 << 20))) &
		pids+=($!)
	done
	# every writer is waited for before the case fails: none outlives it
	for p in "${pids[@]}"; do
		wait "$p" || bad="$bad $p"
	done
	[ -z "$bad" ] || t_fail "parallel writers failed:$bad"
}
T_AFTER=large-files t_case parallel-writers parallel
T_AFTER=large-files t_case du-of-ring-file \
	t_eq "$(du -s --apparent-size -B1 "$M/gpu0/big" | cut -f1)" \
	"$(t_size "$T/src")" "du of a file written through the ring"
keeps_taking() {
	[ "$(ring)" -gt "$n0" ] || t_fail "the ring took no requests after the first"
}
t_case ring-keeps-taking keeps_taking
t_umount_check

# 5. the parameter off: /dev/fuse only, with a warning, and still working
echo N >"$P"
t_remount
warned() {
	grep -q 'io_uring transport unavailable' "$T/log" ||
		t_fail "no warning when io_uring is asked for but off"
}
t_case warns-when-off warned
dev_fuse_only() {
	echo kv >"$M/gpu0/x"
	t_eq "$(cat "$M/gpu0/x")" kv "a file through /dev/fuse"
	t_eq "$(ring)" 0 "requests through a ring that is off"
}
t_case dev-fuse-when-off dev_fuse_only
t_umount_check
