//! AtariARI datasets on disk: `manifest.json` plus shards (frames, labels, episode, step,
//! split) in one of the registered shard formats, written to temporary names and renamed when
//! complete, and read back with every shard's sha256 verified.
//!
//! A dataset is complete exactly when `manifest.json` exists: shards are written first (each
//! under a temporary name, then renamed), the manifest last. An interrupted write leaves no
//! manifest, so it can never be mistaken for a dataset.
//!
//! Inside: `manifest.rs` holds the schema and its validation, `writer.rs` writes a dataset,
//! `reader.rs` reads it back ([`Dataset`]); both go through [`ShardFormat`], a handle to one
//! shard codec (`codec.rs` defines the interface), with one file per format (`safetensors.rs`,
//! `npz.rs`) listed in the registry `CODECS` below.

mod codec;
mod manifest;
mod reader;
mod writer;

mod npz;
mod safetensors;

pub use codec::ShardFormat;
pub use manifest::{
    label_specs, parse_split, split_name, Counts, EpisodeEntry, LabelSpec, Manifest, ShardEntry,
    SplitEntry, FORMAT, FORMAT_VERSION, MANIFEST,
};
pub use reader::Dataset;
pub use writer::{
    is_dataset_file, prepare_output_dir, write_dataset, DatasetMeta, DEFAULT_SHARD_BYTES,
};

use codec::ShardCodec;

/// The shard formats, the default first.
///
/// To add a format: write `foo.rs` beside this file with a unit struct implementing
/// `ShardCodec` (`name`, `write_shard`, `read_shard`; `extension` defaults to the name; the
/// tensors come from `ShardRows::write_column` and go to `ShardData::decode`), declare
/// `mod foo;` above and list `&foo::Foo` here. `--format foo` then parses, the writer names
/// shards `shard-NNNNN.<extension>` (the manifest records the format that way) and the reader
/// picks the codec from the manifest.
static CODECS: &[&dyn ShardCodec] = &[&self::safetensors::Safetensors, &npz::Npz];
