#!/usr/bin/env bash
#
# run.sh - the kvstripe benchmark (make bench). Every workload runs against
# the backing directories directly (native, always O_DIRECT: the limit) and
# through a kvstripe mount over the same directories, repetitions of the two
# interleaved; it prints the medians and mount/native per workload, the
# daemon's CPU per GiB and its memory, checks the project's targets, and
# refreshes docs/performance.md. Needs root and /dev/fuse.
#
# Set-ups: "disk" = two directories on the machine's disk (device-bound);
# "ram" = two tmpfs mounts, or ext4 on two loop devices in /dev/shm
# (CPU-bound: the FUSE and daemon overhead shows); "spread" = two slow
# devices (loop devices throttled by a blkio cgroup) under one GPU worker;
# "paced" = the seq and mix workloads on two loop devices throttled to
# fixed speeds, one set-up per speed: device-bound without the disk's
# run-to-run noise (the disk set-up is shown for information), each phase
# sized to last at least PACED_SECS at the set speed, and a row whose
# native figure beats the set speed by more than 10 % marked unreliable
# and not counted for the targets; "isolation" (not in the default run) = device 0's
# throughput while device 1 is slowed to 2 MiB/s or hung, against device 1
# idle.
#
# Environment (defaults in brackets):
#   BENCH_QUICK=1          smoke run, about a minute: less data, no dbench
#   BENCH_REPS=N           repetitions per measurement [3]
#   BENCH_SETUP_REPS=LIST  SETUP=N pairs overriding BENCH_REPS for one
#                          set-up ["disk=1 paced2000=1": information only]
#   BENCH_SETUPS=LIST      set-ups to run ["disk ram spread paced"]
#   BENCH_SIZES=LIST       seq file sizes [ram: "8M 32M"; others: "8M"]
#   BENCH_SPREAD_MIBS=N    the spread set-up's device speed, MiB/s [100]
#   BENCH_PACED_MIBS=LIST  the paced set-up's device speeds, MiB/s, one
#                          set-up each ["500 1000 2000"]; the targets are
#                          checked at 500 and 1000, a faster speed shows
#                          where the two cores become the limit (seq with
#                          8 streams only)
#   BENCH_PACED_SECS=S     a paced phase's length at the set speed, the
#                          data sized from it [2.1; quick: 0.5]
#   BENCH_ISOLATION_MIBS=N the isolation set-up's device 0 speed [1000]
#   BENCH_ISOLATION_SLOW=N its slowed device 1's speed, MiB/s [2]
#   BENCH_ISOLATION_MODES=LIST  client modes, any of direct buffered
#                          [direct]
#   BENCH_ISOLATION_LIMIT=S  seconds a measured phase may take before it
#                          counts as stalled [6; quick: 3]
#   BENCH_WORKLOADS=LIST   any of seq mix meta dbench rss [all]
#   BENCH_DBENCH=LIST      set-ups dbench runs on ["disk"; quick: none]
#   BENCH_DBENCH_TIME=S    dbench seconds per run [8]
#   BENCH_MERGERFS=0|1     dbench also through mergerfs over the same
#                          directories, for comparison [0]
#   BENCH_RAM=tmpfs|loop   what backs the ram set-up [tmpfs]
#   BENCH_DISK_DIR=DIR     where the disk set-up's directories go [/var/tmp]
#   BENCH_DOC=0|1          refresh docs/performance.md [1; quick: 0]
#   BENCH_MOUNT_OPTS=ARGS  extra daemon arguments, e.g. "-o threads=8"
#   BENCH_RSS_COUNTS=LIST  file counts for the RSS check ["1000 100000";
#                          quick: "1000 10000"]; "1000 1000000" takes ~2 min more
#   KVSTRIPE=PATH          the daemon [build/kvstripe]

set -Eeuo pipefail
export LC_ALL=C

# shellcheck source=tests/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

