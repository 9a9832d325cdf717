//! Run configuration: the raw TOML (`RunConfig`, every field documented, unknown keys
//! rejected; every default written here once) and the embedded default used when no
//! `--config` is given. [`crate::RunPlan`] turns it into typed, validated values.

use std::path::{Path, PathBuf};

use dimua_model::{Method, Precision};
use dimua_probe::ProbeConfig;
use dimua_train::TrainConfig;
use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};
use crate::plan::RunMethod;

/// The embedded default: DIM-UA on Pong (bundled canonical ROM), small `quick` sizes.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../../configs/quick/pong-dim-ua.toml");

/// Pretraining hyper-parameters (reference defaults; PROTOCOL.md sections 4, 5, 7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSection {
    /// Weight of the unbalanced-atlas term L_Q (0.1).
    pub tau: f64,
    /// Linear warm-up of tau from 0 over this many steps (0 = off, as the reference).
    pub tau_warmup_steps: u64,
    /// `vae` only: weight of the KL term (1, AtariARI's `--beta` default).
    pub vae_beta: f64,
    /// Adam learning rate.
    pub lr: f64,
    /// Adam epsilon.
    pub adam_eps: f64,
    /// Pairs per batch.
    pub batch_size: usize,
    /// Maximum epochs.
    pub epochs: usize,
    /// Early-stopping patience (epochs without a val-loss improvement).
    pub patience: usize,
    /// Optimiser steps per epoch (default: train frames / batch size, as the reference;
    /// divided by the sequence length for sequence methods such as CPC).
    pub steps_per_epoch: Option<usize>,
    /// Batches per validation pass (default: val frames / batch size, likewise).
    pub val_steps: Option<usize>,
    /// Keep the last epoch's weights (the reference) instead of the best validation epoch's.
    pub last_weights: bool,
    /// Take the first step only once the pretraining collection is complete, so the run is
    /// bit-reproducible (streaming otherwise starts on the first batch of pairs, and the
    /// collectors' timing decides which episodes the first steps see).
    pub wait_for_collection: bool,
    /// `fp32` (default) or `bf16`: bf16 convolutions and matrix products with fp32 master
    /// weights, Adam state and reductions (docs/training.md, "Precision").
    pub precision: Precision,
}

impl Default for TrainSection {
    /// The trainer's own defaults ([`TrainConfig::for_method`]), written there once.
    fn default() -> Self {
        let t = TrainConfig::for_method(Method::DimUa);
        TrainSection {
            tau: t.tau,
            tau_warmup_steps: t.tau_warmup_steps,
            vae_beta: t.vae_beta,
            lr: t.lr,
            adam_eps: t.adam_eps,
            batch_size: t.batch_size,
            epochs: t.max_epochs,
            patience: t.patience,
            steps_per_epoch: t.steps_per_epoch,
            val_steps: t.val_steps,
            last_weights: t.last_weights,
            wait_for_collection: t.wait_for_collection,
            precision: t.precision,
        }
    }
}

/// Where dimua deliberately departs from the AtariARI / DIM-UA reference code, which of the
/// two a run follows. Each of the four switches it sets can still be given on its own.
///
/// | switch | `reference` | `dimua` | why dimua differs |
/// |---|---|---|---|
/// | `[train] last_weights` | true | false | probe the best-validation encoder, not the last epoch's |
/// | `[probe] restore_best` | false | true | score each probe at its best validation epoch |
/// | `[probe] val_resample` | true | false | score every validation frame once (no resampling noise) |
/// | `[probe] test_resample` | true | false | score every test frame once |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// The reference code's behaviour (the paper's numbers were made this way).
    Reference,
    /// dimua's defaults: less noisy scores of the best-validation encoder.
    #[default]
    Dimua,
}

impl Protocol {
    /// The four switches it sets: `(section, key, value)`.
    pub fn switches(self) -> [(&'static str, &'static str, bool); 4] {
        let reference = self == Protocol::Reference;
        [
            ("train", "last_weights", reference),
            ("probe", "restore_best", !reference),
            ("probe", "val_resample", reference),
            ("probe", "test_resample", reference),
        ]
    }

    /// Parses `reference` or `dimua`.
    pub fn parse(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "reference" => Ok(Protocol::Reference),
            "dimua" => Ok(Protocol::Dimua),
            other => Err(PipelineError::Invalid(format!(
                "unknown protocol {other:?}: use \"reference\" (the AtariARI / DIM-UA code's \
                 behaviour) or \"dimua\" (the default)"
            ))),
        }
    }
}

