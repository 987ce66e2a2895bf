#!/usr/bin/env bash
#
# t-daemon.sh - the daemon's life cycle: exit 0 after fusermount3 -u in the
# foreground, with -d (FUSE debug output) and with -s (single-threaded);
# without -f it daemonizes, and the daemonized process still exits 0 after
# fusermount3 -u; SIGTERM unmounts and ends it.

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

# without -f: daemonizes, and exits 0 after fusermount3 -u
# The daemonized process is not our child. A subreaper adopts it when its
# launcher exits, so we learn its PID exactly and collect its exit status.
cat >"$T/reaper.py" <<'EOF'
import ctypes, os, subprocess, sys
PR_SET_CHILD_SUBREAPER = 36
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER): errno %d" % ctypes.get_errno())
report = open(sys.argv[1], "w", buffering=1)
launcher = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL)
report.write("launcher %d %d\n" % (launcher.pid, launcher.wait()))
while True:
    try:
        pid, status = os.wait()
    except ChildProcessError:
        break
    report.write("exited %d %d\n" % (pid, os.waitstatus_to_exitcode(status)))
report.write("done\n")
EOF
python3 "$T/reaper.py" "$T/reaper.out" "$KVSTRIPE" "$T_SOURCES" "$M" \
	>>"$T/log" 2>&1 &
reaper=$!
T_PIDS+=("$reaper")
for ((i = 0; i < 100; i++)); do
	grep -q '^launcher' "$T/reaper.out" 2>/dev/null && break
	sleep 0.1
done
read -r _ launcher lrc <"$T/reaper.out" || t_fail "the launcher did not return within 10 s"
t_case launcher-exits-0 t_eq "$lrc" 0 "exit status of kvstripe without -f"
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
daemonized() {
	[ "$daemon" != "$launcher" ] || t_fail "the daemon is the launcher: no fork"
	t_log "launcher $launcher returned 0, daemon $daemon serves $M"
	t_eq "$(cat "$M/a")" a "content through the daemonized mount"
	echo b >"$M/b"
}
t_case daemonized daemonized
fusermount3 -u "$M" || t_fail "fusermount3 -u (daemonized) failed"
daemonized_exit() {
	t_wait_exit "$daemon" 10 || t_fail "daemonized kvstripe still running 10 s after fusermount3 -u"
	t_wait_exit "$reaper" 5 || t_fail "reaper still running"
	grep -q "^exited $daemon 0\$" "$T/reaper.out" || {
		cat "$T/reaper.out" >&2
		t_fail "daemonized kvstripe did not exit 0"
	}
	! t_is_mounted "$M" || t_fail "$M still mounted"
}
t_case daemonized-exits-0 daemonized_exit
T_AFTER=daemonized t_case daemonized-data \
	t_eq "$(cat "$(t_backing b)")" b "file written through the daemonized mount"
