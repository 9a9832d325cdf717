//! The numpy `.npz` shard codec (`shard-NNNNN.npz`): a zip of uncompressed `.npy` arrays,
//! one per shard tensor, readable with `numpy.load`.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::codec::{Dtype, ShardCodec, ShardData, ShardRows, Tensor};
use crate::CollectError;
use dimua_core::npy::{npy_header, parse_npy};

/// `.npz` shards: a zip (entries stored, timestamps fixed so the bytes are deterministic) of
/// `<tensor>.npy` arrays in format 1.0, in shard layout order.
pub(crate) struct Npz;

impl ShardCodec for Npz {
    fn name(&self) -> &'static str {
        "npz"
    }

    // The arrays stream from the store into the zip like the safetensors codec's, but the
    // zip writer seeks back to patch each entry's header, so the sha256 is taken from the
    // finished file rather than on the way.
    fn write_shard(
        &self,
        path: &Path,
        rows: &ShardRows<'_>,
    ) -> Result<(u64, String), CollectError> {
        let io = |e: std::io::Error| CollectError::io("write", path, e);
        let zip_err =
            |e: zip::result::ZipError| CollectError::io("write", path, std::io::Error::other(e));
        let file = File::create(path).map_err(io)?;
        let mut zip = zip::ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .last_modified_time(zip::DateTime::default())
            .large_file(true);
        for tensor in rows.layout() {
            zip.start_file(format!("{}.npy", tensor.column.name()), options)
                .map_err(zip_err)?;
            zip.write_all(&npy_header(descr(tensor.dtype), &tensor.shape))
                .map_err(io)?;
            rows.write_column(tensor.column, &mut zip).map_err(io)?;
        }
        let buffered = zip.finish().map_err(zip_err)?;
        let file = buffered.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        drop(file);
        let bytes = fs::read(path).map_err(|e| CollectError::io("read", path, e))?;
        Ok((bytes.len() as u64, hex::encode(Sha256::digest(&bytes))))
    }

    fn read_shard(&self, bytes: &[u8], layout: &[Tensor; 5]) -> Result<ShardData, String> {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| format!("not a valid .npz (zip) file: {e}"))?;
        ShardData::decode(layout, |expected| {
            let name = expected.column.name();
            let descr = descr(expected.dtype);
            let shape = &expected.shape;
            let mut entry = archive
                .by_name(&format!("{name}.npy"))
                .map_err(|_| format!("array {name:?} missing"))?;
            let mut raw = Vec::new();
            entry
                .read_to_end(&mut raw)
                .map_err(|e| format!("array {name:?} unreadable: {e}"))?;
            let (d, s, offset) = parse_npy(&raw).map_err(|e| format!("array {name:?}: {e}"))?;
            if d != descr || s != *shape {
                return Err(format!(
                    "array {name:?} is {d} {s:?}, expected {descr} {shape:?}"
                ));
            }
            Ok(raw[offset..].to_vec())
        })
    }
}

/// The `.npy` descr of a dtype.
fn descr(dtype: Dtype) -> &'static str {
    match dtype {
        Dtype::U8 => "|u1",
        Dtype::U32 => "<u4",
    }
}
