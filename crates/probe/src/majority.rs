//! The majority-class baseline: per label, the most frequent train value, predicted for
//! every test frame, scored and aggregated like the probes.

use std::collections::HashMap;
use std::hash::Hash;

use dimua_core::labels::LabelSpec;
use tch::{Kind, Tensor};

use crate::error::{ProbeError, Result};
use crate::metrics::ProbeResult;

/// Most frequent value of every column of a **row-major** `[N, K]` buffer; ties go to the
/// value encountered first (Python `Counter.most_common` order, as in AtariARI).
pub fn majority_values<T: Copy + Eq + Hash>(labels: &[T], n_labels: usize) -> Result<Vec<T>> {
    if n_labels == 0 {
        return Err(ProbeError::NoLabels {
            action: "take the majority of".into(),
        });
    }
    if labels.is_empty() {
        return Err(ProbeError::EmptySplit {
            split: "train".into(),
        });
    }
    if !labels.len().is_multiple_of(n_labels) {
        return Err(ProbeError::LengthMismatch {
            what: format!("row-major [N, K={n_labels}] label buffer (length not a multiple of K)"),
            left: labels.len(),
            right: n_labels,
        });
    }
    let mut counts: Vec<HashMap<T, (usize, usize)>> = vec![HashMap::new(); n_labels];
    for (row, frame) in labels.chunks_exact(n_labels).enumerate() {
        for (c, &v) in counts.iter_mut().zip(frame) {
            c.entry(v).or_insert((0, row)).0 += 1;
        }
    }
    Ok(counts
        .into_iter()
        .map(|c| {
            // max count, then earliest first occurrence; a column is never empty here.
            c.into_iter()
                .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(b.1 .1.cmp(&a.1 .1)))
                .map(|(v, _)| v)
        })
        .collect::<Option<Vec<T>>>()
        .unwrap_or_default())
}

fn labels_to_vec(t: &Tensor, split: &str, k: usize) -> Result<Vec<i64>> {
    let ok_kind = matches!(
        t.kind(),
        Kind::Uint8 | Kind::Int8 | Kind::Int16 | Kind::Int | Kind::Int64
    );
    if t.dim() != 2 || !ok_kind {
        return Err(ProbeError::BadTensor {
            what: format!("{split} labels"),
            expected: "a 2-D integer tensor [N, K]".into(),
            shape: t.size(),
            kind: format!("{:?}", t.kind()),
        });
    }
    let (n, kk) = (t.size()[0] as usize, t.size()[1] as usize);
    if kk != k {
        return Err(ProbeError::LabelCountMismatch {
            split: split.into(),
            expected: k,
            found: kk,
        });
    }
    if n == 0 {
        return Err(ProbeError::EmptySplit {
            split: split.into(),
        });
    }
    Ok(Vec::<i64>::try_from(
        &t.f_to_kind(Kind::Int64)?.f_contiguous()?.f_reshape([-1])?,
    )?)
}

/// AtariARI's majority baseline on label tensors `[N, K]` (u8 or any integer kind): the
/// per-label majority over **all** train frames, predicted for every test frame, scored
/// with weighted F1/accuracy and aggregated per category like the probes.
pub fn majority_baseline(
    train_labels: &Tensor,
    test_labels: &Tensor,
    specs: &[LabelSpec],
) -> Result<ProbeResult> {
    let k = specs.len();
    if k == 0 {
        return Err(ProbeError::NoLabels {
            action: "score the majority baseline of".into(),
        });
    }
    let train = labels_to_vec(train_labels, "train", k)?;
    let test = labels_to_vec(test_labels, "test", k)?;
    let maj = majority_values(&train, k)?;
    let pred: Vec<i64> = (0..test.len()).map(|i| maj[i % k]).collect();
    ProbeResult::from_predictions(specs, &test, &pred)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_go_to_first_encountered() {
        // 6 frames x 2 labels, row-major.
        // label 0: [3,5,5,3,9,9]: 3,5,9 all twice -> 3 (seen first, row 0).
        // label 1: [1,2,2,7,7,7]: 7 three times -> 7.
        let rows = [3u8, 1, 5, 2, 5, 2, 3, 7, 9, 7, 9, 7];
        assert_eq!(majority_values(&rows, 2).unwrap(), vec![3, 7]);
        // [4,2,2,4]: tie 4 (row 0) vs 2 (row 1) -> 4.
        assert_eq!(majority_values(&[4i64, 2, 2, 4], 1).unwrap(), vec![4]);
    }

    #[test]
    fn baseline_scores_constant_prediction() {
        let specs = vec![
            LabelSpec::new("a", &["misc_keys"]).unwrap(),
            LabelSpec::new("b", &["agent_localization"]).unwrap(),
        ];
        // train: a = [1,1,2] -> 1; b = [0,5,5] -> 5.
        let train = Tensor::from_slice(&[1u8, 0, 1, 5, 2, 5]).view([3, 2]);
        // test: a = [1,2], b = [5,5].
        let test = Tensor::from_slice(&[1u8, 5, 2, 5]).view([2, 2]);
        let r = majority_baseline(&train, &test, &specs).unwrap();
        // a: pred [1,1] vs [1,2]: acc 0.5; class 1 F1 = 2/(2+1) = 2/3 (support 1),
        //    class 2 never predicted F1 0 (support 1) -> weighted 1/3.
        let a = r.label("a").unwrap();
        assert!((a.acc - 0.5).abs() < 1e-12);
        assert!((a.f1 - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.label("b").unwrap().f1, 1.0);
        assert!((r.across_categories_f1.unwrap() - (1.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        let bad = Tensor::from_slice(&[1u8, 5, 2]).view([1, 3]);
        assert!(matches!(
            majority_baseline(&train, &bad, &specs),
            Err(ProbeError::LabelCountMismatch { .. })
        ));
    }
}
