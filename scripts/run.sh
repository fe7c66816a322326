#!/usr/bin/env bash
# Sets up what is missing, builds the planner and the server, and serves guardrail
# on the embedded local engine at http://127.0.0.1:${PORT:-3000}.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

scripts/setup.sh
trunk build --release --offline
cargo build --release -p guardrail-server --bin guardrail
exec target/release/guardrail serve --port "${PORT:-3000}" --dist dist "$@"
