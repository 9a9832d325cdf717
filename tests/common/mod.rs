//! Helpers shared by the integration tests: the repository root, the project venv's Python,
//! and a small closed store of real Pong frames.

#![allow(dead_code)] // each test file uses only some of them

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dimua_buffer::{FrameStore, SplitRule};
use dimua_collect::{collect_into, store_for, CollectProgress, CollectSpec};

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The project venv's Python (torch, numpy, safetensors), created by `scripts/bootstrap.sh`.
pub fn python() -> PathBuf {
    let python = root().join(".cache/venv/bin/python");
    assert!(
        python.exists(),
        "{} missing: run scripts/bootstrap.sh first (it creates the venv with torch, numpy \
         and safetensors the Python cross-checks need)",
        python.display()
    );
    python
}

/// 3,000 Pong frames in 10 streams (one 300-frame episode each: 8 train, 2 val), collected
/// with the real emulator and the canonical ROM, closed.
pub fn pong_store() -> Arc<FrameStore> {
    let game = dimua_atari::resolve_game("pong").unwrap();
    let rom = dimua_atari::load_rom(game, &Default::default()).unwrap();
    let spec = CollectSpec {
        game,
        frames: 3000,
        seed: 5,
        threads: 2,
        streams: 10,
        color: false,
    };
    let store = store_for(&spec, &rom, SplitRule::PRETRAIN, &|| true).unwrap();
    collect_into(&spec, &rom, &store, &CollectProgress::default()).unwrap();
    store
}
