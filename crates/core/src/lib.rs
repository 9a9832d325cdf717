//! `dimua-core`: the small helpers every dimua crate shares, defined once (no libtorch, no
//! emulator).
//!
//! - [`fs`]: atomic file replacement (temporary file in the same directory, fsync, rename,
//!   fsync of the directory).
//! - [`seed`]: the SplitMix64 mixer and every seed derivation built from it.
//! - [`early_stop`]: patience-based early stopping for the trainer (lower val loss is
//!   better) and the probes (higher val accuracy is better).
//! - [`outdir`]: locked output directories; `--force` that replaces only dimua's results,
//!   only once the new one is complete.
//! - [`mem`]: the machine's memory, for size checks before allocating.
//! - [`npy`]: numpy `.npy` headers, written and parsed.
//! - [`precision`]: fp32 or bf16 compute, and whether the CPU has bf16 instructions.
//! - [`labels`]: AtariARI's summary [`Category`](labels::Category) and
//!   [`LabelSpec`](labels::LabelSpec).

#![deny(missing_docs)]

pub mod early_stop;
pub mod fs;
pub mod labels;
pub mod mem;
pub mod npy;
pub mod outdir;
pub mod precision;
pub mod seed;
