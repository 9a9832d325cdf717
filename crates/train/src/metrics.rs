//! Per-epoch metrics: the record kept in memory and in the checkpoint, and its
//! `metrics.jsonl` line with namespaced keys (`loss/train_total`, `atlas/head_share`, ...).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Mean loss terms over the batches of one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LossMeans {
    /// `L1 + L2 + tau L_Q (+ MMD)`.
    pub total: f64,
    /// `L1`, global-local InfoNCE.
    pub global_local: f64,
    /// `L2`, local-local InfoNCE.
    pub local_local: f64,
    /// `L_Q` (without the tau factor; 0 when unused).
    pub membership: f64,
    /// The MMD term (0 when unused).
    pub mmd: f64,
}

impl LossMeans {
    /// From `[total, global_local, local_local, membership, mmd]` sums over `n` batches.
    pub fn from_sums(sums: [f64; 5], n: usize) -> Self {
        let d = n.max(1) as f64;
        LossMeans {
            total: sums[0] / d,
            global_local: sums[1] / d,
            local_local: sums[2] / d,
            membership: sums[3] / d,
            mmd: sums[4] / d,
        }
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

fn losses(map: &mut Map<String, Value>, prefix: &str, l: Option<&LossMeans>) {
    let v = |x: Option<f64>| x.map_or(Value::Null, |x| json!(x));
    map.insert(format!("loss/{prefix}_total"), v(l.map(|l| l.total)));
    map.insert(
        format!("loss/{prefix}_global_local"),
        v(l.map(|l| l.global_local)),
    );
    map.insert(
        format!("loss/{prefix}_local_local"),
        v(l.map(|l| l.local_local)),
    );
    map.insert(
        format!("loss/{prefix}_membership"),
        v(l.map(|l| l.membership)),
    );
    map.insert(format!("loss/{prefix}_mmd"), v(l.map(|l| l.mmd)));
}

impl EpochMetrics {
    /// The `metrics.jsonl` object: `epoch`, `step`, `loss/{train,val}_{total,global_local,
    /// local_local,membership,mmd}`, `atlas/membership_entropy`, `atlas/head_share`,
    /// `perf/steps_per_s`, `perf/frames_seen`, `perf/epoch_s`, `hparam/tau`,
    /// `early_stop/{improved,best_val_loss,counter}`, `data/{train,val}_frames`.
    /// Missing values (no val data yet) are `null`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("epoch".into(), json!(self.epoch));
        m.insert("step".into(), json!(self.global_step));
        losses(&mut m, "train", Some(&self.train));
        losses(&mut m, "val", self.val.as_ref());
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
