//! Adam (PyTorch's formula, no weight decay, no amsgrad) with state a caller can save and
//! restore exactly (libtorch's own optimizer state is not reachable from tch, and a
//! resumed run must reproduce an uninterrupted one bit for bit), and optionally one
//! learning rate per row group (the probes' per-label rates over stacked parameters).
//!
//! On the CPU the update is one fused pass over `(param, grad, m, v)` per tensor, f32 or
//! f64, split across threads (libtorch's Adam makes about eight elementwise passes, and
//! the moments of large parameters do not fit in cache); elsewhere it uses tensor ops.

use std::ops::{Add, Div, Mul, Sub, SubAssign};

use tch::{Device, Kind, Tensor};

use crate::error::{OptimError, TorchCtx};

/// Adam β1 (PyTorch's default).
pub const BETA1: f64 = 0.9;
/// Adam β2 (PyTorch's default).
pub const BETA2: f64 = 0.999;

/// Elements per thread of the fused CPU step: a step over `n` elements uses
/// `n / MIN_ELEMS_PER_THREAD` threads (at least one, at most libtorch's intra-op count).
///
/// The update is memory-bound, and right after a GEMM libtorch's OpenMP workers still
/// spin, so an extra thread pays off only on large tensors. Measured on the 2-core build
/// machine (AMD EPYC Zen 5, load average 1.0) with
/// `cargo run --release -p dimua-optim --example adam_threads` (f32, median of 15 steps;
/// "after GEMM": a 512x512 matmul right before each step), ms, two runs:
///
/// | elements | 1 thread | 2 threads | 1 thread after GEMM | 2 threads after GEMM |
/// |---|---|---|---|---|
/// | 64K | 0.055 | 0.15-0.16 | 0.06 | 0.15-0.32 |
/// | 256K | 0.21 | 0.24-0.33 | 0.21-0.24 | 0.32-0.37 |
/// | 1M | 0.87 | 0.64-0.97 | 0.89-0.90 | 0.98-1.12 |
/// | 4M | 3.5-5.0 | 1.8-2.2 | 3.8-4.4 | 2.9-4.6 |
/// | 16M | 22.7-25.5 | 13.2-13.6 | 23.1-25.1 | 16.3-20.5 |
///
/// A second thread loses below 1M elements, is a tie at 1M and wins from 4M on (up to 1.9x
/// alone, less right after a GEMM). Hence one thread per 2M elements (4M: two threads).
/// An earlier measurement on the same machine under load (load average 4-5) saw no gain
/// even at 4M; the split never changes the result (each element's update is independent).
pub const MIN_ELEMS_PER_THREAD: usize = 2 << 20;

/// The learning rate of a step: one for every element, or one per row group.
#[derive(Debug)]
pub enum LearningRate {
    /// The same rate for every element of every parameter.
    Uniform(f64),
    /// Rows of `row_len` elements; row `r` of every parameter uses rate `r % groups`.
    PerGroup(GroupLrs),
}

/// Per-group learning rates for parameters laid out as `[.., groups, row_len]` (the
/// probes' `[D, Ka, C]` weights and `[Ka, C]` biases, one group per label): element `i`
/// belongs to group `(i / row_len) % groups`. Kept on the host (fused CPU step) and on the
/// parameters' device (tensor step, so no host-to-device copy happens per step); build it
/// once per change of rates.
#[derive(Debug)]
pub struct GroupLrs {
    host: Vec<f64>,
    device: Tensor,
    row_len: usize,
}

impl GroupLrs {
    /// `lrs[k]` = learning rate of group `k`; `kind` and `device` are the parameters'.
    pub fn new(
        lrs: Vec<f64>,
        row_len: usize,
        kind: Kind,
        device: Device,
    ) -> Result<Self, OptimError> {
        let ctx = "building per-group learning rates";
        let t = Tensor::f_from_slice(&lrs)
            .and_then(|t| t.f_to_kind(kind))
            .and_then(|t| t.f_to_device(device))
            .ctx(ctx)?;
        Ok(GroupLrs {
            host: lrs,
            device: t,
            row_len: row_len.max(1),
        })
    }

    /// The number of groups.
    pub fn groups(&self) -> usize {
        self.host.len()
    }
}

