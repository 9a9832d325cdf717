//! The pretraining losses: ST-DIM's global-local and local-local InfoNCE (vectorised over
//! all locations), DIM-UA's membership term `L_Q`, and the MSimCLR-style MMD.
//!
//! Every function checks its input shapes and returns a scalar tensor that carries the
//! gradient. Shapes: `B` batch, `L` local-map locations (88 at 210 x 160), `K` local depth
//! (128), `n` heads, `d` units per head.

use tch::{Device, Kind, Tensor};

use crate::error::{ModelError, TorchContext};
use crate::mixed;

fn expect_dims(
    t: &Tensor,
    what: &'static str,
    expected: &str,
    dims: usize,
) -> Result<Vec<i64>, ModelError> {
    let size = t.size();
    if size.len() != dims {
        return Err(ModelError::WrongShape {
            what,
            expected: expected.to_string(),
            got: size,
        });
    }
    Ok(size)
}

fn shape_err(what: &'static str, expected: String, got: Vec<i64>) -> ModelError {
    ModelError::WrongShape {
        what,
        expected,
        got,
    }
}

/// InfoNCE with in-batch negatives and diagonal targets, for a stack of score matrices:
///
/// `L = (1 / (L_n B)) sum_l sum_i -log( exp S[l,i,i] / sum_j exp S[l,i,j] )`,
///
/// i.e. cross-entropy over each row `i` of each `S[l] (B x B)` with target `i`, averaged over
/// rows and over the `L_n` matrices. `scores: [L_n, B, B]`.
pub fn info_nce_diagonal(scores: &Tensor) -> Result<Tensor, ModelError> {
    let s = expect_dims(scores, "InfoNCE scores", "[L, B, B]", 3)?;
    if s[1] != s[2] {
        return Err(shape_err("InfoNCE scores", "[L, B, B] (square)".into(), s));
    }
    let ctx = "computing InfoNCE";
    scores
        .f_log_softmax(-1, Kind::Float)
        .and_then(|l| l.f_diagonal(0, 1, 2))
        .and_then(|d| d.f_mean(Kind::Float))
        .and_then(|m| m.f_neg())
        .ctx(ctx)
}

/// ST-DIM's global-local loss `L1` (PROTOCOL.md section 4), all locations at once:
///
/// `S_l[i, j] = p_i . f_l(y_j)` with `p_i = W_g Output(x_i) + b_g` (already applied: `predicted`)
/// and `f_l(y_j)` the local feature of the other frame of pair `j` at location `l`;
/// `L1 = (1 / (L B)) sum_l sum_i -log( exp S_l[i,i] / sum_j exp S_l[i,j] )`.
///
/// Negatives are the other pairs' features at the same location. Computed as ONE matrix
/// product `[B, K] x [K, B * L]` (no loop over locations).
/// `predicted: [B, K]`, `local_targets: [B, L, K]`.
pub fn global_local_infonce(
    predicted: &Tensor,
    local_targets: &Tensor,
) -> Result<Tensor, ModelError> {
    let p = expect_dims(predicted, "global-local predictions", "[B, K]", 2)?;
    let t = expect_dims(local_targets, "global-local targets", "[B, L, K]", 3)?;
    if t[0] != p[0] || t[2] != p[1] {
        return Err(shape_err(
            "global-local targets",
            format!("[{}, L, {}] to match the predictions", p[0], p[1]),
            t,
        ));
    }
    let (b, l, k) = (t[0], t[1], t[2]);
    let ctx = "computing the global-local loss";
    // scores[i, j * L + l] = p_i . t_{j,l}  ->  view [i, j, l]; softmax over j (dim 1).
    // The scores in fp32 whatever the compute precision: consecutive frames' scores differ by
    // far less than bf16's resolution at their magnitude, and rounding them is noise.
    let scores = mixed::to_f32(predicted)
        .and_then(|p| {
            p.f_matmul(
                &mixed::to_f32(local_targets)?
                    .f_reshape([b * l, k])?
                    .f_tr()?,
            )
        })
        .and_then(|s| s.f_view([b, b, l]))
        .ctx(ctx)?;
    scores
        .f_log_softmax(1, Kind::Float)
        .and_then(|ls| ls.f_diagonal(0, 0, 1)) // [L, B]: entries [i, i, l]
        .and_then(|d| d.f_mean(Kind::Float))
        .and_then(|m| m.f_neg())
        .ctx(ctx)
}

