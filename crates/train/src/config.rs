//! [`TrainConfig`]: every knob of a pretraining run, with the reference's defaults
//! (PROTOCOL.md sections 4, 5, 7), and its validation.

use dimua_model::{EncoderSpec, FrameShape, Method, Precision};
use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// Configuration of one pretraining run. Serialisable (TOML/JSON); unknown fields are
/// rejected. Derived sizes (steps per epoch, device) are resolved into a separate plan
/// and never written back here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Method: `st-dim`, `dim-ua`, `minus-ua`, `plus-mmd` or `random-cnn`.
    pub method: Method,
    /// Atlas heads `n` (1 for st-dim).
    pub heads: usize,
    /// Units per head `d` (the probe sees `d` features).
    pub units: usize,
    /// Weight of `L_Q` in the total loss (0.1 in the paper and the reference code).
    pub tau: f64,
    /// Linear warm-up of tau from 0 over this many optimiser steps (0 = none, the reference).
    pub tau_warmup_steps: u64,
    /// `vae` only: weight of the KL term (1, AtariARI's `--beta` default; below 1 a
    /// beta-VAE that pulls the posterior towards the prior less).
    pub vae_beta: f64,
    /// Adam learning rate (3e-4).
    pub lr: f64,
    /// Adam epsilon (1e-5).
    pub adam_eps: f64,
    /// Pairs per batch (64; also the number of in-batch negatives + 1).
    pub batch_size: usize,
    /// Maximum number of epochs (100).
    pub max_epochs: usize,
    /// Early-stopping patience in epochs without a strict val-loss improvement (15).
    pub patience: usize,
    /// Optimiser steps per epoch; default `floor(train frames / batch_size)` as in the
    /// reference (with a closed store: the train frames present; streaming: see
    /// `target_train_frames`).
    pub steps_per_epoch: Option<usize>,
    /// Streaming only: the number of train frames the run will have once collection is
    /// done (sets steps per epoch). Default: the store capacity times the train share of
    /// its split rule.
    pub target_train_frames: Option<usize>,
    /// Validation batches per epoch; default `max(1, floor(val frames / batch_size))`.
    pub val_steps: Option<usize>,
    /// Episodes shorter than this are not used (65: the reference keeps `len > 64`).
    pub min_episode_len: usize,
    /// Seed of everything random in the run (init, sampling, MMD prior).
    pub seed: u64,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// Export the last epoch's weights (the reference's behaviour) instead of the best
    /// validation epoch's (the default here; a documented deviation).
    pub last_weights: bool,
    /// Game name recorded in `encoder.json`.
    pub game: Option<String>,
    /// Streaming only: take the first step once the collection is complete (the store
    /// closed), so every batch comes from the canonically ordered data and the run is
    /// bit-reproducible. Off: training starts as soon as one batch of pairs exists, and which
    /// episodes the first steps see depends on the collectors' timing.
    pub wait_for_collection: bool,
    /// Compute precision of the training steps: `fp32` (default) or `bf16` (bf16
    /// convolutions and matrix products; fp32 master weights, Adam state and reductions).
    pub precision: Precision,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig::for_method(Method::DimUa)
    }
}

impl TrainConfig {
    /// Defaults for `method`: its own default architecture (`st-dim` and `random-cnn`
    /// 1 x 256, the atlas methods 4 x 512: the reference README's recipes); everything else
    /// as the reference.
    pub fn for_method(method: Method) -> Self {
        let (heads, units) = method.default_architecture();
        TrainConfig {
            method,
            heads,
            units,
            tau: 0.1,
            tau_warmup_steps: 0,
            vae_beta: dimua_model::methods::vae::BETA,
            lr: 3e-4,
            adam_eps: 1e-5,
            batch_size: 64,
            max_epochs: 100,
            patience: 15,
            steps_per_epoch: None,
            target_train_frames: None,
            val_steps: None,
            min_episode_len: 65,
            seed: 42,
            device: "auto".to_string(),
            last_weights: false,
            game: None,
            wait_for_collection: false,
            precision: Precision::Fp32,
        }
    }

    /// Checks every field; returns the encoder architecture for `frame`.
    pub fn validate(&self, frame: FrameShape) -> Result<EncoderSpec, TrainError> {
        self.check()?;
        Ok(EncoderSpec::new(frame, self.heads, self.units)?)
    }

