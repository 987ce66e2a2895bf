#!/usr/bin/env bash
#
# t-daemon.sh - the daemon's life cycle: exit 0 after fusermount3 -u in the
# foreground, with -d (FUSE debug output) and with -s (single-threaded);
# without -f it daemonizes, and the daemonized process still exits 0 after
# fusermount3 -u. Signals: started as a start-up script does (`kvstripe
# SRC MNT -f &` in a non-interactive bash, which ignores SIGINT in its
# background jobs), SIGINT, SIGTERM and SIGHUP unmount and end it with
# status 0, also single-threaded; under nohup SIGHUP stays ignored; a
# log written into a closed pipe (SIGPIPE) does not end it; a daemonized
# one started with SIGINT ignored stops on SIGINT too.

# group: quick

. "$(dirname "$0")/lib.sh"

t_setup 3
M=$T/mnt

# foreground: exit 0 after fusermount3 -u
echo a >"$M/a"
t_umount_check

# -d prints FUSE debug output
t_mount "$T_SOURCES" -d
ls "$M" >/dev/null
cat "$M/a" >/dev/null
t_umount_check
debug_output() {
	grep -qE 'unique: [0-9]+|opcode: |INIT' "$T/log" ||
		t_fail "no FUSE debug output (unique:, opcode: or INIT) in the -d log"
}
t_case debug-output debug_output

# -s: single-threaded
t_mount "$T_SOURCES" -s
single_threaded() {
	mkdir "$M/gpu1"
	t_rand "$T/data" 3000000
	cp "$T/data" "$M/gpu1/data"
	t_cmp "$M/gpu1/data" "$T/data"
}
t_case single-threaded single_threaded
t_umount_check

# SIGTERM unmounts and ends the daemon
t_mount "$T_SOURCES"
kill -TERM "$T_PID"
t_wait_exit "$T_PID" 10 || t_fail "daemon still running 10 s after SIGTERM"
rc=0
wait "$T_PID" || rc=$?
T_PID=
t_log "exit status after SIGTERM: $rc"
sigterm_unmounts() {
	! t_is_mounted "$M" || t_fail "$M still mounted after SIGTERM"
}
t_case sigterm-unmounts sigterm_unmounts

# script_start [ARGS...]: start the daemon the way a start-up script does,
# `kvstripe SRC MNT -f &` in a non-interactive bash, which starts its
# background jobs with SIGINT and SIGQUIT ignored. With WRAP set (nohup),
# the job runs WRAP kvstripe. Right before kvstripe, a shell records in
# $T/sigign the SigIgn line of a child of its own: what kvstripe inherits
# through exec.
# Sets S_SH (the script, whose exit status is the daemon's) and S_PID.
script_start() {
	local i
	rm -f "$T/pid" "$T/sigign"
	printf '=== script start: %s %s %s %s -f %s\n' "${WRAP:-}" "$KVSTRIPE" \
		"$T_SOURCES" "$M" "$*" >>"$T/log"
	# shellcheck disable=SC2016 # expanded by the script's bash
	LOG=$T/log PIDFILE=$T/pid SIGIGN=$T/sigign WRAP=${WRAP:-} bash -c '
		kv=$1 src=$2 mnt=$3
		shift 3
		exec $WRAP sh -c '\''grep "^SigIgn:" /proc/self/status >"$SIGIGN"
			exec "$@"'\'' sh "$kv" "$src" "$mnt" -f "$@" >>"$LOG" 2>&1 &
		echo $! >"$PIDFILE"
		wait $!' script "$KVSTRIPE" "$T_SOURCES" "$M" "$@" &
	S_SH=$!
	T_PIDS+=("$S_SH")
	for ((i = 0; i < 100; i++)); do
		[ -s "$T/pid" ] && [ -s "$T/sigign" ] && break
		sleep 0.1
	done
	S_PID=$(cat "$T/pid") || t_fail "the script did not start the daemon"
	T_PIDS+=("$S_PID")
	t_wait_mount "$M" "$S_PID" || t_fail "no mount from the script's daemon"
}

