#!/usr/bin/env bash
#
# t-health.sh - each device's health (core/health.h, core/hprobe.h) as the
# root's attributes show and set it (fs/info.h). Three devices; device 1's
# ext4 sits on a loop device over a faultfs file (tests/faultfs) and the
# mount has device_timeout=1. With files on all three:
#
#   - drained by hand (setfattr user.kvstripe.device.1.state=drain), device
#     1 takes no new file, hash-placed or below gpu1/, its files still
#     read, and resume puts it back; only root may set it, and only to
#     drain, resume or probe;
#   - failing (EIO), its file's read fails at once, its probe confirms it
#     and fails it (one line); new names go to devices 0 and 2, whose files
#     read on; once it answers, its probe alone (no client asks it) returns
#     it to ok, every file reads as written, new files go there again;
#   - hung, a read of its file ends after device_timeout and the
#     device is failed; once it answers, it is ok again by itself;
#   - read-only (its ext4 remounted ro), a write into its file says EROFS
#     and the device is read-only: its files still read, new ones go
#     elsewhere; remounted rw, it is ok again by itself;
#   - a name whose file is on the failed or hung device looks up as
#     missing (lookups leave the device out: a miss); a file made anew
#     under that name meanwhile is the one clients find once the device is
#     back: its older file there is removed before it is served again
#     (core/shadow.h).
#
# ext4 marks a bitmap it could not read corrupt until it is mounted again,
# so before each failure the test reads device 1's bitmaps back in
# (cold), else its probe could never make a file there again.
#
# Every hang is lifted after at most 40 s whatever happens (a hung faultfs
# stalls sync(2) machine-wide), and on exit. No client is killed or timed
# out with timeout(1): one waiting in FUSE cannot be; each runs in the
# background and is watched with kill -0.

# group: loopdev fault

. "$(dirname "$0")/lib.sh"

t_init
M=$T/mnt

[ -e /dev/loop-control ] || t_skip "no /dev/loop-control"
for tool in losetup mkfs.ext4 mount umount md5sum getfattr setfattr setpriv; do
	command -v "$tool" >/dev/null || t_skip "no $tool"
done
mkdir "$T/b0" "$T/b2"
rc=0
t_faultext4 "$T/b1" 128M || rc=$?
[ "$rc" != 2 ] || t_skip "$T_WHY"
[ "$rc" = 0 ] || t_fail "$T_WHY"
# every lookup and getattr reaches the daemon: nothing is answered from
# the kernel's caches while device 1 is in trouble
t_mount "$T/b0,$T/b1,$T/b2" -o device_timeout=1,entry_timeout=0,attr_timeout=0


mkdir "$M/gpu0" "$M/gpu1" "$M/gpu2"
t_rand "$T/data" $((256 * 1024))
for d in 0 1 2; do
	for i in 1 2 3 4 5; do
		cp "$T/data" "$M/gpu$d/a$i"
		echo "$d.$i" >>"$M/gpu$d/a$i"
	done
done
echo scratch >"$M/gpu1/scratch"	# written again by the read-only case
# top-level files, hash-placed: some land on each device
for i in $(seq 1 24); do
	echo "top $i" >"$M/top$i"
done
TOP1=()
for i in $(seq 1 24); do
	[ "$(t_device_of "top$i")" != 1 ] || TOP1+=("top$i")
done
[ "${#TOP1[@]}" -gt 0 ] || t_fail "no hashed name of 24 on device 1"
for d in 0 1 2; do
	t_eq "$(t_device_of "gpu$d/a1")" "$d" "device of gpu$d/a1"
done
(cd "$M" && md5sum gpu*/a* top*) >"$T/sums"
# the files of devices 0 and 2 only
for i in $(seq 1 24); do
	[ "$(t_device_of "top$i")" = 1 ] || grep " top$i\$" "$T/sums"
done >"$T/sums02"
grep ' gpu[02]/' "$T/sums" >>"$T/sums02"
grep ' gpu1/' "$T/sums" >"$T/sums1"
sync
sleep 3	# the daemon closes idle backing files after 2 s

