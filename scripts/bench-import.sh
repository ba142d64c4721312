#!/usr/bin/env bash
# Import benchmark (issue #2): N generated contacts (default 1 000 000) into a fresh
# database with the release build; prints rows/s and peak RSS per run and the median.
# SQLite by default (an embedded file, then the SQLite floor for the same rows); with
# `--postgres URL` (a server URL such as postgres://postgres@127.0.0.1:5432/postgres) a
# database herald_bench_<pid> is created on that server for each run (`herald db migrate`
# first) and dropped at exit. Each run also prints Herald's own CPU time (user + sys).
# Usage: scripts/bench-import.sh [--postgres URL] [N] [RUNS]
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
# The server URL with another database name (same user, host, port and parameters).
pg_url() {
  python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$pg_server" "$1"
}
cleanup() {
  if [[ -n "$pg_server" ]]; then
    psql -q "$pg_server" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" > /dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
backend=sqlite
[[ -n "$pg_server" ]] && backend=postgres
# A workspace (config and generated keys) around the file; each run gets a fresh database.
"$bin" init "$work" > /dev/null
python3 scripts/gen-contacts.py "$n" > "$work/contacts.csv"
echo "file: $n rows, $(du -h "$work/contacts.csv" | cut -f1), backend: $backend"
rates=()
for run in $(seq 1 "$runs"); do
  rm -f "$work"/data/herald.db*
  if [[ -n "$pg_server" ]]; then
    psql -q "$pg_server" -c "DROP DATABASE IF EXISTS $pg_db" -c "CREATE DATABASE $pg_db" > /dev/null
    export HERALD_DATABASE__URL
    HERALD_DATABASE__URL=$(pg_url "$pg_db")
    ( cd "$work" && "$bin" db migrate > /dev/null )
  fi
  start=$(date +%s.%N)
  ( cd "$work" && /usr/bin/time -f '%M %U %S' -o "$work/rss" "$bin" contacts import contacts.csv --json > "$work/report.json" )
  end=$(date +%s.%N)
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN {print b - a}')
  rate=$(awk -v n="$n" -v s="$secs" 'BEGIN {print n / s}')
  read -r rss_kb user sys < "$work/rss"
  printf 'run %d: %.2f s, %.0f rows/s, peak RSS %.1f MB, herald CPU %.1f s, report %s\n' "$run" "$secs" "$rate" \
    "$(awk -v k="$rss_kb" 'BEGIN {print k / 1024}')" "$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')" \
    "$(tr -d ' \n' < "$work/report.json")"
  rates+=("$rate")
done
median=$(printf '%s\n' "${rates[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
printf 'median: %.0f rows/s over %d runs\n' "$median" "$runs"
if [[ -n "$pg_server" ]]; then
  exit 0
fi
# The same rows written by the tightest loop SQLite allows, on the same machine, now.
rm -f "$work"/floor.db*
floor=$(python3 scripts/sqlite-floor.py "$n" "$work/floor.db")
printf 'SQLite floor for the same rows: %.0f rows/s; Herald reaches %.2f of it\n' "$floor" "$(awk -v a="$median" -v b="$floor" 'BEGIN {print a / b}')"
