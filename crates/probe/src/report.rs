//! Markdown for one `ProbeResult`, and mean ± std tables over many runs laid out like the
//! paper's Table 1 (F1) and Table 4 (accuracy): games as rows, methods as columns, a Mean row.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::error::{ProbeError, Result};
use crate::metrics::ProbeResult;

/// One probing result with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Game key, e.g. `breakout`.
    pub game: String,
    /// Method, e.g. `dim-ua`, `st-dim`, `majority`.
    pub method: String,
    /// Seed of the run.
    pub seed: u64,
    /// Hidden-unit / head layout shown in the column heading, e.g. `4x4096`.
    #[serde(default)]
    pub units: Option<String>,
    /// The result.
    pub result: ProbeResult,
}

/// Mean and population standard deviation (ddof = 0, like `np.std`) over `n` values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    /// Mean.
    pub mean: f64,
    /// Standard deviation; `None` when it is undefined (Mean row without a complete seed).
    pub std: Option<f64>,
    /// Number of values averaged (seeds in a cell, games in the Mean row).
    pub n: usize,
}

impl MeanStd {
    /// Mean and population standard deviation of `xs`; `None` when empty.
    pub fn of(xs: &[f64]) -> Option<Self> {
        if xs.is_empty() {
            return None;
        }
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        Some(MeanStd {
            mean,
            std: Some(var.sqrt()),
            n: xs.len(),
        })
    }

    fn cell(&self) -> String {
        match self.std {
            Some(s) => format!("{:.2} ± {:.2}", self.mean, s),
            None => format!("{:.2}", self.mean),
        }
    }
}

/// One game row of a [`Table`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableRow {
    /// Game key.
    pub game: String,
    /// One cell per column of [`Table::columns`]; `None` where the method has no run.
    pub cells: Vec<Option<MeanStd>>,
}

/// A games × methods table of one metric (across-categories F1 or accuracy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// `across_categories_f1` or `across_categories_acc`.
    pub metric: String,
    /// Column headings: `method` or `method (units)`, in the paper's order: baselines first
    /// (majority, random CNN, ST-DIM), then the atlas ablations (-UA, +MMD), DIM-UA last;
    /// within a method by total hidden units (ST-DIM before ST-DIM*). Unknown methods last.
    pub columns: Vec<String>,
    /// Game rows, alphabetical (as the paper's tables).
    pub rows: Vec<TableRow>,
    /// Mean row: mean over games of the game means; std over seeds of each seed's mean over
    /// games, using the seeds present for every game of that column.
    pub mean: Vec<Option<MeanStd>>,
}

impl Table {
    /// Renders the table as GitHub Markdown (mean ± std, 2 decimals, as in the paper).
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "| game | {} |", self.columns.join(" | "));
        let _ = writeln!(s, "|---|{}", "---:|".repeat(self.columns.len()));
        let fmt = |cells: &[Option<MeanStd>]| -> String {
            cells
                .iter()
                .map(|c| c.map(|m| m.cell()).unwrap_or_else(|| "–".into()))
                .collect::<Vec<_>>()
                .join(" | ")
        };
        for r in &self.rows {
            let _ = writeln!(s, "| {} | {} |", r.game, fmt(&r.cells));
        }
        let _ = writeln!(s, "| **Mean** | {} |", fmt(&self.mean));
        s
    }
}

/// Table 1 (F1) and Table 4 (accuracy) of a set of runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunTables {
    /// Across-categories F1 (paper Table 1).
    pub f1: Table,
    /// Across-categories accuracy (paper Table 4).
    pub acc: Table,
}

impl RunTables {
    /// Both tables as Markdown, with headings.
    pub fn to_markdown(&self) -> String {
        format!(
            "### Probe F1 (across categories), mean ± std over seeds\n\n{}\n### Probe accuracy (across categories), mean ± std over seeds\n\n{}",
            self.f1.to_markdown(),
            self.acc.to_markdown()
        )
    }
}

/// The method name under which `dimua report` lists a supervised run's own label heads (their
/// column follows `supervised`, whose column holds the probes on its frozen features).
pub const OWN_HEADS_COLUMN: &str = "supervised (own heads)";

