//! `dim-ua`. DIM-UA: n heads, the dilated (mean-of-heads) global target of Eq. 7, `+ tau * L_Q`.

use tch::nn;

use crate::error::ModelError;
use crate::init::WeightInit;
use crate::method::{BatchKind, MethodDef, Objective};
use crate::methods::spatiotemporal::{SpatioTemporal, Variant, TERMS};
use crate::net::GlobalTarget;
use crate::spec::EncoderSpec;

/// `dim-ua`: DIM-UA: n heads, the dilated (mean-of-heads) global target of Eq. 7, `+ tau * L_Q`.
#[derive(Debug)]
pub struct DimUa;

impl MethodDef for DimUa {
    fn name(&self) -> &'static str {
        "dim-ua"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["dimua", "ua"]
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
            target: GlobalTarget::Dilated,
            membership_loss: true,
            mmd: false,
        };
        Ok(Box::new(SpatioTemporal::new(root, spec, variant, init)?))
    }
}
