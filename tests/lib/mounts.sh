# shellcheck shell=bash disable=SC2034 # T_WHY, T_LOOPDEV: read by the callers
#
# mounts.sh - processes, mounts, tmpfs and ext4-on-loop set-ups, shared by
# the integration tests (tests/integration/lib.sh) and the bench
# (tests/bench/lib.sh). Whatever t_tmpfs, t_loop and t_loopfs make is
# recorded in T_FSMOUNTS and T_LOOPS, and t_fs_release undoes it (unmount in
# reverse, detach, remove the image directory it made): the caller's EXIT
# trap runs it, so nothing is left behind on failure either.
#
# The caller sets, before use:
#   T_IMGDIR    directory for loop images; empty: t_loop makes one under
#               T_IMGBASE (default /tmp), and t_fs_release removes it
#   T_LOOP_OPTS extra losetup options (array), e.g. (--direct-io=on)
#   T_FS_OPTS   mount options of t_loopfs's ext4 (comma list), e.g. noatime
#   T_FSNAME    the source name tmpfs mounts show (default kvstripe-test)
#   T_FAULTFS   the faultfs binary, for t_faultext4 (tests/faultfs/faultfs.c)

T_FSMOUNTS=()		# tmpfs and ext4 mounts made here (unmounted in reverse)
T_LOOPS=()		# loop devices attached here
T_LOOPDEV=		# the one t_loop attached last
T_IMGDIR=${T_IMGDIR:-}
T_IMGOWN=		# the directory t_loop made for images, if it did
T_LOOP_OPTS=()
T_FS_OPTS=${T_FS_OPTS:-}
T_FSNAME=${T_FSNAME:-kvstripe-test}
T_WHY=			# why the last t_loop/t_fsmount/t_loopfs failed
T_FAULTFS=${T_FAULTFS:-}
T_FAULTMNTS=()		# faultfs mount points (each in a directory of its own)
T_FAULTPIDS=()		# their servers
T_FAULTCTL=		# the control file of the last t_faultext4

# --- processes -------------------------------------------------------------

# t_alive PID: PID runs (and is not a zombie).
t_alive() {
	local state
	[ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) ||
		return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

# t_wait_exit PID SECONDS: wait for PID to go away; false on timeout.
t_wait_exit() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		t_alive "$1" || return 0
		sleep 0.1
	done
	! t_alive "$1"
}

# t_stop PID: wait a little, then TERM, then KILL; only a PID we started.
t_stop() {
	t_wait_exit "$1" 3 && return 0
	kill -TERM "$1" 2>/dev/null || true
	t_wait_exit "$1" 5 && return 0
	kill -KILL "$1" 2>/dev/null || true
	t_wait_exit "$1" 5 || true
}

# --- mounts ----------------------------------------------------------------

# t_is_mounted DIR: DIR is a mount point, from /proc/self/mountinfo: unlike
# stat(), this never blocks on a hung FUSE daemon.
t_is_mounted() {
	awk -v d="$1" '$5 == d { found = 1 } END { exit !found }' \
		/proc/self/mountinfo
}

# t_mounts_below DIR: every mount point at or below DIR, deepest first.
t_mounts_below() {
	awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' \
		/proc/self/mountinfo | sort -r
}

t_have_fuse() {
	[ -c /dev/fuse ] && [ -r /dev/fuse ] && [ -w /dev/fuse ] &&
		command -v fusermount3 >/dev/null
}

# t_wait_mount DIR PID: wait (10 s at most) until DIR is a mount point.
# Returns 0 once it is, 1 if PID exited first, 2 on timeout.
t_wait_mount() {
	local i
	for ((i = 0; i < 100; i++)); do
		t_is_mounted "$1" && return 0
		t_alive "$2" || return 1
		sleep 0.1
	done
	t_is_mounted "$1" || return 2
}

# t_fuse_release DIR: unmount every FUSE mount at or below DIR, deepest
# first (lazily if it is busy). Run before t_fs_release: only then are the
# file systems below the FUSE mounts free.
t_fuse_release() {
	local m
	for m in $(t_mounts_below "$1"); do
		case $(awk -v d="$m" '$5 == d { print $(NF - 2) }' \
			/proc/self/mountinfo | tail -n 1) in
		fuse*)
			fusermount3 -u "$m" 2>/dev/null ||
				fusermount3 -u -z "$m" ||
				echo "cleanup: cannot unmount $m" >&2 ;;
		esac
	done
}

