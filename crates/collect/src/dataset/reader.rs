//! Reading a dataset back: the manifest (validated before any shard is opened), then every
//! shard, its size and sha256 checked against the manifest and its tensors decoded by the
//! codec of the format the manifest records, into a [`Dataset`] or straight into a
//! [`FrameStore`].

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dimua_buffer::{FrameStore, Split, SplitRule, StoreSpec};
use sha2::{Digest, Sha256};

use super::codec::{shard_layout, ShardCodec, ShardData};
use super::manifest::{parse_split, EpisodeEntry, Manifest, ShardEntry, MANIFEST};
use crate::CollectError;

/// Reads and validates the manifest of `dir`; returns it with the codec of the shard format
/// it records.
fn read_manifest_and_codec(
    dir: &Path,
) -> Result<(Manifest, &'static dyn ShardCodec), CollectError> {
    let path = dir.join(MANIFEST);
    if !path.exists() {
        return Err(CollectError::NotADataset {
            path: dir.to_path_buf(),
        });
    }
    let text = fs::read_to_string(&path).map_err(|e| CollectError::io("read", &path, e))?;
    let bad = |reason: String| CollectError::CorruptManifest {
        path: path.clone(),
        reason,
    };
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let format = manifest.validate().map_err(bad)?;
    Ok((manifest, format.codec()))
}

/// Reads one shard with `codec`, checking its size, sha256 and tensor dtypes/shapes against
/// the manifest. `shard.file` is a plain file name ([`Manifest::validate`] checked it).
fn read_shard(
    dir: &Path,
    shard: &ShardEntry,
    manifest: &Manifest,
    codec: &dyn ShardCodec,
) -> Result<ShardData, CollectError> {
    let path = dir.join(&shard.file);
    let corrupt = |reason: String| CollectError::CorruptShard {
        path: path.clone(),
        reason,
    };
    let mut bytes = Vec::new();
    File::open(&path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| corrupt(format!("cannot read: {e}")))?;
    if bytes.len() as u64 != shard.bytes {
        return Err(corrupt(format!(
            "size is {} bytes, manifest says {} (truncated or replaced)",
            bytes.len(),
            shard.bytes
        )));
    }
    let digest = hex::encode(Sha256::digest(&bytes));
    if digest != shard.sha256 {
        return Err(corrupt(format!(
            "sha256 is {digest}, manifest says {} (modified after writing)",
            shard.sha256
        )));
    }
    let layout = shard_layout(
        shard.frames as usize,
        manifest.frame_shape,
        manifest.labels.len(),
    );
    codec.read_shard(&bytes, &layout).map_err(corrupt)
}

/// A dataset read back from disk, every shard verified.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// All frames, N x H x W x C, concatenated over shards.
    pub frames: Vec<u8>,
    /// All labels, N x K.
    pub labels: Vec<u8>,
    /// Episode id of each frame.
    pub episode: Vec<u32>,
    /// Time step of each frame within its episode.
    pub step: Vec<u32>,
    /// Split of each frame (0 train, 1 val, 2 test).
    pub split: Vec<u8>,
}

impl Dataset {
    /// Reads only and validates the manifest of `dir` (see [`Manifest::validate`]).
    pub fn read_manifest(dir: &Path) -> Result<Manifest, CollectError> {
        Ok(read_manifest_and_codec(dir)?.0)
    }

    /// Opens a dataset: reads the manifest, verifies every shard's size and sha256, and loads
    /// all tensors.
    pub fn open(dir: &Path) -> Result<Self, CollectError> {
        let (manifest, codec) = read_manifest_and_codec(dir)?;
        let n = manifest.counts.frames as usize;
        let mut ds = Dataset {
            dir: dir.to_path_buf(),
            frames: Vec::with_capacity(n * manifest.frame_shape.iter().product::<usize>()),
            labels: Vec::with_capacity(n * manifest.labels.len()),
            episode: Vec::with_capacity(n),
            step: Vec::with_capacity(n),
            split: Vec::with_capacity(n),
            manifest,
        };
        for shard in &ds.manifest.shards {
            let data = read_shard(dir, shard, &ds.manifest, codec)?;
            ds.frames.extend_from_slice(&data.frames);
            ds.labels.extend_from_slice(&data.labels);
            ds.episode.extend(data.episode);
            ds.step.extend(data.step);
            ds.split.extend(data.split);
        }
        ds.check_episodes()?;
        Ok(ds)
    }

