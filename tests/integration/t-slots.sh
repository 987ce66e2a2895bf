#!/usr/bin/env bash
#
# t-slots.sh - a device's data requests hold at most its slots (half the
# worker threads by default): with 24 writers in files on device 1 (more
# than the 16 threads), first slowed to 200 ms per request of its disk,
# then hung, writes, reads and creates of files on device 0 still complete
# within 2 s each, as on two separate disks. Device 1 is marked slow; once
# hung, it is failed after device_timeout, its parked requests and new
# ones get EIO at once; once it serves again its old files are intact.
# Device 1 is an ext4 on a loop device over a faultfs; any hang is lifted
# after 20 s whatever happens, so that a failing run cannot hold the
# machine's writeback.

# group: loopdev fault

. "$(dirname "$0")/lib.sh"

t_init
M=$T/mnt
WRITERS=24

[ -e /dev/loop-control ] || t_skip "no /dev/loop-control"
mkdir "$T/b0"
rc=0
t_faultext4 "$T/b1" 512M || rc=$?
[ "$rc" != 2 ] || t_skip "$T_WHY"
[ "$rc" = 0 ] || t_fail "$T_WHY"
t_mount "$T/b0,$T/b1" -o device_timeout=60,entry_timeout=3600,attr_timeout=3600

mkdir "$M/gpu0" "$M/gpu1"
t_rand "$T/data" $((4 * 1024 * 1024))
cp "$T/data" "$M/gpu0/r"
cp "$T/data" "$M/gpu1/old"
t_eq "$(t_device_of gpu1/old)" 1 "device of gpu1/old"
t_eq "$(t_device_of gpu0/r)" 0 "device of gpu0/r"
sync

