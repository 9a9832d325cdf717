//! `dimua bench train`: times K training steps on random u8 frames, through exactly the
//! trainer's code path (frame store -> batch on the device -> loss -> backward -> Adam).

use std::time::Instant;

use dimua_buffer::{FrameStore, SplitRule, StoreSpec};
use dimua_core::seed::derive_seed;
use dimua_model::{device_name, parse_device, EncoderSpec, FrameShape, Method, Precision};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::BatchSource;
use crate::error::TrainError;
use crate::trainer::{Learner, StepOutcome};

/// What to time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchConfig {
    /// Method (not `random-cnn`).
    pub method: Method,
    /// Heads `n`.
    pub heads: usize,
    /// Units per head `d`.
    pub units: usize,
    /// Pairs per batch.
    pub batch_size: usize,
    /// Timed steps K.
    pub steps: usize,
    /// Untimed warm-up steps.
    pub warmup: usize,
    /// `auto`, `cpu`, `cuda[:i]`.
    pub device: String,
    /// Frame shape.
    pub frame: FrameShape,
    /// libtorch intra-op threads (`None`: leave as is).
    pub threads: Option<usize>,
    /// Random frames in the pool the batches are drawn from.
    pub pool_frames: usize,
    /// Seed.
    pub seed: u64,
    /// Compute precision of the steps.
    pub precision: Precision,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            method: Method::DimUa,
            heads: 4,
            units: 512,
            batch_size: 64,
            steps: 20,
            warmup: 3,
            device: "auto".into(),
            frame: FrameShape::ATARI_GRAY,
            threads: None,
            pool_frames: 1024,
            seed: 0,
            precision: Precision::Fp32,
        }
    }
}

/// The result, printed by the CLI as one JSON line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    /// Always `"dimua-tch"`.
    pub implementation: String,
    /// Method.
    pub method: Method,
    /// Heads.
    pub heads: usize,
    /// Units per head.
    pub units: usize,
    /// Pairs per batch.
    pub batch_size: usize,
    /// Timed steps.
    pub steps: usize,
    /// Warm-up steps.
    pub warmup: usize,
    /// Compute precision.
    pub precision: Precision,
    /// Device used.
    pub device: String,
    /// libtorch intra-op threads during the run.
    pub threads: usize,
    /// Seconds for the timed steps.
    pub elapsed_s: f64,
    /// Optimiser steps per second.
    pub steps_per_s: f64,
    /// Pairs (batch items) per second.
    pub pairs_per_s: f64,
    /// CPU seconds used by the whole process (all threads) during the timed steps, from
    /// `/proc/self/stat` (Linux; `None` elsewhere). Less sensitive than wall time to other
    /// processes competing for the cores.
    pub cpu_s: Option<f64>,
    /// `steps / cpu_s`.
    pub steps_per_cpu_s: Option<f64>,
    /// The last step's loss.
    pub last_loss: f64,
}

/// Process CPU time (user + system, all threads) in seconds, from `/proc/self/stat`.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux configuration that matters here.
    Some((utime + stime) / 100.0)
}

/// Times `config.steps` training steps (after `config.warmup`) on a pool of random frames.
pub fn bench_train_steps(config: &BenchConfig) -> Result<BenchResult, TrainError> {
    if !config.method.trains() {
        return Err(TrainError::Config {
            field: "method",
            reason: "random-cnn has no training step".into(),
        });
    }
    if config.steps == 0 {
        return Err(TrainError::Config {
            field: "steps",
            reason: "must be at least 1".into(),
        });
    }
    if config.batch_size < 2 {
        return Err(TrainError::Config {
            field: "batch_size",
            reason: "must be at least 2".into(),
        });
    }
    if let Some(t) = config.threads {
        tch::set_num_threads(t.max(1) as i32);
    }
    let spec = EncoderSpec::new(config.frame, config.heads, config.units)?;
    config
        .method
        .validate_architecture(config.heads, config.units)?;
    let device = parse_device(&config.device)?;

    // A closed store of random frames in episodes of 128, all in the train split.
    let pool = config.pool_frames.max(2 * config.batch_size);
    let store = FrameStore::new(StoreSpec {
        capacity_frames: pool,
        frame_bytes: config.frame.bytes(),
        label_bytes: 0,
        split: SplitRule {
            train: 1,
            val: 0,
            test: 0,
        },
        seed: config.seed,
    })?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut frame = vec![0u8; config.frame.bytes()];
    {
        let mut w = store.writer(0);
        for i in 0..pool {
            rng.fill_bytes(&mut frame);
            w.push(&frame, &[])?;
            if i % 128 == 127 {
                w.end_episode();
            }
        }
        w.end_episode();
    }
    store.close();

    let mut learner = Learner::new(
        &spec,
        config.method,
        device,
        3e-4,
        1e-5,
        dimua_model::WeightInit::Seeded(derive_seed(config.seed, 0, 0)),
        store.spec().label_bytes,
    )?;
    learner.set_precision(config.precision, device);
    let mut source = BatchSource::new(store, config.frame, 2, device)?;
    let mut sampler = ChaCha8Rng::seed_from_u64(rng.gen());
    let kind = config.method.batch();
    let mut step = |learner: &mut Learner| -> Result<f64, TrainError> {
        let slots = source
            .sample(
                dimua_buffer::Split::Train,
                kind,
                config.batch_size,
                &mut sampler,
            )
            .ok_or(TrainError::Config {
                field: "pool_frames",
                reason: "no episode long enough for one sample".into(),
            })?;
        let frames = source.gather(&slots)?;
        let batch = dimua_model::Batch::unlabelled(&frames, config.batch_size);
        let inputs = dimua_model::LossInputs {
            tau: 0.1,
            vae_beta: 1.0,
            seed: sampler.gen(),
            training: true,
        };
        match learner.step(&batch, inputs, false)? {
            StepOutcome::Applied(v) | StepOutcome::NonFinite(v) => Ok(v[0]),
        }
    };
    for _ in 0..config.warmup {
        step(&mut learner)?;
    }
    sync(device);
    let cpu0 = process_cpu_seconds();
    let start = Instant::now();
    let mut last = f64::NAN;
    for _ in 0..config.steps {
        last = step(&mut learner)?;
    }
    sync(device);
    let elapsed = start.elapsed().as_secs_f64();
    let cpu_s = cpu0.zip(process_cpu_seconds()).map(|(a, b)| b - a);
    Ok(BenchResult {
        implementation: "dimua-tch".into(),
        method: config.method,
        heads: config.heads,
        units: config.units,
        batch_size: config.batch_size,
        steps: config.steps,
        warmup: config.warmup,
        precision: config.precision,
        device: device_name(device),
        threads: tch::get_num_threads() as usize,
        elapsed_s: elapsed,
        steps_per_s: config.steps as f64 / elapsed,
        pairs_per_s: (config.steps * config.batch_size) as f64 / elapsed,
        cpu_s,
        steps_per_cpu_s: cpu_s.filter(|c| *c > 0.0).map(|c| config.steps as f64 / c),
        last_loss: last,
    })
}

fn sync(device: tch::Device) {
    if let tch::Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}