/// ST-DIM's local-local loss `L2` (PROTOCOL.md section 4), all locations at once:
///
/// `S_l[i, j] = (W_h f_l(x_i) + b_h) . f_l(y_j)` (the Linear is already applied:
/// `predicted_local`), `L2 = (1 / (L B)) sum_l sum_i -log( exp S_l[i,i] / sum_j exp S_l[i,j] )`.
///
/// Computed as one batched matrix product over locations `[L, B, K] x [L, K, B]`.
/// `predicted_local: [B, L, K]`, `local_targets: [B, L, K]`.
pub fn local_local_infonce(
    predicted_local: &Tensor,
    local_targets: &Tensor,
) -> Result<Tensor, ModelError> {
    let p = expect_dims(predicted_local, "local-local predictions", "[B, L, K]", 3)?;
    let t = expect_dims(local_targets, "local-local targets", "[B, L, K]", 3)?;
    if p != t {
        return Err(shape_err(
            "local-local targets",
            format!("{p:?} (same as the predictions)"),
            t,
        ));
    }
    let ctx = "computing the local-local loss";
    // In fp32, as the global-local scores.
    let scores = mixed::to_f32(predicted_local)
        .and_then(|p| p.f_transpose(0, 1))
        .and_then(|a| a.f_bmm(&mixed::to_f32(local_targets)?.f_permute([1, 2, 0])?))
        .ctx(ctx)?;
    info_nce_diagonal(&scores)
}

/// DIM-UA's membership loss (Eq. 4/8, PROTOCOL.md section 5), pushing q away from uniform:
///
/// `L_Q = -(1/2) [ mean_b sum_i (q_i(x_t) - 1/n)^2 + mean_b sum_i (q_i(x_{t+1}) - 1/n)^2 ]`.
///
/// The total loss adds `tau * L_Q` (tau = 0.1), so minimising it maximises the deviation of
/// the membership from uniform. `q_a`, `q_b: [B, n]`.
pub fn membership_loss(q_a: &Tensor, q_b: &Tensor) -> Result<Tensor, ModelError> {
    let a = expect_dims(q_a, "membership q(x_t)", "[B, n]", 2)?;
    let b = expect_dims(q_b, "membership q(x_t+1)", "[B, n]", 2)?;
    if a[1] != b[1] || a[1] == 0 {
        return Err(shape_err(
            "membership q(x_t+1)",
            format!("[B, {}]", a[1]),
            b,
        ));
    }
    let u = 1.0 / a[1] as f64;
    let ctx = "computing the membership loss";
    let dev = |q: &Tensor| -> Result<Tensor, tch::TchError> {
        q.f_sub_scalar(u)?
            .f_square()?
            .f_sum_dim_intlist(1, false, Kind::Float)?
            .f_mean(Kind::Float)
    };
    let total = dev(q_a).ctx(ctx)?.f_add(&dev(q_b).ctx(ctx)?).ctx(ctx)?;
    total.f_mul_scalar(-0.5).ctx(ctx)
}

/// `tau` at optimiser step `step` with a linear warm-up from 0 over `warmup_steps` steps
/// (`tau * min(1, step / warmup_steps)`; no warm-up when `warmup_steps = 0`).
pub fn tau_at(tau: f64, step: u64, warmup_steps: u64) -> f64 {
    if warmup_steps == 0 {
        tau
    } else {
        tau * (step as f64 / warmup_steps as f64).min(1.0)
    }
}

/// The IMQ constant of the MMD for `d` units per head: `C = d / 6` (the reference passes
/// `sigma = feature_size / 6` and uses it as C, not sigma^2).
pub fn imq_constant(units: usize) -> f64 {
    units as f64 / 6.0
}

