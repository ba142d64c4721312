#!/usr/bin/env bash
# Re-runs the README's usage section (README.md, "### A first session, with output") in a
# scratch folder and fails when a command fails or prints something else than the README
# shows; also checks that every command and flag of the README's command list exists.
# The rules (placeholders, `# exit N`) are described at the top of readme-check.py.
# Uses $HERALD_BIN when set, else builds target/debug/herald with `cargo build`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${HERALD_BIN:-}" ]; then
  cargo build --locked --quiet
  HERALD_BIN="$PWD/target/debug/herald"
fi
python3 scripts/readme-check.py --self-test
exec python3 scripts/readme-check.py README.md "$HERALD_BIN"
