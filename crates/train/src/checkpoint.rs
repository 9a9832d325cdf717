//! `checkpoint.safetensors` + `checkpoint.json`: everything needed to continue a run to the
//! same result as an uninterrupted one: all weights, Adam moments and step, the sampler's
//! RNG position, the early-stopping state and best weights, and the metrics history.
//!
//! Both files are written to `*.tmp` and renamed, tensors first. Both carry the global
//! step as a tag; if a crash falls between the two renames, the leftover
//! `checkpoint.json.tmp` matching the new tensors is used.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use dimua_core::early_stop::LowerIsBetter;
use dimua_core::fs::{rename_synced, write_synced};
use dimua_model::encoder::write_safetensors_atomic;
use dimua_model::FrameShape;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::config::TrainConfig;
use crate::error::{io_err, TorchCtx, TrainError};
use crate::metrics::EpochMetrics;

/// Checkpoint format version.
pub const CHECKPOINT_FORMAT_VERSION: u32 = 1;
/// Tensor file name.
pub const CHECKPOINT_TENSORS: &str = "checkpoint.safetensors";
/// Metadata file name.
pub const CHECKPOINT_META: &str = "checkpoint.json";
const TAG: &str = "meta.tag";

/// Values derived from the config and the data at the start of a run (kept apart from the
/// raw config, never written back into it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Optimiser steps per epoch.
    pub steps_per_epoch: usize,
    /// The frame shape.
    pub frame: FrameShape,
    /// The device the run started on (`cpu`, `cuda:0`).
    pub device: String,
}

/// The trainer's early-stopping state: score = val loss, lower is better, ties are no
/// improvement (serialised as `best_val_loss`, `best_epoch`, `counter`).
pub type EarlyStopping = dimua_core::early_stop::EarlyStopping<LowerIsBetter>;

/// `checkpoint.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// [`CHECKPOINT_FORMAT_VERSION`].
    pub format_version: u32,
    /// The run's config.
    pub config: TrainConfig,
    /// Derived sizes.
    pub plan: Plan,
    /// The epoch to run next (= epochs completed).
    pub next_epoch: usize,
    /// Optimiser steps taken.
    pub global_step: u64,
    /// Adam's step count.
    pub adam_step: u64,
    /// Word position of the train sampler's ChaCha8 stream (a u128, as a string).
    pub sampler_word_pos: String,
    /// Early stopping.
    pub early_stopping: EarlyStopping,
    /// Whether `best.*` tensors are stored.
    pub has_best_weights: bool,
    /// `running`, `finished`, `early-stopped`.
    pub status: String,
    /// One record per completed epoch.
    pub history: Vec<EpochMetrics>,
    /// Must equal the tensor file's tag.
    pub tag: u64,
}

/// Paths of the two files in `dir`.
pub fn checkpoint_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join(CHECKPOINT_TENSORS), dir.join(CHECKPOINT_META))
}

/// Writes a checkpoint: tensors (with the tag) first, then the metadata.
pub fn write_checkpoint(
    dir: &Path,
    meta: &CheckpointMeta,
    tensors: Vec<(String, Tensor)>,
) -> Result<(), TrainError> {
    let (tpath, mpath) = checkpoint_paths(dir);
    let mut tensors = tensors;
    let tag = Tensor::f_from_slice(&[meta.tag as i64]).ctx("writing the checkpoint")?;
    tensors.push((TAG.to_string(), tag));
    let json = serde_json::to_vec_pretty(meta).map_err(|e| TrainError::CorruptCheckpoint {
        path: mpath.clone(),
        reason: e.to_string(),
    })?;
    // Write the metadata's temp file first, so a crash between the tensors' rename and
    // the metadata's leaves a matching `checkpoint.json.tmp` next to the new tensors.
    let tmp = tmp_path(&mpath);
    if let Err(e) = write_synced(&tmp, &json) {
        let _ = fs::remove_file(&tmp);
        return Err(e.into());
    }
    if let Err(e) = write_safetensors_atomic(&tpath, &tensors) {
        // The old tensors are still in place: the new metadata must not survive them.
        let _ = fs::remove_file(&tmp);
        return Err(e.into());
    }
    rename_synced(&tmp, &mpath)?;
    Ok(())
}

/// `path` + `.tmp`: where the metadata waits for its tensors.
fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

fn read_meta(path: &Path) -> Result<CheckpointMeta, TrainError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    let meta: CheckpointMeta =
        serde_json::from_slice(&bytes).map_err(|e| TrainError::CorruptCheckpoint {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if meta.format_version != CHECKPOINT_FORMAT_VERSION {
        return Err(TrainError::CorruptCheckpoint {
            path: path.to_path_buf(),
            reason: format!(
                "format version {} (this build reads {CHECKPOINT_FORMAT_VERSION})",
                meta.format_version
            ),
        });
    }
    Ok(meta)
}

/// Reads only `checkpoint.json` of `dir` (no consistency check with the tensors).
pub fn read_checkpoint_meta(dir: &Path) -> Result<CheckpointMeta, TrainError> {
    let (_, mpath) = checkpoint_paths(dir);
    if !mpath.exists() {
        return Err(TrainError::NoCheckpoint {
            dir: dir.to_path_buf(),
        });
    }
    read_meta(&mpath)
}

/// True if `dir` holds a checkpoint (metadata or tensors).
pub fn has_checkpoint(dir: &Path) -> bool {
    let (t, m) = checkpoint_paths(dir);
    t.exists() || m.exists()
}

/// Reads a checkpoint; tensors are moved to `device`.
pub fn read_checkpoint(
    dir: &Path,
    device: Device,
) -> Result<(CheckpointMeta, HashMap<String, Tensor>), TrainError> {
    let (tpath, mpath) = checkpoint_paths(dir);
    if !tpath.exists() || !mpath.exists() {
        return Err(TrainError::NoCheckpoint {
            dir: dir.to_path_buf(),
        });
    }
    let corrupt = |reason: String| TrainError::CorruptCheckpoint {
        path: tpath.clone(),
        reason,
    };
    let tensors: HashMap<String, Tensor> = Tensor::read_safetensors(&tpath)
        .map_err(|e| corrupt(e.to_string()))?
        .into_iter()
        .map(|(k, t)| Ok((k, t.f_to_device(device)?)))
        .collect::<Result<_, tch::TchError>>()
        .ctx("loading the checkpoint")?;
    let tag = tensors
        .get(TAG)
        .filter(|t| t.kind() == Kind::Int64 && t.numel() == 1)
        .map(|t| t.int64_value(&[0]) as u64)
        .ok_or_else(|| corrupt("missing tag".into()))?;
    let mut meta = read_meta(&mpath)?;
    if meta.tag != tag {
        // A crash between the two renames: the new metadata is still in the temp file.
        let tmp = tmp_path(&mpath);
        match read_meta(&tmp) {
            Ok(m) if m.tag == tag => meta = m,
            _ => {
                return Err(TrainError::CorruptCheckpoint {
                    path: mpath,
                    reason: format!(
                        "metadata tag {} does not match the tensors' tag {tag}",
                        meta.tag
                    ),
                })
            }
        }
    }
    Ok((meta, tensors))
}
