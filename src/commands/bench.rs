//! `dimua bench ...`: throughput measurements printed as one JSON line each.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use dimua_collect::CollectSpec;
use dimua_model::Encoder;
use dimua_pipeline::{ProbeInputs, ProbePlan, ProbeSet, RunConfig};

use crate::cli::RomArgs;
use crate::progress;

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The collector against a bare ALE loop over the same agent steps and threads.
    Collect(BenchCollectArgs),
    /// Training steps per second on random frames.
    Train(BenchTrainArgs),
    /// All probes batched in one layer against one probe at a time, on the same features.
    Probe(BenchProbeArgs),
    /// Agent steps per second of a VecEnv under random actions (compare with envpool:
    /// benchmarks/envpool_env.py).
    Env(BenchEnvArgs),
}

/// Flags of `dimua bench env`.
#[derive(Debug, Args)]
pub struct BenchEnvArgs {
    #[command(flatten)]
    pub env: crate::cli::EnvFlags,
    /// Environments.
    #[arg(long, default_value_t = 8)]
    pub envs: usize,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Results per receive: the number of envs (default) is sync mode, fewer is async.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Timed agent steps per env.
    #[arg(long, default_value_t = 2000)]
    pub steps: u64,
    /// Untimed agent steps per env first.
    #[arg(long, default_value_t = 100)]
    pub warmup: u64,
    /// Seed (envs and the random actions).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Microseconds a waiting thread polls before it sleeps (`VecEnv::set_spin_wait`; 0:
    /// sleep at once).
    #[arg(long, default_value_t = dimua_env::DEFAULT_SPIN.as_micros() as u64)]
    pub spin_wait_us: u64,
    #[command(flatten)]
    pub rom: RomArgs,
}

/// Flags of `dimua bench train`.
#[derive(Debug, Args)]
pub struct BenchTrainArgs {
    /// Method: any trained method (vae, cpc, st-dim, dim-ua, minus-ua, plus-mmd, pixel-pred;
    /// not supervised: the benchmark's random frames carry no labels).
    #[arg(long, default_value = "dim-ua")]
    pub method: String,
    /// Heads n.
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    /// Units per head d.
    #[arg(long, default_value_t = 512)]
    pub units: usize,
    /// Timed steps (after warm-up).
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Pairs per batch.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Device: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// libtorch intra-op threads (default: libtorch's).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Compute precision: fp32 or bf16 (bf16 convolutions and matrix products, fp32 master
    /// weights).
    #[arg(long, default_value = "fp32")]
    pub precision: dimua_model::Precision,
}

/// Flags of `dimua bench probe`.
#[derive(Debug, Args)]
pub struct BenchProbeArgs {
    /// Labels (probes) of the synthetic problem.
    #[arg(long, default_value_t = 30)]
    pub labels: usize,
    /// Feature dimension of the synthetic problem.
    #[arg(long, default_value_t = 256)]
    pub dim: usize,
    /// Train frames of the synthetic problem.
    #[arg(long, default_value_t = 5000)]
    pub n_train: usize,
    /// Maximum epochs timed for both implementations.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Real game instead of a synthetic problem: probe every label of this run's game on its
    /// encoder's features (with the run's probe settings; early stopping stays on).
    #[arg(long, requires = "dataset")]
    pub run: Option<PathBuf>,
    /// The probe frames for --run: a dataset written by `dimua collect` for the run's game.
    #[arg(long, requires = "run")]
    pub dataset: Option<PathBuf>,
    /// Timed runs of each implementation, interleaved (the fastest counts).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Device: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
}

