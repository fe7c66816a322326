#!/usr/bin/env bash
# Sets up what is missing (toolchain pieces, Chromium and ChromeDriver, a
# Python virtual environment with AWS's own tools, and the nightly the fuzz
# targets build on) and runs every check and test: formatting, clippy, the
# planner's release bundle, unit, property, CLI, engine, crash, AWS-oracle and
# browser tests, the benchmarks in test mode, and the fuzz targets briefly.
#
# Three lanes share the 2 cores, so that no phase that runs on one core (a
# crate's front end, LTO in one codegen unit, a link) leaves the other idle:
#   - this script: the workspace's test build, then the tests;
#   - the planner: its release bundle and clippy of the browser build, in
#     target/bundle (a lock of its own: neither lane waits for the other);
#   - the installs no build needs (Chromium, the Python tools, the nightly),
#     then the fuzz targets' build (fuzz/build.sh).
# Clippy lints the workspace's code as the test build compiles it (`linted`,
# scripts/lint-env.sh): one build instead of a check and a build. A warning,
# clippy's or rustc's, fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# Chromium puts a socket under TMPDIR; a long path breaks it.
export TMPDIR=/tmp

step() { printf '\n== %s\n' "$*" >&2; }

# Fails if the build output in $1 holds a compiler warning, clippy's or
# rustc's: cargo ends each crate's with "warning: `crate` (target) generated N
# warnings", and shows a cached crate's again, so a second run fails as the
# first did.
no_warnings() {
  if grep -qE '^warning: `[^`]+` \(.*\) generated [0-9]+ warnings?' "$1"; then
    grep -E -B2 -A12 '^(warning|error)(\[[A-Za-z0-9_:]+\])?: ' "$1" | grep -v 'target_features. custom section' >&2
    echo "the build of $2 has compiler warnings (clippy's or rustc's): fix them" >&2
    exit 1
  fi
}

step "setup: the build tools"
scripts/setup.sh
mkdir -p target
# shellcheck source=scripts/lint-env.sh
. scripts/lint-env.sh

# A lane's log is shown when it is waited for.
lanes=()
start_lane() {
  local name=$1
  shift
  "$@" >"target/lane-$name.log" 2>&1 &
  lanes+=("$!:$name")
}
finish_lane() {
  local want=$1 entry pid name
  for entry in "${lanes[@]}"; do
    pid=${entry%%:*}
    name=${entry#*:}
    [ "$name" = "$want" ] || continue
    if ! wait "$pid"; then
      cat "target/lane-$name.log" >&2
      echo "the $name lane failed" >&2
      exit 1
    fi
    cat "target/lane-$name.log" >&2
  done
}
# A check that fails ends the script: let an apt or pip install under way
# finish rather than leave it half done.
trap 'echo "test.sh: waiting for the other lanes to stop" >&2; wait 2>/dev/null || true' EXIT

# The bundle users are served is compiled by rustc, not clippy-driver (which
# turns MIR optimisations off for its lints), so the browser build is linted
# by `cargo clippy` after it.
planner_lane() {
  export CARGO_TARGET_DIR=target/bundle
  step "planner lane: the release bundle into dist/ (tools/bundle, in target/bundle; the browser tests load it)"
  cargo run -p guardrail-bundle --bin bundle
  step "planner lane: cargo clippy of the browser build (csr, wasm32)"
  cargo clippy -p guardrail-app --features csr --target wasm32-unknown-unknown -- -D warnings
}
setup_lane() {
  step "setup lane: Chromium, the Python tools and the nightly"
  scripts/setup.sh --no-build-tools --browser --python --fuzz
  step "setup lane: the fuzz targets' build (fuzz/build.sh, into fuzz/target)"
  fuzz/build.sh
}
start_lane planner planner_lane
start_lane setup setup_lane

step "cargo fmt --check"
cargo fmt --all -- --check

step "no import circles in core/, app/ or server/ (scripts/import-circles.py)"
scripts/import-circles.py --self-test
scripts/import-circles.py core/src app/src server/src

step "functions over 80 lines are a single table or match that says why (scripts/long-functions.py)"
scripts/long-functions.py --self-test
scripts/long-functions.py core/src app/src server/src

# Every workspace target: libraries, binaries, tests, benches and examples.
step "the workspace's test build, linted by clippy"
linted cargo test --workspace --all-targets --no-run 2>&1 | tee target/test-build.log
no_warnings target/test-build.log "the workspace"

step "waiting for the planner lane"
finish_lane planner
step "waiting for the setup lane"
finish_lane setup

# One test binary after another, on an otherwise idle machine: tests that
# drive the engine at a time scale from boto3 or the AWS CLI (a client's
# request rate against a plan clock 60 times faster) fail when the browser
# tests run beside them, as tried.
step "cargo test: every test, and the benchmarks once each in test mode"
linted cargo test --workspace --all-targets

step "fuzz targets, 10 s each from their seeds and past crashes (fuzz/run.sh)"
fuzz/run.sh 10

trap - EXIT
step "all checks passed"
