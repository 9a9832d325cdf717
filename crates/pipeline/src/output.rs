//! Run directories and the pipeline's atomic writes (through `dimua-core`).

use std::path::{Path, PathBuf};

use crate::error::{invalid, PipelineError, Result};

/// Writes `bytes` to `path` atomically ([`dimua_core::fs::write_atomic`]: a synced
/// temporary file in the same directory, renamed over `path`).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(dimua_core::fs::write_atomic(path, bytes)?)
}

/// Creates `dir`, refusing a non-empty one unless `force` (which clears it).
pub fn prepare_run_dir(dir: &Path, force: bool) -> Result<()> {
    if dir.exists() {
        let non_empty = std::fs::read_dir(dir)
            .map_err(|e| PipelineError::context(format!("cannot read {}", dir.display()), e))?
            .next()
            .is_some();
        if non_empty {
            if !force {
                invalid!(
                    "output directory {} is not empty: choose another --out, or pass --force to replace it",
                    dir.display()
                );
            }
            std::fs::remove_dir_all(dir).map_err(|e| {
                PipelineError::context(format!("cannot clear {}", dir.display()), e)
            })?;
        }
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| PipelineError::context(format!("cannot create {}", dir.display()), e))
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
