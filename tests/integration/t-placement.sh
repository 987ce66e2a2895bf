#!/usr/bin/env bash
#
# t-placement.sh - which backing directory a new file lands on.
#
# gpu<N>/ -> device N % D; LMCache key names (both formats) outside gpu<N>/
# -> worker_id % D; anything else -> one device by a stable hash, the same
# after a remount; -o gpus=2 over 4 devices keeps GPU 1 on devices 1 and 3;
# with -o gpus=1 over 2 devices, a file created while the other is being
# written goes to the idle device, and the writer counts go back to zero;
# [placement] rules in the INI come before all of that, and a bad one
# stops the start with FILE:LINE; kvstripe fsck -o config= judges
# placement with the same rules. (Today's LMCache and vLLM names:
# t-clients.sh.)

# group: quick

# shellcheck disable=SC2012 # ls output is what these tests check
. "$(dirname "$0")/lib.sh"

t_setup 3
M=$T/mnt

# gpu<N>/ directories
gpu_dirs() {
	local n
	for n in 0 1 2 3 4 5; do
		mkdir "$M/gpu$n"
		echo "gpu $n" >"$M/gpu$n/chunk"
		mkdir -p "$M/gpu$n/deep/er"
		t_rand "$M/gpu$n/deep/er/kv.bin" 12345
		t_eq "$(t_device_of "gpu$n/chunk")" $((n % 3)) "device of gpu$n/chunk"
		t_eq "$(t_device_of "gpu$n/deep/er/kv.bin")" $((n % 3)) \
			"device of gpu$n/deep/er/kv.bin"
		t_eq "$(cat "$M/gpu$n/chunk")" "gpu $n" "content of gpu$n/chunk"
	done
}
t_case gpu-dirs gpu_dirs
# an LMCache name below gpu<N>/ still follows the directory
lmcache_below_gpu() {
	echo x >"$M/gpu1/llama@8@2@a1b2c3@bfloat16.pt"
	t_eq "$(t_device_of "gpu1/llama@8@2@a1b2c3@bfloat16.pt")" 1 \
		"LMCache name below gpu1/"
}
T_AFTER=gpu-dirs t_case lmcache-name-below-gpu lmcache_below_gpu
# not gpu<digits>, or not top level: hashed, one device
not_gpu() {
	mkdir -p "$M/gpux" "$M/shared/gpu2"
	echo x >"$M/gpux/a@b"
	echo x >"$M/shared/gpu2/a@b"
	t_device_of "gpux/a@b" >/dev/null
	t_device_of "shared/gpu2/a@b" >/dev/null
}
t_case not-gpu-dirs-hashed not_gpu

# LMCache key names in a shared directory
lmcache_shared() {
	local w new old
	mkdir -p "$M/shared/kv"
	for w in 0 1 2 3 4 5 6 7; do
		new="llama@8@$w@a1b2c3d4@bfloat16.pt"
		old="vllm@llama@8@$w@a1b2c3d4.pt"
		t_rand "$M/shared/kv/$new" 4097
		t_rand "$M/shared/kv/$old" 511
		t_eq "$(t_device_of "shared/kv/$new")" $((w % 3)) "device of $new"
		t_eq "$(t_device_of "shared/kv/$old")" $((w % 3)) "device of $old"
	done
	t_eq "$(ls "$M/shared/kv" | wc -l)" 16 "files listed in shared/kv"
}
t_case lmcache-shared-dir lmcache_shared

# hashed placement: exactly one device, stable across remount; the
# devices chosen go to $T/dev_of for the check after the remount
hashed() {
	local i d used=()
	mkdir "$M/misc"
	: >"$T/dev_of"
	for i in $(seq 1 30); do
		echo "$i" >"$M/misc/file-$i.dat"
		d=$(t_device_of "misc/file-$i.dat")
		echo "$i $d" >>"$T/dev_of"
		used[d]=1
	done
	[ "${#used[@]}" -ge 2 ] ||
		t_fail "30 hashed files all landed on device(s) ${!used[*]}"
	for i in $(seq 1 30); do
		rm "$M/misc/file-$i.dat"
	done
}
t_case hashed-placement hashed
t_umount_check
t_remount
T_AFTER=gpu-dirs t_case gpu-dir-after-remount \
	t_eq "$(cat "$M/gpu4/chunk")" "gpu 4" "gpu4/chunk after remount"
