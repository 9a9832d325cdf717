//! Datasets on disk without the emulator: a small hand-filled frame store written in every
//! shard format, checked byte for byte against the frozen format, read back, and refused when
//! tampered with or when the manifest is hand-edited.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use dimua_buffer::{FrameStore, Split, SplitRule, StoreSpec};
use dimua_collect::dataset::{
    prepare_output_dir, write_dataset, DatasetMeta, LabelSpec, ShardFormat, SplitEntry, MANIFEST,
};
use dimua_collect::filters::{FilterCounts, PlannedEpisode};
use dimua_collect::{CollectError, Dataset};
use sha2::{Digest, Sha256};

const FRAME_SHAPE: [usize; 3] = [4, 3, 1];
const LABEL_BYTES: usize = 3;

/// A closed store holding three episodes (two streams, all three splits), frames and labels
/// derived from the slot so every byte differs, and the episodes planned for writing.
fn store() -> (Arc<FrameStore>, Vec<PlannedEpisode>) {
    let frame_bytes: usize = FRAME_SHAPE.iter().product();
    let store = FrameStore::new(StoreSpec {
        capacity_frames: 64,
        frame_bytes,
        label_bytes: LABEL_BYTES,
        split: SplitRule {
            train: 7,
            val: 1,
            test: 2,
        },
        seed: 3,
    })
    .unwrap();
    let mut planned = Vec::new();
    let mut slot = 0u32;
    for (stream, index_in_stream, split, len) in [
        (0, 0, Split::Train, 5u32),
        (0, 1, Split::Val, 4),
        (1, 0, Split::Test, 6),
    ] {
        let mut writer = store.writer(stream);
        let mut slots = Vec::new();
        for _ in 0..len {
            let frame: Vec<u8> = (0..frame_bytes)
                .map(|b| (slot as usize * 31 + b * 7) as u8)
                .collect();
            let labels: Vec<u8> = (0..LABEL_BYTES)
                .map(|b| (slot as usize * 5 + b) as u8)
                .collect();
            writer.push(&frame, &labels).unwrap();
            slots.push(slot);
            slot += 1;
        }
        writer.end_episode_with_split(split);
        // The test episode has a gap in its steps, as test-frame dedup leaves.
        let steps: Vec<u32> = if split == Split::Test {
            (0..len).map(|t| if t >= 3 { t + 1 } else { t }).collect()
        } else {
            (0..len).collect()
        };
        planned.push(PlannedEpisode {
            stream,
            index_in_stream,
            split,
            slots,
            steps,
        });
    }
    store.close();
    (store, planned)
}

fn label(name: &str, ram_index: u8, entropy: f64) -> LabelSpec {
    LabelSpec {
        name: name.into(),
        ram_index,
        categories: vec!["agent".into()],
        entropy,
    }
}

/// Writes the test dataset in `format` into `dir` (4 frames per shard, so several shards).
fn write(dir: &Path, format: ShardFormat) {
    let (store, episodes) = store();
    let meta = DatasetMeta {
        game: dimua_atari::resolve_game("pong").unwrap(),
        rom_md5: "0123456789abcdef0123456789abcdef".into(),
        seed: 3,
        streams: 2,
        frames_collected: 20,
        frame_shape: FRAME_SHAPE,
        split: SplitEntry {
            train: 7,
            val: 1,
            test: 2,
            rule: "test rule".into(),
        },
        min_episode_length: 2,
        entropy_threshold: 0.6,
        filtered: FilterCounts::default(),
    };
    let output = prepare_output_dir(dir, false).unwrap();
    write_dataset(
        output.work(),
        &store,
        &episodes,
        vec![label("player_y", 51, 1.5), label("ball_y", 54, 0.9)],
        vec![label("player_x", 46, 0.0)],
        &[0, 2],
        &meta,
        4 * FRAME_SHAPE.iter().product::<usize>(),
        format,
        &AtomicBool::new(false),
    )
    .unwrap();
    output.commit().unwrap();
}

