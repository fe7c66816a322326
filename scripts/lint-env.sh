# Sourced by scripts/test.sh and scripts/run.sh. `linted CMD...` runs CMD with
# clippy-driver as the workspace's rustc wrapper: the workspace's crates are
# compiled and linted by clippy in one pass (its dependencies are compiled by
# rustc as always), so no separate `cargo clippy` check build is needed.
# Lints are warnings here; scripts/test.sh fails on any. Both scripts use the
# same settings, so that scripts/run.sh reuses what scripts/test.sh built.
# clippy-driver compiles with MIR optimisations off: it builds the tests and
# the debug server, never what is shipped (the planner's bundle, the release
# server).
linted() {
  local driver
  driver="$(rustc --print sysroot)/bin/clippy-driver"
  RUSTC_WORKSPACE_WRAPPER="$driver" CLIPPY_ARGS="" "$@"
}