hashed_again() {
	local i d
	while read -r i d; do
		echo "$i again" >"$M/misc/file-$i.dat"
		t_eq "$(t_device_of "misc/file-$i.dat")" "$d" \
			"device of misc/file-$i.dat after remount"
	done <"$T/dev_of"
}
T_AFTER=hashed-placement t_case hashed-after-remount hashed_again
t_umount_check

# a fourth device: old files stay reachable, parents made as needed
mkdir "$T/b3"
t_mount "$T_SOURCES,$T/b3"
fourth_device() {
	local n
	for n in 0 1 2 3 4 5; do
		t_eq "$(cat "$M/gpu$n/chunk")" "gpu $n" "gpu$n/chunk with 4 devices"
		t_eq "$(t_device_of "gpu$n/chunk")" $((n % 3)) "device of gpu$n/chunk with 4 devices"
	done
	echo new >"$M/gpu3/deep/er/new"
	t_eq "$(t_device_of gpu3/deep/er/new)" 3 "device of a new file in gpu3/ with 4 devices"
	t_eq "$(cat "$M/gpu3/deep/er/new")" new "content of gpu3/deep/er/new"
	t_eq "$(ls "$M/gpu3/deep/er" | tr '\n' ' ')" "kv.bin new " "ls gpu3/deep/er"
}
T_AFTER=gpu-dirs t_case fourth-device fourth_device
t_umount_check

# -o gpus=2 over 4 devices
t_mkback 4 c
t_mount "$T_SRC" -o gpus=2
gpus_2() {
	local n i d
	for n in 0 1 3; do
		mkdir "$M/gpu$n"
		declare -A seen=()
		for i in $(seq 1 40); do
			echo "$n $i" >"$M/gpu$n/chunk-$i"
			d=$(t_device_of "gpu$n/chunk-$i")
			[ $((d % 2)) = $((n % 2)) ] ||
				t_fail "gpu$n/chunk-$i on device $d, GPU $n owns only d % 2 == $((n % 2))"
			seen[$d]=1
		done
		t_eq "${#seen[@]}" 2 "devices used by 40 files of gpu$n (${!seen[*]})"
		unset seen
	done
}
t_case gpus-2-of-4-devices gpus_2
t_umount_check

