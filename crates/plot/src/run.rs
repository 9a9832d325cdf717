//! Reading a run directory's outputs: `metrics.jsonl` (one JSON object per epoch) and
//! `probe.json`, tolerantly: unknown keys are ignored, missing or null values are skipped.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::PlotError;

/// The numbers of one `metrics.jsonl` line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EpochRow {
    /// `epoch`, or the line's position when the key is missing.
    pub epoch: f64,
    /// Every key whose value is a finite number (`loss/train_total`, `perf/steps_per_s`, ...).
    pub values: BTreeMap<String, f64>,
    /// `atlas/head_share` when it is an array of finite numbers.
    pub head_share: Option<Vec<f64>>,
}

/// All epochs of a run, sorted by epoch; a repeated epoch keeps its last line (a resumed
/// run appends what it redoes).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RunMetrics {
    /// One row per epoch.
    pub rows: Vec<EpochRow>,
}

impl RunMetrics {
    /// `(epoch, value)` for every epoch that has a finite `key`.
    pub(crate) fn series(&self, key: &str) -> Vec<(f64, f64)> {
        self.rows
            .iter()
            .filter_map(|r| r.values.get(key).map(|v| (r.epoch, *v)))
            .collect()
    }
}

/// Reads `path`; `Ok(None)` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>, PlotError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PlotError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Reads `metrics.jsonl`; `Ok(None)` when the file does not exist.
pub(crate) fn read_metrics(path: &Path) -> Result<Option<RunMetrics>, PlotError> {
    read_optional(path)?
        .map(|text| parse_metrics(&text, path))
        .transpose()
}

/// Parses `metrics.jsonl` text. Blank lines are skipped, and so is an unparsable last line
/// without a newline (a line the trainer is still writing); any other bad line is an error.
pub(crate) fn parse_metrics(text: &str, path: &Path) -> Result<RunMetrics, PlotError> {
    let lines: Vec<&str> = text.lines().collect();
    let unterminated_last = !text.is_empty() && !text.ends_with('\n');
    let mut by_epoch: BTreeMap<i64, EpochRow> = BTreeMap::new();
    let mut position = 0usize;
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let is_partial = unterminated_last && i + 1 == lines.len();
        let bad = |reason: String| PlotError::BadMetricsLine {
            path: path.to_path_buf(),
            line: i + 1,
            reason,
        };
        let obj = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(obj)) => obj,
            Ok(other) => {
                return Err(bad(format!(
                    "expected a JSON object, found {}",
                    kind_of(&other)
                )))
            }
            Err(_) if is_partial => continue,
            Err(e) => return Err(bad(format!("not JSON ({e})"))),
        };
        let row = epoch_row(&obj, position as f64);
        position += 1;
        // Epochs are whole numbers; the key keeps the map ordered and deduplicated.
        by_epoch.insert(row.epoch.round() as i64, row);
    }
    Ok(RunMetrics {
        rows: by_epoch.into_values().collect(),
    })
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn finite(v: &Value) -> Option<f64> {
    v.as_f64().filter(|x| x.is_finite())
}

fn epoch_row(obj: &Map<String, Value>, position: f64) -> EpochRow {
    let values: BTreeMap<String, f64> = obj
        .iter()
        .filter_map(|(k, v)| finite(v).map(|x| (k.clone(), x)))
        .collect();
    let epoch = values.get("epoch").copied().unwrap_or(position);
    let head_share = obj
        .get("atlas/head_share")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(finite).collect::<Option<Vec<f64>>>())
        .filter(|a| !a.is_empty());
    EpochRow {
        epoch,
        values,
        head_share,
    }
}

/// What the probe plot needs from `probe.json`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProbeSummary {
    /// `(label, f1)` in file order; labels without a finite F1 are left out.
    pub f1: Vec<(String, f64)>,
    /// First category of each label that has one (`label_categories`).
    pub category: BTreeMap<String, String>,
    /// The headline: mean over categories of the category-mean F1.
    pub across_categories_f1: Option<f64>,
    /// The same for accuracy.
    pub across_categories_acc: Option<f64>,
    /// Mean F1 over all labels.
    pub overall_f1: Option<f64>,
}

/// Reads `probe.json`; `Ok(None)` when the file does not exist.
pub(crate) fn read_probe(path: &Path) -> Result<Option<ProbeSummary>, PlotError> {
    read_optional(path)?
        .map(|text| parse_probe(&text, path))
        .transpose()
}

