//! The training loop: read top to bottom in [`Trainer::run`].
//!
//! Per epoch: `steps_per_epoch` Adam steps on batches of `(x_t, x_{t+1})` pairs drawn from the
//! train episodes (refreshed every step while collection runs), then a no-grad validation
//! pass on the val episodes, early stopping on the val loss, a checkpoint, a
//! `metrics.jsonl` line, and an export of the current result (`encoder.safetensors` +
//! `encoder.json`).
//!
//! Deviation from the reference (documented): the exported encoder is the best validation
//! epoch's unless `last_weights` is set (the reference probes the last epoch's weights).

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dimua_buffer::{FrameStore, Split};
use dimua_core::fs::write_atomic;
use dimua_core::seed::derive_seed as mix;
use dimua_model::encoder::{export_encoder_tensors, write_safetensors_atomic, ENCODER_PREFIXES};
use dimua_model::losses::{membership_entropy, tau_at};
use dimua_model::{
    device_name, parse_device, Batch, BatchKind, EncoderMeta, EncoderSpec, FrameShape, LossInputs,
    Method, Objective, Precision, WeightInit,
};
use dimua_optim::Adam;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::checkpoint::{
    has_checkpoint, read_checkpoint, read_checkpoint_meta, write_checkpoint, CheckpointMeta,
    EarlyStopping, Plan, CHECKPOINT_FORMAT_VERSION, CHECKPOINT_META,
};
use crate::config::TrainConfig;
use crate::data::BatchSource;
use crate::error::{io_err, TorchCtx, TrainError};
use crate::metrics::{EpochMetrics, LossMeans};
use crate::trace::{layout_of, tensor_digests, StepDigests, StepTrace};

/// `metrics.jsonl` in the run directory.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// What the progress callback wants the trainer to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Keep going.
    Continue,
    /// Stop as soon as possible. The run directory keeps the checkpoint of the last
    /// completed epoch, so [`resume`] continues it; a partial epoch is discarded.
    Stop,
}

/// Progress reported to the caller's callback (e.g. to draw a bar).
#[derive(Debug, Clone)]
pub enum ProgressEvent<'a> {
    /// Training starts (or resumes) on `device`.
    Started {
        /// Device name.
        device: &'a str,
        /// Steps per epoch.
        steps_per_epoch: usize,
        /// Maximum epochs.
        max_epochs: usize,
        /// First epoch to run (0 unless resumed).
        first_epoch: usize,
    },
    /// Waiting for collection to provide the first batch.
    Waiting {
        /// Usable train pairs so far.
        train_pairs: usize,
        /// Pairs needed to start.
        needed: usize,
    },
    /// One optimiser step done.
    Step {
        /// Epoch (0-based).
        epoch: usize,
        /// Step within the epoch (1-based after this step).
        step_in_epoch: usize,
        /// Steps per epoch.
        steps_per_epoch: usize,
        /// Total steps so far.
        global_step: u64,
        /// This batch's total loss.
        loss: f64,
        /// Steps per second in this epoch so far.
        steps_per_s: f64,
    },
    /// An epoch finished (checkpoint and metrics written).
    EpochEnd(&'a EpochMetrics),
}

/// Why training ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// `max_epochs` epochs ran.
    MaxEpochs,
    /// The val loss did not improve for `patience` epochs.
    EarlyStopped,
    /// The callback asked to stop; the run can be resumed.
    Interrupted,
    /// `random-cnn`: nothing to train.
    NoTraining,
}

impl StopReason {
    /// The `status` of the checkpoint (and the encoder sidecar's `training`) of a run that
    /// ended this way; a run still going records `running`.
    fn checkpoint_status(self) -> &'static str {
        match self {
            StopReason::EarlyStopped => "early-stopped",
            _ => "finished",
        }
    }

    /// The end a checkpoint's `status` records, `None` for a run still going.
    fn from_checkpoint_status(status: &str) -> Option<Self> {
        [StopReason::MaxEpochs, StopReason::EarlyStopped]
            .into_iter()
            .find(|r| r.checkpoint_status() == status)
    }
}

/// Summary of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// The method.
    pub method: Method,
    /// The device used (`cpu`, `cuda:0`).
    pub device: String,
    /// Epochs completed.
    pub epochs_completed: usize,
    /// Optimiser steps taken.
    pub global_step: u64,
    /// Steps per epoch.
    pub steps_per_epoch: usize,
    /// Best val loss and its epoch.
    pub best_val_loss: Option<f64>,
    /// Epoch of the best val loss.
    pub best_epoch: Option<usize>,
    /// Val loss of the last completed epoch.
    pub last_val_loss: Option<f64>,
    /// Why it stopped.
    pub stop_reason: StopReason,
    /// Whether the exported weights are the best epoch's (`false`: the last epoch's).
    pub exported_best: bool,
    /// The exported encoder's weights file.
    pub encoder_path: PathBuf,
    /// Mean training steps per second over this invocation.
    pub steps_per_s: f64,
    /// Wall-clock seconds of this invocation.
    pub elapsed_s: f64,
}

