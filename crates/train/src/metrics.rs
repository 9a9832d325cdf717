//! Per-epoch metrics: the record kept in memory and in the checkpoint, and its
//! `metrics.jsonl` line with namespaced keys (`loss/train_total`, `atlas/head_share`, ...).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Mean loss terms over the batches of one pass, named as the method names them
/// ([`dimua_model::MethodDef::loss_terms`]; the first is `total`). Serialised as one JSON
/// object `{"total": .., "<term>": .., ...}` in the method's order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LossMeans {
    /// `(name, mean)` in the method's order.
    pub terms: Vec<(String, f64)>,
}

impl LossMeans {
    /// From per-term sums over `n` batches, named by `names` (same order and length).
    pub fn from_sums(names: &[&str], sums: &[f64], n: usize) -> Self {
        let d = n.max(1) as f64;
        LossMeans {
            terms: names
                .iter()
                .zip(sums)
                .map(|(name, s)| (name.to_string(), s / d))
                .collect(),
        }
    }

    /// The total (the first term; NaN if there is none).
    pub fn total(&self) -> f64 {
        self.terms.first().map_or(f64::NAN, |t| t.1)
    }

    /// The term called `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.terms.iter().find(|t| t.0 == name).map(|t| t.1)
    }

    /// Whether every term is finite.
    pub fn all_finite(&self) -> bool {
        self.terms.iter().all(|t| t.1.is_finite())
    }
}

impl Serialize for LossMeans {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.terms.len()))?;
        for (k, v) in &self.terms {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for LossMeans {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Terms;
        impl<'de> serde::de::Visitor<'de> for Terms {
            type Value = LossMeans;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of named loss terms")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<LossMeans, A::Error> {
                let mut terms = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, f64>()? {
                    terms.push((k, v));
                }
                Ok(LossMeans { terms })
            }
        }
        d.deserialize_map(Terms)
    }
}

/// Everything recorded about one finished epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Epoch index (0-based).
    pub epoch: usize,
    /// Optimiser steps taken so far (end of this epoch).
    pub global_step: u64,
    /// Mean train losses over the epoch's steps.
    pub train: LossMeans,
    /// Mean val losses (`None` if no validation data was available yet while streaming).
    pub val: Option<LossMeans>,
    /// Mean entropy (nats) of the membership over the val frames (0 with one head).
    pub membership_entropy: Option<f64>,
    /// Fraction of val frames whose argmax-membership head is each head.
    pub head_share: Option<Vec<f64>>,
    /// Optimiser steps per second over the epoch's train pass (wall clock).
    pub steps_per_s: f64,
    /// Frames fed through the encoder in training so far (2 per pair).
    pub frames_seen: u64,
    /// tau at the end of the epoch (after warm-up).
    pub tau: f64,
    /// Wall-clock seconds of the epoch (train + val).
    pub epoch_s: f64,
    /// Whether the val loss improved strictly on the best so far.
    pub improved: bool,
    /// The best val loss so far (including this epoch).
    pub best_val_loss: Option<f64>,
    /// Epochs without improvement (early stopping counter).
    pub patience_counter: usize,
    /// Train frames available (in usable episodes) at the end of the epoch.
    pub train_frames: usize,
    /// Val frames available at the end of the epoch.
    pub val_frames: usize,
}

fn losses(map: &mut Map<String, Value>, prefix: &str, names: &[String], l: Option<&LossMeans>) {
    for name in names {
        let v = l
            .and_then(|l| l.get(name))
            .map_or(Value::Null, |x| json!(x));
        map.insert(format!("loss/{prefix}_{name}"), v);
    }
}

impl EpochMetrics {
    /// The `metrics.jsonl` object: `epoch`, `step`, `loss/{train,val}_<term>` for each of
    /// the method's loss terms (`total`, `global_local`, ... for the ST-DIM family), `atlas/membership_entropy`, `atlas/head_share`,
    /// `perf/steps_per_s`, `perf/frames_seen`, `perf/epoch_s`, `hparam/tau`,
    /// `early_stop/{improved,best_val_loss,counter}`, `data/{train,val}_frames`.
    /// Missing values (no val data yet) are `null`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("epoch".into(), json!(self.epoch));
        m.insert("step".into(), json!(self.global_step));
        let names: Vec<String> = self.train.terms.iter().map(|t| t.0.clone()).collect();
        losses(&mut m, "train", &names, Some(&self.train));
        losses(&mut m, "val", &names, self.val.as_ref());
        m.insert(
            "atlas/membership_entropy".into(),
            json!(self.membership_entropy),
        );
        m.insert("atlas/head_share".into(), json!(self.head_share));
        m.insert("perf/steps_per_s".into(), json!(self.steps_per_s));
        m.insert("perf/frames_seen".into(), json!(self.frames_seen));
        m.insert("perf/epoch_s".into(), json!(self.epoch_s));
        m.insert("hparam/tau".into(), json!(self.tau));
        m.insert("early_stop/improved".into(), json!(self.improved));
        m.insert("early_stop/best_val_loss".into(), json!(self.best_val_loss));
        m.insert("early_stop/counter".into(), json!(self.patience_counter));
        m.insert("data/train_frames".into(), json!(self.train_frames));
        m.insert("data/val_frames".into(), json!(self.val_frames));
        Value::Object(m)
    }
}
