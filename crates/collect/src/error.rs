//! Errors of collection and of datasets on disk.

use std::path::PathBuf;

/// Everything that can go wrong while collecting frames or reading/writing a dataset.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The emulator or ROM layer refused (unknown game, missing or non-canonical ROM, ...).
    #[error(transparent)]
    Atari(#[from] dimua_atari::AtariError),
    /// The frame store refused (bad sizes, full).
    #[error("frame store: {0}")]
    Buffer(#[from] dimua_buffer::BufferError),
    /// A request that cannot produce a dataset.
    #[error("invalid collection request: {reason}")]
    InvalidRequest {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The output directory exists and holds files.
    #[error("output directory {path} is not empty: choose another --out, or pass --force to replace what is there")]
    OutputNotEmpty {
        /// The directory.
        path: PathBuf,
    },
    /// Collection was interrupted (Ctrl-C); nothing that looks complete was left behind.
    #[error("collection interrupted: no dataset was written")]
    Interrupted,
    /// The output directory is locked, not empty, or holds files dimua did not write.
    #[error(transparent)]
    Output(#[from] dimua_core::outdir::OutputDirError),
    /// An I/O failure on a named path.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("write", "read", "create directory", ...).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The directory is not a dataset (no manifest).
    #[error("{path} is not a dimua dataset (no manifest.json): write one with `dimua collect --out {path}`")]
    NotADataset {
        /// The directory.
        path: PathBuf,
    },
    /// A manifest that cannot be parsed or is inconsistent.
    #[error(
        "corrupt dataset manifest {path}: {reason}; re-create the dataset with `dimua collect`"
    )]
    CorruptManifest {
        /// The manifest path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A shard that is truncated, tampered with or inconsistent with the manifest.
    #[error("corrupt dataset shard {path}: {reason}; re-create the dataset with `dimua collect`")]
    CorruptShard {
        /// The shard path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A worker thread panicked (a bug); the dataset was not written.
    #[error("a collector thread failed: {0}")]
    WorkerPanic(String),
}

impl CollectError {
    /// Wraps an I/O error with the action and path it concerns.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CollectError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