/// Pairwise inverse multiquadric kernel `k(a, b) = C / (C + |a - b|^2)`, with the squared
/// distance expanded as `|a|^2 - 2 a.b + |b|^2` (as the reference does), batched:
/// `x: [c, N, d]`, `y: [c or 1, M, d]` -> `[c, N, M]`.
pub fn imq_kernel(x: &Tensor, y: &Tensor, c: f64) -> Result<Tensor, ModelError> {
    expect_dims(x, "IMQ kernel x", "[c, N, d]", 3)?;
    expect_dims(y, "IMQ kernel y", "[c, M, d]", 3)?;
    let ctx = "computing the IMQ kernel";
    let xn = x
        .f_square()
        .and_then(|s| s.f_sum_dim_intlist(2, true, Kind::Float))
        .ctx(ctx)?;
    let yn = y
        .f_square()
        .and_then(|s| s.f_sum_dim_intlist(2, true, Kind::Float))
        .and_then(|s| s.f_transpose(1, 2))
        .ctx(ctx)?;
    let xy = x.f_matmul(&y.f_transpose(1, 2).ctx(ctx)?).ctx(ctx)?;
    let d2 = xn
        .f_sub(&xy.f_mul_scalar(2.0).ctx(ctx)?)
        .and_then(|t| t.f_add(&yn))
        .ctx(ctx)?;
    d2.f_add_scalar(c)
        .and_then(|den| den.f_reciprocal())
        .and_then(|r| r.f_mul_scalar(c))
        .ctx(ctx)
}

/// A sample of MSimCLR's prior: `clamp(logit(U), -1e4, 1e4)` with `U ~ Uniform[0, 1)^{B x d}`,
/// drawn on the host from a ChaCha8 stream seeded with `seed` (reproducible, independent of
/// libtorch's global generator), then moved to `device`.
pub fn logit_uniform_prior(
    batch: usize,
    units: usize,
    device: Device,
    seed: u64,
) -> Result<Tensor, ModelError> {
    use rand::{Rng, SeedableRng};
    let ctx = "sampling the MMD prior";
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let y: Vec<f32> = (0..batch * units)
        .map(|_| {
            let u: f64 = rng.gen::<f64>();
            ((u / (1.0 - u)).ln().clamp(-1e4, 1e4)) as f32
        })
        .collect();
    Tensor::f_from_slice(&y)
        .and_then(|t| t.f_view([batch as i64, units as i64]))
        .and_then(|t| t.f_to_device(device))
        .ctx(ctx)
}

