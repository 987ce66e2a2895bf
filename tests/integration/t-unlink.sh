#!/usr/bin/env bash
#
# t-unlink.sh - a file unlinked while open stays readable (and writable)
# through the open descriptor, its attributes and xattrs too, and is gone
# from every listing at once.

# group: quick

# shellcheck disable=SC2010,SC2012 # ls output is what these tests check
. "$(dirname "$0")/lib.sh"

t_setup 3
M=$T/mnt

mkdir "$M/gpu1" "$M/kv"
t_rand "$T/data" $((3 * 1024 * 1024 + 5))

# read after unlink
read_after_unlink() {
	for f in gpu1/chunk "kv/llama@8@2@feed@bfloat16.pt" kv/plain; do
		cp "$T/data" "$M/$f"
		exec 3<"$M/$f"
		rm "$M/$f"
		[ ! -e "$M/$f" ] || t_fail "$f still exists after rm"
		if ls -A "$M/${f%/*}" | grep -qxF -- "${f##*/}"; then
			t_fail "ls -A still shows $f"
		fi
		cat <&3 >"$T/out"
		exec 3<&-
		t_cmp "$T/out" "$T/data"
		t_nowhere "$f"
	done
	t_eq "$(ls -A "$M/gpu1" | wc -l)" 0 "entries in gpu1/ (no hidden leftovers)"
}
t_case read-after-unlink read_after_unlink

# read after unlink, past the time an idle backing file is kept
late_read() {
	# The daemon has closed the file's idle backing file (2 s) before the
	# client opens it (no OPEN reaches the daemon), so only the unlink's
	# keep opens it; after another 2.5 s, the reads must still find it.
	cp "$T/data" "$M/gpu1/late"
	sleep 2.5
	exec 3<"$M/gpu1/late"
	rm "$M/gpu1/late"
	sleep 2.5
	cat <&3 >"$T/out"
	exec 3<&-
	t_cmp "$T/out" "$T/data"
	t_nowhere gpu1/late
}
t_case read-after-unlink-idle late_read

# a new file of the same name is a new file
same_name() {
	echo old >"$M/kv/plain"
	exec 3<"$M/kv/plain"
	rm "$M/kv/plain"
	echo new >"$M/kv/plain"
	t_eq "$(cat <&3)" old "old content through the open descriptor"
	exec 3<&-
	t_eq "$(cat "$M/kv/plain")" new "content of the new file"
}
t_case new-file-same-name same_name

# write, then read, through a descriptor whose name is gone
rw_unlinked() {
	python3 - "$M/gpu1/rw" <<'EOF'
import os, sys
p = sys.argv[1]
fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"a" * 5000)
os.unlink(p)
assert not os.path.exists(p), "still exists"
os.write(fd, b"b" * 5000)
os.ftruncate(fd, 12288)
st = os.fstat(fd)
assert st.st_size == 12288, st.st_size
data = os.pread(fd, 20000, 0)
assert data == b"a" * 5000 + b"b" * 5000 + b"\0" * 2288, "content"
os.close(fd)
EOF
	t_nowhere gpu1/rw
	t_eq "$(ls -A "$M/gpu1" | wc -l)" 0 "entries in gpu1/ after the last close"
}
t_case write-read-unlinked rw_unlinked

# attributes through a descriptor whose name is gone, as on ext4
attrs_unlinked() {
	mkdir "$T/ref/gpu1"
	t_parity 'python3 - {}/gpu1/attrs <<"EOF"
import os, sys
p = sys.argv[1]
fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
os.unlink(p)
def t(name, f):
    try:
        print(name, f())
    except OSError as e:
        print(name, e.strerror)
t("setxattr", lambda: os.setxattr(fd, "user.k", b"v"))
t("getxattr", lambda: os.getxattr(fd, "user.k"))
t("listxattr", lambda: os.listxattr(fd))
t("removexattr", lambda: os.removexattr(fd, "user.k"))
t("fchmod", lambda: (os.fchmod(fd, 0o600), oct(os.fstat(fd).st_mode))[1])
t("futimens", lambda: (os.utime(fd, ns=(5, 7)), os.fstat(fd).st_mtime_ns)[1])
t("nlink", lambda: os.fstat(fd).st_nlink)
os.close(fd)
EOF'
}
t_case attrs-unlinked attrs_unlinked
t_umount_check
