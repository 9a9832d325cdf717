//! The image experiment's config (`[dataset]`, `[model]`, `[train]`, `[augment]`, `[eval]`
//! around `method` and `seed`), and sweeps: a `[base]` config plus `[[grid]]` tables whose
//! keys (dotted for nested ones, e.g. `"model.heads"`) list values; each grid expands to the
//! product of its lists, the sweep to the union of its grids.

use std::collections::BTreeMap;
use std::path::Path;

use dimua_probe::ProbeConfig;
use serde::{Deserialize, Serialize};

use crate::augment::AugmentConfig;
use crate::dataset::DatasetConfig;
use crate::error::{config_error, io_at, ImagesError, Result};
use crate::methods::{find_method, ImageMethod};
use crate::resnet::ResNetKind;

/// One image run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageRunConfig {
    /// `simclr`, `msimclr` or `simclr-ua`.
    pub method: String,
    /// Seed of the weights, the batches, the augmentations and the linear evaluation.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// `auto` (CUDA when available), `cpu`, `cuda`, `cuda:N`.
    #[serde(default = "default_device")]
    pub device: String,
    /// The data.
    pub dataset: DatasetConfig,
    /// Backbone and heads.
    #[serde(default)]
    pub model: ModelConfig,
    /// Pretraining.
    #[serde(default)]
    pub train: PretrainConfig,
    /// Augmentations (SimCLR's CIFAR-10 ones by default).
    #[serde(default)]
    pub augment: AugmentConfig,
    /// The linear evaluation: dimua's probe trainer on frozen features, one label (the class).
    #[serde(default)]
    pub eval: ProbeConfig,
    /// Also evaluate the same-seed randomly initialised model (the baseline every trained
    /// encoder must beat), into `eval.json`'s `"random_init"`.
    #[serde(default = "default_true")]
    pub random_init_baseline: bool,
    /// Z-score the frozen features with the linear-eval train split's statistics before the
    /// classifier (`dimua_probe::standardize_splits`), so that the accuracy measures what the
    /// features hold rather than their scale. `false`: raw features.
    #[serde(default = "default_true")]
    pub standardize_features: bool,
}

fn default_seed() -> u64 {
    42
}
fn default_device() -> String {
    "auto".into()
}
fn default_true() -> bool {
    true
}

/// `[model]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// `resnet18` or `resnet50` (CIFAR form).
    pub backbone: String,
    /// Stage width (64: the standard networks).
    pub width: usize,
    /// Charts `n` (1 for `simclr`).
    pub heads: usize,
    /// Units per chart `d` (Table 2's "head dimension").
    pub units: usize,
    /// FC1 switch (Table 5); `None`: the method's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fc1: Option<bool>,
    /// Clamp switch (Table 5); `None`: the method's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clamp: Option<bool>,
    /// FC2 switch (Table 5); `None`: the method's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fc2: Option<bool>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            backbone: "resnet18".into(),
            width: 64,
            heads: 1,
            units: 512,
            fc1: None,
            clamp: None,
            fc2: None,
        }
    }
}

/// `[train]`: pretraining.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PretrainConfig {
    /// Passes over the train images (0: no pretraining, the random init is evaluated).
    pub epochs: usize,
    /// Images per step (each seen as two views).
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Adam epsilon.
    pub adam_eps: f64,
    /// NT-Xent temperature.
    pub temperature: f64,
    /// Weight of `L_Q` (methods with a membership loss).
    pub tau: f64,
    /// Scale tau linearly from 0 to `tau` over the pretraining steps (Table 6).
    pub tau_linear: bool,
}

impl Default for PretrainConfig {
    fn default() -> Self {
        PretrainConfig {
            epochs: 100,
            batch_size: 256,
            lr: 3e-4,
            adam_eps: 1e-8,
            temperature: 0.5,
            tau: 0.1,
            tau_linear: false,
        }
    }
}

