//! The stacked Adam step with one learning rate per label: a fused single-pass CPU kernel
//! (the stacked moments do not fit in cache, so libtorch's ten elementwise passes were the
//! bottleneck of the batched probes) and a tensor-op version for other devices.
//!
//! Both compute exactly PyTorch's (and libtorch's) non-fused Adam without weight decay:
//! `m = β1·m + (1−β1)·g`, `v = β2·v + (1−β2)·g²`, `p += s_k · m / (√v / √(1−β2^t) + ε)`
//! with `s_k = −lr_k / (1−β1^t)` for the label `k` that owns the element.

use tch::{Device, Kind, Tensor};

use crate::error::Result;

/// Adam β1 (PyTorch default).
pub(crate) const BETA1: f64 = 0.9;
/// Adam β2 (PyTorch default).
pub(crate) const BETA2: f64 = 0.999;

/// Adam moments of one stacked parameter.
pub(crate) struct Moments {
    pub(crate) m: Tensor,
    pub(crate) v: Tensor,
}

impl Moments {
    /// Zero moments shaped like `t`.
    pub(crate) fn zeros_like(t: &Tensor) -> Result<Self> {
        Ok(Moments {
            m: t.f_zeros_like()?,
            v: t.f_zeros_like()?,
        })
    }

    /// The moments of the labels `idx` along `dim` (a fresh, contiguous copy).
    pub(crate) fn select(&self, dim: i64, idx: &Tensor) -> Result<Self> {
        Ok(Moments {
            m: self.m.f_index_select(dim, idx)?,
            v: self.v.f_index_select(dim, idx)?,
        })
    }
}

/// The learning rate of every active label, on the host (fused CPU step) and on the device
/// (tensor step, so no host-to-device copy happens per step). Built once per epoch.
pub(crate) struct LabelLr {
    host: Vec<f64>,
    device: Tensor,
}

impl LabelLr {
    /// `lrs[k]` = learning rate of the k-th active label.
    pub(crate) fn new(lrs: Vec<f64>, kind: Kind, device: Device) -> Result<Self> {
        let t = Tensor::f_from_slice(&lrs)?
            .f_to_kind(kind)?
            .f_to_device(device)?;
        Ok(LabelLr {
            host: lrs,
            device: t,
        })
    }
}

/// Step `t`'s bias corrections: `1 − β1^t` and `√(1 − β2^t)`.
pub(crate) fn bias_corrections(t: i32) -> (f64, f64) {
    (1.0 - BETA1.powi(t), (1.0 - BETA2.powi(t)).sqrt())
}

/// One Adam step (number `t`, from 1) on a stacked parameter whose rows of `row_len`
/// elements belong to label `row % Ka` (true for both `[D, Ka, C]` weights and `[Ka, C]`
/// biases with `row_len = C`).
pub(crate) fn adam_step(
    p: &mut Tensor,
    g: &Tensor,
    st: &mut Moments,
    lr: &LabelLr,
    t: i32,
    row_len: usize,
    eps: f64,
) -> Result<()> {
    let (bc1, bc2_sqrt) = bias_corrections(t);
    let fused_ok = p.device() == Device::Cpu
        && [&*p, g, &st.m, &st.v]
            .iter()
            .all(|t| t.is_contiguous() && t.kind() == p.kind() && t.numel() == p.numel());
    let neg_steps: Vec<f64> = lr.host.iter().map(|l| -l / bc1).collect();
    let neg_steps = &neg_steps;
    let ka = neg_steps.len();
    match p.kind() {
        Kind::Float if fused_ok => {
            // SAFETY: the four tensors are distinct contiguous CPU allocations of the same
            // kind and length, owned by the caller and not touched by libtorch meanwhile.
            unsafe {
                fused_f32(
                    slice_mut(p),
                    slice(g),
                    slice_mut(&mut st.m),
                    slice_mut(&mut st.v),
                    row_len,
                    ka,
                    neg_steps,
                    bc2_sqrt,
                    eps,
                )
            }
        }
        Kind::Double if fused_ok => unsafe {
            // SAFETY: as above.
            fused_f64(
                slice_mut(p),
                slice(g),
                slice_mut(&mut st.m),
                slice_mut(&mut st.v),
                row_len,
                ka,
                neg_steps,
                bc2_sqrt,
                eps,
            )
        },
        _ => {
            let s = lr.device.f_mul_scalar(-1.0 / bc1)?;
            return adam_step_tensor(p, g, st, &s, row_len, bc2_sqrt, eps);
        }
    }
    Ok(())
}

/// # Safety
/// `t` must be a contiguous CPU tensor whose element type is `T`, and no other live slice
/// or tensor view may alias its storage while the slice lives.
unsafe fn slice_mut<T>(t: &mut Tensor) -> &mut [T] {
    std::slice::from_raw_parts_mut(t.data_ptr() as *mut T, t.numel())
}

/// # Safety
/// `t` must be a contiguous CPU tensor whose element type is `T`, not written while the
/// slice lives.
unsafe fn slice<T>(t: &Tensor) -> &[T] {
    std::slice::from_raw_parts(t.data_ptr() as *const T, t.numel())
}

/// Elements per thread below which the fused step stays on one thread: right after a GEMM,
/// libtorch's OpenMP workers still spin, and on small tensors an extra thread loses more to
/// that contention than it gains (measured: 2M floats on 2 cores, 1.5 ms on one thread vs
/// 1.75 ms on two).
const MIN_ELEMS_PER_THREAD: usize = 4 << 20;