/// A progress callback: return [`Control::Stop`] to stop early.
pub type ProgressFn<'a> = dyn FnMut(&ProgressEvent<'_>) -> Control + 'a;

/// Trains a fresh run in `run_dir` on the frames of `store` (which may still be filling).
/// Fails if `run_dir` already holds a checkpoint.
pub fn train(
    store: Arc<FrameStore>,
    frame_shape: FrameShape,
    config: &TrainConfig,
    run_dir: &Path,
    progress: &mut ProgressFn<'_>,
) -> Result<TrainReport, TrainError> {
    Trainer::new(store, frame_shape, config.clone(), run_dir)?.run(progress)
}

/// Continues the run in `run_dir` from its last checkpoint, to the same result as an
/// uninterrupted run (given the same closed store). `config`: `None` uses the checkpoint's;
/// a different one is an error and nothing is changed.
pub fn resume(
    store: Arc<FrameStore>,
    frame_shape: FrameShape,
    config: Option<&TrainConfig>,
    run_dir: &Path,
    progress: &mut ProgressFn<'_>,
) -> Result<TrainReport, TrainError> {
    Trainer::resume(store, frame_shape, config, run_dir)?.run(progress)
}

/// Writes the untrained encoder of `config` to `run_dir` (`encoder.safetensors` +
/// `encoder.json`) without any data: exactly the weights [`train`] starts from, which is what
/// it exports for `random-cnn`. Returns the weights' path.
pub fn export_initial_encoder(
    frame_shape: FrameShape,
    config: &TrainConfig,
    run_dir: &Path,
) -> Result<PathBuf, TrainError> {
    let spec = config.validate(frame_shape)?;
    let learner = initial_learner(&spec, config, 0)?;
    let meta = EncoderMeta::new(&spec, config.method, config.game.clone())?;
    fs::create_dir_all(run_dir).map_err(io_err(run_dir))?;
    Ok(export_encoder_tensors(&learner.named_params(), &meta, run_dir)?.0)
}

/// The model and optimiser a fresh run of `config` starts from (seeded, any device).
fn initial_learner(
    spec: &EncoderSpec,
    config: &TrainConfig,
    label_bytes: usize,
) -> Result<Learner, TrainError> {
    let device = parse_device(&config.device)?;
    let learner = Learner::new(
        spec,
        config.method,
        device,
        config.lr,
        config.adam_eps,
        WeightInit::Seeded(mix(config.seed, 0, 0)),
        label_bytes,
    )?;
    learner.set_precision(config.precision, device);
    Ok(learner)
}

const STREAM_TRAIN: u64 = 1;
const STREAM_VAL: u64 = 2;
const STREAM_STEP_TRAIN: u64 = 3;
const STREAM_STEP_VAL: u64 = 4;

/// The model, its parameters (sorted by name) and the optimiser.
pub(crate) struct Learner {
    /// Owns the variables (kept alive for the run).
    _vs: VarStore,
    pub model: Box<dyn Objective>,
    pub names: Vec<String>,
    pub params: Vec<Tensor>,
    pub adam: Adam,
    /// The method's exported-heads prefix, kept with the best weights.
    model_heads: Option<&'static str>,
    /// The last step's tensor digests, when that step was asked for them (the step trace).
    pub digests: Option<StepDigests>,
}

/// One step's outcome.
pub(crate) enum StepOutcome {
    /// Applied; the method's loss terms, in its order.
    Applied(Vec<f64>),
    /// Not applied: non-finite loss (the terms, in the method's order).
    NonFinite(Vec<f64>),
}

impl Learner {
    pub fn new(
        spec: &EncoderSpec,
        method: Method,
        device: Device,
        lr: f64,
        eps: f64,
        init: WeightInit,
        label_bytes: usize,
    ) -> Result<Self, TrainError> {
        // A fresh run and its resumption compute with the same libtorch thread settings:
        // setting the count (to its default) also turns MKL's dynamic thread adjustment off,
        // which a seeded initialisation does as a side effect and a resume (zero init, then
        // the checkpoint's weights) otherwise would not.
        tch::set_num_threads(tch::get_num_threads());
        let vs = VarStore::new(device);
        let model = method.build_for_labels(&vs.root(), spec, init, label_bytes)?;
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let (names, params): (Vec<_>, Vec<_>) = vars.into_iter().unzip();
        let adam = Adam::new(&params, lr, eps)?;
        Ok(Learner {
            _vs: vs,
            model,
            names,
            params,
            adam,
            model_heads: method.exported_heads(),
            digests: None,
        })
    }

    /// The compute precision of the steps (fp32 unless set); warns once when bf16 on this
    /// CPU is emulated.
    pub fn set_precision(&self, precision: Precision, device: Device) {
        if let Some(why) = dimua_model::mixed::slow_bf16(precision, device) {
            tracing::warn!("{why}");
        }
        self.model.net().set_precision(precision);
    }

