#!/usr/bin/env bash
# Plan benchmark (issue #3): `herald campaign plan` over N generated contacts (default
# 1 000 000) in the embedded SQLite database, release build; prints the wall time and
# peak RSS of each run and the median. The database is filled by an (untimed) import of
# scripts/gen-contacts.py's file, which mixes opt-in statuses, countries and plans.
# Then the render benchmark (`cargo bench --bench render`): messages/s on one core.
# Usage: scripts/bench-plan.sh [N] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
runs=${2:-3}
cargo build --release --locked -q
bin="$PWD/target/release/herald"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 scripts/gen-contacts.py "$n" > "$work/contacts.csv"
( cd "$work" && "$bin" contacts import contacts.csv --json > /dev/null )
cat > "$work/bench.toml" <<'TOML'
name = "bench-plan"
subject = "News for {{first_name}}"
template = "bench"
lists = ["newsletter"]
purpose = "newsletter"
segment = { country = ["DE", "FR", "GB", "US"] }
[policy]
accept = "double_and_user"
frequency_cap = { max = 4, days = 30 }
TOML
echo "<p>Hello {{first_name}}</p>" > "$work/bench.html.hbs"
times=()
for run in $(seq 1 "$runs"); do
  start=$(date +%s.%N)
  ( cd "$work" && /usr/bin/time -f '%M' -o "$work/rss" "$bin" campaign plan bench.toml --json > "$work/plan.json" )
  end=$(date +%s.%N)
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN {print b - a}')
  printf 'run %d: %.2f s, peak RSS %.1f MB, %s\n' "$run" "$secs" "$(awk -v k="$(cat "$work/rss")" 'BEGIN {print k / 1024}')" \
    "$(tr -d ' \n' < "$work/plan.json")"
  times+=("$secs")
done
median=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
printf 'plan median: %.2f s over %d runs on %d contacts\n' "$median" "$runs" "$n"
cargo bench --locked -q --bench render 2>/dev/null | tail -n 1
