#!/usr/bin/env bash
#
# t-rename.sh - rename: replacing a file (inode number kept, one copy left),
# --no-clobber (parity with ext4), directories whose files are on several
# devices, files that leave their gpu<N>/ directory (no data copied), and
# RENAME_EXCHANGE of files, symlinks and directories wherever they are
# (parity with ext4).

# group: quick

# shellcheck disable=SC2012 # ls output is what these tests check
. "$(dirname "$0")/lib.sh"

t_setup 3
M=$T/mnt R=$T/ref

# mv over an existing file
mv_over() {
	for d in "$M" "$R"; do
		echo "content A" >"$d/a"
		echo "content B" >"$d/b"
	done
	ino=$(t_ino "$M/a")
	mv "$M/a" "$M/b"
	t_eq "$(cat "$M/b")" "content A" "content of b after mv a b"
	t_eq "$(t_ino "$M/b")" "$ino" "st_ino of b after mv a b"
	[ ! -e "$M/a" ] || t_fail "a still exists after mv a b"
	t_device_of b >/dev/null
	t_nowhere a
}
t_case mv-over-file mv_over

# mv across gpu<N>/ directories keeps the device and the inode
mv_across_gpu() {
	mkdir "$M/gpu0" "$M/gpu1"
	t_rand "$T/x" 100000
	cp "$T/x" "$M/gpu0/x"
	echo "old y" >"$M/gpu1/y"
	ino=$(t_ino "$M/gpu0/x")
	mv "$M/gpu0/x" "$M/gpu1/y"
	t_cmp "$M/gpu1/y" "$T/x"
	t_eq "$(t_ino "$M/gpu1/y")" "$ino" "st_ino after mv gpu0/x gpu1/y"
	t_eq "$(t_device_of gpu1/y)" 0 "device of gpu1/y (renamed from gpu0/)"
	t_nowhere gpu0/x
	mkdir -p "$M/gpu0/deep/er"
	echo z >"$M/gpu0/deep/er/z"
	mv "$M/gpu0/deep/er/z" "$M/gpu1/z"
	t_eq "$(cat "$M/gpu1/z")" z "gpu1/z after the move"
	t_eq "$(t_device_of gpu1/z)" 0 "device of gpu1/z"
}
t_case mv-across-gpu-dirs mv_across_gpu

# rename while open
rename_open() {
	t_rand "$T/open" 300000
	cp "$T/open" "$M/gpu0/open"
	exec 3<"$M/gpu0/open"
	mv "$M/gpu0/open" "$M/gpu1/moved-open"
	mv "$M/gpu1/moved-open" "$M/gpu1/moved-again"
	cat <&3 >"$T/read-open"
	exec 3<&-
	t_cmp "$T/read-open" "$T/open"
	t_cmp "$M/gpu1/moved-again" "$T/open"
}
T_AFTER="mv-across-gpu-dirs" t_case rename-while-open rename_open

# mv --no-clobber, parity with ext4
no_clobber() {
	for d in "$M" "$R"; do
		echo keep >"$d/target"
		echo source >"$d/source"
	done
	t_parity 'mv --no-clobber {}/source {}/target; echo "status $?"; cat {}/target {}/source'
	t_parity 'mv -n {}/source {}/target2; echo "status $?"; cat {}/target2; ls {}/source'
	t_parity 'mv -T {}/target2 {}/target; echo "status $?"; cat {}/target'
}
t_case no-clobber no_clobber

# rename a directory with files on every device
rename_dir() {
	mkdir -p "$M/dir/sub" "$R/dir/sub"
	for d in "$M" "$R"; do
		for w in 0 1 2 3 4 5; do
			echo "w$w" >"$d/dir/llama@6@$w@cafe@bfloat16.pt"
		done
		for i in 1 2 3 4 5 6 7 8 9; do
			echo "f$i" >"$d/dir/sub/f$i"
		done
	done
	t_eq "$(t_device_of "dir/llama@6@2@cafe@bfloat16.pt")" 2 "device of the worker 2 file"
	ino=$(t_ino "$M/dir/sub/f3")
	mv "$M/dir" "$M/renamed"
	mv "$R/dir" "$R/renamed"
	t_eq "$(t_ino "$M/renamed/sub/f3")" "$ino" "st_ino of sub/f3 after renaming the directory"
	diff -r "$R/renamed" "$M/renamed" >&2 || t_fail "renamed directory differs from ref"
	t_eq "$(ls "$M/renamed" | tr '\n' ' ')" "$(ls "$R/renamed" | tr '\n' ' ')" "ls renamed"
	[ ! -e "$M/dir" ] || t_fail "dir still exists after mv dir renamed"
	t_nowhere dir
	t_eq "$(t_device_of "renamed/llama@6@2@cafe@bfloat16.pt")" 2 \
		"device of the worker 2 file after the rename"
	# every copy moved: each of sub's files is found under the new name
	for i in 1 2 3 4 5 6 7 8 9; do
		t_device_of "renamed/sub/f$i" >/dev/null
	done
	[[ " $(t_copies renamed/sub) " == *" 0 "* ]] ||
		t_fail "renamed/sub has no copy on device 0"
}
t_case rename-spread-directory rename_dir
# a renamed file is still there after a remount (lookup finds it anywhere)
t_umount_check
t_remount
after_remount() {
	t_cmp "$M/gpu1/y" "$T/x"
	diff -r "$R/renamed" "$M/renamed" >&2 || t_fail "renamed directory after remount"
}
T_AFTER="mv-across-gpu-dirs rename-spread-directory" t_case renames-after-remount after_remount

