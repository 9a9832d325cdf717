//! Owns the AVX-512 horizontal pass of the one-channel area resize: per source row, 16
//! outputs at a time, each tap's sources picked from a 32-float window of the row by one
//! permute, multiplied and added in the scalar pass's order (so the same floats, bit for
//! bit; no fused multiply-add). Used when the CPU has `avx512f`, `avx512bw`, `avx512vl` and every group of 16
//! outputs reads from 32 consecutive source pixels (true for 210x160 -> 84x84).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use std::sync::OnceLock;

/// Outputs per group (one 512-bit register of f32).
pub(crate) const LANES: usize = 16;
/// Source floats one group can read (two registers).
pub(crate) const WINDOW: usize = 32;

/// The horizontal taps regrouped for the kernel.
#[derive(Debug, Clone)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) struct HorizontalGroups {
    /// Taps per output.
    taps: usize,
    /// Outputs per row.
    outputs: usize,
    /// Per group: the first source pixel of its window.
    base: Vec<usize>,
    /// Per group and tap: each lane's source offset in the window (`u32`, < 32).
    offset: Vec<[u32; LANES]>,
    /// Per group and tap: each lane's weight (0 for lanes past the last output).
    weight: Vec<[f32; LANES]>,
}

impl HorizontalGroups {
    /// Regroups tap-major tables (`src[t * outputs + d]`, `weight[...]`, `taps` per output);
    /// `None` when some group's sources span more than the window (the scalar pass is used
    /// then).
    pub(crate) fn new(src: &[usize], weight: &[f32], taps: usize, outputs: usize) -> Option<Self> {
        let groups = outputs.div_ceil(LANES);
        let mut g = HorizontalGroups {
            taps,
            outputs,
            base: Vec::with_capacity(groups),
            offset: Vec::with_capacity(groups * taps),
            weight: Vec::with_capacity(groups * taps),
        };
        for group in 0..groups {
            let lanes = (group * LANES)..((group + 1) * LANES).min(outputs);
            let sources = || {
                lanes
                    .clone()
                    .flat_map(|d| (0..taps).map(move |t| src[t * outputs + d]))
            };
            let base = sources().min()?;
            if sources().max()? - base >= WINDOW {
                return None;
            }
            g.base.push(base);
            for t in 0..taps {
                let (mut o, mut w) = ([0u32; LANES], [0f32; LANES]);
                for d in lanes.clone() {
                    o[d - group * LANES] = (src[t * outputs + d] - base) as u32;
                    w[d - group * LANES] = weight[t * outputs + d];
                }
                g.offset.push(o);
                g.weight.push(w);
            }
        }
        Some(g)
    }
}

/// Whether the kernel can run on this CPU (checked once).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            dimua_atari::simd_allowed()
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vl")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// One source row's horizontal pass: `row[d] = ((0 + s0 * w0) + s1 * w1) + ...` for every
/// output `d`, as the scalar pass computes it. Each group's 32-byte window is loaded with a
/// mask (nothing past the row is read) and widened to floats in registers.
///
/// # Safety
/// [`available`] must be true; `row` must hold exactly `outputs` floats and `line` every
/// tap's source.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn horizontal_row(g: &HorizontalGroups, line: &[u8], row: &mut [f32]) {
    debug_assert_eq!(row.len(), g.outputs);
    for (group, &base) in g.base.iter().enumerate() {
        let lo = window_half(line, base);
        let hi = window_half(line, base + LANES);
        let mut acc = _mm512_setzero_ps();
        for t in 0..g.taps {
            let k = group * g.taps + t;
            let idx = _mm512_loadu_si512(g.offset[k].as_ptr().cast());
            let w = _mm512_loadu_ps(g.weight[k].as_ptr());
            let v = _mm512_permutex2var_ps(lo, idx, hi);
            acc = _mm512_add_ps(acc, _mm512_mul_ps(v, w));
        }
        let first = group * LANES;
        let lanes = (g.outputs - first).min(LANES);
        if lanes == LANES {
            _mm512_storeu_ps(row.as_mut_ptr().add(first), acc);
        } else {
            let mask: __mmask16 = (1u16 << lanes) - 1;
            _mm512_mask_storeu_ps(row.as_mut_ptr().add(first), mask, acc);
        }
    }
}

/// `line[start..start + 16]` as 16 floats (bytes past the row's end read as 0, unread).
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn window_half(line: &[u8], start: usize) -> __m512 {
    let valid = line.len().saturating_sub(start).min(LANES);
    let mask: __mmask16 = if valid == LANES {
        u16::MAX
    } else {
        (1u16 << valid) - 1
    };
    // A masked load does not touch the masked-off bytes (no fault past the slice's end).
    let bytes = _mm_maskz_loadu_epi8(mask, line.as_ptr().wrapping_add(start).cast());
    _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes))
}

/// `out[i] = round_to_u8(acc[i])` (clamp to 0..=255, round to nearest even) 16 at a time:
/// for the finite, non-negative sums of the resize, the same bytes as the scalar rounding
/// (clamping before rounding changes nothing there: 255 stays 255, 0 stays 0).
///
/// # Safety
/// [`available`] must be true; `out` must be at least as long as `acc`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn round_row(acc: &[f32], out: &mut [u8]) {
    debug_assert!(out.len() >= acc.len());
    let (zero, top) = (_mm512_setzero_ps(), _mm512_set1_ps(255.0));
    for start in (0..acc.len()).step_by(LANES) {
        let lanes = (acc.len() - start).min(LANES);
        let mask: __mmask16 = if lanes == LANES {
            u16::MAX
        } else {
            (1u16 << lanes) - 1
        };
        let v = _mm512_maskz_loadu_ps(mask, acc.as_ptr().add(start));
        let v = _mm512_max_ps(_mm512_min_ps(v, top), zero);
        // Default MXCSR rounding: to nearest, ties to even.
        let bytes = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v));
        _mm_mask_storeu_epi8(out.as_mut_ptr().add(start).cast(), mask, bytes);
    }
}
