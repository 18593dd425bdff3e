#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) each, one after another, and prints
# libFuzzer's final statistics per target. New inputs go to fuzz/work/TARGET (ignored by
# git); the committed seeds in fuzz/corpus/TARGET are read, never written; crashes land in
# fuzz/artifacts/TARGET. Exits non-zero if any target found a failure. Needs nightly and
# cargo-fuzz.
set -uo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(verify verify_keyset verify_json inspect jwk roundtrip refresh_token)
failed=()
for t in "${targets[@]}"; do
  mkdir -p "work/$t"
  echo "== $t ($seconds s)"
  cargo +nightly fuzz run "$t" "work/$t" "corpus/$t" -- \
    -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 > "work/$t.log" 2>&1
  status=$?
  grep -E "^#[0-9]+ +(DONE|INITED)|stat::number_of_executed_units|stat::peak_rss_mb|stat::new_units_added|ERROR|SUMMARY|Test unit written|panicked" "work/$t.log"
  echo "corpus files: $(ls "work/$t" | wc -l)"
  ((status == 0)) || failed+=("$t")
done
if ((${#failed[@]})); then
  echo "fuzz failures in: ${failed[*]} (inputs under fuzz/artifacts/)"
  exit 1
fi