# fails_within SECONDS TEXT CMD...: CMD ends within SECONDS, fails, and
# says TEXT (the errno's text)
fails_within() {
	local secs=$1 text=$2
	shift 2
	t_within "$secs" sh -c '! "$@"' sh "$@"
	grep -q "$text" "$T/err" ||
		t_fail "'$*': not '$text': $(cat "$T/err")"
}

# state N: device N's state (user.kvstripe.device.N.state), or what
# getfattr said; "(no answer)" if the mount did not answer within 3 s
# (the getfattr is left to end on its own)
state() {
	local out=$T/state.$BASHPID pid i
	getfattr --absolute-names --only-values -n "user.kvstripe.device.$1.state" "$M" \
		>"$out" 2>&1 &
	pid=$!
	for ((i = 0; i < 60; i++)); do
		t_alive "$pid" || break
		sleep 0.05
	done
	if t_alive "$pid"; then
		T_PIDS+=("$pid")
		echo "(no answer)"
		return 0
	fi
	wait "$pid" || true
	cat "$out"
}

# wait_state N STATE SECONDS: device N's state is STATE within SECONDS
wait_state() {
	local s='' end=$((SECONDS + $3 + 1)) i
	for ((i = 0; i < $3 * 10; i++)); do
		s=$(state "$1")
		[ "$s" != "$2" ] || return 0
		((SECONDS < end)) || break
		sleep 0.1
	done
	s=$(state "$1")
	[ "$s" = "$2" ] ||
		t_fail "device $1: '$s' after $3 s, expected '$2' (log: $(tail -n 2 "$T/log" | tr '\n' '|'))"
}

# logmark: the log's length, for log_since
logmark() {
	wc -l <"$T/log"
}

# log_since MARK: the log's lines after MARK
log_since() {
	tail -n +$(($1 + 1)) "$T/log"
}

# wait_log MARK REGEX SECONDS: a line after MARK matches REGEX (grep -E)
# within SECONDS
wait_log() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		log_since "$1" | grep -qE "$2" && return 0
		sleep 0.1
	done
	log_since "$1" | grep -qE "$2" && return 0
	# how late it comes, if it does within 30 s more: for the report
	for ((i = 0; i < 300; i++)); do
		log_since "$1" | grep -qE "$2" && break
		sleep 0.1
	done
	t_fail "no log line '$2' within $3 s ($( ((i < 300)) &&
		echo "it came $((i / 10)) s later" || echo "none 30 s later")): $(
		log_since "$1" | tail -n 3 | tr '\n' '|')"
}

# not_on DEV NAME...: each NAME (below the mount) is on a device, not DEV
not_on() {
	local dev=$1 n d
	shift
	for n in "$@"; do
		d=$(t_device_of "$n") || t_fail "'$n' is on no single device"
		[ "$d" != "$dev" ] || t_fail "'$n' placed on device $dev"
	done
}

# cold: drop the caches, so that what asks device 1 reads its disk, then
# read its ext4's allocation bitmaps back in (a file made and removed on it
# directly): ext4 marks a bitmap it cannot read corrupt until the next
# mount, after which no probe could make a file there again
cold() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	dd if=/dev/zero of="$T/b1/.warm" bs=4096 count=1 oflag=direct \
		conv=fsync status=none
	rm "$T/b1/.warm"
}

# elsewhere NAME...: each NAME (below the mount) is on device 0 or 2;
# device 1's own directory is not asked (it may hang)
elsewhere() {
	local n
	for n in "$@"; do
		[ -e "$T/b0/$n" ] || [ -e "$T/b2/$n" ] ||
			t_fail "'$n' is on neither device 0 nor 2"
	done
}

setstate() {
	setfattr -n "user.kvstripe.device.$1.state" -v "$2" "$M"
}

# settle: between cases, device 1 in placement and probed, whatever the
# case before left, so that the next one starts from ok if it can
settle() {
	setstate 1 resume
	setstate 1 probe
}

