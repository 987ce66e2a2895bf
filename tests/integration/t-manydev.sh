#!/usr/bin/env bash
#
# t-manydev.sh - 40 devices: device masks and inode numbers past 32 bits of
# device index work (placement, merged directories, rmdir, rename, st_ino).

# group: quick

. "$(dirname "$0")/lib.sh"

t_setup 40
M=$T/mnt

mkdir -p "$M/d/e"
one_copy() {
	t_eq "$(t_copies d/e)" 0 "copies of d/e"
}
t_case dir-one-copy one_copy
placement() {
	local g
	for g in 0 1 33 39 45; do
		mkdir "$M/gpu$g"
		echo "gpu $g" >"$M/gpu$g/f"
		t_eq "$(t_device_of "gpu$g/f")" $((g % 40)) "device of gpu$g/f"
	done
}
t_case placement placement
merged_dir() {
	local i
	for i in $(seq 1 60); do echo "$i" >"$M/d/e/x$i"; done
	t_eq "$(ls "$M/d/e" | wc -l)" 60 "entries in d/e"
	t_eq "$(ls -i "$M/d/e" | awk '{print $1}' | sort -u | wc -l)" 60 "distinct inode numbers"
}
t_case merged-directory merged_dir
rename_ino() {
	local ino
	ino=$(t_ino "$M/gpu39/f")
	mv "$M/gpu39/f" "$M/d/moved"
	t_eq "$(t_ino "$M/d/moved")" "$ino" "st_ino after rename"
	t_eq "$(cat "$M/d/moved")" "gpu 39" "content after rename"
}
T_AFTER=placement t_case rename-st-ino rename_ino
rmdir_all() {
	t_expect_err "not empty" rmdir "$M/d/e"
	rm "$M"/d/e/x*
	rmdir "$M/d/e"
	t_nowhere d/e
}
T_AFTER=merged-directory t_case rmdir rmdir_all
# a directory only device 35 has (made behind the mount's back)
solo() {
	mkdir "${T_BACK[35]}/solo"
	echo solo >"${T_BACK[35]}/solo/f"
	t_eq "$(cat "$M/solo/f")" solo "file in a directory only device 35 has"
	rm "$M/solo/f"
	rmdir "$M/solo"
	t_nowhere solo
}
t_case one-device-directory solo
rename_dir() {
	mv "$M/d" "$M/d2"
	t_eq "$(cat "$M/d2/moved")" "gpu 39" "content after the directory's rename"
	t_nowhere d
}
T_AFTER=rename-st-ino t_case rename-directory rename_dir
t_umount_check
