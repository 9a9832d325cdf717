//! AtariARI datasets on disk: `manifest.json` plus safetensors shards (frames, labels,
//! episode, step, split), written to temporary names and renamed when complete, and read back
//! with every shard's sha256 verified.
//!
//! A dataset is complete exactly when `manifest.json` exists: shards are written first (each
//! under a temporary name, then renamed), the manifest last. An interrupted write leaves no
//! manifest, so it can never be mistaken for a dataset.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use dimua_atari::{labels as game_labels, Game};
use dimua_buffer::{FrameStore, Split, SplitRule, StoreSpec};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::filters::{FilterCounts, PlannedEpisode};
use crate::CollectError;

/// Name of the manifest file inside a dataset directory.
pub const MANIFEST: &str = "manifest.json";
/// Format identifier stored in every manifest.
pub const FORMAT: &str = "dimua-atariari-dataset";
/// Current format version.
pub const FORMAT_VERSION: u32 = 1;
/// Target size of one shard's frame data.
pub const DEFAULT_SHARD_BYTES: usize = 256 << 20;

/// File format of the shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShardFormat {
    /// safetensors (`safetensors.numpy.load_file`, `safetensors.torch.load_file`).
    #[default]
    Safetensors,
    /// numpy `.npz` (a zip of `.npy` arrays, stored uncompressed; `numpy.load`).
    Npz,
}

impl ShardFormat {
    /// File extension of a shard.
    pub fn extension(self) -> &'static str {
        match self {
            ShardFormat::Safetensors => "safetensors",
            ShardFormat::Npz => "npz",
        }
    }
}

impl std::str::FromStr for ShardFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "safetensors" => Ok(ShardFormat::Safetensors),
            "npz" => Ok(ShardFormat::Npz),
            _ => Err(format!(
                "unknown dataset format {s:?}: use safetensors or npz"
            )),
        }
    }
}

/// One label column of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelSpec {
    /// AtariARI label name (e.g. `player_y`).
    pub name: String,
    /// RAM byte it reads.
    pub ram_index: u8,
    /// Summary categories it belongs to (zero, one or two).
    pub categories: Vec<String>,
    /// Entropy over the whole dataset, in nats.
    pub entropy: f64,
}

/// One episode of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeEntry {
    /// Episode id (the value of the `episode` tensor).
    pub id: u32,
    /// Environment stream that produced it.
    pub stream: u32,
    /// Position among that stream's episodes (before filtering).
    pub index_in_stream: u32,
    /// `train`, `val` or `test`.
    pub split: String,
    /// Frames stored.
    pub length: u32,
    /// Index of its first frame in the concatenated shards.
    pub first_frame: u64,
}

/// One shard file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// File name inside the dataset directory.
    pub file: String,
    /// Frames it holds.
    pub frames: u64,
    /// Index of its first frame in the concatenated shards.
    pub first_frame: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// Hex sha256 of the whole file.
    pub sha256: String,
}

/// Frame and episode counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Frames requested (`--frames`), before filtering.
    pub frames_collected: u64,
    /// Frames stored.
    pub frames: u64,
    /// Episodes stored.
    pub episodes: u64,
    /// Frames per split.
    pub train_frames: u64,
    /// Frames per split.
    pub val_frames: u64,
    /// Frames per split.
    pub test_frames: u64,
}

