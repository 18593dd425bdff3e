#!/usr/bin/env bash
# The whole test run: the same gates locally and in CI (.ci/run calls this).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

echo "== fmt";    cargo fmt --all -- --check
echo "== clippy"; cargo clippy --locked --all-targets --all-features -- -D warnings
echo "== tests"
log=$(mktemp)
cargo test --locked --all-features 2>&1 | tee "$log"
passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s += $1} END {print s + 0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s += $1} END {print s + 0}')
rm -f "$log"
echo "== docs";   RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --all-features
echo "== core builds without optional features"
cargo build --locked --lib --no-default-features

# The corpus replay above runs on stable; with nightly, also run every fuzz target briefly.
echo "== fuzz smoke"
if cargo +nightly --version >/dev/null 2>&1; then
  command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
  fuzz/campaign.sh "${TOK_FUZZ_SECONDS:-10}"
else
  echo "no nightly toolchain: fuzz smoke skipped (the corpus replay still ran)"
fi

# The closing line CI reads: every test of the run above.
echo "tests: $passed passed, $failed failed"
