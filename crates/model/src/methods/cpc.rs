//! `cpc`: AtariARI's Contrastive Predictive Coding baseline. Each sample is a run of
//! [`SEQUENCE_LEN`] consecutive frames of one episode; the encoder maps every frame to
//! `z_t` (`d` units), a 2-layer GRU ([`CONTEXT_UNITS`] units, zero initial state) reads them
//! in order to contexts `c_t`, and for each offset `i` of [`OFFSETS`] a `Linear(256 -> d)`
//! predicts `z_{t+i+1}` from `c_t`. InfoNCE per offset: the scores of every prediction
//! against every target of the batch (all samples, all times: `N x N` with
//! `N = B (T - i - 1)`), cross-entropy towards the matching target, averaged over the `N`
//! rows; the loss is the sum over the 25 offsets. Targets are not detached, as the
//! reference. Only the encoder is exported; the GRU and the predictors serve pretraining.

use tch::{nn, Kind, Reduction, Tensor};

use crate::error::{ModelError, TorchContext};
use crate::init::{default_linear, uniform, WeightInit};
use crate::method::{Batch, BatchKind, LossInputs, Losses, MethodDef, Objective};
use crate::methods::{check_frames, one_head};
use crate::mixed;
use crate::net::EncoderNet;
use crate::spec::EncoderSpec;

/// Frames per sequence (the reference's `--sequence_length`).
pub const SEQUENCE_LEN: usize = 100;
/// GRU units (`--gru_size`).
pub const CONTEXT_UNITS: usize = 256;
/// GRU layers (`--gru_layers`).
pub const CONTEXT_LAYERS: usize = 2;
/// Prediction offsets `i` (`range(steps_start=0, steps_end=99, steps_step=4)`): offset
/// `i` predicts `i + 1` frames ahead.
pub const OFFSETS: [usize; 25] = {
    let mut o = [0; 25];
    let mut k = 0;
    while k < 25 {
        o[k] = 4 * k;
        k += 1;
    }
    o
};

/// `cpc`.
#[derive(Debug)]
pub struct Cpc;

/// Encoder + GRU + one predictor per offset: `encoder/`, `atlas/`, `cpc/gru/*`,
/// `cpc/predict{i}`.
#[derive(Debug)]
pub struct CpcObjective {
    net: EncoderNet,
    /// `w_ih, w_hh, b_ih, b_hh` per layer (libtorch's flat GRU weight order).
    gru: Vec<Tensor>,
    predictors: Vec<nn::Linear>,
}

impl Objective for CpcObjective {
    fn net(&self) -> &EncoderNet {
        &self.net
    }

    /// `frames: [T * B, H, W, C]`, position-major: rows `t * B .. (t + 1) * B` are the
    /// `t`-th frames of the `B` sequences.
    fn loss(&self, batch: &Batch<'_>, _: LossInputs) -> Result<Losses, ModelError> {
        let spec = *self.net.spec();
        let t = SEQUENCE_LEN as i64;
        check_frames(batch.frames, &spec, "sequence batch", t)?;
        let ctx = "computing the CPC loss";
        let b = batch.frames.size()[0] / t;
        let d = spec.units as i64;
        let trunk = self.net.backbone.forward(batch.frames)?;
        let z = self
            .net
            .atlas
            .coords(&trunk.flat)?
            .f_view([t, b, d])
            // The recurrent context and the scores in fp32 (the trunk and atlas, where the
            // arithmetic is, ran in the compute precision).
            .and_then(|z| mixed::to_f32(&z))
            .ctx(ctx)?;
        let h0 = Tensor::f_zeros(
            [CONTEXT_LAYERS as i64, b, CONTEXT_UNITS as i64],
            (Kind::Float, z.device()),
        )
        .ctx(ctx)?;
        let (context, _) = z
            .f_gru(
                &h0,
                &self.gru,
                true,
                CONTEXT_LAYERS as i64,
                0.0,
                true,
                false,
                false,
            )
            .ctx(ctx)?;
        let mut per_offset = Vec::with_capacity(OFFSETS.len());
        for (&i, w) in OFFSETS.iter().zip(&self.predictors) {
            let ahead = i as i64 + 1;
            let n = (t - ahead) * b;
            let pred = context
                .f_narrow(0, 0, t - ahead)
                .and_then(|c| c.f_linear(&w.ws, w.bs.as_ref()))
                .and_then(|p| p.f_reshape([n, d]))
                .ctx(ctx)?;
            let target = z
                .f_narrow(0, ahead, t - ahead)
                .and_then(|x| x.f_reshape([n, d]))
                .ctx(ctx)?;
            let labels = Tensor::f_arange(n, (Kind::Int64, z.device())).ctx(ctx)?;
            let loss = pred
                .f_matmul(&target.f_tr().ctx(ctx)?)
                .and_then(|logits| {
                    logits.f_cross_entropy_loss::<Tensor>(&labels, None, Reduction::Mean, -100, 0.0)
                })
                .ctx(ctx)?;
            per_offset.push(loss);
        }
        let total = Tensor::f_stack(&per_offset, 0)
            .and_then(|l| l.f_sum(Kind::Float))
            .ctx(ctx)?;
        let first = per_offset[0].shallow_clone();
        let last = per_offset[per_offset.len() - 1].shallow_clone();
        Ok(Losses {
            terms: vec![("total", total), ("step_1", first), ("step_97", last)],
            membership_q: None,
        })
    }
}

impl MethodDef for Cpc {
    fn name(&self) -> &'static str {
        "cpc"
    }
    fn batch(&self) -> BatchKind {
        BatchKind::Sequences { len: SEQUENCE_LEN }
    }
    fn default_architecture(&self) -> (usize, usize) {
        (1, 256)
    }
    fn check_architecture(&self, heads: usize, _units: usize) -> Result<(), ModelError> {
        one_head("cpc", heads)
    }
    fn loss_terms(&self) -> &'static [&'static str] {
        &["total", "step_1", "step_97"]
    }
    fn build(
        &self,
        root: &nn::Path,
        spec: &EncoderSpec,
        init: WeightInit,
    ) -> Result<Box<dyn Objective>, ModelError> {
        let ctx = "initialising the CPC context network";
        let p = root / "cpc";
        let g = &p / "gru";
        // PyTorch's GRU init: every weight and bias U(-1/sqrt(hidden), 1/sqrt(hidden)).
        let bound = 1.0 / (CONTEXT_UNITS as f64).sqrt();
        let h = CONTEXT_UNITS as i64;
        let mut gru = Vec::with_capacity(4 * CONTEXT_LAYERS);
        for layer in 0..CONTEXT_LAYERS {
            let input = if layer == 0 { spec.units as i64 } else { h };
            for (name, dims) in [
                (format!("w_ih_l{layer}"), vec![3 * h, input]),
                (format!("w_hh_l{layer}"), vec![3 * h, h]),
                (format!("b_ih_l{layer}"), vec![3 * h]),
                (format!("b_hh_l{layer}"), vec![3 * h]),
            ] {
                let v = uniform(init, &g.path(&name), &dims, bound, p.device())?;
                gru.push(g.f_var_copy(&name, &v).ctx(ctx)?);
            }
        }
        let predictors = (0..OFFSETS.len())
            .map(|k| default_linear(&p / format!("predict{k}"), CONTEXT_UNITS, spec.units, init))
            .collect::<Result<_, _>>()?;
        Ok(Box::new(CpcObjective {
            net: EncoderNet::with_init(root, spec, init)?,
            gru,
            predictors,
        }))
    }
}
