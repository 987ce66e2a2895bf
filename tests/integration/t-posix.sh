#!/usr/bin/env bash
#
# t-posix.sh - POSIX details, each compared with a plain ext4 directory:
# name length limits, utimens with UTIME_OMIT, truncation reads zeros,
# shared mmap, O_EXCL, chmod/chown/stat, and permission checks for another
# user (default_permissions; a mount made by root is open to others as
# modes allow, and -o private keeps them out).

# group: quick

. "$(dirname "$0")/lib.sh"

t_setup 3
M=$T/mnt R=$T/ref

# name length: 255 bytes work, 256 bytes are ENAMETOOLONG
name_length() {
	n255=$(printf 'n%.0s' $(seq 255))
	n256=${n255}x
	for d in "$M" "$R"; do
		echo x >"$d/short"
		mkdir "$d/gpu1"
	done
	t_parity "touch {}/$n255 && ls {} | grep -c '^n*\$'"
	t_parity "mkdir {}/gpu1/$n255 && touch {}/gpu1/$n255/$n255 && ls {}/gpu1/$n255"
	t_parity "touch {}/$n256"
	t_parity "mkdir {}/$n256"
	t_parity "ln -s target {}/$n256"
	t_parity "ln -s $n256 {}/link-to-long && readlink {}/link-to-long | wc -c"
	t_expect_err "File name too long" mv "$M/short" "$M/$n256"
	t_parity "stat -c %n {}/$n256"
	t_parity "mv {}/short {}/gpu1/$n255 2>&1; echo \"status \$?\"; cat {}/short"
	t_parity "touch {}/$n256/x"
	t_parity "ls -A {} | wc -l"
}
t_case name-length name_length

# touch -m -d changes only mtime (UTIME_OMIT for atime)
utime_omit() {
	for d in "$M" "$R"; do
		echo t >"$d/times"
		touch -a -d '2001-01-01 01:01:01.25' "$d/times"
		touch -m -d '2002-02-02 02:02:02.5' "$d/times"
	done
	t_eq "$(stat -c %x "$M/times")" "$(stat -c %x "$R/times")" "atime after touch -m"
	t_eq "$(stat -c %y "$M/times")" "$(stat -c %y "$R/times")" "mtime after touch -m"
	t_parity 'stat -c "%X %Y" {}/times'
	t_parity 'touch -a -d "2003-03-03 03:03:03" {}/times && stat -c "%X %Y" {}/times'
	t_parity 'touch -h -m -d "2004-04-04 04:04:04" {}/gpu1 && stat -c "%Y" {}/gpu1'
}
T_AFTER=name-length t_case utime-omit utime_omit

# truncate and ftruncate up read zeros
truncate_zeros() {
	for d in "$M" "$R"; do
		printf abc >"$d/grow"
		truncate -s 1M "$d/grow"
	done
	t_cmp "$M/grow" "$R/grow"
	cmp <(tail -c +4 "$M/grow") <(head -c $((1024 * 1024 - 3)) /dev/zero) ||
		t_fail "grow: bytes after abc are not zero"
	for d in "$M" "$R"; do
		python3 - "$d/fgrow" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b"x" * 10000)
os.ftruncate(fd, 3000)
os.ftruncate(fd, 100000)
assert os.fstat(fd).st_size == 100000
assert os.pread(fd, 200000, 0) == b"x" * 3000 + b"\0" * 97000, "content"
os.close(fd)
EOF
	done
	t_cmp "$M/fgrow" "$R/fgrow"
}
t_case truncate-reads-zeros truncate_zeros

# shared mmap
shared_mmap() {
	for d in "$M" "$R"; do
		head -c 20000 /dev/zero >"$d/mapped"
		python3 - "$d/mapped" <<'EOF'
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
m = mmap.mmap(fd, 20000, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
m[0:5] = b"hello"
m[8190:8200] = b"0123456789"
m[19995:20000] = b"world"
m.flush()
m.close()
os.close(fd)
# another open sees the writes
with open(sys.argv[1], "rb") as f:
    data = f.read()
assert data[0:5] == b"hello" and data[8190:8200] == b"0123456789" and \
    data[19995:] == b"world", "mapped writes not visible"
EOF
	done
	t_cmp "$M/mapped" "$R/mapped"
}
t_case shared-mmap shared_mmap

# O_EXCL
t_case o-excl-create t_parity "python3 -c 'import os,sys; os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600); print(\"created\")' {}/excl"
T_AFTER=o-excl-create t_case o-excl-exists t_parity "python3 -c 'import os,sys
try:
    os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY)
except OSError as e:
    print(e.strerror)' {}/excl"
T_AFTER=o-excl-create t_case o-excl-mode t_parity 'stat -c "%a %s %F" {}/excl'

# chmod, chown, stat
chmod_chown() {
	for d in "$M" "$R"; do
		echo perm >"$d/perm"
		mkdir "$d/pdir"
	done
	t_parity 'chmod 640 {}/perm && chown 1234:5678 {}/perm && stat -c "%a %u %g %s %h %F" {}/perm'
	t_parity 'chmod 4751 {}/perm && stat -c "%a %A" {}/perm'
	t_parity 'chmod 1777 {}/pdir && chown 42:43 {}/pdir && stat -c "%a %A %u %g %F" {}/pdir'
	t_parity 'chown -h 7:8 {}/gpu1 && stat -c "%u %g" {}/gpu1'
	t_parity 'ln -s perm {}/plink && chown -h 9:10 {}/plink && stat -c "%u %g %F %N" {}/plink'
	t_parity 'stat -c "%a %u %g %s %h %F" {}/perm {}/pdir {}/grow {}/times'
}
T_AFTER="name-length utime-omit truncate-reads-zeros" t_case chmod-chown-stat chmod_chown

