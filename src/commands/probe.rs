//! `dimua probe`: linear probes on a frozen encoder (from a run directory or an encoder
//! file), on a fresh probe collection or a dataset written by `dimua collect`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use dimua_model::Encoder;
use dimua_pipeline::{ProbeCollection, ProbePlan, ProbeSet, RunConfig};

use crate::cli::{self, RomArgs};
use crate::progress;

/// Flags of `dimua probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// A run directory (uses its encoder.safetensors and config.toml; results are written there).
    #[arg(long, conflicts_with = "encoder")]
    pub run: Option<PathBuf>,
    /// An encoder file (encoder.safetensors with its encoder.json) instead of --run.
    #[arg(long, requires = "game")]
    pub encoder: Option<PathBuf>,
    /// Game (with --encoder).
    #[arg(long)]
    pub game: Option<String>,
    /// Probe on this dataset (from `dimua collect`) instead of a fresh collection.
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// Probe frames to collect (default: the run's probe_frames, else 50000).
    #[arg(long)]
    pub probe_frames: Option<usize>,
    /// Maximum probe epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Seed (default: the run's seed, else 42).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Device: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Collector threads.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Environment streams (default: the run's streams, else 10).
    #[arg(long)]
    pub streams: Option<u32>,
    /// Standardise features (train mean/std) before probing (default: the run's setting).
    #[arg(long)]
    pub standardize: bool,
    /// Precision of the encoder pass that makes the features: fp32 or bf16 (default: the
    /// run's `[probe] precision`, else fp32). The probes themselves train in fp32.
    #[arg(long)]
    pub precision: Option<dimua_model::Precision>,
    /// Where to write probe.json and report.md (default: the run directory, or the encoder
    /// file's directory with --encoder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub rom: RomArgs,
}

