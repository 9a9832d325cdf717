//! `ProbeError`: every way probing, scoring or reporting can fail, with what and where.

use thiserror::Error;

/// Errors of the probe crate. Each variant names the offending split, label or field.
#[derive(Debug, Error)]
pub enum ProbeError {
    /// A split (or a slice handed to a metric) holds no frames.
    #[error("the {split} split is empty (0 frames)")]
    EmptySplit {
        /// `train`, `val`, `test`, or the name of the slice.
        split: String,
    },
    /// The batch size exceeds the number of probe-train frames (no full batch fits).
    #[error("batch size {batch_size} is larger than the probe train set ({n_train} frames)")]
    BatchLargerThanTrain {
        /// Configured batch size.
        batch_size: usize,
        /// Frames in the train split.
        n_train: usize,
    },
    /// `val_resample`/`test_resample` draw whole batches from a split, and not one fits.
    #[error(
        "{split}_resample needs at least one batch of {split} frames, but the {split} split \
         has {n} and the batch size is {batch_size}: collect more probe frames or turn \
         {split}_resample off"
    )]
    SplitSmallerThanBatch {
        /// `val` or `test`.
        split: &'static str,
        /// Configured batch size.
        batch_size: usize,
        /// Frames in the split.
        n: usize,
    },
    /// Splits disagree on the number of labels K (label columns).
    #[error("label count mismatch: {split} has {found} label columns, expected {expected}")]
    LabelCountMismatch {
        /// The split (or input) whose K differs.
        split: String,
        /// K expected (from the label specs or the train split).
        expected: usize,
        /// K found.
        found: usize,
    },
    /// Splits disagree on the feature dimension D.
    #[error("feature dimension mismatch: {split} has D = {found}, expected {expected}")]
    FeatureDimMismatch {
        /// The split whose D differs.
        split: String,
        /// D of the train split.
        expected: usize,
        /// D found.
        found: usize,
    },
    /// Features and labels of one split have different numbers of rows.
    #[error("{split}: features have {features} rows but labels have {labels}")]
    RowCountMismatch {
        /// The split.
        split: String,
        /// Rows of the feature tensor.
        features: usize,
        /// Rows of the label tensor.
        labels: usize,
    },
    /// Two slices that must align (truth vs prediction, weights vs frames) differ in length.
    #[error("length mismatch in {what}: {left} vs {right}")]
    LengthMismatch {
        /// What was being compared.
        what: String,
        /// First length.
        left: usize,
        /// Second length.
        right: usize,
    },
    /// A tensor has the wrong rank, shape or kind.
    #[error("{what}: expected {expected}, got shape {shape:?} of kind {kind}")]
    BadTensor {
        /// Which tensor.
        what: String,
        /// What was expected, in words.
        expected: String,
        /// The shape found.
        shape: Vec<i64>,
        /// The kind found, as text.
        kind: String,
    },
    /// A label value is outside the raw-byte range 0..=255.
    #[error("{split}: label column {label} holds value {value}, outside 0..=255")]
    LabelOutOfRange {
        /// The split.
        split: String,
        /// The label name.
        label: String,
        /// The offending value.
        value: i64,
    },
    /// A label that should be present is missing (in a result, a spec list, a record).
    #[error("label {name:?} is missing from {context}")]
    LabelMissing {
        /// The label name.
        name: String,
        /// Where it was looked for.
        context: String,
    },
    /// No labels to probe or score (K = 0).
    #[error("no labels to {action} (K = 0)")]
    NoLabels {
        /// What was attempted.
        action: String,
    },
    /// An invalid label specification (unknown category, repeated name, ...).
    #[error(transparent)]
    Label(#[from] dimua_core::labels::LabelError),
    /// The epoch observer of [`crate::train_probes_observed`] asked to stop (e.g. Ctrl-C).
    #[error(
        "probe training stopped after epoch {epochs_done} of {max_epochs} at the caller's request"
    )]
    Stopped {
        /// Epochs completed.
        epochs_done: usize,
        /// The configured maximum.
        max_epochs: usize,
    },
    /// The training loss of a probe became NaN or infinite.
    #[error("non-finite training loss ({value}) for label {label:?} in epoch {epoch}")]
    NonFiniteLoss {
        /// The label whose probe diverged.
        label: String,
        /// 0-based epoch.
        epoch: usize,
        /// The loss value seen.
        value: f64,
    },
    /// A configuration value is out of range.
    #[error("invalid probe config: {field} {reason}")]
    InvalidConfig {
        /// The field name.
        field: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A sampling specification is unusable (negative weights, all-zero weights, ...).
    #[error("invalid sampling: {reason}")]
    InvalidSampling {
        /// Why it is invalid.
        reason: String,
    },
    /// A libtorch call failed.
    #[error("libtorch error: {0}")]
    Torch(#[from] tch::TchError),
}

impl From<dimua_optim::OptimError> for ProbeError {
    fn from(e: dimua_optim::OptimError) -> Self {
        match e {
            dimua_optim::OptimError::Torch { source, .. } => ProbeError::Torch(source),
            other => ProbeError::InvalidConfig {
                field: "adam state".into(),
                reason: other.to_string(),
            },
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, ProbeError>;
