//! Owns the area-interpolation downscale (OpenCV's `INTER_AREA` for shrinking), the resize of
//! the DQN observation (210x160 -> 84x84).

use crate::error::EnvError;
use crate::resize_simd::HorizontalGroups;

/// One source sample's weight in one output sample.
#[derive(Debug, Clone, Copy)]
struct Tap {
    src: usize,
    dst: usize,
    weight: f32,
}

/// Precomputed area-interpolation tables for one (source size, target size, channels).
///
/// Each output pixel is the mean of the source area it covers, with fractional weights for
/// the source pixels cut by its borders. The tables, the float accumulation order and the
/// final rounding (to nearest, ties to even, then saturated to `0..=255`) follow OpenCV's
/// `resize(..., INTER_AREA)` for shrinking by a non-integer factor, so 210x160 -> 84x84 gives
/// OpenCV's bytes (checked against `cv2.resize` in the tests). When both factors are
/// integers (105x80, 70x80, ...) OpenCV takes its integer-factor path, and so does this type:
/// 2x2 blocks of 1 or 3 channels give `(sum + 2) >> 2` (exact halves round up), other blocks
/// `sum * (1/area)` in f32 rounded to nearest even. Enlarging is refused.
///
/// The taps are stored as a fixed number per output sample (padded with zero weights, which
/// add exactly 0.0 and so keep OpenCV's sums bit for bit): the horizontal pass runs once per
/// source row, the vertical pass once per output row.
#[derive(Debug, Clone)]
pub struct AreaResize {
    src: (usize, usize),
    dst: (usize, usize),
    channels: usize,
    x: FixedTaps,
    y: FixedTaps,
    /// (rows, columns) per output pixel when both factors are integers: OpenCV's
    /// integer-factor path instead of the taps.
    block: Option<(usize, usize)>,
    /// The horizontal taps regrouped for the AVX-512 pass (one channel, when they fit).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    simd_x: Option<HorizontalGroups>,
    /// Horizontally resized source rows: src height x dst width x channels.
    rows: Vec<f32>,
    /// One output row being summed.
    acc: Vec<f32>,
}

/// Per output sample, `width` (source index, weight) pairs in OpenCV's order.
#[derive(Debug, Clone)]
struct FixedTaps {
    width: usize,
    src: Vec<usize>,
    weight: Vec<f32>,
}

impl FixedTaps {
    /// Stored tap-major: tap `t` of output `d` is at `t * outputs + d`.
    fn new(taps: &[Tap], outputs: usize) -> Self {
        let mut per: Vec<Vec<(usize, f32)>> = vec![Vec::new(); outputs];
        for t in taps {
            per[t.dst].push((t.src, t.weight));
        }
        let width = per.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let mut src = vec![0; outputs * width];
        let mut weight = vec![0.0; outputs * width];
        for (d, list) in per.iter().enumerate() {
            let last = list.last().map_or(0, |&(s, _)| s);
            for k in 0..width {
                let (s, w) = list.get(k).copied().unwrap_or((last, 0.0));
                src[k * outputs + d] = s;
                weight[k * outputs + d] = w;
            }
        }
        FixedTaps { width, src, weight }
    }
}

/// OpenCV's `computeResizeAreaTab`: the taps of one axis.
fn area_taps(src: usize, dst: usize) -> Vec<Tap> {
    let scale = src as f64 / dst as f64;
    let mut taps = Vec::new();
    for d in 0..dst {
        let start = d as f64 * scale;
        let end = start + scale;
        let cell = scale.min(src as f64 - start);
        let mut first = start.ceil() as isize;
        let mut last = end.floor() as isize;
        last = last.min(src as isize - 1);
        first = first.min(last);
        if first as f64 - start > 1e-3 {
            taps.push(Tap {
                src: first as usize - 1,
                dst: d,
                weight: ((first as f64 - start) / cell) as f32,
            });
        }
        for s in first..last {
            taps.push(Tap {
                src: s as usize,
                dst: d,
                weight: (1.0 / cell) as f32,
            });
        }
        if end - last as f64 > 1e-3 {
            taps.push(Tap {
                src: last as usize,
                dst: d,
                weight: ((end - last as f64).min(1.0).min(cell) / cell) as f32,
            });
        }
    }
    taps
}

