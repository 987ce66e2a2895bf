#!/usr/bin/env bash
#
# t-rmdir.sh - mkdir makes one copy of the directory, on device 0; a copy
# comes on another device when something is placed below it there; rmdir
# removes every copy, and is ENOTEMPTY while any device still has an entry
# in it; a directory removed while held open and made again is a new one.

# group: quick

# shellcheck disable=SC2012 # ls output is what these tests check
. "$(dirname "$0")/lib.sh"

t_setup 3
M=$T/mnt R=$T/ref

# mkdir makes one copy, on device 0
mkdir_one_copy() {
	for d in "$M" "$R"; do
		mkdir -p "$d/a/b/c" "$d/gpu2/sub" "$d/gpu1/sub"
	done
	for d in a a/b a/b/c gpu2 gpu2/sub gpu1/sub; do
		t_eq "$(t_copies "$d")" 0 "copies of $d"
	done
	t_parity 'mkdir {}/a; echo "status $?"'
	t_parity 'stat -c "%F %a" {}/a/b'
}
t_case mkdir-one-copy mkdir_one_copy

# ENOTEMPTY while a device has a file in it
not_empty() {
	for d in "$M" "$R"; do
		echo x >"$d/gpu2/sub/f"
		echo y >"$d/a/b/c/hashed"
		ln -s nowhere "$d/gpu1/sub/link"
	done
	t_eq "$(t_device_of gpu2/sub/f)" 2 "device of gpu2/sub/f"
	t_parity 'rmdir {}/gpu2/sub; echo "status $?"; ls {}/gpu2/sub'
	t_parity 'rmdir {}/a/b/c; echo "status $?"'
	t_parity 'rmdir {}/gpu1/sub; echo "status $?"'
	t_parity 'rmdir {}/a/b; echo "status $?"'
	# the copies below which something was placed came lazily
	t_eq "$(t_copies gpu2/sub)" "0 2" "copies of gpu2/sub"
	t_eq "$(t_copies gpu1/sub)" "0 1" "copies of gpu1/sub"
	local hashed
	hashed=$(t_device_of a/b/c/hashed)
	[[ " $(t_copies a/b/c) " == *" $hashed "* ]] ||
		t_fail "a/b/c has no copy on device $hashed"
}
T_AFTER="mkdir-one-copy" t_case rmdir-not-empty not_empty

# rmdir once empty
rmdir_empty() {
	t_parity 'rm {}/gpu2/sub/f {}/a/b/c/hashed {}/gpu1/sub/link'
	t_parity 'rmdir {}/gpu2/sub {}/a/b/c {}/a/b {}/a {}/gpu1/sub; echo "status $?"; ls -A {}'
	for d in gpu2/sub a gpu1/sub; do
		t_nowhere "$d"
	done
	t_eq "$(t_copies gpu2)" "0 2" "copies of gpu2"
}
T_AFTER="rmdir-not-empty" t_case rmdir-once-empty rmdir_empty

# rmdir of a non-directory, of a missing entry, of the root's children
rmdir_errors() {
	echo f >"$M/file"
	echo f >"$R/file"
	t_parity 'rmdir {}/file; echo "status $?"'
	t_parity 'rmdir {}/missing; echo "status $?"'
	t_parity 'rm -d {}/gpu2; echo "status $?"; ls -A {}'
	t_nowhere gpu2
}
T_AFTER="rmdir-once-empty" t_case rmdir-errors rmdir_errors

# a directory recreated after rmdir is empty
recreated() {
	mkdir "$M/again"
	echo 1 >"$M/again/one"
	rm "$M/again/one"
	rmdir "$M/again"
	mkdir "$M/again"
	t_eq "$(ls -A "$M/again" | wc -l)" 0 "entries in the recreated directory"
}
t_case recreated-empty recreated

# a directory removed while a process holds it, made again under its name
held() {
	# The backing file system soon gives the new directory the old one's
	# inode number; the new one must still be a directory of its own, not
	# the removed one the kernel holds (nothing could be made in that).
	t_parity 'python3 - {} <<"EOF"
import os, sys
os.chdir(sys.argv[1])
seen = set()
for r in range(50):
    os.mkdir("held")
    open("held/f", "w").close()
    fd = os.open("held", os.O_RDONLY | os.O_DIRECTORY)
    os.unlink("held/f")
    os.rmdir("held")
    os.mkdir("held")
    try:
        open("held/new", "w").close()
        res = " ".join(sorted(os.listdir("held")))
        os.unlink("held/new")
    except OSError as e:
        res = e.strerror
    st = os.fstat(fd)
    os.fsync(fd)
    seen.add("%s; the removed one: nlink %d, %s" % (res, st.st_nlink, oct(st.st_mode)))
    os.close(fd)
    os.rmdir("held")
print("\n".join(sorted(seen)))
EOF'
}
t_case removed-while-held held
t_umount_check
