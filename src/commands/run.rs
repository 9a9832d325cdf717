//! `dimua run`: collect -> train -> probe in one process. The pretraining collection streams
//! straight into the trainer; the probe collection is separately seeded; every artefact of the
//! trainer and the prober lands in `--out`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use dimua_atari::Game;
use dimua_model::{Encoder, FrameShape, Method};

use super::collect::default_threads;
use super::roms::RomArgs;
use crate::config::{RunConfig, EMBEDDED_DEFAULT};
use crate::pipeline::{self, PROBE_SEED_OFFSET};
use crate::progress;

/// The pretraining flags shared by `dimua run` and `dimua train`; each overrides the same
/// field of the config file.
#[derive(Debug, Clone, Args, Default)]
pub struct RunFlags {
    /// TOML config (default: the embedded quick DIM-UA-on-Pong config).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Game: ALE ROM name, AtariARI key or gym id (`dimua train --dataset` uses the dataset's).
    #[arg(long)]
    pub game: Option<String>,
    /// Method: st-dim, dim-ua, minus-ua, plus-mmd, random-cnn (or majority with `dimua run`).
    /// Switching between the one-head and the atlas methods drops the config file's
    /// heads/units for the new method's defaults (1x256, 4x512) unless --heads/--units are given.
    #[arg(long)]
    pub method: Option<String>,
    /// Atlas heads n.
    #[arg(long)]
    pub heads: Option<usize>,
    /// Units per head d.
    #[arg(long)]
    pub units: Option<usize>,
    /// Pretraining frames to collect.
    #[arg(long)]
    pub frames: Option<usize>,
    /// Maximum pretraining epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Master seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Device: auto, cpu, cuda or cuda:N.
    #[arg(long)]
    pub device: Option<String>,
    /// Collector threads.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Bit-reproducible pretraining: the first step waits until the streamed collection is
    /// complete (sets `[train] wait_for_collection`; costs the collection time, seconds).
    #[arg(long)]
    pub reproducible: bool,
}

/// Flags of `dimua run`; each overrides the same field of the config file.
#[derive(Debug, Args, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: RunFlags,
    /// Probe frames.
    #[arg(long)]
    pub probe_frames: Option<usize>,
    /// Maximum probe epochs.
    #[arg(long)]
    pub probe_epochs: Option<usize>,
    /// Environment streams per collection.
    #[arg(long)]
    pub streams: Option<u32>,
    /// RGB frames.
    #[arg(long)]
    pub color: bool,
    /// Weight of L_Q.
    #[arg(long)]
    pub tau: Option<f64>,
    /// Output directory (must be empty or absent unless --force).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace the contents of a non-empty --out.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub rom: RomArgs,
}

impl RunArgs {
    /// The config file (or the embedded default) with every given flag applied.
    pub fn resolve(&self) -> anyhow::Result<RunConfig> {
        let f = &self.common;
        let mut c = match &f.config {
            Some(path) => RunConfig::load(path)?,
            None => RunConfig::from_toml(EMBEDDED_DEFAULT, "the embedded default")?,
        };
        // A file's heads/units describe its own method's architecture: when --method moves to
        // the other family (one head vs an atlas), the new method's defaults apply instead,
        // unless --heads/--units say otherwise (`--method st-dim` on the DIM-UA default is
        // ST-DIM 1x256, not an invalid 4-head ST-DIM).
        if let Some(m) = &f.method {
            if default_architecture(m).map(|(h, _)| h == 1)
                != default_architecture(&c.method).map(|(h, _)| h == 1)
            {
                c.heads = None;
                c.units = None;
            }
        }
        macro_rules! set {
            ($($flag:expr => $field:expr),* $(,)?) => {
                $(if let Some(v) = $flag.clone() { $field = v; })*
            };
        }
        set!(f.game => c.game, f.method => c.method, f.frames => c.frames,
             self.probe_frames => c.probe_frames, f.seed => c.seed, f.device => c.device,
             self.streams => c.streams, f.epochs => c.train.epochs,
             self.probe_epochs => c.probe.epochs, self.tau => c.train.tau);
        if f.heads.is_some() {
            c.heads = f.heads;
        }
        if f.units.is_some() {
            c.units = f.units;
        }
        if f.threads.is_some() {
            c.threads = f.threads;
        }
        if self.color {
            c.color = true;
        }
        if f.reproducible {
            c.train.wait_for_collection = true;
        }
        Ok(c)
    }
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
    pub fn parse(name: &str) -> anyhow::Result<Self> {
        if name == "majority" {
            return Ok(RunMethod::Majority);
        }
        name.parse::<Method>()
            .map(RunMethod::Encoder)
            .map_err(|e| anyhow::anyhow!("{e} (majority is also accepted by `dimua run`)"))
    }