/// `dimua bench probe --run DIR --dataset D`: both probe paths on a real game's features.
fn bench_probe_on_run(args: &BenchProbeArgs, run: &Path, dataset: &Path) -> anyhow::Result<()> {
    let weights = dimua_pipeline::run_encoder_path(run)?;
    let device = dimua_model::parse_device(&args.device)?;
    let encoder = Encoder::load_on(&weights, device)
        .with_context(|| format!("loading encoder {}", weights.display()))?;
    let run_config = RunConfig::load(&run.join("config.toml")).ok();
    let game_name = match (&run_config, &encoder.meta().game) {
        (Some(c), _) => c.game.clone(),
        (None, Some(g)) => g.clone(),
        (None, None) => bail!("{} names no game (no config.toml)", run.display()),
    };
    let game = dimua_atari::resolve_game(&game_name)?;
    // The run's probe settings (the defaults without a config.toml), with --epochs.
    let base = run_config.unwrap_or_default();
    let plan = ProbePlan::new(
        dimua_probe::ProbeConfig {
            epochs: args.epochs,
            ..base.probe
        },
        base.seed,
        base.probe_standardize,
        device,
    )?;
    let set = ProbeSet::from_dataset(dataset, game)?;
    let inputs = ProbeInputs::new(
        &set,
        &encoder,
        plan.standardize,
        device,
        &progress::Display::default(),
    )?;
    let data = inputs.data();
    let config = plan.config;
    let timing = dimua_probe::time_probe_paths(&data, &config, args.repeats)?;
    let report = serde_json::json!({
        "device": format!("{device:?}"),
        "threads": tch::get_num_threads(),
        "game": game.name,
        "run": run.display().to_string(),
        "dataset": dataset.display().to_string(),
        "labels": data.labels.len(),
        "dim": encoder.feature_dim(),
        "n_train": data.train.features.size()[0],
        "max_epochs": config.epochs,
        "timing": timing,
    });
    println!("{report}");
    Ok(())
}

/// Flags of `dimua bench collect`.
#[derive(Debug, Args)]
pub struct BenchCollectArgs {
    /// Game to run.
    #[arg(long, default_value = "pong")]
    pub game: String,
    /// Agent steps per run.
    #[arg(long, default_value_t = 40_000)]
    pub frames: usize,
    /// Worker threads (both runs).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Environment streams of the collector.
    #[arg(long, default_value_t = 10)]
    pub streams: u32,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Alternating rounds of collector and bare loop (medians are reported).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    #[command(flatten)]
    pub rom: RomArgs,
}

/// Runs one benchmark.
pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Collect(args) => {
            let game = dimua_atari::resolve_game(&args.game)?;
            let rom = args.rom.load(game)?;
            let spec = CollectSpec {
                game,
                frames: args.frames,
                seed: args.seed,
                threads: args.threads.unwrap_or_else(dimua_pipeline::default_threads),
                streams: args.streams,
                color: false,
            };
            let result = dimua_collect::bench::bench_collect(&spec, &rom, args.rounds)?;
            println!("{}", serde_json::to_string(&result)?);
            Ok(())
        }
        BenchCommand::Env(args) => {
            let options = args.env.options()?;
            let game = dimua_atari::resolve_game(&args.env.game)?;
            let rom = args.rom.load(game)?;
            let config = dimua_env::VecEnvConfig {
                num_envs: args.envs,
                threads: args.threads,
                batch_size: args.batch_size.unwrap_or(args.envs),
                seed: args.seed,
                options: options.clone(),
            };
            let spin = std::time::Duration::from_micros(args.spin_wait_us);
            let result = dimua_env::bench_env(&rom, config, spin, args.warmup, args.steps)?;
            let report = serde_json::json!({
                "game": game.name,
                "preset": args.env.preset,
                "options": options,
                "result": result,
            });
            println!("{report}");
            Ok(())
        }
        BenchCommand::Train(args) => {
            let config = dimua_train::BenchConfig {
                method: args.method.parse()?,
                heads: args.heads,
                units: args.units,
                batch_size: args.batch_size,
                steps: args.steps,
                warmup: args.warmup,
                device: args.device,
                threads: args.threads,
                precision: args.precision,
                ..dimua_train::BenchConfig::default()
            };
            let result = dimua_train::bench_train_steps(&config)?;
            println!("{}", serde_json::to_string(&result)?);
            Ok(())
        }
        BenchCommand::Probe(args) => {
            if let (Some(run), Some(dataset)) = (&args.run, &args.dataset) {
                return bench_probe_on_run(&args, run, dataset);
            }
            let config = dimua_probe::BenchConfig {
                labels: args.labels,
                dim: args.dim,
                n_train: args.n_train,
                epochs: args.epochs,
                repeats: args.repeats,
                ..dimua_probe::BenchConfig::default()
            };
            let device = dimua_model::parse_device(&args.device)?;
            let result = dimua_probe::bench_probes(&config, device)?;
            println!("{}", serde_json::to_string(&result)?);
            Ok(())
        }
    }
}
