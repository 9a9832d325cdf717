//! Weight initialisation: the reference's orthogonal (gain sqrt 2) and PyTorch-default
//! uniform inits, drawn either from libtorch's global generator or, for reproducible
//! training, from a ChaCha8 stream per variable derived from a seed.
//!
//! The seeded path never touches libtorch's global generator, so a run's initial weights
//! do not depend on what other threads of the process draw; the random numbers are drawn
//! on the host and the QR runs on the CPU, so the weights are also the same on every device.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::nn::{self, Init};
use tch::{Device, Kind, Tensor};

use crate::error::{ModelError, TorchContext};

/// How a new network's weights are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightInit {
    /// The reference init drawn from libtorch's global generator (seed it with
    /// `tch::manual_seed`).
    Orthogonal,
    /// The reference init drawn from ChaCha8 streams derived from this seed and each
    /// variable's name: reproducible whatever else the process does.
    Seeded(u64),
    /// All zeros, without touching any generator: for networks whose weights are loaded
    /// right after construction.
    Zeros,
}

/// An independent seed per variable: splitmix64 of `seed` and an FNV-1a hash of `salt`
/// ([`dimua_core::seed::named_seed`], under the name the model code uses).
pub use dimua_core::seed::named_seed as derive_seed;

fn standard_normal(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    // Box-Muller on (0, 1] x [0, 1).
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1: f64 = 1.0 - rng.gen::<f64>();
        let u2: f64 = rng.gen::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        out.push((r * t.cos()) as f32);
        out.push((r * t.sin()) as f32);
    }
    out.truncate(n);
    out
}

/// An orthogonal `rows x cols` matrix times `gain`, as PyTorch's `orthogonal_`: QR of a
/// standard normal matrix (of its transpose when `rows < cols`), columns signed by
/// `diag(R)`.
pub fn orthogonal(
    init: WeightInit,
    salt: &str,
    rows: usize,
    cols: usize,
    gain: f64,
    device: Device,
) -> Result<Tensor, ModelError> {
    let ctx = "initialising weights";
    let dims = [rows as i64, cols as i64];
    match init {
        WeightInit::Zeros => Tensor::f_zeros(dims, (Kind::Float, device)).ctx(ctx),
        WeightInit::Orthogonal => {
            nn::init::f_init(Init::Orthogonal { gain }, &dims, device, Kind::Float).ctx(ctx)
        }
        WeightInit::Seeded(seed) => {
            let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, salt));
            let (r, c) = if rows < cols {
                (cols, rows)
            } else {
                (rows, cols)
            };
            let a = Tensor::f_from_slice(&standard_normal(&mut rng, r * c))
                .and_then(|t| t.f_view([r as i64, c as i64]))
                .ctx(ctx)?;
            // libtorch's QR (LAPACK) splits its work by the intra-op thread count, which
            // changes the last bits of Q: one thread, so the initial weights are the same
            // whatever `OMP_NUM_THREADS` is (measured: 1 and 2 threads gave different bytes).
            let threads = tch::get_num_threads();
            tch::set_num_threads(1);
            let qr = Tensor::f_linalg_qr(&a, "reduced");
            tch::set_num_threads(threads);
            let (q, rr) = qr.ctx(ctx)?;
            let sign = rr.f_diag(0).and_then(|d| d.f_sign()).ctx(ctx)?;
            let q = q.f_mul(&sign).ctx(ctx)?;
            let q = if rows < cols { q.f_tr().ctx(ctx)? } else { q };
            q.f_mul_scalar(gain)
                .and_then(|q| q.f_contiguous())
                .and_then(|q| q.f_to_device(device))
                .ctx(ctx)
        }
    }
}

/// A tensor of `dims` uniform in `[-bound, bound)` (PyTorch's default Linear init uses
/// `bound = 1 / sqrt(fan_in)` for the weight and the bias).
pub fn uniform(
    init: WeightInit,
    salt: &str,
    dims: &[i64],
    bound: f64,
    device: Device,
) -> Result<Tensor, ModelError> {
    let ctx = "initialising weights";
    match init {
        WeightInit::Zeros => Tensor::f_zeros(dims, (Kind::Float, device)).ctx(ctx),
        WeightInit::Orthogonal => nn::init::f_init(
            Init::Uniform {
                lo: -bound,
                up: bound,
            },
            dims,
            device,
            Kind::Float,
        )
        .ctx(ctx),
        WeightInit::Seeded(seed) => {
            let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, salt));
            let n: i64 = dims.iter().product();
            let v: Vec<f32> = (0..n)
                .map(|_| ((rng.gen::<f64>() * 2.0 - 1.0) * bound) as f32)
                .collect();
            Tensor::f_from_slice(&v)
                .and_then(|t| t.f_view(dims))
                .and_then(|t| t.f_to_device(device))
                .ctx(ctx)
        }
    }
}

/// PyTorch's default `nn.Linear(input, output)` under `p` (`weight`, `bias`): both
/// `U(-1/sqrt(input), 1/sqrt(input))`.
pub fn default_linear(
    p: nn::Path,
    input: usize,
    output: usize,
    init: WeightInit,
) -> Result<nn::Linear, ModelError> {
    let bound = 1.0 / (input as f64).sqrt();
    let ctx = "initialising a linear layer";
    let (i, o) = (input as i64, output as i64);
    let w = uniform(init, &p.path("weight"), &[o, i], bound, p.device())?;
    let b = uniform(init, &p.path("bias"), &[o], bound, p.device())?;
    Ok(nn::Linear {
        ws: p.f_var_copy("weight", &w).ctx(ctx)?,
        bs: Some(p.f_var_copy("bias", &b).ctx(ctx)?),
    })
}

/// Standard normal draws of `dims` from a ChaCha8 stream seeded by `seed`, made on the host
/// (so they are the same on every device) and moved to `device`.
pub fn seeded_normal(dims: &[i64], device: Device, seed: u64) -> Result<Tensor, ModelError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = dims.iter().product::<i64>().max(0) as usize;
    Tensor::f_from_slice(&standard_normal(&mut rng, n))
        .and_then(|t| t.f_view(dims))
        .and_then(|t| t.f_to_device(device))
        .ctx("drawing normal noise")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_orthogonal_is_orthogonal_and_reproducible() {
        for (r, c) in [(32, 64), (64, 32), (5, 5)] {
            let a = orthogonal(WeightInit::Seeded(3), "w", r, c, 2f64.sqrt(), Device::Cpu).unwrap();
            let b = orthogonal(WeightInit::Seeded(3), "w", r, c, 2f64.sqrt(), Device::Cpu).unwrap();
            assert!(a.equal(&b));
            let g = if r <= c {
                a.matmul(&a.tr())
            } else {
                a.tr().matmul(&a)
            };
            let eye = Tensor::eye(r.min(c) as i64, (Kind::Float, Device::Cpu)) * 2.0;
            assert!(g.allclose(&eye, 1e-4, 1e-4, false));
        }
        let other = orthogonal(WeightInit::Seeded(3), "v", 8, 8, 1.0, Device::Cpu).unwrap();
        let same = orthogonal(WeightInit::Seeded(3), "w", 8, 8, 1.0, Device::Cpu).unwrap();
        assert!(!other.equal(&same));
    }

    #[test]
    fn seeded_uniform_is_in_bounds() {
        let u = uniform(WeightInit::Seeded(1), "u", &[100, 10], 0.5, Device::Cpu).unwrap();
        assert!(u.abs().max().double_value(&[]) <= 0.5);
        assert!(u.abs().max().double_value(&[]) > 0.4);
    }
}
