#!/usr/bin/env bash
#
# t-deverr.sh - a device that fails: device 1's ext4 sits on a loop device
# over a faultfs file (tests/faultfs/faultfs.c) switched to EIO. 50 writes
# (buffered and O_DIRECT, write-behind sized) and 50 reads of its files
# fail with EIO to the client, and the daemon's log stays short: the first
# write error names the file and the operation, the health probe it sets
# off fails the device in one line, and from then on its files get EIO
# without asking it (core/hprobe.h). Device 0's files keep working; once
# the device serves again, the probe finds it back and its files read
# again. The failures count as device 1's EIO errors in kvstripe stats.

# group: loopdev fault

. "$(dirname "$0")/lib.sh"

t_init
M=$T/mnt

[ -e /dev/loop-control ] || t_skip "no /dev/loop-control"
for tool in losetup mkfs.ext4 mount umount; do
	command -v "$tool" >/dev/null || t_skip "no $tool"
done
mkdir "$T/b0"
rc=0
t_faultext4 "$T/b1" 256M || rc=$?
[ "$rc" != 2 ] || t_skip "$T_WHY"
[ "$rc" = 0 ] || t_fail "$T_WHY"
# the kernel keeps device 1's names and attributes (no LOOKUP while it
# fails: once the device is failed, a lookup leaves it out and finds
# nothing there; no GETATTR before a client's I/O: a failed device's
# GETATTR is answered EIO, so the READ or WRITE, which the statistics
# count, would never come)
t_mount "$T/b0,$T/b1" -o entry_timeout=600,attr_timeout=600

N=50
mkdir "$M/gpu0" "$M/gpu1"
t_rand "$T/data" $((2 * 1024 * 1024))
t_rand "$T/small" $((1024 * 1024))
for ((i = 0; i < N; i++)); do
	cp "$T/small" "$M/gpu1/r$i"
	: >"$M/gpu1/w$i"	# made now: the writes below meet the data path
