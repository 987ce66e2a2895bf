#!/usr/bin/env bash
#
# t-kill.sh - the daemon killed (SIGKILL) at a random moment while four KV
# writers run, round after round, on two ext4s on loop devices (512- and
# 4096-byte sectors: O_DIRECT and the claims ahead are real). The writers
# (kvfile.py put) are O_DIRECT and buffered, one whole-file write() or
# many small ones, files of 4 to 80 MiB (most no multiple of 1 MiB or
# 4 KiB) whose content follows from their names. After each kill a new
# daemon mounts the same sources at once, and (kvfile.py check):
#   - every file whose close() returned reads back byte-exact;
#   - every other file reads back byte-exact or fails with EIO, never
#     zeros or a prefix with the size of a whole file (an empty one
#     reads empty: marked torn, or, killed between the create and the
#     mark, unmarked);
#   - the files listed through the mount are those on the devices;
#   - kvstripe fsck SOURCES lists exactly the torn ones, --repair removes
#     them and nothing else, and a second fsck finds the devices clean.
#
# KVSTRIPE_KILL_ROUNDS rounds (default 10; make soak runs 100), each one's
# kill moment drawn from KVSTRIPE_KILL_SEED (default: random, logged).
# The fsck part runs only where `kvstripe fsck --help` shows an fsck.

# group: fault loopdev

. "$(dirname "$0")/lib.sh"

t_init
M=$T/mnt
ROUNDS=${KVSTRIPE_KILL_ROUNDS:-10}
SEED=${KVSTRIPE_KILL_SEED:-$RANDOM}
KVFILE=$T_ROOT/tests/integration/kvfile.py
t_log "KVSTRIPE_KILL_ROUNDS=$ROUNDS KVSTRIPE_KILL_SEED=$SEED"

[ -e /dev/loop-control ] || t_skip "no /dev/loop-control"
t_ext4 "$T/b0" 1G 512 -b 4096
t_ext4 "$T/b1" 1G 4096 -b 4096
T_SRC=$T/b0,$T/b1


# writer W: its gpu<N>/ directory (each device gets an O_DIRECT and a
# buffered writer), O_DIRECT or not, one write or many
WDIR=(gpu0 gpu1 gpu3 gpu2)
WDIRECT=(1 0 1 0)
WSTYLE=(whole whole small small)

# kill_round R: the writers, then SIGKILL a moment (drawn for round R)
# after each has made its first file;
# the dead mount is unmounted.
kill_round() {
	local r=$1 w p i pids=() delay files=()
	# 0 to 2 s after every writer has made its first file
	RANDOM=$((SEED * 1000 + r))
	delay=$((RANDOM % 2001))
	delay=$((delay / 1000)).$(printf '%03d' $((delay % 1000)))
	for w in 0 1 2 3; do
		mkdir -p "$M/${WDIR[w]}"
		: >"$T/closed.$w"
		python3 "$KVFILE" put "$M/${WDIR[w]}" "$T/closed.$w" "r$r.w$w" \
			"${WDIRECT[w]}" "${WSTYLE[w]}" 2>"$T/writer.$w" &
		pids+=($!)
	done
	for ((i = 0; i < 200; i++)); do
		files=("$T"/b?/gpu?/r"$r".w?-0-*)
		[ "${#files[@]}" -lt 4 ] || break
		sleep 0.05
	done
	[ "${#files[@]}" = 4 ] || t_fail "round $r: writers made ${#files[@]} of 4 files in 10 s"
	sleep "$delay"
	kill -KILL "$T_PID"
	wait "$T_PID" 2>/dev/null || true
	T_PID=
	for w in 0 1 2 3; do
		p=${pids[w]}
		t_wait_exit "$p" 20 || t_fail "round $r: writer $w still running 20 s after the kill"
		wait "$p" || t_fail "round $r: writer $w failed: $(cat "$T/writer.$w")"
	done
	fusermount3 -u "$M" 2>/dev/null || fusermount3 -u -z "$M" ||
		t_fail "round $r: cannot unmount the dead mount"
	t_log "round $r: killed after $delay s, $(cat "$T"/closed.* | wc -l) files closed"
}

# check_reads R: every file as the header says; the torn ones in $T/torn.R
check_reads() {
	local r=$1 out rc=0
	out=$(python3 "$KVFILE" check "$M" "$T/torn.$r" "$T"/closed.* \
		-- "${T_BACK[@]}" 2>&1) || rc=$?
	t_log "round $r: $(tail -n 1 <<<"$out")"
	[ "$rc" = 0 ] || { printf '%s\n' "$out" >&2; t_fail "round $r: $(head -n 1 <<<"$out")"; }
}

# check_fsck R: fsck lists exactly the torn files of $T/torn.R and exits 4
# (0 if there are none); --repair removes them, and only them, exiting 1;
# a second fsck exits 0 and lists nothing.
check_fsck() {
	local r=$1 want=4 f n=0
	[ -s "$T/torn.$r" ] || want=0
	t_fsck torn >"$T/fsck.torn"
	diff -u "$T/torn.$r" "$T/fsck.torn" >&2 ||
		t_fail "round $r: fsck's torn files (+) differ from those that read EIO (-)"
	t_eq "$(cat "$T/fsck.rc")" "$want" "round $r: fsck exit status"
	[ "$want" = 4 ] && want=1
	t_fsck torn --repair >/dev/null
	t_eq "$(cat "$T/fsck.rc")" "$want" "round $r: fsck --repair exit status"
	for f in "${T_BACK[@]}"; do
		n=$((n + $(find "$f" -type f -name '*-*-*' | wc -l)))
	done
	while read -r f; do
		t_nowhere "$f"
	done <"$T/torn.$r"
	t_eq "$n" "$(($(grep -c . <"$T/listed.$r") - $(grep -c . <"$T/torn.$r")))" \
		"round $r: files left after --repair"
	t_fsck 'torn|corrupt|stale' >"$T/fsck.torn"
	t_eq "$(grep -c . <"$T/fsck.torn")" 0 "round $r: lines of a second fsck"
	t_eq "$(cat "$T/fsck.rc")" 0 "round $r: second fsck exit status"
	# no record, no mark: unverified at most (see kvfile.py check)
	t_fsck unverified >"$T/fsck.unverified"
	t_eq "$(comm -23 "$T/fsck.unverified" "$T/torn.$r.empty")" "" \
		"round $r: files fsck calls unverified"
}

for ((r = 1; r <= ROUNDS; r++)); do
	t_mount "$T_SRC"
	kill_round "$r"
	t_remount
	t_case "kill-round-$r" check_reads "$r"
	(cd "$M" && find . -type f -name '*-*-*' | sed 's#^\./##' | sort) >"$T/listed.$r"
	t_umount_check
	T_AFTER="kill-round-$r" t_case "fsck-round-$r" check_fsck "$r"
	rm -rf "$T"/b0/gpu* "$T"/b1/gpu*
done