QUICK=${BENCH_QUICK:-0}
REPS=${BENCH_REPS:-3}
SETUPS=${BENCH_SETUPS:-disk ram spread paced}
SETUP_REPS=${BENCH_SETUP_REPS-disk=1 paced2000=1}
SPREAD_MIBS=${BENCH_SPREAD_MIBS:-100}
PACED_MIBS=${BENCH_PACED_MIBS:-500 1000 2000}
PACED_TARGET_MIBS="500 1000"	# the speeds the targets are checked at
WORKLOADS=${BENCH_WORKLOADS:-seq mix meta dbench rss}
RAMKIND=${BENCH_RAM:-tmpfs}
DISK_DIR=${BENCH_DISK_DIR:-/var/tmp}
DBENCH_TIME=${BENCH_DBENCH_TIME:-8}
MERGERFS=${BENCH_MERGERFS:-0}
ISO_MODES=${BENCH_ISOLATION_MODES:-direct}
ISO_MIBS=${BENCH_ISOLATION_MIBS:-1000}
ISO_SLOW=${BENCH_ISOLATION_SLOW:-2}
KVSTRIPE=${KVSTRIPE:-$B_ROOT/build/kvstripe}
# relative paths are meant from where the script was started
case $KVSTRIPE in /*) ;; *) KVSTRIPE=$PWD/$KVSTRIPE ;; esac
case $DISK_DIR in /*) ;; *) DISK_DIR=$PWD/$DISK_DIR ;; esac
cd "$B_ROOT"
KVBENCH=$B_ROOT/build/bench/kvbench
T_FAULTFS=$B_ROOT/build/bench/faultfs
DOC=$B_ROOT/docs/performance.md

# Data per measurement. Each seq run moves VOL per phase (split over the
# streams, at least one file each); the mix has 16 threads with MIX_FILES
# chunks of 8 MiB each; meta is META_THREADS x META_FILES. On paced
# devices both come from the set speed instead (paced_mib): PACED_SECS of
# it per phase.
if [ "$QUICK" = 1 ]; then
	VOL_DISK=64 VOL_RAM=128 VOL_SPREAD=64	# MiB
	PACED_SECS=${BENCH_PACED_SECS:-0.5}
	ISO_N=16		# files of 8 MiB per stream and phase
	ISO_LIMIT=${BENCH_ISOLATION_LIMIT:-3}
	MIX_DISK=1 MIX_RAM=1
	META_THREADS=4 META_FILES=1000 META_FILES_RAM=1000
	RSS_COUNTS=${BENCH_RSS_COUNTS:-1000 10000}
	DBENCH_ON=${BENCH_DBENCH:-none}
	WRITE_DOC=${BENCH_DOC:-0}
else
	VOL_DISK=256 VOL_RAM=512 VOL_SPREAD=128
	PACED_SECS=${BENCH_PACED_SECS:-2.1}
	ISO_N=32
	ISO_LIMIT=${BENCH_ISOLATION_LIMIT:-6}
	MIX_DISK=2 MIX_RAM=4
	META_THREADS=4 META_FILES=5000 META_FILES_RAM=2000
	RSS_COUNTS=${BENCH_RSS_COUNTS:-1000 100000}
	DBENCH_ON=${BENCH_DBENCH:-disk}
	WRITE_DOC=${BENCH_DOC:-1}
fi
STREAMS="1 8"

# Results, by row id "setup|workload" (ROWS keeps the order).
ROWS=()
declare -A NAT=() MNT=() UNIT=() CPU_T=() CPU_AMT=() CPU_KIND=() SHORT=()
declare -A FAILED=() HWM=() STALLED=()
RSS_LINES=()
WARNINGS=()

SETUP=			# the set-up being measured
D0='' D1=''		# its two backing directories
MP=			# its kvstripe mount point

want() {
	case " $2 " in *" $1 "*) return 0 ;; esac
	return 1
}

warn() {
	b_log "warning: $*"
	WARNINGS+=("$*")
}

# --- preparation -----------------------------------------------------------

preflight() {
	[ "$(id -u)" = 0 ] || b_die "needs root (mounts, drop_caches)"
	[ -c /dev/fuse ] || b_die "no /dev/fuse"
	command -v fusermount3 >/dev/null || b_die "no fusermount3 (apt-get install fuse3)"
	[ -x "$KVSTRIPE" ] || b_die "no daemon at '$KVSTRIPE' (run make first)"
	if want dbench "$WORKLOADS" && [ "$DBENCH_ON" != none ] &&
		! command -v dbench >/dev/null; then
		b_log "installing dbench"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dbench >/dev/null ||
			b_die "dbench missing (apt-get install dbench) or set BENCH_DBENCH=none"
	fi
	if want dbench "$WORKLOADS" && [ "$DBENCH_ON" != none ] &&
		[ "$MERGERFS" = 1 ] && ! command -v mergerfs >/dev/null; then
		b_log "installing mergerfs"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mergerfs >/dev/null ||
			b_die "mergerfs missing (apt-get install mergerfs) or set BENCH_MERGERFS=0"
	fi
	case $REPS in '' | *[!0-9]* | 0) b_die "BENCH_REPS must be a number >= 1" ;; esac
	local m
	for m in $PACED_MIBS; do
		case $m in '' | *[!0-9]* | 0) b_die "BENCH_PACED_MIBS must be numbers >= 1" ;; esac
	done
	for m in "$ISO_MIBS" "$ISO_SLOW" "$ISO_LIMIT"; do
		case $m in '' | *[!0-9]* | 0) b_die "BENCH_ISOLATION_MIBS, _SLOW and _LIMIT must be numbers >= 1" ;; esac
	done
	for m in $ISO_MODES; do
		case $m in direct | buffered) ;; *) b_die "BENCH_ISOLATION_MODES: direct and/or buffered" ;; esac
	done
}

# Build the driver into build/bench/, and copy the daemon into the work
# directory so a rebuild during the run cannot change what is measured.
build() {
	mkdir -p "$B_ROOT/build/bench"
	${CC:-cc} -O2 -g -pthread -Wall -Wextra -o "$KVBENCH" \
		"$B_ROOT/tests/bench/kvbench.c"
	if want isolation "$SETUPS"; then
		# shellcheck disable=SC2046	# pkg-config's flags are words
		${CC:-cc} -O2 -g -Wall -Wextra -o "$T_FAULTFS" \
			"$B_ROOT/tests/faultfs/faultfs.c" \
			$(pkg-config --cflags --libs fuse3) ||
			b_die "cannot build tests/faultfs (libfuse3-dev)"
	fi
	B_DAEMON=$W/kvstripe
	cp "$KVSTRIPE" "$B_DAEMON"
	DAEMON_ID="tree $(git -C "$B_ROOT" describe --always --dirty 2>/dev/null ||
		echo unknown), binary of $(date -u -r "$KVSTRIPE" '+%Y-%m-%d %H:%M UTC')"
}

# --- recording -------------------------------------------------------------

# row ID UNIT: register a table row once, in order of first use.
row() {
	if [ -z "${UNIT[$1]+set}" ]; then
		ROWS+=("$1")
		UNIT[$1]=$2
	fi
}

# kvb SIDE ARGS...: run kvbench for SIDE (native or mount; for the mount
# it also reports the daemon's CPU ticks per phase). Its phase lines are
# left in KVB_OUT; a failure is logged and returns 1. Data moves from and
# to buffers in huge pages (-H) on both sides: native O_DIRECT then makes
# device requests of few segments, as the daemon's own buffers do.
KVB_OUT=
kvb() {
	local side=$1 rc=0
	local -a pid=() huge=()
	shift
	[ "$side" = mount ] && pid=(-P "$B_PID")
	[ "$1" = seq ] || [ "$1" = mix ] && huge=(-H)
	KVB_OUT=$("$KVBENCH" "$1" "${pid[@]}" "${huge[@]}" "${@:2}" \
		2>>"$W/kvbench.log") ||
		rc=$?
	if [ "$rc" != 0 ]; then
		warn "$SETUP: kvbench $* failed on the $side side"
		tail -n 3 "$W/kvbench.log" | sed 's/^/  /' >&2
	fi
	return "$rc"
}

# take SIDE PHASE ROWS: the rate of PHASE in KVB_OUT goes to every row of
# the comma-separated ROWS; for the mount, the daemon's ticks and the data
# moved go to the first row. A missing phase marks the first row failed.
take() {
	local side=$1 ph=$2 rows=$3 line r first=${3%%,*} short
	local -a rowlist
	line=$(grep "^phase=$ph " <<<"$KVB_OUT" || true)
	if [ -z "$line" ]; then
		FAILED[$first]=1
		return 0
	fi
	IFS=, read -ra rowlist <<<"$rows"
	for r in "${rowlist[@]}"; do
		if [ "$side" = native ]; then
			NAT[$r]+=" $(b_field rate "$line")"
		else
			MNT[$r]+=" $(b_field rate "$line")"
		fi
	done
	if [ "$side" = mount ]; then
		CPU_T[$first]=$((${CPU_T[$first]:-0} + $(b_field ticks "$line")))
		CPU_AMT[$first]=$((${CPU_AMT[$first]:-0} + $(b_field amount "$line")))
	fi
	short=$(b_field short "$line")
	if [ "$short" != 0 ]; then
		SHORT[$first]=$((${SHORT[$first]:-0} + short))
	fi
}

# --- workloads -------------------------------------------------------------

# sides REP: the order of the two sides in repetition REP (alternating, so
# neither always runs first after a cache drop or after the other's cleanup).
sides() {
	if [ $(($1 % 2)) = 0 ]; then
		echo native mount
	else
		echo mount native
	fi
}

# The directories of a side: native runs in nat/ of each backing directory,
# the mount in gpu0/ and gpu1/ (device 0 and 1).
dirs_of() {
	if [ "$1" = native ]; then
		echo "$D0/nat $D1/nat"
	else
		echo "$MP/gpu0 $MP/gpu1"
	fi
}

# seq_once VARIANT SIZE FILES STREAMS WROWS RROWS: kvbench seq: write
# phase, drop caches, whole-file read phase (checked), remove (not timed).
seq_once() {
	local v=$1 size=$2 n=$3 j=$4 wrows=$5 rrows=$6 side=mount
	local -a dirs flags=(-D)
	[ "$v" = native ] && side=native
	[ "$v" = buffered ] && flags=()
	read -ra dirs <<<"$(dirs_of "$side")"
	kvb "$side" seq -s "$size" -n "$n" -j "$j" -C -V "${flags[@]}" \
		"${dirs[@]}" || rm_rest "${dirs[@]}"
	take "$side" write "$wrows"
	take "$side" read "$rrows"
}

# Remove whatever a failed run left (through the mount for mount paths).
rm_rest() {
	local d
	for d in "$@"; do
		find "$d" -mindepth 1 -delete 2>/dev/null || true
	done
}

# paced_mib STREAMS: the MiB a paced phase of STREAMS streams moves: the
# set speed of the devices the streams use (one device for one stream,
# both for more) for PACED_SECS, so that native, held to that speed, takes
# at least that long and the throttle's burst allowance is a small part.
paced_mib() {
	local devs=2
	[ "$1" -ge 2 ] || devs=1
	awk -v r="${SETUP#paced}" -v d="$devs" -v s="$PACED_SECS" 		'BEGIN { printf "%d\n", r * d * s + 0.999 }'
}

# setup_mib SETUP: the MiB/s a paced set-up's native rows may reach, per
# device (empty for the other set-ups).
setup_mib() {
	case $1 in paced*) echo "${1#paced}" ;; esac
}

# Workload 1: sequential whole-file write and read, 8 MiB files (and 32
# MiB on ram), 1 and 8 streams, client O_DIRECT and buffered. The native
# side is O_DIRECT and serves as the limit for both client modes. VOL MiB
# per phase, or, on paced devices, what paced_mib gives.
wl_seq() {
	local vol=$1 size streams n rep i mib sizes=${BENCH_SIZES:-8M}
	local -a order=(native direct buffered)
	local streamlist=$STREAMS
	[ "$SETUP" = ram ] && sizes=${BENCH_SIZES:-8M 32M}
	# a paced speed beyond the targets' shows where the cores give out:
	# 8 streams over both devices are enough for that
	[[ $SETUP == paced* ]] && ! want "${SETUP#paced}" "$PACED_TARGET_MIBS" &&
		streamlist=8
	for size in $sizes; do
		mib=${size%M}
		for streams in $streamlist; do
			[[ $SETUP == paced* ]] && vol=$(paced_mib "$streams")
			n=$(((vol + mib * streams - 1) / (mib * streams)))
			[ "$n" -ge 1 ] || n=1
			local p="$SETUP|"
			local wd="${p}write $size x$streams O_DIRECT"
			local wb="${p}write $size x$streams buffered*"
			local rd="${p}read $size x$streams O_DIRECT"
			local rb="${p}read $size x$streams buffered*"
			row "$wd" MiB/s; row "$wb" MiB/s
			row "$rd" MiB/s; row "$rb" MiB/s
			b_log "$SETUP: seq $size x$streams, $n file(s) per stream, $REPS repetition(s)"
			for ((rep = 0; rep < REPS; rep++)); do
				for ((i = 0; i < 3; i++)); do
					case ${order[(rep + i) % 3]} in
					native) seq_once native "$size" "$n" "$streams" \
						"$wd,$wb" "$rd,$rb" ;;
					direct) seq_once direct "$size" "$n" "$streams" \
						"$wd" "$rd" ;;
					buffered) seq_once buffered "$size" "$n" "$streams" \
						"$wb" "$rb" ;;
					esac
				done
			done
		done
	done
}

# Workload 2: KV-cache mix. 4 workers (gpu0..gpu3) x 4 threads, each thread
# puts its 8 MiB chunks, gets all of them twice, evicts every other one;
# MiB/s over the whole phase. O_DIRECT on both sides (LMCache's path when
# statvfs reports f_bsize 4096).
wl_mix() {
	local n=$1 rep side r="$SETUP|KV mix 4x4 8M O_DIRECT"
	local -a dirs
	row "$r" MiB/s
	b_log "$SETUP: KV mix, 16 threads x $n chunk(s), $REPS repetition(s)"
	for ((rep = 0; rep < REPS; rep++)); do
		for side in $(sides "$rep"); do
			if [ "$side" = native ]; then
				dirs=("$D0/nat/gpu0" "$D1/nat/gpu1" "$D0/nat/gpu2" "$D1/nat/gpu3")
			else
				dirs=("$MP/gpu0" "$MP/gpu1" "$MP/gpu2" "$MP/gpu3")
			fi
			kvb "$side" mix -s 8M -n "$n" -j 4 -C -D -V "${dirs[@]}" ||
				rm_rest "${dirs[@]}"
			take "$side" mix "$r"
		done
	done
}

# Workload 3: create (open O_CREAT|O_EXCL + close) then unlink of empty
# files; each create and each unlink counts as one op.
wl_meta() {
	local META_FILES=$META_FILES
	# on ram it is reported, not a target: fewer files keep the run short
	[ "$SETUP" = ram ] && META_FILES=$META_FILES_RAM
	local rep side r="$SETUP|create+unlink ${META_THREADS}x$META_FILES"
	local rc="$SETUP|  create only" ru="$SETUP|  unlink only"
	local -a dirs
	row "$r" ops/s; row "$rc" ops/s; row "$ru" ops/s
	CPU_KIND[$r]=op CPU_KIND[$rc]=op CPU_KIND[$ru]=op
	b_log "$SETUP: create+unlink ${META_THREADS}x$META_FILES"
	for ((rep = 0; rep < REPS; rep++)); do
		for side in $(sides "$rep"); do
			read -ra dirs <<<"$(dirs_of "$side")"
			kvb "$side" meta -n "$META_FILES" -j "$META_THREADS" \
				"${dirs[@]}" || rm_rest "${dirs[@]}"
			take "$side" meta "$r"
			take "$side" create "$rc"
			take "$side" unlink "$ru"
		done
	done
}

# dbench_once SIDE DIR ROW: 4 clients for DBENCH_TIME s (plus dbench's own
# warm-up); MB/s as dbench prints it. The daemon's CPU as % of one core.
dbench_once() {
	local side=$1 dir=$2 r=$3 out mbs t0=0 t1=0 w0 w1
	mkdir -p "$dir"
	# The run before left dirty pages (native dbench is buffered): each
	# side starts with them written, not competing with its own I/O.
	sync
	[ "$side" = mount ] && t0=$(b_ticks)
	w0=$(date +%s%N)
	if ! out=$(dbench -c /usr/share/dbench/client.txt -D "$dir" \
		-t "$DBENCH_TIME" 4 2>&1); then
		printf '%s\n' "$out" | tail -n 5 >>"$W/kvbench.log"
		warn "$SETUP: dbench failed on the $side side"
		FAILED[$r]=1
		rm -rf "$dir"
		return
	fi
	w1=$(date +%s%N)
	mbs=$(printf '%s\n' "$out" | awk '/^Throughput/ { print $2 }')
	if [ "$side" = native ]; then
		NAT[$r]+=" $mbs"
	elif [ "$side" = mergerfs ]; then
		MNT[$r]+=" $mbs"
	else
		t1=$(b_ticks)
		MNT[$r]+=" $mbs"
		CPU_T[$r]=$((${CPU_T[$r]:-0} + t1 - t0))
		CPU_AMT[$r]=$((${CPU_AMT[$r]:-0} + (w1 - w0) / 1000000))
	fi
	rm -rf "$dir"
}

# Workload 4: dbench, 4 clients, on gpu0/ of the mount and on the backing
# directory of device 0; with MERGERFS, also through mergerfs (Debian's,
# default options) over mfs/ of both backing directories: the target is
# twice what mergerfs does, measured here in the same run. Its row shows
# mergerfs in the mount column, against the same native runs.
wl_dbench() {
	local rep side r="$SETUP|dbench 4 clients ${DBENCH_TIME}s"
	local rm="$SETUP|dbench via mergerfs" mpid=0 sides
	row "$r" MB/s
	CPU_KIND[$r]=core
	if [ "$MERGERFS" = 1 ]; then
		row "$rm" MB/s
		mkdir -p "$D0/mfs" "$D1/mfs" "$W/mfs"
		mergerfs -f -o defaults "$D0/mfs:$D1/mfs" "$W/mfs" \
			>>"$W/daemon.log" 2>&1 &
		mpid=$!
		B_PIDS+=("$mpid")
		for ((rep = 0; rep < 50; rep++)); do
			t_is_mounted "$W/mfs" && break
			sleep 0.1
		done
		t_is_mounted "$W/mfs" || b_die "mergerfs did not mount $W/mfs"
	fi
	b_log "$SETUP: dbench 4 clients, ${DBENCH_TIME}s x $REPS x $((2 + MERGERFS))"
	for ((rep = 0; rep < REPS; rep++)); do
		sides=$(sides "$rep")
		# each side takes each place in turn: a run leaves ext4 with
		# deleted inodes that slow the creates of the runs after it
		[ "$MERGERFS" = 1 ] && case $((rep % 3)) in
			0) sides+=" mergerfs" ;;
			1) sides="mergerfs $sides" ;;
			2) sides="${sides% *} mergerfs ${sides#* }" ;;
			esac
		for side in $sides; do
			case $side in
			native) dbench_once native "$D0/nat/dbench" "$r" ;;
			mount) dbench_once mount "$MP/gpu0/dbench" "$r" ;;
			mergerfs) dbench_once mergerfs "$W/mfs/dbench" "$rm" ;;
			esac
		done
	done
	if [ "$MERGERFS" = 1 ]; then
		NAT[$rm]=${NAT[$r]:-}
		fusermount3 -u "$W/mfs" || fusermount3 -u -z "$W/mfs" || true
		wait "$mpid" || true
	fi
}

# --- set-ups ---------------------------------------------------------------

# reps_of SETUP: its repetitions, from SETUP_REPS or REPS.
reps_of() {
	local kv
	for kv in $SETUP_REPS; do
		[ "${kv%%=*}" = "$1" ] && { echo "${kv#*=}"; return; }
	done
	echo "$REPS"
}

# setup_run NAME: make the backing directories, mount, run the workloads,
# record the daemon's peak RSS, unmount and release everything. NAME is
# disk, ram, or pacedMIBS: two ext4 loop devices over /dev/shm, written
# whole first, each throttled to MIBS MiB/s for reads and for writes by a
# blkio cgroup the bench and the daemon run in.
setup_run() {
	local vol=0 mixn g mib reps
	reps=$(reps_of "$1")
	local REPS=$reps	# what the workloads below repeat, for this set-up
	SETUP=$1
	case $SETUP in
	paced*)
		# the mix moves each chunk three times (a put, two gets)
		mixn=$((($(paced_mib 2) + 383) / 384))
		# room for the largest phase on one device, and to spare
		mib=$(($(paced_mib 1) * 23 / 20 + 512))
		[ "$mib" -ge 2048 ] || mib=2048
		D0=$W/paced/d0 D1=$W/paced/d1
		b_loopfs "$D0" "${mib}M" full; b_loopfs "$D1" "${mib}M" full
		if ! b_throttle "${SETUP#paced}" "$(b_loopdev "$D0")" \
			"$(b_loopdev "$D1")"; then
			warn "$SETUP: no blkio cgroup controller here; set-up skipped"
			t_fs_release
			return 0
		fi ;;
	disk)
		D0=$W/disk/d0 D1=$W/disk/d1 vol=$VOL_DISK mixn=$MIX_DISK
		mkdir -p "$D0" "$D1" ;;
	ram)
		D0=$W/ram/d0 D1=$W/ram/d1 vol=$VOL_RAM mixn=$MIX_RAM
		if [ "$RAMKIND" = loop ]; then
			b_loopfs "$D0" 3G; b_loopfs "$D1" 3G
		else
			b_tmpfs "$D0" 3G; b_tmpfs "$D1" 3G
		fi ;;
	*) b_die "unknown set-up '$SETUP' (disk, ram, spread, paced, isolation)" ;;
	esac
	for g in 0 1 2 3; do
		mkdir -p "$D0/nat/gpu$g" "$D1/nat/gpu$g"
	done
	MP=$W/mnt
	mkdir -p "$MP"
	b_mount "$D0,$D1" "$MP"
	for g in 0 1 2 3; do
		mkdir -p "$MP/gpu$g"
	done
	want seq "$WORKLOADS" && wl_seq "$vol"
	want mix "$WORKLOADS" && wl_mix "$mixn"
	# before meta: ext4 without a journal skips inodes deleted in the
	# last minutes when it allocates one, and meta deletes 20,000
	want dbench "$WORKLOADS" && want "$SETUP" "$DBENCH_ON" && wl_dbench
	# creates and unlinks are not device-bound: not on the paced devices
	want meta "$WORKLOADS" && [[ $SETUP != paced* ]] && wl_meta
	HWM[$SETUP]=$(b_status_kb VmHWM)
	b_umount || warn "$SETUP: the daemon did not exit 0 after unmount"
	b_unthrottle
	t_fs_release
	rm -rf --one-file-system "$D0" "$D1"
}

# Set-up "spread": one GPU worker whose files spread over two devices. Two
# ext4 loop devices in /dev/shm, each throttled to SPREAD_MIBS MiB/s for
# reads and writes by a blkio cgroup the bench and the daemon run in; the
# mount has -o gpus=1, so GPU 0 owns both devices and its files go to one
# or the other by a hash of their path. One writer with 4 streams (an
# LMCache worker's I/O threads) works in gpu0/ of the mount; the native
# side runs the same streams over both devices' directories (the sum of
# their bandwidths), and over device 0 alone for scale.
spread_run() {
	local rep side n p=spread\|
	local w="${p}write 8M x4 O_DIRECT 1 worker on 2 devices"
	local r="${p}read 8M x4 O_DIRECT 1 worker on 2 devices"
	local w1="${p}  write: one device alone" r1="${p}  read: one device alone"
	SETUP=spread
	D0=$W/spread/d0 D1=$W/spread/d1
	b_loopfs "$D0" 1G
	b_loopfs "$D1" 1G
	if ! b_throttle "$SPREAD_MIBS" "$(b_loopdev "$D0")" "$(b_loopdev "$D1")"
	then
		warn "spread: no blkio cgroup controller here; set-up skipped"
		t_fs_release
		return 0
	fi
	mkdir -p "$D0/nat" "$D1/nat"
	MP=$W/mnt
	mkdir -p "$MP"
	b_mount "$D0,$D1" "$MP" -o gpus=1
	mkdir -p "$MP/gpu0"
	n=$((VOL_SPREAD / (8 * 4)))
	[ "$n" -ge 1 ] || n=1
	row "$w" MiB/s; row "$r" MiB/s; row "$w1" MiB/s; row "$r1" MiB/s
	b_log "spread: 4 streams x $n file(s) of 8 MiB, devices at $SPREAD_MIBS MiB/s"
	for ((rep = 0; rep < REPS; rep++)); do
		for side in $(sides "$rep"); do
			if [ "$side" = native ]; then
				kvb native seq -s 8M -n "$n" -j 4 -C -V -D \
					"$D0/nat" "$D1/nat" || rm_rest "$D0/nat" "$D1/nat"
				take native write "$w"
				take native read "$r"
				kvb native seq -s 8M -n "$n" -j 4 -C -V -D \
					"$D0/nat" || rm_rest "$D0/nat"
				take native write "$w1"
				take native read "$r1"
			else
				kvb mount seq -s 8M -n "$n" -j 4 -C -V -D \
					"$MP/gpu0" || rm_rest "$MP/gpu0"
				take mount write "$w"
				take mount read "$r"
			fi
		done
	done
	HWM[$SETUP]=$(b_status_kb VmHWM)
	b_umount || warn "spread: the daemon did not exit 0 after unmount"
	b_unthrottle
	t_fs_release
}

# Set-up "isolation": how much of device 0's throughput is left while
# device 1 is in trouble. Device 0 is ext4 on a loop device over /dev/shm,
# written whole and throttled to ISO_MIBS MiB/s (a fast device of known
# speed, as in the paced set-up). Device 1 is ext4 on a loop device over a
# faultfs (tests/faultfs), so that it can be slowed and hung. Conditions,
# each on the same mount, rotated within a repetition:
#   idle    nothing on device 1: device 0 alone, the reference
#   slowed  device 1's loop device throttled to ISO_SLOW MiB/s (the same
#           blkio cgroup), 4 O_DIRECT writers of 8 MiB files in gpu1/
#           started 2 s before
#   hung    device 1's faultfs hangs (lifted after ISO_LIFT s at most, and
#           by the EXIT trap), the same 4 writers started ISO_HUNG_SETTLE
#           s before
# Measured: 4 streams of 8 MiB files written, then read (checked), in
# gpu0/ (device 0), each phase timed from the lookups of its directories
# and ended after ISO_LIMIT s by kvbench -T (then "stalled", the rate
# counting the whole files done). The files
# read were written and all caches dropped before the trouble began:
# nothing calls sync or drops caches while device 1 hangs. Rows: the
# trouble runs in the mount column against the idle runs in the native
# column (both through the mount).
ISO_WAIT=()		# measuring clients that may still wait on device 1
ISO_LOAD=		# the writers on device 1
ISO_LIFTER=		# the timer that lifts a hang
ISO_CTL='' ISO_DEV1='' ISO_LIFT=30
# Seconds between the hang (its writers stuck at once) and the first
# phase: past the daemon's default device_timeout (3 s), so that a daemon
# that notices a hung device is measured once it has; the seconds before
# are the integration tests' (every operation within 2 s).
ISO_HUNG_SETTLE=4
ISO_T0=0 ISO_S0=0	# when the trouble began, device 1's sectors written then
ISO_LOADN=4		# 8 MiB files per writer on device 1: more than a
			# condition moves at 2 MiB/s

# iso_kvb ARGS...: kvbench ARGS with a deadline of ISO_LIMIT s, in the
# background; its phase line (or nothing) goes to KVB_OUT once it is
# printed, even if stuck threads still hold the process (ISO_WAIT).
iso_kvb() {
	local out pid i
	out=$(mktemp "$W/iso.XXXXXX")	# its own: a stuck one keeps its file
	"$KVBENCH" "$@" -P "$B_PID" -T "$ISO_LIMIT" >"$out" \
		2>>"$W/kvbench.log" &
	pid=$!
	B_PIDS+=("$pid")
	ISO_WAIT+=("$pid")
	for ((i = 0; i < (ISO_LIMIT + 5) * 10; i++)); do
		grep -q '^phase=' "$out" && break
		t_alive "$pid" || break
		sleep 0.1
	done
	KVB_OUT=$(grep '^phase=' "$out" || true)
	rm -f "$out"
	if [ -z "$KVB_OUT" ]; then
		warn "isolation: kvbench $1 gave no result"
		tail -n 2 "$W/kvbench.log" | sed 's/^/  /' >&2
	fi
}

# iso_take SIDE PHASE ROWS WHAT: take, count a stalled run in the first
# row, and log the run (WHAT: its condition and mode).
iso_take() {
	local line st
	take "$1" "$2" "$3"
	line=$(grep "^phase=$2 " <<<"$KVB_OUT" || true)
	st=$(b_field stalled "$line")
	if [ -n "$line" ] && [ "$st" != 0 ]; then
		STALLED[${3%%,*}]=$((${STALLED[${3%%,*}]:-0} + 1))
	fi
	if [ -z "$line" ]; then
		b_log "isolation: $4 $2: failed"
	elif [ "$st" = 0 ]; then
		b_log "isolation: $4 $2: $(b_field rate "$line") MiB/s in $(b_field secs "$line") s"
	else
		b_log "isolation: $4 $2: $(b_field rate "$line") MiB/s in $(b_field secs "$line") s, $st stream(s) stalled"
	fi
}

# Sectors written to device 1's loop device so far.
iso_sectors() {
	awk '{ print $7 }' "/sys/block/${ISO_DEV1#/dev/}/stat"
}

# iso_on COND TAG: put device 1 in trouble COND; start its writers.
iso_on() {
	local settle=2
	case $1 in
	idle) return 0 ;;
	slowed) b_throttle_set "$ISO_SLOW" "$ISO_DEV1" ;;
	hung)
		settle=$ISO_HUNG_SETTLE
		t_fault hang "$ISO_CTL"
		# lifted whatever happens to this script; kill ends the timer
		(trap 'kill "$s" 2>/dev/null; exit 0' TERM
		 sleep "$ISO_LIFT" & s=$!
		 wait "$s"
		 echo ok >"$ISO_CTL") 2>/dev/null &
		ISO_LIFTER=$!
		B_TIMERS+=("$ISO_LIFTER") ;;
	esac
	ISO_T0=$(date +%s%N) ISO_S0=$(iso_sectors)
	"$KVBENCH" write -s 8M -n "$ISO_LOADN" -j 4 -D -H "$MP/gpu1/l$2" \
		>/dev/null 2>>"$W/kvbench.log" &
	ISO_LOAD=$!
	disown "$ISO_LOAD"	# killed on purpose: no job report
	B_PIDS+=("$ISO_LOAD")
	sleep "$settle"
}

# iso_off COND: end the writers, lift the trouble, wait (30 s at most
# each) for every client that waited on device 1.
iso_off() {
	local p
	if [ -n "$ISO_LOAD" ]; then
		# the load was there all along (a daemon may fail a hung
		# device's writes: then they end, and that is fine)
		t_alive "$ISO_LOAD" || [ "$1" = hung ] ||
			warn "isolation: $1: the writers on device 1 ended early (see kvbench.log)"
		kill -KILL "$ISO_LOAD" 2>/dev/null || true
		b_log "isolation: $1: device 1 wrote $(awk -v s="$(($(iso_sectors) - ISO_S0))" \
			-v t="$(($(date +%s%N) - ISO_T0))" \
			'BEGIN { printf "%.1f MiB/s", s * 512 / 1048576 / (t / 1e9) }') under its writers"
	fi
	case $1 in
	slowed) b_throttle_set 0 "$ISO_DEV1" ;;
	hung)
		t_fault ok "$ISO_CTL"
		kill -TERM "$ISO_LIFTER" 2>/dev/null || true
		wait "$ISO_LIFTER" 2>/dev/null || true
		ISO_LIFTER= ;;
	esac
	for p in $ISO_LOAD "${ISO_WAIT[@]}"; do
		if t_wait_exit "$p" 30; then
			wait "$p" 2>/dev/null || true
		else
			warn "isolation: client $p still waits 30 s after device 1 was well"
		fi
	done
	ISO_LOAD='' ISO_WAIT=()
}

# iso_ready: wait (30 s at most) until a new file in gpu1/ is placed on
# device 1 again: after a hang a daemon may keep device 1 out of service
# for a while, and writers in gpu1/ would then load device 0 instead.
iso_ready() {
	local i f=$MP/gpu1/ready dev=
	for ((i = 0; i < 60; i++)); do
		if : >"$f" 2>/dev/null; then
			dev=$(getfattr --absolute-names --only-values \
				-n user.kvstripe.device "$f" 2>/dev/null || true)
			rm -f "$f"
			[ "$dev" = 1 ] && return 0
		fi
		sleep 0.5
	done
	warn "isolation: new files in gpu1/ still not on device 1 (${dev:-none}) 30 s after a condition"
}

# iso_once COND TAG: one measurement of every mode under COND.
iso_once() {
	local c=$1 tag=$2 side=mount m f rw rr
	local -a fl
	[ "$c" = idle ] && side=native
	iso_ready
	mkdir -p "$MP/gpu0/r$tag" || warn "isolation: cannot make gpu0/r$tag"
	"$KVBENCH" write -s 8M -n "$ISO_N" -j 4 -D -H "$MP/gpu0/r$tag" \
		>/dev/null 2>>"$W/kvbench.log" || {
		warn "isolation: the files to read could not be written"
		tail -n 2 "$W/kvbench.log" | sed 's/^/  /' >&2
	}
	# every directory a client will use exists and is looked up again
	# after the drop, as a cache's own directories would be
	for f in 0 1 2 3; do
		mkdir -p "$MP/gpu1/l$tag/s$f" ||
			warn "isolation: cannot make gpu1/l$tag/s$f"
		for m in $ISO_MODES; do
			mkdir -p "$MP/gpu0/w$m$tag/s$f" ||
				warn "isolation: cannot make gpu0/w$m$tag/s$f"
		done
	done
	b_drop_caches
	iso_on "$c" "$tag"
	for m in $ISO_MODES; do
		fl=(-D)
		[ "$m" = buffered ] && fl=()
		rw=${ISO_ROW[w$m$c]} rr=${ISO_ROW[r$m$c]}
		iso_kvb write -s 8M -n "$ISO_N" -j 4 -H "${fl[@]}" "$MP/gpu0/w$m$tag"
		iso_take "$side" write "$rw" "$c $m"
		iso_kvb read -s 8M -n "$ISO_N" -j 4 -H -V "${fl[@]}" "$MP/gpu0/r$tag"
		iso_take "$side" read "$rr" "$c $m"
	done
	iso_off "$c"
	rm -rf "$MP/gpu0/r$tag" "$MP/gpu1/l$tag" 2>/dev/null || true
	for m in $ISO_MODES; do
		rm -rf "$MP/gpu0/w$m$tag" 2>/dev/null || true
	done
}

isolation_run() {
	local rep i c m k dev0 rc=0 p=isolation\|
	local -a conds=(idle slowed hung)
	local -A what=([slowed]="dev 1 at $ISO_SLOW MiB/s" [hung]="dev 1 hung")
	declare -gA ISO_ROW=()
	SETUP=isolation
	D0=$W/iso/d0 D1=$W/iso/d1
	# room for the files read, one set written per mode, and to spare
	# shellcheck disable=SC2086	# the list is meant to split
	set -- $ISO_MODES
	b_loopfs "$D0" "$((ISO_N * 32 * ($# + 1) + 768))M" full
	dev0=$(b_loopdev "$D0")
	t_faultext4 "$D1" 1G || rc=$?
	if [ "$rc" != 0 ]; then
		warn "isolation: no faulting device ($T_WHY); set-up skipped"
		t_fs_release
		return 0
	fi
	ISO_CTL=$T_FAULTCTL
	ISO_DEV1=$(b_loopdev "$D1")
	if ! b_throttle "$ISO_MIBS" "$dev0"; then
		warn "isolation: no blkio cgroup controller here; set-up skipped"
		t_fs_release
		return 0
	fi
	MP=$W/mnt
	mkdir -p "$MP"
	b_mount "$D0,$D1" "$MP"
	mkdir -p "$MP/gpu0" "$MP/gpu1"
	# the idle runs are the reference of both trouble conditions
	for m in $ISO_MODES; do
		k=O_DIRECT
		[ "$m" = buffered ] && k=buffered
		for c in slowed hung; do
			ISO_ROW[w$m$c]="${p}write 8M x4 $k beside ${what[$c]}"
			ISO_ROW[r$m$c]="${p}read 8M x4 $k beside ${what[$c]}"
			row "${ISO_ROW[w$m$c]}" MiB/s
			row "${ISO_ROW[r$m$c]}" MiB/s
		done
		ISO_ROW[w${m}idle]="${ISO_ROW[w${m}slowed]},${ISO_ROW[w${m}hung]}"
		ISO_ROW[r${m}idle]="${ISO_ROW[r${m}slowed]},${ISO_ROW[r${m}hung]}"
	done
	# a hang lasts its settling time and every phase's limit at most
	ISO_LIFT=$((ISO_HUNG_SETTLE + 2 * $# * (ISO_LIMIT + 1) + 5))
	b_log "isolation: 4 x $ISO_N file(s) of 8 MiB on device 0 at $ISO_MIBS MiB/s; device 1 idle, at $ISO_SLOW MiB/s, hung (${ISO_LIMIT}s per phase at most)"
	for ((rep = 0; rep < REPS; rep++)); do
		for ((i = 0; i < 3; i++)); do
			c=${conds[(rep + i) % 3]}
			iso_once "$c" "$rep$c"
		done
	done
	HWM[$SETUP]=$(b_status_kb VmHWM)
	b_umount || warn "isolation: the daemon did not exit 0 after unmount"
	b_unthrottle
	t_fs_release
}

# rss_check N: N empty files made directly in the backing directories
# (gpu0/ on device 0, gpu1/ on device 1), mount, find + du over the mount,
# read a few; the daemon's RSS before, after, and after the kernel forgot.
rss_check() {
	local n=$1 d0=$W/rss/d0 d1=$W/rss/d1 cnt rss0 rss1 hwm rss2 t0 t1 f ni
	b_tmpfs "$W/rss" 1G
	mkdir -p "$d0" "$d1"
	"$KVBENCH" mkfiles -n $((n / 2)) "$d0/gpu0" >/dev/null
	"$KVBENCH" mkfiles -n $((n - n / 2)) "$d1/gpu1" >/dev/null
	mkdir -p "$W/mnt"
	b_mount "$d0,$d1" "$W/mnt"
	rss0=$(b_status_kb VmRSS)
	t0=$(date +%s%N)
	cnt=$(find "$W/mnt" | wc -l)
	du -s "$W/mnt" >/dev/null	# stats (looks up) every file
	t1=$(date +%s%N)
	for f in $(find "$W/mnt/gpu0" -type f | head -n 5); do
		cat "$f" >/dev/null
	done
	rss1=$(b_status_kb VmRSS)
	hwm=$(b_status_kb VmHWM)
	ni=$(getfattr --absolute-names --only-values -n user.kvstripe.inodes \
		"$W/mnt" 2>/dev/null || echo '?')
	b_drop_caches			# the kernel sends FORGETs
	sleep 1
	rss2=$(b_status_kb VmRSS)
	[ "$cnt" = $((n + 3)) ] || warn "rss: find saw $cnt entries, expected $((n + 3))"
	RSS_LINES+=("$n $cnt $(((t1 - t0) / 1000000)) $rss0 $rss1 $hwm $rss2 $ni")
	b_umount || warn "rss: the daemon did not exit 0 after unmount"
	t_fs_release
}

# --- report ----------------------------------------------------------------

# cpu_text ROW: the daemon's CPU for the row's mount runs, in its unit.
cpu_text() {
	local t=${CPU_T[$1]:-} a=${CPU_AMT[$1]:-0} hz
	hz=$(getconf CLK_TCK)
	if [ -z "$t" ] || [ "$a" = 0 ]; then
		echo -
		return
	fi
	case ${CPU_KIND[$1]:-byte} in
	op) awk -v t="$t" -v a="$a" -v hz="$hz" \
		'BEGIN { printf "%.0f us/op\n", t / hz * 1e6 / a }' ;;
	core) awk -v t="$t" -v a="$a" -v hz="$hz" \
		'BEGIN { printf "%.0f%% core\n", t / hz * 100 / (a / 1000) }' ;;
	*) awk -v t="$t" -v a="$a" -v hz="$hz" \
		'BEGIN { printf "%.2f s/GiB\n", t / hz / (a / 1073741824) }' ;;
	esac
}

# row_limit ROW: what the devices of a paced row can give, MiB/s: the set
# speed times the devices its streams use (one for one stream, both for
# more and for the KV mix); empty for other rows.
row_limit() {
	local mib
	mib=$(setup_mib "${1%%|*}")
	[ -n "$mib" ] || return 0
	case ${1#*|} in
	write*" x1 "* | read*" x1 "*) echo "$mib" ;;
	write* | read* | KV*) echo $((2 * mib)) ;;
	esac
}

# median_of SAMPLES: median of a space-separated list.
median_of() {
	# shellcheck disable=SC2086	# the list is meant to split
	b_median $1
}

ratio() {
	awk -v m="$2" -v n="$1" 'BEGIN {
		if (n == "-" || m == "-" || n + 0 == 0) print "-"
		else printf "%.2f\n", m / n }'
}

# One line per row: setup, workload, unit, native, mount, ratio, spread,
# cpu, note. Tab-separated, for both renderings; once RESULTS is set
# (after the last measurement), those lines as they were computed then.
RESULTS=
result_lines() {
	local r nat mnt note spread lim
	if [ -n "$RESULTS" ]; then
		printf '%s\n' "$RESULTS"
		return
	fi
	for r in "${ROWS[@]}"; do
		nat=$(median_of "${NAT[$r]:-}")
		mnt=$(median_of "${MNT[$r]:-}")
		spread=$(spread_of "${NAT[$r]:-}" "${MNT[$r]:-}")
		note=
		[ -n "${FAILED[$r]:-}" ] && note="run(s) failed"
		[ -n "${SHORT[$r]:-}" ] && note="${note:+$note; }${SHORT[$r]} short read(s)"
		[ -n "${STALLED[$r]:-}" ] &&
			note="${note:+$note; }stalled in ${STALLED[$r]} run(s)"
		lim=$(row_limit "$r")
		[ -n "$lim" ] && [ "$nat" != - ] &&
			awk -v n="$nat" -v l="$lim" 'BEGIN { exit !(n > 1.1 * l) }' &&
			note="${note:+$note; }unreliable: native above the set $lim MiB/s"
		# a stall hits some runs only: the worst one, against the median
		[[ $r == isolation\|* ]] && [ -n "${MNT[$r]:-}" ] &&
			note="${note:+$note; }worst run $(ratio "$nat" \
				"$(awk '{ for (i = 1; i <= NF; i++)
					if (i == 1 || $i < m) m = $i } END { print m }' \
					<<<"${MNT[$r]}")")"
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${r%%|*}" \
			"${r#*|}" "${UNIT[$r]}" "$nat" "$mnt" \
			"$(ratio "$nat" "$mnt")" "$spread" "$(cpu_text "$r")" "$note"
	done
}

# spread_of NATIVE MOUNT: the larger (max - min) / median of the two sample
# lists, in percent: how far apart the repetitions were.
spread_of() {
	local a b
	# shellcheck disable=SC2086	# the lists are meant to split
	a=$(b_spread $1)
	# shellcheck disable=SC2086
	b=$(b_spread $2)
	awk -v a="$a" -v b="$b" 'BEGIN { printf "%d%%\n", (a > b ? a : b) }'
}

print_table() {
	printf '\n%-9s %-28s %-6s %9s %9s %6s %6s %12s  %s\n' set-up \
		workload unit native mount ratio spread "daemon CPU" note
	result_lines | while IFS=$'\t' read -r s w u n m q sp c note; do
		printf '%-9s %-28s %-6s %9s %9s %6s %6s %12s  %s\n' \
			"$s" "$w" "$u" "$n" "$m" "$q" "$sp" "$c" "$note"
	done
	echo "(* buffered rows: client buffered I/O on the mount vs O_DIRECT on the backing directory)"
	want isolation "$SETUPS" &&
		echo "(isolation rows: both columns through the mount, native = device 1 idle, mount = device 1 in trouble)"
	memory_lines | sed 's/^/  /'
}

memory_lines() {
	local s l first='' last=''
	for s in $(printf '%s\n' "${!HWM[@]}" | sort); do
		printf 'daemon peak RSS (VmHWM), %s set-up: %s MiB\n' "$s" \
			"$(awk -v k="${HWM[$s]}" 'BEGIN { printf "%.1f", k / 1024 }')"
	done
	for l in "${RSS_LINES[@]}"; do
		# shellcheck disable=SC2086
		set -- $l
		printf '%s files: find saw %s in %s ms (find + du); RSS %s -> %s KiB (peak %s, inode table %s), after drop_caches %s KiB\n' \
			"$1" "$2" "$3" "$4" "$5" "$6" "$8" "$7"
		[ -n "$first" ] || first="$1 $5"
		last="$1 $5"
	done
	if [ -n "$first" ] && [ "$first" != "$last" ]; then
		awk -v a="$first" -v b="$last" 'BEGIN { split(a, x, " ")
			split(b, y, " ")
			printf "RSS growth with files the kernel has looked up: %.0f bytes per file\n",
				(y[2] - x[2]) * 1024 / (y[1] - x[1]) }'
	fi
}

# peak_kib: the daemon's largest peak RSS (VmHWM) of the run, KiB, over
# the set-ups and the RSS checks (empty if none was taken).
peak_kib() {
	local s l m=
	for s in "${HWM[@]}"; do
		[ -z "$m" ] || [ "$s" -gt "$m" ] && m=$s
	done
	for l in "${RSS_LINES[@]}"; do
		# shellcheck disable=SC2086
		set -- $l
		[ -z "$m" ] || [ "$6" -gt "$m" ] && m=$6
	done
	echo "$m"
}

# targets: the project's targets against the medians, one line each:
# name, wanted, measured, verdict (met, MISSED, or unreliable: a paced
# row whose native figure beat the set speed, not counted).
targets() {
	{ result_lines; printf 'peak\t%s\n' "$(peak_kib)"; } |
	awk -F'\t' -v pt=" $PACED_TARGET_MIBS " '
	function check(name, want, got, n) {
		if (n == 0) return
		printf "%s\t>= %s\t%.2f\t%s\n", name, want, got,
			(got + 0 >= want ? "met" : "MISSED")
	}
	function check_le(name, want, got, n) {
		if (n == 0) return
		printf "%s\t<= %s\t%.2f\t%s\n", name, want, got,
			(got + 0 <= want ? "met" : "MISSED")
	}
	$1 == "peak" { if ($2 != "") peak = sprintf("%.1f", $2 / 1024); next }
	# every paced row at a target speed is a target of its own
	$1 ~ /^paced/ && index(pt, " " substr($1, 6) " ") &&
	    ($2 ~ /^(write|read) / || $2 ~ /^KV mix/) {
		pr[++npr] = $1 ": " $2
		pq[npr] = $6; pu[npr] = ($9 ~ /unreliable/)
	}
	$1 == "ram" && $2 ~ /O_DIRECT/ && $8 ~ /s\/GiB/ {
		c = $8 + 0
		k = ($2 ~ /^write /) ? "cpuw" : ($2 ~ /^read /) ? "cpur" : ""
		if (k != "") { if (!(k in lo) || c > lo[k]) lo[k] = c; cnt[k]++ }
	}
	$6 != "-" {
		q = $6 + 0
		if ($1 == "ram" && $2 ~ /^KV mix/) { lo["mixram"] = q; cnt["mixram"]++ }
		if ($1 == "spread" && $2 ~ /1 worker/) {
			k = ($2 ~ /^write/) ? "spw" : "spr"; lo[k] = q; cnt[k]++
		}
		if ($1 == "ram" && $2 ~ /^read / && $2 ~ /O_DIRECT/) {
			k = "ramreadd"
			if (!(k in lo) || q < lo[k]) lo[k] = q; cnt[k]++
		}
		if ($1 == "disk" && $2 ~ /^create\+unlink/) { lo["metadisk"] = q; cnt["metadisk"]++ }
		if ($1 == "isolation") {
			k = ($2 ~ /hung/) ? "isoh" : "isos"
			if (!(k in lo) || q < lo[k]) lo[k] = q; cnt[k]++
		}
	}
	END {
		for (i = 1; i <= npr; i++) {
			if (pu[i])
				printf "%s\t>= 0.95\t%s\tunreliable\n", pr[i], pq[i]
			else
				check(pr[i], 0.95, pq[i], pq[i] != "-")
		}
		check_le("daemon CPU per GiB, ram, O_DIRECT writes (worst row), s/GiB", 0.35, lo["cpuw"], cnt["cpuw"])
		check_le("daemon CPU per GiB, ram, O_DIRECT reads (worst row), s/GiB", 0.15, lo["cpur"], cnt["cpur"])
		check("KV mix, ram (CPU-bound)", 0.8, lo["mixram"], cnt["mixram"])
		check("ram (CPU-bound) reads, O_DIRECT client (worst row)", 0.5, lo["ramreadd"], cnt["ramreadd"])
		check_le("daemon peak RSS, MiB (largest of the run)", 160, peak, peak != "")
		check("spread: 1 worker on 2 devices, write (vs both natively)", 0.9, lo["spw"], cnt["spw"])
		check("spread: 1 worker on 2 devices, read (vs both natively)", 0.9, lo["spr"], cnt["spr"])
		check("isolation: device 0 beside device 1 slowed (worst row)", 0.9, lo["isos"], cnt["isos"])
		check("isolation: device 0 beside device 1 hung (worst row)", 0.9, lo["isoh"], cnt["isoh"])
		check("create+unlink, disk", 0.3, lo["metadisk"], cnt["metadisk"])
	}'
}

# limits: for each paced set-up, where the mount falls below native and
# what one core of daemon serves: 1 / (daemon CPU per GiB), over the
# O_DIRECT write rows and over the O_DIRECT read rows (their worst).
limits() {
	result_lines | awk -F'\t' '
	$1 ~ /^paced/ && $2 ~ /^(write|read) / && $2 ~ /O_DIRECT/ {
		s = $1
		if (!(s in seen)) { seen[s] = 1; order[++n] = s }
		if ($6 != "-" && (!(s in wq) || $6 + 0 < wq[s])) {
			wq[s] = $6 + 0
			wr[s] = sprintf("%s %s/%s MiB/s", $2, $5, $4)
			if ($9 ~ /unreliable/) wr[s] = wr[s] " unreliable"
		}
		k = ($2 ~ /^write/) ? "w" : "r"
		if ($8 ~ /s\/GiB/ && $8 + 0 > cpu[s k]) cpu[s k] = $8 + 0
	}
	function core(c) {
		return c > 0 ? sprintf("%.2f s/GiB, one core %.1f GB/s", c,
			1073741824 / c / 1e9) : "-"
	}
	END {
		for (i = 1; i <= n; i++) {
			s = order[i]
			printf "%s: lowest O_DIRECT ratio %.2f (%s); writes %s; reads %s\n",
				s, wq[s], wr[s], core(cpu[s "w"]), core(cpu[s "r"])
		}
	}'
}

print_targets() {
	echo
	echo "targets (ratio mount/native unless a unit is named):"
	targets | while IFS=$'\t' read -r name want got verdict; do
		printf '  %-62s %-7s %-8s %s\n' "$name" "$want" "$got" "$verdict"
	done
	if want paced "$SETUPS"; then
		echo
		echo "paced limits (worst O_DIRECT row mount/native; daemon CPU per GiB, worst row):"
		limits | sed 's/^/  /'
	fi
}

machine() {
	local src disk
	src=$(findmnt -no SOURCE -T "$DISK_DIR" 2>/dev/null || echo '?')
	disk=$(lsblk -dno NAME,SIZE,ROTA,MODEL "$src" 2>/dev/null | awk 'NR == 1 {
		m = ""; for (i = 4; i <= NF; i++) m = m " " $i
		printf "%s, %s, rotational=%s%s", $1, $2, $3, m }' || true)
	printf -- '- %s CPUs (%s), %s GiB RAM, kernel %s\n' "$(nproc)" \
		"$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
		"$(awk '/^MemTotal/ { printf "%d", $2 / 1048576 + 0.5 }' /proc/meminfo)" \
		"$(uname -r)"
	printf -- '- disk set-up: %s on %s (%s; lsblk: %s)\n' "$DISK_DIR" "$src" \
		"$(findmnt -no FSTYPE -T "$DISK_DIR" 2>/dev/null)" "${disk:-?}"
	printf -- '- ram set-up: %s\n' "$([ "$RAMKIND" = loop ] &&
		echo 'ext4 on loop devices (direct-io=on, 4 KiB sectors) over /dev/shm files' ||
		echo 'two tmpfs mounts (O_DIRECT accepted)')"
	want paced "$SETUPS" &&
		printf -- '- paced set-ups: ext4 on two loop devices (direct-io=on, 4 KiB sectors) over /dev/shm files written whole, each throttled to %s MiB/s (reads and writes each); each phase sized for %s s at the set speed\n' \
			"${PACED_MIBS// / or }" "$PACED_SECS"
	want isolation "$SETUPS" &&
		printf -- '- isolation set-up: device 0 ext4 on a loop device over a /dev/shm file written whole, throttled to %s MiB/s; device 1 ext4 (no journal) on a loop device over a faultfs, idle, throttled to %s MiB/s under 4 O_DIRECT writers, or hung under them; each phase ends after %s s (stalled)\n' \
			"$ISO_MIBS" "$ISO_SLOW" "$ISO_LIMIT"
	printf -- '- daemon: %s (%s)%s\n' "${KVSTRIPE#"$B_ROOT"/}" "$DAEMON_ID" \
		"${BENCH_MOUNT_OPTS:+, options $BENCH_MOUNT_OPTS}"
}

# The command as given, with the BENCH_* variables that were set.
command_line() {
	local v cmd=
	for v in $(compgen -e | grep -E '^(BENCH_|KVSTRIPE$)' | sort); do
		cmd+="$v=${!v} "
	done
	if [ -n "${MAKELEVEL:-}" ]; then
		echo "${cmd}make bench"
	else
		echo "${cmd}bash tests/bench/run.sh"
	fi
}

# The generated block of docs/performance.md.
doc_block() {
	echo "<!-- bench:begin (generated by tests/bench/run.sh; edits here are overwritten) -->"
	echo
	echo "### Run of $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	machine
	echo
	echo "Command: \`$(command_line)\` ($REPS repetitions, median${SETUP_REPS:+; $SETUP_REPS}; took ${ELAPSED}s)"
	echo
	echo "| set-up | workload | unit | native | mount | mount/native | spread | daemon CPU | note |"
	echo "|---|---|---|---:|---:|---:|---:|---:|---|"
	result_lines | while IFS=$'\t' read -r s w u n m q sp c note; do
		printf '| %s | %s | %s | %s | %s | **%s** | %s | %s | %s |\n' \
			"$s" "${w/#  /↳ }" "$u" "$n" "$m" "$q" "$sp" "$c" "$note"
	done
	echo
	echo "\\* buffered rows: the client uses buffered I/O on the mount; the"
	echo "native column is the same O_DIRECT measurement as the row above it."
	if want isolation "$SETUPS"; then
		echo "Isolation rows: both columns are device 0 through the mount, the"
		echo "native column with device 1 idle, the mount column with device 1"
		echo "in trouble; a stalled run counts the whole files it completed."
	fi
	echo
	memory_lines | sed 's/^/- /'
	echo
	echo "Targets:"
	echo
	echo "| target | wanted | measured | |"
	echo "|---|---:|---:|---|"
	targets | while IFS=$'\t' read -r name want got verdict; do
		printf '| %s | %s | %s | %s |\n' "$name" "$want" "$got" "$verdict"
	done
	if want paced "$SETUPS"; then
		echo
		echo "Paced limits (worst O_DIRECT row, mount/native; daemon CPU per GiB of the worst row, and what one core of it serves):"
		echo
		limits | sed 's/^/- /'
	fi
	if [ "${#WARNINGS[@]}" -gt 0 ]; then
		echo
		echo "Warnings:"
		echo
		printf -- '- %s\n' "${WARNINGS[@]}"
	fi
	echo
	echo "<!-- bench:end -->"
}

# Replace the generated block of docs/performance.md (or append one).
write_doc() {
	local blk new
	blk=$(mktemp "$W/doc.XXXXXX")
	new=$(mktemp "$W/doc.XXXXXX")
	doc_block >"$blk"
	if [ -f "$DOC" ] && grep -q '^<!-- bench:begin' "$DOC"; then
		awk -v blk="$blk" '
			/^<!-- bench:begin/ { while ((getline l < blk) > 0) print l; skip = 1; next }
			/^<!-- bench:end/ { skip = 0; next }
			!skip { print }' "$DOC" >"$new"
	else
		{ [ -f "$DOC" ] && cat "$DOC"; echo; cat "$blk"; } >"$new"
	fi
	cat "$new" >"$DOC"
	b_log "refreshed $DOC"
}

# --- main ------------------------------------------------------------------

main() {
	local s n start
	start=$(date +%s)
	preflight
	mkdir -p "$DISK_DIR"
	DISK_DIR=$(realpath "$DISK_DIR")	# mount points are compared as text
	W=$(mktemp -d "$DISK_DIR/kvbench.XXXXXX")
	trap b_cleanup EXIT
	trap 'b_die "interrupted"' TERM INT HUP
	# a closed output pipe fails the next write (set -e) instead of killing
	# the script before its EXIT trap could clean up
	trap '' PIPE
	build
	b_log "work directory $W; daemon $KVSTRIPE ($DAEMON_ID); $REPS repetitions"
	for s in $SETUPS; do
		case $s in
		spread) want seq "$WORKLOADS" && spread_run ;;
		isolation) want seq "$WORKLOADS" && isolation_run ;;
		paced) for n in $PACED_MIBS; do setup_run "paced$n"; done ;;
		*) setup_run "$s" ;;
		esac
	done
	if want rss "$WORKLOADS"; then
		for n in $RSS_COUNTS; do
			b_log "rss: $n files"
			rss_check "$n"
		done
	fi
	ELAPSED=$(($(date +%s) - start))
	# every rendering below reads them: computed once (dozens of
	# processes per row, seconds on a loaded machine)
	RESULTS=$(result_lines)
	print_table
	print_targets
	if [ "${#WARNINGS[@]}" -gt 0 ]; then
		printf '\nwarnings:\n'
		printf '  %s\n' "${WARNINGS[@]}"
	fi
	echo "(${ELAPSED}s)"
	[ "$WRITE_DOC" = 1 ] && write_doc
	return 0
}

main "$@"
