#!/usr/bin/env bash
# Sets up what is missing, builds the planner and the server, and serves guardrail
# on the embedded local engine at http://127.0.0.1:${PORT:-3000}.
#
# A first release build of the server takes a quarter of an hour or more on 2
# cores, and the AWS SDK is most of it (BENCHMARKS.md). So guardrail serves
# what exists soonest and builds the rest beside it, at low priority:
#   - a release build: served (rebuilt first if the code changed);
#   - else a debug build with the SageMaker backend (scripts/test.sh makes
#     one): served, the release build beside it;
#   - else, on a new machine: a debug build without the AWS SDK (the
#     `sagemaker` feature off: the local engine and AWS's APIs on loopback,
#     no `--backend sagemaker`), built beside the planner's bundle and
#     served; the release build, SageMaker backend included, beside it.
# The next start of scripts/run.sh serves the release build. What users
# create is in the data directory, which every build serves the same.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

scripts/setup.sh
# The planner and the debug server are built as scripts/test.sh builds them
# (the planner in target/bundle; the debug server linted as it compiles, see
# scripts/lint-env.sh), so that after a test run nothing is built again.
# shellcheck source=scripts/lint-env.sh
. scripts/lint-env.sh
bundle() { CARGO_TARGET_DIR=target/bundle cargo run -q -p guardrail-bundle --bin bundle; }
serve=(serve --port "${PORT:-3000}" --dist dist "$@")
if compgen -G 'target/release/deps/libaws_sdk_sagemaker-*.rlib' >/dev/null; then
  bundle
  cargo build --release -p guardrail-server --bin guardrail
  exec target/release/guardrail "${serve[@]}"
fi
if compgen -G 'target/debug/deps/libaws_sdk_sagemaker-*.rlib' >/dev/null; then
  bundle
  # `--workspace --examples` (core's one example, small) makes cargo resolve
  # features as for scripts/test.sh's test build (dev-dependencies, such as
  # aws-smithy-mocks, turn features on in the AWS SDK): with `-p
  # guardrail-server` alone, the debug build after a test run started again
  # from the AWS SDK.
  linted cargo build --workspace --bin guardrail --examples
  first=target/debug/guardrail
  what="the debug build"
else
  # The bundle and the lean server side by side: each spends long stretches
  # on one core (the bundle's link-time optimisation, a crate's front end).
  bundle &
  building=$!
  echo "run.sh: a first build without the AWS SDK, to serve the planner and the local engine soon" >&2
  cargo build -p guardrail-server --bin guardrail --no-default-features
  wait "$building"
  first=target/debug/guardrail
  what="a debug build without the SageMaker backend"
fi
# Served from a copy: the debug binary may be rebuilt while it runs.
cp "$first" target/guardrail-first-run
echo "run.sh: serving $what while the release build runs beside it" \
  "(target/release-build.log); the next scripts/run.sh serves the release build" >&2
nice -n 19 cargo build --release -p guardrail-server --bin guardrail \
  >target/release-build.log 2>&1 &
exec target/guardrail-first-run "${serve[@]}"
