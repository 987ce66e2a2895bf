#!/usr/bin/env bash
#
# t-gluster.sh - kvstripe over GlusterFS, the recipe of docs/scale-out.md:
# a glusterd of our own (its state in the test directory), two one-node
# volumes of two bricks each on the loopback, FUSE-mounted, as the two
# devices. Checks what the probe finds (O_DIRECT opens; no alignment from
# statx or a block device: 4096) and what O_DIRECT means on the volumes,
# placement (gpuN/ on device N, stored on that volume's bricks), byte-exact
# round trips with checksum records on the bricks, LMCache's in-process and
# fs-connector clients, fsck after unmount (clean, then a flipped byte),
# and what two daemons over one shared directory do today (nothing stops
# them: flock on a directory stays in each FUSE client). Not part of make
# test: make test-scaleout runs it. Whatever happens, the EXIT trap
# unmounts, stops and deletes the volumes, stops glusterd by its pid and
# removes what glusterd left outside the test directory.

# group: scaleout

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"

MIB=$((1024 * 1024))
LMCLIENT=$T_ROOT/tests/integration/lmclient.py

GL=			# glusterd's directory: state, bricks, logs, client mounts
GL_PID=			# glusterd (-N: in the foreground, our child)
GL_HOST=		# the brick host: this machine's name (the CLI refuses
			# "localhost" and 127.0.0.1 as brick hosts)
GL_VOLS=()		# volumes created, to stop and delete
GL_MNTS=()		# glusterfs client mounts, to unmount
GL_BEFORE=		# what /var/log/glusterfs and /run/gluster held before

gl() {
	timeout 60 gluster --mode=script --log-file="$GL/log/cli.log" "$@"
}

# gl_outside: the files glusterd, its bricks and the CLI make outside $GL
# whatever their options say (logs and the command history, run-time
# sockets, /var/lib/glusterd/ss_brick and geo-replication/), listed.
gl_outside() {
	{ find /var/log/glusterfs /run/gluster /run/glusterd.socket \
		/var/lib/glusterd \
		2>/dev/null || true; } | sort
}

