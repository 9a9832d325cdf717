#!/usr/bin/env bash
# The whole test suite: bootstrap (idempotent: libtorch, cmake, canonical ROMs, release
# binary), then every test of the workspace against the real emulator and real libtorch.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh"
cd "$root"
# On CI (a fresh clone, built once) incremental caches only cost disk.
if [ "${CI:-}" = "true" ]; then
  export CARGO_INCREMENTAL=0
  df -h "$root" >&2
fi
cargo test --workspace --all-targets --no-fail-fast "$@"
