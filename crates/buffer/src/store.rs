//! [`FrameStore`]: the preallocated frame/label regions, the slot counter and the append-only
//! episode table, plus the safety argument that lets writers and readers share them
//! without a lock.
//!
//! # Safety argument
//!
//! The frame and label bytes live in two [`SlotRegion`]s (`Box<[UnsafeCell<u8>]>`, allocated
//! zeroed once). Slot `s` owns bytes `s * stride .. (s + 1) * stride` of each region.
//!
//! 1. **Exclusive writes.** A writer obtains slot `s` from one atomic read-modify-write on
//!    `next_slot` that only ever increases, so every slot is handed out at most once, to one
//!    [`EpisodeWriter`](crate::EpisodeWriter). Only that writer writes the slot's bytes, and
//!    only inside `push`, before the slot is published. Slots are never reused.
//! 2. **Publication.** When the writer ends the episode it stores `published[s] = true` with
//!    `Release` for each of its slots, *after* writing their bytes, and then installs the
//!    [`EpisodeInfo`] in the episode table (a [`OnceLock`], whose `set` releases and whose
//!    `get` acquires). Discarded episodes' slots are never published.
//! 3. **Reads.** Every safe read path ([`FrameStore::frame`], [`FrameStore::labels`], the
//!    `try_`/range/gather variants) first loads `published[s]` with `Acquire` and refuses the
//!    slot unless it is `true`. That load synchronises with the writer's `Release` store, so
//!    all the slot's bytes happen-before the read, and by (1) no write to them can follow.
//!    Hence a returned `&[u8]` is never torn and never aliased by a write, for as long as the
//!    store lives.
//!
//! No reference to the whole region as `u8` is ever created: writes go through
//! `UnsafeCell::raw_get` pointers, reads build `&[u8]` over published slots only.

use std::alloc::{alloc_zeroed, Layout};
use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::{BufferError, EpisodeWriter, Split, StoreSpec};

/// One completed (published) episode.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EpisodeInfo {
    /// The environment stream that produced it.
    pub stream: u32,
    /// Its index among the *published* episodes of its stream (0, 1, 2, ...); discarded and
    /// empty episodes do not take an index.
    pub index_in_stream: u32,
    /// Its split, from `(seed, stream, index_in_stream)` (see [`SplitRule`](crate::SplitRule)).
    pub split: Split,
    /// Frame slots in time order; pass them to [`FrameStore::frame`] / [`FrameStore::labels`].
    pub slots: Arc<[u32]>,
}