# Undo the gluster set-up in reverse order, then lib.sh's cleanup.
gl_cleanup() {
	local rc=$? i p m
	set +eE
	trap - ERR
	if [ -z "$GL" ]; then	# skipped or failed before glusterd
		(exit "$rc")
		t_cleanup
	fi
	# the kvstripe mounts first: they hold the glusterfs mounts busy
	for m in $(t_mounts_below "$T"); do
		case $m in "$GL"/*) ;; *)
			fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" ;;
		esac
	done
	for ((i = ${#GL_MNTS[@]} - 1; i >= 0; i--)); do
		if t_is_mounted "${GL_MNTS[i]}"; then
			umount "${GL_MNTS[i]}" 2>/dev/null || umount -l "${GL_MNTS[i]}" ||
				echo "cleanup: cannot unmount ${GL_MNTS[i]}" >&2
		fi
	done
	for ((i = ${#GL_VOLS[@]} - 1; i >= 0; i--)); do
		gl volume stop "${GL_VOLS[i]}" force >/dev/null ||
			echo "cleanup: cannot stop volume ${GL_VOLS[i]}" >&2
		gl volume delete "${GL_VOLS[i]}" >/dev/null ||
			echo "cleanup: cannot delete volume ${GL_VOLS[i]}" >&2
	done
	# a brick left running (its volume would not stop): by its pid file
	find "$GL/run" -name '*.pid' 2>/dev/null | while read -r p; do
		i=$(cat "$p" 2>/dev/null)
		[ -z "$i" ] || ! t_alive "$i" || t_stop "$i"
	done
	if [ -n "$GL_PID" ]; then
		kill -TERM "$GL_PID" 2>/dev/null
		t_stop "$GL_PID"
		wait "$GL_PID" 2>/dev/null
	fi
	if [ -n "$GL_BEFORE" ]; then
		comm -13 "$GL_BEFORE" <(gl_outside) | sort -r | while read -r p; do
			rm -rf -- "$p"
		done
	fi
	(exit "$rc")
	t_cleanup
}

# gl_start: glusterd in the foreground, its working and run directories in
# $GL (never /var/lib/glusterd), on the usual port and socket.
gl_start() {
	local i
	if ! command -v glusterd >/dev/null || ! command -v gluster >/dev/null ||
		! command -v mount.glusterfs >/dev/null; then
		t_skip "no glusterd (apt-get install glusterfs-server glusterfs-client)"
	fi
	if ss -ltnH 'sport = :24007' 2>/dev/null | grep -q .; then
		t_skip "port 24007 is taken: another glusterd runs here"
	fi
	GL_HOST=$(hostname)
	getent ahostsv4 "$GL_HOST" >/dev/null ||
		t_skip "this machine's name '$GL_HOST' does not resolve"
	GL=$T/gl
	mkdir -p "$GL/wd" "$GL/run" "$GL/log" "$GL/bricks"
	gl_outside >"$T/gl-before"
	GL_BEFORE=$T/gl-before
	sed -e "s#/var/lib/glusterd#$GL/wd#" \
		-e "/^end-volume/i\\    option run-directory $GL/run" \
		/etc/glusterfs/glusterd.vol >"$GL/glusterd.vol"
	glusterd -N -f "$GL/glusterd.vol" -l "$GL/log/glusterd.log" \
		-p "$GL/glusterd.pid" >"$GL/log/glusterd.out" 2>&1 &
	GL_PID=$!
	for ((i = 0; i < 100; i++)); do
		gl volume list >/dev/null 2>&1 && return 0
		t_alive "$GL_PID" || break
		sleep 0.1
	done
	tail -n 20 "$GL/log/glusterd.log" >&2
	t_fail "glusterd did not answer within 10 s"
}

# gl_volume NAME: a volume of two bricks on this machine, started, and
# mounted on $GL/NAME. The bricks are on the root filesystem: force.
gl_volume() {
	local v=$1
	mkdir -p "$GL/bricks/$v.0" "$GL/bricks/$v.1" "$GL/$v"
	gl volume create "$v" "$GL_HOST:$GL/bricks/$v.0" \
		"$GL_HOST:$GL/bricks/$v.1" force >/dev/null ||
		t_fail "gluster volume create $v failed"
	GL_VOLS+=("$v")
	gl volume start "$v" >/dev/null || t_fail "gluster volume start $v failed"
	gl_mount "$v" "$GL/$v"
}

# gl_mount VOLUME DIR: a glusterfs client mount (one more FUSE client).
gl_mount() {
	mkdir -p "$2"
	mount -t glusterfs -o log-file="$GL/log/client-${2##*/}.log" \
		"$GL_HOST:/$1" "$2" || t_fail "mount -t glusterfs $1 $2 failed"
	GL_MNTS+=("$2")
}

t_init
trap gl_cleanup EXIT
gl_start
gl_volume kvs0
gl_volume kvs1
M=$T/mnt

# --- O_DIRECT on the volumes, before kvstripe -------------------------------

# odirect VOLDIR: open O_DIRECT, an aligned 4 KiB write, then a 1000-byte
# one; prints where the misaligned write failed: "write", "close" or
# "nowhere".
odirect() {
	python3 - "$1/odirect" <<'EOF'
import mmap, os, sys
p = sys.argv[1]
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o644)
buf = mmap.mmap(-1, 4096)
assert os.write(fd, buf) == 4096
os.close(fd)
fd = os.open(p, os.O_WRONLY | os.O_DIRECT)
where = "nowhere"
try:
    os.write(fd, b"x" * 1000)
except OSError as e:
    where = "write " + os.strerror(e.errno)
try:
    os.close(fd)
except OSError as e:
    where = where if where != "nowhere" else "close " + os.strerror(e.errno)
os.unlink(p)
print(where)
EOF
}

# A volume as created: write-behind acknowledges an O_DIRECT write before
# the brick saw it (performance.strict-o-direct off); the brick's EINVAL
# for a misaligned one comes back at close.
odirect_default() {
	local got
	got=$(odirect "$GL/kvs0")
	t_log "kvs0 (defaults): a 1000-byte O_DIRECT write fails at: $got"
	t_eq "$got" "close Invalid argument" "default volume, misaligned O_DIRECT"
}
t_case odirect-default-deferred odirect_default

# With performance.strict-o-direct on (the recipe), O_DIRECT writes reach
# the brick before write() returns: its EINVAL comes from the write.
gl volume set kvs0 performance.strict-o-direct on >/dev/null
gl volume set kvs1 performance.strict-o-direct on >/dev/null
odirect_strict() {
	local v got
	for v in kvs0 kvs1; do
		got=$(odirect "$GL/$v")
		t_eq "$got" "write Invalid argument" "$v strict-o-direct, misaligned O_DIRECT"
	done
}
t_case odirect-strict odirect_strict

