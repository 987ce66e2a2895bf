#!/usr/bin/env bash
#
# t-freeze.sh - one device stops taking writes (its ext4 frozen with
# fsfreeze, as a hung disk would): files on the other device are still
# created, written, read, renamed, listed and unlinked, since nothing of
# theirs is on the frozen one, and the frozen one's files are still read.
# What does write to it (a file on it) waits, and completes once it takes
# writes again; mkdir makes its one copy on device 0 and does not wait.

# group: loopdev fault

. "$(dirname "$0")/lib.sh"

t_init
M=$T/mnt

[ -e /dev/loop-control ] || t_skip "no /dev/loop-control"
for tool in losetup mkfs.ext4 mount umount fsfreeze; do
	command -v "$tool" >/dev/null || t_skip "no $tool"
done
for i in 0 1; do
	t_ext4 "$T/b$i" 128M 4096
done
t_mount "$T/b0,$T/b1"

mkdir "$M/gpu0" "$M/gpu1"
t_rand "$T/data" $((3 * 1024 * 1024 + 4321))
for f in a b c; do
	cp "$T/data" "$M/gpu0/$f"
done
cp "$T/data" "$M/gpu1/held"
sync
sleep 2.5	# its backing file goes idle and is closed: the read reopens it
fsfreeze -f "$T/b1"
T_FROZEN+=("$T/b1")

# soon WHAT CMD...: CMD succeeds within 10 s, though device 1 is frozen
soon() {
	local what=$1 pid i
	shift
	"$@" &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		fsfreeze -u "$T/b1"
		wait "$pid" || true
		t_fail "$what waited for frozen device 1"
	fi
	wait "$pid" || t_fail "$what failed while device 1 was frozen"
}

t_case create soon "create" cp "$T/data" "$M/gpu0/new"
t_case direct-write soon "O_DIRECT write" dd if="$T/data" of="$M/gpu0/direct" bs=1M \
	oflag=direct status=none
t_case read soon "read" cmp "$T/data" "$M/gpu0/new"
t_case direct-read soon "O_DIRECT read" cmp "$T/data" <(dd if="$M/gpu0/direct" bs=1M \
	iflag=direct status=none)
t_case rename soon "rename" mv "$M/gpu0/a" "$M/gpu0/a2"
t_case rename-over soon "rename over a file" mv -f "$M/gpu0/b" "$M/gpu0/new"
t_case unlink soon "unlink" rm "$M/gpu0/c"
t_case listing soon "listing" ls -l "$M/gpu0" "$M/gpu1"
t_case stat soon "stat" stat "$M/gpu0/a2"
t_case names-while-frozen \
	t_eq "$(ls "$M/gpu0" | tr '\n' ' ')" "a2 direct new " "gpu0/ while frozen"
t_case direct-read-frozen-device soon "O_DIRECT read on device 1" \
	cmp "$T/data" <(dd if="$M/gpu1/held" bs=1M iflag=direct status=none)

# a new directory's one copy goes to device 0: mkdir does not wait
t_case mkdir-while-frozen soon "mkdir" mkdir "$M/gpu0/sub"

# what needs device 1 waits for it, and loses nothing
wait_for_thaw() {
	local rm_pid f
	rm "$M/gpu1/held" &
	rm_pid=$!
	sleep 0.5
	fsfreeze -u "$T/b1"
	wait "$rm_pid" || t_fail "unlink on device 1 failed after the thaw"
	[ ! -e "$M/gpu1/held" ] || t_fail "gpu1/held still there"
	[ -d "$M/gpu0/sub" ] || t_fail "gpu0/sub not made"
	for f in a2 new direct; do
		cmp "$T/data" "$M/gpu0/$f" || t_fail "gpu0/$f changed"
	done
}
t_case writes-wait-for-thaw wait_for_thaw
fsfreeze -u "$T/b1" 2>/dev/null || true	# thawed, whatever the case did
T_FROZEN=()
t_umount_check
