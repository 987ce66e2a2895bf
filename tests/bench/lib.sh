# shellcheck shell=bash
#
# lib.sh - plumbing for tests/bench/run.sh: the work directory, backing
# set-ups (disk directories, tmpfs or loop+ext4 in RAM), kvstripe mounts,
# the daemon's CPU and memory counters, and statistics. Processes, mounts
# and loop devices go through the helpers shared with the integration
# tests (tests/lib/mounts.sh), which record everything made; the EXIT
# trap (b_cleanup) lifts any faultfs hang first, then undoes it in reverse
# order: FUSE mounts, daemons and clients (by PID), file systems, loop
# devices, then the temporary directories.

# shellcheck disable=SC2034	# used by run.sh
B_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# shellcheck source=tests/lib/mounts.sh
. "$B_ROOT/tests/lib/mounts.sh"
T_FSNAME=kvbench
T_IMGBASE=/dev/shm	# loop images in RAM (b_loopfs)
T_LOOP_OPTS=(--direct-io=on)
T_FS_OPTS=noatime

W=			# work directory (mnt, logs, disk set-up) under BENCH_DISK_DIR
B_PID=			# the daemon of the current mount
B_MNT=			# the current kvstripe mount point
B_PIDS=()		# every daemon and client started in the background
			# (stopped by PID if still running)
B_TIMERS=()		# background timers (a hang's lifter), killed at cleanup
B_CG=			# blkio cgroup this shell was moved into (b_throttle)

# --- messages --------------------------------------------------------------

b_log() {
	printf '# [%3ds] %s\n' "$SECONDS" "$*" >&2
}

b_die() {
	printf 'bench: %s\n' "$*" >&2
	exit 1
}

# --- processes and mounts --------------------------------------------------

# b_mount SOURCES MNT [ARGS...]: start build's daemon copy in the
# foreground on MNT with ARGS, its output appended to $W/daemon.log; wait
# (10 s at most) for the mount.
b_mount() {
	local src=$1 mnt=$2
	local -a extra=("${@:3}")
	# shellcheck disable=SC2206	# word splitting of the options is wanted
	[ -n "${BENCH_MOUNT_OPTS:-}" ] && extra+=($BENCH_MOUNT_OPTS)
	printf '=== %s %s %s -f %s\n' "$B_DAEMON" "$src" "$mnt" \
		"${extra[*]}" >>"$W/daemon.log"
	"$B_DAEMON" "$src" "$mnt" -f "${extra[@]}" >>"$W/daemon.log" 2>&1 &
	B_PID=$!
	B_PIDS+=("$B_PID")
	B_MNT=$mnt
	t_wait_mount "$mnt" "$B_PID" && return 0
	tail -n 20 "$W/daemon.log" >&2
	b_die "kvstripe did not mount $mnt"
}

# b_umount: unmount the current mount; the daemon must exit 0 by itself.
# Prints a warning (and returns 1) otherwise.
b_umount() {
	local rc=0
	[ -n "$B_MNT" ] || return 0
	fusermount3 -u "$B_MNT" || fusermount3 -u -z "$B_MNT" || true
	if ! t_wait_exit "$B_PID" 10; then
		b_log "warning: daemon $B_PID still running 10 s after unmount"
		kill -TERM "$B_PID" 2>/dev/null || true
	fi
	wait "$B_PID" || rc=$?
	B_MNT='' B_PID=''
	if [ "$rc" != 0 ]; then
		b_log "warning: daemon exited with status $rc after unmount"
		return 1
	fi
}

# b_tmpfs DIR SIZE: a tmpfs on DIR (kernel >= 6.6 tmpfs accepts O_DIRECT).
b_tmpfs() {
	t_tmpfs "$1" "$2" mode=0755 || b_die "cannot mount a tmpfs on $1"
}

# b_loopfs DIR SIZE [full]: ext4 on a loop device (direct I/O, 4 KiB
# sectors) over a file in /dev/shm, mounted on DIR. With "full" the file
# is written whole first, and mkfs does not discard it again: the device
# then never allocates memory while it is measured (on this machine's
# kind of VM the first touch of a page is slow and varies several-fold
# from run to run).
b_loopfs() {
	local full=() ext=lazy_itable_init=0,lazy_journal_init=0
	if [ "${3:-}" = full ]; then
		full=(-f)
		ext+=,nodiscard
	fi
	t_loopfs "${full[@]}" "$1" "$2" 4096 -E "$ext" || b_die "$T_WHY"
}

