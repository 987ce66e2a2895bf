#!/usr/bin/env bash
#
# t-hang.sh - a hung device stays that device's trouble. Three devices;
# device 1's ext4 sits on a loop device over a faultfs file (tests/faultfs)
# and the mount has device_timeout=1. With files on all three, the caches
# dropped and device 1 hung, 20 rounds of every operation on files of
# devices 0 and 2 (read of an existing file, stat, create, write, unlink,
# rename, listing of gpu0/ and of the root, mkdir) each end within 2 s:
# the first call that meets device 1 gives up after 1 s and fails it, and
# nothing after asks it. Once device 1 serves again, the calls stuck in it
# end, it is ok again, every file on it reads as written and new ones are
# made there. A getattr stuck in device 1 (a call on its own file) holds
# up no rename of other files; a new file for device 1 goes elsewhere
# while it is failed. Then device 1 failing (EIO): its files give EIO at
# once, and devices 0 and 2 keep serving.
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
for tool in losetup mkfs.ext4 mount umount md5sum; do
	command -v "$tool" >/dev/null || t_skip "no $tool"
done
mkdir "$T/b0" "$T/b2"
rc=0
t_faultext4 "$T/b1" 128M || rc=$?
[ "$rc" != 2 ] || t_skip "$T_WHY"
[ "$rc" = 0 ] || t_fail "$T_WHY"
# every lookup and getattr reaches the daemon: nothing is answered from
# the kernel's caches during the hang
t_mount "$T/b0,$T/b1,$T/b2" -o device_timeout=1,entry_timeout=0,attr_timeout=0


mkdir "$M/gpu0" "$M/gpu1" "$M/gpu2"
t_rand "$T/data" $((256 * 1024))
for d in 0 1 2; do
	for i in 1 2 3 4 5; do
		cp "$T/data" "$M/gpu$d/a$i"
		echo "$d.$i" >>"$M/gpu$d/a$i"
	done
done
# top-level files, hash-placed: some land on each device
for i in $(seq 1 24); do
	echo "top $i" >"$M/top$i"
done
TOP02=() TOP1=()
for i in $(seq 1 24); do
	if [ "$(t_device_of "top$i")" = 1 ]; then
		TOP1+=("top$i")
	else
		TOP02+=("top$i")
	fi
done
[ "${#TOP1[@]}" -gt 0 ] && [ "${#TOP02[@]}" -gt 1 ] ||
	t_fail "24 hashed names missed a device: ${TOP1[*]} / ${TOP02[*]}"
t_eq "$(t_device_of gpu1/a1)" 1 "device of gpu1/a1"
(cd "$M" && md5sum gpu*/a* top*) >"$T/sums"
sync
sleep 3	# the daemon closes idle backing files after 2 s

