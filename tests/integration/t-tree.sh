#!/usr/bin/env bash
#
# t-tree.sh - a whole tree through the mount, compared with a plain ext4 copy.
#
# cp -a of odd-sized random files, symlinks and nested directories; diff -r
# against the source and the reference copy; names, modes, sizes, times;
# du (apparent size against the reference, allocation against the backing
# files, a spread directory's own blocks summed over its copies and its
# size the largest copy's); mv of files and directories; rm -r; statfs
# (f_bsize 4096, the backing filesystem counted once).

# group: quick

# shellcheck disable=SC2012 # ls output is what these tests check
. "$(dirname "$0")/lib.sh"

t_setup 3
M=$T/mnt R=$T/ref S=$T/src

# --- the source tree ---
mkdir -p "$S/a/b/c" "$S/empty" "$S/gpu0/layer" "$S/gpu1" "$S/gpu2" \
	"$S/kv" "$S/odd names"
t_rand "$S/a/zero" 0
t_rand "$S/a/one" 1
t_rand "$S/a/s511" 511
t_rand "$S/a/s4095" 4095
t_rand "$S/a/b/s4097" 4097
t_rand "$S/a/b/c/big1" $((1024 * 1024 + 3))
t_rand "$S/big5" $((5 * 1024 * 1024 + 17))
t_rand "$S/gpu0/layer/kv0" $((1024 * 1024 + 3))
t_rand "$S/gpu1/kv1" 4097
t_rand "$S/gpu2/kv2" 511
t_rand "$S/kv/llama@8@1@0a1b2c@bfloat16.pt" 65536
t_rand "$S/kv/vllm@llama@8@2@0a1b2c.pt" 12345
t_rand "$S/odd names/with space" 100
t_rand "$S/odd names/%@.-ü€" 200
ln -s a/one "$S/rel-link"
ln -s /nonexistent/target "$S/dangling-link"
ln -s b "$S/a/dir-link"
chmod 0600 "$S/a/s511"
chmod 0750 "$S/a/b"
chmod 0755 "$S/a/s4095"
touch -d '2001-02-03 04:05:06' "$S/a/one"
touch -h -d '2002-03-04 05:06:07' "$S/rel-link"

# The same listing for a tree: type, mode, size (not for directories),
# mtime (not for directories), symlink target.
listing() {
	(cd "$1" && find . -printf '%P|%y|%m|%s|%TY%Tm%Td%TH%TM%TS|%l\n' |
		awk -F'|' -v OFS='|' '$2 == "d" { $4 = ""; $5 = "" } { print }' |
		sort)
}

# cp -a into the mount and into the reference
cp_a() {
	cp -a "$S/." "$M/"
	cp -a "$S/." "$R/"
	diff -r --no-dereference "$S" "$M" >&2 || t_fail "diff -r source mount"
	diff -r --no-dereference "$R" "$M" >&2 || t_fail "diff -r ref mount"
	diff <(listing "$R") <(listing "$M") >&2 || t_fail "listing differs from ref"
	for d in . a a/b a/b/c empty gpu0 gpu0/layer kv "odd names"; do
		t_eq "$(ls -A "$M/$d" | tr '\n' /)" "$(ls -A "$R/$d" | tr '\n' /)" \
			"ls -A $d"
	done
	t_eq "$(readlink "$M/rel-link")" a/one "readlink rel-link"
	t_cmp "$M/a/dir-link/c/big1" "$S/a/b/c/big1"
	t_eq "$(t_device_of gpu0/layer/kv0)" 0 "device of gpu0/layer/kv0"
	t_eq "$(t_device_of gpu2/kv2)" 2 "device of gpu2/kv2"
	t_eq "$(t_device_of "kv/llama@8@1@0a1b2c@bfloat16.pt")" 1 "device of LMCache file"
}
t_case cp-a cp_a

