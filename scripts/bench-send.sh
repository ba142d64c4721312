#!/usr/bin/env bash
# Sending benchmark (issue #4). Starts Postfix's smtp-sink on loopback, sends an
# N-recipient campaign (default 20 000) from the embedded SQLite database through Herald
# with 20 connections and no rate limit, then runs Postfix's raw client
# `smtp-source -d -s 20 -m N -l SIZE` (connections reused, the same message size) against
# the same sink. Prints both rates per run, the medians and their ratio (target >= 0.5).
# Herald's time is the whole `herald campaign send` command: start-up, materialising the
# sends, rendering, SMTP, and every state change committed.
# Needs smtp-sink / smtp-source (Debian package `postfix`; installed if missing).
# Usage: scripts/bench-send.sh [--postgres URL] [N] [RUNS]
# With --postgres URL (a server URL such as postgres://postgres@127.0.0.1:5432/postgres),
# the campaign's database is on PostgreSQL: the script creates a database of its own
# (herald_bench_<pid>, and herald_bench_<pid>_base for a baseline) on that server, runs
# `herald db migrate`, and drops it at exit. Needs `psql`.
# With BENCH_BASELINE_BIN=/path/to/an/older/herald, every run also sends the campaign with
# that binary (in its own workspace and database), so a change is compared with the code
# before it in the same run: both ratios and their quotient are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
pg_server=""
if [ "${1:-}" = "--postgres" ]; then
  pg_server=${2:?--postgres needs a server URL}
  shift 2
fi
n=${1:-20000}
runs=${2:-3}
port=${BENCH_SMTP_PORT:-12525}
if ! command -v smtp-sink >/dev/null && [ ! -x /usr/sbin/smtp-sink ]; then
  echo "bench-send: installing postfix (for smtp-sink and smtp-source)" >&2
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
fi
export PATH="$PATH:/usr/sbin"
cargo build --release --locked -q
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/herald"
work=$(mktemp -d)
sink_pid=""
pg_dbs=()
cleanup() {
  [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null
  for db in "${pg_dbs[@]}"; do psql -q "$pg_server" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# The URL of database $1 on the --postgres server (the server URL with its path replaced).
pg_url() { python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$pg_server" "$1"; }

user=()
[ "$(id -u)" = 0 ] && user=(-u nobody)
smtp-sink "${user[@]}" -c "127.0.0.1:$port" 1024 >/dev/null 2>&1 &
sink_pid=$!
sleep 0.5

setup() { # BIN DIR [DB_SUFFIX]: a workspace with N contacts and the example campaign
  local b=$1 d=$2
  mkdir -p "$d" && cd "$d"
  "$b" init . >/dev/null
  cat >> config/herald.toml <<TOML

[[smtp]]
host = "127.0.0.1"
port = $port
tls = "none"
max_connections = 20
TOML
  sed -i 's/^check_domains = true/check_domains = false/' config/herald.toml
  if [ -n "$pg_server" ]; then
    local db="herald_bench_$$${3:-}"
    psql -q "$pg_server" -c "CREATE DATABASE $db" >/dev/null
    pg_dbs+=("$db")
    sed -i "s|^url = \"sqlite://data/herald.db\"|url = \"$(pg_url "$db")\"|" config/herald.toml
    grep -q "^url = \"postgres://" config/herald.toml || { echo "bench-send: could not set the database url" >&2; exit 1; }
    "$b" db migrate >/dev/null
  fi
  cp "$work/contacts.csv" contacts.csv
  "$b" contacts import contacts.csv --json >/dev/null
  cp campaigns/example.toml campaign.toml
  sed -i '/^name *=/d; /^send_at *=/d' campaign.toml
}
python3 - "$n" > "$work/contacts.csv" <<'PY2'
import sys
n = int(sys.argv[1])
print("email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists")
for i in range(n):
    print(f"user{i}@example{i % 97}.com,First{i},double_opt_in,consent,2025-03-01,newsletter,newsletter:confirmed")
PY2
base="${BENCH_BASELINE_BIN:-}"
if [ -n "$base" ]; then setup "$base" "$work/base" _base; fi
setup "$bin" "$work/new"

# The size of one message as Herald sends it, for smtp-source's -l.
sed "1i name = \"bench-size\"" campaign.toml > size.toml
"$bin" campaign preview size.toml --out preview --limit 1 >/dev/null
size=$(stat -c %s preview/*.eml | head -n1)
database=SQLite
[ -n "$pg_server" ] && database="PostgreSQL $(psql -XAtq "$pg_server" -c 'SHOW server_version')"
echo "message size: $size bytes; $n recipients; 20 connections; database: $database"

send_with() { # BIN DIR RUN: prints msg/s; the peak RSS goes to DIR/rss.txt
  local b=$1 d=$2 run=$3 start end sent
  cd "$d"
  sed "1i name = \"bench-$run\"" campaign.toml > "run-$run.toml"
  start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o rss.txt "$b" campaign send "run-$run.toml" --json > "report-$run.json"
  end=$(date +%s.%N)
  sent=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['sent'])" "report-$run.json")
  [ "$sent" = "$n" ] || { echo "run $run ($b): Herald sent $sent of $n" >&2; exit 1; }
  awk -v a="$start" -v b="$end" -v n="$n" 'BEGIN {printf "%.0f", n / (b - a)}'
}

rates_h=(); rates_s=(); rss=(); rates_b=()
for run in $(seq 1 "$runs"); do
  if [ -n "$base" ]; then
    hb=$(send_with "$base" "$work/base" "$run")
    rates_b+=("$hb")
  fi
  h=$(send_with "$bin" "$work/new" "$run")
  cd "$work/new"
  start=$(date +%s.%N)
  smtp-source -d -s 20 -m "$n" -l "$size" -f bench@acme.example -t user@example.com "127.0.0.1:$port" >/dev/null
  end=$(date +%s.%N)
  s=$(awk -v a="$start" -v b="$end" -v n="$n" 'BEGIN {printf "%.0f", n / (b - a)}')
  r=$(awk -v k="$(cat rss.txt)" 'BEGIN {printf "%.1f", k / 1024}')
  echo "run $run: herald $h msg/s (peak RSS $r MB), smtp-source $s msg/s, ratio $(awk -v h="$h" -v s="$s" 'BEGIN {printf "%.2f", h / s}')${base:+; baseline $hb msg/s, ratio $(awk -v h="$hb" -v s="$s" 'BEGIN {printf "%.2f", h / s}')}"
  rates_h+=("$h"); rates_s+=("$s"); rss+=("$r")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mh=$(median "${rates_h[@]}"); ms=$(median "${rates_s[@]}")
echo "median: herald $mh msg/s, smtp-source $ms msg/s, ratio $(awk -v h="$mh" -v s="$ms" 'BEGIN {printf "%.2f", h / s}') (target >= 0.5); herald peak RSS median $(median "${rss[@]}") MB"
if [ -n "$base" ]; then
  mb=$(median "${rates_b[@]}")
  echo "baseline median: $mb msg/s, ratio $(awk -v h="$mb" -v s="$ms" 'BEGIN {printf "%.2f", h / s}'); this code / baseline $(awk -v h="$mh" -v b="$mb" 'BEGIN {printf "%.2f", h / b}')"
fi
