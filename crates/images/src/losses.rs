//! SimCLR's NT-Xent loss (normalised temperature-scaled cross-entropy, Chen et al. 2020,
//! Eq. 1): for `2B` embeddings of `B` images seen twice, each view's positive is the other
//! view of its image and its negatives the other `2B - 2` views.

use tch::{Kind, Tensor};

use crate::error::{Result, TorchContext};

/// `L = (1 / 2B) sum_k -log( exp(sim(z_k, z_pos(k)) / T) / sum_{m != k} exp(sim(z_k, z_m) / T) )`
/// with `sim` the cosine similarity. `a`, `b`: `[B, d]`, row `i` of both are views of image
/// `i`. Computed in fp32.
pub fn nt_xent(a: &Tensor, b: &Tensor, temperature: f64) -> Result<Tensor> {
    let ctx = "NT-Xent";
    let n = a.size()[0];
    let z = Tensor::f_cat(&[a, b], 0)
        .and_then(|z| z.f_to_kind(Kind::Float))
        .ctx(ctx)?;
    let norm = z
        .f_norm_scalaropt_dim(2, [1i64].as_slice(), true)
        .and_then(|n| n.f_clamp_min(1e-12))
        .ctx(ctx)?;
    let z = z.f_div(&norm).ctx(ctx)?;
    let sim = z
        .f_matmul(&z.f_tr().ctx(ctx)?)
        .and_then(|s| s.f_div_scalar(temperature))
        .ctx(ctx)?;
    // A view is not its own negative: -inf on the diagonal.
    let eye = Tensor::f_eye(2 * n, (Kind::Bool, z.device())).ctx(ctx)?;
    let sim = sim.f_masked_fill(&eye, f64::NEG_INFINITY).ctx(ctx)?;
    let targets: Vec<i64> = (0..2 * n).map(|k| (k + n) % (2 * n)).collect();
    let targets = Tensor::f_from_slice(&targets)
        .and_then(|t| t.f_to_device(z.device()))
        .ctx(ctx)?;
    sim.f_log_softmax(1, Kind::Float)
        .and_then(|l| l.f_nll_loss(&targets, None::<Tensor>, tch::Reduction::Mean, -100))
        .ctx(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two images, two views, d = 2; every number below was computed by hand.
    /// `a = [[1, 0], [0, 1]]`, `b = [[1, 0], [1, 0]]`, `T = 1`. Normalised rows: z0 = (1, 0),
    /// z1 = (0, 1), z2 = (1, 0), z3 = (1, 0). Cosine similarities off the diagonal:
    /// row 0: s01 = 0, s02 = 1 (positive), s03 = 1 -> -log(e / (1 + e + e)) = ln(1 + 2e) - 1;
    /// row 1: s10 = 0, s12 = 0, s13 = 0 (positive) -> ln 3;
    /// row 2: s20 = 1 (positive), s21 = 0, s23 = 1 -> ln(1 + 2e) - 1;
    /// row 3: s30 = 1, s31 = 0 (positive), s32 = 1 -> ln(1 + 2e).
    /// Mean = (3 ln(1 + 2e) - 2 + ln 3) / 4.
    #[test]
    fn nt_xent_matches_a_hand_computed_value() {
        let a = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0]).view([2, 2]);
        let b = Tensor::from_slice(&[1.0f32, 0.0, 1.0, 0.0]).view([2, 2]);
        let got = nt_xent(&a, &b, 1.0).unwrap().double_value(&[]);
        let e = std::f64::consts::E;
        let want = (3.0 * (1.0 + 2.0 * e).ln() - 2.0 + 3f64.ln()) / 4.0;
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }

    /// The temperature divides every similarity: with T = 0.5 the same inputs give
    /// row 0: ln(1 + 2e^2) - 2, row 1: ln 3, row 2: ln(1 + 2e^2) - 2, row 3: ln(1 + 2e^2).
    #[test]
    fn nt_xent_scales_by_the_temperature() {
        let a = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0]).view([2, 2]);
        let b = Tensor::from_slice(&[1.0f32, 0.0, 1.0, 0.0]).view([2, 2]);
        let got = nt_xent(&a, &b, 0.5).unwrap().double_value(&[]);
        let e2 = std::f64::consts::E.powi(2);
        let want = (3.0 * (1.0 + 2.0 * e2).ln() - 4.0 + 3f64.ln()) / 4.0;
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
}