/// MSimCLR-style manifold MMD between the atlas embedding and a prior sample (PROTOCOL.md
/// section 5, `MMDManifoldLoss` with the IMQ kernel), with `i, j` over the batch of size
/// `B`, `h` over the `n` heads:
///
/// `MMD = sum_h sum_{i != j} q_hi q_hj k(X_hi, X_hj) / (B (B-1))
///      + (sum_{i,j} k(Y_i, Y_j) - B) / (n B (B-1))
///      - 2 sum_h sum_{i,j} q_hi k(X_hi, Y_j) / (n B^2)`.
///
/// `q: [B, n]` membership, `coords: [B, n, d]` chart coordinates `X`, `prior: [B, d]` the
/// sample `Y` (see [`logit_uniform_prior`]), `c` the IMQ constant ([`imq_constant`]).
/// Needs `B >= 2`. Computed in fp32 whatever the kind of `coords`.
pub fn mmd_manifold(
    q: &Tensor,
    coords: &Tensor,
    prior: &Tensor,
    c: f64,
) -> Result<Tensor, ModelError> {
    let qs = expect_dims(q, "MMD membership", "[B, n]", 2)?;
    let xs = expect_dims(coords, "MMD coordinates", "[B, n, d]", 3)?;
    let ys = expect_dims(prior, "MMD prior sample", "[B, d]", 2)?;
    if xs[0] != qs[0] || xs[1] != qs[1] {
        return Err(shape_err(
            "MMD coordinates",
            format!("[{}, {}, d]", qs[0], qs[1]),
            xs,
        ));
    }
    if ys[0] != xs[0] || ys[1] != xs[2] {
        return Err(shape_err(
            "MMD prior sample",
            format!("[{}, {}]", xs[0], xs[2]),
            ys,
        ));
    }
    let (b, n) = (xs[0], xs[1]);
    if b < 2 {
        return Err(shape_err(
            "MMD coordinates",
            "a batch of at least 2".into(),
            xs,
        ));
    }
    let ctx = "computing the MMD";
    let (bf, nf) = (b as f64, n as f64);
    // In fp32 whatever the compute precision: the kernel's |a|^2 - 2ab + |b|^2 cancels.
    let x = mixed::to_f32(coords)
        .and_then(|x| x.f_transpose(0, 1))
        .ctx(ctx)?; // [n, B, d]
    let qt = q.f_tr().ctx(ctx)?; // [n, B]
    let y = prior.f_unsqueeze(0).ctx(ctx)?; // [1, B, d]
    let off_diag = Tensor::f_eye(b, (Kind::Float, q.device()))
        .and_then(|e| e.f_neg())
        .and_then(|e| e.f_add_scalar(1.0))
        .ctx(ctx)?;
    let qq = qt
        .f_unsqueeze(2)
        .and_then(|a| a.f_mul(&qt.f_unsqueeze(1)?))
        .ctx(ctx)?; // [n, B, B]
    let kxx = imq_kernel(&x, &x, c)?;
    let term_xx = kxx
        .f_mul(&qq)
        .and_then(|t| t.f_mul(&off_diag))
        .and_then(|t| t.f_sum(Kind::Float))
        .and_then(|t| t.f_div_scalar(bf * (bf - 1.0)))
        .ctx(ctx)?;
    let kyy = imq_kernel(&y, &y, c)?;
    let term_yy = kyy
        .f_sum(Kind::Float)
        .and_then(|t| t.f_sub_scalar(bf))
        .and_then(|t| t.f_div_scalar(nf * bf * (bf - 1.0)))
        .ctx(ctx)?;
    let kxy = imq_kernel(&x, &y, c)?; // [n, B, B]
    let term_xy = qt
        .f_unsqueeze(2)
        .and_then(|qn| kxy.f_mul(&qn))
        .and_then(|t| t.f_sum(Kind::Float))
        .and_then(|t| t.f_mul_scalar(-2.0 / (nf * bf * bf)))
        .ctx(ctx)?;
    term_xx
        .f_add(&term_yy)
        .and_then(|t| t.f_add(&term_xy))
        .ctx(ctx)
}