# --- kvstripe on the two volumes -----------------------------------------

mkdir "$GL/kvs0/kv" "$GL/kvs1/kv"
t_mount "$GL/kvs0/kv,$GL/kvs1/kv"

# The probe: O_DIRECT opens; FUSE gives no STATX_DIOALIGN and glusterfs no
# block device, so the alignment is the 4096 fallback.
probe() {
	grep -q "device 0: $GL/kvs0/kv (align 4096, mem 4096," "$T/log" ||
		t_fail "device 0's probe line: $(grep 'device 0' "$T/log")"
	grep -q "device 1: $GL/kvs1/kv (align 4096, mem 4096," "$T/log" ||
		t_fail "device 1's probe line: $(grep 'device 1' "$T/log")"
	[ "$(stat -f -c %S "$M")" = 4096 ] ||
		t_fail "f_bsize of the mount $(stat -f -c %S "$M"), LMCache wants 4096"
}
t_case probe-odirect-align probe

# on_bricks VOLUME PATH: the number of VOLUME's bricks holding PATH as a
# regular file (glusterfs' distribute puts each file on exactly one).
on_bricks() {
	local b n=0
	for b in "$GL/bricks/$1".*; do
		[ -f "$b/kv/$2" ] && n=$((n + 1))
	done
	echo "$n"
}

# brick_sums VOLUME PATH: the brick holding PATH has its checksum record
brick_sums() {
	local b
	for b in "$GL/bricks/$1".*; do
		[ -f "$b/kv/$2" ] || continue
		getfattr --absolute-names -n trusted.kvstripe.sums "$b/kv/$2" >/dev/null 2>&1
		return
	done
	return 1
}

t_rand "$T/src" $((5 * MIB + 17))
placement() {
	local g f
	for g in 0 1; do
		mkdir -p "$M/gpu$g"
		cp "$T/src" "$M/gpu$g/cp"
		dd if="$T/src" of="$M/gpu$g/direct" bs=1M count=4 oflag=direct \
			status=none
		for f in cp direct; do
			t_eq "$(t_device_of "gpu$g/$f")" "$g" "device of gpu$g/$f"
			t_eq "$(getfattr --absolute-names --only-values -n user.kvstripe.device \
				"$M/gpu$g/$f")" "$g" "user.kvstripe.device of gpu$g/$f"
			t_eq "$(on_bricks "kvs$g" "gpu$g/$f")" 1 \
				"bricks of kvs$g holding gpu$g/$f"
		done
	done
}
t_case placement-gpuN placement

roundtrip() {
	local g f
	for g in 0 1; do
		t_cmp "$T/src" "$M/gpu$g/cp"
		head -c $((4 * MIB)) "$T/src" | cmp - "$M/gpu$g/direct" ||
			t_fail "gpu$g/direct differs"
		dd if="$M/gpu$g/cp" of="$T/back" bs=1M iflag=direct status=none
		t_cmp "$T/src" "$T/back"
		for f in cp direct; do
			t_eq "$(getfattr --absolute-names --only-values -n user.kvstripe.state \
				"$M/gpu$g/$f")" closed "state of gpu$g/$f"
			# the record, through the volume and on the brick itself
			getfattr --absolute-names -n trusted.kvstripe.sums "$GL/kvs$g/kv/gpu$g/$f" \
				>/dev/null 2>&1 ||
				t_fail "no checksum record on kvs$g for gpu$g/$f"
			brick_sums "kvs$g" "gpu$g/$f" ||
				t_fail "no checksum record on kvs$g's brick for gpu$g/$f"
		done
	done
}
T_AFTER=placement-gpuN t_case roundtrip-sums roundtrip

