//! [`EpisodeView`]: a reader's private, incrementally refreshed list of completed episodes,
//! with the frame and pair samplers and a wait helper.
//!
//! Pair sampling follows the reference (PROTOCOL.md §4: episode uniform with replacement,
//! not length-weighted; t uniform) except for its wrap bug: the reference pairs `ep[t-1]`
//! with `ep[t]` for t in `[0, len)`, so t = 0 pairs the last frame with the first. Here t is
//! drawn in `[0, len - 1)` and the pair is `(ep[t], ep[t+1])`; episodes shorter than 2 are
//! never used for pairs.

use std::thread;
use std::time::{Duration, Instant};

use crossbeam::utils::Backoff;
use rand::Rng;

use crate::{EpisodeInfo, FrameStore, Split};

/// Which episodes a view keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EpisodeFilter {
    /// Keep only this split; `None` keeps all.
    pub split: Option<Split>,
    /// Keep only episodes with at least this many frames (inclusive). The reference keeps
    /// `len > 64` (PROTOCOL.md §1 post-processing), i.e. `min_len: 65`.
    pub min_len: usize,
}

impl EpisodeFilter {
    /// Every episode.
    pub fn all() -> Self {
        EpisodeFilter::default()
    }

    /// Every episode of `split`.
    pub fn split(split: Split) -> Self {
        EpisodeFilter {
            split: Some(split),
            min_len: 0,
        }
    }

    /// The same filter with `min_len` set (inclusive lower bound on episode length).
    pub fn with_min_len(self, min_len: usize) -> Self {
        EpisodeFilter { min_len, ..self }
    }

    /// True if `ep` passes the filter.
    pub fn matches(&self, ep: &EpisodeInfo) -> bool {
        self.split.is_none_or(|s| s == ep.split) && ep.len() >= self.min_len
    }
}

/// A reader's own list of completed episodes that pass a filter.
///
/// Built with [`EpisodeView::new`] and brought up to date with [`EpisodeView::refresh`],
/// which costs O(new episodes) and takes no lock. Episodes are kept in publication order
/// (thread timing), appended on refresh; [`EpisodeView::sort_canonical`] gives a
/// reproducible order once collection is over.
#[derive(Debug, Clone)]
pub struct EpisodeView {
    filter: EpisodeFilter,
    /// The store this view reads from; `None` for a detached view.
    store_id: Option<u64>,
    /// First episode-table entry not examined yet.
    next_entry: usize,
    episodes: Vec<EpisodeInfo>,
    /// Indices into `episodes` of the episodes with at least 2 frames.
    pair_episodes: Vec<u32>,
    frames: usize,
    pairs: usize,
}

impl EpisodeView {
    /// A view of the episodes of `store` passing `filter`, filled with those completed so far.
    pub fn new(store: &FrameStore, filter: EpisodeFilter) -> Self {
        let mut view = EpisodeView {
            store_id: Some(store.id()),
            ..Self::empty(filter)
        };
        view.refresh(store);
        view
    }

    /// A detached view over a fixed list of episodes (e.g. filtered or deduplicated ones).
    /// It cannot be refreshed.
    pub fn from_episodes(
        episodes: impl IntoIterator<Item = EpisodeInfo>,
        filter: EpisodeFilter,
    ) -> Self {
        let mut view = Self::empty(filter);
        for ep in episodes {
            view.add(ep);
        }
        view
    }

    fn empty(filter: EpisodeFilter) -> Self {
        EpisodeView {
            filter,
            store_id: None,
            next_entry: 0,
            episodes: Vec::new(),
            pair_episodes: Vec::new(),
            frames: 0,
            pairs: 0,
        }
    }

    fn add(&mut self, ep: EpisodeInfo) {
        if ep.is_empty() || !self.filter.matches(&ep) {
            return;
        }
        let len = ep.len();
        if len >= 2 {
            let idx = u32::try_from(self.episodes.len()).expect("more than u32::MAX episodes");
            self.pair_episodes.push(idx);
            self.pairs += len - 1;
        }
        self.frames += len;
        self.episodes.push(ep);
    }

    /// Adds the episodes completed since the last refresh; returns how many were added.
    ///
    /// Stops at the first table entry that is claimed but not yet filled (a writer between
    /// its two publication steps); the next refresh picks it up.
    ///
    /// # Panics
    /// If `store` is not the store the view was built from, or the view is detached.
    pub fn refresh(&mut self, store: &FrameStore) -> usize {
        assert_eq!(
            self.store_id,
            Some(store.id()),
            "EpisodeView refreshed with a store it was not built from (or a detached view)"
        );
        let before = self.episodes.len();
        while let Some(ep) = store.episode_at(self.next_entry) {
            self.next_entry += 1;
            self.add(ep.clone());
        }
        self.episodes.len() - before
    }

    /// Blocks (spin, then yield, then sleep with exponential backoff up to 2 ms; no lock)
    /// until `ready(self)` holds after a refresh, the store is closed, or `timeout` passes.
    /// Returns the final value of `ready`.
    pub fn wait_until(
        &mut self,
        store: &FrameStore,
        timeout: Option<Duration>,
        mut ready: impl FnMut(&EpisodeView) -> bool,
    ) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        let backoff = Backoff::new();
        let mut sleep = Duration::from_micros(50);
        loop {
            self.refresh(store);
            if ready(self) {
                return true;
            }
            if store.is_closed() {
                // Episodes published before `close` are visible now.
                self.refresh(store);
                return ready(self);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            if backoff.is_completed() {
                thread::sleep(sleep);
                sleep = (sleep * 2).min(Duration::from_millis(2));
            } else {
                backoff.snooze();
            }
        }
    }

