#!/usr/bin/env bash
# The RL experiment of docs/rl-env.md: PPO (examples/ppo_atari.rs) on Breakout with
#   (a) the Nature CNN trained end to end, (b) a frozen random-init encoder (random-cnn),
#   (c) a frozen DIM-UA encoder pretrained on Breakout, (d) the same encoder fine-tuned,
# then the table and plot (examples/ppo_report.rs).
#
#   benchmarks/ppo_experiment.sh OUT_DIR ENCODER_RUN [FRAMES] [FINETUNE_FRAMES] [SEEDS] [FT_SEEDS]
#
# ENCODER_RUN: a `dimua train --game breakout --method dim-ua` run directory. FRAMES: emulator
# frames per run of (a)-(c) (default 1,000,000); FINETUNE_FRAMES: where (d) stops (default
# 250,000: re-encoding the 210x160 frames of every sample with gradients is ~20x slower per
# frame on CPU); (d) keeps the learning-rate schedule of FRAMES (`--stop-at`), so up to
# FINETUNE_FRAMES its curve compares with (a)-(c) at equal frames and equal schedule.
# FT_PRECISION=bf16 (environment) fine-tunes (d) with a bf16 encoder (`--precision bf16`),
# 1.6-2.2x faster on a CPU with AMX (BENCHMARKS.md); the default is fp32.
# A run folder that holds a finished run (returns.png) is skipped; one left by a killed run
# (only returns.csv / updates.jsonl) is started again; anything else there stops the script.
set -euo pipefail
out=${1:?OUT_DIR}
encoder=${2:?ENCODER_RUN}
frames=${3:-1000000}
ft_frames=${4:-250000}
seeds=${5:-"1 2"}
ft_seeds=${6:-"1"}
ft_precision=${FT_PRECISION:-fp32}
bin=target/release/examples
cargo build --release --example ppo_atari --example ppo_report
mkdir -p "$out"
run() { # name seed extra...
  local dir="$out/$1__s$2" seed="$2"; shift 2
  if [ -f "$dir/returns.png" ]; then echo "skip $dir (done)"; return; fi
  # Only what ppo_atari writes is removed; it refuses a folder that still has other files.
  rm -f "$dir/returns.csv" "$dir/updates.jsonl"
  rmdir "$dir" 2>/dev/null || true
  "$bin/ppo_atari" --game breakout --seed "$seed" --out "$dir" "$@" > "$dir.log" 2>&1 || {
    echo "ppo_atari failed for $dir; the end of $dir.log:" >&2; tail -3 "$dir.log" >&2; exit 1; }
  tail -1 "$dir.log"
}
for seed in $seeds; do
  run nature-cnn "$seed" --frames "$frames"
done
for seed in $seeds; do
  run random-cnn-frozen "$seed" --frames "$frames" --encoder random
  run dim-ua-frozen "$seed" --frames "$frames" --encoder "$encoder"
done
ft_name=dim-ua-finetuned
[ "$ft_precision" = fp32 ] || ft_name="dim-ua-finetuned-$ft_precision"
for seed in $ft_seeds; do
  run "$ft_name" "$seed" --frames "$frames" --stop-at "$ft_frames" --encoder "$encoder" --finetune \
    --precision "$ft_precision"
done
"$bin/ppo_report" --out "$out/report" "$out"/*__s*/
