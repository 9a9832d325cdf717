//! The optional per-step trace, for finding where two runs that should be bit-identical
//! part: with `DIMUA_STEP_TRACE=<dir>` in the environment, every training step appends one
//! line to `<dir>/<pid>.trace` (after a `run <run dir> from step <n>` header):
//!
//! `step <global step> frames <FNV-1a of the batch's frame bytes> loss <bits of each term>`
//!
//! Each line is written unbuffered, so a killed process keeps every step it finished. Two
//! traces then show the first differing step and whether its batch differed (data, sampling)
//! or only its arithmetic (the same frames, other loss bits).
//!
//! With `DIMUA_STEP_TRACE_LOSSES_ONLY=1` as well, the batch is not read (`frames -`) and the
//! lines are kept in memory and written when training ends: the trace then costs a string
//! per step and no system call, so it barely changes the process's timing (the full trace
//! reads every batch and writes every step); a process killed mid-run leaves only its header.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use dimua_core::seed::fnv1a64;
use tch::{Device, Tensor};

use crate::error::{io_err, TorchCtx, TrainError};

/// The environment variable naming the trace directory.
pub const STEP_TRACE_ENV: &str = "DIMUA_STEP_TRACE";

/// The environment variable that, set to `1`, makes the trace losses-only: no batch digest,
/// lines held until training ends (see the module docs).
pub const STEP_TRACE_LOSSES_ONLY_ENV: &str = "DIMUA_STEP_TRACE_LOSSES_ONLY";

/// What a step trace records, and when it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TraceMode {
    /// Batch digest and loss bits, written every step.
    Full,
    /// Loss bits only (`frames -`), written when the trace is dropped.
    LossesOnly,
}

/// An open step trace (see the module docs).
#[derive(Debug)]
pub(crate) struct StepTrace {
    path: PathBuf,
    file: File,
    mode: TraceMode,
    /// Step lines not yet written ([`TraceMode::LossesOnly`]).
    held: Vec<String>,
}

impl StepTrace {
    /// The trace of this process for the run in `run_dir` starting at `global_step`, if
    /// [`STEP_TRACE_ENV`] is set.
    pub fn from_env(run_dir: &Path, global_step: u64) -> Result<Option<Self>, TrainError> {
        match std::env::var_os(STEP_TRACE_ENV) {
            Some(dir) => {
                let mode = if std::env::var(STEP_TRACE_LOSSES_ONLY_ENV).is_ok_and(|v| v == "1") {
                    TraceMode::LossesOnly
                } else {
                    TraceMode::Full
                };
                Self::open(Path::new(&dir), run_dir, global_step, mode).map(Some)
            }
            None => Ok(None),
        }
    }

    /// The trace of this process in `dir` for the run in `run_dir` from `global_step`; the
    /// header is written at once in either mode.
    pub fn open(
        dir: &Path,
        run_dir: &Path,
        global_step: u64,
        mode: TraceMode,
    ) -> Result<Self, TrainError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let path = dir.join(format!("{}.trace", std::process::id()));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let mut trace = StepTrace {
            path,
            file,
            mode,
            held: Vec::new(),
        };
        let header = format!("run {} from step {global_step}", run_dir.display());
        writeln!(trace.file, "{header}").map_err(io_err(&trace.path))?;
        Ok(trace)
    }

    /// Records step `global_step`: its batch `frames` (u8, any device) and loss terms.
    pub fn step(
        &mut self,
        global_step: u64,
        frames: &Tensor,
        losses: &[f64],
    ) -> Result<(), TrainError> {
        let digest = if self.mode == TraceMode::Full {
            let ctx = "tracing a step";
            let host = frames
                .f_to_device(Device::Cpu)
                .and_then(|t| t.f_contiguous())
                .and_then(|t| t.f_flatten(0, -1))
                .ctx(ctx)?;
            let bytes = Vec::<u8>::try_from(&host).ctx(ctx)?;
            format!("{:016x}", fnv1a64(&bytes))
        } else {
            "-".to_string()
        };
        let bits: Vec<String> = losses
            .iter()
            .map(|v| format!("{:016x}", v.to_bits()))
            .collect();
        self.line(&format!(
            "step {global_step} frames {digest} loss {}",
            bits.join(" ")
        ))
    }

    fn line(&mut self, text: &str) -> Result<(), TrainError> {
        match self.mode {
            TraceMode::Full => writeln!(self.file, "{text}").map_err(io_err(&self.path)),
            TraceMode::LossesOnly => {
                self.held.push(text.to_string());
                Ok(())
            }
        }
    }
}

impl Drop for StepTrace {
    fn drop(&mut self) {
        let text: String = self.held.drain(..).map(|l| l + "\n").collect();
        if let Err(e) = self.file.write_all(text.as_bytes()) {
            tracing::warn!(
                "could not write the step trace {}: {e}",
                self.path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line format, with values checked by hand: FNV-1a 64 of the one byte `a` is
    /// 0xaf63dc4c8601ec8c (the FNV reference test vector), 1.0 is 0x3ff0000000000000 and
    /// -2.5 is 0xc004000000000000 in IEEE 754 binary64. Lines are appended, one process one
    /// file.
    #[test]
    fn lines_name_the_step_the_batch_digest_and_the_loss_bits() {
        let dir = tempfile::tempdir().unwrap();
        let frames = Tensor::from_slice(b"a");
        {
            let mut t =
                StepTrace::open(dir.path(), Path::new("runs/x"), 7, TraceMode::Full).unwrap();
            t.step(7, &frames, &[1.0, -2.5]).unwrap();
        }
        let mut again =
            StepTrace::open(dir.path(), Path::new("runs/x"), 8, TraceMode::Full).unwrap();
        again.step(8, &frames, &[0.0]).unwrap();
        let text =
            fs::read_to_string(dir.path().join(format!("{}.trace", std::process::id()))).unwrap();
        assert_eq!(
            text,
            "run runs/x from step 7\n\
             step 7 frames af63dc4c8601ec8c loss 3ff0000000000000 c004000000000000\n\
             run runs/x from step 8\n\
             step 8 frames af63dc4c8601ec8c loss 0000000000000000\n"
        );
    }

    /// Losses-only: no batch digest, and the step lines reach the file only when the trace
    /// is dropped (the header at once).
    #[test]
    fn a_losses_only_trace_skips_the_batch_and_writes_its_steps_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("{}.trace", std::process::id()));
        let mut t =
            StepTrace::open(dir.path(), Path::new("runs/y"), 3, TraceMode::LossesOnly).unwrap();
        t.step(3, &Tensor::from_slice(b"a"), &[1.0]).unwrap();
        t.step(4, &Tensor::from_slice(b"b"), &[-2.5]).unwrap();
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            "run runs/y from step 3\n"
        );
        drop(t);
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            "run runs/y from step 3\n\
             step 3 frames - loss 3ff0000000000000\n\
             step 4 frames - loss c004000000000000\n"
        );
    }
}
