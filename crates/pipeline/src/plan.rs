//! [`RunPlan`]: one resolved [`RunConfig`] turned into typed, validated values, once: the
//! game, the method and its architecture, the parsed device, the frame counts, the data
//! source, and the probe settings ([`ProbePlan`]). Every check runs here, before anything is
//! collected or written, so a bad `[probe]` section fails as early as a bad `--heads`.

use std::path::PathBuf;

use dimua_atari::{Game, Rom};
use dimua_buffer::SplitRule;
use dimua_collect::CollectSpec;
use dimua_model::{FrameShape, Method};
use dimua_probe::ProbeConfig;
use dimua_train::TrainConfig;
use tch::Device;

use crate::config::RunConfig;
use crate::error::{invalid, PipelineError, Result};

/// Offset between the pretraining seed and the probe collection's seed, so the two
/// collections are independent (the reference reuses the same env seeds).
pub const PROBE_SEED_OFFSET: u64 = 1_000_003;

/// Refuses an architecture whose training state cannot fit in this machine's memory, before
/// anything is allocated (libtorch aborts the process on a failed allocation). Training keeps
/// about five f32 copies of the atlas (weights, gradients, Adam's two moments, the best
/// epoch's weights), whose coordinate layer alone is `heads x units x flat` values.
fn check_model_fits(heads: usize, units: usize) -> Result<()> {
    let flat = dimua_model::EncoderSpec::new(FrameShape::ATARI_GRAY, 1, 1)?
        .geometry()?
        .flat_dim() as u128;
    let values = heads as u128 * units as u128 * (flat + 2);
    let bytes = values.saturating_mul(4 * 5);
    if let Some(total) = dimua_core::mem::total_bytes() {
        if bytes > total as u128 {
            invalid!(
                "{heads} heads x {units} units need about {} GiB to train (the atlas alone has \
                 {values} weights), more than this machine's {} GiB: lower --units or --heads",
                bytes >> 30,
                total >> 30
            );
        }
    }
    Ok(())
}

/// Default collector threads: the machine's cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The method of a run: a trained/initialised encoder, or the majority baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RunMethod {
    /// An encoder method.
    Encoder(Method),
    /// Most frequent train value per label.
    Majority,
}

impl RunMethod {
    /// Parses a method name (an encoder method or `majority`).
    pub fn parse(name: &str) -> Result<Self> {
        if name == "majority" {
            return Ok(RunMethod::Majority);
        }
        name.parse::<Method>().map(RunMethod::Encoder).map_err(|e| {
            PipelineError::Invalid(format!("{e} (majority is also accepted by `dimua run`)"))
        })
    }

    /// (heads, units per head) when the config gives none: the paper's ST-DIM 1x256 for the
    /// one-head methods (random CNN and majority included), DIM-UA's 4x512 for the atlas ones.
    pub fn default_architecture(self) -> (usize, usize) {
        match self {
            RunMethod::Encoder(m) => m.default_architecture(),
            RunMethod::Majority => Method::StDim.default_architecture(),
        }
    }
}

/// Where the pretraining frames come from.
#[derive(Debug, Clone, PartialEq)]
pub enum DataSource {
    /// A seeded collection streamed into the trainer while it trains.
    Stream,
    /// A dataset written by `dimua collect` (absolute path, recorded in `config.toml`).
    Dataset(PathBuf),
}

/// The frame counts of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameCounts {
    /// Pretraining frames collected (the streamed store's capacity).
    pub pretrain: usize,
    /// Train frames the streamed store holds once collection is done (sets the steps per
    /// epoch); `None` for a dataset, whose closed store is counted directly.
    pub train_target: Option<usize>,
    /// Probe frames collected.
    pub probe: usize,
}

/// A separately seeded probe collection.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeCollection {
    /// Agent steps to collect (split 7/1/2 by episode).
    pub frames: usize,
    /// The collection's seed (the run seed plus [`PROBE_SEED_OFFSET`]).
    pub seed: u64,
    /// Collector threads.
    pub threads: usize,
    /// Environment streams.
    pub streams: u32,
    /// RGB frames.
    pub color: bool,
}

