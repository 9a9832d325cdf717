//! `dimua-atari`: ALE 0.6 emulator handle, game registry, canonical ROMs, AtariARI RAM
//! annotations and the AtariARI environment semantics (baselines' wrapper stack).
//!
//! Typical use:
//!
//! ```no_run
//! use dimua_atari::{load_rom, resolve_game, AtariAriEnv, EnvConfig, RomOptions};
//! # fn main() -> Result<(), dimua_atari::AtariError> {
//! let game = resolve_game("BreakoutNoFrameskip-v4")?;
//! let rom = load_rom(game, &RomOptions::default())?;
//! let mut env = AtariAriEnv::new(&rom, EnvConfig { seed: 42, ..EnvConfig::default() })?;
//! env.reset();
//! let mut labels = vec![0u8; env.num_labels()];
//! let outcome = env.step(1)?;
//! env.labels_into(&mut labels)?;
//! let _frame: &[u8] = env.observation(); // 210 x 160 x 1
//! if outcome.done {
//!     env.reset();
//! }
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod ale;
pub mod annotations;
pub mod env;
pub mod error;
pub mod frame;
mod frame_simd;
pub mod games;
pub mod roms;

pub use crate::ale::{Ale, NUM_ALE_ACTIONS, RAM_SIZE};
pub use crate::annotations::{
    all_labels, categories_of, label_ram_indices, labels, Category, Label,
};
pub use crate::env::{ale_seed_from, random_action, AtariAriEnv, EnvConfig, StepOutcome};
pub use crate::error::AtariError;
pub use crate::frame::{rgb_to_gray, Gray, Palette, SCREEN_HEIGHT, SCREEN_PIXELS, SCREEN_WIDTH};
pub use crate::frame_simd::simd_allowed;
pub use crate::games::{all_games, atariari_games, game_by_md5, resolve_game, Game};
pub use crate::roms::{
    load_rom, md5_hex, ImportReport, Rom, RomOptions, RomSource, RomStore, StoreEntry,
};
