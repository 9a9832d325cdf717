//! `OptimError`: what can go wrong in an optimiser step or a state restore.

/// Errors of the optimiser.
#[derive(Debug, thiserror::Error)]
pub enum OptimError {
    /// A libtorch call failed.
    #[error("libtorch error while {context}: {source}")]
    Torch {
        /// What the optimiser was doing.
        context: &'static str,
        /// The libtorch error.
        #[source]
        source: tch::TchError,
    },
    /// Restored state does not match the parameters.
    #[error("{moments} moment pairs for {params} parameters")]
    StateMismatch {
        /// Moment pairs given.
        moments: usize,
        /// Parameters the optimiser was built for.
        params: usize,
    },
    /// A parameter does not split into the rows of per-group learning rates.
    #[error(
        "a parameter of {numel} elements is not made of {groups}-group rows of {row_len} elements"
    )]
    Layout {
        /// Elements of the parameter.
        numel: usize,
        /// Elements per row.
        row_len: usize,
        /// Learning-rate groups.
        groups: usize,
    },
}

/// Attaches a context to libtorch errors.
pub(crate) trait TorchCtx<T> {
    fn ctx(self, context: &'static str) -> Result<T, OptimError>;
}

impl<T> TorchCtx<T> for Result<T, tch::TchError> {
    fn ctx(self, context: &'static str) -> Result<T, OptimError> {
        self.map_err(|source| OptimError::Torch { context, source })
    }
}
