#!/bin/sh
# Writes bench/REPORT.md and bench/ratios.png: runs the benchmark (default
# scale, BENCH_ROUNDS rounds), the memory check, the callgrind counts and
# the callgrind profile of changes-same on W1.
#
# Usage: bench/report.sh BENCH_BIN CALLGRIND_SCALE WORKDIR
#   BENCH_ROUNDS (default 3), BENCH_SCALE (default 1), BENCH_CALLGRIND=0 to skip callgrind.
set -eu
bin=$1
cg_scale=$2
work=$3
rounds=${BENCH_ROUNDS:-3}
scale=${BENCH_SCALE:-1}
here=$(cd "$(dirname "$0")" && pwd)
report="$here/REPORT.md"
png="$here/ratios.png"
mkdir -p "$work"

# ---- the benchmark ------------------------------------------------------------
t0=$(date +%s)
"$bin" --scale "$scale" --rounds "$rounds" --markdown "$work/results.md" --plot-data "$work/ratios.dat" \
    | tee "$work/bench.txt"
t1=$(date +%s)
bench_secs=$((t1 - t0))
header=$(head -n 1 "$work/bench.txt")

# ---- memory: resql's peak heap at two sizes ---------------------------------------
echo "  BENCH   memory check (W1 at scale $scale/10 and $scale)"
mem_status=PASS
"$bin" --memcheck --scale "$scale" >"$work/memcheck.md" || mem_status=FAIL
cat "$work/memcheck.md"

# ---- callgrind ------------------------------------------------------------------
cg_done=0
if [ "${BENCH_CALLGRIND:-1}" != 0 ]; then
    echo "  BENCH   callgrind instruction counts at scale $cg_scale"
    "$here/callgrind.sh" "$bin" "$cg_scale" "$work/callgrind" "$work/callgrind.md"
    cg_done=1
fi

