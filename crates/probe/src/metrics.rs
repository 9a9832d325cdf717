//! Accuracy, scikit-learn-exact weighted F1, and the AtariARI aggregation (per label, per
//! category, across categories, overall) into the serialisable `ProbeResult`.

use std::collections::BTreeMap;

use dimua_core::labels::{check_unique, Category, LabelSpec};
use serde::{Deserialize, Serialize};

use crate::error::{ProbeError, Result};
use crate::ordered::OrderedMap;

/// F1 and accuracy of one label (or a mean of them).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Weighted F1 (scikit-learn `average='weighted'`).
    pub f1: f64,
    /// Accuracy, mean of `pred == true`.
    pub acc: f64,
}

fn check_pair<T>(y_true: &[T], y_pred: &[T]) -> Result<()> {
    if y_true.len() != y_pred.len() {
        return Err(ProbeError::LengthMismatch {
            what: "y_true vs y_pred".into(),
            left: y_true.len(),
            right: y_pred.len(),
        });
    }
    if y_true.is_empty() {
        return Err(ProbeError::EmptySplit {
            split: "y_true".into(),
        });
    }
    Ok(())
}

/// Fraction of positions where `y_pred == y_true`. Errors on empty or unequal slices.
pub fn accuracy<T: PartialEq>(y_true: &[T], y_pred: &[T]) -> Result<f64> {
    check_pair(y_true, y_pred)?;
    let hits = y_true.iter().zip(y_pred).filter(|(t, p)| t == p).count();
    Ok(hits as f64 / y_true.len() as f64)
}

/// Weighted F1 exactly as `sklearn.metrics.f1_score(y_true, y_pred, average='weighted')`.
///
/// Classes are the sorted union of values in `y_true` and `y_pred`. Per class,
/// F1 = 2·tp / (2·tp + fp + fn) (0 when tp = 0, so a class never predicted scores 0).
/// The average is weighted by true support, so a class that is only predicted has weight 0
/// (those wrong predictions still cost the true classes their recall). 0/0 counts as 0.
/// Errors on empty or unequal slices.
pub fn weighted_f1<T: Copy + Ord>(y_true: &[T], y_pred: &[T]) -> Result<f64> {
    check_pair(y_true, y_pred)?;
    // class -> (tp, true support, predicted count); BTreeMap gives sklearn's sorted order.
    let mut counts: BTreeMap<T, (u64, u64, u64)> = BTreeMap::new();
    for (&t, &p) in y_true.iter().zip(y_pred) {
        counts.entry(t).or_default().1 += 1;
        counts.entry(p).or_default().2 += 1;
        if t == p {
            counts.entry(t).or_default().0 += 1;
        }
    }
    let mut num = 0.0f64;
    let mut den = 0.0f64;
    for &(tp, n_true, n_pred) in counts.values() {
        let fp = n_pred - tp;
        let fneg = n_true - tp;
        let denom = 2 * tp + fp + fneg;
        let f1 = if denom == 0 {
            0.0
        } else {
            (2 * tp) as f64 / denom as f64
        };
        num += f1 * n_true as f64;
        den += n_true as f64;
    }
    Ok(if den > 0.0 { num / den } else { 0.0 })
}

/// `Score` (weighted F1 and accuracy) of one label's predictions.
pub fn score<T: Copy + Ord>(y_true: &[T], y_pred: &[T]) -> Result<Score> {
    Ok(Score {
        f1: weighted_f1(y_true, y_pred)?,
        acc: accuracy(y_true, y_pred)?,
    })
}

/// Training facts of one probe, reported next to its scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelTraining {
    /// Epochs this probe was trained for (it stops early when its val accuracy stalls).
    pub epochs: usize,
    /// 0-based epoch with the best val accuracy (the weights restored when `restore_best`).
    pub best_epoch: usize,
    /// Best val accuracy seen.
    pub best_val_acc: f64,
    /// Val accuracy after the last trained epoch.
    pub last_val_acc: f64,
    /// Mean train cross-entropy over the last trained epoch.
    pub last_train_loss: f64,
    /// Learning rate at the end (after plateau decays).
    pub final_lr: f64,
    /// Whether early stopping fired (false: ran out of epochs).
    pub early_stopped: bool,
}

