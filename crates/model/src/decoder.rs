//! The pixel decoder of AtariARI's generative baselines (VAE and pixel prediction): a
//! `Linear(d -> 64 * H4 * W4)` + ReLU, then the conv trunk mirrored as four transposed
//! convolutions (ReLU after each but the last, a sigmoid at the end) back to the full frame,
//! `[B, C, H, W]` in `[0, 1]`.
//!
//! The transposed convolutions undo the trunk's kernels and strides (3/1, 4/2, 4/2, 8/4);
//! each one's output padding is what the trunk's floor division dropped, so the output has
//! the frame's exact size (at 210 x 160: paddings 0, 0, (1, 1), (2, 0), as the reference).
//! Init as the reference: the linear layer PyTorch's default, the transposed convolutions
//! orthogonal (gain sqrt 2) with zero bias.

use tch::{nn, Tensor};

use crate::error::{ModelError, TorchContext};
use crate::init::{default_linear, orthogonal, WeightInit};
use crate::mixed;
use crate::net::ORTHO_GAIN;
use crate::spec::{EncoderSpec, FrameShape, CONVS as TRUNK, TRUNK_CHANNELS};

/// Channels entering the transposed convolutions, last trunk layer first (64 -> 128 -> 64 ->
/// 32 -> frame channels).
const CHANNELS: [usize; 4] = [TRUNK_CHANNELS, 128, 64, 32];

#[derive(Debug)]
struct DeconvLayer {
    ws: Tensor,
    bs: Tensor,
    stride: i64,
    output_padding: [i64; 2],
}

/// See the module docs. Variables: `fc.{weight,bias}`, `deconv1..deconv4.{weight,bias}`.
#[derive(Debug)]
pub struct PixelDecoder {
    fc: nn::Linear,
    layers: Vec<DeconvLayer>,
    trunk_hw: [i64; 2],
}

/// Heights (or widths) after each trunk layer, input first: `[x0, x1, x2, x3, x4]`.
fn trunk_sizes(side: usize) -> [usize; 5] {
    let mut sizes = [side; 5];
    for (i, (k, s)) in TRUNK.iter().enumerate() {
        sizes[i + 1] = (sizes[i] - k) / s + 1;
    }
    sizes
}

impl PixelDecoder {
    /// Creates the decoder under `p` for codes of `code_dim` units and frames of `spec`.
    pub fn new(
        p: &nn::Path,
        spec: &EncoderSpec,
        code_dim: usize,
        init: WeightInit,
    ) -> Result<Self, ModelError> {
        let geometry = spec.geometry()?;
        let ctx = "initialising the pixel decoder";
        let fc = default_linear(p / "fc", code_dim, geometry.flat_dim(), init)?;
        let FrameShape {
            height,
            width,
            channels,
        } = spec.frame;
        let (hs, ws) = (trunk_sizes(height), trunk_sizes(width));
        let mut layers = Vec::with_capacity(4);
        for j in 0..4 {
            // Transposed layer j undoes trunk layer 3 - j: from size x[4-j] to x[3-j].
            let (k, s) = TRUNK[3 - j];
            let cin = CHANNELS[j];
            let cout = if j == 3 { channels } else { CHANNELS[j + 1] };
            let pad = |sizes: &[usize; 5]| (sizes[3 - j] - ((sizes[4 - j] - 1) * s + k)) as i64;
            let lp = p / format!("deconv{}", j + 1);
            // PyTorch's `orthogonal_` on a `[in, out, k, k]` weight: rows = in.
            let w = orthogonal(
                init,
                &lp.path("weight"),
                cin,
                cout * k * k,
                ORTHO_GAIN,
                p.device(),
            )?
            .f_view([cin as i64, cout as i64, k as i64, k as i64])
            .ctx(ctx)?;
            layers.push(DeconvLayer {
                ws: lp.f_var_copy("weight", &w).ctx(ctx)?,
                bs: lp.f_zeros("bias", &[cout as i64]).ctx(ctx)?,
                stride: s as i64,
                output_padding: [pad(&hs), pad(&ws)],
            });
        }
        Ok(PixelDecoder {
            fc,
            layers,
            trunk_hw: [geometry.trunk_height as i64, geometry.trunk_width as i64],
        })
    }

    /// Decodes codes `[B, code_dim]` into frames `[B, C, H, W]` in `[0, 1]`, computed in the
    /// codes' kind (fp32 or bf16; the fp32 weights are cast to it).
    pub fn forward(&self, code: &Tensor) -> Result<Tensor, ModelError> {
        let ctx = "running the pixel decoder";
        let b = code.size()[0];
        let kind = code.kind();
        let mut h = mixed::linear(code, &self.fc.ws, self.fc.bs.as_ref())
            .and_then(|h| h.f_relu())
            .and_then(|h| h.f_view([b, TRUNK_CHANNELS as i64, self.trunk_hw[0], self.trunk_hw[1]]))
            .ctx(ctx)?;
        let last = self.layers.len() - 1;
        for (j, l) in self.layers.iter().enumerate() {
            let (w, bias) = (
                mixed::as_kind(&l.ws, kind).ctx(ctx)?,
                mixed::as_kind(&l.bs, kind).ctx(ctx)?,
            );
            h = h
                .f_conv_transpose2d(
                    &w,
                    Some(&bias),
                    [l.stride, l.stride],
                    [0, 0],
                    l.output_padding,
                    1,
                    [1, 1],
                )
                .ctx(ctx)?;
            h = if j == last { h.f_sigmoid() } else { h.f_relu() }.ctx(ctx)?;
        }
        Ok(h)
    }
}

/// u8 frames `[B, H, W, C]` as the decoder's target: `[B, C, H, W]` float in `[0, 1]`.
pub fn pixel_target(frames: &Tensor) -> Result<Tensor, ModelError> {
    frames
        .f_to_kind(tch::Kind::Float)
        .and_then(|x| x.f_permute([0, 3, 1, 2]))
        .and_then(|x| x.f_div_scalar(255.0))
        .ctx("preparing the pixel target")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn output_paddings_match_the_reference_at_210_by_160() {
        // The reference's decoder: output_padding 0, 0, 1 and (2, 0).
        let vs = nn::VarStore::new(Device::Cpu);
        let spec = EncoderSpec::new(FrameShape::ATARI_GRAY, 1, 256).unwrap();
        let d = PixelDecoder::new(&vs.root(), &spec, 256, WeightInit::Seeded(1)).unwrap();
        let pads: Vec<[i64; 2]> = d.layers.iter().map(|l| l.output_padding).collect();
        assert_eq!(pads, vec![[0, 0], [0, 0], [1, 1], [2, 0]]);
        let out = d
            .forward(&Tensor::zeros([2, 256], (Kind::Float, Device::Cpu)))
            .unwrap();
        assert_eq!(out.size(), vec![2, 1, 210, 160]);
        // Other frame sizes come out exact too (RGB, odd sizes).
        for (h, w, c) in [(84, 84, 1), (97, 131, 3)] {
            let spec = EncoderSpec::new(
                FrameShape {
                    height: h,
                    width: w,
                    channels: c,
                },
                1,
                8,
            )
            .unwrap();
            let d = PixelDecoder::new(&vs.root(), &spec, 8, WeightInit::Seeded(1)).unwrap();
            let out = d
                .forward(&Tensor::zeros([1, 8], (Kind::Float, Device::Cpu)))
                .unwrap();
            assert_eq!(out.size(), vec![1, c as i64, h as i64, w as i64]);
        }
    }
}
