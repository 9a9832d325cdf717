//! The one interface every shard file format implements ([`ShardCodec`]), the shard layout
//! they all encode (five tensors in a fixed order), and [`ShardFormat`], the handle of a
//! registered codec that the writer is given and the reader finds from the manifest.

use std::fmt;
use std::io::{self, Write};
use std::path::Path;

use dimua_buffer::{FrameStore, Split};

use super::CODECS;
use crate::CollectError;

/// A shard file format: how the five shard tensors ([`Column`]) are laid out in one file.
/// Implementations are unit structs listed in the registry (`CODECS` in `dataset/mod.rs`).
pub(crate) trait ShardCodec: Sync {
    /// Name given to `--format` and shown in messages, e.g. `safetensors`.
    fn name(&self) -> &'static str;
    /// File extension of its shards, without the dot (by default the name); unique among the
    /// codecs, since the manifest records the format through the shard file names.
    fn extension(&self) -> &'static str {
        self.name()
    }
    /// Writes `rows` as one shard file at `path`, synced to disk; returns the file's size in
    /// bytes and its hex sha256. The bytes are deterministic: same rows, same file.
    fn write_shard(&self, path: &Path, rows: &ShardRows<'_>)
        -> Result<(u64, String), CollectError>;
    /// Decodes the whole file `bytes` (size and sha256 already checked against the manifest),
    /// checking every tensor's dtype and shape against `layout`. The error is the reason, for
    /// [`CollectError::CorruptShard`].
    fn read_shard(&self, bytes: &[u8], layout: &[Tensor; 5]) -> Result<ShardData, String>;
}

/// A shard file format: a handle to one registered shard codec. Parses from its name
/// (`"safetensors"`, `"npz"`); the default is the first registered codec (safetensors).
#[derive(Clone, Copy, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct ShardFormat(&'static dyn ShardCodec);

#[allow(non_upper_case_globals)]
impl ShardFormat {
    /// safetensors (`safetensors.numpy.load_file`, `safetensors.torch.load_file`).
    pub const Safetensors: ShardFormat = ShardFormat(&super::safetensors::Safetensors);
    /// numpy `.npz` (a zip of `.npy` arrays, stored uncompressed; `numpy.load`).
    pub const Npz: ShardFormat = ShardFormat(&super::npz::Npz);
}

impl ShardFormat {
    /// Every registered format, the default first.
    pub fn all() -> impl Iterator<Item = ShardFormat> {
        CODECS.iter().map(|&codec| ShardFormat(codec))
    }

    /// Name of the format (what `--format` takes).
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// File extension of a shard.
    pub fn extension(self) -> &'static str {
        self.0.extension()
    }

    /// The format whose shards have file extension `extension`, if one is registered.
    pub fn from_extension(extension: &str) -> Option<ShardFormat> {
        Self::all().find(|f| f.extension() == extension)
    }

    /// The registered names, for messages: `safetensors or npz`.
    pub fn names() -> String {
        let names: Vec<&str> = Self::all().map(ShardFormat::name).collect();
        names.join(" or ")
    }

    /// The codec that writes and reads this format.
    pub(crate) fn codec(self) -> &'static dyn ShardCodec {
        self.0
    }
}

impl Default for ShardFormat {
    fn default() -> Self {
        ShardFormat(CODECS[0])
    }
}

impl PartialEq for ShardFormat {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for ShardFormat {}

impl fmt::Debug for ShardFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for ShardFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ShardFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::all()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown dataset format {s:?}: use {}", ShardFormat::names()))
    }
}

impl TryFrom<String> for ShardFormat {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<ShardFormat> for String {
    fn from(format: ShardFormat) -> String {
        format.name().to_string()
    }
}

/// The tensors of a shard, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    /// u8, N x H x W x C.
    Frames,
    /// u8, N x K: the kept label columns.
    Labels,
    /// u32, N: episode id.
    Episode,
    /// u32, N: time step in the original episode.
    Step,
    /// u8, N: 0 train, 1 val, 2 test.
    Split,
}

impl Column {
    /// Tensor name inside the shard file.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Column::Frames => "frames",
            Column::Labels => "labels",
            Column::Episode => "episode",
            Column::Step => "step",
            Column::Split => "split",
        }
    }
}

/// Element type of a shard tensor (all little-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dtype {
    /// One byte.
    U8,
    /// Four bytes, little-endian.
    U32,
}

/// One tensor of a shard: which column, its element type and shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tensor {
    /// What it holds.
    pub column: Column,
    /// Its element type.
    pub dtype: Dtype,
    /// Its shape (C order).
    pub shape: Vec<usize>,
}

