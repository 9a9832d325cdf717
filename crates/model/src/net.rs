//! The network itself: the NatureCNN conv trunk (PROTOCOL.md section 3) and the
//! unbalanced-atlas heads (section 5), built on named `nn::Path`s so that checkpoint keys
//! are stable: `encoder.conv1..conv4.{weight,bias}`, `atlas.coords.{weight,bias}`,
//! `atlas.membership.{weight,bias}` (the last only with more than one head).

use std::sync::atomic::{AtomicBool, Ordering};

use tch::nn;
use tch::{Kind, Tensor};

use crate::error::{ModelError, TorchContext};
use crate::init::orthogonal;
pub use crate::init::WeightInit;
use crate::mixed::{self, compute_kind, Precision};
use crate::spec::{EncoderSpec, Geometry, LOCAL_DEPTH, TRUNK_CHANNELS};

/// Orthogonal init gain of every encoder layer: `calculate_gain('relu') = sqrt(2)`.
pub const ORTHO_GAIN: f64 = std::f64::consts::SQRT_2;

/// Output of the conv trunk for a batch of frames, in the trunk's compute kind (fp32, or bf16
/// under [`Precision::Bf16`]).
#[derive(Debug)]
pub struct TrunkOutput {
    /// conv3's ReLU output as `[B, L, 128]` with `L = H3 * W3` locations in row-major
    /// (y, x) order (88 at 210 x 160): the local features `f_{m,n}(x)`.
    pub local: Tensor,
    /// conv4's ReLU output flattened C-major (PyTorch `view` of NCHW): `[B, 3456]`.
    pub flat: Tensor,
}

/// Output of the atlas heads.
#[derive(Debug)]
pub struct AtlasOutput {
    /// Chart coordinates `psi_i(f(x))`: `[B, n, d]`.
    pub coords: Tensor,
    /// Soft membership `q(f(x))` (softmax over heads): `[B, n]`; `None` with one head.
    pub membership: Option<Tensor>,
}

/// The conv trunk: conv 32 k8 s4 -> 64 k4 s2 -> 128 k4 s2 (local map) -> 64 k3 s1, ReLU after
/// each, orthogonal init (gain sqrt 2), zero bias.
#[derive(Debug)]
pub struct Backbone {
    conv1: ConvLayer,
    conv2: ConvLayer,
    conv3: ConvLayer,
    conv4: ConvLayer,
    geometry: Geometry,
    channels: usize,
    /// Compute in bf16 ([`Precision::Bf16`]); atomic so that a shared encoder can be switched.
    bf16: AtomicBool,
}

/// A conv layer's parameters (weight `[out, in, k, k]`, bias `[out]`).
#[derive(Debug)]
struct ConvLayer {
    ws: Tensor,
    bs: Tensor,
    stride: i64,
}

fn conv(
    p: nn::Path,
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    init: WeightInit,
) -> Result<ConvLayer, ModelError> {
    let ctx = "initialising the conv trunk";
    // The 2-D (rows x cols) orthogonal matrix reshaped as PyTorch's `orthogonal_` does for
    // conv weights (rows = out, cols = in * k * k).
    let w = orthogonal(
        init,
        &p.path("weight"),
        cout,
        cin * k * k,
        ORTHO_GAIN,
        p.device(),
    )?
    .f_view([cout as i64, cin as i64, k as i64, k as i64])
    .ctx(ctx)?;
    Ok(ConvLayer {
        ws: p.f_var_copy("weight", &w).ctx(ctx)?,
        bs: p.f_zeros("bias", &[cout as i64]).ctx(ctx)?,
        stride: stride as i64,
    })
}

impl Backbone {
    /// Creates the trunk under `p` (`p / "conv1"` ... `p / "conv4"`).
    pub fn new(p: &nn::Path, spec: &EncoderSpec, init: WeightInit) -> Result<Self, ModelError> {
        let geometry = spec.geometry()?;
        Ok(Backbone {
            conv1: conv(p / "conv1", spec.frame.channels, 32, 8, 4, init)?,
            conv2: conv(p / "conv2", 32, 64, 4, 2, init)?,
            conv3: conv(p / "conv3", 64, LOCAL_DEPTH, 4, 2, init)?,
            conv4: conv(p / "conv4", LOCAL_DEPTH, TRUNK_CHANNELS, 3, 1, init)?,
            geometry,
            channels: spec.frame.channels,
            bf16: AtomicBool::new(false),
        })
    }

