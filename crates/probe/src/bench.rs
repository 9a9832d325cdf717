//! Synthetic probe problems and the batched-vs-one-by-one timing (`bench_probes`).

use std::time::Instant;

use dimua_core::labels::{Category, LabelSpec};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::data::{ProbeData, Split};
use crate::error::{ProbeError, Result};
use crate::probe::{train_probes, ProbeConfig};
use crate::reference::train_probes_one_by_one;
use crate::sampling::Sampling;

/// A labelled synthetic data set: features `[N, D]` and u8 labels `[N, K]`, plus specs.
#[derive(Debug)]
pub struct SyntheticProblem {
    /// Features `[N, D]`, U(−1, 1).
    pub features: Tensor,
    /// Labels `[N, K]` (u8).
    pub labels: Tensor,
    /// Specs `label_0..`, categories cycling through the five summary categories.
    pub specs: Vec<LabelSpec>,
}

/// Sizes of a synthetic probe problem.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SyntheticSpec {
    /// Frames N.
    pub n: usize,
    /// Feature dimension D.
    pub dim: usize,
    /// Labels K.
    pub labels: usize,
    /// Classes per label (1..=256).
    pub classes: usize,
    /// Probability that a label is replaced by a uniformly random class.
    pub noise: f64,
    /// Seed of features, teachers and noise.
    pub seed: u64,
}

/// Builds a linearly separable problem: label `j` of frame `x` is the argmax of a random
/// linear teacher `x·T_j` over `classes` classes, mapped to distinct byte values
/// (`class·37 + 11·j mod 256`); with probability `noise` the class is replaced by a random
/// one. Deterministic in `seed`; features U(−1, 1) in `kind` on `device`.
pub fn synthetic_problem(
    spec: &SyntheticSpec,
    kind: Kind,
    device: Device,
) -> Result<SyntheticProblem> {
    let SyntheticSpec {
        n,
        dim: d,
        labels: k,
        classes: n_classes,
        noise,
        seed,
    } = *spec;
    if n == 0 || d == 0 || k == 0 || !(1..=256).contains(&n_classes) {
        return Err(ProbeError::InvalidConfig {
            field: "synthetic_problem".into(),
            reason: format!(
                "needs n, dim, labels > 0 and 1 <= classes <= 256 (got {n}, {d}, {k}, {n_classes})"
            ),
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<f64> = (0..n * d).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let t: Vec<f64> = (0..d * k * n_classes)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    let xs = Tensor::f_from_slice(&x)?.f_view([n as i64, d as i64])?;
    let ts = Tensor::f_from_slice(&t)?.f_view([d as i64, (k * n_classes) as i64])?;
    let cls = xs
        .f_mm(&ts)?
        .f_view([n as i64, k as i64, n_classes as i64])?
        .f_argmax(-1, false)?;
    let mut cls = Vec::<i64>::try_from(&cls.f_reshape([-1])?)?;
    for v in cls.iter_mut() {
        if rng.gen::<f64>() < noise {
            *v = rng.gen_range(0..n_classes as i64);
        }
    }
    let labels: Vec<u8> = cls
        .iter()
        .enumerate()
        .map(|(i, &c)| ((c * 37 + 11 * (i % k) as i64) % 256) as u8)
        .collect();
    let specs = (0..k)
        .map(|j| LabelSpec {
            name: format!("label_{j}"),
            categories: vec![Category::ALL[j % Category::ALL.len()]],
        })
        .collect();
    Ok(SyntheticProblem {
        features: xs.f_to_kind(kind)?.f_to_device(device)?,
        labels: Tensor::f_from_slice(&labels)?
            .f_view([n as i64, k as i64])?
            .f_to_device(device)?,
        specs,
    })
}

/// Sizes of the timing problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BenchConfig {
    /// Probe-train frames.
    pub n_train: usize,
    /// Val frames.
    pub n_val: usize,
    /// Test frames.
    pub n_test: usize,
    /// Feature dimension D.
    pub dim: usize,
    /// Number of labels K.
    pub labels: usize,
    /// Classes per synthetic label.
    pub classes: usize,
    /// Epochs (early stopping is disabled so both paths do the same work).
    pub epochs: usize,
    /// Seed of data, init and sampling.
    pub seed: u64,
    /// Timed runs of each path, interleaved; the minimum is reported (robust to other load).
    pub repeats: usize,
    /// libtorch intra-op threads during the bench (restored after); `None` keeps the current.
    pub threads: Option<i32>,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            n_train: 5000,
            n_val: 1000,
            n_test: 1000,
            dim: 256,
            labels: 30,
            classes: 8,
            epochs: 3,
            seed: 0,
            repeats: 3,
            threads: None,
        }
    }
}

/// Outcome of [`bench_probes`]: the synthetic problem's sizes and the timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Device, e.g. `Cpu` or `Cuda(0)`.
    pub device: String,
    /// libtorch intra-op threads (CPU).
    pub threads: i32,
    /// The sizes used.
    pub config: BenchConfig,
    /// Train batches per epoch.
    pub batches_per_epoch: usize,
    /// Batched vs one-by-one.
    #[serde(flatten)]
    pub timing: ProbeTiming,
}

