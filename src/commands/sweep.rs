//! `dimua sweep`: expand games x methods x seeds x layouts into run configs and run them one
//! after another (finished runs are skipped, so an interrupted sweep resumes), or write what
//! a cluster needs to run them in parallel (`--emit-jobs`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use serde::{Deserialize, Serialize};

use dimua_pipeline::{write_atomic, RunConfig, RunMethod, RunPlan};

use crate::cli::{self, RomArgs};
use crate::progress;

/// A sweep file: a base run config and the axes to expand.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// Settings shared by every run (any `dimua run` config field).
    #[serde(default)]
    pub base: RunConfig,
    /// Games (default: the base game).
    #[serde(default)]
    pub games: Vec<String>,
    /// Methods (default: the base method).
    #[serde(default)]
    pub methods: Vec<String>,
    /// Seeds (default: the base seed).
    #[serde(default)]
    pub seeds: Vec<u64>,
    /// Layouts `HEADSxUNITS`: a list applied to every encoder method, e.g. ["1x256", "4x4096"],
    /// or a table per method, e.g. { dim-ua = ["4x512"], st-dim = ["1x256", "1x16384"] }
    /// (default: the base or method default). Majority runs once per game and seed.
    #[serde(default)]
    pub layouts: Layouts,
}

/// The layouts axis of a sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Layouts {
    /// The same layouts for every encoder method.
    All(Vec<String>),
    /// Layouts per method.
    PerMethod(std::collections::BTreeMap<String, Vec<String>>),
}

impl Default for Layouts {
    fn default() -> Self {
        Layouts::All(Vec::new())
    }
}

impl Layouts {
    fn for_method(&self, method: &str) -> anyhow::Result<Vec<Option<(usize, usize)>>> {
        let list = match self {
            Layouts::All(l) => l.clone(),
            Layouts::PerMethod(m) => m.get(method).cloned().unwrap_or_default(),
        };
        if list.is_empty() {
            return Ok(vec![None]);
        }
        list.iter().map(|l| parse_layout(l).map(Some)).collect()
    }
}

/// Flags of `dimua sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The sweep file.
    #[arg(long)]
    pub config: PathBuf,
    /// Root directory: one run directory per expanded config (optional with `--dry-run`,
    /// which then lists every run as to run).
    #[arg(long, required_unless_present = "dry_run")]
    pub out: Option<PathBuf>,
    /// Only write the job files (Slurm array script + one command per line) into this directory.
    #[arg(long, requires = "out")]
    pub emit_jobs: Option<PathBuf>,
    /// List the runs without running them.
    #[arg(long)]
    pub dry_run: bool,
}

fn parse_layout(text: &str) -> anyhow::Result<(usize, usize)> {
    let (h, u) = text
        .split_once(['x', 'X'])
        .with_context(|| format!("layout {text:?} is not HEADSxUNITS (e.g. 4x512)"))?;
    Ok((
        h.trim()
            .parse()
            .with_context(|| format!("bad heads in layout {text:?}"))?,
        u.trim()
            .parse()
            .with_context(|| format!("bad units in layout {text:?}"))?,
    ))
}

/// Expands a sweep into (run name, config) pairs, in a stable order.
pub fn expand(sweep: &SweepConfig) -> anyhow::Result<Vec<(String, RunConfig)>> {
    let base = &sweep.base;
    let or = |v: &Vec<String>, d: &String| {
        if v.is_empty() {
            vec![d.clone()]
        } else {
            v.clone()
        }
    };
    let games = or(&sweep.games, &base.game);
    let methods = or(&sweep.methods, &base.method);
    let seeds = if sweep.seeds.is_empty() {
        vec![base.seed]
    } else {
        sweep.seeds.clone()
    };
    let mut runs = Vec::new();
    for game in &games {
        let key = dimua_atari::resolve_game(game)?.name;
        for method in &methods {
            let method_layouts = if method == "majority" {
                vec![None]
            } else {
                sweep.layouts.for_method(method)?
            };
            for layout in &method_layouts {
                for &seed in &seeds {
                    let mut c = base.clone();
                    c.game = key.to_string();
                    c.method = method.clone();
                    c.seed = seed;
                    if let Some((h, u)) = layout {
                        c.heads = Some(*h);
                        c.units = Some(*u);
                    }
                    let plan = RunPlan::new(c.clone())
                        .with_context(|| format!("sweep entry {key} / {method} / seed {seed}"))?;
                    let tag = match plan.method {
                        RunMethod::Majority => "majority".to_string(),
                        _ => format!("{method}-{}x{}", plan.heads, plan.units),
                    };
                    runs.push((format!("{key}__{tag}__s{seed}"), c));
                }
            }
        }
    }
    Ok(runs)
}

