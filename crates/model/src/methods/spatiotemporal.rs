//! The spatio-temporal InfoNCE family: `st-dim`, `dim-ua`, `minus-ua` and `plus-mmd`. One
//! objective (encoder + atlas + ST-DIM's two linear score heads, and the loss of a batch of
//! temporally adjacent frame pairs) and one [`MethodDef`] type; the four methods are four
//! constants of it that differ only in name, default architecture and [`Variant`].

use tch::nn;
use tch::{Kind, Tensor};

use crate::error::{ModelError, TorchContext};
use crate::init::{default_linear, derive_seed, WeightInit};
use crate::losses::{
    global_local_infonce, imq_constant, local_local_infonce, logit_uniform_prior, membership_loss,
    mmd_manifold,
};
use crate::method::{Batch, BatchKind, LossInputs, Losses, MethodDef, Objective};
use crate::mixed;
use crate::net::{training_output, EncoderNet, GlobalTarget};
use crate::spec::{EncoderSpec, LOCAL_DEPTH};

/// The loss terms of the family, in the order [`Losses::terms`] holds them:
/// `L1 + L2 + tau L_Q (+ MMD)`, `L1` (global-local), `L2` (local-local), `L_Q` (before the
/// tau factor; 0 when unused) and the MMD term (0 when unused).
pub const TERMS: [&str; 5] = ["total", "global_local", "local_local", "membership", "mmd"];

/// What distinguishes the methods of the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    /// How the anchor's global vector is formed from the heads.
    pub target: GlobalTarget,
    /// Whether `tau * L_Q` is added (only with more than one head).
    pub membership_loss: bool,
    /// Whether the MMD to a logit-uniform prior is added (only with more than one head).
    pub mmd: bool,
}

/// A method of the family: its names, default architecture and [`Variant`].
#[derive(Debug)]
pub struct SpatioTemporalMethod {
    name: &'static str,
    aliases: &'static [&'static str],
    default_architecture: (usize, usize),
    one_head_only: bool,
    variant: Variant,
}

/// `st-dim`: ST-DIM (Anand et al. 2019), one head, global-local + local-local InfoNCE.
/// ST-DIM* is the same method with more units (`--units 16384`). With one head the dilated
/// and the weighted target are the same head.
pub const ST_DIM: SpatioTemporalMethod = SpatioTemporalMethod {
    name: "st-dim",
    aliases: &["stdim", "infonce-stdim"],
    default_architecture: (1, 256),
    one_head_only: true,
    variant: Variant {
        target: GlobalTarget::Weighted,
        membership_loss: false,
        mmd: false,
    },
};

/// `dim-ua`: n heads, the dilated (mean-of-heads) global target of Eq. 7, `+ tau * L_Q`.
pub const DIM_UA: SpatioTemporalMethod = SpatioTemporalMethod {
    name: "dim-ua",
    aliases: &["dimua", "ua"],
    default_architecture: (4, 512),
    one_head_only: false,
    variant: Variant {
        target: GlobalTarget::Dilated,
        membership_loss: true,
        mmd: false,
    },
};

/// `minus-ua`, the "-UA" ablation: the q-weighted global target of Eq. 1 (not dilated),
/// `+ tau * L_Q`.
pub const MINUS_UA: SpatioTemporalMethod = SpatioTemporalMethod {
    name: "minus-ua",
    aliases: &["-ua", "no-ua"],
    default_architecture: (4, 512),
    one_head_only: false,
    variant: Variant {
        target: GlobalTarget::Weighted,
        membership_loss: true,
        mmd: false,
    },
};

/// `plus-mmd`, the "+MMD" (MSimCLR-style) variant: q-weighted target,
/// `+ tau * L_Q + MMD` to a logit-uniform prior.
pub const PLUS_MMD: SpatioTemporalMethod = SpatioTemporalMethod {
    name: "plus-mmd",
    aliases: &["+mmd", "mmd"],
    default_architecture: (4, 512),
    one_head_only: false,
    variant: Variant {
        target: GlobalTarget::Weighted,
        membership_loss: true,
        mmd: true,
    },
};

