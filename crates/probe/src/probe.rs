//! Batched linear probes: all K probes form one `[D, K, 256]` layer trained by one GEMM per
//! step, with an Adam that keeps a learning rate per label, per-label `ReduceLROnPlateau`,
//! per-label early stopping (a stopped label's slice is frozen and dropped from the working
//! set) and, optionally, each label's best-val weights restored at the end.
//!
//! Deviations from AtariARI's `ProbeTrainer`, all documented on [`ProbeConfig`] and
//! [`train_probes`]: best weights restored (flag), val accuracy over every val frame once
//! (flag), every test frame scored once, seeded sampling and init.

use dimua_core::early_stop::{EarlyStopping, HigherIsBetter};
use dimua_core::precision::Precision;
use dimua_optim::{Adam, GroupLrs, LearningRate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::data::{prepare, Prepared, ProbeData};
use crate::error::{ProbeError, Result};
use crate::metrics::{LabelTraining, ProbeResult};
use crate::ordered::OrderedMap;
use crate::sampling::{BatchSampler, Sampling};
use crate::schedule::Plateau;

/// Classes per probe: every raw RAM byte value (AtariARI passes `num_classes=256`).
pub const NUM_CLASSES: i64 = 256;

/// Mixed into the seed for the init stream so init and batch sampling never share a stream.
const INIT_SALT: u64 = 0x5052_4f42_4549_4e49;

/// Mixed into the seed for the resampled-validation stream (`val_resample`).
const VAL_SALT: u64 = 0x5052_4f42_4556_414c;

/// Mixed into the seed for the resampled-test stream (`test_resample`).
const TEST_SALT: u64 = 0x5052_4f42_4554_5354;

/// Probe hyper-parameters; defaults are AtariARI's (`--probe-lr 3e-4`, batch 64, 100 epochs,
/// patience 15, `ReduceLROnPlateau(max, 0.2, 5, min_lr=1e-5)`, Adam eps 1e-5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbeConfig {
    /// Initial Adam learning rate of every probe.
    pub lr: f64,
    /// Adam epsilon (betas are PyTorch's 0.9, 0.999).
    pub adam_eps: f64,
    /// Frames per train batch; batches per epoch = ⌊N_train / batch_size⌋.
    pub batch_size: usize,
    /// Maximum epochs.
    pub epochs: usize,
    /// Early-stopping patience in epochs on val accuracy (ties count as no improvement).
    pub patience: usize,
    /// `ReduceLROnPlateau` patience in epochs.
    pub lr_patience: usize,
    /// `ReduceLROnPlateau` decay factor.
    pub lr_factor: f64,
    /// `ReduceLROnPlateau` relative improvement threshold.
    pub lr_threshold: f64,
    /// Learning-rate floor.
    pub min_lr: f64,
    /// Seed of the init and batch-sampling streams.
    pub seed: u64,
    /// Restore each label's best-val-accuracy weights at the end (AtariARI keeps the last
    /// ones: set `false` to reproduce that).
    pub restore_best: bool,
    /// Rows per chunk when evaluating val/test (bounds memory at chunk × K × 256 floats).
    pub eval_chunk: usize,
    /// Score validation as AtariARI does: each epoch ⌊N_val/B⌋ batches drawn with replacement
    /// by `ProbeData::val_sampling` (a seeded stream of its own), accuracy = mean over the
    /// drawn frames (= the mean of the per-batch accuracies). Off: every val frame once.
    pub val_resample: bool,
    /// Score the test metrics as AtariARI does: on ⌊N_test/B⌋·B frames drawn with replacement
    /// by `ProbeData::test_sampling` (a seeded stream of its own; episode-uniform sampling
    /// over-weights short episodes). Off: every test frame exactly once.
    pub test_resample: bool,
    /// Precision of the encoder pass that makes the probe features (`fp32` or `bf16`; the
    /// features are fp32 either way, and the probes themselves always train in fp32).
    pub precision: Precision,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            lr: 3e-4,
            adam_eps: 1e-5,
            batch_size: 64,
            epochs: 100,
            patience: 15,
            lr_patience: 5,
            lr_factor: 0.2,
            lr_threshold: 1e-4,
            min_lr: 1e-5,
            seed: 42,
            restore_best: true,
            eval_chunk: 2048,
            val_resample: false,
            test_resample: false,
            precision: Precision::Fp32,
        }
    }
}

