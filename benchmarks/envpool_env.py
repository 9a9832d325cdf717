"""dimua's VecEnv against envpool at the same settings, alternating, in one command.

Runs, for each round, `dimua bench env` (a subprocess) and then envpool (in this process)
on the same game, preset settings, number of envs, threads and steps, and prints one JSON
line per round plus the medians and their ratio. Counting convention (both sides): one
agent step = one env's step (`frame_skip` = 4 emulator frames, plus reset frames when an
episode ends); agent steps/s = envs x timed vector steps / seconds; uniform random actions;
sync mode (batch_size = envs); envpool's envs are made before its clock starts, as dimua's.

    pip install envpool numpy
    python benchmarks/envpool_env.py --dimua target/release/dimua --game breakout \\
        --envs 8 --threads 2 --steps 2000 --rounds 3

The `dqn` preset maps to envpool's defaults plus episodic_life=True, reward_clip=True
(envpool's defaults are False for both), noop_max=30, use_fire_reset=True,
repeat_action_probability=0, 84x84 gray, stack 4, max_episode_steps=27000 (= 108,000
frames), and dimua grays as envpool does (ALE's gray levels, then the max: `--gray ale`). envpool uses its own ALE build and Atari ROMs shipped in its wheel.
What a reset emulates differs a little (no-op and FIRE frames, life loss: docs/rl-env.md,
checked by benchmarks/envpool_semantics.py); on Breakout dimua emulates ~4.45 frames per
counted agent step and envpool ~4.35 (its resets are extra counted step calls), so the
comparison does not favour dimua (BENCHMARKS.md).

With `--bare`, each round also times the bound no wrapper over ALE 0.6 can beat: `dimua bench
collect`'s bare ALE loop on the same game and threads (4 `act` calls, one screen read and one
RAM read per agent step, nothing else: no resets' extra frames, no gray, resize or stack),
reported as its emulator frames per second / 4 (`bare_ale_agent_steps_per_s`).
"""
import argparse
import json
import statistics
import subprocess
import time

import numpy as np


def envpool_name(game):
    return "".join(p.capitalize() for p in game.split("_")) + "-v5"


def run_envpool(args):
    import envpool

    env = envpool.make(
        envpool_name(args.game),
        env_type="gym",
        num_envs=args.envs,
        batch_size=args.envs,
        num_threads=args.threads,
        seed=args.seed,
        episodic_life=True,
        reward_clip=True,
        noop_max=30,
        use_fire_reset=True,
        repeat_action_probability=0.0,
        full_action_space=False,
        img_height=84,
        img_width=84,
        gray_scale=True,
        stack_num=4,
        frame_skip=4,
        max_episode_steps=27000,
    )
    rng = np.random.default_rng(args.seed)
    n_actions = env.action_space.n
    env.reset()
    for _ in range(args.warmup):
        env.step(rng.integers(0, n_actions, args.envs))
    start = time.perf_counter()
    for _ in range(args.steps):
        env.step(rng.integers(0, n_actions, args.envs))
    seconds = time.perf_counter() - start
    env.close()
    return args.envs * args.steps / seconds


def run_dimua(args):
    cmd = [
        args.dimua, "bench", "env", "--game", args.game, "--preset", "dqn", "--gray", "ale",
        "--envs", str(args.envs), "--threads", str(args.threads),
        "--steps", str(args.steps), "--warmup", str(args.warmup), "--seed", str(args.seed),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["result"]["agent_steps_per_s"]


def run_bare(args):
    cmd = [
        args.dimua, "bench", "collect", "--game", args.game, "--threads", str(args.threads),
        "--frames", str(args.envs * args.steps), "--rounds", "1", "--seed", str(args.seed),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["bare_emulator_frames_per_s"] / 4


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dimua", default="target/release/dimua")
    p.add_argument("--game", default="breakout")
    p.add_argument("--envs", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--bare", action="store_true",
                   help="also time dimua bench collect's bare ALE loop each round (the bound)")
    args = p.parse_args()
    dimua, pool, bare = [], [], []
    for r in range(args.rounds):
        line = {"round": r}
        dimua.append(run_dimua(args))
        line["dimua_agent_steps_per_s"] = round(dimua[-1], 1)
        pool.append(run_envpool(args))
        line["envpool_agent_steps_per_s"] = round(pool[-1], 1)
        if args.bare:
            bare.append(run_bare(args))
            line["bare_ale_agent_steps_per_s"] = round(bare[-1], 1)
        print(json.dumps(line), flush=True)
    d, e = statistics.median(dimua), statistics.median(pool)
    summary = {"game": args.game, "envs": args.envs, "threads": args.threads,
               "steps_per_env": args.steps, "rounds": args.rounds,
               "dimua_median": round(d, 1), "envpool_median": round(e, 1),
               "ratio": round(d / e, 3)}
    if bare:
        b = statistics.median(bare)
        summary["bare_ale_median"] = round(b, 1)
        summary["bare_ale_over_envpool"] = round(b / e, 3)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