    /// (heads, units per head) when the config gives none: the paper's ST-DIM 1x256 for the
    /// one-head methods (random CNN and majority included), DIM-UA's 4x512 for the atlas ones.
    pub fn default_architecture(self) -> (usize, usize) {
        let method = match self {
            RunMethod::Encoder(m) => m,
            RunMethod::Majority => Method::StDim,
        };
        let defaults = dimua_train::TrainConfig::for_method(method);
        (defaults.heads, defaults.units)
    }
}

/// The default architecture of the method called `name`, or `None` if it is no method.
fn default_architecture(name: &str) -> Option<(usize, usize)> {
    RunMethod::parse(name)
        .ok()
        .map(RunMethod::default_architecture)
}

/// A validated run: the raw config plus what was derived from it.
pub struct RunPlan {
    /// The resolved raw config (saved as `config.toml`).
    pub config: RunConfig,
    /// The game.
    pub game: &'static Game,
    /// The method.
    pub method: RunMethod,
    /// Heads and units actually used.
    pub heads: usize,
    /// Units per head.
    pub units: usize,
    /// Device.
    pub device: tch::Device,
    /// Collector threads.
    pub threads: usize,
}

impl RunPlan {
    /// Validates `config` into a plan.
    pub fn new(config: RunConfig) -> anyhow::Result<Self> {
        let game = dimua_atari::resolve_game(&config.game)?;
        let method = RunMethod::parse(&config.method)?;
        let (dh, du) = method.default_architecture();
        let heads = config.heads.unwrap_or(dh);
        let units = config.units.unwrap_or(du);
        if let RunMethod::Encoder(m) = method {
            m.validate_architecture(heads, units)?;
        }
        if config.frames == 0 || config.probe_frames == 0 {
            bail!("frames and probe_frames must be at least 1");
        }
        let device = dimua_model::parse_device(&config.device)?;
        let threads = config.threads.unwrap_or_else(default_threads).max(1);
        Ok(RunPlan {
            game,
            method,
            heads,
            units,
            device,
            threads,
            config,
        })
    }

    /// Frame shape of the run's observations: the game's screen (read from the ROM), with 3
    /// channels for color runs.
    pub fn frame_shape(&self, rom: &dimua_atari::Rom) -> anyhow::Result<FrameShape> {
        let [height, width, channels] = dimua_collect::observation_shape(rom, self.config.color)?;
        Ok(FrameShape {
            height,
            width,
            channels,
        })
    }

    /// The trainer's configuration for this run.
    pub fn train_config(&self, method: Method) -> dimua_train::TrainConfig {
        let t = &self.config.train;
        dimua_train::TrainConfig {
            method,
            heads: self.heads,
            units: self.units,
            tau: t.tau,
            tau_warmup_steps: t.tau_warmup_steps,
            lr: t.lr,
            adam_eps: t.adam_eps,
            batch_size: t.batch_size,
            max_epochs: t.epochs,
            patience: t.patience,
            steps_per_epoch: t.steps_per_epoch,
            seed: self.config.seed,
            device: self.config.device.clone(),
            last_weights: t.last_weights,
            wait_for_collection: t.wait_for_collection,
            game: Some(self.game.name.to_string()),
            ..dimua_train::TrainConfig::for_method(method)
        }
    }
}

