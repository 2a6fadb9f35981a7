#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each):
#   bash fuzz/run.sh [SECONDS]
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# A crash is saved under fuzz/artifacts/TARGET/; turn it into a regression
# test in the normal suite (tests/fuzz_regressions.rs).
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
for target in record codecs export unseal settings; do
    echo "== $target ($seconds s)"
    cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048
done