# slots DEV: device DEV's "BUSY/PARKED/WAITING" (user.kvstripe.slots),
# empty if the mount does not answer within 2 s (the getfattr is left to
# finish on its own: a client stuck in FUSE cannot be killed)
slots() {
	local pid i out=$T/slots.$BASHPID
	getfattr --only-values -n user.kvstripe.slots "$M" >"$out" 2>/dev/null &
	pid=$!
	for ((i = 0; i < 20; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null || cut -d' ' -f$(($1 + 1)) "$out"
}

debug_dump() {
	local t
	echo "client: $(tr '\n' ' ' </proc/$1/stack)" >&2
	gdb -p "$T_PID" -batch -ex 'thread apply all bt' 2>/dev/null |
		grep -E '^#[0-9]+ ' | sed -E 's/^#[0-9]+ +(0x[0-9a-f]+ in )?//; s/ \(.*//' |
		awk '/^(clone3|start_thread)$/{print s; s=""; next} {s=s" < "$0}' |
		sort | uniq -c | sort -rn | head -12 >&2
}

# within SECONDS CMD...: CMD ends within SECONDS and succeeds; a client
# stuck in FUSE cannot be killed, so it is left running and checked with
# kill -0.
within() {
	local s=$1 pid i
	shift
	"$@" &
	pid=$!
	for ((i = 0; i < s * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		T_PIDS+=("$pid")
		[ -z "${SLOTS_DEBUG:-}" ] || debug_dump "$pid"
		t_fail "'$*' still running after $s s (device 1: $(slots 1))"
	fi
	wait "$pid" || t_fail "'$*' failed"
}

# The writers: O_DIRECT, one 1 MiB request each in flight at a time.
writers=()
start_writers() {
	local i
	writers=()
	for ((i = 0; i < WRITERS; i++)); do
		dd if=/dev/zero of="$M/gpu1/w$i" bs=1M count=64 oflag=direct \
			conv=notrunc status=none 2>/dev/null &
		writers+=($!)
	done
	T_PIDS+=("${writers[@]}")
}

# every writer ends: stopped, or told EIO, once device 1 serves again
writers_end() {
	local p i
	for ((i = 0; i < 150; i++)); do
		for p in "${writers[@]}"; do
			kill -0 "$p" 2>/dev/null && break
		done
		kill -0 "$p" 2>/dev/null || return 0
		sleep 0.1
	done
	t_fail "writers still running 15 s after device 1 came back"
}
stop_writers() {
	local p
	for p in "${writers[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
}

# device 1's slots all held, the rest of its writers parked (within 6 s)
held() {
	local s='' end=$((SECONDS + 6))
	while ((SECONDS < end)); do
		s=$(slots 1)
		case $s in
		8/0/*|[0-7]/*|'') ;;
		8/*) return 0 ;;
		esac
		sleep 0.1
	done
	t_fail "device 1's slots: '$s', expected 8 busy and some parked"
}

# device0_round R: on device 0, a 4 MiB O_DIRECT write into gpu0/wR, a
# read of it and of gpu0/r, and a small write into gpu0/cR (truncated
# first), each within 2 s. The files exist: a new name's lookup asks every
# device, and ext4 on device 1 may answer it only as slowly as its disk
# (lookups that leave out a device past device_timeout are another part
# of issue 18, fs/ns.c).
device0_round() {
	local r=$1
	within 2 dd if="$T/data" of="$M/gpu0/w$r" bs=1M oflag=direct \
		conv=notrunc status=none
	within 2 cmp "$T/data" "$M/gpu0/w$r"
	within 2 dd if="$M/gpu0/r" of=/dev/null bs=1M iflag=direct status=none
	within 2 sh -c "echo $r >'$M/gpu0/c$r'"
	t_eq "$(cat "$M/gpu0/c$r")" "$r" "gpu0/c$r"
}

# known NAME...: make the files that do not exist yet, have the kernel
# know every NAME (below the mount) and hold them (t_hold: no reclaim
# drops them) for the rest of the test, and write each once (the kernel
# then learns it has no security.capability and asks no more before a
# write), so that using them asks no device for a name or an attribute:
# lookups and xattrs that leave out a device past device_timeout are
# another part of issue 18 (fs/ns.c, fs/xattr.c).
holder=
known() {
	local n
	for n in "$@"; do
		if [ -s "$M/$n" ]; then
			dd if="$M/$n" of="$M/$n" bs=4096 count=1 conv=notrunc \
				status=none
		else
			printf x >"$M/$n"
		fi
	done
	t_hold "${@/#/$M/}"
	holder=${T_PIDS[-1]}
}
names() {
	local i
	echo gpu0/r gpu1/old
	for i in 1 2 3; do
		echo "gpu0/w$1$i gpu0/c$1$i"
	done
	for ((i = 0; i < WRITERS; i++)); do
		echo "gpu1/w$i"
	done
}

# Device 1 slow: it holds its slots, device 0 is served, device 1 is
# marked slow (and not failed: device_timeout is 60 s here).
# shellcheck disable=SC2046
known $(names s)
t_fault "slow 200"
start_writers
t_case slow-holds-its-slots held
for ((r = 1; r <= 3; r++)); do
	t_case "slow-device0-$r" device0_round "s$r"
done
marked_slow() {
	local i
	for ((i = 0; i < 100; i++)); do
		grep -q 'device 1 .*-> slow' "$T/log" && return 0
		sleep 0.1
	done
	t_fail "device 1 not marked slow"
}
t_case marked-slow marked_slow
t_fault ok
stop_writers
writers_end
kill "$holder"
t_wait_exit "$holder" 5
t_umount_check

# Device 1 hung: the same, then failed after device_timeout (4 s: time
# enough to see its writers parked first, also under ASan).
t_mount "$T/b0,$T/b1" -o device_timeout=4,entry_timeout=3600,attr_timeout=3600
# shellcheck disable=SC2046
known $(names h)
t_fault hang
(sleep 20; t_fault ok) &
lift=$!
T_PIDS+=("$lift")
start_writers
t_case hang-holds-its-slots held
for ((r = 1; r <= 3; r++)); do
	t_case "hang-device0-$r" device0_round "h$r"
done
# failed within device_timeout and a tick; its parked writers told
failed_eio() {
	local i
	for ((i = 0; i < 100; i++)); do
		grep -q 'device 1 .*-> failed' "$T/log" && break
		sleep 0.1
	done
	grep -q 'device 1 .*-> failed: no answer to' "$T/log" ||
		t_fail "device 1 not failed after 10 s"
	grep -q 'device 1: [0-9]* parked requests\? answered EIO' "$T/log" ||
		t_fail "no parked request of device 1 answered"
}
t_case hang-fails-device failed_eio
read_eio() {
	local out
	within 2 sh -c "! dd if='$M/gpu1/old' of=/dev/null bs=1M \
		iflag=direct status=none 2>'$T/read.err'"
	out=$(cat "$T/read.err")
	case $out in
	*"Input/output error"*) ;;
	*) t_fail "read of gpu1/old: '$out', expected EIO" ;;
	esac
	within 2 sh -c "! dd if='$T/data' of='$M/gpu1/old' bs=1M count=1 \
		conv=notrunc oflag=direct status=none 2>/dev/null"
}
t_case failed-device-eio read_eio
t_fault ok
t_stop "$lift"
stop_writers
writers_end
t_cmp "$T/data" "$T/b1/gpu1/old"	# nothing lost
# back in service once its probe finds it answering (core/health.h)
old_reads_back() {
	local i
	for ((i = 0; i < 100; i++)); do
		cmp -s "$T/data" "$M/gpu1/old" 2>/dev/null && return 0
		sleep 0.1
	done
	grep -q 'device 1 .*answers again' "$T/log" ||
		t_fail "device 1 stays failed: $(tail -n 3 "$T/log")"
	t_fail "gpu1/old does not read back"
}
t_case old-file-reads-back old_reads_back
t_case slots-released t_eq "$(slots 0) $(slots 1)" "0/0/0 0/0/0" "slots"
kill "$holder"
t_wait_exit "$holder" 5
t_umount_check
