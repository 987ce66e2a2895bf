# shellcheck shell=bash
#
# lib.sh - shared harness for the kvstripe integration tests (t-*.sh).
#
# A test sources this file, calls t_setup N [daemon args], and works on
# $T/mnt (the kvstripe mount), $T/ref (a plain directory for parity) and the
# backing directories in T_BACK. Its checks are named cases (t_case): a
# failing case says its name, and the cases after it still run. Whatever
# happens, the EXIT trap unmounts, stops the daemons this test started (by
# PID), unmounts its file systems, detaches its loop devices and removes
# $T. Exit status: 0 pass, 1 fail (a case or the set-up), 77 skip.
#
# Environment:
#   KVSTRIPE               daemon binary (default: build/kvstripe of the repo)
#   KVSTRIPE_REQUIRE_FUSE  1: missing FUSE is a failure, not a skip
#   KVSTRIPE_KEEP          1: keep $T of a failed test for inspection

set -Eeuo pipefail
export LC_ALL=C

T_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
T_NAME=$(basename "$0" .sh)

# shellcheck source=tests/lib/mounts.sh
. "$T_ROOT/tests/lib/mounts.sh"

KVSTRIPE=${KVSTRIPE:-$T_ROOT/build/kvstripe}
case $KVSTRIPE in
/*) ;;
*) KVSTRIPE=$PWD/$KVSTRIPE ;;
esac
# the failing device's server is built beside the daemon (make integration)
T_FAULTFS=${T_FAULTFS:-$(dirname "$KVSTRIPE")/tests/faultfs}

T=			# the work directory, set by t_init
T_PID=			# the foreground daemon of the current mount
T_SOURCES=		# the source list of the current mount
T_SRC=			# the source list t_mkback made
T_ARGS=()		# the extra daemon arguments of the current mount
T_BACK=()		# backing directories of the current mount, by device index
T_PIDS=()		# other processes this test started and must stop
T_PARAMS=()		# kernel parameter files and the values to restore
T_FROZEN=()		# file systems this test froze (fsfreeze -f)
T_NMOUNT=0		# mounts so far, to label the log
T_CASE=			# the case running (set in its subshell only)
T_DEPTH=0		# $BASH_SUBSHELL of the test's own shell or of the case
T_NCASES=0		# cases run so far
T_PASSED=0 T_SKIPPED=0
T_FAILED=()		# names of the cases that failed
T_BLOCKED=()		# names of the cases skipped for a failed T_AFTER

# --- reporting -------------------------------------------------------------

t_log() {
	printf '# %s\n' "$*"
}

# t_fail MESSAGE: inside a case, end the case as failed; outside one (in
# the set-up, or a step every later case needs), end the test.
t_fail() {
	printf 'FAIL: %s%s\n' "${T_CASE:+[$T_CASE] }" "$*" >&2
	exit 1
}

# t_skip MESSAGE: end the test (inside a case: the case) as skipped.
t_skip() {
	printf 'SKIP: %s\n' "$*"
	exit 77
}

# An unchecked command failed under set -e: say which one, and where (in
# the test's or the case's own shell only: a failing $(...) is reported
# where it is used).
t_on_err() {
	local rc=$1 cmd=$2 i
	[ "$BASH_SUBSHELL" = "$T_DEPTH" ] || return 0
	printf 'FAIL: %scommand exited %s: %s\n' "${T_CASE:+[$T_CASE] }" \
		"$rc" "$cmd" >&2
	for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
		printf '    at %s:%s (%s)\n' "${BASH_SOURCE[i]##*/}" \
			"${BASH_LINENO[i - 1]}" "${FUNCNAME[i]}" >&2
	done
}
trap 't_on_err $? "$BASH_COMMAND"' ERR

# --- cases -----------------------------------------------------------------

