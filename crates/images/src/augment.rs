//! SimCLR's augmentations as batched tensor ops on the images' device: random resized crop
//! (one affine grid sample for the whole batch, the horizontal flip folded in), colour
//! jitter (brightness, contrast, saturation, hue in a random order per image, applied with
//! probability 0.8) and random grayscale (0.2). The random parameters of every image are drawn
//! on the host from a seeded ChaCha8 stream (torchvision's sampling rules), so a seed gives
//! the same views on every device; only the pixel work runs on the device.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{config_error, Result, TorchContext};

/// Augmentation parameters; defaults are SimCLR's CIFAR-10 settings (Chen et al. 2020,
/// appendix B.9: colour distortion strength 0.5, no blur).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentConfig {
    /// Crop area as a fraction of the image, `[min, max]`.
    pub crop_scale: [f64; 2],
    /// Crop aspect ratio (width / height), `[min, max]`, sampled log-uniformly.
    pub crop_ratio: [f64; 2],
    /// Probability of a horizontal flip.
    pub flip: f64,
    /// Probability that colour jitter is applied to an image.
    pub jitter_probability: f64,
    /// Brightness factor drawn from `[1 - b, 1 + b]`.
    pub brightness: f64,
    /// Contrast factor drawn from `[1 - c, 1 + c]`.
    pub contrast: f64,
    /// Saturation factor drawn from `[1 - s, 1 + s]`.
    pub saturation: f64,
    /// Hue shift drawn from `[-h, h]` (fraction of the colour circle, at most 0.5).
    pub hue: f64,
    /// Probability of converting an image to grayscale (kept as three equal channels).
    pub grayscale: f64,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        AugmentConfig {
            crop_scale: [0.08, 1.0],
            crop_ratio: [3.0 / 4.0, 4.0 / 3.0],
            flip: 0.5,
            jitter_probability: 0.8,
            brightness: 0.4,
            contrast: 0.4,
            saturation: 0.4,
            hue: 0.1,
            grayscale: 0.2,
        }
    }
}

impl AugmentConfig {
    /// Rejects ranges and probabilities that cannot be sampled.
    pub fn validate(&self) -> Result<()> {
        let [s0, s1] = self.crop_scale;
        if !(s0 > 0.0 && s0 <= s1 && s1 <= 1.0) {
            return Err(config_error(
                "augment.crop_scale",
                "must be [min, max] with 0 < min <= max <= 1",
            ));
        }
        let [r0, r1] = self.crop_ratio;
        if !(r0 > 0.0 && r0 <= r1 && r1.is_finite()) {
            return Err(config_error(
                "augment.crop_ratio",
                "must be [min, max] with 0 < min <= max",
            ));
        }
        for (name, p) in [
            ("flip", self.flip),
            ("jitter_probability", self.jitter_probability),
            ("grayscale", self.grayscale),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(config_error(
                    &format!("augment.{name}"),
                    "must be in [0, 1]",
                ));
            }
        }
        for (name, v) in [
            ("brightness", self.brightness),
            ("contrast", self.contrast),
            ("saturation", self.saturation),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(config_error(
                    &format!("augment.{name}"),
                    "must be in [0, 1]",
                ));
            }
        }
        if !(0.0..=0.5).contains(&self.hue) {
            return Err(config_error("augment.hue", "must be in [0, 0.5]"));
        }
        Ok(())
    }
}

/// The random parameters of one view of one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewParams {
    /// Crop box: top row, left column, height, width (pixels of the source image).
    pub crop: [usize; 4],
    /// Horizontal flip.
    pub flip: bool,
    /// Colour jitter applied at all.
    pub jitter: bool,
    /// Brightness, contrast, saturation factors and hue shift.
    pub factors: [f64; 4],
    /// The order of the four jitter ops (0 brightness, 1 contrast, 2 saturation, 3 hue).
    pub order: [usize; 4],
    /// Converted to grayscale.
    pub gray: bool,
}

impl ViewParams {
    /// Draws one view's parameters for an `h x w` image (torchvision's rules: up to 10
    /// tries at a crop of the drawn area and ratio, else a centre crop of clamped ratio).
    pub fn draw(config: &AugmentConfig, h: usize, w: usize, rng: &mut ChaCha8Rng) -> ViewParams {
        let crop = draw_crop(config, h, w, rng);
        let flip = rng.gen::<f64>() < config.flip;
        let jitter = rng.gen::<f64>() < config.jitter_probability;
        let mut factor = |spread: f64| 1.0 + spread * (2.0 * rng.gen::<f64>() - 1.0);
        let factors = [
            factor(config.brightness),
            factor(config.contrast),
            factor(config.saturation),
            config.hue * (2.0 * rng.gen::<f64>() - 1.0),
        ];
        let mut order = [0, 1, 2, 3];
        for i in (1..4).rev() {
            let j = rng.gen_range(0..=i);
            order.swap(i, j);
        }
        let gray = rng.gen::<f64>() < config.grayscale;
        ViewParams {
            crop,
            flip,
            jitter,
            factors,
            order,
            gray,
        }
    }
}

