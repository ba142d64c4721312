#!/usr/bin/env bash
# Fuzzes Herald's parsers of untrusted input for a bounded time each (not part of CI's
# default path):
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# Targets: csv_import bounce_classify campaign_file link_token smtp_command (all by
# default). Each run starts from the hand-made seeds in fuzz/corpus/<target>/ (read
# only) and keeps what it learns in fuzz/target/corpus/<target>/; a crash, panic or
# hang (10 s per input) stops the run, leaves the input in fuzz/artifacts/<target>/ and
# makes the script exit 1. A summary line per target (executions, seconds, result)
# closes the output.
#
# Only the stable toolchain is assumed: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z
# flags, and `-s none` builds without a sanitizer (AddressSanitizer needs nightly's
# std; Herald's code is `unsafe`-free, panics and hangs are what the fuzzer finds).
set -euo pipefail

seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(csv_import bounce_classify campaign_file link_token smtp_command)
fi

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: installing it (cargo install cargo-fuzz --locked)" >&2
    cargo install cargo-fuzz --locked
fi

status=0
summary=()
for target in "${targets[@]}"; do
    work="target/corpus/$target"
    mkdir -p "$work" "artifacts/$target"
    log="target/fuzz-$target.log"
    echo "== $target: ${seconds}s" >&2
    set +e
    cargo fuzz run -s none -O "$target" "$work" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        >"$log" 2>&1
    rc=$?
    set -e
    execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)"
    time_s="$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' | tail -n 1)"
    if [ "$rc" -eq 0 ]; then
        result="no crash"
    else
        result="FAILED (exit $rc): see $root/fuzz/$log and fuzz/artifacts/$target/"
        tail -n 30 "$log" >&2
        status=1
    fi
    summary+=("$target: ${execs:-?} executions in ${time_s:-$seconds} s, $result")
done
echo
printf '%s\n' "${summary[@]}"
exit "$status"
