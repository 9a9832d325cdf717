//! [`PipelineError`]: every failure of the plan and the stages, wrapping the library crates'
//! own errors unchanged (their messages and sources print as they are).

use std::error::Error as StdError;

/// A failure of planning or of one stage.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A config, flag or data problem, said in one sentence that names the fix.
    #[error("{0}")]
    Invalid(String),
    /// Ctrl-C (the observer said so): the stage stopped and wrote nothing more.
    #[error("{0}")]
    Interrupted(String),
    /// A failure with what was being done (`cannot write X`, `loading encoder X`).
    #[error("{context}")]
    Context {
        /// What was being done.
        context: String,
        /// Why it failed.
        #[source]
        source: Box<dyn StdError + Send + Sync + 'static>,
    },
    /// ROMs, games, emulator.
    #[error(transparent)]
    Atari(#[from] dimua_atari::AtariError),
    /// Frame store.
    #[error(transparent)]
    Buffer(#[from] dimua_buffer::BufferError),
    /// Collection and datasets.
    #[error(transparent)]
    Collect(#[from] dimua_collect::CollectError),
    /// Encoders and devices.
    #[error(transparent)]
    Model(#[from] dimua_model::ModelError),
    /// Pretraining.
    #[error(transparent)]
    Train(#[from] dimua_train::TrainError),
    /// Linear probes.
    #[error(transparent)]
    Probe(#[from] dimua_probe::ProbeError),
    /// libtorch.
    #[error(transparent)]
    Torch(#[from] tch::TchError),
    /// JSON output.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Label specs (names, categories).
    #[error(transparent)]
    Label(#[from] dimua_core::labels::LabelError),
    /// Output directories (locks, --force).
    #[error(transparent)]
    OutputDir(#[from] dimua_core::outdir::OutputDirError),
    /// Files (atomic writes).
    #[error(transparent)]
    Fs(#[from] dimua_core::fs::FsError),
}

impl PipelineError {
    /// Wraps `source` with what was being done.
    pub fn context(
        context: impl Into<String>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        PipelineError::Context {
            context: context.into(),
            source: Box::new(source),
        }
    }
}

/// `Result` with [`PipelineError`].
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

/// Returns early with [`PipelineError::Invalid`] built like `format!`.
macro_rules! invalid {
    ($($arg:tt)*) => {
        return Err($crate::error::PipelineError::Invalid(format!($($arg)*)))
    };
}
pub(crate) use invalid;
