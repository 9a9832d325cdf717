//! The synthetic-but-structured frame store the trainer tests share: a bright square moving
//! smoothly over an episode-specific background.
#![allow(dead_code)]

use std::sync::Arc;

use dimua_buffer::{FrameStore, SplitRule, StoreSpec};
use dimua_model::FrameShape;

pub const SHAPE: FrameShape = FrameShape {
    height: 80,
    width: 80,
    channels: 1,
};
pub const STREAMS: u32 = 10;
pub const EPISODES_PER_STREAM: u32 = 3;
pub const EP_LEN: usize = 32;

/// Frame `t` of episode `(stream, k)`: a faint per-episode stripe background and an 8x8
/// bright square moving with a per-episode velocity, bouncing off the walls.
pub fn frame(stream: u32, k: u32, t: usize) -> Vec<u8> {
    let (h, w) = (SHAPE.height, SHAPE.width);
    let e = (stream * 7 + k * 13) as usize;
    let mut f = vec![0u8; h * w];
    for y in 0..h {
        for x in 0..w {
            let stripe = (x + y * (1 + e % 3)) % (6 + e % 5);
            f[y * w + x] = if stripe == 0 { 40 } else { 0 };
        }
    }
    let bounce = |p: usize, span: usize| {
        let m = p % (2 * span);
        if m < span {
            m
        } else {
            2 * span - m
        }
    };
    let (vx, vy) = (1 + e % 3, 1 + (e / 3) % 3);
    let px = bounce(e * 5 + vx * t, w - 8);
    let py = bounce(e * 3 + vy * t, h - 8);
    for y in py..py + 8 {
        for x in px..px + 8 {
            f[y * w + x] = 255;
        }
    }
    f
}

pub fn write_episode(
    store: &Arc<FrameStore>,
    w: &mut dimua_buffer::EpisodeWriter,
    stream: u32,
    k: u32,
) {
    let _ = store;
    for t in 0..EP_LEN {
        w.push(&frame(stream, k, t), &[]).unwrap();
    }
    w.end_episode().unwrap();
}

pub fn store_spec() -> StoreSpec {
    StoreSpec {
        capacity_frames: (STREAMS * EPISODES_PER_STREAM) as usize * EP_LEN,
        frame_bytes: SHAPE.bytes(),
        label_bytes: 0,
        split: SplitRule::PRETRAIN,
        seed: 1,
    }
}

/// A closed store: 30 episodes of 32 frames, 24 train / 6 val.
pub fn closed_store() -> Arc<FrameStore> {
    let store = FrameStore::new(store_spec()).unwrap();
    for s in 0..STREAMS {
        let mut w = store.writer(s);
        for k in 0..EPISODES_PER_STREAM {
            write_episode(&store, &mut w, s, k);
        }
    }
    store.close();
    store
}
