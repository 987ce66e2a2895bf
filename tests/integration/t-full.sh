#!/usr/bin/env bash
#
# t-full.sh - a write that the device cannot keep fails when it is made,
# as a write straight onto the device does, even though the daemon answers
# writes before the device has them (write-behind):
#  - a device running full answers ENOSPC to the write itself, not to a
#    later close; every byte the writer was told was written is in the
#    file, and the file's size is exactly that;
#  - a write past the largest file the backing filesystem allows fails
#    with EFBIG, and the file keeps its size;
#  - space a failed write claimed on the device is given back;
#  - a device turned read-only answers writes to its files with EROFS.
# Each case runs on the mount and on a directory of the same ext4, which
# must behave the same way.

# group: loopdev fault

. "$(dirname "$0")/lib.sh"

t_init
rc=0
t_loopfs "$T/ext" 32M 4096 -b 4096 -O ^has_journal || rc=$?
[ "$rc" = 0 ] || t_fail "$T_WHY"
mkdir "$T/ext/b0" "$T/ext/ref" "$T/b1"
# minfree=0: new files stay on the full device (t-spill has the spill)
t_mount "$T/ext/b0,$T/b1" -o minfree=0
mkdir "$T/mnt/gpu0"

full_device() {
	python3 "$T_ROOT/tests/integration/full.py" "$T/mnt/gpu0" "$T/ext/ref" "$T/ext" ||
		t_fail "see above"
}
t_case full-device full_device
t_umount_check

# a device turned read-only under the mount: writers hear EROFS, as on it
t_tmpfs "$T/ro" 4m || t_fail "tmpfs"
mkdir "$T/ro/b1"
echo old >"$T/ro/b1/f"
t_mount "$T/b1,$T/ro/b1"
mount -o remount,ro "$T/ro" || t_fail "remounting the tmpfs read-only"
# erofs CMD: the shell CMD, {} the file, fails with EROFS
erofs() {
	local cmd=$1 out
	out=$(bash -c "${cmd//\{\}/$T/mnt/f}" 2>&1) &&
		t_fail "'$cmd' succeeded on a read-only device"
	case $out in
	*"Read-only file system"*) ;;
	*) t_fail "'$cmd' on a read-only device: $out (expected EROFS)" ;;
	esac
}
t_case erofs-append erofs 'echo more >>{}'
t_case erofs-overwrite erofs 'dd if=/dev/zero of={} bs=4k count=1 conv=notrunc status=none'
t_case erofs-truncate erofs 'truncate -s 0 {}'
t_case erofs-o-trunc erofs ': >{}'
t_case read-only-device-reads t_eq "$(cat "$T/mnt/f")" old "reading from the read-only device"
t_umount_check
