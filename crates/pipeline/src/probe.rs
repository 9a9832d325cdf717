//! The probe stage: a separately seeded probe collection (or a dataset), the AtariARI
//! filters, encoder features computed once per frame (feature extraction), all probes trained
//! together, and `probe.json` + `report.md` written atomically.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dimua_atari::{Game, Rom};
use dimua_buffer::{FrameStore, Split, SplitRule};
use dimua_collect::{Assembled, CollectProgress, CollectSpec};
use dimua_model::Encoder;
use dimua_probe::{LabelSpec, ProbeData, ProbeResult, Sampling};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{invalid, PipelineError, Result};
use crate::observer::{collect_observed, Event, Observer};
use crate::output::write_atomic;
use crate::plan::{ProbeCollection, ProbePlan};

/// Frames encoded per forward pass when computing probe features.
const ENCODE_BATCH: usize = 256;

/// Runs a collection to completion on a worker thread, reporting to `observer` (which may
/// interrupt it).
pub fn collect_with_progress(
    spec: &CollectSpec,
    rom: &Rom,
    store: &Arc<FrameStore>,
    label: &str,
    observer: &dyn Observer,
) -> Result<dimua_collect::CollectStats> {
    let state = CollectProgress::default();
    Ok(collect_observed(
        &state,
        spec.frames as u64,
        label,
        observer,
        || dimua_collect::collect_into(spec, rom, store, &state),
    )?)
}

/// The probe dataset: filtered episodes of a probe collection, ready for features.
pub struct ProbeSet {
    /// The store holding the frames.
    pub store: Arc<FrameStore>,
    /// Filtered episodes and label columns.
    pub assembled: Assembled,
    /// Where the frames came from (recorded in `probe.json`).
    pub source: ProbeDataSource,
}

/// Where a probe set's frames came from, as `probe.json` records it (`"scored"."data"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ProbeDataSource {
    /// A separately seeded random-policy collection.
    Collection {
        /// Canonical game name.
        game: String,
        /// Frames collected.
        frames: usize,
        /// Collection seed.
        seed: u64,
        /// Environment streams.
        streams: u32,
        /// RGB frames.
        color: bool,
    },
    /// A dataset written by `dimua collect`.
    Dataset {
        /// Canonical game name.
        game: String,
        /// The dataset directory (absolute).
        path: String,
        /// sha256 of its `manifest.json` (which pins every shard's sha256).
        manifest_sha256: String,
    },
}

/// What a `probe.json` scored: the encoder file (absent for the majority baseline) and the
/// probe data. `dimua report` and `dimua export` check it against the directory it sits in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    /// The encoder's weights file.
    pub encoder: Option<ScoredEncoder>,
    /// The probe frames.
    pub data: ProbeDataSource,
}

/// The encoder a probe result scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredEncoder {
    /// The weights file: its bare name when it sits beside `probe.json` (so a run directory
    /// can be moved), else its absolute path.
    pub path: String,
    /// sha256 of the weights file.
    pub sha256: String,
    /// The method that trained it.
    pub method: String,
}

/// Key of [`Scored`] in `probe.json`.
pub const SCORED_KEY: &str = "scored";

/// Reads the [`Scored`] record of a `probe.json` text: `Ok(None)` for files written before
/// dimua recorded it.
pub fn read_scored(probe_json: &str) -> std::result::Result<Option<Scored>, String> {
    let value: serde_json::Value = serde_json::from_str(probe_json).map_err(|e| e.to_string())?;
    match value.get(SCORED_KEY) {
        None => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| format!("its \"{SCORED_KEY}\" record is invalid: {e}")),
    }
}

