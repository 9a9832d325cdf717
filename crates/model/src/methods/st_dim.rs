//! ST-DIM (Anand et al. 2019): one head, global-local + local-local InfoNCE on pairs of
//! adjacent frames. ST-DIM* is the same method with more units (`--units 16384`).

use tch::nn;

use crate::error::ModelError;
use crate::init::WeightInit;
use crate::method::{BatchKind, MethodDef, Objective};
use crate::methods::spatiotemporal::{SpatioTemporal, Variant, TERMS};
use crate::net::GlobalTarget;
use crate::spec::EncoderSpec;

/// `st-dim`.
#[derive(Debug)]
pub struct StDim;

impl MethodDef for StDim {
    fn name(&self) -> &'static str {
        "st-dim"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["stdim", "infonce-stdim"]
    }
    fn batch(&self) -> BatchKind {
        BatchKind::Pairs
    }
    fn default_architecture(&self) -> (usize, usize) {
        (1, 256)
    }
    fn check_architecture(&self, heads: usize, units: usize) -> Result<(), ModelError> {
        if heads != 1 {
            return Err(ModelError::UnsupportedArchitecture {
                method: self.name().to_string(),
                what: format!(
                    "{heads} heads (ST-DIM has one head; for ST-DIM* use --heads 1 --units {})",
                    heads * units
                ),
            });
        }
        Ok(())
    }
    fn loss_terms(&self) -> &'static [&'static str] {
        &TERMS
    }
    fn build(
        &self,
        root: &nn::Path,
        spec: &EncoderSpec,
        init: WeightInit,
    ) -> Result<Box<dyn Objective>, ModelError> {
        // With one head the dilated and the weighted target are the same head.
        let variant = Variant {
            target: GlobalTarget::Weighted,
            membership_loss: false,
            mmd: false,
        };
        Ok(Box::new(SpatioTemporal::new(root, spec, variant, init)?))
    }
}
