#!/usr/bin/env bash
# fp32 against bf16 pretraining steps, dimua against the strongest plain-PyTorch step
# (benchmarks/pytorch_fast_step.py, eager and torch.compile), at the same shapes and threads.
# The six implementations run one after another, alternating, ROUNDS times, so a change in
# the machine's load hits them all; the table gives each one's median steps/s and its ratio to
# dimua fp32. Needs the release binary and the venv (scripts/bootstrap.sh).
#
#   benchmarks/precision.sh                       # dim-ua 4x512, batch 64, 2 threads, 3 rounds
#   METHOD=st-dim HEADS=1 UNITS=256 ROUNDS=5 benchmarks/precision.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
method="${METHOD:-dim-ua}"
heads="${HEADS:-4}"
units="${UNITS:-512}"
threads="${THREADS:-2}"
steps="${STEPS:-10}"
rounds="${ROUNDS:-3}"
device="${DEVICE:-cpu}"
dimua="$root/target/release/dimua"
python="$root/.cache/venv/bin/python"
[ -x "$dimua" ] || { echo "build first: cargo build --release --bin dimua" >&2; exit 1; }
[ -x "$python" ] || { echo "run scripts/bootstrap.sh first (the venv)" >&2; exit 1; }
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

run() { # name command...
  local name="$1"; shift
  local line
  line="$("$@" 2>/dev/null | tail -n 1)"
  printf '%s\t%s\n' "$name" "$line" >>"$out"
  printf '  %-26s %s steps/s\n' "$name" \
    "$(printf '%s' "$line" | "$python" -c 'import json,sys; print(round(json.load(sys.stdin)["steps_per_s"], 3))')" >&2
}

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; uptime: $(uptime)" >&2
common=(--method "$method" --heads "$heads" --units "$units" --threads "$threads")
for r in $(seq 1 "$rounds"); do
  echo "round $r/$rounds" >&2
  for p in fp32 bf16; do
    run "dimua $p" "$dimua" bench train "${common[@]}" --device "$device" --steps "$steps" \
      --warmup 3 --precision "$p"
  done
  for p in fp32 bf16; do
    OMP_NUM_THREADS="$threads" run "pytorch eager $p" "$python" "$root/benchmarks/pytorch_fast_step.py" \
      "${common[@]}" --device "$device" --steps "$steps" --warmup 3 --precision "$p"
    OMP_NUM_THREADS="$threads" run "pytorch compile $p" "$python" "$root/benchmarks/pytorch_fast_step.py" \
      "${common[@]}" --device "$device" --steps "$steps" --warmup 5 --precision "$p" --compile
  done
done

"$python" - "$out" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, js = line.rstrip("\n").split("\t", 1)
    rows.setdefault(name, []).append(json.loads(js)["steps_per_s"])
base = statistics.median(rows["dimua fp32"])
print("| implementation | steps/s (median) | runs | vs dimua fp32 |")
print("|---|---:|---|---:|")
for name, v in rows.items():
    m = statistics.median(v)
    print(f"| {name} | {m:.2f} | {', '.join(f'{x:.2f}' for x in v)} | {m / base:.2f}x |")
PY
