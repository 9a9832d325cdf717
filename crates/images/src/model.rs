//! The image model: a CIFAR ResNet backbone, optional FC1, `n` chart maps of `d` units (one
//! fused linear layer) with optional clamping, a softmax membership head when `n > 1`, and
//! optional FC2 on the combined target; its pretraining loss (NT-Xent + the method's atlas
//! terms) and its frozen features for the linear evaluation.

use dimua_model::losses::{
    imq_constant, logit_uniform_prior, membership_entropy, membership_loss, mmd_manifold,
};
use dimua_model::{inference_output, training_output};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use crate::config::ImageRunConfig;
use crate::error::{Result, TorchContext};
use crate::losses::nt_xent;
use crate::methods::ImageMethod;
use crate::resnet::{ResNet, ResNetKind};

/// Range of the clamped chart coordinates (appendix B: `(-10, 10)`).
pub const CLAMP: f64 = 10.0;

/// The resolved layout of a model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layout {
    /// The method.
    pub method: ImageMethod,
    /// Backbone.
    pub backbone: ResNetKind,
    /// Stage width (64: the standard ResNet).
    pub width: i64,
    /// Charts `n`.
    pub heads: usize,
    /// Units per chart `d`.
    pub units: usize,
    /// FC1 present.
    pub fc1: bool,
    /// Clamping on.
    pub clamp: bool,
    /// FC2 present.
    pub fc2: bool,
}

/// What one forward pass of a batch gives.
#[derive(Debug)]
pub struct Forward {
    /// Backbone features `[B, F]`.
    pub backbone: Tensor,
    /// Chart coordinates `[B, n, d]` (clamped if the layout says so).
    pub coords: Tensor,
    /// Membership `[B, n]` (softmax), `None` with one head.
    pub membership: Option<Tensor>,
}

/// The loss of one pretraining step, as named scalars.
#[derive(Debug)]
pub struct StepLoss {
    /// What is minimised.
    pub total: Tensor,
    /// NT-Xent.
    pub contrastive: Tensor,
    /// `L_Q` before the tau factor (0 when unused).
    pub membership: Tensor,
    /// The MMD term (0 when unused).
    pub mmd: Tensor,
    /// Mean membership entropy of the step's views (nats; 0 with one head).
    pub entropy: Tensor,
}

/// Backbone + atlas heads.
#[derive(Debug)]
pub struct ImageModel {
    layout: Layout,
    backbone: ResNet,
    fc1: Option<nn::Linear>,
    charts: nn::Linear,
    membership: Option<nn::Linear>,
    fc2: Option<(nn::Linear, nn::Linear)>,
}

impl ImageModel {
    /// Creates the variables under `p` (`backbone/`, `heads/`).
    pub fn new(p: &nn::Path, layout: Layout) -> ImageModel {
        let backbone = ResNet::new(&(p / "backbone"), layout.backbone, layout.width);
        let f = backbone.features();
        let h = p / "heads";
        let (n, d) = (layout.heads as i64, layout.units as i64);
        let fc1 = layout
            .fc1
            .then(|| nn::linear(&h / "fc1", f, f, Default::default()));
        let charts = nn::linear(&h / "charts", f, n * d, Default::default());
        let membership = (n > 1).then(|| nn::linear(&h / "membership", f, n, Default::default()));
        let fc2 = layout.fc2.then(|| {
            (
                nn::linear(&h / "fc2_a", d, d, Default::default()),
                nn::linear(&h / "fc2_b", d, d, Default::default()),
            )
        });
        ImageModel {
            layout,
            backbone,
            fc1,
            charts,
            membership,
            fc2,
        }
    }