impl MethodDef for SpatioTemporalMethod {
    fn name(&self) -> &'static str {
        self.name
    }
    fn aliases(&self) -> &'static [&'static str] {
        self.aliases
    }
    fn batch(&self) -> BatchKind {
        BatchKind::Pairs
    }
    fn default_architecture(&self) -> (usize, usize) {
        self.default_architecture
    }
    fn check_architecture(&self, heads: usize, units: usize) -> Result<(), ModelError> {
        if self.one_head_only && heads != 1 {
            return Err(ModelError::UnsupportedArchitecture {
                method: self.name.to_string(),
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
        Ok(Box::new(SpatioTemporal::new(
            root,
            spec,
            self.variant,
            init,
        )?))
    }
}

/// ST-DIM's score heads (PROTOCOL.md section 4): `classifier1 = Linear(d -> 128)`
/// (global -> local) and `classifier2 = Linear(128 -> 128)` (local -> local), both with bias
/// and PyTorch's default init (`U(-1/sqrt(in), 1/sqrt(in))` for weight and bias). Only used
/// in pretraining; not part of an exported encoder.
#[derive(Debug)]
pub struct StdimHeads {
    /// `W_g`: global vector (d) -> local depth (128).
    pub classifier1: nn::Linear,
    /// `W_h`: local feature (128) -> local depth (128).
    pub classifier2: nn::Linear,
}

impl StdimHeads {
    /// Creates `p / "classifier1"` and `p / "classifier2"` for `units` units per head.
    pub fn new(p: &nn::Path, units: usize, init: WeightInit) -> Result<Self, ModelError> {
        Ok(StdimHeads {
            classifier1: default_linear(p / "classifier1", units, LOCAL_DEPTH, init)?,
            classifier2: default_linear(p / "classifier2", LOCAL_DEPTH, LOCAL_DEPTH, init)?,
        })
    }
}

/// Encoder + atlas + ST-DIM heads under one root path: `encoder/...`, `atlas/...` (see
/// [`EncoderNet`]) and `stdim/classifier1`, `stdim/classifier2`.
#[derive(Debug)]
pub struct SpatioTemporal {
    /// The part that is exported as the encoder.
    pub net: EncoderNet,
    /// The pretraining-only score heads.
    pub heads: StdimHeads,
    variant: Variant,
}

impl SpatioTemporal {
    /// Creates the model under `root`. [`WeightInit::Seeded`] makes the initial weights
    /// reproducible whatever else the process does with libtorch's generator.
    pub fn new(
        root: &nn::Path,
        spec: &EncoderSpec,
        variant: Variant,
        init: WeightInit,
    ) -> Result<Self, ModelError> {
        let net = EncoderNet::with_init(root, spec, init)?;
        let heads = StdimHeads::new(&(root / "stdim"), spec.units, init)?;
        Ok(SpatioTemporal {
            net,
            heads,
            variant,
        })
    }
}

impl Objective for SpatioTemporal {
    fn net(&self) -> &EncoderNet {
        &self.net
    }

    /// The loss of a batch of `B` pairs.
    ///
    /// `frames: [2B, H, W, C]` u8 on the model's device: rows `0..B` are the EARLIER frames
    /// of the pairs, rows `B..2B` the LATER ones (row `B + i` follows row `i` in its
    /// episode). As in the reference code, the later frame is the anchor: its global output
    /// (dilated or q-weighted, per variant) and its local features are scored against the
    /// earlier frame's local features (METHOD.md's `g(x_t, x_{t+1})` with the roles of the
    /// two frames as the code has them). The trunk runs once on all `2B` frames.
    ///
    /// `tau` multiplies `L_Q` (variants with a membership loss and more than one head).
    /// The MMD variant draws two prior samples from ChaCha8 streams derived from the step
    /// seed (the others draw nothing).
    fn loss(&self, batch: &Batch<'_>, inputs: LossInputs) -> Result<Losses, ModelError> {
        let frames = batch.frames;
        let size = frames.size();
        let spec = *self.net.spec();
        let frame = spec.frame.dims();
        if size.len() != 4 || size[0] % 2 != 0 || size[0] < 4 || size[1..] != frame {
            return Err(ModelError::WrongShape {
                what: "pair batch",
                expected: format!("[2B, {}, {}, {}] with B >= 2", frame[0], frame[1], frame[2]),
                got: size,
            });
        }
        if frames.kind() != Kind::Uint8 {
            return Err(ModelError::WrongDtype {
                what: "pair batch",
                expected: "u8",
                got: format!("{:?}", frames.kind()),
            });
        }
        let ctx = "computing the pair loss";
        let b = size[0] / 2;
        let trunk = self.net.backbone.forward(frames)?;
        let target_local = trunk.local.f_narrow(0, 0, b).ctx(ctx)?;
        let anchor_local = trunk.local.f_narrow(0, b, b).ctx(ctx)?;
        let multi = spec.heads > 1;
        let q_all = self.net.atlas.membership(&trunk.flat)?;
        let q_split = match &q_all {
            Some(q) => Some((q.f_narrow(0, 0, b).ctx(ctx)?, q.f_narrow(0, b, b).ctx(ctx)?)),
            None => None,
        };
        let use_mmd = self.variant.mmd && multi;
        // Only the anchor's coordinates enter L1; the earlier frame's are needed for the MMD.
        let (anchor_coords, target_coords) = if use_mmd {
            let all = self.net.atlas.coords(&trunk.flat)?;
            (
                all.f_narrow(0, b, b).ctx(ctx)?,
                Some(all.f_narrow(0, 0, b).ctx(ctx)?),
            )
        } else {
            (
                self.net
                    .atlas
                    .coords(&trunk.flat.f_narrow(0, b, b).ctx(ctx)?)?,
                None,
            )
        };
        let anchor_q = q_split.as_ref().map(|(_, a)| a);
        let global = training_output(&anchor_coords, anchor_q, self.variant.target)?;

        let c1 = &self.heads.classifier1;
        let c2 = &self.heads.classifier2;
        let pred1 = mixed::linear(&global, &c1.ws, c1.bs.as_ref()).ctx(ctx)?;
        let global_local = global_local_infonce(&pred1, &target_local)?;
        let pred2 = mixed::linear(&anchor_local, &c2.ws, c2.bs.as_ref()).ctx(ctx)?;
        let local_local = local_local_infonce(&pred2, &target_local)?;
        let mut total = global_local.f_add(&local_local).ctx(ctx)?;

        let zero = || Tensor::f_zeros([], (Kind::Float, frames.device())).ctx(ctx);
        let membership = match (&q_split, self.variant.membership_loss) {
            (Some((q_target, q_anchor)), true) => {
                // Same order as the reference: the anchor (x_t there) first.
                let lq = membership_loss(q_anchor, q_target)?;
                total = total
                    .f_add(&lq.f_mul_scalar(inputs.tau).ctx(ctx)?)
                    .ctx(ctx)?;
                lq
            }
            _ => zero()?,
        };
        let mmd = match (&q_split, target_coords) {
            (Some((q_target, q_anchor)), Some(target_coords)) if use_mmd => {
                let c = imq_constant(spec.units);
                let dev = frames.device();
                let seed = inputs.seed;
                let prior_a =
                    logit_uniform_prior(b as usize, spec.units, dev, derive_seed(seed, "anchor"))?;
                let mmd_a = mmd_manifold(q_anchor, &anchor_coords, &prior_a, c)?;
                let prior_t =
                    logit_uniform_prior(b as usize, spec.units, dev, derive_seed(seed, "target"))?;
                let mmd_t = mmd_manifold(q_target, &target_coords, &prior_t, c)?;
                let mmd = mmd_a
                    .f_add(&mmd_t)
                    .and_then(|m| m.f_mul_scalar(0.5))
                    .ctx(ctx)?;
                total = total.f_add(&mmd).ctx(ctx)?;
                mmd
            }
            _ => zero()?,
        };
        let membership_q = match q_all {
            Some(q) => Some(q.f_detach().ctx(ctx)?),
            None => None,
        };
        Ok(Losses {
            terms: vec![
                ("total", total),
                ("global_local", global_local),
                ("local_local", local_local),
                ("membership", membership),
                ("mmd", mmd),
            ],
            membership_q,
        })
    }
}
