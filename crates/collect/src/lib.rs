//! Random-policy collection of AtariARI frames and RAM labels into the lock-free frame store,
//! the AtariARI filters, and datasets on disk (manifest + safetensors or npz shards).
//!
//! The pieces: [`collector`] drives N worker threads over a fixed set of seeded environment
//! streams; [`filters`] applies the episode-length, entropy and test-dedup rules;
//! [`dataset`] writes and reads the on-disk format; [`bench`](mod@bench) measures collection against a
//! bare ALE loop.

#![warn(missing_docs)]

pub mod bench;
pub mod collector;
pub mod dataset;
mod error;
pub mod filters;

use std::path::PathBuf;
use std::sync::Arc;

use dimua_atari::Rom;
use dimua_buffer::{FrameStore, SplitRule, StoreSpec};

pub use collector::{
    collect_into, observation_shape, spawn_collection, CollectProgress, CollectSpec, CollectStats,
    CollectionHandle,
};
pub use dataset::{Dataset, Manifest};
pub use error::CollectError;

/// Everything `dimua collect` needs to write a dataset.
#[derive(Debug, Clone)]
pub struct DatasetRequest {
    /// What to collect.
    pub spec: CollectSpec,
    /// Train/val/test weights per block of episodes.
    pub split: SplitRule,
    /// Episodes must be longer than this many frames.
    pub min_episode_length: usize,
    /// Labels whose entropy (nats) is below this are dropped.
    pub entropy_threshold: f64,
    /// Drop test frames identical to a train/val frame.
    pub dedup_test: bool,
    /// Target bytes of frame data per shard.
    pub shard_bytes: usize,
    /// Shard file format.
    pub format: dataset::ShardFormat,
    /// Output directory.
    pub out: PathBuf,
    /// Replace a non-empty output directory.
    pub force: bool,
}

impl DatasetRequest {
    /// A request with the AtariARI defaults (probe split 7/1/2, length > 64, entropy 0.6 nats,
    /// test dedup on).
    pub fn new(spec: CollectSpec, out: PathBuf) -> Self {
        DatasetRequest {
            spec,
            split: SplitRule {
                train: 7,
                val: 1,
                test: 2,
            },
            min_episode_length: filters::MIN_EPISODE_LEN,
            entropy_threshold: filters::ENTROPY_THRESHOLD,
            dedup_test: true,
            shard_bytes: dataset::DEFAULT_SHARD_BYTES,
            format: dataset::ShardFormat::Safetensors,
            out,
            force: false,
        }
    }
}

impl DatasetRequest {
    /// Checks everything about the request that can be checked before collecting: the
    /// collection spec, the split rule, the entropy threshold (a finite number of nats, at
    /// least 0), the shard size, and that each stream's share of the frames can hold an
    /// episode longer than `min_episode_length` (else every episode would be filtered out
    /// after the whole collection).
    pub fn validate(&self) -> Result<(), CollectError> {
        self.spec.validate()?;
        self.split.validate()?;
        let invalid = |reason: String| Err(CollectError::InvalidRequest { reason });
        if !self.entropy_threshold.is_finite() || self.entropy_threshold < 0.0 {
            return invalid(format!(
                "--entropy-threshold must be a finite number of nats >= 0 (got {}); the \
                 AtariARI value is {}",
                self.entropy_threshold,
                filters::ENTROPY_THRESHOLD
            ));
        }
        if self.shard_bytes == 0 {
            return invalid("the shard size must be at least 1 byte".into());
        }
        let per_stream = self.spec.frames / self.spec.streams.max(1) as usize;
        if per_stream <= self.min_episode_length {
            return invalid(format!(
                "{} frames over {} streams give each stream {per_stream} frames, so no episode \
                 can be longer than {} frames and every one would be filtered out: use fewer \
                 --streams or more --frames (at least {} frames per stream)",
                self.spec.frames,
                self.spec.streams,
                self.min_episode_length,
                self.min_episode_length + 1
            ));
        }
        Ok(())
    }
}

/// Creates an empty frame store sized for `spec` (capacity = requested frames; frame size from
/// the game's screen). Committing gigabytes takes seconds: `keep_going` is asked every 64 MiB
/// and a `false` makes it [`CollectError::Interrupted`].
pub fn store_for(
    spec: &CollectSpec,
    rom: &Rom,
    split: SplitRule,
    keep_going: &dyn Fn() -> bool,
) -> Result<Arc<FrameStore>, CollectError> {
    let label_bytes = dimua_atari::labels(spec.game).map_or(0, |l| l.len());
    let store_spec = StoreSpec {
        capacity_frames: spec.frames,
        frame_bytes: spec.frame_shape(rom)?.iter().product(),
        label_bytes,
        split,
        seed: spec.seed,
    };
    match FrameStore::new_interruptible(store_spec, keep_going) {
        Err(dimua_buffer::BufferError::Interrupted) => Err(CollectError::Interrupted),
        other => Ok(other?),
    }
}