    /// The layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// `x: [B, 3, S, S]` float -> backbone features, chart coordinates, membership.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Forward> {
        let h = self.backbone.forward(x, train);
        let u = match &self.fc1 {
            Some(l) => l.forward(&h).relu(),
            None => h.shallow_clone(),
        };
        let b = h.size()[0];
        let mut coords = self
            .charts
            .forward(&u)
            .f_view([b, self.layout.heads as i64, self.layout.units as i64])
            .ctx("chart coordinates")?;
        if self.layout.clamp {
            coords = coords.f_clamp(-CLAMP, CLAMP).ctx("clamping charts")?;
        }
        let membership = match &self.membership {
            Some(l) => Some(l.forward(&u).f_softmax(1, Kind::Float).ctx("membership")?),
            None => None,
        };
        Ok(Forward {
            backbone: h,
            coords,
            membership,
        })
    }

    /// The contrastive embedding of a forward pass: the method's target (Eq. 1 or Eq. 7)
    /// through FC2 when present.
    pub fn embedding(&self, f: &Forward) -> Result<Tensor> {
        let target = training_output(&f.coords, f.membership.as_ref(), self.layout.method.target)?;
        Ok(match &self.fc2 {
            Some((a, b)) => b.forward(&a.forward(&target).relu()),
            None => target,
        })
    }

    /// The pretraining loss of two views `v1`, `v2` (`[B, 3, S, S]` each, row `i` of both
    /// from image `i`): one forward pass over the `2B` views.
    pub fn loss(
        &self,
        v1: &Tensor,
        v2: &Tensor,
        temperature: f64,
        tau: f64,
        seed: u64,
    ) -> Result<StepLoss> {
        let ctx = "image pretraining loss";
        let b = v1.size()[0];
        let x = Tensor::f_cat(&[v1, v2], 0).ctx(ctx)?;
        let f = self.forward(&x, true)?;
        let z = self.embedding(&f)?;
        let (z1, z2) = (z.f_narrow(0, 0, b).ctx(ctx)?, z.f_narrow(0, b, b).ctx(ctx)?);
        let contrastive = nt_xent(&z1, &z2, temperature)?;
        let zero = || Tensor::f_zeros([], (Kind::Float, x.device())).ctx(ctx);
        let mut total = contrastive.shallow_clone();
        let method = self.layout.method;
        let (mut membership, mut mmd, mut entropy) = (zero()?, zero()?, zero()?);
        if let Some(q) = &f.membership {
            let (q1, q2) = (q.f_narrow(0, 0, b).ctx(ctx)?, q.f_narrow(0, b, b).ctx(ctx)?);
            entropy = membership_entropy(&q.f_detach().ctx(ctx)?)?;
            if method.membership_loss {
                membership = membership_loss(&q1, &q2)?;
                total = total
                    .f_add(&membership.f_mul_scalar(tau).ctx(ctx)?)
                    .ctx(ctx)?;
            }
            if method.mmd {
                let units = self.layout.units;
                let c = imq_constant(units);
                let dev = x.device();
                // One MMD per view (its own prior sample), averaged.
                let mut sum = zero()?;
                for (view, q_view, stream) in [(0, &q1, "view1"), (1, &q2, "view2")] {
                    let coords = f.coords.f_narrow(0, view * b, b).ctx(ctx)?;
                    let prior = logit_uniform_prior(
                        b as usize,
                        units,
                        dev,
                        dimua_core::seed::named_seed(seed, stream),
                    )?;
                    sum = sum
                        .f_add(&mmd_manifold(q_view, &coords, &prior, c)?)
                        .ctx(ctx)?;
                }
                mmd = sum.f_mul_scalar(0.5).ctx(ctx)?;
                total = total.f_add(&mmd).ctx(ctx)?;
            }
        }
        Ok(StepLoss {
            total,
            contrastive,
            membership,
            mmd,
            entropy,
        })
    }

    /// Frozen features of `x` (eval mode, no gradient): the backbone's `[B, F]` and the
    /// model's inference output `[B, d]` (Eq. 2: the argmax head's coordinates; the single
    /// head's with one).
    pub fn features(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        tch::no_grad(|| {
            let f = self.forward(x, false)?;
            let out = inference_output(&f.coords, f.membership.as_ref())?;
            Ok((f.backbone, out))
        })
    }
}

impl Layout {
    /// The layout a config asks for (method defaults for the FC1 / clamp / FC2 switches).
    pub fn from_config(config: &ImageRunConfig) -> Result<Layout> {
        let method = config.method()?;
        let m = &config.model;
        Ok(Layout {
            method,
            backbone: ResNetKind::parse(&m.backbone)?,
            width: m.width as i64,
            heads: m.heads,
            units: m.units,
            fc1: m.fc1.unwrap_or(method.fc1),
            clamp: m.clamp.unwrap_or(method.clamp),
            fc2: m.fc2.unwrap_or(method.fc2),
        })
    }
}