impl Scored {
    /// Checks that this record's encoder is the one in `dir` (a run directory holding
    /// `probe.json`): the file it names must exist with the same sha256, and a directory with
    /// its own `encoder.safetensors` must not hold the scores of another encoder. `Err` says
    /// what does not match.
    pub fn check_encoder_in(&self, dir: &Path) -> std::result::Result<(), String> {
        let Some(enc) = &self.encoder else {
            return Ok(());
        };
        let own = dir.join("encoder.safetensors");
        let named = if Path::new(&enc.path).is_absolute() {
            PathBuf::from(&enc.path)
        } else {
            dir.join(&enc.path)
        };
        if own.is_file() && !dimua_core::fs::same_file(&own, &named) {
            return Err(format!(
                "probe.json scored the encoder {} ({} method), not this directory's \
                 encoder.safetensors: re-probe it with `dimua probe --run {}`",
                enc.path,
                enc.method,
                dir.display()
            ));
        }
        match dimua_core::fs::sha256_file(&named) {
            Ok(sha) if sha == enc.sha256 => Ok(()),
            Ok(_) => Err(format!(
                "{} changed after probe.json scored it (sha256 differs): re-probe it with \
                 `dimua probe`",
                named.display()
            )),
            Err(e) => Err(format!("the encoder probe.json scored is unreadable: {e}")),
        }
    }
}