    /// The precision of [`Backbone::forward`]: its convolutions, and (through the kind of its
    /// output) every product downstream of it.
    pub fn set_precision(&self, precision: Precision) {
        self.bf16
            .store(precision == Precision::Bf16, Ordering::Relaxed);
    }

    /// The precision set by [`Backbone::set_precision`] (fp32 unless set).
    pub fn precision(&self) -> Precision {
        if self.bf16.load(Ordering::Relaxed) {
            Precision::Bf16
        } else {
            Precision::Fp32
        }
    }

    /// Runs the trunk on u8 frames `[B, H, W, C]` that are already on the trunk's device.
    ///
    /// The frames stay u8 until here; the conversion to float happens on the device. The
    /// reference's `x / 255` is folded into conv1's weight (`conv(x, W/255) = conv(x/255, W)`),
    /// which saves a full pass over the batch; the NHWC layout of the frames is kept
    /// (a channels-last view), so no transposing copy is made either.
    ///
    /// Under [`Precision::Bf16`] the frames become bf16 (exact: bytes are small integers)
    /// and each conv runs in bf16 on a bf16 copy of its fp32 weights.
    pub fn forward(&self, frames: &Tensor) -> Result<TrunkOutput, ModelError> {
        let ctx = "running the conv trunk";
        let kind = compute_kind(self.precision());
        let b = frames.size().first().copied().unwrap_or(0);
        let x = frames
            .f_to_kind(kind)
            .ctx(ctx)?
            .f_permute([0, 3, 1, 2])
            .ctx(ctx)?;
        let w1 = self
            .conv1
            .ws
            .f_mul_scalar(1.0 / 255.0)
            .and_then(|w| mixed::as_kind(&w, kind))
            .ctx(ctx)?;
        let b1 = mixed::as_kind(&self.conv1.bs, kind).ctx(ctx)?;
        let h = x
            .f_conv2d(&w1, Some(&b1), [4, 4], [0, 0], [1, 1], 1)
            .and_then(|mut y| y.f_relu_())
            .ctx(ctx)?;
        let h = Self::apply(&self.conv2, &h, kind).ctx(ctx)?;
        let f5 = Self::apply(&self.conv3, &h, kind).ctx(ctx)?;
        let h = Self::apply(&self.conv4, &f5, kind).ctx(ctx)?;
        let local = f5
            .f_permute([0, 2, 3, 1])
            .ctx(ctx)?
            .f_reshape([b, self.geometry.locations() as i64, LOCAL_DEPTH as i64])
            .ctx(ctx)?;
        let flat = h.f_reshape([b, self.geometry.flat_dim() as i64]).ctx(ctx)?;
        Ok(TrunkOutput { local, flat })
    }

    /// Conv + ReLU; the ReLU is in place (conv's backward does not need its output), which
    /// saves one activation-sized allocation and pass per layer.
    fn apply(c: &ConvLayer, x: &Tensor, kind: Kind) -> Result<Tensor, tch::TchError> {
        let (w, b) = (mixed::as_kind(&c.ws, kind)?, mixed::as_kind(&c.bs, kind)?);
        let mut y = x.f_conv2d(&w, Some(&b), [c.stride, c.stride], [0, 0], [1, 1], 1)?;
        y.f_relu_()
    }

    /// The local-map / trunk sizes.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// Input channels.
    pub fn channels(&self) -> usize {
        self.channels
    }
}

/// The unbalanced atlas: `n` chart maps of `d` units as ONE fused `Linear(F -> n*d)`
/// (reshaped to `[B, n, d]`) and, with `n > 1`, a membership head `Linear(F -> n)` + softmax.
///
/// Each head's `d x F` block of the fused weight is initialised orthogonally on its own
/// (gain sqrt 2), as if it were the reference's separate `Linear(F -> d)`; biases are 0.
#[derive(Debug)]
pub struct Atlas {
    coords_w: Tensor,
    coords_b: Tensor,
    membership: Option<nn::Linear>,
    heads: usize,
    units: usize,
}