impl ProbeCollection {
    /// The collection of `frames` probe frames for a run seeded `seed`.
    pub fn new(frames: usize, seed: u64, threads: usize, streams: u32, color: bool) -> Self {
        ProbeCollection {
            frames,
            seed: seed.wrapping_add(PROBE_SEED_OFFSET),
            threads,
            streams,
            color,
        }
    }
}

/// Validated probe settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbePlan {
    /// The probe trainer's settings (its seed is the run's).
    pub config: ProbeConfig,
    /// Standardise features with the probe-train mean and std.
    pub standardize: bool,
    /// Device of the features and the probes.
    pub device: Device,
}

impl ProbePlan {
    /// Checks `config` (epochs, batch size, rates, ...) and sets its seed.
    pub fn new(config: ProbeConfig, seed: u64, standardize: bool, device: Device) -> Result<Self> {
        let config = ProbeConfig { seed, ..config };
        config
            .validate()
            .map_err(|e| PipelineError::context("invalid [probe] settings", e))?;
        Ok(ProbePlan {
            config,
            standardize,
            device,
        })
    }
}

/// A validated run: the resolved config (saved as `config.toml`) plus every value derived
/// from it, resolved once.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// The resolved config.
    pub config: RunConfig,
    /// The game.
    pub game: &'static Game,
    /// The method.
    pub method: RunMethod,
    /// Heads actually used.
    pub heads: usize,
    /// Units per head actually used.
    pub units: usize,
    /// Device of pretraining and probing.
    pub device: Device,
    /// Collector threads.
    pub threads: usize,
    /// Frame counts.
    pub frames: FrameCounts,
    /// Pretraining data.
    pub source: DataSource,
    /// The probe collection.
    pub probe_collection: ProbeCollection,
    /// Probe settings.
    pub probe: ProbePlan,
}

impl RunPlan {
    /// Validates `config` into a plan. With a `dataset`, its game and color replace the
    /// config's and its path is made absolute (the config records what was used).
    pub fn new(mut config: RunConfig) -> Result<Self> {
        let source = match &config.dataset {
            Some(dir) => {
                let manifest = dimua_collect::Dataset::read_manifest(dir)?;
                config.game = manifest.game.clone();
                config.color = manifest.frame_shape[2] == 3;
                let dir = std::path::absolute(dir).map_err(|e| {
                    PipelineError::context(format!("cannot resolve {}", dir.display()), e)
                })?;
                config.dataset = Some(dir.clone());
                DataSource::Dataset(dir)
            }
            None => DataSource::Stream,
        };
        let game = dimua_atari::resolve_game(&config.game)?;
        let method = RunMethod::parse(&config.method)?;
        let (dh, du) = method.default_architecture();
        let heads = config.heads.unwrap_or(dh);
        let units = config.units.unwrap_or(du);
        if let RunMethod::Encoder(m) = method {
            m.validate_architecture(heads, units)?;
            check_model_fits(heads, units)?;
        }
        if config.frames == 0 || config.probe_frames == 0 {
            invalid!("frames and probe_frames must be at least 1");
        }
        if let (RunMethod::Encoder(m), DataSource::Stream) = (method, &source) {
            // Every stream's episodes are at most frames / streams long.
            let per_stream = config.frames / (config.streams.max(1) as usize);
            let need = m.batch().frames_per_sample();
            if m.trains() && per_stream < need {
                invalid!(
                    "{m} samples {need} consecutive frames of one episode, but {} frames in {} \
                     streams give episodes of at most {per_stream} frames: raise --frames or \
                     lower --streams",
                    config.frames,
                    config.streams
                );
            }
        }
        let device = dimua_model::parse_device(&config.device)?;
        let threads = config.threads.unwrap_or_else(default_threads).max(1);
        let probe = ProbePlan::new(
            config.probe.clone(),
            config.seed,
            config.probe_standardize,
            device,
        )?;
        let rule = SplitRule::PRETRAIN;
        let train_target = (source == DataSource::Stream).then(|| {
            (config.frames as u128 * rule.train as u128 / rule.block_len().max(1) as u128) as usize
        });
        let plan = RunPlan {
            game,
            method,
            heads,
            units,
            device,
            threads,
            frames: FrameCounts {
                pretrain: config.frames,
                train_target,
                probe: config.probe_frames,
            },
            source,
            probe_collection: ProbeCollection::new(
                config.probe_frames,
                config.seed,
                threads,
                config.streams,
                config.color,
            ),
            probe,
            config,
        };
        // Every [train] value, before a command writes anything (the trainer checks them
        // again, with the frame shape, when it starts).
        if let Some(train) = plan.train_config() {
            train.check()?;
        }
        Ok(plan)
    }

