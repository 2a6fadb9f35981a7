#!/usr/bin/env bash
# Hits of a structured value (200,000 rows of a struct) in a new user's
# crate, under the dev profile as cargo ships it, with dependencies
# optimised, with the crate itself at opt-level 1 too, and in release.
# Each line: the median of 7 hits, and one uncached computation.
set -euo pipefail
cd "$(dirname "$0")/devprofile"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/../../target/devprofile}"
export PERMACACHE_DIR="$(mktemp -d)"
trap 'rm -rf "$PERMACACHE_DIR"' EXIT
run() {
    printf '%-44s ' "$1"
    shift
    cargo run --quiet "$@"
}
run "dev (opt-level 0 everywhere)"
run "dev, dependencies at opt-level 2" \
    --config 'profile.dev.package."*".opt-level=2'
run "dev at opt-level 1, dependencies at 2" \
    --config 'profile.dev.package."*".opt-level=2' --config 'profile.dev.opt-level=1'
run "release" --release
