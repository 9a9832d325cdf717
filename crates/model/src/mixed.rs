//! Mixed precision (PyTorch autocast's rules, applied explicitly, because tch's `autocast`
//! covers CUDA only): which tensor kind a [`Precision`] computes in, and the casting
//! wrappers of the operations that run in it. Weights stay fp32 (the master copy the
//! optimiser updates); a weight is cast to its input's kind inside the graph, so its
//! gradient flows back in fp32. In fp32 every wrapper is exactly the plain operation, so fp32
//! results are bit-identical to code that never heard of bf16.

use tch::{Kind, TchError, Tensor};

pub use dimua_core::precision::{cpu_has_bf16, Precision};

/// The tensor kind the heavy arithmetic of `precision` runs in.
pub fn compute_kind(precision: Precision) -> Kind {
    match precision {
        Precision::Fp32 => Kind::Float,
        Precision::Bf16 => Kind::BFloat16,
    }
}

/// Why bf16 on `device` will be slow, if it will, for a warning (the run goes on in bf16):
/// a CPU without bf16 instructions, where libtorch emulates bf16, or a CPU whose bf16
/// products measure no faster than fp32 ones ([`cpu_bf16_speedup`]; some CPUs have the
/// instructions but not the throughput). `None` for fp32, for CUDA, and where bf16 is faster.
pub fn slow_bf16(precision: Precision, device: tch::Device) -> Option<String> {
    if precision != Precision::Bf16 || device != tch::Device::Cpu {
        return None;
    }
    if cpu_has_bf16() == Some(false) {
        return Some(
            "bf16 requested on a CPU without bf16 instructions (no avx512_bf16, amx_bf16 or \
             aarch64 bf16 in /proc/cpuinfo): libtorch emulates it, which is slower than fp32; \
             going on in bf16 (--precision fp32 is faster here)"
                .to_string(),
        );
    }
    let speedup = cpu_bf16_speedup()?;
    (speedup < 1.0).then(|| {
        format!(
            "bf16 requested, but on this CPU a bf16 matrix product runs at {speedup:.2}x the \
             speed of fp32 (measured just now): bf16 will be slower than fp32 here; going on \
             in bf16 (--precision fp32 is faster here)"
        )
    })
}

/// fp32 time over bf16 time of a conv-sized matrix product (`[512, 2048] x [2048, 1024]`) on
/// the CPU with libtorch's current threads: best of three each, alternating, about 0.1 s in
/// all, measured once per process (a run asks for it in training and again for the probe
/// features). Above 1: bf16 is faster. `None` if libtorch fails.
pub fn cpu_bf16_speedup() -> Option<f64> {
    static SPEEDUP: std::sync::OnceLock<Option<f64>> = std::sync::OnceLock::new();
    *SPEEDUP.get_or_init(measure_cpu_bf16_speedup)
}

fn measure_cpu_bf16_speedup() -> Option<f64> {
    let time = |kind: Kind| -> Option<f64> {
        let a = Tensor::f_ones([512, 2048], (kind, tch::Device::Cpu)).ok()?;
        let b = Tensor::f_ones([2048, 1024], (kind, tch::Device::Cpu)).ok()?;
        let start = std::time::Instant::now();
        let _ = a.f_matmul(&b).ok()?;
        Some(start.elapsed().as_secs_f64())
    };
    let (mut fp32, mut bf16) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..3 {
        fp32 = fp32.min(time(Kind::Float)?);
        bf16 = bf16.min(time(Kind::BFloat16)?);
    }
    (bf16 > 0.0).then(|| fp32 / bf16)
}

/// `t` as `kind`; the same tensor (no copy, no new graph node) when it already is.
pub fn as_kind(t: &Tensor, kind: Kind) -> Result<Tensor, TchError> {
    if t.kind() == kind {
        Ok(t.shallow_clone())
    } else {
        t.f_to_kind(kind)
    }
}

/// `t` in fp32 (for softmax, cross-entropy, reductions and anything that cancels).
pub fn to_f32(t: &Tensor) -> Result<Tensor, TchError> {
    as_kind(t, Kind::Float)
}

/// The kind two operands of a product meet in: the narrower one (bf16 when either is).
fn meet(a: &Tensor, b: &Tensor) -> Kind {
    if a.kind() == Kind::BFloat16 || b.kind() == Kind::BFloat16 {
        Kind::BFloat16
    } else {
        a.kind()
    }
}

/// `x W^T + b` in `x`'s kind (the fp32 weight and bias cast to it).
pub fn linear(x: &Tensor, ws: &Tensor, bs: Option<&Tensor>) -> Result<Tensor, TchError> {
    let kind = x.kind();
    let w = as_kind(ws, kind)?;
    let b = bs.map(|b| as_kind(b, kind)).transpose()?;
    x.f_linear(&w, b.as_ref())
}

/// `a @ b`, both operands in the kind they meet in.
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor, TchError> {
    let kind = meet(a, b);
    as_kind(a, kind)?.f_matmul(&as_kind(b, kind)?)
}

/// Batched `a @ b`, both operands in the kind they meet in.
pub fn bmm(a: &Tensor, b: &Tensor) -> Result<Tensor, TchError> {
    let kind = meet(a, b);
    as_kind(a, kind)?.f_bmm(&as_kind(b, kind)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn fp32_wrappers_are_the_plain_operations_bit_for_bit() {
        tch::manual_seed(3);
        let x = Tensor::randn([5, 7], (Kind::Float, Device::Cpu));
        let w = Tensor::randn([3, 7], (Kind::Float, Device::Cpu));
        let b = Tensor::randn([3], (Kind::Float, Device::Cpu));
        assert!(linear(&x, &w, Some(&b))
            .unwrap()
            .equal(&x.linear(&w, Some(&b))));
        assert!(matmul(&x, &w.tr()).unwrap().equal(&x.matmul(&w.tr())));
        // No copy in fp32: the very same storage.
        assert_eq!(as_kind(&x, Kind::Float).unwrap().data_ptr(), x.data_ptr());
    }

    #[test]
    fn bf16_runs_in_bf16_and_the_gradient_reaches_the_fp32_weight() {
        tch::manual_seed(4);
        let x = Tensor::randn([4, 6], (Kind::Float, Device::Cpu)).to_kind(Kind::BFloat16);
        let w = Tensor::randn([2, 6], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let y = linear(&x, &w, None).unwrap();
        assert_eq!(y.kind(), Kind::BFloat16);
        to_f32(&y).unwrap().sum(Kind::Float).backward();
        let g = w.grad();
        assert_eq!(g.kind(), Kind::Float);
        // d(sum x W^T)/dW = column sums of x, up to bf16 rounding of x (exact here: x is bf16).
        let expected = to_f32(&x).unwrap().sum_dim_intlist(0, false, Kind::Float);
        for r in 0..2 {
            assert!(g.get(r).allclose(&expected, 1e-2, 1e-2, false));
        }
        assert_eq!(
            matmul(&to_f32(&x).unwrap(), &x.tr()).unwrap().kind(),
            Kind::BFloat16
        );
        assert_eq!(compute_kind(Precision::Bf16), Kind::BFloat16);
        assert_eq!(compute_kind(Precision::Fp32), Kind::Float);
    }
}
