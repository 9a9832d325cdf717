//! Owns the area-interpolation downscale (OpenCV's `INTER_AREA` for shrinking), the resize of
//! the DQN observation (210x160 -> 84x84).

use crate::error::EnvError;

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
/// OpenCV's bytes (checked against `cv2.resize` in the tests). For integer factors OpenCV
/// takes a fast path that rounds exact halves up; this type uses the general formula there
/// too (a difference of 1 on exact ties only). Enlarging is refused.
#[derive(Debug, Clone)]
pub struct AreaResize {
    src: (usize, usize),
    dst: (usize, usize),
    channels: usize,
    x_taps: Vec<Tap>,
    y_taps: Vec<Tap>,
    row: Vec<f32>,
    acc: Vec<f32>,
}

/// OpenCV's `computeResizeAreaTab`: the taps of one axis.
fn area_taps(src: usize, dst: usize, channels: usize) -> Vec<Tap> {
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
                src: (first as usize - 1) * channels,
                dst: d * channels,
                weight: ((first as f64 - start) / cell) as f32,
            });
        }
        for s in first..last {
            taps.push(Tap {
                src: s as usize * channels,
                dst: d * channels,
                weight: (1.0 / cell) as f32,
            });
        }
        if end - last as f64 > 1e-3 {
            taps.push(Tap {
                src: last as usize * channels,
                dst: d * channels,
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
        if dst.0 == 0 || dst.1 == 0 || dst.0 > src.0 || dst.1 > src.1 || channels == 0 {
            return Err(EnvError::InvalidOptions {
                reason: format!(
                    "resize to {}x{} from a {}x{} screen: the area resize only shrinks; pick a \
                     height <= {} and a width <= {} (84x84 is the DQN size), or no resize",
                    dst.0, dst.1, src.0, src.1, src.0, src.1
                ),
            });
        }
        Ok(AreaResize {
            src,
            dst,
            channels,
            x_taps: area_taps(src.1, dst.1, channels),
            y_taps: area_taps(src.0, dst.0, 1),
            row: vec![0.0; dst.1 * channels],
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
        let mut current: Option<usize> = None;
        for y in &self.y_taps {
            let line = &input[y.src * in_row..(y.src + 1) * in_row];
            self.row.iter_mut().for_each(|v| *v = 0.0);
            for x in &self.x_taps {
                for k in 0..c {
                    self.row[x.dst + k] += line[x.src + k] as f32 * x.weight;
                }
            }
            match current {
                Some(dy) if dy == y.dst => {
                    for (a, &r) in self.acc.iter_mut().zip(&self.row) {
                        *a += y.weight * r;
                    }
                }
                _ => {
                    if let Some(dy) = current {
                        store_row(&self.acc, &mut out[dy * out_row..(dy + 1) * out_row]);
                    }
                    for (a, &r) in self.acc.iter_mut().zip(&self.row) {
                        *a = y.weight * r;
                    }
                    current = Some(y.dst);
                }
            }
        }
        if let Some(dy) = current {
            store_row(&self.acc, &mut out[dy * out_row..(dy + 1) * out_row]);
        }
    }
}

/// OpenCV's `saturate_cast<uchar>(float)`: round to nearest (ties to even), clamp.
fn store_row(acc: &[f32], out: &mut [u8]) {
    for (o, &v) in out.iter_mut().zip(acc) {
        *o = v.round_ties_even().clamp(0.0, 255.0) as u8;
    }
}
