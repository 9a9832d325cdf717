//! `dimua images`: the paper's second experiment (SimCLR, MSimCLR, SimCLR-UA on image
//! datasets): `run` one config, `sweep` a Table 2 / 5 / 6 grid (finished runs skipped, an
//! interrupted one resumed). `dimua report` makes the Table 2 layout of finished runs.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use dimua_images::run::Progress;
use dimua_images::{expand_sweep, run_image, ImageRunConfig, ImagesError, RunOptions};

use crate::progress;

/// `dimua images ...`.
#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Pretrain one image method and evaluate it linearly.
    Run(ImageRunArgs),
    /// Expand a sweep ([base] + [[grid]] tables) and run it, or list it with --dry-run.
    Sweep(ImageSweepArgs),
}

/// Flags of `dimua images run`.
#[derive(Debug, Args)]
pub struct ImageRunArgs {
    /// The run config (TOML: method, seed, [dataset], [model], [train], [augment], [eval]).
    #[arg(long)]
    pub config: PathBuf,
    /// Output directory (empty or absent unless --force or --resume).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an earlier image run in --out (only once the new one is complete).
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Continue the interrupted run in --out from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
}

/// Flags of `dimua images sweep`.
#[derive(Debug, Args)]
pub struct ImageSweepArgs {
    /// The sweep file.
    #[arg(long)]
    pub config: PathBuf,
    /// Folder of the runs (one sub-folder each; optional with `--dry-run`, which then lists
    /// every run as to run).
    #[arg(long, required_unless_present = "dry_run")]
    pub out: Option<PathBuf>,
    /// List the runs (each config validated) without running anything.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs one config into `out` with a progress bar and Ctrl-C.
fn run_one(
    config: &ImageRunConfig,
    out: &std::path::Path,
    options: RunOptions,
) -> anyhow::Result<()> {
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut observer = |p: &Progress| -> bool {
        match p {
            Progress::Loaded {
                train,
                test,
                steps_per_epoch,
                epochs,
            } => {
                progress::note(&format!(
                    "{} on {train} train / {test} test images: {epochs} epochs of {steps_per_epoch} steps",
                    config.method
                ));
                bar = Some(progress::bar(
                    steps_per_epoch * *epochs as u64,
                    "pretrain",
                    "steps",
                ));
            }
            Progress::Step { .. } => {
                if let Some(b) = &bar {
                    b.inc(1);
                }
            }
            Progress::Epoch(m) => {
                tracing::info!(
                    epoch = m.epoch,
                    loss = m.loss,
                    entropy = m.entropy,
                    "epoch done"
                );
            }
            Progress::Evaluating => {
                if let Some(b) = bar.take() {
                    b.finish_and_clear();
                }
                progress::stage("linear evaluation");
            }
        }
        !progress::interrupted()
    };
    match run_image(config, out, options, &mut observer) {
        Ok(r) => {
            let base = r
                .random_init
                .map(|e| format!(", random init {:.3}", e.accuracy))
                .unwrap_or_default();
            println!(
                "{}: linear-eval accuracy {:.3} (backbone features {:.3}){base}; {}",
                r.method,
                r.trained.accuracy,
                r.trained.backbone_accuracy,
                out.join("eval.json").display()
            );
            Ok(())
        }
        Err(ImagesError::Stopped) if options.force => bail!(
            "stopped; the new run was discarded and {} is as it was",
            out.display()
        ),
        Err(ImagesError::Stopped) => bail!(
            "stopped; continue with: dimua images run --config ... --out {} --resume",
            out.display()
        ),
        Err(e) => Err(e.into()),
    }
}

/// Runs `dimua images`.
pub fn run(command: ImagesCommand) -> anyhow::Result<()> {
    match command {
        ImagesCommand::Run(args) => {
            let config = ImageRunConfig::load(&args.config)?;
            progress::install_interrupt_handler();
            run_one(
                &config,
                &args.out,
                RunOptions {
                    force: args.force,
                    resume: args.resume,
                },
            )
        }
        ImagesCommand::Sweep(args) => {
            let text = std::fs::read_to_string(&args.config)
                .with_context(|| format!("cannot read sweep {}", args.config.display()))?;
            let runs = expand_sweep(&text, &args.config.display().to_string())?;
            if runs.is_empty() {
                bail!("the sweep expands to no run");
            }
            if !args.dry_run {
                progress::install_interrupt_handler();
            }
            let total = runs.len();
            for (i, run) in runs.iter().enumerate() {
                let Some(out) = &args.out else {
                    // --dry-run without --out (clap requires one or the other).
                    println!("[{}/{total}] {}: to run", i + 1, run.name);
                    continue;
                };
                let dir = out.join(&run.name);
                if dir.join("eval.json").is_file() {
                    // Finished: skipped, but only if it is this sweep's run.
                    let saved = ImageRunConfig::load(&dir.join("config.toml"))
                        .with_context(|| format!("{} holds an unreadable run", dir.display()))?;
                    if saved != run.config {
                        bail!(
                            "{} holds a finished run of another config (the sweep's [base] or \
                             grid changed?): move it away or use another --out",
                            dir.display()
                        );
                    }
                    println!("[{}/{total}] {}: done, skipped", i + 1, run.name);
                    continue;
                }
                if args.dry_run {
                    println!("[{}/{total}] {}: to run", i + 1, run.name);
                    continue;
                }
                println!("[{}/{total}] {}", i + 1, run.name);
                // An interrupted run (its config.toml is there) continues where it stopped;
                // anything else in the folder makes the run refuse it.
                let resume = dir.join("config.toml").is_file();
                let force = false;
                run_one(&run.config, &dir, RunOptions { force, resume }).with_context(|| {
                    format!("sweep run {} (re-run the sweep to resume)", run.name)
                })?;
                if progress::interrupted() {
                    bail!("sweep interrupted; re-run it to resume");
                }
            }
            Ok(())
        }
    }
}