/// How episodes were assigned to splits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitEntry {
    /// Weight of train in each block of episodes.
    pub train: u32,
    /// Weight of val.
    pub val: u32,
    /// Weight of test.
    pub test: u32,
    /// The rule in words.
    pub rule: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Format version ([`FORMAT_VERSION`]).
    pub version: u32,
    /// ALE ROM name of the game.
    pub game: String,
    /// md5 of the ROM dump used.
    pub rom_md5: String,
    /// Master seed.
    pub seed: u64,
    /// Environment streams.
    pub streams: u32,
    /// Frame shape, height x width x channels.
    pub frame_shape: [usize; 3],
    /// Label columns, in the order of the `labels` tensor's columns.
    pub labels: Vec<LabelSpec>,
    /// Labels removed by the entropy filter.
    pub dropped_labels: Vec<LabelSpec>,
    /// Split assignment.
    pub split: SplitEntry,
    /// Filter settings.
    pub min_episode_length: usize,
    /// Entropy threshold in nats.
    pub entropy_threshold: f64,
    /// What the filters removed.
    pub filtered: FilterCounts,
    /// Counts.
    pub counts: Counts,
    /// Episodes, in file order.
    pub episodes: Vec<EpisodeEntry>,
    /// Shards, in file order.
    pub shards: Vec<ShardEntry>,
}

/// Name of a split as stored in manifests.
pub fn split_name(split: Split) -> &'static str {
    match split {
        Split::Train => "train",
        Split::Val => "val",
        Split::Test => "test",
    }
}

/// Parses a split name from a manifest.
pub fn parse_split(name: &str) -> Option<Split> {
    match name {
        "train" => Some(Split::Train),
        "val" => Some(Split::Val),
        "test" => Some(Split::Test),
        _ => None,
    }
}

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

/// Prepares `dir` for a new dataset: creates it, or refuses a non-empty one unless `force`
/// (then the old manifest goes first, so a half-replaced dataset never looks complete).
pub fn prepare_output_dir(dir: &Path, force: bool) -> Result<(), CollectError> {
    if dir.exists() {
        if !dir.is_dir() {
            return Err(CollectError::InvalidRequest {
                reason: format!("--out {} exists and is not a directory", dir.display()),
            });
        }
        let entries: Vec<_> = fs::read_dir(dir)
            .map_err(|e| CollectError::io("read directory", dir, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| CollectError::io("read directory", dir, e))?;
        if !entries.is_empty() {
            if !force {
                return Err(CollectError::OutputNotEmpty {
                    path: dir.to_path_buf(),
                });
            }
            let manifest = dir.join(MANIFEST);
            if manifest.exists() {
                fs::remove_file(&manifest).map_err(|e| CollectError::io("remove", &manifest, e))?;
            }
            for entry in entries {
                let path = entry.path();
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let ours = name.starts_with("shard-")
                    || name.starts_with(".shard-")
                    || name.ends_with(".tmp");
                if ours && path.is_file() {
                    fs::remove_file(&path).map_err(|e| CollectError::io("remove", &path, e))?;
                }
            }
        }
    } else {
        fs::create_dir_all(dir).map_err(|e| CollectError::io("create directory", dir, e))?;
    }
    // Probe writability now rather than after minutes of collection.
    let probe = dir.join(".dimua-write-test.tmp");
    File::create(&probe).map_err(|e| CollectError::io("write into", dir, e))?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

/// A writer that hashes everything it writes.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// One tensor of a safetensors file: name, dtype, shape, byte length.
struct TensorHeader<'a> {
    name: &'a str,
    dtype: &'a str,
    shape: Vec<usize>,
    bytes: usize,
}

/// Serialises a safetensors header (tensors in the given order; deterministic).
fn safetensors_header(tensors: &[TensorHeader<'_>]) -> Vec<u8> {
    let mut json = String::from("{");
    let mut offset = 0usize;
    for (i, t) in tensors.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        let shape: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
        json.push_str(&format!(
            "\"{}\":{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            t.name,
            t.dtype,
            shape.join(","),
            offset,
            offset + t.bytes
        ));
        offset += t.bytes;
    }
    json.push('}');
    let mut bytes = json.into_bytes();
    // The data section starts 8-byte aligned; the format pads the header with spaces.
    while (8 + bytes.len()) % 8 != 0 {
        bytes.push(b' ');
    }
    let mut out = (bytes.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&bytes);
    out
}

/// A frame reference inside the store: (slot, episode id, step, split).
#[derive(Clone, Copy)]
struct Row {
    slot: u32,
    episode: u32,
    step: u32,
    split: Split,
}

fn write_shard(
    path: &Path,
    store: &FrameStore,
    rows: &[Row],
    label_columns: &[usize],
    frame_shape: [usize; 3],
) -> Result<(u64, String), CollectError> {
    let n = rows.len();
    let k = label_columns.len();
    let frame_bytes = frame_shape.iter().product::<usize>();
    let header = safetensors_header(&[
        TensorHeader {
            name: "frames",
            dtype: "U8",
            shape: vec![n, frame_shape[0], frame_shape[1], frame_shape[2]],
            bytes: n * frame_bytes,
        },
        TensorHeader {
            name: "labels",
            dtype: "U8",
            shape: vec![n, k],
            bytes: n * k,
        },
        TensorHeader {
            name: "episode",
            dtype: "U32",
            shape: vec![n],
            bytes: n * 4,
        },
        TensorHeader {
            name: "step",
            dtype: "U32",
            shape: vec![n],
            bytes: n * 4,
        },
        TensorHeader {
            name: "split",
            dtype: "U8",
            shape: vec![n],
            bytes: n,
        },
    ]);
    let file = File::create(path).map_err(|e| CollectError::io("create", path, e))?;
    let mut w = HashingWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        written: 0,
    };
    let io = |e| CollectError::io("write", path, e);
    w.write_all(&header).map_err(io)?;
    for r in rows {
        w.write_all(store.frame(r.slot)).map_err(io)?;
    }
    let mut label_row = vec![0u8; k];
    for r in rows {
        let all = store.labels(r.slot);
        for (dst, &col) in label_row.iter_mut().zip(label_columns) {
            *dst = all[col];
        }
        w.write_all(&label_row).map_err(io)?;
    }
    for r in rows {
        w.write_all(&r.episode.to_le_bytes()).map_err(io)?;
    }
    for r in rows {
        w.write_all(&r.step.to_le_bytes()).map_err(io)?;
    }
    for r in rows {
        w.write_all(&[r.split as u8]).map_err(io)?;
    }
    w.flush().map_err(io)?;
    let written = w.written;
    let digest = w.hasher.finalize();
    let file = w.inner.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok((written, hex::encode(digest)))
}

