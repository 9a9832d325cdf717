//! Writing a dataset: preparing the output directory, cutting the planned episodes into
//! shards (each written by the chosen codec under a temporary name, then renamed) and
//! writing `manifest.json` last, so a dataset is complete exactly when its manifest exists.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use dimua_atari::Game;
use dimua_buffer::{FrameStore, Split};
use dimua_core::outdir::OutputDir;

use super::codec::{Row, ShardFormat, ShardRows};
use super::manifest::{
    split_name, Counts, EpisodeEntry, LabelSpec, Manifest, ShardEntry, SplitEntry, FORMAT,
    FORMAT_VERSION, MANIFEST,
};
use crate::filters::{FilterCounts, PlannedEpisode};
use crate::CollectError;

/// Target size of one shard's frame data.
pub const DEFAULT_SHARD_BYTES: usize = 256 << 20;

/// Everything the writer needs besides the frames.
#[derive(Debug, Clone)]
pub struct DatasetMeta {
    /// The game.
    pub game: &'static Game,
    /// md5 of the ROM used.
    pub rom_md5: String,
    /// Master seed.
    pub seed: u64,
    /// Environment streams.
    pub streams: u32,
    /// Frames requested.
    pub frames_collected: u64,
    /// Frame shape (H, W, C).
    pub frame_shape: [usize; 3],
    /// Split rule.
    pub split: SplitEntry,
    /// Minimum episode length used.
    pub min_episode_length: usize,
    /// Entropy threshold used.
    pub entropy_threshold: f64,
    /// Filter counts.
    pub filtered: FilterCounts,
}

/// Whether `name` is an entry dimua writes in a dataset directory (the manifest, shards,
/// temporary and lock files): `--force` replaces only directories holding nothing else.
pub fn is_dataset_file(name: &str) -> bool {
    name == MANIFEST
        || name.starts_with("shard-")
        || (name.starts_with('.') && name.ends_with(".tmp"))
}

/// Prepares and locks `dir` for a new dataset ([`dimua_core::outdir`]): absent or empty, the
/// dataset is written into it; non-empty, refused unless `force`, and with `force` (and only
/// dimua's files there) the new dataset is written beside it and replaces it at
/// [`OutputDir::commit`], so a failed or interrupted `--force` leaves the old one intact.
/// Writability is checked now rather than after minutes of collection.
pub fn prepare_output_dir(dir: &Path, force: bool) -> Result<OutputDir, CollectError> {
    let output = OutputDir::prepare(dir, force, is_dataset_file, false)?;
    let probe = output.work().join(".dimua-write-test.tmp");
    File::create(&probe).map_err(|e| CollectError::io("write into", dir, e))?;
    let _ = fs::remove_file(&probe);
    Ok(output)
}

/// Writes the planned episodes of `store` as a dataset into `dir` (already prepared with
/// [`prepare_output_dir`]). Only the label columns in `label_columns` are written, described by
/// `labels`. If `stop` becomes true the partial output is removed and `Interrupted` returned.
#[allow(clippy::too_many_arguments)]
pub fn write_dataset(
    dir: &Path,
    store: &FrameStore,
    episodes: &[PlannedEpisode],
    labels: Vec<LabelSpec>,
    dropped_labels: Vec<LabelSpec>,
    label_columns: &[usize],
    meta: &DatasetMeta,
    shard_bytes: usize,
    format: ShardFormat,
    stop: &AtomicBool,
) -> Result<Manifest, CollectError> {
    let frame_bytes = meta.frame_shape.iter().product::<usize>().max(1);
    let per_shard = (shard_bytes / frame_bytes).max(1);

    let mut rows = Vec::new();
    let mut entries = Vec::with_capacity(episodes.len());
    let mut counts = Counts {
        frames_collected: meta.frames_collected,
        frames: 0,
        episodes: episodes.len() as u64,
        train_frames: 0,
        val_frames: 0,
        test_frames: 0,
    };
    for (id, e) in episodes.iter().enumerate() {
        entries.push(EpisodeEntry {
            id: id as u32,
            stream: e.stream,
            index_in_stream: e.index_in_stream,
            split: split_name(e.split).to_string(),
            length: e.slots.len() as u32,
            first_frame: rows.len() as u64,
        });
        let n = e.slots.len() as u64;
        match e.split {
            Split::Train => counts.train_frames += n,
            Split::Val => counts.val_frames += n,
            Split::Test => counts.test_frames += n,
        }
        for (&slot, &step) in e.slots.iter().zip(&e.steps) {
            rows.push(Row {
                slot,
                episode: id as u32,
                step,
                split: e.split,
            });
        }
    }
    counts.frames = rows.len() as u64;

    let mut shards = Vec::new();
    let mut written_paths = Vec::new();
    let cleanup = |paths: &[PathBuf]| {
        for p in paths {
            let _ = fs::remove_file(p);
        }
    };
    for (i, chunk) in rows.chunks(per_shard).enumerate() {
        if stop.load(Ordering::Relaxed) {
            cleanup(&written_paths);
            return Err(CollectError::Interrupted);
        }
        let name = format!("shard-{i:05}.{}", format.extension());
        let tmp = dir.join(format!(".{name}.tmp"));
        let result = format.codec().write_shard(
            &tmp,
            &ShardRows {
                store,
                rows: chunk,
                label_columns,
                frame_shape: meta.frame_shape,
            },
        );
        let (bytes, sha256) = match result {
            Ok(v) => v,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                cleanup(&written_paths);
                return Err(e);
            }
        };
        let final_path = dir.join(&name);
        fs::rename(&tmp, &final_path).map_err(|e| CollectError::io("rename", &tmp, e))?;
        written_paths.push(final_path);
        shards.push(ShardEntry {
            file: name,
            frames: chunk.len() as u64,
            first_frame: (i * per_shard) as u64,
            bytes,
            sha256,
        });
    }

    let manifest = Manifest {
        format: FORMAT.to_string(),
        version: FORMAT_VERSION,
        game: meta.game.name.to_string(),
        rom_md5: meta.rom_md5.clone(),
        seed: meta.seed,
        streams: meta.streams,
        frame_shape: meta.frame_shape,
        labels,
        dropped_labels,
        split: meta.split.clone(),
        min_episode_length: meta.min_episode_length,
        entropy_threshold: meta.entropy_threshold,
        filtered: meta.filtered.clone(),
        counts,
        episodes: entries,
        shards,
    };
    if stop.load(Ordering::Relaxed) {
        cleanup(&written_paths);
        return Err(CollectError::Interrupted);
    }
    let text = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
    let tmp = dir.join(".manifest.json.tmp");
    let path = dir.join(MANIFEST);
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        fs::rename(&tmp, &path)
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        cleanup(&written_paths);
        return Err(CollectError::io("write", &path, e));
    }
    Ok(manifest)
}
