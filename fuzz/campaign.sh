#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) each, one after another, and prints
# libFuzzer's final statistics per target. New inputs go to fuzz/work/TARGET (ignored by
# git); the committed corpus in fuzz/corpus/TARGET is read, never written; crashes land in
# fuzz/artifacts/TARGET. Exits non-zero if any target found a failure or did not run.
#
# Runs on the stable toolchain: cargo-fuzz passes nightly-only flags, which
# RUSTC_BOOTSTRAP=1 allows. Installs cargo-fuzz when missing. With TOK_FUZZ_SANITIZER
# (default: address when its runtime links here, else none) the sanitizer can be chosen.
set -uo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(verify verify_keyset verify_json inspect jwk roundtrip refresh_token cookie_header authorization_header end_body)
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null; then
  cargo install --locked cargo-fuzz || exit 1
fi

sanitizer=${TOK_FUZZ_SANITIZER:-}
if [[ -z $sanitizer ]]; then
  # AddressSanitizer when the toolchain ships its runtime; else plain libFuzzer, which
  # still catches panics, overflows (debug assertions on) and hangs.
  mkdir -p work
  if cargo fuzz build --sanitizer address "${targets[0]}" >work/build.log 2>&1; then
    sanitizer=address
  else
    sanitizer=none
  fi
fi
echo "sanitizer: $sanitizer"

failed=()
for t in "${targets[@]}"; do
  mkdir -p "work/$t"
  echo "== $t ($seconds s)"
  cargo fuzz run --sanitizer "$sanitizer" "$t" "work/$t" "corpus/$t" -- \
    -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 > "work/$t.log" 2>&1
  status=$?
  grep -E "^#[0-9]+ +(DONE|INITED)|stat::number_of_executed_units|stat::peak_rss_mb|stat::new_units_added|ERROR|SUMMARY|Test unit written|panicked|^error" "work/$t.log"
  # A run that never reached libFuzzer (a build error) executed nothing: that is a failure.
  grep -q "stat::number_of_executed_units" "work/$t.log" || status=1
  echo "corpus files: $(ls "work/$t" | wc -l)"
  ((status == 0)) || failed+=("$t")
done
if ((${#failed[@]})); then
  echo "fuzz failures in: ${failed[*]} (logs under fuzz/work/, inputs under fuzz/artifacts/)"
  exit 1
fi