/// A `.npy` (format 1.0) header for a C-order array of `descr` (e.g. `|u1`, `<u4`) and `shape`.
fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut dict =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    // magic (6) + version (2) + length (2) + dict + '\n' is a multiple of 64.
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Parses a `.npy` (format 1.0/2.0) header: returns (descr, shape, data offset).
fn parse_npy(bytes: &[u8]) -> Result<(String, Vec<usize>, usize), String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy array".into());
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = std::str::from_utf8(
        bytes
            .get(start..start + len)
            .ok_or("truncated .npy header")?,
    )
    .map_err(|_| "non-UTF-8 .npy header")?;
    let field = |key: &str| -> Result<&str, String> {
        let at = header
            .find(key)
            .ok_or(format!("{key} missing in .npy header"))?
            + key.len();
        Ok(header[at..].trim_start_matches([':', ' ', '\'']))
    };
    let descr = field("'descr'")?;
    let descr = descr[..descr.find('\'').ok_or("bad descr")?].to_string();
    if field("'fortran_order'")?.starts_with("True") {
        return Err("Fortran-order arrays are not supported".into());
    }
    let shape = field("'shape'")?;
    let shape =
        &shape[shape.find('(').ok_or("bad shape")? + 1..shape.find(')').ok_or("bad shape")?];
    let shape = shape
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.parse::<usize>()
                .map_err(|_| format!("bad dimension {d:?}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((descr, shape, start + len))
}

fn write_npz_shard(
    path: &Path,
    store: &FrameStore,
    rows: &[Row],
    label_columns: &[usize],
    frame_shape: [usize; 3],
) -> Result<(u64, String), CollectError> {
    let io = |e: std::io::Error| CollectError::io("write", path, e);
    let zip_err =
        |e: zip::result::ZipError| CollectError::io("write", path, std::io::Error::other(e));
    let n = rows.len();
    let k = label_columns.len();
    let file = File::create(path).map_err(io)?;
    let mut zip = zip::ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default())
        .large_file(true);
    let mut entry = |name: &str,
                     descr: &str,
                     shape: Vec<usize>,
                     fill: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>|
     -> Result<(), CollectError> {
        zip.start_file(name, options).map_err(zip_err)?;
        zip.write_all(&npy_header(descr, &shape)).map_err(io)?;
        fill(&mut zip).map_err(io)
    };
    let [h, w, c] = frame_shape;
    entry("frames.npy", "|u1", vec![n, h, w, c], &mut |out| {
        rows.iter()
            .try_for_each(|r| out.write_all(store.frame(r.slot)))
    })?;
    entry("labels.npy", "|u1", vec![n, k], &mut |out| {
        rows.iter().try_for_each(|r| {
            let all = store.labels(r.slot);
            let row: Vec<u8> = label_columns.iter().map(|&col| all[col]).collect();
            out.write_all(&row)
        })
    })?;
    entry("episode.npy", "<u4", vec![n], &mut |out| {
        rows.iter()
            .try_for_each(|r| out.write_all(&r.episode.to_le_bytes()))
    })?;
    entry("step.npy", "<u4", vec![n], &mut |out| {
        rows.iter()
            .try_for_each(|r| out.write_all(&r.step.to_le_bytes()))
    })?;
    entry("split.npy", "|u1", vec![n], &mut |out| {
        rows.iter()
            .try_for_each(|r| out.write_all(&[r.split as u8]))
    })?;
    let buffered = zip.finish().map_err(zip_err)?;
    let file = buffered.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    drop(file);
    let bytes = fs::read(path).map_err(|e| CollectError::io("read", path, e))?;
    Ok((bytes.len() as u64, hex::encode(Sha256::digest(&bytes))))
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
        let result = match format {
            ShardFormat::Safetensors => {
                write_shard(&tmp, store, chunk, label_columns, meta.frame_shape)
            }
            ShardFormat::Npz => {
                write_npz_shard(&tmp, store, chunk, label_columns, meta.frame_shape)
            }
        };
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

/// The tensors of one verified shard.
struct ShardData {
    frames: Vec<u8>,
    labels: Vec<u8>,
    episode: Vec<u32>,
    step: Vec<u32>,
    split: Vec<u8>,
}

/// Reads one shard, checking its size, sha256 and tensor dtypes/shapes against the manifest.
fn read_shard(
    dir: &Path,
    shard: &ShardEntry,
    manifest: &Manifest,
) -> Result<ShardData, CollectError> {
    use safetensors::Dtype;
    let [h, w, c] = manifest.frame_shape;
    let k = manifest.labels.len();
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
    let m = shard.frames as usize;
    let le32 = |b: Vec<u8>| -> Vec<u32> {
        b.chunks_exact(4)
            .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]))
            .collect()
    };
    if shard.file.ends_with(".npz") {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes))
            .map_err(|e| corrupt(format!("not a valid .npz (zip) file: {e}")))?;
        let mut get =
            |name: &str, descr: &str, shape: Vec<usize>| -> Result<Vec<u8>, CollectError> {
                let mut entry = archive
                    .by_name(&format!("{name}.npy"))
                    .map_err(|_| corrupt(format!("array {name:?} missing")))?;
                let mut raw = Vec::new();
                entry
                    .read_to_end(&mut raw)
                    .map_err(|e| corrupt(format!("array {name:?} unreadable: {e}")))?;
                let (d, s, offset) =
                    parse_npy(&raw).map_err(|e| corrupt(format!("array {name:?}: {e}")))?;
                if d != descr || s != shape {
                    return Err(corrupt(format!(
                        "array {name:?} is {d} {s:?}, expected {descr} {shape:?}"
                    )));
                }
                Ok(raw[offset..].to_vec())
            };
        return Ok(ShardData {
            frames: get("frames", "|u1", vec![m, h, w, c])?,
            labels: get("labels", "|u1", vec![m, k])?,
            episode: le32(get("episode", "<u4", vec![m])?),
            step: le32(get("step", "<u4", vec![m])?),
            split: get("split", "|u1", vec![m])?,
        });
    }
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| corrupt(format!("not a valid safetensors file: {e}")))?;
    let get = |name: &str, dtype: Dtype, shape: Vec<usize>| {
        let t = st
            .tensor(name)
            .map_err(|_| corrupt(format!("tensor {name:?} missing")))?;
        if t.dtype() != dtype || t.shape() != shape.as_slice() {
            return Err(corrupt(format!(
                "tensor {name:?} is {:?} {:?}, expected {dtype:?} {shape:?}",
                t.dtype(),
                t.shape()
            )));
        }
        Ok(t.data().to_vec())
    };
    Ok(ShardData {
        frames: get("frames", Dtype::U8, vec![m, h, w, c])?,
        labels: get("labels", Dtype::U8, vec![m, k])?,
        episode: le32(get("episode", Dtype::U32, vec![m])?),
        step: le32(get("step", Dtype::U32, vec![m])?),
        split: get("split", Dtype::U8, vec![m])?,
    })
}

