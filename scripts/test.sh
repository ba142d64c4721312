#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, `cargo test` on SQLite and PostgreSQL, and
# scripts/readme-check.sh (the README's usage section, re-run), and scripts/schemathesis.sh
# (the /api routes fuzzed against their OpenAPI document).
# Makes sure PostgreSQL is reachable first (starts the local server, or installs it from
# Debian's packages on a machine that has none) and exports HERALD_TEST_POSTGRES_URL.
# Then starts maildev (an SMTP test server with an HTTP API, installed from npm into
# target/tools/maildev) and exports HERALD_TEST_MAILDEV_SMTP and HERALD_TEST_MAILDEV_API.
# Then starts chromedriver (Debian's `chromium` and `chromium-driver`, installed when absent)
# on a free loopback port for the real-browser test and exports HERALD_TEST_WEBDRIVER.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL_DEFAULT="postgres://postgres@127.0.0.1:5432/test"

pg_ready() { psql "$1" -qAtc 'select 1' >/dev/null 2>&1; }

ensure_postgres() {
  local url="${HERALD_TEST_POSTGRES_URL:-$PG_URL_DEFAULT}"
  if command -v psql >/dev/null && pg_ready "$url"; then
    export HERALD_TEST_POSTGRES_URL="$url"; return
  fi
  if ! command -v pg_ctlcluster >/dev/null; then
    echo "test.sh: installing PostgreSQL from Debian's packages" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
  for _ in $(seq 1 30); do pg_ready "$url" && break; sleep 1; done
  if ! pg_ready "$url"; then
    # A stock Debian cluster wants a password over TCP: give the test user one.
    runuser -u postgres -- psql -qc "ALTER USER postgres PASSWORD 'postgres'" >/dev/null
    runuser -u postgres -- psql -qAtc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
      || runuser -u postgres -- createdb test
    url="postgres://postgres:postgres@127.0.0.1:5432/test"
    pg_ready "$url" || { echo "test.sh: PostgreSQL is not reachable at $url" >&2; exit 1; }
  fi
  export HERALD_TEST_POSTGRES_URL="$url"
}

ensure_postgres
echo "test.sh: PostgreSQL at ${HERALD_TEST_POSTGRES_URL%%@*}@… ready" >&2

MAILDEV_VERSION="2.2.1"
MAILDEV_SMTP_PORT="${HERALD_TEST_MAILDEV_SMTP_PORT:-11025}"
MAILDEV_WEB_PORT="${HERALD_TEST_MAILDEV_WEB_PORT:-11080}"
MAILDEV_PID=""

maildev_ready() { curl -fsS "http://127.0.0.1:$MAILDEV_WEB_PORT/email" >/dev/null 2>&1; }

stop_maildev() {
  if [ -n "$MAILDEV_PID" ]; then
    kill "$MAILDEV_PID" 2>/dev/null || true
    wait "$MAILDEV_PID" 2>/dev/null || true
  fi
}

ensure_maildev() {
  local tools="$PWD/target/tools/maildev" log="$PWD/target/maildev.log"
  if [ ! -x "$tools/node_modules/.bin/maildev" ]; then
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
      echo "test.sh: node and npm are needed to install maildev $MAILDEV_VERSION (the SMTP test server)" >&2
      exit 1
    fi
    echo "test.sh: installing maildev $MAILDEV_VERSION from npm into $tools" >&2
    mkdir -p "$tools"
    npm install --no-save --no-audit --no-fund --prefix "$tools" "maildev@$MAILDEV_VERSION" >&2
  fi
  if ! command -v node >/dev/null; then
    echo "test.sh: node is needed to run maildev (the SMTP test server)" >&2
    exit 1
  fi
  if maildev_ready; then
    echo "test.sh: reusing the maildev already answering on port $MAILDEV_WEB_PORT" >&2
  else
    trap stop_maildev EXIT
    "$tools/node_modules/.bin/maildev" --ip 127.0.0.1 --web-ip 127.0.0.1 \
      -s "$MAILDEV_SMTP_PORT" -w "$MAILDEV_WEB_PORT" >"$log" 2>&1 &
    MAILDEV_PID=$!
    for _ in $(seq 1 60); do
      maildev_ready && break
      kill -0 "$MAILDEV_PID" 2>/dev/null || break
      sleep 0.5
    done
    if ! maildev_ready; then
      echo "test.sh: maildev did not answer on port $MAILDEV_WEB_PORT; its log ($log):" >&2
      tail -n 20 "$log" >&2 || true
      exit 1
    fi
  fi
  export HERALD_TEST_MAILDEV_SMTP="127.0.0.1:$MAILDEV_SMTP_PORT"
  export HERALD_TEST_MAILDEV_API="http://127.0.0.1:$MAILDEV_WEB_PORT"
}

ensure_maildev
echo "test.sh: maildev at $HERALD_TEST_MAILDEV_API (SMTP $HERALD_TEST_MAILDEV_SMTP) ready" >&2

CHROMEDRIVER_PID=""

stop_services() {
  if [ -n "$CHROMEDRIVER_PID" ]; then
    # Its process group: chromedriver and any Chromium a failed test left open.
    kill -- -"$CHROMEDRIVER_PID" 2>/dev/null || kill "$CHROMEDRIVER_PID" 2>/dev/null || true
    wait "$CHROMEDRIVER_PID" 2>/dev/null || true
  fi
  stop_maildev
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ensure_chromedriver() {
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    echo "test.sh: installing chromium and chromium-driver from Debian's packages" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
  local port log="$PWD/target/chromedriver.log"
  port="${HERALD_TEST_WEBDRIVER_PORT:-$(free_port)}"
  mkdir -p target
  trap stop_services EXIT
  setsid /usr/bin/chromedriver --port="$port" --allowed-ips=127.0.0.1 >"$log" 2>&1 &
  CHROMEDRIVER_PID=$!
  for _ in $(seq 1 40); do
    curl -fsS "http://127.0.0.1:$port/status" >/dev/null 2>&1 && break
    kill -0 "$CHROMEDRIVER_PID" 2>/dev/null || break
    sleep 0.25
  done
  if ! curl -fsS "http://127.0.0.1:$port/status" >/dev/null 2>&1; then
    echo "test.sh: chromedriver did not answer on port $port; its log ($log):" >&2
    tail -n 20 "$log" >&2 || true
    exit 1
  fi
  export HERALD_TEST_WEBDRIVER="http://127.0.0.1:$port"
}

ensure_chromedriver
echo "test.sh: chromedriver at $HERALD_TEST_WEBDRIVER ($(/usr/bin/chromium --version 2>/dev/null)) ready" >&2

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked "$@"
# The events and contacts API fuzzed by schemathesis against its OpenAPI document (no 5xx,
# no answer outside the document).
scripts/schemathesis.sh
# The README's first session, re-run in a scratch folder against target/debug/herald, and
# its command list checked against `--help` (fails when output or a flag no longer matches).
scripts/readme-check.sh
# The bounce classifier's scores on the labelled corpus (the test above already enforced
# the bars; this prints the figures, or that the corpus folder is absent).
cargo test --locked --lib feedback::classify::corpus_tests -- --nocapture 2>&1 | grep -E '^bounce corpus|^test result'
