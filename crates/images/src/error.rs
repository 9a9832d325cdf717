//! The image experiment's error type: every failure names what went wrong and how to fix it.

use std::path::PathBuf;

use thiserror::Error;

/// Errors of `dimua-images`.
#[derive(Debug, Error)]
pub enum ImagesError {
    /// A file or directory could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (`read`, `create directory`, ...).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A dataset file is not in the format it claims to be.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The offending file or directory.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A config value is invalid.
    #[error("invalid image config: `{field}` {reason}")]
    Config {
        /// The key (dotted for nested tables).
        field: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A libtorch call failed.
    #[error("{context}: {source}")]
    Torch {
        /// What was being computed.
        context: String,
        /// libtorch's error.
        source: tch::TchError,
    },
    /// The linear evaluation failed.
    #[error("linear evaluation: {0}")]
    Probe(#[from] dimua_probe::ProbeError),
    /// A loss of `dimua-model` failed.
    #[error(transparent)]
    Model(#[from] dimua_model::ModelError),
    /// The output directory could not be prepared or committed.
    #[error(transparent)]
    OutputDir(#[from] dimua_core::outdir::OutputDirError),
    /// An atomic write failed.
    #[error(transparent)]
    Fs(#[from] dimua_core::fs::FsError),
    /// The optimiser failed.
    #[error(transparent)]
    Optim(#[from] dimua_optim::OptimError),
    /// The loss stopped being a finite number.
    #[error("the loss became {value} at step {step}: lower train.lr")]
    Diverged {
        /// Pretraining step.
        step: u64,
        /// The loss.
        value: f64,
    },
    /// The run was stopped (Ctrl-C) before it finished; its checkpoint is kept.
    #[error("stopped; continue with --resume")]
    Stopped,
}

/// Result with [`ImagesError`].
pub type Result<T> = std::result::Result<T, ImagesError>;

/// Adds a context to a libtorch result.
pub(crate) trait TorchContext<T> {
    /// Maps a [`tch::TchError`] into [`ImagesError::Torch`] with `context`.
    fn ctx(self, context: &str) -> Result<T>;
}

impl<T> TorchContext<T> for std::result::Result<T, tch::TchError> {
    fn ctx(self, context: &str) -> Result<T> {
        self.map_err(|source| ImagesError::Torch {
            context: context.to_string(),
            source,
        })
    }
}

/// A closure mapping an I/O error at `path` into [`ImagesError::Io`].
pub(crate) fn io_at<'a>(
    action: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(std::io::Error) -> ImagesError + 'a {
    move |source| ImagesError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// A config error for `field`.
pub(crate) fn config_error(field: &str, reason: impl Into<String>) -> ImagesError {
    ImagesError::Config {
        field: field.to_string(),
        reason: reason.into(),
    }
}

impl From<tch::TchError> for ImagesError {
    fn from(source: tch::TchError) -> Self {
        ImagesError::Torch {
            context: "libtorch".into(),
            source,
        }
    }
}