impl AreaResize {
    /// Tables for `src` = (height, width) -> `dst` = (height, width), `channels` interleaved
    /// per pixel. Errors when `dst` is empty or larger than `src` on either axis.
    pub fn new(
        src: (usize, usize),
        dst: (usize, usize),
        channels: usize,
    ) -> Result<Self, EnvError> {
        if dst.0 == 0
            || dst.1 == 0
            || dst.0 > src.0
            || dst.1 > src.1
            || !(1..=3).contains(&channels)
            || src.1 > 1024
        {
            return Err(EnvError::InvalidOptions {
                reason: format!(
                    "resize to {}x{} from a {}x{}x{channels} screen: the area resize only \
                     shrinks (1 to 3 channels, at most 1024 columns); pick a height <= {} and a \
                     width <= {} (84x84 is the DQN size), or no resize",
                    dst.0, dst.1, src.0, src.1, src.0, src.1
                ),
            });
        }
        // Pixel-indexed taps; channels are handled in the passes.
        let x = FixedTaps::new(&area_taps(src.1, dst.1), dst.1);
        let y = FixedTaps::new(&area_taps(src.0, dst.0), dst.0);
        let block = (src.0.is_multiple_of(dst.0) && src.1.is_multiple_of(dst.1))
            .then(|| (src.0 / dst.0, src.1 / dst.1));
        let simd_x = (channels == 1 && block.is_none())
            .then(|| HorizontalGroups::new(&x.src, &x.weight, x.width, dst.1))
            .flatten();
        Ok(AreaResize {
            src,
            dst,
            channels,
            x,
            y,
            block,
            simd_x,
            rows: vec![0.0; src.0 * dst.1 * channels],
            acc: vec![0.0; dst.1 * channels],
        })
    }

    /// Output (height, width).
    pub fn output_size(&self) -> (usize, usize) {
        self.dst
    }

    /// Resizes `input` (src height x width x channels, row-major) into `out` (dst height x
    /// width x channels). Panics if the slices do not have exactly those lengths.
    pub fn apply(&mut self, input: &[u8], out: &mut [u8]) {
        let c = self.channels;
        let in_row = self.src.1 * c;
        let out_row = self.dst.1 * c;
        assert_eq!(input.len(), self.src.0 * in_row, "area resize input size");
        assert_eq!(out.len(), self.dst.0 * out_row, "area resize output size");
        if let Some(block) = self.block {
            self.apply_blocks(block, input, out);
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if self.simd_x.is_some() && crate::resize_simd::available() {
            // SAFETY: the CPU has the features (checked) and the sizes were asserted above.
            unsafe { self.apply_avx512(input, out) };
            return;
        }
        let xw = self.x.width;
        let n = self.dst.1;
        let mut line_f = [0f32; 1024 * 3];
        // Horizontal pass, once per source row: buf = ((0 + s0 * w0) + s1 * w1) + ...,
        // OpenCV's order; taps are stored tap-major so each pass over dx is a plain loop.
        for (line, row) in input
            .chunks_exact(in_row)
            .zip(self.rows.chunks_exact_mut(out_row))
        {
            let line_f = &mut line_f[..in_row];
            to_f32(line, line_f);
            if c == 1 {
                row.fill(0.0);
                for t in 0..xw {
                    let srcs = &self.x.src[t * n..(t + 1) * n];
                    let weights = &self.x.weight[t * n..(t + 1) * n];
                    for ((a, &s), &w) in row.iter_mut().zip(srcs).zip(weights) {
                        // SAFETY: every tap's source index is < the source width (built by
                        // `area_taps`, which clamps to `src - 1`), and `line_f` has that many.
                        *a += unsafe { *line_f.get_unchecked(s) } * w;
                    }
                }
                continue;
            }
            for k in 0..c {
                let mut acc = [0f32; 1024];
                let acc = &mut acc[..n];
                for t in 0..xw {
                    let srcs = &self.x.src[t * n..(t + 1) * n];
                    let weights = &self.x.weight[t * n..(t + 1) * n];
                    for ((a, &s), &w) in acc.iter_mut().zip(srcs).zip(weights) {
                        *a += line_f[s * c + k] * w;
                    }
                }
                for (dx, &a) in acc.iter().enumerate() {
                    row[dx * c + k] = a;
                }
            }
        }
        self.vertical_pass(out, |acc, o| {
            for (v, &a) in o.iter_mut().zip(acc) {
                *v = round_to_u8(a);
            }
        });
    }

    /// [`Self::apply`] for one channel with the AVX-512 horizontal pass and rounding; the
    /// vertical pass is the scalar code, compiled here with AVX-512 (same operations in the
    /// same order, so the same bytes).
    ///
    /// # Safety
    /// The CPU must have avx512f, avx512bw and avx512vl, `self.simd_x` must be set, and the slices sized as
    /// `apply` asserts.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn apply_avx512(&mut self, input: &[u8], out: &mut [u8]) {
        let Some(groups) = &self.simd_x else {
            return;
        };
        for (line, row) in input
            .chunks_exact(self.src.1)
            .zip(self.rows.chunks_exact_mut(self.dst.1))
        {
            crate::resize_simd::horizontal_row(groups, line, row);
        }
        // SAFETY: the CPU has this function's features, and the rows have equal lengths.
        self.vertical_pass(out, |acc, o| unsafe {
            crate::resize_simd::round_row(acc, o)
        });
    }