/// Mean entropy (nats) of membership rows `q: [N, n]`: `mean_rows -sum_i q_i ln q_i`.
/// `ln n` for uniform membership, 0 for one-hot.
pub fn membership_entropy(q: &Tensor) -> Result<Tensor, ModelError> {
    expect_dims(q, "membership", "[N, n]", 2)?;
    let ctx = "computing the membership entropy";
    q.f_clamp_min(1e-30)
        .and_then(|c| c.f_log())
        .and_then(|l| l.f_mul(q))
        .and_then(|t| t.f_sum_dim_intlist(1, false, Kind::Float))
        .and_then(|t| t.f_mean(Kind::Float))
        .and_then(|t| t.f_neg())
        .ctx(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t2(rows: &[&[f32]]) -> Tensor {
        let r = rows.len() as i64;
        let c = rows[0].len() as i64;
        Tensor::from_slice(&rows.concat()).view([r, c])
    }

    fn scalar(t: &Tensor) -> f64 {
        t.double_value(&[])
    }

    #[test]
    fn info_nce_hand_computed() {
        // S = [[1, 0], [0, 1]]: each row's loss is -log(e / (e + 1)) = ln(1 + e^-1).
        let s = t2(&[&[1.0, 0.0], &[0.0, 1.0]]).unsqueeze(0);
        let expected = (1.0 + (-1.0f64).exp()).ln();
        assert!((scalar(&info_nce_diagonal(&s).unwrap()) - expected).abs() < 1e-6);
    }

    #[test]
    fn global_local_hand_computed() {
        // B = 2, L = 1, K = 1; p = [1, 2], targets t = [1, -1].
        // S[i, j] = p_i t_j = [[1, -1], [2, -2]].
        // Row 0 (target 0): -log(e^1 / (e^1 + e^-1)) = ln(1 + e^-2).
        // Row 1 (target 1): -log(e^-2 / (e^2 + e^-2)) = ln(1 + e^4).
        let p = t2(&[&[1.0], &[2.0]]);
        let t = t2(&[&[1.0], &[-1.0]]).unsqueeze(2); // [B, L=1, K=1]
        let expected = ((1.0 + (-2.0f64).exp()).ln() + (1.0 + 4.0f64.exp()).ln()) / 2.0;
        let got = scalar(&global_local_infonce(&p, &t).unwrap());
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
    }

    #[test]
    fn local_local_hand_computed() {
        // B = 2, L = 2, K = 1. Location 0: p = [1, 0], t = [1, 1]: S = [[1, 1], [0, 0]],
        // both rows ln 2. Location 1: p = [1, 1], t = [0, 0]: S = 0, both rows ln 2.
        // Mean = ln 2.
        let p = Tensor::from_slice(&[1.0f32, 1.0, 0.0, 1.0]).view([2, 2, 1]);
        let t = Tensor::from_slice(&[1.0f32, 0.0, 1.0, 0.0]).view([2, 2, 1]);
        let got = scalar(&local_local_infonce(&p, &t).unwrap());
        assert!((got - 2f64.ln()).abs() < 1e-6, "{got}");
    }

    /// The reference loops over the locations; the vectorised losses must agree with that.
    #[test]
    fn vectorised_infonce_equals_per_location_loop() {
        tch::manual_seed(3);
        let (b, l, k, d) = (6i64, 5i64, 4i64, 3i64);
        let global = Tensor::randn([b, d], (Kind::Float, Device::Cpu));
        let w1 = Tensor::randn([k, d], (Kind::Float, Device::Cpu));
        let b1 = Tensor::randn([k], (Kind::Float, Device::Cpu));
        let w2 = Tensor::randn([k, k], (Kind::Float, Device::Cpu));
        let b2 = Tensor::randn([k], (Kind::Float, Device::Cpu));
        let anchor_local = Tensor::randn([b, l, k], (Kind::Float, Device::Cpu));
        let target_local = Tensor::randn([b, l, k], (Kind::Float, Device::Cpu));
        let targets = Tensor::arange(b, (Kind::Int64, Device::Cpu));

        let pred1 = global.linear(&w1, Some(&b1));
        let mut loop1 = 0.0;
        let mut loop2 = 0.0;
        for loc in 0..l {
            let pos = target_local.select(1, loc);
            let logits = pred1.matmul(&pos.tr());
            loop1 += logits.cross_entropy_for_logits(&targets).double_value(&[]);
            let pred2 = anchor_local.select(1, loc).linear(&w2, Some(&b2));
            let logits = pred2.matmul(&pos.tr());
            loop2 += logits.cross_entropy_for_logits(&targets).double_value(&[]);
        }
        loop1 /= l as f64;
        loop2 /= l as f64;
        let v1 = scalar(&global_local_infonce(&pred1, &target_local).unwrap());
        let v2 = scalar(
            &local_local_infonce(&anchor_local.linear(&w2, Some(&b2)), &target_local).unwrap(),
        );
        assert!((v1 - loop1).abs() < 1e-5, "{v1} vs {loop1}");
        assert!((v2 - loop2).abs() < 1e-5, "{v2} vs {loop2}");
    }

    #[test]
    fn membership_loss_hand_computed() {
        // n = 2, q_a = [1, 0]: sum (q - 1/2)^2 = 0.5; q_b = [0.5, 0.5]: 0.
        // L_Q = -(1/2)(0.5 + 0) = -0.25.
        let qa = t2(&[&[1.0, 0.0]]);
        let qb = t2(&[&[0.5, 0.5]]);
        assert!((scalar(&membership_loss(&qa, &qb).unwrap()) + 0.25).abs() < 1e-7);
    }

    /// Gradient descent on `tau * L_Q` must make the membership LESS uniform (the
    /// "unbalanced" direction), i.e. the largest q grows.
    #[test]
    fn membership_loss_descent_moves_away_from_uniform() {
        let logits = Tensor::from_slice(&[0.2f32, 0.0, -0.1])
            .view([1, 3])
            .set_requires_grad(true);
        let q = logits.softmax(-1, Kind::Float);
        let before = q.max().double_value(&[]);
        let loss = membership_loss(&q, &q).unwrap().f_mul_scalar(0.1).unwrap();
        loss.backward();
        let stepped = tch::no_grad(|| &logits - logits.grad() * 10.0);
        let after = stepped.softmax(-1, Kind::Float).max().double_value(&[]);
        assert!(after > before, "max q {before} -> {after} should grow");
        assert!(scalar(&loss) < 0.0);
    }

    #[test]
    fn mmd_hand_computed() {
        // B = 2, n = 1, d = 1, C = 1, q = 1. X = [0, 1], Y = [0, 2]; k(a,b) = 1 / (1 + (a-b)^2).
        // XX: sum_{i != j} k = 2 k(0,1) = 1, / (B(B-1) = 2) = 0.5.
        // YY: (k(0,0) + k(2,2) + 2 k(0,2) - 2) / (1 * 2) = (2 * 0.2) / 2 = 0.2.
        // XY: -2 (k(0,0) + k(0,2) + k(1,0) + k(1,2)) / (1 * 4) = -2 (1 + .2 + .5 + .5) / 4 = -1.1.
        // MMD = 0.5 + 0.2 - 1.1 = -0.4.
        let q = t2(&[&[1.0], &[1.0]]);
        let x = Tensor::from_slice(&[0.0f32, 1.0]).view([2, 1, 1]);
        let y = t2(&[&[0.0], &[2.0]]);
        let got = scalar(&mmd_manifold(&q, &x, &y, 1.0).unwrap());
        assert!((got + 0.4).abs() < 1e-6, "{got}");
    }

    #[test]
    fn imq_constant_is_units_over_six() {
        assert!((imq_constant(512) - 85.333_333).abs() < 1e-5);
        assert!((imq_constant(256) - 42.666_666).abs() < 1e-5);
    }

    #[test]
    fn prior_is_finite_and_clamped() {
        let y = logit_uniform_prior(64, 32, Device::Cpu, 0).unwrap();
        assert!(y.equal(&logit_uniform_prior(64, 32, Device::Cpu, 0).unwrap()));
        assert_eq!(y.size(), vec![64, 32]);
        assert!(y.isfinite().all().int64_value(&[]) == 1);
        assert!(y.abs().max().double_value(&[]) <= 1e4);
    }

    #[test]
    fn entropy_of_uniform_and_one_hot() {
        let q = t2(&[&[0.25, 0.25, 0.25, 0.25], &[1.0, 0.0, 0.0, 0.0]]);
        // mean of ln 4 and 0.
        let got = scalar(&membership_entropy(&q).unwrap());
        assert!((got - 4f64.ln() / 2.0).abs() < 1e-6);
    }

    #[test]
    fn tau_warmup_is_linear() {
        assert_eq!(tau_at(0.1, 0, 0), 0.1);
        assert_eq!(tau_at(0.1, 0, 10), 0.0);
        assert!((tau_at(0.1, 5, 10) - 0.05).abs() < 1e-12);
        assert_eq!(tau_at(0.1, 50, 10), 0.1);
    }

    #[test]
    fn bad_shapes_are_errors_not_panics() {
        let p = Tensor::zeros([4, 3], (Kind::Float, Device::Cpu));
        let t = Tensor::zeros([4, 5, 2], (Kind::Float, Device::Cpu));
        assert!(matches!(
            global_local_infonce(&p, &t),
            Err(ModelError::WrongShape { .. })
        ));
        assert!(matches!(
            local_local_infonce(&t, &p),
            Err(ModelError::WrongShape { .. })
        ));
        let q = Tensor::zeros([4, 2], (Kind::Float, Device::Cpu));
        let q3 = Tensor::zeros([4, 3], (Kind::Float, Device::Cpu));
        assert!(matches!(
            membership_loss(&q, &q3),
            Err(ModelError::WrongShape { .. })
        ));
        let x = Tensor::zeros([1, 2, 3], (Kind::Float, Device::Cpu));
        let y = Tensor::zeros([1, 3], (Kind::Float, Device::Cpu));
        let q1 = Tensor::zeros([1, 2], (Kind::Float, Device::Cpu));
        assert!(matches!(
            mmd_manifold(&q1, &x, &y, 1.0),
            Err(ModelError::WrongShape { .. })
        ));
    }
}