fn invalid(field: &str, reason: &str) -> ProbeError {
    ProbeError::InvalidConfig {
        field: field.into(),
        reason: reason.into(),
    }
}

impl ProbeConfig {
    /// Rejects values that cannot train (non-positive sizes or rates, factor outside (0, 1]).
    pub fn validate(&self) -> Result<()> {
        let pos = |x: f64| x.is_finite() && x > 0.0;
        if !pos(self.lr) {
            return Err(invalid("lr", "must be finite and > 0"));
        }
        if !pos(self.adam_eps) {
            return Err(invalid("adam_eps", "must be finite and > 0"));
        }
        if self.batch_size == 0 {
            return Err(invalid("batch_size", "must be > 0"));
        }
        if self.epochs == 0 {
            return Err(invalid("epochs", "must be > 0"));
        }
        if self.patience == 0 {
            return Err(invalid("patience", "must be > 0"));
        }
        if !(self.lr_factor > 0.0 && self.lr_factor <= 1.0) {
            return Err(invalid("lr_factor", "must be in (0, 1]"));
        }
        if !(self.lr_threshold.is_finite() && self.lr_threshold >= 0.0) {
            return Err(invalid("lr_threshold", "must be finite and >= 0"));
        }
        if !(self.min_lr.is_finite() && self.min_lr >= 0.0) {
            return Err(invalid("min_lr", "must be finite and >= 0"));
        }
        if self.eval_chunk == 0 {
            return Err(invalid("eval_chunk", "must be > 0"));
        }
        Ok(())
    }
}

/// The K trained probes as one layer: `weight` `[D, K, 256]` (input-major, so the logits of
/// all probes are one GEMM `[N, D] × [D, K·256]`), `bias` `[K, 256]`.
#[derive(Debug)]
pub struct LinearProbes {
    weight: Tensor,
    bias: Tensor,
    names: Vec<String>,
}

impl LinearProbes {
    /// Weight `[D, K, 256]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// Bias `[K, 256]`.
    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    /// Label names, in column order.
    pub fn label_names(&self) -> &[String] {
        &self.names
    }

    /// Probe `k`'s weight in `nn::Linear` layout `[256, D]`.
    pub fn linear_weight(&self, k: usize) -> Result<Tensor> {
        if k >= self.names.len() {
            return Err(ProbeError::LabelCountMismatch {
                split: "linear_weight index".into(),
                expected: self.names.len(),
                found: k,
            });
        }
        Ok(self.weight.f_select(1, k as i64)?.f_tr()?.f_contiguous()?)
    }

    /// Argmax predictions `[N, K]` (i64) for features `[N, D]` (moved to the probes' device).
    pub fn predict(&self, features: &Tensor) -> Result<Tensor> {
        self.predict_chunked(features, 2048)
    }

    /// As [`LinearProbes::predict`], `chunk` rows at a time.
    pub fn predict_chunked(&self, features: &Tensor, chunk: usize) -> Result<Tensor> {
        let d = self.weight.size()[0];
        if features.dim() != 2 || features.size()[1] != d {
            return Err(ProbeError::BadTensor {
                what: "features to predict".into(),
                expected: format!("[N, {d}]"),
                shape: features.size(),
                kind: format!("{:?}", features.kind()),
            });
        }
        let x = features
            .f_to_device(self.weight.device())?
            .f_to_kind(self.weight.kind())?;
        tch::no_grad(|| argmax_logits(&x, &self.weight, &self.bias, chunk.max(1)))
    }
}

