//! Patience-based early stopping, one type for the trainer and the probes: only a strict
//! improvement resets the counter (ties count against patience), as the reference's and
//! AtariARI's `EarlyStopping`; the direction (lower or higher is better) is the type
//! parameter.

use std::fmt::Debug;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

/// Which scores are better: [`LowerIsBetter`] or [`HigherIsBetter`].
pub trait Direction: Debug + Clone + Copy + PartialEq + Default {
    /// Whether `score` strictly improves on `best`.
    fn improves(score: f64, best: f64) -> bool;
}

/// Lower is better (the trainer's val loss): improvement iff `score < best`, so a NaN
/// score never improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LowerIsBetter;

impl Direction for LowerIsBetter {
    fn improves(score: f64, best: f64) -> bool {
        score < best
    }
}

/// Higher is better (the probes' val accuracy): improvement unless `score <= best`, as
/// AtariARI writes it, so a NaN score counts as an improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HigherIsBetter;

impl Direction for HigherIsBetter {
    fn improves(score: f64, best: f64) -> bool {
        !matches!(
            score.partial_cmp(&best),
            Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
        )
    }
}

/// Early-stopping state: the best score, its epoch and the epochs since. The first score
/// is always the best; a score that does not strictly improve on the best bumps
/// `counter`; stop once `counter` reaches the patience.
///
/// Serialised (in the trainer's checkpoints) as
/// `{"best_val_loss": .., "best_epoch": .., "counter": ..}`: the field names the
/// checkpoint format has always used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct EarlyStopping<D: Direction> {
    /// Best score so far (`None` before the first).
    #[serde(rename = "best_val_loss")]
    pub best: Option<f64>,
    /// Epoch of the best score.
    pub best_epoch: Option<usize>,
    /// Epochs since the last improvement.
    pub counter: usize,
    #[serde(skip)]
    direction: PhantomData<D>,
}

impl<D: Direction> Default for EarlyStopping<D> {
    fn default() -> Self {
        EarlyStopping {
            best: None,
            best_epoch: None,
            counter: 0,
            direction: PhantomData,
        }
    }
}

impl<D: Direction> EarlyStopping<D> {
    /// Records epoch `epoch`'s score; true if it is a new best (save the weights).
    pub fn observe(&mut self, epoch: usize, score: f64) -> bool {
        if self.best.is_none_or(|b| D::improves(score, b)) {
            self.best = Some(score);
            self.best_epoch = Some(epoch);
            self.counter = 0;
            true
        } else {
            self.counter += 1;
            false
        }
    }

    /// Whether `patience` epochs in a row brought no improvement.
    pub fn should_stop(&self, patience: usize) -> bool {
        self.counter >= patience
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lower is better; only a strict improvement resets the counter.
    #[test]
    fn lower_is_better_ties_are_not_improvements() {
        let mut e = EarlyStopping::<LowerIsBetter>::default();
        assert!(e.observe(0, 2.0));
        assert!(!e.observe(1, 2.0));
        assert_eq!(e.counter, 1);
        assert!(!e.observe(2, 2.5));
        assert!(e.should_stop(2));
        assert!(e.observe(3, 1.5));
        assert_eq!((e.counter, e.best_epoch, e.best), (0, Some(3), Some(1.5)));
        assert!(!e.observe(4, f64::NAN));
    }

    /// Higher is better (the probes' rule, AtariARI's `score <= best` check).
    #[test]
    fn higher_is_better_ties_are_not_improvements() {
        let mut s = EarlyStopping::<HigherIsBetter>::default();
        assert!(s.observe(0, 0.5));
        assert!(!s.observe(1, 0.5)); // tie -> counter 1
        assert!(!s.should_stop(2));
        assert!(s.observe(2, 0.6)); // reset
        assert!(!s.observe(3, 0.1));
        assert!(!s.observe(4, 0.6)); // counter 2 -> stop
        assert!(s.should_stop(2));
        assert_eq!(s.best_epoch, Some(2));
        assert!(s.observe(5, f64::NAN));
    }

    /// The checkpoint's JSON field names.
    #[test]
    fn serialises_with_the_checkpoint_field_names() {
        let mut e = EarlyStopping::<LowerIsBetter>::default();
        e.observe(3, 1.25);
        e.observe(4, 2.0);
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, r#"{"best_val_loss":1.25,"best_epoch":3,"counter":1}"#);
        let back: EarlyStopping<LowerIsBetter> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
    }
}
