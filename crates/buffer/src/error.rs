//! The crate's error type: every way a store can refuse a request, as a value.

/// Errors returned by [`FrameStore`](crate::FrameStore) and
/// [`EpisodeWriter`](crate::EpisodeWriter).
///
/// A full store is an ordinary outcome of collection ([`BufferError::Full`]), never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BufferError {
    /// Allocation was stopped by the caller (Ctrl-C) before the store was ready.
    #[error("interrupted while allocating the frame store")]
    Interrupted,
    /// Every frame slot is claimed; the frame was not stored and nothing was changed.
    #[error("frame store is full: all {capacity_frames} frame slots are used")]
    Full {
        /// The store's capacity in frames.
        capacity_frames: usize,
    },
    /// A frame or label vector had the wrong number of bytes; nothing was stored.
    #[error("wrong {what} size: expected {expected} bytes, got {got}")]
    WrongSize {
        /// `"frame"` or `"labels"`.
        what: &'static str,
        /// The size fixed by the [`StoreSpec`](crate::StoreSpec).
        expected: usize,
        /// The size that was passed.
        got: usize,
    },
    /// [`FrameStore::close`](crate::FrameStore::close) was called; no more frames are accepted.
    #[error("frame store is closed: no more frames are accepted")]
    Closed,
    /// The [`StoreSpec`](crate::StoreSpec) cannot describe a store.
    #[error("invalid store spec: `{field}` {reason}")]
    InvalidSpec {
        /// The offending field of the spec.
        field: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// The preallocation of a region failed (not enough memory).
    #[error("cannot allocate {bytes} bytes for the {what} region")]
    AllocFailed {
        /// `"frame"` or `"labels"`.
        what: &'static str,
        /// The requested size.
        bytes: usize,
    },
    /// Another live [`EpisodeWriter`](crate::EpisodeWriter) already writes this stream.
    #[error("stream {stream} already has a live EpisodeWriter")]
    StreamBusy {
        /// The stream that was asked for.
        stream: u32,
    },
}

impl BufferError {
    /// True for [`BufferError::Full`]: the store has no free slot left.
    pub fn is_full(&self) -> bool {
        matches!(self, BufferError::Full { .. })
    }
}
