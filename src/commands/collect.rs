//! `dimua collect`: write an AtariARI dataset (manifest + safetensors shards).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use dimua_buffer::SplitRule;
use dimua_collect::{CollectProgress, CollectSpec, DatasetRequest};

use crate::cli::RomArgs;
use crate::progress;

/// Flags of `dimua collect`.
#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Game: ALE ROM name (ms_pacman), AtariARI key (mspacman) or gym id (MsPacmanNoFrameskip-v4).
    #[arg(long)]
    pub game: String,
    /// Observations to store (agent steps of 4 emulator frames), before filtering.
    #[arg(long)]
    pub frames: usize,
    /// Master seed: the same seed and flags give the same bytes, whatever --threads is.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Worker threads (default: all cores). Changes speed only, never the data.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Independent environment streams (default 10 = one block of the split rule, so small runs still get exact val/test shares; the reference used 8 processes).
    #[arg(long, default_value_t = 10)]
    pub streams: u32,
    /// Store RGB frames (210x160x3) instead of grayscale (210x160x1).
    #[arg(long)]
    pub color: bool,
    /// Train/val/test weights per block of episodes, e.g. 7/1/2 (probing) or 8/2/0 (pretraining).
    #[arg(long, default_value = "7/1/2", value_parser = parse_split_rule)]
    pub split: SplitRule,
    /// Keep episodes longer than this many frames.
    #[arg(long, default_value_t = 64)]
    pub min_episode_length: usize,
    /// Drop labels whose entropy over the dataset is below this (nats).
    #[arg(long, default_value_t = 0.6)]
    pub entropy_threshold: f64,
    /// Keep test frames that duplicate a train/val frame.
    #[arg(long)]
    pub no_dedup: bool,
    /// Shard format: safetensors (default) or npz (numpy).
    #[arg(long, default_value = "safetensors")]
    pub format: dimua_collect::dataset::ShardFormat,
    /// Frame data per shard, in MiB.
    #[arg(long, default_value_t = 256)]
    pub shard_mib: usize,
    /// Output directory (must be empty or absent unless --force).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace the contents of a non-empty --out.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub rom: RomArgs,
}

/// Parses `train/val/test` weights such as `7/1/2`.
pub fn parse_split_rule(text: &str) -> Result<SplitRule, String> {
    let parts: Vec<_> = text.split(['/', ',', ':']).collect();
    let nums: Result<Vec<u32>, _> = parts.iter().map(|p| p.trim().parse::<u32>()).collect();
    match nums.as_deref() {
        Ok([train, val, test]) => {
            let rule = SplitRule {
                train: *train,
                val: *val,
                test: *test,
            };
            rule.validate().map_err(|e| e.to_string())?;
            Ok(rule)
        }
        _ => Err(format!(
            "expected three weights train/val/test such as 7/1/2, got {text:?}"
        )),
    }
}

/// Runs `dimua collect`.
pub fn run(args: CollectArgs) -> anyhow::Result<()> {
    let game = dimua_atari::resolve_game(&args.game)?;
    let spec = CollectSpec {
        game,
        frames: args.frames,
        seed: args.seed,
        threads: args.threads.unwrap_or_else(dimua_pipeline::default_threads),
        streams: args.streams,
        color: args.color,
    };
    spec.validate()?;
    let rom = args.rom.load(game)?;
    let request = DatasetRequest {
        split: args.split,
        min_episode_length: args.min_episode_length,
        entropy_threshold: args.entropy_threshold,
        dedup_test: !args.no_dedup,
        shard_bytes: args.shard_mib.max(1) << 20,
        format: args.format,
        force: args.force,
        ..DatasetRequest::new(spec.clone(), args.out.clone())
    };
    let out_existed = args.out.exists();
    let progress_state = CollectProgress::default();
    let result = dimua_pipeline::collect_observed(
        &progress_state,
        spec.frames as u64,
        "collect",
        &progress::Display::default(),
        || dimua_collect::collect_dataset(&request, &rom, &progress_state),
    );
    let (manifest, stats) = match result {
        Ok(v) => v,
        Err(err) => {
            if !out_existed {
                // Only remove the directory if we created it and it holds nothing.
                let _ = std::fs::remove_dir(&args.out);
            }
            return Err(err)
                .with_context(|| format!("collecting {} into {}", game.name, args.out.display()));
        }
    };
    let c = &manifest.counts;
    let rule = &args.split;
    let splits = [
        ("train", rule.train, c.train_frames),
        ("val", rule.val, c.val_frames),
        ("test", rule.test, c.test_frames),
    ];
    for (split, weight, frames) in splits {
        if weight > 0 && frames == 0 {
            eprintln!(
                "warning: the {split} split of {} is empty (no {split} episode longer than {} \
                 frames): probing or training on it will fail; collect more --frames",
                args.out.display(),
                args.min_episode_length
            );
        }
    }
    println!(
        "wrote {}: {} frames in {} episodes (train {}, val {}, test {}), {} labels kept, {} dropped by entropy, {} shards; {:.0} agent steps/s",
        args.out.display(),
        c.frames,
        c.episodes,
        c.train_frames,
        c.val_frames,
        c.test_frames,
        manifest.labels.len(),
        manifest.dropped_labels.len(),
        manifest.shards.len(),
        stats.agent_steps as f64 / stats.elapsed.as_secs_f64().max(1e-9)
    );
    Ok(())
}
