#!/usr/bin/env bash
#
# t-dirops.sh - lookups in one directory run at once (FUSE_PARALLEL_DIROPS,
# negotiated in INIT): with device 1's ext4 hung (a faultfs under its loop
# device) and the caches dropped, the lookup of a name gpu0/ lacks asks
# device 1 too and waits in the daemon; meanwhile lookups of names gpu0/
# has on device 0 answer within 2 s, as they would on two separate disks.
# Without the flag the kernel holds gpu0/'s lock for the stuck lookup and
# every other lookup there waits behind it. Once device 1 serves again
# the stuck lookup answers. The hang is always lifted after 10 s, so a
# failing round cannot hold the machine's writeback.

# group: loopdev fault

. "$(dirname "$0")/lib.sh"

t_init
M=$T/mnt

[ -e /dev/loop-control ] || t_skip "no /dev/loop-control"
mkdir "$T/b0"
rc=0
t_faultext4 "$T/b1" 128M || rc=$?
[ "$rc" != 2 ] || t_skip "$T_WHY"
[ "$rc" = 0 ] || t_fail "$T_WHY"
# gpu0/ itself stays valid in the kernel: a lookup of a directory asks
# every device, the hung one too (issue 18's own problem, not this one)
t_mount "$T/b0,$T/b1" -o entry_timeout=3600,attr_timeout=3600

mkdir "$M/gpu0"
for i in 1 2 3; do
	echo "$i" >"$M/gpu0/f$i"
done
t_eq "$(t_device_of gpu0/f1)" 0 "device of gpu0/f1"
exec 7<"$M/gpu0"	# and in the dentry cache
sleep 3	# the daemon closes idle backing files after 2 s
sync

# done_within PID SECONDS: PID ended within SECONDS (not killed: a
# process waiting for a FUSE lock cannot be)
done_within() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		t_alive "$1" || return 0
		sleep 0.1
	done
	return 1
}
others_answer() {
	local n pid
	for n in f1 f2 f3; do
		stat "$M/gpu0/$n" >/dev/null &
		pid=$!
		done_within "$pid" 2 ||
			t_fail "stat gpu0/$n (device 0) waited behind the hung lookup"
		wait "$pid" || t_fail "stat gpu0/$n failed"
	done
}
for ((r = 1; r <= 3; r++)); do
	echo 3 >/proc/sys/vm/drop_caches
	t_fault hang
	(sleep 10; t_fault ok) &
	lift=$!
	stat "$M/gpu0/missing$r" >/dev/null 2>&1 &
	stuck=$!
	sleep 1
	t_case "lookup-waits-$r" t_alive "$stuck"
	T_AFTER="lookup-waits-$r" t_case "others-answer-$r" others_answer
	t_fault ok
	t_stop "$lift"
	rc=0
	wait "$stuck" || rc=$?
	t_case "stuck-answers-$r" t_eq "$rc" 1 "stat's status for a missing name"
done
t_case content t_eq "$(cat "$M/gpu0/f1" "$M/gpu0/f3")" "1
3" "gpu0/f1 and f3"
exec 7<&-