    /// Waits until the view holds at least `min_frames` frames (true) or the store is closed
    /// with fewer (false). See [`EpisodeView::wait_until`].
    pub fn wait_for(&mut self, store: &FrameStore, min_frames: usize) -> bool {
        self.wait_until(store, None, |v| v.len_frames() >= min_frames)
    }

    /// Waits until the view holds at least `min_pairs` consecutive pairs (true) or the store
    /// is closed with fewer (false).
    pub fn wait_for_pairs(&mut self, store: &FrameStore, min_pairs: usize) -> bool {
        self.wait_until(store, None, |v| v.len_pairs() >= min_pairs)
    }

    /// `n` frame slots: each from an episode drawn uniformly with replacement, at a time step
    /// drawn uniformly. `None` if the view has no episode.
    pub fn sample_frames(&self, n: usize, rng: &mut impl Rng) -> Option<Vec<u32>> {
        if self.episodes.is_empty() {
            return None;
        }
        let out = (0..n)
            .map(|_| {
                let ep = &self.episodes[rng.gen_range(0..self.episodes.len())].slots;
                ep[rng.gen_range(0..ep.len())]
            })
            .collect();
        Some(out)
    }

    /// `n` pairs `(x_t, x_{t+1})` of consecutive slots of one episode: the episode drawn
    /// uniformly with replacement among those with at least 2 frames, t uniform in
    /// `[0, len - 1)`; never wraps. `None` if no episode has 2 frames.
    pub fn sample_pairs(&self, n: usize, rng: &mut impl Rng) -> Option<Vec<(u32, u32)>> {
        if self.pair_episodes.is_empty() {
            return None;
        }
        let out = (0..n)
            .map(|_| {
                let i = self.pair_episodes[rng.gen_range(0..self.pair_episodes.len())];
                let ep = &self.episodes[i as usize].slots;
                let t = rng.gen_range(0..ep.len() - 1);
                (ep[t], ep[t + 1])
            })
            .collect();
        Some(out)
    }

    /// `n` windows of `k >= 1` consecutive slots of one episode, **position-major**: the
    /// result's `i * n + j` is the `i`-th frame of window `j`. Each window's episode is drawn
    /// uniformly with replacement among those with at least `k` frames, its start uniform in
    /// `[0, len - k]`; never wraps. `None` if `k` is 0 or no episode has `k` frames.
    pub fn sample_windows(&self, n: usize, k: usize, rng: &mut impl Rng) -> Option<Vec<u32>> {
        let long: Vec<&EpisodeInfo> = self.episodes.iter().filter(|e| e.len() >= k).collect();
        if k == 0 || long.is_empty() {
            return None;
        }
        let starts: Vec<(usize, usize)> = (0..n)
            .map(|_| {
                let e = rng.gen_range(0..long.len());
                (e, rng.gen_range(0..=long[e].len() - k))
            })
            .collect();
        let mut out = Vec::with_capacity(n * k);
        for i in 0..k {
            out.extend(starts.iter().map(|&(e, t)| long[e].slots[t + i]));
        }
        Some(out)
    }

    /// Windows of `k >= 1` consecutive frames available: the sum of `len - k + 1` over the
    /// episodes with at least `k` frames (`len_frames` for 1, `len_pairs` for 2).
    pub fn len_windows(&self, k: usize) -> usize {
        self.episodes
            .iter()
            .filter(|e| k > 0 && e.len() >= k)
            .map(|e| e.len() - k + 1)
            .sum()
    }

    /// Frames in the view's episodes.
    pub fn len_frames(&self) -> usize {
        self.frames
    }

    /// Consecutive pairs available: the sum of `len - 1` over the episodes.
    pub fn len_pairs(&self) -> usize {
        self.pairs
    }

    /// Episodes in the view.
    pub fn num_episodes(&self) -> usize {
        self.episodes.len()
    }

    /// Episodes usable for pairs (at least 2 frames).
    pub fn num_pair_episodes(&self) -> usize {
        self.pair_episodes.len()
    }

    /// True if the view has no episode.
    pub fn is_empty(&self) -> bool {
        self.episodes.is_empty()
    }

    /// The view's episodes, in view order.
    pub fn episodes(&self) -> &[EpisodeInfo] {
        &self.episodes
    }

    /// The view's filter.
    pub fn filter(&self) -> &EpisodeFilter {
        &self.filter
    }

    /// Every frame slot of the view exactly once, episode by episode in view order, each
    /// episode in time order (for evaluation).
    pub fn iter_slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.episodes.iter().flat_map(|e| e.slots.iter().copied())
    }

    /// Sorts the episodes by `(stream, index_in_stream)`, so that sampling with a seeded RNG
    /// is reproducible once collection is over. Later refreshes append after them.
    pub fn sort_canonical(&mut self) {
        self.episodes
            .sort_unstable_by_key(|e| (e.stream, e.index_in_stream));
        self.pair_episodes.clear();
        self.pair_episodes.extend(
            self.episodes
                .iter()
                .enumerate()
                .filter(|(_, e)| e.len() >= 2)
                .map(|(i, _)| i as u32),
        );
    }
}
