//! `dimua report`: one table across runs, games, methods and seeds (mean ± std), laid out like
//! the paper's Table 1 (F1) and Table 4 (accuracy), as Markdown and JSON; for image runs
//! (`dimua images`), the paper's Table 2 layout.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use dimua_probe::{MeanStd, ProbeResult, RunRecord};

use dimua_pipeline::{write_atomic, RunConfig};

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
    /// A supervised run's own label heads scored on the same test frames (`"own_heads"` in
    /// `probe.json`): AtariARI's "supervised" numbers.
    pub own_heads: Option<ProbeResult>,
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

/// Loads every finished run under `dirs`. A directory whose `probe.json` or `config.toml`
/// cannot be read (a broken, foreign or probe-only directory) is skipped with a line on
/// stderr naming it and the reason; it is an error only when no run is left.
pub fn load_runs(dirs: &[PathBuf]) -> anyhow::Result<Vec<FoundRun>> {
    let mut found = Vec::new();
    for d in dirs {
        if !d.is_dir() {
            bail!("{} is not a directory", d.display());
        }
        find(d, 3, &mut found);
    }
    let mut runs = Vec::new();
    let mut skipped = 0;
    for dir in found {
        let run = (|| -> anyhow::Result<FoundRun> {
            let config = RunConfig::load(&dir.join("config.toml"))?;
            let text = std::fs::read_to_string(dir.join("probe.json"))
                .with_context(|| format!("reading {}", dir.join("probe.json").display()))?;
            let result: ProbeResult = serde_json::from_str(&text).with_context(|| {
                format!("{} is not a probe result", dir.join("probe.json").display())
            })?;
            // A probe.json that scored another encoder than the run's (or a changed one)
            // would credit the wrong run.
            if let Some(scored) = dimua_pipeline::read_scored(&text).map_err(anyhow::Error::msg)? {
                scored.check_encoder_in(&dir).map_err(anyhow::Error::msg)?;
                if let Some(enc) = &scored.encoder {
                    let method = config
                        .method
                        .parse::<dimua_model::Method>()
                        .map_or_else(|_| config.method.clone(), |m| m.name().to_string());
                    if enc.method != method {
                        bail!(
                            "probe.json scored a {} encoder but config.toml says {}: re-probe \
                             the run with `dimua probe --run {}`",
                            enc.method,
                            config.method,
                            dir.display()
                        );
                    }
                }
            }
            let own_heads = serde_json::from_str::<serde_json::Value>(&text)?
                .get("own_heads")
                .map(|v| serde_json::from_value::<ProbeResult>(v.clone()))
                .transpose()
                .with_context(|| {
                    format!("{}: \"own_heads\" is not a probe result", dir.display())
                })?;
            Ok(FoundRun {
                dir: dir.clone(),
                config,
                result,
                own_heads,
            })
        })();
        match run {
            Ok(run) => runs.push(run),
            Err(e) => {
                skipped += 1;
                eprintln!("skipped {}: {e:#}", dir.display());
            }
        }
    }
    if runs.is_empty() {
        bail!(
            "no finished run (a directory with config.toml and probe.json) under the given \
             directories{}",
            if skipped > 0 {
                " (see the skipped directories above)"
            } else {
                ""
            }
        );
    }
    Ok(runs)
}

/// Heads and units of a run's config, with the method defaults filled in.
pub fn layout(config: &RunConfig) -> Option<(usize, usize)> {
    let method = dimua_pipeline::RunMethod::parse(&config.method).ok()?;
    if method == dimua_pipeline::RunMethod::Majority {
        return None;
    }
    let (dh, du) = method.default_architecture();
    Some((config.heads.unwrap_or(dh), config.units.unwrap_or(du)))
}