impl Tensor {
    /// Size of its data in bytes.
    pub(crate) fn bytes(&self) -> usize {
        let size = match self.dtype {
            Dtype::U8 => 1,
            Dtype::U32 => 4,
        };
        self.shape.iter().product::<usize>() * size
    }
}

/// The five tensors of a shard of `frames` frames of `frame_shape` with `labels` label
/// columns, in file order. Every codec writes and expects exactly these.
pub(crate) fn shard_layout(frames: usize, frame_shape: [usize; 3], labels: usize) -> [Tensor; 5] {
    let [h, w, c] = frame_shape;
    let tensor = |column, dtype, shape| Tensor {
        column,
        dtype,
        shape,
    };
    [
        tensor(Column::Frames, Dtype::U8, vec![frames, h, w, c]),
        tensor(Column::Labels, Dtype::U8, vec![frames, labels]),
        tensor(Column::Episode, Dtype::U32, vec![frames]),
        tensor(Column::Step, Dtype::U32, vec![frames]),
        tensor(Column::Split, Dtype::U8, vec![frames]),
    ]
}

/// A frame reference inside the store: (slot, episode id, step, split).
#[derive(Clone, Copy)]
pub(crate) struct Row {
    /// Slot of the frame and its labels in the store.
    pub slot: u32,
    /// Episode id written to the `episode` tensor.
    pub episode: u32,
    /// Time step written to the `step` tensor.
    pub step: u32,
    /// Split written to the `split` tensor.
    pub split: Split,
}

/// The frames of one shard, still in the frame store: what a codec writes.
pub(crate) struct ShardRows<'a> {
    /// The store holding the frames and labels.
    pub store: &'a FrameStore,
    /// The shard's frames, in file order.
    pub rows: &'a [Row],
    /// Store label columns to write, in order.
    pub label_columns: &'a [usize],
    /// Frame shape (H, W, C).
    pub frame_shape: [usize; 3],
}

impl ShardRows<'_> {
    /// The tensors to write, in file order.
    pub(crate) fn layout(&self) -> [Tensor; 5] {
        shard_layout(self.rows.len(), self.frame_shape, self.label_columns.len())
    }

    /// Streams the data of `column` (row by row, straight from the store) into `out`.
    pub(crate) fn write_column(&self, column: Column, out: &mut dyn Write) -> io::Result<()> {
        match column {
            Column::Frames => self
                .rows
                .iter()
                .try_for_each(|r| out.write_all(self.store.frame(r.slot))),
            Column::Labels => {
                let mut label_row = vec![0u8; self.label_columns.len()];
                self.rows.iter().try_for_each(|r| {
                    let all = self.store.labels(r.slot);
                    for (dst, &col) in label_row.iter_mut().zip(self.label_columns) {
                        *dst = all[col];
                    }
                    out.write_all(&label_row)
                })
            }
            Column::Episode => self
                .rows
                .iter()
                .try_for_each(|r| out.write_all(&r.episode.to_le_bytes())),
            Column::Step => self
                .rows
                .iter()
                .try_for_each(|r| out.write_all(&r.step.to_le_bytes())),
            Column::Split => self
                .rows
                .iter()
                .try_for_each(|r| out.write_all(&[r.split as u8])),
        }
    }
}

/// The tensors of one decoded shard.
pub(crate) struct ShardData {
    /// Frames, N x H x W x C.
    pub frames: Vec<u8>,
    /// Labels, N x K.
    pub labels: Vec<u8>,
    /// Episode id per frame.
    pub episode: Vec<u32>,
    /// Time step per frame.
    pub step: Vec<u32>,
    /// Split per frame.
    pub split: Vec<u8>,
}

impl ShardData {
    /// Assembles a shard from `tensor`, which returns the raw (little-endian) data of one
    /// tensor of `layout` after checking its dtype and shape; called in file order.
    pub(crate) fn decode(
        layout: &[Tensor; 5],
        mut tensor: impl FnMut(&Tensor) -> Result<Vec<u8>, String>,
    ) -> Result<ShardData, String> {
        let le32 = |b: Vec<u8>| -> Vec<u32> {
            b.chunks_exact(4)
                .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]))
                .collect()
        };
        let [frames, labels, episode, step, split] = layout;
        Ok(ShardData {
            frames: tensor(frames)?,
            labels: tensor(labels)?,
            episode: le32(tensor(episode)?),
            step: le32(tensor(step)?),
            split: tensor(split)?,
        })
    }
}
