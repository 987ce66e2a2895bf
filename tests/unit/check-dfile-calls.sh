#!/usr/bin/env bash
#
# check-dfile-calls.sh - the dfile module's calls go one way (core/dfile_i.h):
# dfile.c and dfile_read.c -> dfile_wb.c -> dfile_claim.c, dfile_ra.c ->
# dfio.c -> dfile_sum.c. From the
# objects' symbol tables: no file references a function defined in a file
# above it, and the two policies (write-behind with its claims, read-ahead)
# reference none of each other's.
#
#   tests/unit/check-dfile-calls.sh [BUILD]     (default build)

set -euo pipefail

obj=${1:-build}/core

defined() { nm --defined-only -g "$obj/$1.o" | awk '$2 == "T" { print $3 }'; }
used() { nm -u "$obj/$1.o" | awk '{ print $2 }'; }

bad=0
# file, then the files it must not call
while read -r file above; do
	for up in $above; do
		hits=$(comm -12 <(used "$file" | sort) <(defined "$up" | sort))
		if [ -n "$hits" ]; then
			echo "core/$file.c calls up into core/$up.c:" $hits
			bad=1
		fi
	done
done <<'LAYERS'
dfile_wb dfile dfile_read dfile_ra
dfile_claim dfile dfile_read dfile_wb dfile_ra
dfile_ra dfile dfile_read dfile_wb dfile_claim
dfio dfile dfile_read dfile_wb dfile_ra dfile_claim
dfile_sum dfile dfile_read dfile_wb dfile_ra dfile_claim dfio
LAYERS
[ "$bad" = 0 ] && echo "dfile calls go one way"
exit "$bad"
