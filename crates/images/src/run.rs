//! One image run end to end, in a run directory that never loses data: validate the config
//! and read the dataset before anything is written; pretrain with a checkpoint after every
//! epoch (a killed run continues with `resume`); evaluate linearly; write `eval.json` last.
//!
//! A run directory holds `config.toml`, `metrics.jsonl` (one line per epoch),
//! `checkpoint.safetensors` + `checkpoint.json` while training, and at the end
//! `encoder.safetensors` (every variable of the model) and `eval.json` ([`EvalResult`]): the
//! run is complete exactly when `eval.json` exists.

use std::path::Path;
use std::time::Instant;

use dimua_core::fs::{replace_with, write_atomic};
use dimua_core::outdir::{DirLock, OutputDir};
use dimua_core::seed::{derive_seed, named_seed};
use dimua_optim::Adam;
use dimua_probe::{standardize_splits, train_probes, LabelSpec, ProbeData, Sampling, Split};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use crate::augment::{to_float_nchw, Augmenter};
use crate::config::ImageRunConfig;
use crate::dataset::{ImageData, ImageSet};
use crate::error::{ImagesError, Result, TorchContext};
use crate::model::{ImageModel, Layout};

/// Files a run directory may hold (anything else makes `--force` refuse).
pub const RUN_FILES: &[&str] = &[
    "config.toml",
    "metrics.jsonl",
    "checkpoint.safetensors",
    "checkpoint.json",
    "random_init.json",
    "encoder.safetensors",
    "eval.json",
];

/// Whether `name` is a file an image run writes (its files, or one of its hidden temporary
/// files `.NAME.*.tmp`): the only entries `--force` may replace.
pub fn is_run_file(name: &str) -> bool {
    RUN_FILES.contains(&name) || (name.starts_with('.') && name.ends_with(".tmp"))
}

/// Images per forward pass when computing frozen features.
const FEATURE_CHUNK: i64 = 512;

/// Linear-evaluation accuracy of one model on both of its feature kinds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinearEval {
    /// Top-1 test accuracy on the model's output (the argmax head's chart coordinates;
    /// SimCLR: its projection output): the headline number.
    pub accuracy: f64,
    /// Top-1 test accuracy on the backbone's features (SimCLR's usual protocol).
    pub backbone_accuracy: f64,
    /// Weighted F1 on the output features.
    pub f1: f64,
}

/// One pretraining epoch as logged in `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 0-based epoch.
    pub epoch: usize,
    /// Mean total loss.
    pub loss: f64,
    /// Mean NT-Xent.
    pub contrastive: f64,
    /// Mean `L_Q` (before tau).
    pub membership: f64,
    /// Mean MMD.
    pub mmd: f64,
    /// Mean membership entropy (nats), Fig. 1's curve.
    pub entropy: f64,
    /// tau at the epoch's last step.
    pub tau: f64,
    /// Wall seconds of the epoch.
    pub seconds: f64,
}

/// `eval.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalResult {
    /// Method name.
    pub method: String,
    /// Charts.
    pub heads: usize,
    /// Units per chart.
    pub units: usize,
    /// Seed.
    pub seed: u64,
    /// Backbone name.
    pub backbone: String,
    /// What else sets the run apart from another of the same method, heads and units (backbone
    /// and width, epochs, the FC1 / clamp / FC2 switches, tau and its scaling), so that a
    /// report never pools different setups as seeds. Empty in results of older versions.
    #[serde(default)]
    pub setup: String,
    /// The trained model.
    pub trained: LinearEval,
    /// The same-seed randomly initialised model, when asked for.
    pub random_init: Option<LinearEval>,
    /// Epochs pretrained.
    pub epochs: usize,
    /// Pretraining steps.
    pub steps: u64,
    /// Images: pretraining (all train), linear-eval train, val, test.
    pub images: [usize; 4],
    /// Classes.
    pub classes: usize,
    /// Side of the images.
    pub image_size: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointMeta {
    epochs_done: usize,
    steps: u64,
    metrics: Vec<EpochMetrics>,
}