fn column_of(r: &RunRecord) -> String {
    match &r.units {
        Some(u) if !u.is_empty() => format!("{} ({})", r.method, u),
        _ => r.method.clone(),
    }
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

/// Sort key of a record's column: (method rank, total hidden units). Units read from a
/// `HxU` layout; a column without one sorts first within its method.
fn column_key(r: &RunRecord) -> (usize, u64) {
    // AtariARI's baselines, then the paper's Table 1 (VAE, CPC, ST-DIM, ST-DIM*, DIM-UA) with
    // the ablations of its Figure 5 before DIM-UA, then the supervised upper bound: the probes
    // on its features, then its own heads (`dimua report`'s extra column).
    const ORDER: [&str; 11] = [
        "majority",
        "random-cnn",
        "pixel-pred",
        "vae",
        "cpc",
        "st-dim",
        "minus-ua",
        "plus-mmd",
        "dim-ua",
        "supervised",
        OWN_HEADS_COLUMN,
    ];
    let rank = ORDER
        .iter()
        .position(|m| *m == r.method)
        .unwrap_or(ORDER.len());
    let units = r
        .units
        .as_deref()
        .and_then(|u| {
            let (h, d) = u.split_once('x')?;
            Some(h.trim().parse::<u64>().ok()? * d.trim().parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    (rank, units)
}

fn build_table(
    records: &[RunRecord],
    metric: &str,
    pick: impl Fn(&ProbeResult) -> Option<f64>,
) -> Table {
    let mut games = Vec::new();
    let mut columns = Vec::new();
    for r in records {
        push_unique(&mut games, r.game.clone());
        push_unique(&mut columns, column_of(r));
    }
    games.sort();
    let key_of = |c: &String| {
        records
            .iter()
            .find(|r| column_of(r) == *c)
            .map(column_key)
            .unwrap_or((usize::MAX, 0))
    };
    columns.sort_by_cached_key(|c| (key_of(c), c.clone()));
    // values[game][column] = (seed, value) pairs
    let values = |g: &str, c: &str| -> Vec<(u64, f64)> {
        records
            .iter()
            .filter(|r| r.game == g && column_of(r) == c)
            .filter_map(|r| pick(&r.result).map(|v| (r.seed, v)))
            .collect()
    };
    let rows: Vec<TableRow> = games
        .iter()
        .map(|g| TableRow {
            game: g.clone(),
            cells: columns
                .iter()
                .map(|c| {
                    let v: Vec<f64> = values(g, c).into_iter().map(|(_, x)| x).collect();
                    MeanStd::of(&v)
                })
                .collect(),
        })
        .collect();
    let mean = columns
        .iter()
        .enumerate()
        .map(|(ci, c)| {
            let game_means: Vec<f64> = rows
                .iter()
                .filter_map(|r| r.cells[ci].map(|m| m.mean))
                .collect();
            let mut m = MeanStd::of(&game_means)?;
            let present: Vec<&String> = games.iter().filter(|g| !values(g, c).is_empty()).collect();
            let mut seeds: Vec<u64> = values(present[0], c).iter().map(|(s, _)| *s).collect();
            seeds.sort_unstable();
            seeds.dedup();
            let per_seed: Vec<f64> = seeds
                .iter()
                .filter_map(|s| {
                    let xs: Option<Vec<f64>> = present
                        .iter()
                        .map(|g| {
                            let v: Vec<f64> = values(g, c)
                                .into_iter()
                                .filter(|(seed, _)| seed == s)
                                .map(|(_, x)| x)
                                .collect();
                            MeanStd::of(&v).map(|ms| ms.mean)
                        })
                        .collect();
                    xs.map(|xs| xs.iter().sum::<f64>() / xs.len() as f64)
                })
                .collect();
            m.std = MeanStd::of(&per_seed).and_then(|x| x.std);
            Some(m)
        })
        .collect();
    Table {
        metric: metric.into(),
        columns,
        rows,
        mean,
    }
}

/// Aggregates runs (games × methods × seeds) into Table 1 (F1) and Table 4 (accuracy) of
/// the across-categories headline. Runs whose headline is `None` (no categorised label) are
/// left out of their cell. Errors if `records` is empty.
pub fn aggregate_runs(records: &[RunRecord]) -> Result<RunTables> {
    if records.is_empty() {
        return Err(ProbeError::EmptySplit {
            split: "run records".into(),
        });
    }
    Ok(RunTables {
        f1: build_table(records, "across_categories_f1", |r| r.across_categories_f1),
        acc: build_table(records, "across_categories_acc", |r| {
            r.across_categories_acc
        }),
    })
}

fn opt(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.4}")).unwrap_or_else(|| "–".into())
}

/// One result as Markdown: per-label table (categories, F1, acc, and epochs / best epoch
/// when training facts are present), per-category table, and the headline numbers.
pub fn result_markdown(result: &ProbeResult, title: &str) -> String {
    let mut s = String::new();
    if !title.is_empty() {
        let _ = writeln!(s, "## {title}\n");
    }
    let training = result.training.as_ref();
    if training.is_some() {
        let _ = writeln!(s, "| label | categories | F1 | acc | epochs | best epoch |");
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|");
    } else {
        let _ = writeln!(s, "| label | categories | F1 | acc |");
        let _ = writeln!(s, "|---|---|---:|---:|");
    }
    for (name, sc) in result.per_label.iter() {
        let cats = result
            .label_categories
            .get(name)
            .map(|c| c.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        let _ = write!(s, "| {name} | {cats} | {:.4} | {:.4} |", sc.f1, sc.acc);
        if let Some(t) = training {
            match t.get(name) {
                Some(t) => {
                    let _ = write!(s, " {} | {} |", t.epochs, t.best_epoch);
                }
                None => s.push_str(" – | – |"),
            }
        }
        s.push('\n');
    }
    let _ = writeln!(s, "\n| category | F1 | acc |\n|---|---:|---:|");
    for (cat, sc) in result.per_category.iter() {
        let _ = writeln!(s, "| {cat} | {:.4} | {:.4} |", sc.f1, sc.acc);
    }
    let _ = writeln!(
        s,
        "\n**Across categories: F1 {}, acc {}** (overall over all {} labels: F1 {:.4}, acc {:.4})",
        opt(result.across_categories_f1),
        opt(result.across_categories_acc),
        result.per_label.len(),
        result.overall_f1,
        result.overall_acc
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Score;
    use dimua_core::labels::LabelSpec;

    fn result(f1: f64, acc: f64) -> ProbeResult {
        let specs = vec![LabelSpec::new("player_x", &["agent_localization"]).unwrap()];
        ProbeResult::from_scores(&specs, &[Score { f1, acc }]).unwrap()
    }

    fn rec(game: &str, method: &str, seed: u64, f1: f64) -> RunRecord {
        RunRecord {
            game: game.into(),
            method: method.into(),
            seed,
            units: (method == "dim-ua").then(|| "4x4096".to_string()),
            result: result(f1, f1 + 0.1),
        }
    }

    #[test]
    fn table_mean_std_and_mean_row() {
        let recs = vec![
            rec("pong", "dim-ua", 1, 0.8),
            rec("pong", "dim-ua", 2, 0.6),
            rec("boxing", "dim-ua", 1, 0.4),
            rec("boxing", "dim-ua", 2, 0.2),
            rec("pong", "st-dim", 1, 0.5),
        ];
        let t = aggregate_runs(&recs).unwrap();
        // Paper layout: baselines before DIM-UA, games alphabetical.
        assert_eq!(t.f1.columns, vec!["st-dim", "dim-ua (4x4096)"]);
        assert_eq!(t.f1.rows[0].game, "boxing");
        assert_eq!(t.f1.rows[1].game, "pong");
        // pong dim-ua: mean 0.7, population std 0.1
        let c = t.f1.rows[1].cells[1].unwrap();
        assert!((c.mean - 0.7).abs() < 1e-12 && (c.std.unwrap() - 0.1).abs() < 1e-12);
        // boxing st-dim: no run
        assert!(t.f1.rows[0].cells[0].is_none());
        // Mean row dim-ua: games 0.7 and 0.3 -> 0.5; seeds: s1 (0.8+0.4)/2 = 0.6,
        // s2 (0.6+0.2)/2 = 0.4 -> std 0.1.
        let m = t.f1.mean[1].unwrap();
        assert!((m.mean - 0.5).abs() < 1e-12 && (m.std.unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(m.n, 2);
        // acc table = f1 + 0.1
        assert!((t.acc.mean[1].unwrap().mean - 0.6).abs() < 1e-12);
        let md = t.to_markdown();
        assert!(md.contains("| pong | 0.50 ± 0.00 | 0.70 ± 0.10 |"), "{md}");
        assert!(md.contains("| boxing | – | 0.30 ± 0.10 |"), "{md}");
        assert!(
            md.contains("| **Mean** | 0.50 ± 0.00 | 0.50 ± 0.10 |"),
            "{md}"
        );
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["f1"]["columns"][0], "st-dim");
        assert!(aggregate_runs(&[]).is_err());
    }

    #[test]
    fn columns_follow_the_papers_order_whatever_the_run_order() {
        let with_units = |method: &str, units: &str| RunRecord {
            units: Some(units.to_string()),
            ..rec("pong", method, 1, 0.5)
        };
        let recs = vec![
            with_units("dim-ua", "4x4096"),
            with_units("st-dim", "1x16384"),
            with_units("plus-mmd", "4x512"),
            rec("pong", "majority", 1, 0.1),
            with_units("random-cnn", "1x256"),
            with_units("something-new", "1x8"),
            with_units("st-dim", "1x256"),
            with_units("minus-ua", "4x512"),
        ];
        let t = aggregate_runs(&recs).unwrap();
        assert_eq!(
            t.f1.columns,
            vec![
                "majority",
                "random-cnn (1x256)",
                "st-dim (1x256)",
                "st-dim (1x16384)",
                "minus-ua (4x512)",
                "plus-mmd (4x512)",
                "dim-ua (4x4096)",
                "something-new (1x8)",
            ]
        );
    }

    #[test]
    fn single_result_markdown() {
        let md = result_markdown(&result(0.5, 0.75), "pong / dim-ua");
        assert!(
            md.contains("| player_x | agent_localization | 0.5000 | 0.7500 |"),
            "{md}"
        );
        assert!(md.contains("| agent_localization | 0.5000 | 0.7500 |"));
        assert!(md.contains("**Across categories: F1 0.5000, acc 0.7500**"));
    }
}