/// Creates `dir`, refusing a non-empty one unless `force`.
pub fn prepare_run_dir(dir: &Path, force: bool) -> anyhow::Result<()> {
    if dir.exists() {
        let non_empty = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_some();
        if non_empty {
            if !force {
                bail!(
                    "output directory {} is not empty: choose another --out, or pass --force to replace it",
                    dir.display()
                );
            }
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("cannot clear {}", dir.display()))?;
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

/// Pretrains (streaming collection into the trainer) or initialises the encoder of `plan`
/// and writes it to `dir/encoder.safetensors`.
fn make_encoder(
    plan: &RunPlan,
    method: Method,
    rom: &dimua_atari::Rom,
    dir: &Path,
) -> anyhow::Result<()> {
    let shape = plan.frame_shape(rom)?;
    if method == Method::RandomCnn {
        // The same seeded weights `dimua train --method random-cnn` writes, no data needed.
        dimua_train::export_initial_encoder(shape, &plan.train_config(method), dir)?;
        return Ok(());
    }
    let (store, collection) = crate::commands::train::streaming_store(plan, rom.clone())?;
    let config = plan.train_config(method);
    let result = crate::commands::train::train_streaming(
        &config,
        store,
        shape,
        dir,
        Some(&collection),
        false,
    );
    crate::commands::train::finish_collection(collection, result.is_err())?;
    result?;
    Ok(())
}

/// Runs `dimua run`.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let plan = RunPlan::new(args.resolve()?)?;
    let rom = args.rom.load(plan.game)?;
    prepare_run_dir(&args.out, args.force)?;
    pipeline::write_atomic(
        &args.out.join("config.toml"),
        plan.config.to_toml().as_bytes(),
    )?;
    eprintln!(
        "dimua run: {} {}, {} pretraining + {} probe frames, device {:?}, out {}",
        plan.game.name,
        plan.config.method,
        plan.config.frames,
        plan.config.probe_frames,
        plan.device,
        args.out.display()
    );
    let stages = progress::Stages::new(
        "dimua run",
        match plan.method {
            RunMethod::Majority => 2,
            RunMethod::Encoder(_) => 4,
        },
    );
    let encoder = match plan.method {
        RunMethod::Majority => None,
        RunMethod::Encoder(method) => {
            progress::stage(if method == Method::RandomCnn {
                "random encoder (no pretraining)"
            } else {
                "pretraining (collection streamed into the trainer)"
            });
            make_encoder(&plan, method, &rom, &args.out)?;
            Some(Encoder::load_on(
                args.out.join("encoder.safetensors"),
                plan.device,
            )?)
        }
    };
    progress::stage("probe data (separately seeded collection)");
    let set = pipeline::collect_probe_set(
        plan.game,
        &rom,
        plan.config.probe_frames,
        plan.config.seed.wrapping_add(PROBE_SEED_OFFSET),
        plan.threads,
        plan.config.streams,
        plan.config.color,
    )?;
    let mut probe_config = plan.config.probe.clone();
    probe_config.seed = plan.config.seed;
    let outcome = pipeline::probe(
        &set,
        encoder.as_ref(),
        &probe_config,
        plan.config.probe_standardize,
        plan.device,
    )?;
    let layout = match plan.method {
        RunMethod::Majority => String::new(),
        RunMethod::Encoder(_) => format!(" ({}x{})", plan.heads, plan.units),
    };
    let title = format!(
        "{} / {}{layout}, seed {}",
        plan.game.name, plan.config.method, plan.config.seed
    );
    pipeline::write_probe_outputs(&args.out, &outcome, &title)?;
    pipeline::plot_run(&args.out);
    drop(stages);
    let r = &outcome.result;
    println!(
        "{}: across-categories F1 {:.3} acc {:.3}, overall F1 {:.3} acc {:.3} over {} labels -> {}",
        title,
        r.across_categories_f1.unwrap_or(f64::NAN),
        r.across_categories_acc.unwrap_or(f64::NAN),
        r.overall_f1,
        r.overall_acc,
        outcome.labels.len(),
        args.out.join("probe.json").display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(config: Option<&str>, method: &str, heads: Option<usize>) -> (usize, usize) {
        let args = RunArgs {
            common: RunFlags {
                config: config.map(|c| Path::new(env!("CARGO_MANIFEST_DIR")).join(c)),
                method: Some(method.to_string()),
                heads,
                ..RunFlags::default()
            },
            ..RunArgs::default()
        };
        let p = RunPlan::new(args.resolve().unwrap()).unwrap();
        (p.heads, p.units)
    }

    #[test]
    fn method_flag_across_families_takes_the_new_methods_architecture() {
        // Embedded default is DIM-UA 4x512: ST-DIM and the random CNN get 1x256.
        assert_eq!(plan(None, "st-dim", None), (1, 256));
        assert_eq!(plan(None, "random-cnn", None), (1, 256));
        // Same family: the file's architecture stays.
        assert_eq!(plan(None, "minus-ua", None), (4, 512));
        let tiny = Some("configs/tiny/pong-dim-ua.toml");
        assert_eq!(plan(tiny, "plus-mmd", None), (2, 32));
        assert_eq!(
            plan(Some("configs/tiny/pong-st-dim.toml"), "dim-ua", None),
            (4, 512)
        );
        // Explicit flags win; --heads alone keeps the method's default units.
        assert_eq!(plan(tiny, "st-dim", Some(1)), (1, 256));
        assert_eq!(plan(tiny, "dim-ua", Some(8)), (8, 32));
    }
}
