#!/usr/bin/env bash
# Scaling benchmark (issue 16, item 3): do N `herald daemon` processes sharing one
# PostgreSQL database send N times as much?
#
# One campaign of N recipients (default 20 000, all eligible) is sent by 1, then 2, then 4
# daemons started together on a fresh copy of one database, each daemon limited by its own
# relay rate (`[[smtp]] rate = "R/s"`, default 200/s) and sending to a counting SMTP sink
# (`examples/count_sink.rs`) that records every accepted message by recipient. The
# daemons are up and idle before the campaign is scheduled (`herald campaign schedule`,
# due at once), so they race for it fairly.
#
# For each daemon count it prints the completion rate: N / (the last message accepted at
# the sink - the moment `campaign schedule` returned), and its ratio to daemons x R
# (target >= 0.9 for 2 and 4); the sink's own rate from first to last accepted message;
# the messages each daemon sent (its /metrics); duplicates (an address that got two
# messages) and losses (an eligible address that got none), which must be 0 and 0; lease
# recoveries in the daemons' logs and sends attempted more than once; PostgreSQL's lock
# waits (pg_stat_activity sampled every 0.5 s, with the statement that waits on a lock); the machine's CPU use over the run.
#
# Usage: scripts/bench-scale.sh [--postgres URL] [N] [RATE]
#   URL   a PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres); the
#         script creates herald_scale_<pid>_* databases there and drops them at exit.
#   RATE  per daemon, messages per second; "none" for no limit (to see the capacity).
# Environment: RUNS (default 3; the daemon counts alternate within each run), DAEMONS
# (default "1 2 4"), CONNECTIONS (each daemon's max_connections, default 10),
# BENCH_SMTP_PORT (the sink's port, default 12526).
set -euo pipefail
cd "$(dirname "$0")/.."
server="postgres://postgres@127.0.0.1:5432/postgres"
if [ "${1:-}" = "--postgres" ]; then
  server=${2:?--postgres needs a URL}
  shift 2