# --- drain -----------------------------------------------------------------

drain() {
	local i mark n1=0
	t_eq "$(state 1)" ok "device 1 before"
	mark=$(logmark)
	setstate 1 drain
	t_eq "$(state 1)" ok,drain "device 1 drained"
	t_eq "$(state 0) $(state 2)" "ok ok" "devices 0 and 2"
	getfattr --absolute-names --only-values -n user.kvstripe.devices "$M" >"$T/devices"
	printf '0 ok %s\n1 ok,drain %s\n2 ok %s\n' "$T/b0" "$T/b1" "$T/b2" |
		diff - "$T/devices" >&2 || t_fail "user.kvstripe.devices"
	log_since "$mark" | grep -q "device 1 (.*): drained" ||
		t_fail "drain not logged"
	for i in $(seq 1 30); do
		echo "drained $i" >"$M/dr$i"
	done
	for i in 1 2 3 4 5; do
		echo "drained gpu1 $i" >"$M/gpu1/dr$i"
	done
	# shellcheck disable=SC2046
	not_on 1 $(seq -f 'dr%g' 1 30) $(seq -f 'gpu1/dr%g' 1 5)
	t_eq "$(cat "$M/gpu1/dr3")" "drained gpu1 3" "gpu1/dr3"
	(cd "$M" && md5sum -c --quiet "$T/sums1") || t_fail "a gpu1 file changed"
	mark=$(logmark)
	setstate 1 resume
	t_eq "$(state 1)" ok "device 1 resumed"
	log_since "$mark" | grep -q "device 1 (.*): back in placement" ||
		t_fail "resume not logged"
	echo back >"$M/gpu1/resumed"
	t_eq "$(t_device_of gpu1/resumed)" 1 "device of gpu1/resumed"
	# the 30 names above were put off device 1: so are some of 30 more
	# placed by the hash, now on it
	for i in $(seq 1 30); do
		echo "resumed $i" >"$M/rs$i"
		[ "$(t_device_of "rs$i")" != 1 ] || n1=$((n1 + 1))
	done
	[ "$n1" -gt 0 ] || t_fail "no hashed name of 30 on device 1 after resume"
}
t_case drain drain
settle

drain_rights() {
	local a=user.kvstripe.device.1.state
	# the root writable by all: the kernel leaves the check to the daemon
	chmod 0777 "$M"
	t_expect_err "Operation not permitted" \
		t_as_nobody setfattr -n "$a" -v drain "$M"
	chmod 0755 "$M"
	t_eq "$(state 1)" ok "device 1 after nobody's drain"
	t_expect_err "Invalid argument" setfattr -n "$a" -v drained "$M"
	t_expect_err "Invalid argument" setfattr -n "$a" -v "" "$M"
	t_expect_err "Operation not permitted" setfattr -x "$a" "$M"
	t_expect_err "Operation not permitted" \
		setfattr -n user.kvstripe.devices -v drain "$M"
	t_expect_err "No such attribute" \
		getfattr --absolute-names -n user.kvstripe.device.3.state "$M"
	t_expect_err "No such attribute" \
		setfattr -n user.kvstripe.device.3.state -v drain "$M"
	t_expect_err "No such attribute" \
		getfattr --absolute-names -n user.kvstripe.device.1.state "$M/gpu1"
	t_eq "$(state 1)" ok "device 1 after the refused changes"
	# probe: the probe looks now, device 1 answers and stays ok
	setstate 1 probe
	t_eq "$(state 1)" ok "device 1 after probe"
}
t_case drain-rights drain_rights
chmod 0755 "$M"
settle

# --- read-only ---------------------------------------------------------------

# remount DIR OPTION: remount DIR with OPTION (ro, rw), within 10 s (a
# backing file still open for writing makes a remount ro say EBUSY; the
# daemon closes idle ones after 2 s)
remount() {
	local i
	for ((i = 0; i < 100; i++)); do
		mount -o "remount,$2" "$1" 2>"$T/err" && return 0
		sleep 0.1
	done
	t_fail "mount -o remount,$2 $1: $(cat "$T/err")"
}

