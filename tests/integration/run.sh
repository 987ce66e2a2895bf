#!/usr/bin/env bash
#
# run.sh - run the kvstripe integration tests, each in its own process.
#
#   tests/integration/run.sh              every t-*.sh
#   tests/integration/run.sh tree dd      t-tree.sh and t-dd.sh only
#   tests/integration/run.sh -g quick     the tests of group quick
#   KVSTRIPE_GROUPS="loopdev uring" tests/integration/run.sh
#                                         the tests of either group
#
# A test names its groups in a "# group: NAME..." line; -g (repeatable)
# or KVSTRIPE_GROUPS picks the tests with at least one of the groups
# given, and by default every test runs. Prints PASS/FAIL/SKIP per test
# with its cases' count (for a failed test, the names of its failed cases
# and the tail of its output below it) and ends with "N passed, N failed,
# N skipped", counting tests; exits 1 if any failed. Each test gets
# T_TIMEOUT seconds (default 300).

set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
timeout_s=${T_TIMEOUT:-300}

groups=${KVSTRIPE_GROUPS:-}
while getopts g: opt; do
	case $opt in
	g) groups+=" $OPTARG" ;;
	*) echo "usage: run.sh [-g GROUP]... [TEST]..." >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

# in_groups TEST: TEST's "# group:" line names one of $groups (or no
# group was asked for).
in_groups() {
	local g mine
	[ -n "${groups// /}" ] || return 0
	mine=$(sed -n 's/^# group:[[:space:]]*//p' "$1" | head -n 1)
	for g in $mine; do
		case " ${groups//,/ } " in *" $g "*) return 0 ;; esac
	done
	return 1
}

tests=()
if [ $# -eq 0 ]; then
	for t in "$here"/t-*.sh; do
		[ -e "$t" ] && in_groups "$t" && tests+=("$t")
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
		in_groups "$here/t-$a.sh" && tests+=("$here/t-$a.sh")
	done
fi
if [ "${#tests[@]}" -eq 0 ]; then
	echo "run.sh: no test in group(s)${groups}" >&2
	exit 2
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
	cases=$(sed -n 's/^# \([0-9]* cases\):.*/\1/p' "$out" | tail -n 1)
	case $rc in
	0)
		pass=$((pass + 1))
		printf 'PASS %-16s %3ss  %s\n' "$name" "$secs" "$cases" ;;
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
		grep '^not ok ' "$out" | sed 's/^/  /'
		tail -n 60 "$out" | sed 's/^/    /' ;;
	esac
done

[ "${#failed[@]}" -eq 0 ] || echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
