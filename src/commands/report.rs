//! `dimua report`: one table across runs, games, methods and seeds (mean ± std), laid out like
//! the paper's Table 1 (F1) and Table 4 (accuracy), as Markdown and JSON.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use dimua_probe::{ProbeResult, RunRecord};

use crate::config::RunConfig;
use crate::pipeline::write_atomic;

/// Flags of `dimua report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run directories, or folders holding run directories (searched 3 levels deep).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Also write report.md and report.json into this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// A finished run found on disk.
pub struct FoundRun {
    /// Its directory.
    pub dir: PathBuf,
    /// Its resolved config.
    pub config: RunConfig,
    /// Its probe result.
    pub result: ProbeResult,
}

fn find(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if dir.join("probe.json").is_file() {
        out.push(dir.to_path_buf());
        return;
    }
    if depth == 0 {
        return;
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut subdirs: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        subdirs.sort();
        for sub in subdirs {
            find(&sub, depth - 1, out);
        }
    }
}

/// Loads every finished run under `dirs`.
pub fn load_runs(dirs: &[PathBuf]) -> anyhow::Result<Vec<FoundRun>> {
    let mut found = Vec::new();
    for d in dirs {
        if !d.is_dir() {
            bail!("{} is not a directory", d.display());
        }
        find(d, 3, &mut found);
    }
    if found.is_empty() {
        bail!("no finished run (a directory with probe.json) under the given directories");
    }
    found
        .into_iter()
        .map(|dir| {
            let config = RunConfig::load(&dir.join("config.toml"))?;
            let text = std::fs::read_to_string(dir.join("probe.json"))
                .with_context(|| format!("reading {}", dir.join("probe.json").display()))?;
            let result: ProbeResult = serde_json::from_str(&text).with_context(|| {
                format!("{} is not a probe result", dir.join("probe.json").display())
            })?;
            Ok(FoundRun {
                dir,
                config,
                result,
            })
        })
        .collect()
}

/// Heads and units of a run's config, with the method defaults filled in.
pub fn layout(config: &RunConfig) -> Option<(usize, usize)> {
    let (dh, du) = match config.method.as_str() {
        "majority" => return None,
        "st-dim" | "random-cnn" => (1, 256),
        _ => (4, 512),
    };
    Some((config.heads.unwrap_or(dh), config.units.unwrap_or(du)))
}

/// Runs `dimua report`.
pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    let runs = load_runs(&args.dirs)?;
    let records: Vec<RunRecord> = runs
        .iter()
        .map(|r| {
            let game = dimua_atari::resolve_game(&r.config.game)
                .map(|g| g.atariari_key())
                .unwrap_or_else(|_| r.config.game.clone());
            RunRecord {
                game,
                method: r.config.method.clone(),
                seed: r.config.seed,
                units: layout(&r.config).map(|(h, u)| format!("{h}x{u}")),
                result: r.result.clone(),
            }
        })
        .collect();
    let tables = dimua_probe::aggregate_runs(&records)?;
    let md = format!(
        "# dimua report: {} runs\n\n{}",
        records.len(),
        tables.to_markdown()
    );
    println!("{md}");
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        write_atomic(&out.join("report.md"), md.as_bytes())?;
        let json = serde_json::json!({ "runs": records.len(), "tables": tables });
        write_atomic(
            &out.join("report.json"),
            serde_json::to_string_pretty(&json)?.as_bytes(),
        )?;
    }
    Ok(())
}