/// F1 / accuracy against total hidden units per method, as the paper's Figures 3 to 5: each
/// point's mean is the mean over games of each game's mean over seeds (as the table's Mean
/// row), its std the std over seeds of each seed's mean over the games (only seeds run on
/// every game of the point count; 0 without one). A method run with several head counts
/// gets one line per head count (`dim-ua (2 heads)`: Figure 4).
pub fn units_points(runs: &[FoundRun]) -> Vec<dimua_plot::UnitsPoint> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut heads_of: BTreeMap<&str, BTreeSet<usize>> = Default::default();
    for r in runs {
        if let Some((h, _)) = layout(&r.config) {
            heads_of.entry(&r.config.method).or_default().insert(h);
        }
    }
    // (line, total units) -> game -> seed -> (F1, accuracy) values.
    type Cell = BTreeMap<u64, Vec<(f64, f64)>>;
    let mut groups: BTreeMap<(String, usize), BTreeMap<&str, Cell>> = Default::default();
    for r in runs {
        let Some((h, u)) = layout(&r.config) else {
            continue;
        };
        let line = if heads_of[r.config.method.as_str()].len() > 1 {
            format!("{} ({h} heads)", r.config.method)
        } else {
            r.config.method.clone()
        };
        if let (Some(f1), Some(acc)) = (
            r.result.across_categories_f1,
            r.result.across_categories_acc,
        ) {
            groups
                .entry((line, h * u))
                .or_default()
                .entry(r.config.game.as_str())
                .or_default()
                .entry(r.config.seed)
                .or_default()
                .push((f1, acc));
        }
    }
    let mean = |xs: &[f64]| MeanStd::of(xs).map_or(0.0, |m| m.mean);
    let summary = |games: &BTreeMap<&str, Cell>, pick: fn(&(f64, f64)) -> f64| {
        let game_means: Vec<f64> = games
            .values()
            .map(|seeds| mean(&seeds.values().flatten().map(pick).collect::<Vec<_>>()))
            .collect();
        let all_seeds: BTreeSet<u64> = games.values().flat_map(|s| s.keys().copied()).collect();
        let seed_means: Vec<f64> = all_seeds
            .iter()
            .filter(|seed| games.values().all(|s| s.contains_key(seed)))
            .map(|seed| {
                let per_game: Vec<f64> = games
                    .values()
                    .map(|s| mean(&s[seed].iter().map(pick).collect::<Vec<_>>()))
                    .collect();
                mean(&per_game)
            })
            .collect();
        let std = MeanStd::of(&seed_means).and_then(|m| m.std).unwrap_or(0.0);
        (mean(&game_means), std)
    };
    groups
        .into_iter()
        .map(|((method, total_units), games)| {
            let (f1_mean, f1_std) = summary(&games, |x| x.0);
            let (acc_mean, acc_std) = summary(&games, |x| x.1);
            dimua_plot::UnitsPoint {
                method,
                total_units,
                f1_mean,
                f1_std,
                acc_mean,
                acc_std,
            }
        })
        .collect()
}

/// Membership entropy per epoch of the multi-head runs, one curve per method and layout
/// (at each epoch, mean ± std over the runs that reached it): the paper's Figure 1 for
/// Atari. Runs without `metrics.jsonl` (probe-only directories) are left out.
pub fn entropy_curves(runs: &[FoundRun]) -> Vec<dimua_plot::EntropyCurve> {
    let mut groups: std::collections::BTreeMap<(String, usize), Vec<Vec<f64>>> = Default::default();
    for r in runs {
        let Some((h, u)) = layout(&r.config) else {
            continue;
        };
        if h < 2 {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(r.dir.join("metrics.jsonl")) else {
            continue;
        };
        let series: Vec<f64> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["atlas/membership_entropy"].as_f64())
            .collect();
        if !series.is_empty() {
            groups
                .entry((format!("{} ({h}x{u})", r.config.method), h))
                .or_default()
                .push(series);
        }
    }
    groups
        .into_iter()
        .map(|((label, heads), runs)| {
            let longest = runs.iter().map(Vec::len).max().unwrap_or(0);
            let epochs = (0..longest)
                .map(|e| {
                    let xs: Vec<f64> = runs.iter().filter_map(|s| s.get(e).copied()).collect();
                    let m = MeanStd::of(&xs).expect("the longest run reaches every epoch");
                    (e as f64, m.mean, m.std.unwrap_or(0.0))
                })
                .collect();
            dimua_plot::EntropyCurve {
                label,
                heads,
                runs: runs.len(),
                epochs,
            }
        })
        .collect()
}

