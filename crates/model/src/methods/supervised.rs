//! `supervised`: AtariARI's fully supervised upper bound. The encoder is trained end to end
//! with one linear head per RAM label (`Linear(d -> 256)`, PyTorch's default init, as the
//! probes), cross-entropy towards the label's byte value; the loss is the mean over the
//! labels. The reference trains one copy of the encoder per label; dimua trains one encoder
//! on all of them (what the issue asks for: one set of features, probed like every other
//! encoder). Every annotated label of the game is used, before AtariARI's entropy filter.

use tch::{nn, Kind, Reduction, Tensor};

use crate::error::{ModelError, TorchContext};
use crate::init::{default_linear, WeightInit};
use crate::method::{Batch, BatchKind, LossInputs, Losses, MethodDef, Objective};
use crate::methods::{check_frames, one_head};
use crate::mixed;
use crate::net::EncoderNet;
use crate::spec::EncoderSpec;

/// Classes per label: the byte values.
pub const CLASSES: usize = 256;

/// Prefix of the heads' variables (`supervised.heads.weight` `[labels * 256, d]`,
/// `supervised.heads.bias`), exported beside the encoder in `heads.safetensors`.
pub const HEADS_PREFIX: &str = "supervised.";

/// `supervised`.
#[derive(Debug)]
pub struct Supervised;

/// Encoder + one fused `Linear(d -> labels * 256)` (`supervised/heads`).
#[derive(Debug)]
pub struct SupervisedObjective {
    net: EncoderNet,
    heads: nn::Linear,
    labels: usize,
}

impl Objective for SupervisedObjective {
    fn net(&self) -> &EncoderNet {
        &self.net
    }

    fn loss(&self, batch: &Batch<'_>, _: LossInputs) -> Result<Losses, ModelError> {
        let spec = *self.net.spec();
        check_frames(batch.frames, &spec, "labelled frame batch", 1)?;
        let b = batch.frames.size()[0];
        let k = self.labels as i64;
        let labels = batch.labels.ok_or(ModelError::WrongShape {
            what: "labels",
            expected: format!("[{b}, {k}] u8 (a batch of labelled frames)"),
            got: vec![],
        })?;
        if labels.size() != [b, k] {
            return Err(ModelError::WrongShape {
                what: "labels",
                expected: format!("[{b}, {k}]"),
                got: labels.size(),
            });
        }
        let ctx = "computing the supervised loss";
        let features = self
            .net
            .atlas
            .coords(&self.net.backbone.forward(batch.frames)?.flat)?
            .f_view([b, spec.units as i64])
            .ctx(ctx)?;
        // [B, K * 256] -> [B * K, 256] against [B * K] targets: the mean over rows is the mean
        // over labels of each label's mean cross-entropy.
        // The heads and the cross-entropy in fp32 (the logits' differences must survive).
        let logits = mixed::to_f32(&features)
            .and_then(|f| f.f_linear(&self.heads.ws, self.heads.bs.as_ref()))
            .and_then(|l| l.f_view([b * k, CLASSES as i64]))
            .ctx(ctx)?;
        let target = labels
            .f_to_kind(Kind::Int64)
            .and_then(|t| t.f_view([b * k]))
            .and_then(|t| t.f_to_device(logits.device()))
            .ctx(ctx)?;
        let total = logits
            .f_cross_entropy_loss::<Tensor>(&target, None, Reduction::Mean, -100, 0.0)
            .ctx(ctx)?;
        Ok(Losses {
            terms: vec![("total", total)],
            membership_q: None,
        })
    }
}

impl MethodDef for Supervised {
    fn name(&self) -> &'static str {
        "supervised"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["fully-supervised"]
    }
    fn batch(&self) -> BatchKind {
        BatchKind::LabelledFrames
    }
    fn default_architecture(&self) -> (usize, usize) {
        (1, 256)
    }
    fn check_architecture(&self, heads: usize, _units: usize) -> Result<(), ModelError> {
        one_head("supervised", heads)
    }
    fn loss_terms(&self) -> &'static [&'static str] {
        &["total"]
    }
    fn exported_heads(&self) -> Option<&'static str> {
        Some(HEADS_PREFIX)
    }
    fn build(
        &self,
        root: &nn::Path,
        spec: &EncoderSpec,
        init: WeightInit,
    ) -> Result<Box<dyn Objective>, ModelError> {
        self.build_for_labels(root, spec, init, 0)
    }
    fn build_for_labels(
        &self,
        root: &nn::Path,
        spec: &EncoderSpec,
        init: WeightInit,
        label_bytes: usize,
    ) -> Result<Box<dyn Objective>, ModelError> {
        if label_bytes == 0 {
            return Err(ModelError::UnsupportedArchitecture {
                method: "supervised".into(),
                what: "frames without RAM labels (it trains on the game's AtariARI labels: \
                       pick a game that `dimua games` lists with labels)"
                    .into(),
            });
        }
        Ok(Box::new(SupervisedObjective {
            net: EncoderNet::with_init(root, spec, init)?,
            heads: default_linear(
                root / "supervised" / "heads",
                spec.units,
                label_bytes * CLASSES,
                init,
            )?,
            labels: label_bytes,
        }))
    }
}
