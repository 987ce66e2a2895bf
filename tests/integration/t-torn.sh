#!/usr/bin/env bash
#
# t-torn.sh - files cut short by a killed daemon (SIGKILL) are torn, never
# served as whole. Writers (O_DIRECT and buffered; 12 MiB, 28 MiB and
# sizes that are no multiple of 1 MiB or 4 KiB) are stopped at known
# points mid-file, the daemon is killed, a new one mounts the same
# directories: every file whose close returned reads back byte-exact;
# every other one fails its reads with EIO, shows the bytes written as
# its size (never space claimed ahead), says "torn" in
# user.kvstripe.state, can be removed, and is ordinary again once
# rewritten with O_TRUNC. Kills at random moments: t-kill.sh.

# group: fault

. "$(dirname "$0")/lib.sh"

t_setup 2
M=$T/mnt
MIB=$((1024 * 1024))
mkdir "$M/gpu0" "$M/gpu1"
mkfifo "$T/go"

# writer.py PATH SIZE STOP DIRECT SEED FIFO STATUS: write SIZE bytes of
# seeded data in 1 MiB writes; at STOP bytes (< SIZE) say "blocked" in
# STATUS and wait on FIFO, then try the rest (the daemon is gone by then);
# STOP = SIZE: close and say "closed".
cat >"$T/writer.py" <<'PY'
import mmap, os, random, sys
path, size, stop, direct, seed, fifo, status = sys.argv[1:8]
size, stop, direct = int(size), int(stop), direct == "1"
data = random.Random(seed).randbytes(size)
buf = mmap.mmap(-1, size)
buf.write(data)
view = memoryview(buf)
flags = os.O_WRONLY | os.O_CREAT | (os.O_DIRECT if direct else os.O_TRUNC)
fd = os.open(path, flags, 0o644)
off = 0
def write_to(end):
    global off
    while off < end:
        n = min(1 << 20, end - off)
        if os.write(fd, view[off:off + n]) != n:
            sys.exit(f"{path}: short write")
        off += n
def say(what):
    with open(status, "w") as f:
        f.write(what + "\n")
write_to(stop)
if stop == size:
    os.close(fd)
    say("closed")
    sys.exit(0)
say("blocked")
open(fifo).read()
try:
    write_to(size)
    os.close(fd)
except OSError:
    pass  # the daemon is gone: ENOTCONN
PY

# name direct size stop: the files of the named cases
CASES="
d12 1 $((12 * MIB)) $((8 * MIB))
d28 1 $((28 * MIB)) $((20 * MIB))
dodd 1 $((5 * MIB + 4095)) $((3 * MIB + 1234))
b12 0 $((12 * MIB + 12345)) $((8 * MIB + 3 * 4096 + 100))
b28 0 $((28 * MIB + 777)) $((20 * MIB))
d12done 1 $((12 * MIB)) $((12 * MIB))
bodd-done 0 $((9 * MIB + 12345)) $((9 * MIB + 12345))
"
# the reference content of NAME (seeded as the writer's)
ref() {
	python3 -c 'import random, sys
sys.stdout.buffer.write(random.Random(sys.argv[1]).randbytes(int(sys.argv[2])))' "$1" "$2"
}
pids=()
while read -r name direct size stop; do
	[ -n "$name" ] || continue
	python3 "$T/writer.py" "$M/gpu$((${#pids[@]} % 2))/$name" "$size" "$stop" \
		"$direct" "$name" "$T/go" "$T/status.$name" &
	pids+=($!)
done <<<"$CASES"
path_of() {
	local i=0 n d s p
	while read -r n d s p; do
		[ -n "$n" ] || continue
		[ "$n" != "$1" ] || { echo "$M/gpu$((i % 2))/$1"; return; }
		i=$((i + 1))
	done <<<"$CASES"
}

writers_at_stop() {
	local i name d s p
	for ((i = 0; i < 300; i++)); do
		local n=0
		while read -r name d s p; do
			[ -n "$name" ] && [ -s "$T/status.$name" ] && n=$((n + 1))
		done <<<"$CASES"
		[ "$n" = 7 ] && return 0
		sleep 0.1
	done
	t_fail "writers did not reach their stops in 30 s"
}
t_case writers-at-stop writers_at_stop
sleep 0.5	# write-behind lands what the writers were told was written

