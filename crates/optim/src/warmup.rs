//! A serial first call of each elementwise math routine that libtorch's CPU kernels hand to
//! MKL's vector math library (VML), made once per process before anything uses them from
//! several threads: the fix for the rare last-bit difference between runs of one config.
//!
//! libtorch computes `sqrt`, `exp`, `log`, `tanh` and the other transcendental functions of
//! a large f32 / f64 CPU tensor with MKL's VML, split across its OpenMP threads, and asks
//! for VML's high-accuracy (HA) kernel. VML picks the kernel for the CPU on a function's
//! first call. When that first call is made by two threads at once, one of them can run a
//! different kernel for that one call: measured on 2026-12-02 (2-core Xeon VM with AVX-512),
//! in 12 of 1,340 processes, the second OpenMP thread's half of Adam's first `sqrt` (the
//! update of `encoder.conv2.weight`, the first parameter whose channels-last gradient takes
//! the tensor path) came out of MKL's AVX2 *enhanced-performance* kernel
//! (`mkl_vml_kernel_sSqrt_L9EP`, about half the mantissa bits right), not the AVX-512 HA one
//! (`..._Z0HA`): calling each kernel directly on the run's saved moments reproduces the
//! odd run's weights and the usual run's weights bit for bit. Every later call is right,
//! so a call made by one thread first, before any threaded use, removes the race.

use std::sync::Once;

use tch::{Device, Kind, Tensor};

/// Elements of each warm-up tensor: below every libtorch grain size, so each call runs on
/// the calling thread alone.
const WARM_UP_LEN: i64 = 16;

/// libtorch's unary ops that can reach MKL's VML on the CPU (a superset of the ones its
/// `vml.h` routes today; calling one that does not reach VML costs nothing).
const UNARY_OPS: [fn(&Tensor) -> Tensor; 25] = [
    Tensor::sqrt,
    Tensor::rsqrt,
    Tensor::exp,
    Tensor::expm1,
    Tensor::log,
    Tensor::log10,
    Tensor::log1p,
    Tensor::log2,
    Tensor::sin,
    Tensor::cos,
    Tensor::tan,
    Tensor::tanh,
    Tensor::asin,
    Tensor::acos,
    Tensor::atan,
    Tensor::sinh,
    Tensor::cosh,
    Tensor::erf,
    Tensor::erfc,
    Tensor::erfinv,
    Tensor::trunc,
    Tensor::lgamma,
    Tensor::sigmoid,
    Tensor::reciprocal,
    Tensor::abs,
];

static WARMED_UP: Once = Once::new();

/// Calls each routine of [`UNARY_OPS`] once, in f32 and f64, on a small CPU tensor from this
/// thread alone; only the first call in a process does anything. [`crate::Adam::new`] calls
/// it, so every training process has made these calls before its first step.
pub fn warm_up_vector_math() {
    WARMED_UP.call_once(|| {
        for kind in [Kind::Float, Kind::Double] {
            // 0.5 is inside every op's domain (acos, asin, erfinv included).
            let x = Tensor::full([WARM_UP_LEN], 0.5, (kind, Device::Cpu));
            for op in UNARY_OPS {
                let _ = op(&x);
            }
        }
    });
}

/// Whether [`warm_up_vector_math`] has run in this process.
pub fn vector_math_warmed_up() -> bool {
    WARMED_UP.is_completed()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Building an Adam makes the calls (the trainer, the probes, the image methods and the
    /// PPO example all build one before their first step).
    #[test]
    fn building_an_adam_warms_up_vector_math_first() {
        let p = Tensor::zeros([4], (Kind::Float, Device::Cpu));
        let _adam = crate::Adam::new(&[p], 1e-3, 1e-8).unwrap();
        assert!(vector_math_warmed_up());
    }
}
