#!/usr/bin/env bash
# Plan benchmark (issue #3): `herald campaign plan` over N generated contacts (default
# 1 000 000) in the embedded SQLite database, release build; prints the wall time and
# peak RSS of each run and the median. The database is filled by an (untimed) import of
# scripts/gen-contacts.py's file, which mixes opt-in statuses, countries and plans.
# With `--postgres URL` (a server URL such as postgres://postgres@127.0.0.1:5432/postgres)
# the same runs against a database herald_bench_<pid> created on that server (`herald db
# migrate` first) and dropped at exit.
# Then the render benchmark (`cargo bench --bench render`): messages/s on one core.
# Usage: scripts/bench-plan.sh [--postgres URL] [N] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
pg_server=""
if [[ "${1:-}" == "--postgres" ]]; then
  pg_server=${2:?"--postgres needs a server URL"}
  shift 2
fi
n=${1:-1000000}
runs=${2:-3}
cargo build --release --locked -q
bin="$PWD/target/release/herald"
work=$(mktemp -d)
pg_db="herald_bench_$$"
cleanup() {
  if [[ -n "$pg_server" ]]; then
    psql -q "$pg_server" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" > /dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
# A workspace (config and generated keys) around the file.
"$bin" init "$work" > /dev/null
if [[ -n "$pg_server" ]]; then
  psql -q "$pg_server" -c "CREATE DATABASE $pg_db" > /dev/null
  # The server URL with this database's name (same user, host, port and parameters).
  export HERALD_DATABASE__URL
  HERALD_DATABASE__URL=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$pg_server" "$pg_db")
  ( cd "$work" && "$bin" db migrate > /dev/null )
fi
python3 scripts/gen-contacts.py "$n" > "$work/contacts.csv"
( cd "$work" && "$bin" contacts import contacts.csv --json > /dev/null )
# What autovacuum does after a bulk load, done now so every run plans on the same statistics.
if [[ -n "$pg_server" ]]; then
  psql -q "$HERALD_DATABASE__URL" -c "VACUUM ANALYZE" > /dev/null
fi
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
backend=sqlite
[[ -n "$pg_server" ]] && backend=postgres
printf 'plan median: %.2f s over %d runs on %d contacts (%s)\n' "$median" "$runs" "$n" "$backend"
cargo bench --locked -q --bench render 2>/dev/null | tail -n 1