/// How [`run_image`] treats the output directory.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Replace an earlier result of dimua's in the directory (only once the new one is done).
    pub force: bool,
    /// Continue the interrupted run in the directory from its last checkpoint.
    pub resume: bool,
}

/// What the caller hears about progress.
#[derive(Debug, Clone)]
pub enum Progress {
    /// The dataset is read.
    Loaded {
        /// Train images.
        train: usize,
        /// Test images.
        test: usize,
        /// Steps per epoch.
        steps_per_epoch: u64,
        /// Epochs to run (from the first not yet done).
        epochs: usize,
    },
    /// A step finished.
    Step {
        /// Steps done in all.
        step: u64,
    },
    /// An epoch finished.
    Epoch(EpochMetrics),
    /// The linear evaluation started.
    Evaluating,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(crate::error::io_at("read", path))?;
    serde_json::from_str(&text).map_err(|e| ImagesError::Format {
        path: path.to_path_buf(),
        reason: format!("is not what dimua wrote there ({e}); remove the run directory"),
    })
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Runs `config` into `out` (see the module docs). `observer` hears about progress and
/// returns `false` to stop (Ctrl-C): the last checkpoint stays, and
/// [`ImagesError::Stopped`] is returned.
pub fn run_image(
    config: &ImageRunConfig,
    out: &Path,
    options: RunOptions,
    observer: &mut dyn FnMut(&Progress) -> bool,
) -> Result<EvalResult> {
    config.validate()?;
    let layout = Layout::from_config(config)?;
    let device = dimua_model::parse_device(&config.device)
        .map_err(|e| crate::error::config_error("device", e.to_string()))?;
    // Everything that can be refused is checked before the directory is touched.
    let data = config.dataset.load()?;
    let (eval_train, eval_val) = data.val_split(config.dataset.val_fraction, config.seed);
    if data.train.len() < config.train.batch_size && config.train.epochs > 0 {
        return Err(crate::error::config_error(
            "train.batch_size",
            format!(
                "is {} but the dataset has {} train images: lower it",
                config.train.batch_size,
                data.train.len()
            ),
        ));
    }
    if eval_val.is_empty() {
        return Err(crate::error::config_error(
            "dataset.val_fraction",
            format!(
                "leaves no validation image for the linear evaluation ({} train images, {} \
                 classes): every class needs at least two train images (raise \
                 dataset.max_train or val_fraction)",
                data.train.len(),
                data.classes.len()
            ),
        ));
    }
    if eval_train.len() < config.eval.batch_size {
        return Err(crate::error::config_error(
            "eval.batch_size",
            format!(
                "is {} but the linear evaluation has {} train images: lower it",
                config.eval.batch_size,
                eval_train.len()
            ),
        ));
    }
    let is_ours = is_run_file;
    let (outdir, _lock, work) = if options.resume {
        if out.join("eval.json").is_file() {
            return Err(crate::error::config_error(
                "--resume",
                format!(
                    "{} holds a finished run (eval.json): nothing to resume; use --force to run                      it again",
                    out.display()
                ),
            ));
        }
        let lock = DirLock::acquire(out)?;
        // Checked again under the lock: another process may have finished it meanwhile.
        if out.join("eval.json").is_file() {
            return Err(crate::error::config_error(
                "--resume",
                format!(
                    "{} was finished by another process meanwhile",
                    out.display()
                ),
            ));
        }
        let saved = ImageRunConfig::load(&out.join("config.toml"))?;
        if &saved != config {
            return Err(crate::error::config_error(
                "config",
                format!(
                    "differs from the one {} was started with: resume with the same config \
                     (its copy is {}/config.toml)",
                    out.display(),
                    out.display()
                ),
            ));
        }
        (None, Some(lock), out.to_path_buf())
    } else {
        let dir = OutputDir::prepare(out, options.force, is_ours, true)?;
        let work = dir.work().to_path_buf();
        write_atomic(&work.join("config.toml"), config.to_toml().as_bytes())?;
        (Some(dir), None, work)
    };
    let result = train_and_evaluate(
        config,
        layout,
        device,
        &data,
        &eval_train,
        &eval_val,
        &work,
        observer,
    )?;
    write_atomic(&work.join("eval.json"), &to_json(&result))?;
    for stale in ["checkpoint.safetensors", "checkpoint.json"] {
        let _ = std::fs::remove_file(work.join(stale));
    }
    if let Some(dir) = outdir {
        dir.commit()?;
    }
    Ok(result)
}

#[allow(clippy::too_many_arguments)]
fn train_and_evaluate(
    config: &ImageRunConfig,
    layout: Layout,
    device: Device,
    data: &ImageData,
    eval_train: &[usize],
    eval_val: &[usize],
    work: &Path,
    observer: &mut dyn FnMut(&Progress) -> bool,
) -> Result<EvalResult> {
    tch::manual_seed(named_seed(config.seed, "image-init") as i64);
    let vs = nn::VarStore::new(device);
    let model = ImageModel::new(&vs.root(), layout);
    let random_init_path = work.join("random_init.json");
    let eval_sets = EvalSets::new(data, eval_train, eval_val)?;
    let random_init = if !config.random_init_baseline {
        None
    } else if random_init_path.is_file() {
        Some(read_json::<LinearEval>(&random_init_path)?)
    } else {
        // A fresh network's batch-norm running statistics are the defaults (mean 0, variance
        // 1), not its activations' statistics, so in eval mode its features are off scale and
        // a linear probe on them stays at chance. They are estimated on the train images
        // first (as for any BN network before use), then put back so that training starts
        // from the untouched init.
        let initial: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .map(|(k, v)| (k, v.copy()))
            .collect();
        recalibrate_batch_norm(&model, &data.train, device)?;
        let e = linear_eval(&model, &eval_sets, config, device)?;
        tch::no_grad(|| -> Result<()> {
            let mut vars = vs.variables();
            for (k, v) in &initial {
                if let Some(var) = vars.get_mut(k) {
                    var.f_copy_(v).ctx("restoring the initial weights")?;
                }
            }
            Ok(())
        })?;
        write_atomic(&random_init_path, &to_json(&e))?;
        Some(e)
    };
    let trainable = vs.trainable_variables();
    let mut adam = Adam::new(&trainable, config.train.lr, config.train.adam_eps)?;
    let trainable_names: Vec<String> = {
        // trainable_variables() follows the store's creation order; match names by identity.
        let vars = vs.variables();
        trainable
            .iter()
            .map(|t| {
                vars.iter()
                    .find(|(_, v)| v.data_ptr() == t.data_ptr())
                    .map(|(k, _)| k.clone())
                    .unwrap_or_default()
            })
            .collect()
    };
    let ckpt = work.join("checkpoint.safetensors");
    let ckpt_meta = work.join("checkpoint.json");
    let mut meta = CheckpointMeta {
        epochs_done: 0,
        steps: 0,
        metrics: Vec::new(),
    };
    if ckpt.is_file() {
        let saved = Tensor::read_safetensors(&ckpt).ctx("reading checkpoint.safetensors")?;
        let saved: std::collections::HashMap<String, Tensor> = saved.into_iter().collect();
        let meta_bytes = saved
            .get("meta/json")
            .map(|t| Vec::<u8>::try_from(t).unwrap_or_default())
            .unwrap_or_default();
        meta = serde_json::from_slice(&meta_bytes).map_err(|e| ImagesError::Format {
            path: ckpt.clone(),
            reason: format!(
                "has no readable counters ({e}): it is not an image-run checkpoint of this \
                 version; remove the run directory and start again"
            ),
        })?;
        tch::no_grad(|| -> Result<()> {
            for (name, var) in vs.variables().iter_mut() {
                let s = saved
                    .get(&format!("var/{name}"))
                    .ok_or_else(|| ImagesError::Format {
                        path: ckpt.clone(),
                        reason: format!("has no {name}: remove the run directory and start again"),
                    })?;
                var.f_copy_(&s.f_to_device(device)?)
                    .ctx("restoring a weight")?;
            }
            Ok(())
        })?;
        let mut moments = Vec::new();
        for name in &trainable_names {
            let get = |p: &str| {
                saved
                    .get(&format!("{p}/{name}"))
                    .map(|t| t.to_device(device))
                    .ok_or_else(|| ImagesError::Format {
                        path: ckpt.clone(),
                        reason: format!("has no {p}/{name}"),
                    })
            };
            moments.push((get("adam_m")?, get("adam_v")?));
        }
        adam.restore(meta.steps, moments)?;
    }
    let n = data.train.len();
    let bs = config.train.batch_size;
    let steps_per_epoch = (n / bs) as u64;
    let total_steps = steps_per_epoch * config.train.epochs as u64;
    let augmenter = Augmenter::new(config.augment.clone(), data.image_size())?;
    if !observer(&Progress::Loaded {
        train: n,
        test: data.test.len(),
        steps_per_epoch,
        epochs: config.train.epochs - meta.epochs_done.min(config.train.epochs),
    }) {
        return Err(ImagesError::Stopped);
    }
    let mut steps = meta.steps;
    for epoch in meta.epochs_done..config.train.epochs {
        let started = Instant::now();
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(
            config.seed,
            1,
            epoch as u64,
        )));
        let mut aug_rng = ChaCha8Rng::seed_from_u64(derive_seed(config.seed, 2, epoch as u64));
        let mut sums = [0f64; 5];
        let mut tau = 0.0;
        for chunk in order.chunks_exact(bs) {
            tau = if config.train.tau_linear && total_steps > 0 {
                config.train.tau * (steps + 1) as f64 / total_steps as f64
            } else {
                config.train.tau
            };
            let batch = data
                .train
                .select(chunk)?
                .images
                .f_to_device(device)
                .ctx("batch")?;
            let v1 = augmenter.view(&batch, &mut aug_rng)?;
            let v2 = augmenter.view(&batch, &mut aug_rng)?;
            let loss = model.loss(
                &v1,
                &v2,
                config.train.temperature,
                tau,
                derive_seed(config.seed, 3, steps),
            )?;
            let grads =
                Tensor::f_run_backward(&[&loss.total], &trainable, false, false).ctx("backward")?;
            adam.step(&trainable, &grads)?;
            let values = Tensor::f_stack(
                &[
                    &loss.total,
                    &loss.contrastive,
                    &loss.membership,
                    &loss.mmd,
                    &loss.entropy,
                ],
                0,
            )
            .and_then(|t| t.f_to_kind(Kind::Double))
            .and_then(|t| t.f_to_device(Device::Cpu))
            .ctx("loss values")?;
            let values: Vec<f64> = Vec::<f64>::try_from(&values.f_detach()?)?;
            if !values[0].is_finite() {
                return Err(ImagesError::Diverged {
                    step: steps,
                    value: values[0],
                });
            }
            for (s, v) in sums.iter_mut().zip(&values) {
                *s += v;
            }
            steps += 1;
            if !observer(&Progress::Step { step: steps }) {
                return Err(ImagesError::Stopped);
            }
        }
        let k = steps_per_epoch.max(1) as f64;
        let m = EpochMetrics {
            epoch,
            loss: sums[0] / k,
            contrastive: sums[1] / k,
            membership: sums[2] / k,
            mmd: sums[3] / k,
            entropy: sums[4] / k,
            tau,
            seconds: started.elapsed().as_secs_f64(),
        };
        meta.metrics.push(m.clone());
        meta.epochs_done = epoch + 1;
        meta.steps = steps;
        // One file holds weights, moments and the counters (`meta/json`), so a crash can never
        // pair weights of one epoch with the counters of another; checkpoint.json is a
        // human-readable copy written after it.
        save_checkpoint(&vs, &trainable_names, &adam, &to_json(&meta), &ckpt)?;
        write_atomic(&ckpt_meta, &to_json(&meta))?;
        let lines: String = meta
            .metrics
            .iter()
            .map(|m| serde_json::to_string(m).unwrap_or_default() + "\n")
            .collect();
        write_atomic(&work.join("metrics.jsonl"), lines.as_bytes())?;
        if !observer(&Progress::Epoch(m)) {
            return Err(ImagesError::Stopped);
        }
    }
    observer(&Progress::Evaluating);
    let trained = linear_eval(&model, &eval_sets, config, device)?;
    let mut weights: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(k, v)| (k, v.to_device(Device::Cpu)))
        .collect();
    weights.sort_by(|a, b| a.0.cmp(&b.0));
    replace_with(&work.join("encoder.safetensors"), |tmp| {
        Tensor::write_safetensors(&weights, tmp).map_err(|e| ImagesError::Torch {
            context: "saving encoder.safetensors".into(),
            source: e,
        })
    })?;
    Ok(EvalResult {
        method: layout.method.name.to_string(),
        heads: layout.heads,
        units: layout.units,
        seed: config.seed,
        backbone: config.model.backbone.clone(),
        setup: setup_label(config, &layout),
        trained,
        random_init,
        epochs: config.train.epochs,
        steps,
        images: [n, eval_train.len(), eval_val.len(), data.test.len()],
        classes: data.classes.len(),
        image_size: data.image_size(),
    })
}

