//! Owns the `ppo_report` example: the comparison table and plot of several `ppo_atari` runs.
//!
//! ```text
//! cargo run --release --example ppo_report -- --out runs/ppo-report runs/ppo/*
//! ```
//!
//! Each run folder is named `<variant>__s<seed>` and holds the `returns.csv` that
//! `ppo_atari` writes. Per run, the return at F frames is the mean score of the last 20 games
//! finished by F (cleanrl's smoothing of `episodic_return`); per variant, the mean ± std of
//! that over seeds, at each checkpoint of `--every` frames. Writes `returns.{png,svg}` and
//! `table.md` (the checkpoints of `--table-at`) into `--out`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;

/// Table and plot of ppo_atari runs.
#[derive(Debug, Parser)]
struct Args {
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Curve resolution in emulator frames.
    #[arg(long, default_value_t = 50_000)]
    every: u64,
    /// Frames at which the table reports (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "250000,500000,1000000")]
    table_at: Vec<u64>,
    /// Games averaged per point.
    #[arg(long, default_value_t = 20)]
    window: usize,
    /// Run folders (`<variant>__s<seed>`).
    runs: Vec<PathBuf>,
}

/// Mean of the last `window` games finished by `frames` (None before the first game).
fn smoothed(games: &[(u64, f64)], frames: u64, window: usize) -> Option<f64> {
    let done = games.partition_point(|g| g.0 <= frames);
    (done > 0).then(|| {
        let w = &games[done.saturating_sub(window)..done];
        w.iter().map(|g| g.1).sum::<f64>() / w.len() as f64
    })
}

/// One seed of a variant: its games (frames when finished, score) and its last frame.
type Run = (Vec<(u64, f64)>, u64);

fn mean_std(xs: &[f64]) -> (f64, f64) {
    let m = xs.iter().sum::<f64>() / xs.len() as f64;
    let v = if xs.len() > 1 {
        xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64
    } else {
        0.0
    };
    (m, v.sqrt())
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.runs.is_empty() {
        bail!("give the run folders to compare");
    }
    let mut variants: BTreeMap<String, Vec<Run>> = BTreeMap::new();
    for run in &args.runs {
        let name = run
            .file_name()
            .and_then(|n| n.to_str())
            .context("run folder name")?;
        let variant = name.split("__s").next().unwrap_or(name).to_string();
        let text = std::fs::read_to_string(run.join("returns.csv"))
            .with_context(|| format!("{}: no returns.csv", run.display()))?;
        let mut games = Vec::new();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            if let (Some(fr), Some(r)) = (f.first(), f.get(2)) {
                games.push((fr.parse::<u64>()?, r.parse::<f64>()?));
            }
        }
        let last = std::fs::read_to_string(run.join("updates.jsonl"))
            .ok()
            .and_then(|t| t.lines().last().map(str::to_string))
            .and_then(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
            .and_then(|v| v["frames"].as_u64())
            .unwrap_or_else(|| games.last().map_or(0, |g| g.0));
        variants.entry(variant).or_default().push((games, last));
    }
    std::fs::create_dir_all(&args.out)?;
    let mut curves = Vec::new();
    for (variant, runs) in &variants {
        let end = runs.iter().map(|r| r.1).min().unwrap_or(0);
        let mut points = Vec::new();
        let mut f = args.every;
        while f <= end {
            let vals: Vec<f64> = runs
                .iter()
                .filter_map(|(g, _)| smoothed(g, f, args.window))
                .collect();
            if vals.len() == runs.len() {
                let (m, s) = mean_std(&vals);
                points.push((f as f64, m, s));
            }
            f += args.every;
        }
        if !points.is_empty() {
            curves.push(dimua_plot::ReturnCurve {
                label: variant.clone(),
                runs: runs.len(),
                points,
            });
        }
    }
    if curves.is_empty() {
        // Short runs (a smoke test) still get their table; only the plot needs points.
        eprintln!(
            "no plot: no variant has a finished game in every seed by {} frames, the first \
             curve point (pass a smaller --every)",
            args.every
        );
    } else {
        let title = format!(
            "PPO episode return (mean of the last {} games; mean ± std over seeds)",
            args.window
        );
        dimua_plot::plot_returns(&curves, &title, &args.out, "returns")?;
    }
    let mut table = String::from("| variant | seeds |");
    for f in &args.table_at {
        table.push_str(&format!(" return at {}k frames |", f / 1000));
    }
    table.push_str(" games played |\n|---|---:|");
    for _ in &args.table_at {
        table.push_str("---:|");
    }
    table.push_str("---:|\n");
    for (variant, runs) in &variants {
        table.push_str(&format!("| {variant} | {} |", runs.len()));
        for &f in &args.table_at {
            let vals: Vec<f64> = runs
                .iter()
                .filter(|r| r.1 >= f)
                .filter_map(|(g, _)| smoothed(g, f, args.window))
                .collect();
            if vals.len() == runs.len() {
                let (m, s) = mean_std(&vals);
                table.push_str(&format!(" {m:.2} ± {s:.2} |"));
            } else {
                table.push_str(" – |");
            }
        }
        let games: usize = runs.iter().map(|r| r.0.len()).sum();
        table.push_str(&format!(" {games} |\n"));
    }
    std::fs::write(args.out.join("table.md"), &table)?;
    print!("{table}");
    Ok(())
}