/// The probe (or majority baseline) outcome of one run, in AtariARI's aggregation.
///
/// JSON shape: `{"per_label": {name: {"f1", "acc"}}, "per_category": {cat: {"f1", "acc"}},
/// "across_categories_f1", "across_categories_acc", "overall_f1", "overall_acc"}` plus the
/// optional extras `label_categories`, `training`, `n_test`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// Test scores per label, in label order.
    pub per_label: OrderedMap<Score>,
    /// Mean score per summary category that has at least one label (canonical order).
    /// A label in two categories counts in both; a label in none counts in neither.
    pub per_category: OrderedMap<Score>,
    /// Mean of the category means: the headline number ("mean F1 averaged over categories").
    /// `None` (JSON null) when no label has a category.
    pub across_categories_f1: Option<f64>,
    /// Mean of the category accuracy means; `None` when no label has a category.
    pub across_categories_acc: Option<f64>,
    /// Mean F1 over all labels, uncategorised ones included.
    pub overall_f1: f64,
    /// Mean accuracy over all labels.
    pub overall_acc: f64,
    /// Categories of every label (so a result can be reported on its own).
    #[serde(default, skip_serializing_if = "OrderedMap::is_empty")]
    pub label_categories: OrderedMap<Vec<Category>>,
    /// Per-probe training facts (absent for the majority baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<OrderedMap<LabelTraining>>,
    /// Number of test frames scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_test: Option<usize>,
}

fn mean(xs: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| sum / n as f64)
}

impl ProbeResult {
    /// Aggregates per-label scores (`scores[i]` belongs to `specs[i]`) the AtariARI way.
    pub fn from_scores(specs: &[LabelSpec], scores: &[Score]) -> Result<Self> {
        if specs.len() != scores.len() {
            return Err(ProbeError::LabelCountMismatch {
                split: "scores".into(),
                expected: specs.len(),
                found: scores.len(),
            });
        }
        if specs.is_empty() {
            return Err(ProbeError::NoLabels {
                action: "aggregate".into(),
            });
        }
        check_unique(specs)?;
        let per_label: OrderedMap<Score> = specs
            .iter()
            .zip(scores)
            .map(|(s, sc)| (s.name.clone(), *sc))
            .collect();
        let mut per_category = OrderedMap::new();
        for cat in Category::ALL {
            let members: Vec<&Score> = specs
                .iter()
                .zip(scores)
                .filter(|(s, _)| s.categories.contains(&cat))
                .map(|(_, sc)| sc)
                .collect();
            if let (Some(f1), Some(acc)) = (
                mean(members.iter().map(|s| s.f1)),
                mean(members.iter().map(|s| s.acc)),
            ) {
                per_category.insert(cat.as_str(), Score { f1, acc });
            }
        }
        let across_categories_f1 = mean(per_category.iter().map(|(_, s)| s.f1));
        let across_categories_acc = mean(per_category.iter().map(|(_, s)| s.acc));
        Ok(ProbeResult {
            overall_f1: mean(scores.iter().map(|s| s.f1)).unwrap_or(f64::NAN),
            overall_acc: mean(scores.iter().map(|s| s.acc)).unwrap_or(f64::NAN),
            per_label,
            per_category,
            across_categories_f1,
            across_categories_acc,
            label_categories: specs
                .iter()
                .map(|s| (s.name.clone(), s.categories.clone()))
                .collect(),
            training: None,
            n_test: None,
        })
    }

    /// Scores row-major `[N, K]` truth/prediction buffers (K = `specs.len()`) and aggregates.
    pub fn from_predictions<T: Copy + Ord>(
        specs: &[LabelSpec],
        y_true: &[T],
        y_pred: &[T],
    ) -> Result<Self> {
        let k = specs.len();
        if k == 0 {
            return Err(ProbeError::NoLabels {
                action: "score".into(),
            });
        }
        check_pair(y_true, y_pred)?;
        if !y_true.len().is_multiple_of(k) {
            return Err(ProbeError::LengthMismatch {
                what: format!("row-major [N, K={k}] label buffer (length not a multiple of K)"),
                left: y_true.len(),
                right: k,
            });
        }
        let n = y_true.len() / k;
        let mut scores = Vec::with_capacity(k);
        let mut t_col = Vec::with_capacity(n);
        let mut p_col = Vec::with_capacity(n);
        for j in 0..k {
            t_col.clear();
            p_col.clear();
            t_col.extend(y_true.iter().skip(j).step_by(k).copied());
            p_col.extend(y_pred.iter().skip(j).step_by(k).copied());
            scores.push(score(&t_col, &p_col)?);
        }
        let mut r = ProbeResult::from_scores(specs, &scores)?;
        r.n_test = Some(n);
        Ok(r)
    }

