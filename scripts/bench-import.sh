#!/usr/bin/env bash
# Import benchmark (issue #2): N generated contacts (default 1 000 000) into a fresh
# embedded SQLite database with the release build; prints rows/s and peak RSS.
# Usage: scripts/bench-import.sh [N] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
runs=${2:-3}
cargo build --release --locked -q
bin="$PWD/target/release/herald"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 scripts/gen-contacts.py "$n" > "$work/contacts.csv"
echo "file: $n rows, $(du -h "$work/contacts.csv" | cut -f1)"
rates=()
for run in $(seq 1 "$runs"); do
  rm -rf "$work/data"
  start=$(date +%s.%N)
  ( cd "$work" && /usr/bin/time -f '%M' -o "$work/rss" "$bin" contacts import contacts.csv --json > "$work/report.json" )
  end=$(date +%s.%N)
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN {print b - a}')
  rate=$(awk -v n="$n" -v s="$secs" 'BEGIN {print n / s}')
  rss_mb=$(awk -v k="$(cat "$work/rss")" 'BEGIN {print k / 1024}')
  printf 'run %d: %.2f s, %.0f rows/s, peak RSS %.1f MB, report %s\n' "$run" "$secs" "$rate" "$rss_mb" "$(tr -d ' \n' < "$work/report.json")"
  rates+=("$rate")
done
median=$(printf '%s\n' "${rates[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
printf 'median: %.0f rows/s over %d runs\n' "$median" "$runs"
# The same rows written by the tightest loop SQLite allows, on the same machine, now.
rm -f "$work"/floor.db*
floor=$(python3 scripts/sqlite-floor.py "$n" "$work/floor.db")
printf 'SQLite floor for the same rows: %.0f rows/s; Herald reaches %.2f of it\n' "$floor" "$(awk -v a="$median" -v b="$floor" 'BEGIN {print a / b}')"
