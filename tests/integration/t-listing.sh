#!/usr/bin/env bash
#
# t-listing.sh - directory listings: the kernel caches them (no opendir
# round trips), the daemon merges every device's copy. Large listings over
# many READDIR requests, listings while other names come and go, telldir/
# seekdir, the dots, and changes made behind the mount's back showing up
# once the attribute timeout has passed. A listing window of 200 entries
# makes the 3000-name directory take 15 windows, and more readers than a
# directory keeps windows for walk it at once.

# group: slow

. "$(dirname "$0")/lib.sh"

t_setup 2 -o attr_timeout=0.3,entry_timeout=0.3,listing_window=200
M=$T/mnt

# listed NAME DIR: ls shows NAME in DIR (no pipe into grep -q: pipefail)
listed() {
	ls -A "$2" >"$T/listed"
	grep -qx -- "$1" "$T/listed"
}

# 1. 3000 names spread over both devices, listed by several tools
big_listing() {
	local on0 on1 i
	mkdir "$M/big"
	python3 - "$M/big" <<'EOF'
import os, sys
d = sys.argv[1]
for i in range(3000):
    os.close(os.open(os.path.join(d, "f%05d" % i), os.O_CREAT | os.O_WRONLY, 0o644))
os.mkdir(os.path.join(d, "sub"))
EOF
	on0=$(find "${T_BACK[0]}/big" -maxdepth 1 -type f | wc -l)
	on1=$(find "${T_BACK[1]}/big" -maxdepth 1 -type f | wc -l)
	[ "$on0" -gt 0 ] && [ "$on1" -gt 0 ] ||
		t_fail "placement did not spread big/ over both devices ($on0, $on1)"
	t_eq "$((on0 + on1))" 3000 "files on the devices"
	for i in 1 2; do	# the second listing comes from the kernel's cache
		t_eq "$(ls -f "$M/big" | sort | uniq -d | wc -l)" 0 "duplicate names"
		t_eq "$(ls -A "$M/big" | wc -l)" 3001 "ls -A count, round $i"
		t_eq "$(find "$M/big" -mindepth 1 | wc -l)" 3001 "find count"
	done
	t_eq "$(ls -fa "$M/big" | grep -cx '\.\.\?')" 2 "the dots"
	t_eq "$(stat -c %i "$M/big/sub/..")" "$(stat -c %i "$M/big")" "'..' of sub"
}
t_case big-listing big_listing

# 2. changes through the mount show at once, also in a cached listing
changes_show() {
	ls "$M/big" >/dev/null
	rm "$M/big/f00007"
	touch "$M/big/new"
	ls "$M/big" >"$T/after"
	! grep -qx f00007 "$T/after" || t_fail "removed name still listed"
	grep -qx new "$T/after" || t_fail "created name not listed"
	mv "$M/big/new" "$M/big/renamed"
	listed renamed "$M/big" || t_fail "renamed name not listed"
	rm "$M/big/renamed"
	touch "$M/big/f00007"
}
T_AFTER=big-listing t_case changes-show-at-once changes_show

# 3. names that stay are listed exactly once while others come and go
stable_names() {
	python3 - "$M/big" <<'EOF'
import os, sys, threading
d = sys.argv[1]
stable = {"f%05d" % i for i in range(3000)} | {"sub"}
stop = False

def churn():
    i = 0
    while not stop:
        p = os.path.join(d, "churn%d" % (i % 50))
        try:
            os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o644))
            os.unlink(p)
        except FileNotFoundError:
            pass
        i += 1

def reader(k, errors):
    for r in range(10):
        seen = {}
        with os.scandir(d) as it:
            for e in it:
                seen[e.name] = seen.get(e.name, 0) + 1
        dup = [n for n, c in seen.items() if c > 1]
        if dup:
            errors.append("reader %d round %d: listed twice: %s" % (k, r, dup[:5]))
        missing = stable - seen.keys()
        if missing:
            errors.append("reader %d round %d: stable names missing: %s" %
                          (k, r, sorted(missing)[:5]))

t = threading.Thread(target=churn)
t.start()
errors = []
try:
    readers = [threading.Thread(target=reader, args=(k, errors)) for k in range(6)]
    for x in readers:
        x.start()
    for x in readers:
        x.join()
finally:
    stop = True
    t.join()
if errors:
    sys.exit("\n".join(errors[:5]))
