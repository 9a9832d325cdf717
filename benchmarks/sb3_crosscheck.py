"""Cross-check of `dimua replay --preset dqn` against Stable-Baselines3's Atari wrappers.

The `dqn` preset claims the baselines / SB3 / cleanrl Atari stack (docs/rl-env.md). This
script replays one random action sequence per game through `dimua replay` and through
SB3's `AtariWrapper` (NoopResetEnv, MaxAndSkipEnv, EpisodicLifeEnv, FireResetEnv,
WarpFrame) + gymnasium's `FrameStackObservation(4)` on ale-py's own emulator, then compares
every observation, raw reward, terminated/truncated flag and life count.

With `--reference gymnasium-rgb` the reference is gymnasium's own `AtariPreprocessing`
(`grayscale_obs=False`, no life signal) + `FrameStackObservation(4)`, against
`--color true --fire-reset false --episodic-life false`: the RGB max-pool and RGB resize.
With `--reference gymnasium` it is `AtariPreprocessing`'s defaults (ALE's gray) against the
`gymnasium` preset, sticky actions off.

Alignment: no-ops are off on both sides (`--noop-max 0`, `noop_max=0`; their counts come
from different random generators); where dimua reports the end of a learner's episode it has
already reset (same-step auto-reset), so its row is compared with SB3's `reset()`
observation. Everything else is the preset as shipped.

    # scripts/bootstrap.sh installs these into .cache/venv (tests/sb3_crosscheck.rs)
    python benchmarks/sb3_crosscheck.py --dimua target/release/dimua --steps 3000 \\
        --games breakout pong space_invaders ms_pacman seaquest

Where the two differ, the cause is located with a second, wrapper-free check: the bare
emulators (ALE 0.6 in dimua, ale-py's ALE 0.12.1 here) fed the same random frame-level
actions (`dimua replay` with every preset option off: frame skip 1, no max, no resize, RGB,
no FIRE reset, no life signal), compared frame by frame for `4 x steps` frames. A game
whose bare emulators already diverge cannot give identical `dqn` observations either.

Prints one JSON line per game (`identical`: the dqn comparison; `emulators_agree_frames`:
frames before the bare emulators first differ, null if never) and exits non-zero if a game
differs under `dqn` while its bare emulators agree for the whole check (a wrapper bug).
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def gym_id(game):
    return "ALE/" + "".join(p.capitalize() for p in game.split("_")) + "-v5"


# The reference stacks, and the `dimua replay` flags that ask for the same semantics.
REFERENCES = {
    # SB3 / baselines / cleanrl: what the `dqn` preset is (RGB max -> cv2 gray -> resize).
    "sb3": ["--preset", "dqn", "--noop-max", "0"],
    # The same wrappers without resize or stack, baselines' wrap_deepmind as AtariARI calls
    # it: the `atariari` preset, i.e. the frames `dimua collect` stores.
    "sb3-atariari": ["--preset", "atariari", "--noop-max", "0"],
    # gymnasium's AtariPreprocessing in colour (RGB max -> resize), no life signal, no FIRE.
    "gymnasium-rgb": ["--preset", "dqn", "--noop-max", "0", "--color", "true",
                      "--fire-reset", "false", "--episodic-life", "false"],
    # gymnasium's AtariPreprocessing defaults (ALE gray -> max -> resize): the `gymnasium`
    # preset, sticky actions off on both sides (their random draws cannot be aligned).
    "gymnasium": ["--preset", "gymnasium", "--noop-max", "0", "--sticky-actions", "0"],
}


def reference_env(game, reference, frame_skip, size):
    import ale_py
    import gymnasium as gym
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

    gym.register_envs(ale_py)
    env = gym.make(gym_id(game), frameskip=1, repeat_action_probability=0.0,
                   full_action_space=False)
    if reference == "sb3-atariari":
        from stable_baselines3.common.atari_wrappers import (EpisodicLifeEnv, FireResetEnv,
                                                             MaxAndSkipEnv, WarpFrame)

        env = EpisodicLifeEnv(MaxAndSkipEnv(env, skip=frame_skip))
        if "FIRE" in env.unwrapped.get_action_meanings():
            env = FireResetEnv(env)
        # 210x160 is the screen's own size: cv2.resize returns the gray frame unchanged.
        return WarpFrame(env, width=160, height=210)
    if reference == "sb3":
        from stable_baselines3.common.atari_wrappers import AtariWrapper

        if size[0] != size[1]:
            sys.exit("SB3's WarpFrame resizes to squares only: use --size NxN")
        env = AtariWrapper(env, noop_max=0, frame_skip=frame_skip, screen_size=size[0],
                           terminal_on_life_loss=True, clip_reward=False)
    else:
        env = AtariPreprocessing(env, noop_max=0, frame_skip=frame_skip,
                                 screen_size=(size[1], size[0]),
                                 terminal_on_life_loss=False,
                                 grayscale_obs=reference == "gymnasium")
    return FrameStackObservation(env, 4)


def dimua_replay(binary, game, actions, flags, workdir):
    actions_file = workdir / f"{game}_actions.txt"
    actions_file.write_text("".join(f"{a}\n" for a in actions))
    out = workdir / f"{game}.npy"
    subprocess.run([binary, "replay", "--game", game, *flags,
                    "--actions", str(actions_file), "--out", str(out), "--force"],
                   check=True, stdout=subprocess.DEVNULL)
    load = lambda suffix: np.load(workdir / f"{game}{suffix}.npy")
    return {"obs": load(""), "rewards": load("_rewards"), "terminated": load("_terminated"),
            "truncated": load("_truncated"), "lives": load("_lives"),
            "clipped": load("_clipped_rewards")}


def emulators_agree_frames(binary, game, frames, seed, workdir):
    """Frames before ale-py's bare emulator and dimua's (no preset option on) first give a
    different RGB screen or reward under the same random actions; None if they never do."""
    import ale_py
    import gymnasium as gym

    gym.register_envs(ale_py)
    env = gym.make(gym_id(game), frameskip=1, repeat_action_probability=0.0,
                   full_action_space=False)
    actions = np.random.default_rng(seed + 1).integers(0, env.action_space.n, frames).tolist()
    actions_file = workdir / f"{game}_raw_actions.txt"
    actions_file.write_text("".join(f"{a}\n" for a in actions))
    out = workdir / f"{game}_raw.npy"
    subprocess.run([binary, "replay", "--game", game, "--preset", "dqn", "--noop-max", "0",
                    "--fire-reset", "false", "--episodic-life", "false", "--frame-skip", "1",
                    "--max-pool", "false", "--resize", "none", "--frame-stack", "1",
                    "--color", "true", "--max-episode-frames", "0",
                    "--actions", str(actions_file), "--out", str(out), "--force"],
                   check=True, stdout=subprocess.DEVNULL)
    ours, rewards = np.load(out), np.load(workdir / f"{game}_raw_rewards.npy")
    obs, _ = env.reset(seed=seed)
    if not np.array_equal(obs, ours[0].reshape(obs.shape)):
        return 0
    for t, a in enumerate(actions):
        obs, reward, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            obs, _ = env.reset()
        if float(reward) != float(rewards[t]) or not np.array_equal(
                obs, ours[t + 1].reshape(obs.shape)):
            return t
    env.close()
    return None


def check_game(binary, game, reference, steps, seed, workdir, frame_skip=4, size=(84, 84)):
    env = reference_env(game, reference, frame_skip, size)
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, env.action_space.n, steps).tolist()
    flags = REFERENCES[reference] + ["--frame-skip", str(frame_skip)]
    if reference != "sb3-atariari":
        flags += ["--resize", f"{size[0]}x{size[1]}"]
    ours = dimua_replay(binary, game, actions, flags, workdir)
    first = {}

    def note(kind, t, detail):
        first.setdefault(kind, {"step": t, **detail})

    obs, _ = env.reset(seed=seed)
    ref = np.asarray(obs).reshape(ours["obs"][0].shape)
    if not np.array_equal(ref, ours["obs"][0]):
        note("obs", -1, {"max_abs_diff": int(np.abs(ref.astype(int) - ours["obs"][0]).max())})
    obs_equal, episodes = int(np.array_equal(ref, ours["obs"][0])), 0
    for t, a in enumerate(actions):
        obs, reward, terminated, truncated, info = env.step(a)
        if float(reward) != float(ours["rewards"][t]):
            note("reward", t, {"sb3": float(reward), "dimua": float(ours["rewards"][t])})
        if float(np.sign(reward)) != float(ours["clipped"][t]):
            note("clipped_reward", t, {"sb3": float(np.sign(reward)),
                                       "dimua": float(ours["clipped"][t])})
        if bool(terminated) != bool(ours["terminated"][t]):
            note("terminated", t, {"sb3": bool(terminated), "dimua": bool(ours["terminated"][t])})
        if bool(truncated) != bool(ours["truncated"][t]):
            note("truncated", t, {"sb3": bool(truncated), "dimua": bool(ours["truncated"][t])})
        if int(info["lives"]) != int(ours["lives"][t]):
            note("lives", t, {"sb3": int(info["lives"]), "dimua": int(ours["lives"][t])})
        if terminated or truncated:
            episodes += 1
            obs, _ = env.reset()
        ref = np.asarray(obs).reshape(ours["obs"][t + 1].shape)
        same = np.array_equal(ref, ours["obs"][t + 1])
        obs_equal += int(same)
        if not same:
            diff = np.abs(ref.astype(int) - ours["obs"][t + 1].astype(int))
            note("obs", t, {"max_abs_diff": int(diff.max()),
                            "pixels_differing": int((diff > 0).sum())})
    env.close()
    result = {"game": game, "reference": reference, "steps": steps, "learner_episodes": episodes,
              "obs_equal": obs_equal, "obs_total": steps + 1, "first_mismatch": first,
              "identical": not first}
    if first:
        result["emulators_agree_frames"] = emulators_agree_frames(
            binary, game, 4 * steps, seed, workdir)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dimua", required=True, help="path of the dimua binary")
    ap.add_argument("--games", nargs="+",
                    default=["breakout", "pong", "space_invaders", "ms_pacman", "seaquest"])
    ap.add_argument("--reference", choices=sorted(REFERENCES), default="sb3")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--frame-skip", type=int, default=4, help="on both sides")
    ap.add_argument("--size", default="84x84", help="HEIGHTxWIDTH, on both sides")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for game in args.games:
            size = tuple(int(v) for v in args.size.split("x"))
            result = check_game(args.dimua, game, args.reference, args.steps, args.seed,
                                Path(tmp), args.frame_skip, size)
            ok &= result["identical"] or result["emulators_agree_frames"] is not None
            print(json.dumps(result), flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
