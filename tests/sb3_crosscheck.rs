//! The `dqn` preset against an independent implementation: `benchmarks/sb3_crosscheck.py`
//! replays one random action sequence through `dimua replay --preset dqn --noop-max 0` and
//! through Stable-Baselines3's `AtariWrapper` + gymnasium's `FrameStackObservation(4)` on
//! ale-py 0.12.1's emulator (installed into `.cache/venv` by `scripts/bootstrap.sh`), and
//! compares every stacked observation, raw reward, terminated / truncated flag and life count.
//!
//! The games are ones whose bare emulators (ALE 0.6 here, ALE 0.12.1 in ale-py) give the same
//! frames for this long: on those, any difference is a wrapper difference (reset, FIRE, life
//! loss, max-pool, gray, resize, stack order). Breakout and Space Invaders have FIRE resets
//! and lives (life-loss episodes), Pong neither, Ms. Pac-Man lives without FIRE.

use std::path::Path;
use std::process::Command;

#[test]
fn dqn_preset_equals_sb3_atari_wrappers_on_ale_py() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(root.join(".cache/venv/bin/python"))
        .arg(root.join("benchmarks/sb3_crosscheck.py"))
        .args(["--dimua", env!("CARGO_BIN_EXE_dimua"), "--steps", "1500"])
        .args(["--games", "breakout", "pong", "space_invaders", "ms_pacman"])
        .output()
        .expect("run .cache/venv/bin/python (scripts/bootstrap.sh creates it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() || !stdout.is_empty(),
        "cross-check failed to run:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(results.len(), 4, "one result per game:\n{stdout}");
    let mut life_loss_episodes = 0;
    for r in &results {
        assert_eq!(r["identical"], true, "dimua and SB3 differ: {r}");
        assert_eq!(r["obs_equal"], 1501, "{r}");
        life_loss_episodes += r["learner_episodes"].as_u64().unwrap();
    }
    // The sequences must reach the reset paths being compared (life losses, game overs).
    assert!(life_loss_episodes > 40, "too few episode ends: {stdout}");
}