# b_loopdev DIR: the loop device b_loopfs mounted on DIR.
b_loopdev() {
	awk -v d="$1" '$5 == d { print $(NF - 1) }' /proc/self/mountinfo
}

# b_throttle MIBS DEV...: move this shell, and so everything it starts
# from now on, into a blkio cgroup (v1, this machine's kind) that limits
# reads and writes on each block device DEV to MIBS MiB/s: slow devices
# made of fast ones. False if the controller is missing.
b_throttle() {
	local bps=$(($1 * 1048576)) dev mm
	shift
	[ -f /sys/fs/cgroup/blkio/tasks ] || return 1
	B_CG=/sys/fs/cgroup/blkio/kvbench.$$
	mkdir "$B_CG" || { B_CG=; return 1; }
	for dev in "$@"; do
		mm=$(lsblk -dno MAJ:MIN "$dev" | tr -d ' ')
		echo "$mm $bps" >"$B_CG/blkio.throttle.write_bps_device"
		echo "$mm $bps" >"$B_CG/blkio.throttle.read_bps_device"
	done
	echo $$ >"$B_CG/tasks"
}

# b_throttle_set MIBS DEV: change DEV's limit in the cgroup of b_throttle
# to MIBS MiB/s, reads and writes each; 0 lifts it (I/O queued behind the
# old limit then goes at once).
b_throttle_set() {
	local bps=$(($1 * 1048576)) mm
	[ -n "$B_CG" ] || return 1
	mm=$(lsblk -dno MAJ:MIN "$2" | tr -d ' ')
	echo "$mm $bps" >"$B_CG/blkio.throttle.write_bps_device"
	echo "$mm $bps" >"$B_CG/blkio.throttle.read_bps_device"
}

# b_unthrottle: back to the root blkio cgroup; the throttled one goes
# once nothing runs in it (the daemon started there must have exited).
b_unthrottle() {
	[ -n "$B_CG" ] || return 0
	echo $$ >/sys/fs/cgroup/blkio/tasks
	rmdir "$B_CG" 2>/dev/null || b_log "cleanup: cannot remove $B_CG"
	B_CG=
}

b_cleanup() {
	local rc=$? p
	set +eE
	trap '' TERM INT HUP
	cd /
	# a hung faultfs first: what waits on it (the daemon, clients, the
	# machine's writeback) goes on, and everything below can be stopped
	t_faults_ok
	for p in "${B_TIMERS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	# FUSE mounts first: only then are the file systems below them free.
	[ -z "$W" ] || t_fuse_release "$W"
	for p in "${B_PIDS[@]}"; do
		t_stop "$p"
	done
	b_unthrottle
	t_fs_release
	if [ -n "$W" ] && [ -d "$W" ]; then
		if [ "$rc" != 0 ] && [ -s "$W/daemon.log" ]; then
			echo "--- daemon log (last 20 lines)" >&2
			tail -n 20 "$W/daemon.log" | sed 's/^/| /' >&2
		fi
		rm -rf --one-file-system "$W"
	fi
	exit "$rc"
}

# --- counters --------------------------------------------------------------

# The daemon's CPU time so far, user + system, in clock ticks.
b_ticks() {
	sed 's/^.*) //' "/proc/$B_PID/stat" | awk '{ print $12 + $13 }'
}

# b_status_kb FIELD: a field of /proc/PID/status in KiB (VmRSS, VmHWM).
b_status_kb() {
	awk -v f="$1:" '$1 == f { print $2 }' "/proc/$B_PID/status"
}

# Page cache, dentries and inodes: so reads come from the device.
b_drop_caches() {
	echo 3 >/proc/sys/vm/drop_caches
}

# --- statistics ------------------------------------------------------------

# b_median V...: the median (mean of the middle two for an even count).
b_median() {
	[ $# -gt 0 ] || { echo -; return; }
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { if (NR % 2) printf "%.1f\n", v[(NR + 1) / 2]
		      else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# b_spread V...: (max - min) / median in percent, 0 for fewer than two.
b_spread() {
	[ $# -gt 1 ] || { echo 0; return; }
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		      if (m > 0) printf "%.0f\n", (v[NR] - v[1]) * 100 / m
		      else print 0 }'
}

# b_field NAME LINE: the value of NAME=value in kvbench's result line.
b_field() {
	local w
	for w in $2; do
		case $w in
		"$1"=*) echo "${w#*=}"; return ;;
		esac
	done
	echo 0
}
