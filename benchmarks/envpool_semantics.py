"""What envpool's Atari env does on reset, life loss and game over, checked step by step.

docs/rl-env.md lists how dimua's `dqn` preset differs from envpool (the environment
`benchmarks/envpool_env.py` times it against). This script is the evidence: it rebuilds
envpool's observations from a bare ale-py emulator under the semantics written there and
counts the observations that differ from envpool's own, over a random action sequence with
life losses and game overs. 0 differing observations means the written semantics are
envpool's:

- reset: `reset_game`, then `U{0..noop_max-1} + 1 - fire` NOOP *frames* (fire = the
  minimal action set holds FIRE), then one FIRE *frame* (not an agent step; no action-2
  step); the stack is filled with the resulting frame;
- after a lost life (`episodic_life`): the same no-op and FIRE frames without
  `reset_game`, and the stack is *not* refilled (the new frame is pushed like a step's);
- the reset happens on the step call after the one that reported the end (next-step
  auto-reset), and that call returns the reset observation;
- a step whose game ends before its last frame skips the max-pool and pushes the first
  pooling buffer as it was (written on frame 3 of 4, or left from an earlier step).

`noop_max=1` makes the no-op count fixed (0 with FIRE, 1 without); larger values draw it
from envpool's own generator, which this script does not replay. Both sides run ALE's
emulator from their own wheels (envpool's bundled ALE and ale-py 0.12.1), so a game on
which the two emulators differ would show up as differences too.

    python -m venv /tmp/ep && /tmp/ep/bin/pip install envpool ale-py opencv-python-headless
    /tmp/ep/bin/python benchmarks/envpool_semantics.py --games breakout pong ms_pacman
"""
import argparse
import json
import sys

import ale_py
import cv2
import envpool
import numpy as np
from ale_py import roms


def check(game, steps, seed):
    name = "".join(p.capitalize() for p in game.split("_")) + "-v5"
    pool = envpool.make_gymnasium(
        name, num_envs=1, seed=seed, noop_max=1, use_fire_reset=True, episodic_life=True,
        reward_clip=True, repeat_action_probability=0.0, max_episode_steps=27000)
    ale = ale_py.ALEInterface()
    ale.setLoggerMode(ale_py.LoggerMode.Error)
    ale.setFloat("repeat_action_probability", 0.0)
    ale.loadROM(roms.get_rom_path(game))
    actions = ale.getMinimalActionSet()
    has_fire = ale_py.Action.FIRE in actions

    def gray():
        return ale.getScreenGrayscale().reshape(210, 160)

    def small(frame):
        return cv2.resize(frame, (84, 84), interpolation=cv2.INTER_AREA)

    pooling = [None, None]
    stack = []

    def reset(real_reset):
        nonlocal stack
        if real_reset:
            ale.reset_game()
        for _ in range(1 - int(has_fire)):
            ale.act(ale_py.Action.NOOP)
        if has_fire:
            ale.act(ale_py.Action.FIRE)
        pooling[0] = gray()
        frame = small(pooling[0])
        stack = [frame] * 4 if real_reset else stack[1:] + [frame]

    obs, _ = pool.reset()
    reset(True)
    rng = np.random.default_rng(seed)
    lives = ale.lives()
    differing, first_difference, ends = 0, None, 0
    pending_reset = None  # None, or whether the pending reset is a real one
    for t in range(steps):
        if not np.array_equal(obs[0], np.stack(stack)):
            differing += 1
            first_difference = t if first_difference is None else first_difference
        a = int(rng.integers(len(actions)))
        obs, _, _, _, _ = pool.step(np.array([a]))
        if pending_reset is not None:
            reset(pending_reset)
            pending_reset, lives = None, ale.lives()
            continue
        game_over = False
        for frames_left in range(4, 0, -1):
            ale.act(actions[a])
            game_over = ale.game_over()
            if frames_left <= 2:
                pooling[2 - frames_left] = gray()
            if game_over:
                break
        if frames_left == 1:
            pooling[0] = np.maximum(pooling[0], pooling[1])
        stack = stack[1:] + [small(pooling[0])]
        if game_over or 0 < ale.lives() < lives:
            ends += 1
            pending_reset = game_over
        lives = ale.lives()
    return {"game": game, "steps": steps, "episode_ends": ends,
            "differing_observations": differing, "first_difference": first_difference}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--games", nargs="+", default=["breakout", "pong", "ms_pacman"])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    failed = False
    for game in args.games:
        row = check(game, args.steps, args.seed)
        print(json.dumps(row), flush=True)
        failed |= row["differing_observations"] > 0
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