fn draw_crop(config: &AugmentConfig, h: usize, w: usize, rng: &mut ChaCha8Rng) -> [usize; 4] {
    let area = (h * w) as f64;
    let (lr0, lr1) = (config.crop_ratio[0].ln(), config.crop_ratio[1].ln());
    for _ in 0..10 {
        let target = area * rng.gen_range(config.crop_scale[0]..=config.crop_scale[1]);
        let ratio = if lr1 > lr0 {
            rng.gen_range(lr0..lr1).exp()
        } else {
            lr0.exp()
        };
        let cw = (target * ratio).sqrt().round() as usize;
        let ch = (target / ratio).sqrt().round() as usize;
        if cw > 0 && cw <= w && ch > 0 && ch <= h {
            let top = rng.gen_range(0..=h - ch);
            let left = rng.gen_range(0..=w - cw);
            return [top, left, ch, cw];
        }
    }
    let in_ratio = w as f64 / h as f64;
    let (ch, cw) = if in_ratio < config.crop_ratio[0] {
        let cw = w;
        (((cw as f64) / config.crop_ratio[0]).round() as usize, cw)
    } else if in_ratio > config.crop_ratio[1] {
        let ch = h;
        (ch, ((ch as f64) * config.crop_ratio[1]).round() as usize)
    } else {
        (h, w)
    };
    let (ch, cw) = (ch.clamp(1, h), cw.clamp(1, w));
    [(h - ch) / 2, (w - cw) / 2, ch, cw]
}

/// Turns `u8 [B, H, W, 3]` images into float `[B, 3, S, S]` views in `[0, 1]`.
#[derive(Debug, Clone)]
pub struct Augmenter {
    config: AugmentConfig,
    size: usize,
}

/// ITU-R 601 luma weights, as torchvision's `rgb_to_grayscale`.
const LUMA: [f64; 3] = [0.299, 0.587, 0.114];

impl Augmenter {
    /// An augmenter producing `size x size` views.
    pub fn new(config: AugmentConfig, size: usize) -> Result<Self> {
        config.validate()?;
        Ok(Augmenter { config, size })
    }

    /// The configuration.
    pub fn config(&self) -> &AugmentConfig {
        &self.config
    }

    /// Draws the parameters of one view of each of `b` images of `h x w`.
    pub fn draw(&self, b: usize, h: usize, w: usize, rng: &mut ChaCha8Rng) -> Vec<ViewParams> {
        (0..b)
            .map(|_| ViewParams::draw(&self.config, h, w, rng))
            .collect()
    }

    /// One augmented view of every image of `images` (`u8 [B, H, W, 3]`), parameters drawn
    /// from `rng`.
    pub fn view(&self, images: &Tensor, rng: &mut ChaCha8Rng) -> Result<Tensor> {
        let s = images.size();
        let params = self.draw(s[0] as usize, s[1] as usize, s[2] as usize, rng);
        self.apply(images, &params)
    }

    /// Applies `params` (one per image) to `images` (`u8 [B, H, W, 3]`).
    pub fn apply(&self, images: &Tensor, params: &[ViewParams]) -> Result<Tensor> {
        let x = to_float_nchw(images)?;
        let x = crop_resize_flip(&x, params, self.size)?;
        let x = colour_jitter(&x, params)?;
        random_grayscale(&x, params)
    }
}

/// `u8 [B, H, W, 3]` -> float `[B, 3, H, W]` in `[0, 1]`: the evaluation transform (no
/// augmentation).
pub fn to_float_nchw(images: &Tensor) -> Result<Tensor> {
    images
        .f_permute([0, 3, 1, 2])
        .and_then(|x| x.f_to_kind(Kind::Float))
        .and_then(|x| x.f_div_scalar(255.0))
        .and_then(|x| x.f_contiguous())
        .ctx("converting images to float")
}

/// A per-image `[B, 1, 1, 1]` float tensor on `device`.
fn per_image(values: &[f64], device: Device) -> Result<Tensor> {
    let v: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_slice(&v)
        .f_view([values.len() as i64, 1, 1, 1])
        .and_then(|t| t.f_to_device(device))
        .ctx("uploading augmentation parameters")
}

/// A per-image boolean mask `[B, 1, 1, 1]` on `device`.
fn mask(values: &[bool], device: Device) -> Result<Tensor> {
    Tensor::from_slice(values)
        .f_view([values.len() as i64, 1, 1, 1])
        .and_then(|t| t.f_to_device(device))
        .ctx("uploading augmentation masks")
}

