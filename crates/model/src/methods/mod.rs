//! The built-in pretraining methods, one file each, and the list that registers them.
//!
//! Adding a method: write `methods/<name>.rs` with a unit struct implementing
//! [`crate::MethodDef`] (its batch, default architecture, named loss terms and the
//! [`crate::Objective`] it builds), declare the module here and add one line to
//! [`BUILTIN`]. A variant of an existing family (like the four spatio-temporal methods) is
//! one more constant of that family's definition type and one line in [`BUILTIN`]. Nothing else in dimua changes: configs, the CLI, the trainer, metrics,
//! checkpoints and plots work from the definition.

pub mod cpc;
pub mod pixel_pred;
pub mod random_cnn;
pub mod spatiotemporal;
pub mod supervised;
pub mod vae;

use crate::method::MethodDef;

/// The built-in methods, in the order the paper's tables list them.
pub const BUILTIN: [&dyn MethodDef; 9] = [
    &vae::Vae,
    &cpc::Cpc,
    &spatiotemporal::ST_DIM,
    &spatiotemporal::DIM_UA,
    &spatiotemporal::MINUS_UA,
    &spatiotemporal::PLUS_MMD,
    &pixel_pred::PixelPred,
    &random_cnn::RandomCnn,
    &supervised::Supervised,
];
