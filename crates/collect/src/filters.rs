//! The AtariARI post-processing of collected episodes (PROTOCOL.md section 1): the episode
//! length filter, the label entropy filter, and the deduplication of test frames.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use dimua_buffer::{EpisodeInfo, FrameStore, Split};

/// Default minimum episode length: episodes must be *longer* than this (reference: batch size 64).
pub const MIN_EPISODE_LEN: usize = 64;
/// Default entropy threshold in nats below which a label is dropped.
pub const ENTROPY_THRESHOLD: f64 = 0.6;

/// One episode of a dataset being assembled, in canonical (stream, index) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEpisode {
    /// Environment stream that produced it.
    pub stream: u32,
    /// Position among that stream's episodes.
    pub index_in_stream: u32,
    /// Train, val or test.
    pub split: Split,
    /// Frame slots in the store, in time order.
    pub slots: Vec<u32>,
    /// Time step of each kept frame within the original episode (gaps where test frames
    /// were removed as duplicates).
    pub steps: Vec<u32>,
}

/// What the filters removed, for the manifest.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FilterCounts {
    /// Episodes of length <= the minimum that were dropped.
    pub dropped_short_episodes: usize,
    /// Frames in those episodes.
    pub dropped_short_frames: usize,
    /// Test frames dropped because their bytes equal a train or val frame.
    pub dropped_test_duplicates: usize,
    /// Test episodes dropped because at most one frame remained after deduplication.
    pub dropped_test_episodes: usize,
}

/// Entropy in nats of a value histogram: `H = -sum_v p_v ln p_v`, `p_v = counts[v] / total`.
/// An empty histogram has entropy 0.
pub fn entropy_from_counts(counts: &[u64; 256]) -> f64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let n = total as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.ln()
        })
        .sum::<f64>()
        .max(0.0)
}

/// Empirical entropy in nats of a sequence of byte values (see [`entropy_from_counts`]).
pub fn entropy_nats(values: impl IntoIterator<Item = u8>) -> f64 {
    let mut counts = [0u64; 256];
    for v in values {
        counts[v as usize] += 1;
    }
    entropy_from_counts(&counts)
}

/// Sorts the store's completed episodes into canonical order and drops those not longer than
/// `min_len` (strictly greater is kept, as in the reference).
pub fn plan_episodes(
    mut episodes: Vec<EpisodeInfo>,
    min_len: usize,
) -> (Vec<PlannedEpisode>, FilterCounts) {
    episodes.sort_by_key(|e| (e.stream, e.index_in_stream));
    let mut counts = FilterCounts::default();
    let mut planned = Vec::with_capacity(episodes.len());
    for e in episodes {
        if e.slots.len() <= min_len {
            counts.dropped_short_episodes += 1;
            counts.dropped_short_frames += e.slots.len();
            continue;
        }
        planned.push(PlannedEpisode {
            stream: e.stream,
            index_in_stream: e.index_in_stream,
            split: e.split,
            steps: (0..e.slots.len() as u32).collect(),
            slots: e.slots.to_vec(),
        });
    }
    (planned, counts)
}

/// Entropy (nats) of every label column over all frames of `episodes`.
pub fn label_entropies(store: &FrameStore, episodes: &[PlannedEpisode]) -> Vec<f64> {
    let k = store.spec().label_bytes;
    let mut counts = vec![[0u64; 256]; k];
    for e in episodes {
        for &slot in &e.slots {
            for (col, &v) in store.labels(slot).iter().enumerate() {
                counts[col][v as usize] += 1;
            }
        }
    }
    counts.iter().map(entropy_from_counts).collect()
}

fn frame_hash(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// Drops every test frame whose exact bytes equal a train or val frame, then every test
/// episode left with at most one frame (PROTOCOL.md section 1, step 6).
pub fn dedup_test_frames(
    store: &FrameStore,
    episodes: &mut Vec<PlannedEpisode>,
    counts: &mut FilterCounts,
) {
    let mut seen: HashMap<u64, Vec<u32>> = HashMap::new();
    for e in episodes.iter().filter(|e| e.split != Split::Test) {
        for &slot in &e.slots {
            seen.entry(frame_hash(store.frame(slot)))
                .or_default()
                .push(slot);
        }
    }
    for e in episodes.iter_mut().filter(|e| e.split == Split::Test) {
        let mut keep_slots = Vec::with_capacity(e.slots.len());
        let mut keep_steps = Vec::with_capacity(e.slots.len());
        for (&slot, &step) in e.slots.iter().zip(&e.steps) {
            let frame = store.frame(slot);
            let duplicate = seen
                .get(&frame_hash(frame))
                .is_some_and(|cands| cands.iter().any(|&c| store.frame(c) == frame));
            if duplicate {
                counts.dropped_test_duplicates += 1;
            } else {
                keep_slots.push(slot);
                keep_steps.push(step);
            }
        }
        e.slots = keep_slots;
        e.steps = keep_steps;
    }
    let before = episodes.len();
    episodes.retain(|e| e.split != Split::Test || e.slots.len() > 1);
    counts.dropped_test_episodes += before - episodes.len();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_hand_made_columns() {
        // A constant column carries no information.
        assert_eq!(entropy_nats([7u8; 10]), 0.0);
        // Two equally likely values: ln 2 = 0.693147 nats (just above the 0.6 threshold).
        assert!((entropy_nats([0u8, 1, 0, 1]) - 2f64.ln()).abs() < 1e-12);
        // p = (3/4, 1/4): -(0.75 ln 0.75 + 0.25 ln 0.25) = 0.215762 + 0.346574 = 0.562335,
        // below the threshold, so such a label would be dropped.
        let h = entropy_nats([5u8, 5, 5, 9]);
        assert!((h - 0.562_335_144_6).abs() < 1e-9, "{h}");
        assert!(h < ENTROPY_THRESHOLD);
        // Four equally likely values: ln 4.
        assert!((entropy_nats([1u8, 2, 3, 4]) - 4f64.ln()).abs() < 1e-12);
        assert_eq!(entropy_nats(std::iter::empty()), 0.0);
    }
}
