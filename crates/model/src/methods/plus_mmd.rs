//! `plus-mmd`. The "+MMD" (MSimCLR-style) variant: q-weighted target, `+ tau * L_Q + MMD` to a logit-uniform prior.

use tch::nn;

use crate::error::ModelError;
use crate::init::WeightInit;
use crate::method::{BatchKind, MethodDef, Objective};
use crate::methods::spatiotemporal::{SpatioTemporal, Variant, TERMS};
use crate::net::GlobalTarget;
use crate::spec::EncoderSpec;

/// `plus-mmd`: the "+MMD" (MSimCLR-style) variant: q-weighted target, `+ tau * L_Q + MMD` to a logit-uniform prior.
#[derive(Debug)]
pub struct PlusMmd;

impl MethodDef for PlusMmd {
    fn name(&self) -> &'static str {
        "plus-mmd"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["+mmd", "mmd"]
    }
    fn batch(&self) -> BatchKind {
        BatchKind::Pairs
    }
    fn default_architecture(&self) -> (usize, usize) {
        (4, 512)
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
        let variant = Variant {
            target: GlobalTarget::Weighted,
            membership_loss: true,
            mmd: true,
        };
        Ok(Box::new(SpatioTemporal::new(root, spec, variant, init)?))
    }
}