# t_case NAME CMD [ARG...]: run CMD (a function for a case of several
# steps) as the case NAME, in a subshell under set -e: a t_fail or a
# failing command ends the case, not the test, and the next case runs.
# Prints "ok N - NAME", "not ok N - NAME" or "ok N - NAME # SKIP ...".
# What a case changes in files persists; what it sets in shell variables
# or the mount's state (t_mount, t_umount_check) does not: such steps stay
# outside cases. With T_AFTER="CASE..." in its environment, a case that
# needs what earlier cases made is skipped if one of them failed (or was
# skipped for that reason).
t_case() {
	local name=$1 rc=0 dep
	shift
	T_NCASES=$((T_NCASES + 1))
	for dep in ${T_AFTER:-}; do
		if t_case_failed "$dep"; then
			printf 'ok %d - %s # SKIP needs %s, which did not pass\n' \
				"$T_NCASES" "$name" "$dep"
			T_SKIPPED=$((T_SKIPPED + 1))
			T_BLOCKED+=("$name")
			return 0
		fi
	done
	trap - ERR
	set +e
	(
		T_CASE=$name
		T_DEPTH=$BASH_SUBSHELL
		trap 't_on_err $? "$BASH_COMMAND"' ERR
		set -e
		"$@"
	)
	rc=$?
	set -e
	trap 't_on_err $? "$BASH_COMMAND"' ERR
	case $rc in
	0)
		T_PASSED=$((T_PASSED + 1))
		printf 'ok %d - %s\n' "$T_NCASES" "$name" ;;
	77)
		T_SKIPPED=$((T_SKIPPED + 1))
		printf 'ok %d - %s # SKIP\n' "$T_NCASES" "$name" ;;
	*)
		T_FAILED+=("$name")
		printf 'not ok %d - %s\n' "$T_NCASES" "$name" ;;
	esac
}

# t_case_failed NAME: the case NAME failed, or was skipped because a case
# it needs failed.
t_case_failed() {
	local f
	for f in "${T_FAILED[@]}" "${T_BLOCKED[@]}"; do
		[ "$f" != "$1" ] || return 0
	done
	return 1
}

# --- assertions ------------------------------------------------------------

# t_eq ACTUAL EXPECTED MESSAGE
t_eq() {
	[ "$1" = "$2" ] ||
		t_fail "$3: expected '$2', got '$1'"
}

# t_cmp FILE1 FILE2: identical content.
t_cmp() {
	cmp -- "$1" "$2" >&2 || t_fail "content differs: $1 $2"
}

# t_expect_err TEXT CMD...: CMD must fail and print TEXT (the errno text).
t_expect_err() {
	local text=$1 out rc=0
	shift
	out=$("$@" 2>&1) || rc=$?
	[ "$rc" != 0 ] || t_fail "'$*' succeeded, expected '$text'"
	case $out in
	*"$text"*) ;;
	*) t_fail "'$*' failed (status $rc) without '$text': $out" ;;
	esac
}

# t_parity 'COMMAND {}...': run the shell COMMAND with {} replaced by the
# mount, then by the reference directory; stdout+stderr (paths normalised
# back to {}) and exit status must be the same. t_parity_nobody: the same,
# the command run as user nobody with no supplementary groups.
t_parity() {
	t_parity_as "" "$1"
}

t_parity_nobody() {
	t_parity_as nobody "$1"
}

t_as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
}

