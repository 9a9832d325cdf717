//! `dimua-env`: Atari environments for RL agents written in Rust. Named presets
//! (`atariari`, `dqn`, `machado`, every option also settable on its own), frame stacks and
//! OpenCV-exact 84x84 area resizing on top of `dimua-atari`'s emulator, and [`VecEnv`]: N
//! envs on T threads in envpool's sync and async modes, writing into caller buffers without
//! allocating per step. Does not link libtorch.
//!
//! ```no_run
//! use dimua_atari::{load_rom, resolve_game, RomOptions};
//! use dimua_env::{Preset, VecEnv, VecEnvConfig};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let rom = load_rom(resolve_game("breakout")?, &RomOptions::default())?;
//! let config = VecEnvConfig {
//!     num_envs: 8,
//!     threads: 2,
//!     batch_size: 8,
//!     seed: 1,
//!     options: Preset::Dqn.options(),
//! };
//! let mut envs = VecEnv::new(&rom, config)?;
//! let mut obs = vec![0u8; envs.num_envs() * envs.obs_len()]; // 8 x [4, 84, 84, 1]
//! let mut batch = envs.new_batch(envs.num_envs());
//! envs.reset(&mut obs, &mut batch)?;
//! envs.step(&[1; 8], &mut obs, &mut batch)?;
//! for t in &batch.transitions {
//!     if t.game_ended {
//!         println!("score {} in {} steps", t.game_return, t.game_length);
//!     }
//! }
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod bench;
pub mod error;
pub mod options;
pub mod resize;
mod resize_simd;
pub mod single;
pub mod vec;

pub use crate::bench::{bench_env, EnvBenchResult};
pub use crate::error::EnvError;
pub use crate::options::{EnvOptions, Preset, PRESETS};
pub use crate::resize::AreaResize;
pub use crate::single::{PresetEnv, Transition};
pub use crate::vec::{StepBatch, VecEnv, VecEnvConfig, DEFAULT_SPIN};
/// How gray observations are made (an [`EnvOptions`] field).
pub use dimua_atari::Gray;