/// Runs `dimua probe`. Without a run, the run defaults (`RunConfig::default()`) apply.
pub fn run(args: ProbeArgs) -> anyhow::Result<()> {
    let (encoder_path, run_config, out) = match (&args.run, &args.encoder) {
        (Some(dir), _) => {
            let path = dimua_pipeline::run_encoder_path(dir)?;
            let config = RunConfig::load(&dir.join("config.toml")).ok();
            (
                path,
                config,
                args.out.clone().unwrap_or_else(|| dir.clone()),
            )
        }
        (None, Some(file)) => {
            // Default: beside the encoder file, like `--run` writes into the run directory.
            let beside = file
                .parent()
                .map(|p| {
                    if p.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        p
                    }
                })
                .unwrap_or(Path::new("."))
                .to_path_buf();
            (file.clone(), None, args.out.clone().unwrap_or(beside))
        }
        (None, None) => bail!("give --run DIR or --encoder FILE --game G"),
    };
    // The plan: flags over the run's config over the defaults, checked before any work.
    let base = run_config.clone().unwrap_or_default();
    let seed = args.seed.unwrap_or(base.seed);
    let device = dimua_model::parse_device(&args.device)?;
    let mut probe_config = base.probe.clone();
    if let Some(e) = args.epochs {
        probe_config.epochs = e;
    }
    if let Some(p) = args.precision {
        probe_config.precision = p;
    }
    let plan = ProbePlan::new(
        probe_config,
        seed,
        args.standardize || base.probe_standardize,
        device,
    )?;
    let encoder = Encoder::load_on(&encoder_path, device)
        .with_context(|| format!("loading encoder {}", encoder_path.display()))?;
    cli::warn_if_unfinished(&encoder, &encoder_path);
    let game_name = args
        .game
        .clone()
        .or_else(|| run_config.as_ref().map(|c| c.game.clone()))
        .or_else(|| encoder.meta().game.clone())
        .context("which game? pass --game")?;
    let game = dimua_atari::resolve_game(&game_name)?;
    if let Some(trained_on) = &encoder.meta().game {
        let trained = dimua_atari::resolve_game(trained_on)
            .map(|g| g.name)
            .unwrap_or("?");
        if trained != game.name {
            bail!(
                "encoder {} was trained on {trained}, not {}: probe it on its own game or pass the right --encoder",
                encoder_path.display(),
                game.name
            );
        }
    }
    // Scores go beside the encoder they belong to: a directory holding another encoder
    // (another run) must not receive them, or `report` would credit that run.
    let own = out.join("encoder.safetensors");
    let weights = encoder
        .file()
        .map_or(encoder_path.as_path(), |f| f.path.as_path());
    if own.is_file() && !dimua_pipeline::same_file(&own, weights) {
        bail!(
            "{} holds its own encoder ({}), so the scores of {} written there would be \
             credited to it: pass another --out",
            out.display(),
            own.display(),
            weights.display()
        );
    }
    // Nor may they replace the results of another encoder.
    if let Ok(text) = std::fs::read_to_string(out.join("probe.json")) {
        if let Ok(Some(dimua_pipeline::Scored {
            encoder: Some(previous),
            ..
        })) = dimua_pipeline::read_scored(&text)
        {
            let named = out.join(&previous.path); // an absolute path replaces `out`
            if !dimua_pipeline::same_file(&named, weights) {
                bail!(
                    "{} holds the probe results of another encoder ({}): pass another --out, \
                     or remove that probe.json yourself",
                    out.display(),
                    previous.path
                );
            }
        }
    }
    let display = progress::Display::default();
    let stages = progress::Stages::new("dimua probe", 3);
    let set = match &args.dataset {
        Some(dir) => {
            progress::stage("probe data (from the dataset)");
            ProbeSet::from_dataset(dir, game)?
        }
        None => {
            progress::stage("probe data (separately seeded collection)");
            let rom = args.rom.load(game)?;
            let collection = ProbeCollection::new(
                args.probe_frames.unwrap_or(base.probe_frames),
                seed,
                args.threads
                    .or(base.threads)
                    .unwrap_or_else(dimua_pipeline::default_threads),
                args.streams.unwrap_or(base.streams),
                encoder.frame_shape().channels == 3,
            );
            dimua_pipeline::collect_probe_set(game, &rom, &collection, &display)?
        }
    };
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let _lock = dimua_pipeline::DirLock::acquire(&out)?;
    let mut outcome = dimua_pipeline::probe(&set, Some(&encoder), &plan, &display)?;
    // A supervised run's own label heads, beside the probes (a warning, not a failure, when
    // they cannot be matched to this probe set).
    if let Some(dir) = &args.run {
        let dataset = run_config.as_ref().and_then(|c| c.dataset.clone());
        match cli::score_exported_heads(dir, game, dataset.as_deref(), &set, &encoder, &display) {
            Ok(heads) => outcome.own_heads = heads,
            Err(e) => eprintln!("warning: the run's own label heads were not scored: {e:#}"),
        }
    }
    let title = format!(
        "{} / {} ({} features), seed {seed}",
        game.name,
        encoder.meta().method,
        encoder.feature_dim()
    );
    dimua_pipeline::write_probe_outputs(&out, &outcome, &title)?;
    if let (Some(run), Some(config)) = (&args.run, &run_config) {
        // Probe results written elsewhere keep their provenance, so `dimua report` can use them.
        if out != *run {
            let mut config = config.clone();
            config.probe = plan.config.clone();
            dimua_pipeline::write_atomic(&out.join("config.toml"), config.to_toml().as_bytes())?;
        }
    }
    progress::plot_run(&out);
    drop(stages);
    println!(
        "{title}: across-categories F1 {:.3} acc {:.3} -> {}",
        outcome.result.across_categories_f1.unwrap_or(f64::NAN),
        outcome.result.across_categories_acc.unwrap_or(f64::NAN),
        out.join("probe.json").display()
    );
    cli::print_own_heads(&title, outcome.own_heads.as_ref());
    Ok(())
}
