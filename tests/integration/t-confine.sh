#!/usr/bin/env bash
#
# t-confine.sh - the daemon never leaves its backing directories: symlinks
# planted by hand at every depth of both devices (a top-level gpu<N>, a
# middle directory, a final file name; absolute and ../.. targets) and
# bind mounts planted as directories, driven through by every operation a
# client has, as root and as nobody; afterwards the canary trees outside
# are unchanged and nothing new exists outside. Planted hard links: the
# daemon reads and writes the same inode (docs/design.md "Confinement").
# Run twice: with openat2 and with the component walk
# (KVSTRIPE_TEST_NO_OPENAT2=1).

# group: fault

. "$(dirname "$0")/lib.sh"

t_init
t_mkback 2
M=$T/mnt
B0=$T/b0
B1=$T/b1
C=$T/canary		# symlink targets
P=$T/mpc		# bind-mounted into the backing directories
H=$T/hlc		# hard-link targets
OPS=$T/ops.log

# --- canaries ----------------------------------------------------------------
mkdir -p "$C/sub" "$C/empty" "$P/sub" "$P/empty" "$H"
for d in "$C" "$P"; do
	echo secret >"$d/secret"
	echo inner >"$d/sub/file"
	chmod 0644 "$d/secret" "$d/sub/file"
	touch -d '2001-02-03 04:05:06' "$d/secret" "$d/sub/file" "$d/sub" \
		"$d/empty" "$d"
done
echo linked >"$H/f0"
echo linked >"$H/f1"
chmod 0644 "$H/f0" "$H/f1"

# Everything outside the mount and the backing directories, with what stat
# says of it (no access times) and the content of every file.
t_outside() {
	local skip=(\( -path ./mnt -o -path ./b0 -o -path ./b1 -o -path ./hlc
		-o -path ./ops.log -o -path ./log -o -path './snap*' \) -prune)
	cd "$T"
	find . "${skip[@]}" -o ! -path . \
		-printf '%p %y %m %U %G %s %T@ %C@ %n %l\n' | sort
	find . "${skip[@]}" -o -type f -print0 | sort -z | xargs -0 sha256sum
	# the hard-link targets: their link counts and ctimes may change
	find hlc -printf '%p %y %m %U %G %s %T@\n' | sort
	find hlc -type f -print0 | sort -z | xargs -0 sha256sum
}

# --- what is planted ---------------------------------------------------------
# gpu0 lives on device 0, gpu1 on 1, gpu2 on 0, gpu3 on 1 (N % 2).
layout() {
	mkdir "$M/gpu0" "$M/gpu1" "$M/gpu2" "$M/gpu3"
	mkdir -p "$M/gpu2/mid/deep" "$M/gpu3/mid/deep" "$M/gpu2/mp" \
		"$M/gpu3/mp"
	chmod 1777 "$M/gpu0" "$M/gpu1" "$M/gpu2" "$M/gpu3" "$M/gpu2/mid" \
		"$M/gpu3/mid" "$M/gpu2/mid/deep" "$M/gpu3/mid/deep"
	echo control >"$M/gpu2/control"
	echo control >"$M/gpu3/control"
	# mkdir made each directory on device 0 only: a copy on device 1
	# too, as the planting expects (a planted link then never stands
	# alone for its name): a file placed below it there, or renamed in
	# from device 1 (a rename keeps a file on its device)
	for d in gpu1 gpu3/mid/deep gpu3/mp; do
		: >"$M/$d/.copy"
		rm "$M/$d/.copy"
	done
	for d in gpu0 gpu2/mid/deep gpu2/mp; do
		: >"$M/gpu1/.copy"
		mv "$M/gpu1/.copy" "$M/$d/.copy"
		rm "$M/$d/.copy"
	done
	for d in gpu0 gpu1 gpu2/mid/deep gpu2/mp gpu3/mid/deep gpu3/mp; do
		t_eq "$(t_copies "$d")" "0 1" "copies of $d"
	done
}

