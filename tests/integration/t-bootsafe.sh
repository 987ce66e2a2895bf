#!/usr/bin/env bash
#
# t-bootsafe.sh - a drive not mounted yet is never filled on /: a missing
# backing directory is refused (exit 1, one line) and not created unless
# -o mkdir allows it; with -o require_mounts=S the daemon waits until every
# backing directory is on a filesystem other than the one holding /, and
# refuses after S seconds with one line naming each one still on /; a
# directory that a mount covers within the wait is accepted, and so is one
# that such a mount brings.

# group: quick

. "$(dirname "$0")/lib.sh"

t_init
M=$T/mnt
t_mkback 1

# start ARGS...: run the daemon in the foreground (10 s at most) with its
# stderr in $T/err; its exit status in RC, its run time in ms in MS.
start() {
	local t0
	t0=$(date +%s%N)
	RC=0
	timeout -k 5 10 "$KVSTRIPE" "$@" -f >"$T/out" 2>"$T/err" </dev/null ||
		RC=$?
	MS=$((($(date +%s%N) - t0) / 1000000))
	t_log "kvstripe $* -> status $RC in $MS ms: $(tr '\n' '|' <"$T/err")"
}

# refused TEXT: the last start exited 1 with one "kvstripe: " line holding
# TEXT (or two, the first the info line of a wait), and mounted nothing.
refused() {
	t_eq "$RC" 1 "exit status"
	! t_is_mounted "$M" || t_fail "a refused start mounted $M"
	grep -qF -- "$1" "$T/err" || t_fail "stderr lacks '$1': $(cat "$T/err")"
	t_eq "$(grep -vc 'waiting up to' "$T/err")" 1 "refusal lines"
	t_eq "$(grep -c '^kvstripe: ' "$T/err")" "$(grep -c '' "$T/err")" \
		"lines starting with 'kvstripe: '"
}

# 1. a missing source is an error, and nothing is made
missing_refused() {
	start "$T/b0,$T/nvme1/kv" "$M"
	refused "backing directory '$T/nvme1/kv' does not exist"
	[ ! -e "$T/nvme1" ] || t_fail "kvstripe created $T/nvme1"
}
t_case missing-refused missing_refused

# 2. -o mkdir, and mkdir = yes in the INI file, create it
t_mount "$T/b0,$T/new/kv" -o mkdir
t_case mkdir-creates t_eq "$([ -d "$T/new/kv" ] && echo made)" made \
	"$T/new/kv created"
t_umount_check
printf '[kvstripe]\nmkdir = yes\n' >"$T/mkdir.ini"
t_mount "$T/b0,$T/ini/kv" -o "config=$T/mkdir.ini"
t_case mkdir-from-ini t_eq "$([ -d "$T/ini/kv" ] && echo made)" made \
	"$T/ini/kv created"
t_umount_check

# The rest needs a directory on the root filesystem: $T, if /tmp is on /.
if [ "$(stat -c %d "$T")" != "$(stat -c %d /)" ]; then
	t_log "$T is not on the root filesystem: require_mounts cases skipped"
	exit 0
fi

# 3. a backing directory on / is refused after the wait, with one line
on_root_refused() {
	start "$T/b0" "$M" -o require_mounts=1
	refused "backing directory '$T/b0' (device 0) is still on the root filesystem after 1 s"
	[ "$MS" -ge 900 ] && [ "$MS" -lt 4000 ] ||
		t_fail "refused after $MS ms, expected about 1 s"
	# 0: checked once; two on /, named in one line; a missing one whose
	# nearest ancestor is on / counts as on /, and is not created
	start "$T/b0,$T/other/kv" "$M" -o require_mounts=0
	refused "backing directories '$T/b0' (device 0), '$T/other/kv' (device 1) are still on the root filesystem after 0 s"
	[ "$MS" -lt 1000 ] || t_fail "require_mounts=0 took $MS ms"
	[ ! -e "$T/other" ] || t_fail "kvstripe created $T/other"
	# the INI key, and mkdir does not make it on / either
	printf '[kvstripe]\nsources = %s\nmountpoint = %s\nrequire_mounts = 0.5\nmkdir = yes\n' \
		"$T/nvme2/kv" "$M" >"$T/req.ini"
	start -o "config=$T/req.ini"
	refused "'$T/nvme2/kv' (device 0) is still on the root filesystem after 0.5 s"
	[ ! -e "$T/nvme2" ] || t_fail "kvstripe created $T/nvme2"
}
t_case on-root-refused on_root_refused

# 4. directories that get a tmpfs 1 s after the start are accepted: one
# used as it is, and one that the mount brings (made on the tmpfs, as a
# mount of a prepared drive would bring it)
mkdir "$T/late0" "$T/late1"
T_FSMOUNTS+=("$T/late0" "$T/late1")	# unmounted by the cleanup
(
	sleep 1
	mount -t tmpfs -o size=64m "$T_FSNAME" "$T/late0"
	mount -t tmpfs -o size=64m "$T_FSNAME" "$T/late1"
	mkdir "$T/late1/kv"
) &
T_PIDS+=($!)
t0=$(date +%s%N)
t_mount "$T/late0,$T/late1/kv" -o require_mounts=5
ms=$((($(date +%s%N) - t0) / 1000000))
mounted_later() {
	[ "$ms" -ge 900 ] || t_fail "mounted after $ms ms, before the tmpfs came"
	grep -q "waiting up to 5 s for the backing directories to be mounted" \
		"$T/log" || t_fail "no 'waiting' line in the log"
	grep -q "backing directories mounted after" "$T/log" ||
		t_fail "no 'mounted after' line in the log"
	mkdir "$M/gpu0" "$M/gpu1"
	echo a >"$M/gpu0/f"
	echo b >"$M/gpu1/f"
	t_eq "$(cat "$T/late0/gpu0/f")" a "gpu0/f on the first tmpfs"
	t_eq "$(cat "$T/late1/kv/gpu1/f")" b "gpu1/f on the second tmpfs"
}
t_case mounted-later mounted_later
t_umount_check
