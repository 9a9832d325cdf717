//! Plots of a dimua run and of a units sweep, each written as PNG and SVG with `plotters`.
//!
//! - [`plot_run`] reads a run directory (`metrics.jsonl`, `probe.json`) and writes
//!   `plots/losses`, `plots/membership_entropy`, `plots/head_share` and `plots/probe_f1`,
//!   each only when its data exist.
//! - [`plot_units_sweep`] draws probe F1 and accuracy against total hidden units, one line
//!   per method (the paper's Figures 3-5).
//! - [`plot_entropy_runs`] draws the membership entropy per epoch of many runs, one line per
//!   method and layout (the paper's Figure 1 for Atari).
//! - [`plot_returns`] draws RL learning curves (episode return against emulator frames).
//!
//! Text is rendered in pure Rust from an embedded DejaVu Sans, so no system font library or
//! font file is needed.
//!
//! Try it without a run: `cargo run -p dimua-plot --example demo -- /tmp/plot-demo`; plot
//! an existing run: `cargo run -p dimua-plot --example run -- RUN_DIR`.

#![warn(missing_docs)]

mod charts;
mod error;
mod figure;
mod font;
mod run;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use charts::entropy::Entropy;
use charts::entropy_runs::EntropyRuns;
use charts::head_share::HeadShare;
use charts::losses::Losses;
use charts::probe_f1::ProbeF1;
use charts::returns::Returns;
use charts::units::{Score, UnitsFigure};
pub use error::PlotError;
use figure::{ensure_dir, save};

/// The per-epoch metrics file a training run writes.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// The probe result a probing run writes.
pub const PROBE_FILE: &str = "probe.json";
/// The folder inside a run directory that [`plot_run`] writes into.
pub const PLOTS_DIR: &str = "plots";

/// Draws every plot whose data the run directory holds, into `run_dir/plots/`:
///
/// - `losses.{png,svg}` from the `loss/train_*` and `loss/val_*` terms of `metrics.jsonl`
///   (terms that are 0 at every epoch are unused and left out);
/// - `membership_entropy.{png,svg}` from `atlas/membership_entropy`, with ln(n) (uniform
///   membership) as a reference line when `atlas/head_share` gives the head count n;
/// - `head_share.{png,svg}` from `atlas/head_share`;
/// - `probe_f1.{png,svg}` from `probe.json`.
///
/// Missing keys and null values are skipped. Returns the files written (possibly none when
/// the files hold no plottable values). Errors when `run_dir` is not a directory, when it
/// holds neither input file, when an input is unreadable or malformed, or when `plots/`
/// cannot be created or written.
pub fn plot_run(run_dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    if !run_dir.is_dir() {
        return Err(PlotError::NotARunDir {
            path: run_dir.to_path_buf(),
        });
    }
    let metrics = run::read_metrics(&run_dir.join(METRICS_FILE))?;
    let probe = run::read_probe(&run_dir.join(PROBE_FILE))?;
    if metrics.is_none() && probe.is_none() {
        return Err(PlotError::NothingToPlot {
            path: run_dir.to_path_buf(),
        });
    }
    let losses = metrics.as_ref().and_then(Losses::from_metrics);
    let entropy = metrics.as_ref().and_then(Entropy::from_metrics);
    let heads = metrics.as_ref().and_then(HeadShare::from_metrics);
    let probe_f1 = probe.as_ref().and_then(ProbeF1::from_probe);

    let mut written = Vec::new();
    let any = losses.is_some() || entropy.is_some() || heads.is_some() || probe_f1.is_some();
    if !any {
        return Ok(written);
    }
    let out = run_dir.join(PLOTS_DIR);
    ensure_dir(&out)?;
    if let Some(f) = &losses {
        written.extend(save(f, &out, "losses")?);
    }
    if let Some(f) = &entropy {
        written.extend(save(f, &out, "membership_entropy")?);
    }
    if let Some(f) = &heads {
        written.extend(save(f, &out, "head_share")?);
    }
    if let Some(f) = &probe_f1 {
        written.extend(save(f, &out, "probe_f1")?);
    }
    Ok(written)
}

/// One method at one size in a units sweep: probe scores aggregated over seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitsPoint {
    /// Method name as shown in the legend (`ST-DIM`, `DIM-UA`, ...).
    pub method: String,
    /// Total hidden units, heads × units per head (x axis, log2 scale).
    pub total_units: usize,
    /// Mean probe F1 over seeds.
    pub f1_mean: f64,
    /// Standard deviation of the probe F1 over seeds (0 for one seed).
    pub f1_std: f64,
    /// Mean probe accuracy over seeds.
    pub acc_mean: f64,
    /// Standard deviation of the probe accuracy over seeds.
    pub acc_std: f64,
}

