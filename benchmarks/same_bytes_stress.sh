#!/usr/bin/env bash
# Same config, same bytes, many processes: trains one step of a small config (ST-DIM unless
# METHOD / HEADS say otherwise) from one dataset N times, two `dimua train --threads 2`
# processes at a time (the timing under which the MKL vector-math race of
# docs/guarantees.md showed up, 12 of 1,340 processes before the fix), and counts the
# distinct `encoder.safetensors` digests. Each process writes a step
# trace with tensor digests, so an odd one names the parameter whose update differed.
#
#   [METHOD=st-dim HEADS=1] benchmarks/same_bytes_stress.sh [PAIRS=300] [DIMUA=target/release/dimua] [WORK=/tmp/dimua-stress]
#
# Prints one line per distinct digest (count, digest, one run that has it) and exits 1 when
# there is more than one. Runs with the first process's digest are deleted as it goes; the
# others stay under WORK/runs, their step traces under WORK/traces.
set -euo pipefail
pairs="${1:-300}"
dimua="$(realpath "${2:-target/release/dimua}")"
work="${3:-/tmp/dimua-stress}"
mkdir -p "$work"
cd "$work"
rm -rf runs traces digests.txt
cat > cfg.toml <<EOF
game = "pong"
method = "${METHOD:-st-dim}"
heads = ${HEADS:-1}
units = 32
seed = 4
device = "cpu"

[train]
epochs = 1
steps_per_epoch = 1
EOF
if [ ! -f ds/manifest.json ]; then
  "$dimua" collect --game pong --frames 1500 --split 8/2/0 --seed 1 --out ds >/dev/null
fi
one() {
  local out="runs/$1"
  DIMUA_STEP_TRACE="$work/traces" DIMUA_STEP_TRACE_LOSSES_ONLY=1 DIMUA_STEP_TRACE_TENSORS=1 \
    "$dimua" train --threads 2 --config cfg.toml --dataset ds --out "$out" >/dev/null 2>&1
  echo "$(md5sum < "$out/encoder.safetensors" | cut -c1-8) $1" >> digests.txt
}
first=""
for i in $(seq 1 "$pairs"); do
  one "$i-a" & one "$i-b" & wait
  [ -z "$first" ] && first="$(head -1 digests.txt | cut -d' ' -f1)"
  for r in "$i-a" "$i-b"; do
    grep -q "^$first $r\$" digests.txt && rm -rf "runs/$r"
  done
  if [ $((i % 50)) -eq 0 ]; then echo "$((2 * i)) processes" >&2; fi
done
sort digests.txt | awk '{n[$1]++; run[$1]=$2} END {for (d in n) print n[d], d, run[d]}' | sort -rn
[ "$(cut -d' ' -f1 digests.txt | sort -u | wc -l)" -eq 1 ]
