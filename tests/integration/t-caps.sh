#!/usr/bin/env bash
#
# t-caps.sh - security.capability: the kernel asks for it on every write
# and the daemon answers from a cache; setting, reading and the removal a
# write causes must still behave as on ext4.

# group: quick

. "$(dirname "$0")/lib.sh"

t_setup 2
caps() {
	python3 - "$1" <<'PY'
import os, struct, sys
p = sys.argv[1]
out = []
def get():
    try:
        return os.getxattr(p, "security.capability").hex()
    except OSError as e:
        return e.strerror
with open(p, "w") as f:
    f.write("x" * 5000)
out.append(get())                                   # none yet
v = struct.pack("<IIIII", 0x02000000, 1 << 10, 0, 0, 0)
os.setxattr(p, "security.capability", v)
out.append(get())                                   # the one set
with open(p, "a") as f:
    f.write("y")
out.append(get())                                   # a write drops it
os.setxattr(p, "security.capability", v)
os.removexattr(p, "security.capability")
out.append(get())
print(" ".join(out))
PY
}
capability() {
	local got
	got=$(caps "$T/mnt/f")
	t_eq "$got" "$(caps "$T/ref/f")" "security.capability on the mount vs ext4"
	case $got in
	"No data available 00000002"*) ;;
	*) t_fail "unexpected sequence: $got" ;;
	esac
}
t_case security-capability capability
t_umount_check
