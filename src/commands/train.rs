//! `dimua train`: pretrain an encoder, streaming a collection into the trainer, or from a
//! dataset written by `dimua collect`, or resuming an interrupted run.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use dimua_pipeline::{DataSource, RunConfig, RunMethod, RunPlan};

use crate::cli::{self, RomArgs, RunFlags, RunOnlyFlags};
use crate::progress;

/// Flags of `dimua train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Train from this dataset (written by `dimua collect`) instead of a streamed collection.
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// Continue the interrupted run in this directory (same config required).
    #[arg(long, conflicts_with = "dataset")]
    pub resume: Option<PathBuf>,
    #[command(flatten)]
    pub common: RunFlags,
    /// Keep the last epoch's weights (the reference) instead of the best validation epoch's.
    #[arg(long)]
    pub last_weights: bool,
    /// Output run directory.
    #[arg(long, required_unless_present = "resume")]
    pub out: Option<PathBuf>,
    /// Replace the contents of a non-empty --out.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub rom: RomArgs,
}

/// `--resume` continues a run with the config it recorded; a flag that would change it is
/// refused rather than silently ignored (`--threads` only sets speed and is allowed).
fn refuse_flags_with_resume(args: &TrainArgs, dir: &std::path::Path) -> anyhow::Result<()> {
    let f = &args.common;
    let given: Vec<&str> = [
        ("--config", f.config.is_some()),
        ("--game", f.game.is_some()),
        ("--method", f.method.is_some()),
        ("--heads", f.heads.is_some()),
        ("--units", f.units.is_some()),
        ("--frames", f.frames.is_some()),
        ("--epochs", f.epochs.is_some()),
        ("--seed", f.seed.is_some()),
        ("--device", f.device.is_some()),
        ("--reproducible", f.reproducible),
        ("--protocol", f.protocol.is_some()),
        ("--precision", f.precision.is_some()),
        ("--last-weights", args.last_weights),
        ("--out", args.out.is_some()),
        ("--force", args.force),
    ]
    .into_iter()
    .filter_map(|(flag, set)| set.then_some(flag))
    .collect();
    if !given.is_empty() {
        bail!(
            "--resume continues {} with the config it recorded (its config.toml), so {} would \
             not be applied: drop {}, or start a new run with --out",
            dir.display(),
            given.join(", "),
            if given.len() == 1 { "it" } else { "them" }
        );
    }
    Ok(())
}

/// Runs `dimua train`.
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let (plan, dir, resume) = match &args.resume {
        Some(dir) => {
            refuse_flags_with_resume(&args, dir)?;
            // The run's own resolved config says how its data were made (a dataset, or a
            // collection deterministic from the seed), so the same frames are read again and
            // the trainer continues from its checkpoint.
            let config = RunConfig::load(&dir.join("config.toml"))
                .with_context(|| format!("{} is not a dimua run directory", dir.display()))?;
            let plan = RunPlan::new(config)?;
            if plan.method == RunMethod::Majority {
                bail!("{} is a majority run: nothing to resume", dir.display());
            }
            (plan, dir.clone(), true)
        }
        None => {
            let out = args
                .out
                .clone()
                .context("--out is required without --resume")?;
            let mut config = cli::resolve_config(&args.common, &RunOnlyFlags::default())?;
            config.dataset = args.dataset.clone();
            if args.last_weights {
                config.train.last_weights = true;
            }
            let plan = RunPlan::new(config)?;
            if plan.method == RunMethod::Majority {
                bail!("majority has no encoder to train: use `dimua run --method majority`");
            }
            (plan, out, false)
        }
    };
    let rom = match plan.source {
        DataSource::Stream => Some(args.rom.load(plan.game)?),
        DataSource::Dataset(_) => None,
    };
    // A fresh run locks its directory; with --force on an existing run it trains beside it
    // and replaces it only when training ends (a resume continues in place).
    let _resume_lock = if resume {
        Some(dimua_pipeline::DirLock::acquire(&dir)?)
    } else {
        None
    };
    let output = if resume {
        None
    } else {
        let output = dimua_pipeline::prepare_run_dir(&dir, args.force)?;
        let work = output.work();
        dimua_pipeline::write_atomic(&work.join("config.toml"), plan.config.to_toml().as_bytes())?;
        Some(output)
    };
    let work = output.as_ref().map_or(dir.as_path(), |o| o.work());
    dimua_pipeline::pretrain(
        &plan,
        rom.as_ref(),
        work,
        resume,
        &progress::Display::default(),
    )?;
    if let Some(output) = output {
        output.commit()?;
    }
    Ok(())
}