fi
n=${1:-20000}
rate=${2:-200}
runs=${RUNS:-3}
counts=${DAEMONS:-1 2 4}
connections=${CONNECTIONS:-10}
port=${BENCH_SMTP_PORT:-12526}
base="herald_scale_$$"
server_base=${server%/*}
db_url() { echo "$server_base/$1"; }
sql() { psql "$server" -v ON_ERROR_STOP=1 -Atqc "$1"; }
sql_in() { psql "$(db_url "$1")" -v ON_ERROR_STOP=1 -Atqc "$2"; }

cargo build --release --locked -q --bin herald --example count_sink
target="${CARGO_TARGET_DIR:-$PWD/target}/release"
bin="$target/herald"
sink="$target/examples/count_sink"
work=$(mktemp -d)
cleanup() {
  # Only this script's own background jobs still running (the sink, daemons, the sampler).
  for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for d in $(sql "SELECT datname FROM pg_database WHERE datname LIKE '${base}%'" 2>/dev/null); do
    sql "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# The workspace every daemon of a run shares (config, templates, secrets); the database
# comes from HERALD_DATABASE__URL.
ws="$work/ws"
mkdir -p "$ws" && cd "$ws"
"$bin" init . >/dev/null
rate_line=""
[ "$rate" != "none" ] && rate_line="rate = \"$rate/s\""
cat >> config/herald.toml <<TOML

[[smtp]]
host = "127.0.0.1"
port = $port
tls = "none"
max_connections = $connections
$rate_line
TOML
sed -i 's/^check_domains = true/check_domains = false/' config/herald.toml
# The example flows watch the ledger every second; this measures campaign sending only.
rm -f flows/*.toml
python3 - "$n" > contacts.csv <<'PY'
import sys
n = int(sys.argv[1])
print("email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists")
for i in range(n):
    print(f"user{i}@example{i % 97}.com,First{i},double_opt_in,consent,2025-03-01,newsletter,newsletter:confirmed")
PY
python3 - "$n" > expected.txt <<'PY'
import sys
for i in range(int(sys.argv[1])):
    print(f"user{i}@example{i % 97}.com")
PY
cp campaigns/example.toml campaign.toml
sed -i '/^name *=/d; /^send_at *=/d' campaign.toml

# One database migrated and imported once, copied for every run (CREATE DATABASE … TEMPLATE).
tpl="${base}_tpl"
sql "CREATE DATABASE $tpl" >/dev/null
export HERALD_DATABASE__URL HERALD_LOG=warn
HERALD_DATABASE__URL=$(db_url "$tpl")
"$bin" db migrate >/dev/null
"$bin" contacts import contacts.csv --json >/dev/null
echo "bench-scale: $n recipients; per daemon rate ${rate}/s, $connections connections; PostgreSQL $(sql 'SHOW server_version'); $(nproc) cores; runs $runs"

cpu_sample() { awk '/^cpu / {busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6}' /proc/stat; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# One run with K daemons; prints one line and appends "K rate ratio" to $work/results.
run_one() {
  local run=$1 k=$2
  local tag="r${run}-d${k}" db="${base}_r${run}_d${k}" name="scale-r${run}-d${k}"
  local dir="$work/$tag"
  mkdir -p "$dir"
  sql "CREATE DATABASE $db TEMPLATE $tpl" >/dev/null
  HERALD_DATABASE__URL=$(db_url "$db")
  "$sink" --listen "127.0.0.1:$port" --out "$dir/sink.txt" --recipients "$dir/recipients.txt" > "$dir/sink.out" &
  local sink_pid=$!
  local daemon_pids=() urls=() i
  for i in $(seq 1 "$k"); do
    HERALD_LOG=info "$bin" daemon --listen 127.0.0.1:0 > "$dir/daemon-$i.out" 2> "$dir/daemon-$i.log" &
    daemon_pids+=("$!")
  done
  for i in $(seq 1 "$k"); do
    local waited=0
    until grep -q 'listening on http://' "$dir/daemon-$i.out" 2>/dev/null; do
      sleep 0.1
      waited=$((waited + 1))
      [ "$waited" -lt 300 ] || { echo "daemon $i did not start:" >&2; tail "$dir/daemon-$i.log" >&2; exit 1; }
    done
    urls+=("$(grep -o 'http://[0-9.:]*' "$dir/daemon-$i.out" | head -n1)")
  done
  grep -q 'listening on' "$dir/sink.out" || sleep 0.5
  grep -q 'listening on' "$dir/sink.out" || { echo "the sink did not start (port $port taken?)" >&2; exit 1; }
  sleep 1 # every engine has made its first (empty) claim and waits for work

  # PostgreSQL's view of the run: what the daemons' backends wait on, twice a second.
  (
    while :; do
      psql "$server" -Atqc "SELECT coalesce(wait_event_type, 'CPU') || ':' || coalesce(wait_event, '-') \
        || CASE WHEN wait_event_type = 'Lock' THEN ' [' || left(regexp_replace(query, '\s+', ' ', 'g'), 30) || ']' ELSE '' END, count(*) \
        FROM pg_stat_activity WHERE datname = '$db' AND state = 'active' AND pid <> pg_backend_pid() GROUP BY 1" \
        >> "$dir/waits.txt" 2>/dev/null || true
      echo "sample" >> "$dir/waits.txt"
      sleep 0.5
    done
  ) &
  local sampler=$!

  sed "1i name = \"$name\"" campaign.toml > "$dir/campaign.toml"
  local cpu0 t0
  cpu0=$(cpu_sample)
  "$bin" campaign schedule "$dir/campaign.toml" >/dev/null
  t0=$(date +%s.%N)
  local limit state=""
  limit=$(awk -v n="$n" -v k="$k" -v r="$rate" 'BEGIN {if (r == "none") r = 1000; printf "%d", 3 * n / (k * r) + 120}')
  local until_t
  until_t=$(awk -v t="$t0" -v l="$limit" 'BEGIN {printf "%d", t + l}')
  until [ "$state" = "completed" ]; do
    sleep 0.25
    state=$(sql_in "$db" "SELECT state FROM campaigns WHERE name = '$name'")
    if [ "$(date +%s)" -gt "$until_t" ]; then
      echo "run $tag: the campaign is $state after ${limit}s:" >&2
      sql_in "$db" "SELECT state, count(*) FROM sends GROUP BY state" >&2
      break
    fi
  done
  local cpu1
  cpu1=$(cpu_sample)
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true

  # Each daemon's share (its own counter) and CPU time, then a clean stop.
  local shares="" cpu_daemons=0 tick
  tick=$(getconf CLK_TCK)
  for i in $(seq 1 "$k"); do
    local sent
    sent=$(curl -s "${urls[$((i - 1))]}/metrics" | awk '/^herald_attempts_total\{outcome="sent"\}/ {print $2}')
    shares+="${shares:+/}${sent:-?}"
    cpu_daemons=$(awk -v a="$cpu_daemons" -v p="${daemon_pids[$((i - 1))]}" -v t="$tick" \
      '{a += ($14 + $15) / t} END {printf "%.2f", a}' "/proc/${daemon_pids[$((i - 1))]}/stat")
  done
  for p in "${daemon_pids[@]}"; do kill -TERM "$p"; done
  for p in "${daemon_pids[@]}"; do wait "$p" || echo "run $tag: a daemon exited with $?" >&2; done
  kill -TERM "$sink_pid"
  wait "$sink_pid"

  local in_doubt retried recovered lock_waits samples waits
  read -r in_doubt retried < <(sql_in "$db" "SELECT count(*) FILTER (WHERE state = 'in_doubt'), count(*) FILTER (WHERE attempts > 1) FROM sends" | tr '|' ' ')
  recovered=$(cat "$dir"/daemon-*.log | grep -c 'recovered expired leases' || true)
  samples=$(grep -c '^sample$' "$dir/waits.txt" || true)
  lock_waits=$(awk -F'|' '$1 ~ /^Lock:/ {s += $2} END {print s + 0}' "$dir/waits.txt")
  waits=$(awk -F'|' 'NF == 2 {s[$1] += $2} END {for (w in s) printf "%s=%d ", w, s[w]}' "$dir/waits.txt")
  sql "DROP DATABASE $db WITH (FORCE)" >/dev/null

  python3 - "$work/ws/expected.txt" "$dir/recipients.txt" "$dir/sink.txt" "$t0" "$n" "$k" "$rate" \
    "$cpu0" "$cpu1" "$shares" "$in_doubt" "$retried" "$recovered" "$lock_waits" "$samples" "$run" "$cpu_daemons" "$waits" \
    >> "$work/results" <<'PY'
import sys
(expected_f, recipients_f, sink_f, t0, n, k, rate, cpu0, cpu1, shares, in_doubt, retried, recovered,
 lock_waits, samples, run, cpu_daemons, waits) = sys.argv[1:]
t0, n, k = float(t0), int(n), int(k)
expected = set(l.strip() for l in open(expected_f) if l.strip())
got = {}
for l in open(recipients_f):
    c, a = l.split(None, 1)
    got[a.strip().lower()] = got.get(a.strip().lower(), 0) + int(c)
sink = dict(l.split(None, 1) if " " in l else (l.strip(), "") for l in open(sink_f).read().splitlines())
first, last = float(sink["first_accepted"]), float(sink["last_accepted"])
duplicates = sum(c - 1 for c in got.values() if c > 1)
lost = len(expected - got.keys())
stray = len(got.keys() - expected)
accepted = int(sink["messages"])
completion = accepted / (last - t0)
steady = (accepted - 1) / (last - first) if last > first else 0
b0, a0 = map(float, cpu0.split()); b1, a1 = map(float, cpu1.split())
busy = 100 * (b1 - b0) / (a1 - a0) if a1 > a0 else 0
target = k * float(rate) if rate != "none" else 0
ratio = f"{completion / target:.2f}" if target else "-"
print(f"RESULT {k} {completion:.1f} {ratio}")
print(f"run {run}, {k} daemon(s): {completion:.0f} msg/s from due to the last accepted ({ratio} of {k} x {rate}/s); "
      f"sink first to last {steady:.0f} msg/s, start {first - t0:.2f} s after due; sent per daemon {shares}; "
      f"accepted {accepted}, duplicates {duplicates}, lost {lost}, not in the audience {stray}; "
      f"in_doubt {in_doubt}, attempted twice {retried}, lease recoveries logged {recovered}; "
      f"lock waits {lock_waits} in {samples} samples (active backends by wait: {waits.strip() or 'none'}); "
      f"CPU {busy:.0f}% of the machine, daemons {float(cpu_daemons):.1f} s ({1e6 * float(cpu_daemons) / max(accepted, 1):.0f} us/msg)")
PY
  grep -v '^RESULT' "$work/results" | tail -n1
  echo "  load: $(uptime | sed 's/.*load average/load average/')"
}

for run in $(seq 1 "$runs"); do
  for k in $counts; do
    run_one "$run" "$k"
  done
done

echo "summary ($n recipients, ${rate}/s per daemon, $runs runs; medians):"
for k in $counts; do
  rates=(); ratios=()
  while read -r _ kk r q; do
    [ "$kk" = "$k" ] || continue
    rates+=("$r"); ratios+=("$q")
  done < <(grep '^RESULT' "$work/results")
  echo "  $k daemon(s): ${rates[*]} msg/s -> median $(median "${rates[@]}") msg/s; ratio to $k x $rate/s: ${ratios[*]} -> median $(median "${ratios[@]}")"
done
grep -v '^RESULT' "$work/results" | grep -E 'duplicates [1-9]|lost [1-9]' >/dev/null && { echo "bench-scale: duplicates or losses (see above)" >&2; exit 1; }
exit 0
