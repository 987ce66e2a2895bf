#!/usr/bin/env bash
#
# t-fcache.sh - backing files are opened by the daemon on first use, not
# per client open (the kernel opens without asking): the ones kept open
# stay within a quarter of the daemon's descriptor limit however many files
# clients use, a file whose backing file was closed meanwhile reads and
# writes on, a device running full reports ENOSPC to the writer at a write,
# as the same writes straight onto the device do, and an idle mount holds no
# backing file open (the backing filesystem can be remounted read-only, and
# a file deleted by hand in a backing directory gives its space back).

# group: slow fault

. "$(dirname "$0")/lib.sh"

t_init
# the daemon inherits the limit: 256 descriptors, 64 idle backing files
ulimit -Sn 256
ulimit -Hn 256
mkdir "$T/d1"
t_tmpfs "$T/full" 8m || t_fail "mounting a tmpfs at $T/full"
t_mount "$T/full,$T/d1"
M=$T/mnt
mkdir "$M/gpu0" "$M/gpu1"

daemon_fds() {
	find "/proc/$T_PID/fd" -mindepth 1 | wc -l
}

# 1. 600 files written and read back: descriptors stay bounded
bounded() {
	local base i bad n
	base=$(daemon_fds)
	for i in $(seq 1 600); do
		printf 'file %s\n' "$i" >"$M/gpu1/f$i"
	done
	bad=0
	for i in $(seq 1 600); do
		[ "$(cat "$M/gpu1/f$i")" = "file $i" ] || bad=$((bad + 1))
	done
	t_eq "$bad" 0 "files read back wrong"
	n=$(daemon_fds)
	# 64 idle files of up to 2 descriptors each, plus slack for requests in flight
	[ "$n" -le $((base + 140)) ] ||
		t_fail "daemon holds $n descriptors ($base at the start) after 600 files"
}
t_case descriptors-bounded bounded

# 2. a file held open across that churn (its backing file long closed)
held_open() {
	local i
	exec 3<>"$M/gpu1/f1"
	for i in $(seq 1 200); do cat "$M/gpu1/f$i" >/dev/null; done
	t_eq "$(head -c 6 <&3)" "file 1" "read through a descriptor after churn"
	for i in $(seq 201 400); do cat "$M/gpu1/f$i" >/dev/null; done
	printf 'X' >&3
	exec 3>&-
	t_eq "$(cat "$M/gpu1/f1")" "file 1X" "write through a descriptor after churn"
}
T_AFTER=descriptors-bounded t_case held-open-across-churn held_open

# 3. a full device: the writer hears ENOSPC from a write (not from close),
# here and when writing to the tmpfs directly
enospc() {
	python3 - "$M/gpu0/big" "$T/full/direct" <<'PY' || t_fail "ENOSPC (above)"
import errno, os, sys
def fill(path):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    chunk = b"k" * (1 << 20)
    try:
        for _ in range(16):
            os.write(fd, chunk)
    except OSError as e:
        os.close(fd)
        return ("write", e.errno)
    try:
        os.close(fd)
    except OSError as e:
        return ("close", e.errno)
    return ("none", 0)
bad = []
for p in sys.argv[1:]:
    where, err = fill(p)
    if where != "write" or err != errno.ENOSPC:
        bad.append(f"{p}: {where} gave {errno.errorcode.get(err, err)}, expected ENOSPC")
    os.unlink(p)
for line in bad:
    print("    " + line)
sys.exit(1 if bad else 0)
PY
}
t_case enospc-at-write enospc
# the space is back once the file is gone, also through the mount
space_back() {
	head -c 4194304 /dev/zero >"$M/gpu0/again" ||
		t_fail "writing after the full file was removed"
	t_eq "$(stat -c %s "$M/gpu0/again")" 4194304 "size after refilling"
	rm "$M/gpu0/again" "$M"/gpu1/f*
}
t_case space-back space_back

# 4. idle backing files are closed (after 2 s; 10 s allowed here)
open_in_full() {
	find "/proc/$T_PID/fd" -mindepth 1 -lname "$T/full/*" | wc -l
}
idle_closed() {
	local used i freed
	head -c 4194304 /dev/urandom >"$M/gpu0/idle"
	cmp -s "$M/gpu0/idle" "$T/full/gpu0/idle" || t_fail "gpu0/idle not on $T/full"
	used=$(df --output=used -k "$T/full" | tail -n 1)
	rm "$T/full/gpu0/idle"	# by hand, behind the mount's back
	for ((i = 0; i < 100; i++)); do
		[ "$(open_in_full)" -eq 0 ] && break
		sleep 0.1
	done
	t_eq "$(open_in_full)" 0 "backing files open on $T/full after 10 s idle"
	freed=$((used - $(df --output=used -k "$T/full" | tail -n 1)))
	[ "$freed" -ge 4096 ] ||
		t_fail "a file deleted in the backing directory freed $freed KiB, not 4096"
	mount -o remount,ro "$T/full" ||
		t_fail "the backing tmpfs cannot be remounted read-only under an idle mount"
	mount -o remount,rw "$T/full"
	t_expect_err "No such file" cat "$M/gpu0/idle"
}
t_case idle-files-closed idle_closed
t_umount_check
