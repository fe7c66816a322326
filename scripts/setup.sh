#!/usr/bin/env bash
# Installs what building guardrail needs, only where it is missing:
#   - the wasm32-unknown-unknown target (the planner's bundle is built by the
#     workspace's own tools/bundle, with wasm-bindgen as a library: neither
#     trunk nor wasm-bindgen-cli is installed), and clippy
# With --browser it also installs Debian's chromium and chromium-driver (tests).
# With --python it also makes .venv/, a Python virtual environment with AWS's
# own tools at the versions in scripts/python-requirements.txt (tests).
# With --bench it also installs wrk and nginx (router benchmarks).
# With --fuzz it also installs the nightly toolchain in fuzz/toolchain
# (fuzz/build.sh builds the targets with cargo-fuzz's flags, so cargo-fuzz
# itself is not installed).
# With --no-build-tools it skips the first (scripts/test.sh installs it
# first, then the rest beside its builds).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf 'setup: %s\n' "$*" >&2; }

want_browser=0
want_python=0
want_bench=0
want_fuzz=0
want_build_tools=1
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    --python) want_python=1 ;;
    --bench) want_bench=1 ;;
    --fuzz) want_fuzz=1 ;;
    --no-build-tools) want_build_tools=0 ;;
    *) log "unknown option $arg"; exit 2 ;;
  esac
done

if [ "$want_build_tools" = 1 ]; then
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  # clippy-driver lints the workspace as it compiles (scripts/lint-env.sh).
  if [ ! -x "$(rustc --print sysroot)/bin/clippy-driver" ]; then
    log "adding clippy"
    rustup component add clippy
  fi
fi

apt_install() {
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then sudo="sudo"; else log "need root to install $*"; exit 1; fi
  fi
  log "installing $* from Debian"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

if [ "$want_browser" = 1 ]; then
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    apt_install chromium chromium-driver
  fi
fi

if [ "$want_python" = 1 ]; then
  # The venv is rebuilt only when the pinned versions change.
  stamp=.venv/guardrail-requirements.txt
  if ! cmp -s scripts/python-requirements.txt "$stamp" || [ ! -x .venv/bin/python ]; then
    log "installing botocore, boto3, the AWS CLI and cfn-lint into .venv (about a minute, once)"
    rm -rf .venv
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/python-requirements.txt
    cp scripts/python-requirements.txt "$stamp"
  fi
fi

if [ "$want_bench" = 1 ]; then
  if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
    apt_install wrk nginx
  fi
fi

if [ "$want_fuzz" = 1 ]; then
  nightly=$(cat fuzz/toolchain)
  if ! rustup toolchain list | grep -q "^$nightly"; then
    log "installing the $nightly toolchain for the fuzz targets (about a minute, once)"
    rustup toolchain install "$nightly" --profile minimal
  fi
fi