    /// The score of one label, or `LabelMissing`.
    pub fn label(&self, name: &str) -> Result<Score> {
        self.per_label
            .get(name)
            .copied()
            .ok_or_else(|| ProbeError::LabelMissing {
                name: name.to_string(),
                context: "ProbeResult.per_label".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    #[test]
    fn perfect_single_class() {
        // One class, all right: sklearn gives F1 = 1.0 ('weighted' has no binary special case).
        let y = [7u8; 5];
        close(weighted_f1(&y, &y).unwrap(), 1.0);
        close(accuracy(&y, &y).unwrap(), 1.0);
    }

    #[test]
    fn single_true_class_with_wrong_predictions() {
        // y_true = [1,1,1,1], y_pred = [1,1,2,2].
        // class 1: tp 2, fp 0, fn 2 -> F1 = 4/(4+0+2) = 2/3, support 4.
        // class 2: only predicted -> support 0, weight 0.
        // weighted F1 = 2/3; accuracy = 2/4.
        let t = [1i64, 1, 1, 1];
        let p = [1i64, 1, 2, 2];
        close(weighted_f1(&t, &p).unwrap(), 2.0 / 3.0);
        close(accuracy(&t, &p).unwrap(), 0.5);
    }

    #[test]
    fn never_predicted_and_predicted_only_classes() {
        // y_true = [0,0,1,1,2,2], y_pred = [0,0,1,0,3,3]
        // class 0: tp 2, fp 1 (the true 1), fn 0 -> F1 = 4/(4+1+0) = 0.8, support 2
        // class 1: tp 1, fp 0, fn 1 -> F1 = 2/(2+0+1) = 2/3, support 2
        // class 2: never predicted: tp 0 -> F1 = 0, support 2
        // class 3: predicted only: support 0 -> weight 0
        // weighted = (2*0.8 + 2*2/3 + 2*0) / 6 = (1.6 + 4/3) / 6 = 0.4888...
        // (sklearn.metrics.f1_score(..., average='weighted') gives 0.48888888888888893)
        let t = [0u8, 0, 1, 1, 2, 2];
        let p = [0u8, 0, 1, 0, 3, 3];
        close(weighted_f1(&t, &p).unwrap(), (1.6 + 4.0 / 3.0) / 6.0);
        close(accuracy(&t, &p).unwrap(), 3.0 / 6.0);
    }

    #[test]
    fn matches_recorded_sklearn_outputs() {
        // Recorded facts: scikit-learn 1.9.1, f1_score(t, p, average='weighted') and
        // accuracy_score(t, p), on cases drawn with numpy RandomState(0).
        let zeros30 = [0u8; 30];
        let p30 = [
            0u8, 17, 0, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 17, 17, 0, 0, 0, 17, 0, 0, 17, 17, 17, 0,
            17, 0, 0, 17, 17,
        ];
        let zeros20 = [0u8; 20];
        let p20 = [
            17u8, 0, 17, 0, 0, 17, 0, 0, 17, 0, 0, 0, 0, 17, 17, 0, 0, 0, 0, 17,
        ];
        let cases: [(&[u8], &[u8], f64, f64); 4] = [
            (
                &[51, 51, 17, 51, 17],
                &[34, 51, 51, 34, 0],
                0.24000000000000005,
                0.2,
            ),
            (&zeros30, &p30, 0.7755102040816326, 0.6333333333333333),
            (&zeros20, &p20, 0.7878787878787878, 0.65),
            (
                &[51, 0, 0, 0, 17],
                &[34, 0, 0, 34, 34],
                0.4800000000000001,
                0.4,
            ),
        ];
        for (t, p, f1, acc) in cases {
            close(weighted_f1(t, p).unwrap(), f1);
            close(accuracy(t, p).unwrap(), acc);
        }
    }

    #[test]
    fn all_wrong_is_zero() {
        // Every class has tp = 0 -> all F1 = 0.
        let t = [1u8, 2, 3];
        let p = [2u8, 3, 1];
        close(weighted_f1(&t, &p).unwrap(), 0.0);
    }

    #[test]
    fn errors_on_empty_and_mismatch() {
        let e: [u8; 0] = [];
        assert!(matches!(
            weighted_f1(&e, &e),
            Err(ProbeError::EmptySplit { .. })
        ));
        assert!(matches!(
            accuracy(&[1u8], &[1u8, 2]),
            Err(ProbeError::LengthMismatch { .. })
        ));
    }

    fn spec(name: &str, cats: &[&str]) -> LabelSpec {
        LabelSpec::new(name, cats).unwrap()
    }

    #[test]
    fn category_averaging_two_categories_and_none() {
        let specs = vec![
            spec("player_x", &["agent_localization"]),
            spec("player_y", &["agent_localization"]),
            spec(
                "num_lives_direction",
                &["score_clock_lives_display", "misc_keys"],
            ),
            spec("score", &["score_clock_lives_display"]),
            spec("tile_color_0", &[]),
        ];
        let scores = [
            Score { f1: 0.9, acc: 1.0 },
            Score { f1: 0.7, acc: 0.8 },
            Score { f1: 0.4, acc: 0.6 },
            Score { f1: 0.2, acc: 0.2 },
            Score { f1: 0.0, acc: 0.4 },
        ];
        let r = ProbeResult::from_scores(&specs, &scores).unwrap();
        // agent = mean(0.9, 0.7) = 0.8 (acc 0.9); display = mean(0.4, 0.2) = 0.3 (acc 0.4);
        // misc = 0.4 (acc 0.6) from num_lives_direction alone; small/other: no labels -> skipped.
        let keys: Vec<&str> = r.per_category.keys().collect();
        assert_eq!(
            keys,
            [
                "agent_localization",
                "score_clock_lives_display",
                "misc_keys"
            ]
        );
        close(r.per_category.get("agent_localization").unwrap().f1, 0.8);
        close(
            r.per_category.get("score_clock_lives_display").unwrap().f1,
            0.3,
        );
        close(r.per_category.get("misc_keys").unwrap().acc, 0.6);
        // across = mean(0.8, 0.3, 0.4) = 0.5; acc mean(0.9, 0.4, 0.6) = 19/30.
        close(r.across_categories_f1.unwrap(), 0.5);
        close(r.across_categories_acc.unwrap(), 1.9 / 3.0);
        // overall includes tile_color_0: mean(0.9,0.7,0.4,0.2,0.0) = 0.44; acc 3.0/5 = 0.6.
        close(r.overall_f1, 0.44);
        close(r.overall_acc, 0.6);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["per_label"]["player_x"]["f1"], 0.9);
        assert_eq!(json["across_categories_f1"], 0.5);
        for key in [
            "per_label",
            "per_category",
            "across_categories_f1",
            "across_categories_acc",
            "overall_f1",
            "overall_acc",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        // Through text (a `serde_json::Value` map would sort the keys), order is kept.
        let back: ProbeResult = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn no_categories_gives_null_headline() {
        let specs = vec![spec("angle_of_tank", &[])];
        let r = ProbeResult::from_scores(&specs, &[Score { f1: 0.5, acc: 0.5 }]).unwrap();
        assert!(r.per_category.is_empty());
        assert_eq!(r.across_categories_f1, None);
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["across_categories_f1"].is_null());
    }

    #[test]
    fn from_predictions_row_major() {
        // 3 frames x 2 labels, row-major: label a = [1,2,3] vs [1,2,0]; label b all right.
        let specs = vec![spec("a", &["misc_keys"]), spec("b", &[])];
        let t = [1i64, 5, 2, 5, 3, 5];
        let p = [1i64, 5, 2, 5, 0, 5];
        let r = ProbeResult::from_predictions(&specs, &t, &p).unwrap();
        close(r.label("a").unwrap().acc, 2.0 / 3.0);
        // a: classes 0(pred only),1,2,3(never predicted) -> (1+1+0)/3
        close(r.label("a").unwrap().f1, 2.0 / 3.0);
        close(r.label("b").unwrap().f1, 1.0);
        assert_eq!(r.n_test, Some(3));
        assert!(matches!(
            r.label("zzz"),
            Err(ProbeError::LabelMissing { .. })
        ));
    }
}