/// Collects and filters the probe dataset of `game` (split 7/1/2 by episode).
pub fn collect_probe_set(
    game: &'static Game,
    rom: &Rom,
    collection: &ProbeCollection,
    observer: &dyn Observer,
) -> Result<ProbeSet> {
    let &ProbeCollection {
        frames,
        seed,
        threads,
        streams,
        color,
    } = collection;
    if dimua_atari::labels(game).is_none() {
        invalid!(
            "{} has no AtariARI RAM annotations, so it cannot be probed; AtariARI games: {}",
            game.name,
            dimua_atari::atariari_games()
                .map(|g| g.name)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let spec = CollectSpec {
        game,
        frames,
        seed,
        threads,
        streams,
        color,
    };
    spec.validate()?;
    let store =
        dimua_collect::store_for(&spec, rom, SplitRule::PROBE, &|| !observer.interrupted())?;
    collect_with_progress(&spec, rom, &store, "probe data", observer)?;
    let assembled = dimua_collect::assemble(
        &store,
        game,
        dimua_collect::filters::MIN_EPISODE_LEN,
        dimua_collect::filters::ENTROPY_THRESHOLD,
        true,
    )?;
    for split in [Split::Train, Split::Val, Split::Test] {
        if !assembled.episodes.iter().any(|e| e.split == split) {
            invalid!(
                "the probe collection ({frames} frames, {streams} streams) has no {} episode \
                 longer than {} frames: raise --probe-frames (episodes are split 7/1/2 in \
                 blocks of 10 per stream, so every split needs enough long episodes)",
                split.name(),
                dimua_collect::filters::MIN_EPISODE_LEN
            );
        }
    }
    if assembled.labels.is_empty() {
        invalid!(
            "every label of {} was removed by the entropy filter on {frames} frames: raise --probe-frames",
            game.name
        );
    }
    Ok(ProbeSet {
        store,
        assembled,
        source: ProbeDataSource::Collection {
            game: game.name.to_string(),
            frames,
            seed,
            streams,
            color,
        },
    })
}

impl ProbeSet {
    /// A probe set from a dataset written by `dimua collect` (already filtered: its labels,
    /// episodes and splits are used as they are on disk).
    pub fn from_dataset(dir: &Path, game: &'static Game) -> Result<Self> {
        let (manifest, store) = dimua_collect::Dataset::open_into_store(dir)?;
        let on_disk = dimua_atari::resolve_game(&manifest.game)?;
        if on_disk.name != game.name {
            invalid!(
                "dataset {} holds {} frames, not {}: pass the matching --game or dataset",
                dir.display(),
                on_disk.name,
                game.name
            );
        }
        if manifest.labels.is_empty() {
            invalid!("dataset {} has no labels to probe", dir.display());
        }
        let episodes = store
            .episodes()
            .into_iter()
            .map(|e| dimua_collect::filters::PlannedEpisode {
                stream: e.stream,
                index_in_stream: e.index_in_stream,
                split: e.split,
                steps: (0..e.slots.len() as u32).collect(),
                slots: e.slots.to_vec(),
            })
            .collect::<Vec<_>>();
        for split in [Split::Train, Split::Val, Split::Test] {
            if !episodes.iter().any(|e| e.split == split) {
                invalid!(
                    "dataset {} has no {} episode: collect it with a split that has one (e.g. --split 7/1/2)",
                    dir.display(),
                    split.name()
                );
            }
        }
        let columns = (0..manifest.labels.len()).collect();
        let manifest_path = dir.join(dimua_collect::dataset::MANIFEST);
        let source = ProbeDataSource::Dataset {
            game: game.name.to_string(),
            path: dir
                .canonicalize()
                .unwrap_or_else(|_| dir.to_path_buf())
                .display()
                .to_string(),
            manifest_sha256: dimua_core::fs::sha256_file(&manifest_path)?,
        };
        Ok(ProbeSet {
            source,
            store,
            assembled: Assembled {
                episodes,
                labels: manifest.labels,
                columns,
                dropped_labels: manifest.dropped_labels,
                counts: manifest.filtered,
            },
        })
    }

    /// Slots of every frame of `split`, in canonical order.
    fn slots(&self, split: Split) -> Vec<u32> {
        self.assembled
            .episodes
            .iter()
            .filter(|e| e.split == split)
            .flat_map(|e| e.slots.iter().copied())
            .collect()
    }

    /// Episode index of every frame of `split` (for AtariARI's episode-uniform sampling).
    fn episode_ids(&self, split: Split) -> Vec<u64> {
        self.assembled
            .episodes
            .iter()
            .enumerate()
            .filter(|(_, e)| e.split == split)
            .flat_map(|(i, e)| std::iter::repeat_n(i as u64, e.slots.len()))
            .collect()
    }

    /// Labels `[N, K]` (u8, kept columns) of the given slots.
    fn labels(&self, slots: &[u32]) -> Tensor {
        let k = self.assembled.columns.len();
        let mut out = Vec::with_capacity(slots.len() * k);
        for &s in slots {
            let row = self.store.labels(s);
            out.extend(self.assembled.columns.iter().map(|&c| row[c]));
        }
        Tensor::from_slice(&out).view([slots.len() as i64, k as i64])
    }

    /// Probe label specs (names and categories).
    fn label_specs(&self) -> Result<Vec<LabelSpec>> {
        self.assembled
            .labels
            .iter()
            .map(|l| LabelSpec::new(l.name.clone(), &l.categories).map_err(Into::into))
            .collect()
    }

    /// Encoder features `[N, D]` of the given slots, computed once, batch by batch.
    fn features(
        &self,
        encoder: &Encoder,
        slots: &[u32],
        observer: &dyn Observer,
    ) -> Result<Tensor> {
        let shape = encoder.frame_shape();
        let frame_bytes = self.store.spec().frame_bytes;
        let mut parts = Vec::new();
        let mut buf = Vec::with_capacity(ENCODE_BATCH * frame_bytes);
        for chunk in slots.chunks(ENCODE_BATCH) {
            if observer.interrupted() {
                return Err(PipelineError::Interrupted(
                    "interrupted while computing probe features".into(),
                ));
            }
            buf.clear();
            self.store.gather_frames(chunk, &mut buf);
            let frames = Tensor::from_slice(&buf).view([
                chunk.len() as i64,
                shape.height as i64,
                shape.width as i64,
                shape.channels as i64,
            ]);
            let f = encoder
                .encode(&frames)
                .map_err(|e| PipelineError::context("encoding probe frames", e))?
                .to_kind(Kind::Float);
            parts.push(f);
        }
        Ok(Tensor::cat(&parts, 0))
    }
}

/// What the probe stage produced.
pub struct ProbeOutcome {
    /// Scores.
    pub result: ProbeResult,
    /// Labels probed.
    pub labels: Vec<String>,
    /// What was scored: the encoder file (when it was loaded from one) and the data.
    pub scored: Scored,
    /// The supervised method's own heads scored on the same test frames
    /// ([`score_own_heads`]), written as `"own_heads"` in `probe.json`.
    pub own_heads: Option<ProbeResult>,
}

/// The probe inputs of one probe set on one device: encoder features computed once per
/// frame (optionally standardised), raw-byte labels, label specs and episode ids per split.
pub struct ProbeInputs {
    x: [Tensor; 3],
    y: [Tensor; 3],
    specs: Vec<LabelSpec>,
    episodes: [Vec<u64>; 3],
}

impl ProbeInputs {
    /// Encodes every frame of `set` once with `encoder` (feature extraction) and moves
    /// everything to `device`. Non-finite features (a corrupt or diverged encoder) are an
    /// error.
    pub fn new(
        set: &ProbeSet,
        encoder: &Encoder,
        standardize: bool,
        device: Device,
        observer: &dyn Observer,
    ) -> Result<Self> {
        if let Some(shape_err) = shape_mismatch(encoder, set) {
            return Err(PipelineError::Invalid(shape_err));
        }
        let splits = [Split::Train, Split::Val, Split::Test];
        let slots = splits.map(|s| set.slots(s));
        observer.event(&Event::FeaturesStarted);
        let encode = |split: Split, slots: &[u32]| -> Result<Tensor> {
            let f = set.features(encoder, slots, observer)?.to_device(device);
            let bad = f.isfinite().logical_not().sum(Kind::Int64).int64_value(&[]);
            if bad > 0 {
                invalid!(
                    "the encoder produced {bad} non-finite (NaN or infinite) feature values on \
                     the probe {} frames: its weights are corrupt or its training diverged; \
                     re-train it or use another encoder",
                    split.name()
                );
            }
            Ok(f)
        };
        let features = (|| {
            Ok::<_, PipelineError>([
                encode(Split::Train, &slots[0])?,
                encode(Split::Val, &slots[1])?,
                encode(Split::Test, &slots[2])?,
            ])
        })();
        observer.event(&Event::FeaturesFinished);
        let [xtr, xva, xte] = features?;
        if !standardize {
            warn_if_features_barely_vary(&xtr);
        }
        let x = if standardize {
            dimua_probe::standardize_splits(&xtr, &xva, &xte)?
        } else {
            [xtr, xva, xte]
        };
        Ok(ProbeInputs {
            x,
            y: slots.each_ref().map(|s| set.labels(s).to_device(device)),
            specs: set.label_specs()?,
            episodes: splits.map(|s| set.episode_ids(s)),
        })
    }

    /// The inputs as the probe trainer takes them (episode-uniform sampling, as AtariARI).
    pub fn data(&self) -> ProbeData<'_> {
        let [xtr, xva, xte] = &self.x;
        let [ytr, yva, yte] = &self.y;
        let [etr, eva, ete] = &self.episodes;
        ProbeData {
            train: dimua_probe::Split::new(xtr, ytr),
            val: dimua_probe::Split::new(xva, yva),
            test: dimua_probe::Split::new(xte, yte),
            labels: &self.specs,
            sampling: Sampling::Episodes(etr.clone()),
            val_sampling: Sampling::Episodes(eva.clone()),
            test_sampling: Sampling::Episodes(ete.clone()),
            classes: None,
        }
    }
}

/// Trains the probes on `encoder`'s features (or scores the majority baseline when `encoder`
/// is `None`) and returns the test result.
pub fn probe(
    set: &ProbeSet,
    encoder: Option<&Encoder>,
    plan: &ProbePlan,
    observer: &dyn Observer,
) -> Result<ProbeOutcome> {
    let config = &plan.config;
    let result = match encoder {
        None => {
            observer.stage("majority baseline");
            let specs = set.label_specs()?;
            let ytr = set.labels(&set.slots(Split::Train));
            let yte = set.labels(&set.slots(Split::Test));
            dimua_probe::majority_baseline(&ytr, &yte, &specs)?
        }
        Some(encoder) => {
            if let Some(why) = dimua_model::mixed::slow_bf16(config.precision, encoder.device()) {
                tracing::warn!("{why}");
            }
            encoder.set_precision(config.precision);
            observer.stage("encoder features (once per probe frame)");
            let inputs = ProbeInputs::new(set, encoder, plan.standardize, plan.device, observer)?;
            let data = inputs.data();
            observer.stage("linear probes (all labels at once)");
            observer.event(&Event::ProbesStarted {
                epochs: config.epochs,
            });
            let mut on_epoch = |e: &dimua_probe::ProbeEpoch| {
                observer.event(&Event::ProbeEpoch(e));
                if observer.interrupted() {
                    dimua_probe::ProbeControl::Stop
                } else {
                    dimua_probe::ProbeControl::Continue
                }
            };
            let run = dimua_probe::train_probes_observed(&data, config, &mut on_epoch);
            observer.event(&Event::ProbesFinished);
            if observer.interrupted() {
                return Err(PipelineError::Interrupted(
                    "interrupted while training the probes: no probe.json or report.md written"
                        .into(),
                ));
            }
            run?.result
        }
    };
    let scored = Scored {
        encoder: encoder.and_then(|e| {
            e.file().map(|f| ScoredEncoder {
                path: f.path.display().to_string(),
                sha256: f.sha256.clone(),
                method: e.meta().method.to_string(),
            })
        }),
        data: set.source.clone(),
    };
    Ok(ProbeOutcome {
        result,
        scored,
        own_heads: None,
        labels: set
            .assembled
            .labels
            .iter()
            .map(|l| l.name.clone())
            .collect(),
    })
}

/// Scores a method's own label heads (`heads.safetensors` of a `supervised` run: a
/// `Linear(d -> labels * 256)` trained with the encoder) on the probe set's test frames,
/// the way AtariARI reports its fully supervised baseline: per label, the argmax byte value
/// against the true one, weighted F1 and accuracy, aggregated like the probes.
/// `trained_labels` are the label names in the order the heads were trained on (the
/// pretraining store's); probe labels the heads never saw are left out.
pub fn score_own_heads(
    set: &ProbeSet,
    encoder: &Encoder,
    heads_file: &Path,
    trained_labels: &[String],
    observer: &dyn Observer,
) -> Result<ProbeResult> {
    let tensors = Tensor::read_safetensors(heads_file)
        .map_err(|e| PipelineError::context(format!("reading {}", heads_file.display()), e))?;
    let find = |suffix: &str| {
        tensors
            .iter()
            .find(|(n, _)| n.ends_with(suffix))
            .map(|(_, t)| t.shallow_clone())
            .ok_or_else(|| {
                PipelineError::Invalid(format!(
                    "{} has no `*{suffix}` tensor: it is not a supervised run's heads file",
                    heads_file.display()
                ))
            })
    };
    let (weight, bias) = (find("heads.weight")?, find("heads.bias")?);
    let classes = dimua_model::methods::supervised::CLASSES as i64;
    let k = trained_labels.len() as i64;
    if weight.size() != [k * classes, encoder.feature_dim() as i64] {
        invalid!(
            "{}: heads of shape {:?} do not match {k} labels x {classes} values of {} features",
            heads_file.display(),
            weight.size(),
            encoder.feature_dim()
        );
    }
    let slots = set.slots(Split::Test);
    let features = set.features(encoder, &slots, observer)?;
    let predicted = features
        .f_linear(
            &weight.to_device(features.device()),
            Some(&bias.to_device(features.device())),
        )
        .and_then(|l| l.f_view([slots.len() as i64, k, classes]))
        .and_then(|l| l.f_argmax(-1, false))
        .and_then(|p| p.f_to_device(Device::Cpu))
        .map_err(|e| PipelineError::context("scoring the supervised heads", e))?;
    let predicted = Vec::<i64>::try_from(&predicted.reshape([-1]))
        .map_err(|e| PipelineError::context("reading the supervised heads' predictions", e))?;
    let truth = Vec::<i64>::try_from(&set.labels(&slots).to_kind(Kind::Int64).reshape([-1]))
        .map_err(|e| PipelineError::context("reading the test labels", e))?;
    let kept = set.assembled.labels.len();
    // (probe column, heads column) of every probe label the heads were trained on.
    let pairs: Vec<(usize, usize)> = set
        .assembled
        .labels
        .iter()
        .enumerate()
        .filter_map(|(c, l)| {
            trained_labels
                .iter()
                .position(|t| *t == l.name)
                .map(|h| (c, h))
        })
        .collect();
    if pairs.is_empty() {
        invalid!("none of the probe labels is one the supervised heads were trained on");
    }
    let specs: Vec<LabelSpec> = set
        .label_specs()?
        .into_iter()
        .enumerate()
        .filter(|(c, _)| pairs.iter().any(|p| p.0 == *c))
        .map(|(_, s)| s)
        .collect();
    let (mut y_true, mut y_pred) = (Vec::new(), Vec::new());
    for row in 0..slots.len() {
        for &(c, h) in &pairs {
            y_true.push(truth[row * kept + c]);
            y_pred.push(predicted[row * k as usize + h]);
        }
    }
    Ok(ProbeResult::from_predictions(&specs, &y_true, &y_pred)?)
}

/// Below this median per-dimension std (across the probe-train frames) the linear probes on
/// raw features stay near the majority baseline within AtariARI's budget: measured
/// 0.004-0.033 for the quick VAE, pixel-prediction, CPC and random-CNN encoders (all at the
/// baseline), 0.42 and 1.9 for ST-DIM and supervised (RESULTS.md).
const LOW_FEATURE_STD: f64 = 0.05;

/// Warns (through `tracing`) when the features barely vary between frames.
fn warn_if_features_barely_vary(x: &Tensor) {
    let median = x
        .f_std_dim(0, false, false)
        .and_then(|s| s.f_median())
        .map(|m| m.double_value(&[]));
    if let Ok(m) = median {
        if m < LOW_FEATURE_STD {
            tracing::warn!(
                "the encoder's features vary little between frames (median per-dimension \
                 std {m:.4}): linear probes on raw features may stay at the majority baseline; \
                 --standardize (probe_standardize = true) z-scores them first"
            );
        }
    }
}

fn shape_mismatch(encoder: &Encoder, set: &ProbeSet) -> Option<String> {
    let s = encoder.frame_shape();
    let expected = s.height * s.width * s.channels;
    (expected != set.store.spec().frame_bytes).then(|| {
        format!(
            "the encoder takes {}x{}x{} frames but the probe frames have {} bytes each \
             (grayscale vs --color mismatch?)",
            s.height,
            s.width,
            s.channels,
            set.store.spec().frame_bytes
        )
    })
}

/// Writes `probe.json` (the scores and what was scored) and `report.md` into `dir`
/// (temporary names, then renamed). An encoder file inside `dir` is recorded by its bare
/// name, one elsewhere by its absolute path.
pub fn write_probe_outputs(dir: &Path, outcome: &ProbeOutcome, title: &str) -> Result<()> {
    let mut scored = outcome.scored.clone();
    if let Some(enc) = &mut scored.encoder {
        let file = PathBuf::from(&enc.path);
        let beside = file
            .parent()
            .is_some_and(|p| dimua_core::fs::same_file(p, dir));
        enc.path = match (beside, file.file_name()) {
            (true, Some(name)) => name.to_string_lossy().into_owned(),
            _ => file.canonicalize().unwrap_or(file).display().to_string(),
        };
    }
    let mut value = serde_json::to_value(&outcome.result)?;
    if let serde_json::Value::Object(map) = &mut value {
        map.insert(SCORED_KEY.into(), serde_json::to_value(&scored)?);
        if let Some(heads) = &outcome.own_heads {
            map.insert("own_heads".into(), serde_json::to_value(heads)?);
        }
    }
    let json = serde_json::to_string_pretty(&value)?;
    write_atomic(&dir.join("probe.json"), json.as_bytes())?;
    let md = dimua_probe::result_markdown(&outcome.result, title);
    write_atomic(&dir.join("report.md"), md.as_bytes())?;
    Ok(())
}
