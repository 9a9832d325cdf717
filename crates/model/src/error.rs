//! The error type of `dimua-model`: every fallible operation of the crate returns [`ModelError`].

use std::path::PathBuf;

/// Everything that can go wrong when building, running, saving or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// `--heads 0` (or a spec with zero heads).
    #[error("the atlas needs at least one head (got heads = 0)")]
    ZeroHeads,
    /// `--units 0` (or a spec with zero units per head).
    #[error("each head needs at least one unit (got units = 0)")]
    ZeroUnits,
    /// A frame with zero channels.
    #[error("frames need at least one channel (got channels = 0)")]
    ZeroChannels,
    /// The frame is too small for the conv trunk (k8 s4 -> k4 s2 -> k4 s2 -> k3 s1).
    #[error("frame {height}x{width} is too small for the conv trunk: need at least {min}x{min}")]
    FrameTooSmall {
        /// Frame height in pixels.
        height: usize,
        /// Frame width in pixels.
        width: usize,
        /// Smallest height and width the trunk accepts.
        min: usize,
    },
    /// A method that does not support the requested architecture (e.g. `st-dim` with 4 heads).
    #[error("method {method} does not support {what}")]
    UnsupportedArchitecture {
        /// The method name.
        method: String,
        /// What was asked for.
        what: String,
    },
    /// A method name that is not registered (see [`crate::Method::all`]).
    #[error("unknown method {name:?}; known methods: {known}")]
    UnknownMethod {
        /// The name that was given.
        name: String,
        /// The accepted names, comma separated.
        known: String,
    },
    /// A method registered at run time under a name or alias another method has.
    #[error("method name {name:?} is already taken by another method; choose another name")]
    MethodNameTaken {
        /// The clashing name.
        name: String,
    },
    /// A device string that `parse_device` does not understand.
    #[error("unknown device {name:?}; use auto, cpu, cuda or cuda:<index>")]
    UnknownDevice {
        /// The string that was given.
        name: String,
    },
    /// `cuda` was requested where libtorch sees no (or too few) GPUs.
    #[error("device {requested} requested but {available} CUDA device(s) are available")]
    CudaUnavailable {
        /// The device that was asked for.
        requested: String,
        /// How many CUDA devices libtorch sees.
        available: usize,
    },
    /// A tensor with the wrong element type was passed in.
    #[error("{what}: expected dtype {expected}, got {got}")]
    WrongDtype {
        /// Which argument.
        what: &'static str,
        /// The expected element type.
        expected: &'static str,
        /// The element type that was passed.
        got: String,
    },
    /// A tensor with the wrong shape was passed in.
    #[error("{what}: expected shape {expected}, got {got:?}")]
    WrongShape {
        /// Which argument.
        what: &'static str,
        /// The expected shape, in words (e.g. `[B, 210, 160, 1]`).
        expected: String,
        /// The shape that was passed.
        got: Vec<i64>,
    },
    /// An encoder file (weights or sidecar) could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A path given as an encoder that is neither a run directory nor an encoder file.
    #[error(
        "{path} is not an encoder: give a run directory (it holds encoder.safetensors and \
         encoder.json) or an exported encoder file (NAME.safetensors with NAME.json beside it, \
         as `dimua export` writes)"
    )]
    NotAnEncoder {
        /// The path given.
        path: PathBuf,
    },
    /// The JSON sidecar is not valid.
    #[error("{path}: invalid encoder sidecar: {source}")]
    Sidecar {
        /// The sidecar file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// The sidecar was written by a newer/older, incompatible format.
    #[error(
        "{path}: encoder format version {found} is not supported (this build reads {supported})"
    )]
    FormatVersion {
        /// The sidecar file.
        path: PathBuf,
        /// The version found in the file.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The weights file does not match the architecture in the sidecar.
    #[error("{path}: weights do not match the architecture: {reason}")]
    WeightsMismatch {
        /// The weights file.
        path: PathBuf,
        /// What is missing or has the wrong shape.
        reason: String,
    },
    /// An error raised by libtorch, with what the crate was doing at the time.
    #[error("libtorch error while {context}: {}", short_torch_message(source))]
    Torch {
        /// What the crate was doing.
        context: &'static str,
        /// The libtorch error.
        #[source]
        source: tch::TchError,
    },
}

impl From<dimua_core::fs::FsError> for ModelError {
    fn from(e: dimua_core::fs::FsError) -> Self {
        ModelError::Io {
            path: e.path,
            source: e.source,
        }
    }
}

/// Attaches a short context to libtorch errors (`.ctx("computing the loss")?`).
pub trait TorchContext<T> {
    /// Wraps the error in [`ModelError::Torch`] with `context`.
    fn ctx(self, context: &'static str) -> Result<T, ModelError>;
}

impl<T> TorchContext<T> for Result<T, tch::TchError> {
    fn ctx(self, context: &'static str) -> Result<T, ModelError> {
        self.map_err(|source| ModelError::Torch { context, source })
    }
}

/// The first lines of a libtorch error, without the C++ backtrace that follows
/// "Exception raised from".
pub fn short_torch_message(e: &tch::TchError) -> String {
    let full = e.to_string();
    match full.find("\nException raised from") {
        Some(i) => full[..i].to_string(),
        None => full,
    }
}
