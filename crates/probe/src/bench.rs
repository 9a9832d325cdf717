//! Synthetic probe problems and the batched-vs-one-by-one timing (`bench_probes`).

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::category::{Category, LabelSpec};
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

/// Builds a linearly separable problem: label `j` of frame `x` is the argmax of a random
/// linear teacher `x·T_j` over `n_classes` classes, mapped to distinct byte values
/// (`class·37 + 11·j mod 256`); with probability `noise` the class is replaced by a random
/// one. Deterministic in `seed`; features are f32 (or f64 if `kind` is Double) on `device`.
pub fn synthetic_problem(
    n: usize,
    d: usize,
    k: usize,
    n_classes: usize,
    noise: f64,
    seed: u64,
    kind: Kind,
    device: Device,
) -> Result<SyntheticProblem> {
    if n == 0 || d == 0 || k == 0 || !(1..=256).contains(&n_classes) {
        return Err(ProbeError::InvalidConfig {
            field: "synthetic_problem".into(),
            reason: format!("needs n, d, k > 0 and 1 <= n_classes <= 256 (got {n}, {d}, {k}, {n_classes})"),
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
        }
    }
}

/// Outcome of [`bench_probes`]; `speedup` = one-by-one time / batched time.
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
    /// Wall seconds, all probes batched (train + val + test).
    pub batched_s: f64,
    /// Wall seconds, probes one at a time (train + val + test).
    pub one_by_one_s: f64,
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
/// (`config` sizes, `device`), after a small warm-up of both paths.
pub fn bench_probes(config: &BenchConfig, device: Device) -> Result<BenchReport> {
    let (nt, nv, ns) = (config.n_train, config.n_val, config.n_test);
    let prob = synthetic_problem(
        nt + nv + ns,
        config.dim,
        config.labels,
        config.classes,
        0.0,
        config.seed,
        Kind::Float,
        device,
    )?;
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
    };
    let pc = ProbeConfig {
        epochs: config.epochs,
        patience: config.epochs + 1,
        seed: config.seed,
        ..ProbeConfig::default()
    };
    // Warm-up: one epoch on two labels through both paths (thread pools, allocator, kernels).
    let warm_k = config.labels.min(2) as i64;
    let (wtr, wva, wte) = (
        ytr.f_narrow(1, 0, warm_k)?,
        yva.f_narrow(1, 0, warm_k)?,
        yte.f_narrow(1, 0, warm_k)?,
    );
    let warm = ProbeData {
        train: Split::new(&xtr, &wtr),
        val: Split::new(&xva, &wva),
        test: Split::new(&xte, &wte),
        labels: &prob.specs[..warm_k as usize],
        sampling: Sampling::Uniform,
    };
    let warm_cfg = ProbeConfig {
        epochs: 1,
        ..pc.clone()
    };
    train_probes(&warm, &warm_cfg)?;
    train_probes_one_by_one(&warm, &warm_cfg)?;

    let t0 = Instant::now();
    let batched = train_probes(&data, &pc)?;
    let batched_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let single = train_probes_one_by_one(&data, &pc)?;
    let one_by_one_s = t1.elapsed().as_secs_f64();

    let pa = batched.probes.predict(&xte)?;
    let pb = single.probes.predict(&xte)?;
    let agreement = pa
        .f_eq_tensor(&pb)?
        .f_to_kind(Kind::Double)?
        .f_mean(Kind::Double)?
        .f_double_value(&[])?;
    Ok(BenchReport {
        device: format!("{device:?}"),
        threads: tch::get_num_threads(),
        config: config.clone(),
        batches_per_epoch: nt / pc.batch_size,
        batched_s,
        one_by_one_s,
        speedup: one_by_one_s / batched_s,
        prediction_agreement: agreement,
        batched_overall_acc: batched.result.overall_acc,
        one_by_one_overall_acc: single.result.overall_acc,
    })
}