impl EpisodeInfo {
    /// Number of frames.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True if the episode has no frame (never the case for a published episode).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// A zero-initialised byte region of `slots * stride` bytes whose slots are written by
/// different threads (see the module's safety argument).
struct SlotRegion {
    cells: Box<[UnsafeCell<u8>]>,
    stride: usize,
}

impl SlotRegion {
    fn new(
        slots: usize,
        stride: usize,
        what: &'static str,
        keep_going: &dyn Fn() -> bool,
    ) -> Result<Self, BufferError> {
        let bytes = slots.checked_mul(stride).ok_or(BufferError::AllocFailed {
            what,
            bytes: usize::MAX,
        })?;
        if bytes == 0 {
            return Ok(SlotRegion {
                cells: Box::new([]),
                stride,
            });
        }
        let layout =
            Layout::array::<u8>(bytes).map_err(|_| BufferError::AllocFailed { what, bytes })?;
        // SAFETY: `layout` has non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        if ptr.is_null() {
            return Err(BufferError::AllocFailed { what, bytes });
        }
        // Commit every page now, at construction, rather than as a page fault (and the
        // kernel's zeroing) inside a collector's `push`: the collectors' hot path then only
        // copies. One write per 4 KiB page; the bytes stay zero.
        // Gigabytes take seconds: ask `keep_going` every 64 MiB, so Ctrl-C is prompt.
        const PAGE: usize = 4096;
        const CHECK_EVERY: usize = 64 << 20;
        for offset in (0..bytes).step_by(PAGE) {
            if offset % CHECK_EVERY == 0 && offset > 0 && !keep_going() {
                // SAFETY: allocated just above with this layout and not yet owned by a box.
                unsafe { std::alloc::dealloc(ptr, layout) };
                return Err(BufferError::Interrupted);
            }
            // SAFETY: `offset < bytes`, inside the allocation just made.
            unsafe { ptr.add(offset).write_volatile(0) };
        }
        // SAFETY: `ptr` was allocated by the global allocator with the layout of
        // `[UnsafeCell<u8>; bytes]` (size `bytes`, align 1; `UnsafeCell<u8>` is
        // `repr(transparent)` over `u8`) and is fully initialised (zeroed), so the box owns it
        // and frees it with the same layout.
        let cells = unsafe {
            Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                ptr.cast::<UnsafeCell<u8>>(),
                bytes,
            ))
        };
        Ok(SlotRegion { cells, stride })
    }

    /// Pointer to the first byte of `slot` (derived from the `UnsafeCell`s: writable).
    fn slot_ptr(&self, slot: usize) -> *mut u8 {
        debug_assert!(slot * self.stride <= self.cells.len());
        // SAFETY (of `add`): callers pass `slot <= capacity`, so the offset is within or one
        // past the allocation.
        UnsafeCell::raw_get(unsafe { self.cells.as_ptr().add(slot * self.stride) })
    }

    /// Copies `src` (exactly `stride` bytes) into `slot`.
    ///
    /// # Safety
    /// The caller holds the exclusive claim on `slot < capacity` and the slot is not
    /// published yet (no reader may look at it).
    unsafe fn write(&self, slot: usize, src: &[u8]) {
        debug_assert_eq!(src.len(), self.stride);
        std::ptr::copy_nonoverlapping(src.as_ptr(), self.slot_ptr(slot), self.stride);
    }

    /// The bytes of slots `start..end`, contiguous.
    ///
    /// # Safety
    /// Every slot in the range is `< capacity` and published (no write can happen to it any
    /// more and its bytes happen-before this call).
    unsafe fn read(&self, start: usize, end: usize) -> &[u8] {
        std::slice::from_raw_parts(
            self.slot_ptr(start).cast_const(),
            (end - start) * self.stride,
        )
    }
}

/// Per-stream bookkeeping, touched only when writers are created and dropped (cold path).
#[derive(Debug, Default, Clone, Copy)]
struct StreamState {
    live_writer: bool,
    next_index: u32,
}

/// Source of [`FrameStore`] ids, so a view can tell which store it belongs to.
static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(0);

/// The lock-free, append-only frame store. `Send + Sync`; share it as `Arc<FrameStore>`.
///
/// Writers ([`FrameStore::writer`]) claim frame slots with one atomic operation and publish
/// whole episodes; readers build [`EpisodeView`](crate::EpisodeView)s and read frames of
/// completed episodes while collection goes on. Memory is `capacity_frames * (frame_bytes +
/// label_bytes)` bytes for the data (allocated once and committed up front, so no page fault lands in a `push`) plus about 40
/// bytes of index per slot.
pub struct FrameStore {
    spec: StoreSpec,
    id: u64,
    frames: SlotRegion,
    labels: SlotRegion,
    /// `published[s]`: slot `s` belongs to a completed episode (Release by the writer).
    published: Box<[AtomicBool]>,
    /// Slots handed out so far; never exceeds the capacity.
    next_slot: AtomicUsize,
    /// Append-only episode table. A published episode owns at least one slot, so
    /// `capacity_frames` entries always suffice.
    episode_table: Box<[OnceLock<EpisodeInfo>]>,
    /// Table entries claimed by writers (an entry is filled right after its claim).
    next_entry: AtomicUsize,
    episodes_published: AtomicUsize,
    frames_written: AtomicUsize,
    closed: AtomicBool,
    streams: Mutex<HashMap<u32, StreamState>>,
}

// SAFETY: the only non-`Sync` fields are the `UnsafeCell` regions; the module-level safety
// argument shows that writes to a slot are exclusive to its claimant and ordered before
// every read of it (Release/Acquire on `published`), and that reads only see published slots.
unsafe impl Sync for FrameStore {}