/// Writes `f1_vs_units.{png,svg}` and `acc_vs_units.{png,svg}` into `out_dir` (created if
/// needed): x = total hidden units on a log2 axis (ticks 256 .. 16384, widened to fit the
/// data), one line per method in order of first appearance, with a ± std band and error
/// bars. Errors when `points` is empty or holds a zero unit count, a non-finite mean, or a
/// negative or non-finite std, and when `out_dir` cannot be created or written.
pub fn plot_units_sweep(points: &[UnitsPoint], out_dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    validate_units(points)?;
    ensure_dir(out_dir)?;
    let mut written = save(&UnitsFigure::new(points, Score::F1), out_dir, "f1_vs_units")?;
    written.extend(save(
        &UnitsFigure::new(points, Score::Acc),
        out_dir,
        "acc_vs_units",
    )?);
    Ok(written)
}

/// One line of [`plot_entropy_runs`]: a method and layout, aggregated over its runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntropyCurve {
    /// Legend label, e.g. `dim-ua (4x512)`.
    pub label: String,
    /// Heads n (the dashed ln n reference line).
    pub heads: usize,
    /// Runs aggregated.
    pub runs: usize,
    /// `(epoch, mean entropy, std over runs)` in epoch order.
    pub epochs: Vec<(f64, f64, f64)>,
}

/// Writes `membership_entropy_per_epoch.{png,svg}` into `out_dir`: each curve's mean
/// membership entropy per epoch with a ± std band, and ln n dashed per head count. Errors
/// when `curves` is empty, holds a curve without points or with non-finite values, or when
/// `out_dir` cannot be written.
pub fn plot_entropy_runs(
    curves: &[EntropyCurve],
    out_dir: &Path,
) -> Result<Vec<PathBuf>, PlotError> {
    let bad = |reason: String| Err(PlotError::BadEntropyCurves { reason });
    if curves.is_empty() {
        return bad("no entropy curve given: the runs have no multi-head membership".into());
    }
    for c in curves {
        if c.epochs.is_empty() || c.heads < 2 {
            return bad(format!(
                "curve {:?}: needs epochs and at least 2 heads",
                c.label
            ));
        }
        if c.epochs
            .iter()
            .any(|p| !(p.0.is_finite() && p.1.is_finite() && p.2.is_finite()))
        {
            return bad(format!("curve {:?}: non-finite value", c.label));
        }
    }
    ensure_dir(out_dir)?;
    save(
        &EntropyRuns { curves },
        out_dir,
        "membership_entropy_per_epoch",
    )
}

fn validate_units(points: &[UnitsPoint]) -> Result<(), PlotError> {
    let bad = |reason: String| Err(PlotError::BadUnitsPoints { reason });
    if points.is_empty() {
        return bad(
            "no points given; pass at least one (method, total_units, scores) point".into(),
        );
    }
    for p in points {
        let at = format!("method {:?} at {} units", p.method, p.total_units);
        if p.total_units == 0 {
            return bad(format!(
                "{at}: total_units must be positive (the x axis is log2)"
            ));
        }
        for (name, mean, std) in [("f1", p.f1_mean, p.f1_std), ("acc", p.acc_mean, p.acc_std)] {
            if !mean.is_finite() {
                return bad(format!("{at}: {name}_mean is {mean}, not a finite number"));
            }
            if !(std.is_finite() && std >= 0.0) {
                return bad(format!(
                    "{at}: {name}_std is {std}; it must be finite and >= 0 (use 0 for one seed)"
                ));
            }
        }
    }
    Ok(())
}

/// One line of [`plot_returns`]: an agent variant, aggregated over its seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReturnCurve {
    /// Legend label, e.g. `nature-cnn`.
    pub label: String,
    /// Runs (seeds) aggregated.
    pub runs: usize,
    /// `(emulator frames, mean return, std over runs)` in frame order.
    pub points: Vec<(f64, f64, f64)>,
}

/// Writes `<stem>.{png,svg}` into `out_dir`: each curve's mean episode return against
/// emulator frames with a ± std band, under `title`. Errors when `curves` is empty, holds a
/// curve without points or with non-finite values, or when `out_dir` cannot be written.
pub fn plot_returns(
    curves: &[ReturnCurve],
    title: &str,
    out_dir: &Path,
    stem: &str,
) -> Result<Vec<PathBuf>, PlotError> {
    if curves.is_empty() {
        return Err(PlotError::BadReturnCurves {
            reason: "no curve given".into(),
        });
    }
    for c in curves {
        let finite = c
            .points
            .iter()
            .all(|p| p.0.is_finite() && p.1.is_finite() && p.2.is_finite() && p.2 >= 0.0);
        if c.points.is_empty() || !finite {
            return Err(PlotError::BadReturnCurves {
                reason: format!(
                    "curve {:?}: needs at least one point, all finite with std >= 0",
                    c.label
                ),
            });
        }
    }
    ensure_dir(out_dir)?;
    save(&Returns { title, curves }, out_dir, stem)
}
