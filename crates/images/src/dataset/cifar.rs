//! The CIFAR-10 binary format (`cifar-10-batches-bin`): `data_batch_*.bin` (train) and
//! `test_batch.bin`, each a run of 3,073-byte records (one class byte, then the 1,024 red,
//! 1,024 green and 1,024 blue bytes of a 32x32 image, rows top to bottom); class names from
//! `batches.meta.txt` when present. Nothing is downloaded: the user points at their copy.

use std::path::{Path, PathBuf};

use super::{DatasetConfig, DatasetFormat, ImageData, ImageSet};
use crate::error::{io_at, ImagesError, Result};

/// Bytes per record: 1 label byte + 32 * 32 * 3 pixel bytes.
pub const CIFAR_RECORD_BYTES: usize = 1 + SIDE * SIDE * 3;
const SIDE: usize = 32;
const CLASSES: usize = 10;

/// `format = "cifar10"`.
pub struct Cifar10Format;

impl DatasetFormat for Cifar10Format {
    fn name(&self) -> &'static str {
        "cifar10"
    }

    fn describe(&self) -> &'static str {
        "a cifar-10-batches-bin folder: data_batch_*.bin and test_batch.bin"
    }

    fn load(&self, config: &DatasetConfig) -> Result<ImageData> {
        let dir = &config.path;
        if !dir.is_dir() {
            return Err(ImagesError::Format {
                path: dir.clone(),
                reason: "is not a directory: point [dataset] path at the folder holding \
                         data_batch_1.bin ... data_batch_5.bin and test_batch.bin (the CIFAR-10 \
                         binary version, cifar-10-binary.tar.gz, unpacked)"
                    .into(),
            });
        }
        let mut train_files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io_at("read directory", dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("data_batch_") && n.ends_with(".bin"))
            })
            .collect();
        train_files.sort();
        if train_files.is_empty() {
            return Err(ImagesError::Format {
                path: dir.clone(),
                reason: "has no data_batch_*.bin: is this the binary version of CIFAR-10 \
                         (not the python or matlab one)?"
                    .into(),
            });
        }
        let test_file = dir.join("test_batch.bin");
        if !test_file.is_file() {
            return Err(ImagesError::Format {
                path: test_file,
                reason: "is missing: the CIFAR-10 binary folder has it beside the data batches"
                    .into(),
            });
        }
        let mut train = (Vec::new(), Vec::new());
        for f in &train_files {
            read_records(f, &mut train.0, &mut train.1)?;
        }
        let mut test = (Vec::new(), Vec::new());
        read_records(&test_file, &mut test.0, &mut test.1)?;
        Ok(ImageData {
            source: dir.display().to_string(),
            train: ImageSet::from_bytes(&train.0, SIDE, SIDE, train.1)?,
            test: ImageSet::from_bytes(&test.0, SIDE, SIDE, test.1)?,
            classes: class_names(dir)?,
        })
    }
}

/// Appends the records of `path` as HWC bytes and labels.
fn read_records(path: &Path, pixels: &mut Vec<u8>, labels: &mut Vec<u8>) -> Result<()> {
    let bytes = std::fs::read(path).map_err(io_at("read", path))?;
    if bytes.is_empty() || bytes.len() % CIFAR_RECORD_BYTES != 0 {
        return Err(ImagesError::Format {
            path: path.to_path_buf(),
            reason: format!(
                "is {} bytes, not a whole number of {CIFAR_RECORD_BYTES}-byte CIFAR-10 records \
                 (truncated download, or the CIFAR-100 format with two label bytes?)",
                bytes.len()
            ),
        });
    }
    let plane = SIDE * SIDE;
    for (i, record) in bytes.chunks_exact(CIFAR_RECORD_BYTES).enumerate() {
        let label = record[0];
        if label as usize >= CLASSES {
            return Err(ImagesError::Format {
                path: path.to_path_buf(),
                reason: format!("record {i} has class {label}; CIFAR-10 classes are 0..=9"),
            });
        }
        labels.push(label);
        let planes = &record[1..];
        for p in 0..plane {
            pixels.extend_from_slice(&[planes[p], planes[plane + p], planes[2 * plane + p]]);
        }
    }
    Ok(())
}

/// The ten names from `batches.meta.txt` (one per line), else `"0"` .. `"9"`.
fn class_names(dir: &Path) -> Result<Vec<String>> {
    let meta = dir.join("batches.meta.txt");
    if meta.is_file() {
        let text = std::fs::read_to_string(&meta).map_err(io_at("read", &meta))?;
        let names: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        if names.len() == CLASSES {
            return Ok(names);
        }
    }
    Ok((0..CLASSES).map(|c| c.to_string()).collect())
}