t_parity_as() {
	local cmd=$2 om or rm_=0 rr=0 run=()
	[ -z "$1" ] || run=(t_as_nobody)
	om=$(cd "$T/mnt" && "${run[@]}" bash -c "${cmd//\{\}/$T/mnt}" 2>&1) || rm_=$?
	or=$(cd "$T/ref" && "${run[@]}" bash -c "${cmd//\{\}/$T/ref}" 2>&1) || rr=$?
	om=${om//"$T/mnt"/\{\}}
	or=${or//"$T/ref"/\{\}}
	if [ "$rm_" != "$rr" ] || [ "$om" != "$or" ]; then
		printf 'mount: status %s: %s\nref:   status %s: %s\n' \
			"$rm_" "$om" "$rr" "$or" >&2
		t_fail "parity${1:+ as $1}: $cmd"
	fi
}

# --- files -----------------------------------------------------------------

# t_rand FILE SIZE: SIZE bytes of random data.
t_rand() {
	head -c "$2" /dev/urandom >"$1"
}

t_size() {
	stat -c %s -- "$1"
}

t_ino() {
	stat -c %i -- "$1"
}

# Path of FILE relative to the mount (FILE may be absolute below $T/mnt).
t_rel() {
	local p=${1#"$T/mnt"}
	printf '%s\n' "${p#/}"
}

# t_device_of FILE: the index of the one backing directory that holds FILE
# (a file or symlink, relative to the mount). Fails unless exactly one does.
t_device_of() {
	local rel i found=()
	rel=$(t_rel "$1")
	for i in "${!T_BACK[@]}"; do
		if [ -L "${T_BACK[i]}/$rel" ] ||
			{ [ -e "${T_BACK[i]}/$rel" ] && [ ! -d "${T_BACK[i]}/$rel" ]; }; then
			found+=("$i")
		fi
	done
	if [ "${#found[@]}" != 1 ]; then
		echo "t_device_of: '$rel' is on devices [${found[*]}]" >&2
		return 1
	fi
	echo "${found[0]}"
}

# t_backing FILE: the backing path of FILE (relative to the mount).
t_backing() {
	local rel d
	rel=$(t_rel "$1")
	d=$(t_device_of "$rel")
	printf '%s\n' "${T_BACK[d]}/$rel"
}

# t_nowhere NAME: no backing directory has NAME (relative to the mount).
t_nowhere() {
	local i
	for i in "${!T_BACK[@]}"; do
		if [ -e "${T_BACK[i]}/$1" ] || [ -L "${T_BACK[i]}/$1" ]; then
			t_fail "'$1' still exists on device $i"
		fi
	done
}

# t_copies DIR: the devices holding directory DIR (relative to the
# mount), in order, on one line: a directory has a copy where it was made
# and where something was placed below it.
t_copies() {
	local i out=()
	for i in "${!T_BACK[@]}"; do
		[ ! -d "${T_BACK[i]}/$1" ] || out+=("$i")
	done
	echo "${out[*]}"
}

# t_within SECONDS CMD...: CMD, run in the background, ends within SECONDS
# and succeeds; its stderr goes to $T/err. One still running is left to
# end on its own (a client waiting in FUSE cannot be killed) and stopped
# at cleanup.
t_within() {
	local secs=$1 pid i rc=0
	shift
	"$@" >/dev/null 2>"$T/err" &
	pid=$!
	for ((i = 0; i < secs * 20; i++)); do
		t_alive "$pid" || break
		sleep 0.05
	done
	if t_alive "$pid"; then
		T_PIDS+=("$pid")
		t_fail "'$*' still running after $secs s"
	fi
	wait "$pid" || rc=$?
	[ "$rc" = 0 ] || t_fail "'$*' failed ($rc): $(cat "$T/err")"
}

# t_fault_hang MODE: switch the faultfs to MODE (hang), and arm a timer
# that lets every faultfs serve again after 40 s whatever happens: a hung
# faultfs stalls sync(2) machine-wide. t_fault_lift lifts it now.
T_LIFT=
t_fault_hang() {
	t_fault "$1"
	(sleep 40; t_faults_ok) &
	T_LIFT=$!
	T_PIDS+=("$T_LIFT")
}

t_fault_lift() {
	t_faults_ok
	[ -z "$T_LIFT" ] || t_stop "$T_LIFT"
	T_LIFT=
}

# t_init: the work directory and the cleanup trap; no mount yet.
t_init() {
	if ! t_have_fuse; then
		if [ "${KVSTRIPE_REQUIRE_FUSE:-0}" = 1 ]; then
			t_fail "no usable /dev/fuse or fusermount3, and KVSTRIPE_REQUIRE_FUSE=1"
		fi
		t_skip "no usable /dev/fuse or fusermount3"
	fi
	[ -x "$KVSTRIPE" ] || t_fail "daemon '$KVSTRIPE' not found (build it, or set KVSTRIPE)"
	T=$(mktemp -d /tmp/kvstripe-"$T_NAME".XXXXXX)
	T_IMGDIR=$T		# loop images go with the rest
	trap t_cleanup EXIT
	trap 't_fail "terminated by a signal (timeout?)"' TERM INT HUP
	chmod 0755 "$T"		# other users may need to reach the mount
	mkdir "$T/mnt" "$T/ref"
	: >"$T/log"
}

# t_ext4 DIR SIZE SECTOR [MKFS-OPTION...]: t_loopfs (an ext4 on a new loop
# device, mounted on DIR); the test is skipped where the machine has no
# loop device or no right to mount one, and fails if mkfs.ext4 does.
t_ext4() {
	local rc=0
	t_loopfs "$@" || rc=$?
	[ "$rc" != 2 ] || t_skip "$T_WHY"
	[ "$rc" = 0 ] || t_fail "$T_WHY"
}

# t_mkback N [PREFIX]: make $T/PREFIX0..N-1 (default b), list in T_SRC.
t_mkback() {
	local i p=${2:-b}
	T_SRC=
	for ((i = 0; i < $1; i++)); do
		mkdir -p "$T/$p$i"
		T_SRC+=${T_SRC:+,}$T/$p$i
	done
}

# t_mount SOURCES [ARGS...]: run the daemon in the foreground on $T/mnt,
# log to $T/log, and wait (10 s at most) until the mount answers.
t_mount() {
	local i entry rc
	! t_is_mounted "$T/mnt" || t_fail "t_mount: $T/mnt is still mounted"
	T_SOURCES=$1
	shift
	T_ARGS=("$@")
	T_BACK=()
	IFS=, read -ra entry <<<"$T_SOURCES"
	for i in "${entry[@]}"; do
		i=$(sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' \
			-e 's#^file://##' -e 's#//*$##' <<<"$i")
		T_BACK+=("$i")
	done
	T_NMOUNT=$((T_NMOUNT + 1))
	printf '=== mount %s: %s %s %s -f %s\n' "$T_NMOUNT" "$KVSTRIPE" \
		"$T_SOURCES" "$T/mnt" "$*" >>"$T/log"
	"$KVSTRIPE" "$T_SOURCES" "$T/mnt" -f "$@" >>"$T/log" 2>&1 &
	T_PID=$!
	rc=0
	t_wait_mount "$T/mnt" "$T_PID" || rc=$?
	case $rc in
	0)
		timeout 10 mountpoint -q "$T/mnt" ||
			t_fail "mounted, but mountpoint -q $T/mnt fails" ;;
	1)
		rc=0
		wait "$T_PID" || rc=$?
		T_PID=
		t_fail "daemon exited with status $rc before mounting" ;;
	*)
		t_fail "no mount on $T/mnt after 10 s" ;;
	esac
}

# t_setup N [ARGS...]: t_init, N backing directories b0.., then t_mount.
t_setup() {
	local n=$1
	shift
	t_init
	t_mkback "$n"
	t_mount "$T_SRC" "$@"
}

# Mount again with the same sources and arguments (after t_umount_check).
t_remount() {
	t_mount "$T_SOURCES" "${T_ARGS[@]}"
}

# t_umount_check: fusermount3 -u, then the daemon must exit 0 within 10 s.
# Not inside a case: it ends the mount for the cases after it. A daemon
# that does not go away ends the test; its exit status is a case of its
# own ("unmount N", N counting the mounts).
t_umount_check() {
	local rc=0
	[ -z "$T_CASE" ] || t_fail "t_umount_check inside a case"
	fusermount3 -u "$T/mnt" || t_fail "fusermount3 -u $T/mnt failed"
	t_wait_exit "$T_PID" 10 ||
		t_fail "daemon $T_PID still running 10 s after fusermount3 -u"
	wait "$T_PID" || rc=$?
	T_PID=
	t_case "unmount $T_NMOUNT" \
		t_eq "$rc" 0 "daemon exit status after fusermount3 -u"
}

# t_fsck KIND [ARGS...]: run `kvstripe fsck` on the sources of the last
# mount (unmounted by now) with ARGS; print the paths (below the mount)
# of its "device N: KIND: PATH" lines (KIND an extended regex, maybe
# followed by a reason in parentheses), sorted,
# each checked to be on device N. Its output goes to $T/fsck.out, its
# exit status to $T/fsck.rc.
t_fsck() {
	local kind=$1 rc=0 line dev path
	shift
	"$KVSTRIPE" fsck "$T_SOURCES" "$@" >"$T/fsck.out" 2>&1 || rc=$?
	echo "$rc" >"$T/fsck.rc"
	while IFS= read -r line; do
		[[ $line =~ ^device\ ([0-9]+):\ ($kind)(\ \([^\)]*\))?:\ (.*)$ ]] ||
			continue
		dev=${BASH_REMATCH[1]}
		path=${BASH_REMATCH[${#BASH_REMATCH[@]} - 1]}
		path=${path#"${T_BACK[dev]}"}
		path=${path#/}
		[ -n "${T_BACK[dev]:-}" ] || t_fail "fsck named device $dev: $line"
		echo "$path"
	done <"$T/fsck.out" | sort
}

# t_fsx TAG FILE...: run the fsx checker on each FILE (relative to the
# mount) at once, against a twin in $T/ref, seeded by TAG and the name.
t_fsx() {
	local tag=$1 f p seed pids=()
	shift
	for f in "$@"; do
		seed=$(printf '%s%s' "$tag" "$f" | cksum | cut -d' ' -f1)
		python3 "$T_ROOT/tests/integration/fsx.py" "$T/mnt/$f" \
			"$T/ref/${f//\//_}" "$seed" 1500 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || t_fail "fsx run (pid $p) found a difference"
	done
}

# t_param FILE VALUE: write VALUE to the kernel parameter FILE (say, under
# /sys/module), and put the value it had back when the test ends.
t_param() {
	T_PARAMS+=("$1" "$(cat "$1")")
	echo "$2" >"$1"
}

# t_hold PATH...: hold every PATH (O_PATH, a symlink not followed) in a
# process of its own until the test ends, so that its name stays cached
# in its filesystem whatever drops caches (another test's drop_caches,
# memory pressure): a lookup of it then reads no block of a failing
# device. A name not yet made cannot be held.
t_hold() {
	local i
	rm -f "$T/held"
	python3 -c '
import os, sys, time
fds = [os.open(p, os.O_PATH | os.O_NOFOLLOW) for p in sys.argv[1:]]
print("held", flush=True)
time.sleep(86400)
' "$@" >"$T/held" &
	T_PIDS+=($!)
	for ((i = 0; i < 100; i++)); do
		[ -s "$T/held" ] && return 0
		sleep 0.1
	done
	t_fail "t_hold: cannot hold $*"
}

t_cleanup() {
	local rc=$? m i
	set +eE
	trap - ERR
	trap "" TERM INT HUP
	cd /
	if [ "$T_NCASES" -gt 0 ]; then
		printf '# %s cases: %s passed, %s failed, %s skipped\n' "$T_NCASES" \
			"$T_PASSED" "${#T_FAILED[@]}" "$T_SKIPPED"
		if [ "${#T_FAILED[@]}" -gt 0 ]; then
			for i in "${T_FAILED[@]}"; do
				printf "FAIL: case '%s'\n" "$i"
			done
			[ "$rc" != 0 ] && [ "$rc" != 77 ] || rc=1
		fi
	fi
	for i in 3 4 5 6 7 8 9; do
		eval "exec $i>&-"
	done
	# thawed first: the daemon may be waiting on one, and unmounting too
	for i in "${T_FROZEN[@]}"; do
		fsfreeze -u "$i" 2>/dev/null
	done
	t_faults_ok
	# FUSE mounts first: only then are the ext4s below them free.
	[ -z "$T" ] || [ ! -d "$T" ] || t_fuse_release "$T"
	if [ -n "$T_PID" ]; then
		t_stop "$T_PID"
		wait "$T_PID" 2>/dev/null
	fi
	for ((i = ${#T_PIDS[@]} - 1; i >= 0; i--)); do
		t_stop "${T_PIDS[i]}"
	done
	t_fs_release
	for ((i = 0; i + 1 < ${#T_PARAMS[@]}; i += 2)); do
		echo "${T_PARAMS[i + 1]}" >"${T_PARAMS[i]}" ||
			echo "cleanup: cannot restore ${T_PARAMS[i]}" >&2
	done
	if [ -n "$T" ] && [ -d "$T" ]; then
		for m in $(t_mounts_below "$T"); do
			umount -l "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null
		done
		if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -s "$T/log" ]; then
			echo "--- daemon log (last 40 lines of $T/log)" >&2
			tail -n 40 "$T/log" | sed 's/^/| /' >&2
		fi
		if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ "${KVSTRIPE_KEEP:-0}" = 1 ]; then
			echo "kept $T" >&2
		else
			rm -rf --one-file-system "$T"
		fi
	fi
	exit "$rc"
}