/// Crops each image to its box, resizes it to `size x size` (bilinear) and flips it, as one
/// affine grid sample. `x: [B, 3, H, W]` float.
pub fn crop_resize_flip(x: &Tensor, params: &[ViewParams], size: usize) -> Result<Tensor> {
    let sz = x.size();
    let (b, c, h, w) = (sz[0], sz[1], sz[2] as f64, sz[3] as f64);
    let mut theta = Vec::with_capacity(params.len() * 6);
    for p in params {
        let [top, left, ch, cw] = p.crop.map(|v| v as f64);
        let sx = cw / w * if p.flip { -1.0 } else { 1.0 };
        let sy = ch / h;
        let cx = (left + cw / 2.0) / w * 2.0 - 1.0;
        let cy = (top + ch / 2.0) / h * 2.0 - 1.0;
        theta.extend_from_slice(&[sx as f32, 0.0, cx as f32, 0.0, sy as f32, cy as f32]);
    }
    let ctx = "cropping and resizing views";
    let theta = Tensor::from_slice(&theta)
        .f_view([b, 2, 3])
        .and_then(|t| t.f_to_device(x.device()))
        .ctx(ctx)?;
    let s = size as i64;
    let grid = Tensor::f_affine_grid_generator(&theta, [b, c, s, s], false).ctx(ctx)?;
    // Bilinear (mode 0), border padding (1): the box never leaves the image, border only
    // guards rounding at its edge.
    x.f_grid_sampler_2d(&grid, 0, 1, false).ctx(ctx)
}

fn gray(x: &Tensor) -> Result<Tensor> {
    let w = Tensor::from_slice(&LUMA.map(|v| v as f32))
        .f_view([1, 3, 1, 1])
        .and_then(|t| t.f_to_device(x.device()))
        .ctx("grayscale weights")?;
    x.f_mul(&w)
        .and_then(|t| t.f_sum_dim_intlist([1i64].as_slice(), true, Kind::Float))
        .ctx("grayscale")
}

/// Blends `x` with `other` by `factor` (`factor * x + (1 - factor) * other`), clamped to
/// `[0, 1]`: torchvision's `_blend`.
fn blend(x: &Tensor, other: &Tensor, factor: &Tensor) -> Result<Tensor> {
    let one_minus = factor
        .f_neg()
        .and_then(|f| f.f_add_scalar(1.0))
        .ctx("blend")?;
    x.f_mul(factor)
        .and_then(|a| a.f_add(&other.f_mul(&one_minus)?))
        .and_then(|t| t.f_clamp(0.0, 1.0))
        .ctx("blend")
}