impl std::fmt::Debug for FrameStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameStore")
            .field("spec", &self.spec)
            .field("slots_used", &self.slots_used())
            .field("frames_written", &self.frames_written())
            .field("episodes", &self.num_episodes())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl FrameStore {
    /// Validates `spec` and preallocates every region once.
    ///
    /// Errors: [`BufferError::InvalidSpec`] (zero sizes, overflow, bad split rule),
    /// [`BufferError::AllocFailed`].
    pub fn new(spec: StoreSpec) -> Result<Arc<Self>, BufferError> {
        Self::new_interruptible(spec, &|| true)
    }

    /// [`FrameStore::new`] that asks `keep_going` now and then while it commits the memory
    /// (seconds for gigabytes) and returns [`BufferError::Interrupted`] when it says no.
    pub fn new_interruptible(
        spec: StoreSpec,
        keep_going: &dyn Fn() -> bool,
    ) -> Result<Arc<Self>, BufferError> {
        spec.validate()?;
        let cap = spec.capacity_frames;
        let frames = SlotRegion::new(cap, spec.frame_bytes, "frame", keep_going)?;
        let labels = SlotRegion::new(cap, spec.label_bytes, "labels", keep_going)?;
        let published = (0..cap).map(|_| AtomicBool::new(false)).collect();
        let episode_table = (0..cap).map(|_| OnceLock::new()).collect();
        Ok(Arc::new(FrameStore {
            spec,
            id: NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed),
            frames,
            labels,
            published,
            next_slot: AtomicUsize::new(0),
            episode_table,
            next_entry: AtomicUsize::new(0),
            episodes_published: AtomicUsize::new(0),
            frames_written: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            streams: Mutex::new(HashMap::new()),
        }))
    }

    /// The writer for env stream `stream`; move it to the collector thread.
    ///
    /// A stream's episodes are numbered across its writers: a writer created after the
    /// previous one for the same stream was dropped continues its `index_in_stream`.
    ///
    /// # Panics
    /// If a writer for `stream` is still alive (use [`FrameStore::try_writer`] to get an
    /// error instead): two writers would give the same `index_in_stream` twice.
    pub fn writer(self: &Arc<Self>, stream: u32) -> EpisodeWriter {
        match self.try_writer(stream) {
            Ok(w) => w,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`FrameStore::writer`], but a live writer for `stream` is
    /// [`BufferError::StreamBusy`].
    pub fn try_writer(self: &Arc<Self>, stream: u32) -> Result<EpisodeWriter, BufferError> {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        let state = streams.entry(stream).or_default();
        if state.live_writer {
            return Err(BufferError::StreamBusy { stream });
        }
        state.live_writer = true;
        Ok(EpisodeWriter::new(
            Arc::clone(self),
            stream,
            state.next_index,
        ))
    }

    /// Called by a dropped writer: frees the stream and remembers its next episode index.
    pub(crate) fn release_stream(&self, stream: u32, next_index: u32) {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        let state = streams.entry(stream).or_default();
        state.live_writer = false;
        state.next_index = next_index;
    }

    /// Marks collection as finished: further [`EpisodeWriter::push`] calls return
    /// [`BufferError::Closed`] and waiting readers stop waiting. Idempotent.
    ///
    /// Episodes still open may still be published with `end_episode`.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// True once [`FrameStore::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Frames in completed (published) episodes.
    pub fn frames_written(&self) -> usize {
        self.frames_written.load(Ordering::Acquire)
    }

    /// Slots claimed so far, including frames of open and discarded episodes.
    pub fn slots_used(&self) -> usize {
        self.next_slot.load(Ordering::Acquire)
    }

    /// `capacity_frames`.
    pub fn capacity(&self) -> usize {
        self.spec.capacity_frames
    }

    /// Slots still free.
    pub fn remaining(&self) -> usize {
        self.capacity() - self.slots_used()
    }

    /// Number of completed episodes.
    pub fn num_episodes(&self) -> usize {
        self.episodes_published.load(Ordering::Acquire)
    }

    /// The completed episodes so far, sorted by `(stream, index_in_stream)` (deterministic
    /// for a given set of episodes, whatever the thread timing).
    ///
    /// While writers run, an episode whose table entry is claimed but not yet filled (a window
    /// of a few instructions) hides the ones published after it until it is filled; after
    /// the writers are joined the list is complete.
    pub fn episodes(&self) -> Vec<EpisodeInfo> {
        let mut eps: Vec<EpisodeInfo> = (0..).map_while(|i| self.episode_at(i)).cloned().collect();
        eps.sort_unstable_by_key(|e| (e.stream, e.index_in_stream));
        eps
    }

    /// Entry `index` of the episode table (publication order, which depends on thread
    /// timing); `None` if not (yet) filled.
    pub fn episode_at(&self, index: usize) -> Option<&EpisodeInfo> {
        self.episode_table.get(index)?.get()
    }

    /// True if `slot` belongs to a completed episode (its frame and labels can be read).
    pub fn is_published(&self, slot: u32) -> bool {
        self.published
            .get(slot as usize)
            .is_some_and(|p| p.load(Ordering::Acquire))
    }

    /// The frame stored in `slot`, or `None` unless the slot belongs to a completed episode.
    pub fn try_frame(&self, slot: u32) -> Option<&[u8]> {
        if !self.is_published(slot) {
            return None;
        }
        let s = slot as usize;
        // SAFETY: `s < capacity` and published (checked with Acquire just above).
        Some(unsafe { self.frames.read(s, s + 1) })
    }

    /// The label vector stored in `slot` (`label_bytes` long), or `None` unless the slot
    /// belongs to a completed episode.
    pub fn try_labels(&self, slot: u32) -> Option<&[u8]> {
        if !self.is_published(slot) {
            return None;
        }
        let s = slot as usize;
        // SAFETY: `s < capacity` and published (checked with Acquire just above).
        Some(unsafe { self.labels.read(s, s + 1) })
    }

    /// The frame stored in `slot`.
    ///
    /// # Panics
    /// If `slot` is not a slot of a completed episode (as given by an [`EpisodeInfo`] or a
    /// view); see [`FrameStore::try_frame`].
    pub fn frame(&self, slot: u32) -> &[u8] {
        self.try_frame(slot)
            .unwrap_or_else(|| panic!("slot {slot} is not part of a completed episode"))
    }

    /// The label vector stored in `slot`.
    ///
    /// # Panics
    /// If `slot` is not a slot of a completed episode; see [`FrameStore::try_labels`].
    pub fn labels(&self, slot: u32) -> &[u8] {
        self.try_labels(slot)
            .unwrap_or_else(|| panic!("slot {slot} is not part of a completed episode"))
    }

    /// The frames of the contiguous slots `slots` as one slice (e.g. for a bulk upload to a
    /// device); `None` unless every slot in the range is published.
    pub fn frames_range(&self, slots: Range<u32>) -> Option<&[u8]> {
        self.range_of(&self.frames, slots)
    }

    /// The label vectors of the contiguous slots `slots` as one slice; `None` unless every
    /// slot in the range is published.
    pub fn labels_range(&self, slots: Range<u32>) -> Option<&[u8]> {
        self.range_of(&self.labels, slots)
    }

    fn range_of<'a>(&'a self, region: &'a SlotRegion, slots: Range<u32>) -> Option<&'a [u8]> {
        let (start, end) = (slots.start as usize, slots.end as usize);
        if start > end || end > self.capacity() {
            return None;
        }
        if !self.published[start..end]
            .iter()
            .all(|p| p.load(Ordering::Acquire))
        {
            return None;
        }
        // SAFETY: every slot in `start..end` is `< capacity` and published (checked above).
        Some(unsafe { region.read(start, end) })
    }

    /// Appends the frames of `slots` to `out`, in order (batch building).
    ///
    /// # Panics
    /// If a slot is not published, like [`FrameStore::frame`].
    pub fn gather_frames(&self, slots: &[u32], out: &mut Vec<u8>) {
        out.reserve(slots.len() * self.spec.frame_bytes);
        for &s in slots {
            out.extend_from_slice(self.frame(s));
        }
    }

    /// Appends the label vectors of `slots` to `out`, in order.
    ///
    /// # Panics
    /// If a slot is not published, like [`FrameStore::labels`].
    pub fn gather_labels(&self, slots: &[u32], out: &mut Vec<u8>) {
        out.reserve(slots.len() * self.spec.label_bytes);
        for &s in slots {
            out.extend_from_slice(self.labels(s));
        }
    }

    /// The spec the store was built from.
    pub fn spec(&self) -> &StoreSpec {
        &self.spec
    }

    /// A process-unique id (views remember the store they were built from).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Claims one free slot: one lock-free compare-and-swap loop on a counter that never
    /// exceeds the capacity, so a full store stays consistent.
    pub(crate) fn claim_slot(&self) -> Result<u32, BufferError> {
        let cap = self.capacity();
        self.next_slot
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < cap).then_some(n + 1)
            })
            // `cap <= u32::MAX`, so the slot fits in `u32`.
            .map(|n| n as u32)
            .map_err(|_| BufferError::Full {
                capacity_frames: cap,
            })
    }

    /// Writes a claimed slot's frame and labels.
    ///
    /// # Safety
    /// `slot` was returned by [`FrameStore::claim_slot`] to the caller, which has not
    /// published it; `frame`/`labels` have the spec's sizes.
    pub(crate) unsafe fn write_slot(&self, slot: u32, frame: &[u8], labels: &[u8]) {
        self.frames.write(slot as usize, frame);
        self.labels.write(slot as usize, labels);
    }

    /// Publishes a completed episode whose slots were all claimed and written by the caller.
    pub(crate) fn publish(&self, info: EpisodeInfo) {
        debug_assert!(!info.is_empty());
        let len = info.len();
        for &s in info.slots.iter() {
            // Release: the slot's bytes, written before, become visible to Acquire readers.
            self.published[s as usize].store(true, Ordering::Release);
        }
        let entry = self.next_entry.fetch_add(1, Ordering::Relaxed);
        // Each published episode owns >= 1 distinct slot, so `entry < capacity`; each entry
        // index is handed out once, so `set` cannot fail.
        let filled = self.episode_table[entry].set(info).is_ok();
        assert!(filled, "episode table entry {entry} filled twice");
        self.frames_written.fetch_add(len, Ordering::Release);
        self.episodes_published.fetch_add(1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SplitRule, StoreSpec};

    /// Small enough for Miri (`cargo +nightly miri test -p dimua-buffer --lib`), which checks
    /// the aliasing and data-race claims of the module's safety argument.
    #[test]
    fn concurrent_push_publish_and_read_is_race_free() {
        let store = FrameStore::new(StoreSpec {
            capacity_frames: 24,
            frame_bytes: 5,
            label_bytes: 2,
            split: SplitRule::PROBE,
            seed: 1,
        })
        .unwrap();
        std::thread::scope(|scope| {
            for stream in 0..2u8 {
                let store = Arc::clone(&store);
                scope.spawn(move || {
                    let mut w = store.writer(stream as u32);
                    for k in 0..3u8 {
                        for t in 0..4u8 {
                            w.push(&[stream, k, t, 0xAA, 0x55], &[stream, t]).unwrap();
                        }
                        w.end_episode().unwrap();
                    }
                });
            }
            let store = &store;
            scope.spawn(move || {
                let mut seen = 0;
                while seen < 6 {
                    for ep in (seen..).map_while(|i| store.episode_at(i)) {
                        for (t, &s) in ep.slots.iter().enumerate() {
                            let f = store.frame(s);
                            assert_eq!(f[2], t as u8);
                            assert_eq!(&f[3..], &[0xAA, 0x55]);
                            assert_eq!(store.labels(s), &[f[0], f[2]]);
                        }
                        let first = ep.slots[0];
                        let _ = store.frames_range(first..first + 2);
                        seen += 1;
                    }
                    std::thread::yield_now();
                }
            });
        });
        assert_eq!(store.frames_written(), 24);
        assert!(store.frames_range(0..24).is_some());
        assert_eq!(store.remaining(), 0);
    }

    #[test]
    fn zero_sized_label_region_reads_empty_slices() {
        let region = SlotRegion::new(4, 0, "labels", &|| true).unwrap();
        // SAFETY: nothing is ever written to a zero-stride region.
        assert!(unsafe { region.read(0, 4) }.is_empty());
        assert!(unsafe { region.read(4, 4) }.is_empty());
    }
}
