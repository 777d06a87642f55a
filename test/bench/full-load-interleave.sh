#!/bin/bash
# full-load-interleave.sh REPEATS "ENV1" "ENV2" ... -- ARGS: runs full-load-profile.ts once per variant per repeat, interleaved (A B A B …).
reps=$1; shift; variants=(); while [ "$1" != "--" ]; do variants+=("$1"); shift; done; shift
for r in $(seq 1 $reps); do for v in "${variants[@]}"; do
  out=$(env $v npx tsx test/bench/full-load-profile.ts "$@" 2>/dev/null | tail -1); echo "rep $r [$v] $out $(cut -d' ' -f1-3 /proc/loadavg)"
done; done