fn write_jobs(dir: &Path, out: &Path, runs: &[(String, RunConfig)]) -> anyhow::Result<()> {
    let configs = dir.join("configs");
    std::fs::create_dir_all(&configs)
        .with_context(|| format!("cannot create {}", configs.display()))?;
    let exe = std::env::current_exe().context("locating the dimua binary")?;
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut lines = String::new();
    for (name, config) in runs {
        let file = configs.join(format!("{name}.toml"));
        write_atomic(&file, config.to_toml().as_bytes())?;
        let run_dir = abs(&out.join(name));
        // Every argument is quoted for the shell that runs the line (GNU parallel, the
        // sbatch script's `bash -c`); a run whose probe.json exists is finished and is
        // skipped, so re-submitting the job list never replaces it (`--force` only ever
        // reaches an unfinished run's directory).
        lines.push_str(&format!(
            "test -f {} || {} run --config {} --out {} --force\n",
            shell_quote(&run_dir.join("probe.json")),
            shell_quote(&exe),
            shell_quote(&abs(&file)),
            shell_quote(&run_dir)
        ));
    }
    write_atomic(&dir.join("commands.txt"), lines.as_bytes())?;
    let sbatch = format!(
        "#!/bin/bash\n# Slurm job array: one dimua run per line of commands.txt.\n\
         #SBATCH --job-name=dimua-sweep\n#SBATCH --array=0-{}\n#SBATCH --cpus-per-task=8\n\
         #SBATCH --output={}\n\
         line=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" {})\nexec bash -c \"$line\"\n",
        runs.len().saturating_sub(1),
        shell_quote(&abs(dir).join("slurm-%A_%a.out")),
        shell_quote(&abs(&dir.join("commands.txt")))
    );
    write_atomic(&dir.join("sweep.sbatch"), sbatch.as_bytes())?;
    println!(
        "wrote {} run configs, {} (GNU parallel: parallel -j4 < commands.txt) and {} (sbatch)",
        runs.len(),
        dir.join("commands.txt").display(),
        dir.join("sweep.sbatch").display()
    );
    Ok(())
}

/// `path` as one POSIX shell word: single-quoted, with each `'` written as `'\''`, so no
/// space, quote, `$(...)` or `;` in it is interpreted.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', "'\\''"))
}

/// Whether `dir` holds a finished run (its `probe.json`) of exactly `config`, as the sweep
/// would run it now. A finished run of another config (the sweep's `[base]` or grid edited
/// since) is an error, not a skip: its results would otherwise stand in the report for
/// settings they were not made with.
fn finished_run_of(dir: &Path, name: &str, config: &RunConfig) -> anyhow::Result<bool> {
    if !dir.join("probe.json").is_file() {
        return Ok(false);
    }
    let saved = RunConfig::load(&dir.join("config.toml")).with_context(|| {
        format!(
            "{} holds a finished run whose config cannot be read",
            dir.display()
        )
    })?;
    // Both sides through the same path: the run's config as `run_plan` writes it, read back.
    let planned = RunPlan::new(RunConfig::from_toml(&config.to_toml(), name)?)?.config;
    let expected = RunConfig::from_toml(&planned.to_toml(), name)?;
    if saved != expected {
        bail!(
            "{} holds a finished run of another config (the sweep's [base] or grid changed \
             since it ran; compare its config.toml with `dimua config show`): move it away or \
             use another --out",
            dir.display()
        );
    }
    Ok(true)
}

/// Runs `dimua sweep`.
pub fn run(args: SweepArgs) -> anyhow::Result<()> {
    let text = dimua_pipeline::config::read_config_text(&args.config)
        .with_context(|| format!("cannot read sweep {}", args.config.display()))?;
    let invalid = |e: toml::de::Error| {
        anyhow::anyhow!("invalid sweep {}: {}", args.config.display(), e.message())
    };
    let mut sweep: SweepConfig = toml::from_str(&text).map_err(invalid)?;
    let raw: toml::Table = toml::from_str(&text).map_err(invalid)?;
    let base_raw = raw.get("base").and_then(|b| b.as_table());
    sweep
        .base
        .apply_protocol(Some(base_raw.unwrap_or(&toml::Table::new())));
    let runs = expand(&sweep)?;
    if runs.is_empty() {
        bail!("the sweep expands to no run");
    }
    if let (Some(dir), Some(out)) = (&args.emit_jobs, &args.out) {
        return write_jobs(dir, out, &runs);
    }
    if args.dry_run {
        let total = runs.len();
        for (i, (name, config)) in runs.into_iter().enumerate() {
            let done = match &args.out {
                Some(out) => finished_run_of(&out.join(&name), &name, &config)?,
                None => false,
            };
            if done {
                println!("[{}/{total}] {name}: done, skipped", i + 1);
                continue;
            }
            // Every run's plan is validated (method, architecture, memory, probe settings).
            RunPlan::new(config).with_context(|| format!("sweep run {name}"))?;
            println!("[{}/{total}] {name}: to run", i + 1);
        }
        return Ok(());
    }
    let out = args
        .out
        .as_deref()
        .context("--out is required (the runs' root directory)")?;
    let configs = out.join("configs");
    std::fs::create_dir_all(&configs)
        .with_context(|| format!("cannot create {}", configs.display()))?;
    let total = runs.len();
    for (i, (name, config)) in runs.into_iter().enumerate() {
        let dir = out.join(&name);
        if finished_run_of(&dir, &name, &config)? {
            println!("[{}/{total}] {name}: done, skipped", i + 1);
            continue;
        }
        println!("[{}/{total}] {name}", i + 1);
        let file = configs.join(format!("{name}.toml"));
        write_atomic(&file, config.to_toml().as_bytes())?;
        // The run reads its config back from the file, as `dimua run --config FILE` would.
        let result = (|| -> anyhow::Result<()> {
            let plan = RunPlan::new(RunConfig::load(&file)?)?;
            cli::run_plan(&plan, &RomArgs::default(), &dir, true)
        })();
        result.with_context(|| format!("sweep run {name} (re-run the sweep to resume)"))?;
        if progress::interrupted() {
            bail!("sweep interrupted; re-run it to resume");
        }
    }
    Ok(())
}
