#!/usr/bin/env bash
# The whole test run: the same gates locally and in CI (.ci/run calls this).
#
# Every gate runs even when an earlier one fails, and the closing line counts the test
# harness's own result lines (`test result: ... N passed; M failed`), so it is printed, with
# the failures, before the script exits non-zero.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh || exit 1

failed_gates=()
gate() {
  local name=$1
  shift
  echo "== $name"
  "$@" || failed_gates+=("$name")
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT

gate fmt cargo fmt --all -- --check
gate clippy cargo clippy --locked --all-targets --all-features -- -D warnings
# All features (every store, the CLI, the examples the multi-process tests drive), then
# the default features, then sessions without the SQLite and Redis backends, so the
# `not(feature = ...)` branches are tested too.
# --no-fail-fast: a failing test binary does not hide the results of the others.
tests() { bash -c 'cargo test --locked --no-fail-fast "$@" 2>&1 | tee -a "$0"; exit "${PIPESTATUS[0]}"' "$log" "$@"; }
gate "tests (all features)" tests --all-features
gate "tests (default features)" tests
gate "tests (refresh without backends)" tests --features refresh
gate docs env RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --all-features
gate "core builds without optional features" cargo build --locked --lib --no-default-features
# Every fuzz target runs briefly on the stable toolchain (cargo-fuzz needs nightly flags;
# RUSTC_BOOTSTRAP=1 allows them on stable). A crash fails the run.
gate "fuzz smoke" fuzz/campaign.sh "${TOK_FUZZ_SECONDS:-10}"

# The closing line CI reads: every test of the runs above, from the harness's own lines.
read -r passed failed < <(grep -E '^test result: ' "$log" |
  sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/' |
  awk '{p += $1; f += $2} END {print p + 0, f + 0}')
if ((${#failed_gates[@]})); then
  echo "failed gates: ${failed_gates[*]}"
  ((failed > 0)) || failed=1
fi
echo "tests: $passed passed, $failed failed"
((${#failed_gates[@]} == 0))
