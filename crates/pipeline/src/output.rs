//! Run directories and the pipeline's atomic writes (through `dimua-core`).

use std::path::{Path, PathBuf};

pub use dimua_core::fs::same_file;
pub use dimua_core::outdir::{DirLock, OutputDir};

use crate::error::{invalid, Result};

/// Writes `bytes` to `path` atomically ([`dimua_core::fs::write_atomic`]: a synced
/// temporary file in the same directory, renamed over `path`).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(dimua_core::fs::write_atomic(path, bytes)?)
}

/// Whether `name` is an entry dimua writes in a run directory (results, checkpoints,
/// plots, its temporary and lock files).
pub fn is_run_file(name: &str) -> bool {
    const RUN_FILES: [&str; 11] = [
        "config.toml",
        "metrics.jsonl",
        "encoder.safetensors",
        "encoder.json",
        "heads.safetensors",
        "checkpoint.safetensors",
        "checkpoint.json",
        "checkpoint.json.tmp",
        "probe.json",
        "report.md",
        "plots",
    ];
    RUN_FILES.contains(&name) || (name.starts_with('.') && name.ends_with(".tmp"))
}

/// Prepares and locks the run directory `dir` (see [`dimua_core::outdir`]): absent or empty,
/// the run writes into it; non-empty, it is refused unless `force`, and with `force` the new
/// run is written beside it and replaces it only at [`OutputDir::commit`] (and only if it
/// holds nothing but dimua's files). Hold the returned value for the whole run.
pub fn prepare_run_dir(dir: &Path, force: bool) -> Result<OutputDir> {
    let resumable = dir.join("checkpoint.json").is_file();
    Ok(OutputDir::prepare(dir, force, is_run_file, resumable)?)
}

/// `DIR/encoder.safetensors`, or an error saying how to make one.
pub fn run_encoder_path(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("encoder.safetensors");
    if !path.exists() {
        invalid!(
            "run directory {} has no encoder.safetensors: train one first (`dimua train --out {}` or `dimua run`)",
            dir.display(),
            dir.display()
        );
    }
    Ok(path)
}
