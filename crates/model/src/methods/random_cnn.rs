//! `random-cnn`: no pretraining; the orthogonally initialised encoder is saved as-is
//! (AtariARI's Random-CNN baseline).

use tch::nn;

use crate::error::ModelError;
use crate::init::WeightInit;
use crate::method::{Batch, BatchKind, LossInputs, Losses, MethodDef, Objective};
use crate::net::EncoderNet;
use crate::spec::EncoderSpec;

/// `random-cnn`.
#[derive(Debug)]
pub struct RandomCnn;

/// The initialised encoder alone; it has no loss.
#[derive(Debug)]
pub struct Untrained {
    net: EncoderNet,
}

impl Objective for Untrained {
    fn net(&self) -> &EncoderNet {
        &self.net
    }

    fn loss(&self, _: &Batch<'_>, _: LossInputs) -> Result<Losses, ModelError> {
        Err(ModelError::UnsupportedArchitecture {
            method: "random-cnn".into(),
            what: "training (it has no loss: its encoder is the initialisation)".into(),
        })
    }
}

impl MethodDef for RandomCnn {
    fn name(&self) -> &'static str {
        "random-cnn"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["random", "randomcnn"]
    }
    fn trains(&self) -> bool {
        false
    }
    fn batch(&self) -> BatchKind {
        BatchKind::Frames
    }
    fn default_architecture(&self) -> (usize, usize) {
        (1, 256)
    }
    fn loss_terms(&self) -> &'static [&'static str] {
        &["total"]
    }
    fn build(
        &self,
        root: &nn::Path,
        spec: &EncoderSpec,
        init: WeightInit,
    ) -> Result<Box<dyn Objective>, ModelError> {
        Ok(Box::new(Untrained {
            net: EncoderNet::with_init(root, spec, init)?,
        }))
    }
}