readonly_case() {
	local mark
	wait_state 1 ok 5
	remount "$T/b1" ro
	mark=$(logmark)
	fails_within 3 "Read-only file system" \
		sh -c "echo again >'$M/gpu1/scratch'"
	wait_state 1 read-only 5
	log_since "$mark" | grep -q 'device 1 (.*): ok -> read-only' ||
		t_fail "no line making device 1 read-only"
	# its files still read; new ones go elsewhere
	t_within 3 sh -c "cd '$M' && md5sum -c --quiet '$T/sums1'"
	t_within 3 sh -c "echo ro >'$M/gpu1/during-ro'"
	not_on 1 gpu1/during-ro
	t_eq "$(cat "$M/gpu1/during-ro")" ro "gpu1/during-ro"
	t_eq "$(state 1)" read-only "device 1 still"
	mark=$(logmark)
	remount "$T/b1" rw
	wait_log "$mark" 'device 1 \(.*\): read-only -> ok' 5
	t_eq "$(state 1)" ok "device 1 back"
	t_eq "$(log_since "$mark" | grep -c 'device 1 (.*): .* -> ')" 1 \
		"lines changing device 1 back"
	echo after >"$M/gpu1/after-ro"
	t_eq "$(t_device_of gpu1/after-ro)" 1 "device of gpu1/after-ro"
	(cd "$M" && md5sum -c --quiet "$T/sums") || t_fail "a file changed"
}
t_case read-only readonly_case
! t_is_mounted "$T/b1" || mount -o remount,rw "$T/b1" 2>/dev/null || true
settle

# --- failing: EIO ------------------------------------------------------------

eio() {
	local mark i
	wait_state 1 ok 5
	# a device-1 file the kernel knows, held open
	exec 8<"$M/gpu1/a1"
	cold
	mark=$(logmark)
	t_fault eio
	# the read meets the device's EIO; the probe confirms it
	fails_within 3 "Input/output error" cat "$M/gpu1/a2"
	wait_state 1 failed 5
	t_eq "$(log_since "$mark" | grep -c 'device 1 (.*): .* -> failed')" 1 \
		"lines failing device 1"
	log_since "$mark" | grep -q 'device 1 (.*): ok -> failed: probe: Input/output error' ||
		t_fail "device 1 failed, not by its probe: $(log_since "$mark" |
			grep 'device 1 .*-> failed')"
	# a file of it the kernel knows gives EIO at once
	fails_within 2 "Input/output error" cat /dev/fd/8
	{ exec 8<&-; } 2>/dev/null || true	# its FLUSH says EIO too
	# one it does not know: what does its lookup say (failed-name-missing)
	t_within 2 sh -c "! cat '$M/gpu1/a3' 2>'$T/failed-read.err'"
	# new names go to devices 0 and 2, whose files read on
	for i in $(seq 1 30); do
		t_within 3 sh -c "echo 'eio $i' >'$M/ef$i'"
	done
	t_within 3 sh -c "echo 'eio gpu1' >'$M/gpu1/ef'"
	t_within 3 sh -c "cd '$M' && md5sum -c --quiet '$T/sums02'"
	t_eq "$(cat "$M/ef7") $(cat "$M/gpu1/ef")" "eio 7 eio gpu1" "new files"
	# shellcheck disable=SC2046
	elsewhere $(seq -f 'ef%g' 1 30) gpu1/ef
	t_eq "$(state 1)" failed "device 1 still"

	# back by its probe alone: nothing asks the mount until it is
	mark=$(logmark)
	t_fault ok
	wait_log "$mark" 'device 1 \(.*\): failed -> ok' 5
	t_eq "$(state 1)" ok "device 1 back"
	(cd "$M" && md5sum -c --quiet "$T/sums") || t_fail "a file changed"
	# shellcheck disable=SC2046
	not_on 1 $(seq -f 'ef%g' 1 30) gpu1/ef
	echo after >"$M/gpu1/after-eio"
	t_eq "$(t_device_of gpu1/after-eio)" 1 "device of gpu1/after-eio"
	t_eq "$(cat "$M/gpu1/after-eio")" after "gpu1/after-eio"
	t_eq "$(cat "$M/ef30")" "eio 30" "ef30 after"
}
t_case eio eio
t_fault ok
settle

