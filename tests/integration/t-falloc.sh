#!/usr/bin/env bash
#
# t-falloc.sh - fallocate(1) modes and SEEK_DATA/SEEK_HOLE give what ext4
# gives: same sizes, same content, same holes within the file.

# group: quick

. "$(dirname "$0")/lib.sh"

t_setup 2
M=$T/mnt
mkdir "$M/gpu1"

# fallocate modes, parity with ext4
modes() {
	local d
	t_rand "$T/pay" 5000
	for d in "$M/gpu1" "$T/ref"; do
		cp "$T/pay" "$d/f"
		fallocate -l 1048576 "$d/f"		# extends
		fallocate -n -o 2000000 -l 65536 "$d/f"	# keep size
		fallocate -p -o 100 -l 200 "$d/f"	# punch (keeps size)
		fallocate -z -o 1048000 -l 10000 "$d/f"	# zero range, extends
	done
	t_eq "$(t_size "$M/gpu1/f")" "$(t_size "$T/ref/f")" "size after fallocate"
	t_cmp "$M/gpu1/f" "$T/ref/f"
	t_eq "$(t_device_of gpu1/f)" 1 "device of gpu1/f"
}
t_case fallocate-modes modes

# SEEK_DATA / SEEK_HOLE
seeks() {
	python3 - "$1" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.pwrite(fd, b"x" * 5000, 1 << 20)
out = []
for off in (0, 4096, 1 << 20, (1 << 20) + 4999, (1 << 20) + 5000, 1 << 30):
    for how, name in ((os.SEEK_DATA, "data"), (os.SEEK_HOLE, "hole")):
        try:
            out.append(f"{name}@{off}={os.lseek(fd, off, how)}")
        except OSError as e:
            out.append(f"{name}@{off}={e.strerror}")
os.close(fd)
print(" ".join(out))
PY
}
seek_data_hole() {
	t_eq "$(seeks "$M/gpu1/sparse")" "$(seeks "$T/ref/sparse")" "lseek results"
}
t_case seek-data-hole seek_data_hole
t_umount_check
