#!/usr/bin/env bash
#
# demo.sh - show kvstripe at work: one logical KV-cache directory over two
# backing directories standing in for two NVMe drives.
#
#   bash tests/demo.sh [path/to/kvstripe]     (make demo does this)
#
# Everything lives in ./var/demo of the repository and is removed at the end.

set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/lib/mounts.sh
. "$root/tests/lib/mounts.sh"
bin=${1:-$root/build/kvstripe}
case $bin in
/*) ;;
*) bin=$PWD/$bin ;;
esac
[ -x "$bin" ] || { echo "demo: no kvstripe binary at $bin (run make)" >&2; exit 1; }
if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
	echo "demo: needs /dev/fuse and fusermount3 (apt-get install fuse3)" >&2
	exit 1
fi

demo=$root/var/demo
nvme0=$demo/nvme0 nvme1=$demo/nvme1 mnt=$demo/kvcache
pid=

cleanup() {
	local rc=$?
	set +e
	cd "$root"
	t_fuse_release "$mnt"
	if [ -n "$pid" ]; then
		t_stop "$pid"
		wait "$pid" 2>/dev/null
	fi
	rm -rf --one-file-system "$demo"
	rmdir "$root/var" 2>/dev/null
	exit "$rc"
}
trap cleanup EXIT

if [ -t 1 ]; then
	bold=$(printf '\033[1m') plain=$(printf '\033[0m')
else
	bold='' plain=''
fi
step() {
	printf '\n%s== %s%s\n' "$bold" "$*" "$plain"
}
show() {
	printf '$ %s\n' "$*"
	"$@"
}

rm -rf --one-file-system "$demo"
mkdir -p "$mnt"

step "mount two backing directories (think /mnt/nvme0/kv, /mnt/nvme1/kv) as one"
printf '$ mkdir -p %s %s\n' "${nvme0#"$root"/}" "${nvme1#"$root"/}"
mkdir -p "$nvme0" "$nvme1"
printf '$ kvstripe %s,%s %s -f &\n' "${nvme0#"$root"/}" "${nvme1#"$root"/}" "${mnt#"$root"/}"
"$bin" "$nvme0,$nvme1" "$mnt" -f 2>"$demo/daemon.log" &
pid=$!
t_wait_mount "$mnt" "$pid" || { cat "$demo/daemon.log" >&2; exit 1; }
mountpoint -q "$mnt" || { echo "demo: mount did not appear" >&2; exit 1; }
sed "s/^/  log: /; s#$root/##g" "$demo/daemon.log"
cd "$mnt"

step "each vLLM worker gets its own directory: kvcache/gpu0/, kvcache/gpu1/"
show mkdir gpu0 gpu1 shared

step "workers write KV-cache chunks (8 MiB chunks and odd-sized partial chunks)"
mib=$((1024 * 1024))
for g in 0 1; do
	for c in 0 1; do
		dd if=/dev/urandom of="gpu$g/chunk-$c.kv" bs=1M count=8 status=none
	done
	head -c $((3 * mib + 12345 * (g + 1))) /dev/urandom >"gpu$g/partial.kv"
done
# LMCache's own key names in one shared directory spread by worker id
for w in 0 1 2 3; do
	head -c $((mib + w)) /dev/urandom >"shared/llama3-8b@4@$w@5e1f2a9c@bfloat16.pt"
done
sha256sum gpu0/* gpu1/* shared/* >"$demo/sums"
echo "wrote $(wc -l <"$demo/sums") files"

step "read them back (O_DIRECT, as LMCache does) and check"
for f in gpu0/* gpu1/* shared/*; do
	dd if="$f" of=/dev/null bs=1M iflag=direct status=none
done
show sha256sum --quiet -c "$demo/sums" && echo "all checksums match"

step "one logical tree"
show ls -l . gpu0 gpu1 shared

step "... on two devices: gpu0/ went to nvme0, gpu1/ to nvme1, and the"
echo "   LMCache files to device worker_id % 2"
show ls -lR "$nvme0" "$nvme1" | sed "s#$root/##g"

step "space per device, and df of the mount (directories on one filesystem count once)"
show du -sh "$nvme0" "$nvme1" | sed "s#$root/##g"
show df -h "$mnt" | sed "s#$root/##g"

step "ask the mount where each file lives"
for f in gpu0/* gpu1/* shared/*; do
	printf '%-46s device %s  %s\n' "$f" \
		"$(getfattr --absolute-names -n user.kvstripe.device --only-values "$f")" \
		"$(getfattr --absolute-names -n user.kvstripe.path --only-values "$f" |
			sed "s#$root/##g")"
done

step "evict"
show rm gpu0/chunk-0.kv shared/llama3-8b@4@1@5e1f2a9c@bfloat16.pt

step "what the mount counted: per device, reads and writes, errors, latency, space"
printf '$ kvstripe stats %s\n' "${mnt#"$root"/}"
"$bin" stats "$mnt" | sed "s#$root/##g"
echo "   (kvstripe stats --json, --prometheus, --watch N; -o stats_file=PATH for node_exporter)"

step "unmount"
cd "$root"
show fusermount3 -u "$mnt"
rc=0
wait "$pid" || rc=$?
pid=
echo "kvstripe exited with status $rc"
[ "$rc" = 0 ]
