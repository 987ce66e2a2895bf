#!/usr/bin/env bash
#
# t-clients.sh - the system calls of today's KV-cache clients
# (tests/clients/), several workers at once on a 3-device mount: LMCache's
# in-process LocalDiskBackend (buffered and O_DIRECT, layerwise and tagged
# keys), the multi-process server's fs and fs_native adapters (temporary
# file + replace, stat on lookup; .tmp names and relative_tmp_dir), and
# vLLM's fs offload tier (O_EXCL temporary + replace). Every byte they
# leave is checked, and every file must be on the device its rank names
# (user.kvstripe.device, and the backing directory that holds it); names
# with no rank (world_size 1) must spread. No temporary file is left.

# group: quick

. "$(dirname "$0")/lib.sh"

C=$T_ROOT/tests/clients
SIZE=$((256 * 1024))	# a multiple of 4096: O_DIRECT is used where asked
N=12			# keys per worker

t_setup 3
M=$T/mnt

# run_workers: run every "ARGS" line of stdin as "python3 $C/ARGS" at
# once, then wait for each; a worker that fails fails the case. The
# workers are this case's own: stopped by PID if the case ends early.
run_workers() {
	local line pids=() i rc=0 args
	trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
	i=0
	while read -r line; do
		read -ra args <<<"$line"
		python3 "$C/${args[0]}" "${args[@]:1}" >"$T/worker.$i" 2>&1 &
		pids+=($!)
		i=$((i + 1))
	done
	for ((i = 0; i < ${#pids[@]}; i++)); do
		if ! wait "${pids[i]}"; then
			sed 's/^/    /' "$T/worker.$i" >&2
			rc=1
		fi
	done
	trap - EXIT
	[ "$rc" = 0 ] || t_fail "a worker failed (above)"
}

# check_tree DIR SCHEME: every byte of every file below $M/DIR, then each
# file's device against the one its name's rank gives (check.py); files
# of no rank must use more than one device.
check_tree() {
	local rel want got back
	declare -A spread=()
	python3 "$C/check.py" "$M/$1" "$2" 3 "$SIZE" >"$T/expect" ||
		t_fail "content of $1 (above)"
	while read -r rel want; do
		got=$(getfattr --absolute-names --only-values \
			-n user.kvstripe.device "$M/$1/$rel")
		back=$(t_device_of "$1/$rel")
		[ "$got" = "$back" ] ||
			t_fail "$1/$rel: user.kvstripe.device says $got, but device $back holds it"
		if [ "$want" = - ]; then
			spread[$got]=1
		elif [ "$got" != "$want" ]; then
			t_fail "$1/$rel: on device $got, expected $want"
		fi
	done <"$T/expect"
	if grep -q ' -$' "$T/expect" && [ "${#spread[@]}" -lt 2 ]; then
		t_fail "$1: files without a rank all on device(s) ${!spread[*]}"
	fi
	t_log "$1: $(wc -l <"$T/expect") files checked"
}

# LMCache in-process: 4 workers of a TP4 instance in one shared
# directory, buffered, and 4 more with O_DIRECT, layerwise and tagged
inproc() {
	local w
	for w in 0 1 2 3; do
		echo "lmcache_inproc.py $M/lmc/local $w 4 $N $SIZE"
		echo "lmcache_inproc.py $M/lmc/local $w 4 $N $SIZE --odirect --layerwise --tags"
	done | run_workers
	check_tree lmc/local inproc
}
t_case lmcache-in-process inproc

# LMCache multi-process: a TP4 instance's 4 ranks (fs buffered, fs
# O_DIRECT, fs_native, fs with relative_tmp_dir), one rank of a second
# node (global rank 5, local rank 1), and two TP1 instances (world_size
# 1: no rank, spread by hash)
mp() {
	{
		echo "lmcache_mp.py $M/lmc/mp 4 0 4 0 $N $SIZE"
		echo "lmcache_mp.py $M/lmc/mp 4 1 4 1 $N $SIZE --odirect"
		echo "lmcache_mp.py $M/lmc/mp 4 2 4 2 $N $SIZE --native --salt tenant-a"
		echo "lmcache_mp.py $M/lmc/mp 4 3 4 3 $N $SIZE --native --odirect --tmp-dir tmp"
		echo "lmcache_mp.py $M/lmc/mp 8 5 4 1 $N $SIZE --tmp-dir tmp2"
		echo "lmcache_mp.py $M/lmc/mp 1 0 1 0 $N $SIZE --salt a"
		echo "lmcache_mp.py $M/lmc/mp 1 0 1 0 $N $SIZE --salt b --odirect"
	} | run_workers
	check_tree lmc/mp mp
}
t_case lmcache-multi-process mp

# vLLM's fs tier: 4 ranks under one root, two with O_DIRECT
vllm() {
	local r
	for r in 0 1 2 3; do
		if [ $((r % 2)) = 0 ]; then
			echo "vllm_fs.py $M/vllm $r $N $SIZE"
		else
			echo "vllm_fs.py $M/vllm $r $N $SIZE --buffered"
		fi
	done | run_workers
	check_tree vllm vllm
}
t_case vllm-fs-tier vllm

# all three at once, in fresh directories
together() {
	{
		echo "lmcache_inproc.py $M/all/local 1 2 $N $SIZE --odirect"
		echo "lmcache_inproc.py $M/all/local 2 3 $N $SIZE"
		echo "lmcache_mp.py $M/all/mp 2 1 2 1 $N $SIZE --odirect"
		echo "lmcache_mp.py $M/all/mp 2 0 2 0 $N $SIZE --native"
		echo "vllm_fs.py $M/all/vllm 2 $N $SIZE"
		echo "vllm_fs.py $M/all/vllm 4 $N $SIZE --buffered"
	} | run_workers
	check_tree all/local inproc
	check_tree all/mp mp
	check_tree all/vllm vllm
}
t_case all-clients-at-once together

# after a remount: the same bytes, and lookups still find every file
t_umount_check
t_remount
again() {
	check_tree lmc/mp mp
	check_tree vllm vllm
}
T_AFTER="lmcache-multi-process vllm-fs-tier" t_case after-remount again
t_umount_check