    /// Vertical pass: sum = b0 * r0, then sum += b1 * r1, ... (elementwise, vectorised);
    /// then `round` turns each output row's sums into bytes.
    #[inline(always)]
    fn vertical_pass(&mut self, out: &mut [u8], round: impl Fn(&[f32], &mut [u8])) {
        let out_row = self.dst.1 * self.channels;
        let acc = &mut self.acc;
        for (dy, o) in out.chunks_exact_mut(out_row).enumerate() {
            for t in 0..self.y.width {
                let s = self.y.src[t * self.dst.0 + dy];
                let w = self.y.weight[t * self.dst.0 + dy];
                let r = &self.rows[s * out_row..(s + 1) * out_row];
                if t == 0 {
                    for (a, &v) in acc.iter_mut().zip(r) {
                        *a = w * v;
                    }
                } else {
                    for (a, &v) in acc.iter_mut().zip(r) {
                        *a += w * v;
                    }
                }
            }
            round(acc, o);
        }
    }
}

/// Bytes to floats (vectorised by the compiler).
#[inline(always)]
fn to_f32(line: &[u8], out: &mut [f32]) {
    for (f, &v) in out.iter_mut().zip(line) {
        *f = v as f32;
    }
}

impl AreaResize {
    /// OpenCV's integer-factor path (`resizeAreaFast_`): each output is the integer sum of
    /// its `rows x cols` block; 2x2 blocks of 1 or 3 channels (its vectorised case) round as
    /// `(sum + 2) >> 2`, every other block as `sum * (1/area)` in f32, to nearest even.
    fn apply_blocks(&self, (rows, cols): (usize, usize), input: &[u8], out: &mut [u8]) {
        let c = self.channels;
        let in_row = self.src.1 * c;
        let half_up = rows == 2 && cols == 2 && c != 2;
        let scale = 1.0f32 / (rows * cols) as f32;
        for (dy, o) in out.chunks_exact_mut(self.dst.1 * c).enumerate() {
            let block_rows = &input[dy * rows * in_row..(dy + 1) * rows * in_row];
            for (dx, px) in o.chunks_exact_mut(c).enumerate() {
                for (k, v) in px.iter_mut().enumerate() {
                    let mut sum = 0u32;
                    for line in block_rows.chunks_exact(in_row) {
                        sum += line[dx * cols * c + k..(dx + 1) * cols * c]
                            .iter()
                            .step_by(c)
                            .map(|&s| s as u32)
                            .sum::<u32>();
                    }
                    *v = if half_up {
                        ((sum + 2) >> 2) as u8
                    } else {
                        round_to_u8(sum as f32 * scale)
                    };
                }
            }
        }
    }
}

/// OpenCV's `saturate_cast<uchar>(float)`: round to nearest with ties to even, then clamp.
/// Adding and subtracting 2^23 rounds a float in [0, 2^23) to an integer in the current
/// (nearest-even) mode without a libm call; sums here are never negative.
#[inline(always)]
fn round_to_u8(v: f32) -> u8 {
    const SHIFT: f32 = 8_388_608.0;
    let r = if v < SHIFT { (v + SHIFT) - SHIFT } else { v };
    r.clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scramble of bytes that hits every value and rounding tie pattern often enough.
    fn noise(len: usize, mut state: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn the_avx512_pass_gives_the_scalar_bytes() {
        // The SIMD horizontal pass must be the scalar pass bit for bit (the OpenCV checksums
        // of tests/resize.rs then hold for both). Without avx512f only the scalar path runs
        // and this compares it with itself; say which.
        eprintln!(
            "AVX-512 pass available: {}",
            crate::resize_simd::available()
        );
        let sizes = [
            ((210, 160), (84, 84)),
            ((210, 160), (100, 77)),
            ((250, 160), (84, 84)),
            ((210, 160), (64, 50)),
            ((210, 160), (160, 150)),
            ((84, 84), (42, 41)),
        ];
        for (src, dst) in sizes {
            let mut fast = AreaResize::new(src, dst, 1).unwrap();
            if (src, dst) == ((210, 160), (84, 84)) {
                assert!(
                    fast.simd_x.is_some(),
                    "the DQN size must use the grouped taps"
                );
            }
            let mut scalar = fast.clone();
            scalar.simd_x = None;
            for seed in 1..4u64 {
                let mut input = noise(src.0 * src.1, seed * 0x9e37_79b9);
                if seed == 3 {
                    // Flat areas: many exact halves and ties.
                    for (i, v) in input.iter_mut().enumerate() {
                        *v = if (i / 7) % 3 == 0 {
                            255
                        } else {
                            (i / 160) as u8 & 1
                        };
                    }
                }
                let (mut a, mut b) = (vec![0u8; dst.0 * dst.1], vec![0u8; dst.0 * dst.1]);
                fast.apply(&input, &mut a);
                scalar.apply(&input, &mut b);
                assert_eq!(a, b, "{src:?} -> {dst:?}, seed {seed}");
                // And the horizontal pass's floats themselves, bit for bit.
                let bits = |r: &AreaResize| r.rows.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert!(
                    bits(&fast) == bits(&scalar),
                    "{src:?} -> {dst:?}, seed {seed}: rows"
                );
            }
        }
    }
}