/// The [`EvalResult::setup`] of a run.
pub fn setup_label(config: &ImageRunConfig, layout: &Layout) -> String {
    let switch = |on: bool, name: &str| format!("{}{name}", if on { "+" } else { "-" });
    let mut s = format!(
        "{}/{} {}ep {} {} {}",
        config.model.backbone,
        config.model.width,
        config.train.epochs,
        switch(layout.fc1, "fc1"),
        switch(layout.clamp, "clamp"),
        switch(layout.fc2, "fc2"),
    );
    if layout.method.membership_loss {
        s.push_str(&format!(
            " tau {}{}",
            config.train.tau,
            if config.train.tau_linear {
                " linear"
            } else {
                ""
            }
        ));
    }
    s
}

fn save_checkpoint(
    vs: &nn::VarStore,
    trainable: &[String],
    adam: &Adam,
    meta_json: &[u8],
    path: &Path,
) -> Result<()> {
    let vars = vs.variables();
    let mut named: Vec<(String, Tensor)> = vars
        .iter()
        .map(|(k, v)| (format!("var/{k}"), v.to_device(Device::Cpu)))
        .collect();
    for (name, (m, v)) in trainable.iter().zip(adam.moments()) {
        named.push((format!("adam_m/{name}"), m.to_device(Device::Cpu)));
        named.push((format!("adam_v/{name}"), v.to_device(Device::Cpu)));
    }
    named.push(("meta/json".to_string(), Tensor::from_slice(meta_json)));
    named.sort_by(|a, b| a.0.cmp(&b.0));
    replace_with(path, |tmp| {
        Tensor::write_safetensors(&named, tmp).map_err(|e| ImagesError::Torch {
            context: "writing checkpoint.safetensors".into(),
            source: e,
        })
    })
}