/// The outcome of one probing run: the scored result and the trained probes.
#[derive(Debug)]
pub struct ProbeRun {
    /// Test metrics, aggregated, with per-probe training facts.
    pub result: ProbeResult,
    /// The probes used for the test predictions.
    pub probes: LinearProbes,
}

/// `argmax_c (x W + b)` chunk by chunk: `x` `[N, D]`, `w` `[D, Ka, C]`, `b` `[Ka, C]` → `[N, Ka]`.
pub(crate) fn argmax_logits(x: &Tensor, w: &Tensor, b: &Tensor, chunk: usize) -> Result<Tensor> {
    let (d, ka, c) = w.size3()?;
    let w2 = w.f_view([d, ka * c])?;
    let n = x.size()[0];
    let mut outs = Vec::new();
    let mut start = 0;
    while start < n {
        let len = (chunk as i64).min(n - start);
        let logits = x
            .f_narrow(0, start, len)?
            .f_mm(&w2)?
            .f_view([len, ka, c])?
            .f_add(b)?;
        outs.push(logits.f_argmax(-1, false)?);
        start += len;
    }
    Ok(Tensor::f_cat(&outs, 0)?)
}

/// PyTorch's default `nn::Linear(d, 256)` init for probe `k`, in `nn::Linear` layout:
/// weight `[256·D]` row-major (class-major) and bias `[256]`, both U(−1/√D, 1/√D)
/// (kaiming-uniform with a = √5 gives exactly that bound). Label `k` has its own ChaCha8
/// stream, so its init does not depend on which other labels are probed.
pub(crate) fn init_label(d: usize, c: usize, k: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ INIT_SALT);
    rng.set_stream(k as u64);
    let bound = 1.0 / (d as f64).sqrt();
    let w = (0..c * d).map(|_| rng.gen_range(-bound..bound)).collect();
    let b = (0..c).map(|_| rng.gen_range(-bound..bound)).collect();
    (w, b)
}

/// Initial `[D, K, 256]` weight and `[K, 256]` bias for all labels (see [`init_label`]).
pub(crate) fn init_params(p: &Prepared, seed: u64) -> Result<(Tensor, Tensor)> {
    let (d, k, c) = (p.d, p.k, p.c);
    let mut w = vec![0f64; d * k * c];
    let mut b = vec![0f64; k * c];
    for label in 0..k {
        let (wl, bl) = init_label(d, c, label, seed);
        for (cls, row) in wl.chunks_exact(d).enumerate() {
            for (i, &v) in row.iter().enumerate() {
                w[i * k * c + label * c + cls] = v;
            }
        }
        b[label * c..(label + 1) * c].copy_from_slice(&bl);
    }
    let to = |v: &[f64], shape: &[i64]| -> Result<Tensor> {
        Ok(Tensor::f_from_slice(v)?
            .f_view(shape)?
            .f_to_kind(p.kind)?
            .f_to_device(p.device)?)
    };
    Ok((
        to(&w, &[d as i64, k as i64, c as i64])?,
        to(&b, &[k as i64, c as i64])?,
    ))
}

/// Common argument checks for both training paths.
pub(crate) fn check_train(p: &Prepared, config: &ProbeConfig) -> Result<()> {
    if config.batch_size > p.n_train() {
        return Err(ProbeError::BatchLargerThanTrain {
            batch_size: config.batch_size,
            n_train: p.n_train(),
        });
    }
    let resampled = [
        ("val", config.val_resample, &p.val_x),
        ("test", config.test_resample, &p.test_x),
    ];
    for (split, on, x) in resampled {
        let n = x.size()[0] as usize;
        if on && config.batch_size > n {
            return Err(ProbeError::SplitSmallerThanBatch {
                split,
                batch_size: config.batch_size,
                n,
            });
        }
    }
    Ok(())
}

/// Which frames of an evaluation split score: all of them once, or the reference's ⌊N/B⌋
/// batches resampled with replacement (`val_resample`, `test_resample`). Both training paths
/// build them from the same seed, so they draw the same frames in the same epoch.
pub(crate) struct EvalFrames {
    resample: Option<(BatchSampler, usize)>,
    batch_size: usize,
    device: Device,
}

