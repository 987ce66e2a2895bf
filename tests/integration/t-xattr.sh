#!/usr/bin/env bash
#
# t-xattr.sh - extended attributes: user.* pass through to the backing file
# (parity with ext4); user.kvstripe.device and user.kvstripe.path tell where
# a file lives and cannot be set or removed.

# group: quick

. "$(dirname "$0")/lib.sh"

t_setup 3
M=$T/mnt

for d in "$M" "$T/ref"; do
	mkdir "$d/gpu2" "$d/kv"
	echo data >"$d/gpu2/f"
	echo data >"$d/kv/plain"
	mkdir "$d/kv/dir"
done

# user.* roundtrip, parity with ext4
user_xattrs() {
	big=$(head -c 3000 /dev/zero | tr '\0' v)
	t_parity 'setfattr -n user.foo -v bar {}/gpu2/f && getfattr --absolute-names -n user.foo --only-values {}/gpu2/f'
	t_parity "setfattr -n user.big -v $big {}/kv/plain && getfattr --absolute-names -n user.big --only-values {}/kv/plain | md5sum"
	t_parity 'setfattr -n user.empty {}/kv/plain && getfattr --absolute-names -n user.empty {}/kv/plain'
	t_parity 'getfattr --absolute-names -n user.missing {}/gpu2/f; echo "status $?"'
	t_parity 'getfattr --absolute-names -d -m "^user\.(foo|empty)$" {}/gpu2/f {}/kv/plain'
	t_parity 'setfattr -n user.foo -v changed {}/gpu2/f && getfattr --absolute-names -n user.foo --only-values {}/gpu2/f'
	t_parity 'setfattr -x user.foo {}/gpu2/f; echo "status $?"; getfattr --absolute-names -n user.foo {}/gpu2/f; echo "status $?"'
	t_parity 'setfattr -x user.foo {}/gpu2/f; echo "status $?"'
	t_parity 'setfattr -n user.d -v dirval {}/kv/dir && getfattr --absolute-names -n user.d --only-values {}/kv/dir'
	t_parity 'ln -s f {}/gpu2/link && setfattr -h -n user.x -v 1 {}/gpu2/link; echo "status $?"'
	# the value is on the backing file itself
	t_eq "$(getfattr --absolute-names -n user.big --only-values "$(t_backing kv/plain)" | md5sum)" \
		"$(printf %s "$big" | md5sum)" "user.big on the backing file"
}
t_case user-xattrs user_xattrs

# user.kvstripe.device and user.kvstripe.path
where() {
	b2=$(realpath "$T/b2")
	t_eq "$(getfattr --absolute-names -n user.kvstripe.device --only-values "$M/gpu2/f" | od -An -c | tr -d ' ')" \
		2 "user.kvstripe.device of gpu2/f (as bytes)"
	t_eq "$(getfattr --absolute-names -n user.kvstripe.path --only-values "$M/gpu2/f")" \
		"$b2/gpu2/f" "user.kvstripe.path of gpu2/f"
	dev=$(t_device_of kv/plain)
	t_eq "$(getfattr --absolute-names -n user.kvstripe.device --only-values "$M/kv/plain")" \
		"$dev" "user.kvstripe.device of kv/plain"
	t_eq "$(getfattr --absolute-names -n user.kvstripe.path --only-values "$M/kv/plain")" \
		"$(realpath "${T_BACK[dev]}")/kv/plain" "user.kvstripe.path of kv/plain"
	for w in 0 1 2 3 4; do
		f="$M/kv/opt@4@$w@00ff@float16.pt"
		: >"$f"
		t_eq "$(getfattr --absolute-names -n user.kvstripe.device --only-values "$f")" \
			$((w % 3)) "user.kvstripe.device of worker $w"
		t_eq "$(getfattr --absolute-names -n user.kvstripe.path --only-values "$f")" \
			"$(realpath "$T/b$((w % 3))")/kv/${f##*/}" "user.kvstripe.path of worker $w"
	done
}
t_case device-and-path where

# the kvstripe attributes are read-only
read_only() {
	if setfattr -n user.kvstripe.device -v 1 "$M/gpu2/f" 2>/dev/null; then
		t_fail "setting user.kvstripe.device succeeded"
	fi
	if setfattr -n user.kvstripe.path -v /x "$M/gpu2/f" 2>/dev/null; then
		t_fail "setting user.kvstripe.path succeeded"
	fi
	if setfattr -x user.kvstripe.device "$M/gpu2/f" 2>/dev/null; then
		t_fail "removing user.kvstripe.device succeeded"
	fi
	t_eq "$(getfattr --absolute-names -n user.kvstripe.device --only-values "$M/gpu2/f")" 2 \
		"user.kvstripe.device after the refused changes"
	t_eq "$(t_device_of gpu2/f)" 2 "device of gpu2/f after the refused changes"
}
t_case kvstripe-xattrs-read-only read_only
t_umount_check
