//! Adam (PyTorch's formula, no weight decay, no amsgrad) with state the trainer can save
//! and restore exactly: libtorch's own optimizer state is not reachable from tch, and
//! resuming must reproduce an uninterrupted run bit for bit.
//!
//! On the CPU the update is one fused pass over `(param, grad, m, v)` per tensor, split
//! across threads (libtorch's Adam makes about eight passes); elsewhere it uses tensor ops.

use tch::{Device, Kind, Tensor};

use crate::error::{TorchCtx, TrainError};

/// Parameters below this many elements are updated on the calling thread.
const PARALLEL_MIN: usize = 1 << 16;

/// Adam with `beta1 = 0.9`, `beta2 = 0.999`:
/// `m = b1 m + (1-b1) g`, `v = b2 v + (1-b2) g^2`,
/// `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
#[derive(Debug)]
pub struct Adam {
    lr: f64,
    eps: f64,
    beta1: f64,
    beta2: f64,
    step: u64,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    threads: usize,
}

impl Adam {
    /// Zero state for `params` (one moment pair per parameter, same order).
    pub fn new(params: &[Tensor], lr: f64, eps: f64) -> Result<Self, TrainError> {
        let zeros = |p: &Tensor| p.f_zeros_like().ctx("allocating Adam state");
        let m = params.iter().map(zeros).collect::<Result<Vec<_>, _>>()?;
        let v = params.iter().map(zeros).collect::<Result<Vec<_>, _>>()?;
        let threads = tch::get_num_threads().max(1) as usize;
        Ok(Adam {
            lr,
            eps,
            beta1: 0.9,
            beta2: 0.999,
            step: 0,
            m,
            v,
            threads,
        })
    }

    /// Steps taken so far (`t`).
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The moments, `(m, v)` per parameter.
    pub fn moments(&self) -> impl Iterator<Item = (&Tensor, &Tensor)> {
        self.m.iter().zip(self.v.iter())
    }

    /// Restores the state saved from [`Adam::steps`] and [`Adam::moments`].
    pub fn restore(&mut self, step: u64, moments: Vec<(Tensor, Tensor)>) -> Result<(), TrainError> {
        if moments.len() != self.m.len() {
            return Err(TrainError::Config {
                field: "adam state",
                reason: format!(
                    "{} moment pairs for {} parameters",
                    moments.len(),
                    self.m.len()
                ),
            });
        }
        tch::no_grad(|| -> Result<(), TrainError> {
            for ((m, v), (sm, sv)) in self.m.iter_mut().zip(self.v.iter_mut()).zip(moments) {
                m.f_copy_(&sm).ctx("restoring Adam state")?;
                v.f_copy_(&sv).ctx("restoring Adam state")?;
            }
            Ok(())
        })?;
        self.step = step;
        Ok(())
    }