impl EvalFrames {
    fn new(
        n: usize,
        sampling: &Sampling,
        resample: bool,
        salt: u64,
        config: &ProbeConfig,
        device: Device,
    ) -> Result<Self> {
        let resample = if resample {
            let s = BatchSampler::new(n, sampling, config.seed ^ salt)?;
            Some((s, n / config.batch_size))
        } else {
            None
        };
        Ok(EvalFrames {
            resample,
            batch_size: config.batch_size,
            device,
        })
    }

    /// The validation frames (`val_resample`, `data.val_sampling`).
    pub(crate) fn val(data: &ProbeData<'_>, p: &Prepared, config: &ProbeConfig) -> Result<Self> {
        let n = p.val_x.size()[0] as usize;
        let on = config.val_resample;
        EvalFrames::new(n, &data.val_sampling, on, VAL_SALT, config, p.device)
    }

    /// The test frames (`test_resample`, `data.test_sampling`).
    pub(crate) fn test(data: &ProbeData<'_>, p: &Prepared, config: &ProbeConfig) -> Result<Self> {
        let n = p.test_x.size()[0] as usize;
        let on = config.test_resample;
        EvalFrames::new(n, &data.test_sampling, on, TEST_SALT, config, p.device)
    }

    /// The next draw's rows of `x` `[N, D]` and `y` `[N, ·]`, and how many there are.
    pub(crate) fn next(&mut self, x: &Tensor, y: &Tensor) -> Result<(Tensor, Tensor, f64)> {
        match &mut self.resample {
            None => Ok((x.shallow_clone(), y.shallow_clone(), x.size()[0] as f64)),
            Some((sampler, n_batches)) => {
                let rows = Tensor::f_from_slice(&sampler.epoch(*n_batches, self.batch_size))?
                    .f_to_device(self.device)?;
                Ok((
                    x.f_index_select(0, &rows)?,
                    y.f_index_select(0, &rows)?,
                    (*n_batches * self.batch_size) as f64,
                ))
            }
        }
    }
}

/// Per-label bookkeeping shared by both paths.
pub(crate) struct LabelState {
    /// AtariARI's `EarlyStopping` on val accuracy (ties are no improvement).
    pub(crate) stopper: EarlyStopping<HigherIsBetter>,
    patience: usize,
    pub(crate) plateau: Plateau,
    pub(crate) epochs: usize,
    pub(crate) last_val_acc: f64,
    pub(crate) last_train_loss: f64,
}

impl LabelState {
    pub(crate) fn new(config: &ProbeConfig) -> Self {
        LabelState {
            stopper: EarlyStopping::default(),
            patience: config.patience,
            plateau: Plateau::new(
                config.lr,
                config.lr_factor,
                config.lr_patience,
                config.lr_threshold,
                config.min_lr,
            ),
            epochs: 0,
            last_val_acc: f64::NAN,
            last_train_loss: f64::NAN,
        }
    }

    /// Records one finished epoch; returns true when it is a new best (AtariARI order:
    /// early stopper first, then the scheduler if the probe is still running).
    pub(crate) fn end_epoch(
        &mut self,
        name: &str,
        epoch: usize,
        train_loss: f64,
        val_acc: f64,
    ) -> Result<bool> {
        if !train_loss.is_finite() {
            return Err(ProbeError::NonFiniteLoss {
                label: name.to_string(),
                epoch,
                value: train_loss,
            });
        }
        self.epochs = epoch + 1;
        self.last_train_loss = train_loss;
        self.last_val_acc = val_acc;
        let improved = self.stopper.observe(epoch, val_acc);
        if !self.stopped() {
            self.plateau.step(val_acc);
        }
        Ok(improved)
    }

    /// Whether the label's early stopping has fired (`patience` epochs without a new best).
    pub(crate) fn stopped(&self) -> bool {
        self.stopper.should_stop(self.patience)
    }

