#!/usr/bin/env bash
# Sets up what is missing, builds the planner and the server, and serves guardrail
# on the embedded local engine at http://127.0.0.1:${PORT:-3000}.
#
# A first release build of the server takes a quarter of an hour or more on 2
# cores (BENCHMARKS.md). Until one exists, guardrail serves from the debug
# build (which scripts/test.sh has already made, SageMaker backend included)
# while the release build runs beside it at low priority; the next start of
# scripts/run.sh serves the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

scripts/setup.sh
# The planner and the debug server are built as scripts/test.sh builds them
# (the planner in target/bundle; the debug server linted as it compiles, see
# scripts/lint-env.sh), so that after a test run nothing is built again.
# shellcheck source=scripts/lint-env.sh
. scripts/lint-env.sh
CARGO_TARGET_DIR=target/bundle cargo run -q -p guardrail-bundle --bin bundle
serve=(serve --port "${PORT:-3000}" --dist dist "$@")
if compgen -G 'target/release/deps/libaws_sdk_sagemaker-*.rlib' >/dev/null; then
  cargo build --release -p guardrail-server --bin guardrail
  exec target/release/guardrail "${serve[@]}"
fi
# `--workspace --examples` (core's one example, small) makes cargo resolve
# features as for scripts/test.sh's test build (dev-dependencies, such as
# aws-smithy-mocks, turn features on in the AWS SDK): with `-p
# guardrail-server` alone, the debug build after a test run started again
# from the AWS SDK.
linted cargo build --workspace --bin guardrail --examples
# Served from a copy: the debug binary may be rebuilt while it runs.
cp target/debug/guardrail target/debug/guardrail-first-run
echo "run.sh: serving the debug build while the release build runs beside it" \
  "(target/release-build.log); the next scripts/run.sh serves the release build" >&2
nice -n 19 cargo build --release -p guardrail-server --bin guardrail \
  >target/release-build.log 2>&1 &
exec target/debug/guardrail-first-run "${serve[@]}"