plant() {
	# a top-level gpu<N> (absolute on device 0, relative on device 1)
	rmdir "$B0/gpu0" && ln -s "$C" "$B0/gpu0"
	rmdir "$B1/gpu1" && ln -s ../canary "$B1/gpu1"
	# a middle directory
	rm -r "$B0/gpu2/mid" && ln -s ../../canary "$B0/gpu2/mid"
	rm -r "$B1/gpu3/mid" && ln -s "$C" "$B1/gpu3/mid"
	# a final file name
	ln -s "$C/secret" "$B0/gpu2/flink"
	ln -s ../../canary/secret "$B1/gpu3/flink"
	# hard links to files outside
	ln "$H/f0" "$B0/gpu2/hlink"
	ln "$H/f1" "$B1/gpu3/hlink"
}
T_MP=0
plant_mounts() {
	mount --bind "$P" "$B0/gpu2/mp" 2>/dev/null || return 0
	mount --bind "$P" "$B1/gpu3/mp" || { umount "$B0/gpu2/mp"; return 0; }
	T_MP=1
}

placement() {
	t_eq "$(t_device_of gpu2/control)" 0 "device of gpu2/control"
	t_eq "$(t_device_of gpu3/control)" 1 "device of gpu3/control"
}

# --- what a client does ------------------------------------------------------
# t_ops AS DIR: every operation through directory DIR (a path below the
# mount whose copy on some device is planted), run as root (AS empty) or
# nobody; their results are logged, not checked: what counts is what they
# leave outside.
t_ops() {
	local run=() d=$2
	[ -z "$1" ] || run=(t_as_nobody)
	# where the client's kernel sees a symlink, it follows it itself, with
	# the caller's rights: not the daemon's doing, and root's to do
	case $(readlink -f -- "$d") in
	"$M"/*) ;;
	*)	[ -n "$1" ] || return 0 ;;
	esac
	{
		printf '### %s as %s\n' "$d" "${1:-root}"
		"${run[@]}" bash -c '
		d=$1
		cat "$d/secret" "$d/sub/file"
		echo new >"$d/new"
		echo more >>"$d/secret"
		echo more >>"$d/sub/file"
		for i in 0 1 2 3 4 5 6 7; do echo "$i" >"$d/f$i"; done
		touch "$d/secret" "$d/touched" "$d/sub"
		touch -d "2020-01-01" "$d/secret" "$d/sub/file" "$d/empty"
		truncate -s 0 "$d/secret"
		truncate -s 1M "$d/sub/file"
		dd if=/dev/zero of="$d/sub/file" bs=4096 count=1 conv=notrunc oflag=direct
		mkdir "$d/newdir" "$d/sub/newdir"
		mkfifo "$d/fifo" "$d/sub/fifo"
		mknod "$d/null" c 1 3
		ln "$d/secret" "$d/hard"
		ln "$d/sub/file" "$d/sub/hard"
		ln -s /etc/passwd "$d/sym"
		ln -s ../secret "$d/sub/sym"
		cp /etc/hostname "$d/copied"
		chmod 0777 "$d/secret" "$d/sub" "$d/sub/file" "$d/empty"
		chown nobody:nogroup "$d/secret" "$d/sub" "$d/sub/file"
		setfattr -n user.planted -v 1 "$d/secret"
		setfattr -n user.planted -v 1 "$d/sub"
		setfattr -x user.absent "$d/sub/file"
		setfacl -m u:nobody:rwx "$d/sub"
		getfattr -d "$d/secret" "$d/sub"
		ls -la "$d" "$d/sub"
		stat "$d/secret" "$d/sub" "$d/empty"
		find "$d"
		du -a "$d"
		mv "$d/sub/file" "$d/moved"
		mv "$d/secret" "$d/sub/renamed"
		mv "$d/sub" "$d/sub2"
		mv -T "$d/empty" "$d/empty2"
		rm -f "$d/secret" "$d/sub/file"
		rm -rf "$d/sub"
		rmdir "$d/empty"
		# last: a fresh lookup of $d may then find the planted link
		mv "$d" "$d.moved"
		true' ops "$d"
	} >>"$OPS" 2>&1 || true
}

# t_link_ops AS LINK: what can be done to a symlink planted at a final
# name. Root's commands that follow a symlink are the client's own, done
# by its kernel with its rights: only nobody runs those.
t_link_ops() {
	local run=() l=$2
	[ -z "$1" ] || run=(t_as_nobody)
	{
		printf '### %s as %s\n' "$l" "${1:-root}"
		"${run[@]}" bash -c '
		l=$1
		ls -l "$l"
		stat "$l"
		readlink "$l"
		getfattr -h -d "$l"
		setfattr -h -n user.planted -v 1 "$l"
		touch -h -d 2020-01-01 "$l"
		chown -h nobody:nogroup "$l"
		ln "$l" "$l.hard"
		cp -P "$l" "$l.copy"
		find "$(dirname "$l")" -name "$(basename "$l")*"
		if [ "$(id -u)" != 0 ]; then
			cat "$l"
			echo more >>"$l"
			truncate -s 0 "$l"
			chmod 0777 "$l"
			setfattr -n user.planted -v 1 "$l"
		fi
		mv "$l.hard" "$l.moved"
		rm -f "$l.moved" "$l.copy"
		true' ops "$l"
	} >>"$OPS" 2>&1 || true
}

# The mount keeps what it saw before the links were planted (directories)
# for an hour: every operation below them comes to the daemon by inode,
# as in a mount that was in use when someone planted them.
T_CACHED=(-o entry_timeout=3600,attr_timeout=3600)

# The timeouts only say how long the kernel may trust a name it holds; it
# drops an unused one whenever it reclaims memory, and at once on a
# drop_caches (other tests on the machine run it). Looked up afresh,
# gpu2/mid and gpu3/mid show as the symlinks they are (their links are on
# the devices looked at first, their own), and the client's kernel follows
# one itself, with the client's rights: a cat by root then reads the
# canary without asking the daemon, which proves nothing about it. So a
# process sits in each planted directory (in deep/ below a middle one)
# from before the links are planted: a name in use is never dropped.
T_PINS=()
pin() {
	local d here=$PWD
	for d in gpu0 gpu1 gpu2/mid/deep gpu3/mid/deep gpu2/mp gpu3/mp; do
		cd "$M/$d" || t_fail "cannot pin $d"
		# the fork takes the working directory: held once $! is set
		sleep 3600 >/dev/null 2>&1 &
		T_PINS+=("$!")
		T_PIDS+=("$!")
	done
	cd "$here" || t_fail "cannot go back to $here"
}

unpin() {
	local p keep=()
	kill "${T_PINS[@]}"
	wait "${T_PINS[@]}" 2>/dev/null || true
	for p in "${T_PIDS[@]}"; do
		[[ " ${T_PINS[*]} " == *" $p "* ]] || keep+=("$p")
	done
	T_PIDS=("${keep[@]}") T_PINS=()
}

# --- cases -------------------------------------------------------------------
shows_as_is() {
	local d
	for d in 2 3; do
		[ -L "$M/gpu$d/flink" ] ||
			t_fail "gpu$d/flink does not show as a symlink"
	done
	t_eq "$(readlink "$M/gpu2/flink")" "$C/secret" "gpu2/flink's target"
	t_eq "$(readlink "$M/gpu3/flink")" ../../canary/secret \
		"gpu3/flink's target"
	# the kernel still holds what the planted links replaced (pin) ...
	for d in gpu0 gpu1 gpu2/mid gpu3/mid; do
		[ -d "$M/$d" ] && [ ! -L "$M/$d" ] ||
			t_fail "$d no longer shows as the directory it was"
	done
	# and the daemon does not look through them
	t_expect_err "Too many levels of symbolic links" cat "$M/gpu0/secret"
	t_expect_err "Too many levels of symbolic links" cat "$M/gpu1/sub/file"
	t_expect_err "Too many levels of symbolic links" cat "$M/gpu2/mid/secret"
	t_expect_err "Too many levels of symbolic links" touch "$M/gpu0/x"
	t_expect_err "Too many levels of symbolic links" mkdir "$M/gpu3/mid/x"
	if [ "$T_MP" = 1 ]; then
		t_expect_err "Invalid cross-device link" cat "$M/gpu2/mp/secret"
		t_expect_err "Invalid cross-device link" touch "$M/gpu3/mp/x"
		t_expect_err "Invalid cross-device link" chmod 0777 "$M/gpu2/mp"
	fi
	# a hard link is the same inode: its data shows
	t_eq "$(cat "$M/gpu2/hlink")" linked "gpu2/hlink's content"
}

drive_through() {
	local who d
	for who in nobody ""; do
		for d in gpu2/mid/deep gpu3/mid/deep gpu2/mid gpu3/mid \
			gpu2/mp gpu3/mp gpu0 gpu1; do
			t_ops "$who" "$M/$d"
		done
		t_link_ops "$who" "$M/gpu2/flink"
		t_link_ops "$who" "$M/gpu3/flink"
	done
	# a planted hard link: nobody cannot write the file (its mode says
	# so), and removing the name through the mount leaves the file
	t_as_nobody bash -c "echo more >>'$M/gpu2/hlink'" 2>/dev/null &&
		t_fail "nobody wrote through a hard link to a 0644 root file"
	rm "$M/gpu2/hlink" "$M/gpu3/hlink"
	t_eq "$(cat "$H/f0")" linked "f0 after its planted link went"
	t_eq "$(stat -c %h "$H/f0")" 1 "f0's link count"
	mountpoint -q "$M" || t_fail "the mount went away"
}

outside_unchanged() {
	t_outside >"$T/snap.after"
	diff "$T/snap.before" "$T/snap.after" >&2 ||
		t_fail "something outside the backing directories changed"
}

logged_once() {
	local n dup
	# this mount's lines: from the last "=== mount" on
	awk '/^=== mount /{ n = 0 } { l[n++] = $0 } END { for (i = 0; i < n; i++) print l[i] }' \
		"$T/log" >"$T/snap.log"
	n=$(grep -c "refusing '" "$T/snap.log" || true)
	[ "$n" -gt 0 ] || t_fail "no refusal was logged"
	dup=$(grep -o "refusing '[^']*'" "$T/snap.log" | sort | uniq -d)
	[ -z "$dup" ] || t_fail "refusals logged more than once: $dup"
}

# One round: plant, drive through, check, unplant; @1 labels the cases.
round() {
	local tag=$1
	t_case "placement$tag" placement
	pin
	plant
	plant_mounts
	t_outside >"$T/snap.before"
	t_case "planted-links-show-as-they-are$tag" shows_as_is
	t_case "every-operation-through-them$tag" drive_through
	t_case "outside-unchanged$tag" outside_unchanged
	t_case "refusals-logged-once$tag" logged_once
	unpin
	[ "$T_MP" = 0 ] || umount -l "$B0/gpu2/mp" "$B1/gpu3/mp"
	t_umount_check
}

t_mount "$T_SRC" "${T_CACHED[@]}"
layout
round ""

# the same with the component walk a kernel without openat2 gets
rm -rf --one-file-system "$B0" "$B1"
t_mkback 2
export KVSTRIPE_TEST_NO_OPENAT2=1
t_mount "$T_SRC" "${T_CACHED[@]}"
t_case "walk-forced" grep -q "openat2 not used" "$T/log"
layout
round " (walk)"
