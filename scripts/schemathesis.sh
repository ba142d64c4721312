#!/usr/bin/env bash
# Fuzzes the events and contacts API with schemathesis (PyPI) against its own OpenAPI
# document: starts `herald daemon` on a scratch workspace (SQLite, or PostgreSQL when
# HERALD_TEST_POSTGRES_URL is set: a fresh schema) with HERALD_API_KEY set, runs
# `schemathesis run http://127.0.0.1:PORT/api/openapi.json` with the checks
# not_a_server_error (no 5xx), response_schema_conformance, status_code_conformance and
# content_type_conformance, a bounded number of examples per operation, and fails when
# schemathesis finds anything. Installs schemathesis into target/tools/schemathesis (a
# venv) the first time. Builds and uses target/debug/herald.
#   SCHEMATHESIS_MAX_EXAMPLES (default 60) examples per operation; --seed is fixed so a
#   failure reproduces.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION="4.32.5"
VENV="$PWD/target/tools/schemathesis"
if [ ! -x "$VENV/bin/schemathesis" ]; then
  echo "schemathesis.sh: installing schemathesis $SCHEMATHESIS_VERSION from PyPI into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION" >&2
fi
cargo build --locked --bin herald

REPO="$PWD"
WORK=$(mktemp -d)
DAEMON_PID=""
PG_SCHEMA=""
cleanup() {
  if [ -n "$DAEMON_PID" ]; then
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
  fi
  if [ -n "$PG_SCHEMA" ]; then
    psql "$HERALD_TEST_POSTGRES_URL" -qc "DROP SCHEMA $PG_SCHEMA CASCADE" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

HERALD="$PWD/target/debug/herald"
KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export HERALD_API_KEY="$KEY"
# Generated addresses have made-up domains: no DNS lookups.
export HERALD_DNS__CHECK_DOMAINS=false
# Enough for the run; the rate limit itself is tested in tests/api/api_events.rs.
export HERALD_API__REQUESTS_PER_MINUTE=100000
if [ -n "${HERALD_TEST_POSTGRES_URL:-}" ]; then
  schema="schemathesis_$(date +%s)_$$"
  psql "$HERALD_TEST_POSTGRES_URL" -qc "CREATE SCHEMA $schema" >/dev/null
  PG_SCHEMA="$schema"
  sep='?'; case "$HERALD_TEST_POSTGRES_URL" in *\?*) sep='&';; esac
  export HERALD_DATABASE__URL="${HERALD_TEST_POSTGRES_URL}${sep}options=-c%20search_path%3D${schema}"
fi
(cd "$WORK" && "$HERALD" init . >/dev/null)
(cd "$WORK" && exec "$HERALD" daemon --listen "127.0.0.1:$PORT") >"$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 1 60); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  kill -0 "$DAEMON_PID" 2>/dev/null || break
  sleep 0.5
done
if ! curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
  echo "schemathesis.sh: the daemon did not start; its log:" >&2
  tail -n 30 "$WORK/daemon.log" >&2
  exit 1
fi

# One known contact, so GET /api/contacts/{email} is fuzzed past its 404 too.
curl -fsS -X POST "http://127.0.0.1:$PORT/api/contacts" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -d '{"email": "ada@example.com", "first_name": "Ada"}' >/dev/null

status=0
# From the scratch folder: schemathesis keeps a cache in its working folder.
(cd "$WORK" && "$VENV/bin/schemathesis" run "http://127.0.0.1:$PORT/api/openapi.json" \
  -H "Authorization: Bearer $KEY" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-60}" --seed 15 \
  --phases examples,coverage,fuzzing \
  --generation-database none \
  --report-dir "$REPO/target/schemathesis-report" \
  --no-color) || status=$?
if [ "$status" -ne 0 ]; then
  echo "schemathesis.sh: schemathesis found problems (exit $status); the daemon's last log lines:" >&2
  tail -n 20 "$WORK/daemon.log" >&2
fi
exit "$status"