    pub(crate) fn report(&self) -> LabelTraining {
        LabelTraining {
            epochs: self.epochs,
            best_epoch: self.stopper.best_epoch.unwrap_or(0),
            best_val_acc: self.stopper.best.unwrap_or(f64::NAN),
            last_val_acc: self.last_val_acc,
            last_train_loss: self.last_train_loss,
            final_lr: self.plateau.lr,
            early_stopped: self.stopped(),
        }
    }
}

/// Scores the final probes on every test frame once and attaches the training facts.
pub(crate) fn finish(
    data: &ProbeData<'_>,
    p: &Prepared,
    weight: Tensor,
    bias: Tensor,
    states: &[LabelState],
    config: &ProbeConfig,
) -> Result<ProbeRun> {
    let probes = LinearProbes {
        weight,
        bias,
        names: data.labels.iter().map(|s| s.name.clone()).collect(),
    };
    let (test_x, test_y, _) = EvalFrames::test(data, p, config)?.next(&p.test_x, &p.test_y)?;
    let pred = probes.predict_chunked(&test_x, config.eval_chunk)?;
    let pred = Vec::<i64>::try_from(&pred.f_reshape([-1])?)?;
    let truth = Vec::<i64>::try_from(&test_y.f_reshape([-1])?)?;
    let mut result = ProbeResult::from_predictions(data.labels, &truth, &pred)?;
    result.training = Some(
        data.labels
            .iter()
            .zip(states)
            .map(|(s, st)| (s.name.clone(), st.report()))
            .collect::<OrderedMap<_>>(),
    );
    Ok(ProbeRun { result, probes })
}

/// A detached deep copy of `t`.
pub(crate) fn dup(t: &Tensor) -> Result<Tensor> {
    let mut out = t.f_empty_like()?;
    out.f_copy_(&t.f_detach()?)?;
    Ok(out)
}

fn index_tensor(idx: &[usize], device: Device) -> Result<Tensor> {
    let v: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
    Ok(Tensor::f_from_slice(&v)?.f_to_device(device)?)
}

/// Trains all K probes together as one batched layer and scores them on the test split.
///
/// Math per label is that of K independent `nn::Linear(D, 256)` probes with their own Adam
/// (lr 3e-4, eps 1e-5), cross-entropy, `ReduceLROnPlateau` and early stopping, all sharing
/// each batch as in AtariARI: the summed loss gives every label's slice exactly its own
/// gradient, Adam is elementwise, and the learning rate is a per-label vector. Gradients are
/// computed in closed form (softmax − one-hot). Per epoch: ⌊N_train/B⌋ batches drawn with
/// replacement by `data.sampling` from a ChaCha8 stream seeded by `config.seed`; then val
/// accuracy over every val frame once (AtariARI averages per-batch accuracies of a resampled
/// val set: `config.val_resample` does that, drawing by `data.val_sampling`); then per label
/// the early stopper (patience 15, ties = no improvement) and the
/// plateau scheduler. A stopped label is frozen (no more updates) and leaves the working set.
/// Ends after `epochs` or when every label stopped. With `restore_best` each label's best-val
/// weights are restored (AtariARI keeps the last). Test: argmax over every test frame once
/// (AtariARI resamples ⌊T/64⌋·64 test frames with replacement).
///
/// Runs on the device of `data.train.features`; features compute in f64 when they are f64,
/// else f32. Init: PyTorch's default Linear init, U(−1/√D, 1/√D), from a ChaCha8 stream per
/// label seeded by `config.seed` (thread-safe, same on every device).
pub fn train_probes(data: &ProbeData<'_>, config: &ProbeConfig) -> Result<ProbeRun> {
    train_probes_observed(data, config, &mut |_| ProbeControl::Continue)
}