    /// One update of `params` with `grads` (same order as at construction). A parameter
    /// whose gradient is undefined (unused in the graph) is left alone, as PyTorch does.
    pub fn step(&mut self, params: &[Tensor], grads: &[Tensor]) -> Result<(), TrainError> {
        self.step += 1;
        let t = self.step as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        let k = Coeffs {
            beta1: self.beta1 as f32,
            beta2: self.beta2 as f32,
            step_size: (self.lr / bc1) as f32,
            bc2_sqrt: bc2.sqrt() as f32,
            eps: self.eps as f32,
        };
        tch::no_grad(|| -> Result<(), TrainError> {
            for (i, (p, g)) in params.iter().zip(grads).enumerate() {
                if !g.defined() {
                    continue;
                }
                let (m, v) = (&self.m[i], &self.v[i]);
                if fused_ok(p, g, m, v) {
                    // SAFETY: `fused_ok` checked that the four tensors are distinct, dense,
                    // contiguous f32 CPU tensors of the same length; nothing else reads or
                    // writes them during the update (no autograd graph is alive here).
                    unsafe { fused_update(p, g, m, v, k, self.threads) };
                } else {
                    tensor_update(p, g, m, v, k)?;
                }
            }
            Ok(())
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Coeffs {
    beta1: f32,
    beta2: f32,
    step_size: f32,
    bc2_sqrt: f32,
    eps: f32,
}

fn fused_ok(p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor) -> bool {
    let n = p.numel();
    [p, g, m, v].iter().all(|t| {
        t.device() == Device::Cpu && t.kind() == Kind::Float && t.is_contiguous() && t.numel() == n
    }) && {
        let ptrs = [p.data_ptr(), g.data_ptr(), m.data_ptr(), v.data_ptr()];
        (0..4).all(|i| (i + 1..4).all(|j| ptrs[i] != ptrs[j]))
    }
}

#[inline]
fn update_chunk(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], k: Coeffs) {
    let (one_b1, one_b2) = (1.0 - k.beta1, 1.0 - k.beta2);
    for i in 0..p.len() {
        let gi = g[i];
        // PyTorch: m.lerp_(g, 1 - b1) == m + (1 - b1) (g - m).
        let mi = m[i] + one_b1 * (gi - m[i]);
        let vi = v[i] * k.beta2 + one_b2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= k.step_size * mi / (vi.sqrt() / k.bc2_sqrt + k.eps);
    }
}

/// # Safety
/// See the call site: four distinct contiguous f32 CPU tensors of equal length.
unsafe fn fused_update(p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, k: Coeffs, threads: usize) {
    let n = p.numel();
    let ps = std::slice::from_raw_parts_mut(p.data_ptr() as *mut f32, n);
    let gs = std::slice::from_raw_parts(g.data_ptr() as *const f32, n);
    let ms = std::slice::from_raw_parts_mut(m.data_ptr() as *mut f32, n);
    let vs = std::slice::from_raw_parts_mut(v.data_ptr() as *mut f32, n);
    if n < PARALLEL_MIN || threads <= 1 {
        update_chunk(ps, gs, ms, vs, k);
        return;
    }
    let chunk = n.div_ceil(threads);
    std::thread::scope(|s| {
        let parts = ps
            .chunks_mut(chunk)
            .zip(gs.chunks(chunk))
            .zip(ms.chunks_mut(chunk))
            .zip(vs.chunks_mut(chunk));
        for (((p, g), m), v) in parts {
            s.spawn(move || update_chunk(p, g, m, v, k));
        }
    });
}

fn tensor_update(
    p: &Tensor,
    g: &Tensor,
    m: &Tensor,
    v: &Tensor,
    k: Coeffs,
) -> Result<(), TrainError> {
    let ctx = "updating parameters (Adam)";
    let (mut p, mut m, mut v) = (p.shallow_clone(), m.shallow_clone(), v.shallow_clone());
    let _ = m.f_lerp_(g, 1.0 - k.beta1 as f64).ctx(ctx)?;
    let _ = v.f_mul_scalar_(k.beta2 as f64).ctx(ctx)?;
    let _ = v
        .f_add_(
            &g.f_square()
                .ctx(ctx)?
                .f_mul_scalar(1.0 - k.beta2 as f64)
                .ctx(ctx)?,
        )
        .ctx(ctx)?;
    let denom = v
        .f_sqrt()
        .ctx(ctx)?
        .f_div_scalar(k.bc2_sqrt as f64)
        .ctx(ctx)?
        .f_add_scalar(k.eps as f64)
        .ctx(ctx)?;
    let upd = m
        .f_div(&denom)
        .ctx(ctx)?
        .f_mul_scalar(k.step_size as f64)
        .ctx(ctx)?;
    let _ = p.f_sub_(&upd).ctx(ctx)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fused CPU update and the tensor-op update agree with each other and with a
    /// hand-computed first step: with m = v = 0, t = 1, the first update is
    /// `-lr * g / (|g| + eps)` (bias corrections cancel), i.e. about `-lr * sign(g)`.
    #[test]
    fn fused_and_tensor_updates_agree_with_the_formula() {
        tch::manual_seed(0);
        let p0 = Tensor::randn([300_000], (Kind::Float, Device::Cpu));
        let g = Tensor::randn([300_000], (Kind::Float, Device::Cpu));
        let pa = p0.copy();
        let mut a = Adam::new(&[pa.shallow_clone()], 1e-2, 1e-5).unwrap();
        a.threads = 3;
        a.step(&[pa.shallow_clone()], &[g.shallow_clone()]).unwrap();
        let expected = &p0 - (&g / (g.abs() + 1e-5)) * 1e-2;
        assert!(pa.allclose(&expected, 1e-5, 1e-6, false));

        // Tensor path on a non-contiguous view of the same numbers, several steps.
        let pb_store = p0.view([1000, 300]).tr().contiguous().tr(); // non-contiguous
        let gb = g.view([1000, 300]);
        let pc = p0.view([1000, 300]).copy();
        let mut b = Adam::new(&[pb_store.shallow_clone()], 1e-2, 1e-5).unwrap();
        let mut c = Adam::new(&[pc.shallow_clone()], 1e-2, 1e-5).unwrap();
        for _ in 0..3 {
            b.step(&[pb_store.shallow_clone()], &[gb.shallow_clone()])
                .unwrap();
            c.step(&[pc.shallow_clone()], &[gb.shallow_clone()])
                .unwrap();
        }
        assert!(pb_store.allclose(&pc, 1e-5, 1e-6, false));
    }

    #[test]
    fn undefined_gradients_leave_the_parameter_alone() {
        let p = Tensor::ones([4], (Kind::Float, Device::Cpu));
        let mut a = Adam::new(&[p.shallow_clone()], 1e-2, 1e-5).unwrap();
        a.step(&[p.shallow_clone()], &[Tensor::new()]).unwrap();
        assert_eq!(p.sum(Kind::Float).double_value(&[]), 4.0);
    }
}