impl Atlas {
    /// Creates the atlas under `p` (`p / "coords"`, `p / "membership"`).
    pub fn new(p: &nn::Path, spec: &EncoderSpec, init: WeightInit) -> Result<Self, ModelError> {
        let flat = spec.geometry()?.flat_dim();
        let (n, d) = (spec.heads, spec.units);
        let pc = p / "coords";
        let salt = pc.path("weight");
        let blocks = (0..n)
            .map(|h| {
                orthogonal(
                    init,
                    &format!("{salt}/head{h}"),
                    d,
                    flat,
                    ORTHO_GAIN,
                    p.device(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let weight = Tensor::f_cat(&blocks, 0).ctx("initialising the atlas")?;
        let coords_w = pc
            .f_var_copy("weight", &weight)
            .ctx("initialising the atlas")?;
        let coords_b = pc
            .f_zeros("bias", &[(n * d) as i64])
            .ctx("initialising the atlas")?;
        let membership = if n > 1 {
            let pm = p / "membership";
            let w = orthogonal(init, &pm.path("weight"), n, flat, ORTHO_GAIN, p.device())?;
            Some(nn::Linear {
                ws: pm.f_var_copy("weight", &w).ctx("initialising the atlas")?,
                bs: Some(
                    pm.f_zeros("bias", &[n as i64])
                        .ctx("initialising the atlas")?,
                ),
            })
        } else {
            None
        };
        Ok(Atlas {
            coords_w,
            coords_b,
            membership,
            heads: n,
            units: d,
        })
    }

    /// Chart coordinates `[B, n, d]` of flattened trunk features `[B, F]`, in `flat`'s kind.
    pub fn coords(&self, flat: &Tensor) -> Result<Tensor, ModelError> {
        let b = flat.size().first().copied().unwrap_or(0);
        mixed::linear(flat, &self.coords_w, Some(&self.coords_b))
            .and_then(|c| c.f_view([b, self.heads as i64, self.units as i64]))
            .ctx("computing chart coordinates")
    }

    /// Soft membership `[B, n]` (softmax over heads, always fp32); `None` with one head.
    pub fn membership(&self, flat: &Tensor) -> Result<Option<Tensor>, ModelError> {
        match &self.membership {
            None => Ok(None),
            Some(lin) => mixed::linear(flat, &lin.ws, lin.bs.as_ref())
                .and_then(|l| l.f_softmax(-1, Kind::Float))
                .map(Some)
                .ctx("computing chart membership"),
        }
    }

    /// Both heads at once.
    pub fn forward(&self, flat: &Tensor) -> Result<AtlasOutput, ModelError> {
        Ok(AtlasOutput {
            coords: self.coords(flat)?,
            membership: self.membership(flat)?,
        })
    }

    /// Number of heads `n`.
    pub fn heads(&self) -> usize {
        self.heads
    }

    /// Units per head `d`.
    pub fn units(&self) -> usize {
        self.units
    }
}

/// How the global vector of the anchor frame is formed from the atlas during training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobalTarget {
    /// The mean of all heads' coordinates (DIM-UA's dilated prediction target, Eq. 7).
    /// With one head this is that head.
    Dilated,
    /// `sum_i q_i psi_i` with the soft membership q (Eq. 1). With one head this is that head.
    Weighted,
}

/// The training-time global output of the anchor frame (Eq. 1 or Eq. 7):
/// `Dilated`: `(1/n) sum_i psi_i`; `Weighted`: `sum_i q_i psi_i`. With one head (or no
/// membership) both are the single head's coordinates. `coords: [B, n, d]`, `q: [B, n]`.
pub fn training_output(
    coords: &Tensor,
    membership: Option<&Tensor>,
    target: GlobalTarget,
) -> Result<Tensor, ModelError> {
    let ctx = "forming the global output";
    let n = coords.size().get(1).copied().unwrap_or(0);
    if n == 1 {
        return coords.f_select(1, 0).ctx(ctx);
    }
    match (target, membership) {
        (GlobalTarget::Weighted, Some(q)) => q
            .f_unsqueeze(1)
            .and_then(|q| mixed::bmm(&q, coords))
            .and_then(|o| o.f_squeeze_dim(1))
            .ctx(ctx),
        _ => coords.f_mean_dim(1, false, Kind::Float).ctx(ctx),
    }
}

/// The inference output (Eq. 2): the coordinates of the head with the largest membership,
/// `psi_{i*}(x)` with `i* = argmax_i q_i(x)`; the single head when `n = 1`.
/// `coords: [B, n, d]`, `q: [B, n]` -> `[B, d]`.
pub fn inference_output(
    coords: &Tensor,
    membership: Option<&Tensor>,
) -> Result<Tensor, ModelError> {
    let ctx = "selecting the argmax head";
    let size = coords.size();
    if size.len() != 3 {
        return Err(ModelError::WrongShape {
            what: "chart coordinates",
            expected: "[B, n, d]".into(),
            got: size,
        });
    }
    let (b, n, d) = (size[0], size[1], size[2]);
    match membership {
        Some(q) if n > 1 => {
            let idx = q.f_argmax(1, false).ctx(ctx)?;
            let idx = idx
                .f_view([b, 1, 1])
                .and_then(|i| i.f_expand([b, 1, d], false))
                .ctx(ctx)?;
            coords
                .f_gather(1, &idx, false)
                .and_then(|o| o.f_squeeze_dim(1))
                .ctx(ctx)
        }
        _ => coords.f_select(1, 0).ctx(ctx),
    }
}

/// Conv trunk + atlas: everything an exported encoder contains.
#[derive(Debug)]
pub struct EncoderNet {
    /// The conv trunk (`encoder/...`).
    pub backbone: Backbone,
    /// The atlas heads (`atlas/...`).
    pub atlas: Atlas,
    spec: EncoderSpec,
}

impl EncoderNet {
    /// Creates the network with `root / "encoder"` and `root / "atlas"` sub-paths,
    /// initialised as the reference does ([`WeightInit::Orthogonal`]).
    pub fn new(root: &nn::Path, spec: &EncoderSpec) -> Result<Self, ModelError> {
        Self::with_init(root, spec, WeightInit::Orthogonal)
    }

    /// Like [`EncoderNet::new`] with a chosen initialisation.
    pub fn with_init(
        root: &nn::Path,
        spec: &EncoderSpec,
        init: WeightInit,
    ) -> Result<Self, ModelError> {
        spec.validate()?;
        Ok(EncoderNet {
            backbone: Backbone::new(&(root / "encoder"), spec, init)?,
            atlas: Atlas::new(&(root / "atlas"), spec, init)?,
            spec: *spec,
        })
    }

    /// The architecture.
    pub fn spec(&self) -> &EncoderSpec {
        &self.spec
    }

    /// The precision of the trunk and everything downstream of it (fp32 unless set).
    pub fn set_precision(&self, precision: Precision) {
        self.backbone.set_precision(precision);
    }

    /// The precision set by [`EncoderNet::set_precision`].
    pub fn precision(&self) -> Precision {
        self.backbone.precision()
    }

    /// Inference features `[B, d]` (Eq. 2), always fp32, of u8 frames `[B, H, W, C]` on the
    /// net's device. Call under `no_grad` when no gradient is wanted.
    pub fn features(&self, frames: &Tensor) -> Result<Tensor, ModelError> {
        let trunk = self.backbone.forward(frames)?;
        let out = self.atlas.forward(&trunk.flat)?;
        inference_output(&out.coords, out.membership.as_ref())
            .and_then(|f| mixed::to_f32(&f).ctx("returning the features in fp32"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::FrameShape;
    use tch::Device;

    /// Every encoder weight is orthogonal with gain sqrt 2 (W W^T = 2 I over the smaller side),
    /// each atlas head's block on its own; biases are zero.
    #[test]
    fn init_is_orthogonal_with_relu_gain() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let spec = EncoderSpec::new(FrameShape::ATARI_GRAY, 3, 40).unwrap();
        let _net = EncoderNet::new(&vs.root(), &spec).unwrap();
        let vars = vs.variables();
        let check = |w: &Tensor| {
            let rows = w.size()[0];
            let m = w.reshape([rows, -1]);
            let (r, c) = (m.size()[0], m.size()[1]);
            let gram = if r <= c {
                m.matmul(&m.tr())
            } else {
                m.tr().matmul(&m)
            };
            let eye = Tensor::eye(r.min(c), (Kind::Float, Device::Cpu)) * 2.0;
            assert!(gram.allclose(&eye, 1e-4, 1e-4, false));
        };
        for name in [
            "encoder.conv1.weight",
            "encoder.conv2.weight",
            "encoder.conv3.weight",
            "encoder.conv4.weight",
            "atlas.membership.weight",
        ] {
            check(&vars[name]);
        }
        let coords = &vars["atlas.coords.weight"];
        assert_eq!(coords.size(), vec![120, 3456]);
        for h in 0..3 {
            check(&coords.narrow(0, h * 40, 40));
        }
        assert_eq!(vars["encoder.conv1.weight"].size(), vec![32, 1, 8, 8]);
        for (name, v) in &vars {
            if name.ends_with("bias") {
                assert_eq!(v.abs().sum(Kind::Float).double_value(&[]), 0.0, "{name}");
            }
        }
    }
}
