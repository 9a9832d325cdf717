//! The optional per-step trace, for finding where two runs that should be bit-identical
//! part: with `DIMUA_STEP_TRACE=<dir>` in the environment, every training step appends one
//! line to `<dir>/<pid>.trace` (after a `run <run dir> from step <n>` header):
//!
//! `step <global step> frames <FNV-1a of the batch's frame bytes> loss <bits of each term>`
//!
//! Each line is written unbuffered, so a killed process keeps every step it finished. Two
//! traces then show the first differing step and whether its batch differed (data, sampling)
//! or only its arithmetic (the same frames, other loss bits).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use dimua_core::seed::fnv1a64;
use tch::{Device, Tensor};

use crate::error::{io_err, TorchCtx, TrainError};

/// The environment variable naming the trace directory.
pub const STEP_TRACE_ENV: &str = "DIMUA_STEP_TRACE";

/// An open step trace (see the module docs).
#[derive(Debug)]
pub(crate) struct StepTrace {
    path: PathBuf,
    file: File,
}

impl StepTrace {
    /// The trace of this process for the run in `run_dir` starting at `global_step`, if
    /// [`STEP_TRACE_ENV`] is set.
    pub fn from_env(run_dir: &Path, global_step: u64) -> Result<Option<Self>, TrainError> {
        let Some(dir) = std::env::var_os(STEP_TRACE_ENV) else {
            return Ok(None);
        };
        let dir = PathBuf::from(dir);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let path = dir.join(format!("{}.trace", std::process::id()));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let mut trace = StepTrace { path, file };
        trace.line(&format!(
            "run {} from step {global_step}",
            run_dir.display()
        ))?;
        Ok(Some(trace))
    }

    /// Records step `global_step`: its batch `frames` (u8, any device) and loss terms.
    pub fn step(
        &mut self,
        global_step: u64,
        frames: &Tensor,
        losses: &[f64],
    ) -> Result<(), TrainError> {
        let ctx = "tracing a step";
        let host = frames
            .f_to_device(Device::Cpu)
            .and_then(|t| t.f_contiguous())
            .and_then(|t| t.f_flatten(0, -1))
            .ctx(ctx)?;
        let bytes = Vec::<u8>::try_from(&host).ctx(ctx)?;
        let bits: Vec<String> = losses
            .iter()
            .map(|v| format!("{:016x}", v.to_bits()))
            .collect();
        self.line(&format!(
            "step {global_step} frames {:016x} loss {}",
            fnv1a64(&bytes),
            bits.join(" ")
        ))
    }

    fn line(&mut self, text: &str) -> Result<(), TrainError> {
        writeln!(self.file, "{text}").map_err(io_err(&self.path))
    }
}
