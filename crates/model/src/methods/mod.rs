//! The built-in pretraining methods, one file each, the list that registers them, and the
//! batch and architecture checks they share.
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

use tch::{Kind, Tensor};

use crate::error::ModelError;
use crate::method::MethodDef;
use crate::spec::EncoderSpec;

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

/// Checks a batch of `rows_per_sample` frames per sample: `u8 [rows_per_sample * B, H, W, C]`
/// matching `spec`.
pub(crate) fn check_frames(
    frames: &Tensor,
    spec: &EncoderSpec,
    what: &'static str,
    rows_per_sample: i64,
) -> Result<(), ModelError> {
    let size = frames.size();
    let frame = spec.frame.dims();
    if size.len() != 4 || size[0] == 0 || size[0] % rows_per_sample != 0 || size[1..] != frame {
        return Err(ModelError::WrongShape {
            what,
            expected: format!(
                "[{rows_per_sample}B, {}, {}, {}]",
                frame[0], frame[1], frame[2]
            ),
            got: size,
        });
    }
    if frames.kind() != Kind::Uint8 {
        return Err(ModelError::WrongDtype {
            what,
            expected: "u8",
            got: format!("{:?}", frames.kind()),
        });
    }
    Ok(())
}

/// The baselines of AtariARI have one encoder output, not an atlas.
pub(crate) fn one_head(method: &str, heads: usize) -> Result<(), ModelError> {
    if heads == 1 {
        Ok(())
    } else {
        Err(ModelError::UnsupportedArchitecture {
            method: method.to_string(),
            what: format!("{heads} heads ({method} has one encoder output: use --heads 1)"),
        })
    }
}
