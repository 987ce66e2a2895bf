#!/usr/bin/env bash
#
# t-maxsize.sh - max_size: df shows the limit, writes past it get ENOSPC
# (as on a full ext4: from the write, never the create), a device at its
# own max_size spills new files, usage is counted again at start; with
# evict_high/evict_low the least recently read closed files go, a client
# that writes like LMCache's fs connector sees misses and never an error,
# and the daemon's memory stays bounded.

# group: quick loopdev

. "$(dirname "$0")/lib.sh"

MIB=1048576
LMCLIENT=$T_ROOT/tests/integration/lmclient.py
t_init
M=$T/mnt

# df FIELD: size, used or avail of the mount, in bytes
dfb() {
	df -B1 --output="$1" "$M" | tail -1 | tr -d ' '
}
# near WHAT EXPECTED ACTUAL: ACTUAL is EXPECTED, or up to 64 KiB more (a
# backing file's extended attributes may take a block of their own)
near() {
	[ "$3" -ge "$2" ] && [ "$3" -le $(($2 + 65536)) ] ||
		t_fail "$1: expected $2 (or up to 64 KiB more), got $3"
}
# put NAME MIB: write NAME (below the mount) with MIB MiB of random bytes
put() {
	dd if=/dev/urandom of="$M/$1" bs=1M count="$2" status=none
}
# py_fill FILE: write FILE 1 MiB at a time until a write fails, then
# create FILE.new and write to it; print what each step returned
py_fill() {
	python3 - "$1" <<'EOF'
import errno, os, sys
# write 1 MiB at a time until a write fails; report where each call failed
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
buf = b"x" * (1 << 20)
err = "none"
for _ in range(4096):
    try:
        n = os.write(fd, buf)
        if n < len(buf):
            os.write(fd, buf[n:])	# ext4 writes what fits: the rest fails
    except OSError as e:
        err = errno.errorcode[e.errno]
        break
try:
    os.close(fd)
    cl = "ok"
except OSError as e:
    cl = errno.errorcode[e.errno]
# what was written reads back
try:
    with open(sys.argv[1], "rb") as f:
        rd = "ok" if set(f.read()) <= {ord("x")} else "wrong"
except OSError as e:
    rd = errno.errorcode[e.errno]
# a new name still works where a byte more does not
try:
    with open(sys.argv[1] + ".new", "w"):
        pass
    mk = "ok"
except OSError as e:
    mk = errno.errorcode[e.errno]
try:
    with open(sys.argv[1] + ".new", "w") as f:
        f.write("y" * (1 << 20))
    one = "ok"
except OSError as e:
    one = errno.errorcode[e.errno]
print(f"write {err} close {cl} read {rd} create {mk} write-new {one}")
EOF
}

# --- the mount's max_size -------------------------------------------------
EXT4=
if t_loopfs "$T/ext" 20M 4096 -b 4096 -m 0 -O ^has_journal; then
	EXT4=$T/ext
else
	[ $? = 2 ] || t_fail "$T_WHY"
	t_log "no ext4 to compare with: $T_WHY"
fi
t_mkback 2
t_mount "$T_SRC" -o max_size=16M