# script_signal SIG: send SIG to the script's daemon and give it 10 s to
# end. S_RC: its exit status, or "running"; S_LEFT: "mounted" if the mount
# outlived it. Either way the mount is gone afterwards, for the next start.
script_signal() {
	S_RC=0
	S_LEFT=
	kill -"$1" "$S_PID"
	if t_wait_exit "$S_PID" 10; then
		wait "$S_SH" || S_RC=$?
		! t_is_mounted "$M" || S_LEFT=mounted
	else
		S_RC=running
	fi
	if t_is_mounted "$M"; then
		fusermount3 -u "$M" || fusermount3 -u -z "$M"
	fi
	t_wait_exit "$S_PID" 10 || t_fail "daemon $S_PID runs on after an unmount"
	wait "$S_SH" || true
}

# sigign_has SIGNO: the SigIgn mask (hex) in $T/sigign has SIGNO's bit.
sigign_has() {
	local mask
	mask=$(awk '{ print $2 }' "$T/sigign")
	[ -n "$mask" ] || t_fail "no SigIgn line recorded"
	(((0x$mask >> ($1 - 1)) & 1)) ||
		t_fail "signal $1 is not ignored where the daemon started (SigIgn $mask)"
}

# stopped_by WHAT: the script's daemon exited 0 and took its mount along.
stopped_by() {
	t_eq "$S_RC" 0 "exit status after $1"
	[ -z "$S_LEFT" ] || t_fail "$M still mounted after $1"
}

# a script's background job ignores SIGINT; the daemon still stops on it
script_start
t_case script-job-ignores-sigint sigign_has 2
script_signal INT
t_case script-sigint-stops stopped_by SIGINT
script_start
script_signal TERM
t_case script-sigterm-stops stopped_by SIGTERM
script_start
script_signal HUP
t_case script-sighup-stops stopped_by SIGHUP
script_start -s
script_signal INT
t_case script-sigint-stops-single-thread stopped_by "SIGINT (-s)"

# under nohup SIGHUP stays ignored, the daemon serves on; SIGTERM ends it
WRAP="nohup" script_start
t_case nohup-ignores-sighup sigign_has 1
kill -HUP "$S_PID"
sleep 1
sighup_ignored() {
	t_alive "$S_PID" || t_fail "the daemon under nohup ended on SIGHUP"
	t_eq "$(cat "$M/a")" a "content after SIGHUP under nohup"
}
t_case nohup-sighup-serves-on sighup_ignored
script_signal TERM
t_case nohup-sigterm-stops stopped_by "SIGTERM (nohup)"

# SIGPIPE is ignored: with -d every request writes log lines, here into a
# pipe whose reader is gone, and the daemon serves on
printf '=== log into a closed pipe: %s %s %s -f -d\n' "$KVSTRIPE" \
	"$T_SOURCES" "$M" >>"$T/log"
"$KVSTRIPE" "$T_SOURCES" "$M" -f -d > >(head -c 1 >/dev/null) 2>&1 &
T_PID=$!
t_wait_mount "$M" "$T_PID" || t_fail "no mount with the log going to a pipe"
for ((i = 0; i < 5; i++)); do
	ls "$M" >/dev/null 2>&1 || true
	sleep 0.2
done
sigpipe_ignored() {
	t_alive "$T_PID" || t_fail "the daemon died writing its log into a closed pipe"
	t_eq "$(cat "$M/a")" a "content with the log going nowhere"
}
t_case sigpipe-ignored sigpipe_ignored
kill -TERM "$T_PID" 2>/dev/null || true
t_wait_exit "$T_PID" 10 || t_fail "daemon still running 10 s after SIGTERM"
rc=0
wait "$T_PID" || rc=$?
T_PID=
t_case sigpipe-then-sigterm-exits-0 t_eq "$rc" 0 "exit status after SIGTERM"
if t_is_mounted "$M"; then
	fusermount3 -u "$M" || fusermount3 -u -z "$M"