/// Parses a probe result; only `per_label` is required.
pub(crate) fn parse_probe(text: &str, path: &Path) -> Result<ProbeSummary, PlotError> {
    let bad = |reason: String| PlotError::BadProbe {
        path: path.to_path_buf(),
        reason,
    };
    let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON ({e})")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| bad(format!("expected a JSON object, found {}", kind_of(&v))))?;
    let per_label = obj
        .get("per_label")
        .ok_or_else(|| bad("no \"per_label\" key".into()))?
        .as_object()
        .ok_or_else(|| bad("\"per_label\" is not an object".into()))?;
    let f1 = per_label
        .iter()
        .filter_map(|(name, s)| s.get("f1").and_then(finite).map(|f| (name.clone(), f)))
        .collect();
    let category = obj
        .get("label_categories")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(label, cats)| {
                    let first = cats.as_array()?.first()?.as_str()?;
                    Some((label.clone(), first.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    let num = |k: &str| obj.get(k).and_then(finite);
    Ok(ProbeSummary {
        f1,
        category,
        across_categories_f1: num("across_categories_f1"),
        across_categories_acc: num("across_categories_acc"),
        overall_f1: num("overall_f1"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("metrics.jsonl")
    }

    #[test]
    fn nulls_and_missing_keys_are_skipped() {
        let text = "{\"epoch\":0,\"loss/train_total\":2.0,\"loss/val_total\":null}\n\
                    {\"epoch\":1,\"loss/train_total\":1.5,\"loss/val_total\":1.7,\
                     \"atlas/head_share\":[0.25,0.75]}\n";
        let m = parse_metrics(text, p()).unwrap();
        assert_eq!(m.series("loss/train_total"), vec![(0.0, 2.0), (1.0, 1.5)]);
        assert_eq!(m.series("loss/val_total"), vec![(1.0, 1.7)]);
        assert_eq!(m.rows[0].head_share, None);
        assert_eq!(m.rows[1].head_share, Some(vec![0.25, 0.75]));
    }

    #[test]
    fn repeated_epoch_keeps_the_last_line_and_rows_are_sorted() {
        let text = "{\"epoch\":1,\"x\":1}\n{\"epoch\":0,\"x\":0}\n{\"epoch\":1,\"x\":9}\n";
        let m = parse_metrics(text, p()).unwrap();
        assert_eq!(m.series("x"), vec![(0.0, 0.0), (1.0, 9.0)]);
    }

    #[test]
    fn missing_epoch_key_uses_the_line_position() {
        let m = parse_metrics("{\"x\":3}\n\n{\"x\":4}\n", p()).unwrap();
        assert_eq!(m.series("x"), vec![(0.0, 3.0), (1.0, 4.0)]);
    }

    #[test]
    fn half_written_last_line_is_skipped_but_a_bad_middle_line_is_an_error() {
        let m = parse_metrics("{\"epoch\":0,\"x\":1}\n{\"epoch\":1,\"x\"", p()).unwrap();
        assert_eq!(m.rows.len(), 1);
        let e = parse_metrics("{\"epoch\":0}\n{oops\n{\"epoch\":1}\n", p()).unwrap_err();
        assert!(
            matches!(e, PlotError::BadMetricsLine { line: 2, .. }),
            "{e}"
        );
        let e = parse_metrics("[1,2]\n", p()).unwrap_err();
        assert!(e.to_string().contains("an array"), "{e}");
    }

    #[test]
    fn head_share_with_a_null_is_ignored() {
        let m = parse_metrics("{\"epoch\":0,\"atlas/head_share\":[0.5,null]}\n", p()).unwrap();
        assert_eq!(m.rows[0].head_share, None);
    }

    #[test]
    fn probe_needs_per_label_and_reads_categories() {
        let path = Path::new("probe.json");
        let s = parse_probe(
            r#"{"per_label":{"a":{"f1":0.5,"acc":0.6},"b":{"f1":null}},
                "label_categories":{"a":["agent_localization"]},
                "across_categories_f1":0.5}"#,
            path,
        )
        .unwrap();
        assert_eq!(s.f1, vec![("a".to_string(), 0.5)]);
        assert_eq!(s.category["a"], "agent_localization");
        assert_eq!(s.across_categories_f1, Some(0.5));
        assert_eq!(s.across_categories_acc, None);
        assert!(parse_probe("{}", path).is_err());
        assert!(parse_probe("[]", path).is_err());
        assert!(parse_probe("not json", path).is_err());
    }
}
