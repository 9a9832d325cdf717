//! Seeded train-batch sampling: ⌊N/B⌋ batches per epoch drawn with replacement, either
//! frame-uniform, frame-weighted, or episode-uniform (AtariARI's sampler).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{ProbeError, Result};

/// How train frames are drawn for a batch (always with replacement).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Sampling {
    /// Every train frame equally likely. The default for flat tensors.
    #[default]
    Uniform,
    /// Frame `i` drawn with probability `w[i] / Σw` (`w.len()` = N_train, all `w ≥ 0`, `Σw > 0`).
    Weighted(Vec<f64>),
    /// Episode id of every train frame (`len` = N_train; an episode's frames need not be
    /// contiguous). An episode is drawn uniformly, then a frame uniformly inside it: exactly
    /// AtariARI's sampler, which over-samples frames of short episodes.
    Episodes(Vec<u64>),
}

enum Plan {
    Uniform(usize),
    Cumulative(Vec<f64>),
    Episodes(Vec<Vec<i64>>),
}

/// Draws the frame indices of each epoch from a ChaCha8 stream seeded by the probe seed, so
/// the sequence depends only on (seed, N, sampling) and not on device or label set.
pub(crate) struct BatchSampler {
    rng: ChaCha8Rng,
    plan: Plan,
}

impl BatchSampler {
    /// Validates `sampling` against `n_train` frames.
    pub(crate) fn new(n_train: usize, sampling: &Sampling, seed: u64) -> Result<Self> {
        let plan = match sampling {
            Sampling::Uniform => Plan::Uniform(n_train),
            Sampling::Weighted(w) => {
                if w.len() != n_train {
                    return Err(ProbeError::LengthMismatch {
                        what: "sampling weights vs train frames".into(),
                        left: w.len(),
                        right: n_train,
                    });
                }
                let mut cum = Vec::with_capacity(w.len());
                let mut acc = 0.0;
                for (i, &x) in w.iter().enumerate() {
                    if !(x >= 0.0 && x.is_finite()) {
                        return Err(ProbeError::InvalidSampling {
                            reason: format!("weight {i} is {x} (must be finite and >= 0)"),
                        });
                    }
                    acc += x;
                    cum.push(acc);
                }
                if acc <= 0.0 {
                    return Err(ProbeError::InvalidSampling {
                        reason: "all sampling weights are 0".into(),
                    });
                }
                Plan::Cumulative(cum)
            }
            Sampling::Episodes(ids) => {
                if ids.len() != n_train {
                    return Err(ProbeError::LengthMismatch {
                        what: "episode ids vs train frames".into(),
                        left: ids.len(),
                        right: n_train,
                    });
                }
                // Episodes in order of first appearance, frames in order.
                let mut order: std::collections::HashMap<u64, usize> = Default::default();
                let mut eps: Vec<Vec<i64>> = Vec::new();
                for (i, id) in ids.iter().enumerate() {
                    let e = *order.entry(*id).or_insert_with(|| {
                        eps.push(Vec::new());
                        eps.len() - 1
                    });
                    eps[e].push(i as i64);
                }
                Plan::Episodes(eps)
            }
        };
        Ok(BatchSampler {
            rng: ChaCha8Rng::seed_from_u64(seed),
            plan,
        })
    }

    /// `n_batches * batch_size` frame indices for one epoch, batch after batch.
    pub(crate) fn epoch(&mut self, n_batches: usize, batch_size: usize) -> Vec<i64> {
        let n = n_batches * batch_size;
        let rng = &mut self.rng;
        match &self.plan {
            Plan::Uniform(n_train) => (0..n).map(|_| rng.gen_range(0..*n_train) as i64).collect(),
            Plan::Cumulative(cum) => {
                let total = cum[cum.len() - 1];
                (0..n)
                    .map(|_| {
                        let u = rng.gen::<f64>() * total;
                        cum.partition_point(|&c| c <= u).min(cum.len() - 1) as i64
                    })
                    .collect()
            }
            Plan::Episodes(eps) => (0..n)
                .map(|_| {
                    let ep = &eps[rng.gen_range(0..eps.len())];
                    ep[rng.gen_range(0..ep.len())]
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_batches() {
        let mut a = BatchSampler::new(100, &Sampling::Uniform, 3).unwrap();
        let mut b = BatchSampler::new(100, &Sampling::Uniform, 3).unwrap();
        assert_eq!(a.epoch(4, 8), b.epoch(4, 8));
        assert!(a.epoch(4, 8).iter().all(|&i| (0..100).contains(&i)));
    }

    #[test]
    fn weighted_never_draws_zero_weight() {
        let w = vec![0.0, 1.0, 0.0, 3.0];
        let mut s = BatchSampler::new(4, &Sampling::Weighted(w), 1).unwrap();
        let idx = s.epoch(100, 10);
        assert!(idx.iter().all(|&i| i == 1 || i == 3));
        let n3 = idx.iter().filter(|&&i| i == 3).count();
        // expected 750 of 1000
        assert!((650..850).contains(&n3), "{n3}");
        assert!(BatchSampler::new(2, &Sampling::Weighted(vec![0.0, 0.0]), 1).is_err());
        assert!(BatchSampler::new(2, &Sampling::Weighted(vec![1.0]), 1).is_err());
    }

    #[test]
    fn episode_uniform_oversamples_short_episodes() {
        // episode 7: one frame (index 0); episode 9: frames 1..=9. Each episode is drawn with
        // probability 1/2, so frame 0 gets ~half of all draws.
        let mut ids = vec![7u64];
        ids.extend(std::iter::repeat_n(9, 9));
        let mut s = BatchSampler::new(10, &Sampling::Episodes(ids), 5).unwrap();
        let idx = s.epoch(100, 10);
        let n0 = idx.iter().filter(|&&i| i == 0).count();
        assert!((400..600).contains(&n0), "{n0}");
    }
}