# -o gpus=1 over 2 devices: new files go to the idle device
t_mkback 2 s
t_mount "$T_SRC" -o gpus=1
mkdir "$M/gpu0"
writers() {
	getfattr --absolute-names --only-values -n user.kvstripe.writers "$M"
}
t_case idle-writers t_eq "$(writers)" "0 0" "writers of an idle mount"
# A file counts from its creation to its first close; a shell would dup
# and close descriptors behind our back, so one process holds the pairs.
writer_counts() {
	python3 - "$M" "${T_BACK[@]}" <<'PY' || t_fail "writer counts (above)"
import os, sys
m, backs = sys.argv[1], sys.argv[2:]
def writers():
    return os.getxattr(m, "user.kvstripe.writers").decode()
def device(rel):
    return [i for i, b in enumerate(backs) if os.path.exists(f"{b}/{rel}")]
bad = []
def check(what, got, want):
    if got != want:
        bad.append(f"{what}: {got!r}, expected {want!r}")
for i in range(1, 21):
    a = os.open(f"{m}/gpu0/a{i}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    b = os.open(f"{m}/gpu0/b{i}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    da, db = device(f"gpu0/a{i}"), device(f"gpu0/b{i}")
    check(f"round {i}: devices of a and b while a is open", da == db, False)
    check(f"round {i}: writers with a and b open", writers(), "1 1")
    os.write(a, f"a {i}\n".encode())
    os.write(b, f"b {i}\n".encode())
    os.close(a)
    os.close(b)
check("writers after every close", writers(), "0 0")
fd = os.open(f"{m}/gpu0/a1", os.O_RDONLY)
check("a reader is no writer", writers(), "0 0")
os.close(fd)
fd = os.open(f"{m}/gpu0/new", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
d = device("gpu0/new")[0]
check("a new file counts on its device", writers(), "1 0" if d == 0 else "0 1")
os.close(fd)
check("a file closed unwritten", writers(), "0 0")
for line in bad:
    print("    " + line)
sys.exit(1 if bad else 0)
PY
}
t_case idle-device-and-writer-counts writer_counts
T_AFTER=idle-device-and-writer-counts t_case contents \
	t_eq "$(cat "$M/gpu0/a7") $(cat "$M/gpu0/b7")" "a 7 b 7" "contents"
t_case writers-at-end t_eq "$(writers)" "0 0" "writers at the end"
t_umount_check

# [placement] rules from the INI: tried before gpu<N>/ and the names; a
# path no rule places falls through to them
cat >"$T/rules.ini" <<'INI'
[placement]
rule = ^jobs/w([0-9]+)/
; the second rule only sees what the first did not place
rule = ^(x)?shard-([0-9]+)\.kv$
rule = ^gpu[0-9]+/pinned-([0-9]+)$
INI
t_mkback 3 r
t_mount "$T_SRC" -o config="$T/rules.ini"
rules() {
	local w
	for w in 0 1 2 3 4 7; do
		mkdir -p "$M/jobs/w$w/deep"
		t_rand "$M/jobs/w$w/deep/a@8@1@ff@half.pt" 5000
		t_eq "$(t_device_of "jobs/w$w/deep/a@8@1@ff@half.pt")" $((w % 3)) \
			"device of jobs/w$w/deep/a@8@1@ff@half.pt (the rule, not the name)"
	done
	mkdir -p "$M/gpu1"
	echo x >"$M/gpu1/pinned-5"
	t_eq "$(t_device_of gpu1/pinned-5)" 2 "a rule before gpu<N>/"
	echo x >"$M/gpu1/other"
	t_eq "$(t_device_of gpu1/other)" 1 "gpu<N>/ where no rule matches"
	# the first group did not take part: the rule does not place it
	echo x >"$M/shard-4.kv"
	t_device_of shard-4.kv >/dev/null
	echo x >"$M/m@4@2@ff@half.pt"
	t_eq "$(t_device_of m@4@2@ff@half.pt)" 2 "a name no rule matches"
}
t_case placement-rules rules
t_umount_check
# fsck takes the rules from the same file: with them nothing is
# misplaced; without, the names the rule placed off their worker's
# device are
fsck_rules() {
	local with without
	with=$(t_fsck misplaced -o config="$T/rules.ini")
	t_eq "$with" "" "misplaced files with the rules"
	without=$(t_fsck misplaced | tr '\n' ' ')
	t_eq "$without" "gpu1/pinned-5 jobs/w0/deep/a@8@1@ff@half.pt jobs/w2/deep/a@8@1@ff@half.pt jobs/w3/deep/a@8@1@ff@half.pt " \
		"misplaced files without the rules"
}
T_AFTER=placement-rules t_case fsck-uses-the-rules fsck_rules

# a bad rule stops the start with FILE:LINE, and nothing is mounted
bad_rule() {
	local out rc=0
	printf '[placement]\nrule = ^a/([0-9]+)/\nrule = w([0-9]+\n' >"$T/bad.ini"
	out=$("$KVSTRIPE" "$T_SRC" "$M" -f -o config="$T/bad.ini" 2>&1) || rc=$?
	t_eq "$rc" 1 "exit status with a bad rule"
	case $out in
	*"$T/bad.ini:3: invalid value for 'rule': pattern 'w([0-9]+': "*) ;;
	*) t_fail "no FILE:LINE message for the bad rule: $out" ;;
	esac
	! mountpoint -q "$M" || t_fail "mounted despite a bad rule"
	printf '[placement]\nrule = ^a/[0-9]+/\n' >"$T/bad.ini"
	out=$("$KVSTRIPE" "$T_SRC" "$M" -f -o config="$T/bad.ini" 2>&1) || rc=$?
	case $out in
	*"$T/bad.ini:2: "*"no capture group"*) ;;
	*) t_fail "no FILE:LINE message for a rule without a group: $out" ;;
	esac
}
t_case bad-rule-refused bad_rule
