//! `vae`: AtariARI's VAE baseline. The encoder (conv trunk + `Linear(3456 -> d)`) gives the
//! posterior mean `mu`, which is also the feature the probes see; a second
//! `Linear(3456 -> d)` on the same trunk output gives `log sigma^2`; the
//! [`PixelDecoder`] turns `z = mu + eps * exp(log sigma^2 / 2)` (`z = mu` outside training)
//! back into the frame. Loss, summed over the batch as the reference:
//! `sum (x_hat - x)^2 + beta * KL(q(z|x) || N(0, I))`, `x` in `[0, 1]`, `beta` from
//! [`LossInputs::vae_beta`] (`[train] vae_beta`, default [`BETA`] = 1 as the reference).

use tch::{nn, Kind};

use crate::decoder::{pixel_target, PixelDecoder};
use crate::error::{ModelError, TorchContext};
use crate::init::{default_linear, derive_seed, seeded_normal, WeightInit};
use crate::method::{Batch, BatchKind, LossInputs, Losses, MethodDef, Objective};
use crate::methods::{check_frames, one_head};
use crate::mixed;
use crate::net::EncoderNet;
use crate::spec::EncoderSpec;

/// Default weight of the KL term (the reference's `--beta` default).
pub const BETA: f64 = 1.0;

/// `vae`.
#[derive(Debug)]
pub struct Vae;

/// Encoder + log-variance head + decoder: `encoder/`, `atlas/` (the mean), `vae/logvar`,
/// `vae/decoder`.
#[derive(Debug)]
pub struct VaeObjective {
    net: EncoderNet,
    logvar: nn::Linear,
    decoder: PixelDecoder,
}

impl Objective for VaeObjective {
    fn net(&self) -> &EncoderNet {
        &self.net
    }

    fn loss(&self, batch: &Batch<'_>, inputs: LossInputs) -> Result<Losses, ModelError> {
        let spec = *self.net.spec();
        check_frames(batch.frames, &spec, "frame batch", 1)?;
        let ctx = "computing the VAE loss";
        let b = batch.frames.size()[0];
        let trunk = self.net.backbone.forward(batch.frames)?;
        let mu = self
            .net
            .atlas
            .coords(&trunk.flat)?
            .f_view([b, spec.units as i64])
            .and_then(|m| mixed::to_f32(&m))
            .ctx(ctx)?;
        // The posterior and the KL in fp32; the decoder runs in the trunk's precision.
        let logvar = mixed::linear(&trunk.flat, &self.logvar.ws, self.logvar.bs.as_ref())
            .and_then(|l| mixed::to_f32(&l))
            .ctx(ctx)?;
        let z = if inputs.training {
            let eps = seeded_normal(
                &[b, spec.units as i64],
                mu.device(),
                derive_seed(inputs.seed, "vae-eps"),
            )?;
            let std = logvar.f_mul_scalar(0.5).and_then(|h| h.f_exp()).ctx(ctx)?;
            mu.f_add(&eps.f_mul(&std).ctx(ctx)?).ctx(ctx)?
        } else {
            mu.shallow_clone()
        };
        let x_hat = self
            .decoder
            .forward(&mixed::as_kind(&z, trunk.flat.kind()).ctx(ctx)?)?;
        let x = pixel_target(batch.frames)?;
        let reconstruction = mixed::to_f32(&x_hat)
            .and_then(|x_hat| x_hat.f_sub(&x))
            .and_then(|d| d.f_square())
            .and_then(|d| d.f_sum(Kind::Float))
            .ctx(ctx)?;
        // -1/2 sum(1 + log s^2 - mu^2 - s^2)
        let kl = logvar
            .f_add_scalar(1.0)
            .and_then(|t| t.f_sub(&mu.f_square()?))
            .and_then(|t| t.f_sub(&logvar.f_exp()?))
            .and_then(|t| t.f_sum(Kind::Float))
            .and_then(|t| t.f_mul_scalar(-0.5))
            .ctx(ctx)?;
        let total = reconstruction
            .f_add(&kl.f_mul_scalar(inputs.vae_beta).ctx(ctx)?)
            .ctx(ctx)?;
        Ok(Losses {
            terms: vec![
                ("total", total),
                ("reconstruction", reconstruction),
                ("kl", kl),
            ],
            membership_q: None,
        })
    }
}

impl MethodDef for Vae {
    fn name(&self) -> &'static str {
        "vae"
    }
    fn batch(&self) -> BatchKind {
        BatchKind::Frames
    }
    fn default_architecture(&self) -> (usize, usize) {
        (1, 256)
    }
    fn check_architecture(&self, heads: usize, _units: usize) -> Result<(), ModelError> {
        one_head("vae", heads)
    }
    fn loss_terms(&self) -> &'static [&'static str] {
        &["total", "reconstruction", "kl"]
    }
    fn build(
        &self,
        root: &nn::Path,
        spec: &EncoderSpec,
        init: WeightInit,
    ) -> Result<Box<dyn Objective>, ModelError> {
        let net = EncoderNet::with_init(root, spec, init)?;
        let flat = spec.geometry()?.flat_dim();
        let p = root / "vae";
        Ok(Box::new(VaeObjective {
            net,
            logvar: default_linear(&p / "logvar", flat, spec.units, init)?,
            decoder: PixelDecoder::new(&(&p / "decoder"), spec, spec.units, init)?,
        }))
    }
}