fn written(format: ShardFormat) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ds");
    write(&dir, format);
    (tmp, dir)
}

/// `name sha256` of every file in `dir`, sorted by name.
fn file_hashes(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| {
            let bytes = std::fs::read(dir.join(n)).unwrap();
            format!("{n} {}\n", hex::encode(Sha256::digest(&bytes)))
        })
        .collect()
}

/// The bytes written before the dataset module was split into codecs (the format is frozen:
/// a change here breaks every dataset on disk and every Python reader).
const SAFETENSORS_FILES: &str = "\
manifest.json 5fd4b5397dcf8c8d605724e4f8e0833bae184ebeb6ac3bcf6f431c31aa16098a
shard-00000.safetensors a982963613cc461ca8107e7c28a2fd8bc1a18ad8ba94c7498801523c3a2643c9
shard-00001.safetensors ff1111668bb7e151c91b9f08c64553de05da01defac10b69620da7f5dc9c8197
shard-00002.safetensors f353aeb38e04be9ed69ca811db040799ace97929921ff0b7344d18828446d9a0
shard-00003.safetensors 0fb1d6cf89ec5250da5e7f031723dd8e8d05c148082f465781828fd652ccee8d
";
const NPZ_FILES: &str = "\
manifest.json cf7a6b68a022e1855d860b1b926fc0ad5280dc296108cc53a983868191792f59
shard-00000.npz 837a3be68e6cf64f96f6183a00b837da5bb1d87bcca498902e93d84ab8931028
shard-00001.npz b4a293778715a8492e2d9c5eb96299db8b9ffb68fc0aa6b94d88f2107dbe0ead
shard-00002.npz 007658c643a222099762132e00fe1b68ebc1bee645a8d13bbf5c05dfa40f2df9
shard-00003.npz d68f327f1ce442fa4345fa4044bc48f4c62871fd886e58b0e8e057363c077d55
";

#[test]
fn written_bytes_match_the_frozen_format() {
    let (_tmp, st) = written(ShardFormat::Safetensors);
    let (_tmp2, npz) = written(ShardFormat::Npz);
    assert_eq!(file_hashes(&st), SAFETENSORS_FILES);
    assert_eq!(file_hashes(&npz), NPZ_FILES);
}

#[test]
fn both_formats_read_back_the_same_data() {
    let (store, episodes) = store();
    let (_a, st) = written(ShardFormat::Safetensors);
    let (_b, npz) = written(ShardFormat::Npz);
    let a = Dataset::open(&st).unwrap();
    let b = Dataset::open(&npz).unwrap();
    assert!(a.manifest.shards.len() > 1, "{:?}", a.manifest.shards);
    assert!(a.manifest.shards[0].file.ends_with(".safetensors"));
    assert!(b.manifest.shards[0].file.ends_with(".npz"));
    assert_eq!(a.manifest.shard_format(), Ok(ShardFormat::Safetensors));
    assert_eq!(b.manifest.shard_format(), Ok(ShardFormat::Npz));
    assert_eq!(
        (&a.frames, &a.labels, &a.episode, &a.step, &a.split),
        (&b.frames, &b.labels, &b.episode, &b.step, &b.split)
    );
    // Row by row, the frames and kept label columns (0 and 2) of the store.
    let mut i = 0;
    for (id, e) in episodes.iter().enumerate() {
        for (&slot, &step) in e.slots.iter().zip(&e.steps) {
            assert_eq!(a.frame(i), store.frame(slot));
            let labels = store.labels(slot);
            assert_eq!(a.label_row(i), [labels[0], labels[2]]);
            assert_eq!((a.episode[i], a.step[i]), (id as u32, step));
            assert_eq!(a.split[i], e.split as u8);
            i += 1;
        }
    }
    assert_eq!(i, a.len());
    // Straight into a store: the same episodes.
    for dir in [&st, &npz] {
        let (_, loaded) = Dataset::open_into_store(dir).unwrap();
        let got = loaded.episodes();
        assert_eq!(got.len(), episodes.len());
        for (info, e) in got.iter().zip(&episodes) {
            assert_eq!((info.stream, info.split), (e.stream, e.split));
            for (&s, &orig) in info.slots.iter().zip(&e.slots) {
                assert_eq!(loaded.frame(s), store.frame(orig));
            }
        }
    }
}

