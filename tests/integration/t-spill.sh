#!/usr/bin/env bash
#
# t-spill.sh - a full device takes no new files: they spill to a device
# with room (minfree), and stay reachable.
#
# Device 0 is a 64 MiB ext4 filled to its last blocks beside its backing
# directory, device 1 a plain directory. Which device the hash names for
# each of 100 top-level names is learnt first, with empty files while
# device 0 still has room. Then, with device 0 full:
#  - minfree=0 (never spill): the files the hash puts on device 0 get
#    ENOSPC from write, the others are written, as before minfree existed;
#  - the default minfree (5 % of 64 MiB): all 100 files of 1 MiB are
#    written, every one on device 1 (user.kvstripe.device says so too),
#    the root's user.kvstripe.spilled counts those the hash named for
#    device 0 (kvstripe stats: device 0's spilled_out, device 1's
#    spilled_in), and after a remount each reads back byte for byte;
#  - gpu0/ files, whose GPU owns only the full device, spill too (gpu0/
#    is made before device 0 fills: a new directory needs a copy there);
#  - a [device 0] minfree in a config file wins over the [kvstripe] one.

# group: loopdev

. "$(dirname "$0")/lib.sh"

N=100
# xattr NAME FILE: the value of extended attribute NAME of FILE
xattr() {
	getfattr --absolute-names --only-values -n "$1" "$2"
}
t_init
t_ext4 "$T/ext" 64M 4096 -b 4096 -m 0 -O ^has_journal
mkdir "$T/ext/b0" "$T/b1"
M=$T/mnt
for ((i = 0; i < N; i++)); do
	t_rand "$T/ref/f$i" 1M
done

# the device the hash names for each f$i, while device 0 has room
t_mount "$T/ext/b0,$T/b1" -o minfree=0
WANT=()
for ((i = 0; i < N; i++)); do
	: >"$M/f$i"
	WANT+=("$(t_device_of "f$i")")
	rm "$M/f$i"
done
ON0=0
for w in "${WANT[@]}"; do
	[ "$w" != 0 ] || ON0=$((ON0 + 1))
done
t_log "the hash names device 0 for $ON0 of $N names"
t_case hash-uses-both-devices test "$ON0" -gt 0 -a "$ON0" -lt "$N"
# made now: a directory has a copy on every device, so a full one refuses
# a new directory (ENOSPC) where it still takes files
mkdir "$M/gpu0"
t_umount_check

# fill device 0: nothing is left for unprivileged use (-m 0: no reserve)
dd if=/dev/zero of="$T/ext/filler" bs=1M status=none 2>/dev/null || true
dd if=/dev/zero of="$T/ext/filler2" bs=4k status=none 2>/dev/null || true
sync -f "$T/ext"
# (ext4 may keep a block or two free: less than a file of 1 MiB needs)
full() {
	local free
	free=$(($(stat -f -c '%a * %S' "$T/ext")))
	[ "$free" -lt 1048576 ] || t_fail "device 0 still has $free bytes free"
}
t_case device-0-full full

# minfree=0: the old behaviour, ENOSPC from write on the full device
t_mount "$T/ext/b0,$T/b1" -o minfree=0
no_spill() {
	local i err failed=0
	for ((i = 0; i < N; i++)); do
		if err=$(dd if="$T/ref/f$i" of="$M/f$i" bs=1M status=none 2>&1); then
			[ "${WANT[i]}" != 0 ] ||
				t_fail "f$i was written on the full device"
			t_cmp "$T/ref/f$i" "$M/f$i"
		else
			case $err in
			*"No space left on device"*) ;;
			*) t_fail "f$i: $err (expected ENOSPC)" ;;
			esac
			[ "${WANT[i]}" = 0 ] ||
				t_fail "f$i failed on device ${WANT[i]}: $err"
			failed=$((failed + 1))
		fi
		t_eq "$(t_device_of "f$i")" "${WANT[i]}" "device of f$i"
	done
	t_eq "$failed" "$ON0" "writes that got ENOSPC"
	t_eq "$(xattr user.kvstripe.spilled "$M")" 0 \
		"user.kvstripe.spilled"
	rm -f "$M"/f*
}
t_case minfree-0-gives-enospc no_spill
t_umount_check

# the default minfree: every file is written, the full device's spill
t_mount "$T/ext/b0,$T/b1"
spill() {
	local i
	for ((i = 0; i < N; i++)); do
		dd if="$T/ref/f$i" of="$M/f$i" bs=1M status=none
		t_eq "$(t_device_of "f$i")" 1 "device of f$i (the hash's: ${WANT[i]})"
		t_eq "$(xattr user.kvstripe.device "$M/f$i")" 1 \
			"user.kvstripe.device of f$i"
	done
	t_eq "$(xattr user.kvstripe.spilled "$M")" "$ON0" \
		"user.kvstripe.spilled"
	# per device in kvstripe stats: out of device 0, into device 1
	t_eq "$("$KVSTRIPE" stats "$M" --json | python3 -c 'import json, sys
d = json.load(sys.stdin)["devices"]
print(d[0]["spilled_out"], d[0]["spilled_in"], d[1]["spilled_out"],
      d[1]["spilled_in"])')" "$ON0 0 0 $ON0" \
		"spilled_out and spilled_in of devices 0 and 1"
}
t_case spill-to-the-device-with-room spill
gpu_spill() {
	for i in 0 1 2; do
		dd if="$T/ref/f$i" of="$M/gpu0/g$i" bs=1M status=none
		t_eq "$(t_device_of "gpu0/g$i")" 1 "device of gpu0/g$i"
	done
	t_eq "$(xattr user.kvstripe.spilled "$M")" \
		$((ON0 + 3)) "user.kvstripe.spilled"
}
t_case gpu-dir-spills-off-its-full-device gpu_spill
t_umount_check

# after a remount, lookup finds every spilled file where it went
t_remount
reread() {
	local i
	for ((i = 0; i < N; i++)); do
		t_cmp "$T/ref/f$i" "$M/f$i"
	done
	for i in 0 1 2; do
		t_cmp "$T/ref/f$i" "$M/gpu0/g$i"
	done
	t_eq "$(ls "$M" | grep -c '^f')" "$N" "files listed"
	t_eq "$(xattr user.kvstripe.spilled "$M")" 0 \
		"user.kvstripe.spilled after the remount"
}
T_AFTER=spill-to-the-device-with-room t_case reread-after-remount reread
t_umount_check

# a device's own minfree wins over the mount's
printf '[kvstripe]\nminfree = 0\n[device 0]\nminfree = 5%%\n' >"$T/kv.ini"
t_mount "$T/ext/b0,$T/b1" -o config="$T/kv.ini"
per_device() {
	local i
	for ((i = 0; i < N; i++)); do
		[ "${WANT[i]}" = 0 ] || continue
		rm "$M/f$i"
		dd if="$T/ref/f$i" of="$M/f$i" bs=1M status=none
		t_eq "$(t_device_of "f$i")" 1 "device of f$i"
		t_cmp "$T/ref/f$i" "$M/f$i"
		return 0
	done
}
t_case device-minfree-wins per_device
t_umount_check
