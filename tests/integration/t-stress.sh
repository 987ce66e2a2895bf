#!/usr/bin/env bash
#
# t-stress.sh - many workers at once, as a KV cache has them: parallel
# chunk writers (buffered and O_DIRECT), large O_DIRECT readers (the kernel
# fans them out into parallel requests), create/unlink churn, the kernel
# forgetting every inode in the middle (drop_caches), and files and
# directories made and removed in several parents at once (churn.py).

# group: slow

. "$(dirname "$0")/lib.sh"

t_setup 3
M=$T/mnt
for g in 0 1 2 3; do mkdir "$M/gpu$g"; done
mkdir "$M/shared"

# 8 writers, 6 chunks each
writers() {
	t_rand "$T/chunk" $((8 * 1024 * 1024 + 4096 * 3 + 100))
	pids=()
	for w in 0 1 2 3 4 5 6 7; do
		(
			for c in 0 1 2 3 4 5; do
				f="$M/gpu$((w % 4))/w$w-c$c"
				if ((c % 2)); then
					dd if="$T/chunk" of="$f" bs=1M oflag=direct status=none
				else
					cp "$T/chunk" "$f"
				fi
			done
			for c in 0 1 2; do
				cp "$T/chunk" "$M/shared/llama@8@$w@c$c@bfloat16.pt"
			done
		) &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || t_fail "a writer failed"; done
}
t_case parallel-writers writers

# the kernel forgets everything, then 8 readers with 8 MiB O_DIRECT reads
readers() {
	sync
	echo 2 >/proc/sys/vm/drop_caches
	want=$(sha256sum <"$T/chunk" | cut -d' ' -f1)
	pids=()
	for w in 0 1 2 3 4 5 6 7; do
		(
			for f in "$M"/gpu$((w % 4))/w$w-* "$M"/shared/llama@8@$w@*; do
				got=$(dd if="$f" bs=8M iflag=direct status=none | sha256sum | cut -d' ' -f1)
				[ "$got" = "$want" ] || { echo "bad content: $f" >&2; exit 1; }
			done
		) &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || t_fail "a reader saw wrong data"; done
}
T_AFTER="parallel-writers" t_case direct-readers readers

# placement held under concurrency
placement() {
	for w in 0 1 2 3 4 5 6 7; do
		t_eq "$(t_device_of "gpu$((w % 4))/w$w-c0")" $(((w % 4) % 3)) "device of gpu$((w % 4))/w$w-c0"
		t_eq "$(t_device_of "shared/llama@8@$w@c0@bfloat16.pt")" $((w % 3)) "device of worker $w's key file"
	done
	t_eq "$(find "$M" -type f | wc -l)" $((8 * 6 + 8 * 3)) "files in the mount"
	# sum FORMAT DIR...: total of find's FORMAT over the files below DIR...
	sum() {
		local fmt=$1
		shift
		find "$@" -type f -printf "$fmt\n" | awk '{s += $1} END {print s}'
	}
	t_eq "$(sum %s "$M")" "$(sum %s "${T_BACK[@]}")" "bytes of the files, mount vs devices"
	t_eq "$(sum %b "$M")" "$(sum %b "${T_BACK[@]}")" "blocks of the files, mount vs devices"
	[ "$(sum %s "$M")" -gt $((72 * 8 * 1024 * 1024)) ] || t_fail "file sizes not summed"
}
T_AFTER="parallel-writers" t_case placement-under-concurrency placement

# create/unlink churn from 4 workers
churn() {
	pids=()
	for w in 0 1 2 3; do
		(
			for i in $(seq 1 300); do
				echo "$w $i" >"$M/shared/tmp-$w-$i"
				[ "$(cat "$M/shared/tmp-$w-$i")" = "$w $i" ] || exit 1
				rm "$M/shared/tmp-$w-$i"
			done
		) &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || t_fail "churn worker failed"; done
	t_eq "$(find "${T_BACK[@]}" -name 'tmp-*' | wc -l)" 0 "churn leftovers on the devices"
}
t_case create-unlink-churn churn

# evict everything with rm -r while the kernel forgets
echo 2 >/proc/sys/vm/drop_caches

# files and directories made and removed in several parents at once
churn_py() {
	mkdir "$M/churn"
	python3 "$T_ROOT/tests/integration/churn.py" "$M/churn" 8 >&2 ||
		t_fail "churn found an error or another file's data"
	rm -r "$M/churn"
}
t_case churn-py churn_py

all_removed() {
	rm -r "$M/gpu0" "$M/gpu1" "$M/gpu2" "$M/gpu3" "$M/shared"
	t_eq "$(ls -A "$M" | wc -l)" 0 "entries left in the mount"
	t_eq "$(find "${T_BACK[@]}" -mindepth 1 | wc -l)" 0 "entries left on the devices"
}
T_AFTER="churn-py" t_case all-removed all_removed
t_umount_check
