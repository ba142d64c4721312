#!/usr/bin/env bash
# Privacy export benchmark (issue 14, point 2): `herald privacy export --all` over N
# generated contacts (default 1 000 000) in the embedded SQLite database, release build,
# in each format; prints the wall time, contacts/s and peak RSS of each run. The
# database is filled by an (untimed) import of scripts/gen-contacts.py's file.
# Usage: scripts/bench-privacy-export.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
cargo build --release --locked -q
bin="$PWD/target/release/herald"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 scripts/gen-contacts.py "$n" > "$work/contacts.csv"
# A workspace (commands refuse to run outside one), then the contacts.
( cd "$work" && "$bin" init . > /dev/null && "$bin" contacts import contacts.csv --json > /dev/null )
for format in json csv; do
  start=$(date +%s.%N)
  ( cd "$work" && /usr/bin/time -f '%M' -o "$work/rss" \
      "$bin" privacy export --all --format "$format" --out "export.$format" --json > "$work/report.json" )
  end=$(date +%s.%N)
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN {print b - a}')
  count=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["contacts"])' "$work/report.json")
  printf '%s: %d contacts in %.2f s (%.0f contacts/s), peak RSS %.1f MB, file %s\n' "$format" "$count" "$secs" \
    "$(awk -v c="$count" -v s="$secs" 'BEGIN {print c / s}')" \
    "$(awk -v k="$(cat "$work/rss")" 'BEGIN {print k / 1024}')" "$(du -h "$work/export.$format" | cut -f1)"
done
