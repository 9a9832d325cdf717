//! The error type of `dimua-train`.

use std::path::PathBuf;

use dimua_model::ModelError;

/// Everything that can stop a training run (or a benchmark) early.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Building or running the model failed (bad architecture, libtorch error, ...).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The frame store refused a request.
    #[error("frame store: {0}")]
    Buffer(#[from] dimua_buffer::BufferError),
    /// A configuration value is out of range.
    #[error("invalid training config: {field} {reason}")]
    Config {
        /// The offending field.
        field: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// The frame shape given to the trainer does not match the store's frame size.
    #[error("frame shape {shape} is {shape_bytes} bytes per frame but the frame store holds {store_bytes}-byte frames")]
    FrameShapeMismatch {
        /// The shape passed in (`HxWxC`).
        shape: String,
        /// `H * W * C`.
        shape_bytes: usize,
        /// The store's `frame_bytes`.
        store_bytes: usize,
    },
    /// Not enough data for one batch (or no validation data) once the store is closed.
    #[error("not enough {split} data: {pairs} usable {what} in {episodes} episodes (episodes need >= {min_len} frames), need {needed}{hint}")]
    NotEnoughData {
        /// `"train"` or `"val"`.
        split: &'static str,
        /// What the method samples (`frame pairs`, `100-frame sequences`, `frames`).
        what: String,
        /// Usable samples (pairs, sequences or frames).
        pairs: usize,
        /// Usable episodes.
        episodes: usize,
        /// The minimum episode length in use.
        min_len: usize,
        /// Pairs needed.
        needed: usize,
        /// A suggestion.
        hint: &'static str,
    },
    /// The loss became NaN or infinite; the last checkpoint (end of the previous epoch) is
    /// kept untouched.
    #[error("non-finite {phase} loss at epoch {epoch}, step {step_in_epoch} (global step {global_step}): {}; the last good checkpoint (end of epoch {last_good_epoch:?}) is kept", format_terms(.terms))]
    NonFiniteLoss {
        /// `"train"` or `"val"`.
        phase: &'static str,
        /// Epoch (0-based).
        epoch: usize,
        /// Step within the epoch (0-based).
        step_in_epoch: usize,
        /// Optimiser steps taken before this one.
        global_step: u64,
        /// The method's loss terms of the offending batch (or pass), by name.
        terms: Vec<(String, f64)>,
        /// Last epoch whose checkpoint is on disk (`None`: none yet).
        last_good_epoch: Option<usize>,
    },
    /// A fresh run was started in a directory that already holds a checkpoint.
    #[error("{path} already holds a checkpoint: resume it (dimua train --resume) or choose another output directory")]
    RunDirHasCheckpoint {
        /// The existing checkpoint.
        path: PathBuf,
    },
    /// `resume` found no checkpoint.
    #[error(
        "no checkpoint to resume in {dir} (expected checkpoint.json and checkpoint.safetensors)"
    )]
    NoCheckpoint {
        /// The run directory.
        dir: PathBuf,
    },
    /// `resume` was given a config that differs from the checkpoint's.
    #[error("cannot resume {dir}: config field `{field}` differs (checkpoint: {checkpoint}, requested: {requested}); nothing was changed")]
    ResumeConfigMismatch {
        /// The run directory.
        dir: PathBuf,
        /// The first differing field.
        field: String,
        /// The checkpoint's value.
        checkpoint: String,
        /// The requested value.
        requested: String,
    },
    /// The checkpoint files are unreadable or inconsistent.
    #[error("corrupt checkpoint {path}: {reason}")]
    CorruptCheckpoint {
        /// The offending file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file of the run directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A libtorch call failed.
    #[error(
        "libtorch error while {context}: {}",
        dimua_model::error::short_torch_message(source)
    )]
    Torch {
        /// What the trainer was doing.
        context: &'static str,
        /// The libtorch error.
        #[source]
        source: tch::TchError,
    },
}

impl From<dimua_core::fs::FsError> for TrainError {
    fn from(e: dimua_core::fs::FsError) -> Self {
        TrainError::Io {
            path: e.path,
            source: e.source,
        }
    }
}

impl From<dimua_optim::OptimError> for TrainError {
    fn from(e: dimua_optim::OptimError) -> Self {
        use dimua_optim::OptimError as E;
        match e {
            E::Torch { context, source } => TrainError::Torch { context, source },
            E::StateMismatch { .. } | E::Layout { .. } => TrainError::Config {
                field: "adam state",
                reason: e.to_string(),
            },
        }
    }
}

/// Attaches a short context to libtorch errors.
pub(crate) trait TorchCtx<T> {
    fn ctx(self, context: &'static str) -> Result<T, TrainError>;
}

impl<T> TorchCtx<T> for Result<T, tch::TchError> {
    fn ctx(self, context: &'static str) -> Result<T, TrainError> {
        self.map_err(|source| TrainError::Torch { context, source })
    }
}

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `total 1.2, global_local nan, ...`: loss terms for an error message.
fn format_terms(terms: &[(String, f64)]) -> String {
    terms
        .iter()
        .map(|(n, v)| format!("{n} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}