# Top functions of one callgrind profile as a markdown table.
# $1: file, $2: "self" or "inclusive", $3: how many
hot_spots() {
    incl=no
    [ "$2" = inclusive ] && incl=yes
    echo "| Ir | % | function | file | object |"
    echo "| ---: | ---: | --- | --- | --- |"
    callgrind_annotate --inclusive=$incl --threshold=100 "$1" 2>/dev/null | awk -v n="$3" '
        /file:function/ { go = 1; getline; next }
        go && NF >= 3 && $1 ~ /^[0-9,]+$/ {
            ir = $1
            line = $0
            sub(/^ *[0-9,]+ *\( *[0-9.]+%\) +/, "", line)
            pct = $0; sub(/^ *[0-9,]+ *\( */, "", pct); sub(/%\).*/, "", pct)
            # callgrind_annotate names the object only when it changes
            named = line ~ /\[[^]]*\]$/
            if (named) { obj = line; sub(/^.*\[/, "", obj); sub(/\]$/, "", obj); sub(/.*\//, "", obj) }
            fl = line; sub(/ \[[^]]*\]$/, "", fl)
            fn = fl; sub(/^.*:/, "", fn)
            file = fl; sub(/:[^:]*$/, "", file); sub(/.*\//, "", file)
            # the same function can come twice, its file named by two paths
            key = fn SUBSEP ir
            if (key in at) { if (named) o[at[key]] = obj; next }
            at[key] = ++m
            r[m] = sprintf("| %s | %s | `%s` | %s |", ir, pct, fn, file)
            o[m] = obj
        }
        END { for (i = 1; i <= m && i <= n; i++) printf "%s %s |\n", r[i], o[i] }'
}

# Share of glibc's printf family and strtod (only resql calls them: SQLite has
# its own) in one profile, in percent of the instructions.
printf_share() {
    callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null | awk '
        /libc\.so/ && ($0 ~ /:(snprintf|vsnprintf|sprintf|printf|strtod) \[/) {
            pct = $0; sub(/^ *[0-9,]+ *\( */, "", pct); sub(/%\).*/, "", pct); s += pct
        }
        END { printf "%.2f", s }'
}

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
ncpu=$(grep -c '^processor' /proc/cpuinfo)
sqlite_version=$(echo "$header" | sed -n 's/.*SQLite \([0-9.]*\).*/\1/p')

# ---- the plot -------------------------------------------------------------------
subtitle="$(date -u +%Y-%m-%d), scale $scale, median of $rounds rounds, SQLite $sqlite_version, $cpu ($ncpu CPUs)"
gnuplot -e "data='$work/ratios.dat'; targets='$work/ratios.dat.targets'; out='$png'; subtitle='$subtitle'" \
    "$here/ratios.gp"

# ---- the report -----------------------------------------------------------------
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
resql_version=$(echo "$header" | sed -n 's/^resql \([^ ]*\) bench.*/\1/p')
cc_version=$(${CC:-cc} --version 2>/dev/null | head -n 1)
now=$(date -u '+%Y-%m-%d %H:%M UTC')

{
cat <<EOF
# resql benchmark report

Written by \`make bench-report\` on $now. Do not edit by hand: run it again.

- Machine: $cpu, $ncpu CPUs (/proc/cpuinfo), $mem RAM; $(uname -sr); temporary files in \`${TMPDIR:-/tmp}\`.
- SQLite $sqlite_version (the system library, Debian's build), resql $resql_version, $cc_version, \`CFLAGS=${CFLAGS:--O2 -g}\`.
- Run: \`$(basename "$bin") --scale $scale --rounds $rounds\` — $(echo "$header" | sed 's/^resql [^ ]* bench: //; s/, files in .*//').
- Source: git $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo "?")$(git -C "$here/.." status --porcelain -- core 2>/dev/null | grep -q . && echo ", with uncommitted changes in core/"), built by \`make\`.
- \`make bench\` (this benchmark alone) took **$bench_secs s** here.

![time relative to bare, per workload and configuration](ratios.png)

EOF
cat "$work/results.md"
cat <<EOF

### Memory: does resql's heap grow with the transaction?

W1 (one INSERT … SELECT and one UPDATE of every row, each one transaction) at
two sizes, peak of resql's own heap (malloc calls made by libresql, counted by
the bench's wrapper). The issue's target is a fixed bound: **$mem_status**.

EOF
cat "$work/memcheck.md"
echo
cat "$here/analysis.md"
if [ "$cg_done" = 1 ]; then
    f="$work/callgrind/callgrind.W1.changes-same.out"
    cat <<EOF

## Instruction counts (callgrind, scale $cg_scale)

Instructions executed in the timed part only (\`bench --callgrind-one W C\` under
\`valgrind --tool=callgrind --instr-atstart=no\`; the bench switches instrumentation
on around the workload). Stable from run to run, unlike times on a shared machine,
but blind to waiting: an \`fsync\` costs no instructions, so W3's times and counts
differ. \`make bench-callgrind\` prints this table.

EOF
    cat "$work/callgrind.md"
    cat <<EOF

## Profiles (callgrind)

### changes-same on W1

glibc's printf family and strtod (called only by resql; SQLite formats and parses
numbers itself) take **$(printf_share "$f")%** of the instructions of changes-same
on W1, and **$(printf_share "$work/callgrind/callgrind.W2.queries.out")%** of queries
on W2 (issue target: no JSON built with printf-family calls).

Inclusive (a function with everything it calls):

EOF
    hot_spots "$f" inclusive 25
    cat <<EOF

Self (the instructions of the function itself):

EOF
    hot_spots "$f" self 25
    for wc in "W2 changes-same" "W4 changes-same" "W2 queries" "W3 queries"; do
        set -- $wc
        cat <<EOF

### $2 on $1, inclusive

EOF
        hot_spots "$work/callgrind/callgrind.$1.$2.out" inclusive 20
    done
    cat <<EOF

Debian's libsqlite3 has no symbols for its static functions (shown as addresses).
resql's own functions are built with \`-O2\`, so small ones are inlined into their
callers. To look further:

    make bench-callgrind      # profiles in build/bench/callgrind/
    callgrind_annotate --inclusive=yes build/bench/callgrind/callgrind.W1.changes-same.out | less
    callgrind_annotate --tree=caller build/bench/callgrind/callgrind.W1.changes-same.out | less
EOF
fi
cat "$here/method.md"
} >"$report"

echo "  WROTE   $report and $png"
