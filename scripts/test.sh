#!/usr/bin/env bash
# The whole test suite: bootstrap (idempotent: libtorch, cmake, canonical ROMs, release
# binary), then every test of the workspace against the real emulator and real libtorch.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh"
cd "$root"
cargo test --workspace --all-targets --no-fail-fast "$@"