# find, du, df
find_du_df() {
	t_eq "$(cd "$M" && find . | sort | md5sum)" "$(cd "$R" && find . | sort | md5sum)" \
		"find . | sort"
	files_du() {	# apparent (-b) or allocated (-B1) bytes of the regular files
		(cd "$1" && find . -type f -print0 | du -c "$2" --files0-from=- | tail -n 1 |
			cut -f1)
	}
	t_eq "$(files_du "$M" -b)" "$(files_du "$R" -b)" "du -b of the files"
	t_eq "$(stat -f -c %S "$M")" 4096 "statfs fundamental block size (%S)"
	t_eq "$(stat -f -c %s "$M")" 4096 "statfs f_bsize (%s)"
	t_eq "$(stat -f -c %l "$M")" 255 "statfs f_namemax"
	# all backing directories are on the filesystem of $T: counted once
	t_eq "$(df -B1 --output=size "$M" | tail -n 1)" \
		"$(df -B1 --output=size "$T" | tail -n 1)" "df size of the mount"
}
T_AFTER="cp-a" t_case find-du-df find_du_df

# remount: data persists, allocation matches the backing files
t_umount_check
t_remount
after_remount() {
	diff -r --no-dereference "$S" "$M" >&2 || t_fail "diff -r source mount after remount"
	diff <(listing "$R") <(listing "$M") >&2 || t_fail "listing (modes, times) differs after remount"
	while IFS= read -r -d '' f; do
		f=${f#./}
		t_eq "$(stat -c %s:%b:%B "$M/$f")" "$(stat -c %s:%b:%B "$(t_backing "$f")")" \
			"size:blocks:blocksize of $f on the mount and its backing file"
	done < <(cd "$M" && find . -type f -print0)
}
T_AFTER="cp-a" t_case after-remount after_remount

# mv of files and directories
mv_files_dirs() {
	for d in "$M" "$R"; do
		mv "$d/a/b" "$d/a/moved-b"
		mv "$d/big5" "$d/a/moved-big5"
		mv "$d/gpu0/layer" "$d/gpu1/layer-from-gpu0"
		mv "$d/odd names/with space" "$d/kv/"
		mv "$d/rel-link" "$d/a/"
	done
	diff -r --no-dereference "$R" "$M" >&2 || t_fail "diff -r ref mount after mv"
	diff <(listing "$R") <(listing "$M") >&2 || t_fail "listing differs after mv"
	t_nowhere a/b
	t_nowhere big5
	t_nowhere gpu0/layer
}
T_AFTER="cp-a" t_case mv-files-and-dirs mv_files_dirs

# a directory of 1500 entries spread over the devices
many() {
	mkdir "$M/many"
	for i in $(seq 1 1500); do
		if ((i % 3)); then
			: >"$M/many/llama@8@$i@00@bfloat16.pt"
		else
			: >"$M/many/entry-$i"
		fi
	done
	t_eq "$(ls -f "$M/many" | wc -l)" 1502 "entries from ls -f (with . and ..)"
	t_eq "$(ls "$M/many" | sort -u | wc -l)" 1500 "distinct names from ls"
	t_eq "$(find "$M/many" -type f | wc -l)" 1500 "files from find"
	for d in 0 1 2; do
		n=$(find "${T_BACK[d]}/many" -type f | wc -l)
		[ "$n" -gt 100 ] || t_fail "only $n of the 1500 files on device $d"
	done
	# the directory's own space is all its copies' (du counts it)
	blocks=0 size=0
	for d in 0 1 2; do
		blocks=$((blocks + $(stat -c %b "${T_BACK[d]}/many")))
		s=$(stat -c %s "${T_BACK[d]}/many")
		[ "$s" -le "$size" ] || size=$s
	done
	t_eq "$(stat -c %b "$M/many")" "$blocks" "st_blocks of a directory spread over 3 devices"
	t_eq "$(stat -c %s "$M/many")" "$size" "st_size of a directory spread over 3 devices (the largest copy)"
}
t_case dir-of-1500 many

# rm -r
rm_r() {
	rm -r "${M:?}"/*
	t_eq "$(ls -A "$M" | wc -l)" 0 "entries left in the mount"
	for f in a empty gpu0 gpu1 gpu2 kv "odd names" rel-link dangling-link; do
		t_nowhere "$f"
	done
}
t_case rm-r rm_r
t_umount_check
