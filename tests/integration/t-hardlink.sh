#!/usr/bin/env bash
#
# t-hardlink.sh - hard links: within a device two names share one inode and
# its link count; a link is made on its file's device whatever directory
# its name is in (never EXDEV).

# group: quick

. "$(dirname "$0")/lib.sh"

t_setup 3
M=$T/mnt

mkdir "$M/gpu0" "$M/gpu1" "$M/gpu3"
t_rand "$T/data" 70000
cp "$T/data" "$M/gpu0/a"

# ln within one device
one_device() {
	ln "$M/gpu0/a" "$M/gpu0/b"
	t_eq "$(stat -c %h "$M/gpu0/a")" 2 "link count of gpu0/a"
	t_eq "$(stat -c %h "$M/gpu0/b")" 2 "link count of gpu0/b"
	t_eq "$(t_ino "$M/gpu0/b")" "$(t_ino "$M/gpu0/a")" "st_ino of the two names"
	t_eq "$(t_device_of gpu0/b)" 0 "device of gpu0/b"
	t_eq "$(t_ino "$(t_backing gpu0/b)")" "$(t_ino "$(t_backing gpu0/a)")" \
		"backing inodes of the two names"
	t_cmp "$M/gpu0/b" "$T/data"
	# gpu3/ is on device 0 as well (3 % 3)
	ln "$M/gpu0/a" "$M/gpu3/c"
	t_eq "$(stat -c %h "$M/gpu0/a")" 3 "link count after a link into gpu3/"
	t_eq "$(t_device_of gpu3/c)" 0 "device of gpu3/c"
}
t_case ln-one-device one_device

# writes through one name show through the others
write_through() {
	printf 'patched' | dd of="$M/gpu0/b" bs=1 seek=100 conv=notrunc status=none
	printf 'patched' | dd of="$T/data" bs=1 seek=100 conv=notrunc status=none
	t_cmp "$M/gpu0/a" "$T/data"
	t_cmp "$M/gpu3/c" "$T/data"
}
T_AFTER=ln-one-device t_case write-through-names write_through

# ln to a name another device would get: the link stays with the data
other_device_name() {
	ln "$M/gpu0/a" "$M/gpu1/b" || t_fail "ln gpu0/a gpu1/b failed"
	t_eq "$(stat -c %h "$M/gpu0/a")" 4 "link count after a link into gpu1/"
	t_eq "$(t_device_of gpu1/b)" 0 "device of gpu1/b"
	t_eq "$(t_ino "$M/gpu1/b")" "$(t_ino "$M/gpu0/a")" "st_ino of gpu1/b"
	rm "$M/gpu1/b"
	# a file moved into gpu0/ from device 1 links within gpu0/
	echo moved >"$M/gpu1/x"
	mv "$M/gpu1/x" "$M/gpu0/x"
	ln "$M/gpu0/x" "$M/gpu0/y" || t_fail "ln within gpu0/ of a file from device 1"
	t_eq "$(cat "$M/gpu0/y")" moved "content through the new link"
	t_eq "$(stat -c %h "$M/gpu0/x")" 2 "link count of the moved file"
	rm "$M/gpu0/x" "$M/gpu0/y"
	t_eq "$(stat -c %h "$M/gpu0/a")" 3 "link count after removing gpu1/b"
}
T_AFTER=ln-one-device t_case ln-into-other-device-dir other_device_name

# unlink one name, rename another
unlink_rename() {
	local ino
	ino=$(t_ino "$M/gpu0/a")
	rm "$M/gpu0/a"
	t_eq "$(stat -c %h "$M/gpu0/b")" 2 "link count of gpu0/b after rm gpu0/a"
	mv "$M/gpu0/b" "$M/gpu0/renamed"
	t_eq "$(t_ino "$M/gpu0/renamed")" "$ino" "st_ino after rename"
	t_eq "$(t_ino "$M/gpu3/c")" "$ino" "st_ino of the other name after rename"
	t_eq "$(stat -c %h "$M/gpu0/renamed")" 2 "link count after rename"
	t_cmp "$M/gpu0/renamed" "$T/data"
	rm "$M/gpu3/c"
	t_eq "$(stat -c %h "$M/gpu0/renamed")" 1 "link count of the last name"
	t_cmp "$M/gpu0/renamed" "$T/data"
}
T_AFTER="write-through-names ln-into-other-device-dir" \
	t_case unlink-and-rename unlink_rename

# links survive a remount
T_AFTER=unlink-and-rename t_case link-again ln "$M/gpu0/renamed" "$M/gpu0/again"
t_umount_check
t_remount
after_remount() {
	t_eq "$(stat -c %h "$M/gpu0/again")" 2 "link count after remount"
	t_eq "$(t_ino "$M/gpu0/again")" "$(t_ino "$M/gpu0/renamed")" "st_ino after remount"
}
T_AFTER=link-again t_case links-after-remount after_remount
t_umount_check