    /// Loss, backward (gradients via autograd, not accumulated into `.grad`), Adam.
    /// `inputs.seed` drives the step's random draws (e.g. the MMD prior). With
    /// `digest_tensors`, the digests of the parameters going in, the gradients and the
    /// updated parameters are kept in [`Learner::digests`].
    pub fn step(
        &mut self,
        batch: &Batch<'_>,
        inputs: LossInputs,
        digest_tensors: bool,
    ) -> Result<StepOutcome, TrainError> {
        let mut digests = if digest_tensors {
            Some(StepDigests {
                params: tensor_digests(&self.params)?,
                grads: Vec::new(),
                updated: Vec::new(),
                grad_layouts: Vec::new(),
            })
        } else {
            None
        };
        let terms = self.model.loss(batch, inputs)?;
        let values = losses_to_host(&terms.stacked()?)?;
        if !values.iter().all(|v| v.is_finite()) {
            return Ok(StepOutcome::NonFinite(values));
        }
        let grads = Tensor::f_run_backward(&[terms.total()], &self.params, false, false)
            .ctx("backpropagating")?;
        if let Some(d) = &mut digests {
            d.grads = tensor_digests(&grads)?;
            d.grad_layouts = grads.iter().map(layout_of).collect();
        }
        self.adam.step(&self.params, &grads)?;
        if let Some(d) = &mut digests {
            d.updated = tensor_digests(&self.params)?;
        }
        self.digests = digests;
        Ok(StepOutcome::Applied(values))
    }

    /// Copies of the encoder's variables and of the method's exported heads (for
    /// best-weights bookkeeping).
    pub fn encoder_copy(&self) -> Result<Vec<(String, Tensor)>, TrainError> {
        let heads = self.model_heads;
        self.names
            .iter()
            .zip(&self.params)
            .filter(|(n, _)| exported(n, heads))
            .map(|(n, p)| {
                let mut c = p.f_zeros_like()?.f_detach()?;
                tch::no_grad(|| c.f_copy_(p))?;
                Ok((n.clone(), c))
            })
            .collect::<Result<_, tch::TchError>>()
            .ctx("copying the best weights")
    }

    fn named_params(&self) -> Vec<(String, Tensor)> {
        self.names
            .iter()
            .cloned()
            .zip(self.params.iter().map(Tensor::shallow_clone))
            .collect()
    }
}

fn losses_to_host(stacked: &Tensor) -> Result<Vec<f64>, TrainError> {
    let host = stacked
        .f_to_device(Device::Cpu)
        .and_then(|t| t.f_to_kind(Kind::Double))
        .ctx("reading the loss")?;
    Vec::<f64>::try_from(&host).ctx("reading the loss")
}

/// One sampled batch on the device, owning its tensors.
struct DrawnBatch {
    frames: Tensor,
    labels: Option<Tensor>,
    samples: usize,
}

impl DrawnBatch {
    /// The batch as the objective receives it.
    fn batch(&self) -> Batch<'_> {
        Batch {
            frames: &self.frames,
            samples: self.samples,
            labels: self.labels.as_ref(),
        }
    }
}

/// Samples one batch of `kind` (`b` samples) from `split` and puts it on the device:
/// the frames, and the labels for [`BatchKind::LabelledFrames`].
fn draw_batch(
    source: &mut BatchSource,
    split: Split,
    kind: BatchKind,
    b: usize,
    rng: &mut ChaCha8Rng,
    min_len: usize,
) -> Result<DrawnBatch, TrainError> {
    let name = if split == Split::Val { "val" } else { "train" };
    let slots = source
        .sample(split, kind, b, rng)
        .ok_or(TrainError::NotEnoughData {
            split: name,
            what: sample_name(kind),
            pairs: 0,
            episodes: 0,
            min_len: min_episode_frames(kind, min_len),
            needed: if split == Split::Val { 1 } else { b },
            hint: "",
        })?;
    let frames = source.gather(&slots)?;
    let labels = match kind {
        BatchKind::LabelledFrames => Some(source.labels(&slots)?),
        _ => None,
    };
    Ok(DrawnBatch {
        frames,
        labels,
        samples: b,
    })
}

/// A training run: call [`Trainer::run`].
pub struct Trainer {
    config: TrainConfig,
    spec: EncoderSpec,
    run_dir: PathBuf,
    device: Device,
    source: BatchSource,
    learner: Learner,
    plan: Option<Plan>,
    next_epoch: usize,
    global_step: u64,
    sampler: ChaCha8Rng,
    early: EarlyStopping,
    best: Option<Vec<(String, Tensor)>>,
    history: Vec<EpochMetrics>,
    encoder_meta: EncoderMeta,
    finished: Option<StopReason>,
}

