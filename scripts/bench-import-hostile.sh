#!/usr/bin/env bash
# Import memory against hostile files (issue 12): peak RSS of `herald contacts import`
# (release build, fresh embedded SQLite database each time) on
#   cell     one 50 MB cell (rejected: over import.max_cell_bytes)
#   quote    a quote opened on line 2 and never closed, 50 MB of rows after it
#   wide     1 000 rows x 10 000 columns under a 2-column header (rows rejected)
#   header   the same rows under a 10 000-column header (file refused)
#   roomy    1 000 rows x 10 000 columns with the caps raised to admit them
#            (HERALD_IMPORT__MAX_COLUMNS / __MAX_ROW_BYTES): what the batch weight bounds
# The import's budget is 150 MB. Usage: scripts/bench-import-hostile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
bin="$PWD/target/release/herald"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work" <<'PY'
import sys
d = sys.argv[1]
with open(f"{d}/cell.csv", "w") as f:
    f.write("email,first_name,notes\nbig@example.com,Big,")
    f.write("x" * 50_000_000)
    f.write("\nafter@example.com,After,ok\n")
with open(f"{d}/quote.csv", "w") as f:
    f.write("email,first_name\nq1@example.com,\"Ann,Lee\n")
    for i in range(2_000_000):
        f.write(f"user{i}@example.com,User{i}\n")
row = ",".join(f"v{c}" for c in range(1, 10_000))
for name, header in [("wide", "email,first_name"), ("header", "email," + ",".join(f"c{c}" for c in range(1, 10_000))), ("roomy", "email," + ",".join(f"c{c}" for c in range(1, 10_000)))]:
    with open(f"{d}/{name}.csv", "w") as f:
        f.write(header + "\n")
        for i in range(1000):
            f.write(f"user{i}@example.com,{row}\n")
PY
for case in cell quote wide header roomy; do
  rm -rf "$work/data"
  env=()
  if [ "$case" = roomy ]; then env=(HERALD_IMPORT__MAX_COLUMNS=10000 HERALD_IMPORT__MAX_ROW_BYTES=1000000); fi
  start=$(date +%s.%N)
  set +e
  ( cd "$work" && env "${env[@]}" /usr/bin/time -f '%M' -o "$work/rss" "$bin" contacts import "$case.csv" --json > "$work/out.json" 2> "$work/err" )
  code=$?
  set -e
  end=$(date +%s.%N)
  printf '%-7s %6.1f MB file: exit %d, %.2f s, peak RSS %.1f MB, %s\n' "$case" \
    "$(awk -v b="$(stat -c %s "$work/$case.csv")" 'BEGIN {print b / 1e6}')" "$code" \
    "$(awk -v a="$start" -v b="$end" 'BEGIN {print b - a}')" \
    "$(awk -v k="$(tail -1 "$work/rss")" 'BEGIN {print k / 1024}')" \
    "$(tr -d ' \n' < "$work/out.json" | cut -c1-160)"
done