# while written, a file carries the mark and says so
marked_while_written() {
	local b
	b=$(t_backing "$(path_of d12)")
	getfattr --absolute-names -n trusted.kvstripe.writing "$b" >/dev/null 2>&1 ||
		t_fail "no mark on the backing file of a file being written"
	t_eq "$(getfattr --only-values -n user.kvstripe.state "$(path_of d12)")" \
		writing "state of a file being written"
	b=$(t_backing "$(path_of d12done)")
	! getfattr --absolute-names -n trusted.kvstripe.writing "$b" >/dev/null 2>&1 ||
		t_fail "a closed file still carries the mark"
	t_eq "$(getfattr --only-values -n user.kvstripe.state "$(path_of d12done)")" \
		closed "state of a closed file"
	# the mark is the daemon's: clients neither see nor change it
	getfattr --absolute-names -d -m - "$(path_of d12)" 2>/dev/null | grep -q kvstripe &&
		t_fail "the mark is listed through the mount"
	t_expect_err "not permitted" setfattr -x trusted.kvstripe.writing "$(path_of d12)"
	t_expect_err "not permitted" setfattr -n trusted.kvstripe.x -v 1 "$(path_of d12)"
	t_expect_err "No such attribute" getfattr -n trusted.kvstripe.writing "$(path_of d12)"
}
T_AFTER=writers-at-stop t_case marked-while-written marked_while_written

kill -KILL "$T_PID"
wait "$T_PID" 2>/dev/null || true
T_PID=
: <>"$T/go"	# open and close its write end: the blocked writers go on
for p in "${pids[@]}"; do
	t_wait_exit "$p" 20 || t_fail "writer $p still running 20 s after the kill"
	wait "$p" || t_fail "writer $p failed"
done
fusermount3 -u "$M" || t_fail "fusermount3 -u of the dead mount"
t_remount

closed_exact() {
	local name
	for name in d12done bodd-done; do
		read -r _ _ size _ < <(grep "^$name " <<<"$CASES")
		cmp <(ref "$name" "$size") "$(path_of "$name")" ||
			t_fail "$name, closed before the kill, reads back wrong"
	done
}
t_case closed-files-exact closed_exact

# a torn file: EIO for every reader, also one that checks the size
torn_eio() {
	local name d size stop f
	while read -r name d size stop; do
		[ -n "$name" ] && [ "$size" != "$stop" ] || continue
		f=$(path_of "$name")
		t_expect_err "Input/output error" cat "$f"
		t_expect_err "Input/output error" dd if="$f" of=/dev/null bs=1M \
			iflag=direct status=none
		python3 - "$f" "$size" <<'PY' || t_fail "$name: a size-checking reader accepted it"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
try:
    data = os.read(fd, size + 1)
except OSError:
    sys.exit(0)
sys.exit(1 if len(data) == size else 0)
PY
	done <<<"$CASES"
}
T_AFTER=writers-at-stop t_case torn-reads-fail torn_eio

# stat shows what reached the device: a prefix of the data, never the
# size meant, never zeros claimed ahead
torn_size() {
	local name d size stop f got
	while read -r name d size stop; do
		[ -n "$name" ] && [ "$size" != "$stop" ] || continue
		f=$(path_of "$name")
		got=$(t_size "$f")
		[ "$got" -le "$stop" ] ||
			t_fail "$name: size $got, but only $stop bytes were written"
		[ "$got" -ge $((stop / MIB * MIB - 4 * MIB)) ] ||
			t_fail "$name: size $got, $stop bytes were written"
		t_eq "$(t_size "$(t_backing "$f")")" "$got" "$name: backing size"
		cmp -n "$got" <(ref "$name" "$size") "$(t_backing "$f")" ||
			t_fail "$name: the backing file is not the data written"
	done <<<"$CASES"
}
T_AFTER=writers-at-stop t_case torn-size-is-written torn_size

torn_state() {
	t_eq "$(getfattr --only-values -n user.kvstripe.state "$(path_of d28)")" \
		torn "state of a torn file"
	local n
	n=$(getfattr --only-values -n user.kvstripe.torn "$M")
	[ "$n" -ge 5 ] || t_fail "torn files counted at the root: $n, expected 5 or more"
	grep -q "torn file .*/d28: it was being written" "$T/log" ||
		t_fail "no log line for the torn file d28"
}
T_AFTER=torn-reads-fail t_case torn-state-shown torn_state

# rewritten with O_TRUNC, a torn file is an ordinary one again
torn_rewrite() {
	local f
	f=$(path_of b12)
	ref x 3000000 >"$T/new"
	cp "$T/new" "$f"
	t_cmp "$f" "$T/new"
	t_eq "$(getfattr --only-values -n user.kvstripe.state "$f")" closed "state after the rewrite"
	! getfattr --absolute-names -n trusted.kvstripe.writing "$(t_backing "$f")" >/dev/null 2>&1 ||
		t_fail "the mark stayed after the rewrite"
}
T_AFTER=torn-reads-fail t_case torn-rewrite-o-trunc torn_rewrite

torn_rm() {
	local f b
	for n in d12 d28 dodd b28; do
		f=$(path_of $n)
		b=$(t_backing "$f")
		rm "$f"
		[ ! -e "$b" ] || t_fail "rm left the backing file of $n"
	done
}
T_AFTER=torn-reads-fail t_case torn-rm torn_rm
rm -rf "${M:?}"/gpu*
t_umount_check
