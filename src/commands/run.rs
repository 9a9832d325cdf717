//! `dimua run`: collect -> train -> probe in one process. The pretraining collection streams
//! straight into the trainer; the probe collection is separately seeded; every artefact of the
//! trainer and the prober lands in `--out`.

use std::path::PathBuf;

use clap::Args;
use dimua_pipeline::RunPlan;

use crate::cli::{self, RomArgs, RunFlags, RunOnlyFlags};

/// Flags of `dimua run`; each overrides the same field of the config file.
#[derive(Debug, Args, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: RunFlags,
    #[command(flatten)]
    pub run: RunOnlyFlags,
    /// Output directory (must be empty or absent unless --force).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace the contents of a non-empty --out.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub rom: RomArgs,
}

/// Runs `dimua run`: every value is resolved and checked by the plan before anything is
/// collected or written.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let plan = RunPlan::new(cli::resolve_config(&args.common, &args.run)?)?;
    cli::run_plan(&plan, &args.rom, &args.out, args.force)
}