done
cp "$T/data" "$M/gpu0/a"
: >"$M/gpu0/b"	# found on device 0: its lookup never asks device 1
# device 1's names stay cached, in its ext4 and in the mount, whatever
# drops caches meanwhile (memory pressure, another test's drop_caches:
# a dentry the kernel forgot would be looked up, found on no device that
# answers, and dd would make the file anew on device 0): the writes and
# reads below meet the device in their I/O, not in a lookup (gpu0/ has
# no copy there: nothing of it was placed on device 1)
t_hold "$T/b1" "$T/b1/gpu1" "$T/b1"/gpu1/* "$M/gpu1" "$M/gpu1"/*
holder=${T_PIDS[-1]}
sync
# the kernel asks for a file's security.capability before its first
# write; asked now, the daemon learns each w$i has none and answers
# that from memory from then on, so that the writes below meet the
# device in their WRITE, not in a GETXATTR
python3 - "$M/gpu1" "$N" <<'PY'
import errno, os, sys
for i in range(int(sys.argv[2])):
    try:
        os.getxattr("%s/w%d" % (sys.argv[1], i), "security.capability")
    except OSError as e:
        if e.errno != errno.ENODATA:
            raise
PY
# no page of an r$i cached, in the mount or in the ext4, so the reads
# below reach the daemon and the device; nothing else dropped (the
# ext4's metadata blocks dropped while it fails would be read from the
# failing device: ext4 would find itself corrupt once it serves again)
python3 - "$M/gpu1" "$T/b1/gpu1" "$N" <<'PY'
import os, sys
for d in sys.argv[1:3]:
    for i in range(int(sys.argv[3])):
        fd = os.open("%s/r%d" % (d, i), os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
PY
t_fault eio

# every one of N commands fails with EIO; $1 names them
all_fail() {
	local what=$1 i failed=0
	shift
	for ((i = 0; i < N; i++)); do
		if "$@" "$i" >"$T/err" 2>&1; then
			t_fail "$what $i succeeded on the failing device"
		fi
		grep -q "Input/output error" "$T/err" ||
			t_fail "$what $i failed without EIO: $(cat "$T/err")"
		failed=$((failed + 1))
	done
	t_eq "$failed" "$N" "failed ${what}s"
}
# half buffered, half O_DIRECT; 2 MiB: two write-behind pieces and more
write_one() {
	local direct=
	[ $(($1 % 2)) = 0 ] || direct=oflag=direct
	dd if="$T/data" of="$M/gpu1/w$1" bs=1M $direct conv=notrunc \
		status=none
}
read_one() {
	local direct=
	[ $(($1 % 2)) = 0 ] || direct=iflag=direct
	dd if="$M/gpu1/r$1" of=/dev/null bs=1M $direct status=none
}
t_case writes-fail all_fail write write_one

# gpu0/b exists on device 0: a lookup of a new name would meet device
# 1's error and fail (see docs/design.md, Faults)
gpu0_works() {
	cp "$T/data" "$M/gpu0/b"
	t_cmp "$T/data" "$M/gpu0/b"
	t_cmp "$T/data" "$M/gpu0/a"
}
t_case gpu0-works gpu0_works
T_AFTER=writes-fail t_case reads-fail all_fail read read_one

gpu0_reads() {
	t_cmp "$T/data" "$M/gpu0/a"
	dd if="$M/gpu0/b" of="$T/back" bs=1M iflag=direct status=none
	t_cmp "$T/data" "$T/back"
	dd if="$T/data" of="$M/gpu0/a" bs=1M oflag=direct conv=notrunc \
		status=none
}
T_AFTER=gpu0-works t_case gpu0-reads-writes gpu0_reads

# dev_state N: device N's state now (the root's user.kvstripe.devices)
dev_state() {
	python3 -c 'import os, sys
for l in os.getxattr(sys.argv[1], "user.kvstripe.devices").decode().splitlines():
    n, state, _ = l.split(" ", 2)
    if n == sys.argv[2]:
        print(state)' "$M" "$1"
}

log_bounded() {
	local lines
	grep -E "device 1: write(-behind)? of 'gpu1/w[0-9]+' failed: Input/output error" \
		"$T/log" >/dev/null || t_fail "no first write error naming its file"
	t_eq "$(grep -cE "device 1 \(.*\): ok -> failed: probe: Input/output error" \
		"$T/log")" 1 "lines failing device 1"
	grep -q "device 0: .* failed" "$T/log" && t_fail "device 0 errors logged"
	lines=$(grep -vcE "^kvstripe: (device [0-9]+: /|mounted )" "$T/log" || true)
	[ "$lines" -lt 20 ] || t_fail "$lines log lines for $((2 * N)) failures"
}
T_AFTER="writes-fail reads-fail" t_case log-bounded log_bounded

# the failures are device 1's errors in its statistics, none device 0's
stats_eio() {
	"$KVSTRIPE" stats "$M" --json >"$T/stats.json"
	python3 - "$T/stats.json" "$N" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["devices"]
n = int(sys.argv[2])
# each O_DIRECT write's WRITE, at least, answered EIO
assert d[1]["errors_eio"] >= n // 2, d[1]
assert d[0]["errors_eio"] + d[0]["errors_other"] == 0, d[0]
assert d[0]["reads"] > 0 and d[0]["writes"] > 0, d[0]
PY
}
T_AFTER="writes-fail" t_case stats-count-eio stats_eio

back_ok() {
	local end=$((SECONDS + 20)) from st
	from=$(($(wc -l <"$T/log") + 1))
	t_fault ok
	# within 20 s (a failed device is probed every second) the probe
	# finds device 1 answering and it is ok again
	while :; do
		st=$(dev_state 1)
		[ "$st" = ok ] && break
		# unless ext4 met the fault in metadata it had to read or write
		# (another process's drop_caches or sync meanwhile) and now
		# finds itself corrupt: the probe's EUCLEAN or EBADMSG keeps
		# the device out, as it should (docs/design.md, "Device health")
		if tail -n "+$from" "$T/log" | grep -qE \
			"device 1 \(.*\): .* probe: .*(EUCLEAN|Bad message)"; then
			t_skip "ext4 on device 1 finds itself corrupt after the fault"
		fi
		[ "$SECONDS" -lt "$end" ] ||
			t_fail "device 1 still $st 20 s after the fault"
		sleep 0.1
	done
	t_cmp "$T/small" "$M/gpu1/r0"
	dd if="$M/gpu1/r1" of="$T/back" bs=1M iflag=direct status=none
	t_cmp "$T/small" "$T/back"
}
t_case reads-after-recovery back_ok
kill "$holder"	# it holds names in the mount
t_wait_exit "$holder" 5
t_umount_check
