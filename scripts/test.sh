#!/usr/bin/env bash
# Sets up what is missing (toolchain pieces, Chromium and ChromeDriver, a
# Python virtual environment with AWS's own tools, and the nightly cargo-fuzz
# needs) and runs every check and test: formatting, clippy, the core's Wasm
# build, the planner's release bundle, unit, property, CLI, engine, crash,
# AWS-oracle and browser tests, the fuzz targets briefly, and the benchmarks in
# test mode.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# Chromium puts a socket under TMPDIR; a long path breaks it.
export TMPDIR=/tmp

step() { printf '\n== %s\n' "$*" >&2; }

step "setup: the build tools; Chromium, the Python tools and the nightly beside the builds"
scripts/setup.sh
# Downloads and installs that no build needs run while the builds do; the
# tests wait for them (fuzz/run.sh's nightly and cargo-fuzz too).
mkdir -p target
scripts/setup.sh --no-build-tools --browser --python --fuzz >target/setup-beside.log 2>&1 &
beside=$!
# A check that fails ends the script: let an apt or pip install under way
# finish rather than leave it half done.
trap 'wait "$beside" 2>/dev/null || true' EXIT
finish_setup() {
  if ! wait "$beside"; then
    cat target/setup-beside.log >&2
    echo "setup beside the builds failed" >&2
    exit 1
  fi
  cat target/setup-beside.log >&2
}

step "cargo fmt --check"
cargo fmt --all -- --check

step "no import circles in core/, app/ or server/ (scripts/import-circles.py)"
scripts/import-circles.py --self-test
scripts/import-circles.py core/src app/src server/src

step "functions over 80 lines say why, or are listed to split (scripts/long-functions.py)"
scripts/long-functions.py --self-test
scripts/long-functions.py core/src app/src server/src

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "guardrail-core for wasm32-unknown-unknown"
cargo build -p guardrail-core --target wasm32-unknown-unknown

step "cargo clippy of the browser build (csr, wasm32)"
cargo clippy -p guardrail-app --features csr --target wasm32-unknown-unknown -- -D warnings

step "the planner's release bundle into dist/ (tools/bundle; the browser tests load it)"
cargo run -q -p guardrail-bundle --bin bundle

step "cargo test (once the setup beside the builds is done)"
finish_setup
cargo test --workspace

step "fuzz targets, 10 s each from their seeds and past crashes (fuzz/run.sh)"
fuzz/run.sh 10

step "benchmarks, once each in test mode"
cargo test -p guardrail-core --benches

step "all checks passed"