/// Runs `dimua report`.
pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    // Image runs (`dimua images`, an eval.json each): the paper's Table 2 layout.
    let image_runs: Vec<_> = args
        .dirs
        .iter()
        .filter(|d| d.is_dir())
        .flat_map(|d| dimua_images::report::find_image_runs(d))
        .collect();
    if !image_runs.is_empty() {
        let md = format!(
            "# dimua report: {} image runs (Table 2 layout)\n\n{}",
            image_runs.len(),
            dimua_images::report::table2_markdown(&image_runs)
        );
        println!("{md}");
        if let Some(out) = &args.out {
            std::fs::create_dir_all(out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            write_atomic(&out.join("table2.md"), md.as_bytes())?;
            // Fig. 1: the membership entropy per epoch of every multi-chart method.
            let curves: Vec<dimua_plot::EntropyCurve> =
                dimua_images::report::entropy_per_epoch(&image_runs)
                    .into_iter()
                    .map(|c| dimua_plot::EntropyCurve {
                        label: c.label,
                        heads: c.heads,
                        runs: c.runs,
                        epochs: c.epochs,
                    })
                    .collect();
            if !curves.is_empty() {
                let files = dimua_plot::plot_entropy_runs(&curves, out)?;
                println!(
                    "wrote {} entropy plot files into {}",
                    files.len(),
                    out.display()
                );
            }
        }
        let atari_runs = args.dirs.iter().any(|d| {
            let mut found = Vec::new();
            find(d, 3, &mut found);
            !found.is_empty()
        });
        if !atari_runs {
            return Ok(());
        }
    }
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
    // A supervised run's own heads: a column of their own, right after the probes on its
    // features (the layout is already in `supervised`'s heading).
    let records: Vec<RunRecord> = records
        .into_iter()
        .zip(&runs)
        .flat_map(|(record, run)| {
            let heads = run.own_heads.as_ref().map(|h| RunRecord {
                method: dimua_probe::report::OWN_HEADS_COLUMN.to_string(),
                units: None,
                result: h.clone(),
                ..record.clone()
            });
            std::iter::once(record).chain(heads)
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
        let curves = entropy_curves(&runs);
        if !curves.is_empty() {
            let files = dimua_plot::plot_entropy_runs(&curves, &out.join("plots"))?;
            eprintln!(
                "wrote {} membership-entropy plot files into {}",
                files.len(),
                out.join("plots").display()
            );
        }
        let points = units_points(&runs);
        let layouts: std::collections::BTreeSet<usize> =
            points.iter().map(|p| p.total_units).collect();
        if layouts.len() > 1 {
            let files = dimua_plot::plot_units_sweep(&points, &out.join("plots"))?;
            eprintln!(
                "wrote {} plot files into {}",
                files.len(),
                out.join("plots").display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(game: &str, seed: u64, units: usize, f1: f64) -> FoundRun {
        let mut config = RunConfig {
            game: game.into(),
            seed,
            units: Some(units),
            heads: Some(4),
            ..RunConfig::default()
        };
        config.method = "dim-ua".into();
        let result = ProbeResult {
            per_label: Default::default(),
            per_category: Default::default(),
            across_categories_f1: Some(f1),
            across_categories_acc: Some(f1 + 0.1),
            overall_f1: f1,
            overall_acc: f1 + 0.1,
            label_categories: Default::default(),
            training: None,
            n_test: None,
        };
        FoundRun {
            dir: PathBuf::new(),
            config,
            result,
            own_heads: None,
        }
    }

    /// Bug: the units figures' ± was the std over every run of a layout, games pooled, so two
    /// games 0.4 apart gave bars of ±0.2 while the seeds agreed to 0.01. The std is over seeds
    /// of each seed's mean over the games (hand-computed below), as the Mean row's.
    #[test]
    fn units_figure_std_is_over_seeds_not_games() {
        let runs = [
            found("pong", 1, 64, 0.80),
            found("pong", 2, 64, 0.82),
            found("breakout", 1, 64, 0.40),
            found("breakout", 2, 64, 0.42),
            // A seed run on one game only: in the mean (through pong's mean), not in the std.
            found("pong", 3, 64, 0.84),
        ];
        let points = units_points(&runs);
        assert_eq!(points.len(), 1);
        let p = &points[0];
        assert_eq!((p.method.as_str(), p.total_units), ("dim-ua", 256));
        // Game means: pong (0.80 + 0.82 + 0.84) / 3 = 0.82, breakout 0.41; mean 0.615.
        assert!((p.f1_mean - 0.615).abs() < 1e-12, "{}", p.f1_mean);
        // Seed means over both games: seed 1 0.60, seed 2 0.62: population std 0.01.
        assert!((p.f1_std - 0.01).abs() < 1e-12, "{}", p.f1_std);
        assert!((p.acc_mean - 0.715).abs() < 1e-12 && (p.acc_std - 0.01).abs() < 1e-12);
    }
}
