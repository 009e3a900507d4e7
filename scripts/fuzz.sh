#!/usr/bin/env bash
# fuzz.sh [FUZZTIME]: run every fuzz target in the module for FUZZTIME each
# (default 3s). `make test` runs it briefly; `make fuzz FUZZTIME=5m` runs it long.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-3s}
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
