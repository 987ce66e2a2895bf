#!/usr/bin/env bash
#
# t-loopdev.sh - two real block devices with different O_DIRECT alignment:
# loop devices with 512- and 4096-byte sectors, each with an ext4, as the
# two backing directories. The daemon must probe 512 and 4096, and O_DIRECT
# I/O of every size must come through intact on both.

. "$(dirname "$0")/lib.sh"

t_init
M=$T/mnt

[ -e /dev/loop-control ] || t_skip "no /dev/loop-control"
for tool in losetup mkfs.ext4 mount umount; do
	command -v "$tool" >/dev/null || t_skip "no $tool"
done

sectors=(512 4096)
for i in 0 1; do
	if ! t_loop 256M "${sectors[i]}" 2>"$T/losetup.err"; then
		t_skip "cannot set up a loop device: $(head -n 1 "$T/losetup.err")"
	fi
	dev=$T_LOOPDEV
	t_eq "$(blockdev --getss "$dev")" "${sectors[i]}" "logical sector size of $dev"
	mkfs.ext4 -q -F -b 4096 "$dev"
	mkdir "$T/b$i"
	# a container may have loop devices but no right to mount them
	if ! mount "$dev" "$T/b$i" 2>"$T/mount.err"; then
		t_skip "cannot mount an ext4 on $dev: $(head -n 1 "$T/mount.err")"
	fi
	T_FSMOUNTS+=("$T/b$i")
	t_log "device $i: $dev, ${sectors[i]}-byte sectors, ext4 on $T/b$i"
done
t_mount "$T/b0,$T/b1"

t_log "the daemon probed the alignment of each device"
grep -E 'device 0.*align 512\b' "$T/log" >&2 ||
	t_fail "no 'device 0 ... align 512' in the daemon log"
grep -E 'device 1.*align 4096\b' "$T/log" >&2 ||
	t_fail "no 'device 1 ... align 4096' in the daemon log"

t_log "O_DIRECT through the mount onto both devices"
mkdir "$M/gpu0" "$M/gpu1"
sizes=(512 4096 12345 $((64 * 1024 + 512)) $((1024 * 1024)) $((3 * 1024 * 1024 + 512))
	$((8 * 1024 * 1024)))
for s in "${sizes[@]}"; do
	t_rand "$T/src-$s" "$s"
done
for g in 0 1; do
	for s in "${sizes[@]}"; do
		for bs in 512 4096 1M; do
			# 512-byte requests only for the smaller files: time
			[ "$bs" != 512 ] || [ "$s" -le $((1024 * 1024)) ] || continue
			f=gpu$g/f-$s-$bs
			dd if="$T/src-$s" of="$M/$f" bs=$bs oflag=direct status=none ||
				t_fail "dd bs=$bs oflag=direct of $s bytes to $f"
			t_eq "$(t_size "$M/$f")" "$s" "size of $f"
			dd if="$M/$f" of="$T/back" bs=$bs iflag=direct status=none ||
				t_fail "dd bs=$bs iflag=direct of $f"
			t_cmp "$T/back" "$T/src-$s"
		done
		t_eq "$(t_device_of "gpu$g/f-$s-4096")" "$g" "device of gpu$g/f-$s-4096"
	done
	# unaligned overwrite in the middle of an O_DIRECT file
	f=gpu$g/f-$((8 * 1024 * 1024))-1M
	cp "$T/src-$((8 * 1024 * 1024))" "$T/expect"
	printf 'unaligned!' | dd of="$M/$f" bs=1 seek=1000001 conv=notrunc status=none
	printf 'unaligned!' | dd of="$T/expect" bs=1 seek=1000001 conv=notrunc status=none
	dd if="$M/$f" bs=1M iflag=direct status=none | cmp - "$T/expect" ||
		t_fail "O_DIRECT read of $f after an unaligned overwrite"
done
df -h "$M" "$T/b0" "$T/b1" >&2
bytes() {
	echo $(($(stat -f -c '%b * %S' "$1")))
}
t_eq "$(bytes "$M")" $(($(bytes "$T/b0") + $(bytes "$T/b1"))) \
	"statfs size of the mount (two ext4s: their sum)"

t_log "the backing ext4s hold exactly the data"
t_umount_check
for g in 0 1; do
	for s in "${sizes[@]}"; do
		t_cmp "$T/b$g/gpu$g/f-$s-4096" "$T/src-$s"
	done
	t_cmp "$T/b$g/gpu$g/f-$((8 * 1024 * 1024))-1M" "$T/expect"
done
