#!/usr/bin/env bash
#
# t-stats.sh - statistics: known reads and writes on gpu0/ and gpu1/ are
# counted on their devices (kvstripe stats --json), ENOSPC past a device's
# max_size counts as its error, --prometheus is well-formed text
# exposition format, -o stats_file is written and replaced by rename, the
# table and --watch, and a user other than root may read them.

# group: quick

. "$(dirname "$0")/lib.sh"

t_init
t_mkback 2
mkdir "$T/prom"
t_mount "$T_SRC" -o stats_file="$T/prom/kv.prom",stats_interval=1 \
	-o max_size.1=1M
M=$T/mnt
K=256k
KB=262144

stats_json() {
	"$KVSTRIPE" stats "$M" --json
}

# dev_value JSON DEV KEY: device DEV's KEY in the JSON statistics.
dev_value() {
	python3 -c 'import json, sys
d = json.loads(sys.argv[1])
print(d["devices"][int(sys.argv[2])][sys.argv[3]])' "$1" "$2" "$3"
}

# counted KEY DEV BEFORE AFTER EXPECTED: AFTER's KEY of DEV went up by
# EXPECTED since BEFORE
counted() {
	local was now
	was=$(dev_value "$3" "$2" "$1")
	now=$(dev_value "$4" "$2" "$1")
	t_eq "$((now - was))" "$5" "device $2 $1 since the first look"
}

mkdir "$M/gpu0" "$M/gpu1"

counts() {
	local before after
	before=$(stats_json)
	# 12 and 5 O_DIRECT writes of 256 KiB: one WRITE each
	dd if=/dev/urandom of="$M/gpu0/f" bs=$K count=12 oflag=direct status=none
	dd if=/dev/urandom of="$M/gpu1/g" bs=$K count=3 oflag=direct status=none
	t_eq "$(t_device_of gpu0/f) $(t_device_of gpu1/g)" "0 1" "placement"
	dd if="$M/gpu0/f" of=/dev/null bs=$K count=12 iflag=direct status=none
	dd if="$M/gpu1/g" of=/dev/null bs=$K count=3 iflag=direct status=none
	dd if="$M/gpu1/g" of=/dev/null bs=$K count=3 iflag=direct status=none
	after=$(stats_json)
	counted writes 0 "$before" "$after" 12
	counted write_bytes 0 "$before" "$after" $((12 * KB))
	counted reads 0 "$before" "$after" 12
	counted read_bytes 0 "$before" "$after" $((12 * KB))
	counted writes 1 "$before" "$after" 3
	counted write_bytes 1 "$before" "$after" $((3 * KB))
	counted reads 1 "$before" "$after" 6
	counted read_bytes 1 "$before" "$after" $((6 * KB))
	counted errors_eio 0 "$before" "$after" 0
	t_eq "$(dev_value "$after" 0 state)" ok "device 0 state"
	t_eq "$(dev_value "$after" 1 path)" "$(realpath "$T/b1")" "device 1 path"
	# the last minute's latency: every op, a p99 no smaller than p50
	python3 - "$after" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
for dev in d["devices"]:
    for op in ("read", "write"):
        n = dev[op + "_latency_samples"]
        p50 = dev[op + "_latency_p50_seconds"]
        p99 = dev[op + "_latency_p99_seconds"]
        assert (n > 0) == (p50 > 0), (dev["index"], op, n, p50)
        assert 0 <= p50 <= p99 < 60, (dev["index"], op, p50, p99)
assert d["devices"][0]["read_latency_samples"] >= 12
PY
}
t_case counts-per-device counts

enospc() {
	local before after
	before=$(stats_json)
	t_eq "$(dev_value "$before" 1 limit_bytes)" 1048576 "device 1 limit"
	if dd if=/dev/zero of="$M/gpu1/big" bs=1M count=2 oflag=direct \
		status=none 2>/dev/null; then
		t_fail "2 MiB fit in a 1 MiB max_size"
	fi
	after=$(stats_json)
	t_eq "$(($(dev_value "$after" 1 errors_enospc) > 0))" 1 \
		"device 1 errors_enospc after a write past its max_size"
	counted errors_enospc 0 "$before" "$after" 0
	python3 -c 'import json, sys
d = json.loads(sys.argv[1])
# with a max_size anywhere, every device is counted
assert all("used_bytes" in dev for dev in d["devices"])
assert d["devices"][0]["limit_bytes"] == 0' "$after"
	rm -f "$M/gpu1/big"
}
t_case enospc-counted enospc

# check_exposition FILE: every line of FILE is Prometheus text format
check_exposition() {
	python3 - "$1" <<'PY'
import re, sys
name = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
label = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
sample = re.compile(r"^(%s)(\{%s(?:,%s)*\})? (-?[0-9]+(?:\.[0-9]+)?)$"
                    % (name, label, label))
typed, helped, seen, current = {}, set(), set(), None
lines = open(sys.argv[1]).read().split("\n")
assert lines[-1] == "", "no final newline"
for line in lines[:-1]:
    m = re.match(r"^# HELP (%s) .+$" % name, line)
    if m:
        assert m.group(1) not in helped, "HELP twice: " + line
        helped.add(m.group(1))
        continue
    m = re.match(r"^# TYPE (%s) (counter|gauge)$" % name, line)
    if m:
        fam = m.group(1)
        assert fam not in typed, "TYPE twice: " + line
        assert fam not in seen, "TYPE after samples: " + line
        assert m.group(2) != "counter" or fam.endswith("_total"), line
        typed[fam] = m.group(2)
        current = fam
        continue
    m = sample.match(line)
    assert m, "bad line: %r" % line
    assert m.group(1) == current, "sample outside its family: " + line
    seen.add(m.group(1))
    assert m.group(1).startswith("kvstripe_"), line
for need in ("kvstripe_device_read_bytes_total",
             "kvstripe_device_write_bytes_total",
             "kvstripe_device_errors_total", "kvstripe_device_state",
             "kvstripe_device_read_latency_seconds"):
    assert need in seen, "missing " + need
PY
}

