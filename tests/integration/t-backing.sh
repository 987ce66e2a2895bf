#!/usr/bin/env bash
#
# t-backing.sh - a backing directory renamed away or removed under a
# running mount: the daemon says so in its log (within its 5 s check), says
# when the directory is back in place, and keeps serving the other device.

# group: slow fault

. "$(dirname "$0")/lib.sh"

t_setup 2
M=$T/mnt
mkdir "$M/gpu0" "$M/gpu1"
echo a >"$M/gpu0/a"

# wait_log TEXT: the daemon's log has TEXT within 12 s
wait_log() {
	local i
	for ((i = 0; i < 120; i++)); do
		grep -qF "$1" "$T/log" && return 0
		sleep 0.1
	done
	t_fail "no '$1' in the daemon's log after 12 s"
}

renamed_away() {
	mv "$T/b1" "$T/b1.away"
	wait_log "device 1: '$T/b1' no longer names the backing directory"
	t_eq "$(cat "$M/gpu0/a")" a "gpu0/a while device 1 is away"
	mv "$T/b1.away" "$T/b1"
	wait_log "device 1: backing directory '$T/b1' is in place again"
}
t_case renamed-away renamed_away

removed() {
	rm -rf "$T/b1"
	wait_log "device 1: backing directory '$T/b1' was removed"
	echo b >"$M/gpu0/b" || t_fail "creating on device 0 after device 1 was removed"
	t_eq "$(cat "$M/gpu0/b")" b "gpu0/b"
	t_eq "$(grep -c 'was removed' "$T/log")" 1 "times the removal was logged"
}
T_AFTER=renamed-away t_case removed removed
t_umount_check
