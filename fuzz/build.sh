#!/usr/bin/env bash
# Builds the fuzz targets as `cargo fuzz build -O` (cargo-fuzz 0.13.1) does,
# with the same flags, so no cargo-fuzz install is needed: release, line
# tables, one codegen unit, SanitizerCoverage (inline 8-bit counters, the PC
# table, compares traced, stack depth), branch folding off, `--cfg fuzzing`
# and AddressSanitizer. The binaries land in
# fuzz/target/x86_64-unknown-linux-gnu/release/TARGET and are libFuzzer
# programs: run them with ASAN_OPTIONS=detect_odr_violation=0 (fuzz/run.sh
# does). Extra arguments go to cargo (`--bin share_link`).
#   fuzz/build.sh [CARGO_ARGS ...]
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$HOME/.cargo/bin:$PATH"
flags=(
  -Cpasses=sancov-module
  -Cllvm-args=-sanitizer-coverage-level=4
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
  -Cllvm-args=-sanitizer-coverage-pc-table
  -Cllvm-args=-sanitizer-coverage-trace-compares
  --cfg fuzzing
  -Cllvm-args=-simplifycfg-branch-fold-threshold=0
  -Zsanitizer=address
  -Cllvm-args=-sanitizer-coverage-stack-depth
  -Ccodegen-units=1
)
# --target keeps the flags off build scripts and proc macros, as cargo-fuzz.
RUSTFLAGS="${flags[*]} ${RUSTFLAGS:-}" cargo "+$(cat toolchain)" build \
  --manifest-path Cargo.toml --target x86_64-unknown-linux-gnu --release \
  --config 'profile.release.debug="line-tables-only"' --bins "$@"
