#!/usr/bin/env bash
#
# t-evict.sh - the daemon's inode table stays near -o max_inodes while a
# client walks far more files: it asks the kernel to forget names it used
# least recently. Every file stays reachable with the right content, also
# through a descriptor opened before; directories that are a process's
# working directory are left alone. (The kernel opens files without
# telling the daemon, so an open file's name may be dropped: /proc then
# shows it "(deleted)", while it still reads and the name still resolves.)

# group: slow

. "$(dirname "$0")/lib.sh"

t_setup 2 -o max_inodes=400
M=$T/mnt

inodes() {
	getfattr --absolute-names --only-values -n user.kvstripe.inodes "$M"
}

# 3000 files made directly on the devices, each holding its own name
for d in 0 1; do
	mkdir -p "${T_BACK[d]}/gpu$d/sub"
	(cd "${T_BACK[d]}/gpu$d/sub" && seq -f "f%04g" 1 1500 |
		while read -r f; do printf '%s' "$f" >"$f"; done)
done

exec 3<"$M/gpu0/sub/f0001"		# an open file
mkdir "$M/gpu1/sub/here"
walk() {
	local n
	cd "$M/gpu1/sub/here"
	t_eq "$(find "$M" -type f | wc -l)" 3000 "files found"
	t_eq "$(find "$M" -type f -size 5c | wc -l)" 3000 "files stat'ed"
	sleep 0.5
	n=$(inodes)
	[ "$n" -le 400 ] || t_fail "inode table at $n entries, limit 400"
	# the working directory was not dropped under the shell
	t_eq "$(pwd -P)" "$M/gpu1/sub/here" "working directory"
	t_eq "$(/bin/pwd)" "$M/gpu1/sub/here" "getcwd"
}
t_case walk-bounded walk

# every file still there, and right
contents() {
	local bad n
	bad=$(find "$M" -type f -exec sh -c 'for f; do
		[ "$(cat "$f")" = "${f##*/}" ] || echo "$f"; done' sh {} + | head -n 3)
	[ -z "$bad" ] || t_fail "wrong content after eviction: $bad"
	sleep 0.5
	n=$(inodes)
	[ "$n" -le 400 ] || t_fail "inode table at $n entries after reading, limit 400"
}
t_case contents-after-eviction contents

# the open file reads through the descriptor and by its name
open_file() {
	t_eq "$(cat <&3)" f0001 "read through a descriptor opened before"
	t_eq "$(cat "$M/gpu0/sub/f0001")" f0001 "read by name after eviction"
}
t_case open-file open_file
exec 3<&-

# user.kvstripe.inodes is the root's only, and read-only
t_case inodes-root-only t_expect_err "No such attribute" \
	getfattr --absolute-names -n user.kvstripe.inodes "$M/gpu0"
t_case inodes-read-only t_expect_err "Operation not permitted" \
	setfattr -n user.kvstripe.inodes -v 1 "$M"
t_umount_check

# without a limit the same walk keeps every inode: the check above can fail
t_mount "$T_SOURCES" -o max_inodes=0
keeps_all() {
	local n
	find "$M" -type f -size 5c >/dev/null
	n=$(inodes)
	[ "$n" -ge 3000 ] || t_fail "max_inodes=0: only $n inodes kept"
}
t_case no-limit-keeps-all keeps_all
t_umount_check
