#!/usr/bin/env bash
#
# run.sh - run the kvstripe integration tests, each in its own process.
#
#   tests/integration/run.sh              every t-*.sh
#   tests/integration/run.sh tree dd      t-tree.sh and t-dd.sh only
#
# Prints PASS/FAIL/SKIP per test (the tail of a failed test's output below
# it) and ends with "N passed, N failed, N skipped"; exits 1 if any failed.
# Each test gets T_TIMEOUT seconds (default 300).

set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
timeout_s=${T_TIMEOUT:-300}

tests=()
if [ $# -eq 0 ]; then
	for t in "$here"/t-*.sh; do
		[ -e "$t" ] && tests+=("$t")
	done
else
	for a in "$@"; do
		a=${a##*/}
		a=${a%.sh}
		a=${a#t-}
		if [ ! -f "$here/t-$a.sh" ]; then
			echo "run.sh: no test '$a' in $here" >&2
			exit 2
		fi
		tests+=("$here/t-$a.sh")
	done
fi

outdir=$(mktemp -d /tmp/kvstripe-run.XXXXXX)
trap 'rm -rf "$outdir"' EXIT

pass=0 fail=0 skip=0
failed=()
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	out=$outdir/$name.out
	start=$SECONDS
	# timeout runs the test in a process group of its own and signals the
	# whole group, so a test stuck on a hung mount still runs its trap.
	timeout -k 15 "$timeout_s" bash "$t" </dev/null >"$out" 2>&1
	rc=$?
	secs=$((SECONDS - start))
	case $rc in
	0)
		pass=$((pass + 1))
		printf 'PASS %-16s %3ss\n' "$name" "$secs" ;;
	77)
		skip=$((skip + 1))
		printf 'SKIP %-16s %3ss  %s\n' "$name" "$secs" \
			"$(grep -m1 '^SKIP:' "$out" | cut -c7-)" ;;
	*)
		fail=$((fail + 1))
		failed+=("$name")
		why="status $rc"
		[ "$rc" = 124 ] || [ "$rc" = 137 ] && why="timed out after ${timeout_s}s"
		printf 'FAIL %-16s %3ss  (%s)\n' "$name" "$secs" "$why"
		tail -n 60 "$out" | sed 's/^/    /' ;;
	esac
done

[ "${#failed[@]}" -eq 0 ] || echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
