#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 10): from its seeds
# (fuzz/seeds.sh) and every input that once crashed it (fuzz/regressions/),
# into a scratch corpus. Fails on a crash, leaving the input in
# fuzz/artifacts/TARGET/. Needs the pinned nightly (`scripts/setup.sh
# --fuzz`); builds with fuzz/build.sh, cargo-fuzz's flags without cargo-fuzz.
# Runs FUZZ_JOBS targets at once (default 2: libFuzzer runs on one core).
#   fuzz/run.sh [SECONDS] [TARGET ...]
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$HOME/.cargo/bin:$PATH"
seconds=${1:-10}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(share_link plan_import event_decoder cloudwatch_json cloudwatch_cbor cloudwatch_query alarm_expressions)
fi
jobs=${FUZZ_JOBS:-2}
./build.sh
bin=target/x86_64-unknown-linux-gnu/release
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0"

# One target: its summary line on success; on a crash, what libFuzzer said.
fuzz_one() {
  local target=$1 corpus log runs coverage
  corpus=$(mktemp -d)
  local inputs=("$corpus" "seeds/$target")
  [ -d "regressions/$target" ] && inputs+=("regressions/$target")
  log=$(mktemp)
  mkdir -p "artifacts/$target"
  if ! "$bin/$target" -artifact_prefix="artifacts/$target/" "${inputs[@]}" \
      -max_total_time="$seconds" -malloc_limit_mb=256 -print_final_stats=1 > "$log" 2>&1; then
    grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" >&2 || tail -20 "$log" >&2
    echo "fuzz: $target crashed" >&2
    rm -rf "$corpus" "$log"
    return 1
  fi
  runs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
  coverage=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | awk '{ print $2 }')
  printf 'fuzz: %-17s %10s runs in %s s, coverage %s edges, corpus %s inputs\n' \
    "$target" "$runs" "$seconds" "${coverage:-?}" "$(find "$corpus" -type f | wc -l)"
  rm -rf "$corpus" "$log"
}

failed=0
running=0
for target in "${targets[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
  fuzz_one "$target" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
exit "$failed"
