#!/usr/bin/env bash
# Every CUDA path of dimua in one run on a GPU machine, at most 8 minutes, ending with one
# JSON summary on stdout (logs of each step under $OUT or target/gpu-check):
#   1. build: `cargo build --release` (+ the CUDA test binary) against the machine's PyTorch
#      (LIBTORCH_USE_PYTORCH), or use a carried target/release/dimua when there is no cargo;
#   2. tests/cuda.rs: a streamed tiny run on the GPU (device-side frame mirror, trainer,
#      batched probes) in fp32 and bf16, and GPU vs CPU encoder features;
#   3. `dimua bench train` DIM-UA 4x512 on cuda, fp32 then bf16;
#   4. `dimua bench probe` on cuda: batched vs one by one;
#   5. a quick `dimua run --device cuda` (the embedded default: DIM-UA on Pong).
# Each step has its own time limit; a failed step is recorded and the next one still runs.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
logs="${OUT:-$root/target/gpu-check}"
mkdir -p "$logs"
results="$logs/steps.tsv"
: >"$results"
dimua="$root/target/release/dimua"

step() { # name seconds command...
  local name="$1" limit="$2"; shift 2
  local start end rc
  start=$(date +%s.%N)
  timeout "$limit" "$@" >"$logs/$name.log" 2>&1
  rc=$?
  end=$(date +%s.%N)
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(awk "BEGIN{print $end - $start}")" >>"$results"
  echo "[gpu-check] $name: exit $rc" >&2
  return $rc
}

step gpu 20 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
if command -v cargo >/dev/null 2>&1; then
  export LIBTORCH_USE_PYTORCH=1 LIBTORCH_BYPASS_VERSION_CHECK=1
  step build 240 cargo build --release --bin dimua --tests
else
  printf 'build\tskipped (no cargo: using the carried binary)\t0\n' >>"$results"
fi
if command -v cargo >/dev/null 2>&1; then
  step tests_cuda 120 cargo test --release --test cuda -- --nocapture
fi
if [ -x "$dimua" ]; then
  step bench_train_fp32 60 "$dimua" bench train --method dim-ua --heads 4 --units 512 \
    --device cuda --steps 50 --warmup 5 --precision fp32
  step bench_train_bf16 60 "$dimua" bench train --method dim-ua --heads 4 --units 512 \
    --device cuda --steps 50 --warmup 5 --precision bf16
  step bench_probe 60 "$dimua" bench probe --device cuda --labels 30 --dim 256 \
    --n-train 20000 --epochs 3
  step quick_run 150 "$dimua" run --device cuda --out "$logs/quick-run" --force
else
  echo "[gpu-check] no $dimua: build it first (cargo build --release --bin dimua)" >&2
fi

python3 - "$logs" <<'PY'
import json, os, sys
logs = sys.argv[1]
summary = {"steps": {}}
for line in open(os.path.join(logs, "steps.tsv")):
    name, rc, seconds = line.rstrip("\n").split("\t")
    summary["steps"][name] = {"exit": rc, "seconds": round(float(seconds), 1)}
def last_json(name):
    try:
        lines = [l for l in open(os.path.join(logs, name + ".log")) if l.startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except OSError:
        return None
gpu = os.path.join(logs, "gpu.log")
if os.path.exists(gpu):
    summary["gpu"] = open(gpu).read().strip()
for p in ("fp32", "bf16"):
    r = last_json("bench_train_" + p)
    if r:
        summary[f"train_steps_per_s_{p}"] = round(r["steps_per_s"], 2)
if "train_steps_per_s_fp32" in summary and "train_steps_per_s_bf16" in summary:
    summary["bf16_speedup"] = round(
        summary["train_steps_per_s_bf16"] / summary["train_steps_per_s_fp32"], 2)
r = last_json("bench_probe")
if r:
    summary["probe_bench"] = r
probe = os.path.join(logs, "quick-run", "probe.json")
if os.path.exists(probe):
    p = json.load(open(probe))
    summary["quick_run_f1"] = p.get("across_categories_f1")
print(json.dumps(summary, indent=1))
PY
