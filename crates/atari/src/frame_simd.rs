//! Owns the AVX-512 (VBMI) kernels of the max-of-two-frames gray conversion: the same bytes
//! as `frame`'s table path, 64 pixels per instruction group, picked at run time when the CPU
//! has `avx512f`, `avx512bw` and `avx512vbmi` (tests compare the two on every index pair).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use std::sync::OnceLock;

/// 128-entry lookup tables indexed by `screen index >> 1` (screens hold even indices only).
#[derive(Debug, Clone)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) struct EvenTables {
    /// Red, green and blue of each even palette index.
    pub rgb: [[u8; 128]; 3],
    /// ALE's gray level of each even palette index.
    pub ale: [u8; 128],
}

/// Whether the kernels can run on this CPU (checked once), unless `DIMUA_SIMD=off` asks
/// for the portable path (same bytes; for comparing the two).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            simd_allowed()
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vbmi")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// `out[i] = max(ale[a[i] >> 1], ale[b[i] >> 1])` for the first `out.len() / 64 * 64`
/// pixels; returns how many it wrote (the caller does the rest).
///
/// # Safety
/// [`available`] must be true; `a` and `b` must be at least as long as `out`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(crate) unsafe fn max_ale_gray(t: &EvenTables, a: &[u8], b: &[u8], out: &mut [u8]) -> usize {
    let (lo, hi) = table(&t.ale);
    let blocks = out.len() / 64;
    for k in 0..blocks {
        let (x, y) = load_halves(a, b, k);
        // permutex2var_epi8 reads bits 0-6 of each index byte: the bit the 16-bit shift
        // moves into bit 7 is ignored.
        let gx = _mm512_permutex2var_epi8(lo, x, hi);
        let gy = _mm512_permutex2var_epi8(lo, y, hi);
        _mm512_storeu_si512(out.as_mut_ptr().add(k * 64).cast(), _mm512_max_epu8(gx, gy));
    }
    blocks * 64
}

/// `out[i] = rgb_to_gray(max of the two pixels' R, G, B)` (OpenCV's 15-bit weights) for the
/// first `out.len() / 64 * 64` pixels; returns how many it wrote.
///
/// # Safety
/// [`available`] must be true; `a` and `b` must be at least as long as `out`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(crate) unsafe fn max_opencv_gray(t: &EvenTables, a: &[u8], b: &[u8], out: &mut [u8]) -> usize {
    let tables = [table(&t.rgb[0]), table(&t.rgb[1]), table(&t.rgb[2])];
    let weights = [
        _mm512_set1_epi32(9798),
        _mm512_set1_epi32(19235),
        _mm512_set1_epi32(3735),
    ];
    let half = _mm512_set1_epi32(16384);
    let blocks = out.len() / 64;
    for k in 0..blocks {
        let (x, y) = load_halves(a, b, k);
        let rgb = [
            channel_max(tables[0], x, y),
            channel_max(tables[1], x, y),
            channel_max(tables[2], x, y),
        ];
        // 16 pixels at a time in 32-bit lanes: (R*9798 + G*19235 + B*3735 + 16384) >> 15.
        for part in 0..4 {
            let mut sum = half;
            for (c, w) in rgb.iter().zip(&weights) {
                sum = _mm512_add_epi32(sum, _mm512_mullo_epi32(widen_quarter(*c, part), *w));
            }
            let gray = _mm512_cvtepi32_epi8(_mm512_srli_epi32::<15>(sum));
            _mm_storeu_si128(out.as_mut_ptr().add(k * 64 + part * 16).cast(), gray);
        }
    }
    blocks * 64
}

/// The larger of the two pixels' values in one channel's table.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
unsafe fn channel_max((lo, hi): (__m512i, __m512i), x: __m512i, y: __m512i) -> __m512i {
    _mm512_max_epu8(
        _mm512_permutex2var_epi8(lo, x, hi),
        _mm512_permutex2var_epi8(lo, y, hi),
    )
}

/// Bytes `16 * part .. 16 * part + 16` of `v`, zero-extended to 32-bit lanes.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn widen_quarter(v: __m512i, part: usize) -> __m512i {
    let bytes = match part {
        0 => _mm512_extracti32x4_epi32::<0>(v),
        1 => _mm512_extracti32x4_epi32::<1>(v),
        2 => _mm512_extracti32x4_epi32::<2>(v),
        _ => _mm512_extracti32x4_epi32::<3>(v),
    };
    _mm512_cvtepu8_epi32(bytes)
}

/// The two 64-byte halves of a 128-entry table.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn table(t: &[u8; 128]) -> (__m512i, __m512i) {
    (
        _mm512_loadu_si512(t.as_ptr().cast()),
        _mm512_loadu_si512(t.as_ptr().add(64).cast()),
    )
}

/// Block `k` (64 pixels) of both screens, as table indices (`index >> 1` in bits 0-6).
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn load_halves(a: &[u8], b: &[u8], k: usize) -> (__m512i, __m512i) {
    let x = _mm512_loadu_si512(a.as_ptr().add(k * 64).cast());
    let y = _mm512_loadu_si512(b.as_ptr().add(k * 64).cast());
    (_mm512_srli_epi16::<1>(x), _mm512_srli_epi16::<1>(y))
}

/// False when the environment variable `DIMUA_SIMD` is `off` (or `0`): dimua's SIMD kernels
/// (observation gray and resize) then take their portable paths, which give the same bytes.
pub fn simd_allowed() -> bool {
    !matches!(std::env::var("DIMUA_SIMD").as_deref(), Ok("off") | Ok("0"))
}