    /// Opens a dataset straight into a closed [`FrameStore`] (one shard in memory at a time),
    /// every shard verified, episodes published with the splits recorded on disk. Stream
    /// numbers and episode order are those of the manifest.
    pub fn open_into_store(dir: &Path) -> Result<(Manifest, Arc<FrameStore>), CollectError> {
        let (manifest, codec) = read_manifest_and_codec(dir)?;
        let store = FrameStore::new(StoreSpec {
            capacity_frames: (manifest.counts.frames as usize).max(1),
            frame_bytes: manifest.frame_shape.iter().product(),
            label_bytes: manifest.labels.len(),
            split: SplitRule {
                train: manifest.split.train,
                val: manifest.split.val,
                test: manifest.split.test,
            },
            seed: manifest.seed,
        })?;
        let corrupt = |reason: String| CollectError::CorruptManifest {
            path: dir.join(MANIFEST),
            reason,
        };
        let mut writers: HashMap<u32, dimua_buffer::EpisodeWriter> = HashMap::new();
        let mut episodes = manifest.episodes.iter().peekable();
        let mut pending: Option<(&EpisodeEntry, Split, u32)> = None;
        for shard in &manifest.shards {
            let data = read_shard(dir, shard, &manifest, codec)?;
            let frame_bytes = store.spec().frame_bytes;
            let k = store.spec().label_bytes;
            for i in 0..data.episode.len() {
                if pending.is_none() {
                    let e = episodes.next().ok_or_else(|| {
                        corrupt("shards hold more frames than the episodes list".into())
                    })?;
                    let split = parse_split(&e.split).ok_or_else(|| {
                        corrupt(format!("episode {} has split {:?}", e.id, e.split))
                    })?;
                    pending = Some((e, split, 0));
                }
                let (e, split, done) = pending.as_mut().expect("set above");
                if data.episode[i] != e.id || data.split[i] != *split as u8 {
                    return Err(corrupt(format!(
                        "frame {} of {} does not belong to episode {} as the manifest says",
                        i, shard.file, e.id
                    )));
                }
                let writer = match writers.entry(e.stream) {
                    std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(store.try_writer(e.stream)?)
                    }
                };
                writer.push(
                    &data.frames[i * frame_bytes..(i + 1) * frame_bytes],
                    &data.labels[i * k..(i + 1) * k],
                )?;
                *done += 1;
                if *done == e.length {
                    writer.end_episode_with_split(*split);
                    pending = None;
                }
            }
        }
        if pending.is_some() || episodes.next().is_some() {
            return Err(corrupt(
                "the episodes list runs past the shards' frames".into(),
            ));
        }
        store.close();
        Ok((manifest, store))
    }

    fn check_episodes(&self) -> Result<(), CollectError> {
        let bad = |reason: String| CollectError::CorruptManifest {
            path: self.dir.join(MANIFEST),
            reason,
        };
        for e in &self.manifest.episodes {
            let split = parse_split(&e.split)
                .ok_or_else(|| bad(format!("episode {} has split {:?}", e.id, e.split)))?;
            let range = e.first_frame as usize..(e.first_frame + u64::from(e.length)) as usize;
            if range.end > self.episode.len() {
                return Err(bad(format!("episode {} runs past the last frame", e.id)));
            }
            if self.episode[range.clone()].iter().any(|&x| x != e.id)
                || self.split[range].iter().any(|&x| x != split as u8)
            {
                return Err(bad(format!(
                    "episode {} does not match the shards' episode/split tensors",
                    e.id
                )));
            }
        }
        Ok(())
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.episode.len()
    }

    /// True when the dataset holds no frame.
    pub fn is_empty(&self) -> bool {
        self.episode.is_empty()
    }

    /// Bytes of one frame.
    pub fn frame_bytes(&self) -> usize {
        self.manifest.frame_shape.iter().product()
    }

    /// The bytes of frame `i`.
    pub fn frame(&self, i: usize) -> &[u8] {
        let b = self.frame_bytes();
        &self.frames[i * b..(i + 1) * b]
    }

    /// The label bytes of frame `i`.
    pub fn label_row(&self, i: usize) -> &[u8] {
        let k = self.manifest.labels.len();
        &self.labels[i * k..(i + 1) * k]
    }
}
