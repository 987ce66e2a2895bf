#!/usr/bin/env bash
#
# t-cli.sh - the command line and the config file.
#
# Every bad invocation exits 1 with exactly one line on stderr starting with
# "kvstripe: ", mounts nothing and leaves no backing directory it created;
# a control character (a NUL in an INI value, an escape or a newline in an
# argument) is one. LMCache source syntax (file://, blanks) works, missing
# backing directories are created with -o mkdir (t-bootsafe: not without),
# an INI config file mounts and the command line overrides it, except for
# the sources: other sources than the file's are refused (t-install: the
# same through fstab), and so is a relative source.

# group: quick

. "$(dirname "$0")/lib.sh"

t_init
M=$T/mnt
t_mkback 3
mkdir "$T/sub"
echo "not a directory" >"$T/regular"

# bad_cmd [EXTRA] ARGS...: must exit 1 with one "kvstripe: " line on stderr;
# with EXTRA=text:..., that line must also contain the text.
bad_cmd() {
	local want='' rc=0 err
	case $1 in
	text:*)
		want=${1#text:}
		shift ;;
	esac
	# -f: a daemon that wrongly accepts stays in the foreground, where the
	# timeout (and the cleanup trap) can end it
	timeout -k 5 10 "$KVSTRIPE" "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
	err=$(cat "$T/err")
	if [ "$rc" != 1 ]; then
		printf 'stderr: %s\n' "$err" >&2
		t_fail "kvstripe $*: exit status $rc, expected 1"
	fi
	t_eq "$(grep -c '' "$T/err")" 1 "lines on stderr from kvstripe $* ($err)"
	case $err in
	"kvstripe: "*) ;;
	*) t_fail "kvstripe $*: stderr does not start with 'kvstripe: ': $err" ;;
	esac
	if [ -n "$want" ]; then
		case $err in
		*"$want"*) ;;
		*) t_fail "kvstripe $*: stderr lacks '$want': $err" ;;
		esac
	fi
	! t_is_mounted "$M" || t_fail "kvstripe $* mounted $M"
	t_log "ok: kvstripe $* -> $err"
}

# bad command lines, each a case
t_case empty-source bad_cmd "$T/b0,,$T/b1" "$M" -f
t_case same-source-twice bad_cmd "$T/b0,$T/b0/" "$M" -f
t_case same-source-file-url bad_cmd "file://$T/b0,$T/b0" "$M" -f
t_case same-source-blanks bad_cmd "$T/b0, $T/b1 ,file://$T/b1/" "$M" -f
t_case source-not-a-directory bad_cmd "$T/b0,$T/regular" "$M" -f
t_case source-is-mountpoint bad_cmd "$M" "$M" -f
t_case source-inside-mountpoint bad_cmd "text:inside the mount point" \
	"$T/b0,$M/inside" "$M" -f -o mkdir
t_case no-mountpoint bad_cmd "$T/b0,$T/b1" -f
t_case bad-gpus bad_cmd "$T/b0,$T/b1" "$M" -f -o gpus=abc
t_case missing-config \
	bad_cmd "text:$T/none.ini" "$T/b0,$T/b1" "$M" -f -o "config=$T/none.ini"
nothing_inside() {
	[ ! -e "$M/inside" ] ||
		t_fail "kvstripe created a backing directory inside the mount point"
}
t_case nothing-inside-mountpoint nothing_inside
# a failed start leaves no backing directory behind: not when a later one
# is bad, not when the kernel refuses the mount
failed_start() {
	bad_cmd "text:not a directory" "$T/fresh/a/b,$T/regular" "$M" -f \
		-o mkdir
	bad_cmd "text:cannot mount" "$T/fresh/c" "$M" -f -o mkdir,blksize=4096
	[ ! -e "$T/fresh" ] || t_fail "a failed start left $(find "$T/fresh")"
}
t_case failed-start-leaves-nothing failed_start

printf '[kvstripe]\nsources = %s\nthis line is not a setting\nmountpoint = %s\n' \
	"$T/b0,$T/b1" "$M" >"$T/bad.ini"
t_case bad-ini-line bad_cmd "text:$T/bad.ini:3" -f -o "config=$T/bad.ini"
printf '[kvstripe]\nsources = %s\nmountpoint = %s\ngpus = abc\n' \
	"$T/b0,$T/b1" "$M" >"$T/badval.ini"
t_case bad-ini-value bad_cmd "text:$T/badval.ini:4" -f -o "config=$T/badval.ini"
# a NUL or another control character: refused with FILE:LINE, not cut
# short (inih alone ends the value at the NUL: one device, b0, mounted)
printf '[kvstripe]\nmountpoint = %s\nsources = %s\0,%s\n' "$M" "$T/b0" \
	"$T/b1" >"$T/nul.ini"
t_case ini-nul bad_cmd "text:$T/nul.ini:3: control character 0x00 at column" \
	-f -o "config=$T/nul.ini"
printf '[kvstripe]\nsources = %s\n[device 0]\n; \033[2J\nalign = 4096\n' \
	"$T/b0" >"$T/esc.ini"
t_case ini-escape bad_cmd "text:$T/esc.ini:4: control character 0x1b at column 3" \
	"$M" -f -o "config=$T/esc.ini"
