#!/usr/bin/env bash
# Flow benchmark (issue 15): N contacts (default 100 000) enrolled into a one-step flow,
# their first step sent by the daemon's scheduler and engine, against an equal campaign
# (one message, the same template) to the same contacts, through the same Postfix
# smtp-sink on loopback, in the same process and run (benches/flows.rs). Prints both
# rates and their ratio (target >= 0.8), per run.
# Needs smtp-sink (Debian package `postfix`; installed if missing).
# Usage: scripts/bench-flows.sh [N] [RUNS]   (BENCH_DATABASE_URL=postgres://... for PostgreSQL)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
runs=${2:-1}
port=${BENCH_SMTP_PORT:-12525}
if ! command -v smtp-sink >/dev/null && [ ! -x /usr/sbin/smtp-sink ]; then
  echo "bench-flows: installing postfix (for smtp-sink)" >&2
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
fi
export PATH="$PATH:/usr/sbin"
sink_pid=""
cleanup() { [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null; true; }
trap cleanup EXIT
user=()
[ "$(id -u)" = 0 ] && user=(-u nobody)
smtp-sink "${user[@]}" -c "127.0.0.1:$port" 1024 >/dev/null 2>&1 &
sink_pid=$!
sleep 0.5
cargo bench --locked --bench flows --no-run -q
for run in $(seq 1 "$runs"); do
  echo "run $run:"
  BENCH_SMTP_PORT=$port cargo bench --locked -q --bench flows -- "$n"
done