# special files
special_files() {
	t_parity 'mkfifo {}/fifo && stat -c "%F %a" {}/fifo'
	# (not opened: FUSE mounts are nodev)
	t_parity 'mknod {}/null c 1 3 && stat -c "%F %t:%T" {}/null'
}
t_case special-files special_files

# permission checks as nobody
as_nobody() {
	for d in "$M" "$R"; do
		chmod 0755 "$d"
		echo secret >"$d/secret"
		chmod 0600 "$d/secret"
		echo public >"$d/public"
		chmod 0644 "$d/public"
		mkdir -m 0755 "$d/rootdir"
		mkdir -m 0777 "$d/opendir"
		mkdir -m 0700 "$d/closeddir"
		echo x >"$d/closeddir/x"
	done
	t_parity_nobody 'cat {}/public'
	t_parity_nobody 'cat {}/secret'
	t_parity_nobody 'echo x >>{}/public'
	t_parity_nobody 'touch {}/rootdir/new'
	t_parity_nobody 'ls {}/closeddir'
	t_parity_nobody 'cat {}/closeddir/x'
	t_parity_nobody 'echo mine >{}/opendir/mine && cat {}/opendir/mine && stat -c "%U %G %a" {}/opendir/mine'
	t_parity_nobody 'chmod 600 {}/public'
	t_parity_nobody 'rm -f {}/public'
	t_eq "$(t_as_nobody cat "$M/secret" 2>&1 || true)" \
		"cat: $M/secret: Permission denied" "cat of a 0600 root file as nobody"
}
t_case permissions-as-nobody as_nobody

# set-id bits: an unprivileged write, truncate or O_TRUNC drops them
setid_bits() {
	# (with FUSE_HANDLE_KILLPRIV_V2 the daemon strips them when the kernel asks)
	for d in "$M" "$R"; do
		for f in w w2 t o root; do
			echo data >"$d/setid-$f"
			chmod 6777 "$d/setid-$f"
		done
		echo data >"$d/setid-nox"
		chmod 2766 "$d/setid-nox"
	done
	t_parity_nobody 'echo x >>{}/setid-w && stat -c %a {}/setid-w'
	t_parity_nobody 'echo x >>{}/setid-nox && stat -c %a {}/setid-nox'
	t_parity_nobody 'truncate -s 1 {}/setid-t && stat -c %a {}/setid-t'
	t_parity_nobody ': >{}/setid-o && stat -c %a {}/setid-o'
	t_parity 'echo x >>{}/setid-root && stat -c %a {}/setid-root'
	# again on a file that was written before: no verdict is kept too long
	t_parity_nobody 'echo x >>{}/setid-w2 && stat -c %a {}/setid-w2'
	t_parity 'chmod 6777 {}/setid-w2 && stat -c %a {}/setid-w2'
	t_parity_nobody 'echo y >>{}/setid-w2 && stat -c %a {}/setid-w2'
	t_parity 'cat {}/setid-w2'
}
t_case setid-bits-dropped setid_bits

# O_TRUNC of an empty file gives it new times, as on ext4
trunc_empty() {
	for d in "$M" "$R"; do
		: >"$d/trunc-empty"
		touch -d 2001-01-01 "$d/trunc-empty"
		: >"$d/trunc-empty"
	done
	for d in "$M" "$R"; do
		[ "$(stat -c %Y "$d/trunc-empty")" -gt 1500000000 ] ||
			t_fail "O_TRUNC left the 2001 mtime on $d/trunc-empty"
	done
}
t_case o-trunc-empty-times trunc_empty

# times set just after writing survive close and remount (cp -p)
cp_p() {
	for s in 0 5000 8192 1048579; do
		t_rand "$T/times-$s" "$s"
		touch -d '2005-05-05 05:05:05.123456789' "$T/times-$s"
		cp -p "$T/times-$s" "$M/cp-p-$s"
		cp -p "$T/times-$s" "$R/cp-p-$s"
	done
}
t_case cp-p-copies cp_p
t_umount_check
t_remount
cp_p_after() {
	for s in 0 5000 8192 1048579; do
		t_eq "$(stat -c %y "$M/cp-p-$s")" "$(stat -c %y "$R/cp-p-$s")" \
			"mtime of cp -p copy of $s bytes after remount"
		t_cmp "$M/cp-p-$s" "$T/times-$s"
	done
}
T_AFTER="cp-p-copies" t_case cp-p-times-after-remount cp_p_after

# -o private: only the user who mounted
allow_other() {
	awk -v m="$M" '$2 == m { print $4 }' /proc/mounts | grep -q allow_other ||
		t_fail "a mount made by root lacks allow_other"
}
t_case allow-other allow_other
t_umount_check
t_mount "$T_SOURCES" -o private
private() {
	if t_as_nobody stat "$M/public" >/dev/null 2>&1; then
		t_fail "nobody could stat a file in a private mount"
	fi
	t_eq "$(cat "$M/secret")" secret "root reading through a private mount"
	if awk -v m="$M" '$2 == m { print $4 }' /proc/mounts | grep -q allow_other; then
		t_fail "a private mount has allow_other"
	fi
}
T_AFTER="permissions-as-nobody" t_case private-mount private
t_umount_check