# and on the command line, where it is never echoed
t_case source-newline bad_cmd \
	"text:invalid value for 'sources': control character 0x0a at byte" \
	"$T/b0,$T/b1"$'\n' "$M" -f
t_case source-control bad_cmd "text:control character 0x01" \
	"$T/b0,"$'\x01'"$T/b1" "$M" -f
t_case mountpoint-control bad_cmd \
	"text:invalid value for 'mountpoint': control character 0x0d at byte" \
	"$T/b0" "$M"$'\r' -f
t_case option-control bad_cmd "text:control character 0x02" \
	"$T/b0" "$M" -f -o gpus=1$'\x02'
no_control_dirs() {
	[ -z "$(find "$T" -maxdepth 1 -name '*[[:cntrl:]]*')" ] ||
		t_fail "a backing directory named with a control character was made"
}
t_case control-leaves-nothing no_control_dirs

# LMCache source syntax; missing backing directories are created (-o mkdir)
t_mount " file://$T/b0/ ,  $T/b1,file://$T/new/deep/b2 " -o mkdir
lmcache_sources() {
	[ -d "$T/new/deep/b2" ] || t_fail "missing backing directory was not created"
	mkdir "$M/gpu1" "$M/gpu2"
	echo x >"$M/gpu1/f"
	echo y >"$M/gpu2/f"
	t_eq "$(t_device_of gpu1/f)" 1 "device of gpu1/f"
	t_eq "$(t_device_of gpu2/f)" 2 "device of gpu2/f (on the created directory)"
}
t_case lmcache-sources lmcache_sources
# a backing directory serves one mount at a time
mkdir "$T/m2"
M=$T/m2 t_case source-in-use \
	bad_cmd "text:'$T/b1' is in use by another kvstripe" "$T/b1" "$T/m2" -f
t_umount_check

# a dead mount point: the error says how to clear it
t_mount "$T/b0"
kill -KILL "$T_PID"
wait "$T_PID" || true
T_PID=
dead_mountpoint() {
	local rc=0
	timeout -k 5 10 "$KVSTRIPE" "$T/b0" "$M" -f >"$T/out" 2>"$T/err" </dev/null || rc=$?
	t_eq "$rc" 1 "exit status of kvstripe on a dead mount point"
	grep -q "dead FUSE mount (unmount it first: fusermount3 -u $M)" "$T/err" ||
		t_fail "no hint on a dead mount point: $(cat "$T/err")"
}
t_case dead-mountpoint dead_mountpoint
fusermount3 -u "$M" || t_fail "fusermount3 -u of the dead mount"

# FUSE 2's -o nonempty is accepted; -o config only once
touch "$M/hidden"
t_mount "$T/b0,$T/b1" -o nonempty
hidden() {
	[ ! -e "$M/hidden" ] || t_fail "the mount point's own file shows through"
}
t_case nonempty hidden
t_umount_check
rm "$M/hidden"
printf '[kvstripe]\n' >"$T/empty.ini"
t_case config-twice bad_cmd "text:option 'config' given twice" "$T/b0" "$M" -f \
	-o "config=$T/empty.ini,config=$T/empty.ini"

# config file
cat >"$T/good.ini" <<EOF
; a comment
[kvstripe]
sources = file://$T/b0, $T/b1
mountpoint = $M
EOF
T_NMOUNT=$((T_NMOUNT + 1))
echo "=== mount $T_NMOUNT: $KVSTRIPE -f -o config=$T/good.ini" >>"$T/log"
"$KVSTRIPE" -f -o "config=$T/good.ini" >>"$T/log" 2>&1 &
T_PID=$!
T_BACK=("$T/b0" "$T/b1")
rc=0
t_wait_mount "$M" "$T_PID" || rc=$?
[ "$rc" != 1 ] || t_fail "kvstripe -o config=good.ini exited"
[ "$rc" = 0 ] || t_fail "kvstripe -o config=good.ini did not mount $M"
config_file() {
	mkdir -p "$M/gpu3"
	echo z >"$M/gpu3/f"
	t_eq "$(t_device_of gpu3/f)" 1 "device of gpu3/f with the config's 2 devices"
}
t_case config-file config_file
t_umount_check

# the command line overrides the config file; the same sources spelt
# otherwise are no conflict
sed -i "s#^mountpoint = .*#mountpoint = $T/elsewhere#" "$T/good.ini"
t_mount "$T/b0/,file://$T/b1" -o "config=$T/good.ini"
overrides() {
	[ ! -e "$T/elsewhere" ] || t_fail "the config file's mountpoint was used"
	t_eq "$(cat "$M/gpu3/f")" z "gpu3/f written under the config file's mount"
}
T_AFTER=config-file t_case command-line-overrides overrides
t_umount_check

# other sources than the config file's: refused, neither wins silently;
# "none" and "kvstripe" take the file's, which must have some
t_case sources-conflict bad_cmd "text:differ from the sources in '$T/good.ini'" \
	"$T/b0,$T/b1,$T/b2" "$M" -f -o "config=$T/good.ini"
t_case placeholder-without-sources bad_cmd \
	"text:means the sources are in the config file, but '$T/empty.ini' has none" \
	none "$M" -f -o "config=$T/empty.ini"
# a relative source would be below whatever directory the daemon runs in
t_case relative-source bad_cmd "text:'b0' (device 0) is a relative path" \
	b0 "$M" -f