/// Both probe paths timed on the same data ([`time_probe_paths`]); `speedup` = one-by-one
/// time / batched time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeTiming {
    /// Fastest wall seconds, all probes batched (train + val + test).
    pub batched_s: f64,
    /// Fastest wall seconds, probes one at a time (train + val + test).
    pub one_by_one_s: f64,
    /// Every timed batched run, seconds.
    pub batched_runs_s: Vec<f64>,
    /// Every timed one-by-one run, seconds.
    pub one_by_one_runs_s: Vec<f64>,
    /// `one_by_one_s / batched_s`.
    pub speedup: f64,
    /// Fraction of test predictions on which both paths agree (same init and batches).
    pub prediction_agreement: f64,
    /// Batched path's overall test accuracy.
    pub batched_overall_acc: f64,
    /// One-by-one path's overall test accuracy.
    pub one_by_one_overall_acc: f64,
}

/// Times probing all labels batched vs one at a time on the same synthetic features
/// (`config` sizes, `device`), after a small warm-up of both paths; each path runs
/// `repeats` times, interleaved, and the fastest run counts.
pub fn bench_probes(config: &BenchConfig, device: Device) -> Result<BenchReport> {
    let saved = tch::get_num_threads();
    if let Some(t) = config.threads {
        tch::set_num_threads(t.max(1));
    }
    let report = bench_inner(config, device);
    tch::set_num_threads(saved);
    report
}

/// Times [`train_probes`] (all labels batched) against [`train_probes_one_by_one`] on `data`
/// with `config`: a one-epoch warm-up of both on the first two labels (thread pools,
/// allocator, kernels), then `repeats` interleaved timed runs of each; the fastest counts.
/// Also reports how often their test predictions agree.
pub fn time_probe_paths(
    data: &ProbeData<'_>,
    config: &ProbeConfig,
    repeats: usize,
) -> Result<ProbeTiming> {
    let warm_k = data.labels.len().min(2) as i64;
    let first = |t: &Tensor| t.f_narrow(1, 0, warm_k);
    let (wtr, wva, wte) = (
        first(data.train.labels)?,
        first(data.val.labels)?,
        first(data.test.labels)?,
    );
    let warm = ProbeData {
        train: Split::new(data.train.features, &wtr),
        val: Split::new(data.val.features, &wva),
        test: Split::new(data.test.features, &wte),
        labels: &data.labels[..warm_k as usize],
        ..data.clone()
    };
    let warm_cfg = ProbeConfig {
        epochs: 1,
        ..config.clone()
    };
    train_probes(&warm, &warm_cfg)?;
    train_probes_one_by_one(&warm, &warm_cfg)?;

    let mut batched_runs_s = Vec::new();
    let mut one_by_one_runs_s = Vec::new();
    let mut batched = None;
    let mut single = None;
    for _ in 0..repeats.max(1) {
        let t0 = Instant::now();
        batched = Some(train_probes(data, config)?);
        batched_runs_s.push(t0.elapsed().as_secs_f64());
        let t1 = Instant::now();
        single = Some(train_probes_one_by_one(data, config)?);
        one_by_one_runs_s.push(t1.elapsed().as_secs_f64());
    }
    let (Some(batched), Some(single)) = (batched, single) else {
        return Err(ProbeError::InvalidConfig {
            field: "repeats".into(),
            reason: "no timed run".into(),
        });
    };
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let (batched_s, one_by_one_s) = (min(&batched_runs_s), min(&one_by_one_runs_s));
    let pa = batched.probes.predict(data.test.features)?;
    let pb = single.probes.predict(data.test.features)?;
    let agreement = pa
        .f_eq_tensor(&pb)?
        .f_to_kind(Kind::Double)?
        .f_mean(Kind::Double)?
        .f_double_value(&[])?;
    Ok(ProbeTiming {
        batched_s,
        one_by_one_s,
        batched_runs_s,
        one_by_one_runs_s,
        speedup: one_by_one_s / batched_s,
        prediction_agreement: agreement,
        batched_overall_acc: batched.result.overall_acc,
        one_by_one_overall_acc: single.result.overall_acc,
    })
}

fn bench_inner(config: &BenchConfig, device: Device) -> Result<BenchReport> {
    let (nt, nv, ns) = (config.n_train, config.n_val, config.n_test);
    let spec = SyntheticSpec {
        n: nt + nv + ns,
        dim: config.dim,
        labels: config.labels,
        classes: config.classes,
        noise: 0.0,
        seed: config.seed,
    };
    let prob = synthetic_problem(&spec, Kind::Float, device)?;
    let cut = |t: &Tensor, a: usize, len: usize| t.f_narrow(0, a as i64, len as i64);
    let (xtr, xva, xte) = (
        cut(&prob.features, 0, nt)?,
        cut(&prob.features, nt, nv)?,
        cut(&prob.features, nt + nv, ns)?,
    );
    let (ytr, yva, yte) = (
        cut(&prob.labels, 0, nt)?,
        cut(&prob.labels, nt, nv)?,
        cut(&prob.labels, nt + nv, ns)?,
    );
    let data = ProbeData {
        train: Split::new(&xtr, &ytr),
        val: Split::new(&xva, &yva),
        test: Split::new(&xte, &yte),
        labels: &prob.specs,
        sampling: Sampling::Uniform,
        val_sampling: Sampling::Uniform,
        test_sampling: Sampling::Uniform,
        classes: None,
    };
    let pc = ProbeConfig {
        epochs: config.epochs,
        patience: config.epochs + 1,
        seed: config.seed,
        ..ProbeConfig::default()
    };
    let timing = time_probe_paths(&data, &pc, config.repeats)?;
    Ok(BenchReport {
        device: format!("{device:?}"),
        threads: tch::get_num_threads(),
        config: config.clone(),
        batches_per_epoch: nt / pc.batch_size,
        timing,
    })
}