prometheus() {
	local p json b0 want got
	p=$T/metrics
	"$KVSTRIPE" stats "$M" --prometheus >"$p"
	check_exposition "$p" || t_fail "kvstripe stats --prometheus: bad format"
	json=$(stats_json)
	b0=$(realpath "$T/b0")
	want=$(dev_value "$json" 0 read_bytes)
	got=$(grep "^kvstripe_device_read_bytes_total{device=\"0\",path=\"$b0\"} " "$p" |
		cut -d' ' -f2)
	t_eq "$got" "$want" "read_bytes_total of device 0"
	grep -q "^kvstripe_device_state{device=\"1\",path=\"$(realpath "$T/b1")\",state=\"ok\"} 1$" "$p" ||
		t_fail "device 1 not shown ok"
	if command -v promtool >/dev/null; then
		promtool check metrics <"$p" || t_fail "promtool check metrics"
	fi
}
t_case prometheus-format prometheus

# the file appears, is well formed, and each new one replaces the old by
# rename: a new inode, never a partial file seen by a reader
stats_file() {
	local f=$T/prom/kv.prom ino ino2 i n=0
	for ((i = 0; i < 50; i++)); do
		[ ! -e "$f" ] || break
		sleep 0.1
	done
	[ -e "$f" ] || t_fail "no $f after 5 s"
	check_exposition "$f" || t_fail "stats_file: bad format"
	t_eq "$(stat -c %a "$f")" 644 "stats_file mode"
	ino=$(stat -c %i "$f")
	# read it over and over while it is replaced: always whole
	for ((i = 0; i < 300; i++)); do
		tail -n 1 "$f" | grep -q '^kvstripe_device_used_bytes' ||
			t_fail "a read of $f saw a partial file"
		ino2=$(stat -c %i "$f")
		[ "$ino2" = "$ino" ] || n=$((n + 1))
		ino=$ino2
		sleep 0.01
	done
	[ "$n" -ge 1 ] || t_fail "$f was not replaced in 3 s (stats_interval=1)"
	t_eq "$(find "$T/prom" -name '*.tmp' | wc -l)" 0 "temporary files left"
}
t_case stats-file-replaced stats_file

table() {
	local out
	out=$("$KVSTRIPE" stats "$M")
	grep -q "^kvstripe $M: 2 devices, up " <<<"$out" || t_fail "table head: $out"
	grep -qE '^ +0 ok .* 3\.0M .*'"$(realpath "$T/b0")"'$' <<<"$out" ||
		t_fail "device 0 row: $out"
	out=$(timeout 2.5 "$KVSTRIPE" stats --watch 1 "$M") || [ $? = 124 ] ||
		t_fail "kvstripe stats --watch failed"
	[ "$(grep -c "^kvstripe $M:" <<<"$out")" -ge 2 ] ||
		t_fail "--watch 1 printed fewer than 2 tables in 2.5 s: $out"
	grep -q 'READS/s' <<<"$out" || t_fail "--watch shows no rates: $out"
}
t_case table-and-watch table

# a user who can read the mount's root can read its statistics
nobody() {
	local json
	json=$(t_as_nobody "$KVSTRIPE" stats "$M" --json) ||
		t_fail "kvstripe stats as nobody failed"
	t_eq "$(dev_value "$json" 0 state)" ok "device 0 state, as nobody"
}
t_case not-root nobody

usage() {
	local rc=0 err
	"$KVSTRIPE" stats >/dev/null 2>&1 || rc=$?
	t_eq "$rc" 2 "kvstripe stats without a mount point"
	rc=0
	err=$("$KVSTRIPE" stats "$T/ref" 2>&1) || rc=$?
	t_eq "$rc" 1 "kvstripe stats on a plain directory"
	t_eq "$err" "kvstripe stats: '$T/ref' is not the root of a kvstripe mount" \
		"its message"
	rc=0
	"$KVSTRIPE" stats --watch 0 "$M" >/dev/null 2>&1 || rc=$?
	t_eq "$rc" 2 "--watch 0"
}
t_case usage-errors usage

t_umount_check

# the last numbers are written at unmount
final() {
	check_exposition "$T/prom/kv.prom" || t_fail "final stats_file: bad format"
	grep -q '^kvstripe_device_writes_total{device="0",.*} 12$' "$T/prom/kv.prom" ||
		t_fail "final stats_file lacks device 0's 12 writes"
}
t_case stats-file-at-unmount final

# a relative stats_file is refused before mounting
relative() {
	local rc=0 err
	err=$("$KVSTRIPE" "$T_SRC" "$M" -f -o stats_file=kv.prom 2>&1) || rc=$?
	t_eq "$rc" 1 "exit status for a relative stats_file"
	t_eq "$err" "kvstripe: 'stats_file' must be an absolute path: 'kv.prom'" "its line"
}
t_case relative-stats-file relative
