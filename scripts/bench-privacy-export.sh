#!/usr/bin/env bash
# Privacy export benchmark (issue 14, point 2): `herald privacy export --all` over N
# generated contacts (default 1 000 000) in the embedded SQLite database, release build,
# in each format, RUNS times each (default 3); prints each run's wall time, contacts/s
# (and per CPU-second, user + system: the figure that a busy shared machine disturbs
# least) and peak RSS, then each format's median. The database is filled by an (untimed)
# `contacts import` of scripts/gen-contacts.py's file, so every contact has what an
# import gives it (subscription, consent, ledger event); it is kept in
# target/bench-privacy-export/N and reused by later runs (FRESH=1 rebuilds it).
# HERALD_BIN runs another build (say, an older commit's) instead of this one's; BENCH_DATA
# another workspace (an older build refuses a database that a newer one has migrated).
# Usage: [RUNS=3] [FRESH=1] [HERALD_BIN=path] [BENCH_DATA=dir] scripts/bench-privacy-export.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
runs=${RUNS:-3}
if [ -z "${HERALD_BIN:-}" ]; then
  cargo build --release --locked -q
  bin="$PWD/target/release/herald"
else
  bin=$(realpath "$HERALD_BIN")
fi
data=${BENCH_DATA:-$PWD/target/bench-privacy-export/$n}
if [ -n "${FRESH:-}" ] || [ ! -e "$data/imported" ]; then
  rm -rf "$data"
  mkdir -p "$data"
  python3 scripts/gen-contacts.py "$n" > "$data/contacts.csv"
  # A workspace (commands refuse to run outside one), then the contacts.
  start=$(date +%s.%N)
  ( cd "$data" && "$bin" init . > /dev/null && "$bin" contacts import contacts.csv --json > /dev/null )
  printf 'import of %d contacts (untimed for the export): %.0f s\n' "$n" "$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')"
  rm "$data/contacts.csv"
  touch "$data/imported"
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for format in json csv; do
  rates=()
  for run in $(seq "$runs"); do
    start=$(date +%s.%N)
    ( cd "$data" && /usr/bin/time -f '%M %U %S' -o "$out/time" \
        "$bin" privacy export --all --format "$format" --out "$out/export.$format" --json > "$out/report.json" )
    end=$(date +%s.%N)
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN {print b - a}')
    count=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["contacts"])' "$out/report.json")
    rate=$(awk -v c="$count" -v s="$secs" 'BEGIN {printf "%.0f", c / s}')
    read -r rss user sys < "$out/time"
    rates+=("$rate")
    printf '%s run %d: %d contacts in %.2f s (%s contacts/s; %.0f per CPU-second), peak RSS %.1f MB, file %s\n' \
      "$format" "$run" "$count" "$secs" "$rate" "$(awk -v c="$count" -v u="$user" -v s="$sys" 'BEGIN {print c / (u + s)}')" \
      "$(awk -v k="$rss" 'BEGIN {print k / 1024}')" "$(du -h "$out/export.$format" | cut -f1)"
    rm -f "$out/export.$format"
  done
  printf '%s median: %s contacts/s\n' "$format" "$(printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
done