/// Rotates the hue of every pixel by `shift` (fraction of the circle) through HSV, as
/// torchvision's `adjust_hue`.
pub fn adjust_hue(x: &Tensor, shift: &Tensor) -> Result<Tensor> {
    let ctx = "hue";
    let r = x.f_select(1, 0).ctx(ctx)?;
    let g = x.f_select(1, 1).ctx(ctx)?;
    let bl = x.f_select(1, 2).ctx(ctx)?;
    let maxc = x.f_amax([1i64].as_slice(), false).ctx(ctx)?;
    let minc = x.f_amin([1i64].as_slice(), false).ctx(ctx)?;
    let eqc = maxc.f_eq_tensor(&minc).ctx(ctx)?;
    let cr = maxc.f_sub(&minc).ctx(ctx)?;
    let ones = maxc.f_ones_like().ctx(ctx)?;
    let sat = cr
        .f_div(&ones.f_where_self(&eqc, &maxc).ctx(ctx)?)
        .ctx(ctx)?;
    let cr_div = ones.f_where_self(&eqc, &cr).ctx(ctx)?;
    let rc = maxc.f_sub(&r).and_then(|t| t.f_div(&cr_div)).ctx(ctx)?;
    let gc = maxc.f_sub(&g).and_then(|t| t.f_div(&cr_div)).ctx(ctx)?;
    let bc = maxc.f_sub(&bl).and_then(|t| t.f_div(&cr_div)).ctx(ctx)?;
    let is_r = maxc.f_eq_tensor(&r).ctx(ctx)?;
    let is_g = maxc.f_eq_tensor(&g).ctx(ctx)?;
    let not_r = is_r.f_logical_not().ctx(ctx)?;
    let not_g = is_g.f_logical_not().ctx(ctx)?;
    let fl = |m: &Tensor| m.f_to_kind(Kind::Float).ctx(ctx);
    let hr = fl(&is_r)?.f_mul(&bc.f_sub(&gc).ctx(ctx)?).ctx(ctx)?;
    let hg = fl(&is_g.f_logical_and(&not_r).ctx(ctx)?)?
        .f_mul(&rc.f_sub(&bc).and_then(|t| t.f_add_scalar(2.0)).ctx(ctx)?)
        .ctx(ctx)?;
    let hb = fl(&not_g.f_logical_and(&not_r).ctx(ctx)?)?
        .f_mul(&gc.f_sub(&rc).and_then(|t| t.f_add_scalar(4.0)).ctx(ctx)?)
        .ctx(ctx)?;
    let hue = hr
        .f_add(&hg)
        .and_then(|t| t.f_add(&hb))
        .and_then(|t| t.f_div_scalar(6.0))
        .and_then(|t| t.f_add_scalar(1.0))
        .and_then(|t| t.f_remainder(1.0))
        .ctx(ctx)?;
    // Shift (shift: [B, 1, 1, 1] -> [B, 1, 1]) and wrap.
    let hue = hue
        .f_add(&shift.f_squeeze_dim(1).ctx(ctx)?)
        .and_then(|t| t.f_remainder(1.0))
        .ctx(ctx)?;
    // HSV -> RGB.
    let v = maxc;
    let h6 = hue.f_mul_scalar(6.0).ctx(ctx)?;
    let i = h6.f_floor().ctx(ctx)?;
    let f = h6.f_sub(&i).ctx(ctx)?;
    let i = i.f_remainder(6.0).ctx(ctx)?;
    let clamp01 = |t: Tensor| t.f_clamp(0.0, 1.0).ctx(ctx);
    let p = clamp01(v.f_mul(&sat.f_neg()?.f_add_scalar(1.0)?).ctx(ctx)?)?;
    let q = clamp01(
        v.f_mul(&sat.f_mul(&f)?.f_neg()?.f_add_scalar(1.0)?)
            .ctx(ctx)?,
    )?;
    let t = clamp01(
        v.f_mul(
            &sat.f_mul(&f.f_neg()?.f_add_scalar(1.0)?)?
                .f_neg()?
                .f_add_scalar(1.0)?,
        )
        .ctx(ctx)?,
    )?;
    // Sector k gives (r, g, b) = table[k].
    let table: [[&Tensor; 3]; 6] = [
        [&v, &t, &p],
        [&q, &v, &p],
        [&p, &v, &t],
        [&p, &q, &v],
        [&t, &p, &v],
        [&v, &p, &q],
    ];
    let mut channels = Vec::with_capacity(3);
    for ch in 0..3 {
        let mut acc = v.f_zeros_like().ctx(ctx)?;
        for (k, row) in table.iter().enumerate() {
            let m = fl(&i.f_eq(k as f64).ctx(ctx)?)?;
            acc = acc.f_add(&m.f_mul(row[ch]).ctx(ctx)?).ctx(ctx)?;
        }
        channels.push(acc);
    }
    Tensor::f_stack(&channels, 1).ctx(ctx)
}

/// Colour jitter: for each of the four positions of the per-image order, each op is applied
/// to the images that have it at that position (and jitter on).
pub fn colour_jitter(x: &Tensor, params: &[ViewParams]) -> Result<Tensor> {
    let device = x.device();
    let mut x = x.shallow_clone();
    for position in 0..4 {
        for op in 0..4 {
            let chosen: Vec<bool> = params
                .iter()
                .map(|p| p.jitter && p.order[position] == op)
                .collect();
            if !chosen.iter().any(|&c| c) {
                continue;
            }
            let identity = if op == 3 { 0.0 } else { 1.0 };
            let factors: Vec<f64> = params
                .iter()
                .zip(&chosen)
                .map(|(p, &c)| if c { p.factors[op] } else { identity })
                .collect();
            let f = per_image(&factors, device)?;
            let changed = match op {
                0 => x
                    .f_mul(&f)
                    .and_then(|t| t.f_clamp(0.0, 1.0))
                    .ctx("brightness")?,
                1 => {
                    let mean = gray(&x)?
                        .f_mean_dim([1i64, 2, 3].as_slice(), true, Kind::Float)
                        .ctx("contrast")?;
                    blend(&x, &mean, &f)?
                }
                2 => blend(&x, &gray(&x)?, &f)?,
                _ => adjust_hue(&x, &f)?,
            };
            let m = mask(&chosen, device)?;
            x = changed.f_where_self(&m, &x).ctx("colour jitter")?;
        }
    }
    Ok(x)
}

/// Replaces the images whose parameters say so by their grayscale, in all three channels.
pub fn random_grayscale(x: &Tensor, params: &[ViewParams]) -> Result<Tensor> {
    let chosen: Vec<bool> = params.iter().map(|p| p.gray).collect();
    if !chosen.iter().any(|&c| c) {
        return Ok(x.shallow_clone());
    }
    let g = gray(x)?.f_expand_as(x).ctx("grayscale")?;
    let m = mask(&chosen, x.device())?;
    g.f_where_self(&m, x).ctx("grayscale")
}