# one round (R) of every operation on devices 0 and 2
round() {
	local r=$1 top=${TOP02[$((r % ${#TOP02[@]}))]}
	t_within 2 cat "$M/gpu0/a$((r % 5 + 1))"
	t_within 2 cat "$M/$top"
	t_within 2 stat "$M/gpu2/a$((r % 5 + 1))"
	t_within 2 touch "$M/gpu0/n$r"
	t_within 2 dd if="$T/data" of="$M/gpu2/w$r" bs=64k status=none
	t_within 2 rm "$M/gpu0/n$r"
	t_within 2 mv "$M/gpu2/w$r" "$M/gpu2/m$r"
	t_within 2 ls "$M/gpu0"
	t_within 2 ls "$M"
	t_within 2 mkdir "$M/gpu0/d$r"
	t_within 2 mkdir "$M/gpu2/d$r"
}

hung_rounds() {
	local r
	for ((r = 1; r <= 20; r++)); do
		round "$r"
	done
	# what asked device 1 gave up and failed it, once
	t_eq "$(grep -c "device 1 (.*): .* -> failed" "$T/log")" 1 \
		"lines failing device 1"
}

# a device-1 file the kernel knows, held open
exec 8<"$M/gpu1/a1"
echo 3 >/proc/sys/vm/drop_caches
t_fault_hang hang
# a getattr of that file before device 1 is known failed waits in the
# daemon, in the device (its own file's call); renames of files elsewhere
# do not wait for it
stuck_then_rename() {
	local stuck
	# (it ends when the hang is lifted)
	stat -L /dev/fd/8 >/dev/null 2>&1 &
	stuck=$!
	sleep 0.3
	t_alive "$stuck" || t_fail "the getattr on device 1 did not wait"
	t_within 2 mv "$M/gpu0/a5" "$M/gpu0/a5r"
	t_within 2 mv "$M/gpu0/a5r" "$M/gpu0/a5"
}
t_case rename-beside-stuck stuck_then_rename
t_case hung-others-serve hung_rounds
# once device 1 is failed, its file gets EIO at once, not a hang
known_eio() {
	t_within 2 sh -c "! stat -L /dev/fd/8"
	grep -q "Input/output error" "$T/err" ||
		t_fail "stat: not EIO: $(cat "$T/err")"
	t_within 2 sh -c "! cat /dev/fd/8"
	grep -q "Input/output error" "$T/err" ||
		t_fail "read: not EIO: $(cat "$T/err")"
	# a new name the policy puts on it goes to a device that takes new
	# files, at once
	t_within 2 touch "$M/gpu1/new-while-failed"
	case $(t_device_of gpu1/new-while-failed) in
	0 | 2) ;;
	*) t_fail "gpu1/new-while-failed not on device 0 or 2" ;;
	esac
}
t_case hung-file-eio known_eio
t_fault_lift
exec 8<&-

# once device 1 answers, the calls stuck in it end and it is back
back() {
	local i
	for ((i = 0; i < 100; i++)); do
		grep -q "device 1 (.*): failed -> ok" "$T/log" && break
		sleep 0.1
	done
	grep -q "device 1 (.*): failed -> ok" "$T/log" ||
		t_fail "device 1 not back: $(tail -n 3 "$T/log")"
	(cd "$M" && md5sum -c --quiet "$T/sums") || t_fail "a file changed"
	echo new >"$M/gpu1/new"
	t_eq "$(t_device_of gpu1/new)" 1 "device of gpu1/new"
	t_eq "$(cat "$M/gpu1/new")" new "gpu1/new"
	ls "$M/gpu1" | grep -qx a3 || t_fail "gpu1/a3 not listed"
	for r in 1 20; do
		[ -d "$M/gpu0/d$r" ] && [ -f "$M/gpu2/m$r" ] ||
			t_fail "round $r's names are gone"
	done
}
t_case back-after-hang back

# device 1 failing (EIO): its files give EIO at once (the first error has
# its probe fail the device); on devices 0 and 2 reads, stats and
# listings go on (t-health.sh has new files placed around it)
failing() {
	local r
	local i st=
	t_within 3 sh -c "! cat '$M/gpu1/a2'"
	grep -q "Input/output error" "$T/err" ||
		t_fail "gpu1/a2: not EIO: $(cat "$T/err")"
	# the error's probe fails the device (until then its ext4 may still
	# answer a stat from its caches)
	for ((i = 0; i < 30; i++)); do
		st=$(getfattr --only-values -n user.kvstripe.device.1.state "$M")
		[ "$st" = failed ] && break
		sleep 0.1
	done
	t_eq "$st" failed "device 1's state"
	t_within 3 sh -c "! stat '$M/${TOP1[0]}'"
	for ((r = 21; r <= 25; r++)); do
		t_within 2 cat "$M/gpu0/a$((r % 5 + 1))" "$M/gpu2/a$((r % 5 + 1))"
		t_within 2 stat "$M/gpu2/m$((r - 20))"
		t_within 2 ls "$M/gpu0"
		t_within 2 ls "$M"
	done
}
echo 3 >/proc/sys/vm/drop_caches
t_fault_hang eio
t_case eio-file-fails failing
t_fault_lift