/// Adam with `beta1 = 0.9`, `beta2 = 0.999`, as PyTorch computes it:
/// `m = m.lerp(g, 1-b1)`, `v = b2 v + (1-b2) g^2`,
/// `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
#[derive(Debug)]
pub struct Adam {
    lr: LearningRate,
    eps: f64,
    step: u64,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    max_threads: usize,
    /// [`MIN_ELEMS_PER_THREAD`] unless [`Adam::set_threading`] changed it.
    min_elems_per_thread: usize,
}

impl Adam {
    /// Zero state for `params` (one moment pair per parameter, same order) and one
    /// learning rate for all of them.
    pub fn new(params: &[Tensor], lr: f64, eps: f64) -> Result<Self, OptimError> {
        // Before any threaded step: see `warmup` (the update's `sqrt` is one of the calls).
        crate::warmup::warm_up_vector_math();
        let zeros = |p: &Tensor| p.f_zeros_like().ctx("allocating Adam state");
        let m = params.iter().map(zeros).collect::<Result<Vec<_>, _>>()?;
        let v = params.iter().map(zeros).collect::<Result<Vec<_>, _>>()?;
        Ok(Adam {
            lr: LearningRate::Uniform(lr),
            eps,
            step: 0,
            m,
            v,
            max_threads: tch::get_num_threads().max(1) as usize,
            min_elems_per_thread: MIN_ELEMS_PER_THREAD,
        })
    }

    /// Overrides the fused CPU step's threading rule: at most `max_threads` threads, one per
    /// `min_elems_per_thread` elements (defaults: libtorch's intra-op count and
    /// [`MIN_ELEMS_PER_THREAD`]). For measuring the rule (`examples/adam_threads.rs`) and for
    /// tests of the threaded path; results do not depend on it.
    pub fn set_threading(&mut self, max_threads: usize, min_elems_per_thread: usize) {
        self.max_threads = max_threads.max(1);
        self.min_elems_per_thread = min_elems_per_thread.max(1);
    }

