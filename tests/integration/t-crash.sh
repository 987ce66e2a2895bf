#!/usr/bin/env bash
#
# t-crash.sh - the daemon killed (SIGKILL) in the middle of a KV workload:
# every chunk whose close returned before the kill reads back whole after a
# new daemon mounts the same directories (close waits for the write-behind),
# the new daemon can mount at once (the dead one's directory locks went with
# it), and what was being written when the daemon died can be listed and
# removed through the mount.

# group: quick fault

. "$(dirname "$0")/lib.sh"

t_setup 2
M=$T/mnt
for g in 0 1 2 3; do mkdir "$M/gpu$g"; done

# writer.py DIR LOG SEED DIRECT: KV puts (create, one write, close) until an
# error; after each close, "name sha256" goes to LOG, synced.
cat >"$T/writer.py" <<'PY'
import hashlib, mmap, os, random, sys
d, log, seed, direct = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
rng = random.Random(seed)
out = open(log, "a")
i = 0
try:
    while True:
        n = rng.randrange(1, 9) << 20
        if not direct:
            n += rng.randrange(0, 4096)
        buf = mmap.mmap(-1, n)
        buf.write(rng.randbytes(n))
        name = f"chunk{seed}-{i}"
        flags = os.O_WRONLY | os.O_CREAT | (os.O_DIRECT if direct else os.O_TRUNC)
        fd = os.open(os.path.join(d, name), flags, 0o644)
        try:
            if os.write(fd, buf) != n:
                sys.exit(f"{name}: short write")
        finally:
            os.close(fd)
        out.write(f"{name} {hashlib.sha256(buf).hexdigest()}\n")
        out.flush()
        os.fsync(out.fileno())
        i += 1
except OSError:
    pass  # the daemon is gone: ENOTCONN, or EIO
PY

pids=()
for w in 0 1 2 3; do
	: >"$T/done$w"
	python3 "$T/writer.py" "$M/gpu$w" "$T/done$w" "$w" $((w % 2)) &
	pids+=($!)
done
# let them get going: at least a few chunks closed on every device
writers_going() {
	local i n
	for ((i = 0; i < 300; i++)); do
		n=$(cat "$T"/done* | wc -l)
		[ "$n" -ge 12 ] && break
		sleep 0.1
	done
	[ "$n" -ge 12 ] || t_fail "only $n chunks written in 30 s"
}
t_case writers-going writers_going
kill -KILL "$T_PID"
wait "$T_PID" 2>/dev/null || true
T_PID=
failed=
for p in "${pids[@]}"; do
	t_wait_exit "$p" 20 || t_fail "writer $p still running 20 s after the daemon died"
	wait "$p" || failed+=" $p"
done
t_case writers-end t_eq "$failed" "" "writers that failed (their PIDs)"
fusermount3 -u "$M" || t_fail "fusermount3 -u of the dead mount"
t_log "$(cat "$T"/done* | wc -l) chunks closed before the kill"

# a new daemon on the same directories, right away
t_remount
closed_chunks() {
	local bad=0 name sum w got
	while read -r name sum; do
		w=${name#chunk}
		w=${w%%-*}
		got=$(sha256sum <"$M/gpu$w/$name" | cut -d' ' -f1)
		if [ "$got" != "$sum" ]; then
			t_log "gpu$w/$name: sha256 $got, expected $sum"
			bad=$((bad + 1))
		fi
	done < <(cat "$T"/done*)
	t_eq "$bad" 0 "chunks closed before the kill that read back wrong"
}
t_case closed-chunks-intact closed_chunks

# whatever was in flight is an ordinary file: listed, removed
in_flight() {
	local listed on_disk
	listed=$(find "$M" -type f | wc -l)
	on_disk=$(find "${T_BACK[@]}" -type f | wc -l)
	t_eq "$listed" "$on_disk" "files listed through the mount"
	rm -r "$M"/gpu*
	t_eq "$(find "${T_BACK[@]}" -type f | wc -l)" 0 "backing files left after rm -r"
}
t_case in-flight-files in_flight
t_umount_check