/// Label specs (name, RAM index, categories) of a game, with entropies filled in.
pub fn label_specs(game: &Game, entropies: &[f64]) -> Vec<LabelSpec> {
    game_labels(game)
        .unwrap_or_default()
        .iter()
        .zip(entropies.iter().copied().chain(std::iter::repeat(0.0)))
        .map(|(l, entropy)| LabelSpec {
            name: l.name.to_string(),
            ram_index: l.ram_index,
            categories: l
                .categories
                .iter()
                .map(|c| c.as_str().to_string())
                .collect(),
            entropy,
        })
        .collect()
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
    /// Reads only and validates the manifest of `dir`.
    pub fn read_manifest(dir: &Path) -> Result<Manifest, CollectError> {
        let path = dir.join(MANIFEST);
        if !path.exists() {
            return Err(CollectError::NotADataset {
                path: dir.to_path_buf(),
            });
        }
        let text = fs::read_to_string(&path).map_err(|e| CollectError::io("read", &path, e))?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| CollectError::CorruptManifest {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        let bad = |reason: String| CollectError::CorruptManifest {
            path: path.clone(),
            reason,
        };
        if manifest.format != FORMAT {
            return Err(bad(format!(
                "format is {:?}, expected {FORMAT:?}",
                manifest.format
            )));
        }
        if manifest.version != FORMAT_VERSION {
            return Err(bad(format!(
                "format version {} is not supported (this dimua reads version {FORMAT_VERSION})",
                manifest.version
            )));
        }
        let shard_frames: u64 = manifest.shards.iter().map(|s| s.frames).sum();
        if shard_frames != manifest.counts.frames {
            return Err(bad(format!(
                "shards hold {shard_frames} frames but counts.frames is {}",
                manifest.counts.frames
            )));
        }
        Ok(manifest)
    }

    /// Opens a dataset: reads the manifest, verifies every shard's size and sha256, and loads
    /// all tensors.
    pub fn open(dir: &Path) -> Result<Self, CollectError> {
        let manifest = Self::read_manifest(dir)?;
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
            let data = read_shard(dir, shard, &ds.manifest)?;
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
        let manifest = Self::read_manifest(dir)?;
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
            let data = read_shard(dir, shard, &manifest)?;
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
