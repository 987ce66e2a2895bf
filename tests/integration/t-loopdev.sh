#!/usr/bin/env bash
#
# t-loopdev.sh - two real block devices with different O_DIRECT alignment:
# loop devices with 512- and 4096-byte sectors, each with an ext4, as the
# two backing directories. The daemon must probe 512 and 4096, and O_DIRECT
# I/O of every size must come through intact on both.

# group: loopdev

. "$(dirname "$0")/lib.sh"

t_init
M=$T/mnt

[ -e /dev/loop-control ] || t_skip "no /dev/loop-control"
for tool in losetup mkfs.ext4 mount umount; do
	command -v "$tool" >/dev/null || t_skip "no $tool"
done

sectors=(512 4096)
for i in 0 1; do
	t_ext4 "$T/b$i" 256M "${sectors[i]}" -b 4096
	dev=$T_LOOPDEV
	t_case "sector-size-$i" \
		t_eq "$(blockdev --getss "$dev")" "${sectors[i]}" "logical sector size of $dev"
	t_log "device $i: $dev, ${sectors[i]}-byte sectors, ext4 on $T/b$i"
done
t_mount "$T/b0,$T/b1"

# the daemon probed the alignment of each device
probed() {
	grep -E 'device 0.*align 512\b' "$T/log" >&2 ||
		t_fail "no 'device 0 ... align 512' in the daemon log"
	grep -E 'device 1.*align 4096\b' "$T/log" >&2 ||
		t_fail "no 'device 1 ... align 4096' in the daemon log"
}
t_case probed-alignment probed

# O_DIRECT through the mount onto both devices
mkdir "$M/gpu0" "$M/gpu1"
sizes=(512 4096 12345 $((64 * 1024 + 512)) $((1024 * 1024)) $((3 * 1024 * 1024 + 512))
	$((8 * 1024 * 1024)))
for s in "${sizes[@]}"; do
	t_rand "$T/src-$s" "$s"
done
cp "$T/src-$((8 * 1024 * 1024))" "$T/expect"
printf 'unaligned!' | dd of="$T/expect" bs=1 seek=1000001 conv=notrunc status=none
direct_io() {
	local g=$1 s bs f
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
	printf 'unaligned!' | dd of="$M/$f" bs=1 seek=1000001 conv=notrunc status=none
	dd if="$M/$f" bs=1M iflag=direct status=none | cmp - "$T/expect" ||
		t_fail "O_DIRECT read of $f after an unaligned overwrite"
}
t_case direct-io-device-0 direct_io 0
t_case direct-io-device-1 direct_io 1
df -h "$M" "$T/b0" "$T/b1" >&2
bytes() {
	echo $(($(stat -f -c '%b * %S' "$1")))
}
t_case statfs-sum t_eq "$(bytes "$M")" $(($(bytes "$T/b0") + $(bytes "$T/b1"))) \
	"statfs size of the mount (two ext4s: their sum)"

# the backing ext4s hold exactly the data
t_umount_check
on_device() {
	local g=$1 s
	for s in "${sizes[@]}"; do
		t_cmp "$T/b$g/gpu$g/f-$s-4096" "$T/src-$s"
	done
	t_cmp "$T/b$g/gpu$g/f-$((8 * 1024 * 1024))-1M" "$T/expect"
}
T_AFTER=direct-io-device-0 t_case data-on-device-0 on_device 0
T_AFTER=direct-io-device-1 t_case data-on-device-1 on_device 1