impl Trainer {
    /// Sets up a fresh run: validates the config against the store and shape and
    /// initialises the model from `config.seed` (ChaCha8 streams; libtorch's global
    /// generator is not used). Nothing is written yet.
    pub fn new(
        store: Arc<FrameStore>,
        frame_shape: FrameShape,
        config: TrainConfig,
        run_dir: &Path,
    ) -> Result<Self, TrainError> {
        let spec = config.validate(frame_shape)?;
        if has_checkpoint(run_dir) {
            return Err(TrainError::RunDirHasCheckpoint {
                path: run_dir.join(CHECKPOINT_META),
            });
        }
        let device = parse_device(&config.device)?;
        let learner = initial_learner(&spec, &config, store.spec().label_bytes)?;
        let source = BatchSource::new(store, frame_shape, config.min_episode_len, device)?;
        let encoder_meta = EncoderMeta::new(&spec, config.method, config.game.clone())?;
        Ok(Trainer {
            sampler: ChaCha8Rng::seed_from_u64(mix(config.seed, STREAM_TRAIN, 0)),
            config,
            spec,
            run_dir: run_dir.to_path_buf(),
            device,
            source,
            learner,
            plan: None,
            next_epoch: 0,
            global_step: 0,
            early: EarlyStopping::default(),
            best: None,
            history: Vec::new(),
            encoder_meta,
            finished: None,
        })
    }

    /// Restores a run from `run_dir`'s checkpoint (see [`resume`]).
    pub fn resume(
        store: Arc<FrameStore>,
        frame_shape: FrameShape,
        config: Option<&TrainConfig>,
        run_dir: &Path,
    ) -> Result<Self, TrainError> {
        if !has_checkpoint(run_dir) {
            return Err(TrainError::NoCheckpoint {
                dir: run_dir.to_path_buf(),
            });
        }
        // Check the config against the metadata before loading any tensor.
        let meta = read_checkpoint_meta(run_dir)?;
        if let Some(requested) = config {
            if let Some((field, checkpoint, requested)) =
                meta.config.differences(requested).into_iter().next()
            {
                return Err(TrainError::ResumeConfigMismatch {
                    dir: run_dir.to_path_buf(),
                    field,
                    checkpoint,
                    requested,
                });
            }
        }
        if meta.plan.frame != frame_shape {
            return Err(TrainError::ResumeConfigMismatch {
                dir: run_dir.to_path_buf(),
                field: "frame shape".into(),
                checkpoint: meta.plan.frame.to_string(),
                requested: frame_shape.to_string(),
            });
        }
        let config = meta.config.clone();
        let spec = config.validate(frame_shape)?;
        let device = parse_device(&config.device)?;
        let (meta, tensors) = read_checkpoint(run_dir, device)?;
        let corrupt = |reason: String| TrainError::CorruptCheckpoint {
            path: run_dir.join(CHECKPOINT_META),
            reason,
        };
        // Zero init: every value is overwritten from the checkpoint.
        let mut learner = Learner::new(
            &spec,
            config.method,
            device,
            config.lr,
            config.adam_eps,
            WeightInit::Zeros,
            store.spec().label_bytes,
        )?;
        learner.set_precision(config.precision, device);
        let get = |key: String| {
            tensors
                .get(&key)
                .map(Tensor::shallow_clone)
                .ok_or_else(|| corrupt(format!("missing tensor {key}")))
        };
        let mut moments = Vec::new();
        tch::no_grad(|| -> Result<(), TrainError> {
            for (name, p) in learner.names.iter().zip(&learner.params) {
                let src = get(format!("model.{name}"))?;
                if src.size() != p.size() {
                    return Err(corrupt(format!(
                        "model.{name} has shape {:?}, expected {:?}",
                        src.size(),
                        p.size()
                    )));
                }
                p.shallow_clone().f_copy_(&src).ctx("restoring weights")?;
                moments.push((
                    get(format!("adam_m.{name}"))?,
                    get(format!("adam_v.{name}"))?,
                ));
            }
            Ok(())
        })?;
        learner.adam.restore(meta.adam_step, moments)?;
        let best = if meta.has_best_weights {
            let mut best = Vec::new();
            for name in learner
                .names
                .iter()
                .filter(|n| exported(n, config.method.exported_heads()))
            {
                best.push((name.clone(), get(format!("best.{name}"))?));
            }
            Some(best)
        } else {
            None
        };
        let mut sampler = ChaCha8Rng::seed_from_u64(mix(config.seed, STREAM_TRAIN, 0));
        let pos: u128 = meta
            .sampler_word_pos
            .parse()
            .map_err(|_| corrupt("bad sampler position".into()))?;
        sampler.set_word_pos(pos);
        let source = BatchSource::new(store, frame_shape, config.min_episode_len, device)?;
        let encoder_meta = EncoderMeta::new(&spec, config.method, config.game.clone())?;
        let finished = StopReason::from_checkpoint_status(&meta.status);
        let trainer = Trainer {
            config,
            spec,
            run_dir: run_dir.to_path_buf(),
            device,
            source,
            learner,
            plan: Some(meta.plan.clone()),
            next_epoch: meta.next_epoch,
            global_step: meta.global_step,
            sampler,
            early: meta.early_stopping.clone(),
            best,
            history: meta.history.clone(),
            encoder_meta,
            finished,
        };
        // The metrics file may hold lines of an epoch that never made it into a checkpoint.
        trainer.rewrite_metrics()?;
        Ok(trainer)
    }