df_shows_limit() {
	t_eq "$(dfb size)" $((16 * MIB)) "df size"
	t_eq "$(dfb used)" 0 "df used of an empty mount"
	t_eq "$(dfb avail)" $((16 * MIB)) "df avail"
	put a 3
	near "df used after 3 MiB" $((3 * MIB)) "$(dfb used)"
	near "df avail after 3 MiB" $((13 * MIB - 65536)) "$(dfb avail)"
	rm "$M/a"
	t_eq "$(dfb used)" 0 "df used after rm"
}
t_case df-shows-the-limit df_shows_limit
rm -f "$M"/*

# ext4's answer to the same calls when full (16 MiB of data blocks, no
# reserve; made before the first mount); without a loop device, what it
# answered when this test was written
ext4_full() {
	if [ -n "$EXT4" ]; then
		py_fill "$EXT4/big"
	else
		echo "write ENOSPC close ok read ok create ok write-new ENOSPC"
	fi
}
past_limit() {
	local out ext i
	ext=$(ext4_full)
	t_log "ext4: $ext"
	out=$(py_fill "$M/big")
	t_log "mount: $out"
	t_eq "$out" "$ext" "what the mount did at its limit (ext4's when full)"
	i=$(t_size "$M/big")
	[ "$i" -ge $((15 * MIB)) ] && [ "$i" -le $((16 * MIB)) ] ||
		t_fail "big has $i bytes, not 15 to 16 MiB"
	t_eq "$(dfb avail)" 0 "df avail at the limit"
	# truncating gives the bytes back, and they can be written again
	truncate -s 8M "$M/big"
	near "df used after a truncate" $((8 * MIB)) "$(dfb used)"
	put c 4
	# fallocate counts what it reserves, and is refused past the limit
	fallocate -l 2M "$M/fa"
	near "df used after fallocate" $((14 * MIB)) "$(dfb used)"
	t_expect_err "No space left on device" fallocate -l 8M "$M/fb"
	near "df used after a refused fallocate" $((14 * MIB)) "$(dfb used)"
}
t_case writes-past-the-limit-get-enospc-as-on-ext4 past_limit
rm -f "$M"/*

# a rename over a file and an overwrite give its bytes back
rename_over() {
	put r1 4
	put r2 4
	mv "$M/r2" "$M/r1"
	near "df used after mv over" $((4 * MIB)) "$(dfb used)"
	dd if=/dev/urandom of="$M/r1" bs=1M count=2 status=none
	near "df used after an O_TRUNC rewrite" $((2 * MIB)) "$(dfb used)"
	rm "$M/r1"
}
t_case rename-over-gives-bytes-back rename_over
rm -f "$M"/*
put keep1 5
t_umount_check

# the count survives a restart: the start's scan finds it again
t_remount
counted_again() {
	local i
	for ((i = 0; i < 50; i++)); do
		grep -q 'usage: .* counted' "$T/log" && break
		sleep 0.1
	done
	near "df used after a remount" $((5 * MIB)) "$(dfb used)"
	rm "$M/keep1"
}
t_case usage-counted-at-start counted_again
t_umount_check

# --- a device's own max_size ----------------------------------------------
# (verify=no: no checksum record, whose block would make 4 files of 1 MiB
# take a little more than 4 MiB, and the fourth one fail)
t_mount "$T_SRC" -o max_size.0=4M,verify=no
per_device() {
	local i on0=() d cap1
	# names the hash puts on device 0
	for ((i = 0; i < 200 && ${#on0[@]} < 8; i++)); do
		: >"$M/h$i"
		[ "$(t_device_of "h$i")" != 0 ] || on0+=("h$i")
		rm "$M/h$i"
	done
	t_eq "${#on0[@]}" 8 "names found for device 0"
	for i in "${on0[@]}"; do
		put "$i" 1
	done
	for ((i = 0; i < 8; i++)); do
		d=$(t_device_of "${on0[i]}")
		if [ "$i" -lt 4 ]; then
			t_eq "$d" 0 "device of ${on0[i]} (device 0 had room)"
		else
			t_eq "$d" 1 "device of ${on0[i]} (device 0 at its max_size)"
		fi
	done
	# a write that grows a file on device 0 past its max_size
	t_expect_err "No space left on device" \
		dd if=/dev/zero of="$M/${on0[0]}" bs=1M count=1 \
		oflag=append conv=notrunc status=none
	# df: device 0 counts for its max_size, device 1 for its size
	cap1=$(df -B1 --output=size "$T/b1" | tail -1 | tr -d ' ')
	t_eq "$(dfb size)" $((cap1 / 4096 * 4096 + 4 * MIB)) "df size"
	rm -f "$M"/h*
}
t_case device-max-size-spills per_device
t_umount_check

# --- eviction --------------------------------------------------------------
t_mount "$T_SRC" -o max_size=32M,evict_high=90,evict_low=75
lru() {
	local i
	for ((i = 0; i < 10; i++)); do
		put "r$i" 1
	done
	cat "$M/r0" >/dev/null		# read: stamped recently read
	for ((i = 0; i < 20; i++)); do
		put "f$i" 1
	done
	for ((i = 0; i < 50; i++)); do
		grep -q 'eviction: [1-9]' "$T/log" && break
		sleep 0.1
	done
	[ -e "$M/r0" ] || t_fail "r0, read after r1..r9 were written, was evicted"
	[ ! -e "$M/r1" ] || t_fail "r1, never read, was kept"
	[ -e "$M/f19" ] || t_fail "f19, the newest, was evicted"
	t_nowhere r1
	ls "$M" | grep -qx r1 && t_fail "r1 is still listed"
	rm -f "$M"/r* "$M"/f*
}
t_case evicts-least-recently-read lru

# a file being written (its writer has not closed it) is never evicted
# (once closed it may be, by a pass the puts below set off); one a reader
# holds open may be, and the reader still reads all of it
held() {
	local i
	put old 1
	exec 4<"$M/old"
	python3 - "$M/writing" "$T/go" <<'EOF' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"a" * (1 << 20))
open(sys.argv[2] + ".ready", "w").close()
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
os.write(fd, b"b" * (1 << 20))
# still its name's file, whole, as it closes (once closed it may go)
st, named = os.fstat(fd), os.stat(sys.argv[1])
print(st.st_size, "named" if named.st_ino == st.st_ino else "renamed",
      file=open(sys.argv[2] + ".size", "w"))
os.close(fd)
EOF
	T_PIDS+=($!)
	for ((i = 0; i < 100; i++)); do
		[ -e "$T/go.ready" ] && break
		sleep 0.05
	done
	for ((i = 0; i < 40; i++)); do
		put "g$i" 1
	done
	sleep 1
	[ -e "$M/writing" ] || t_fail "a file being written was evicted"
	: >"$T/go"
	wait "${T_PIDS[-1]}" || t_fail "the writer failed"
	t_eq "$(cat "$T/go.size")" "$((2 * MIB)) named" \
		"the written file as its writer closed it"
	[ ! -e "$M/old" ] || t_log "old was not evicted"
	t_eq "$(wc -c <&4)" "$MIB" "bytes of old read from a kept descriptor"
	exec 4<&-
	rm -f "$M"/g* "$M/writing" "$M/old"
}
t_case open-files-are-not-lost held
t_umount_check

# an LMCache-pattern client writes 3x the limit
t_mount "$T_SRC" -o max_size=48M,evict_high=80,evict_low=50
: >"$T/lm.out"
lmcache() {
	local out maxused low high u files n=0 rss1 rss2 end
	mkdir "$M/kv"
	out=$(python3 "$LMCLIENT" "$M/kv" 144 1 0) ||
		t_fail "the client failed: $out"
	t_log "client: $out"
	read -r _ _ _ _ _ misses _ maxused <<<"$out"
	[ "$misses" -gt 0 ] || t_fail "no misses: nothing was evicted"
	[ "$maxused" -le $((48 * MIB)) ] ||
		t_fail "df used $maxused went past the limit"
	low=$((48 * MIB / 100 * 50))
	high=$((48 * MIB / 100 * 80))
	# each pass that removed files left usage between the marks
	while read -r files u; do
		[ "$files" != 0 ] || continue
		n=$((n + 1))
		[ "$u" -lt "$high" ] || t_fail "a pass left usage $u (high $high)"
		[ "$u" -ge $((low - 2 * MIB)) ] ||
			t_fail "a pass left usage $u, well below the low mark $low"
	done < <(sed -n 's/.*eviction: \([0-9]*\) files.*usage \([0-9]*\) of.*/\1 \2/p' "$T/log")
	[ "$n" -gt 0 ] || t_fail "no eviction pass removed a file"
	t_log "$n passes removed files"
	# at rest, the next pass (usage is looked at every 100 ms) brings
	# df's used below the high mark, however loaded the machine is
	end=$((SECONDS + 10))
	until u=$(dfb used); [ "$u" -lt "$high" ]; do
		[ "$SECONDS" -lt "$end" ] ||
			t_fail "df used $u at rest, above the high mark after 10 s"
		sleep 0.1
	done
	files=$(getfattr --absolute-names --only-values \
		-n user.kvstripe.evicted "$M")
	t_log "user.kvstripe.evicted: $files"
	[ "${files%% *}" -gt 0 ] || t_fail "user.kvstripe.evicted counts no file"
	# kvstripe stats: the devices' evictions add up to the mount's (a
	# pass under way has counted its files per device first)
	"$KVSTRIPE" stats "$M" --json | python3 -c 'import json, sys