# A file past what one ext4 block of attributes holds at 1 MiB units:
# on an ext4 brick, its ENOSPC comes back through glusterfs as ENOSPC and
# the seal stores a coarser record (2 MiB units: group shift 1) instead of
# failing the close; an XFS brick takes 1 MiB units. fsck-clean reads the
# file back later.
big_file() {
	local hdr
	t_rand "$T/big" $((700 * MIB))
	dd if="$T/big" of="$M/gpu1/big" bs=1M oflag=direct status=none ||
		t_fail "dd of 700 MiB failed"
	t_cmp "$T/big" "$M/gpu1/big"
	rm -f "$T/big"
	t_eq "$(getfattr --absolute-names --only-values -n user.kvstripe.state \
		"$M/gpu1/big")" closed "state of gpu1/big"
	hdr=$(getfattr --absolute-names --only-values -n trusted.kvstripe.sums \
		"$GL/kvs1/kv/gpu1/big" | head -c 4 | od -An -tu1 | tr -s ' ')
	t_log "gpu1/big: record header (version, algorithm, chunk shift, group shift):$hdr"
	case $hdr in
	" 1 1 20 "[0-9]*) ;;
	*) t_fail "gpu1/big: no record, or a bad header:$hdr" ;;
	esac
}
T_AFTER=placement-gpuN t_case large-file-coarse-record big_file

# LMCache's in-process LocalDiskBackend: one O_DIRECT write of a whole
# chunk named model@world@worker@hash@dtype.pt, one whole-file read; the
# worker id picks the device (worker % 2).
lmcache_inprocess() {
	local w
	mkdir -p "$M/lmc"
	python3 - "$M/lmc" <<'EOF'
import hashlib, mmap, os, sys
d = sys.argv[1]
assert os.statvfs(d).f_bsize == 4096, os.statvfs(d).f_bsize
size = 8 << 20
for w in range(4):
    for k in range(3):
        name = "llama@4@%d@%016x@bfloat16.pt" % (w, k)
        seed = hashlib.sha256(name.encode()).digest()
        buf = mmap.mmap(-1, size)
        buf.write((seed * (size // 32))[:size])
        p = os.path.join(d, name)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o644)
        assert os.writev(fd, [buf]) == size, "short write"
        os.close(fd)
        fd = os.open(p, os.O_RDONLY | os.O_DIRECT)
        assert os.fstat(fd).st_size == size
        out = mmap.mmap(-1, size)
        assert os.readv(fd, [out]) == size, "short read"
        assert out[:] == buf[:], name + ": content"
        os.close(fd)
EOF
	for w in 0 1 2 3; do
		t_eq "$(t_device_of "lmc/llama@4@$w@0000000000000001@bfloat16.pt")" \
			$((w % 2)) "device of worker $w's file"
	done
}
t_case lmcache-inprocess lmcache_inprocess

# LMCache's fs connector: temporary name, os.replace, stat on lookup, read
# back whole; two workers at once, each file on exactly one device.
lmcache_fs() {
	local p1 p2 rc=0 f n=0
	mkdir -p "$M/lmfs"
	python3 "$LMCLIENT" "$M/lmfs" 48 4 0 >"$T/lm0.out" 2>&1 & p1=$!
	python3 "$LMCLIENT" "$M/lmfs" 48 4 1000 >"$T/lm1.out" 2>&1 & p2=$!
	wait "$p1" || rc=1
	wait "$p2" || rc=1
	cat "$T/lm0.out" "$T/lm1.out" >&2
	[ "$rc" = 0 ] || t_fail "an lmclient.py worker failed"
	grep -q '^puts 12 hits 12 misses 0' "$T/lm0.out" ||
		t_fail "worker 0: $(cat "$T/lm0.out")"
	grep -q '^puts 12 hits 12 misses 0' "$T/lm1.out" ||
		t_fail "worker 1: $(cat "$T/lm1.out")"
	for f in "$M"/lmfs/*; do
		case $f in *.data) ;; *) t_fail "left behind: $f" ;; esac
		t_device_of "lmfs/${f##*/}" >/dev/null
		n=$((n + 1))
	done
	t_eq "$n" 24 "files of the two workers"
}
t_case lmcache-fs-connector lmcache_fs

# --- two daemons over one shared directory --------------------------------

# A second glusterfs client of kvs0 stands for a second machine. kvstripe
# takes an exclusive flock on each backing directory; on a FUSE mount the
# kernel keeps a directory's flock to itself (FUSE forwards flock for
# regular files only), so the second daemon is not refused: this case
# pins down today's behaviour, which docs/scale-out.md describes.
gl_mount kvs0 "$GL/kvs0b"
gl_mount kvs1 "$GL/kvs1b"
shared_dir() {
	local pid rc=0
	mkdir -p "$T/mnt2"
	"$KVSTRIPE" "$GL/kvs0b/kv,$GL/kvs1b/kv" "$T/mnt2" -f >"$T/log2" 2>&1 &
	pid=$!
	if ! t_wait_mount "$T/mnt2" "$pid"; then
		cat "$T/log2" >&2
		t_fail "the second daemon did not mount (refused by the lock?)"
	fi
	# the first daemon's file being written is torn to the second, and
	# stays torn to it after the first closed it
	python3 - "$M/gpu0/shared" "$T/mnt2/gpu0/shared" >"$T/shared.out" <<'EOF'
import os, subprocess, sys, time
a, b = sys.argv[1], sys.argv[2]
def state():
    r = subprocess.run(["getfattr", "--only-values", "-n",
                        "user.kvstripe.state", b], capture_output=True,
                       text=True)
    return r.stdout.strip() or r.stderr.strip()
fd = os.open(a, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"x" * (1 << 20))
os.fsync(fd)
time.sleep(1.5)	# the second daemon's attr_timeout
print("while writing:", state())
os.write(fd, b"y" * (1 << 20))
os.close(fd)
time.sleep(1.5)
print("after close:", state())
EOF
	cat "$T/shared.out" >&2
	grep -qx 'while writing: torn' "$T/shared.out" ||
		t_fail "not torn to the other daemon while being written"
	grep -qx 'after close: torn' "$T/shared.out" ||
		t_fail "not torn to the other daemon after the close"
	fusermount3 -u "$T/mnt2"
	t_wait_exit "$pid" 10 || t_fail "second daemon still running"
	wait "$pid" || rc=$?
	t_eq "$rc" 0 "second daemon's exit status"
	# fsck through the other client is not refused either (exit 0 or 4)
	rc=0
	"$KVSTRIPE" fsck "$GL/kvs0b/kv" >"$T/fsck2.out" 2>&1 || rc=$?
	cat "$T/fsck2.out" >&2
	case $rc in 0|4) ;; *) t_fail "fsck through kvs0b: status $rc" ;; esac
	# through the same client, the lock works: refused (8)
	rc=0
	"$KVSTRIPE" fsck "$GL/kvs0/kv" >/dev/null 2>&1 || rc=$?
	t_eq "$rc" 8 "fsck through the first daemon's own glusterfs client"
	# a regular file's flock does reach the other client: FUSE forwards
	# flock for files, and glusterfs' locks translator holds it
	python3 - "$GL/kvs0/lockprobe" "$GL/kvs0b/lockprobe" <<'EOF' ||
