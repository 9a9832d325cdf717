//! The built-in pretraining methods, one file each, and the list that registers them.
//!
//! Adding a method: write `methods/<name>.rs` with a unit struct implementing
//! [`crate::MethodDef`] (its batch, default architecture, named loss terms and the
//! [`crate::Objective`] it builds), declare the module here and add one line to
//! [`BUILTIN`]. Nothing else in dimua changes: configs, the CLI, the trainer, metrics,
//! checkpoints and plots work from the definition.

pub mod dim_ua;
pub mod minus_ua;
pub mod plus_mmd;
pub mod random_cnn;
pub mod spatiotemporal;
pub mod st_dim;

use crate::method::MethodDef;

/// The built-in methods, in the order the paper's tables list them.
pub const BUILTIN: [&dyn MethodDef; 5] = [
    &st_dim::StDim,
    &dim_ua::DimUa,
    &minus_ua::MinusUa,
    &plus_mmd::PlusMmd,
    &random_cnn::RandomCnn,
];
