//! `dimua replay`: plays a given action sequence in one preset environment and writes what
//! the agent saw (observations, rewards, flags) as `.npy` arrays.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use dimua_core::npy::npy_bytes;
use dimua_env::{VecEnv, VecEnvConfig};

use crate::cli::{EnvFlags, RomArgs};

/// Flags of `dimua replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub env: EnvFlags,
    /// Text file of action indices, one integer per line (blank lines are skipped).
    #[arg(long)]
    pub actions: PathBuf,
    /// Observations file (`.npy`, u8 [steps + 1, stack, height, width(, 3)]: the reset's
    /// observation, then one per action). Rewards and flags go beside it as
    /// `<stem>_rewards.npy` (f32, raw), `<stem>_clipped_rewards.npy`, `<stem>_terminated.npy`,
    /// `<stem>_truncated.npy` (bool) and `<stem>_lives.npy` (i32), one per action.
    #[arg(long)]
    pub out: PathBuf,
    /// Env seed (the emulator's seed and the no-op counts).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Replace output files that already exist.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub rom: RomArgs,
}

/// Reads one action index per line.
fn read_actions(path: &Path) -> anyhow::Result<Vec<usize>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the actions file {}", path.display()))?;
    let mut actions = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match line.parse::<usize>() {
            Ok(a) => actions.push(a),
            Err(_) => bail!(
                "{}:{}: {line:?} is not an action index: write one non-negative integer per line",
                path.display(),
                n + 1
            ),
        }
    }
    if actions.is_empty() {
        bail!(
            "{} holds no actions: write one action index per line",
            path.display()
        );
    }
    Ok(actions)
}

/// The output files, observations first.
fn output_paths(out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if out.extension().and_then(|e| e.to_str()) != Some("npy") {
        bail!("--out {}: name a .npy file, such as obs.npy", out.display());
    }
    let stem = out
        .file_stem()
        .and_then(|s| s.to_str())
        .context("--out needs a file name")?;
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        bail!(
            "--out {}: the folder {} does not exist; create it first",
            out.display(),
            dir.display()
        );
    }
    let mut paths = vec![out.to_path_buf()];
    for part in [
        "rewards",
        "clipped_rewards",
        "terminated",
        "truncated",
        "lives",
    ] {
        paths.push(dir.join(format!("{stem}_{part}.npy")));
    }
    Ok(paths)
}

fn le_bytes<T: Copy, const N: usize>(values: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    values.iter().flat_map(|&v| f(v)).collect()
}

/// Runs `dimua replay`.
pub fn run(args: ReplayArgs) -> anyhow::Result<()> {
    // Everything is checked before anything is written.
    let options = args.env.options()?;
    let game = dimua_atari::resolve_game(&args.env.game)?;
    let rom = args.rom.load(game)?;
    let actions = read_actions(&args.actions)?;
    let paths = output_paths(&args.out)?;
    if !args.force {
        if let Some(existing) = paths.iter().find(|p| p.exists()) {
            bail!(
                "{} already exists: pass --force to replace it, or pick another --out",
                existing.display()
            );
        }
    }
    let config = VecEnvConfig {
        num_envs: 1,
        threads: 1,
        batch_size: 1,
        seed: args.seed,
        options,
    };
    let mut env = VecEnv::new(&rom, config)?;
    if let Some((line, &a)) = actions
        .iter()
        .enumerate()
        .find(|(_, &a)| a >= env.num_actions())
    {
        bail!(
            "action {a} (action {} of {}) is out of range: {} has {} actions (0..{})",
            line + 1,
            args.actions.display(),
            game.name,
            env.num_actions(),
            env.num_actions()
        );
    }

    let len = env.obs_len();
    let steps = actions.len();
    let mut obs = vec![0u8; (steps + 1) * len];
    let mut batch = env.new_batch(1);
    env.reset(&mut obs[..len], &mut batch)?;
    let (mut rewards, mut clipped, mut terminated, mut truncated, mut lives) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (t, &a) in actions.iter().enumerate() {
        env.step(&[a], &mut obs[(t + 1) * len..(t + 2) * len], &mut batch)?;
        let tr = batch.transitions[0];
        rewards.push(tr.reward);
        clipped.push(tr.clipped_reward);
        terminated.push(tr.terminated);
        truncated.push(tr.truncated);
        lives.push(tr.lives);
    }
    let [stack, h, w, c] = env.obs_shape();
    let mut shape = vec![steps + 1, stack, h, w];
    if c > 1 {
        shape.push(c);
    }
    let files = [
        npy_bytes("|u1", &shape, &obs),
        npy_bytes("<f4", &[steps], &le_bytes(&rewards, f32::to_le_bytes)),
        npy_bytes("<f4", &[steps], &le_bytes(&clipped, f32::to_le_bytes)),
        npy_bytes("|b1", &[steps], &le_bytes(&terminated, |b| [b as u8])),
        npy_bytes("|b1", &[steps], &le_bytes(&truncated, |b| [b as u8])),
        npy_bytes("<i4", &[steps], &le_bytes(&lives, i32::to_le_bytes)),
    ];
    // Flags first, observations last: each file is whole (atomic rename) on its own.
    for (path, bytes) in paths.iter().zip(&files).rev() {
        dimua_core::fs::write_atomic(path, bytes)?;
    }
    println!(
        "replayed {steps} actions of {} ({} preset): {} ({}), rewards {:.0} in all",
        game.name,
        args.env.preset,
        args.out.display(),
        shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x"),
        rewards.iter().sum::<f32>()
    );
    Ok(())
}