#[test]
fn tampered_or_truncated_shards_are_refused_in_every_format() {
    for format in ShardFormat::all() {
        let (_tmp, dir) = written(format);
        let shard = dir.join(&Dataset::read_manifest(&dir).unwrap().shards[0].file);
        let original = std::fs::read(&shard).unwrap();
        let refusal = |bytes: &[u8]| {
            std::fs::write(&shard, bytes).unwrap();
            Dataset::open(&dir).unwrap_err().to_string()
        };
        let mut flipped = original.clone();
        flipped[original.len() / 2] ^= 1;
        let err = refusal(&flipped);
        assert!(err.contains("sha256"), "{format}: {err}");
        let err = refusal(&original[..original.len() - 10]);
        assert!(err.contains("truncated"), "{format}: {err}");
        std::fs::write(&shard, &original).unwrap();
        Dataset::open(&dir).unwrap();
    }
}

/// Rewrites the manifest of `dir` with `edit` applied to its JSON.
fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join(MANIFEST);
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut json);
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
}

/// A hand-edited manifest must not make the reader open a file outside the dataset directory,
/// even one that holds exactly the bytes the manifest expects.
#[test]
fn shard_name_outside_dataset_dir_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = tmp.path().join("reference");
    write(&reference, ShardFormat::Safetensors);
    let first = Dataset::read_manifest(&reference).unwrap().shards[0]
        .file
        .clone();
    let outside = tmp.path().join(&first);
    std::fs::copy(reference.join(&first), &outside).unwrap();
    for (i, name) in [
        format!("../{first}"),
        outside.to_str().unwrap().to_string(),
        format!("sub/{first}"),
    ]
    .into_iter()
    .enumerate()
    {
        let dir = tmp.path().join(format!("ds{i}"));
        write(&dir, ShardFormat::Safetensors);
        std::fs::create_dir(dir.join("sub")).unwrap();
        std::fs::copy(reference.join(&first), dir.join("sub").join(&first)).unwrap();
        edit_manifest(&dir, |m| m["shards"][0]["file"] = name.clone().into());
        for err in [
            Dataset::read_manifest(&dir).unwrap_err(),
            Dataset::open(&dir).unwrap_err(),
            Dataset::open_into_store(&dir).unwrap_err(),
        ] {
            assert!(
                matches!(err, CollectError::CorruptManifest { .. }),
                "{name}: {err:?}"
            );
            let text = err.to_string();
            assert!(
                text.contains(&format!("{name:?}"))
                    && text.contains("not a file name inside the dataset directory")
                    && text.contains("hand-edited"),
                "{text}"
            );
        }
    }
}

#[test]
fn the_manifest_decides_the_shard_format() {
    // A shard whose name records no registered format is refused before it is opened.
    let (_t, dir) = written(ShardFormat::Npz);
    edit_manifest(&dir, |m| m["shards"][0]["file"] = "shard-00000.bin".into());
    let err = Dataset::open(&dir).unwrap_err();
    assert!(
        matches!(err, CollectError::CorruptManifest { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("no known shard format"), "{err}");
    // So is a manifest whose shards disagree.
    let (_t, dir) = written(ShardFormat::Npz);
    edit_manifest(&dir, |m| {
        m["shards"][1]["file"] = "shard-00001.safetensors".into()
    });
    let err = Dataset::open(&dir).unwrap_err().to_string();
    assert!(err.contains("one shard format"), "{err}");
    // Names and defaults.
    assert_eq!(ShardFormat::default(), ShardFormat::Safetensors);
    assert_eq!("npz".parse::<ShardFormat>(), Ok(ShardFormat::Npz));
    let err = "parquet".parse::<ShardFormat>().unwrap_err();
    assert!(err.contains("safetensors or npz"), "{err}");
}