    /// The device training runs on.
    pub fn device(&self) -> Device {
        self.device
    }

    fn rewrite_metrics(&self) -> Result<(), TrainError> {
        let mut text = String::new();
        for m in &self.history {
            text.push_str(&m.to_json().to_string());
            text.push('\n');
        }
        write_atomic(&self.run_dir.join(METRICS_FILE), text.as_bytes())?;
        Ok(())
    }

    fn append_metrics(&self, m: &EpochMetrics) -> Result<(), TrainError> {
        let path = self.run_dir.join(METRICS_FILE);
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        writeln!(f, "{}", m.to_json()).map_err(io_err(&path))?;
        f.flush().map_err(io_err(&path))
    }

    /// Waits until the train view can supply a batch (streaming); errors if the store is
    /// closed first.
    fn wait_for_data(&mut self, progress: &mut ProgressFn<'_>) -> Result<bool, TrainError> {
        let needed = self.config.batch_size;
        let kind = self.config.method.batch();
        let mut last_report = Instant::now() - Duration::from_secs(1);
        loop {
            // Read before refreshing: a refresh after the close sees every episode and sorts
            // the views canonically, which is what makes `wait_for_collection` reproducible.
            let closed = self.source.store().is_closed();
            self.source.refresh()?;
            let pairs = self.source.available(Split::Train, kind);
            let may_start = closed || !self.config.wait_for_collection;
            if may_start && pairs >= needed {
                return Ok(true);
            }
            if self.source.store().is_closed() {
                self.source.refresh()?;
                let available = self.source.available(Split::Train, kind);
                if available >= needed {
                    return Ok(true);
                }
                let t = self.source.train();
                return Err(TrainError::NotEnoughData {
                    split: "train",
                    what: sample_name(kind),
                    pairs: available,
                    episodes: t.num_episodes(),
                    min_len: min_episode_frames(kind, self.config.min_episode_len),
                    needed,
                    hint: "; collect more frames (--frames) or lower `batch_size` in the config's [train] section",
                });
            }
            if last_report.elapsed() >= Duration::from_millis(200) {
                last_report = Instant::now();
                if progress(&ProgressEvent::Waiting {
                    train_pairs: pairs,
                    needed,
                }) == Control::Stop
                {
                    return Ok(false);
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn resolve_plan(&self) -> Plan {
        let b = self.config.batch_size;
        let steps = self.config.steps_per_epoch.unwrap_or_else(|| {
            let store = self.source.store();
            let frames = if store.is_closed() {
                self.source.train().len_frames()
            } else if let Some(t) = self.config.target_train_frames {
                t
            } else {
                let r = store.spec().split;
                (store.capacity() as u128 * r.train as u128 / r.block_len().max(1) as u128) as usize
            };
            (frames / (b * frames_per_step_sample(self.config.method))).max(1)
        });
        Plan {
            steps_per_epoch: steps,
            frame: self.spec.frame,
            device: device_name(self.device),
        }
    }

    /// Runs (or continues) training to the end, early stop, or until `progress` says stop.
    pub fn run(mut self, progress: &mut ProgressFn<'_>) -> Result<TrainReport, TrainError> {
        let started = Instant::now();
        fs::create_dir_all(&self.run_dir).map_err(io_err(&self.run_dir))?;
        let steps_at_start = self.global_step;

        if !self.config.method.trains() {
            return self.finish_random(started);
        }
        if let Some(reason) = self.finished {
            // A kill can fall between the last checkpoint (already "finished") and the
            // export after it: write the final encoder again from the checkpoint's weights
            // (the same bytes as an uninterrupted run's) before reporting.
            self.encoder_meta.training = Some(reason.checkpoint_status().to_string());
            self.export_current()?;
            return self.report(reason, started, steps_at_start);
        }
        // A resumed run waits for data like a fresh one: its store is refilled from the
        // start (a streamed collection begins again), and sampling an empty view would fail.
        if !self.wait_for_data(progress)? {
            return self.report(StopReason::Interrupted, started, steps_at_start);
        }
        if self.plan.is_none() {
            self.plan = Some(self.resolve_plan());
            // A fresh run starts a fresh metrics file.
            self.rewrite_metrics()?;
        }
        let plan = self.plan.clone().unwrap_or_else(|| self.resolve_plan());
        let device = plan.device.clone();
        if progress(&ProgressEvent::Started {
            device: &device,
            steps_per_epoch: plan.steps_per_epoch,
            max_epochs: self.config.max_epochs,
            first_epoch: self.next_epoch,
        }) == Control::Stop
        {
            return self.report(StopReason::Interrupted, started, steps_at_start);
        }

        let mut trace = StepTrace::from_env(&self.run_dir, self.global_step)?;
        let b = self.config.batch_size;
        let method = self.config.method;
        let kind = method.batch();
        let names = method.loss_terms();
        let mut reason = StopReason::MaxEpochs;
        while self.next_epoch < self.config.max_epochs {
            let epoch = self.next_epoch;
            let epoch_start = Instant::now();
            // ---- train pass ----
            let mut sums = vec![0.0f64; names.len()];
            for s in 0..plan.steps_per_epoch {
                if !self.source.store().is_closed() || s == 0 {
                    self.source.refresh()?;
                }
                let drawn = draw_batch(
                    &mut self.source,
                    Split::Train,
                    kind,
                    b,
                    &mut self.sampler,
                    self.config.min_episode_len,
                )?;
                let batch = drawn.batch();
                let step_seed = mix(self.config.seed, STREAM_STEP_TRAIN, self.global_step);
                let tau = tau_at(
                    self.config.tau,
                    self.global_step,
                    self.config.tau_warmup_steps,
                );
                let inputs = LossInputs {
                    tau,
                    vae_beta: self.config.vae_beta,
                    seed: step_seed,
                    training: true,
                };
                let digest_tensors = trace.as_ref().is_some_and(StepTrace::wants_tensors);
                let values = match self.learner.step(&batch, inputs, digest_tensors)? {
                    StepOutcome::Applied(v) => v,
                    StepOutcome::NonFinite(v) => return Err(self.non_finite("train", epoch, s, v)),
                };
                if let Some(trace) = &mut trace {
                    let digests = self.learner.digests.as_ref();
                    trace.step(self.global_step, batch.frames, &values, digests)?;
                }
                for (acc, v) in sums.iter_mut().zip(&values) {
                    *acc += v;
                }
                self.global_step += 1;
                let elapsed = epoch_start.elapsed().as_secs_f64();
                let ev = ProgressEvent::Step {
                    epoch,
                    step_in_epoch: s + 1,
                    steps_per_epoch: plan.steps_per_epoch,
                    global_step: self.global_step,
                    loss: values[0],
                    steps_per_s: (s + 1) as f64 / elapsed.max(1e-9),
                };
                if progress(&ev) == Control::Stop {
                    return self.report(StopReason::Interrupted, started, steps_at_start);
                }
            }
            let train_s = epoch_start.elapsed().as_secs_f64();
            let train = LossMeans::from_sums(names, &sums, plan.steps_per_epoch);

            // ---- validation pass ----
            let val = self.validate(epoch)?;
            let improved = match &val {
                Some(v) => self.early.observe(epoch, v.losses.total()),
                None => false,
            };
            if improved && !self.config.last_weights {
                self.best = Some(self.learner.encoder_copy()?);
            }
            let metrics = EpochMetrics {
                epoch,
                global_step: self.global_step,
                train,
                val: val.as_ref().map(|v| v.losses.clone()),
                membership_entropy: val.as_ref().map(|v| v.entropy),
                head_share: val.as_ref().map(|v| v.head_share.clone()),
                steps_per_s: plan.steps_per_epoch as f64 / train_s.max(1e-9),
                frames_seen: self.global_step * (kind.frames_per_sample() * b) as u64,
                tau: tau_at(
                    self.config.tau,
                    self.global_step,
                    self.config.tau_warmup_steps,
                ),
                epoch_s: epoch_start.elapsed().as_secs_f64(),
                improved,
                best_val_loss: self.early.best,
                patience_counter: self.early.counter,
                train_frames: self.source.train().len_frames(),
                val_frames: self.source.val().len_frames(),
            };
            self.history.push(metrics.clone());
            self.next_epoch = epoch + 1;
            let stop = self.early.should_stop(self.config.patience);
            let status = if stop {
                StopReason::EarlyStopped.checkpoint_status()
            } else if self.next_epoch >= self.config.max_epochs {
                StopReason::MaxEpochs.checkpoint_status()
            } else {
                "running"
            };
            self.save_checkpoint(&plan, status)?;
            self.append_metrics(&metrics)?;
            self.encoder_meta.training = Some(status.to_string());
            self.export_current()?;
            tracing::info!(
                epoch,
                train_loss = metrics.train.total(),
                val_loss = metrics.val.as_ref().map(LossMeans::total),
                steps_per_s = metrics.steps_per_s,
                "epoch done"
            );
            let control = progress(&ProgressEvent::EpochEnd(&metrics));
            if stop {
                reason = StopReason::EarlyStopped;
                break;
            }
            if control == Control::Stop && self.next_epoch < self.config.max_epochs {
                return self.report(StopReason::Interrupted, started, steps_at_start);
            }
        }
        self.report(reason, started, steps_at_start)
    }

    fn non_finite(
        &self,
        phase: &'static str,
        epoch: usize,
        step: usize,
        v: Vec<f64>,
    ) -> TrainError {
        let names = self.config.method.loss_terms();
        TrainError::NonFiniteLoss {
            phase,
            epoch,
            step_in_epoch: step,
            global_step: self.global_step,
            terms: names.iter().map(|n| n.to_string()).zip(v).collect(),
            last_good_epoch: self.next_epoch.checked_sub(1),
        }
    }

    /// The no-grad validation pass: `val_steps` batches from the val episodes, with a
    /// sampler seeded per epoch. `None` when no val data is available yet (streaming).
    fn validate(&mut self, epoch: usize) -> Result<Option<ValResult>, TrainError> {
        self.source.refresh()?;
        let b = self.config.batch_size;
        let kind = self.config.method.batch();
        let names = self.config.method.loss_terms();
        let val = self.source.val();
        if self.source.available(Split::Val, kind) == 0 {
            if self.source.store().is_closed() {
                return Err(TrainError::NotEnoughData {
                    split: "val",
                    what: sample_name(kind),
                    pairs: self.source.available(Split::Val, kind),
                    episodes: val.num_episodes(),
                    min_len: min_episode_frames(kind, self.config.min_episode_len),
                    needed: 1,
                    hint: "; the store's split rule must put some episodes in val (collect more frames)",
                });
            }
            return Ok(None);
        }
        let steps = self.config.val_steps.unwrap_or(
            (val.len_frames() / (b * frames_per_step_sample(self.config.method))).max(1),
        );
        let mut rng = ChaCha8Rng::seed_from_u64(mix(self.config.seed, STREAM_VAL, epoch as u64));
        let tau = tau_at(
            self.config.tau,
            self.global_step,
            self.config.tau_warmup_steps,
        );
        let heads = self.spec.heads as i64;
        let ctx = "validating";
        let _guard = tch::no_grad_guard();
        let mut sums =
            Tensor::f_zeros([names.len() as i64], (Kind::Float, self.device)).ctx(ctx)?;
        let mut entropy_sum = Tensor::f_zeros([], (Kind::Double, self.device)).ctx(ctx)?;
        let mut counts = Tensor::f_zeros([heads], (Kind::Double, self.device)).ctx(ctx)?;
        let mut frames_seen = 0usize;
        for s in 0..steps {
            let drawn = draw_batch(
                &mut self.source,
                Split::Val,
                kind,
                b,
                &mut rng,
                self.config.min_episode_len,
            )?;
            let batch = drawn.batch();
            let step_seed = mix(
                self.config.seed,
                STREAM_STEP_VAL,
                (epoch as u64) << 32 | s as u64,
            );
            let inputs = LossInputs {
                tau,
                vae_beta: self.config.vae_beta,
                seed: step_seed,
                training: false,
            };
            let terms = self.learner.model.loss(&batch, inputs)?;
            sums = sums.f_add(&terms.stacked()?).ctx(ctx)?;
            let rows = terms
                .membership_q
                .as_ref()
                .map_or(0, |q| q.size()[0] as usize);
            if let Some(q) = &terms.membership_q {
                let e = membership_entropy(q)?
                    .f_to_kind(Kind::Double)
                    .ctx(ctx)?
                    .f_mul_scalar(rows as f64)
                    .ctx(ctx)?;
                entropy_sum = entropy_sum.f_add(&e).ctx(ctx)?;
                let hist = q
                    .f_argmax(1, false)
                    .and_then(|a| a.f_one_hot(heads))
                    .and_then(|h| h.f_sum_dim_intlist(0, false, Kind::Double))
                    .ctx(ctx)?;
                counts = counts.f_add(&hist).ctx(ctx)?;
                frames_seen += rows;
            }
        }
        let mean = losses_to_host(&sums)?;
        let losses = LossMeans::from_sums(names, &mean, steps);
        if !losses.all_finite() {
            return Err(self.non_finite(
                "val",
                epoch,
                steps,
                mean.iter().map(|v| v / steps.max(1) as f64).collect(),
            ));
        }
        let (entropy, head_share) = if self.spec.heads > 1 {
            let seen = frames_seen.max(1) as f64;
            let e = entropy_sum.f_double_value(&[]).ctx(ctx)? / seen;
            let c: Vec<f64> =
                Vec::<f64>::try_from(&counts.f_to_device(Device::Cpu).ctx(ctx)?).ctx(ctx)?;
            (e, c.iter().map(|x| x / seen).collect())
        } else {
            (0.0, vec![1.0])
        };
        Ok(Some(ValResult {
            losses,
            entropy,
            head_share,
        }))
    }

    fn save_checkpoint(&self, plan: &Plan, status: &str) -> Result<(), TrainError> {
        let mut tensors = Vec::new();
        for (name, p) in self.learner.named_params() {
            tensors.push((format!("model.{name}"), p));
        }
        for (name, (m, v)) in self.learner.names.iter().zip(self.learner.adam.moments()) {
            tensors.push((format!("adam_m.{name}"), m.shallow_clone()));
            tensors.push((format!("adam_v.{name}"), v.shallow_clone()));
        }
        let has_best = match (&self.best, self.config.last_weights) {
            (Some(best), false) => {
                for (name, t) in best {
                    tensors.push((format!("best.{name}"), t.shallow_clone()));
                }
                true
            }
            _ => false,
        };
        let meta = CheckpointMeta {
            format_version: CHECKPOINT_FORMAT_VERSION,
            config: self.config.clone(),
            plan: plan.clone(),
            next_epoch: self.next_epoch,
            global_step: self.global_step,
            adam_step: self.learner.adam.steps(),
            sampler_word_pos: self.sampler.get_word_pos().to_string(),
            early_stopping: self.early.clone(),
            has_best_weights: has_best,
            status: status.to_string(),
            history: self.history.clone(),
            tag: self.global_step,
        };
        write_checkpoint(&self.run_dir, &meta, tensors)
    }

    /// Writes `encoder.safetensors` + `encoder.json`: the best epoch's weights (unless
    /// `last_weights` or no val loss yet), else the current ones.
    fn export_current(&self) -> Result<PathBuf, TrainError> {
        let tensors = match (&self.best, self.config.last_weights) {
            (Some(best), false) => best
                .iter()
                .map(|(n, t)| (n.clone(), t.shallow_clone()))
                .collect(),
            _ => self.learner.named_params(),
        };
        if let Some(prefix) = self.config.method.exported_heads() {
            let heads: Vec<(String, Tensor)> = tensors
                .iter()
                .filter(|(n, _)| n.starts_with(prefix))
                .map(|(n, t)| (n.clone(), t.shallow_clone()))
                .collect();
            write_safetensors_atomic(&self.run_dir.join(HEADS_FILE), &heads)?;
        }
        Ok(export_encoder_tensors(&tensors, &self.encoder_meta, &self.run_dir)?.0)
    }

    fn finish_random(self, started: Instant) -> Result<TrainReport, TrainError> {
        let path = self.export_current()?;
        if !self.run_dir.join(METRICS_FILE).exists() {
            self.rewrite_metrics()?;
        }
        Ok(TrainReport {
            method: self.config.method,
            device: device_name(self.device),
            epochs_completed: 0,
            global_step: 0,
            steps_per_epoch: 0,
            best_val_loss: None,
            best_epoch: None,
            last_val_loss: None,
            stop_reason: StopReason::NoTraining,
            exported_best: false,
            encoder_path: path,
            steps_per_s: 0.0,
            elapsed_s: started.elapsed().as_secs_f64(),
        })
    }

    fn report(
        &self,
        reason: StopReason,
        started: Instant,
        steps_at_start: u64,
    ) -> Result<TrainReport, TrainError> {
        let (weights, _) = dimua_model::encoder::encoder_paths(&self.run_dir);
        let elapsed = started.elapsed().as_secs_f64();
        Ok(TrainReport {
            method: self.config.method,
            device: device_name(self.device),
            epochs_completed: self.next_epoch,
            global_step: self.global_step,
            steps_per_epoch: self.plan.as_ref().map_or(0, |p| p.steps_per_epoch),
            best_val_loss: self.early.best,
            best_epoch: self.early.best_epoch,
            last_val_loss: self
                .history
                .last()
                .and_then(|m| m.val.as_ref().map(LossMeans::total)),
            stop_reason: reason,
            exported_best: self.best.is_some() && !self.config.last_weights,
            encoder_path: weights,
            steps_per_s: (self.global_step - steps_at_start) as f64 / elapsed.max(1e-9),
            elapsed_s: elapsed,
        })
    }
}

struct ValResult {
    losses: LossMeans,
    entropy: f64,
    head_share: Vec<f64>,
}

/// Reads `tensors` of a checkpoint into a name -> tensor map (for tests and tools).
pub fn checkpoint_weights(run_dir: &Path) -> Result<HashMap<String, Tensor>, TrainError> {
    let (_, tensors) = read_checkpoint(run_dir, Device::Cpu)?;
    Ok(tensors
        .into_iter()
        .filter_map(|(k, t)| k.strip_prefix("model.").map(|n| (n.to_string(), t)))
        .collect())
}

/// Frames one sample stands for when an epoch's steps are counted from the data: 1 for pairs
/// and single frames (an epoch is `frames / batch` steps, as the reference), the sequence
/// length for sequence methods (CPC: an epoch sees each frame about once, not 100 times).
fn frames_per_step_sample(method: dimua_model::Method) -> usize {
    match method.batch() {
        dimua_model::BatchKind::Sequences { len } => len.max(1),
        _ => 1,
    }
}

/// What a batch kind samples, for messages.
fn sample_name(kind: BatchKind) -> String {
    match kind {
        BatchKind::Pairs => "frame pairs".into(),
        BatchKind::Sequences { len } => format!("{len}-frame sequences"),
        BatchKind::Frames | BatchKind::LabelledFrames => "frames".into(),
    }
}

/// The shortest episode a batch kind can sample from.
fn min_episode_frames(kind: BatchKind, min_episode_len: usize) -> usize {
    min_episode_len.max(kind.frames_per_sample())
}

/// The file a method's exported heads ([`dimua_model::MethodDef::exported_heads`]) are
/// written to, beside `encoder.safetensors`, from the same epoch's weights.
pub const HEADS_FILE: &str = "heads.safetensors";

/// Whether a variable is kept with the encoder: the encoder's own, or the method's exported
/// heads.
fn exported(name: &str, heads: Option<&str>) -> bool {
    ENCODER_PREFIXES.iter().any(|p| name.starts_with(p))
        || heads.is_some_and(|h| name.starts_with(h))
}