/// Episodes and label columns that survive the AtariARI filters.
#[derive(Debug, Clone)]
pub struct Assembled {
    /// Kept episodes in canonical (stream, index) order, test frames deduplicated.
    pub episodes: Vec<filters::PlannedEpisode>,
    /// Labels that pass the entropy filter (the columns to use, in order).
    pub labels: Vec<dataset::LabelSpec>,
    /// Store label columns of `labels`.
    pub columns: Vec<usize>,
    /// Labels removed by the entropy filter.
    pub dropped_labels: Vec<dataset::LabelSpec>,
    /// What the filters removed.
    pub counts: filters::FilterCounts,
}

/// Applies the AtariARI post-processing to a filled store: episode length filter (`> min_len`),
/// entropy filter over all kept frames (before the split), and test-frame dedup.
pub fn assemble(
    store: &FrameStore,
    game: &'static dimua_atari::Game,
    min_episode_length: usize,
    entropy_threshold: f64,
    dedup_test: bool,
) -> Result<Assembled, CollectError> {
    let (mut episodes, mut counts) = filters::plan_episodes(store.episodes(), min_episode_length);
    if episodes.is_empty() {
        return Err(CollectError::InvalidRequest {
            reason: format!(
                "no episode longer than {min_episode_length} frames among {} collected frames: \
                 ask for more frames (or fewer --streams, so each stream runs longer)",
                store.frames_written()
            ),
        });
    }
    let entropies = filters::label_entropies(store, &episodes);
    let mut labels = Vec::new();
    let mut columns = Vec::new();
    let mut dropped_labels = Vec::new();
    for (col, spec) in dataset::label_specs(game, &entropies)
        .into_iter()
        .enumerate()
    {
        if spec.entropy >= entropy_threshold {
            labels.push(spec);
            columns.push(col);
        } else {
            dropped_labels.push(spec);
        }
    }
    if dedup_test {
        filters::dedup_test_frames(store, &mut episodes, &mut counts);
    }
    Ok(Assembled {
        episodes,
        labels,
        columns,
        dropped_labels,
        counts,
    })
}

/// Collects a dataset and writes it to `request.out`. On error or interruption nothing that
/// looks like a complete dataset is left behind.
pub fn collect_dataset(
    request: &DatasetRequest,
    rom: &Rom,
    progress: &CollectProgress,
) -> Result<(Manifest, CollectStats), CollectError> {
    request.validate()?;
    let output = dataset::prepare_output_dir(&request.out, request.force)?;
    let store = store_for(&request.spec, rom, request.split, &|| {
        !progress.stop.load(std::sync::atomic::Ordering::Relaxed)
    })?;
    let stats = collect_into(&request.spec, rom, &store, progress)?;

    let Assembled {
        episodes,
        labels: kept,
        columns,
        dropped_labels: dropped,
        counts,
    } = assemble(
        &store,
        request.spec.game,
        request.min_episode_length,
        request.entropy_threshold,
        request.dedup_test,
    )?;
    let [h, w, c] = request.spec.frame_shape(rom)?;
    let meta = dataset::DatasetMeta {
        game: request.spec.game,
        rom_md5: rom.md5.clone(),
        seed: request.spec.seed,
        streams: request.spec.streams,
        frames_collected: request.spec.frames as u64,
        frame_shape: [h, w, c],
        split: dataset::SplitEntry {
            train: request.split.train,
            val: request.split.val,
            test: request.split.test,
            rule: "whole episodes; within each stream, episode k takes slot k mod B of a \
                   permutation of the block's splits seeded by (seed, stream, k / B), \
                   B = train + val + test"
                .into(),
        },
        min_episode_length: request.min_episode_length,
        entropy_threshold: request.entropy_threshold,
        filtered: counts,
    };
    let manifest = dataset::write_dataset(
        output.work(),
        &store,
        &episodes,
        kept,
        dropped,
        &columns,
        &meta,
        request.shard_bytes,
        request.format,
        &progress.stop,
    )?;
    output.commit()?;
    Ok((manifest, stats))
}