# A name whose file is on the failed device is missing while it is: its
# lookup leaves the device out (docs/design.md, "Namespace").
failed_name_missing() {
	grep -q "No such file or directory" "$T/failed-read.err" ||
		t_fail "gpu1/a3 on failed device 1: $(cat "$T/failed-read.err")"
}
T_AFTER=eio t_case failed-name-missing failed_name_missing

# Made again elsewhere meanwhile, the new file is what the name gives once
# device 1 is back: the old one there is swept first, so the name is on
# one device, and it reads what was written last.
failed_name_once() {
	local mark
	wait_state 1 ok 5
	cold
	t_fault eio
	fails_within 3 "Input/output error" cat "$M/gpu1/a2"
	wait_state 1 failed 5
	t_within 3 sh -c "echo second >'$M/gpu1/once'"
	elsewhere gpu1/once
	mark=$(logmark)
	t_fault ok
	wait_state 1 ok 5
	[ ! -e "$T/b1/gpu1/once" ] ||
		t_fail "device 1 still has its older gpu1/once"
	log_since "$mark" | grep -q 'device 1: 1 file(s) made elsewhere while it was failed' ||
		t_fail "no sweep line: $(log_since "$mark")"
	t_eq "$(find "$T"/b0 "$T"/b1 "$T"/b2 -path '*/gpu1/once' | wc -l)" 1 \
		"backing files of gpu1/once"
	t_eq "$(cat "$M/gpu1/once")" second "gpu1/once"
	elsewhere gpu1/once
}
echo first >"$M/gpu1/once"
t_eq "$(t_device_of gpu1/once)" 1 "device of gpu1/once"
t_case failed-name-once failed_name_once
t_fault ok
settle

# --- hung --------------------------------------------------------------------

hung() {
	local mark
	wait_state 1 ok 5
	cold
	mark=$(logmark)
	t_fault_hang hang
	# the read's lookup waits device_timeout for device 1, fails it
	t_within 3 sh -c "! cat '$M/gpu1/a4' 2>'$T/hang-read.err'"
	wait_state 1 failed 5
	t_eq "$(log_since "$mark" | grep -c 'device 1 (.*): .* -> failed')" 1 \
		"lines failing device 1"
	log_since "$mark" | grep -q 'device 1 (.*): ok -> failed: no answer to [a-z]* within 1000 ms' ||
		t_fail "device 1 failed, not for its timeout: $(log_since "$mark" |
			grep 'device 1 .*-> failed')"
	t_within 3 sh -c "cd '$M' && md5sum -c --quiet '$T/sums02'"
	t_within 3 sh -c "echo 'hung gpu1' >'$M/gpu1/during-hang'"
	elsewhere gpu1/during-hang
	# back by its probe alone (and the calls stuck in it ending)
	mark=$(logmark)
	t_fault_lift
	wait_log "$mark" 'device 1 \(.*\): failed -> ok' 5
	t_eq "$(state 1)" ok "device 1 back"
	(cd "$M" && md5sum -c --quiet "$T/sums") || t_fail "a file changed"
	not_on 1 gpu1/during-hang
	echo after >"$M/gpu1/after-hang"
	t_eq "$(t_device_of gpu1/after-hang)" 1 "device of gpu1/after-hang"
}
t_case hang hung
t_fault_lift

# the read that met the hang found the name missing (as
# failed-name-missing): its lookup left device 1 out after 1 s
hang_read_missing() {
	grep -q "No such file or directory" "$T/hang-read.err" ||
		t_fail "gpu1/a4 on hung device 1: $(cat "$T/hang-read.err")"
}
T_AFTER=hang t_case hang-read-missing hang_read_missing

t_umount_check