import fcntl, os, subprocess, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
r = subprocess.run([sys.executable, "-c", """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(0)
sys.exit(1)
""", sys.argv[2]])
os.unlink(sys.argv[1])
sys.exit(r.returncode)
EOF
		t_fail "a file's flock through kvs0 did not block kvs0b"
}
t_case shared-dir-not-locked-across-clients shared_dir
rm -f "$M/gpu0/shared"

t_umount_check

# --- fsck after unmount ---------------------------------------------------

fsck_clean() {
	local rc=0
	"$KVSTRIPE" fsck "$T_SOURCES" >"$T/fsck.out" 2>&1 || rc=$?
	cat "$T/fsck.out" >&2
	t_eq "$rc" 0 "fsck status"
	grep -q '^total: .* 0 torn, 0 corrupt, 0 stale, 0 unverified, 0 misplaced$' \
		"$T/fsck.out" || t_fail "fsck total: $(tail -n 1 "$T/fsck.out")"
}
t_case fsck-clean fsck_clean

# A byte flipped on the volume (not through kvstripe): fsck names the unit
# and the file; a new mount refuses the unit and serves the rest.
fsck_flip() {
	local rc=0
	printf Z | dd of="$GL/kvs1/kv/gpu1/cp" bs=1 seek=$((MIB + 4242)) \
		conv=notrunc status=none
	t_eq "$(t_fsck corrupt)" gpu1/cp "corrupt files"
	t_eq "$(cat "$T/fsck.rc")" 4 "fsck status"
}
T_AFTER=fsck-clean t_case fsck-flipped-byte fsck_flip

t_remount
flip_served() {
	t_expect_err "Input/output error" \
		dd if="$M/gpu1/cp" of=/dev/null bs=1M skip=1 count=1 status=none
	dd if="$M/gpu1/cp" of="$T/head" bs=1M count=1 status=none
	head -c "$MIB" "$T/src" | cmp - "$T/head" || t_fail "first unit differs"
	t_cmp "$T/src" "$M/gpu0/cp"
}
T_AFTER=fsck-flipped-byte t_case flipped-unit-eio flip_served
t_umount_check
