//! The `manifest.json` schema (what a dataset holds: game, labels, splits, episodes, shards)
//! and its validation, including the shard format the manifest records.

use std::path::{Component, Path};

use dimua_atari::{labels as game_labels, Game};
use dimua_buffer::Split;
use serde::{Deserialize, Serialize};

use super::codec::ShardFormat;
use crate::filters::FilterCounts;

/// Name of the manifest file inside a dataset directory.
pub const MANIFEST: &str = "manifest.json";
/// Format identifier stored in every manifest.
pub const FORMAT: &str = "dimua-atariari-dataset";
/// Current format version.
pub const FORMAT_VERSION: u32 = 1;

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

impl Manifest {
    /// Checks what the reader relies on before it opens any shard: the format identifier and
    /// version, the shards' frames against `counts.frames`, every shard file a plain name inside
    /// the dataset directory, and one registered shard format for all shards, which it returns.
    /// The error is the reason, for
    /// [`CollectError::CorruptManifest`](crate::CollectError::CorruptManifest).
    pub fn validate(&self) -> Result<ShardFormat, String> {
        if self.format != FORMAT {
            return Err(format!("format is {:?}, expected {FORMAT:?}", self.format));
        }
        if self.version != FORMAT_VERSION {
            return Err(format!(
                "format version {} is not supported (this dimua reads version {FORMAT_VERSION})",
                self.version
            ));
        }
        let shard_frames: u64 = self.shards.iter().map(|s| s.frames).sum();
        if shard_frames != self.counts.frames {
            return Err(format!(
                "shards hold {shard_frames} frames but counts.frames is {}",
                self.counts.frames
            ));
        }
        for shard in &self.shards {
            if !is_plain_file_name(&shard.file) {
                return Err(format!(
                    "shard {:?} is not a file name inside the dataset directory, so it is not \
                     opened (the manifest is corrupt or was hand-edited)",
                    shard.file
                ));
            }
        }
        self.shard_format()
    }

    /// The shard format this manifest records. There is no field for it (adding one would
    /// change the frozen manifest bytes): the writer records it in every shard entry's file
    /// name, `shard-NNNNN.<extension>`, and all shards of a dataset share one format. A
    /// manifest without shards reads as the default format (there is nothing to decode).
    pub fn shard_format(&self) -> Result<ShardFormat, String> {
        let mut found: Option<ShardFormat> = None;
        for shard in &self.shards {
            let extension = Path::new(&shard.file)
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or_default();
            let format = ShardFormat::from_extension(extension).ok_or_else(|| {
                format!(
                    "shard {:?} is in no known shard format (known: {})",
                    shard.file,
                    ShardFormat::names()
                )
            })?;
            match found {
                Some(first) if first != format => {
                    return Err(format!(
                        "shard {:?} is {format} but the first shard is {first}: a dataset has \
                         one shard format",
                        shard.file
                    ))
                }
                _ => found = Some(format),
            }
        }
        Ok(found.unwrap_or_default())
    }
}

/// True when `file` names a file directly inside the dataset directory: one plain path
/// component, so not `..`, not an absolute path, not a path into a subdirectory.
fn is_plain_file_name(file: &str) -> bool {
    let mut parts = Path::new(file).components();
    matches!(
        (parts.next(), parts.next()),
        (Some(Component::Normal(_)), None)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_are_shard_files() {
        assert!(is_plain_file_name("shard-00000.safetensors"));
        for bad in [
            "../x",
            "/etc/passwd",
            "sub/shard.npz",
            "./shard.npz",
            "..",
            ".",
            "",
        ] {
            assert!(!is_plain_file_name(bad), "{bad:?} accepted");
        }
    }
}