    /// Sets the learning rate(s) of the following steps.
    pub fn set_lr(&mut self, lr: LearningRate) {
        self.lr = lr;
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
    pub fn restore(&mut self, step: u64, moments: Vec<(Tensor, Tensor)>) -> Result<(), OptimError> {
        if moments.len() != self.m.len() {
            return Err(OptimError::StateMismatch {
                moments: moments.len(),
                params: self.m.len(),
            });
        }
        tch::no_grad(|| -> Result<(), OptimError> {
            for ((m, v), (sm, sv)) in self.m.iter_mut().zip(self.v.iter_mut()).zip(moments) {
                m.f_copy_(&sm).ctx("restoring Adam state")?;
                v.f_copy_(&sv).ctx("restoring Adam state")?;
            }
            Ok(())
        })?;
        self.step = step;
        Ok(())
    }

    /// Keeps only the entries `idx` along `dim` of parameter `param`'s moments (a fresh
    /// contiguous copy), for a caller that drops the same entries of the parameter (the
    /// probes drop stopped labels).
    pub fn select(&mut self, param: usize, dim: i64, idx: &Tensor) -> Result<(), OptimError> {
        let ctx = "selecting Adam state";
        self.m[param] = self.m[param].f_index_select(dim, idx).ctx(ctx)?;
        self.v[param] = self.v[param].f_index_select(dim, idx).ctx(ctx)?;
        Ok(())
    }

    /// One update of `params` with `grads` (same order as at construction). A parameter
    /// whose gradient is undefined (unused in the graph) is left alone, as PyTorch does.
    pub fn step(&mut self, params: &[Tensor], grads: &[Tensor]) -> Result<(), OptimError> {
        self.step += 1;
        let t = self.step as i32;
        let bc1 = 1.0 - BETA1.powi(t);
        let bc2_sqrt = (1.0 - BETA2.powi(t)).sqrt();
        let lrs: &[f64] = match &self.lr {
            LearningRate::Uniform(lr) => std::slice::from_ref(lr),
            LearningRate::PerGroup(g) => &g.host,
        };
        let step_sizes: Vec<f64> = lrs.iter().map(|lr| lr / bc1).collect();
        let row_len = match &self.lr {
            LearningRate::Uniform(_) => 1,
            LearningRate::PerGroup(g) => g.row_len,
        };
        let (eps, max_threads, per_thread) =
            (self.eps, self.max_threads, self.min_elems_per_thread);
        tch::no_grad(|| -> Result<(), OptimError> {
            for (i, (p, g)) in params.iter().zip(grads).enumerate() {
                if !g.defined() {
                    continue;
                }
                let (m, v) = (&self.m[i], &self.v[i]);
                let n = p.numel();
                if n % (row_len * step_sizes.len()) != 0 {
                    return Err(OptimError::Layout {
                        numel: n,
                        row_len,
                        groups: step_sizes.len(),
                    });
                }
                let layout = Layout {
                    row_len,
                    threads: (n / per_thread).clamp(1, max_threads.max(1)),
                };
                match fused_kind(p, g, m, v) {
                    // SAFETY: `fused_kind` checked that the four tensors are distinct,
                    // dense, contiguous CPU tensors of this element type and the same
                    // length; nothing else reads or writes them during the update (no
                    // autograd graph is alive here).
                    Some(Kind::Float) => unsafe {
                        let k = Coeffs::<f32>::new(&step_sizes, bc2_sqrt, eps);
                        fused_update(p, g, m, v, &k, layout);
                    },
                    Some(_) => unsafe {
                        let k = Coeffs::<f64>::new(&step_sizes, bc2_sqrt, eps);
                        fused_update(p, g, m, v, &k, layout);
                    },
                    None => {
                        let ctx = "updating parameters (Adam)";
                        let steps = match &self.lr {
                            LearningRate::Uniform(_) => None,
                            LearningRate::PerGroup(g) => Some(g.device.f_div_scalar(bc1).ctx(ctx)?),
                        };
                        if p.kind() == Kind::Double {
                            let k = Coeffs::<f64>::new(&step_sizes, bc2_sqrt, eps);
                            tensor_update(p, g, m, v, &k, steps.as_ref(), row_len)?;
                        } else {
                            let k = Coeffs::<f32>::new(&step_sizes, bc2_sqrt, eps);
                            tensor_update(p, g, m, v, &k, steps.as_ref(), row_len)?;
                        }
                    }
                }
            }
            Ok(())
        })
    }
}

/// An element type of the fused step (f32 or f64).
trait Elem:
    Copy
    + Send
    + Sync
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + SubAssign
{
    const ONE: Self;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    fn sqrt(self) -> Self;
}

impl Elem for f32 {
    const ONE: Self = 1.0;
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
}

impl Elem for f64 {
    const ONE: Self = 1.0;
    fn from_f64(x: f64) -> Self {
        x
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
}

/// The step's constants in the element type. `1 - β` is computed in the element type (as
/// PyTorch computes it on an f32 tensor); the bias corrections in f64, then rounded.
#[derive(Debug, Clone)]
struct Coeffs<T> {
    beta2: T,
    one_b1: T,
    one_b2: T,
    /// `lr_k / (1 - β1^t)` per group.
    step_sizes: Vec<T>,
    bc2_sqrt: T,
    eps: T,
}

impl<T: Elem> Coeffs<T> {
    fn new(step_sizes: &[f64], bc2_sqrt: f64, eps: f64) -> Self {
        let (beta1, beta2) = (T::from_f64(BETA1), T::from_f64(BETA2));
        Coeffs {
            beta2,
            one_b1: T::ONE - beta1,
            one_b2: T::ONE - beta2,
            step_sizes: step_sizes.iter().map(|&s| T::from_f64(s)).collect(),
            bc2_sqrt: T::from_f64(bc2_sqrt),
            eps: T::from_f64(eps),
        }
    }
}

/// How a parameter is split: rows of `row_len` (group = row % groups) and threads.
#[derive(Debug, Clone, Copy)]
struct Layout {
    row_len: usize,
    threads: usize,
}

/// The element type of the fused CPU path for these four tensors, if it applies: distinct,
/// contiguous CPU tensors of the same kind (f32 or f64) and length.
fn fused_kind(p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor) -> Option<Kind> {
    let (n, kind) = (p.numel(), p.kind());
    let same = [p, g, m, v].iter().all(|t| {
        t.device() == Device::Cpu && t.kind() == kind && t.is_contiguous() && t.numel() == n
    });
    let ptrs = [p.data_ptr(), g.data_ptr(), m.data_ptr(), v.data_ptr()];
    let distinct = (0..4).all(|i| (i + 1..4).all(|j| ptrs[i] != ptrs[j]));
    (same && distinct && matches!(kind, Kind::Float | Kind::Double)).then_some(kind)
}

/// The update of elements `[first, first + p.len())` of a parameter.
#[inline]
fn update_span<T: Elem>(
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
    first: usize,
    k: &Coeffs<T>,
    row_len: usize,
) {
    let groups = k.step_sizes.len();
    let update = |p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], s: T| {
        for i in 0..p.len() {
            let gi = g[i];
            // PyTorch: m.lerp_(g, 1 - b1) == m + (1 - b1) (g - m).
            let mi = m[i] + k.one_b1 * (gi - m[i]);
            let vi = v[i] * k.beta2 + k.one_b2 * gi * gi;
            m[i] = mi;
            v[i] = vi;
            p[i] -= s * mi / (vi.sqrt() / k.bc2_sqrt + k.eps);
        }
    };
    if groups == 1 {
        update(p, g, m, v, k.step_sizes[0]);
        return;
    }
    // Spans start on row boundaries when there are several groups.
    let row0 = first / row_len;
    let rows = p
        .chunks_mut(row_len)
        .zip(g.chunks(row_len))
        .zip(m.chunks_mut(row_len))
        .zip(v.chunks_mut(row_len));
    for (r, (((p, g), m), v)) in rows.enumerate() {
        update(p, g, m, v, k.step_sizes[(row0 + r) % groups]);
    }
}

/// # Safety
/// See the call site: four distinct contiguous CPU tensors of element type `T` and equal
/// length.
unsafe fn fused_update<T: Elem>(
    p: &Tensor,
    g: &Tensor,
    m: &Tensor,
    v: &Tensor,
    k: &Coeffs<T>,
    layout: Layout,
) {
    let n = p.numel();
    let ps = std::slice::from_raw_parts_mut(p.data_ptr() as *mut T, n);
    let gs = std::slice::from_raw_parts(g.data_ptr() as *const T, n);
    let ms = std::slice::from_raw_parts_mut(m.data_ptr() as *mut T, n);
    let vs = std::slice::from_raw_parts_mut(v.data_ptr() as *mut T, n);
    // Split on row boundaries when groups differ, anywhere otherwise.
    let unit = if k.step_sizes.len() == 1 {
        1
    } else {
        layout.row_len
    };
    let units = n / unit;
    let threads = layout.threads.min(units.max(1));
    if threads <= 1 {
        update_span(ps, gs, ms, vs, 0, k, layout.row_len);
        return;
    }
    let per = units.div_ceil(threads) * unit;
    std::thread::scope(|s| {
        let parts = ps
            .chunks_mut(per)
            .zip(gs.chunks(per))
            .zip(ms.chunks_mut(per))
            .zip(vs.chunks_mut(per))
            .enumerate();
        for (i, (((p, g), m), v)) in parts {
            let first = i * per;
            if first + p.len() == n {
                // The last span runs on the calling thread.
                update_span(p, g, m, v, first, k, layout.row_len);
            } else {
                s.spawn(move || update_span(p, g, m, v, first, k, layout.row_len));
            }
        }
    });
}

/// The same update with libtorch tensor ops (any device, any layout). `group_steps`:
/// the per-group step sizes `lr_k / (1 - β1^t)` on the parameter's device (`None`: the
/// uniform rate of `k`).
fn tensor_update<T: Elem>(
    p: &Tensor,
    g: &Tensor,
    m: &Tensor,
    v: &Tensor,
    k: &Coeffs<T>,
    group_steps: Option<&Tensor>,
    row_len: usize,
) -> Result<(), OptimError> {
    let ctx = "updating parameters (Adam)";
    let (mut p, mut m, mut v) = (p.shallow_clone(), m.shallow_clone(), v.shallow_clone());
    let _ = m.f_lerp_(g, k.one_b1.to_f64()).ctx(ctx)?;
    let _ = v.f_mul_scalar_(k.beta2.to_f64()).ctx(ctx)?;
    let _ = v
        .f_add_(
            &g.f_square()
                .ctx(ctx)?
                .f_mul_scalar(k.one_b2.to_f64())
                .ctx(ctx)?,
        )
        .ctx(ctx)?;
    let denom = v
        .f_sqrt()
        .ctx(ctx)?
        .f_div_scalar(k.bc2_sqrt.to_f64())
        .ctx(ctx)?
        .f_add_scalar(k.eps.to_f64())
        .ctx(ctx)?;
    let ratio = m.f_div(&denom).ctx(ctx)?;
    let upd = match group_steps {
        None => ratio.f_mul_scalar(k.step_sizes[0].to_f64()).ctx(ctx)?,
        Some(s) => {
            let groups = s.size()[0];
            ratio
                .f_reshape([-1, groups, row_len as i64])
                .and_then(|r| r.f_mul(&s.f_view([1, groups, 1])?))
                .and_then(|u| u.f_view_as(&p))
                .ctx(ctx)?
        }
    };
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
        a.set_threading(3, 1 << 16);
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

    /// Deterministic test data: splitmix64 bits mapped to [-2, 2).
    fn data(n: usize, salt: u64) -> Tensor {
        let mut s = salt;
        let v: Vec<f32> = (0..n)
            .map(|_| {
                s = dimua_core::seed::splitmix64(s);
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
            })
            .collect();
        Tensor::from_slice(&v)
    }

    /// 64-bit FNV-1a of the f32 bits, in logical order.
    fn bits_hash(t: &Tensor) -> u64 {
        let v: Vec<f32> = Vec::try_from(&t.contiguous().view([-1])).unwrap();
        v.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, x| {
            (h ^ u64::from(x.to_bits())).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }

    /// The fused f32 step is bit-identical to the trainer's Adam it replaced
    /// (`crates/train/src/adam.rs` before dimua-optim; hashes of its parameters and moments
    /// after 6 steps, lr 3e-4, eps 1e-5, recorded before it was deleted). Its tensor-op path
    /// was compared bit for bit with the old one then as well, but is not pinned here: it
    /// depends on libtorch's CPU kernel dispatch.
    #[test]
    fn fused_step_matches_the_old_trainer_adam_bit_for_bit() {
        let pins = [
            (
                77,
                [
                    0x4e8f_c846_9539_31a0,
                    0xc89b_11e7_7b14_7b4c,
                    0xcd45_1557_766a_eb08,
                ],
            ),
            (
                70_000,
                [
                    0xed1b_0c6c_e912_0f45,
                    0x5bfb_30bf_4b70_3b86,
                    0xa46a_472e_cbf1_da8c,
                ],
            ),
            (
                700_021,
                [
                    0x3ec8_4053_c6ce_57df,
                    0x0a22_a52e_88cc_2101,
                    0x2daa_e5e4_fbc0_d34d,
                ],
            ),
        ];
        for (n, expected) in pins {
            for threads in [1, 3] {
                let shape = [n as i64 / 7, 7];
                let p = data(n, 1).view(shape);
                let mut a = Adam::new(&[p.shallow_clone()], 3e-4, 1e-5).unwrap();
                a.set_threading(threads, 1 << 16);
                for step in 0..6 {
                    let g = data(n, 100 + step).view(shape);
                    a.step(&[p.shallow_clone()], &[g]).unwrap();
                }
                let (m, v) = a.moments().next().unwrap();
                let got = [bits_hash(&p), bits_hash(m), bits_hash(v)];
                assert_eq!(got, expected, "n = {n}, {threads} threads");
            }
        }
    }

    #[test]
    fn undefined_gradients_leave_the_parameter_alone() {
        let p = Tensor::ones([4], (Kind::Float, Device::Cpu));
        let mut a = Adam::new(&[p.shallow_clone()], 1e-2, 1e-5).unwrap();
        a.step(&[p.shallow_clone()], &[Tensor::new()]).unwrap();
        assert_eq!(p.sum(Kind::Float).double_value(&[]), 4.0);
    }

    /// Per-group rates: `[D=3, Ka=2, C=4]` weights and `[Ka=2, C=4]` biases, f32 and f64,
    /// fused (one and several threads) vs tensor ops vs a uniform-rate Adam per group.
    #[test]
    fn per_group_rates_fused_tensor_and_uniform_agree() {
        for kind in [Kind::Float, Kind::Double] {
            let opts = (kind, Device::Cpu);
            tch::manual_seed(1);
            let (w0, b0) = (Tensor::randn([3, 2, 4], opts), Tensor::randn([2, 4], opts));
            let grads: Vec<(Tensor, Tensor)> = (0..3)
                .map(|_| (Tensor::randn([3, 2, 4], opts), Tensor::randn([2, 4], opts)))
                .collect();
            let lrs = vec![1e-2, 3e-3];
            let run = |threads: usize, non_contiguous: bool| {
                let (w, b) = (w0.copy(), b0.copy());
                let mut a = Adam::new(&[w.shallow_clone(), b.shallow_clone()], 0.0, 1e-5).unwrap();
                a.set_threading(threads, 1);
                a.set_lr(LearningRate::PerGroup(
                    GroupLrs::new(lrs.clone(), 4, kind, Device::Cpu).unwrap(),
                ));
                for (gw, gb) in &grads {
                    // A non-contiguous gradient forces the tensor-op path.
                    let gw = if non_contiguous {
                        gw.transpose(0, 2).contiguous().transpose(0, 2)
                    } else {
                        gw.shallow_clone()
                    };
                    a.step(
                        &[w.shallow_clone(), b.shallow_clone()],
                        &[gw, gb.shallow_clone()],
                    )
                    .unwrap();
                }
                (w, b)
            };
            let (wa, ba) = run(1, false);
            let (wb, bb) = run(4, false);
            let (wc, _) = run(1, true);
            assert!(
                wa.equal(&wb) && ba.equal(&bb),
                "{kind:?}: threads changed the result"
            );
            let diff = (&wa - &wc).abs().max().double_value(&[]);
            assert!(diff < 1e-6, "{kind:?}: fused vs tensor {diff}");
            assert!((&wa - &w0).abs().max().double_value(&[]) > 1e-3);
            // Group k alone, with a uniform rate, gives the same numbers.
            for (k, &lr) in lrs.iter().enumerate() {
                let w = w0.select(1, k as i64).contiguous();
                let mut a = Adam::new(&[w.shallow_clone()], lr, 1e-5).unwrap();
                for (gw, _) in &grads {
                    a.step(&[w.shallow_clone()], &[gw.select(1, k as i64).contiguous()])
                        .unwrap();
                }
                assert!(w.equal(&wa.select(1, k as i64)), "{kind:?}: group {k}");
            }
        }
    }

    #[test]
    fn select_keeps_the_chosen_groups_moments() {
        let w = Tensor::ones([3, 2, 4], (Kind::Float, Device::Cpu));
        let mut a = Adam::new(&[w.shallow_clone()], 1e-2, 1e-5).unwrap();
        let g = Tensor::arange(24, (Kind::Float, Device::Cpu)).view([3, 2, 4]);
        a.step(&[w.shallow_clone()], &[g]).unwrap();
        let (m, v) = a.moments().next().unwrap();
        let (m1, v1) = (m.narrow(1, 1, 1).copy(), v.narrow(1, 1, 1).copy());
        a.select(0, 1, &Tensor::from_slice(&[1i64])).unwrap();
        let (m, v) = a.moments().next().unwrap();
        assert_eq!(m.size(), [3, 1, 4]);
        assert!(m.equal(&m1) && v.equal(&v1));
    }

    #[test]
    fn a_bad_layout_is_an_error() {
        let w = Tensor::ones([5], (Kind::Float, Device::Cpu));
        let mut a = Adam::new(&[w.shallow_clone()], 1e-2, 1e-5).unwrap();
        a.set_lr(LearningRate::PerGroup(
            GroupLrs::new(vec![1e-2, 1e-3], 2, Kind::Float, Device::Cpu).unwrap(),
        ));
        let e = a.step(&[w.shallow_clone()], &[w.ones_like()]).unwrap_err();
        assert!(matches!(e, OptimError::Layout { numel: 5, .. }), "{e}");
    }
}
