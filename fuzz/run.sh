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
    # The settings reader wants `&'static str`: its target leaks each input
    # on purpose, which is not the reader's leak.
    leaks=1
    if [ "$target" = settings ]; then leaks=0; fi
    ASAN_OPTIONS="detect_leaks=$leaks" cargo +nightly fuzz run "$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -detect_leaks="$leaks"
done
