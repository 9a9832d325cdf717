#!/usr/bin/env bash
# Idempotent setup for a fresh machine: a project-local Python venv with PyTorch (libtorch for
# `tch`) and CMake (for ALE), the canonical ROMs from the `ale-py` wheel, cargo's environment
# in .cargo/config.toml, and a release build of `dimua`. Everything is cached in git-ignored
# folders (.cache/, target/), so a second run takes seconds.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$root/.cache"
venv="$cache/venv"
torch_version="2.13.0"
ale_py_version="0.12.1"
mkdir -p "$cache"

log() { printf '[bootstrap] %s\n' "$*" >&2; }

python_bin="${PYTHON:-python3}"
if ! command -v "$python_bin" >/dev/null 2>&1; then
  log "python3 is required (for pip to fetch the PyTorch wheel); install it and re-run"
  exit 1
fi

# 1. venv with torch + cmake (+ numpy/safetensors for the interop tests).
have_torch() {
  [ -x "$venv/bin/python" ] && "$venv/bin/python" - "$torch_version" <<'PY' 2>/dev/null
import sys, torch, numpy, safetensors
sys.exit(0 if torch.__version__.split("+")[0] == sys.argv[1] else 1)
PY
}
if ! have_torch || [ ! -x "$venv/bin/cmake" ]; then
  log "creating $venv with torch==$torch_version, cmake, numpy, safetensors (about a minute)"
  "$python_bin" -m venv "$venv"
  "$venv/bin/pip" install -q --no-cache-dir --disable-pip-version-check "torch==$torch_version" cmake numpy safetensors
fi
# Reference implementations for tests/sb3_crosscheck.rs (the RL presets against
# Stable-Baselines3's Atari wrappers on ale-py's emulator). Test-only: dimua never runs
# Python. SB3 without its plotting/logging dependencies (pandas, matplotlib), which the
# wrappers do not use.
have_crosscheck() {
  "$venv/bin/python" - <<'PY' 2>/dev/null
import ale_py, cv2, gymnasium, stable_baselines3.common.atari_wrappers
PY
}
if ! have_crosscheck; then
  log "installing gymnasium, ale-py, opencv and stable-baselines3 into $venv (cross-check test)"
  "$venv/bin/pip" install -q --no-cache-dir --disable-pip-version-check \
    "gymnasium==1.4.0" "ale-py==$ale_py_version" "opencv-python-headless==5.0.0.93"
  "$venv/bin/pip" install -q --no-cache-dir --disable-pip-version-check --no-deps \
    "stable-baselines3==2.9.2" "cloudpickle==3.1.3"
fi
torch_dir="$("$venv/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
ln -sfn "$torch_dir" "$cache/libtorch"

# 2. cargo environment: libtorch and cmake for every cargo command in this checkout.
mkdir -p "$root/.cargo"
config="$root/.cargo/config.toml"
want="$(cat <<TOML
# Written by scripts/bootstrap.sh (git-ignored): where libtorch and cmake live for this checkout.
[env]
LIBTORCH = "$cache/libtorch"
CMAKE = "$venv/bin/cmake"
CMAKE_POLICY_VERSION_MINIMUM = "3.5"
TOML
)"
if [ ! -f "$config" ] || [ "$(cat "$config")" != "$want" ]; then
  printf '%s\n' "$want" >"$config"
  log "wrote $config"
fi

# 3. the canonical ROM dumps: the ale-py wheel (a zip; nothing of it is installed).
wheel_dir="$cache/wheels"
mkdir -p "$wheel_dir"
if ! ls "$wheel_dir"/ale_py-"$ale_py_version"-*.whl >/dev/null 2>&1; then
  log "downloading ale-py==$ale_py_version (canonical ROMs)"
  "$venv/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    -d "$wheel_dir" "ale-py==$ale_py_version"
fi

# 4. the binary.
if [ "${DIMUA_SKIP_BUILD:-0}" != "1" ]; then
  log "cargo build --release"
  (cd "$root" && cargo build --release --quiet --bin dimua)
  wheel="$(ls "$wheel_dir"/ale_py-"$ale_py_version"-*.whl | head -n 1)"
  "$root/target/release/dimua" roms import "$wheel" --quiet
fi
