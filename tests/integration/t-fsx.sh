#!/usr/bin/env bash
#
# t-fsx.sh - seeded random I/O (buffered, O_APPEND, aligned and unaligned
# O_DIRECT, mmap, truncate, reopen) on the mount, checked against the same
# operations on ext4 and an in-memory model, on 512- and 4096-byte-aligned
# devices alike (the machine's disk probes as 512).

# group: slow

. "$(dirname "$0")/lib.sh"

t_setup 3
M=$T/mnt
mkdir "$M/gpu0" "$M/gpu1" "$M/gpu2" "$M/kv"

# one file per device, and several at once so the threads share nothing
t_case fsx t_fsx "" gpu0/a gpu1/b gpu2/c kv/d
t_umount_check