/// The linear evaluation's three splits as images and `[N, 1]` class tensors.
struct EvalSets {
    classes: usize,
    train: ImageSet,
    val: ImageSet,
    test: ImageSet,
}

impl EvalSets {
    fn new(data: &ImageData, train: &[usize], val: &[usize]) -> Result<Self> {
        Ok(EvalSets {
            classes: data.classes.len(),
            train: data.train.select(train)?,
            val: data.train.select(val)?,
            test: data
                .test
                .select(&(0..data.test.len()).collect::<Vec<_>>())?,
        })
    }
}

/// Frozen features of every image of `set`: (backbone, output), fp32 on `device`.
pub fn encode_set(model: &ImageModel, set: &ImageSet, device: Device) -> Result<(Tensor, Tensor)> {
    let n = set.len() as i64;
    let (mut back, mut out) = (Vec::new(), Vec::new());
    let mut start = 0;
    while start < n {
        let len = FEATURE_CHUNK.min(n - start);
        let x = to_float_nchw(&set.images.f_narrow(0, start, len)?.f_to_device(device)?)?;
        let (b, o) = model.features(&x)?;
        back.push(b);
        out.push(o);
        start += len;
    }
    Ok((
        Tensor::f_cat(&back, 0).ctx("features")?,
        Tensor::f_cat(&out, 0).ctx("features")?,
    ))
}