/// One collect -> train -> probe run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Game: ALE ROM name, AtariARI key or gym id.
    pub game: String,
    /// Method: any registered method (`dimua run --help` lists them) or majority.
    pub method: String,
    /// `reference` or `dimua` (default): sets `[train] last_weights` and `[probe]
    /// restore_best`, `val_resample`, `test_resample` together, unless the file sets them.
    pub protocol: Protocol,
    /// Atlas heads n (default: 1 for st-dim/random-cnn, 4 for the atlas methods).
    pub heads: Option<usize>,
    /// Units per head d (default: 256 for st-dim/random-cnn, 512 for the atlas methods).
    pub units: Option<usize>,
    /// Master seed (collection, training, probes).
    pub seed: u64,
    /// Device: auto, cpu, cuda or cuda:N.
    pub device: String,
    /// Pretraining frames collected (agent steps); split 80/20 train/val by episode.
    pub frames: usize,
    /// Probe frames collected (a separately seeded collection); split 70/10/20 by episode.
    pub probe_frames: usize,
    /// Collector threads (default: all cores).
    pub threads: Option<usize>,
    /// Environment streams per collection.
    pub streams: u32,
    /// RGB frames instead of grayscale.
    pub color: bool,
    /// Pretrain on this dataset (written by `dimua collect`) instead of a streamed
    /// collection; recorded so `dimua train --resume` reads the same frames again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<PathBuf>,
    /// Standardise probe features (z-score with the probe-train mean and std) before the
    /// linear probes. Off in the reference; helps short probe budgets converge.
    pub probe_standardize: bool,
    /// Pretraining settings.
    pub train: TrainSection,
    /// Probe settings (its `seed` is replaced by the run seed).
    pub probe: ProbeConfig,
}

impl Default for RunConfig {
    fn default() -> Self {
        let train = TrainConfig::for_method(Method::DimUa);
        RunConfig {
            game: "pong".into(),
            method: "dim-ua".into(),
            protocol: Protocol::Dimua,
            heads: None,
            units: None,
            seed: train.seed,
            device: train.device,
            frames: 100_000,
            probe_frames: 50_000,
            threads: None,
            streams: 10,
            color: false,
            dataset: None,
            probe_standardize: false,
            train: TrainSection::default(),
            probe: ProbeConfig::default(),
        }
    }
}

/// The largest config file dimua reads (1 MiB; real configs are a few hundred bytes), so a
/// wrong path (`/dev/zero`, a dataset shard) fails at once instead of filling memory.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads a config file as UTF-8 text, refusing one over [`MAX_CONFIG_BYTES`].
pub fn read_config_text(path: &Path) -> Result<String> {
    use std::io::Read;
    let cannot = |e| PipelineError::context(format!("cannot read config {}", path.display()), e);
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(PipelineError::Invalid(format!(
            "config {} is larger than {} KiB: it is not a dimua config (pass a TOML file)",
            path.display(),
            MAX_CONFIG_BYTES / 1024
        )));
    }
    String::from_utf8(bytes).map_err(|_| {
        PipelineError::Invalid(format!(
            "config {} is not UTF-8 text: pass a TOML file",
            path.display()
        ))
    })
}

