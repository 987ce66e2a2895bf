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
# rewritten with O_TRUNC. Then rounds with the kill at random moments.

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

# Rounds: writers put chunks (sizes as above, O_DIRECT and buffered, one
# write or 1 MiB writes) until the daemon dies at a random moment. Every
# chunk is logged before its create ("start NAME SIZE") and after its
# close ("closed NAME").
# The chunks of putter SEED are slices of one block of seeded data, the
# i-th starting i * 4096 + 1 bytes in (so that no two are alike).
cat >"$T/chunks.py" <<'PY'
import random
BASE = 29 << 20
def chunk(seed, i, size, cache={}):
    if seed not in cache:
        cache[seed] = random.Random(seed).randbytes(BASE + (4 << 20))
    off = (i * 4097) % (4 << 20)
    return memoryview(cache[seed])[off:off + size]
PY
cat >"$T/putter.py" <<'PY'
import mmap, os, random, sys
sys.path.insert(0, os.path.dirname(sys.argv[0]))
from chunks import chunk
d, log, seed = sys.argv[1], sys.argv[2], sys.argv[3]
rng = random.Random(seed)
out = open(log, "a", buffering=1)
chunk(seed, 0, 1)
i = 0
try:
    while True:
        size = rng.choice([12 << 20, 28 << 20, rng.randrange(1 << 20, 20 << 20)])
        direct = rng.random() < 0.5
        whole = rng.random() < 0.5
        name = f"{seed}-{i}"
        buf = mmap.mmap(-1, size)
        buf.write(chunk(seed, i, size))
        view = memoryview(buf)
        out.write(f"start {name} {size}\n")
        flags = os.O_WRONLY | os.O_CREAT | (os.O_DIRECT if direct else os.O_TRUNC)
        fd = os.open(os.path.join(d, name), flags, 0o644)
        step = size if whole else 1 << 20
        for off in range(0, size, step):
            n = min(step, size - off)
            if os.write(fd, view[off:off + n]) != n:
                sys.exit(0)  # the daemon died during the write
        os.close(fd)
        out.write(f"closed {name}\n")
        i += 1
except OSError:
    pass  # the daemon is gone
PY
cat >"$T/check.py" <<'PY'
import errno, os, sys
sys.path.insert(0, os.path.dirname(sys.argv[0]))
from chunks import chunk
d, logs = sys.argv[1], sys.argv[2:]
bad = torn = whole = 0
for log in logs:
    seed = os.path.basename(log)
    started, closed = {}, set()
    for line in open(log):
        w = line.split()
        if w[0] == "start":
            started[w[1]] = int(w[2])
        elif w[0] == "closed":
            closed.add(w[1])
    for name, size in started.items():
        p = os.path.join(d, name)
        if not os.path.exists(p):
            if name in closed:
                print(f"{name}: closed, but missing"); bad += 1
            continue
        try:
            with open(p, "rb") as f:
                got = f.read()
        except OSError as e:
            if e.errno != errno.EIO or name in closed:
                print(f"{name}: {e}{' (closed)' if name in closed else ''}"); bad += 1
                continue
            torn += 1
            st = os.stat(p).st_size
            if st > size:
                print(f"{name}: torn, size {st} past the {size} meant"); bad += 1
            continue
        # the kernel reads an empty file without asking: it says it is torn
        if not got and os.getxattr(p, "user.kvstripe.state") == b"torn":
            torn += 1
            continue
        if got != chunk(seed, int(name.rsplit("-", 1)[1]), size):
            print(f"{name}: read {len(got)} bytes of {size}, not the data written"
                  f"{' (closed)' if name in closed else ''}")
            bad += 1
        else:
            whole += 1
print(f"whole {whole} torn {torn} bad {bad}")
sys.exit(1 if bad else 0)
PY

round_once() {
	local r=$1 w pids=() p
	mkdir -p "$M/gpu0" "$M/gpu1"
	for w in 0 1 2; do
		: >"$T/r$r.$w"
		python3 "$T/putter.py" "$M/gpu$((w % 2))" "$T/r$r.$w" "r$r.$w" &
		pids+=($!)
	done
	sleep "$(python3 -c "import random; print(random.uniform(0.4, 1.6))")"
	kill -KILL "$T_PID"
	wait "$T_PID" 2>/dev/null || true
	T_PID=
	for p in "${pids[@]}"; do
		t_wait_exit "$p" 20 || t_fail "putter $p still running after the kill"
		wait "$p" || t_fail "putter $p failed"
	done
	fusermount3 -u "$M" || t_fail "fusermount3 -u of the dead mount"
}
check_round() {
	local r=$1 out rc=0
	out=$(python3 "$T/check.py" "$M/gpu0" "$T/r$r.0" "$T/r$r.2" 2>&1) || rc=$?
	t_log "round $r gpu0: $(tail -n 1 <<<"$out")"
	[ "$rc" = 0 ] || { printf '%s\n' "$out" >&2; t_fail "round $r: gpu0"; }
	out=$(python3 "$T/check.py" "$M/gpu1" "$T/r$r.1" 2>&1) || rc=$?
	t_log "round $r gpu1: $(tail -n 1 <<<"$out")"
	[ "$rc" = 0 ] || { printf '%s\n' "$out" >&2; t_fail "round $r: gpu1"; }
	rm -rf "${M:?}"/gpu*
	[ -z "$(find "${T_BACK[@]}" -type f)" ] || t_fail "round $r: rm -r left files"
}
for r in 1 2 3 4 5 6 7 8 9 10; do
	t_remount
	round_once "$r"
	t_remount
	t_case "random-kill-round-$r" check_round "$r"
	t_umount_check
done
