//! `dimua-buffer`: a lock-free, append-only, episode-aware frame store with pair samplers.
//!
//! N collector threads each drive one or more env *streams*; every stream has an
//! [`EpisodeWriter`] that stores observations (u8 frames, fixed size) and label vectors
//! (fixed size, possibly empty) in slots of one preallocated [`FrameStore`], and publishes
//! them episode by episode. A trainer keeps an [`EpisodeView`] that it refreshes in
//! O(new episodes) and samples `(x_t, x_{t+1})` pairs from while collection is running.
//!
//! * Memory is bounded by [`StoreSpec::capacity_frames`]: frames are stored once, as u8, in
//!   regions allocated once; a full store answers [`BufferError::Full`].
//! * No mutex on the hot path: `push` is one compare-and-swap plus two copies; publication
//!   and reads use Release/Acquire atomics (see the safety argument in `store.rs`). Creating
//!   and dropping writers takes a short lock (cold path).
//! * Splits are by whole episodes and deterministic from `(seed, stream, index_in_stream)`
//!   ([`SplitRule`]), independent of thread count and timing.
//! * The unsafe core (one file, `store.rs`) states its safety argument and is checked under
//!   Miri: `cargo +nightly miri test -p dimua-buffer --lib store::`.
//!
//! ```
//! use dimua_buffer::{EpisodeFilter, EpisodeView, FrameStore, SplitRule, StoreSpec};
//! use rand::SeedableRng;
//!
//! let store = FrameStore::new(StoreSpec {
//!     capacity_frames: 100,
//!     frame_bytes: 4,
//!     label_bytes: 2,
//!     split: SplitRule::PRETRAIN,
//!     seed: 42,
//! })?;
//! let mut w = store.writer(0);
//! for t in 0..5u8 {
//!     w.push(&[t; 4], &[t, 0])?;
//! }
//! let ep = w.end_episode().unwrap();
//! store.close();
//!
//! let view = EpisodeView::new(&store, EpisodeFilter::split(ep.split));
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! for (a, b) in view.sample_pairs(8, &mut rng).unwrap() {
//!     assert_eq!(store.frame(a)[0] + 1, store.frame(b)[0]);
//! }
//! # Ok::<(), dimua_buffer::BufferError>(())
//! ```

#![warn(missing_docs)]

mod error;
mod spec;
mod store;
mod view;
mod writer;

pub use error::BufferError;
pub use spec::{Split, SplitRule, StoreSpec, MAX_SPLIT_BLOCK};
pub use store::{EpisodeInfo, FrameStore};
pub use view::{EpisodeFilter, EpisodeView};
pub use writer::EpisodeWriter;

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}

    #[test]
    fn thread_safety_markers() {
        assert_send_sync::<FrameStore>();
        assert_send_sync::<EpisodeInfo>();
        assert_send::<EpisodeWriter>();
        assert_send_sync::<EpisodeView>();
    }
}
