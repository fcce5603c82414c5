#!/bin/bash
# The whole test suite: formatting, lints, unit/property/model-check tests,
# and the end-to-end tests that run the real binary on DPDK virtual devices
# and with real hosts in network namespaces. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --release -- -D warnings
echo "== cargo test"
cargo test --workspace --release
echo "== loom model check of the left-right publication"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p moose-tables --release --lib loom
