#!/usr/bin/env python3
"""Interleaved CPU comparison: dimua (tch) training step vs the PyTorch-eager reference step.

Runs R rounds; each round runs both implementations once (alternating which goes first),
each timing K steps after W warm-up steps with the same number of torch threads. Reports
per-round numbers, the median ratio of wall-clock steps/s (ours / eager) and of steps per
CPU-second (less sensitive to other processes competing for the cores), and the CPU
pressure (/proc/pressure/cpu avg10) seen before each run.

Usage (from the repository root, after
`cargo build --release -p dimua-train --example bench_step`):
    .cache/venv/bin/python benchmarks/compare_cpu.py --rounds 5 --steps 15 --warmup 3 --threads 2
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def pressure():
    try:
        with open("/proc/pressure/cpu") as f:
            return float(f.readline().split()[1].split("=")[1])
    except OSError:
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="dim-ua")
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--units", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ours", default="target/release/examples/bench_step")
    ap.add_argument("--quiet-psi", type=float, default=None,
                    help="before each run, wait (up to --max-wait s) until /proc/pressure/cpu avg10 "
                         "is below this, to avoid measuring other processes' load")
    ap.add_argument("--max-wait", type=float, default=600.0)
    args = ap.parse_args()

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    ours_cmd = [args.ours, args.method, str(args.heads), str(args.units), str(args.steps),
                str(args.warmup), str(args.threads), "cpu"]
    eager_cmd = [sys.executable, os.path.join(os.path.dirname(__file__), "pytorch_eager_step.py"),
                 "--method", args.method, "--heads", str(args.heads), "--units", str(args.units),
                 "--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", str(args.threads)]
    rows = []
    for r in range(args.rounds):
        order = [("ours", ours_cmd), ("eager", eager_cmd)]
        if r % 2:
            order.reverse()
        res = {}
        for name, cmd in order:
            if args.quiet_psi is not None:
                deadline = time.time() + args.max_wait
                while (pressure() or 0.0) > args.quiet_psi and time.time() < deadline:
                    time.sleep(2.0)
            p = pressure()
            out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
            res[name] = json.loads(out.strip().splitlines()[-1])
            res[name]["psi_before"] = p
        rows.append(res)
        o, e = res["ours"], res["eager"]
        print(json.dumps({
            "round": r,
            "ours_steps_per_s": round(o["steps_per_s"], 3),
            "eager_steps_per_s": round(e["steps_per_s"], 3),
            "ratio_wall": round(o["steps_per_s"] / e["steps_per_s"], 3),
            "ours_steps_per_cpu_s": o.get("steps_per_cpu_s"),
            "eager_steps_per_cpu_s": e.get("steps_per_cpu_s"),
            "ratio_cpu": (round(o["steps_per_cpu_s"] / e["steps_per_cpu_s"], 3)
                          if o.get("steps_per_cpu_s") and e.get("steps_per_cpu_s") else None),
            "psi_ours": o["psi_before"], "psi_eager": e["psi_before"],
        }), flush=True)
    wall = [x["ours"]["steps_per_s"] / x["eager"]["steps_per_s"] for x in rows]
    cpu = [x["ours"]["steps_per_cpu_s"] / x["eager"]["steps_per_cpu_s"] for x in rows
           if x["ours"].get("steps_per_cpu_s") and x["eager"].get("steps_per_cpu_s")]
    print(json.dumps({
        "summary": True,
        "method": args.method, "heads": args.heads, "units": args.units, "threads": args.threads,
        "steps": args.steps, "rounds": args.rounds,
        "ours_steps_per_s_median": statistics.median(x["ours"]["steps_per_s"] for x in rows),
        "eager_steps_per_s_median": statistics.median(x["eager"]["steps_per_s"] for x in rows),
        "ours_steps_per_s_best": max(x["ours"]["steps_per_s"] for x in rows),
        "eager_steps_per_s_best": max(x["eager"]["steps_per_s"] for x in rows),
        "ratio_wall_median": statistics.median(wall),
        "ratio_cpu_median": statistics.median(cpu) if cpu else None,
    }))


if __name__ == "__main__":
    main()
