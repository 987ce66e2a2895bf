#!/usr/bin/env bash
#
# t-acl.sh - POSIX ACLs and the umask, each compared with a plain ext4
# directory: ACL entries that grant and deny are enforced for another
# user, the mode follows the ACL mask (and chmod the mask), default ACLs
# are inherited by new files, directories and fifos in place of the
# umask, and without one the caller's umask applies; set-group-ID goes
# when an owner outside the group sets an ACL. Also on a directory
# with copies on both devices, and on the copy a device gets when a file
# is placed below a directory it lacks (after a device was added).

# group: quick

. "$(dirname "$0")/lib.sh"

command -v setfacl >/dev/null || t_skip "no setfacl (Debian package acl)"
t_setup 2
M=$T/mnt R=$T/ref

# the reference must take ACLs, or nothing is being compared
setfacl -m u:nobody:r "$R" 2>/dev/null ||
	t_skip "the reference file system takes no ACLs"
setfacl -b "$R"

acl() {	# acl PATH...: the ACLs, without the getfacl header
	getfacl -cp "$@" 2>&1
}

# the umask applies where no default ACL is
umask_applies() {
	local u
	for u in 000 022 027 077; do
		t_parity "umask $u && touch {}/f$u && mkdir {}/d$u && mkfifo {}/p$u &&
			mknod {}/n$u c 1 3 && stat -c '%n %A' {}/f$u {}/d$u {}/p$u {}/n$u"
	done
	t_parity 'umask 077 && mkdir -p {}/gpu0/a/b && stat -c "%n %A" {}/gpu0/a {}/gpu0/a/b'
	t_parity 'umask 077 && echo x >{}/gpu0/a/b/c && stat -c "%n %A" {}/gpu0/a/b/c'
	t_parity 'umask 002 && mkdir -m 777 {}/m777 && stat -c "%n %A" {}/m777'
}
t_case umask umask_applies

# access ACLs are enforced for another user, and set the mode's mask
access_acls() {
	local d
	for d in "$M" "$R"; do
		echo secret >"$d/grant"
		chmod 0600 "$d/grant"
		echo public >"$d/deny"
		chmod 0644 "$d/deny"
		mkdir -m 0700 "$d/gdir"
		echo in >"$d/gdir/file"
		chmod 0644 "$d/gdir/file"
	done
	t_parity 'setfacl -m u:nobody:r {}/grant && setfacl -m u:nobody:- {}/deny &&
		setfacl -m u:nobody:rx {}/gdir && stat -c "%n %A" {}/grant {}/deny {}/gdir'
	t_parity "getfacl -cp {}/grant {}/deny {}/gdir"
	t_parity_nobody 'cat {}/grant'
	t_parity_nobody 'cat {}/deny'
	t_parity_nobody 'cat {}/gdir/file && ls {}/gdir'
	t_parity_nobody 'echo no >>{}/grant'
	t_eq "$(t_as_nobody cat "$M/deny" 2>&1 || true)" \
		"cat: $M/deny: Permission denied" "an ACL entry that denies"
}
t_case access-acl access_acls

# chmod changes the mask; removing the ACL gives the mode back
acl_mask() {
	t_parity 'chmod g-r {}/grant && stat -c "%n %A" {}/grant && getfacl -cp {}/grant'
	t_parity_nobody 'cat {}/grant'
	t_parity 'setfacl -b {}/grant {}/deny && stat -c "%n %A" {}/grant {}/deny && getfacl -cp {}/grant'
	t_parity_nobody 'cat {}/deny'
	t_parity 'setfacl -m g:nogroup:rw,m::r {}/deny && stat -c "%A" {}/deny && getfacl -cp {}/deny'
}
T_AFTER=access-acl t_case acl-mask acl_mask

# the mount's root takes ACLs too (cp -a sets them on it)
t_case root-acl t_parity 'setfacl -m u:nobody:rx,g::rwx {} && stat -c %A {} && getfacl -cp {} && setfacl -b {} && stat -c %A {}'

