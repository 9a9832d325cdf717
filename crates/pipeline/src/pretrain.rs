//! The pretraining stage: a seeded collection streamed into the trainer (or a dataset, or
//! the resume of an interrupted run), progress and Ctrl-C through the [`Observer`].

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use dimua_atari::Rom;
use dimua_buffer::{FrameStore, SplitRule};
use dimua_collect::{CollectSpec, CollectionHandle, Dataset};
use dimua_model::FrameShape;
use dimua_train::{Control, ProgressEvent, TrainConfig, TrainReport};

use crate::error::{invalid, PipelineError, Result};
use crate::observer::{Event, Observer};
use crate::plan::{DataSource, RunPlan};

/// Starts the collection `spec` into a fresh store (split 8/2/0) on background threads; the
/// store fills while the caller trains on it. Allocating the store stops early when
/// `observer` is interrupted.
pub fn stream_collection(
    spec: CollectSpec,
    rom: Rom,
    observer: &dyn Observer,
) -> Result<(Arc<FrameStore>, CollectionHandle)> {
    let store = dimua_collect::store_for(&spec, &rom, SplitRule::PRETRAIN, &|| {
        !observer.interrupted()
    })?;
    let collection = dimua_collect::spawn_collection(spec, rom, Arc::clone(&store))?;
    Ok((store, collection))
}

/// Waits for a streamed collection (stopping it first if training failed).
pub fn finish_collection(collection: CollectionHandle, failed: bool) -> Result<()> {
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

/// Trains `config` on `store` into `dir` (or resumes the run there); if `collection` is
/// given the store is still being filled by it, and an interruption stops it too.
pub fn train_on(
    config: &TrainConfig,
    store: Arc<FrameStore>,
    shape: FrameShape,
    dir: &Path,
    collection: Option<&CollectionHandle>,
    resume: bool,
    observer: &dyn Observer,
) -> Result<TrainReport> {
    observer.event(&Event::TrainStarted);
    let mut on_progress = |event: &ProgressEvent<'_>| {
        observer.event(&Event::Train(event));
        if observer.interrupted() {
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
    observer.event(&Event::TrainFinished);
    let report = report?;
    if observer.interrupted() {
        return Err(PipelineError::Interrupted(format!(
            "training interrupted after {} epochs; continue with `dimua train --resume {}`",
            report.epochs_completed,
            dir.display()
        )));
    }
    observer.note(&format!(
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

/// The train config of an encoder plan, or an error for the majority baseline.
fn train_config(plan: &RunPlan) -> Result<TrainConfig> {
    match plan.train_config() {
        Some(config) => Ok(config),
        None => invalid!("majority has no encoder to train: use `dimua run --method majority`"),
    }
}

/// Pretrains the encoder of `plan` into `dir` from the plan's data source (`resume`:
/// continue the checkpoint there). A streamed source needs the game's `rom`.
pub fn pretrain(
    plan: &RunPlan,
    rom: Option<&Rom>,
    dir: &Path,
    resume: bool,
    observer: &dyn Observer,
) -> Result<TrainReport> {
    let config = train_config(plan)?;
    match &plan.source {
        DataSource::Dataset(data) => {
            let (manifest, store) = Dataset::open_into_store(data)?;
            let [height, width, channels] = manifest.frame_shape;
            let shape = FrameShape {
                height,
                width,
                channels,
            };
            train_on(&config, store, shape, dir, None, resume, observer)
        }
        DataSource::Stream => {
            let Some(rom) = rom else {
                invalid!("streamed pretraining of {} needs its ROM", plan.game.name);
            };
            let shape = plan.frame_shape(rom)?;
            let (store, collection) =
                stream_collection(plan.collect_spec(), rom.clone(), observer)?;
            let result = train_on(
                &config,
                store,
                shape,
                dir,
                Some(&collection),
                resume,
                observer,
            );
            finish_collection(collection, result.is_err())?;
            result
        }
    }
}

/// Writes the seeded, untrained encoder of `plan` (the random-CNN baseline: the same weights
/// pretraining would start from) to `dir/encoder.safetensors`; needs no data.
pub fn initial_encoder(plan: &RunPlan, shape: FrameShape, dir: &Path) -> Result<PathBuf> {
    Ok(dimua_train::export_initial_encoder(
        shape,
        &train_config(plan)?,
        dir,
    )?)
}
