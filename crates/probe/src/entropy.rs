//! Label entropy (nats) and AtariARI's low-entropy label filter, as pure functions on bytes.

use crate::error::{ProbeError, Result};

/// AtariARI's default `--entropy-threshold`: labels with H < 0.6 nats are dropped.
pub const DEFAULT_ENTROPY_THRESHOLD: f64 = 0.6;

/// Shannon entropy H = −Σ p ln p (nats) of the empirical value frequencies of one column,
/// in f64 (AtariARI uses `torch.distributions.Categorical(...).entropy()` in f32; the two can
/// only disagree for an entropy within ~1e-6 of the threshold). An empty column has H = 0.
pub fn column_entropy(column: &[u8]) -> f64 {
    let mut counts = [0u64; 256];
    for &v in column {
        counts[v as usize] += 1;
    }
    let n = column.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.ln()
        })
        .sum()
}

/// Entropy (nats) of every label column of a **row-major** `[n_frames, n_labels]` buffer
/// (frame after frame, each frame's `n_labels` bytes contiguous, as a collector writes them).
pub fn label_entropies(labels: &[u8], n_labels: usize) -> Result<Vec<f64>> {
    if n_labels == 0 {
        return Err(ProbeError::NoLabels {
            action: "compute entropies of".into(),
        });
    }
    if labels.len() % n_labels != 0 {
        return Err(ProbeError::LengthMismatch {
            what: format!("row-major [N, K={n_labels}] label buffer (length not a multiple of K)"),
            left: labels.len(),
            right: n_labels,
        });
    }
    let mut counts = vec![[0u64; 256]; n_labels];
    for row in labels.chunks_exact(n_labels) {
        for (c, &v) in counts.iter_mut().zip(row) {
            c[v as usize] += 1;
        }
    }
    let n = (labels.len() / n_labels) as f64;
    Ok(counts
        .iter()
        .map(|c| {
            c.iter()
                .filter(|&&x| x > 0)
                .map(|&x| {
                    let p = x as f64 / n;
                    -p * p.ln()
                })
                .sum()
        })
        .collect())
}

/// Indices (ascending) of the label columns that survive AtariARI's entropy filter, i.e.
/// H ≥ `threshold` nats (a label with H < threshold is removed). `labels` is **row-major**
/// `[n_frames, n_labels]`; compute it over all frames of all kept episodes before the split.
pub fn entropy_filter(labels: &[u8], n_labels: usize, threshold: f64) -> Result<Vec<usize>> {
    Ok(label_entropies(labels, n_labels)?
        .into_iter()
        .enumerate()
        .filter(|(_, h)| *h >= threshold)
        .map(|(i, _)| i)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_entropy() {
        // [1,1,2,3]: p = 1/2, 1/4, 1/4 -> H = 0.5 ln 2 + 2 * 0.25 ln 4 = 1.5 ln 2 = 1.0397 nats.
        let h = column_entropy(&[1, 1, 2, 3]);
        assert!((h - 1.5 * 2f64.ln()).abs() < 1e-12);
        // constant column: 0 nats; [0,0,0,1]: -(3/4 ln 3/4 + 1/4 ln 1/4) = 0.5623 nats (< 0.6).
        assert_eq!(column_entropy(&[9, 9, 9]), 0.0);
        let h2 = column_entropy(&[0, 0, 0, 1]);
        assert!((h2 - 0.562_335_144_618_808_5).abs() < 1e-12);
    }

    #[test]
    fn filter_keeps_high_entropy_columns_row_major() {
        // 4 frames x 3 labels, row-major. Columns: [1,1,2,3] (1.04 nats, kept),
        // [0,0,0,1] (0.562, dropped), [5,6,5,6] (ln 2 = 0.693, kept).
        let rows = [1u8, 0, 5, 1, 0, 6, 2, 0, 5, 3, 1, 6];
        let h = label_entropies(&rows, 3).unwrap();
        assert!((h[2] - 2f64.ln()).abs() < 1e-12);
        assert_eq!(
            entropy_filter(&rows, 3, DEFAULT_ENTROPY_THRESHOLD).unwrap(),
            vec![0, 2]
        );
        // threshold exactly ln 2 keeps column 2 (only H < threshold is removed).
        assert_eq!(entropy_filter(&rows, 3, h[2]).unwrap(), vec![0, 2]);
        assert!(entropy_filter(&rows, 5, 0.6).is_err());
    }
}