EOF
}
T_AFTER="big-listing changes-show-at-once" t_case stable-names-listed-once stable_names

# 4. telldir/seekdir: back to a remembered place, the same names follow
T_AFTER="big-listing changes-show-at-once" t_case telldir-seekdir perl -e '
	opendir(my $d, $ARGV[0]) or die "opendir: $!";
	readdir($d) for 1 .. 1000;
	my $pos = telldir($d);
	my @rest = readdir($d);
	seekdir($d, $pos);
	my @again = readdir($d);
	die "after seekdir: " . scalar(@again) . " names, not " . scalar(@rest) . "\n"
		unless "@again" eq "@rest";
	rewinddir($d);
	my @all = readdir($d);
	die "after rewinddir: " . scalar(@all) . " names\n" unless @all == 3003;
' "$M/big"

# 5. a listing that begins after a change sees it, also where readers
#    before it stopped in the middle of a window, which the daemon keeps:
#    changes through the mount at once, changes by hand on a device after
#    the attribute timeout. Each round leaves such windows all over the
#    directory, then replaces every name. Long names keep a getdents()
#    buffer from taking the whole directory at once.
replaced_names() {
	mkdir "$M/swap"
	python3 - "$M/swap" "${T_BACK[1]}/swap" <<'EOF'
import os, sys, time
d, back = sys.argv[1:]
names, gen, bad = set(), 0, []
pad = "-" + "x" * 200

def replace():
    global names, gen
    gen += 1
    new = {"g%d-%04d%s" % (gen, i, pad) for i in range(1000)}
    for n in names:
        os.unlink(os.path.join(d, n))
    for n in new:
        os.close(os.open(os.path.join(d, n), os.O_CREAT | os.O_WRONLY, 0o644))
    names = new

def stop_part_way():
    for stop in (150, 350, 550, 750):
        with os.scandir(d) as it:
            for _ in zip(range(stop), it):
                pass

def check(what, want):
    got = os.listdir(d)
    extra, missing = set(got) - want, want - set(got)
    if extra or missing or len(got) != len(want):
        bad.append("%s: %d listed, %d extra (%s), %d missing (%s)" %
                   (what, len(got), len(extra),
                    [n[:8] for n in sorted(extra)[:3]], len(missing),
                    [n[:8] for n in sorted(missing)[:3]]))

replace()
for r in range(2):
    stop_part_way()
    replace()
    check("round %d, through the mount" % r, names)
    stop_part_way()
    by_hand = {"h%d-%03d%s" % (r, i, pad) for i in range(200)}
    for n in by_hand:
        open(os.path.join(back, n), "w").close()
    time.sleep(0.5)
    check("round %d, made by hand" % r, names | by_hand)
    stop_part_way()
    for n in by_hand:
        os.unlink(os.path.join(back, n))
    time.sleep(0.5)
    check("round %d, removed by hand" % r, names)
if bad:
    sys.exit("\n".join(bad))
EOF
	rm -r "$M/swap"
}
t_case replaced-names replaced_names

# 6. changes made directly on a device show up after the attribute timeout
by_hand() {
	mkdir -p "${T_BACK[1]}/big"
	touch "${T_BACK[1]}/big/by-hand"
	sleep 0.5
	listed by-hand "$M/big" || t_fail "name created on a device not listed"
	rm "${T_BACK[1]}/big/by-hand"
	sleep 0.5
	! listed by-hand "$M/big" || t_fail "name removed on a device still listed"
}
T_AFTER=big-listing t_case names-made-by-hand by_hand

# 7. an empty directory, and one that exists on one device only
empty_dir() {
	mkdir "$M/empty"
	t_eq "$(ls -a "$M/empty" | tr '\n' ' ')" ". .. " "empty listing"
}
t_case empty-directory empty_dir
one_device_dir() {
	mkdir "${T_BACK[1]}/solo"
	touch "${T_BACK[1]}/solo/only"
	sleep 0.5
	listed solo "$M" || t_fail "directory made on one device not listed"
	t_eq "$(ls -a "$M/solo" | tr '\n' ' ')" ". .. only " "one-device listing"
	rm -r "$M/solo"
}
t_case one-device-directory one_device_dir
rm_r() {
	rm -r "$M/big"
	t_eq "$(ls -A "$M" | tr '\n' ' ')" "empty " "root after rm -r"
}
T_AFTER="big-listing replaced-names empty-directory one-device-directory" \
	t_case rm-r rm_r
t_umount_check