# --- file systems to put backing directories on ----------------------------

# t_tmpfs DIR SIZE [OPTIONS]: a tmpfs of SIZE (and the comma-separated mount
# OPTIONS) on DIR, made if missing. False if it cannot be mounted.
t_tmpfs() {
	mkdir -p "$1"
	mount -t tmpfs -o "size=$2${3:+,$3}" "$T_FSNAME" "$1" || return 1
	T_FSMOUNTS+=("$1")
}

# t_loop [-f] SIZE SECTOR: attach a loop device with SECTOR-byte sectors
# (and T_LOOP_OPTS) to a new sparse image of SIZE in T_IMGDIR, record it
# for detaching and name it in T_LOOPDEV. With -f the image is written
# whole first (its memory or blocks taken before anything is measured).
# False, with the reason in T_WHY, if losetup fails. Not in $(...): the
# record must be made in the caller's shell.
t_loop() {
	local img full=
	if [ "$1" = -f ]; then
		full=1
		shift
	fi
	if [ -z "$T_IMGDIR" ]; then
		T_IMGDIR=$(mktemp -d "${T_IMGBASE:-/tmp}/kvstripe-img.XXXXXX")
		T_IMGOWN=$T_IMGDIR
	fi
	img=$(mktemp "$T_IMGDIR/loop.XXXXXX")
	if [ -n "$full" ]; then
		dd if=/dev/zero of="$img" bs=1M status=none \
			count=$(($(numfmt --from=iec "$1") / 1048576))
	else
		truncate -s "$1" "$img"
	fi
	if ! T_LOOPDEV=$(losetup -f --show -b "$2" "${T_LOOP_OPTS[@]}" "$img" \
		2>"$img.err"); then
		T_WHY="cannot set up a loop device: $(head -n 1 "$img.err")"
		T_LOOPDEV=
		return 1
	fi
	T_LOOPS+=("$T_LOOPDEV")
}

# t_fsmount DEV DIR: mount DEV (with T_FS_OPTS) on DIR, made if missing,
# and record it. False, with the reason in T_WHY, if mount fails (a
# container may have loop devices but no right to mount them).
t_fsmount() {
	local err
	mkdir -p "$2"
	if ! err=$(mount ${T_FS_OPTS:+-o "$T_FS_OPTS"} "$1" "$2" 2>&1); then
		T_WHY="cannot mount an ext4 on $1: ${err%%$'\n'*}"
		return 1
	fi
	T_FSMOUNTS+=("$2")
}

# t_loopfs [-f] DIR SIZE SECTOR [MKFS-OPTION...]: an ext4 (made with
# mkfs.ext4 -q -F MKFS-OPTIONS) on a new loop device (t_loop SIZE SECTOR,
# -f passed on), mounted on DIR. Returns 0, or 2 with the reason in T_WHY
# when the machine gives no loop device or no right to mount it (a reason
# to skip), or 1 when mkfs.ext4 fails.
t_loopfs() {
	local full=() dir
	if [ "$1" = -f ]; then
		full=(-f)
		shift
	fi
	dir=$1
	t_loop "${full[@]}" "$2" "$3" || return 2
	shift 3
	if ! mkfs.ext4 -q -F "$@" "$T_LOOPDEV" >/dev/null; then
		T_WHY="mkfs.ext4 $* $T_LOOPDEV failed"
		return 1
	fi
	t_fsmount "$T_LOOPDEV" "$dir" || return 2
}