/// Threads for a fused step over `n` elements: one per `MIN_ELEMS_PER_THREAD`, at most
/// libtorch's intra-op thread count.
fn fused_threads(n: usize) -> usize {
    (n / MIN_ELEMS_PER_THREAD).clamp(1, tch::get_num_threads().max(1) as usize)
}

macro_rules! fused_impl {
    ($name:ident, $t:ty) => {
        #[allow(clippy::too_many_arguments)]
        fn $name(
            p: &mut [$t],
            g: &[$t],
            m: &mut [$t],
            v: &mut [$t],
            row_len: usize,
            ka: usize,
            neg_steps: &[f64],
            bc2_sqrt: f64,
            eps: f64,
        ) {
            let rows = p.len() / row_len;
            let threads = fused_threads(p.len()).min(rows.max(1));
            let per = rows.div_ceil(threads) * row_len;
            let (b1, b2) = (BETA1 as $t, BETA2 as $t);
            let (c1, c2) = ((1.0 - BETA1) as $t, (1.0 - BETA2) as $t);
            let (bc2s, eps) = (bc2_sqrt as $t, eps as $t);
            let steps: Vec<$t> = neg_steps.iter().map(|&s| s as $t).collect();
            let steps = &steps;
            let run = move |row0: usize, p: &mut [$t], g: &[$t], m: &mut [$t], v: &mut [$t]| {
                let chunks = p
                    .chunks_mut(row_len)
                    .zip(g.chunks(row_len))
                    .zip(m.chunks_mut(row_len))
                    .zip(v.chunks_mut(row_len));
                for (r, (((pr, gr), mr), vr)) in chunks.enumerate() {
                    let s = steps[(row0 + r) % ka];
                    for (((pi, &gi), mi), vi) in
                        pr.iter_mut().zip(gr).zip(mr.iter_mut()).zip(vr.iter_mut())
                    {
                        let mn = b1 * *mi + c1 * gi;
                        let vn = b2 * *vi + c2 * gi * gi;
                        *mi = mn;
                        *vi = vn;
                        *pi += s * (mn / (vn.sqrt() / bc2s + eps));
                    }
                }
            };
            std::thread::scope(|scope| {
                let parts = p
                    .chunks_mut(per)
                    .zip(g.chunks(per))
                    .zip(m.chunks_mut(per))
                    .zip(v.chunks_mut(per))
                    .enumerate();
                for (i, (((pc, gc), mc), vc)) in parts {
                    let row0 = i * per / row_len;
                    if i + 1 == threads {
                        run(row0, pc, gc, mc, vc);
                    } else {
                        scope.spawn(move || run(row0, pc, gc, mc, vc));
                    }
                }
            });
        }
    };
}

fused_impl!(fused_f32, f32);
fused_impl!(fused_f64, f64);

/// The same step with libtorch tensor ops (any device); `neg_steps` `[Ka]` on `p`'s device.
fn adam_step_tensor(
    p: &mut Tensor,
    g: &Tensor,
    st: &mut Moments,
    neg_steps: &Tensor,
    row_len: usize,
    bc2_sqrt: f64,
    eps: f64,
) -> Result<()> {
    let ka = neg_steps.size()[0];
    let shape = [-1, ka, row_len as i64];
    let s = neg_steps.f_view([1, ka, 1])?;
    let _ = st.m.f_mul_scalar_(BETA1)?;
    let _ = st.m.f_add_(&g.f_mul_scalar(1.0 - BETA1)?)?;
    let _ = st.v.f_mul_scalar_(BETA2)?;
    let _ = st.v.f_addcmul_(&g.f_mul_scalar(1.0 - BETA2)?, g)?;
    let denom = st.v.f_sqrt()?.f_div_scalar_(bc2_sqrt)?.f_add_scalar_(eps)?;
    let upd = st.m.f_div(&denom)?.f_view(shape)?.f_mul(&s)?;
    let _ = p.f_add_(&upd.f_view_as(p)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fused_matches_tensor_ops() {
        // [D=3, Ka=2, C=4] weight-like tensor with per-label steps; both paths, 3 steps.
        for kind in [Kind::Float, Kind::Double] {
            let opts = (kind, Device::Cpu);
            let p0 = Tensor::randn([3, 2, 4], opts);
            let (mut pa, mut pb) = (p0.copy(), p0.copy());
            let mut sa = Moments::zeros_like(&p0).unwrap();
            let mut sb = Moments::zeros_like(&p0).unwrap();
            let lr = LabelLr::new(vec![1e-2, 3e-3], kind, Device::Cpu).unwrap();
            for t in 1..=3 {
                let g = Tensor::randn([3, 2, 4], opts);
                let (bc1, bc2s) = bias_corrections(t);
                let steps = Tensor::from_slice(&[-1e-2 / bc1, -3e-3 / bc1]).to_kind(kind);
                adam_step(&mut pa, &g, &mut sa, &lr, t, 4, 1e-5).unwrap();
                adam_step_tensor(&mut pb, &g, &mut sb, &steps, 4, bc2s, 1e-5).unwrap();
            }
            let diff = (&pa - &pb).abs().max().double_value(&[]);
            assert!(diff < 1e-6, "{kind:?}: {diff}");
            assert!((&pa - &p0).abs().max().double_value(&[]) > 1e-3);
        }
    }
}