impl ImageRunConfig {
    /// Parses and validates TOML (no disk access beyond the text).
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let config: ImageRunConfig = toml::from_str(text).map_err(|e| ImagesError::Config {
            field: origin.to_string(),
            reason: format!("is not a valid image config: {e}"),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(io_at("read", path))?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// The config as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// The method.
    pub fn method(&self) -> Result<ImageMethod> {
        find_method(&self.method).map_err(|e| config_error("method", e))
    }

    /// Checks every value that needs no disk access.
    pub fn validate(&self) -> Result<()> {
        let method = self.method()?;
        self.dataset.validate()?;
        ResNetKind::parse(&self.model.backbone)?;
        let m = &self.model;
        if m.width == 0 || m.width > 256 {
            return Err(config_error(
                "model.width",
                "must be in 1..=256 (64: standard)",
            ));
        }
        if m.units == 0 || m.heads == 0 {
            return Err(config_error("model.heads / model.units", "must be > 0"));
        }
        if !method.atlas && m.heads != 1 {
            return Err(config_error(
                "model.heads",
                format!(
                    "is {} but {} has one head: set heads = 1",
                    m.heads, method.name
                ),
            ));
        }
        if method.atlas && m.heads < 2 {
            return Err(config_error(
                "model.heads",
                format!("is {} but {} needs 2 or more charts", m.heads, method.name),
            ));
        }
        let t = &self.train;
        if t.batch_size < 2 {
            return Err(config_error("train.batch_size", "must be >= 2 (negatives)"));
        }
        let pos = |x: f64| x.is_finite() && x > 0.0;
        if !pos(t.lr) || !pos(t.adam_eps) || !pos(t.temperature) {
            return Err(config_error(
                "train.lr / adam_eps / temperature",
                "must be finite and > 0",
            ));
        }
        if !(t.tau.is_finite() && t.tau >= 0.0) {
            return Err(config_error("train.tau", "must be finite and >= 0"));
        }
        self.augment.validate()?;
        self.eval.validate()?;
        dimua_model::parse_device(&self.device)
            .map_err(|e| config_error("device", e.to_string()))?;
        Ok(())
    }
}

/// A sweep file: `[base]` plus `[[grid]]` tables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    base: toml::Table,
    #[serde(default)]
    grid: Vec<toml::Table>,
}

/// One expanded run of a sweep.
#[derive(Debug, Clone)]
pub struct SweepRun {
    /// Directory name under the sweep's output (`simclr-ua-4x512__fc2-false__s1`).
    pub name: String,
    /// Its config.
    pub config: ImageRunConfig,
}

/// Expands a sweep file's text into runs (each validated), in grid order.
pub fn expand_sweep(text: &str, origin: &str) -> Result<Vec<SweepRun>> {
    let file: SweepFile = toml::from_str(text).map_err(|e| ImagesError::Config {
        field: origin.to_string(),
        reason: format!("is not a valid image sweep ([base] + [[grid]] tables): {e}"),
    })?;
    let grids = if file.grid.is_empty() {
        vec![toml::Table::new()]
    } else {
        file.grid
    };
    let mut runs = Vec::new();
    let mut seen = BTreeMap::new();
    for (g, grid) in grids.iter().enumerate() {
        let keys: Vec<(&String, Vec<toml::Value>)> = grid
            .iter()
            .map(|(k, v)| match v {
                toml::Value::Array(a) if !a.is_empty() => Ok((k, a.clone())),
                _ => Err(config_error(
                    &format!("grid[{g}].{k}"),
                    "must be a non-empty list of values",
                )),
            })
            .collect::<Result<_>>()?;
        let mut combos: Vec<Vec<toml::Value>> = vec![vec![]];
        for (_, values) in &keys {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.push(v.clone());
                        c
                    })
                })
                .collect();
        }
        for combo in combos {
            let mut table = file.base.clone();
            let mut extra = Vec::new();
            for ((key, _), value) in keys.iter().zip(&combo) {
                set_dotted(&mut table, key, value.clone())
                    .map_err(|e| config_error(&format!("grid[{g}].{key}"), e))?;
                let leaf = key.rsplit('.').next().unwrap_or(key);
                if !["method", "seed", "heads", "units"].contains(&leaf) {
                    extra.push(format!("{leaf}-{}", value_name(value)));
                }
            }
            let text = toml::to_string(&table).map_err(|e| config_error(origin, e.to_string()))?;
            let config = ImageRunConfig::from_toml(&text, &format!("{origin} (grid {g})"))?;
            let mut name = format!(
                "{}-{}x{}",
                config.method()?.name,
                config.model.heads,
                config.model.units
            );
            for e in extra {
                name.push_str("__");
                name.push_str(&e);
            }
            name.push_str(&format!("__s{}", config.seed));
            if seen.insert(name.clone(), g).is_some() {
                return Err(config_error(
                    origin,
                    format!("two runs of the sweep are both named {name}: make the grids disjoint"),
                ));
            }
            runs.push(SweepRun { name, config });
        }
    }
    Ok(runs)
}

/// A grid value as part of a directory name: letters, digits, `.`, `-` and `_` kept, anything
/// else (a `/` of a path, spaces, quotes) turned into `_`, and no `..`.
fn value_name(v: &toml::Value) -> String {
    let raw = match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    clean.replace("..", "_")
}

fn set_dotted(
    table: &mut toml::Table,
    key: &str,
    value: toml::Value,
) -> std::result::Result<(), String> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().ok_or("empty key")?;
    let mut t = table;
    for p in parts {
        t = t
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("`{p}` is not a table"))?;
    }
    t.insert(last.to_string(), value);
    Ok(())
}
