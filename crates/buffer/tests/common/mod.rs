//! Shared test helpers: frames and labels whose every byte is derived from
//! `(stream, attempt, t)`, so a torn, stale or misplaced frame is detected.

#![allow(dead_code)]

use dimua_buffer::{SplitRule, StoreSpec};
use dimua_core::seed::splitmix64;

/// Where a frame came from: env stream, the writer's episode attempt (counting discarded
/// ones, unlike `index_in_stream`) and the time step within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag {
    pub stream: u32,
    pub attempt: u32,
    pub t: u32,
}

fn tag_seed(tag: Tag, salt: u64) -> u64 {
    splitmix64(((tag.stream as u64) << 40) ^ ((tag.attempt as u64) << 20) ^ tag.t as u64 ^ salt)
}

fn fill_bytes(mut state: u64, out: &mut [u8]) {
    for chunk in out.chunks_mut(8) {
        state = splitmix64(state);
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
}

/// Frame bytes: a 12-byte header (stream, attempt, t as little-endian u32) followed by
/// pseudo-random bytes seeded from the tag. `out.len()` must be at least 12.
pub fn fill_frame(tag: Tag, out: &mut [u8]) {
    out[0..4].copy_from_slice(&tag.stream.to_le_bytes());
    out[4..8].copy_from_slice(&tag.attempt.to_le_bytes());
    out[8..12].copy_from_slice(&tag.t.to_le_bytes());
    fill_bytes(tag_seed(tag, 0xF4A3), &mut out[12..]);
}

/// Label bytes: pseudo-random, seeded from the tag with another salt.
pub fn fill_labels(tag: Tag, out: &mut [u8]) {
    fill_bytes(tag_seed(tag, 0x1AB3), out);
}

/// Decodes a frame's tag and checks every byte; panics with the slot on any mismatch.
pub fn check_frame(slot: u32, frame: &[u8]) -> Tag {
    let word = |i: usize| u32::from_le_bytes(frame[i..i + 4].try_into().unwrap());
    let tag = Tag {
        stream: word(0),
        attempt: word(4),
        t: word(8),
    };
    let mut want = vec![0u8; frame.len()];
    fill_frame(tag, &mut want);
    assert!(
        want == frame,
        "slot {slot}: frame bytes do not match its header {tag:?}"
    );
    tag
}

/// Checks a label vector against the tag decoded from its frame.
pub fn check_labels(slot: u32, tag: Tag, labels: &[u8]) {
    let mut want = vec![0u8; labels.len()];
    fill_labels(tag, &mut want);
    assert!(want == labels, "slot {slot}: labels do not match {tag:?}");
}

/// A small spec for tests.
pub fn spec(capacity_frames: usize, frame_bytes: usize, label_bytes: usize) -> StoreSpec {
    StoreSpec {
        capacity_frames,
        frame_bytes,
        label_bytes,
        split: SplitRule::PROBE,
        seed: 7,
    }
}
