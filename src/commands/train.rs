//! `dimua train`: pretrain an encoder, streaming a collection into the trainer, or from a
//! dataset written by `dimua collect`, or resuming an interrupted run.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;
use dimua_buffer::FrameStore;
use dimua_collect::{CollectionHandle, Dataset};
use dimua_model::FrameShape;

use super::roms::RomArgs;
use super::run::{prepare_run_dir, RunArgs, RunFlags, RunMethod, RunPlan};
use crate::pipeline;
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

/// Trains `config` on `store` into `dir`, drawing a progress bar; if `collection` is given the
/// store is still being filled by it.
pub fn train_streaming(
    config: &dimua_train::TrainConfig,
    store: Arc<FrameStore>,
    shape: FrameShape,
    dir: &Path,
    collection: Option<&CollectionHandle>,
    resume: bool,
) -> anyhow::Result<dimua_train::TrainReport> {
    use dimua_train::{Control, ProgressEvent};
    let bar = progress::bar(1, "train", "steps");
    let mut on_progress = |event: &ProgressEvent<'_>| {
        match event {
            ProgressEvent::Started {
                device,
                steps_per_epoch,
                max_epochs,
                ..
            } => {
                bar.set_length((steps_per_epoch * max_epochs) as u64);
                bar.set_message(format!("train {device}"));
            }
            ProgressEvent::Waiting {
                train_pairs,
                needed,
            } => {
                bar.set_prefix(format!("waiting for data: {train_pairs}/{needed} pairs"));
            }
            ProgressEvent::Step {
                epoch,
                step_in_epoch,
                steps_per_epoch,
                loss,
                steps_per_s,
                ..
            } => {
                bar.set_position((epoch * steps_per_epoch + step_in_epoch) as u64);
                bar.set_prefix(format!(
                    "epoch {epoch} loss {loss:.4} {steps_per_s:.2} steps/s"
                ));
            }
            ProgressEvent::EpochEnd(_) => {}
        }
        if progress::interrupted() {
            if let Some(c) = collection {
                c.stop();
            }
            Control::Stop
        } else {
            Control::Continue
        }
    };
    let report = if resume {
        dimua_train::resume(store, shape, Some(config), dir, &mut on_progress)
    } else {
        dimua_train::train(store, shape, config, dir, &mut on_progress)
    };
    bar.finish_and_clear();
    let report = report?;
    if progress::interrupted() {
        bail!(
            "training interrupted after {} epochs; continue with `dimua train --resume {}`",
            report.epochs_completed,
            dir.display()
        );
    }
    progress::note(&format!(
        "trained {} epochs ({} steps, {:.2} steps/s) on {}, best val loss {} -> {}",
        report.epochs_completed,
        report.global_step,
        report.steps_per_s,
        report.device,
        report
            .best_val_loss
            .map_or("n/a".to_string(), |v| format!("{v:.4}")),
        report.encoder_path.display()
    ));
    Ok(report)
}

/// Starts the pretraining collection of `plan` into a fresh store (split 8/2/0).
pub fn streaming_store(
    plan: &RunPlan,
    rom: dimua_atari::Rom,
) -> anyhow::Result<(Arc<FrameStore>, CollectionHandle)> {
    let spec = dimua_collect::CollectSpec {
        game: plan.game,
        frames: plan.config.frames,
        seed: plan.config.seed,
        threads: plan.threads,
        streams: plan.config.streams,
        color: plan.config.color,
    };
    let store = dimua_collect::store_for(&spec, &rom, dimua_buffer::SplitRule::PRETRAIN)?;
    let collection = dimua_collect::spawn_collection(spec, rom, Arc::clone(&store))?;
    Ok((store, collection))
}

/// Waits for a streaming collection (stopping it first if training failed).
pub fn finish_collection(collection: CollectionHandle, failed: bool) -> anyhow::Result<()> {
    if failed {
        collection.stop();
    }
    let frames = collection.progress().frames.load(Ordering::Relaxed);
    match collection.join() {
        Err(dimua_collect::CollectError::Interrupted) if failed => Ok(()),
        other => {
            other?;
            tracing::info!("collected {frames} frames while training");
            Ok(())
        }
    }
}

/// Runs `dimua train`.
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    if let Some(dir) = &args.resume {
        // The run's own resolved config says how its data were made (deterministic from the
        // seed), so the same frames are collected again and the trainer continues from its
        // checkpoint.
        let config = crate::config::RunConfig::load(&dir.join("config.toml"))
            .with_context(|| format!("{} is not a dimua run directory", dir.display()))?;
        let plan = RunPlan::new(config)?;
        let RunMethod::Encoder(method) = plan.method else {
            bail!("{} is a majority run: nothing to resume", dir.display());
        };
        let rom = args.rom.load(plan.game)?;
        let shape = plan.frame_shape(&rom)?;
        let (store, collection) = streaming_store(&plan, rom)?;
        let result = train_streaming(
            &plan.train_config(method),
            store,
            shape,
            dir,
            Some(&collection),
            true,
        );
        finish_collection(collection, result.is_err())?;
        result?;
        return Ok(());
    }
    let out = args
        .out
        .clone()
        .expect("clap requires --out without --resume");
    let mut run_args = RunArgs {
        common: args.common.clone(),
        out: out.clone(),
        force: args.force,
        rom: args.rom.clone(),
        ..RunArgs::default()
    };
    let dataset = match &args.dataset {
        Some(dir) => {
            let manifest = Dataset::read_manifest(dir)?;
            run_args.common.game = Some(manifest.game.clone());
            run_args.color = manifest.frame_shape[2] == 3;
            Some(dir.clone())
        }
        None => None,
    };
    let mut config = run_args.resolve()?;
    if args.last_weights {
        config.train.last_weights = true;
    }
    let plan = RunPlan::new(config)?;
    let RunMethod::Encoder(method) = plan.method else {
        bail!("majority has no encoder to train: use `dimua run --method majority`");
    };
    prepare_run_dir(&out, args.force)?;
    pipeline::write_atomic(&out.join("config.toml"), plan.config.to_toml().as_bytes())?;
    let train_config = plan.train_config(method);
    match dataset {
        Some(dir) => {
            let (manifest, store) = Dataset::open_into_store(&dir)?;
            let [height, width, channels] = manifest.frame_shape;
            let shape = FrameShape {
                height,
                width,
                channels,
            };
            train_streaming(&train_config, store, shape, &out, None, false)?;
        }
        None => {
            let rom = args.rom.load(plan.game)?;
            let shape = plan.frame_shape(&rom)?;
            let (store, collection) = streaming_store(&plan, rom)?;
            let result =
                train_streaming(&train_config, store, shape, &out, Some(&collection), false);
            finish_collection(collection, result.is_err())?;
            result?;
        }
    }
    Ok(())
}
