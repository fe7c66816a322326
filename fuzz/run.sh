#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 10): from its seeds
# (fuzz/seeds.sh) and every input that once crashed it (fuzz/regressions/),
# into a scratch corpus. Fails on the first crash, leaving the input in
# fuzz/artifacts/TARGET/. Needs the pinned nightly and cargo-fuzz
# (`scripts/setup.sh --fuzz`).
#   fuzz/run.sh [SECONDS] [TARGET ...]
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$HOME/.cargo/bin:$PATH"
toolchain=$(cat toolchain)
seconds=${1:-10}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(share_link plan_import event_decoder cloudwatch_json cloudwatch_cbor cloudwatch_query alarm_expressions)
fi
cargo "+$toolchain" fuzz build -O
for target in "${targets[@]}"; do
  corpus=$(mktemp -d)
  inputs=("$corpus" "seeds/$target")
  [ -d "regressions/$target" ] && inputs+=("regressions/$target")
  log=$(mktemp)
  if ! cargo "+$toolchain" fuzz run -O "$target" "${inputs[@]}" -- \
      -max_total_time="$seconds" -malloc_limit_mb=256 -print_final_stats=1 > "$log" 2>&1; then
    grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" >&2 || tail -20 "$log" >&2
    echo "fuzz: $target crashed" >&2
    exit 1
  fi
  runs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
  coverage=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | awk '{ print $2 }')
  printf 'fuzz: %-17s %10s runs in %s s, coverage %s edges, corpus %s inputs\n' \
    "$target" "$runs" "$seconds" "${coverage:-?}" "$(find "$corpus" -type f | wc -l)"
  rm -rf "$corpus" "$log"
done
