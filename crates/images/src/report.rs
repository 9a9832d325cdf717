//! Tables from finished image runs (`eval.json`): the paper's Table 2 layout (rows: method,
//! heads and setup; columns: units per head; cells: mean ± std of the linear-evaluation
//! accuracy over seeds), with the randomly initialised encoders' accuracy beside; and Fig. 1's
//! membership entropy per epoch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::run::EvalResult;

/// A finished image run found on disk.
#[derive(Debug, Clone)]
pub struct FoundImageRun {
    /// Its directory.
    pub dir: PathBuf,
    /// Its `eval.json`.
    pub result: EvalResult,
}

/// Every directory under `dir` (3 levels deep) holding a readable `eval.json`.
pub fn find_image_runs(dir: &Path) -> Vec<FoundImageRun> {
    let mut out = Vec::new();
    walk(dir, 3, &mut out);
    out
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<FoundImageRun>) {
    let eval = dir.join("eval.json");
    if eval.is_file() {
        if let Some(result) = std::fs::read_to_string(&eval)
            .ok()
            .and_then(|t| serde_json::from_str::<EvalResult>(&t).ok())
        {
            out.push(FoundImageRun {
                dir: dir.to_path_buf(),
                result,
            });
        }
        return;
    }
    if depth == 0 {
        return;
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut subdirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        subdirs.sort();
        for s in subdirs {
            walk(&s, depth - 1, out);
        }
    }
}

/// `mean ± std` (sample std; `±` omitted for one value).
fn mean_std(values: &[f64]) -> String {
    let (mean, std) = mean_and_std(values);
    if values.len() < 2 {
        return format!("{mean:.3}");
    }
    format!("{mean:.3} ± {std:.3}")
}

/// Mean and sample standard deviation (0 for fewer than two values) of `values`.
fn mean_and_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// The Table 2 layout as Markdown: one row per (method, heads, setup) in the methods' order
/// (the setup column keeps Table 5's switches and Table 6's tau apart), one column per units
/// value, the trained encoders' accuracy (output features) as mean ± std over
/// seeds (seed count in brackets when they differ), then the same for the backbone features
/// and for the random-init baselines.
pub fn table2_markdown(runs: &[FoundImageRun]) -> String {
    let mut units: Vec<usize> = runs.iter().map(|r| r.result.units).collect();
    units.sort_unstable();
    units.dedup();
    let order = |m: &str| {
        crate::methods::IMAGE_METHODS
            .iter()
            .position(|x| x.name == m)
            .unwrap_or(usize::MAX)
    };
    let mut out = String::new();
    type Pick = fn(&EvalResult) -> Option<f64>;
    let sections: [(&str, Pick); 4] = [
        (
            "Linear evaluation accuracy (model output; atlas methods: argmax head)",
            |r| Some(r.trained.accuracy),
        ),
        ("Linear evaluation accuracy (backbone features)", |r| {
            Some(r.trained.backbone_accuracy)
        }),
        (
            "Same-seed randomly initialised encoder (model output)",
            |r| r.random_init.map(|e| e.accuracy),
        ),
        (
            "Same-seed randomly initialised encoder (backbone features)",
            |r| r.random_init.map(|e| e.backbone_accuracy),
        ),
    ];
    for (title, pick) in sections {
        type Row = (usize, String, usize, String);
        let mut cells: BTreeMap<Row, BTreeMap<usize, Vec<f64>>> = BTreeMap::new();
        for r in runs {
            if let Some(v) = pick(&r.result) {
                cells
                    .entry((
                        order(&r.result.method),
                        r.result.method.clone(),
                        r.result.heads,
                        r.result.setup.clone(),
                    ))
                    .or_default()
                    .entry(r.result.units)
                    .or_default()
                    .push(v);
            }
        }
        if cells.is_empty() {
            continue;
        }
        out.push_str(&format!("### {title}\n\n| method | heads | setup |"));
        for u in &units {
            out.push_str(&format!(" {u} |"));
        }
        out.push_str("\n|---|---:|---|");
        for _ in &units {
            out.push_str("---:|");
        }
        out.push('\n');
        for ((_, method, heads, setup), by_units) in &cells {
            let heads = if *heads == 1 {
                "-".to_string()
            } else {
                heads.to_string()
            };
            out.push_str(&format!("| {method} | {heads} | {setup} |"));
            for u in &units {
                match by_units.get(u) {
                    Some(v) => out.push_str(&format!(" {} ({}) |", mean_std(v), v.len())),
                    None => out.push_str(" |"),
                }
            }
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// Mean ± std (over seeds) of the membership entropy per epoch of one method and layout.
#[derive(Debug, Clone, PartialEq)]
pub struct EntropyPerEpoch {
    /// `method (nxd)`.
    pub label: String,
    /// Charts `n`.
    pub heads: usize,
    /// Runs aggregated.
    pub runs: usize,
    /// `(epoch, mean, std)`, epochs every run has.
    pub epochs: Vec<(f64, f64, f64)>,
}

/// The paper's Fig. 1 data: for every multi-chart (method, layout) among `runs`, the mean
/// membership entropy per epoch from each run's `metrics.jsonl`, aggregated over seeds.
pub fn entropy_per_epoch(runs: &[FoundImageRun]) -> Vec<EntropyPerEpoch> {
    let mut groups: BTreeMap<(String, usize, usize), Vec<Vec<f64>>> = BTreeMap::new();
    for r in runs.iter().filter(|r| r.result.heads > 1) {
        let Ok(text) = std::fs::read_to_string(r.dir.join("metrics.jsonl")) else {
            continue;
        };
        let curve: Vec<f64> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<crate::run::EpochMetrics>(l).ok())
            .map(|m| m.entropy)
            .collect();
        if !curve.is_empty() {
            groups
                .entry((r.result.method.clone(), r.result.heads, r.result.units))
                .or_default()
                .push(curve);
        }
    }
    groups
        .into_iter()
        .map(|((method, heads, units), curves)| {
            let len = curves.iter().map(Vec::len).min().unwrap_or(0);
            let epochs = (0..len)
                .map(|e| {
                    let v: Vec<f64> = curves.iter().map(|c| c[e]).collect();
                    let (mean, std) = mean_and_std(&v);
                    (e as f64, mean, std)
                })
                .collect();
            EntropyPerEpoch {
                label: format!("{method} ({heads}x{units})"),
                heads,
                runs: curves.len(),
                epochs,
            }
        })
        .collect()
}
