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
//!
//! With `DIMUA_STEP_TRACE_TENSORS=1` as well, each line ends with
//! `params <digests> grads <digests> updated <digests> layouts <..>`: FNV-1a 64 of each
//! parameter's bytes before the step, of its gradient, and of the parameter after the
//! optimiser's update (parameters in name order, comma-separated), then each gradient's
//! strides when it is not contiguous (`-` when it is). When two runs' loss bits agree and their
//! weights do not, these say whether the weights going in, the backward pass or the update
//! differed, and for which parameter.

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

/// The environment variable that, set to `1`, adds the parameters', gradients' and updated
/// parameters' digests to every line (see the module docs).
pub const STEP_TRACE_TENSORS_ENV: &str = "DIMUA_STEP_TRACE_TENSORS";

/// The digests of one step's tensors (FNV-1a 64 of each one's bytes, parameters in name
/// order): the parameters going in, their gradients, the parameters after the update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StepDigests {
    /// The parameters before the step.
    pub params: Vec<u64>,
    /// The gradients of the step's loss.
    pub grads: Vec<u64>,
    /// The parameters after the optimiser's update.
    pub updated: Vec<u64>,
    /// Each gradient's strides when it is not contiguous (`-` when it is): a layout the
    /// optimiser's fused CPU step does not take.
    pub grad_layouts: Vec<String>,
}

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
    /// Whether lines end with the step's tensor digests ([`STEP_TRACE_TENSORS_ENV`]).
    tensors: bool,
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
                let tensors = std::env::var(STEP_TRACE_TENSORS_ENV).is_ok_and(|v| v == "1");
                Self::open(Path::new(&dir), run_dir, global_step, mode)
                    .map(|t| Some(t.with_tensors(tensors)))
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
            tensors: false,
        };
        let header = format!("run {} from step {global_step}", run_dir.display());
        writeln!(trace.file, "{header}").map_err(io_err(&trace.path))?;
        Ok(trace)
    }

    /// The same trace, with (`true`) or without the step's tensor digests on each line.
    pub fn with_tensors(mut self, tensors: bool) -> Self {
        self.tensors = tensors;
        self
    }

    /// Whether each line should carry the step's tensor digests (the caller then passes
    /// them to [`StepTrace::step`]).
    pub fn wants_tensors(&self) -> bool {
        self.tensors
    }

    /// Records step `global_step`: its batch `frames` (u8, any device), loss terms and, when
    /// given, the digests of its tensors.
    pub fn step(
        &mut self,
        global_step: u64,
        frames: &Tensor,
        losses: &[f64],
        tensors: Option<&StepDigests>,
    ) -> Result<(), TrainError> {
        let digest = if self.mode == TraceMode::Full {
            let digests = tensor_digests(std::slice::from_ref(frames))?;
            format!("{:016x}", digests[0])
        } else {
            "-".to_string()
        };
        let bits: Vec<String> = losses
            .iter()
            .map(|v| format!("{:016x}", v.to_bits()))
            .collect();
        let list = |ds: &[u64]| {
            let hex: Vec<String> = ds.iter().map(|d| format!("{d:016x}")).collect();
            hex.join(",")
        };
        let tensors = tensors
            .map(|t| {
                format!(
                    " params {} grads {} updated {} layouts {}",
                    list(&t.params),
                    list(&t.grads),
                    list(&t.updated),
                    t.grad_layouts.join(",")
                )
            })
            .unwrap_or_default();
        self.line(&format!(
            "step {global_step} frames {digest} loss {}{tensors}",
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

/// FNV-1a 64 of each tensor's bytes (as stored in a contiguous host copy), in order: the
/// digests of a traced step's batch and tensors.
pub(crate) fn tensor_digests(tensors: &[Tensor]) -> Result<Vec<u64>, TrainError> {
    let ctx = "tracing a step's tensors";
    tensors
        .iter()
        .map(|t| {
            let host = t
                .f_to_device(Device::Cpu)
                .and_then(|t| t.f_contiguous())
                .and_then(|t| t.f_flatten(0, -1))
                .ctx(ctx)?;
            let numel = host.numel();
            let mut bytes = vec![0u8; numel * host.kind().elt_size_in_bytes()];
            host.f_copy_data_u8(&mut bytes, numel).ctx(ctx)?;
            Ok(fnv1a64(&bytes))
        })
        .collect()
}

/// `-` for a contiguous tensor, its strides (`[s0:s1:..]`, no commas, so the comma-separated
/// list of a line stays one entry per tensor) otherwise.
pub(crate) fn layout_of(t: &Tensor) -> String {
    if t.is_contiguous() {
        "-".into()
    } else {
        let strides: Vec<String> = t.stride().iter().map(i64::to_string).collect();
        format!("[{}]", strides.join(":"))
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
            t.step(7, &frames, &[1.0, -2.5], None).unwrap();
        }
        let mut again =
            StepTrace::open(dir.path(), Path::new("runs/x"), 8, TraceMode::Full).unwrap();
        again.step(8, &frames, &[0.0], None).unwrap();
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
        t.step(3, &Tensor::from_slice(b"a"), &[1.0], None).unwrap();
        t.step(4, &Tensor::from_slice(b"b"), &[-2.5], None).unwrap();
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

    /// Tensor digests: FNV-1a 64 of each tensor's stored bytes. The byte `a` gives the FNV
    /// reference vector 0xaf63dc4c8601ec8c; the f32 1.0 is stored as `00 00 80 3f`
    /// (little-endian), the same digest as those four bytes hashed directly. The three lists
    /// end the line in the order params, grads, updated.
    #[test]
    fn tensor_digests_hash_each_tensor_and_end_the_line() {
        let d = tensor_digests(&[Tensor::from_slice(b"a"), Tensor::from_slice(&[1.0f32])]).unwrap();
        assert_eq!(d[0], 0xaf63dc4c8601ec8c);
        assert_eq!(d[1], fnv1a64(&[0x00, 0x00, 0x80, 0x3f]));
        let dir = tempfile::tempdir().unwrap();
        let mut t = StepTrace::open(dir.path(), Path::new("runs/z"), 0, TraceMode::LossesOnly)
            .unwrap()
            .with_tensors(true);
        assert!(t.wants_tensors());
        let digests = StepDigests {
            params: vec![1],
            grads: vec![d[0], 0xff],
            updated: vec![2],
            grad_layouts: vec![
                layout_of(&Tensor::zeros([2, 3], (tch::Kind::Float, Device::Cpu))),
                layout_of(&Tensor::zeros([2, 3], (tch::Kind::Float, Device::Cpu)).tr()),
            ],
        };
        t.step(0, &Tensor::from_slice(b"a"), &[1.0], Some(&digests))
            .unwrap();
        drop(t);
        let text =
            fs::read_to_string(dir.path().join(format!("{}.trace", std::process::id()))).unwrap();
        assert_eq!(
            text,
            "run runs/z from step 0\n\
             step 0 frames - loss 3ff0000000000000 params 0000000000000001 \
             grads af63dc4c8601ec8c,00000000000000ff updated 0000000000000002 layouts -,[1:3]\n"
        );
    }
}