impl RunConfig {
    /// Parses TOML, naming any unknown key and the valid ones. The protocol's switches
    /// apply where the text does not set them.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        // The message names the value; the line it came from names the key.
        let invalid = |e: toml::de::Error| {
            let at = e
                .span()
                .map(|span| {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    let source = text.lines().nth(line - 1).unwrap_or("").trim();
                    format!(", line {line} `{source}`")
                })
                .unwrap_or_default();
            PipelineError::Invalid(format!("invalid config {origin}{at}: {}", e.message()))
        };
        let raw: toml::Table = toml::from_str(text).map_err(invalid)?;
        let mut config: RunConfig = toml::from_str(text).map_err(invalid)?;
        config.apply_protocol(Some(&raw));
        Ok(config)
    }

    /// Sets the protocol's four switches, except those `raw` (the TOML table the config
    /// was read from) sets itself; `None`: all four.
    pub fn apply_protocol(&mut self, raw: Option<&toml::Table>) {
        for (section, key, value) in self.protocol.switches() {
            let explicit = raw
                .and_then(|t| t.get(section))
                .and_then(|s| s.as_table())
                .is_some_and(|s| s.contains_key(key));
            if explicit {
                continue;
            }
            match key {
                "last_weights" => self.train.last_weights = value,
                "restore_best" => self.probe.restore_best = value,
                "val_resample" => self.probe.val_resample = value,
                _ => self.probe.test_resample = value,
            }
        }
    }

    /// Reads a TOML file (at most [`MAX_CONFIG_BYTES`]).
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_config_text(path)?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// The file at `path`, or the embedded default without one.
    pub fn load_or_default(path: Option<&Path>) -> Result<Self> {
        match path {
            Some(path) => Self::load(path),
            None => Self::from_toml(EMBEDDED_DEFAULT, "the embedded default"),
        }
    }

    /// Sets the method. A config's heads/units describe its own method's architecture: when
    /// the new method is of the other family (one head vs an atlas), its defaults apply
    /// instead (`st-dim` on the DIM-UA default is ST-DIM 1x256, not an invalid 4-head
    /// ST-DIM); set heads/units after this call to override them.
    pub fn set_method(&mut self, name: &str) {
        let one_head = |name: &str| {
            RunMethod::parse(name)
                .ok()
                .map(|m| m.default_architecture().0 == 1)
        };
        if one_head(name) != one_head(&self.method) {
            self.heads = None;
            self.units = None;
        }
        self.method = name.to_string();
    }

    /// The resolved config as TOML (what `config.toml` in a run holds).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses() {
        let c = RunConfig::from_toml(EMBEDDED_DEFAULT, "embedded").unwrap();
        assert_eq!(c.game, "pong");
    }

    #[test]
    fn unknown_keys_are_named_with_the_valid_ones() {
        let err = RunConfig::from_toml("game = \"pong\"\nframs = 10\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("frams") && err.contains("frames"), "{err}");
        let err = RunConfig::from_toml("[train]\nlr2 = 1.0\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("lr2") && err.contains("tau"), "{err}");
    }

    /// A bad value's error names the line (and so the key) it came from, not only the value:
    /// `unknown variant `half`` alone does not say which setting is wrong.
    #[test]
    fn a_bad_value_is_named_with_its_line_and_key() {
        let err =
            RunConfig::from_toml("game = \"pong\"\n[train]\nprecision = \"half\"\n", "x.toml")
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("line 3") && err.contains("precision = \"half\"") && err.contains("bf16"),
            "{err}"
        );
        let c = RunConfig::from_toml(
            "[train]\nprecision = \"bf16\"\n[probe]\nprecision = \"bf16\"\n",
            "x",
        )
        .unwrap();
        assert_eq!(c.train.precision, Precision::Bf16);
        assert_eq!(c.probe.precision, Precision::Bf16);
        assert_eq!(RunConfig::default().train.precision, Precision::Fp32);
    }

    #[test]
    fn defaults_are_the_trainers() {
        let t = TrainConfig::for_method(Method::DimUa);
        let c = RunConfig::default();
        assert_eq!((c.seed, c.device.as_str()), (42, "auto"));
        assert_eq!(
            (
                c.train.tau,
                c.train.lr,
                c.train.adam_eps,
                c.train.batch_size
            ),
            (0.1, 3e-4, 1e-5, 64)
        );
        assert_eq!(
            (c.train.epochs, c.train.patience),
            (t.max_epochs, t.patience)
        );
    }

    #[test]
    fn the_protocol_sets_its_switches_unless_the_file_does() {
        let c = RunConfig::from_toml("protocol = \"reference\"\n", "x").unwrap();
        assert!(c.train.last_weights);
        assert!(!c.probe.restore_best);
        assert!(c.probe.val_resample && c.probe.test_resample);
        let c = RunConfig::from_toml(
            "protocol = \"reference\"\n[probe]\nrestore_best = true\n",
            "x",
        )
        .unwrap();
        assert!(c.probe.restore_best && c.train.last_weights);
        let c = RunConfig::from_toml("", "x").unwrap();
        assert_eq!(c.protocol, Protocol::Dimua);
        assert!(!c.train.last_weights && c.probe.restore_best);
        assert!(!c.probe.val_resample && !c.probe.test_resample);
        let c = RunConfig::from_toml("protocol = \"dimua\"\n[train]\nlast_weights = true\n", "x")
            .unwrap();
        assert!(c.train.last_weights);
        let err = RunConfig::from_toml("protocol = \"paper\"\n", "x").unwrap_err();
        assert!(err.to_string().contains("reference"), "{err}");
        // The resolved config keeps its meaning when read back.
        let c = RunConfig::from_toml("protocol = \"reference\"\n", "x").unwrap();
        assert_eq!(RunConfig::from_toml(&c.to_toml(), "rt").unwrap(), c);
    }

    #[test]
    fn round_trips_through_toml() {
        let c = RunConfig::default();
        assert_eq!(RunConfig::from_toml(&c.to_toml(), "rt").unwrap(), c);
    }
}
