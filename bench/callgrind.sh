#!/bin/sh
# Instruction counts of the benchmark's workloads under callgrind.
#
# Usage: bench/callgrind.sh BENCH_BIN SCALE OUTDIR [MARKDOWN_FILE]
#   CG_WORKLOADS="W1 W2 W3 W4"  CG_CONFIGS="bare triggers ..."  CG_JOBS=<parallel runs>
#
# One process per workload x configuration (callgrind counts a whole run):
# `bench --callgrind-one W C` under valgrind --tool=callgrind --instr-atstart=no,
# where bench turns instrumentation on around the timed part only (setup,
# W4's table filling and the checking of the logs are not counted). Counts
# are of instructions executed in user space: waiting for the disk (fsync)
# costs none. Prints Ir and the ratio to bare per workload; the
# callgrind.W.C.out files stay in OUTDIR for callgrind_annotate.
set -eu
bin=$1
scale=$2
out=$3
md=${4:-}
works=${CG_WORKLOADS:-"W1 W2 W3 W4"}
confs=${CG_CONFIGS:-"bare triggers session changes-same changes-attached queries both"}
jobs=${CG_JOBS:-$(nproc 2>/dev/null || echo 1)}

command -v valgrind >/dev/null || { echo "error: valgrind is missing (tools/need-debs valgrind)" >&2; exit 1; }
mkdir -p "$out"
rm -f "$out"/callgrind.*.out "$out"/*.log

# One line per run: "W C"; xargs runs them $jobs at a time.
for w in $works; do for c in $confs; do echo "$w $c"; done; done |
xargs -P "$jobs" -L 1 sh -c '
    w=$0 c=$1
    if ! valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="'"$out"'/callgrind.$w.$c.out" \
            "'"$bin"'" --callgrind-one "$w" "$c" --scale "'"$scale"'" >"'"$out"'/$w.$c.log" 2>&1; then
        echo "callgrind run $w $c failed:" >&2; cat "'"$out"'/$w.$c.log" >&2; exit 255
    fi'

# Collect: "W C Ir" lines, bare first within each workload.
counts="$out/counts.txt"
: >"$counts"
for w in $works; do for c in $confs; do
    f="$out/callgrind.$w.$c.out"
    ir=$(awk '/^totals:/ { print $2 }' "$f")
    [ -n "$ir" ] || { echo "error: no totals in $f" >&2; exit 1; }
    echo "$w $c $ir" >>"$counts"
done; done

awk -v scale="$scale" -v md="$md" '
    { w[NR] = $1; c[NR] = $2; ir[NR] = $3; if ($2 == "bare") bare[$1] = $3 }
    function ratio(i) { return bare[w[i]] > 0 ? sprintf("%.2f", ir[i] / bare[w[i]]) : "-" }
    function commas(n,   s) { s = sprintf("%d", n); while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]($|,)/, ",&", s); return s }
    END {
        printf "\ninstructions (callgrind, scale %s, timed part only):\n", scale
        printf "%-8s %-17s %16s %8s\n", "workload", "config", "Ir", "x bare"
        for (i = 1; i <= NR; i++) printf "%-8s %-17s %16s %8s\n", w[i], c[i], commas(ir[i]), ratio(i)
        if (md != "") {
            print "| workload | config | instructions | × bare |" > md
            print "| --- | --- | ---: | ---: |" > md
            for (i = 1; i <= NR; i++) printf "| %s | %s | %s | %s |\n", w[i], c[i], commas(ir[i]), ratio(i) > md
        }
    }' "$counts"
