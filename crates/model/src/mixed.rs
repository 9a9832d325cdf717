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

/// Why bf16 on `device` will be slow, if it will: a CPU without bf16 instructions, where
/// libtorch emulates bf16 arithmetic (slower than fp32; the results are still right).
/// `None` for fp32, for CUDA, and where the CPU has them (or cannot be inspected).
pub fn slow_bf16(precision: Precision, device: tch::Device) -> Option<String> {
    if precision != Precision::Bf16 || device != tch::Device::Cpu {
        return None;
    }
    (cpu_has_bf16() == Some(false)).then(|| {
        "bf16 requested on a CPU without bf16 instructions (no avx512_bf16, amx_bf16 or \
         aarch64 bf16 in /proc/cpuinfo): libtorch emulates it, which is slower than fp32; \
         the run goes on in bf16 (use --precision fp32 for speed)"
            .to_string()
    })
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
        assert_eq!(matmul(&to_f32(&x).unwrap(), &x.tr()).unwrap().kind(), Kind::BFloat16);
        assert_eq!(compute_kind(Precision::Bf16), Kind::BFloat16);
        assert_eq!(compute_kind(Precision::Fp32), Kind::Float);
    }
}
