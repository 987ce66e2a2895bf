#!/usr/bin/env bash
#
# t-install.sh - make install, and mounting kvstripe as a filesystem.
#
# make install under a PREFIX that is not on PATH (and with DESTDIR) puts
# the binary, the mount helper, the man page, the example INI and the
# systemd unit where they belong, with the paths baked in; the unit passes
# systemd-analyze verify. Then, through the installed helper and with no
# PATH at all (env -i, and mount(8) clears it anyway): mount -t
# fuse.kvstripe mounts, fstab lines used with mount -T FILE DIR mount
# (sources on the line; "kvstripe" or "none" with the sources in the
# config= file, in the file's order), umount ends the daemon, which exits
# 0. A relative source is refused with exit 1 and creates nothing, also
# with -o mkdir; an fstab source list the config file contradicts, or a
# placeholder whose config has no sources, is refused. In the foreground
# the daemon's last line sums what the mount did.
#
# mount(8) looks for helpers in /sbin only. The test runs in a mount
# namespace of its own, in which an overlay adds the helper installed under
# $T to /sbin: the machine's /sbin is never written, and nobody else sees
# the test's mounts.

# group: quick

if [ -z "${T_INSTALL_NS:-}" ]; then
	if ! unshare -m --propagation private true 2>/dev/null; then
		echo "SKIP: cannot make a mount namespace (unshare -m)"
		exit 77
	fi
	T_INSTALL_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi

. "$(dirname "$0")/lib.sh"

t_init
M=$T/mnt
P=$T/prefix
t_mkback 2
mkdir "$T/cwd" "$T/m2" "$T/m3" "$T/m4" "$T/m5"
export LC_ALL=C

# --- make install ------------------------------------------------------------