d = json.load(sys.stdin)
assert sum(x["evicted_files"] for x in d["devices"]) >= d["evicted_files"], d
assert sum(x["evicted_bytes"] for x in d["devices"]) >= d["evicted_bytes"], d
assert d["evicted_files"] > 0, d' || t_fail "per-device evictions do not add up"
	# the daemon's memory: a second round costs nothing lasting
	rss1=$(awk '/VmRSS/ {print $2}' "/proc/$T_PID/status")
	python3 "$LMCLIENT" "$M/kv" 144 1 1000 >/dev/null ||
		t_fail "the client failed in round 2"
	rss2=$(awk '/VmRSS/ {print $2}' "/proc/$T_PID/status")
	t_log "daemon RSS ${rss1} KiB after round 1, ${rss2} KiB after round 2"
	[ "$rss2" -le $((rss1 + 8192)) ] ||
		t_fail "daemon RSS grew from $rss1 to $rss2 KiB"
}
t_case lmcache-client-sees-only-misses lmcache
t_umount_check

# --- settings -------------------------------------------------------------
refused() {
	local out
	out=$("$KVSTRIPE" "$T_SRC" "$M" -f -o evict_high=90 2>&1) &&
		t_fail "started with evict_high alone"
	t_log "$out"
	out=$("$KVSTRIPE" "$T_SRC" "$M" -f -o evict_high=90,evict_low=50 2>&1) &&
		t_fail "started with eviction but no max_size"
	grep -q "need a 'max_size'" <<<"$out" || t_fail "message: $out"
	out=$("$KVSTRIPE" "$T_SRC" "$M" -f \
		-o max_size=1G,evict_high=50,evict_low=50 2>&1) &&
		t_fail "started with evict_low = evict_high"
	grep -q "must be below" <<<"$out" || t_fail "message: $out"
	out=$("$KVSTRIPE" "$T_SRC" "$M" -f -o max_size.5=1G 2>&1) &&
		t_fail "started with max_size for a device that is not there"
	grep -q "'max_size' is set for device 5" <<<"$out" || t_fail "message: $out"
	! t_is_mounted "$M" || t_fail "a refused start mounted"
}
t_case bad-settings-are-refused refused