/// Passes of the train images through a fresh network in training mode (no gradient) so that
/// its batch-norm running statistics (momentum 0.1) become those of the data.
const RECALIBRATION_PASSES: usize = 5;

/// Estimates the batch-norm running statistics of `model` on `set` (see
/// [`RECALIBRATION_PASSES`]): forward passes in training mode, chunks of 256 images.
pub fn recalibrate_batch_norm(model: &ImageModel, set: &ImageSet, device: Device) -> Result<()> {
    let n = set.len() as i64;
    tch::no_grad(|| -> Result<()> {
        for _ in 0..RECALIBRATION_PASSES {
            let mut start = 0;
            while start < n {
                let len = 256.min(n - start);
                if len < 2 {
                    break;
                }
                let x = to_float_nchw(&set.images.f_narrow(0, start, len)?.f_to_device(device)?)?;
                model.forward(&x, true)?;
                start += len;
            }
        }
        Ok(())
    })
}

fn class_tensor(set: &ImageSet, device: Device) -> Result<Tensor> {
    Tensor::from_slice(&set.labels)
        .f_view([set.len() as i64, 1])
        .and_then(|t| t.f_to_device(device))
        .ctx("class labels")
}

/// Trains a linear classifier on frozen features (dimua's probe trainer, one label: the
/// class) and scores top-1 accuracy on the test images, for both feature kinds.
fn linear_eval(
    model: &ImageModel,
    sets: &EvalSets,
    config: &ImageRunConfig,
    device: Device,
) -> Result<LinearEval> {
    let (tr_b, tr_o) = encode_set(model, &sets.train, device)?;
    let (va_b, va_o) = encode_set(model, &sets.val, device)?;
    let (te_b, te_o) = encode_set(model, &sets.test, device)?;
    let (tr_y, va_y, te_y) = (
        class_tensor(&sets.train, device)?,
        class_tensor(&sets.val, device)?,
        class_tensor(&sets.test, device)?,
    );
    let classes = sets.classes;
    let specs = [
        LabelSpec::new("class", &[] as &[&str]).map_err(|e| ImagesError::Config {
            field: "class".into(),
            reason: e.to_string(),
        })?,
    ];
    let score = |train: &Tensor, val: &Tensor, test: &Tensor| -> Result<(f64, f64)> {
        let [train, val, test] = if config.standardize_features {
            standardize_splits(train, val, test)?
        } else {
            [
                train.shallow_clone(),
                val.shallow_clone(),
                test.shallow_clone(),
            ]
        };
        let (train, val, test) = (&train, &val, &test);
        let probe_data = ProbeData {
            train: Split::new(train, &tr_y),
            val: Split::new(val, &va_y),
            test: Split::new(test, &te_y),
            labels: &specs,
            sampling: Sampling::Uniform,
            val_sampling: Sampling::Uniform,
            test_sampling: Sampling::Uniform,
            classes: Some(classes),
        };
        let run = train_probes(&probe_data, &config.eval)?;
        let s = run.result.label("class")?;
        Ok((s.acc, s.f1))
    };
    let (accuracy, f1) = score(&tr_o, &va_o, &te_o)?;
    let (backbone_accuracy, _) = score(&tr_b, &va_b, &te_b)?;
    Ok(LinearEval {
        accuracy,
        backbone_accuracy,
        f1,
    })
}
