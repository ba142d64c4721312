#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, and `cargo test` on SQLite and PostgreSQL.
# Makes sure PostgreSQL is reachable first (starts the local server, or installs it from
# Debian's packages on a machine that has none) and exports HERALD_TEST_POSTGRES_URL.
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

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked "$@"
