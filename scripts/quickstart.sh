#!/usr/bin/env bash
# The main job on the embedded default: bootstrap, then collect -> train -> probe DIM-UA on
# Pong (canonical ROM bundled with the `ale` crate) with the small `quick` settings, a few
# minutes on 2 CPU cores. Extra flags go to `dimua run` (e.g. --method st-dim).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh"
cd "$root"
exec target/release/dimua run --out runs/quickstart --force "$@"