# an owner outside the group who sets an ACL loses set-group-ID
setgid_cleared() {
	local d
	for d in "$M" "$R"; do
		touch "$d/sg-other" "$d/sg-own"
		chown nobody:root "$d/sg-other"
		chown nobody:nogroup "$d/sg-own"
		chmod 2755 "$d/sg-other" "$d/sg-own"
	done
	t_parity_nobody 'setfacl -m u:daemon:r {}/sg-other {}/sg-own && stat -c "%n %A" {}/sg-other {}/sg-own'
}
t_case setgid-acl setgid_cleared

# default ACLs are inherited instead of the umask
default_acls() {
	local d
	for d in "$M" "$R"; do
		mkdir "$d/inherit"
		setfacl -d -m u:nobody:rwx,g::rx,o::- "$d/inherit"
	done
	t_parity 'umask 077 && touch {}/inherit/f && mkdir {}/inherit/d && mkfifo {}/inherit/p &&
		echo data >{}/inherit/d/g && stat -c "%n %A" {}/inherit/f {}/inherit/d {}/inherit/p {}/inherit/d/g'
	t_parity 'getfacl -cp {}/inherit/f {}/inherit/d {}/inherit/p {}/inherit/d/g'
	t_parity_nobody 'cat {}/inherit/d/g && echo more >>{}/inherit/f'
}
t_case default-acl default_acls

# a directory's ACLs are on every copy; its files on both devices inherit
acl_copies() {
	local i d on0 on1
	for i in $(seq 40); do
		for d in "$M" "$R"; do
			(umask 077 && echo "$i" >"$d/inherit/spread$i")
		done
	done
	on0=$(find "${T_BACK[0]}/inherit" -maxdepth 1 -name 'spread*' | wc -l)
	on1=$(find "${T_BACK[1]}/inherit" -maxdepth 1 -name 'spread*' | wc -l)
	[ "$on0" -gt 0 ] && [ "$on1" -gt 0 ] ||
		t_fail "inherit/ files not spread over both devices ($on0, $on1)"
	t_parity 'cd {}/inherit && getfacl -cp spread* | sort | uniq -c'
	t_eq "$(acl "${T_BACK[0]}/inherit")" "$(acl "${T_BACK[1]}/inherit")" \
		"the ACLs of inherit/ on the two devices"
}
T_AFTER=default-acl t_case acl-copies acl_copies

# the ACLs and modes show the same after a remount
t_case acls-before-remount t_parity 'cd {} && getfacl -Rcp . | sort'
t_umount_check
t_remount
t_case acls-after-remount t_parity 'cd {} && getfacl -Rcp . | sort'

# a device's new copy of a directory gets the ACLs of the others
t_umount_check
mkdir "$T/b2"
t_mount "${T_SRC},$T/b2"
new_copy() {
	local i d
	for d in "$M" "$R"; do
		setfacl -m u:nobody:rwx -d -m u:nobody:rx "$d/inherit/d"
	done
	for i in $(seq 40); do
		for d in "$M" "$R"; do
			(umask 077 && echo "$i" >"$d/inherit/d/late$i")
		done
	done
	[ -d "$T/b2/inherit/d" ] || t_fail "no file below inherit/d went to the new device"
	t_eq "$(acl "$T/b2/inherit/d")" "$(acl "${T_BACK[0]}/inherit/d")" \
		"the ACLs of the new copy of inherit/d"
	t_eq "$(stat -c %A "$T/b2/inherit/d")" "$(stat -c %A "${T_BACK[0]}/inherit/d")" \
		"the mode of the new copy of inherit/d"
	t_parity 'cd {}/inherit/d && getfacl -cp late* | sort | uniq -c'
	t_parity 'cd {}/inherit/d && stat -c %A late* | sort | uniq -c'
}
T_AFTER=default-acl t_case new-device-copy new_copy
t_umount_check