# directory renames onto existing directories, parity with ext4
dir_onto_dir() {
	mkdir -p "$M/d1/x" "$M/d2" "$M/d3/y" "$R/d1/x" "$R/d2" "$R/d3/y"
	echo in-y >"$M/d3/y/f"
	echo in-y >"$R/d3/y/f"
	t_parity 'mv -T {}/d1 {}/d2; echo "status $?"; ls {}/d2'
	t_parity 'mv -T {}/d2 {}/d3; echo "status $?"; ls {}/d3 {}/d2'
	t_parity 'mv -T {}/renamed/sub/f1 {}/d3; echo "status $?"'
	t_parity 'mv -T {}/d3 {}/renamed/sub/f1; echo "status $?"'
	t_parity 'mv {}/d3 {}/d3/y/inside; echo "status $?"'
}
T_AFTER="rename-spread-directory" t_case dir-onto-dir dir_onto_dir

# RENAME_EXCHANGE of files, symlinks and directories on any devices
exchange() {
	python3 - "$M" "$R" <<'PY' || t_fail "RENAME_EXCHANGE (above)"
import ctypes, errno, os, sys

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, EXCHANGE = -100, 2

def exchange(a, b):
    if libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), EXCHANGE):
        return errno.errorcode.get(ctypes.get_errno(), "?")
    return "ok"

def tree(path):
    """What a name shows: kind, then content or sorted listing (recursive)."""
    if os.path.islink(path):
        return ("link", os.readlink(path))
    if os.path.isdir(path):
        return ("dir", tuple((n, tree(os.path.join(path, n)))
                             for n in sorted(os.listdir(path))))
    with open(path, "rb") as f:
        return ("file", f.read())

def write(path, text):
    with open(path, "w") as f:
        f.write(text)

def build(root):
    """gpu0/xa and gpu1/xb on devices 0 and 1; xch/ by hash over all three."""
    for g in ("gpu0", "gpu1"):
        os.makedirs(f"{root}/{g}", exist_ok=True)
    write(f"{root}/gpu0/xa", "a on gpu0\n")
    write(f"{root}/gpu1/xb", "b on gpu1\n")
    x = f"{root}/xch"
    os.makedirs(f"{x}/dc")
    for i in range(8):
        write(f"{x}/f{i}", f"file {i}\n")
    os.symlink("f0", f"{x}/l0")
    os.symlink("f1", f"{x}/l1")
    for d in ("da", "db"):
        for g in ("gpu0", "gpu1", "gpu2"):
            os.makedirs(f"{x}/{d}/{g}/deep")
            write(f"{x}/{d}/{g}/deep/k", f"{d} {g}\n")

cases = [("gpu0/xa", "gpu1/xb"), ("gpu0/xa", "xch/f2")]
cases += [(f"xch/f{i}", f"xch/f{j}") for i in range(8) for j in range(i + 1, 8)
          if (i + j) % 3 == 0]
cases += [("xch/l0", "xch/l1"), ("xch/l0", "xch/f5"), ("xch/da", "xch/db"),
          ("xch/da/gpu1", "xch/dc"), ("xch/dc", "gpu1/xb"),
          ("xch/f6", "xch/nothing"), ("xch/nothing", "xch/f6")]
mnt, ref = sys.argv[1:]
for root in (mnt, ref):
    build(root)
bad = []
for a, b in cases:
    got = [exchange(f"{root}/{a}", f"{root}/{b}") for root in (mnt, ref)]
    if got[0] != got[1]:
        bad.append(f"exchange {a} {b}: mount {got[0]}, ext4 {got[1]}")
    for name in (a, b):
        t = [tree(f"{root}/{name}") if os.path.lexists(f"{root}/{name}")
             else None for root in (mnt, ref)]
        if t[0] != t[1]:
            bad.append(f"after exchange {a} {b}: {name} differs from ext4")
for name in ("xch", "gpu0/xa", "gpu1/xb"):
    if tree(f"{mnt}/{name}") != tree(f"{ref}/{name}"):
        bad.append(f"{name} differs from ext4 after all exchanges")
for line in bad:
    print("    " + line)
sys.exit(1 if bad else 0)
PY
}
t_case rename-exchange exchange
t_umount_check