fi

# Without -f the daemonized process is not our child. A subreaper
# (tests/lib/reaper.py) adopts it when its launcher exits, so we learn its
# PID exactly and collect its exit status.

# daemonize_start [PREFIX...]: run PREFIX kvstripe SOURCES MNT (no -f)
# under the subreaper, PREFIX a command that ends by exec'ing its
# arguments. Sets reaper, launcher, lrc (the launcher's exit status) and
# daemon, the one process left serving the mount.
daemonize_start() {
	local i
	rm -f "$T/reaper.out"
	python3 "$T_ROOT/tests/lib/reaper.py" "$T/reaper.out" "$@" "$KVSTRIPE" "$T_SOURCES" \
		"$M" >>"$T/log" 2>&1 &
	reaper=$!
	T_PIDS+=("$reaper")
	for ((i = 0; i < 100; i++)); do
		grep -q '^launcher' "$T/reaper.out" 2>/dev/null && break
		sleep 0.1
	done
	read -r _ launcher lrc <"$T/reaper.out" ||
		t_fail "the launcher did not return within 10 s"
	for ((i = 0; i < 100; i++)); do
		t_is_mounted "$M" && break
		sleep 0.1
	done
	t_is_mounted "$M" || t_fail "no mount after kvstripe without -f returned"
	daemon=$(cat "/proc/$reaper/task/$reaper/children" 2>/dev/null || true)
	daemon=${daemon% }
	if [ -z "$daemon" ] || [ "$daemon" != "${daemon%% *}" ]; then
		t_fail "expected one daemonized process, found '$daemon'"
	fi
	T_PIDS+=("$daemon")
}

# daemonized_exit EVENT: the daemon and the reaper are gone within 10 s
# of EVENT, the daemon exited 0, and nothing is mounted.
daemonized_exit() {
	t_wait_exit "$daemon" 10 ||
		t_fail "daemonized kvstripe still running 10 s after $1"
	t_wait_exit "$reaper" 5 || t_fail "reaper still running"
	grep -q "^exited $daemon 0\$" "$T/reaper.out" || {
		cat "$T/reaper.out" >&2
		t_fail "daemonized kvstripe did not exit 0 after $1"
	}
	! t_is_mounted "$M" || t_fail "$M still mounted after $1"
}

# without -f: daemonizes, and exits 0 after fusermount3 -u
daemonize_start
t_case launcher-exits-0 t_eq "$lrc" 0 "exit status of kvstripe without -f"
daemonized() {
	[ "$daemon" != "$launcher" ] || t_fail "the daemon is the launcher: no fork"
	t_log "launcher $launcher returned 0, daemon $daemon serves $M"
	t_eq "$(cat "$M/a")" a "content through the daemonized mount"
	echo b >"$M/b"
}
t_case daemonized daemonized
fusermount3 -u "$M" || t_fail "fusermount3 -u (daemonized) failed"
t_case daemonized-exits-0 daemonized_exit "fusermount3 -u"
T_AFTER=daemonized t_case daemonized-data \
	t_eq "$(cat "$(t_backing b)")" b "file written through the daemonized mount"

# without -f, started with SIGINT ignored: the daemon still stops on SIGINT
rm -f "$T/sigign"
# shellcheck disable=SC2016 # expanded by the launcher's bash
daemonize_start bash -c 'trap "" INT
	grep "^SigIgn:" /proc/self/status >"$0"
	exec "$@"' "$T/sigign"
t_case daemonized-parent-ignores-sigint sigign_has 2
kill -INT "$daemon"
t_case daemonized-sigint-stops daemonized_exit SIGINT
if t_alive "$daemon"; then
	fusermount3 -u "$M" || fusermount3 -u -z "$M"
	t_wait_exit "$daemon" 10 || true
fi
