//! The RL presets against independent implementations: `benchmarks/sb3_crosscheck.py`
//! replays one random action sequence through `dimua replay` and through a Python reference
//! stack on ale-py 0.12.1's emulator (installed into `.cache/venv` by
//! `scripts/bootstrap.sh`), and compares every stacked observation, raw reward, terminated /
//! truncated flag and life count:
//! - `sb3`: Stable-Baselines3's `AtariWrapper` + gymnasium's `FrameStackObservation(4)`
//!   against `--preset dqn --noop-max 0` (FIRE reset, life loss, RGB max, cv2 gray, resize);
//! - `gymnasium-rgb`: gymnasium's `AtariPreprocessing(grayscale_obs=False)` against the same
//!   preset in colour without FIRE reset and life signal (RGB max-pool, RGB area resize),
//!   also at half size (OpenCV's integer-factor resize path) with frame skip 3;
//! - `gymnasium`: `AtariPreprocessing`'s defaults (ALE's gray) against the `gymnasium` preset;
//! - `sb3-atariari`: the same SB3 wrappers at 210x160 without a stack against `atariari`.
//!
//! The games are ones whose bare emulators (ALE 0.6 here, ALE 0.12.1 in ale-py) give the same
//! frames for this long: on those, any difference is a wrapper difference. Breakout and Space
//! Invaders have FIRE resets and lives, Pong neither, Ms. Pac-Man lives without FIRE.

use std::path::Path;
use std::process::Command;

/// The script's JSON line per game, checked to be identical everywhere; returns the number
/// of learner episodes the sequences went through.
fn crosscheck(reference: &str, steps: u64, games: &[&str], extra: &[&str]) -> u64 {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(root.join(".cache/venv/bin/python"))
        .arg(root.join("benchmarks/sb3_crosscheck.py"))
        .args([
            "--dimua",
            env!("CARGO_BIN_EXE_dimua"),
            "--reference",
            reference,
        ])
        .args(["--steps", &steps.to_string()])
        .args(extra)
        .arg("--games")
        .args(games)
        .output()
        .expect("run .cache/venv/bin/python (scripts/bootstrap.sh creates it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let results: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        results.len(),
        games.len(),
        "one result per game:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for r in &results {
        assert_eq!(r["identical"], true, "dimua and {reference} differ: {r}");
        assert_eq!(r["obs_equal"], steps + 1, "{r}");
    }
    results
        .iter()
        .map(|r| r["learner_episodes"].as_u64().unwrap())
        .sum()
}

#[test]
fn dqn_preset_equals_sb3_atari_wrappers_on_ale_py() {
    let games = ["breakout", "pong", "space_invaders", "ms_pacman"];
    let episodes = crosscheck("sb3", 1500, &games, &[]);
    // The sequences must reach the reset paths being compared (life losses, game overs).
    assert!(episodes > 40, "too few episode ends: {episodes}");
}

#[test]
fn color_dqn_preset_equals_gymnasium_atari_preprocessing() {
    crosscheck("gymnasium-rgb", 1000, &["breakout", "space_invaders"], &[]);
}

/// The `atariari` preset (what `dimua collect` stores) against SB3's `MaxAndSkipEnv`,
/// `EpisodicLifeEnv`, `FireResetEnv` and `WarpFrame` at the screen's own 210x160.
#[test]
fn atariari_preset_equals_sb3_wrappers_without_resize() {
    let episodes = crosscheck("sb3-atariari", 1000, &["breakout", "qbert"], &[]);
    assert!(episodes > 20, "too few episode ends: {episodes}");
}

/// The `gymnasium` preset (ALE's gray) against `AtariPreprocessing`'s defaults, sticky
/// actions and no-ops off on both sides.
#[test]
fn gymnasium_preset_equals_atari_preprocessing_defaults() {
    crosscheck("gymnasium", 1000, &["breakout", "ms_pacman"], &[]);
}

/// Half size (2x2 blocks, OpenCV's integer-factor path) and frame skip 3 on both sides.
#[test]
fn half_size_color_observations_equal_gymnasium() {
    let extra = ["--size", "105x80", "--frame-skip", "3"];
    crosscheck("gymnasium-rgb", 500, &["ms_pacman", "pong"], &extra);
}
