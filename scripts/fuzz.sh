#!/usr/bin/env bash
# fuzz.sh [FUZZTIME]: run every fuzz target in the module for FUZZTIME each
# (default 20000x: an execution count, see the Makefile for why not a
# duration). `make test` runs it briefly (10000x); `make fuzz FUZZTIME=500000x` long.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-20000x}
n=0
while IFS=: read -r file name; do
  pkg=$(dirname "$file")
  echo "fuzz: $pkg $name ($t)"
  go test -run='^$' -fuzz="^${name}\$" -fuzztime="$t" "$pkg" >/tmp/passerelle-fuzz.log 2>&1 || {
    cat /tmp/passerelle-fuzz.log; echo "fuzz: $pkg $name FAILED" >&2; exit 1; }
  n=$((n + 1))
done < <(grep -rHoE '^func (Fuzz[A-Za-z0-9_]+)' --include='*_test.go' . | sed -E 's/:func /:/' | sort)
[ "$n" -gt 0 ] || { echo "fuzz: no fuzz targets found" >&2; exit 1; }
echo "fuzz: $n targets ran for $t each, no failures"