/// What [`train_probes_observed`] reports after every epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeEpoch {
    /// 0-based epoch just finished.
    pub epoch: usize,
    /// The configured maximum number of epochs.
    pub max_epochs: usize,
    /// Labels still training after this epoch (early-stopped ones excluded).
    pub active: usize,
    /// All labels.
    pub labels: usize,
    /// Mean validation accuracy this epoch over the labels that trained in it.
    pub mean_val_acc: f64,
}

/// The observer's answer: keep training or stop now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeControl {
    /// Go on.
    Continue,
    /// Stop: training returns [`ProbeError::Stopped`] (nothing is scored).
    Stop,
}

/// [`train_probes`] with `observer` called after every epoch (progress display, Ctrl-C):
/// [`ProbeControl::Stop`] ends training with [`ProbeError::Stopped`].
pub fn train_probes_observed(
    data: &ProbeData<'_>,
    config: &ProbeConfig,
    observer: &mut dyn FnMut(&ProbeEpoch) -> ProbeControl,
) -> Result<ProbeRun> {
    config.validate()?;
    let p = prepare(data)?;
    check_train(&p, config)?;
    tch::no_grad(|| train_batched(data, &p, config, observer))
}

fn train_batched(
    data: &ProbeData<'_>,
    p: &Prepared,
    config: &ProbeConfig,
    observer: &mut dyn FnMut(&ProbeEpoch) -> ProbeControl,
) -> Result<ProbeRun> {
    let (d, c, bs) = (p.d as i64, p.c as i64, config.batch_size as i64);
    let n_batches = p.n_train() / config.batch_size;
    let mut val_frames = EvalFrames::val(data, p, config)?;
    let (init_w, init_b) = init_params(p, config.seed)?;
    // Reported weights: best-so-far (restore_best) or last (filled when a label stops).
    let out_w = dup(&init_w)?;
    let out_b = dup(&init_b)?;
    let mut states: Vec<LabelState> = (0..p.k).map(|_| LabelState::new(config)).collect();
    let mut sampler = BatchSampler::new(p.n_train(), &data.sampling, config.seed)?;

    // Working set: the still-active labels, compacted along the label axis.
    let mut active: Vec<usize> = (0..p.k).collect();
    let mut w = init_w;
    let mut b = init_b;
    // Parameters 0 (w) and 1 (b); the learning rates are set per epoch.
    let mut adam = Adam::new(
        &[w.shallow_clone(), b.shallow_clone()],
        config.lr,
        config.adam_eps,
    )?;
    let mut y_tr = p.train_y.shallow_clone();
    let mut y_val = p.val_y.shallow_clone();

    for epoch in 0..config.epochs {
        if active.is_empty() {
            break;
        }
        let ka = active.len() as i64;
        let lrs: Vec<f64> = active.iter().map(|&l| states[l].plateau.lr).collect();
        let lrs = GroupLrs::new(lrs, c as usize, p.kind, p.device)?;
        adam.set_lr(LearningRate::PerGroup(lrs));
        let idx = Tensor::f_from_slice(&sampler.epoch(n_batches, config.batch_size))?
            .f_to_device(p.device)?;
        let neg_ones = Tensor::f_full([bs, ka, 1], -1.0, (p.kind, p.device))?;
        let mut loss_sum = Tensor::f_zeros([ka], (p.kind, p.device))?;
        let gw_buf = Tensor::f_empty([d, ka * c], (p.kind, p.device))?;

        for bi in 0..n_batches as i64 {
            let rows = idx.f_narrow(0, bi * bs, bs)?;
            let x = p.train_x.f_index_select(0, &rows)?;
            let y = y_tr.f_index_select(0, &rows)?.f_unsqueeze(-1)?;
            let logits = b
                .f_view([ka * c])?
                .f_addmm(&x, &w.f_view([d, ka * c])?)?
                .f_view([bs, ka, c])?;
            let logp = logits.f_log_softmax(-1, p.kind)?;
            let picked = logp.f_gather(2, &y, false)?.f_squeeze_dim(-1)?;
            let _ = loss_sum.f_sub_(&picked.f_sum_dim_intlist(0, false, p.kind)?)?;
            // d(mean CE)/d logits = (softmax − one-hot) / B, per label.
            let mut g = logp.f_exp()?;
            let _ = g.f_scatter_add_(2, &y, &neg_ones)?;
            let _ = g.f_div_scalar_(bs)?;
            // Into a buffer reused across steps: a fresh [D, K·256] result per step costs
            // page faults on the CPU.
            let _ = x.f_tr()?.f_mm_out(&gw_buf, &g.f_view([bs, ka * c])?)?;
            let gw = gw_buf.f_view([d, ka, c])?;
            let gb = g.f_sum_dim_intlist(0, false, p.kind)?;
            adam.step(&[w.shallow_clone(), b.shallow_clone()], &[gw, gb])?;
        }

        let train_loss =
            Vec::<f64>::try_from(&loss_sum.f_div_scalar((n_batches as i64 * bs) as f64)?)?;
        let (val_x, val_y, n_val) = val_frames.next(&p.val_x, &y_val)?;
        let val_pred = argmax_logits(&val_x, &w, &b, config.eval_chunk)?;
        let correct = Vec::<i64>::try_from(&val_pred.f_eq_tensor(&val_y)?.f_sum_dim_intlist(
            0,
            false,
            Kind::Int64,
        )?)?;

        let mut improved = Vec::new();
        let mut stopped = Vec::new();
        let mut keep = Vec::new();
        for (j, &label) in active.iter().enumerate() {
            let acc = correct[j] as f64 / n_val;
            let st = &mut states[label];
            if st.end_epoch(&data.labels[label].name, epoch, train_loss[j], acc)? {
                improved.push(j);
            }
            if st.stopped() {
                stopped.push(j);
            } else {
                keep.push(j);
            }
        }
        let report = ProbeEpoch {
            epoch,
            max_epochs: config.epochs,
            active: keep.len(),
            labels: p.k,
            mean_val_acc: correct.iter().sum::<i64>() as f64 / (n_val * active.len() as f64),
        };
        tracing::debug!(
            epoch,
            active = active.len(),
            stopped = stopped.len(),
            mean_val_acc = report.mean_val_acc,
            "probe epoch"
        );
        if observer(&report) == ProbeControl::Stop {
            return Err(ProbeError::Stopped {
                epochs_done: epoch + 1,
                max_epochs: config.epochs,
            });
        }
        let copy_out = |js: &[usize], w: &Tensor, b: &Tensor| -> Result<()> {
            if js.is_empty() {
                return Ok(());
            }
            let labels: Vec<usize> = js.iter().map(|&j| active[j]).collect();
            let li = index_tensor(&labels, p.device)?;
            let ji = index_tensor(js, p.device)?;
            let _ = out_w
                .shallow_clone()
                .f_index_copy_(1, &li, &w.f_index_select(1, &ji)?)?;
            let _ = out_b
                .shallow_clone()
                .f_index_copy_(0, &li, &b.f_index_select(0, &ji)?)?;
            Ok(())
        };
        if config.restore_best {
            copy_out(&improved, &w, &b)?;
        } else {
            copy_out(&stopped, &w, &b)?;
        }
        if !stopped.is_empty() {
            let ki = index_tensor(&keep, p.device)?;
            w = w.f_index_select(1, &ki)?;
            b = b.f_index_select(0, &ki)?;
            adam.select(0, 1, &ki)?;
            adam.select(1, 0, &ki)?;
            y_tr = y_tr.f_index_select(1, &ki)?;
            y_val = y_val.f_index_select(1, &ki)?;
            active = keep.iter().map(|&j| active[j]).collect();
        }
    }
    if !config.restore_best && !active.is_empty() {
        let li = index_tensor(&active, p.device)?;
        let _ = out_w.shallow_clone().f_index_copy_(1, &li, &w)?;
        let _ = out_b.shallow_clone().f_index_copy_(0, &li, &b)?;
    }
    finish(data, p, out_w, out_b, &states, config)
}
