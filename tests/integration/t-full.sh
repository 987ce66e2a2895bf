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

. "$(dirname "$0")/lib.sh"

t_init
t_loop 32M 4096 || t_fail "losetup failed"
mkfs.ext4 -q -F -b 4096 -O ^has_journal "$T_LOOPDEV" >/dev/null ||
	t_fail "mkfs.ext4 failed"
mkdir "$T/ext"
mount "$T_LOOPDEV" "$T/ext" || t_fail "mounting the ext4 failed"
T_FSMOUNTS+=("$T/ext")
mkdir "$T/ext/b0" "$T/ext/ref" "$T/b1"
t_mount "$T/ext/b0,$T/b1"
mkdir "$T/mnt/gpu0"

python3 "$T_ROOT/tests/integration/full.py" "$T/mnt/gpu0" "$T/ext/ref" "$T/ext" ||
	t_fail "see above"
t_umount_check

# a device turned read-only under the mount: writers hear EROFS, as on it
mkdir "$T/ro"
mount -t tmpfs -o size=4m kvstripe-test-ro "$T/ro" || t_fail "tmpfs"
T_FSMOUNTS+=("$T/ro")
mkdir "$T/ro/b1"
echo old >"$T/ro/b1/f"
t_mount "$T/b1,$T/ro/b1"
mount -o remount,ro "$T/ro" || t_fail "remounting the tmpfs read-only"
for cmd in 'echo more >>{}' 'dd if=/dev/zero of={} bs=4k count=1 conv=notrunc status=none' \
	'truncate -s 0 {}' ': >{}'; do
	out=$(bash -c "${cmd//\{\}/$T/mnt/f}" 2>&1) &&
		t_fail "'$cmd' succeeded on a read-only device"
	case $out in
	*"Read-only file system"*) ;;
	*) t_fail "'$cmd' on a read-only device: $out (expected EROFS)" ;;
	esac
done
t_eq "$(cat "$T/mnt/f")" old "reading from the read-only device"
t_umount_check