# the daemon under test's build directory, relative to the repository, so
# that make finds its objects up to date (make check: build/san)
build=$(dirname "$KVSTRIPE")
build=${build#"$T_ROOT"/}
install_to() {
	make -s -C "$T_ROOT" install BUILD="$build" "$@" >>"$T/install.out" 2>&1 || {
		cat "$T/install.out" >&2
		t_fail "make install $* failed"
	}
}
install_to PREFIX="$P" SBINDIR="$T/sbin"
# everything below runs the installed daemon
KVSTRIPE=$P/bin/kvstripe

install_layout() {
	local f
	for f in "$P/bin/kvstripe" "$T/sbin/mount.fuse.kvstripe"; do
		[ -x "$f" ] || t_fail "$f not installed, or not executable"
	done
	for f in share/man/man1/kvstripe.1 share/doc/kvstripe/kvstripe.example.ini \
		share/doc/kvstripe/kvstripe@.service; do
		[ -f "$P/$f" ] || t_fail "$P/$f not installed"
	done
	grep -q "^PATH='$P/bin':" "$T/sbin/mount.fuse.kvstripe" ||
		t_fail "the helper does not name $P/bin"
	grep -q "^ExecStart=$P/bin/kvstripe " \
		"$P/share/doc/kvstripe/kvstripe@.service" ||
		t_fail "the unit does not run $P/bin/kvstripe"
	grep -q "$P/share/doc/kvstripe/kvstripe.example.ini" \
		"$P/share/man/man1/kvstripe.1" ||
		t_fail "the man page does not name the installed example INI"
	cmp "$T_ROOT/docs/kvstripe.example.ini" \
		"$P/share/doc/kvstripe/kvstripe.example.ini" ||
		t_fail "the example INI differs from docs/"
}
t_case install-layout install_layout

# DESTDIR stages the files; what they name is the final PREFIX
destdir() {
	install_to PREFIX=/opt/kvstripe DESTDIR="$T/dest"
	[ -x "$T/dest/opt/kvstripe/bin/kvstripe" ] ||
		t_fail "no binary under DESTDIR"
	[ -x "$T/dest/sbin/mount.fuse.kvstripe" ] ||
		t_fail "no helper under DESTDIR/sbin"
	grep -q "^PATH='/opt/kvstripe/bin':" "$T/dest/sbin/mount.fuse.kvstripe" ||
		t_fail "the staged helper does not name /opt/kvstripe/bin"
	! grep -rq "$T/dest" "$T/dest/sbin" "$T/dest/opt/kvstripe/share" ||
		t_fail "an installed file names DESTDIR"
}
t_case destdir destdir

not_on_path() {
	local found
	found=$(env -i /bin/sh -c 'command -v kvstripe' || true)
	[ "$found" != "$P/bin/kvstripe" ] || t_fail "$P/bin is on sh's path"
}
t_case prefix-not-on-path not_on_path

# systemd-analyze verify needs no running systemd: it loads the unit (an
# instance of the template, for %i and %f), checks every key and that the
# commands exist; --man=no, as the man page is not on MANPATH here
unit_verify() {
	command -v systemd-analyze >/dev/null ||
		t_skip "no systemd-analyze (Debian package systemd)"
	mkdir "$T/units"
	cp "$P/share/doc/kvstripe/kvstripe@.service" \
		"$T/units/kvstripe@mnt-kvcache.service"
	systemd-analyze verify --man=no \
		"$T/units/kvstripe@mnt-kvcache.service" >"$T/verify.out" 2>&1 || {
		cat "$T/verify.out" >&2
		t_fail "systemd-analyze verify failed"
	}
	[ ! -s "$T/verify.out" ] || {
		cat "$T/verify.out" >&2
		t_fail "systemd-analyze verify warned"
	}
}
t_case unit-verify unit_verify

# --- the one-line summary, in the foreground ------------------------------------

t_mount "$T_SRC"
# 4 KiB in and out, O_DIRECT: no page cache between the counts and dd
dd if=/dev/urandom of="$M/f" bs=4096 count=1 oflag=direct status=none
dd if="$M/f" of=/dev/null bs=4096 iflag=direct status=none
t_umount_check
summary() {
	grep -qF "served $M: 1 file created, 4096 bytes read, 4096 bytes written, 0 read or write errors" \
		"$T/log" || t_fail "no summary line at unmount: $(tail -n 1 "$T/log")"
}
t_case summary-at-unmount summary
rm "$T/b0/f" "$T/b1/f" 2>/dev/null || true

# --- mounting through the helper -------------------------------------------------

sbin=$(readlink -f /sbin)
mount -t overlay kvstripe-sbin -o "lowerdir=$T/sbin:$sbin" "$sbin" ||
	t_fail "cannot add $T/sbin to $sbin with an overlay"
[ -x /sbin/mount.fuse.kvstripe ] || t_fail "the overlay shows no helper"

# helper_mount DIR CMD...: run CMD (a mount(8) call that daemonizes) under
# tests/lib/reaper.py; it must return 0 and leave one daemon serving DIR.
# Sets reaper and daemon.
helper_mount() {
	local dir=$1 i lrc
	shift
	rm -f "$T/reaper.out"
	(cd "$T/cwd" && exec python3 "$T_ROOT/tests/lib/reaper.py" "$T/reaper.out" \
		"$@") >>"$T/log" 2>&1 &
	reaper=$!
	T_PIDS+=("$reaper")
	for ((i = 0; i < 200; i++)); do
		grep -q '^launcher' "$T/reaper.out" 2>/dev/null && break
		sleep 0.1
	done
	read -r _ _ lrc <"$T/reaper.out" || t_fail "$* did not return within 20 s"
	t_eq "$lrc" 0 "exit status of $*"
	t_is_mounted "$dir" || t_fail "$* returned 0, but $dir is not mounted"
	daemon=$(cat "/proc/$reaper/task/$reaper/children" 2>/dev/null || true)
	daemon=${daemon% }
	if [ -z "$daemon" ] || [ "$daemon" != "${daemon%% *}" ]; then
		t_fail "expected one daemon, found '$daemon'"
	fi
	T_PIDS+=("$daemon")
	grep -q kvstripe "/proc/$daemon/comm" ||
		t_fail "process $daemon is $(cat "/proc/$daemon/comm"), not kvstripe"
}

# helper_umount DIR: umount(8) DIR; the daemon exits 0 within 10 s.
helper_umount() {
	env -i /usr/bin/umount "$1" || t_fail "umount $1 failed"
	t_wait_exit "$daemon" 10 ||
		t_fail "daemon $daemon still running 10 s after umount"
	t_wait_exit "$reaper" 5 || t_fail "reaper still running"
	grep -q "^exited $daemon 0\$" "$T/reaper.out" || {
		cat "$T/reaper.out" >&2
		t_fail "daemon $daemon did not exit 0 after umount"
	}
	! t_is_mounted "$1" || t_fail "$1 still mounted after umount"
}

# on_device DIR FILE DEV: FILE, written through the mount on DIR, lies in
# backing directory DEV
on_device() {
	mkdir -p "$(dirname "$1/$2")"
	echo "$2" >"$1/$2"
	[ -f "$3/$2" ] || t_fail "$2 is not in $3"
	t_eq "$(cat "$3/$2")" "$2" "content of $3/$2"
}

mount_t() {
	helper_mount "$M" env -i /usr/bin/mount -t fuse.kvstripe "$T_SRC" "$M"
	on_device "$M" gpu1/a "$T/b1"
	helper_umount "$M"
}
t_case mount-t mount_t

cat >"$T/kv.ini" <<EOF
[kvstripe]
; the devices in the other order: device 0 is b1
sources = $T/b1, $T/b0
EOF
printf '[kvstripe]\ngpus = 2\n' >"$T/nosources.ini"
# libmount drops x-* and defaults; mount.fuse3 nofail and _netdev
cat >"$T/fstab" <<EOF
# kvstripe's test fstab
$T/b0,$T/b1  $M   fuse.kvstripe  defaults,gpus=2,nofail,_netdev,x-systemd.requires-mounts-for=$T/b0  0 0
kvstripe     $T/m2  fuse.kvstripe  config=$T/kv.ini,nofail  0 0
none         $T/m3  fuse.kvstripe  config=$T/kv.ini  0 0
$T/b0        $T/m4  fuse.kvstripe  config=$T/kv.ini  0 0
kvstripe     $T/m5  fuse.kvstripe  config=$T/nosources.ini  0 0
EOF

fstab_sources() {
	helper_mount "$M" env -i /usr/bin/mount -T "$T/fstab" "$M"
	on_device "$M" gpu1/b "$T/b1"
	helper_umount "$M"
}
t_case fstab-sources fstab_sources

# the placeholder takes the config's sources, in its order: gpu0 is b1
fstab_placeholder() {
	helper_mount "$T/$1" env -i /usr/bin/mount -T "$T/fstab" "$T/$1"
	on_device "$T/$1" "gpu0/$1" "$T/b1"
	helper_umount "$T/$1"
}
t_case fstab-placeholder-kvstripe fstab_placeholder m2
t_case fstab-placeholder-none fstab_placeholder m3

# refused DIR TEXT CMD...: CMD fails with status 1 and says TEXT; DIR is
# not mounted and nothing appeared in the working directory
refused() {
	local dir=$1 text=$2 rc=0
	shift 2
	(cd "$T/cwd" && timeout -k 5 20 "$@") >"$T/out" 2>"$T/err" || rc=$?
	t_eq "$rc" 1 "exit status of $* ($(cat "$T/err"))"
	grep -qF -- "$text" "$T/err" ||
		t_fail "$* does not say '$text': $(cat "$T/err")"
	! t_is_mounted "$dir" || t_fail "$* mounted $dir"
	t_eq "$(ls -A "$T/cwd")" "" "what $* left in its working directory"
}

relative_direct() {
	refused "$M" "is a relative path" "$KVSTRIPE" b0 "$M" -f -o mkdir
	t_eq "$(grep -c '' "$T/err")" 1 "lines on stderr"
}
t_case relative-source-refused relative_direct
t_case relative-source-mount-t refused "$M" "'kv' (device 0) is a relative path" \
	env -i /usr/bin/mount -t fuse.kvstripe -o mkdir kv "$M"
t_case fstab-conflict-refused refused "$T/m4" \
	"SOURCES '$T/b0' differ from the sources in '$T/kv.ini'" \
	env -i /usr/bin/mount -T "$T/fstab" "$T/m4"
t_case fstab-config-without-sources refused "$T/m5" \
	"means the sources are in the config file, but '$T/nosources.ini' has none" \
	env -i /usr/bin/mount -T "$T/fstab" "$T/m5"

umount "$sbin" || umount -l "$sbin"
