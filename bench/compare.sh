#!/usr/bin/env bash
# Runs permacache and its peers on the same workloads, on this machine, in one
# run, and prints one table with ratios (permacache-rs = 1).
#   bash bench/compare.sh            # about 5 minutes on 2 cores
# Peers, installed here by this script: Python's permacache, joblib.Memory and
# diskcache (pip, into target/compare/venv, with numpy) and the Rust `cached`
# crate's disk store (4.x: redb; bench/rust, its own crate), beside the floors
# each workload is judged against. Needs python3 with venv and pip.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/compare
mkdir -p "$out"

if [ ! -x "$out/venv/bin/python" ]; then
  python3 -m venv "$out/venv"
fi
"$out/venv/bin/pip" install --quiet --disable-pip-version-check \
  permacache==5.0.1 joblib==1.6.0 diskcache==5.6.3 numpy

CARGO_TARGET_DIR="$out/rust" cargo build --quiet --release --manifest-path bench/rust/Cargo.toml

work=$(mktemp -d "${TMPDIR:-/tmp}/permacache-compare.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "rust peers..." >&2
COMPARE_DIR="$work/rust" "$out/rust/release/permacache-compare" > "$out/rust.json"
echo "python peers..." >&2
"$out/venv/bin/python" bench/python/peers.py "$work/python" --million-budget "${MILLION_BUDGET:-300}" \
  > "$out/python.json" 2> "$out/python.log"

python3 bench/table.py "$out/rust.json" "$out/python.json" | tee "$out/table.md"