    /// Frame shape of the run's observations: the game's screen (read from the ROM), with 3
    /// channels for color runs.
    pub fn frame_shape(&self, rom: &Rom) -> Result<FrameShape> {
        let [height, width, channels] = dimua_collect::observation_shape(rom, self.config.color)?;
        Ok(FrameShape {
            height,
            width,
            channels,
        })
    }

    /// The pretraining collection (split 8/2/0 by episode).
    pub fn collect_spec(&self) -> CollectSpec {
        CollectSpec {
            game: self.game,
            frames: self.frames.pretrain,
            seed: self.config.seed,
            threads: self.threads,
            streams: self.config.streams,
            color: self.config.color,
        }
    }

    /// The trainer's configuration, or `None` for the majority baseline.
    pub fn train_config(&self) -> Option<TrainConfig> {
        let RunMethod::Encoder(method) = self.method else {
            return None;
        };
        let t = &self.config.train;
        Some(TrainConfig {
            method,
            heads: self.heads,
            units: self.units,
            tau: t.tau,
            tau_warmup_steps: t.tau_warmup_steps,
            vae_beta: t.vae_beta,
            lr: t.lr,
            adam_eps: t.adam_eps,
            batch_size: t.batch_size,
            max_epochs: t.epochs,
            patience: t.patience,
            steps_per_epoch: t.steps_per_epoch,
            val_steps: t.val_steps,
            target_train_frames: self.frames.train_target,
            seed: self.config.seed,
            device: self.config.device.clone(),
            last_weights: t.last_weights,
            wait_for_collection: t.wait_for_collection,
            precision: t.precision,
            game: Some(self.game.name.to_string()),
            ..TrainConfig::for_method(method)
        })
    }

    /// `GAME / METHOD (HxU), seed S`: the title of the run's report.
    pub fn title(&self) -> String {
        let layout = match self.method {
            RunMethod::Majority => String::new(),
            RunMethod::Encoder(_) => format!(" ({}x{})", self.heads, self.units),
        };
        format!(
            "{} / {}{layout}, seed {}",
            self.game.name, self.config.method, self.config.seed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_section_errors_are_plan_errors() {
        for toml in [
            "[probe]\nepochs = 0\n",
            "[probe]\nbatch_size = 0\n",
            "[probe]\nlr = 0.0\n",
            "[probe]\nlr = -1.0\n",
            "[probe]\nlr = nan\n",
        ] {
            let config = RunConfig::from_toml(toml, "test").unwrap();
            let err = RunPlan::new(config).unwrap_err().to_string();
            assert!(err.contains("[probe]"), "{toml}: {err}");
        }
    }

    #[test]
    fn streamed_runs_plan_their_train_frames() {
        let config = RunConfig {
            frames: 1001,
            device: "cpu".into(),
            ..RunConfig::default()
        };
        let plan = RunPlan::new(config).unwrap();
        assert_eq!(plan.frames.train_target, Some(800));
        assert_eq!(plan.train_config().unwrap().target_train_frames, Some(800));
        assert_eq!(plan.probe.config.seed, plan.config.seed);
        assert_eq!(plan.probe_collection.seed, 42 + PROBE_SEED_OFFSET);
    }
}