    /// Checks every field that does not need the frame shape (all but the architecture's fit
    /// to the frame): what a run plan checks before anything is written.
    pub fn check(&self) -> Result<(), TrainError> {
        let bad = |field: &'static str, reason: String| Err(TrainError::Config { field, reason });
        self.method.validate_architecture(self.heads, self.units)?;
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", format!("must be a positive number (got {})", self.lr));
        }
        if !(self.adam_eps.is_finite() && self.adam_eps > 0.0) {
            return bad(
                "adam_eps",
                format!("must be a positive number (got {})", self.adam_eps),
            );
        }
        if !(self.tau.is_finite() && self.tau >= 0.0) {
            return bad("tau", format!("must be >= 0 (got {})", self.tau));
        }
        if !(self.vae_beta.is_finite() && self.vae_beta >= 0.0) {
            return bad(
                "vae_beta",
                format!("must be a number >= 0 (got {})", self.vae_beta),
            );
        }
        if self.batch_size < 2 {
            return bad(
                "batch_size",
                format!(
                    "must be at least 2 for in-batch negatives (got {})",
                    self.batch_size
                ),
            );
        }
        if self.max_epochs == 0 && self.method.trains() {
            return bad("max_epochs", "must be at least 1".into());
        }
        if self.patience == 0 {
            return bad("patience", "must be at least 1".into());
        }
        if self.steps_per_epoch == Some(0) {
            return bad("steps_per_epoch", "must be at least 1".into());
        }
        if self.val_steps == Some(0) {
            return bad("val_steps", "must be at least 1".into());
        }
        if self.min_episode_len < 2 {
            return bad(
                "min_episode_len",
                format!(
                    "must be at least 2 to form pairs (got {})",
                    self.min_episode_len
                ),
            );
        }
        dimua_model::parse_device(&self.device)?;
        Ok(())
    }

    /// The fields whose values differ from `other`'s, as `(name, self, other)` (for resume
    /// checks). `device` is compared too.
    pub fn differences(&self, other: &TrainConfig) -> Vec<(String, String, String)> {
        let a = serde_json::to_value(self).unwrap_or_default();
        let b = serde_json::to_value(other).unwrap_or_default();
        let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
            return vec![];
        };
        a.iter()
            .filter(|(k, v)| b.get(*k) != Some(*v))
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.to_string(),
                    b.get(k).map(|x| x.to_string()).unwrap_or_default(),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_reference() {
        let c = TrainConfig::default();
        assert_eq!(
            (c.lr, c.adam_eps, c.batch_size, c.max_epochs, c.patience),
            (3e-4, 1e-5, 64, 100, 15)
        );
        assert_eq!(c.tau, 0.1);
        assert_eq!(c.vae_beta, 1.0);
        assert_eq!(TrainConfig::for_method(Method::StDim).units, 256);
        c.validate(FrameShape::ATARI_GRAY).unwrap();
    }

    #[test]
    fn bad_values_are_rejected() {
        let f = FrameShape::ATARI_GRAY;
        let mut c = TrainConfig {
            heads: 0,
            ..Default::default()
        };
        assert!(c.validate(f).is_err());
        c = TrainConfig {
            units: 0,
            ..Default::default()
        };
        assert!(c.validate(f).is_err());
        c = TrainConfig {
            batch_size: 1,
            ..Default::default()
        };
        assert!(matches!(
            c.validate(f),
            Err(TrainError::Config {
                field: "batch_size",
                ..
            })
        ));
        c = TrainConfig {
            device: "tpu".into(),
            ..Default::default()
        };
        assert!(c.validate(f).is_err());
        c = TrainConfig {
            lr: f64::NAN,
            ..Default::default()
        };
        assert!(c.validate(f).is_err());
        for beta in [-0.5, f64::NAN, f64::INFINITY] {
            c = TrainConfig {
                vae_beta: beta,
                ..TrainConfig::for_method("vae".parse().unwrap())
            };
            assert!(matches!(
                c.validate(f),
                Err(TrainError::Config {
                    field: "vae_beta",
                    ..
                })
            ));
        }
    }

    #[test]
    fn serde_round_trip_and_differences() {
        let c = TrainConfig::for_method(Method::PlusMmd);
        let json = serde_json::to_string(&c).unwrap();
        let back: TrainConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        let d = TrainConfig {
            seed: 7,
            ..c.clone()
        };
        let diff = c.differences(&d);
        assert_eq!(diff.len(), 1);
        assert_eq!(diff[0].0, "seed");
        assert!(serde_json::from_str::<TrainConfig>(r#"{"metod": "dim-ua"}"#).is_err());
    }
}