# t_fs_release: unmount what t_tmpfs/t_fsmount mounted (in reverse order),
# detach what t_loop attached, remove the image directory t_loop made.
t_fs_release() {
	local i
	t_faults_ok
	for ((i = ${#T_FSMOUNTS[@]} - 1; i >= 0; i--)); do
		if t_is_mounted "${T_FSMOUNTS[i]}"; then
			umount "${T_FSMOUNTS[i]}" 2>/dev/null ||
				umount -l "${T_FSMOUNTS[i]}" ||
				echo "cleanup: cannot unmount ${T_FSMOUNTS[i]}" >&2
		fi
	done
	T_FSMOUNTS=()
	for i in "${T_LOOPS[@]}"; do
		losetup -d "$i" || echo "cleanup: cannot detach $i" >&2
	done
	T_LOOPS=()
	t_faults_release
	if [ -n "$T_IMGOWN" ]; then
		rm -rf "$T_IMGOWN"
		T_IMGDIR='' T_IMGOWN=''
	fi
}

# --- a device that fails on demand -----------------------------------------

# t_faultext4 DIR SIZE: an ext4 of SIZE mounted on DIR, on a loop device
# (--direct-io=off) over the file a faultfs serves; T_FAULTCTL is its
# control file, switched with t_fault. No journal, and errors=continue:
# ext4 returns the device's EIO to the request that met it and keeps
# going (a journal would abort on its first failed commit and make the
# whole filesystem read-only). The faultfs is mounted in a directory of
# its own under /tmp, outside any test directory, so that a test's FUSE
# cleanup (t_fuse_release) leaves it to t_fs_release, which unmounts the
# ext4 and detaches the loop device first. Returns 2 where the machine
# cannot (no loop device, no FUSE), 1 on another failure; T_WHY says why.
# T_FAULTEXT4_OPTS: more mount options (e.g. sync: metadata writes wait).
t_faultext4() {
	local dir=$1 img mnt pid
	if [ ! -x "$T_FAULTFS" ]; then
		T_WHY="no faultfs at '$T_FAULTFS' (make build/tests/faultfs)"
		return 1
	fi
	if [ -z "$T_IMGDIR" ]; then
		T_IMGDIR=$(mktemp -d "${T_IMGBASE:-/tmp}/kvstripe-img.XXXXXX")
		T_IMGOWN=$T_IMGDIR
	fi
	img=$(mktemp "$T_IMGDIR/fault.XXXXXX")
	truncate -s "$2" "$img"
	mnt=$(mktemp -d /tmp/kvstripe-faultfs.XXXXXX)
	T_FAULTMNTS+=("$mnt")
	"$T_FAULTFS" "$img" "$mnt" -f 2>"$img.err" &
	pid=$!
	T_FAULTPIDS+=("$pid")
	if ! t_wait_mount "$mnt" "$pid"; then
		T_WHY="faultfs did not mount: $(head -n 1 "$img.err")"
		return 2
	fi
	T_FAULTCTL=$mnt/ctl
	if ! T_LOOPDEV=$(losetup -f --show --direct-io=off "$mnt/img" \
		2>"$img.err"); then
		T_WHY="cannot set up a loop device: $(head -n 1 "$img.err")"
		T_LOOPDEV=
		return 2
	fi
	T_LOOPS+=("$T_LOOPDEV")
	if ! mkfs.ext4 -q -F -O ^has_journal "$T_LOOPDEV" >/dev/null; then
		T_WHY="mkfs.ext4 on $T_LOOPDEV (over faultfs) failed"
		return 1
	fi
	T_FS_OPTS=errors=continue${T_FAULTEXT4_OPTS:+,$T_FAULTEXT4_OPTS} \
		t_fsmount "$T_LOOPDEV" "$dir" || return 2
}

# t_fault MODE [CTL]: switch the faultfs (the last t_faultext4's, or CTL)
# to MODE: ok, eio, eio-reads, eio-writes, hang or 'slow MS' (faultfs.c).
t_fault() {
	echo "$1" >"${2:-$T_FAULTCTL}"
}

# t_faults_ok: every faultfs serves again (a hung one lets its requests
# go), so that what waits on it can finish and be unmounted.
t_faults_ok() {
	local m
	for m in "${T_FAULTMNTS[@]}"; do
		t_is_mounted "$m" && echo ok >"$m/ctl" 2>/dev/null
	done
	return 0
}

# t_faults_release: unmount every faultfs, stop its server, remove its
# mount point. After the ext4s on them are unmounted and their loop
# devices detached (t_fs_release does it in that order).
t_faults_release() {
	local i m
	for ((i = ${#T_FAULTMNTS[@]} - 1; i >= 0; i--)); do
		m=${T_FAULTMNTS[i]}
		if t_is_mounted "$m"; then
			fusermount3 -u "$m" 2>/dev/null ||
				fusermount3 -u -z "$m" ||
				echo "cleanup: cannot unmount $m" >&2
		fi
		[ -z "${T_FAULTPIDS[i]:-}" ] || t_stop "${T_FAULTPIDS[i]}"
		rmdir "$m" 2>/dev/null
	done
	T_FAULTMNTS=() T_FAULTPIDS=() T_FAULTCTL=
}
