//! `pixel-pred`: AtariARI's pixel-prediction baseline (`naff`, "no-action feed-forward"
//! predictor). The encoder's output for frame `x_t` goes through a `Linear(d -> d)` (no
//! activation) and the [`PixelDecoder`] (the VAE's) to predict the NEXT frame `x_{t+1}`;
//! the loss is the mean squared error over its pixels (in `[0, 1]`). The reference's
//! `--naff_fc_size` is never used by its model, so there is no such setting here.

use tch::{nn, Kind};

use crate::decoder::{pixel_target, PixelDecoder};
use crate::error::{ModelError, TorchContext};
use crate::init::{default_linear, WeightInit};
use crate::method::{Batch, BatchKind, LossInputs, Losses, MethodDef, Objective};
use crate::methods::{check_frames, one_head};
use crate::mixed;
use crate::net::EncoderNet;
use crate::spec::EncoderSpec;

/// `pixel-pred`.
#[derive(Debug)]
pub struct PixelPred;

/// Encoder + predictor + decoder: `encoder/`, `atlas/`, `pixel_pred/fc`,
/// `pixel_pred/decoder`.
#[derive(Debug)]
pub struct PixelPredObjective {
    net: EncoderNet,
    fc: nn::Linear,
    decoder: PixelDecoder,
}

impl Objective for PixelPredObjective {
    fn net(&self) -> &EncoderNet {
        &self.net
    }

    /// `frames: [2B, H, W, C]`: rows `0..B` are `x_t`, rows `B..2B` the frames that follow
    /// them. Only `x_t` is encoded.
    fn loss(&self, batch: &Batch<'_>, _: LossInputs) -> Result<Losses, ModelError> {
        let spec = *self.net.spec();
        check_frames(batch.frames, &spec, "pair batch", 2)?;
        let ctx = "computing the pixel-prediction loss";
        let b = batch.frames.size()[0] / 2;
        let now = batch.frames.f_narrow(0, 0, b).ctx(ctx)?;
        let next = batch.frames.f_narrow(0, b, b).ctx(ctx)?;
        let code = self
            .net
            .atlas
            .coords(&self.net.backbone.forward(&now)?.flat)?
            .f_view([b, spec.units as i64])
            .and_then(|c| mixed::linear(&c, &self.fc.ws, self.fc.bs.as_ref()))
            .ctx(ctx)?;
        let predicted = self.decoder.forward(&code)?;
        // The decoder in the trunk's precision, the error in fp32.
        let target = pixel_target(&next)?;
        let mse = mixed::to_f32(&predicted)
            .and_then(|p| p.f_sub(&target))
            .and_then(|d| d.f_square())
            .and_then(|d| d.f_mean(Kind::Float))
            .ctx(ctx)?;
        Ok(Losses {
            terms: vec![("total", mse)],
            membership_q: None,
        })
    }
}

impl MethodDef for PixelPred {
    fn name(&self) -> &'static str {
        "pixel-pred"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["naff", "pixelpred", "pixel-prediction"]
    }
    fn batch(&self) -> BatchKind {
        BatchKind::Pairs
    }
    fn default_architecture(&self) -> (usize, usize) {
        (1, 256)
    }
    fn check_architecture(&self, heads: usize, _units: usize) -> Result<(), ModelError> {
        one_head("pixel-pred", heads)
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
        let p = root / "pixel_pred";
        Ok(Box::new(PixelPredObjective {
            net: EncoderNet::with_init(root, spec, init)?,
            fc: default_linear(&p / "fc", spec.units, spec.units, init)?,
            decoder: PixelDecoder::new(&(&p / "decoder"), spec, spec.units, init)?,
        }))
    }
}
