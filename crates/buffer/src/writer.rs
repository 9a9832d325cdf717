//! [`EpisodeWriter`]: one env stream's append handle (claim slot, copy, publish episode).

use std::sync::Arc;

use crate::{BufferError, EpisodeInfo, FrameStore, Split};

/// Initial capacity of the open episode's slot list; episodes longer than this grow it once
/// and the capacity is kept for later episodes, so steady-state pushes do not allocate.
const OPEN_EPISODE_CAPACITY: usize = 1024;

/// Appends the frames of one env stream, episode by episode. `Send`; one per stream.
///
/// Frames pushed since the last [`end_episode`](EpisodeWriter::end_episode) /
/// [`discard_episode`](EpisodeWriter::discard_episode) form the *open* episode: stored, but
/// invisible to readers until the episode is published. Dropping the writer discards the
/// open episode (the reference keeps each env's unfinished last episode: call `end_episode`
/// first to do the same).
#[derive(Debug)]
pub struct EpisodeWriter {
    store: Arc<FrameStore>,
    stream: u32,
    next_index: u32,
    open: Vec<u32>,
    /// `(group, block, permutation)` of the last split lookup: episodes of one block reuse it.
    split_cache: Option<(u32, u32, Vec<Split>)>,
}

impl EpisodeWriter {
    pub(crate) fn new(store: Arc<FrameStore>, stream: u32, next_index: u32) -> Self {
        EpisodeWriter {
            store,
            stream,
            next_index,
            open: Vec::with_capacity(OPEN_EPISODE_CAPACITY),
            split_cache: None,
        }
    }

    /// Stores one step (observation and its label vector) in the open episode.
    ///
    /// Lock-free: one compare-and-swap to claim a slot, then two copies. On error nothing is
    /// stored and the open episode is unchanged:
    /// [`BufferError::WrongSize`] (sizes differ from the spec), [`BufferError::Closed`],
    /// [`BufferError::Full`] (no slot left; the open episode can still be published or
    /// discarded).
    pub fn push(&mut self, frame: &[u8], labels: &[u8]) -> Result<(), BufferError> {
        let spec = self.store.spec();
        if frame.len() != spec.frame_bytes {
            return Err(BufferError::WrongSize {
                what: "frame",
                expected: spec.frame_bytes,
                got: frame.len(),
            });
        }
        if labels.len() != spec.label_bytes {
            return Err(BufferError::WrongSize {
                what: "labels",
                expected: spec.label_bytes,
                got: labels.len(),
            });
        }
        if self.store.is_closed() {
            return Err(BufferError::Closed);
        }
        let slot = self.store.claim_slot()?;
        // SAFETY: `slot` was just claimed by this writer (claims are unique) and is published
        // only by `end_episode`, after this write; sizes were checked above.
        unsafe { self.store.write_slot(slot, frame, labels) };
        self.open.push(slot);
        Ok(())
    }

    /// Publishes the open episode and returns it; `None` (and no index used) if it is empty.
    ///
    /// The split is decided here from `(seed, stream, index_in_stream)`. Works after
    /// [`FrameStore::close`] too, so an interrupted collector can still publish.
    pub fn end_episode(&mut self) -> Option<EpisodeInfo> {
        let split = self.split_of(self.next_index);
        self.end_episode_with_split(split)
    }

    /// Publishes the open episode with an explicit split instead of the store's rule: for
    /// reloading a dataset whose episodes were already assigned (and filtered) on disk.
    /// `None` (and no index used) if the episode is empty.
    pub fn end_episode_with_split(&mut self, split: Split) -> Option<EpisodeInfo> {
        if self.open.is_empty() {
            return None;
        }
        let info = EpisodeInfo {
            stream: self.stream,
            index_in_stream: self.next_index,
            split,
            slots: Arc::from(self.open.as_slice()),
        };
        self.open.clear();
        self.next_index += 1;
        self.store.publish(info.clone());
        Some(info)
    }

    /// Drops the open episode from the index: its frames are never published and never
    /// readable, and it takes no `index_in_stream`. Its slots stay used (the store is
    /// append-only; [`FrameStore::slots_used`] still counts them).
    pub fn discard_episode(&mut self) {
        self.open.clear();
    }

    /// Frames in the open (unpublished) episode.
    pub fn open_len(&self) -> usize {
        self.open.len()
    }

    /// The stream this writer appends to.
    pub fn stream(&self) -> u32 {
        self.stream
    }

    /// `index_in_stream` the next published episode will get.
    pub fn next_index(&self) -> u32 {
        self.next_index
    }

    /// The store written to.
    pub fn store(&self) -> &Arc<FrameStore> {
        &self.store
    }

    /// Same result as `spec.split.split_of(seed, stream, k)`, reusing the block permutation.
    fn split_of(&mut self, k: u32) -> Split {
        let spec = self.store.spec();
        let rule = spec.split;
        let b = rule.block_len();
        let (group, block) = (self.stream / b, k / b);
        let perm = match &self.split_cache {
            Some((g, blk, perm)) if *g == group && *blk == block => perm,
            _ => {
                let perm = rule.block_permutation(spec.seed, group, block);
                &self.split_cache.insert((group, block, perm)).2
            }
        };
        perm[rule.rotated_position(self.stream, k)]
    }
}

impl Drop for EpisodeWriter {
    fn drop(&mut self) {
        self.store.release_stream(self.stream, self.next_index);
    }
}
