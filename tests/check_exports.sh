#!/bin/bash
# The shared library must export exactly the functions declared RESQL_API
# in the public header: nothing else, and nothing missing.
set -eu
lib=$1 header=$2
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort -u)
declared=$(grep -v '^#' "$header" | grep -o 'RESQL_API[^(]*(' | sed 's/($//; s/.*[ *]//' | sort -u)
if [ "$exported" != "$declared" ]; then
    echo "exported symbols differ from resql.h:" >&2
    diff <(echo "$declared") <(echo "$exported") >&2 || true
    exit 1
fi
bad=$(echo "$exported" | grep -v '^resql_' || true)
[ -z "$bad" ] || { echo "symbols without the resql_ prefix: $bad" >&2; exit 1; }
soname=$(objdump -p "$lib" | awk '/SONAME/ {print $2}')
case "$soname" in libresql.so.[0-9]*) ;; *) echo "bad soname: $soname" >&2; exit 1;; esac
echo "exports: $(echo "$exported" | wc -l) resql_* functions, soname $soname"
